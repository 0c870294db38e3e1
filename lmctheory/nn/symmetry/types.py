"""Result types of the symmetry engine: members, taps, groups, group elements, attention sites, errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["GROUP_KINDS", "UnsupportedOperationError", "SymmetryCheckError", "Member", "Tap", "PermutationGroup",
           "GroupElement", "Projection", "AttentionSite"]

GROUP_KINDS = ("heads", "head_dim", "residual", "units")


class UnsupportedOperationError(NotImplementedError):
    """An operation of the captured model has no exact handler (the message names the op and its module path).

    A subclass of ``NotImplementedError``: the model may well have symmetries, but the engine cannot
    certify them. Register a handler (:func:`lmctheory.nn.symmetry.register_handler`), pass ``groups``
    by hand, or rewrite the operation with supported ones.
    """


class SymmetryCheckError(RuntimeError):
    """:func:`check_permutation_invariance` found that a group element changed the model's output."""


@dataclass(frozen=True)
class Member:
    """One axis of one parameter/buffer that a group permutes.

    Attributes
    ----------
    name : str
        State-dict name (``model.state_dict()[name]``), parameter or buffer. A tensor shared under
        several names (tied weights) is listed once, under its first state-dict name.
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

    ``node`` is the name of the captured graph's node (:class:`lmctheory.nn.symmetry.CapturedGraph`;
    its values come from :meth:`~lmctheory.nn.symmetry.CapturedGraph.run`), ``index`` the position inside
    a tuple output (``()`` for a tensor), ``axis`` the tensor axis, viewed as ``(outer, size, inner)``
    like :class:`Member`. ``tier``: 0 = output of a nonlinearity (activation function or softmax),
    1 = sum of two activations (residual add), 2 = any other computed tensor (linear/conv/matmul/norm
    output). ``op`` is the ATen operation that produced it (e.g. ``"aten.layer_norm.default"``) and
    ``module`` the path of the innermost module that ran it (``""`` for the root).
    """

    node: str
    index: tuple
    axis: int
    outer: int
    inner: int
    tier: int
    op: str = ""
    module: str = ""


@dataclass(frozen=True)
class PermutationGroup:
    """An independent permutation symmetry of a model.

    Attributes
    ----------
    name : str
        Unique, deterministic: the group's first member axis in state-dict order, e.g. ``"fc1.weight:0"``
        (the output units of ``fc1``); where that axis holds several groups (factors of a split axis, such
        as the heads and the within-head axis of a fused ``qkv``), ``"/k"`` names factor ``k`` (row-major).
        Groups are listed in the same order.
    size : int
        Number of units permuted.
    kind : {"heads", "head_dim", "residual", "units"}
    members : tuple of Member
        Every parameter/buffer axis the group permutes (apply a permutation to all of them).
    taps : tuple of Tap
        Every captured activation carrying the units, with its tier.
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


class GroupElement(Mapping):
    """An element of the product of some permutation groups: ``{group name: perm}``, carrying its ``groups``.

    Behaves as a read-only dict of int64 permutations (``perm[i]`` = old unit moved to position ``i``);
    ``.groups`` is the list of :class:`PermutationGroup` it belongs to, so functions that apply it
    (:func:`lmctheory.nn.symmetry.apply_permutation`, ``permute_model``) need no separate ``groups``.
    Groups not named act as the identity.
    """

    def __init__(self, perms: Mapping, groups):
        self._perms = {k: np.asarray(v, dtype=np.int64) for k, v in perms.items()}
        self.groups = list(groups)

    def __getitem__(self, key):
        return self._perms[key]

    def __iter__(self):
        return iter(self._perms)

    def __len__(self):
        return len(self._perms)

    def __repr__(self):
        return f"GroupElement({len(self._perms)} of {len(self.groups)} groups: {list(self._perms)[:4]}…)" \
            if len(self._perms) > 4 else f"GroupElement({ {k: v.tolist() for k, v in self._perms.items()} })"

    @property
    def perms(self) -> dict:
        """A plain ``{group name: perm}`` dict."""
        return dict(self._perms)

    def inverse(self) -> "GroupElement":
        """The inverse element (``inv[perm] = arange``)."""
        return GroupElement({k: np.argsort(v) for k, v in self._perms.items()}, self.groups)


@dataclass(frozen=True)
class Projection:
    """A linear map that produces (q, k, v) or consumes (o) the heads of one attention operation.

    Attributes
    ----------
    weight : str
        State-dict name of the weight.
    bias : str or None
        State-dict name of the bias, if any.
    axis : int
        Axis of ``weight`` that indexes the projection's head features (output features for q/k/v,
        input features for o): 0 for ``nn.Linear`` q/k/v, 1 for its o; Hugging Face ``Conv1D``
        (weight stored transposed): 1 for q/k/v and 0 for o.
    outer : int
        Number of equal pieces the feature axis is split into (3 for a fused ``qkv`` weight, 2 for a
        fused ``kv``; 1 for a separate projection).
    index : int
        Which piece this projection is (0 = q, 1 = k, 2 = v in a fused ``qkv``).
    rows : tuple of tuple of int, or None
        The exact layout, whatever the fusion or interleaving: ``rows[h][j]`` is the index along ``axis``
        of head ``h``, within-head coordinate ``j`` (shape ``(n_heads, head_dim)`` for q and o,
        ``(n_kv_heads, head_dim)`` for k and v). None where the path is not plain data movement.
    """

    weight: str
    bias: str | None
    axis: int
    outer: int = 1
    index: int = 0
    rows: tuple | None = None
    node: object = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class AttentionSite:
    """The structure of one attention operation, for transformer alignment beyond permutations ([GLMC]).

    Attributes
    ----------
    node : str
        The captured node of the attention product (an SDPA call or the ``q @ kᵀ`` matmul).
    module : str
        Path of the module that runs it (e.g. ``"model.layers.0.self_attn"``).
    q, k, v, o : Projection or None
        The projections that produce the queries, keys, values and read the attention output (None
        where the graph does not reach a parameter, e.g. q/k computed from a non-linear function).
    n_heads, n_kv_heads, head_dim : int
        Query heads, key/value heads (``n_kv_heads < n_heads`` for grouped-query attention: query head
        ``h`` reads kv head ``h // (n_heads // n_kv_heads)``), and the q/k width per head.
    v_head_dim : int
        Width per head of v (and of the output read by o).
    rotary : bool
        True if q and k are multiplied by position-dependent tables (rotary embeddings) between their
        projection and the attention product: then only maps commuting with the rotations are symmetries.
    heads_group, qk_group, vo_group, residual_group : str or None
        Names of the permutation groups of the heads, of the within-head q/k axis, of the within-head
        v/o axis and of the stream that q/k/v read and o writes (None where that axis is pinned). With
        grouped-query attention ``heads_group`` permutes the kv heads (each moving with its group of
        query heads).
    q_group_heads_group : str or None
        Grouped-query attention only: the group permuting the query heads within each kv group (one
        permutation shared by all kv groups); None for ordinary multi-head attention.
    """

    node: str
    module: str
    q: Projection | None
    k: Projection | None
    v: Projection | None
    o: Projection | None
    n_heads: int
    n_kv_heads: int
    head_dim: int
    v_head_dim: int
    rotary: bool
    heads_group: str | None = None
    qk_group: str | None = None
    vo_group: str | None = None
    residual_group: str | None = None
    q_group_heads_group: str | None = None
