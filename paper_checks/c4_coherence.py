"""C4 — subspace coherence controls whether a mask alone breaks symmetries ([NI] Q4, Fig. 6, App. F.5).

Claim ([NI] §6 Q4, docs/theory.md §3 / T-4.4)
    With ``F = 0`` (a sparse mask is the only asymmetry) the Gram matrices ``S_i = Uᵀdiag(d_i)²U``
    concentrate around ``μI`` when the input support is incoherent (``ν`` small), so the mask cannot
    make neurons identifiable and independently trained students need a permutation to be linearly
    connected (high midpoint barrier).  On a coherent support (``ν → 1``) the mask hides whole latent
    directions from some neurons, the function classes differ, and unaligned LMC holds.

Pass condition (fixed before the final run)
    For *each* embedding, with ``B̄(m)`` the mean pair-level midpoint barrier:
    (i)  Spearman ``ρ(m, B̄(m)) ≥ 0.6`` — the barrier increases as ``ν = 1/m`` goes from 1 to ``1/c``.
         With 4 quick points this tolerates one adjacent inversion (ρ = 0.8) but not a flat or
         reversed trend; with 10 points it asks for a clear monotone trend;
    (ii) ``B̄(m = c) > B̄(m = 1)`` — low coherence is worse than maximal coherence.
    Endpoint test losses are reported beside every barrier (a barrier only means something when
    the endpoints fit the task).

Setup: :mod:`lmctheory.experiments.mask_coherence` (shared with figure 7).
"""

from __future__ import annotations

import numpy as np

from lmctheory.experiments import mask_coherence as _exp

ID = "C4"
TITLE = "Coherence controls symmetry breaking by masks (teacher–student, F = 0)"
PAPER = (
    "[NI] Q4/Fig. 6: with a Bernoulli(0.15) mask and F = 0, high coherence (ν = 1) gives unaligned LMC, "
    "low coherence (ν = 1/c) a high midpoint barrier, for both the exact-copy and the random-frame embedding."
)
CONDITION = (
    "for both embeddings: Spearman ρ(m = 1/ν, mean midpoint barrier) ≥ 0.6 and "
    "mean barrier at ν = 1/c > mean barrier at ν = 1 (MSE, test set)"
)

RHO_MIN = 0.6


def config(quick: bool) -> dict:
    """The experiment's configuration (tests monkeypatch this to shrink the claim)."""
    return _exp.config(quick)


def collect(ctx) -> dict:
    """Run (or load) the experiment at :func:`config` (:func:`lmctheory.experiments.mask_coherence.collect`)."""
    return _exp.collect(ctx, config(ctx.quick))


def evaluate(data: dict) -> tuple[bool | None, dict]:
    """Apply the fixed pass condition to collected data (``None`` with fewer than 3 values of ``m``)."""
    from paper_checks.common import spearman

    per = {}
    verdicts = []
    for e, row in data["embeddings"].items():
        m = np.asarray(row["m"], float)
        bar = np.asarray(row["barrier_mean"])
        rho = spearman(m, bar)
        lo_coh = bar[int(np.argmax(m))]
        hi_coh = bar[int(np.argmin(m))]
        if len(m) < 3:
            passed = None
        else:  # a NaN ρ here means a flat barrier: no trend, a miss
            passed = bool(np.isfinite(rho) and rho >= RHO_MIN and lo_coh > hi_coh)
        per[e] = dict(spearman_rho=rho, barrier_nu_1=float(hi_coh), barrier_nu_1_over_c=float(lo_coh), passed=passed)
        verdicts.append(passed)
    if any(v is None for v in verdicts):
        return None, per
    return bool(all(verdicts)), per


def run(ctx):
    from paper_checks.common import ClaimResult

    data = collect(ctx)
    passed, per = evaluate(data)
    parts = []
    for e, v in per.items():
        row = data["embeddings"][e]
        parts.append(
            f"{e}: B(ν=1) = {v['barrier_nu_1']:.4f}, B(ν=1/c) = {v['barrier_nu_1_over_c']:.4f}, "
            f"ρ(m, B) = {v['spearman_rho']:.2f}; endpoint test MSE {min(row['endpoint_loss_mean']):.4f}–"
            f"{max(row['endpoint_loss_mean']):.4f} (target var {row['target_var']:.3f})"
        )
    details = {
        "per_embedding": per,
        "table": {
            e: {k: row[k] for k in ("m", "nu", "barrier_mean", "barrier_std", "barrier_sem", "barrier_max_mean",
                                    "barrier_train_mean", "endpoint_loss_mean", "endpoint_loss_std",
                                    "gram_dev_mean", "gram_rank_deficient")}
            for e, row in data["embeddings"].items()
        },
        "config": data["config"],
        "seconds": data["seconds"],
    }
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured="; ".join(parts), passed=passed,
                       condition=CONDITION, details=details)
