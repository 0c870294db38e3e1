"""The [LEWC] width sweep: bias-free ReLU MLP pairs merged without permutation, per width and weight decay (docs/theory.md §9).

The experiment behind ``paper_checks`` L1–L5 and figure 10. One job (:func:`width_pair_job`) trains a pair at
one width and weight decay, merges it and measures it; :func:`sweep` runs every job of a configuration
(:func:`sweep_config`: default sizes) through :func:`lmctheory.sweep.run_jobs` (cached per job) and
aggregates it per weight decay and width; :func:`summarize_ro` and :func:`summarize_lewc` reduce the table to
the reciprocal-orthogonality and LEWC views.

Setup (docs/experiments.md "[LEWC] setups", CPU default)
    Digits (8×8, 1347 train / 450 test, standardized). Bias-free ReLU MLP with 3 hidden layers of width
    ``32 · m``, He-normal init; SGD (momentum 0.9, coupled weight decay, lr 0.03, batch 32) with strong
    weight decay 3e-3 and the weak-decay ablation 1e-4. Merge on a ``λ`` grid; the calibration split is
    a fixed random 20% of the test set, barriers are measured on the other 80%.
    Full: ``m ∈ {1, 2, 4, 8, 16}`` (widths 32 … 512), 3 pairs per (width, decay), 60 epochs, 11 ``λ``.
    Quick: ``m ∈ {1, 4, 16}``, 1 pair, 60 epochs, 5 ``λ``.

Table (``sweep(...)["table"][wd]``, one entry per weight decay ``"0.003"``, ``"0.0001"``; lists over the
multipliers, means over pairs with ``*_std`` the spread):
    ``multiplier``, ``width``, ``endpoint_acc``, ``merged_acc``, ``midpoint_acc_drop``, ``barrier_lin``,
    ``barrier_lin_calibrated``, ``midpoint_loss_barrier(_calibrated)``, ``tau_mid`` (``τ`` of the midpoint),
    ``tau_end`` (mean ``τ`` of the endpoints), ``ensemble_logit_acc_mid``, ``ensemble_logit_loss_mid_calibrated``,
    the weight-matched reference ``aligned_midpoint_acc_drop``, ``aligned_barrier_lin(_calibrated)``,
    ``aligned_curve_acc``, ``aligned_curve_loss_calibrated``, per layer (lists over ``ℓ``): ``wa_cosine``
    (hidden layers), ``ro`` (both directions averaged, ``ℓ = 1…L``), ``lewc_cosine``, ``effective_rank``;
    curves ``lams``, ``curve_acc``, ``curve_loss``, ``curve_loss_calibrated``; the T-5.3 recursion counts
    ``recursion_violations``, ``recursion_entries``, ``recursion_max_ratio``.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["NAMESPACE", "VERSION", "STRONG", "WEAK", "load_dataset", "width_pair_job", "sweep_config", "sweep",
           "collect", "summarize_ro", "summarize_lewc"]

NAMESPACE = "experiments_lewc_width"
VERSION = 3
STRONG, WEAK = 3e-3, 1e-4


def load_dataset(cfg: dict):
    """The dataset of a sweep configuration: ``cfg["dataset"]`` is ``"digits"`` or ``"gaussian_mixture"``
    (with ``cfg["gm"]`` keyword arguments), drawn with ``cfg["data_seed"]``."""
    from ..nn import data

    name = cfg.get("dataset", "digits")
    if name == "digits":
        return data.digits(test_fraction=cfg.get("test_fraction", 0.25), seed=cfg.get("data_seed", 0))
    if name == "gaussian_mixture":
        gm = dict(cfg.get("gm", {}))
        return data.gaussian_mixture(seed=cfg.get("data_seed", 0), **gm)
    raise ValueError(f"dataset must be 'digits' or 'gaussian_mixture', got {name!r}")


def width_pair_job(cfg: dict) -> dict:
    """Train one pair at one width and weight decay, merge without permutation, measure (JSON result).

    ``cfg`` keys: ``dataset`` ("digits" | "gaussian_mixture", with ``gm`` kwargs), ``data_seed``,
    ``base_width``, ``multiplier``, ``n_hidden``, ``weight_decay`` (number), ``epochs``, ``lr``,
    ``batch_size``, ``optimizer``, ``pair`` (pair index; the two models use init/data-order seeds
    ``1000·seed + 2·pair`` and ``1000·seed + 2·pair + 1``), ``seed``, ``n_lams``, ``cal_fraction`` (calibration share of the test set, [LEWC]: 0.2),
    ``n_measure`` (test inputs for :func:`~lmctheory.nn.merging.layer_measurements`), ``recursion_lams`` (further ``λ`` at which
    the T-5.3 recursion is checked; optional).

    Returns endpoint/merged accuracies and losses, the interpolation curve before/after temperature
    calibration (:func:`lmctheory.nn.calibration.calibrated_barriers`, from model b at ``λ = 0`` to model a), the ensemble at λ = 1/2, and
    :func:`~lmctheory.nn.merging.layer_measurements` at λ = 1/2, the same barriers after weight matching (``aligned``), the T-5.3
    violation counts per ``λ``, the effective rank
    ``exp(H(s/Σs))`` of model a's weights (Roy & Vetterli 2007; [LEWC] ties LEWC to low-rank weights) and the
    job's wall time. Module-level, so :func:`lmctheory.sweep.run_jobs` can run it in worker processes and
    cache it.
    """
    import torch

    from ..nn.biasfree import make_width_mlp, to_weight_list, train_width_model
    from ..nn.calibration import calibrated_barriers, calibration_split
    from ..nn.merging import layer_measurements
    from ..nn.matching import permute_model, weight_match

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    ds = load_dataset(cfg)
    n_cls = int(ds.n_classes)
    seeds = [int(cfg["seed"]) * 1000 + 2 * int(cfg["pair"]) + e for e in (0, 1)]
    models = []
    hist = []
    for s in seeds:
        m = make_width_mlp(ds.in_dim, n_cls, cfg["base_width"], cfg["multiplier"], cfg["n_hidden"],
                           batchnorm=False, seed=s)
        h = train_width_model(m, ds.X_train, ds.y_train, weight_decay=float(cfg["weight_decay"]),
                              epochs=cfg["epochs"], lr=cfg["lr"], batch_size=cfg["batch_size"],
                              optimizer=cfg["optimizer"], seed=s)
        hist.append(h["loss"][-1])
        models.append(m)
    ma, mb = models
    X_cal, y_cal, X_ev, y_ev = calibration_split(ds.X_test, ds.y_test, fraction=cfg["cal_fraction"],
                                                 seed=int(cfg["seed"]))
    lams = np.linspace(0.0, 1.0, int(cfg["n_lams"]))
    # the curves run from model b (λ = 0) to model a (λ = 1): [LEWC]'s λ weights model a
    cb = calibrated_barriers(mb, ma, X_cal, y_cal, X_ev, y_ev, lams=lams)
    # reference: the same merge after weight matching (Git Re-Basin), the permutation [LEWC] does without
    mb_aligned = permute_model(mb, weight_match(ma, mb, seed=int(cfg["seed"])))
    cb_al = calibrated_barriers(mb_aligned, ma, X_cal, y_cal, X_ev, y_ev, lams=lams)
    nm = min(int(cfg["n_measure"]), ds.X_test.shape[0])
    meas = layer_measurements(ma, mb, ds.X_test[:nm], lam=0.5)

    def rec_summary(m):
        return dict(violations=m.violations, violations_one_step=m.violations_one_step, max_ratio=m.max_ratio,
                    max_ratio_one_step=m.max_ratio_one_step, entries=int(m.error_measured.size))

    recursion = {"0.5": rec_summary(meas)}
    for lam in cfg.get("recursion_lams", []):
        if float(lam) == 0.5:
            continue
        m2 = layer_measurements(ma, mb, ds.X_test[:nm], lam=float(lam))
        recursion[str(float(lam))] = rec_summary(m2)
    eff_rank = []
    for W in to_weight_list(ma):
        s = np.linalg.svd(W, compute_uv=False)
        p = s / s.sum()
        eff_rank.append(float(np.exp(-(p * np.log(np.where(p > 0, p, 1.0))).sum())))
    return dict(
        multiplier=cfg["multiplier"],
        width=int(ma.dims[1]),
        weight_decay=float(cfg["weight_decay"]),
        pair=int(cfg["pair"]),
        final_train_loss=hist,
        barriers=cb.to_dict(),
        aligned={k: v for k, v in cb_al.to_dict().items()
                 if k in ("lams", "acc", "loss", "loss_calibrated", "barrier_lin", "barrier_lin_calibrated",
                          "midpoint_acc_drop", "midpoint_loss_barrier_calibrated")},
        layers=meas.to_dict(),
        recursion=recursion,
        effective_rank=eff_rank,
        seconds=time.perf_counter() - t0,
    )


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
    from ..sweep import run_jobs

    t0 = time.perf_counter()
    jobs = _jobs(cfg, ctx.seed)
    res = run_jobs(width_pair_job, jobs, namespace=NAMESPACE, cache_root=ctx.cache_root, client=ctx.client,
                   kind="json", desc="LEWC width sweep", progress=ctx.progress,
                   max_workers=ctx.max_workers)
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


def collect(ctx, cfg: dict | None = None) -> dict:
    """:func:`sweep` at ``cfg`` (default :func:`sweep_config` for ``ctx.quick``): figure 10's data."""
    return sweep(ctx, sweep_config(ctx.quick) if cfg is None else cfg)


def summarize_ro(table: dict) -> dict:
    """Per weight decay: the layer-averaged reciprocal orthogonality (ℓ ≥ 2) per width, and per layer."""
    out = {}
    for wd, t in table.items():
        ro = np.asarray(t["ro"], float)  # (widths, L)
        out[wd] = dict(width=t["width"], multiplier=t["multiplier"], ro_mean=ro[:, 1:].mean(axis=1).tolist(),
                       ro_per_layer=t["ro"], ro_ab=t["ro_ab"], ro_ba=t["ro_ba"], ro_std=t["ro_std"],
                       effective_rank=t["effective_rank"])
    return out


def summarize_lewc(table: dict) -> dict:
    """Per weight decay: the LEWC cosine per width and layer, at the last hidden layer and at the logits."""
    out = {}
    for wd, t in table.items():
        lc = np.asarray(t["lewc_cosine"], float)  # (widths, L)
        L = lc.shape[1]
        out[wd] = dict(width=t["width"], multiplier=t["multiplier"], lewc_cosine=t["lewc_cosine"],
                       lewc_cosine_std=t["lewc_cosine_std"], last_hidden=lc[:, L - 2].tolist(),
                       logits=lc[:, L - 1].tolist(), merged_acc=t["merged_acc"], endpoint_acc=t["endpoint_acc"])
    return out
