"""The real libraries' model definitions for tests (torchvision, timm, Hugging Face transformers).

Test-only dependencies (the ``test`` extra), always built with random initialization. They are
imported through :mod:`lmctheory.nn.thirdparty`, which documents and applies the one work-around for
the torchvision wheel's compiled operators on the CPU torch build; a library that is not installed
skips the test that needs it (CI installs all three, so nothing is skipped there).
"""

from __future__ import annotations

import pytest

from lmctheory.nn import thirdparty


def _load(fn):
    try:
        return fn()
    except ImportError as err:
        pytest.skip(str(err))


def load_torchvision():
    """torchvision with :mod:`torchvision.models` (the work-around applied where needed)."""
    return _load(thirdparty.import_torchvision)


def load_timm():
    """timm, imported after torchvision has been made importable."""
    return _load(thirdparty.import_timm)


def load_transformers():
    """transformers, imported after torchvision has been made importable."""
    return _load(thirdparty.import_transformers)
