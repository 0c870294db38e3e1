"""paper_checks infrastructure: discovery, a tiny claim run with a temporary cache, CLI, table, JSON."""

import json

import numpy as np
import pytest

import lmctheory.nn as lnn
from paper_checks import common

TINY_C1 = dict(dataset="gmm-k4-d16-s2.0", data_seed=0, n_layers=3, fixed_fraction=0.1, lr=1e-2, weight_decay=1e-2,
               batch_size=256, n_lams=3, n_random=3, version=-1, hidden=8, epochs=1, pairs=1)


@pytest.fixture
def tiny_c1(monkeypatch):
    from paper_checks import c1_unaligned_lmc as c1

    monkeypatch.setattr(c1, "config", lambda quick: dict(TINY_C1))
    calls = {"n": 0}
    real = lnn.train

    def counting(*a, **k):
        calls["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(lnn, "train", counting)
    return c1, calls


def test_discover_finds_claims():
    claims = common.discover()
    for cid in ("C1", "C2", "C5", "C7", "C8"):
        assert cid in claims, claims
    assert common.CLAIM_PATTERN.match("l3_reciprocal.py") and not common.CLAIM_PATTERN.match("common.py")
    with pytest.raises(KeyError, match="unknown claim"):
        common.load_claim("Z9")


def test_tiny_claim_runs_and_second_call_hits_cache(tiny_c1, tmp_path):
    c1, calls = tiny_c1
    ctx = common.Context(quick=True, cache_root=tmp_path, progress=False, max_workers=1)
    r1 = c1.run(ctx)
    assert isinstance(r1, common.ClaimResult) and r1.id == "C1"
    assert r1.passed in (True, False, None) and r1.measured and r1.condition == c1.CONDITION
    assert calls["n"] == 8  # 4 variants x 1 pair x 2 models
    files = sorted(p.name for p in tmp_path.rglob("*.json"))
    assert len(files) == 4
    r2 = c1.run(ctx)
    assert calls["n"] == 8  # nothing retrained: every job came from the cache
    assert r2.measured == r1.measured
    data = c1.collect(ctx)
    json.dumps(data)  # plain JSON
    cur = data["variants"]["standard"]["unaligned"]
    assert len(cur["lams"]) == len(cur["acc_mean"]) == len(cur["loss_std"]) == 3
    # a corrupt entry is recomputed, not fatal
    victim = next(tmp_path.rglob("*.json"))
    victim.write_text("{not json")
    c1.run(ctx)
    assert calls["n"] == 10


def test_run_claims_reports_errors_and_table(monkeypatch, tiny_c1, tmp_path):
    from paper_checks import c1_unaligned_lmc as c1

    ctx = common.Context(quick=True, cache_root=tmp_path, progress=False, max_workers=1)
    monkeypatch.setattr(c1, "run", lambda ctx: (_ for _ in ()).throw(RuntimeError("boom")))
    res = common.run_claims(["c1"], ctx)
    assert res[0].passed is None and "boom" in res[0].measured and res[0].verdict == "n/a"
    table = common.format_table(res + [common.ClaimResult("X1", "t", "paper", "measured", True, "cond")])
    assert "C1" in table and "pass" in table and "1 pass, 0 miss, 1 n/a" in table
    path = common.results_to_json(res, tmp_path / "r.json", quick=True)
    doc = json.loads(path.read_text())
    assert doc["meta"]["quick"] is True and doc["results"][0]["id"] == "C1"


def test_cli_tiny_run(tiny_c1, tmp_path, capsys, monkeypatch):
    out_json = tmp_path / "out.json"
    from paper_checks import __main__ as cli

    real_ctx = common.Context
    monkeypatch.setattr(common, "Context", lambda **kw: real_ctx(**kw, max_workers=1))
    rc = cli.main(["--quick", "--only", "C1", "--cache", str(tmp_path / "cache"), "--json", str(out_json),
                   "--no-progress"])
    out = capsys.readouterr().out
    assert "C1" in out and ("pass" in out or "MISS" in out)
    res = json.loads(out_json.read_text())["results"][0]
    assert res["id"] == "C1"
    assert rc == (1 if res["passed"] is False else 0)  # the shared contract: a MISS exits 1
    assert cli.main(["--only", "Q7"]) == 2


def test_helpers():
    assert common.spearman([1, 2, 3, 4], [2, 4, 5, 9]) == pytest.approx(1.0)
    assert np.isnan(common.spearman([1, 2], [1, 2]))
    assert common.is_increasing([1, 2, 2]) and not common.is_increasing([1, 2, 2], strict=True)
    assert not common.is_increasing([1, float("nan")])
    assert common.mean_std([1.0, 3.0, float("nan")]) == (2.0, 1.0)
    assert common.jsonable({"a": np.arange(2), "b": np.float32(1.5), "c": (np.int64(1),)}) == {
        "a": [0, 1], "b": 1.5, "c": [1]}
    ctx = common.Context(cache_root="~/x")
    assert ctx.cache_root.is_absolute()


def test_c5_slope_fit_recovers_exponent_and_bites():
    from paper_checks import c5_center_gap_rate as c5

    ns = [16, 64, 256, 1024]
    rng = np.random.default_rng(0)
    gaps = np.array([[3.0 * n ** -0.5 * np.exp(0.05 * rng.standard_normal()) for _ in range(30)] for n in ns])
    slope, se = c5.fit_slope(ns, gaps)
    assert abs(slope + 0.5) < 4 * se + 1e-3 and se < 0.02
    data = {"ks": {"4": {"slope": slope, "predicted": -0.5}, "8": {"slope": -0.5, "predicted": -0.25}}}
    ok, ev = c5.evaluate_condition(data)
    assert ok is False and ev["4"]["within"] and not ev["8"]["within"]  # a wrong exponent is caught
    # T-4.6 quantile: decreasing in n, increasing in delta', scales with sigma_F
    assert c5.t_star(100, 2, 1.0, 0.1) > c5.t_star(1000, 2, 1.0, 0.1)
    assert np.isclose(c5.t_star(100, 4, 2.0, 0.1), 2 * c5.t_star(100, 4, 1.0, 0.1))


def test_conditions_bite():
    from paper_checks import c1_unaligned_lmc as c1
    from paper_checks import c2_matching_objective as c2
    from paper_checks import c7_gram_concentration as c7
    from paper_checks import c8_cost_estimators as c8

    def c1_data(std, sf0, sf1, syre, aligned=1.0):
        mk = lambda u: {"unaligned": {"midpoint_acc_drop_mean": u}, "aligned": {"midpoint_acc_drop_mean": aligned}}
        return {"variants": {"standard": mk(std), "wmlp_sf0": mk(sf0), "wmlp_sf1": mk(sf1), "syre": mk(syre)}}

    assert c1.evaluate_condition(c1_data(20, 15, 2, 1))[0] is True
    assert c1.evaluate_condition(c1_data(20, 15, 9, 1))[0] is False       # W-MLP σ_F=1 not ≪ σ_F=0
    assert c1.evaluate_condition(c1_data(20, 15, 2, 1, aligned=6))[0] is False
    assert c1.evaluate_condition(c1_data(20, float("nan"), 2, 1))[0] is None

    sf = [0, 0.5, 1, 2, 3, 5]
    good = {"sigma_f": sf, "identity_over_optimal": [0, .5, .8, .9, .95, .99], "random_over_optimal": [0.01] * 6}
    assert c2.evaluate_condition(good)[0] is True
    assert c2.evaluate_condition({**good, "identity_over_optimal": [.99, .95, .9, .8, .5, 0]})[0] is False
    assert c2.evaluate_condition({**good, "random_over_optimal": [0.9] * 6})[0] is False

    rec = lambda fam, nu, dev, v=0: {"family": fam, "coherence": nu, "dev_mean": dev, "violations": v, "n": 10,
                                     "max_over_bound": 0.5, "nontrivial": False, "label": "x"}
    recs = [rec(f, nu, nu) for f in ("iid", "fixed_count") for nu in (0.1, 0.5, 1.0)]
    assert c7.evaluate_condition({"records": recs})[0] is True
    assert c7.evaluate_condition({"records": recs[:-1] + [rec("fixed_count", 1.0, 1.0, v=1)]})[0] is False
    assert c7.evaluate_condition({"records": [rec("iid", nu, 1 - nu) for nu in (.1, .5, 1)] + recs[3:]})[0] is False

    assert c8.evaluate_condition({"groups": {"a": {"spearman": 0.3}, "b": {"spearman": 0.1}}})[0] is True
    assert c8.evaluate_condition({"groups": {"a": {"spearman": 0.3}, "b": {"spearman": -0.1}}})[0] is False
    assert c8.evaluate_condition({"groups": {"a": {"spearman": float("nan")}}})[0] is None


def test_tiny_c5_c7_c8_runs(monkeypatch, tmp_path):
    from paper_checks import c5_center_gap_rate as c5
    from paper_checks import c7_gram_concentration as c7
    from paper_checks import c8_cost_estimators as c8

    monkeypatch.setattr(c5, "config", lambda quick: dict(ks=[2, 4], ns=[8, 16, 32], reps=3, d=8, sigma_f=1.0,
                                                          version=-1))
    c7_cfg = {**c7.config(True), "ts_ms": [1, 5], "ts_embeddings": ["copy"], "ts_width": 16, "wide": [[64, 2]],
              "wide_width": 8, "datasets": ["gmm-k4-d16-s2.0"], "hidden": 8, "epochs": 1, "version": -1}
    monkeypatch.setattr(c7, "config", lambda quick: dict(c7_cfg))
    c8_cfg = {**c8.config(True), "dataset": "gmm-k4-d16-s2.0", "hidden": 8, "epochs": 1, "pairs": 5, "n_ridge": 60,
              "lbfgs_steps": 5, "version": -1}
    monkeypatch.setattr(c8, "config", lambda quick: dict(c8_cfg))
    ctx = common.Context(quick=True, cache_root=tmp_path, progress=False, max_workers=1)
    for mod in (c5, c7, c8):
        r = mod.run(ctx)
        assert isinstance(r, common.ClaimResult) and r.id == mod.ID and r.passed in (True, False, None)
        json.dumps(r.to_dict())
    n_files = len(list(tmp_path.rglob("*.json")))
    assert n_files == 1 + (2 + 1 + 3) + 2  # C5 whole-claim entry, C7 jobs, C8 jobs
    assert c5.run(ctx).measured == c5.run(ctx).measured
    assert len(list(tmp_path.rglob("*.json"))) == n_files
