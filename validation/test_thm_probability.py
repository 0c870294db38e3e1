"""Probabilistic statements of docs/theory.md, checked statistically (§11): Gram concentration (T-4.4),
center gaps (T-4.6), reindexing visibility (T-4.8b).

Each configuration draws ``N`` independent instances from a fixed seed, counts violations ``V`` of the
bound at nominal failure probability ``δ`` and fails if ``P(Binom(N, δ) ≥ V) < 1e-6``. The observed
rate ``V/N`` is reported next to ``δ`` (``--theorem-report``). The closed forms are also compared with
docs/theory.md transcribed independently (relative 1e-12).
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
    docs/theory.md forms (relative 1e-12) over consistent ``1 ≤ k ≤ d``, ``k/d ≤ ν ≤ 1``."""
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
    theorem_report.rate("T-4.6", v, N, delta, key=f"syre n={n} k={k}", genuine=n >= 4)  # t*/δ_min is unbounded: rate only


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
    theorem_report.rate("T-4.6", v, N, delta, key=f"wasym n={n} k={k} m={m}", genuine=n >= 4)


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


# ------------------------------------------------------------------------------------------ T-4.4, exact routes

DELTAS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99)


def _enum_configs():
    # (label, basis, keep_prob or None, n_fixed or None)
    return [
        ("coordinate d=10 k=1, p=0.5", coherent_basis(10, 1, 0.0, seed=4), 0.5, None),
        ("coordinate d=12 k=3, p=0.8", coherent_basis(12, 3, 0.0, seed=5), 0.8, None),
        ("coherent mix=0.1 d=12 k=3, p=0.7", coherent_basis(12, 3, 0.1, seed=3), 0.7, None),
        ("Haar d=12 k=2, p=0.5", random_basis(12, 2, seed=1), 0.5, None),
        ("fixed-count coordinate d=8 k=1 m=4", coherent_basis(8, 1, 0.0, seed=14), None, 4),
        ("fixed-count Haar d=12 k=2 m=6", random_basis(12, 2, seed=12), None, 6),
    ]


@pytest.mark.theorem("T-4.4")
@pytest.mark.parametrize("cfg", range(6))
def test_T_4_4_exact_tail_by_enumeration(cfg, theorem_report):
    """T-4.4 without statistics: every mask row of a ``d ≤ 12`` layer is enumerated with its probability, so
    ``E[S_i] = μI`` is checked exactly (1e-12) and, for δ ∈ {0.01 … 0.99}, the exact
    ``P(‖S_i − μI‖₂ > bound(δ)) ≤ δ``. The report shows the worst ``q(δ)/bound(δ)`` (``q`` the exact
    ``(1−δ)``-quantile): above ½ means a bound off by 2 fails."""
    label, U, p, m = _enum_configs()[cfg]
    d = U.shape[0]
    if p is not None:
        rows, probs = checks.enumerate_masks(d, keep_prob=p)
        mu, var, dev = (float(x) for x in bounds.mask_moments(p))

        def bound_of(nu, k, dl):
            return bounds.gram_concentration_bound(nu, k, dl, var, dev)
    else:
        rows, probs = checks.enumerate_masks(d, n_fixed=m)
        mu = 1 - m / d

        def bound_of(nu, k, dl):
            return bounds.fixed_count_gram_bound(nu, k, dl, m, d)
    r = checks.check_gram_exact_tail(bound_of, U, rows, probs, mu, DELTAS)
    # genuine: a basis that is not coordinate-aligned (Haar or mixed), k ≥ 2
    theorem_report.ratio("T-4.4", r, key=f"exact tail q(δ)/bound, δ∈[0.01,0.99]: {label}",
                         genuine="coordinate" not in label and U.shape[1] >= 2)


@pytest.mark.theorem("T-4.4")
@given(U=S.bases(d=st.integers(1, 12)), p=st.floats(0.01, 0.99))
def test_T_4_4_proof_ingredients(U, p, theorem_report):
    """T-4.4 proof, exactly: ``mask_moments(p)`` equals the moments of ``s = d²`` under the two-point law (1e-12);
    ``max_j ‖(s − μ)u_ju_jᵀ‖ ≤ bν`` and ``‖Σ_j σ_d²‖u_j‖²u_ju_jᵀ‖ ≤ σ_d²ν`` (both equalities for a coordinate
    basis, since ``b = max(p, 1−p)`` is the exact sup of ``|s − μ|``)."""
    e = checks.check_mask_moments(bounds.mask_moments, p)
    mu, var, dev = (float(x) for x in bounds.mask_moments(p))
    rs, rv = checks.check_bernstein_ingredients(U, mu, var, dev, [0.0, 1.0], [1 - p, p])
    theorem_report.error("T-4.4", e, key="mask moments vs two-point law")
    theorem_report.ratio("T-4.4", rs, key="proof: max summand norm / bν", statement=False)
    theorem_report.ratio("T-4.4", rv, key="proof: variance proxy / σ²ν", statement=False)


@pytest.mark.theorem("T-4.4")
@given(nu=st.floats(1e-3, 1.0), k=st.integers(1, 64), delta=st.floats(1e-8, 0.999), p=S.keep_probs())
def test_T_4_4_closed_form_vs_bernstein_root(nu, k, delta, p, theorem_report):
    """T-4.4 closed form derived independently: the root ``t_B`` of matrix Bernstein's tail
    ``2k·exp(−(t²/2)/(σ_d²ν + bνt/3)) = δ`` (bracketing on the tail itself) satisfies
    ``t_B ≤ gram_concentration_bound ≤ t_B + bνL/3`` (relative 1e-12); same for the fixed-count form with
    ``σ² = m/d``, ``b = 1``."""
    mu, var, dev = (float(x) for x in bounds.mask_moments(p))
    r = checks.check_bernstein_closed_form(bounds.gram_concentration_bound, nu, k, delta, var, dev)
    m, d = 3, k + 10
    r2 = checks.check_bernstein_closed_form(
        lambda nu_, k_, dl, v_, b_: bounds.fixed_count_gram_bound(nu_, k_, dl, m, d), nu, k, delta, m / d, 1.0)
    theorem_report.ratio("T-4.4", max(r, r2), key="closed form / Bernstein root (∈ [1, 2))", statement=False)


@pytest.mark.theorem("T-4.4")
def test_T_4_4_tail_curve_one_sample_set(theorem_report):
    """T-4.4 statistically, tail curve: one set of 2000 i.i.d. mask rows (Haar d=40 k=4, p=0.5), the bound at
    δ ∈ {0.01 … 0.99}, binomial test per δ at 1e-6/9 (Bonferroni)."""
    U = random_basis(40, 4, seed=1)
    mu, var, dev = (float(x) for x in bounds.mask_moments(0.5))
    out = checks.check_gram_tail_curve(lambda nu, k, dl: bounds.gram_concentration_bound(nu, k, dl, var, dev), U,
                                       lambda r: (r.random(40) < 0.5).astype(float), mu, DELTAS, 2000 * checks.stat_scale(),
                                       np.random.default_rng(7))
    theorem_report.ratio("T-4.4", max(q for _, q in out), key="tail curve: empirical q(δ)/bound (Haar d=40 k=4 p=0.5)",
                         genuine=True)


# ------------------------------------------------------------------------------------------ T-4.6, independent routes

@pytest.mark.theorem("T-4.6")
@given(k=st.integers(1, 8), n=st.integers(2, 12), sigma=st.floats(0.1, 10.0), seed=S.seeds)
def test_T_4_6_densities_and_volume_independent(k, n, sigma, seed, theorem_report):
    """T-4.6 closed forms derived independently: ``unit_ball_volume(k)`` equals the volume by slice quadrature
    ``ω_k = ∫ω_{k−1}(1 − x²)^{(k−1)/2}dx`` (1e-10); ``syre_center_densities`` and ``wasym_center_densities`` equal
    the maximum of the ``N(0, σ_F²I)`` / ``N(0, σ_F²T_i)`` density from ``scipy.stats.multivariate_normal`` (1e-10)."""
    wq = checks.quad_unit_ball_volume(k)
    got = float(bounds.unit_ball_volume(k))
    if abs(got - wq) > 1e-10 * wq:
        checks.fail("T-4.6", f"unit_ball_volume({k}) = {got}, slice quadrature {wq}")
    e1 = checks.check_density_bounds("T-4.6", bounds.syre_center_densities(n, k, sigma), [sigma**2 * np.eye(k)] * n)
    rng = np.random.default_rng(seed)
    d = k + 4
    U = random_basis(d, k, seed=seed)
    D = np.ones((n, d))
    for i in range(n):
        D[i, rng.choice(d, k + 2, replace=False)] = 0.0
    T = np.einsum("nj,ja,jb->nab", 1 - D, U, U)
    if np.all(np.linalg.eigvalsh(T)[:, 0] > 1e-6):
        e1 = max(e1, checks.check_density_bounds("T-4.6", bounds.wasym_center_densities(D, U, sigma), sigma**2 * T))
    theorem_report.error("T-4.6", max(e1, abs(got - wq) / wq), key="ω_k by quadrature, densities by scipy")


@pytest.mark.theorem("T-4.6")
@pytest.mark.parametrize("cfg", range(3))
def test_T_4_6_syre_k1_high_count(cfg, theorem_report):
    """T-4.6 (syre, k = 1) with many instances (vectorized): the union bound is nearly sharp for small δ', where
    the min-density form is loose only by ``2^{k/2} = √2`` (the density of ``v_i − v_j`` is ``ρ/√2``); a density
    bound off by 2 would show a rate ≈ 1.4δ'. Binomial test at 1e-6; the report shows rate/δ'."""
    n, d, delta, N = [(12, 6, 0.05, 40_000), (30, 8, 0.1, 20_000), (6, 4, 0.02, 60_000)][cfg]
    U = random_basis(d, 1, seed=cfg)
    t_star = float(bounds.syre_center_gap_lower_bound(n, 1, 1.0, delta))
    v, N, r = checks.check_center_gap_rate(t_star, lambda rng, m: rng.standard_normal((m, n, d)) @ U, delta,
                                           N * checks.stat_scale(), np.random.default_rng(3100 + cfg))
    theorem_report.rate("T-4.6", v, N, delta, key=f"syre k=1 n={n}: rate/δ'", worst_ratio=r)


def _wasym_pairwise_configs():
    # (n, d, k, m fixed per row, σ_F, δ', N)
    return [(30, 10, 1, 5, 1.0, 0.2, 20_000), (40, 12, 1, 6, 0.7, 0.1, 20_000), (30, 12, 2, 6, 1.0, 0.05, 20_000),
            (50, 16, 2, 8, 1.5, 0.1, 10_000)]


@pytest.mark.theorem("T-4.6")
@pytest.mark.parametrize("cfg", range(4))
def test_T_4_6_wasym_pairwise_form(cfg, theorem_report):
    """T-4.6, W-asymmetric at larger ``n`` with binary masks: ``v_i ~ N(0, σ_F²T_i)``; both the min-density form
    (``center_gap_lower_bound`` with ``wasym_center_densities``) and the sharper pairwise form
    ``P(δ_min < t) ≤ Σ_{i<j}(2πσ_F²)^{−k/2}det(T_i+T_j)^{−1/2}ω_k t^k`` (densities of ``v_i − v_j`` from scipy,
    ``ω_k`` by quadrature; ``t`` set so that the right side is δ') hold (binomial test at 1e-6)."""
    n, d, k, m, sf, delta, N = _wasym_pairwise_configs()[cfg]
    rng = np.random.default_rng(4100 + cfg)
    U = random_basis(d, k, seed=41 + cfg)
    D = np.ones((n, d))
    for i in range(n):
        D[i, rng.choice(d, m, replace=False)] = 0.0
    if not np.all(np.isin(D, (0.0, 1.0))):
        checks.fail("T-4.6", "W-asymmetric masks must be binary")
    covs = sf**2 * np.einsum("nj,ja,jb->nab", 1 - D, U, U)
    t_min = float(bounds.center_gap_lower_bound(delta, k, np.asarray(bounds.wasym_center_densities(D, U, sf))))
    t_pair = (delta / checks.ref_pairwise_gap_probability_bound(1.0, k, covs)) ** (1.0 / k)
    if t_pair < t_min * (1 - 1e-9):
        checks.fail("T-4.6", f"pairwise threshold {t_pair} below the min-density one {t_min}: the pairwise form must be sharper")
    Lc = np.linalg.cholesky(covs)  # v_i = L_i g

    def sample(r, mm):
        return np.einsum("nab,mnb->mna", Lc, r.standard_normal((mm, n, k)))

    N = N * checks.stat_scale()
    v1, _, r1 = checks.check_center_gap_rate(t_min, sample, delta, N, rng)
    v2, _, r2 = checks.check_center_gap_rate(t_pair, sample, delta, N, rng)
    theorem_report.rate("T-4.6", v1, N, delta, key=f"wasym n={n} k={k} m={m}: min-density form", worst_ratio=r1,
                        genuine=n >= 4)
    theorem_report.rate("T-4.6", v2, N, delta, key=f"wasym n={n} k={k} m={m}: pairwise form", worst_ratio=r2,
                        genuine=n >= 4)


# ------------------------------------------------------------------------------------------ T-4.8b, exact law

@pytest.mark.theorem("T-4.8b")
def test_T_4_8b_exact_chi2_tail(theorem_report):
    """T-4.8b against the exact law: ``P(χ²_n < n/2)`` (scipy's incomplete gamma, log scale) is at most
    ``transposition_failure_probability(n) = e^{−n/16}`` for every n = 1..4000. The report shows the worst
    exact/bound ratio (0.554 at n = 1: a bound off by 2 fails; ``e^{−n/8}`` fails from n = 73)."""
    r, n = checks.check_chi2_tail_bound(bounds.transposition_failure_probability)
    theorem_report.ratio("T-4.8b", r, key=f"exact P(χ²_n < n/2) / e^(−n/16), n ≤ 4000 (worst at n={n})")
    # genuine: width n ≥ 4
    r4, n4 = checks.check_chi2_tail_bound(bounds.transposition_failure_probability, n_min=4)
    theorem_report.ratio("T-4.8b", r4, key=f"exact P(χ²_n < n/2) / e^(−n/16), 4 ≤ n ≤ 4000 (worst at n={n4})",
                         genuine=True)


@pytest.mark.theorem("T-4.8b")
@pytest.mark.parametrize("n", [8, 16, 32])
def test_T_4_8b_chi2_law_two_sided(n, theorem_report):
    """T-4.8b, the distributional step: ``‖F_p − F_q‖²/(2σ_F²) ~ χ²_n`` (KS test, p ≥ 1e-6, 20 000 draws) and the
    event frequency equals the exact ``P(χ²_n < n/2)`` (0.143, 0.051, 0.008) two-sided (exact binomial, p ≥ 1e-6)."""
    freq, p = checks.check_chi2_law(n, 1.3, 20_000 * checks.stat_scale(), np.random.default_rng(5100 + n))
    theorem_report.rate("T-4.8b", round(freq * 20_000 * checks.stat_scale()), 20_000 * checks.stat_scale(), p,
                        key=f"one pair n={n}: frequency vs exact χ² probability")
