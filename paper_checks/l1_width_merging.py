"""L1 — widening makes permutation-free merging work; temperature calibration removes the loss barrier ([LEWC]).

Claim ([LEWC] §4, Fig. 1–3; docs/theory.md §9)
    Two bias-free ReLU MLPs trained from different seeds are merged without permutation,
    ``θ_λ = (1−λ)θ_a + λθ_b``. The merged model's accuracy rises monotonically with the width multiplier;
    the loss barrier of the raw merge stays large (the merged logits are an ensemble scaled by ``≈ 2^{−L}``),
    but after softmax temperature calibration (``τ`` fitted on 20% of the test set) it approaches 0.

Setup, the shared sweep (one job per pair, width and decay) and the table's fields:
:mod:`lmctheory.experiments.lewc_width` (also behind L2–L5 and figure 10).

Pass condition (fixed up front from docs/experiments.md L1), strong weight decay 3e-3, means over pairs:
    (i)  the midpoint accuracy gap to the endpoints shrinks with width: Spearman ``ρ(width, gap) ≤ −0.8``
         (3 quick points: strictly decreasing; 5 points: at most one adjacent inversion) and
         gap(widest) < gap(narrowest);
    (ii) calibrated loss barrier (``B_lin`` over the ``λ`` grid) at the widest ``< 0.25 ×`` at the narrowest.
"""

from __future__ import annotations

import numpy as np

from lmctheory.experiments import lewc_width as _exp
from lmctheory.experiments.lewc_width import STRONG

ID = "L1"
TITLE = "Width makes permutation-free merging work; calibration removes the loss barrier"
PAPER = (
    "[LEWC] Fig. 1–3: merged-model accuracy rises monotonically with width (MLP 0.125×…32×, MNIST/CIFAR); "
    "with temperature calibration the loss barrier approaches 0 at large width (strong weight decay 3e-3)."
)
CONDITION = (
    "wd 3e-3: Spearman ρ(width, midpoint accuracy gap) ≤ −0.8 and gap(widest) < gap(narrowest); "
    "calibrated loss barrier (B_lin) at the widest < 25% of the narrowest"
)

RHO_MAX = -0.8
CAL_RATIO = 0.25




def config(quick: bool) -> dict:
    """The sweep configuration (tests monkeypatch this to shrink the claim)."""
    return _exp.sweep_config(quick)


def collect(ctx) -> dict:
    """The shared sweep (figure 10 data) for this claim's configuration."""
    return _exp.sweep(ctx, config(ctx.quick))


def evaluate(data: dict) -> tuple[bool | None, dict]:
    """Apply the fixed pass condition to the strong-decay table."""
    from paper_checks.common import spearman

    key = str(float(STRONG))
    if key not in data["table"]:
        return None, {"reason": "strong weight decay 3e-3 not in the sweep"}
    t = data["table"][key]
    w = np.asarray(t["width"], float)
    gap = np.asarray(t["midpoint_acc_drop"], float)
    cal = np.asarray(t["barrier_lin_calibrated"], float)
    if len(w) < 2:
        return None, {"reason": "need at least two widths"}
    order = np.argsort(w)
    w, gap, cal = w[order], gap[order], cal[order]
    rho = spearman(w, gap) if len(w) >= 3 else float(-1.0 if gap[-1] < gap[0] else 1.0)
    ratio = float(cal[-1] / cal[0]) if cal[0] > 0 else float("nan")
    ok_gap = bool(np.isfinite(rho) and rho <= RHO_MAX and gap[-1] < gap[0])
    ok_cal = bool(cal[0] > 0 and cal[-1] < CAL_RATIO * cal[0])
    return ok_gap and ok_cal, dict(spearman_width_gap=rho, gap_narrowest=float(gap[0]), gap_widest=float(gap[-1]),
                                   cal_barrier_narrowest=float(cal[0]), cal_barrier_widest=float(cal[-1]),
                                   cal_ratio=ratio, gap_shrinks=ok_gap, cal_barrier_small=ok_cal)


def run(ctx):
    from paper_checks.common import ClaimResult

    data = collect(ctx)
    passed, ev = evaluate(data)
    parts = []
    for wd, t in data["table"].items():
        parts.append(
            f"wd {float(wd):g}: widths {t['width']}: midpoint acc gap (pp) "
            + ", ".join(f"{g:.1f}" for g in t["midpoint_acc_drop"])
            + "; merged acc " + ", ".join(f"{a:.3f}" for a in t["merged_acc"])
            + " (endpoints " + ", ".join(f"{a:.3f}" for a in t["endpoint_acc"]) + ")"
            + "; loss barrier raw " + ", ".join(f"{b:.3f}" for b in t["barrier_lin"])
            + " → calibrated " + ", ".join(f"{b:.3f}" for b in t["barrier_lin_calibrated"])
            + "; τ(½)/τ(ends) " + ", ".join(f"{a / e:.2f}" for a, e in zip(t["tau_mid"], t["tau_end"]))
            + "; after weight matching: gap " + ", ".join(f"{g:.1f}" for g in t["aligned_midpoint_acc_drop"])
            + ", calibrated barrier " + ", ".join(f"{b:.3f}" for b in t["aligned_barrier_lin_calibrated"])
        )
    if passed is not None:
        parts.append(f"ρ(width, gap) = {ev['spearman_width_gap']:.2f}, calibrated barrier widest/narrowest = "
                     f"{ev['cal_ratio']:.3f}")
    details = {
        "evaluation": ev,
        "table": {wd: {k: v for k, v in t.items() if not k.startswith("curve") and k != "lams"}
                  for wd, t in data["table"].items()},
        "config": data["config"],
        "seconds": data["seconds"],
        "job_seconds": data.get("job_seconds"),
    }
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured="; ".join(parts), passed=passed,
                       condition=CONDITION, details=details)
