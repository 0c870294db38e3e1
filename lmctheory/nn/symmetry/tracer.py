"""The walk over a captured graph: every node's output gets a layout, handlers merge and pin classes.

:class:`Context` is what a handler sees (see :mod:`lmctheory.nn.symmetry.registry`); :class:`Analysis`
walks the graph once and reads off the permutation groups (classes owning a parameter axis and never
pinned) and the attention sites.
"""

from __future__ import annotations

import math

import torch
import torch.fx as fx

from .capture import CapturedGraph, module_path
from .classes import AxisClasses
from .registry import handler_for, op_key
from .types import GROUP_KINDS, Member, PermutationGroup, Tap, UnsupportedOperationError

__all__ = ["Context", "Analysis", "norm_axis"]


def norm_axis(d, ndim: int) -> int:
    d = int(d)
    return d + ndim if d < 0 else d


def _is_tensor(v) -> bool:
    return isinstance(v, torch.Tensor)


def _tensor_tree(v) -> bool:
    return _is_tensor(v) or (isinstance(v, (tuple, list)) and any(_tensor_tree(x) for x in v))


def _uniform(c, axis: int) -> bool:
    """True if the constant ``c`` has the same values at every position along ``axis``."""
    if not isinstance(c, torch.Tensor) or c.numel() == 0 or c.ndim <= axis or c.device.type == "meta":
        return False
    try:
        return bool(torch.equal(c, c.narrow(axis, 0, 1).expand_as(c)))
    except RuntimeError:
        return False


def op_name(node: fx.Node) -> str:
    k = op_key(node.target)
    return k if isinstance(k, str) else getattr(node.target, "__qualname__", getattr(node.target, "__name__",
                                                                                     repr(node.target)))


class Context:
    """What a handler sees: the current node, its arguments' values (fake tensors with shapes) and layouts.

    Methods used by handlers: :meth:`arg`, :meth:`val`, :meth:`lay`, :meth:`out`, :meth:`tie`,
    :meth:`pin`, :meth:`fresh`, :meth:`broadcast`, :meth:`tag`, :meth:`tap`, :meth:`fail`,
    :meth:`param`, :meth:`tensor_args`.
    """

    def __init__(self, analysis: "Analysis"):
        self._a = analysis
        self.cl: AxisClasses = analysis.cl
        self.node: fx.Node | None = None

    # ---- reading the node --------------------------------------------------------------------
    def arg(self, i: int, name: str | None = None, default=None):
        """Positional argument ``i`` of the node, else keyword ``name``, else ``default``."""
        n = self.node
        if len(n.args) > i:
            return n.args[i]
        return n.kwargs.get(name, default) if name else default

    def val(self, a):
        """The value of a node argument: a fake tensor (shape, dtype) for tensor nodes, else ``a``."""
        if isinstance(a, fx.Node):
            return a.meta.get("val")
        return a

    @property
    def out(self):
        """The node's own value (fake tensor, or tuple of them)."""
        return self.node.meta.get("val")

    def lay(self, a):
        """The layout of a tensor argument (list of per-axis class lists), None for a non-tensor."""
        if isinstance(a, fx.Node):
            return self._a.layout(a)
        return None

    def param(self, a) -> str | None:
        """Canonical state-dict name if ``a`` is a parameter/buffer placeholder, else None."""
        return self._a.graph.params.get(a.name) if isinstance(a, fx.Node) else None

    def tensor_args(self) -> list:
        flat = []
        fx.node.map_arg((self.node.args, self.node.kwargs), lambda n: flat.append(n))
        return [n for n in flat if _is_tensor(self.val(n))]

    # ---- acting on classes -------------------------------------------------------------------
    def tie(self, a, b) -> bool:
        return self.cl.tie(a, b, f"tied at {self.node.name}")

    def pin(self, layout, why: str) -> None:
        self.cl.pin(layout, f"{why} ({op_name(self.node)} at {module_path(self.node) or '<root>'})")

    def pinned(self, layout) -> bool:
        return self.cl.is_pinned(layout)

    def fresh(self, shape, why: str | None = None):
        """New classes for a tensor of ``shape``, pinned with reason ``why`` if given."""
        return [self.cl.new(s, f"{self.node.name}:{i}", pinned=why) for i, s in enumerate(shape)]

    def tag(self, layout, t: str) -> None:
        self.cl.tag(layout, t)

    def tap(self, out, tier: int, index=()):
        """Record ``out`` (a tensor layout) as an activation carrying units, with its tier; returns ``out``."""
        if isinstance(out, list) and all(isinstance(x, list) for x in out):
            self._a.taps.append((self.node, index, out, tier))
        return out

    def broadcast(self, operands, shape):
        """Merge broadcast operands' axes with the output axes; ``operands`` = [(layout, shape), ...].

        Axes of size 1 are broadcast (constant along the axis, so any permutation is exact). An output axis
        reached by no operand of full size carries constant values: it gets a fresh free class."""
        shape = tuple(shape)
        out = [None] * len(shape)
        for lay, oshape in operands:
            oshape = tuple(oshape)
            off = len(shape) - len(oshape)
            if off < 0:
                self.fail("internal error: a broadcast operand has more axes than the result")
            for i, s in enumerate(oshape):
                if s == 1:
                    continue
                if s != shape[off + i]:
                    self.fail(f"internal error: operand shape {oshape} does not broadcast to {shape}")
                if out[off + i] is None:
                    out[off + i] = lay[i]
                else:
                    self.tie(out[off + i], lay[i])
        return [o if o is not None else self.cl.new(s, f"{self.node.name}:{i}") for i, (o, s) in
                enumerate(zip(out, shape))]

    def fail(self, what: str):
        raise UnsupportedOperationError(f"{what} (op {op_name(self.node)!r} at module path "
                                        f"{module_path(self.node) or '<root>'!r}, node {self.node.name!r})")


class Analysis:
    """One pass over a :class:`CapturedGraph`: layouts of every node, classes, taps, attention records."""

    def __init__(self, graph: CapturedGraph, state_dict: dict):
        self.graph = graph
        self.sd = state_dict
        self.cl = AxisClasses()
        self.lay: dict = {}
        self.plays: dict = {}  # canonical state-dict name -> per-axis layouts
        self.taps: list = []
        self.attention: list = []  # raw attention records from handlers (see handlers.attention)
        self.ctx = Context(self)
        for node in graph.graph.nodes:
            self.ctx.node = node
            if node.op == "placeholder":
                continue  # layouts created lazily on first use (deterministic names in use order)
            if node.op == "output":
                for n in self._flat_nodes(node.args):
                    lay = self.layout(n)
                    self._pin_tree(lay, "model output")
                continue
            if node.op == "get_attr":
                v = node.meta.get("val")
                self.lay[node] = self.ctx.fresh(v.shape, "constant tensor") if _is_tensor(v) else None
                continue
            self.lay[node] = self._visit(node)
            self._check(node.meta.get("val"), self.lay[node])

    @staticmethod
    def _flat_nodes(args):
        flat = []
        fx.node.map_arg(args, lambda n: flat.append(n))
        return flat

    def _pin_tree(self, lay, why):
        if lay is None:
            return
        if isinstance(lay, list) and all(isinstance(x, list) and all(isinstance(c, int) for c in x) for x in lay):
            for a in lay:
                self.ctx.pin(a, why)
            return
        for x in lay:
            self._pin_tree(x, why)

    # ---- layouts -----------------------------------------------------------------------------
    def layout(self, node: fx.Node):
        if node in self.lay:
            return self.lay[node]
        if node.op != "placeholder":
            raise AssertionError(f"internal error: node {node.name} used before it was visited")
        v = node.meta.get("val")
        if not _is_tensor(v):
            self.lay[node] = None
            return None
        name = self.graph.params.get(node.name)
        if name is not None:
            if name not in self.plays:
                self.plays[name] = [self.cl.new(s, f"{name}:{i}") for i, s in enumerate(v.shape)]
            lay = self.plays[name]
        elif node.name in self.graph.constants:
            # a constant pins the axes along which its values vary; along the others it is invariant
            c = self.graph.constant_values.get(node.name)
            lay = [self.cl.new(s, f"{node.name}:{i}", pinned=None if _uniform(c, i) else "constant tensor")
                   for i, s in enumerate(v.shape)]
        else:
            lay = [self.cl.new(s, f"{node.name}:{i}", pinned="model input") for i, s in enumerate(v.shape)]
        self.lay[node] = lay
        return lay

    def _check(self, v, lay):
        # safety net: every handler's layouts must multiply out to the traced shapes
        if _is_tensor(v):
            ok = isinstance(lay, list) and len(lay) == v.ndim and all(
                isinstance(a, list) and self.cl.prod(a) == s for a, s in zip(lay, v.shape))
            if not ok:
                self.ctx.fail("internal error: the handler's axis structure does not match the traced shape "
                              f"{tuple(v.shape)}")
        elif isinstance(v, (tuple, list)) and _tensor_tree(v):
            if not isinstance(lay, list) or len(lay) != len(v):
                self.ctx.fail("internal error: the handler's output structure does not match the traced value")
            for x, la in zip(v, lay):
                self._check(x, la)

    def _fresh_tree(self, v, why):
        if _is_tensor(v):
            return self.ctx.fresh(v.shape, why)
        if isinstance(v, (tuple, list)):
            return [self._fresh_tree(x, why) for x in v]
        return None

    def _visit(self, node):
        ctx = self.ctx
        if node.op != "call_function":
            ctx.fail(f"graph node of kind {node.op!r} is not supported")
        h = handler_for(node.target)
        if h is not None:
            return h(ctx)
        targs = ctx.tensor_args()
        if all(self.cl.is_pinned([c for a in (self.layout(t) or []) for c in a]) for t in targs):
            # no permutable axis reaches this op: its outputs are pinned, no handler needed
            return self._fresh_tree(node.meta.get("val"), "computed from pinned values only")
        ctx.fail("no symmetry handler for this operation")

    # ---- results -----------------------------------------------------------------------------
    def _positions(self, layout):
        cl = self.cl
        exp = cl.expand(layout)
        sizes = [cl.size[c] for c in exp]
        for k, c in enumerate(exp):
            yield cl.find(c), math.prod(sizes[:k]), math.prod(sizes[k + 1:])

    def groups(self) -> list[PermutationGroup]:
        cl = self.cl
        members, order, label = {}, [], {}
        for name in self.sd:
            if name not in self.plays:
                continue
            for axis, lay in enumerate(self.plays[name]):
                leaves = list(self._positions(lay))
                for k, (r, o, i) in enumerate(leaves):
                    if cl.pinned[r] is not None:
                        continue
                    if r not in members:
                        members[r] = []
                        order.append(r)
                        label[r] = f"{name}:{axis}" + (f"/{k}" if len(leaves) > 1 else "")
                    members[r].append(Member(name, axis, o, i))
        taps = {}
        for node, index, lays, tier in self.taps:
            for axis, lay in enumerate(lays):
                for r, o, i in self._positions(lay):
                    if r in members:
                        taps.setdefault(r, []).append(Tap(node.name, index, axis, o, i, tier, op_name(node),
                                                          module_path(node)))
        out, seen = [], set()
        self.group_of_class = {}
        for r in order:  # named and ordered by the first member in state-dict order (stable across variants)
            name = label[r]
            while name in seen:
                name += "'"
            seen.add(name)
            tags = cl.tags[r]
            kind = next((k for k in GROUP_KINDS[:3] if k in tags), "units")
            self.group_of_class[r] = name
            out.append(PermutationGroup(name, cl.size[r], kind, tuple(members[r]), tuple(taps.get(r, []))))
        return out

    def group_name_of(self, layout) -> str | None:
        """The group of a single-class layout (after :meth:`groups`), None if pinned or not a group."""
        exp = self.cl.expand(layout) if layout else []
        if len(exp) != 1:
            return None
        return getattr(self, "group_of_class", {}).get(self.cl.find(exp[0]))
