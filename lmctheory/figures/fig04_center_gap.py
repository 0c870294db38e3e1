"""Figure 4 — minimum projected-center gap vs width (docs/theory.md T-4.6; [NI] Fig. 11)."""

from __future__ import annotations

import numpy as np

from ._core import FigureContext, FigureOutput, register
from ._util import seeds, tqdm_iter
from .style import new_figure

NAME = "fig04_center_gap"
KS = (2, 4, 8, 16)


@register(4, NAME, "Minimum projected-center gap vs width (T-4.6, [NI] Fig. 11)", "analytic")
def make(ctx: FigureContext) -> FigureOutput:
    from lmctheory import bounds, subspace
    from lmctheory.synthetic import random_basis
    d, sigma_f, delta = 64, 1.0, 0.1
    widths = 2 ** np.arange(4, ctx.pick(9, 13, 14))
    reps = ctx.pick(4, 16, 64)
    sd = seeds(ctx.seed, len(KS) * len(widths) * reps, salt=4)

    rows = {c: [] for c in ("k", "n", "kind", "value", "q10", "q90", "n_repeats",
                            "frac_below_bound")}

    def add(*vals):
        for key, v in zip(rows, vals):
            rows[key].append(v)

    fig, axes = new_figure("single")
    ax = axes[0, 0]
    jobs = [(a, b) for a in range(len(KS)) for b in range(len(widths))]
    gaps = np.empty((len(KS), len(widths), reps))
    it = 0
    for a, b in tqdm_iter(jobs, ctx, "fig04 (k, n)"):
        k, n = KS[a], int(widths[b])
        for r in range(reps):
            seed = sd[it]
            it += 1
            rng = np.random.default_rng(seed)
            F = sigma_f * rng.standard_normal((n, d))  # syre centers: f_i ~ N(0, σ_F² I_d)
            U = random_basis(d, k, seed=seed)
            gaps[a, b, r] = float(subspace.min_center_gap(subspace.projected_centers(F, U)))
    for a, k in enumerate(KS):
        med = np.median(gaps[a], axis=1)
        q10, q90 = np.quantile(gaps[a], [0.1, 0.9], axis=1)
        lb = np.array([float(bounds.syre_center_gap_lower_bound(int(n), k, sigma_f, delta)) for n in widths])
        frac = (gaps[a] < lb[:, None]).mean(axis=1)
        rate = med[0] * (widths / widths[0]) ** (-2.0 / k)  # anchored at the smallest width, as in [NI]
        slope = np.polyfit(np.log(widths), np.log(med), 1)[0]
        c = f"C{a}"
        ax.fill_between(widths, q10, q90, color=c, alpha=0.15, linewidth=0)
        ax.plot(widths, med, color=c, marker="o", ms=4,
                label=f"k = {k}: median (fitted slope {slope:+.3f}, rate −2/k = {-2 / k:+.3f})")
        ax.plot(widths, rate, color=c, ls="--", lw=1.1)
        ax.plot(widths, lb, color=c, ls=":", lw=1.4)
        for b, n in enumerate(widths):
            add(k, int(n), "median", med[b], q10[b], q90[b], reps, frac[b])
            add(k, int(n), "rate_anchored", rate[b], np.nan, np.nan, reps, np.nan)
            add(k, int(n), f"bound_T4.6_delta{delta:g}", lb[b], np.nan, np.nan, reps, np.nan)
    ax.plot([], [], color="0.3", ls="--", label="n^(−2/k), anchored at n = %d" % widths[0])
    ax.plot([], [], color="0.3", ls=":", label=f"T-4.6 lower bound (prob. ≥ {1 - delta:g})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("layer width n (number of neurons)")
    ax.set_ylabel(f"min. projected center gap δ_min   [units of σ_F = {sigma_f:g}]")
    ax.set_title("Closest pair of projected centers (syre layer)")
    ax.legend(fontsize="xx-small", loc="lower left")

    caption = (
        "Figure 4 (docs/theory.md T-4.6; [NI] Thm. 4.6, Fig. 11). Minimum gap δ_min = min_{i≠j} ‖v_i − v_j‖ "
        f"between projected centers v_i = Uᵀf_i of a syre layer (f_i ~ N(0, σ_F² I_d), d = {d}, σ_F = {sigma_f:g}) "
        f"on a Haar-random k-dimensional support, vs width n, for k ∈ {{{', '.join(map(str, KS))}}} "
        "(lmctheory.subspace.projected_centers, min_center_gap). Solid: median over "
        f"{reps} draws (band: 10–90% quantiles); dashed: the rate n^(−2/k) anchored at the smallest width; "
        "dotted: the explicit union-bound lower bound that holds with probability ≥ "
        f"{1 - delta:g} (lmctheory.bounds.syre_center_gap_lower_bound, δ' = {delta:g}). The CSV also gives "
        f"the fraction of draws below the bound. Seed {ctx.seed}, mode {ctx.mode}."
    )
    return FigureOutput(fig, rows, caption)
