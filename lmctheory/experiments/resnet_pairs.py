"""Independently trained pairs of standard, W-asymmetric and syre ResNets on digit images: interpolation and
activation matching ([NI] §6 Fig. 3–4, App. F.2/F.4).

The experiment behind ``paper_checks`` C9/C10 and figure 13. One job, :func:`train_pair`, trains a pair and
measures it; :func:`collect_interpolation` (C9, figure 13) and :func:`collect_matching` (C10) run it over their
grids, so identical configurations share cache entries (the κ = 0 and κ = 2 W-ResNets of the κ sweep are C9's).

Setup (CPU scale of docs/experiments.md "[NI] ResNets"): ResNet-``(6n+2)`` of :func:`lmctheory.nn.make_resnet`
(GroupNorm(1, C), 1×1 projection shortcuts, global average pooling) on scikit-learn's 8×8 digits as 1-channel
images (``digits(as_images=True)``: 1347 train / 450 test), AdamW lr 3e-3, wd 1e-2, batch 128 (the paper: ResNet-20
×8 on CIFAR-10, AdamW wd 0.01, lr up to 1e-2, 100 epochs). Endpoint test accuracy sits at ≈ 95–98 %, below
100 %, so a barrier can show. Four architectures (:data:`VARIANTS`): standard; W-ResNet (every convolution and the
final linear layer W-asymmetric, [NI] Table 3 fixed-entry fractions) with fixed-weight scale ``κ = σ_F = 0``
(masking only) and ``κ = 2`` (the paper's effective value); syre-ResNet with ``σ_F = SYRE_SIGMA_F`` (chosen a
priori so that a syre row's fixed part has about the norm of a κ = 2 W-ResNet row's: ``σ·√fan_in ≈ κ·√m`` with
``m/fan_in ≈ 0.05–0.09`` in the stages, i.e. ``σ ≈ 2·√0.07 ≈ 0.5``). The two models of a pair share ``F``/``D``
(same ``mask_seed``: they are architecture) and differ in initialization and data order.

Per pair: the test-set interpolation curve without alignment, and after activation matching on the training
images (:func:`lmctheory.nn.activation_match` on the traced permutation groups: every pixel of a channel is a
sample, [NI] F.4; one joint permutation per residual stream and one per block's inner channels), B permuted onto
A, both read as standard models of their effective weights (``to_standard``), as in C1. GroupNorm needs no
statistics reset (a BatchNorm variant would pass ``reset_bn`` to :func:`~lmctheory.nn.interpolate`). Midpoint
accuracy drop (pp): ``(A(0) + A(1))/2 − A(1/2)``. Per permutation group the matching objectives ``⟨P, C_g⟩_F``
of the optimal permutation, the identity and random permutations (mean ± std of ``n_random``), with ``C_g`` the
sum over the group's traced activations of the per-pixel Pearson correlation matrices.
"""

from __future__ import annotations

import time

import numpy as np

from ._common import Context, curve_stats, jsonable

__all__ = ["VARIANTS", "SYRE_SIGMA_F", "KAPPAS", "config", "matching_config", "load_dataset", "build_model",
           "train_pair", "pair_configs", "collect_interpolation", "collect_matching"]

NAMESPACE = "experiments_resnet_pairs"
VERSION = 1
SYRE_SIGMA_F = 0.5
#: (label, make_resnet kind, σ_F): the four architectures of C9 / figure 13
VARIANTS = (("standard", "standard", 0.0), ("wresnet_k0", "wasym", 0.0), ("wresnet_k2", "wasym", 2.0),
            ("syre", "syre", SYRE_SIGMA_F))
#: the fixed-weight scales κ of the C10 sweep (fixed before the first run)
KAPPAS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def config(quick: bool) -> dict:
    """Default sizes: quick (figure 13, ``paper_checks --quick``) or full mode (JSON-able; keys the cache)."""
    base = dict(dataset="digits-images", data_seed=0, depth=8, fixed_fraction="paper", lr=3e-3, weight_decay=1e-2,
                batch_size=128, n_lams=11, n_random=100, version=VERSION)
    if quick:
        return {**base, "width": 16, "epochs": 20, "pairs": 2}
    return {**base, "width": 32, "epochs": 30, "pairs": 4}


def matching_config(quick: bool) -> dict:
    """:func:`config` plus the κ grid of the matching sweep (C10)."""
    return {**config(quick), "kappas": list(KAPPAS)}


def load_dataset(name: str, seed: int):
    """``"digits-images"``: the 8×8 digits as ``(N, 1, 8, 8)`` images (the only dataset of this experiment)."""
    from ..nn import data

    if name == "digits-images":
        return data.digits(seed=seed, as_images=True)
    raise ValueError(f"unknown dataset {name!r}; expected 'digits-images'")


def build_model(ds, cfg: dict, seed: int):
    """The ResNet of ``cfg`` (``kind``, ``sigma_f``, ``depth``, ``width``, ``fixed_fraction``; masks from
    ``mask_seed = cfg["seed"] + 7``, shared by the two models of a pair) for the images of dataset ``ds``."""
    from ..nn import make_resnet

    return make_resnet(ds.X_train.shape[1], ds.n_classes, depth=cfg["depth"], width=cfg["width"], kind=cfg["kind"], sigma_f=cfg["sigma_f"],
                       fixed_fraction=cfg["fixed_fraction"], mask_seed=cfg["seed"] + 7, seed=seed)


def train_pair(cfg: dict) -> dict:
    """Train two ResNets of one architecture (seeds ``1000·seed + 2p + 1, + 2`` of pair ``p``), then measure
    endpoint metrics, the unaligned and the activation-matched interpolation curves on the test set and the
    matching objectives per permutation group. Returns a JSON-able dict."""
    import torch

    from ..nn import activation_match, evaluate, interpolate, permute_model, to_standard, train

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    ds = load_dataset(cfg["dataset"], cfg["data_seed"])
    models, hist = [], []
    base_seed = 1000 * cfg["seed"] + 2 * cfg["pair"]
    for s in (base_seed + 1, base_seed + 2):
        m = build_model(ds, cfg, s)
        h = train(m, ds.X_train, ds.y_train, epochs=cfg["epochs"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                  batch_size=cfg["batch_size"], seed=s)
        models.append(m)
        hist.append(h["loss"][-1])
    t_train = time.perf_counter() - t0
    lams = np.linspace(0.0, 1.0, cfg["n_lams"])
    a, b = models
    unal = interpolate(a, b, ds.X_test, ds.y_test, lams=lams)  # F + D⊙W is linear in W: same path as the effective weights
    a_std, b_std = to_standard(a), to_standard(b)
    t1 = time.perf_counter()
    match = activation_match(a_std, b_std, ds.X_train, n_random=cfg["n_random"], seed=cfg["seed"])
    t_match = time.perf_counter() - t1
    b_al = permute_model(b_std, match)
    al = interpolate(a_std, b_al, ds.X_test, ds.y_test, lams=lams)
    ends = [evaluate(m, ds.X_train, ds.y_train) + evaluate(m, ds.X_test, ds.y_test) for m in models]
    groups = []
    for g in match.groups:
        r = match.results.get(g.name)
        perm = np.asarray(match.perms[g.name])
        groups.append({
            "name": g.name, "size": int(g.size), "kind": g.kind,
            "fixed_points": float(np.mean(perm == np.arange(len(perm)))),
            "optimal": r.objective_optimal if r is not None else float("nan"),
            "identity": r.objective_identity if r is not None else float("nan"),
            "random_mean": r.objective_random_mean if r is not None else float("nan"),
            "random_std": r.objective_random_std if r is not None else float("nan"),
        })
    return jsonable({
        "train_loss_final": hist,
        "endpoint_train_acc": [e[1] for e in ends], "endpoint_test_acc": [e[3] for e in ends],
        "unaligned": unal.to_dict(), "aligned": al.to_dict(),
        "groups": groups, "weight_matched": list(match.weight_matched),
        "seconds_train": t_train, "seconds_match": t_match, "seconds": time.perf_counter() - t0,
    })


def pair_configs(cfg: dict, kind: str, sigma_f: float, seed: int) -> list[dict]:
    """The job configurations of ``cfg["pairs"]`` pairs of one architecture (standard ignores ``sigma_f``)."""
    keys = ("dataset", "data_seed", "depth", "width", "fixed_fraction", "epochs", "lr", "weight_decay",
            "batch_size", "n_lams", "n_random", "version")
    base = {k: cfg[k] for k in keys}
    sf = 0.0 if kind == "standard" else float(sigma_f)
    return [{**base, "kind": kind, "sigma_f": sf, "pair": p, "seed": seed} for p in range(cfg["pairs"])]


def _ratios(run: dict, key: str) -> np.ndarray:
    """Per group ``objective(key) / objective(optimal)`` of one pair (NaN for a group matched without
    activations or with a non-positive optimum)."""
    return np.array([g[key] / g["optimal"] if np.isfinite(g["optimal"]) and g["optimal"] > 0 else np.nan
                     for g in run["groups"]])


def _run(ctx: Context, cfg: dict, specs, desc: str):
    from ..sweep import run_jobs

    jobs, owner = [], []
    for label, kind, sf in specs:
        for c in pair_configs(cfg, kind, sf, ctx.seed):
            jobs.append(c)
            owner.append(label)
    res = run_jobs(train_pair, jobs, namespace=NAMESPACE, cache_root=ctx.cache_root, client=ctx.client,
                   kind="json", desc=desc, progress=ctx.progress, max_workers=ctx.max_workers)
    return res, owner


def collect_interpolation(ctx: Context, cfg: dict | None = None) -> dict:
    """Per variant of :data:`VARIANTS`: interpolation curves unaligned / aligned (lams, acc/loss mean ± std over
    pairs), midpoint drops, loss barriers, endpoint accuracies, identity/optimal matching ratios and timings."""
    cfg = config(ctx.quick) if cfg is None else cfg
    t0 = time.perf_counter()
    res, owner = _run(ctx, cfg, VARIANTS, "ResNet pairs")
    out = {"config": cfg, "syre_sigma_f": SYRE_SIGMA_F, "variants": {}}
    for label, kind, sf in VARIANTS:
        runs = [r for r, o in zip(res, owner) if o == label]
        out["variants"][label] = {
            "kind": kind, "sigma_f": sf,
            "unaligned": curve_stats(runs, "unaligned"), "aligned": curve_stats(runs, "aligned"),
            "endpoint_test_acc": [a for r in runs for a in r["endpoint_test_acc"]],
            "endpoint_train_acc": [a for r in runs for a in r["endpoint_train_acc"]],
            "match_identity_over_optimal": [float(np.nanmean(_ratios(r, "identity"))) for r in runs],
            "fixed_points": [float(np.mean([g["fixed_points"] for g in r["groups"]])) for r in runs],
            "job_seconds": [r["seconds"] for r in runs],
        }
    out["seconds"] = time.perf_counter() - t0
    return jsonable(out)


def collect_matching(ctx: Context, cfg: dict | None = None) -> dict:
    """Per κ of ``cfg["kappas"]`` (W-ResNets): identity/optimal and random/optimal matching-objective ratios (mean
    over pairs and groups, and per group), fraction of units the optimal permutation leaves in place, endpoint
    test accuracy and the unaligned midpoint drop."""
    cfg = matching_config(ctx.quick) if cfg is None else cfg
    t0 = time.perf_counter()
    specs = [(float(k), "wasym", float(k)) for k in cfg["kappas"]]
    res, owner = _run(ctx, cfg, specs, "W-ResNet κ sweep")
    out = {"config": cfg, "kappa": [], "identity_over_optimal": [], "identity_over_optimal_std": [],
           "random_over_optimal": [], "fixed_points": [], "endpoint_test_acc": [], "unaligned_drop": [],
           "per_group": {}}
    for k, _, _ in specs:
        runs = [r for r, o in zip(res, owner) if o == k]
        ide = np.array([_ratios(r, "identity") for r in runs])   # (pairs, groups)
        rnd = np.array([_ratios(r, "random_mean") for r in runs])
        out["kappa"].append(k)
        out["identity_over_optimal"].append(float(np.nanmean(ide)))
        out["identity_over_optimal_std"].append(float(np.nanmean(ide, 1).std()))
        out["random_over_optimal"].append(float(np.nanmean(rnd)))
        out["fixed_points"].append(float(np.mean([g["fixed_points"] for r in runs for g in r["groups"]])))
        out["endpoint_test_acc"].append(float(np.mean([a for r in runs for a in r["endpoint_test_acc"]])))
        out["unaligned_drop"].append(float(np.mean([r["unaligned"]["midpoint_acc_drop"] for r in runs])))
        out["per_group"][str(k)] = {"names": [g["name"] for g in runs[0]["groups"]],
                                    "identity_over_optimal": np.nanmean(ide, 0),
                                    "random_over_optimal": np.nanmean(rnd, 0)}
    out["seconds"] = time.perf_counter() - t0
    return jsonable(out)
