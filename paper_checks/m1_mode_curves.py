"""M1 — beyond the straight line: Bézier curves connect what the unaligned line does not ([MC] §2, THEORY.md §10).

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
:func:`lmctheory.nn.curves.curve_pair_job`; the architecture is a config field (``archs``: name → its
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

import time

import numpy as np

from paper_checks.common import ClaimResult, Context, fmt, jsonable, mean_std

ID = "M1"
TITLE = "Bézier curves connect independently trained minima; after alignment the line does too"
PAPER = ("[MC] §2 (Garipov et al. 2018; Draxler et al. 2018): minima are joined by low-loss Bézier curves "
         "without alignment; the straight line needs the right symmetry alignment.")
CONDITION = ("Per architecture, mean test-loss barrier B_lin over pairs: line unaligned ≥ 0.1 nats; "
             "Bézier unaligned ≤ 0.2 × line unaligned; "
             "(line − curve) aligned ≤ 0.25 × (line − curve) unaligned.")
NAMESPACE = "paper_checks_m1_curves"
VERSION = 1
LARGE = 0.1
NEAR_ZERO_FRAC = 0.2
CLOSE_FRAC = 0.25


def config(quick: bool) -> dict:
    """Experiment sizes (tests monkeypatch this to shrink the claim). ``archs``: architecture name →
    its own keys (a key of :data:`lmctheory.nn.curves.ARCHITECTURES`)."""
    base = dict(dataset="digits", data_seed=0, lr=1e-3, weight_decay=1e-2, batch_size=128,
                curve_kind="bezier", curve_lr=1e-3, version=VERSION)
    if quick:
        return {**base, "archs": {"mlp": {"hidden": 128, "n_layers": 4}}, "epochs": 20, "curve_epochs": 40,
                "pairs": 3, "n_ts": 11}
    return {**base, "archs": {"mlp": {"hidden": 256, "n_layers": 4}}, "epochs": 40, "curve_epochs": 80,
            "pairs": 4, "n_ts": 21}


def job_configs(cfg: dict, arch: str, seed: int) -> list[dict]:
    keys = ("dataset", "data_seed", "lr", "weight_decay", "batch_size", "curve_kind", "curve_lr", "epochs",
            "curve_epochs", "n_ts", "version")
    base = {k: cfg[k] for k in keys}
    return [{**base, **cfg["archs"][arch], "arch": arch, "pair": p, "seed": seed} for p in range(cfg["pairs"])]


def _path_stats(runs: list[dict], which: str, path: str) -> dict:
    res = [r[which][path] for r in runs]
    loss = np.array([c["loss"] for c in res])
    acc = np.array([c["acc"] for c in res])
    bl = [c["barrier_lin"] for c in res]
    drops = [c["midpoint_acc_drop"] for c in res]
    return {"ts": res[0]["lams"], "loss_mean": loss.mean(0), "loss_std": loss.std(0), "acc_mean": acc.mean(0),
            "acc_std": acc.std(0), "barrier_lin": bl, "barrier_lin_mean": mean_std(bl)[0],
            "barrier_lin_std": mean_std(bl)[1], "midpoint_acc_drop": drops,
            "midpoint_acc_drop_mean": mean_std(drops)[0]}


def collect(ctx: Context) -> dict:
    """Per architecture and alignment: line and Bézier test curves (mean ± std over pairs), barriers,
    the curve's training-set barrier, curve-ensemble gains, endpoint accuracies and timings."""
    from lmctheory.nn.curves import curve_pair_job
    from lmctheory.sweep import run_jobs

    cfg = config(ctx.quick)
    t0 = time.perf_counter()
    jobs, owner = [], []
    for arch in cfg["archs"]:
        for c in job_configs(cfg, arch, ctx.seed):
            jobs.append(c)
            owner.append(arch)
    res = run_jobs(curve_pair_job, jobs, namespace=NAMESPACE, cache_root=ctx.cache_root, client=ctx.client,
                   kind="json", desc="M1 curves", progress=ctx.progress, max_workers=ctx.max_workers)
    out = {"config": cfg, "archs": {}}
    for arch in cfg["archs"]:
        runs = [r for r, o in zip(res, owner) if o == arch]
        row = {"endpoint_test_acc": [a for r in runs for a in r["endpoint_test_acc"]],
               "job_seconds": [r["seconds"] for r in runs]}
        for which in ("unaligned", "aligned"):
            have = [r for r in runs if r.get(which) is not None]
            if not have:
                row[which] = None
                continue
            gains = [r[which]["ensemble"] for r in have]
            row[which] = {
                "line": _path_stats(have, which, "line"), "curve": _path_stats(have, which, "curve"),
                "curve_train_barrier_lin": [r[which]["curve_train"]["barrier_lin"] for r in have],
                "ensemble_acc_gain_pp": [g["acc_gain_pp"] for g in gains],
                "ensemble_nll_gain": [g["nll_gain"] for g in gains],
                "fit_seconds": [r[which]["seconds_fit"] for r in have],
            }
        out["archs"][arch] = row
    out["seconds"] = time.perf_counter() - t0
    return jsonable(out)


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
