"""Probabilistic statements of THEORY.md, checked statistically (§11): Gram concentration (T-4.4),
center gaps (T-4.6), reindexing visibility (T-4.8b).

Each configuration draws ``N`` independent instances from a fixed seed, counts violations ``V`` of the
bound at nominal failure probability ``δ`` and fails if ``P(Binom(N, δ) ≥ V) < 1e-6``. The observed
rate ``V/N`` is reported next to ``δ`` (``--theorem-report``). The closed forms are also compared with
THEORY.md transcribed independently (relative 1e-12).
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import checks
import strategies as S
from lmctheory import bounds
from lmctheory import gram
from lmctheory import subspace as sub
from lmctheory.synthetic import coherent_basis, random_basis

N_BASE = 300


def _n():
    return N_BASE * checks.stat_scale()


# ------------------------------------------------------------------------------------------ T-4.4

@pytest.mark.theorem("T-4.4")
@given(t=st.floats(0.0, 1.0), kf=st.floats(0.0, 1.0), delta=st.floats(1e-6, 0.99),
       p=S.keep_probs(), m=st.integers(0, 50), extra=st.integers(0, 50))
def test_T_4_4_bound_formulas(t, kf, delta, p, m, extra, theorem_report):
    """T-4.4: ``gram_concentration_bound``, ``fixed_count_gram_bound`` and ``mask_moments`` equal the
    THEORY.md forms (relative 1e-12) over consistent ``1 ≤ k ≤ d``, ``k/d ≤ ν ≤ 1``."""
    d = m + extra + 1
    k = 1 + int(kf * (d - 1))
    nu = k / d + t * (1 - k / d)
    e1 = checks.check_formula("T-4.4", bounds.mask_moments, checks.ref_mask_moments, [(p,)], rtol=1e-12)
    mu, var, dev = checks.ref_mask_moments(p)
    e2 = checks.check_formula("T-4.4", bounds.gram_concentration_bound, checks.ref_gram_concentration_bound,
                              [(nu, k, delta, var, dev)], rtol=1e-12)
    e3 = checks.check_formula("T-4.4", bounds.fixed_count_gram_bound, checks.ref_fixed_count_gram_bound,
                              [(nu, k, delta, m, d)], rtol=1e-12)
    theorem_report.error("T-4.4", max(e1, e2, e3), key="closed forms")


@pytest.mark.theorem("T-4.4")
@given(lay=S.layers(modes=("wasym", "sparse", "scaled")), mu=st.floats(0.0, 1.0))
def test_T_4_4_deviation_norms(lay, mu, theorem_report):
    """T-4.4 (the measured quantity): ``gram_deviation_norms(diag, basis, mu)`` equals
    ``‖S_i − μI‖₂`` from an explicit Gram build and ``eigvalsh`` (absolute 1e-10·max(1, ‖S‖))."""
    S_ = checks.ref_grams(lay.diag, lay.basis)
    lam = np.linalg.eigvalsh(S_)
    want = np.maximum(np.abs(lam[:, -1] - mu), np.abs(lam[:, 0] - mu))
    got = np.asarray(gram.gram_deviation_norms(lay.diag, lay.basis, mu))
    err = float(np.max(np.abs(got - want))) / max(1.0, float(np.max(np.abs(lam))))
    if err > 1e-10:
        checks.fail("T-4.4", f"gram_deviation_norms {got} ≠ ‖S_i − μI‖ {want}")
    theorem_report.error("T-4.4", err, key="deviation norms")


# (label, basis, keep_prob or None for the U(0.3,1) diagonal, delta)
def _iid_configs():
    return [
        ("Haar d=40 k=4, p=0.5", random_basis(40, 4, seed=1), 0.5, 0.05),
        ("Haar d=40 k=4, p=0.9", random_basis(40, 4, seed=2), 0.9, 0.05),
        ("coherent mix=0.1 d=30 k=3, p=0.7", coherent_basis(30, 3, 0.1, seed=3), 0.7, 0.1),
        ("coordinate d=10 k=1, p=0.5 (tight)", coherent_basis(10, 1, 0.0, seed=4), 0.5, 0.5),
        ("coordinate d=12 k=3, p=0.8", coherent_basis(12, 3, 0.0, seed=5), 0.8, 0.2),
        ("Haar d=30 k=5, D~U(0.3,1)", random_basis(30, 5, seed=6), None, 0.05),
    ]


@pytest.mark.theorem("T-4.4")
@pytest.mark.parametrize("cfg", range(6))
def test_T_4_4_iid_diagonal_concentration(cfg, theorem_report):
    """T-4.4 (i.i.d. entries): ``P(‖S_i − μI‖₂ > √(2σ_d²ν log(2k/δ)) + (2/3)bν log(2k/δ)) ≤ δ`` for binary
    masks (``μ = p``, ``σ_d² = p(1−p)``, ``b = max(p, 1−p)``) and ``d_ij ~ U(0.3, 1)``; incoherent and
    coherent bases (binomial test at 1e-6)."""
    label, U, p, delta = _iid_configs()[cfg]
    d, k = U.shape
    if p is not None:
        mu, var, dev = (float(x) for x in bounds.mask_moments(p))

        def sample(rng):
            return (rng.random(d) < p).astype(float)
    else:
        lo = 0.3
        mu = (1 - lo**3) / (3 * (1 - lo))
        var = (1 - lo**5) / (5 * (1 - lo)) - mu**2
        dev = max(mu - lo**2, 1 - mu)

        def sample(rng):
            return rng.uniform(lo, 1.0, d)

    rng = np.random.default_rng(1000 + cfg)
    v, n, worst = checks.check_gram_concentration(
        lambda nu, kk, dl: bounds.gram_concentration_bound(nu, kk, dl, var, dev), U, sample, mu, delta, _n(), rng)
    theorem_report.rate("T-4.4", v, n, delta, key=f"iid: {label}", worst_ratio=worst)


def _fixed_configs():
    return [
        ("Haar d=50 k=4 m=4", random_basis(50, 4, seed=11), 4, 0.05),
        ("Haar d=20 k=2 m=10", random_basis(20, 2, seed=12), 10, 0.1),
        ("coherent mix=0.02 d=16 k=2 m=2", coherent_basis(16, 2, 0.02, seed=13), 2, 0.3),
        ("coordinate d=8 k=1 m=4 (tight)", coherent_basis(8, 1, 0.0, seed=14), 4, 0.5),
    ]


@pytest.mark.theorem("T-4.4")
@pytest.mark.parametrize("cfg", range(4))
def test_T_4_4_fixed_count_masks(cfg, theorem_report):
    """T-4.4 (W-asymmetric fixed-count masks, sampling without replacement): with ``μ = 1 − m/d``,
    ``P(‖S_i − μI‖₂ > √(2(m/d)ν log(2k/δ)) + (2/3)ν log(2k/δ)) ≤ δ`` (binomial test at 1e-6)."""
    label, U, m, delta = _fixed_configs()[cfg]
    d, k = U.shape

    def sample(rng):
        row = np.ones(d)
        row[rng.choice(d, size=m, replace=False)] = 0.0
        return row

    rng = np.random.default_rng(2000 + cfg)
    v, n, worst = checks.check_gram_concentration(
        lambda nu, kk, dl: bounds.fixed_count_gram_bound(nu, kk, dl, m, d), U, sample, 1 - m / d, delta, _n(), rng)
    theorem_report.rate("T-4.4", v, n, delta, key=f"fixed-count: {label}", worst_ratio=worst)


# ------------------------------------------------------------------------------------------ T-4.6

@pytest.mark.theorem("T-4.6")
@given(k=st.integers(1, 8), n=st.integers(2, 40), sigma=st.floats(0.1, 10.0), delta=st.floats(1e-4, 0.9),
       t=st.floats(1e-3, 3.0), seed=S.seeds)
def test_T_4_6_formulas(k, n, sigma, delta, t, seed, theorem_report):
    """T-4.6 closed forms (relative 1e-10): ``ω_k = π^{k/2}/Γ(k/2+1)``, ``P ≤ Σ_{i<j} min(ρ_i,ρ_j)ω_k t^k``,
    ``t* = (δ'/(Σ min ρ · ω_k))^{1/k}``, syre density ``(2πσ_F²)^{−k/2}`` and ``t*`` for syre."""
    rng = np.random.default_rng(seed)
    rho = rng.uniform(0.01, 2.0, n)
    e = [
        checks.check_formula("T-4.6", bounds.unit_ball_volume, checks.ref_unit_ball_volume, [(k,)]),
        checks.check_formula("T-4.6", bounds.center_gap_probability_bound, checks.ref_center_gap_probability_bound, [(t, k, rho)]),
        checks.check_formula("T-4.6", bounds.center_gap_lower_bound, checks.ref_center_gap_lower_bound, [(delta, k, rho)]),
        checks.check_formula("T-4.6", lambda nn, kk, s: np.broadcast_to(np.asarray(bounds.syre_center_densities(nn, kk, s), float), (nn,)),
                             lambda nn, kk, s: np.full(nn, checks.ref_syre_density(kk, s)), [(n, k, sigma)]),
        checks.check_formula("T-4.6", bounds.syre_center_gap_lower_bound,
                             lambda nn, kk, s, dl: checks.ref_center_gap_lower_bound(dl, kk, np.full(nn, checks.ref_syre_density(kk, s))),
                             [(n, k, sigma, delta)]),
    ]
    # explicit pair sum (independent of the sorting trick in the reference)
    pair = sum(min(rho[i], rho[j]) for i in range(n) for j in range(i + 1, n)) * checks.ref_unit_ball_volume(k) * t**k
    got = float(bounds.center_gap_probability_bound(t, k, rho))
    if abs(got - pair) > 1e-10 * pair:
        checks.fail("T-4.6", f"probability bound {got} ≠ explicit pair sum {pair}")
    theorem_report.error("T-4.6", max(e), key="closed forms")


@pytest.mark.theorem("T-4.6")
@given(lay=S.layers(modes=("wasym",), d=st.integers(6, 12), k=st.integers(1, 3), fixed_per_row=st.integers(4, 6),
                    sigma_f=st.sampled_from([0.5, 2.0])))
def test_T_4_6_wasym_densities(lay, theorem_report):
    """T-4.6 (W-asymmetric): ``wasym_center_densities`` = ``(2πσ_F²)^{−k/2} det(T_i)^{−1/2}``,
    ``T_i = Uᵀ diag(1 − d_i) U`` (relative 1e-9) where all ``T_i`` are invertible."""
    sf = 1.3  # the densities depend on σ_F only through the prefactor
    T = np.einsum("nj,ja,jb->nab", 1 - lay.diag, lay.basis, lay.basis)
    lam = np.linalg.eigvalsh(T)
    if not np.all(lam[:, 0] > 1e-6):
        return
    e = checks.check_formula("T-4.6", bounds.wasym_center_densities, checks.ref_wasym_densities,
                             [(lay.diag, lay.basis, sf)], rtol=1e-9)
    theorem_report.error("T-4.6", e, key="wasym densities")


def _syre_configs():
    # (n, d, k, sigma_f, delta')
    return [(12, 6, 1, 1.0, 0.2), (20, 10, 2, 0.5, 0.1), (30, 12, 3, 2.0, 0.05), (8, 5, 1, 3.0, 0.5)]


@pytest.mark.theorem("T-4.6")
@pytest.mark.parametrize("cfg", range(4))
def test_T_4_6_syre_center_gap(cfg, theorem_report):
    """T-4.6 (syre): ``F`` i.i.d. ``N(0, σ_F²)``, ``v_i = Uᵀf_i``; ``P(δ_min < t*) ≤ δ'`` with
    ``t* = syre_center_gap_lower_bound(n, k, σ_F, δ')`` (binomial test at 1e-6)."""
    n, d, k, sf, delta = _syre_configs()[cfg]
    U = random_basis(d, k, seed=cfg)
    t_star = float(bounds.syre_center_gap_lower_bound(n, k, sf, delta))

    def sample(rng):
        return (sf * rng.standard_normal((n, d))) @ U

    rng = np.random.default_rng(3000 + cfg)
    v, N, worst = checks.check_center_gap_probability(t_star, sample, delta, 2 * _n(), rng)
    theorem_report.rate("T-4.6", v, N, delta, key=f"syre n={n} k={k}")  # t*/δ_min is unbounded: rate only


@pytest.mark.theorem("T-4.6")
@pytest.mark.parametrize("cfg", range(2))
def test_T_4_6_wasym_center_gap(cfg, theorem_report):
    """T-4.6 (W-asymmetric, conditioned on the mask): ``v_i ~ N(0, σ_F² T_i)``; ``P(δ_min < t*) ≤ δ'`` with
    ``t* = center_gap_lower_bound(δ', k, wasym_center_densities(D, U, σ_F))`` (binomial test at 1e-6)."""
    n, d, k, m, sf, delta = [(10, 8, 1, 4, 1.0, 0.3), (15, 12, 2, 6, 0.7, 0.1)][cfg]
    rng = np.random.default_rng(4000 + cfg)
    U = random_basis(d, k, seed=40 + cfg)
    D = np.ones((n, d))
    for i in range(n):
        D[i, rng.choice(d, m, replace=False)] = 0.0
    rho = np.asarray(bounds.wasym_center_densities(D, U, sf))
    t_star = float(bounds.center_gap_lower_bound(delta, k, rho))

    def sample(r):
        return (sf * r.standard_normal((n, d)) * (1 - D)) @ U

    v, N, worst = checks.check_center_gap_probability(t_star, sample, delta, 2 * _n(), rng)
    theorem_report.rate("T-4.6", v, N, delta, key=f"wasym n={n} k={k} m={m}")


@pytest.mark.theorem("T-4.6")
@given(c=st.integers(2, 7).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, 4), S.seeds)))
def test_T_4_6_gap_helpers(c, theorem_report):
    """§4 helpers behind T-4.6/T-C.5: ``pairwise_center_gaps``, ``min_center_gap``, ``closest_center_pair``
    and ``projected_centers`` agree with brute force (relative 1e-12)."""
    n, k, seed = c
    rng = np.random.default_rng(seed)
    d = k + 3
    U = random_basis(d, k, seed=seed)
    F = rng.standard_normal((n, d))
    V = np.asarray(sub.projected_centers(F, U))
    assert np.allclose(V, F @ U, rtol=1e-12, atol=1e-12), "projected_centers ≠ F U"
    G = np.sqrt(np.sum((V[:, None] - V[None]) ** 2, axis=2))
    got = np.asarray(sub.pairwise_center_gaps(V))
    if got.shape == G.shape:
        assert np.allclose(got, G, rtol=1e-12, atol=1e-12), "pairwise_center_gaps"
    else:  # condensed i<j form
        assert np.allclose(got, G[np.triu_indices(n, 1)], rtol=1e-12, atol=1e-12), "pairwise_center_gaps"
    dm = checks.min_gap(V)
    assert abs(float(sub.min_center_gap(V)) - dm) <= 1e-12 * max(1, dm), "min_center_gap"
    i, j = (int(x) for x in list(sub.closest_center_pair(V))[:2])
    assert i != j and abs(G[i, j] - dm) <= 1e-12 * max(1, dm), "closest_center_pair"
    theorem_report.error("T-4.6", 0.0, key="gap helpers")


# ------------------------------------------------------------------------------------------ T-4.8b

@pytest.mark.theorem("T-4.8b")
@given(n=st.integers(1, 500), d=st.integers(2, 200))
def test_T_4_8b_formula(n, d, theorem_report):
    """T-4.8b: ``reindexing_failure_probability(n, d) = (d(d−1)/2) e^{−n/16}`` and
    ``transposition_failure_probability(n) = e^{−n/16}`` (relative 1e-12)."""
    e = checks.check_formula("T-4.8b", bounds.reindexing_failure_probability, checks.ref_reindexing_failure_probability,
                             [(n, d)], rtol=1e-12)
    e = max(e, checks.check_formula("T-4.8b", bounds.transposition_failure_probability, lambda nn: math.exp(-nn / 16),
                                    [(n,)], rtol=1e-12))
    theorem_report.error("T-4.8b", e, key="closed form")


@pytest.mark.theorem("T-4.8b")
@pytest.mark.parametrize("n", [8, 16, 32])
def test_T_4_8b_single_pair_tail(n, theorem_report):
    """T-4.8b (one pair, Laurent–Massart): ``P(‖F_p − F_q‖² < nσ_F²) ≤ e^{−n/16}`` (d = 2, so the union
    bound is a single term; binomial test at 1e-6)."""
    delta = float(bounds.transposition_failure_probability(n))
    rng = np.random.default_rng(5000 + n)
    v, N, worst = checks.check_reindexing_probability(delta, n, 2, 1.3, 2 * _n(), rng)
    theorem_report.rate("T-4.8b", v, N, delta, key=f"one pair n={n}")


@pytest.mark.theorem("T-4.8b")
@pytest.mark.parametrize("cfg", range(2))
def test_T_4_8b_all_transpositions(cfg, theorem_report):
    """T-4.8b (all pairs): with probability ``≥ 1 − (d(d−1)/2)e^{−n/16}``, ``‖Δ^τ‖_F² ≥ nσ_F²‖u_p − u_q‖²``
    for every coordinate transposition, ``Δ^τ`` computed from its definition ``F U[τ] − F U``."""
    n, d, k = [(48, 4, 2), (64, 6, 3)][cfg]
    delta = float(bounds.reindexing_failure_probability(n, d))
    assert delta < 1
    U = coherent_basis(d, k, 0.3, seed=cfg)
    rng = np.random.default_rng(6000 + cfg)
    v, N, worst = checks.check_reindexing_probability(delta, n, d, 0.8, _n(), rng, basis=U)
    theorem_report.rate("T-4.8b", v, N, delta, key=f"all pairs n={n} d={d}")


@pytest.mark.theorem("T-4.4")
@given(U=S.bases(d=st.integers(1, 12)), seed=S.seeds)
def test_T_4_4_coherence_and_leverage(U, seed, theorem_report):
    """eq. 11 (the ν in T-4.4): ``leverage_scores`` are ``‖u_j‖²`` (1e-12), lie in [0, 1] and sum to ``k``;
    ``subspace_coherence = max_j ‖u_j‖²`` with ``k/d ≤ ν ≤ 1``, and it is basis-independent (``U Q``, Q orthogonal)."""
    d, k = U.shape
    lev = np.asarray(sub.leverage_scores(U))
    if not np.allclose(lev, np.sum(U * U, axis=1), rtol=0, atol=1e-12):
        checks.fail("T-4.4", "leverage_scores ≠ ‖u_j‖²")
    if abs(lev.sum() - k) > 1e-10 or lev.min() < -1e-12 or lev.max() > 1 + 1e-12:
        checks.fail("T-4.4", f"leverage scores must lie in [0,1] and sum to k={k}, got sum {lev.sum()}")
    nu = float(sub.subspace_coherence(U))
    Q = np.linalg.qr(np.random.default_rng(seed).standard_normal((k, k)))[0]
    nu2 = float(sub.subspace_coherence(U @ Q))
    if abs(nu - checks.ref_coherence(U)) > 1e-12 or abs(nu - nu2) > 1e-10 or not k / d - 1e-12 <= nu <= 1 + 1e-12:
        checks.fail("T-4.4", f"coherence {nu} (rotated basis {nu2}), max ‖u_j‖² = {checks.ref_coherence(U)}, k/d = {k / d}")
    theorem_report.error("T-4.4", abs(nu - nu2), key="coherence: max leverage, basis-independent")
