"""One visual style for every figure, and the writer of the three artefacts of a figure.

Every figure is saved as

``<name>.png``
    fixed size (:data:`FIGSIZES` × :data:`DPI`, no tight bounding box, so the pixel size is
    predictable and tests can check it); the caption is stored in the PNG text chunks
    ``Title`` and ``Description``;
``<name>.csv``
    the plotted data in long format (one row per plotted point, one column per variable);
``<name>.txt``
    the caption as plain text (the sidecar).
"""

from __future__ import annotations

import csv
import io
import math
import numbers
import os
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never open a window (figures run headless in CI)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = [
    "DPI",
    "FIGSIZES",
    "PALETTE",
    "apply_style",
    "new_figure",
    "expected_pixel_size",
    "write_csv",
    "save_figure",
    "reference_line",
]

DPI = 120
#: figure sizes in inches; pixel size = size × DPI
FIGSIZES = {
    "single": (6.4, 4.4),
    "wide": (11.0, 4.4),
    "grid": (11.0, 7.6),
    "xgrid": (15.0, 7.6),
}
PALETTE = "colorblind"


def apply_style() -> None:
    """Set the shared seaborn/matplotlib style (idempotent)."""
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", palette=PALETTE, font_scale=1.15)
    matplotlib.rcParams.update(
        {
            "figure.dpi": DPI,
            "savefig.dpi": DPI,
            "axes.titlesize": "medium",
            "axes.titleweight": "bold",
            "legend.fontsize": "small",
            "legend.frameon": True,
            "legend.framealpha": 0.85,
            "lines.linewidth": 1.8,
            "lines.markersize": 5,
            "figure.constrained_layout.use": True,
        }
    )


def new_figure(size: str = "single", nrows: int = 1, ncols: int = 1, **kwargs):
    """A styled ``(fig, axes)`` pair of one of the standard :data:`FIGSIZES`."""
    apply_style()
    kwargs.setdefault("squeeze", False)
    fig, axes = plt.subplots(nrows, ncols, figsize=FIGSIZES[size], dpi=DPI, **kwargs)
    return fig, axes


def expected_pixel_size(size: str = "single") -> tuple[int, int]:
    """``(width, height)`` in pixels of a saved figure of the given size."""
    w, h = FIGSIZES[size]
    return int(round(w * DPI)), int(round(h * DPI))


def reference_line(ax, y: float, label: str, **kwargs) -> None:
    """A horizontal dashed reference (a theoretical limit)."""
    kwargs.setdefault("color", "0.25")
    kwargs.setdefault("linestyle", "--")
    kwargs.setdefault("linewidth", 1.2)
    ax.axhline(y, label=label, **kwargs)


def _fmt(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (numbers.Integral, np.integer)):
        return str(int(v))
    if isinstance(v, (numbers.Real, np.floating)):
        x = float(v)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return format(x, ".10g")
    return str(v)


def _csv_text(table: Mapping[str, Sequence]) -> str:
    """The CSV text of a long-format table (column name → equal-length 1-D sequence)."""
    if not table:
        raise ValueError("table must have at least one column")
    cols = {k: list(np.asarray(v).ravel()) if not isinstance(v, list) else v for k, v in table.items()}
    lengths = {k: len(v) for k, v in cols.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"table columns must have equal lengths, got {lengths}")
    names = list(cols)
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(names)
    for row in zip(*(cols[n] for n in names)):
        w.writerow([_fmt(v) for v in row])
    return buf.getvalue()


def _temp_beside(path: Path) -> Path:
    """A new empty file next to ``path`` (same folder, so ``os.replace`` is atomic), with the permissions
    a plain ``open(path, "w")`` would give (``mkstemp`` makes it 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    return Path(tmp)


def _write_temp(path: Path, data: bytes) -> Path:
    tmp = _temp_beside(path)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


def write_csv(path: Path, table: Mapping[str, Sequence]) -> Path:
    """Write a long-format table (column name → equal-length 1-D sequence) as CSV (atomically)."""
    text = _csv_text(table)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path, text.encode("utf-8"))
    os.replace(tmp, path)
    return path


def save_figure(fig, out_dir: Path, name: str, caption: str, table: Mapping[str, Sequence],
                title: str | None = None) -> dict[str, Path]:
    """Save ``fig`` as PNG (caption in its metadata), its data as CSV and the caption as TXT.

    The three files are written as one set: each goes to a temporary file beside its target first,
    and only when all three are complete are they moved into place (``os.replace``, atomic per file).
    An interrupt or error before that leaves the previous PNG/CSV/TXT untouched and removes the
    temporary files. Returns the three paths under keys ``png``, ``csv``, ``txt``. The figure is closed.
    """
    from lmctheory import __version__

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = {"png": out_dir / f"{name}.png", "csv": out_dir / f"{name}.csv", "txt": out_dir / f"{name}.txt"}
    meta = {
        "Title": title or name,
        "Description": caption,
        "Software": f"lmctheory {__version__} (python -m lmctheory.figures)",
    }
    temps: dict[str, Path] = {}
    try:
        try:
            csv_text = _csv_text(table)  # a bad table fails before anything is written
            temps["png"] = _temp_beside(targets["png"])
            fig.savefig(temps["png"], dpi=DPI, metadata=meta, format="png")
        finally:
            plt.close(fig)
        temps["csv"] = _write_temp(targets["csv"], csv_text.encode("utf-8"))
        temps["txt"] = _write_temp(targets["txt"], (caption.strip() + "\n").encode("utf-8"))
        for key in ("png", "csv", "txt"):
            os.replace(temps.pop(key), targets[key])
    finally:
        for tmp in temps.values():  # only unreplaced temporaries: the targets are never deleted
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return targets
