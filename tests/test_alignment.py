"""Tests of lmctheory.alignment (docs/theory.md §10 "Alignment", "Linear CKA")."""

import itertools

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from lmctheory.alignment import (
    activation_correlation,
    activation_matching,
    linear_cka,
    orthogonal_procrustes,
    permute_mlp,
    weight_matching,
)


def _mlp(widths, seed, bias=True):
    rng = np.random.default_rng(seed)
    W = [rng.standard_normal((o, i)) / np.sqrt(i) for i, o in zip(widths[:-1], widths[1:])]
    b = [rng.standard_normal(o) for o in widths[1:]] if bias else None
    return W, b


def _forward(W, b, X):
    z = X
    for ell, Wl in enumerate(W):
        z = z @ Wl.T + (0.0 if b is None else b[ell])
        if ell < len(W) - 1:
            z = np.maximum(z, 0.0)
    return z


# ----- activation correlation / matching ------------------------------------------------------


def test_correlation_matches_corrcoef():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((50, 4)), rng.standard_normal((50, 6))
    C = activation_correlation(A, B)
    ref = np.corrcoef(A.T, B.T)[:4, 4:]
    assert C.shape == (4, 6)
    np.testing.assert_allclose(C, ref, atol=1e-12)
    np.testing.assert_allclose(activation_correlation(1e200 * A, 1e-200 * B), ref, atol=1e-12)


def test_constant_unit_has_zero_correlation():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((30, 3))
    A[:, 1] = 0.1  # mean subtraction leaves rounding residue: must still count as constant
    B = rng.standard_normal((30, 3))
    C = activation_correlation(A, B)
    assert np.all(C[1] == 0.0)
    assert np.all(np.isfinite(C))


def test_matching_recovers_planted_permutation():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((200, 12))
    perm_true = rng.permutation(12)
    B = np.empty_like(A)
    B[:, perm_true] = A + 0.1 * rng.standard_normal(A.shape)  # unit perm_true[i] of b is unit i of a
    res = activation_matching(A, B, n_random=50, seed=3)
    np.testing.assert_array_equal(res.perm, perm_true)
    np.testing.assert_allclose(B[:, res.perm], A, atol=1.0)
    assert res.objective_optimal > 11.0
    assert res.objective_optimal >= res.objective_identity
    assert res.objective_optimal > res.objective_random_mean + 3 * res.objective_random_std
    idx = np.arange(12)
    assert res.objective_optimal == pytest.approx(res.correlation[idx, res.perm].sum())
    assert res.objective_identity == pytest.approx(np.trace(res.correlation))


def test_matching_random_baseline_is_seeded():
    rng = np.random.default_rng(4)
    A, B = rng.standard_normal((40, 5)), rng.standard_normal((40, 5))
    r1 = activation_matching(A, B, seed=7)
    r2 = activation_matching(A, B, seed=7)
    r3 = activation_matching(A, B, seed=8)
    assert r1.objective_random_mean == r2.objective_random_mean
    assert r1.objective_random_mean != r3.objective_random_mean


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_matching_is_optimal_vs_brute_force(n, seed):
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((8, n)), rng.standard_normal((8, n))
    res = activation_matching(A, B, n_random=3, seed=0)
    C = res.correlation
    best = max(C[np.arange(n), list(p)].sum() for p in itertools.permutations(range(n)))
    assert res.objective_optimal == pytest.approx(best, abs=1e-12)
    assert sorted(res.perm.tolist()) == list(range(n))


# ----- weight matching / permute_mlp ----------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
def test_permute_mlp_preserves_function(bias):
    W, b = _mlp([5, 7, 6, 3], seed=5, bias=bias)
    rng = np.random.default_rng(6)
    perms = [rng.permutation(7), rng.permutation(6)]
    W2, b2 = permute_mlp(W, b, perms)
    X = rng.standard_normal((20, 5))
    np.testing.assert_allclose(_forward(W2, b2, X), _forward(W, b, X), atol=1e-12)
    # and it actually changed the weights
    assert not np.allclose(W2[0], W[0])
    assert (b2 is None) == (not bias)


@pytest.mark.parametrize("widths", [[6, 16, 3], [6, 16, 12, 10, 3]])
def test_weight_matching_recovers_planted_permutation(widths):
    Wa, ba = _mlp(widths, seed=11)
    rng = np.random.default_rng(12)
    q = [rng.permutation(w) for w in widths[1:-1]]
    Wb, bb = permute_mlp(Wa, ba, [np.argsort(p) for p in q])  # so that permute_mlp(b, q) == a
    Wb = [w + 0.01 * rng.standard_normal(w.shape) for w in Wb]
    perms = weight_matching(Wa, Wb, ba, bb, seed=0)
    for p, pt in zip(perms, q):
        np.testing.assert_array_equal(p, pt)
    Wm, bm = permute_mlp(Wb, bb, perms)
    for x, y in zip(Wm, Wa):
        np.testing.assert_allclose(x, y, atol=0.1)


def test_weight_matching_improves_objective_and_single_layer():
    Wa, _ = _mlp([4, 9, 8, 2], seed=20, bias=False)
    Wb, _ = _mlp([4, 9, 8, 2], seed=21, bias=False)
    perms = weight_matching(Wa, Wb, seed=1)

    def obj(Wx):
        return sum(np.sum(x * y) for x, y in zip(Wa, Wx))

    Wm, _ = permute_mlp(Wb, None, perms)
    assert obj(Wm) >= obj(Wb) - 1e-12
    assert weight_matching([Wa[0]], [Wb[0]]) == []


@settings(max_examples=15, deadline=None)
@given(h=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_weight_matching_one_hidden_layer_is_exact(h, seed):
    # one hidden layer: the objective is a single assignment problem, so coordinate descent is exact
    Wa, ba = _mlp([3, h, 2], seed=seed)
    Wb, bb = _mlp([3, h, 2], seed=seed + 1)
    (perm,) = weight_matching(Wa, Wb, ba, bb, seed=seed)

    def obj(p):
        Wm, bm = permute_mlp(Wb, bb, [np.array(p)])
        return sum(np.sum(x * y) for x, y in zip(Wa, Wm)) + sum(np.dot(x, y) for x, y in zip(ba, bm))

    best = max(obj(p) for p in itertools.permutations(range(h)))
    assert obj(perm) == pytest.approx(best, abs=1e-10)


def test_random_baseline_matches_direct_computation():
    rng = np.random.default_rng(9)
    A, B = rng.standard_normal((30, 6)), rng.standard_normal((30, 6))
    res = activation_matching(A, B, n_random=20, seed=5)
    g = np.random.default_rng(5)
    vals = [res.correlation[np.arange(6), g.permutation(6)].sum() for _ in range(20)]
    assert res.objective_random_mean == pytest.approx(np.mean(vals), abs=1e-12)
    assert res.objective_random_std == pytest.approx(np.std(vals), abs=1e-12)


def test_permute_mlp_does_not_mutate_inputs():
    W, b = _mlp([3, 4, 2], seed=3)
    W0, b0 = [w.copy() for w in W], [x.copy() for x in b]
    permute_mlp(W, b, [np.array([3, 2, 1, 0])])
    for x, y in zip(W + b, W0 + b0):
        np.testing.assert_array_equal(x, y)


# ----- Procrustes / CKA -----------------------------------------------------------------------


def test_procrustes_recovers_rotation_and_matches_scipy():
    rng = np.random.default_rng(30)
    A = rng.standard_normal((100, 6))
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    O = orthogonal_procrustes(A, A @ Q)
    np.testing.assert_allclose(O, Q, atol=1e-10)
    B = rng.standard_normal((100, 6))
    O2 = orthogonal_procrustes(A, B)
    ref, _ = scipy.linalg.orthogonal_procrustes(A, B)
    np.testing.assert_allclose(O2, ref, atol=1e-10)
    np.testing.assert_allclose(O2.T @ O2, np.eye(6), atol=1e-12)


def _cka_naive(X, Y):
    N = X.shape[0]
    H = np.eye(N) - np.ones((N, N)) / N
    K, Lm = X @ X.T, Y @ Y.T
    hsic = lambda P, Q: np.trace(P @ H @ Q @ H)  # noqa: E731
    return hsic(K, Lm) / np.sqrt(hsic(K, K) * hsic(Lm, Lm))


def test_cka_matches_hsic_form_and_invariances():
    rng = np.random.default_rng(40)
    X, Y = rng.standard_normal((30, 5)), rng.standard_normal((30, 3))
    assert linear_cka(X, Y) == pytest.approx(_cka_naive(X, Y), rel=1e-10)
    assert linear_cka(X, X) == pytest.approx(1.0)
    Q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    assert linear_cka(3.0 * X @ Q + 2.0, Y) == pytest.approx(linear_cka(X, Y), rel=1e-10)
    assert 0.0 <= linear_cka(X, Y) <= 1.0
    # huge magnitudes do not overflow
    assert linear_cka(1e200 * X, Y) == pytest.approx(linear_cka(X, Y), rel=1e-10)


# ----- bad input ------------------------------------------------------------------------------


def test_bad_inputs():
    rng = np.random.default_rng(50)
    A = rng.standard_normal((10, 3))
    bad = A.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="acts_a"):
        activation_correlation(bad, A)
    with pytest.raises(ValueError, match="rows"):
        activation_correlation(A, A[:5])
    with pytest.raises(ValueError, match="acts_a"):
        activation_correlation(A[:1], A[:1])
    with pytest.raises(TypeError, match="acts_b"):
        activation_correlation(A, "abc")
    with pytest.raises(ValueError, match="units"):
        activation_matching(A, rng.standard_normal((10, 4)))
    with pytest.raises(ValueError, match="n_random"):
        activation_matching(A, A, n_random=0)
    with pytest.raises(ValueError, match="seed"):
        activation_matching(A, A, seed=-1)
    with pytest.raises(ValueError, match="A"):
        orthogonal_procrustes(A, A[:, :2])
    with pytest.raises(ValueError, match="inf"):
        orthogonal_procrustes(A, np.full_like(A, np.inf))
    with pytest.raises(ValueError, match="constant"):
        linear_cka(np.ones((10, 2)), A)
    with pytest.raises(ValueError, match="X"):
        linear_cka(A[:1], A[:1])
    W, b = _mlp([4, 5, 2], seed=0)
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        permute_mlp([W[0], W[1][:, :3]], None, [np.arange(5)])
    with pytest.raises(ValueError, match="perms"):
        permute_mlp(W, b, [np.array([0, 0, 1, 2, 3])])
    with pytest.raises(ValueError, match="perms"):
        permute_mlp(W, b, [])
    with pytest.raises(TypeError, match="weights"):
        permute_mlp(W[0], None, [])
    with pytest.raises(ValueError, match=r"biases\[0\]"):
        permute_mlp(W, [b[0][:2], b[1]], [np.arange(5)])
    with pytest.raises(ValueError, match="weights_b"):
        weight_matching(W, [W[0][:4], W[1][:, :4]])
    with pytest.raises(ValueError, match="layers"):
        weight_matching(W, W[:1])
    with pytest.raises(ValueError, match="max_iter"):
        weight_matching(W, W, max_iter=0)
