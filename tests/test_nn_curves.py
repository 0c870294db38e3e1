"""Mode-connecting curves (lmctheory.nn.curves) on several independently written models.

Models written here, in different styles: an ``nn.Sequential`` MLP, a small CNN with BatchNorm2d on
image tensors ``(N, 1, 6, 6)``, and a residual-block model with BatchNorm1d and a bare ``nn.Parameter``.
Tolerances: parameter formulas are compared in float32 with ``atol = 1e-6`` (a few ulps of O(1) weights);
exact claims (endpoints, BatchNorm reset vs manual reset) are compared with ``torch.equal``.
"""

from __future__ import annotations

import copy
import doctest

import numpy as np
import pytest
import torch
import torch.nn.functional as Fn
from torch import nn

import lmctheory.nn as lnn
from lmctheory.nn import curves
from lmctheory.nn.batchnorm import reset_batchnorm
from lmctheory.nn.curves import Curve, CurveEnsemble, fit_curve, line_path

ATOL = 1e-6


def seq_mlp(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))


class SmallCNN(nn.Module):
    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4 * 3 * 3, 3)

    def forward(self, x):
        x = Fn.avg_pool2d(Fn.relu(self.bn(self.conv(x))), 2)
        return self.head(x.flatten(1))


class ResNetish(nn.Module):
    """Residual block; the input map is a bare parameter used with ``@``."""

    def __init__(self, seed, d=6, h=12, k=3):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.inp = nn.Parameter(torch.randn(h, d, generator=g) / d ** 0.5)
        self.fc1, self.bn1, self.fc2 = nn.Linear(h, h), nn.BatchNorm1d(h), nn.Linear(h, h)
        self.out = nn.Linear(h, k)
        with torch.no_grad():
            for p in (*self.fc1.parameters(), *self.fc2.parameters(), *self.out.parameters()):
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def forward(self, x):
        z = x @ self.inp.T
        z = z + self.fc2(Fn.relu(self.bn1(self.fc1(z))))
        return self.out(Fn.relu(z))


def teacher_data(n=96, d=6, k=3, seed=0, image=False):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 36 if image else d, generator=g)
    y = (X[:, :d] @ torch.randn(d, k, generator=g)).argmax(1)
    return (X.reshape(n, 1, 6, 6) if image else X), y


MODELS = {"mlp": (seq_mlp, False), "cnn_bn": (SmallCNN, True), "resnet_bn": (ResNetish, False)}


def pair(name):
    make, image = MODELS[name]
    X, y = teacher_data(image=image)
    return make(1), make(2), X, y


def perturb_controls(curve, seed=0):
    """The curve with its control points moved off the line, so formulas are checked at a generic point."""
    g = torch.Generator().manual_seed(seed)
    return curve.with_controls([{n: v + torch.randn(v.shape, generator=g) for n, v in c.items()}
                                for c in curve.control_points()])


# ----- geometry ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("kind", ["bezier", "polychain"])
def test_endpoints_reproduced_exactly(name, kind):
    a, b, X, y = pair(name)
    if name != "mlp":  # BatchNorm statistics that differ between the endpoints, as after real training
        with torch.no_grad():
            for m, s in ((a, 1.0), (b, 2.0)):
                for mod in m.modules():
                    if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                        mod.running_mean.fill_(s)
                        mod.num_batches_tracked.fill_(int(10 * s))
    curve = fit_curve(a, b, X, y, kind=kind, epochs=1, batch_size=32, lr=1e-2)
    for t, ref in ((0.0, a), (1.0, b)):
        got = curve.model_at(t, reset_bn=None).state_dict()
        want = ref.state_dict()
        assert got.keys() == want.keys()
        for k in want:
            assert torch.equal(got[k], want[k]), (name, kind, t, k)
        out = curve.model_at(t, reset_bn=None)(X)
        assert torch.equal(out, ref.eval()(X))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_at_is_the_bezier_formula(name):
    a, b, X, y = pair(name)
    curve = fit_curve(a, b, X, y, epochs=0)
    curve = perturb_controls(curve)
    (c,) = curve.control_points()
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    for t in (0.1, 0.37, 0.5, 0.9):
        m = curve.model_at(t, reset_bn=None)
        for n, p in m.named_parameters():
            want = (1 - t) ** 2 * pa[n] + 2 * t * (1 - t) * c[n] + t ** 2 * pb[n]
            assert torch.allclose(p, want, atol=ATOL, rtol=0), (name, t, n)
        # the model is a plain module: its forward equals the functional evaluation at p(t)
        ref = torch.func.functional_call(copy.deepcopy(a).eval(), curve.parameters_at(t), (X,))
        assert torch.allclose(m(X), ref, atol=ATOL), (name, t)


def test_initial_curve_is_the_line_and_cubic_bezier_formula():
    a, b, X, y = pair("mlp")
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    for kind in ("bezier", "polychain"):
        curve = fit_curve(a, b, X, y, kind=kind, epochs=0, n_bends=2)
        for t in (0.2, 0.5, 0.8):
            for n, v in curve.parameters_at(t).items():
                assert torch.allclose(v, (1 - t) * pa[n] + t * pb[n], atol=ATOL, rtol=0)
    curve = fit_curve(a, b, X, y, kind="bezier", epochs=0, n_bends=2)
    curve = perturb_controls(curve)
    c1, c2 = curve.control_points()
    t = 0.3
    for n, v in curve.parameters_at(t).items():
        want = (1 - t) ** 3 * pa[n] + 3 * t * (1 - t) ** 2 * c1[n] + 3 * t ** 2 * (1 - t) * c2[n] + t ** 3 * pb[n]
        assert torch.allclose(v, want, atol=ATOL, rtol=0)


def test_polychain_segments():
    a, b, X, y = pair("resnet_bn")
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    curve = fit_curve(a, b, X, y, kind="polychain", epochs=0)
    curve = perturb_controls(curve)
    (c,) = curve.control_points()
    for n, v in curve.parameters_at(0.5).items():
        assert torch.equal(v, c[n])  # the bend itself, exactly
    for t in (0.2, 0.45):
        for n, v in curve.parameters_at(t).items():
            assert torch.allclose(v, (1 - 2 * t) * pa[n] + 2 * t * c[n], atol=ATOL, rtol=0)
    for t in (0.55, 0.9):
        for n, v in curve.parameters_at(t).items():
            assert torch.allclose(v, (2 - 2 * t) * c[n] + (2 * t - 1) * pb[n], atol=ATOL, rtol=0)
    # two bends: bend i sits at t = i/3
    curve2 = fit_curve(a, b, X, y, kind="polychain", epochs=0, n_bends=2)
    curve2 = perturb_controls(curve2, seed=3)
    c1, c2 = curve2.control_points()
    for n, v in curve2.parameters_at(1 / 3).items():
        assert torch.equal(v, c1[n])
    for n, v in curve2.parameters_at(0.5).items():
        assert torch.allclose(v, 0.5 * c1[n] + 0.5 * c2[n], atol=ATOL, rtol=0)


# ----- training ----------------------------------------------------------------------------------


def _trained_pair(make, X, y, epochs=30):
    out = []
    for s in (11, 12):
        m = make(s)
        lnn.train(m, X, y, epochs=epochs, lr=2e-2, weight_decay=0.0, batch_size=32, seed=s)
        out.append(m)
    return out


@pytest.mark.parametrize("name", ["mlp", "resnet_bn"])
def test_training_reduces_curve_loss(name):
    make, image = MODELS[name]
    X, y = teacher_data(n=128, image=image)
    a, b = _trained_pair(make, X, y)
    ts = np.linspace(0, 1, 9)
    line = fit_curve(a, b, X, y, epochs=0).evaluate(X, y, lams=ts)
    curve = fit_curve(a, b, X, y, epochs=40, lr=1e-2, batch_size=32, seed=1)
    fitted = curve.evaluate(X, y, lams=ts)
    before, after = line.loss[1:-1].mean(), fitted.loss[1:-1].mean()
    assert after < 0.8 * before, (name, before, after)
    assert fitted.barrier_lin < line.barrier_lin
    assert len(curve.history) == 40
    # endpoints unchanged by training (BatchNorm recomputed at both: same numbers for line and curve)
    assert fitted.loss[0] == pytest.approx(line.loss[0], abs=1e-6)
    assert fitted.loss[-1] == pytest.approx(line.loss[-1], abs=1e-6)


def test_fit_is_deterministic_and_leaves_models_alone():
    a, b, X, y = pair("cnn_bn")
    before = [copy.deepcopy(m.state_dict()) for m in (a, b)]
    c1 = fit_curve(a, b, X, y, epochs=2, batch_size=16, seed=5).control_points()[0]
    c2 = fit_curve(a, b, X, y, epochs=2, batch_size=16, seed=5).control_points()[0]
    c3 = fit_curve(a, b, X, y, epochs=2, batch_size=16, seed=6).control_points()[0]
    assert all(torch.equal(c1[n], c2[n]) for n in c1)
    assert not all(torch.equal(c1[n], c3[n]) for n in c1)
    for m, sd in zip((a, b), before):
        assert all(torch.equal(v, sd[k]) for k, v in m.state_dict().items())


def test_frozen_parameters_stay_on_the_line():
    a, b, X, y = pair("mlp")
    a[0].weight.requires_grad_(False)
    curve = fit_curve(a, b, X, y, epochs=3, batch_size=32, lr=1e-2)
    (c,) = curve.control_points()
    assert torch.allclose(c["0.weight"], 0.5 * (a[0].weight + b[0].weight), atol=ATOL, rtol=0)
    assert not torch.allclose(c["2.weight"], 0.5 * (a[2].weight + b[2].weight), atol=1e-4, rtol=0)


def test_dataloader_input_matches_tensor_evaluation():
    from torch.utils.data import DataLoader, TensorDataset

    a, b, X, y = pair("cnn_bn")
    loader = DataLoader(TensorDataset(X, y), batch_size=24, shuffle=False)
    curve = fit_curve(a, b, loader, epochs=2, seed=0)
    assert len(curve.history) == 2 and np.all(np.isfinite(curve.history))
    ts = [0.0, 0.25, 1.0]
    r_t = curve.evaluate(X, y, lams=ts, reset_bn=X, bn_batch_size=24)
    r_l = curve.evaluate(loader, None, lams=ts)  # reset_bn defaults to the loader the curve was fit on
    assert np.allclose(r_t.loss, r_l.loss, atol=1e-5) and np.allclose(r_t.acc, r_l.acc)


# ----- BatchNorm -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cnn_bn", "resnet_bn"])
def test_batchnorm_statistics_recomputed_at_points(name):
    a, b, X, y = pair(name)
    curve = fit_curve(a, b, X, y, epochs=1, batch_size=32)
    for t in (0.0, 0.3, 1.0):
        got = curve.model_at(t)  # reset on the fit data (the curve's reset_bn)
        manual = reset_batchnorm(curve.model_at(t, reset_bn=None), X)
        stale = curve.model_at(t, reset_bn=None)
        gs, ms, ss = got.state_dict(), manual.state_dict(), stale.state_dict()
        for k in gs:
            assert torch.equal(gs[k], ms[k]), (name, t, k)
        assert any(not torch.equal(gs[k], ss[k]) for k in gs if "running_mean" in k)
        assert all(int(v) > 0 for k, v in gs.items() if k.endswith("num_batches_tracked"))
    X2 = X[:40] * 2.0
    other = curve.model_at(0.5, reset_bn=X2)
    manual = reset_batchnorm(curve.model_at(0.5, reset_bn=None), X2)
    assert all(torch.equal(v, manual.state_dict()[k]) for k, v in other.state_dict().items())


def test_line_path_equals_interpolate_without_batchnorm():
    a, b, X, y = pair("mlp")
    a2 = copy.deepcopy(a)
    ts = np.linspace(0, 1, 7)
    got = line_path(a, b).evaluate(X, y, lams=ts)
    want = lnn.interpolate(a, b, X, y, lams=ts)
    assert np.allclose(got.loss, want.loss, atol=1e-6) and np.array_equal(got.acc, want.acc)
    for f in ("barrier_lin", "barrier_max", "acc_barrier_lin", "midpoint_acc_drop", "midpoint_loss_barrier"):
        assert getattr(got, f) == pytest.approx(getattr(want, f), abs=1e-6), f
    # asymmetric layers (equal F/D) work too; the package's MLP is just another module here
    m1 = lnn.make_mlp(6, 8, 3, n_layers=3, kind="wmlp", sigma_f=1.0, mask_seed=3, seed=1)
    m2 = lnn.make_mlp(6, 8, 3, n_layers=3, kind="wmlp", sigma_f=1.0, mask_seed=3, seed=2)
    got = line_path(m1, m2).evaluate(X, y, lams=ts)
    want = lnn.interpolate(m1, m2, X, y, lams=ts)
    assert np.allclose(got.loss, want.loss, atol=1e-6)
    assert all(torch.equal(v, a2.state_dict()[k]) for k, v in a.state_dict().items())


def test_evaluate_barriers_and_midpoint():
    a, b, X, y = pair("resnet_bn")
    curve = fit_curve(a, b, X, y, epochs=1)
    res = curve.evaluate(X, y, lams=[0.0, 0.4, 1.0])
    assert isinstance(res, lnn.InterpolationResult)
    bars = lnn.training.barriers(res.lams, res.loss, res.acc)
    assert res.barrier_lin == bars["barrier_lin"] and res.acc_barrier_max == bars["acc_barrier_max"]
    mid = curve.model_at(0.5)
    lv, av = lnn.evaluate(mid, X, y)
    assert res.midpoint_loss_barrier == pytest.approx(lv - (res.loss[0] + res.loss[-1]) / 2, abs=1e-6)
    assert res.midpoint_acc_drop == pytest.approx(100 * ((res.acc[0] + res.acc[-1]) / 2 - av), abs=1e-9)


# ----- ensembling ----------------------------------------------------------------------------------


@torch.no_grad()
def test_ensemble_shape_and_gain_arithmetic():
    a, b, X, y = pair("cnn_bn")
    curve = fit_curve(a, b, X, y, epochs=2, batch_size=32)
    ts = [0.25, 0.5, 0.75]  # endpoints not among the members: they are evaluated separately
    ens = curve.ensemble(X, y, lams=ts)
    assert isinstance(ens, CurveEnsemble) and ens.probs.shape == (len(X), 3)
    assert np.allclose(ens.probs.sum(1), 1.0, atol=1e-12)
    P = [torch.softmax(curve.model_at(t)(X).double(), 1) for t in ts]
    mean = torch.stack(P).mean(0)
    assert np.allclose(ens.probs, mean.numpy(), atol=1e-12)
    nll = float(-torch.log(mean[torch.arange(len(y)), y]).mean())
    acc = float((mean.argmax(1) == y).double().mean())
    E = (torch.softmax(curve.model_at(0.0)(X).double(), 1) + torch.softmax(curve.model_at(1.0)(X).double(), 1)) / 2
    e_nll = float(-torch.log(E[torch.arange(len(y)), y]).mean())
    e_acc = float((E.argmax(1) == y).double().mean())
    assert ens.nll == pytest.approx(nll, abs=1e-12) and ens.acc == acc
    assert ens.endpoint_nll == pytest.approx(e_nll, abs=1e-12) and ens.endpoint_acc == e_acc
    assert ens.acc_gain_pp == pytest.approx(100 * (acc - e_acc), abs=1e-12)
    assert ens.nll_gain == pytest.approx(e_nll - nll, abs=1e-12)
    assert ens.member_acc.shape == (3,) and "probs" not in ens.to_dict()


# ----- bad inputs ----------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    a, b, X, y = pair("mlp")
    with pytest.raises(ValueError, match="kind"):
        fit_curve(a, b, X, y, kind="spline", epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        fit_curve(a, b, X, y, epochs=-1)
    with pytest.raises(ValueError, match="n_bends"):
        fit_curve(a, b, X, y, epochs=1, n_bends=0)
    with pytest.raises(TypeError, match="model_b"):
        fit_curve(a, "b", X, y, epochs=1)
    with pytest.raises(ValueError, match=r"same architecture: module 0 \(Linear\)"):
        fit_curve(a, nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)), X, y, epochs=1)
    with pytest.raises(ValueError, match="X must"):
        fit_curve(a, b, X[:, :4], y, epochs=1)
    with pytest.raises(TypeError, match="y must hold integer"):
        fit_curve(a, b, X, y.float(), epochs=1)
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 2\]"):
        fit_curve(a, b, X, y + 5, epochs=1)
    with pytest.raises(TypeError, match="X must be a torch tensor"):
        fit_curve(a, b, X.numpy(), y, epochs=1)
    with pytest.raises(ValueError, match="X contains NaN"):
        fit_curve(a, b, X.clone().fill_(float("nan")), y, epochs=1)
    curve = fit_curve(a, b, X, y, epochs=0)
    with pytest.raises(ValueError, match="lam must lie in"):
        curve.model_at(1.5)
    with pytest.raises(ValueError, match="endpoints 0 and 1"):
        curve.evaluate(X, y, lams=[0.2, 0.5])
    with pytest.raises(ValueError, match="y must be None"):
        curve.evaluate([(X, y)], y)
    with pytest.raises(TypeError, match="reset_bn"):
        curve.model_at(0.5, reset_bn="yes")
    with pytest.raises(ValueError, match="loss='ce'"):
        fit_curve(a, b, X, torch.randn(len(X), 3), loss="mse", epochs=0).ensemble(X, y)


def test_differing_fixed_buffers_are_refused_and_stats_allowed():
    m1 = lnn.make_mlp(6, 8, 3, n_layers=3, kind="wmlp", sigma_f=1.0, mask_seed=1, seed=1)
    m2 = lnn.make_mlp(6, 8, 3, n_layers=3, kind="wmlp", sigma_f=1.0, mask_seed=2, seed=2)
    X, y = teacher_data()
    with pytest.raises(ValueError, match="F/D|mask_seed"):
        fit_curve(m1, m2, X, y, epochs=0)

    class WithBuffer(nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.lin = nn.Linear(6, 3)
            self.register_buffer("scale", torch.tensor(scale))

        def forward(self, x):
            return self.scale * self.lin(x)

    with pytest.raises(ValueError, match="buffer 'scale' differs"):
        line_path(WithBuffer(1.0), WithBuffer(2.0))
    line_path(WithBuffer(1.0), WithBuffer(1.0))  # equal fixed buffers are fine
    a, b, X, y = pair("resnet_bn")
    b.bn1.num_batches_tracked.fill_(123)  # integer statistics may differ
    curve = line_path(a, b)
    assert int(curve.model_at(1.0, reset_bn=None).bn1.num_batches_tracked) == 123
    with pytest.raises(ValueError, match="reset_bn"):
        curve.evaluate(X, y)  # BatchNorm but no data to recompute its statistics
    assert np.isfinite(line_path(a, b, reset_bn=X).evaluate(X, y).barrier_lin)
    assert np.isfinite(curve.evaluate(X, y, reset_bn=None).barrier_lin)  # explicit: statistics mixed linearly


def test_lazy_exports_and_docstring_examples():
    assert lnn.fit_curve is fit_curve and lnn.Curve is Curve and lnn.line_path is line_path
    res = doctest.testmod(curves, optionflags=doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0


# ----- the shared experiment job, the claim and the figure (tiny sizes) --------------------------------

TINY_M1 = dict(dataset="gmm-k4-d16-s2.0", data_seed=0, lr=1e-2, weight_decay=1e-2, batch_size=256,
               curve_kind="bezier", curve_lr=1e-2, version=-1, archs={"mlp": {"hidden": 8, "n_layers": 3}},
               epochs=2, curve_epochs=2, pairs=1, n_ts=3)


def test_m1_claim_and_figure_tiny(monkeypatch, tmp_path):
    from lmctheory.figures import FigureContext, get_spec, render_figure
    from paper_checks import common
    from paper_checks import m1_mode_curves as m1

    from lmctheory.experiments import mode_curves

    # the figure reads the library experiment's default config, the claim its own: shrink both
    monkeypatch.setattr(mode_curves, "config", lambda quick: copy.deepcopy(TINY_M1))
    monkeypatch.setattr(m1, "config", lambda quick: copy.deepcopy(TINY_M1))
    assert common.discover()["M1"] == "paper_checks.m1_mode_curves"
    ctx = common.Context(quick=True, cache_root=tmp_path, progress=False, max_workers=1)
    r = m1.run(ctx)
    assert r.id == "M1" and r.passed in (True, False) and "mlp: B_lin line/curve" in r.measured
    ev = r.details["evaluation"]["mlp"]
    assert set(ev) >= {"line_unaligned", "curve_unaligned", "line_aligned", "curve_aligned"}
    data = m1.collect(ctx)  # from the cache
    row = data["archs"]["mlp"]
    assert len(row["unaligned"]["curve"]["loss_mean"]) == 3 and len(row["aligned"]["line"]["barrier_lin"]) == 1
    # the condition bites: a flat line fails (1), a curve as high as the line fails (2)
    bad = copy.deepcopy(data)
    for which in ("unaligned", "aligned"):
        bad["archs"]["mlp"][which]["line"]["barrier_lin_mean"] = 1.0
        bad["archs"]["mlp"][which]["curve"]["barrier_lin_mean"] = 0.0
    assert m1.evaluate_condition(bad)[0] is False  # aligned line as high as unaligned: (3) fails
    bad["archs"]["mlp"]["aligned"]["line"]["barrier_lin_mean"] = 0.1
    assert m1.evaluate_condition(bad)[0] is True
    bad["archs"]["mlp"]["unaligned"]["curve"]["barrier_lin_mean"] = 0.5
    assert m1.evaluate_condition(bad)[0] is False
    bad["archs"]["mlp"]["aligned"] = None
    assert m1.evaluate_condition(bad)[0] is None
    res = render_figure(get_spec("fig11_curves"), tmp_path / "fig",
                        FigureContext(mode="quick", cache_root=tmp_path, progress=False))
    assert res.status == "ok", res.message
    header = res.paths["csv"].read_text().splitlines()[0].split(",")
    assert {"arch", "alignment", "path", "t", "metric", "mean", "std"} <= set(header)


def test_curve_constructor_validates_and_with_controls_copies():
    a, b, X, y = pair("mlp")
    line = Curve(a, b)
    assert line.kind == "line" and line.control_points() == []
    curve = Curve(a, b, kind="bezier", n_bends=2)
    moved = perturb_controls(curve)
    # the original is untouched: a new curve carries the new points
    c0, m0 = curve.control_points()[0], moved.control_points()[0]
    assert not torch.equal(c0["0.weight"], m0["0.weight"])
    assert torch.equal(Curve(a, b, kind="bezier", n_bends=2).control_points()[0]["0.weight"], c0["0.weight"])
    again = Curve(a, b, kind="bezier", n_bends=2, controls=moved.control_points())
    assert torch.equal(again.parameters_at(0.3)["0.weight"], moved.parameters_at(0.3)["0.weight"])
    with pytest.raises(ValueError, match="controls must be a list of 2 control points"):
        Curve(a, b, kind="bezier", n_bends=2, controls=moved.control_points()[:1])
    bad = moved.control_points()
    bad[1]["0.weight"] = bad[1]["0.weight"][:, :2]
    with pytest.raises(ValueError, match=r"controls\[1\]\['0\.weight'\] must be a tensor of shape"):
        Curve(a, b, kind="bezier", n_bends=2, controls=bad)
    with pytest.raises(ValueError, match="n_bends"):
        Curve(a, b, kind="line", n_bends=1)


def test_fit_curve_builds_its_result_through_the_public_constructor(monkeypatch):
    """fit_curve trains on copies of the control points and hands them to Curve.with_controls."""
    a, b, X, y = pair("mlp")
    seen = []
    original = Curve.with_controls

    def spy(self, controls, **kw):
        seen.append(len(controls))
        return original(self, controls, **kw)

    monkeypatch.setattr(Curve, "with_controls", spy)
    curve = fit_curve(a, b, X, y, epochs=1, n_bends=2, batch_size=16)
    assert seen == [2] and len(curve.history) == 1
