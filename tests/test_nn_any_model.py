"""Every model-level tool of lmctheory.nn on three independently written styles of network — a plain
``nn.Sequential`` MLP, a torchvision-style residual CNN with BatchNorm and projection shortcuts, and a timm-style
Vision Transformer (conv patch embedding, class token, ``qkv.unbind``, scaled q, LayerNorm pre-norm blocks) —
none built by this package. A tool that cannot handle a style must say so by name, never return something wrong."""

import copy

import numpy as np
import pytest
import torch

from ._arch_zoo import STYLES
from lmctheory.nn import (
    activation_match,
    check_permutation_invariance,
    estimate_all_layers,
    fit_curve,
    interpolate,
    line_path,
    orthogonal_align,
    permutation_groups,
    permute_model,
    predict_lmc,
    random_permutation,
    weight_match,
)

def _pair(style, seed=0):
    build, shape = STYLES[style].build, STYLES[style].shape
    torch.manual_seed(seed)
    a = build()
    b = build()
    g = torch.Generator().manual_seed(seed + 1)
    X = torch.randn(48, *shape, generator=g)
    y = torch.randint(0, 3, (48,), generator=g)
    # BatchNorm with non-trivial running statistics, then eval: the function the groups must preserve
    for m in (a, b):
        m.train()
        with torch.no_grad():
            m(X)
        m.eval()
    return a, b, X, y


def _same_params(m1, m2):
    s1, s2 = m1.state_dict(), m2.state_dict()
    return all(torch.equal(s1[k], s2[k]) for k in s1 if torch.is_floating_point(s1[k]))


@pytest.mark.parametrize("style", STYLES)
def test_groups_and_random_elements_preserve_the_function(style):
    a, _, X, _ = _pair(style)
    groups = permutation_groups(a, X[:4])
    assert groups and all(g.size >= 2 for g in groups)
    assert check_permutation_invariance(a, X[:8], groups, seed=3) < 1e-4


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("method", ["activation", "weight"])
def test_planted_permutation_is_recovered_exactly(style, method):
    a, _, X, _ = _pair(style)
    groups = permutation_groups(a, X[:4])
    b = permute_model(a, random_permutation(groups, seed=7), groups=groups)
    assert not _same_params(a, b)  # the plant moved something
    match = activation_match(a, b, X, groups=groups) if method == "activation" else weight_match(a, b, groups=groups)
    assert _same_params(permute_model(b, match), a)


@pytest.mark.parametrize("style", STYLES)
def test_realization_cost_estimates_cover_every_linear_and_conv_layer(style):
    a, _, X, _ = _pair(style)
    ests = estimate_all_layers(a, X)
    layers = [n for n, m in a.named_modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    assert sorted(ests) == sorted(layers) and not ests.skipped
    for name, e in ests.items():
        C = e.costs
        assert C.shape[0] == C.shape[1] and np.all(np.diag(C) >= 0), name


@pytest.mark.parametrize("style", STYLES)
def test_interpolation_and_curves_reproduce_the_endpoints(style):
    a, b, X, y = _pair(style)
    res = interpolate(a, b, X, y, lams=[0.0, 0.5, 1.0], reset_bn=X)
    line = line_path(a, b, reset_bn=X).evaluate(X, y, lams=[0.0, 0.5, 1.0])
    np.testing.assert_allclose(res.loss, line.loss, rtol=1e-5, atol=1e-6)
    curve = fit_curve(a, b, X, y, epochs=1, batch_size=16, seed=0)
    ends = curve.evaluate(X, y, lams=[0.0, 1.0])
    np.testing.assert_allclose(ends.loss, res.loss[[0, 2]], rtol=1e-5, atol=1e-6)


def test_predict_lmc_reads_the_mlp_and_names_what_it_cannot_read():
    a, _, X, _ = _pair("sequential_mlp")
    pred = predict_lmc(a, X)
    assert np.isfinite(pred.score) and pred.layers
    for style in ("resnet_batchnorm", "timm_vit"):
        m, _, Xs, _ = _pair(style)
        with pytest.raises(TypeError, match="Conv2d"):
            predict_lmc(m, Xs)


def test_orthogonal_alignment_on_the_timm_vit_and_clear_refusals_elsewhere():
    a, b, X, _ = _pair("timm_vit")
    b_before = copy.deepcopy(b)
    b_al, info = orthogonal_align(a, b, X)
    assert info.residual_after < info.residual_before
    assert info.function_change < 1e-4
    with torch.no_grad():  # the aligned B computes the same function, and the original B is untouched
        torch.testing.assert_close(b_al(X), b(X), rtol=1e-4, atol=1e-4)
    assert _same_params(b, b_before) and not _same_params(b_al, b)
    a, b, X, _ = _pair("resnet_batchnorm")
    with pytest.raises(ValueError, match="pick one with group="):  # two stages: two streams
        orthogonal_align(a, b, X)
    with pytest.raises(ValueError, match="BatchNorm|relu|ReLU|nonlinear"):  # BatchNorm and ReLU on the stream
        orthogonal_align(a, b, X, group="conv1.weight:0")
    a, b, X, _ = _pair("sequential_mlp")
    with pytest.raises(ValueError, match="residual"):
        orthogonal_align(a, b, X)
