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
      (``--json``, ``--out``), an input file that cannot be read, or a cluster given with
      ``--dask`` / ``--ray`` that cannot be reached
====  ========================================================================================

Destinations are checked before any computation, and a problem is reported in one line (no traceback).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_STATUS_HELP", "CLIError", "check_output_file",
           "check_output_dir", "connect_cluster"]

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


def check_output_file(path, option: str = "--json") -> Path:
    """Check that file ``path`` can be written (its folder is created if missing); else :class:`CLIError`.

    An existing file is not touched: the result is written later, atomically, in the same folder.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise CLIError(f"{option} {p}: is a folder, expected a file path")
    if p.exists() and not os.access(p, os.W_OK):
        raise CLIError(f"{option} {p}: the file is not writable")
    check_output_dir(p.parent if str(p.parent) else Path("."), option)
    return p


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
