"""Permutation symmetry groups of the symmetry engine (lmctheory.nn.symmetry, also importable as
lmctheory.nn.symmetry; docs/theory.md T-S1) on independently written architectures."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lmctheory.nn.symmetry import (Member, PermutationGroup, SymmetryCheckError, UnsupportedOperationError,
                                 apply_permutation, check_permutation_invariance, normalize_perms, permutation_groups,
                                 random_permutation)

from ._arch_zoo import ZOO
from ._arch_zoo import build as _build


def _by_member(groups):
    return {(m.name, m.axis): (g, m) for g in groups for m in g.members}


# -- (a) structure ----------------------------------------------------------------------------------------
def test_resnet_groups_tie_residual_and_freeze_io():
    model, x = _build("resnet_bn")
    gs = permutation_groups(model, x)
    assert [(g.size, g.kind) for g in gs] == [(4, "residual"), (4, "units"), (4, "units"), (8, "units"),
                                             (8, "residual")]
    bm = _by_member(gs)
    stem = bm[("conv1.weight", 0)][0]
    # the stem output, both layer1 blocks' outputs and their BN running stats share one permutation
    for name in ("bn1.running_mean", "layer1.0.bn2.running_var", "layer1.1.conv2.weight", "layer1.1.bn2.bias",
                 "layer2.0.conv1.weight", "layer2.0.downsample.0.weight"):
        axis = 1 if name in ("layer2.0.conv1.weight", "layer2.0.downsample.0.weight") else 0
        assert bm[(name, axis)][0] is stem
    # the projection shortcut starts a new stream, tied to the block output and read by fc
    s2 = bm[("layer2.0.downsample.0.weight", 0)][0]
    assert s2 is bm[("layer2.0.bn2.weight", 0)][0] is bm[("fc.weight", 1)][0] and s2.kind == "residual"
    # input channels and output classes are frozen; kernel axes are never members
    assert ("conv1.weight", 1) not in bm and ("fc.weight", 0) not in bm and ("fc.bias", 0) not in bm
    assert not any(m.axis >= 2 for g in gs for m in g.members)
    assert all(m.outer == m.inner == 1 for g in gs for m in g.members)


def test_flatten_groupnorm_and_attention_block_structure():
    gs = permutation_groups(*_build("plain_cnn"))
    g, m = _by_member(gs)[("fc1.weight", 1)]
    assert g.size == 7 and (m.outer, m.inner) == (1, 4)  # conv channels x (2 x 2) pixels flattened
    # GroupNorm(2, 6): permutations of the 2 groups (blocks of 3) x a shared within-group permutation
    gs = permutation_groups(*_build("preact_gn2"))
    stem = sorted((g.size, m.outer, m.inner) for g in gs for m in g.members if m.name == "stem.bias")
    assert stem == [(2, 1, 3), (3, 2, 1)]
    gs1 = permutation_groups(*_build("preact_gn1"))
    assert [g.size for g in gs1 if ("stem.bias", 0) in [(m.name, m.axis) for m in g.members]] == [6]
    # fused qkv (3·H·dh, E) with H=2, dh=4: heads permute blocks of dh inside each of q, k, v
    gs = permutation_groups(*_build("vit_fused_qkv"))
    heads = [g for g in gs if g.kind == "heads"]
    assert len(heads) == 2 and all(g.size == 2 and g.block for g in heads)
    mem = {(m.name, m.axis): (m.outer, m.inner) for m in heads[0].members}
    assert mem == {("blocks.0.qkv.weight", 0): (3, 4), ("blocks.0.qkv.bias", 0): (3, 4),
                   ("blocks.0.proj.weight", 1): (1, 4)}
    hd = [g for g in gs if g.kind == "head_dim"]
    assert [g.size for g in hd] == [4, 4]
    bm = _by_member(gs)
    res = bm[("pos", 2)][0]
    assert res.kind == "residual" and bm[("blocks.1.fc2.weight", 0)][0] is res and bm[("head.weight", 1)][0] is res
    assert ("pos", 1) not in bm and ("embed.weight", 1) not in bm  # token axis and input features frozen
    # separate q/k/v with SDPA: one head group, q/k within-head axes separate from v's
    gs = permutation_groups(*_build("sdpa"))
    assert [(g.kind, g.size) for g in gs] == [("residual", 8), ("heads", 4), ("head_dim", 2), ("head_dim", 2),
                                             ("units", 16)]
    hd_names = [sorted(m.name for m in g.members) for g in gs if g.kind == "head_dim"]
    assert hd_names == [["block.k.weight", "block.q.weight"], ["block.o.weight", "block.v.bias", "block.v.weight"]]
    # nn.MultiheadAttention leaf: in_proj (3E, E) viewed as (3, H, dh), out_proj reads (H, dh)
    gs = permutation_groups(*_build("mha"))
    heads = next(g for g in gs if g.kind == "heads")
    assert {(m.name, m.outer, m.inner) for m in heads.members} == {
        ("attn.in_proj_weight", 3, 4), ("attn.in_proj_bias", 3, 4), ("attn.out_proj.weight", 1, 4)}
    assert heads.taps  # traced through: the heads are visible as activations


def test_einsum_chunk_cat_and_asymmetric_layers():
    gs = permutation_groups(*_build("glu_einsum"))
    assert [(g.kind, g.size) for g in gs] == [("residual", 6), ("heads", 3), ("head_dim", 2), ("units", 5),
                                             ("units", 3)]
    bm = _by_member(gs)
    assert bm[("cls", 2)][0].kind == "residual"
    assert (bm[("up.weight", 0)][1].outer, bm[("up.weight", 0)][1].inner) == (2, 1)  # GLU halves share units
    # two equal pieces concatenated: one permutation acts inside both, the head reads them as (2, 3)
    side = bm[("side.weight", 0)][0]
    assert bm[("side2.bias", 0)][0] is side and (bm[("head.weight", 1)][1].outer, side.size) == (2, 3)
    gs = permutation_groups(*_build("asym_cnn"))
    bm = _by_member(gs)
    for name in ("c1.F", "c1.D", "c1.weight", "c2.F", "fc.D", "fc.F"):
        assert (name, 0) in bm
    assert bm[("c2.D", 1)][0] is bm[("c1.bias", 0)][0]
    gs = permutation_groups(*_build("make_mlp_wmlp"))
    assert len(gs) == 3 and all(g.size == 7 for g in gs)
    assert {m.name for m in gs[0].members} == {"layers.0.weight", "layers.0.bias", "layers.0.F", "layers.0.D",
                                               "norms.0.weight", "norms.0.bias", "layers.1.weight", "layers.1.F",
                                               "layers.1.D"}


def test_embedding_conv1d_token_ids():
    model, x = _build("text_cnn")
    gs = permutation_groups(model, x)
    assert [(g.size, g.kind) for g in gs] == [(6, "units"), (8, "units")]
    bm = _by_member(gs)
    assert ("emb.weight", 1) in bm and ("emb.weight", 0) not in bm  # vocabulary rows follow the input ids
    assert bm[("bn.running_var", 0)][0] is bm[("fc.weight", 1)][0] is bm[("conv.bias", 0)][0]


def test_member_positions_and_doc_example():
    m = Member("w", 0, outer=3, inner=2)
    pos = m.positions(4)
    assert pos.shape == (4, 6)
    assert pos[1].tolist() == [2, 3, 10, 11, 18, 19]
    assert sorted(pos.ravel().tolist()) == list(range(24))


# -- (b) a random element preserves the function -------------------------------------------------------------
@pytest.mark.parametrize("key", sorted(ZOO))
def test_random_element_preserves_function(key):
    model, x = _build(key)
    gs = permutation_groups(model, x)
    assert gs
    for seed in (0, 1):
        diff = check_permutation_invariance(model, x, gs, seed=seed)
        assert diff < 1e-5
        perms = random_permutation(gs, seed)
        new = apply_permutation(model, perms, gs)
        moved = [k for k, v in model.state_dict().items() if not torch.equal(v, new.state_dict()[k])]
        assert moved  # the element really moved parameters


def test_self_check_bites():
    # dropping one member (the LayerNorm gain) makes the element a non-symmetry: the check must raise
    model, x = _build("seq_mlp")
    gs = permutation_groups(model, x)
    bad = [PermutationGroup(g.name, g.size, g.kind, tuple(m for m in g.members if m.name != "4.weight"))
           for g in gs]
    with pytest.raises(SymmetryCheckError, match="changed the output"):
        check_permutation_invariance(model, x, bad, seed=0)
    # and the original model is untouched by applying elements
    before = {k: v.clone() for k, v in model.state_dict().items()}
    apply_permutation(model, random_permutation(gs, 0), gs)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_batchnorm_train_mode_and_perm_formats():
    model, x = _build("resnet_bn")
    model.train()
    gs = permutation_groups(model, x)
    perms = random_permutation(gs, 5)
    a = apply_permutation(model, perms, gs)
    b = apply_permutation(model, [perms[g.name] for g in gs], gs)  # list aligned with groups
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert model.training  # the tracer's eval-mode run restored the mode
    with torch.no_grad():
        torch.testing.assert_close(a(x), model(x), atol=1e-5, rtol=1e-5)  # batch statistics are equivariant too


# -- (d) operations handled by pinning, and unsupported operations ------------------------------------------
class _Sorted(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2)

    def forward(self, x):
        return self.b(torch.sort(self.a(x), dim=-1).values)


class _Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return self.lin(x)[:, torch.tensor([1, 0, 2, 3])]


class _Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = _Inner()

    def forward(self, x):
        return self.inner(x)


class _Cumsum(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x):
        return torch.cumsum(self.b(torch.relu(self.a(x))), dim=-1)


class _Cdist(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 4)

    def forward(self, x):
        h = self.a(x)
        return torch.cdist(h[None], h[None])


@pytest.mark.parametrize("model, x, pinned", [
    (_Sorted(), torch.randn(2, 3), ("a.weight", 0)),  # sorted axis: positions matter afterwards
    (_Nested(), torch.randn(2, 4), ("inner.lin.weight", 0)),  # indexed by a tensor
    (_Cumsum(), torch.randn(2, 3), ("b.weight", 0)),  # cumulative sum along the units
])
def test_position_dependent_operations_pin_their_axis(model, x, pinned):
    gs = permutation_groups(model, x)
    assert pinned not in _by_member(gs)
    check_permutation_invariance(model, x, gs)


@pytest.mark.parametrize("model, x, pattern", [
    (_Cdist(), torch.randn(2, 3), r"aten\.cdist.*'<root>'"),
    (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.Softmax2d()), torch.randn(1, 2, 2, 3), None),
])
def test_unsupported_operation_named(model, x, pattern):
    if pattern is None:  # Softmax2d is a softmax over the channel axis: handled
        check_permutation_invariance(model, x)
        return
    with pytest.raises(UnsupportedOperationError, match=pattern):
        permutation_groups(model, x)
    assert issubclass(UnsupportedOperationError, NotImplementedError)


def test_untraceable_model_is_unsupported():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3)

        def forward(self, x):
            return self.a(x) if x.sum() > 0 else x

    with pytest.raises(UnsupportedOperationError, match="torch.export could not capture DataDependent"):
        permutation_groups(DataDependent(), torch.randn(2, 3))


# -- (e) bad inputs ----------------------------------------------------------------------------------------
def test_bad_inputs():
    model, x = _build("seq_mlp")
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        permutation_groups(None, x)
    with pytest.raises(TypeError, match="example_input must be a torch tensor"):
        permutation_groups(model, x.numpy())
    with pytest.raises(TypeError, match=r"example_input does not match .*too many positional arguments"):
        permutation_groups(model, (x, x))
    with pytest.raises(ValueError, match="example_input must not be empty"):
        permutation_groups(model, torch.zeros(0, 6))
    with pytest.raises(ValueError, match="example_input must be finite"):
        permutation_groups(model, x * np.nan)
    with pytest.raises(TypeError, match="missing a required argument: 'mask'"):
        class TwoArgs(nn.Module):
            def forward(self, x, mask):
                return x * mask
        permutation_groups(TwoArgs(), x)
    gs = permutation_groups(model, x)
    with pytest.raises(TypeError, match="groups must be a list of PermutationGroup"):
        random_permutation("groups", 0)
    with pytest.raises(ValueError, match="seed"):
        random_permutation(gs, -1)
    with pytest.raises(ValueError, match="one permutation per group"):
        normalize_perms([np.arange(10)], gs)
    with pytest.raises(ValueError, match="names group 'nope'"):
        normalize_perms({"nope": np.arange(3)}, gs)
    with pytest.raises(ValueError, match="must be a permutation"):
        apply_permutation(model, {gs[0].name: np.zeros(gs[0].size, dtype=int)}, gs)
    with pytest.raises(TypeError, match="perms must be a dict"):
        apply_permutation(model, "perm", gs)
    with pytest.raises(ValueError, match="atol"):
        check_permutation_invariance(model, x, gs, atol=-1.0)
    with pytest.raises(ValueError, match="member 'missing'"):
        apply_permutation(model, {"g": np.arange(2)}, [PermutationGroup("g", 2, "units", (Member("missing", 0),))])


def test_functional_forms():
    """Functional/method activations, F.linear with parameters, reshape round trips, unbind, keepdim reductions."""

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.w1 = nn.Parameter(torch.randn(8, 3))
            self.b1 = nn.Parameter(torch.randn(8))
            self.w2 = nn.Parameter(torch.randn(2, 8))
            self.scale = nn.Parameter(torch.rand(8) + 0.5)

        def forward(self, x):
            h = F.linear(x, self.w1, self.b1).tanh() * self.scale
            h = h.view(-1, 2, 4).transpose(1, 2).reshape(x.shape[0], 4, 2).permute(0, 2, 1).flatten(1)
            h = h - h.mean(dim=-1, keepdim=True)
            h = F.silu(h) / 2.0
            return (h @ self.w2.T).unsqueeze(0).squeeze(0)

    model = Functional()
    x = torch.randn(5, 3)
    gs = permutation_groups(model, x)
    # the view to (2, 4) refines the 8 units into a product: blocks of 4 permuted x a shared permutation of 4
    # (a subgroup of the true symmetry, documented), with the same members on both factors
    assert [g.size for g in gs] == [2, 4]
    for g, (o, i) in zip(gs, [(1, 4), (2, 1)]):
        assert {(m.name, m.axis, m.outer, m.inner) for m in g.members} == {
            ("w1", 0, o, i), ("b1", 0, o, i), ("scale", 0, o, i), ("w2", 1, o, i)}
    assert check_permutation_invariance(model, x, gs) < 1e-5


def test_mha_sequence_first_with_per_head_weights_and_max_pool():
    class SeqFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 8)
            self.attn = nn.MultiheadAttention(8, 2)  # (T, B, E)
            self.mix = nn.Linear(5, 1)

        def forward(self, x):
            h = self.lin(x)
            o, w = self.attn(h, h, h, need_weights=True, average_attn_weights=False)  # w: (B, H, T, T)
            pooled = torch.max(o + h, dim=0).values  # max over tokens: the token axis is pinned anyway
            return pooled.sum(-1) + self.mix(w.mean(1)).sum((-1, -2))

    torch.manual_seed(0)
    model, x = SeqFirst(), torch.randn(5, 3, 8)
    gs = permutation_groups(model, x)
    assert [(g.kind, g.size) for g in gs] == [("residual", 8), ("heads", 2), ("head_dim", 4)]
    assert check_permutation_invariance(model, x, gs, seed=2) < 1e-5
