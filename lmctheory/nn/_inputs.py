"""How every model-level tool of :mod:`lmctheory.nn` reads a user's inputs and runs a user's model.

One module so that every tool accepts the same data in the same way and fails the same way
(docs/calling_convention.md):

``X`` (model inputs, :func:`as_model_inputs`)
    * a tensor: one positional input, batched along axis 0 (shape ``(n, …)``, at least 2-D for a
      floating input; a 1-D floating tensor is refused, since it is ambiguous between one sample and
      ``n`` scalar samples — pass ``X[None]`` or ``X[:, None]``); integer tensors (token ids) may be
      ``(n, t)`` or ``(n,)``;
    * a tuple of tensors: positional inputs, all with the same batch size;
    * a dict ``{name: tensor}``: keyword inputs (Hugging Face style ``{"input_ids": …, "attention_mask": …}``);
    * a list is refused (a list of row tensors is not a batch: ``torch.stack`` it).
    Non-tensor values inside a tuple/dict (``None``, ints, flags) are passed through unchanged and
    never sliced. The inputs must bind to ``model.forward``'s signature, so an extra tensor is an error,
    not silently dropped.
Outputs (:func:`flatten_output`, :func:`primary_output`)
    Whatever the model returns: a tensor, a tuple/list, a dict, a ``ModelOutput`` dataclass, nested;
    cache objects and other non-tensors are skipped. The *primary* output (used for losses and
    accuracies) is ``.logits`` where present, else the first tensor.
Modes (:func:`eval_mode`)
    Tools evaluate in eval mode (dropout off, BatchNorm running statistics) and restore every
    module's own ``training`` flag afterwards, even on error; code that changes modes on purpose
    (training, a BatchNorm statistics pass) restores them when it fails (:func:`modes_restored_on_error`).
Models (:func:`check_model_state`, :func:`check_same_architecture`, :func:`check_same_function`)
    No meta tensor, no zero-width layer, finite weights; a pair shares module types, module
    hyper-parameters and state-dict layout; a function-unchanged check compares two models' outputs.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass

import torch
from torch import nn

from ._checks import describe

__all__ = [
    "ModelInputs",
    "as_model_inputs",
    "call_model",
    "flatten_output",
    "primary_output",
    "eval_mode",
    "modes_restored_on_error",
    "check_same_architecture",
    "check_finite_parameters",
    "check_model_state",
    "model_device",
    "probe_output",
    "check_same_function",
    "model_outputs",
    "output_difference",
]


@dataclass(frozen=True)
class ModelInputs:
    """Normalized model inputs: positional ``args`` and keyword ``kwargs``; tensors batched on axis 0."""

    args: tuple
    kwargs: dict

    @property
    def tensors(self) -> list[torch.Tensor]:
        return [v for v in (*self.args, *self.kwargs.values()) if isinstance(v, torch.Tensor)]

    @property
    def batch_size(self) -> int:
        return int(self.tensors[0].shape[0])

    def map(self, fn) -> "ModelInputs":
        """Apply ``fn`` to every tensor (e.g. slicing, moving to a device)."""
        f = lambda v: fn(v) if isinstance(v, torch.Tensor) else v  # noqa: E731
        return ModelInputs(tuple(f(a) for a in self.args), {k: f(v) for k, v in self.kwargs.items()})

    def rows(self, index) -> "ModelInputs":
        """The samples ``index`` (an int slice or index tensor along the batch axis)."""
        return self.map(lambda t: t[index])

    def to(self, device=None, dtype: torch.dtype | None = None) -> "ModelInputs":
        """Move to ``device``; cast floating tensors (never integer token ids) to ``dtype``."""
        def move(t):
            t = t.to(device) if device is not None else t
            return t.to(dtype) if dtype is not None and t.is_floating_point() else t
        return self.map(move)

    def batches(self, batch_size: int):
        """Iterate over consecutive mini-batches of at most ``batch_size`` samples."""
        n = self.batch_size
        for s in range(0, n, batch_size):
            yield self.rows(slice(s, min(s + batch_size, n)))


def _check_tensor(t, name):
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(t.shape)}")
    if t.is_complex():
        raise TypeError(f"{name} must be real, got {describe(t)}")
    if t.is_floating_point():
        if t.ndim < 2:
            raise ValueError(f"{name} must be batched along axis 0 with shape (n, ...), got {describe(t)}; a 1-D "
                             "floating tensor is ambiguous: pass X[None] for one sample or X[:, None] for n scalars")
        if t.device.type != "meta" and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must be finite (it holds NaN or ±inf)")
    elif t.ndim < 1:
        raise ValueError(f"{name} must be batched along axis 0, got a 0-d tensor")
    if t.device.type == "meta":
        raise ValueError(f"{name} is on the 'meta' device and holds no values; pass real tensors")


def as_model_inputs(X, name: str = "X", model: nn.Module | None = None) -> ModelInputs:
    """Normalize a user's model inputs (see the module docstring for what is accepted).

    Parameters
    ----------
    X : torch.Tensor, tuple or dict
        The inputs. An already normalized :class:`ModelInputs` is returned as is (re-checked
        against ``model``).
    name : str
        The argument's name, used in error messages.
    model : nn.Module, optional
        If given, the inputs must bind to ``model.forward`` (no missing required input, no extra one).

    Raises
    ------
    TypeError
        ``X`` is not a tensor, tuple or dict of tensors; a list; or does not bind to ``model.forward``.
    ValueError
        Empty, non-finite, unbatched, or tensors with different batch sizes.
    """
    if isinstance(X, ModelInputs):
        inputs = X
    elif isinstance(X, torch.Tensor):
        inputs = ModelInputs((X,), {})
    elif isinstance(X, tuple):
        if not X:
            raise ValueError(f"{name} must be a tensor or a non-empty tuple of tensors, got an empty tuple")
        inputs = ModelInputs(tuple(X), {})
    elif isinstance(X, Mapping):
        if not X:
            raise ValueError(f"{name} must be a non-empty dict of keyword inputs, got an empty dict")
        if not all(isinstance(k, str) for k in X):
            raise TypeError(f"{name} as a dict must map keyword names (str) to inputs")
        inputs = ModelInputs((), dict(X))
    elif isinstance(X, list):
        raise TypeError(f"{name} must be a tensor (n, ...), a tuple of positional inputs or a dict of keyword "
                        f"inputs, got a list of {len(X)} items; stack rows with torch.stack(list) or pass a tuple")
    else:
        raise TypeError(f"{name} must be a torch tensor, a tuple of positional inputs or a dict of keyword inputs, "
                        f"got {describe(X)}")
    labelled = [(f"{name}[{i}]", a) for i, a in enumerate(inputs.args)] + \
               [(f"{name}[{k!r}]", v) for k, v in inputs.kwargs.items()]
    if len(labelled) == 1 and isinstance(X, torch.Tensor):
        labelled = [(name, X)]
    tensors = [(n, t) for n, t in labelled if isinstance(t, torch.Tensor)]
    if not tensors:
        raise TypeError(f"{name} holds no tensor")
    for n, t in tensors:
        _check_tensor(t, n)
    sizes = {n: int(t.shape[0]) for n, t in tensors}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"the tensors of {name} must share their batch size (axis 0), got {sizes}")
    if model is not None:
        try:
            sig = inspect.signature(model.forward)
        except (TypeError, ValueError):  # builtins or C-implemented forward: nothing to check
            sig = None
        if sig is not None:
            try:
                sig.bind(*inputs.args, **inputs.kwargs)
            except TypeError as err:
                raise TypeError(f"{name} does not match {type(model).__name__}.forward{sig}: {err}") from None
    return inputs


def call_model(model: nn.Module, inputs: ModelInputs):
    """``model(*inputs.args, **inputs.kwargs)``."""
    return model(*inputs.args, **inputs.kwargs)


def flatten_output(out) -> list[torch.Tensor]:
    """Every tensor in a model's output, in a fixed order (tuples, lists, dicts, dataclasses; caches skipped)."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):  # includes transformers' ModelOutput (an OrderedDict of its set fields)
        return [t for v in out.values() for t in flatten_output(v)]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in flatten_output(v)]
    if is_dataclass(out) and not isinstance(out, type):
        return [t for f in fields(out) for t in flatten_output(getattr(out, f.name))]
    return []


def primary_output(out, name: str = "model output") -> torch.Tensor:
    """The tensor losses and accuracies are computed on: ``out.logits`` where present, else the first tensor."""
    logits = out.get("logits") if isinstance(out, Mapping) else getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    flat = flatten_output(out)
    if not flat:
        raise TypeError(f"the {name} holds no tensor (got {type(out).__name__})")
    return flat[0]


@contextlib.contextmanager
def eval_mode(*models: nn.Module):
    """Put every module of ``models`` in eval mode; restore each module's own flag on exit, even on error."""
    saved = [(m, m.training) for model in models for m in model.modules()]
    try:
        for model in models:
            model.eval()
        yield
    finally:
        for m, flag in saved:
            m.training = flag


@contextlib.contextmanager
def modes_restored_on_error(*models: nn.Module):
    """For code that changes modes on purpose (training, a BatchNorm statistics pass): if the block raises,
    every module of ``models`` gets its own ``training`` flag back before the error propagates."""
    saved = [(m, m.training) for model in models for m in model.modules()]
    try:
        yield
    except BaseException:
        for m, flag in saved:
            m.training = flag
        raise


def check_same_architecture(model_a: nn.Module, model_b: nn.Module, names=("model_a", "model_b"), *,
                            hyperparameters: bool = True) -> None:
    """Both models must have the same module types and the same state-dict names, shapes and dtypes.

    With ``hyperparameters`` (default) every module's ``extra_repr()`` must also agree, so two
    convolutions with different strides, paddings or dilations, or two dropouts with different rates,
    count as different architectures even though their weights have the same shapes.

    Raises ``ValueError`` naming the first difference.
    """
    na, nb = names
    ta = [(n, type(m)) for n, m in model_a.named_modules()]
    tb = [(n, type(m)) for n, m in model_b.named_modules()]
    if ta != tb:
        diff = next(((x, y) for x, y in zip(ta, tb) if x != y), None)
        where = f": {diff[0][0] or '<root>'} is {diff[0][1].__name__} in {na} and {diff[1][1].__name__} in {nb}" \
            if diff else f": {len(ta)} vs {len(tb)} modules"
        raise ValueError(f"{na} and {nb} must have the same architecture{where}")
    if hyperparameters:
        for (n, ma), mb in zip(model_a.named_modules(), model_b.modules()):
            ra, rb = ma.extra_repr(), mb.extra_repr()
            if ra != rb:
                raise ValueError(f"{na} and {nb} must have the same architecture: module {n or '<root>'} "
                                 f"({type(ma).__name__}) is ({ra}) in {na} and ({rb}) in {nb}")
    sa, sb = model_a.state_dict(), model_b.state_dict()
    if list(sa) != list(sb):
        only = sorted(set(sa) ^ set(sb))[:3]
        raise ValueError(f"{na} and {nb} must have the same parameters and buffers; they differ in {only}")
    for k in sa:
        if sa[k].shape != sb[k].shape or sa[k].dtype != sb[k].dtype:
            raise ValueError(f"{na} and {nb} differ in {k!r}: {describe(sa[k])} vs {describe(sb[k])}")


def check_finite_parameters(model: nn.Module, name: str = "model") -> None:
    """Every floating parameter and buffer of ``model`` must be finite; ``ValueError`` naming the first bad one."""
    for k, t in model.state_dict().items():
        if t.is_floating_point() and t.device.type != "meta" and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} has a non-finite (NaN or ±inf) entry in {k!r}")
        if t.device.type == "meta":
            raise ValueError(f"{name} is on the 'meta' device ({k!r} holds no values); materialize it first")


def check_model_state(model: nn.Module, name: str = "model") -> None:
    """A model that can be evaluated: no tensor on the 'meta' device, no zero-size parameter (a layer of
    width 0), every floating parameter and buffer finite. ``ValueError`` naming ``name`` and the entry."""
    for k, t in model.named_parameters():
        if t.numel() == 0:
            raise ValueError(f"{name} has a zero-width layer: parameter {k!r} has shape {tuple(t.shape)}; "
                             "every layer needs at least one unit")
    check_finite_parameters(model, name)


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter (or buffer); CPU for a model with neither."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


@torch.no_grad()
def probe_output(model: nn.Module, inputs: ModelInputs, name: str = "X", model_name: str = "model"):
    """The primary output of ``model`` on the first sample of ``inputs``, in eval mode (no random state used).

    A failure of the forward pass (wrong width, wrong dtype, wrong number of axes) becomes a ``ValueError``
    naming ``name`` and carrying torch's message, instead of an error from deep inside the model.
    """
    one = inputs.rows(slice(0, 1))
    with eval_mode(model):
        try:
            out = call_model(model, one)
        except (RuntimeError, ValueError, TypeError, IndexError, AssertionError) as exc:
            msg = " ".join(str(exc).split()) or type(exc).__name__
            shapes = ", ".join(describe(t) for t in inputs.tensors)
            hint = ""
            if any(not t.is_floating_point() for t in inputs.tensors):
                hint = " (integer tensors are passed unchanged, as token ids; convert features with .float())"
            raise ValueError(f"{name} does not fit {model_name} ({type(model).__name__}): one sample of {name} "
                             f"({shapes}) fails in the forward pass with {type(exc).__name__}: {msg}{hint}") from None
    return primary_output(out, f"output of {model_name}")


@torch.no_grad()
def model_outputs(model: nn.Module, inputs) -> list[torch.Tensor]:
    """Every output tensor of ``model`` on ``inputs`` (a :class:`ModelInputs` or a tuple of positional inputs),
    evaluated in eval mode without gradients (:func:`eval_mode`, :func:`flatten_output`)."""
    with eval_mode(model):
        out = call_model(model, inputs) if isinstance(inputs, ModelInputs) else model(*inputs)
    return [t.detach() for t in flatten_output(out)]


def output_difference(outputs, reference) -> tuple[float, float]:
    """``(max |outputs − reference|, max |reference|)`` over matching lists of tensors, in float64.

    The one measure of "the function is unchanged" behind every check of the package (same-function
    checks, the alignment checks of :mod:`~lmctheory.nn.orthogonal` and :mod:`~lmctheory.nn.hierarchy`);
    each caller states its own tolerance. ``ValueError`` if the two lists differ in structure.
    """
    if len(outputs) != len(reference) or any(u.shape != v.shape for u, v in zip(outputs, reference)):
        raise ValueError("the two models return outputs of different structure")
    diff = max((float((u.double() - v.double()).abs().max()) if u.numel() else 0.0
                for u, v in zip(outputs, reference)), default=0.0)
    scale = max((float(v.double().abs().max()) if v.numel() else 0.0 for v in reference), default=0.0)
    return diff, scale


@torch.no_grad()
def check_same_function(model: nn.Module, reference: nn.Module, inputs: ModelInputs, *,
                        names=("model", "reference"), rtol: float = 1e-5, what: str = "") -> float:
    """Check that ``model`` computes the same function as ``reference`` on ``inputs`` (both in eval mode).

    Every output tensor is compared; the largest difference must stay within ``rtol`` times the
    reference's largest output magnitude (plus the dtype's resolution). Returns that largest
    difference; ``ValueError`` naming both models (and ``what`` was done) otherwise.
    """
    got, ref = model_outputs(model, inputs), model_outputs(reference, inputs)
    na, nb = names
    if len(got) != len(ref) or any(g.shape != r.shape for g, r in zip(got, ref)):
        raise ValueError(f"{na} and {nb} return outputs of different structure{what}")
    worst = 0.0
    for g, r in zip(got, ref):
        if not r.is_floating_point():
            if not torch.equal(g, r):
                raise ValueError(f"{na} and {nb} compute different functions{what}: integer outputs differ")
            continue
        diff, scale = output_difference([g], [r])
        tol = rtol * scale + 8 * torch.finfo(r.dtype).eps * max(scale, 1.0)
        if not diff <= tol:
            raise ValueError(f"{na} and {nb} compute different functions{what}: outputs differ by {diff:.3g} "
                             f"(output scale {scale:.3g}, tolerance {tol:.3g})")
        worst = max(worst, diff)
    return worst
