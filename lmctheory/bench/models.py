"""Matching on the real libraries' model definitions: one row per model (``python -m lmctheory.bench --only models``).

For each model (torchvision, timm and Hugging Face transformers definitions, random initialization, the tiny
configurations and small inputs of ``tests/test_real_models_matching.py``): the time to trace its groups
(:func:`lmctheory.nn.symmetry.analyze`, capture included: the capture cache is cleared first), the time of
:func:`lmctheory.nn.matching.weight_match` and :func:`lmctheory.nn.matching.activation_match` of the model and a
copy permuted by a random element, and whether each recovers the planted element (every group's permutation, and
the aligned copy's tensors bitwise equal to the model's). One thread, in a fresh subprocess; ``--quick`` runs the
non-slow models of the test file only. There is no baseline (``ratio`` is ``None``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

NAME = "models"


def _img(size=32, n=6):
    import torch

    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(1))


def _ids(n=6, t=8, vocab=64):
    import torch

    return {"input_ids": torch.randint(0, vocab, (n, t), generator=torch.Generator().manual_seed(1))}


def _tv(name, size=32, **kw):
    def build():
        from lmctheory.nn.thirdparty import import_torchvision

        return getattr(import_torchvision().models, name)(num_classes=10, **kw), _img(size)
    return build


def _tv_vit():
    from lmctheory.nn.thirdparty import import_torchvision

    return import_torchvision().models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                                         hidden_dim=16, mlp_dim=32, num_classes=10), _img()


def _timm(name, size=32, **kw):
    def build():
        from lmctheory.nn.thirdparty import import_timm

        return import_timm().create_model(name, pretrained=False, num_classes=10, **kw), _img(size)
    return build


def _mixer(resmlp=False):
    def build():
        from lmctheory.nn.thirdparty import import_timm

        import_timm()
        from timm.models.mlp_mixer import Affine, MlpMixer, ResBlock

        kw = dict(block_layer=ResBlock, norm_layer=Affine, mlp_ratio=4) if resmlp else {}
        return MlpMixer(img_size=32, patch_size=8, num_blocks=2, embed_dim=32, num_classes=10, **kw), _img()
    return build


_SMALL_LM = dict(num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=4, vocab_size=64,
                 max_position_embeddings=16)


def _hf(cls, cfg, make_input=_ids, **kw):
    def build():
        from lmctheory.nn.thirdparty import import_transformers

        tr = import_transformers()
        return getattr(tr, cls)(getattr(tr, cfg)(**kw)), make_input()
    return build


#: name -> (builder, in the quick set, weight-matching restarts)
MODELS = {
    "torchvision resnet18": (_tv("resnet18"), True, 1),
    "torchvision mobilenet_v3_small": (_tv("mobilenet_v3_small"), True, 1),
    "torchvision efficientnet_b0": (_tv("efficientnet_b0"), False, 1),
    "torchvision convnext_tiny": (_tv("convnext_tiny"), False, 1),
    "torchvision swin_t (64x64)": (_tv("swin_t", size=64), False, 1),
    "torchvision ViT (2 layers, width 16)": (_tv_vit, True, 1),
    "timm vit_tiny (2 blocks)": (_timm("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2), True, 1),
    "timm convnext_atto": (_timm("convnext_atto"), True, 1),
    "timm swin (56x56, tiny)": (_timm("swin_tiny_patch4_window7_224", 56, img_size=56, depths=(1, 1),
                                      num_heads=(1, 2), embed_dim=16), True, 1),
    "timm MLP-Mixer (2 blocks)": (_mixer(), True, 3),
    "timm ResMLP (2 blocks)": (_mixer(resmlp=True), True, 1),
    "HF GPT-2 (tied lm_head)": (_hf("GPT2LMHeadModel", "GPT2Config", n_layer=2, n_embd=32, n_head=4, vocab_size=64,
                                    n_positions=16, use_cache=False), True, 1),
    "HF BERT": (_hf("BertModel", "BertConfig", **_SMALL_LM), True, 1),
    "HF Llama (GQA 4/2)": (_hf("LlamaForCausalLM", "LlamaConfig", num_key_value_heads=2, use_cache=False,
                               **_SMALL_LM), True, 1),
    "HF Qwen2 (GQA 4/2)": (_hf("Qwen2ForCausalLM", "Qwen2Config", num_key_value_heads=2, use_cache=False,
                               **_SMALL_LM), False, 1),
    "HF ViT": (_hf("ViTForImageClassification", "ViTConfig", make_input=_img, image_size=32, patch_size=8,
                   num_labels=10, **{k: v for k, v in _SMALL_LM.items()
                                     if k not in ("vocab_size", "max_position_embeddings")}), False, 1),
}


def _recovered(model, b, groups, planted, res):
    import numpy as np
    import torch

    from lmctheory.nn.matching import permute_model

    ok = all(np.array_equal(np.asarray(planted[g.name])[res.perms[g.name]], np.arange(g.size)) for g in groups)
    aligned = permute_model(b, res).state_dict()
    return ok and all(torch.equal(aligned[k], v) for k, v in model.state_dict().items())


def model_row(name: str) -> dict:
    """Trace, weight-match and activation-match one model of :data:`MODELS` against a planted copy."""
    import torch

    from lmctheory.nn._inputs import as_model_inputs
    from lmctheory.nn.matching import activation_match, permute_model, weight_match
    from lmctheory.nn.symmetry import analyze, clear_capture_cache, random_permutation

    build, _, restarts = MODELS[name]
    torch.manual_seed(0)
    model, X = build()
    model.eval()
    example = as_model_inputs(X, "X", model).rows(slice(0, 2))
    example = example.kwargs if example.kwargs else example.args[0]
    clear_capture_cache()
    t = time.perf_counter()
    groups = analyze(model, example).groups
    trace_s = time.perf_counter() - t
    planted = random_permutation(groups, seed=5)
    b = permute_model(model, planted, groups=groups)
    t = time.perf_counter()
    wm = weight_match(model, b, groups=groups, n_random=0, n_restarts=restarts, keep_costs=False)
    wm_s = time.perf_counter() - t
    t = time.perf_counter()
    am = activation_match(model, b, X, groups=groups, n_random=0)
    am_s = time.perf_counter() - t
    return {"model": name, "params": sum(p.numel() for p in model.parameters()), "groups": len(groups),
            "trace_s": trace_s, "weight_match_s": wm_s, "activation_match_s": am_s,
            "weight_recovered": _recovered(model, b, groups, planted, wm),
            "activation_recovered": _recovered(model, b, groups, planted, am)}


def table(quick: bool = False) -> list[dict]:
    """One row per model (run in this process, one thread)."""
    import torch

    torch.set_num_threads(1)
    rows = []
    for name, (_, fast, _) in MODELS.items():
        if quick and not fast:
            continue
        try:
            rows.append(model_row(name))
        except Exception as exc:  # a failure is a row of the table, not the end of it
            rows.append({"model": name, "error": f"{type(exc).__name__}: {exc}"})
    return rows


def format_markdown(rows) -> str:
    """The rows as a Markdown table (README's "Models tested")."""
    out = ["| model | params | groups | trace (s) | weight_match (s) | activation_match (s) | planted element "
           "recovered (weight / activation) |", "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['model']} | | | | | | error: {r['error'][:80]} |")
            continue
        yn = lambda v: "yes" if v else "no"  # noqa: E731
        out.append(f"| {r['model']} | {r['params']:,} | {r['groups']} | {r['trace_s']:.2f} | "
                   f"{r['weight_match_s']:.2f} | {r['activation_match_s']:.2f} | "
                   f"{yn(r['weight_recovered'])} / {yn(r['activation_recovered'])} |")
    return "\n".join(out)


def run(quick: bool) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "lmctheory.bench.models"] + (["--quick"] if quick else []),
                         capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    return [{"name": f"models: {r['model']}", "baseline_s": None, "ratio": None,
             "ours_s": None if "error" in r else r["trace_s"] + r["weight_match_s"] + r["activation_match_s"], **r,
             "notes": r.get("error") or (f"trace {r['trace_s']:.2f} s, weight_match {r['weight_match_s']:.2f} s, "
                                         f"activation_match {r['activation_match_s']:.2f} s, recovered "
                                         f"{r['weight_recovered']}/{r['activation_recovered']}")}
            for r in rows]


if __name__ == "__main__":
    rows = table(quick="--quick" in sys.argv)
    if "--markdown" in sys.argv:
        print(format_markdown(rows))
    print(json.dumps(rows))
