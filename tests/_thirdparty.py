"""The real libraries' model definitions for tests: torchvision, timm, Hugging Face transformers.

These are test-only dependencies (the ``test`` extra). Models are built with random initialization;
no weights are ever downloaded.

torchvision and the CPU torch build
-----------------------------------
The README's install command pins the local CPU build ``torch==2.13.0`` and pip then resolves the
matching ``torchvision`` wheel from the package index. That wheel's compiled operators (``nms``,
``roi_align``, …) are built against another torch build and do not load, so ``import torchvision``
fails in ``torchvision/_meta_registrations.py`` with ``RuntimeError: operator torchvision::nms does
not exist``; timm and transformers import torchvision whenever it is installed, so they fail too.

The model definitions themselves are pure Python and need none of those operators. The one place
that handles this is :func:`load_torchvision`: it tries a normal import first; if that fails with the
missing-operator error, it drops the partially imported modules, stands in an empty module for
``torchvision._meta_registrations`` (the meta kernels of the detection operators, which no model
here uses) and imports again. Every test gets torchvision, timm and transformers through the
functions below, never by importing them directly, so the work-around is applied before either of
the other two libraries imports torchvision.
"""

from __future__ import annotations

import sys
import types

import pytest

_META = "torchvision._meta_registrations"


def load_torchvision():
    """Import torchvision (see the module docstring); skip the test where it is not installed."""
    try:
        import torchvision  # noqa: F401
    except ModuleNotFoundError:
        pytest.skip("torchvision is not installed (install the 'test' extra)")
    except RuntimeError as err:
        if "torchvision::" not in str(err):
            raise
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        sys.modules[_META] = types.ModuleType(_META)
        import torchvision  # noqa: F401
    import torchvision.models

    return torchvision


def load_timm():
    """Import timm after torchvision has been made importable."""
    load_torchvision()
    return pytest.importorskip("timm")


def load_transformers():
    """Import transformers after torchvision has been made importable."""
    load_torchvision()
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    return transformers
