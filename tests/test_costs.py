"""Realization costs (T-10, eq. (10)), swap costs (eq. (14–15)), relaxed costs (T-E.4, T-E.5)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lmctheory.costs as costs_mod
from lmctheory.costs import (
    min_norm_weights,
    realization_costs,
    relaxed_cost_bound,
    self_costs,
    swap_costs,
)
from lmctheory.gram import gram_matrices
from lmctheory.synthetic import AsymmetricLayer, asymmetric_layer, coherent_basis, random_basis

from .naive import (
    einsum_pinv_costs,
    naive_cost_row,
    naive_gram_matrices,
    naive_pinv_and_null,
    naive_realization_costs,
)

EPS = np.finfo(float).eps


@st.composite
def layers(draw, max_n=8, max_d=14):
    d = draw(st.integers(1, max_d))
    k = draw(st.integers(1, d))
    n = draw(st.integers(1, max_n))
    mode = draw(st.sampled_from(["wasym", "sparse", "standard", "syre"]))
    seed = draw(st.integers(0, 2**16))
    kw = {}
    if mode == "wasym":
        kw["fixed_per_row"] = draw(st.integers(0, d))
    if mode == "sparse":
        kw["keep_prob"] = draw(st.sampled_from([0.3, 0.6, 0.9]))
    layer = asymmetric_layer(n, d, mode, seed=seed, **kw)
    # non-binary operators: a few rescaled entries (low-rank update of I) or all entries random
    rescale = draw(st.sampled_from([None, "few", "all"]))
    if rescale is not None:
        rng = np.random.default_rng(seed + 2)
        D = layer.diag.copy()
        if rescale == "few":
            D[rng.random(D.shape) < 0.15] *= rng.choice([0.5, 1.7])
        else:
            D = D * rng.uniform(0.0, 2.0, D.shape)
        layer = AsymmetricLayer(layer.fixed + D * layer.trainable, layer.fixed, D, layer.trainable)
    mix = draw(st.sampled_from([None, 0.0, 0.5]))  # coordinate-aligned bases give exactly singular S_i
    U = random_basis(d, k, seed=seed + 1) if mix is None else coherent_basis(d, k, mix, seed=seed + 1)
    return layer, U


def _kappa_tol(layer, U):
    """Per-row allowance ``1e-9 + 1e3·ε·κ(S_i)`` for the error of ``S_i†`` itself (any method)."""
    S = naive_gram_matrices(layer.diag, U)
    out = []
    for s in S:
        lam = np.linalg.eigvalsh(s)
        pos = lam[lam > 10 * len(lam) * EPS * max(lam[-1], 0)]
        out.append(1e-9 + 1e3 * EPS * (pos[-1] / pos[0] if pos.size else 1.0))
    return np.array(out)[:, None]


def _args(layer, U):
    return layer.effective, layer.fixed, layer.diag, U


@settings(max_examples=60, deadline=None)
@given(layers())
def test_costs_match_naive(case):
    layer, U = case
    C = realization_costs(*_args(layer, U))
    Cn = naive_realization_costs(*_args(layer, U))
    n = C.shape[0]
    assert C.shape == (n, n)
    np.testing.assert_array_equal(np.isfinite(C), np.isfinite(Cn))  # same range decisions
    assert not np.isnan(C).any() and (C >= 0).all()
    fin = np.isfinite(Cn)
    tol = np.broadcast_to(_kappa_tol(layer, U), C.shape)
    err = np.abs(np.where(fin, C, 0.0) - np.where(fin, Cn, 0.0))
    assert np.all(err[fin] <= tol[fin] * np.abs(Cn[fin]) + 1e-300)
    # the diagonal (own function) is always realizable: r_i = M_i w_i
    assert np.all(np.isfinite(np.diag(C)))
    np.testing.assert_array_equal(self_costs(*_args(layer, U)), np.diag(C))


@settings(max_examples=40, deadline=None)
@given(layers())
def test_prepare_rows_kernel_matches_naive(case):
    """Kernel level: the packed GEMM rows, ‖S†‖ bound, direct diagonal and range flags per neuron."""
    from lmctheory.kernels.costs import lapack_fns, prepare_rows

    layer, U = case
    plan = costs_mod._Plan(layer.effective, layer.fixed, layer.diag, U, 1e-8, None)
    n = layer.effective.shape[0]
    A = plan.A
    V, L, pnorm, diagc, unreal = plan.prepare(0, n, 0, n, True)
    wn = np.linalg.norm(layer.effective, axis=1)
    fn = np.linalg.norm(layer.fixed, axis=1)
    S = naive_gram_matrices(layer.diag, U)
    Rr = (layer.effective - layer.fixed) @ U
    for i in range(n):
        P, N = naive_pinv_and_null(S[i])
        ref = naive_cost_row(S[i], V[i])
        lam = np.linalg.eigvalsh(S[i])[N.shape[1]:]
        scale = 1e-9 + 1e3 * EPS * (lam[-1] / lam[0] if lam.size else 1.0)  # ε·κ₊(S_i) allowance
        np.testing.assert_allclose(L[i], ref, rtol=0, atol=scale * (np.abs(ref).max() + 1e-300))
        assert pnorm[i] >= np.linalg.norm(P, 2) * (1 - 1e-6)
        assert pnorm[i] <= np.trace(P) * (1 + 1e-6) + 1e-300  # a cheap bound, not too loose
        np.testing.assert_allclose(diagc[i], Rr[i] @ P @ Rr[i], rtol=max(scale, 1e-9), atol=1e-300)
        X = A - V[i]
        flags = np.linalg.norm(X @ N, axis=1) > 1e-8 * (wn + fn[i])
        np.testing.assert_array_equal(unreal[i], flags)
    # the serial kernel on a sub-range leaves the other rows untouched
    if n < 2:
        return
    L2 = np.full_like(L, -7.0)
    prepare_rows(lapack_fns(), 1, 2, 0, U, layer.diag ** 2, np.zeros((1, L.shape[1])), np.full(n, -1), V,
                 Rr, A, wn, fn, costs_mod.EIG_TOL_C, 1e-8, True, L2, pnorm.copy(), diagc.copy(), unreal.copy())
    assert np.all(L2[[i for i in range(n) if i != 1]] == -7.0)


@settings(max_examples=30, deadline=None)
@given(layers(max_n=9), st.data())
def test_row_blocks_equal_full(case, data):
    layer, U = case
    n = layer.effective.shape[0]
    C = realization_costs(*_args(layer, U))
    cuts = sorted(set(data.draw(st.lists(st.integers(1, n - 1), max_size=3)) if n > 1 else []))
    edges = [0, *cuts, n]
    parts = [realization_costs(*_args(layer, U), rows=(a, b)) for a, b in zip(edges[:-1], edges[1:])]
    np.testing.assert_array_equal(np.vstack(parts), C)  # bit for bit


def test_row_blocks_equal_full_across_chunks(monkeypatch):
    # several row chunks and column tiles, a block straddling a chunk boundary
    monkeypatch.setattr(costs_mod, "_COL_TILE", 7)
    monkeypatch.setattr(costs_mod, "_row_chunk", lambda k: 16)
    layer = asymmetric_layer(40, 30, "wasym", seed=5)
    U = random_basis(30, 6, seed=6)
    C = realization_costs(*_args(layer, U))
    for a, b in [(0, 1), (5, 21), (15, 17), (39, 40), (16, 32)]:
        np.testing.assert_array_equal(realization_costs(*_args(layer, U), rows=(a, b)), C[a:b])
    np.testing.assert_allclose(C, naive_realization_costs(*_args(layer, U)), rtol=1e-9)


@pytest.mark.parametrize("path", ["dense", "binary_lowrank", "general_lowrank", "singular_dense",
                                  "singular_binary", "nearly_singular"])
def test_each_kernel_path_matches_naive(path):
    """Every per-neuron path of the kernel (Cholesky dense / Woodbury binary / eigen fallbacks)."""
    n, d, k = 6, 40, 8
    lay = asymmetric_layer(n, d, "wasym", fixed_per_row=3, seed=9)
    U = random_basis(d, k, seed=10)
    D = lay.diag.copy()
    if path == "dense":
        D = np.random.default_rng(0).uniform(0.2, 1.5, (n, d))
    elif path == "general_lowrank":
        D[:, :3] = 0.5
    elif path in ("singular_dense", "singular_binary"):
        U = coherent_basis(d, k, 0.0, seed=1)
        used = np.flatnonzero(np.abs(U).sum(axis=1) > 0)
        D[:, used[:2]] = 0.0  # two support directions invisible to every neuron
        if path == "singular_dense":
            D[:, used[2:]] *= 0.8
            D[:, -30:] = 0.3
    elif path == "nearly_singular":
        # a direction seen only through a tiny visible mass: κ(S_i) ≈ 1e10, still full rank
        U = coherent_basis(d, k, 0.0, seed=1)
        p = int(np.argmax(np.abs(U[:, 0])))
        q = int(np.flatnonzero(np.abs(U).sum(axis=1) == 0)[0])
        U[:, 0] = 0.0
        U[p, 0], U[q, 0] = np.sqrt(1 - 1e-10), 1e-5
        D[:, p], D[:, q] = 0.0, 1.0
    E = lay.fixed + D * lay.trainable
    C = realization_costs(E, lay.fixed, D, U)
    Cn = naive_realization_costs(E, lay.fixed, D, U)
    np.testing.assert_array_equal(np.isfinite(C), np.isfinite(Cn))
    fin = np.isfinite(C)
    tol = _kappa_tol(AsymmetricLayer(E, lay.fixed, D, lay.trainable), U)
    assert np.all(np.abs(C[fin] - Cn[fin]) <= np.broadcast_to(tol, C.shape)[fin] * Cn[fin])
    if path.startswith("singular"):
        assert not fin.all()


def test_matches_einsum_baseline_and_inf_entries():
    # sparse masks on a coordinate-aligned support: rank-deficient S_i, so +inf entries appear
    layer = asymmetric_layer(12, 10, "sparse", keep_prob=0.6, seed=2)
    U = coherent_basis(10, 4, 0.0, seed=3)
    C = realization_costs(*_args(layer, U))
    B = einsum_pinv_costs(*_args(layer, U))
    assert np.isinf(C).any() and np.isfinite(C).any()
    off = ~np.eye(12, dtype=bool)
    np.testing.assert_array_equal(np.isfinite(C[off]), np.isfinite(B[off]))
    fin = off & np.isfinite(C)
    np.testing.assert_allclose(C[fin], B[fin], rtol=1e-9)
    assert np.all(np.isfinite(np.diag(C)))


def test_T10_min_norm_weights():
    """T-10: w* = M_iᵀS_i†(a − v_i) solves M_i w = a − v_i, has ‖w*‖² = C[i,j], and is minimal."""
    rng = np.random.default_rng(0)
    for mode, mix in [("wasym", None), ("sparse", 0.0), ("syre", None), ("sparse", 0.5)]:
        layer = asymmetric_layer(7, 9, mode, seed=11)
        U = random_basis(9, 4, seed=12) if mix is None else coherent_basis(9, 4, mix, seed=12)
        C = realization_costs(*_args(layer, U))
        A = layer.effective @ U
        for i in range(7):
            M = U.T * layer.diag[i]
            v = U.T @ layer.fixed[i]
            null = np.linalg.svd(M)[2][np.linalg.matrix_rank(M):]  # null space of M_i in R^d
            for j in range(7):
                if not np.isfinite(C[i, j]):
                    with pytest.raises(ValueError, match="not realizable"):
                        min_norm_weights(A[j], layer.fixed[i], layer.diag[i], U)
                    continue
                w = min_norm_weights(A[j], layer.fixed[i], layer.diag[i], U)
                np.testing.assert_allclose(M @ w, A[j] - v, atol=1e-9 * max(1, np.abs(A[j]).max()))
                # the realized coefficient: Uᵀ(f_i + d_i ⊙ w) = a_j
                np.testing.assert_allclose(U.T @ (layer.fixed[i] + layer.diag[i] * w), A[j], atol=1e-9)
                assert w @ w == pytest.approx(C[i, j], rel=1e-9, abs=1e-12)
                if null.size:  # any other solution w + Nz is longer
                    w2 = w + null.T @ rng.standard_normal(null.shape[0])
                    assert w2 @ w2 > w @ w
        # i = j with the own trainable part: cost ≤ ‖w_i‖² (w_i is one solution)
        assert np.all(np.diag(C) <= np.sum(layer.trainable ** 2, axis=1) * (1 + 1e-12))


def test_worked_example_T43():
    """T-4.3: 4-D inputs on a 2-D support; R_1(a_2) → ∞ as the visible mass of the masked direction → 0."""
    vals = []
    for t in [0.5, 0.1, 0.01, 0.001]:
        # support spanned by e1 and (√(1−t²) e2 + t e3); neuron 1 masks coordinate 2 (index 1)
        U = np.zeros((4, 2))
        U[0, 0] = 1.0
        U[1, 1], U[2, 1] = np.sqrt(1 - t * t), t
        D = np.ones((2, 4))
        D[0, 1] = 0.0
        F = np.zeros((2, 4))
        W = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
        C = realization_costs(F + D * W, F, D, U)
        S1 = gram_matrices(D, U)[0]
        np.testing.assert_allclose(S1, np.diag([1.0, t * t]), atol=1e-15)
        vals.append(C[0, 1])
        # a_2 = (0, √(1−t²)): cost (1 − t²)/t², up to the conditioning κ(S_1) = 1/t² of S_1
        assert C[0, 1] == pytest.approx((1 - t * t) / (t * t), rel=1e-12 + 100 * EPS / t**2)
    assert np.all(np.diff(vals) > 0)


def _twin_centers(sigma_f, scale, n=6, d=20, k=5):
    """Neurons in pairs sharing one fixed center: a_j − v_i = r_j is tiny next to ‖v_i‖."""
    layer = asymmetric_layer(n, d, "syre", sigma_f=sigma_f, weight_scale=scale, seed=4)
    F = layer.fixed.copy()
    F[1::2] = F[0::2]
    E = F + layer.trainable
    return E, F, layer.diag, random_basis(d, k, seed=5)


def test_cancellation_guard(monkeypatch):
    E, F, D, U = _twin_centers(sigma_f=1.0, scale=1e-4)
    C = realization_costs(E, F, D, U)
    ref = naive_realization_costs(E, F, D, U)
    np.testing.assert_allclose(C, ref, rtol=1e-9)
    # the test bites: without recomputation the expanded (GEMM) form loses digits here
    monkeypatch.setattr(costs_mod, "CANCEL_ACC", np.inf)
    bad = realization_costs(E, F, D, U)
    assert np.max(np.abs(bad - ref) / ref) > 1e-9


def test_swap_costs():
    layer = asymmetric_layer(8, 12, "wasym", seed=1)
    U = random_basis(12, 4, seed=2)
    C = realization_costs(*_args(layer, U))
    S = swap_costs(C)
    np.testing.assert_array_equal(S, S.T)
    np.testing.assert_array_equal(np.diag(S), 0.0)
    i, j = 2, 5
    assert S[i, j] == pytest.approx(C[i, j] + C[j, i] - C[i, i] - C[j, j], rel=1e-14)
    # inf propagation
    C2 = C.copy()
    C2[1, 3] = np.inf
    S2 = swap_costs(C2)
    assert np.isinf(S2[1, 3]) and np.isinf(S2[3, 1])
    C2[4, 4] = np.inf
    S2 = swap_costs(C2)
    assert np.isinf(S2[4, [0, 1, 2, 3, 5, 6, 7]]).all() and S2[4, 4] == 0.0
    assert np.isfinite(S2[0, 2])


def test_relaxed_cost_bound():
    """T-E.4 (identity activation: equality with the ridge surrogate) and T-E.5 (γ → 0)."""
    layer = asymmetric_layer(4, 10, "wasym", fixed_per_row=3, seed=7)
    U = random_basis(10, 3, seed=8)
    C = realization_costs(*_args(layer, U))
    A = layer.effective @ U
    Sz = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])
    vals = [relaxed_cost_bound(A[1], layer.fixed[0], layer.diag[0], U, Sz, g) for g in [1.0, 1e-2, 1e-5, 1e-9]]
    assert np.all(np.diff(vals) > 0)  # decreasing in γ
    assert vals[-1] == pytest.approx(C[0, 1], rel=1e-6)
    # the surrogate value at w* = (MᵀΣM + γI)⁻¹MᵀΣc equals the bound (identity activation)
    g, Lp = 0.3, 2.0
    M = U.T * layer.diag[0]
    c = A[1] - U.T @ layer.fixed[0]
    t = g / Lp**2
    w = np.linalg.solve(M.T @ Sz @ M + t * np.eye(10), M.T @ Sz @ c)
    surrogate = (Lp**2 / g) * (M @ w - c) @ Sz @ (M @ w - c) + w @ w
    assert relaxed_cost_bound(A[1], layer.fixed[0], layer.diag[0], U, Sz, g, Lp) == pytest.approx(surrogate, rel=1e-9)
    # unrealizable target: the bound blows up as γ → 0 (T-E.5)
    Uc = coherent_basis(10, 3, 0.0, seed=0)
    dg = np.ones(10)
    dg[np.flatnonzero(np.abs(Uc[:, 0]) > 0)] = 0.0
    a = np.array([1.0, 0.0, 0.0])
    big = [relaxed_cost_bound(a, np.zeros(10), dg, Uc, np.eye(3), g) for g in [1e-2, 1e-6]]
    assert big[1] > 1e3 * big[0] > 0


# ---------------------------------------------------------------- bad input
def _layer():
    layer = asymmetric_layer(5, 8, "wasym", seed=0)
    return layer.effective, layer.fixed, layer.diag, random_basis(8, 3, seed=1)


@pytest.mark.parametrize("fn", [realization_costs, self_costs])
def test_bad_input_layer(fn):
    E, F, D, U = _layer()
    with pytest.raises(ValueError, match="fixed"):
        fn(E, F[:4], D, U)
    with pytest.raises(ValueError, match="diag"):
        fn(E, F, D[:, :7], U)
    with pytest.raises(ValueError, match="effective"):
        fn(E[:, :7], F[:, :7], D[:, :7], U)
    with pytest.raises(ValueError, match="orthonormal"):
        fn(E, F, D, 3 * U)
    with pytest.raises(ValueError, match="k <= d"):
        fn(E[:, :2], F[:, :2], D[:, :2], np.eye(3)[:2])
    with pytest.raises(ValueError, match="empty"):
        fn(E[:0], F[:0], D[:0], U)
    with pytest.raises(ValueError, match="1-D|2-D"):
        fn(E[0], F[0], D[0], U)
    for bad in (np.nan, np.inf):
        E2 = E.copy()
        E2[2, 3] = bad
        with pytest.raises(ValueError, match="effective"):
            fn(E2, F, D, U)
    with pytest.raises(TypeError, match="effective"):
        fn("x", F, D, U)
    with pytest.raises(ValueError, match="rtol"):
        fn(E, F, D, U, rtol=0.0)
    with pytest.raises(ValueError, match="rtol"):
        fn(E, F, D, U, rtol=np.nan)


def test_bad_rows():
    E, F, D, U = _layer()
    for rows in [(0, 0), (3, 2), (-1, 2), (0, 6), (5, 6)]:
        with pytest.raises(ValueError, match="rows"):
            realization_costs(E, F, D, U, rows=rows)
    for rows in [(0,), 3, "ab", (0.5, 2)]:
        with pytest.raises(TypeError, match="rows"):
            realization_costs(E, F, D, U, rows=rows)


def test_bad_input_row_functions():
    E, F, D, U = _layer()
    a = np.zeros(3)
    with pytest.raises(ValueError, match="target"):
        min_norm_weights(np.zeros(4), F[0], D[0], U)
    with pytest.raises(ValueError, match="fixed_row"):
        min_norm_weights(a, F[0, :7], D[0], U)
    with pytest.raises(ValueError, match="diag_row"):
        min_norm_weights(a, F[0], D[:2], U)
    with pytest.raises(ValueError, match="target"):
        min_norm_weights(np.array([np.nan, 0, 0]), F[0], D[0], U)
    with pytest.raises(ValueError, match="orthonormal"):
        min_norm_weights(a, F[0], D[0], U + 0.1)
    Sz = np.eye(3)
    with pytest.raises(ValueError, match="gamma"):
        relaxed_cost_bound(a, F[0], D[0], U, Sz, 0.0)
    with pytest.raises(ValueError, match="lipschitz"):
        relaxed_cost_bound(a, F[0], D[0], U, Sz, 1.0, -1.0)
    with pytest.raises(ValueError, match="cov_z"):
        relaxed_cost_bound(a, F[0], D[0], U, np.eye(4), 1.0)
    with pytest.raises(ValueError, match="cov_z"):
        relaxed_cost_bound(a, F[0], D[0], U, np.diag([1.0, 1.0, 0.0]), 1.0)
    with pytest.raises(ValueError, match="cov_z"):
        relaxed_cost_bound(a, F[0], D[0], U, np.array([[1.0, 2.0], [0.0, 1.0]]), 1.0)
    with pytest.raises(TypeError, match="gamma"):
        relaxed_cost_bound(a, F[0], D[0], U, Sz, "1")


def test_bad_input_swap():
    with pytest.raises(ValueError, match="square"):
        swap_costs(np.ones((3, 4)))
    with pytest.raises(ValueError, match="rows"):
        swap_costs(np.ones((1, 1)))  # a single neuron: no pair
    with pytest.raises(ValueError, match="NaN"):
        swap_costs(np.array([[0.0, np.nan], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="non-negative"):
        swap_costs(np.array([[0.0, -1.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="non-negative"):
        swap_costs(np.array([[0.0, -np.inf], [1.0, 0.0]]))
    with pytest.raises(ValueError):
        swap_costs(np.ones(4))
    with pytest.raises(TypeError):
        swap_costs([["a", "b"], ["c", "d"]])


# ---------------------------------------------------------------- benchmark runner (smoke, no timings asserted)
@pytest.mark.slow  # ≈ 30 s: runs the costs benchmark (baseline, NumPy einsum, dense rows); the command line's exit
# codes are also tested quickly in tests/test_layering_and_command_lines.py::test_bench_exit_codes
def test_bench_runner_smoke(monkeypatch, tmp_path, capsys):
    import json

    import lmctheory.bench as bench
    import lmctheory.bench.__main__ as bench_main
    import lmctheory.bench.costs as bc

    assert "costs" in bench.discover()
    monkeypatch.setattr(bc, "SIZES", {True: {"compare": (24, 16, 4), "large": (40, 20, 5)}})
    rows = bench.run_all(quick=True, only=["costs"])
    assert all(set(bench.REQUIRED_KEYS) <= set(r) for r in rows)
    cmp_row = rows[0]
    assert cmp_row["ratio"] == pytest.approx(cmp_row["baseline_s"] / cmp_row["ours_s"])
    assert cmp_row["same_inf_pattern"] and cmp_row["max_rel_diff_offdiag"] < 1e-9
    assert cmp_row["numpy_same_inf_pattern"] and cmp_row["numpy_max_rel_diff_offdiag"] < 1e-9
    assert cmp_row["pct_of_gemm"] == pytest.approx(100 * cmp_row["gemm_s"] / cmp_row["ours_s"])
    assert "NumPy einsum" in rows[1]["name"] and "dense" in rows[2]["name"] and rows[2]["same_inf_pattern"]
    assert "FAILED" not in " ".join(str(r.get("notes")) for r in rows)
    assert "costs" in bench.format_table(rows)
    out = tmp_path / "b.json"
    monkeypatch.setattr(bench_main, "run_all", lambda quick, only: rows)  # the CLI around it
    assert bench_main.main(["--quick", "--only", "costs", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["quick"] is True and doc["results"][0]["module"] == "costs"
    with pytest.raises(ValueError, match="unknown benchmark"):
        bench.run_all(quick=True, only=["no_such_bench"])
    capsys.readouterr()


def test_low_rank_and_dense_paths_agree_on_a_basis_off_orthonormal_by_1e_7():
    """The low-rank mask formula assumes UᵀU = I; a basis admitted by check_basis (1e-6) but not exactly
    orthonormal must give the costs of S_i = Uᵀdiag(d_i²)U, like the dense path and min_norm_weights."""
    from lmctheory.costs import min_norm_weights, realization_costs

    U = np.zeros((6, 3))
    U[0, 0] = U[2, 1] = U[4, 2] = 1.0
    U *= 1.0 - 4e-7
    D = np.ones((2, 6))
    D[0, 0] = 0.0  # one masked coordinate: eligible for the low-rank path
    F = np.zeros((2, 6))
    E = np.zeros((2, 6))
    E[1, 0] = 1.0
    E[0, 2] = 0.5
    D2 = D.copy()
    D2[0, [1, 3, 5]] = 0.5  # off the support: same S_0, but forces the dense path
    c_low = realization_costs(E, F, D, U)
    c_dense = realization_costs(E, F, D2, U)
    assert np.isinf(c_dense[0, 1]) and np.isinf(c_low[0, 1])
    np.testing.assert_allclose(c_low, c_dense, rtol=1e-12)
    with pytest.raises(ValueError, match="realiz"):
        min_norm_weights(E[1] @ U, F[0], D[0], U)


# ---------------------------------------------------------------- units: costs scale as s² (reliability issue)
def _scale_cases():
    """A W-asymmetric layer (all finite) and a sparse layer on a coordinate-aligned support (many +inf)."""
    lay = asymmetric_layer(9, 14, "wasym", seed=21)
    sp = asymmetric_layer(12, 10, "sparse", keep_prob=0.6, seed=2)
    return [(lay.effective, lay.fixed, lay.diag, random_basis(14, 5, seed=22)),
            (sp.effective, sp.fixed, sp.diag, coherent_basis(10, 4, 0.0, seed=3))]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_costs_scale_as_s_squared(backend):
    """C(sW̃, sF) = s²·C(W̃, F): bit for bit for s = 2^p (p = −150…150; NumPy backend, 1e-13 on torch), to 1e-12
    with the same +inf pattern
    for decimal s (1e-45 … 1e45); the range decisions never depend on the units (the old absolute test made
    a 1e-9 rescaling of a layer with 96 of 144 entries +inf fully finite)."""
    for E, F, D, U in _scale_cases():
        C = realization_costs(E, F, D, U, backend=backend)
        inf = np.isinf(C)
        for p in (-150, -97, -30, -1, 1, 30, 97, 150):
            s = 2.0**p
            Cs = realization_costs(s * E, s * F, D, U, backend=backend)
            if backend == "numpy":
                np.testing.assert_array_equal(Cs, (s * s) * C)
            else:  # MKL may pick alignment-dependent code paths: equal within rounding, not bit for bit
                np.testing.assert_array_equal(np.isinf(Cs), inf)
                np.testing.assert_allclose(Cs[~inf], (s * s) * C[~inf], rtol=1e-13, atol=0)
        for s in (1e-45, 1e-20, 1e-9, 3e-3, 7.3, 1e9, 1e20, 1e45):
            Cs = realization_costs(s * E, s * F, D, U, backend=backend)
            np.testing.assert_array_equal(np.isinf(Cs), inf)
            np.testing.assert_allclose(Cs[~inf], (s * s) * C[~inf], rtol=1e-12, atol=0)
        if backend == "numpy":
            s = 2.0**-120
            np.testing.assert_array_equal(self_costs(s * E, s * F, D, U), s * s * np.diag(C))
            A = E @ U
            for i, j in [(0, 1), (2, 0)]:
                if np.isfinite(C[i, j]):
                    w = min_norm_weights(s * A[j], s * F[i], D[i], U)
                    assert w @ w == pytest.approx(s * s * C[i, j], rel=1e-9)
                else:
                    with pytest.raises(ValueError, match="not realizable"):
                        min_norm_weights(s * A[j], s * F[i], D[i], U)
    assert np.isinf(realization_costs(*_scale_cases()[1])).sum() > 40  # the sparse case has many +inf


@pytest.mark.parametrize("fn", [realization_costs, self_costs])
def test_tiny_magnitudes_raise(fn):
    """Below MIN_SCALE_COSTS (1e-50) for the largest entry the costs (∝ s²) would underflow: a clear error."""
    E, F, D, U = _scale_cases()[0]
    assert costs_mod.MIN_SCALE_COSTS == 1e-50
    fn(1e-49 * E / np.abs(E).max(), 1e-49 * F / np.abs(E).max(), D, U)  # just above: fine
    with pytest.raises(ValueError, match="MIN_SCALE_COSTS"):
        fn(1e-60 * E, 1e-60 * F, D, U)
    with pytest.raises(ValueError, match="effective and fixed"):
        fn(1e-60 * E, np.zeros_like(F), D, U)
    Z = np.zeros_like(E)
    np.testing.assert_array_equal(fn(Z, Z, D, U), 0.0)  # an all-zero layer is exact: every cost 0


# ---------------------------------------------------------------- torch backend (CPU torch in CI)
@settings(max_examples=25, deadline=None)
@given(layers())
def test_torch_backend_matches_numpy(case):
    """backend='torch' (same packed GEMM form in torch) equals the NumPy/Numba path within rounding."""
    layer, U = case
    C = realization_costs(*_args(layer, U))
    Ct = realization_costs(*_args(layer, U), backend="torch", device="cpu")
    assert isinstance(Ct, np.ndarray) and Ct.dtype == np.float64 and Ct.shape == C.shape
    np.testing.assert_array_equal(np.isfinite(Ct), np.isfinite(C))
    fin = np.isfinite(C)
    tol = np.broadcast_to(_kappa_tol(layer, U), C.shape)
    assert np.all(np.abs(Ct[fin] - C[fin]) <= tol[fin] * C[fin] + 1e-300)
    n = C.shape[0]
    if n > 2:  # a rows= block: other shapes, so equal within the same κ(S_i)·ε allowance
        Cr = realization_costs(*_args(layer, U), rows=(1, n - 1), backend="torch")
        sub, fr = Ct[1:n - 1], fin[1:n - 1]
        np.testing.assert_array_equal(np.isfinite(Cr), fr)
        assert np.all(np.abs(Cr[fr] - sub[fr]) <= tol[1:n - 1][fr] * sub[fr] + 1e-300)


def test_torch_backend_guard_and_paths():
    """Cancellation guard, eigen fallback (+inf entries) and several row chunks on the torch backend."""
    E, F, D, U = _twin_centers(sigma_f=1.0, scale=1e-4)
    np.testing.assert_allclose(realization_costs(E, F, D, U, backend="torch"),
                               naive_realization_costs(E, F, D, U), rtol=1e-9)
    layer = asymmetric_layer(40, 12, "sparse", keep_prob=0.5, seed=3)
    U = coherent_basis(12, 5, 0.0, seed=4)
    C = realization_costs(*_args(layer, U))
    old = costs_mod._row_chunk
    try:
        costs_mod._row_chunk = lambda k: 16  # three chunks
        Ct = realization_costs(*_args(layer, U), backend="torch")
    finally:
        costs_mod._row_chunk = old
    np.testing.assert_array_equal(np.isinf(Ct), np.isinf(C))
    assert np.isinf(C).any()
    np.testing.assert_allclose(Ct, C, rtol=1e-9)


def test_bad_backend_and_device():
    E, F, D, U = _layer()
    with pytest.raises(ValueError, match="backend"):
        realization_costs(E, F, D, U, backend="jax")
    with pytest.raises(ValueError, match="device"):
        realization_costs(E, F, D, U, backend="torch", device="no_such_device")
    with pytest.raises(ValueError, match="device"):
        realization_costs(E, F, D, U, device="cpu")  # device without the torch backend
