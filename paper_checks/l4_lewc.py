"""L4 — LEWC: merged layer outputs are exponentially weighted sums of the endpoints' ([LEWC] §5).

Claim ([LEWC] Def. LEWC, Thm. 5.3, Fig. 5–6; docs/theory.md §9)
    For wide, strongly decayed nets, ``z_ℓ(θ_λ) ≈ (1−λ)^ℓ z_ℓ(θ_a) + λ^ℓ z_ℓ(θ_b)`` (``θ_λ = (1−λ)θ_a + λθ_b``) at every layer (cosine near 1);
    with weak weight decay (1e-4) the cosine drops.

Setup
    The shared L1 sweep (:func:`lmctheory.experiments.lewc_width.sweep`); the LEWC cosine per layer at ``λ = 1/2`` on
    the test inputs by :func:`lmctheory.nn.merging.layer_measurements` (via :func:`lmctheory.lewc.lewc_cosine`),
    averaged over pairs. Reported for every layer (the logits included); judged at the last hidden layer
    ``ℓ = L − 1 = 3``.

Pass condition (fixed up front from docs/experiments.md L4)
    (i)  wd 3e-3: Spearman ``ρ(width, LEWC cosine at ℓ = L−1) ≥ 0.8`` and cosine(widest) > cosine(narrowest);
    (ii) cosine(wd 1e-4) < cosine(wd 3e-3) at the widest width.
"""

from __future__ import annotations

import numpy as np

from lmctheory.experiments import lewc_width as _exp

ID = "L4"
TITLE = "LEWC: merged layers ≈ λ^ℓ z_a + (1−λ)^ℓ z_b for wide, strongly decayed nets"
PAPER = (
    "[LEWC] Fig. 5–6: the cosine between merged layer outputs and λ^ℓ z^a + (1−λ)^ℓ z^b is close to 1 for wide "
    "MLPs with wd 3e-3 and increases with width; with wd 1e-4 it drops."
)
CONDITION = (
    "LEWC cosine at the last hidden layer (λ = ½): wd 3e-3: Spearman ρ(width, cos) ≥ 0.8 and cos(widest) > "
    "cos(narrowest); cos(1e-4) < cos(3e-3) at the widest width"
)
RHO_MIN = 0.8


def config(quick: bool) -> dict:
    return _exp.sweep_config(quick)



def collect(ctx) -> dict:
    sw = _exp.sweep(ctx, config(ctx.quick))
    return {"config": sw["config"], "seconds": sw["seconds"], "lewc": _exp.summarize_lewc(sw["table"])}


def evaluate(data: dict) -> tuple[bool | None, dict]:
    from paper_checks.common import spearman

    s, w = str(float(_exp.STRONG)), str(float(_exp.WEAK))
    if s not in data["lewc"]:
        return None, {"reason": "wd 3e-3 not in the sweep"}
    st = data["lewc"][s]
    width = np.asarray(st["width"], float)
    c = np.asarray(st["last_hidden"], float)
    if len(width) < 2:
        return None, {"reason": "need at least two widths"}
    o = np.argsort(width)
    width, c = width[o], c[o]
    rho = spearman(width, c) if len(width) >= 3 else float(1.0 if c[-1] > c[0] else -1.0)
    ok_w = bool(np.isfinite(rho) and rho >= RHO_MIN and c[-1] > c[0])
    ev = dict(spearman_width_cos=rho, cos_narrowest=float(c[0]), cos_widest=float(c[-1]), increasing_in_width=ok_w)
    if w not in data["lewc"]:
        return None, {**ev, "reason": "wd 1e-4 not in the sweep"}
    wk = data["lewc"][w]
    weak_widest = float(np.asarray(wk["last_hidden"])[int(np.argmax(wk["width"]))])
    ok_wd = bool(weak_widest < c[-1])
    ev.update(cos_weak_widest=weak_widest, weak_below_strong=ok_wd)
    return ok_w and ok_wd, ev


def run(ctx):
    from paper_checks.common import ClaimResult

    data = collect(ctx)
    passed, ev = evaluate(data)
    parts = [f"wd {float(wd):g}: LEWC cos at the last hidden layer, widths {v['width']} = "
             + ", ".join(f"{x:.3f}" for x in v["last_hidden"])
             + " (logits " + ", ".join(f"{x:.3f}" for x in v["logits"]) + ")"
             for wd, v in data["lewc"].items()]
    if "spearman_width_cos" in ev:
        parts.append(f"ρ(width, cos) = {ev['spearman_width_cos']:.2f}")
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured="; ".join(parts), passed=passed,
                       condition=CONDITION, details={"evaluation": ev, "lewc": data["lewc"], "config": data["config"]})
