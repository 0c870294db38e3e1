"""The repository's layering and the command-line contract.

- nothing under ``lmctheory/`` imports ``paper_checks`` (the library stands on its own), and the
  torch bridge ``lmctheory/nn`` has no import cycle, not even through function-level imports, and the numerical
  core imports neither torch nor matplotlib;
- the command lines share one exit-code contract (:mod:`lmctheory._cli`), check their output
  destination and cluster before computing, and report problems in one line;
- a figure's PNG/CSV/TXT are written atomically as one set, and a failure never deletes a previous figure.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lmctheory import _cli

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lmctheory"


# ----- layering ---------------------------------------------------------------------------------------

def _imports(path: Path, package: str) -> set[str]:
    """Absolute names of every module ``path`` imports, at any depth (function-level imports too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # `from . import data` names a module
    return out


def _package_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts if parts[-1] == "__init__" and parts.pop() is not None else parts[:-1])


def test_library_never_imports_paper_checks():
    offenders = [str(p.relative_to(ROOT)) for p in LIB.rglob("*.py")
                 if any(m == "paper_checks" or m.startswith("paper_checks.") for m in _imports(p, _package_of(p)))]
    assert not offenders, f"modules under lmctheory/ import paper_checks: {offenders}"


def test_scan_sees_function_level_imports():
    """The scanner bites: a paper_checks import hidden inside a function is found."""
    src = "def f():\n    from paper_checks.common import Context\n    return Context\n"
    assert "paper_checks.common" in {m for m in _imports_from_text(src, "lmctheory")}


def _imports_from_text(src: str, package: str, tmp_dir: Path | None = None) -> set[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "probe.py"
        f.write_text(src, encoding="utf-8")
        return _imports(f, package)


def _nn_graph() -> dict[str, set[str]]:
    mods = {f"lmctheory.nn.{p.stem}": p for p in (LIB / "nn").glob("*.py") if p.stem != "__init__"}
    return {m: {d for d in _imports(p, "lmctheory.nn") if d in mods and d != m} for m, p in mods.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for d in sorted(graph[n]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state and (c := visit(d)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_nn_has_no_import_cycle():
    graph = _nn_graph()
    assert "lmctheory.nn.merging" in graph and "lmctheory.nn.biasfree" in graph["lmctheory.nn.merging"]
    assert _cycle(graph) is None, f"import cycle in lmctheory/nn: {' → '.join(_cycle(graph))}"
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the detector bites


@pytest.mark.slow  # ≈ 10 s: a fresh interpreter imports every figure, experiment, benchmark and nn module
def test_library_imports_with_paper_checks_blocked():
    """A fresh interpreter where ``import paper_checks`` fails can import the figures (with every figure
    module), the experiments, the benchmarks and the torch bridge."""
    code = (
        "import sys; sys.modules['paper_checks'] = None\n"
        "import importlib, lmctheory.figures as f; f.load_all()\n"
        "import pkgutil, lmctheory.experiments as e, lmctheory.nn as n\n"
        "mods = ['experiments.' + i.name for i in pkgutil.iter_modules(e.__path__)]\n"
        "mods += ['nn.' + i.name for i in pkgutil.iter_modules(n.__path__)] + ['bench']\n"
        "for m in mods:\n"
        "    importlib.import_module('lmctheory.' + m)\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_core_imports_neither_torch_nor_plotting():
    """The numerical core (and the experiments package itself) stays importable without torch or matplotlib:
    a fresh interpreter that imports every core module finds neither in ``sys.modules``."""
    code = (
        "import sys, importlib, pkgutil, lmctheory\n"
        "for i in pkgutil.iter_modules(lmctheory.__path__):\n"
        "    if not i.ispkg and i.name != '__main__':\n"
        "        importlib.import_module('lmctheory.' + i.name)\n"
        "import lmctheory.experiments, lmctheory.kernels\n"
        "print(sorted(m for m in ('torch', 'matplotlib', 'paper_checks') if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[]", r.stdout


# ----- command lines ----------------------------------------------------------------------------------

def _unwritable(tmp_path) -> Path:
    """A path whose parent is a regular file: unwritable for every user, root included."""
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    return blocker / "sub" / "out.json"


def _never(*a, **k):
    raise AssertionError("computation started before the destination was checked")


def test_check_output_helpers(tmp_path):
    assert _cli.check_output_file(tmp_path / "new" / "r.json") == tmp_path / "new" / "r.json"
    assert (tmp_path / "new").is_dir() and not list((tmp_path / "new").iterdir())  # the probe file is gone
    with pytest.raises(_cli.CLIError, match="--json .*cannot create the folder"):
        _cli.check_output_file(_unwritable(tmp_path))
    with pytest.raises(_cli.CLIError, match="is a folder"):
        _cli.check_output_file(tmp_path)
    with pytest.raises(_cli.CLIError, match="exists and is not a folder"):
        _cli.check_output_dir(tmp_path / "blocker", "--out")


def test_figures_unwritable_out_is_one_line_before_computing(tmp_path, monkeypatch, capsys):
    from lmctheory.figures import __main__ as cli
    from lmctheory.figures import _core

    monkeypatch.setattr(_core, "render_figure", _never)
    assert cli.main(["--only", "1", "--no-progress", "--out", str(_unwritable(tmp_path).parent)]) == _cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --out") and "Traceback" not in err


def test_paper_checks_exit_codes(tmp_path, monkeypatch, capsys):
    from paper_checks import __main__ as cli
    from paper_checks import common

    monkeypatch.setattr(common, "run_claims", _never)
    assert cli.main(["--only", "C5", "--json", str(_unwritable(tmp_path)), "--no-progress"]) == _cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: --json" in err

    import lmctheory.sweep as sweep

    def refuse(dask=None, ray=None):
        raise OSError("Timed out trying to connect to\ntcp://nowhere:1 after 5 s")

    monkeypatch.setattr(sweep, "connect", refuse)
    assert cli.main(["--only", "C5", "--dask", "tcp://nowhere:1", "--no-progress"]) == _cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot connect to the Dask scheduler tcp://nowhere:1" in err

    def fake(verdicts):
        def run(ids, ctx, on_result=None):
            return [common.ClaimResult(id=f"C{i}", title="t", paper="p", measured="m",
                                       passed=None if v == "error" else v, condition="c",
                                       details={"traceback": "x"} if v == "error" else {})
                    for i, v in enumerate(verdicts)]
        return run

    out = tmp_path / "r.json"
    for verdicts, code in (([True, None], 0), ([True, False], 1), ([True, "error"], 1)):
        monkeypatch.setattr(common, "run_claims", fake(verdicts))
        assert cli.main(["--only", "C5", "--json", str(out), "--no-progress"]) == code, verdicts
    assert json.loads(out.read_text())["results"][1]["id"] == "C1"


def test_bench_exit_codes(tmp_path, monkeypatch, capsys):
    from lmctheory.bench import __main__ as cli

    monkeypatch.setattr(cli, "run_all", _never)
    assert cli.main(["--quick", "--json", str(_unwritable(tmp_path))]) == _cli.EXIT_USAGE
    assert capsys.readouterr().err.startswith("error: --json")
    assert cli.main(["--only", "no_such_bench"]) == _cli.EXIT_USAGE
    row = {"module": "gaps", "name": "x", "baseline_s": 1.0, "ours_s": 0.5, "ratio": 2.0, "notes": ""}
    monkeypatch.setattr(cli, "run_all", lambda quick, only: [row])
    assert cli.main(["--quick", "--json", str(tmp_path / "b.json")]) == _cli.EXIT_OK
    assert json.loads((tmp_path / "b.json").read_text())["results"][0]["ratio"] == 2.0
    monkeypatch.setattr(cli, "run_all", lambda quick, only: [{**row, "notes": "FAILED: RuntimeError: boom"}])
    assert cli.main(["--quick"]) == _cli.EXIT_FAILED


@pytest.mark.parametrize("module", ["lmctheory.figures", "paper_checks", "lmctheory.bench"])
def test_help_documents_the_exit_codes(module, capsys):
    mod = __import__(f"{module}.__main__", fromlist=["main"])
    with pytest.raises(SystemExit) as exc:
        mod.main(["--help"])
    assert exc.value.code == 0
    assert _cli.EXIT_STATUS_HELP.splitlines()[0] in capsys.readouterr().out


# ----- atomic figure writes ---------------------------------------------------------------------------

def _toy(fig_value=1.0):
    from lmctheory.figures.style import new_figure

    fig, axes = new_figure("single")
    x = np.linspace(0, 1, 5)
    axes[0, 0].plot(x, fig_value * x)
    return fig, {"x": x, "y": fig_value * x}


def _snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_save_figure_writes_a_consistent_set_and_keeps_old_files_on_failure(tmp_path, monkeypatch):
    from lmctheory.figures import style

    fig, table = _toy(1.0)
    paths = style.save_figure(fig, tmp_path, "toy", "first caption", table)
    assert set(paths) == {"png", "csv", "txt"} and all(p.exists() for p in paths.values())
    before = _snapshot(tmp_path)
    assert set(before) == {"toy.png", "toy.csv", "toy.txt"}  # no temporary left behind

    # an interrupt while the PNG is being written: the previous set is untouched, no temp files remain
    fig, table = _toy(2.0)

    def interrupted(self, fname, **kw):
        Path(fname).write_bytes(b"\x89PNG truncated")
        raise KeyboardInterrupt

    monkeypatch.setattr(type(fig), "savefig", interrupted)
    with pytest.raises(KeyboardInterrupt):
        style.save_figure(fig, tmp_path, "toy", "second caption", table)
    assert _snapshot(tmp_path) == before
    monkeypatch.undo()

    # a failure after the PNG (the CSV step): still nothing replaced
    fig, table = _toy(3.0)
    real = style._write_temp
    monkeypatch.setattr(style, "_write_temp", lambda path, data: _never() if path.suffix == ".csv" else real(path, data))
    with pytest.raises(AssertionError):
        style.save_figure(fig, tmp_path, "toy", "third caption", table)
    assert _snapshot(tmp_path) == before
    monkeypatch.undo()

    # a bad table fails before anything is written
    fig, _ = _toy(4.0)
    with pytest.raises(ValueError, match="equal lengths"):
        style.save_figure(fig, tmp_path, "toy", "fourth caption", {"x": [1, 2], "y": [1]})
    assert _snapshot(tmp_path) == before

    # a successful write replaces all three
    fig, table = _toy(5.0)
    style.save_figure(fig, tmp_path, "toy", "fifth caption", table)
    after = _snapshot(tmp_path)
    assert set(after) == set(before) and all(after[k] != before[k] for k in before)
    assert after["toy.txt"] == b"fifth caption\n"


def test_failing_figure_keeps_its_previous_files(tmp_path):
    from lmctheory.figures import FigureOutput, FigureSpec, render_figure
    from lmctheory.figures._core import FigureContext

    def ok(ctx):
        fig, table = _toy(1.0)
        return FigureOutput(fig, table, "a caption long enough for the figure test")

    def fails(ctx):
        _toy(2.0)  # a half-drawn figure, then an error
        raise RuntimeError("boom")

    ctx = FigureContext(mode="quick", progress=False)
    render_figure(FigureSpec(99, "fig99_toy", "toy", "analytic", ok), tmp_path, ctx)
    before = _snapshot(tmp_path)
    with pytest.raises(RuntimeError, match="boom"):
        render_figure(FigureSpec(99, "fig99_toy", "toy", "analytic", fails), tmp_path, ctx)
    assert _snapshot(tmp_path) == before
