"""The symmetry engine's parts (lmctheory.nn.symmetry): capture, handlers for the hard cases, the registry, clear
refusals, group elements, and a self-check that catches groups that are wrong by construction (docs/theory.md T-S1)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lmctheory.nn.symmetry import (GroupElement, Member, PermutationGroup, SymmetryCheckError,
                                   UnsupportedOperationError, apply_permutation, attention_sites, capture,
                                   check_permutation_invariance, permutation_groups, random_permutation,
                                   register_handler)


def _by_member(groups):
    return {(m.name, m.axis): g for g in groups for m in g.members}


def _check(model, x, groups=None):
    groups = permutation_groups(model, x) if groups is None else groups
    check_permutation_invariance(model, x, groups, seed=0)
    return groups


# -- issue cases that used to be silently wrong ------------------------------------------------------------------
class _MaxValues(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 8), nn.Linear(8, 2)

    def forward(self, x):
        h = self.a(x)[:, None, :].expand(-1, 3, -1) * torch.arange(1.0, 4.0)[None, :, None]
        return self.b(torch.max(h, dim=1).values), self.b(h.max(dim=1)[0])


def test_max_values_consumer_is_followed():
    model, x = _MaxValues(), torch.randn(4, 3)
    gs = _check(model, x)
    g = _by_member(gs)[("a.weight", 0)]
    assert ("b.weight", 1) in {(m.name, m.axis) for m in g.members}


class _FlipLinear(nn.Linear):
    def forward(self, x):  # a subclass with its own forward: traced through, not treated as nn.Linear
        return F.linear(x.flip(-1), self.weight, self.bias)


class _LayerNorm2d(nn.LayerNorm):
    def forward(self, x):  # channels-first LayerNorm (ConvNeXt style)
        return F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias,
                            self.eps).permute(0, 3, 1, 2)


class _Subclasses(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(3, 6), _FlipLinear(6, 6), nn.Linear(6, 2)
        self.conv, self.norm, self.conv2 = nn.Conv2d(2, 5, 3), _LayerNorm2d(5), nn.Conv2d(5, 3, 1)
        with torch.no_grad():
            self.norm.weight.uniform_(0.5, 1.5)
            self.norm.bias.normal_()

    def forward(self, x, img):
        return self.c(torch.relu(self.b(torch.relu(self.a(x))))), self.conv2(self.norm(self.conv(img))).mean((2, 3))


def test_subclass_with_its_own_forward_is_traced_through():
    model, x = _Subclasses(), (torch.randn(2, 3), torch.randn(2, 2, 6, 6))
    gs = _check(model, x)
    bm = _by_member(gs)
    assert ("a.weight", 0) not in bm  # the flip pins a's outputs (positions are reversed)
    assert bm[("b.weight", 0)] is bm[("c.weight", 1)]
    # LayerNorm2d normalizes channels: its gain follows the channel axis, spatial axes are not tied to it
    assert bm[("norm.weight", 0)] is bm[("conv.weight", 0)] is bm[("conv2.weight", 1)]


class _MaskedMHA(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 8)
        self.mha = nn.MultiheadAttention(8, 2, batch_first=True)
        self.mask = nn.Parameter(torch.randn(5, 5))
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        h = self.inp(x)
        return self.out(self.mha(h, h, h, attn_mask=self.mask, need_weights=False)[0])


def test_parameter_attention_mask_is_never_a_group():
    model, x = _MaskedMHA(), torch.randn(2, 5, 4)
    gs = _check(model, x)
    assert not any(m.name == "mask" for g in gs for m in g.members)
    assert {g.kind for g in gs} >= {"heads", "head_dim"}


class _Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb, self.mid = nn.Embedding(10, 6), nn.Linear(6, 6)
        self.head = nn.Linear(6, 10, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, ids):
        return self.head(torch.tanh(self.mid(self.emb(ids))))


def test_tied_weights_are_one_member_permuted_once():
    model, ids = _Tied(), torch.randint(0, 10, (3, 4))
    gs = _check(model, ids)
    names = [m.name for g in gs for m in g.members]
    assert "head.weight" not in names and names.count("emb.weight") == 1
    new = apply_permutation(model, random_permutation(gs, seed=1))
    assert new.head.weight is new.emb.weight
    with torch.no_grad():
        torch.testing.assert_close(new(ids), model(ids), atol=1e-6, rtol=1e-6)
    # a hand-made group listing the shared tensor under both names still moves it once
    g = next(g for g in gs if ("emb.weight", 1) in {(m.name, m.axis) for m in g.members})
    both = PermutationGroup(g.name, g.size, g.kind, g.members + (Member("head.weight", 1),))
    new2 = apply_permutation(model, {g.name: np.arange(g.size)[::-1].copy()}, [both])
    with torch.no_grad():
        torch.testing.assert_close(new2(ids), model(ids), atol=1e-6, rtol=1e-6)


class _PosSlice(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp, self.out = nn.Linear(4, 6), nn.Linear(6, 2)
        self.pos = nn.Parameter(torch.randn(1, 16, 6))

    def forward(self, t):
        return self.out(torch.relu(self.inp(t) + self.pos[:, :t.size(1)]))


class _Keyword(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.o = nn.Linear(3, 5), nn.Linear(5, 1)

    def forward(self, x):
        return self.o(input=torch.relu(self.fc(input=x)))


def test_parameter_sliced_by_input_length_and_keyword_calls():
    gs = _check(_PosSlice(), torch.randn(2, 7, 4))
    bm = _by_member(gs)
    assert bm[("pos", 2)] is bm[("inp.weight", 0)] and ("pos", 1) not in bm
    gs = _check(_Keyword(), torch.randn(2, 3))
    assert [g.size for g in gs] == [5]


def test_meta_device_is_refused_clearly():
    with pytest.raises(ValueError, match="model is on the 'meta' device"):
        permutation_groups(nn.Linear(3, 3, device="meta"), torch.randn(2, 3))
    with pytest.raises(ValueError, match="example_input is on the 'meta' device"):
        permutation_groups(nn.Linear(3, 3), torch.randn(2, 3, device="meta"))


class _KwCache(nn.Module):
    """Keyword inputs, integer ids and an output holding a cache object and a dict."""

    class Cache:
        def __init__(self, t):
            self.t = t

    def __init__(self):
        super().__init__()
        self.emb, self.fc = nn.Embedding(12, 6), nn.Linear(6, 6)
        self.out = nn.Linear(6, 3)

    def forward(self, input_ids, attention_mask=None):
        h = self.fc(self.emb(input_ids))
        if attention_mask is not None:
            h = h * attention_mask[..., None]
        return {"logits": self.out(torch.relu(h)), "cache": self.Cache(h)}


def test_keyword_inputs_integer_ids_and_cache_outputs():
    ids = torch.randint(0, 12, (2, 5))
    x = {"input_ids": ids, "attention_mask": torch.ones(2, 5)}
    gs = _check(_KwCache(), x)
    assert [g.size for g in gs] == [6, 6]


# -- grouped / depthwise convolutions, channel shuffle, GroupNorm ------------------------------------------------
class _Grouped(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 1)
        self.grouped = nn.Conv2d(6, 12, 3, padding=1, groups=3)
        self.dw = nn.Conv2d(12, 12, 3, padding=1, groups=12)
        self.bn = nn.BatchNorm2d(12)
        self.head = nn.Linear(12, 2)

    def forward(self, x):
        h = self.dw(torch.relu(self.grouped(torch.relu(self.stem(x)))))
        n, c, hh, ww = h.shape
        h = h.view(n, 3, c // 3, hh, ww).transpose(1, 2).reshape(n, c, hh, ww)  # channel shuffle
        return self.head(torch.relu(self.bn(h)).mean((2, 3)))


def test_grouped_depthwise_convolutions_and_channel_shuffle():
    model = _Grouped().eval()
    with torch.no_grad():
        model.bn.running_mean.normal_()
        model.bn.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 3, 6, 6)
    gs = _check(model, x)
    bm = {(m.name, m.axis, m.outer, m.inner): g for g in gs for m in g.members}
    # stem output (6 channels) read as 3 groups of 2: groups permuted as blocks, a shared within-group permutation
    blocks = bm[("stem.weight", 0, 1, 2)]
    within = bm[("stem.weight", 0, 3, 1)]
    assert blocks.size == 3 and within.size == 2
    assert bm[("grouped.weight", 1, 1, 1)] is within  # weight[:, in] is the within-group input axis
    assert bm[("grouped.weight", 0, 1, 4)] is blocks  # output groups move with input groups
    # depthwise: input and output channels tied one to one
    assert bm[("dw.weight", 0, 1, 4)] is blocks
    assert not any(k[0] == "dw.weight" and k[1] == 1 for k in bm)  # in/G = 1: no axis to permute
    # channel shuffle (3, 4) -> (4, 3): after it the group index is the fast axis, followed exactly
    assert bm[("bn.running_mean", 0, 4, 1)] is blocks and bm[("head.weight", 1, 4, 1)] is blocks
    assert bm[("bn.running_var", 0, 1, 3)] is bm[("dw.weight", 0, 3, 1)]


def test_grouped_query_attention_with_sdpa_enable_gqa():
    class GQA(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v = nn.Linear(8, 8), nn.Linear(8, 4), nn.Linear(8, 4)
            self.o = nn.Linear(8, 8)

        def forward(self, x):
            B, T, _ = x.shape
            q = self.q(x).view(B, T, 4, 2).transpose(1, 2)
            k = self.k(x).view(B, T, 2, 2).transpose(1, 2)
            v = self.v(x).view(B, T, 2, 2).transpose(1, 2)
            y = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
            return x + self.o(y.transpose(1, 2).reshape(B, T, 8))

    model, x = GQA(), torch.randn(2, 5, 8)
    gs = _check(model, x)
    bm = {(m.name, m.inner): g for g in gs for m in g.members if m.axis == 0}
    kv = bm[("k.weight", 2)]
    assert kv.size == 2 and bm[("q.weight", 4)] is kv and bm[("v.weight", 2)] is kv  # kv head + its 2 query heads
    s, = attention_sites(model, x)
    assert (s.n_heads, s.n_kv_heads, s.head_dim) == (4, 2, 2) and s.heads_group == kv.name
    assert s.q_group_heads_group is not None


def test_explicit_attention_sites():
    class Explicit(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv, self.proj = nn.Linear(6, 18), nn.Linear(6, 6)

        def forward(self, x):
            B, T, _ = x.shape
            q, k, v = self.qkv(x).reshape(B, T, 3, 2, 3).permute(2, 0, 3, 1, 4)
            a = (q @ k.transpose(-2, -1) * 3 ** -0.5).softmax(-1)
            return x + self.proj((a @ v).transpose(1, 2).reshape(B, T, 6))

    model, x = Explicit(), torch.randn(2, 4, 6)
    _check(model, x)
    s, = attention_sites(model, x)
    assert (s.q.weight, s.q.index, s.k.index, s.v.index, s.o.weight) == ("qkv.weight", 0, 1, 2, "proj.weight")
    assert np.array_equal(np.array(s.v.rows), 12 + np.arange(6).reshape(2, 3))
    assert (s.n_heads, s.head_dim) == (2, 3)


# -- registry ------------------------------------------------------------------------------------------------------
@torch.library.custom_op("lmctest::cube", mutates_args=())
def _cube(x: torch.Tensor) -> torch.Tensor:
    return x ** 3


@_cube.register_fake
def _(x):
    return torch.empty_like(x)


class _Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 5), nn.Linear(5, 2)

    def forward(self, x):
        return self.b(_cube(self.a(x)))


def test_registry_user_handler_and_refusal_without_it():
    model, x = _Custom(), torch.randn(2, 3)
    with pytest.raises(UnsupportedOperationError, match=r"lmctest\.cube\.default.*module path '<root>'"):
        permutation_groups(model, x)

    @register_handler("lmctest.cube")
    def _h(ctx):
        return ctx.tap(list(ctx.lay(ctx.arg(0))), tier=0)

    gs = _check(model, x)
    assert [g.size for g in gs] == [5]
    with pytest.raises(ValueError, match="already registered"):
        register_handler("lmctest.cube")(lambda ctx: None)


class _Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 4)

    def forward(self, x):
        h = self.a(x)
        return torch.cdist(h[None], h[None])[0]


def test_unsupported_op_names_aten_op_and_module_path():
    model = nn.Sequential(nn.Linear(3, 3), _Inner())
    with pytest.raises(UnsupportedOperationError, match=r"aten\.cdist\.default.*module path '1'"):
        permutation_groups(model, torch.randn(2, 3))


def test_ops_on_pinned_values_need_no_handler():
    class PosTable(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            pos = torch.cdist(torch.arange(x.shape[1], dtype=x.dtype)[:, None], torch.zeros(1, 1))  # no handler
            return self.fc(x + pos)

    gs = permutation_groups(PosTable(), torch.randn(2, 5, 4))
    assert gs == []  # the stream reaches the input and the output: pinned; but nothing was refused


# -- group elements ---------------------------------------------------------------------------------------------
def test_group_element_carries_its_groups():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(5, 3)
    gs = permutation_groups(net, x)
    e = random_permutation(gs, seed=2)
    assert isinstance(e, GroupElement) and e.groups == gs and set(e) == {g.name for g in gs}
    assert dict(e)[gs[0].name].dtype == np.int64
    new = apply_permutation(net, e)  # no groups needed
    back = apply_permutation(new, e.inverse())
    assert all(torch.equal(v, back.state_dict()[k]) for k, v in net.state_dict().items())
    with pytest.raises(TypeError, match="needs groups"):
        apply_permutation(net, dict(e))


def test_capture_runs_the_graph_with_another_models_parameters():
    a, b = nn.Sequential(nn.Linear(3, 4), nn.ReLU()), nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    x = torch.randn(2, 3)
    g = capture(a, x)
    relu = next(n.name for n in g.nodes if str(n.target) == "aten.relu.default")
    vals = g.run(b, x, keep={relu})
    torch.testing.assert_close(vals[relu], b(x))
    assert capture(a, x) is g  # cached per model and input signature


# -- the self-check catches wrong groups ---------------------------------------------------------------------------
def _mlp(dtype=torch.float32):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))
    with torch.no_grad():
        net[2].weight.uniform_(0.5, 1.5)
        net[2].bias.normal_()
    return net.to(dtype), torch.randn(16, 6).to(dtype)


def test_self_check_catches_a_dropped_member_and_a_pinned_axis():
    net, x = _mlp()
    gs = permutation_groups(net, x)
    dropped = [PermutationGroup(g.name, g.size, g.kind, tuple(m for m in g.members if m.name != "2.weight"))
               for g in gs]
    with pytest.raises(SymmetryCheckError, match="alone changed the output"):
        check_permutation_invariance(net, x, dropped)
    # listing a pinned axis (the model's input features) as a group
    pinned = gs + [PermutationGroup("input", 6, "units", (Member("0.weight", 1),))]
    with pytest.raises(SymmetryCheckError, match="group 'input'"):
        check_permutation_invariance(net, x, pinned)


@pytest.mark.parametrize("seed", range(4))
def test_self_check_always_catches_a_wrong_group_of_size_two(seed):
    torch.manual_seed(seed)
    net, x = nn.Sequential(nn.Linear(6, 2), nn.Tanh(), nn.Linear(2, 3)), torch.randn(8, 6)
    g, = permutation_groups(net, x)
    assert g.size == 2
    wrong = [PermutationGroup(g.name, 2, g.kind, tuple(m for m in g.members if m.name != "2.weight"))]
    # a random element of a size-2 group is the identity half of the time: every tested element moves every group
    with pytest.raises(SymmetryCheckError, match="alone"):
        check_permutation_invariance(net, x, wrong, seed=seed)
    with pytest.raises(SymmetryCheckError, match="random element"):
        check_permutation_invariance(net, x, wrong, seed=seed, each_group=False, n_random=1)


def test_bfloat16_tolerance_follows_the_rounding_of_the_computation():
    net, x = _mlp(torch.bfloat16)
    gs = permutation_groups(net, x)
    d = check_permutation_invariance(net, x, gs)  # the true groups pass in bfloat16
    with torch.no_grad():
        ref = net(x).float()
    scale = float(ref.abs().max())
    assert d < 0.1 * scale
    # a wrong group (the last hidden layer's units without the layer reading them): its swap of two units
    # changes the output by a fraction of its scale, and is caught
    g = _by_member(gs)[("3.weight", 0)]
    wrong = PermutationGroup(g.name, g.size, g.kind, tuple(m for m in g.members if m.name != "5.weight"))
    swap = np.arange(g.size)
    swap[[0, 1]] = [1, 0]
    with torch.no_grad():
        change = float((apply_permutation(net, {g.name: swap}, [wrong])(x).float() - ref).abs().max())
    assert change > d
    with pytest.raises(SymmetryCheckError):
        check_permutation_invariance(net, x, [wrong])


def test_float64_model_checks_at_float64_precision():
    net, x = _mlp(torch.float64)
    assert check_permutation_invariance(net, x) < 1e-12


def test_unfold_patchify_of_the_input_and_module_vs_functional_forms():
    class UnfoldViT(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.fc, self.head = nn.Linear(2 * 4 * 4, 8), nn.Linear(8, 8), nn.Linear(8, 3)
            self.norm = nn.LayerNorm(8)

        def forward(self, x):
            p = F.unfold(x, kernel_size=4, stride=4).transpose(1, 2)  # (B, patches, C·16): input axes only
            h = self.embed(p)
            h = h + self.fc(torch.relu(self.norm(h)))
            return self.head(h.mean(1))

    gs = _check(UnfoldViT(), torch.randn(2, 2, 8, 8))
    assert [g.kind for g in gs] == ["residual"]

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.w1, self.b1 = nn.Parameter(torch.randn(5, 3)), nn.Parameter(torch.randn(5))
            self.w2 = nn.Parameter(torch.randn(2, 5))

        def forward(self, x):
            return F.linear(F.gelu(F.linear(x, self.w1, self.b1)), self.w2)

    mod = nn.Sequential(nn.Linear(3, 5), nn.GELU(), nn.Linear(5, 2, bias=False))
    shape = lambda gs: [(g.size, g.kind, [(m.axis, m.outer, m.inner) for m in g.members]) for g in gs]  # noqa: E731
    x = torch.randn(4, 3)
    assert shape(permutation_groups(mod, x)) == shape(permutation_groups(Functional(), x))


def test_prelu_glu_and_channel_shuffle_op():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.act, self.c2 = nn.Conv2d(2, 6, 1), nn.PReLU(6), nn.Conv2d(6, 4, 1)
            self.shuffle = nn.ChannelShuffle(3)
            self.fc = nn.Linear(6, 4)  # GLU halves: 2 × 2
            self.out = nn.Linear(2, 2)
            with torch.no_grad():
                self.act.weight.uniform_(-1, 1)

        def forward(self, x):
            h = self.c2(self.shuffle(self.act(self.c1(x)))).mean((2, 3))
            return self.out(F.glu(self.fc(torch.cat([h, h[:, :2]], 1)), dim=-1))

    model, x = Net(), torch.randn(2, 2, 5, 5)
    gs = _check(model, x)
    bm = {(m.name, m.axis, m.outer, m.inner): g for g in gs for m in g.members}
    # PReLU slopes follow the channels; the shuffle (3, 2) -> (2, 3) is followed through factors
    assert bm[("act.weight", 0, 1, 2)] is bm[("c1.weight", 0, 1, 2)] is bm[("c2.weight", 1, 2, 1)]
    assert bm[("fc.weight", 0, 2, 1)] is bm[("out.weight", 1, 1, 1)]  # the GLU halves share one permutation


@pytest.mark.parametrize("fill, free", [(0.0, True), (None, False)])
def test_constant_pins_only_the_axes_along_which_it_varies(fill, free):
    class ConstBias(nn.Module):  # EVA-style: a zero key bias buffer concatenated with learned q/v biases
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(4, 12, bias=False)
            self.q_bias, self.v_bias = nn.Parameter(torch.randn(4)), nn.Parameter(torch.randn(4))
            self.register_buffer("k_bias", torch.zeros(4) if fill is not None else torch.arange(4.0),
                                 persistent=False)
            self.o = nn.Linear(4, 4)

        def forward(self, x):
            q, k, v = F.linear(x, self.qkv.weight, torch.cat([self.q_bias, self.k_bias, self.v_bias])).chunk(3, -1)
            return x + self.o(F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0])

    gs = _check(ConstBias(), torch.randn(2, 5, 4))
    assert (("q_bias", 0) in _by_member(gs)) is free
