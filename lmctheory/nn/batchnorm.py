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

__all__ = ["batchnorm_layers", "reset_batchnorm"]


def batchnorm_layers(model: nn.Module) -> list[tuple[str, _BatchNorm]]:
    """``(name, module)`` of every BatchNorm layer of ``model`` that tracks running statistics."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return [(n, m) for n, m in model.named_modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


@torch.no_grad()
def reset_batchnorm(model: nn.Module, X, batch_size: int | None = 256) -> nn.Module:
    """Reset every BatchNorm's running mean/variance and re-estimate them on ``X`` (in place; returned).

    The statistics are exact averages over the batches (``momentum=None``), so with
    ``batch_size=None`` (one batch) they are the mean and unbiased variance of each channel's
    pre-normalization input on ``X``. Nothing but the running statistics (and
    ``num_batches_tracked``) changes; a model without BatchNorm is returned unchanged. The model is
    left in eval mode.

    Parameters
    ----------
    model : nn.Module
        Any model; its forward must accept a batch of ``X``.
    X : torch.Tensor ``(N, ...)`` or an iterable of batches
        Inputs (e.g. training images). An iterable (a ``DataLoader``) may yield tensors or
        ``(inputs, targets)`` tuples; the first element is used.
    batch_size : int or None
        Batch size used to split a tensor ``X`` (``None``: one batch). Batches of one sample are
        skipped (BatchNorm needs two samples for a variance).

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
    if isinstance(X, torch.Tensor):
        if X.ndim < 1 or X.shape[0] < 2:
            raise ValueError(f"X must hold at least 2 samples along axis 0, got shape {tuple(X.shape)}")
        bs = X.shape[0] if batch_size is None else check_int(batch_size, "batch_size", low=2)
        batches = (X[s:s + bs] for s in range(0, X.shape[0], bs))
    elif hasattr(X, "__iter__"):
        batches = (b[0] if isinstance(b, (tuple, list)) else b for b in X)
    else:
        raise TypeError(f"X must be a torch tensor or an iterable of batches, got {type(X).__name__}")
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    was = model.training
    model.train()
    seen = 0
    try:
        for xb in batches:
            if xb.shape[0] > 1:
                model(xb)
                seen += 1
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom
        model.train(was)
    if seen == 0:
        raise ValueError("X yielded no batch of at least 2 samples: BatchNorm statistics cannot be estimated")
    return model.eval()
