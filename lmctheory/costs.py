"""Realization costs (eq. (10), T-10), swap costs (eq. (14–15)) and relaxed costs (T-E.4).

Notation (THEORY.md §1–2): rows of ``effective`` ``W̃``, ``fixed`` ``F`` and ``diag`` ``D`` are the
neurons; ``U ∈ R^{d×k}`` is the orthonormal support basis; ``a_i = Uᵀw̃_i``, ``v_i = Uᵀf_i``,
``M_i = Uᵀdiag(d_i)``, ``S_i = M_iM_iᵀ``, ``r_i = Uᵀ(w̃_i − f_i)`` (the projected trainable part).

Numerical conventions (THEORY.md §12)
-------------------------------------
*Pseudo-inverse.* ``S_i = QΛQᵀ``; eigenvalues ``λ ≤ tol_i = EIG_TOL_C · k · ε₆₄ · λ_max(S_i)``
(``EIG_TOL_C = 10``; floor ``0``: with ``λ_max = 0`` only eigenvalues ``≤ 0`` — all of them — are
null) are treated as zero; ``S_i† = Σ_{λ>tol} λ⁻¹ q qᵀ``. Fast path: ``S_i`` is first inverted by
Cholesky, and the inverse is used only when it *certifies* full rank under this convention,
``1/‖S_i⁻¹‖_F > 2·tol`` with ``λ_max ≤ ‖S_i‖_F`` (then ``λ_min ≥ 1/‖S_i⁻¹‖_F`` is at least twice the
cutoff, so ``S_i† = S_i⁻¹``); otherwise the eigendecomposition decides.

*Range membership.* ``x = a − v_i`` is unrealizable (cost ``+∞``) when its component in the
numerical null space satisfies ``‖N_iᵀx‖ > rtol · max(1, ‖x‖)`` (default ``rtol = 1e-8``).

*All pairs, GEMM form.* ``C[i,j] = ⟨S_i†, a_ja_jᵀ⟩ − 2v_iᵀS_i†a_j + v_iᵀS_i†v_i`` is one product
``L · Rᵀ`` of ``L[i] = [pack₂(S_i†), −2S_i†v_i, v_iᵀS_i†v_i]`` and ``R[j] = [pack(a_ja_jᵀ), a_j, 1]``
(``pack`` = upper triangle, ``pack₂`` with off-diagonals doubled; inner length
``k(k+1)/2 + k + 1``), computed in row blocks. Its rounding error is bounded by
``err_ij ≈ γ·ε₆₄·‖S_i†‖₂·(‖a_j‖ + ‖v_i‖)²`` (``γ = CANCEL_GAMMA_PER_K · k``, ``CANCEL_GAMMA_PER_K = 4``; measured ratios of the actual error to
``ε₆₄·‖S_i†‖₂·(‖a_j‖ + ‖v_i‖)²`` stay below ``k`` on W-asymmetric, syre, sparse and standard layers);
every entry with ``err_ij > CANCEL_ACC · C[i,j]`` (``CANCEL_ACC = 1e-10``) or ``C[i,j] ≤ 0`` is
recomputed directly as ``xᵀS_i†x`` with ``x = a_j − v_i``. So (under that error model) every finite
off-diagonal entry has relative error ``≲ 1e-10`` plus the error of ``S_i†`` itself
(``≈ ε₆₄·κ(S_i)``, shared with any method). The diagonal ``C[i,i] = Σ_{λ>tol} (q_lᵀr_i)²/λ_l`` is
computed directly from ``r_i = Uᵀ(w̃_i − f_i)`` (no cancellation, even when ``a_i ≈ v_i``).

*Low-rank masks.* If fewer than ``k`` entries of ``d_i²`` differ from 1 (W-asymmetric masks),
``S_i = I + U_Jᵀdiag(d_J² − 1)U_J`` is a low-rank update of the identity: for a binary mask
``S_i⁻¹ = I + U_Jᵀ(I_m − U_JU_Jᵀ)⁻¹U_J`` (Woodbury, an ``m×m`` Cholesky, ``spec(S_i) =
spec(I_m − U_JU_Jᵀ) ∪ {1}``); the eigen fallback uses a thin QR of ``U_Jᵀ`` and an ``m×m``
eigenproblem. The identity ``UᵀU = I`` behind it is used only when ``max|UᵀU − I| ≤ LOWRANK_ORTHO_TOL``
(``1e-12``; :func:`check_basis` admits ``1e-6``), so the low-rank and dense paths agree. Otherwise ``S_i`` is built densely, all rows of a chunk in one GEMM on packed
triangles.

*Determinism.* OpenBLAS results change in the last bit with the matrix shapes and its thread
count, so the work runs on a fixed grid of row chunks and column tiles (independent of ``rows``)
with single-threaded BLAS calls (parallelism: Numba ``prange`` over neurons and a thread pool
over GEMM tiles). Hence ``realization_costs(..., rows=(a, b))`` equals rows ``a..b−1`` of the full
matrix bit for bit, and :func:`self_costs` equals its diagonal bit for bit.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np


from ._validation import MAX_ABS_COSTS, check_array, check_basis, check_int, check_psd, check_scalar
from .gram import _packed_kron, _single_threaded_blas

__all__ = [
    "realization_costs",
    "self_costs",
    "min_norm_weights",
    "swap_costs",
    "relaxed_cost_bound",
    "EIG_TOL_C",
    "CANCEL_GAMMA_PER_K",
    "CANCEL_ACC",
]

EIG_TOL_C = 10.0
CANCEL_GAMMA_PER_K = 4.0
CANCEL_ACC = 1e-10
# the low-rank formula S_i = I + U_Jᵀdiag(d_J² − 1)U_J assumes UᵀU = I; check_basis admits 1e-6, so a
# basis further from orthonormal than this takes the dense path (S_i = Uᵀdiag(d_i²)U exactly as given)
LOWRANK_ORTHO_TOL = 1e-12
_BLOCK_BYTES = 64 * 2**20  # memory budget of one row block of L
#: set to a dict to accumulate per-stage wall times of realization_costs (used by the benchmark)
_PROFILE = None


def _check_layer(effective, fixed, diag, basis):
    U = check_basis(basis, "basis")
    d = U.shape[0]
    E = check_array(effective, "effective", ndim=2, max_abs=MAX_ABS_COSTS)
    F = check_array(fixed, "fixed", ndim=2, max_abs=MAX_ABS_COSTS)
    D = check_array(diag, "diag", ndim=2, max_abs=MAX_ABS_COSTS)
    if E.shape[1] != d:
        raise ValueError(
            f"effective must have shape (n, d) with d = basis.shape[0] = {d}, got {E.shape}"
        )
    for name, X in (("fixed", F), ("diag", D)):
        if X.shape != E.shape:
            raise ValueError(f"{name} must have the same shape as effective {E.shape}, got {X.shape}")
    return E, F, D, U


def _check_rtol(rtol) -> float:
    return check_scalar(rtol, "rtol", low=0.0, low_inclusive=False)


def _check_rows(rows, n: int) -> tuple[int, int]:
    if rows is None:
        return 0, n
    if isinstance(rows, (str, bytes)) or not hasattr(rows, "__len__") or len(rows) != 2:
        raise TypeError(f"rows must be a pair (start, stop) of integers, got {rows!r}")
    start = check_int(rows[0], "rows[0] (start)", low=0, high=n - 1)
    stop = check_int(rows[1], "rows[1] (stop)", low=start + 1, high=n)
    return start, stop


def _row_chunk(k: int) -> int:
    """Rows per chunk of the fixed chunk grid (a function of ``k`` only, see ``_Plan``)."""
    width = k * (k + 1) // 2 + k + 1
    return int(max(16, min(256, _BLOCK_BYTES // (8 * width))))


_COL_TILE = 256  # columns per GEMM tile (fixed grid over 0..n)


class _Plan:
    """Deterministic evaluation plan shared by the full matrix and every ``rows=`` block.

    OpenBLAS results depend (at the last bit) on the matrix shapes and on its thread count. So
    every BLAS call here runs single-threaded (parallelism comes from Numba and from a thread pool
    over GEMM tiles) on a *fixed grid*: row chunks ``[cB, (c+1)B)`` and column tiles of
    ``_COL_TILE``, independent of ``rows``. Rows of a chunk outside the requested range are zero
    (no per-neuron work) — each output entry depends only on its own row and column, so any
    ``rows=`` block equals the same rows of the full matrix bit for bit.
    """

    def __init__(self, E, F, D, U, rtol):
        self.E, self.F, self.D, self.U, self.rtol = E, F, D, U, rtol
        self.n, self.d = E.shape
        self.k = U.shape[1]
        self.K = self.k * (self.k + 1) // 2
        self._Uk = None
        self.lowrank_ok = bool(np.max(np.abs(U.T @ U - np.eye(self.k)), initial=0.0) <= LOWRANK_ORTHO_TOL)
        self.pool = None  # a ThreadPoolExecutor for the per-neuron kernel, set by the caller
        self.n_threads = _n_threads()

    def kron(self):
        if self._Uk is None:
            self._Uk = _packed_kron(self.U)
        return self._Uk

    def prepare(self, c0, c1, lo, hi, full, A):
        """Per-neuron work for rows ``lo..hi−1`` of the chunk ``c0..c1−1``."""
        from .kernels.costs import prepare_rows

        U, k, K = self.U, self.k, self.K
        b = c1 - c0
        sl = slice(lo - c0, hi - c0)
        Fc = np.zeros((b, self.d))
        Rc = np.zeros((b, self.d))
        dsq = np.zeros((b, self.d))
        Fc[sl] = self.F[lo:hi]
        Rc[sl] = self.E[lo:hi] - self.F[lo:hi]
        dsq[sl] = self.D[lo:hi] ** 2
        V = Fc @ U
        Rres = Rc @ U
        # path per neuron: dense (index), low-rank binary (-3), low-rank general (-1), skipped (-2)
        dense_pos = np.full(b, -2, dtype=np.int64)
        off = dsq[sl] != 1.0
        dense = np.count_nonzero(off, axis=1) >= k
        if not self.lowrank_ok:
            dense[:] = True
        binary = ~np.any(off & (dsq[sl] != 0.0), axis=1)
        idx = np.arange(lo - c0, hi - c0)
        dense_pos[idx] = np.where(dense, idx, np.where(binary, -3, -1))
        if dense.any():
            dd = np.zeros_like(dsq)
            dd[idx[dense]] = dsq[idx[dense]]
            gpacked = dd @ self.kron()
        else:
            gpacked = np.zeros((1, K))
        if full:
            L = np.zeros((b, K + k + 1))
            unreal = np.zeros((b, A.shape[0]), dtype=np.bool_)
        else:
            L = np.empty((1, 1))
            unreal = np.empty((1, 1), dtype=np.bool_)
        pnorm = np.zeros(b)
        diagc = np.zeros(b)
        args = (U, dsq, gpacked, dense_pos, V, Rres, A, EIG_TOL_C, self.rtol, full, L, pnorm, diagc,
                unreal)
        todo = np.flatnonzero(dense_pos != -2)
        parts = np.array_split(todo, min(self.n_threads, len(todo))) if len(todo) else []
        ranges = [(int(p[0]), int(p[-1]) + 1) for p in parts if len(p)]
        if self.pool is None or len(ranges) <= 1:
            for a, z in ranges:
                prepare_rows(a, z, *args)
        else:  # disjoint row ranges, nogil kernel
            list(self.pool.map(lambda az: prepare_rows(az[0], az[1], *args), ranges))
        return V, L, pnorm, diagc, unreal


def _n_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def realization_costs(effective, fixed, diag, basis, *, rtol=1e-8, rows=None) -> np.ndarray:
    """All-pairs realization costs ``C[i, j] = R_i(a_j)`` (eq. (10), Lemma C.2; T-10).

    ``R_i(a) = (a − v_i)ᵀ S_i† (a − v_i)`` if ``a − v_i ∈ range(S_i)``, else ``+∞``: the smallest
    squared norm of trainable weights with which neuron ``i`` realizes ``σ(aᵀz)``. Entry ``(i, j)``
    is the cost for neuron ``i`` to take over neuron ``j``'s current function.

    Computed in GEMM form with a direct diagonal and cancellation-guarded recomputation (see the
    module docstring for the tolerances ``EIG_TOL_C``, ``rtol``, ``CANCEL_ACC``).

    Parameters
    ----------
    effective, fixed, diag : array_like, shape (n, d)
        Effective weights ``W̃ = F + D ⊙ W``, fixed centers ``F`` and diagonal operators ``D``.
    basis : array_like, shape (d, k)
        Orthonormal support basis ``U``.
    rtol : float, default 1e-8
        Range-membership tolerance (``> 0``).
    rows : (int, int), optional
        ``(start, stop)``: compute only rows ``start..stop−1`` (per-neuron work only for those
        rows); used by :func:`lmctheory.distributed.realization_costs_distributed`.

    Returns
    -------
    ndarray, shape (stop − start, n)
        Non-negative costs, ``+inf`` where unrealizable.

    Notes
    -----
    Time ``O(n²k²/2)`` at GEMM speed plus ``O(n·(k³ + m k²))`` per-neuron work (``m`` = masked
    entries per row). Memory: the packed right factor ``8·n·(k(k+1)/2 + k + 1)`` bytes (1.1 GB at
    ``n = 4096, k = 256``) plus ≈ 64 MiB per row chunk and the output; the ``k·n²`` difference
    tensor of the straightforward method is never formed. A ``rows=`` block pays the per-neuron
    work of its own rows only (rows of a partly covered chunk are zero-padded, not computed).

    References
    ----------
    [NI] eq. (10), Lemma C.2; docs/theory.md#t-10. Tolerances: docs/theory.md#s-12.

    Examples
    --------
    Neuron 0 has its third input fixed to 2 (``f_0 = (0, 0, 2)``, ``d_0 = (1, 1, 0)``); neuron 1 is standard.
    With the full support ``U = I``, neuron 0 cannot change its third coefficient, so it cannot take over
    neuron 1's function (``+inf``), while neuron 1 can realize anything at the cost ``‖a‖²``:

    >>> import numpy as np
    >>> import lmctheory as lt
    >>> effective = np.array([[1.0, 0.5, 2.0], [0.0, 2.0, 0.0]])
    >>> fixed = np.array([[0.0, 0.0, 2.0], [0.0, 0.0, 0.0]])
    >>> diag = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    >>> print(lt.realization_costs(effective, fixed, diag, np.eye(3)))
    [[1.25  inf]
     [5.25 4.  ]]
    """
    from .kernels.costs import fix_block, pack_outer

    E, F, D, U = _check_layer(effective, fixed, diag, basis)
    rtol = _check_rtol(rtol)
    n = E.shape[0]
    start, stop = _check_rows(rows, n)
    plan = _Plan(E, F, D, U, rtol)
    k, K = plan.k, plan.K
    B = _row_chunk(k)
    gamma = CANCEL_GAMMA_PER_K * k
    out = np.empty((stop - start, n))
    tiles = [(j0, min(n, j0 + _COL_TILE)) for j0 in range(0, n, _COL_TILE)]
    prof = _PROFILE if isinstance(_PROFILE, dict) else None
    clock = time.perf_counter
    t0 = clock()
    with _single_threaded_blas(), ThreadPoolExecutor(plan.n_threads) as pool:
        plan.pool = pool
        A = E @ U
        anorm = np.sqrt(np.einsum("ij,ij->i", A, A))
        R = np.empty((n, K + k + 1))
        pack_outer(A, R)
        R[:, K:K + k] = A
        R[:, K + k] = 1.0
        t_cols = clock() - t0
        t_prep = t_gemm = t_fix = 0.0
        n_fix = 0
        for c0 in range(start - start % B, stop, B):
            c1 = min(n, c0 + B)
            lo, hi = max(c0, start), min(c1, stop)
            t1 = clock()
            V, L, pnorm, diagc, unreal = plan.prepare(c0, c1, lo, hi, True, A)
            Cc = np.empty((c1 - c0, n))

            def tile(jj, L=L, Cc=Cc):
                # overflow here (costs beyond float64) is handled by fix_block: NaN/inf entries are recomputed
                with np.errstate(over="ignore", invalid="ignore"):
                    Cc[:, jj[0]:jj[1]] = L @ R[jj[0]:jj[1]].T

            t2 = clock()
            list(pool.map(tile, tiles))
            t3 = clock()
            sl = slice(lo - c0, hi - c0)
            Cb = np.ascontiguousarray(Cc[sl])
            n_fix += fix_block(Cb, L[sl], pnorm[sl], V[sl], A, anorm, diagc[sl], unreal[sl], lo,
                               gamma, CANCEL_ACC)
            out[lo - start:hi - start] = Cb
            t_prep, t_gemm, t_fix = t_prep + t2 - t1, t_gemm + t3 - t2, t_fix + clock() - t3
    if prof is not None:
        for key, val in (("columns", t_cols), ("per_neuron", t_prep), ("gemm", t_gemm),
                         ("fix", t_fix), ("total", clock() - t0), ("recomputed_entries", n_fix)):
            prof[key] = prof.get(key, 0.0) + val
    _equal_targets_cost_alike(out, E, start)
    return out


def _equal_targets_cost_alike(out, E, start) -> None:
    """``C[i, j] = C[i, i]`` wherever ``w̃_j = w̃_i`` (bitwise, ±0 alike): then ``a_j = a_i`` and the
    costs are equal in exact arithmetic, but the diagonal is computed directly and the off-diagonal
    entry in GEMM form, which differ by rounding; without this identical neurons get a swap cost of
    ±1e-16 instead of 0 (reliability issue). Rows ``start … start + len(out) − 1`` of the full matrix."""
    n = E.shape[0]
    if n < 2:
        return
    rows = np.ascontiguousarray(E + 0.0)  # −0.0 → +0.0
    _, first, inverse, counts = np.unique(rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))),
                                          return_index=True, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    for g in np.flatnonzero(counts > 1):
        members = np.flatnonzero(inverse == g)
        for i in members:
            if start <= i < start + out.shape[0]:
                out[i - start, members] = out[i - start, i]


def self_costs(effective, fixed, diag, basis, *, rtol=1e-8) -> np.ndarray:
    """Self costs ``C[i,i] = R_i(a_i) = ‖r_i‖²_{S_i†}`` (eq. (10), T-10) computed directly.

    ``r_i = a_i − v_i = Uᵀ(w̃_i − f_i) = M_i w_i`` is formed from ``w̃_i − f_i`` (no cancellation
    between ``a_i`` and ``v_i``), and ``‖r‖²_{S†} = Σ_{λ_l>tol} (q_lᵀr)²/λ_l`` is a sum of
    non-negative terms.

    Parameters
    ----------
    effective, fixed, diag : array_like, shape (n, d)
    basis : array_like, shape (d, k)
    rtol : float, default 1e-8
        Range-membership tolerance (``+inf`` if ``r_i`` leaves ``range(S_i)``: an ``effective`` not of the
        form ``F + D ⊙ W``, rounding, or a genuine component of ``r_i`` along an eigenvalue of ``S_i``
        below the §12 cutoff ``10·k·ε₆₄·λ_max``, which counts as null).

    Returns
    -------
    ndarray, shape (n,)
    """
    E, F, D, U = _check_layer(effective, fixed, diag, basis)
    rtol = _check_rtol(rtol)
    n = E.shape[0]
    plan = _Plan(E, F, D, U, rtol)
    B = _row_chunk(plan.k)
    out = np.empty(n)
    # same chunk grid and BLAS mode: equals diag(realization_costs) bit for bit
    with _single_threaded_blas(), ThreadPoolExecutor(plan.n_threads) as pool:
        plan.pool = pool
        for c0 in range(0, n, B):
            c1 = min(n, c0 + B)
            out[c0:c1] = plan.prepare(c0, c1, c0, c1, False, np.zeros((1, plan.k)))[3]
    return out


def _pinv_parts(S: np.ndarray):
    lam, Q = np.linalg.eigh(0.5 * (S + S.T))
    k = S.shape[0]
    tol = EIG_TOL_C * k * np.finfo(np.float64).eps * max(float(lam[-1]), 0.0)
    keep = lam > tol
    return lam, Q, keep


def min_norm_weights(target, fixed_row, diag_row, basis, *, rtol=1e-8) -> np.ndarray:
    """Minimum-norm trainable weights ``w* = M_iᵀ S_i† (a − v_i)`` realizing ``a`` (T-10, Lemma C.2).

    ``w*`` solves ``M_i w = a − v_i`` with the least ``‖w‖₂``, and ``‖w*‖² = R_i(a)``.

    Parameters
    ----------
    target : array_like, shape (k,)
        Target coefficient ``a ∈ R^k``.
    fixed_row, diag_row : array_like, shape (d,)
        Neuron ``i``'s fixed center ``f_i`` and diagonal operator ``d_i``.
    basis : array_like, shape (d, k)
        Orthonormal support basis ``U``.
    rtol : float, default 1e-8
        Range-membership tolerance (module docstring).

    Returns
    -------
    ndarray, shape (d,)

    Raises
    ------
    ValueError
        If ``a − v_i ∉ range(S_i)`` (``R_i(a) = +∞``), or on bad input.
    """
    U = check_basis(basis, "basis")
    d, k = U.shape
    a = check_array(target, "target", shape=(k,), max_abs=MAX_ABS_COSTS)
    f = check_array(fixed_row, "fixed_row", shape=(d,), max_abs=MAX_ABS_COSTS)
    dg = check_array(diag_row, "diag_row", shape=(d,), max_abs=MAX_ABS_COSTS)
    rtol = _check_rtol(rtol)
    M = U.T * dg[None, :]
    c = a - U.T @ f
    lam, Q, keep = _pinv_parts(M @ M.T)
    proj = Q.T @ c
    null = float(np.linalg.norm(proj[~keep]))
    if null > rtol * max(1.0, float(np.linalg.norm(c))):
        raise ValueError(
            "target is not realizable by this neuron: a − v_i has a null-space component "
            f"{null:.3g} > rtol·max(1, ‖a − v_i‖) (R_i(a) = +inf)"
        )
    y = Q[:, keep] @ (proj[keep] / lam[keep])
    return M.T @ y


def swap_costs(costs) -> np.ndarray:
    """Swap costs ``Δ_ij = C[i,j] + C[j,i] − C[i,i] − C[j,j]`` (eq. (14–15), THEORY.md §4).

    The change of the total realization cost when neurons ``i`` and ``j`` exchange functions
    (the transposition ``τ = (i j)``): symmetric, zero diagonal, possibly negative.

    Evaluated as ``(C[i,j] − C[i,i]) + (C[j,i] − C[j,j])``: no intermediate overflows (costs up to
    the float64 maximum are supported), a difference of nearby costs is exact (Sterbenz), and a pair
    whose off-diagonal costs equal the diagonal ones — identical neurons, see
    :func:`realization_costs` — gets exactly ``0``.

    Parameters
    ----------
    costs : array_like, shape (n, n)
        Realization costs ``C`` (non-negative, ``+inf`` allowed), e.g. from
        :func:`realization_costs`; ``n ≥ 2``.

    Returns
    -------
    ndarray, shape (n, n)
        ``+inf`` wherever any of the four terms is ``+inf``; exactly ``0`` on the diagonal.

    Raises
    ------
    ValueError
        If a finite swap cost lies beyond the float64 range (``|Δ_ij| > 1.8e308``; rescale ``costs``).

    References
    ----------
    [NI] eq. (14)–(15); docs/theory.md#eq-14-15. Exact decomposition: [NI] eq. (16), docs/theory.md#t-16.

    Examples
    --------
    >>> import numpy as np
    >>> import lmctheory as lt
    >>> C = np.array([[1.0, 4.0], [2.0, 1.0]])
    >>> print(lt.swap_costs(C))          # Δ_01 = 4 + 2 − 1 − 1
    [[0. 4.]
     [4. 0.]]
    """
    C = check_array(costs, "costs", ndim=2, min_rows=2, allow_nonfinite=True, max_abs=None)
    n = C.shape[0]
    if C.shape != (n, n):
        raise ValueError(f"costs must be square (n, n), got shape {C.shape}")
    if np.isnan(C).any():
        raise ValueError("costs contains NaN; entries must be non-negative or +inf")
    if (C < 0).any():
        raise ValueError(f"costs must be non-negative (or +inf), got minimum {C.min():.3g}")
    dg = np.diag(C).copy()
    bad = ~np.isfinite(C)
    bad = bad | bad.T | ~np.isfinite(dg)[:, None] | ~np.isfinite(dg)[None, :]
    Cf = np.where(bad, 0.0, C)
    dgf = np.where(np.isfinite(dg), dg, 0.0)
    half = Cf - dgf[:, None]  # C[i,j] − C[i,i]: never overflows (both in [0, max])
    with np.errstate(over="ignore"):
        delta = half + half.T  # exactly symmetric (commutative sum)
    over = ~np.isfinite(delta)
    if over.any():
        i, j = np.argwhere(over)[0]
        raise ValueError(f"costs: the swap cost of neurons ({i}, {j}) is beyond the float64 range "
                         f"(C[i,j] − C[i,i] = {half[i, j]:.3g}, C[j,i] − C[j,j] = {half[j, i]:.3g}); "
                         "rescale costs (e.g. divide by a power of two)")
    delta[bad] = np.inf
    np.fill_diagonal(delta, 0.0)
    return delta


def relaxed_cost_bound(target, fixed_row, diag_row, basis, cov_z, gamma, lipschitz=1.0) -> float:
    """Upper bound on the relaxed realization cost (Thm. E.4; T-E.4).

    ``R_i^γ(σ(aᵀz)) ≤ cᵀ (S_i + (γ/L²) Σ_z⁻¹)⁻¹ c`` with ``c = a − v_i``; an equality for σ = identity.
    As ``γ → 0`` it tends to the hard cost ``R_i(a)``, ``+∞`` included (T-E.5).

    Parameters
    ----------
    target : array_like, shape (k,)
        Target coefficient ``a``.
    fixed_row, diag_row : array_like, shape (d,)
        ``f_i`` and ``d_i``.
    basis : array_like, shape (d, k)
        Orthonormal support basis ``U``.
    cov_z : array_like, shape (k, k)
        Second moment ``Σ_z = E[zzᵀ]``, symmetric positive definite.
    gamma : float
        Relaxation ``γ > 0``.
    lipschitz : float, default 1.0
        Lipschitz constant ``L > 0`` of σ.

    Returns
    -------
    float
    """
    U = check_basis(basis, "basis")
    d, k = U.shape
    a = check_array(target, "target", shape=(k,), max_abs=MAX_ABS_COSTS)
    f = check_array(fixed_row, "fixed_row", shape=(d,), max_abs=MAX_ABS_COSTS)
    dg = check_array(diag_row, "diag_row", shape=(d,), max_abs=MAX_ABS_COSTS)
    Sz = check_psd(cov_z, "cov_z", dim=k)
    gamma = check_scalar(gamma, "gamma", low=0.0, low_inclusive=False)
    lipschitz = check_scalar(lipschitz, "lipschitz", low=0.0, low_inclusive=False)
    lz = np.linalg.eigvalsh(Sz)
    if not lz[0] > EIG_TOL_C * k * np.finfo(np.float64).eps * lz[-1]:
        raise ValueError(f"cov_z must be positive definite, smallest eigenvalue {lz[0]:.3g}")
    M = U.T * dg[None, :]
    S = M @ M.T
    c = a - U.T @ f
    t = gamma / lipschitz**2
    Sz_inv = np.linalg.solve(Sz, np.eye(k))
    G = S + t * 0.5 * (Sz_inv + Sz_inv.T)  # symmetric positive definite
    y = np.linalg.solve(G, c)
    return float(c @ y)
