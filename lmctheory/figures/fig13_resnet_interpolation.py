"""Figure 13 — aligned and unaligned interpolation curves of four ResNet variants ([NI] Fig. 4, ResNet rows;
experiment :mod:`lmctheory.experiments.resnet_pairs`, judged by paper_checks C9)."""

from __future__ import annotations

import numpy as np

from ._core import FigureContext, FigureOutput, register
from ._trained import arr, collect, need
from .style import new_figure

NAME = "fig13_resnet_interpolation"
EXPERIMENT = "resnet_pairs.collect_interpolation"
KIND_LABELS = {"standard": "standard ResNet", "wasym": "W-ResNet", "syre": "syre-ResNet"}


def variant_label(v: dict, key: str) -> str:
    """``"W-ResNet, κ = 2"``, ``"syre-ResNet, σ_F = 0.5"``, ``"standard ResNet"``."""
    kind = v.get("kind", key)
    label = KIND_LABELS.get(kind, kind)
    if kind == "wasym" and "sigma_f" in v:
        label += f", κ = {float(v['sigma_f']):g}"
    elif kind == "syre" and "sigma_f" in v:
        label += f", σ_F = {float(v['sigma_f']):g}"
    return label


@register(13, NAME, "ResNets: aligned and unaligned interpolation curves ([NI] Fig. 4, C9)", "trained")
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
    markers = ("o", "s", "^", "D")
    for c, which in enumerate(("unaligned", "aligned")):
        for v_i, (key, v) in enumerate(variants.items()):
            curve = need(v, which, source=EXPERIMENT)
            lams = arr(need(curve, "lams", source=EXPERIMENT))
            for r, (metric, ylabel, scale) in enumerate(metrics):
                ax = axes[r, c]
                mean = scale * arr(need(curve, f"{metric}_mean", source=EXPERIMENT))
                std = scale * arr(curve.get(f"{metric}_std", np.full(lams.shape, np.nan)))
                # curves that coincide (identity matching) stay visible: distinct markers, thin lines
                ax.plot(lams, mean, color=f"C{v_i}", marker=markers[v_i % 4], ms=3.5, lw=1.2)
                ax.fill_between(lams, mean - std, mean + std, color=f"C{v_i}", alpha=0.15, linewidth=0)
                ax.set_ylabel(ylabel)
                for lam, m_, s_ in zip(lams, mean, std):
                    add(which, key, v.get("kind", key), v.get("sigma_f", np.nan), lam, metric, m_, s_)
            add(which, key, v.get("kind", key), v.get("sigma_f", np.nan), np.nan, "midpoint_acc_drop_pp",
                float(curve.get("midpoint_acc_drop_mean", np.nan)), float(curve.get("midpoint_acc_drop_std", np.nan)))
        axes[0, c].set_title("without alignment (identity)" if which == "unaligned"
                             else "after activation matching (B permuted to A)", fontsize="small")
        axes[1, c].set_xlabel("interpolation weight λ   (θ(λ) = (1−λ)θ_A + λθ_B)")
    handles = []
    for v_i, (key, v) in enumerate(variants.items()):
        un, al = v["unaligned"], v["aligned"]
        handles.append(Line2D([], [], color=f"C{v_i}", marker=markers[v_i % 4], ms=3.5, label=(
            f"{variant_label(v, key)}: midpoint drop {float(un.get('midpoint_acc_drop_mean', np.nan)):.1f} ± "
            f"{float(un.get('midpoint_acc_drop_std', np.nan)):.1f} pp unaligned, "
            f"{float(al.get('midpoint_acc_drop_mean', np.nan)):.1f} ± "
            f"{float(al.get('midpoint_acc_drop_std', np.nan)):.1f} pp aligned")))
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize="x-small")
    for r in range(2):  # shared y-range per row, so that the two columns compare directly
        lo = min(axes[r, c].get_ylim()[0] for c in range(2))
        hi = max(axes[r, c].get_ylim()[1] for c in range(2))
        for c in range(2):
            axes[r, c].set_ylim(lo, hi)

    ends = {key: 100 * np.nanmean(arr(v.get("endpoint_test_acc", [np.nan]))) for key, v in variants.items()}
    ends_txt = "; ".join(f"{variant_label(variants[k], k)} {a:.1f}%" for k, a in ends.items())
    caption = (
        "Figure 13 ([NI] §6 Fig. 4, ResNet rows; paper_checks C9). Test accuracy (top) and test loss (bottom) along "
        "the linear path between two independently trained ResNets of the same architecture, without alignment "
        "(left) and after activation matching of model B to model A on the training images (right; every pixel a "
        "sample, one joint permutation per residual stream and one per block's inner channels, both models read as "
        "standard ResNets of their effective weights): standard ResNet, W-ResNet with fixed-weight scale κ = 0 "
        "(masking only) and κ = 2 ([NI] Table 3 fixed-entry fractions), syre-ResNet. "
        f"ResNet-{cfg.get('depth', '?')}, width {cfg.get('width', '?')}, GroupNorm, dataset "
        f"{cfg.get('dataset', '?')} (8×8, 1 channel), {cfg.get('epochs', '?')} epochs of AdamW (lr "
        f"{cfg.get('lr', '?')}); mean ± 1 s.d. over {cfg.get('pairs', '?')} pairs. Where matching returns the "
        "identity the two columns coincide. Legend: midpoint accuracy drop (A(0) + A(1))/2 − A(½) in percentage "
        f"points (mean ± s.d.). Mean endpoint test accuracy: {ends_txt}. Measured with "
        f"lmctheory.experiments.resnet_pairs (quick = {ctx.mode != 'full'}), seed {ctx.seed}."
    )
    return FigureOutput(fig, rows, caption, size="grid")
