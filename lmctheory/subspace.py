"""Subspace basis from data, coherence, tail energy, projected centers and their gaps.

docs/theory.md §1–§4, §8 ([NI] eq. (5), (11), (17); Lemma E.1). Rows of every ``(n, d)`` array are
neurons (or samples for ``X``); ``basis`` is an orthonormal ``U ∈ R^{d×k}`` (checked by
:func:`lmctheory._validation.check_basis`, tolerance ``1e-6``).

Closest pair of centers (``method``): ``kdtree`` — a ``scipy.spatial.cKDTree`` nearest-neighbour
query (``k=2``, all workers, with ``distance_upper_bound`` set from the closest pair of a seeded
1/8 subsample, recursively), fast for small ``k`` (default for ``k ≤ KDTREE_MAX_K``); ``blocked`` —
row blocks of squared distances in GEMM form ``‖x‖² + ‖y‖² − 2xᵀy`` (after centering), then every
row whose GEMM-form minimum lies within twice the rounding margin (``4(k+2)ε·2max‖x‖²`` plus the
centering rounding) of the overall minimum is re-scanned exactly by a Numba kernel (default for
larger ``k``; ``O(n²k)`` at BLAS speed); ``sweep`` — a parallel Numba sort-and-sweep along the
leading principal direction (fast when the centers are spread along one direction, ``O(n²k)``
scalar work in the worst case). The returned gap is always recomputed from
coordinate differences, so duplicates give an exact 0. Inputs are first scaled by a power of two
(exact) so that squared gaps of centers of size ~1e-160 or ~1e160 neither underflow nor overflow;
a gap below ~1e-154·max|v| (far below rounding of the centers themselves) may still come out as 0.
"""

from __future__ import annotations

import numpy as np

from ._validation import MAX_ABS, check_array, check_basis, check_fixed_basis, check_int, check_scalar

__all__ = [
    "subspace_basis",
    "leverage_scores",
    "subspace_coherence",
    "tail_energy",
    "projected_centers",
    "pairwise_center_gaps",
    "min_center_gap",
    "closest_center_pair",
]

#: Largest center dimension ``k`` for which the closest pair uses a k-d tree.
KDTREE_MAX_K = 10


def subspace_basis(X, explained_variance=0.9):
    """PCA basis of the centered rows of ``X`` ([NI] §6/F.7; docs/theory.md §2 "Subspace basis from data";
    no T-ID — an estimation procedure, not a statement).

    With ``X_c = X − 1 x̄ᵀ = A Σ Bᵀ`` (thin SVD, singular values ``s_1 ≥ s_2 ≥ …``), the basis is the
    first ``k`` right-singular vectors, ``k = min{ k : Σ_{l≤k} s_l² / Σ_l s_l² ≥ explained_variance }``.

    Parameters
    ----------
    X : array_like, shape (N, d)
        Samples (activations) as rows, ``N ≥ 2``.
    explained_variance : float in (0, 1], default 0.9
        Target fraction of the total variance.

    Returns
    -------
    basis : ndarray, shape (d, k)
        Orthonormal columns (signs fixed so the largest-magnitude entry of each column is positive).
    ratio : float
        Explained-variance ratio reached, ``Σ_{l≤k} s_l² / Σ_l s_l² ≥ explained_variance − 4rε₆₄``
        (``r = min(N, d)``; the slack only absorbs rounding of the cumulative sum).

    Notes
    -----
    The coherence of an estimated basis is biased upward by sampling noise unless ``N ≫ d``
    (docs/theory.md §12).

    Raises
    ------
    ValueError
        If the centered data has zero variance, or on bad shapes / non-finite values.

    References
    ----------
    [NI] §6 and App. F.7 (how the support is estimated from activations); docs/theory.md#basis-from-data,
    docs/theory.md#t-e-1 (what the neglected variance costs).

    Examples
    --------
    Inputs that truly live on a 2-D subspace of ``R^6`` give back that subspace:

    >>> import numpy as np
    >>> import lmctheory as lt
    >>> rng = np.random.default_rng(0)
    >>> U_true = np.linalg.qr(rng.standard_normal((6, 2)))[0]
    >>> X = rng.standard_normal((500, 2)) @ U_true.T
    >>> B, ratio = lt.subspace_basis(X, explained_variance=0.9)
    >>> B.shape, round(ratio, 6)
    ((6, 2), 1.0)
    >>> bool(np.allclose(B @ B.T, U_true @ U_true.T))
    True
    """
    X = check_array(X, "X", ndim=2, min_rows=2, max_abs=MAX_ABS)
    ev = check_scalar(explained_variance, "explained_variance", low=0.0, high=1.0,
                      low_inclusive=False)
    Xc = X - X.mean(axis=0)
    _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    var = s * s
    total = var.sum()
    if not total > 0.0 or s[0] <= 1e-12 * max(1.0, float(np.max(np.abs(X)))):
        raise ValueError("X has zero variance after centering; no subspace can be estimated")
    cum = np.cumsum(var) / total
    # slack of the cumulative sum's rounding only, so that explained_variance=1 is reachable
    k = int(np.searchsorted(cum, ev - 4.0 * len(s) * np.finfo(float).eps, side="left")) + 1
    k = min(k, len(s))
    B = Vt[:k].T.copy()
    idx = np.argmax(np.abs(B), axis=0)
    B *= np.sign(B[idx, np.arange(k)])
    return B, float(cum[k - 1])


def leverage_scores(basis):
    """Leverage scores ``ℓ_j = ‖Uᵀe_j‖₂² = ‖u_j‖²`` (docs/theory.md §3; [NI] eq. (11)).

    Parameters
    ----------
    basis : array_like, shape (d, k)
        Orthonormal ``U``.

    Returns
    -------
    ndarray, shape (d,)
        Values in ``[0, 1]`` summing to ``k``.
    """
    U = check_basis(basis)
    return np.einsum("ij,ij->i", U, U)


def subspace_coherence(basis) -> float:
    """Coherence ``ν(U) = max_j ‖Uᵀe_j‖₂²`` ([NI] eq. (11); docs/theory.md §3).

    Basis-independent (the largest leverage score of ``span(U)``); ``k/d ≤ ν(U) ≤ 1``.

    Parameters
    ----------
    basis : array_like, shape (d, k)

    Returns
    -------
    float

    References
    ----------
    [NI] eq. (11); docs/theory.md#eq-11. Why it matters: Gram concentration, [NI] Thm. 4.4,
    docs/theory.md#t-4-4.

    Examples
    --------
    A coordinate-aligned support is maximally coherent; a random one is close to ``k/d``:

    >>> import numpy as np
    >>> import lmctheory as lt
    >>> from lmctheory.synthetic import random_basis
    >>> lt.subspace_coherence(np.eye(4)[:, :2])
    1.0
    >>> nu = lt.subspace_coherence(random_basis(64, 4, seed=0))
    >>> bool(4 / 64 <= nu <= 1.0), round(nu, 4)
    (True, 0.2031)
    """
    return float(np.max(leverage_scores(basis)))


def tail_energy(X, r) -> float:
    """Tail energy ``τ_r = Σ_{j>r} λ_j`` of ``Σ = E[xxᵀ]`` (Lemma E.1; T-E.1).

    ``Σ`` is the *uncentered* empirical second moment ``XᵀX/N``; ``τ_r = E‖x − U_rU_rᵀx‖²`` with
    ``U_r`` its top-``r`` eigenvectors. Computed from the singular values of ``X/√N``
    (``λ_j = s_j²/N``), clipped at 0.

    Parameters
    ----------
    X : array_like, shape (N, d)
        Samples as rows.
    r : int, 0 ≤ r ≤ d
        Number of kept directions.

    Returns
    -------
    float
    """
    X = check_array(X, "X", ndim=2, max_abs=MAX_ABS)
    N, d = X.shape
    r = check_int(r, "r", low=0, high=d)
    s = np.linalg.svd(X, compute_uv=False)
    lam = s * s / N
    return float(max(0.0, lam[r:].sum()))


def projected_centers(fixed, basis):
    """Projected centers ``v_i = Uᵀ f_i`` ([NI] eq. (5); docs/theory.md §1).

    Parameters
    ----------
    fixed : array_like, shape (n, d)
        Fixed centers ``F`` (row ``i`` is ``f_i``).
    basis : array_like, shape (d, k)
        Orthonormal ``U``.

    Returns
    -------
    ndarray, shape (n, k)

    References
    ----------
    [NI] eq. (5); docs/theory.md#eq-5 (and docs/theory.md#s-1 for the layer ``W̃ = F + D ⊙ W``).

    Examples
    --------
    >>> import numpy as np
    >>> import lmctheory as lt
    >>> F = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 5.0]])
    >>> U = np.eye(3)[:, :2]            # the support is the first two coordinates
    >>> print(lt.projected_centers(F, U))
    [[1. 2.]
     [0. 1.]]
    """
    F, U = check_fixed_basis(fixed, basis)
    return F @ U


def _pow2_scaled(V):
    """``V / 2^e`` with ``max|V / 2^e| ∈ [0.5, 1)`` (exact), so squared gaps neither over- nor underflow."""
    m = float(np.max(np.abs(V)))
    if m == 0.0:
        return V, 0.0
    scale = float(np.ldexp(1.0, int(np.frexp(m)[1])))
    return (V / scale if scale != 1.0 else V), scale


def _check_centers(centers, min_rows=2):
    return check_array(centers, "centers", ndim=2, min_rows=min_rows)


def pairwise_center_gaps(centers):
    """All gaps ``G[i, j] = ‖v_i − v_j‖₂`` (docs/theory.md §4, eq. (17)).

    Parameters
    ----------
    centers : array_like, shape (n, k)
        Projected centers ``v_i`` (e.g. from :func:`projected_centers`).

    Returns
    -------
    ndarray, shape (n, n)
        Symmetric, zero diagonal.
    """
    from ._limits import check_fits
    from .kernels.gaps import pairwise_gaps_rows

    C = _check_centers(centers, min_rows=1)
    n = C.shape[0]
    check_fits(8.0 * n * n, f"the ({n}, {n}) gap matrix", "centers")  # refuse before allocating
    V, scale = _pow2_scaled(C)
    out = np.empty((n, n))
    if scale == 0.0:
        out[:] = 0.0
        return out
    # short calls (Ctrl-C between them); rows are independent, so the bits equal one call
    rows = max(1, int(_STEP_PAIRS // max(1, n * V.shape[1])))
    for r0 in range(0, n, rows):
        pairwise_gaps_rows(V, out, r0, min(n, r0 + rows))
    if scale != 1.0:
        out *= scale
    return out


_GEMM_BLOCK = 2048
#: bytes of one GEMM tile of the ``blocked`` method (working memory independent of ``n``)
_GEMM_TILE_BYTES = 64 * 2**20
#: coordinate differences per uninterruptible kernel call (≈ 0.05 s on one core)
_STEP_PAIRS = 2e7
#: rows per k-d tree query call
_KDTREE_QUERY_ROWS = 1 << 15
# |fl(‖x‖² + ‖y‖² − 2xᵀy) − ‖x − y‖²| ≤ _GEMM_ERR_C · (k + 2) · ε · (‖x‖² + ‖y‖²) (standard dot-product
# rounding bound, with slack); pairs within that margin of the GEMM minimum are re-checked exactly.
_GEMM_ERR_C = 4.0


_KDTREE_SUBSAMPLE_MIN = 4096


def _kdtree_gap(V, seed=0):
    """``(dist to second neighbour (n,), its index)`` of every row, queried with an upper bound.

    The closest-pair distance of a random subsample (1/8 of the rows, recursively) is an upper
    bound on ``δ_min``; querying with it lets the tree stop early (≈5× faster at n = 1e5, k = 8).
    """
    from scipy.spatial import cKDTree

    n = V.shape[0]
    bound = np.inf
    if n > _KDTREE_SUBSAMPLE_MIN:
        sub = np.sort(np.random.default_rng(seed).choice(n, n // 8, replace=False))
        d_sub, _ = _kdtree_gap(V[sub], seed + 1)
        # slack: the same pair's distance, recomputed by the tree, must stay inside the bound
        # floor: the tree compares squared distances strictly, and 1e-150² is still a normal float
        bound = max(float(d_sub.min()) * (1.0 + 1e-9), 1e-150)
    tree = cKDTree(V)
    dist = np.empty((n, 2))
    idx = np.empty((n, 2), dtype=np.intp)
    for r0 in range(0, n, _KDTREE_QUERY_ROWS):  # row blocks: Ctrl-C between them, same answers
        r1 = min(n, r0 + _KDTREE_QUERY_ROWS)
        dist[r0:r1], idx[r0:r1] = tree.query(V[r0:r1], k=2, workers=-1, distance_upper_bound=bound)
    return dist[:, 1], idx


def _closest_kdtree(V):
    d2nd, idx = _kdtree_gap(V)
    i = int(np.argmin(d2nd))
    # with duplicates the tree may list the point itself second
    j = int(idx[i, 1]) if idx[i, 1] != i else int(idx[i, 0])
    return i, j


def _closest_sweep(V):
    import time

    from .kernels.gaps import sorted_rows_min

    n, k = V.shape
    Vc = V - V.mean(axis=0)
    direction = np.linalg.svd(Vc[: min(n, 20000)], full_matrices=False)[2][0]
    key = np.ascontiguousarray(V @ direction)
    # rounding of the keys, so that pruning never drops the true closest pair
    key_err = 2.0 * (k + 2) * np.finfo(np.float64).eps * float(np.sqrt(np.max(np.einsum("ij,ij->i", V, V))))
    order = np.argsort(key, kind="mergesort")
    keys, Y = key[order], np.ascontiguousarray(V[order])
    # sweep rows in short calls (the worst case is O(n²k)); each call starts from the best gap so far,
    # and only a strictly smaller gap replaces it: the first minimal pair in sorted order, as in one call
    best, bi, bj = np.inf, -1, -1
    a0, step = 0, max(1, int(_STEP_PAIRS // (n * k)))  # worst case: every later row is a partner
    while a0 < n - 1:
        a1 = min(n - 1, a0 + step)
        t0 = time.perf_counter()
        b, i, j = sorted_rows_min(Y, keys, best, key_err, a0, a1)
        if i >= 0 and (bi < 0 or b < best):
            best, bi, bj = b, int(i), int(j)
        dt = time.perf_counter() - t0
        a0 = a1
        step = int(min(1 << 20, max(1, step * min(4.0, 0.05 / max(dt, 1e-4)))))
    i, j = int(order[bi]), int(order[bj])
    return min(i, j), max(i, j)


def _closest_blocked(V):
    from .kernels.gaps import rows_exact_min, tile_row_min

    n, k = V.shape
    X = V - V.mean(axis=0)  # distances are shift-invariant; centering shrinks the rounding margin
    sq = np.einsum("ij,ij->i", X, X)
    eps = np.finfo(np.float64).eps
    margin = _GEMM_ERR_C * (k + 2) * eps * 2.0 * float(sq.max())
    # the rounding of the centering itself moves each row by ≤ ε(‖v_i‖ + ‖mean‖) (slack 2)
    shift = 2.0 * eps * (float(np.sqrt(np.max(np.einsum("ij,ij->i", V, V)))) + float(np.linalg.norm(V.mean(axis=0))))
    margin += 2.0 * (2.0 * np.sqrt(float(sq.max()))) * (2.0 * shift) + (2.0 * shift) ** 2
    rowmin = np.full(n, np.inf)
    # bounded tiles of X Xᵀ (≤ _GEMM_TILE_BYTES whatever n; was a 2048 × n block, 6 GiB at n = 4e5)
    cols = max(_GEMM_BLOCK, _GEMM_TILE_BYTES // (8 * _GEMM_BLOCK))
    for i0 in range(0, n, _GEMM_BLOCK):
        i1 = min(n, i0 + _GEMM_BLOCK)
        for j0 in range(i0, n, cols):
            j1 = min(n, j0 + cols)
            tile_row_min(X[i0:i1] @ X[j0:j1].T, sq, i0, j0, rowmin)
    # the true closest pair (i*, j*) has rowmin[i*] ≤ δ² + margin ≤ min(rowmin) + 2·margin
    rows = np.flatnonzero(rowmin <= rowmin.min() + 2.0 * margin).astype(np.int64)
    d2 = np.empty(rows.shape[0])
    partner = np.empty(rows.shape[0], np.int64)
    # exact on the original rows, in short calls (every row may be a candidate, e.g. on a lattice)
    step = max(1, int(_STEP_PAIRS // max(1, n * k)))
    for t0 in range(0, rows.shape[0], step):
        t1 = min(rows.shape[0], t0 + step)
        rows_exact_min(V, rows[t0:t1], d2[t0:t1], partner[t0:t1])
    t = int(np.argmin(d2))
    return int(rows[t]), int(partner[t])


_METHODS = ("auto", "kdtree", "sweep", "blocked")


def _closest(V, method):
    from ._validation import check_choice

    method = check_choice(method, "method", _METHODS)
    V, scale = _pow2_scaled(V)
    if scale == 0.0:  # all centers are 0
        return 0, 1, 0.0
    if method == "auto":
        method = "kdtree" if V.shape[1] <= KDTREE_MAX_K else "blocked"
    i, j = {"kdtree": _closest_kdtree, "sweep": _closest_sweep, "blocked": _closest_blocked}[method](V)
    # recompute from differences: exact 0 for duplicates, no tree / GEMM rounding
    gap = float(np.sqrt(np.sum((V[i] - V[j]) ** 2))) * scale
    return min(i, j), max(i, j), gap


def min_center_gap(centers, *, method="auto") -> float:
    """Minimum projected center gap ``δ_min = min_{i≠j} ‖v_i − v_j‖₂`` (docs/theory.md §4, T-C.5).

    Parameters
    ----------
    centers : array_like, shape (n, k), n ≥ 2
    method : {"auto", "kdtree", "sweep", "blocked"}
        Closest-pair algorithm (module docstring); all are exact. ``auto``: ``kdtree`` for
        ``k ≤ KDTREE_MAX_K``, else ``blocked``.

    Returns
    -------
    float
        ``0.0`` if two centers coincide.

    References
    ----------
    [NI] eq. (17), Cor. C.5 and Thm. 4.6; docs/theory.md#eq-17, docs/theory.md#t-c-5 (the closest pair is the
    cheapest swap), docs/theory.md#t-4-6 (how small ``δ_min`` gets: ``∝ n^{−2/k}``).

    Examples
    --------
    >>> import numpy as np
    >>> import lmctheory as lt
    >>> V = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    >>> lt.min_center_gap(V)
    1.0
    >>> lt.closest_center_pair(V)
    (0, 2, 1.0)
    """
    return _closest(_check_centers(centers), method)[2]


def closest_center_pair(centers, *, method="auto"):
    """The closest pair of projected centers (the cheapest transposition, T-C.5).

    Parameters
    ----------
    centers : array_like, shape (n, k), n ≥ 2
    method : {"auto", "kdtree", "sweep", "blocked"}
        As in :func:`min_center_gap`.

    Returns
    -------
    i, j : int
        ``i < j`` with ``‖v_i − v_j‖₂ = δ_min`` (one such pair if several tie).
    gap : float
        ``δ_min``.
    """
    return _closest(_check_centers(centers), method)
