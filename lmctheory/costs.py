"""Realization costs (eq. (10), T-10), swap costs (eq. (14–15)) and relaxed costs (T-E.4).

Notation (docs/theory.md §1–2): rows of ``effective`` ``W̃``, ``fixed`` ``F`` and ``diag`` ``D`` are the
neurons; ``U ∈ R^{d×k}`` is the orthonormal support basis; ``a_i = Uᵀw̃_i``, ``v_i = Uᵀf_i``,
``M_i = Uᵀdiag(d_i)``, ``S_i = M_iM_iᵀ``, ``r_i = Uᵀ(w̃_i − f_i)`` (the projected trainable part).

Numerical conventions (docs/theory.md §12)
-------------------------------------
*Pseudo-inverse.* ``S_i = QΛQᵀ``; eigenvalues ``λ ≤ tol_i = EIG_TOL_C · k · ε₆₄ · λ_max(S_i)``
(``EIG_TOL_C = 10``; floor ``0``: with ``λ_max = 0`` only eigenvalues ``≤ 0`` — all of them — are
null) are treated as zero; ``S_i† = Σ_{λ>tol} λ⁻¹ q qᵀ``. Fast path: ``S_i`` is first inverted by
Cholesky, and the inverse is used only when it *certifies* full rank under this convention,
``1/‖S_i⁻¹‖_F > 2·tol`` with ``λ_max ≤ ‖S_i‖_F`` (then ``λ_min ≥ 1/‖S_i⁻¹‖_F`` is at least twice the
cutoff, so ``S_i† = S_i⁻¹``); otherwise the eigendecomposition decides.

*Range membership.* ``x = a_j − v_i`` is unrealizable (cost ``+∞``) when its component in the
numerical null space satisfies ``‖N_iᵀx‖ > rtol · (‖w̃_j‖ + ‖f_i‖)`` (default ``rtol = 1e-8``;
diagonal: ``x = r_i`` against ``‖w̃_i‖ + ‖f_i‖``). The threshold is relative to the rows involved
— the rounding of ``a_j = Uᵀw̃_j`` and ``v_i = Uᵀf_i`` is ``∝ ε(‖w̃_j‖ + ‖f_i‖)`` — so the
decisions do not depend on the units of the weights, and costs of ``(sW̃, sF)`` are ``s²`` times
those of ``(W̃, F)`` (exactly for ``s`` a power of two). Magnitudes: entries up to
``MAX_ABS_COSTS = 1e50``; the largest entry of ``(W̃, F)`` must be ``0`` or at least
``MIN_SCALE_COSTS = 1e-50`` (``ValueError`` otherwise: the costs would underflow).

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
``S_i⁻¹ = I + WᵀW`` with ``W = L⁻¹U_J``, ``LLᵀ = I_m − U_JU_Jᵀ`` (Woodbury: an ``m×m`` Cholesky,
a triangular solve and a rank-``m`` update, ``spec(S_i) = spec(I_m − U_JU_Jᵀ) ∪ {1}``); a general
low-rank ``S_i`` is formed from the update and factored densely; the eigen fallback rebuilds
``S_i`` and calls ``eigh``. The identity ``UᵀU = I`` behind it is used only when
``max|UᵀU − I| ≤ LOWRANK_ORTHO_TOL`` (``1e-12``; :func:`check_basis` admits ``1e-6``), so the
low-rank and dense paths agree. Otherwise ``S_i`` is built densely, all rows of a chunk in one
GEMM on packed triangles. The per-neuron factorizations call LAPACK/BLAS directly
(``dpotrf``, ``dtrsm``, ``dsyrk``, ``dpotri``, ``dtrsv``; :mod:`lmctheory.kernels.costs`).

*Determinism.* OpenBLAS results change in the last bit with the matrix shapes and its thread
count, so the work runs on a fixed grid of row chunks and column tiles (independent of ``rows``)
with single-threaded BLAS calls (parallelism: one thread pool over neurons, projection tiles and
GEMM tiles, running ``nogil`` Numba kernels and BLAS). Hence ``realization_costs(..., rows=(a, b))``
equals rows ``a..b−1`` of the full matrix bit for bit, and :func:`self_costs` equals its diagonal
bit for bit.

*Torch backend.* ``realization_costs(..., backend="torch", device=...)`` runs the same GEMM form
in PyTorch (float64) on any device (dense Gram GEMM for every neuron, batched certified Cholesky,
``eigh`` fallback, the same range test and recomputation); results equal the NumPy path within
rounding (tested on CPU torch).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np


from ._validation import (
    MAX_ABS_COSTS,
    MIN_SCALE_COSTS,
    check_array,
    check_basis,
    check_int,
    check_layer,
    check_psd,
    check_scalar,
)
from .gram import packed_kron, single_threaded_blas

__all__ = [
    "realization_costs",
    "self_costs",
    "min_norm_weights",
    "swap_costs",
    "relaxed_cost_bound",
    "EIG_TOL_C",
    "CANCEL_GAMMA_PER_K",
    "CANCEL_ACC",
    "MIN_SCALE_COSTS",
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
    # the shared layer checker, plus the lower limit below which the costs (∝ s²) would underflow
    return check_layer(effective, fixed, diag, basis, min_scale=MIN_SCALE_COSTS)


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


_COL_TILE = 512  # columns per GEMM tile (fixed grid over 0..n)
_ROW_TILE = 256  # rows per tile of the projections E U, F U, (E − F) U (fixed grid over 0..n)


def _row_norms(X: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", X, X))


class _Plan:
    """Deterministic evaluation plan shared by the full matrix and every ``rows=`` block.

    OpenBLAS results depend (at the last bit) on the matrix shapes and on its thread count. So
    every BLAS call here runs single-threaded on a *fixed grid* — row chunks ``[cB, (c+1)B)``,
    column tiles of ``_COL_TILE``, projection tiles of ``_ROW_TILE`` rows, all independent of
    ``rows`` — and parallelism comes from one thread pool running single-threaded BLAS calls and
    ``nogil`` Numba kernels on disjoint tiles. Rows of a chunk outside the requested range are zero
    (no per-neuron work) — each output entry depends only on its own row and column, so any
    ``rows=`` block equals the same rows of the full matrix bit for bit.
    """

    def __init__(self, E, F, D, U, rtol, pool, need_coefficients=True):
        from .kernels.costs import lapack_fns

        self.E, self.F, self.D, self.U, self.rtol, self.pool = E, F, D, U, rtol, pool
        self.n, self.d = E.shape
        self.k = U.shape[1]
        self.K = self.k * (self.k + 1) // 2
        self._Uk = None
        self.fns = lapack_fns()
        self.lowrank_ok = bool(np.max(np.abs(U.T @ U - np.eye(self.k)), initial=0.0) <= LOWRANK_ORTHO_TOL)
        self.n_threads = _n_threads()
        n, k = self.n, self.k
        self.A = np.empty((n, k)) if need_coefficients else np.zeros((1, k))
        self.V = np.empty((n, k))
        self.Rr = np.empty((n, k))

        def proj(r0):
            r1 = min(n, r0 + _ROW_TILE)
            if need_coefficients:
                self.A[r0:r1] = E[r0:r1] @ U
            self.V[r0:r1] = F[r0:r1] @ U
            self.Rr[r0:r1] = (E[r0:r1] - F[r0:r1]) @ U  # r_i from w̃_i − f_i: no cancellation a_i − v_i

        self.map(proj, range(0, n, _ROW_TILE))
        self.wnorm = _row_norms(E)
        self.fnorm = _row_norms(F)

    def map(self, fn, items):
        items = list(items)
        if self.pool is None or len(items) <= 1:
            return [fn(x) for x in items]
        return list(self.pool.map(fn, items))

    def ranges(self, todo):
        """Split the sorted indices ``todo`` into contiguous ranges, one per thread."""
        if not len(todo):
            return []
        parts = np.array_split(todo, min(self.n_threads, len(todo)))
        return [(int(p[0]), int(p[-1]) + 1) for p in parts if len(p)]

    def kron(self):
        if self._Uk is None:
            self._Uk = packed_kron(self.U)
        return self._Uk

    def prepare(self, c0, c1, lo, hi, full):
        """Per-neuron work for rows ``lo..hi−1`` of the chunk ``c0..c1−1``."""
        from .kernels.costs import prepare_rows

        k, K, d = self.k, self.K, self.d
        b = c1 - c0
        sl = slice(lo - c0, hi - c0)
        dsq = np.zeros((b, d))
        dsq[sl] = self.D[lo:hi] ** 2
        V = np.zeros((b, k))
        Rres = np.zeros((b, k))
        fnorm = np.zeros(b)
        V[sl], Rres[sl], fnorm[sl] = self.V[lo:hi], self.Rr[lo:hi], self.fnorm[lo:hi]
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
            Uk = self.kron()
            gpacked = np.empty((b, K))

            # fixed column grid of the packed Gram GEMM (a function of K only): 8 equal tiles
            gt = max(256, -(-K // 8))

            def gram_tile(t0):
                gpacked[:, t0:t0 + gt] = dd @ Uk[:, t0:t0 + gt]

            self.map(gram_tile, range(0, K, gt))
        else:
            gpacked = np.zeros((1, K))
        if full:
            L = np.empty((b, K + k + 1))
            L[:lo - c0] = 0.0  # padding rows (their products are discarded)
            L[hi - c0:] = 0.0
            unreal = np.zeros((b, self.n), dtype=np.bool_)
        else:
            L = np.empty((1, 1))
            unreal = np.empty((1, 1), dtype=np.bool_)
        pnorm = np.zeros(b)
        diagc = np.zeros(b)
        args = (c0, self.U, dsq, gpacked, dense_pos, V, Rres, self.A, self.wnorm, fnorm, EIG_TOL_C, self.rtol,
                full, L, pnorm, diagc, unreal)
        fns = self.fns
        self.map(lambda az: prepare_rows(fns, az[0], az[1], *args), self.ranges(np.flatnonzero(dense_pos != -2)))
        return V, L, pnorm, diagc, unreal


def _n_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def realization_costs(effective, fixed, diag, basis, *, rtol=1e-8, rows=None, backend="numpy",
                      device=None):
    """All-pairs realization costs ``C[i, j] = R_i(a_j)`` (eq. (10), Lemma C.2; T-10).

    ``R_i(a) = (a − v_i)ᵀ S_i† (a − v_i)`` if ``a − v_i ∈ range(S_i)``, else ``+∞``: the smallest
    squared norm of trainable weights with which neuron ``i`` realizes ``σ(aᵀz)``. Entry ``(i, j)``
    is the cost for neuron ``i`` to take over neuron ``j``'s current function.

    Computed in GEMM form with a direct diagonal and cancellation-guarded recomputation (see the
    module docstring for the tolerances ``EIG_TOL_C``, ``rtol``, ``CANCEL_ACC``). Scaling ``effective``
    and ``fixed`` by ``s`` scales every cost by exactly ``s²`` when ``s`` is a power of two (within
    rounding otherwise): every decision (range test, cutoffs, recomputation) is relative.

    Parameters
    ----------
    effective, fixed, diag : array_like, shape (n, d)
        Effective weights ``W̃ = F + D ⊙ W``, fixed centers ``F`` and diagonal operators ``D``.
        Entries up to ``MAX_ABS_COSTS = 1e50`` in magnitude; the largest entry of ``(effective,
        fixed)`` must be ``0`` or at least ``MIN_SCALE_COSTS = 1e-50``.
    basis : array_like, shape (d, k)
        Orthonormal support basis ``U``.
    rtol : float, default 1e-8
        Range-membership tolerance (``> 0``): ``x = a_j − v_i`` is out of ``range(S_i)`` when its
        component in the numerical null space exceeds ``rtol·(‖w̃_j‖ + ‖f_i‖)``.
    rows : (int, int), optional
        ``(start, stop)``: compute only rows ``start..stop−1`` (per-neuron work only for those
        rows); used by :func:`lmctheory.distributed.realization_costs_distributed`.
    backend : {"numpy", "torch"}, default "numpy"
        ``"torch"`` runs the same packed GEMM form in PyTorch (float64) on ``device`` — a GPU if you
        have one. Same tolerances and results within rounding; ``rows=`` blocks equal the full matrix
        within rounding (bit for bit only on the NumPy backend).
    device : str or torch.device, optional
        Torch device for ``backend="torch"`` (default ``"cpu"``); ignored by the NumPy backend.

    Returns
    -------
    ndarray, shape (stop − start, n)
        Non-negative costs, ``+inf`` where unrealizable (a NumPy array on both backends).

    Raises
    ------
    ValueError
        On bad shapes, non-finite entries, magnitudes outside ``[MIN_SCALE_COSTS, MAX_ABS_COSTS]``,
        a non-orthonormal basis, ``rtol ≤ 0`` or bad ``rows``; an unknown ``backend``.

    Notes
    -----
    Time ``O(n²k²/2)`` at GEMM speed plus ``O(n·(k³ + m k²))`` per-neuron work (``m`` = masked
    entries per row; the dense-mask case adds the ``(n × d)·(d × k(k+1)/2)`` Gram GEMM). Memory: the
    packed right factor ``8·n·(k(k+1)/2 + k + 1)`` bytes (1.1 GB at ``n = 4096, k = 256``) plus
    ≈ 64 MiB per row chunk and the output; the ``k·n²`` difference tensor of the straightforward
    method is never formed. A ``rows=`` block pays the per-neuron work of its own rows only.

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

    Costs do not depend on the units of the weights (scaling ``effective`` and ``fixed`` by ``s`` scales every
    cost by ``s²``), and the torch backend computes the same numbers:

    >>> from lmctheory.synthetic import asymmetric_layer, random_basis
    >>> lay = asymmetric_layer(6, 10, "wasym", seed=0)
    >>> U = random_basis(10, 3, seed=1)
    >>> C = lt.realization_costs(lay.effective, lay.fixed, lay.diag, U)
    >>> C.shape
    (6, 6)
    >>> bool(np.array_equal(lt.realization_costs(4 * lay.effective, 4 * lay.fixed, lay.diag, U), 16 * C))
    True
    >>> Ct = lt.realization_costs(lay.effective, lay.fixed, lay.diag, U, backend="torch", device="cpu")
    >>> bool(np.allclose(Ct, C, rtol=1e-12, atol=0))
    True
    """
    if not isinstance(backend, str) or backend not in ("numpy", "torch"):
        raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")
    if device is not None and backend != "torch":
        raise ValueError(f"device is used only with backend='torch', got device={device!r} with backend={backend!r}")
    E, F, D, U = _check_layer(effective, fixed, diag, basis)
    rtol = _check_rtol(rtol)
    n = E.shape[0]
    start, stop = _check_rows(rows, n)
    if backend == "torch":
        return _realization_costs_torch(E, F, D, U, rtol, start, stop, device)
    return _realization_costs_numpy(E, F, D, U, rtol, start, stop)


def _torch_device(device):
    import torch

    if device is None:
        return torch.device("cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must name a torch device (e.g. 'cpu', 'cuda', 'cuda:1', 'mps'), got {device!r}") from exc


def _realization_costs_torch(E, F, D, U, rtol, start, stop, device):
    """The NumPy path's GEMM form in PyTorch (float64) on ``device``: same formula and tolerances.

    Every ``S_i`` comes from the packed Gram GEMM (no low-rank special case: on an accelerator the
    GEMM is cheaper than the bookkeeping); certified batched Cholesky (``1/‖S⁻¹‖_F > 2·c·k·ε·‖S‖_F``),
    eigen fallback with the §12 cutoff for the rest; ``L·Rᵀ`` per row chunk; diagonal, range test
    and cancellation-guarded recomputation as in :func:`fix_rows`.
    """
    import torch

    dev = _torch_device(device)
    f64 = torch.float64

    def tt(x):
        return torch.as_tensor(x, dtype=f64, device=dev)

    Et, Ft, Dt, Ut = tt(E), tt(F), tt(D), tt(U)
    n = E.shape[0]
    k = U.shape[1]
    eps = float(np.finfo(np.float64).eps)
    gamma = CANCEL_GAMMA_PER_K * k
    iu0, iu1 = torch.triu_indices(k, k, device=dev)
    dbl = torch.where(iu0 == iu1, 1.0, 2.0).to(f64)
    A = Et @ Ut
    wn = torch.linalg.vector_norm(Et, dim=1)
    fn_all = torch.linalg.vector_norm(Ft, dim=1)
    an = torch.linalg.vector_norm(A, dim=1)
    R = torch.cat([A[:, iu0] * A[:, iu1], A, torch.ones((n, 1), dtype=f64, device=dev)], dim=1)
    Uk = Ut[:, iu0] * Ut[:, iu1]  # d × K
    out = np.empty((stop - start, n))
    B = _row_chunk(k)
    sub = max(1, int(2**24 // max(1, n * k)))  # rows per batch of (n × k) temporaries
    for c0 in range(start, stop, B):
        c1 = min(stop, c0 + B)
        b = c1 - c0
        V = Ft[c0:c1] @ Ut
        r = (Et[c0:c1] - Ft[c0:c1]) @ Ut
        fn = fn_all[c0:c1]
        Sp = (Dt[c0:c1] ** 2) @ Uk
        S = torch.zeros((b, k, k), dtype=f64, device=dev)
        S[:, iu0, iu1] = Sp
        S[:, iu1, iu0] = Sp
        Lc, info = torch.linalg.cholesky_ex(S)
        # failed factors are replaced by I (those rows take the eigen path below)
        Lc = torch.where((info == 0).view(b, 1, 1), Lc, torch.eye(k, dtype=f64, device=dev))
        P = torch.cholesky_inverse(Lc)
        pf = torch.linalg.matrix_norm(P)
        ok = (info == 0) & torch.isfinite(pf) & (1.0 / pf > 2.0 * EIG_TOL_C * k * eps * torch.linalg.matrix_norm(S))
        y = torch.linalg.solve_triangular(Lc, r.unsqueeze(-1), upper=False).squeeze(-1)
        diagc = torch.where(ok, (y * y).sum(1), torch.zeros((), dtype=f64, device=dev))
        pnorm = torch.where(ok, pf, torch.zeros((), dtype=f64, device=dev))
        unreal = torch.zeros((b, n), dtype=torch.bool, device=dev)
        bad = torch.nonzero(~ok).flatten()
        if bad.numel():  # eigen path: rank-deficient or too ill-conditioned to certify
            lam, Q = torch.linalg.eigh(S[bad])
            tol = EIG_TOL_C * k * eps * torch.clamp(lam[:, -1:], min=0.0)
            keep = lam > tol
            inv = torch.where(keep, 1.0 / torch.where(keep, lam, torch.ones_like(lam)), torch.zeros_like(lam))
            P[bad] = (Q * inv.unsqueeze(1)) @ Q.transpose(1, 2)
            pnorm[bad] = inv.max(dim=1).values
            proj = (Q.transpose(1, 2) @ r[bad].unsqueeze(-1)).squeeze(-1)
            nul = torch.sqrt(torch.where(keep, 0.0, proj * proj).sum(1))
            cost = (proj * proj * inv).sum(1)
            diagc[bad] = torch.where(nul > rtol * (wn[c0 + bad] + fn[bad]), torch.inf, cost)
            for s0 in range(0, bad.numel(), sub):
                bb = bad[s0:s0 + sub]
                kb = keep[s0:s0 + sub]
                Z = (A.unsqueeze(0) - V[bb].unsqueeze(1)) @ Q[s0:s0 + sub]  # (r, n, k)
                z = torch.sqrt(torch.where(kb.unsqueeze(1), 0.0, Z * Z).sum(2))
                unreal[bb] = z > rtol * (wn.unsqueeze(0) + fn[bb].unsqueeze(1))
        Pv = (P @ V.unsqueeze(-1)).squeeze(-1)
        Lrow = torch.cat([P[:, iu0, iu1] * dbl, -2.0 * Pv, (V * Pv).sum(1, keepdim=True)], dim=1)
        C = Lrow @ R.T
        vn = torch.linalg.vector_norm(V, dim=1)
        bound = gamma * eps * pnorm.unsqueeze(1) * (an.unsqueeze(0) + vn.unsqueeze(1)) ** 2
        flag = ~(C > 0.0) | ~(bound <= CANCEL_ACC * C)
        rows_b = torch.arange(b, device=dev)
        flag[rows_b, c0 + rows_b] = False
        flag &= ~unreal
        redo = torch.nonzero(flag.any(dim=1)).flatten()
        for s0 in range(0, redo.numel(), sub):
            rr = redo[s0:s0 + sub]
            X = A.unsqueeze(0) - V[rr].unsqueeze(1)  # (r, n, k)
            direct = ((X @ P[rr]) * X).sum(2)
            direct = torch.where(torch.isnan(direct), torch.inf, torch.clamp(direct, min=0.0))
            C[rr] = torch.where(flag[rr], direct, C[rr])
        C[unreal] = torch.inf
        C[rows_b, c0 + rows_b] = diagc
        out[c0 - start:c1 - start] = C.cpu().numpy()
    return out


def _realization_costs_numpy(E, F, D, U, rtol, start, stop):
    from .kernels.costs import fix_rows, pack_rows

    n = E.shape[0]
    prof = _PROFILE if isinstance(_PROFILE, dict) else None
    clock = time.perf_counter
    t0 = clock()
    with single_threaded_blas(), ThreadPoolExecutor(_n_threads()) as pool:
        plan = _Plan(E, F, D, U, rtol, pool)
        k, K = plan.k, plan.K
        B = _row_chunk(k)
        gamma = CANCEL_GAMMA_PER_K * k
        out = np.empty((stop - start, n))
        tiles = [(j0, min(n, j0 + _COL_TILE)) for j0 in range(0, n, _COL_TILE)]
        A = plan.A
        anorm = _row_norms(A)
        R = np.empty((n, K + k + 1))
        plan.map(lambda jj: pack_rows(jj[0], jj[1], A, R), plan.ranges(np.arange(n)))
        t_cols = clock() - t0
        t_prep = t_gemm = t_fix = 0.0
        n_fix = 0
        for c0 in range(start - start % B, stop, B):
            c1 = min(n, c0 + B)
            lo, hi = max(c0, start), min(c1, stop)
            t1 = clock()
            V, L, pnorm, diagc, unreal = plan.prepare(c0, c1, lo, hi, True)
            Cc = np.empty((c1 - c0, n))

            def tile(jj, L=L, Cc=Cc):
                # overflow here (costs beyond float64) is handled by fix_rows: NaN/inf entries are recomputed
                with np.errstate(over="ignore", invalid="ignore"):
                    Cc[:, jj[0]:jj[1]] = L @ R[jj[0]:jj[1]].T

            t2 = clock()
            plan.map(tile, tiles)
            t3 = clock()
            Cb = Cc[lo - c0:hi - c0]
            args = (Cb, L[lo - c0:hi - c0], pnorm[lo - c0:hi - c0], V[lo - c0:hi - c0], A, anorm,
                    diagc[lo - c0:hi - c0], unreal[lo - c0:hi - c0], lo, gamma, CANCEL_ACC)
            n_fix += sum(plan.map(lambda az: fix_rows(az[0], az[1], *args), plan.ranges(np.arange(hi - lo))))
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
        Range-membership tolerance (``+inf`` if the component of ``r_i`` outside ``range(S_i)``
        exceeds ``rtol·(‖w̃_i‖ + ‖f_i‖)``: an ``effective`` not of the form ``F + D ⊙ W``, rounding, or
        a genuine component of ``r_i`` along an eigenvalue of ``S_i`` below the §12 cutoff
        ``10·k·ε₆₄·λ_max``, which counts as null).

    Returns
    -------
    ndarray, shape (n,)
        Equal bit for bit to the diagonal of :func:`realization_costs` (NumPy backend).

    References
    ----------
    [NI] eq. (10); docs/theory.md T-10.

    Examples
    --------
    >>> import numpy as np
    >>> from lmctheory.costs import realization_costs, self_costs
    >>> from lmctheory.synthetic import asymmetric_layer, random_basis
    >>> lay = asymmetric_layer(5, 8, "wasym", seed=0)
    >>> U = random_basis(8, 3, seed=1)
    >>> c = self_costs(lay.effective, lay.fixed, lay.diag, U)
    >>> bool(np.array_equal(c, np.diag(realization_costs(lay.effective, lay.fixed, lay.diag, U))))
    True
    """
    E, F, D, U = _check_layer(effective, fixed, diag, basis)
    rtol = _check_rtol(rtol)
    n = E.shape[0]
    out = np.empty(n)
    # same chunk grid and BLAS mode: equals diag(realization_costs) bit for bit
    with single_threaded_blas(), ThreadPoolExecutor(_n_threads()) as pool:
        plan = _Plan(E, F, D, U, rtol, pool, need_coefficients=False)
        B = _row_chunk(plan.k)
        for c0 in range(0, n, B):
            c1 = min(n, c0 + B)
            out[c0:c1] = plan.prepare(c0, c1, c0, c1, False)[3]
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
        Range-membership tolerance: ``a − v_i`` is out of range when its null-space component exceeds
        ``rtol·(‖a‖ + ‖f_i‖)`` (as in :func:`realization_costs`, with ``‖a‖ ≤ ‖w̃_j‖`` for ``a = Uᵀw̃_j``).

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
    if null > rtol * (float(np.linalg.norm(a)) + float(np.linalg.norm(f))):
        raise ValueError(
            "target is not realizable by this neuron: a − v_i has a null-space component "
            f"{null:.3g} > rtol·(‖a‖ + ‖f_i‖) (R_i(a) = +inf)"
        )
    y = Q[:, keep] @ (proj[keep] / lam[keep])
    return M.T @ y


def swap_costs(costs) -> np.ndarray:
    """Swap costs ``Δ_ij = C[i,j] + C[j,i] − C[i,i] − C[j,j]`` (eq. (14–15), docs/theory.md §4).

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
