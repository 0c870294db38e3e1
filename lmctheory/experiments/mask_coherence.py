"""Subspace coherence and symmetry breaking by masks: teacher–student students with ``F = 0`` ([NI] Q4, Fig. 6, App. F.5).

The experiment behind ``paper_checks`` C4 and figure 7: :func:`config` (default sizes), :func:`collect`
(train and interpolate every (embedding, ``m``); cached per job by :func:`lmctheory.sweep.run_jobs`).

Setup ([NI] F.5, already CPU-sized; docs/experiments.md "Coherence teacher–student")
    Latent ``z ~ N(0, I_2)``, target ``relu(z_1 + z_2)``, loss MSE.  Embedding into ``R^{2c}``
    (``c = 10``) with ``m`` active slots per latent coordinate, coherence ``ν = 1/m``:
    "copy" puts ``z_l/√m`` on ``m`` slots of its own; "frame" puts ``R(θ_j) z/√m`` on the slot pair
    ``(π(2j−1), π(2j))`` for ``j = 1…m`` (permutation ``π`` and angles ``θ_j`` drawn once, reused for all
    ``m``).  Both embeddings are isometries (``EᵀE = I_2``) with ``ν(E) = 1/m`` exactly.
    One fixed data draw (1024 train / 2048 test latents) is shared by all ``m`` and embeddings.
    Student: one hidden ReLU layer of width 128, ``W̃ = D ⊙ W`` with ``D_ij ~ Bernoulli(0.15)``
    (read literally: an entry is *kept* with probability 0.15, ``F = 0``), hidden bias trained and
    initialized to 0, hidden weights ``N(0, 1/2c)``, output weights fixed to 1 (no output bias).
    AdamW (lr 1e-2, wd 1e-2, decoupled decay on every trained tensor), batch 512, 100 epochs.
    Each outer seed draws one mask (the architecture, shared by both models of a pair); each pair
    draws two independent initializations and data orders.  Interpolation at 21 points
    ``λ ∈ {0, 0.05, …, 1}`` of the trained parameters; pair-level midpoint barrier
    ``B = L_test(θ_½) − (L_test(θ_0) + L_test(θ_1))/2`` (MSE on the 2048 test points).
    Paper: 5 outer seeds × 10 pairs, ``m = 1…10``.  Full mode here: the same.
    Quick: ``m ∈ {1, 2, 5, 10}``, 2 outer seeds × 3 pairs, 60 epochs.

    Implementation note: all models of one (embedding, ``m``) job train *together* as one batched
    tensor (``einsum`` over a model axis).  AdamW is elementwise and the loss is a sum over models, so
    this is exactly independent training of each model (own init, own data order), only faster.
"""

from __future__ import annotations

import math
import time

import numpy as np

__all__ = ["EMBEDDINGS", "config", "collect", "dataset", "mask", "train_students"]

EMBEDDINGS = ("copy", "frame")
NAMESPACE = "experiments_mask_coherence"
VERSION = 1


def config(quick: bool) -> dict:
    """Default sizes: quick (figure 7, ``paper_checks --quick``) or full mode (JSON-able; its hash keys the cache)."""
    base = dict(
        c=10,
        width=128,
        keep_prob=0.15,
        lr=1e-2,
        weight_decay=1e-2,
        batch_size=512,
        n_train=1024,
        n_test=2048,
        n_lams=21,
        embeddings=list(EMBEDDINGS),
        version=VERSION,
    )
    if quick:
        base.update(ms=[1, 2, 5, 10], n_outer=2, n_pairs=3, epochs=60)
    else:
        base.update(ms=list(range(1, 11)), n_outer=5, n_pairs=10, epochs=100)
    return base


# --------------------------------------------------------------------------------------------
# data and masks (the torch bridge's generators)
def dataset(c: int, m: int, embedding: str, n_train: int, n_test: int, seed: int):
    """``lmctheory.nn.data.teacher_student``: latents depend on ``seed`` only (shared across ``m``)."""
    from ..nn.data import teacher_student

    return teacher_student(c=c, m=m, embedding=embedding, n_train=n_train, n_test=n_test, seed=seed)


def mask(width: int, d: int, keep_prob: float, mask_seed: int) -> np.ndarray:
    """``D ~ Bernoulli(keep_prob)`` of :class:`lmctheory.nn.AsymmetricLinear` mode ``sparse``."""
    from ..nn import AsymmetricLinear

    return AsymmetricLinear(d, width, "sparse", keep_prob=keep_prob, mask_seed=mask_seed).export()[2]


# --------------------------------------------------------------------------------------------
# batched students
def _forward(X, W, b):
    """``X``: (B, d) or (M, B, d); ``W``: (M, n, d) effective weights; ``b``: (M, n) → (M, B)."""
    import torch

    if X.dim() == 2:
        pre = torch.einsum("bd,mnd->mbn", X, W)
    else:
        pre = torch.einsum("mbd,mnd->mbn", X, W)
    return torch.relu(pre + b[:, None, :]).sum(-1)


def _mse(X, y, W, b):
    return ((_forward(X, W, b) - y) ** 2).mean(-1)


def train_students(X, y, masks, seeds, *, width, lr, weight_decay, epochs, batch_size):
    """Train ``M`` independent students at once; returns effective weights (M, n, d) and biases (M, n)."""
    import torch

    M, n, d = masks.shape
    W0 = np.stack([np.random.default_rng([s, 1]).standard_normal((n, d)) / math.sqrt(d) for s in seeds])
    W = torch.tensor(W0, dtype=torch.float32, requires_grad=True)
    b = torch.zeros((M, n), dtype=torch.float32, requires_grad=True)
    D = torch.as_tensor(masks, dtype=torch.float32)
    Xt = torch.as_tensor(X, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32)
    opt = torch.optim.AdamW([W, b], lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(int(seeds[0]) * 7919 + M)
    N = Xt.shape[0]
    for _ in range(epochs):
        order = torch.argsort(torch.rand(M, N, generator=gen), dim=1)  # own data order per model
        for start in range(0, N, batch_size):
            sel = order[:, start:start + batch_size]
            xb, yb = Xt[sel], yt[sel]  # (M, B, d), (M, B)
            loss = ((_forward(xb, W * D, b) - yb) ** 2).mean(-1).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        return (W * D).detach().numpy().astype(np.float64), b.detach().numpy().astype(np.float64)


def _job(cfg: dict) -> dict:
    """Sweep job (module-level, picklable): one BLAS/torch thread, whatever pool runs it."""
    from ._common import run_single_threaded

    return run_single_threaded(_job_impl, cfg)


def _job_impl(cfg: dict) -> dict:
    """One (embedding, m): all outer seeds × pairs, trained together; barriers per pair."""
    import torch

    torch.set_num_threads(1)
    c, m, width = cfg["c"], cfg["m"], cfg["width"]
    d = 2 * c
    ds = dataset(c, m, cfg["embedding"], cfg["n_train"], cfg["n_test"], cfg["seed"])
    E = ds.basis
    X_tr, y_tr = ds.X_train.double().numpy(), ds.y_train.double().numpy()
    X_te, y_te = ds.X_test.double().numpy(), ds.y_test.double().numpy()
    masks, seeds = [], []
    for o in range(cfg["n_outer"]):
        D = mask(width, d, cfg["keep_prob"], 1000 * cfg["seed"] + o)
        for p in range(cfg["n_pairs"]):
            for e in range(2):
                masks.append(D)
                seeds.append(int(1_000_000 * (cfg["seed"] + 1) + 10_000 * o + 10 * p + e))
    masks = np.stack(masks)
    W, b = train_students(
        X_tr, y_tr, masks, seeds, width=width, lr=cfg["lr"], weight_decay=cfg["weight_decay"],
        epochs=cfg["epochs"], batch_size=cfg["batch_size"],
    )
    lams = np.linspace(0.0, 1.0, cfg["n_lams"])
    Wa, Wb, ba, bb = W[0::2], W[1::2], b[0::2], b[1::2]
    Xte = torch.as_tensor(X_te, dtype=torch.float64)
    yte = torch.as_tensor(y_te, dtype=torch.float64)
    Xtr = torch.as_tensor(X_tr, dtype=torch.float64)
    ytr = torch.as_tensor(y_tr, dtype=torch.float64)
    curves_te, curves_tr = [], []
    with torch.no_grad():
        for lam in lams:
            Wl = torch.as_tensor((1 - lam) * Wa + lam * Wb)
            bl = torch.as_tensor((1 - lam) * ba + lam * bb)
            curves_te.append(_mse(Xte, yte, Wl, bl).numpy())
            curves_tr.append(_mse(Xtr, ytr, Wl, bl).numpy())
    curves_te = np.stack(curves_te, axis=1)  # (pairs, lams)
    curves_tr = np.stack(curves_tr, axis=1)
    chord_te = (1 - lams)[None] * curves_te[:, :1] + lams[None] * curves_te[:, -1:]
    mid = cfg["n_lams"] // 2
    barrier_mid = curves_te[:, mid] - 0.5 * (curves_te[:, 0] + curves_te[:, -1])
    barrier_max = (curves_te - chord_te).max(axis=1)
    barrier_mid_tr = curves_tr[:, mid] - 0.5 * (curves_tr[:, 0] + curves_tr[:, -1])
    # Gram anisotropy of the mask on this support (T-4.4): spread of S_i's eigenvalues around μ
    S = np.einsum("jk,nj,jl->nkl", E, masks[0::2 * cfg["n_pairs"]].reshape(-1, d), E)
    eig = np.linalg.eigvalsh(S)
    return dict(
        embedding=cfg["embedding"],
        m=m,
        nu=1.0 / m,
        lams=lams.tolist(),
        barrier_mid=barrier_mid.tolist(),
        barrier_max=barrier_max.tolist(),
        barrier_mid_train=barrier_mid_tr.tolist(),
        endpoint_loss=np.concatenate([curves_te[:, 0], curves_te[:, -1]]).tolist(),
        endpoint_loss_train=np.concatenate([curves_tr[:, 0], curves_tr[:, -1]]).tolist(),
        curve_mean=curves_te.mean(0).tolist(),
        curve_std=curves_te.std(0).tolist(),
        target_var=float(np.var(y_te)),
        gram_dev_mean=float(np.abs(eig - cfg["keep_prob"]).max(axis=1).mean()),
        gram_rank_deficient=float((eig.min(axis=1) < 1e-12).mean()),
    )


def collect(ctx, cfg: dict | None = None) -> dict:
    """Train and interpolate every (embedding, m); return the plotted arrays (barrier vs ν, [NI] Fig. 6).

    Layout (JSON): ``{"config", "seconds", "embeddings"}``; ``embeddings["copy" | "frame"]`` has, per
    ``m`` (ascending; ``nu = 1/m``): ``barrier_mean``, ``barrier_std``, ``barrier_sem`` (test MSE
    midpoint barrier over all pairs), ``barrier_pairs`` (pair-level values), ``barrier_max_mean``,
    ``barrier_train_mean``, ``endpoint_loss_mean/std`` (test MSE of the endpoints),
    ``endpoint_loss_train_mean``, ``curve_mean/std`` (test MSE along ``lams``), ``gram_dev_mean``
    (mean ``max_k |eig(S_i) − p|``) and ``gram_rank_deficient`` (fraction of neurons with singular
    ``S_i``); plus ``target_var``.
    """
    from ..sweep import run_jobs

    cfg = dict(config(ctx.quick) if cfg is None else cfg)
    jobs = [
        {**{k: v for k, v in cfg.items() if k not in ("ms", "embeddings")}, "embedding": e, "m": m, "seed": ctx.seed}
        for e in cfg["embeddings"] for m in cfg["ms"]
    ]
    t0 = time.perf_counter()
    res = run_jobs(_job, jobs, namespace=NAMESPACE, cache_root=ctx.cache_root, client=ctx.client,
                   kind="json", desc="C4 coherence", progress=ctx.progress, max_workers=ctx.max_workers)
    out = {"config": cfg, "seconds": time.perf_counter() - t0, "embeddings": {}}
    for e in cfg["embeddings"]:
        rows = [r for r in res if r["embedding"] == e]
        rows.sort(key=lambda r: r["m"])
        bm = [np.asarray(r["barrier_mid"]) for r in rows]
        el = [np.asarray(r["endpoint_loss"]) for r in rows]
        out["embeddings"][e] = dict(
            m=[r["m"] for r in rows],
            nu=[r["nu"] for r in rows],
            barrier_mean=[float(x.mean()) for x in bm],
            barrier_std=[float(x.std()) for x in bm],
            barrier_sem=[float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else float("nan") for x in bm],
            barrier_max_mean=[float(np.mean(r["barrier_max"])) for r in rows],
            barrier_train_mean=[float(np.mean(r["barrier_mid_train"])) for r in rows],
            endpoint_loss_mean=[float(x.mean()) for x in el],
            endpoint_loss_std=[float(x.std()) for x in el],
            endpoint_loss_train_mean=[float(np.mean(r["endpoint_loss_train"])) for r in rows],
            target_var=rows[0]["target_var"],
            gram_dev_mean=[r["gram_dev_mean"] for r in rows],
            gram_rank_deficient=[r["gram_rank_deficient"] for r in rows],
            lams=rows[0]["lams"],
            curve_mean=[r["curve_mean"] for r in rows],
            curve_std=[r["curve_std"] for r in rows],
            barrier_pairs=[r["barrier_mid"] for r in rows],
        )
    return out
