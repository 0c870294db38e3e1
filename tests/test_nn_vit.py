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
