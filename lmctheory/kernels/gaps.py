"""Numba kernels for projected-center gaps (docs/theory.md §4, eq. 17 and ``δ_min``).

Called only from the validated public functions of :mod:`lmctheory.subspace`; every array is
float64, C-contiguous, shape ``(n, k)`` with ``n ≥ 2``.

Distances are computed from coordinate differences ``Σ_l (x_il − x_jl)²`` (never from the GEMM
form ``‖x_i‖² + ‖x_j‖² − 2x_iᵀx_j``), so a gap of 0 between duplicates is exactly 0 and small gaps
between large centers keep full relative accuracy.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def min_gap_sorted(X, order_key, bound2, key_err):
    """Closest pair by a sort-and-sweep along ``order_key`` (a 1-D projection of the rows).

    Rows are visited in increasing ``order_key``; for row ``i`` only rows ``j`` after it with
    ``(key_j − key_i)² < best_i²`` can be closer (the projection is 1-Lipschitz when the key is a
    unit-norm direction). ``bound2`` is an upper bound on ``δ_min²`` used to prune from the start
    (``inf`` for none). Returns ``(min squared gap, i, j)`` with ``i < j`` in the original indexing;
    among equal gaps the pair first in sorted order wins. One call over all rows of
    :func:`sorted_rows_min` (the library cuts it into short calls).
    """
    n, k = X.shape
    order = np.argsort(order_key, kind="mergesort")
    key = order_key[order]
    Y = np.empty((n, k))
    for a in range(n):
        for l in range(k):
            Y[a, l] = X[order[a], l]
    best, ri, rj = sorted_rows_min(Y, key, bound2, key_err, 0, n)
    if ri < 0:
        return best, -1, -1
    i = order[ri]
    j = order[rj]
    if i > j:
        i, j = j, i
    return best, i, j


@njit(cache=True, parallel=True)
def sorted_rows_min(Y, key, bound2, key_err, a0, a1):
    """Sweep step of :func:`min_gap_sorted` for sorted rows ``a0 ≤ a < a1`` (partners: every later row).

    ``Y`` holds the rows in increasing ``key``. Returns ``(best, a, c)`` in sorted indexing: the first
    pair (lexicographically) with the smallest squared gap ``< bound2`` — or ``= bound2`` when none is
    smaller — and ``(bound2, −1, −1)`` when no pair qualifies. The first-minimal pair does not depend on
    how the rows are split among threads or calls (each part starts from the same bound).
    """
    n, k = Y.shape
    m = a1 - a0
    nblk = max(1, min(64, m))  # any split gives the same pair (see above)
    blk = (m + nblk - 1) // nblk
    bbest = np.full(nblk, np.inf)
    bi = np.zeros(nblk, np.int64)
    bj = np.zeros(nblk, np.int64)
    for b in prange(nblk):
        r0 = a0 + b * blk
        r1 = min(a1, r0 + blk)
        best = bound2
        sbest = np.sqrt(best)
        besti = -1
        bestj = -1
        for a in range(r0, r1):
            for c in range(a + 1, n):
                if key[c] - key[a] > sbest + key_err:
                    break
                s = 0.0
                for l in range(k):
                    t = Y[a, l] - Y[c, l]
                    s += t * t
                    if s > best:
                        break
                if s < best or (besti < 0 and s <= best):
                    best = s
                    sbest = np.sqrt(s)
                    besti = a
                    bestj = c
        bbest[b] = best
        bi[b] = besti
        bj[b] = bestj
    best = np.inf
    ri = -1
    rj = -1
    for b in range(nblk):
        if bi[b] >= 0 and bbest[b] < best:
            best = bbest[b]
            ri = bi[b]
            rj = bj[b]
    if ri < 0:
        return bound2, -1, -1
    return best, ri, rj


@njit(cache=True)
def pairwise_gaps(X, out):
    """``out[i, j] = ‖x_i − x_j‖₂``; each row computed in full (sequential writes beat the 2× flops
    of not exploiting symmetry; ``(x_i − x_j)²`` and ``(x_j − x_i)²`` round identically, so ``out`` is
    exactly symmetric with a zero diagonal). All rows of :func:`pairwise_gaps_rows` (parallel over rows)."""
    pairwise_gaps_rows(X, out, 0, X.shape[0])


@njit(cache=True, parallel=True)
def pairwise_gaps_rows(X, out, r0, r1):
    """Rows ``r0 … r1 − 1`` of :func:`pairwise_gaps` (same bits; the library calls it in short steps)."""
    n, k = X.shape
    for ii in prange(r1 - r0):
        i = r0 + ii
        for j in range(n):
            s = 0.0
            for l in range(k):
                t = X[i, l] - X[j, l]
                s += t * t
            out[i, j] = np.sqrt(s)


@njit(cache=True, parallel=True)
def tile_row_min(dots, sq, i0, j0, rowmin):
    """GEMM-form row minima over one tile: for ``r`` in the tile, ``i = i0 + r``,
    ``rowmin[i] = min(rowmin[i], min_{j ≥ j0, j > i} (‖x_i‖² + ‖x_j‖² − 2 dots[r, j − j0]))``.

    ``dots = X[i0:i1] @ X[j0:j1].T`` (a bounded tile: memory does not grow with ``n``); the values carry
    the GEMM rounding error (the caller's margin). Start from ``rowmin = inf``.
    """
    m, ncol = dots.shape
    for r in prange(m):
        i = i0 + r
        best = rowmin[i]
        si = sq[i]
        for c in range(max(0, i + 1 - j0), ncol):
            v = si + sq[j0 + c] - 2.0 * dots[r, c]
            if v < best:
                best = v
        rowmin[i] = best


@njit(cache=True, parallel=True)
def rows_exact_min(X, rows, d2, partner):
    """For each ``i = rows[t]``: exact ``d2[t] = min_{j>i} ‖x_i − x_j‖²`` from coordinate
    differences and the first ``j`` attaining it (``partner[t]``)."""
    n, k = X.shape
    for t in prange(rows.shape[0]):
        i = rows[t]
        best = np.inf
        bj = -1
        for j in range(i + 1, n):
            s = 0.0
            for l in range(k):
                d = X[i, l] - X[j, l]
                s += d * d
            if s < best:
                best = s
                bj = j
        d2[t] = best
        partner[t] = bj
