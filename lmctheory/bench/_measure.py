"""Process measurements shared by the benchmark modules: resident memory, peak memory, load average.

A module whose name starts with ``_`` is not a benchmark (:func:`lmctheory.bench.discover` skips it); its
functions are the benchmarks' internal API.
"""

from __future__ import annotations

import os
import resource

__all__ = ["rss_mb", "maxrss_mb", "load_average"]


def rss_mb() -> float:
    """Current resident set size of this process in MiB (from ``/proc/self/statm``; Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def maxrss_mb() -> float:
    """Peak resident set size of this process so far in MiB (``ru_maxrss``, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def load_average() -> str:
    """``"load avg a/b/c"`` (1, 5 and 15 minutes) for a benchmark note; empty where the platform has none."""
    try:
        return "load avg %.1f/%.1f/%.1f" % os.getloadavg()
    except OSError:  # pragma: no cover
        return ""
