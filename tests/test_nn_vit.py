"""The small ViT builder of [NI] G.4 (lmctheory.nn.vit)."""

import numpy as np
import pytest
import torch

from lmctheory.nn.layers import AsymmetricLinear
from lmctheory.nn.vit import VIT_KINDS, RMSNorm, make_vit


@pytest.mark.parametrize("kind", VIT_KINDS)
def test_shapes_and_every_linear_map_asymmetric(kind):
    vit = make_vit(kind=kind, dim=16, depth=2, heads=2, seed=0)
    x = torch.randn(3, 64)
    assert vit(x).shape == (3, 10)
    assert torch.allclose(vit(x), vit(x.reshape(3, 1, 8, 8)))
    lins = [m for m in vit.modules() if isinstance(m, (torch.nn.Linear, AsymmetricLinear))]
    assert len(lins) == 2 + 4 * 2  # embed, head, (qkv, proj, fc1, fc2) per block
    n_asym = sum(isinstance(m, AsymmetricLinear) for m in lins)
    assert n_asym == (0 if kind == "standard" else len(lins))


def test_sdpa_equals_manual_attention():
    a = make_vit(attention="manual", seed=3)
    b = make_vit(attention="sdpa", seed=3)
    x = torch.randn(7, 64)
    torch.testing.assert_close(a(x), b(x), rtol=1e-5, atol=1e-6)


def test_patches_are_row_major_non_overlapping():
    vit = make_vit(patch=4, dim=8, heads=2, seed=0)
    img = torch.arange(64.0).reshape(1, 1, 8, 8)
    P = vit.patches(img)
    assert P.shape == (1, 4, 16)
    torch.testing.assert_close(P[0, 1], img[0, 0, :4, 4:].reshape(-1))  # second patch: top-right block
    torch.testing.assert_close(P[0, 2], img[0, 0, 4:, :4].reshape(-1))


def test_pair_shares_masks_and_centers_but_not_trainable_init():
    a = make_vit(kind="wasym", sigma_f=0.5, mask_seed=7, seed=0)
    b = make_vit(kind="wasym", sigma_f=0.5, mask_seed=7, seed=1)
    for (na, ma), (_, mb) in zip(a.named_modules(), b.named_modules()):
        if isinstance(ma, AsymmetricLinear):
            assert torch.equal(ma.F, mb.F) and torch.equal(ma.D, mb.D), na
    assert not torch.equal(a.blocks[0].qkv.weight, b.blocks[0].qkv.weight)
    # different maps get different masks (one stream per linear map)
    assert not torch.equal(a.blocks[0].fc1.D[:, :32], a.blocks[1].fc1.D[:, :32])


def test_fixed_entries_never_move_under_training():
    from lmctheory.nn import train

    vit = make_vit(kind="wasym", sigma_f=0.3, fixed_fraction=0.25, dim=16, heads=2, depth=1, seed=0)
    before = {n: m.effective_weight().detach().clone() for n, m in vit.named_modules()
              if isinstance(m, AsymmetricLinear)}
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(64, 64, generator=g), torch.randint(0, 10, (64,), generator=g)
    train(vit, X, y, epochs=2, lr=1e-2, batch_size=16)
    moved = 0
    for n, m in vit.named_modules():
        if isinstance(m, AsymmetricLinear):
            after = m.effective_weight().detach()
            fixed = m.D == 0
            assert fixed.any()
            assert torch.equal(after[fixed], before[n][fixed]), n
            moved += int((after[~fixed] != before[n][~fixed]).sum())
    assert moved > 0


def test_rmsnorm_commutes_with_orthogonal_maps():
    g = torch.Generator().manual_seed(1)
    Q, _ = torch.linalg.qr(torch.randn(12, 12, generator=g, dtype=torch.float64))
    x = torch.randn(5, 3, 12, generator=g, dtype=torch.float64)
    norm = RMSNorm(12, eps=0.0)
    torch.testing.assert_close(norm(x @ Q.T), norm(x) @ Q.T)
    # LayerNorm does not (it removes the all-ones direction): the reason orthogonal alignment needs RMSNorm
    ln = torch.nn.LayerNorm(12, elementwise_affine=False, dtype=torch.float64)
    assert (ln(x @ Q.T) - ln(x) @ Q.T).abs().max() > 1e-3


def test_bad_arguments():
    with pytest.raises(ValueError, match="patch"):
        make_vit(image_size=8, patch=3)
    with pytest.raises(ValueError, match="heads"):
        make_vit(dim=10, heads=4)
    with pytest.raises(ValueError, match="kind"):
        make_vit(kind="nope")
    with pytest.raises(ValueError, match="norm"):
        make_vit(norm="batchnorm")
    with pytest.raises(ValueError, match="sigma_f"):
        make_vit(sigma_f=-1.0)
    with pytest.raises(TypeError, match="depth"):
        make_vit(depth=1.5)


def test_deterministic_for_seed_and_global_rng_untouched():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a, b = make_vit(seed=5), make_vit(seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert np.isfinite(a(torch.randn(2, 64)).detach().numpy()).all()


_VARIANTS = [(k, n, a) for k in ("standard", "wasym", "syre") for n in ("layernorm", "rmsnorm")
             for a in ("manual", "sdpa")]


@pytest.mark.parametrize("kind,norm,attention", _VARIANTS)
def test_planted_permutation_of_stream_heads_and_units_is_recovered(kind, norm, attention):
    from lmctheory.nn import activation_match, permute_model
    from lmctheory.nn.symmetry import apply_permutation, permutation_groups, random_permutation

    a = make_vit(kind=kind, norm=norm, attention=attention, sigma_f=0.5, dim=16, heads=4, depth=2, seed=0).eval()
    X = torch.randn(48, 64, generator=torch.Generator().manual_seed(1))
    groups = permutation_groups(a, X[:2])
    kinds = sorted({g.kind for g in groups})
    assert kinds == ["head_dim", "heads", "residual", "units"], kinds
    assert sum(g.kind == "residual" for g in groups) == 1
    planted = random_permutation(groups, seed=3)
    assert all((p != np.arange(len(p))).any() for p in planted.values())
    b = apply_permutation(a, planted, groups)
    torch.testing.assert_close(b(X), a(X), rtol=1e-5, atol=1e-5)
    m = activation_match(a, b, X, groups=groups)
    back = permute_model(b, m)
    for k, v in a.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k


def test_realization_costs_on_vit_layers_use_tokens_as_samples():
    from lmctheory.nn.estimate import estimate_realization_costs, record_layer_inputs

    vit = make_vit(kind="wasym", sigma_f=1.0, fixed_fraction=0.25, dim=16, heads=2, depth=1, seed=0).eval()
    X = torch.randn(30, 64, generator=torch.Generator().manual_seed(2))
    inputs = record_layer_inputs(vit, X)
    for name, width, d_in in (("blocks.0.qkv", 48, 16), ("blocks.0.fc1", 32, 16)):
        H = inputs[name]
        assert H.shape == (30 * vit.n_tokens, d_in)  # every token of every image is a sample
        layer = vit.get_submodule(name)
        est = estimate_realization_costs(layer, H, 0.9)
        assert est.costs.shape == (width, width) and est.n_samples == 30 * vit.n_tokens
        # the same estimate from the raw (batch, tokens, d) activations
        est3 = estimate_realization_costs(layer, torch.as_tensor(H).reshape(30, vit.n_tokens, d_in), 0.9)
        np.testing.assert_allclose(est3.costs, est.costs, rtol=1e-10, atol=1e-10)
        assert np.all(np.isfinite(np.diag(est.costs)))
        # fixed entries make the own-pattern diagonal cheaper than the typical off-diagonal swap
        off = est.costs[~np.eye(width, dtype=bool)]
        assert np.median(np.diag(est.costs)) < np.median(off[np.isfinite(off)])


def test_fan_in_scaled_fixed_weights():
    v = make_vit(kind="wasym", sigma_f=2.0, sigma_scale="fan_in", fixed_fraction=0.5, dim=32, heads=4, seed=0)
    a = make_vit(kind="wasym", sigma_f=2.0, fixed_fraction=0.5, dim=32, heads=4, seed=0)
    for name, d in (("blocks.0.qkv", 32), ("blocks.0.fc2", 64)):
        F_s, F_a = v.get_submodule(name).F, a.get_submodule(name).F
        fixed = v.get_submodule(name).D == 0
        torch.testing.assert_close(F_s[fixed], F_a[fixed] / np.sqrt(d))  # same draws, scaled by 1/√fan_in
    with pytest.raises(ValueError, match="sigma_scale"):
        make_vit(sigma_scale="layer")
