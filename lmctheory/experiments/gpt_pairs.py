"""Independently trained pairs of small GPT-2 language models (the Hugging Face implementation) on a generated
modular-arithmetic sequence task, aligned by every [GLMC] strategy (claim G3, figure 15).

Setup (fixed before any run):

* Data (:func:`modular_sequences`, generated offline, seeded): sequences ``x_1 … x_T`` of tokens uniform in
  ``{0, …, p−1}``; the target at position ``t`` is ``(x_t + x_{t−1}) mod p`` (``x_0 = 0``), so every position is
  predicted from the current and the previous token — position-dependent attention and a modular-addition table
  in the MLP. ``p = 7``, ``T = 6``; 4000 training and 1000 test sequences. Chance level: predicting from the
  current token alone is right at position 1 and with probability ``1/p`` elsewhere (accuracy 29%).
* Model (:func:`make_gpt`): the Hugging Face ``transformers.GPT2LMHeadModel`` built from a ``GPT2Config`` —
  vocabulary ``p`` (nothing else), ``n_positions = T``, ``n_embd`` = width, 2 layers, 4 heads, 4× MLP with the
  tanh-GELU, pre-norm LayerNorm with gain and bias, fused ``Conv1D`` ``c_attn``, read-out tied to the token
  embedding (the GPT-2 default), all dropouts 0, no key/value cache; random initialization of the library
  (normal, std 0.02) under the experiment's seeds, trained here. Inputs are ``{"input_ids": X}``; the alignment
  (:func:`lmctheory.nn.hierarchy.align`, which takes positional inputs) gets the token ids positionally, where
  they bind to ``input_ids``. Width 32 / 48 / 64 (quick: 8 / 16 / 32); AdamW lr 3e-3, weight decay 0.1, batch
  128; 40 epochs (quick: 10).
* Per pair, the per-token test cross-entropy along the linear path for every strategy of
  :data:`lmctheory.experiments.vit_pairs.STRATEGY_CURVES` (LayerNorm gains folded and the stream map restricted
  to ``R·1 = ±1`` above the permutation level, T-S3).
"""

from __future__ import annotations

import time

from ._common import Context, jsonable, run_single_threaded

__all__ = ["modular_sequences", "make_gpt", "config", "train_pair", "collect"]

NAMESPACE = "experiments_gpt_pairs"
VERSION = 2


def modular_sequences(n: int, length: int = 12, p: int = 11, seed: int = 0):
    """``(X, Y)``: ``n`` sequences of ``length`` tokens in ``[0, p)`` and targets ``Y_t = (X_t + X_{t−1}) mod p``
    (``X_0`` counts as 0), both int64 ``(n, length)``; deterministic in ``seed``."""
    import torch

    g = torch.Generator().manual_seed(int(seed))
    X = torch.randint(0, p, (n, length), generator=g)
    prev = torch.cat([torch.zeros(n, 1, dtype=X.dtype), X[:, :-1]], 1)
    return X, (X + prev) % p


def make_gpt(vocab: int, n_positions: int, dim: int, depth: int, heads: int, seed: int):
    """A Hugging Face ``GPT2LMHeadModel`` with random initialization, seeded in a forked RNG (see the module
    docstring): vocabulary ``vocab``, context ``n_positions``, width ``dim``, ``depth`` blocks of ``heads`` heads, no
    dropout, read-out tied to the token embedding, no key/value cache. ``transformers`` comes from
    :func:`lmctheory.nn.thirdparty.import_transformers` (an ``ImportError`` naming the ``test`` extra without it)."""
    import torch

    from .._validation import check_int, check_seed
    from ..nn.thirdparty import import_transformers

    vocab, n_positions = check_int(vocab, "vocab", low=2), check_int(n_positions, "n_positions", low=1)
    dim, depth = check_int(dim, "dim", low=1), check_int(depth, "depth", low=1)
    heads, seed = check_int(heads, "heads", low=1), check_seed(seed)
    if dim % heads:
        raise ValueError(f"dim must be a multiple of heads, got dim={dim}, heads={heads}")
    tr = import_transformers()
    conf = tr.GPT2Config(vocab_size=vocab, n_positions=n_positions, n_embd=dim, n_layer=depth, n_head=heads,
                         resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, use_cache=False, tie_word_embeddings=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return tr.GPT2LMHeadModel(conf)


def config(quick: bool) -> dict:
    """Default sizes (JSON-able; keys the cache)."""
    base = dict(p=7, length=6, n_train=4000, n_test=1000, data_seed=0, depth=2, heads=4, lr=3e-3,
                weight_decay=0.1, batch_size=128, n_lams=11, wm_rounds=5, learned_lr=1e-2, version=VERSION)
    if quick:
        return {**base, "widths": [8, 16, 32], "epochs": 10, "pairs": 1, "learned_steps": 60, "align_rows": 256}
    return {**base, "widths": [32, 48, 64], "epochs": 40, "pairs": 4, "learned_steps": 300, "align_rows": 1000}


def _train(model, X, Y, cfg, seed):
    import torch

    from ..nn._inputs import as_model_inputs, call_model, primary_output

    gen = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    model.train()
    for _ in range(cfg["epochs"]):
        perm = torch.randperm(X.shape[0], generator=gen)
        for s in range(0, X.shape[0], cfg["batch_size"]):
            idx = perm[s:s + cfg["batch_size"]]
            out = primary_output(call_model(model, as_model_inputs({"input_ids": X[idx], "use_cache": False})))
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

    from .vit_pairs import curve_on, measure_strategies

    t0 = time.perf_counter()
    Xtr, Ytr = modular_sequences(cfg["n_train"], cfg["length"], cfg["p"], seed=cfg["data_seed"])
    Xte, Yte = modular_sequences(cfg["n_test"], cfg["length"], cfg["p"], seed=cfg["data_seed"] + 1)
    models = []
    base_seed = 1000 * cfg["seed"] + 2 * cfg["pair"]
    for s in (base_seed + 1, base_seed + 2):
        m = make_gpt(cfg["p"], cfg["length"], cfg["dim"], cfg["depth"], cfg["heads"], seed=s)
        models.append(_train(m, Xtr, Ytr, cfg, s))
    test = {"input_ids": Xte, "use_cache": False}
    ends = curve_on(models[0], models[1], test, Yte, [0.0, 1.0])
    out = {"endpoint_test_acc": ends["acc"], "endpoint_test_loss": ends["loss"]}
    torch.manual_seed(cfg["seed"])
    # align() takes positional inputs only: the token ids bind to GPT2LMHeadModel.forward's first argument, input_ids
    out.update(measure_strategies(models[0], models[1], Xtr, Ytr, test, Yte, cfg))
    out["seconds"] = time.perf_counter() - t0
    return jsonable(out)


def collect(ctx: Context, cfg: dict | None = None) -> dict:
    """Every strategy on GPT-2 pairs at every width (per width: barriers mean ± std, endpoint accuracy)."""
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
           "model": "Hugging Face GPT2LMHeadModel, random init, tied read-out"}
    return jsonable(out)
