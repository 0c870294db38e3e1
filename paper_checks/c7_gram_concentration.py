"""C7 — Thm. 4.4 (Gram concentration) on the masks and supports of trained networks ([NI] Thm. 4.4; docs/theory.md T-4.4).

For every neuron ``i`` of a masked layer, ``‖S_i − μI_k‖₂`` (:func:`lmctheory.gram.gram_deviation_norms`,
``S_i = Uᵀdiag(d_i)²U``) is compared with the explicit Bernstein bound at ``δ = 0.01/n`` (all ``n``
neurons of the layer at once, failure probability ≤ 1%):

- i.i.d. Bernoulli(``p``) masks (``sparse``): ``μ = p``, ``σ_d² = p(1−p)``, ``b = max(p, 1−p)``
  (:func:`lmctheory.bounds.gram_concentration_bound`);
- fixed-count masks (W-asymmetric, ``m`` fixed entries per row): ``μ = 1 − m/d``
  (:func:`lmctheory.bounds.fixed_count_gram_bound`).

Supports ``U``: (a) the teacher–student embeddings of [NI] F.5 (``d = 20``, ``k = 2``, coherence
``ν = 1/m`` for ``m ∈ {1, 2, 5, 10}``, copy and random-frame) — the first-layer support of those
students is the data's, so it is exact and training does not change it; (b) the PCA bases (90%) of
the recorded layer inputs of trained 4-layer MLPs (sparse and W-MLP σ_F ∈ {0, 1}) on digits and on
the Gaussian mixture. Each layer's mask is independent of its input support (which depends only on
the data and earlier layers), as the theorem requires. PCA coherence is biased upward by sampling
noise when ``N`` is not ≫ ``d`` (docs/theory.md §12). (c) Wide incoherent Gaussian-mixture supports
(Haar-random ``U``, ``d ∈ {1024, 4096}``): for 0/1 masks ``0 ⪯ S_i ⪯ I``, so ``‖S_i − μI‖ ≤ max(μ, 1−μ)``
holds trivially, and the Bernstein bound only says more than that when ``ν·log(2kn/0.01)`` is
small — at the widths of (a) and (b) it does not; (c) is where it does. The count of such
non-trivial records is reported.
"""

from __future__ import annotations

import time

import numpy as np

from paper_checks.common import ClaimResult, Context, fmt, jsonable, spearman

ID = "C7"
TITLE = "Gram matrices of masked neurons concentrate as Thm. 4.4 bounds (coherence-dependent)"
PAPER = ("[NI] Thm. 4.4: ‖S_i − μI‖ ≤ O(√(ν log(k/δ)) + ν log(k/δ)); low coherence ν forces S_i ≈ μI (masks alone "
         "cannot break symmetries), high coherence allows anisotropic S_i.")
CONDITION = ("no neuron with ‖S_i − μI‖ above the bound at δ = 0.01/n, over all layers and supports; and for each mask "
             "family Spearman ρ(ν, mean ‖S_i − μI‖) > 0 across supports")
NAMESPACE = "paper_checks_c7"
VERSION = 2
DELTA = 0.01


def config(quick: bool) -> dict:
    """Sizes (tests monkeypatch this)."""
    base = dict(ts_c=10, ts_ms=[1, 2, 5, 10], ts_embeddings=["copy", "frame"], ts_width=128, ts_keep_prob=0.5,
                ts_fixed=2, wide=[[1024, 8], [4096, 4]], wide_width=64, datasets=["digits", "gmm-k8-d64-s1.0"], n_layers=4, keep_prob=0.5, fixed_fraction=0.08,
                lr=1e-3, weight_decay=1e-2, batch_size=128, explained_variance=0.9, version=VERSION)
    if quick:
        return {**base, "hidden": 64, "epochs": 10}
    return {**base, "hidden": 128, "epochs": 40}


def _bound(family: str, D: np.ndarray, k: int, nu: float, delta: float, keep_prob: float | None):
    """(μ, bound) for one layer's mask family (docs/theory.md T-4.4)."""
    from lmctheory import bounds

    n, d = D.shape
    nu = min(nu, 1.0)  # a PCA basis can exceed 1 by rounding
    if family == "iid":
        p = keep_prob
        return p, float(bounds.gram_concentration_bound(nu, k, delta, var=p * (1 - p), dev=max(p, 1 - p)))
    m = int(round(d - D[0].sum()))
    return 1.0 - m / d, float(bounds.fixed_count_gram_bound(nu, k, delta, m=m, d=d))


def _layer_record(family, D, U, keep_prob, label):
    from lmctheory.gram import gram_deviation_norms
    from lmctheory.subspace import subspace_coherence

    n = D.shape[0]
    k = U.shape[1]
    nu = float(subspace_coherence(U))
    delta = DELTA / n
    mu, bnd = _bound(family, D, k, nu, delta, keep_prob)
    dev = np.asarray(gram_deviation_norms(D, U, mu))
    return {"label": label, "family": family, "n": n, "d": int(D.shape[1]), "k": k, "coherence": nu, "mu": mu,
            "delta": delta, "bound": bnd, "dev_mean": float(dev.mean()), "dev_max": float(dev.max()),
            "violations": int((dev > bnd).sum()), "max_over_bound": float(dev.max() / bnd),
            # for 0/1 masks 0 ⪯ S_i ⪯ I, so ‖S_i − μI‖ ≤ max(μ, 1 − μ) always: the bound says more only below that
            "trivial_bound": max(mu, 1.0 - mu), "nontrivial": bool(bnd < max(mu, 1.0 - mu))}


def support_job(cfg: dict) -> dict:
    """Records for one source of supports: a teacher–student embedding or a trained MLP."""
    import torch

    from lmctheory.nn import AsymmetricLinear, make_mlp, train
    from lmctheory.nn.data import teacher_student_basis
    from lmctheory.nn.estimate import record_layer_inputs

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    recs = []
    if cfg["source"] == "ts":
        U = teacher_student_basis(cfg["ts_c"], cfg["m"], cfg["embedding"], seed=cfg["seed"])
        d = U.shape[0]
        lab = f"ts-{cfg['embedding']}-m{cfg['m']}"
        sp = AsymmetricLinear(d, cfg["ts_width"], "sparse", keep_prob=cfg["ts_keep_prob"], mask_seed=cfg["seed"] + 3)
        wa = AsymmetricLinear(d, cfg["ts_width"], "wasym", fixed_per_row=cfg["ts_fixed"], mask_seed=cfg["seed"] + 3)
        recs.append(_layer_record("iid", sp.export()[2], U, cfg["ts_keep_prob"], lab))
        recs.append(_layer_record("fixed_count", wa.export()[2], U, None, lab))
    elif cfg["source"] == "wide":
        from lmctheory.synthetic import random_basis

        d, k = cfg["d"], cfg["k"]
        U = random_basis(d, k, seed=cfg["seed"] + 17)  # the Gaussian mixture's support (exact, incoherent)
        lab = f"gmm-support-d{d}-k{k}"
        sp = AsymmetricLinear(d, cfg["wide_width"], "sparse", keep_prob=cfg["ts_keep_prob"], mask_seed=cfg["seed"] + 3)
        wa = AsymmetricLinear(d, cfg["wide_width"], "wasym", fixed_per_row=max(1, round(0.08 * d)),
                              mask_seed=cfg["seed"] + 3)
        recs.append(_layer_record("iid", sp.export()[2], U, cfg["ts_keep_prob"], lab))
        recs.append(_layer_record("fixed_count", wa.export()[2], U, None, lab))
    else:
        from lmctheory.subspace import subspace_basis
        from lmctheory.experiments.mlp_pairs import load_dataset

        ds = load_dataset(cfg["dataset"], 0)
        model = make_mlp(ds.in_dim, cfg["hidden"], ds.n_classes, n_layers=cfg["n_layers"], kind=cfg["kind"],
                         sigma_f=cfg["sigma_f"], keep_prob=cfg["keep_prob"], fixed_fraction=cfg["fixed_fraction"],
                         mask_seed=cfg["seed"] + 5, seed=cfg["seed"] + 1)
        train(model, ds.X_train, ds.y_train, epochs=cfg["epochs"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
              batch_size=cfg["batch_size"], seed=cfg["seed"])
        family = "iid" if cfg["kind"] == "sparse" else "fixed_count"
        for ell, (name, H) in enumerate(record_layer_inputs(model, ds.X_train).items()):
            U, _ = subspace_basis(H, cfg["explained_variance"])
            lab = f"{cfg['dataset']}-{cfg['kind']}-sf{cfg['sigma_f']:g}-{name}"
            recs.append(_layer_record(family, model.layers[ell].export()[2], np.asarray(U), cfg["keep_prob"], lab))
    return jsonable({"records": recs, "seconds": time.perf_counter() - t0})


def collect(ctx: Context) -> dict:
    """One record per (support, mask family): coherence, k, μ, bound, mean/max deviation, violations."""
    from lmctheory.sweep import run_jobs

    cfg = config(ctx.quick)
    t0 = time.perf_counter()
    jobs = []
    for e in cfg["ts_embeddings"]:
        for m in cfg["ts_ms"]:
            jobs.append({**{k: cfg[k] for k in ("ts_c", "ts_width", "ts_keep_prob", "ts_fixed", "version")},
                         "source": "ts", "embedding": e, "m": m, "seed": ctx.seed})
    for d, k in cfg["wide"]:
        jobs.append({"source": "wide", "d": d, "k": k, "wide_width": cfg["wide_width"], "ts_keep_prob": cfg["ts_keep_prob"],
                     "version": cfg["version"], "seed": ctx.seed})
    train_keys = ("n_layers", "keep_prob", "fixed_fraction", "lr", "weight_decay", "batch_size", "explained_variance",
                  "hidden", "epochs", "version")
    for dsn in cfg["datasets"]:
        for kind, sf in (("sparse", 0.0), ("wmlp", 0.0), ("wmlp", 1.0)):
            jobs.append({**{k: cfg[k] for k in train_keys}, "source": "mlp", "dataset": dsn, "kind": kind,
                         "sigma_f": sf, "seed": ctx.seed})
    res = run_jobs(support_job, jobs, namespace=NAMESPACE, cache_root=ctx.cache_root, client=ctx.client,
                   kind="json", desc="C7 Gram concentration", progress=ctx.progress, max_workers=ctx.max_workers)
    records = [r for job in res for r in job["records"]]
    return jsonable({"config": cfg, "records": records, "seconds": time.perf_counter() - t0})


def evaluate_condition(data: dict) -> tuple[bool | None, dict]:
    recs = data["records"]
    viol = sum(r["violations"] for r in recs)
    rho = {}
    for fam in ("iid", "fixed_count"):
        rs = [r for r in recs if r["family"] == fam]
        rho[fam] = spearman([r["coherence"] for r in rs], [r["dev_mean"] for r in rs])
    if any(not np.isfinite(v) for v in rho.values()):
        return None, {"violations": viol, "spearman": rho}
    return bool(viol == 0 and all(v > 0 for v in rho.values())), {
        "violations": viol, "neurons": sum(r["n"] for r in recs), "spearman": rho,
        "max_over_bound": max(r["max_over_bound"] for r in recs),
        "nontrivial_records": sum(r["nontrivial"] for r in recs), "records": len(recs),
        "nontrivial_labels": [f"{r['label']}/{r['family']}" for r in recs if r["nontrivial"]]}


def run(ctx: Context) -> ClaimResult:
    data = collect(ctx)
    passed, ev = evaluate_condition(data)
    measured = (f"{ev['violations']} violations among {ev.get('neurons', '?')} neurons in {len(data['records'])} "
                f"layer/supports (max dev/bound {fmt(ev.get('max_over_bound', float('nan')))}); ρ(ν, mean dev): "
                f"iid {fmt(ev['spearman']['iid'])}, fixed-count {fmt(ev['spearman']['fixed_count'])}; bound below the trivial "
                f"max(μ,1−μ) in {ev.get('nontrivial_records', '?')}/{len(data['records'])} records")
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured=measured, passed=passed, condition=CONDITION,
                       details={"evaluation": jsonable(ev), "config": data["config"], "seconds": data["seconds"]})
