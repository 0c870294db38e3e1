"""The documentation ships with the code and stays in step with it.

(a) every statement ID (``T-…``) cited in the code has an anchor in ``docs/theory.md``;
(b) every citation key (``[NI]``, …) and author–year citation used in the code has an entry in
    ``docs/references.md``;
(c) every doctest of the package runs under the plain runner (``ELLIPSIS`` only, NumPy's default print options:
    the examples ``python -m pytest --doctest-modules lmctheory`` collects), and every headline function has
    ``References`` and ``Examples``.
"""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SCANNED = ("lmctheory", "validation", "paper_checks", "tests")

# a statement ID: ``T-`` then a number (``T-10``, ``T-4.8a``), an appendix/family letter with a number
# (``T-C.5``, ``T-S3``) or a name (``T-WA``, ``T-chord-exact``); not preceded by a letter or digit
ID_RE = re.compile(r"(?<![A-Za-z0-9])T-[A-Za-z0-9]+(?:[.-][A-Za-z0-9]+)*")
# strings of that shape in the code that are not statement IDs
NOT_IDS = {
    "T-ID",  # lmctheory/subspace.py: "no T-ID — an estimation procedure"
    "T-x",  # tests/test_checks_bite.py: dummy ID passed to the binomial check
}
# ``[NI]`` in prose, not an index such as ``cache[KEY]`` (preceded by a name, ``]`` or ``)``)
KEY_RE = re.compile(r"(?<![\w\])])\[([A-Z][A-Z0-9]+)\]")
AUTHOR_YEAR_RE = re.compile(
    r"\b([A-Z][a-zäöüéè]+)(?:\s+et\s+al\.|\s+(?:&|and)\s+[A-Z][a-zäöüéè]+)\s+\(?((?:19|20)\d\d)\b"
)


def _py_files():
    for top in SCANNED:
        # this file holds made-up IDs and keys on purpose (to show the checks bite)
        yield from sorted(p for p in (ROOT / top).rglob("*.py") if p.resolve() != Path(__file__).resolve())


def _texts():
    return {p: p.read_text(encoding="utf-8") for p in _py_files()}


def anchor(statement_id: str) -> str:
    """``T-4.6`` → ``t-4-6`` (the anchor scheme of docs/theory.md)."""
    return statement_id.lower().replace(".", "-")


def _anchors(md: Path) -> set[str]:
    return set(re.findall(r'<a id="([^"]+)"></a>', md.read_text(encoding="utf-8")))


def cited_ids() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p, text in _texts().items():
        for m in ID_RE.finditer(text):
            if m.group(0) not in NOT_IDS:
                out.setdefault(m.group(0), []).append(str(p.relative_to(ROOT)))
    return out


def test_id_scanner_finds_the_known_ids():
    ids = cited_ids()
    # a scanner that silently finds nothing would make the next test vacuous
    for tid in ("T-10", "T-4.4", "T-4.8a", "T-C.5", "T-E.6", "T-S1", "T-S4", "T-WA", "T-chord-exact", "T-5.3"):
        assert tid in ids, tid
    assert len(ids) >= 28
    assert ID_RE.findall("T-S1..T-S4, (T-4.4). T-C.5's") == ["T-S1", "T-S4", "T-4.4", "T-C.5"]


def test_every_cited_statement_id_has_an_anchor_in_theory_md():
    anchors = _anchors(DOCS / "theory.md")
    missing = {tid: files[:3] for tid, files in cited_ids().items() if anchor(tid) not in anchors}
    assert not missing, f"statement IDs cited in the code without an anchor in docs/theory.md: {missing}"


def test_theory_md_internal_links_resolve():
    text = (DOCS / "theory.md").read_text(encoding="utf-8")
    anchors = _anchors(DOCS / "theory.md")
    broken = sorted({a for a in re.findall(r"\]\(#([^)]+)\)", text)} - anchors)
    assert not broken, broken
    for md in DOCS.glob("*.md"):
        links = re.findall(r"\]\(theory\.md#([^)]+)\)", md.read_text(encoding="utf-8"))
        assert set(links) <= anchors, (md.name, sorted(set(links) - anchors))


def test_docstring_pointers_into_docs_resolve():
    """``docs/theory.md#t-4-6``, ``docs/references.md#ref-ni``, ``docs/experiments.md#c3`` in the code must exist."""
    pages = ("theory.md", "references.md", "experiments.md")
    targets = {page: _anchors(DOCS / page) for page in pages}
    bad = []
    for p, text in _texts().items():
        for page, frag in re.findall(r"docs/(theory\.md|references\.md|experiments\.md)#([\w-]+)", text):
            if frag not in targets[page]:
                bad.append(f"{p.relative_to(ROOT)}: docs/{page}#{frag}")
    assert not bad, bad


def slug(title: str) -> str:
    """``"[NI] setups"`` → ``ni-setups``, ``"Linear CKA"`` → ``linear-cka`` (named anchors of the docs)."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def test_section_and_claim_pointers_have_anchors():
    """Every ``docs/theory.md §7 "Name"`` / ``docs/experiments.md "Name"`` / ``docs/experiments.md L2`` pointer in the
    code must have its target in the docs: ``s-7``, ``slug(Name)``, ``l2``."""
    theory, experiments = _anchors(DOCS / "theory.md"), _anchors(DOCS / "experiments.md")
    bad = []
    for p, text in _texts().items():
        where = str(p.relative_to(ROOT))
        for sec, name in re.findall(r'(?:THEORY|docs/theory)\.md\s+§(\d+)(?:\s*\(?"([^"]+)")?', text):
            if f"s-{sec}" not in theory or (name and slug(name) not in theory):
                bad.append(f"{where}: THEORY.md §{sec} {name}")
        for name in re.findall(r'(?:EXPERIMENTS|docs/experiments)\.md\s+"([^"]+)"', text):
            if slug(name) not in experiments:
                bad.append(f'{where}: EXPERIMENTS.md "{name}"')
        for cid in re.findall(r"(?:EXPERIMENTS|docs/experiments)\.md\s+([CLGMP]\d+)\b", text):
            if cid.lower() not in experiments:
                bad.append(f"{where}: EXPERIMENTS.md {cid}")
    assert not bad, bad


def test_code_points_into_the_repository_not_beside_it():
    """The clone stands alone: no module, test or doc refers to the steering notes (``THEORY.md``, ``EXPERIMENTS.md``,
    ``DESIGN.md`` beside the repository) instead of ``docs/``."""
    bad = [str(p.relative_to(ROOT)) for p, text in _texts().items()
           if re.search(r"(?<![/\w])(THEORY|EXPERIMENTS|DESIGN)\.md", text) and p.name != "test_docs.py"]
    assert not bad, bad


def test_every_citation_key_has_a_reference_entry():
    refs = (DOCS / "references.md").read_text(encoding="utf-8")
    anchors = _anchors(DOCS / "references.md")
    keys = {k for text in _texts().values() for k in KEY_RE.findall(text)}
    assert {"NI", "LEWC", "GLMC", "MC"} <= keys
    missing = sorted(k for k in keys if f"ref-{k.lower()}" not in anchors or f"**[{k}]**" not in refs)
    assert not missing, f"citation keys without an entry in docs/references.md: {missing}"


def test_every_author_year_citation_has_a_reference_entry():
    refs = (DOCS / "references.md").read_text(encoding="utf-8")
    found = {(m.group(1), m.group(2)) for text in _texts().values() for m in AUTHOR_YEAR_RE.finditer(text)}
    assert ("Ainsworth", "2023") in found and ("Lim", "2024") in found
    # an entry is a bold heading line starting with the first author's name and the year
    missing = sorted(f"{a} {y}" for a, y in found if not re.search(rf"\*\*{a}\b[^*\n]*{y}\*\*", refs))
    assert not missing, f"author–year citations without an entry in docs/references.md: {missing}"


# -- examples ------------------------------------------------------------------------------------

#: the headline functions: each must have ``References`` and ``Examples`` sections that run
HEADLINE = (
    "subspace_basis", "subspace_coherence", "projected_centers", "min_center_gap",
    "gram_spectra", "gram_deviation_norms",
    "realization_costs", "swap_costs",
    "permutation_sensitivity", "swap_cost_decomposition", "permutation_sensitivity_bounds",
    "min_reassignment_lower_bound",
    "relu_gaussian_moment", "gaussian_relu_chord_deviation", "relu_chord_bound", "smooth_chord_bound",
    "barrier_bound",
    "gram_concentration_bound", "fixed_count_gram_bound", "center_gap_lower_bound",
    "reindexing_failure_probability",
    "activation_matching", "orthogonal_procrustes", "linear_cka",
    "permute_hidden", "split_relu_unit", "rmsnorm", "transform_attention",
    "weak_additivity_cosine", "gaussian_weak_additivity_cosine", "reciprocal_orthogonality",
    "lewc_cosine", "lewc_error_recursion",
)


def _headline_objects():
    import lmctheory

    return {name: getattr(lmctheory, name) for name in HEADLINE}


def test_headline_functions_have_references_and_examples():
    bad = []
    for name, fn in _headline_objects().items():
        doc = fn.__doc__ or ""
        for section in ("References\n", "Examples\n"):
            if section not in doc:
                bad.append(f"{name}: no {section.strip()} section")
        if "docs/theory.md#" not in doc:
            bad.append(f"{name}: References does not point into docs/theory.md")
        if ">>>" not in doc:
            bad.append(f"{name}: Examples has no runnable line")
    assert not bad, bad


def _headline_modules() -> list[str]:
    return sorted({fn.__module__ for fn in _headline_objects().values()})


#: the plain runner, as ``python -m pytest --doctest-modules lmctheory`` runs it: pytest's default option flags
#: (``ELLIPSIS`` only) and NumPy's default print options (set explicitly, so that no other test's settings leak in)
FLAGS = doctest.ELLIPSIS
NUMPY_DEFAULT_PRINT = dict(precision=8, threshold=1000, edgeitems=3, linewidth=75, suppress=False, nanstr="nan",
                           infstr="inf", sign="-", floatmode="maxprec", legacy=False)


def modules_with_examples() -> list[str]:
    """Every module of the package whose source holds a ``>>>`` line (found without importing anything)."""
    pkg = ROOT / "lmctheory"
    names = []
    for p in sorted(pkg.rglob("*.py")):
        if p.name == "__main__.py" or ">>>" not in p.read_text(encoding="utf-8"):
            continue  # ``pytest --doctest-modules`` does not collect ``__main__.py`` either
        parts = p.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def run_doctests(obj, name: str) -> tuple[int, int, str]:
    """``(examples, failures, report)`` of every doctest found in ``obj`` (a module or a function), run as the
    plain runner runs them: no project-specific option flags or print options."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS, verbose=False)
    out: list[str] = []
    n = 0
    with np.printoptions(**NUMPY_DEFAULT_PRINT):
        for test in finder.find(obj, name):  # a module's examples see the module's names, as under pytest
            n += len(test.examples)
            runner.run(test, out=out.append)
    return n, runner.failures, "".join(out)


def test_every_headline_module_has_examples_collected():
    mods = modules_with_examples()
    assert set(_headline_modules()) <= set(mods), sorted(set(_headline_modules()) - set(mods))
    assert "lmctheory.nn.symmetry.api" in mods and "lmctheory.chord" in mods


@pytest.mark.parametrize("modname", modules_with_examples())
def test_examples_run(modname):
    """Every doctest of every module of the package runs under the plain runner (the same examples
    ``python -m pytest --doctest-modules lmctheory`` collects)."""
    n, failures, report = run_doctests(importlib.import_module(modname), modname)
    assert n > 0, f"{modname} has '>>>' lines but no example was collected"
    assert failures == 0, report


def test_doctest_runner_catches_a_wrong_output():
    """The runner above is not vacuous: a wrong expected value fails, ``...`` does not, and NumPy prints with its
    default precision (an example that relies on shortened output fails)."""

    def f():
        """
        >>> import numpy as np
        >>> print(np.round(np.array([1.0, 2.0]) / 3, 4))
        [0.3333 0.6667]
        >>> list(range(30))
        [0, 1, 2, ..., 29]
        >>> print(np.array([1.0]) / 3)
        [0.3333]
        >>> 1 + 1
        3
        """

    n, failures, report = run_doctests(f, "f")
    assert (n, failures) == (5, 2), report
    assert "Expected:\n    3" in report and "Got:\n    [0.33333333]" in report


def test_missing_anchor_and_entry_are_detected():
    anchors = _anchors(DOCS / "theory.md")
    assert anchor("T-4.6") in anchors and anchor("T-4.6b") not in anchors
    assert anchor("T-C.5") == "t-c-5" and anchor("T-chord-exact") == "t-chord-exact"
    assert KEY_RE.findall("see [NI] and cache[KEY] and f(x)[AB]") == ["NI"]


# -- the README ----------------------------------------------------------------------------------

README = ROOT / "README.md"
FIGURE_COMMAND = 'pip install "torch==2.13.0" -e ".[test]" && python -m lmctheory.figures'
TEST_COMMAND = 'pip install "torch==2.13.0" -e ".[test]" && python -m pytest tests validation'


def _code_blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_commands_and_ci_agree():
    """The README's two commands are the documented ones, and CI runs the README's test command verbatim."""
    lines = [ln.strip() for block in _code_blocks(README.read_text(encoding="utf-8"), "bash")
             for ln in block.splitlines()]
    assert FIGURE_COMMAND in lines and TEST_COMMAND in lines
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    block = re.search(r"# --- begin README test command ---\n(.*?)# --- end README test command ---", ci, re.S)
    assert block is not None, ".ci/run has no README test command block"
    assert block.group(1).strip() == TEST_COMMAND


def test_readme_core_quick_start_runs():
    """The first Python block of the README (the core quick start) runs as written."""
    blocks = _code_blocks(README.read_text(encoding="utf-8"), "python")
    assert blocks and "realization_costs" in blocks[0]
    namespace: dict = {}
    exec(compile(blocks[0], "README.md (core quick start)", "exec"), namespace)
    C, D = namespace["C"], namespace["D"]
    assert C.shape == D.shape == (256, 256) and np.all(np.diag(D) == 0)


def _local_links(md: Path) -> list[str]:
    text = md.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text) + re.findall(r'(?:src|href)="([^"#]+)"', text)
    return [link for link in links if not re.match(r"[a-z]+:", link)]


def test_readme_and_docs_links_resolve():
    """Every relative link (pages, figures) of the README and of docs/*.md points to an existing file."""
    pages = [README, *sorted(DOCS.glob("*.md"))]
    broken = [f"{md.relative_to(ROOT)} → {link}" for md in pages for link in _local_links(md)
              if not (md.parent / link).exists()]
    assert not broken, broken
    assert any("figures/fig14" in link for link in _local_links(README))  # the scan sees the gallery
