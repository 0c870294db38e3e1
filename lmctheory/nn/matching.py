"""Activation matching and hidden-unit permutations of torch MLPs (THEORY.md §10, T-S1; [NI] Q1–Q2, F.4).

Activations are the post-activation hidden units ``h_ℓ`` of :class:`~lmctheory.nn.models.MLP`
(one ``(N, width)`` array per hidden layer). Matching is done layer by layer on the two models'
activations with :func:`lmctheory.alignment.activation_matching` (Pearson correlations,
``linear_sum_assignment``); ``perm[i]`` is the unit of model B matched to unit ``i`` of model A, so
the aligned B has unit ``i`` equal to old unit ``perm[i]``.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .._validation import check_int, check_permutation, check_seed
from ._checks import check_module, check_X, model_dtype
from .layers import AsymmetricLinear
from .models import MLP

__all__ = ["collect_activations", "activation_match", "permute_model", "to_standard"]


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


def activation_match(model_a: MLP, model_b: MLP, X, *, n_random: int = 100, seed: int = 0) -> list:
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


def to_standard(model: MLP) -> MLP:
    """A copy of ``model`` with every :class:`AsymmetricLinear` replaced by an ``nn.Linear``
    holding its effective weight ``F + D ⊙ W`` (same function; norms and activation kept)."""
    _check_mlp(model)
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
def permute_model(model: MLP, perms) -> MLP:
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
    _check_mlp(model)
    new = to_standard(model)
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
