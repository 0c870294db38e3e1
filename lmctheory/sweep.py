"""Run independent jobs (training runs, measurements) with an on-disk cache, locally or on a cluster.

A *job* is a module-level function ``fn(config) -> result`` and a JSON-serializable ``config``
dict. :func:`run_jobs` looks every config up in a :class:`~lmctheory.cache.DiskCache`, runs only
the missing ones, and writes each result atomically the moment it arrives, so an interrupted
sweep (Ctrl-C, a killed worker, a lost node) resumes where it stopped and never leaves a
half-written entry. A cache folder that cannot be written (read-only, full disk) gives one
:class:`~lmctheory.cache.CacheWarning` and the sweep continues uncached; results are still returned. Results are always written by the calling process, so cluster workers need
no shared file system.

Where jobs run (the STUMPY ``stumped(client, …)`` convention: setting up a cluster is the user's):

- ``client=None``: a local process pool sized to the machine (``max_workers``, default
  ``os.cpu_count()``), or in-process when one worker or one job;
- a ``dask.distributed.Client``: ``client.submit`` per job;
- the ``ray`` module (after ``ray.init``): one remote task per job.

Neither dask nor ray is imported unless you pass a client or call :func:`connect`.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing as mp
import os
from typing import Any, Callable, Sequence

from .cache import DiskCache

__all__ = ["JobError", "connect", "run_jobs", "client_kind"]


class JobError(RuntimeError):
    """A job raised; the message names its namespace and configuration."""


def connect(dask: str | None = None, ray: str | None = None):
    """Connect to an existing cluster by address: a Dask scheduler or a Ray head node.

    Returns a ``dask.distributed.Client``, the initialized ``ray`` module, or ``None`` when
    neither address is given (jobs then run locally).
    """
    if dask and ray:
        raise ValueError("give at most one of dask= and ray=")
    if dask:
        try:
            from dask.distributed import Client
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise ImportError("dask.distributed is not installed: pip install 'lmctheory[dask]'") from exc
        return Client(dask)
    if ray:
        try:
            import ray as ray_mod
        except ImportError as exc:  # pragma: no cover
            raise ImportError("ray is not installed: pip install 'lmctheory[ray]'") from exc
        if not ray_mod.is_initialized():
            ray_mod.init(address=ray)
        return ray_mod
    return None


def client_kind(client) -> str:
    """``"local"``, ``"dask"`` or ``"ray"`` for a client accepted by :func:`run_jobs`."""
    if client is None:
        return "local"
    if hasattr(client, "submit") and hasattr(client, "scatter"):
        return "dask"
    if hasattr(client, "remote") and hasattr(client, "get") and hasattr(client, "wait"):
        return "ray"
    raise TypeError(
        f"client must be None, a dask.distributed.Client or the ray module, got {type(client).__name__}"
    )


def _job_config(fn: Callable, config: dict) -> dict:
    # the function's identity is part of the key: two sweeps over the same configs never collide
    return {"__job__": f"{fn.__module__}.{fn.__qualname__}", **config}


def _worker_init() -> None:
    # one BLAS/OpenMP thread per worker process: the pool already uses every core
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except Exception:  # torch is optional for pure-numpy jobs
        pass


def _call(fn: Callable, config: dict):
    return fn(config)


def _normalize(kind: str, result: Any):
    if kind == "json":
        return json.loads(json.dumps(result, default=float))
    import numpy as np

    if not isinstance(result, dict):
        raise TypeError(f"a job with kind='npz' must return a dict of arrays, got {type(result).__name__}")
    return {k: np.asarray(v) for k, v in result.items()}


def _run_dask(client, fn, configs, pending, finish, fail) -> None:
    """Run the jobs ``pending`` (indices into ``configs``) on a Dask client, calling ``finish(i, value)`` as each
    completes; the first failure cancels the rest and raises ``fail(i, exc)``."""
    from dask.distributed import as_completed

    futs = {client.submit(_call, fn, configs[i], pure=False): i for i in pending}
    for fut in as_completed(futs):
        i = futs[fut]
        try:
            value = fut.result()
        except Exception as exc:
            for f in futs:
                f.cancel()
            raise fail(i, exc) from exc
        finish(i, value)
        # drop the result from the cluster: a later worker loss must not trigger a recompute
        fut.release()


def _run_ray(ray, fn, configs, pending, finish, fail) -> None:
    """As :func:`_run_dask`, on Ray (``ray`` is the imported module)."""
    remote = ray.remote(_call)
    refs = {remote.remote(fn, configs[i]): i for i in pending}
    waiting = list(refs)
    while waiting:
        done, waiting = ray.wait(waiting, num_returns=1)
        ref = done[0]
        i = refs[ref]
        try:
            value = ray.get(ref)
        except Exception as exc:
            for r in waiting:
                ray.cancel(r)
            raise fail(i, exc) from exc
        finish(i, value)


def _run_local(fn, configs, pending, max_workers, finish, fail) -> None:
    """As :func:`_run_dask`, in this process (one worker) or a pool of ``max_workers`` spawned processes
    (default ``os.cpu_count()``)."""
    workers = (os.cpu_count() or 1) if max_workers is None else int(max_workers)
    workers = max(1, min(workers, len(pending)))
    if workers == 1:
        for i in pending:
            try:
                value = fn(configs[i])
            except Exception as exc:
                raise fail(i, exc) from exc
            finish(i, value)
        return
    ctx = mp.get_context("spawn")  # fork after torch/numba started threads can deadlock
    with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init) as pool:
        futs = {pool.submit(_call, fn, configs[i]): i for i in pending}
        try:
            for fut in cf.as_completed(futs):
                i = futs[fut]
                try:
                    value = fut.result()
                except Exception as exc:
                    raise fail(i, exc) from exc
                finish(i, value)
        except BaseException:
            for f in futs:
                f.cancel()
            raise


def run_jobs(
    fn: Callable[[dict], Any],
    configs: Sequence[dict],
    *,
    namespace: str,
    cache_root=None,
    client=None,
    kind: str = "json",
    desc: str | None = None,
    progress: bool = True,
    max_workers: int | None = None,
) -> list:
    """Run ``fn(config)`` for every config not yet cached; return all results in config order.

    Parameters
    ----------
    fn : callable
        A module-level (picklable) function ``config -> result``. With ``kind="json"`` the
        result is a JSON-serializable document; with ``kind="npz"`` a dict of arrays.
    configs : sequence of dict
        JSON-serializable configurations; each is one job and one cache entry.
    namespace : str
        Cache namespace (a folder under the cache root).
    cache_root : path, optional
        Cache root (default :func:`lmctheory.cache.default_cache_dir`).
    client : None, dask.distributed.Client or the ray module
        Where to run the missing jobs (see the module docstring).
    kind : {"json", "npz"}
    desc : str, optional
        Progress-bar label.
    progress : bool
        Show a tqdm bar over completed jobs.
    max_workers : int, optional
        Local pool size (default ``os.cpu_count()``); ``1`` runs in-process.

    Raises
    ------
    JobError
        When a job raises; the message names the namespace and the job's configuration.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if kind not in ("json", "npz"):
        raise ValueError(f"kind must be 'json' or 'npz', got {kind!r}")
    configs = list(configs)
    for i, c in enumerate(configs):
        if not isinstance(c, dict):
            raise TypeError(f"configs[{i}] must be a dict, got {type(c).__name__}")
    where = client_kind(client)
    cache = DiskCache(namespace=namespace, root=cache_root)
    load = cache.load_json if kind == "json" else cache.load_npz
    save = cache.save_json if kind == "json" else cache.save_npz

    results: list = [None] * len(configs)
    pending: list[int] = []
    for i, c in enumerate(configs):
        hit = load(_job_config(fn, c))
        if hit is None:
            pending.append(i)
        else:
            results[i] = hit

    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(configs),
        initial=len(configs) - len(pending),
        desc=desc or namespace,
        disable=not progress,
        leave=False,
    )

    def finish(i: int, value) -> None:
        value = _normalize(kind, value)
        # a read-only or full cache warns once and the sweep goes on uncached: never lose a finished job
        cache.store_quietly(lambda: save(_job_config(fn, configs[i]), value))
        results[i] = value
        bar.update(1)

    def fail(i: int, exc: BaseException):
        return JobError(f"job in {namespace!r} with config {configs[i]!r} failed: {type(exc).__name__}: {exc}")

    try:
        if not pending:
            pass
        elif where == "dask":
            _run_dask(client, fn, configs, pending, finish, fail)
        elif where == "ray":
            _run_ray(client, fn, configs, pending, finish, fail)
        else:
            _run_local(fn, configs, pending, max_workers, finish, fail)
    finally:
        bar.close()
    return results
