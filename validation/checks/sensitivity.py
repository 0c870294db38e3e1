"""§4–5 of docs/theory.md: swap-cost identity (T-16), output-permutation sensitivity (T-4.5, T-C.5), input
reindexing (T-4.7, T-4.8a). Mirrors ``validation/test_thm_sensitivity.py``."""

from __future__ import annotations

import itertools
import math

import numpy as np

from .common import fail
from .costs import ref_coherence, ref_grams


def ref_costs_invertible(centers, coeffs, grams):
    """``C[i,j] = (a_j − v_i)ᵀ S_i⁻¹ (a_j − v_i)`` (all ``S_i`` invertible; linear solves)."""
    n = centers.shape[0]
    C = np.empty((n, n))
    for i in range(n):
        X = (coeffs - centers[i]).T
        Y = np.linalg.solve(grams[i], X)
        C[i] = np.sum(X * Y, axis=0)
    return C


def ref_swap(C):
    d = np.diag(C)
    out = C + C.T - d[:, None] - d[None, :]
    np.fill_diagonal(out, 0.0)
    return out


def ref_swap_decomposition(centers, coeffs, grams, i, j):
    """(center, cross, mismatch) terms of eq. 16."""
    v, a, S = centers, coeffs, grams
    r_i, r_j = a[i] - v[i], a[j] - v[j]
    Si_inv, Sj_inv = np.linalg.inv(S[i]), np.linalg.inv(S[j])
    dv = v[j] - v[i]
    center = dv @ Si_inv @ dv + dv @ Sj_inv @ dv
    cross = 2 * (dv @ Si_inv @ r_j + (-dv) @ Sj_inv @ r_i)
    mismatch = r_j @ Si_inv @ r_j - r_j @ Sj_inv @ r_j + r_i @ Sj_inv @ r_i - r_i @ Si_inv @ r_i
    return np.array([center, cross, mismatch])


def check_swap_identity(decomposition_fn, swap_matrix, centers, coeffs, grams, *, rtol=1e-8, compare=True):
    """T-16: for every pair ``i < j``, the three terms from ``decomposition_fn(centers, coeffs, grams, i, j)``
    sum to ``Δ_ij`` of ``swap_matrix`` (computed from the realization costs) to
    ``rtol·(|center| + |cross| + |mismatch| + C_ii + C_jj + 1)``, and each term equals eq. 16 transcribed
    here to the same tolerance. Returns the worst relative error."""
    tid = "T-16"
    n = centers.shape[0]
    worst = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            terms = np.asarray(decomposition_fn(centers, coeffs, grams, i, j), float).ravel()
            ref = ref_swap_decomposition(centers, coeffs, grams, i, j)
            scale = float(np.sum(np.abs(ref))) + 1.0 + abs(swap_matrix[i, j])
            if terms.shape != (3,):
                fail(tid, f"decomposition must give (center, cross, mismatch), got shape {terms.shape}")
            e_sum = abs(float(terms.sum()) - float(swap_matrix[i, j])) / scale
            e_terms = float(np.max(np.abs(terms - ref))) / scale
            if e_sum > rtol:
                fail(tid, f"pair ({i},{j}): center+cross+mismatch = {terms.sum():.10g} ≠ Δ_ij = {swap_matrix[i, j]:.10g} from the costs")
            if compare and e_terms > rtol:
                fail(tid, f"pair ({i},{j}): terms {terms} differ from eq. 16 {ref}")
            worst = max(worst, e_sum, e_terms)
    return worst


def output_sensitivity_parts(centers, coeffs, grams, perm, C=None):
    """``Δ_out(π)``, ``Δ^π``, ``R``, ``R_π`` and the moved mask (§4)."""
    perm = np.asarray(perm)
    if C is None:
        C = ref_costs_invertible(centers, coeffs, grams)
    n = centers.shape[0]
    idx = np.arange(n)
    dout = float(np.sum(C[idx, perm] - C[idx, idx]))
    Dpi = centers[perm] - centers
    R = coeffs - centers
    moved = perm != idx
    return dout, Dpi, R, R[perm], moved


def eps_of(grams, mu):
    """``ε = max_i ‖S_i − μI‖₂ / μ`` (eq. 18)."""
    lam = np.linalg.eigvalsh(grams)
    return float(np.max(np.maximum(np.abs(lam[:, -1] - mu), np.abs(lam[:, 0] - mu)))) / mu


def ref_sensitivity_bounds(delta_fro_sq, mu, eps, eta):
    """T-4.5 second part: ``(‖Δ‖²/μ)[1 ∓ 2η ∓ (ε/(1−ε))((1+η)² + η²)]``."""
    q = (eps / (1 - eps)) * ((1 + eta) ** 2 + eta**2)
    return (delta_fro_sq / mu * (1 - 2 * eta - q), delta_fro_sq / mu * (1 + 2 * eta + q))


def ref_min_reassignment_lower_bound(delta_min, mu, eps, eta):
    """T-C.5: ``(2δ_min²/μ)[1 − 2η − (ε/(1−ε))((1+η)² + η²)]``."""
    return 2 * delta_min**2 / mu * (1 - 2 * eta - (eps / (1 - eps)) * ((1 + eta) ** 2 + eta**2))


def check_output_sensitivity(approx_fn, bounds_fn, centers, coeffs, grams, perm, mu, *, C=None, tol=1e-9, compare=True):
    """T-4.5 on one instance (``ε < 1`` required).

    ``approx_fn(centers, coeffs, perm, mu, eps) -> (approx, err_bound)`` must satisfy
    ``|Δ_out(π) − approx| ≤ err_bound`` and equal the docs/theory.md form
    ``(1/μ)(‖Δ^π‖² + 2⟨Δ^π, ΠR_π⟩)``, ``κ_ε Σ_moved (‖Δ^π_i + r_π(i)‖² + ‖r_i‖²)`` to ``1e-9`` relative;
    ``bounds_fn(‖Δ^π‖², μ, ε, η) -> (lower, upper)`` with ``η = ‖ΠR‖/‖Δ^π‖`` must bracket ``Δ_out(π)``.
    ``Δ_out`` is computed from ``C`` (default: linear solves). Tolerance: ``tol·(1 + |terms|)``.
    Returns ``(ratio of the first inequality or None where its bound is at rounding level, upper ratio,
    lower ratio)``.
    """
    tid = "T-4.5"
    eps = eps_of(grams, mu)
    if not eps < 1:
        raise ValueError("T-4.5 needs eps < 1")
    dout, Dpi, R, Rpi, moved = output_sensitivity_parts(centers, coeffs, grams, perm, C)
    kappa = eps / ((1 - eps) * mu)
    fro2 = float(np.sum(Dpi**2))
    ref_approx = (fro2 + 2 * float(np.sum(Dpi * (Rpi * moved[:, None])))) / mu
    ref_err = kappa * float(np.sum(np.sum((Dpi + Rpi) ** 2, axis=1)[moved] + np.sum(R**2, axis=1)[moved]))
    out = approx_fn(centers, coeffs, perm, mu, eps)
    approx, err_bound = (float(x) for x in out)
    scale = 1.0 + abs(ref_approx) + abs(ref_err) + abs(dout)
    if compare and (abs(approx - ref_approx) > tol * scale or abs(err_bound - ref_err) > tol * scale):
        fail(tid, f"approximation ({approx:.10g}, ±{err_bound:.6g}) differs from docs/theory.md form ({ref_approx:.10g}, ±{ref_err:.6g})")
    gap = abs(dout - approx)
    if gap > err_bound + tol * scale:
        fail(tid, f"|Δ_out − approx| = {gap:.6g} > κ_ε Σ(...) = {err_bound:.6g} (ε={eps:.3g}, μ={mu:.3g})")
    # ratio only where the error bound is well above the floating-point tolerance (else it is noise / noise)
    r1 = gap / err_bound if err_bound > 1e3 * tol * scale else None
    rup = rlo = 0.0
    if fro2 > 0:
        eta = math.sqrt(float(np.sum(R[moved] ** 2)) / fro2)
        lower, upper = (float(x) for x in bounds_fn(fro2, mu, eps, eta))
        rl, ru = ref_sensitivity_bounds(fro2, mu, eps, eta)
        if compare and (abs(lower - rl) > tol * (1 + abs(rl)) or abs(upper - ru) > tol * (1 + abs(ru))):
            fail(tid, f"bounds ({lower:.8g}, {upper:.8g}) differ from docs/theory.md form ({rl:.8g}, {ru:.8g})")
        if not (lower <= dout + tol * scale and dout <= upper + tol * scale):
            fail(tid, f"Δ_out = {dout:.8g} outside [{lower:.8g}, {upper:.8g}] (η={eta:.3g}, ε={eps:.3g})")
        rup = dout / upper if upper > 0 else 0.0
        rlo = lower / dout if (dout > 0 and lower > 0) else 0.0
    return r1, rup, rlo


def reassignment_bracket(eps, eta):
    """``β = 1 − 2η − (ε/(1−ε))((1+η)² + η²)`` (T-4.5, T-C.5)."""
    return 1 - 2 * eta - (eps / (1 - eps)) * ((1 + eta) ** 2 + eta**2)


def check_min_reassignment(lower_fn, centers, coeffs, grams, mu, *, C=None, tol=1e-9, compare=True):
    """T-C.5 on one instance (``n ≤ 7``; all ``n!`` permutations enumerated).

    (a) ``‖Δ^π‖_F² ≥ |moved(π)|·δ_min² ≥ 2δ_min²`` for every ``π ≠ id`` (``tol`` relative);
    (b) per ``π`` (any sign of the bracket, ``ε < 1``): ``Δ_out(π) ≥ (β_π/μ)‖Δ^π‖_F²`` with ``β_π`` the bracket at
    ``η_π = ‖ΠR‖/‖Δ^π‖`` (``tol·(1 + |terms|)``);
    (c) with ``η = max_π η_π`` and a positive bracket ``β = 1 − 2η − (ε/(1−ε))((1+η)² + η²) > 0``:
    ``min_{π≠id} Δ_out(π) ≥ lower_fn(δ_min, μ, ε, η)``, and (``compare=True``) ``lower_fn`` equals the docs/theory.md
    form. (With ``β ≤ 0`` the corollary does not follow from T-4.5 and is false in general: see
    :func:`beta_nonpositive_instance`.) Returns ``lower / min Δ_out`` (``None`` where (c) does not apply).
    """
    tid = "T-C.5"
    n = centers.shape[0]
    if C is None:
        C = ref_costs_invertible(centers, coeffs, grams)
    diffs = centers[:, None, :] - centers[None, :, :]
    gaps = np.sqrt(np.sum(diffs**2, axis=2))
    delta_min = float(np.min(gaps[~np.eye(n, dtype=bool)]))
    R = coeffs - centers
    idx = np.arange(n)
    eps = eps_of(grams, mu)
    best = np.inf
    eta = 0.0
    for perm in itertools.permutations(range(n)):
        perm = np.array(perm)
        moved = perm != idx
        if not moved.any():
            continue
        fro2 = float(np.sum((centers[perm] - centers) ** 2))
        if fro2 < moved.sum() * delta_min**2 * (1 - tol) or fro2 < 2 * delta_min**2 * (1 - tol):
            fail(tid, f"‖Δ^π‖² = {fro2:.8g} < |moved|·δ_min² = {moved.sum() * delta_min**2:.8g} for π={perm}")
        dout = float(np.sum(C[idx, perm] - C[idx, idx]))
        best = min(best, dout)
        if fro2 > 0:
            eta_pi = math.sqrt(float(np.sum(R[moved] ** 2)) / fro2)
            eta = max(eta, eta_pi)
            if eps < 1:
                low_pi = reassignment_bracket(eps, eta_pi) * fro2 / mu
                if dout < low_pi - tol * (1 + abs(dout) + abs(low_pi)):
                    fail(tid, f"π={perm}: Δ_out = {dout:.8g} < (β_π/μ)‖Δ^π‖² = {low_pi:.8g} (η_π={eta_pi:.3g})")
    if not eps < 1:
        return None
    if not reassignment_bracket(eps, eta) > 0:
        # bracket ≤ 0: ‖Δ^π‖² ≥ 2δ_min² then points the wrong way and the corollary claims nothing
        # (it is false there: Δ_out can be below (2δ_min²/μ)·bracket); only (a) and (b) are checked
        return None
    lower = float(lower_fn(delta_min, mu, eps, eta))
    if compare:
        ref = ref_min_reassignment_lower_bound(delta_min, mu, eps, eta)
        if abs(lower - ref) > 1e-10 * (1 + abs(ref)):
            fail(tid, f"lower bound {lower:.10g} differs from docs/theory.md form {ref:.10g}")
    if lower > best + tol * (1 + abs(best)):
        fail(tid, f"min over π≠id of Δ_out = {best:.8g} < claimed lower bound {lower:.8g}")
    return lower / best if (lower > 0 and best > 0) else 0.0


def beta_nonpositive_instance(seed):
    """A reproducible instance with ``S_i = I`` (``ε = 0``, ``μ = 1``): ``n ∈ {3, 4}``, ``k ∈ {1, 2}``, centers
    ``v ~ 3·N(0, I)``, trainable parts ``r ~ s·N(0, I)`` with ``s ∈ {1, 3, 10}`` (all from ``seed``). Returns
    ``(centers, coeffs, grams)``. Seeds 7, 8, 16, 21 give ``β ≤ 0`` and ``min Δ_out < 2δ_min²β``: T-C.5 without
    its ``β > 0`` hypothesis is false."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 5))
    k = int(rng.integers(1, 3))
    v = rng.standard_normal((n, k)) * 3
    r = rng.standard_normal((n, k)) * rng.choice([1.0, 3.0, 10.0])
    return v, v + r, np.repeat(np.eye(k)[None], n, axis=0)


def min_reassignment_summary(centers, coeffs, grams, mu):
    """``(min_{π≠id} Δ_out, δ_min, η = max_π η_π, ε)`` by enumeration (for counterexamples)."""
    n = centers.shape[0]
    C = ref_costs_invertible(centers, coeffs, grams)
    idx = np.arange(n)
    R = coeffs - centers
    best, eta = np.inf, 0.0
    for perm in itertools.permutations(range(n)):
        perm = np.array(perm)
        moved = perm != idx
        if not moved.any():
            continue
        best = min(best, float(np.sum(C[idx, perm] - C[idx, idx])))
        fro2 = float(np.sum((centers[perm] - centers) ** 2))
        eta = max(eta, math.sqrt(float(np.sum(R[moved] ** 2)) / fro2))
    dm = float(np.min(np.sqrt(np.sum((centers[:, None] - centers[None]) ** 2, axis=2))[~np.eye(n, dtype=bool)]))
    return best, dm, eta, eps_of(grams, mu)


def reindexed(basis, perm):
    """``P_ρ U = U[perm]``."""
    return np.asarray(basis, float)[np.asarray(perm)]


def ref_pinv_norm_sq(S, x):
    lam, Q = np.linalg.eigh(S)
    keep = lam > 10 * S.shape[0] * np.finfo(float).eps * max(lam[-1], 1e-300)
    y = Q[:, keep].T @ x
    return float(np.sum(y * y / lam[keep]))


def input_sensitivity_parts(effective, fixed, diag, basis, perm):
    """``Δ_in(ρ)``, ``Δ^ρ``, ``R``, and the two Gram families (§5), by their definitions."""
    E, F, D, U = (np.asarray(x, float) for x in (effective, fixed, diag, basis))
    Up = reindexed(U, perm)
    A = E @ U
    V = F @ U
    Vp = F @ Up
    S = ref_grams(D, U)
    Sp = ref_grams(D, Up)
    n = E.shape[0]
    din = 0.0
    for i in range(n):
        din += ref_pinv_norm_sq(Sp[i], A[i] - Vp[i]) - ref_pinv_norm_sq(S[i], A[i] - V[i])
    return din, Vp - V, A - V, S, Sp


def check_input_sensitivity(sens_fn, approx_fn, inst, perm, mu, *, tol=1e-8, compare=True):
    """T-4.7 on one instance (``ε`` over ``S_i`` and ``S_i^ρ`` must be ``< 1``).

    ``sens_fn(effective, fixed, diag, basis, perm)`` must equal ``Δ_in(ρ)`` from the definition
    (relative ``tol``); ``approx_fn(...) -> (approx, err_bound)`` (or ``None`` to use the docs/theory.md form)
    must satisfy ``|Δ_in − approx| ≤ err_bound`` with ``approx = (1/μ)(‖Δ^ρ‖² − 2⟨Δ^ρ, R⟩)`` and
    ``err_bound = κ_ε Σ_i (‖r_i − Δ^ρ_i‖² + ‖r_i‖²)``. Returns the ratio ``|Δ_in − approx| / err_bound``
    (None where the bound is at rounding level, e.g. ``ε = 0``).
    """
    tid = "T-4.7"
    E, F, D, U = inst.effective, inst.fixed, inst.diag, inst.basis
    din, Drho, R, S, Sp = input_sensitivity_parts(E, F, D, U, perm)
    eps = max(eps_of(S, mu), eps_of(Sp, mu))
    if not eps < 1:
        raise ValueError("T-4.7 needs eps < 1")
    kappa = eps / ((1 - eps) * mu)
    ref_approx = (float(np.sum(Drho**2)) - 2 * float(np.sum(Drho * R))) / mu
    ref_err = kappa * float(np.sum((R - Drho) ** 2) + np.sum(R**2))
    scale = 1.0 + abs(din) + abs(ref_approx) + abs(ref_err)
    if sens_fn is not None:
        got = float(sens_fn(E, F, D, U, perm))
        if abs(got - din) > tol * scale:
            fail(tid, f"Δ_in(ρ) = {got:.10g}, definition gives {din:.10g}")
    if approx_fn is None:
        approx, err_bound = ref_approx, ref_err
    else:
        approx, err_bound = (float(x) for x in approx_fn(E, F, D, U, perm, mu, eps))
        if compare and (abs(approx - ref_approx) > tol * scale or abs(err_bound - ref_err) > tol * scale):
            fail(tid, f"approximation ({approx:.10g}, ±{err_bound:.6g}) differs from docs/theory.md form ({ref_approx:.10g}, ±{ref_err:.6g})")
    gap = abs(din - approx)
    if gap > err_bound + tol * scale:
        fail(tid, f"|Δ_in − approx| = {gap:.6g} > κ_ε Σ(...) = {err_bound:.6g} (ε={eps:.3g})")
    return gap / err_bound if err_bound > 1e3 * tol * scale else None


def check_transposition_identity(diff_fn, fixed, basis, p, q, *, rtol=1e-10):
    """T-4.8a: ``diff_fn(fixed, basis, p, q)`` (the ``n×k`` matrix ``Δ^τ``) equals
    ``(F_{:,q} − F_{:,p})(u_p − u_q)ᵀ`` and ``U[τ]ᵀf_i − Uᵀf_i`` (relative ``rtol``), has rank ≤ 1,
    ``‖Δ^τ‖_F² = ‖F_p − F_q‖²‖u_p − u_q‖²``, and ``‖u_p − u_q‖² ≤ min(2, 4ν)`` (+1e-12).
    Returns ``(relative error, ‖u_p − u_q‖² / min(2, 4ν))``."""
    tid = "T-4.8a"
    F = np.asarray(fixed, float)
    U = np.asarray(basis, float)
    perm = np.arange(U.shape[0])
    perm[p], perm[q] = q, p
    direct = F @ reindexed(U, perm) - F @ U
    rank1 = np.outer(F[:, q] - F[:, p], U[p] - U[q])
    got = np.asarray(diff_fn(F, U, p, q), float)
    scale = max(1.0, float(np.max(np.abs(direct))))
    e = max(float(np.max(np.abs(got - direct))), float(np.max(np.abs(got - rank1)))) / scale
    if e > rtol:
        fail(tid, f"Δ^τ for τ=({p} {q}) differs from (F_q − F_p)(u_p − u_q)ᵀ by {e:.3g}")
    sv = np.linalg.svd(got, compute_uv=False)
    if sv.size > 1 and sv[1] > 1e-10 * max(1.0, sv[0]):
        fail(tid, f"Δ^τ is not rank one: singular values {sv[:3]}")
    fro2 = float(np.sum(got**2))
    prod = float(np.sum((F[:, p] - F[:, q]) ** 2) * np.sum((U[p] - U[q]) ** 2))
    if abs(fro2 - prod) > rtol * max(1.0, prod):
        fail(tid, f"‖Δ^τ‖² = {fro2:.10g} ≠ ‖F_p − F_q‖²‖u_p − u_q‖² = {prod:.10g}")
    upq = float(np.sum((U[p] - U[q]) ** 2))
    cap = min(2.0, 4 * ref_coherence(U))
    if upq > cap + 1e-12:
        fail(tid, f"‖u_p − u_q‖² = {upq:.6g} > min(2, 4ν) = {cap:.6g}")
    return e, upq / cap
