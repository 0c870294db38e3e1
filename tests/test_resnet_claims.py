"""C9/C10 (ResNet claims), figure 13, the ResNet row of M1, and alignment + interpolation of a user's own ResNet."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

TINY = dict(dataset="digits-images", data_seed=0, depth=8, fixed_fraction="paper", lr=3e-3, weight_decay=1e-2,
            batch_size=256, n_lams=3, n_random=5, version=-1, width=4, epochs=1, pairs=1)
TINY_MATCH = {**TINY, "kappas": [0.0, 1.0, 2.0]}


@pytest.fixture
def tiny(monkeypatch):
    from lmctheory.experiments import resnet_pairs
    from paper_checks import c9_resnet_lmc as c9
    from paper_checks import c10_resnet_matching_objective as c10

    # the figure reads the library experiment's default config, the claims their own: shrink all
    monkeypatch.setattr(resnet_pairs, "config", lambda quick: copy.deepcopy(TINY))
    monkeypatch.setattr(resnet_pairs, "matching_config", lambda quick: copy.deepcopy(TINY_MATCH))
    monkeypatch.setattr(c9, "config", lambda quick: copy.deepcopy(TINY))
    monkeypatch.setattr(c10, "config", lambda quick: copy.deepcopy(TINY_MATCH))
    return c9, c10


def test_c9_c10_claims_and_figure_tiny(tiny, tmp_path):
    from lmctheory.figures import FigureContext, get_spec, render_figure
    from paper_checks import common

    c9, c10 = tiny
    found = common.discover()
    assert found["C9"] == "paper_checks.c9_resnet_lmc" and found["C10"] == "paper_checks.c10_resnet_matching_objective"
    ctx = common.Context(quick=True, cache_root=tmp_path, progress=False, max_workers=1)
    r9 = c9.run(ctx)
    assert r9.id == "C9" and r9.passed in (True, False) and "wresnet_k2:" in r9.measured
    data = c9.collect(ctx)  # from the cache
    assert set(data["variants"]) == {"standard", "wresnet_k0", "wresnet_k2", "syre"}
    v = data["variants"]["standard"]
    assert len(v["aligned"]["acc_mean"]) == 3 and len(v["endpoint_test_acc"]) == 2
    r10 = c10.run(ctx)  # κ = 0 and 2 come from C9's cache
    assert r10.id == "C10" and r10.passed in (True, False) and "identity/optimal by κ" in r10.measured
    d10 = c10.collect(ctx)
    assert d10["kappa"] == [0.0, 1.0, 2.0]
    assert all(-1.0 <= x <= 1.0 + 1e-9 for x in d10["identity_over_optimal"])
    res = render_figure(get_spec("fig13_resnet_interpolation"), tmp_path / "fig",
                        FigureContext(mode="quick", cache_root=tmp_path, progress=False))
    assert res.status == "ok", res.message
    header = res.paths["csv"].read_text().splitlines()[0].split(",")
    assert {"alignment", "variant", "lam", "metric", "mean", "std"} <= set(header)
    assert "W-ResNet" in res.paths["txt"].read_text()


def _c9_data(un, al):
    return {"variants": {k: {"unaligned": {"midpoint_acc_drop_mean": un[k]},
                             "aligned": {"midpoint_acc_drop_mean": al[k]}} for k in un}}


def test_c9_condition_bites():
    from paper_checks import c9_resnet_lmc as c9

    un = {"standard": 40.0, "wresnet_k0": 30.0, "wresnet_k2": 1.0, "syre": 3.0}
    al = {"standard": 5.0, "wresnet_k0": 2.0, "wresnet_k2": 1.0, "syre": 3.0}
    assert c9.evaluate_condition(_c9_data(un, al))[0] is True
    assert c9.evaluate_condition(_c9_data({**un, "syre": 16.0}, al))[0] is False       # not ordered
    assert c9.evaluate_condition(_c9_data(un, {**al, "wresnet_k2": 2.5}))[0] is False  # alignment hurt
    assert c9.evaluate_condition(_c9_data({**un, "standard": float("nan")}, al))[0] is None
    missing = _c9_data(un, al)
    del missing["variants"]["syre"]
    assert c9.evaluate_condition(missing)[0] is None


def test_c10_condition_bites():
    from paper_checks import c10_resnet_matching_objective as c10

    good = {"kappa": [0, 0.5, 1, 2, 4], "identity_over_optimal": [0.1, 0.5, 0.9, 1.0, 1.0],
            "random_over_optimal": [0.1] * 5}
    assert c10.evaluate_condition(good)[0] is True
    assert c10.evaluate_condition({**good, "identity_over_optimal": [1.0, 0.9, 0.5, 0.2, 0.1]})[0] is False
    assert c10.evaluate_condition({**good, "random_over_optimal": [0.1, 0.1, 0.1, 0.1, 0.9]})[0] is False
    assert c10.evaluate_condition({**good, "identity_over_optimal": [0.5] * 5})[0] is None


def test_m1_resnet_row_tiny(tmp_path):
    from lmctheory.experiments import Context, mode_curves
    from lmctheory.sweep import JobError

    cfg = dict(dataset="gmm-k4-d16-s2.0", data_seed=0, lr=1e-2, weight_decay=1e-2, batch_size=256,
               curve_kind="bezier", curve_lr=1e-2, version=-1, epochs=1, curve_epochs=1, pairs=1, n_ts=3,
               archs={"resnet": {"dataset": "digits-images", "depth": 8, "width": 4}})
    data = mode_curves.collect(Context(cache_root=tmp_path, progress=False, max_workers=1), cfg)
    row = data["archs"]["resnet"]
    assert len(row["aligned"]["line"]["loss_mean"]) == 3 and np.isfinite(row["unaligned"]["curve"]["barrier_lin_mean"])
    # a flat dataset is refused by the ResNet builder with a clear message
    bad = {**cfg, "archs": {"resnet": {"depth": 8, "width": 4}}}
    with pytest.raises(JobError, match="needs image data"):
        mode_curves.collect(Context(cache_root=tmp_path, progress=False, max_workers=1), bad)


class _Res(nn.Module):
    """A residual block written from scratch: conv-BN-ReLU-conv-BN, + (1x1 conv + BN projection) skip."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a, self.bn_a = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.b, self.bn_b = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.proj = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride > 1 or cin != cout else None)

    def forward(self, x):
        skip = x if self.proj is None else self.proj(x)
        return F.relu(self.bn_b(self.b(F.relu(self.bn_a(self.a(x))))) + skip)


class _UserResNet(nn.Module):
    def __init__(self, w=12):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU())
        self.body = nn.Sequential(_Res(w, w, 1), _Res(w, w, 1), _Res(w, 2 * w, 2))
        self.head = nn.Linear(2 * w, 10)

    def forward(self, x):
        return self.head(F.adaptive_avg_pool2d(self.body(self.stem(x)), 1).flatten(1))


def test_users_own_resnet_alignment_and_interpolation():
    """The README example: align a user's BatchNorm ResNet with activation matching and interpolate with a
    BatchNorm reset; the aligned path has the lower barrier, and the reset matters."""
    from lmctheory.nn import activation_match, interpolate, permute_model, train
    from lmctheory.nn.data import digits

    ds = digits(as_images=True)
    models = []
    for s in (1, 2):
        torch.manual_seed(s)
        m = _UserResNet()
        train(m, ds.X_train, ds.y_train, epochs=3, lr=3e-3, seed=s)
        models.append(m)
    model_a, model_b = models
    X_train, X_test, y_test = ds.X_train, ds.X_test, ds.y_test

    match = activation_match(model_a, model_b, X_train)  # residual streams tied, every pixel a sample
    model_b_aligned = permute_model(model_b, match)      # same function as model_b
    before = interpolate(model_a, model_b, X_test, y_test, reset_bn=X_train)
    after = interpolate(model_a, model_b_aligned, X_test, y_test, reset_bn=X_train)

    # one joint group for the stem + first two blocks (residual stream), inner groups, the projected stream
    assert sorted(g.size for g in match.groups) == [12, 12, 12, 24, 24]
    assert any(not np.array_equal(p, np.arange(len(p))) for p in match.perms.values())
    with torch.no_grad():
        torch.testing.assert_close(model_b_aligned(X_test), model_b(X_test), atol=1e-4, rtol=1e-4)
    assert after.barrier_lin < before.barrier_lin and after.midpoint_acc_drop < before.midpoint_acc_drop
    no_reset = interpolate(model_a, model_b_aligned, X_test, y_test)  # interpolated running statistics
    assert after.barrier_lin < no_reset.barrier_lin
