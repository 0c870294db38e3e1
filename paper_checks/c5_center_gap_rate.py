"""C5 — the minimum projected center gap shrinks like ``n^{−2/k}`` ([NI] G.2, Fig. 11; docs/theory.md T-4.6).

Synthetic syre layers (:func:`lmctheory.synthetic.asymmetric_layer`, ``F = σ_F·N(0,1)``, ``σ_F = 1``)
of ``n`` neurons on ``d = 16`` inputs, support ``U`` a Haar-random ``d×k`` basis, so the projected
centers ``v_i = Uᵀf_i`` (:func:`lmctheory.projected_centers`) are i.i.d. ``N(0, I_k)``. For each
``k ∈ {2, 4, 8}`` and ``n`` on a geometric grid, ``δ_min`` (:func:`lmctheory.min_center_gap`) is
measured over independent repetitions; the slope of ``mean log δ_min`` against ``log n`` is fitted by
least squares (with its standard error from the repetition spread). Also reported: how often
``δ_min`` falls below the T-4.6 union-bound quantile ``t*(δ' = 0.1)`` (must be ≤ 10% up to noise).
"""

from __future__ import annotations

import math
import time

import numpy as np

from paper_checks.common import ClaimResult, Context, cached_collect, fmt, jsonable

ID = "C5"
TITLE = "Minimum projected center gap follows n^(−2/k)"
PAPER = "[NI] G.2 / Fig. 11: δ_min ∝ n^(−2/k) at fixed k (small k or huge n make close centers likely)."
CONDITION = "fitted log–log slope of δ_min vs n within ±15% of −2/k for each k ∈ {2, 4, 8}"
NAMESPACE = "paper_checks_c5"
VERSION = 1
REL_TOL = 0.15
DELTA_PRIME = 0.1


def config(quick: bool) -> dict:
    """Grid and repetitions (tests monkeypatch this)."""
    if quick:
        return dict(ks=[2, 4, 8], ns=[16, 32, 64, 128, 256, 512, 1024, 2048], reps=100, d=16, sigma_f=1.0,
                    version=VERSION)
    return dict(ks=[2, 4, 8], ns=[16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192], reps=300, d=16,
                sigma_f=1.0, version=VERSION)


def t_star(n: int, k: int, sigma_f: float, delta: float) -> float:
    """T-4.6 union-bound quantile for i.i.d. ``N(0, σ_F² I_k)`` centers: ``P(δ_min < t*) ≤ δ'``."""
    omega = math.pi ** (k / 2) / math.gamma(k / 2 + 1)
    rho = (2 * math.pi * sigma_f ** 2) ** (-k / 2)
    return (delta / (n * (n - 1) / 2 * rho * omega)) ** (1.0 / k)


def _measure(cfg: dict, seed: int) -> dict:
    from lmctheory.subspace import min_center_gap, projected_centers
    from lmctheory.synthetic import asymmetric_layer, random_basis

    out = {}
    for k in cfg["ks"]:
        gaps = np.empty((len(cfg["ns"]), cfg["reps"]))
        for a, n in enumerate(cfg["ns"]):
            for r in range(cfg["reps"]):
                s = int(np.random.default_rng([seed, k, n, r]).integers(2**31))
                F = asymmetric_layer(n, cfg["d"], "syre", sigma_f=cfg["sigma_f"], seed=s).fixed
                U = random_basis(cfg["d"], k, seed=s + 1)
                gaps[a, r] = min_center_gap(projected_centers(F, U))
        out[str(k)] = gaps
    return out


def fit_slope(ns, gaps) -> tuple[float, float]:
    """Least-squares slope of ``mean_r log δ_min`` vs ``log n`` and its standard error."""
    x = np.log(np.asarray(ns, float))
    L = np.log(np.asarray(gaps, float))
    y = L.mean(1)
    se_y = L.std(1, ddof=1) / np.sqrt(L.shape[1]) if L.shape[1] > 1 else np.zeros(len(y))
    xc = x - x.mean()
    slope = float(xc @ (y - y.mean()) / (xc @ xc))
    se = float(np.sqrt(np.sum((xc / (xc @ xc)) ** 2 * se_y ** 2)))
    return slope, se


def collect(ctx: Context) -> dict:
    """Per k: n grid, δ_min mean/median/quantiles over repetitions, fitted slope ± se, the
    predicted −2/k, and the T-4.6 quantile check."""
    cfg = config(ctx.quick)

    def compute():
        t0 = time.perf_counter()
        raw = _measure(cfg, ctx.seed)
        res = {"config": cfg, "ks": {}}
        for k in cfg["ks"]:
            g = raw[str(k)]
            slope, se = fit_slope(cfg["ns"], g)
            ts = np.array([t_star(n, k, cfg["sigma_f"], DELTA_PRIME) for n in cfg["ns"]])
            res["ks"][str(k)] = {
                "ns": cfg["ns"], "gap_mean": g.mean(1), "gap_median": np.median(g, 1),
                "gap_q10": np.quantile(g, 0.1, axis=1), "gap_q90": np.quantile(g, 0.9, axis=1),
                "log_gap_mean": np.log(g).mean(1), "slope": slope, "slope_se": se, "predicted": -2.0 / k,
                "t_star": ts, "frac_below_t_star": (g < ts[:, None]).mean(1),
            }
        res["seconds"] = time.perf_counter() - t0
        return jsonable(res)

    return cached_collect(NAMESPACE, cfg, ctx, compute)


def evaluate_condition(data: dict) -> tuple[bool | None, dict]:
    ev = {}
    ok = True
    for k, r in data["ks"].items():
        rel = abs(r["slope"] - r["predicted"]) / abs(r["predicted"])
        ev[k] = {"slope": r["slope"], "predicted": r["predicted"], "rel_error": rel, "within": bool(rel <= REL_TOL)}
        ok &= rel <= REL_TOL
    return bool(ok), ev


def run(ctx: Context) -> ClaimResult:
    data = collect(ctx)
    passed, ev = evaluate_condition(data)
    parts = [f"k={k}: slope {fmt(r['slope'], 3)}±{fmt(data['ks'][k]['slope_se'], 3)} vs {fmt(r['predicted'], 3)} "
             f"({100 * r['rel_error']:.1f}% off)" for k, r in ev.items()]
    below = max(max(r["frac_below_t_star"]) for r in data["ks"].values())
    measured = "; ".join(parts) + f"; max frac δ_min < t*(0.1) = {below:.2f}"
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured=measured, passed=passed, condition=CONDITION,
                       details={"evaluation": ev, "config": data["config"], "seconds": data["seconds"]})
