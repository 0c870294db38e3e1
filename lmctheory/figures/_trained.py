"""Shared plumbing of the trained figures (6–10): run an experiment's ``collect``, check its data's shape.

A trained figure never trains anything itself: it calls ``collect`` of an experiment in
:mod:`lmctheory.experiments` (cached on disk per job; the same data ``paper_checks`` judges) and only
draws what it returns.
"""

from __future__ import annotations

import importlib
from typing import Callable

import numpy as np

from ._core import FigureContext

__all__ = ["collect", "experiment", "need", "arr", "label"]


def label(key: str) -> str:
    """``"mask_coherence.collect"`` → ``"lmctheory.experiments.mask_coherence.collect"``."""
    return f"lmctheory.experiments.{key}"


def experiment(key: str) -> Callable:
    """The function ``lmctheory.experiments.<module>.<function>`` named by ``key = "<module>.<function>"``."""
    mod, _, fn = key.rpartition(".")
    return getattr(importlib.import_module(f"lmctheory.experiments.{mod}"), fn)


def collect(key: str, ctx: FigureContext) -> dict:
    """``collect`` of the experiment ``key`` at its default configuration for ``ctx.mode``."""
    data = experiment(key)(ctx.experiment_context())
    if not isinstance(data, dict):
        raise TypeError(f"{label(key)}() returned {type(data).__name__}, expected a dict")
    return data


def need(data, *path: str, source: str):
    """``data[path[0]][path[1]]…`` with an error that names the experiment and the missing key."""
    cur = data
    for i, key in enumerate(path):
        if not isinstance(cur, dict) or key not in cur:
            have = sorted(cur) if isinstance(cur, dict) else type(cur).__name__
            where = "".join(f"[{p!r}]" for p in path[: i + 1])
            raise KeyError(f"{label(source)}() data has no {where} (found: {have})")
        cur = cur[key]
    return cur


def arr(x) -> np.ndarray:
    """A float array (``None`` → NaN), for plotting lists that came back through JSON."""
    return np.array([np.nan if v is None else v for v in np.asarray(x, dtype=object).ravel()],
                    dtype=float).reshape(np.shape(x))
