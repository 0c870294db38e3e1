"""Reliability guarantees: no lost results, interruptible long work, no silently wrong numbers.

Each test reproduces one finding of the hostile-user audit (see the reliability issue).
"""

import errno
import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest

from lmctheory import cache as cache_mod
from lmctheory.cache import CacheWarning
from lmctheory.sweep import run_jobs
from tests import _sweep_jobs as jobs


# ----- sweeps keep finished jobs when the cache cannot be written -----------------------------


@pytest.mark.parametrize("err", [errno.EROFS, errno.ENOSPC])
def test_sweep_on_unwritable_cache_warns_once_and_returns_every_result(tmp_path, monkeypatch, err):
    cache_mod._warned.clear()

    def fail(path, data):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(cache_mod, "_atomic_write_bytes", fail)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = run_jobs(jobs.square, [{"x": i} for i in range(4)], namespace="ro", cache_root=tmp_path,
                       max_workers=1, progress=False)
    assert [r["y"] for r in out] == [0, 1, 4, 9]
    assert sum(issubclass(w.category, CacheWarning) for w in rec) == 1
    cache_mod._warned.clear()
