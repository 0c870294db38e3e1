"""Figure 10 — the [LEWC] width figures: merging without permutation vs width (paper_checks L1, L3, L4)."""

from __future__ import annotations

import matplotlib
import numpy as np

from ._core import FigureContext, FigureOutput, register
from ._trained import arr, collect, need
from .style import new_figure, reference_line

NAME = "fig10_lewc_width"
EXPERIMENT = "lewc_width.collect"


def _wd_style(wd: float, strong: float) -> tuple[str, str, str]:
    """(line style, marker, label) of a weight decay: strong solid, weak dashed."""
    return ("-", "o", f"wd {wd:g}") if wd >= strong else ("--", "s", f"wd {wd:g}")


@register(10, NAME, "[LEWC] width figures: merged accuracy, barrier, LEWC cosine, reciprocal orthogonality "
          "(L1, L3, L4)", "trained")
def make(ctx: FigureContext) -> FigureOutput:
    from lmctheory.experiments.lewc_width import summarize_lewc, summarize_ro

    data = collect(EXPERIMENT, ctx)
    table = need(data, "table", source=EXPERIMENT)
    ro = summarize_ro(table)
    lewc = summarize_lewc(table)
    cfg = data.get("config", {})
    wds = sorted((float(k) for k in table), reverse=True)
    strong = max(wds)

    rows = {c: [] for c in ("panel", "weight_decay", "width", "layer", "lam", "value", "std")}

    def add(*vals):
        for key, v in zip(rows, vals):
            rows[key].append(v)

    fig, axes = new_figure("xgrid", 2, 3)
    (ax_acc, ax_bar, ax_cur), (ax_lewc, ax_ro, ax_wa) = axes
    cur_cmap = matplotlib.colormaps["viridis"]
    for wd in wds:
        t = need(table, str(wd), source=EXPERIMENT)
        ls, mk, lab = _wd_style(wd, strong)
        width = arr(need(t, "width", source=EXPERIMENT))

        # (a) accuracy of the endpoints and of the merged midpoint model
        for key, color, name in (("endpoint_acc", "C0", "endpoints (mean)"), ("merged_acc", "C3", "merged, λ = ½")):
            mean = 100 * arr(need(t, key, source=EXPERIMENT))
            std = 100 * arr(t.get(key + "_std", np.full(width.shape, np.nan)))
            ax_acc.errorbar(width, mean, yerr=np.nan_to_num(std), color=color, ls=ls, marker=mk, ms=4, capsize=2,
                            label=f"{name}, {lab}")
            for w, m, s in zip(width, mean, std):
                add(f"acc:{key}", wd, w, np.nan, np.nan, m, s)

        # (b) loss barrier before and after temperature calibration
        for key, color, name in (("barrier_lin", "C1", "raw"), ("barrier_lin_calibrated", "C2", "calibrated")):
            mean = arr(need(t, key, source=EXPERIMENT))
            std = arr(t.get(key + "_std", np.full(width.shape, np.nan)))
            ax_bar.errorbar(width, mean, yerr=np.nan_to_num(std), color=color, ls=ls, marker=mk, ms=4, capsize=2,
                            label=f"{name}, {lab}")
            for w, m, s in zip(width, mean, std):
                add(f"barrier:{key}", wd, w, np.nan, np.nan, m, s)

        # (c) accuracy along the merge path, one colour per width (strong decay solid, weak dashed)
        lams_all = t.get("lams", [])
        curves = t.get("curve_acc", [])
        lw_lo, lw_hi = np.log2(width.min()), np.log2(width.max())
        for j, (lams, cur) in enumerate(zip(lams_all, curves)):
            x = arr(lams)
            y = 100 * arr(cur)
            col = cur_cmap(0.1 + 0.75 * ((np.log2(width[j]) - lw_lo) / (lw_hi - lw_lo) if lw_hi > lw_lo else 0.5))
            ax_cur.plot(x, y, color=col, ls=ls, marker=mk, ms=3,
                        label=f"width {int(width[j])}" if wd == strong else None)
            for lam, v in zip(x, y):
                add("curve_acc", wd, width[j], np.nan, lam, v, np.nan)

        # (d) LEWC cosine per layer (L4)
        lw = need(lewc, str(wd), source=EXPERIMENT)
        lc = arr(need(lw, "lewc_cosine", source=EXPERIMENT))  # (widths, layers)
        lw_width = arr(need(lw, "width", source=EXPERIMENT))
        for ell in range(lc.shape[1]):
            is_logits = ell == lc.shape[1] - 1
            ax_lewc.plot(lw_width, lc[:, ell], color=f"C{ell}", ls=ls, marker=mk, ms=4,
                         label=(f"ℓ = {ell + 1}" + (" (logits)" if is_logits else "")) if wd == strong else None)
            for w, v in zip(lw_width, lc[:, ell]):
                add("lewc_cosine", wd, w, ell + 1, np.nan, v, np.nan)

        # (e) reciprocal orthogonality per layer ℓ ≥ 2 (RO_1 = 1 identically) (L3)
        rw = need(ro, str(wd), source=EXPERIMENT)
        rp = arr(need(rw, "ro_per_layer", source=EXPERIMENT))  # (widths, layers)
        r_width = arr(need(rw, "width", source=EXPERIMENT))
        for ell in range(1, rp.shape[1]):
            ax_ro.plot(r_width, rp[:, ell], color=f"C{ell}", ls=ls, marker=mk, ms=4,
                       label=f"ℓ = {ell + 1}" if wd == strong else None)
            for w, v in zip(r_width, rp[:, ell]):
                add("reciprocal_orthogonality", wd, w, ell + 1, np.nan, v, np.nan)

        # (f) weak additivity of the actual preactivations inside the trained nets (same sweep)
        if "wa_cosine" in t:
            wa = arr(t["wa_cosine"])
            for ell in range(wa.shape[1]):
                ax_wa.plot(width, wa[:, ell], color=f"C{ell}", ls=ls, marker=mk, ms=4,
                           label=f"hidden layer ℓ = {ell + 1}" if wd == strong else None)
                for w, v in zip(width, wa[:, ell]):
                    add("wa_cosine", wd, w, ell + 1, np.nan, v, np.nan)

    try:
        from lmctheory.lewc import gaussian_weak_additivity_cosine

        lim = float(gaussian_weak_additivity_cosine())
        reference_line(ax_wa, lim, f"Gaussian limit {lim:.4f} (T-WA)")
        add("wa_gaussian_limit", np.nan, np.nan, np.nan, np.nan, lim, np.nan)
    except ImportError:
        pass
    ax_ro.axhline(1.0, color="0.3", ls=":", lw=1.0)
    ax_lewc.axhline(1.0, color="0.3", ls=":", lw=1.0)

    from matplotlib.lines import Line2D

    wd_handles = [Line2D([], [], color="0.3", ls=_wd_style(wd, strong)[0], marker=_wd_style(wd, strong)[1], ms=4,
                         label=f"weight decay {wd:g}") for wd in wds]
    for ax in (ax_acc, ax_bar, ax_lewc, ax_ro, ax_wa):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("hidden width (units per layer)")
    ax_acc.set_ylabel("test accuracy   [%]")
    ax_acc.set_title("Endpoints vs merged model (no permutation)", fontsize="small")
    ax_acc.legend(fontsize="xx-small", loc="lower right")
    ax_bar.set_yscale("log")
    ax_bar.set_ylabel("loss barrier B_lin   [cross-entropy, nats]")
    ax_bar.set_title("Loss barrier before / after temperature calibration", fontsize="small")
    ax_bar.legend(fontsize="xx-small", loc="best")
    ax_cur.set_xlabel("merge weight λ   (θ_λ = λθ_a + (1−λ)θ_b)")
    ax_cur.set_ylabel("test accuracy   [%]")
    ax_cur.set_title("Accuracy along the merge path", fontsize="small")
    ax_cur.legend(handles=ax_cur.get_legend_handles_labels()[0] + wd_handles, fontsize="xx-small", loc="best")
    ax_lewc.set_ylabel("LEWC cosine   [dimensionless]")
    ax_lewc.set_title("LEWC: cos(z_ℓ(θ_½), 2^−ℓ (z_ℓ^a + z_ℓ^b)) per layer", fontsize="small")
    ax_lewc.legend(handles=ax_lewc.get_legend_handles_labels()[0] + wd_handles, fontsize="xx-small", loc="best")
    ax_ro.set_ylabel("RO_ℓ   [dimensionless]")
    ax_ro.set_title("Reciprocal orthogonality RO_ℓ = E‖W_ℓ^a z^b‖ / E‖W_ℓ^a z^a‖", fontsize="small")
    ax_ro.legend(handles=ax_ro.get_legend_handles_labels()[0] + wd_handles, fontsize="xx-small", loc="best")
    ax_wa.set_ylabel("weak-additivity cosine   [dimensionless]")
    ax_wa.set_title("Weak additivity inside the trained nets", fontsize="small")
    ax_wa.legend(handles=ax_wa.get_legend_handles_labels()[0] + wd_handles, fontsize="xx-small", loc="best")

    mults = cfg.get("multipliers", "?")
    caption = (
        "Figure 10 ([LEWC] Fig. 1–3, 5–7; paper_checks L1, L3, L4; docs/theory.md §9). Two bias-free ReLU MLPs "
        f"({cfg.get('n_hidden', '?')} hidden layers of width {cfg.get('base_width', '?')} × {mults}) trained "
        f"from different seeds on {cfg.get('dataset', '?')} with SGD and strong (solid) or weak (dashed) weight "
        "decay, merged without permutation, θ_λ = λθ_a + (1−λ)θ_b. (a) endpoint and merged (λ = ½) test "
        "accuracy vs width; (b) linear loss barrier B_lin over the λ grid, raw and after softmax temperature "
        f"calibration on {cfg.get('cal_fraction', 0.2):.0%} of the test set (barriers on the rest); (c) test "
        "accuracy along the path per width; (d) LEWC cosine per layer at λ = ½ (L4); (e) reciprocal "
        "orthogonality RO_ℓ per layer ℓ ≥ 2, both directions averaged (L3); (f) weak-additivity cosine "
        "WA(p_ℓ, q_ℓ) of the actual preactivations p_ℓ = (1−λ)^ℓ W_ℓ^a z_{ℓ−1}^a, q_ℓ = λ^ℓ W_ℓ^b z_{ℓ−1}^b at "
        "λ = ½ (mean over test inputs; the first term of T-5.3), with the Gaussian limit of T-WA. Means ± 1 s.d. over "
        f"{cfg.get('n_pairs', '?')} pair(s) per point; {cfg.get('epochs', '?')} epochs. Measured with "
        f"lmctheory.experiments.lewc_width (quick = {ctx.mode != 'full'}), seed {ctx.seed}."
    )
    return FigureOutput(fig, rows, caption, size="xgrid")
