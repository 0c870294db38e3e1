"""Regenerate every figure of ``lmctheory``: ``python -m lmctheory.figures``.

Each figure is one registered function (modules ``figNN_*.py``) that computes its data with the
public API (analytic figures 1–5) or with an experiment of :mod:`lmctheory.experiments` (trained
figures 6–15), draws it in the shared style (:mod:`.style`) and returns a :class:`FigureOutput`.
:func:`render_figure` saves ``<name>.png`` (caption in the PNG metadata), ``<name>.csv`` (the
plotted data) and ``<name>.txt`` (the caption), atomically and as one set.

>>> from lmctheory.figures import get_spec, render_figure, FigureContext   # doctest: +SKIP
>>> render_figure(get_spec("1"), "out", FigureContext(mode="quick"))        # doctest: +SKIP
"""

from __future__ import annotations

import importlib

from ._core import (
    FIGURES,
    MODES,
    FigureContext,
    FigureOutput,
    FigureSpec,
    RenderResult,
    get_spec,
    register,
    render_figure,
)

__all__ = [
    "FIGURES",
    "MODES",
    "FigureContext",
    "FigureOutput",
    "FigureSpec",
    "RenderResult",
    "all_specs",
    "get_spec",
    "load_all",
    "register",
    "render_figure",
]

#: figure modules, in figure-number order; importing one registers its figure(s)
_MODULES = (
    "fig01_weak_additivity",
    "fig02_chord",
    "fig03_gram",
    "fig04_center_gap",
    "fig05_cost_geometry",
    "fig06_swap_costs",
    "fig07_coherence",
    "fig08_matching_objective",
    "fig09_interpolation",
    "fig10_lewc_width",
    "fig11_curves",
    "fig12_predict",
    "fig13_resnet_interpolation",
    "fig14_transformer_interpolation",
    "fig15_hierarchy_barriers",
)


def load_all() -> None:
    """Import every figure module (registration happens at import)."""
    for m in _MODULES:
        importlib.import_module(f"{__name__}.{m}")


def all_specs() -> list[FigureSpec]:
    """Every registered figure, sorted by number."""
    load_all()
    return sorted(FIGURES.values(), key=lambda s: s.number)
