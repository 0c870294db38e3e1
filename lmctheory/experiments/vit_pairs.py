"""Independently trained pairs of small ViTs on digits: interpolation without alignment, after permutation
alignment, and after permutation + orthogonal residual-stream alignment ([NI] App. G.4, [GLMC]).

The experiment behind ``paper_checks`` C11 and G1 and figure 14. One job, :func:`train_pair`, trains a pair
of one variant and measures it; :func:`collect` runs every variant over its pairs.

Setup (CPU scale of docs/experiments.md#ni-resnets; claims docs/experiments.md#c11, #g1; fixed before any run):

* Data: scikit-learn digits (8×8, 1 channel), the package's fixed train/test split (``data_seed = 0``).
* Model (:func:`lmctheory.nn.vit.make_vit`): 2×2 patches (16 tokens), width 32, depth 2, 4 heads, MLP ratio 2,
  pre-norm, mean over tokens, linear head. AdamW lr 1e-3, weight decay 1e-2, batch 128; 30 epochs (quick) or 60
  (full); 3 pairs (quick) or 8 (full). The two models of pair ``p`` have seeds ``1000·seed + 2p + 1``,
  ``… + 2`` and share every mask/fixed weight (``mask_seed = seed + 7``: masks are architecture).
* Variants (:data:`VARIANTS`): LayerNorm models as in [NI] G.4 — ``standard``; ``wvit_zero``: every linear
  map W-asymmetric with ``m = round(0.25·fan_in)`` fixed entries per row, fixed values 0 ("masking alone");
  ``wvit_fixed``: the same masks with fixed values ``κ·N(0, 1)/√fan_in``, ``κ = 2`` (:data:`KAPPA`). The scale is
  chosen a priori, not tuned: ``κ = 2`` is the fixed-weight scale of the [NI] W-ResNet setup,
  and dividing by ``√fan_in`` gives every map fixed entries on the scale of its trainable weights at
  initialization (``U(±1/√fan_in)``) — a constant ``σ_F = 1`` would be 5.7× the trainable scale in the
  width-32 maps and degrades accuracy ([NI] G.4 also reports larger scales are hard to train). The fixed part
  of a row then has norm ``κ·√0.25 = 1``, about 1.7× a trainable row at initialization (center-dominated).
  And ``rms_standard``: a standard ViT with gainless RMSNorm (T-S3), the [GLMC] variant.
* Per pair, on the test set (11 points ``λ ∈ [0, 1]``): the unaligned curve; the permutation-aligned curve
  (both models made standard by :func:`~lmctheory.nn.matching.to_standard`, B's residual stream, heads and MLP
  units matched to A's by :func:`~lmctheory.nn.matching.activation_match` on the training set, every token a
  sample); and the permutation + orthogonal curve (then :func:`~lmctheory.nn.orthogonal.orthogonal_align` of the
  stream, Procrustes on the training set; for the LayerNorm variants with the norm's gain/bias folded into the
  linear maps reading it and ``Q`` restricted to ``Q·1 = ±1``, T-S3 — reported only, G1 judges ``rms_standard``).
  For ``rms_standard`` also the whole [GLMC] hierarchy (:func:`lmctheory.nn.hierarchy.align`): weight matching
  ("hier") and learned matching from it ("learned", :data:`LEARNED_STEPS` steps).
  Reported per curve: the midpoint test-accuracy drop (pp), the loss barrier ``B_lin``, and the endpoint
  train/test accuracies of every model.
"""

from __future__ import annotations

import time

import numpy as np

from ._common import Context, curve_stats, jsonable, run_single_threaded

__all__ = ["VARIANTS", "KAPPA", "FIXED_FRACTION", "config", "train_pair", "pair_configs", "collect", "STRATEGY_CURVES",
           "measure_strategies", "strategies_config", "strategies_pair", "summarize_strategies", "collect_strategies"]

NAMESPACE = "experiments_vit_pairs"
VERSION = 2
KAPPA = 2.0
FIXED_FRACTION = 0.25
#: (label, kind, κ, norm, orthogonal alignment)
VARIANTS = (("standard", "standard", 0.0, "layernorm", True),
            ("wvit_zero", "wasym", 0.0, "layernorm", True),
            ("wvit_fixed", "wasym", KAPPA, "layernorm", True),
            ("rms_standard", "standard", 0.0, "rmsnorm", True))
CURVES = ("unaligned", "perm", "orth", "hier", "learned")
#: learned-matching steps of the "learned" curve (RMSNorm variant only)
LEARNED_STEPS = 100


def config(quick: bool) -> dict:
    """Default sizes: quick (figure 14, ``paper_checks --quick``) or full mode (JSON-able; keys the cache)."""
    base = dict(dataset="digits", data_seed=0, patch=2, dim=32, depth=2, heads=4, mlp_ratio=2.0,
                fixed_fraction=FIXED_FRACTION, lr=1e-3, weight_decay=1e-2, batch_size=128, n_lams=11,
                variants=[v[0] for v in VARIANTS], version=VERSION)
    if quick:
        return {**base, "epochs": 30, "pairs": 3}
    return {**base, "epochs": 60, "pairs": 8}


def _job(cfg: dict) -> dict:
    return run_single_threaded(_train_pair, cfg)


def train_pair(cfg: dict) -> dict:
    """Train the two models of pair ``cfg["pair"]`` of one variant and measure their curves (JSON-able)."""
    return _job(cfg)


def _train_pair(cfg: dict) -> dict:
    from ..nn import activation_match, data, evaluate, interpolate, permute_model, to_standard, train
    from ..nn.orthogonal import orthogonal_align
    from ..nn.vit import make_vit

    t0 = time.perf_counter()
    if cfg["dataset"] != "digits":
        raise ValueError(f"unknown dataset {cfg['dataset']!r}")
    ds = data.digits(seed=cfg["data_seed"])
    models, losses = [], []
    base_seed = 1000 * cfg["seed"] + 2 * cfg["pair"]
    for s in (base_seed + 1, base_seed + 2):
        m = make_vit(8, 1, ds.n_classes, patch=cfg["patch"], dim=cfg["dim"], depth=cfg["depth"], heads=cfg["heads"],
                     mlp_ratio=cfg["mlp_ratio"], kind=cfg["kind"], sigma_f=cfg["kappa"], sigma_scale="fan_in",
                     fixed_fraction=cfg["fixed_fraction"], norm=cfg["norm"], mask_seed=cfg["seed"] + 7, seed=s)
        h = train(m, ds.X_train, ds.y_train, epochs=cfg["epochs"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                  batch_size=cfg["batch_size"], seed=s)
        models.append(m.eval())
        losses.append(h["loss"][-1])
    a, b = models
    lams = np.linspace(0.0, 1.0, cfg["n_lams"])
    out = {"train_loss_final": losses,
           "endpoint_train_acc": [evaluate(m, ds.X_train, ds.y_train)[1] for m in models],
           "endpoint_test_acc": [evaluate(m, ds.X_test, ds.y_test)[1] for m in models]}
    out["unaligned"] = interpolate(a, b, ds.X_test, ds.y_test, lams=lams).to_dict()
    a_s, b_s = to_standard(a), to_standard(b)
    t1 = time.perf_counter()
    match = activation_match(a_s, b_s, ds.X_train, seed=cfg["seed"])
    b_p = permute_model(b_s, match)
    out["perm"] = interpolate(a_s, b_p, ds.X_test, ds.y_test, lams=lams).to_dict()
    out["match_seconds"] = time.perf_counter() - t1
    out["identity_over_optimal"] = {g: r.objective_identity / r.objective_optimal for g, r in match.results.items()}
    if cfg["orthogonal"]:
        t1 = time.perf_counter()
        b_o, info = orthogonal_align(a_s, b_p, ds.X_train)
        out["orth"] = interpolate(info.model_a, b_o, ds.X_test, ds.y_test, lams=lams).to_dict()
        out["orth_seconds"] = time.perf_counter() - t1
        out["procrustes_residual_before"] = info.residual_before
        out["procrustes_residual_after"] = info.residual_after
        out["orth_function_change"] = info.function_change
        # how far Q is from a signed permutation (1.0): mean over rows of the largest |entry|
        out["orth_max_abs_entry_mean"] = float(np.abs(info.Q).max(axis=1).mean())
    if cfg["norm"] == "rmsnorm":  # the whole [GLMC] hierarchy: weight matching, then learned matching from it
        from ..nn.hierarchy import align

        for key, strategy in (("hier", "weight"), ("learned", "learned")):
            t1 = time.perf_counter()
            b_h, rep = align(a, b, ds.X_train, strategy=strategy, level="hierarchy", y=ds.y_train,
                             steps=LEARNED_STEPS, seed=cfg["seed"])
            out[key] = interpolate(rep.model_a, b_h, ds.X_test, ds.y_test, lams=lams).to_dict()
            out[f"{key}_seconds"] = time.perf_counter() - t1
    out["seconds"] = time.perf_counter() - t0
    return jsonable(out)


def pair_configs(cfg: dict, variant: tuple, seed: int) -> list[dict]:
    label, kind, kappa, norm, orth = variant
    keys = ("dataset", "data_seed", "patch", "dim", "depth", "heads", "mlp_ratio", "fixed_fraction", "epochs", "lr",
            "weight_decay", "batch_size", "n_lams", "version")
    base = {k: cfg[k] for k in keys}
    return [{**base, "kind": kind, "kappa": float(kappa), "norm": norm, "orthogonal": bool(orth), "pair": p,
             "seed": seed} for p in range(cfg["pairs"])]


def collect(ctx: Context, cfg: dict | None = None) -> dict:
    """Per variant (``cfg["variants"]``): curves (mean ± std over pairs) unaligned / permutation-aligned /
    (RMSNorm) permutation + orthogonal, midpoint drops, loss barriers, endpoint accuracies, timings."""
    from ..sweep import run_jobs

    cfg = config(ctx.quick) if cfg is None else cfg
    chosen = [v for v in VARIANTS if v[0] in cfg["variants"]]
    t0 = time.perf_counter()
    jobs, owner = [], []
    for v in chosen:
        for c in pair_configs(cfg, v, ctx.seed):
            jobs.append(c)
            owner.append(v[0])
    res = run_jobs(train_pair, jobs, namespace=NAMESPACE, cache_root=ctx.cache_root, client=ctx.client,
                   kind="json", desc="ViT pairs", progress=ctx.progress, max_workers=ctx.max_workers)
    out = {"config": cfg, "variants": {}}
    for label, kind, kappa, norm, orth in chosen:
        runs = [r for r, o in zip(res, owner) if o == label]
        v = {"kind": kind, "kappa": kappa, "norm": norm,
             "endpoint_test_acc": [a for r in runs for a in r["endpoint_test_acc"]],
             "endpoint_train_acc": [a for r in runs for a in r["endpoint_train_acc"]],
             "job_seconds": [r["seconds"] for r in runs]}
        for c in CURVES:
            if c in runs[0]:
                v[c] = curve_stats(runs, c)
        if orth:
            v["procrustes_residual_before"] = [r["procrustes_residual_before"] for r in runs]
            v["procrustes_residual_after"] = [r["procrustes_residual_after"] for r in runs]
            v["orth_max_abs_entry_mean"] = [r["orth_max_abs_entry_mean"] for r in runs]
        out["variants"][label] = v
    out["seconds"] = time.perf_counter() - t0
    return jsonable(out)


# -------------------------------------------------------------------------------------------------
# [GLMC] strategies over the whole hierarchy (claims G2, G3; figure 15)
# -------------------------------------------------------------------------------------------------
#: (label, strategy, level) of every measured curve; ``vanilla`` is the unaligned pair.
STRATEGY_CURVES = (("vanilla", None, None),
                   ("activation", "activation", "permutation"),
                   ("weight_perm", "weight", "permutation"),
                   ("weight", "weight", "hierarchy"),
                   ("learned_perm", "learned", "permutation"),
                   ("learned", "learned", "hierarchy"))
STRATEGIES_NAMESPACE = "experiments_vit_strategies"
STRATEGIES_VERSION = 1


def curve_on(model_a, model_b, X, y, lams, batch=512):
    """Loss (mean cross-entropy per sample, or per token for ``(N, T, V)`` outputs) and accuracy along the linear
    path, with the barriers of :func:`lmctheory.nn.training.barriers`; ``X`` any model inputs (a tensor, a tuple, or
    a dict of keyword inputs such as ``{"input_ids": …}``)."""
    import torch

    from ..nn._inputs import as_model_inputs, call_model, primary_output
    from ..nn.training import barriers, interpolate_state_dicts

    sa, sb = model_a.state_dict(), model_b.state_dict()
    net = __import__("copy").deepcopy(model_a).eval()
    inputs = as_model_inputs(X, "X", net)
    loss, acc = [], []
    for lam in lams:
        net.load_state_dict(interpolate_state_dicts(sa, sb, float(lam)))
        tot, cor, n = 0.0, 0.0, 0
        with torch.no_grad():
            for s in range(0, inputs.batch_size, batch):
                out = primary_output(call_model(net, inputs.rows(slice(s, s + batch))))
                t = y[s:s + batch]
                out, t = out.reshape(-1, out.shape[-1]), t.reshape(-1)
                tot += float(torch.nn.functional.cross_entropy(out, t, reduction="sum"))
                cor += float((out.argmax(-1) == t).sum())
                n += t.numel()
        loss.append(tot / n)
        acc.append(cor / n)
    out = {"lams": [float(v) for v in lams], "loss": loss, "acc": acc, **barriers(lams, loss, acc)}
    mid = int(np.argmin(np.abs(np.asarray(lams) - 0.5)))
    out["midpoint_acc_drop"] = float(100 * ((acc[0] + acc[-1]) / 2 - acc[mid]))
    out["midpoint_loss_barrier"] = float(loss[mid] - (loss[0] + loss[-1]) / 2)
    return out


def measure_strategies(a, b, X_train, y_train, X_test, y_test, cfg: dict) -> dict:
    """Per strategy of :data:`STRATEGY_CURVES`: the test curve between A and B aligned by
    :func:`lmctheory.nn.hierarchy.align` (``cfg``: ``n_lams``, ``seed``, ``learned_steps``, ``learned_lr``,
    ``wm_rounds``), the alignment's seconds, function change and per-level report. ``X_train`` is passed
    positionally (a tensor or tuple: :func:`~lmctheory.nn.hierarchy.align` takes no keyword inputs); ``X_test`` may
    be any model inputs, a dict of keyword inputs included."""
    from ..nn.hierarchy import align

    lams = np.linspace(0.0, 1.0, cfg["n_lams"])
    out = {}
    for label, strategy, level in STRATEGY_CURVES:
        t1 = time.perf_counter()
        if strategy is None:
            ma, mb, rep = a, b, None
        else:
            n = cfg.get("align_rows", 512) if strategy == "activation" else X_train.shape[0]
            mb, rep = align(a, b, X_train[:n], strategy=strategy, level=level, y=y_train[:n], rounds=cfg["wm_rounds"],
                            steps=cfg["learned_steps"], lr=cfg["learned_lr"], seed=cfg["seed"])
            ma = rep.model_a
        secs = time.perf_counter() - t1
        out[label] = curve_on(ma, mb, X_test, y_test, lams)
        out[label]["align_seconds"] = secs
        if rep is not None:
            out[label]["function_change"] = rep.function_change
            out[label]["steps"] = rep.steps
    return out


def strategies_config(quick: bool) -> dict:
    """ViT pairs over widths for the strategy comparison (G2, figure 15; JSON-able, keys the cache)."""
    base = dict(dataset="digits", data_seed=0, patch=2, depth=2, heads=4, mlp_ratio=2.0, norm="rmsnorm", lr=1e-3,
                weight_decay=1e-2, batch_size=128, n_lams=11, wm_rounds=5, learned_lr=1e-2,
                version=STRATEGIES_VERSION)
    if quick:
        return {**base, "widths": [8, 16, 32], "epochs": 15, "pairs": 1, "learned_steps": 60, "align_rows": 256}
    return {**base, "widths": [32, 64, 128], "epochs": 60, "pairs": 4, "learned_steps": 300}


def strategies_pair(cfg: dict) -> dict:
    """Train one ViT pair of width ``cfg["dim"]`` and measure every strategy (JSON-able)."""
    return run_single_threaded(_strategies_pair, cfg)


def _strategies_pair(cfg: dict) -> dict:
    import torch

    from ..nn import data, evaluate, train
    from ..nn.vit import make_vit

    t0 = time.perf_counter()
    ds = data.digits(seed=cfg["data_seed"])
    models = []
    base_seed = 1000 * cfg["seed"] + 2 * cfg["pair"]
    for s in (base_seed + 1, base_seed + 2):
        m = make_vit(8, 1, ds.n_classes, patch=cfg["patch"], dim=cfg["dim"], depth=cfg["depth"], heads=cfg["heads"],
                     mlp_ratio=cfg["mlp_ratio"], norm=cfg["norm"], seed=s)
        train(m, ds.X_train, ds.y_train, epochs=cfg["epochs"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
              batch_size=cfg["batch_size"], seed=s)
        models.append(m.eval())
    out = {"endpoint_test_acc": [evaluate(m, ds.X_test, ds.y_test)[1] for m in models]}
    torch.manual_seed(cfg["seed"])
    out.update(measure_strategies(models[0], models[1], ds.X_train, ds.y_train, ds.X_test, ds.y_test, cfg))
    out["seconds"] = time.perf_counter() - t0
    return jsonable(out)


def summarize_strategies(runs_by_width: dict) -> dict:
    """Per width: per strategy the barriers over pairs (mean ± std) and the endpoint accuracies."""
    from ._common import mean_std

    out = {}
    for w, runs in runs_by_width.items():
        row = {"endpoint_test_acc": [a for r in runs for a in r["endpoint_test_acc"]]}
        for label, _, _ in STRATEGY_CURVES:
            bl = [r[label]["barrier_lin"] for r in runs]
            dr = [r[label]["midpoint_acc_drop"] for r in runs]
            row[label] = {"loss_barrier_lin": bl, "loss_barrier_lin_mean": mean_std(bl)[0],
                          "loss_barrier_lin_std": mean_std(bl)[1], "midpoint_acc_drop_mean": mean_std(dr)[0],
                          "align_seconds_mean": mean_std([r[label]["align_seconds"] for r in runs])[0],
                          "loss_mean": np.mean([r[label]["loss"] for r in runs], 0).tolist(),
                          "lams": runs[0][label]["lams"]}
        out[str(w)] = row
    return out


def collect_strategies(ctx: Context, cfg: dict | None = None) -> dict:
    """Every strategy on ViT pairs at every width of ``cfg`` (default :func:`strategies_config`)."""
    from ..sweep import run_jobs

    cfg = strategies_config(ctx.quick) if cfg is None else cfg
    t0 = time.perf_counter()
    keys = [k for k in cfg if k not in ("widths", "pairs")]
    jobs = [{**{k: cfg[k] for k in keys}, "dim": w, "pair": p, "seed": ctx.seed}
            for w in cfg["widths"] for p in range(cfg["pairs"])]
    res = run_jobs(strategies_pair, jobs, namespace=STRATEGIES_NAMESPACE, cache_root=ctx.cache_root,
                   client=ctx.client, kind="json", desc="ViT strategies", progress=ctx.progress,
                   max_workers=ctx.max_workers)
    by = {w: [r for r, j in zip(res, jobs) if j["dim"] == w] for w in cfg["widths"]}
    return jsonable({"config": cfg, "widths": summarize_strategies(by), "seconds": time.perf_counter() - t0})
