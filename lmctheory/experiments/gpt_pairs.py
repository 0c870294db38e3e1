"""Independently trained pairs of small GPT-2-architecture language models on a generated modular-arithmetic
sequence task, aligned by every [GLMC] strategy (claim G3, figure 15).

Setup (fixed before any run):

* Data (:func:`modular_sequences`, generated offline, seeded): sequences ``x_1 … x_T`` of tokens uniform in
  ``{0, …, p−1}``; the target at position ``t`` is ``(x_t + x_{t−1}) mod p`` (``x_0 = 0``), so every position is
  predicted from the current and the previous token — position-dependent attention and a modular-addition table
  in the MLP. ``p = 7``, ``T = 6``; 4000 training and 1000 test sequences. Chance level: predicting from the
  current token alone is right at position 1 and with probability ``1/p`` elsewhere (accuracy 29%).
* Model (:class:`GPT`): GPT-2 layout written in plain PyTorch — token and learned position embeddings, pre-norm
  blocks ``x + c_proj(attn(c_attn(ln_1(x))))`` with causal softmax attention from one fused ``c_attn`` map,
  ``x + c_proj(gelu(c_fc(ln_2(x))))`` with a 4× MLP, final LayerNorm, untied linear read-out; LayerNorm with gain
  and bias as in GPT-2. The symmetry engine now captures the Hugging Face ``GPT2LMHeadModel`` and every
  strategy runs on it (``tests/test_nn_hierarchy.py``, tiny sizes); the measured profiles still use this
  independently written model, which computes the same kind of function (untied read-out, unit-scale
  positions), so that their numbers stay comparable. Width 32 / 48 / 64 (quick: 8 / 16
  / 32), 2 layers, 4 heads, unit-scale learned positions; AdamW lr 3e-3, weight decay 0.1, batch 128; 40 epochs
  (quick: 10; at width 32 the test accuracy plateaus near 43% after 10 epochs and stays there to 40).
* Per pair, the per-token test cross-entropy along the linear path for every strategy of
  :data:`lmctheory.experiments.vit_pairs.STRATEGY_CURVES` (LayerNorm gains folded and the stream map restricted
  to ``R·1 = ±1`` above the permutation level, T-S3).
"""

from __future__ import annotations

import math
import time

from ._common import Context, jsonable, run_single_threaded

__all__ = ["modular_sequences", "make_gpt", "config", "train_pair", "collect"]

NAMESPACE = "experiments_gpt_pairs"
VERSION = 1


def modular_sequences(n: int, length: int = 12, p: int = 11, seed: int = 0):
    """``(X, Y)``: ``n`` sequences of ``length`` tokens in ``[0, p)`` and targets ``Y_t = (X_t + X_{t−1}) mod p``
    (``X_0`` counts as 0), both int64 ``(n, length)``; deterministic in ``seed``."""
    import torch

    g = torch.Generator().manual_seed(int(seed))
    X = torch.randint(0, p, (n, length), generator=g)
    prev = torch.cat([torch.zeros(n, 1, dtype=X.dtype), X[:, :-1]], 1)
    return X, (X + prev) % p


_CLASSES = {}


def _gpt_classes():
    """The model classes, defined once (two models of a pair must share their classes to trace alike)."""
    if _CLASSES:
        return _CLASSES["GPT"]
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, dim, heads, n_positions):
            super().__init__()
            self.heads = heads
            self.ln_1 = nn.LayerNorm(dim)
            self.c_attn = nn.Linear(dim, 3 * dim)
            self.c_proj = nn.Linear(dim, dim)
            self.ln_2 = nn.LayerNorm(dim)
            self.c_fc = nn.Linear(dim, 4 * dim)
            self.mlp_proj = nn.Linear(4 * dim, dim)
            # True above the diagonal: the future positions a token may not attend to
            self.register_buffer("future", ~torch.tril(torch.ones(n_positions, n_positions, dtype=torch.bool)))

        def forward(self, x):
            n, t, d = x.shape
            h = self.heads
            q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
            q = q.view(n, t, h, d // h).transpose(1, 2)
            k = k.view(n, t, h, d // h).transpose(1, 2)
            v = v.view(n, t, h, d // h).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d // h))
            att = att.masked_fill(self.future, -1e4)  # finite: exp(−1e4) underflows to 0.softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(n, t, d)
            x = x + self.c_proj(y)
            return x + self.mlp_proj(nn.functional.gelu(self.c_fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self, vocab, n_positions, dim, depth, heads):
            super().__init__()
            self.wte = nn.Embedding(vocab, dim)
            self.wpe = nn.Parameter(torch.randn(1, n_positions, dim))  # unit scale: positions distinct from the start
            self.h = nn.ModuleList([Block(dim, heads, n_positions) for _ in range(depth)])
            self.ln_f = nn.LayerNorm(dim)
            self.lm_head = nn.Linear(dim, vocab, bias=False)

        def forward(self, idx):
            x = self.wte(idx) + self.wpe  # sequences have the full length n_positions
            for blk in self.h:
                x = blk(x)
            return self.lm_head(self.ln_f(x))

    _CLASSES["GPT"] = GPT
    return GPT


def make_gpt(vocab: int, n_positions: int, dim: int, depth: int, heads: int, seed: int):
    """A GPT-2-layout causal language model (see the module docstring) for sequences of exactly ``n_positions``
    tokens, seeded in a forked RNG."""
    import torch

    GPT = _gpt_classes()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return GPT(vocab, n_positions, dim, depth, heads)


def config(quick: bool) -> dict:
    """Default sizes (JSON-able; keys the cache)."""
    base = dict(p=7, length=6, n_train=4000, n_test=1000, data_seed=0, depth=2, heads=4, lr=3e-3,
                weight_decay=0.1, batch_size=128, n_lams=11, wm_rounds=5, learned_lr=1e-2, version=VERSION)
    if quick:
        return {**base, "widths": [8, 16, 32], "epochs": 10, "pairs": 1, "learned_steps": 60, "align_rows": 256}
    return {**base, "widths": [32, 48, 64], "epochs": 40, "pairs": 4, "learned_steps": 300, "align_rows": 1000}


def _train(model, X, Y, cfg, seed):
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    model.train()
    for _ in range(cfg["epochs"]):
        perm = torch.randperm(X.shape[0], generator=gen)
        for s in range(0, X.shape[0], cfg["batch_size"]):
            idx = perm[s:s + cfg["batch_size"]]
            out = model(X[idx])
            loss = torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), Y[idx].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


def train_pair(cfg: dict) -> dict:
    """Train the two models of pair ``cfg["pair"]`` at width ``cfg["dim"]`` and measure every strategy."""
    return run_single_threaded(_train_pair, cfg)


def _train_pair(cfg: dict) -> dict:
    import torch

    from .vit_pairs import _curve_on, measure_strategies

    t0 = time.perf_counter()
    Xtr, Ytr = modular_sequences(cfg["n_train"], cfg["length"], cfg["p"], seed=cfg["data_seed"])
    Xte, Yte = modular_sequences(cfg["n_test"], cfg["length"], cfg["p"], seed=cfg["data_seed"] + 1)
    models = []
    base_seed = 1000 * cfg["seed"] + 2 * cfg["pair"]
    for s in (base_seed + 1, base_seed + 2):
        m = make_gpt(cfg["p"], cfg["length"], cfg["dim"], cfg["depth"], cfg["heads"], seed=s)
        models.append(_train(m, Xtr, Ytr, cfg, s))
    ends = _curve_on(models[0], models[1], Xte, Yte, [0.0, 1.0])
    out = {"endpoint_test_acc": ends["acc"], "endpoint_test_loss": ends["loss"]}
    torch.manual_seed(cfg["seed"])
    out.update(measure_strategies(models[0], models[1], Xtr, Ytr, Xte, Yte, cfg))
    out["seconds"] = time.perf_counter() - t0
    return jsonable(out)


def collect(ctx: Context, cfg: dict | None = None) -> dict:
    """Every strategy on GPT-2-layout pairs at every width (per width: barriers mean ± std, endpoint accuracy)."""
    from ..sweep import run_jobs
    from .vit_pairs import summarize_strategies

    cfg = config(ctx.quick) if cfg is None else cfg
    t0 = time.perf_counter()
    keys = [k for k in cfg if k not in ("widths", "pairs")]
    jobs = [{**{k: cfg[k] for k in keys}, "dim": w, "pair": p, "seed": ctx.seed}
            for w in cfg["widths"] for p in range(cfg["pairs"])]
    res = run_jobs(train_pair, jobs, namespace=NAMESPACE, cache_root=ctx.cache_root, client=ctx.client,
                   kind="json", desc="GPT strategies", progress=ctx.progress, max_workers=ctx.max_workers)
    by = {w: [r for r, j in zip(res, jobs) if j["dim"] == w] for w in cfg["widths"]}
    out = {"config": cfg, "widths": summarize_strategies(by), "seconds": time.perf_counter() - t0,
           "model": "GPT-2 layout written in plain PyTorch (independently of the Hugging Face GPT2LMHeadModel)"}
    return jsonable(out)
