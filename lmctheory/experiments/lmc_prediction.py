"""Predicting linear mode connectivity before training: the sweep behind paper_checks P1 and figure 12
(:func:`lmctheory.nn.predict_lmc`).

Target (fixed before running): the **unaligned midpoint test loss barrier**
``L(½) − (L(0) + L(1))/2`` (cross-entropy, nats) of two independently initialized and trained
models of one architecture (same masks/centers, i.e. same ``mask_seed``), averaged over the pairs
of a configuration. The midpoint accuracy drop is recorded too but not used.

Setup: 3-layer MLPs (two hidden layers, LayerNorm, GELU), AdamW lr 1e-3, wd 1e-2, batch 128,
``EPOCHS`` epochs, ``PAIRS`` pairs per configuration. Data: scikit-learn digits, the Gaussian subspace
mixture (``gmm-k<k>-d<d>-s<sep>``, 5 classes) and the coherence teacher–student inputs
(``ts-c<c>-m<m>``, ``ν = 1/m``) with the teacher output ``relu(z₁+z₂)`` turned into 3 classes
(zero / below / above the median of the positive outputs), so one target works for every data set.

Two disjoint sets of configurations (see :func:`fit_configs`, :func:`heldout_configs`): the *fit* set
calibrates the predictor's constants; the *held-out* set differs in σ_F values, fixed fractions, mask
family (Bernoulli ``sparse`` masks appear only there), widths, input coherence and data sets, and is
never used for fitting. Pass condition (stated before running): Spearman(score, measured barrier) on
the held-out set ≥ 0.9 and above the naive proxies (mean |F| of the first layer, σ_F).
"""

from __future__ import annotations

import re
import time

import numpy as np

from ._common import Context, jsonable, spearman

NAMESPACE = "experiments_lmc_prediction"
VERSION = 1


def config(quick: bool) -> dict:
    """Training sizes (tests monkeypatch this to shrink the claim). Quick and full share the sweep."""
    return dict(n_layers=3, lr=1e-3, weight_decay=1e-2, batch_size=128, epochs=20, pairs=2, data_seed=0,
                version=VERSION, fit=fit_configs(), heldout=heldout_configs())


def _arch(kind, hidden, sigma_f=0.0, fixed_fraction=0.08, keep_prob=1.0):
    return dict(kind=kind, hidden=hidden, sigma_f=float(sigma_f), fixed_fraction=float(fixed_fraction),
                keep_prob=float(keep_prob))


def fit_configs() -> list[dict]:
    """Fit set: widths {64, 256}; σ_F ∈ {0, 0.1, 0.5, 2}; fixed fraction {0.08, 0.3}; fixed-count masks only;
    data digits, gmm-k8-d64-s1.0, teacher–student m ∈ {1, 10}."""
    archs = [_arch("standard", 64), _arch("standard", 256),
             _arch("wmlp", 64, 0.0, 0.3), _arch("wmlp", 256, 0.5, 0.08), _arch("wmlp", 64, 2.0, 0.08),
             _arch("syre", 256, 0.5), _arch("syre", 64, 0.1)]
    return [{**a, "dataset": ds} for ds in ("digits", "gmm-k8-d64-s1.0", "ts-c10-m1", "ts-c10-m10") for a in archs]


def heldout_configs() -> list[dict]:
    """Held-out set: widths {32, 128, 512}; σ_F ∈ {0, 0.25, 1}; fixed fraction {0.15, 0.5}; Bernoulli masks
    (keep 0.2, 0.5) in addition; data gmm-k4-d32-s1.5, gmm-k16-d64-s1.0, teacher–student m ∈ {2, 5}."""
    archs = [_arch("standard", 32), _arch("standard", 128), _arch("standard", 512),
             _arch("sparse", 128, keep_prob=0.5), _arch("sparse", 128, keep_prob=0.2),
             _arch("wmlp", 128, 0.0, 0.15), _arch("wmlp", 32, 1.0, 0.15), _arch("wmlp", 128, 0.25, 0.5),
             _arch("syre", 128, 0.25), _arch("syre", 512, 1.0)]
    return [{**a, "dataset": ds} for ds in ("gmm-k4-d32-s1.5", "gmm-k16-d64-s1.0", "ts-c10-m2", "ts-c10-m5")
            for a in archs]


def load_dataset(name: str, seed: int):
    """``digits``, ``gmm-k<k>-d<d>-s<sep>`` (5 classes) or ``ts-c<c>-m<m>`` (teacher–student inputs,
    3 classes from the teacher output)."""
    import torch

    from lmctheory.nn import data

    if name == "digits":
        return data.digits(seed=seed)
    m = re.fullmatch(r"gmm-k(\d+)-d(\d+)-s([0-9.]+)", name)
    if m:
        return data.gaussian_mixture(k=int(m.group(1)), d=int(m.group(2)), separation=float(m.group(3)), seed=seed)
    m = re.fullmatch(r"ts-c(\d+)-m(\d+)", name)
    if m:
        ds = data.teacher_student(c=int(m.group(1)), m=int(m.group(2)), seed=seed)
        t_all = np.concatenate([ds.y_train.numpy(), ds.y_test.numpy()])
        cut = float(np.median(t_all[t_all > 0]))

        def classes(t):
            t = t.numpy()
            return torch.as_tensor(np.where(t <= 0, 0, np.where(t < cut, 1, 2)), dtype=torch.int64)

        return data.Dataset(ds.X_train, classes(ds.y_train), ds.X_test, classes(ds.y_test), basis=ds.basis,
                            n_classes=3, info={**ds.info, "classes": "zero/below/above median"})
    raise ValueError(f"unknown dataset {name!r}")


def build_model(cfg: dict, n_in: int, n_out: int, seed: int):
    """The untrained model of a configuration (``seed`` draws the trainable part; masks from ``mask_seed``)."""
    from lmctheory.nn import make_mlp

    return make_mlp(n_in, cfg["hidden"], n_out, n_layers=cfg["n_layers"], kind=cfg["kind"], sigma_f=cfg["sigma_f"],
                    fixed_fraction=cfg["fixed_fraction"], keep_prob=cfg["keep_prob"], mask_seed=cfg["mask_seed"],
                    seed=seed)


def _pair_impl(cfg: dict) -> dict:
    from lmctheory.nn import evaluate, interpolate, train

    t0 = time.perf_counter()
    ds = load_dataset(cfg["dataset"], cfg["data_seed"])
    models, ends = [], []
    base = 1000 * cfg["seed"] + 2 * cfg["pair"]
    for s in (base + 1, base + 2):
        m = build_model(cfg, ds.in_dim, ds.n_classes, s)
        train(m, ds.X_train, ds.y_train, epochs=cfg["epochs"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
              batch_size=cfg["batch_size"], seed=s)
        models.append(m)
        ends.append(evaluate(m, ds.X_test, ds.y_test))
    r = interpolate(models[0], models[1], ds.X_test, ds.y_test, lams=np.linspace(0.0, 1.0, 5))
    return jsonable({"midpoint_loss_barrier": r.midpoint_loss_barrier, "midpoint_acc_drop": r.midpoint_acc_drop,
                     "barrier_lin": r.barrier_lin, "endpoint_test_loss": [e[0] for e in ends],
                     "endpoint_test_acc": [e[1] for e in ends], "seconds": time.perf_counter() - t0})


def train_pair(cfg: dict) -> dict:
    """Sweep job: train one pair of a configuration, return its unaligned interpolation barriers."""
    from ._common import run_single_threaded

    return run_single_threaded(_pair_impl, cfg)


def _job(cfg: dict, arch: dict, pair: int, seed: int) -> dict:
    keys = ("n_layers", "lr", "weight_decay", "batch_size", "epochs", "data_seed", "version")
    return {**{k: cfg[k] for k in keys}, **arch, "mask_seed": seed + 7, "pair": pair, "seed": seed}


def measure(ctx: Context, cfg: dict | None = None) -> dict:
    """Train (or load from the cache) every pair; return per-configuration measured barriers."""
    from lmctheory.sweep import run_jobs

    cfg = config(ctx.quick) if cfg is None else cfg
    archs = [("fit", a) for a in cfg["fit"]] + [("heldout", a) for a in cfg["heldout"]]
    jobs, owner = [], []
    for i, (_, a) in enumerate(archs):
        for p in range(cfg["pairs"]):
            jobs.append(_job(cfg, a, p, ctx.seed))
            owner.append(i)
    res = run_jobs(train_pair, jobs, namespace=NAMESPACE, cache_root=ctx.cache_root, client=ctx.client,
                   kind="json", desc="P1 pairs", progress=ctx.progress, max_workers=ctx.max_workers)
    rows = []
    for i, (split, a) in enumerate(archs):
        runs = [r for r, o in zip(res, owner) if o == i]
        b = [r["midpoint_loss_barrier"] for r in runs]
        rows.append({"split": split, **a, "barrier": float(np.mean(b)), "barrier_pairs": b,
                     "acc_drop": float(np.mean([r["midpoint_acc_drop"] for r in runs])),
                     "endpoint_test_acc": float(np.mean([x for r in runs for x in r["endpoint_test_acc"]])),
                     "train_seconds": float(sum(r["seconds"] for r in runs))})
    return {"config": {k: v for k, v in cfg.items() if k not in ("fit", "heldout")}, "rows": rows}


def init_statistics(row: dict, cfg: dict, seed: int, max_samples: int = 2048) -> list[dict]:
    """Per-hidden-layer :func:`lmctheory.nn.predict.layer_statistics` of the configuration's untrained
    model A of pair 0 (exactly the model whose training starts the sweep), on the training inputs."""
    import torch

    from lmctheory.nn import predict as P
    from lmctheory.nn.estimate import layer_arrays, record_layer_inputs

    torch.set_num_threads(1)
    ds = load_dataset(row["dataset"], cfg["data_seed"])
    job = _job(cfg, {k: row[k] for k in ("kind", "hidden", "sigma_f", "fixed_fraction", "keep_prob", "dataset")},
               0, seed)
    model = build_model(job, ds.in_dim, ds.n_classes, 1000 * seed + 1)
    X = ds.X_train[:max_samples]
    inputs = record_layer_inputs(model, X)
    mods = dict(model.named_modules())
    out = []
    for nm in list(inputs)[:-1]:
        E, F, D = layer_arrays(mods[nm])
        out.append(P.layer_statistics(E, F, D, inputs[nm]))
    return out


def naive_proxies(row: dict, cfg: dict, seed: int) -> dict:
    """Mean |F| of the first layer and σ_F (the proxies the predictor must beat)."""
    from lmctheory.nn.estimate import layer_arrays

    ds = load_dataset(row["dataset"], cfg["data_seed"])
    job = _job(cfg, {k: row[k] for k in ("kind", "hidden", "sigma_f", "fixed_fraction", "keep_prob", "dataset")},
               0, seed)
    model = build_model(job, ds.in_dim, ds.n_classes, 1000 * seed + 1)
    from lmctheory.nn import linear_layers

    _, F, _ = layer_arrays(linear_layers(model)[0])
    sf = row["sigma_f"] if row["kind"] in ("wmlp", "syre") else 0.0
    return {"mean_abs_F": float(np.mean(np.abs(F))), "sigma_f": float(sf)}


KAPPA_GRID = (0.0, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
BAND_QUANTILES = (0.1, 0.9)


def score_from_stats(stats: list[dict], kappa: float) -> float:
    """:func:`lmctheory.nn.predict_lmc`'s score from precomputed layer statistics."""
    from lmctheory.nn.predict import combine

    return float(sum(combine(s, kappa)["chord"] / np.sqrt(s["n"]) for s in stats))


def fit_calibration(scores_by_kappa: dict, barriers, floor: float) -> dict:
    """Fit on the fit set only: ``kappa`` maximizing Spearman(score, barrier) over :data:`KAPPA_GRID`
    (first on ties), then ``scale`` by least squares of ``log(B + floor)`` on ``log(scale·score + floor)``,
    then the band as the 10%/90% quantiles of the log residuals."""
    from scipy.optimize import minimize_scalar

    B = np.maximum(np.asarray(barriers, float), -floor / 2)
    rhos = {k: spearman(v, B) for k, v in scores_by_kappa.items()}
    kappa = max(rhos, key=lambda k: (np.nan_to_num(rhos[k], nan=-2), -k))
    s = np.asarray(scores_by_kappa[kappa], float)
    y = np.log(B + floor)

    def loss(log_scale):
        return float(np.sum((y - np.log(np.exp(log_scale) * s + floor)) ** 2))

    res = minimize_scalar(loss, bounds=(-10.0, 10.0), method="bounded")
    scale = float(np.exp(res.x))
    resid = y - np.log(scale * s + floor)
    lo, hi = np.quantile(resid, BAND_QUANTILES)
    return {"kappa": float(kappa), "scale": scale, "band_lo": float(lo), "band_hi": float(hi), "floor": floor,
            "fit_spearman_by_kappa": {str(k): float(v) for k, v in rhos.items()}}


def _time_width512(seed: int) -> float:
    """Wall time of one :func:`predict_lmc` call on an untrained width-512 W-MLP (digits inputs)."""
    from lmctheory.nn import make_mlp, predict_lmc

    ds = load_dataset("digits", 0)
    m = make_mlp(ds.in_dim, 512, 10, n_layers=3, kind="wmlp", sigma_f=0.5, seed=seed + 1)
    predict_lmc(m, ds.X_train[:64], max_rank=4)  # warm-up (imports, BLAS)
    t0 = time.perf_counter()
    predict_lmc(m, ds.X_train)
    return time.perf_counter() - t0


def collect(ctx: Context, cfg: dict | None = None) -> dict:
    """Measured barriers (cached sweep), init-time statistics, fitted calibration and held-out evaluation."""
    from lmctheory.nn.predict import CALIBRATION

    t0 = time.perf_counter()
    cfg = config(ctx.quick) if cfg is None else cfg
    meas = measure(ctx, cfg)
    rows = meas["rows"]
    stats = []
    it = rows
    if ctx.progress:
        from tqdm.auto import tqdm

        it = tqdm(rows, desc="P1 init statistics")
    for r in it:
        stats.append(init_statistics(r, cfg, ctx.seed))
    proxies = [naive_proxies(r, cfg, ctx.seed) for r in rows]
    fit = np.array([r["split"] == "fit" for r in rows])
    B = np.array([r["barrier"] for r in rows])
    by_kappa = {k: np.array([score_from_stats(st, k) for st in stats]) for k in KAPPA_GRID}
    cal = fit_calibration({k: v[fit] for k, v in by_kappa.items()}, B[fit], CALIBRATION["floor"])
    score = by_kappa[cal["kappa"]]
    pred = cal["scale"] * score
    fl = cal["floor"]
    lo = (pred + fl) * np.exp(cal["band_lo"]) - fl
    hi = (pred + fl) * np.exp(cal["band_hi"]) - fl
    out_rows = []
    for r, st, px, sc, p_, l_, h_ in zip(rows, stats, proxies, score, pred, lo, hi):
        from lmctheory.nn.predict import combine

        layers = [{"k": s["k"], "coherence": s["coherence"], "gram_deviation": s["gram_deviation"],
                   "center_energy_ratio": s["center_energy_ratio"], **{
                       key: val for key, val in combine(s, cal["kappa"]).items() if key != "tau2"}}
                  for s in st]
        out_rows.append({**r, "score": float(sc), "predicted": float(p_), "band": [float(l_), float(h_)],
                         "covered": bool(l_ <= r["barrier"] <= h_), **px, "layers": layers})
    ev = {}
    for split, mask in (("fit", fit), ("heldout", ~fit)):
        ev[split] = {
            "n": int(mask.sum()),
            "spearman_score": spearman(score[mask], B[mask]),
            "spearman_mean_abs_F": spearman(-np.array([p["mean_abs_F"] for p in proxies])[mask], B[mask]),
            "spearman_sigma_f": spearman(-np.array([p["sigma_f"] for p in proxies])[mask], B[mask]),
            "coverage": float(np.mean([o["covered"] for o, m in zip(out_rows, mask) if m])),
        }
    # within-group ordering the proxies cannot do: standard nets and mask-only nets (F = 0)
    groups = {}
    for split, mask in (("fit", fit), ("heldout", ~fit)):
        sel = [i for i, o in enumerate(out_rows) if mask[i] and o["mean_abs_F"] == 0]
        std = [i for i, o in enumerate(out_rows) if mask[i] and o["kind"] == "standard"]
        per_ds = {}
        for name in sorted({o["dataset"] for i, o in enumerate(out_rows) if mask[i]}):
            idx = [i for i, o in enumerate(out_rows) if mask[i] and o["dataset"] == name]
            per_ds[name] = {"n": len(idx), "spearman_score": spearman(score[idx], B[idx]),
                            "spearman_mean_abs_F": spearman(-np.array([proxies[i]["mean_abs_F"] for i in idx]),
                                                            B[idx])}
        groups[split] = {"n_F_zero": len(sel), "spearman_score_F_zero": spearman(score[sel], B[sel]),
                         "n_standard": len(std), "spearman_score_standard": spearman(score[std], B[std]),
                         "per_dataset": per_ds}
    return jsonable({"config": meas["config"], "rows": out_rows, "calibration": cal, "evaluation": ev,
                     "groups": groups, "predict_seconds_width512": _time_width512(ctx.seed),
                     "seconds": time.perf_counter() - t0})
