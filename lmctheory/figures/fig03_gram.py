"""Figure 3 — Gram concentration ‖S_i − μI‖ vs coherence ν, with the T-4.4 bound (docs/theory.md §3)."""

from __future__ import annotations

import numpy as np

from ._core import FigureContext, FigureOutput, register
from ._util import field, seeds, tqdm_iter
from .style import new_figure

NAME = "fig03_gram_concentration"
DELTAS = (0.5, 0.1, 0.01)


def _moments(bounds, p):
    """(μ, σ_d², b) of a Bernoulli(p) mask entry, from the core if it offers them."""
    mom = bounds.mask_moments(p)
    if isinstance(mom, (tuple, list)):
        return tuple(float(x) for x in mom[:3])
    names = (("mu", "mean"), ("var", "variance"), ("dev", "b", "bound"))
    out = []
    for alts in names:
        for a in alts:
            try:
                out.append(float(field(mom, a)))
                break
            except Exception:
                continue
        else:
            raise ValueError(f"mask_moments result lacks one of {alts}")
    return tuple(out)


@register(3, NAME, "Gram concentration vs subspace coherence (T-4.4)", "analytic")
def make(ctx: FigureContext) -> FigureOutput:
    from lmctheory import bounds, gram, subspace
    from lmctheory.synthetic import coherent_basis

    d, k = ctx.pick(64, 256, 256), 8
    keep_p = 0.5
    m = max(1, int(round(0.08 * d)))  # W-asymmetric: ≈ 8% fixed entries per row
    n_masks = ctx.pick(60, 400, 2000)
    mixes = np.linspace(0.0, 1.0, ctx.pick(6, 16, 24))  # ν from 1 (mix 0) down to Haar-random (mix 1)
    sd = seeds(ctx.seed, 3 * len(mixes), salt=3)
    mu_b, var_b, dev_b = _moments(bounds, keep_p)
    mu_f = 1.0 - m / d

    rows = {k_: [] for k_ in ("mask", "kind", "coherence", "delta", "value")}

    def add(*vals):
        for key, v in zip(rows, vals):
            rows[key].append(v)

    nus, samples = [], {"bernoulli": [], "fixed_count": []}
    for b, mix in enumerate(tqdm_iter(mixes, ctx, "fig03 bases")):
        U = coherent_basis(d, k, float(mix), seed=sd[3 * b])
        nu = float(subspace.subspace_coherence(U))
        nus.append(nu)
        rng = np.random.default_rng(sd[3 * b + 1])
        D_b = (rng.random((n_masks, d)) < keep_p).astype(float)
        D_f = np.ones((n_masks, d))
        rows_idx = np.arange(n_masks)[:, None]
        D_f[rows_idx, np.argsort(rng.random((n_masks, d)), axis=1)[:, :m]] = 0.0
        samples["bernoulli"].append(np.asarray(gram.gram_deviation_norms(D_b, U, mu=mu_b), float))
        samples["fixed_count"].append(np.asarray(gram.gram_deviation_norms(D_f, U, mu=mu_f), float))
    nus = np.asarray(nus)
    order = np.argsort(nus)
    nu_grid = np.logspace(np.log10(0.8 * nus.min()), 0, 60)  # the bound over the sampled range only

    fig, axes = new_figure("wide", 1, 2, sharey=False)
    panels = (
        ("bernoulli", f"i.i.d. Bernoulli mask, keep p = {keep_p:g} (μ = {mu_b:g})"),
        ("fixed_count", f"fixed-count mask, m = {m} of d = {d} fixed (μ = {mu_f:.3f})"),
    )
    for ax, (mask, title) in zip(axes[0], panels):
        vals = samples[mask]
        for j in order:
            x = np.full(vals[j].shape, nus[j]) * np.exp(np.random.default_rng(j).uniform(-0.03, 0.03, vals[j].size))
            ax.scatter(x, vals[j], s=4, color="0.55", alpha=0.25, linewidths=0, rasterized=True)
            for v in vals[j]:
                add(mask, "sample", nus[j], np.nan, float(v))
        for c, delta in enumerate(DELTAS):
            if mask == "bernoulli":
                bnd = [float(bounds.gram_concentration_bound(nu, k, delta, var_b, dev_b)) for nu in nu_grid]
            else:
                bnd = [float(bounds.fixed_count_gram_bound(nu, k, delta, m, d)) for nu in nu_grid]
            q = np.array([np.quantile(vals[j], 1 - delta) for j in order])
            ax.plot(nu_grid, bnd, color=f"C{c}", ls="--", label=f"T-4.4 bound, δ = {delta:g}")
            ax.plot(nus[order], q, color=f"C{c}", marker="o", ms=4, ls="none",
                    label=f"empirical (1−δ)-quantile, δ = {delta:g}")
            for nu, v in zip(nu_grid, bnd):
                add(mask, "bound", nu, delta, v)
            for nu, v in zip(nus[order], q):
                add(mask, "quantile", nu, delta, v)
        ax.scatter([], [], s=10, color="0.55", label=f"‖S_i − μI‖₂ of {n_masks} sampled masks per basis")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"subspace coherence ν(U)   [k/d = {k / d:.3g} ≤ ν ≤ 1]")
        ax.set_ylabel("spectral deviation ‖S_i − μI_k‖₂   [dimensionless]")
        ax.set_title(title)
    axes[0, 0].legend(fontsize="xx-small", loc="upper left")  # the empty corner above the bounds

    caption = (
        "Figure 3 (docs/theory.md T-4.4; [NI] Thm. 4.4). Spectral deviation ‖S_i − μI_k‖₂ of the Gram matrix "
        f"S_i = Uᵀdiag(d_i)²U (lmctheory.gram.gram_deviation_norms) for k = {k}-dimensional supports in "
        f"d = {d} dimensions whose coherence ν(U) (lmctheory.subspace.subspace_coherence) ranges from "
        "incoherent (Haar-random basis) to coordinate-aligned (ν = 1; lmctheory.synthetic.coherent_basis). "
        f"Grey: {n_masks} masks per basis; circles: the empirical (1−δ)-quantile; dashed: the bound that "
        "holds with probability ≥ 1−δ per neuron (left: i.i.d. entries, lmctheory.bounds.gram_concentration_bound "
        "with the Bernoulli moments of mask_moments; right: fixed-count masks without replacement, "
        "fixed_count_gram_bound). Points are jittered by ±3% in ν for visibility (the CSV holds exact ν). "
        f"Seed {ctx.seed}, mode {ctx.mode}."
    )
    return FigureOutput(fig, rows, caption, size="wide")
