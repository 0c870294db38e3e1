"""Memory and run-time budgets of long computations (refuse what cannot fit, warn what would run for hours).

Used by the Monte Carlo drivers (:mod:`lmctheory._montecarlo`) and the center-gap functions
(:mod:`lmctheory.subspace`). Throughput constants are conservative single-thread rates measured on a
2020s x86 core (``python -m lmctheory.bench``-style timing, float64, slowest activation); estimates divide
by the Numba thread count.
"""

from __future__ import annotations

import os
import warnings

__all__ = ["memory_limit_bytes", "check_fits", "warn_if_long", "n_threads", "LONG_RUN_SECONDS",
           "WORK_STEP_SECONDS"]

#: estimated run times above this (seconds) give a :class:`RuntimeWarning`
LONG_RUN_SECONDS = 3600.0
#: target wall time of one uninterruptible kernel call (Ctrl-C is handled between calls)
WORK_STEP_SECONDS = 0.05


def n_threads() -> int:
    try:
        import numba

        return max(1, int(numba.get_num_threads()))
    except Exception:  # pragma: no cover - numba is a dependency
        return 1


def _cgroup_limit() -> float:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as fh:
                txt = fh.read().strip()
        except OSError:
            continue
        if txt.isdigit():
            return float(txt)
    return float("inf")


def memory_limit_bytes() -> float:
    """The most memory this process can ever hold: physical RAM, the cgroup limit and ``RLIMIT_AS``."""
    lim = float("inf")
    try:
        lim = float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        pass
    lim = min(lim, _cgroup_limit())
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            lim = min(lim, float(soft))
    except (ImportError, ValueError, OSError):  # pragma: no cover
        pass
    return lim


def _fmt_bytes(n: float) -> str:
    for unit, size in (("TiB", 2.0**40), ("GiB", 2.0**30), ("MiB", 2.0**20), ("KiB", 2.0**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def check_fits(nbytes: float, what: str, arg: str) -> None:
    """``ValueError`` naming ``arg`` when an allocation of ``nbytes`` can never fit in memory."""
    lim = memory_limit_bytes()
    if nbytes > lim:
        raise ValueError(f"{arg}: {what} needs {_fmt_bytes(nbytes)}, more than the {_fmt_bytes(lim)} of memory "
                         f"this process can use; reduce {arg}")


def warn_if_long(units: float, rate: float, rate_name: str, what: str, arg: str) -> float:
    """Estimated seconds of ``units`` of work at ``rate`` units/s per thread; warns above ``LONG_RUN_SECONDS``."""
    secs = units / (rate * n_threads())
    if secs > LONG_RUN_SECONDS:
        warnings.warn(f"{what} is estimated to run ≈ {secs / 3600:.3g} h on {n_threads()} thread(s) "
                      f"({units:.3g} units at {rate_name} = {rate:.3g} per thread-second); reduce {arg}. "
                      "It can be interrupted with Ctrl-C.", RuntimeWarning, stacklevel=4)
    return secs
