"""Shared plumbing of the trained figures (6–15): run an experiment's ``collect``, check its data's shape.

A trained figure never trains anything itself: it calls ``collect`` of an experiment in
:mod:`lmctheory.experiments` (cached on disk per job; the same data ``paper_checks`` judges) and only
draws what it returns.
"""

from __future__ import annotations

import importlib
from typing import Callable

import numpy as np

from ._core import FigureContext

__all__ = ["collect", "experiment", "need", "arr", "label", "aligned_unaligned_panels"]


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


def aligned_unaligned_panels(variants: dict, source: str, variant_label, *, markers=("o",), lw=None):
    """The 2×2 grid shared by the pair figures (9, 13): test accuracy (top) and loss (bottom) along λ, unaligned
    (left) and after activation matching (right), one colour per variant, a legend with the midpoint drops, a
    shared y-range per row. Returns ``(fig, axes, rows)`` with the plotted data as CSV columns."""
    from matplotlib.lines import Line2D

    from .style import new_figure

    rows = {c: [] for c in ("alignment", "variant", "kind", "sigma_f", "lam", "metric", "mean", "std")}

    def add(*vals):
        for key, v in zip(rows, vals):
            rows[key].append(v)

    fig, axes = new_figure("grid", 2, 2, sharex=True)
    metrics = (("acc", "test accuracy   [%]", 100.0), ("loss", "test loss   [cross-entropy, nats]", 1.0))
    line_kw = {} if lw is None else {"lw": lw}
    for c, which in enumerate(("unaligned", "aligned")):
        for v_i, (key, v) in enumerate(variants.items()):
            curve = need(v, which, source=source)
            lams = arr(need(curve, "lams", source=source))
            for r, (metric, ylabel, scale) in enumerate(metrics):
                ax = axes[r, c]
                mean = scale * arr(need(curve, f"{metric}_mean", source=source))
                std = scale * arr(curve.get(f"{metric}_std", np.full(lams.shape, np.nan)))
                ax.plot(lams, mean, color=f"C{v_i}", marker=markers[v_i % len(markers)], ms=3.5, **line_kw)
                ax.fill_between(lams, mean - std, mean + std, color=f"C{v_i}", alpha=0.15, linewidth=0)
                ax.set_ylabel(ylabel)
                for lam, m_, s_ in zip(lams, mean, std):
                    add(which, key, v.get("kind", key), v.get("sigma_f", np.nan), lam, metric, m_, s_)
            add(which, key, v.get("kind", key), v.get("sigma_f", np.nan), np.nan, "midpoint_acc_drop_pp",
                float(curve.get("midpoint_acc_drop_mean", np.nan)), float(curve.get("midpoint_acc_drop_std", np.nan)))
        axes[0, c].set_title("without alignment (identity)" if which == "unaligned"
                             else "after activation matching (B permuted to A)", fontsize="small")
        axes[1, c].set_xlabel("interpolation weight λ   (θ(λ) = (1−λ)θ_A + λθ_B)")
    handles = []
    for v_i, (key, v) in enumerate(variants.items()):
        un, al = v["unaligned"], v["aligned"]
        handles.append(Line2D([], [], color=f"C{v_i}", marker=markers[v_i % len(markers)], ms=3.5, label=(
            f"{variant_label(v, key)}: midpoint drop {float(un.get('midpoint_acc_drop_mean', np.nan)):.1f} ± "
            f"{float(un.get('midpoint_acc_drop_std', np.nan)):.1f} pp unaligned, "
            f"{float(al.get('midpoint_acc_drop_mean', np.nan)):.1f} ± "
            f"{float(al.get('midpoint_acc_drop_std', np.nan)):.1f} pp aligned")))
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize="x-small")
    for r in range(2):  # shared y-range per row, so that the two columns compare directly
        lo = min(axes[r, c].get_ylim()[0] for c in range(2))
        hi = max(axes[r, c].get_ylim()[1] for c in range(2))
        for c in range(2):
            axes[r, c].set_ylim(lo, hi)
    return fig, axes, rows
