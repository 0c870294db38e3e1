"""Shared plumbing of the trained figures (6–10): get a claim's ``collect`` data, check its shape.

A trained figure never trains anything itself: it calls ``paper_checks.<claim>.collect(ctx)``
(cached on disk by the claim), and only draws what it returns.
"""

from __future__ import annotations

import numpy as np

from ._core import FigureContext, FigureUnavailable, paper_check

__all__ = ["collect", "need", "arr", "claim_label"]


def claim_label(claim: str) -> str:
    return f"paper_checks.{claim.lower()}"


def collect(claim: str, ctx: FigureContext) -> dict:
    """``collect(ctx)`` of the claim module, with the figure context turned into a paper context.

    A missing claim module, or a missing module it imports from this project (``lmctheory.nn``
    not written yet, ...), becomes :class:`FigureUnavailable`; other errors propagate.
    """
    mod = paper_check(claim)
    pctx = ctx.paper_context()
    try:
        data = mod.collect(pctx)
    except ModuleNotFoundError as exc:
        name = exc.name or ""
        if name.split(".")[0] in ("lmctheory", "paper_checks"):
            raise FigureUnavailable(
                f"cannot be produced yet: {claim_label(claim)} needs {name}, which is missing"
            ) from None
        raise
    if not isinstance(data, dict):
        raise TypeError(f"{claim_label(claim)}.collect() returned {type(data).__name__}, expected a dict")
    return data


def need(data, *path: str, claim: str):
    """``data[path[0]][path[1]]…`` with an error that names the claim and the missing key."""
    cur = data
    for i, key in enumerate(path):
        if not isinstance(cur, dict) or key not in cur:
            have = sorted(cur) if isinstance(cur, dict) else type(cur).__name__
            where = "".join(f"[{p!r}]" for p in path[: i + 1])
            raise KeyError(f"{claim_label(claim)}.collect() data has no {where} (found: {have})")
        cur = cur[key]
    return cur


def arr(x) -> np.ndarray:
    """A float array (``None`` → NaN), for plotting lists that came back through JSON."""
    return np.array([np.nan if v is None else v for v in np.asarray(x, dtype=object).ravel()],
                    dtype=float).reshape(np.shape(x))
