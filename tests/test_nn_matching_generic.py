"""Generic activation / weight matching, permute_model and to_standard on traced groups (T-S1, [NI] F.4,
Git Re-Basin)."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from lmctheory.nn import AsymmetricLinear, make_mlp
from lmctheory.nn.symmetry import apply_permutation, permutation_groups, random_permutation
from lmctheory.nn.matching import GroupMatching, activation_match, permute_model, to_standard, weight_match

from ._arch_zoo import ZOO, make_input
from ._arch_zoo import build as _build

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
        res = activation_match(model, b, _data(key), groups=gs if key == "make_mlp_wmlp" else None, batch_size=10)
    else:
        res = weight_match(model, b, X=_build(key)[1], n_restarts=2)
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


# -- the package's MLP goes through the one generic path -------------------------------------------------------
@pytest.mark.parametrize("kind", ["standard", "wmlp"])
def test_mlp_matching_is_the_generic_path(kind):
    from lmctheory.alignment import activation_matching
    from lmctheory.nn import collect_activations

    a = make_mlp(6, 9, 3, kind=kind, seed=1)
    b = make_mlp(6, 9, 3, kind=kind, seed=2)
    X = torch.randn(80, 6, generator=torch.Generator().manual_seed(0))
    res = activation_match(a, b, X, n_random=5, batch_size=16)  # 5 batches: streamed statistics
    assert isinstance(res, GroupMatching) and len(res.groups) == 3 and res.n_samples == 80
    # the streamed correlations equal the two-pass correlations of the collected hidden activations
    for g, ha, hb in zip(res.groups, collect_activations(a, X), collect_activations(b, X)):
        ref = activation_matching(ha, hb, n_random=5)
        np.testing.assert_allclose(res.results[g.name].correlation, ref.correlation, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(res.perms[g.name], ref.perm)
    pb = permute_model(b, res)  # keeps its asymmetric layers, with F/D permuted
    with torch.no_grad():
        torch.testing.assert_close(pb(X), b(X), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(to_standard(pb)(X), b(X), atol=1e-5, rtol=1e-5)
    # a dict of perms on an MLP: groups traced from the known input width
    pb_dict = permute_model(b, {g.name: res.perms[g.name] for g in res.groups})
    assert _same_state(pb_dict, pb) == []


# -- independent models: matching improves the objective and preserves B's function ---------------------------
@pytest.mark.parametrize("key", ["resnet_bn", "vit_fused_qkv", "glu_einsum"])
def test_independent_models_alignment(key):
    a, _ = _build(key, seed=0)
    b, _ = _build(key, seed=3)
    X = _data(key)
    am = activation_match(a, b, X, n_random=20)
    wm = weight_match(a, b, X=X[:2], n_restarts=2, seed=1)
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
        weight_match("a", b, X=x)
    with pytest.raises(ValueError, match="same architecture: <root> is PlainCNN in model_a and ResNet"):
        activation_match(a, _build("resnet_bn")[0], X)
    other = _build("plain_cnn")[0]
    other.fc2 = nn.Linear(9, 5)
    with pytest.raises(ValueError, match="fc2"):
        weight_match(a, other, X=x)
    with pytest.raises(ValueError, match="differ in .*float64"):  # float32 vs float64 models
        weight_match(a, copy.deepcopy(b).double(), X=x)
    with pytest.raises(ValueError, match="at least 2 samples"):
        activation_match(a, b, X[:1])
    with pytest.raises(TypeError, match="X does not match PlainCNN.forward"):
        activation_match(a, b, (X, X))
    with pytest.raises(TypeError, match="X must be a torch tensor, a tuple"):
        activation_match(a, b, "x")
    with pytest.raises(TypeError, match="groups must be a list of PermutationGroup"):
        activation_match(a, b, X, groups="all")
    with pytest.raises(TypeError, match="groups is required"):
        weight_match(a, b)
    with pytest.raises(ValueError, match="n_restarts"):
        weight_match(a, b, X=x, n_restarts=0)
    with pytest.raises(TypeError, match="groups is required to permute"):
        permute_model(b, {"fc1.weight:0": np.arange(9)})
    with pytest.raises(TypeError):
        activation_match(a, b, X, None)  # options are keyword-only
    gs = permutation_groups(a, x)
    with pytest.raises(ValueError, match="must be a permutation"):
        permute_model(b, {gs[0].name: np.zeros(gs[0].size, dtype=int)}, groups=gs)


def test_non_finite_weight_is_named():
    a, x = _build("plain_cnn")
    b, _ = _build("plain_cnn", seed=1)
    with torch.no_grad():
        b.fc1.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="model_b has a non-finite .* 'fc1.weight'"):
        weight_match(a, b, X=x)
    with pytest.raises(ValueError, match="model_b has a non-finite .* 'fc1.weight'"):
        activation_match(a, b, _data("plain_cnn"))


def test_zero_width_layer_is_refused():
    a = nn.Sequential(nn.Linear(3, 0), nn.ReLU(), nn.Linear(0, 2))
    b = nn.Sequential(nn.Linear(3, 0), nn.ReLU(), nn.Linear(0, 2))
    with pytest.raises(ValueError, match="empty .*zero-width.* '0.weight'"):
        weight_match(a, b, X=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="empty .*zero-width"):
        activation_match(a, b, torch.zeros(4, 3))


# -- issue-22 reliability: eval mode, DataLoader, streaming, constant groups --------------------------------------
class _DropMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.drop, self.fc2 = nn.Linear(5, 16), nn.Dropout(0.5), nn.Linear(16, 2)

    def forward(self, x):
        return self.fc2(self.drop(torch.tanh(self.fc1(x))))


def test_dropout_is_off_and_modes_restored():
    torch.manual_seed(0)
    a = _DropMLP()
    gs = permutation_groups(a, torch.zeros(2, 5))
    planted = random_permutation(gs, seed=3)
    b = permute_model(a, planted, groups=gs)
    a.train(), b.train()
    X = torch.randn(64, 5, generator=torch.Generator().manual_seed(1))
    res = activation_match(a, b, X)  # with dropout active the correlations would not be 1 and the plant is lost
    g = gs[0]
    np.testing.assert_array_equal(planted[g.name][res.perms[g.name]], np.arange(g.size))
    np.testing.assert_allclose(np.diag(res.results[g.name].correlation[:, res.perms[g.name]]), 1.0, rtol=1e-9)
    assert a.training and b.training and a.drop.training and b.drop.training


def test_dataloader_equals_tensor():
    from torch.utils.data import DataLoader, TensorDataset

    model, b, gs, planted = _planted("resnet_bn")
    X = _data("resnet_bn")
    y = torch.zeros(len(X), dtype=torch.long)
    full = activation_match(model, b, X, n_random=3)
    loader = DataLoader(TensorDataset(X, y), batch_size=5)  # (x, y) batches: the inputs are used
    streamed = activation_match(model, b, loader, n_random=3)
    plain = activation_match(model, b, DataLoader(X, batch_size=7), n_random=3)  # batches of tensors
    for res in (streamed, plain):
        assert res.n_samples == len(X)
        for g in gs:
            np.testing.assert_array_equal(res.perms[g.name], full.perms[g.name])
            np.testing.assert_allclose(res.results[g.name].correlation, full.results[g.name].correlation,
                                       atol=1e-9)
    with pytest.raises(ValueError, match="yielded no batch"):
        activation_match(model, b, DataLoader(X[:0], batch_size=2))


def test_all_constant_group_is_reported():
    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2))
    with torch.no_grad():
        a[0].bias.fill_(-100.0)  # every unit of the first hidden layer is dead on X, so the second is constant
    gs = permutation_groups(a, torch.zeros(2, 4))
    planted = random_permutation(gs, seed=2)
    b = permute_model(a, planted, groups=gs)
    X = torch.randn(40, 4, generator=torch.Generator().manual_seed(0))
    with pytest.warns(UserWarning, match="every unit of group '[02].weight:0' is constant on X"):
        res = activation_match(a, b, X)
    assert res.weight_matched == ("0.weight:0", "2.weight:0") and res.results == {}
    assert all("constant on X" in res.notes[g.name] for g in gs)
    for g in gs:  # the weights still recover the plant of the dead group
        np.testing.assert_array_equal(planted[g.name][res.perms[g.name]], np.arange(g.size))


def test_activation_memory_is_bounded():
    """1,600 images 3×32×32 through a small CNN: the streamed statistics keep the peak far below the size of
    all activations (keeping every activation would take about 4 GB at this size)."""
    import tracemalloc

    from lmctheory.bench.matching import small_cnn  # the network the memory benchmark measures

    torch.manual_seed(0)
    a, b = small_cnn(), small_cnn()
    X = torch.randn(1600, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    acts = 2 * 2 * X.shape[0] * 32 * 32 * 32 * 8  # two models, two hidden maps, float64
    activation_match(a, b, X[:64], batch_size=64, n_random=2)  # graph capture (cached per batch shape) not counted
    tracemalloc.start()
    res = activation_match(a, b, X, batch_size=64, n_random=2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert res.n_samples == 1600
    assert peak < acts / 20, (peak, acts)


def test_device_option_gives_the_same_result():
    """``device=`` moves the cost computations (CPU here; the result must not depend on where they ran)."""
    a, x = _build("resnet_bn", seed=0)
    b, _ = _build("resnet_bn", seed=3)
    X = _data("resnet_bn")
    for fn in (lambda **kw: weight_match(a, b, X=x, **kw), lambda **kw: activation_match(a, b, X, **kw)):
        r0, r1 = fn(), fn(device="cpu")
        assert r0.objective == r1.objective
        assert all(np.array_equal(r0.perms[k], r1.perms[k]) for k in r0.perms)


def test_permute_model_takes_anything_carrying_groups():
    """A group element (a mapping name -> perm carrying ``.groups``), a GroupMatching, or a dict with groups=."""
    model, b, gs, planted = _planted("resnet_bn")

    class Element(dict):
        groups = tuple(gs)

    assert _same_state(permute_model(model, Element(planted)), b) == []
    assert _same_state(permute_model(model, planted, groups=gs), b) == []
    back = weight_match(model, b, groups=gs)
    assert _same_state(permute_model(b, back), model) == []


def test_skipping_unchanged_gains_is_exact():
    """The engine skips a group none of whose neighbours changed since its last visit: same result as without."""
    from lmctheory.alignment import permutation_coordinate_descent
    from lmctheory.nn.matching import _WeightObjective

    a, _ = _build("resnet_bn", seed=0)
    b, _ = _build("resnet_bn", seed=3)
    gs = permutation_groups(a, _data("resnet_bn")[:2])
    wo = _WeightObjective(a, b, gs)
    sizes = {g.name: g.size for g in gs}
    runs = [permutation_coordinate_descent(sizes, wo.gain, objective=wo.objective, neighbors=nb, n_restarts=3, seed=4)
            for nb in (None, wo.neighbors)]
    assert runs[0].restart_objectives == runs[1].restart_objectives and runs[0].sweeps == runs[1].sweeps
    assert all(np.array_equal(runs[0].perms[k], runs[1].perms[k]) for k in sizes)
    res = weight_match(a, b, groups=gs, n_restarts=3, seed=4)
    # the n_restarts descents of the engine, then one from the graph-order solve; the best wins
    assert res.restart_objectives[:3] == runs[0].restart_objectives
    assert res.objective == max(res.restart_objectives) >= max(runs[0].restart_objectives)
    assert res.objective > res.objective_identity
