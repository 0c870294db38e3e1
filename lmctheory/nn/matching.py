"""Activation and weight matching of any two models of one architecture (docs/theory.md §10, T-S1;
[NI] Q1–Q2, F.4; Ainsworth et al. 2023, *Git Re-Basin*).

One path for every model, the package's MLPs included: the symmetry groups come from
:func:`lmctheory.nn.symmetry.permutation_groups`; :func:`activation_match` and :func:`weight_match` return a
:class:`GroupMatching` (``perms`` by group name, the ``groups`` they act on, per-group costs and diagnostics);
:func:`permute_model` applies any object carrying ``groups`` (a matching result or a group element).

Calling convention (docs/architecture.md, "Calling convention"): ``f(model_a, model_b, X, *, options)``;
the data argument is ``X`` (a tensor, a tuple of positional inputs, a dict of keyword inputs, a
``torch.utils.data.DataLoader``, or for models of known input width an ``(N, d)`` array); every option
is keyword-only (``groups``, ``seed``, ``device``, …); the result is one :class:`GroupMatching`, and a
permuted model comes from :func:`permute_model` (never returned by the matching functions).

Permutation convention (as in :mod:`lmctheory.alignment`): ``perm[i]`` is the unit of model B matched to
unit ``i`` of model A, so the aligned B has unit ``i`` equal to old unit ``perm[i]``.

Weight matching has one engine: :func:`lmctheory.alignment.permutation_coordinate_descent` (Git Re-Basin
coordinate descent with restarts); this module supplies its linear-assignment gains, computed with torch on
``device``. Activation matching streams the statistics it needs (per tap: sums, sums of squares and the
cross-product matrix of A's and B's units) over mini-batches, so memory does not grow with the number of
samples.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from .._validation import check_int, check_seed
from ._checks import check_module, check_X, describe, model_dtype, model_io
from ._inputs import ModelInputs, as_model_inputs, check_finite_parameters, check_same_architecture, eval_mode
from .symmetry import (apply_permutation, capture, check_groups, is_asymmetric_module, normalize_perms,
                       permutation_groups)
from .models import MLP

__all__ = ["collect_activations", "activation_match", "weight_match", "permute_model", "to_standard",
           "GroupMatching", "MATCHING_METHODS"]

MATCHING_METHODS = ("activation", "weight")

#: a unit is treated as constant on ``X`` when its centered norm is below this fraction of its raw norm
#: (the threshold of :data:`lmctheory.alignment.CONSTANT_UNIT_RTOL`)
_CONSTANT_RTOL = 1e-12


# -------------------------------------------------------------------------------------------------
# the result
# -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupMatching:
    """Result of :func:`activation_match` and :func:`weight_match` (every model, one type).

    Attributes
    ----------
    perms : dict of str -> ndarray of int64
        One permutation per group, by group name; ``perms[g][i]`` is the unit of B matched to unit ``i``
        of A. Pass the whole result to :func:`permute_model`.
    groups : tuple of PermutationGroup
        The groups the permutations act on.
    method : {"activation", "weight"}
    objective, objective_identity : float
        Activation matching: ``Σ_g Σ_i C_g[i, perm_g[i]]`` and ``Σ_g tr C_g`` over the groups matched by
        activations (``C_g`` below). Weight matching: ``Σ_p ⟨θ^A_p, π(θ^B)_p⟩`` over the member parameters,
        at the result and at the identity.
    results : dict of str -> MatchingResult
        Per group, the cost matrix that was matched (``correlation`` field) with its optimal / identity /
        random objectives: activation matching, the summed Pearson correlations (or block costs) of the
        group's activations (groups matched by weights are absent); weight matching, the final linear gain
        ``G_g`` of the descent (every other permutation fixed at the result).
    weight_matched : tuple of str
        Activation matching: groups whose permutation came from the weights (no usable traced activation,
        or every unit constant on ``X``); the reason is in ``notes``.
    constant_units : dict of str -> int
        Activation matching: per group, the number of units of A constant on ``X`` (e.g. dead ReLUs); they
        have no correlation with anything and their assignment was decided by the weights.
    notes : dict of str -> str
        Per group, anything the user should know (weights used instead of activations, and why).
    n_samples : int
        Activation matching: rows of ``X`` used (0 for weight matching).
    restart_objectives : tuple of float
        Weight matching: the objective reached by each restart.
    """

    perms: dict
    groups: tuple
    method: str
    objective: float
    objective_identity: float
    results: dict
    weight_matched: tuple = ()
    constant_units: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    n_samples: int = 0
    restart_objectives: tuple = ()


# -------------------------------------------------------------------------------------------------
# the package's MLP: its hidden activations (a convenience reader; matching uses the generic path)
# -------------------------------------------------------------------------------------------------
@torch.no_grad()
def collect_activations(model: MLP, X) -> list[np.ndarray]:
    """Post-activation hidden units ``[h_1, …, h_{L−1}]`` of a :class:`~lmctheory.nn.models.MLP`, each
    float64 ``(N, width)``.

    ``X`` : torch tensor or array_like ``(N, in_dim)``, real numeric and finite (validated by
    :func:`lmctheory.nn._checks.check_X`: complex, string or object input raise ``TypeError``; NaN/inf,
    empty input or a wrong width ``ValueError``). It is converted to the model's dtype as a C-contiguous
    tensor, so C/F order give identical activations. The forward pass runs in eval mode in the model's
    dtype; the float64 output carries its rounding.

    Examples
    --------
    >>> import torch
    >>> from lmctheory.nn import collect_activations, make_mlp
    >>> [a.shape for a in collect_activations(make_mlp(3, 5, 2, n_layers=3), torch.zeros(4, 3))]
    [(4, 5), (4, 5)]
    """
    check_module(model, "model", MLP, "an lmctheory.nn.MLP (from make_mlp)")
    X = check_X(X, "X", model=model)
    with eval_mode(model):
        _, hidden = model(X, return_hidden=True)
    return [h.double().numpy() for h in hidden]


# -------------------------------------------------------------------------------------------------
# arguments
# -------------------------------------------------------------------------------------------------
def _model_arg(model, name):
    check_module(model, name, nn.Module, "a torch.nn.Module")
    return model


def _same_structure(model_a, model_b):
    """Same state-dict names and shapes (kept for :mod:`lmctheory.nn.orthogonal`)."""
    sa, sb = model_a.state_dict(), model_b.state_dict()
    if list(sa) != list(sb):
        raise ValueError("model_a and model_b must have the same parameters and buffers (same architecture); "
                         f"their state_dict keys differ: {sorted(set(sa) ^ set(sb))[:5]}")
    for k in sa:
        if sa[k].shape != sb[k].shape:
            raise ValueError(f"model_a and model_b must have the same shapes: {k!r} has shape "
                             f"{tuple(sa[k].shape)} in model_a and {tuple(sb[k].shape)} in model_b")


def _check_pair(model_a, model_b):
    _model_arg(model_a, "model_a")
    _model_arg(model_b, "model_b")
    check_same_architecture(model_a, model_b)
    check_finite_parameters(model_a, "model_a")
    check_finite_parameters(model_b, "model_b")
    for name, model in (("model_a", model_a), ("model_b", model_b)):
        for k, t in model.state_dict().items():
            if t.numel() == 0:
                raise ValueError(f"{name} has an empty (zero-width) tensor {k!r} of shape {tuple(t.shape)}; "
                                 "a layer without units cannot be matched")


def _example_for(model):
    """Example input of a model whose input width is known (MLP, Sequential of linear layers)."""
    d = model_io(model)[0]
    if d is None:
        return None
    return (torch.zeros(2, d, dtype=model_dtype(model)),)


def _inputs(X, model, name="X", min_rows=2):
    """Model inputs as a tuple of tensors (kept for :mod:`lmctheory.nn.orthogonal`)."""
    first = _Data(X, model, name=name, batch_size=2**62).first()  # every sample, one batch
    if first.batch_size < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} samples along its first axis, got "
                         f"{first.batch_size}")
    return _positional(model, first)


def _positional(model, inputs: ModelInputs) -> tuple:
    """Inputs as positional arguments of ``model.forward`` (keyword inputs bound by name)."""
    if not inputs.kwargs:
        return tuple(inputs.args)
    try:
        bound = inspect.signature(model.forward).bind(*inputs.args, **inputs.kwargs)
    except (TypeError, ValueError) as err:
        raise TypeError(f"X does not match {type(model).__name__}.forward: {err}") from None
    bound.apply_defaults()
    return tuple(bound.args) + tuple(bound.kwargs.values())


class _Data:
    """A user's ``X`` as a re-iterable source of :class:`ModelInputs` mini-batches in the model's dtype.

    ``X``: a tensor, tuple or dict (:func:`lmctheory.nn._inputs.as_model_inputs`); an ``(N, d)`` array-like
    for a model of known input width (:func:`lmctheory.nn._checks.check_X`); or a
    ``torch.utils.data.DataLoader`` whose batches are tensors, dicts, or ``(inputs, targets, …)`` tuples/lists
    (the first element is the input).
    """

    def __init__(self, X, model, *, name="X", batch_size=256):
        self.name, self.model, self.batch_size = name, model, batch_size
        self.dtype = model_dtype(model)
        params = list(model.parameters())
        self.device = params[0].device if params else torch.device("cpu")
        self.loader = None
        if isinstance(X, torch.utils.data.DataLoader):
            self.loader = X
            self.inputs = None
        elif model_io(model)[0] is not None and not isinstance(X, (tuple, Mapping, ModelInputs)):
            self.inputs = as_model_inputs(check_X(X, name, model=model), name, model)
        else:
            self.inputs = as_model_inputs(X, name, model)

    def _prepare(self, inputs: ModelInputs) -> ModelInputs:
        return inputs.to(device=self.device, dtype=self.dtype)

    def _from_batch(self, batch, k):
        name = f"{self.name} (DataLoader batch {k})"
        if isinstance(batch, (list, tuple)) and not isinstance(batch, torch.Tensor):
            if not batch:
                raise ValueError(f"{name} is empty")
            batch = batch[0]
            if isinstance(batch, list):
                batch = tuple(batch)
        if self.model is not None and model_io(self.model)[0] is not None and isinstance(batch, torch.Tensor):
            batch = check_X(batch, name, model=self.model)
        return as_model_inputs(batch, name, self.model)

    def __iter__(self):
        if self.loader is None:
            for b in self.inputs.batches(self.batch_size):
                yield self._prepare(b)
            return
        empty = True
        for k, batch in enumerate(self.loader):
            empty = False
            yield self._prepare(self._from_batch(batch, k))
        if empty:
            raise ValueError(f"{self.name} (a DataLoader) yielded no batch")

    def first(self) -> ModelInputs:
        for b in self:
            return b
        raise ValueError(f"{self.name} holds no sample")


def _resolve_groups(model, groups, example):
    if groups is not None:
        return check_groups(groups)
    if example is None:
        raise TypeError("groups is required for this model (or give X, an example input, so they can be traced)")
    return permutation_groups(model, example)


# -------------------------------------------------------------------------------------------------
# tensors viewed by units
# -------------------------------------------------------------------------------------------------
def _take_units(t, axis, outer, size, inner, perm):
    """``t`` with the middle index of axis ``axis`` (viewed as ``(outer, size, inner)``) reindexed by ``perm``."""
    shape = list(t.shape)
    v = t.reshape(shape[:axis] + [outer, size, inner] + shape[axis + 1:])
    return v.index_select(axis + 1, perm).reshape(shape)


def _unit_rows(t, axis, outer, size, inner):
    """``(size, rest)`` view of ``t``: row ``i`` holds every entry of unit ``i`` (fixed order)."""
    shape = list(t.shape)
    v = t.reshape(shape[:axis] + [outer, size, inner] + shape[axis + 1:])
    return v.movedim(axis + 1, 0).reshape(size, -1)


# -------------------------------------------------------------------------------------------------
# weight matching: the gains of the one engine (lmctheory.alignment.permutation_coordinate_descent)
# -------------------------------------------------------------------------------------------------
#: rows of float64 sample matrices processed at once by activation matching's streamed sums
_CHUNK_BYTES = 2**24

#: largest float64 cross-product matrix ``(size·m)²`` of one activation in activation matching (units that
#: share a tensor with an unmatched group form blocks of ``m``); a larger activation is not used
_BLOCK_BYTES = 2**28

#: float64 unit views of model A's members kept between gains (beyond this, they are recomputed per gain)
_CACHE_BYTES = 2**29


#: a member whose float64 unit view is larger than this is never cached; its gain is accumulated in chunks
_MEMBER_BYTES = 2**26


def _gram(a, b, axis, outer, size, inner):
    """``G[i, j] = Σ a[…, unit i, …] · b[…, unit j, …]`` in float64, converting at most ``_CHUNK_BYTES`` of
    each tensor at a time (so a vocabulary-sized embedding never exists in float64 as a whole)."""
    shape = list(a.shape)
    P, Q = int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis + 1:], dtype=np.int64))
    av, bv = a.reshape(P, outer, size, inner, Q), b.reshape(P, outer, size, inner, Q)
    G = torch.zeros(size, size, dtype=torch.float64, device=a.device)
    per = outer * size * inner * 8
    if P >= Q:
        step = max(1, _CHUNK_BYTES // (per * Q))
        for s in range(0, P, step):
            G += torch.einsum("posrq,potrq->st", av[s:s + step].double(), bv[s:s + step].double())
    else:
        step = max(1, _CHUNK_BYTES // (per * P))
        for s in range(0, Q, step):
            G += torch.einsum("posrq,potrq->st", av[..., s:s + step].double(), bv[..., s:s + step].double())
    return G


class _WeightObjective:
    """``Σ_p ⟨θ^A_p, π(θ^B)_p⟩`` over the floating parameters that are members of some group, and the linear
    gain of each group with the others fixed, computed in float64 on ``device``.

    The models' parameters are referenced (moved to ``device`` only if they are elsewhere), not copied as a
    whole: A's float64 unit views are cached up to ``_CACHE_BYTES`` and recomputed beyond, and a member
    whose tensor no other group touches contributes a constant ``A_m B_mᵀ`` computed once. Memory stays at
    the models' own size plus the cache and the largest member in float64.
    """

    def __init__(self, model_a, model_b, groups, device=None):
        pa, pb = dict(model_a.named_parameters()), dict(model_b.named_parameters())
        self.groups = {g.name: g for g in groups}
        self.on = {}  # parameter name -> [(group name, member)]
        for g in groups:
            for m in g.members:
                if m.name in pa and pa[m.name].is_floating_point():
                    self.on.setdefault(m.name, []).append((g.name, m))
        self.device = torch.device(device) if device is not None else next(
            (p.device for p in pa.values()), torch.device("cpu"))
        self.A = {k: pa[k].detach().to(self.device) for k in self.on}
        self.B = {k: pb[k].detach().to(self.device) for k in self.on}
        self.members = {g.name: [(k, m) for k, lst in self.on.items() for h, m in lst if h == g.name]
                        for g in groups}
        self.nonlinear = {h for lst in self.on.values() for h, _ in lst if sum(1 for x, _ in lst if x == h) > 1}
        self.neighbors = {g.name: {h for k, _ in self.members[g.name] for h, _ in self.on[k] if h != g.name}
                          for g in groups}
        self._idx, self._arows, self._const = {}, {}, {}
        self._cached = 0

    def _perm(self, gname, perms):
        p = perms[gname]
        key = (gname, p.tobytes())
        t = self._idx.get(gname)
        if t is None or t[0] != key:
            t = (key, torch.as_tensor(np.asarray(p, dtype=np.int64), device=self.device))
            self._idx[gname] = t
        return t[1]

    def permuted(self, name, perms, skip=None):
        t = self.B[name]
        for gname, m in self.on[name]:
            if (gname, m) == skip or gname not in perms:
                continue
            t = _take_units(t, m.axis, m.outer, self.groups[gname].size, m.inner, self._perm(gname, perms))
        return t

    def _a_rows(self, k, gname, m):
        """A's float64 unit view of member ``m`` if it is (or can be) cached, else None."""
        key = (k, gname, m)
        a = self._arows.get(key)
        if a is None:
            nbytes = self.A[k].numel() * 8
            if nbytes > _MEMBER_BYTES or self._cached + nbytes > _CACHE_BYTES:
                return None
            a = _unit_rows(self.A[k], m.axis, m.outer, self.groups[gname].size, m.inner).double()
            if a.data_ptr() == self.A[k].data_ptr():
                a = a.clone()
            self._arows[key] = a
            self._cached += nbytes
        return a

    @torch.no_grad()
    def objective(self, perms) -> float:
        total = 0.0
        for k in self.on:
            a, b = self.A[k].reshape(-1), self.permuted(k, perms).reshape(-1)
            step = _CHUNK_BYTES // 8
            for s in range(0, a.numel(), step):
                total += float(torch.dot(a[s:s + step].double(), b[s:s + step].double()))
        return total

    @torch.no_grad()
    def gain(self, gname, perms) -> np.ndarray:
        g = self.groups[gname]
        G = torch.zeros(g.size, g.size, dtype=torch.float64, device=self.device)
        for k, m in self.members[gname]:
            # a member no other group touches adds the same A_m B_mᵀ every time: kept when storing the
            # (size, size) product is cheaper than recomputing it (rest ≥ size)
            const = len(self.on[k]) == 1 and self.A[k].numel() >= g.size ** 2
            if const and (k, m) in self._const:
                G += self._const[(k, m)]
                continue
            a = self._a_rows(k, gname, m)
            bt = self.permuted(k, perms, skip=(gname, m))
            if a is not None:
                part = a @ _unit_rows(bt, m.axis, m.outer, g.size, m.inner).double().T
            else:
                part = _gram(self.A[k], bt, m.axis, m.outer, g.size, m.inner)
            if const:
                self._const[(k, m)] = part
            G += part
        return G.cpu().numpy()

    @torch.no_grad()
    def _nested_values(self, k, gname, m, inner_name, inner_m, perms):
        """``V[i, j] = max_σ Σ_d ⟨A[unit i, sub d], B'[unit j, sub σ(d)]⟩``: the gain of group ``gname`` on
        member ``m`` whose units hold the units of the unresolved group ``inner_name`` (a head and its
        within-head axis), each pair of units matched on its own within-unit assignment."""
        g, d = self.groups[gname], self.groups[inner_name]
        bt = self.B[k]
        for h, mm in self.on[k]:
            if (h, mm) in ((gname, m), (inner_name, inner_m)) or h not in perms:
                continue
            bt = _take_units(bt, mm.axis, mm.outer, self.groups[h].size, mm.inner, self._perm(h, perms))
        shape = list(bt.shape)
        view = shape[:m.axis] + [m.outer, g.size, d.size, inner_m.inner] + shape[m.axis + 1:]
        a = self.A[k].reshape(view).movedim((m.axis + 1, m.axis + 2), (0, 1)).reshape(g.size, d.size, -1)
        b = bt.reshape(view).movedim((m.axis + 1, m.axis + 2), (0, 1)).reshape(g.size, d.size, -1)
        return torch.einsum("idr,jer->ijde", a.double(), b.double())

    def initial(self, order) -> dict:
        """A start for the descent: the groups visited once in graph order, each solved from the members
        whose other axes are pinned or belong to groups already solved (a member whose axis also carries an
        unsolved group nested in this group's units — a head's within-head axis — counts with the best
        within-unit assignment of every pair of units). A group with no such member stays at the identity.

        From the identity, a group's gain also sums the members still permuted at random, whose noise can
        outweigh the signal; solving in graph order from the pinned inputs uses only matched terms."""
        perms = {n: np.arange(self.groups[n].size, dtype=np.int64) for n in order}
        solved = set()
        for gname in order:
            g = self.groups[gname]
            G = torch.zeros(g.size, g.size, dtype=torch.float64, device=self.device)
            T, used = {}, False
            for k, m in self.members[gname]:
                others = [(h, mm) for h, mm in self.on[k] if (h, mm) != (gname, m) and h not in solved]
                if not others:
                    bt = self.permuted(k, perms, skip=(gname, m))
                    G += _gram(self.A[k], bt, m.axis, m.outer, g.size, m.inner)
                    used = True
                elif len(others) == 1 and others[0][0] != gname:
                    h, mm = others[0]
                    d = self.groups[h]
                    if mm.axis == m.axis and mm.outer == m.outer * g.size and mm.inner * d.size == m.inner:
                        part = self._nested_values(k, gname, m, h, mm, perms)
                        T[h] = part + T[h] if h in T else part
                        used = True
            for part in T.values():  # one within-unit assignment per nested group
                Tn = part.cpu().numpy()
                V = np.array([[float(Tn[i, j][np.arange(Tn.shape[2]), _lap(Tn[i, j])].sum())
                               for j in range(g.size)] for i in range(g.size)])
                G += torch.as_tensor(V, device=self.device)
            if used:
                perms[gname] = _lap(G.cpu().numpy())
            solved.add(gname)
        return perms


def _result_of(C, perm, n_random, rng):
    from ..alignment import MatchingResult

    n = C.shape[0]
    idx = np.arange(n)
    rand = np.array([C[idx, rng.permutation(n)].sum() for _ in range(n_random)]) if n_random else np.array([np.nan])
    return MatchingResult(perm=perm, objective_optimal=float(C[idx, perm].sum()),
                          objective_identity=float(np.trace(C)), objective_random_mean=float(rand.mean()),
                          objective_random_std=float(rand.std()), correlation=C)


def _lap(C):
    rows, cols = linear_sum_assignment(C, maximize=True)
    perm = np.empty(C.shape[0], dtype=np.int64)
    perm[rows] = cols
    return perm


def _descend(wo: _WeightObjective, names, fixed, *, n_restarts, max_iter, seed, init=None):
    """Git Re-Basin descent over the groups ``names`` (the others fixed at ``fixed``; restart 0 starts at
    ``init`` where given, else at ``fixed`` or the identity)."""
    from ..alignment import permutation_coordinate_descent

    def merged(p):
        return {**fixed, **p}

    sizes = {n: wo.groups[n].size for n in names}
    return permutation_coordinate_descent(
        sizes, lambda n, p: wo.gain(n, merged(p)), objective=lambda p: wo.objective(merged(p)),
        nonlinear=[n for n in names if n in wo.nonlinear],
        neighbors={n: [h for h in wo.neighbors[n] if h in sizes] for n in names},
        n_restarts=n_restarts, max_iter=max_iter, seed=seed,
        init={n: (init or fixed)[n] for n in names if n in (init or fixed)})


def weight_match(model_a, model_b, X=None, *, groups=None, n_restarts: int = 1, max_iter: int = 100,
                 n_random: int = 100, seed: int = 0, device=None, keep_costs: bool = True) -> GroupMatching:
    """Weight matching of any two models of one architecture (Git Re-Basin, Ainsworth et al. 2023, Alg. 1).

    Maximizes ``Σ_p ⟨θ^A_p, π(θ^B)_p⟩`` over the product of the permutation groups, the sum running over the
    *parameters* (not buffers) that are members of some group, by
    :func:`lmctheory.alignment.permutation_coordinate_descent`: for one group ``g`` with the others fixed the
    objective is linear in ``P_g``, ``G_g[i, j] = Σ_{members} ⟨A_m[unit i], B'_m[unit j]⟩`` (``B'``: B's
    tensor with every other member axis permuted; units of block members are whole blocks, e.g. a head's
    ``dh`` rows), solved by ``linear_sum_assignment``. Restart 0 starts at the identity, restarts ``1…`` at
    random elements, and one more descent starts from a graph-order solve (each group, in the order of the
    graph, assigned from the members whose other axes are pinned or already assigned; heads with the best
    within-head assignment of each pair of heads): from the identity, the members still permuted at random
    add noise that can outweigh the signal of a group, a graph-order solve starts from the pinned inputs.
    The best objective is returned. Gains are computed in float64 with torch on ``device``.

    Parameters
    ----------
    model_a, model_b : nn.Module
        Same architecture (:func:`lmctheory.nn._inputs.check_same_architecture`), finite parameters.
    X : torch.Tensor, tuple or dict, optional
        An example input, used only to trace the groups when ``groups`` is not given (a batch of 2 is
        enough; models of known input width need none).
    groups : list of PermutationGroup, optional
        Default: :func:`~lmctheory.nn.symmetry.permutation_groups` of ``model_a`` on ``X``.
    n_restarts : int, default 1
        ``≥ 1`` descents.
    max_iter : int, default 100
        Sweeps per descent.
    n_random : int, default 100
        Random permutations for each group's baseline in ``results`` (0: none).
    seed : int, default 0
    device : torch.device or str, optional
        Where the gains are computed (default: the models' device). The assignments run on the CPU.
    keep_costs : bool, default True
        Keep each group's final gain matrix in ``results[g].correlation`` (``None`` otherwise: for large
        models, whose ``(size, size)`` matrices add up).

    Returns
    -------
    GroupMatching
        ``objective`` / ``objective_identity``: the inner product at the result / at the identity;
        ``restart_objectives``: the ``n_restarts`` descents', then the graph-order descent's.

    Raises
    ------
    ValueError
        Different architectures, a non-finite or empty parameter (named).

    References
    ----------
    Ainsworth et al. 2023, *Git Re-Basin* §3.2 (weight matching); docs/theory.md §10 "Alignment".

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from lmctheory.nn.symmetry import permutation_groups, random_permutation
    >>> from lmctheory.nn.matching import permute_model, weight_match
    >>> a = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 2))
    >>> g = permutation_groups(a, torch.zeros(2, 3))
    >>> b = permute_model(a, random_permutation(g, seed=1), groups=g)
    >>> torch.equal(permute_model(b, weight_match(a, b))[0].weight, a[0].weight)
    True
    """
    _check_pair(model_a, model_b)
    n_restarts = check_int(n_restarts, "n_restarts", low=1)
    max_iter = check_int(max_iter, "max_iter", low=1)
    n_random = check_int(n_random, "n_random", low=0)
    seed = check_seed(seed)
    example = None
    if groups is None:
        example = _Data(X, model_a).first().rows(slice(0, 2)) if X is not None else _example_for(model_a)
    groups = _resolve_groups(model_a, groups, example)
    wo = _WeightObjective(model_a, model_b, groups, device)
    ident = {g.name: np.arange(g.size, dtype=np.int64) for g in groups}
    names = [g.name for g in groups]
    if names:
        res = _descend(wo, names, {}, n_restarts=n_restarts, max_iter=max_iter, seed=seed)
        solved = _descend(wo, names, {}, n_restarts=1, max_iter=max_iter, seed=seed, init=wo.initial(names))
        best = solved if solved.objective > res.objective else res
        perms, obj = best.perms, best.objective
        restarts = tuple(res.restart_objectives) + tuple(solved.restart_objectives)
    else:
        perms, obj, restarts = {}, wo.objective({}), ()
    rng = np.random.default_rng(seed)
    results = {}
    for n in names:
        r = _result_of(wo.gain(n, perms), perms[n], n_random, rng)
        results[n] = r if keep_costs else replace(r, correlation=None)
    return GroupMatching(perms=dict(perms), groups=tuple(groups), method="weight", objective=float(obj),
                         objective_identity=wo.objective(ident), results=results,
                         restart_objectives=tuple(restarts))


# -------------------------------------------------------------------------------------------------
# activation matching: a plan (which activations, in how many passes), streamed statistics, costs
# -------------------------------------------------------------------------------------------------
def _pick(v, index):
    for i in index:
        v = v[i]
    return v


def _factors(value_shape, taps):
    """Row-major factorization of a tensor: list of (size, group name or None) per axis, flattened.

    The structure (number and order of factors) depends only on ``taps``, not on the sizes: factors of
    size 1 are kept, so a batch of one sample reshapes like any other."""
    out = []
    for axis, n in enumerate(value_shape):
        fs = sorted(((t.outer, size, t.inner, g) for g, size, t in taps if t.axis == axis), key=lambda f: f[0])
        pos, row = 1, []
        for o, size, r, g in fs:
            if o % pos:
                return None
            row.append((o // pos, None))
            row.append((size, g))
            pos = o * size
        if n % pos:
            return None
        row.append((n // pos, None))
        out.extend(row)
    return out


@dataclass
class _TapPlan:
    """How one activation enters a group's cost: the tensor is reshaped to ``facs``, B is reindexed by the
    groups matched earlier, and the axes are ordered ``sample + [unit] + block``."""

    key: tuple  # (node, index)
    others: list  # [(group name, size, tap)] on this tensor
    facs: list
    earlier: list  # [(group name, size, tap)] matched before: B is reindexed by them
    order: list
    m: int  # block size (product of the unmatched other groups' factors)


def _plan(groups, order, shapes):
    """Per group: its usable taps (best tier that has one; heads use every tier) and its pass (level)."""
    node_taps = {}
    for g in groups:
        for t in g.taps:
            node_taps.setdefault((t.node, t.index), [])
            if all(h != g.name or th.axis != t.axis or th.outer != t.outer for h, _, th in
                   node_taps[(t.node, t.index)]):
                node_taps[(t.node, t.index)].append((g.name, g.size, t))
    position = {g.name: k for k, g in enumerate(order)}

    def usable(g, t):
        key = (t.node, t.index)
        if key not in shapes:
            return None
        others = node_taps[key]
        facs = _factors(shapes[key], others)
        if facs is None or sum(1 for _, h in facs if h == g.name) != 1:
            return None
        before = {h for h, _, _ in others if h != g.name and position[h] < position[g.name]}
        unit = next(k for k, (_, h) in enumerate(facs) if h == g.name)
        block = [k for k, (_, h) in enumerate(facs) if h is not None and h != g.name and h not in before]
        sample = [k for k in range(len(facs)) if k != unit and k not in block]
        if int(np.prod([facs[k][0] for k in sample])) < 2:  # the batch axis of 2 rows is a sample axis
            return None
        earlier = [(h, size, th) for h, size, th in others if h in before]
        m = int(np.prod([facs[k][0] for k in block])) if block else 1
        if (g.size * m) ** 2 * 8 > _BLOCK_BYTES:  # the cross-product matrix of the blocks would not fit
            return None
        return _TapPlan(key=key, others=others, facs=facs, earlier=earlier, order=sample + [unit] + block, m=m)

    plans, level, reason = {}, {}, {}
    for g in order:
        best = min((t.tier for t in g.taps), default=None)
        first = [t for t in g.taps if t.tier == best or g.kind == "heads"]
        tp = [p for p in (usable(g, t) for t in first) if p is not None]
        if not tp:
            tp = [p for p in (usable(g, t) for t in g.taps) if p is not None]
        if not tp:
            reason[g.name] = ("no traced activation carries its units (inside a leaf module)" if not g.taps
                              else "no traced activation carries its units on one axis with samples")
            continue
        plans[g.name] = tp
        deps = [level[h] for p in tp for h, _, _ in p.earlier if h in level]
        level[g.name] = 1 + max(deps, default=0)
    return plans, level, reason


class _CrossStats:
    """Streamed sums for the Pearson correlations between the columns of ``A`` and ``B`` (``(S, F)`` each).

    Every batch is shifted by the first sample's row (exact zeros for constant columns, no cancellation for
    large means): ``n``, ``Σd_a``, ``Σd_b``, ``Σd_a²``, ``Σd_b²``, ``Σd_aᵀd_b``, and the raw ``Σa²``, ``Σb²``.
    """

    def __init__(self):
        self.n = 0

    def add(self, A, B):
        """Add the rows of ``A`` and ``B`` (any floating dtype), in float64 chunks of at most 16 MiB."""
        rows = max(1, _CHUNK_BYTES // (8 * A.shape[1]))
        for s in range(0, A.shape[0], rows):
            self._add(A[s:s + rows].double(), B[s:s + rows].double())

    def _add(self, A, B):
        if self.n == 0:
            self.sa, self.sb = A[0].clone(), B[0].clone()
            F = A.shape[1]
            z = lambda: torch.zeros(F, dtype=torch.float64, device=A.device)  # noqa: E731
            self.da, self.db, self.qa, self.qb, self.ra, self.rb = z(), z(), z(), z(), z(), z()
            self.cross = torch.zeros(F, F, dtype=torch.float64, device=A.device)
        da, db = A - self.sa, B - self.sb
        self.n += A.shape[0]
        self.da += da.sum(0)
        self.db += db.sum(0)
        self.qa += (da * da).sum(0)
        self.qb += (db * db).sum(0)
        self.ra += (A * A).sum(0)
        self.rb += (B * B).sum(0)
        self.cross += da.T @ db

    def correlation(self) -> np.ndarray:
        n = self.n
        ma, mb = self.da / n, self.db / n
        ssa = torch.clamp(self.qa - n * ma * ma, min=0.0)
        ssb = torch.clamp(self.qb - n * mb * mb, min=0.0)
        ca = ssa <= (_CONSTANT_RTOL ** 2) * self.ra
        cb = ssb <= (_CONSTANT_RTOL ** 2) * self.rb
        cov = self.cross - n * torch.outer(ma, mb)
        den = torch.sqrt(torch.outer(torch.where(ca, 1.0, ssa), torch.where(cb, 1.0, ssb)))
        R = torch.clamp(cov / den, -1.0, 1.0)
        R[ca, :] = 0.0
        R[:, cb] = 0.0
        return R.cpu().numpy()


def _tap_matrices(g, plan, va, vb, perms, device):
    """A's and B's ``(S, size·m)`` sample matrices of one tap on one batch (B reindexed by earlier groups)."""
    va, vb = va.detach().to(device=device), vb.detach().to(device=device)
    if not (bool(torch.isfinite(va).all()) and bool(torch.isfinite(vb).all())):
        raise ValueError(f"the activations of node {plan.key[0]!r} are not finite on X")
    for h, size, th in plan.earlier:
        vb = _take_units(vb, th.axis, th.outer, size, th.inner,
                         torch.as_tensor(perms[h], device=device))
    dims = [s for s, _ in _factors(va.shape, plan.others)]
    a = va.reshape(dims).permute(plan.order).reshape(-1, g.size * plan.m)
    b = vb.reshape(dims).permute(plan.order).reshape(-1, g.size * plan.m)
    return a, b


def _block_cost(R, size, m):
    """Cost of unit pairs made of ``m``-blocks: the optimal assignment value of each block pair."""
    if m == 1:
        return R
    R = R.reshape(size, m, size, m)
    C = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            r, c = linear_sum_assignment(R[i, :, j, :], maximize=True)
            C[i, j] = R[i, r, j, c].sum()
    return C


class _Runner:
    """Values of traced activations (tap nodes) of a model on a batch of inputs: the graph captured from
    ``model_a`` by :func:`lmctheory.nn.symmetry.capture` (cached per input shapes), run with the parameters
    and buffers of ``model``."""

    def __init__(self, model_a, model):
        self.model_a, self.model = model_a, model

    def __call__(self, inputs: ModelInputs, keep):
        with torch.no_grad():
            return capture(self.model_a, inputs, name="X").run(self.model, inputs, keep=set(keep))


def activation_match(model_a, model_b, X, *, groups=None, n_random: int = 100, seed: int = 0,
                     batch_size: int = 64, device=None) -> GroupMatching:
    """Activation matching of model B to model A on inputs ``X`` ([NI] F.4, docs/theory.md §10 "Alignment").

    Per group ``g`` (from :func:`~lmctheory.nn.symmetry.permutation_groups`), the cost matrix is

    ``C_g[i, j] = Σ_t corr_t(i, j)``

    summed over the group's traced activations ``t`` of the best tier (outputs of nonlinearities; else
    residual sums; else any computed tensor), where ``corr_t`` is the Pearson correlation over samples =
    every index of ``t`` except the unit (batch, tokens, every pixel of a conv channel [NI] F.4, pinned
    factors). Groups are matched one after another (heads first, then the list order); B's activations
    are first reindexed by the groups already matched, and the units of groups not yet matched that share
    the tensor form a block: then ``corr_t(i, j)`` is the optimal assignment value of the block correlation
    matrix of unit ``i`` of A and unit ``j`` of B (heads are matched as blocks). ``perm_g`` solves
    ``max_π Σ_i C_g[i, π(i)]`` (``linear_sum_assignment``).

    The correlations are computed from streamed sums (per batch of ``batch_size`` samples, or per batch of
    a ``DataLoader``): memory is that of one batch's activations plus ``(size·m)²`` per activation used,
    whatever the number of samples. Groups that share an activation with a group matched earlier need its
    permutation first, so ``X`` is read once per such level (1 for MLPs and CNNs, 2–3 for transformers).
    Both models are evaluated in eval mode (dropout off, BatchNorm running statistics).

    Groups without a usable traced activation (inside a leaf module, e.g. ``nn.MultiheadAttention`` heads)
    and groups whose units are all constant on ``X`` are matched by weights (the other permutations fixed)
    and listed in ``weight_matched`` with the reason in ``notes``; units of A that are constant on ``X``
    (zero rows of ``C_g``, e.g. dead ReLUs; counted in ``constant_units``) and, generally, every tie of the
    activation costs (units with identical activations on ``X``) are decided by the weights: each group's
    final assignment maximizes ``Σ C_g`` first and the weight gain second (``C_g + (10⁻⁹/n)·G_g/max|G_g|``).
    A group whose units are all constant also raises a ``UserWarning``.

    Parameters
    ----------
    model_a, model_b : nn.Module
        Same architecture, finite parameters.
    X : torch.Tensor, tuple, dict, DataLoader or array_like ``(N, d)``
        Inputs (batch first, ``N ≥ 2`` samples in all): see :mod:`lmctheory.nn._inputs`; a ``DataLoader``
        yields tensors, dicts or ``(inputs, targets)`` pairs (the first element is used) and is read once
        per level; an array ``(N, d)`` is accepted for models of known input width. Floating inputs are
        cast to the models' dtype.
    groups : list of PermutationGroup, optional
        Default: traced from ``model_a`` on the first two samples of ``X``.
    n_random : int, default 100
        Random permutations for the baseline objectives of each group (0: none).
    seed : int, default 0
        Seed of the baselines (and of the weight fallback).
    batch_size : int, default 64
        Samples per forward pass when ``X`` is a tensor/tuple/dict.
    device : torch.device or str, optional
        Where the statistics and the weight gains are computed (default: the models' device).

    Returns
    -------
    GroupMatching

    References
    ----------
    [NI] Q2 and App. F.4 (activation matching, conv pixels as samples); docs/theory.md §10, T-S1; Ainsworth et
    al. 2023 §3.1.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from lmctheory.nn.symmetry import permutation_groups, random_permutation
    >>> from lmctheory.nn.matching import activation_match, permute_model
    >>> a = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 2))
    >>> g = permutation_groups(a, torch.zeros(2, 3))
    >>> b = permute_model(a, random_permutation(g, seed=1), groups=g)
    >>> X = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    >>> m = activation_match(a, b, X)
    >>> torch.equal(permute_model(b, m)[0].weight, a[0].weight)
    True
    """
    _check_pair(model_a, model_b)
    n_random = check_int(n_random, "n_random", low=0)
    seed = check_seed(seed)
    batch_size = check_int(batch_size, "batch_size", low=1)
    src_a = _Data(X, model_a, batch_size=batch_size)
    src_b = src_a if model_dtype(model_b) == model_dtype(model_a) else _Data(X, model_b, batch_size=batch_size)
    first = src_a.first()
    example = first.rows(slice(0, 2))
    groups = _resolve_groups(model_a, groups, example)
    run_a, run_b = _Runner(model_a, model_a), _Runner(model_a, model_b)
    order = [g for g in groups if g.kind == "heads"] + [g for g in groups if g.kind != "heads"]
    tap_nodes = {t.node for g in groups for t in g.taps}
    probe = run_a(example, tap_nodes)
    shapes = {}
    for g in groups:
        for t in g.taps:
            if t.node in probe:
                v = _pick(probe[t.node], t.index)
                if isinstance(v, torch.Tensor):
                    shapes[(t.node, t.index)] = tuple(v.shape)
    del probe
    plans, level, notes = _plan(groups, order, shapes)
    wdev = device
    stat_dev = torch.device(device) if device is not None else src_a.device
    perms, results, n_seen = {}, {}, 0
    rng = np.random.default_rng(seed)
    for lv in sorted(set(level.values())):
        now = [g for g in order if level.get(g.name) == lv]
        keep = {p.key[0] for g in now for p in plans[g.name]}
        stats = {(g.name, k): _CrossStats() for g in now for k in range(len(plans[g.name]))}
        n_seen = 0
        for xa, xb in zip(src_a, src_b):
            va, vb = run_a(xa, keep), run_b(xb, keep)
            n_seen += xa.batch_size
            for g in now:
                for k, p in enumerate(plans[g.name]):
                    a, b = _tap_matrices(g, p, _pick(va[p.key[0]], p.key[1]), _pick(vb[p.key[0]], p.key[1]),
                                         perms, stat_dev)
                    stats[(g.name, k)].add(a, b)
            del va, vb
        if n_seen < 2:
            raise ValueError(f"X needs at least 2 samples (correlations are taken over them), got {n_seen}")
        for g in now:
            C = np.zeros((g.size, g.size))
            for k, p in enumerate(plans[g.name]):
                C += _block_cost(stats[(g.name, k)].correlation(), g.size, p.m)
            res = _result_of(C, _lap(C), n_random, rng)
            perms[g.name], results[g.name] = res.perm, res
        del stats
    return _finish(model_a, model_b, groups, perms, results, notes, n_seen, seed, wdev)


def _finish(model_a, model_b, groups, perms, results, notes, n_seen, seed, device):
    """Weights decide what the activations cannot: groups without activations, constant units."""
    wo = _WeightObjective(model_a, model_b, groups, device)
    fallback = [g.name for g in groups if g.name not in results]
    constant = {}
    for g in groups:
        r = results.get(g.name)
        if r is None:
            continue
        dead = np.flatnonzero(np.all(r.correlation == 0.0, axis=1))
        if len(dead) == g.size:
            fallback.append(g.name)
            del results[g.name]
            notes[g.name] = f"all {g.size} units are constant on X (e.g. dead ReLUs): matched by weights"
            warnings.warn(f"activation_match: every unit of group {g.name!r} is constant on X; its permutation "
                          "was found by weight matching", UserWarning, stacklevel=3)
        elif len(dead):
            constant[g.name] = len(dead)
            notes[g.name] = f"{len(dead)} of {g.size} units are constant on X: their assignment is decided by weights"
    for g in groups:
        perms.setdefault(g.name, np.arange(g.size, dtype=np.int64))
    if fallback:
        for n in fallback:
            notes.setdefault(n, "matched by weights")
            if not notes[n].startswith("all") and "weights" not in notes[n]:
                notes[n] = notes[n] + ": matched by weights"
        res = _descend(wo, fallback, perms, n_restarts=1, max_iter=100, seed=seed)
        perms.update(res.perms)
    # ties of the activation costs (constant units: zero rows; units with identical activations on X: equal
    # correlations) carry no information from X: the weights decide them. Lexicographic: each group's
    # assignment maximizes Σ C first and, among (near-)optimal ones, the weight gain G (the other
    # permutations fixed): C + (1e-9 / n) · G / max|G| changes Σ C by at most 1e-9.
    for g in groups:
        r = results.get(g.name)
        if r is None:
            continue
        G = wo.gain(g.name, perms)
        scale = float(np.abs(G).max())
        if scale == 0.0:
            continue
        perm = _lap(r.correlation + (1e-9 / g.size) * (G / scale))
        if not np.array_equal(perm, r.perm):
            idx = np.arange(g.size)
            perms[g.name] = perm
            results[g.name] = replace(r, perm=perm, objective_optimal=float(r.correlation[idx, perm].sum()))
    obj = sum(r.objective_optimal for r in results.values())
    obj_id = sum(r.objective_identity for r in results.values())
    return GroupMatching(perms=perms, groups=tuple(groups), method="activation", objective=float(obj),
                         objective_identity=float(obj_id), results=results,
                         weight_matched=tuple(g.name for g in groups if g.name in fallback),
                         constant_units=constant, notes=dict(notes), n_samples=int(n_seen))


# -------------------------------------------------------------------------------------------------
# applying a matching; standard (non-asymmetric) copies
# -------------------------------------------------------------------------------------------------
def _std_module(m):
    """A plain nn.Linear / nn.Conv holding the effective weight of an asymmetric module."""
    w = m.effective_weight().detach()
    bias = getattr(m, "bias", None)
    if w.ndim == 2:
        new = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
    else:
        if getattr(m, "groups", 1) != 1:
            raise TypeError(f"asymmetric conv with groups={m.groups} is not supported")
        cls = {3: nn.Conv1d, 4: nn.Conv2d}[w.ndim]
        new = cls(w.shape[1], w.shape[0], tuple(w.shape[2:]), stride=getattr(m, "stride", 1),
                  padding=getattr(m, "padding", 0), dilation=getattr(m, "dilation", 1), bias=bias is not None)
    new = new.to(dtype=w.dtype, device=w.device)
    with torch.no_grad():
        new.weight.copy_(w)
        if bias is not None:
            new.bias.copy_(bias.detach())
    new.train(m.training)
    return new


def to_standard(model):
    """A copy of ``model`` with every asymmetric layer replaced by a plain layer holding its effective
    weight ``F + D ⊙ W`` (same function), so two permuted asymmetric models can be interpolated.

    Every asymmetric submodule (duck-typed by :func:`lmctheory.nn.symmetry.is_asymmetric_module`:
    ``F``/``D`` buffers, ``effective_weight()``, 2-D/3-D/4-D weight) becomes an ``nn.Linear`` /
    ``nn.Conv1d`` / ``nn.Conv2d`` with its stride/padding/dilation (zero padding, groups 1); everything else
    is copied; the original is untouched. A :class:`~lmctheory.nn.models.MLP` gets ``kind = "standard"``.

    References
    ----------
    docs/theory.md §1 (W-asymmetric layers ``F + D ⊙ W``) and §10.

    Examples
    --------
    >>> from torch import nn
    >>> from lmctheory.nn import AsymmetricLinear, to_standard
    >>> net = nn.Sequential(AsymmetricLinear(3, 4, "syre"), nn.ReLU(), nn.Linear(4, 1))
    >>> type(to_standard(net)[0]).__name__
    'Linear'
    """
    check_module(model, "model", nn.Module, "a torch.nn.Module")
    if is_asymmetric_module(model):
        return _std_module(model)
    new = copy.deepcopy(model)
    for name, m in list(new.named_modules()):
        if name and is_asymmetric_module(m):
            parent_name, _, child = name.rpartition(".")
            parent = new.get_submodule(parent_name) if parent_name else new
            setattr(parent, child, _std_module(m))
    if isinstance(new, MLP):
        new.kind = "standard"
    return new


def permute_model(model, perms, *, groups=None):
    """Permute the units of ``model`` (function-preserving, T-S1); returns a new model.

    ``perms`` is anything that carries its groups — a :class:`GroupMatching` from :func:`activation_match`
    / :func:`weight_match`, or a group element from :func:`~lmctheory.nn.symmetry.random_permutation` — or a
    plain dict ``{group name: perm}`` / list aligned with ``groups`` (values may be
    :class:`~lmctheory.alignment.MatchingResult`). Every member (parameters and buffers: running
    statistics, asymmetric ``F``/``D``) of every group is reindexed on a deep copy
    (:func:`lmctheory.nn.symmetry.apply_permutation`); groups not named keep the identity.

    Parameters
    ----------
    model : nn.Module
    perms : GroupMatching, group element, dict or list
    groups : list of PermutationGroup, optional
        Default: ``perms.groups``; for a plain dict on a model of known input width, traced.

    References
    ----------
    docs/theory.md T-S1 (permutation symmetry); Ainsworth et al. 2023.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from lmctheory.nn import make_mlp, permute_model
    >>> from lmctheory.nn.symmetry import permutation_groups
    >>> m = make_mlp(3, 4, 2, n_layers=2, seed=0)
    >>> g = permutation_groups(m, torch.zeros(2, 3))
    >>> p = permute_model(m, {g[0].name: np.array([1, 0, 3, 2])}, groups=g)
    >>> bool((p.layers[0].weight[0] == m.layers[0].weight[1]).all())
    True
    """
    check_module(model, "model", nn.Module, "a torch.nn.Module")
    if groups is None:
        groups = getattr(perms, "groups", None)
    if groups is None:
        ex = _example_for(model)
        if ex is None:
            raise TypeError("groups is required to permute this model (a GroupMatching or a group element "
                            f"carries them), got groups=None and perms of type {describe(perms)}")
        groups = permutation_groups(model, ex)
    groups = check_groups(groups)
    if isinstance(perms, GroupMatching):
        perms = perms.perms
    elif not isinstance(perms, (dict, list, tuple)) and isinstance(perms, Mapping):
        perms = dict(perms)
    return apply_permutation(model, normalize_perms(perms, groups), groups)
