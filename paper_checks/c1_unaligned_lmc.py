"""C1 — unaligned vs aligned linear mode connectivity of standard, W-MLP and syre MLPs ([NI] Q1, Fig. 4).

Setup (CPU scale of EXPERIMENTS.md "[NI] setups"): 4-layer MLPs (LayerNorm, GELU) on scikit-learn's
digits, AdamW lr 1e-3, wd 1e-2. Four architectures: standard; W-MLP (``wasym`` in every layer,
≈8% fixed entries per row, 4× that in the last layer) with ``σ_F = 0`` and ``σ_F = 1``; syre with
``σ_F = SYRE_SIGMA_F`` (chosen a priori so that a syre row's fixed part has about the norm of a
W-MLP row's fixed part: ``σ·√d ≈ √(0.08·d)``). For each pair of independently initialized models
(same masks/centers = same ``mask_seed``): the test-set interpolation curve without alignment, and
after layerwise activation matching on the training set (B permuted to A, both as standard models
of their effective weights). The midpoint accuracy drop (pp) is ``(A(0)+A(1))/2 − A(1/2)``.

The job :func:`train_pair` is shared with C2 (identical configurations hit the same cache entries).
"""

from __future__ import annotations

import re
import time

import numpy as np

from paper_checks.common import ClaimResult, Context, fmt, jsonable, mean_std

ID = "C1"
TITLE = "Unaligned LMC needs effective symmetry breaking; alignment fixes all"
PAPER = ("[NI] Fig. 4 (MNIST MLPs): unaligned LMC holds for W-MLP with σ_F large and syre-MLP; standard MLP and "
         "W-MLP with σ_F=0 show a high barrier; after activation matching all barriers are low.")
CONDITION = ("Mean unaligned midpoint accuracy drop: max(W-MLP σ_F=1, syre) ≤ 0.5·min(standard, W-MLP σ_F=0); "
             "and every aligned mean drop ≤ 5 pp.")
NAMESPACE = "paper_checks_ni_pairs"
VERSION = 1
SYRE_SIGMA_F = 0.25
ALIGNED_SMALL_PP = 5.0
MUCH_LESS = 0.5
VARIANTS = (("standard", "standard", 0.0), ("wmlp_sf0", "wmlp", 0.0), ("wmlp_sf1", "wmlp", 1.0),
            ("syre", "syre", SYRE_SIGMA_F))


def config(quick: bool) -> dict:
    """Experiment sizes (tests monkeypatch this to shrink the claim)."""
    base = dict(dataset="digits", data_seed=0, n_layers=4, fixed_fraction=0.08, lr=1e-3, weight_decay=1e-2,
                batch_size=128, n_lams=11, n_random=100, version=VERSION)
    if quick:
        return {**base, "hidden": 128, "epochs": 20, "pairs": 2}
    return {**base, "hidden": 256, "epochs": 40, "pairs": 4}


def load_dataset(name: str, seed: int):
    """``"digits"`` or ``"gmm-k<k>-d<d>-s<separation>"`` (Gaussian subspace mixture, 5 classes)."""
    from lmctheory.nn import data

    if name == "digits":
        return data.digits(seed=seed)
    m = re.fullmatch(r"gmm-k(\d+)-d(\d+)-s([0-9.]+)", name)
    if m:
        return data.gaussian_mixture(k=int(m.group(1)), d=int(m.group(2)), separation=float(m.group(3)), seed=seed)
    raise ValueError(f"unknown dataset {name!r}")


def train_pair(cfg: dict) -> dict:
    """Train two models of one architecture (seeds ``2p+1``, ``2p+2`` of pair ``p``), then measure
    endpoint metrics, activation matching objectives per hidden layer and the unaligned/aligned
    interpolation curves on the test set. Returns a JSON-able dict."""
    import torch

    from lmctheory.nn import activation_match, evaluate, interpolate, make_mlp, permute_model, to_standard, train

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
    unal = interpolate(a, b, ds.X_test, ds.y_test, lams)
    match = activation_match(a, b, ds.X_train, n_random=cfg["n_random"], seed=cfg["seed"])
    b_al = permute_model(b, [r.perm for r in match])
    al = interpolate(to_standard(a), b_al, ds.X_test, ds.y_test, lams)
    widths = [len(r.perm) for r in match]
    ends = [evaluate(m, ds.X_train, ds.y_train) + evaluate(m, ds.X_test, ds.y_test) for m in models]
    return jsonable({
        "train_loss_final": hist,
        "endpoint_train_acc": [e[1] for e in ends], "endpoint_test_acc": [e[3] for e in ends],
        "unaligned": unal.to_dict(), "aligned": al.to_dict(),
        # objectives as mean correlation per unit (⟨P, C⟩_F / width)
        "match_optimal": [r.objective_optimal / w for r, w in zip(match, widths)],
        "match_identity": [r.objective_identity / w for r, w in zip(match, widths)],
        "match_random_mean": [r.objective_random_mean / w for r, w in zip(match, widths)],
        "match_random_std": [r.objective_random_std / w for r, w in zip(match, widths)],
        "seconds": time.perf_counter() - t0,
    })


def pair_configs(cfg: dict, kind: str, sigma_f: float, seed: int) -> list[dict]:
    keys = ("dataset", "data_seed", "hidden", "n_layers", "fixed_fraction", "epochs", "lr", "weight_decay",
            "batch_size", "n_lams", "n_random", "version")
    base = {k: cfg[k] for k in keys}
    return [{**base, "kind": kind, "sigma_f": float(sigma_f), "pair": p, "seed": seed} for p in range(cfg["pairs"])]


def _curve_stats(runs: list[dict], which: str) -> dict:
    loss = np.array([r[which]["loss"] for r in runs])
    acc = np.array([r[which]["acc"] for r in runs])
    drops = [r[which]["midpoint_acc_drop"] for r in runs]
    bl = [r[which]["barrier_lin"] for r in runs]
    return {"lams": runs[0][which]["lams"], "loss_mean": loss.mean(0), "loss_std": loss.std(0),
            "acc_mean": acc.mean(0), "acc_std": acc.std(0), "midpoint_acc_drop": drops,
            "midpoint_acc_drop_mean": mean_std(drops)[0], "midpoint_acc_drop_std": mean_std(drops)[1],
            "loss_barrier_lin_mean": mean_std(bl)[0], "loss_barrier_lin_std": mean_std(bl)[1]}


def collect(ctx: Context) -> dict:
    """All measured data: per variant the interpolation curves (lams, acc/loss mean±std over pairs),
    midpoint drops, endpoint accuracies and matching objectives."""
    from lmctheory.sweep import run_jobs

    cfg = config(ctx.quick)
    t0 = time.perf_counter()
    jobs, owner = [], []
    for label, kind, sf in VARIANTS:
        for c in pair_configs(cfg, kind, sf, ctx.seed):
            jobs.append(c)
            owner.append(label)
    res = run_jobs(train_pair, jobs, namespace=NAMESPACE, cache_root=ctx.cache_root, client=ctx.client,
                   kind="json", desc="C1 pairs", progress=ctx.progress, max_workers=ctx.max_workers)
    out = {"config": cfg, "variants": {}}
    for label, kind, sf in VARIANTS:
        runs = [r for r, o in zip(res, owner) if o == label]
        out["variants"][label] = {
            "kind": kind, "sigma_f": sf,
            "unaligned": _curve_stats(runs, "unaligned"), "aligned": _curve_stats(runs, "aligned"),
            "endpoint_test_acc": [a for r in runs for a in r["endpoint_test_acc"]],
            "endpoint_train_acc": [a for r in runs for a in r["endpoint_train_acc"]],
            "match_identity_over_optimal": [float(np.mean(np.array(r["match_identity"]) / np.array(r["match_optimal"])))
                                            for r in runs],
            "job_seconds": [r["seconds"] for r in runs],
        }
    out["seconds"] = time.perf_counter() - t0
    return jsonable(out)


def evaluate_condition(data: dict) -> tuple[bool | None, dict]:
    v = data["variants"]
    un = {k: v[k]["unaligned"]["midpoint_acc_drop_mean"] for k in v}
    al = {k: v[k]["aligned"]["midpoint_acc_drop_mean"] for k in v}
    if any(not np.isfinite(x) for x in [*un.values(), *al.values()]):
        return None, {"unaligned": un, "aligned": al}
    low = max(un["wmlp_sf1"], un["syre"])
    high = min(un["standard"], un["wmlp_sf0"])
    a_ok = low <= MUCH_LESS * high
    b_ok = max(al.values()) <= ALIGNED_SMALL_PP
    return bool(a_ok and b_ok), {"unaligned": un, "aligned": al, "ordered": bool(a_ok), "aligned_small": bool(b_ok),
                                 "low_max": low, "high_min": high}


def run(ctx: Context) -> ClaimResult:
    data = collect(ctx)
    passed, ev = evaluate_condition(data)
    v = data["variants"]
    parts = []
    for label in v:
        u, a = v[label]["unaligned"], v[label]["aligned"]
        acc = 100 * np.mean(v[label]["endpoint_test_acc"])
        parts.append(f"{label}: {fmt(u['midpoint_acc_drop_mean'], 1)}±{fmt(u['midpoint_acc_drop_std'], 1)} pp "
                     f"→ aligned {fmt(a['midpoint_acc_drop_mean'], 1)} pp (end acc {acc:.1f}%)")
    measured = "midpoint acc drop unaligned→aligned: " + "; ".join(parts)
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured=measured, passed=passed, condition=CONDITION,
                       details={"evaluation": ev, "config": data["config"], "seconds": data["seconds"]})
