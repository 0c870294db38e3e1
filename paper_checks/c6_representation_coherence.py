"""C6 — hidden representations of effective symmetry breakers are more coherent ([NI] G.5, Fig. 21).

Claim ([NI] App. G.5; docs/theory.md §3 eq. 11)
    The subspace coherence ``ν(U) = max_j ‖Uᵀe_j‖²`` of the PCA subspace of each layer's hidden
    representation is higher for models with effective symmetry breaking (W-MLP with ``σ_F = 1``,
    syre-MLP) than for the standard MLP and the W-MLP with ``σ_F = 0``, in particular in later layers:
    identifiable neurons carry their own directions of variation, so variance concentrates on
    individual coordinates (neurons) instead of being spread by an arbitrary rotation.

Setup (CPU scale; the paper uses MNIST)
    Data: scikit-learn digits (:func:`lmctheory.nn.data.digits`, 64 features, 10 classes, 1347 train /
    450 test).  Models: :func:`lmctheory.nn.make_mlp`, 4 linear layers, hidden 128, LayerNorm, GELU,
    kinds ``standard``, ``wmlp`` ``σ_F = 0``, ``wmlp`` ``σ_F = 1`` (8% fixed entries per row), ``syre``
    ``σ_F = 0.25`` (C1's a-priori choice: a syre row's fixed part then has about the norm of a W-MLP
    row's fixed part, ``σ·√d ≈ √(0.08·d)``); AdamW lr 1e-3, wd 1e-2, batch 128; 30 epochs × 2 seeds (quick), 60 epochs × 3 seeds
    (full).  Representations: the inputs of layers 1–4 (``x`` and the three post-activation
    hidden layers ``h_1, h_2, h_3``) and the logits, on all 1797 images, at initialization and after
    training.  Basis: PCA of the centered representation at 90% explained variance (dimension ``r``
    reported; ``ν ≥ r/n``, so the normalized ``ν·n/r ∈ [1, n/r]`` is reported too).

Finite-sample bias (docs/theory.md §12)
    ``ν`` of an estimated PCA basis is biased upward when ``N`` is not ≫ ``n``.  For every trained
    representation three controls are computed (20 draws each; Gaussian scatter matrices are drawn
    exactly and cheaply as ``Λ^{1/2} W Λ^{1/2}``, ``W ~ Wishart(N − 1, I)``, Bartlett decomposition):
    (1) *random rotation*: ``ν`` of ``H Q`` (``Q`` Haar) — the same spectrum and ``N`` with incoherent
    eigenvectors, the level a representation without preferred coordinates shows;
    (2) *Gaussian surrogate*: covariance ``Q Λ Qᵀ`` with ``Λ`` the sample spectrum of ``H`` and known,
    incoherent population basis ``Q_r``; bias ``ν_est − ν(Q_r)`` at the same ``N`` and at ``16·N``, with
    the dimension re-selected at 90% and held fixed at ``r``;
    (3) *parametric bootstrap* around the measured representation (population covariance = the
    sample covariance of ``H``): bias ``ν* − ν(H)`` at ``N`` and fixed ``r``.

Pass condition (fixed before the final run)
    For each hidden representation ``h_1, h_2, h_3`` of the trained models, with ``ν̄`` the mean over
    seeds: ``min(ν̄_wmlp(σ_F=1), ν̄_syre) > max(ν̄_standard, ν̄_wmlp(σ_F=0))`` — the ordering stated by
    the paper, at every hidden layer.  The surrogate bias is reported beside the gap (a gap smaller
    than the bias spread would not be convincing even when the ordering holds).
"""

from __future__ import annotations

import time

import numpy as np

ID = "C6"
TITLE = "Subspace coherence of trained hidden representations"
PAPER = (
    "[NI] G.5/Fig. 21: standard MLPs and W-MLPs with σ_F = 0 have low subspace coherence of hidden "
    "representations (especially later layers); W-MLPs and syre-MLPs with large σ_F have higher coherence."
)
CONDITION = (
    "at every hidden layer h1–h3 (trained, mean over seeds): min(ν W-MLP σ_F=1, ν syre) > "
    "max(ν standard, ν W-MLP σ_F=0); PCA basis at 90% explained variance"
)

NAMESPACE = "paper_checks_c6"
VERSION = 2
MAX_WORKERS: int | None = None  # local pool size for run_jobs (None: all cores; tests set 1)
MODELS = {  # name -> make_mlp kwargs
    "standard": dict(kind="standard"),
    "wmlp_sf0": dict(kind="wmlp", sigma_f=0.0),
    "wmlp_sf1": dict(kind="wmlp", sigma_f=1.0),
    "syre": dict(kind="syre", sigma_f=0.25),
}
EFFECTIVE = ("wmlp_sf1", "syre")
INEFFECTIVE = ("standard", "wmlp_sf0")


def config(quick: bool) -> dict:
    base = dict(hidden=128, n_layers=4, fixed_fraction=0.08, lr=1e-3, weight_decay=1e-2, batch_size=128,
                explained=0.9, models=list(MODELS), big_factor=16, n_draws=20, version=VERSION)
    if quick:
        base.update(n_seeds=2, epochs=30)
    else:
        base.update(n_seeds=3, epochs=60)
    return base


# --------------------------------------------------------------------------------------------
def pca_basis(H: np.ndarray, explained: float) -> np.ndarray:
    """Leading eigenvectors of the sample covariance of ``H`` (N × n) reaching ``explained``."""
    Hc = H - H.mean(0)
    lam, V = np.linalg.eigh(Hc.T @ Hc)
    lam, V = np.clip(lam[::-1], 0.0, None), V[:, ::-1]
    cum = np.cumsum(lam) / np.sum(lam)
    r = int(np.searchsorted(cum, explained - 1e-12) + 1)
    return V[:, :r]


def coherence(U: np.ndarray) -> float:
    """``ν(U) = max_j ‖Uᵀe_j‖²`` (eq. 11) of an orthonormal basis ``U`` (n × r)."""
    return float(np.max(np.sum(U**2, axis=1)))


def _haar(n: int, rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def rep_stats(H: np.ndarray, explained: float) -> dict:
    U = pca_basis(H, explained)
    n, r = U.shape
    nu = coherence(U)
    return dict(nu=nu, r=int(r), n=int(n), nu_normalized=nu * n / r)


def _wishart_identity(dof: int, n: int, rng) -> np.ndarray:
    """``W ~ Wishart(dof, I_n)`` by the Bartlett decomposition (``dof ≥ n``), O(n³) instead of O(dof·n²)."""
    L = np.tril(rng.standard_normal((n, n)), -1)
    L[np.diag_indices(n)] = np.sqrt(rng.chisquare(dof - np.arange(n)))
    return L @ L.T


def _surrogate_nus(Q: np.ndarray, lam: np.ndarray, N: int, r_fixed: int, explained: float, rng) -> tuple[float, float]:
    """One draw of ``N`` Gaussian samples with covariance ``Q diag(lam) Qᵀ``: ``ν`` of the estimated PCA
    basis at fixed dimension ``r_fixed`` and at the dimension re-selected by ``explained``.
    The centered scatter matrix is ``Q Λ^{1/2} W Λ^{1/2} Qᵀ`` with ``W ~ Wishart(N − 1, I)``."""
    sl = np.sqrt(lam)
    ev, V = np.linalg.eigh(sl[:, None] * _wishart_identity(N - 1, len(lam), rng) * sl[None, :])
    ev, V = np.clip(ev[::-1], 0.0, None), V[:, ::-1]
    cum = np.cumsum(ev) / ev.sum()
    r_sel = int(np.searchsorted(cum, explained - 1e-12) + 1)
    return coherence(Q @ V[:, :r_fixed]), coherence(Q @ V[:, :r_sel])


def bias_controls(H: np.ndarray, explained: float, big_factor: int, n_draws: int, rng) -> dict:
    """Controls of the finite-``N`` bias of ``ν`` (module docstring).

    - ``nu_rotation``: ``ν`` of the PCA basis of ``H Q`` (``Q`` Haar): same spectrum and ``N``, no
      preferred coordinates.
    - ``surrogate_bias_{N,bigN}`` (``_fixed_r``): Gaussian samples with covariance ``Q Λ Qᵀ`` (``Λ`` the
      sample spectrum of ``H``, ``Q`` Haar, so the population basis ``Q_r`` is known and incoherent);
      mean of ``ν_est − ν(Q_r)`` over ``n_draws`` at ``N`` and ``big_factor·N`` samples, with the
      dimension re-selected at 90% (and held at ``r``).
    - ``bootstrap_bias``: parametric bootstrap around the measured representation itself — population
      covariance = the sample covariance of ``H``; mean of ``ν* − ν(H)`` at ``N`` samples (fixed ``r``).
    """
    N, n = H.shape
    Hc = H - H.mean(0)
    nu_rot = float(np.mean([coherence(pca_basis(Hc @ _haar(n, rng), explained)) for _ in range(n_draws)]))
    lam, E = np.linalg.eigh(np.cov(Hc, rowvar=False))
    lam, E = np.clip(lam[::-1], 0.0, None), E[:, ::-1]
    cum = np.cumsum(lam) / lam.sum()
    r_pop = int(np.searchsorted(cum, explained - 1e-12) + 1)
    out = dict(nu_rotation=nu_rot, r_population=r_pop)
    for tag, M in (("N", N), ("bigN", big_factor * N)):
        b_sel, b_fix = [], []
        for _ in range(n_draws):
            Q = _haar(n, rng)
            nu_true = coherence(Q[:, :r_pop])
            nu_fix, nu_sel = _surrogate_nus(Q, lam, M, r_pop, explained, rng)
            b_sel.append(nu_sel - nu_true)
            b_fix.append(nu_fix - nu_true)
        out[f"surrogate_bias_{tag}"] = float(np.mean(b_sel))
        out[f"surrogate_bias_{tag}_sd"] = float(np.std(b_sel))
        out[f"surrogate_bias_{tag}_fixed_r"] = float(np.mean(b_fix))
    nu_h = coherence(E[:, :r_pop])
    boot = [_surrogate_nus(E, lam, N, r_pop, explained, rng)[0] - nu_h for _ in range(n_draws)]
    out["bootstrap_bias"] = float(np.mean(boot))
    out["bootstrap_bias_sd"] = float(np.std(boot))
    return out


def _representations(model, X) -> dict:
    import torch

    with torch.no_grad():
        logits, hidden = model(X, return_hidden=True)
    reps = {"x": X.double().numpy()}
    for i, h in enumerate(hidden):
        reps[f"h{i + 1}"] = h.double().numpy()
    reps["logits"] = logits.double().numpy()
    return reps


def _job(cfg: dict) -> dict:
    """Sweep job (module-level, picklable): one BLAS/torch thread, whatever pool runs it."""
    from paper_checks.common import run_single_threaded

    return run_single_threaded(_job_impl, cfg)


def _job_impl(cfg: dict) -> dict:
    import torch

    from lmctheory.nn import evaluate, make_mlp, train
    from lmctheory.nn.data import digits

    torch.set_num_threads(1)
    seed, s = cfg["seed"], cfg["model_seed"]
    ds = digits(seed=seed)
    X_all = torch.cat([ds.X_train, ds.X_test])
    kw = MODELS[cfg["model"]]
    model = make_mlp(ds.in_dim, cfg["hidden"], 10, n_layers=cfg["n_layers"], fixed_fraction=cfg["fixed_fraction"],
                     mask_seed=1000 * seed + s, seed=10_000 * (seed + 1) + s, **kw)
    init = {k: rep_stats(v, cfg["explained"]) for k, v in _representations(model, X_all).items()}
    train(model, ds.X_train, ds.y_train, epochs=cfg["epochs"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
          batch_size=cfg["batch_size"], seed=10_000 * (seed + 1) + s + 77)
    reps = _representations(model, X_all)
    rng = np.random.default_rng([seed, s, 606])
    trained = {}
    for k, v in reps.items():
        st = rep_stats(v, cfg["explained"])
        if k.startswith("h"):
            st.update(bias_controls(v, cfg["explained"], cfg["big_factor"], cfg["n_draws"], rng))
        trained[k] = st
    return dict(model=cfg["model"], model_seed=s, N=int(X_all.shape[0]),
                train_acc=evaluate(model, ds.X_train, ds.y_train)[1], test_acc=evaluate(model, ds.X_test, ds.y_test)[1],
                init=init, trained=trained)


def collect(ctx, cfg: dict | None = None) -> dict:
    """Train every (model family, seed) and measure per-representation coherence ([NI] Fig. 21).

    Layout (JSON): ``{"config", "seconds", "N", "reps", "models"}``; ``models[name]`` has
    ``train_acc``, ``test_acc`` and ``layers[rep]`` for ``rep`` in ``reps`` (``x``, ``h1``…, ``logits``)
    with ``nu`` (per seed), ``nu_mean``, ``nu_std``, ``r``, ``nu_normalized_mean``, ``nu_init_mean``,
    ``r_init`` and (hidden layers only) ``nu_rotation_mean``, ``surrogate_bias_*``, ``bootstrap_bias*``.
    """
    from lmctheory.sweep import run_jobs

    cfg = dict(config(ctx.quick) if cfg is None else cfg)
    base = {k: v for k, v in cfg.items() if k not in ("models", "n_seeds")}
    jobs = [{**base, "model": m, "model_seed": s, "seed": ctx.seed} for m in cfg["models"] for s in range(cfg["n_seeds"])]
    t0 = time.perf_counter()
    res = run_jobs(_job, jobs, namespace=NAMESPACE, cache_root=ctx.cache_root, client=ctx.client, kind="json",
                   desc="C6 coherence", progress=ctx.progress, max_workers=MAX_WORKERS)
    reps = list(res[0]["trained"])  # x, h1 … h_{L−1}, logits
    models = {}
    for m in cfg["models"]:
        rs = [r for r in res if r["model"] == m]
        entry = dict(train_acc=[r["train_acc"] for r in rs], test_acc=[r["test_acc"] for r in rs], layers={})
        for rep in reps:
            tr = [r["trained"][rep] for r in rs]
            ini = [r["init"][rep] for r in rs]
            ctl = (lambda key: float(np.mean([t[key] for t in tr]))) if rep.startswith("h") else (lambda key: float("nan"))
            entry["layers"][rep] = dict(
                nu=[t["nu"] for t in tr],
                nu_mean=float(np.mean([t["nu"] for t in tr])),
                nu_std=float(np.std([t["nu"] for t in tr])),
                r=[t["r"] for t in tr],
                nu_normalized_mean=float(np.mean([t["nu_normalized"] for t in tr])),
                nu_init_mean=float(np.mean([t["nu"] for t in ini])),
                r_init=[t["r"] for t in ini],
                nu_rotation_mean=ctl("nu_rotation"),
                surrogate_bias_N=ctl("surrogate_bias_N"),
                surrogate_bias_N_sd=ctl("surrogate_bias_N_sd"),
                surrogate_bias_bigN=ctl("surrogate_bias_bigN"),
                surrogate_bias_N_fixed_r=ctl("surrogate_bias_N_fixed_r"),
                surrogate_bias_bigN_fixed_r=ctl("surrogate_bias_bigN_fixed_r"),
                bootstrap_bias=ctl("bootstrap_bias"),
                bootstrap_bias_sd=ctl("bootstrap_bias_sd"),
            )
        models[m] = entry
    return dict(config=cfg, seconds=time.perf_counter() - t0, N=res[0]["N"], reps=reps, models=models)


def evaluate(data: dict) -> tuple[bool | None, dict]:
    """The fixed pass condition (``None`` when a model family of the comparison was not run)."""
    if not all(m in data["models"] for m in EFFECTIVE + INEFFECTIVE):
        return None, {}
    per = {}
    ok = True
    for rep in [r for r in data["reps"] if r.startswith("h")]:
        eff = {m: data["models"][m]["layers"][rep]["nu_mean"] for m in EFFECTIVE if m in data["models"]}
        ineff = {m: data["models"][m]["layers"][rep]["nu_mean"] for m in INEFFECTIVE if m in data["models"]}
        gap = min(eff.values()) - max(ineff.values())
        excess = {m: data["models"][m]["layers"][rep]["nu_mean"] - data["models"][m]["layers"][rep]["nu_rotation_mean"]
                  for m in EFFECTIVE + INEFFECTIVE}
        per[rep] = dict(effective=eff, ineffective=ineff, gap=float(gap), ordered=bool(gap > 0),
                        excess_over_rotation_control=excess)
        ok &= gap > 0
    return bool(ok), per


def run(ctx):
    from paper_checks.common import ClaimResult

    data = collect(ctx)
    passed, per = evaluate(data)
    parts = []
    for rep, v in per.items():
        vals = ", ".join(f"{m} {x:.3f}" for m, x in {**v["effective"], **v["ineffective"]}.items())
        bias = np.mean([data["models"][m]["layers"][rep]["surrogate_bias_N_fixed_r"] for m in data["models"]])
        boot = np.mean([data["models"][m]["layers"][rep]["bootstrap_bias"] for m in data["models"]])
        parts.append(f"{rep}: {vals} (gap {v['gap']:+.3f}; finite-N bias of ν at N={data['N']}: "
                     f"incoherent surrogate {bias:+.3f}, bootstrap {boot:+.3f})")
    table = {m: {rep: {k: e["layers"][rep][k] for k in ("nu_mean", "nu_std", "r", "nu_normalized_mean",
                                                           "nu_init_mean", "nu_rotation_mean", "surrogate_bias_N",
                                                           "surrogate_bias_bigN", "surrogate_bias_N_fixed_r",
                                                           "bootstrap_bias", "bootstrap_bias_sd")}
                 for rep in data["reps"]} | {"train_acc": e["train_acc"], "test_acc": e["test_acc"]}
             for m, e in data["models"].items()}
    details = dict(per_layer=per, table=table, config=data["config"], seconds=data["seconds"], N=data["N"])
    return ClaimResult(id=ID, title=TITLE, paper=PAPER, measured="; ".join(parts), passed=passed,
                       condition=CONDITION, details=details)
