"""Mode-connecting curves between independently trained networks ([MC] §2; Garipov et al. 2018).

The experiment behind paper_checks M1 and figure 11: train pairs of one architecture, fit a Bézier curve
between them (unaligned and after activation matching), and evaluate line and curve the same way
(:func:`lmctheory.nn.curves.line_path`, :meth:`lmctheory.nn.curves.Curve.evaluate`).

Setup (CPU scale, like C1 and C9): scikit-learn digits, AdamW lr 1e-3, wd 1e-2, batch 128; two architecture rows:
standard MLPs (4 layers, LayerNorm, GELU, layerwise matching) and standard ResNet-8s (:func:`lmctheory.nn.make_resnet`,
GroupNorm, on the digits as 8×8 images, generic activation matching on the traced groups). Per pair of independently
initialized models: a quadratic Bézier curve (one control point, initialized at the midpoint, trained with one
uniform ``t`` per minibatch) is fit on the training set between A and B (unaligned) and between A and B permuted
to A by activation matching on the training set (aligned). Line and curve are evaluated on the test set at ``n_ts``
equally spaced ``t`` (BatchNorm statistics recomputed at every point). The architecture is a config field
(``archs``: name → its keys, a key of :data:`ARCHITECTURES`). Curve ensembling (softmax average over the ``t`` grid
vs the two endpoints) is reported too.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ._common import Context, jsonable, mean_std
from .mlp_pairs import load_dataset  # "digits", "digits-images" or "gmm-k<k>-d<d>-s<separation>"

NAMESPACE = "experiments_mode_curves"
VERSION = 1


def _build_mlp(ds, cfg, seed):
    from lmctheory.nn.models import make_mlp

    return make_mlp(ds.in_dim, cfg["hidden"], ds.n_classes, n_layers=cfg["n_layers"], kind="standard", seed=seed)


def _align_mlp(model_a, model_b, ds, cfg):
    from lmctheory.nn.matching import activation_match, permute_model, to_standard

    match = activation_match(model_a, model_b, ds.X_train, n_random=1, seed=cfg["seed"])
    return to_standard(model_a), to_standard(permute_model(model_b, match))


def _build_resnet(ds, cfg, seed):
    from lmctheory.nn.models import make_resnet

    if ds.X_train.ndim != 4:
        raise ValueError(f"the resnet architecture needs image data (N, C, H, W), got dataset {cfg['dataset']!r} "
                         f"with X_train of shape {tuple(ds.X_train.shape)}; use dataset 'digits-images'")
    return make_resnet(ds.X_train.shape[1], ds.n_classes, depth=cfg["depth"], width=cfg["width"], kind="standard",
                       seed=seed)


def _align_generic(model_a, model_b, ds, cfg):
    """Activation matching on the traced permutation groups (any model; conv pixels are samples), B onto A."""
    from lmctheory.nn.matching import activation_match, permute_model, to_standard

    a, b = to_standard(model_a), to_standard(model_b)
    match = activation_match(a, b, ds.X_train, n_random=1, seed=cfg["seed"])
    return a, permute_model(b, match)


#: ``name -> (build(ds, cfg, seed) -> model, align(model_a, model_b, ds, cfg) -> (a, b_aligned) or None)``.
#: A builder's model takes the dataset's rows ``ds.X_train`` as they are (an architecture's ``archs`` entry may
#: set its own ``dataset``, e.g. ``"digits-images"`` for the ResNet); to add an architecture, add an entry and
#: name it in the job's ``arch``.
ARCHITECTURES = {"mlp": (_build_mlp, _align_mlp), "resnet": (_build_resnet, _align_generic)}


def curve_pair_job(cfg: dict) -> dict:
    """Train two models of ``cfg["arch"]``, fit Bézier curves unaligned and aligned, compare with the line.

    ``cfg`` keys: ``arch`` (a key of :data:`ARCHITECTURES`), ``dataset``, ``data_seed``, ``seed``, ``pair``,
    ``epochs``, ``lr``, ``weight_decay``, ``batch_size`` (endpoint training, as in
    :func:`~lmctheory.nn.train`), ``curve_kind``, ``curve_epochs``, ``curve_lr``, ``n_ts``, and the
    architecture's own keys (MLP: ``hidden``, ``n_layers``). Models use seeds ``1000·seed + 2·pair + 1, + 2``.
    Curves are fit on the training set; line and curve are evaluated on the test set (BatchNorm statistics
    recomputed on the training inputs). Returns a JSON-able dict: ``{"unaligned"|"aligned": {"line":
    InterpolationResult dict, "curve": …, "ensemble": CurveEnsemble dict, "curve_history": […]}}`` plus endpoint
    accuracies and timings; ``"aligned"`` is ``None`` when the architecture has no aligner.
    """
    from lmctheory.nn.curves import fit_curve, line_path
    from lmctheory.nn.training import evaluate, train

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    if cfg["arch"] not in ARCHITECTURES:
        raise ValueError(f"unknown arch {cfg['arch']!r}; known: {sorted(ARCHITECTURES)}")
    build, align = ARCHITECTURES[cfg["arch"]]
    ds = load_dataset(cfg["dataset"], cfg["data_seed"])
    base = 1000 * cfg["seed"] + 2 * cfg["pair"]
    models = []
    for s in (base + 1, base + 2):
        m = build(ds, cfg, s)
        train(m, ds.X_train, ds.y_train, epochs=cfg["epochs"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
              batch_size=cfg["batch_size"], seed=s)
        models.append(m)
    t_train = time.perf_counter() - t0
    ts = np.linspace(0.0, 1.0, cfg["n_ts"])
    out = {"endpoint_test_acc": [evaluate(m, ds.X_test, ds.y_test)[1] for m in models], "seconds_train": t_train}
    pairs = {"unaligned": tuple(models)}
    if align is not None:
        pairs["aligned"] = align(models[0], models[1], ds, cfg)
    for which in ("unaligned", "aligned"):
        if which not in pairs:
            out[which] = None
            continue
        a, b = pairs[which]
        t1 = time.perf_counter()
        curve = fit_curve(a, b, ds.X_train, ds.y_train, kind=cfg["curve_kind"], epochs=cfg["curve_epochs"],
                          lr=cfg["curve_lr"], weight_decay=cfg["weight_decay"], batch_size=cfg["batch_size"],
                          seed=base + 3)
        t_fit = time.perf_counter() - t1
        line = line_path(a, b, reset_bn=ds.X_train)
        out[which] = {
            "line": line.evaluate(ds.X_test, ds.y_test, lams=ts).to_dict(),
            "curve": curve.evaluate(ds.X_test, ds.y_test, lams=ts).to_dict(),
            "curve_train": curve.evaluate(ds.X_train, ds.y_train, lams=ts).to_dict(),
            "ensemble": curve.ensemble(ds.X_test, ds.y_test, lams=ts).to_dict(),
            "curve_history": curve.history,
            "seconds_fit": t_fit,
        }
    out["seconds"] = time.perf_counter() - t0
    return out


def config(quick: bool) -> dict:
    """Experiment sizes (tests monkeypatch this to shrink the claim). ``archs``: architecture name →
    its own keys (a key of :data:`ARCHITECTURES`; an entry's keys override the shared ones, e.g. the ResNet's
    ``dataset``). ResNet row: standard ResNet-8 (:func:`lmctheory.nn.make_resnet`, GroupNorm) on the 8×8 digits
    as images, aligned by generic activation matching."""
    base = dict(dataset="digits", data_seed=0, lr=1e-3, weight_decay=1e-2, batch_size=128,
                curve_kind="bezier", curve_lr=1e-3, version=VERSION)
    if quick:
        return {**base, "archs": {"mlp": {"hidden": 128, "n_layers": 4},
                                  "resnet": {"dataset": "digits-images", "depth": 8, "width": 16}},
                "epochs": 20, "curve_epochs": 40, "pairs": 3, "n_ts": 11}
    return {**base, "archs": {"mlp": {"hidden": 256, "n_layers": 4},
                              "resnet": {"dataset": "digits-images", "depth": 8, "width": 32}},
            "epochs": 40, "curve_epochs": 80, "pairs": 4, "n_ts": 21}


def job_configs(cfg: dict, arch: str, seed: int) -> list[dict]:
    keys = ("dataset", "data_seed", "lr", "weight_decay", "batch_size", "curve_kind", "curve_lr", "epochs",
            "curve_epochs", "n_ts", "version")
    base = {k: cfg[k] for k in keys}
    return [{**base, **cfg["archs"][arch], "arch": arch, "pair": p, "seed": seed} for p in range(cfg["pairs"])]


def _path_stats(runs: list[dict], which: str, path: str) -> dict:
    res = [r[which][path] for r in runs]
    loss = np.array([c["loss"] for c in res])
    acc = np.array([c["acc"] for c in res])
    bl = [c["barrier_lin"] for c in res]
    drops = [c["midpoint_acc_drop"] for c in res]
    return {"ts": res[0]["lams"], "loss_mean": loss.mean(0), "loss_std": loss.std(0), "acc_mean": acc.mean(0),
            "acc_std": acc.std(0), "barrier_lin": bl, "barrier_lin_mean": mean_std(bl)[0],
            "barrier_lin_std": mean_std(bl)[1], "midpoint_acc_drop": drops,
            "midpoint_acc_drop_mean": mean_std(drops)[0]}


def collect(ctx: Context, cfg: dict | None = None) -> dict:
    """Per architecture and alignment: line and Bézier test curves (mean ± std over pairs), barriers,
    the curve's training-set barrier, curve-ensemble gains, endpoint accuracies and timings."""
    from lmctheory.sweep import run_jobs

    cfg = config(ctx.quick) if cfg is None else cfg
    t0 = time.perf_counter()
    jobs, owner = [], []
    for arch in cfg["archs"]:
        for c in job_configs(cfg, arch, ctx.seed):
            jobs.append(c)
            owner.append(arch)
    res = run_jobs(curve_pair_job, jobs, namespace=NAMESPACE, cache_root=ctx.cache_root, client=ctx.client,
                   kind="json", desc="M1 curves", progress=ctx.progress, max_workers=ctx.max_workers)
    out = {"config": cfg, "archs": {}}
    for arch in cfg["archs"]:
        runs = [r for r, o in zip(res, owner) if o == arch]
        row = {"endpoint_test_acc": [a for r in runs for a in r["endpoint_test_acc"]],
               "job_seconds": [r["seconds"] for r in runs]}
        for which in ("unaligned", "aligned"):
            have = [r for r in runs if r.get(which) is not None]
            if not have:
                row[which] = None
                continue
            gains = [r[which]["ensemble"] for r in have]
            row[which] = {
                "line": _path_stats(have, which, "line"), "curve": _path_stats(have, which, "curve"),
                "curve_train_barrier_lin": [r[which]["curve_train"]["barrier_lin"] for r in have],
                "ensemble_acc_gain_pp": [g["acc_gain_pp"] for g in gains],
                "ensemble_nll_gain": [g["nll_gain"] for g in gains],
                "fit_seconds": [r[which]["seconds_fit"] for r in have],
            }
        out["archs"][arch] = row
    out["seconds"] = time.perf_counter() - t0
    return jsonable(out)
