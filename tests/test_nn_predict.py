"""predict_lmc: result structure, determinism, theory IDs, ordering of symmetric vs asymmetric models,
generic architectures and bad inputs (lmctheory.nn.predict)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from lmctheory.nn import AsymmetricLinear, make_mlp, predict_lmc
from lmctheory.nn.predict import CALIBRATION, LMCPrediction, combine, layer_statistics

THEORY_IDS = {"T-4.2", "T-4.4", "T-4.5", "T-4.6", "T-16", "T-C.5", "T-5.1", "T-E.1"}


def _X(n=200, d=12, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


class TwoLayerFunctional(nn.Module):
    """Written independently of make_mlp: explicit forward, ReLU, no norm."""

    def __init__(self, d, h, o, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.inp = nn.Linear(d, h)
        self.out = nn.Linear(h, o)
        with torch.no_grad():
            self.inp.weight.copy_(torch.randn(h, d, generator=g) / math.sqrt(d))
            self.out.weight.copy_(torch.randn(o, h, generator=g) / math.sqrt(h))

    def forward(self, x):
        return self.out(torch.relu(self.inp(x)))


def sequential_asym(d, h, o, sigma_f, seed):
    """nn.Sequential with AsymmetricLinear syre layers and BatchNorm1d (another style)."""
    torch.manual_seed(seed)
    return nn.Sequential(AsymmetricLinear(d, h, "syre", sigma_f=sigma_f, mask_seed=3, mask_stream=0),
                         nn.BatchNorm1d(h), nn.Tanh(),
                         AsymmetricLinear(h, h, "syre", sigma_f=sigma_f, mask_seed=3, mask_stream=1), nn.GELU(),
                         nn.Linear(h, o))


def test_result_structure_and_theory_ids():
    res = predict_lmc(make_mlp(12, 24, 3, n_layers=3, kind="wmlp", sigma_f=0.5, seed=1), _X())
    assert isinstance(res, LMCPrediction)
    assert len(res.layers) == 2  # hidden layers only, readout excluded
    assert res.layers[0].name == "layers.0" and res.layers[0].n == 24 and res.layers[0].d == 12
    ids = {q.theory_id for lp in res.layers for q in lp.quantities.values()}
    assert THEORY_IDS <= ids
    for lp in res.layers:
        assert 0.0 <= lp.chord <= 0.5
        assert lp.contribution == pytest.approx(lp.chord / math.sqrt(lp.n))
        assert all(isinstance(q.value, float) for q in lp.quantities.values())
    assert res.score == pytest.approx(sum(lp.contribution for lp in res.layers))
    assert res.barrier == pytest.approx(CALIBRATION["scale"] * res.score)
    assert res.band[0] <= res.barrier <= res.band[1]
    d = res.to_dict()
    assert d["layers"][0]["quantities"]["coherence"]["theory_id"] == "T-4.4"


def test_deterministic_and_subsampling_seeded():
    m = make_mlp(12, 16, 3, n_layers=3, kind="sparse", keep_prob=0.5, seed=2)
    X = _X(300)
    a, b = predict_lmc(m, X), predict_lmc(m, X)
    assert a.score == b.score and a.band == b.band
    c1 = predict_lmc(m, X, max_samples=100, seed=4)
    c2 = predict_lmc(m, X, max_samples=100, seed=4)
    assert c1.score == c2.score


@pytest.mark.parametrize("build", [
    lambda s, sf: make_mlp(12, 32, 3, n_layers=3, kind="syre" if sf else "standard", sigma_f=sf, seed=s),
    lambda s, sf: sequential_asym(12, 32, 3, sf, s) if sf else TwoLayerFunctional(12, 32, 3, s),
])
def test_symmetric_scores_above_strongly_asymmetric(build):
    X = _X()
    sym = predict_lmc(build(1, 0.0), X)
    asym = predict_lmc(build(1, 2.0), X)
    assert sym.score > 10 * asym.score
    # a symmetric layer has zero swap costs (T-16) and nothing pinned
    assert sym.layers[0].quantities["swap_ratio"].value == 0.0
    assert sym.layers[0].quantities["pinned"].value == 0.0
    assert asym.layers[0].quantities["pinned"].value > 0.5


def test_standard_chord_is_the_orthogonal_value_and_width_lowers_score():
    X = _X()
    s1 = predict_lmc(make_mlp(12, 16, 3, n_layers=3, seed=0), X)
    s2 = predict_lmc(make_mlp(12, 64, 3, n_layers=3, seed=0), X)
    # independent runs of an unpinned, uncentered neuron: θ = π/2, g(π/2)/(2π) = 1/(2π) (T-5.1)
    assert s1.layers[0].chord == pytest.approx(1 / (2 * math.pi), rel=1e-12)
    assert s2.score == pytest.approx(s1.score / 2, rel=1e-12)


def test_coherent_masked_support_pins_neurons():
    """T-4.4/T-4.2: a support on 2 coordinates (ν = 1) with Bernoulli masks makes most S_i singular."""
    X = torch.zeros(200, 12)
    X[:, :2] = _X(200, 2)
    torch.manual_seed(0)
    masked = nn.Sequential(AsymmetricLinear(12, 40, "sparse", keep_prob=0.3, mask_seed=1), nn.ReLU(), nn.Linear(40, 2))
    plain = nn.Sequential(nn.Linear(12, 40), nn.ReLU(), nn.Linear(40, 2))
    q = predict_lmc(masked, X).layers[0].quantities
    assert q["coherence"].value == pytest.approx(1.0, abs=1e-9)
    assert q["rank_deficient"].value > 0.5
    assert q["pinned"].value > predict_lmc(plain, X).layers[0].quantities["pinned"].value + 0.3


def test_center_term_matches_formula():
    """T-16 center term on a hand-sized layer: ‖v_j − v_i‖² (S_i + γΣ_z⁻¹)⁻¹ summed both ways."""
    rng = np.random.default_rng(0)
    n, d = 4, 3
    F = rng.standard_normal((n, d))
    D = np.ones((n, d))
    E = F + 0.1 * rng.standard_normal((n, d))
    H = rng.standard_normal((500, d))
    st = layer_statistics(E, F, D, H, explained_variance=1.0)
    Hc = H - H.mean(0)
    from lmctheory.subspace import subspace_basis

    U, _ = subspace_basis(H, 1.0)
    var = np.mean((Hc @ U) ** 2, 0)
    Q = np.linalg.inv(U.T @ U + np.diag(var.min() / var))
    v = F @ U
    expect = 2 * (v[0] - v[1]) @ Q @ (v[0] - v[1])
    assert st["delta_center"][0, 1] == pytest.approx(expect, rel=1e-10)
    assert np.all(st["delta_mismatch"] == 0)  # identical D rows: no metric mismatch
    # pinned fraction grows with the center term and shrinks as training grows the trainable part
    assert combine(st, 0.0)["pinned"] >= combine(st, 10.0)["pinned"]


def test_bad_inputs():
    m = make_mlp(12, 16, 3, n_layers=3, seed=0)
    X = _X()
    with pytest.raises(TypeError, match="model"):
        predict_lmc("not a model", X)
    with pytest.raises(ValueError, match="X"):
        predict_lmc(m, torch.randn(10, 5))
    with pytest.raises(ValueError, match="X"):
        predict_lmc(m, torch.full((10, 12), float("nan")))
    with pytest.raises(ValueError, match="explained_variance"):
        predict_lmc(m, X, explained_variance=1.5)
    with pytest.raises(ValueError, match="max_rank"):
        predict_lmc(m, X, max_rank=0)
    with pytest.raises(ValueError, match="calibration"):
        predict_lmc(m, X, calibration={"nonsense": 1.0})
    with pytest.raises(ValueError, match="scale"):
        predict_lmc(m, X, calibration={"scale": -1.0})
    with pytest.raises(ValueError, match="two linear layers"):
        predict_lmc(nn.Sequential(nn.Linear(12, 3)), X)
    with pytest.raises(TypeError, match="Conv1d"):
        predict_lmc(nn.Sequential(nn.Unflatten(1, (1, 12)), nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(20, 3)), X)
    with pytest.raises(TypeError, match="no nn.Linear"):
        predict_lmc(nn.Sequential(nn.ReLU()), X)


def test_cli_on_saved_model_and_data(tmp_path, capsys):
    import json

    from lmctheory.nn.predict import main

    m = make_mlp(12, 16, 3, n_layers=3, kind="wmlp", sigma_f=1.0, seed=0)
    torch.save(m, tmp_path / "m.pt")
    X = _X().numpy()
    np.save(tmp_path / "X.npy", X)
    assert main([str(tmp_path / "m.pt"), str(tmp_path / "X.npy"), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["score"] == pytest.approx(predict_lmc(m, X).score)
    assert "layers.0" in out and "predicted unaligned midpoint barrier" in out
    assert main([str(tmp_path / "m.pt"), str(tmp_path / "missing.npy")]) == 2
    np.save(tmp_path / "bad.npy", X[:, :5])
    assert main([str(tmp_path / "m.pt"), str(tmp_path / "bad.npy")]) == 2
    assert "X" in capsys.readouterr().err


def test_fig12_renders_from_collect_data(monkeypatch, tmp_path):
    """The figure draws whatever P1's collect returns (fake rows here; no training)."""
    from lmctheory import figures
    from lmctheory.figures import FigureContext, render_figure
    from lmctheory.figures import fig12_predict as fig12

    rng = np.random.default_rng(0)
    rows = []
    for i, kind in enumerate(["standard", "sparse", "wmlp", "syre"] * 3):
        pred = float(rng.uniform(0, 0.5))
        rows.append(dict(split="fit" if i < 6 else "heldout", dataset="d", kind=kind, hidden=32, sigma_f=0.5,
                         fixed_fraction=0.1, keep_prob=0.5, score=pred / 10, predicted=pred,
                         band=[pred * 0.6, pred * 4], barrier=float(rng.uniform(0, 0.5)), mean_abs_F=0.1))
    ev = {s: dict(n=6, spearman_score=0.5, spearman_mean_abs_F=0.4, spearman_sigma_f=0.3, coverage=0.5)
          for s in ("fit", "heldout")}
    fake = dict(rows=rows, evaluation=ev, calibration=dict(kappa=0.0, scale=10.0, floor=0.02), config={})
    monkeypatch.setattr(fig12, "collect", lambda claim, ctx: fake)
    res = render_figure(figures.get_spec("fig12_predict"), tmp_path, FigureContext(mode="quick", progress=False))
    assert res.status == "ok", res.message
    import csv

    with open(res.paths["csv"]) as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(rows) and {"predicted", "measured", "split"} <= set(table[0])


def test_p1_condition_can_fail_and_is_none_without_numbers():
    """P1 passes only when held-out Spearman ≥ 0.9 and beats both naive proxies."""
    from paper_checks import p1_predict_lmc as p1

    def data(rho, naive):
        h = dict(n=40, spearman_score=rho, spearman_mean_abs_F=naive, spearman_sigma_f=naive - 0.1, coverage=0.5)
        return {"evaluation": {"heldout": h}}

    assert p1.evaluate_condition(data(0.95, 0.6))[0] is True
    assert p1.evaluate_condition(data(0.85, 0.6))[0] is False  # below the 0.9 target
    assert p1.evaluate_condition(data(0.92, 0.93))[0] is False  # not above the naive proxy
    assert p1.evaluate_condition(data(float("nan"), 0.6))[0] is None


# ----- the command line: refusals before anything is computed (exit 2, one line) -------------------------


@pytest.fixture()
def cli_files(tmp_path):
    m = make_mlp(12, 16, 3, n_layers=3, kind="wmlp", sigma_f=1.0, seed=0)
    torch.save(m, tmp_path / "m.pt")
    np.save(tmp_path / "X.npy", _X().numpy())
    return tmp_path


def _refused(capsys, argv, *must_contain):
    from lmctheory import _cli
    from lmctheory.nn.predict import main

    assert main([str(a) for a in argv]) == _cli.EXIT_USAGE
    cap = capsys.readouterr()
    assert cap.err.count("\n") == 1 and cap.err.startswith("error: ") and "Traceback" not in cap.err, cap.err
    assert cap.out == ""  # nothing was computed, nothing printed
    for s in must_contain:
        assert s in cap.err, cap.err
    return cap.err


def test_cli_refuses_an_output_that_is_an_input(cli_files, capsys):
    d = cli_files
    before = {p: (d / p).read_bytes() for p in ("m.pt", "X.npy")}
    _refused(capsys, [d / "m.pt", d / "X.npy", "--json", d / "X.npy"], "--json", "is the input DATA")
    _refused(capsys, [d / "m.pt", d / "X.npy", "--json", d / "m.pt"], "is the input MODEL")
    (d / "sub").mkdir()
    _refused(capsys, [d / "m.pt", d / "X.npy", "--json", d / "sub" / ".." / "X.npy"], "is the input DATA")
    (d / "link.json").symlink_to(d / "X.npy")
    _refused(capsys, [d / "m.pt", d / "X.npy", "--json", d / "link.json"], "is the input DATA")
    assert {p: (d / p).read_bytes() for p in ("m.pt", "X.npy")} == before  # the inputs are untouched


def test_cli_refuses_unreadable_model_and_data_files(cli_files, capsys):
    d = cli_files
    (d / "garbage.pt").write_bytes(b"\x00not a torch file at all")
    _refused(capsys, [d / "garbage.pt", d / "X.npy"], "MODEL", "cannot be read as a saved torch model")
    _refused(capsys, [d / "nothere.pt", d / "X.npy"], "MODEL", "no such file")
    torch.save(make_mlp(12, 16, 3, n_layers=3).state_dict(), d / "sd.pt")
    _refused(capsys, [d / "sd.pt", d / "X.npy"], "holds a", "state dict")
    torch.save({"X": torch.zeros(4, 12)}, d / "dict.pt")
    _refused(capsys, [d / "m.pt", d / "dict.pt"], "DATA", "holds a dict")
    np.save(d / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    _refused(capsys, [d / "m.pt", d / "obj.npy"], "DATA", "cannot be read as numeric data")
    np.save(d / "str.npy", np.array([["a", "b"], ["c", "d"]]))
    _refused(capsys, [d / "m.pt", d / "str.npy"], "DATA", "non-numeric")
    (d / "garbage.npy").write_bytes(b"garbage")
    _refused(capsys, [d / "m.pt", d / "garbage.npy"], "DATA", "cannot be read")
    _refused(capsys, [d / "m.pt", d / "X.csv"], "DATA")


def test_cli_refuses_a_json_folder_that_does_not_exist(cli_files, capsys, monkeypatch):
    from lmctheory.nn import predict

    d = cli_files

    def never(*a, **k):
        raise AssertionError("the prediction ran before the destination was checked")

    monkeypatch.setattr(predict, "predict_lmc", never)
    _refused(capsys, [d / "m.pt", d / "X.npy", "--json", d / "no_such_dir" / "r.json"], "does not exist")
    assert not (d / "no_such_dir").exists()
    _refused(capsys, [d / "m.pt", d / "X.npy", "--json", d], "is a folder")


def test_cli_writes_json_atomically_next_to_nothing_else(cli_files, capsys):
    import json

    from lmctheory.nn.predict import main

    d = cli_files
    (d / "r.json").write_text("old")
    assert main([str(d / "m.pt"), str(d / "X.npy"), "--json", str(d / "r.json")]) == 0
    assert json.loads((d / "r.json").read_text())["layers"][0]["name"] == "layers.0"
    assert sorted(p.name for p in d.iterdir()) == ["X.npy", "m.pt", "r.json"]  # no temporary file left
