"""M1 — beyond the straight line: Bézier curves connect what the unaligned line does not ([MC] §2, docs/theory.md §10).

Claim ([MC] notes; Garipov et al. 2018; Draxler et al. 2018): independently trained minima are joined by
low-loss quadratic Bézier curves without any alignment, while the straight segment has a barrier unless
the hidden units are first aligned; after alignment the line is (nearly) as good as the curve.

Setup (CPU scale, like C1): scikit-learn digits, standard MLPs (4 linear layers, LayerNorm, GELU), AdamW
lr 1e-3, wd 1e-2, batch 128. Per pair of independently initialized models: a quadratic Bézier curve
(one control point, initialized at the midpoint, trained with one uniform ``t`` per minibatch, AdamW
lr 1e-3) is fit on the training set between A and B (unaligned) and between A and B permuted to A by
layerwise activation matching on the training set (aligned). Line and curve are evaluated on the test
set at ``n_ts`` equally spaced ``t`` with :meth:`lmctheory.nn.curves.Curve.evaluate` (BatchNorm statistics
would be recomputed at every point; the MLP has none). The job is the library's
:func:`lmctheory.experiments.mode_curves.curve_pair_job`; the architecture is a config field (``archs``: name → its
keys), so a ResNet row is a new ``ARCHITECTURES`` entry plus one ``archs`` entry here. Curve ensembling
(softmax average over the ``t`` grid vs the two endpoints) is reported, without a condition.

Pass condition (fixed before the first run; checked for every architecture row), with ``B`` the mean over
pairs of the loss barrier ``B_lin = max_t [𝓛(p(t)) − ((1−t)𝓛(0) + t𝓛(1))]`` on test cross-entropy (nats):
  (1) the unaligned line has a large barrier: ``B(line, unaligned) ≥ 0.1``;
  (2) the unaligned Bézier curve is near zero: ``B(curve, unaligned) ≤ 0.2 · B(line, unaligned)``;
  (3) after alignment the line is close to the curve: ``B(line, aligned) − B(curve, aligned) ≤
      0.25 · (B(line, unaligned) − B(curve, unaligned))`` (alignment closes ≥ 75% of the line–curve gap).
"""

from __future__ import annotations

import numpy as np

from lmctheory.experiments import mode_curves as _exp
from paper_checks.common import ClaimResult, Context, fmt

ID = "M1"
TITLE = "Bézier curves connect independently trained minima; after alignment the line does too"
PAPER = ("[MC] §2 (Garipov et al. 2018; Draxler et al. 2018): minima are joined by low-loss Bézier curves "
         "without alignment; the straight line needs the right symmetry alignment.")
CONDITION = ("Per architecture, mean test-loss barrier B_lin over pairs: line unaligned ≥ 0.1 nats; "
             "Bézier unaligned ≤ 0.2 × line unaligned; "
             "(line − curve) aligned ≤ 0.25 × (line − curve) unaligned.")
LARGE = 0.1
NEAR_ZERO_FRAC = 0.2
CLOSE_FRAC = 0.25


def config(quick: bool) -> dict:
    """The experiment's configuration (tests monkeypatch this to shrink the claim)."""
    return _exp.config(quick)


def collect(ctx: Context) -> dict:
    """Per architecture and alignment: line and Bézier test curves (:func:`lmctheory.experiments.mode_curves.collect`)."""
    return _exp.collect(ctx, config(ctx.quick))


def evaluate_condition(data: dict) -> tuple[bool | None, dict]:
    """Conditions (1)–(3) of the module doc for every architecture row; ``None`` if any number is missing."""
    verdicts, ev = [], {}
    for arch, row in data["archs"].items():
        if row.get("unaligned") is None or row.get("aligned") is None:
            ev[arch] = {"missing": "unaligned or aligned curves"}
            verdicts.append(None)
            continue
        lu, cu = row["unaligned"]["line"]["barrier_lin_mean"], row["unaligned"]["curve"]["barrier_lin_mean"]
        la, ca = row["aligned"]["line"]["barrier_lin_mean"], row["aligned"]["curve"]["barrier_lin_mean"]
        if not all(np.isfinite([lu, cu, la, ca])):
            ev[arch] = {"missing": "non-finite barrier"}
            verdicts.append(None)
            continue
        c1 = lu >= LARGE
        c2 = cu <= NEAR_ZERO_FRAC * lu
        c3 = (la - ca) <= CLOSE_FRAC * (lu - cu)
        ev[arch] = {"line_unaligned": lu, "curve_unaligned": cu, "line_aligned": la, "curve_aligned": ca,
                    "line_large": bool(c1), "curve_near_zero": bool(c2), "aligned_line_close": bool(c3),
                    "curve_over_line_unaligned": cu / lu if lu > 0 else float("nan"),
                    "gap_ratio_aligned_over_unaligned": (la - ca) / (lu - cu) if lu != cu else float("nan")}
        verdicts.append(bool(c1 and c2 and c3))
    if not verdicts or any(v is None for v in verdicts):
        return None, ev
    return all(verdicts), ev


def run(ctx: Context) -> ClaimResult:
    data = collect(ctx)
    passed, ev = evaluate_condition(data)
    parts = []
    for arch, row in data["archs"].items():
        if arch not in ev or "missing" in ev[arch]:
            parts.append(f"{arch}: n/a ({ev.get(arch, {}).get('missing', '?')})")
            continue
        e = ev[arch]
        acc = 100 * np.mean(row["endpoint_test_acc"])
        g = row["unaligned"]["ensemble_acc_gain_pp"]
        parts.append(
            f"{arch}: B_lin line/curve unaligned {fmt(e['line_unaligned'], 3)}/{fmt(e['curve_unaligned'], 3)}, "
            f"aligned {fmt(e['line_aligned'], 3)}/{fmt(e['curve_aligned'], 3)} nats; "
            f"curve-ensemble gain {fmt(float(np.mean(g)), 1)} pp (end acc {acc:.1f}%)")
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured="; ".join(parts), passed=passed,
                       condition=CONDITION, details={"evaluation": ev, "config": data["config"],
                                                     "seconds": data["seconds"]})
