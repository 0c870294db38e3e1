"""Asymmetric linear layers ``W̃ = F + D ⊙ W`` in torch (THEORY.md §1, [NI] eq. 2–3, Table 1).

``F`` (fixed centers) and ``D`` (fixed diagonal operator / mask) are *architecture*: registered
buffers, identical for the two models of a pair when they share ``mask_seed``. Only ``W`` (and the
bias) is trained. The forward pass uses ``F + D ⊙ W``, so the gradient reaching ``W`` is
``D ⊙ ∂L/∂W̃`` — exactly zero on fixed entries — and ``W`` is initialized to zero there, so a fixed
entry of the effective weight never moves (AdamW's decoupled decay of a zero entry is zero, too).

Masks and centers are drawn from ``numpy.random.default_rng([mask_seed, ...])``, independent of
torch's global RNG, which draws only the trainable initialization.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .._validation import check_choice, check_int, check_scalar, check_seed

__all__ = ["AsymmetricLinear", "ASYM_MODES", "linear_arrays"]

ASYM_MODES = ("standard", "wasym", "syre", "sparse")


def _masks(mode, n, d, *, fixed_per_row, keep_prob, sigma_f, mask_seed, stream):
    """(F, D) as float64 arrays of shape (n, d) for one architecture of Table 1."""
    rng = np.random.default_rng([check_seed(mask_seed, "mask_seed"), int(stream)])
    D = np.ones((n, d))
    F = np.zeros((n, d))
    if mode == "wasym":
        m = max(1, int(round(0.08 * d))) if fixed_per_row is None else fixed_per_row
        for i in range(n):
            D[i, rng.choice(d, size=m, replace=False)] = 0.0
        F = sigma_f * rng.standard_normal((n, d)) * (1.0 - D)
    elif mode == "syre":
        F = sigma_f * rng.standard_normal((n, d))
    elif mode == "sparse":
        p = 0.5 if keep_prob is None else keep_prob
        D = (rng.random((n, d)) < p).astype(np.float64)
    return F, D


class AsymmetricLinear(nn.Module):
    """Linear layer with effective weight ``W̃ = F + D ⊙ W`` (THEORY.md §1, [NI] eq. 2–3).

    Parameters
    ----------
    in_features, out_features : int
        ``d`` and ``n``; all weight arrays have shape ``(n, d)``.
    mode : {"standard", "wasym", "syre", "sparse"}
        ``standard``: ``D = 1, F = 0``. ``wasym`` (W-asymmetric, Lim et al. 2024): ``D`` a binary
        mask with exactly ``fixed_per_row`` zeros per row (default ``max(1, round(0.08·d))``),
        ``F = σ_F·N(0,1)`` on those fixed entries and 0 elsewhere. ``syre`` (Ziyin et al. 2025):
        ``D = 1``, ``F = σ_F·N(0,1)`` everywhere. ``sparse``: ``D ~ Bernoulli(keep_prob)``
        (default 0.5) i.i.d., ``F = 0``.
    fixed_per_row : int, optional
        ``wasym`` only: the number ``m`` of fixed entries per row, ``0 ≤ m ≤ d``.
    keep_prob : float, optional
        ``sparse`` only: keep probability ``p`` of the mask.
    sigma_f : float
        Fixed weight scale ``σ_F ≥ 0`` (``wasym`` and ``syre``).
    bias : bool
        Trainable bias (initialized like ``nn.Linear``).
    mask_seed : int
        Seed of ``F`` and ``D``; two layers with equal arguments and ``mask_seed`` share them.
    mask_stream : int
        Extra RNG stream index (used by :func:`~lmctheory.nn.make_mlp` to give each layer its
        own masks under one ``mask_seed``).

    Notes
    -----
    ``W`` is initialized like ``nn.Linear`` (Kaiming-uniform, torch's global RNG) and then
    multiplied by ``D``. Buffers ``F``/``D`` are persistent: they are part of ``state_dict()``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        mode: str = "standard",
        *,
        fixed_per_row: int | None = None,
        keep_prob: float | None = None,
        sigma_f: float = 1.0,
        bias: bool = True,
        mask_seed: int = 0,
        mask_stream: int = 0,
    ):
        super().__init__()
        d = check_int(in_features, "in_features", low=1)
        n = check_int(out_features, "out_features", low=1)
        mode = check_choice(mode, "mode", ASYM_MODES)
        sigma_f = check_scalar(sigma_f, "sigma_f", low=0.0)
        if fixed_per_row is not None:
            if mode != "wasym":
                raise ValueError(f"fixed_per_row applies to mode='wasym' only, got mode={mode!r}")
            fixed_per_row = check_int(fixed_per_row, "fixed_per_row", low=0, high=d)
        if keep_prob is not None:
            if mode != "sparse":
                raise ValueError(f"keep_prob applies to mode='sparse' only, got mode={mode!r}")
            keep_prob = check_scalar(keep_prob, "keep_prob", low=0.0, high=1.0)
        self.in_features, self.out_features, self.mode = d, n, mode
        self.sigma_f = sigma_f
        F, D = _masks(mode, n, d, fixed_per_row=fixed_per_row, keep_prob=keep_prob,
                      sigma_f=sigma_f, mask_seed=mask_seed, stream=check_int(mask_stream, "mask_stream", low=0))
        dtype = torch.get_default_dtype()
        self.register_buffer("F", torch.as_tensor(F, dtype=dtype))
        self.register_buffer("D", torch.as_tensor(D, dtype=dtype))
        self.weight = nn.Parameter(torch.empty(n, d))
        self.bias = nn.Parameter(torch.empty(n)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        with torch.no_grad():
            self.weight.mul_(self.D)
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            nn.init.uniform_(self.bias, -bound, bound)

    def effective_weight(self) -> torch.Tensor:
        """``W̃ = F + D ⊙ W`` as a tensor ``(out_features, in_features)`` (differentiable in ``W``)."""
        return self.F + self.D * self.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.effective_weight(), self.bias)

    def export(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(effective, fixed, diag)`` as float64 NumPy arrays of shape ``(n, d)``."""
        with torch.no_grad():
            eff = self.effective_weight().detach().cpu().double().numpy().copy()
            return eff, self.F.detach().cpu().double().numpy().copy(), self.D.detach().cpu().double().numpy().copy()

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, mode={self.mode!r}, "
                f"sigma_f={self.sigma_f:g}, bias={self.bias is not None}")


def linear_arrays(layer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(effective, fixed, diag)`` float64 arrays of an ``nn.Linear`` (``F = 0, D = 1``) or an
    :class:`AsymmetricLinear`; ``TypeError`` for anything else."""
    if isinstance(layer, AsymmetricLinear):
        return layer.export()
    if isinstance(layer, nn.Linear):
        W = layer.weight.detach().cpu().double().numpy().copy()
        return W, np.zeros_like(W), np.ones_like(W)
    raise TypeError(f"expected nn.Linear or AsymmetricLinear, got {type(layer).__name__}")
