"""Exit codes and checks shared by the four command lines.

The package has four command lines:

- ``python -m lmctheory.figures`` (regenerate the figures),
- ``python -m paper_checks`` (re-measure the published claims),
- ``python -m lmctheory.bench`` (benchmarks),
- ``python -m lmctheory.nn.predict MODEL.pt X.npy`` (predict the LMC barrier of a saved model).

They end with

====  ========================================================================================
0     everything ran and everything passed (every figure written, every claim passed or not
      judgeable, every benchmark ran, the prediction made)
1     the run finished, but something missed or failed: a claim MISS or a claim that raised, a
      figure that failed, a benchmark that raised
2     nothing was computed: bad command line, an output destination that cannot be written
      (``--json``, ``--out``) or that is one of the command's inputs, an input file that cannot be
      read, or a cluster given with ``--dask`` / ``--ray`` that cannot be reached
====  ========================================================================================

Destinations and inputs are checked before any computation, and a problem is reported in one line
(``error: <message>`` on stderr, no traceback; :func:`usage_error`). Results are written atomically
(:func:`write_text_atomic`): an interrupted run never leaves half a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_STATUS_HELP", "CLIError", "check_output_file",
           "check_output_dir", "connect_cluster", "usage_error", "write_text_atomic"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: the exit-status paragraph of every ``--help``
EXIT_STATUS_HELP = (
    "exit status: 0 all ran and passed; 1 a miss or a failure (claim MISS or error, figure or benchmark\n"
    "error); 2 nothing computed (bad command line, unwritable output, unreachable --dask/--ray cluster)."
)


class CLIError(Exception):
    """A problem found before computing; the command line prints ``error: <message>`` and exits 2."""


def _probe_dir(d: Path, option: str) -> None:
    """Create and remove a temporary file in ``d`` (the only test that also holds for root and ACLs)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".lmctheory-write-test.")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise CLIError(f"{option} {d}: cannot write in this folder ({exc.strerror or exc})") from None


def check_output_dir(path, option: str = "--out") -> Path:
    """Create folder ``path`` if needed and check a file can be written in it; else :class:`CLIError`."""
    d = Path(path).expanduser()
    if d.exists() and not d.is_dir():
        raise CLIError(f"{option} {d}: exists and is not a folder")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"{option} {d}: cannot create the folder ({exc.strerror or exc})") from None
    _probe_dir(d, option)
    return d


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output_file(path, option: str = "--json", *, create_dir: bool = True, inputs: dict | None = None) -> Path:
    """Check that file ``path`` can be written; else :class:`CLIError`.

    ``create_dir``: create a missing folder (``False``: a missing folder is refused, so a mistyped path is not
    silently created). ``inputs``: ``{argument name: path}`` of the command's input files; an output that is one of
    them (same path, a link to it, or a hard link) is refused, so a run never overwrites its own input. An existing
    file is not touched: the result is written later, atomically, in the same folder.
    """
    p = Path(path).expanduser()
    for name, src in (inputs or {}).items():
        if src is not None and _same_file(p, Path(src).expanduser()):
            raise CLIError(f"{option} {p}: is the input {name}; choose another output path")
    if p.is_dir():
        raise CLIError(f"{option} {p}: is a folder, expected a file path")
    if p.exists() and not os.access(p, os.W_OK):
        raise CLIError(f"{option} {p}: the file is not writable")
    parent = p.parent if str(p.parent) else Path(".")
    if not create_dir and not parent.is_dir():
        raise CLIError(f"{option} {p}: the folder {parent} does not exist")
    check_output_dir(parent, option)
    return p


def usage_error(message) -> int:
    """Print ``error: <message>`` as one line on stderr and return :data:`EXIT_USAGE`."""
    import sys

    text = " ".join(str(message).split()) or "unknown problem"
    print(f"error: {text}", file=sys.stderr)
    return EXIT_USAGE


def write_text_atomic(path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(dir=p.parent if str(p.parent) else ".", prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def connect_cluster(dask: str | None = None, ray: str | None = None):
    """:func:`lmctheory.sweep.connect`, with any failure turned into one :class:`CLIError` line."""
    if not dask and not ray:
        return None
    from .sweep import connect

    try:
        return connect(dask=dask, ray=ray)
    except Exception as exc:  # unreachable scheduler, timeout, missing extra
        where = f"Dask scheduler {dask}" if dask else f"Ray cluster {ray}"
        msg = " ".join(str(exc).split()) or type(exc).__name__
        raise CLIError(f"cannot connect to the {where}: {type(exc).__name__}: {msg}") from None
