"""C9 — unaligned LMC of ResNets needs effective symmetry breaking; activation matching lowers every barrier
([NI] §6 Fig. 4, ResNet rows; App. F.2, F.4).

Setup and the shared training job: :mod:`lmctheory.experiments.resnet_pairs` (also behind C10 and figure 13).
ResNet-8 (:func:`lmctheory.nn.make_resnet`, GroupNorm, 1×1 projection shortcuts) on the 8×8 digits as images,
AdamW lr 3e-3, wd 1e-2, batch 128; four variants: standard, W-ResNet with zero fixed weights (κ = 0), W-ResNet
with κ = 2 ([NI] Table 3 fixed-entry fractions), syre-ResNet with σ_F = 0.5 (fixed a priori: a syre row's fixed
part about as large as a κ = 2 W-ResNet row's). Quick: width 16, 20 epochs, 2 pairs; full: width 32, 30 epochs,
4 pairs. Test-set interpolation at 11 points, unaligned and after activation matching on the training images
(every pixel a sample; the traced permutation groups tie each residual stream jointly), B permuted onto A, both
read as standard models of their effective weights. Endpoint test accuracy sits below 100 % (≈ 95–98 %), so a
barrier can show; it is reported beside every drop.

Pass condition (fixed before the first run; margin as in C1), on the mean over pairs of the midpoint test-accuracy
drop ``(A(0) + A(1))/2 − A(1/2)`` in percentage points:
  (1) ordered: ``max(W-ResNet κ=2, syre) ≤ 0.5 · min(standard, W-ResNet κ=0)`` (unaligned);
  (2) alignment never hurts: for every variant, aligned ≤ unaligned + 1 pp (1 pp ≈ 4.5 of the 450 test images:
      when matching returns the identity — expected for effective symmetry breakers — both curves coincide, and
      a near-identity permutation may move a few test images either way).
"""

from __future__ import annotations

import numpy as np

from lmctheory.experiments import resnet_pairs as _exp
from paper_checks.common import ClaimResult, Context, fmt

ID = "C9"
TITLE = "ResNets: unaligned LMC needs effective symmetry breaking; activation matching lowers every barrier"
PAPER = ("[NI] Fig. 4 (CIFAR-10 ResNet-20×8): unaligned LMC holds to some degree for W-ResNet κ=2 and syre-ResNet; "
         "standard and κ=0 W-ResNets show a high barrier; activation matching reduces the barrier of every "
         "variant, syre included.")
CONDITION = ("Mean unaligned midpoint accuracy drop: max(W-ResNet κ=2, syre) ≤ 0.5·min(standard, W-ResNet κ=0); "
             "and for every variant aligned mean drop ≤ unaligned mean drop + 1 pp.")
MUCH_LESS = 0.5
ALIGN_TOL_PP = 1.0
LOW = ("wresnet_k2", "syre")
HIGH = ("standard", "wresnet_k0")


def config(quick: bool) -> dict:
    """The experiment's configuration (tests monkeypatch this to shrink the claim)."""
    return _exp.config(quick)


def collect(ctx: Context) -> dict:
    """Per variant the interpolation curves, midpoint drops and endpoint accuracies
    (:func:`lmctheory.experiments.resnet_pairs.collect_interpolation`)."""
    return _exp.collect_interpolation(ctx, config(ctx.quick))


def evaluate_condition(data: dict) -> tuple[bool | None, dict]:
    """Conditions (1)–(2) of the module doc; ``None`` if a variant is missing or a drop is not finite."""
    v = data["variants"]
    if any(k not in v for k in (*LOW, *HIGH)):
        return None, {"missing": sorted(set((*LOW, *HIGH)) - set(v))}
    un = {k: v[k]["unaligned"]["midpoint_acc_drop_mean"] for k in v}
    al = {k: v[k]["aligned"]["midpoint_acc_drop_mean"] for k in v}
    if any(not np.isfinite(x) for x in [*un.values(), *al.values()]):
        return None, {"unaligned": un, "aligned": al}
    low = max(un[k] for k in LOW)
    high = min(un[k] for k in HIGH)
    ordered = low <= MUCH_LESS * high
    not_worse = {k: bool(al[k] <= un[k] + ALIGN_TOL_PP) for k in v}
    return bool(ordered and all(not_worse.values())), {
        "unaligned": un, "aligned": al, "ordered": bool(ordered), "low_max": low, "high_min": high,
        "aligned_not_worse": not_worse}


def run(ctx: Context) -> ClaimResult:
    data = collect(ctx)
    passed, ev = evaluate_condition(data)
    v = data["variants"]
    parts = []
    for label in v:
        u, a = v[label]["unaligned"], v[label]["aligned"]
        acc = 100 * np.mean(v[label]["endpoint_test_acc"])
        parts.append(f"{label}: {fmt(u['midpoint_acc_drop_mean'], 1)}±{fmt(u['midpoint_acc_drop_std'], 1)} pp "
                     f"→ aligned {fmt(a['midpoint_acc_drop_mean'], 1)}±{fmt(a['midpoint_acc_drop_std'], 1)} pp "
                     f"(end acc {acc:.1f}%)")
    measured = "midpoint acc drop unaligned→aligned: " + "; ".join(parts)
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured=measured, passed=passed, condition=CONDITION,
                       details={"evaluation": ev, "config": data["config"], "seconds": data["seconds"]})
