"""ResNet builders of [NI] App. F.2: layout, variants, Table 3 fixed counts, training and interpolation."""

import numpy as np
import pytest
import torch
from torch import nn

from lmctheory.nn import AsymmetricConv2d, AsymmetricLinear, data, evaluate, interpolate, train
from lmctheory.nn.models import PAPER_FIXED_FRACTIONS, BasicBlock, ResNet, make_resnet


@pytest.fixture(scope="module")
def digits_images():
    ds = data.digits(seed=0, as_images=True)
    return ds.X_train[:192], ds.y_train[:192], ds.X_test[:96], ds.y_test[:96]


def _convs(model):
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, AsymmetricConv2d))]


@pytest.mark.parametrize("depth,n", [(8, 1), (14, 2), (20, 3)])
def test_layout_shapes_norms_and_shortcuts(depth, n):
    net = make_resnet(1, 10, depth=depth, width=8, seed=0)
    assert isinstance(net, ResNet) and len(net.stages) == 3
    assert [len(s) for s in net.stages] == [n, n, n]
    assert net(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    assert net(torch.randn(2, 1, 11, 13)).shape == (2, 10)  # global pooling: any input size
    convs = _convs(net)
    assert len(convs) == 1 + 6 * n + 2  # stem, two per block, two projection shortcuts
    # GroupNorm(1, C) after every convolution
    norms = [m for m in net.modules() if isinstance(m, nn.GroupNorm)]
    assert len(norms) == len(convs) and all(g.num_groups == 1 for g in norms)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    for g, (stage, c) in enumerate(zip(net.stages, (8, 16, 32))):
        for b, block in enumerate(stage):
            assert isinstance(block, BasicBlock)
            assert block.conv1.out_channels == block.conv2.out_channels == c
            assert block.norm1.num_channels == block.norm2.num_channels == c
            proj = g > 0 and b == 0
            assert isinstance(block.shortcut, nn.Identity) != proj
            if proj:
                sc, gn = block.shortcut
                assert sc.kernel_size == (1, 1) and sc.stride == (2, 2) and sc.out_channels == c
                assert isinstance(gn, nn.GroupNorm) and gn.num_groups == 1 and gn.num_channels == c
            assert block.conv1.stride == ((2, 2) if proj else (1, 1))
    assert net.fc.in_features == 32 and net.fc.out_features == 10


def test_blocks_per_stage_and_width():
    net = make_resnet(3, 5, blocks_per_stage=2, width=4)
    assert [len(s) for s in net.stages] == [2, 2, 2] and net.stem.in_channels == 3 and net.fc.in_features == 16


@pytest.mark.parametrize("kind,sigma_f", [("wasym", 2.0), ("wasym", 0.0), ("syre", 0.5), ("sparse", 1.0)])
def test_asymmetric_variants_are_asymmetric_everywhere(kind, sigma_f):
    net = make_resnet(1, 10, depth=8, width=8, kind=kind, sigma_f=sigma_f, seed=0)
    assert all(isinstance(m, AsymmetricConv2d) for _, m in _convs(net)) and isinstance(net.fc, AsymmetricLinear)
    assert not any(type(m) is nn.Conv2d or type(m) is nn.Linear for m in net.modules())
    for _, m in _convs(net) + [("fc", net.fc)]:
        E, F, D = m.export()
        if kind == "wasym":
            m_fixed = (D == 0).sum(1)
            assert np.all(m_fixed == m_fixed[0]) and 1 <= m_fixed[0] <= D.shape[1] - 1
            assert np.all(F[D == 1] == 0)
            assert np.all(F == 0) if sigma_f == 0 else np.all(F[D == 0] != 0)
        elif kind == "syre":
            assert np.all(D == 1) and 0.3 < F.std() < 0.7
        else:
            assert np.all(F == 0) and set(np.unique(D)) <= {0.0, 1.0}
    std = make_resnet(1, 10, depth=8, width=8, kind="standard")
    assert not any(isinstance(m, (AsymmetricConv2d, AsymmetricLinear)) for m in std.modules())


def test_paper_fixed_counts_reproduce_table3():
    net = make_resnet(3, 10, depth=8, width=128, kind="wasym", seed=0)
    counts = {n: int((m.export()[2] == 0).sum(1)[0]) for n, m in _convs(net) + [("fc", net.fc)]}
    assert counts["stem"] == 12
    assert counts["stages.0.0.conv1"] == counts["stages.0.0.conv2"] == 108
    assert counts["stages.1.0.conv1"] == counts["stages.1.0.conv2"] == 162
    assert counts["stages.1.0.shortcut.0"] == 18
    assert counts["stages.2.0.conv1"] == counts["stages.2.0.conv2"] == 216
    assert counts["stages.2.0.shortcut.0"] == 24 and counts["fc"] == 24
    assert set(PAPER_FIXED_FRACTIONS) == {"stem", "stage1", "stage2", "stage3", "shortcut2", "shortcut3", "final"}
    flat = make_resnet(1, 10, depth=8, width=8, kind="wasym", fixed_fraction=0.25)
    for _, m in _convs(flat):
        d = m.export()[2].shape[1]
        assert (m.export()[2] == 0).sum(1)[0] == min(d - 1, max(1, round(0.25 * d)))


def test_mask_seed_shares_architecture_and_seed_the_init():
    a = make_resnet(1, 10, depth=8, width=8, kind="wasym", mask_seed=5, seed=1)
    b = make_resnet(1, 10, depth=8, width=8, kind="wasym", mask_seed=5, seed=2)
    a2 = make_resnet(1, 10, depth=8, width=8, kind="wasym", mask_seed=5, seed=1)
    for (_, ma), (_, mb) in zip(_convs(a), _convs(b)):
        assert torch.equal(ma.F, mb.F) and torch.equal(ma.D, mb.D)
    assert not torch.equal(a.stem.weight, b.stem.weight) and torch.equal(a.stem.weight, a2.stem.weight)
    # every layer has its own mask stream
    assert not torch.equal(a.stages[0][0].conv1.D, a.stages[0][0].conv2.D)
    c = make_resnet(1, 10, depth=8, width=8, kind="wasym", mask_seed=6, seed=1)
    X, y = torch.randn(6, 1, 8, 8), torch.zeros(6, dtype=torch.int64)
    with pytest.raises(ValueError, match="mask_seed"):
        interpolate(a, c, X, y)


@pytest.mark.parametrize("kind,sigma_f", [("standard", 0.0), ("wasym", 2.0), ("wasym", 0.0), ("syre", 0.5),
                                          ("sparse", 1.0)])
def test_every_variant_trains_and_interpolates(kind, sigma_f, digits_images):
    Xtr, ytr, Xte, yte = digits_images
    a = make_resnet(1, 10, depth=8, width=8, kind=kind, sigma_f=sigma_f, seed=0)
    b = make_resnet(1, 10, depth=8, width=8, kind=kind, sigma_f=sigma_f, seed=1)
    fixed0 = [m.export() for _, m in _convs(a)] if kind != "standard" else []
    stem0 = a.stem.weight.detach().clone()
    h = train(a, Xtr, ytr, epochs=2, lr=1e-2, batch_size=64, seed=0)
    assert np.all(np.isfinite(h["loss"])) and h["loss"][-1] < h["loss"][0]
    assert not torch.equal(stem0, a.stem.weight)
    for (E0, _, D), (_, m) in zip(fixed0, _convs(a)):
        np.testing.assert_array_equal(m.export()[0][D == 0], E0[D == 0])
    loss, acc = evaluate(a, Xte, yte)
    assert np.isfinite(loss) and 0.0 <= acc <= 1.0
    r = interpolate(a, b, Xte, yte, lams=[0.0, 0.5, 1.0])
    assert np.isclose(r.loss[0], loss, rtol=1e-5) and np.isclose(r.acc[0], acc)


def test_make_resnet_bad_inputs():
    with pytest.raises(ValueError, match="6n"):
        make_resnet(1, 10, depth=9)
    with pytest.raises(ValueError, match="depth or blocks_per_stage"):
        make_resnet(1, 10, depth=8, blocks_per_stage=1)
    with pytest.raises(ValueError, match="kind"):
        make_resnet(1, 10, kind="wmlp")
    with pytest.raises(ValueError, match="fixed_fraction"):
        make_resnet(1, 10, kind="wasym", fixed_fraction="table")
    with pytest.raises(ValueError, match="fixed_fraction"):
        make_resnet(1, 10, kind="wasym", fixed_fraction=1.5)
    with pytest.raises(ValueError, match="width"):
        make_resnet(1, 10, width=0)
    with pytest.raises(ValueError, match="sigma_f"):
        make_resnet(1, 10, sigma_f=-1.0)
    net = make_resnet(1, 10, depth=8, width=4)
    with pytest.raises(ValueError, match="finite"):
        evaluate(net, torch.full((4, 1, 8, 8), float("nan")), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="labels in"):
        evaluate(net, torch.randn(4, 1, 8, 8), torch.full((4,), 10))


def test_estimates_on_a_trained_resnet(digits_images):
    from lmctheory.nn.estimate import estimate_all_layers

    Xtr, ytr, _, _ = digits_images
    net = make_resnet(1, 10, depth=8, width=8, kind="wasym", sigma_f=1.0, seed=0)
    train(net, Xtr, ytr, epochs=1, lr=1e-2, batch_size=64, seed=0)
    ests = estimate_all_layers(net, Xtr[:64], explained_variance=0.9)
    names = [n for n, _ in _convs(net)] + ["fc"]
    assert sorted(ests) == sorted(names) and set(ests.calls.values()) == {1} and ests.skipped == []
    assert ests["stem"].n_samples == 64 * 64 and ests["stages.2.0.conv2"].n_samples == 64 * 4
    assert ests["stages.1.0.shortcut.0"].costs.shape == (16, 16) and ests["fc"].n_samples == 64
    assert all(e.ratio >= 0.9 - 1e-12 and e.sampling == "all" for e in ests.values())
