"""Figure 13 — aligned and unaligned interpolation curves of four ResNet variants ([NI] Fig. 4, ResNet rows;
experiment :mod:`lmctheory.experiments.resnet_pairs`, judged by paper_checks C9)."""

from __future__ import annotations

import numpy as np

from ._core import FigureContext, FigureOutput, register
from ._trained import aligned_unaligned_panels, arr, collect, need

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
    data = collect(EXPERIMENT, ctx)
    variants = need(data, "variants", source=EXPERIMENT)
    cfg = data.get("config", {})
    fig, _, rows = aligned_unaligned_panels(variants, EXPERIMENT, variant_label, markers=("o", "s", "^", "D"), lw=1.2)

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
