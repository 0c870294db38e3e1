"""Bias-free ReLU MLPs of the [LEWC] width experiments (docs/theory.md §9): architecture, training, BatchNorm.

The [LEWC] setting: a bias-free ReLU MLP ``z_0 = x``, ``z_ℓ = σ(W_ℓ z_{ℓ−1})`` (``ℓ < L``), logits
``z_L = W_L z_{L−1}``, widened by a multiplier and trained with strong (3e-3) or weak (1e-4) weight decay.

- :func:`make_width_mlp`, :class:`WidthMLP` — the architecture (optional BatchNorm after each hidden
  linear layer; recompute its statistics after merging with :func:`recompute_batchnorm`);
- :func:`to_weight_list` / :func:`from_weight_list` — the ``[W_1, …, W_L]`` form of :mod:`lmctheory.lewc`;
- :func:`train_width_model` — strong / weak weight decay through :func:`lmctheory.nn.training.train`;
- :func:`hidden_outputs` — ``[z_1, …, z_L]`` on a dataset;
- :func:`check_width_model`, :func:`check_width_pair`, :func:`check_width_X` — the input checks shared by
  :mod:`lmctheory.nn.merging`, :mod:`lmctheory.nn.width_alignment` and :mod:`lmctheory.nn.calibration`.

Merging and per-layer measurements: :mod:`lmctheory.nn.merging`; alignment: :mod:`lmctheory.nn.width_alignment`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._validation import check_choice, check_int, check_scalar, check_seed, check_weight_list
from ._checks import check_module, check_X
from .batchnorm import reset_batchnorm
from . import training  # module attribute lookup: training.train can be monkeypatched

__all__ = [
    "WEIGHT_DECAY",
    "WidthMLP",
    "make_width_mlp",
    "check_width_model",
    "check_width_pair",
    "check_width_X",
    "to_weight_list",
    "from_weight_list",
    "train_width_model",
    "recompute_batchnorm",
    "hidden_outputs",
]

#: the two weight-decay strengths of [LEWC] (strong: low-rank weights and LEWC; weak: the ablation)
WEIGHT_DECAY = {"strong": 3e-3, "weak": 1e-4}


# ---------------------------------------------------------------------------------------------
# architecture
class WidthMLP(nn.Module):
    """Bias-free ReLU MLP ``z_ℓ = σ(norm_ℓ(W_ℓ z_{ℓ−1}))``, logits ``W_L z_{L−1}`` (docs/theory.md §9).

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

    @property
    def in_features(self) -> int:
        """Input width ``dims[0]`` (read by :func:`lmctheory.nn._checks.model_io`)."""
        return self.dims[0]

    @property
    def out_features(self) -> int:
        """Output width ``dims[-1]``."""
        return self.dims[-1]

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


def check_width_model(model, name: str = "model") -> WidthMLP:
    """``model`` must be a :class:`WidthMLP` (``TypeError`` naming ``name``)."""
    return check_module(model, name, WidthMLP, "a WidthMLP (see make_width_mlp)")


def check_width_pair(model_a, model_b) -> None:
    """Both must be :class:`WidthMLP` of one architecture (dims and BatchNorm); ``TypeError`` / ``ValueError``."""
    check_width_model(model_a, "model_a")
    check_width_model(model_b, "model_b")
    if model_a.dims != model_b.dims or model_a.batchnorm != model_b.batchnorm:
        raise ValueError(
            f"model_a and model_b must share an architecture, got dims {model_a.dims} (batchnorm="
            f"{model_a.batchnorm}) and {model_b.dims} (batchnorm={model_b.batchnorm})"
        )


def check_width_X(X, model, name: str = "X", min_rows: int = 1) -> torch.Tensor:
    """Inputs ``(N, model.dims[0])`` as a finite C-contiguous tensor in the model's dtype
    (:func:`lmctheory.nn._checks.check_X`; tensors or array_like, int/bool converted)."""
    return check_X(X, name, model=model, min_rows=min_rows)


def to_weight_list(model: WidthMLP) -> list[np.ndarray]:
    """``[W_1, …, W_L]`` (float64 copies, shapes ``(n_ℓ, n_{ℓ−1})``) for :mod:`lmctheory.lewc`.

    Raises ``ValueError`` for a model with BatchNorm: its function is not a bias-free MLP of the
    weights alone.
    """
    check_width_model(model)
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
# training, BatchNorm, hidden outputs
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
    check_width_model(model)
    if isinstance(weight_decay, str):
        weight_decay = WEIGHT_DECAY[check_choice(weight_decay, "weight_decay", tuple(WEIGHT_DECAY))]
    return training.train(model, X, y, epochs=epochs, lr=lr, weight_decay=weight_decay, batch_size=batch_size,
                 optimizer=optimizer, loss="ce", seed=seed, progress=progress)



@torch.no_grad()
def recompute_batchnorm(model: WidthMLP, X: torch.Tensor, batch_size: int | None = None) -> WidthMLP:
    """Reset and recompute every BatchNorm's running mean/variance on ``X`` (in place; returned).

    The statistics are exact averages over the batches (``momentum=None``), so with
    ``batch_size=None`` (one batch) they are the mean and unbiased variance of each unit's
    pre-normalization input on ``X``. A model without BatchNorm is returned unchanged. The [LEWC] front end of
    :func:`lmctheory.nn.batchnorm.reset_batchnorm` (which works for any model).
    """
    check_width_model(model)
    X = check_width_X(X, model)
    if not model.batchnorm:
        return model
    return reset_batchnorm(model, X, batch_size=None if batch_size is None else check_int(batch_size, "batch_size",
                                                                                          low=2))


@torch.no_grad()
def hidden_outputs(model: WidthMLP, X) -> list[np.ndarray]:
    """``[z_1, …, z_L]`` on ``X`` as float64 arrays of shape ``(N, n_ℓ)`` (eval mode; ``z_L`` = logits).

    ``X``: tensor or array_like ``(N, dims[0])``, real numeric and finite; converted to the model's dtype
    (float32 by default, so outputs carry float32 rounding) as a C-contiguous tensor.
    """
    check_width_model(model)
    return hidden_outputs_unchecked(model, check_width_X(X, model))


@torch.no_grad()
def hidden_outputs_unchecked(model: WidthMLP, X: torch.Tensor) -> list[np.ndarray]:
    """:func:`hidden_outputs` without validation: ``X`` is already the tensor :func:`check_width_X` returns.

    Internal API for the width-alignment module, which validates once and calls this per model.
    """
    was = model.training
    model.eval()
    out, hidden = model(X, return_hidden=True)
    model.train(was)
    return [h.double().numpy() for h in hidden] + [out.double().numpy()]
