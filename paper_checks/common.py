"""Infrastructure shared by the claim modules of :mod:`paper_checks`.

Claim-module protocol
---------------------
A claim lives in ``paper_checks/<letter><digit…>_<name>.py`` (e.g. ``c1_unaligned_lmc.py``,
``l3_reciprocal.py``) and is discovered by that file-name pattern. It defines:

``ID`` : str
    The claim's id from docs/experiments.md (``"C1"``, ``"L3"``).
``TITLE`` : str
    One line.
``PAPER`` : str
    What the paper reports (figure/section and the number or trend), shown next to ours.
``CONDITION`` : str
    The pass condition, fixed up front from docs/experiments.md (never tuned after seeing a result).
``config(quick: bool) -> dict``
    The experiment configuration (sizes, seeds, grids) for quick and full mode. **Tests shrink a
    claim by monkeypatching this function** (``monkeypatch.setattr(mod, "config", lambda quick: tiny)``),
    so ``collect`` must read every size from ``config(ctx.quick)`` at call time and nothing else.
``collect(ctx: Context) -> dict``
    Runs (or loads) the experiment; returns all measured data as a JSON-able dict (lists, floats,
    str, nested dicts; no arrays). Independent training jobs go through
    :func:`lmctheory.sweep.run_jobs` (per-config atomic disk cache, local pool or ``ctx.client``);
    whole-claim results may additionally be cached with :func:`cached_collect`. Experiments that a figure
    also draws live in :mod:`lmctheory.experiments` (the library never imports this package); the claim's
    ``collect`` calls them with ``config(ctx.quick)``.
``run(ctx: Context) -> ClaimResult``
    ``collect(ctx)``, then evaluates ``CONDITION`` on it; ``passed`` is ``None`` when the
    condition cannot be evaluated (e.g. too few points), never a silently chosen default.

Cache keys contain the full configuration plus ``ctx.seed`` and a per-claim ``VERSION`` (bump it
when a claim's computation changes), so stale entries are never reused.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from lmctheory.experiments import (Context, cached_collect, experiment_cache, jsonable, mean_std, run_single_threaded,
                                   spearman)

__all__ = [
    "ClaimResult", "Context", "CLAIM_PATTERN", "discover", "load_claim", "run_claims", "format_table",
    "results_to_json", "jsonable", "cached_collect", "spearman", "mean_std", "is_increasing", "claim_cache",
    "run_single_threaded",
]

#: a claim's cache (the library's :func:`lmctheory.experiments.experiment_cache`)
claim_cache = experiment_cache

CLAIM_PATTERN = re.compile(r"^([a-z]\d+)_\w+\.py$", re.IGNORECASE)
PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass
class ClaimResult:
    """Outcome of one claim.

    Attributes
    ----------
    id, title : str
    paper : str
        What the paper says.
    measured : str
        What we measured (short, with numbers).
    passed : bool or None
        The pass condition's verdict; ``None`` = could not be evaluated.
    condition : str
        The pass condition (fixed up front).
    details : dict
        JSON-able data behind ``measured`` (summary numbers, config, timings).
    """

    id: str
    title: str
    paper: str
    measured: str
    passed: bool | None
    condition: str
    details: dict = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "MISS", None: "n/a"}[self.passed]

    def to_dict(self) -> dict:
        return jsonable(asdict(self))


def discover(root: Path | None = None) -> dict[str, str]:
    """Map claim id (upper case, e.g. ``"C1"``) to module name, from the file names in ``root``."""
    root = PACKAGE_DIR if root is None else Path(root)
    out = {}
    for p in sorted(root.glob("*.py")):
        m = CLAIM_PATTERN.match(p.name)
        if m:
            out[m.group(1).upper()] = f"paper_checks.{p.stem}"
    return dict(sorted(out.items(), key=lambda kv: (kv[0][0], int(kv[0][1:]))))


def load_claim(claim_id: str):
    """Import the module of claim ``claim_id`` and check it follows the protocol."""
    claims = discover()
    cid = claim_id.upper()
    if cid not in claims:
        raise KeyError(f"unknown claim {claim_id!r}; available: {', '.join(claims) or 'none'}")
    mod = importlib.import_module(claims[cid])
    missing = [a for a in ("ID", "TITLE", "PAPER", "CONDITION", "config", "collect", "run") if not hasattr(mod, a)]
    if missing:
        raise AttributeError(f"claim module {mod.__name__} lacks {', '.join(missing)}")
    return mod


def run_claims(ids, ctx: Context, *, on_result: Callable[[ClaimResult], None] | None = None) -> list[ClaimResult]:
    """Run the given claims (all discovered ones if ``ids`` is empty) in id order.

    A claim that raises yields a ``ClaimResult`` with ``passed=None`` and the error in
    ``measured`` (the others still run). ``details["wall_seconds"]`` is set to the wall time.
    """
    claims = discover()
    ids = [i.upper() for i in ids] if ids else list(claims)
    unknown = [i for i in ids if i not in claims]
    if unknown:
        raise KeyError(f"unknown claim(s) {unknown}; available: {', '.join(claims)}")
    out = []
    for cid in ids:
        t0 = time.perf_counter()
        mod = None
        try:
            mod = load_claim(cid)
            res = mod.run(ctx)
            if not isinstance(res, ClaimResult):
                raise TypeError(f"{cid}.run returned {type(res).__name__}, not ClaimResult")
        except Exception as exc:  # report and go on: one broken claim must not hide the others
            import traceback

            res = ClaimResult(id=cid, title=getattr(mod, "TITLE", cid), paper=getattr(mod, "PAPER", ""),
                              measured=f"ERROR {type(exc).__name__}: {exc}", passed=None,
                              condition=getattr(mod, "CONDITION", ""),
                              details={"traceback": traceback.format_exc()})
        res.details = {**jsonable(res.details), "wall_seconds": time.perf_counter() - t0}
        out.append(res)
        if on_result is not None:
            on_result(res)
    return out


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def format_table(results: list[ClaimResult], width: int = 60) -> str:
    """Plain-text summary table: claim | paper says | we measured | verdict | time."""
    head = ["claim", "paper says", "we measured", "result", "time"]
    rows = []
    for r in results:
        secs = r.details.get("wall_seconds", float("nan"))
        rows.append([r.id, _wrap(r.paper, width // 2 + 6), _wrap(r.measured, width), r.verdict, f"{secs:.0f}s"])
    w = [max(len(head[0]), *(len(r[0]) for r in rows)) if rows else 5, width // 2 + 6, width, 6, 6]
    sep = "+".join("-" * (x + 2) for x in w)
    lines = [" | ".join(h.ljust(x) for h, x in zip(head, w)), sep]
    for r in rows:
        n = max(len(r[1]), len(r[2]))
        for i in range(n):
            cells = [r[0] if i == 0 else "", r[1][i] if i < len(r[1]) else "", r[2][i] if i < len(r[2]) else "",
                     r[3] if i == 0 else "", r[4] if i == 0 else ""]
            lines.append(" | ".join(c.ljust(x) for c, x in zip(cells, w)))
        lines.append(sep)
    n_pass = sum(r.passed is True for r in results)
    n_miss = sum(r.passed is False for r in results)
    lines.append(f"{n_pass} pass, {n_miss} miss, {len(results) - n_pass - n_miss} n/a")
    return "\n".join(lines)


def results_to_json(results: list[ClaimResult], path: str | Path, **meta) -> Path:
    """Write ``{"meta": …, "results": [ClaimResult dicts]}`` to ``path`` (atomic)."""
    from lmctheory.cache import atomic_write_bytes

    path = Path(path)
    doc = {"meta": jsonable(meta), "results": [r.to_dict() for r in results]}
    atomic_write_bytes(path, json.dumps(doc, indent=2, default=float).encode())
    return path


# -- small statistics helpers shared by the claims ------------------------------------------------

def is_increasing(values, *, strict: bool = False) -> bool:
    """Whether a sequence is (strictly) increasing; False if it contains NaN."""
    v = np.asarray(values, float)
    if not np.all(np.isfinite(v)):
        return False
    d = np.diff(v)
    return bool(np.all(d > 0) if strict else np.all(d >= 0))


def fmt(x: float, nd: int = 2) -> str:
    """Short number formatting for ``measured`` strings."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    return f"{x:.{nd}f}"
