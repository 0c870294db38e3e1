"""The [GLMC] hierarchy (lmctheory.nn.hierarchy): structure found by the symmetry, planted maps recovered by
weight matching, every strategy and level function-preserving on the package's ViT, an independently written
transformer, Hugging Face GPT-2 and Llama (rotary; grouped-query attention by permutations); refusals and the
function check bite."""

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from lmctheory.nn.symmetry import SymmetryCheckError
from lmctheory.nn.hierarchy import (HierarchyTransform, _ones_basis, _polar, _rotary_pairs, align,
                                    apply_transform, learned_match_hierarchy, transformer_structure,
                                    weight_match_hierarchy)
from lmctheory.nn.vit import make_vit


class IndependentAttention(nn.Module):
    """Separate q/k/v/o maps, heads by einsum, optional rotary embedding on q and k."""

    def __init__(self, dim, heads, rotary=False):
        super().__init__()
        self.h, self.dh, self.rotary = heads, dim // heads, rotary
        self.wq, self.wk = nn.Linear(dim, dim, bias=False), nn.Linear(dim, dim, bias=False)
        self.wv, self.wo = nn.Linear(dim, dim), nn.Linear(dim, dim)
        t = torch.arange(6, dtype=torch.float32)[:, None] * (10.0 ** (-torch.arange(self.dh // 2) / (self.dh // 2)))
        self.register_buffer("cos", torch.cos(t))
        self.register_buffer("sin", torch.sin(t))

    def rope(self, x):  # x (n, t, h, dh): rotate pairs (i, i + dh/2)
        a, b = x[..., : self.dh // 2], x[..., self.dh // 2:]
        c, s = self.cos[:, None, :], self.sin[:, None, :]
        return torch.cat([a * c - b * s, a * s + b * c], -1)

    def forward(self, x):
        n, t, d = x.shape
        q = self.wq(x).view(n, t, self.h, self.dh)
        k = self.wk(x).view(n, t, self.h, self.dh)
        v = self.wv(x).view(n, t, self.h, self.dh)
        if self.rotary:
            q, k = self.rope(q), self.rope(k)
        s = torch.einsum("nthd,nshd->nhts", q, k) / math.sqrt(self.dh)
        o = torch.einsum("nhts,nshd->nthd", s.softmax(-1), v).reshape(n, t, d)
        return self.wo(o)


class IndependentLM(nn.Module):
    """A small Llama-style model: token embedding, RMSNorm with gain, ReLU MLP, read-out on the last token."""

    def __init__(self, vocab=7, dim=12, heads=3, depth=2, rotary=False):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList()
        for _ in range(depth):
            self.layers.append(nn.ModuleDict({"n1": nn.RMSNorm(dim), "att": IndependentAttention(dim, heads, rotary),
                                              "n2": nn.RMSNorm(dim), "up": nn.Linear(dim, 2 * dim),
                                              "down": nn.Linear(2 * dim, dim)}))
        self.norm = nn.RMSNorm(dim)
        self.out = nn.Linear(dim, vocab)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.RMSNorm):
                    m.weight.uniform_(0.5, 1.5)

    def forward(self, idx):
        x = self.emb(idx)
        for L in self.layers:
            x = x + L["att"](L["n1"](x))
            x = x + L["down"](torch.relu(L["up"](L["n2"](x))))
        return self.out(self.norm(x)[:, -1])


def _lm(seed, **kw):
    torch.manual_seed(seed)
    return IndependentLM(**kw)


TOKENS = torch.randint(0, 7, (24, 6), generator=torch.Generator().manual_seed(0))


def _planted(model, s, gen):
    D = s.width
    if s.fixes_ones:
        u, perp = _ones_basis(D)
        R = u @ u.T + perp @ _polar(torch.randn(D - 1, D - 1, generator=gen, dtype=torch.float64)) @ perp.T
    else:
        R = _polar(torch.randn(D, D, generator=gen, dtype=torch.float64))
    tr = HierarchyTransform(stream=R)
    for g in s.units:
        tr.units[g.name] = torch.eye(g.size, dtype=torch.float64)[torch.randperm(g.size, generator=gen)]
    for blk in s.attention:
        tr.heads[blk.group.name] = torch.eye(blk.n_heads, dtype=torch.float64)[torch.randperm(blk.n_heads,
                                                                                               generator=gen)]
        for c in range(2):
            tr.maps[(blk.group.name, c)] = torch.eye(blk.head_dim, dtype=torch.float64) + 0.4 * torch.randn(
                blk.n_heads, blk.head_dim, blk.head_dim, generator=gen, dtype=torch.float64)
    return apply_transform(model, s, tr)


@pytest.mark.parametrize("norm", ["rmsnorm", "layernorm"])
def test_structure_of_the_vit_is_found_by_the_symmetry(norm):
    from lmctheory.nn.hierarchy import _prepare

    a = make_vit(norm=norm, dim=16, heads=4, depth=2, seed=0)
    X = torch.randn(8, 64)
    a, _, _ = _prepare(a, a, (X,), "invertible")
    s = transformer_structure(a, X)
    assert s.width == 16 and len(s.units) == 2 and len(s.attention) == 2
    assert s.fixes_ones == (norm == "layernorm") and s.stream_issue == ""
    for blk in s.attention:
        assert blk.roles == ("qk", "ov") and blk.head_dim == 4 and blk.qk_ok
        assert blk.source == "site"  # slots from the engine's attention site, verified by the probe
        q, k = (blk.slots[i] for i in blk.circuits[0])
        v, o = (blk.slots[i] for i in blk.circuits[1])
        assert (q.outer, k.outer, v.outer) == (0, 1, 2) and o.module.endswith("proj")


@pytest.mark.parametrize("norm", ["rmsnorm", "layernorm"])
def test_planted_hierarchy_is_recovered_by_weight_matching(norm):
    from lmctheory.nn.hierarchy import _prepare

    a = make_vit(norm=norm, dim=16, heads=4, depth=2, seed=0)
    X = torch.randn(16, 64)
    a, _, _ = _prepare(a, a, (X,), "invertible")
    s = transformer_structure(a, X)
    b = _planted(a, s, torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert float((b(X) - a(X)).abs().max()) < 1e-4  # the planted maps are symmetries
    totals = {}
    for level in ("permutation", "orthogonal", "invertible"):
        b2, rep = align(a, b, X, strategy="weight", level=level)
        totals[level] = rep.steps[-1]
        circ = [st for st in rep.steps if st["kind"] == "circuit"]
        if level != "permutation":  # heads and stream recovered: circuits match (orthogonal level: the stream is
            # fitted to factors that differ by the planted invertible maps, so only approximately)
            tol = 1e-3 if level == "invertible" else 1e-2
            assert all(st["after"] < tol and st["before"] > 1.0 for st in circ), circ
    # only the whole hierarchy recovers the factors themselves
    assert totals["invertible"]["after"] < 1e-2 < totals["invertible"]["before"]
    assert totals["orthogonal"]["after"] > 0.1 and totals["permutation"]["after"] > 0.1


@pytest.mark.parametrize("strategy", ["weight", "activation", "learned"])
@pytest.mark.parametrize("level", ["permutation", "orthogonal", "hierarchy"])
def test_every_strategy_and_level_preserves_function_on_an_independent_transformer(strategy, level):
    a, b = _lm(0), _lm(1)
    y = torch.randint(0, 7, (24,), generator=torch.Generator().manual_seed(2))
    b2, rep = align(a, b, TOKENS, strategy=strategy, level=level, y=y, steps=3, rounds=2)
    assert rep.function_change <= rep.tolerance
    assert float((b2(TOKENS) - b(TOKENS)).abs().max()) <= rep.tolerance
    assert rep.level == ("invertible" if level == "hierarchy" else level)
    if level != "permutation":
        assert any("folded" in c for c in rep.converted)  # RMSNorm gains folded before rotating
        assert float((rep.model_a(TOKENS) - a(TOKENS)).abs().max()) < 1e-4
    if strategy != "activation":
        assert rep.steps[-1]["after"] <= rep.steps[-1]["before"] + 1e-9


def test_independent_transformer_structure_separate_projections():
    s = transformer_structure(_lm(0), TOKENS)
    assert len(s.attention) == 2 and all(b.roles == ("qk", "ov") for b in s.attention)
    # einsum attention: the engine's site finder does not follow it, so the slots are paired by probing alone
    assert all(b.source == "probe" for b in s.attention)
    for blk in s.attention:
        mods = [tuple(blk.slots[i].module.rsplit(".", 1)[-1] for i in c) for c in blk.circuits]
        assert mods == [("wq", "wk"), ("wv", "wo")]


@pytest.mark.parametrize("strategy", ["weight", "activation", "learned"])
def test_rotary_qk_circuit_gets_the_maps_commuting_with_the_rotations(strategy):
    from lmctheory.nn.hierarchy import _rotary_pairs, _to_class

    a, b = _lm(0, rotary=True), _lm(1, rotary=True)
    s = transformer_structure(a, TOKENS)
    for blk in s.attention:  # found by probing: general maps fail, the rotate-half commuting class passes
        assert blk.qk_ok and "rotary" in blk.qk_issue and blk.roles == ("qk", "ov")
        assert blk.commuting == (_rotary_pairs(4, "half"), None)
    y = torch.randint(0, 7, (24,), generator=torch.Generator().manual_seed(2))
    for level in ("orthogonal", "hierarchy"):
        b2, rep = align(a, b, TOKENS, strategy=strategy, level=level, y=y, steps=3, rounds=2)
        assert rep.function_change <= rep.tolerance
    # a general map in the QK circuit is not a symmetry here: the probe's distinction is real
    G = torch.eye(4, dtype=torch.float64) + 0.3 * torch.randn(3, 4, 4, generator=torch.Generator().manual_seed(0),
                                                               dtype=torch.float64)
    name = s.attention[0].group.name
    bad = apply_transform(a, s, HierarchyTransform(maps={(name, 0): G}))
    good = apply_transform(a, s, HierarchyTransform(maps={(name, 0): _to_class(G, _rotary_pairs(4, "half"))}))
    with torch.no_grad():
        assert float((bad(TOKENS) - a(TOKENS)).abs().max()) > 1e-3
        assert float((good(TOKENS) - a(TOKENS)).abs().max()) < 1e-5


def test_qk_circuit_without_commuting_maps_is_refused_by_name():
    class QKNorm(IndependentAttention):  # a norm on q breaks every per-head map of the QK circuit
        def forward(self, x):
            n, t, d = x.shape
            q = self.wq(x).view(n, t, self.h, self.dh)
            q = q / q.norm(dim=-1, keepdim=True)
            k = self.wk(x).view(n, t, self.h, self.dh)
            v = self.wv(x).view(n, t, self.h, self.dh)
            s = torch.einsum("nthd,nshd->nhts", q, k) / math.sqrt(self.dh)
            return self.wo(torch.einsum("nhts,nshd->nthd", s.softmax(-1), v).reshape(n, t, d))

    a, b = _lm(0), _lm(1)
    for m in (a, b):
        for L in m.layers:
            old = L["att"]
            new = QKNorm(12, 3)
            new.load_state_dict(old.state_dict())
            L["att"] = new
    s = transformer_structure(a, TOKENS)
    assert all(not blk.qk_ok and "not supported" in blk.qk_issue for blk in s.attention)
    with pytest.raises(ValueError, match="admits no per-head invertible"):
        align(a, b, TOKENS, strategy="weight", level="orthogonal")
    b2, rep = align(a, b, TOKENS, strategy="weight", level="permutation")  # permutations stay exact
    assert rep.function_change <= rep.tolerance


def test_function_check_bites(monkeypatch):
    import lmctheory.nn.hierarchy as h

    a, b = make_vit(norm="rmsnorm", dim=8, heads=2, depth=1, seed=0), make_vit(norm="rmsnorm", dim=8, heads=2,
                                                                                depth=1, seed=1)
    X = torch.randn(8, 64)
    orig = h.apply_transform

    def scaled(model, s, tr):  # a stream map 1.01·R is no symmetry: the readers after each norm see 1.01×
        return orig(model, s, HierarchyTransform(stream=1.01 * tr.stream, units=tr.units, heads=tr.heads,
                                                 maps=tr.maps))

    monkeypatch.setattr(h, "apply_transform", scaled)
    with pytest.raises(SymmetryCheckError, match="differs from model B"):
        align(a, b, X, strategy="weight", level="invertible")


def test_learned_matching_lowers_the_midpoint_loss_and_starts_from_weight_matching():
    a, b = (make_vit(norm="rmsnorm", dim=8, heads=2, depth=1, seed=s) for s in (0, 1))
    X, y = torch.randn(64, 64), torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(0))
    s = transformer_structure(a, X)
    wm, _ = weight_match_hierarchy(a.state_dict(), b.state_dict(), s, "invertible")
    same, hist0 = learned_match_hierarchy(a, b, s, X, y, "invertible", init=wm, steps=0)
    assert hist0 == [] and torch.allclose(same.stream, wm.stream, atol=1e-6)
    tr, hist = learned_match_hierarchy(a, b, s, X, y, "invertible", init=wm, steps=80, lr=1e-2, batch_size=64)
    assert all(math.isfinite(v) for v in hist)
    assert sum(hist[-10:]) / 10 < sum(hist[:10]) / 10
    assert torch.allclose(tr.stream.T @ tr.stream, torch.eye(8, dtype=torch.float64), atol=1e-8)


def test_bad_arguments():
    a, b = _lm(0), _lm(1)
    with pytest.raises(ValueError, match="strategy"):
        align(a, b, TOKENS, strategy="magic")
    with pytest.raises(ValueError, match="level"):
        align(a, b, TOKENS, level="affine")
    with pytest.raises(ValueError, match="X is required"):
        align(a, b)
    with pytest.raises(ValueError, match="needs targets y"):
        align(a, b, TOKENS, strategy="learned")
    with pytest.raises(ValueError, match="y must hold integer targets"):
        align(a, b, TOKENS, strategy="learned", y=torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="y must hold integer targets"):
        align(a, b, TOKENS, strategy="learned", y=torch.zeros(24))
    with pytest.raises(ValueError, match="same architecture.*emb"):
        align(a, _lm(0, dim=15), TOKENS)


def test_hugging_face_gpt2():
    from lmctheory.nn.symmetry import permutation_groups
    from tests._thirdparty import load_transformers

    tr = load_transformers()
    cfg = tr.GPT2Config(n_layer=2, n_head=2, n_embd=8, vocab_size=11, n_positions=8, resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0)
    torch.manual_seed(0)
    a, b = tr.GPT2LMHeadModel(cfg).eval(), tr.GPT2LMHeadModel(cfg).eval()
    X = torch.randint(0, 11, (6, 8), generator=torch.Generator().manual_seed(0))
    assert any(g.kind == "residual" for g in permutation_groups(a, X))  # the engine traces HF GPT-2
    y = torch.randint(0, 11, (6, 8), generator=torch.Generator().manual_seed(1))  # next-token targets
    s = transformer_structure(a, X)
    assert len(s.attention) == 2 and all(blk.roles == ("qk", "ov") for blk in s.attention)  # fused Conv1D qkv
    assert all(blk.source == "site" for blk in s.attention)
    for strategy in ("weight", "learned", "activation"):
        for level in ("permutation", "hierarchy"):
            b2, rep = align(a, b, X, strategy=strategy, level=level, y=y, steps=2, rounds=2)
            assert rep.function_change <= rep.tolerance
            if strategy == "weight" and level == "hierarchy":
                assert rep.steps[-1]["after"] < rep.steps[-1]["before"]


def _hf_llama(kv_heads):
    from tests._thirdparty import load_transformers

    tr = load_transformers()
    cfg = tr.LlamaConfig(hidden_size=16, intermediate_size=16, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=kv_heads, head_dim=4, vocab_size=11, max_position_embeddings=8)
    torch.manual_seed(0)
    return tr.LlamaForCausalLM(cfg).eval(), tr.LlamaForCausalLM(cfg).eval()


def test_hugging_face_llama_rotary_heads_from_the_attention_sites():
    a, b = _hf_llama(4)
    X = torch.randint(0, 11, (6, 8), generator=torch.Generator().manual_seed(0))
    s = transformer_structure(a, X)
    assert len(s.attention) == 2
    for blk in s.attention:  # q_proj/k_proj (rotary: maps commuting with the rotate-half planes), v_proj/o_proj
        assert blk.source == "site" and blk.qk_ok and blk.commuting == (_rotary_pairs(4, "half"), None)
        mods = [tuple(blk.slots[i].module.rsplit(".", 1)[-1] for i in c) for c in blk.circuits]
        assert mods == [("q_proj", "k_proj"), ("v_proj", "o_proj")]
    b2, rep = align(a, b, X, strategy="weight", level="hierarchy", rounds=2)
    assert rep.function_change <= rep.tolerance
    assert rep.steps[-1]["after"] < rep.steps[-1]["before"]


@pytest.mark.parametrize("kv_heads", [2, 1])
def test_grouped_query_attention_is_aligned_by_permutations(kv_heads):
    a, b = _hf_llama(kv_heads)
    X = torch.randint(0, 11, (6, 8), generator=torch.Generator().manual_seed(0))
    s = transformer_structure(a, X)
    # no circuit maps; the kv heads (each with its query heads) and the query heads within a kv group are
    # permutation groups next to the FF units
    assert s.attention == ()
    heads = [u for u in s.units if u.kind == "heads"]
    assert len(heads) == 2 * (2 if kv_heads == 2 else 1)
    assert sorted({u.size for u in heads}) == ([2] if kv_heads == 2 else [4])
    for strategy in ("weight", "activation"):
        b2, rep = align(a, b, X, strategy=strategy, level="hierarchy", rounds=2)
        assert rep.function_change <= rep.tolerance
    # a planted permutation of the kv-head group is undone by weight matching (B = A permuted)
    from lmctheory.nn.symmetry import apply_permutation

    g = heads[0]
    planted = apply_permutation(copy.deepcopy(a), {g.name: np.arange(g.size)[::-1].copy()}, [g])
    b3, rep = align(a, planted, X, strategy="weight", level="permutation", rounds=2)
    assert rep.function_change <= rep.tolerance
    assert rep.steps[-1]["after"] < 1e-10 < rep.steps[-1]["before"]
