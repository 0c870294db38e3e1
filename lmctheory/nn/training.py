"""Training, evaluation and linear interpolation of torch models (docs/theory.md §7 eq. 29, §10 barriers).

Interpolation acts on the state dict: every floating-point entry is mixed,
``θ(λ) = (1−λ)θ_A + λθ_B``. For :class:`~lmctheory.nn.AsymmetricLinear` layers the buffers ``F``
and ``D`` are architecture and must be identical in both models (checked); mixing ``W`` then mixes
the effective weights ``F + D ⊙ W`` exactly the same way (eq. 29). Inputs may be feature vectors
``(N, d)`` or image-shaped ``(N, C, H, W)`` (any ``(N, ...)``; the model's forward checks the trailing
shape). Models with BatchNorm can have their statistics recomputed at every point of the path
(``interpolate(..., reset_bn=data)``, REPAIR-style; :func:`lmctheory.nn.batchnorm.reset_batchnorm`).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .._validation import check_choice, check_int, check_lam, check_scalar, check_seed
from ._checks import (
    check_labels,
    check_module,
    check_targets,
    check_X,
    describe,
    model_dtype,
    model_io,
)

__all__ = ["train", "evaluate", "interpolate", "interpolate_state_dicts", "InterpolationResult", "barriers",
           "check_inputs_nd"]


def _loss_fn(loss: str):
    return nn.functional.cross_entropy if loss == "ce" else _mse


def _mse(out, y):
    if out.ndim == 2 and out.shape[1] == 1 and y.ndim == 1:
        out = out[:, 0]
    return nn.functional.mse_loss(out, y.to(out.dtype))


def check_inputs_nd(X, name: str = "X", *, model: nn.Module | None = None, tensor_only: bool = False) -> torch.Tensor:
    """:func:`~lmctheory.nn._checks.check_X` for inputs of any shape ``(N, ...)``.

    2-D (and 1-D, rejected there) input goes to ``check_X`` unchanged (width checked against the model
    where known). Input with more axes — images ``(N, C, H, W)``, token sequences ``(N, T, F)`` — gets the
    same checks (real, finite, non-empty, in range of the model's dtype) on its flattened ``(N, prod)``
    view and keeps its shape; the model's forward checks the trailing axes.

    Examples
    --------
    >>> import torch
    >>> check_inputs_nd(torch.zeros(2, 1, 8, 8, dtype=torch.float64)).shape
    torch.Size([2, 1, 8, 8])
    """
    nd = X.ndim if isinstance(X, torch.Tensor) else np.ndim(X) if isinstance(X, np.ndarray) else None
    if nd is None and not tensor_only and not isinstance(X, (str, bytes)):
        try:
            nd = np.asarray(X).ndim
        except Exception:  # ragged input: let check_X name it
            nd = None
    if nd is None or nd <= 2:
        return check_X(X, name, model=model, tensor_only=tensor_only)
    shape = tuple(X.shape) if isinstance(X, torch.Tensor) else np.shape(X)
    if 0 in shape:
        raise ValueError(f"{name} must not be empty, got shape {shape}")
    dtype = model_dtype(model) if model is not None else None
    flat = X.reshape(shape[0], -1) if isinstance(X, torch.Tensor) else np.reshape(np.asarray(X), (shape[0], -1))
    return check_X(flat, name, dtype=dtype, tensor_only=tensor_only).reshape(shape)


def _check_xy(model, X, y, loss: str, names=("X", "y")):
    """Validated ``(X, y)`` for ``model`` (shared by :func:`train`, :func:`evaluate`, :func:`interpolate`).

    ``X``: a torch tensor ``(N, in_features)`` or ``(N, C, H, W)`` (:func:`check_inputs_nd`), real numeric
    and finite, converted to the model's dtype (C-contiguous; :func:`lmctheory.nn._checks.check_X`).
    ``y``: for ``loss="ce"`` integer class labels ``(N,)`` in ``[0, n_classes − 1]``
    (:func:`~lmctheory.nn._checks.check_labels`); for ``"mse"`` finite real
    targets ``(N,)`` or ``(N, n_outputs)``. ``n_classes`` / ``n_outputs`` come from the architecture
    (:func:`~lmctheory.nn._checks.model_io`) or, for other modules, from one forward pass on ``X[:1]``
    in eval mode.
    """
    xn, yn = names
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"{xn} and {yn} must be torch tensors, got {describe(X)} and {describe(y)}")
    X = check_inputs_nd(X, xn, model=model, tensor_only=True)
    n_out = model_io(model)[1]
    if n_out is None:
        n_out = _probe_outputs(model, X)
    if loss == "ce":
        y = check_labels(y, yn, n_rows=X.shape[0], n_classes=n_out, tensor_only=True)
    else:
        y = check_targets(y, yn, n_rows=X.shape[0], n_outputs=n_out, tensor_only=True)
    return X, y


@torch.no_grad()
def _probe_outputs(model, X):
    """Output width of a model of unknown architecture from one eval-mode forward on ``X[:1]`` (no RNG)."""
    was = model.training
    model.eval()
    try:
        out = model(X[:1])
    finally:
        model.train(was)
    return int(out.shape[1]) if out.ndim == 2 else None


def train(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    lr: float = 1e-3,
    weight_decay: float = 1e-2,
    batch_size: int = 128,
    optimizer: str = "adamw",
    loss: str = "ce",
    seed: int = 0,
    momentum: float = 0.9,
    progress: bool = False,
) -> dict:
    """Minibatch training in place; deterministic for a given ``seed`` (shuffling generator).

    Parameters
    ----------
    model : nn.Module
    X : torch.Tensor (N, d) or (N, C, H, W)
        Real numeric and finite (any ``(N, ...)`` shape the model accepts, e.g. images); converted to the
        model's dtype (float32 for this package's models) as a C-contiguous tensor, so float64 or
        Fortran-ordered ``X`` works.
    y : torch.Tensor (N,)
        Integer class labels in ``[0, n_classes − 1]`` for ``loss="ce"``; finite targets of shape
        ``(N,)`` or ``(N, n_outputs)`` for ``loss="mse"`` (a model output of shape ``(N, 1)`` is squeezed).
    epochs, lr, weight_decay, batch_size : training hyper-parameters.
    optimizer : {"adamw", "sgd"}
        ``sgd`` uses ``momentum`` and coupled weight decay.
    loss : {"ce", "mse"}
    seed : int
        Seed of the minibatch order.

    Returns
    -------
    dict
        ``{"loss": [mean training loss per epoch], "epochs": epochs}``.
    """
    check_module(model, "model")
    loss = check_choice(loss, "loss", ("ce", "mse"))
    X, y = _check_xy(model, X, y, loss)
    epochs = check_int(epochs, "epochs", low=0)
    lr = check_scalar(lr, "lr", low=0.0, low_inclusive=False)
    weight_decay = check_scalar(weight_decay, "weight_decay", low=0.0)
    batch_size = check_int(batch_size, "batch_size", low=1)
    optimizer = check_choice(optimizer, "optimizer", ("adamw", "sgd"))
    gen = torch.Generator().manual_seed(check_seed(seed))
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, momentum=momentum)
    lf = _loss_fn(loss)
    N = X.shape[0]
    hist = []
    from tqdm.auto import tqdm

    model.train()
    for _ in tqdm(range(epochs), disable=not progress, desc="train", leave=False):
        perm = torch.randperm(N, generator=gen)
        total = 0.0
        for s in range(0, N, batch_size):
            idx = perm[s:s + batch_size]
            opt.zero_grad(set_to_none=True)
            out = model(X[idx])
            lv = lf(out, y[idx])
            lv.backward()
            opt.step()
            total += float(lv.detach()) * len(idx)
        hist.append(total / N)
    model.eval()
    return {"loss": hist, "epochs": epochs}


@torch.no_grad()
def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss: str = "ce") -> tuple[float, float]:
    """``(mean loss, accuracy)`` on ``(X, y)``; accuracy is a fraction in [0, 1] (NaN for ``mse``).

    ``X``, ``y`` as in :func:`train` (torch tensors; ``X`` is converted to the model's dtype, so the
    numbers carry that dtype's precision: float32, relative rounding ≈ 1e-7 per operation).
    """
    check_module(model, "model")
    loss = check_choice(loss, "loss", ("ce", "mse"))
    X, y = _check_xy(model, X, y, loss)
    return _evaluate(model, X, y, loss)


@torch.no_grad()
def _evaluate(model, X, y, loss):
    """:func:`evaluate` on already validated inputs."""
    was = model.training
    model.eval()
    out = model(X)
    model.train(was)
    lv = float(_loss_fn(loss)(out, y))
    acc = float((out.argmax(1) == y).float().mean()) if loss == "ce" else float("nan")
    return lv, acc


def interpolate_state_dicts(sd_a: dict, sd_b: dict, lam: float) -> dict:
    """``(1−λ)·sd_a + λ·sd_b`` on floating-point entries (eq. 29). Non-float entries and the
    architecture buffers ``F``/``D`` of asymmetric layers must be equal in both (``ValueError``)."""
    lam = check_scalar(lam, "lam", low=0.0, high=1.0)
    if sd_a.keys() != sd_b.keys():
        raise ValueError("state dicts have different keys: the models do not share an architecture")
    out = {}
    for k, a in sd_a.items():
        b = sd_b[k]
        if a.shape != b.shape:
            raise ValueError(f"state dict entry {k!r} has shapes {tuple(a.shape)} and {tuple(b.shape)}")
        is_arch = k.endswith(".F") or k.endswith(".D")
        if k.endswith("num_batches_tracked"):  # a BatchNorm step counter, not a weight: keep A's
            out[k] = a.clone()
        elif is_arch or not torch.is_floating_point(a):
            if not torch.equal(a, b):
                raise ValueError(f"state dict entry {k!r} differs between the models but is architecture "
                                 "(fixed F/D buffers or integer state): build the pair with the same mask_seed")
            out[k] = a.clone()
        else:
            out[k] = (1.0 - lam) * a + lam * b
    return out


@dataclass(frozen=True)
class InterpolationResult:
    """Loss/accuracy along ``θ(λ) = (1−λ)θ_A + λθ_B`` and its barriers (docs/theory.md §10).

    Attributes
    ----------
    lams, loss, acc : ndarray (L,)
        Grid and measured loss / accuracy (fraction; NaN for ``mse``).
    barrier_lin : float
        ``max_λ [𝓛(λ) − ((1−λ)𝓛(0) + λ𝓛(1))]`` (Frankle/Entezari).
    barrier_max : float
        ``max_λ 𝓛(λ) − max(𝓛(0), 𝓛(1))`` ([MC] §6).
    acc_barrier_lin, acc_barrier_max : float
        The same for accuracy drops, in percentage points:
        ``100·max_λ[((1−λ)A(0) + λA(1)) − A(λ)]`` and ``100·(min(A(0), A(1)) − min_λ A(λ))``.
    midpoint_acc_drop : float
        ``100·((A(0) + A(1))/2 − A(1/2))`` in percentage points (λ = 1/2 evaluated exactly).
    midpoint_loss_barrier : float
        ``𝓛(1/2) − (𝓛(0) + 𝓛(1))/2``.
    """

    lams: np.ndarray
    loss: np.ndarray
    acc: np.ndarray
    barrier_lin: float
    barrier_max: float
    acc_barrier_lin: float
    acc_barrier_max: float
    midpoint_acc_drop: float
    midpoint_loss_barrier: float

    def to_dict(self) -> dict:
        """JSON-able dict (arrays as lists)."""
        return {k: (v.tolist() if isinstance(v, np.ndarray) else float(v)) for k, v in asdict(self).items()}


def barriers(lams, loss, acc=None) -> dict:
    """Barrier numbers of a curve (see :class:`InterpolationResult`); ``lams`` must include 0 and 1."""
    lams = np.asarray(lams, float)
    loss = np.asarray(loss, float)
    i0, i1 = int(np.argmin(lams)), int(np.argmax(lams))
    if lams[i0] != 0.0 or lams[i1] != 1.0:
        raise ValueError("lams must contain the endpoints 0 and 1")
    chord = (1 - lams) * loss[i0] + lams * loss[i1]
    out = {"barrier_lin": float(np.max(loss - chord)), "barrier_max": float(np.max(loss) - max(loss[i0], loss[i1]))}
    if acc is not None:
        acc = np.asarray(acc, float)
        achord = (1 - lams) * acc[i0] + lams * acc[i1]
        out["acc_barrier_lin"] = float(100 * np.max(achord - acc))
        out["acc_barrier_max"] = float(100 * (min(acc[i0], acc[i1]) - np.min(acc)))
    return out


def _check_pair(model_a, model_b):
    """Same module structure; every module with ``F``/``D`` buffers (AsymmetricLinear, AsymmetricConv2d,
    or a user's asymmetric layer) has identical ``F`` and ``D`` in both models."""
    check_module(model_a, "model_a")
    check_module(model_b, "model_b")
    for (name, ma), mb in zip(model_a.named_modules(), model_b.modules()):
        if type(ma) is not type(mb):
            raise ValueError(f"models differ in structure: {type(ma).__name__} vs {type(mb).__name__}")
        ba, bb = dict(ma.named_buffers(recurse=False)), dict(mb.named_buffers(recurse=False))
        for key in ("F", "D"):
            if key in ba and not (key in bb and ba[key].shape == bb[key].shape and torch.equal(ba[key], bb[key])):
                raise ValueError(f"asymmetric layers of the two models have different {key} (module "
                                 f"{name or type(ma).__name__!r}): build both with the same mask_seed")


@torch.no_grad()
def interpolate(
    model_a: nn.Module,
    model_b: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    lams=None,
    loss: str = "ce",
    *,
    reset_bn=None,
    bn_batch_size: int | None = 256,
) -> InterpolationResult:
    """Evaluate the linear path between two models of one architecture (eq. 29).

    Parameters
    ----------
    model_a, model_b : nn.Module
        Same architecture; asymmetric layers must share ``F`` and ``D``.
    X, y : torch.Tensor
        Evaluation data, as in :func:`train`: ``X`` (N, d) or (N, C, H, W) is validated once and converted to the
        models' dtype as a C-contiguous tensor (C- and Fortran-ordered ``X`` give identical results).
    lams : array_like, optional
        Grid in [0, 1] containing 0 and 1 (default ``np.linspace(0, 1, 11)``); a real numeric 1-D array
        (complex, string and object input raise ``TypeError``). λ = 1/2 is
        evaluated in addition when not on the grid (for :attr:`~InterpolationResult.midpoint_acc_drop`).
    loss : {"ce", "mse"}
    reset_bn : torch.Tensor ``(M, ...)`` or an iterable of batches (a ``DataLoader``), optional
        If given, every point of the path (endpoints included) gets its BatchNorm running statistics
        recomputed on these inputs (:func:`lmctheory.nn.batchnorm.reset_batchnorm`, REPAIR-style reset;
        typically training inputs) before it is evaluated. An iterable must be re-iterable (a
        ``DataLoader`` or a list of batches; a one-shot generator is exhausted after the first point).
        Default ``None``: the interpolated running statistics are used as they are (they describe
        neither model's activations at interior λ).
        No effect on a model without BatchNorm.
    bn_batch_size : int or None
        Batch size of the reset for a tensor ``reset_bn`` (``None``: one batch, i.e. exact statistics).

    Notes
    -----
    The models compute in their own dtype (float32 for this package's models), so losses carry
    float32 rounding (relative ≈ 1e-7 per operation, ≈ 1e-6 on a loss); they are returned as float64.
    """
    lams = np.linspace(0.0, 1.0, 11) if lams is None else np.sort(np.atleast_1d(check_lam(lams, "lams")))
    if lams[0] != 0.0 or lams[-1] != 1.0:
        raise ValueError("lams must contain the endpoints 0 and 1")
    _check_pair(model_a, model_b)
    loss = check_choice(loss, "loss", ("ce", "mse"))
    X, y = _check_xy(model_a, X, y, loss)
    if reset_bn is not None:
        from .batchnorm import reset_batchnorm

        if isinstance(reset_bn, torch.Tensor):
            reset_bn = check_inputs_nd(reset_bn, "reset_bn", model=model_a, tensor_only=True)
        elif not hasattr(reset_bn, "__iter__") or isinstance(reset_bn, (str, bytes, np.ndarray)):
            raise TypeError(f"reset_bn must be a torch tensor or an iterable of batches (DataLoader), "
                            f"got {describe(reset_bn)}")
        if bn_batch_size is not None:
            bn_batch_size = check_int(bn_batch_size, "bn_batch_size", low=2)
    sd_a, sd_b = model_a.state_dict(), model_b.state_dict()
    probe = copy.deepcopy(model_a)
    L, A = [], []

    def at(lam):
        probe.load_state_dict(interpolate_state_dicts(sd_a, sd_b, float(lam)))
        if reset_bn is not None:
            reset_batchnorm(probe, reset_bn, batch_size=bn_batch_size)
        return _evaluate(probe, X, y, loss)

    for lam in lams:
        lv, av = at(lam)
        L.append(lv)
        A.append(av)
    L, A = np.array(L), np.array(A)
    hit = np.isclose(lams, 0.5, atol=1e-12)
    mid_l, mid_a = (L[hit][0], A[hit][0]) if hit.any() else at(0.5)
    b = barriers(lams, L, A)
    return InterpolationResult(
        lams=lams, loss=L, acc=A,
        barrier_lin=b["barrier_lin"], barrier_max=b["barrier_max"],
        acc_barrier_lin=b["acc_barrier_lin"], acc_barrier_max=b["acc_barrier_max"],
        midpoint_acc_drop=float(100 * ((A[0] + A[-1]) / 2 - mid_a)),
        midpoint_loss_barrier=float(mid_l - (L[0] + L[-1]) / 2),
    )
