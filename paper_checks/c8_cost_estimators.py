"""C8 — Mahalanobis vs ridge-regression realization-cost estimates agree in ranking ([NI] G.3, F.7; docs/theory.md §8).

W-MLPs (σ_F ∈ {0, 1}; 3 linear layers, GELU, *no* normalization so that each neuron's function is
``gelu(w̃ᵀx + b)`` — [NI] G.3 likewise keeps the normalization out of the optimized neuron) trained
on the Gaussian subspace mixture. For the first two layers:

- *Mahalanobis*: :func:`lmctheory.nn.estimate.estimate_realization_costs` (PCA basis at 90% of the
  layer's recorded training inputs, eq. 10) gives ``C[i, j]``.
- *Ridge* (Def. E.3): for ``P`` random off-diagonal pairs ``(i, j)`` with finite ``C[i, j]``,
  :func:`lmctheory.nn.estimate.ridge_realization_cost` with target ``g_j(x) = gelu(w̃_jᵀx + b_j)`` on the
  recorded inputs, neuron class ``i``, GELU, ``γ = GAMMA``, free bias, L-BFGS from the linear
  surrogate. The closed-form identity-activation surrogate is reported alongside.

Agreement = Spearman rank correlation over the pairs of one (model, layer).
"""

from __future__ import annotations

import time

import numpy as np

from paper_checks.common import ClaimResult, Context, fmt, jsonable, spearman

ID = "C8"
TITLE = "Mahalanobis and ridge realization-cost estimates agree in ranking"
PAPER = ("[NI] G.3: neuron realization/swap costs estimated via the Mahalanobis form (eq. 10, PCA at 90%) and via "
         "ridge regression (Def. E.3) show the same qualitative picture across architectures and layers.")
CONDITION = "Spearman ρ(Mahalanobis C[i,j], ridge R^γ_i(g_j)) > 0 for every (model, layer) evaluated (γ = 0.01)"
NAMESPACE = "paper_checks_c8"
VERSION = 1
GAMMA = 0.01


def config(quick: bool) -> dict:
    """Sizes (tests monkeypatch this)."""
    base = dict(dataset="gmm-k8-d32-s1.0", data_seed=0, n_layers=3, fixed_fraction=0.08, lr=1e-3,
                weight_decay=1e-2, batch_size=128, sigma_fs=[0.0, 1.0], layers=[0, 1], gamma=GAMMA,
                explained_variance=0.9, lbfgs_steps=50, version=VERSION)
    if quick:
        return {**base, "hidden": 64, "epochs": 30, "pairs": 40, "n_ridge": 512}
    return {**base, "hidden": 128, "epochs": 60, "pairs": 200, "n_ridge": 1500}


def estimate_job(cfg: dict) -> dict:
    """Train one W-MLP and compare the two estimators on the chosen layers."""
    import torch

    from lmctheory.nn import make_mlp, train
    from lmctheory.nn.estimate import estimate_realization_costs, record_layer_inputs, ridge_realization_cost
    from lmctheory.experiments.mlp_pairs import load_dataset

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    ds = load_dataset(cfg["dataset"], cfg["data_seed"])
    model = make_mlp(ds.in_dim, cfg["hidden"], ds.n_classes, n_layers=cfg["n_layers"], kind="wmlp",
                     sigma_f=cfg["sigma_f"], fixed_fraction=cfg["fixed_fraction"], norm=None, activation="gelu",
                     mask_seed=cfg["seed"] + 11, seed=cfg["seed"] + 1)
    train(model, ds.X_train, ds.y_train, epochs=cfg["epochs"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
          batch_size=cfg["batch_size"], seed=cfg["seed"])
    inputs = record_layer_inputs(model, ds.X_train)
    names = list(inputs)
    rng = np.random.default_rng([cfg["seed"], 8])
    out = {"layers": {}}
    for ell in cfg["layers"]:
        name = names[ell]
        layer = model.layers[ell]
        X = inputs[name]
        est = estimate_realization_costs(layer, X, cfg["explained_variance"])
        E = layer.export()[0]
        b = layer.bias.detach().double().numpy()
        sub = X[rng.choice(len(X), size=min(cfg["n_ridge"], len(X)), replace=False)]
        n = E.shape[0]
        finite = np.isfinite(est.costs) & ~np.eye(n, dtype=bool)
        cand = np.argwhere(finite)
        pick = cand[rng.choice(len(cand), size=min(cfg["pairs"], len(cand)), replace=False)]
        maha, ridge, surrogate, fits = [], [], [], []
        for i, j in pick:
            g = torch.nn.functional.gelu(torch.as_tensor(sub @ E[j] + b[j])).numpy()
            rc = ridge_realization_cost(layer, int(i), g, sub, cfg["gamma"], "gelu", bias="free",
                                        steps=cfg["lbfgs_steps"])
            lin = ridge_realization_cost(layer, int(i), sub @ E[j] + b[j], sub, cfg["gamma"], "identity",
                                         bias="free")
            maha.append(est.costs[i, j])
            ridge.append(rc.cost)
            surrogate.append(lin.cost)
            fits.append(rc.fit)
        out["layers"][name] = {
            "pairs": pick, "mahalanobis": maha, "ridge": ridge, "ridge_identity": surrogate, "ridge_fit": fits,
            "k": est.k, "ratio": est.ratio, "coherence": est.coherence,
            "spearman": spearman(maha, ridge), "spearman_identity": spearman(maha, surrogate),
        }
    out["seconds"] = time.perf_counter() - t0
    return jsonable(out)


def collect(ctx: Context) -> dict:
    """Per (σ_F, layer): the paired cost estimates and their Spearman correlations."""
    from lmctheory.sweep import run_jobs

    cfg = config(ctx.quick)
    t0 = time.perf_counter()
    keys = [k for k in cfg if k != "sigma_fs"]
    jobs = [{**{k: cfg[k] for k in keys}, "sigma_f": float(sf), "seed": ctx.seed} for sf in cfg["sigma_fs"]]
    res = run_jobs(estimate_job, jobs, namespace=NAMESPACE, cache_root=ctx.cache_root, client=ctx.client,
                   kind="json", desc="C8 estimators", progress=ctx.progress, max_workers=ctx.max_workers)
    out = {"config": cfg, "groups": {}}
    for sf, r in zip(cfg["sigma_fs"], res):
        for name, L in r["layers"].items():
            out["groups"][f"sigma_f={sf:g}/{name}"] = L
    out["seconds"] = time.perf_counter() - t0
    return jsonable(out)


def evaluate_condition(data: dict) -> tuple[bool | None, dict]:
    rhos = {g: L["spearman"] for g, L in data["groups"].items()}
    if not rhos or any(r is None or not np.isfinite(r) for r in rhos.values()):
        return None, {"spearman": rhos}
    return bool(all(r > 0 for r in rhos.values())), {"spearman": rhos}


def run(ctx: Context) -> ClaimResult:
    data = collect(ctx)
    passed, ev = evaluate_condition(data)
    parts = [f"{g}: ρ={fmt(L['spearman'])} (identity surrogate ρ={fmt(L['spearman_identity'])}, k={L['k']})"
             for g, L in data["groups"].items()]
    measured = f"{len(next(iter(data['groups'].values()))['ridge'])} pairs per group; " + "; ".join(parts)
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured=measured, passed=passed, condition=CONDITION,
                       details={"evaluation": jsonable(ev), "config": data["config"], "seconds": data["seconds"]})
