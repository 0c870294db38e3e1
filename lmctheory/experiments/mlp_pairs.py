"""Independently trained pairs of standard, W-MLP and syre MLPs on digits: interpolation and activation matching ([NI] Q1–Q2, Fig. 3–4).

The experiments behind ``paper_checks`` C1/C2 and figures 8–9. One job, :func:`train_pair`, trains a pair
and measures it; :func:`collect_interpolation` (C1, figure 9) and :func:`collect_matching` (C2, figure 8)
run it over their grids, so identical configurations share cache entries.

Setup (CPU scale of docs/experiments.md "[NI] setups"): 4-layer MLPs (LayerNorm, GELU) on scikit-learn's
digits, AdamW lr 1e-3, wd 1e-2. Four architectures (:data:`VARIANTS`): standard; W-MLP (``wasym`` in every
layer, ≈8% fixed entries per row, 4× that in the last layer) with ``σ_F = 0`` and ``σ_F = 1``; syre with
``σ_F = SYRE_SIGMA_F`` (chosen a priori so that a syre row's fixed part has about the norm of a
W-MLP row's fixed part: ``σ·√d ≈ √(0.08·d)``). For each pair of independently initialized models
(same masks/centers = same ``mask_seed``): the test-set interpolation curve without alignment, and
after layerwise activation matching on the training set (B permuted to A, both as standard models
of their effective weights). The midpoint accuracy drop (pp) is ``(A(0)+A(1))/2 − A(1/2)``. For the
σ_F sweep (:func:`collect_matching`) activation matching gives per hidden layer the objective
``⟨P, C⟩_F / width`` (mean Pearson correlation of matched units) for the optimal permutation, the
identity and random permutations (mean ± std of 100).
"""

from __future__ import annotations

import re
import time

import numpy as np

from ._common import Context, curve_stats, jsonable

__all__ = ["VARIANTS", "SYRE_SIGMA_F", "config", "matching_config", "load_dataset", "train_pair", "pair_configs",
           "collect_interpolation", "collect_matching"]

NAMESPACE = "experiments_mlp_pairs"
VERSION = 1
SYRE_SIGMA_F = 0.25
VARIANTS = (("standard", "standard", 0.0), ("wmlp_sf0", "wmlp", 0.0), ("wmlp_sf1", "wmlp", 1.0),
            ("syre", "syre", SYRE_SIGMA_F))


def config(quick: bool) -> dict:
    """Default sizes: quick (figure 9, ``paper_checks --quick``) or full mode (JSON-able; keys the cache)."""
    base = dict(dataset="digits", data_seed=0, n_layers=4, fixed_fraction=0.08, lr=1e-3, weight_decay=1e-2,
                batch_size=128, n_lams=11, n_random=100, version=VERSION)
    if quick:
        return {**base, "hidden": 128, "epochs": 20, "pairs": 2}
    return {**base, "hidden": 256, "epochs": 40, "pairs": 4}


def load_dataset(name: str, seed: int):
    """``"digits"``, ``"digits-images"`` (the same as ``(N, 1, 8, 8)`` images) or ``"gmm-k<k>-d<d>-s<separation>"``
    (Gaussian subspace mixture, 5 classes)."""
    from ..nn import data

    if name == "digits":
        return data.digits(seed=seed)
    if name == "digits-images":
        return data.digits(seed=seed, as_images=True)
    m = re.fullmatch(r"gmm-k(\d+)-d(\d+)-s([0-9.]+)", name)
    if m:
        return data.gaussian_mixture(k=int(m.group(1)), d=int(m.group(2)), separation=float(m.group(3)), seed=seed)
    raise ValueError(f"unknown dataset {name!r}; expected 'digits', 'digits-images' or 'gmm-k<k>-d<d>-s<separation>'")


def train_pair(cfg: dict) -> dict:
    """Train two models of one architecture (seeds ``2p+1``, ``2p+2`` of pair ``p``), then measure
    endpoint metrics, activation matching objectives per hidden layer and the unaligned/aligned
    interpolation curves on the test set. Returns a JSON-able dict."""
    import torch

    from ..nn import activation_match, evaluate, interpolate, make_mlp, permute_model, to_standard, train

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    ds = load_dataset(cfg["dataset"], cfg["data_seed"])
    n_out = ds.n_classes
    models = []
    hist = []
    base_seed = 1000 * cfg["seed"] + 2 * cfg["pair"]
    for s in (base_seed + 1, base_seed + 2):
        m = make_mlp(ds.in_dim, cfg["hidden"], n_out, n_layers=cfg["n_layers"], kind=cfg["kind"],
                     sigma_f=cfg["sigma_f"], fixed_fraction=cfg["fixed_fraction"], mask_seed=cfg["seed"] + 7,
                     seed=s)
        h = train(m, ds.X_train, ds.y_train, epochs=cfg["epochs"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                  batch_size=cfg["batch_size"], seed=s)
        models.append(m)
        hist.append(h["loss"][-1])
    a, b = models
    lams = np.linspace(0.0, 1.0, cfg["n_lams"])
    unal = interpolate(a, b, ds.X_test, ds.y_test, lams=lams)
    match = activation_match(a, b, ds.X_train, n_random=cfg["n_random"], seed=cfg["seed"])
    b_al = to_standard(permute_model(b, match))
    al = interpolate(to_standard(a), b_al, ds.X_test, ds.y_test, lams=lams)
    layers = [match.results[g.name] for g in match.groups]  # one group per hidden layer, in layer order
    widths = [len(r.perm) for r in layers]
    ends = [evaluate(m, ds.X_train, ds.y_train) + evaluate(m, ds.X_test, ds.y_test) for m in models]
    return jsonable({
        "train_loss_final": hist,
        "endpoint_train_acc": [e[1] for e in ends], "endpoint_test_acc": [e[3] for e in ends],
        "unaligned": unal.to_dict(), "aligned": al.to_dict(),
        # objectives as mean correlation per unit (⟨P, C⟩_F / width)
        "match_optimal": [r.objective_optimal / w for r, w in zip(layers, widths)],
        "match_identity": [r.objective_identity / w for r, w in zip(layers, widths)],
        "match_random_mean": [r.objective_random_mean / w for r, w in zip(layers, widths)],
        "match_random_std": [r.objective_random_std / w for r, w in zip(layers, widths)],
        "seconds": time.perf_counter() - t0,
    })


def pair_configs(cfg: dict, kind: str, sigma_f: float, seed: int) -> list[dict]:
    keys = ("dataset", "data_seed", "hidden", "n_layers", "fixed_fraction", "epochs", "lr", "weight_decay",
            "batch_size", "n_lams", "n_random", "version")
    base = {k: cfg[k] for k in keys}
    return [{**base, "kind": kind, "sigma_f": float(sigma_f), "pair": p, "seed": seed} for p in range(cfg["pairs"])]


def collect_interpolation(ctx: Context, cfg: dict | None = None) -> dict:
    """All measured data: per variant the interpolation curves (lams, acc/loss mean±std over pairs),
    midpoint drops, endpoint accuracies and matching objectives."""
    from ..sweep import run_jobs

    cfg = config(ctx.quick) if cfg is None else cfg
    t0 = time.perf_counter()
    jobs, owner = [], []
    for label, kind, sf in VARIANTS:
        for c in pair_configs(cfg, kind, sf, ctx.seed):
            jobs.append(c)
            owner.append(label)
    res = run_jobs(train_pair, jobs, namespace=NAMESPACE, cache_root=ctx.cache_root, client=ctx.client,
                   kind="json", desc="MLP pairs", progress=ctx.progress, max_workers=ctx.max_workers)
    out = {"config": cfg, "variants": {}}
    for label, kind, sf in VARIANTS:
        runs = [r for r, o in zip(res, owner) if o == label]
        out["variants"][label] = {
            "kind": kind, "sigma_f": sf,
            "unaligned": curve_stats(runs, "unaligned"), "aligned": curve_stats(runs, "aligned"),
            "endpoint_test_acc": [a for r in runs for a in r["endpoint_test_acc"]],
            "endpoint_train_acc": [a for r in runs for a in r["endpoint_train_acc"]],
            "match_identity_over_optimal": [float(np.mean(np.array(r["match_identity"]) / np.array(r["match_optimal"])))
                                            for r in runs],
            "job_seconds": [r["seconds"] for r in runs],
        }
    out["seconds"] = time.perf_counter() - t0
    return jsonable(out)


def matching_config(quick: bool) -> dict:
    """:func:`config` plus the σ_F grid of the matching sweep (figure 8, C2)."""
    return {**config(quick), "sigma_fs": [0.0, 0.5, 1.0, 2.0, 3.0, 5.0]}


def collect_matching(ctx: Context, cfg: dict | None = None) -> dict:
    """Per σ_F: objectives optimal / identity / random (mean, std over pairs·layers), their ratios,
    and per-layer values (for the figure)."""
    from ..sweep import run_jobs

    cfg = matching_config(ctx.quick) if cfg is None else cfg
    t0 = time.perf_counter()
    jobs, owner = [], []
    for sf in cfg["sigma_fs"]:
        for c in pair_configs(cfg, "wmlp", sf, ctx.seed):
            jobs.append(c)
            owner.append(sf)
    res = run_jobs(train_pair, jobs, namespace=NAMESPACE, cache_root=ctx.cache_root, client=ctx.client,
                   kind="json", desc="W-MLP σ_F sweep", progress=ctx.progress, max_workers=ctx.max_workers)
    out = {"config": cfg, "sigma_f": [], "optimal_mean": [], "optimal_std": [], "identity_mean": [],
           "identity_std": [], "random_mean": [], "random_std": [], "identity_over_optimal": [],
           "random_over_optimal": [], "per_layer": {}, "endpoint_test_acc": []}
    for sf in cfg["sigma_fs"]:
        runs = [r for r, o in zip(res, owner) if o == sf]
        opt = np.array([r["match_optimal"] for r in runs])     # (pairs, layers)
        ide = np.array([r["match_identity"] for r in runs])
        rnd = np.array([r["match_random_mean"] for r in runs])
        rsd = np.array([r["match_random_std"] for r in runs])
        out["sigma_f"].append(sf)
        out["optimal_mean"].append(opt.mean())
        out["optimal_std"].append(opt.std())
        out["identity_mean"].append(ide.mean())
        out["identity_std"].append(ide.std())
        out["random_mean"].append(rnd.mean())
        out["random_std"].append(float(np.sqrt(np.mean(rsd ** 2 + (rnd - rnd.mean()) ** 2))))
        out["identity_over_optimal"].append(float(np.mean(ide / opt)))
        out["random_over_optimal"].append(float(np.mean(rnd / opt)))
        out["per_layer"][str(sf)] = {"optimal": opt.mean(0), "identity": ide.mean(0), "random": rnd.mean(0)}
        out["endpoint_test_acc"].append(float(np.mean([a for r in runs for a in r["endpoint_test_acc"]])))
    out["seconds"] = time.perf_counter() - t0
    return jsonable(out)
