"""AsymmetricConv2d, patch unfolding and realization-cost estimates of convolutions (docs/theory.md#conv-layers):
checked against brute-force patch extraction and the core, on hand-written CNNs."""

import numpy as np
import pytest
import torch
from torch import nn

import lmctheory as lt
from lmctheory.nn import AsymmetricConv2d, AsymmetricLinear, linear_arrays
from lmctheory.nn.estimate import (conv_patches, estimate_all_layers, estimate_realization_costs, layer_samples,
                                   record_layer_inputs)


def _brute_patches(x, kh, kw, stride, padding, dilation):
    """Patches by explicit loops (zero padding), rows image-major then output row-major."""
    x = np.asarray(x, float)
    N, C, H, W = x.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xp[:, :, ph:ph + H, pw:pw + W] = x
    Ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    rows = []
    for n in range(N):
        for r in range(Ho):
            for c in range(Wo):
                patch = np.empty((C, kh, kw))
                for ch in range(C):
                    for i in range(kh):
                        for j in range(kw):
                            patch[ch, i, j] = xp[n, ch, r * sh + i * dh, c * sw + j * dw]
                rows.append(patch.ravel())
    return np.array(rows)


def _train_steps(module, x, steps=15, opt="adamw"):
    t = torch.randn_like(module(x)).detach()
    o = (torch.optim.AdamW(module.parameters(), lr=5e-2, weight_decay=1e-1) if opt == "adamw"
         else torch.optim.SGD(module.parameters(), lr=5e-2, momentum=0.9, weight_decay=1e-1))
    for _ in range(steps):
        o.zero_grad()
        ((module(x) - t) ** 2).mean().backward()
        o.step()


# --------------------------------------------------------------------------- AsymmetricConv2d

@pytest.mark.parametrize("mode,kw", [("wasym", dict(fixed_per_row=5)), ("sparse", dict(keep_prob=0.4)),
                                     ("syre", {}), ("standard", {})])
@pytest.mark.parametrize("opt", ["adamw", "sgd"])
def test_conv_fixed_entries_never_move(mode, kw, opt):
    torch.manual_seed(0)
    conv = AsymmetricConv2d(3, 6, 3, stride=1, padding=1, mode=mode, sigma_f=1.5, **kw)
    eff0, F, D = conv.export()
    assert eff0.shape == F.shape == D.shape == (6, 27)
    _train_steps(conv, torch.randn(4, 3, 6, 6, generator=torch.Generator().manual_seed(1)), opt=opt)
    eff1, F1, D1 = conv.export()
    fixed = D == 0
    np.testing.assert_array_equal(F1, F)
    np.testing.assert_array_equal(D1, D)
    np.testing.assert_array_equal(eff1[fixed], eff0[fixed])
    assert np.all(conv.weight.detach().reshape(6, -1).numpy()[fixed] == 0.0)
    assert np.abs(eff1[~fixed] - eff0[~fixed]).max() > 1e-3
    np.testing.assert_allclose(eff1, F + D * conv.weight.detach().double().reshape(6, -1).numpy(), atol=1e-7)
    if mode == "wasym":
        assert np.all(fixed.sum(1) == 5) and np.all(F[fixed] != 0) and np.all(F[~fixed] == 0)


def test_conv_forward_is_conv_with_effective_kernel():
    torch.manual_seed(0)
    conv = AsymmetricConv2d(2, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), mode="syre", sigma_f=0.7)
    x = torch.randn(3, 2, 7, 6)
    eff = conv.effective_weight()
    assert eff.shape == conv.F.shape == conv.D.shape == (4, 2, 3, 2)
    torch.testing.assert_close(eff, conv.F + conv.D * conv.weight)
    ref = nn.functional.conv2d(x, eff, conv.bias, stride=(2, 1), padding=(1, 0), dilation=(1, 2))
    torch.testing.assert_close(conv(x), ref)
    # standard mode is nn.Conv2d with the same weights
    std = AsymmetricConv2d(2, 4, 3, padding=1)
    plain = nn.Conv2d(2, 4, 3, padding=1)
    with torch.no_grad():
        plain.weight.copy_(std.weight)
        plain.bias.copy_(std.bias)
    torch.testing.assert_close(std(x), plain(x))
    assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (2, 4, (3, 2))
    assert (conv.stride, conv.padding, conv.dilation, conv.groups) == ((2, 1), (1, 0), (1, 2), 1)
    assert {"F", "D", "weight", "bias"} <= set(conv.state_dict())
    assert [n for n, _ in conv.named_parameters()] == ["weight", "bias"]


def test_conv_masks_shared_by_seed_and_equal_to_linear_rows():
    torch.manual_seed(1)
    a = AsymmetricConv2d(4, 8, 3, mode="wasym", mask_seed=3, mask_stream=2)
    torch.manual_seed(2)
    b = AsymmetricConv2d(4, 8, 3, mode="wasym", mask_seed=3, mask_stream=2)
    c = AsymmetricConv2d(4, 8, 3, mode="wasym", mask_seed=4, mask_stream=2)
    assert torch.equal(a.F, b.F) and torch.equal(a.D, b.D) and not torch.equal(a.weight, b.weight)
    assert not torch.equal(a.D, c.D)
    # one mask code for both layer types: the conv's rows are those of a linear layer with d = C_in·kh·kw
    lin = AsymmetricLinear(36, 8, "wasym", mask_seed=3, mask_stream=2)
    np.testing.assert_array_equal(a.export()[1], lin.export()[1])
    np.testing.assert_array_equal(a.export()[2], lin.export()[2])
    assert np.all((a.export()[2] == 0).sum(1) == 3)  # default max(1, round(0.08·36))


def test_linear_arrays_of_conv_layers():
    conv = nn.Conv2d(3, 5, 3)
    E, F, D = linear_arrays(conv)
    np.testing.assert_array_equal(E, conv.weight.detach().double().reshape(5, 27).numpy())
    assert np.all(F == 0) and np.all(D == 1)
    with pytest.raises(ValueError, match="groups=3"):
        linear_arrays(nn.Conv2d(3, 6, 3, groups=3))
    with pytest.raises(TypeError, match="Conv1d"):
        linear_arrays(nn.Conv1d(3, 6, 3))


def test_conv_bad_arguments():
    with pytest.raises(ValueError, match="groups"):
        AsymmetricConv2d(4, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding"):
        AsymmetricConv2d(4, 4, 3, padding="same")
    with pytest.raises(ValueError, match="kernel_size"):
        AsymmetricConv2d(4, 4, (3, 3, 3))
    with pytest.raises(ValueError, match="fixed_per_row"):
        AsymmetricConv2d(1, 4, 3, mode="wasym", fixed_per_row=10)
    with pytest.raises(ValueError, match="fixed_per_row"):
        AsymmetricConv2d(1, 4, 3, fixed_per_row=2)
    with pytest.raises(ValueError, match="stride"):
        AsymmetricConv2d(1, 4, 3, stride=0)
    with pytest.raises(ValueError, match="mode"):
        AsymmetricConv2d(1, 4, 3, mode="dense")


# --------------------------------------------------------------------------- patches

@pytest.mark.parametrize("cfg", [
    dict(k=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1)),
    dict(k=(3, 2), stride=(2, 1), padding=(0, 1), dilation=(1, 2)),
    dict(k=(1, 1), stride=(2, 2), padding=(0, 0), dilation=(1, 1)),
])
def test_conv_patches_match_brute_force_and_the_conv(cfg):
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, cfg["k"], stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"])
    x = torch.randn(2, 2, 6, 5)
    P = conv_patches(conv, x)
    np.testing.assert_allclose(P, _brute_patches(x, *cfg["k"], cfg["stride"], cfg["padding"], cfg["dilation"]),
                               atol=1e-7)
    E = linear_arrays(conv)[0]
    out = conv(x).detach().double().permute(0, 2, 3, 1).reshape(-1, 3).numpy()
    np.testing.assert_allclose(P @ E.T + conv.bias.detach().double().numpy(), out, atol=1e-5)


@pytest.mark.parametrize("padding,mode", [("same", "zeros"), ("valid", "zeros"), (1, "reflect"), (2, "circular")])
def test_conv_patches_follow_padding_modes(padding, mode):
    torch.manual_seed(1)
    conv = nn.Conv2d(2, 3, (3, 4) if padding == "same" else 3, padding=padding, padding_mode=mode, bias=False,
                     dilation=2 if padding == "same" else 1)
    x = torch.randn(2, 2, 7, 8)
    P = conv_patches(conv, x)
    out = conv(x).detach().double().permute(0, 2, 3, 1).reshape(-1, 3).numpy()
    np.testing.assert_allclose(P @ linear_arrays(conv)[0].T, out, atol=1e-5)


def test_layer_samples_flatten_leading_axes():
    X = np.random.default_rng(0).standard_normal((4, 5, 3))
    np.testing.assert_array_equal(layer_samples(nn.Linear(3, 2), X), X.reshape(20, 3))
    conv = AsymmetricConv2d(3, 2, 1)
    maps = torch.randn(2, 3, 2, 2)
    np.testing.assert_allclose(layer_samples(conv, maps), maps.double().permute(0, 2, 3, 1).reshape(-1, 3).numpy())


# --------------------------------------------------------------------------- estimates of conv layers

def _low_rank_maps(N, C, H, W, r, seed=0, noise=0.0):
    """Feature maps whose channels mix r random fields: patches span at most r·kh·kw directions."""
    g = torch.Generator().manual_seed(seed)
    Z = torch.randn(N, r, H, W, generator=g)
    A = torch.randn(C, r, generator=g)
    return torch.einsum("cr,nrhw->nchw", A, Z) + noise * torch.randn(N, C, H, W, generator=g)


@pytest.mark.parametrize("layer", [
    AsymmetricConv2d(4, 6, 3, padding=1, mode="wasym", fixed_per_row=4, sigma_f=1.0, mask_seed=1),
    AsymmetricConv2d(4, 5, 2, stride=2, mode="syre", sigma_f=0.5),
    nn.Conv2d(4, 5, 3, dilation=2, padding=2),
])
def test_conv_estimate_equals_core_on_brute_force_patches(layer):
    torch.manual_seed(0)
    maps = _low_rank_maps(6, 4, 7, 7, r=2, seed=1)
    est = estimate_realization_costs(layer, maps, 0.95)
    conv = layer
    P = _brute_patches(maps, *conv.kernel_size, conv.stride, conv.padding, conv.dilation)
    U, ratio = lt.subspace_basis(P, 0.95)
    E, F, D = linear_arrays(layer)
    assert est.sampling == "all" and est.n_samples == est.n_available == P.shape[0]
    assert est.k == U.shape[1] and np.isclose(est.ratio, ratio, rtol=1e-10)
    np.testing.assert_allclose(np.abs(est.basis.T @ U), np.eye(U.shape[1]), atol=1e-6)
    want = lt.realization_costs(E, F, D, U)
    assert np.array_equal(np.isfinite(est.costs), np.isfinite(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(est.costs[fin], want[fin], rtol=1e-5, atol=1e-9)
    # the same estimate from already unfolded patches
    est2 = estimate_realization_costs(layer, P, 0.95)
    np.testing.assert_allclose(est2.costs[fin], est.costs[fin], rtol=1e-8)


def test_streamed_and_subsampled_bases():
    conv = AsymmetricConv2d(3, 6, 3, padding=1, mode="wasym", fixed_per_row=3, sigma_f=1.0)
    maps = _low_rank_maps(8, 3, 8, 8, r=2, seed=2, noise=0.05)
    full = estimate_realization_costs(conv, maps, 0.9, max_samples=10_000)
    assert full.sampling == "all" and full.n_samples == 512
    st = estimate_realization_costs(conv, maps, 0.9, max_samples=100)
    assert st.sampling == "stream" and st.n_samples == st.n_available == 512
    # exact covariance of all samples: the same basis and costs as the SVD of all samples
    assert st.k == full.k and np.isclose(st.ratio, full.ratio, rtol=1e-10)
    np.testing.assert_allclose(st.basis @ st.basis.T, full.basis @ full.basis.T, atol=1e-9)
    np.testing.assert_allclose(st.costs, full.costs, rtol=1e-7)
    sub = estimate_realization_costs(conv, maps, 0.9, max_samples=200, large="subsample", seed=3)
    assert sub.sampling == "subsample" and sub.n_samples == 200 and sub.n_available == 512
    again = estimate_realization_costs(conv, maps, 0.9, max_samples=200, large="subsample", seed=3)
    other = estimate_realization_costs(conv, maps, 0.9, max_samples=200, large="subsample", seed=4)
    np.testing.assert_array_equal(sub.basis, again.basis)
    assert not np.array_equal(sub.basis, other.basis)
    P = conv_patches(conv, maps)
    idx = np.sort(np.random.default_rng(3).choice(512, size=200, replace=False))
    U, _ = lt.subspace_basis(P[idx], 0.9)
    np.testing.assert_allclose(sub.basis @ sub.basis.T, U @ U.T, atol=1e-9)


def test_conv_estimate_bad_inputs():
    conv = AsymmetricConv2d(3, 4, 3, mode="wasym")
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        estimate_realization_costs(conv, torch.randn(5, 2, 6, 6))
    with pytest.raises(ValueError, match="feature maps"):
        estimate_realization_costs(conv, torch.randn(5, 3, 6))
    with pytest.raises(ValueError, match="kernel"):
        estimate_realization_costs(conv, torch.randn(5, 3, 2, 6))
    with pytest.raises(ValueError, match=r"\(N, 27\)"):
        estimate_realization_costs(conv, torch.randn(50, 26))
    with pytest.raises(ValueError, match="finite"):
        estimate_realization_costs(conv, torch.full((5, 3, 6, 6), float("nan")))
    with pytest.raises(ValueError, match="large"):
        estimate_realization_costs(conv, torch.randn(5, 3, 6, 6), large="all")
    with pytest.raises(ValueError, match="max_samples"):
        estimate_realization_costs(conv, torch.randn(5, 3, 6, 6), max_samples=2)
    with pytest.raises(ValueError, match="groups=2"):
        estimate_realization_costs(nn.Conv2d(4, 4, 3, groups=2), torch.randn(5, 4, 6, 6))
    with pytest.raises(TypeError, match="ConvTranspose2d"):
        estimate_realization_costs(nn.ConvTranspose2d(3, 4, 3), torch.randn(5, 3, 6, 6))
    with pytest.raises(TypeError, match="Conv2d"):
        conv_patches(nn.Linear(3, 3), torch.randn(2, 3, 4, 4))


# --------------------------------------------------------------------------- whole CNNs, written independently

class _SharedConvNet(nn.Module):
    """Functional style: one conv applied twice (weight sharing), then a dilated "same" conv and a head."""

    def __init__(self):
        super().__init__()
        self.shared = nn.Conv2d(4, 4, 3, padding=1)
        self.lift = nn.Conv2d(1, 4, 1)
        self.dil = nn.Conv2d(4, 6, 3, padding="same", dilation=2, bias=False)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        h = torch.relu(self.lift(x))
        h = torch.relu(self.shared(h))
        h = torch.relu(self.shared(h)) + h
        h = torch.tanh(self.dil(h))
        return self.head(h.mean(dim=(2, 3)))


def _sequential_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 5, 3, padding=1, padding_mode="reflect"), nn.ReLU(),
        AsymmetricConv2d(5, 8, 3, stride=2, padding=1, mode="wasym", fixed_per_row=6, sigma_f=1.0), nn.GELU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), AsymmetricLinear(8, 4, "syre", sigma_f=0.3))


def test_record_every_call_of_a_shared_conv():
    torch.manual_seed(0)
    net = _SharedConvNet()
    x = torch.randn(7, 1, 6, 6)
    rec = record_layer_inputs(net, x)
    assert list(rec) == ["lift", "shared", "dil", "head"]
    assert rec.calls == {"lift": 1, "shared": 2, "dil": 1, "head": 1} and rec.skipped == []
    with torch.no_grad():
        h1 = torch.relu(net.lift(x))
        h2 = torch.relu(net.shared(h1))
    assert rec["shared"].shape == (14, 4, 6, 6)  # both calls, as extra samples
    np.testing.assert_allclose(rec["shared"][:7], h1.double().numpy(), atol=1e-6)
    np.testing.assert_allclose(rec["shared"][7:], h2.double().numpy(), atol=1e-6)
    ests = estimate_all_layers(net, x, explained_variance=0.9)
    assert ests.calls["shared"] == 2 and list(ests) == list(rec)
    assert ests["shared"].n_samples == 14 * 36 and ests["dil"].costs.shape == (6, 6)
    direct = estimate_realization_costs(net.shared, np.concatenate([h1.double().numpy(), h2.double().numpy()]), 0.9)
    np.testing.assert_allclose(direct.costs, ests["shared"].costs, rtol=1e-6)


def test_record_conv_called_at_two_resolutions_gives_patches():
    conv = nn.Conv2d(2, 3, 3, padding=1)

    class TwoScales(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            return self.conv(x).mean((2, 3)) + self.conv(nn.functional.avg_pool2d(x, 2)).mean((2, 3))

    x = torch.randn(3, 2, 6, 6)
    rec = record_layer_inputs(TwoScales(), x)
    want = np.concatenate([conv_patches(conv, x), conv_patches(conv, nn.functional.avg_pool2d(x, 2))])
    assert rec.calls == {"conv": 2} and rec["conv"].shape == (3 * 36 + 3 * 9, 18)
    np.testing.assert_allclose(rec["conv"], want, atol=1e-7)


def test_sequential_cnn_all_layers_and_training_keeps_fixed_entries():
    torch.manual_seed(3)
    net = _sequential_cnn()
    x = torch.randn(20, 1, 8, 8)
    before = net[2].export()
    _train_steps(net, x, steps=5)
    after = net[2].export()
    np.testing.assert_array_equal(after[0][before[2] == 0], before[0][before[2] == 0])
    ests = estimate_all_layers(net, x, explained_variance=0.9)
    assert list(ests) == ["0", "2", "6"]
    assert ests["0"].n_samples == 20 * 64 and ests["2"].n_samples == 20 * 16 and ests["6"].n_samples == 20
    E, F, D = net[2].export()
    P = conv_patches(net[2], record_layer_inputs(net, x)["2"])
    U, _ = lt.subspace_basis(P, 0.9)
    want = lt.realization_costs(E, F, D, U)
    fin = np.isfinite(want)
    assert np.array_equal(np.isfinite(ests["2"].costs), fin)
    np.testing.assert_allclose(ests["2"].costs[fin], want[fin], rtol=1e-6)


def test_unsupported_layers_are_named():
    net = nn.Sequential(nn.Conv1d(2, 3, 3), nn.Flatten(), nn.Linear(12, 4))
    with pytest.warns(UserWarning, match="Conv1d"):
        rec = record_layer_inputs(net, torch.randn(5, 2, 6))
    assert list(rec) == ["2"] and "0" in rec.unsupported
    with pytest.raises(TypeError, match="Conv3d"):
        record_layer_inputs(nn.Conv3d(1, 2, 1), torch.randn(2, 1, 2, 2, 2))
