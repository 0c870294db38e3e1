"""Input validation of the torch bridge (input fuzz audit): every bad input raises TypeError/ValueError
naming the argument; float64, Fortran-ordered, negative-stride and longdouble inputs work and give the
same result as the C-ordered float32 input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lmctheory.nn as LN
from lmctheory.nn._checks import check_labels, check_layer_indices, check_X
from lmctheory.nn.calibration import (
    calibrated_barriers,
    calibration_split,
    fit_temperature,
)
from lmctheory.nn.estimate import estimate_realization_costs, record_layer_inputs


@pytest.fixture(scope="module")
def setup():
    ma, mb = [LN.make_mlp(6, 4, 3, n_layers=3, kind="wmlp", seed=s) for s in (0, 1)]
    wa, wb = [LN.make_width_mlp(6, 3, base_width=4, n_hidden=2, seed=s) for s in (0, 1)]
    g = torch.Generator().manual_seed(0)
    X = torch.randn(20, 6, generator=g)
    y = torch.randint(0, 3, (20,), generator=g)
    return ma, mb, wa, wb, X, y


def _fortran(X: torch.Tensor) -> torch.Tensor:
    Xf = X.t().contiguous().t()
    assert not Xf.is_contiguous() and torch.equal(Xf, X)
    return Xf


# -- 1. X / y dtypes and shapes in evaluate, interpolate, train ----------------------------------------
def test_float64_and_fortran_X_work_like_float32(setup):
    ma, mb, _, _, X, y = setup
    ref = LN.evaluate(ma, X, y)
    assert LN.evaluate(ma, X.double(), y) == LN.evaluate(ma, X.double().float(), y)
    assert LN.evaluate(ma, _fortran(X), y) == ref
    r_c = LN.interpolate(ma, mb, X, y, lams=[0, 0.5, 1])
    r_f = LN.interpolate(ma, mb, _fortran(X), y, lams=[0, 0.5, 1])
    assert np.array_equal(r_c.loss, r_f.loss) and np.array_equal(r_c.acc, r_f.acc)
    r64 = LN.interpolate(ma, mb, X.double(), y, lams=[0, 0.5, 1])
    assert np.array_equal(r64.loss, r_c.loss)  # X is float32-exact, so float64 rounds back to it
    assert np.isfinite(LN.evaluate(ma, X.long(), y)[0])  # integer inputs are converted (like check_array)


@pytest.mark.parametrize("fn", ["evaluate", "interpolate", "train", "train_width"])
def test_bad_X_and_y_name_the_argument(setup, fn):
    ma, mb, _, _, X, y = setup

    def call(Xb, yb):
        if fn == "evaluate":
            return LN.evaluate(ma, Xb, yb)
        if fn == "interpolate":
            return LN.interpolate(ma, mb, Xb, yb, lams=[0, 1])
        if fn == "train":
            return LN.train(LN.make_mlp(6, 4, 3, n_layers=3, kind="wmlp", seed=0), Xb, yb, epochs=1)
        return LN.train_width_model(LN.make_width_mlp(6, 3, base_width=4, n_hidden=2), Xb, yb, epochs=1)

    with pytest.raises(ValueError, match=r"X must have shape \(N, 6\)"):
        call(X[:, :5], y)
    with pytest.raises(ValueError, match="X must be 2-D"):
        call(X[0], y)
    with pytest.raises(ValueError, match="X contains NaN"):
        call(X * float("nan"), y)
    with pytest.raises(ValueError, match="X contains inf"):
        call(X / 0.0, y)
    with pytest.raises(TypeError, match="X must be a real tensor"):
        call(X.to(torch.complex64), y)
    with pytest.raises(ValueError, match="X must not be empty"):
        call(X[:0], y[:0])
    with pytest.raises(TypeError, match="y must hold integer class labels"):
        call(X, y.float())
    with pytest.raises(TypeError, match="y must hold integer class labels"):
        call(X, y > 0)
    with pytest.raises(ValueError, match=r"y must have shape \(20,\)"):
        call(X, y[:, None])
    with pytest.raises(ValueError, match=r"y must have shape \(20,\)"):
        call(X, y[:5])
    # 2. labels out of range
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 2\]"):
        call(X, y * 0 + 3)
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 2\]"):
        call(X, y * 0 - 1)
    with pytest.raises(TypeError, match="X must be a torch tensor"):
        call(X.numpy(), y)


def test_mse_targets_validated(setup):
    X = setup[4]
    reg = LN.make_mlp(6, 4, 1, n_layers=2, seed=0)
    t = torch.randn(20)
    assert np.isfinite(LN.evaluate(reg, X, t, loss="mse")[0])
    assert np.isfinite(LN.evaluate(reg, X, t[:, None], loss="mse")[0])
    with pytest.raises(ValueError, match="y contains NaN"):
        LN.evaluate(reg, X, t * float("nan"), loss="mse")
    with pytest.raises(ValueError, match=r"y must have shape \(20,\) or \(20, 1\)"):
        LN.evaluate(reg, X, torch.randn(20, 2), loss="mse")
    with pytest.raises(TypeError, match="y must hold real numeric"):
        LN.train(reg, X, t.to(torch.complex64), epochs=1, loss="mse")


def test_generic_module_label_range_is_checked_before_training(setup):
    X, y = setup[4], setup[5]
    seq = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))
    w0 = seq[0].weight.detach().clone()
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 2\]"):
        LN.train(seq, X, y * 0 + 3, epochs=1)
    assert torch.equal(seq[0].weight, w0)
    custom = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Tanh())  # out width only from a forward
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 3\]"):
        LN.evaluate(custom, X, y * 0 + 4)


# -- 4. model arguments ---------------------------------------------------------------------------------
def test_model_arguments_are_type_checked(setup):
    ma, mb, wa, wb, X, y = setup
    with pytest.raises(TypeError, match="model_b must be a torch.nn.Module"):
        LN.interpolate(ma, None, X, y)
    with pytest.raises(TypeError, match="model_a must be a torch.nn.Module"):
        LN.interpolate(np.zeros(3), mb, X, y)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        LN.evaluate(None, X, y)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        LN.train("mlp", X, y, epochs=1)
    with pytest.raises(TypeError, match="model_b must be a torch.nn.Module"):
        LN.activation_match(ma, None, X)
    with pytest.raises(TypeError, match="model must be a WidthMLP"):
        LN.train_width_model(None, X, y, epochs=1)
    with pytest.raises(TypeError, match="model_b must be a WidthMLP"):
        LN.merge_models(wa, None)
    with pytest.raises(TypeError, match="model_a must be a torch.nn.Module"):
        LN.weight_match(np.zeros(3), wb)
    with pytest.raises(TypeError, match="model_a must be a WidthMLP"):
        LN.layer_measurements(None, wb, X)
    with pytest.raises(TypeError, match="model_b must be a WidthMLP"):
        LN.cka_matrix(wa, ma, X)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        record_layer_inputs(None, X)


# -- 5. activation_match / collect_activations ---------------------------------------------------------
@pytest.mark.parametrize("fn", ["match", "collect"])
def test_activation_inputs_validated(setup, fn):
    ma, mb, _, _, X, _ = setup
    call = (lambda Z: LN.activation_match(ma, mb, Z, n_random=2)) if fn == "match" else \
        (lambda Z: LN.collect_activations(ma, Z))
    Xn = X.numpy()
    with pytest.raises(TypeError, match="X must be a real numeric array"):
        call(Xn + 1j)
    with pytest.raises(TypeError, match="X must be a real tensor"):
        call(X.to(torch.complex64))
    with pytest.raises(ValueError, match="X contains NaN"):
        call(Xn * np.nan)
    with pytest.raises(ValueError, match="X contains inf"):
        call(np.full((5, 6), np.inf))
    with pytest.raises(ValueError, match="X must not be empty"):
        call(np.zeros((0, 6)))
    with pytest.raises(TypeError, match="X must be a real numeric array"):
        call(np.array([[object()] * 6] * 3))
    with pytest.raises(TypeError, match="X must be a"):
        call(np.array([["a"] * 6] * 3))
    with pytest.raises(ValueError, match=r"X must have shape \(\?, 6\)"):
        call(Xn[:, :4])
    with pytest.raises(ValueError, match="X has entries of magnitude"):
        call(Xn.astype(np.float64) * 1e300)
    if fn == "match":
        with pytest.raises(ValueError, match="X needs at least 2 samples"):
            call(Xn[:1])


def test_activation_inputs_layouts_agree(setup):
    ma, mb, _, _, X, _ = setup
    Xn = X.numpy()
    ref = LN.collect_activations(ma, X)
    for Z in (np.asfortranarray(Xn), Xn[::-1][::-1], Xn.astype(np.longdouble), Xn.astype(np.float64),
              _fortran(X), X.double()):
        got = LN.collect_activations(ma, Z)
        assert all(np.array_equal(a, b) for a, b in zip(ref, got))
    rev = LN.collect_activations(ma, Xn[::-1])  # negative stride: same as its C-contiguous copy
    rev_c = LN.collect_activations(ma, torch.as_tensor(np.ascontiguousarray(Xn[::-1])))
    assert all(np.array_equal(a, b) for a, b in zip(rev_c, rev))
    assert all(np.allclose(a[::-1], b, rtol=1e-5, atol=1e-6) for a, b in zip(ref, rev))
    m_c = LN.activation_match(ma, mb, Xn, n_random=3)
    m_f = LN.activation_match(ma, mb, np.asfortranarray(Xn), n_random=3)
    m_t = LN.activation_match(ma, mb, _fortran(X), n_random=3)
    for a, b, c in zip(m_c.results.values(), m_f.results.values(), m_t.results.values()):
        assert np.array_equal(a.perm, b.perm) and np.array_equal(a.correlation, b.correlation)
        assert np.array_equal(a.correlation, c.correlation)


# -- 6. lams ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lams", [np.array([0, 0.5, 1]) + 0j, ["0", "0.5", "1"], "0.5",
                                  np.array([0, None, 1], dtype=object)])
def test_lams_type_errors_name_lams(setup, lams):
    ma, mb, wa, wb, X, y = setup
    with pytest.raises(TypeError, match="lams"):
        LN.interpolate(ma, mb, X, y, lams=lams)
    with pytest.raises(TypeError, match="lams"):
        calibrated_barriers(wa, wb, X, y, X, y, lams=lams)


def test_lams_value_errors_name_lams(setup):
    ma, mb, wa, wb, X, y = setup
    for bad in ([0, 1.5, 1], [], [[0, 1]], [0, np.nan, 1]):
        with pytest.raises(ValueError, match="lams"):
            LN.interpolate(ma, mb, X, y, lams=bad)
        with pytest.raises(ValueError, match="lams"):
            calibrated_barriers(wa, wb, X, y, X, y, lams=bad)


# -- 7. calibration_split --------------------------------------------------------------------------------
def test_calibration_split_validates(setup):
    X, y = setup[4], setup[5]
    with pytest.raises(ValueError, match="X contains NaN"):
        calibration_split(X * float("nan"), y)
    with pytest.raises(ValueError, match="X contains inf"):
        calibration_split(X / 0.0, y)
    with pytest.raises(TypeError, match="X must be a real tensor"):
        calibration_split(X.to(torch.complex64), y)
    with pytest.raises(TypeError, match="y must hold integer class labels"):
        calibration_split(X, y + 0.5)
    with pytest.raises(TypeError, match="y must hold integer class labels"):
        calibration_split(X, y.to(torch.complex64))
    with pytest.raises(ValueError, match=r"y must have shape \(20,\)"):
        calibration_split(X, y[:, None])
    with pytest.raises(ValueError, match="y must hold non-negative"):
        calibration_split(X, y - 5)
    Xc, yc, Xe, _ = calibration_split(X, y.double())  # integral floats: as calibrated_barriers accepts
    assert Xc.shape[0] + Xe.shape[0] == 20 and yc.dtype == torch.float64
    Xc, _, _, _ = calibration_split(X.double(), y)  # a tensor keeps its dtype
    assert Xc.dtype == torch.float64


# -- 8. calibrated_barriers labels -----------------------------------------------------------------------
def test_calibrated_barriers_names_label_arguments(setup):
    _, _, wa, wb, X, y = setup
    with pytest.raises(ValueError, match=r"y_cal must hold labels in \[0, 2\]"):
        calibrated_barriers(wa, wb, X, y * 0 + 3, X, y)
    with pytest.raises(ValueError, match=r"y_eval must hold labels in \[0, 2\]"):
        calibrated_barriers(wa, wb, X, y, X, y * 0 - 1)
    with pytest.raises(ValueError, match=r"y_eval must have shape \(20,\)"):
        calibrated_barriers(wa, wb, X, y, X, y[:, None])
    with pytest.raises(TypeError, match="y_cal must hold integer"):
        calibrated_barriers(wa, wb, X, y + 0.5, X, y)
    with pytest.raises(ValueError, match="X_eval contains NaN"):
        calibrated_barriers(wa, wb, X, y, X * float("nan"), y)
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 2\]"):
        fit_temperature(np.zeros((20, 3)), y * 0 + 3)
    r = calibrated_barriers(wa, wb, X, y, _fortran(X), y, lams=[0, 1])
    r2 = calibrated_barriers(wa, wb, X.double(), y, X, y, lams=[0, 1])
    assert np.array_equal(r.loss, r2.loss)


# -- 9. procrustes_align layers --------------------------------------------------------------------------
def test_procrustes_layers(setup):
    _, _, wa, wb, X, _ = setup
    one = LN.procrustes_align(wa, wb, X, layers=1)  # a single int is one layer
    assert one.layers == [1] and len(one.rotations) == 1
    assert np.array_equal(one.residual_after, LN.procrustes_align(wa, wb, X, layers=[1]).residual_after)
    assert LN.procrustes_align(wa, wb, X, layers=np.array([1, 3])).layers == [1, 3]
    with pytest.raises(ValueError, match="layers must name at least one layer"):
        LN.procrustes_align(wa, wb, X, layers=[])
    with pytest.raises(TypeError, match="layers must be an int or a sequence"):
        LN.procrustes_align(wa, wb, X, layers=1.0)
    with pytest.raises(TypeError, match="layers must be an int or a sequence"):
        LN.procrustes_align(wa, wb, X, layers="1")
    with pytest.raises(ValueError, match="layers must be <= 3"):
        LN.procrustes_align(wa, wb, X, layers=4)
    with pytest.raises(ValueError, match=r"layers\[1\] must be >= 1"):
        LN.procrustes_align(wa, wb, X, layers=[1, 0])
    with pytest.raises(TypeError, match=r"layers\[0\] must be an integer"):
        LN.procrustes_align(wa, wb, X, layers=[True])


# -- 10. estimate_realization_costs ----------------------------------------------------------------------
def test_constant_inputs_name_inputs():
    with pytest.raises(ValueError, match="inputs has zero variance"):
        estimate_realization_costs(torch.nn.Linear(6, 3), np.ones((20, 6)))


# -- the [LEWC] bias-free MLP tools: the same X problems -----------------------------------------------------------------------
@pytest.mark.parametrize("fn", ["hidden", "measure", "procrustes", "cka", "recompute_bn"])
def test_width_functions_validate_X(setup, fn):
    _, _, wa, wb, X, _ = setup
    calls = {
        "hidden": lambda Z: LN.hidden_outputs(wa, Z),
        "measure": lambda Z: LN.layer_measurements(wa, wb, Z),
        "procrustes": lambda Z: LN.procrustes_align(wa, wb, Z),
        "cka": lambda Z: LN.cka_matrix(wa, wb, Z),
        "recompute_bn": lambda Z: LN.recompute_batchnorm(wa, Z),
    }
    call = calls[fn]
    with pytest.raises(ValueError, match="X contains NaN"):
        call(X * float("nan"))
    with pytest.raises(TypeError, match="X must be a real"):
        call(X.numpy() + 1j)
    with pytest.raises(TypeError, match="X must be a real numeric array"):
        call(np.array([["1"] * 6] * 3))
    with pytest.raises(ValueError, match=r"X must have shape"):
        call(X[:, :5])
    with pytest.raises(ValueError, match="X must not be empty"):
        call(X[:0])
    with pytest.raises(ValueError, match="X has entries of magnitude"):
        call(X.double() * 1e300)
    if fn == "cka":
        with pytest.raises(ValueError, match="X needs at least 2 rows"):
            call(X[:1])
    if fn == "hidden":
        ref = LN.hidden_outputs(wa, X)
        for Z in (_fortran(X), X.double(), X.numpy()[::-1][::-1], np.asfortranarray(X.numpy())):
            assert all(np.array_equal(a, b) for a, b in zip(ref, LN.hidden_outputs(wa, Z)))


def test_check_helpers_directly():
    t = torch.randn(4, 3)
    assert check_X(t, "X") is not None and check_X(t, "X").data_ptr() == t.data_ptr()  # no copy
    assert check_X(t.double(), "X", dtype=torch.float32).dtype == torch.float32
    with pytest.raises(TypeError, match="Z must be a torch tensor"):
        check_X(t.numpy(), "Z", tensor_only=True)
    assert check_labels(np.array([0, 2]), "lab", n_rows=2, n_classes=3).dtype == torch.int64
    with pytest.raises(TypeError, match="lab must hold integer"):
        check_labels(["a", "b"], "lab", n_rows=2)
    assert check_layer_indices(None, "layers", 3) == [1, 2, 3]


# -- 6. the shared model checks of lmctheory.nn._inputs --------------------------------------------------
def test_shared_model_checks():
    from torch import nn

    from lmctheory.nn._inputs import (
        as_model_inputs,
        check_model_state,
        check_same_architecture,
        check_same_function,
        probe_output,
    )

    def net(p=0.1, seed=0):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(4, 5), nn.Dropout(p), nn.Linear(5, 2))

    check_same_architecture(net(seed=0), net(seed=1))
    with pytest.raises(ValueError, match=r"module 1 \(Dropout\) is \(p=0\.1.*\) in model_a and \(p=0\.5"):
        check_same_architecture(net(0.1), net(0.5))
    check_same_architecture(net(0.1), net(0.5), hyperparameters=False)  # shapes alone agree
    X = as_model_inputs(torch.randn(6, 4))
    a = net()
    same = net()
    assert check_same_function(a, same, X) == 0.0
    other = net(seed=3)
    with pytest.raises(ValueError, match="^model and reference compute different functions: outputs differ by"):
        check_same_function(a, other, X)
    with torch.no_grad():  # a change below the tolerance passes, one above it fails
        same[2].bias += 1e-9
    assert check_same_function(a, same, X) < 1e-6
    with torch.no_grad():
        same[2].bias += 1e-2
    with pytest.raises(ValueError, match="different functions"):
        check_same_function(a, same, X)
    bad = net()
    with torch.no_grad():
        bad[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"^m has a non-finite \(NaN or ±inf\) entry in '0\.weight'"):
        check_model_state(bad, "m")
    out = probe_output(net(), X)
    assert out.shape == (1, 2)
    with pytest.raises(ValueError, match=r"^X does not fit model \(Sequential\)"):
        probe_output(net(), as_model_inputs(torch.randn(6, 3)))
