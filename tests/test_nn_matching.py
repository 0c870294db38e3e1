"""Activation matching and permutations of torch MLPs (T-S1)."""

import numpy as np
import pytest
import torch

from lmctheory.nn import GroupMatching, activation_match, collect_activations, make_mlp, permute_model, to_standard
from lmctheory.nn.symmetry import permutation_groups


@pytest.mark.parametrize("kind", ["standard", "wmlp"])
@pytest.mark.parametrize("norm", ["layernorm", None])
def test_matched_permutation_preserves_function(kind, norm):
    X = torch.randn(200, 10, generator=torch.Generator().manual_seed(0))
    a = make_mlp(10, 12, 3, kind=kind, norm=norm, seed=1)
    b = make_mlp(10, 12, 3, kind=kind, norm=norm, seed=2)
    with torch.no_grad():  # non-trivial LayerNorm gains/biases, so forgetting to permute them is caught
        g = torch.Generator().manual_seed(3)
        for nrm in b.norms:
            for p in nrm.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
    res = activation_match(a, b, X, n_random=10)
    assert isinstance(res, GroupMatching) and len(res.groups) == 3 and list(res.results) == [g.name for g in res.groups]
    assert any(not np.array_equal(p, np.arange(12)) for p in res.perms.values())  # a non-trivial permutation
    pb = to_standard(permute_model(b, res))
    assert all(isinstance(layer, torch.nn.Linear) for layer in pb.layers)
    with torch.no_grad():
        torch.testing.assert_close(pb(X), b(X), atol=1e-5, rtol=1e-5)
    # aligned B's units now line up with A's: its identity objective equals the optimum
    again = activation_match(to_standard(a), pb, X, n_random=10)
    for r0, r1 in zip(res.results.values(), again.results.values()):
        assert np.isclose(r1.objective_identity, r0.objective_optimal, rtol=1e-6)
        assert r0.objective_optimal >= r0.objective_identity - 1e-12


def test_wrong_permutation_changes_function():
    # the test above can fail: permuting rows without the matching columns breaks the function
    X = torch.randn(50, 6)
    m = make_mlp(6, 8, 2, n_layers=2, seed=0)
    p = np.roll(np.arange(8), 1)
    bad = to_standard(m)
    with torch.no_grad():
        bad.layers[0].weight.copy_(bad.layers[0].weight[torch.as_tensor(p)])
        assert not torch.allclose(bad(X), m(X), atol=1e-3)
        g = permutation_groups(m, X[:2])
        torch.testing.assert_close(permute_model(m, {g[0].name: p}, groups=g)(X), m(X), atol=1e-5, rtol=1e-5)


def test_to_standard_keeps_function_and_collect_shapes():
    X = torch.randn(30, 7)
    m = make_mlp(7, 9, 4, n_layers=3, kind="syre", sigma_f=0.5, seed=0)
    s = to_standard(m)
    with torch.no_grad():
        torch.testing.assert_close(s(X), m(X), atol=1e-5, rtol=1e-5)
    acts = collect_activations(m, X)
    assert [a.shape for a in acts] == [(30, 9), (30, 9)] and acts[0].dtype == np.float64


def test_matching_bad_inputs():
    m = make_mlp(5, 6, 2, n_layers=3)
    with pytest.raises(ValueError, match="shape"):
        collect_activations(m, torch.randn(4, 3))
    with pytest.raises(TypeError, match="MLP"):
        collect_activations(torch.nn.Linear(5, 2), torch.randn(4, 5))
    with pytest.raises(ValueError, match="one permutation per group"):
        permute_model(m, [np.arange(6)])
    with pytest.raises(ValueError, match="permutation"):
        permute_model(m, [np.arange(6), np.zeros(6, dtype=int)])
    with pytest.raises(ValueError, match="layers.0"):
        activation_match(m, make_mlp(5, 7, 2, n_layers=3), torch.randn(10, 5))
