"""Width expansion and permutation-free merging of bias-free ReLU MLPs ([LEWC], THEORY.md §9, §10).

The [LEWC] setting: a bias-free ReLU MLP ``z_0 = x``, ``z_ℓ = σ(W_ℓ z_{ℓ−1})`` (``ℓ < L``), logits
``z_L = W_L z_{L−1}``, widened by a multiplier; two copies trained from different seeds with strong
(3e-3) or weak (1e-4) weight decay are merged **without permutation**,
``θ_λ = λθ_a + (1−λ)θ_b`` (``λ`` weights model ``a``, as in [LEWC]).

This module is the torch side of :mod:`lmctheory.width` (the numpy formulas of §9):

- :func:`make_width_mlp`, :class:`WidthMLP` — the architecture (optional BatchNorm after each hidden
  linear layer, [LEWC] recomputes its statistics after merging: :func:`recompute_batchnorm`);
- :func:`to_weight_list` / :func:`from_weight_list` — the ``[W_1, …, W_L]`` form of :mod:`lmctheory.width`;
- :func:`train_width_model` — strong / weak weight decay through :func:`lmctheory.nn.training.train`;
- :func:`merge_models` — ``λθ_a + (1−λ)θ_b`` without permutation;
- :func:`layer_measurements` — per-layer weak additivity (Def. 5.1), reciprocal orthogonality
  (Def. 5.2), LEWC cosine and the T-5.3 error recursion on a dataset;
- alignment wrappers (:func:`weight_match_models`, :func:`permute_width_model`,
  :func:`procrustes_align`, :func:`cka_matrix`) around :mod:`lmctheory.alignment`;
- :func:`width_pair_job` — one cached sweep job (train a pair, merge, measure) shared by the
  ``paper_checks`` claims L1–L5.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .._validation import (
    check_choice,
    check_int,
    check_scalar,
    check_seed,
    check_weight_list,
)
from ._checks import check_layer_indices, check_module, check_X

__all__ = [
    "WEIGHT_DECAY",
    "WidthMLP",
    "make_width_mlp",
    "to_weight_list",
    "from_weight_list",
    "train_width_model",
    "merge_models",
    "recompute_batchnorm",
    "hidden_outputs",
    "LayerMeasurements",
    "layer_measurements",
    "weight_match_models",
    "permute_width_model",
    "ProcrustesResult",
    "procrustes_align",
    "cka_matrix",
    "width_pair_job",
]

#: the two weight-decay strengths of [LEWC] (strong: low-rank weights and LEWC; weak: the ablation)
WEIGHT_DECAY = {"strong": 3e-3, "weak": 1e-4}


# ---------------------------------------------------------------------------------------------
# architecture
class WidthMLP(nn.Module):
    """Bias-free ReLU MLP ``z_ℓ = σ(norm_ℓ(W_ℓ z_{ℓ−1}))``, logits ``W_L z_{L−1}`` (THEORY.md §9).

    Attributes
    ----------
    layers : nn.ModuleList of ``nn.Linear(bias=False)``
        ``L = n_hidden + 1`` layers, weights of shape ``(n_ℓ, n_{ℓ−1})``.
    norms : nn.ModuleList
        ``nn.BatchNorm1d`` (affine) or ``nn.Identity``, one per hidden layer.
    dims : tuple of int
        ``(in_dim, n_1, …, n_{L−1}, out_dim)``.
    """

    def __init__(self, dims, batchnorm: bool = False):
        super().__init__()
        dims = tuple(int(d) for d in dims)
        if len(dims) < 2 or min(dims) < 1:
            raise ValueError(f"dims must hold at least two positive widths, got {dims}")
        self.dims = dims
        self.batchnorm = bool(batchnorm)
        self.layers = nn.ModuleList(nn.Linear(dims[i], dims[i + 1], bias=False) for i in range(len(dims) - 1))
        self.norms = nn.ModuleList(
            (nn.BatchNorm1d(n) if self.batchnorm else nn.Identity()) for n in dims[1:-1]
        )

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    def forward(self, x, return_hidden: bool = False):
        hidden = []
        for lin, norm in zip(self.layers[:-1], self.norms):
            x = torch.relu(norm(lin(x)))
            hidden.append(x)
        out = self.layers[-1](x)
        return (out, hidden) if return_hidden else out


def make_width_mlp(
    in_dim: int,
    out_dim: int,
    base_width: int = 32,
    multiplier: float = 1,
    n_hidden: int = 3,
    batchnorm: bool = False,
    seed: int = 0,
) -> WidthMLP:
    """Bias-free ReLU MLP of width ``round(base_width · multiplier)`` ([LEWC] width expansion).

    Initialization (He et al. 2015): ``W_ℓ ~ N(0, 2/n_{ℓ−1})`` for hidden layers, ``N(0, 1/n_{L−1})`` for the
    logits, drawn from ``torch.manual_seed(seed)`` inside a forked RNG (the global torch RNG is untouched).

    Parameters
    ----------
    in_dim, out_dim : int
    base_width : int
        Width at multiplier 1 ([LEWC]: 512; CPU default here 32).
    multiplier : float
        Width multiplier (``> 0``; e.g. 0.5, 1, 2, …, 16); the width is at least 1.
    n_hidden : int
        Number of hidden layers ([LEWC]: 3), ``L = n_hidden + 1`` weight matrices.
    batchnorm : bool
        BatchNorm1d after each hidden linear layer (then the weight-list form does not apply).
    seed : int
    """
    in_dim = check_int(in_dim, "in_dim", low=1)
    out_dim = check_int(out_dim, "out_dim", low=1)
    base_width = check_int(base_width, "base_width", low=1)
    multiplier = check_scalar(multiplier, "multiplier", low=0.0, low_inclusive=False)
    n_hidden = check_int(n_hidden, "n_hidden", low=0)
    seed = check_seed(seed)
    width = max(1, int(round(base_width * multiplier)))
    dims = (in_dim,) + (width,) * n_hidden + (out_dim,)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = WidthMLP(dims, batchnorm=bool(batchnorm))
        with torch.no_grad():
            for ell, lin in enumerate(model.layers):
                gain = 2.0 if ell < len(model.layers) - 1 else 1.0
                lin.weight.normal_(0.0, float(np.sqrt(gain / lin.in_features)))
    return model


def _check_model(model, name="model") -> WidthMLP:
    return check_module(model, name, WidthMLP, "a WidthMLP (see make_width_mlp)")


def _check_pair(model_a, model_b):
    _check_model(model_a, "model_a")
    _check_model(model_b, "model_b")
    if model_a.dims != model_b.dims or model_a.batchnorm != model_b.batchnorm:
        raise ValueError(
            f"model_a and model_b must share an architecture, got dims {model_a.dims} (batchnorm="
            f"{model_a.batchnorm}) and {model_b.dims} (batchnorm={model_b.batchnorm})"
        )


def _check_X(X, model, name="X", min_rows: int = 1) -> torch.Tensor:
    """Inputs ``(N, model.dims[0])`` as a finite C-contiguous tensor in the model's dtype
    (:func:`lmctheory.nn._checks.check_X`; tensors or array_like, int/bool converted)."""
    return check_X(X, name, model=model, min_rows=min_rows)


def to_weight_list(model: WidthMLP) -> list[np.ndarray]:
    """``[W_1, …, W_L]`` (float64 copies, shapes ``(n_ℓ, n_{ℓ−1})``) for :mod:`lmctheory.width`.

    Raises ``ValueError`` for a model with BatchNorm: its function is not a bias-free MLP of the
    weights alone.
    """
    _check_model(model)
    if model.batchnorm:
        raise ValueError("a WidthMLP with BatchNorm has no bias-free weight-list form (BatchNorm adds a shift)")
    return [lin.weight.detach().cpu().double().numpy().copy() for lin in model.layers]


def from_weight_list(weights, dtype=torch.float32) -> WidthMLP:
    """The :class:`WidthMLP` (no BatchNorm) with the given weights ``[W_1, …, W_L]`` (``(out, in)`` each)."""
    W = check_weight_list(weights, "weights")
    model = WidthMLP((W[0].shape[1],) + tuple(w.shape[0] for w in W), batchnorm=False)
    with torch.no_grad():
        for lin, w in zip(model.layers, W):
            lin.weight.copy_(torch.as_tensor(w, dtype=dtype))
    return model.to(dtype)


# ---------------------------------------------------------------------------------------------
# training, merging, BatchNorm
def train_width_model(
    model: WidthMLP,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    weight_decay="strong",
    epochs: int = 60,
    lr: float = 0.03,
    batch_size: int = 32,
    optimizer: str = "sgd",
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Train in place with strong (3e-3) or weak (1e-4) weight decay ([LEWC]) via
    :func:`lmctheory.nn.training.train` (cross-entropy).

    ``weight_decay`` is ``"strong"``, ``"weak"`` or a number ``≥ 0``. With ``optimizer="sgd"`` the decay is
    coupled (``L2``), so the decay shrinks the weights by ``lr·wd`` per step; with ``"adamw"`` it is decoupled
    (and at ``lr = 1e-3`` far too weak to matter over a CPU-sized run). Defaults (SGD, momentum 0.9, lr 0.03,
    batch 32, 60 epochs) are the CPU setting of paper_checks L1–L5: stable at width 512 with either decay.
    Returns the training history of :func:`~lmctheory.nn.training.train`.
    """
    from .training import train

    _check_model(model)
    if isinstance(weight_decay, str):
        weight_decay = WEIGHT_DECAY[check_choice(weight_decay, "weight_decay", tuple(WEIGHT_DECAY))]
    return train(model, X, y, epochs=epochs, lr=lr, weight_decay=weight_decay, batch_size=batch_size,
                 optimizer=optimizer, loss="ce", seed=seed, progress=progress)


def merge_models(model_a: WidthMLP, model_b: WidthMLP, lam: float = 0.5) -> WidthMLP:
    """``θ_λ = λθ_a + (1−λ)θ_b`` without permutation (THEORY.md §9; ``λ`` weights model ``a``).

    Every floating-point parameter and buffer is mixed (BatchNorm running statistics too; recompute
    them with :func:`recompute_batchnorm`, as [LEWC] does). Returns a new model in eval mode.
    """
    from .training import interpolate_state_dicts

    _check_pair(model_a, model_b)
    lam = check_scalar(lam, "lam", low=0.0, high=1.0)
    sd_a, sd_b = model_a.state_dict(), dict(model_b.state_dict())
    for k in sd_b:  # BatchNorm step counters are bookkeeping, not weights: take model a's
        if k.endswith("num_batches_tracked"):
            sd_b[k] = sd_a[k]
    # interpolate_state_dicts returns (1−t)·sd_a + t·sd_b, so t = 1 − λ
    sd = interpolate_state_dicts(sd_a, sd_b, 1.0 - lam)
    out = copy.deepcopy(model_a)
    out.load_state_dict(sd)
    return out.eval()


@torch.no_grad()
def recompute_batchnorm(model: WidthMLP, X: torch.Tensor, batch_size: int | None = None) -> WidthMLP:
    """Reset and recompute every BatchNorm's running mean/variance on ``X`` (in place; returned).

    The statistics are exact averages over the batches (``momentum=None``), so with
    ``batch_size=None`` (one batch) they are the mean and unbiased variance of each unit's
    pre-normalization input on ``X``. A model without BatchNorm is returned unchanged.
    """
    _check_model(model)
    X = _check_X(X, model)
    if not model.batchnorm:
        return model
    bs = X.shape[0] if batch_size is None else check_int(batch_size, "batch_size", low=2)
    bns = [m for m in model.norms if isinstance(m, nn.BatchNorm1d)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    was = model.training
    model.train()
    try:
        for s in range(0, X.shape[0], bs):
            xb = X[s:s + bs]
            if xb.shape[0] > 1:  # BatchNorm needs two samples for a variance
                model(xb)
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom
        model.train(was)
    return model.eval()


@torch.no_grad()
def hidden_outputs(model: WidthMLP, X) -> list[np.ndarray]:
    """``[z_1, …, z_L]`` on ``X`` as float64 arrays of shape ``(N, n_ℓ)`` (eval mode; ``z_L`` = logits).

    ``X``: tensor or array_like ``(N, dims[0])``, real numeric and finite; converted to the model's dtype
    (float32 by default, so outputs carry float32 rounding) as a C-contiguous tensor.
    """
    _check_model(model)
    return _hidden_outputs(model, _check_X(X, model))


@torch.no_grad()
def _hidden_outputs(model: WidthMLP, X: torch.Tensor) -> list[np.ndarray]:
    was = model.training
    model.eval()
    out, hidden = model(X, return_hidden=True)
    model.train(was)
    return [h.double().numpy() for h in hidden] + [out.double().numpy()]


# ---------------------------------------------------------------------------------------------
# per-layer measurements (THEORY.md §9)
@dataclass(frozen=True)
class LayerMeasurements:
    """Per-layer [LEWC] quantities of a pair of bias-free ReLU MLPs on a dataset (THEORY.md §9).

    Layers are indexed ``ℓ = 1…L`` (array index ``ℓ − 1``); ``L`` includes the logit layer.

    Attributes
    ----------
    lam : float
        Merge weight of model ``a``.
    widths : list of int
        ``(n_1, …, n_L)``.
    wa_cosine : ndarray (L−1,)
        Mean over inputs of the weak-additivity cosine ``WA(p_ℓ, q_ℓ) = cos(σ(p+q), σ(p)+σ(q))`` of the
        actual preactivations ``p_ℓ = λ^ℓ W_ℓ^a z_{ℓ−1}^a``, ``q_ℓ = (1−λ)^ℓ W_ℓ^b z_{ℓ−1}^b`` (Def. 5.1; the
        first term of T-5.3), hidden layers only.
    wa_cosine_std : ndarray (L−1,)
        Standard deviation over inputs.
    ro_ab, ro_ba : ndarray (L,)
        Reciprocal orthogonality ``E‖W_ℓ^a z_{ℓ−1}^b‖ / E‖W_ℓ^a z_{ℓ−1}^a‖`` and the same with ``a ↔ b`` (Def. 5.2).
    lewc_cosine : ndarray (L,)
        Cosine between ``z_ℓ(θ_λ)`` and ``λ^ℓ z_ℓ^a + (1−λ)^ℓ z_ℓ^b`` (LEWC, from :func:`lmctheory.width.lewc_cosine`).
    error_measured, error_bound : ndarray (N, L)
        ``‖e_ℓ‖`` per input and its fully recursive T-5.3 bound ``B_ℓ = wa_ℓ + ‖c_ℓ‖ + ‖W_ℓ^λ‖₂ B_{ℓ−1}``
        (``ℓ = 1`` exact).
    error_bound_one_step : ndarray (N, L)
        The same with the measured ``‖e_{ℓ−1}‖`` in place of ``B_{ℓ−1}``.
    violations, violations_one_step : int
        Number of (input, layer) entries with measured > bound (tolerance
        :data:`lmctheory.width.LEWC_RTOL`), for either bound.
    max_ratio, max_ratio_one_step : float
        ``max ‖e_ℓ‖ / bound`` over layers ``ℓ ≥ 2`` and entries with a positive bound (layer 1 is an
        equality, ratio 1, and is left out so the number shows how tight the recursion is).
    logit_identity_residual : float
        ``max_x ‖e_L − (c_L + W_L^λ e_{L−1})‖`` (exact identity: rounding only).
    """

    lam: float
    widths: list
    wa_cosine: np.ndarray
    wa_cosine_std: np.ndarray
    ro_ab: np.ndarray
    ro_ba: np.ndarray
    lewc_cosine: np.ndarray
    error_measured: np.ndarray
    error_bound: np.ndarray
    error_bound_one_step: np.ndarray
    violations: int
    violations_one_step: int
    max_ratio: float
    max_ratio_one_step: float
    logit_identity_residual: float

    def to_dict(self, per_input: bool = False) -> dict:
        """JSON-able dict; the ``(N, L)`` recursion arrays are summarized by their means unless ``per_input``."""
        d = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}
        if not per_input:
            d.pop("error_measured")
            d.pop("error_bound")
            d.pop("error_bound_one_step")
            d["error_measured_mean"] = self.error_measured.mean(axis=0).tolist()
            d["error_bound_mean"] = self.error_bound.mean(axis=0).tolist()
        return d


def layer_measurements(model_a: WidthMLP, model_b: WidthMLP, X, lam: float = 0.5) -> LayerMeasurements:
    """Weak additivity, reciprocal orthogonality, LEWC cosine and the T-5.3 recursion per layer.

    Thin layer over :mod:`lmctheory.width` (THEORY.md §9: Def. 5.1, Def. 5.2, LEWC, T-5.3) applied to the
    weights of two bias-free :class:`WidthMLP` models (no BatchNorm) on inputs ``X`` of shape ``(N, d)``.

    Parameters
    ----------
    model_a, model_b : WidthMLP
        Same architecture, no BatchNorm.
    X : torch.Tensor or array_like, shape (N, d)
    lam : float in [0, 1]
        Merge weight of ``model_a``.
    """
    from ..width import (
        lewc_cosine,
        lewc_error_recursion,
        mlp_forward,
        reciprocal_orthogonality,
        weak_additivity_cosine,
    )

    _check_pair(model_a, model_b)
    lam = check_scalar(lam, "lam", low=0.0, high=1.0)
    X = _check_X(X, model_a)
    Xn = X.detach().cpu().double().numpy()
    Wa, Wb = to_weight_list(model_a), to_weight_list(model_b)
    L = len(Wa)
    za, zb = mlp_forward(Wa, Xn), mlp_forward(Wb, Xn)  # [z_0 = x, z_1, …, z_L]
    wa_mean, wa_std = [], []
    for ell in range(1, L):  # hidden layers
        p = lam ** ell * (za[ell - 1] @ Wa[ell - 1].T)
        q = (1.0 - lam) ** ell * (zb[ell - 1] @ Wb[ell - 1].T)
        c = np.atleast_1d(np.asarray(weak_additivity_cosine(p, q), dtype=float))
        c = c[np.isfinite(c)]  # NaN where a side is the zero vector (undefined cosine)
        wa_mean.append(float(c.mean()) if c.size else float("nan"))
        wa_std.append(float(c.std()) if c.size else float("nan"))
    ro_ab = np.asarray(reciprocal_orthogonality(Wa, Wb, Xn), dtype=float)
    ro_ba = np.asarray(reciprocal_orthogonality(Wb, Wa, Xn), dtype=float)
    lewc = np.asarray(lewc_cosine(Wa, Wb, Xn, lam), dtype=float)
    rec = lewc_error_recursion(Wa, Wb, Xn, lam)
    measured = np.asarray(rec.error, dtype=float).T
    bound = np.asarray(rec.bound, dtype=float).T
    one = np.asarray(rec.bound_one_step, dtype=float).T
    return LayerMeasurements(
        lam=lam,
        widths=[int(w.shape[0]) for w in Wa],
        wa_cosine=np.array(wa_mean),
        wa_cosine_std=np.array(wa_std),
        ro_ab=ro_ab,
        ro_ba=ro_ba,
        lewc_cosine=lewc,
        error_measured=measured,
        error_bound=bound,
        error_bound_one_step=one,
        violations=int(rec.n_violations),
        violations_one_step=int(rec.n_violations_one_step),
        max_ratio=_max_ratio(measured[:, 1:], bound[:, 1:]),
        max_ratio_one_step=_max_ratio(measured[:, 1:], one[:, 1:]),
        logit_identity_residual=float(np.max(rec.logit_identity_residual)),
    )


def _max_ratio(measured, bound) -> float:
    pos = bound > 0
    return float(np.max(measured[pos] / bound[pos])) if pos.any() else 0.0


# ---------------------------------------------------------------------------------------------
# alignment toolkit (THEORY.md §10) — thin wrappers around lmctheory.alignment
def permute_width_model(model: WidthMLP, perms) -> WidthMLP:
    """New model with hidden units permuted (T-S1): ``W_ℓ ← W_ℓ[perm_ℓ][:, perm_{ℓ−1}]``, BatchNorm
    parameters and statistics of layer ``ℓ`` reindexed by ``perm_ℓ``; the function is unchanged.

    ``perms`` follows :mod:`lmctheory.alignment` (``perm[i]`` = old unit that becomes unit ``i``).
    """
    from ..alignment import permute_mlp

    _check_model(model)
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


def weight_match_models(model_a: WidthMLP, model_b: WidthMLP, *, max_iter: int = 100, seed: int = 0):
    """Weight matching (Git Re-Basin, Ainsworth et al. 2023) of ``model_b`` onto ``model_a``.

    Coordinate ascent of ``Σ_ℓ ⟨W_ℓ^a, P_ℓ W_ℓ^b P_{ℓ−1}ᵀ⟩_F`` iterated until a sweep changes nothing
    (or ``max_iter`` sweeps), by :func:`lmctheory.alignment.weight_matching` (THEORY.md §10). BatchNorm
    affine parameters are not part of the objective.

    Returns
    -------
    perms : list of int64 arrays
        One per hidden layer (:mod:`lmctheory.alignment` convention).
    model_b_aligned : WidthMLP
        ``model_b`` with its hidden units permuted by ``perms`` (same function as ``model_b``).
    """
    from ..alignment import weight_matching

    _check_pair(model_a, model_b)
    Wa = [lin.weight.detach().cpu().double().numpy() for lin in model_a.layers]
    Wb = [lin.weight.detach().cpu().double().numpy() for lin in model_b.layers]
    perms = weight_matching(Wa, Wb, max_iter=max_iter, seed=seed)
    return perms, permute_width_model(model_b, perms)


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
    between the two models' outputs of each layer on ``X`` (THEORY.md §10 "Alignment").

    ``layers``: 1-based layer indices in ``[1, L]`` (``L`` = logits): ``None`` (default) for all layers,
    a single int for that one layer, or a non-empty sequence of ints (an empty one raises ``ValueError``).
    ``X``: tensor or array_like ``(N, d)``, validated as in :func:`hidden_outputs`. Orthogonal maps are not
    symmetries of a ReLU layer, so this measures how far the representations are a rotation apart.
    """
    from ..alignment import orthogonal_procrustes

    _check_pair(model_a, model_b)
    layers = check_layer_indices(layers, "layers", model_a.n_layers)
    za, zb = _hidden_outputs(model_a, _check_X(X, model_a)), _hidden_outputs(model_b, _check_X(X, model_b))
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
    ``K[i, j] = CKA(z_{i+1}^a, z_{j+1}^b)`` (:func:`lmctheory.alignment.linear_cka`; THEORY.md §10), shape ``(L, L)``.
    A layer that is constant over ``X`` (e.g. all units dead) gets NaN. ``X``: tensor or array_like ``(N, d)``
    with ``N ≥ 2`` (CKA centers over the rows), validated as in :func:`hidden_outputs`."""
    from ..alignment import linear_cka

    _check_model(model_a, "model_a")
    _check_model(model_b, "model_b")
    if model_a.dims[0] != model_b.dims[0]:
        raise ValueError(f"model_a and model_b must have the same input width, got {model_a.dims[0]} and "
                         f"{model_b.dims[0]}")
    Xa = _check_X(X, model_a, min_rows=2)
    Xb = _check_X(X, model_b, min_rows=2)
    za, zb = _hidden_outputs(model_a, Xa), _hidden_outputs(model_b, Xb)
    K = np.full((len(za), len(zb)), np.nan)
    for i, A in enumerate(za):
        for j, B in enumerate(zb):
            try:
                K[i, j] = linear_cka(A, B)
            except ValueError:
                pass
    return K


# ---------------------------------------------------------------------------------------------
# the shared sweep job of paper_checks L1–L5
def _dataset(cfg: dict):
    from . import data

    name = cfg.get("dataset", "digits")
    if name == "digits":
        return data.digits(test_fraction=cfg.get("test_fraction", 0.25), seed=cfg.get("data_seed", 0))
    if name == "gaussian_mixture":
        gm = dict(cfg.get("gm", {}))
        return data.gaussian_mixture(seed=cfg.get("data_seed", 0), **gm)
    raise ValueError(f"dataset must be 'digits' or 'gaussian_mixture', got {name!r}")


def width_pair_job(cfg: dict) -> dict:
    """Train one pair at one width and weight decay, merge without permutation, measure (JSON result).

    ``cfg`` keys: ``dataset`` ("digits" | "gaussian_mixture", with ``gm`` kwargs), ``data_seed``,
    ``base_width``, ``multiplier``, ``n_hidden``, ``weight_decay`` (number), ``epochs``, ``lr``,
    ``batch_size``, ``optimizer``, ``pair`` (pair index; the two models use init/data-order seeds
    ``1000·seed + 2·pair`` and ``1000·seed + 2·pair + 1``), ``seed``, ``n_lams``, ``cal_fraction`` (calibration share of the test set, [LEWC]: 0.2),
    ``n_measure`` (test inputs for :func:`layer_measurements`), ``recursion_lams`` (further ``λ`` at which
    the T-5.3 recursion is checked; optional).

    Returns endpoint/merged accuracies and losses, the interpolation curve before/after temperature
    calibration (:func:`lmctheory.nn.calibration.calibrated_barriers`), the ensemble at λ = 1/2, and
    :func:`layer_measurements` at λ = 1/2, the same barriers after weight matching (``aligned``), the T-5.3
    violation counts per ``λ``, the effective rank
    ``exp(H(s/Σs))`` of model a's weights (Roy & Vetterli 2007; [LEWC] ties LEWC to low-rank weights) and the
    job's wall time. Module-level, so :func:`lmctheory.sweep.run_jobs` can run it in worker processes and
    cache it.
    """
    from .calibration import calibrated_barriers, calibration_split

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    ds = _dataset(cfg)
    n_cls = int(ds.n_classes)
    seeds = [int(cfg["seed"]) * 1000 + 2 * int(cfg["pair"]) + e for e in (0, 1)]
    models = []
    hist = []
    for s in seeds:
        m = make_width_mlp(ds.in_dim, n_cls, cfg["base_width"], cfg["multiplier"], cfg["n_hidden"],
                           batchnorm=False, seed=s)
        h = train_width_model(m, ds.X_train, ds.y_train, weight_decay=float(cfg["weight_decay"]),
                              epochs=cfg["epochs"], lr=cfg["lr"], batch_size=cfg["batch_size"],
                              optimizer=cfg["optimizer"], seed=s)
        hist.append(h["loss"][-1])
        models.append(m)
    ma, mb = models
    X_cal, y_cal, X_ev, y_ev = calibration_split(ds.X_test, ds.y_test, fraction=cfg["cal_fraction"],
                                                 seed=int(cfg["seed"]))
    lams = np.linspace(0.0, 1.0, int(cfg["n_lams"]))
    cb = calibrated_barriers(ma, mb, X_cal, y_cal, X_ev, y_ev, lams)
    # reference: the same merge after weight matching (Git Re-Basin), the permutation [LEWC] does without
    _, mb_aligned = weight_match_models(ma, mb, seed=int(cfg["seed"]))
    cb_al = calibrated_barriers(ma, mb_aligned, X_cal, y_cal, X_ev, y_ev, lams)
    nm = min(int(cfg["n_measure"]), ds.X_test.shape[0])
    meas = layer_measurements(ma, mb, ds.X_test[:nm], lam=0.5)

    def rec_summary(m):
        return dict(violations=m.violations, violations_one_step=m.violations_one_step, max_ratio=m.max_ratio,
                    max_ratio_one_step=m.max_ratio_one_step, entries=int(m.error_measured.size))

    recursion = {"0.5": rec_summary(meas)}
    for lam in cfg.get("recursion_lams", []):
        if float(lam) == 0.5:
            continue
        m2 = layer_measurements(ma, mb, ds.X_test[:nm], lam=float(lam))
        recursion[str(float(lam))] = rec_summary(m2)
    eff_rank = []
    for W in to_weight_list(ma):
        s = np.linalg.svd(W, compute_uv=False)
        p = s / s.sum()
        eff_rank.append(float(np.exp(-(p * np.log(np.where(p > 0, p, 1.0))).sum())))
    return dict(
        multiplier=cfg["multiplier"],
        width=int(ma.dims[1]),
        weight_decay=float(cfg["weight_decay"]),
        pair=int(cfg["pair"]),
        final_train_loss=hist,
        barriers=cb.to_dict(),
        aligned={k: v for k, v in cb_al.to_dict().items()
                 if k in ("lams", "acc", "loss", "loss_calibrated", "barrier_lin", "barrier_lin_calibrated",
                          "midpoint_acc_drop", "midpoint_loss_barrier_calibrated")},
        layers=meas.to_dict(),
        recursion=recursion,
        effective_rank=eff_rank,
        seconds=time.perf_counter() - t0,
    )
