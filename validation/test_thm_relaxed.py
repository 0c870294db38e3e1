"""§8 of docs/theory.md: approximate support and relaxed costs (T-E.1, T-E.2, T-E.4, T-E.5, T-E.6).

Independent routes: eigendecomposition and projection residuals for the tail energy; direct ridge solves
of the relaxed problem (σ = identity); L-BFGS on sampled data for σ = ReLU.
"""


import math

import numpy as np
import scipy.optimize
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import checks
import strategies as S
from lmctheory import costs
from lmctheory import subspace as sub
from lmctheory.synthetic import random_basis


def _samples(rng, N, k, aniso=True):
    A = rng.standard_normal((k, k)) if aniso else np.eye(k)
    return rng.standard_normal((N, k)) @ (A + 0.5 * np.eye(k)).T


# ------------------------------------------------------------------------------------------ T-E.1

@pytest.mark.theorem("T-E.1")
@given(d=st.integers(2, 10), data=st.data(), noise=st.sampled_from([0.0, 1e-3, 0.1, 1.0]), seed=S.seeds)
def test_T_E_1_tail_energy(d, data, noise, seed, theorem_report):
    """T-E.1: ``tail_energy(X, r) = Σ_{j>r} λ_j(Σ) = mean ‖x − U_rU_rᵀx‖²`` (``Σ = XᵀX/N``; relative 1e-9) and
    ``P`` is supported on ``span(U_r)`` iff ``τ_r = 0``: exactly low-rank data (rank k) give ``τ_k ≤ 1e-12·tr Σ``
    and ``τ_{k−1} > 0``; added noise gives ``τ_k > 0``."""
    k = data.draw(st.integers(1, d))
    rng = np.random.default_rng(seed)
    U = random_basis(d, k, seed=seed)
    X = _samples(rng, 200, k) @ U.T + noise * rng.standard_normal((200, d))
    worst = 0.0
    for r in sorted({0, max(k - 1, 0), k, d}):
        worst = max(worst, checks.check_tail_energy(sub.tail_energy, X, r))
    tr = float(np.trace(X.T @ X / X.shape[0]))
    tk = float(sub.tail_energy(X, k))
    if noise == 0.0:
        if tk > 1e-12 * tr:
            checks.fail("T-E.1", f"data on span(U) (rank {k}) but τ_k = {tk:.3g}")
        if k >= 1 and float(sub.tail_energy(X, k - 1)) <= 1e-9 * tr:
            checks.fail("T-E.1", f"τ_(k−1) = 0 although the data span {k} dimensions")
    elif k < d and tk <= 0:
        checks.fail("T-E.1", "noisy data but τ_k = 0")
    theorem_report.error("T-E.1", worst, key="τ_r = tail eigenvalues = projection residual")


# ------------------------------------------------------------------------------------------ T-E.2

@pytest.mark.theorem("T-E.2")
@given(d=st.integers(2, 8), data=st.data(), seed=S.seeds, act=st.sampled_from(["relu", "identity", "tanh", "gelu"]),
       targeted=st.booleans())
def test_T_E_2_projection_agreement(d, data, seed, act, targeted, theorem_report):
    """T-E.2 on empirical distributions: ``g_c(x) = σ(w_cᵀx)`` with ``w_2 − w_1 ⊥ span(U_r)`` agree on ``P_r x``;
    ``‖g_1 − g_2‖_{L²} ≤ (L_1 + L_2)√τ_r`` with ``L_c = Lip(σ)‖w_c‖``. Targeted: ``r = d − 1``, σ = identity,
    ``w_{1,2} = ∓q/2`` along the single tail direction (the bound is attained)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((300, d)) @ np.diag(np.linspace(2.0, 0.1, d))
    lam, Q = np.linalg.eigh(X.T @ X / X.shape[0])
    Q = Q[:, ::-1]
    if targeted:
        r, act = d - 1, "identity"
        q = Q[:, -1]
        w1, w2 = -0.5 * q, 0.5 * q
    else:
        r = data.draw(st.integers(0, d - 1))
        tail = Q[:, r:] @ rng.standard_normal(d - r)
        w1 = rng.standard_normal(d)
        w2 = w1 + tail
    f = checks.ACTIVATIONS[act]
    lip = checks.numerical_lipschitz(act) if act == "gelu" else 1.0
    ratio = checks.check_projection_agreement(lambda X_: f(X_ @ w1), lambda X_: f(X_ @ w2),
                                              lip * np.linalg.norm(w1), lip * np.linalg.norm(w2), X, r)
    # genuine: a nonlinear σ, not the targeted instance, d ≥ 2
    theorem_report.ratio("T-E.2", ratio, key="targeted (1-D tail, identity)" if targeted else act,
                         genuine=not targeted and act != "identity" and d >= 2)


# ------------------------------------------------------------------------------------------ T-E.4

@pytest.mark.theorem("T-E.4")
@settings(max_examples=checks.examples(15))
@given(lay=S.layers(d=st.integers(2, 6)), gamma=st.sampled_from([1e-3, 0.1, 1.0, 10.0]), seed=S.seeds,
       lip=st.sampled_from([1.0, 1.0, 2.0]))
def test_T_E_4_relaxed_cost_bound(lay, gamma, seed, lip, theorem_report):
    """T-E.4 on the empirical distribution of 300 anisotropic Gaussian ``z`` (``Σ_z = ZᵀZ/N``):
    ``relaxed_cost_bound`` equals ``cᵀ(S + (γ/L²)Σ_z⁻¹)⁻¹c`` (1e-7), equals ``R^γ`` solved directly for
    σ = identity (1e-7, equality case), and bounds the ReLU objective at ``w*`` and after L-BFGS
    (which certifies ``R^γ_ReLU ≤ bound``)."""
    rng = np.random.default_rng(seed)
    k = lay.basis.shape[1]
    i = int(rng.integers(lay.effective.shape[0]))
    Z = _samples(rng, 300, k)
    a = lay.coefficients[i] + rng.standard_normal(k)
    e_id, ratio = checks.check_relaxed_cost(costs.relaxed_cost_bound, a, lay.fixed[i], lay.diag[i], lay.basis, Z,
                                            gamma, lipschitz=lip, relu_opt=(lip == 1.0))
    if lip == 1.0:
        theorem_report.error("T-E.4", e_id, key="identity: R^γ = bound (direct ridge solve)")
        # genuine: ReLU (nonlinear), input width d ≥ 4
        theorem_report.ratio("T-E.4", ratio, key="ReLU: optimized objective / bound",
                             genuine=lay.basis.shape[0] >= 4)
    else:
        theorem_report.error("T-E.4", 0.0, key="closed form with L = 2")


# ------------------------------------------------------------------------------------------ T-E.5

GAMMAS = [10.0**-e for e in range(0, 11)]


@pytest.mark.theorem("T-E.5")
@given(lay=S.layers(d=st.integers(2, 6)), seed=S.seeds, kind=st.sampled_from(["realizable", "unrealizable", "random"]))
def test_T_E_5_ridgeless_limit_identity(lay, seed, kind, theorem_report):
    """T-E.5 (σ = identity, where ``R^γ`` = ``relaxed_cost_bound`` exactly, cross-checked by direct ridge solves
    for the first five ``γ``, to 1e-6): along ``γ = u·(1, 1e-1, …, 1e-10)``, ``u = λ_min⁺(S_i)·λ_min(Σ_z)`` (the
    scale of the ``O(γ)`` convergence), ``R^γ`` is non-decreasing, ``≤ R`` and reaches the hard cost ``R``
    (``realization_costs``) to 1e-4, both from ``relaxed_cost_bound`` and from direct ridge solves; for an
    unrealizable target it diverges like ``1/γ``."""
    rng = np.random.default_rng(seed)
    U, D, F = lay.basis, lay.diag, lay.fixed
    d, k = U.shape
    # nonzero Gram eigenvalues ≥ 1e-3 λ_max (else the O(γ/λ_min) convergence is too slow for γ ≥ 1e-10)
    lam = np.linalg.eigvalsh(checks.ref_grams(D, U))
    rel = lam / np.maximum(lam[:, -1:], 1e-300)
    assume(np.all((rel < 1e-12) | (rel > 1e-3)) and np.all(lam[:, -1] > 0))
    i = int(rng.integers(lay.effective.shape[0]))
    M = checks.proj_matrix(D[i], U)
    Sl, Q = np.linalg.eigh(M @ M.T)
    null = Sl <= 1e-10 * Sl[-1]
    v = U.T @ F[i]
    if kind == "realizable":
        a = v + M @ rng.standard_normal(d)
    elif kind == "unrealizable":
        assume(null.any())
        a = v + M @ rng.standard_normal(d) + Q[:, np.argmax(null)]
    else:
        a = v + rng.standard_normal(k)
    assume(checks.null_component(D[i], U, a - v) < 1e-10 or checks.null_component(D[i], U, a - v) > 1e-4)
    E = lay.effective.copy()
    E[i] = U @ a + F[i] - U @ (U.T @ F[i])
    hard = float(np.asarray(costs.realization_costs(E, F, D, U))[i, i])
    Z = _samples(rng, 200, k)
    Sz = Z.T @ Z / Z.shape[0]
    # R − R^γ = O(γ / (λ_min⁺(S) λ_min(Σ_z))): measure γ in that unit so γ_min reaches the limit to 1e-8
    lam_i = np.linalg.eigvalsh(M @ M.T)
    unit = float(np.min(lam_i[lam_i > 1e-10 * lam_i[-1]])) * float(np.linalg.eigvalsh(Sz)[0])
    gammas = [unit * g for g in GAMMAS]
    # rounding of (S + γΣ_z⁻¹)⁻¹ ~ ε·κ, κ ≈ (λ_max(S) + γλ_max(Σ_z⁻¹)) / (γ_min λ_min(Σ_z⁻¹)) at the smallest γ
    ez = np.linalg.eigvalsh(Sz)
    kappa = (lam_i[-1] + gammas[-1] / ez[0]) / (gammas[-1] / ez[-1])
    mono = max(1e-9, 100 * np.finfo(float).eps * kappa)
    for g in gammas[:5]:
        direct, _ = checks.ref_relaxed_identity(a, F[i], D[i], U, Z, g)
        pkg = float(costs.relaxed_cost_bound(a, F[i], D[i], U, Sz, g))
        if abs(direct - pkg) > 1e-6 * max(1.0, direct):
            checks.fail("T-E.4", f"σ = identity, γ={g}: direct R^γ = {direct:.10g} ≠ relaxed_cost_bound {pkg:.10g}")
    gap = checks.check_ridgeless_limit(lambda g: costs.relaxed_cost_bound(a, F[i], D[i], U, Sz, g), hard, gammas,
                                       mono_rtol=mono)
    # the same limit along direct ridge solves (independent of the closed form)
    gap2 = checks.check_ridgeless_limit(lambda g: checks.ref_relaxed_identity(a, F[i], D[i], U, Z, g)[0], hard,
                                        gammas, rtol=1e-4, mono_rtol=mono)
    label = "R finite" if np.isfinite(hard) else "R = inf"
    theorem_report.error("T-E.5", gap, key=f"identity: |R^γ_min − R| / R ({label})")
    theorem_report.error("T-E.5", gap2, key=f"identity, direct ridge solves: |R^γ_min − R| / R ({label})")


@pytest.mark.theorem("T-E.5")
@settings(max_examples=checks.examples(6))
@given(seed=S.seeds, d=st.integers(3, 5))
def test_T_E_5_ridgeless_limit_relu(seed, d, theorem_report):
    """T-E.5 (σ = ReLU, sampled data, L-BFGS from the surrogate minimizer and from the hard solution): the
    optimized relaxed objective ``V(γ)`` satisfies ``V(γ) ≤ R`` and approaches the hard cost: ``V(1e-4·u) ≥ (1 − 1e-2) R``
    with ``γ`` in units ``u = λ_min⁺(S)·λ_min(Σ_z)`` (an ill-conditioned ``S`` lets a tiny data misfit buy a large
    norm saving until ``γ ≪ u``; in absolute units a thorough run found V(1e-4) = 1.65 < R = 2.03)."""
    rng = np.random.default_rng(seed)
    k = 2
    U = random_basis(d, k, seed=seed)
    D = (rng.random(d) < 0.8).astype(float)
    D[:k] = 1.0
    F = rng.standard_normal(d) * 0.5
    M = checks.proj_matrix(D, U)
    w_true = D * rng.standard_normal(d)
    a = U.T @ F + M @ w_true
    Z = _samples(rng, 400, k, aniso=False)
    X = Z @ U.T
    g = np.maximum(Z @ a, 0)
    E = (U @ a + F - U @ (U.T @ F))[None, :]
    hard = float(np.asarray(costs.realization_costs(E, F[None, :], D[None, :], U))[0, 0])
    w_hard, _ = checks.ref_min_norm(M, a - U.T @ F)
    relu = checks.ACTIVATIONS["relu"]
    Sz = Z.T @ Z / Z.shape[0]
    c = a - U.T @ F
    lam_s = np.linalg.eigvalsh(M @ M.T)
    unit = float(np.min(lam_s[lam_s > 1e-10 * lam_s[-1]])) * float(np.linalg.eigvalsh(Sz)[0])
    vals = []
    for gam in [unit * g for g in (1.0, 0.1, 1e-2, 1e-3, 1e-4)]:
        w_s = np.linalg.solve(M.T @ Sz @ M + gam * np.eye(d), M.T @ Sz @ c)
        best = np.inf
        for w0 in (w_s, w_hard):
            res = scipy.optimize.minimize(lambda w: checks.relaxed_objective(w, relu, F, D, X, g, gam), w0,
                                                 method="L-BFGS-B", options={"maxiter": 500})
            best = min(best, float(res.fun), checks.relaxed_objective(w0, relu, F, D, X, g, gam))
        vals.append(best)
        if best > hard * (1 + 1e-9) + 1e-12:
            checks.fail("T-E.5", f"ReLU: V(γ={gam:.3g}) = {best:.8g} > R = {hard:.8g}")
    if vals[-1] < (1 - 1e-2) * hard:
        checks.fail("T-E.5", f"ReLU: V(γ=1e-4·u) = {vals[-1]:.8g} far below the hard cost {hard:.8g}: no ridgeless limit")
    theorem_report.error("T-E.5", abs(vals[-1] - hard) / max(hard, 1e-300), key="ReLU: |V(1e-4·u) − R| / R (L-BFGS)")


# ------------------------------------------------------------------------------------------ T-E.6

@pytest.mark.theorem("T-E.6")
@given(lay=S.layers(d=st.integers(3, 8)), seed=S.seeds, noise=st.sampled_from([1e-3, 1e-2, 0.1, 0.5]),
       gamma=st.sampled_from([1e-3, 0.1, 1.0]), act=st.sampled_from(["relu", "identity", "tanh"]))
def test_T_E_6_approximate_support(lay, seed, noise, gamma, act, theorem_report):
    """T-E.6 on the empirical distribution of ``x = Uz + noise`` (``r = k``, ``U_r`` from the data): with ``w*`` the
    package's ``min_norm_weights`` realizing ``a`` on the projected model, ``τ_r`` the package's ``tail_energy`` and
    ``g = σ(aᵀU_rᵀx)``, ``R^γ ≤ (objective at w*) ≤ ‖w*‖² + (1/γ)(L_σ‖f + d⊙w*‖ + L_g)²τ_r`` (relative 1e-9); ``R^γ``
    exact (ridge) for the identity, an L-BFGS upper estimate otherwise. Reported: ``R^γ`` / bound."""
    rng = np.random.default_rng(seed)
    U = lay.basis
    d, k = U.shape
    assume(k < d)
    i = int(rng.integers(lay.effective.shape[0]))
    X = _samples(rng, 300, k) @ U.T + noise * rng.standard_normal((300, d))
    lam, Q = np.linalg.eigh(X.T @ X / 300)
    Ur = Q[:, ::-1][:, :k]
    f, dg = lay.fixed[i], lay.diag[i]
    Mr = Ur.T * dg[None, :]
    a = Ur.T @ (f + dg * rng.standard_normal(d))
    w_star, res = checks.ref_min_norm(Mr, a - Ur.T @ f)
    assume(res < 1e-9 * max(1.0, np.linalg.norm(a)))
    r, _ = checks.check_approximate_support_cost(checks.ref_e6_bound, sub.tail_energy, costs.min_norm_weights,
                                                 checks.ACTIVATIONS[act], 1.0, Ur.T @ (f + dg * w_star), f, dg, X, k,
                                                 gamma, linear_slope=1.0 if act == "identity" else None)
    # genuine: a nonlinear σ, a noisy support (τ_r > 0) and a non-trivial fixed part
    genuine = act != "identity" and np.linalg.norm(f) > 0
    theorem_report.ratio("T-E.6", r, key=f"R^γ / bound ({act})", genuine=genuine)


@pytest.mark.theorem("T-E.5")
@given(d=st.integers(3, 7), seed=S.seeds, mix=st.sampled_from([0.0, 1e-3]))
def test_T_E_5_unrealizable_diverges(d, seed, mix, theorem_report):
    """T-E.5 targeted (``R = +inf``): a coordinate-aligned support with one support coordinate masked out makes
    ``S_i`` singular; a target off ``v_i + range(S_i)`` has ``R^γ`` (``relaxed_cost_bound`` and direct ridge solves)
    growing like ``1/γ``, while ``realization_costs`` reports ``+inf``."""
    from lmctheory.synthetic import coherent_basis

    rng = np.random.default_rng(seed)
    k = 2
    U = coherent_basis(d, k, mix, seed=seed)
    lead = int(np.argmax(np.abs(U[:, 0])))  # the coordinate carrying the first support direction
    D = np.ones(d)
    D[lead] = 0.0
    F = rng.standard_normal(d)
    M = checks.proj_matrix(D, U)
    lam, Q = np.linalg.eigh(M @ M.T)
    assume(lam[0] < 1e-5 * lam[-1])  # mix = 1e-3 leaves a tiny but non-zero eigenvalue: still "nearly" singular
    a = U.T @ F + Q[:, 0] + M @ rng.standard_normal(d)
    E = (U @ a + F - U @ (U.T @ F))[None, :]
    hard = float(np.asarray(costs.realization_costs(E, F[None, :], D[None, :], U))[0, 0])
    Z = _samples(rng, 200, k)
    Sz = Z.T @ Z / Z.shape[0]
    if mix == 0.0:
        if np.isfinite(hard):
            checks.fail("T-10", f"target off v + range(S) (exactly singular S) but R = {hard}")
        # predicted lim γR^γ = c_Nᵀ(NᵀΣ_z⁻¹N)⁻¹c_N over the null space N of S (here exactly singular)
        N = Q[:, lam <= 1e-12 * lam[-1]]
        cN = N.T @ (a - U.T @ F)
        limit = float(cN @ np.linalg.solve(N.T @ np.linalg.inv(Sz) @ N, cN))
        ez = np.linalg.eigvalsh(Sz)
        mono = max(1e-9, 100 * np.finfo(float).eps * (lam[-1] + GAMMAS[-1] / ez[0]) / (GAMMAS[-1] / ez[-1]))
        checks.check_ridgeless_limit(lambda g: costs.relaxed_cost_bound(a, F, D, U, Sz, g), hard, GAMMAS,
                                     diverge_limit=limit, mono_rtol=mono)
        checks.check_ridgeless_limit(lambda g: checks.ref_relaxed_identity(a, F, D, U, Z, g)[0], hard, GAMMAS[:9],
                                     mono_rtol=mono)
        theorem_report.error("T-E.5", 0.0, key="identity: R^γ ~ 1/γ → ∞ (R = inf, targeted)")
    else:  # nearly singular: R finite but huge; the limit is reached once γ ≪ λ_min(S)·λ_min(Σ_z)
        unit = float(lam[0]) * float(np.linalg.eigvalsh(Sz)[0])
        # both R and R^γ invert S (condition number κ ~ 1e10 here): rounding of ~100·ε·κ either way
        kappa = float(lam[-1] / lam[0])
        gap = checks.check_ridgeless_limit(lambda g: costs.relaxed_cost_bound(a, F, D, U, Sz, g), hard,
                                           [unit * g for g in GAMMAS],
                                           rtol=max(1e-4, 100 * np.finfo(float).eps * kappa),
                                           excess_rtol=max(1e-7, 100 * np.finfo(float).eps * kappa))
        theorem_report.error("T-E.5", gap, key="identity: nearly singular S (R finite, huge; γ in units of λ_min)")


@pytest.mark.theorem("T-E.1")
@given(d=st.integers(2, 10), data=st.data(), seed=S.seeds, target=st.sampled_from([0.5, 0.8, 0.9, 0.99, 1.0]))
def test_T_E_1_subspace_basis_explained_variance(d, data, seed, target, theorem_report):
    """§2 basis from data, tied to T-E.1: ``subspace_basis(X, target)`` returns the top-``k`` principal directions
    of the centered data (same projector as ``numpy.linalg.svd``, 1e-8) with the smallest ``k`` whose explained
    variance ``1 − τ_k(X_c)/τ_0(X_c)`` (``tail_energy`` of the centered data) reaches ``target``; the returned ratio
    equals it (1e-9)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((100, d)) @ np.diag(np.geomspace(3.0, 0.05, d)) @ random_basis(d, d, seed=seed).T + 2.0
    U, ratio = sub.subspace_basis(X, target)
    U = np.asarray(U)
    k = U.shape[1]
    Xc = X - X.mean(axis=0)
    tot = float(sub.tail_energy(Xc, 0))
    ev = [1 - float(sub.tail_energy(Xc, j)) / tot for j in range(d + 1)]
    kmin = next(j for j in range(1, d + 1) if ev[j] >= target - 1e-12)
    if k != kmin:
        checks.fail("T-E.1", f"subspace_basis kept k={k}, smallest k reaching {target} is {kmin} (ratios {ev})")
    if abs(float(ratio) - ev[k]) > 1e-9:
        checks.fail("T-E.1", f"explained-variance ratio {ratio} ≠ 1 − τ_k/τ_0 = {ev[k]}")
    Vt = np.linalg.svd(Xc, full_matrices=False)[2]
    P, Pref = U @ U.T, Vt[:k].T @ Vt[:k]
    gapped = k == d or np.linalg.svd(Xc, compute_uv=False)[k - 1] > 1.01 * np.linalg.svd(Xc, compute_uv=False)[k]
    if gapped and np.max(np.abs(P - Pref)) > 1e-8:
        checks.fail("T-E.1", "subspace_basis does not span the top principal directions")
    theorem_report.error("T-E.1", abs(float(ratio) - ev[k]), key="subspace_basis: explained variance = 1 − τ_k/τ_0")


@pytest.mark.theorem("T-E.6")
@pytest.mark.parametrize("s,gamma", [(0.1, 10.0), (0.01, 100.0), (0.001, 1000.0)])
def test_T_E_6_attained_one_dimensional_tail(s, gamma, theorem_report):
    """T-E.6 targeted: σ = identity, ``x = U_r z + t q`` with a 1-D tail ``t q`` (``q ⟂ U_r``, ``t`` made empirically
    uncorrelated with ``z`` so that ``U_r`` spans the top eigenvectors), ``f = 10q + s e_1``, ``d = 1``, ``w* = 0``
    (``a = U_rᵀf``). The relaxed cost is ``R^γ = min_β (10 + β)²τ_r/γ + β² = 100τ_r/(γ + τ_r)`` and the bound
    ``(‖f‖ + ‖a‖)²τ_r/γ``, so ``R^γ``/bound ``= 100γ/((γ + τ_r)(√(100+s²) + s)²) → 1`` as ``s → 0``, ``γ/τ_r → ∞``
    (0.96, 0.9978, 0.99973 here): a halved tail term fails."""
    rng = np.random.default_rng(17)
    N = 400
    Z = rng.standard_normal((N, 2)) @ np.diag([3.0, 2.0])
    t = 0.5 * rng.standard_normal(N)
    t -= Z @ np.linalg.lstsq(Z, t, rcond=None)[0]
    X = np.zeros((N, 4))
    X[:, :2] = Z
    X[:, 2] = t
    lam, Q = np.linalg.eigh(X.T @ X / N)
    Ur = Q[:, ::-1][:, :2]
    f = np.array([s, 0.0, 10.0, 0.0])
    dg = np.ones(4)
    r, _ = checks.check_approximate_support_cost(checks.ref_e6_bound, sub.tail_energy, costs.min_norm_weights,
                                                 checks.ACTIVATIONS["identity"], 1.0, Ur.T @ f, f, dg, X, 2, gamma,
                                                 linear_slope=1.0)
    tau = float(t @ t) / N
    want = 100 * gamma / ((gamma + tau) * (math.sqrt(100 + s * s) + s) ** 2)
    if abs(r - want) > 1e-8:
        checks.fail("T-E.6", f"1-D tail instance: R^γ/bound = {r}, expected 100γ/((γ + τ)(√(100+s²)+s)²) = {want}")
    theorem_report.ratio("T-E.6", r, key="R^γ / bound (identity, 1-D tail, attained as s → 0, γ → ∞; targeted)")
