"""Orthogonal residual-stream alignment ([GLMC], T-S3) on independently written transformers."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lmctheory.nn import activation_match, permute_model
from lmctheory.nn.symmetry import SymmetryCheckError, apply_permutation, permutation_groups, random_permutation
from lmctheory.nn.orthogonal import apply_orthogonal, fold_norm_gains, orthogonal_align, residual_stream_group
from lmctheory.nn.vit import make_vit

from lmctheory.symmetry import random_orthogonal

from ._arch_zoo import GLUTokens, MHANet, SDPANet, TinyViT


class LlamaBlock(nn.Module):
    """Pre-norm, nn.RMSNorm *with* gain, separate bias-free q/k/v, SDPA, SwiGLU MLP."""

    def __init__(self, dim=12, heads=3, hidden=20):
        super().__init__()
        self.h = heads
        self.attn_norm = nn.RMSNorm(dim, eps=1e-6)
        self.wq, self.wk, self.wv = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        self.wo = nn.Linear(dim, dim, bias=False)
        self.mlp_norm = nn.RMSNorm(dim, eps=1e-6)
        self.gate, self.up = nn.Linear(dim, hidden, bias=False), nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def heads(self, t):
        b, n, d = t.shape
        return t.view(b, n, self.h, d // self.h).transpose(1, 2)

    def forward(self, x):
        n = self.attn_norm(x)
        a = F.scaled_dot_product_attention(self.heads(self.wq(n)), self.heads(self.wk(n)), self.heads(self.wv(n)))
        x = x + self.wo(a.transpose(1, 2).flatten(2))
        n = self.mlp_norm(x)
        return x + self.down(F.silu(self.gate(n)) * self.up(n))


class LlamaLike(nn.Module):
    def __init__(self, d_in=5, dim=12, depth=2, n_out=4):
        super().__init__()
        self.inp = nn.Linear(d_in, dim)
        self.layers = nn.ModuleList([LlamaBlock(dim) for _ in range(depth)])
        self.final_norm = nn.RMSNorm(dim)
        self.out = nn.Linear(dim, n_out)

    def forward(self, x):  # (B, T, d_in)
        h = self.inp(x)
        for layer in self.layers:
            h = layer(h)
        return self.out(self.final_norm(h))[:, -1]


class TokenMHA(nn.Module):
    """Token ids → Embedding (+ learned positions) → nn.MultiheadAttention residual → gainless nn.RMSNorm MLP."""

    def __init__(self, vocab=11, dim=8, tokens=5):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(0.3 * torch.randn(tokens, dim))
        self.norm1 = nn.RMSNorm(dim, elementwise_affine=False)
        self.attn = nn.MultiheadAttention(dim, 2, batch_first=True)
        self.norm2 = nn.RMSNorm(dim, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(dim, 16), nn.GELU(), nn.Linear(16, dim))
        self.cls = nn.Linear(dim, 3)

    def forward(self, ids):
        h = self.emb(ids) + self.pos
        n = self.norm1(h)
        h = h + self.attn(n, n, n, need_weights=False)[0]
        h = h + self.mlp(self.norm2(h))
        return self.cls(h.mean(1))


def _rot(d, seed, fix_ones=False):
    return torch.as_tensor(random_orthogonal(d, seed=seed, fix_ones=fix_ones))


class MeanHead(LlamaLike):
    def forward(self, x):
        h = self.inp(x)
        for layer in self.layers:
            h = layer(h)
        return self.out(self.final_norm(h).mean(1))  # the gain reaches the head through a token mean


def _perturb_layernorms(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=g))
    return model


def _perturb_gains(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.RMSNorm) and m.weight is not None:
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
    return model


def _models_and_inputs():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    return [
        ("vit-rms-wasym", make_vit(norm="rmsnorm", kind="wasym", sigma_f=0.5, dim=16, heads=4, depth=2, seed=0),
         torch.randn(24, 64, generator=g)),
        ("vit-rms-sdpa", make_vit(norm="rmsnorm", attention="sdpa", dim=16, heads=2, depth=1, seed=1),
         torch.randn(24, 64, generator=g)),
        ("llama", _perturb_gains(LlamaLike()), torch.randn(16, 6, 5, generator=g)),
        ("glu", GLUTokens(), torch.randn(16, 5, 4, generator=g)),
        ("mha", TokenMHA(), torch.randint(0, 11, (20, 5), generator=g)),
        ("llama-meanhead", _perturb_gains(MeanHead()), torch.randn(16, 6, 5, generator=g)),
        # LayerNorm streams: gains/biases folded, Q restricted to Q·1 = ±1
        ("vit-ln-wasym", _perturb_layernorms(make_vit(kind="wasym", sigma_f=0.5, dim=16, heads=4, depth=2, seed=2)),
         torch.randn(24, 64, generator=g)),
        ("zoo-tinyvit", _perturb_layernorms(TinyViT()), torch.randn(16, 4, 5, generator=g)),
        ("zoo-mha-postln", _perturb_layernorms(MHANet()), torch.randn(16, 3, 4, generator=g)),
    ]


CASES = _models_and_inputs()


@pytest.mark.parametrize("name,model,X", CASES, ids=[c[0] for c in CASES])
def test_planted_rotation_is_recovered_and_function_unchanged(name, model, X):
    a = model.eval()
    ex = X[:2]
    ref, info0 = orthogonal_align(a, a, X)  # A in its own (standard, folded) parametrization
    a_std = info0.model_a
    g = residual_stream_group(permutation_groups(a_std, ex))
    has_ln = any(isinstance(m, nn.LayerNorm) for m in a.modules())
    assert info0.fixes_ones == has_ln
    Q = _rot(g.size, seed=3, fix_ones=has_ln)
    b = apply_orthogonal(a_std, Q, g.members)
    assert (b(X) - a(X)).abs().max() < 1e-4  # the planted rotation is a symmetry
    assert max((pa - pb).abs().max() for pa, pb in zip(a_std.parameters(), b.parameters())) > 1e-2
    b_al, info = orthogonal_align(a_std, b, X)
    # the function of B is unchanged by the alignment (checked here independently of the internal check)
    torch.testing.assert_close(b_al(X), b(X), rtol=1e-4, atol=1e-5)
    # aligned B equals A to rounding: Q_found = Qᵀ (a = Qᵀ b)
    assert np.abs(info.Q - Q.numpy().T).max() < 1e-6
    sa, sb = a_std.state_dict(), b_al.state_dict()
    for k in sa:
        if sa[k].is_floating_point():
            torch.testing.assert_close(sb[k], sa[k], rtol=1e-5, atol=1e-5, msg=lambda m: f"{name}: {k}: {m}")
    assert info.residual_after < 1e-5 < info.residual_before
    assert info.function_change < 1e-4


def test_gain_folding_is_function_preserving_and_needed():
    m = _perturb_gains(LlamaLike())
    X = torch.randn(8, 6, 5)
    f = fold_norm_gains(m, X)
    assert all(n.weight is None for n in f.modules() if isinstance(n, nn.RMSNorm))
    torch.testing.assert_close(f(X), m(X), rtol=1e-5, atol=1e-6)
    assert m.final_norm.weight is not None  # the original is untouched
    with pytest.raises(ValueError, match="RMSNorm with a gain/bias at 'layers.0.attn_norm'"):
        orthogonal_align(m, m, X, fold_gains=False)


class SiluHead(LlamaLike):
    def forward(self, x):
        h = self.inp(x)
        for layer in self.layers:
            h = layer(h)
        return self.out(F.silu(self.final_norm(h)))[:, 0]  # the gain feeds an activation


def test_unfoldable_gain_is_refused_naming_the_norm():
    with pytest.raises(ValueError, match="cannot fold the gain of RMSNorm at 'final_norm'.*silu"):
        orthogonal_align(SiluHead(), SiluHead(), torch.randn(6, 4, 5))
    # post-norm: the LayerNorm output is the stream itself (it feeds the residual add)
    with pytest.raises(ValueError, match="cannot fold the gain of LayerNorm at 'block.norm'"):
        orthogonal_align(SDPANet(), SDPANet(), torch.randn(6, 4, 3))


def test_layernorm_stream_needs_q_fixing_the_ones_direction():
    a = _perturb_layernorms(TinyViT()).eval()
    X = torch.randn(16, 4, 5)
    a_std = orthogonal_align(a, a, X)[1].model_a
    torch.testing.assert_close(a_std(X), a(X), rtol=1e-5, atol=1e-5)  # folding keeps the function
    assert not any(isinstance(m, nn.LayerNorm) and m.weight is not None for m in a_std.modules())
    g = residual_stream_group(permutation_groups(a_std, X[:2]))
    Q_free = _rot(g.size, seed=5)  # a general rotation is not a symmetry of a LayerNorm stream
    assert (apply_orthogonal(a_std, Q_free, g.members)(X) - a(X)).abs().max() > 1e-2
    Q_ones = _rot(g.size, seed=5, fix_ones=True)
    torch.testing.assert_close(apply_orthogonal(a_std, Q_ones, g.members)(X), a(X), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"LayerNorm with a gain/bias at 'blocks.0.ln1'.*all-ones"):
        orthogonal_align(a, a, X, fold_gains=False)


def test_full_pipeline_permutation_then_rotation_recovers_a():
    a = make_vit(norm="rmsnorm", kind="syre", sigma_f=0.3, dim=16, heads=4, depth=2, seed=5).eval()
    X = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    groups = permutation_groups(a, X[:2])
    b = apply_permutation(a, random_permutation(groups, seed=2), groups)
    a_std = orthogonal_align(a, a, X)[1].model_a
    g = residual_stream_group(permutation_groups(a_std, X[:2]))
    from lmctheory.nn import to_standard
    b = apply_orthogonal(to_standard(b), _rot(16, 4), g.members)
    m = activation_match(a_std, b, X)
    b_p = permute_model(b, m)
    b_al, info = orthogonal_align(a_std, b_p, X)
    for k, v in a_std.state_dict().items():
        torch.testing.assert_close(b_al.state_dict()[k], v, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(b_al(X), b(X), rtol=1e-4, atol=1e-5)


class BNResidual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 8)
        self.bn = nn.BatchNorm1d(8)
        self.fc1, self.fc2 = nn.Linear(8, 12), nn.Linear(12, 8)
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        h = self.inp(x)
        h = h + self.fc2(torch.relu(self.fc1(self.bn(h))))
        return self.out(h)


class ReLUStream(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 8)
        self.fc1, self.fc2 = nn.Linear(8, 12), nn.Linear(12, 8)
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        h = self.inp(x)
        h = F.relu(h + self.fc2(torch.tanh(self.fc1(h))))  # nonlinearity on the stream itself
        return self.out(h)


class HiddenGain(nn.Module):
    """A gain written functionally on the stream: no module to name, caught by the function check."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 8)
        self.g = nn.Parameter(torch.linspace(0.5, 2.0, 8))
        self.fc1, self.fc2 = nn.Linear(8, 12), nn.Linear(12, 8)
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        h = self.inp(x)
        n = self.g * (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6))
        h = h + self.fc2(torch.tanh(self.fc1(n)))
        return self.out(h)


@pytest.mark.parametrize("make,X,match", [
    (lambda: SDPANet(), torch.randn(6, 4, 3), "LayerNorm at 'block.norm'"),
    (lambda: BNResidual().eval(), torch.randn(6, 4), "BatchNorm1d at 'bn'"),
    (lambda: ReLUStream(), torch.randn(6, 4), "nonlinearity .*relu"),
])
def test_refused_models_name_the_module(make, X, match):
    m = make()
    with pytest.raises(ValueError, match=match):
        orthogonal_align(m, m, X)


def test_hidden_gain_caught_by_function_check():
    m = HiddenGain()
    other = HiddenGain()
    X = torch.randn(30, 4)
    with pytest.raises(SymmetryCheckError, match="does not commute"):
        orthogonal_align(m, other, X)


def test_bad_arguments():
    a = make_vit(norm="rmsnorm", dim=8, heads=2, depth=1, seed=0)
    b = make_vit(norm="rmsnorm", dim=16, heads=2, depth=1, seed=0)
    X = torch.randn(4, 64)
    with pytest.raises(ValueError, match="same architecture.*embed"):
        orthogonal_align(a, b, X)
    with pytest.raises(TypeError, match="model_b"):
        orthogonal_align(a, "b", X)
    with pytest.raises(ValueError, match="group 'nope'"):
        orthogonal_align(a, a, X, group="nope")
    with pytest.raises(ValueError, match="no residual-stream group"):
        net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
        orthogonal_align(net, net, torch.randn(5, 3))
    with pytest.raises(ValueError, match="orthogonal"):
        apply_orthogonal(a, np.ones((8, 8)), [("embed.weight", 0)])


def test_groups_of_the_asymmetric_model_are_accepted():
    # groups traced on the W-asymmetric model name F/D buffers that to_standard removes: they are dropped
    a = make_vit(norm="rmsnorm", kind="wasym", sigma_f=0.5, dim=8, heads=2, depth=1, seed=0).eval()
    b = make_vit(norm="rmsnorm", kind="wasym", sigma_f=0.5, dim=8, heads=2, depth=1, seed=1).eval()
    X = torch.randn(20, 64, generator=torch.Generator().manual_seed(0))
    groups = permutation_groups(a, X[:2])
    assert any(m.name.endswith(".F") for g in groups if g.kind == "residual" for m in g.members)
    b1, r1 = orthogonal_align(a, b, X, groups)
    b2, r2 = orthogonal_align(a, b, X)
    np.testing.assert_allclose(r1.Q, r2.Q, atol=1e-10)
    assert r1.converted and not any(n.endswith((".F", ".D")) for n, _ in r1.members)
    assert r1.residual_after < r1.residual_before  # Procrustes never increases the residual
    torch.testing.assert_close(b1(X), b(X), rtol=1e-4, atol=1e-5)


class FunctionalLNNet(nn.Module):
    """Pre-norm residual net whose stream norm is a functional layer_norm (gainless, or with a fixed gain)."""

    def __init__(self, gain=False):
        super().__init__()
        self.inp, self.fc, self.out = nn.Linear(3, 6), nn.Linear(6, 6), nn.Linear(6, 2)
        self.gain = nn.Parameter(torch.linspace(0.5, 1.5, 6)) if gain else None

    def forward(self, x):
        h = self.inp(x)
        h = h + self.fc(F.layer_norm(h, (6,), self.gain))
        return self.out(F.layer_norm(h, (6,), self.gain))


def test_functional_layer_norm_without_affine_admits_the_ones_fixing_maps():
    from lmctheory.nn.orthogonal import stream_rotation_constraint

    torch.manual_seed(0)
    a, b = FunctionalLNNet(), FunctionalLNNet()
    X = torch.randn(32, 3)
    g = residual_stream_group(permutation_groups(a, X[:2]))
    assert stream_rotation_constraint(a, X[:2], g) is True  # Q·1 = ±1 only (T-S3)
    b_o, info = orthogonal_align(a, b, X)
    assert info.fixes_ones and info.function_change < 1e-5
    ones = np.ones(6) / np.sqrt(6)
    assert np.allclose(np.abs(info.Q @ ones), ones, atol=1e-8)
    with pytest.raises(ValueError, match="layer_norm"):  # a gain on the functional norm: no rotation commutes
        stream_rotation_constraint(FunctionalLNNet(gain=True), X[:2],
                                   residual_stream_group(permutation_groups(FunctionalLNNet(gain=True), X[:2])))


def _hf_pair(kind):
    from ._thirdparty import load_transformers

    tr = load_transformers()
    if kind == "gpt2":  # LayerNorm with gain and bias, fused Conv1D qkv, lm_head tied to the embedding
        cfg = tr.GPT2Config(n_layer=2, n_head=2, n_embd=8, vocab_size=11, n_positions=8, resid_pdrop=0.0,
                            embd_pdrop=0.0, attn_pdrop=0.0)
        cls = tr.GPT2LMHeadModel
    else:  # LlamaRMSNorm with gain, rotary embeddings, SwiGLU
        cfg = tr.LlamaConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
                             num_key_value_heads=2, vocab_size=11, max_position_embeddings=8)
        cls = tr.LlamaForCausalLM
    torch.manual_seed(0)
    return cls(cfg).eval(), cls(cfg).eval()


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_hugging_face_residual_streams(kind):
    a, b = _hf_pair(kind)
    X = torch.randint(0, 11, (6, 8), generator=torch.Generator().manual_seed(0))
    b_al, res = orthogonal_align(a, b, X)
    assert res.converted  # the norm gains were folded
    assert res.fixes_ones == (kind == "gpt2")  # LayerNorm: Q·1 = ±1; RMSNorm: any orthogonal map
    # the aligned model computes B's function (the fold and the rotation together)
    assert float((b_al(X).logits - b(X).logits).abs().max()) <= 1e-4
    assert float(np.abs(res.Q.T @ res.Q - np.eye(8)).max()) < 1e-10
    assert res.residual_after < res.residual_before
    # a planted rotation of A's (folded) stream is recovered
    af = res.model_a
    g = residual_stream_group(permutation_groups(af, X))
    Q = random_orthogonal(8, seed=3)
    if res.fixes_ones:  # a rotation of the complement of the all-ones direction, which it fixes
        basis = np.linalg.qr(np.hstack([np.ones((8, 1)), np.eye(8)[:, :7]]))[0]
        R = np.eye(8)
        R[1:, 1:] = random_orthogonal(7, seed=3)
        Q = basis @ R @ basis.T
        assert float(np.abs(Q @ np.ones(8) - np.ones(8)).max()) < 1e-10
    planted = apply_orthogonal(af, Q, [(m.name, m.axis) for m in g.members])
    back, res2 = orthogonal_align(af, planted, X)
    assert res2.residual_after < 1e-6 < res2.residual_before
    assert float((back(X).logits - af(X).logits).abs().max()) <= 1e-5
