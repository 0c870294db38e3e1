"""``validation/`` alone catches small errors in the package itself (docs/theory.md §11).

Each mutant below changes ``lmctheory`` slightly — a relative error of 1e-4 … 1e-3 in a headline function, a
shifted constant, an internal switch turned off — by monkeypatching the core module (and every module that
re-exports the same object) before the theorem checks are imported. The theorem test file named with the mutant
then runs in a fresh interpreter (``python -m tests.test_package_mutants NAME``: the ``ci`` hypothesis profile
with shrinking switched off, ``-x``) and must FAIL with a ``CheckFailed``/assertion, not an error; the unmutated
package must PASS the same selections (the control), so a selection that always fails is caught too.

The mutants run two at a time (2 cores); the whole module takes about a minute. ``MUTANTS`` maps a name to
``(patch, test file, -k expression)``; ``python -m tests.test_package_mutants --list`` prints them and
``python -m tests.test_package_mutants NAME`` runs one (``--none`` runs the control selection).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ("subspace", "gram", "costs", "sensitivity", "bounds", "chord", "lewc", "symmetry")


# ----------------------------------------------------------------------------------------------- patching

def _modules():
    import lmctheory

    mods = [lmctheory] + [importlib.import_module(f"lmctheory.{m}") for m in CORE]
    return mods


def replace(module: str, name: str, new) -> None:
    """Set ``lmctheory.<module>.<name> = new`` and rebind every core module (and the top-level package) that
    holds the same object under the same name (``from .x import name`` re-exports)."""
    owner = importlib.import_module(f"lmctheory.{module}")
    old = getattr(owner, name)
    for mod in _modules():
        if mod is owner or (name in vars(mod) and vars(mod)[name] is old):
            setattr(mod, name, new)


def scaled(module: str, name: str, factor: float, field: str | None = None, index: int | None = None):
    """A patch that multiplies the result of ``<module>.<name>`` (or one dataclass ``field`` of it, or item
    ``index`` of a returned tuple) by ``factor``."""

    def patch():
        import numpy as np

        fn = getattr(importlib.import_module(f"lmctheory.{module}"), name)

        def wrapper(*args, **kw):
            out = fn(*args, **kw)
            if field is not None:
                return dataclasses.replace(out, **{field: getattr(out, field) * factor})
            if index is not None:
                out = list(out)
                out[index] = np.asarray(out[index]) * factor
                return tuple(out)
            return np.asarray(out) * factor if not np.isscalar(out) else out * factor

        wrapper.__wrapped__ = fn
        replace(module, name, wrapper)

    return patch


def constant(module: str, name: str, value):
    def patch():
        replace(module, name, value)

    return patch


def curvature(act: str, factor: float):
    def patch():
        chord = importlib.import_module("lmctheory.chord")
        table = dict(chord.ACTIVATION_CURVATURE)
        table[act] = table[act] * factor
        replace("chord", "ACTIVATION_CURVATURE", table)

    return patch


def _wa_corr_shift():
    """``gaussian_weak_additivity_cosine`` evaluated at a correlation off by 1e-4."""
    lewc = importlib.import_module("lmctheory.lewc")
    fn = lewc.gaussian_weak_additivity_cosine

    def wrapper(var_u=1.0, var_v=1.0, corr=0.0):
        return fn(var_u, var_v, min(1.0, corr + 1e-4))

    replace("lewc", "gaussian_weak_additivity_cosine", wrapper)


#: name -> (patch, validation test file, -k expression)
MUTANTS = {
    # §1–2 costs
    "realization_costs ×(1+1e-4)": (scaled("costs", "realization_costs", 1 + 1e-4), "test_thm_costs.py", "T_10"),
    "realization_costs ×(1−1e-4)": (scaled("costs", "realization_costs", 1 - 1e-4), "test_thm_costs.py", "T_4_2 or T_10"),
    "CANCEL_ACC = 1e300 (recompute off)": (constant("costs", "CANCEL_ACC", 1e300), "test_thm_costs.py", "T_10"),
    "CANCEL_GAMMA_PER_K = 0 (recompute off)": (constant("costs", "CANCEL_GAMMA_PER_K", 0.0), "test_thm_costs.py", "T_10"),
    "self_costs ×(1+1e-4)": (scaled("costs", "self_costs", 1 + 1e-4), "test_thm_costs.py", "T_10"),
    "min_norm_weights ×(1+1e-4)": (scaled("costs", "min_norm_weights", 1 + 1e-4), "test_thm_costs.py", "T_10"),
    "gram_matrices ×(1+1e-4)": (scaled("gram", "gram_matrices", 1 + 1e-4), "test_thm_costs.py", "T_4_2"),
    "subspace_coherence ×(1+1e-4)": (scaled("subspace", "subspace_coherence", 1 + 1e-4), "test_thm_costs.py", "T_4_3"),
    # §3–5 sensitivity, probability
    "gram_concentration_bound ×(1−1e-3)": (scaled("bounds", "gram_concentration_bound", 1 - 1e-3), "test_thm_probability.py", "T_4_4"),
    "swap_cost_decomposition cross ×(1+1e-4)": (scaled("sensitivity", "swap_cost_decomposition", 1 + 1e-4, field="cross"), "test_thm_sensitivity.py", "T_16"),
    "swap_costs ×(1+1e-4)": (scaled("costs", "swap_costs", 1 + 1e-4), "test_thm_sensitivity.py", "T_16"),
    "permutation_sensitivity ×(1+1e-4)": (scaled("sensitivity", "permutation_sensitivity", 1 + 1e-4), "test_thm_sensitivity.py", "T_4_5"),
    "permutation_sensitivity_approximation radius ×(1−1e-3)": (scaled("sensitivity", "permutation_sensitivity_approximation", 1 - 1e-3, field="radius"), "test_thm_sensitivity.py", "T_4_5"),
    "permutation_sensitivity_bounds upper ×(1−1e-3)": (scaled("sensitivity", "permutation_sensitivity_bounds", 1 - 1e-3, index=1), "test_thm_sensitivity.py", "T_4_5"),
    "min_reassignment_lower_bound ×(1+1e-3)": (scaled("sensitivity", "min_reassignment_lower_bound", 1 + 1e-3), "test_thm_sensitivity.py", "T_C_5"),
    "input_sensitivity ×(1+1e-4)": (scaled("sensitivity", "input_sensitivity", 1 + 1e-4), "test_thm_sensitivity.py", "T_4_7"),
    "center_gap_probability_bound ×(1−1e-3)": (scaled("bounds", "center_gap_probability_bound", 1 - 1e-3), "test_thm_probability.py", "T_4_6"),
    "transposition_failure_probability ×(1−1e-3)": (scaled("bounds", "transposition_failure_probability", 1 - 1e-3), "test_thm_probability.py", "T_4_8b"),
    # §7 chords
    "gaussian_relu_chord_deviation ×(1+1e-4)": (scaled("chord", "gaussian_relu_chord_deviation", 1 + 1e-4), "test_thm_chord.py", "T_chord_exact"),
    "relu_chord_bound ×(1−1e-4)": (scaled("chord", "relu_chord_bound", 1 - 1e-4), "test_thm_chord.py", "T_5_1"),
    "center_dominated_chord_bound ×(1−1e-3)": (scaled("chord", "center_dominated_chord_bound", 1 - 1e-3), "test_thm_chord.py", "T_5_1"),
    "ACTIVATION_CURVATURE[gelu] ×(1−1e-3)": (curvature("gelu", 1 - 1e-3), "test_thm_chord.py", "T_D_1"),
    "barrier_bound ×(1−1e-3)": (scaled("chord", "barrier_bound", 1 - 1e-3), "test_thm_chord.py", "T_5_2"),
    # §8 relaxed costs
    "relaxed_cost_bound ×(1−1e-3)": (scaled("costs", "relaxed_cost_bound", 1 - 1e-3), "test_thm_relaxed.py", "T_E_4 or T_E_6"),
    "tail_energy ×(1+1e-4)": (scaled("subspace", "tail_energy", 1 + 1e-4), "test_thm_relaxed.py", "T_E_1 or T_E_6"),
    # §9 LEWC
    "gaussian_weak_additivity_cosine corr + 1e-4": (_wa_corr_shift, "test_thm_lewc.py", "T_WA"),
    "gaussian_weak_additivity_cosine ×(1+1e-4)": (scaled("lewc", "gaussian_weak_additivity_cosine", 1 + 1e-4), "test_thm_lewc.py", "T_WA"),
}

#: the -k selections run by the control, per test file (union over the mutants)
def _control_selections():
    sel: dict[str, list[str]] = {}
    for _, f, k in MUTANTS.values():
        sel.setdefault(f, []).append(f"({k})")
    return {f: " or ".join(sorted(set(ks))) for f, ks in sel.items()}


# ----------------------------------------------------------------------------------------------- runner

class _NoShrink:
    """pytest plugin: after ``validation/conftest.py`` loaded the ``ci`` profile, switch off shrinking (a failing
    example is reported as found; the examples generated are the same)."""

    def pytest_collection_finish(self, session):
        from hypothesis import Phase, settings

        settings.register_profile("ci-mutants", parent=settings.get_profile("ci"),
                                  phases=[Phase.explicit, Phase.reuse, Phase.generate])
        settings.load_profile("ci-mutants")


def run_one(name: str | None, extra=()) -> int:
    """Apply mutant ``name`` (None: no mutant, the control over every selection) and run its theorem tests."""
    import pytest

    if name is None:
        rc = 0
        for f, k in _control_selections().items():
            rc = max(rc, pytest.main([str(ROOT / "validation" / f), "-x", "-q", "-p", "no:cacheprovider", "-k", k,
                                      *extra], plugins=[_NoShrink()]))
        return rc
    patch, f, k = MUTANTS[name]
    patch()
    return pytest.main([str(ROOT / "validation" / f), "-x", "-q", "-p", "no:cacheprovider", "-k", k, *extra],
                       plugins=[_NoShrink()])


def _subprocess(name: str | None):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1", LMCTHEORY_PROFILE="ci")
    env.pop("LMCTHEORY_THEOREM_REPORT_JSON", None)
    cmd = [sys.executable, "-m", "tests.test_package_mutants", "--none" if name is None else name]
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return name, p.returncode, p.stdout + p.stderr


def _caught_by(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("FAILED "):
            return line.split(" - ")[0].removeprefix("FAILED ").split("::")[-1]
    return "?"


@pytest.mark.slow  # one theorem-test subprocess per mutant: about a minute on an idle 2-core machine, ~10 min loaded
def test_validation_catches_every_package_mutant():
    """Every mutant makes its theorem tests fail (pytest exit code 1 with a failed test, no collection or
    internal error), and the unmutated package passes the same selections."""
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(_subprocess, [None, *MUTANTS]))
    (_, rc0, out0), rest = results[0], results[1:]
    assert rc0 == 0, f"the unmutated package fails the theorem checks:\n{out0[-3000:]}"
    missed = []
    for name, rc, out in rest:
        failed = rc == 1 and ("CheckFailed" in out or "AssertionError" in out) and " failed" in out
        if not failed:
            missed.append(f"{name}: exit code {rc}\n{out[-1500:]}")
    assert not missed, "mutants not caught by validation/:\n" + "\n".join(missed)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "--list":
        for n, (_, f, k) in MUTANTS.items():
            print(f"{n:<58} validation/{f} -k '{k}'")
        sys.exit(0)
    if args and args[0] == "--table":  # run all, print which test caught each mutant
        with ThreadPoolExecutor(2) as pool:
            for name, rc, out in pool.map(_subprocess, [None, *MUTANTS]):
                tail = [ln for ln in out.splitlines() if " passed" in ln or " failed" in ln]
                print(f"{name or '(control)':<58} rc={rc} {_caught_by(out) if rc else ''} {tail[-1] if tail else ''}",
                      flush=True)
        sys.exit(0)
    sys.path.insert(0, str(ROOT))
    sys.exit(run_one(None if args[0] == "--none" else args[0], args[1:]))
