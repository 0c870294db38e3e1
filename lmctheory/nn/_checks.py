"""Torch-side input checkers of :mod:`lmctheory.nn` (the counterpart of :mod:`lmctheory._validation`).

Every public function of the torch bridge validates its inputs with these helpers before any model
runs, so bad input raises ``TypeError`` / ``ValueError`` naming the argument and the expected shape or
range instead of a torch ``RuntimeError`` / ``IndexError`` or a silent NaN.

Conventions
-----------
``X`` (inputs, :func:`check_X`)
    A 2-D ``(N, d)`` real numeric torch tensor or array_like (array_like only where the function
    documents it). Integer and bool entries are accepted and converted, like
    :func:`lmctheory._validation.check_array`; complex, object and string input raise ``TypeError``;
    NaN/±inf, entries beyond the range of the target dtype (e.g. 1e300 for a float32 model), empty input,
    too few rows and a width other than the model's ``in_features`` raise ``ValueError``. The result is a detached,
    C-contiguous tensor in the model's floating dtype (float32 for the models of this package), so
    float64, Fortran-ordered, negative-stride and longdouble inputs all give the same result as the
    equivalent C-ordered float32 input. A valid C-contiguous tensor already in that dtype is returned
    as is (no copy), which keeps results on valid input bit-identical.
``y`` (class labels, :func:`check_labels`)
    Integer dtype (not bool), shape ``(N,)``, values in ``[0, n_classes − 1]``; float labels only
    where integral floats are documented (calibration).
``y`` (regression targets, :func:`check_targets`)
    Real numeric, finite, shape ``(N,)`` (one output) or ``(N, n_outputs)``.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch import nn

from .._validation import check_array, check_int

__all__ = [
    "describe",
    "check_module",
    "model_dtype",
    "model_io",
    "check_X",
    "check_labels",
    "check_targets",
    "check_layer_indices",
]


def describe(x) -> str:
    """Short description of ``x`` for error messages (type, dtype, shape)."""
    if isinstance(x, torch.Tensor):
        return f"tensor of dtype {x.dtype} and shape {tuple(x.shape)}"
    if isinstance(x, np.ndarray):
        return f"array of dtype {x.dtype} and shape {x.shape}"
    return type(x).__name__


def check_module(model, name: str = "model", cls=nn.Module, what: str | None = None):
    """``model`` must be an instance of ``cls`` (default ``torch.nn.Module``); ``TypeError`` naming ``name``."""
    if not isinstance(model, cls):
        what = what or ("a torch.nn.Module" if cls is nn.Module else f"a {cls.__qualname__}")
        raise TypeError(f"{name} must be {what}, got {describe(model)}")
    return model


def model_dtype(model: nn.Module) -> torch.dtype:
    """Floating dtype of the model's first floating parameter (or buffer); the default dtype if none."""
    for t in model.parameters():
        if t.is_floating_point():
            return t.dtype
    for t in model.buffers():
        if t.is_floating_point():
            return t.dtype
    return torch.get_default_dtype()


def model_io(model: nn.Module) -> tuple[int | None, int | None]:
    """``(in_features, out_features)`` of a model whose architecture fixes them, else ``None`` entries.

    Read from the module's own integer ``in_features`` / ``out_features`` attributes (``nn.Linear``,
    :class:`~lmctheory.nn.layers.AsymmetricLinear`, :class:`~lmctheory.nn.models.MLP`,
    :class:`~lmctheory.nn.biasfree.WidthMLP`, or any module that declares them), or from the first (last)
    module of an ``nn.Sequential`` that declares them. For other modules the forward pass decides.
    """
    if isinstance(model, nn.Sequential) and len(model) > 0:
        return _declared(model[0], "in_features"), _declared(model[-1], "out_features")
    return _declared(model, "in_features"), _declared(model, "out_features")


def _declared(module, attr: str) -> int | None:
    """A positive integer ``module.<attr>`` (a lazy layer's 0 before its first call counts as undeclared)."""
    v = getattr(module, attr, None)
    if isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_)) and v > 0:
        return int(v)
    return None


def _finite_or_raise(t: torch.Tensor, name: str) -> None:
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        bad = "NaN" if bool(torch.isnan(t).any()) else "inf"
        raise ValueError(f"{name} contains {bad}; all entries must be finite")


def _range_or_raise(m: float, target: torch.dtype, name: str) -> None:
    """``max |X| = m`` must be representable in ``target`` (else the conversion would give inf)."""
    if target.is_floating_point and m > torch.finfo(target).max:
        raise ValueError(f"{name} has entries of magnitude {m:.3g}, beyond the range of {target} (the model's "
                         f"dtype, max {torch.finfo(target).max:.3g}); rescale the input")


def _has_values(t: torch.Tensor, name: str) -> None:
    """A dense tensor with data: meta tensors (shape only) and sparse layouts get a message naming ``name``."""
    if t.device.type == "meta":
        raise ValueError(f"{name} is a meta-device tensor (a shape without values), got {describe(t)}; "
                         "pass a tensor holding data")
    if t.layout != torch.strided:
        raise TypeError(f"{name} must be a dense tensor, got layout {t.layout} ({describe(t)}); "
                        "convert it with .to_dense()")


def check_X(
    X,
    name: str = "X",
    *,
    model: nn.Module | None = None,
    n_features: int | None = None,
    dtype: torch.dtype | None = None,
    min_rows: int = 1,
    tensor_only: bool = False,
) -> torch.Tensor:
    """Validate inputs ``X`` of shape ``(N, d)`` and return a detached C-contiguous tensor.

    Parameters
    ----------
    X : torch.Tensor or array_like
        Real numeric; see the module doc for what is accepted and converted.
    name : str
        The argument's name, used in every message.
    model : nn.Module, optional
        Fixes the target dtype (:func:`model_dtype`) and, where known, the width (:func:`model_io`).
    n_features : int, optional
        Required width ``d`` (overrides the model's).
    dtype : torch.dtype, optional
        Target dtype (overrides the model's). Without ``model`` and ``dtype`` a floating tensor keeps its
        dtype; other input becomes float32.
    min_rows : int
        Minimum ``N`` (2 where correlations or variances are computed over the rows).
    tensor_only : bool
        Reject anything but a torch tensor (``TypeError``).
    """
    if n_features is None and model is not None:
        n_features = model_io(model)[0]
    target = dtype if dtype is not None else (model_dtype(model) if model is not None else None)
    want = f"(N, {n_features})" if n_features is not None else "(N, d)"
    if isinstance(X, torch.Tensor):
        t = X.detach()
        _has_values(t, name)
        if t.is_complex():
            raise TypeError(f"{name} must be a real tensor, got {describe(X)}")
        if t.is_quantized:
            raise TypeError(f"{name} must be a real numeric (not quantized) tensor, got {describe(X)}")
        if t.ndim != 2:
            raise ValueError(f"{name} must be 2-D with shape {want}, got shape {tuple(t.shape)}")
        if t.shape[0] == 0 or t.shape[1] == 0:
            raise ValueError(f"{name} must not be empty, got shape {tuple(t.shape)}")
        if n_features is not None and t.shape[1] != n_features:
            raise ValueError(f"{name} must have shape {want} to match the model's input width {n_features}, "
                             f"got shape {tuple(t.shape)}")
        if t.shape[0] < min_rows:
            raise ValueError(f"{name} needs at least {min_rows} rows, got shape {tuple(t.shape)}")
        if target is None:
            target = t.dtype if t.is_floating_point() else torch.float32
        _finite_or_raise(t, name)
        if t.dtype != target:
            if t.dtype != torch.bool:
                _range_or_raise(float(t.abs().max().double()), target, name)
            t = t.to(target)
        return t.contiguous()
    if tensor_only:
        raise TypeError(f"{name} must be a torch tensor of shape {want}, got {describe(X)}")
    if isinstance(X, (list, tuple)) and any(isinstance(e, torch.Tensor) for e in X):
        # rows given as tensors: numpy cannot read bf16, meta, sparse or GPU tensors itself
        for i, e in enumerate(X):
            if isinstance(e, torch.Tensor):
                _has_values(e, f"{name}[{i}]")
        X = [e.detach().cpu().double() if isinstance(e, torch.Tensor) and e.is_floating_point() else e for e in X]
    arr = check_array(X, name, ndim=2, shape=(None, n_features) if n_features is not None else None,
                      min_rows=min_rows)
    target = target if target is not None else torch.float32
    _range_or_raise(float(np.max(np.abs(arr))), target, name)
    return torch.as_tensor(arr, dtype=target).contiguous()


def _label_array(y, name: str, tensor_only: bool):
    """``y`` as a numpy array (for checks) plus the original tensor (or None)."""
    if isinstance(y, torch.Tensor):
        return y.detach().cpu().numpy() if y.dtype != torch.bfloat16 else y.detach().float().cpu().numpy(), y
    if tensor_only:
        raise TypeError(f"{name} must be a torch tensor, got {describe(y)}")
    if isinstance(y, (str, bytes)):
        raise TypeError(f"{name} must be an array of class labels, got {describe(y)}")
    try:
        return np.asarray(y), None
    except (ValueError, TypeError) as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be an array of class labels, got {describe(y)}: {exc}") from None


def check_labels(
    y,
    name: str = "y",
    *,
    n_rows: int,
    n_classes: int | None = None,
    integral_float: bool = False,
    tensor_only: bool = False,
    as_numpy: bool = False,
):
    """Class labels: integer dtype (not bool), shape ``(n_rows,)``, values in ``[0, n_classes − 1]``.

    ``integral_float``: also accept float labels whose values are finite integers. Returns an int64
    torch tensor (the same tensor when it already is one), or an int64 numpy array with ``as_numpy``.
    """
    arr, tens = _label_array(y, name, tensor_only)
    if arr.dtype == object or np.issubdtype(arr.dtype, np.bool_) or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise TypeError(f"{name} must hold integer class labels (int64), got {describe(y)}")
    if np.issubdtype(arr.dtype, np.floating):
        ok = integral_float and bool(np.all(np.isfinite(arr))) and bool(np.all(arr == np.round(arr)))
        if not ok:
            hint = "" if integral_float else " (float labels are not accepted: convert with y.long())"
            raise TypeError(f"{name} must hold integer class labels (int64), got {describe(y)}{hint}")
    if arr.shape != (n_rows,):
        raise ValueError(f"{name} must have shape ({n_rows},) to match the {n_rows} rows of X "
                         f"(one class label per row), got shape {arr.shape}")
    lo, hi = (arr.min().item(), arr.max().item()) if arr.size else (0, 0)
    if n_classes is not None:
        if lo < 0 or hi > n_classes - 1:
            raise ValueError(f"{name} must hold labels in [0, {n_classes - 1}] (the model has {n_classes} "
                             f"outputs), got values in [{_fmt(lo)}, {_fmt(hi)}]")
    elif lo < 0:
        raise ValueError(f"{name} must hold non-negative class labels, got values in [{_fmt(lo)}, {_fmt(hi)}]")
    if as_numpy:
        return arr.astype(np.int64)
    if tens is not None:
        return tens.detach() if tens.dtype == torch.int64 else tens.detach().to(torch.int64)
    return torch.as_tensor(arr.astype(np.int64))


def _fmt(v) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def check_targets(y, name: str = "y", *, n_rows: int, n_outputs: int | None = None,
                  tensor_only: bool = False) -> torch.Tensor:
    """Regression targets: real numeric (not bool), finite, shape ``(n_rows,)`` or ``(n_rows, n_outputs)``.

    A 1-D ``y`` needs a single output. Returns a detached tensor (dtype unchanged).
    """
    if isinstance(y, torch.Tensor):
        t = y.detach()
    elif tensor_only:
        raise TypeError(f"{name} must be a torch tensor, got {describe(y)}")
    else:
        t = torch.as_tensor(check_array(y, name, ndim=(1, 2)))
    if t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numeric regression targets, got {describe(y)}")
    ok_shape = t.ndim in (1, 2) and t.shape[0] == n_rows
    if ok_shape and n_outputs is not None:
        ok_shape = (t.ndim == 1 and n_outputs == 1) or (t.ndim == 2 and t.shape[1] == n_outputs)
    if not ok_shape:
        want = f"({n_rows},) or ({n_rows}, {n_outputs})" if n_outputs in (None, 1) else f"({n_rows}, {n_outputs})"
        if n_outputs is None:
            want = f"({n_rows},) or ({n_rows}, k)"
        raise ValueError(f"{name} must have shape {want} to match the {n_rows} rows of X"
                         + (f" and the model's {n_outputs} outputs" if n_outputs is not None else "")
                         + f", got shape {tuple(t.shape)}")
    _finite_or_raise(t, name)
    return t


def check_layer_indices(layers, name: str, n_layers: int) -> list[int]:
    """1-based layer indices in ``[1, n_layers]``: ``None`` → all, a single int → ``[int]``, else a
    non-empty sequence of ints (``TypeError`` / ``ValueError`` naming ``name``)."""
    if layers is None:
        return list(range(1, n_layers + 1))
    if isinstance(layers, (numbers.Integral, np.integer)) and not isinstance(layers, (bool, np.bool_)):
        return [check_int(layers, name, low=1, high=n_layers)]
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
        raise TypeError(f"{name} must be an int or a sequence of ints in [1, {n_layers}], got {describe(layers)}")
    out = [check_int(v, f"{name}[{i}]", low=1, high=n_layers) for i, v in enumerate(layers)]
    if not out:
        raise ValueError(f"{name} must name at least one layer in [1, {n_layers}], got an empty sequence")
    return out
