"""Small helpers shared by the figure modules."""

from __future__ import annotations

import numpy as np

__all__ = ["field", "seeds", "tqdm_iter"]


def field(obj, name: str):
    """``obj.name`` or ``obj[name]`` (core results are dataclasses or dicts); ``TypeError`` naming the field."""
    if isinstance(obj, dict):
        if name in obj:
            return obj[name]
    elif hasattr(obj, name):
        return getattr(obj, name)
    raise TypeError(f"result of type {type(obj).__name__} has no field {name!r}")


def seeds(base: int, n: int, salt: int) -> list[int]:
    """``n`` independent non-negative seeds derived from ``(base, salt)``."""
    ss = np.random.SeedSequence([int(base), int(salt)])
    return [int(s.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for s in ss.spawn(n)]


def tqdm_iter(it, ctx, desc: str, total: int | None = None):
    """A nested tqdm bar that disappears when done (hidden without ``ctx.progress``)."""
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, total=total, leave=False, disable=not ctx.progress, dynamic_ncols=True)
