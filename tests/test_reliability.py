"""Reliability guarantees: no lost results, interruptible long work, no silently wrong numbers.

Each test reproduces one finding of the hostile-user audit (see the reliability issue).
"""

import errno
import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest

from lmctheory import cache as cache_mod
from lmctheory.cache import CacheWarning
from lmctheory.sweep import run_jobs
from tests import _sweep_jobs as jobs


# ----- sweeps keep finished jobs when the cache cannot be written -----------------------------


@pytest.mark.parametrize("err", [errno.EROFS, errno.ENOSPC])
def test_sweep_on_unwritable_cache_warns_once_and_returns_every_result(tmp_path, monkeypatch, err):
    cache_mod._warned.clear()

    def fail(path, data):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(cache_mod, "atomic_write_bytes", fail)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = run_jobs(jobs.square, [{"x": i} for i in range(4)], namespace="ro", cache_root=tmp_path,
                       max_workers=1, progress=False)
    assert [r["y"] for r in out] == [0, 1, 4, 9]
    assert sum(issubclass(w.category, CacheWarning) for w in rec) == 1
    cache_mod._warned.clear()


# ----- long Monte Carlo calls stop on Ctrl-C; cutting the work changes no bit -----------------


@pytest.fixture(autouse=True)
def _python_handles_ctrl_c():
    """Ctrl-C must reach Python in these tests even when the runner inherited SIGINT as ignored (a background job
    of a non-interactive shell): otherwise the interrupt tests would run their hour-long budgets to the timeout."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def _interrupt_after(delay):
    main = threading.main_thread().ident
    sent = {}

    def fire():
        sent["t"] = time.perf_counter()
        signal.pthread_kill(main, signal.SIGINT)

    timer = threading.Timer(delay, fire)
    timer.start()
    return timer, sent


def _interruptible(call):
    from lmctheory.chord import chord_deviation_mc  # noqa: F401  (compile outside the timed part)

    timer, sent = _interrupt_after(0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            call()
        return time.perf_counter() - sent["t"]
    finally:
        timer.cancel()


@pytest.mark.parametrize("case", ["wa_many_vectors", "wa_huge_dim", "chord_many_samples", "chord_many_lams"])
def test_monte_carlo_stops_within_a_second_of_ctrl_c(case):
    from lmctheory.chord import chord_deviation_mc
    from lmctheory.lewc import weak_additivity_cosine_mc

    w0, w1, cov = np.array([[1.0, 0.0]]), np.array([[0.3, 1.0]]), np.eye(2)
    # warm the JIT so the timer fires inside the kernels, not the compiler
    weak_additivity_cosine_mc(10, 10)
    chord_deviation_mc(w0, w1, cov, 0.5, n_samples=10)
    calls = {
        "wa_many_vectors": lambda: weak_additivity_cosine_mc(1000, 10**7),  # ≈ 1e10 pairs, minutes
        "wa_huge_dim": lambda: weak_additivity_cosine_mc(10**10, 2),  # one vector per block
        "chord_many_samples": lambda: chord_deviation_mc(w0, w1, cov, 0.5, n_samples=2**34),
        "chord_many_lams": lambda: chord_deviation_mc(w0, w1, cov, np.linspace(0, 1, 2000), n_samples=2**24),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the long-run estimate
        lag = _interruptible(calls[case])
    assert lag < 1.0, f"KeyboardInterrupt arrived {lag:.2f} s after SIGINT"


def test_cut_work_is_bit_identical_to_one_call(monkeypatch):
    from lmctheory import _montecarlo
    from lmctheory.kernels.montecarlo import ACT_CODES, ZIG, chord_mc, wa_cosine_mc

    # reference: one uncut kernel call each
    rng = np.random.default_rng(0)
    l11, l21, l22 = rng.uniform(0.5, 2, 3), rng.normal(size=3), rng.uniform(0.1, 1, 3)
    lams = np.linspace(0, 1, 7)
    n_samples, chunk = 5000, 1024
    n_chunks = -(-n_samples // chunk)
    mean = np.zeros((n_chunks, 7, 3))
    m2 = np.zeros_like(mean)
    chord_mc(l11, l21, l22, lams, ACT_CODES["gelu"], n_samples, chunk, 11, *ZIG, mean, m2)
    ref_wa = {}
    for dim, nv, block in [(3, 100, 7), (1000, 9, 2), (5000, 3, 1)]:
        ref_wa[dim] = np.empty(nv)
        wa_cosine_mc(dim, 0.7, 0.2, 0.9, block, 5, *ZIG, ref_wa[dim])
    # tiny steps: one task / one λ / 256 pairs per call
    monkeypatch.setattr(_montecarlo, "WORK_STEP_SECONDS", 1e-9)
    cm, cm2 = _montecarlo.run_chord_mc(l11, l21, l22, lams, ACT_CODES["gelu"], n_samples, chunk, 11, n_chunks)
    assert np.array_equal(cm, mean) and np.array_equal(cm2, m2)
    for dim, nv, block in [(3, 100, 7), (1000, 9, 2), (5000, 3, 1)]:
        out = _montecarlo.run_wa_cosine(dim, 0.7, 0.2, 0.9, block, 5, nv)
        assert np.array_equal(out, ref_wa[dim], equal_nan=True)


def test_monte_carlo_budgets_are_checked_up_front():
    from lmctheory.chord import chord_deviation_mc
    from lmctheory.lewc import weak_additivity_cosine_mc

    w0, w1, cov = np.ones((4, 2)), -np.ones((4, 2)), np.eye(2)
    with pytest.raises(ValueError, match="n_samples: .*needs .*iB"):  # per-chunk statistics alone: 8 PiB
        chord_deviation_mc(w0, w1, cov, np.linspace(0, 1, 1000), n_samples=2**62)
    with pytest.raises(ValueError, match="n_vectors: .*needs .*iB"):
        weak_additivity_cosine_mc(10, 10**16)
    with pytest.warns(RuntimeWarning, match=r"estimated to run .* h .*WA_RATE"):
        with pytest.raises(KeyboardInterrupt):
            timer, _ = _interrupt_after(0.3)
            try:
                weak_additivity_cosine_mc(10**9, 10**5)
            finally:
                timer.cancel()


# ----- no silently wrong numbers at extreme magnitudes and for duplicates ---------------------


def test_swap_costs_at_the_float64_limit():
    from lmctheory.costs import swap_costs

    assert np.array_equal(swap_costs(np.full((3, 3), 1e308)), np.zeros((3, 3)))  # was NaN
    C = np.array([[1e308, 0.0], [1.7e308, 1e308]])  # true Δ = −3e307, was −inf
    np.testing.assert_allclose(swap_costs(C)[0, 1], -3e307, rtol=1e-15)
    with pytest.raises(ValueError, match="costs: .*beyond the float64 range"):  # true Δ = −2e308
        swap_costs(np.array([[1e308, 0.0], [0.0, 1e308]]))


def _layer(rng, n, d, k, binary):
    U = np.linalg.qr(rng.normal(size=(d, k)))[0]
    F = rng.normal(size=(n, d)) * rng.choice([1e-3, 1.0, 1e3])
    D = (rng.random((n, d)) < 0.8).astype(float) if binary else rng.uniform(0.5, 1.5, (n, d))
    W = rng.normal(size=(n, d))
    for j in (1, n - 1):  # neurons 1 and n−1 duplicate neuron 0
        F[j], D[j], W[j] = F[0], D[0], W[0]
    return F + D * W, F, D, U


def test_identical_neurons_have_swap_cost_exactly_zero(monkeypatch):
    from lmctheory import costs
    from lmctheory.costs import realization_costs, swap_costs

    def dup_swaps():
        out = []
        for seed in range(12):
            rng = np.random.default_rng(seed)
            n, d = int(rng.integers(4, 10)), int(rng.integers(5, 30))
            E, F, D, U = _layer(rng, n, d, int(rng.integers(1, min(d, 10))), seed % 2 == 0)
            C = realization_costs(E, F, D, U)
            S = swap_costs(C)
            assert np.array_equal(realization_costs(E, F, D, U, rows=(1, n)), C[1:])  # row blocks agree
            out += [S[i, j] for i, j in [(0, 1), (0, n - 1), (1, n - 1), (1, 0)]]
        return np.array(out)

    assert np.all(dup_swaps() == 0.0)
    # the reproducer: without the tie the GEMM entry and the direct diagonal differ by rounding
    monkeypatch.setattr(costs, "_equal_targets_cost_alike", lambda out, E, start: None)
    untied = dup_swaps()
    assert np.any(untied != 0.0) and np.max(np.abs(untied)) < 1e-9


def test_chord_deviation_exact_zeros_and_range():
    from lmctheory.chord import chord_deviation, gaussian_relu_chord_deviation

    rng = np.random.default_rng(0)
    w0, w1, X = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(4000, 4))
    base = chord_deviation(w0, w1, X, 0.3)
    # Δ scales with the square of the weights: 1e99 is within the documented range (was inf)
    np.testing.assert_allclose(chord_deviation(w0 * 1e99, w1 * 1e99, X, 0.3), base * 1e198, rtol=1e-12)
    np.testing.assert_allclose(chord_deviation(w0, w1, X * 1e-99, 0.3), base * 1e-198, rtol=1e-12)
    assert np.all(chord_deviation(w0, w1, X, [0.2, 0.7], activation="identity") == 0.0)  # was ~1e-33
    assert np.all(chord_deviation(w0, 2.5 * w0, X, [0.2, 0.7]) == 0.0)  # same signs: h = 0 exactly
    with pytest.raises(ValueError, match="exceeds the float64 range"):
        chord_deviation(w0 * 1e99, w1 * 1e99, X * 1e99, 0.3)
    # the sign-split form agrees with the exact Gaussian value (Monte Carlo over 4000 inputs: 10%)
    ref = gaussian_relu_chord_deviation(w0, w1, np.eye(4), 0.3)
    np.testing.assert_allclose(base, ref, rtol=0.1)


# ----- center gaps: bounded working memory, refusal of outputs that cannot fit, Ctrl-C --------


def test_min_center_gap_tiles_give_the_same_pair(monkeypatch):
    from lmctheory import subspace
    from tests.naive import naive_min_gap

    rng = np.random.default_rng(3)
    V = rng.normal(size=(700, 12))
    V[500] = V[33]  # a duplicate: exact 0
    W = rng.integers(0, 2, size=(600, 11)).astype(float)  # corners of a cube: many tied pairs
    ref = {m: [subspace.closest_center_pair(A, method=m) for A in (V, W)] for m in ("blocked", "sweep")}
    # tiny tiles and steps: many GEMM tiles per row block, one row per sweep call
    monkeypatch.setattr(subspace, "_GEMM_BLOCK", 64)
    monkeypatch.setattr(subspace, "_GEMM_TILE_BYTES", 8 * 64 * 100)
    monkeypatch.setattr(subspace, "_STEP_PAIRS", 1.0)
    for m in ("blocked", "sweep"):
        got = [subspace.closest_center_pair(A, method=m) for A in (V, W)]
        assert got == ref[m]
    assert ref["blocked"][0] == (33, 500, 0.0)
    gap, pairs = naive_min_gap(W)
    assert len(pairs) > 10
    for m in ("blocked", "sweep"):
        assert ref[m][1][2] == gap and ref[m][1][:2] in pairs


def test_pairwise_center_gaps_refuses_an_output_that_cannot_fit():
    from lmctheory.subspace import pairwise_center_gaps

    with pytest.raises(ValueError, match=r"centers: the \(10000000, 10000000\) gap matrix needs 728 TiB"):
        pairwise_center_gaps(np.zeros((10_000_000, 1)))


@pytest.mark.parametrize("method", ["blocked", "sweep"])
def test_min_center_gap_stops_within_a_second_of_ctrl_c(method):
    from lmctheory.subspace import min_center_gap

    V = np.random.default_rng(0).normal(size=(200_000, 16))  # O(n²k) ≈ minutes
    min_center_gap(V[:2000], method=method)  # compile outside the timed part
    timer, sent = _interrupt_after(0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            min_center_gap(V, method=method)
        lag = time.perf_counter() - sent["t"]
    finally:
        timer.cancel()
    assert lag < 1.0, f"KeyboardInterrupt arrived {lag:.2f} s after SIGINT"


# ----- torch inputs that numpy cannot read get messages naming the argument -------------------


def test_check_X_names_the_argument_for_meta_sparse_and_bf16_rows():
    torch = pytest.importorskip("torch")
    from lmctheory.nn._checks import check_X
    from lmctheory.nn.matching import collect_activations
    from lmctheory.nn.models import make_mlp

    model = make_mlp(4, 8, 3, n_layers=2)
    with pytest.raises(ValueError, match="X_cal is a meta-device tensor"):
        check_X(torch.ones(3, 4, device="meta"), "X_cal")
    with pytest.raises(ValueError, match="^X is a meta-device tensor"):  # was torch's "Tensor.item() ..."
        collect_activations(model, torch.ones(3, 4, device="meta"))
    with pytest.raises(TypeError, match="^X must be a dense tensor, got layout torch.sparse_coo"):
        collect_activations(model, torch.ones(3, 4).to_sparse())
    with pytest.raises(ValueError, match=r"X\[1\] is a meta-device tensor"):
        check_X([torch.ones(4), torch.ones(4, device="meta")], "X")
    rows = [torch.arange(4, dtype=torch.bfloat16) + i for i in range(3)]  # was "unsupported ScalarType"
    out = check_X(rows, "X", model=model)
    assert out.dtype == torch.float32 and torch.equal(out, torch.stack(rows).float())


# ----- model-level evaluation: every wrong input is refused by name, every odd model works --------------


def _mlp(seed=0, d=6, h=8, k=3, dtype=None):
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.ReLU(), torch.nn.Linear(h, k))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return net.to(dtype) if dtype is not None else net


def _data(n=24, d=6, k=3):
    import torch

    g = torch.Generator().manual_seed(7)
    return torch.randn(n, d, generator=g), torch.randint(0, k, (n,), generator=g)


@pytest.mark.parametrize("which,value", [("model_a", float("nan")), ("model_b", float("inf"))])
def test_interpolate_refuses_non_finite_weights_by_model_and_parameter(which, value):
    import torch

    from lmctheory.nn import interpolate
    from lmctheory.nn.curves import fit_curve

    a, b = _mlp(0), _mlp(1)
    X, y = _data()
    with torch.no_grad():
        (a if which == "model_a" else b)[2].weight[1, 2] = value
    with pytest.raises(ValueError, match=rf"^{which} has a non-finite .* '2\.weight'"):
        interpolate(a, b, X, y)  # was: NaN loss at λ = 0 and a meaningless barrier, no error
    with pytest.raises(ValueError, match=rf"^{which} has a non-finite .* '2\.weight'"):
        fit_curve(a, b, X, y, epochs=1)


class _Wrapped:
    """Wrap a plain classifier so that it returns a tuple, a dict or a transformers ModelOutput."""

    classes: dict = {}

    @classmethod
    def build(cls, kind, inner):
        if kind not in cls.classes:
            cls.classes[kind] = cls._define(kind)
        return cls.classes[kind](inner)

    @staticmethod
    def _define(kind):
        import torch

        class Net(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, x):
                z = self.inner(x)
                if kind == "tuple":
                    return z, z.detach().sum()  # logits first, an auxiliary scalar after
                if kind == "dict":
                    return {"logits": z, "hidden": x}
                from tests._thirdparty import load_transformers

                out = load_transformers().modeling_outputs.SequenceClassifierOutput
                return out(logits=z, hidden_states=(x,))

        return Net


@pytest.mark.parametrize("kind", ["tuple", "dict", "model_output"])
def test_models_returning_tuples_dicts_and_model_outputs(kind):
    import copy

    from lmctheory.nn import evaluate, interpolate
    from lmctheory.nn.curves import fit_curve

    a, b = _mlp(0), _mlp(1)
    X, y = _data()
    wa, wb = _Wrapped.build(kind, copy.deepcopy(a)), _Wrapped.build(kind, copy.deepcopy(b))
    # was: AttributeError: 'tuple' object has no attribute 'ndim'
    assert evaluate(wa, X, y) == evaluate(a, X, y)
    got, want = interpolate(wa, wb, X, y, lams=[0, 0.5, 1]), interpolate(a, b, X, y, lams=[0, 0.5, 1])
    assert np.array_equal(got.loss, want.loss) and np.array_equal(got.acc, want.acc)
    cw = fit_curve(wa, wb, X, y, epochs=1, batch_size=8, seed=3)
    cp = fit_curve(a, b, X, y, epochs=1, batch_size=8, seed=3)
    np.testing.assert_allclose(cw.history, cp.history, rtol=1e-6)
    np.testing.assert_allclose(cw.evaluate(X, y, lams=[0, 0.5, 1]).loss, cp.evaluate(X, y, lams=[0, 0.5, 1]).loss,
                               rtol=1e-6)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_mismatched_models_and_inputs_are_refused_by_name():
    import torch

    from lmctheory.nn import evaluate, interpolate

    X, y = _data()
    with pytest.raises(ValueError, match=r"model_a and model_b differ in '0\.weight': .*float32.*float64"):
        interpolate(_mlp(0), _mlp(1, dtype=torch.float64), X, y)
    class Plain(torch.nn.Module):  # declares no input width: integer tensors are taken as token ids
        def __init__(self):
            super().__init__()
            self.body = _mlp(0)

        def forward(self, x):
            return self.body(x)

    with pytest.raises(ValueError, match=r"^X does not fit model \(Plain\).*mat1 and mat2.*token ids"):
        evaluate(Plain(), X.long(), y)  # integer features for a float model: no raw torch dtype error
    assert np.isfinite(evaluate(_mlp(0), X.long(), y)[0])  # a model that declares in_features converts them
    with pytest.raises(ValueError, match=r"^X must have shape \(N, 6\) to match the model's input width 6"):
        interpolate(_mlp(0), _mlp(1), X[:, :5], y)
    with pytest.raises(ValueError, match=r"^X does not fit model \(Plain\).*shapes cannot be multiplied"):
        evaluate(Plain(), X[:, :5], y)  # a width only the forward pass knows: no raw torch shape error
    with pytest.raises(TypeError, match=r"^X must be .*got a list of 24 items; stack rows with torch\.stack"):
        evaluate(_mlp(0), list(X), y)  # was: the rows taken as 24 positional inputs, all but one dropped
    with pytest.raises(ValueError, match=r"^X must be 2-D"):
        evaluate(_mlp(0), X[0], y[:1])  # was: one unbatched sample
    with pytest.raises(TypeError, match=r"^X does not match Sequential\.forward"):
        evaluate(_mlp(0), (X, X), y)  # was: the extra tensor silently ignored
    meta = _mlp(0).to("meta")
    with pytest.raises(ValueError, match="^model_b is on the 'meta' device"):
        interpolate(_mlp(0), meta, X, y)
    with pytest.raises(ValueError, match=r"^X is a meta-device tensor"):
        evaluate(_mlp(0), X.to("meta"), y)
    zero = torch.nn.Sequential(torch.nn.Linear(6, 0), torch.nn.ReLU(), torch.nn.Linear(0, 3))
    with pytest.raises(ValueError, match=r"^model has a zero-width layer: parameter '0\.weight' has shape \(0, 6\)"):
        evaluate(zero, X, y)
    with pytest.raises(ValueError, match="^model_a has a zero-width layer"):
        interpolate(zero, zero, X, y)


def test_models_differing_in_strides_or_plain_attributes_are_refused():
    import torch

    from lmctheory.nn import interpolate

    def cnn(stride, seed):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, stride=stride), torch.nn.Flatten(), torch.nn.LazyLinear(3))

    X = torch.randn(8, 1, 7, 7)
    y = torch.zeros(8, dtype=torch.int64)
    a, b = cnn(1, 0), cnn(2, 1)
    a(X), b(X)  # materialize the lazy heads: (3, 50) and (3, 18) weights
    with pytest.raises(ValueError, match=r"same architecture: module 0 \(Conv2d\) is .*stride=\(1, 1\).*stride=\(2, 2\)"):
        interpolate(a, b, X, y)

    class Scaled(torch.nn.Module):
        def __init__(self, scale, seed):
            super().__init__()
            torch.manual_seed(seed)
            self.lin, self.scale = torch.nn.Linear(6, 3), scale

        def forward(self, x):
            return self.lin(x) * self.scale

    Xs, ys = _data()
    # same state dict layout and module reprs; λ = 1 with model_a's code would not be model_b
    with pytest.raises(ValueError, match="differ in an attribute the state dict does not hold"):
        interpolate(Scaled(1.0, 0), Scaled(3.0, 1), Xs, ys)
    assert np.isfinite(interpolate(Scaled(2.0, 0), Scaled(2.0, 1), Xs, ys).barrier_lin)


def test_evaluation_runs_in_eval_mode_and_restores_every_modules_mode():
    import torch

    from lmctheory.nn import evaluate, interpolate
    from lmctheory.nn.batchnorm import reset_batchnorm

    def net():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(16),
                                   torch.nn.ReLU(), torch.nn.Linear(16, 3))

    X, y = _data()
    m = net()
    m.train()
    m[2].eval()  # a mixed pattern of flags that a root-level model.train(was) would lose
    flags = [mod.training for mod in m.modules()]
    first = evaluate(m, X, y)
    assert evaluate(m, X, y) == first  # dropout off: repeatable
    m_eval = net().eval()
    with torch.no_grad():
        want = torch.nn.functional.cross_entropy(m_eval(X), y)
    assert first[0] == pytest.approx(float(want), rel=1e-6)
    interpolate(m, net(), X, y, lams=[0, 1], reset_bn=X)
    assert [mod.training for mod in m.modules()] == flags

    class FailsOnBatches(torch.nn.Module):  # passes the one-sample probe, fails on the whole batch
        def __init__(self):
            super().__init__()
            self.body = net()

        def forward(self, x):
            if x.shape[0] > 1:
                raise RuntimeError("boom")
            return self.body(x)

    f = FailsOnBatches()
    f.train()
    f.body[1].eval()
    flags = [mod.training for mod in f.modules()]
    with pytest.raises(RuntimeError, match="boom"):
        evaluate(f, X, y)
    assert [mod.training for mod in f.modules()] == flags
    with pytest.raises(RuntimeError, match="boom"):
        reset_batchnorm(f, X)
    assert [mod.training for mod in f.modules()] == flags
    from lmctheory.nn import train

    with pytest.raises(RuntimeError, match="boom"):
        train(f, X, y, epochs=1)
    assert [mod.training for mod in f.modules()] == flags


def test_tuple_and_keyword_inputs_and_dataloaders():
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from lmctheory.nn import evaluate, interpolate
    from lmctheory.nn.curves import fit_curve

    class TwoInputs(torch.nn.Module):
        def __init__(self, seed):
            super().__init__()
            self.body = _mlp(seed, d=6)

        def forward(self, x, mask=None, *, scale=1.0):
            return self.body(x * mask * scale)

    X, y = _data()
    mask = (torch.arange(len(X)) % 3 != 0).float()[:, None]  # (n, 1): a floating side input is batched
    a, b = TwoInputs(0), TwoInputs(1)
    ref = interpolate(a.body, b.body, X * mask, y, lams=[0, 0.5, 1])
    by_tuple = interpolate(a, b, (X, mask), y, lams=[0, 0.5, 1])
    by_kwargs = interpolate(a, b, {"x": X, "mask": mask, "scale": 1.0}, y, lams=[0, 0.5, 1])
    assert np.array_equal(by_tuple.loss, ref.loss) and np.array_equal(by_kwargs.loss, ref.loss)
    loader = DataLoader(TensorDataset(X * mask, y), batch_size=5)
    by_loader = interpolate(a.body, b.body, loader, lams=[0, 0.5, 1])
    np.testing.assert_allclose(by_loader.loss, ref.loss, rtol=1e-6)
    assert evaluate(a, {"x": X, "mask": mask}, y, batch_size=7)[0] == pytest.approx(ref.loss[0], rel=1e-6)
    curve = fit_curve(a, b, {"x": X, "mask": mask}, y, epochs=1, batch_size=8)
    assert np.isfinite(curve.evaluate((X, mask), y, lams=[0, 1]).loss).all()
    with pytest.raises(TypeError, match=r"X does not match TwoInputs\.forward"):
        evaluate(a, {"x": X, "maks": mask}, y)


def test_token_targets_for_language_model_logits():
    import torch

    from lmctheory.nn import evaluate, interpolate, train

    V, T = 11, 5

    class TinyLM(torch.nn.Module):
        def __init__(self, seed):
            super().__init__()
            torch.manual_seed(seed)
            self.emb, self.head = torch.nn.Embedding(V, 8), torch.nn.Linear(8, V)

        def forward(self, input_ids, attention_mask=None):
            return {"logits": self.head(torch.tanh(self.emb(input_ids)))}

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, V, (6, T), generator=g)
    targets = torch.roll(ids, -1, dims=1)
    a, b = TinyLM(0), TinyLM(1)
    loss, acc = evaluate(a, {"input_ids": ids}, targets)
    with torch.no_grad():
        z = a(ids)["logits"]
    assert loss == pytest.approx(float(torch.nn.functional.cross_entropy(z.reshape(-1, V), targets.reshape(-1))),
                                 rel=1e-6)
    assert acc == pytest.approx(float((z.argmax(-1) == targets).double().mean()))
    r = interpolate(a, b, ids, targets, lams=[0, 0.5, 1])  # integer ids pass through unchanged
    assert r.loss[0] == pytest.approx(loss, rel=1e-6)
    hist = train(a, ids, targets, epochs=3, batch_size=3, lr=1e-2)
    assert hist["loss"][-1] < hist["loss"][0]
    with pytest.raises(ValueError, match=r"^y must have shape \(6, 5\): one target per position"):
        evaluate(b, ids, targets[:, :4])
    with pytest.raises(ValueError, match=r"^y must hold labels in \[0, 10\]"):
        evaluate(b, ids, targets + V)


def test_hugging_face_models_with_keyword_inputs_and_token_targets():
    """Randomly initialized tiny transformers models (no download): dict inputs, ModelOutput results, integer
    ids and attention masks passed unchanged, per-token targets for a causal LM."""
    import torch

    from lmctheory.nn import evaluate, interpolate
    from lmctheory.nn.curves import fit_curve
    from tests._thirdparty import load_transformers

    tr = load_transformers()

    def bert(seed):
        torch.manual_seed(seed)
        return tr.BertForSequenceClassification(tr.BertConfig(
            vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=16, num_labels=3))

    def gpt(seed):
        torch.manual_seed(seed)
        return tr.GPT2LMHeadModel(tr.GPT2Config(vocab_size=30, n_embd=16, n_layer=1, n_head=2, n_positions=16))

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 30, (8, 6), generator=g)
    mask = torch.ones_like(ids)
    mask[:, -1] = 0
    y = torch.randint(0, 3, (8,), generator=g)
    a, b = bert(0), bert(1)
    inputs = {"input_ids": ids, "attention_mask": mask}
    r = interpolate(a, b, inputs, y, lams=[0, 0.5, 1])
    with torch.no_grad():
        want = [float(torch.nn.functional.cross_entropy(m.eval()(**inputs).logits, y)) for m in (a, b)]
    np.testing.assert_allclose(r.loss[[0, -1]], want, rtol=1e-6)
    assert r.loss[1] != r.loss[0]
    la, lb = gpt(0), gpt(1)
    targets = torch.roll(ids, -1, dims=1)
    with torch.no_grad():
        z = la.eval()(input_ids=ids).logits  # (8, 6, 30)
    want = float(torch.nn.functional.cross_entropy(z.reshape(-1, 30), targets.reshape(-1)))
    assert evaluate(la, {"input_ids": ids}, targets)[0] == pytest.approx(want, rel=1e-6)
    curve = fit_curve(la, lb, {"input_ids": ids}, targets, epochs=1, batch_size=4)
    ends = curve.evaluate({"input_ids": ids}, targets, lams=[0, 1])
    np.testing.assert_allclose(ends.loss, interpolate(la, lb, {"input_ids": ids}, targets, lams=[0, 1]).loss,
                               rtol=1e-6)
