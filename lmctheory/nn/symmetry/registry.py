"""The handler registry: one exact symmetry rule per operation, extensible by the user.

A *handler* receives a :class:`~lmctheory.nn.symmetry.tracer.Context` for one node of the captured
ATen graph and returns the layout of the node's output: for a tensor, a list with one layout (a list
of class ids, see :mod:`lmctheory.nn.symmetry.classes`) per axis; for a tuple of tensors, a list of
such lists. In between it merges (``ctx.tie``) the axes the operation forces to be permuted together
and pins (``ctx.pin``) the axes a permutation must not touch. A handler must be *exact*: every
permutation of an unpinned class must commute with the operation.

Handlers are looked up by the exact ATen overload (``"aten.add.Tensor"``), then by its packet
(``"aten.add"``), then by the Python callable (``operator.getitem``). An operation whose tensor
inputs are all pinned needs no handler (its outputs are pinned); any other operation without a
handler is refused with :class:`~lmctheory.nn.symmetry.UnsupportedOperationError` naming it and its
module path.

Registering a handler for your own operation
--------------------------------------------
A custom operator (``torch.library.custom_op``) stays one node in the captured graph. Say it scales
each feature by a function of the feature's own value only (elementwise), so the feature axis may be
permuted freely:

>>> import torch
>>> from torch import nn
>>> from lmctheory.nn.symmetry import register_handler, permutation_groups
>>> @torch.library.custom_op("lmcdemo::softsign_scale", mutates_args=())
... def softsign_scale(x: torch.Tensor) -> torch.Tensor:
...     return x / (1 + x.abs())
>>> @softsign_scale.register_fake
... def _(x):
...     return torch.empty_like(x)
>>> @register_handler("lmcdemo.softsign_scale")
... def _softsign_scale(ctx):
...     return ctx.tap(list(ctx.lay(ctx.arg(0))), tier=0)   # elementwise: same layout as the input
>>> class Net(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.fc1, self.fc2 = nn.Linear(3, 6), nn.Linear(6, 2)
...     def forward(self, x):
...         return self.fc2(softsign_scale(self.fc1(x)))
>>> [(g.name, g.size) for g in permutation_groups(Net(), torch.randn(2, 3))]
[('fc1.weight:0', 6)]

Without the handler the same call raises ``UnsupportedOperationError`` naming
``lmcdemo.softsign_scale.default`` and the module path.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["register_handler", "handler_for", "op_key"]

_HANDLERS: dict = {}


def op_key(target) -> str | object:
    """The registry key of a graph node's target: ``"ns.op.overload"`` for an ATen/custom overload,
    ``"ns.op"`` for a packet; the callable itself otherwise."""
    if isinstance(target, torch._ops.OpOverload):
        return str(target)
    if isinstance(target, torch._ops.OpOverloadPacket):
        return str(target._qualified_op_name).replace("::", ".")
    return target


def register_handler(*ops, replace: bool = False) -> Callable:
    """Decorator: register ``handler(ctx) -> layout`` for the given operations.

    Parameters
    ----------
    *ops : str, torch OpOverload / OpOverloadPacket, or a Python callable
        ``"aten.linear"`` (every overload), ``"aten.add.Tensor"`` (one overload),
        ``torch.ops.aten.linear`` (same as its name), or e.g. ``operator.getitem``.
    replace : bool
        Allow replacing an existing handler (otherwise a duplicate registration is a ``ValueError``).

    Returns
    -------
    callable
        The decorator (it returns the handler unchanged).

    References
    ----------
    docs/theory.md#t-s1 (T-S1) (a handler must commute with every permutation of the classes it leaves free).

    Examples
    --------
    The module docstring (:mod:`lmctheory.nn.symmetry.registry`) has a complete example with a custom operator;
    the built-in handlers are registered the same way:

    >>> import torch
    >>> import lmctheory.nn.symmetry  # registers the built-in handlers
    >>> handler_for(torch.ops.aten.linear.default).__module__
    'lmctheory.nn.symmetry.handlers.linear'
    """
    if not ops:
        raise TypeError("register_handler needs at least one operation")
    keys = []
    for op in ops:
        if isinstance(op, str):
            keys.append(op.replace("::", "."))
        elif isinstance(op, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)) or callable(op):
            keys.append(op_key(op))
        else:
            raise TypeError(f"register_handler: an operation must be a name, an op overload or a callable, got "
                            f"{type(op).__name__}")

    def deco(fn):
        if not callable(fn):
            raise TypeError("register_handler must decorate a callable handler(ctx)")
        for k in keys:
            if k in _HANDLERS and not replace and _HANDLERS[k] is not fn:
                raise ValueError(f"a handler for {k!r} is already registered (pass replace=True to replace it)")
            _HANDLERS[k] = fn
        return fn

    return deco


def handler_for(target):
    """The registered handler of a node target, or None."""
    key = op_key(target)
    h = _HANDLERS.get(key)
    if h is None and isinstance(key, str) and key.count(".") >= 2:
        h = _HANDLERS.get(key.rsplit(".", 1)[0])
    return h
