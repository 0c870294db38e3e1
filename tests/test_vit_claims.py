"""Claims C11 ([NI] G.4) and G1 ([GLMC]) and figure 14 at tiny sizes: the pipeline runs end to end and each
condition can fail."""

import copy

import numpy as np
import pytest

TINY = dict(dataset="digits", data_seed=0, patch=4, dim=8, depth=1, heads=2, mlp_ratio=1.0, fixed_fraction=0.25,
            lr=3e-3, weight_decay=1e-2, batch_size=256, n_lams=3,
            variants=["standard", "wvit_zero", "wvit_fixed", "rms_standard"], version=-1, epochs=1, pairs=2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from lmctheory.experiments import vit_pairs
    from paper_checks import common

    cache = tmp_path_factory.mktemp("vit_claims")  # shared: the claims and the figure reuse the same jobs
    with pytest.MonkeyPatch.context() as mp:
        # the claims and the figure read the library experiment's config: shrink it
        mp.setattr(vit_pairs, "config", lambda quick: copy.deepcopy(TINY))
        yield common.Context(quick=True, cache_root=cache, progress=False, max_workers=1), cache


def test_c11_claim_tiny_and_condition_bites(tiny):
    from paper_checks import c11_vit_lmc as c11
    from paper_checks import common

    ctx, _ = tiny
    assert common.discover()["C11"] == "paper_checks.c11_vit_lmc"
    r = c11.run(ctx)
    assert r.id == "C11" and r.passed in (True, False) and "wvit_fixed: drop" in r.measured
    data = c11.collect(ctx)
    assert set(data["variants"]) == {"standard", "wvit_zero", "wvit_fixed"}
    row = data["variants"]["wvit_fixed"]
    assert len(row["unaligned"]["acc_mean"]) == 3 and len(row["perm"]["midpoint_acc_drop"]) == 2
    assert len(row["endpoint_test_acc"]) == 4

    def with_drops(d, s):
        bad = copy.deepcopy(data)
        for k in d:
            bad["variants"][k]["unaligned"]["midpoint_acc_drop_mean"] = d[k]
            bad["variants"][k]["unaligned"]["midpoint_acc_drop_std"] = s[k]
        return bad

    lo = {"standard": 1.0, "wvit_zero": 1.0, "wvit_fixed": 1.0}
    assert c11.evaluate_condition(with_drops({"standard": 60, "wvit_zero": 58, "wvit_fixed": 30}, lo))[0] is True
    # (1) fails: fixed weights only 10% lower
    assert c11.evaluate_condition(with_drops({"standard": 60, "wvit_zero": 58, "wvit_fixed": 52}, lo))[0] is False
    # (1) fails when zero-fixed is as low as fixed, even if standard is high
    assert c11.evaluate_condition(with_drops({"standard": 60, "wvit_zero": 31, "wvit_fixed": 30}, lo))[0] is False
    # (2) fails: the gap is within the spread over pairs
    wide = {"standard": 1.0, "wvit_zero": 1.0, "wvit_fixed": 35.0}
    assert c11.evaluate_condition(with_drops({"standard": 60, "wvit_zero": 58, "wvit_fixed": 30}, wide))[0] is False
    assert c11.evaluate_condition(with_drops({"standard": np.nan, "wvit_zero": 58, "wvit_fixed": 30}, lo))[0] is None


def test_g1_claim_tiny_and_condition_bites(tiny):
    from paper_checks import common
    from paper_checks import g1_transformer_orthogonal as g1

    ctx, _ = tiny
    assert common.discover()["G1"] == "paper_checks.g1_transformer_orthogonal"
    r = g1.run(ctx)
    assert r.id == "G1" and r.passed in (True, False) and "orth/perm" in r.measured
    data = g1.collect(ctx)
    row = data["variants"]["rms_standard"]
    assert {"unaligned", "perm", "orth", "hier", "learned"} <= set(row)
    assert "hier/perm" in r.measured and "learned/perm" in r.measured
    assert all(a <= b + 1e-9 for a, b in zip(row["procrustes_residual_after"], row["procrustes_residual_before"]))

    def with_barriers(perm, orth):
        bad = copy.deepcopy(data)
        bad["variants"]["rms_standard"]["perm"]["loss_barrier_lin_mean"] = perm
        bad["variants"]["rms_standard"]["orth"]["loss_barrier_lin_mean"] = orth
        return bad

    assert g1.evaluate_condition(with_barriers(1.0, 0.4))[0] is True
    assert g1.evaluate_condition(with_barriers(1.0, 0.6))[0] is False
    assert g1.evaluate_condition(with_barriers(np.nan, 0.6))[0] is None
    del data["variants"]["rms_standard"]["orth"]
    assert g1.evaluate_condition(data)[0] is None


def test_figure14_renders_tiny(tiny):
    from lmctheory.figures import FigureContext, get_spec, render_figure

    ctx, tmp_path = tiny
    res = render_figure(get_spec("fig14_transformer_interpolation"), tmp_path / "fig",
                        FigureContext(mode="quick", cache_root=tmp_path, progress=False))
    assert res.status == "ok", res.message
    header = res.paths["csv"].read_text().splitlines()[0].split(",")
    assert {"variant", "alignment", "lam", "metric", "mean", "std"} <= set(header)
    body = res.paths["csv"].read_text()
    assert "rms_standard,orth" in body and "wvit_fixed,perm" in body


TINY_VIT_STRAT = dict(dataset="digits", data_seed=0, patch=4, depth=1, heads=2, mlp_ratio=1.0, norm="rmsnorm",
                      lr=3e-3, weight_decay=1e-2, batch_size=256, n_lams=3, wm_rounds=1, learned_lr=1e-2, version=-1,
                      widths=[4, 8], epochs=1, pairs=1, learned_steps=2, align_rows=64)
TINY_GPT = dict(p=5, length=4, n_train=64, n_test=32, data_seed=0, depth=1, heads=2, lr=3e-3, weight_decay=0.1,
                batch_size=64, n_lams=3, wm_rounds=1, learned_lr=1e-2, version=-1, widths=[4, 8], epochs=1, pairs=1,
                learned_steps=2, align_rows=32)


@pytest.fixture(scope="module")
def tiny_strategies(tmp_path_factory):
    from lmctheory.experiments import gpt_pairs, vit_pairs
    from paper_checks import common

    cache = tmp_path_factory.mktemp("strategy_claims")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vit_pairs, "strategies_config", lambda quick: copy.deepcopy(TINY_VIT_STRAT))
        mp.setattr(gpt_pairs, "config", lambda quick: copy.deepcopy(TINY_GPT))
        yield common.Context(quick=True, cache_root=cache, progress=False, max_workers=1), cache


@pytest.mark.parametrize("cid, module", [("G2", "g2_hierarchy_alignment"), ("G3", "g3_gpt_hierarchy_alignment")])
def test_g2_g3_claims_tiny_and_condition_bites(tiny_strategies, cid, module):
    import importlib

    from lmctheory.experiments.vit_pairs import STRATEGY_CURVES
    from paper_checks import common

    claim = importlib.import_module(f"paper_checks.{module}")
    ctx, _ = tiny_strategies
    assert common.discover()[cid] == f"paper_checks.{module}"
    r = claim.run(ctx)
    assert r.id == cid and r.passed in (True, False) and "width 8" in r.measured
    data = claim.collect(ctx)
    assert set(data["widths"]) == {"4", "8"}
    row = data["widths"]["8"]
    assert {s for s, _, _ in STRATEGY_CURVES} <= set(row)
    assert all(np.isfinite(row[s]["loss_barrier_lin_mean"]) for s, _, _ in STRATEGY_CURVES)

    from paper_checks.g2_hierarchy_alignment import evaluate_order

    def with_barriers(**b):
        bad = copy.deepcopy(data)
        for s, v in b.items():
            bad["widths"]["8"][s]["loss_barrier_lin_mean"] = v
        return bad

    assert evaluate_order(with_barriers(learned=0.0, weight=0.3, activation=1.2, vanilla=1.7))[0] is True
    assert evaluate_order(with_barriers(learned=0.0, weight=1.3, activation=1.2, vanilla=1.7))[0] is False
    assert evaluate_order(with_barriers(learned=0.5, weight=0.3, activation=1.2, vanilla=1.7))[0] is False
    assert evaluate_order(with_barriers(learned=np.nan, weight=0.3, activation=1.2, vanilla=1.7))[0] is None
    # the widest width is judged, not the last key
    narrow = with_barriers(learned=0.0, weight=0.3, activation=1.2, vanilla=1.7)
    narrow["widths"]["4"]["learned"]["loss_barrier_lin_mean"] = 9.0
    assert evaluate_order(narrow)[1]["width"] == "8"


def test_figure15_renders_tiny(tiny_strategies):
    from lmctheory.figures import FigureContext, get_spec, render_figure

    ctx, tmp_path = tiny_strategies
    res = render_figure(get_spec("fig15_hierarchy_barriers"), tmp_path / "fig",
                        FigureContext(mode="quick", cache_root=tmp_path, progress=False))
    assert res.status == "ok", res.message
    body = res.paths["csv"].read_text()
    assert body.splitlines()[0].startswith("domain,width,strategy")
    assert "vision: ViT on digits" in body and "language: HF GPT-2" in body and ",learned," in body
