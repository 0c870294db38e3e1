"""lmctheory — linear mode connectivity theory as numbers you can compute and bounds you can test.

The public API is importable from the top level (``from lmctheory import realization_costs``).
Names are resolved lazily from the core modules below, so ``import lmctheory`` stays cheap and
never imports torch; the torch bridge lives in :mod:`lmctheory.nn`.

Core modules (one per family of quantities; formulas and IDs refer to ``docs/theory.md``):

``subspace``     subspace basis from data, coherence (eq. 11), projected centers and their gaps (§1, §4)
``gram``         per-neuron Gram matrices ``S_i`` and their spectra (eq. 9, T-4.2)
``costs``        realization costs (eq. 10, T-10), swap costs, relaxed costs (App. E)
``sensitivity``  output / input permutation sensitivities and their bounds (§4–5)
``bounds``       probability bounds: Gram concentration (T-4.4), center gaps (T-4.6), reindexing (T-4.8b)
``chord``        chord deviations and the LMC barrier bounds (§7)
``lewc``         weak additivity, reciprocal orthogonality, LEWC (§9)
``symmetry``     the symmetry hierarchy checks (§10)
``alignment``    activation / weight matching, Procrustes, linear CKA (§10)
``synthetic``    seeded generators of bases and asymmetric layers (Table 1)
``distributed``  all-pairs costs on a user's Dask or Ray cluster

Support modules: ``cache`` (atomic on-disk result cache), ``sweep`` (cached job runner, local or
on a cluster), ``kernels`` (Numba), ``nn`` (torch bridge), ``experiments`` (the trained experiments shared by
the figures and ``paper_checks``), ``figures``, ``bench``. Command lines share the exit codes of ``_cli``.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

_CORE_MODULES = (
    "subspace",
    "gram",
    "costs",
    "sensitivity",
    "bounds",
    "chord",
    "lewc",
    "symmetry",
    "alignment",
    "synthetic",
    "distributed",
)


def _public_names(modname: str) -> list[str]:
    mod = importlib.import_module(f"{__name__}.{modname}")
    return list(getattr(mod, "__all__", ()))


def __getattr__(name: str):
    if name.startswith("_"):
        raise AttributeError(name)
    for modname in _CORE_MODULES:
        mod = importlib.import_module(f"{__name__}.{modname}")
        if name in getattr(mod, "__all__", ()):
            value = getattr(mod, name)
            globals()[name] = value  # cache: later lookups skip __getattr__
            return value
    raise AttributeError(f"module 'lmctheory' has no attribute {name!r}")


def __dir__():
    names = set(globals())
    for modname in _CORE_MODULES:
        names.update(_public_names(modname))
    return sorted(names)
