"""Permutation symmetry groups of any traceable PyTorch model, found by tracing (docs/theory.md §10, T-S1).

A *permutation symmetry* of a network reorders the units along some axes of its activations and,
consistently, the entries of every parameter/buffer that reads or writes those units, so that the
function is unchanged (T-S1: hidden units of an MLP; channels of a CNN; heads of attention).
:func:`permutation_groups` finds them for any model ``torch.fx`` can trace:

1. The model is traced with ``torch.fx`` (known modules are leaves) and run on the example input by
   an interpreter, so every node has a value and a shape.
2. Every axis of every tensor (activations, parameters, buffers) gets a *layout*: a list of
   equivalence classes whose sizes multiply to the axis length, read row-major (so an axis of
   length 3·H·dh produced by a fused ``qkv`` Linear and reshaped to ``(3, H, dh)`` has three factor
   classes). A union–find over the classes merges whatever an operation forces to be permuted
   together: ``Linear``/``Conv`` tie the input's feature/channel axis to ``weight[:, in]``, their
   output axis is ``weight[out]`` (with ``bias``), norms tie their parameters and running statistics
   to their axis, elementwise operations (``add``/``mul``/activations, with broadcasting) merge the
   matching axes of their operands — so residual connections tie the permutations of everything
   they add — and reshapes that split or merge axes refine classes into factors.
3. Classes that touch a model input or output, and classes an operation mixes (spatial axes of a
   convolution, an axis indexed by position, concatenated axes, …) are *pinned*: never permuted.
   Every other class that owns at least one parameter/buffer axis is a :class:`PermutationGroup`.

Every operation handler is exact (equivariant for every permutation of an unpinned class), and an
operation without a handler raises :class:`UnsupportedOperationError` naming the operation and the
module path, so a model is either handled exactly or refused — never silently mis-permuted. The traced
groups are a subgroup of the full symmetry group: e.g. the within-head permutation is shared by all
heads (the true symmetry allows one per head), GroupNorm(G, C) with ``1 < G < C`` allows permutations
of groups times a within-group permutation shared by all groups, and a concatenated axis is pinned.

Conventions
-----------
A permutation ``perm`` of a group of size ``n`` is an int array of shape ``(n,)``; applying it gives
new unit ``i`` = old unit ``perm[i]`` (the convention of :mod:`lmctheory.alignment`).

Members (:class:`Member`) are exact: ``Member(name, axis, outer, inner)`` says that axis ``axis`` of the
state-dict tensor ``name`` has length ``outer · size · inner``, is viewed row-major as
``(outer, size, inner)``, and the group permutes the middle index. Plain channels: ``outer = inner = 1``;
conv channels flattened into a Linear: ``inner = H·W``; heads in a fused qkv weight of shape
``(3·H·dh, E)``: ``outer = 3, inner = dh``; heads in the output projection ``(E, H·dh)``: ``inner = dh``.
Any linear map ``Q`` of the group's units acts the same way: ``T'[…, o, i, r, …] = Σ_j Q[i, j] T[…, o, j, r, …]``
(a permutation is the 0/1 matrix ``Q[i, perm[i]] = 1``).

Group kinds (``PermutationGroup.kind``), from the operations that touch the class:
``"heads"`` (a batch axis of an attention product: ``q @ kᵀ``, ``softmax @ v``, SDPA, ``nn.MultiheadAttention``),
``"head_dim"`` (a within-head axis contracted by ``q @ kᵀ`` or carried by ``v``), ``"residual"`` (an axis
of a sum of two activations: a residual stream, tied through every add and norm), ``"units"`` (anything
else: MLP hidden units, conv channels inside a block).

Supported operations
--------------------
Modules: ``Linear`` (and subclasses), ``Conv1d``/``Conv2d`` (any stride/padding/dilation, ``groups=1``),
asymmetric linear/conv layers (duck-typed: buffers ``F``, ``D``, method ``effective_weight()``, 2-D or
4-D ``weight``), ``BatchNorm1d/2d``, ``GroupNorm``, ``LayerNorm``, ``Embedding``, ``MultiheadAttention``
(self/cross attention with equal embed dims, no ``bias_k``), ``Flatten``/``Unflatten``, pooling
(``Max/AvgPool1d/2d``, ``AdaptiveAvg/MaxPool1d/2d``), ``Dropout*``, ``Identity``, elementwise activations,
``Softmax``/``LogSoftmax``. Functions and methods: arithmetic with broadcasting, elementwise math,
reductions (``sum``, ``mean``, ``amax``, ``var``, …; ``max``/``min`` with a dim pin the reduced axis),
``softmax``, ``linear``, ``conv1d/2d``, ``layer_norm``, ``matmul``/``@``/``bmm``, ``einsum`` (no ellipsis),
``scaled_dot_product_attention``, ``reshape``/``view``/``flatten``/``unflatten``/``squeeze``/``unsqueeze``,
``permute``/``transpose``/``.T``/``.mT``/``movedim``, ``expand``, ``chunk``/``split``/``unbind``
(equal pieces keep a product structure), ``cat``/``stack``, basic indexing (ints, slices, ``None``,
``...``), ``masked_fill``/``where``, factories that read no activation (``arange``, ``ones``, …).
"""

from __future__ import annotations

import copy
import inspect
import math
import operator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as Fn
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .._validation import check_permutation, check_scalar, check_seed
from ._checks import check_module, describe

__all__ = [
    "UnsupportedOperationError",
    "SymmetryCheckError",
    "Member",
    "Tap",
    "PermutationGroup",
    "permutation_groups",
    "random_permutation",
    "normalize_perms",
    "apply_permutation",
    "check_permutation_invariance",
    "is_asymmetric_module",
    "GROUP_KINDS",
]

GROUP_KINDS = ("heads", "head_dim", "residual", "units")


class UnsupportedOperationError(NotImplementedError):
    """An operation of the traced model has no exact handler (message: the op and its module path).

    A subclass of ``NotImplementedError``: the model may well have symmetries, but this tracer cannot
    certify them. Pass ``groups`` by hand, or rewrite the operation with supported ones.
    """


class SymmetryCheckError(RuntimeError):
    """:func:`check_permutation_invariance` found that a group element changed the model's output."""


@dataclass(frozen=True)
class Member:
    """One axis of one parameter/buffer that a group permutes.

    Attributes
    ----------
    name : str
        State-dict name (``model.state_dict()[name]``), parameter or buffer.
    axis : int
        Non-negative axis of that tensor.
    outer, inner : int
        The axis has length ``outer · size · inner`` (``size`` = the group's size) and is viewed
        row-major as ``(outer, size, inner)``; the group acts on the middle index.
    """

    name: str
    axis: int
    outer: int = 1
    inner: int = 1

    def positions(self, size: int) -> np.ndarray:
        """Int array ``(size, outer·inner)``: row ``k`` lists the axis positions of unit ``k``."""
        o, k, r = np.meshgrid(np.arange(self.outer), np.arange(size), np.arange(self.inner), indexing="ij")
        return np.transpose(o * size * self.inner + k * self.inner + r, (1, 0, 2)).reshape(size, -1)


@dataclass(frozen=True)
class Tap:
    """An activation that carries a group's units (used by activation matching).

    ``node`` is the torch.fx node name, ``index`` the position inside a tuple output (``()`` for a
    tensor), ``axis`` the tensor axis, viewed as ``(outer, size, inner)`` like :class:`Member`.
    ``tier``: 0 = output of a nonlinearity (activation function or softmax), 1 = sum of two activations
    (residual add), 2 = any other computed tensor (linear/conv/matmul/norm output).
    """

    node: str
    index: tuple
    axis: int
    outer: int
    inner: int
    tier: int


@dataclass(frozen=True)
class PermutationGroup:
    """An independent permutation symmetry of a model (see the module docstring).

    Attributes
    ----------
    name : str
        Unique, deterministic: the first tensor axis that created the class, e.g. ``"fc1.weight:0"``
        (the output units of ``fc1``); factor classes of a split axis get ``"/k"`` (factor ``k``).
    size : int
        Number of units permuted.
    kind : {"heads", "head_dim", "residual", "units"}
    members : tuple of Member
        Every parameter/buffer axis the group permutes (apply a permutation to all of them).
    taps : tuple of Tap
        Every traced activation carrying the units, with its tier (empty for units hidden inside a
        leaf module, e.g. the heads of ``nn.MultiheadAttention``).
    """

    name: str
    size: int
    kind: str
    members: tuple
    taps: tuple = field(default=(), repr=False)

    @property
    def block(self) -> bool:
        """True if some member permutes blocks (``inner > 1``), e.g. heads of size ``dh``."""
        return any(m.inner > 1 for m in self.members)


# -------------------------------------------------------------------------------------------------
# union–find over classes, with refinement of a class into a product of factor classes
# -------------------------------------------------------------------------------------------------
class _Classes:
    def __init__(self):
        self.parent, self.size, self.label, self.tags = [], [], [], []
        self.split = {}
        self.pins = []  # (layout, reason)

    def new(self, size, label, pinned=None):
        if size == 1:
            return []
        c = len(self.parent)
        self.parent.append(c)
        self.size.append(int(size))
        self.label.append(label)
        self.tags.append(set())
        if pinned:
            self.pins.append(([c], pinned))
        return [c]

    def find(self, c):
        while self.parent[c] != c:
            self.parent[c] = self.parent[self.parent[c]]
            c = self.parent[c]
        return c

    def expand(self, layout):
        out = []
        for c in layout:
            r = self.find(c)
            out.extend(self.expand(self.split[r]) if r in self.split else [r])
        return out

    def prod(self, layout):
        return math.prod(self.size[c] for c in self.expand(layout))

    def tag(self, layout, t):
        for c in self.expand(layout):
            self.tags[c].add(t)

    def pin(self, layout, reason):
        self.pins.append((list(layout), reason))

    def _split(self, r, sizes):
        new = [self.new(s, f"{self.label[r]}/{k}")[0] for k, s in enumerate(sizes)]
        self.split[r] = new
        return new

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] != self.size[rb]:
            raise AssertionError("internal error: union of classes of different sizes")
        if rb < ra:
            ra, rb = rb, ra  # the older class names the union
        self.parent[rb] = ra
        self.tags[ra] |= self.tags[rb]
        sa, sb = self.split.get(ra), self.split.get(rb)
        if sb is not None:
            if sa is None:
                self.split[ra] = sb
            else:
                self.tie(sa, sb, "")

    def tie(self, la, lb, reason):
        """Merge two layouts of the same total size, refining factors to a common structure.

        Returns False (and pins both) if their factor boundaries cross (no exact common refinement)."""
        A, B = self.expand(la), self.expand(lb)
        if self.prod(A) != self.prod(B):
            raise AssertionError("internal error: tie of axes of different lengths")
        i = j = 0
        while i < len(A) and j < len(B):
            a, b = self.find(A[i]), self.find(B[j])
            if a in self.split:
                A[i:i + 1] = self.expand([a])
                continue
            if b in self.split:
                B[j:j + 1] = self.expand([b])
                continue
            sa, sb = self.size[a], self.size[b]
            if sa == sb:
                self.union(a, b)
                i += 1
                j += 1
            elif sb % sa == 0:
                B[j:j + 1] = self._split(b, [sa, sb // sa])
            elif sa % sb == 0:
                A[i:i + 1] = self._split(a, [sb, sa // sb])
            else:
                self.pin(la, reason or "incompatible axis structures")
                self.pin(lb, reason or "incompatible axis structures")
                return False
        return True

    def cut(self, layout, sizes, reason):
        """Split a flat layout into consecutive pieces of the given sizes (row-major); pins on failure."""
        out, rest = [], self.expand(layout)
        for s in sizes:
            piece, p = [], 1
            while p < s:
                if not rest:
                    break
                c = self.find(rest[0])
                if c in self.split:
                    rest[0:1] = self.expand([c])
                    continue
                sc = self.size[c]
                if p * sc <= s and s % (p * sc) == 0:
                    piece.append(c)
                    p *= sc
                    rest.pop(0)
                elif (s // p) > 0 and s % p == 0 and sc % (s // p) == 0:
                    rest[0:1] = self._split(c, [s // p, sc // (s // p)])
                else:
                    break
            if p != s:
                self.pin(layout, reason)
                return None
            out.append(piece)
        return out


# -------------------------------------------------------------------------------------------------
# module / op classification
# -------------------------------------------------------------------------------------------------
def is_asymmetric_module(m) -> bool:
    """Duck type of an asymmetric layer ``W̃ = F + D ⊙ W``: ``F``/``D`` tensors, ``effective_weight()``,
    and a 2-D (linear) or 3-/4-D (conv) ``weight``."""
    return (isinstance(m, nn.Module) and isinstance(getattr(m, "F", None), torch.Tensor)
            and isinstance(getattr(m, "D", None), torch.Tensor) and callable(getattr(m, "effective_weight", None))
            and isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.ndim in (2, 3, 4))


_ACT_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.ELU, nn.SELU, nn.CELU,
                nn.Softplus, nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softsign, nn.Tanhshrink,
                nn.Softmax, nn.LogSoftmax)
_PASS_MODULES = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout)
_POOL_MODULES = {nn.MaxPool1d: 1, nn.MaxPool2d: 2, nn.AvgPool1d: 1, nn.AvgPool2d: 2, nn.AdaptiveAvgPool1d: 1,
                 nn.AdaptiveAvgPool2d: 2, nn.AdaptiveMaxPool1d: 1, nn.AdaptiveMaxPool2d: 2}
_RMSNORM = (nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()  # torch ≥ 2.4
_LEAF_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, _BatchNorm, nn.GroupNorm, nn.LayerNorm, *_RMSNORM, nn.Embedding,
               nn.MultiheadAttention, nn.Flatten, nn.Unflatten, *_ACT_MODULES, *_PASS_MODULES, *_POOL_MODULES)

_ACT_FUNCS = {Fn.relu, Fn.relu6, Fn.gelu, Fn.silu, Fn.elu, Fn.selu, Fn.celu, Fn.leaky_relu, Fn.softplus, Fn.mish,
              Fn.hardswish, Fn.hardsigmoid, Fn.hardtanh, Fn.softsign, Fn.tanh, Fn.sigmoid, Fn.softmax,
              Fn.log_softmax, torch.relu, torch.tanh, torch.sigmoid, torch.softmax, torch.log_softmax,
              torch.nn.functional.logsigmoid}
_ACT_METHODS = {"relu", "sigmoid", "tanh", "softmax", "log_softmax"}
_ELEM_FUNCS = {operator.add, operator.iadd, operator.sub, operator.isub, operator.mul, operator.imul,
               operator.truediv, operator.itruediv, operator.neg, operator.pow, torch.add, torch.sub, torch.mul,
               torch.div, torch.neg, torch.exp, torch.log, torch.abs, torch.sqrt, torch.rsqrt, torch.square,
               torch.pow, torch.clamp, torch.clip, torch.erf, torch.sin, torch.cos, torch.maximum, torch.minimum,
               torch.where, torch.masked_fill, Fn.dropout, torch.zeros_like, torch.ones_like, torch.full_like,
               torch.reciprocal}
_ELEM_METHODS = {"add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "neg", "exp", "log", "abs", "sqrt",
                 "rsqrt", "square", "pow", "clamp", "clip", "masked_fill", "masked_fill_", "float", "double", "half",
                 "to", "type", "type_as", "contiguous", "clone", "detach", "reciprocal", "relu_"}
_RESID = {operator.add, operator.iadd, operator.sub, operator.isub, torch.add, torch.sub, "add", "add_", "sub",
          "sub_"}
_REDUCE = {torch.sum: "sum", torch.mean: "mean", torch.amax: "amax", torch.amin: "amin", torch.var: "var",
           torch.std: "std", torch.logsumexp: "logsumexp", torch.prod: "prod", torch.norm: "norm",
           torch.linalg.vector_norm: "vector_norm"}
_REDUCE_METHODS = {"sum", "mean", "amax", "amin", "var", "std", "logsumexp", "prod", "norm"}
_VIEWS = {"reshape", "view", "flatten", "unflatten", "squeeze", "unsqueeze", "view_as", "reshape_as"}
_FACTORIES = {torch.arange, torch.ones, torch.zeros, torch.full, torch.eye, torch.tensor, torch.empty, torch.triu,
              torch.tril}
_NONTENSOR_METHODS = {"size", "dim", "numel", "__len__"}
_POOL_FUNCS = {Fn.max_pool1d: 1, Fn.max_pool2d: 2, Fn.avg_pool1d: 1, Fn.avg_pool2d: 2, Fn.adaptive_avg_pool1d: 1,
               Fn.adaptive_avg_pool2d: 2, Fn.adaptive_max_pool1d: 1, Fn.adaptive_max_pool2d: 2}


def _opname(node) -> str:
    t = node.target
    if node.op == "call_function":
        name = getattr(t, "__name__", None) or repr(t)
        for mod in (torch, Fn, operator):
            if getattr(mod, name, None) is t:
                return f"{mod.__name__}.{name}"
        return getattr(t, "__qualname__", name)
    if node.op == "call_method":
        return f"Tensor.{t}"
    return str(t)


def _where(node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    path = list(stack.values())[-1][0] if stack else ""
    if node.op == "call_module":
        path = node.target
    return path or "<root>"


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m, qualname):
        if is_asymmetric_module(m) or isinstance(m, _LEAF_TYPES):
            return True
        if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            return False
        return type(m).__module__.startswith("torch.nn")  # unhandled torch.nn layers: refused by name


def _tensor_tree(v):
    return isinstance(v, torch.Tensor) or (isinstance(v, (tuple, list)) and any(_tensor_tree(x) for x in v))


def _as_inputs(example_input, name="example_input"):
    xs = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    if not xs:
        raise ValueError(f"{name} must be a tensor or a non-empty tuple of tensors, got an empty sequence")
    for i, x in enumerate(xs):
        nm = name if len(xs) == 1 and not isinstance(example_input, (tuple, list)) else f"{name}[{i}]"
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{nm} must be a torch tensor (or a tuple of tensors), got {describe(x)}")
        if x.numel() == 0:
            raise ValueError(f"{nm} must not be empty, got shape {tuple(x.shape)}")
        if x.is_floating_point() and not bool(torch.isfinite(x).all()):
            raise ValueError(f"{nm} must be finite")
    return xs


def _trace(model, n_inputs):
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        params = []
    concrete = {}
    for p in params[n_inputs:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            raise ValueError(f"example_input gives {n_inputs} input(s) but {type(model).__name__}.forward "
                             f"also requires {p.name!r}")
        concrete[p.name] = p.default
    try:
        graph = _Tracer().trace(model, concrete_args=concrete or None)
    except UnsupportedOperationError:
        raise
    except Exception as exc:  # torch.fx raises many types (TraceError, TypeError, RuntimeError, ...)
        raise UnsupportedOperationError(f"torch.fx could not trace {type(model).__name__}: "
                                        f"{type(exc).__name__}: {exc}") from exc
    return fx.GraphModule(model, graph)


class _Recorder(fx.Interpreter):
    def __init__(self, gm, keep=None):
        super().__init__(gm, garbage_collect_values=keep is None)
        self.keep, self.values = keep, {}

    def run_node(self, n):
        out = super().run_node(n)
        if self.keep is None:
            self.values[n] = out
        elif n.name in self.keep:
            self.values[n.name] = out
        return out


@torch.no_grad()
def _run(gm, model, xs, keep=None):
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        rec = _Recorder(gm, keep)
        rec.run(*xs)
    finally:
        for m, t in modes.items():
            m.train(t)
    return rec.values


# -------------------------------------------------------------------------------------------------
# the symmetry tracer
# -------------------------------------------------------------------------------------------------
def _arg(node, i, name, default=None):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def _norm_axis(d, ndim):
    d = int(d)
    return d + ndim if d < 0 else d


class _Symmetry:
    def __init__(self, model, xs):
        self.model = model
        self.gm = _trace(model, len(xs))
        self.values = _run(self.gm, model, xs)
        self.cl = _Classes()
        self.lay = {}  # node -> layout structure
        self.plays = {}  # state-dict name -> list of layouts (one per axis)
        self.taps = []  # (node name, index, layouts, tier)
        self.sd = dict(model.state_dict(keep_vars=True))
        self.node = None
        for node in self.gm.graph.nodes:
            self.node = node
            self.lay[node] = self._visit(node)
            if node.op != "output":
                self._check_layout(self.values[node], self.lay[node])

    def _check_layout(self, v, lay):
        # safety net: every handler's layouts must multiply out to the traced shapes
        if isinstance(v, torch.Tensor):
            ok = isinstance(lay, list) and len(lay) == v.ndim and all(
                self.cl.prod(a) == s for a, s in zip(lay, v.shape))
            if not ok:
                self.fail("internal error: the handler's axis structure does not match the traced shape")
        elif isinstance(v, (tuple, list)) and _tensor_tree(v):
            if not isinstance(lay, list) or len(lay) != len(v):
                self.fail("internal error: the handler's output structure does not match the traced value")
            for x, la in zip(v, lay):
                self._check_layout(x, la)

    # ---- helpers -------------------------------------------------------------------------------
    def fail(self, what):
        raise UnsupportedOperationError(f"{what} (op {_opname(self.node)!r} at module path "
                                        f"{_where(self.node)!r}, node {self.node.name!r})")

    def V(self, a):
        return self.values[a] if isinstance(a, fx.Node) else a

    def L(self, a):
        return self.lay.get(a) if isinstance(a, fx.Node) else None

    def fresh(self, shape, why):
        return [self.cl.new(s, f"{self.node.name}:{i}", pinned=why) for i, s in enumerate(shape)]

    def param(self, name):
        if name not in self.plays:
            t = self.sd.get(name)
            if t is None:
                self.fail(f"{name!r} is not a parameter or buffer of the model")
            self.plays[name] = [self.cl.new(s, f"{name}:{i}") for i, s in enumerate(t.shape)]
        return self.plays[name]

    def tie(self, a, b):
        return self.cl.tie(a, b, f"tied at {self.node.name}")

    def pin(self, layout, why):
        self.cl.pin(layout, f"{why} ({_opname(self.node)} at {_where(self.node)})")

    def tap(self, out, tier, index=()):
        if isinstance(out, list) and all(isinstance(x, list) for x in out):
            self.taps.append((self.node.name, index, out, tier))
        return out

    def broadcast(self, operands, shape):
        """Merge the axes of broadcast operands with the output axes (size-1 axes are constant)."""
        out = [None] * len(shape)
        for lay, val in operands:
            off = len(shape) - val.ndim
            for i, s in enumerate(val.shape):
                if s == 1 or s != shape[off + i]:
                    continue
                if out[off + i] is None:
                    out[off + i] = lay[i]
                else:
                    self.tie(out[off + i], lay[i])
        # an axis only reached by broadcasting carries constant values: any permutation is exact
        return [o if o is not None else self.cl.new(s, f"{self.node.name}:{i}") for i, (o, s) in
                enumerate(zip(out, shape))]

    def tensor_args(self, node):
        flat = []
        fx.node.map_arg((node.args, node.kwargs), lambda n: flat.append(n))
        return [n for n in flat if isinstance(self.values.get(n), torch.Tensor)]

    # ---- dispatch ------------------------------------------------------------------------------
    def _visit(self, node):
        out = self.values[node]
        if node.op == "placeholder":
            if isinstance(out, torch.Tensor):
                return self.fresh(out.shape, "model input")
            return None
        if node.op == "get_attr":
            if isinstance(out, torch.Tensor):
                if node.target in self.sd:
                    return self.param(node.target)
                return self.fresh(out.shape, "constant tensor")
            return None
        if node.op == "output":
            def pin_out(n):
                lay = self.lay.get(n)
                if isinstance(self.values.get(n), torch.Tensor) and lay is not None:
                    for a in lay:
                        self.pin(a, "model output")
                elif isinstance(lay, list):  # a tuple-valued node returned as a whole
                    self._pin_tree(lay)
                return n
            fx.node.map_arg(node.args, pin_out)
            return None
        if node.op == "call_module":
            return self._module(node, self.gm.get_submodule(node.target), out)
        if node.op == "call_function":
            return self._function(node, node.target, out)
        if node.op == "call_method":
            return self._method(node, node.target, out)
        self.fail("unknown node kind")

    def _pin_tree(self, lay):
        if isinstance(lay, list):
            for x in lay:
                if isinstance(x, list) and x and all(isinstance(c, int) for c in x):
                    self.pin(x, "model output")
                elif isinstance(x, list) and not x:
                    continue
                else:
                    self._pin_tree(x)

    # ---- modules -------------------------------------------------------------------------------
    def _module(self, node, m, out):
        p = node.target
        x = node.args[0] if node.args else None
        xl, xv = self.L(x), self.V(x)
        used = set()

        def par(n):
            used.add(f"{p}.{n}")
            return self.param(f"{p}.{n}")

        if is_asymmetric_module(m):
            w = par("weight")
            for extra in ("F", "D"):
                for a, b in zip(w, par(extra)):
                    self.tie(a, b)
            b = par("bias") if getattr(m, "bias", None) is not None else None
            if m.weight.ndim == 2:
                res = self._linear(xl, w, b)
            else:
                if getattr(m, "groups", 1) != 1:
                    self.fail(f"asymmetric conv with groups={m.groups} is not supported (groups=1 only)")
                res = self._conv(xl, xv, w, b, m.weight.ndim - 2, out)
            res = self.tap(res, 2)
        elif isinstance(m, nn.Linear):
            res = self.tap(self._linear(xl, par("weight"), par("bias") if m.bias is not None else None), 2)
        elif isinstance(m, (nn.Conv1d, nn.Conv2d)):
            if m.groups != 1:
                self.fail(f"{type(m).__name__} with groups={m.groups} is not supported (groups=1 only)")
            if m.padding_mode != "zeros":
                self.fail(f"{type(m).__name__} with padding_mode={m.padding_mode!r} is not supported")
            res = self.tap(self._conv(xl, xv, par("weight"), par("bias") if m.bias is not None else None,
                                      m.weight.ndim - 2, out), 2)
        elif isinstance(m, _BatchNorm):
            if not isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                self.fail(f"{type(m).__name__} is not supported (BatchNorm1d/2d only)")
            ch = xl[1]
            for n in ("weight", "bias", "running_mean", "running_var"):
                if getattr(m, n, None) is not None:
                    self.tie(ch, par(n)[0])
            if getattr(m, "num_batches_tracked", None) is not None:
                used.add(f"{p}.num_batches_tracked")
            res = self.tap(list(xl), 2)
        elif isinstance(m, (nn.LayerNorm, *_RMSNORM)):
            # statistics over the trailing normalized axes are permutation invariant; the gain (and bias)
            # follow their axis
            k = len(m.normalized_shape)
            for n in ("weight", "bias"):
                if getattr(m, n, None) is not None:
                    for a, b in zip(xl[-k:], par(n)):
                        self.tie(a, b)
            res = self.tap(list(xl), 2)
        elif isinstance(m, nn.GroupNorm):
            ch = xl[1]
            for n in ("weight", "bias"):
                if getattr(m, n, None) is not None:
                    self.tie(ch, par(n)[0])
            G, C = m.num_groups, m.num_channels
            # channels are normalized in G consecutive groups: only group-preserving permutations
            # (groups permuted as blocks × a shared within-group permutation) keep the statistics
            self.cl.cut(ch, [G, C // G], f"GroupNorm({G}, {C}) at {p}: incompatible channel structure")
            res = self.tap(list(xl), 2)
        elif isinstance(m, nn.Embedding):
            w = par("weight")
            self.pin(w[0], "embedding rows are indexed by the input")
            res = self.tap(list(xl) + [w[1]], 2)
        elif isinstance(m, nn.MultiheadAttention):
            res = self._mha(node, m, par, out)
        elif isinstance(m, (nn.Flatten, nn.Unflatten)):
            res = self._reshape(xl, xv.shape, out.shape)
        elif isinstance(m, _ACT_MODULES):
            res = self.tap(list(xl), 0)
        elif isinstance(m, _PASS_MODULES):
            res = list(xl)
        elif type(m) in _POOL_MODULES:
            if getattr(m, "return_indices", False):
                self.fail(f"{type(m).__name__} with return_indices=True is not supported")
            res = self.tap(self._pool(xl, xv, out, _POOL_MODULES[type(m)]), 2)
        else:
            self.fail(f"module {type(m).__name__} has no symmetry handler")
        for n, t in list(m.named_parameters()) + list(m.named_buffers()):
            if t.is_floating_point() and f"{p}.{n}" not in used:
                self.fail(f"{type(m).__name__} holds {n!r}, which its handler does not place")
        return res

    def _linear(self, xl, w, b):
        self.tie(xl[-1], w[1])
        if b is not None:
            self.tie(w[0], b[0])
        return list(xl[:-1]) + [w[0]]

    def _conv(self, xl, xv, w, b, k, out):
        ch = xv.ndim - k - 1
        self.tie(xl[ch], w[1])
        if b is not None:
            self.tie(w[0], b[0])
        for a in xl[ch + 1:]:
            self.pin(a, "spatial axis mixed by a convolution")
        for a in w[2:]:
            self.pin(a, "convolution kernel axis")
        res = list(xl[:ch]) + [w[0]]
        return res + self.fresh(out.shape[ch + 1:], "spatial axis of a convolution")

    def _pool(self, xl, xv, out, k):
        ch = xv.ndim - k - 1
        for a in xl[ch + 1:]:
            self.pin(a, "spatial axis mixed by pooling")
        return list(xl[:ch + 1]) + self.fresh(out.shape[ch + 1:], "spatial axis of pooling")

    def _mha(self, node, m, par, out):
        if not m._qkv_same_embed_dim or m.bias_k is not None or m.add_zero_attn:
            self.fail("MultiheadAttention with kdim/vdim != embed_dim, add_bias_kv or add_zero_attn")
        q, k, v = (_arg(node, i, n) for i, n in enumerate(("query", "key", "value")))
        w = par("in_proj_weight")
        for t in (q, k, v):
            self.tie(self.L(t)[-1], w[1])
        if m.in_proj_bias is not None:
            self.tie(par("in_proj_bias")[0], w[0])
        H, E = m.num_heads, m.embed_dim
        dh = E // H
        pieces = self.cl.cut(w[0], [3, H, dh], "MultiheadAttention in_proj")
        ow = par("out_proj.weight")
        opieces = self.cl.cut(ow[1], [H, dh], "MultiheadAttention out_proj")
        if pieces is None or opieces is None:
            self.fail("internal error: MultiheadAttention head structure")
        self.pin(pieces[0], "q/k/v blocks of in_proj")
        self.tie(pieces[1], opieces[0])
        self.tie(pieces[2], opieces[1])
        self.cl.tag(pieces[1], "heads")
        self.cl.tag(pieces[2], "head_dim")
        if m.out_proj.bias is not None:
            self.tie(par("out_proj.bias")[0], ow[0])
        ql = self.L(q)
        res0 = list(ql[:-1]) + [ow[0]]
        self.tap(res0, 2, (0,))
        attn = out[1]
        if attn is None:
            return [res0, None]
        al = self.fresh(attn.shape, "attention weights (token axes)")
        avg = _arg(node, 6, "average_attn_weights", True)
        if not avg and attn.ndim >= 3:
            al[-3] = pieces[1]
        return [res0, al]

    # ---- functions -----------------------------------------------------------------------------
    def _function(self, node, f, out):
        if f is operator.getitem:
            return self._getitem(node, out)
        targs = self.tensor_args(node)
        if not _tensor_tree(out):
            if f is getattr or not targs or f in (operator.eq, operator.ne, len):
                return None
            self.fail("an operation that turns activations into a non-tensor value is not supported")
        if not targs:
            if isinstance(out, torch.Tensor):
                return self.fresh(out.shape, "constant tensor built from non-tensor values")
            return None
        if f is getattr:
            a0, attr = node.args[0], node.args[1]
            xl = self.L(a0)
            if attr == "T":
                return list(reversed(xl))
            if attr == "mT":
                return list(xl[:-2]) + [xl[-1], xl[-2]]
            self.fail(f"tensor attribute {attr!r}")
        if f in _ACT_FUNCS:
            return self.tap(list(self.L(node.args[0])), 0)
        if f in _ELEM_FUNCS:
            return self._elementwise(node, f, out)
        if f in _REDUCE:
            return self._reduce(node, out, _REDUCE[f])
        if f in (torch.max, torch.min):
            return self._maxmin(node, out)
        if f is Fn.linear:
            x, w, b = node.args[0], _arg(node, 1, "weight"), _arg(node, 2, "bias")
            return self.tap(self._linear(self.L(x), self.L(w), self.L(b)), 2)
        if f in (Fn.conv1d, Fn.conv2d):
            if _arg(node, 6, "groups", 1) != 1:
                self.fail(f"{f.__name__} with groups={_arg(node, 6, 'groups', 1)} (groups=1 only)")
            w = _arg(node, 1, "weight")
            b = _arg(node, 2, "bias")
            x = node.args[0]
            return self.tap(self._conv(self.L(x), self.V(x), self.L(w), self.L(b), self.V(w).ndim - 2, out), 2)
        if f is Fn.layer_norm:
            x = node.args[0]
            k = len(_arg(node, 1, "normalized_shape"))
            xl = self.L(x)
            for pa in (_arg(node, 2, "weight"), _arg(node, 3, "bias")):
                if pa is not None:
                    for a, b in zip(xl[-k:], self.L(pa)):
                        self.tie(a, b)
            return self.tap(list(xl), 2)
        if f in _POOL_FUNCS:
            if _arg(node, 6, "return_indices", False) is True:
                self.fail("pooling with return_indices=True")
            x = node.args[0]
            return self.tap(self._pool(self.L(x), self.V(x), out, _POOL_FUNCS[f]), 2)
        if f in (operator.matmul, torch.matmul, torch.bmm, torch.mm):
            return self.tap(self._matmul(node, node.args[0], node.args[1], out), 2)
        if f is torch.einsum:
            return self.tap(self._einsum(node, out), 2)
        if f is Fn.scaled_dot_product_attention:
            return self.tap(self._sdpa(node, out), 2)
        if f in (torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze, torch.unflatten):
            return self._reshape(self.L(node.args[0]), self.V(node.args[0]).shape, out.shape)
        if f in (torch.permute, torch.transpose, torch.swapaxes, torch.movedim):
            return self._permute(node, f.__name__, out)
        if f in (torch.cat, torch.concat, torch.stack):
            return self._cat(node, f is torch.stack, out)
        if f in (torch.chunk, torch.split, torch.unbind):
            return self._split(node, f.__name__, out)
        if f in _FACTORIES:
            return self.fresh(out.shape, "constant tensor")
        self.fail("no symmetry handler for this function")

    def _method(self, node, name, out):
        x = node.args[0]
        xl, xv = self.L(x), self.V(x)
        if not isinstance(xv, torch.Tensor):
            self.fail("method call on a non-tensor")
        if name in _NONTENSOR_METHODS:
            return None
        if name in _ACT_METHODS:
            return self.tap(list(xl), 0)
        if name in _ELEM_METHODS:
            return self._elementwise(node, name, out)
        if name in _REDUCE_METHODS:
            return self._reduce(node, out, name)
        if name in ("max", "min"):
            return self._maxmin(node, out)
        if name in _VIEWS:
            return self._reshape(xl, xv.shape, out.shape)
        if name in ("permute", "transpose", "swapaxes", "movedim"):
            return self._permute(node, name, out)
        if name in ("chunk", "split", "unbind"):
            return self._split(node, name, out)
        if name in ("expand", "expand_as", "broadcast_to"):
            return self.broadcast([(xl, xv)], out.shape)
        if name == "matmul":
            return self.tap(self._matmul(node, x, node.args[1], out), 2)
        if name == "softmax" or name == "log_softmax":
            return self.tap(list(xl), 0)
        self.fail("no symmetry handler for this method")

    # ---- generic ops ---------------------------------------------------------------------------
    def _elementwise(self, node, f, out):
        if not isinstance(out, torch.Tensor):
            self.fail("elementwise op with a non-tensor result")
        ops = [(self.L(n), self.V(n)) for n in self.tensor_args(node)]
        res = self.broadcast(ops, out.shape)
        if f in _RESID:
            acts = [n for n in self.tensor_args(node) if n.op != "get_attr"]
            if len(acts) >= 2:
                for i, s in enumerate(out.shape):
                    full = [n for n in acts if self.V(n).ndim >= out.ndim - i and
                            self.V(n).shape[i - out.ndim] == s]
                    if s > 1 and len(full) >= 2:
                        self.cl.tag(res[i], "residual")
                return self.tap(res, 1)
        return self.tap(res, 2) if f not in ("float", "double", "half", "to", "type", "type_as", "contiguous",
                                             "clone", "detach", Fn.dropout) else res

    def _dims(self, node, ndim, i=1, name="dim"):
        d = _arg(node, i, name)
        if d is None:
            return list(range(ndim))
        d = [d] if isinstance(d, int) else list(d)
        return sorted(_norm_axis(a, ndim) for a in d)

    def _reduce(self, node, out, kind):
        x = node.args[0]
        xl, xv = self.L(x), self.V(x)
        dims = self._dims(node, xv.ndim, 2 if kind in ("norm", "vector_norm") else 1, "dim")
        keep = isinstance(out, torch.Tensor) and out.ndim == xv.ndim  # keepdim, whatever its position
        res = [[] if i in dims else xl[i] for i in range(xv.ndim)] if keep else \
            [xl[i] for i in range(xv.ndim) if i not in dims]
        if not isinstance(out, torch.Tensor) or out.ndim != len(res):
            self.fail(f"reduction {kind!r} with an unexpected result shape")
        return self.tap(res, 2)

    def _maxmin(self, node, out):
        x = node.args[0]
        xl, xv = self.L(x), self.V(x)
        if isinstance(out, torch.Tensor):
            if out.ndim == 0:
                return []
            if len(node.args) > 1 and isinstance(self.V(node.args[1]), torch.Tensor):
                return self._elementwise(node, "max", out)
            self.fail("max/min with an unexpected result")
        d = _norm_axis(_arg(node, 1, "dim"), xv.ndim)
        keep = bool(_arg(node, 2, "keepdim", False))
        self.pin(xl[d], "axis reduced by max/min with indices")
        res = [[] if i == d else xl[i] for i in range(xv.ndim)] if keep else \
            [xl[i] for i in range(xv.ndim) if i != d]
        return [res, list(res)]

    def _reshape(self, xl, shape_in, shape_out):
        """Row-major reshape: match minimal blocks of axes with equal products, split/merge factors."""
        shape_in, shape_out = list(shape_in), list(shape_out)
        res, i, j = [], 0, 0
        while i < len(shape_in) or j < len(shape_out):
            bi, bj, pi, po = [], [], 1, 1
            while True:
                if pi == po and (bi or bj) and (i >= len(shape_in) or shape_in[i] != 1) and \
                        (j >= len(shape_out) or shape_out[j] != 1):
                    break
                if (pi <= po and i < len(shape_in)) or j >= len(shape_out):
                    if i >= len(shape_in):
                        break
                    bi.append(i)
                    pi *= shape_in[i]
                    i += 1
                else:
                    bj.append(j)
                    po *= shape_out[j]
                    j += 1
            flat = [c for a in bi for c in xl[a]]
            pieces = self.cl.cut(flat, [shape_out[a] for a in bj], "reshape mixes axes")
            if pieces is None:
                pieces = [self.cl.new(shape_out[a], f"{self.node.name}:{a}", pinned="reshape mixes axes")
                          for a in bj]
            res.extend(pieces)
        return res

    def _permute(self, node, name, out):
        x = node.args[0]
        xl, n = self.L(x), self.V(x).ndim
        if name == "permute":
            dims = node.args[1:] if len(node.args) > 2 or isinstance(_arg(node, 1, "dims"), int) else \
                _arg(node, 1, "dims")
            return [xl[_norm_axis(d, n)] for d in dims]
        if name in ("transpose", "swapaxes"):
            a, b = (_norm_axis(_arg(node, k, nm), n) for k, nm in ((1, "dim0"), (2, "dim1")))
            res = list(xl)
            res[a], res[b] = res[b], res[a]
            return res
        src, dst = _arg(node, 1, "source"), _arg(node, 2, "destination")
        src = [src] if isinstance(src, int) else list(src)
        dst = [dst] if isinstance(dst, int) else list(dst)
        order = list(range(n))
        src = [_norm_axis(s, n) for s in src]
        dst = [_norm_axis(d, n) for d in dst]
        rest = [a for a in order if a not in src]
        res = [None] * n
        for s, d in zip(src, dst):
            res[d] = xl[s]
        it = iter(rest)
        for k in range(n):
            if res[k] is None:
                res[k] = xl[next(it)]
        return res

    def _getitem(self, node, out):
        src, idx = node.args
        v = self.V(src)
        if not isinstance(v, torch.Tensor):
            lay = self.L(src)
            if not _tensor_tree(v) or lay is None:
                if _tensor_tree(out):
                    self.fail("indexing a container the tracer does not follow")
                return None
            if isinstance(idx, int):
                return lay[idx]
            self.fail("slicing a tuple of tensors")
        xl = self.L(src)
        idx = idx if isinstance(idx, tuple) else (idx,)
        if any(isinstance(self.V(i), torch.Tensor) or isinstance(i, (list, fx.Node)) for i in idx):
            self.fail("advanced (tensor or list) indexing")
        n_real = sum(1 for i in idx if i is not None and i is not Ellipsis)
        res, ax = [], 0
        for i in idx:
            if i is Ellipsis:
                for _ in range(v.ndim - n_real):
                    res.append(xl[ax])
                    ax += 1
            elif i is None:
                res.append([])
            elif isinstance(i, int):
                self.pin(xl[ax], "axis indexed at one position")
                ax += 1
            elif isinstance(i, slice):
                if i == slice(None) or (i.start in (None, 0) and i.step in (None, 1) and
                                        (i.stop is None or i.stop >= v.shape[ax])):
                    res.append(xl[ax])
                else:
                    self.pin(xl[ax], "axis sliced")
                    res.append(None)
                ax += 1
            else:
                self.fail(f"index of type {type(i).__name__}")
        res.extend(xl[ax:])
        if len(res) != out.ndim:
            self.fail("indexing with an unexpected result shape")
        return [r if r is not None else self.cl.new(out.shape[k], f"{self.node.name}:{k}", pinned="slice")
                for k, r in enumerate(res)]

    def _matmul(self, node, a, b, out):
        al, av, bl, bv = self.L(a), self.V(a), self.L(b), self.V(b)
        if av.ndim == 1 and bv.ndim == 1:
            self.tie(al[0], bl[0])
            return []
        if av.ndim == 1:
            self.tie(al[0], bl[-2])
            return self.broadcast([(bl[:-2], bv[..., 0, 0])], out.shape[:-1]) + [bl[-1]]
        if bv.ndim == 1:
            self.tie(al[-1], bl[0])
            return self.broadcast([(al[:-2], av[..., 0, 0])], out.shape[:-1]) + [al[-2]]
        self.tie(al[-1], bl[-2])
        batch = self.broadcast([(al[:-2], av[..., 0, 0]), (bl[:-2], bv[..., 0, 0])], out.shape[:-2])
        if a.op != "get_attr" and b.op != "get_attr" and batch:
            for c in batch:
                self.cl.tag(c, "heads")
            self.cl.tag(al[-1], "head_dim")
            self.cl.tag(bl[-1], "head_dim")
        return batch + [al[-2], bl[-1]]

    def _sdpa(self, node, out):
        q, k, v = (_arg(node, i, n) for i, n in enumerate(("query", "key", "value")))
        ql, kl, vl = self.L(q), self.L(k), self.L(v)
        qv, kv, vv = self.V(q), self.V(k), self.V(v)
        if _arg(node, 7, "enable_gqa", False):
            self.fail("scaled_dot_product_attention with enable_gqa=True")
        self.tie(ql[-1], kl[-1])
        self.tie(kl[-2], vl[-2])
        batch = self.broadcast([(ql[:-2], qv[..., 0, 0]), (kl[:-2], kv[..., 0, 0]), (vl[:-2], vv[..., 0, 0])],
                               out.shape[:-2])
        mask = _arg(node, 3, "attn_mask")
        if isinstance(mask, fx.Node):
            ml, mv = self.L(mask), self.V(mask)
            full = list(batch) + [ql[-2], kl[-2]]
            shape = tuple(out.shape[:-2]) + (qv.shape[-2], kv.shape[-2])
            self.broadcast([(ml, mv), (full, torch.empty(shape))], shape)  # ties the mask's axes
        for c in batch:
            self.cl.tag(c, "heads")
        self.cl.tag(ql[-1], "head_dim")
        self.cl.tag(vl[-1], "head_dim")
        return batch + [ql[-2], vl[-1]]

    def _einsum(self, node, out):
        eq = node.args[0]
        ops = node.args[1:]
        if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
            ops = ops[0]
        if not isinstance(eq, str) or "." in eq:
            self.fail("einsum with ellipsis or a non-string equation")
        eq = eq.replace(" ", "")
        lhs, _, rhs = eq.partition("->")
        terms = lhs.split(",")
        if len(terms) != len(ops):
            self.fail("einsum equation and operands disagree")
        if "->" not in eq:
            counts = {c: lhs.count(c) for c in set(lhs) if c.isalpha()}
            rhs = "".join(sorted(c for c, n in counts.items() if n == 1))
        letter = {}
        for term, op in zip(terms, ops):
            ol, ov = self.L(op), self.V(op)
            for i, c in enumerate(term):
                if ov.shape[i] == 1:
                    continue
                if c in letter:
                    self.tie(letter[c], ol[i])
                else:
                    letter[c] = ol[i]
        if len(terms) == 2 and all(isinstance(o, fx.Node) and o.op != "get_attr" for o in ops):
            # attention written with einsum: letters shared by both operands and the output index heads,
            # contracted letters and the second operand's own output letters are within-head axes
            t0, t1 = terms
            for c, lay in letter.items():
                if c in t0 and c in t1:
                    self.cl.tag(lay, "heads" if c in rhs else "head_dim")
                elif c in t1 and c in rhs:
                    self.cl.tag(lay, "head_dim")
        return [letter.get(c, []) if out.shape[i] == 1 else letter[c] for i, c in enumerate(rhs)]

    def _cat(self, node, stack, out):
        ts = _arg(node, 0, "tensors")
        d = _arg(node, 1, "dim", 0)
        n = out.ndim
        d = _norm_axis(d, n)
        res = [None] * n
        for t in ts:
            tl = list(self.L(t))
            if stack:
                tl = tl[:d] + [None] + tl[d:]
            elif len(ts) > 1:
                self.pin(tl[d], "concatenated axis")
            for i in range(n):
                if i == d or tl[i] is None:
                    continue
                if res[i] is None:
                    res[i] = tl[i]
                else:
                    self.tie(res[i], tl[i])
        if not stack and len(ts) == 1:
            res[d] = self.L(ts[0])[d]
        else:
            res[d] = self.cl.new(out.shape[d], f"{node.name}:{d}", pinned="concatenated/stacked axis")
        return res

    def _split(self, node, name, out):
        x = node.args[0]
        xl, xv = self.L(x), self.V(x)
        if name == "unbind":
            d = _norm_axis(_arg(node, 1, "dim", 0), xv.ndim)
        else:
            d = _norm_axis(_arg(node, 2, "dim", 0), xv.ndim)
        pieces = list(out)
        if name == "unbind":
            self.pin(xl[d], "unbound axis")
            rest = [xl[i] for i in range(xv.ndim) if i != d]
            return [list(rest) for _ in pieces]
        sizes = [p.shape[d] for p in pieces]
        if len(pieces) > 1 and len(set(sizes)) == 1:
            cut = self.cl.cut(xl[d], [len(pieces), sizes[0]], f"{name} into equal pieces")
            if cut is not None:
                self.pin(cut[0], f"{name}: position of the piece")
                return [list(xl[:d]) + [cut[1]] + list(xl[d + 1:]) for _ in pieces]
        if len(pieces) == 1:
            return [list(xl)]
        self.pin(xl[d], f"{name} into unequal pieces")
        return [list(xl[:d]) + [self.cl.new(s, f"{node.name}:{d}", pinned="split")] + list(xl[d + 1:])
                for s in sizes]

    # ---- result --------------------------------------------------------------------------------
    def groups(self):
        cl = self.cl
        pinned = {cl.find(c) for lay, _ in cl.pins for c in cl.expand(lay)}
        members, order = {}, []

        def positions(layout):
            exp = cl.expand(layout)
            sizes = [cl.size[c] for c in exp]
            for k, c in enumerate(exp):
                yield cl.find(c), math.prod(sizes[:k]), math.prod(sizes[k + 1:])

        for name in self.sd:
            if name not in self.plays:
                continue
            for axis, lay in enumerate(self.plays[name]):
                for r, o, i in positions(lay):
                    if r in pinned:
                        continue
                    if r not in members:
                        members[r] = []
                        order.append(r)
                    members[r].append(Member(name, axis, o, i))
        taps = {}
        for node, index, lays, tier in self.taps:
            for axis, lay in enumerate(lays):
                for r, o, i in positions(lay):
                    if r in members:
                        taps.setdefault(r, []).append(Tap(node, index, axis, o, i, tier))
        out, seen = [], set()
        for r in sorted(order):  # creation order: deterministic, follows the graph
            name = cl.label[r]
            while name in seen:
                name += "'"
            seen.add(name)
            tags = cl.tags[r]
            kind = next((k for k in GROUP_KINDS[:3] if k in tags), "units")
            out.append(PermutationGroup(name, cl.size[r], kind, tuple(members[r]), tuple(taps.get(r, []))))
        return out


def permutation_groups(model: nn.Module, example_input) -> list[PermutationGroup]:
    """The independent permutation symmetry groups of ``model`` (see the module docstring).

    Traces ``model`` with ``torch.fx``, runs it (in eval mode, without gradients) on ``example_input``
    and merges the permutable axes of every tensor with a union–find; classes touching an input or an
    output, or mixed by an operation, are pinned. Each returned group ``g`` acts by
    ``T ← T[…, perm, …]`` along every member axis (viewed as ``(outer, g.size, inner)``), and every
    element of the product of the groups leaves the function unchanged (T-S1; checked by
    :func:`check_permutation_invariance`).

    Parameters
    ----------
    model : nn.Module
        Any module ``torch.fx`` can trace (positional inputs; keyword arguments of ``forward`` beyond
        the given inputs are fixed at their defaults).
    example_input : torch.Tensor or tuple of torch.Tensor
        Positional input(s); only shapes matter (a batch of 2 is enough).

    Returns
    -------
    list of PermutationGroup
        In order of first appearance in the graph.

    Raises
    ------
    UnsupportedOperationError
        (a ``NotImplementedError``) for an operation without handler, naming it and its module path,
        or a model ``torch.fx`` cannot trace.
    TypeError, ValueError
        For a non-module ``model`` or a bad ``example_input``.

    References
    ----------
    docs/theory.md T-S1 (permutation symmetry of hidden units) and §10 "Alignment"; Ainsworth et al. 2023
    (*Git Re-Basin*, §3 permutation groups of ResNets/transformers).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> [(g.name, g.size, g.kind, [(m.name, m.axis) for m in g.members]) for g in permutation_groups(net, torch.randn(2, 4))]
    [('0.weight:0', 8, 'units', [('0.weight', 0), ('0.bias', 0), ('2.weight', 1)])]
    """
    check_module(model)
    xs = _as_inputs(example_input)
    return _Symmetry(model, xs).groups()


# -------------------------------------------------------------------------------------------------
# group elements
# -------------------------------------------------------------------------------------------------
def _check_groups(groups, name="groups"):
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, PermutationGroup) for g in groups):
        raise TypeError(f"{name} must be a list of PermutationGroup (from permutation_groups), got "
                        f"{describe(groups)}")
    return list(groups)


def random_permutation(groups, seed: int = 0) -> dict:
    """A uniformly random element of the product of ``groups``: ``{group name: perm}``.

    Parameters
    ----------
    groups : list of PermutationGroup
    seed : int
        ``numpy.random.default_rng(seed)``; group ``k`` gets ``rng.permutation(size_k)`` in list order.

    Returns
    -------
    dict of str -> ndarray of int64
        Accepted by :func:`apply_permutation` and :func:`lmctheory.nn.permute_model`.

    Examples
    --------
    >>> from torch import nn
    >>> import torch
    >>> g = permutation_groups(nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)), torch.zeros(2, 3))
    >>> sorted(random_permutation(g, seed=0)["0.weight:0"].tolist())
    [0, 1, 2, 3, 4]
    """
    groups = _check_groups(groups)
    rng = np.random.default_rng(check_seed(seed))
    return {g.name: rng.permutation(g.size).astype(np.int64) for g in groups}


def normalize_perms(perms, groups, name="perms") -> dict:
    """``perms`` as ``{group name: int64 perm}``: a dict by group name (values: int arrays or objects with
    a ``perm`` attribute, e.g. :class:`lmctheory.alignment.MatchingResult`), an object with a ``perms``
    dict, or a list aligned with ``groups``. Groups not named keep the identity."""
    groups = _check_groups(groups)
    if hasattr(perms, "perms") and isinstance(perms.perms, dict):
        perms = perms.perms
    if isinstance(perms, (list, tuple)):
        if len(perms) != len(groups):
            raise ValueError(f"{name} must hold one permutation per group ({len(groups)}), got {len(perms)}")
        perms = {g.name: p for g, p in zip(groups, perms)}
    if not isinstance(perms, dict):
        raise TypeError(f"{name} must be a dict {{group name: perm}} or a list aligned with groups, got "
                        f"{describe(perms)}")
    by = {g.name: g for g in groups}
    out = {}
    for k, p in perms.items():
        if k not in by:
            raise ValueError(f"{name} names group {k!r}, which is not among the groups "
                             f"({', '.join(list(by)[:8])}{', …' if len(by) > 8 else ''})")
        p = getattr(p, "perm", p)
        out[k] = check_permutation(p, by[k].size, f"{name}[{k!r}]")
    return out


def _index_member(t, m: Member, size, perm):
    """``t`` with the middle index of axis ``m.axis`` (viewed as ``(outer, size, inner)``) reindexed."""
    ax = m.axis
    if t.shape[ax] != m.outer * size * m.inner:
        raise ValueError(f"member {m.name!r} axis {ax} has length {t.shape[ax]}, expected "
                         f"{m.outer}·{size}·{m.inner}")
    shape = list(t.shape)
    v = t.reshape(shape[:ax] + [m.outer, size, m.inner] + shape[ax + 1:])
    v = v.index_select(ax + 1, perm)
    return v.reshape(shape)


@torch.no_grad()
def apply_permutation(model: nn.Module, perms, groups) -> nn.Module:
    """A new model (deep copy) with every member of every group reindexed by its permutation.

    Parameters and buffers (running statistics, asymmetric ``F``/``D``) are all moved, so the result
    computes the same function (T-S1). ``perms``: see :func:`normalize_perms`. The original is untouched.
    """
    check_module(model)
    groups = _check_groups(groups)
    perms = normalize_perms(perms, groups)
    new = copy.deepcopy(model)
    sd = new.state_dict(keep_vars=True)
    for g in groups:
        if g.name not in perms:
            continue
        p = torch.as_tensor(perms[g.name])
        for m in g.members:
            if m.name not in sd:
                raise ValueError(f"group {g.name!r} member {m.name!r} is not a parameter or buffer of the model")
            t = sd[m.name]
            t.data = _index_member(t.data, m, g.size, p.to(t.device)).clone()
    return new


def _flat_out(v):
    if isinstance(v, torch.Tensor):
        return [v]
    if isinstance(v, (tuple, list)):
        return [t for x in v for t in _flat_out(x)]
    if isinstance(v, dict):
        return [t for x in v.values() for t in _flat_out(x)]
    return []


@torch.no_grad()
def check_permutation_invariance(model: nn.Module, example_input, groups=None, *, seed: int = 0,
                                 atol: float | None = None, rtol: float = 1e-5) -> float:
    """Self-check: apply a random group element and compare the outputs (docs/theory.md T-S1).

    Parameters
    ----------
    model : nn.Module
    example_input : torch.Tensor or tuple of torch.Tensor
    groups : list of PermutationGroup, optional
        Default: :func:`permutation_groups` ``(model, example_input)``.
    seed : int
        Seed of the random element (:func:`random_permutation`).
    atol : float, optional
        Absolute tolerance; default ``100·ε(dtype)·max|output|`` (float32: ≈1.2e-5·scale). The check
        passes if ``max|f(x) − f_π(x)| ≤ atol + rtol·max|f(x)|``.
    rtol : float

    Returns
    -------
    float
        ``max |f(x) − f_π(x)|`` over all output tensors (both evaluated in eval mode).

    Raises
    ------
    SymmetryCheckError
        If the difference exceeds the tolerance (the group is not a symmetry: a bug or an op whose
        semantics the tracer got wrong).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 2))
    >>> check_permutation_invariance(net, torch.randn(5, 4)) < 1e-5
    True
    """
    check_module(model)
    xs = _as_inputs(example_input)
    groups = permutation_groups(model, xs) if groups is None else _check_groups(groups)
    rtol = check_scalar(rtol, "rtol", low=0.0)
    new = apply_permutation(model, random_permutation(groups, seed), groups)
    modes = {m: m.training for m in model.modules()}
    model.eval()
    new.eval()
    try:
        a, b = _flat_out(model(*xs)), _flat_out(new(*xs))
    finally:
        for m, t in modes.items():
            m.train(t)
    if len(a) != len(b) or not a:
        raise SymmetryCheckError("the permuted model returns a different output structure")
    diff = max(float((x.double() - y.double()).abs().max()) if x.numel() else 0.0 for x, y in zip(a, b))
    scale = max(float(x.double().abs().max()) if x.numel() else 0.0 for x in a)
    if atol is None:
        eps = max(torch.finfo(x.dtype).eps if x.is_floating_point() else 0.0 for x in a)
        atol = 100 * eps * max(scale, 1.0)
    atol = check_scalar(atol, "atol", low=0.0)
    if not diff <= atol + rtol * scale:
        raise SymmetryCheckError(f"a random element of the {len(groups)} traced group(s) changed the output by "
                                 f"{diff:.3g} > {atol + rtol * scale:.3g}: the groups are not symmetries")
    return diff
