"""Scale-out paths: sweeps and all-pairs costs on a dask LocalCluster (2 worker processes) and on a local Ray
instance (2 CPUs, no dashboard). Both engines are part of the test install (``pip install -e ".[test]"``), so both
run on every CI run.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from lmctheory.cache import DiskCache
from lmctheory.sweep import JobError, _job_config, run_jobs
from tests import _sweep_jobs as jobs

distributed = pytest.importorskip("distributed", reason="the dask extra is part of the test install")

REPO = str(Path(__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def client():
    import dask
    from dask.distributed import Client, LocalCluster

    # worker processes must import tests._sweep_jobs by name
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = REPO + (os.pathsep + old if old else "")
    # a job that kills its worker fails at once instead of being retried on the other worker
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        c = Client(cluster)
        try:
            yield c
        finally:
            c.close()
            cluster.close()
            if old is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = old


def _layer(n=40, d=24, k=6, seed=3):
    from lmctheory.synthetic import asymmetric_layer, random_basis

    layer = asymmetric_layer(n, d, mode="wasym", seed=seed)
    return layer.effective, layer.fixed, layer.diag, random_basis(d, k, seed=seed)


def test_distributed_costs_equal_local(client):
    from lmctheory.costs import realization_costs, swap_costs
    from lmctheory.distributed import realization_costs_distributed, swap_costs_distributed

    eff, fixed, diag, basis = _layer()
    local = realization_costs(eff, fixed, diag, basis)
    for n_blocks in (None, 1, 3, 7):
        dist = realization_costs_distributed(client, eff, fixed, diag, basis, n_blocks=n_blocks)
        np.testing.assert_array_equal(dist, local)
    np.testing.assert_array_equal(swap_costs_distributed(client, eff, fixed, diag, basis), swap_costs(local))


def test_distributed_costs_reject_bad_input_before_shipping(client):
    from lmctheory.distributed import realization_costs_distributed

    eff, fixed, diag, basis = _layer()
    with pytest.raises(ValueError, match="basis"):
        realization_costs_distributed(client, eff, fixed, diag, basis[:-1])
    with pytest.raises(TypeError, match="client"):
        realization_costs_distributed(object(), eff, fixed, diag, basis)


def test_cluster_sweep_fills_cache_like_local(client, tmp_path):
    configs = [{"x": x} for x in range(6)]
    on_cluster = run_jobs(jobs.square, configs, namespace="s", cache_root=tmp_path / "c", client=client,
                          progress=False)
    local = run_jobs(jobs.square, configs, namespace="s", cache_root=tmp_path / "l", max_workers=1,
                     progress=False)
    assert on_cluster == local
    names = lambda p: sorted(q.name for q in (p / "s").iterdir())  # noqa: E731
    assert names(tmp_path / "c") == names(tmp_path / "l")
    for q in (tmp_path / "c" / "s").iterdir():
        assert q.read_bytes() == (tmp_path / "l" / "s" / q.name).read_bytes()


def test_worker_error_names_the_configuration(client, tmp_path):
    configs = [{"x": 1}, {"x": 7, "fail": True}]
    with pytest.raises(JobError, match=r"'x': 7.*deliberate failure"):
        run_jobs(jobs.square, configs, namespace="e", cache_root=tmp_path, client=client, progress=False)


def test_killed_worker_then_rerun_does_not_recompute(client, tmp_path):
    marker = tmp_path / "ran"
    marker.mkdir()
    cfg = lambda x, **kw: {"x": x, "marker_dir": str(marker), **kw}  # noqa: E731
    good = [cfg(x) for x in range(5)]
    # the extra job kills its worker process (a lost node) while the others complete
    with pytest.raises(JobError, match=r"'x': 99"):
        run_jobs(jobs.square, good + [cfg(99, die_after=1.0)], namespace="k", cache_root=tmp_path / "c",
                 client=client, progress=False)
    cache = DiskCache(namespace="k", root=tmp_path / "c")
    finished = [c["x"] for c in good if cache.load_json(_job_config(jobs.square, c)) is not None]
    assert finished, "no job finished before the worker died; the test proves nothing"
    # no half-written entries: everything in the namespace is a complete, loadable result
    for p in (tmp_path / "c" / "k").iterdir():
        assert not p.name.startswith(".") and p.suffix == ".json"
    runs_before = {x: (marker / f"ran_{x}").read_text() for x in finished}
    client.wait_for_workers(2, timeout=60)
    out = run_jobs(jobs.square, good, namespace="k", cache_root=tmp_path / "c", client=client, progress=False)
    assert [r["y"] for r in out] == [x * x for x in range(5)]
    for x in finished:  # finished jobs were served from the cache, not run again
        assert (marker / f"ran_{x}").read_text() == runs_before[x]


@pytest.mark.slow  # starts a local Ray instance: 6 s on an idle 2-core machine, up to 45 s under load
@pytest.mark.timeout(300)
def test_ray_paths(tmp_path, monkeypatch):
    """Costs in row blocks and a cached sweep on a local Ray instance (bounded: 2 CPUs, no dashboard, shut down)."""
    import ray  # part of the test install: a missing ray fails here instead of skipping the engine

    from lmctheory.costs import realization_costs
    from lmctheory.distributed import realization_costs_distributed

    assert not ray.is_initialized()
    # Ray's workers inherit the driver's environment and must import tests._sweep_jobs by name (a runtime_env
    # would start a second pool of workers)
    old = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", REPO + (os.pathsep + old if old else ""))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        eff, fixed, diag, basis = _layer()
        np.testing.assert_array_equal(realization_costs_distributed(ray, eff, fixed, diag, basis, n_blocks=3),
                                      realization_costs(eff, fixed, diag, basis))
        configs = [{"x": x} for x in range(4)]
        out = run_jobs(jobs.square, configs, namespace="r", cache_root=tmp_path, client=ray, progress=False)
        assert [r["y"] for r in out] == [0, 1, 4, 9]
        ran = run_jobs(jobs.pid, [{"i": i} for i in range(2)], namespace="r", cache_root=tmp_path, client=ray,
                       progress=False)
        assert all(r["pid"] != os.getpid() for r in ran), "the jobs ran in the driver, not on Ray workers"
        with pytest.raises(JobError, match=r"'x': 5"):
            run_jobs(jobs.square, [{"x": 5, "fail": True}], namespace="r", cache_root=tmp_path, client=ray,
                     progress=False)
    finally:
        ray.shutdown()
