"""Probability bounds: T-4.4 (Gram concentration), T-4.6 (center gaps), T-4.8b (reindexing)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.special import gamma

from lmctheory.bounds import (
    center_gap_lower_bound,
    center_gap_probability_bound,
    fixed_count_gram_bound,
    gram_concentration_bound,
    mask_moments,
    reindexing_failure_probability,
    syre_center_densities,
    syre_center_gap_lower_bound,
    transposition_failure_probability,
    unit_ball_volume,
    wasym_center_densities,
)
from lmctheory.synthetic import random_basis

from .naive import naive_pair_min_sum


def test_mask_moments():
    for p in [0.0, 0.3, 0.5, 0.9, 1.0]:
        mu, var, dev = mask_moments(p)
        s = np.array([0.0, 1.0])
        w = np.array([1 - p, p])
        assert mu == pytest.approx(w @ s) and var == pytest.approx(w @ (s - mu) ** 2)
        assert dev == max(p, 1 - p) and dev >= np.max(np.abs(s - mu)[w > 0])  # b bounds |s − μ|
        if 0 < p < 1:
            assert dev == pytest.approx(np.max(np.abs(s - mu)))  # and is attained
    for bad in [-0.1, 1.1, np.nan]:
        with pytest.raises(ValueError, match="keep_prob"):
            mask_moments(bad)


def test_gram_bound_closed_form_and_monotone():
    L = math.log(2 * 5 / 0.1)
    assert gram_concentration_bound(0.3, 5, 0.1, 0.25, 0.5) == pytest.approx(
        math.sqrt(2 * 0.25 * 0.3 * L) + (2 / 3) * 0.5 * 0.3 * L)
    assert fixed_count_gram_bound(0.3, 5, 0.1, 4, 40) == pytest.approx(
        math.sqrt(2 * 0.1 * 0.3 * L) + (2 / 3) * 0.3 * L)
    nus = [0.01, 0.1, 0.5, 1.0]
    assert np.all(np.diff([gram_concentration_bound(v, 5, 0.1, 0.2, 0.6) for v in nus]) > 0)
    deltas = [0.5, 0.1, 1e-3, 1e-9]
    assert np.all(np.diff([gram_concentration_bound(0.2, 5, dl, 0.2, 0.6) for dl in deltas]) > 0)
    assert np.all(np.diff([gram_concentration_bound(0.2, k, 0.1, 0.2, 0.6) for k in [1, 2, 10]]) > 0)
    assert np.all(np.diff([fixed_count_gram_bound(0.2, 3, 0.1, m, 50) for m in [0, 1, 10, 50]]) > 0)


def test_gram_bound_bad_input():
    with pytest.raises(ValueError, match="coherence"):
        gram_concentration_bound(0.0, 3, 0.1, 0.1, 0.1)
    with pytest.raises(ValueError, match="coherence"):
        gram_concentration_bound(1.5, 3, 0.1, 0.1, 0.1)
    with pytest.raises(ValueError, match="delta"):
        gram_concentration_bound(0.5, 3, 1.0, 0.1, 0.1)
    with pytest.raises(ValueError, match="var"):
        gram_concentration_bound(0.5, 3, 0.1, -0.1, 0.1)
    with pytest.raises(ValueError, match="k"):
        gram_concentration_bound(0.5, 0, 0.1, 0.1, 0.1)
    with pytest.raises(ValueError, match="m"):
        fixed_count_gram_bound(0.5, 3, 0.1, 11, 10)
    with pytest.raises(ValueError, match="k"):
        fixed_count_gram_bound(0.5, 11, 0.1, 1, 10)
    with pytest.raises(TypeError, match="k"):
        gram_concentration_bound(0.5, 3.0, 0.1, 0.1, 0.1)


def test_gram_bound_holds_empirically_binary_mask():
    """T-4.4 at δ = 0.05 on i.i.d. masks: violations are not implausibly many (§11 binomial test)."""
    from scipy.stats import binom

    from lmctheory.gram import gram_deviation_norms

    d, k, N, delta, p = 200, 6, 300, 0.05, 0.7
    U = random_basis(d, k, seed=0)
    nu = float(np.max(np.sum(U ** 2, axis=1)))
    mu, var, dev = mask_moments(p)
    bound = gram_concentration_bound(nu, k, delta, var, dev)
    D = (np.random.default_rng(1).random((N, d)) < p).astype(float)
    viol = int(np.sum(gram_deviation_norms(D, U, mu) > bound))
    assert binom.sf(viol - 1, N, delta) >= 1e-6
    # the bite: a bound 20x too small is violated far too often
    viol_wrong = int(np.sum(gram_deviation_norms(D, U, mu) > bound / 20))
    assert binom.sf(viol_wrong - 1, N, delta) < 1e-6


def test_unit_ball_volume():
    assert unit_ball_volume(1) == pytest.approx(2.0)
    assert unit_ball_volume(2) == pytest.approx(math.pi)
    assert unit_ball_volume(3) == pytest.approx(4 * math.pi / 3)
    for k in [4, 7, 20]:
        assert unit_ball_volume(k) == pytest.approx(math.pi ** (k / 2) / gamma(k / 2 + 1))
    assert unit_ball_volume(5000) == 0.0  # underflows; the log form does not
    assert unit_ball_volume(5000, log=True) == pytest.approx(
        2500 * math.log(math.pi) - math.lgamma(2501))
    with pytest.raises(ValueError, match="k"):
        unit_ball_volume(0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e3, allow_nan=False), min_size=2, max_size=12),
       st.integers(1, 10), st.floats(1e-3, 2.0))
def test_center_gap_probability_vs_direct(rho, k, t):
    direct = naive_pair_min_sum(rho) * unit_ball_volume(k) * t ** k
    got = center_gap_probability_bound(t, k, rho)
    np.testing.assert_allclose(got, direct, rtol=1e-10, atol=1e-300)
    lg = center_gap_probability_bound(t, k, np.log(np.maximum(rho, 1e-300)), log_densities=True)
    if min(rho) > 1e-300:
        np.testing.assert_allclose(lg, direct, rtol=1e-10)
    # monotone in t and in each density
    assert center_gap_probability_bound(t * 1.5, k, rho) >= got
    assert center_gap_probability_bound(t, k, np.asarray(rho) * 2) >= got
    if got > 0:
        ts = center_gap_lower_bound(0.05, k, rho)
        np.testing.assert_allclose(center_gap_probability_bound(ts, k, rho), 0.05, rtol=1e-9)


def test_center_gap_edge_cases():
    assert center_gap_probability_bound(0.0, 3, [1.0, 2.0]) == 0.0
    assert center_gap_probability_bound(1.0, 3, [0.0, 0.0]) == 0.0
    assert center_gap_lower_bound(0.1, 3, [0.0, 5.0]) == np.inf
    # one density infinite: still a finite bound (only pairs whose min is infinite matter)
    assert np.isfinite(center_gap_probability_bound(1.0, 2, [np.inf, 1.0, 2.0]))
    assert center_gap_probability_bound(1.0, 2, [np.inf, np.inf, 2.0]) == np.inf
    assert center_gap_lower_bound(0.1, 2, [np.inf, np.inf]) == 0.0
    # huge k: raw bound (not clipped) and log-space t*
    lr = syre_center_densities(50, 400, 0.01, log=True)
    assert np.isinf(syre_center_densities(50, 400, 0.01)).all()
    ts = center_gap_lower_bound(0.1, 400, lr, log_densities=True)
    np.testing.assert_allclose(ts, syre_center_gap_lower_bound(50, 400, 0.01, 0.1), rtol=1e-10)
    assert center_gap_probability_bound(100.0, 3, [1.0, 1.0]) > 1  # raw, may exceed 1
    for bad, exc in [([1.0], ValueError), ([1.0, np.nan], ValueError), ([-1.0, 1.0], ValueError),
                     ([[1.0, 2.0]], ValueError), (["a", "b"], TypeError)]:
        with pytest.raises(exc, match="densities"):
            center_gap_probability_bound(1.0, 2, bad)
    with pytest.raises(ValueError, match="t"):
        center_gap_probability_bound(-1.0, 2, [1.0, 1.0])
    with pytest.raises(ValueError, match="delta"):
        center_gap_lower_bound(0.0, 2, [1.0, 1.0])


@pytest.mark.parametrize("n,k,s", [(10, 1, 1.0), (100, 8, 0.3), (1000, 3, 5.0)])
def test_syre_closed_form(n, k, s):
    rho = syre_center_densities(n, k, s)
    np.testing.assert_allclose(rho, (2 * math.pi * s * s) ** (-k / 2), rtol=1e-13)
    ts = syre_center_gap_lower_bound(n, k, s, 0.1)
    np.testing.assert_allclose(ts, center_gap_lower_bound(0.1, k, rho), rtol=1e-11)
    np.testing.assert_allclose(ts, s * math.sqrt(2 * math.pi) * (0.2 / (n * (n - 1) * unit_ball_volume(k))) ** (1 / k),
                               rtol=1e-12)
    # rate: t* ∝ (n(n−1))^{−1/k}
    np.testing.assert_allclose(syre_center_gap_lower_bound(2 * n, k, s, 0.1) / ts,
                               (n * (n - 1) / (2 * n * (2 * n - 1))) ** (1 / k), rtol=1e-12)
    with pytest.raises(ValueError, match="n"):
        syre_center_gap_lower_bound(1, k, s, 0.1)
    with pytest.raises(ValueError, match="sigma_f"):
        syre_center_densities(n, k, 0.0)


def test_syre_gap_bound_holds_empirically():
    """T-4.6 at δ' = 0.1 for N(0, σ²I_k) centers: P(δ_min < t*) ≤ 0.1 (binomial test, §11)."""
    from scipy.stats import binom

    from lmctheory.subspace import min_center_gap

    n, k, s, delta, N = 60, 3, 2.0, 0.1, 300
    ts = syre_center_gap_lower_bound(n, k, s, delta)
    rng = np.random.default_rng(0)
    gaps = np.array([min_center_gap(s * rng.standard_normal((n, k))) for _ in range(N)])
    viol = int(np.sum(gaps < ts))
    assert binom.sf(viol - 1, N, delta) >= 1e-6
    viol_wrong = int(np.sum(gaps < 4 * ts))  # t* too large by 4x: caught
    assert binom.sf(viol_wrong - 1, N, delta) < 1e-6


def test_wasym_densities():
    d, k, n, s = 40, 3, 6, 1.5
    U = random_basis(d, k, seed=0)
    rng = np.random.default_rng(0)
    D = np.ones((n, d))
    for i in range(n):
        D[i, rng.choice(d, 12, replace=False)] = 0.0
    D[0] = 1.0  # no fixed entries: T_0 = 0, no density
    rho = wasym_center_densities(D, U, s)
    assert rho[0] == np.inf
    for i in range(1, n):
        T = U.T @ np.diag(1 - D[i]) @ U
        np.testing.assert_allclose(rho[i], (2 * math.pi * s * s) ** (-k / 2) / math.sqrt(np.linalg.det(T)),
                                   rtol=1e-10)
    np.testing.assert_allclose(wasym_center_densities(D, U, s, log=True)[1:], np.log(rho[1:]), rtol=1e-12)
    # all entries fixed: T = I, density equals the syre one
    np.testing.assert_allclose(wasym_center_densities(np.zeros((2, d)), U, s), syre_center_densities(2, k, s))
    with pytest.raises(ValueError, match="binary"):
        wasym_center_densities(D * 0.5, U, s)
    with pytest.raises(ValueError, match="diag"):
        wasym_center_densities(D[:, :5], U, s)
    with pytest.raises(ValueError, match="sigma_f"):
        wasym_center_densities(D, U, -1.0)


def test_reindexing_failure_probability():
    for n, d in [(16, 2), (100, 10), (1000, 500)]:
        np.testing.assert_allclose(reindexing_failure_probability(n, d), d * (d - 1) / 2 * math.exp(-n / 16),
                                   rtol=1e-12)
        assert transposition_failure_probability(n) == pytest.approx(math.exp(-n / 16))
    assert reindexing_failure_probability(10, 1) == 0.0
    assert reindexing_failure_probability(1, 100) > 1  # raw union bound
    assert reindexing_failure_probability(200, 10) < reindexing_failure_probability(100, 10)
    with pytest.raises(ValueError, match="n"):
        reindexing_failure_probability(0, 3)
    with pytest.raises(ValueError, match="d"):
        reindexing_failure_probability(3, 0)


def test_reindexing_single_pair_empirical():
    """P(‖F_p − F_q‖² < nσ²) ≤ e^{−n/16} for Gaussian F (T-4.8b), and the bite."""
    from scipy.stats import binom

    n, s, N = 16, 1.3, 4000
    rng = np.random.default_rng(0)
    diff = s * (rng.standard_normal((N, n)) - rng.standard_normal((N, n)))
    rate = transposition_failure_probability(n)
    viol = int(np.sum(np.sum(diff ** 2, axis=1) < n * s * s))
    assert binom.sf(viol - 1, N, rate) >= 1e-6
    viol_wrong = int(np.sum(np.sum(diff ** 2, axis=1) < 2 * n * s * s))  # threshold doubled: caught
    assert binom.sf(viol_wrong - 1, N, rate) < 1e-6


def test_fixed_count_gram_bound_empirical():
    """T-4.4, fixed-count masks (m zeros per row, without replacement): binomial test and the bite."""
    from scipy.stats import binom

    from lmctheory.gram import gram_deviation_norms
    from lmctheory.synthetic import coherent_basis

    d, k, m, N, delta = 120, 5, 30, 300, 0.05
    U = coherent_basis(d, k, 0.5, seed=3)
    nu = float(np.max(np.sum(U ** 2, axis=1)))
    rng = np.random.default_rng(2)
    D = np.ones((N, d))
    for i in range(N):
        D[i, rng.choice(d, m, replace=False)] = 0.0
    dev = gram_deviation_norms(D, U, 1 - m / d)
    bound = fixed_count_gram_bound(nu, k, delta, m, d)
    assert binom.sf(int(np.sum(dev > bound)) - 1, N, delta) >= 1e-6
    assert binom.sf(int(np.sum(dev > bound / 20)) - 1, N, delta) < 1e-6
