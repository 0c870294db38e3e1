"""Probabilistic statements of THEORY.md (§11 statistics): Gram concentration (T-4.4), center gaps (T-4.6),
reindexing visibility (T-4.8b). Mirrors ``validation/test_thm_probability.py``."""

from __future__ import annotations

import math

import numpy as np

from .common import check_probabilistic
from .costs import ref_coherence
from .sensitivity import reindexed


def ref_gram_concentration_bound(coherence, k, delta, var, dev):
    """T-4.4: ``√(2σ_d²ν log(2k/δ)) + (2/3) b ν log(2k/δ)``."""
    L = math.log(2 * k / delta)
    return math.sqrt(2 * var * coherence * L) + (2.0 / 3.0) * dev * coherence * L


def ref_fixed_count_gram_bound(coherence, k, delta, m, d):
    """T-4.4, fixed-count masks: ``√(2(m/d)ν log(2k/δ)) + (2/3) ν log(2k/δ)``."""
    L = math.log(2 * k / delta)
    return math.sqrt(2 * (m / d) * coherence * L) + (2.0 / 3.0) * coherence * L


def ref_mask_moments(p):
    """Binary mask with keep probability ``p``: ``(μ, σ_d², b) = (p, p(1−p), max(p, 1−p))``."""
    return (p, p * (1 - p), max(p, 1 - p))


def check_gram_concentration(bound_of, basis, sample_diag_row, mu, delta, trials, rng):
    """T-4.4 statistically: ``trials`` independent rows ``d_i`` from ``sample_diag_row(rng)``;
    violation when ``‖S_i − μI‖₂ > bound_of(ν, k, δ)``; binomial test at 1e-6 (§11).
    Returns ``(violations, trials, worst ratio)``."""
    U = np.asarray(basis, float)
    k = U.shape[1]
    nu = ref_coherence(U)
    rhs = float(bound_of(nu, k, delta))

    def draw(_):
        drow = sample_diag_row(rng)
        S = (U.T * (drow * drow)) @ U
        lam = np.linalg.eigvalsh(S)
        return max(abs(lam[-1] - mu), abs(lam[0] - mu)), rhs

    return check_probabilistic("T-4.4", draw, trials, delta)


def ref_unit_ball_volume(k):
    return math.pi ** (k / 2) / math.gamma(k / 2 + 1)


def ref_center_gap_probability_bound(t, k, densities):
    """T-4.6: ``Σ_{i<j} min(ρ_i, ρ_j) ω_k t^k``."""
    rho = np.sort(np.asarray(densities, float))
    n = rho.size
    # for sorted ρ, min(ρ_i, ρ_j) over pairs = Σ_i ρ_(i) (n − 1 − i)
    s = float(np.sum(rho * (n - 1 - np.arange(n))))
    return s * ref_unit_ball_volume(k) * t**k


def ref_center_gap_lower_bound(delta, k, densities):
    """T-4.6: ``t* = (δ' / (Σ_{i<j} min(ρ_i,ρ_j) ω_k))^{1/k}``."""
    s = ref_center_gap_probability_bound(1.0, k, densities)
    return (delta / s) ** (1.0 / k)


def ref_syre_density(k, sigma_f):
    return (2 * math.pi * sigma_f**2) ** (-k / 2)


def ref_wasym_densities(diag, basis, sigma_f):
    """``ρ_i = (2πσ_F²)^{−k/2} det(T_i)^{−1/2}``, ``T_i = Uᵀ diag(1 − d_i) U``."""
    D = np.asarray(diag, float)
    U = np.asarray(basis, float)
    k = U.shape[1]
    T = np.einsum("nj,ja,jb->nab", 1.0 - D, U, U)
    det = np.linalg.det(T)
    return (2 * math.pi * sigma_f**2) ** (-k / 2) * det ** (-0.5)


def min_gap(centers):
    c = np.asarray(centers, float)
    n = c.shape[0]
    g = np.sqrt(np.sum((c[:, None] - c[None]) ** 2, axis=2))
    return float(np.min(g[~np.eye(n, dtype=bool)]))


def check_center_gap_probability(t_star, sample_centers, delta, trials, rng):
    """T-4.6 statistically: ``P(δ_min < t*) ≤ δ'``; ``sample_centers(rng)`` draws one instance of
    ``v_1..v_n`` from the model whose densities produced ``t_star``. Binomial test (§11).
    Returns ``(violations, trials, worst ratio t*/δ_min)``."""
    def draw(_):
        return t_star, min_gap(sample_centers(rng))  # violation iff δ_min < t*

    return check_probabilistic("T-4.6", draw, trials, delta)


def ref_reindexing_failure_probability(n, d):
    """T-4.8b: ``(d(d−1)/2) e^{−n/16}``."""
    return d * (d - 1) / 2 * math.exp(-n / 16)


def check_reindexing_probability(fail_prob, n, d, sigma_f, trials, rng, basis=None):
    """T-4.8b statistically: ``F`` with i.i.d. ``N(0, σ_F²)`` entries; the event "some pair
    ``(p, q)`` has ``‖Δ^τ‖_F² < nσ_F²‖u_p − u_q‖²``" (computed from ``Δ^τ`` itself when ``basis`` is
    given, else from ``‖F_p − F_q‖² < nσ_F²``) must have frequency ``≤ fail_prob`` (binomial test).
    Returns ``(violations, trials, worst ratio)``."""
    U = None if basis is None else np.asarray(basis, float)
    iu = np.triu_indices(d, 1)

    def draw(_):
        F = sigma_f * rng.standard_normal((n, d))
        col = np.sum((F[:, :, None] - F[:, None, :]) ** 2, axis=0)[iu]
        if U is None:
            lhs = float(np.max(n * sigma_f**2 / col))
        else:
            upq = np.sum((U[:, None, :] - U[None, :, :]) ** 2, axis=2)[iu]
            fro = []
            for p, q in zip(*iu):
                perm = np.arange(d)
                perm[p], perm[q] = q, p
                fro.append(np.sum((F @ reindexed(U, perm) - F @ U) ** 2))
            fro = np.array(fro)
            ok = upq > 1e-12
            lhs = float(np.max(n * sigma_f**2 * upq[ok] / fro[ok])) if ok.any() else 0.0
        return lhs, 1.0  # violation iff n σ² ‖u_p − u_q‖² > ‖Δ^τ‖²

    return check_probabilistic("T-4.8b", draw, trials, min(fail_prob, 1.0))
