"""Figure 9 — aligned and unaligned interpolation curves of four MLP variants ([NI] Fig. 4; paper_checks C1)."""

from __future__ import annotations

import numpy as np

from ._core import FigureContext, FigureOutput, register
from ._trained import aligned_unaligned_panels, arr, collect, need

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
    data = collect(EXPERIMENT, ctx)
    variants = need(data, "variants", source=EXPERIMENT)
    cfg = data.get("config", {})
    fig, _, rows = aligned_unaligned_panels(variants, EXPERIMENT, variant_label)

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
