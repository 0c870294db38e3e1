"""Matching on the real libraries' model definitions (torchvision, timm, Hugging Face transformers; random init).

For each model: the groups are traced (a refusal of the symmetry engine fails the test), a random element leaves
the outputs unchanged, and a planted element is recovered exactly by weight matching and by activation matching
(B's parameters and buffers, aligned, equal A's bitwise). Tiny configurations and small inputs; the heavier
definitions are marked slow, and every family keeps a fast representative (CNNs with depthwise convolutions,
ConvNeXt, Swin, ViTs, MLP-mixers, GPT-2 with its tied ``lm_head``, BERT, Llama with grouped-query attention).
"""

import numpy as np
import pytest
import torch

from lmctheory.nn._inputs import as_model_inputs, call_model, eval_mode, flatten_output
from lmctheory.nn.matching import GroupMatching, activation_match, permute_model, weight_match
from lmctheory.nn.symmetry import permutation_groups, random_permutation

from ._thirdparty import load_timm, load_torchvision, load_transformers

slow = pytest.mark.slow


def _img(size=32, n=6):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(1))


def _ids(n=6, t=8, vocab=64):
    return {"input_ids": torch.randint(0, vocab, (n, t), generator=torch.Generator().manual_seed(1))}


def _torchvision(name, size=32, **kw):
    def build():
        return getattr(load_torchvision().models, name)(num_classes=10, **kw), _img(size)
    return build


def _tv_vit():
    tv = load_torchvision()
    return tv.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16,
                                       mlp_dim=32, num_classes=10), _img()


def _timm(name, size=32, **kw):
    def build():
        return load_timm().create_model(name, pretrained=False, num_classes=10, **kw), _img(size)
    return build


def _mixer(resmlp=False):
    def build():
        load_timm()
        from timm.models.mlp_mixer import Affine, MlpMixer, ResBlock

        kw = dict(block_layer=ResBlock, norm_layer=Affine, mlp_ratio=4) if resmlp else {}
        return MlpMixer(img_size=32, patch_size=8, num_blocks=2, embed_dim=32, num_classes=10, **kw), _img()
    return build


_SMALL_LM = dict(num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=4, vocab_size=64,
                 max_position_embeddings=16)


def _hf(cls, cfg, make_input=_ids, **kw):
    def build():
        tr = load_transformers()
        return getattr(tr, cls)(getattr(tr, cfg)(**kw)), make_input()
    return build


MODELS = {
    # torchvision
    "torchvision_resnet18": _torchvision("resnet18"),
    "torchvision_mobilenet_v3_small": _torchvision("mobilenet_v3_small"),
    "torchvision_efficientnet_b0": pytest.param(_torchvision("efficientnet_b0"), marks=slow),
    "torchvision_convnext_tiny": pytest.param(_torchvision("convnext_tiny"), marks=slow),
    "torchvision_swin_t": pytest.param(_torchvision("swin_t", size=64), marks=slow),
    "torchvision_vit": _tv_vit,
    # timm
    "timm_vit": _timm("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2),
    "timm_convnext_atto": _timm("convnext_atto"),
    "timm_swin": _timm("swin_tiny_patch4_window7_224", 56, img_size=56, depths=(1, 1), num_heads=(1, 2),
                       embed_dim=16),
    "timm_mixer": _mixer(),
    "timm_resmlp": _mixer(resmlp=True),
    # Hugging Face transformers
    "hf_gpt2": _hf("GPT2LMHeadModel", "GPT2Config", n_layer=2, n_embd=32, n_head=4, vocab_size=64, n_positions=16,
                   use_cache=False),
    "hf_bert": _hf("BertModel", "BertConfig", **_SMALL_LM),
    "hf_llama_gqa": _hf("LlamaForCausalLM", "LlamaConfig", num_key_value_heads=2, use_cache=False, **_SMALL_LM),
    "hf_qwen2": pytest.param(_hf("Qwen2ForCausalLM", "Qwen2Config", num_key_value_heads=2, use_cache=False,
                                 **_SMALL_LM), marks=slow),
    "hf_vit": pytest.param(_hf("ViTForImageClassification", "ViTConfig", make_input=_img, image_size=32, patch_size=8,
                               num_labels=10, **{k: v for k, v in _SMALL_LM.items()
                                                 if k not in ("vocab_size", "max_position_embeddings")}),
                           marks=slow),
}


#: weight matching is a local descent; restarts where one descent stops short of the planted element
RESTARTS = {"timm_mixer": 3}


def _build(key):
    v = MODELS[key]
    return (v.values[0] if hasattr(v, "values") else v)()


def _setup(key):
    torch.manual_seed(0)
    model, X = _build(key)
    model.eval()
    example = as_model_inputs(X, "X", model).rows(slice(0, 2))
    example = example.kwargs if example.kwargs else example.args[0]
    groups = permutation_groups(model, example)  # a refusal (UnsupportedOperationError) fails the test
    assert groups, key
    planted = random_permutation(groups, seed=5)
    b = permute_model(model, planted, groups=groups)
    return model, b, X, groups, planted


def _outputs(model, X):
    with torch.no_grad(), eval_mode(model):
        return flatten_output(call_model(model, as_model_inputs(X, "X", model)))


def _recovered(model, b, groups, planted, res):
    """Names of the groups whose planted permutation was not recovered, and of the tensors left unequal."""
    assert isinstance(res, GroupMatching)
    missed = [g.name for g in groups  # B's unit perm[i] is A's unit i
              if not np.array_equal(np.asarray(planted[g.name])[res.perms[g.name]], np.arange(g.size))]
    aligned = permute_model(b, res).state_dict()
    unequal = [k for k, v in model.state_dict().items() if not torch.equal(aligned[k], v)]
    return missed, unequal


@pytest.mark.parametrize("key", [pytest.param(k, marks=v.marks, id=k) if hasattr(v, "marks") else
                                 pytest.param(k, id=k) for k, v in MODELS.items()])
def test_planted_element_recovered(key):
    model, b, X, groups, planted = _setup(key)
    sa = model.state_dict()
    assert any(not torch.equal(sa[k], v) for k, v in b.state_dict().items())  # the plant moved something
    for ya, yb in zip(_outputs(model, X), _outputs(b, X)):  # the element is a symmetry
        torch.testing.assert_close(yb, ya, rtol=1e-4, atol=1e-4)
    wm = weight_match(model, b, groups=groups, n_random=2, n_restarts=RESTARTS.get(key, 1))
    assert _recovered(model, b, groups, planted, wm) == ([], []), "weight matching"
    am = activation_match(model, b, X, groups=groups, n_random=2)
    assert _recovered(model, b, groups, planted, am) == ([], []), "activation matching"


def test_matching_on_cpu_device():
    """``device="cpu"`` (the models' own device here): the same permutations as the default."""
    model, b, X, groups, planted = _setup("hf_gpt2")
    for fn, args in ((weight_match, ()), (activation_match, (X,))):
        default = fn(model, b, *args, groups=groups, n_random=0)
        on_cpu = fn(model, b, *args, groups=groups, n_random=0, device="cpu")
        for g in groups:
            np.testing.assert_array_equal(on_cpu.perms[g.name], default.perms[g.name], err_msg=g.name)
        assert _recovered(model, b, groups, planted, on_cpu) == ([], [])
