"""paper_checks C3, C4, C6 on tiny configurations: protocol, result keys, cache hits, and the
numerical helpers (swap costs against a direct formula, coherence of known bases).

Each claim is shrunk by monkeypatching its ``config`` (the paper_checks.common protocol) and run
in-process (``max_workers=1``) with a temporary cache; the second ``run`` must not train again.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from lmctheory.experiments import mask_coherence, wmlp_swap_costs
from paper_checks import c3_swap_costs as c3
from paper_checks import c4_coherence as c4
from paper_checks import c6_representation_coherence as c6
from paper_checks.common import ClaimResult, Context

TINY = {
    c3: lambda quick: dict(
        n_classes=3, d=12, n_train=150, n_test=90, hidden=12, n_layers=3, fixed_fraction=0.08, lr=1e-3,
        weight_decay=1e-2, batch_size=64, sigma_fs=[0.0, 1.0], n_lams=5, qda_target=0.8, explained=0.9,
        tau=0.1, version=wmlp_swap_costs.VERSION, ks=[2, 3, 4], n_pairs=1, epochs=1),
    c4: lambda quick: dict(
        c=3, width=8, keep_prob=0.5, lr=1e-2, weight_decay=1e-2, batch_size=64, n_train=64, n_test=64, n_lams=5,
        embeddings=["copy", "frame"], version=mask_coherence.VERSION, ms=[1, 2, 3], n_outer=1, n_pairs=2, epochs=2),
    c6: lambda quick: dict(
        hidden=12, n_layers=3, fixed_fraction=0.08, lr=1e-3, weight_decay=1e-2, batch_size=256, explained=0.9,
        models=list(c6.MODELS), big_factor=2, n_draws=1, version=c6.VERSION, n_seeds=1, epochs=1),
}

#: where each claim's sweep job lives (C3, C4: the library's experiments; C6: the claim module)
JOB_MODULE = {c3: wmlp_swap_costs, c4: mask_coherence, c6: c6}

EXPECTED = {
    c3: {"evaluation", "summary", "config", "seconds"},
    c4: {"per_embedding", "table", "config", "seconds"},
    c6: {"per_layer", "table", "config", "seconds", "N"},
}


@pytest.mark.parametrize("mod", [c3, c4, c6], ids=["C3", "C4", "C6"])
def test_run_tiny_and_cache_hit(mod, tmp_path, monkeypatch):
    monkeypatch.setattr(mod, "config", TINY[mod])
    if hasattr(mod, "MAX_WORKERS"):
        monkeypatch.setattr(mod, "MAX_WORKERS", 1)
    ctx = Context(quick=True, cache_root=tmp_path, progress=False, seed=3, max_workers=1)
    res = mod.run(ctx)
    assert isinstance(res, ClaimResult)
    assert res.id == mod.ID and res.condition == mod.CONDITION and res.paper == mod.PAPER
    assert res.passed in (True, False, None)
    assert EXPECTED[mod] <= set(res.details)
    import json

    json.dumps(res.to_dict())
    data = mod.collect(ctx)
    json.dumps(data)

    def boom(cfg):
        raise AssertionError("cached job was recomputed")

    monkeypatch.setattr(JOB_MODULE[mod], "_job_impl", boom)
    t0 = time.perf_counter()
    res2 = mod.run(ctx)
    assert time.perf_counter() - t0 < 5.0
    assert res2.measured == res.measured and res2.passed == res.passed


def test_c3_figure_data_shapes(tmp_path, monkeypatch):
    monkeypatch.setattr(c3, "config", TINY[c3])
    data = c3.collect(Context(quick=True, cache_root=tmp_path, progress=False, seed=0, max_workers=1))
    for sf in ("0.0", "1.0"):
        for k in (2, 3, 4):
            row = data["grid"][sf][str(k)]
            assert len(row["endpoint_acc_test"]) == 2 and len(row["drop_test"]) == 1
            L1 = row["layers"][0]
            assert L1["basis_dim"] == [k, k]  # layer 1 uses the generating basis U
            M = np.asarray(L1["matrix"])
            assert M.shape == (12, 12) and np.allclose(M, M.T) and np.allclose(np.diag(M), 0)
            assert len(L1["quantiles"]) == len(data["quantile_levels"])


def test_c3_cost_matrix_matches_direct_formula():
    from lmctheory.synthetic import asymmetric_layer, random_basis

    layer = asymmetric_layer(6, 10, "wasym", sigma_f=1.0, fixed_per_row=2, seed=1)
    U = random_basis(10, 3, seed=2)
    out = wmlp_swap_costs.cost_matrix(layer.effective, layer.fixed, layer.diag, U)
    C = out["C"]
    for i in range(6):
        S = U.T @ np.diag(layer.diag[i] ** 2) @ U
        for j in range(6):
            r = U.T @ layer.effective[j] - U.T @ layer.fixed[i]
            assert math.isclose(C[i, j], r @ np.linalg.solve(S, r), rel_tol=1e-8, abs_tol=1e-10)
    D = wmlp_swap_costs.swap_matrix(C)
    assert np.allclose(D, D.T) and np.allclose(np.diag(D), 0)
    # center-dominated layer: min-norm solution realizes its own function at cost ‖w‖² ≥ C_ii (eq. 10)
    for i in range(6):
        assert C[i, i] <= np.sum(layer.trainable[i] ** 2) + 1e-9


def test_c4_embedding_coherence_and_mask():
    from lmctheory.nn.data import teacher_student_basis

    for emb in ("copy", "frame"):
        for m in (1, 3, 10):
            U = teacher_student_basis(10, m, emb, seed=0)
            assert np.allclose(U.T @ U, np.eye(2))
            assert math.isclose(c6.coherence(U), 1.0 / m, rel_tol=1e-12)
    D = mask_coherence.mask(128, 20, 0.15, 0)
    assert set(np.unique(D)) <= {0.0, 1.0} and abs(D.mean() - 0.15) < 0.03


def test_c4_batched_students_do_not_interact():
    """Models trained in one batch are independent: changing model 2 (mask, init) leaves model 1 unchanged."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 6))
    y = np.maximum(X[:, 0], 0)
    masks = (rng.random((2, 5, 6)) < 0.5).astype(float)
    other = masks.copy()
    other[1] = (rng.random((5, 6)) < 0.5).astype(float)
    kw = dict(width=5, lr=1e-2, weight_decay=1e-2, epochs=3, batch_size=16)
    Wa, ba = mask_coherence.train_students(X, y, masks, [11, 12], **kw)
    Wb, bb = mask_coherence.train_students(X, y, other, [11, 99], **kw)
    assert np.array_equal(Wa[0], Wb[0]) and np.array_equal(ba[0], bb[0])
    assert not np.array_equal(Wa[1], Wb[1])
    assert np.all(Wa[masks == 0] == 0)  # masked entries stay exactly zero


def test_c6_coherence_and_bias_controls():
    rng = np.random.default_rng(0)
    n = 32
    # coordinate-aligned subspace: ν = 1; Haar subspace of dim r: ν ≈ r/n (small)
    H = np.zeros((500, n))
    H[:, :3] = rng.standard_normal((500, 3)) * [3.0, 2.0, 1.5]
    H += 1e-3 * rng.standard_normal(H.shape)
    st = c6.rep_stats(H, 0.9)
    assert st["r"] <= 3 and st["nu"] > 0.99
    ctl = c6.bias_controls(H, 0.9, 4, 2, rng)
    assert ctl["nu_rotation"] < st["nu"]
    assert abs(ctl["surrogate_bias_bigN"]) <= abs(ctl["surrogate_bias_N"]) + 0.05


def test_c3_costs_agree_with_core():
    """C3's direct cost matrix agrees with the package core (lmctheory.costs, GEMM form)."""
    costs = pytest.importorskip("lmctheory.costs")
    from lmctheory.synthetic import asymmetric_layer, random_basis

    for mode, sf in (("wasym", 1.0), ("wasym", 0.0)):
        layer = asymmetric_layer(20, 16, mode, sigma_f=sf, fixed_per_row=2, seed=4)
        U = random_basis(16, 5, seed=5)
        mine = wmlp_swap_costs.cost_matrix(layer.effective, layer.fixed, layer.diag, U)["C"]
        core = costs.realization_costs(layer.effective, layer.fixed, layer.diag, U)
        assert np.allclose(mine, core, rtol=1e-7, atol=1e-9 * np.abs(mine).max())
        assert np.allclose(wmlp_swap_costs.swap_matrix(mine), costs.swap_costs(core), rtol=1e-6, atol=1e-8 * np.abs(mine).max())
