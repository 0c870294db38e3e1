"""C2 — activation-matching objective of the identity vs the optimum as σ_F grows ([NI] Q2, Fig. 3).

W-MLPs (C1's setup, digits) for a sweep of fixed weight scales ``σ_F ∈ {0, 0.5, 1, 2, 3, 5}``. For
each pair, layerwise activation matching on the training set gives per hidden layer the objective
``⟨P, C⟩_F / width`` (mean Pearson correlation of matched units) for the optimal permutation, the
identity and random permutations (mean ± std of 100). Reported per σ_F: mean over pairs and
layers. The training job is :func:`lmctheory.experiments.mlp_pairs.train_pair`, so σ_F = 0 and
1 reuse C1's cached pairs
(:func:`lmctheory.experiments.mlp_pairs.collect_matching`).
"""

from __future__ import annotations

import numpy as np

from lmctheory.experiments import mlp_pairs as _exp
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
    return _exp.matching_config(quick)


def collect(ctx: Context) -> dict:
    """Per σ_F: objectives optimal / identity / random, their ratios and per-layer values
    (:func:`lmctheory.experiments.mlp_pairs.collect_matching`)."""
    return _exp.collect_matching(ctx, config(ctx.quick))


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
