"""Registry, run context and renderer shared by every figure module."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

__all__ = [
    "MODES",
    "FigureContext",
    "FigureOutput",
    "FigureSpec",
    "RenderResult",
    "FIGURES",
    "register",
    "get_spec",
    "render_figure",
]

#: ``quick``: smallest sizes (tests, smoke runs); ``default``: the committed figures;
#: ``full``: larger Monte Carlo budgets and the full mode of :mod:`lmctheory.experiments`.
MODES = ("quick", "default", "full")


@dataclass
class FigureContext:
    """Settings of one figure run.

    Attributes
    ----------
    mode : {"quick", "default", "full"}
        Size of the computation (see :data:`MODES`). Trained figures run their experiment
        (:mod:`lmctheory.experiments`) in its quick mode unless ``mode == "full"``.
    seed : int
        Base seed; every random draw of a figure derives from it.
    cache_root : Path or None
        Cache folder of the trained experiments (``None``: the default of :mod:`lmctheory.cache`).
    progress : bool
        Show tqdm bars.
    client : object or None
        Optional Dask client (or the ray module) that runs the experiments' jobs.
    """

    mode: str = "default"
    seed: int = 0
    cache_root: Path | None = None
    progress: bool = True
    client: Any = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")

    @property
    def quick(self) -> bool:
        return self.mode == "quick"

    def pick(self, quick, default, full=None):
        """The value of a size parameter for the current mode (``full`` defaults to ``default``)."""
        if self.mode == "quick":
            return quick
        if self.mode == "full" and full is not None:
            return full
        return default

    def experiment_context(self):
        """The :class:`lmctheory.experiments.Context` of the trained figures."""
        from ..experiments import Context

        return Context(
            quick=self.mode != "full",
            cache_root=self.cache_root,
            client=self.client,
            progress=self.progress,
            seed=self.seed,
        )


@dataclass
class FigureOutput:
    """What a figure function returns: the figure, its plotted data and its caption."""

    fig: Any
    table: Mapping[str, Sequence]
    caption: str
    size: str = "single"
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FigureSpec:
    """One registered figure.

    ``number`` is the figure's number; ``name`` is the file stem of its outputs; ``source`` is
    ``"analytic"`` (the numerical core only) or ``"trained"`` (an experiment of :mod:`lmctheory.experiments`).
    """

    number: int
    name: str
    title: str
    source: str
    func: Callable[[FigureContext], FigureOutput]

    @property
    def id(self) -> str:
        return f"{self.number:02d}"


FIGURES: dict[str, FigureSpec] = {}


def register(number: int, name: str, title: str, source: str):
    """Decorator adding a figure function to :data:`FIGURES`."""

    def deco(func):
        spec = FigureSpec(number, name, title, source, func)
        FIGURES[spec.name] = spec
        return func

    return deco


def get_spec(key: str) -> FigureSpec:
    """Look a figure up by number (``"3"``, ``"03"``), by name, or by a unique name prefix."""
    from . import load_all

    load_all()
    key = str(key).strip()
    if key.isdigit():
        for spec in FIGURES.values():
            if spec.number == int(key):
                return spec
    if key in FIGURES:
        return FIGURES[key]
    hits = [s for s in FIGURES.values() if s.name.startswith(key) or s.name.split("_", 1)[-1].startswith(key)]
    if len(hits) == 1:
        return hits[0]
    known = ", ".join(f"{s.number} ({s.name})" for s in sorted(FIGURES.values(), key=lambda s: s.number))
    if hits:
        raise KeyError(f"figure {key!r} is ambiguous: {', '.join(s.name for s in hits)}")
    raise KeyError(f"no figure {key!r}; known figures: {known}")


@dataclass
class RenderResult:
    """Outcome of rendering one figure (``status`` ``"ok"``; errors propagate from :func:`render_figure`)."""

    spec: FigureSpec
    status: str
    seconds: float
    paths: dict[str, Path] = field(default_factory=dict)
    message: str = ""


def _close_all() -> None:
    import matplotlib.pyplot as plt

    plt.close("all")


def render_figure(spec: FigureSpec, out_dir: Path, ctx: FigureContext) -> RenderResult:
    """Compute, draw and save one figure (PNG, CSV and TXT written as one set, see
    :func:`~lmctheory.figures.style.save_figure`). Errors propagate (the CLI catches and reports them);
    a failing figure leaves its previous files untouched."""
    from .style import save_figure

    t0 = time.perf_counter()
    try:
        out = spec.func(ctx)
    except BaseException:
        _close_all()  # a half-drawn figure must not leak into the next one
        raise
    caption = out.caption.strip()
    if out.notes:
        caption += "\n\n" + "\n".join(out.notes)
    paths = save_figure(out.fig, out_dir, spec.name, caption, out.table, title=spec.title)
    return RenderResult(spec, "ok", time.perf_counter() - t0, paths=paths)
