"""C10 — ResNets: the identity approaches the activation-matching optimum as the fixed-weight scale κ grows
([NI] Fig. 3(b), App. G.1 Fig. 9).

W-ResNets (C9's setup and training job, :mod:`lmctheory.experiments.resnet_pairs`; κ = 0 and 2 reuse C9's cached
pairs) for a sweep of fixed-weight scales ``κ = σ_F ∈ {0, 0.25, 0.5, 1, 2, 4}`` (fixed before the first run).
For each pair, activation matching of B to A on the training images (every pixel a sample; one joint permutation
per residual stream, one per block's inner channels) gives per permutation group ``g`` the objective
``⟨P, C_g⟩_F`` of the optimal permutation, of the identity and of 100 random permutations; reported per κ:
``identity/optimal`` and ``random/optimal`` averaged over groups and pairs.

Pass condition (fixed before the first run): the identity/optimal ratio increases with κ — Spearman
``ρ(κ, ratio) ≥ 0.8`` and ``ratio(κ_max) > ratio(κ = 0)``; and random permutations stay far below at the largest
κ: ``random/optimal ≤ 0.5 · identity/optimal`` (as C2).
"""

from __future__ import annotations

import numpy as np

from lmctheory.experiments import resnet_pairs as _exp
from paper_checks.common import ClaimResult, Context, fmt, jsonable, spearman

ID = "C10"
TITLE = "ResNets: identity permutation approaches the matching optimum as κ grows"
PAPER = ("[NI] Fig. 3(b) (CIFAR-10 W-ResNets): for large enough fixed-weight scale κ the activation-matching "
         "objective of the identity approaches the optimum; random permutations stay significantly lower.")
CONDITION = ("identity/optimal ratio (mean over pairs and permutation groups) increasing over κ ∈ {0, 0.25, 0.5, 1, "
             "2, 4}: Spearman ρ(κ, ratio) ≥ 0.8 and ratio(κ=4) > ratio(κ=0); random/optimal ≤ 0.5·identity/optimal "
             "at κ=4.")
RHO_MIN = 0.8
MUCH_LESS = 0.5


def config(quick: bool) -> dict:
    """Sweep configuration (tests monkeypatch this). Training sizes follow C9's config."""
    return _exp.matching_config(quick)


def collect(ctx: Context) -> dict:
    """Per κ: identity/optimal and random/optimal ratios, per group values, endpoint accuracy
    (:func:`lmctheory.experiments.resnet_pairs.collect_matching`)."""
    return _exp.collect_matching(ctx, config(ctx.quick))


def evaluate_condition(data: dict) -> tuple[bool | None, dict]:
    k = np.array(data["kappa"], float)
    ratio = np.array(data["identity_over_optimal"], float)
    rnd = np.array(data["random_over_optimal"], float)
    rho = spearman(k, ratio)
    if not np.isfinite(rho):
        return None, {"rho": rho}
    i0, i1 = int(np.argmin(k)), int(np.argmax(k))
    inc = bool(rho >= RHO_MIN and ratio[i1] > ratio[i0])
    far = bool(rnd[i1] <= MUCH_LESS * ratio[i1])
    return inc and far, {"rho": rho, "increasing": inc, "random_far_below": far, "ratio_at_min_kappa": ratio[i0],
                         "ratio_at_max_kappa": ratio[i1], "random_ratio_at_max_kappa": rnd[i1]}


def run(ctx: Context) -> ClaimResult:
    data = collect(ctx)
    passed, ev = evaluate_condition(data)
    pts = ", ".join(f"{k:g}:{fmt(r)}" for k, r in zip(data["kappa"], data["identity_over_optimal"]))
    i1 = int(np.argmax(data["kappa"]))
    acc = np.array(data["endpoint_test_acc"]) * 100
    measured = (f"identity/optimal by κ {{{pts}}} (ρ={fmt(ev.get('rho', float('nan')))}); "
                f"random/optimal at κ={data['kappa'][i1]:g}: {fmt(data['random_over_optimal'][i1], 3)}; "
                f"test acc {acc.min():.1f}–{acc.max():.1f}%")
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured=measured, passed=passed, condition=CONDITION,
                       details={"evaluation": jsonable(ev), "config": data["config"], "seconds": data["seconds"]})
