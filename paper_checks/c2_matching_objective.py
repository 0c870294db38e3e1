"""C2 — activation-matching objective of the identity vs the optimum as σ_F grows ([NI] Q2, Fig. 3).

W-MLPs (C1's setup, digits) for a sweep of fixed weight scales ``σ_F ∈ {0, 0.5, 1, 2, 3, 5}``. For
each pair, layerwise activation matching on the training set gives per hidden layer the objective
``⟨P, C⟩_F / width`` (mean Pearson correlation of matched units) for the optimal permutation, the
identity and random permutations (mean ± std of 100). Reported per σ_F: mean over pairs and
layers. The training job is C1's :func:`~paper_checks.c1_unaligned_lmc.train_pair`, so σ_F = 0 and
1 reuse C1's cached pairs.
"""

from __future__ import annotations

import time

import numpy as np

from paper_checks.c1_unaligned_lmc import NAMESPACE, pair_configs, train_pair
from paper_checks.c1_unaligned_lmc import config as c1_config
from paper_checks.common import ClaimResult, Context, fmt, jsonable, spearman

ID = "C2"
TITLE = "Identity permutation approaches the matching optimum as σ_F grows"
PAPER = ("[NI] Fig. 3 (MNIST W-MLPs): the activation-matching objective of the identity approaches the optimum as σ_F "
         "grows; random permutations stay far below.")
CONDITION = ("identity/optimal ratio (mean over pairs and layers) increasing in σ_F over 0…5: Spearman ρ(σ_F, ratio) "
             "≥ 0.8 and ratio(σ_F=5) > ratio(σ_F=0); random ≪ identity at σ_F=5: random/optimal ≤ 0.5·identity/optimal.")
RHO_MIN = 0.8
MUCH_LESS = 0.5


def config(quick: bool) -> dict:
    """Sweep configuration (tests monkeypatch this). Training sizes follow C1's config."""
    return {**c1_config(quick), "sigma_fs": [0.0, 0.5, 1.0, 2.0, 3.0, 5.0]}


def collect(ctx: Context) -> dict:
    """Per σ_F: objectives optimal / identity / random (mean, std over pairs·layers), their ratios,
    and per-layer values (for the figure)."""
    from lmctheory.sweep import run_jobs

    cfg = config(ctx.quick)
    t0 = time.perf_counter()
    jobs, owner = [], []
    for sf in cfg["sigma_fs"]:
        for c in pair_configs(cfg, "wmlp", sf, ctx.seed):
            jobs.append(c)
            owner.append(sf)
    res = run_jobs(train_pair, jobs, namespace=NAMESPACE, cache_root=ctx.cache_root, client=ctx.client,
                   kind="json", desc="C2 σ_F sweep", progress=ctx.progress, max_workers=ctx.max_workers)
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


def evaluate_condition(data: dict) -> tuple[bool | None, dict]:
    sf = np.array(data["sigma_f"])
    ratio = np.array(data["identity_over_optimal"])
    rnd = np.array(data["random_over_optimal"])
    rho = spearman(sf, ratio)
    i0, i5 = int(np.argmin(sf)), int(np.argmax(sf))
    if not np.isfinite(rho):
        return None, {"rho": rho}
    inc = bool(rho >= RHO_MIN and ratio[i5] > ratio[i0])
    far = bool(rnd[i5] <= MUCH_LESS * ratio[i5])
    return inc and far, {"rho": rho, "increasing": inc, "random_far_below": far,
                         "ratio_at_min_sf": ratio[i0], "ratio_at_max_sf": ratio[i5], "random_ratio_at_max_sf": rnd[i5]}


def run(ctx: Context) -> ClaimResult:
    data = collect(ctx)
    passed, ev = evaluate_condition(data)
    pts = ", ".join(f"{s:g}:{fmt(r)}" for s, r in zip(data["sigma_f"], data["identity_over_optimal"]))
    measured = (f"identity/optimal by σ_F {{{pts}}} (ρ={fmt(ev.get('rho', float('nan')))}); "
                f"random/optimal at σ_F={max(data['sigma_f']):g}: {fmt(data['random_over_optimal'][-1], 3)}; "
                f"test acc {min(data['endpoint_test_acc']) * 100:.1f}–{max(data['endpoint_test_acc']) * 100:.1f}%")
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured=measured, passed=passed, condition=CONDITION,
                       details={"evaluation": jsonable(ev), "config": data["config"], "seconds": data["seconds"]})
