"""C1 — unaligned vs aligned linear mode connectivity of standard, W-MLP and syre MLPs ([NI] Q1, Fig. 4).

Setup and the shared training job: :mod:`lmctheory.experiments.mlp_pairs` (also behind C2 and figures 8–9).
"""

from __future__ import annotations

import numpy as np

from lmctheory.experiments import mlp_pairs as _exp
from paper_checks.common import ClaimResult, Context, fmt

ID = "C1"
TITLE = "Unaligned LMC needs effective symmetry breaking; alignment fixes all"
PAPER = ("[NI] Fig. 4 (MNIST MLPs): unaligned LMC holds for W-MLP with σ_F large and syre-MLP; standard MLP and "
         "W-MLP with σ_F=0 show a high barrier; after activation matching all barriers are low.")
CONDITION = ("Mean unaligned midpoint accuracy drop: max(W-MLP σ_F=1, syre) ≤ 0.5·min(standard, W-MLP σ_F=0); "
             "and every aligned mean drop ≤ 5 pp.")
ALIGNED_SMALL_PP = 5.0
MUCH_LESS = 0.5


def config(quick: bool) -> dict:
    """The experiment's configuration (tests monkeypatch this to shrink the claim)."""
    return _exp.config(quick)


def collect(ctx: Context) -> dict:
    """Per variant the interpolation curves, midpoint drops, endpoint accuracies and matching objectives
    (:func:`lmctheory.experiments.mlp_pairs.collect_interpolation`)."""
    return _exp.collect_interpolation(ctx, config(ctx.quick))


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
