"""Alignment of bias-free ReLU MLPs (docs/theory.md §10): thin wrappers around :mod:`lmctheory.alignment`.

Weight matching of these models is :func:`lmctheory.nn.matching.weight_match` (the package's one engine),
applied by :func:`lmctheory.nn.matching.permute_model`. This module adds :func:`permute_width_model`,
:func:`procrustes_align` (orthogonal Procrustes of layer outputs) and :func:`cka_matrix` (linear CKA),
for the :class:`~lmctheory.nn.biasfree.WidthMLP` models of the [LEWC] experiments.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from ..alignment import linear_cka, orthogonal_procrustes, permute_mlp
from ._checks import check_layer_indices
from .biasfree import WidthMLP, check_width_model, check_width_pair, check_width_X, hidden_outputs_unchecked

__all__ = ["permute_width_model", "ProcrustesResult", "procrustes_align", "cka_matrix"]


def permute_width_model(model: WidthMLP, perms) -> WidthMLP:
    """New model with hidden units permuted (T-S1): ``W_ℓ ← W_ℓ[perm_ℓ][:, perm_{ℓ−1}]``, BatchNorm
    parameters and statistics of layer ``ℓ`` reindexed by ``perm_ℓ``; the function is unchanged.

    ``perms`` follows :mod:`lmctheory.alignment` (``perm[i]`` = old unit that becomes unit ``i``).
    """
    check_width_model(model)
    weights = [lin.weight.detach().cpu().double().numpy() for lin in model.layers]
    newW, _ = permute_mlp(weights, None, perms)
    out = copy.deepcopy(model)
    dtype = model.layers[0].weight.dtype
    with torch.no_grad():
        for lin, w in zip(out.layers, newW):
            lin.weight.copy_(torch.as_tensor(w, dtype=dtype))
        if model.batchnorm:
            for bn, p in zip(out.norms, perms):
                idx = torch.as_tensor(np.asarray(p, dtype=np.int64))
                for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
                    t.copy_(t[idx])
    return out


@dataclass(frozen=True)
class ProcrustesResult:
    """Orthogonal Procrustes alignment of ``model_b``'s layer outputs onto ``model_a``'s.

    Attributes
    ----------
    rotations : list of ndarray (n_ℓ, n_ℓ)
        ``O_ℓ = argmin_{OᵀO=I} ‖Z_ℓ^b O − Z_ℓ^a‖_F`` for each requested layer.
    layers : list of int
        Layer indices ``ℓ`` (1-based; ``L`` = logits).
    residual_before, residual_after : ndarray
        ``‖Z^b − Z^a‖_F / ‖Z^a‖_F`` and ``‖Z^b O − Z^a‖_F / ‖Z^a‖_F`` per layer.
    """

    rotations: list
    layers: list
    residual_before: np.ndarray
    residual_after: np.ndarray


def procrustes_align(model_a: WidthMLP, model_b: WidthMLP, X, layers=None) -> ProcrustesResult:
    """Orthogonal Procrustes (``O = UVᵀ`` from the SVD of ``Z_bᵀZ_a``, :func:`lmctheory.alignment.orthogonal_procrustes`)
    between the two models' outputs of each layer on ``X`` (docs/theory.md §10 "Alignment").

    ``layers``: 1-based layer indices in ``[1, L]`` (``L`` = logits): ``None`` (default) for all layers,
    a single int for that one layer, or a non-empty sequence of ints (an empty one raises ``ValueError``).
    ``X``: tensor or array_like ``(N, d)``, validated as in :func:`hidden_outputs`. Orthogonal maps are not
    symmetries of a ReLU layer, so this measures how far the representations are a rotation apart.
    """
    check_width_pair(model_a, model_b)
    layers = check_layer_indices(layers, "layers", model_a.n_layers)
    za = hidden_outputs_unchecked(model_a, check_width_X(X, model_a))
    zb = hidden_outputs_unchecked(model_b, check_width_X(X, model_b))
    rots, before, after = [], [], []
    for ell in layers:
        A, B = za[ell - 1], zb[ell - 1]
        O = orthogonal_procrustes(B, A)
        na = max(np.linalg.norm(A), np.finfo(float).tiny)
        rots.append(O)
        before.append(np.linalg.norm(B - A) / na)
        after.append(np.linalg.norm(B @ O - A) / na)
    return ProcrustesResult(rotations=rots, layers=layers, residual_before=np.array(before),
                            residual_after=np.array(after))


def cka_matrix(model_a: WidthMLP, model_b: WidthMLP, X) -> np.ndarray:
    """Linear CKA between every layer of ``model_a`` and every layer of ``model_b`` on ``X``:
    ``K[i, j] = CKA(z_{i+1}^a, z_{j+1}^b)`` (:func:`lmctheory.alignment.linear_cka`; docs/theory.md §10), shape ``(L, L)``.
    A layer that is constant over ``X`` (e.g. all units dead) gets NaN. ``X``: tensor or array_like ``(N, d)``
    with ``N ≥ 2`` (CKA centers over the rows), validated as in :func:`hidden_outputs`."""
    check_width_model(model_a, "model_a")
    check_width_model(model_b, "model_b")
    if model_a.dims[0] != model_b.dims[0]:
        raise ValueError(f"model_a and model_b must have the same input width, got {model_a.dims[0]} and "
                         f"{model_b.dims[0]}")
    Xa = check_width_X(X, model_a, min_rows=2)
    Xb = check_width_X(X, model_b, min_rows=2)
    za, zb = hidden_outputs_unchecked(model_a, Xa), hidden_outputs_unchecked(model_b, Xb)
    K = np.full((len(za), len(zb)), np.nan)
    for i, A in enumerate(za):
        for j, B in enumerate(zb):
            try:
                K[i, j] = linear_cka(A, B)
            except ValueError:
                pass
    return K
