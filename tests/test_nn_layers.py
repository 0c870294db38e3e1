"""AsymmetricLinear and make_mlp: fixed entries stay fixed, pairs share F/D, export round trip."""

import numpy as np
import pytest
import torch

import lmctheory.nn as lnn
from lmctheory.nn import AsymmetricLinear, make_mlp


def _train_few_steps(layer, steps=20, opt="adamw"):
    x = torch.randn(64, layer.in_features, generator=torch.Generator().manual_seed(0))
    t = torch.randn(64, layer.out_features, generator=torch.Generator().manual_seed(1))
    o = (torch.optim.AdamW(layer.parameters(), lr=1e-1, weight_decay=1e-1) if opt == "adamw"
         else torch.optim.SGD(layer.parameters(), lr=1e-1, momentum=0.9, weight_decay=1e-1))
    for _ in range(steps):
        o.zero_grad()
        ((layer(x) - t) ** 2).mean().backward()
        o.step()


@pytest.mark.parametrize("mode,kw", [("wasym", dict(fixed_per_row=5)), ("sparse", dict(keep_prob=0.4)),
                                     ("syre", {}), ("standard", {})])
@pytest.mark.parametrize("opt", ["adamw", "sgd"])
def test_fixed_entries_never_move(mode, kw, opt):
    torch.manual_seed(0)
    layer = AsymmetricLinear(12, 7, mode, sigma_f=2.0, **kw)
    eff0, F, D = layer.export()
    _train_few_steps(layer, opt=opt)
    eff1, F1, D1 = layer.export()
    fixed = D == 0
    np.testing.assert_array_equal(F1, F)
    np.testing.assert_array_equal(D1, D)
    np.testing.assert_array_equal(eff1[fixed], eff0[fixed])  # fixed entries bit-identical
    assert np.all(layer.weight.detach().numpy()[fixed] == 0.0)
    assert np.abs(eff1[~fixed] - eff0[~fixed]).max() > 1e-3  # trainable entries did move
    np.testing.assert_allclose(eff1, F + D * layer.weight.detach().double().numpy(), atol=1e-7)


def test_modes_follow_table1():
    d, n = 50, 30
    w = AsymmetricLinear(d, n, "wasym", fixed_per_row=4, sigma_f=3.0).export()
    assert np.all((w[2] == 0).sum(1) == 4)
    assert np.all(w[1][w[2] == 1] == 0) and np.all(w[1][w[2] == 0] != 0)
    assert 2.0 < w[1][w[2] == 0].std() < 4.0
    s = AsymmetricLinear(d, n, "syre", sigma_f=0.5).export()
    assert np.all(s[2] == 1) and 0.4 < s[1].std() < 0.6
    sp = AsymmetricLinear(d, n, "sparse", keep_prob=0.3).export()
    assert np.all(sp[1] == 0) and 0.2 < sp[2].mean() < 0.4 and set(np.unique(sp[2])) <= {0.0, 1.0}
    st = AsymmetricLinear(d, n).export()
    assert np.all(st[1] == 0) and np.all(st[2] == 1)
    assert np.all((AsymmetricLinear(d, n, "wasym").export()[2] == 0).sum(1) == 4)  # default round(0.08 d)


def test_mask_seed_shares_architecture_not_init():
    torch.manual_seed(1)
    a = AsymmetricLinear(20, 10, "wasym", mask_seed=3)
    torch.manual_seed(2)
    b = AsymmetricLinear(20, 10, "wasym", mask_seed=3)
    c = AsymmetricLinear(20, 10, "wasym", mask_seed=4)
    assert torch.equal(a.F, b.F) and torch.equal(a.D, b.D)
    assert not torch.equal(a.weight, b.weight)
    assert not torch.equal(a.D, c.D)
    # the mask RNG does not consume torch's global RNG
    torch.manual_seed(5)
    AsymmetricLinear(20, 10, "wasym", mask_seed=9)
    x1 = torch.rand(1)
    torch.manual_seed(5)
    AsymmetricLinear(20, 10, "standard")
    assert torch.equal(x1, torch.rand(1))


def test_effective_weight_and_state_dict():
    layer = AsymmetricLinear(6, 4, "syre", sigma_f=1.0)
    x = torch.randn(3, 6)
    eff = layer.effective_weight()
    torch.testing.assert_close(layer(x), x @ eff.T + layer.bias)
    assert {"F", "D", "weight", "bias"} <= set(layer.state_dict())
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert AsymmetricLinear(6, 4, bias=False).bias is None


def test_linear_arrays_of_nn_linear():
    lin = torch.nn.Linear(5, 3)
    eff, F, D = lnn.linear_arrays(lin)
    assert eff.dtype == np.float64 and np.all(F == 0) and np.all(D == 1)
    with pytest.raises(TypeError, match="nn.Linear or AsymmetricLinear"):
        lnn.linear_arrays(torch.nn.Conv1d(1, 1, 1))


@pytest.mark.parametrize("bad,exc,msg", [
    (dict(mode="bogus"), ValueError, "mode"),
    (dict(mode="syre", fixed_per_row=3), ValueError, "fixed_per_row"),
    (dict(mode="wasym", fixed_per_row=99), ValueError, "fixed_per_row"),
    (dict(mode="sparse", keep_prob=1.5), ValueError, "keep_prob"),
    (dict(mode="syre", sigma_f=-1.0), ValueError, "sigma_f"),
    (dict(mode="wasym", mask_seed=-1), ValueError, "mask_seed"),
])
def test_bad_layer_arguments(bad, exc, msg):
    with pytest.raises(exc, match=msg):
        AsymmetricLinear(10, 5, **bad)


def test_make_mlp_kinds_and_shapes():
    x = torch.randn(4, 16)
    for kind in ("standard", "wmlp", "syre", "sparse"):
        m = make_mlp(16, 32, 3, kind=kind, seed=0)
        assert m(x).shape == (4, 3)
        assert len(m.layers) == 4 and len(m.norms) == 3
    w = make_mlp(100, 50, 10, kind="wmlp", fixed_fraction=0.08)
    fixed = [int((lay.D[0] == 0).sum()) for lay in w.layers]
    assert fixed == [8, 4, 4, 16]  # every layer asymmetric, the last with 4x more ([NI])
    assert int((make_mlp(100, 50, 10, kind="wmlp", last_fixed=20).layers[-1].D[0] == 0).sum()) == 20
    # per-layer masks differ, pairs share them, init is seeded without touching global RNG
    a, b = make_mlp(16, 16, 2, kind="wmlp", seed=1), make_mlp(16, 16, 2, kind="wmlp", seed=2)
    assert not torch.equal(a.layers[1].D, a.layers[2].D)
    assert torch.equal(a.layers[1].D, b.layers[1].D) and not torch.equal(a.layers[0].weight, b.layers[0].weight)
    a2 = make_mlp(16, 16, 2, kind="wmlp", seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), a2.state_dict().values()))
    assert make_mlp(8, 8, 2, n_layers=1).layers[0].in_features == 8
    assert isinstance(make_mlp(8, 8, 2, norm=None).norms[0], torch.nn.Identity)
    with pytest.raises(ValueError, match="kind"):
        make_mlp(8, 8, 2, kind="resnet")
    with pytest.raises(ValueError, match="norm"):
        make_mlp(8, 8, 2, norm="batchnorm")
