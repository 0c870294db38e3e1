"""Asymmetric linear and convolutional layers ``W̃ = F + D ⊙ W`` in torch (docs/theory.md §1, [NI] eq. 2–3,
Table 1; docs/theory.md#conv-layers).

``F`` (fixed centers) and ``D`` (fixed diagonal operator / mask) are *architecture*: registered
buffers, identical for the two models of a pair when they share ``mask_seed``. Only ``W`` (and the
bias) is trained. The forward pass uses ``F + D ⊙ W``, so the gradient reaching ``W`` is
``D ⊙ ∂L/∂W̃`` — exactly zero on fixed entries — and ``W`` is initialized to zero there, so a fixed
entry of the effective weight never moves (AdamW's decoupled decay of a zero entry is zero, too).

A convolution's neuron is an output channel: its weight row is the flattened ``C_in·kh·kw`` kernel
(the order of ``F.unfold``'s patches), so :class:`AsymmetricConv2d` draws its masks exactly like an
:class:`AsymmetricLinear` with ``d = C_in·kh·kw`` inputs and ``n = C_out`` outputs.

Masks and centers are drawn from ``numpy.random.default_rng([mask_seed, ...])``, independent of
torch's global RNG, which draws only the trainable initialization.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .._validation import check_choice, check_int, check_scalar, check_seed

__all__ = ["AsymmetricLinear", "AsymmetricConv2d", "ASYM_MODES", "linear_arrays"]

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


def _check_mode_args(mode, d, fixed_per_row, keep_prob, sigma_f):
    """Validated ``(mode, fixed_per_row, keep_prob, sigma_f)`` for a layer with rows of length ``d``."""
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
    return mode, fixed_per_row, keep_prob, sigma_f


class AsymmetricLinear(nn.Module):
    """Linear layer with effective weight ``W̃ = F + D ⊙ W`` (docs/theory.md §1, [NI] eq. 2–3).

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
        mode, fixed_per_row, keep_prob, sigma_f = _check_mode_args(mode, d, fixed_per_row, keep_prob, sigma_f)
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


def _pair(x, name: str, low: int) -> tuple[int, int]:
    """An int or a pair of ints ``≥ low`` as a 2-tuple (conv hyper-parameters)."""
    if isinstance(x, (tuple, list)):
        if len(x) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {x!r}")
        return check_int(x[0], f"{name}[0]", low=low), check_int(x[1], f"{name}[1]", low=low)
    v = check_int(x, name, low=low)
    return v, v


class AsymmetricConv2d(nn.Module):
    """2-D convolution with effective kernel ``W̃ = F + D ⊙ W`` (docs/theory.md §1, [NI] eq. 2–3 and F.2).

    Each output channel is one neuron whose weight row is its flattened ``C_in·kh·kw`` kernel; ``F``
    and ``D`` of shape ``(C_out, C_in, kh, kw)`` are drawn exactly like those of an
    :class:`AsymmetricLinear` with ``d = C_in·kh·kw``, ``n = C_out`` (same ``mask_seed`` and
    ``mask_stream`` give the same rows), so ``wasym`` fixes ``m`` entries per output channel, spread
    over input channels and kernel positions. The output is
    ``conv2d(x, F + D ⊙ W, bias, stride, padding, dilation)``.

    Parameters
    ----------
    in_channels, out_channels : int
        ``C_in`` and ``C_out``.
    kernel_size : int or (int, int)
        ``(kh, kw)``.
    stride, padding, dilation : int or (int, int)
        As in ``nn.Conv2d`` (zero padding; ``padding ≥ 0`` integers only).
    groups : int
        Must be 1 (a grouped convolution's rows are not dense kernels; ``ValueError`` otherwise).
    mode : {"standard", "wasym", "syre", "sparse"}
        As in :class:`AsymmetricLinear`; ``fixed_per_row`` defaults to ``max(1, round(0.08·C_in·kh·kw))``.
    fixed_per_row, keep_prob, sigma_f, bias, mask_seed, mask_stream
        As in :class:`AsymmetricLinear`.

    Notes
    -----
    ``W`` is initialized like ``nn.Conv2d`` (Kaiming-uniform from torch's global RNG, bias uniform in
    ``±1/√(C_in·kh·kw)``) and multiplied by ``D``; the gradient reaching ``W`` is ``D ⊙ ∂L/∂W̃``,
    so fixed entries never move.

    References
    ----------
    [NI] eq. (2)–(3), App. F.2 (W-asymmetric ResNets); docs/theory.md §1; docs/theory.md#conv-layers.

    Examples
    --------
    >>> import torch
    >>> conv = AsymmetricConv2d(3, 8, 3, padding=1, mode="wasym", fixed_per_row=4, sigma_f=2.0)
    >>> conv(torch.randn(2, 3, 5, 5)).shape
    torch.Size([2, 8, 5, 5])
    >>> eff, fixed, diag = conv.export()
    >>> eff.shape, int((diag == 0).sum(1).min())
    ((8, 27), 4)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
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
        cin = check_int(in_channels, "in_channels", low=1)
        cout = check_int(out_channels, "out_channels", low=1)
        if isinstance(padding, str):
            raise ValueError(f"padding must be an int or a pair of ints (explicit zero padding), got {padding!r}")
        kh, kw = _pair(kernel_size, "kernel_size", 1)
        self.stride = _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        self.dilation = _pair(dilation, "dilation", 1)
        if check_int(groups, "groups", low=1) != 1:
            raise ValueError(f"AsymmetricConv2d supports groups=1 only, got groups={groups}")
        self.groups = 1
        d = cin * kh * kw
        mode, fixed_per_row, keep_prob, sigma_f = _check_mode_args(mode, d, fixed_per_row, keep_prob, sigma_f)
        self.in_channels, self.out_channels, self.kernel_size = cin, cout, (kh, kw)
        self.mode, self.sigma_f = mode, sigma_f
        F, D = _masks(mode, cout, d, fixed_per_row=fixed_per_row, keep_prob=keep_prob, sigma_f=sigma_f,
                      mask_seed=mask_seed, stream=check_int(mask_stream, "mask_stream", low=0))
        dtype = torch.get_default_dtype()
        shape = (cout, cin, kh, kw)
        self.register_buffer("F", torch.as_tensor(F.reshape(shape), dtype=dtype))
        self.register_buffer("D", torch.as_tensor(D.reshape(shape), dtype=dtype))
        self.weight = nn.Parameter(torch.empty(shape))
        self.bias = nn.Parameter(torch.empty(cout)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        with torch.no_grad():
            self.weight.mul_(self.D)
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
            nn.init.uniform_(self.bias, -bound, bound)

    def effective_weight(self) -> torch.Tensor:
        """``W̃ = F + D ⊙ W`` as a tensor ``(C_out, C_in, kh, kw)`` (differentiable in ``W``)."""
        return self.F + self.D * self.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.effective_weight(), self.bias, self.stride, self.padding,
                                    self.dilation, 1)

    def export(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(effective, fixed, diag)`` as float64 NumPy arrays of shape ``(C_out, C_in·kh·kw)``."""
        n = self.out_channels
        with torch.no_grad():
            return tuple(t.detach().cpu().double().reshape(n, -1).numpy().copy()
                         for t in (self.effective_weight(), self.F, self.D))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, mode={self.mode!r}, sigma_f={self.sigma_f:g}, "
                f"bias={self.bias is not None}")


def linear_arrays(layer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(effective, fixed, diag)`` float64 ``(n, d)`` arrays of a linear or convolutional layer.

    ``nn.Linear`` and ``nn.Conv2d`` (``groups=1``) mean ``F = 0, D = 1``; :class:`AsymmetricLinear`
    and :class:`AsymmetricConv2d` export theirs. A convolution's row ``i`` is output channel ``i``'s
    kernel flattened in ``(C_in, kh, kw)`` order (``d = C_in·kh·kw``, the order of ``F.unfold``).
    ``TypeError`` for any other module, ``ValueError`` for a grouped ``nn.Conv2d``.

    Examples
    --------
    >>> from torch import nn
    >>> [a.shape for a in linear_arrays(nn.Conv2d(2, 4, 3))]
    [(4, 18), (4, 18), (4, 18)]
    """
    if isinstance(layer, (AsymmetricLinear, AsymmetricConv2d)):
        return layer.export()
    if isinstance(layer, nn.Conv2d):
        if layer.groups != 1:
            raise ValueError(f"nn.Conv2d with groups={layer.groups} is not supported (rows are dense kernels; "
                             "groups=1 only)")
        W = layer.weight.detach().cpu().double().reshape(layer.out_channels, -1).numpy().copy()
        return W, np.zeros_like(W), np.ones_like(W)
    if isinstance(layer, nn.Linear):
        W = layer.weight.detach().cpu().double().numpy().copy()
        return W, np.zeros_like(W), np.ones_like(W)
    raise TypeError("expected nn.Linear or AsymmetricLinear, nn.Conv2d or AsymmetricConv2d (groups=1), "
                    f"got {type(layer).__name__}")
