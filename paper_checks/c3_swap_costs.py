"""C3 — neuron swap costs of trained W-MLPs depend on σ_F and on the intrinsic dimension k ([NI] Q3, Fig. 5).

Claim ([NI] §6 Q3; docs/theory.md §4, T-4.5, T-C.5, T-4.6)
    In the center-dominated regime (W-MLP, ``σ_F = 1``) the swap cost of neurons ``i, j`` is
    ``Δ_ij ≈ 2‖v_i − v_j‖²/μ`` (T-4.5), and projected centers ``v_i ∈ R^k`` are packed closely only when
    ``k`` is small (T-4.6, ``δ_min ∝ n^{−2/k}``): many cheap swaps at small ``k``, only the diagonal
    cheap at large ``k``.  With ``σ_F = 0`` (mask only) near-zero and negative swap costs dominate.
    Unaligned LMC follows: the midpoint accuracy drop shrinks as ``k`` grows.

Pass condition (fixed before the final run)
    A swap is *cheap* when ``Δ_ij < τ·median_{i≠j}(Δ)`` with ``τ = 0.1`` (relative to the same layer's
    own off-diagonal median, so the rule is scale-free across ``k``; for centers alone,
    ``‖v_i − v_j‖² ∝ χ²_k`` gives the reference fractions ``P(χ²_k < 0.1·median) ≈ 6.7%, 1.3%,
    0.05%`` for ``k = 2, 4, 8``; with 5 fixed entries per row ``v_i`` lies in a ≤ 5-dimensional
    subspace, so for ``k > 10`` the differences have ≤ 10 effective dimensions, still far from cheap).  With ``f(k)`` the cheap fraction at layer 1 of the ``σ_F = 1``
    models (mean over models) and ``drop(k)`` the mean midpoint *test* accuracy drop of the
    ``σ_F = 1`` pairs:
    (a) ``f(k_min) > f(k_max)`` and Spearman ``ρ(k, f) ≤ −0.5``;
    (b) ``drop(k_min) > drop(k_max)`` and Spearman ``ρ(k, drop) ≤ −0.5``.
    With 3 quick points ``ρ ≤ −0.5`` tolerates one inversion next to a clear end-to-end decrease.
    Hidden layers (PCA bases) and ``σ_F = 0`` statistics (fraction negative; fraction with
    ``|Δ| < τ·median`` of the ``σ_F = 1`` layer at the same ``k``) are reported, not part of the pass.

Setup and measurement: :mod:`lmctheory.experiments.wmlp_swap_costs` (shared with figure 6).
"""

from __future__ import annotations

import numpy as np

from lmctheory.experiments import wmlp_swap_costs as _exp

ID = "C3"
TITLE = "Swap costs of trained W-MLPs vs σ_F and intrinsic dimension k"
PAPER = (
    "[NI] Q3/Fig. 5: W-MLPs on a Gaussian mixture — σ_F = 0: near-zero and negative swap costs dominate; "
    "σ_F = 1: many low-cost swaps at small k, only the diagonal cheap at large k; the unaligned midpoint "
    "train-accuracy drop shrinks as k grows."
)
CONDITION = (
    "σ_F = 1, layer 1 (exact U): fraction of off-diagonal swap costs below 0.1 × their median decreasing in k "
    "(first > last, Spearman ρ ≤ −0.5); midpoint test-accuracy drop decreasing in k (first > last, ρ ≤ −0.5)"
)


def config(quick: bool) -> dict:
    """The experiment's configuration (tests monkeypatch this to shrink the claim)."""
    return _exp.config(quick)


def collect(ctx) -> dict:
    """Run (or load) the experiment at :func:`config` (see :func:`lmctheory.experiments.wmlp_swap_costs.collect`)."""
    return _exp.collect(ctx, config(ctx.quick))


def evaluate(data: dict) -> tuple[bool | None, dict]:
    """The fixed pass condition (``None`` with fewer than 3 values of ``k`` or no σ_F = 1 models)."""
    from paper_checks.common import spearman

    cfg = data["config"]
    ks = cfg["ks"]
    if "1.0" not in data["grid"]:
        return None, {}
    g1 = data["grid"]["1.0"]
    f = [g1[str(k)]["layers"][0]["frac_cheap"] for k in ks]
    drop = [g1[str(k)]["drop_test_mean"] for k in ks]
    rho_f, rho_d = spearman(ks, f), spearman(ks, drop)
    # a NaN ρ with ≥ 3 points means a flat sequence: no decrease, a miss
    ok_a = bool(f[0] > f[-1] and np.isfinite(rho_f) and rho_f <= -0.5)
    ok_b = bool(drop[0] > drop[-1] and np.isfinite(rho_d) and rho_d <= -0.5)
    verdict = None if len(ks) < 3 else (ok_a and ok_b)
    return verdict, dict(frac_cheap_layer1=f, rho_frac=rho_f, cheap_ok=ok_a,
                               drop_test=drop, drop_train=[g1[str(k)]["drop_train_mean"] for k in ks],
                               rho_drop=rho_d, drop_ok=ok_b)


_SUMMARY_KEYS = ("layer", "basis_dim", "frac_cheap", "frac_negative", "median", "center_dominance",
                 "gram_rank_min", "frac_near_zero_on_sf1_scale")


def run(ctx):
    from paper_checks.common import ClaimResult

    data = collect(ctx)
    passed, ev = evaluate(data)
    ks = data["config"]["ks"]
    g = data["grid"]
    summary = {}
    for sf, rows in g.items():
        for k in ks:
            r = rows[str(k)]
            summary[f"sigma_f={sf},k={k}"] = dict(
                separation=r["separation"], qda_acc=r["qda_acc"], input_pca_dim=r["input_pca_dim"],
                endpoint_acc_train=r["endpoint_acc_train"], endpoint_acc_test=r["endpoint_acc_test"],
                drop_train=r["drop_train"], drop_test=r["drop_test"],
                layers=[{kk: L[kk] for kk in _SUMMARY_KEYS if kk in L} for L in r["layers"]],
            )
    parts = []
    for k, f, dr, drt in zip(ks, ev.get("frac_cheap_layer1", []), ev.get("drop_test", []), ev.get("drop_train", [])):
        r1, r0 = g["1.0"][str(k)], g["0.0"][str(k)] if "0.0" in g else None
        acc = np.mean(r1["endpoint_acc_test"]) * 100
        acct = np.mean(r1["endpoint_acc_train"]) * 100
        s = (f"k={k}: cheap {100 * f:.2f}%, test drop {dr:.1f} pp (endpoints {acc:.1f}%), "
             f"train drop {drt:.1f} pp (endpoints {acct:.1f}%)")
        if r0 is not None:
            s += f", σ_F=0 neg {100 * r0['layers'][0]['frac_negative']:.0f}%"
        parts.append(s)
    measured = "σ_F=1 layer 1: " + "; ".join(parts)
    if ev:
        measured += f"; ρ_cheap={ev['rho_frac']:.2f}, ρ_drop={ev['rho_drop']:.2f}"
    details = dict(evaluation=ev, summary=summary, config=data["config"], seconds=data["seconds"])
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured=measured, passed=passed, condition=CONDITION,
                       details=details)
