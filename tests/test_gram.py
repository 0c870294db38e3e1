"""Gram matrices, spectra and deviation norms (eq. (6), (9), T-4.2, T-4.4 quantity)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lmctheory.gram import gram_deviation_norms, gram_matrices, gram_spectra, induced_coefficients
from lmctheory.kernels.costs import pack_outer, unpack_sym
from lmctheory.synthetic import asymmetric_layer, coherent_basis, random_basis

from .naive import naive_gram_matrices, naive_pack_outer, naive_unpack_sym


@st.composite
def layers(draw):
    d = draw(st.integers(1, 14))
    k = draw(st.integers(1, d))
    n = draw(st.integers(1, 7))
    mode = draw(st.sampled_from(["wasym", "sparse", "standard", "syre"]))
    seed = draw(st.integers(0, 2**16))
    coherent = draw(st.booleans())
    layer = asymmetric_layer(n, d, mode, seed=seed)
    U = coherent_basis(d, k, draw(st.sampled_from([0.0, 0.3, 1.0])), seed=seed + 1) if coherent \
        else random_basis(d, k, seed=seed + 1)
    return layer, U


@settings(max_examples=40, deadline=None)
@given(layers())
def test_gram_matches_naive(case):
    layer, U = case
    S = gram_matrices(layer.diag, U)
    Sn = naive_gram_matrices(layer.diag, U)
    np.testing.assert_allclose(S, Sn, rtol=1e-12, atol=1e-13)
    assert np.array_equal(S, np.swapaxes(S, 1, 2))  # exactly symmetric
    lam = gram_spectra(layer.diag, U)
    np.testing.assert_allclose(lam, np.linalg.eigvalsh(Sn), atol=1e-12)
    assert np.all(np.diff(lam, axis=1) >= 0)
    mu = float(np.mean(layer.diag ** 2))
    dev = gram_deviation_norms(layer.diag, U)
    ref = [np.linalg.norm(s - mu * np.eye(U.shape[1]), 2) for s in Sn]
    np.testing.assert_allclose(dev, ref, atol=1e-12)
    np.testing.assert_allclose(gram_deviation_norms(layer.diag, U, mu=0.25),
                               [np.linalg.norm(s - 0.25 * np.eye(U.shape[1]), 2) for s in Sn], atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 9), st.integers(0, 1000))
def test_pack_unpack_kernels_match_naive(n, k, seed):
    X = np.random.default_rng(seed).standard_normal((n, k))
    K = k * (k + 1) // 2
    out = np.empty((n, K + 3))
    pack_outer(X, out)
    np.testing.assert_array_equal(out[:, :K], naive_pack_outer(X))
    back = np.empty((n, k, k))
    unpack_sym(out[:, :K].copy(), k, back)
    np.testing.assert_array_equal(back, naive_unpack_sym(out[:, :K], k))
    np.testing.assert_allclose(back, np.einsum("ip,iq->ipq", X, X), rtol=1e-15)


def test_induced_coefficients_and_identities():
    layer = asymmetric_layer(6, 9, "wasym", fixed_per_row=3, seed=3)
    U = random_basis(9, 4, seed=4)
    A = induced_coefficients(layer.effective, U)
    np.testing.assert_allclose(A, layer.effective @ U, rtol=1e-14)
    # w̃ᵀx = aᵀz for x = U z (eq. 6)
    z = np.random.default_rng(0).standard_normal(4)
    np.testing.assert_allclose(layer.effective @ (U @ z), A @ z, rtol=1e-12)
    # standard layer: S_i = UᵀU = I; fixed-count mask: trace S_i = k − Σ_fixed ‖u_j‖²
    S = gram_matrices(np.ones((3, 9)), U)
    np.testing.assert_allclose(S, np.broadcast_to(np.eye(4), (3, 4, 4)), atol=1e-14)
    S = gram_matrices(layer.diag, U)
    lev = np.sum(U ** 2, axis=1)
    np.testing.assert_allclose(np.trace(S, axis1=1, axis2=2), 4 - (1 - layer.diag) @ lev, atol=1e-12)
    # S_i = M_i M_iᵀ with M_i = Uᵀ diag(d_i)
    M = U.T * layer.diag[2]
    np.testing.assert_allclose(S[2], M @ M.T, atol=1e-14)


def test_rank_deficient_gram():
    # coordinate-aligned basis: masking a coordinate the basis uses kills one eigenvalue exactly
    U = coherent_basis(8, 3, 0.0, seed=0)
    used = np.flatnonzero(np.abs(U).sum(axis=1) > 0)
    D = np.ones((2, 8))
    D[0, used[0]] = 0.0
    lam = gram_spectra(D, U)
    assert lam[0, 0] == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_allclose(lam[1], 1.0, atol=1e-14)


def test_deviation_default_mu_fixed_count_mask():
    layer = asymmetric_layer(5, 50, "wasym", fixed_per_row=10, seed=1)
    U = random_basis(50, 5, seed=2)
    dev = gram_deviation_norms(layer.diag, U)
    lam = gram_spectra(layer.diag, U)
    mu = 1 - 10 / 50  # exact for a fixed-count mask
    np.testing.assert_allclose(dev, np.maximum(abs(lam[:, -1] - mu), abs(lam[:, 0] - mu)), atol=1e-13)
    # a wrong centre is caught (the test bites)
    assert not np.allclose(gram_deviation_norms(layer.diag, U, mu=1.0), dev)


@pytest.mark.parametrize("fn", [gram_matrices, gram_spectra, gram_deviation_norms, induced_coefficients])
def test_bad_input(fn):
    U = random_basis(6, 3, seed=0)
    D = np.ones((4, 6))
    with pytest.raises(ValueError, match="basis"):
        fn(D, U * 2.0)  # not orthonormal
    with pytest.raises(ValueError, match="k <= d"):
        fn(D, np.eye(6)[:3].T.T.reshape(3, 6))  # (3, 6): k > d
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        fn(np.ones((4, 5)), U)  # d mismatch
    with pytest.raises(ValueError):
        fn(np.ones(6), U)  # 1-D
    with pytest.raises(ValueError, match="empty"):
        fn(np.ones((0, 6)), U)
    bad = D.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fn(bad, U)
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="inf"):
        fn(bad, U)
    with pytest.raises(TypeError):
        fn("abc", U)
    with pytest.raises(TypeError):
        fn(D.astype(complex), U)


def test_bad_mu():
    U = random_basis(6, 3, seed=0)
    with pytest.raises(ValueError, match="mu"):
        gram_deviation_norms(np.ones((2, 6)), U, mu=-1.0)
    with pytest.raises(ValueError, match="mu"):
        gram_deviation_norms(np.ones((2, 6)), U, mu=np.nan)
    with pytest.raises(TypeError, match="mu"):
        gram_deviation_norms(np.ones((2, 6)), U, mu="1")
