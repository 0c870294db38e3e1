"""Subspace basis, coherence (eq. 11), tail energy (T-E.1), projected centers and gaps (eq. 5, 17)."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from lmctheory.kernels.gaps import min_gap_sorted, pairwise_gaps
from lmctheory.subspace import (
    closest_center_pair,
    leverage_scores,
    min_center_gap,
    pairwise_center_gaps,
    projected_centers,
    subspace_basis,
    subspace_coherence,
    tail_energy,
)
from lmctheory.synthetic import coherent_basis, random_basis

from .naive import naive_min_gap, naive_pairwise_gaps


# ---------- gap kernels vs naive -------------------------------------------------------------

@st.composite
def point_sets(draw, max_k=14):
    n = draw(st.integers(2, 40))
    k = draw(st.integers(1, max_k))
    # a small integer grid makes duplicates and exact ties frequent
    grid = draw(st.booleans())
    if grid:
        X = draw(arrays(np.int64, (n, k), elements=st.integers(-2, 2))).astype(float)
    else:
        X = draw(arrays(np.float64, (n, k), elements=st.floats(-1e3, 1e3, allow_nan=False)))
    if draw(st.booleans()):  # force a duplicate pair
        i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        X[j] = X[i]
    return X


def _underflow_atol(X):
    """Gaps below ~1e-154·max|x| underflow when squared (documented in lmctheory.subspace)."""
    return 1e-150 * float(np.max(np.abs(X)))


@settings(max_examples=80, deadline=None)
@given(point_sets())
def test_pairwise_gaps_matches_naive(X):
    G = pairwise_center_gaps(X)
    np.testing.assert_allclose(G, naive_pairwise_gaps(X), rtol=1e-13, atol=_underflow_atol(X))
    assert np.array_equal(G, G.T) and np.all(np.diag(G) == 0)


@settings(max_examples=80, deadline=None)
@given(point_sets(), st.sampled_from(["auto", "kdtree", "sweep", "blocked"]))
def test_min_gap_all_methods_match_naive(X, method):
    m, pairs = naive_min_gap(X)
    i, j, g = closest_center_pair(X, method=method)
    g2 = min_center_gap(X, method=method)
    assert g == g2
    atol = _underflow_atol(X)
    np.testing.assert_allclose(g, m, rtol=1e-13, atol=atol)
    assert i < j
    # the returned pair attains the minimum (any of the tied pairs is acceptable)
    np.testing.assert_allclose(math.dist(X[i], X[j]), m, rtol=1e-13, atol=atol)
    Gn = naive_pairwise_gaps(X)
    if m == 0 and not np.any((Gn > 0) & (Gn <= atol)):  # no underflowing gap can be confused with 0
        assert g == 0.0 and (i, j) in pairs


@settings(max_examples=40, deadline=None)
@given(point_sets(max_k=6))
def test_sweep_kernel_with_bound(X):
    key = np.ascontiguousarray(X[:, 0])  # a coordinate: an exact 1-Lipschitz projection
    m, _ = naive_min_gap(X)
    # the raw kernel works on squared gaps; the public API rescales first (documented limit ~1e-154)
    assume(m == 0 or m > 1e-150)
    best2, i, j = min_gap_sorted(X, key, np.inf, 0.0)
    np.testing.assert_allclose(np.sqrt(best2), m, rtol=1e-13)
    # a valid (tight) bound still finds the pair
    best2b, ib, jb = min_gap_sorted(X, key, best2, 0.0)
    assert best2b == best2 and ib >= 0


def test_methods_agree_on_larger_inputs():
    X = np.random.default_rng(3).standard_normal((3000, 12))
    res = {m: closest_center_pair(X, method=m) for m in ["kdtree", "sweep", "blocked"]}
    assert res["kdtree"] == res["sweep"] == res["blocked"]
    G = pairwise_center_gaps(X)
    np.fill_diagonal(G, np.inf)
    assert res["kdtree"][2] == G.min()
    assert closest_center_pair(X)[2] == G.min()  # auto (blocked for k = 12)


def test_blocked_exact_under_cancellation():
    """Tiny gaps far from the origin / from each other: the GEMM form cancels, the refinement must not."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((400, 20))
    X = np.concatenate([1e6 + base, -1e6 + base * 1.0001])  # two far clusters, gaps O(1)
    X[17] = X[3] + 1e-9  # a gap far below the GEMM rounding of ‖x‖² ≈ 2e13
    for m in ["blocked", "sweep", "kdtree"]:
        i, j, g = closest_center_pair(X, method=m)
        assert (i, j) == (3, 17)
        np.testing.assert_allclose(g, np.linalg.norm(X[3] - X[17]), rtol=1e-6)
    with pytest.raises(ValueError, match="method"):
        min_center_gap(X, method="brute")


# ---------- subspace basis ----------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 3, 7])
def test_subspace_basis_recovers_planted(k):
    rng = np.random.default_rng(k)
    d, N = 30, 2000
    U = random_basis(d, k, seed=k)
    Z = rng.standard_normal((N, k)) * np.linspace(3, 1, k)
    X = Z @ U.T + 5.0 + 1e-3 * rng.standard_normal((N, d))  # offset: centering must remove it
    B, ratio = subspace_basis(X, 0.99)
    assert B.shape == (d, k)
    assert 0.99 <= ratio <= 1.0
    np.testing.assert_allclose(B.T @ B, np.eye(k), atol=1e-12)
    # principal angles: span(B) = span(U) up to the noise level
    s = np.linalg.svd(U.T @ B, compute_uv=False)
    assert s.min() > 1 - 1e-4


def test_subspace_basis_k_is_smallest():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 6)) * np.array([10, 5, 3, 1, 0.5, 0.1])
    Xc = X - X.mean(0)
    s = np.linalg.svd(Xc, compute_uv=False)
    cum = np.cumsum(s**2) / np.sum(s**2)
    for ev in [0.1, 0.5, 0.8, 0.95, 0.999, 1.0]:
        B, r = subspace_basis(X, ev)
        k = B.shape[1]
        assert r >= ev - 1e-12 and (k == 1 or cum[k - 2] < ev)
        np.testing.assert_allclose(r, cum[k - 1])


def test_subspace_basis_bad_input():
    X = np.random.default_rng(0).standard_normal((10, 4))
    for ev in [0.0, -0.1, 1.5, np.nan]:
        with pytest.raises(ValueError, match="explained_variance"):
            subspace_basis(X, ev)
    with pytest.raises(TypeError, match="explained_variance"):
        subspace_basis(X, "0.9")
    with pytest.raises(ValueError, match="X"):
        subspace_basis(X[:1])  # a single row
    with pytest.raises(ValueError, match="zero variance"):
        subspace_basis(np.ones((5, 3)))
    with pytest.raises(ValueError, match="X"):
        subspace_basis(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="X"):
        subspace_basis(np.zeros((0, 3)))
    with pytest.raises(TypeError, match="X"):
        subspace_basis([["a", "b"], ["c", "d"]])


# ---------- coherence, leverage, tail energy ---------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(st.integers(1, 25), st.data())
def test_coherence_bounds_and_invariance(d, data):
    k = data.draw(st.integers(1, d))
    mix = data.draw(st.sampled_from([0.0, 0.2, 1.0]))
    U = coherent_basis(d, k, mix, seed=data.draw(st.integers(0, 1000)))
    lev = leverage_scores(U)
    assert lev.shape == (d,)
    np.testing.assert_allclose(lev.sum(), k, rtol=1e-12)
    nu = subspace_coherence(U)
    assert k / d - 1e-12 <= nu <= 1 + 1e-12
    # basis independence: any rotation of the columns
    Q, _ = np.linalg.qr(np.random.default_rng(d).standard_normal((k, k)))
    np.testing.assert_allclose(subspace_coherence(U @ Q), nu, rtol=1e-10)
    np.testing.assert_allclose(nu, np.max(np.diag(U @ U.T)), rtol=1e-12)


def test_coherence_extremes():
    d, k = 12, 4
    assert subspace_coherence(np.eye(d)[:, :k]) == 1.0
    # a basis with all leverage scores equal (k/d): rows of a scaled Hadamard-like orthogonal matrix
    H = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2.0
    np.testing.assert_allclose(subspace_coherence(H[:, :2]), 0.5)


def test_tail_energy():
    rng = np.random.default_rng(1)
    d, k, N = 10, 3, 400
    U = random_basis(d, k, seed=2)
    X = rng.standard_normal((N, k)) @ U.T
    assert tail_energy(X, k) < 1e-20
    assert tail_energy(X, k - 1) > 0.1
    X2 = X + 0.1 * rng.standard_normal((N, d))
    Sig = X2.T @ X2 / N
    lam, Q = np.linalg.eigh(Sig)
    for r in range(d + 1):
        Ur = Q[:, ::-1][:, :r]
        direct = np.mean(np.sum((X2 - X2 @ Ur @ Ur.T) ** 2, axis=1))
        np.testing.assert_allclose(tail_energy(X2, r), direct, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(tail_energy(X2, r), lam[::-1][r:].sum(), rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="r"):
        tail_energy(X2, d + 1)
    with pytest.raises(ValueError, match="r"):
        tail_energy(X2, -1)
    with pytest.raises(TypeError, match="r"):
        tail_energy(X2, 1.5)


def test_projected_centers_and_bad_input():
    U = random_basis(8, 3, seed=0)
    F = np.random.default_rng(0).standard_normal((5, 8))
    np.testing.assert_allclose(projected_centers(F, U), F @ U)
    with pytest.raises(ValueError, match="fixed"):
        projected_centers(F[:, :7], U)
    with pytest.raises(ValueError, match="orthonormal"):
        projected_centers(F, 2 * U)
    with pytest.raises(ValueError, match="k <= d"):
        projected_centers(F, np.eye(8, 9))
    with pytest.raises(ValueError, match="basis"):
        leverage_scores(np.full((3, 2), np.inf))
    with pytest.raises(ValueError, match="centers"):
        min_center_gap(np.zeros((1, 3)))  # a single center: no pair
    with pytest.raises(ValueError, match="centers"):
        closest_center_pair(np.zeros((3,)))
    with pytest.raises(ValueError, match="centers"):
        pairwise_center_gaps(np.array([[0.0, np.nan]]))
    with pytest.raises(TypeError, match="centers"):
        min_center_gap(np.array([[1 + 1j, 0], [0, 0]]))


def test_kernel_direct_call_matches():
    X = np.random.default_rng(5).standard_normal((30, 4))
    out = np.empty((30, 30))
    pairwise_gaps(X, out)
    np.testing.assert_allclose(out, naive_pairwise_gaps(X), rtol=1e-13)


@pytest.mark.parametrize("scale", [1e-160, 1e160])
def test_gaps_extreme_scales(scale):
    """Squared gaps would under/overflow; the exact power-of-two rescaling keeps them accurate."""
    X = np.random.default_rng(0).standard_normal((300, 12))
    ref_i, ref_j, ref = closest_center_pair(X)
    for m in ["kdtree", "sweep", "blocked"]:
        i, j, g = closest_center_pair(X * scale, method=m)
        assert (i, j) == (ref_i, ref_j)
        np.testing.assert_allclose(g, ref * scale, rtol=1e-14)
    np.testing.assert_allclose(pairwise_center_gaps(X * scale), pairwise_center_gaps(X) * scale, rtol=1e-14)
    assert min_center_gap(np.zeros((4, 2))) == 0.0
    assert np.all(pairwise_center_gaps(np.zeros((3, 2))) == 0.0)


def test_kdtree_subsample_bound_path():
    """n above the subsample threshold: the bounded tree query still finds the exact closest pair."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6000, 3))
    X[4321] = X[17] + 1e-7  # planted closest pair, unlikely to be in the subsample
    assert closest_center_pair(X, method="kdtree") == closest_center_pair(X, method="blocked")
    assert closest_center_pair(X, method="kdtree")[:2] == (17, 4321)
    Xg = rng.integers(0, 3, (6000, 4)).astype(float)  # many duplicates
    assert min_center_gap(Xg, method="kdtree") == 0.0


def test_subspace_basis_full_variance_keeps_a_tiny_genuine_direction():
    # variances 18 : 2 : 2e-12 — the third direction is real, so explained_variance=1 needs k = 3
    X = np.array([[3, 0, 0], [-3, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1e-6], [0, 0, -1e-6]], float)
    basis, ratio = subspace_basis(X, explained_variance=1.0)
    assert basis.shape == (3, 3) and ratio == pytest.approx(1.0, abs=1e-15)
    basis, ratio = subspace_basis(X, explained_variance=0.9 + 5e-13)
    assert basis.shape[1] == 2 and ratio >= 0.9 + 5e-13
