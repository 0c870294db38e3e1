"""Recompute BatchNorm statistics of any model on data (REPAIR-style reset; Jordan et al. 2023).

A model obtained by interpolating, merging or moving along a curve between two networks keeps
running statistics that do not describe its own activations: its BatchNorm layers must be reset
and their mean/variance re-estimated on data before it is evaluated. This module does that for any
``nn.Module`` (every ``torch.nn.modules.batchnorm._BatchNorm`` submodule: ``BatchNorm1d/2d/3d``,
``SyncBatchNorm``), without knowing the architecture.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .._validation import check_int
from ._checks import describe, model_dtype
from ._inputs import ModelInputs, as_model_inputs, call_model, model_device, modes_restored_on_error

__all__ = ["batchnorm_layers", "reset_batchnorm"]


def batchnorm_layers(model: nn.Module) -> list[tuple[str, _BatchNorm]]:
    """``(name, module)`` of every BatchNorm layer of ``model`` that tracks running statistics."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return [(n, m) for n, m in model.named_modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def _bn_batches(X, batch_size, device, dtype):
    """``ModelInputs`` batches of ``X`` (model inputs, or an iterable of batches) on ``device``."""
    if isinstance(X, (torch.Tensor, tuple, dict, ModelInputs)):
        inputs = as_model_inputs(X, "X")
        if inputs.batch_size < 2:
            raise ValueError(f"X must hold at least 2 samples along axis 0, got {inputs.batch_size}")
        bs = inputs.batch_size if batch_size is None else check_int(batch_size, "batch_size", low=2)
        return (b.to(device, dtype=dtype) for b in inputs.batches(bs))
    if isinstance(X, (str, bytes)) or not hasattr(X, "__iter__"):
        raise TypeError(f"X must be model inputs (a torch tensor, a tuple or a dict) or an iterable of batches, "
                        f"got {describe(X)}")

    def each():
        for i, b in enumerate(X):
            b = b[0] if isinstance(b, (tuple, list)) else b  # (inputs, targets) pairs: the inputs
            yield as_model_inputs(b, f"batch {i} of X").to(device, dtype=dtype)
    return each()


@torch.no_grad()
def reset_batchnorm(model: nn.Module, X, *, batch_size: int | None = 256) -> nn.Module:
    """Reset every BatchNorm's running mean/variance and re-estimate them on ``X`` (in place; returned).

    The statistics are exact averages over the batches (``momentum=None``), so with
    ``batch_size=None`` (one batch) they are the mean and unbiased variance of each channel's
    pre-normalization input on ``X``. Nothing but the running statistics (and
    ``num_batches_tracked``) changes; a model without BatchNorm is returned unchanged. The model is
    returned in eval mode; on error every module gets its own earlier mode back.

    Parameters
    ----------
    model : nn.Module
        Any model; its forward must accept a batch of ``X``.
    X : torch.Tensor ``(N, ...)``, tuple, dict, or an iterable of batches
        Inputs (e.g. training images), in the form of docs/calling_convention.md. An iterable (a
        ``DataLoader``) may yield inputs or ``(inputs, targets)`` pairs; the first element is used. Inputs
        are moved to the model's device and floating ones cast to its dtype.
    batch_size : int or None
        Batch size used to split ``X`` given as inputs (``None``: one batch). Batches of one sample are
        skipped (BatchNorm needs two samples for a variance).

    References
    ----------
    docs/theory.md §10 (barriers of the path measured after the reset); Jordan et al. (2023), REPAIR.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    >>> X = torch.randn(64, 3)
    >>> _ = reset_batchnorm(net, X, batch_size=None)
    >>> bool(torch.allclose(net[1].running_mean, net[0](X).mean(0), atol=1e-6))
    True
    """
    bns = [m for _, m in batchnorm_layers(model)]
    if not bns:
        return model
    batches = _bn_batches(X, batch_size, model_device(model), model_dtype(model))
    saved = [m.momentum for m in bns]
    seen = 0
    with modes_restored_on_error(model):
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches below
        model.train()
        try:
            for xb in batches:
                if xb.batch_size > 1:
                    call_model(model, xb)
                    seen += 1
        finally:
            for m, mom in zip(bns, saved):
                m.momentum = mom
    model.eval()
    if seen == 0:
        raise ValueError("X yielded no batch of at least 2 samples: BatchNorm statistics cannot be estimated")
    return model
