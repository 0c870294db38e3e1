"""Numba kernels for Gram matrices and all-pairs realization costs (THEORY.md §2, §12).

Called only from the validated public functions of :mod:`lmctheory.gram` and
:mod:`lmctheory.costs`; every array is float64, C-contiguous, with consistent shapes.

Packed symmetric storage: a symmetric ``k×k`` matrix is stored as its upper triangle, row by row
(``(p, q)`` with ``p ≤ q``), ``K = k(k+1)/2`` numbers. ``pack_outer`` stores ``x_p x_q`` (no
doubling); the pseudo-inverses are packed *with off-diagonals doubled*, so that
``⟨P, x xᵀ⟩ = Σ_t P̂_t · (x x̂ᵀ)_t`` is a plain dot product and the all-pairs cost is one GEMM.

Per neuron ``S_i`` comes either from a packed Gram row (dense path) or from the low-rank formula
``S = I + U_Jᵀ diag(d_J² − 1) U_J`` (``J = {j : d_j² ≠ 1}``, ``|J| < k``). Full-rank ``S_i`` are
inverted by a *certified* Cholesky (Woodbury for binary masks); anything else — rank-deficient
or too ill-conditioned to certify — goes through ``eigh`` with the §12 cutoff.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

EPS = np.finfo(np.float64).eps


@njit(cache=True, parallel=True)
def pack_outer(X, out):
    """``out[j, t(p,q)] = X[j,p]·X[j,q]`` for ``p ≤ q`` (first ``K`` columns of ``out``)."""
    n, k = X.shape
    for j in prange(n):
        t = 0
        for p in range(k):
            xp = X[j, p]
            for q in range(p, k):
                out[j, t] = xp * X[j, q]
                t += 1


@njit(cache=True, parallel=True)
def unpack_sym(packed, k, out):
    """Inverse of the (non-doubled) packing: ``out[i]`` is the symmetric ``k×k`` matrix."""
    n = packed.shape[0]
    for i in prange(n):
        t = 0
        for p in range(k):
            for q in range(p, k):
                v = packed[i, t]
                out[i, p, q] = v
                out[i, q, p] = v
                t += 1


@njit(cache=True)
def _fro2(X):
    s = 0.0
    for p in range(X.shape[0]):
        for q in range(X.shape[1]):
            s += X[p, q] * X[p, q]
    return s


@njit(cache=True)
def _chol(S):
    """``(True, L)`` with ``S = LLᵀ`` if LAPACK's Cholesky succeeds, else ``(False, ·)``."""
    try:
        return True, np.linalg.cholesky(S)
    except Exception:  # not numerically positive definite
        return False, np.zeros((1, 1))


@njit(cache=True)
def _gram_row(gpacked, pos, U, dsq_row, k):
    """``S`` as a dense ``k×k`` matrix: unpacked Gram row ``pos ≥ 0``, else the low-rank formula."""
    S = np.empty((k, k))
    if pos >= 0:
        t = 0
        for p in range(k):
            for q in range(p, k):
                S[p, q] = gpacked[pos, t]
                S[q, p] = gpacked[pos, t]
                t += 1
        return S
    d = U.shape[0]
    m = 0
    for j in range(d):
        if dsq_row[j] != 1.0:
            m += 1
    B = np.empty((m, k))
    Be = np.empty((m, k))
    c = 0
    for j in range(d):
        if dsq_row[j] != 1.0:
            e = dsq_row[j] - 1.0
            for p in range(k):
                B[c, p] = U[j, p]
                Be[c, p] = e * U[j, p]
            c += 1
    S[:, :] = np.ascontiguousarray(B.T) @ Be
    for p in range(k):
        for q in range(p + 1, k):  # exact symmetry
            S[q, p] = S[p, q]
        S[p, p] += 1.0
    return S


@njit(cache=True)
def _chol_dense(S, r, k, c_tol):
    """Certified inverse of ``S`` by Cholesky: ``(ok, S⁻¹, ‖S⁻¹‖_F, rᵀS⁻¹r)``.

    ``ok`` only if ``1/‖S⁻¹‖_F > 2·c_tol·k·ε·‖S‖_F``: then ``λ_min ≥ 1/‖S⁻¹‖_F`` exceeds twice the
    §12 cutoff ``c_tol·k·ε·λ_max`` (``λ_max ≤ ‖S‖_F``), so ``S`` has no numerical null space and
    ``S† = S⁻¹``.
    """
    good, Lc = _chol(S)
    if not good:
        return False, S, 0.0, 0.0
    Li = np.linalg.inv(Lc)
    P = np.ascontiguousarray(Li.T) @ Li
    pf = np.sqrt(_fro2(P))
    if not 1.0 / pf > 2.0 * c_tol * k * EPS * np.sqrt(_fro2(S)):
        return False, S, 0.0, 0.0
    y = Li @ r
    return True, P, pf, np.dot(y, y)


@njit(cache=True)
def _chol_binary(U, dsq_row, r, k, c_tol):
    """Certified inverse for a binary mask with ``m < k`` zeros (Woodbury).

    ``S = I − BᵀB`` with ``B = U[J]`` (rows at the zeros): ``S⁻¹ = I + BᵀG⁻¹B``, ``G = I_m − BBᵀ``,
    and ``spec(S) = spec(G) ∪ {1}`` with ``G ⪯ I``. With ``G = LLᵀ``, ``W = L⁻¹B``:
    ``S⁻¹ = I + WᵀW``, ``‖S⁻¹‖₂ ≤ max(1, ‖L⁻¹‖_F²)``, ``rᵀS⁻¹r = ‖r‖² + ‖Wr‖²``. Certified
    (``ok``) if ``1/‖L⁻¹‖_F² > 2·c_tol·k·ε`` (``λ_max(S) = 1``).
    """
    d = U.shape[0]
    m = 0
    for j in range(d):
        if dsq_row[j] != 1.0:
            m += 1
    P = np.eye(k)
    rr = np.dot(r, r)
    if m == 0:
        return True, P, 1.0, rr
    B = np.empty((m, k))
    c = 0
    for j in range(d):
        if dsq_row[j] != 1.0:
            B[c, :] = U[j, :]
            c += 1
    G = -(B @ np.ascontiguousarray(B.T))
    for p in range(m):
        G[p, p] += 1.0
    good, Lc = _chol(G)
    if not good:
        return False, P, 0.0, 0.0
    Li = np.linalg.inv(Lc)
    li2 = _fro2(Li)
    if not 1.0 / li2 > 2.0 * c_tol * k * EPS:
        return False, P, 0.0, 0.0
    W = Li @ B
    P += np.ascontiguousarray(W.T) @ W
    y = W @ r
    return True, P, max(1.0, li2), rr + np.dot(y, y)


@njit(cache=True)
def _write_row(P, v, Lt, k, K):
    """``Lt = [pack₂(P), −2Pv, vᵀPv]`` (upper triangle with doubled off-diagonals)."""
    Pv = P @ v
    vPv = 0.0
    for p in range(k):
        vPv += v[p] * Pv[p]
    s = 0
    for p in range(k):
        Lt[s] = P[p, p]
        s += 1
        for q in range(p + 1, k):
            Lt[s] = P[p, q] + P[q, p]
            s += 1
    for p in range(k):
        Lt[K + p] = -2.0 * Pv[p]
    Lt[K + k] = vPv


@njit(cache=True, nogil=True)
def _prepare_one(t, U, dsq, gpacked, dense_pos, V, Rres, A, c_tol, rtol, full, L, pnorm, diagc, unreal):
    """Neuron ``t`` of :func:`prepare_rows`."""
    k = U.shape[1]
    n = A.shape[0]
    K = k * (k + 1) // 2
    pos = dense_pos[t]
    if pos == -2:  # padding row of a chunk: not requested
        return
    r = Rres[t]
    if pos == -3:
        ok, P, pn, dc = _chol_binary(U, dsq[t], r, k, c_tol)
        S = P
        if not ok:
            S = _gram_row(gpacked, -1, U, dsq[t], k)
    else:
        S = _gram_row(gpacked, pos, U, dsq[t], k)
        ok, P, pn, dc = _chol_dense(S, r, k, c_tol)
    if ok:
        pnorm[t] = pn
        diagc[t] = dc
        if full:
            _write_row(P, V[t], L[t], k, K)
            for j in range(n):
                unreal[t, j] = False
        return
    # eigen path: rank-deficient or too ill-conditioned to certify
    lam, Q = np.linalg.eigh(S)
    Q = np.ascontiguousarray(Q)
    tol = c_tol * k * EPS * max(lam[k - 1], 0.0)
    nnull = 0
    for l in range(k):
        if lam[l] <= tol:
            nnull += 1
    # eigh sorts ascending: the null directions are the first nnull columns
    pnorm[t] = 0.0 if nnull == k else 1.0 / lam[nnull]
    proj = np.ascontiguousarray(Q.T) @ r
    rn2 = np.dot(r, r)
    nul2 = 0.0
    cost = 0.0
    for l in range(k):
        if l < nnull:
            nul2 += proj[l] * proj[l]
        else:
            cost += proj[l] * proj[l] / lam[l]
    diagc[t] = np.inf if np.sqrt(nul2) > rtol * max(1.0, np.sqrt(rn2)) else cost
    if not full:
        return
    Qr = np.ascontiguousarray(Q[:, nnull:])
    Pf = (Qr / lam[nnull:].reshape(1, k - nnull)) @ np.ascontiguousarray(Qr.T)
    v = V[t]
    _write_row(Pf, v, L[t], k, K)
    # range membership of a_j − v_i for every column j
    if nnull > 0:
        N = np.ascontiguousarray(Q[:, :nnull])
        Nv = v @ N
        NA = A @ N  # (n, nnull)
        for j in range(n):
            z2 = 0.0
            for l in range(nnull):
                zz = NA[j, l] - Nv[l]
                z2 += zz * zz
            x2 = 0.0
            for p in range(k):
                xx = A[j, p] - v[p]
                x2 += xx * xx
            unreal[t, j] = np.sqrt(z2) > rtol * max(1.0, np.sqrt(x2))
    else:
        for j in range(n):
            unreal[t, j] = False


@njit(cache=True, nogil=True)
def prepare_rows(t0, t1, U, dsq, gpacked, dense_pos, V, Rres, A, c_tol, rtol, full, L, pnorm, diagc,
                 unreal):
    """Per-neuron pseudo-inverse, packing, diagonal cost and range tests for rows ``t0..t1−1``.

    Serial and ``nogil``: the caller runs disjoint row ranges in a thread pool. (A ``prange`` loop
    here made Numba's parfor pass recompile all the LAPACK-heavy callees: ~3× the compile time.)

    Inputs (block of ``b`` neurons): ``dsq`` (b, d) squared diagonal operators; ``dense_pos[t]``
    selects the path of neuron ``t``: ``≥ 0`` dense (packed Gram ``gpacked[dense_pos[t]]``), ``-1``
    low-rank update of ``I`` (``m < k`` entries of ``d²`` differ from 1), ``-3`` the same for a binary
    mask (Woodbury), ``-2`` padding row (skipped, outputs left as given). ``V`` (b, k) projected
    centers, ``Rres`` (b, k) projected trainable parts ``r_i = Uᵀ(w̃_i − f_i)``, ``A`` (n, k) all
    coefficients. Eigen fallback: eigenvalues ``≤ c_tol·k·ε·λ_max`` are zero. If ``full``: writes
    ``L[t] = [pack₂(S†), −2S†v, vᵀS†v]`` and the range test of every column ``unreal[t, j]``;
    always writes ``pnorm[t] ≥ ‖S†‖₂`` (exact on the eigen path, a Frobenius bound on the Cholesky
    paths) and ``diagc[t] = ‖r_i‖²_{S†}`` (``inf`` if ``r_i ∉ range(S_i)``).
    """
    for t in range(t0, t1):
        _prepare_one(t, U, dsq, gpacked, dense_pos, V, Rres, A, c_tol, rtol, full, L, pnorm, diagc,
                     unreal)


@njit(cache=True, parallel=True)
def fix_block(C, L, pnorm, V, A, anorm, diagc, unreal, row0, gamma, acc):
    """Finish a block ``C`` (b, n) of the GEMM-form costs in place.

    ``+inf`` where ``unreal``; the diagonal (global row ``row0 + t``) from ``diagc``; entries whose
    cancellation bound ``gamma·ε·‖S_i†‖·(‖a_j‖ + ‖v_i‖)²`` exceeds ``acc·C`` (or with ``C ≤ 0``)
    are recomputed directly as ``xᵀS_i†x``, ``x = a_j − v_i``, from the packed row ``L[t]``, and so
    are NaN entries (overflow); a recomputed value that overflows is ``+inf``. Returns the number of recomputed entries.
    """
    b, n = C.shape
    k = A.shape[1]
    count = 0
    for t in prange(b):
        v = V[t]
        vn = 0.0
        for p in range(k):
            vn += v[p] * v[p]
        vn = np.sqrt(vn)
        Lt = L[t]
        x = np.empty(k)
        for j in range(n):
            if j == row0 + t:
                C[t, j] = diagc[t]
                continue
            if unreal[t, j]:
                C[t, j] = np.inf
                continue
            s = anorm[j] + vn
            bound = gamma * EPS * pnorm[t] * s * s
            cij = C[t, j]
            # written so that a NaN (overflow inside the GEMM) is recomputed too
            if not (cij > 0.0) or not (bound <= acc * cij):
                count += 1
                for p in range(k):
                    x[p] = A[j, p] - v[p]
                tot = 0.0
                u = 0
                for p in range(k):
                    xp = x[p]
                    acc_row = 0.0
                    for q in range(p, k):
                        acc_row += Lt[u] * x[q]
                        u += 1
                    tot += xp * acc_row
                # a quadratic form of a PSD matrix: NaN here is overflow (inf − inf), so +inf
                C[t, j] = tot if tot > 0.0 else (0.0 if tot <= 0.0 else np.inf)
    return count
