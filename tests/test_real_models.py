"""The symmetry engine on the real libraries' model definitions (torchvision, timm, Hugging Face transformers).

Random initialization, small inputs, never a download. For every model: the permutation groups are traced, and
every group alone plus joint elements leave the outputs unchanged (check_permutation_invariance, with a tolerance
from the computation's own rounding). Models are built small (few layers, narrow) where the library allows it.
Heavier definitions are marked slow; every family keeps a fast representative.
"""

import numpy as np
import pytest
import torch

from lmctheory.nn.symmetry import analyze, apply_permutation, check_permutation_invariance, random_permutation

from ._thirdparty import load_timm, load_torchvision, load_transformers

slow = pytest.mark.slow


def _img(size=32, n=2):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(1))


def _ids(n=2, t=8, vocab=64):
    return torch.randint(0, vocab, (n, t), generator=torch.Generator().manual_seed(1))


def _tv(name, **kw):
    return lambda: getattr(load_torchvision().models, name)(num_classes=10, **kw), _img


def _timm(name, size=32, **kw):
    return lambda: load_timm().create_model(name, num_classes=10, **kw), lambda: _img(size)


def _mixer(**kw):
    def build():
        from timm.models.mlp_mixer import MlpMixer
        load_timm()
        return MlpMixer(img_size=32, patch_size=8, num_blocks=2, embed_dim=32, num_classes=10, **kw)
    return build, _img


def _resmlp():
    def build():
        load_timm()
        from timm.models.mlp_mixer import Affine, MlpMixer, ResBlock
        return MlpMixer(img_size=32, patch_size=8, num_blocks=2, embed_dim=32, mlp_ratio=4, block_layer=ResBlock,
                        norm_layer=Affine, num_classes=10)
    return build, _img


def _hf(cls, cfg, **kw):
    def build():
        tr = load_transformers()
        return getattr(tr, cls)(getattr(tr, cfg)(**kw))
    return build, lambda: {"input_ids": _ids()}


_SMALL_LM = dict(num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=4, vocab_size=64)

MODELS = {
    # torchvision
    "tv_resnet18": _tv("resnet18"),
    "tv_mobilenet_v3_small": _tv("mobilenet_v3_small"),
    "tv_efficientnet_b0": pytest.param(*_tv("efficientnet_b0"), marks=slow),
    "tv_regnet_x_400mf": pytest.param(*_tv("regnet_x_400mf"), marks=slow),
    "tv_shufflenet_v2": _tv("shufflenet_v2_x0_5"),
    "tv_convnext_tiny": pytest.param(*_tv("convnext_tiny"), marks=slow),
    "tv_swin_t": pytest.param(_tv("swin_t")[0], lambda: _img(64), marks=slow),
    "tv_vit": (lambda: load_torchvision().models.VisionTransformer(image_size=32, patch_size=8, num_layers=2,
                                                                   num_heads=2, hidden_dim=16, mlp_dim=32,
                                                                   num_classes=10), _img),
    "tv_densenet121": pytest.param(*_tv("densenet121"), marks=slow),
    "tv_squeezenet": _tv("squeezenet1_1"),
    "tv_resnet50": pytest.param(*_tv("resnet50"), marks=slow),
    "tv_vgg11_bn": pytest.param(*_tv("vgg11_bn"), marks=slow),
    "tv_googlenet": pytest.param(*_tv("googlenet", aux_logits=False, init_weights=True), marks=slow),
    "tv_mobilenet_v2": pytest.param(*_tv("mobilenet_v2"), marks=slow),
    # timm
    "timm_vit_tiny": _timm("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2),
    "timm_deit": pytest.param(*_timm("deit_tiny_distilled_patch16_224", img_size=32, patch_size=8, depth=2),
                              marks=slow),
    "timm_convnext": _timm("convnext_atto"),
    "timm_mixer": _mixer(),
    "timm_resmlp": _resmlp(),
    "timm_pit": pytest.param(*_timm("pit_ti_224", 64, img_size=64), marks=slow),
    "timm_mobilevit": pytest.param(*_timm("mobilevit_xxs", 64), marks=slow),
    "timm_efficientnet": pytest.param(*_timm("efficientnet_b0"), marks=slow),
    "timm_levit": pytest.param(*_timm("levit_128s", 64, img_size=64), marks=slow),
    "timm_coatnet": pytest.param(*_timm("coatnet_nano_rw_224", 64, img_size=64), marks=slow),
    "timm_maxvit": pytest.param(*_timm("maxvit_nano_rw_256", 64, img_size=64), marks=slow),
    "timm_eva02": _timm("eva02_tiny_patch14_224", 28, img_size=28, depth=2),
    "timm_swin": _timm("swin_tiny_patch4_window7_224", 56, img_size=56, depths=(1, 1), num_heads=(1, 2),
                       embed_dim=16),
    # Hugging Face transformers (tiny configurations)
    "hf_gpt2": _hf("GPT2LMHeadModel", "GPT2Config", n_layer=2, n_embd=32, n_head=4, vocab_size=64, n_positions=16),
    "hf_bert": _hf("BertForSequenceClassification", "BertConfig", max_position_embeddings=16, **_SMALL_LM),
    "hf_llama": _hf("LlamaForCausalLM", "LlamaConfig", num_key_value_heads=2, **_SMALL_LM),
    "hf_qwen2": pytest.param(*_hf("Qwen2ForCausalLM", "Qwen2Config", num_key_value_heads=2, **_SMALL_LM), marks=slow),
    "hf_gpt_neox": pytest.param(*_hf("GPTNeoXForCausalLM", "GPTNeoXConfig", **_SMALL_LM), marks=slow),
    "hf_vit": pytest.param(_hf("ViTForImageClassification", "ViTConfig", image_size=32, patch_size=8, num_labels=10,
                               **{k: v for k, v in _SMALL_LM.items() if k != "vocab_size"})[0], _img, marks=slow),
}


def _params(d):
    out = []
    for k, v in d.items():
        if hasattr(v, "marks"):  # already a pytest.param
            out.append(pytest.param(*v.values, marks=v.marks, id=k))
        else:
            out.append(pytest.param(*v, id=k))
    return out


@pytest.mark.parametrize("build, make_input", _params(MODELS))
def test_groups_traced_and_every_element_preserves_outputs(build, make_input):
    torch.manual_seed(0)
    model = build().eval()
    x = make_input()
    a = analyze(model, x)
    assert a.groups, "no permutation group found"
    # every group alone (non-identity) and joint elements: outputs unchanged within the rounding of the computation
    diff = check_permutation_invariance(model, x, a.groups, seed=0, n_random=2)
    assert np.isfinite(diff)
    # an element really moves parameters, and the model itself is left as it was
    before = {k: v.clone() for k, v in model.state_dict().items()}
    new = apply_permutation(model, random_permutation(a.groups, seed=3))
    assert any(not torch.equal(v, new.state_dict()[k]) for k, v in before.items())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    kinds = {g.kind for g in a.groups}
    if a.attention:
        assert "heads" in kinds


def _by_member(groups):
    return {(m.name, m.axis): g for g in groups for m in g.members}


def test_gpt2_tied_head_fused_qkv_and_attention_sites():
    build, inp = _hf("GPT2LMHeadModel", "GPT2Config", n_layer=2, n_embd=32, n_head=4, vocab_size=64, n_positions=16)
    torch.manual_seed(0)
    model = build().eval()
    assert model.lm_head.weight is model.transformer.wte.weight
    a = analyze(model, inp())
    names = {m.name for g in a.groups for m in g.members}
    assert "lm_head.weight" not in names and "transformer.wte.weight" in names  # one member for the tied tensor
    bm = _by_member(a.groups)
    stream = bm[("transformer.wte.weight", 1)]
    assert stream.kind == "residual" and bm[("transformer.h.1.mlp.c_proj.weight", 1)] is stream  # Conv1D (in, out)
    assert ("transformer.wte.weight", 0) not in bm  # vocabulary pinned
    new = apply_permutation(model, random_permutation(a.groups, seed=1))
    assert new.lm_head.weight is new.transformer.wte.weight  # the tie survives, permuted once
    with torch.no_grad():
        torch.testing.assert_close(new(**inp()).logits, model(**inp()).logits, atol=1e-5, rtol=1e-5)
    s = a.attention[0]
    assert (s.n_heads, s.n_kv_heads, s.head_dim, s.rotary) == (4, 4, 8, False)
    assert s.q.weight == s.k.weight == s.v.weight == "transformer.h.0.attn.c_attn.weight"
    assert (s.q.axis, s.q.outer, s.q.index, s.k.index, s.v.index) == (1, 3, 0, 1, 2)
    assert np.array_equal(np.array(s.k.rows), 32 + np.arange(32).reshape(4, 8))
    assert s.o.weight == "transformer.h.0.attn.c_proj.weight" and s.o.axis == 0
    assert s.residual_group == stream.name
    heads = next(g for g in a.groups if g.name == s.heads_group)
    assert heads.kind == "heads" and heads.size == 4


def test_llama_gqa_rotary_swiglu_rmsnorm():
    build, inp = _hf("LlamaForCausalLM", "LlamaConfig", num_key_value_heads=2, **_SMALL_LM)
    torch.manual_seed(0)
    model = build().eval()
    a = analyze(model, inp())
    bm = _by_member(a.groups)
    p = "model.layers.0."
    # SwiGLU: gate and up rows move together, down reads them
    mlp = bm[(p + "mlp.gate_proj.weight", 0)]
    assert bm[(p + "mlp.up_proj.weight", 0)] is mlp and bm[(p + "mlp.down_proj.weight", 1)] is mlp
    # RMSNorm gains ride on the stream
    stream = bm[("model.embed_tokens.weight", 1)]
    assert bm[(p + "input_layernorm.weight", 0)] is stream and bm[("model.norm.weight", 0)] is stream
    s = a.attention[0]
    assert (s.n_heads, s.n_kv_heads, s.head_dim, s.rotary) == (4, 2, 8, True)
    assert (s.q.weight, s.k.weight, s.v.weight, s.o.weight) == tuple(
        p + f"self_attn.{n}_proj.weight" for n in "qkvo")
    assert np.array(s.k.rows).shape == (2, 8) and np.array(s.q.rows).shape == (4, 8)
    # rotary: the within-head q/k axis is pinned (cos/sin tables); v/o keep theirs
    assert s.qk_group is None and s.vo_group is not None
    # GQA: a kv head moves with its group of query heads
    kv_heads = next(g for g in a.groups if g.name == s.heads_group)
    assert kv_heads.size == 2
    members = {(m.name, m.inner) for m in kv_heads.members}
    assert (p + "self_attn.k_proj.weight", 8) in members and (p + "self_attn.q_proj.weight", 16) in members
    assert s.q_group_heads_group is not None
    check_permutation_invariance(model, inp(), a.groups)


@pytest.mark.parametrize("cls, cfg, kw", [
    ("LlamaForCausalLM", "LlamaConfig", dict(num_key_value_heads=2, **_SMALL_LM)),
    pytest.param("GPT2LMHeadModel", "GPT2Config", dict(n_layer=2, n_embd=32, n_head=4, vocab_size=64, n_positions=16),
                 marks=slow),
])
def test_eager_attention_gives_the_same_structure_as_sdpa(cls, cfg, kw):
    """softmax(q kᵀ) v written out (attn_implementation="eager") is recognized as the same attention."""
    def sites(impl):
        build, inp = _hf(cls, cfg, attn_implementation=impl, **kw)
        torch.manual_seed(0)
        model = build().eval()
        a = analyze(model, inp())
        check_permutation_invariance(model, inp(), a.groups)
        return [(s.q.weight, s.k.weight, s.v.weight, s.o.weight, s.q.rows, s.k.rows, s.v.rows, s.o.rows, s.n_heads,
                 s.n_kv_heads, s.head_dim, s.rotary, s.heads_group, s.vo_group) for s in a.attention], \
            [(g.name, g.size) for g in a.groups]
    eager, sdpa = sites("eager"), sites("sdpa")
    assert eager == sdpa and len(eager[0]) == 2
