"""Figure 2 — chord deviation vs λ at several center-dominance levels η (docs/theory.md §7, T-5.1)."""

from __future__ import annotations

import numpy as np

from ._core import FigureContext, FigureOutput, register
from ._util import field, seeds, tqdm_iter
from .style import new_figure

NAME = "fig02_chord_deviation"
ETAS = (0.05, 0.2, 0.5, 0.9)


def center_dominated_layer(n: int, d: int, eta: float, seed: int):
    """Two endpoints ``W̃^(c) = F + R^(c)`` with ``‖r_i^(c)‖_Σ = η‖f_i‖_Σ`` exactly for every row.

    Returns ``(w0, w1, fixed, cov)``; ``cov`` is a random well-conditioned covariance with trace ``d``.
    """
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d, d)) / np.sqrt(d)
    cov = A @ A.T + 0.2 * np.eye(d)
    cov *= d / np.trace(cov)
    F = rng.standard_normal((n, d))

    def snorm(x):
        return np.sqrt(np.einsum("ij,jk,ik->i", x, cov, x))

    out = []
    for _ in range(2):
        R = rng.standard_normal((n, d))
        R *= (eta * snorm(F) / snorm(R))[:, None]
        out.append(F + R)
    return out[0], out[1], F, cov


@register(2, NAME, "Chord deviation vs λ: exact, Monte Carlo, T-5.1 bound", "analytic")
def make(ctx: FigureContext) -> FigureOutput:
    from lmctheory import chord
    n, d = 16, 12
    lam_line = np.linspace(0.01, 0.99, ctx.pick(21, 61, 99))  # endpoints are exactly 0: off a log axis
    lam_mc = np.linspace(0.1, 0.9, ctx.pick(3, 9, 9))
    n_samples = ctx.pick(4_000, 50_000, 400_000)
    sd = seeds(ctx.seed, 2 * len(ETAS), salt=2)

    rows = {k: [] for k in ("eta", "eta_measured", "kind", "lam", "value", "stderr")}

    def add(eta, eta_m, kind, lam, val, se=np.nan):
        for key, v in zip(rows, (eta, eta_m, kind, lam, val, se)):
            rows[key].append(v)

    fig, axes = new_figure("wide")
    ax = axes[0, 0]
    for e, eta in enumerate(tqdm_iter(ETAS, ctx, "fig02 η levels")):
        w0, w1, F, cov = center_dominated_layer(n, d, eta, sd[2 * e])
        scale = float(np.einsum("ij,jk,ik->", F, cov, F))  # Σ_i ‖f_i‖²_Σ
        eta_i = np.asarray(chord.center_dominance(w0, w1, F, cov), dtype=float)
        eta_m = float(np.max(eta_i))
        # per-neuron (m, n) arrays, summed over neurons: the layer's Δ_φ(λ)
        exact = np.asarray(chord.gaussian_relu_chord_deviation(w0, w1, cov, lam_line)).sum(axis=1) / scale
        bound = np.asarray(chord.relu_chord_bound(w0, w1, cov, lam_line, form="exact")).sum(axis=1) / scale
        sup_bound = float(chord.center_dominated_chord_bound(F, cov, eta_i)) / scale
        est = chord.chord_deviation_mc(w0, w1, cov, lam_mc, n_samples=n_samples, seed=sd[2 * e + 1])
        mc_mean = np.asarray(field(est, "mean")).sum(axis=1) / scale
        # neurons are sampled independently: variances add
        mc_se = np.sqrt((np.asarray(field(est, "stderr")) ** 2).sum(axis=1)) / scale
        c = f"C{e}"
        ax.plot(lam_line, exact, color=c, label=f"η = {eta:g}")
        ax.plot(lam_line, bound, color=c, ls="--", lw=1.2)
        ax.axhline(sup_bound, color=c, ls=":", lw=1.2)
        ax.errorbar(lam_mc, mc_mean, yerr=2 * mc_se, color=c, ls="none",
                    marker="o", ms=4, mfc="white", capsize=2)
        for l, v in zip(lam_line, exact):
            add(eta, eta_m, "exact", l, v)
        for l, v in zip(lam_line, bound):
            add(eta, eta_m, "bound_T5.1", l, v)
        add(eta, eta_m, "sup_bound_eq31", np.nan, sup_bound)
        for l, v, s in zip(lam_mc, mc_mean, mc_se):
            add(eta, eta_m, "monte_carlo", l, v, s)
    ax.plot([], [], color="0.3", label="exact Gaussian closed form")
    ax.plot([], [], color="0.3", ls="none", marker="o", mfc="white",
            label=f"Monte Carlo ({n_samples:,} samples, ± 2 s.e.)")
    ax.plot([], [], color="0.3", ls="--", label="T-5.1 bound λ(1−λ)(s₀s₁/π)(sin θ − θ cos θ)")
    ax.plot([], [], color="0.3", ls=":", label="center-dominated bound on sup_λ (eq. 31)")
    ax.set_yscale("log")
    ax.set_xlabel("interpolation weight λ")
    ax.set_ylabel("Δ_φ(λ) / Σ_i ‖f_i‖²_Σ   [dimensionless]")
    ax.set_title("ReLU chord deviation in the center-dominated regime")
    fig.legend(fontsize="x-small", loc="outside right center", title="center dominance",
               title_fontsize="x-small")

    caption = (
        "Figure 2 (docs/theory.md §7, T-chord-exact, T-5.1 and eq. 31; [NI] Thm. 5.1). Chord deviation "
        "Δ_φ(λ) = E‖φ(x; W̃(λ)) − (1−λ)φ(x; W̃⁽⁰⁾) − λφ(x; W̃⁽¹⁾)‖² of a ReLU layer "
        f"(n = {n} neurons, d = {d} inputs, x ~ N(0, Σ) with a random Σ), normalized by Σ_i ‖f_i‖²_Σ, "
        "for two endpoints W̃⁽ᶜ⁾ = F + R⁽ᶜ⁾ whose trainable parts have ‖r_i⁽ᶜ⁾‖_Σ = η‖f_i‖_Σ exactly "
        "(center-dominance level η, checked with lmctheory.chord.center_dominance). Solid: exact Gaussian "
        "closed form (gaussian_relu_chord_deviation); circles: Monte Carlo (chord_deviation_mc, ± 2 "
        "standard errors); dashed: the per-neuron T-5.1 bound summed over neurons (relu_chord_bound, "
        "form='exact'); dotted: the center-dominated bound on sup_λ Δ_φ of eq. (31) "
        f"(center_dominated_chord_bound). Seed {ctx.seed}, mode {ctx.mode}."
    )
    return FigureOutput(fig, rows, caption, size="wide")
