"""Realization-cost estimates on torch layers agree with the core (T-10, T-E.4, T-E.5)."""

import numpy as np
import pytest
import torch
from torch import nn

import lmctheory as lt
from lmctheory.nn import AsymmetricLinear, make_mlp
from lmctheory.nn.estimate import (estimate_all_layers, estimate_realization_costs, record_layer_inputs,
                                   ridge_realization_cost)
from lmctheory.synthetic import asymmetric_layer, random_basis


def _subspace_inputs(N, d, k, seed=0):
    rng = np.random.default_rng(seed)
    U = random_basis(d, k, seed=seed)
    z = rng.standard_normal((N, k)) * np.linspace(2.0, 1.0, k)
    return z @ U.T, U, z


@pytest.mark.parametrize("mode", ["wasym", "syre", "sparse", "standard"])
def test_layer_estimate_equals_core(mode):
    torch.manual_seed(0)
    kw = {"wasym": dict(fixed_per_row=3), "sparse": dict(keep_prob=0.7)}.get(mode, {})
    layer = AsymmetricLinear(16, 10, mode, **kw)
    X, U, _ = _subspace_inputs(300, 16, 5)
    est = estimate_realization_costs(layer, torch.as_tensor(X, dtype=torch.float32), 0.999)
    E, F, D = layer.export()
    Ub, ratio = lt.subspace_basis(np.asarray(torch.as_tensor(X, dtype=torch.float32), float), 0.999)
    C = lt.realization_costs(E, F, D, Ub)
    assert est.k == Ub.shape[1] == 5 and np.isclose(est.ratio, ratio)
    np.testing.assert_allclose(est.costs, C, rtol=1e-10)
    np.testing.assert_allclose(est.swap_costs, lt.swap_costs(C), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(est.centers, lt.projected_centers(F, Ub), atol=1e-12)
    np.testing.assert_allclose(est.gram_spectra, lt.gram_spectra(D, Ub), atol=1e-12)
    assert np.isclose(est.coherence, lt.subspace_coherence(Ub))
    assert np.isclose(est.min_center_gap, lt.min_center_gap(est.centers))
    # the same numbers from the explicit tuple and from a known basis
    est2 = estimate_realization_costs((E, F, D), X, 0.999)
    np.testing.assert_allclose(est2.costs, est.costs, rtol=1e-6)
    est3 = estimate_realization_costs(layer, X, basis=U)
    np.testing.assert_allclose(est3.costs, lt.realization_costs(E, F, D, U), rtol=1e-10)
    assert np.isnan(est3.ratio)


def test_nn_linear_is_standard_layer():
    lin = torch.nn.Linear(12, 6)
    X, U, _ = _subspace_inputs(200, 12, 4, seed=1)
    est = estimate_realization_costs(lin, X, basis=U)
    W = lin.weight.detach().double().numpy()
    np.testing.assert_allclose(est.costs, lt.realization_costs(W, np.zeros_like(W), np.ones_like(W), U), rtol=1e-10)
    # standard layer: R_i(a_j) = ‖a_j‖² (S_i = I, v_i = 0)
    A = W @ U
    np.testing.assert_allclose(est.costs, np.broadcast_to((A ** 2).sum(1), (6, 6)), rtol=1e-8)


def test_record_and_all_layers():
    m = make_mlp(8, 12, 3, n_layers=3, kind="wmlp", seed=0)
    X = torch.randn(150, 8, generator=torch.Generator().manual_seed(0))
    rec = record_layer_inputs(m, X)
    assert list(rec) == ["layers.0", "layers.1", "layers.2"]
    np.testing.assert_allclose(rec["layers.0"], X.double().numpy())
    assert rec["layers.1"].shape == (150, 12)
    with torch.no_grad():
        _, hidden = m(X, return_hidden=True)
    np.testing.assert_allclose(rec["layers.2"], hidden[-1].double().numpy())
    ests = estimate_all_layers(m, X, explained_variance=0.9)
    assert list(ests) == list(rec) and ests["layers.2"].costs.shape == (3, 3)
    assert all(e.ratio >= 0.9 for e in ests.values())


def test_estimate_bad_inputs():
    layer = AsymmetricLinear(10, 4, "wasym")
    with pytest.raises(ValueError, match=r"\(N, 10\)"):
        estimate_realization_costs(layer, np.random.randn(50, 9))
    with pytest.raises(TypeError, match="nn.Linear"):
        estimate_realization_costs(torch.nn.Conv1d(1, 1, 1), np.random.randn(50, 10))
    with pytest.raises(ValueError, match="too few samples"):
        estimate_realization_costs(layer, np.random.default_rng(0).standard_normal((4, 10)), 0.999)
    with pytest.raises(ValueError, match="explained_variance"):
        estimate_realization_costs(layer, np.random.randn(50, 10), 1.5)
    with pytest.raises(ValueError, match="at least 2 neurons"):
        estimate_realization_costs(torch.nn.Linear(10, 1), np.random.randn(50, 10))
    with pytest.raises(ValueError, match="finite"):
        estimate_realization_costs(layer, np.full((50, 10), np.nan))
    with pytest.raises(TypeError, match="record"):
        record_layer_inputs(torch.nn.ReLU(), torch.randn(3, 2))


def test_ridge_identity_is_thm_e4_equality_and_ridgeless_limit():
    lay = asymmetric_layer(6, 12, "wasym", fixed_per_row=3, sigma_f=1.0, seed=2)
    X, U, z = _subspace_inputs(400, 12, 4, seed=3)
    E, F, D = lay.effective, lay.fixed, lay.diag
    i, j = 0, 1
    g = X @ E[j]  # neuron j's (linear) function
    Sz = z.T @ z / len(z)
    for gamma in (1e-1, 1.0):
        rc = ridge_realization_cost((E, F, D), i, g, X, gamma, "identity", bias=None)
        want = lt.relaxed_cost_bound(U.T @ E[j], F[i], D[i], U, Sz, gamma)
        assert np.isclose(rc.cost, want, rtol=1e-8)
        assert np.isclose(rc.cost, rc.fit / gamma + rc.norm)
    hard = lt.realization_costs(E, F, D, U)[i, j]
    small = ridge_realization_cost((E, F, D), i, g, X, 1e-9, "identity", bias=None).cost
    assert np.isclose(small, hard, rtol=1e-4)


@pytest.mark.parametrize("activation", ["gelu", "relu", "tanh"])
def test_ridge_nonlinear_is_bounded_by_feasible_points(activation):
    lay = asymmetric_layer(5, 10, "syre", sigma_f=0.5, seed=4)
    X, U, _ = _subspace_inputs(300, 10, 3, seed=5)
    E, F, D = lay.effective, lay.fixed, lay.diag
    act = {"gelu": torch.nn.functional.gelu, "relu": torch.relu, "tanh": torch.tanh}[activation]
    gi = act(torch.as_tensor(X @ E[0])).numpy()
    own = ridge_realization_cost((E, F, D), 0, gi, X, 0.05, activation, bias="free")
    w_own = lay.trainable[0]
    assert own.method == "lbfgs" and own.cost <= w_own @ w_own + 1e-8  # w_i itself is feasible with fit 0
    gj = act(torch.as_tensor(X @ E[1])).numpy()
    start = np.zeros(10)
    other = ridge_realization_cost((E, F, D), 0, gj, X, 0.05, activation, init=start, bias=0.0)
    fit0 = float(np.mean((act(torch.as_tensor(X @ F[0])).numpy() - gj) ** 2))
    assert other.cost <= fit0 / 0.05 + 1e-8  # never worse than its starting point


def test_ridge_bad_inputs():
    lay = AsymmetricLinear(5, 3)
    X = np.random.randn(20, 5)
    with pytest.raises(ValueError, match="target_fn_values"):
        ridge_realization_cost(lay, 0, np.zeros(19), X, 1.0)
    with pytest.raises(ValueError, match="neuron"):
        ridge_realization_cost(lay, 3, np.zeros(20), X, 1.0)
    with pytest.raises(ValueError, match="gamma"):
        ridge_realization_cost(lay, 0, np.zeros(20), X, 0.0)
    with pytest.raises(ValueError, match="activation"):
        ridge_realization_cost(lay, 0, np.zeros(20), X, 1.0, "softsign")
    with pytest.raises(ValueError, match="bias"):
        ridge_realization_cost(lay, 0, np.zeros(20), X, 1.0, bias="fixed")


def test_ridge_default_is_def_e3_without_bias():
    lay = asymmetric_layer(6, 12, "wasym", fixed_per_row=3, sigma_f=1.0, seed=2)
    X, U, z = _subspace_inputs(400, 12, 4, seed=3)
    X = X + U @ np.array([1.0, -0.5, 0.0, 0.0])  # uncentred inputs on span(U): a free bias helps
    E, F, D = lay.effective, lay.fixed, lay.diag
    g = X @ E[1]
    default = ridge_realization_cost((E, F, D), 0, g, X, 1.0, "identity").cost
    assert default == ridge_realization_cost((E, F, D), 0, g, X, 1.0, "identity", bias=None).cost
    Sz = (X @ U).T @ (X @ U) / len(X)
    assert np.isclose(default, lt.relaxed_cost_bound(U.T @ E[1], F[0], D[0], U, Sz, 1.0), rtol=1e-8)
    assert ridge_realization_cost((E, F, D), 0, g, X, 1.0, "identity", bias="free").cost < default


# --------------------------------------------------------------------------- token inputs, attention, every call

class _TinyTransformer(nn.Module):
    """Tokens (B, T, F): embedding Linear, nn.MultiheadAttention (its out_proj is never called through
    forward), a feed-forward Linear applied to every token, a head on the mean token."""

    def __init__(self, f=6, e=8):
        super().__init__()
        self.embed = nn.Linear(f, e)
        self.attn = nn.MultiheadAttention(e, 2, batch_first=True)
        self.ff = AsymmetricLinear(e, e, "wasym", fixed_per_row=2, sigma_f=1.0)
        self.head = nn.Linear(e, 3)

    def forward(self, x):
        h = self.embed(x)
        h = h + self.attn(h, h, h, need_weights=False)[0]
        h = h + torch.relu(self.ff(h))
        return self.head(h.mean(1))


def test_linear_on_token_inputs_flattens_leading_axes():
    torch.manual_seed(0)
    layer = AsymmetricLinear(6, 5, "syre", sigma_f=0.5)
    X = torch.randn(30, 7, 6)
    est = estimate_realization_costs(layer, X, 0.9)
    flat = estimate_realization_costs(layer, X.reshape(-1, 6), 0.9)
    assert est.n_samples == 210 and est.sampling == "all"
    np.testing.assert_array_equal(est.costs, flat.costs)
    with pytest.raises(ValueError, match=r"\(N, 6\)"):
        estimate_realization_costs(layer, torch.randn(30, 7, 5))
    with pytest.raises(ValueError, match=r"\(N, 6\)"):
        estimate_realization_costs(layer, torch.randn(30))


def test_transformer_records_tokens_and_names_the_skipped_out_proj():
    torch.manual_seed(1)
    net = _TinyTransformer()
    X = torch.randn(12, 5, 6)
    with pytest.warns(UserWarning, match="attn.out_proj"):
        rec = record_layer_inputs(net, X)
    assert rec.skipped == ["attn.out_proj"]
    assert list(rec) == ["embed", "ff", "head"] and rec.calls == {"embed": 1, "ff": 1, "head": 1}
    np.testing.assert_allclose(rec["embed"], X.reshape(-1, 6).double().numpy())
    assert rec["ff"].shape == (60, 8) and rec["head"].shape == (12, 8)
    with pytest.warns(UserWarning, match="never called"):
        ests = estimate_all_layers(net, X, explained_variance=0.9)
    assert ests.skipped == ["attn.out_proj"] and ests["ff"].n_samples == 60


def test_linear_called_twice_keeps_both_calls():
    torch.manual_seed(2)
    lin = nn.Linear(4, 4)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lin
            self.out = nn.Linear(4, 2)

        def forward(self, x):
            return self.out(torch.tanh(self.lin(torch.tanh(self.lin(x)))))

    X = torch.randn(9, 4)
    rec = record_layer_inputs(Twice(), X)
    with torch.no_grad():
        second = torch.tanh(lin(X))
    assert rec.calls["lin"] == 2 and rec["lin"].shape == (18, 4)
    np.testing.assert_allclose(rec["lin"][:9], X.double().numpy())
    np.testing.assert_allclose(rec["lin"][9:], second.double().numpy(), atol=1e-7)


# -- layers as real models define them: HF Conv1D (transposed weight), grouped convolutions, keyword calls -----
class Conv1D(nn.Module):
    """The Hugging Face GPT-2 layer: ``y = x @ weight + bias`` with ``weight`` of shape ``(in, out)``."""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).reshape(*x.shape[:-1], self.nf)


def test_hf_conv1d_is_read_transposed():
    from lmctheory.nn.estimate import is_transposed_linear, layer_arrays

    torch.manual_seed(0)
    c = Conv1D(6, 8)
    lin = nn.Linear(8, 6)
    with torch.no_grad():
        lin.weight.copy_(c.weight.T)
    assert is_transposed_linear(c) and not is_transposed_linear(lin)
    np.testing.assert_array_equal(layer_arrays(c)[0], layer_arrays(lin)[0])  # rows are weight.T: (6, 8)
    X = torch.randn(40, 5, 8)  # (batch, tokens, in)
    ests = estimate_all_layers(nn.Sequential(c), X, explained_variance=0.99)
    ref = estimate_realization_costs(lin, X, 0.99)
    assert list(ests) == ["0"]
    np.testing.assert_allclose(ests["0"].costs, ref.costs, rtol=1e-9, atol=1e-9)


def test_hf_gpt2_conv1d_layers_are_estimated():
    from tests._thirdparty import load_transformers

    tr = load_transformers()
    cfg = tr.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, n_positions=16)
    torch.manual_seed(0)
    model = tr.GPT2LMHeadModel(cfg).eval()
    ids = torch.randint(0, 50, (6, 10), generator=torch.Generator().manual_seed(0))
    ests = estimate_all_layers(model, ids, explained_variance=0.9)
    names = {"transformer.h.0.attn.c_attn", "transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_fc",
             "transformer.h.0.mlp.c_proj", "lm_head"}
    assert names <= set(ests), sorted(ests)
    assert ests["transformer.h.0.mlp.c_fc"].costs.shape == (64, 64)  # rows: out = 4·16 units
    assert ests["transformer.h.0.attn.c_attn"].costs.shape == (48, 48)


def test_grouped_conv_is_estimated_group_by_group():
    from lmctheory.nn.estimate import conv_group

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, groups=2), nn.ReLU(), nn.Conv2d(6, 6, 3, groups=6))
    X = torch.randn(8, 4, 6, 6)
    with pytest.warns(UserWarning, match="depthwise"):
        ests = estimate_all_layers(net, X, explained_variance=0.95)
    assert list(ests) == ["0/group0", "0/group1"]
    for k in range(2):  # each group alone: a plain conv on its own input channels
        ref = estimate_realization_costs(conv_group(net[0], k), X[:, 2 * k:2 * k + 2], 0.95)
        np.testing.assert_allclose(ests[f"0/group{k}"].costs, ref.costs, rtol=1e-9, atol=1e-9)
        assert ests[f"0/group{k}"].costs.shape == (3, 3)
    with torch.no_grad():  # the groups together compute the layer
        parts = [conv_group(net[0], k)(X[:, 2 * k:2 * k + 2]) for k in range(2)]
        torch.testing.assert_close(torch.cat(parts, 1), net[0](X))


def test_layer_called_by_keyword_is_recorded():
    class KW(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.out = nn.Linear(5, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.out(input=torch.relu(self.fc(input=x)))

    torch.manual_seed(0)
    net = KW()
    X = torch.randn(30, 5)
    rec = record_layer_inputs(net, X)
    assert {k: v.shape for k, v in rec.items()} == {"fc": (30, 5), "out": (30, 4)}
    np.testing.assert_array_equal(rec["fc"], X.double().numpy())
    assert set(estimate_all_layers(net, X, explained_variance=0.9)) == {"fc", "out"}
