"""Run context and small helpers shared by the experiment modules of :mod:`lmctheory.experiments`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["Context", "jsonable", "experiment_cache", "cached_collect", "run_single_threaded", "mean_std", "spearman",
           "curve_stats"]


@dataclass
class Context:
    """Run context of an experiment's ``collect``.

    Attributes
    ----------
    quick : bool
        Quick mode (the CPU-sized defaults) vs full mode (larger sweeps).
    cache_root : Path or None
        Root of the :class:`lmctheory.cache.DiskCache` (None: the default user cache dir).
    client : None, dask.distributed.Client or the ray module
        Passed to :func:`lmctheory.sweep.run_jobs`.
    progress : bool
        Show tqdm progress bars.
    seed : int
        Base seed of the whole run.
    max_workers : int or None
        Local process-pool size for :func:`lmctheory.sweep.run_jobs` (``None``: one per core;
        ``1``: in-process, used by the tests).
    """

    quick: bool = True
    cache_root: Path | None = None
    client: Any = None
    progress: bool = True
    seed: int = 0
    max_workers: int | None = None

    def __post_init__(self):
        if self.cache_root is not None:
            self.cache_root = Path(self.cache_root).expanduser()


def jsonable(obj):
    """Recursively convert NumPy scalars/arrays, tuples and Paths to JSON types (NaN/inf kept as floats)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def experiment_cache(namespace: str, ctx: Context):
    """The :class:`~lmctheory.cache.DiskCache` of ``namespace`` under ``ctx.cache_root``."""
    from ..cache import DiskCache

    return DiskCache(namespace=namespace, root=ctx.cache_root)


def cached_collect(namespace: str, key: dict, ctx: Context, compute: Callable[[], dict]) -> dict:
    """Whole-result JSON cache: return the stored document for ``key`` (+ ``ctx.seed``) or compute,
    store atomically and return it. Corrupt or stale entries are recomputed (DiskCache)."""
    return experiment_cache(namespace, ctx).get_or_compute_json({**key, "seed": ctx.seed},
                                                               lambda: jsonable(compute()))


def run_single_threaded(fn: Callable[[dict], dict], cfg: dict) -> dict:
    """Run one sweep job with one torch thread and one BLAS thread, whatever pool runs it (so parallel
    jobs on a 2-core machine do not oversubscribe)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        return fn(cfg)


def mean_std(values) -> tuple[float, float]:
    """Mean and (population) standard deviation of a list, ignoring NaN; ``(nan, nan)`` if empty."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std())


def spearman(x, y) -> float:
    """Spearman rank correlation (NaN when fewer than 3 points or a constant input)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def curve_stats(runs: list[dict], which: str) -> dict:
    """Mean ± std over pairs of the interpolation curves ``run[which]`` (``InterpolationResult.to_dict()`` of each
    pair): loss and accuracy curves, per-pair midpoint accuracy drops and linear loss barriers with their mean/std."""
    loss = np.array([r[which]["loss"] for r in runs])
    acc = np.array([r[which]["acc"] for r in runs])
    drops = [r[which]["midpoint_acc_drop"] for r in runs]
    bl = [r[which]["barrier_lin"] for r in runs]
    return {"lams": runs[0][which]["lams"], "loss_mean": loss.mean(0), "loss_std": loss.std(0),
            "acc_mean": acc.mean(0), "acc_std": acc.std(0), "midpoint_acc_drop": drops,
            "midpoint_acc_drop_mean": mean_std(drops)[0], "midpoint_acc_drop_std": mean_std(drops)[1],
            "loss_barrier_lin": bl, "loss_barrier_lin_mean": mean_std(bl)[0], "loss_barrier_lin_std": mean_std(bl)[1]}
