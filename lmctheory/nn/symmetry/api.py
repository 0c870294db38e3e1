"""Public functions of the symmetry engine: groups, attention sites, group elements, the self-check."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..._validation import check_permutation, check_scalar, check_seed
from .._checks import check_module, describe
from .._inputs import as_model_inputs, eval_mode, flatten_output
from .capture import CapturedGraph, capture
from .tracer import Analysis
from .types import AttentionSite, GroupElement, Member, PermutationGroup, SymmetryCheckError

__all__ = ["SymmetryAnalysis", "analyze", "permutation_groups", "attention_sites", "random_permutation",
           "normalize_perms", "apply_permutation", "permute_member", "check_permutation_invariance",
           "is_asymmetric_module", "check_groups"]


def is_asymmetric_module(m) -> bool:
    """Duck type of an asymmetric layer ``W̃ = F + D ⊙ W``: ``F``/``D`` tensors, ``effective_weight()``,
    and a 2-D (linear) or 3-/4-D (conv) ``weight``."""
    return (isinstance(m, nn.Module) and isinstance(getattr(m, "F", None), torch.Tensor)
            and isinstance(getattr(m, "D", None), torch.Tensor) and callable(getattr(m, "effective_weight", None))
            and isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.ndim in (2, 3, 4))


@dataclass(frozen=True)
class SymmetryAnalysis:
    """Everything the engine reads off one captured graph.

    Attributes
    ----------
    groups : list of PermutationGroup
    attention : list of AttentionSite
    graph : CapturedGraph
        The captured graph (re-run it with :meth:`CapturedGraph.run` to read the activations the
        groups' taps name).
    """

    groups: list
    attention: list
    graph: CapturedGraph


def analyze(model: nn.Module, example_input) -> SymmetryAnalysis:
    """Capture ``model`` and read off its permutation groups and attention sites.

    Parameters
    ----------
    model : nn.Module
    example_input : tensor, tuple or dict
        As :func:`lmctheory.nn._inputs.as_model_inputs` accepts (positional tensors, keyword inputs such
        as ``{"input_ids": ids}``, integer token ids); only shapes matter (a batch of 2 is enough).

    Returns
    -------
    SymmetryAnalysis

    References
    ----------
    docs/theory.md#t-s1 (T-S1) (permutation symmetries of hidden units, channels and heads).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> a = analyze(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)), torch.randn(2, 4))
    >>> [g.name for g in a.groups], a.attention
    (['0.weight:0'], [])
    """
    from .sites import attention_sites_of

    check_module(model)
    cg = capture(model, example_input)
    sd = {}
    for name, t in model.state_dict(keep_vars=True).items():
        if name in cg.aliases:
            sd[name] = t
    an = Analysis(cg, sd)
    groups = an.groups()
    return SymmetryAnalysis(groups, attention_sites_of(an), cg)


def permutation_groups(model: nn.Module, example_input) -> list[PermutationGroup]:
    """The independent permutation symmetry groups of ``model`` (:mod:`lmctheory.nn.symmetry`).

    Captures ``model`` on ``example_input`` as an ATen graph (``torch.export``, non-strict, eval mode)
    and merges the permutable axes of every tensor with a union–find; classes touching an input or an
    output, or mixed by an operation, are pinned. Each returned group ``g`` acts by
    ``T ← T[…, perm, …]`` along every member axis (viewed as ``(outer, g.size, inner)``), and every
    element of the product of the groups leaves the function unchanged (T-S1; checked by
    :func:`check_permutation_invariance`).

    Parameters
    ----------
    model : nn.Module
        Any module ``torch.export`` can capture: torchvision, timm and Hugging Face models included.
    example_input : tensor, tuple or dict
        Positional input(s), or keyword inputs (``{"input_ids": ids}``); integer token ids allowed. Only
        shapes matter (a batch of 2 is enough).

    Returns
    -------
    list of PermutationGroup
        In order of first appearance in the graph.

    Raises
    ------
    UnsupportedOperationError
        (a ``NotImplementedError``) for an operation without handler, naming the ATen op and its module
        path, or a model ``torch.export`` cannot capture.
    TypeError, ValueError
        For a non-module ``model``, a bad ``example_input``, or a model/input on the ``meta`` device.

    References
    ----------
    docs/theory.md#t-s1 (T-S1) (permutation symmetry of hidden units) and §10 "Alignment"; Ainsworth et al. 2023
    (*Git Re-Basin*, §3 permutation groups of ResNets/transformers).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> groups = permutation_groups(net, torch.randn(2, 4))
    >>> [(g.name, g.size, g.kind, [(m.name, m.axis) for m in g.members]) for g in groups]
    [('0.weight:0', 8, 'units', [('0.weight', 0), ('0.bias', 0), ('2.weight', 1)])]
    """
    return analyze(model, example_input).groups


def attention_sites(model: nn.Module, example_input) -> list[AttentionSite]:
    """The attention operations of ``model``: q/k/v/o projections, head counts, rotary flag, groups.

    Parameters
    ----------
    model : nn.Module
    example_input : tensor, tuple or dict
        As for :func:`permutation_groups`.

    Returns
    -------
    list of AttentionSite
        One per attention product (SDPA call or ``softmax(q @ kᵀ) @ v``), in graph order.

    References
    ----------
    docs/theory.md#t-s1 (T-S1); [GLMC] (per-head q/k and v/o maps; rotary embeddings restrict them).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> class Attn(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.qkv, self.o = nn.Linear(8, 24), nn.Linear(8, 8)
    ...     def forward(self, x):
    ...         B, T, _ = x.shape
    ...         q, k, v = self.qkv(x).view(B, T, 3, 2, 4).permute(2, 0, 3, 1, 4).unbind(0)
    ...         y = nn.functional.scaled_dot_product_attention(q, k, v)
    ...         return x + self.o(y.transpose(1, 2).reshape(B, T, 8))
    >>> s, = attention_sites(Attn(), torch.randn(2, 5, 8))
    >>> s.q.weight, s.q.outer, s.k.index, s.v.rows, s.o.weight
    ('qkv.weight', 3, 1, ((16, 17, 18, 19), (20, 21, 22, 23)), 'o.weight')
    >>> s.n_heads, s.n_kv_heads, s.head_dim, s.rotary
    (2, 2, 4, False)
    """
    return analyze(model, example_input).attention


def check_groups(groups, name: str = "groups") -> list:
    """``groups`` as a list of :class:`PermutationGroup` (``TypeError`` otherwise); a :class:`GroupElement`'s
    ``.groups`` are accepted too."""
    if isinstance(groups, GroupElement):
        groups = groups.groups
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, PermutationGroup) for g in groups):
        raise TypeError(f"{name} must be a list of PermutationGroup (from permutation_groups), got "
                        f"{describe(groups)}")
    return list(groups)


def _non_identity(rng, n):
    p = rng.permutation(n)
    while n > 1 and np.array_equal(p, np.arange(n)):
        p = rng.permutation(n)
    return p.astype(np.int64)


def random_permutation(groups, seed: int = 0) -> GroupElement:
    """A uniformly random element of the product of ``groups``.

    Parameters
    ----------
    groups : list of PermutationGroup
    seed : int
        ``numpy.random.default_rng(seed)``; group ``k`` gets ``rng.permutation(size_k)`` in list order.

    Returns
    -------
    GroupElement
        A read-only ``{group name: int64 perm}`` mapping that carries ``.groups``; accepted by
        :func:`apply_permutation` and ``lmctheory.nn.permute_model`` without a separate ``groups``.

    References
    ----------
    docs/theory.md#t-s1 (T-S1).

    Examples
    --------
    >>> from torch import nn
    >>> import torch
    >>> g = permutation_groups(nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)), torch.zeros(2, 3))
    >>> e = random_permutation(g, seed=0)
    >>> sorted(e["0.weight:0"].tolist()), e.groups == g
    ([0, 1, 2, 3, 4], True)
    """
    groups = check_groups(groups)
    rng = np.random.default_rng(check_seed(seed))
    return GroupElement({g.name: rng.permutation(g.size).astype(np.int64) for g in groups}, groups)


def normalize_perms(perms, groups, name="perms") -> dict:
    """``perms`` as ``{group name: int64 perm}``.

    Accepts a :class:`GroupElement`, a mapping by group name (values: int arrays or objects with a
    ``perm`` attribute, e.g. :class:`lmctheory.alignment.MatchingResult`), an object with a ``perms``
    dict, or a list aligned with ``groups``. Groups not named keep the identity.

    References
    ----------
    docs/theory.md#t-s1 (T-S1).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> g = permutation_groups(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)), torch.zeros(2, 2))
    >>> normalize_perms([[2, 0, 1]], g)
    {'0.weight:0': array([2, 0, 1])}
    """
    groups = check_groups(groups)
    if hasattr(perms, "perms") and isinstance(perms.perms, dict):
        perms = perms.perms
    if isinstance(perms, (list, tuple)):
        if len(perms) != len(groups):
            raise ValueError(f"{name} must hold one permutation per group ({len(groups)}), got {len(perms)}")
        perms = {g.name: p for g, p in zip(groups, perms)}
    if not isinstance(perms, dict):
        from collections.abc import Mapping
        if not isinstance(perms, Mapping):
            raise TypeError(f"{name} must be a dict {{group name: perm}} or a list aligned with groups, got "
                            f"{describe(perms)}")
        perms = dict(perms)
    by = {g.name: g for g in groups}
    out = {}
    for k, p in perms.items():
        if k not in by:
            raise ValueError(f"{name} names group {k!r}, which is not among the groups "
                             f"({', '.join(list(by)[:8])}{', …' if len(by) > 8 else ''})")
        p = getattr(p, "perm", p)
        out[k] = check_permutation(p, by[k].size, f"{name}[{k!r}]")
    return out


def permute_member(t: torch.Tensor, m: Member, size: int, perm) -> torch.Tensor:
    """``t`` with the middle index of axis ``m.axis`` (viewed as ``(outer, size, inner)``) reindexed by ``perm``."""
    ax = m.axis
    if t.shape[ax] != m.outer * size * m.inner:
        raise ValueError(f"member {m.name!r} axis {ax} has length {t.shape[ax]}, expected "
                         f"{m.outer}·{size}·{m.inner}")
    perm = torch.as_tensor(np.asarray(perm), dtype=torch.long, device=t.device)
    shape = list(t.shape)
    v = t.reshape(shape[:ax] + [m.outer, size, m.inner] + shape[ax + 1:])
    v = v.index_select(ax + 1, perm)
    return v.reshape(shape)


@torch.no_grad()
def _permute_in_place(model, perms, groups):
    sd = model.state_dict(keep_vars=True)
    for g in groups:
        if g.name not in perms:
            continue
        p = perms[g.name]
        done = set()
        for m in g.members:
            if m.name not in sd:
                raise ValueError(f"group {g.name!r} member {m.name!r} is not a parameter or buffer of the model")
            t = sd[m.name]
            key = (id(t), m.axis, m.outer, m.inner)
            if key in done:  # the same tensor under another name (tied weights): permute it once
                continue
            done.add(key)
            t.data = permute_member(t.data, m, g.size, p).clone()


@torch.no_grad()
def apply_permutation(model: nn.Module, perms, groups=None) -> nn.Module:
    """A new model (deep copy) with every member of every group reindexed by its permutation.

    Parameters and buffers (running statistics, asymmetric ``F``/``D``) are all moved, so the result
    computes the same function (T-S1). A tensor shared under several names (tied weights) is permuted
    once, and stays shared in the copy. The original is untouched.

    Parameters
    ----------
    model : nn.Module
    perms : GroupElement, dict or list
        See :func:`normalize_perms`.
    groups : list of PermutationGroup, optional
        Default: ``perms.groups`` (a :class:`GroupElement`).

    Returns
    -------
    nn.Module

    References
    ----------
    docs/theory.md#t-s1 (T-S1).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> x = torch.randn(5, 3)
    >>> new = apply_permutation(net, random_permutation(permutation_groups(net, x), seed=0))
    >>> bool(torch.allclose(new(x), net(x), atol=1e-6)), bool(torch.equal(new[0].weight, net[0].weight))
    (True, False)
    """
    check_module(model)
    if groups is None:
        groups = getattr(perms, "groups", None)
        if groups is None:
            raise TypeError("apply_permutation needs groups (or a GroupElement from random_permutation, which "
                            "carries them)")
    groups = check_groups(groups)
    perms = normalize_perms(perms, groups)
    new = copy.deepcopy(model)
    _permute_in_place(new, perms, groups)
    return new


def _outputs(model, inputs):
    with eval_mode(model):
        return [t.detach() for t in flatten_output(model(*inputs.args, **inputs.kwargs))]


def _max_diff(a, b):
    return max((float((x.double() - y.double()).abs().max()) if x.numel() else 0.0 for x, y in zip(a, b)),
               default=0.0)


@torch.no_grad()
def check_permutation_invariance(model: nn.Module, example_input, groups=None, *, seed: int = 0,
                                 atol: float | None = None, rtol: float = 0.0, n_random: int = 3,
                                 each_group: bool = True) -> float:
    """Self-check: apply several group elements and compare the outputs (docs/theory.md#t-s1 (T-S1)).

    Elements tested: every group alone with a random non-identity permutation (``each_group``), then
    ``n_random`` elements permuting all groups at once (non-identity on every group), seeds from
    ``seed``. A wrong group (even of size 2) is therefore always moved at least once.

    Tolerance: unless ``atol`` is given, ``atol = 4·r + 4·ε·s``, where ``s = max|f(x)|``, ``ε`` the
    output dtype's machine epsilon and ``r = max|f(x) − f₆₄(x)|`` the rounding error of the actual
    computation, measured against a float64 copy of the model (a float64 model: ``atol = 1e4·ε₆₄·s``;
    a model that cannot run in float64: ``atol = 64·ε·s``). In bfloat16 this is a few percent of the
    output scale, where a fixed multiple of ``ε`` would let changes of the order of the outputs pass.
    The check passes if ``max|f(x) − f_π(x)| ≤ atol + rtol·s`` for every element.

    Parameters
    ----------
    model : nn.Module
    example_input : tensor, tuple or dict
        As for :func:`permutation_groups`.
    groups : list of PermutationGroup, optional
        Default: :func:`permutation_groups` ``(model, example_input)``.
    seed : int
    atol : float, optional
    rtol : float
    n_random : int
        Number of joint elements (≥ 0).
    each_group : bool
        Also test every group alone.

    Returns
    -------
    float
        The largest ``max |f(x) − f_π(x)|`` over all tested elements (eval mode).

    Raises
    ------
    SymmetryCheckError
        If some element changes the output beyond the tolerance; the message names the group (the groups
        are not symmetries: a bug, or an op whose semantics the engine got wrong).

    References
    ----------
    docs/theory.md#t-s1 (T-S1).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 2))
    >>> check_permutation_invariance(net, torch.randn(5, 4)) < 1e-5
    True
    """
    check_module(model)
    inputs = as_model_inputs(example_input, "example_input", model=model)
    groups = permutation_groups(model, example_input) if groups is None else check_groups(groups)
    rtol = check_scalar(rtol, "rtol", low=0.0)
    n_random = int(check_scalar(n_random, "n_random", low=0))
    seed = check_seed(seed)
    ref = _outputs(model, inputs)
    if not ref:
        raise SymmetryCheckError("the model's output holds no tensor to compare")
    scale = max(float(x.double().abs().max()) if x.numel() else 0.0 for x in ref)
    if atol is None:
        fl = [x for x in ref if x.is_floating_point()]
        eps = max((torch.finfo(x.dtype).eps for x in fl), default=torch.finfo(torch.float64).eps)
        if all(x.dtype == torch.float64 for x in fl):
            atol = 1e4 * eps * max(scale, 1e-300)
        else:
            try:
                m64 = copy.deepcopy(model).double()
                r = _max_diff(ref, _outputs(m64, inputs.to(dtype=torch.float64)))
                del m64
                atol = 4 * r + 4 * eps * scale
            except Exception:  # a model that cannot run in float64: a bound from the dtype's rounding alone
                atol = 64 * eps * scale
    atol = check_scalar(atol, "atol", low=0.0)
    tol = atol + rtol * scale
    work = copy.deepcopy(model)
    rng = np.random.default_rng(seed)
    elements = []
    if each_group:
        elements += [(f"group {g.name!r} (size {g.size}, {g.kind}) alone", {g.name: _non_identity(rng, g.size)})
                     for g in groups if g.size > 1]
    for k in range(n_random):
        elements.append((f"a random element of all {len(groups)} groups (#{k})",
                         {g.name: _non_identity(rng, g.size) for g in groups}))
    worst = 0.0
    for what, perm in elements:
        _permute_in_place(work, perm, groups)
        out = _outputs(work, inputs)
        _permute_in_place(work, {k: np.argsort(v) for k, v in perm.items()}, groups)
        if len(out) != len(ref):
            raise SymmetryCheckError(f"{what} changed the output structure")
        d = _max_diff(ref, out)
        if not d <= tol:
            raise SymmetryCheckError(f"{what} changed the output by {d:.3g} > tolerance {tol:.3g}: the groups are "
                                     "not symmetries")
        worst = max(worst, d)
    return worst
