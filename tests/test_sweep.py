"""The sweep runner: caching, resumption, errors naming the job, local pool == sequential."""

import numpy as np
import pytest

from lmctheory.sweep import JobError, client_kind, run_jobs
from tests import _sweep_jobs as jobs


def test_sequential_results_and_cache_hits(tmp_path):
    marker = tmp_path / "m"
    marker.mkdir()
    configs = [{"x": x, "marker_dir": str(marker)} for x in range(4)]
    out = run_jobs(jobs.square, configs, namespace="t", cache_root=tmp_path, max_workers=1, progress=False)
    assert [r["y"] for r in out] == [0, 1, 4, 9]
    again = run_jobs(jobs.square, configs, namespace="t", cache_root=tmp_path, max_workers=1, progress=False)
    assert again == out
    # every job ran exactly once: the second sweep was served from the cache
    assert sorted(p.read_text() for p in marker.iterdir()) == ["x"] * 4


def test_resume_after_failure_does_not_recompute(tmp_path):
    marker = tmp_path / "m"
    marker.mkdir()
    good = [{"x": x, "marker_dir": str(marker)} for x in range(3)]
    bad = good + [{"x": 99, "fail": True}]
    with pytest.raises(JobError, match="'x': 99"):
        run_jobs(jobs.square, bad, namespace="t", cache_root=tmp_path, max_workers=1, progress=False)
    out = run_jobs(jobs.square, good, namespace="t", cache_root=tmp_path, max_workers=1, progress=False)
    assert [r["y"] for r in out] == [0, 1, 4]
    assert all(p.read_text() == "x" for p in marker.iterdir())


def test_process_pool_matches_sequential(tmp_path):
    configs = [{"n": n} for n in (1, 3, 5)]
    pooled = run_jobs(jobs.arrays, configs, namespace="p", cache_root=tmp_path / "a", kind="npz",
                      max_workers=2, progress=False)
    seq = run_jobs(jobs.arrays, configs, namespace="p", cache_root=tmp_path / "b", kind="npz",
                   max_workers=1, progress=False)
    for a, b in zip(pooled, seq):
        np.testing.assert_array_equal(a["v"], b["v"])


def test_corrupt_entry_is_recomputed(tmp_path):
    configs = [{"x": 2}]
    run_jobs(jobs.square, configs, namespace="c", cache_root=tmp_path, max_workers=1, progress=False)
    (entry,) = list((tmp_path / "c").glob("*.json"))
    entry.write_text("{not json")
    out = run_jobs(jobs.square, configs, namespace="c", cache_root=tmp_path, max_workers=1, progress=False)
    assert out[0]["y"] == 4


def test_bad_arguments():
    with pytest.raises(TypeError, match="client"):
        client_kind(object())
    with pytest.raises(ValueError, match="kind"):
        run_jobs(jobs.square, [], namespace="x", kind="pickle")
    with pytest.raises(TypeError, match=r"configs\[0\]"):
        run_jobs(jobs.square, [3], namespace="x")
