"""Orthogonal alignment of a transformer's residual stream ([GLMC] §3–4; THEORY.md T-S3, §10 "Alignment").

Permutations are not the whole symmetry group of a transformer: with a normalization that commutes with
orthogonal maps (RMSNorm without gain: ``RMSNorm(Qx) = Q·RMSNorm(x)``, T-S3), rotating the whole residual
stream by an orthogonal ``Q`` and every weight that reads it by ``Qᵀ`` (and every weight that writes it by
``Q``) leaves the function unchanged. [GLMC] align two independently trained transformers with such a ``Q``
(found by orthogonal Procrustes on the stream activations) in addition to permutations of heads and MLP units.

Here the stream is described by its *members*: the ``(state_dict name, axis)`` pairs along which the stream's
coordinates run (the residual-stream group of :func:`lmctheory.nn.groups.permutation_groups`). Applying ``Q``
means, for every member tensor ``T`` and its axis ``a``, ``T ← Q ×_a T`` (``T'[…, i, …] = Σ_j Q[i, j] T[…, j, …]``):
a weight writing the stream (``W ∈ R^{D×·}``, axis 0) becomes ``QW``, one reading it (axis 1) ``WQᵀ``, a bias or
positional embedding on the stream ``Qb``.

Supported models (checked): every member must belong to a linear map (``nn.Linear``, or an asymmetric linear
map, which is first replaced by a plain one holding its effective weight), an embedding/parameter tensor, or a
norm without parameters on the stream (this package's :class:`~lmctheory.nn.vit.RMSNorm`, ``torch.nn.RMSNorm``
with ``elementwise_affine=False``). A LayerNorm/BatchNorm/GroupNorm, a gain on the stream, or an elementwise
nonlinearity applied to the stream itself does not commute with rotations: the model is refused with the
offending module named, and every alignment is verified by comparing the model's outputs before and after.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["apply_orthogonal", "stream_member_modules", "check_stream_rotatable", "OrthogonalAlignment"]

_REFUSED = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)


def _as_members(members) -> list[tuple[str, int]]:
    out = []
    for m in members:
        if isinstance(m, tuple) and len(m) >= 2:
            name, axis = m[0], m[1]
        elif hasattr(m, "name") and hasattr(m, "axis"):
            name, axis = m.name, m.axis
            if getattr(m, "outer", 1) != 1 or getattr(m, "inner", 1) != 1:
                raise ValueError(f"member {name!r} (axis {axis}) has block structure; an orthogonal map of the "
                                 "residual stream needs plain members")
        else:
            raise TypeError(f"members must be (name, axis) pairs or group members, got {type(m).__name__}")
        if not isinstance(name, str) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"a member must be (str name, int axis), got ({name!r}, {axis!r})")
        out.append((name, int(axis)))
    if not out:
        raise ValueError("members is empty: no tensor carries the residual stream")
    return out


def stream_member_modules(model: nn.Module, members) -> dict[str, nn.Module | None]:
    """The module owning each member tensor (``None`` for a parameter of the model itself)."""
    mods = dict(model.named_modules())
    out = {}
    for name, _ in _as_members(members):
        owner = name.rsplit(".", 1)[0] if "." in name else ""
        out[name] = mods.get(owner) if owner else None
    return out


def check_stream_rotatable(model: nn.Module, members) -> None:
    """Raise ``ValueError`` naming the first module whose parameters on the stream forbid a rotation."""
    for name, mod in stream_member_modules(model, members).items():
        if isinstance(mod, _REFUSED) or (isinstance(mod, getattr(nn, "RMSNorm", ())) and mod.weight is not None):
            raise ValueError(
                f"the residual stream passes through {type(mod).__name__} at {name.rsplit('.', 1)[0]!r} (member "
                f"{name!r}), which does not commute with orthogonal maps: orthogonal alignment needs RMSNorm without "
                "gain (T-S3). Use permutation alignment for this model, or fold the gain into the next linear map.")


@torch.no_grad()
def apply_orthogonal(model: nn.Module, Q, members) -> nn.Module:
    """A new model with the residual stream rotated by ``Q`` (the original is untouched).

    Parameters
    ----------
    model : nn.Module
    Q : array_like or torch.Tensor, shape (D, D)
        Orthogonal (``QᵀQ = I`` to 1e-6 relative); ``D`` is the stream width.
    members : iterable of (name, axis)
        State-dict names and axes of every tensor carrying the stream (e.g. the members of the residual-stream
        group of :func:`lmctheory.nn.groups.permutation_groups`).

    Returns
    -------
    nn.Module
        ``T ← Q ×_axis T`` for every member; the function is unchanged when the members are exactly the
        stream's readers and writers and the stream's norms commute with rotations (T-S3).

    References
    ----------
    [GLMC] §3 (orthogonal symmetry of the residual stream); docs/theory.md T-S3.
    """
    members = _as_members(members)
    check_stream_rotatable(model, members)
    Qt = torch.as_tensor(np.asarray(Q, dtype=np.float64)) if not isinstance(Q, torch.Tensor) else Q.double()
    if Qt.ndim != 2 or Qt.shape[0] != Qt.shape[1]:
        raise ValueError(f"Q must be a square (D, D) matrix, got shape {tuple(Qt.shape)}")
    if not torch.isfinite(Qt).all():
        raise ValueError("Q must be finite")
    err = float((Qt.T @ Qt - torch.eye(Qt.shape[0], dtype=Qt.dtype)).abs().max())
    if err > 1e-6:
        raise ValueError(f"Q must be orthogonal (max |QᵀQ − I| ≤ 1e-6), got {err:.3g}")
    new = copy.deepcopy(model)
    sd = new.state_dict(keep_vars=True)
    for name, axis in members:
        if name not in sd:
            raise ValueError(f"member {name!r} is not a parameter or buffer of the model")
        t = sd[name]
        if not torch.is_floating_point(t):
            raise TypeError(f"member {name!r} is not a floating-point tensor")
        if not -t.ndim <= axis < t.ndim or t.shape[axis] != Qt.shape[0]:
            raise ValueError(f"member {name!r} has shape {tuple(t.shape)}: axis {axis} must have length "
                             f"{Qt.shape[0]} (the size of Q)")
        moved = torch.movedim(t.detach().double(), axis, 0)
        rot = torch.tensordot(Qt, moved, dims=([1], [0]))
        t.data.copy_(torch.movedim(rot, 0, axis).to(t.dtype))
    return new


@dataclass(frozen=True)
class OrthogonalAlignment:
    """Result of an orthogonal residual-stream alignment.

    Attributes
    ----------
    Q : ndarray (D, D)
        Orthogonal map applied to model B's stream (``a ≈ Q b``).
    residual_before, residual_after : float
        ``‖A − B‖_F / ‖A‖_F`` and ``‖A − B Qᵀ‖_F / ‖A‖_F`` over the stacked stream activations.
    n_samples : int
        Rows (samples × tokens × stream points) used by the Procrustes problem.
    function_change : float
        Max absolute change of model B's outputs on the check inputs caused by the rotation (rounding only).
    """

    Q: np.ndarray
    residual_before: float
    residual_after: float
    n_samples: int
    function_change: float
