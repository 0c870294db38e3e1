"""``validation/`` alone catches small errors in the package itself (docs/theory.md §11).

Each mutant in ``MUTANTS`` changes ``lmctheory`` slightly — a relative error of 1e-4 … 1e-3 in a headline
function, a shifted constant or argument, an internal switch turned off (``costs.CANCEL_ACC = 1e300``: no
cancellation recompute) — by monkeypatching the core module (and every module that re-exports the same object),
then runs the theorem test(s) named with it from ``validation/`` (never ``tests/``) with ``-x``, the ``ci``
hypothesis profile (shrinking switched off: the failing example is reported as generated) and asserts they FAIL
with a ``CheckFailed``/assertion, not an error. A control run (the same patching with a factor of 1, on a
selection from every test file) must pass.

One driver interpreter imports the libraries once and forks a child per mutant, two at a time (2 cores):
``test_validation_catches_package_mutants_quick`` runs one mutant of each kind (~15 s of CPU),
``test_validation_catches_every_package_mutant`` (slow) all of them (~100 s of CPU).
``python -m tests.test_package_mutants --list`` prints the mutants and their tests, ``--table`` runs all and
prints which test caught each (exit code, CPU time), ``NAME`` runs one in this interpreter (``--none``: the
control).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import subprocess
import sys
import tempfile
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


#: name -> (patch, validation test file, -k expression naming the test(s) expected to catch it)
MUTANTS = {
    # §1–2 costs
    "realization_costs ×(1+1e-4)": (scaled("costs", "realization_costs", 1 + 1e-4), "test_thm_costs.py",
                                    "test_T_10_cost_matrix_equals_min_norm_solve"),
    "realization_costs ×(1−1e-4)": (scaled("costs", "realization_costs", 1 - 1e-4), "test_thm_costs.py",
                                    "test_T_10_shared_centers_no_cancellation"),
    "CANCEL_ACC = 1e300 (recompute off)": (constant("costs", "CANCEL_ACC", 1e300), "test_thm_costs.py",
                                           "test_T_10_shared_centers_no_cancellation"),
    "CANCEL_GAMMA_PER_K = 0 (recompute off)": (constant("costs", "CANCEL_GAMMA_PER_K", 0.0), "test_thm_costs.py",
                                               "test_T_10_shared_centers_no_cancellation"),
    "self_costs ×(1+1e-4)": (scaled("costs", "self_costs", 1 + 1e-4), "test_thm_costs.py",
                             "test_T_10_cost_matrix_equals_min_norm_solve"),
    "min_norm_weights ×(1+1e-4)": (scaled("costs", "min_norm_weights", 1 + 1e-4), "test_thm_costs.py",
                                   "test_T_10_min_norm_weights_attain_cost"),
    "gram_matrices ×(1+1e-4)": (scaled("gram", "gram_matrices", 1 + 1e-4), "test_thm_costs.py",
                                "test_T_4_2_realizable_set_is_affine_range"),
    "induced_coefficients ×(1+1e-4)": (scaled("gram", "induced_coefficients", 1 + 1e-4), "test_thm_costs.py",
                                       "test_T_4_2_function_determines_coefficient"),
    "subspace_coherence ×(1+1e-4)": (scaled("subspace", "subspace_coherence", 1 + 1e-4), "test_thm_costs.py",
                                     "test_T_4_3_worked_example"),
    # §3–5 sensitivity, probability
    "gram_concentration_bound ×(1−1e-3)": (scaled("bounds", "gram_concentration_bound", 1 - 1e-3),
                                           "test_thm_probability.py", "test_T_4_4_bound_formulas"),
    "swap_cost_decomposition cross ×(1+1e-4)": (scaled("sensitivity", "swap_cost_decomposition", 1 + 1e-4, field="cross"),
                                                "test_thm_sensitivity.py", "test_T_16_swap_cost_identity"),
    "swap_costs ×(1+1e-4)": (scaled("costs", "swap_costs", 1 + 1e-4), "test_thm_sensitivity.py",
                             "test_T_16_swap_cost_identity"),
    "permutation_sensitivity ×(1+1e-4)": (scaled("sensitivity", "permutation_sensitivity", 1 + 1e-4),
                                          "test_thm_sensitivity.py", "test_T_4_5_output_sensitivity"),
    "permutation_sensitivity_approximation radius ×(1−1e-3)": (
        scaled("sensitivity", "permutation_sensitivity_approximation", 1 - 1e-3, field="radius"),
        "test_thm_sensitivity.py", "test_T_4_5_output_sensitivity"),
    "permutation_sensitivity_bounds upper ×(1−1e-3)": (
        scaled("sensitivity", "permutation_sensitivity_bounds", 1 - 1e-3, index=1), "test_thm_sensitivity.py",
        "test_T_4_5_center_dominated_transpositions"),
    "min_reassignment_lower_bound ×(1+1e-3)": (scaled("sensitivity", "min_reassignment_lower_bound", 1 + 1e-3),
                                               "test_thm_sensitivity.py", "test_T_C_5_min_reassignment"),
    "input_sensitivity ×(1+1e-4)": (scaled("sensitivity", "input_sensitivity", 1 + 1e-4), "test_thm_sensitivity.py",
                                    "test_T_4_7_input_sensitivity"),
    "center_gap_probability_bound ×(1−1e-3)": (scaled("bounds", "center_gap_probability_bound", 1 - 1e-3),
                                               "test_thm_probability.py", "test_T_4_6_formulas"),
    "transposition_failure_probability ×(1−1e-3)": (scaled("bounds", "transposition_failure_probability", 1 - 1e-3),
                                                    "test_thm_probability.py", "test_T_4_8b_formula"),
    # §7 chords
    "relu_gaussian_moment ×(1+1e-4)": (scaled("chord", "relu_gaussian_moment", 1 + 1e-4), "test_thm_chord.py",
                                       "test_T_chord_exact_arccos_kernel_sympy"),
    "gaussian_relu_chord_deviation ×(1+1e-4)": (scaled("chord", "gaussian_relu_chord_deviation", 1 + 1e-4),
                                                "test_thm_chord.py", "test_T_chord_exact_matches_expansion_and_monte_carlo"),
    "relu_chord_bound ×(1−1e-4)": (scaled("chord", "relu_chord_bound", 1 - 1e-4), "test_thm_chord.py",
                                   "test_T_5_1_relu_chord_bound"),
    "center_dominated_chord_bound ×(1−1e-3)": (scaled("chord", "center_dominated_chord_bound", 1 - 1e-3),
                                               "test_thm_chord.py", "test_T_5_1_center_dominated"),
    "ACTIVATION_CURVATURE[gelu] ×(1−1e-3)": (curvature("gelu", 1 - 1e-3), "test_thm_chord.py",
                                             "test_T_D_1_curvature_constants"),
    "barrier_bound ×(1−1e-3)": (scaled("chord", "barrier_bound", 1 - 1e-3), "test_thm_chord.py",
                                "test_T_5_2_saturated_single_unit_attains"),
    # §8 relaxed costs
    "relaxed_cost_bound ×(1−1e-3)": (scaled("costs", "relaxed_cost_bound", 1 - 1e-3), "test_thm_relaxed.py",
                                     "test_T_E_4_relaxed_cost_bound"),
    "tail_energy ×(1+1e-4)": (scaled("subspace", "tail_energy", 1 + 1e-4), "test_thm_relaxed.py",
                              "test_T_E_6_attained_one_dimensional_tail"),
    # §9 LEWC, §10 symmetries
    "gaussian_weak_additivity_cosine corr + 1e-4": (_wa_corr_shift, "test_thm_lewc.py",
                                                    "test_T_WA_gaussian_limit_and_fluctuations"),
    "gaussian_weak_additivity_cosine ×(1+1e-4)": (scaled("lewc", "gaussian_weak_additivity_cosine", 1 + 1e-4),
                                                  "test_thm_lewc.py", "test_T_WA_gaussian_limit_and_fluctuations"),
    "rmsnorm ×(1+1e-4)": (scaled("symmetry", "rmsnorm", 1 + 1e-4), "test_thm_symmetry.py",
                          "test_T_S3_orthogonal_norms"),
}

#: the control: the same patching machinery with a factor of 1 on a cheap selection of every test file (the
#: unmutated package must pass it; ``validation/`` as a whole runs unmutated in CI anyway)
CONTROL = (
    ("costs", "realization_costs"), ("sensitivity", "permutation_sensitivity"), ("chord", "relu_chord_bound"),
    ("lewc", "gaussian_weak_additivity_cosine"), ("subspace", "tail_energy"), ("bounds", "gram_concentration_bound"),
)
CONTROL_SELECTION = {
    "test_thm_costs.py": "test_T_10_shared_centers_no_cancellation",
    "test_thm_sensitivity.py": "test_T_C_5_attained_isotropic",
    "test_thm_probability.py": "test_T_4_8b_formula",
    "test_thm_chord.py": "test_T_D_1_curvature_constants",
    "test_thm_relaxed.py": "test_T_E_6_attained_one_dimensional_tail",
    "test_thm_lewc.py": "test_T_WA_gaussian_limit_and_fluctuations",
    "test_thm_symmetry.py": "test_T_S3_orthogonal_norms",
}


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
        for mod, fn in CONTROL:
            scaled(mod, fn, 1.0)()
        return pytest.main([*(str(ROOT / "validation" / f) for f in CONTROL_SELECTION), "-q", "-p",
                            "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning", "-k", " or ".join(f"({k})" for k in CONTROL_SELECTION.values()),
                            *extra], plugins=[_NoShrink()])
    patch, f, k = MUTANTS[name]
    patch()
    return pytest.main([str(ROOT / "validation" / f), "-x", "-q", "-p", "no:cacheprovider", "-W",
                        "ignore::pytest.PytestAssertRewriteWarning", "-k", k, *extra],
                       plugins=[_NoShrink()])


ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
       "LMCTHEORY_PROFILE": "ci"}


def _caught_by(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("FAILED "):
            return line.split(" - ")[0].removeprefix("FAILED ").split("::")[-1]
    return "?"


def _preload():
    """Import what every run needs once, before forking (saves ~3 s of interpreter start-up per mutant)."""
    import hypothesis  # noqa: F401
    import numpy  # noqa: F401
    import pytest  # noqa: F401
    import scipy.linalg  # noqa: F401
    import scipy.optimize  # noqa: F401
    import scipy.stats  # noqa: F401
    import sympy  # noqa: F401

    _modules()
    importlib.import_module("lmctheory.synthetic")


def _run_forked(name, out_path):
    """Fork; the child applies mutant ``name`` and runs its selection with stdout/stderr to ``out_path``."""
    pid = os.fork()
    if pid == 0:  # child
        code = 3
        try:
            fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            code = int(run_one(name))
        except BaseException:  # noqa: BLE001  (report anything as an error exit code)
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return pid


def run_all(names, workers=2):
    """Run ``names`` (None = the control) at most ``workers`` at a time, each in a forked child of this
    process; returns ``{name: (exit code, output, CPU seconds)}``. Without ``os.fork``: one subprocess each."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        if not hasattr(os, "fork"):
            for i, name in enumerate(names):
                cmd = [sys.executable, "-m", "tests.test_package_mutants", "--none" if name is None else name]
                p = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, **ENV), capture_output=True, text=True)
                results[name] = (p.returncode, p.stdout + p.stderr, float("nan"))
            return results
        _preload()
        todo = list(enumerate(names))
        running = {}
        while todo or running:
            while todo and len(running) < workers:
                i, name = todo.pop(0)
                path = os.path.join(tmp, f"{i}.out")
                running[_run_forked(name, path)] = (name, path)
            pid, status, usage = os.wait4(-1, 0)
            if pid not in running:
                continue
            name, path = running.pop(pid)
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
            results[name] = (os.waitstatus_to_exitcode(status), text, usage.ru_utime + usage.ru_stime)
    return results


def _driver(names):
    """``python -m tests.test_package_mutants --all``: run every mutant and the control in a fresh interpreter
    (so the forks start from a clean process) and print one JSON line per run."""
    cmd = [sys.executable, "-m", "tests.test_package_mutants", "--all-json",
           *("--none" if n is None else n for n in names)]
    p = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, **ENV), capture_output=True, text=True, timeout=900)
    out = {}
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            out[d["name"]] = (d["rc"], d["output"], d["cpu"])
    if set(out) != set(names):
        raise AssertionError(f"mutant driver failed (exit code {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return out


#: one mutant per kind (relative error, internal switch, dataclass field, shifted argument) and per test file:
#: the quick (not slow) test
QUICK = (
    "CANCEL_ACC = 1e300 (recompute off)",
    "induced_coefficients ×(1+1e-4)",
    "swap_cost_decomposition cross ×(1+1e-4)",
    "transposition_failure_probability ×(1−1e-3)",
    "relu_chord_bound ×(1−1e-4)",
    "tail_energy ×(1+1e-4)",
    "gaussian_weak_additivity_cosine corr + 1e-4",
)


def _check_caught(names):
    res = _driver([None, *names])
    rc0, out0, _ = res[None]
    assert rc0 == 0, f"the control (no mutant) fails:\n{out0[-3000:]}"
    missed = []
    for name in names:
        rc, out, _ = res[name]
        failed = rc == 1 and ("CheckFailed" in out or "AssertionError" in out) and " failed" in out
        if not failed:
            missed.append(f"{name}: exit code {rc}\n{out[-1500:]}")
    assert not missed, "mutants not caught by validation/:\n" + "\n".join(missed)


def test_validation_catches_package_mutants_quick():
    """A mutant of each kind (``QUICK``) makes its theorem tests fail — pytest exit code 1 with a failed test whose
    error is a ``CheckFailed``/assertion, not a collection or internal error — and the control (the same patching
    machinery with a factor of 1) passes."""
    _check_caught(list(QUICK))


@pytest.mark.slow
def test_validation_catches_every_package_mutant():
    """Every mutant of ``MUTANTS`` is caught by ``validation/`` alone (about 100 s of CPU, two at a time)."""
    _check_caught(list(MUTANTS))


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.path.insert(0, str(ROOT))
    if args and args[0] == "--list":
        for n, (_, f, k) in MUTANTS.items():
            print(f"{n:<56} validation/{f} -k '{k}'")
        sys.exit(0)
    if args and args[0] in ("--table", "--all-json"):
        os.environ.update(ENV)
        names = [None if n == "--none" else n for n in args[1:]] or [None, *MUTANTS]
        res = run_all(names)
        total = 0.0
        for name, (rc, out, cpu) in res.items():
            total += cpu
            if args[0] == "--all-json":
                print(json.dumps({"name": name, "rc": rc, "output": out[-4000:], "cpu": cpu}), flush=True)
            else:
                tail = [ln for ln in out.splitlines() if " passed" in ln or " failed" in ln]
                print(f"{name or '(control)':<56} rc={rc} cpu {cpu:5.1f}s  {_caught_by(out) if rc else ''}  "
                      f"{tail[-1] if tail else ''}", flush=True)
        if args[0] == "--table":
            print(f"total CPU time of the runs {total:.1f} s")
        sys.exit(0)
    sys.exit(run_one(None if args[0] == "--none" else args[0], args[1:]))
