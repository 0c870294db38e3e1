"""Registry, run context and renderer shared by every figure module."""

from __future__ import annotations

import importlib
import pkgutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

__all__ = [
    "MODES",
    "FigureContext",
    "FigureOutput",
    "FigureSpec",
    "FigureUnavailable",
    "RenderResult",
    "FIGURES",
    "register",
    "get_spec",
    "require",
    "paper_check",
    "render_figure",
]

#: ``quick``: smallest sizes (tests, smoke runs); ``default``: the committed figures;
#: ``full``: larger Monte Carlo budgets and the paper_checks full mode.
MODES = ("quick", "default", "full")


class FigureUnavailable(RuntimeError):
    """A figure cannot be produced (yet): a module it needs is missing or has no such function.

    Raised instead of an ``ImportError`` traceback; the CLI prints the message and goes on.
    """


@dataclass
class FigureContext:
    """Settings of one figure run.

    Attributes
    ----------
    mode : {"quick", "default", "full"}
        Size of the computation (see :data:`MODES`). Trained figures call the paper_checks
        ``collect`` in its quick mode unless ``mode == "full"``.
    seed : int
        Base seed; every random draw of a figure derives from it.
    cache_root : Path or None
        Cache folder passed to paper_checks (``None``: the default of :mod:`lmctheory.cache`).
    progress : bool
        Show tqdm bars.
    client : object or None
        Optional dask client handed to paper_checks.
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

    def paper_context(self):
        """A ``paper_checks.common.Context`` for the trained figures."""
        common = require("paper_checks.common", "Context")
        return common.Context(
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

    ``number`` is the position in the issue's list; ``name`` is the file stem of its outputs;
    ``source`` is ``"analytic"`` (needs only the numerical core) or ``"trained"`` (needs a
    paper_checks module).
    """

    number: int
    name: str
    title: str
    source: str
    func: Callable[[FigureContext], FigureOutput]
    needs: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.number:02d}"


FIGURES: dict[str, FigureSpec] = {}


def register(number: int, name: str, title: str, source: str, needs: Sequence[str] = ()):
    """Decorator adding a figure function to :data:`FIGURES`."""

    def deco(func):
        spec = FigureSpec(number, name, title, source, func, tuple(needs))
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


def require(modname: str, *attrs: str):
    """Import ``modname`` and check it has ``attrs``; else raise :class:`FigureUnavailable`."""
    try:
        mod = importlib.import_module(modname)
    except ModuleNotFoundError as exc:
        if exc.name and (modname == exc.name or modname.startswith(exc.name + ".")):
            raise FigureUnavailable(f"cannot be produced yet: {modname} missing") from None
        raise FigureUnavailable(f"cannot be produced: importing {modname} failed: {exc}") from None
    except Exception as exc:  # a module that exists but is broken (e.g. mid-edit)
        raise FigureUnavailable(
            f"cannot be produced: importing {modname} failed: {type(exc).__name__}: {exc}"
        ) from None
    missing = [a for a in attrs if not hasattr(mod, a)]
    if missing:
        raise FigureUnavailable(f"cannot be produced yet: {modname} has no {', '.join(missing)}")
    return mod


def paper_check(claim: str):
    """The module ``paper_checks/<claim>_*.py`` (e.g. ``claim="c3"``) with its ``collect``."""
    claim = claim.lower()
    try:
        pkg = importlib.import_module("paper_checks")
    except Exception:
        raise FigureUnavailable(f"cannot be produced yet: paper_checks.{claim} missing "
                                "(no paper_checks package)") from None
    names = sorted(
        m.name for m in pkgutil.iter_modules(getattr(pkg, "__path__", []))
        if m.name == claim or m.name.startswith(claim + "_")
    )
    if not names:
        raise FigureUnavailable(f"cannot be produced yet: paper_checks.{claim} missing")
    return require(f"paper_checks.{names[0]}", "collect")


@dataclass
class RenderResult:
    """Outcome of rendering one figure. ``status`` is ``"ok"``, ``"unavailable"`` or ``"error"``."""

    spec: FigureSpec
    status: str
    seconds: float
    paths: dict[str, Path] = field(default_factory=dict)
    message: str = ""


def _close_all() -> None:
    import matplotlib.pyplot as plt

    plt.close("all")


def render_figure(spec: FigureSpec, out_dir: Path, ctx: FigureContext) -> RenderResult:
    """Compute, draw and save one figure; never raises for an unavailable dependency.

    Errors other than :class:`FigureUnavailable` propagate (the CLI catches and reports them).
    """
    from .style import save_figure

    t0 = time.perf_counter()
    for mod in spec.needs:
        name, _, attrs = mod.partition(":")
        try:
            require(name, *[a for a in attrs.split(",") if a])
        except FigureUnavailable as exc:
            return RenderResult(spec, "unavailable", time.perf_counter() - t0, message=str(exc))
    try:
        out = spec.func(ctx)
    except FigureUnavailable as exc:
        _close_all()
        return RenderResult(spec, "unavailable", time.perf_counter() - t0, message=str(exc))
    except BaseException:
        _close_all()  # a half-drawn figure must not leak into the next one
        raise
    caption = out.caption.strip()
    if out.notes:
        caption += "\n\n" + "\n".join(out.notes)
    paths = save_figure(out.fig, out_dir, spec.name, caption, out.table, title=spec.title)
    return RenderResult(spec, "ok", time.perf_counter() - t0, paths=paths)
