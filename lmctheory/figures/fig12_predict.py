"""Figure 12 — unaligned barrier predicted at initialization vs measured after training
(:func:`lmctheory.nn.predict_lmc`; paper_checks P1)."""

from __future__ import annotations

import numpy as np

from ._core import FigureContext, FigureOutput, register
from ._trained import arr, collect, need
from .style import new_figure

NAME = "fig12_predict"
EXPERIMENT = "lmc_prediction.collect"
KINDS = ("standard", "sparse", "wmlp", "syre")
MARKERS = {"standard": "o", "sparse": "s", "wmlp": "^", "syre": "D"}


@register(12, NAME, "Barrier predicted at initialization vs measured (predict_lmc, P1)", "trained")
def make(ctx: FigureContext) -> FigureOutput:
    from matplotlib.lines import Line2D

    data = collect(EXPERIMENT, ctx)
    rows = need(data, "rows", source=EXPERIMENT)
    ev = need(data, "evaluation", source=EXPERIMENT)
    cal = need(data, "calibration", source=EXPERIMENT)
    table = {c: [] for c in ("split", "dataset", "kind", "hidden", "sigma_f", "fixed_fraction", "keep_prob",
                             "score", "predicted", "band_lo", "band_hi", "measured", "mean_abs_F")}
    fig, axes = new_figure("wide", 1, 2)
    ax, ax2 = axes[0, 0], axes[0, 1]
    floor = float(cal.get("floor", 0.02))
    for r in rows:
        kind = r["kind"]
        color = f"C{KINDS.index(kind) if kind in KINDS else 4}"
        held = r["split"] == "heldout"
        lo, hi = arr(r["band"])
        pred, meas = float(r["predicted"]), float(r["barrier"])
        ax.errorbar(pred, meas, xerr=[[max(pred - lo, 0.0)], [max(hi - pred, 0.0)]], fmt=MARKERS.get(kind, "o"),
                    color=color, mfc=color if held else "none", ms=5, elinewidth=0.6, alpha=0.85)
        if held:
            ax2.scatter(float(r["score"]), meas, marker=MARKERS.get(kind, "o"), color=color, s=22)
        for key, val in zip(table, (r["split"], r["dataset"], kind, r["hidden"], r["sigma_f"], r["fixed_fraction"],
                                    r["keep_prob"], r["score"], pred, lo, hi, meas, r.get("mean_abs_F", np.nan))):
            table[key].append(val)
    lim = [-floor / 2, max(max(table["measured"]), max(table["band_hi"])) * 1.1]
    ax.plot(lim, lim, color="0.5", lw=0.8, ls="--")
    ax.set_xscale("symlog", linthresh=floor)
    pos = [v for v in table["score"] if v > 0]
    ax2.set_xscale("symlog", linthresh=min(pos) if pos else 1e-4)
    for a in (ax, ax2):
        a.set_yscale("symlog", linthresh=floor)
    ax.set_xlabel("predicted barrier (nats), band = fit-residual 10–90%")
    ax.set_ylabel("measured midpoint loss barrier (nats)")
    h, f = ev["heldout"], ev["fit"]
    ax.set_title(f"open: fit ({f['n']}), filled: held-out ({h['n']}); coverage held-out "
                 f"{100 * h['coverage']:.0f}%", fontsize="small")
    ax2.set_xlabel("score Σ_ℓ χ_ℓ/√n_ℓ (held-out only)")
    ax2.set_ylabel("measured midpoint loss barrier (nats)")
    ax2.set_title(f"held-out Spearman: score {h['spearman_score']:.2f}, mean|F| {h['spearman_mean_abs_F']:.2f}, "
                  f"σ_F {h['spearman_sigma_f']:.2f}", fontsize="small")
    handles = [Line2D([], [], color=f"C{i}", marker=MARKERS[k], ls="none", label=k) for i, k in enumerate(KINDS)]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize="x-small")
    cfg = data.get("config", {})
    caption = (
        "Figure 12 (paper_checks P1; lmctheory.nn.predict_lmc, docs/theory.md T-4.4, T-4.5/T-16, T-4.6, T-5.1). "
        "Left: unaligned midpoint test loss barrier L(½) − (L(0)+L(1))/2 of two independently trained MLPs "
        "(mean over pairs) against the barrier predicted from the untrained model and its training inputs alone; "
        "open markers: configurations used to fit the calibration (kappa = "
        f"{cal['kappa']:g}, scale = {cal['scale']:.3g} nats), filled: held-out configurations (other σ_F, fixed "
        "fractions, Bernoulli masks, widths, coherence and data sets); horizontal bars: predicted band. "
        f"Right: held-out score vs measured barrier. {cfg.get('n_layers', '?')} linear layers, LayerNorm, GELU, "
        f"{cfg.get('epochs', '?')} epochs AdamW, {cfg.get('pairs', '?')} pairs per configuration; "
        f"held-out Spearman(score, barrier) = {h['spearman_score']:.2f} (naive proxies: mean |F| of layer 1 "
        f"{h['spearman_mean_abs_F']:.2f}, σ_F {h['spearman_sigma_f']:.2f}); fit Spearman "
        f"{f['spearman_score']:.2f}. Symlog axes (linear below {floor:g} nats). "
        f"Measured with the claim's collect() (quick = {ctx.mode != 'full'}), seed {ctx.seed}."
    )
    return FigureOutput(fig, table, caption, size="wide")
