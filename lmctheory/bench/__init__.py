"""Benchmarks: ``python -m lmctheory.bench [--quick] [--only NAME] [--json PATH]``.

Every module in this package (other than ``__main__``) is a benchmark. Contract: it exposes
``run(quick: bool) -> list[dict]``; each dict has the keys ``name``, ``baseline_s``, ``ours_s`` and
``ratio`` (``baseline_s / ours_s``, or ``None`` where there is no baseline), plus free-form
``notes`` and any extra keys. Speed is always reported as a ratio against a baseline measured in
the same run on the same machine — never as an absolute timing assertion.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import platform
import time
import traceback

__all__ = ["discover", "run_all", "format_table", "REQUIRED_KEYS"]

REQUIRED_KEYS = ("name", "baseline_s", "ours_s", "ratio")


def discover() -> list[str]:
    """Names of the benchmark modules in :mod:`lmctheory.bench`, sorted."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__)
                  if not m.name.startswith("_") and not m.ispkg)


def machine_info() -> dict:
    """Python version, platform, usable CPUs and the load average at the start, for a benchmark report."""
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        ncpu = os.cpu_count()
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": ncpu}
    try:
        info["loadavg_start"] = os.getloadavg()
    except OSError:  # pragma: no cover
        pass
    return info


def run_all(quick: bool = False, only: list[str] | None = None) -> list[dict]:
    """Run the selected benchmark modules; a module that fails yields one row with its error."""
    names = discover()
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise ValueError(f"unknown benchmark(s) {unknown}; available: {names}")
        names = [n for n in names if n in only]
    rows = []
    for name in names:
        t0 = time.perf_counter()
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
            out = list(mod.run(quick=quick))
        except Exception as exc:  # report and go on with the other benchmarks
            out = [{"name": name, "baseline_s": None, "ours_s": None, "ratio": None,
                    "notes": f"FAILED: {type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc()}]
        for row in out:
            missing = [k for k in REQUIRED_KEYS if k not in row]
            if missing:
                row = {**{k: None for k in missing}, **row,
                       "notes": f"{row.get('notes', '')} [bench row lacks keys {missing}]".strip()}
            rows.append({"module": name, **row})
        rows.append({"module": name, "name": f"({name}: total wall time)", "baseline_s": None,
                     "ours_s": None, "ratio": None, "wall_s": time.perf_counter() - t0, "notes": ""})
    return rows


def _fmt(x, spec):
    if x is None:
        width = "".join(ch for ch in spec.split(".")[0] if ch.isdigit())
        return "—".rjust(int(width) if width else 1)
    return format(x, spec)


def format_table(rows: list[dict]) -> str:
    """A plain-text table: module, name, baseline [s], ours [s], ratio, notes."""
    lines = [f"{'module':<13} {'benchmark':<58} {'baseline s':>11} {'ours s':>10} {'ratio':>8}  notes",
             "-" * 120]
    for r in rows:
        if r["name"].startswith("(") and "wall_s" in r:
            lines.append(f"{r['module']:<13} {r['name']:<58} {'':>11} {_fmt(r['wall_s'], '10.2f')} {'':>8}")
            continue
        lines.append(
            f"{r['module']:<13} {str(r['name'])[:58]:<58} {_fmt(r['baseline_s'], '11.3f')} "
            f"{_fmt(r['ours_s'], '10.3f')} {_fmt(r['ratio'], '8.2f')}  {r.get('notes', '')}"
        )
    return "\n".join(lines)


def save_json(rows: list[dict], path: str, quick: bool) -> None:
    doc = {"quick": quick, "machine": machine_info(), "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "results": rows}
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(doc, fh, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    os.replace(tmp, path)
