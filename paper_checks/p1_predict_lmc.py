"""P1 — predict the unaligned barrier before training (:func:`lmctheory.nn.predict_lmc`).

Target (fixed before running): the **unaligned midpoint test loss barrier** ``L(½) − (L(0) + L(1))/2`` (nats) of
two independently trained models of one architecture, averaged over the pairs of a configuration. Setup, data and
the fit / held-out configurations: :mod:`lmctheory.experiments.lmc_prediction` (the held-out set differs in σ_F
values, fixed fractions, mask family, widths, input coherence and data sets, and is never used for fitting).
Pass condition (stated before running): Spearman(score, measured barrier) on the held-out set ≥ 0.9 and above
the naive proxies (mean |F| of the first layer, σ_F).
"""

from __future__ import annotations

import numpy as np

from lmctheory.experiments import lmc_prediction as _exp
from paper_checks.common import ClaimResult, Context, fmt

ID = "P1"
TITLE = "predict_lmc ranks held-out configurations by their unaligned barrier before training"
PAPER = ("(new) The theory says the unaligned barrier is governed by neuron identifiability, which is "
         "computable at initialization (T-4.4, T-4.5/T-16, T-4.6, T-5.1).")
CONDITION = ("Held-out Spearman(score, measured midpoint loss barrier) ≥ 0.9 and above both naive proxies "
             "(mean |F| of layer 1, σ_F); band coverage reported.")
SPEARMAN_MIN = 0.9


def config(quick: bool) -> dict:
    """The sweep's configuration (tests monkeypatch this to shrink the claim)."""
    return _exp.config(quick)


def collect(ctx: Context) -> dict:
    """Measured barriers, init-time statistics, fitted calibration and held-out evaluation
    (:func:`lmctheory.experiments.lmc_prediction.collect`)."""
    return _exp.collect(ctx, config(ctx.quick))


def evaluate_condition(data: dict) -> tuple[bool | None, dict]:
    h = data["evaluation"]["heldout"]
    rho = h["spearman_score"]
    naive = max(h["spearman_mean_abs_F"], h["spearman_sigma_f"])
    if not np.isfinite(rho):
        return None, h
    return bool(rho >= SPEARMAN_MIN and (not np.isfinite(naive) or rho > naive)), h


def run(ctx: Context) -> ClaimResult:
    data = collect(ctx)
    passed, h = evaluate_condition(data)
    f = data["evaluation"]["fit"]
    cal = data["calibration"]
    g = data["groups"]["heldout"]
    measured = (f"held-out ({h['n']} configs): Spearman(score, barrier) {fmt(h['spearman_score'])} vs naive "
                f"mean|F| {fmt(h['spearman_mean_abs_F'])}, σ_F {fmt(h['spearman_sigma_f'])}; F=0 subset "
                f"({g['n_F_zero']}) {fmt(g['spearman_score_F_zero'])}; band coverage {100 * h['coverage']:.0f}%. "
                f"Fit ({f['n']}): Spearman {fmt(f['spearman_score'])}, coverage {100 * f['coverage']:.0f}%; "
                f"kappa={cal['kappa']:g}, scale={cal['scale']:.3g} nats; predict_lmc width 512: "
                f"{data['predict_seconds_width512']:.2f}s")
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured=measured, passed=passed, condition=CONDITION,
                       details={"evaluation": data["evaluation"], "groups": data["groups"], "calibration": cal,
                                "config": data["config"], "seconds": data["seconds"]})
