"""Per-neuron Gram matrices ``S_i = Uᵀ diag(d_i)² U`` and their spectra (docs/theory.md §1, §3).

Shapes: ``effective``, ``diag`` are ``(n, d)`` with one row per neuron; ``basis`` is an orthonormal
``U ∈ R^{d×k}`` (checked with :func:`lmctheory._validation.check_basis`, tolerance ``1e-6``).

The Gram matrices are built in packed form with one GEMM,
``Ŝ = (D ⊙ D) · Û`` with ``Û[j, (p,q)] = U_jp U_jq`` (``p ≤ q``), i.e. ``(n × d)·(d × k(k+1)/2)``,
which exploits the symmetry of ``S_i`` and runs at BLAS speed.
"""

from __future__ import annotations

import numpy as np

from ._validation import MAX_ABS_COSTS, check_array, check_basis, check_scalar

try:  # installed with scikit-learn; without it BLAS keeps its threads (results stay correct, but
    # row blocks of realization_costs may then differ from the full matrix in the last bit)
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

__all__ = [
    "induced_coefficients",
    "gram_matrices",
    "gram_spectra",
    "gram_deviation_norms",
]


def _check_rows_basis(x, name: str, basis):
    """Validate an ``(n, d)`` array against an orthonormal ``(d, k)`` basis."""
    U = check_basis(basis, "basis")
    X = check_array(x, name, ndim=2, max_abs=MAX_ABS_COSTS)
    if X.shape[1] != U.shape[0]:
        raise ValueError(
            f"{name} must have shape (n, d) with d = basis.shape[0] = {U.shape[0]}, got {X.shape}"
        )
    return X, U


def single_threaded_blas():
    """``threadpool_limits(1)`` covering NumPy's OpenBLAS *and* the LAPACK that Numba calls.

    Many small LAPACK calls (one per neuron) are fastest single-threaded — with spare threads
    spinning they can be tens of times slower on a busy machine — and single-threaded OpenBLAS is
    reproducible bit for bit. Numba's ``np.linalg`` goes through SciPy's own OpenBLAS, which must
    be loaded before the limits are applied. Internal API (shared with :mod:`lmctheory.costs`).
    """
    import contextlib

    import scipy.linalg.cython_lapack  # noqa: F401

    if threadpool_limits is None:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def packed_kron(U: np.ndarray) -> np.ndarray:
    """``Û`` of shape ``(d, k(k+1)/2)`` with ``Û[j, (p,q)] = U_jp U_jq``, ``p ≤ q``.

    Internal API (shared with :mod:`lmctheory.costs`): ``U`` must already be a validated float64 basis.
    """
    from .kernels.costs import pack_outer

    d, k = U.shape
    out = np.empty((d, k * (k + 1) // 2))
    pack_outer(U, out)
    return out


def _packed_grams(dsq: np.ndarray, U: np.ndarray, Uk: np.ndarray | None = None) -> np.ndarray:
    """Packed upper triangles ``(n, k(k+1)/2)`` of ``S_i = Σ_j d_ij² u_j u_jᵀ``."""
    if Uk is None:
        Uk = packed_kron(U)
    return dsq @ Uk


def induced_coefficients(effective, basis) -> np.ndarray:
    """Induced subspace preactivation coefficients ``a_i = Uᵀ w̃_i`` (eq. (6), docs/theory.md §1).

    Parameters
    ----------
    effective : array_like, shape (n, d)
        Effective weights ``W̃ = F + D ⊙ W``, one row per neuron.
    basis : array_like, shape (d, k)
        Orthonormal support basis ``U``.

    Returns
    -------
    ndarray, shape (n, k)
        Row ``i`` is ``a_i``, so that ``w̃_iᵀ x = a_iᵀ z`` for ``x = U z``.
    """
    W, U = _check_rows_basis(effective, "effective", basis)
    return W @ U


def gram_matrices(diag, basis) -> np.ndarray:
    """Gram matrices ``S_i = M_i M_iᵀ = Uᵀ diag(d_i)² U = Σ_j d_ij² u_j u_jᵀ`` (eq. (9), T-4.2).

    Parameters
    ----------
    diag : array_like, shape (n, d)
        Diagonal operators ``D`` (row ``i`` is ``d_i``).
    basis : array_like, shape (d, k)
        Orthonormal support basis ``U``.

    Returns
    -------
    ndarray, shape (n, k, k)
        Symmetric positive semidefinite ``S_i``; ``rank(S_i)`` is the dimension of the affine set
        ``A_i = v_i + range(S_i)`` of coefficients neuron ``i`` can realize (T-4.2).
    """
    from .kernels.costs import unpack_sym

    D, U = _check_rows_basis(diag, "diag", basis)
    k = U.shape[1]
    packed = _packed_grams(D * D, U)
    out = np.empty((D.shape[0], k, k))
    unpack_sym(packed, k, out)
    return out


def gram_spectra(diag, basis) -> np.ndarray:
    """Eigenvalues of every Gram matrix ``S_i`` (eq. (9)), ascending — the *Gram spectrum*.

    Parameters
    ----------
    diag : array_like, shape (n, d)
    basis : array_like, shape (d, k)

    Returns
    -------
    ndarray, shape (n, k)
        Row ``i`` holds ``λ_1(S_i) ≤ … ≤ λ_k(S_i)`` (LAPACK ``syevd``; rounding may make exact
        zeros tiny negative numbers of size ``≈ k·ε·λ_max``).

    References
    ----------
    [NI] eq. (9), Prop. 4.2; docs/theory.md#eq-9, docs/theory.md#t-4-2 (``rank S_i`` is the dimension of what
    neuron ``i`` can realize).

    Examples
    --------
    Masking a coordinate of the support removes one direction from that neuron's Gram matrix:

    >>> import numpy as np
    >>> import lmctheory as lt
    >>> D = np.array([[1.0, 1.0, 0.0],    # neuron 0: third input fixed (outside the support)
    ...               [1.0, 0.0, 1.0]])   # neuron 1: second input fixed (inside the support)
    >>> U = np.eye(3)[:, :2]
    >>> print(lt.gram_spectra(D, U))
    [[1. 1.]
     [0. 1.]]
    """
    S = gram_matrices(diag, basis)
    with single_threaded_blas():  # one small LAPACK call per neuron
        return np.linalg.eigvalsh(S)


def gram_deviation_norms(diag, basis, mu=None) -> np.ndarray:
    """Spectral deviations ``‖S_i − μ I_k‖₂`` (the quantity bounded by T-4.4, Thm. 4.4).

    ``‖S_i − μI‖₂ = max(|λ_max(S_i) − μ|, |λ_min(S_i) − μ|)``.

    Parameters
    ----------
    diag : array_like, shape (n, d)
        Diagonal operators ``D``.
    basis : array_like, shape (d, k)
        Orthonormal support basis ``U``.
    mu : float, optional
        Centre ``μ ≥ 0``. Default: the mean of all entries of ``D ⊙ D`` (the empirical ``E[d_ij²]``;
        for a fixed-count mask with ``m`` zeros per row it is exactly ``1 − m/d``).

    Returns
    -------
    ndarray, shape (n,)

    References
    ----------
    [NI] Thm. 4.4; docs/theory.md#t-4-4 (the bound: :func:`lmctheory.bounds.gram_concentration_bound`).

    Examples
    --------
    An i.i.d. Bernoulli(1/2) mask on an incoherent support stays within the Bernstein bound
    (``δ = 0.01/n`` for all ``n`` neurons at once):

    >>> import lmctheory as lt
    >>> from lmctheory.synthetic import asymmetric_layer, random_basis
    >>> layer = asymmetric_layer(32, 64, mode="sparse", keep_prob=0.5, seed=0)
    >>> U = random_basis(64, 4, seed=1)
    >>> dev = lt.gram_deviation_norms(layer.diag, U, mu=0.5)
    >>> mu, var, b = lt.mask_moments(0.5)
    >>> bound = lt.gram_concentration_bound(lt.subspace_coherence(U), 4, 0.01 / 32, var, b)
    >>> bool(dev.max() <= bound)
    True
    """
    D, U = _check_rows_basis(diag, "diag", basis)
    if mu is None:
        mu = float(np.mean(D * D))
    else:
        mu = check_scalar(mu, "mu", low=0.0)
    lam = gram_spectra(D, U)
    return np.maximum(np.abs(lam[:, -1] - mu), np.abs(lam[:, 0] - mu))
