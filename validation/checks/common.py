"""Bookkeeping and generic helpers shared by every section module of :mod:`checks`: theorem IDs, the
:class:`CheckFailed` error, the tightness recorder, the formula comparison and the binomial test (§11).

See the package docstring of :mod:`checks` for the conventions.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import scipy.stats

# --------------------------------------------------------------------------------------------
# bookkeeping
# --------------------------------------------------------------------------------------------

THEOREM_IDS = (
    "T-4.2", "T-10", "T-4.3", "T-4.4", "T-16", "T-4.5", "T-C.5", "T-4.6", "T-4.7", "T-4.8a",
    "T-4.8b", "T-C.7", "T-C.8", "T-chord-exact", "T-5.1", "T-D.1", "T-5.2", "T-E.1", "T-E.2",
    "T-E.4", "T-E.5", "T-E.6", "T-WA", "T-5.3", "T-S1", "T-S2", "T-S3", "T-S4",
)

#: significance level of the one-sided binomial test (docs/theory.md §11)
BINOMIAL_LEVEL = 1e-6
#: multiplier of the number of instances in the statistical checks (``thorough`` profile: 5); set once by
#: ``validation/conftest.py`` through :func:`set_stat_scale`
_STAT_SCALE = [1]


def set_stat_scale(scale: int) -> None:
    """Set the multiplier of the statistical instance counts (1 in the ``ci`` profile, 5 in ``thorough``)."""
    _STAT_SCALE[0] = int(scale)


def stat_scale() -> int:
    """The multiplier of the statistical instance counts set by :func:`set_stat_scale`."""
    return _STAT_SCALE[0]


def examples(n: int) -> int:
    """``max_examples`` for the expensive hypothesis tests (torch training, optimizers): ``n`` in the ``ci``
    profile, ``10·n`` in ``thorough``."""
    return n if _STAT_SCALE[0] == 1 else 10 * n


def theorem_sort_key(tid: str):
    try:
        return (THEOREM_IDS.index(tid), tid)
    except ValueError:
        return (len(THEOREM_IDS), tid)


class CheckFailed(AssertionError):
    """A theorem check found a counterexample (or a formula that differs from docs/theory.md)."""


def fail(tid: str, msg: str):
    raise CheckFailed(f"[{tid}] {msg}")


@dataclass
class _Row:
    kind: str
    instances: int = 0
    worst_ratio: float | None = None
    worst_error: float | None = None
    violations: int = 0
    trials: int = 0
    delta: float | None = None
    statement: bool = True
    worst_genuine: float | None = None
    genuine_instances: int = 0


class TheoremRecorder:
    """Collects, per docs/theory.md ID and sub-statement ``key``, the number of instances, the worst
    ratio lhs/rhs (inequalities), the worst relative error (identities) and violation counts
    (probabilistic statements)."""

    def __init__(self):
        self.rows: dict[tuple[str, str], _Row] = {}

    def _row(self, tid, key, kind):
        row = self.rows.get((tid, key))
        if row is None:
            row = self.rows[(tid, key)] = _Row(kind=kind)
        return row

    def ratio(self, tid: str, value, key: str = "bound", instances: int = 1, statement: bool = True,
              genuine: bool = False):
        """An inequality ``lhs ≤ rhs`` checked; ``value = lhs/rhs`` (array: its max is kept). ``statement=False``
        marks a ratio that is not the theorem's own inequality (a proof step, a Monte Carlo agreement, a closed
        form against its derivation): reported, but left out of the per-ID factor-2 verdict. ``genuine=True``
        marks an instance that is non-degenerate for the theorem's assumptions (nonlinear activation, distinct
        models, ``ε > 0``, width ≥ 4, trained pairs where the theorem is about trained networks; each test states
        its rule): the report gives the worst ratio over those beside the worst over all instances (the
        extremal one, which shows that the constant cannot be lowered)."""
        v = float(np.max(value)) if np.size(value) else None
        row = self._row(tid, key, "bound")
        row.statement = statement
        row.instances += instances
        if v is not None and np.isfinite(v):
            row.worst_ratio = v if row.worst_ratio is None else max(row.worst_ratio, v)
            if genuine:
                row.genuine_instances += instances
                row.worst_genuine = v if row.worst_genuine is None else max(row.worst_genuine, v)

    def error(self, tid: str, value, key: str = "identity", instances: int = 1):
        """An identity checked; ``value`` = relative error (array: its max is kept)."""
        v = float(np.max(value)) if np.size(value) else 0.0
        row = self._row(tid, key, "identity")
        row.instances += instances
        if np.isfinite(v):
            row.worst_error = v if row.worst_error is None else max(row.worst_error, v)

    def rate(self, tid: str, violations: int, trials: int, delta: float, key: str = "probability",
             worst_ratio=None, genuine: bool = False):
        """A probabilistic statement: ``violations`` out of ``trials`` at nominal failure rate ``delta``
        (``genuine``: as in :meth:`ratio`, for the rate/δ and ``worst_ratio``)."""
        row = self._row(tid, key, "prob")
        if genuine:
            row.genuine_instances += int(trials)
        row.instances += trials
        row.violations += int(violations)
        row.trials += int(trials)
        row.delta = float(delta) if row.delta is None else max(row.delta, float(delta))
        if worst_ratio is not None and np.isfinite(worst_ratio):
            row.worst_ratio = float(worst_ratio) if row.worst_ratio is None else max(row.worst_ratio, float(worst_ratio))
            if genuine:
                row.worst_genuine = (float(worst_ratio) if row.worst_genuine is None
                                     else max(row.worst_genuine, float(worst_ratio)))

    def table(self) -> dict:
        out: dict = {}
        for (tid, key), r in self.rows.items():
            d = {
                "kind": r.kind,
                "instances": r.instances,
                "worst_ratio": r.worst_ratio,
                "worst_error": r.worst_error,
                "statement": r.statement,
                "worst_ratio_genuine": r.worst_genuine,
                "genuine_instances": r.genuine_instances,
            }
            if r.kind == "prob":
                d.update(violations=r.violations, trials=r.trials, delta=r.delta,
                         rate=(r.violations / r.trials) if r.trials else None)
            out.setdefault(tid, {})[key] = d
        return out


RECORDER = TheoremRecorder()


@contextlib.contextmanager
def torch_single_thread():
    """Run tiny torch workloads on one thread (2-core CI: thread start-up and contention dominate)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# --------------------------------------------------------------------------------------------
# generic helpers
# --------------------------------------------------------------------------------------------

def rel_err(got, want, floor=1.0):
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    return float(np.max(np.abs(got - want) / np.maximum(np.abs(want), floor))) if want.size else 0.0


def check_formula(tid: str, fn, ref, cases, *, rtol=1e-10, atol=0.0, name="formula"):
    """``fn(*args) == ref(*args)`` for every ``args`` in ``cases`` to ``rtol·|ref| + atol``.

    Used where the package evaluates a closed form of docs/theory.md: ``ref`` is the formula transcribed
    independently here. Returns the worst relative error.
    """
    worst = 0.0
    for args in cases:
        got = np.asarray(fn(*args), dtype=float)
        want = np.asarray(ref(*args), dtype=float)
        if got.shape != want.shape:
            fail(tid, f"{name}{args!r}: shape {got.shape}, docs/theory.md form has shape {want.shape}")
        both_inf = np.isinf(got) & np.isinf(want) & (np.sign(got) == np.sign(want))
        g = np.where(both_inf, 0.0, got)
        w = np.where(both_inf, 0.0, want)
        bad = ~(np.abs(g - w) <= rtol * np.abs(w) + atol)
        if bad.any():
            fail(tid, f"{name}{_short(args)} = {got.ravel()[:4]}, docs/theory.md form gives {want.ravel()[:4]}")
        worst = max(worst, float(np.max(np.abs(g - w) / np.maximum(np.abs(w), 1e-300))) if w.size else 0.0)
    return worst


def _short(args):
    def s(a):
        if isinstance(a, np.ndarray):
            return f"array{a.shape}"
        if isinstance(a, float):
            return f"{a:.4g}"
        return repr(a)
    return "(" + ", ".join(s(a) for a in args) + ")"


def binomial_check(tid: str, violations: int, trials: int, delta: float, level: float = BINOMIAL_LEVEL):
    """One-sided binomial test of docs/theory.md §11: fail if ``P(Binom(N, δ) ≥ V) < level``.

    Returns the p-value.
    """
    p = float(scipy.stats.binom.sf(violations - 1, trials, delta)) if violations > 0 else 1.0
    if p < level:
        fail(tid, f"{violations}/{trials} violations at nominal failure probability δ={delta:.3g} "
                  f"(rate {violations / trials:.3g}); P(Binom(N,δ) ≥ V) = {p:.3g} < {level:g}")
    return p


def check_probabilistic(tid: str, draw, trials: int, delta: float, *, level=BINOMIAL_LEVEL):
    """Draw ``trials`` independent instances ``(lhs, rhs) = draw(t)`` of a statement
    "``lhs ≤ rhs`` with probability ≥ 1 − δ" and apply :func:`binomial_check` to the violations.

    Returns ``(violations, trials, worst ratio lhs/rhs)``.
    """
    viol = 0
    worst = -np.inf
    for t in range(trials):
        lhs, rhs = draw(t)
        if not lhs <= rhs:
            viol += 1
        if rhs > 0:
            worst = max(worst, lhs / rhs)
    binomial_check(tid, viol, trials, delta, level)
    return viol, trials, worst
