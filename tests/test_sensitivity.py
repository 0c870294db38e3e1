"""Output / input permutation sensitivities (eq. 14–17, T-16, T-4.5, T-C.5, T-4.7, T-4.8a)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lmctheory.costs import realization_costs, self_costs
from lmctheory.gram import gram_deviation_norms, gram_matrices, induced_coefficients
from lmctheory.sensitivity import (
    center_differences,
    coordinate_transposition_differences,
    coordinate_transposition_fro_sq,
    input_center_differences,
    input_sensitivity,
    input_sensitivity_approximation,
    min_reassignment_lower_bound,
    permutation_sensitivity,
    permutation_sensitivity_approximation,
    permutation_sensitivity_bounds,
    swap_cost_decomposition,
)
from lmctheory.subspace import min_center_gap, projected_centers
from lmctheory.synthetic import asymmetric_layer, coherent_basis, random_basis

from .naive import naive_swap_cost


def _perm_matrix(rho):
    """``P_ρ e_j = e_{ρ(j)}`` — the convention stated in lmctheory.sensitivity."""
    d = len(rho)
    P = np.zeros((d, d))
    P[rho, np.arange(d)] = 1.0
    return P


def _pinv_cost(x, S):
    return x @ np.linalg.pinv(S) @ x


@st.composite
def full_rank_layers(draw):
    """W-asymmetric / syre layers with invertible Grams (k well below the visible coordinates)."""
    d = draw(st.integers(6, 24))
    k = draw(st.integers(1, max(1, d // 3)))
    n = draw(st.integers(2, 8))
    mode = draw(st.sampled_from(["wasym", "syre"]))
    seed = draw(st.integers(0, 2**16))
    sigma_f = draw(st.sampled_from([0.5, 3.0, 20.0]))
    ws = draw(st.sampled_from([0.1, 1.0]))
    layer = asymmetric_layer(n, d, mode, sigma_f=sigma_f, weight_scale=ws, seed=seed)
    U = coherent_basis(d, k, draw(st.sampled_from([0.3, 1.0])), seed=seed + 1)
    return layer, U


def _parts(layer, U):
    V = projected_centers(layer.fixed, U)
    A = induced_coefficients(layer.effective, U)
    S = gram_matrices(layer.diag, U)
    return V, A, S


# ---------- eq. 14–17 ----------------------------------------------------------------------

def test_center_differences():
    V = np.random.default_rng(0).standard_normal((6, 3))
    p = np.array([2, 1, 0, 4, 5, 3])
    Dl = center_differences(V, p)
    for i in range(6):
        np.testing.assert_array_equal(Dl[i], V[p[i]] - V[i])
    tau = np.arange(6)
    tau[[1, 4]] = [4, 1]
    np.testing.assert_allclose(np.sum(center_differences(V, tau) ** 2),
                               2 * np.sum((V[1] - V[4]) ** 2), rtol=1e-14)
    assert np.all(center_differences(V, np.arange(6)) == 0)


@settings(max_examples=30, deadline=None)
@given(full_rank_layers(), st.integers(0, 2**16))
def test_permutation_sensitivity_vs_brute_force(case, pseed):
    layer, U = case
    C = realization_costs(layer.effective, layer.fixed, layer.diag, U)
    n = C.shape[0]
    p = np.random.default_rng(pseed).permutation(n)
    brute = sum(C[i, p[i]] for i in range(n)) - np.trace(C)
    got = permutation_sensitivity(C, p)
    np.testing.assert_allclose(got, brute, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(C).max()))
    assert permutation_sensitivity(C, np.arange(n)) == 0.0


def test_permutation_sensitivity_inf_and_bad_input():
    C = np.array([[1.0, np.inf, 2.0], [3.0, 0.5, 1.0], [1.0, 1.0, 0.0]])
    assert permutation_sensitivity(C, [1, 0, 2]) == np.inf
    np.testing.assert_allclose(permutation_sensitivity(C, [2, 1, 0]), 2.0 + 1.0 - 1.0 - 0.0)
    Cd = C.copy()
    Cd[2, 2] = np.inf
    assert permutation_sensitivity(Cd, [1, 0, 2]) == np.inf  # row 2 not moved: its diagonal is irrelevant
    with pytest.raises(ValueError, match="diagonal"):
        permutation_sensitivity(Cd, [2, 1, 0])
    with pytest.raises(ValueError, match="NaN"):
        permutation_sensitivity(np.where(C == np.inf, np.nan, C), [0, 1, 2])
    with pytest.raises(ValueError, match="square"):
        permutation_sensitivity(C[:2], [0, 1])
    with pytest.raises(ValueError, match="perm"):
        permutation_sensitivity(C, [0, 0, 1])
    with pytest.raises(ValueError, match="perm"):
        permutation_sensitivity(C, [0, 1])
    with pytest.raises(TypeError, match="perm"):
        permutation_sensitivity(C, [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="costs"):
        permutation_sensitivity(np.ones(3), [0, 1, 2])


# ---------- T-16 ---------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(full_rank_layers(), st.data())
def test_t16_identity(case, data):
    layer, U = case
    V, A, S = _parts(layer, U)
    n = V.shape[0]
    i = data.draw(st.integers(0, n - 1))
    j = data.draw(st.integers(0, n - 1).filter(lambda x: x != i))
    dec = swap_cost_decomposition(V, A, S, i, j)
    brute = naive_swap_cost(V, A, S, i, j)
    scale = max(1.0, abs(dec.center) + abs(dec.cross) + abs(dec.mismatch))
    np.testing.assert_allclose(dec.total, brute, rtol=0, atol=1e-8 * scale)
    np.testing.assert_allclose(dec.total, dec.center + dec.cross + dec.mismatch, rtol=1e-15, atol=0)
    assert dec.center >= 0
    C = realization_costs(layer.effective, layer.fixed, layer.diag, U)
    np.testing.assert_allclose(dec.total, C[i, j] + C[j, i] - C[i, i] - C[j, j], rtol=0, atol=1e-7 * scale)


def test_t16_bites():
    """A flipped cross-term sign breaks the identity (the check can fail)."""
    layer = asymmetric_layer(4, 20, "wasym", sigma_f=1.0, weight_scale=3.0, seed=1)
    U = random_basis(20, 4, seed=2)
    V, A, S = _parts(layer, U)
    dec = swap_cost_decomposition(V, A, S, 0, 1)
    brute = naive_swap_cost(V, A, S, 0, 1)
    assert abs(dec.center - dec.cross + dec.mismatch - brute) > 1e-3 * abs(brute)


def test_swap_decomposition_bad_input():
    V = np.zeros((3, 2))
    A = np.ones((3, 2))
    S = np.stack([np.eye(2)] * 3)
    swap_cost_decomposition(V, A, S, 0, 2)
    with pytest.raises(ValueError, match="distinct"):
        swap_cost_decomposition(V, A, S, 1, 1)
    with pytest.raises(ValueError, match="j"):
        swap_cost_decomposition(V, A, S, 0, 3)
    with pytest.raises(ValueError, match="grams"):
        swap_cost_decomposition(V, A, S[:, :1], 0, 1)
    Ss = S.copy()
    Ss[1] = np.diag([1.0, 0.0])
    with pytest.raises(ValueError, match=r"grams\[1\]"):
        swap_cost_decomposition(V, A, Ss, 0, 1)
    with pytest.raises(ValueError, match="coefficients"):
        swap_cost_decomposition(V, A[:, :1], S, 0, 1)
    with pytest.raises(TypeError, match="i"):
        swap_cost_decomposition(V, A, S, 0.0, 1)


# ---------- T-4.5, T-C.5 ---------------------------------------------------------------------

def _mu_eps(layer, U):
    mu = float(np.mean(layer.diag ** 2))
    eps = float(gram_deviation_norms(layer.diag, U, mu).max()) / mu
    return mu, eps


@settings(max_examples=30, deadline=None)
@given(full_rank_layers(), st.integers(0, 2**16))
def test_t45_inequalities(case, pseed):
    layer, U = case
    mu, eps = _mu_eps(layer, U)
    if eps >= 0.95:
        return  # hypothesis (18) fails: nothing to check
    V, A, _ = _parts(layer, U)
    C = realization_costs(layer.effective, layer.fixed, layer.diag, U)
    n = V.shape[0]
    p = np.random.default_rng(pseed).permutation(n)
    dout = permutation_sensitivity(C, p)
    ap = permutation_sensitivity_approximation(V, A, p, mu, eps)
    tol = 1e-8 * (1 + abs(ap.leading) + ap.radius)
    assert abs(dout - ap.leading) <= ap.radius + tol
    np.testing.assert_allclose(ap.delta_fro_sq, np.sum(center_differences(V, p) ** 2), rtol=1e-12)
    lo, hi = permutation_sensitivity_bounds(ap.delta_fro_sq, mu, eps, ap.eta)
    if np.isfinite(ap.eta):
        assert lo - tol <= dout <= hi + tol
    if ap.n_moved:
        assert ap.delta_fro_sq >= ap.n_moved * min_center_gap(V) ** 2 * (1 - 1e-12)  # T-C.5
        # T-C.5: with η for this π, Δ_out(π) ≥ the min-reassignment bound at that η
        assert dout >= min_reassignment_lower_bound(min_center_gap(V), mu, eps, ap.eta) - tol


def test_t45_bites_and_fields():
    """Dropping the cross term is caught on a nearly isotropic layer with a large trainable part."""
    found = False
    for seed in range(20):
        layer = asymmetric_layer(6, 400, "wasym", sigma_f=1.0, weight_scale=20.0, fixed_per_row=8,
                                 seed=seed)
        U = random_basis(400, 3, seed=seed)
        mu, eps = _mu_eps(layer, U)
        V, A, _ = _parts(layer, U)
        C = realization_costs(layer.effective, layer.fixed, layer.diag, U)
        p = np.roll(np.arange(6), 1)
        dout = permutation_sensitivity(C, p)
        ap = permutation_sensitivity_approximation(V, A, p, mu, eps)
        assert abs(dout - ap.leading) <= ap.radius * (1 + 1e-9)
        wrong = ap.delta_fro_sq / mu  # cross term dropped
        if abs(dout - wrong) > ap.radius:
            found = True
            break
    assert found
    assert ap.lower == ap.leading - ap.radius and ap.upper == ap.leading + ap.radius
    assert ap.kappa == pytest.approx(eps / ((1 - eps) * mu))
    ident = permutation_sensitivity_approximation(V, A, np.arange(6), mu, eps)
    assert ident.leading == 0 and ident.radius == 0 and ident.n_moved == 0


def test_center_dominated_regime_is_tight():
    """Large σ_F, small trainable part: Δ_out(π) ≈ ‖Δ^π‖_F²/μ within the radius, and η small."""
    layer = asymmetric_layer(10, 200, "wasym", sigma_f=10.0, weight_scale=0.1, fixed_per_row=40, seed=0)
    U = random_basis(200, 5, seed=1)
    mu, eps = _mu_eps(layer, U)
    assert eps < 1
    V, A, _ = _parts(layer, U)
    C = realization_costs(layer.effective, layer.fixed, layer.diag, U)
    p = np.roll(np.arange(10), 3)
    ap = permutation_sensitivity_approximation(V, A, p, mu, eps)
    dout = permutation_sensitivity(C, p)
    assert ap.eta < 0.1
    assert abs(dout - ap.leading) <= ap.radius * (1 + 1e-9)


def test_t_c5_negative_bracket_counterexample():
    """Why min_reassignment_lower_bound returns −inf for a negative bracket: the raw formula fails.

    With S = I and ε = 0: Δ_out(π) = −0.240 while (2δ_min²/μ)(1 − 2η) = −0.030 (η = 1.2).
    """
    V = np.array([[-0.15066268], [0.07562288], [0.17967736], [-0.28668493]])
    mu, eps, dmin = 1.0, 0.0, min_center_gap(V)
    # S = I exactly, so Δ_out(π) equals the leading term; pick trainable parts against Δ^π
    p = np.array([1, 2, 0, 3])
    Dl = center_differences(V, p)
    A = V.copy()
    A[p[:3]] -= 1.2 * Dl[:3]  # r_{π(i)} = −1.2 Δ^π_i
    ap = permutation_sensitivity_approximation(V, A, p, mu, eps)
    raw = 2 * dmin ** 2 / mu * (1 - 2 * ap.eta - 0.0)
    assert ap.radius == 0 and ap.leading < raw  # the raw formula is violated
    assert min_reassignment_lower_bound(dmin, mu, eps, ap.eta) == -np.inf


def test_bounds_closed_forms_and_bad_input():
    lo, hi = permutation_sensitivity_bounds(4.0, 2.0, 0.2, 0.1)
    c = 0.2 + 0.25 * (1.21 + 0.01)
    assert lo == pytest.approx(2.0 * (1 - c)) and hi == pytest.approx(2.0 * (1 + c))
    assert permutation_sensitivity_bounds(4.0, 2.0, 0.0, 0.0) == (2.0, 2.0)
    assert min_reassignment_lower_bound(1.5, 2.0, 0.2, 0.1) == pytest.approx(2 * 2.25 / 2.0 * (1 - c))
    assert min_reassignment_lower_bound(1.5, 2.0, 0.2, 1.0) == -np.inf  # negative bracket: vacuous
    for bad in [dict(mu=0.0), dict(mu=-1.0), dict(eps=1.0), dict(eps=-0.1), dict(eta=-1.0),
                dict(delta_fro_sq=-1.0), dict(eps=np.nan)]:
        kw = dict(delta_fro_sq=1.0, mu=1.0, eps=0.1, eta=0.1) | bad
        with pytest.raises(ValueError, match=list(bad)[0]):
            permutation_sensitivity_bounds(**kw)
    with pytest.raises(ValueError, match="delta_min"):
        min_reassignment_lower_bound(-1.0, 1.0, 0.1, 0.1)
    V = np.zeros((3, 2))
    with pytest.raises(ValueError, match="coefficients"):
        permutation_sensitivity_approximation(V, np.zeros((3, 3)), [0, 1, 2], 1.0, 0.1)
    with pytest.raises(ValueError, match="eps"):
        permutation_sensitivity_approximation(V, V, [0, 1, 2], 1.0, 1.0)


# ---------- §5: input reindexing, T-4.7, T-4.8a ------------------------------------------------

def test_permutation_matrix_convention():
    rng = np.random.default_rng(0)
    d, k, n = 7, 3, 4
    U = random_basis(d, k, seed=0)
    F = rng.standard_normal((n, d))
    rho = rng.permutation(d)
    P = _perm_matrix(rho)
    Dr = input_center_differences(F, U, rho)
    for i in range(n):
        np.testing.assert_allclose(Dr[i], U.T @ (P.T - np.eye(d)) @ F[i], atol=1e-14)
    # (P_ρ x)_{ρ(j)} = x_j
    x = rng.standard_normal(d)
    np.testing.assert_array_equal((P @ x)[rho], x)


@settings(max_examples=25, deadline=None)
@given(full_rank_layers(), st.integers(0, 2**16))
def test_input_sensitivity_vs_explicit(case, rseed):
    layer, U = case
    d = U.shape[0]
    rho = np.random.default_rng(rseed).permutation(d)
    P = _perm_matrix(rho)
    E, F, D = layer.effective, layer.fixed, layer.diag
    brute = 0.0
    for i in range(E.shape[0]):
        a = U.T @ E[i]
        S0 = U.T @ np.diag(D[i] ** 2) @ U
        S1 = U.T @ P.T @ np.diag(D[i] ** 2) @ P @ U
        brute += _pinv_cost(a - U.T @ P.T @ F[i], S1) - _pinv_cost(U.T @ (E[i] - F[i]), S0)
    got = input_sensitivity(E, F, D, U, rho)
    scale = max(1.0, np.sum(self_costs(E, F, D, U)), abs(brute))
    np.testing.assert_allclose(got, brute, rtol=0, atol=1e-7 * scale)
    assert input_sensitivity(E, F, D, U, np.arange(d)) == 0.0


@settings(max_examples=25, deadline=None)
@given(full_rank_layers(), st.integers(0, 2**16))
def test_t47_inequality(case, rseed):
    layer, U = case
    d = U.shape[0]
    rho = np.random.default_rng(rseed).permutation(d)
    E, F, D = layer.effective, layer.fixed, layer.diag
    mu = float(np.mean(D ** 2))
    eps = max(gram_deviation_norms(D, U, mu).max(), gram_deviation_norms(D[:, rho], U, mu).max()) / mu
    if eps >= 0.95:
        return
    din = input_sensitivity(E, F, D, U, rho)
    ap = input_sensitivity_approximation(E, F, D, U, rho, mu, eps)
    tol = 1e-8 * (1 + abs(ap.leading) + ap.radius)
    assert abs(din - ap.leading) <= ap.radius + tol
    np.testing.assert_allclose(ap.delta_fro_sq, np.sum(input_center_differences(F, U, rho) ** 2), rtol=1e-12)


def test_t47_bites():
    """Flipping the sign of the cross term ⟨Δ^ρ, R⟩ is caught on some instance."""
    found = False
    for seed in range(30):
        layer = asymmetric_layer(6, 24, "syre", sigma_f=1.0, weight_scale=3.0, seed=seed)
        U = coherent_basis(24, 3, 0.3, seed=seed)
        rho = np.random.default_rng(seed).permutation(24)
        E, F, D = layer.effective, layer.fixed, layer.diag
        din = input_sensitivity(E, F, D, U, rho)
        ap = input_sensitivity_approximation(E, F, D, U, rho, 1.0, 0.0)  # syre: S = I exactly
        assert abs(din - ap.leading) <= 1e-8 * (1 + abs(din))
        wrong = (ap.delta_fro_sq + 2 * ap.inner) / 1.0
        if abs(din - wrong) > 1e-6 * (1 + abs(din)):
            found = True
            break
    assert found


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 15), st.integers(1, 6), st.data())
def test_t48a_rank_one(d, n, data):
    k = data.draw(st.integers(1, d))
    U = coherent_basis(d, k, data.draw(st.sampled_from([0.0, 0.5, 1.0])), seed=data.draw(st.integers(0, 99)))
    F = np.random.default_rng(d * n).standard_normal((n, d))
    p = data.draw(st.integers(0, d - 1))
    q = data.draw(st.integers(0, d - 1))
    tau = np.arange(d)
    tau[[p, q]] = [q, p]
    Dt = coordinate_transposition_differences(F, U, p, q)
    np.testing.assert_allclose(Dt, input_center_differences(F, U, tau), atol=1e-12)
    fs = coordinate_transposition_fro_sq(F, U, p, q)
    np.testing.assert_allclose(fs, np.sum(Dt ** 2), rtol=1e-10, atol=1e-14)
    if p != q:
        assert np.linalg.matrix_rank(Dt, tol=1e-10 * max(1.0, np.abs(Dt).max())) <= 1
        nu = np.max(np.sum(U ** 2, axis=1))
        assert np.sum((U[p] - U[q]) ** 2) <= min(2.0, 4 * nu) + 1e-12
    else:
        assert fs == 0.0


def test_input_bad_input():
    layer = asymmetric_layer(3, 6, "wasym", seed=0)
    U = random_basis(6, 2, seed=0)
    E, F, D = layer.effective, layer.fixed, layer.diag
    with pytest.raises(ValueError, match="perm"):
        input_sensitivity(E, F, D, U, np.arange(5))
    with pytest.raises(ValueError, match="fixed"):
        input_sensitivity(E, F[:2], D, U, np.arange(6))
    with pytest.raises(ValueError, match="effective"):
        input_sensitivity(E[:, :5], F, D, U, np.arange(6))
    with pytest.raises(ValueError, match="orthonormal"):
        input_center_differences(F, U * 2, np.arange(6))
    with pytest.raises(ValueError, match="p"):
        coordinate_transposition_differences(F, U, 6, 0)
    with pytest.raises(ValueError, match="q"):
        coordinate_transposition_fro_sq(F, U, 0, -1)
    with pytest.raises(ValueError, match="diag"):
        input_sensitivity(E, F, np.where(D == 0, np.inf, D), U, np.arange(6))
    with pytest.raises(ValueError, match="infinite self cost"):
        # an effective row off its affine set (a fixed entry changed) has no finite self cost
        E2 = E.copy()
        E2[0, np.flatnonzero(D[0] == 0)[0]] += 5.0
        input_sensitivity(E2, F, D, np.eye(6)[:, :6], np.arange(6)[::-1].copy())
