"""Activation and weight matching, permutations and standardization of torch models (docs/theory.md §10, T-S1;
[NI] Q1–Q2, F.4; Ainsworth et al. 2023, *Git Re-Basin*).

Two paths share one API:

* **This package's MLP** (:func:`~lmctheory.nn.models.make_mlp`) with ``groups=None``: activations are the
  post-activation hidden units ``h_ℓ`` (one ``(N, width)`` array per hidden layer), matched layer by layer
  with :func:`lmctheory.alignment.activation_matching` (Pearson correlations, ``linear_sum_assignment``);
  :func:`activation_match` returns one :class:`~lmctheory.alignment.MatchingResult` per hidden layer and
  :func:`permute_model` takes the list of their ``perm`` (unchanged behaviour).
* **Any model** ``torch.fx`` can trace: the symmetry groups come from
  :func:`lmctheory.nn.groups.permutation_groups`; :func:`activation_match` and :func:`weight_match` return a
  :class:`GroupMatching` (``perms`` by group name) that :func:`permute_model` applies directly.

Convention (as in :mod:`lmctheory.alignment`): ``perm[i]`` is the unit of model B matched to unit ``i`` of
model A, so the aligned B has unit ``i`` equal to old unit ``perm[i]``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from .._validation import check_int, check_permutation, check_seed
from ._checks import check_module, check_X, describe, model_dtype, model_io
from .groups import (Member, _as_inputs, _check_groups, _index_member, _run, _trace, apply_permutation,
                     is_asymmetric_module, normalize_perms, permutation_groups)
from .layers import AsymmetricLinear
from .models import MLP

__all__ = ["collect_activations", "activation_match", "weight_match", "permute_model", "to_standard",
           "GroupMatching"]


def _check_mlp(model, name="model"):
    check_module(model, name, MLP, "an lmctheory.nn.MLP (from make_mlp)")


@torch.no_grad()
def collect_activations(model: MLP, X) -> list[np.ndarray]:
    """Post-activation hidden units ``[h_1, …, h_{L−1}]``, each float64 ``(N, width)``.

    ``X`` : torch tensor or array_like ``(N, in_dim)``, real numeric and finite (validated by
    :func:`lmctheory.nn._checks.check_X`: complex, string or object input raise ``TypeError``; NaN/inf,
    empty input or a wrong width ``ValueError``). It is converted to the model's dtype as a C-contiguous
    tensor, so float64, longdouble, Fortran-ordered and negative-stride inputs work and C/F order give
    identical activations. The forward pass runs in the model's dtype (float32 for :func:`make_mlp`
    models): the float64 output carries float32 rounding (relative ≈ 1e-7 per operation).
    """
    _check_mlp(model)
    X = check_X(X, "X", model=model)
    return _collect(model, X)


@torch.no_grad()
def _collect(model: MLP, X: torch.Tensor) -> list[np.ndarray]:
    was = model.training
    model.eval()
    _, hidden = model(X, return_hidden=True)
    model.train(was)
    return [h.double().numpy() for h in hidden]


def _activation_match_mlp(model_a: MLP, model_b: MLP, X, *, n_random: int = 100, seed: int = 0) -> list:
    """Layerwise activation matching of model B to model A on inputs ``X`` ([NI] F.4).

    Returns one :class:`lmctheory.alignment.MatchingResult` per hidden layer
    (``perm``, ``objective_optimal``, ``objective_identity``, ``objective_random_mean/std``).
    Layers are matched independently: each layer's correlation uses B's own (unpermuted)
    activations, which is exact because permuting earlier layers does not change a unit's output.

    ``X`` : torch tensor or array_like ``(N, in_dim)`` with ``N ≥ 2`` (correlations over the rows),
    validated and converted as in :func:`collect_activations`. Activations are computed in the models'
    dtype (float32 for :func:`make_mlp` models) and correlated in float64, so correlations carry float32
    rounding (≈ 1e-6 relative); C- and Fortran-ordered ``X`` give identical results.
    """
    from ..alignment import activation_matching

    _check_mlp(model_a, "model_a")
    _check_mlp(model_b, "model_b")
    if model_a.layers[0].in_features != model_b.layers[0].in_features:
        raise ValueError(f"model_a and model_b must have the same input width, got "
                         f"{model_a.layers[0].in_features} and {model_b.layers[0].in_features}")
    n_random = check_int(n_random, "n_random", low=1)
    seed = check_seed(seed)
    Xa = check_X(X, "X", model=model_a, min_rows=2)
    Xb = Xa if model_dtype(model_b) == Xa.dtype else check_X(X, "X", model=model_b, min_rows=2)
    acts_a, acts_b = _collect(model_a, Xa), _collect(model_b, Xb)
    if [a.shape for a in acts_a] != [b.shape for b in acts_b]:
        raise ValueError("model_a and model_b must have the same hidden widths")
    for nm, acts in (("model_a", acts_a), ("model_b", acts_b)):
        for ell, h in enumerate(acts):
            if not np.all(np.isfinite(h)):
                raise ValueError(f"the hidden activations of {nm} (layer {ell + 1}) on X are not finite: "
                                 f"X is too large for the model's dtype")
    return [activation_matching(a, b, n_random=n_random, seed=seed + ell)
            for ell, (a, b) in enumerate(zip(acts_a, acts_b))]


def _to_standard_mlp(model: MLP) -> MLP:
    """A copy of ``model`` with every :class:`AsymmetricLinear` replaced by an ``nn.Linear``
    holding its effective weight ``F + D ⊙ W`` (same function; norms and activation kept)."""
    new = copy.deepcopy(model)
    for ell, lay in enumerate(model.layers):
        if isinstance(lay, AsymmetricLinear):
            lin = nn.Linear(lay.in_features, lay.out_features, bias=lay.bias is not None)
            with torch.no_grad():
                lin.weight.copy_(lay.effective_weight())
                if lay.bias is not None:
                    lin.bias.copy_(lay.bias)
            new.layers[ell] = lin
        elif not isinstance(lay, nn.Linear):
            raise TypeError(f"layer {ell} is {type(lay).__name__}; expected nn.Linear or AsymmetricLinear")
    new.kind = "standard"
    return new


@torch.no_grad()
def _permute_mlp(model: MLP, perms) -> MLP:
    """Permute the hidden units of ``model`` (function-preserving, T-S1).

    Layer ``ℓ`` (``ℓ = 1…L−1``) with permutation ``p = perms[ℓ−1]`` gets new unit ``i`` = old unit
    ``p[i]``: rows of ``linear_ℓ`` weight/bias, LayerNorm gain/bias, and columns of ``linear_{ℓ+1}``.
    Asymmetric layers are first converted to standard ones via :func:`to_standard` (their fixed
    ``F``/``D`` would not move with the permutation), so the result is always a *standard* model.

    Parameters
    ----------
    model : MLP
    perms : sequence of int arrays
        One permutation per hidden layer (e.g. ``[r.perm for r in activation_match(a, b, X)]``).
    """
    new = _to_standard_mlp(model)
    n_hidden = len(new.layers) - 1
    if not isinstance(perms, (list, tuple)) or len(perms) != n_hidden:
        raise ValueError(f"perms must be a list of {n_hidden} permutations (one per hidden layer), "
                         f"got {type(perms).__name__} of length {len(perms) if hasattr(perms, '__len__') else '?'}")
    for ell, p in enumerate(perms):
        lay, nxt, norm = new.layers[ell], new.layers[ell + 1], new.norms[ell]
        p = torch.as_tensor(check_permutation(p, lay.out_features, f"perms[{ell}]"))
        lay.weight.copy_(lay.weight[p])
        if lay.bias is not None:
            lay.bias.copy_(lay.bias[p])
        if isinstance(norm, nn.LayerNorm):
            if norm.weight is not None:
                norm.weight.copy_(norm.weight[p])
            if norm.bias is not None:
                norm.bias.copy_(norm.bias[p])
        elif not isinstance(norm, nn.Identity):
            raise TypeError(f"cannot permute a {type(norm).__name__}")
        nxt.weight.copy_(nxt.weight[:, p])
    return new


@dataclass(frozen=True)
class GroupMatching:
    """Result of :func:`activation_match` / :func:`weight_match` on a generic model.

    Attributes
    ----------
    perms : dict of str -> ndarray of int64
        One permutation per group, by group name; ``perms[g][i]`` is the unit of B matched to unit ``i``
        of A. Pass the whole result to :func:`permute_model`.
    groups : tuple of PermutationGroup
        The groups the permutations act on.
    objective, objective_identity : float
        Activation matching: ``Σ_g Σ_i C_g[i, perm_g[i]]`` and ``Σ_g tr C_g`` (summed costs below).
        Weight matching: ``Σ_p ⟨θ^A_p, π(θ^B)_p⟩`` over the member parameters, at the result and at the
        identity.
    results : dict of str -> MatchingResult
        Activation matching only: per group, the cost matrix that was matched (``correlation``: the sum
        over the group's activations of Pearson correlations, or of block costs for block groups) with
        its optimal / identity / random objectives. Groups matched by the weight fallback are absent.
    method : str
        ``"activation"`` or ``"weight"``.
    weight_matched : tuple of str
        Groups without traced activations (inside a leaf module) that activation matching matched by
        weights (Git Re-Basin, the other permutations fixed).
    constant_units : dict of str -> int
        Activation matching: per group, the number of units of A constant on ``X`` (zero correlation with
        every unit, e.g. dead ReLUs) whose assignment was decided by the weights instead.
    """

    perms: dict
    groups: tuple
    objective: float
    objective_identity: float
    results: dict
    method: str
    weight_matched: tuple = ()
    constant_units: dict = field(default_factory=dict)


def _model_arg(model, name):
    check_module(model, name, nn.Module,
                 "an lmctheory.nn.MLP (from make_mlp) or any torch.nn.Module torch.fx can trace")
    return model


def _example_for(model):
    """Example input of a model whose input width is known (MLP, Sequential of linear layers)."""
    d = model_io(model)[0]
    if d is None:
        return None
    return (torch.zeros(2, d, dtype=model_dtype(model)),)


def _inputs(X, model, name="X", min_rows=2):
    """Model inputs as a tuple of tensors (floating ones in the model's dtype); numpy ``(N, d)`` accepted."""
    if isinstance(X, (torch.Tensor, tuple)) or (isinstance(X, list) and X and isinstance(X[0], torch.Tensor)):
        xs = _as_inputs(X, name)
    else:
        xs = (check_X(X, name, model=model, min_rows=min_rows),)
    dt = model_dtype(model)
    xs = tuple(x.detach().to(dt) if x.is_floating_point() else x.detach() for x in xs)
    if xs[0].ndim == 0 or xs[0].shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} samples along its first axis, got shape "
                         f"{tuple(xs[0].shape)}")
    return xs


def _same_structure(model_a, model_b):
    sa, sb = model_a.state_dict(), model_b.state_dict()
    if list(sa) != list(sb):
        raise ValueError("model_a and model_b must have the same parameters and buffers (same architecture); "
                         f"their state_dict keys differ: {sorted(set(sa) ^ set(sb))[:5]}")
    for k in sa:
        if sa[k].shape != sb[k].shape:
            raise ValueError(f"model_a and model_b must have the same shapes: {k!r} has shape "
                             f"{tuple(sa[k].shape)} in model_a and {tuple(sb[k].shape)} in model_b")


def _resolve_groups(model_a, groups, example):
    if groups is not None:
        return _check_groups(groups)
    if example is None:
        raise TypeError("groups is required for this model (or give example_input so they can be traced)")
    return permutation_groups(model_a, example)


def _pick(v, index):
    for i in index:
        v = v[i]
    return v


def _factors(value_shape, taps):
    """Row-major factorization of a tensor: list of (size, group name or None) per axis, flattened."""
    out = []
    for axis, n in enumerate(value_shape):
        fs = sorted(((t.outer, size, t.inner, g) for g, size, t in taps if t.axis == axis), key=lambda f: f[0])
        pos, row = 1, []
        for o, size, r, g in fs:
            if o % pos:
                return None
            if o // pos > 1:
                row.append((o // pos, None))
            row.append((size, g))
            pos = o * size
        if n % pos:
            return None
        if n // pos > 1:
            row.append((n // pos, None))
        out.extend(row)
    return out


def _assignment(C, n_random, rng):
    from ..alignment import MatchingResult

    n = C.shape[0]
    rows, cols = linear_sum_assignment(C, maximize=True)
    perm = np.empty(n, dtype=np.int64)
    perm[rows] = cols
    idx = np.arange(n)
    rand = np.array([C[idx, rng.permutation(n)].sum() for _ in range(n_random)])
    return MatchingResult(perm=perm, objective_optimal=float(C[idx, perm].sum()),
                          objective_identity=float(np.trace(C)), objective_random_mean=float(rand.mean()),
                          objective_random_std=float(rand.std()), correlation=C)


def _group_cost(g, tap_list, vals_a, vals_b, node_taps, perms):
    """Summed cost matrix of group ``g`` over its taps (see :func:`activation_match`)."""
    from ..alignment import activation_correlation

    C = np.zeros((g.size, g.size))
    used = 0
    for t in tap_list:
        key = (t.node, t.index)
        va = _pick(vals_a[t.node], t.index).detach().double()
        vb = _pick(vals_b[t.node], t.index).detach().double()
        others = node_taps[key]
        # align B along every already matched group on this tensor
        for h, size, th in others:
            if h != g.name and h in perms:
                vb = _index_member(vb, Member("", th.axis, th.outer, th.inner), size, torch.as_tensor(perms[h]))
        facs = _factors(va.shape, others)
        if facs is None or sum(1 for _, h in facs if h == g.name) != 1:
            continue
        a = va.reshape([s for s, _ in facs])
        b = vb.reshape([s for s, _ in facs])
        unit = next(k for k, (_, h) in enumerate(facs) if h == g.name)
        block = [k for k, (_, h) in enumerate(facs) if h is not None and h != g.name and h not in perms]
        sample = [k for k in range(len(facs)) if k != unit and k not in block]
        order = sample + [unit] + block
        S = int(np.prod([facs[k][0] for k in sample])) if sample else 1
        m = int(np.prod([facs[k][0] for k in block])) if block else 1
        if S < 2:
            continue
        A2 = a.permute(order).reshape(S, g.size * m).numpy()
        B2 = b.permute(order).reshape(S, g.size * m).numpy()
        if not (np.all(np.isfinite(A2)) and np.all(np.isfinite(B2))):
            raise ValueError(f"activations of node {t.node!r} are not finite on X")
        R = activation_correlation(A2, B2)
        if m == 1:
            C += R
        else:
            R = R.reshape(g.size, m, g.size, m)
            for i in range(g.size):
                for j in range(g.size):
                    r, c = linear_sum_assignment(R[i, :, j, :], maximize=True)
                    C[i, j] += R[i, r, j, c].sum()
        used += 1
    return C, used


def activation_match(model_a, model_b, X, groups=None, *, n_random: int = 100, seed: int = 0):
    """Activation matching of model B to model A on inputs ``X`` ([NI] F.4, docs/theory.md §10 "Alignment").

    **MLP path** (both models from :func:`~lmctheory.nn.models.make_mlp`, ``groups=None``): returns one
    :class:`lmctheory.alignment.MatchingResult` per hidden layer, each from the Pearson correlations of the
    post-activation units over the rows of ``X`` (layers matched independently, exact because permuting
    earlier layers does not change a unit's output). ``X`` : ``(N, in_dim)``, ``N ≥ 2``, validated by
    :func:`lmctheory.nn._checks.check_X`; activations in the models' dtype, correlated in float64.

    **Generic path** (any traceable model, or ``groups`` given): per group ``g`` (from
    :func:`~lmctheory.nn.groups.permutation_groups`), the cost matrix is

    ``C_g[i, j] = Σ_t corr_t(i, j)``

    summed over the group's traced activations ``t`` of the best tier (outputs of nonlinearities; else
    residual sums; else any computed tensor), where ``corr_t`` is the Pearson correlation over samples =
    every index of ``t`` except the unit (batch, tokens, every pixel of a conv channel [NI] F.4, pinned
    factors). Groups are matched one after another (heads first, then the list order); B's activations
    are first reindexed by the groups already matched, and the units of groups not yet matched that share
    the tensor form a block (a tensor carrying the group on two axes is skipped): then ``corr_t(i, j)`` is
    the optimal assignment value of the block correlation
    matrix of unit ``i`` of A and unit ``j`` of B (heads are matched as blocks: the cost of a head pair is
    the sum of correlations of its within-head units after matching them; head groups use every tier:
    attention maps, q/k/v and head outputs). ``perm_g`` solves ``max_π Σ_i C_g[i, π(i)]``
    (``linear_sum_assignment``). Groups without traced activations (inside a leaf module, e.g.
    ``nn.MultiheadAttention`` heads) are matched by weights (Git Re-Basin descent, the other permutations
    fixed) and listed in ``weight_matched``; units of A that are constant on ``X`` (zero rows of ``C_g``,
    e.g. dead ReLUs) carry no activation information and are assigned among themselves by the weight
    gain (``constant_units``).

    Parameters
    ----------
    model_a, model_b : nn.Module
        Same architecture (same state-dict names and shapes).
    X : torch.Tensor, tuple of torch.Tensor, or array_like ``(N, d)``
        Inputs (batch first, ``N ≥ 2``); floating tensors are cast to the models' dtype.
    groups : list of PermutationGroup, optional
        Default: traced from ``model_a`` on ``X``.
    n_random : int
        Random permutations for the baseline objectives of each group.
    seed : int
        Seed of the baselines (and of the weight fallback).

    Returns
    -------
    list of MatchingResult (MLP path) or GroupMatching (generic path)

    References
    ----------
    [NI] Q2 and App. F.4 (activation matching, conv pixels as samples); docs/theory.md §10, T-S1; Ainsworth et
    al. 2023 §3.1.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> a = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 2))
    >>> from lmctheory.nn.groups import permutation_groups, random_permutation, apply_permutation
    >>> g = permutation_groups(a, torch.zeros(2, 3))
    >>> b = apply_permutation(a, random_permutation(g, seed=1), g)
    >>> m = activation_match(a, b, torch.randn(50, 3))
    >>> torch.equal(permute_model(b, m)[0].weight, a[0].weight)
    True
    """
    if isinstance(model_a, MLP) and groups is None:
        if not isinstance(model_b, MLP):
            _check_mlp(model_b, "model_b")
        return _activation_match_mlp(model_a, model_b, X, n_random=n_random, seed=seed)
    _model_arg(model_a, "model_a")
    _model_arg(model_b, "model_b")
    _same_structure(model_a, model_b)
    n_random = check_int(n_random, "n_random", low=1)
    seed = check_seed(seed)
    xs = _inputs(X, model_a)
    groups = _resolve_groups(model_a, groups, xs)
    gm_a, gm_b = _trace(model_a, len(xs)), _trace(model_b, len(xs))
    if [(n.name, n.op, str(n.target)) for n in gm_a.graph.nodes] != \
            [(n.name, n.op, str(n.target)) for n in gm_b.graph.nodes]:
        raise ValueError("model_a and model_b trace to different graphs; they must have the same architecture")
    def chosen(g):  # the taps a group is matched on: best tier; every tier for heads
        best = min((t.tier for t in g.taps), default=None)
        return [t for t in g.taps if t.tier == best or g.kind == "heads"]

    keep = {t.node for g in groups for t in chosen(g)}  # only these activations are stored
    vals_a, vals_b = _run(gm_a, model_a, xs, keep), _run(gm_b, model_b, xs, keep)
    node_taps = {}
    for g in groups:
        for t in g.taps:
            node_taps.setdefault((t.node, t.index), [])
            if all(h != g.name or th.axis != t.axis or th.outer != t.outer for h, _, th in
                   node_taps[(t.node, t.index)]):
                node_taps[(t.node, t.index)].append((g.name, g.size, t))
    rng = np.random.default_rng(seed)
    order = [g for g in groups if g.kind == "heads"] + [g for g in groups if g.kind != "heads"]
    perms, results, fallback = {}, {}, []
    for g in order:
        taps = chosen(g)
        C, used = _group_cost(g, taps, vals_a, vals_b, node_taps, perms) if taps else (None, 0)
        if used == 0 and len(taps) < len(g.taps):
            # no usable tap in the best tier: try every tier before falling back to weights
            more = {t.node for t in g.taps} - set(vals_a)
            vals_a.update(_run(gm_a, model_a, xs, more))
            vals_b.update(_run(gm_b, model_b, xs, more))
            C, used = _group_cost(g, list(g.taps), vals_a, vals_b, node_taps, perms)
        if used == 0:
            fallback.append(g)
            continue
        res = _assignment(C, n_random, rng)
        perms[g.name], results[g.name] = res.perm, res
    wm = _WeightMatcher(model_a, model_b, groups)
    for g in groups:
        perms.setdefault(g.name, np.arange(g.size, dtype=np.int64))
    if fallback:
        wm.descend(perms, [g.name for g in fallback], rng, max_iter=100)
    tiebroken = {}
    for g in groups:
        # units constant on X (dead ReLUs, …) have zero correlation with everything: their assignment is
        # arbitrary, so it is decided by the weights (all other permutations fixed)
        r = results.get(g.name)
        if r is None:
            continue
        dead = np.flatnonzero(np.all(r.correlation == 0.0, axis=1))
        if len(dead):
            tiebroken[g.name] = len(dead)
        if len(dead) < 2:
            continue
        cols = r.perm[dead]
        G = wm.gain(g.name, perms)[np.ix_(dead, cols)]
        rows, sel = linear_sum_assignment(G, maximize=True)
        new = r.perm.copy()
        new[dead[rows]] = cols[sel]
        perms[g.name] = new
        results[g.name] = replace(r, perm=new)
    obj = sum(r.objective_optimal for r in results.values())
    obj_id = sum(r.objective_identity for r in results.values())
    return GroupMatching(perms=perms, groups=tuple(groups), objective=float(obj), objective_identity=float(obj_id),
                         results=results, method="activation", weight_matched=tuple(g.name for g in fallback),
                         constant_units=tiebroken)


class _WeightMatcher:
    """Git Re-Basin coordinate descent over any set of groups (float64 copies of the parameters)."""

    def __init__(self, model_a, model_b, groups):
        pa, pb = dict(model_a.named_parameters()), dict(model_b.named_parameters())
        self.groups = {g.name: g for g in groups}
        self.on = {}  # parameter name -> [(group name, member)]
        for g in groups:
            for m in g.members:
                if m.name in pa and pa[m.name].is_floating_point():
                    self.on.setdefault(m.name, []).append((g.name, m))
        self.A = {k: pa[k].detach().double().cpu() for k in self.on}
        self.B = {k: pb[k].detach().double().cpu() for k in self.on}

    def permuted(self, name, perms, skip=None):
        t = self.B[name]
        for gname, m in self.on[name]:
            if (gname, m) == skip or gname not in perms:
                continue
            t = _index_member(t, m, self.groups[gname].size, torch.as_tensor(perms[gname]))
        return t

    def objective(self, perms):
        return float(sum((self.A[k] * self.permuted(k, perms)).sum() for k in self.on))

    def gain(self, gname, perms):
        g = self.groups[gname]
        G = torch.zeros(g.size, g.size, dtype=torch.float64)
        for k, lst in self.on.items():
            for h, m in lst:
                if h != gname:
                    continue
                a, b = self.A[k], self.permuted(k, perms, skip=(h, m))
                shape = list(a.shape)
                view = shape[:m.axis] + [m.outer, g.size, m.inner] + shape[m.axis + 1:]
                au = a.reshape(view).movedim(m.axis + 1, 0).reshape(g.size, -1)
                bu = b.reshape(view).movedim(m.axis + 1, 0).reshape(g.size, -1)
                G += au @ bu.T
        return G.numpy()

    def descend(self, perms, names, rng, max_iter):
        obj = self.objective(perms)
        for _ in range(max_iter):
            changed = False
            for k in rng.permutation(len(names)):
                gname = names[k]
                G = self.gain(gname, perms)
                idx = np.arange(G.shape[0])
                old = G[idx, perms[gname]].sum()
                rows, cols = linear_sum_assignment(G, maximize=True)
                cand = np.empty(G.shape[0], dtype=np.int64)
                cand[rows] = cols
                if G[idx, cand].sum() > old + 1e-12 * (1.0 + abs(old)):
                    trial = dict(perms)
                    trial[gname] = cand
                    new = self.objective(trial)
                    if new > obj + 1e-12 * (1.0 + abs(obj)):  # the full objective decides (shared axes)
                        perms[gname], obj, changed = cand, new, True
            if not changed:
                break
        return obj


def weight_match(model_a, model_b, groups=None, *, example_input=None, n_restarts: int = 3,
                 max_iter: int = 100, seed: int = 0) -> GroupMatching:
    """Weight matching of any two models of one architecture (Git Re-Basin, Ainsworth et al. 2023, Alg. 1).

    Maximizes ``Σ_p ⟨θ^A_p, π(θ^B)_p⟩`` over the product of the permutation groups, the sum running over the
    *parameters* (not buffers) that are members of some group. Coordinate descent: for one group ``g`` with
    the others fixed the objective is linear in ``P_g``, ``G[i, j] = Σ_{members} ⟨A_m[unit i], B'_m[unit j]⟩``
    (``B'``: B's tensor with every other member axis permuted; units of block members are whole blocks,
    e.g. a head's ``dh`` rows), solved by ``linear_sum_assignment``; a step is kept only if the full objective
    improves by more than ``1e-12·(1 + |obj|)``. Restart 0 starts at the identity, restarts ``1…`` at
    random elements; groups are visited in a random order each sweep; the best objective is returned.
    Float64 arithmetic on copies of the parameters.

    Parameters
    ----------
    model_a, model_b : nn.Module
        Same architecture.
    groups : list of PermutationGroup, optional
        Default: traced from ``model_a`` on ``example_input`` (needed unless the model's input width is
        known: :class:`~lmctheory.nn.models.MLP`, ``nn.Sequential`` starting with a linear layer).
    example_input : torch.Tensor or tuple, optional
    n_restarts : int
        ``≥ 1`` descents.
    max_iter : int
        Sweeps per descent.
    seed : int

    Returns
    -------
    GroupMatching
        ``objective`` / ``objective_identity``: the inner product at the result / at the identity.

    References
    ----------
    Ainsworth et al. 2023, *Git Re-Basin* §3.2 (weight matching); docs/theory.md §10 "Alignment".

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> a = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 2))
    >>> from lmctheory.nn.groups import permutation_groups, random_permutation, apply_permutation
    >>> g = permutation_groups(a, torch.zeros(2, 3))
    >>> b = apply_permutation(a, random_permutation(g, seed=1), g)
    >>> torch.equal(permute_model(b, weight_match(a, b))[0].weight, a[0].weight)
    True
    """
    _model_arg(model_a, "model_a")
    _model_arg(model_b, "model_b")
    _same_structure(model_a, model_b)
    n_restarts = check_int(n_restarts, "n_restarts", low=1)
    max_iter = check_int(max_iter, "max_iter", low=1)
    seed = check_seed(seed)
    example = _as_inputs(example_input) if example_input is not None else _example_for(model_a)
    groups = _resolve_groups(model_a, groups, example)
    wm = _WeightMatcher(model_a, model_b, groups)
    rng = np.random.default_rng(seed)
    names = [g.name for g in groups]
    ident = {g.name: np.arange(g.size, dtype=np.int64) for g in groups}
    best, best_obj = None, -np.inf
    for r in range(n_restarts):
        perms = dict(ident) if r == 0 else {g.name: rng.permutation(g.size).astype(np.int64) for g in groups}
        obj = wm.descend(perms, names, rng, max_iter) if names else wm.objective(perms)
        if obj > best_obj:
            best, best_obj = perms, obj
    return GroupMatching(perms=best, groups=tuple(groups), objective=float(best_obj),
                         objective_identity=wm.objective(ident), results={}, method="weight")


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

    :class:`~lmctheory.nn.models.MLP`: every :class:`AsymmetricLinear` becomes an ``nn.Linear`` (norms and
    activation kept, ``kind`` set to ``"standard"``; any other layer type is a ``TypeError``). Any other
    module: every asymmetric submodule (duck-typed by :func:`lmctheory.nn.groups.is_asymmetric_module`:
    ``F``/``D`` buffers, ``effective_weight()``, 2-D/3-D/4-D weight) becomes an ``nn.Linear`` /
    ``nn.Conv1d`` / ``nn.Conv2d`` with its stride/padding/dilation (zero padding, groups 1); the original
    is untouched.

    Examples
    --------
    >>> from torch import nn
    >>> from lmctheory.nn import AsymmetricLinear
    >>> net = nn.Sequential(AsymmetricLinear(3, 4, "syre"), nn.ReLU(), nn.Linear(4, 1))
    >>> type(to_standard(net)[0]).__name__
    'Linear'
    """
    if isinstance(model, MLP):
        return _to_standard_mlp(model)
    check_module(model, "model", nn.Module, "an lmctheory.nn.MLP or a torch.nn.Module")
    if is_asymmetric_module(model):
        return _std_module(model)
    new = copy.deepcopy(model)
    for name, m in list(new.named_modules()):
        if name and is_asymmetric_module(m):
            parent_name, _, child = name.rpartition(".")
            parent = new.get_submodule(parent_name) if parent_name else new
            setattr(parent, child, _std_module(m))
    return new


def permute_model(model, perms, groups=None):
    """Permute the units of ``model`` (function-preserving, T-S1); returns a new model.

    **MLP path** (:class:`~lmctheory.nn.models.MLP` with a *list* of ``L − 1`` permutations and
    ``groups=None``): layer ``ℓ`` with ``p = perms[ℓ−1]`` gets new unit ``i`` = old unit ``p[i]`` (rows of
    ``linear_ℓ``, LayerNorm gain/bias, columns of ``linear_{ℓ+1}``); asymmetric layers are first converted
    by :func:`to_standard`, so the result is a *standard* model (unchanged behaviour).

    **Generic path** (anything else): ``perms`` is a :class:`GroupMatching`, a dict ``{group name: perm}``
    (values may be :class:`~lmctheory.alignment.MatchingResult`), or a list aligned with ``groups``; every
    member (parameters and buffers: running statistics, asymmetric ``F``/``D``) of every group is reindexed
    by :func:`lmctheory.nn.groups.apply_permutation` on a deep copy. ``groups`` defaults to the result's
    own groups, or is traced for models with a known input width.

    Parameters
    ----------
    model : nn.Module
    perms : list, dict or GroupMatching
    groups : list of PermutationGroup, optional

    Examples
    --------
    >>> import numpy as np
    >>> from lmctheory.nn import make_mlp
    >>> m = make_mlp(3, 4, 2, n_layers=2, seed=0)
    >>> p = permute_model(m, [np.array([1, 0, 3, 2])])
    >>> bool((p.layers[0].weight[0] == m.layers[0].weight[1]).all())
    True
    """
    if isinstance(model, MLP) and groups is None and isinstance(perms, (list, tuple)):
        return _permute_mlp(model, perms)
    check_module(model, "model", nn.Module, "an lmctheory.nn.MLP or a torch.nn.Module")
    if groups is None:
        if isinstance(perms, GroupMatching):
            groups = list(perms.groups)
        else:
            ex = _example_for(model)
            if ex is None:
                raise TypeError("groups is required to permute this model (the GroupMatching of "
                                "activation_match/weight_match carries them), got groups=None and perms of type "
                                f"{describe(perms)}")
            groups = permutation_groups(model, ex)
    groups = _check_groups(groups)
    return apply_permutation(model, normalize_perms(perms, groups), groups)
