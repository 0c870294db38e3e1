"""Tests of lmctheory.nn.biasfree, .merging and .width_alignment: the [LEWC] width MLPs, merging, BatchNorm recomputation, per-layer
measurements (docs/theory.md §9, T-5.3) and the alignment wrappers (§10)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from lmctheory.nn.biasfree import (
    WidthMLP,
    from_weight_list,
    hidden_outputs,
    make_width_mlp,
    recompute_batchnorm,
    to_weight_list,
    train_width_model,
)
from lmctheory.nn.merging import layer_measurements, merge_models
from lmctheory.nn.matching import permute_model, weight_match
from lmctheory.nn.width_alignment import cka_matrix, permute_width_model, procrustes_align

torch.set_num_threads(1)


def _X(n=64, d=12, seed=0):
    return torch.as_tensor(np.random.default_rng(seed).standard_normal((n, d)), dtype=torch.float32)


def _pair(d=12, out=5, width=16, mult=1, seeds=(1, 2), bn=False):
    return (make_width_mlp(d, out, base_width=width, multiplier=mult, batchnorm=bn, seed=seeds[0]),
            make_width_mlp(d, out, base_width=width, multiplier=mult, batchnorm=bn, seed=seeds[1]))


# -- architecture ------------------------------------------------------------------------------------
def test_make_width_mlp_shapes_seed_and_bias_free():
    m = make_width_mlp(12, 5, base_width=8, multiplier=4, n_hidden=3, seed=3)
    assert m.dims == (12, 32, 32, 32, 5)
    assert all(lin.bias is None for lin in m.layers)
    m2 = make_width_mlp(12, 5, base_width=8, multiplier=4, n_hidden=3, seed=3)
    m3 = make_width_mlp(12, 5, base_width=8, multiplier=4, n_hidden=3, seed=4)
    X = _X()
    assert torch.equal(m(X), m2(X))
    assert not torch.allclose(m(X), m3(X))
    # He init: the hidden weights have variance 2/fan_in
    W = to_weight_list(make_width_mlp(100, 5, base_width=400, seed=0))
    assert abs(W[1].var() * 400 / 2 - 1) < 0.05


def test_weight_list_roundtrip_and_forward_agree():
    m = make_width_mlp(12, 5, base_width=16, seed=0)
    W = to_weight_list(m)
    assert [w.shape for w in W] == [(16, 12), (16, 16), (16, 16), (5, 16)]
    m2 = from_weight_list(W)
    X = _X()
    assert torch.allclose(m(X), m2(X), atol=1e-6)
    # independent numpy forward of the bias-free ReLU net
    z = X.double().numpy()
    for ell, w in enumerate(W):
        z = z @ w.T
        if ell < len(W) - 1:
            z = np.maximum(z, 0.0)
    np.testing.assert_allclose(hidden_outputs(m, X)[-1], z, rtol=1e-5, atol=1e-5)


# -- merging ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("lam", [0.0, 0.3, 0.5, 1.0])
def test_merging_two_copies_gives_back_the_model(lam):
    m = make_width_mlp(12, 5, base_width=16, seed=7)
    merged = merge_models(m, copy.deepcopy(m), lam)
    X = _X()
    for a, b in zip(to_weight_list(merged), to_weight_list(m)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert torch.allclose(merged(X), m(X), atol=1e-5)


def test_merge_follows_the_interpolation_convention():
    a, b = _pair()
    for lam in (0.0, 0.25, 1.0):
        merged = to_weight_list(merge_models(a, b, lam))
        for wm, wa, wb in zip(merged, to_weight_list(a), to_weight_list(b)):
            np.testing.assert_allclose(wm, (1 - lam) * wa + lam * wb, rtol=1e-5, atol=1e-6)  # λ = 0: model a


def test_recompute_batchnorm_matches_batch_statistics():
    a, b = _pair(bn=True)
    X = _X(200)
    merged = merge_models(a, b, 0.5)
    recompute_batchnorm(merged, X)
    # running stats of layer 1 = mean / unbiased variance of the pre-normalization input
    pre = merged.layers[0](X).detach()
    np.testing.assert_allclose(merged.norms[0].running_mean.numpy(), pre.mean(0).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(merged.norms[0].running_var.numpy(), pre.var(0, unbiased=True).numpy(),
                               rtol=1e-4, atol=1e-5)
    assert not merged.training
    # batched recomputation gives the same statistics (cumulative average over equal batches)
    m2 = copy.deepcopy(merged)
    recompute_batchnorm(m2, X, batch_size=50)
    np.testing.assert_allclose(m2.norms[0].running_mean.numpy(), pre.mean(0).numpy(), rtol=1e-4, atol=1e-5)


# -- training ---------------------------------------------------------------------------------------
def test_train_width_model_uses_the_named_decay(monkeypatch):
    seen = {}
    import lmctheory.nn.training as tr

    real = tr.train

    def spy(model, X, y, **kw):
        seen.update(kw)
        return real(model, X, y, **kw)

    monkeypatch.setattr(tr, "train", spy)
    m = make_width_mlp(12, 3, base_width=8, seed=0)
    X = _X(60)
    y = torch.as_tensor(np.random.default_rng(1).integers(3, size=60))
    before = m(X).detach().clone()
    train_width_model(m, X, y, weight_decay="weak", epochs=2, lr=0.01, batch_size=20, seed=0)
    assert seen["weight_decay"] == 1e-4 and seen["loss"] == "ce"
    assert not torch.allclose(before, m(X))
    with pytest.raises(ValueError, match="weight_decay"):
        train_width_model(m, X, y, weight_decay="medium", epochs=1)


# -- layer measurements (docs/theory.md §9) ----------------------------------------------------------------
def _naive(a, b, X, lam):
    """Independent recomputation with torch: RO, LEWC cosine, WA of the T-5.3 preactivations."""
    Wa = [l.weight.detach().double() for l in a.layers]
    Wb = [l.weight.detach().double() for l in b.layers]
    x = X.double()
    L = len(Wa)

    def fwd(W):
        z = [x]
        for ell, w in enumerate(W):
            h = z[-1] @ w.T
            z.append(torch.relu(h) if ell < L - 1 else h)
        return z

    za, zb = fwd(Wa), fwd(Wb)
    zm = fwd([(1 - lam) * u + lam * v for u, v in zip(Wa, Wb)])  # θ(λ) = (1−λ)θ_a + λθ_b
    ro = [float((zb[l] @ Wa[l].T).norm(dim=1).mean() / (za[l] @ Wa[l].T).norm(dim=1).mean()) for l in range(L)]
    lewc = []
    for ell in range(1, L + 1):
        t = (1 - lam) ** ell * za[ell] + lam ** ell * zb[ell]
        lewc.append(float(torch.nn.functional.cosine_similarity(zm[ell], t, dim=1).mean()))
    wa = []
    for ell in range(1, L):
        p = (1 - lam) ** ell * za[ell - 1] @ Wa[ell - 1].T
        q = lam ** ell * zb[ell - 1] @ Wb[ell - 1].T
        wa.append(float(torch.nn.functional.cosine_similarity(torch.relu(p + q), torch.relu(p) + torch.relu(q),
                                                              dim=1).mean()))
    err = np.stack([(zm[l] - (1 - lam) ** l * za[l] - lam ** l * zb[l]).norm(dim=1).numpy()
                    for l in range(1, L + 1)], axis=1)
    return np.array(ro), np.array(lewc), np.array(wa), err


@pytest.mark.parametrize("lam", [0.5, 0.3])
def test_layer_measurements_agree_with_naive_and_t53_holds_on_random_nets(lam):
    a, b = _pair(width=24, seeds=(3, 4))
    X = _X(80)
    m = layer_measurements(a, b, X, lam=lam)
    ro, lewc, wa, err = _naive(a, b, X, lam)
    np.testing.assert_allclose(m.ro_ab, ro, rtol=1e-5)
    np.testing.assert_allclose(m.lewc_cosine, lewc, rtol=1e-5)
    np.testing.assert_allclose(m.wa_cosine, wa, rtol=1e-5)
    np.testing.assert_allclose(m.error_measured, err, rtol=1e-5, atol=1e-8)
    assert m.error_measured.shape == m.error_bound.shape == (80, 4)
    assert m.ro_ab[0] == pytest.approx(1.0) and m.ro_ba[0] == pytest.approx(1.0)
    # T-5.3 holds for every input on a random net; layer 1 is an equality
    assert m.violations == 0 and m.violations_one_step == 0
    assert m.max_ratio <= 1 + 1e-9
    np.testing.assert_allclose(m.error_bound[:, 0], m.error_measured[:, 0], rtol=1e-9)
    assert np.all(m.error_bound[:, 1:] >= m.error_measured[:, 1:])
    d = m.to_dict()
    assert "error_measured" not in d and len(d["error_bound_mean"]) == 4


def test_t53_bound_is_not_vacuous_wrong_variants_fail():
    """The check can fail: dropping the propagation term ‖W_ℓ^λ‖₂‖e_{ℓ−1}‖, or the local terms, is violated."""
    from lmctheory.lewc import lewc_error_recursion

    a, b = _pair(width=24, seeds=(3, 4))
    X = _X(80).double().numpy()
    rec = lewc_error_recursion(to_weight_list(a), to_weight_list(b), X, 0.5)
    assert rec.n_violations == 0
    no_propagation = rec.wa_term[1:] + rec.cross_term[1:]
    only_propagation = rec.op_norm[1:, None] * rec.error[:-1]
    assert np.sum(rec.error[1:] > no_propagation * (1 + 1e-9) + 1e-12) > 0
    assert np.sum(rec.error[1:] > only_propagation * (1 + 1e-9) + 1e-12) > 0


def test_identical_models_satisfy_lewc_exactly():
    """θ_a = θ_b: z_ℓ(θ_λ) = z_ℓ, and λ^ℓ z_ℓ + (1−λ)^ℓ z_ℓ is a positive multiple of it (cosine 1)."""
    a = make_width_mlp(12, 5, base_width=16, seed=5)
    m = layer_measurements(a, copy.deepcopy(a), _X(), lam=0.5)
    # with identical models WA is exactly 1 (σ(u+u) = 2σ(u)) and RO is exactly 1; the LEWC cosine is 1
    np.testing.assert_allclose(m.wa_cosine, 1.0, atol=1e-12)
    np.testing.assert_allclose(m.ro_ab, 1.0, atol=1e-12)
    np.testing.assert_allclose(m.lewc_cosine, 1.0, atol=1e-9)


# -- alignment wrappers (docs/theory.md §10) ---------------------------------------------------------------
def test_weight_matching_recovers_a_hidden_permutation_exactly():
    a = make_width_mlp(12, 5, base_width=20, seed=11)
    rng = np.random.default_rng(0)
    perms = [rng.permutation(20) for _ in range(3)]
    b = permute_width_model(a, perms)
    X = _X()
    assert torch.allclose(a(X), b(X), atol=1e-5)  # T-S1: same function
    assert not np.allclose(to_weight_list(a)[0], to_weight_list(b)[0])
    res = weight_match(a, b)
    found, b_aligned = [res.perms[g.name] for g in res.groups], permute_model(b, res)
    for wa, wb in zip(to_weight_list(a), to_weight_list(b_aligned)):
        np.testing.assert_array_equal(wa, wb)
    # found[ℓ] undoes perms[ℓ]: b's unit found[i] is a's unit i
    for p, f in zip(perms, found):
        np.testing.assert_array_equal(p[f], np.arange(20))


def test_permute_width_model_with_batchnorm_keeps_the_function():
    a, _ = _pair(bn=True)
    X = _X(100)
    recompute_batchnorm(a, X)
    a.norms[0].weight.data.uniform_(0.5, 1.5)
    perms = [np.random.default_rng(s).permutation(16) for s in range(3)]
    b = permute_width_model(a, perms)
    assert torch.allclose(a(X), b(X), atol=1e-5)


def test_procrustes_recovers_a_known_rotation_of_the_logits():
    a = make_width_mlp(12, 6, base_width=16, seed=2)
    Q, _ = np.linalg.qr(np.random.default_rng(5).standard_normal((6, 6)))
    b = copy.deepcopy(a)
    with torch.no_grad():  # logits of b = R · logits of a, a rotation of the output space
        b.layers[-1].weight.copy_(torch.as_tensor(Q @ to_weight_list(a)[-1], dtype=torch.float32))
    res = procrustes_align(a, b, _X(200), layers=[4])
    # rows: z_b = z_a Qᵀ, so O = Q maps z_b back onto z_a
    np.testing.assert_allclose(res.rotations[0], Q, atol=1e-5)
    assert res.residual_after[0] < 1e-5 < res.residual_before[0]
    full = procrustes_align(a, b, _X(200))
    assert full.layers == [1, 2, 3, 4] and np.all(full.residual_after <= full.residual_before + 1e-12)


def test_cka_matrix_identity_and_invariance():
    a, b = _pair()
    X = _X(100)
    K = cka_matrix(a, a, X)
    assert K.shape == (4, 4)
    np.testing.assert_allclose(np.diag(K), 1.0, atol=1e-9)
    perms = [np.random.default_rng(s).permutation(16) for s in range(3)]
    K2 = cka_matrix(a, permute_width_model(a, perms), X)  # CKA is invariant to unit permutations
    np.testing.assert_allclose(K2, K, atol=1e-6)
    assert np.all(cka_matrix(a, b, X) <= 1 + 1e-12)


# -- bad inputs -------------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    a, b = _pair()
    X = _X()
    with pytest.raises(ValueError, match="multiplier"):
        make_width_mlp(12, 5, multiplier=0)
    with pytest.raises(TypeError, match="in_dim"):
        make_width_mlp(12.5, 5)
    with pytest.raises(ValueError, match="lam"):
        merge_models(a, b, 1.5)
    with pytest.raises(ValueError, match="share an architecture"):
        merge_models(a, make_width_mlp(12, 5, base_width=8), 0.5)
    with pytest.raises(TypeError, match="WidthMLP"):
        merge_models(torch.nn.Linear(3, 3), b, 0.5)
    with pytest.raises(ValueError, match=r"shape \(N, 12\)"):
        layer_measurements(a, b, _X(d=7))
    with pytest.raises(ValueError, match="X contains NaN"):
        layer_measurements(a, b, X * float("nan"))
    with pytest.raises(ValueError, match="BatchNorm"):
        to_weight_list(make_width_mlp(12, 5, batchnorm=True))
    with pytest.raises(ValueError, match="BatchNorm"):
        layer_measurements(*_pair(bn=True), X)
    with pytest.raises(TypeError, match="weights"):
        from_weight_list(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="permutation"):
        permute_width_model(a, [np.zeros(16, dtype=int)] * 3)
    with pytest.raises(ValueError, match="layers"):
        procrustes_align(a, b, X, layers=[5])
    assert isinstance(a, WidthMLP)


# -- a tiny-config run of one claim (L5 shares the L1 sweep) --------------------------------------------
def test_tiny_claim_l5_runs_and_finds_no_violation(tmp_path, monkeypatch):
    from lmctheory.experiments import lewc_width
    from paper_checks import l5_lewc_recursion as l5
    from paper_checks.common import Context

    tiny_sweep = {**lewc_width.sweep_config(True), "multipliers": [1], "weight_decays": [3e-3], "epochs": 2,
                  "base_width": 8, "n_measure": 60, "n_lams": 3, "recursion_lams": [0.5]}
    tiny = {"sweep": tiny_sweep, "random": dict(widths=[8], n_seeds=1, lams=[0.5], n_inputs=40)}
    monkeypatch.setattr(l5, "config", lambda quick: tiny)
    ctx = Context(quick=True, cache_root=tmp_path, progress=False, seed=0)
    res = l5.run(ctx)
    assert res.id == "L5" and res.passed is True
    ev = res.details["evaluation"]
    assert ev["trained_entries"] == 60 * 4 and ev["random_entries"] == 40 * 4
    # the sweep is cached: a second collect reads the same numbers without training
    again = l5.collect(ctx)
    assert again["trained"] == l5.collect(ctx)["trained"]
    l1_data = lewc_width.sweep(ctx, tiny_sweep)
    t = l1_data["table"]["0.003"]
    assert t["width"] == [8] and len(t["lewc_cosine"][0]) == 4 and len(t["wa_cosine"][0]) == 3


def test_merge_batchnorm_models_with_different_step_counters():
    a, b = _pair(bn=True)
    X = _X(100)
    recompute_batchnorm(a, X)
    recompute_batchnorm(b, X, batch_size=25)  # different num_batches_tracked
    merged = recompute_batchnorm(merge_models(a, b, 0.5), X)
    assert torch.isfinite(merged(X)).all()


def test_numpy_inputs_are_accepted():
    a, b = _pair()
    X = _X()
    m1 = layer_measurements(a, b, X)
    m2 = layer_measurements(a, b, X.double().numpy())
    np.testing.assert_allclose(m1.lewc_cosine, m2.lewc_cosine)


# -- the claims' pass conditions can fail (synthetic tables, no training) -------------------------------
def _table(widths, **cols):
    return {"width": widths, "multiplier": [w // widths[0] for w in widths], **cols}


def test_l1_condition_passes_and_misses():
    from paper_checks import l1_width_merging as l1

    good = {"table": {"0.003": _table([32, 128, 512], midpoint_acc_drop=[50.0, 5.0, 1.0],
                                      barrier_lin_calibrated=[1.0, 0.2, 0.1])}}
    assert l1.evaluate(good)[0] is True
    not_shrinking = {"table": {"0.003": _table([32, 128, 512], midpoint_acc_drop=[5.0, 50.0, 1.0],
                                               barrier_lin_calibrated=[1.0, 0.2, 0.1])}}
    assert l1.evaluate(not_shrinking)[0] is False
    cal_too_big = {"table": {"0.003": _table([32, 128, 512], midpoint_acc_drop=[50.0, 5.0, 1.0],
                                             barrier_lin_calibrated=[1.0, 0.5, 0.3])}}
    assert l1.evaluate(cal_too_big)[0] is False
    assert l1.evaluate({"table": {"0.0001": _table([32, 64])}})[0] is None


def test_l3_l4_conditions_pass_and_miss():
    from paper_checks import l3_reciprocal_orthogonality as l3
    from paper_checks import l4_lewc as l4

    ro = lambda v: {"ro_mean": v}  # noqa: E731
    good = {"ro": {"0.003": _table([32, 128, 512], **ro([0.6, 0.5, 0.4])),
                   "0.0001": _table([32, 128, 512], **ro([0.7, 0.7, 0.7]))}}
    assert l3.evaluate(good)[0] is True
    weak_lower = {"ro": {"0.003": good["ro"]["0.003"], "0.0001": _table([32, 128, 512], **ro([0.7, 0.5, 0.3]))}}
    assert l3.evaluate(weak_lower)[0] is False
    lc = lambda v: {"last_hidden": v}  # noqa: E731
    good4 = {"lewc": {"0.003": _table([32, 128, 512], **lc([0.8, 0.9, 0.95])),
                      "0.0001": _table([32, 128, 512], **lc([0.7, 0.7, 0.6]))}}
    assert l4.evaluate(good4)[0] is True
    decreasing = {"lewc": {"0.003": _table([32, 128, 512], **lc([0.95, 0.9, 0.8])), "0.0001": good4["lewc"]["0.0001"]}}
    assert l4.evaluate(decreasing)[0] is False


def test_l2_l5_conditions_pass_and_miss():
    from paper_checks import l2_weak_additivity as l2
    from paper_checks import l5_lewc_recursion as l5

    g = dict(dim=10_000, mc_mean=0.9305, mc_stderr=1e-4)
    assert l2.evaluate({"gaussian": g, "trained": {}})[0] is True
    assert l2.evaluate({"gaussian": {**g, "mc_mean": 0.9}, "trained": {}})[0] is False
    assert l2.evaluate({"gaussian": {**g, "dim": 100}, "trained": {}})[0] is False
    tr = {"0.003": dict(width=[8], violations=[0], entries=[10], max_ratio=[0.5])}
    rnd = dict(violations=0, entries=10, max_ratio=0.4)
    assert l5.evaluate({"trained": tr, "random": rnd})[0] is True
    assert l5.evaluate({"trained": tr, "random": {**rnd, "violations": 1}})[0] is False


def test_sweep_dataset_options():
    from lmctheory.experiments.lewc_width import load_dataset as _dataset

    ds = _dataset({"dataset": "gaussian_mixture", "gm": {"n_train": 40, "n_test": 20, "d": 16, "k": 4}})
    assert ds.X_train.shape == (40, 16) and ds.n_classes == 5
    assert _dataset({"dataset": "digits"}).X_test.shape == (450, 64)
    with pytest.raises(ValueError, match="dataset"):
        _dataset({"dataset": "mnist"})


def test_public_names_resolve_from_lmctheory_nn():
    import lmctheory.nn as lnn
    from lmctheory.nn import biasfree, calibration, merging, width_alignment

    for name in lnn.__all__:
        assert getattr(lnn, name) is not None
    assert lnn.make_width_mlp is biasfree.make_width_mlp
    assert lnn.merge_models is merging.merge_models and lnn.cka_matrix is width_alignment.cka_matrix
    assert lnn.fit_temperature is calibration.fit_temperature
