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
    assert {"unaligned", "perm", "orth"} <= set(row)
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
