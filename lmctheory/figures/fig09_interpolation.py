"""Figure 9 — aligned and unaligned interpolation curves of four MLP variants ([NI] Fig. 4; paper_checks C1)."""

from __future__ import annotations

import numpy as np

from ._core import FigureContext, FigureOutput, register
from ._trained import arr, collect, need
from .style import new_figure

NAME = "fig09_interpolation"
EXPERIMENT = "mlp_pairs.collect_interpolation"
KIND_LABELS = {"standard": "standard MLP", "wmlp": "W-MLP", "syre": "syre-MLP"}


def variant_label(v: dict, key: str) -> str:
    kind = v.get("kind", key)
    label = KIND_LABELS.get(kind, kind)
    if kind != "standard" and "sigma_f" in v:
        label += f", σ_F = {float(v['sigma_f']):g}"
    return label


@register(9, NAME, "Aligned and unaligned interpolation curves ([NI] Fig. 4, C1)", "trained")
def make(ctx: FigureContext) -> FigureOutput:
    from matplotlib.lines import Line2D

    data = collect(EXPERIMENT, ctx)
    variants = need(data, "variants", source=EXPERIMENT)
    cfg = data.get("config", {})
    rows = {c: [] for c in ("alignment", "variant", "kind", "sigma_f", "lam", "metric", "mean", "std")}

    def add(*vals):
        for key, v in zip(rows, vals):
            rows[key].append(v)

    fig, axes = new_figure("grid", 2, 2, sharex=True)
    metrics = (("acc", "test accuracy   [%]", 100.0), ("loss", "test loss   [cross-entropy, nats]", 1.0))
    for c, which in enumerate(("unaligned", "aligned")):
        for v_i, (key, v) in enumerate(variants.items()):
            curve = need(v, which, source=EXPERIMENT)
            lams = arr(need(curve, "lams", source=EXPERIMENT))
            drop = float(curve.get("midpoint_acc_drop_mean", np.nan))
            dstd = float(curve.get("midpoint_acc_drop_std", np.nan))
            for r, (metric, ylabel, scale) in enumerate(metrics):
                ax = axes[r, c]
                mean = scale * arr(need(curve, f"{metric}_mean", source=EXPERIMENT))
                std = scale * arr(curve.get(f"{metric}_std", np.full(lams.shape, np.nan)))
                ax.plot(lams, mean, color=f"C{v_i}", marker="o", ms=3.5)
                ax.fill_between(lams, mean - std, mean + std, color=f"C{v_i}", alpha=0.15, linewidth=0)
                ax.set_ylabel(ylabel)
                for lam, m_, s_ in zip(lams, mean, std):
                    add(which, key, v.get("kind", key), v.get("sigma_f", np.nan), lam, metric, m_, s_)
            add(which, key, v.get("kind", key), v.get("sigma_f", np.nan), np.nan, "midpoint_acc_drop_pp", drop, dstd)
        axes[0, c].set_title(
            "without alignment (identity)" if which == "unaligned"
            else "after activation matching (B permuted to A)", fontsize="small")
        axes[1, c].set_xlabel("interpolation weight λ   (θ(λ) = (1−λ)θ_A + λθ_B)")
    handles = []
    for v_i, (key, v) in enumerate(variants.items()):
        d_un = float(v["unaligned"].get("midpoint_acc_drop_mean", np.nan))
        s_un = float(v["unaligned"].get("midpoint_acc_drop_std", np.nan))
        d_al = float(v["aligned"].get("midpoint_acc_drop_mean", np.nan))
        s_al = float(v["aligned"].get("midpoint_acc_drop_std", np.nan))
        handles.append(Line2D([], [], color=f"C{v_i}", marker="o", ms=3.5, label=(
            f"{variant_label(v, key)}: midpoint drop {d_un:.1f} ± {s_un:.1f} pp unaligned, "
            f"{d_al:.1f} ± {s_al:.1f} pp aligned")))
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize="x-small")
    # shared y-range per row, so that the two columns compare directly
    for r in range(2):
        lo = min(axes[r, c].get_ylim()[0] for c in range(2))
        hi = max(axes[r, c].get_ylim()[1] for c in range(2))
        for c in range(2):
            axes[r, c].set_ylim(lo, hi)

    ends = {key: 100 * np.nanmean(arr(v.get("endpoint_test_acc", [np.nan]))) for key, v in variants.items()}
    ends_txt = "; ".join(f"{variant_label(variants[k], k)} {a:.1f}%" for k, a in ends.items())
    caption = (
        "Figure 9 ([NI] Q1, Fig. 4; paper_checks C1). Test accuracy (top) and test loss (bottom) along the "
        "linear path between two independently trained MLPs of the same architecture, without alignment "
        "(left) and after layerwise activation matching of model B to model A (right): standard MLP, "
        "W-MLP with σ_F = 0 and σ_F = 1 (fixed entries ≈ "
        f"{cfg.get('fixed_fraction', 0.08):.0%} of each row's fan-in) and syre-MLP. "
        f"{cfg.get('n_layers', '?')} linear layers, hidden {cfg.get('hidden', '?')}, LayerNorm, GELU, "
        f"dataset {cfg.get('dataset', '?')}, {cfg.get('epochs', '?')} epochs of AdamW; mean ± 1 s.d. over "
        f"{cfg.get('pairs', '?')} pairs. Legend: midpoint accuracy drop (A(0) + A(1))/2 − A(½) in "
        f"percentage points (mean ± s.d.). Mean endpoint test accuracy: {ends_txt}. "
        f"Measured with lmctheory.experiments.mlp_pairs (quick = {ctx.mode != 'full'}), seed {ctx.seed}."
    )
    return FigureOutput(fig, rows, caption, size="grid")
