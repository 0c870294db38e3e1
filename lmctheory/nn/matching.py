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
from .layers import AsymmetricLinear
from .models import MLP

__all__ = ["collect_activations", "activation_match", "permute_model", "to_standard"]


def _check_mlp(model, name="model"):
    if not isinstance(model, MLP):
        raise TypeError(f"{name} must be an lmctheory.nn.MLP (from make_mlp), got {type(model).__name__}")


@torch.no_grad()
def collect_activations(model: MLP, X) -> list[np.ndarray]:
    """Post-activation hidden units ``[h_1, …, h_{L−1}]``, each float64 ``(N, width)``.

    ``X`` : torch tensor or array ``(N, in_dim)``.
    """
    _check_mlp(model)
    X = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X, dtype=torch.float32)
    if X.ndim != 2 or X.shape[1] != model.layers[0].in_features:
        raise ValueError(f"X must have shape (N, {model.layers[0].in_features}), got {tuple(X.shape)}")
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
    """
    from ..alignment import activation_matching

    _check_mlp(model_a, "model_a")
    _check_mlp(model_b, "model_b")
    acts_a, acts_b = collect_activations(model_a, X), collect_activations(model_b, X)
    if [a.shape for a in acts_a] != [b.shape for b in acts_b]:
        raise ValueError("model_a and model_b must have the same hidden widths")
    n_random = check_int(n_random, "n_random", low=1)
    seed = check_seed(seed)
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
