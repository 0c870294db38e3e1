"""Numba kernels for Gram matrices and all-pairs realization costs (docs/theory.md §2, §12).

Called only from the validated public functions of :mod:`lmctheory.gram` and
:mod:`lmctheory.costs`; every array is float64, C-contiguous, with consistent shapes.

Packed symmetric storage: a symmetric ``k×k`` matrix is stored as its upper triangle, row by row
(``(p, q)`` with ``p ≤ q``), ``K = k(k+1)/2`` numbers. ``pack_outer`` stores ``x_p x_q`` (no
doubling); the pseudo-inverses are packed *with off-diagonals doubled*, so that
``⟨P, x xᵀ⟩ = Σ_t P̂_t · (x x̂ᵀ)_t`` is a plain dot product and the all-pairs cost is one GEMM.

Per neuron ``S_i`` comes either from a packed Gram row (dense path) or from the low-rank formula
``S = I + U_Jᵀ diag(d_J² − 1) U_J`` (``J = {j : d_j² ≠ 1}``, ``|J| < k``). Full-rank ``S_i`` are
inverted by a *certified* Cholesky (Woodbury for binary masks); anything else — rank-deficient
or too ill-conditioned to certify — goes through ``eigh`` with the §12 cutoff. The Cholesky paths
call LAPACK/BLAS directly (no copies, no exception handling, triangular solves instead of
explicit inverses); every kernel that runs per neuron or per row is serial and ``nogil`` and is
parallelized by the caller's thread pool over disjoint row ranges.
"""

from __future__ import annotations

import ctypes

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


# ----------------------------------------------------------------------------------------------
# Direct BLAS/LAPACK calls. SciPy's cython_blas / cython_lapack (the OpenBLAS that Numba's own
# np.linalg uses) through ctypes function pointers. The pointers are passed to the kernels as an
# argument (``fns``), not captured as globals, so the compiled kernels stay cacheable on disk.
# Fortran is column-major: a C-contiguous ``m×k`` array is the Fortran ``k×m`` matrix of its
# transpose, so Fortran ``uplo='U'`` is the C *lower* triangle and ``'L'`` the C upper one.
# ----------------------------------------------------------------------------------------------
_CH_U, _CH_L, _CH_T, _CH_N, _CH_R = 85, 76, 84, 78, 82  # ord('U'), 'L', 'T', 'N', 'R'
_FNS = None


def _cfunc(module: str, name: str, nargs: int):
    from numba.extending import get_cython_function_address

    vp = ctypes.c_void_p
    addr = get_cython_function_address(f"scipy.linalg.cython_{module}", name)
    return ctypes.CFUNCTYPE(None, *([vp] * nargs))(addr)


def lapack_fns():
    """``(dsyrk, dpotrf, dtrsm, dpotri, dtrsv)`` for :func:`prepare_rows`."""
    global _FNS
    if _FNS is None:
        _FNS = (_cfunc("blas", "dsyrk", 10), _cfunc("lapack", "dpotrf", 5), _cfunc("blas", "dtrsm", 11),
                _cfunc("lapack", "dpotri", 5), _cfunc("blas", "dtrsv", 8))
    return _FNS


@njit(cache=True, nogil=True)
def _syrk(f, uplo, trans, n, kk, alpha, a, lda, beta, c, ldc):
    ch = np.empty(2, np.uint8)
    ch[0], ch[1] = uplo, trans
    iv = np.empty(4, np.int32)
    iv[0], iv[1], iv[2], iv[3] = n, kk, lda, ldc
    dv = np.empty(2)
    dv[0], dv[1] = alpha, beta
    f(ch[0:1].ctypes, ch[1:2].ctypes, iv[0:1].ctypes, iv[1:2].ctypes, dv[0:1].ctypes, a.ctypes,
      iv[2:3].ctypes, dv[1:2].ctypes, c.ctypes, iv[3:4].ctypes)


@njit(cache=True, nogil=True)
def _potr(f, uplo, n, a, lda):
    """``dpotrf`` or ``dpotri`` (same signature); returns ``info``."""
    ch = np.empty(1, np.uint8)
    ch[0] = uplo
    iv = np.empty(3, np.int32)
    iv[0], iv[1], iv[2] = n, lda, 0
    f(ch.ctypes, iv[0:1].ctypes, a.ctypes, iv[1:2].ctypes, iv[2:3].ctypes)
    return iv[2]


@njit(cache=True, nogil=True)
def _trsm(f, side, uplo, transa, diag, m, n, alpha, a, lda, b, ldb):
    """``dtrsm``: ``B ← α·B·op(A)⁻¹`` (side R) or ``α·op(A)⁻¹·B``."""
    ch = np.empty(4, np.uint8)
    ch[0], ch[1], ch[2], ch[3] = side, uplo, transa, diag
    iv = np.empty(4, np.int32)
    iv[0], iv[1], iv[2], iv[3] = m, n, lda, ldb
    dv = np.empty(1)
    dv[0] = alpha
    f(ch[0:1].ctypes, ch[1:2].ctypes, ch[2:3].ctypes, ch[3:4].ctypes, iv[0:1].ctypes, iv[1:2].ctypes,
      dv.ctypes, a.ctypes, iv[2:3].ctypes, b.ctypes, iv[3:4].ctypes)


@njit(cache=True, nogil=True)
def _trsv(f, uplo, trans, diag, n, a, lda, x):
    ch = np.empty(3, np.uint8)
    ch[0], ch[1], ch[2] = uplo, trans, diag
    iv = np.empty(3, np.int32)
    iv[0], iv[1], iv[2] = n, lda, 1
    f(ch[0:1].ctypes, ch[1:2].ctypes, ch[2:3].ctypes, iv[0:1].ctypes, a.ctypes, iv[1:2].ctypes, x.ctypes,
      iv[2:3].ctypes)


@njit(cache=True, nogil=True)
def _fro2(X):
    s = 0.0
    for p in range(X.shape[0]):
        for q in range(X.shape[1]):
            s += X[p, q] * X[p, q]
    return s


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _chol_dense(fns, S, r, k, c_tol):
    """Certified inverse of ``S`` by Cholesky (``S`` is overwritten): ``(ok, P, ‖S⁻¹‖_F, rᵀS⁻¹r)``.

    ``P``'s *upper* triangle holds ``S⁻¹`` (``dpotrf`` + ``dpotri``; the lower one is stale).
    ``ok`` only if ``1/‖S⁻¹‖_F > 2·c_tol·k·ε·‖S‖_F``: then ``λ_min ≥ 1/‖S⁻¹‖_F`` exceeds twice the
    §12 cutoff ``c_tol·k·ε·λ_max`` (``λ_max ≤ ‖S‖_F``), so ``S`` has no numerical null space and
    ``S† = S⁻¹``.
    """
    s_f = np.sqrt(_fro2(S))
    if _potr(fns[1], _CH_L, k, S, k) != 0:  # Fortran lower = C upper: S = RᵀR, R upper (C)
        return False, S, 0.0, 0.0
    y = r.copy()
    _trsv(fns[4], _CH_L, _CH_N, _CH_N, k, S, k, y)  # y = R⁻ᵀr, so rᵀS⁻¹r = ‖y‖²
    if _potr(fns[3], _CH_L, k, S, k) != 0:
        return False, S, 0.0, 0.0
    f2 = 0.0
    for p in range(k):
        f2 += S[p, p] * S[p, p]
        for q in range(p + 1, k):
            f2 += 2.0 * S[p, q] * S[p, q]
    pf = np.sqrt(f2)
    if not 1.0 / pf > 2.0 * c_tol * k * EPS * s_f:
        return False, S, 0.0, 0.0
    return True, S, pf, np.dot(y, y)


@njit(cache=True, nogil=True)
def _chol_binary(fns, U, dsq_row, r, k, c_tol):
    """Certified inverse for a binary mask with ``m < k`` zeros (Woodbury).

    ``S = I − BᵀB`` with ``B = U[J]`` (rows at the zeros): ``S⁻¹ = I + BᵀG⁻¹B``, ``G = I_m − BBᵀ``,
    and ``spec(S) = spec(G) ∪ {1}`` with ``G ⪯ I``. With ``G = LLᵀ``, ``W = L⁻¹B``:
    ``S⁻¹ = I + WᵀW``, ``‖S⁻¹‖₂ ≤ max(1, ‖L⁻¹‖_F²)``, ``rᵀS⁻¹r = ‖r‖² + ‖Wr‖²``. Certified
    (``ok``) if ``1/‖L⁻¹‖_F² > 2·c_tol·k·ε`` (``λ_max(S) = 1``). BLAS: ``G`` by ``dsyrk``,
    ``L`` by ``dpotrf``, ``W`` by ``dtrsm``, ``I + WᵀW`` by ``dsyrk``;
    the returned ``P`` holds ``S⁻¹`` in its upper triangle.
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
    G = np.eye(m)
    _syrk(fns[0], _CH_U, _CH_T, m, k, -1.0, B, k, 1.0, G, m)  # C-lower of G = I − BBᵀ
    if _potr(fns[1], _CH_U, m, G, m) != 0:  # C-lower: G = LLᵀ
        return False, P, 0.0, 0.0
    _trsm(fns[2], _CH_R, _CH_U, _CH_N, _CH_N, k, m, 1.0, G, m, B, k)  # B ← W = L⁻¹B
    # ‖L⁻¹‖_F² = tr(G⁻¹) = m + ‖W‖_F² (tr(WᵀW) = tr(G⁻¹BBᵀ) = tr(G⁻¹(I − G))): no explicit L⁻¹
    li2 = m + _fro2(B)
    if not 1.0 / li2 > 2.0 * c_tol * k * EPS:
        return False, P, 0.0, 0.0
    _syrk(fns[0], _CH_L, _CH_N, k, m, 1.0, B, k, 1.0, P, k)  # C-upper of P = I + WᵀW
    yy = 0.0
    for l in range(m):
        s = 0.0
        for p in range(k):
            s += B[l, p] * r[p]
        yy += s * s
    return True, P, max(1.0, li2), rr + yy


@njit(cache=True, nogil=True)
def _write_row(P, v, Lt, k, K):
    """``Lt = [pack₂(P), −2Pv, vᵀPv]`` from the *upper* triangle of the symmetric ``P``."""
    Pv = np.zeros(k)
    s = 0
    for p in range(k):
        vp = v[p]
        d = P[p, p]
        Lt[s] = d
        s += 1
        acc = d * vp
        for q in range(p + 1, k):
            x = P[p, q]
            Lt[s] = x + x
            s += 1
            acc += x * v[q]
            Pv[q] += x * vp
        Pv[p] += acc
    vPv = 0.0
    for p in range(k):
        vPv += v[p] * Pv[p]
        Lt[K + p] = -2.0 * Pv[p]
    Lt[K + k] = vPv


@njit(cache=True, nogil=True)
def _prepare_one(fns, t, row0, U, dsq, gpacked, dense_pos, V, Rres, A, wnorm, fnorm, c_tol, rtol, full, L,
                 pnorm, diagc, unreal):
    """Neuron ``t`` of :func:`prepare_rows`."""
    k = U.shape[1]
    n = A.shape[0]
    K = k * (k + 1) // 2
    pos = dense_pos[t]
    if pos == -2:  # padding row of a chunk: not requested
        return
    r = Rres[t]
    if pos == -3:
        ok, P, pn, dc = _chol_binary(fns, U, dsq[t], r, k, c_tol)
    else:
        ok, P, pn, dc = _chol_dense(fns, _gram_row(gpacked, pos, U, dsq[t], k), r, k, c_tol)
    if ok:
        pnorm[t] = pn
        diagc[t] = dc
        if full:
            _write_row(P, V[t], L[t], k, K)
        return
    # eigen path: rank-deficient or too ill-conditioned to certify (S rebuilt: the Cholesky overwrote it)
    S = _gram_row(gpacked, pos if pos >= 0 else -1, U, dsq[t], k)
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
    nul2 = 0.0
    cost = 0.0
    for l in range(k):
        if l < nnull:
            nul2 += proj[l] * proj[l]
        else:
            cost += proj[l] * proj[l] / lam[l]
    # range test relative to the magnitudes of the rows involved (‖w̃_i‖ + ‖f_i‖), not to an absolute 1
    diagc[t] = np.inf if np.sqrt(nul2) > rtol * (wnorm[row0 + t] + fnorm[t]) else cost
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
            unreal[t, j] = np.sqrt(z2) > rtol * (wnorm[j] + fnorm[t])


@njit(cache=True, nogil=True)
def prepare_rows(fns, t0, t1, row0, U, dsq, gpacked, dense_pos, V, Rres, A, wnorm, fnorm, c_tol, rtol, full,
                 L, pnorm, diagc, unreal):
    """Per-neuron pseudo-inverse, packing, diagonal cost and range tests for rows ``t0..t1−1``.

    Serial and ``nogil``: the caller runs disjoint row ranges in a thread pool (no Numba
    ``prange``: idle OpenMP workers spin and slow down the BLAS calls that follow).

    Inputs (block of ``b`` neurons, global rows ``row0 + t``): ``fns`` from :func:`lapack_fns`;
    ``dsq`` (b, d) squared diagonal operators; ``dense_pos[t]`` selects the path of neuron ``t``:
    ``≥ 0`` dense (packed Gram ``gpacked[dense_pos[t]]``), ``-1`` low-rank update of ``I`` (``m < k``
    entries of ``d²`` differ from 1), ``-3`` the same for a binary mask (Woodbury), ``-2`` padding
    row (skipped, outputs left as given). ``V`` (b, k) projected centers, ``Rres`` (b, k) projected
    trainable parts ``r_i = Uᵀ(w̃_i − f_i)``, ``A`` (n, k) all coefficients, ``wnorm`` (n,) the
    norms ``‖w̃_j‖``, ``fnorm`` (b,) the norms ``‖f_i‖``. Eigen fallback: eigenvalues
    ``≤ c_tol·k·ε·λ_max`` are zero; ``x`` is out of range when its null component exceeds
    ``rtol·(‖w̃_j‖ + ‖f_i‖)``. If ``full``: writes ``L[t] = [pack₂(S†), −2S†v, vᵀS†v]`` and, on
    the eigen path, ``unreal[t, j]`` (left untouched — ``False`` — for full-rank rows); always
    writes ``pnorm[t] ≥ ‖S†‖₂`` (exact on the eigen path, a Frobenius bound on the Cholesky paths)
    and ``diagc[t] = ‖r_i‖²_{S†}`` (``inf`` if ``r_i ∉ range(S_i)``).
    """
    for t in range(t0, t1):
        _prepare_one(fns, t, row0, U, dsq, gpacked, dense_pos, V, Rres, A, wnorm, fnorm, c_tol, rtol, full,
                     L, pnorm, diagc, unreal)


@njit(cache=True, nogil=True)
def pack_rows(j0, j1, A, R):
    """``R[j] = [pack(a_j a_jᵀ), a_j, 1]`` for ``j0 ≤ j < j1`` (the right factor of the GEMM form)."""
    k = A.shape[1]
    K = k * (k + 1) // 2
    for j in range(j0, j1):
        t = 0
        for p in range(k):
            ap = A[j, p]
            for q in range(p, k):
                R[j, t] = ap * A[j, q]
                t += 1
        for p in range(k):
            R[j, K + p] = A[j, p]
        R[j, K + k] = 1.0


@njit(cache=True, nogil=True)
def fix_rows(t0, t1, C, L, pnorm, V, A, anorm, diagc, unreal, row0, gamma, acc):
    """Finish rows ``t0..t1−1`` of a block ``C`` (b, n) of the GEMM-form costs in place.

    ``+inf`` where ``unreal``; the diagonal (global row ``row0 + t``) from ``diagc``; entries whose
    cancellation bound ``gamma·ε·‖S_i†‖·(‖a_j‖ + ‖v_i‖)²`` exceeds ``acc·C`` (or with ``C ≤ 0``)
    are recomputed directly as ``xᵀS_i†x``, ``x = a_j − v_i``, from the packed row ``L[t]``, and so
    are NaN entries (overflow); a recomputed value that overflows is ``+inf``. Serial and
    ``nogil`` (the caller splits rows over a thread pool). Returns the number of recomputed entries.
    """
    n = C.shape[1]
    k = A.shape[1]
    count = 0
    x = np.empty(k)
    for t in range(t0, t1):
        v = V[t]
        vn = 0.0
        for p in range(k):
            vn += v[p] * v[p]
        vn = np.sqrt(vn)
        Lt = L[t]
        gp = gamma * EPS * pnorm[t]
        for j in range(n):
            if j == row0 + t:
                C[t, j] = diagc[t]
                continue
            if unreal[t, j]:
                C[t, j] = np.inf
                continue
            s = anorm[j] + vn
            cij = C[t, j]
            # written so that a NaN (overflow inside the GEMM) is recomputed too
            if not (cij > 0.0) or not (gp * s * s <= acc * cij):
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
