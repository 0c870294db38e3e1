"""Generic activation / weight matching, permute_model and to_standard on traced groups (T-S1, [NI] F.4,
Git Re-Basin)."""

import numpy as np
import pytest
import torch
from torch import nn

from lmctheory.nn import AsymmetricLinear, make_mlp
from lmctheory.nn.groups import apply_permutation, permutation_groups, random_permutation
from lmctheory.nn.matching import GroupMatching, activation_match, permute_model, to_standard, weight_match

from .test_nn_groups import ZOO, _build, make_input

N_SAMPLES = {"seq_mlp": 64, "make_mlp_wmlp": 64}


def _data(key, seed=7):
    return make_input(key, N_SAMPLES.get(key, 24), seed)


def _planted(key):
    model, x = _build(key)
    gs = permutation_groups(model, x)
    planted = random_permutation(gs, seed=11)
    return model, apply_permutation(model, planted, gs), gs, planted


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return [k for k in sa if not torch.equal(sa[k], sb[k])]


# -- (c) a planted permutation is recovered exactly -----------------------------------------------------------
@pytest.mark.parametrize("method", ["activation", "weight"])
@pytest.mark.parametrize("key", sorted(ZOO))
def test_planted_permutation_recovered_exactly(key, method):
    model, b, gs, planted = _planted(key)
    assert _same_state(model, b)  # B really differs from A
    if method == "activation":
        res = activation_match(model, b, _data(key), groups=gs if key == "make_mlp_wmlp" else None)
    else:
        res = weight_match(model, b, example_input=_build(key)[1], n_restarts=2)
    assert isinstance(res, GroupMatching) and res.method == method
    for g in gs:  # B's unit perm[i] is A's unit i: perm is the inverse of the planted element
        np.testing.assert_array_equal(planted[g.name][res.perms[g.name]], np.arange(g.size), err_msg=g.name)
    aligned = permute_model(b, res)
    assert _same_state(model, aligned) == []  # parameters AND buffers (BN running stats, F, D) line up bitwise
    assert res.objective >= res.objective_identity
    if method == "activation":
        fallback = set(res.weight_matched)
        assert fallback == set()  # nn.MultiheadAttention is traced through: its heads are matched on activations
        for name, r in res.results.items():  # every matched pair has the largest possible cost (corr 1 per tap)
            matched = r.correlation[np.arange(len(r.perm)), r.perm]
            live = np.any(r.correlation != 0, axis=1)  # constant units (dead ReLUs) are decided by weights
            assert live.sum() + res.constant_units.get(name, 0) == len(live)
            # (each unit's best: a unit dead in one piece of a concatenation correlates on fewer taps)
            np.testing.assert_allclose(matched[live], r.correlation[live].max(axis=1), rtol=1e-6, err_msg=name)


def test_heads_are_matched_as_blocks():
    model, b, gs, planted = _planted("vit_fused_qkv")
    res = activation_match(model, b, _data("vit_fused_qkv"))
    heads = [g for g in gs if g.kind == "heads"]
    for g in heads:
        C = res.results[g.name].correlation
        # block cost: optimal within-head assignment of the dh=4 units per head pair (q, k, v, head outputs)
        # plus the attention maps' correlation: far above the 1 of a single correlation
        assert C.shape == (2, 2) and C.max() > 4.0
        np.testing.assert_allclose(np.diag(C[:, res.perms[g.name]]), C.max(), rtol=1e-9)


# -- the MLP path is unchanged, and the generic path agrees with it ------------------------------------------
@pytest.mark.parametrize("kind", ["standard", "wmlp"])
def test_mlp_generic_equals_mlp_path(kind):
    a = make_mlp(6, 9, 3, kind=kind, seed=1)
    b = make_mlp(6, 9, 3, kind=kind, seed=2)
    X = torch.randn(80, 6, generator=torch.Generator().manual_seed(0))
    old = activation_match(a, b, X, n_random=5)
    assert isinstance(old, list) and len(old) == 3
    gs = permutation_groups(a, X[:2])
    new = activation_match(a, b, X, groups=gs, n_random=5)
    for r_old, g in zip(old, gs):
        np.testing.assert_array_equal(new.perms[g.name], r_old.perm)
        np.testing.assert_allclose(new.results[g.name].correlation, r_old.correlation, rtol=0, atol=1e-12)
    pb_old = permute_model(b, [r.perm for r in old])  # standard model
    pb_new = permute_model(b, new)  # keeps its asymmetric layers, with F/D permuted
    with torch.no_grad():
        torch.testing.assert_close(pb_new(X), b(X), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(pb_old(X), pb_new(X), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(to_standard(pb_new)(X), pb_old(X), atol=1e-5, rtol=1e-5)
    # a dict of perms on an MLP: groups traced from the known input width
    pb_dict = permute_model(b, {g.name: new.perms[g.name] for g in gs})
    assert _same_state(pb_dict, pb_new) == []


# -- independent models: matching improves the objective and preserves B's function ---------------------------
@pytest.mark.parametrize("key", ["resnet_bn", "vit_fused_qkv", "glu_einsum"])
def test_independent_models_alignment(key):
    a, _ = _build(key, seed=0)
    b, _ = _build(key, seed=3)
    X = _data(key)
    am = activation_match(a, b, X, n_random=20)
    wm = weight_match(a, b, example_input=X[:2], n_restarts=2, seed=1)
    assert wm.objective >= wm.objective_identity
    for name, r in am.results.items():
        assert r.objective_optimal >= r.objective_identity - 1e-9
        assert r.objective_optimal >= r.objective_random_mean
    with torch.no_grad():
        for res in (am, wm):
            torch.testing.assert_close(permute_model(b, res)(X), b(X), atol=1e-5, rtol=1e-5)


# -- to_standard on any model -----------------------------------------------------------------------------
def test_to_standard_generic():
    model, _ = _build("asym_cnn")
    X = _data("asym_cnn")
    std = to_standard(model)
    assert [type(m).__name__ for m in std.children()] == ["Conv2d", "Conv2d", "Linear", "Linear"]
    assert std.c2.stride == (2, 2) and isinstance(model.c1, nn.Module) and hasattr(model.c1, "F")
    with torch.no_grad():
        torch.testing.assert_close(std(X), model(X), atol=1e-6, rtol=1e-6)
    # two permuted asymmetric models have different F/D; their standard forms can be interpolated
    gs = permutation_groups(model, X[:2])
    b = apply_permutation(model, random_permutation(gs, 2), gs)
    sa, sb = to_standard(model).state_dict(), to_standard(b).state_dict()
    assert list(sa) == list(sb) and all(sa[k].shape == sb[k].shape for k in sa)
    lin = AsymmetricLinear(3, 4, "syre", sigma_f=0.7)
    s = to_standard(lin)
    x = torch.randn(5, 3)
    with torch.no_grad():
        torch.testing.assert_close(s(x), lin(x))
    with pytest.raises(TypeError, match="model must be"):
        to_standard("net")


# -- (e) bad inputs -----------------------------------------------------------------------------------------
def test_generic_matching_bad_inputs():
    a, x = _build("plain_cnn")
    b, _ = _build("plain_cnn", seed=1)
    X = _data("plain_cnn")
    with pytest.raises(TypeError, match="model_b must be"):
        activation_match(a, None, X)
    with pytest.raises(TypeError, match="model_a must be"):
        weight_match("a", b, example_input=x)
    with pytest.raises(ValueError, match="same parameters and buffers"):
        activation_match(a, _build("resnet_bn")[0], X)
    other = _build("plain_cnn")[0]
    other.fc2 = nn.Linear(9, 5)
    with pytest.raises(ValueError, match="same shapes: 'fc2.weight'"):
        weight_match(a, other, example_input=x)
    with pytest.raises(ValueError, match="at least 2 samples"):
        activation_match(a, b, X[:1])
    with pytest.raises(TypeError, match=r"X\[1\] must be a torch tensor"):
        activation_match(a, b, (X, "x"))
    with pytest.raises(TypeError, match="groups must be a list of PermutationGroup"):
        activation_match(a, b, X, groups="all")
    with pytest.raises(TypeError, match="groups is required"):
        weight_match(a, b)
    with pytest.raises(ValueError, match="n_restarts"):
        weight_match(a, b, example_input=x, n_restarts=0)
    with pytest.raises(TypeError, match="groups is required to permute"):
        permute_model(b, {"fc1.weight:0": np.arange(9)})
    gs = permutation_groups(a, x)
    with pytest.raises(ValueError, match="must be a permutation"):
        permute_model(b, {gs[0].name: np.zeros(gs[0].size, dtype=int)}, gs)
