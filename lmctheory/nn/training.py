"""Training, evaluation and linear interpolation of torch models (docs/theory.md §7 eq. 29, §10 barriers).

Interpolation acts on the state dict: every floating-point entry is mixed,
``θ(λ) = (1−λ)θ_A + λθ_B``. For :class:`~lmctheory.nn.AsymmetricLinear` layers the buffers ``F``
and ``D`` are architecture and must be identical in both models (checked); mixing ``W`` then mixes
the effective weights ``F + D ⊙ W`` exactly the same way (eq. 29). Models with BatchNorm can have their
statistics recomputed at every point of the path (``interpolate(..., reset_bn=data)``, REPAIR-style;
:func:`lmctheory.nn.batchnorm.reset_batchnorm`).

Data follow the calling convention of the torch bridge (docs/calling_convention.md): ``X`` is a tensor
``(n, ...)``, a tuple of positional inputs or a dict of keyword inputs (:func:`lmctheory.nn._inputs.as_model_inputs`),
or, where documented, a ``DataLoader`` of ``(inputs, targets)`` batches with ``y=None``; ``y`` holds class labels
``(n,)`` for class scores ``(n, K)``, or token targets ``(n, t)`` for a language model's logits ``(n, t, V)``
(cross-entropy over the last axis), or regression targets for ``loss="mse"``. Losses and accuracies are computed on
the model's primary output (``.logits`` of a ``ModelOutput``, else the first tensor), in eval mode.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .._validation import check_choice, check_int, check_lam, check_scalar, check_seed
from ._checks import check_labels, check_module, check_targets, check_X, describe, model_dtype, model_io
from ._inputs import (
    ModelInputs,
    as_model_inputs,
    call_model,
    check_model_state,
    check_same_architecture,
    check_same_function,
    eval_mode,
    model_device,
    modes_restored_on_error,
    primary_output,
    probe_output,
)

__all__ = ["train", "evaluate", "interpolate", "interpolate_state_dicts", "InterpolationResult", "barriers",
           "check_inputs_nd", "LOSSES", "LabelledData", "check_data", "read_inputs", "check_labels_for_output",
           "loss_value", "evaluate_data", "check_pair", "check_lams", "check_reset_bn", "make_optimizer",
           "is_loader"]

#: the losses every training / evaluation function accepts
LOSSES = ("ce", "mse")


# -- losses -------------------------------------------------------------------------------------------

def loss_value(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Mean loss of a batch (a 0-d tensor): cross-entropy over the last axis of ``out`` (``"ce"``) or MSE.

    ``"ce"``: ``out`` ``(n, K)`` with labels ``(n,)``, or ``(n, …, K)`` with targets ``(n, …)`` (every position
    counts once, as for a language model's next-token loss). ``"mse"``: ``out`` and ``y`` of the same shape; an
    ``(n, 1)`` output against ``(n,)`` targets (or the reverse) is compared column to entry.
    """
    if loss == "ce":
        if out.ndim == 2:
            return nn.functional.cross_entropy(out, y)
        return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    if out.ndim == 2 and out.shape[1] == 1 and y.ndim == 1:
        out = out[:, 0]
    elif out.ndim == 1 and y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    return nn.functional.mse_loss(out, y.to(out.dtype))


def check_labels_for_output(y, out_shape: tuple, n: int, loss: str, name: str = "y", x_name: str = "X"):
    """Labels ``y`` for a model whose output on one sample has shape ``out_shape`` (``(1, …)``), ``n`` samples.

    ``"ce"``: integer labels in ``[0, K − 1]`` of shape ``(n,) + out_shape[1:-1]`` (``(n,)`` for a classifier,
    ``(n, t)`` for per-token logits ``(n, t, K)``). ``"mse"``: real finite targets ``(n,)``/``(n, k)`` for
    an output ``(n, k)``, else the output's shape. ``TypeError``/``ValueError`` naming ``name``.
    """
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor of labels, got {describe(y)}")
    out_shape = tuple(out_shape)
    if len(out_shape) == 0 or out_shape[0] != 1:
        raise ValueError(f"the model's output must be batched along axis 0 (one row per sample of {x_name}); "
                         f"on one sample it has shape {out_shape}")
    if loss == "ce":
        if len(out_shape) < 2:
            raise ValueError(f"loss='ce' needs class scores of shape (n, n_classes) or (n, ..., n_classes); "
                             f"the model's output has shape (n,) (use loss='mse' for a regression output)")
        K = out_shape[-1]
        if K < 1:
            raise ValueError(f"the model's output has no class (shape {('n',) + out_shape[1:]}): a zero-width "
                             "output layer cannot be scored")
        want = (n,) + out_shape[1:-1]
        if len(want) == 1:
            return check_labels(y, name, n_rows=n, n_classes=K, tensor_only=True)
        if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
            raise TypeError(f"{name} must hold integer class labels (int64), got {describe(y)}")
        if tuple(y.shape) != want:
            raise ValueError(f"{name} must have shape {want}: one target per position of the model's output "
                             f"{('n',) + out_shape[1:]} (cross-entropy over the last axis), got shape {tuple(y.shape)}")
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi > K - 1:
            raise ValueError(f"{name} must hold labels in [0, {K - 1}] (the model has {K} outputs per position), "
                             f"got values in [{lo}, {hi}]")
        return y.detach().long()
    if len(out_shape) <= 2:
        return check_targets(y, name, n_rows=n, n_outputs=out_shape[1] if len(out_shape) == 2 else 1,
                             tensor_only=True)
    want = (n,) + out_shape[1:]
    if y.dtype == torch.bool or y.is_complex():
        raise TypeError(f"{name} must hold real numeric regression targets, got {describe(y)}")
    if tuple(y.shape) != want:
        raise ValueError(f"{name} must have the model's output shape {want}, got shape {tuple(y.shape)}")
    if y.is_floating_point() and not bool(torch.isfinite(y).all()):
        raise ValueError(f"{name} contains NaN or inf; all entries must be finite")
    return y.detach()


# -- data -----------------------------------------------------------------------------------------------

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


def read_inputs(model: nn.Module, X, name: str = "X", *, device=None) -> ModelInputs:
    """Validated model inputs ``X`` for ``model``, floating tensors in the model's dtype, on its device.

    A single floating (or, for a model that declares ``in_features``, numeric) tensor gets the checks of
    :func:`check_inputs_nd` (real, finite, non-empty, within the model's dtype, the declared width); an
    integer tensor for any other model is taken as token ids and left as it is. Tuples and dicts go through
    :func:`~lmctheory.nn._inputs.as_model_inputs` (they must bind to ``model.forward``).
    """
    if isinstance(X, torch.Tensor):
        token_ids = not (X.is_floating_point() or X.is_complex() or X.dtype == torch.bool)
        if not (token_ids and model_io(model)[0] is None):
            X = check_inputs_nd(X, name, model=model, tensor_only=True)
    inputs = as_model_inputs(X, name, model=model)
    dtype = model_dtype(model)
    out = inputs.to(model_device(model) if device is None else device, dtype=dtype)
    for t in out.tensors:
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} has entries beyond the range of {dtype} (the model's dtype); rescale the input")
    return out


def is_loader(X) -> bool:
    """Whether ``X`` is an iterable of batches (a ``DataLoader``, a list of batches), not data itself."""
    return not isinstance(X, (torch.Tensor, np.ndarray, str, bytes, dict, tuple, ModelInputs)) \
        and hasattr(X, "__iter__")


@dataclass(frozen=True)
class LabelledData:
    """Validated ``(X, y)``: tensors (``inputs``, ``y``) or a ``loader`` of ``(inputs, targets)`` batches.

    Built by :func:`check_data`; :meth:`batches` yields ``(ModelInputs, targets)`` on the model's device.
    """

    inputs: ModelInputs | None
    y: torch.Tensor | None
    loader: object = None
    name: str = "X"
    loss: str = "ce"
    dtype: torch.dtype | None = None
    device: torch.device | None = None

    @property
    def n(self) -> int | None:
        """Number of samples (``None`` for a loader)."""
        return None if self.inputs is None else self.inputs.batch_size

    def batches(self, batch_size: int | None = None, *, order: torch.Tensor | None = None, device=None):
        """``(inputs, targets)`` batches: consecutive ``batch_size`` rows (in ``order`` if given; ``None``:
        one batch), or the loader's batches, validated one by one, moved to ``device`` (default: the model's)."""
        device = self.device if device is None else device
        if self.loader is not None:
            for i, b in enumerate(self.loader):
                where = f"batch {i} of {self.name}"
                if not (isinstance(b, (tuple, list)) and len(b) >= 2 and isinstance(b[1], torch.Tensor)):
                    raise TypeError(f"{where} must be an (inputs, targets) pair with targets a torch tensor, "
                                    f"got {describe(b)}")
                inputs = as_model_inputs(tuple(b[0]) if isinstance(b[0], list) else b[0], where)
                yield inputs.to(device, dtype=self.dtype), b[1].to(device)
            return
        n = self.n
        step = n if batch_size is None else batch_size
        for s in range(0, n, step):
            sel = order[s:s + step] if order is not None else slice(s, min(s + step, n))
            yield self.inputs.rows(sel).to(device), self.y[sel].to(device)


def check_data(model: nn.Module, X, y, *, loss: str, names=("X", "y"), allow_loader: bool = False,
               model_name: str = "model") -> LabelledData:
    """Validate ``(X, y)`` for ``model`` (shared by :func:`train`, :func:`evaluate`, :func:`interpolate` and the
    curves of :mod:`lmctheory.nn.curves`).

    ``X`` as in :func:`read_inputs`; one sample of it is run through ``model`` in eval mode, so inputs the
    model cannot take raise ``ValueError`` naming ``X`` (not an error from inside the model), and the output's
    shape fixes what ``y`` must be (:func:`check_labels_for_output`). With ``allow_loader`` ``X`` may be an
    iterable of ``(inputs, targets)`` batches and ``y`` must then be ``None`` (batches are checked as they come).
    """
    xn, yn = names
    dtype, device = model_dtype(model), model_device(model)
    rows = isinstance(X, list) and bool(X) and all(isinstance(r, torch.Tensor) for r in X)  # not batches
    if allow_loader and is_loader(X) and not rows:
        if y is not None:
            raise ValueError(f"{yn} must be None when {xn} is a DataLoader (it yields (inputs, targets) batches)")
        return LabelledData(None, None, loader=X, name=xn, loss=loss, dtype=dtype, device=device)
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{yn} must be a torch tensor of labels (or {xn} a DataLoader of (inputs, targets) batches "
                        f"and {yn}=None), got {describe(y)}" if allow_loader else
                        f"{yn} must be a torch tensor of labels, got {describe(y)}")
    inputs = read_inputs(model, X, xn)
    out = probe_output(model, inputs, xn, model_name)
    y = check_labels_for_output(y, tuple(out.shape), inputs.batch_size, loss, yn, xn)
    return LabelledData(inputs, y.to(device), name=xn, loss=loss, dtype=dtype, device=device)


@torch.no_grad()
def evaluate_data(model: nn.Module, data: LabelledData, *, batch_size: int | None = None,
                  device=None) -> tuple[float, float]:
    """``(mean loss, accuracy)`` of ``model`` on validated ``data``, in eval mode (every module's mode restored).

    The mean is over all targets (every position of a per-token output); accuracy is the fraction of targets
    whose ``argmax`` over the last output axis is right (NaN for ``"mse"``).
    """
    parts, correct = [], 0
    with eval_mode(model):
        for i, (inputs, yb) in enumerate(data.batches(batch_size, device=device)):
            out = primary_output(call_model(model, inputs), "model output")
            if data.loader is not None:
                yb = check_labels_for_output(yb, (1,) + tuple(out.shape[1:]), inputs.batch_size, data.loss,
                                             f"the targets of batch {i} of {data.name}", data.name)
            parts.append((float(loss_value(out, yb, data.loss)), yb.numel() if data.loss == "ce" else int(yb.shape[0])))
            if data.loss == "ce":
                correct += int((out.argmax(-1) == yb).sum())
    if not parts:
        raise ValueError(f"{data.name} (a DataLoader) yielded no batch")
    count = sum(k for _, k in parts)
    mean = parts[0][0] if len(parts) == 1 else sum(lv * k for lv, k in parts) / count
    return mean, (correct / count if data.loss == "ce" else float("nan"))


def make_optimizer(params, optimizer: str, *, lr: float, weight_decay: float, momentum: float):
    """``torch.optim.AdamW`` (``"adamw"``) or ``SGD`` with momentum and coupled weight decay (``"sgd"``)."""
    if optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, momentum=momentum)


# -- training and evaluation ------------------------------------------------------------------------------

def train(
    model: nn.Module,
    X,
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

    Minimizes the mean ``loss`` (:func:`loss_value`) of ``model(X)`` against ``y`` by minibatch descent.

    Parameters
    ----------
    model : nn.Module
        Trained in train mode and left in eval mode afterwards (on error every module keeps its own mode).
    X : torch.Tensor (N, ...), tuple or dict of tensors
        Model inputs (docs/calling_convention.md): feature rows ``(N, d)``, images ``(N, C, H, W)``, token
        ids ``(N, t)``, or positional/keyword inputs; real and finite, floating tensors converted to the
        model's dtype (float32 for this package's models), so float64 or Fortran-ordered ``X`` works.
    y : torch.Tensor
        For ``loss="ce"`` integer labels ``(N,)`` in ``[0, n_classes − 1]`` (or ``(N, t)`` token targets for
        logits ``(N, t, V)``); for ``loss="mse"`` finite targets ``(N,)`` or ``(N, n_outputs)`` (a model output
        of shape ``(N, 1)`` is squeezed).
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

    References
    ----------
    docs/theory.md §7 (the trained models whose paths are measured).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> X, y = torch.randn(32, 4, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 2
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> hist = train(net, X, y, epochs=3, batch_size=8)
    >>> len(hist["loss"])
    3
    """
    check_module(model, "model")
    check_model_state(model, "model")
    loss = check_choice(loss, "loss", LOSSES)
    data = check_data(model, X, y, loss=loss)
    epochs = check_int(epochs, "epochs", low=0)
    lr = check_scalar(lr, "lr", low=0.0, low_inclusive=False)
    weight_decay = check_scalar(weight_decay, "weight_decay", low=0.0)
    batch_size = check_int(batch_size, "batch_size", low=1)
    optimizer = check_choice(optimizer, "optimizer", ("adamw", "sgd"))
    gen = torch.Generator().manual_seed(check_seed(seed))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(params, optimizer, lr=lr, weight_decay=weight_decay, momentum=momentum)
    N = data.n
    hist = []
    from tqdm.auto import tqdm

    with modes_restored_on_error(model):
        model.train()
        for _ in tqdm(range(epochs), disable=not progress, desc="train", leave=False):
            perm = torch.randperm(N, generator=gen)
            total = 0.0
            for inputs, yb in data.batches(batch_size, order=perm):
                opt.zero_grad(set_to_none=True)
                lv = loss_value(primary_output(call_model(model, inputs)), yb, loss)
                lv.backward()
                opt.step()
                total += float(lv.detach()) * inputs.batch_size
            hist.append(total / N)
    model.eval()
    return {"loss": hist, "epochs": epochs}


@torch.no_grad()
def evaluate(model: nn.Module, X, y=None, *, loss: str = "ce", batch_size: int | None = None) -> tuple[float, float]:
    """``(mean loss, accuracy)`` on ``(X, y)``; accuracy is a fraction in [0, 1] (NaN for ``mse``).

    ``mean loss`` is :func:`loss_value` averaged over every target (every position for per-token logits);
    accuracy counts ``argmax`` over the last output axis. The model runs in eval mode and every module's
    own mode is restored afterwards, even on error.

    Parameters
    ----------
    model : nn.Module
    X : torch.Tensor (N, ...), tuple, dict, or a DataLoader of ``(inputs, targets)`` batches
        As in :func:`train` (floating inputs are converted to the model's dtype, so the numbers carry that
        dtype's precision: float32, relative rounding ≈ 1e-7 per operation).
    y : torch.Tensor, or None when ``X`` is a DataLoader
        Labels as in :func:`train`.
    loss : {"ce", "mse"}
    batch_size : int or None
        Rows per forward pass (``None``: all at once).

    References
    ----------
    docs/theory.md §10 (the loss 𝓛 whose barriers are measured).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Linear(3, 2)
    >>> loss, acc = evaluate(net, torch.zeros(4, 3), torch.tensor([0, 1, 0, 1]))
    >>> 0.0 <= acc <= 1.0
    True
    """
    check_module(model, "model")
    check_model_state(model, "model")
    loss = check_choice(loss, "loss", LOSSES)
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", low=1)
    data = check_data(model, X, y, loss=loss, allow_loader=True)
    return evaluate_data(model, data, batch_size=batch_size)


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

    @classmethod
    def from_path(cls, lams, at) -> "InterpolationResult":
        """Evaluate ``at(λ) → (loss, acc)`` on the grid ``lams`` (sorted, containing 0 and 1) and at ``λ = 1/2``
        (once more only when not on the grid), and compute the barriers."""
        lams = np.asarray(lams, dtype=float)
        L, A = (np.array(v, dtype=float) for v in zip(*[at(float(lam)) for lam in lams]))
        hit = np.isclose(lams, 0.5, atol=1e-12)
        mid_l, mid_a = (L[hit][0], A[hit][0]) if hit.any() else at(0.5)
        b = barriers(lams, L, A)
        return cls(lams=lams, loss=L, acc=A, barrier_lin=b["barrier_lin"], barrier_max=b["barrier_max"],
                   acc_barrier_lin=b["acc_barrier_lin"], acc_barrier_max=b["acc_barrier_max"],
                   midpoint_acc_drop=float(100 * ((A[0] + A[-1]) / 2 - mid_a)),
                   midpoint_loss_barrier=float(mid_l - (L[0] + L[-1]) / 2))


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


def check_lams(lams, name: str = "lams", *, endpoints: bool = True) -> np.ndarray:
    """A sorted 1-D float64 grid in ``[0, 1]`` (default ``np.linspace(0, 1, 11)``); with ``endpoints`` it must
    contain 0 and 1 (``ValueError`` naming ``name``)."""
    lams = np.linspace(0.0, 1.0, 11) if lams is None else np.sort(np.atleast_1d(check_lam(lams, name)))
    if lams.size == 0:
        raise ValueError(f"{name} must not be empty")
    if endpoints and (lams[0] != 0.0 or lams[-1] != 1.0):
        raise ValueError(f"{name} must contain the endpoints 0 and 1")
    return lams


def check_reset_bn(reset_bn, model: nn.Module, name: str = "reset_bn"):
    """BatchNorm data: ``None``, model inputs (a tensor ``(M, ...)``, a tuple or a dict, validated like ``X``)
    or a re-iterable of batches (a ``DataLoader`` or a list of batches)."""
    if reset_bn is None:
        return None
    if isinstance(reset_bn, (torch.Tensor, tuple, dict, ModelInputs)):
        return read_inputs(model, reset_bn, name)
    if not is_loader(reset_bn):
        raise TypeError(f"{name} must be None, model inputs (a torch tensor, a tuple or a dict) or an iterable of "
                        f"batches (DataLoader), got {describe(reset_bn)}")
    return reset_bn


def check_pair(model_a: nn.Module, model_b: nn.Module, names=("model_a", "model_b")) -> None:
    """Two models that can be interpolated: torch modules with usable weights (no meta tensor, no zero-width
    layer, finite; :func:`~lmctheory.nn._inputs.check_model_state`), one architecture (module types,
    hyper-parameters, state-dict names, shapes and dtypes; :func:`~lmctheory.nn._inputs.check_same_architecture`),
    and every module with ``F``/``D`` buffers (AsymmetricLinear, AsymmetricConv2d, or a user's asymmetric
    layer) holding identical ``F`` and ``D`` in both. ``TypeError``/``ValueError`` naming the model and entry."""
    na, nb = names
    check_module(model_a, na)
    check_module(model_b, nb)
    check_model_state(model_a, na)
    check_model_state(model_b, nb)
    for (name, ma), mb in zip(model_a.named_modules(), model_b.modules()):
        if type(ma) is not type(mb):
            break  # reported by check_same_architecture below
        ba, bb = dict(ma.named_buffers(recurse=False)), dict(mb.named_buffers(recurse=False))
        for key in ("F", "D"):
            if key in ba and not (key in bb and ba[key].shape == bb[key].shape and torch.equal(ba[key], bb[key])):
                raise ValueError(f"asymmetric layers of the two models have different {key} (module "
                                 f"{name or type(ma).__name__!r}): build both with the same mask_seed")
    check_same_architecture(model_a, model_b, names)


@torch.no_grad()
def interpolate(
    model_a: nn.Module,
    model_b: nn.Module,
    X,
    y=None,
    *,
    lams=None,
    loss: str = "ce",
    reset_bn=None,
    bn_batch_size: int | None = 256,
    batch_size: int | None = None,
) -> InterpolationResult:
    """Evaluate the linear path ``θ(λ) = (1−λ)θ_A + λθ_B`` between two models of one architecture (eq. 29).

    At every ``λ`` of the grid the state dicts are mixed (:func:`interpolate_state_dicts`) into a copy of
    ``model_a`` that is evaluated in eval mode (:func:`evaluate`); the barriers of :class:`InterpolationResult`
    follow. Before anything runs, both models are checked (:func:`check_pair`: finite weights — a NaN in either
    model is named, with its parameter —, one architecture, identical ``F``/``D``), and the copy of ``model_a``
    carrying ``model_b``'s weights must compute ``model_b``'s function on one sample of ``X`` (so a difference
    of architecture the state dict cannot show, such as a stride kept as a plain attribute, is refused instead
    of silently evaluating the wrong path).

    Parameters
    ----------
    model_a, model_b : nn.Module
        Same architecture; asymmetric layers must share ``F`` and ``D``.
    X : torch.Tensor (N, ...), tuple, dict, or a DataLoader of ``(inputs, targets)`` batches
        Evaluation inputs (docs/calling_convention.md), validated once; floating tensors are converted to the
        models' dtype (C- and Fortran-ordered ``X`` give identical results).
    y : torch.Tensor, or None when ``X`` is a DataLoader
        Labels ``(N,)`` (classifier), token targets ``(N, t)`` (per-token logits ``(N, t, V)``) or regression
        targets (``loss="mse"``).
    lams : array_like, optional
        Grid in [0, 1] containing 0 and 1 (default ``np.linspace(0, 1, 11)``); a real numeric 1-D array
        (complex, string and object input raise ``TypeError``). λ = 1/2 is
        evaluated in addition when not on the grid (for :attr:`~InterpolationResult.midpoint_acc_drop`).
    loss : {"ce", "mse"}
    reset_bn : model inputs (tensor ``(M, ...)``, tuple, dict) or an iterable of batches, optional
        If given, every point of the path (endpoints included) gets its BatchNorm running statistics
        recomputed on these inputs (:func:`lmctheory.nn.batchnorm.reset_batchnorm`, REPAIR-style reset;
        typically training inputs) before it is evaluated. An iterable must be re-iterable (a
        ``DataLoader`` or a list of batches; a one-shot generator is exhausted after the first point).
        Default ``None``: the interpolated running statistics are used as they are (they describe
        neither model's activations at interior λ). No effect on a model without BatchNorm.
    bn_batch_size : int or None
        Batch size of the reset for tensor ``reset_bn`` (``None``: one batch, i.e. exact statistics).
    batch_size : int or None
        Rows per forward pass of the evaluation (``None``: all of ``X`` at once).

    Notes
    -----
    The models compute in their own dtype (float32 for this package's models), so losses carry
    float32 rounding (relative ≈ 1e-7 per operation, ≈ 1e-6 on a loss); they are returned as float64.

    References
    ----------
    docs/theory.md §7 eq. (29) (interpolation of effective weights), §10 (barriers); [MC] §6.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    >>> X, y = torch.randn(16, 3), torch.arange(16) % 2
    >>> r = interpolate(a, b, X, y, lams=[0.0, 0.5, 1.0])
    >>> r.lams.tolist(), bool(r.loss[0] == evaluate(a, X, y)[0])
    ([0.0, 0.5, 1.0], True)
    """
    lams = check_lams(lams)
    check_pair(model_a, model_b)
    loss = check_choice(loss, "loss", LOSSES)
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", low=1)
    data = check_data(model_a, X, y, loss=loss, allow_loader=True)
    bn = check_reset_bn(reset_bn, model_a)
    if bn is not None and bn_batch_size is not None:
        bn_batch_size = check_int(bn_batch_size, "bn_batch_size", low=2)
    from .batchnorm import reset_batchnorm

    sd_a, sd_b = model_a.state_dict(), model_b.state_dict()
    probe = copy.deepcopy(model_a)
    if data.inputs is not None:  # model_a's code with model_b's weights must be model_b
        probe.load_state_dict(sd_b)
        check_same_function(probe, model_b, data.inputs.rows(slice(0, 1)),
                            names=("model_a's architecture with model_b's weights", "model_b"),
                            what=": the models differ in an attribute the state dict does not hold")

    def at(lam):
        probe.load_state_dict(interpolate_state_dicts(sd_a, sd_b, lam))
        if bn is not None:
            reset_batchnorm(probe, bn, batch_size=bn_batch_size)
        return evaluate_data(probe, data, batch_size=batch_size)

    return InterpolationResult.from_path(lams, at)
