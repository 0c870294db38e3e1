"""Tests of ``lmctheory.figures``: the framework, the CLI, every figure in quick mode.

Analytic figures render for real (quick sizes, a few seconds each). Trained figures are drawn from
monkeypatched ``collect`` data, so no network is trained here. A figure whose core module has not
been written yet is skipped (not passed) with the reason.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lmctheory.figures as figures
from lmctheory.figures import FigureContext, FigureOutput, FigureSpec, render_figure
from lmctheory.figures import __main__ as cli
from lmctheory.figures import _core, _trained
from lmctheory.figures.style import expected_pixel_size, new_figure, write_csv

QUICK = FigureContext(mode="quick", seed=0, progress=False)

#: name -> (size, columns of its CSV)
ANALYTIC = {
    "fig01_weak_additivity": ("wide", {"series", "dim", "mean", "std", "stderr", "limit"}),
    "fig02_chord_deviation": ("wide", {"eta", "kind", "lam", "value", "stderr"}),
    "fig03_gram_concentration": ("wide", {"mask", "kind", "coherence", "delta", "value"}),
    "fig04_center_gap": ("single", {"k", "n", "kind", "value", "q10", "q90", "frac_below_bound"}),
    "fig05_cost_geometry": ("grid", {"kind", "s", "coherence", "neuron", "quantity", "value", "a_A", "a_B"}),
}


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(path, newline="") as fh:
        header = next(csv.reader(fh))
    return header, rows


def check_outputs(res, size: str, columns: set[str]) -> list[dict]:
    """The three artefacts exist and are consistent; returns the CSV rows."""
    assert res.status == "ok", res.message
    png, csv_path, txt = res.paths["png"], res.paths["csv"], res.paths["txt"]
    img = Image.open(png)
    assert img.size == expected_pixel_size(size)
    pixels = np.asarray(img.convert("L"), dtype=float)
    assert pixels.var() > 0.0
    caption = txt.read_text(encoding="utf-8").strip()
    assert len(caption) > 40
    assert img.text["Description"].strip() == caption
    header, rows = read_csv(csv_path)
    assert columns <= set(header), f"missing columns {columns - set(header)}"
    assert len(rows) >= 3
    return rows


# ----- framework ------------------------------------------------------------------------------


def test_registry_lists_figures_in_order():
    specs = figures.all_specs()
    # registered in figure-number order, each name once
    assert [s.number for s in specs][:10] == list(range(1, 11))
    assert len({s.name for s in specs}) == len(specs)
    assert {s.source for s in specs} == {"analytic", "trained"}


@pytest.mark.parametrize("key,name", [("3", "fig03_gram_concentration"), ("03", "fig03_gram_concentration"),
                                      ("fig04_center_gap", "fig04_center_gap"), ("cost_geometry", "fig05_cost_geometry")])
def test_get_spec_by_number_name_and_suffix(key, name):
    assert figures.get_spec(key).name == name


def test_get_spec_unknown_raises_keyerror():
    with pytest.raises(KeyError, match="no figure"):
        figures.get_spec("99")


def test_context_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        FigureContext(mode="medium")


def test_context_pick_per_mode():
    assert FigureContext(mode="quick").pick(1, 2, 3) == 1
    assert FigureContext(mode="default").pick(1, 2, 3) == 2
    assert FigureContext(mode="full").pick(1, 2, 3) == 3
    assert FigureContext(mode="full").pick(1, 2) == 2


def test_write_csv_rejects_ragged_columns(tmp_path):
    with pytest.raises(ValueError, match="equal lengths"):
        write_csv(tmp_path / "x.csv", {"a": [1, 2], "b": [1]})


def test_write_csv_round_trips_numbers_and_labels(tmp_path):
    p = write_csv(tmp_path / "x.csv", {"a": [1.5, np.inf, np.nan], "b": ["x", "y", "z"], "c": np.arange(3)})
    header, rows = read_csv(p)
    assert header == ["a", "b", "c"]
    assert float(rows[0]["a"]) == 1.5 and math.isinf(float(rows[1]["a"])) and math.isnan(float(rows[2]["a"]))
    assert [r["b"] for r in rows] == ["x", "y", "z"] and rows[2]["c"] == "2"


def _toy_spec(func, name="fig99_toy"):
    return FigureSpec(99, name, "toy", "analytic", func)


def _toy_figure(ctx):
    fig, axes = new_figure("single")
    x = np.linspace(0, 1, 11)
    axes[0, 0].plot(x, x**2)
    return FigureOutput(fig, {"x": x, "y": x**2}, "A toy caption that is long enough to be a caption — ünïcode.")


def test_render_writes_png_csv_caption(tmp_path):
    res = render_figure(_toy_spec(_toy_figure), tmp_path, QUICK)
    rows = check_outputs(res, "single", {"x", "y"})
    assert np.allclose([float(r["y"]) for r in rows], np.linspace(0, 1, 11) ** 2)


def test_blank_png_is_detected(tmp_path):
    """The non-blank check bites: an empty white canvas has zero pixel variance."""

    def blank(ctx):
        fig, axes = new_figure("single")
        axes[0, 0].set_axis_off()
        return FigureOutput(fig, {"x": [0, 1, 2]}, "A blank figure, which the check must reject as blank.")

    res = render_figure(_toy_spec(blank), tmp_path, QUICK)
    with pytest.raises(AssertionError):
        check_outputs(res, "single", {"x"})


# ----- CLI ------------------------------------------------------------------------------------


@pytest.fixture
def toy_registry(monkeypatch):
    """Replace the registry by two toy figures: one ok, one failing."""

    def fails(ctx):
        raise RuntimeError("boom")

    specs = {
        "fig91_ok": FigureSpec(91, "fig91_ok", "ok", "analytic", _toy_figure),
        "fig93_fails": FigureSpec(93, "fig93_fails", "bad", "analytic", fails),
    }
    monkeypatch.setattr(_core, "FIGURES", specs)
    monkeypatch.setattr(figures, "FIGURES", specs)
    monkeypatch.setattr(figures, "load_all", lambda: None)
    monkeypatch.setattr(figures, "all_specs", lambda: sorted(specs.values(), key=lambda s: s.number))
    return specs


def test_cli_exit_codes(toy_registry, tmp_path, capsys):
    args = ["--out", str(tmp_path), "--no-progress", "--quick"]
    assert cli.main(args + ["--only", "91"]) == cli.EXIT_OK
    assert (tmp_path / "fig91_ok.png").exists()
    assert cli.main(args) == cli.EXIT_ERROR == 1
    out = capsys.readouterr()
    assert "RuntimeError: boom" in out.err and "Traceback" not in out.err
    assert cli.main(args + ["--only", "nonexistent_figure"]) == cli.EXIT_USAGE


def test_cli_list(capsys):
    assert cli.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == len(figures.all_specs()) and "fig05_cost_geometry" in out


def test_cli_quick_and_full_are_exclusive():
    with pytest.raises(SystemExit) as exc:
        cli.main(["--quick", "--full"])
    assert exc.value.code == 2


# ----- analytic figures -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ANALYTIC))
def test_analytic_figure_renders_quick(name, tmp_path):
    spec = figures.get_spec(name)
    size, cols = ANALYTIC[name]
    res = render_figure(spec, tmp_path, QUICK)
    rows = check_outputs(res, size, cols)
    vals = np.array([float(r["value"] if "value" in r else r["mean"]) for r in rows])
    assert np.isfinite(vals).mean() > 0.9


def test_cli_cluster_flags_are_exclusive():
    with pytest.raises(SystemExit) as exc:
        cli.main(["--dask", "tcp://a:1", "--ray", "ray://b:2"])
    assert exc.value.code == 2


def test_cli_passes_cluster_client_to_figures(toy_registry, tmp_path, monkeypatch):
    import lmctheory.sweep as sweep

    class FakeClient:
        closed = False

        def close(self):
            FakeClient.closed = True

    seen = {}

    def spy(ctx):
        seen["client"] = ctx.client
        return _toy_figure(ctx)

    toy_registry["fig91_ok"] = FigureSpec(91, "fig91_ok", "ok", "analytic", spy)
    monkeypatch.setattr(sweep, "connect", lambda dask=None, ray=None: FakeClient() if dask == "tcp://x:1" else None)
    assert cli.main(["--out", str(tmp_path), "--no-progress", "--only", "91", "--dask", "tcp://x:1"]) == cli.EXIT_OK
    assert isinstance(seen["client"], FakeClient) and FakeClient.closed


def test_cli_unreachable_cluster_is_a_message(toy_registry, tmp_path, monkeypatch, capsys):
    import lmctheory.sweep as sweep

    def refuse(dask=None, ray=None):
        raise OSError("Timed out trying to connect")

    monkeypatch.setattr(sweep, "connect", refuse)
    assert cli.main(["--out", str(tmp_path), "--no-progress", "--dask", "tcp://nowhere:1"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "cannot connect to the Dask scheduler tcp://nowhere:1" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


# ----- trained figures (monkeypatched collect data: nothing is trained here) -------------------


def _fake_c4(rng):
    cfg = dict(c=10, width=128, keep_prob=0.15, epochs=60, n_outer=2, n_pairs=3)
    lams = np.linspace(0, 1, 21)
    embs = {}
    for emb in ("copy", "frame"):
        ms = [1, 2, 5, 10]
        bar = [list(0.01 * m + 0.002 * rng.random(6)) for m in ms]
        embs[emb] = dict(
            m=ms, nu=[1.0 / m for m in ms],
            barrier_mean=[float(np.mean(b)) for b in bar], barrier_sem=[float(np.std(b) / 2) for b in bar],
            barrier_pairs=bar, endpoint_loss_mean=list(0.02 + 0.001 * rng.random(4)),
            endpoint_loss_std=[0.001] * 4, target_var=0.34, lams=list(lams),
            curve_mean=[list(0.02 + 4 * b[0] * lams * (1 - lams)) for b in bar],
            curve_std=[list(0.001 + 0 * lams) for _ in ms],
        )
    return {"config": cfg, "seconds": 1.0, "embeddings": embs}


def _fake_c3(rng):
    cfg = dict(n_classes=5, d=64, hidden=128, n_layers=4, fixed_fraction=0.08, epochs=30, n_pairs=1,
               ks=[2, 8, 32], sigma_fs=[0.0, 1.0], tau=0.1)
    grid = {}
    for sf in cfg["sigma_fs"]:
        grid[str(sf)] = {}
        for k in cfg["ks"]:
            layers = []
            for ell in range(3):
                M = rng.standard_normal((32, 32)) + (3.0 * sf * k ** 0.5)
                M = M + M.T
                np.fill_diagonal(M, 0.0)
                smp = M[np.triu_indices(32, 1)][:200]
                layers.append(dict(layer=ell + 1, frac_cheap=0.1 / k, frac_negative=0.5 - 0.4 * sf,
                                   median=float(np.median(smp)), matrix=M.tolist(), sample=smp.tolist()))
            grid[str(sf)][str(k)] = dict(k=k, drop_train_mean=20.0 / k, drop_test_mean=22.0 / k,
                                         endpoint_acc_train=[0.9, 0.92], layers=layers)
    return dict(config=cfg, seconds=1.0, quantile_levels=[0.5], grid=grid)


def _fake_c1(rng):
    cfg = dict(dataset="digits", hidden=128, n_layers=4, fixed_fraction=0.08, epochs=20, pairs=2)
    lams = np.linspace(0, 1, 11)
    variants = {}
    for label, kind, sf, h in (("standard", "standard", 0.0, 30), ("wmlp_sf0", "wmlp", 0.0, 25),
                               ("wmlp_sf1", "wmlp", 1.0, 2), ("syre", "syre", 0.25, 4)):
        curves = {}
        for which, hh in (("unaligned", h), ("aligned", 1.0)):
            acc = 0.95 - hh / 100 * 4 * lams * (1 - lams)
            curves[which] = dict(lams=list(lams), acc_mean=list(acc), acc_std=list(0.01 + 0 * lams),
                                 loss_mean=list(0.2 + 2 * (0.95 - acc)), loss_std=list(0.02 + 0 * lams),
                                 midpoint_acc_drop=[hh, hh], midpoint_acc_drop_mean=float(hh),
                                 midpoint_acc_drop_std=0.5)
        variants[label] = dict(kind=kind, sigma_f=sf, endpoint_test_acc=[0.95, 0.96],
                               endpoint_train_acc=[1.0, 1.0], match_identity_over_optimal=[0.5, 0.6], **curves)
    return dict(config=cfg, variants=variants, seconds=1.0)


def _fake_c2(rng):
    sfs = [0.0, 0.5, 1.0, 2.0, 3.0, 5.0]
    opt = [0.8 + 0.02 * s for s in sfs]
    ide = [0.1 + 0.7 * s / (1 + s) for s in sfs]
    rnd = [0.02 + 0.01 * rng.random() for _ in sfs]
    return dict(
        config=dict(dataset="digits", hidden=128, n_layers=4, epochs=20, pairs=2, sigma_fs=sfs),
        sigma_f=sfs, optimal_mean=opt, optimal_std=[0.01] * 6, identity_mean=ide, identity_std=[0.02] * 6,
        random_mean=rnd, random_std=[0.01] * 6, identity_over_optimal=[i / o for i, o in zip(ide, opt)],
        random_over_optimal=[r / o for r, o in zip(rnd, opt)],
        per_layer={str(s): dict(optimal=[o, o, o], identity=[i * 0.9, i, i * 1.05], random=[r, r, r])
                   for s, o, i, r in zip(sfs, opt, ide, rnd)},
        endpoint_test_acc=[0.95] * 6, seconds=1.0)


def _fake_lewc_table(rng):
    mults = [1, 4, 16]
    table = {}
    for wd in (0.003, 0.0001):
        t = dict(multiplier=mults, width=[32 * m for m in mults], endpoint_acc=[0.95, 0.96, 0.97],
                 endpoint_acc_std=[0.01] * 3, merged_acc=[0.5, 0.8, 0.93], merged_acc_std=[0.05] * 3,
                 barrier_lin=[1.0, 0.9, 0.8], barrier_lin_std=[0.1] * 3,
                 barrier_lin_calibrated=[0.5, 0.1, 0.02], barrier_lin_calibrated_std=[0.01] * 3,
                 lams=[list(np.linspace(0, 1, 5))] * 3,
                 curve_acc=[list(0.95 - d * 4 * np.linspace(0, 1, 5) * (1 - np.linspace(0, 1, 5)))
                            for d in (0.45, 0.16, 0.04)],
                 wa_cosine=(0.93 + 0.01 * rng.random((3, 3))).tolist(),
                 ro=(np.c_[np.ones(3), 0.5 * rng.random((3, 3))]).tolist(),
                 lewc_cosine=(0.9 + 0.1 * rng.random((3, 4))).tolist())
        t.update(ro_std=t["ro"], ro_ab=t["ro"], ro_ba=t["ro"], lewc_cosine_std=t["lewc_cosine"],
                 effective_rank=[[5.0] * 4] * 3)
        table[str(wd)] = t
    return table


def _fake_l1(rng):
    cfg = dict(dataset="digits", base_width=32, n_hidden=3, multipliers=[1, 4, 16], n_pairs=1, epochs=60,
               cal_fraction=0.2)
    return dict(config=cfg, seconds=1.0, table=_fake_lewc_table(rng))


FAKE = {"mask_coherence.collect": _fake_c4, "wmlp_swap_costs.collect": _fake_c3,
        "mlp_pairs.collect_interpolation": _fake_c1, "mlp_pairs.collect_matching": _fake_c2,
        "lewc_width.collect": _fake_l1}

#: name -> (experiments, size, CSV columns)
TRAINED = {
    "fig10_lewc_width": (("lewc_width.collect",), "xgrid", {"panel", "weight_decay", "width", "layer", "lam", "value"}),
    "fig08_matching_objective": (("mlp_pairs.collect_matching",), "wide", {"kind", "sigma_f", "layer", "value", "std"}),
    "fig09_interpolation": (("mlp_pairs.collect_interpolation",), "grid",
                            {"alignment", "variant", "sigma_f", "lam", "metric", "mean", "std"}),
    "fig06_swap_costs": (("wmlp_swap_costs.collect",), "grid", {"kind", "sigma_f", "k", "layer", "i", "j", "value",
                                                                "normalized"}),
    "fig07_coherence_barrier": (("mask_coherence.collect",), "wide", {"kind", "embedding", "m", "nu", "lam", "value"}),
}


@pytest.fixture
def fake_collect(monkeypatch):
    """Serve fake ``collect`` data for the experiments in FAKE; record which experiments were asked for."""
    asked = []

    def fake_experiment(key):
        asked.append(key)
        return lambda ectx, k=key: FAKE[k](np.random.default_rng(0))

    monkeypatch.setattr(_trained, "experiment", fake_experiment)
    return asked


@pytest.mark.parametrize("name", sorted(TRAINED))
def test_trained_figure_renders_from_collect_data(name, tmp_path, fake_collect):
    keys, size, cols = TRAINED[name]
    res = render_figure(figures.get_spec(name), tmp_path, QUICK)
    check_outputs(res, size, cols)
    assert set(fake_collect) == set(keys)


def test_trained_figures_name_real_experiments():
    """Every experiment a trained figure asks for exists in lmctheory.experiments."""
    for keys, _, _ in TRAINED.values():
        for key in keys:
            assert callable(_trained.experiment(key)), key


def test_trained_collect_with_wrong_keys_names_the_key(tmp_path, monkeypatch):
    monkeypatch.setattr(_trained, "experiment", lambda key: (lambda ectx: {"x": 1}))
    with pytest.raises(KeyError, match=r"lmctheory.experiments.mask_coherence.collect\(\) data has no \['embeddings'\]"):
        render_figure(figures.get_spec("7"), tmp_path, QUICK)
