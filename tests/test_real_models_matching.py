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

from lmctheory.bench import models as bench_models
from lmctheory.nn._inputs import as_model_inputs, call_model, eval_mode, flatten_output
from lmctheory.nn.matching import GroupMatching, activation_match, permute_model, weight_match
from lmctheory.nn.symmetry import permutation_groups, random_permutation

slow = pytest.mark.slow


def _param(name, entry):
    build, quick, restarts = entry
    return pytest.param(name, id=name.split(" (")[0].replace(" ", "_"), marks=() if quick else slow)


#: the real models, from the one registry the models benchmark also measures (lmctheory.bench.models):
#: name -> (builder, in the quick set, weight-matching restarts); the non-quick ones are marked slow
MODELS = bench_models.MODELS


def _build(key):
    try:
        return MODELS[key][0]()
    except ImportError as err:  # a test-only library that is not installed
        pytest.skip(str(err))


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


@pytest.mark.parametrize("key", [_param(k, v) for k, v in MODELS.items()])
def test_planted_element_recovered(key):
    model, b, X, groups, planted = _setup(key)
    sa = model.state_dict()
    assert any(not torch.equal(sa[k], v) for k, v in b.state_dict().items())  # the plant moved something
    for ya, yb in zip(_outputs(model, X), _outputs(b, X)):  # the element is a symmetry
        torch.testing.assert_close(yb, ya, rtol=1e-4, atol=1e-4)
    wm = weight_match(model, b, groups=groups, n_random=2, n_restarts=MODELS[key][2])
    assert _recovered(model, b, groups, planted, wm) == ([], []), "weight matching"
    am = activation_match(model, b, X, groups=groups, n_random=2)
    assert _recovered(model, b, groups, planted, am) == ([], []), "activation matching"


def test_matching_on_cpu_device():
    """``device="cpu"`` (the models' own device here): the same permutations as the default."""
    model, b, X, groups, planted = _setup("HF GPT-2 (tied lm_head)")
    for fn, args in ((weight_match, ()), (activation_match, (X,))):
        default = fn(model, b, *args, groups=groups, n_random=0)
        on_cpu = fn(model, b, *args, groups=groups, n_random=0, device="cpu")
        for g in groups:
            np.testing.assert_array_equal(on_cpu.perms[g.name], default.perms[g.name], err_msg=g.name)
        assert _recovered(model, b, groups, planted, on_cpu) == ([], [])
