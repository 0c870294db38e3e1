"""Figure 11 — loss and accuracy along the line and along a trained Bézier curve, unaligned and aligned
([MC] §2; Garipov et al. 2018; experiment :mod:`lmctheory.experiments.mode_curves`, judged by paper_checks M1)."""

from __future__ import annotations

import numpy as np

from ._core import FigureContext, FigureOutput, register
from ._trained import arr, collect, need
from .style import new_figure

NAME = "fig11_curves"
EXPERIMENT = "mode_curves.collect"
PATHS = (("line", "straight line", "C0"), ("curve", "quadratic Bézier curve", "C3"))
STYLES = ("-", "--", ":", "-.")


@register(11, NAME, "Line vs Bézier curve between independently trained networks ([MC], M1)", "trained")
def make(ctx: FigureContext) -> FigureOutput:
    data = collect(EXPERIMENT, ctx)
    archs = need(data, "archs", source=EXPERIMENT)
    cfg = data.get("config", {})
    rows = {c: [] for c in ("arch", "alignment", "path", "t", "metric", "mean", "std")}

    def add(*vals):
        for key, v in zip(rows, vals):
            rows[key].append(v)

    fig, axes = new_figure("grid", 2, 2, sharex=True)
    metrics = (("loss", "test loss   [cross-entropy, nats]", 1.0), ("acc", "test accuracy   [%]", 100.0))
    for a_i, (arch, row) in enumerate(archs.items()):
        for c, which in enumerate(("unaligned", "aligned")):
            block = row.get(which)
            if block is None:  # an architecture without an aligner
                continue
            for path, label, color in PATHS:
                curve = need(block, path, source=EXPERIMENT)
                ts = arr(need(curve, "ts", source=EXPERIMENT))
                bl = float(curve.get("barrier_lin_mean", np.nan))
                for r, (metric, ylabel, scale) in enumerate(metrics):
                    ax = axes[r, c]
                    mean = scale * arr(need(curve, f"{metric}_mean", source=EXPERIMENT))
                    std = scale * arr(curve.get(f"{metric}_std", np.full(ts.shape, np.nan)))
                    tag = "unaligned" if which == "unaligned" else "aligned"
                    lab = f"{tag}, {arch}: {label}, B_lin = {bl:.3f} nats" if r == 0 else None
                    ax.plot(ts, mean, color=color, ls=STYLES[a_i % len(STYLES)], marker="o", ms=3, label=lab)
                    ax.fill_between(ts, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
                    ax.set_ylabel(ylabel)
                    for t, m_, s_ in zip(ts, mean, std):
                        add(arch, which, path, t, metric, m_, s_)
                add(arch, which, path, np.nan, "barrier_lin_mean", bl, float(curve.get("barrier_lin_std", np.nan)))
            gain = float(np.mean(arr(block.get("ensemble_acc_gain_pp", [np.nan]))))
            add(arch, which, "curve", np.nan, "ensemble_acc_gain_pp", gain, np.nan)
    for c, which in enumerate(("unaligned", "aligned")):
        axes[0, c].set_title("without alignment (identity)" if which == "unaligned"
                             else "after activation matching (B permuted to A)", fontsize="small")
        axes[1, c].set_xlabel("curve parameter t   (t = 0: model A, t = 1: model B)")
    # one legend below the panels (left column: unaligned, right: aligned), so no curve is hidden behind it
    handles, labels = [], []
    for c in range(2):
        h, lab = axes[0, c].get_legend_handles_labels()
        handles += h
        labels += lab
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize="x-small", handlelength=3.5)
    for r in range(2):  # shared y-range per row, so that the two columns compare directly
        lo = min(axes[r, c].get_ylim()[0] for c in range(2))
        hi = max(axes[r, c].get_ylim()[1] for c in range(2))
        for c in range(2):
            axes[r, c].set_ylim(lo, hi)

    ends = "; ".join(f"{arch} {100 * np.nanmean(arr(row.get('endpoint_test_acc', [np.nan]))):.1f}%"
                     for arch, row in archs.items())
    arch_txt = "; ".join(f"{arch} ({', '.join(f'{k} {v}' for k, v in arr_cfg.items())})"
                         for arch, arr_cfg in cfg.get("archs", {}).items())
    caption = (
        "Figure 11 ([MC] §2, Garipov et al. 2018; paper_checks M1). Test loss (top) and test accuracy (bottom) "
        "along the straight line θ(t) = (1−t)θ_A + tθ_B and along a quadratic Bézier curve "
        "(1−t)²θ_A + 2t(1−t)c + t²θ_B whose control point c was trained on the training set with one "
        "uniform t per minibatch, between two independently trained networks, without alignment (left) and "
        f"after activation matching of B to A (right; layerwise for the MLP, on the traced permutation groups with "
        f"every pixel a sample for the ResNet). Line style per architecture. Architectures: {arch_txt or '?'}; dataset "
        f"{cfg.get('dataset', '?')}, {cfg.get('epochs', '?')} epochs of AdamW per endpoint, "
        f"{cfg.get('curve_epochs', '?')} epochs for the curve; mean ± 1 s.d. over {cfg.get('pairs', '?')} pairs. "
        "Legend: mean loss barrier B_lin = max_t[𝓛(t) − ((1−t)𝓛(0) + t𝓛(1))]. "
        f"Mean endpoint test accuracy: {ends}. Measured with the claim's collect() "
        f"(quick = {ctx.mode != 'full'}), seed {ctx.seed}."
    )
    return FigureOutput(fig, rows, caption, size="grid")
