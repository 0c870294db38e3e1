"""Figure 14 — interpolation between independently trained small ViTs: standard vs W-asymmetric ([NI] G.4) and
unaligned vs permutation vs permutation + orthogonal residual-stream alignment ([GLMC]); experiment
:mod:`lmctheory.experiments.vit_pairs`, judged by paper_checks C11 and G1."""

from __future__ import annotations

import numpy as np

from ._core import FigureContext, FigureOutput, register
from ._trained import arr, collect, need
from .style import new_figure

NAME = "fig14_transformer_interpolation"
EXPERIMENT = "vit_pairs.collect"
ASYM = (("standard", "standard ViT", "C0"), ("wvit_zero", "W-ViT, zero fixed weights", "C1"),
        ("wvit_fixed", "W-ViT, fixed weights κ=2", "C2"))
ALIGN = (("unaligned", "unaligned", "C0"), ("perm", "permutation (heads, units, stream)", "C1"),
         ("orth", "permutation + orthogonal stream", "C3"))


@register(14, NAME, "Transformer interpolation: W-asymmetric ViTs and orthogonal alignment ([NI] G.4, [GLMC])",
          "trained")
def make(ctx: FigureContext) -> FigureOutput:
    data = collect(EXPERIMENT, ctx)
    variants = need(data, "variants", source=EXPERIMENT)
    cfg = data.get("config", {})
    rows = {c: [] for c in ("variant", "alignment", "lam", "metric", "mean", "std")}

    def add(*vals):
        for key, v in zip(rows, vals):
            rows[key].append(v)

    def curve(ax, block, metric, scale, color, label, ls="-"):
        lams = arr(need(block, "lams", source=EXPERIMENT))
        mean = scale * arr(need(block, f"{metric}_mean", source=EXPERIMENT))
        std = scale * arr(block.get(f"{metric}_std", np.full(lams.shape, np.nan)))
        ax.plot(lams, mean, color=color, ls=ls, marker="o", ms=3, label=label)
        ax.fill_between(lams, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
        return lams, mean, std

    fig, axes = new_figure("grid", 2, 2, sharex=True)
    # top row: [NI] G.4 variants (LayerNorm), unaligned and permutation-aligned, test accuracy
    for c, which in enumerate(("unaligned", "perm")):
        ax = axes[0, c]
        for key, name, color in ASYM:
            row = variants.get(key)
            if row is None or which not in row:
                continue
            block = row[which]
            acc = 100 * np.nanmean(arr(row.get("endpoint_test_acc", [np.nan])))
            lab = f"{name}: drop {block.get('midpoint_acc_drop_mean', np.nan):.1f} pp (end {acc:.0f}%)"
            lams, mean, std = curve(ax, block, "acc", 100.0, color, lab)
            for lam, m_, s_ in zip(lams, mean, std):
                add(key, which, lam, "test_acc_pct", m_, s_)
            if which == "perm" and "orth" in row:  # + orthogonal stream map fixing the all-ones direction
                ob = row["orth"]
                olab = f"+ orthogonal (Q·1 = ±1): drop {ob.get('midpoint_acc_drop_mean', np.nan):.1f} pp"
                lams, mean, std = curve(ax, ob, "acc", 100.0, color, olab, ls="--")
                for lam, m_, s_ in zip(lams, mean, std):
                    add(key, "orth", lam, "test_acc_pct", m_, s_)
                add(key, "orth", np.nan, "midpoint_acc_drop_pp", ob.get("midpoint_acc_drop_mean", np.nan),
                    ob.get("midpoint_acc_drop_std", np.nan))
                add(key, "orth", np.nan, "loss_barrier_lin", ob.get("loss_barrier_lin_mean", np.nan),
                    ob.get("loss_barrier_lin_std", np.nan))
            add(key, which, np.nan, "midpoint_acc_drop_pp", block.get("midpoint_acc_drop_mean", np.nan),
                block.get("midpoint_acc_drop_std", np.nan))
            add(key, which, np.nan, "loss_barrier_lin", block.get("loss_barrier_lin_mean", np.nan),
                block.get("loss_barrier_lin_std", np.nan))
        ax.set_title("LayerNorm ViTs " + ("without alignment" if which == "unaligned" else
                                           "aligned: permutation (solid), + orthogonal (dashed)"), fontsize="small")
        ax.set_ylabel("test accuracy   [%]")
        ax.set_ylim(0, 100)
        if which == "unaligned":  # the curves dip in the middle: the top centre is free
            ax.legend(fontsize="x-small", loc="upper center")
        else:  # six curves: two legend columns in the free band below the aligned minima
            ax.set_ylim(-24, 100)
            ax.set_yticks(range(0, 101, 20))
            h, lab = ax.get_legend_handles_labels()
            order = list(range(0, len(h), 2)) + list(range(1, len(h), 2))  # column 1: permutation, 2: + orthogonal
            ax.legend([h[i] for i in order], [lab[i] for i in order], fontsize="xx-small", loc="lower center",
                      ncol=2, columnspacing=0.8)
    # bottom row: [GLMC] RMSNorm ViT, three alignments: accuracy and loss
    row = variants.get("rms_standard")
    for c, (metric, ylabel, scale) in enumerate((("acc", "test accuracy   [%]", 100.0),
                                                 ("loss", "test loss   [cross-entropy, nats]", 1.0))):
        ax = axes[1, c]
        if row is not None:
            for which, name, color in ALIGN:
                if which not in row:
                    continue
                block = row[which]
                lab = (f"{name}: B_lin {block.get('loss_barrier_lin_mean', np.nan):.2f} nats" if metric == "loss"
                       else f"{name}: drop {block.get('midpoint_acc_drop_mean', np.nan):.1f} pp")
                lams, mean, std = curve(ax, block, metric, scale, color, lab)
                for lam, m_, s_ in zip(lams, mean, std):
                    add("rms_standard", which, lam, "test_acc_pct" if metric == "acc" else "test_loss", m_, s_)
                if metric == "loss":
                    add("rms_standard", which, np.nan, "loss_barrier_lin", block.get("loss_barrier_lin_mean", np.nan),
                        block.get("loss_barrier_lin_std", np.nan))
        ax.set_title("RMSNorm (no gain) ViT: permutation vs orthogonal alignment", fontsize="small")
        ax.set_ylabel(ylabel)
        if metric == "acc":
            ax.set_ylim(0, 100)
        ax.legend(fontsize="x-small", loc="upper center" if metric == "acc" else "lower center")
        ax.set_xlabel("interpolation weight λ   (λ = 0: model A, λ = 1: model B)")

    caption = (
        "Figure 14 ([NI] App. G.4; [GLMC]; paper_checks C11, G1). Test accuracy/loss along θ(λ) = (1−λ)θ_A + λθ_B "
        "between two independently trained ViTs on digits (2×2 patches, width "
        f"{cfg.get('dim', '?')}, depth {cfg.get('depth', '?')}, {cfg.get('heads', '?')} heads, "
        f"{cfg.get('epochs', '?')} epochs AdamW); mean ± 1 s.d. over {cfg.get('pairs', '?')} pairs. Top: LayerNorm "
        "ViTs — standard, W-asymmetric with every linear map having 25% fixed entries per row set to 0 "
        "(masking alone) or to κ·N(0,1)/√fan_in with κ = 2 — without alignment (left) and after activation matching "
        "of residual stream, heads and MLP units (right, solid; asymmetric models as standard models of their "
        "effective weights), then an orthogonal map of the stream fixing the all-ones direction (right, dashed; "
        "LayerNorm gains/biases folded into the following linear maps, T-S3). Bottom: standard ViT with gainless RMSNorm, whose residual stream admits orthogonal maps (T-S3): "
        "unaligned, permutation-aligned, and permutation + orthogonal residual-stream alignment (Procrustes on the "
        "training-set stream activations, every token a sample). Legends: midpoint accuracy drop "
        "(A(0)+A(1))/2 − A(½) and loss barrier B_lin. Measured with the experiment's collect() "
        f"(quick = {ctx.mode != 'full'}), seed {ctx.seed}."
    )
    return FigureOutput(fig, rows, caption, size="grid")
