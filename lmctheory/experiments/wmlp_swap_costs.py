"""Neuron swap costs of trained W-MLPs vs ``σ_F`` and the intrinsic dimension ``k`` ([NI] Q3, Fig. 5; docs/theory.md §4).

The experiment behind ``paper_checks`` C3 and figure 6: :func:`config` (default sizes), :func:`collect`
(train every pair, interpolate, measure; cached per job by :func:`lmctheory.sweep.run_jobs`).

Setup (CPU scale of [NI] F.6/F.7)
    Data: :func:`lmctheory.nn.data.gaussian_mixture`, 5 classes, ``d = 64``, 2000 train / 1000 test,
    ``k ∈ {2, 8, 32}`` (quick) or ``{2, 4, 8, 16, 32}`` (full).  Difficulty is equalized across
    ``k``: for each ``k`` the class separation is set by bisection so that a quadratic discriminant
    (≈ Bayes rule for this mixture) reaches ``QDA_TARGET = 0.90`` test accuracy (``separation = 0``
    if even that is too easy) — otherwise large ``k`` is trivially separable and every drop is zero.
    Model: :func:`lmctheory.nn.make_mlp` kind ``wmlp``, 4 linear layers, hidden 128, LayerNorm, GELU,
    ``round(0.08·fan_in)`` fixed entries per row (5 in layer 1, 10 in layers 2–3, 40 in the last),
    ``σ_F ∈ {0, 1}``; the two models of a pair share ``mask_seed`` (masks and centers are
    architecture) and differ in initialization and data order.  AdamW lr 1e-3, wd 1e-2, batch 128,
    30 epochs (quick) / 60 (full).  One pair per (σ_F, k) in quick mode, two in full mode.
    Unaligned interpolation at 11 points; midpoint accuracy drop (pp) on the test set and on the
    training set ([NI] reports train), with endpoint accuracies reported beside it.  The condition
    uses the *test* drop: at large ``k`` the 4-layer net fits the 2000 training points to 100%
    (seen in a pilot at k = 32), so a train drop there is compressed by the ceiling, while test
    accuracy stays clearly below 100% for every ``k`` (the practical note of docs/experiments.md).

Measurement (docs/theory.md §2, §4, eq. 10)
    Layer 1: input support known exactly — ``U`` is the generating basis (``k`` columns).
    Layers 2 and 3: ``U`` is the PCA basis of the centered layer inputs at 90% explained variance
    (the dimension ``r`` reached is reported beside ``k``; the input-PCA dimension of ``x`` at 90% is
    reported too).  Then ``a_i = Uᵀw̃_i``, ``v_i = Uᵀf_i``, ``S_i = Uᵀdiag(d_i)²U``,
    ``C[i,j] = (a_j − v_i)ᵀS_i†(a_j − v_i)`` (diagonal from ``r_i = a_i − v_i`` directly),
    ``Δ_ij = C_ij + C_ji − C_ii − C_jj``.  Pseudo-inverse cutoff: eigenvalues below
    ``1e-10·λ_max(S_i)`` are zero; every ``S_i`` here has full rank (reported), so no cost is infinite.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["config", "collect", "calibrated_separation", "pca_basis", "cost_matrix", "swap_matrix", "swap_stats"]

NAMESPACE = "experiments_wmlp_swap_costs"
VERSION = 1
TAU = 0.1
QDA_TARGET = 0.90
EXPLAINED = 0.9
QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
N_SHOW = 32  # neurons in the stored swap-cost matrices (figure)
N_SAMPLE = 1000  # stored random off-diagonal values per (model, layer) (distributions in the figure)


def config(quick: bool) -> dict:
    """Default sizes: quick (figure 6, ``paper_checks --quick``) or full mode (JSON-able; keys the cache)."""
    base = dict(
        n_classes=5, d=64, n_train=2000, n_test=1000, hidden=128, n_layers=4, fixed_fraction=0.08,
        lr=1e-3, weight_decay=1e-2, batch_size=128, sigma_fs=[0.0, 1.0], n_lams=11,
        qda_target=QDA_TARGET, explained=EXPLAINED, tau=TAU, version=VERSION,
    )
    if quick:
        base.update(ks=[2, 8, 32], n_pairs=1, epochs=30)
    else:
        base.update(ks=[2, 4, 8, 16, 32], n_pairs=2, epochs=60)
    return base


# --------------------------------------------------------------------------------------------
# data
def _qda_accuracy(Z, y, Zt, yt, n_classes: int) -> float:
    """Test accuracy of a quadratic discriminant (class means and covariances, + 1e-6·I)."""
    scores = []
    for c in range(n_classes):
        Zc = Z[y == c]
        mu = Zc.mean(0)
        cov = np.cov(Zc, rowvar=False).reshape(Z.shape[1], Z.shape[1]) + 1e-6 * np.eye(Z.shape[1])
        L = np.linalg.cholesky(cov)
        sol = np.linalg.solve(L, (Zt - mu).T)
        scores.append(-0.5 * (sol**2).sum(0) - np.log(np.diag(L)).sum() + np.log(len(Zc) / len(Z)))
    return float(np.mean(np.argmax(np.stack(scores), axis=0) == yt))


def calibrated_separation(k: int, cfg: dict, seed: int) -> tuple[float, float]:
    """Class separation at which QDA (≈ the Bayes rule) reaches ``qda_target`` test accuracy (bisection
    to 1/1000 of the bracket); returns ``(separation, accuracy)``."""
    from ..nn.data import gaussian_mixture

    def acc(s):
        ds = gaussian_mixture(cfg["n_classes"], k, cfg["d"], cfg["n_train"], cfg["n_test"], s, seed)
        U = ds.basis
        return _qda_accuracy(ds.X_train.double().numpy() @ U, ds.y_train.numpy(),
                             ds.X_test.double().numpy() @ U, ds.y_test.numpy(), cfg["n_classes"])

    target = cfg["qda_target"]
    a0 = acc(0.0)
    if a0 >= target:
        return 0.0, a0
    lo, hi = 0.0, 1.0
    while acc(hi) < target and hi < 64:
        lo, hi = hi, 2 * hi
    for _ in range(10):
        mid = 0.5 * (lo + hi)
        if acc(mid) < target:
            lo = mid
        else:
            hi = mid
    return hi, acc(hi)


# --------------------------------------------------------------------------------------------
# costs (docs/theory.md eq. 10)
def pca_basis(H: np.ndarray, explained: float) -> tuple[np.ndarray, float]:
    """Top principal directions of centered ``H`` (N, d) reaching ``explained``; (U, ratio reached)."""
    Hc = H - H.mean(0)
    _, s, Vt = np.linalg.svd(Hc, full_matrices=False)
    var = s**2
    cum = np.cumsum(var) / var.sum()
    r = int(np.searchsorted(cum, explained - 1e-12) + 1)
    return Vt[:r].T, float(cum[r - 1])


def cost_matrix(eff: np.ndarray, fixed: np.ndarray, diag: np.ndarray, U: np.ndarray) -> dict:
    """All-pairs realization costs ``C[i,j] = R_i(a_j)`` on the support ``span(U)`` (eq. 10)."""
    A = eff @ U
    V = fixed @ U
    S = np.einsum("jk,nj,jl->nkl", U, diag**2, U)
    lam, Q = np.linalg.eigh(S)
    cut = 1e-10 * lam[:, -1:]
    inv = np.where(lam > cut, 1.0 / np.where(lam > cut, lam, 1.0), 0.0)
    Sp = np.einsum("nkr,nr,nlr->nkl", Q, inv, Q)
    diff = A[None, :, :] - V[:, None, :]  # [i, j] = a_j − v_i
    C = np.einsum("ijk,ikl,ijl->ij", diff, Sp, diff)
    R = A - V
    np.fill_diagonal(C, np.einsum("ik,ikl,il->i", R, Sp, R))
    return dict(C=C, rank_min=int((lam > cut).sum(1).min()), k=U.shape[1],
                center_dominance=_center_dominance(R, V),
                mu=float(np.mean(lam)))


def _center_dominance(R: np.ndarray, V: np.ndarray) -> float:
    """Median ``‖r_i‖/‖v_i‖`` (η of T-4.5; small = center-dominated); NaN when every ``v_i = 0``."""
    nv = np.linalg.norm(V, axis=1)
    ok = nv > 0
    return float(np.median(np.linalg.norm(R[ok], axis=1) / nv[ok])) if ok.any() else float("nan")


def swap_matrix(C: np.ndarray) -> np.ndarray:
    d = np.diag(C)
    return C + C.T - d[:, None] - d[None, :]


def swap_stats(delta: np.ndarray, C: np.ndarray, tau: float, rng) -> dict:
    iu = np.triu_indices(delta.shape[0], 1)
    off = delta[iu]
    med = float(np.median(off))
    sample = rng.choice(off, size=min(N_SAMPLE, off.size), replace=False)
    return dict(
        frac_cheap=float(np.mean(off < tau * med)),
        frac_negative=float(np.mean(off < 0)),
        median=med,
        quantiles=np.quantile(off, QUANTILES).tolist(),
        diag_cost_quantiles=np.quantile(np.diag(C), QUANTILES).tolist(),
        min_offdiag=float(off.min()),
        matrix=delta[:N_SHOW, :N_SHOW].tolist(),
        sample=sample.tolist(),
    )


# --------------------------------------------------------------------------------------------
# one job: train a pair, interpolate, measure swap costs of both models at layers 1–3
def _job(cfg: dict) -> dict:
    """Sweep job (module-level, picklable): one BLAS/torch thread, whatever pool runs it."""
    from ._common import run_single_threaded

    return run_single_threaded(_job_impl, cfg)


def _job_impl(cfg: dict) -> dict:
    import torch

    from ..nn import interpolate, make_mlp, train
    from ..nn.data import gaussian_mixture

    torch.set_num_threads(1)
    k, sf, seed, pair = cfg["k"], cfg["sigma_f"], cfg["seed"], cfg["pair"]
    ds = gaussian_mixture(cfg["n_classes"], k, cfg["d"], cfg["n_train"], cfg["n_test"], cfg["separation"], seed)
    mask_seed = 1000 * seed + 10 * pair + 1
    models = []
    for e in range(2):
        model = make_mlp(cfg["d"], cfg["hidden"], cfg["n_classes"], n_layers=cfg["n_layers"], kind="wmlp",
                         sigma_f=sf, fixed_fraction=cfg["fixed_fraction"], mask_seed=mask_seed,
                         seed=100_000 * (seed + 1) + 100 * pair + e)
        train(model, ds.X_train, ds.y_train, epochs=cfg["epochs"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
              batch_size=cfg["batch_size"], seed=7 * (100_000 * (seed + 1) + 100 * pair + e) + 3)
        models.append(model)
    lams = np.linspace(0.0, 1.0, cfg["n_lams"])
    it_tr = interpolate(models[0], models[1], ds.X_train, ds.y_train, lams=lams)
    it_te = interpolate(models[0], models[1], ds.X_test, ds.y_test, lams=lams)
    rng = np.random.default_rng([seed, pair, int(1000 * sf), k])
    per_model = []
    for model in models:
        with torch.no_grad():
            _, hidden = model(ds.X_train, return_hidden=True)
        inputs = [ds.X_train.double().numpy()] + [h.double().numpy() for h in hidden]
        layers = []
        for ell in range(cfg["n_layers"] - 1):
            eff, fixed, diag = model.layers[ell].export()
            if ell == 0:
                U, ratio = ds.basis, 1.0
            else:
                U, ratio = pca_basis(inputs[ell], cfg["explained"])
            cm = cost_matrix(eff, fixed, diag, U)
            delta = swap_matrix(cm["C"])
            st = swap_stats(delta, cm["C"], cfg["tau"], rng)
            st.update(layer=ell + 1, basis_dim=int(U.shape[1]), explained=ratio, gram_rank_min=cm["rank_min"],
                      center_dominance=cm["center_dominance"], gram_mean_eig=cm["mu"])
            layers.append(st)
        per_model.append(layers)
    r_in = pca_basis(ds.X_train.double().numpy(), cfg["explained"])[0].shape[1]
    return dict(
        k=k, sigma_f=sf, pair=pair, separation=cfg["separation"], input_pca_dim=int(r_in),
        endpoint_acc_train=[float(it_tr.acc[0]), float(it_tr.acc[-1])],
        endpoint_acc_test=[float(it_te.acc[0]), float(it_te.acc[-1])],
        midpoint_drop_train=it_tr.midpoint_acc_drop, midpoint_drop_test=it_te.midpoint_acc_drop,
        curve_acc_train=it_tr.acc.tolist(), curve_acc_test=it_te.acc.tolist(), lams=lams.tolist(),
        layers=per_model,
    )


def collect(ctx, cfg: dict | None = None) -> dict:
    """Train every (σ_F, k, pair) and measure; returns per-(σ_F, k) summaries and the plotted arrays.

    Layout (JSON): ``{"config", "seconds", "quantile_levels", "grid"}`` with
    ``grid[str(σ_F)][str(k)]`` (σ_F keys ``"0.0"``, ``"1.0"``) holding ``separation``, ``qda_acc``,
    ``input_pca_dim``, ``endpoint_acc_train/test`` (2 per pair), ``drop_train/test`` (pp, one per pair)
    and their ``*_mean``, ``curve_acc_train`` + ``lams`` (mean unaligned curve), and ``layers`` — one
    dict per hidden-producing layer (1 = exact ``U``, 2–3 = PCA 90%) with ``basis_dim``, ``explained``,
    ``frac_cheap``, ``frac_negative``, ``median``, ``quantiles`` (off-diagonal swap costs at
    ``quantile_levels``), ``diag_cost_quantiles`` (``C_ii``), ``matrix`` (swap costs of the first 32
    neurons of the first model, for [NI] Fig. 5), ``sample`` (1000 random off-diagonal swap costs of the
    first model, for distributions), ``center_dominance`` (median ``‖r_i‖/‖v_i‖``) and, for σ_F = 0,
    ``frac_near_zero_on_sf1_scale``.
    """
    from ..cache import DiskCache
    from ..sweep import run_jobs

    cfg = dict(config(ctx.quick) if cfg is None else cfg)
    t0 = time.perf_counter()
    cal_cache = DiskCache(NAMESPACE + "_separation", root=ctx.cache_root)
    seps = {}
    for k in cfg["ks"]:
        key = {k2: cfg[k2] for k2 in ("n_classes", "d", "n_train", "n_test", "qda_target")} | {
            "k": k, "seed": ctx.seed, "version": VERSION}
        seps[k] = cal_cache.get_or_compute_json(key, lambda k=k: list(calibrated_separation(k, cfg, ctx.seed)))
    base = {k2: v for k2, v in cfg.items() if k2 not in ("ks", "sigma_fs", "n_pairs")}
    jobs = [
        {**base, "k": k, "sigma_f": sf, "pair": p, "seed": ctx.seed, "separation": seps[k][0]}
        for sf in cfg["sigma_fs"] for k in cfg["ks"] for p in range(cfg["n_pairs"])
    ]
    res = run_jobs(_job, jobs, namespace=NAMESPACE, cache_root=ctx.cache_root, client=ctx.client, kind="json",
                   desc="C3 swap costs", progress=ctx.progress, max_workers=ctx.max_workers)
    n_hidden_layers = cfg["n_layers"] - 1
    grid = {}
    for sf in cfg["sigma_fs"]:
        rows = {}
        for k in cfg["ks"]:
            rs = [r for r in res if r["k"] == k and r["sigma_f"] == sf]
            layers = []
            for ell in range(n_hidden_layers):
                st = [m[ell] for r in rs for m in r["layers"]]
                layers.append(dict(
                    layer=ell + 1,
                    basis="generating U" if ell == 0 else f"PCA {cfg['explained']:.0%}",
                    basis_dim=[s["basis_dim"] for s in st],
                    explained=[s["explained"] for s in st],
                    frac_cheap=float(np.mean([s["frac_cheap"] for s in st])),
                    frac_negative=float(np.mean([s["frac_negative"] for s in st])),
                    median=float(np.mean([s["median"] for s in st])),
                    quantiles=np.mean([s["quantiles"] for s in st], axis=0).tolist(),
                    diag_cost_quantiles=np.mean([s["diag_cost_quantiles"] for s in st], axis=0).tolist(),
                    center_dominance=float(np.mean([s["center_dominance"] for s in st])),
                    gram_rank_min=int(min(s["gram_rank_min"] for s in st)),
                    matrix=st[0]["matrix"],
                    sample=st[0]["sample"],
                ))
            rows[str(k)] = dict(
                k=k, separation=seps[k][0], qda_acc=seps[k][1], input_pca_dim=rs[0]["input_pca_dim"],
                endpoint_acc_train=[a for r in rs for a in r["endpoint_acc_train"]],
                endpoint_acc_test=[a for r in rs for a in r["endpoint_acc_test"]],
                drop_train=[r["midpoint_drop_train"] for r in rs],
                drop_test=[r["midpoint_drop_test"] for r in rs],
                drop_train_mean=float(np.mean([r["midpoint_drop_train"] for r in rs])),
                drop_test_mean=float(np.mean([r["midpoint_drop_test"] for r in rs])),
                curve_acc_train=np.mean([r["curve_acc_train"] for r in rs], axis=0).tolist(),
                lams=rs[0]["lams"],
                layers=layers,
            )
        grid[str(sf)] = rows
    # σ_F = 0 near-zero fraction on the σ_F = 1 scale (same k, layer), from the stored samples
    if "0.0" in grid and "1.0" in grid:
        for k in cfg["ks"]:
            for ell in range(n_hidden_layers):
                ref = grid["1.0"][str(k)]["layers"][ell]["median"]
                smp = np.asarray(grid["0.0"][str(k)]["layers"][ell]["sample"])
                grid["0.0"][str(k)]["layers"][ell]["frac_near_zero_on_sf1_scale"] = float(
                    np.mean(np.abs(smp) < cfg["tau"] * ref))
    return dict(config=cfg, seconds=time.perf_counter() - t0, quantile_levels=list(QUANTILES), grid=grid)


