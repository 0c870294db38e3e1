"""Tests of lmctheory.lewc (docs/theory.md §9: Def. 5.1, T-WA, Def. 5.2, LEWC, T-5.3)."""

import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmctheory.lewc import (
    LEWC_RTOL,
    gaussian_weak_additivity_cosine,
    lewc_cosine,
    lewc_error_recursion,
    merge_weights,
    mlp_forward,
    reciprocal_orthogonality,
    weak_additivity_cosine,
    weak_additivity_cosine_mc,
)
from lmctheory.kernels.montecarlo import ZIG, wa_cosine_mc
from tests.naive import naive_wa_cosines


def _mlp(widths, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return [scale * rng.standard_normal((o, i)) * np.sqrt(2.0 / i) for i, o in zip(widths[:-1], widths[1:])]


def relu(z):
    return np.maximum(z, 0.0)


# ----- weak additivity --------------------------------------------------------------------------


def test_wa_cosine_direct_and_rows():
    rng = np.random.default_rng(0)
    U, V = rng.standard_normal((2, 5, 30))
    got = weak_additivity_cosine(U, V)
    assert got.shape == (5,)
    for r in range(5):
        a, b = relu(U[r] + V[r]), relu(U[r]) + relu(V[r])
        assert got[r] == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b), rel=1e-13)
        assert weak_additivity_cosine(U[r], V[r]) == pytest.approx(got[r], rel=1e-15)
    assert np.all((got >= 0) & (got <= 1))
    # non-negative vectors are exactly additive; u = v by positive homogeneity
    assert weak_additivity_cosine(np.abs(U[0]), np.abs(V[0])) == pytest.approx(1.0)
    assert weak_additivity_cosine(U[0], U[0]) == pytest.approx(1.0)
    # undefined (zero side) -> NaN, documented
    assert math.isnan(weak_additivity_cosine(-np.ones(3), -np.ones(3)))
    assert math.isnan(weak_additivity_cosine(np.array([1.0, -1.0]), np.array([-2.0, 0.5])))


def test_gaussian_wa_closed_form_and_special_cases():
    g = gaussian_weak_additivity_cosine()
    assert g == pytest.approx((0.75 + 1 / math.pi) / math.sqrt(1 + 1 / math.pi), rel=1e-14)
    assert 0.93044 < g < 0.93045
    assert gaussian_weak_additivity_cosine(2.0, 2.0, 0.0) == pytest.approx(g, rel=1e-14)  # scale-free
    assert gaussian_weak_additivity_cosine(1.0, 3.0, 1.0) == pytest.approx(1.0, rel=1e-12)  # U, V ∝ same ξ
    # symmetric in (u, v)
    assert gaussian_weak_additivity_cosine(1.0, 4.0, -0.3) == pytest.approx(
        gaussian_weak_additivity_cosine(4.0, 1.0, -0.3), rel=1e-13
    )


@pytest.mark.parametrize("vu,vv,rho", [(1.0, 1.0, 0.0), (0.5, 2.0, 0.4), (1.0, 3.0, -0.6)])
def test_gaussian_wa_matches_large_sample_moments(vu, vv, rho):
    # the limit is a ratio of population moments: estimate them from one long vector
    rng = np.random.default_rng(1)
    xi, eta = rng.standard_normal((2, 2_000_000))
    u = math.sqrt(vu) * xi
    v = math.sqrt(vv) * (rho * xi + math.sqrt(1 - rho**2) * eta)
    est = weak_additivity_cosine(u, v)
    assert est == pytest.approx(gaussian_weak_additivity_cosine(vu, vv, rho), abs=2e-3)


@pytest.mark.parametrize("vu,vv,rho", [(1.0, 1.0, 0.0), (0.5, 2.0, 0.4)])
def test_wa_mc_converges_to_gaussian_limit(vu, vv, rho):
    mc = weak_additivity_cosine_mc(2000, n_vectors=400, var_u=vu, var_v=vv, corr=rho, seed=3)
    limit = gaussian_weak_additivity_cosine(vu, vv, rho)
    # O(1/dim) bias of the ratio estimator plus sampling noise
    assert abs(mc.mean - limit) < 5 * mc.stderr + 2.0 / 2000
    assert mc.std < 0.05  # fluctuations O(1/√dim)
    assert mc.n_samples == 400
    assert mc.stderr == pytest.approx(mc.std / math.sqrt(400))


def test_wa_kernel_matches_naive_on_same_stream():
    a, b, c = 1.0, math.sqrt(2) * 0.3, math.sqrt(2) * math.sqrt(1 - 0.09)
    for dim, nv, block in [(20, 7, 3), (1, 40, 16), (300, 3, 1)]:
        out = np.empty(nv)
        wa_cosine_mc(dim, a, b, c, block, 4, *ZIG, out)
        ref = naive_wa_cosines(dim, nv, a, b, c, block, 4, ZIG)
        np.testing.assert_allclose(out, ref, rtol=1e-12)
        np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
        if dim == 1:
            assert np.any(np.isnan(out))  # a zero side is likely in 1-D: reported as NaN


def test_wa_mc_reproducible_and_thread_independent():
    n_threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = weak_additivity_cosine_mc(300, n_vectors=500, seed=9)
        numba.set_num_threads(n_threads)
        b = weak_additivity_cosine_mc(300, n_vectors=500, seed=9)
    finally:
        numba.set_num_threads(n_threads)
    assert a == b
    assert weak_additivity_cosine_mc(300, n_vectors=500, seed=10).mean != a.mean


# ----- MLP, merge, RO, LEWC ---------------------------------------------------------------------


def test_mlp_forward_and_merge():
    W = _mlp([4, 6, 5, 3], seed=0)
    X = np.random.default_rng(1).standard_normal((7, 4))
    zs = mlp_forward(W, X)
    assert [z.shape for z in zs] == [(7, 4), (7, 6), (7, 5), (7, 3)]
    for r, x in enumerate(X):
        h = x
        for ell, Wl in enumerate(W):
            h = Wl @ h if ell == len(W) - 1 else relu(Wl @ h)
            np.testing.assert_allclose(zs[ell + 1][r], h, rtol=1e-13, atol=1e-14)
    assert np.any(zs[-1] < 0)  # logits are linear
    Wb = _mlp([4, 6, 5, 3], seed=2)
    M = merge_weights(W, Wb, 0.3)
    for m, a, b in zip(M, W, Wb):
        np.testing.assert_allclose(m, 0.7 * a + 0.3 * b)  # θ(λ) = (1−λ)θ_a + λθ_b
    np.testing.assert_array_equal(merge_weights(W, Wb, 0.0)[0], W[0])


def test_reciprocal_orthogonality():
    Wa, Wb = _mlp([5, 8, 8, 2], seed=3), _mlp([5, 8, 8, 2], seed=4)
    X = np.random.default_rng(5).standard_normal((40, 5))
    ro = reciprocal_orthogonality(Wa, Wb, X)
    assert ro.shape == (3,)
    assert ro[0] == pytest.approx(1.0)
    za, zb = mlp_forward(Wa, X), mlp_forward(Wb, X)
    for ell in range(3):
        ref = np.mean(np.linalg.norm(zb[ell] @ Wa[ell].T, axis=1)) / np.mean(np.linalg.norm(za[ell] @ Wa[ell].T, axis=1))
        assert ro[ell] == pytest.approx(ref, rel=1e-13)
    np.testing.assert_allclose(reciprocal_orthogonality(Wa, Wa, X), 1.0)
    # b's hidden representation in the null space of a's next layer: RO_2 = 0
    Wb2 = [w.copy() for w in Wb]
    Wa2 = [w.copy() for w in Wa]
    Wa2[1][:, 4:] = 0.0  # a ignores units 4..7 of its first hidden layer
    Wb2[0][:4] = 0.0  # b's units 0..3 are silent: z_1^b lies in the null space of W_2^a
    assert reciprocal_orthogonality(Wa2, Wb2, X)[1] == pytest.approx(0.0, abs=1e-15)


def test_lewc_cosine():
    Wa, Wb = _mlp([5, 10, 10, 3], seed=6), _mlp([5, 10, 10, 3], seed=7)
    X = np.random.default_rng(8).standard_normal((30, 5))
    c = lewc_cosine(Wa, Wb, X, lam=0.4)
    assert c.shape == (3,)
    zm = mlp_forward(merge_weights(Wa, Wb, 0.4), X)
    za, zb = mlp_forward(Wa, X), mlp_forward(Wb, X)
    for ell in range(1, 4):
        t = 0.6**ell * za[ell] + 0.4**ell * zb[ell]
        cos = np.sum(zm[ell] * t, 1) / np.linalg.norm(zm[ell], axis=1) / np.linalg.norm(t, axis=1)
        assert c[ell - 1] == pytest.approx(np.nanmean(cos), rel=1e-12)
    np.testing.assert_allclose(lewc_cosine(Wa, Wb, X, lam=1.0), 1.0)
    np.testing.assert_allclose(lewc_cosine(Wa, Wb, X, lam=0.0), 1.0)
    np.testing.assert_allclose(lewc_cosine(Wa, Wa, X, lam=0.5), 1.0)  # identical models: exact
    assert c[0] < 1.0 - 1e-6  # two different models are not exactly LEWC


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    depth=st.integers(1, 4),
    width=st.integers(1, 12),
    lam=st.floats(0, 1),
    scale=st.sampled_from([1e-3, 1.0, 1e3]),
)
def test_lewc_recursion_holds_on_random_networks(seed, depth, width, lam, scale):
    widths = [3] + [width] * (depth - 1) + [2]
    Wa, Wb = _mlp(widths, seed, scale), _mlp(widths, seed + 1, scale)
    X = np.random.default_rng(seed).standard_normal((10, 3))
    r = lewc_error_recursion(Wa, Wb, X, lam)
    L = depth
    assert r.error.shape == r.bound.shape == r.bound_one_step.shape == (L, 10)
    assert r.n_violations == 0 and r.n_violations_one_step == 0
    if L >= 2:
        np.testing.assert_allclose(r.error[0], r.bound[0], rtol=1e-9, atol=1e-12 * scale)  # ℓ = 1 exact
        zs = mlp_forward(Wa, X)
        assert np.all(r.logit_identity_residual <= 1e-10 * (1 + np.linalg.norm(zs[-1], axis=1)) * max(1.0, scale**L))
    else:
        assert np.all(r.bound == 0)
        assert np.all(r.error <= 1e-12 * scale * np.linalg.norm(X, axis=1))


def test_lewc_recursion_bites():
    # dropping either term of the recursion makes it fail somewhere: the check can fail
    Wa, Wb = _mlp([4, 16, 16, 16, 3], 20), _mlp([4, 16, 16, 16, 3], 21)
    X = np.random.default_rng(22).standard_normal((50, 4))
    r = lewc_error_recursion(Wa, Wb, X, 0.5)
    assert r.n_violations == 0
    no_cross = r.wa_term[1:] + r.op_norm[1:, None] * r.error[:-1]
    assert np.any(r.error[1:] > no_cross * (1 + 1e-6))
    assert np.all(r.error[0] > 1e-6)  # ℓ = 1: the bound is the weak-additivity term alone
    # the exact logit identity e_L = c_L + W_L^λ e_{L−1} fails with a flipped sign of c_L
    za, zb, zm = mlp_forward(Wa, X), mlp_forward(Wb, X), mlp_forward(merge_weights(Wa, Wb, 0.5), X)
    Wl = 0.5 * (Wa[3] + Wb[3])
    e3 = zm[3] - 0.125 * za[3] - 0.125 * zb[3]
    e4 = zm[4] - 0.0625 * za[4] - 0.0625 * zb[4]
    cL = 0.0625 * (zb[3] @ Wa[3].T + za[3] @ Wb[3].T)  # λ(1−λ)^{L−1} = (1−λ)λ^{L−1} = 1/16
    assert np.allclose(e4, cL + e3 @ Wl.T, atol=1e-12)
    assert not np.allclose(e4, -cL + e3 @ Wl.T, atol=1e-3)
    assert np.max(r.logit_identity_residual) < 1e-12
    # and λ^ℓ replaced by λ (no exponential weighting) changes the error: LEWC is about λ^ℓ
    wrong = np.linalg.norm(zm[2] - 0.5 * za[2] - 0.5 * zb[2], axis=1)
    assert np.max(np.abs(wrong - r.error[1])) > 1e-3
    assert LEWC_RTOL < 1e-6


# ----- bad input -------------------------------------------------------------------------------


def test_bad_inputs():
    W = _mlp([3, 4, 2], 0)
    X = np.ones((5, 3))
    with pytest.raises(ValueError, match="v"):
        weak_additivity_cosine(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="u"):
        weak_additivity_cosine(np.ones((2, 2, 2)), np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        weak_additivity_cosine(np.array([np.nan, 1.0]), np.ones(2))
    with pytest.raises(ValueError, match="var_u"):
        gaussian_weak_additivity_cosine(0.0, 1.0)
    with pytest.raises(ValueError, match="var_v"):
        gaussian_weak_additivity_cosine(1.0, -1.0)
    with pytest.raises(ValueError, match="corr"):
        gaussian_weak_additivity_cosine(1.0, 1.0, 1.2)
    with pytest.raises(ValueError, match="corr"):
        gaussian_weak_additivity_cosine(1.0, 1.0, -1.0)
    with pytest.raises(ValueError, match="var_u"):
        gaussian_weak_additivity_cosine(np.inf)
    with pytest.raises(TypeError, match="dim"):
        weak_additivity_cosine_mc(10.5)
    with pytest.raises(ValueError, match="n_vectors"):
        weak_additivity_cosine_mc(10, n_vectors=1)
    with pytest.raises(ValueError, match="corr"):
        weak_additivity_cosine_mc(10, corr=np.nan)
    with pytest.raises(ValueError, match="X"):
        mlp_forward(W, np.ones((5, 4)))
    with pytest.raises(TypeError, match="weights"):
        mlp_forward(W[0], X)
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        mlp_forward([W[0], W[1][:, :3]], X)
    with pytest.raises(ValueError, match="lam"):
        merge_weights(W, W, 1.1)
    with pytest.raises(ValueError, match="layers"):
        reciprocal_orthogonality(W, W[:1], X)
    with pytest.raises(ValueError, match=r"weights_b\[0\]"):
        lewc_cosine(W, [W[0][:3], W[1][:, :3]], X)
    with pytest.raises(ValueError, match="lam"):
        lewc_error_recursion(W, W, X, lam=-0.1)
    with pytest.raises(ValueError, match="lam"):
        lewc_cosine(W, W, X, lam=np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="inf"):
        lewc_error_recursion(W, W, np.full((2, 3), np.inf))


def test_weak_additivity_is_scale_invariant_at_extreme_magnitudes():
    """Found by an audit: tiny inputs underflowed to NaN, extreme variances raised or returned NaN."""
    from lmctheory.lewc import gaussian_weak_additivity_cosine as g, weak_additivity_cosine as wa

    rng = np.random.default_rng(0)
    u, v = rng.standard_normal((2, 50))
    ref = wa(u, v)
    for scale in (1e-170, 1e-300, 1e90):
        assert wa(scale * u, scale * v) == pytest.approx(ref, rel=1e-14)
    assert g(1e-300, 1e-300, 0.0) == pytest.approx(g(), rel=1e-14)
    assert g(1e300, 1e300, 0.2) == pytest.approx(g(1.0, 1.0, 0.2), rel=1e-14)
    # near corr = −1 the value is defined unless the variances are exactly equal at corr = −1
    # corr = −1, unequal variances: U + V = (1 − √v)ξ, so WA = √v / √(1 + v) exactly
    assert g(1.0, 1.0000001, -1.0) == pytest.approx(math.sqrt(1.0000001) / math.sqrt(2.0000001), rel=1e-8)
    assert g(1.0, 1.0, -1.0 + 1e-15) == pytest.approx(g(1.0, 1.0, -1.0 + 1e-12), abs=1e-5)
    with pytest.raises(ValueError, match="0/0"):
        g(2.0, 2.0, -1.0)
