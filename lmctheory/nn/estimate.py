"""Realization-cost estimates on trained layers ([NI] §6 Q3, F.7, G.3; docs/theory.md §2, §8).

*Mahalanobis estimate* (:func:`estimate_realization_costs`, [NI] F.7): record the layer's input
activations, estimate the support basis ``U`` as the PCA subspace reaching ``explained_variance``
(:func:`lmctheory.subspace_basis`: centered SVD), then ``a_i = Uᵀw̃_i``, ``S_i`` and the costs
``C[i, j] = R_i(a_j)`` of eq. (10) (:func:`lmctheory.realization_costs`) and swap costs
``Δ_ij`` (eq. 14–15).

*Ridge estimate* (:func:`ridge_realization_cost`, Def. E.3):
``R_i^γ(g) = min_{w,b} (1/γ)·mean_n (σ((f_i + d_i ⊙ w)ᵀx_n + b) − g(x_n))² + ‖w‖²``
on the recorded inputs ``x_n`` (``b``: see ``bias``; the default ``bias=None`` is Def. E.3 as stated, with
no bias). For σ = identity this is a ridge regression solved in closed form; by Thm. E.4 it then
(with ``bias=None``) equals ``cᵀ(S_i + γΣ_z⁻¹)⁻¹c`` when the inputs lie
exactly on ``span(U)`` (and tends to the hard cost as ``γ → 0``, T-E.5). For GELU/ReLU/tanh the
objective is non-convex: it is minimized by L-BFGS (strong-Wolfe line search, float64) started
from the closed-form linear-surrogate solution, or from ``init`` ([NI] start from trained weights).

*Layers and samples* (docs/theory.md#conv-layers): an ``nn.Linear`` /
:class:`~lmctheory.nn.AsymmetricLinear` row is one neuron's weights and its inputs ``(..., d)`` are
flattened to samples (``(batch, tokens, features)`` → ``batch·tokens`` samples). An ``nn.Conv2d`` /
:class:`~lmctheory.nn.AsymmetricConv2d` neuron is an output channel, its row the flattened
``C_in·kh·kw`` kernel, and its samples are the patches of the input feature maps ``(N, C, H, W)``
unfolded with the layer's stride, padding and dilation (:func:`conv_patches`; every patch is a sample).
When there are more samples than ``max_samples`` the PCA basis comes from the exact covariance
accumulated over chunks (``large="stream"``, memory ``O(d² + chunk·d)``) or from a seeded uniform
subsample (``large="subsample"``); the result states which (``sampling``) and how many samples were used.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .._validation import MAX_ABS, check_array, check_choice, check_int, check_scalar, check_seed
from ._checks import check_module, model_dtype
from .layers import AsymmetricConv2d, AsymmetricLinear, linear_arrays
from ._inputs import ModelInputs, as_model_inputs, call_model, eval_mode
from .training import check_inputs_nd

__all__ = [
    "RealizationEstimate", "RidgeCost", "LayerInputs", "LayerEstimates", "layer_arrays", "conv_patches",
    "layer_samples", "estimate_realization_costs", "record_layer_inputs", "estimate_all_layers",
    "is_transposed_linear", "conv_group",
    "ridge_realization_cost", "ACTIVATIONS", "SAMPLINGS",
]

ACTIVATIONS = ("identity", "relu", "gelu", "tanh")
#: How the PCA basis used the samples: all of them (exact SVD), a seeded subsample (exact SVD),
#: all of them through the streamed covariance, or none (basis given).
SAMPLINGS = ("all", "subsample", "stream", "basis_given")

_LINEAR = (nn.Linear, AsymmetricLinear)
_CONV = (nn.Conv2d, AsymmetricConv2d)
_CHUNK_BYTES = 2**23  # float64 samples per chunk when streaming: 8 MiB


@dataclass(frozen=True)
class RealizationEstimate:
    """Mahalanobis realization-cost estimate of one layer (eq. 10 on a PCA basis).

    Attributes
    ----------
    costs : ndarray (n, n)
        ``C[i, j] = R_i(a_j)``; ``+inf`` where unrealizable.
    swap_costs : ndarray (n, n)
        ``Δ_ij = C[i,j] + C[j,i] − C[i,i] − C[j,j]``.
    basis : ndarray (d, k)
        Estimated (or given) orthonormal support basis ``U``.
    ratio : float
        Explained-variance ratio reached by ``basis`` (NaN when the basis was given).
    k : int
        ``basis.shape[1]``.
    coherence : float
        ``ν(U) = max_j ‖Uᵀe_j‖²`` (eq. 11; biased upward when ``N`` is not ≫ ``d``, docs/theory.md §12).
    coefficients : ndarray (n, k)
        ``a_i = Uᵀw̃_i``.
    centers : ndarray (n, k)
        Projected centers ``v_i = Uᵀf_i``.
    center_gaps : ndarray (n, n)
        ``‖v_i − v_j‖₂``.
    min_center_gap : float
        ``δ_min``.
    gram_spectra : ndarray (n, k)
        Ascending eigenvalues of each ``S_i``.
    n_samples : int
        Number of samples (input rows, or patches of a convolution) the basis was estimated from.
    sampling : {"all", "subsample", "stream", "basis_given"}
        How: exact SVD of all samples, exact SVD of a seeded uniform subsample of ``n_samples``, the
        exact covariance of all samples accumulated in chunks, or no estimate (``basis`` given).
    n_available : int
        Number of samples in the input (``n_samples < n_available`` only for ``"subsample"``).
    """

    costs: np.ndarray
    swap_costs: np.ndarray
    basis: np.ndarray
    ratio: float
    k: int
    coherence: float
    coefficients: np.ndarray
    centers: np.ndarray
    center_gaps: np.ndarray
    min_center_gap: float
    gram_spectra: np.ndarray
    n_samples: int
    sampling: str = "all"
    n_available: int = -1


def layer_arrays(layer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(effective, fixed, diag)`` float64 ``(n, d)`` arrays of a layer or an explicit 3-tuple.

    ``nn.Linear`` / ``nn.Conv2d`` mean ``F = 0, D = 1``; :class:`AsymmetricLinear` /
    :class:`AsymmetricConv2d` export theirs; a convolution's rows are its flattened ``C_in·kh·kw``
    kernels (:func:`lmctheory.nn.layers.linear_arrays`); a Hugging Face ``Conv1D`` (weight stored
    transposed, ``(in, out)``: :func:`is_transposed_linear`) has rows ``weight.T``. ``TypeError`` naming any
    other type; a grouped ``nn.Conv2d`` is read group by group (:func:`conv_group`).

    Examples
    --------
    >>> from torch import nn
    >>> layer_arrays(nn.Conv2d(3, 8, 3))[0].shape
    (8, 27)
    """
    if isinstance(layer, _LINEAR + _CONV):
        return linear_arrays(layer)
    if is_transposed_linear(layer):
        W = layer.weight.detach().cpu().double().numpy().T.copy()
        return W, np.zeros_like(W), np.ones_like(W)
    if isinstance(layer, tuple) and len(layer) == 3:
        E = check_array(layer[0], "effective", ndim=2)
        F = check_array(layer[1], "fixed", shape=E.shape)
        D = check_array(layer[2], "diag", shape=E.shape)
        return E, F, D
    raise TypeError("layer must be an nn.Linear, nn.Conv2d, AsymmetricLinear, AsymmetricConv2d, a Hugging Face "
                    f"Conv1D or an (effective, fixed, diag) tuple, got {type(layer).__name__}")


def is_transposed_linear(module) -> bool:
    """True for a Hugging Face ``Conv1D`` (GPT-2 style): a linear layer ``y = x @ weight + bias`` whose weight
    is stored transposed, shape ``(in, out)``, with ``module.nf = out``. Duck-typed (class name ``Conv1D``,
    integer ``nf``, 2-D ``weight``), so transformers is never imported.

    Examples
    --------
    >>> from torch import nn
    >>> from lmctheory.nn.estimate import is_transposed_linear
    >>> is_transposed_linear(nn.Linear(3, 2))
    False
    """
    w = getattr(module, "weight", None)
    return (isinstance(module, nn.Module) and type(module).__name__ == "Conv1D" and isinstance(w, torch.Tensor)
            and w.ndim == 2 and isinstance(getattr(module, "nf", None), int) and w.shape[1] == module.nf)


def conv_group(layer: nn.Conv2d, k: int) -> nn.Conv2d:
    """Group ``k`` of a grouped ``nn.Conv2d`` as a plain ``nn.Conv2d`` (``groups=1``).

    A convolution with ``G`` groups maps input channels ``[k·C_in/G, (k+1)·C_in/G)`` to output channels
    ``[k·C_out/G, (k+1)·C_out/G)`` with its own kernels; group ``k`` alone is the returned layer (same kernel
    size, stride, padding, dilation, padding mode; weights and bias copied), whose inputs are those channels
    of the maps (``maps[:, k·C_in/G:(k+1)·C_in/G]``). Its realization costs are those of the group's neurons
    (docs/theory.md#conv-layers): neurons of different groups read different inputs and never swap.

    Examples
    --------
    >>> from torch import nn
    >>> from lmctheory.nn.estimate import conv_group
    >>> conv_group(nn.Conv2d(4, 6, 3, groups=2), 1).weight.shape
    torch.Size([3, 2, 3, 3])
    """
    if not isinstance(layer, nn.Conv2d):
        raise TypeError(f"layer must be an nn.Conv2d, got {type(layer).__name__}")
    G = layer.groups
    k = check_int(k, "k", low=0, high=G - 1)
    cin, cout = layer.in_channels // G, layer.out_channels // G
    sub = nn.Conv2d(cin, cout, layer.kernel_size, stride=layer.stride, padding=layer.padding,
                    dilation=layer.dilation, bias=layer.bias is not None, padding_mode=layer.padding_mode)
    sub = sub.to(dtype=layer.weight.dtype, device=layer.weight.device)
    with torch.no_grad():
        sub.weight.copy_(layer.weight[k * cout:(k + 1) * cout])
        if layer.bias is not None:
            sub.bias.copy_(layer.bias[k * cout:(k + 1) * cout])
    return sub


def _conv_geometry(layer):
    """``(kernel, stride, dilation, pad, pad_mode)`` of a 2-D convolution; ``pad`` in ``F.pad`` order
    ``(left, right, top, bottom)``, resolving ``padding="same"/"valid"`` as ``nn.Conv2d`` does."""
    kh, kw = layer.kernel_size
    dil = tuple(layer.dilation)
    pad = layer.padding
    if isinstance(pad, str):
        if pad == "valid":
            pad = (0, 0, 0, 0)
        else:  # "same": total dilation·(k−1), the extra pixel on the right/bottom (as nn.Conv2d)
            th, tw = dil[0] * (kh - 1), dil[1] * (kw - 1)
            pad = (tw // 2, tw - tw // 2, th // 2, th - th // 2)
    else:
        pad = (pad[1], pad[1], pad[0], pad[0])
    mode = getattr(layer, "padding_mode", "zeros")
    return (kh, kw), tuple(layer.stride), dil, pad, mode


@torch.no_grad()
def _unfold(layer, maps: torch.Tensor) -> torch.Tensor:
    """Patches ``(N·L, C·kh·kw)`` of float64 maps ``(N, C, H, W)``, image-major then location
    (row-major over the output grid); entry order ``(C, kh, kw)`` matches the flattened kernels."""
    k, stride, dil, pad, mode = _conv_geometry(layer)
    if any(pad):
        maps = nn.functional.pad(maps, pad, mode="constant" if mode == "zeros" else mode)
    P = nn.functional.unfold(maps, k, dilation=dil, padding=0, stride=stride)  # (N, d, L)
    return P.transpose(1, 2).reshape(-1, P.shape[1])


def _check_maps(layer, maps, name):
    """Feature maps ``(N, C_in, H, W)`` large enough for the layer's kernel; float64 numpy."""
    X = check_array(maps, name, ndim=4, max_abs=MAX_ABS)
    if X.shape[1] != layer.in_channels:
        raise ValueError(f"{name} must have shape (N, {layer.in_channels}, H, W) to match the layer's "
                         f"in_channels = {layer.in_channels}, got {X.shape}")
    k, _, dil, pad, _ = _conv_geometry(layer)
    for ax, (size, kk, dd, p) in enumerate(zip(X.shape[2:], k, dil, (pad[2] + pad[3], pad[0] + pad[1]))):
        if size + p < dd * (kk - 1) + 1:
            raise ValueError(f"{name} has spatial size {X.shape[2:]}, smaller than the layer's (dilated) kernel "
                             f"{k} after padding")
    return X


def conv_patches(layer, maps) -> np.ndarray:
    """Every patch of ``maps`` seen by a 2-D convolution, as float64 samples ``(N·L, C_in·kh·kw)``.

    Patch ``x`` at output location ``l`` of image ``n`` is row ``n·L + l`` (``L = H_out·W_out``,
    row-major); its entries are ordered ``(C_in, kh, kw)`` like the flattened kernels, so
    ``conv(maps)[n, i, l] = w̃_iᵀ x + b_i``. Padding (``int``, ``"same"``, ``"valid"``, any
    ``padding_mode``), stride and dilation are the layer's.

    Parameters
    ----------
    layer : nn.Conv2d (groups=1) or AsymmetricConv2d
    maps : array_like or torch.Tensor, shape (N, C_in, H, W)

    Returns
    -------
    ndarray, shape (N·H_out·W_out, C_in·kh·kw)

    References
    ----------
    docs/theory.md#conv-layers; [NI] App. F.4 (every pixel a sample).

    Examples
    --------
    >>> import torch
    >>> conv = torch.nn.Conv2d(2, 4, 3, padding=1, bias=False)
    >>> x = torch.randn(3, 2, 5, 5)
    >>> P = conv_patches(conv, x)
    >>> P.shape
    (75, 18)
    >>> W = conv.weight.detach().double().reshape(4, -1).numpy()
    >>> out = conv(x).detach().double().permute(0, 2, 3, 1).reshape(-1, 4).numpy()
    >>> bool(abs(P @ W.T - out).max() < 1e-5)
    True
    """
    if not isinstance(layer, _CONV):
        raise TypeError(f"layer must be an nn.Conv2d or AsymmetricConv2d, got {type(layer).__name__}")
    linear_arrays(layer)  # rejects grouped convolutions
    X = _check_maps(layer, maps, "maps")
    return _unfold(layer, torch.from_numpy(X)).numpy()


class _Samples:
    """The samples of one layer's input: a 2-D ``(N, d)`` array, or feature maps unfolded lazily in chunks."""

    def __init__(self, layer, inputs, d, name="inputs"):
        self.d = d
        conv = isinstance(layer, _CONV)
        nd = inputs.ndim if hasattr(inputs, "ndim") else np.ndim(inputs)
        if conv and nd == 4:
            self.maps = _check_maps(layer, inputs, name)
            self.layer = layer
            with torch.no_grad():
                self.L = int(_unfold(layer, torch.from_numpy(self.maps[:1])).shape[0])
            self.n = self.maps.shape[0] * self.L
            self.X = None
            return
        if conv and nd != 2:
            raise ValueError(f"{name} of a convolution must be feature maps (N, {layer.in_channels}, H, W) or "
                             f"patches (N, {d}), got shape {tuple(np.shape(inputs))}")
        if nd < 2:
            raise ValueError(f"{name} must have shape (N, {d}) (or (..., {d}): leading axes are samples), "
                             f"got shape {tuple(np.shape(inputs))}")
        X = check_array(inputs, name, max_abs=MAX_ABS)
        if X.shape[-1] != d:
            what = "C_in·kh·kw" if conv else "in_features"
            raise ValueError(f"{name} must have shape (N, {d}) to match the layer's {what} = {d}, got {X.shape}")
        self.X = X.reshape(-1, d)
        self.maps = None
        self.n = self.X.shape[0]

    def chunks(self, rows: int | None = None):
        """``(start, float64 chunk)`` over all samples in order, about ``rows`` samples each."""
        rows = rows or max(1, _CHUNK_BYTES // (8 * self.d))
        if self.X is not None:
            for s in range(0, self.n, rows):
                yield s, self.X[s:s + rows]
            return
        per = max(1, rows // self.L)
        for i in range(0, self.maps.shape[0], per):
            yield i * self.L, _unfold(self.layer, torch.from_numpy(self.maps[i:i + per])).numpy()

    def all(self) -> np.ndarray:
        if self.X is not None:
            return self.X
        return np.concatenate([c for _, c in self.chunks()], axis=0)

    def take(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` (sorted) gathered chunk by chunk."""
        if self.X is not None:
            return self.X[idx]
        out = []
        for s, c in self.chunks():
            lo, hi = np.searchsorted(idx, [s, s + len(c)])
            out.append(c[idx[lo:hi] - s])
        return np.concatenate(out, axis=0)


def layer_samples(layer, inputs) -> np.ndarray:
    """The samples ``(N, d)`` a layer's rows act on, from its recorded inputs.

    Linear layers: ``inputs (..., d)`` flattened over the leading axes. Convolutions: feature maps
    ``(N, C_in, H, W)`` unfolded into patches (:func:`conv_patches`), or already-unfolded patches ``(N, d)``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> layer_samples(torch.nn.Linear(4, 2), np.zeros((3, 5, 4))).shape
    (15, 4)
    """
    d = layer_arrays(layer)[0].shape[1]
    return _Samples(layer, inputs, d).all()


def _sign_fix(B):
    idx = np.argmax(np.abs(B), axis=0)
    return B * np.sign(B[idx, np.arange(B.shape[1])])


def _streamed_basis(samples: _Samples, explained_variance: float):
    """PCA basis from the exact covariance accumulated over chunks (shifted by the first chunk's mean
    against cancellation); the same selection rule as :func:`lmctheory.subspace_basis`."""
    d = samples.d
    shift, n, amax = None, 0, 0.0
    s1, G = np.zeros(d), np.zeros((d, d))
    for _, c in samples.chunks():
        amax = max(amax, float(np.max(np.abs(c))))
        if shift is None:
            shift = c.mean(axis=0)
        c = c - shift
        s1 += c.sum(axis=0)
        G += c.T @ c
        n += c.shape[0]
    mu = s1 / n
    G -= n * np.outer(mu, mu)
    lam, V = np.linalg.eigh(0.5 * (G + G.T))
    lam, V = np.clip(lam[::-1], 0.0, None), V[:, ::-1]
    total = float(lam.sum())
    if not total > 0.0 or np.sqrt(lam[0]) <= 1e-12 * max(1.0, amax):
        raise ValueError("inputs has zero variance after centering; no subspace can be estimated")
    cum = np.cumsum(lam) / total
    k = min(int(np.searchsorted(cum, explained_variance - 4.0 * d * np.finfo(float).eps, side="left")) + 1, d)
    return _sign_fix(V[:, :k].copy()), float(cum[k - 1]), n


def estimate_realization_costs(layer, inputs, explained_variance: float = 0.9, *, basis=None,
                               rtol: float = 1e-8, max_samples: int | None = None, large: str = "stream",
                               seed: int = 0) -> RealizationEstimate:
    """Mahalanobis realization costs of one layer from its input activations ([NI] F.7, eq. 10).

    ``C[i, j] = R_i(a_j) = (a_j − v_i)ᵀ S_i⁻¹ (a_j − v_i)`` with ``a_j = Uᵀw̃_j``, ``v_i = Uᵀf_i``,
    ``S_i = Uᵀ diag(d_i²) U`` and ``U`` the PCA basis of the layer's input samples.

    Parameters
    ----------
    layer : nn.Linear, nn.Conv2d, AsymmetricLinear, AsymmetricConv2d or (effective, fixed, diag)
        Arrays of shape ``(n, d)``; ``nn.Linear`` / ``nn.Conv2d`` mean ``F = 0``, ``D = 1``; a
        convolution's rows are its flattened ``C_in·kh·kw`` kernels.
    inputs : array_like or torch.Tensor
        The layer's input activations (e.g. from :func:`record_layer_inputs`): ``(N, d)``, or
        ``(..., d)`` for a linear layer (leading axes flattened to samples, e.g. ``(batch, tokens, d)``),
        or feature maps ``(N, C_in, H, W)`` for a convolution (every patch a sample, :func:`conv_patches`).
    explained_variance : float in (0, 1]
        Target of the PCA basis (:func:`lmctheory.subspace_basis`).
    basis : array_like (d, k), optional
        Use this orthonormal basis instead of estimating one (e.g. the data's known ``U``).
    rtol : float
        Range-membership tolerance of :func:`lmctheory.realization_costs`.
    max_samples : int, optional
        Most samples the exact SVD is run on (default ``max(1000, 2²² // d)``: ≤ 32 MiB of samples).
        More samples than this are handled as ``large`` says.
    large : {"stream", "subsample"}
        ``stream``: basis from the exact covariance of all samples, accumulated in chunks of about
        8 MiB (memory ``O(d² + chunk)``; a convolution's patches are unfolded chunk by chunk and never
        held at once). ``subsample``: exact SVD of ``max_samples`` samples drawn uniformly without
        replacement (``numpy.random.default_rng(seed)``).
    seed : int
        Seed of the subsample.

    Returns
    -------
    RealizationEstimate
        With ``sampling``, ``n_samples`` and ``n_available`` stating what the basis was estimated from.

    Raises
    ------
    ValueError
        Wrong input width or channel count; ``inputs`` with zero variance after centering (e.g.
        constant rows: no PCA subspace); too few samples for the requested explained variance (the
        PCA basis needs ``k ≤ N − 2``, else it merely spans the sample); fewer than 2 neurons; a
        grouped convolution.
    TypeError
        A layer type it cannot read (naming the type).

    References
    ----------
    [NI] eq. (10), App. F.7; docs/theory.md §2, §8; docs/theory.md#conv-layers.

    Examples
    --------
    >>> import torch
    >>> from lmctheory.nn import AsymmetricConv2d
    >>> conv = AsymmetricConv2d(2, 4, 3, padding=1, mode="wasym", fixed_per_row=3, sigma_f=1.0)
    >>> est = estimate_realization_costs(conv, torch.randn(20, 2, 6, 6), 0.9)
    >>> est.costs.shape, est.n_samples, est.sampling
    ((4, 4), 720, 'all')
    """
    from .. import costs as _costs
    from .. import gram as _gram
    from .. import subspace as _sub

    E, F, D = layer_arrays(layer)
    n, d = E.shape
    if n < 2:
        raise ValueError(f"the layer needs at least 2 neurons (rows) for swap costs, got {n}")
    large = check_choice(large, "large", ("stream", "subsample"))
    cap = max(1000, 2**22 // d) if max_samples is None else check_int(max_samples, "max_samples", low=3)
    seed = check_seed(seed)
    samples = _Samples(layer, inputs, d)
    N = samples.n
    if basis is None:
        explained_variance = check_scalar(explained_variance, "explained_variance", low=0.0, high=1.0,
                                          low_inclusive=False)
        if N < 3:
            raise ValueError(f"inputs has {N} rows: too few samples to estimate a PCA subspace (need at least 3)")
        if N > cap and large == "stream":
            U, ratio, used = _streamed_basis(samples, explained_variance)
            sampling = "stream"
        else:
            if N > cap:
                idx = np.sort(np.random.default_rng(seed).choice(N, size=cap, replace=False))
                X, sampling = samples.take(idx), "subsample"
            else:
                X, sampling = samples.all(), "all"
            used = X.shape[0]
            try:
                U, ratio = _sub.subspace_basis(X, explained_variance)
            except ValueError as exc:  # subspace_basis names its argument X; here it is `inputs`
                msg = str(exc)
                raise ValueError("inputs " + msg[2:] if msg.startswith("X ") else f"inputs: {msg}") from None
            del X
        U = np.asarray(U, float)
        if U.shape[1] > used - 2:
            raise ValueError(
                f"too few samples for explained_variance={explained_variance:g}: the PCA basis needs "
                f"k={U.shape[1]} directions from N={used} inputs (need k <= N - 2, i.e. more samples)")
        ratio = float(ratio)
    else:
        from .._validation import check_basis

        U = check_basis(basis)
        if U.shape[0] != d:
            raise ValueError(f"basis must have shape ({d}, k), got {U.shape}")
        ratio, used, sampling = float("nan"), 0, "basis_given"
    C = _costs.realization_costs(E, F, D, U, rtol=rtol)
    centers = np.asarray(_sub.projected_centers(F, U))
    return RealizationEstimate(
        costs=C,
        swap_costs=_costs.swap_costs(C),
        basis=U,
        ratio=ratio,
        k=int(U.shape[1]),
        coherence=float(_sub.subspace_coherence(U)),
        coefficients=E @ U,
        centers=centers,
        center_gaps=np.asarray(_sub.pairwise_center_gaps(centers)),
        min_center_gap=float(_sub.min_center_gap(centers)),
        gram_spectra=np.asarray(_gram.gram_spectra(D, U)),
        n_samples=int(used),
        sampling=sampling,
        n_available=int(N),
    )


class _LayerDict(dict):
    """A dict ``{layer name: value}`` in forward order with what the recording found:

    ``calls`` : ``{name: number of forward calls}`` (a layer called more than once has the inputs of
    every call concatenated as extra samples); ``skipped`` : names of supported layers that were
    never called through their ``forward`` (e.g. ``nn.MultiheadAttention.out_proj``, whose weight is
    used functionally); ``unsupported`` : ``{name: reason}`` for weight layers that cannot be read
    (other convolutions, grouped ``Conv2d``).
    """

    def __init__(self, data, calls=None, skipped=(), unsupported=None):
        super().__init__(data)
        self.calls = dict(calls or {})
        self.skipped = list(skipped)
        self.unsupported = dict(unsupported or {})


class LayerInputs(_LayerDict):
    """Result of :func:`record_layer_inputs` (a dict; see the attributes ``calls``, ``skipped``, ``unsupported``)."""


class LayerEstimates(_LayerDict):
    """Result of :func:`estimate_all_layers` (a dict; see the attributes ``calls``, ``skipped``, ``unsupported``)."""


def _readable(m) -> str | None:
    """None if ``m`` is a layer the estimates can read, else why not."""
    if isinstance(m, nn.Conv2d) and m.groups != 1 and m.out_channels // m.groups < 2:
        return (f"nn.Conv2d with groups={m.groups} and one output channel per group (depthwise): no two "
                "neurons share inputs, so there is no swap to cost")
    if isinstance(m, nn.modules.conv._ConvNd) and not isinstance(m, nn.Conv2d):
        return f"{type(m).__name__} (only Conv2d is supported)"
    return None


@torch.no_grad()
def record_layer_inputs(model: nn.Module, X) -> LayerInputs:
    """Input activations of every linear and convolutional layer of ``model`` on ``X``.

    Layers: ``nn.Linear``, ``nn.Conv2d`` (grouped ones too, with at least 2 output channels per group),
    :class:`AsymmetricLinear`, :class:`AsymmetricConv2d`, Hugging Face ``Conv1D``
    (:func:`is_transposed_linear`), recorded with forward hooks in eval mode, whether called with a
    positional or a keyword input (``self.fc(input=x)``). Every call is recorded: a
    layer called ``c`` times in one forward has the inputs of all ``c`` calls concatenated along the
    sample axis (``result.calls[name] = c``).

    Parameters
    ----------
    model : nn.Module
    X : torch.Tensor, array_like, tuple or dict
        Model inputs (``(N, d)``, images ``(N, C, H, W)``, …), real numeric and finite, converted to
        the model's dtype (:func:`lmctheory.nn.training.check_inputs_nd`); integer token ids ``(N, T)``,
        a tuple of positional inputs or a dict of keyword inputs are read by
        :func:`lmctheory.nn._inputs.as_model_inputs` (floating tensors cast, token ids kept).

    Returns
    -------
    LayerInputs
        ``{module name: float64 array}`` in order of first call: a linear layer's inputs flattened to
        ``(samples, in_features)`` (``(batch, tokens, d)`` → ``(batch·tokens, d)``); a convolution's
        feature maps ``(N, C_in, H, W)`` (calls with different spatial sizes: their patches
        ``(samples, C_in·kh·kw)``, :func:`conv_patches`). Attributes ``calls``, ``skipped`` (layers
        never called through ``forward``, e.g. ``nn.MultiheadAttention``'s ``out_proj``) and
        ``unsupported`` (weight layers of other types); a ``UserWarning`` names skipped and
        unsupported layers.

    Raises
    ------
    TypeError
        ``model`` has no supported layer.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(16, 2))
    >>> rec = record_layer_inputs(net, torch.randn(5, 1, 4, 4))
    >>> {k: v.shape for k, v in rec.items()}
    {'0': (5, 1, 4, 4), '2': (5, 16)}
    """
    check_module(model, "model")
    if isinstance(X, (tuple, Mapping)) or (isinstance(X, torch.Tensor) and not X.is_floating_point()):
        inputs = as_model_inputs(X, "X", model).to(dtype=model_dtype(model))  # token ids stay integers
    else:
        inputs = ModelInputs((check_inputs_nd(X, "X", model=model),), {})
    unsupported = {nm: why for nm, m in model.named_modules() if (why := _readable(m)) is not None}
    named = [(nm, m) for nm, m in model.named_modules()
             if (isinstance(m, _LINEAR + _CONV) or is_transposed_linear(m)) and nm not in unsupported]
    if not named:
        extra = f" (unsupported: {unsupported})" if unsupported else ""
        raise TypeError(f"{type(model).__name__} has no nn.Linear, nn.Conv2d, AsymmetricLinear, AsymmetricConv2d "
                        f"or Conv1D layer to record{extra}")
    got: dict[str, list] = {}

    def hook(mod, args, kwargs, _out, nm):
        x = args[0] if args else next((v for v in kwargs.values() if isinstance(v, torch.Tensor)), None)
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"layer {nm!r} ({type(mod).__name__}) was called without a tensor input")
        x = x.detach().cpu().double()
        if not isinstance(mod, _CONV):
            x = x.reshape(-1, x.shape[-1])
        got.setdefault(nm, []).append(x.numpy())

    hooks = [m.register_forward_hook(lambda mod, a, kw, o, nm=nm: hook(mod, a, kw, o, nm), with_kwargs=True)
             for nm, m in named]
    try:
        with eval_mode(model):
            call_model(model, inputs)
    finally:
        for h in hooks:
            h.remove()
    mods = dict(named)
    out = {}
    for nm, parts in got.items():  # dict order = order of first call
        if len(parts) == 1:
            out[nm] = parts[0]
        elif isinstance(mods[nm], _CONV) and len({p.shape[1:] for p in parts}) > 1:
            out[nm] = np.concatenate([conv_patches(mods[nm], p) for p in parts], axis=0)
        else:
            out[nm] = np.concatenate(parts, axis=0)
    skipped = [nm for nm, _ in named if nm not in got]
    if skipped or unsupported:
        msg = []
        if skipped:
            msg.append(f"never called through forward (no inputs recorded): {skipped}")
        if unsupported:
            msg.append(f"unsupported layer types: {unsupported}")
        warnings.warn("record_layer_inputs: " + "; ".join(msg), UserWarning, stacklevel=2)
    return LayerInputs(out, calls={nm: len(p) for nm, p in got.items()}, skipped=skipped, unsupported=unsupported)


def estimate_all_layers(model: nn.Module, X, *, explained_variance: float = 0.9, rtol: float = 1e-8,
                        max_samples: int | None = None, large: str = "stream", seed: int = 0
                        ) -> LayerEstimates:
    """:func:`estimate_realization_costs` for every linear and convolutional layer of ``model``.

    Inputs are recorded on ``X`` with :func:`record_layer_inputs` (every call of every layer; a
    convolution's patches as samples); ``max_samples``, ``large``, ``seed`` as in
    :func:`estimate_realization_costs`. Returns a :class:`LayerEstimates` dict with the recording's
    ``calls``, ``skipped`` and ``unsupported``. A grouped ``nn.Conv2d`` is estimated group by group
    (:func:`conv_group`: its neurons of one group share their inputs), under the keys ``"<name>/group<k>"``;
    a Hugging Face ``Conv1D`` is read as the linear layer it is (rows ``weight.T``).

    References
    ----------
    [NI] App. F.7, eq. (10); docs/theory.md §8.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(16, 3))
    >>> ests = estimate_all_layers(net, torch.randn(40, 1, 4, 4))
    >>> {k: e.costs.shape for k, e in ests.items()}
    {'0': (4, 4), '3': (3, 3)}
    """
    inputs = record_layer_inputs(model, X)
    mods = dict(model.named_modules())
    opts = dict(rtol=rtol, max_samples=max_samples, large=large, seed=seed)
    out = {}
    for nm, H in inputs.items():
        m = mods[nm]
        if isinstance(m, nn.Conv2d) and m.groups != 1:
            if H.ndim != 4:
                raise ValueError(f"grouped convolution {nm!r} was called on inputs of different spatial sizes; "
                                 "its groups cannot be separated from the concatenated patches")
            cin = m.in_channels // m.groups
            for k in range(m.groups):
                out[f"{nm}/group{k}"] = estimate_realization_costs(
                    conv_group(m, k), H[:, k * cin:(k + 1) * cin], explained_variance, **opts)
        else:
            layer = layer_arrays(m) if is_transposed_linear(m) else m
            out[nm] = estimate_realization_costs(layer, H, explained_variance, **opts)
    return LayerEstimates(out, calls=inputs.calls, skipped=inputs.skipped, unsupported=inputs.unsupported)


@dataclass(frozen=True)
class RidgeCost:
    """Relaxed realization cost of Def. E.3 for one neuron class and one target.

    ``cost = fit/γ + norm`` with ``fit = mean (σ(·) − g)²`` and ``norm = ‖w‖²`` at the minimizer
    ``w`` (and bias ``bias``); ``method`` is ``"closed_form"`` or ``"lbfgs"``.
    """

    cost: float
    fit: float
    norm: float
    w: np.ndarray
    bias: float
    method: str


def _act(name):
    return {"identity": lambda t: t, "relu": torch.relu, "gelu": nn.functional.gelu, "tanh": torch.tanh}[name]


def ridge_realization_cost(layer_or_arrays, neuron: int, target_fn_values, inputs, gamma: float,
                           activation: str = "identity", *, bias=None, init=None, steps: int = 100
                           ) -> RidgeCost:
    """Relaxed realization cost ``R_i^γ(g)`` of neuron ``i``'s class (Def. E.3) by ridge regression.

    ``R_i^γ(g) = min_w (1/γ)·mean_n (σ((f_i + d_i ⊙ w)ᵀx_n + b) − g_n)² + ‖w‖²`` (trainable part
    ``w`` penalized; ``w`` acts only through ``d_i ⊙ w``).

    Parameters
    ----------
    layer_or_arrays : nn.Linear, nn.Conv2d, AsymmetricLinear, AsymmetricConv2d or (effective, fixed, diag)
    neuron : int
        Row ``i`` whose class (``f_i``, ``d_i``) realizes the target.
    target_fn_values : array_like (N,)
        ``g(x_n)`` — e.g. neuron ``j``'s output ``σ(w̃_jᵀx_n + b_j)``.
    inputs : array_like (N, d)
        The inputs ``x_n`` (a convolution's feature maps ``(N, C_in, H, W)`` are unfolded into patches,
        linear inputs ``(..., d)`` flattened; :func:`layer_samples`).
    gamma : float > 0
        Relaxation ``γ``.
    activation : {"identity", "relu", "gelu", "tanh"}
        ``identity``: closed-form ridge (exact minimizer). Otherwise L-BFGS in float64.
    bias : None, float or "free", default None
        ``None``: no bias (Def. E.3 as stated; same as 0); a float: that fixed bias; ``"free"``: an
        unpenalized bias is optimized too (for ``identity`` by centering) — for layers trained with
        biases, where it gives a lower cost than Def. E.3 on uncentred inputs.
    init : array_like (d,), optional
        Starting ``w`` of the non-linear optimization (default: the linear-surrogate solution).
    steps : int
        Maximum L-BFGS iterations (non-linear case).

    Notes
    -----
    Non-linear activations give a non-convex objective: the result is an upper bound on
    ``R_i^γ`` (a local minimum), and it is the cost reported by ``RidgeCost.cost``.
    """
    E, F, D = layer_arrays(layer_or_arrays)
    n, d = E.shape
    i = check_int(neuron, "neuron", low=0, high=n - 1)
    X = _Samples(layer_or_arrays, inputs, d).all()
    N = X.shape[0]
    g = check_array(target_fn_values, "target_fn_values", shape=(N,))
    gamma = check_scalar(gamma, "gamma", low=0.0, low_inclusive=False)
    activation = check_choice(activation, "activation", ACTIVATIONS)
    steps = check_int(steps, "steps", low=1)
    free = isinstance(bias, str)
    if free:
        check_choice(bias, "bias", ("free",))
        b0 = 0.0
    else:
        b0 = 0.0 if bias is None else check_scalar(bias, "bias")
    f, dg = F[i], D[i]
    Xd = X * dg[None, :]          # w enters as Xd @ w
    r = g - X @ f - b0            # residual the trainable part must explain (identity)
    if free:
        mx, mr = Xd.mean(0), r.mean()
        Xc, rc = Xd - mx, r - mr
    else:
        Xc, rc = Xd, r
    # normal equations of (1/(γN))‖Xc w − rc‖² + ‖w‖²
    A = Xc.T @ Xc / (gamma * N) + np.eye(d)
    w = np.linalg.solve(A, Xc.T @ rc / (gamma * N))
    b = (b0 + (mr - mx @ w)) if free else b0

    def objective_np(w, b):
        pre = X @ (f + dg * w) + b
        out = torch.as_tensor(pre)
        val = _act(activation)(out).numpy()
        fit = float(np.mean((val - g) ** 2))
        return fit, float(w @ w)

    if activation == "identity":
        fit, nrm = objective_np(w, b)
        return RidgeCost(cost=fit / gamma + nrm, fit=fit, norm=nrm, w=w, bias=float(b), method="closed_form")

    if init is not None:
        w = check_array(init, "init", shape=(d,))
    Xt, gt = torch.as_tensor(X), torch.as_tensor(g)
    ft, dt = torch.as_tensor(f), torch.as_tensor(dg)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(float(b), dtype=torch.float64, requires_grad=free)
    act = _act(activation)
    params = [wt, bt] if free else [wt]
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=steps, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-10, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        loss = ((act(Xt @ (ft + dt * wt) + bt) - gt) ** 2).mean() / gamma + (wt * wt).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    w, b = wt.detach().numpy().copy(), float(bt.detach())
    fit, nrm = objective_np(w, b)
    return RidgeCost(cost=fit / gamma + nrm, fit=fit, norm=nrm, w=w, bias=b, method="lbfgs")
