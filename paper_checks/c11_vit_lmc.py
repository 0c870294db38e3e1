"""C11 — W-asymmetric ViTs: fixed weights shrink the unaligned barrier, masking alone does not ([NI] App. G.4).

Claim ([NI] G.4, Fig. 20): along the linear path between independently trained ViTs, the standard ViT shows a
pronounced barrier, the W-asymmetric ViT with zero fixed weights ("masking alone") closely matches it, and the
W-asymmetric ViT with nonzero fixed weights has a noticeably flatter curve (though still below the endpoints).

Setup and the shared training job: :mod:`lmctheory.experiments.vit_pairs` (LayerNorm variants ``standard``,
``wvit_zero``, ``wvit_fixed``; 25% fixed entries per row in every linear map, fixed values ``κ·N(0,1)/√fan_in``
with ``κ = 2``, chosen a priori — see that module). Also behind figure 14.

Pass condition (fixed before the first run), with ``d_v`` the mean over pairs of the unaligned midpoint test
accuracy drop (pp) of variant ``v`` and ``s_v`` its standard deviation over pairs: with ``h = min(d_standard,
d_wvit_zero)``,
  (1) ``d_wvit_fixed ≤ 0.75·h`` (the fixed-weight variant is clearly lower: at least 25% below both), and
  (2) ``h − d_wvit_fixed > max(s_standard, s_wvit_zero, s_wvit_fixed)`` (the gap exceeds the spread over pairs).
Reported alongside, without a condition: the loss barriers ``B_lin``, the permutation-aligned and
permutation + orthogonal (LayerNorm: ``Q·1 = ±1``) drops, the
endpoint accuracies, and ``|d_standard − d_wvit_zero|`` ("about the same" in the paper).
"""

from __future__ import annotations

import numpy as np

from lmctheory.experiments import vit_pairs as _exp
from paper_checks.common import ClaimResult, Context, fmt

ID = "C11"
TITLE = "W-asymmetric ViTs: fixed weights shrink the unaligned barrier, masking alone does not"
PAPER = ("[NI] App. G.4 (Fig. 20, CIFAR-10 ViT): the standard ViT has a pronounced interpolation barrier; "
         "W-ViT with zero fixed weights closely matches it; W-ViT with fixed weights is noticeably flatter.")
CONDITION = ("Unaligned mean midpoint test-acc drop: W-ViT(κ=2) ≤ 0.75·min(standard, W-ViT zero-fixed), "
             "and that gap > the largest std over pairs of the three.")
VARIANTS = ("standard", "wvit_zero", "wvit_fixed")
CLEARLY = 0.75


def config(quick: bool) -> dict:
    """The experiment's configuration (tests monkeypatch this to shrink the claim)."""
    return {**_exp.config(quick), "variants": list(VARIANTS)}


def collect(ctx: Context) -> dict:
    """Per variant: unaligned / permutation-aligned curves and endpoint accuracies
    (:func:`lmctheory.experiments.vit_pairs.collect`)."""
    return _exp.collect(ctx, config(ctx.quick))


def evaluate_condition(data: dict) -> tuple[bool | None, dict]:
    v = data["variants"]
    if any(k not in v or "unaligned" not in v[k] for k in VARIANTS):
        return None, {"missing": [k for k in VARIANTS if k not in v]}
    d = {k: v[k]["unaligned"]["midpoint_acc_drop_mean"] for k in VARIANTS}
    s = {k: v[k]["unaligned"]["midpoint_acc_drop_std"] for k in VARIANTS}
    if not all(np.isfinite(list(d.values()))):
        return None, {"drop": d, "std": s}
    s_max = max((x for x in s.values() if np.isfinite(x)), default=0.0)
    high = min(d["standard"], d["wvit_zero"])
    c1 = d["wvit_fixed"] <= CLEARLY * high
    c2 = high - d["wvit_fixed"] > s_max
    return bool(c1 and c2), {"drop": d, "std": s, "high_min": high, "gap": high - d["wvit_fixed"],
                             "spread_max": s_max, "ratio_fixed_over_high": d["wvit_fixed"] / high if high else
                             float("nan"), "clearly_lower": bool(c1), "gap_exceeds_spread": bool(c2),
                             "standard_minus_zero": d["standard"] - d["wvit_zero"]}


def run(ctx: Context) -> ClaimResult:
    data = collect(ctx)
    passed, ev = evaluate_condition(data)
    v = data["variants"]
    parts = []
    for label in VARIANTS:
        if label not in v:
            continue
        u, p = v[label]["unaligned"], v[label]["perm"]
        o = v[label].get("orth", {}).get("midpoint_acc_drop_mean", float("nan"))
        acc = 100 * np.mean(v[label]["endpoint_test_acc"])
        tr = 100 * np.mean(v[label]["endpoint_train_acc"])
        parts.append(f"{label}: drop {fmt(u['midpoint_acc_drop_mean'], 1)}±{fmt(u['midpoint_acc_drop_std'], 1)} pp, "
                     f"B_lin {fmt(u['loss_barrier_lin_mean'], 2)}±{fmt(u['loss_barrier_lin_std'], 2)} nats "
                     f"(aligned drop: perm {fmt(p['midpoint_acc_drop_mean'], 1)}, +orth {fmt(o, 1)} pp; end acc test {acc:.1f}%, "
                     f"train {tr:.1f}%)")
    measured = "unaligned midpoint: " + "; ".join(parts)
    if "ratio_fixed_over_high" in ev:
        measured += f"; fixed/min(other) = {fmt(ev['ratio_fixed_over_high'], 2)}"
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured=measured, passed=passed, condition=CONDITION,
                       details={"evaluation": ev, "config": data["config"], "seconds": data["seconds"]})
