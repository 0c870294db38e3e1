"""Figure 7 — midpoint barrier vs subspace coherence, two embeddings ([NI] Fig. 6; paper_checks C4)."""

from __future__ import annotations

import matplotlib
import numpy as np

from ._core import FigureContext, FigureOutput, register
from ._trained import arr, collect, need
from .style import new_figure

NAME = "fig07_coherence_barrier"
EXPERIMENT = "mask_coherence.collect"
LABELS = {"copy": "exact copy", "frame": "random frame"}


@register(7, NAME, "Midpoint barrier vs coherence ([NI] Fig. 6, C4)", "trained")
def make(ctx: FigureContext) -> FigureOutput:
    data = collect(EXPERIMENT, ctx)
    embs = need(data, "embeddings", source=EXPERIMENT)
    cfg = data.get("config", {})
    rows = {c: [] for c in ("kind", "embedding", "m", "nu", "lam", "pair", "value", "spread")}

    def add(*vals):
        for key, v in zip(rows, vals):
            rows[key].append(v)

    names = list(embs)
    fig, axes = new_figure("wide", 1, 1 + len(names))
    ax = axes[0, 0]
    cmap = matplotlib.colormaps["viridis"]
    for e, emb in enumerate(names):
        row = embs[emb]
        m = arr(need(row, "m", source=EXPERIMENT))
        nu = arr(need(row, "nu", source=EXPERIMENT))
        bmean = arr(need(row, "barrier_mean", source=EXPERIMENT))
        bsem = arr(row.get("barrier_sem", np.full(len(m), np.nan)))
        ends = arr(need(row, "endpoint_loss_mean", source=EXPERIMENT))
        c = f"C{e}"
        label = LABELS.get(emb, emb)
        jitter = 1.0 + 0.04 * (e - (len(names) - 1) / 2)  # side by side, not on top of each other
        for j, pairs in enumerate(row.get("barrier_pairs", [])):
            pv = arr(pairs)
            ax.scatter(np.full(pv.shape, nu[j] * jitter), pv, s=9, color=c, alpha=0.3, linewidths=0)
            for p, v in enumerate(pv):
                add("barrier_pair", emb, m[j], nu[j], np.nan, p, v, np.nan)
        ax.errorbar(nu * jitter, bmean, yerr=np.nan_to_num(bsem), color=c, marker="o", ms=5, capsize=2,
                    label=f"{label}: midpoint barrier (mean ± s.e.m.)")
        ax.plot(nu * jitter, ends, color=c, ls="--", marker="s", ms=3.5, mfc="white", lw=1.1,
                label=f"{label}: endpoint test MSE (mean)")
        for j in range(len(m)):
            add("barrier_mean", emb, m[j], nu[j], np.nan, np.nan, bmean[j], bsem[j])
            add("endpoint_loss_mean", emb, m[j], nu[j], np.nan, np.nan, ends[j], np.nan)

        # interpolation curves of this embedding, one colour per coherence level
        axc = axes[0, 1 + e]
        lams = arr(need(row, "lams", source=EXPERIMENT))
        curves = arr(need(row, "curve_mean", source=EXPERIMENT))
        cstd = arr(row.get("curve_std", np.full(curves.shape, np.nan)))
        lo, hi = np.log(nu.min()), np.log(nu.max())
        for j in range(len(m)):
            col = cmap(0.05 + 0.75 * (np.log(nu[j]) - lo) / (hi - lo) if hi > lo else 0.4)
            axc.plot(lams, curves[j], color=col, lw=1.6, label=f"ν = 1/{int(m[j])}" if m[j] != 1 else "ν = 1")
            axc.fill_between(lams, curves[j] - cstd[j], curves[j] + cstd[j], color=col, alpha=0.12, linewidth=0)
            for lam, v, s in zip(lams, curves[j], cstd[j]):
                add("curve_mean", emb, m[j], nu[j], lam, np.nan, v, s)
        axc.set_xlabel("interpolation weight λ")
        axc.set_ylabel("test MSE   [squared target units]")
        axc.set_title(f"{label}: loss along the linear path", fontsize="small")
        axc.legend(fontsize="xx-small", title="coherence", title_fontsize="xx-small")

    ax.set_xscale("log")
    ticks = sorted({float(v) for r in embs.values() for v in arr(r["nu"])})
    ax.set_xticks(ticks, [f"1/{round(1 / t)}" if t < 1 else "1" for t in ticks], minor=False)
    ax.minorticks_off()
    ax.set_xlabel("subspace coherence ν = 1/m   [dimensionless]")
    ax.set_ylabel("test MSE   [squared target units]")
    ax.set_title("Unaligned midpoint barrier vs coherence", fontsize="small")
    ax.legend(fontsize="xx-small", loc="best")

    n_pairs = cfg.get("n_outer", "?"), cfg.get("n_pairs", "?")
    caption = (
        "Figure 7 ([NI] Q4, Fig. 6; paper_checks C4, docs/theory.md T-4.4). Teacher–student task: latent "
        "z ~ N(0, I₂), target relu(z₁ + z₂), embedded isometrically into R^{2c} "
        f"(c = {cfg.get('c', '?')}) with m slots per latent coordinate, so the input support has "
        "coherence ν = 1/m; 'exact copy' and 'random frame' embeddings. Students: one hidden ReLU layer "
        f"of width {cfg.get('width', '?')} with a Bernoulli({cfg.get('keep_prob', '?')}) mask and F = 0, "
        f"{cfg.get('epochs', '?')} epochs of AdamW; {n_pairs[0]} masks × {n_pairs[1]} independently trained "
        "pairs per point. Left: midpoint barrier B = L(θ½) − (L(θ₀) + L(θ₁))/2 of the unaligned linear "
        "path θ(λ) = (1−λ)θ₀ + λθ₁ on the test set (points: pairs; markers: mean ± standard error), with the endpoint test MSE "
        "beside it (dashed). Right: mean test MSE along the path for each coherence level (band ± 1 s.d. "
        "over pairs). The two embeddings are drawn slightly apart in ν for visibility; the CSV holds exact ν. "
        f"Measured with lmctheory.experiments.mask_coherence (quick = {ctx.mode != 'full'}), seed {ctx.seed}."
    )
    return FigureOutput(fig, rows, caption, size="wide")
