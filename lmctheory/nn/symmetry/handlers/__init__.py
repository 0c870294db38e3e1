"""Built-in handlers, one module per operation family (importing this package registers them all)."""

from . import attention, conv, elementwise, embedding, linear, norm, reduction, shape  # noqa: F401

__all__ = ["attention", "conv", "elementwise", "embedding", "linear", "norm", "reduction", "shape"]
