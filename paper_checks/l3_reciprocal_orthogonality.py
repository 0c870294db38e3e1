"""L3 — reciprocal orthogonality: one model's representations fall near the null space of the other's weights ([LEWC]).

Claim ([LEWC] Def. 5.2, Fig. 7; docs/theory.md §9)
    ``RO_ℓ = E‖W_ℓ^a z_{ℓ−1}^b‖ / E‖W_ℓ^a z_{ℓ−1}^a‖`` (and ``a ↔ b``) decreases as the width grows and is
    smaller with strong weight decay (low-rank weights leave a large null space).

Setup
    The shared L1 sweep (:func:`lmctheory.experiments.lewc_width.sweep`: digits, bias-free ReLU MLPs with 3 hidden
    layers, widths ``32·m``, SGD with wd 3e-3 and 1e-4); ``RO_ℓ`` on the test inputs by
    :func:`lmctheory.nn.merging.layer_measurements` (via :func:`lmctheory.lewc.reciprocal_orthogonality`).
    The summary ratio of a pair is the mean over layers ``ℓ = 2…L`` and both directions (``RO_1 = 1``
    identically: both models see the same input ``x``), averaged over pairs.

Pass condition (fixed up front from docs/experiments.md L3)
    (i)  wd 3e-3: Spearman ``ρ(width, RO) ≤ −0.8`` and RO(widest) < RO(narrowest);
    (ii) RO(wd 3e-3) < RO(wd 1e-4) at the widest width.
"""

from __future__ import annotations

import numpy as np

from lmctheory.experiments import lewc_width as _exp

ID = "L3"
TITLE = "Reciprocal orthogonality decreases with width and with stronger weight decay"
PAPER = (
    "[LEWC] Fig. 7: E‖W_a z_b‖/E‖W_a z_a‖ per layer decreases as the width multiplier grows, and is larger "
    "(weaker orthogonality) with weak weight decay 1e-4 than with 3e-3."
)
CONDITION = (
    "RO = mean over layers ℓ ≥ 2 and both directions; wd 3e-3: Spearman ρ(width, RO) ≤ −0.8 and "
    "RO(widest) < RO(narrowest); RO(3e-3) < RO(1e-4) at the widest width"
)
RHO_MAX = -0.8


def config(quick: bool) -> dict:
    return _exp.sweep_config(quick)



def collect(ctx) -> dict:
    sw = _exp.sweep(ctx, config(ctx.quick))
    return {"config": sw["config"], "seconds": sw["seconds"], "ro": _exp.summarize_ro(sw["table"])}


def evaluate(data: dict) -> tuple[bool | None, dict]:
    from paper_checks.common import spearman

    s, w = str(float(_exp.STRONG)), str(float(_exp.WEAK))
    if s not in data["ro"]:
        return None, {"reason": "wd 3e-3 not in the sweep"}
    st = data["ro"][s]
    width = np.asarray(st["width"], float)
    ro = np.asarray(st["ro_mean"], float)
    if len(width) < 2:
        return None, {"reason": "need at least two widths"}
    o = np.argsort(width)
    width, ro = width[o], ro[o]
    rho = spearman(width, ro) if len(width) >= 3 else float(-1.0 if ro[-1] < ro[0] else 1.0)
    ok_w = bool(np.isfinite(rho) and rho <= RHO_MAX and ro[-1] < ro[0])
    ev = dict(spearman_width_ro=rho, ro_narrowest=float(ro[0]), ro_widest=float(ro[-1]), decreasing_in_width=ok_w)
    if w not in data["ro"]:
        return None, {**ev, "reason": "wd 1e-4 not in the sweep"}
    wk = data["ro"][w]
    ro_weak_widest = float(np.asarray(wk["ro_mean"])[int(np.argmax(wk["width"]))])
    ok_wd = bool(ro[-1] < ro_weak_widest)
    n_below = int(sum(a < b for a, b in zip(st["ro_mean"], wk["ro_mean"])))
    ev.update(ro_weak_widest=ro_weak_widest, strong_below_weak=ok_wd, widths_strong_below_weak=n_below,
              n_widths=len(width))
    return ok_w and ok_wd, ev


def run(ctx):
    from paper_checks.common import ClaimResult

    data = collect(ctx)
    passed, ev = evaluate(data)
    parts = [f"wd {float(wd):g}: RO at widths {v['width']} = " + ", ".join(f"{r:.3f}" for r in v["ro_mean"])
             for wd, v in data["ro"].items()]
    if "spearman_width_ro" in ev:
        parts.append(f"ρ(width, RO) = {ev['spearman_width_ro']:.2f}")
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured="; ".join(parts), passed=passed,
                       condition=CONDITION, details={"evaluation": ev, "ro": data["ro"], "config": data["config"]})
