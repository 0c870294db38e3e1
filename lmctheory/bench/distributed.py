"""Overhead of :func:`lmctheory.distributed.realization_costs_distributed` on a 2-worker LocalCluster.

Baseline: the single-process :func:`lmctheory.realization_costs` in the same run. On one machine
the cluster cannot be faster (its two workers share the cores the local kernel already uses), so
the number reported is the *overhead* of scattering the inputs, running row blocks as tasks and
gathering the (n, n) result: ``ratio = local_s / distributed_s`` (1.0 means no overhead).
Needs the dask extra; the benchmark is skipped with a note when it is missing.
"""

from __future__ import annotations

import time

import numpy as np

NAME = "distributed"


def run(quick: bool = False) -> list[dict]:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        return [{"name": "realization_costs_distributed", "baseline_s": None, "ours_s": None, "ratio": None,
                 "notes": "skipped: dask[distributed] not installed (pip install 'lmctheory[dask]')"}]
    from lmctheory.costs import realization_costs
    from lmctheory.distributed import realization_costs_distributed
    from lmctheory.synthetic import asymmetric_layer, random_basis

    n, d, k = (2048, 256, 64) if quick else (8192, 512, 128)
    layer = asymmetric_layer(n, d, mode="wasym", seed=0)
    basis = random_basis(d, k, seed=1)
    args = (layer.effective, layer.fixed, layer.diag, basis)

    realization_costs(*args, rows=(0, 2))  # JIT warm-up outside the timings
    t0 = time.perf_counter()
    local = realization_costs(*args)
    local_s = time.perf_counter() - t0

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=40)
    client = Client(cluster)
    try:
        # warm the workers (imports, Numba cache) outside the timing
        realization_costs_distributed(client, layer.effective[:8], layer.fixed[:8], layer.diag[:8], basis)
        t0 = time.perf_counter()
        dist = realization_costs_distributed(client, *args)
        dist_s = time.perf_counter() - t0
    finally:
        client.close()
        cluster.close()
    same = bool(np.array_equal(dist, local))
    return [{
        "name": f"realization_costs_distributed n={n} d={d} k={k} (2-worker LocalCluster)",
        "baseline_s": local_s,
        "ours_s": dist_s,
        "ratio": local_s / dist_s,
        "notes": f"ratio = local/distributed (overhead factor {dist_s / local_s:.2f}x); identical result: {same}; "
                 f"result matrix {n * n * 8 / 2**20:.0f} MiB gathered to the driver",
    }]
