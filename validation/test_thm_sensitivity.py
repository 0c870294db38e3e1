"""§4–5 of docs/theory.md: swap-cost identity (T-16), output-permutation sensitivity (T-4.5, T-C.5),
input reindexing (T-4.7, T-4.8a).

Independent route: costs by linear solves / pseudo-inverses built here, Δ_out and Δ_in summed from
their definitions, all permutations enumerated for T-C.5.
"""

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import checks
import strategies as S
from lmctheory import costs
from lmctheory import sensitivity as sens


def _terms(out):
    """(center, cross, mismatch) of a ``SwapCostDecomposition``; its ``total`` must be their sum."""
    t = np.array([out.center, out.cross, out.mismatch], float)
    if abs(out.total - t.sum()) > 1e-12 * (1 + np.abs(t).sum()):
        checks.fail("T-16", f"SwapCostDecomposition.total = {out.total} ≠ center + cross + mismatch = {t.sum()}")
    return t


def _pair(out, centers=None, coeffs=None, perm=None, mu=None, eps=None):
    """(leading, radius) of a ``SensitivityApproximation``; for T-4.5 its other fields are compared with
    their definitions (relative 1e-9)."""
    if centers is not None:
        D = centers[perm] - centers
        R = coeffs - centers
        moved = perm != np.arange(len(perm))
        want = dict(delta_fro_sq=float(np.sum(D**2)), inner=float(np.sum(D * R[perm] * moved[:, None])),
                    residual_fro=float(np.sqrt(np.sum(R[moved] ** 2))), kappa=eps / ((1 - eps) * mu),
                    n_moved=int(moved.sum()))
        for k, v in want.items():
            got = float(getattr(out, k))
            if abs(got - v) > 1e-9 * (1 + abs(v) + float(np.sum(R**2)) + want["delta_fro_sq"]):
                checks.fail("T-4.5", f"SensitivityApproximation.{k} = {got}, definition {v}")
    return float(out.leading), float(out.radius)


def _package_dout_matches(lay, grams, perm, tid, C=None, C_ref=None):
    """The package's ``permutation_sensitivity(realization_costs(…), π)`` equals ``Σ_i C[i,π(i)] − C[i,i]`` of the
    costs by linear solves (``checks.ref_costs_invertible``) to ``1e-9·(1 + Σ_i |C[i,π(i)]| + C[i,i])``."""
    if C is None:
        C = np.asarray(costs.realization_costs(lay.effective, lay.fixed, lay.diag, lay.basis))
    if C_ref is None:
        C_ref = checks.ref_costs_invertible(lay.centers, lay.coefficients, grams)
    idx = np.arange(len(perm))
    want = float(np.sum(C_ref[idx, perm] - C_ref[idx, idx]))
    got = float(sens.permutation_sensitivity(C, perm))
    scale = 1.0 + float(np.sum(np.abs(C_ref[idx, perm]) + np.abs(C_ref[idx, idx])))
    if not abs(got - want) <= 1e-9 * scale:
        checks.fail(tid, f"permutation_sensitivity(realization_costs, π={perm}) = {got:.12g}, linear solves give "
                         f"Δ_out = {want:.12g}")
    return want


def _genuine(lay, grams, mu):
    """Non-degenerate instance of §4–5 (tightness report): ``ε > 1e-6`` (``S_i`` not all isotropic), width
    ``n ≥ 4``, non-zero trainable parts."""
    return (checks.eps_of(grams, mu) > 1e-6 and lay.effective.shape[0] >= 4
            and bool(np.any(lay.coefficients - lay.centers)))


# ------------------------------------------------------------------------------------------ T-16

@pytest.mark.theorem("T-16")
@given(lay=S.invertible_layers(cond_max=1e5, modes=("wasym", "syre", "scaled", "standard")))
def test_T_16_swap_cost_identity(lay, theorem_report):
    """T-16 (eq. 16): ``Δ_ij`` from costs by linear solves (``checks.ref_costs_invertible`` on ``Σ_j d_ij²u_ju_jᵀ``,
    no package code) equals the package's center + cross + metric-mismatch terms for every pair (relative 1e-8 of
    the sum of |terms|), the terms equal eq. 16, and the package's ``swap_costs(realization_costs(…))`` equals the
    same ``Δ_ij`` (relative 1e-8 of ``|C_ij| + |C_ji| + C_ii + C_jj + 1``)."""
    V, A = lay.centers, lay.coefficients
    grams = checks.ref_grams(lay.diag, lay.basis)
    C_ref = checks.ref_costs_invertible(V, A, grams)
    sw_ref = checks.ref_swap(C_ref)
    err = checks.check_swap_identity(lambda v, a, g, i, j: _terms(sens.swap_cost_decomposition(v, a, g, i, j)),
                                     sw_ref, V, A, grams)
    C = np.asarray(costs.realization_costs(lay.effective, lay.fixed, lay.diag, lay.basis))
    sw = np.asarray(costs.swap_costs(C))
    d = np.diag(C_ref)
    scale = np.abs(C_ref) + np.abs(C_ref.T) + d[:, None] + d[None, :] + 1.0
    e2 = float(np.max(np.abs(sw - sw_ref) / scale))
    if not e2 <= 1e-8:
        i, j = np.unravel_index(np.argmax(np.abs(sw - sw_ref) / scale), sw.shape)
        checks.fail("T-16", f"swap_costs[{i},{j}] = {sw[i, j]:.10g}, linear solves give Δ_ij = {sw_ref[i, j]:.10g}")
    theorem_report.error("T-16", max(err, e2), key="Δ_ij = center + cross + mismatch (linear solves)")


# ------------------------------------------------------------------------------------------ T-4.5

def _mus(lay, mu_design):
    lam = np.linalg.eigvalsh(checks.ref_grams(lay.diag, lay.basis))
    return [("μ = E[d²]", mu_design), ("μ = midrange", 0.5 * (lam[:, -1].max() + lam[:, 0].min()))]


@pytest.mark.theorem("T-4.5")
@given(inst=S.near_isotropic_layers(), data=st.data())
def test_T_4_5_output_sensitivity(inst, data, theorem_report):
    """T-4.5: ``|Δ_out(π) − (1/μ)(‖Δ^π‖² + 2⟨Δ^π, ΠR_π⟩)| ≤ κ_ε Σ_moved(…)`` and the η-bracket, for random
    ``π ≠ id`` and two choices of ``μ`` (``ε < 1``); the package's approximation and bounds equal the
    docs/theory.md forms (1e-9). ``Δ_out`` comes from costs by linear solves (``checks.ref_costs_invertible``);
    the package's ``permutation_sensitivity(realization_costs(…), π)`` must equal it (relative 1e-9)."""
    lay, mu_design = inst
    n = lay.effective.shape[0]
    perm = data.draw(S.permutations(n))
    V, A = lay.centers, lay.coefficients
    grams = checks.ref_grams(lay.diag, lay.basis)
    _package_dout_matches(lay, grams, perm, "T-4.5")
    Dpi = np.asarray(sens.center_differences(V, perm))
    if not np.allclose(Dpi, V[perm] - V, rtol=1e-12, atol=1e-12):
        checks.fail("T-4.5", "center_differences ≠ v_π(i) − v_i")
    for label, mu in _mus(lay, mu_design):
        if not checks.eps_of(grams, mu) < 1:
            continue
        r1, rup, rlo = checks.check_output_sensitivity(
            lambda v, a, p, m, e: _pair(sens.permutation_sensitivity_approximation(v, a, p, m, e), v, a, p, m, e),
            sens.permutation_sensitivity_bounds, V, A, grams, perm, mu)
        genuine = _genuine(lay, grams, mu)
        if r1 is not None:
            theorem_report.ratio("T-4.5", r1, key=f"|Δ_out − approx| / κ_ε Σ ({label})", genuine=genuine)
        theorem_report.ratio("T-4.5", rup, key="Δ_out / upper", genuine=genuine)
        theorem_report.ratio("T-4.5", rlo, key="lower / Δ_out", genuine=genuine)


@pytest.mark.theorem("T-4.5")
@given(inst=S.near_isotropic_layers(center_dominated=True, eps_max=0.3), data=st.data())
def test_T_4_5_center_dominated_transpositions(inst, data, theorem_report):
    """T-4.5 in the center-dominated regime (targeted: ``σ_F ≫`` trainable, ``ε < 0.3``), transpositions
    only: the first inequality and the η-bracket, where the bracket is informative (``η`` small)."""
    lay, mu = inst
    n = lay.effective.shape[0]
    i = data.draw(st.integers(0, n - 1))
    j = data.draw(st.integers(0, n - 1).filter(lambda x: x != i))
    perm = np.arange(n)
    perm[i], perm[j] = j, i
    grams = checks.ref_grams(lay.diag, lay.basis)
    _package_dout_matches(lay, grams, perm, "T-4.5")
    r1, rup, rlo = checks.check_output_sensitivity(
        lambda v, a, p, m, e: _pair(sens.permutation_sensitivity_approximation(v, a, p, m, e)),
        sens.permutation_sensitivity_bounds, lay.centers, lay.coefficients, grams, perm, mu)
    genuine = _genuine(lay, grams, mu)
    if r1 is not None:
        theorem_report.ratio("T-4.5", r1, key="|Δ_out − approx| / κ_ε Σ (center-dominated τ)", genuine=genuine)
    theorem_report.ratio("T-4.5", rup, key="Δ_out / upper (center-dominated τ)", genuine=genuine)
    theorem_report.ratio("T-4.5", rlo, key="lower / Δ_out (center-dominated τ)", genuine=genuine)


# ------------------------------------------------------------------------------------------ T-C.5

@pytest.mark.theorem("T-C.5")
@given(inst=S.near_isotropic_layers(n=st.integers(2, 5)))
def test_T_C_5_min_reassignment(inst, theorem_report):
    """T-C.5: ``‖Δ^π‖_F² ≥ |moved(π)|δ_min² ≥ 2δ_min²`` for all ``π ≠ id`` and
    ``min_{π≠id} Δ_out(π) ≥ (2δ_min²/μ)[1 − 2η − (ε/(1−ε))((1+η)² + η²)]`` (all ``n!`` permutations;
    relative 1e-9; ``Δ_out`` from costs by linear solves). ``min_reassignment_lower_bound`` equals the docs/theory.md
    form (1e-10); the package's ``permutation_sensitivity(realization_costs(…), π)`` equals ``Δ_out(π)`` for every π."""
    lay, mu = inst
    grams = checks.ref_grams(lay.diag, lay.basis)
    n = lay.effective.shape[0]
    C = np.asarray(costs.realization_costs(lay.effective, lay.fixed, lay.diag, lay.basis))
    C_ref = checks.ref_costs_invertible(lay.centers, lay.coefficients, grams)
    for perm in itertools.permutations(range(n)):
        _package_dout_matches(lay, grams, np.array(perm), "T-C.5", C, C_ref)
    r = checks.check_min_reassignment(sens.min_reassignment_lower_bound, lay.centers, lay.coefficients, grams, mu)
    if r is None:
        theorem_report.error("T-C.5", 0.0, key="‖Δ^π‖² ≥ |moved| δ_min² only (bracket ≤ 0)")
    else:
        theorem_report.ratio("T-C.5", r, key="lower bound / min_π Δ_out", genuine=_genuine(lay, grams, mu))


@pytest.mark.theorem("T-C.5")
@settings(max_examples=checks.examples(8))
@given(inst=S.near_isotropic_layers(n=st.integers(4, 6), center_dominated=True, eps_max=0.3))
def test_T_C_5_min_reassignment_wide(inst, theorem_report):
    """T-C.5 on non-degenerate instances (width n = 4 … 6, center-dominated so that the bracket is positive,
    ``ε`` up to 0.3): the same checks as ``test_T_C_5_min_reassignment`` over all ``n!`` permutations."""
    lay, mu = inst
    grams = checks.ref_grams(lay.diag, lay.basis)
    C = np.asarray(costs.realization_costs(lay.effective, lay.fixed, lay.diag, lay.basis))
    C_ref = checks.ref_costs_invertible(lay.centers, lay.coefficients, grams)
    perms = list(itertools.permutations(range(lay.effective.shape[0])))
    for perm in perms[:: max(1, len(perms) // 60)]:
        _package_dout_matches(lay, grams, np.array(perm), "T-C.5", C, C_ref)
    r = checks.check_min_reassignment(sens.min_reassignment_lower_bound, lay.centers, lay.coefficients, grams, mu)
    if r is None:
        theorem_report.error("T-C.5", 0.0, key="‖Δ^π‖² ≥ |moved| δ_min² only (bracket ≤ 0)")
    else:
        theorem_report.ratio("T-C.5", r, key="lower bound / min_π Δ_out (n ≥ 4)", genuine=_genuine(lay, grams, mu))


@pytest.mark.theorem("T-C.5")
@pytest.mark.parametrize("k,eps", [(1, 0.0), (3, 0.0), (2, 0.1)])
def test_T_C_5_attained_isotropic(k, eps, theorem_report):
    """T-C.5 targeted: ``S_i = μ(1+ε)I`` and ``r = 0`` (η = 0): the cheapest reassignment is the transposition of the
    closest pair, ``min Δ_out = 2δ_min²/(μ(1+ε))``, and the bound ``(2δ_min²/μ)(1 − ε/(1−ε))`` is attained at ε = 0
    (ratio checked to 1e-9); ``min_reassignment_lower_bound`` from the package."""
    rng = np.random.default_rng(k)
    V = 3 * rng.standard_normal((5, k))
    mu = 1.5
    G = np.repeat(mu * (1 + eps) * np.eye(k)[None], 5, axis=0)
    r = checks.check_min_reassignment(sens.min_reassignment_lower_bound, V, V.copy(), G, mu)
    want = (1 - eps / (1 - eps)) * (1 + eps)
    if abs(r - want) > 1e-9:
        checks.fail("T-C.5", f"isotropic, r = 0: lower / min Δ_out = {r}, expected {want}")
    theorem_report.ratio("T-C.5", r, key="lower bound / min_π Δ_out (S = μ(1+ε)I, r = 0, targeted)")


@pytest.mark.theorem("T-C.5")
@pytest.mark.parametrize("seed", [None, 7, 8, 16, 21])
def test_T_C_5_nonpositive_bracket_counterexamples(seed, theorem_report):
    """T-C.5 needs ``β > 0`` (docs/theory.md): reproducible instances with ``S_i = I`` (``ε = 0``, ``μ = 1``) where
    ``β ≤ 0`` and ``min_{π≠id} Δ_out < (2δ_min²/μ)β``, i.e. the corollary without its hypothesis is false
    (``seed=None``: docs/theory.md's ``v = (0, 1, 10)``, ``r = (0, 0, −15)``: −118 < −2.71; seeds of
    ``checks.beta_nonpositive_instance``: 7: −48.2 < −39.7, 8: −16.6 < −0.60, 16: −165.9 < −73.7,
    21: −211.9 < −167.9). On the same instances the per-π bound ``Δ_out(π) ≥ (β_π/μ)‖Δ^π‖²`` holds
    (``check_min_reassignment``) and ``min_reassignment_lower_bound`` refuses the bracket (``−inf``)."""
    if seed is None:
        V = np.array([[0.0], [1.0], [10.0]])
        A = V + np.array([[0.0], [0.0], [-15.0]])
        G = np.repeat(np.eye(1)[None], 3, axis=0)
    else:
        V, A, G = checks.beta_nonpositive_instance(seed)
    best, dmin, eta, eps = checks.min_reassignment_summary(V, A, G, 1.0)
    beta = checks.reassignment_bracket(eps, eta)
    if not (beta <= 0 and best < 2 * dmin**2 * beta):
        checks.fail("T-C.5", f"expected a counterexample: β = {beta:.4g}, min Δ_out = {best:.6g}, 2δ_min²β = {2 * dmin**2 * beta:.6g}")
    if checks.check_min_reassignment(sens.min_reassignment_lower_bound, V, A, G, 1.0) is not None:
        checks.fail("T-C.5", "the corollary must not be applied with β ≤ 0")
    low = float(sens.min_reassignment_lower_bound(dmin, 1.0, eps, eta))
    if not low == -np.inf:
        checks.fail("T-C.5", f"min_reassignment_lower_bound with β = {beta:.3g} ≤ 0 returned {low}, not −inf")
    theorem_report.error("T-C.5", 0.0, key="β ≤ 0 counterexamples reproduced (per-π bound holds)")


# ------------------------------------------------------------------------------------------ T-4.7

@pytest.mark.theorem("T-4.7")
@given(inst=S.near_isotropic_layers(eps_max=0.8), data=st.data())
def test_T_4_7_input_sensitivity(inst, data, theorem_report):
    """T-4.7: ``Δ_in(ρ)`` (package) equals the definition (relative 1e-8), and
    ``|Δ_in(ρ) − (1/μ)(‖Δ^ρ‖² − 2⟨Δ^ρ, R⟩)| ≤ κ_ε Σ_i(‖r_i − Δ^ρ_i‖² + ‖r_i‖²)`` with ``ε`` over
    ``S_i`` and ``S_i^ρ``. ``input_center_differences`` equals ``Uᵀ(f_i[perm] − f_i)`` (package convention
    ``P_ρᵀf = f[perm]``; checks.py uses ``P_ρU = U[perm⁻¹]`` for the same ρ)."""
    lay, mu = inst
    d = lay.basis.shape[0]
    perm = data.draw(S.permutations(d))  # package convention: P_ρᵀ f = f[perm]
    inv = np.argsort(perm)  # checks.py convention: P_ρ U = U[inv] for the same ρ
    Drho = np.asarray(sens.input_center_differences(lay.fixed, lay.basis, perm))
    want = lay.fixed[:, perm] @ lay.basis - lay.centers
    if not np.allclose(Drho, want, rtol=1e-10, atol=1e-10 * max(1, np.abs(want).max())):
        checks.fail("T-4.7", "input_center_differences ≠ Uᵀ(f_i[perm] − f_i)")
    if not np.allclose(want, lay.fixed @ checks.reindexed(lay.basis, inv) - lay.centers, rtol=1e-10, atol=1e-10):
        checks.fail("T-4.7", "internal: conventions of checks.py and the package disagree")
    _, _, _, Sg, Sp = checks.input_sensitivity_parts(lay.effective, lay.fixed, lay.diag, lay.basis, inv)
    assume(max(checks.eps_of(Sg, mu), checks.eps_of(Sp, mu)) < 1)
    r = checks.check_input_sensitivity(
        lambda E, F, D, U, p: sens.input_sensitivity(E, F, D, U, np.argsort(p)),
        lambda E, F, D, U, p, m, e: _pair(sens.input_sensitivity_approximation(E, F, D, U, np.argsort(p), m, e)),
        lay, inv, mu)
    theorem_report.ratio("T-4.7", r if r is not None else [], key="|Δ_in − approx| / κ_ε Σ",
                         genuine=_genuine(lay, checks.ref_grams(lay.diag, lay.basis), mu))


# ------------------------------------------------------------------------------------------ T-4.8a

@pytest.mark.theorem("T-4.8a")
@given(lay=S.layers(d=st.integers(2, 12)), data=st.data())
def test_T_4_8a_transposition_rank_one(lay, data, theorem_report):
    """T-4.8a (eq. 27): ``Δ^τ = (F_q − F_p)(u_p − u_q)ᵀ`` (rank one), ``‖Δ^τ‖² = ‖F_p − F_q‖²‖u_p − u_q‖²``
    and ``‖u_p − u_q‖² ≤ min(2, 4ν)`` (relative 1e-10)."""
    d = lay.basis.shape[0]
    p = data.draw(st.integers(0, d - 1))
    q = data.draw(st.integers(0, d - 1).filter(lambda x: x != p))
    e, r = checks.check_transposition_identity(sens.coordinate_transposition_differences, lay.fixed, lay.basis, p, q)
    fro = float(sens.coordinate_transposition_fro_sq(lay.fixed, lay.basis, p, q))
    want = float(np.sum((lay.fixed[:, p] - lay.fixed[:, q]) ** 2) * np.sum((lay.basis[p] - lay.basis[q]) ** 2))
    if abs(fro - want) > 1e-10 * max(1.0, want):
        checks.fail("T-4.8a", f"coordinate_transposition_fro_sq = {fro}, ‖F_p − F_q‖²‖u_p − u_q‖² = {want}")
    theorem_report.error("T-4.8a", e, key="Δ^τ rank-one identity")
    # genuine: a basis far from coordinate-aligned (coherence ν ≤ 1/2), d ≥ 4
    theorem_report.ratio("T-4.8a", r, key="‖u_p − u_q‖² / min(2, 4ν)",
                         genuine=d >= 4 and checks.ref_coherence(lay.basis) <= 0.5)


@pytest.mark.theorem("T-4.8a")
@given(d=st.integers(2, 12), data=st.data())
def test_T_4_8a_coherence_cap_tight(d, data, theorem_report):
    """T-4.8a targeted: coordinate-aligned bases make ``‖u_p − u_q‖² = 2`` (cap attained); the
    bound ``‖u_p − u_q‖² ≤ min(2, 4ν)`` is checked on ``coherent_basis(mix)`` over the whole range."""
    from lmctheory.synthetic import coherent_basis

    k = data.draw(st.integers(1, d))
    mix = data.draw(st.sampled_from([0.0, 0.05, 0.5, 1.0]))
    U = coherent_basis(d, k, mix, seed=data.draw(S.seeds))
    nu = checks.ref_coherence(U)
    G = np.sum((U[:, None] - U[None]) ** 2, axis=2)
    cap = min(2.0, 4 * nu)
    if G.max() > cap + 1e-12:
        checks.fail("T-4.8a", f"max ‖u_p − u_q‖² = {G.max()} > min(2, 4ν) = {cap}")
    theorem_report.ratio("T-4.8a", G.max() / cap, key="‖u_p − u_q‖² / min(2, 4ν)", genuine=d >= 4 and nu <= 0.5)
