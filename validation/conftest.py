"""Shared machinery of the property-based theorem checks (docs/theory.md §11).

* puts this folder on ``sys.path`` so the test modules can ``import checks, strategies`` whether
  pytest is started as ``pytest validation/`` or ``python -m pytest tests validation`` from the root;
* registers the hypothesis profiles ``ci`` (default: derandomized, modest example counts, no
  example database written into the repository) and ``thorough`` (``LMCTHEORY_PROFILE=thorough``);
* provides the session fixture ``theorem_report`` that the checks feed with observed
  left-side / right-side ratios, identity errors and violation counts, and prints the tightness
  table with ``--theorem-report`` (JSON with ``--theorem-report-json PATH`` or the environment
  variable ``LMCTHEORY_THEOREM_REPORT_JSON``).
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import checks  # noqa: E402  (needs the path above)

# ----------------------------------------------------------------------------- hypothesis profiles
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=25,
    deadline=None,
    print_blob=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=400,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
PROFILE = os.environ.get("LMCTHEORY_PROFILE", "ci")
if PROFILE not in ("ci", "thorough"):
    raise pytest.UsageError(f"LMCTHEORY_PROFILE must be 'ci' or 'thorough', got {PROFILE!r}")
settings.load_profile(PROFILE)
# the statistical checks scale their number of instances with the profile (docs/theory.md §11)
checks.set_stat_scale(1 if PROFILE == "ci" else 5)


# ----------------------------------------------------------------------------- options and report
def pytest_addoption(parser):
    group = parser.getgroup("lmctheory")
    group.addoption(
        "--theorem-report",
        action="store_true",
        default=False,
        help="print a per-theorem table: instances, worst ratio lhs/rhs, violation rate vs delta",
    )
    group.addoption(
        "--theorem-report-json",
        action="store",
        default=os.environ.get("LMCTHEORY_THEOREM_REPORT_JSON"),
        metavar="PATH",
        help="also write the per-theorem table as JSON to PATH",
    )


@pytest.fixture(scope="session")
def theorem_report():
    """The session-wide :class:`checks.TheoremRecorder` (one per pytest run)."""
    return checks.RECORDER


def _fmt(x, nd=4):
    if x is None:
        return "-"
    if isinstance(x, float) and (math.isinf(x) or math.isnan(x)):
        return str(x)
    return f"{x:.{nd}g}"


def theorem_summary(table: dict) -> dict:
    """Per ID: the worst ratio lhs/rhs over its inequality rows (the extremal instance) and whether a right side
    off by a factor of 2 (halved) fails on some instance of this run (``worst ratio > ½``), and beside it the worst
    ratio over the non-degenerate ("genuine") instances only (``genuine_ratio``, ``None`` where the run had none).
    IDs checked only statistically use the worst observed rate/δ (a failure probability off by 2 fails when it
    exceeds ½, up to the binomial test's margin); IDs checked only as identities have no such verdict."""
    out = {}
    for tid, rows in table.items():
        bounds_ = [(r["worst_ratio"], k) for k, r in rows.items()
                   if r["kind"] == "bound" and r.get("statement", True) and r.get("worst_ratio") is not None]
        if bounds_:
            (w, where), basis = max(bounds_), "inequality"
            gen = [(r["worst_ratio_genuine"], k) for k, r in rows.items()
                   if r["kind"] == "bound" and r.get("statement", True) and r.get("worst_ratio_genuine") is not None]
        else:
            rates = [(r["rate"] / r["delta"], k) for k, r in rows.items()
                     if r["kind"] == "prob" and r.get("rate") is not None and r.get("delta")]
            if not rates:
                out[tid] = {"worst_ratio": None, "basis": "identity", "half_fails": None, "where": None,
                            "genuine_ratio": None, "genuine_where": None}
                continue
            (w, where), basis = max(rates), "rate/δ"
            gen = [(r["rate"] / r["delta"], k) for k, r in rows.items()
                   if r["kind"] == "prob" and r.get("rate") is not None and r.get("delta")
                   and r.get("genuine_instances")]
        gw, gwhere = max(gen) if gen else (None, None)
        out[tid] = {"worst_ratio": w, "basis": basis, "half_fails": bool(w > 0.5), "where": where,
                    "genuine_ratio": gw, "genuine_where": gwhere}
    return out


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    table = checks.RECORDER.table()
    summary = theorem_summary(table)
    path = config.getoption("--theorem-report-json", default=None)
    if path:
        Path(path).write_text(json.dumps({"profile": PROFILE, "theorems": table, "summary": summary}, indent=2,
                                         sort_keys=True))
        terminalreporter.write_line(f"theorem report written to {path}")
    if not config.getoption("--theorem-report", default=False):
        return
    tr = terminalreporter
    tr.section("docs/theory.md tightness report (profile %s)" % PROFILE)
    header = f"{'ID':<15} {'kind':<9} {'instances':>9} {'worst ratio':>12} {'worst err':>10} {'violations':>12} {'rate':>9} {'delta':>9}  note"
    tr.write_line(header)
    tr.write_line("-" * len(header))
    for tid in sorted(table, key=checks.theorem_sort_key):
        for key, row in sorted(table[tid].items()):
            kind = row["kind"]
            viol = f"{row['violations']}/{row['trials']}" if row.get("trials") else "-"
            gen = (f" [genuine: {row['genuine_instances']} inst., worst {_fmt(row.get('worst_ratio_genuine'))}]"
                   if row.get("genuine_instances") else "")
            tr.write_line(
                f"{tid:<15} {kind:<9} {row['instances']:>9} {_fmt(row.get('worst_ratio')):>12} "
                f"{_fmt(row.get('worst_error'), 3):>10} {viol:>12} {_fmt(row.get('rate'), 3):>9} "
                f"{_fmt(row.get('delta'), 3):>9}  {key}{'' if row.get('statement', True) else '  [step/agreement]'}{gen}"
            )
    tr.write_line("")
    tr.write_line(f"{'ID':<15} {'extremal':>10} {'genuine':>10}  {'basis':<11} {'×½ fails':<9} attained by  |  genuine worst at")
    for tid in sorted(summary, key=checks.theorem_sort_key):
        row = summary[tid]
        verdict = "-" if row["half_fails"] is None else ("yes" if row["half_fails"] else "NO")
        tr.write_line(f"{tid:<15} {_fmt(row['worst_ratio']):>10} {_fmt(row['genuine_ratio']):>10}  {row['basis']:<11} "
                      f"{verdict:<9} {row['where'] or ''}  |  {row['genuine_where'] or ''}")
    missing = sorted(set(checks.THEOREM_IDS) - set(table), key=checks.theorem_sort_key)
    if missing:
        tr.write_line("IDs with no recorded instance in this run: " + ", ".join(missing))
