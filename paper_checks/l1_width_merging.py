"""L1 — widening makes permutation-free merging work; temperature calibration removes the loss barrier ([LEWC]).

Claim ([LEWC] §4, Fig. 1–3; THEORY.md §9)
    Two bias-free ReLU MLPs trained from different seeds are merged without permutation,
    ``θ_λ = λθ_a + (1−λ)θ_b``. The merged model's accuracy rises monotonically with the width multiplier;
    the loss barrier of the raw merge stays large (the merged logits are an ensemble scaled by ``≈ 2^{−L}``),
    but after softmax temperature calibration (``τ`` fitted on 20% of the test set) it approaches 0.

Setup (EXPERIMENTS.md "[LEWC] setups", CPU default)
    Digits (8×8, 1347 train / 450 test, standardized). Bias-free ReLU MLP with 3 hidden layers of width
    ``32 · m``, He-normal init; SGD (momentum 0.9, coupled weight decay, lr 0.03, batch 32) with strong
    weight decay 3e-3 and the weak-decay ablation 1e-4. Merge at ``λ`` on a grid; the calibration split is
    a fixed random 20% of the test set, barriers are measured on the other 80%.
    Full: ``m ∈ {1, 2, 4, 8, 16}`` (widths 32 … 512), 3 pairs per (width, decay), 60 epochs, 11 ``λ``.
    Quick: ``m ∈ {1, 4, 16}``, 1 pair, 60 epochs, 5 ``λ``.

The sweep (one job = one pair at one width and decay, :func:`lmctheory.nn.width.width_pair_job`, run by
:func:`lmctheory.sweep.run_jobs` and cached per job) is shared by L1–L5: the other claims call
:func:`sweep` with the same configuration and reuse the cached models' measurements.

Data for figure 10 (``collect(ctx)["table"][wd]``, one entry per weight decay ``"0.003"``, ``"0.0001"``;
lists over the multipliers, means over pairs with ``*_std`` the spread):
    ``multiplier``, ``width``, ``endpoint_acc``, ``merged_acc``, ``midpoint_acc_drop``, ``barrier_lin``,
    ``barrier_lin_calibrated``, ``midpoint_loss_barrier(_calibrated)``, ``tau_mid`` (``τ`` of the midpoint),
    ``tau_end`` (mean ``τ`` of the endpoints), ``ensemble_logit_acc_mid``, ``ensemble_logit_loss_mid_calibrated``,
    the weight-matched reference (not part of the condition) ``aligned_midpoint_acc_drop``,
    ``aligned_barrier_lin(_calibrated)``, ``aligned_curve_acc``, ``aligned_curve_loss_calibrated``,
    per layer (lists over ``ℓ``): ``wa_cosine`` (hidden layers), ``ro`` (both directions averaged, ``ℓ = 1…L``),
    ``lewc_cosine``, ``effective_rank``; curves ``lams``, ``curve_acc``, ``curve_loss``, ``curve_loss_calibrated``.

Pass condition (fixed up front from EXPERIMENTS.md L1), strong weight decay 3e-3, means over pairs:
    (i)  the midpoint accuracy gap to the endpoints shrinks with width: Spearman ``ρ(width, gap) ≤ −0.8``
         (3 quick points: strictly decreasing; 5 points: at most one adjacent inversion) and
         gap(widest) < gap(narrowest);
    (ii) calibrated loss barrier (``B_lin`` over the ``λ`` grid) at the widest ``< 0.25 ×`` at the narrowest.
"""

from __future__ import annotations

import time

import numpy as np

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

NAMESPACE = "paper_checks_lewc_width"
VERSION = 3
STRONG, WEAK = 3e-3, 1e-4
RHO_MAX = -0.8
CAL_RATIO = 0.25


def sweep_config(quick: bool) -> dict:
    """The shared sweep configuration of L1–L5 (JSON-able; its entries key the cache)."""
    base = dict(
        version=VERSION,
        dataset="digits",
        test_fraction=0.25,
        data_seed=0,
        base_width=32,
        n_hidden=3,
        weight_decays=[STRONG, WEAK],
        optimizer="sgd",
        lr=0.03,
        batch_size=32,
        epochs=60,
        cal_fraction=0.2,
        n_measure=450,
        recursion_lams=[0.25, 0.5, 0.75],
    )
    if quick:
        base.update(multipliers=[1, 4, 16], n_pairs=1, n_lams=5)
    else:
        base.update(multipliers=[1, 2, 4, 8, 16], n_pairs=3, n_lams=11)
    return base


def config(quick: bool) -> dict:
    return sweep_config(quick)


def _jobs(cfg: dict, seed: int) -> list[dict]:
    fixed = {k: v for k, v in cfg.items() if k not in ("multipliers", "weight_decays", "n_pairs")}
    return [
        {**fixed, "multiplier": m, "weight_decay": float(wd), "pair": p, "seed": int(seed)}
        for wd in cfg["weight_decays"] for m in cfg["multipliers"] for p in range(int(cfg["n_pairs"]))
    ]


def _ms(values) -> tuple[float, float]:
    v = np.asarray(values, float)
    return float(np.mean(v)), float(np.std(v))


def _stack_mean(rows, key_fn):
    arr = np.asarray([key_fn(r) for r in rows], float)
    return arr.mean(axis=0).tolist(), arr.std(axis=0).tolist()


def sweep(ctx, cfg: dict) -> dict:
    """Run (or load) the shared width sweep and aggregate it per weight decay and multiplier.

    Returns ``{"config", "seconds", "table": {str(wd): {...}}, "raw": [job results]}`` (see the module
    docstring for the table's fields).
    """
    from lmctheory.nn.width import width_pair_job
    from lmctheory.sweep import run_jobs

    t0 = time.perf_counter()
    jobs = _jobs(cfg, ctx.seed)
    res = run_jobs(width_pair_job, jobs, namespace=NAMESPACE, cache_root=ctx.cache_root, client=ctx.client,
                   kind="json", desc="LEWC width sweep", progress=ctx.progress)
    table = {}
    for wd in cfg["weight_decays"]:
        t = {k: [] for k in (
            "multiplier", "width", "n_pairs", "endpoint_acc", "endpoint_acc_std", "merged_acc", "merged_acc_std",
            "midpoint_acc_drop", "midpoint_acc_drop_std", "barrier_lin", "barrier_lin_std",
            "barrier_lin_calibrated", "barrier_lin_calibrated_std", "midpoint_loss_barrier",
            "midpoint_loss_barrier_calibrated", "endpoint_loss", "endpoint_loss_calibrated", "tau_mid", "tau_end",
            "ensemble_logit_acc_mid", "ensemble_prob_acc_mid", "ensemble_logit_loss_mid_calibrated",
            "wa_cosine", "wa_cosine_std", "ro", "ro_std", "ro_ab", "ro_ba", "lewc_cosine", "lewc_cosine_std",
            "effective_rank", "recursion_violations", "recursion_entries", "recursion_max_ratio",
            "lams", "curve_acc", "curve_loss", "curve_loss_calibrated", "final_train_loss",
            "aligned_midpoint_acc_drop", "aligned_barrier_lin", "aligned_barrier_lin_calibrated",
            "aligned_curve_acc", "aligned_curve_loss_calibrated")}
        for m in cfg["multipliers"]:
            rows = [r for r, j in zip(res, jobs) if j["multiplier"] == m and j["weight_decay"] == float(wd)]
            b = [r["barriers"] for r in rows]
            lay = [r["layers"] for r in rows]
            mid = [int(np.argmin(np.abs(np.asarray(x["lams"]) - 0.5))) for x in b]
            t["multiplier"].append(m)
            t["width"].append(rows[0]["width"])
            t["n_pairs"].append(len(rows))
            for name, vals in (
                ("endpoint_acc", [0.5 * (x["acc"][0] + x["acc"][-1]) for x in b]),
                ("merged_acc", [x["acc"][i] for x, i in zip(b, mid)]),
                ("midpoint_acc_drop", [x["midpoint_acc_drop"] for x in b]),
                ("barrier_lin", [x["barrier_lin"] for x in b]),
                ("barrier_lin_calibrated", [x["barrier_lin_calibrated"] for x in b]),
            ):
                mu, sd = _ms(vals)
                t[name].append(mu)
                t[name + "_std"].append(sd)
            t["midpoint_loss_barrier"].append(_ms([x["midpoint_loss_barrier"] for x in b])[0])
            t["midpoint_loss_barrier_calibrated"].append(_ms([x["midpoint_loss_barrier_calibrated"] for x in b])[0])
            t["endpoint_loss"].append(_ms([0.5 * (x["loss"][0] + x["loss"][-1]) for x in b])[0])
            t["endpoint_loss_calibrated"].append(
                _ms([0.5 * (x["loss_calibrated"][0] + x["loss_calibrated"][-1]) for x in b])[0])
            t["tau_mid"].append(_ms([x["taus"][i] for x, i in zip(b, mid)])[0])
            t["tau_end"].append(_ms([0.5 * (x["taus"][0] + x["taus"][-1]) for x in b])[0])
            t["ensemble_logit_acc_mid"].append(_ms([x["ensemble_logit_acc"][i] for x, i in zip(b, mid)])[0])
            t["ensemble_prob_acc_mid"].append(_ms([x["ensemble_prob_acc"][i] for x, i in zip(b, mid)])[0])
            t["ensemble_logit_loss_mid_calibrated"].append(
                _ms([x["ensemble_logit_loss_calibrated"][i] for x, i in zip(b, mid)])[0])
            for name, fn in (("wa_cosine", lambda x: x["wa_cosine"]),
                             ("ro", lambda x: 0.5 * (np.asarray(x["ro_ab"]) + np.asarray(x["ro_ba"]))),
                             ("lewc_cosine", lambda x: x["lewc_cosine"])):
                mu, sd = _stack_mean(lay, fn)
                t[name].append(mu)
                t[name + "_std"].append(sd)
            t["ro_ab"].append(_stack_mean(lay, lambda x: x["ro_ab"])[0])
            t["ro_ba"].append(_stack_mean(lay, lambda x: x["ro_ba"])[0])
            t["effective_rank"].append(_stack_mean(rows, lambda r: r["effective_rank"])[0])
            t["recursion_violations"].append(int(sum(v["violations"] for r in rows for v in r["recursion"].values())))
            t["recursion_entries"].append(int(sum(v["entries"] for r in rows for v in r["recursion"].values())))
            t["recursion_max_ratio"].append(float(max(v["max_ratio"] for r in rows for v in r["recursion"].values())))
            t["lams"].append(b[0]["lams"])
            t["curve_acc"].append(_stack_mean(b, lambda x: x["acc"])[0])
            t["curve_loss"].append(_stack_mean(b, lambda x: x["loss"])[0])
            t["curve_loss_calibrated"].append(_stack_mean(b, lambda x: x["loss_calibrated"])[0])
            al = [r["aligned"] for r in rows]
            t["aligned_midpoint_acc_drop"].append(_ms([x["midpoint_acc_drop"] for x in al])[0])
            t["aligned_barrier_lin"].append(_ms([x["barrier_lin"] for x in al])[0])
            t["aligned_barrier_lin_calibrated"].append(_ms([x["barrier_lin_calibrated"] for x in al])[0])
            t["aligned_curve_acc"].append(_stack_mean(al, lambda x: x["acc"])[0])
            t["aligned_curve_loss_calibrated"].append(_stack_mean(al, lambda x: x["loss_calibrated"])[0])
            t["final_train_loss"].append(float(np.mean([v for r in rows for v in r["final_train_loss"]])))
        table[str(float(wd))] = t
    job_seconds = float(sum(r.get("seconds", 0.0) for r in res))
    return {"config": cfg, "seconds": time.perf_counter() - t0, "job_seconds": job_seconds, "table": table,
            "raw": res}


def collect(ctx) -> dict:
    """The shared sweep (figure 10 data) for this claim's configuration."""
    return sweep(ctx, config(ctx.quick))


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
