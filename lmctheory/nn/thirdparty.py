"""The real libraries' model definitions: torchvision, timm and Hugging Face transformers, imported safely.

These libraries are optional (the ``test`` extra installs them); the benchmarks, some experiments and
the tests build their models with random initialization — nothing here downloads weights.

torchvision and the CPU torch build
-----------------------------------
With the CPU build of torch pinned in the install command, pip resolves the torchvision wheel made
for that torch version from the package index. That wheel's compiled operators (``nms``,
``roi_align``, …) are built against another torch build and do not load, so ``import torchvision``
fails in ``torchvision/_meta_registrations.py`` with ``RuntimeError: operator torchvision::nms does
not exist``; timm and transformers import torchvision whenever it is installed, so they fail too.

The model definitions are pure Python and need none of those operators. :func:`import_torchvision`
tries a normal import first; only if it fails with that missing-operator error does it drop the
partially imported modules, stand an empty module in for ``torchvision._meta_registrations`` (the
meta kernels of the detection operators, which no classification model uses) and import again.
:func:`import_timm` and :func:`import_transformers` call it first, so the work-around is in place
before either library imports torchvision. Everything in the package and its tests that needs one of
these libraries goes through these three functions.

Examples
--------
>>> from lmctheory.nn.thirdparty import import_torchvision
>>> tv = import_torchvision()                      # doctest: +SKIP
>>> model = tv.models.resnet18(num_classes=10)     # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import sys
import types

__all__ = ["import_torchvision", "import_timm", "import_transformers"]

_META = "torchvision._meta_registrations"
_EXTRA = "install the 'test' extra: pip install \"torch==2.13.0\" -e \".[test]\""


def import_torchvision():
    """Import and return ``torchvision`` (with :mod:`torchvision.models`), working around its compiled ops.

    Raises
    ------
    ImportError
        torchvision is not installed.
    """
    try:
        import torchvision  # noqa: F401
    except ModuleNotFoundError as err:
        raise ImportError(f"torchvision is not installed ({_EXTRA})") from err
    except RuntimeError as err:
        if "torchvision::" not in str(err):
            raise
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        sys.modules[_META] = types.ModuleType(_META)
        import torchvision  # noqa: F401
    import torchvision.models

    return torchvision


def _optional(name):
    try:
        import_torchvision()
    except ImportError:
        pass  # timm needs torchvision and will say so; transformers works without it
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        raise ImportError(f"{name} is not installed ({_EXTRA})") from err


def import_timm():
    """Import and return ``timm`` after torchvision has been made importable."""
    return _optional("timm")


def import_transformers():
    """Import and return ``transformers`` (torchvision made importable first; library log level: errors)."""
    transformers = _optional("transformers")
    transformers.logging.set_verbosity_error()
    return transformers
