"""Figure 1 — weak-additivity cosine vs dimension (docs/theory.md §9, T-WA; [LEWC] Def. 5.1)."""

from __future__ import annotations

import numpy as np

from ._core import FigureContext, FigureOutput, register
from ._util import field, seeds, tqdm_iter
from .style import new_figure, reference_line

NAME = "fig01_weak_additivity"

#: (label, var_u, var_v, corr) of the plotted Gaussian families; the first is the [LEWC] case
SERIES = (
    ("independent, equal variances", 1.0, 1.0, 0.0),
    ("correlation ρ = 0.5", 1.0, 1.0, 0.5),
    ("variances 1 : 4, independent", 1.0, 4.0, 0.0),
)


def _limit(lewc, var_u, var_v, corr):
    return float(lewc.gaussian_weak_additivity_cosine(var_u=var_u, var_v=var_v, corr=corr))


@register(1, NAME, "Weak-additivity cosine vs dimension", "analytic")
def make(ctx: FigureContext) -> FigureOutput:
    """Monte Carlo ``cos(σ(u+v), σ(u)+σ(v))`` for Gaussian ``u, v`` against the T-WA limit."""
    from lmctheory import lewc
    top = ctx.pick(3.0, 5.0, 5.5)
    dims = np.unique(np.round(np.logspace(1, top, ctx.pick(7, 17, 23))).astype(int))
    n_vectors = ctx.pick(32, 200, 800)

    rows = {k: [] for k in ("series", "var_u", "var_v", "corr", "dim", "n_vectors",
                            "mean", "std", "stderr", "limit")}
    fig, axes = new_figure("wide", 1, 2)
    ax, ax2 = axes[0]
    jobs = [(s, d) for s in range(len(SERIES)) for d in dims]
    sd = seeds(ctx.seed, len(jobs), salt=1)
    est = {}
    for (s, d), seed in tqdm_iter(zip(jobs, sd), ctx, "fig01 Monte Carlo", total=len(jobs)):
        _, vu, vv, rho = SERIES[s]
        est[s, d] = lewc.weak_additivity_cosine_mc(
            int(d), n_vectors, var_u=vu, var_v=vv, corr=rho, seed=seed
        )
    colors = [f"C{i}" for i in range(len(SERIES))]
    for s, (label, vu, vv, rho) in enumerate(SERIES):
        lim = _limit(lewc, vu, vv, rho)
        mean = np.array([float(field(est[s, d], "mean")) for d in dims])
        std = np.array([float(field(est[s, d], "std")) for d in dims])
        se = np.array([float(field(est[s, d], "stderr")) for d in dims])
        for d, m, sdv, e in zip(dims, mean, std, se):
            for key, val in zip(rows, (label, vu, vv, rho, int(d), n_vectors, m, sdv, e, lim)):
                rows[key].append(val)
        c = colors[s]
        ax.fill_between(dims, mean - std, mean + std, color=c, alpha=0.15, linewidth=0)
        ax.errorbar(dims, mean, yerr=2 * se, color=c, marker="o", ms=3.5, capsize=2,
                    label=f"{label}: MC mean ± 2 s.e. (band ± 1 s.d.)")
        if np.isfinite(lim):
            reference_line(ax, lim, None, color=c, linewidth=1.0)
        ax2.loglog(dims, std, color=c, marker="o", ms=3.5, label=label)
        if s == 0:
            # the O(1/√dim) rate, anchored at the first measured point (shape only)
            ax2.loglog(dims, std[0] * np.sqrt(dims[0] / dims), color="0.3", ls=":",
                       label="∝ dim^(−1/2) (anchored)")
    lim0 = _limit(lewc, *SERIES[0][1:])
    ax.plot([], [], color="0.25", ls="--", label=f"Gaussian limit (T-WA); independent: {lim0:.4f}")
    ax.set_xscale("log")
    ax.set_xlabel("dimension of u, v (number of coordinates)")
    ax.set_ylabel("cos(σ(u+v), σ(u)+σ(v))  [dimensionless]")
    ax.set_title("Weak additivity of ReLU: mean and spread")
    ax.legend(loc="lower right", fontsize="x-small")
    ax2.set_xlabel("dimension of u, v (number of coordinates)")
    ax2.set_ylabel("standard deviation of the cosine over draws")
    ax2.set_title("Fluctuations around the limit")
    ax2.legend(loc="lower left", fontsize="x-small")

    caption = (
        "Figure 1 (docs/theory.md T-WA, [LEWC] Def. 5.1). Weak-additivity cosine cos(σ(u+v), σ(u)+σ(v)) "
        f"for ReLU σ and Gaussian vectors u, v with i.i.d. coordinates, {n_vectors} independent draws "
        f"per dimension (lmctheory.lewc.weak_additivity_cosine_mc). Left: Monte Carlo mean with "
        "± 2 standard errors (bars) and ± 1 standard deviation of the per-draw cosine (band); dashed "
        "lines are the Gaussian limits from the arc-cosine kernel (lmctheory.lewc."
        f"gaussian_weak_additivity_cosine), {lim0:.5f} for independent equal variances. Right: the "
        "per-draw standard deviation, with a dim^(−1/2) line anchored at the first point for "
        f"comparison. Seed {ctx.seed}, mode {ctx.mode}."
    )
    return FigureOutput(fig, rows, caption, size="wide")
