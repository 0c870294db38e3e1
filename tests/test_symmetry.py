"""Tests of lmctheory.symmetry (docs/theory.md §10, T-S1–T-S4)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmctheory.symmetry import (
    attention_scores,
    centering_matrix,
    layernorm,
    permute_hidden,
    random_orthogonal,
    rmsnorm,
    split_relu_unit,
    transform_attention,
)


def _block(seed, d=4, h=6, o=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((h, d)), rng.standard_normal(h), rng.standard_normal((o, h)), rng.standard_normal((20, d))


def _net(W1, b1, W2, X, act=lambda z: np.maximum(z, 0.0)):
    return act(X @ W1.T + (0.0 if b1 is None else b1)) @ W2.T


@pytest.mark.parametrize("act", [lambda z: np.maximum(z, 0.0), np.tanh, lambda z: z**3])
def test_permutation_symmetry(act):
    W1, b1, W2, X = _block(0)
    perm = np.random.default_rng(1).permutation(6)
    P1, pb, P2 = permute_hidden(W1, b1, W2, perm)
    np.testing.assert_allclose(_net(P1, pb, P2, X, act), _net(W1, b1, W2, X, act), atol=1e-12)
    np.testing.assert_array_equal(P1[0], W1[perm[0]])
    # bites: permuting only the incoming side changes the function
    assert not np.allclose(_net(P1, pb, W2, X, act), _net(W1, b1, W2, X, act))
    assert permute_hidden(W1, None, W2, perm)[1] is None


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), unit=st.integers(0, 5), alpha=st.floats(0, 1))
def test_semi_permutation_split(seed, unit, alpha):
    W1, b1, W2, X = _block(seed)
    S1, sb, S2 = split_relu_unit(W1, b1, W2, unit, alpha)
    assert S1.shape == (7, 4) and sb.shape == (7,) and S2.shape == (3, 7)
    np.testing.assert_allclose(_net(S1, sb, S2, X), _net(W1, b1, W2, X), atol=1e-11)
    np.testing.assert_allclose(S1[unit] + S1[6], W1[unit], atol=1e-14)


def test_split_needs_relu():
    # the split is a ReLU (positively homogeneous) symmetry: it fails for tanh
    W1, b1, W2, X = _block(3)
    S1, sb, S2 = split_relu_unit(W1, b1, W2, 2, 0.3)
    assert not np.allclose(_net(S1, sb, S2, X, np.tanh), _net(W1, b1, W2, X, np.tanh), atol=1e-3)
    S1, sb, S2 = split_relu_unit(W1, None, W2, 2, 0.3)
    assert sb is None
    np.testing.assert_allclose(_net(S1, None, S2, X), _net(W1, None, W2, X), atol=1e-12)


def test_rmsnorm_orthogonal_equivariance():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 8))
    O = random_orthogonal(8, seed=5)
    np.testing.assert_allclose(O @ O.T, np.eye(8), atol=1e-13)
    np.testing.assert_allclose(rmsnorm(x @ O.T), rmsnorm(x) @ O.T, atol=1e-13)
    np.testing.assert_allclose(np.mean(rmsnorm(x) ** 2, axis=-1), 1.0)
    np.testing.assert_allclose(rmsnorm(1e300 * x), rmsnorm(x), rtol=1e-13)
    np.testing.assert_allclose(rmsnorm(x[0]), x[0] / np.sqrt(np.mean(x[0] ** 2)))


def test_layernorm_is_rmsnorm_of_centered():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 7))
    M = centering_matrix(7)
    np.testing.assert_allclose(M @ M, M, atol=1e-15)
    np.testing.assert_allclose(M @ np.ones(7), 0.0, atol=1e-15)
    ref = (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)
    np.testing.assert_allclose(layernorm(x), ref, atol=1e-13)
    np.testing.assert_allclose(layernorm(x), rmsnorm(x @ M.T), atol=1e-13)
    g, b = rng.standard_normal(7), rng.standard_normal(7)
    np.testing.assert_allclose(layernorm(x, g, b), g * ref + b, atol=1e-13)


def test_layernorm_symmetry_needs_ones_fixing_orthogonals():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 9))
    O = random_orthogonal(9, seed=8, fix_ones=True)
    np.testing.assert_allclose(O @ O.T, np.eye(9), atol=1e-13)
    np.testing.assert_allclose(O @ np.ones(9), np.ones(9), atol=1e-13)
    M = centering_matrix(9)
    np.testing.assert_allclose(O @ M, M @ O, atol=1e-13)
    np.testing.assert_allclose(layernorm(x @ O.T), layernorm(x) @ O.T, atol=1e-12)
    # bites: a generic orthogonal map is not a LayerNorm symmetry
    G = random_orthogonal(9, seed=9)
    assert not np.allclose(layernorm(x @ G.T), layernorm(x) @ G.T, atol=1e-3)
    assert not np.allclose(random_orthogonal(9, seed=10, fix_ones=True), O)
    np.testing.assert_array_equal(random_orthogonal(9, seed=8, fix_ones=True), O)  # seeded
    assert random_orthogonal(1, fix_ones=True).tolist() == [[1.0]]


def test_attention_invertible_symmetry():
    rng = np.random.default_rng(11)
    N, D, dk, dv = 5, 6, 3, 4
    X = rng.standard_normal((N, D))
    WQ, WK, WV, WO = (rng.standard_normal(s) for s in [(D, dk), (D, dk), (D, dv), (dv, D)])
    A, B = rng.standard_normal((dk, dk)) + 2 * np.eye(dk), rng.standard_normal((dv, dv)) + 2 * np.eye(dv)
    Q2, K2, V2, O2 = transform_attention(WQ, WK, WV, WO, A, B)
    S = attention_scores(X, WQ, WK)
    np.testing.assert_allclose(S, (X @ WQ) @ (X @ WK).T)
    np.testing.assert_allclose(attention_scores(X, Q2, K2), S, atol=1e-10)
    np.testing.assert_allclose(X @ V2 @ O2, X @ WV @ WO, atol=1e-10)
    np.testing.assert_allclose(K2 @ A.T, WK, atol=1e-12)
    # bites: using A^{-1} instead of A^{-T} on the keys breaks the scores for non-orthogonal A
    assert not np.allclose(attention_scores(X, Q2, WK @ np.linalg.inv(A)), S, atol=1e-3)


def test_bad_inputs():
    W1, b1, W2, X = _block(0)
    with pytest.raises(ValueError, match="perm"):
        permute_hidden(W1, b1, W2, [0, 1, 2, 3, 4, 4])
    with pytest.raises(ValueError, match="W2"):
        permute_hidden(W1, b1, W2[:, :5], np.arange(6))
    with pytest.raises(ValueError, match="b1"):
        split_relu_unit(W1, b1[:3], W2, 0, 0.5)
    with pytest.raises(ValueError, match="unit"):
        split_relu_unit(W1, b1, W2, 6, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        split_relu_unit(W1, b1, W2, 0, 1.5)
    with pytest.raises(ValueError, match="zero"):
        rmsnorm(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="constant"):
        layernorm(np.full((2, 3), 0.7))
    with pytest.raises(ValueError, match="gain"):
        layernorm(np.ones((2, 3)) * np.arange(3), gain=np.ones(2))
    with pytest.raises(ValueError, match="NaN"):
        rmsnorm(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="D"):
        centering_matrix(0)
    with pytest.raises(TypeError, match="D"):
        random_orthogonal(2.5)
    with pytest.raises(ValueError, match="seed"):
        random_orthogonal(3, seed=-1)
    with pytest.raises(ValueError, match="W_K"):
        attention_scores(np.ones((2, 3)), np.ones((3, 2)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="A"):
        transform_attention(np.ones((3, 2)), np.ones((3, 2)), np.ones((3, 2)), np.ones((2, 3)), np.ones((2, 2)), np.eye(2))
    with pytest.raises(ValueError, match="B"):
        transform_attention(np.ones((3, 2)), np.ones((3, 2)), np.ones((3, 2)), np.ones((2, 3)), np.eye(2), np.eye(3))
    with pytest.raises(TypeError, match="X"):
        attention_scores("x", np.ones((3, 2)), np.ones((3, 2)))
