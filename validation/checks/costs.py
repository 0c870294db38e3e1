"""§1–3 of docs/theory.md: Gram matrices, realizable sets, realization costs (T-4.2, T-10, T-4.3) and the
coherence ν(U) of eq. 11. Mirrors ``validation/test_thm_costs.py``."""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg

from .common import fail


def ref_grams(diag, basis):
    """``S_i = Σ_j d_ij² u_j u_jᵀ`` by an explicit sum (eq. 9)."""
    D = np.asarray(diag, float)
    U = np.asarray(basis, float)
    return np.einsum("nj,ja,jb->nab", D * D, U, U)


def proj_matrix(diag_row, basis):
    """``M_i = Uᵀ diag(d_i)`` (k×d)."""
    return np.asarray(basis, float).T * np.asarray(diag_row, float)[None, :]


def ref_min_norm(M, c):
    """Minimum-norm solution of ``M w = c`` by SVD least squares; returns ``(w, residual)``. Singular values
    ``≤ 10·max(M.shape)·ε·σ_max`` count as zero (LAPACK's default ``ε·σ_max`` keeps rounding-level ones such as
    2.7e-16·σ_max, and dividing by them adds O(1) spurious weight; found by the thorough profile)."""
    w, *_ = scipy.linalg.lstsq(M, c, cond=10 * max(M.shape) * np.finfo(float).eps, lapack_driver="gelsd")
    return w, float(np.linalg.norm(M @ w - c))


def ref_cost_matrix(effective, fixed, diag, basis, rtol=1e-8):
    """``C[i,j] = R_i(a_j)`` via the minimum-norm solve of ``M_i w = a_j − v_i`` (lstsq, T-10):
    ``‖w‖²`` when the residual is ``≤ rtol·(‖w̃_j‖ + ‖f_i‖)`` (the package's scale-relative rule, so the reference
    scales with the units of the weights too), else ``+inf``."""
    E, F, D, U = (np.asarray(x, float) for x in (effective, fixed, diag, basis))
    A = E @ U
    V = F @ U
    n = E.shape[0]
    C = np.empty((n, n))
    for i in range(n):
        M = proj_matrix(D[i], U)
        # one SVD per neuron, applied to all targets
        Uu, s, Vt = np.linalg.svd(M, full_matrices=False)
        keep = s > max(M.shape) * np.finfo(float).eps * (s[0] if s.size else 0.0) * 10
        Ck = (A - V[i]).T  # k × n
        y = Uu[:, keep].T @ Ck
        W = Vt[keep].T @ (y / s[keep, None])
        resid = np.linalg.norm(M @ W - Ck, axis=0)
        scale = np.linalg.norm(E, axis=1) + np.linalg.norm(F[i])
        C[i] = np.where(resid <= rtol * scale, np.sum(W * W, axis=0), np.inf)
    return C


def null_component(diag_row, basis, c):
    """Relative size of the component of ``c`` outside ``range(S_i)`` (for ambiguity filters)."""
    M = proj_matrix(diag_row, basis)
    Uu, s, _ = np.linalg.svd(M, full_matrices=True)
    r = int(np.sum(s > 10 * max(M.shape) * np.finfo(float).eps * (s[0] if s.size else 0.0)))
    return float(np.linalg.norm(Uu[:, r:].T @ c)) / max(1.0, float(np.linalg.norm(c)))


def spectrum_well_separated(diag, basis, gap=1e-6, zero=1e-11):
    """True if every Gram eigenvalue is either ``≤ zero·λ_max`` or ``≥ gap·λ_max`` (numerical rank
    unambiguous)."""
    lam = np.linalg.eigvalsh(ref_grams(diag, basis))
    lmax = np.maximum(lam[:, -1:], 1e-300)
    rel = lam / lmax
    return bool(np.all((rel <= zero) | (rel >= gap)))


def check_grams(tid, gram_fn, diag, basis, *, rtol=1e-10):
    """``gram_fn(diag, basis)`` equals ``Σ_j d_ij² u_j u_jᵀ`` to ``rtol·max(1, max|S|)`` (eq. 9)."""
    S = np.asarray(gram_fn(diag, basis), float)
    R = ref_grams(diag, basis)
    if S.shape != R.shape:
        fail(tid, f"gram matrices have shape {S.shape}, expected {R.shape}")
    err = float(np.max(np.abs(S - R))) / max(1.0, float(np.max(np.abs(R))))
    if err > rtol:
        fail(tid, f"gram matrices differ from Σ_j d_ij² u_j u_jᵀ by {err:.3g} (rtol {rtol:g})")
    return err


def check_realizable_set(cost_fn, inst, rng, *, rtol=1e-7):
    """T-4.2: the coefficients neuron ``i`` realizes form ``v_i + range(S_i)`` of dimension
    ``rank(S_i) = rank(M_i)``.

    For every neuron: (a) ``a = v_i + M_i w`` (random ``w``) is realizable, at cost ``≤ ‖w‖²``
    (``(1+1e-9)`` slack) and ``= ‖P_{row(M_i)} w‖²`` to ``rtol``; (b) when ``rank(S_i) < k``, ``v_i``
    plus a unit null direction of ``S_i`` is *not* realizable (``cost_fn`` returns ``+inf``); (c) when
    every ``S_i`` has full rank, random ``a`` are all realizable. ``cost_fn`` has the signature of
    ``realization_costs``. Returns ``(max dim error, number of rank-deficient neurons)``.
    """
    tid = "T-4.2"
    E, F, D, U = inst.effective, inst.fixed, inst.diag, inst.basis
    n, d = E.shape
    k = U.shape[1]
    V = F @ U
    S = ref_grams(D, U)
    W = rng.standard_normal((n, d))
    T = V + (W * D) @ U  # a_i = v_i + M_i w_i
    C = np.asarray(cost_fn(T @ U.T + F - F @ U @ U.T, F, D, U), float)
    # (the effective rows T@Uᵀ + (I−UUᵀ)f_i have projection T and the right projected center)
    deficient = 0
    for i in range(n):
        M = proj_matrix(D[i], U)
        s = np.linalg.svd(M, compute_uv=False)
        tol = 10 * max(M.shape) * np.finfo(float).eps * max(s[0] if s.size else 0.0, 1e-300)
        rank_M = int(np.sum(s > tol))
        lam = np.linalg.eigvalsh(S[i])
        rank_S = int(np.sum(lam > 10 * k * np.finfo(float).eps * max(lam[-1], 1e-300)))
        if rank_M != rank_S:
            fail(tid, f"neuron {i}: rank(M_i)={rank_M} but rank(S_i)={rank_S}")
        if not np.isfinite(C[i, i]):
            fail(tid, f"neuron {i}: a = v_i + M_i w is realizable but cost is {C[i, i]}")
        w_row, _ = ref_min_norm(M, M @ W[i])
        want = float(w_row @ w_row)
        if C[i, i] > float(W[i] @ W[i]) * (1 + 1e-9) + 1e-12 or abs(C[i, i] - want) > rtol * max(1.0, want):
            fail(tid, f"neuron {i}: cost of v_i + M_i w is {C[i, i]:.6g}, expected ‖P w‖² = {want:.6g} ≤ ‖w‖² = {W[i] @ W[i]:.6g}")
        if rank_S < k:
            deficient += 1
    if deficient:
        # (b) a null direction of S_i added to v_i must be unrealizable
        T2 = V.copy()
        has_null = np.zeros(n, bool)
        for i in range(n):
            lam, Q = np.linalg.eigh(S[i])
            null = lam <= 10 * k * np.finfo(float).eps * max(lam[-1], 1e-300)
            if null.any():
                T2[i] = V[i] + Q[:, np.argmax(null)]
                has_null[i] = True
        C2 = np.asarray(cost_fn(T2 @ U.T + F - F @ U @ U.T, F, D, U), float)
        for i in np.flatnonzero(has_null):
            if np.isfinite(C2[i, i]):
                fail(tid, f"neuron {i}: v_i + (null direction of S_i) is outside v_i + range(S_i) but cost is {C2[i, i]:.6g}, not +inf")
    else:
        # (c) every S_i full rank: every coefficient is realizable (eq. 7)
        T3 = rng.standard_normal((n, k)) * 3.0
        C3 = np.asarray(cost_fn(T3 @ U.T + F - F @ U @ U.T, F, D, U), float)
        if not np.all(np.isfinite(C3)):
            fail(tid, "all S_i have full rank, yet some coefficient is reported unrealizable")
    return deficient


def check_identifiability(coef_fn, weight, basis, rng, *, activation="relu", n_samples=400, noise=1e-6,
                          level=1e-9):
    """T-4.2 (uniqueness part): on a support with interior (``x = Uz``, ``z ~ N(0, I_k)``) the function
    ``x ↦ σ(w̃ᵀx)`` determines the coefficient, and it is ``coef_fn(w̃[None], U)[0]`` (the package's
    ``induced_coefficients``, ``a = Uᵀw̃``).

    (a) The coefficient is recovered from *noisy* function values ``y = σ(w̃ᵀUz) + noise·s·ξ`` (``s = ‖a‖``,
    ``ξ ~ N(0, 1)``) by least squares — ReLU: on the samples with ``y > 8·noise·s`` (active beyond doubt);
    tanh: ``(1 − y²)·artanh(y) = (1 − y²)·zᵀa + noise·s·ξ`` to first order, on ``|y| < 0.9`` — and the package's
    coefficient must lie in the ``1 − level`` confidence ellipsoid of the fit:
    ``(â − a)ᵀZᵀZ(â − a)/(noise·s)² ≤ χ²_k(1 − level)`` (exact for the ReLU fit, first order for tanh).
    (b) Weights that differ only off the support, ``w̃ + (I − UUᵀ)ξ``, compute the same function on the support
    and must get the same coefficient (``1e-12`` relative). Fails if fewer than ``2k`` samples are usable.
    Returns ``(â − a)ᵀZᵀZ(â − a)/(noise·s)² / χ²_k(1 − level)`` (≤ 1 when the check passes)."""
    import scipy.stats

    tid = "T-4.2"
    U = np.asarray(basis, float)
    w = np.asarray(weight, float)
    d, k = U.shape
    a = np.asarray(coef_fn(w[None, :], U), float).reshape(-1)
    if a.shape != (k,):
        fail(tid, f"coefficient has shape {a.shape}, expected ({k},)")
    xi = rng.standard_normal(d)
    a2 = np.asarray(coef_fn((w + xi - U @ (U.T @ xi))[None, :], U), float).reshape(-1)
    if np.linalg.norm(a2 - a) > 1e-12 * max(1.0, float(np.linalg.norm(w) + np.linalg.norm(xi))):
        fail(tid, f"weights equal on the support give different coefficients: {a} vs {a2}")
    Z = rng.standard_normal((n_samples, k))
    pre = (Z @ U.T) @ w  # the function of the weights themselves, evaluated on x = Uz
    s = max(float(np.linalg.norm(U.T @ w)), 1e-300)
    sig = noise * s
    if activation == "relu":
        y = np.maximum(pre, 0.0) + sig * rng.standard_normal(n_samples)
        use = y > 8 * sig
        A_, b_ = Z[use], y[use]
    elif activation == "tanh":
        y = np.tanh(pre) + sig * rng.standard_normal(n_samples)
        use = np.abs(y) < 0.9
        wt = 1 - y[use] ** 2
        A_, b_ = Z[use] * wt[:, None], wt * np.arctanh(y[use])
    else:
        raise ValueError(f"activation must be 'relu' or 'tanh', got {activation!r}")
    if use.sum() < 2 * k:
        fail(tid, f"only {int(use.sum())} usable samples for k = {k}: the support has no interior here")
    a_hat = scipy.linalg.lstsq(A_, b_)[0]
    e = a_hat - a
    stat = float(e @ (A_.T @ A_) @ e) / sig**2
    thr = float(scipy.stats.chi2.isf(level, k))
    if stat > thr:
        fail(tid, f"the coefficient {a} is not what the function determines: least squares on noisy values "
                  f"gives {a_hat} (χ² = {stat:.3g} > {thr:.3g})")
    return stat / thr


def check_realization_costs(cost_fn, inst, *, rtol=1e-8, value_rtol=1e-10, cancel_c=100.0):
    """T-10: ``cost_fn(effective, fixed, diag, basis)`` equals the independent minimum-norm solve
    (``scipy.linalg.lstsq`` of ``M_i w = a_j − v_i``): same ``+inf`` pattern (range membership at
    relative residual ``rtol``) and finite values equal to

        |C − C_ref| ≤ value_rtol·C_ref + cancel_c·ε·(k·κ(S_i)·C_ref + ‖S_i†‖·‖a_j − v_i‖·(‖a_j‖ + ‖v_i‖))
                      + cancel_c·ε²·‖S_i†‖·(‖a_j‖ + ‖v_i‖)²,

    the rounding of a direct evaluation ``xᵀS_i†x`` of ``x = a_j − v_i`` (docs/theory.md §12): the error of
    ``S_i†`` (relative ``ε·κ``) and of forming ``x`` from ``a_j`` and ``v_i`` (absolute ``ε(‖a_j‖ + ‖v_i‖)``).
    It is *not* the error of the expanded GEMM form ``γ·ε·‖S_i†‖(‖a_j‖ + ‖v_i‖)²``: that form loses all digits
    when ``‖a_j − v_i‖ ≪ ‖v_i‖`` (shared centers) and the package must recompute those entries
    (``CANCEL_ACC``); without the recompute this check fails on :func:`strategies.shared_center_layers`
    by factors 10²–10⁶. Measured worst ``|C − C_ref| / allowance`` of the package: 0.29 (300 mixed layers).
    Returns the worst ``|C − C_ref| / allowance``."""
    tid = "T-10"
    E, F, D, U = inst.effective, inst.fixed, inst.diag, inst.basis
    C = np.asarray(cost_fn(E, F, D, U), float)
    R = ref_cost_matrix(E, F, D, U, rtol=rtol)
    if C.shape != R.shape:
        fail(tid, f"cost matrix has shape {C.shape}, expected {R.shape}")
    finite = np.isfinite(R)
    if not np.array_equal(np.isfinite(C), finite):
        i, j = np.argwhere(np.isfinite(C) != finite)[0]
        fail(tid, f"C[{i},{j}] = {C[i, j]:.6g} but the minimum-norm solve gives {R[i, j]:.6g} (range membership differs)")
    eps = np.finfo(float).eps
    k = U.shape[1]
    A = E @ U
    V = F @ U
    lam = np.linalg.eigvalsh(ref_grams(D, U))
    pinv_norm = np.zeros(len(lam))
    kappa = np.zeros(len(lam))
    for i, l in enumerate(lam):
        if l[-1] > 0:
            lmin = np.min(l[l > 10 * k * eps * l[-1]])
            pinv_norm[i], kappa[i] = 1.0 / lmin, l[-1] / lmin
    an = np.linalg.norm(A, axis=1)[None, :]
    vn = np.linalg.norm(V, axis=1)[:, None]
    xn = np.linalg.norm(A[None, :, :] - V[:, None, :], axis=2)
    Rf = np.where(finite, R, 0.0)
    allow = (value_rtol * Rf + cancel_c * eps * (k * kappa[:, None] * Rf + pinv_norm[:, None] * xn * (an + vn))
             + cancel_c * eps**2 * pinv_norm[:, None] * (an + vn) ** 2)
    diff = np.where(finite, np.abs(C - Rf), 0.0)
    if np.any(diff > allow):
        i, j = np.unravel_index(np.argmax(diff / np.maximum(allow, 1e-300)), diff.shape)
        fail(tid, f"C[{i},{j}] = {C[i, j]:.10g}, minimum-norm solve gives ‖w‖² = {R[i, j]:.10g} "
                  f"(difference {diff[i, j]:.3g} > rounding allowance {allow[i, j]:.3g})")
    ratio = np.where(finite & (allow > 0), diff / np.maximum(allow, 1e-300), 0.0)
    return float(ratio.max()) if ratio.size else 0.0


def check_min_norm_weights(weights_fn, inst, i, target, *, rtol=1e-7):
    """T-10 (attainment): ``w* = weights_fn(target, f_i, d_i, U)`` solves ``M_i w = a − v_i`` (residual
    ``≤ rtol·max(1,‖a − v_i‖)``), has the least norm (equals the lstsq solution to ``rtol``) and
    ``‖w*‖² = R_i(a)``. Returns ``‖w*‖²``."""
    tid = "T-10"
    F, D, U = inst.fixed, inst.diag, inst.basis
    M = proj_matrix(D[i], U)
    c = target - U.T @ F[i]
    w = np.asarray(weights_fn(target, F[i], D[i], U), float)
    res = float(np.linalg.norm(M @ w - c))
    if res > rtol * max(1.0, float(np.linalg.norm(c))):
        fail(tid, f"w* does not realize the target: ‖M_i w* − (a − v_i)‖ = {res:.3g}")
    w_ref, _ = ref_min_norm(M, c)
    if np.linalg.norm(w - w_ref) > rtol * max(1.0, float(np.linalg.norm(w_ref))):
        fail(tid, f"w* is not the minimum-norm solution: ‖w*‖² = {w @ w:.8g}, minimum {w_ref @ w_ref:.8g}")
    return float(w @ w)


def example_43(s: float):
    """The worked instance of T-4.3: ``d = 4``, ``k = 2``; ``U`` has columns ``(e1+e4)/√2`` and
    ``c·e2 + s·e3`` (``c = √(1−s²)``); neuron 1 masks coordinate 2, neuron 2 masks coordinate 3;
    ``F = 0`` (sparse). Then ``S_1 = diag(1, s²)``, ``S_2 = diag(1, c²)``, ``ν(U) = max(1/2, c², s²)``.
    Returns ``(effective, fixed, diag, basis, a)`` with targets ``a_1 = (1, 1)``, ``a_2 = (0.5, 2)``
    realized by the minimum-norm weights (requires ``s > 0``)."""
    c = math.sqrt(1.0 - s * s)
    r2 = 1 / math.sqrt(2)
    U = np.array([[r2, 0.0], [0.0, c], [0.0, s], [r2, 0.0]])
    D = np.array([[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0]])
    F = np.zeros((2, 4))
    a = np.array([[1.0, 1.0], [0.5, 2.0]])
    E = np.zeros((2, 4))
    for i in range(2):
        M = proj_matrix(D[i], U)
        E[i] = D[i] * ref_min_norm(M, a[i])[0]
    return E, F, D, U, a


def check_example_43(cost_fn, coherence_fn, s_values=(0.5, 0.2, 0.1, 0.03, 0.01, 1e-3), *, rtol=1e-9):
    """T-4.3: on :func:`example_43`, ``R_1(a_2) = a_21² + a_22²/s²`` (anisotropic ``S_1 = diag(1, s²)``)
    to ``rtol``; it increases without bound as ``s → 0`` (``≥ 3.9/s²``), while ``ν(U) = max(½, c², s²) → 1``
    (``coherence_fn`` to ``1e-12``); with ``s = 0`` exactly, ``R_1(a_2) = +inf``. Returns the list of costs."""
    tid = "T-4.3"
    costs = []
    for s in s_values:
        E, F, D, U, a = example_43(s)
        C = np.asarray(cost_fn(E, F, D, U), float)
        want = a[1, 0] ** 2 + a[1, 1] ** 2 / s**2
        if not abs(C[0, 1] - want) <= rtol * want:
            fail(tid, f"s={s}: R_1(a_2) = {C[0, 1]:.10g}, closed form a_21² + a_22²/s² = {want:.10g}")
        lsq = ref_cost_matrix(E, F, D, U)[0, 1]  # independent of the closed form: the minimum-norm solve
        if not abs(C[0, 1] - lsq) <= 1e-7 * lsq:
            fail(tid, f"s={s}: R_1(a_2) = {C[0, 1]:.10g}, minimum-norm solve gives {lsq:.10g}")
        c2 = 1 - s * s
        nu = float(coherence_fn(U))
        if abs(nu - max(0.5, c2, s * s)) > 1e-12:
            fail(tid, f"s={s}: ν(U) = {nu}, expected max(1/2, c², s²) = {max(0.5, c2, s * s)}")
        costs.append(float(C[0, 1]))
    if not all(b > a for a, b in zip(costs, costs[1:])):
        fail(tid, f"R_1(a_2) is not increasing as s → 0: {costs}")
    # exact degeneracy: coordinate 3 carries no mass, S_1 = diag(1, 0)
    U0 = np.array([[1 / math.sqrt(2), 0.0], [0.0, 1.0], [0.0, 0.0], [1 / math.sqrt(2), 0.0]])
    D = np.array([[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0]])
    a2 = np.array([0.5, 2.0])
    E0 = np.vstack([np.zeros(4), U0 @ a2])
    C0 = np.asarray(cost_fn(E0, np.zeros((2, 4)), D, U0), float)
    if np.isfinite(C0[0, 1]):
        fail(tid, f"s=0: neuron 1 cannot see the second direction, yet R_1(a_2) = {C0[0, 1]}")
    return costs


def ref_coherence(basis):
    """``ν(U) = max_j ‖u_j‖²`` (eq. 11)."""
    U = np.asarray(basis, float)
    return float(np.max(np.sum(U * U, axis=1)))
