"""Tests of lmctheory.nn.calibration: temperature fitting and calibrated barriers ([LEWC], docs/theory.md §9)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lmctheory.nn.calibration import (
    TAU_BOUNDS,
    calibrated_barriers,
    calibration_split,
    fit_temperature,
    softmax_nll,
)
from lmctheory.nn.training import evaluate
from lmctheory.nn.biasfree import make_width_mlp, recompute_batchnorm
from lmctheory.nn.merging import merge_models

torch.set_num_threads(1)


def _sample(n=4000, c=5, tau0=1.0, seed=0):
    """Labels drawn from softmax(Z); logits handed out as Z / tau0, so the true inverse temperature is tau0."""
    rng = np.random.default_rng(seed)
    Z = 2.0 * rng.standard_normal((n, c))
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    y = np.minimum((P.cumsum(1) < rng.random(n)[:, None]).sum(1), c - 1)  # inverse-CDF sampling
    return Z / tau0, y


def test_softmax_nll_matches_torch_cross_entropy():
    Z, y = _sample(200)
    ref = float(torch.nn.functional.cross_entropy(torch.as_tensor(2.5 * Z), torch.as_tensor(y)))
    assert softmax_nll(Z, y, 2.5) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("tau0", [0.25, 1.0, 8.0])
def test_fit_temperature_recovers_the_true_temperature(tau0):
    Z, y = _sample(tau0=tau0, seed=int(tau0 * 4))
    tau = fit_temperature(Z, y)
    assert tau == pytest.approx(tau0, rel=0.1)
    # it is the minimizer: nearby temperatures are not better
    for f in (0.9, 1.1):
        assert softmax_nll(Z, y, tau) <= softmax_nll(Z, y, tau * f) + 1e-12


def test_fit_temperature_is_scale_equivariant():
    Z, y = _sample(1000, seed=3)
    t1 = fit_temperature(Z, y)
    t2 = fit_temperature(0.1 * Z, y)
    assert t2 == pytest.approx(10 * t1, rel=1e-3)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 60), c=st.integers(2, 6),
       scale=st.floats(1e-3, 50.0))
def test_calibration_never_worsens_the_nll_it_was_fitted_on(seed, n, c, scale):
    rng = np.random.default_rng(seed)
    Z = scale * rng.standard_normal((n, c))
    y = rng.integers(c, size=n)
    tau = fit_temperature(Z, y)
    assert TAU_BOUNDS[0] <= tau <= TAU_BOUNDS[1]
    assert softmax_nll(Z, y, tau) <= softmax_nll(Z, y, 1.0) + 1e-12


def test_constant_logits_keep_tau_one():
    assert fit_temperature(np.zeros((10, 3)), np.arange(10) % 3) == 1.0


def test_separable_data_goes_to_the_upper_bound():
    Z = np.eye(3)[np.arange(30) % 3] * 0.05  # NLL still strictly decreasing at τ = 50 (no underflow)
    assert fit_temperature(Z, np.arange(30) % 3, bounds=(0.1, 50.0)) == pytest.approx(50.0, rel=1e-3)


def test_bad_inputs_raise_clear_errors():
    Z, y = _sample(50)
    with pytest.raises(ValueError, match="labels in"):
        fit_temperature(Z, y + 5)
    with pytest.raises(ValueError, match="shape"):
        fit_temperature(Z, y[:-1])
    with pytest.raises(TypeError, match="integer class labels"):
        fit_temperature(Z, y + 0.5)
    with pytest.raises(ValueError, match="bounds"):
        fit_temperature(Z, y, bounds=(2.0, 10.0))  # must contain τ = 1
    with pytest.raises(ValueError, match="tau"):
        softmax_nll(Z, y, 0.0)
    with pytest.raises(ValueError, match="logits"):
        fit_temperature(Z[:, 0], y)
    with pytest.raises(ValueError, match="finite"):
        fit_temperature(Z * np.inf, y)
    with pytest.raises(ValueError, match="fraction"):
        calibration_split(torch.zeros(10, 2), torch.zeros(10, dtype=torch.long), fraction=1.0)


def test_calibration_split_is_a_partition():
    X = torch.arange(50, dtype=torch.float32)[:, None].repeat(1, 2)
    y = torch.arange(50)
    Xc, yc, Xe, ye = calibration_split(X, y, fraction=0.2, seed=1)
    assert len(yc) == 10 and len(ye) == 40
    assert sorted(torch.cat([yc, ye]).tolist()) == list(range(50))
    assert torch.equal(Xc[:, 0].long(), yc)


# -- calibrated barriers ---------------------------------------------------------------------------
def _data(n=120, d=10, c=4, seed=0):
    rng = np.random.default_rng(seed)
    X = torch.as_tensor(rng.standard_normal((n, d)), dtype=torch.float32)
    y = torch.as_tensor(rng.integers(c, size=n))
    return X, y


def test_calibrated_barriers_endpoints_ensembles_and_invariants():
    a = make_width_mlp(10, 4, base_width=12, seed=0)
    b = make_width_mlp(10, 4, base_width=12, seed=1)
    X, y = _data()
    Xc, yc, Xe, ye = calibration_split(X, y, fraction=0.25, seed=0)
    r = calibrated_barriers(a, b, Xc, yc, Xe, ye, lams=[0.0, 0.25, 1.0])
    np.testing.assert_allclose(r.lams, [0.0, 0.25, 0.5, 1.0])  # ½ added
    # θ(λ) = (1−λ)θ_a + λθ_b: λ = 0 is model a, λ = 1 is model b
    la, aa = evaluate(a, Xe, ye)
    lb, ab = evaluate(b, Xe, ye)
    assert r.loss[0] == pytest.approx(la, rel=1e-5) and r.acc[0] == pytest.approx(aa)
    assert r.loss[-1] == pytest.approx(lb, rel=1e-5) and r.acc[-1] == pytest.approx(ab)
    # calibration never worsens the NLL on the calibration split, and τ > 0 keeps the accuracy
    assert np.all(r.nll_cal_calibrated <= r.nll_cal + 1e-12)
    # the endpoint ensembles coincide with the models at λ ∈ {0, 1}
    assert r.ensemble_logit_loss[0] == pytest.approx(la, rel=1e-5)
    assert r.ensemble_prob_loss[-1] == pytest.approx(lb, rel=1e-5)
    # barriers follow their definitions on the grid
    chord = (1 - r.lams) * r.loss[0] + r.lams * r.loss[-1]
    assert r.barrier_lin == pytest.approx(np.max(r.loss - chord))
    chord_c = (1 - r.lams) * r.loss_calibrated[0] + r.lams * r.loss_calibrated[-1]
    assert r.barrier_lin_calibrated == pytest.approx(np.max(r.loss_calibrated - chord_c))
    mid = merge_models(a, b, 0.5)
    assert r.loss[2] == pytest.approx(evaluate(mid, Xe, ye)[0], rel=1e-5)
    assert r.midpoint_acc_drop == pytest.approx(100 * ((r.acc[0] + r.acc[-1]) / 2 - r.acc[2]))
    d = r.to_dict()
    assert isinstance(d["taus"], list) and set(r.at(0.5)) >= {"loss", "taus"}


def test_scaled_down_logits_are_undone_by_calibration():
    """A model whose logits are the other's times 1/8 (the LEWC 2^{−(L−1)} scale): τ ≈ 8× and equal calibrated loss."""
    a = make_width_mlp(10, 4, base_width=12, seed=0)
    b = copy.deepcopy(a)
    with torch.no_grad():
        b.layers[-1].weight.mul_(0.125)
    X, y = _data(400, seed=1)
    Xc, yc, Xe, ye = calibration_split(X, y, fraction=0.5, seed=0)
    r = calibrated_barriers(a, b, Xc, yc, Xe, ye, lams=[0.0, 1.0])
    assert r.taus[-1] == pytest.approx(8 * r.taus[0], rel=1e-3)  # λ = 1 is the scaled-down b
    assert r.loss_calibrated[0] == pytest.approx(r.loss_calibrated[-1], rel=1e-4)
    assert r.acc[0] == r.acc[-1]


def test_identical_models_have_zero_barrier():
    a = make_width_mlp(10, 4, base_width=12, seed=3)
    X, y = _data()
    Xc, yc, Xe, ye = calibration_split(X, y)
    r = calibrated_barriers(a, copy.deepcopy(a), Xc, yc, Xe, ye, lams=np.linspace(0, 1, 5))
    assert abs(r.barrier_lin) < 1e-5 and abs(r.barrier_lin_calibrated) < 1e-5 and r.midpoint_acc_drop == 0


def test_batchnorm_models_need_and_use_reset_bn_data():
    a = make_width_mlp(10, 4, base_width=12, batchnorm=True, seed=0)
    b = make_width_mlp(10, 4, base_width=12, batchnorm=True, seed=1)
    X, y = _data(200)
    recompute_batchnorm(a, X)
    recompute_batchnorm(b, X)
    Xc, yc, Xe, ye = calibration_split(X, y)
    with pytest.raises(ValueError, match="reset_bn"):
        calibrated_barriers(a, b, Xc, yc, Xe, ye)
    r = calibrated_barriers(a, b, Xc, yc, Xe, ye, lams=[0, 1], reset_bn=X)
    # endpoints re-estimated on the same data they were estimated on: unchanged models
    assert r.loss[0] == pytest.approx(evaluate(a, Xe, ye)[0], rel=1e-4)  # λ = 0 is model a
    assert np.all(np.isfinite(r.loss_calibrated))


def test_calibrated_barriers_rejects_bad_grids_and_shapes():
    a = make_width_mlp(10, 4, base_width=12, seed=0)
    b = make_width_mlp(10, 4, base_width=12, seed=1)
    X, y = _data()
    with pytest.raises(ValueError, match="endpoints"):
        calibrated_barriers(a, b, X, y, X, y, lams=[0.2, 0.5, 1.0])
    with pytest.raises(ValueError, match="lam"):
        calibrated_barriers(a, b, X, y, X, y, lams=[0.0, 1.5])
    with pytest.raises(ValueError, match="X_eval"):
        calibrated_barriers(a, b, X, y, X[:, :3], y)
    with pytest.raises(ValueError, match="labels in"):
        calibrated_barriers(a, b, X, y + 10, X, y)
