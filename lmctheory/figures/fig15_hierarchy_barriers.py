"""Figure 15 — loss barrier by alignment strategy and width, ViTs (vision) and Hugging Face GPT-2 models (language)
([GLMC] Table 1); experiments :func:`lmctheory.experiments.vit_pairs.collect_strategies` and
:func:`lmctheory.experiments.gpt_pairs.collect`, judged by paper_checks G2 and G3."""

from __future__ import annotations

import numpy as np

from ._core import FigureContext, FigureOutput, register
from ._trained import arr, collect, need
from .style import new_figure

NAME = "fig15_hierarchy_barriers"
SOURCES = (("vit_pairs.collect_strategies", "vision: ViT on digits"),
           ("gpt_pairs.collect", "language: HF GPT-2, modular sequences"))
STYLE = {"vanilla": ("vanilla averaging", "C0", "o"), "activation": ("activation matching (permutations)", "C1", "s"),
         "weight_perm": ("weight matching (permutations)", "C4", "v"),
         "weight": ("weight matching (hierarchy)", "C2", "^"),
         "learned_perm": ("learned matching (permutations)", "C5", "D"),
         "learned": ("learned matching (hierarchy)", "C3", "*")}


@register(15, NAME, "Loss barrier by [GLMC] alignment strategy and width, vision and language transformers",
          "trained")
def make(ctx: FigureContext) -> FigureOutput:
    rows = {c: [] for c in ("domain", "width", "strategy", "loss_barrier_lin_mean", "loss_barrier_lin_std",
                            "endpoint_acc_mean")}
    fig, axes = new_figure("wide", 1, 2)
    cfgs = []
    for ax, (key, title) in zip(axes[0], SOURCES):
        data = collect(key, ctx)
        widths = need(data, "widths", source=key)
        cfgs.append(data.get("config", {}))
        ws = sorted(widths, key=float)
        x = np.array([float(w) for w in ws])
        for s, (lab, color, marker) in STYLE.items():
            if s not in widths[ws[0]]:
                continue
            m = arr([need(widths[w], s, "loss_barrier_lin_mean", source=key) for w in ws])
            sd = arr([widths[w][s].get("loss_barrier_lin_std", np.nan) for w in ws])
            ax.errorbar(x, m, yerr=sd, color=color, marker=marker, ms=4, capsize=2, label=lab)
            for w, mm, ss in zip(ws, m, sd):
                rows["domain"].append(title)
                rows["width"].append(float(w))
                rows["strategy"].append(s)
                rows["loss_barrier_lin_mean"].append(mm)
                rows["loss_barrier_lin_std"].append(ss)
                rows["endpoint_acc_mean"].append(float(np.mean(widths[w]["endpoint_test_acc"])))
        ax.set_xscale("log", base=2)
        ax.set_xticks(x)
        ax.set_xticklabels([str(int(v)) for v in x])
        ax.set_xlabel("width (residual stream)")
        ax.set_ylabel("test loss barrier B_lin   [nats]")
        accs = [100 * np.mean(widths[w]["endpoint_test_acc"]) for w in ws]
        ax.set_title(f"{title} (end test acc {min(accs):.0f}–{max(accs):.0f}%)", fontsize="small")
        ax.axhline(0.0, color="0.5", lw=0.8)
    top = np.nanmax(arr(rows["loss_barrier_lin_mean"])[np.array(rows["domain"]) == SOURCES[1][1]], initial=0.0)
    if np.isfinite(top) and top > 0:  # head-room above the curves for the legend
        axes[0, 1].set_ylim(min(0.0, axes[0, 1].get_ylim()[0]), 1.6 * top)
    axes[0, 1].legend(fontsize="xx-small", loc="upper left")
    cv, cg = cfgs
    caption = (
        "Figure 15 ([GLMC] Table 1; paper_checks G2, G3). Test cross-entropy barrier B_lin = max_λ[𝓛(λ) − "
        "((1−λ)𝓛(0) + λ𝓛(1))] between two independently trained transformers after each alignment of "
        "lmctheory.nn.hierarchy.align, by width (mean ± 1 s.d. over pairs). Left: ViTs with gainless RMSNorm on digits "
        f"(depth {cv.get('depth', '?')}, {cv.get('heads', '?')} heads, {cv.get('epochs', '?')} epochs, "
        f"{cv.get('pairs', '?')} pairs). Right: Hugging Face GPT2LMHeadModels (random init, read-out tied to the "
        "token embedding; LayerNorm folded, stream maps fixing the all-ones direction) on seeded modular sequences "
        f"(p = {cg.get('p', '?')}, per-token loss; "
        f"{cg.get('pairs', '?')} pairs). Strategies: vanilla averaging; activation matching of permutations; weight "
        "matching (data-free) with permutations only or over the hierarchy (FF units, heads on QK/OV circuits, "
        "per-head invertible circuit maps, orthogonal stream); learned matching (projected maps trained on the loss "
        f"at λ ~ U(0.4, 0.6), {cv.get('learned_steps', '?')} steps, from weight matching) with permutations only or "
        f"over the hierarchy. Measured with the experiments' collect() (quick = {ctx.mode != 'full'}), seed "
        f"{ctx.seed}."
    )
    return FigureOutput(fig, rows, caption, size="wide")
