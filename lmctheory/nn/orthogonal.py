"""Orthogonal alignment of a transformer's residual stream ([GLMC] §3–4; docs/theory.md T-S3, §10 "Alignment").

Permutations are not the whole symmetry group of a transformer: with a normalization that commutes with
orthogonal maps (RMSNorm without gain: ``RMSNorm(Qx) = Q·RMSNorm(x)``, T-S3), rotating the whole residual
stream by an orthogonal ``Q`` and every weight that reads it by ``Qᵀ`` (and every weight that writes it by
``Q``) leaves the function unchanged. [GLMC] align two independently trained transformers with such a ``Q``
(found by orthogonal Procrustes on the stream activations) in addition to permutations of heads and MLP units.

Here the stream is described by its *members*: the ``(state_dict name, axis)`` pairs along which the stream's
coordinates run (the residual-stream group of :func:`lmctheory.nn.symmetry.permutation_groups`). Applying ``Q``
means, for every member tensor ``T`` and its axis ``a``, ``T ← Q ×_a T`` (``T'[…, i, …] = Σ_j Q[i, j] T[…, j, …]``):
a weight writing the stream (``W ∈ R^{D×·}``, axis 0) becomes ``QW``, one reading it (axis 1) ``WQᵀ``, a bias or
positional embedding on the stream ``Qb``.

Supported models (checked): every member must belong to a linear map (``nn.Linear``, or an asymmetric linear
map, which is first replaced by a plain one holding its effective weight), an embedding/parameter tensor, or a
norm without parameters on the stream (this package's :class:`~lmctheory.nn.vit.RMSNorm`, ``torch.nn.RMSNorm``
with ``elementwise_affine=False``; ``nn.LayerNorm`` without affine, for which ``Q`` must fix the all-ones
direction). :func:`orthogonal_align` first folds norm gains and biases into the linear maps reading them
(:func:`fold_norm_gains`). A BatchNorm/GroupNorm, a gain on the stream that cannot be folded, or an elementwise
nonlinearity applied to the stream itself does not commute with rotations: the model is refused with the
offending module named, and every alignment is verified by comparing the model's outputs before and after.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

__all__ = ["apply_orthogonal", "stream_member_modules", "check_stream_rotatable", "OrthogonalAlignment",
           "fold_norm_gains", "residual_stream_group", "orthogonal_align", "has_norm_affine",
           "stream_rotation_constraint"]

_REFUSED = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)
_RMSNORM = (nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()
# functional norms on the stream do not commute with rotations either (named in the refusal)
_REFUSED_FUNCS = ("layer_norm", "group_norm", "batch_norm", "instance_norm")


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
        if isinstance(mod, _REFUSED) or (isinstance(mod, _RMSNORM) and mod.weight is not None):
            raise ValueError(
                f"the residual stream passes through {type(mod).__name__} at {name.rsplit('.', 1)[0]!r} (member "
                f"{name!r}), which does not commute with orthogonal maps (LayerNorm only admits rotations fixing the "
                "all-ones direction, T-S3): orthogonal alignment needs RMSNorm without gain (or with its gain folded "
                "into the following linear maps). Use permutation alignment for this model.")


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
        group of :func:`lmctheory.nn.symmetry.permutation_groups`).

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
    group: str = ""
    fixes_ones: bool = False
    members: tuple = ()
    converted: tuple = ()
    model_a: nn.Module | None = field(default=None, repr=False, compare=False)


# -------------------------------------------------------------------------------------------------
# folding RMSNorm gains, finding the stream, aligning
# -------------------------------------------------------------------------------------------------
def _is_conv1d(m) -> bool:
    """Hugging Face ``Conv1D`` (GPT-2): ``y = x W + b`` with ``W`` stored as ``(in, out)``."""
    return type(m).__name__ == "Conv1D" and isinstance(getattr(m, "weight", None), torch.Tensor) and \
        m.weight.ndim == 2 and hasattr(m, "nf")


def _linear_like(m) -> bool:
    return isinstance(m, nn.Linear) or _is_conv1d(m)


def _rms_eps(m):
    """``eps`` of a written-out RMSNorm module with a gain (``x·rsqrt(mean(x²) + eps)·g``, e.g. Hugging Face
    ``LlamaRMSNorm``), else ``None``."""
    if isinstance(m, _RMSNORM) or not type(m).__name__.endswith("RMSNorm"):
        return None
    w = getattr(m, "weight", None)
    eps = getattr(m, "variance_epsilon", getattr(m, "eps", None))
    if not isinstance(w, nn.Parameter) or w.ndim != 1 or not isinstance(eps, (int, float)):
        return None
    return float(eps)


def _norm_shape(m) -> tuple:
    return tuple(m.normalized_shape) if hasattr(m, "normalized_shape") else tuple(m.weight.shape)


def _has_affine(m) -> bool:
    """A norm on the last axis with a gain or bias (``nn.RMSNorm`` with gain, ``nn.LayerNorm`` with affine, a
    written-out RMSNorm module such as Hugging Face's ``LlamaRMSNorm``)."""
    if isinstance(m, _RMSNORM):
        return m.weight is not None
    if _rms_eps(m) is not None:
        return True
    if isinstance(m, nn.LayerNorm):
        return m.weight is not None or m.bias is not None
    return False


def _kind(m) -> str:
    return type(m).__name__ if _rms_eps(m) is not None else "RMSNorm" if isinstance(m, _RMSNORM) else "LayerNorm"


def _token_op(user, cur, ndim):
    """``ndim`` of the ATen node ``user``'s output if it only moves, mixes or selects along axes other than the
    last (a mean over tokens, an index like ``h[:, 0]``, a reshape keeping the last axis), which commutes with
    ``diag(g)`` and keeps a bias; else ``None``."""
    name = str(user.target)
    args = list(user.args)
    if not args or args[0] is not cur:
        return None
    val = user.meta.get("val")
    if not isinstance(val, torch.Tensor):
        return None
    if any(name.startswith(f"aten.{op}.") for op in ("clone", "alias", "contiguous", "detach", "dropout",
                                                     "_to_copy", "to")):
        return val.ndim if val.ndim == ndim else None
    if name.startswith(("aten.view.", "aten.reshape.", "aten._unsafe_view.")):
        src = cur.meta.get("val")
        # row-major: rows of the last axis stay rows when the last length is kept
        return val.ndim if val.ndim >= 1 and src is not None and val.shape[-1] == src.shape[-1] else None
    if name.startswith("aten.mean.dim"):
        dims = args[1] if len(args) > 1 else None
        keep = args[2] if len(args) > 2 else user.kwargs.get("keepdim", False)
        dims = dims if isinstance(dims, (tuple, list)) else (dims,)
        if not dims or not all(isinstance(d, int) for d in dims) or any(d % ndim == ndim - 1 for d in dims):
            return None
        return ndim if keep else ndim - len(dims)
    if name.startswith(("aten.select.int", "aten.slice.Tensor")):
        dim = args[1] if len(args) > 1 else 0
        if not isinstance(dim, int) or dim % ndim == ndim - 1:
            return None
        return val.ndim
    return None


def _module_nodes(cg, path):
    """The call_function nodes of the captured graph ``cg`` run inside the module at ``path``."""
    from .symmetry.capture import module_path

    return [n for n in cg.graph.nodes if n.op == "call_function" and
            (module_path(n) == path or module_path(n).startswith(path + "."))]


@torch.no_grad()
def fold_norm_gains(model: nn.Module, example_input) -> nn.Module:
    """A copy of ``model`` where the gain (and bias) of every norm on the last axis is folded into the linear maps
    reading it.

    ``W·(g ⊙ N(x) + β) + b = (W diag g)·N(x) + (b + Wβ)`` for ``N`` = RMSNorm (``torch.nn.RMSNorm``,
    ``elementwise_affine=True``, or a written-out RMSNorm module with a 1-D ``weight`` and ``eps`` /
    ``variance_epsilon`` such as Hugging Face's ``LlamaRMSNorm``) or LayerNorm (``nn.LayerNorm`` with affine, one
    normalized axis): each such norm whose every use reaches ``nn.Linear`` modules or Hugging Face ``Conv1D``
    (``x W + b``, rows of ``W`` scaled) (directly, or through a mean over other axes / an index that keeps
    the last axis, e.g. ``norm(h).mean(1)`` or ``norm(h)[:, 0]``), and whose linear maps read nothing else, is
    replaced by the same norm without affine parameters (same ``eps``), and each linear map by ``W diag g`` with
    bias ``b + Wβ``. The function is unchanged; the stream then admits orthogonal maps (RMSNorm) or those fixing
    the all-ones direction (LayerNorm), T-S3.

    Parameters
    ----------
    model : nn.Module
        Any module the symmetry engine captures (:func:`lmctheory.nn.symmetry.capture`); asymmetric
        layers must be converted first (:func:`lmctheory.nn.matching.to_standard`). A linear map whose weight
        is tied to another module's (a language model's head and embedding) is untied in the copy.
    example_input : torch.Tensor or tuple of torch.Tensor

    Returns
    -------
    nn.Module
        A new model (the original is untouched); the model itself if it has no such norm.

    Raises
    ------
    ValueError
        Naming the norm, if its output feeds anything else (a residual add in a post-norm block, an
        activation, …), a linear map also called on other tensors, or it normalizes more than one axis.

    References
    ----------
    [GLMC] §3 (LayerNorm = RMSNorm after centering, gains absorbed before rotating the residual stream);
    docs/theory.md T-S3.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.RMSNorm(4), nn.Linear(4, 2))
    >>> with torch.no_grad():
    ...     _ = net[1].weight.uniform_(0.5, 2.0)
    >>> x = torch.randn(5, 3)
    >>> f = fold_norm_gains(net, x)
    >>> f[1].weight is None, bool(torch.allclose(f(x), net(x), atol=1e-6))
    (True, True)
    """
    from .symmetry import capture

    if not any(_has_affine(m) for m in model.modules()):
        return model
    cg = capture(model, example_input)
    plan = _fold_plan(cg, dict(model.named_modules()))
    new = copy.deepcopy(model)
    _fold_into_linears(new, plan)
    return new


def _linear_calls(cg, mods) -> dict:
    """Linear module name -> its call nodes in the captured graph ``cg`` (``aten.linear``; ``aten.addmm`` of a
    Hugging Face ``Conv1D``)."""
    from .symmetry.capture import module_path

    calls = {}
    for node in cg.graph.nodes:
        m = mods.get(module_path(node)) if node.op == "call_function" else None
        if isinstance(m, nn.Linear) and str(node.target).startswith("aten.linear.") or \
                _is_conv1d(m) and str(node.target).startswith("aten.addmm."):
            calls.setdefault(module_path(node), set()).add(node)
    return calls


def _norm_readers(node, where, reads) -> set:
    """The linear call nodes reading the norm output ``node`` (through token operations only, :func:`_token_op`);
    ``ValueError`` (prefixed by ``where``) if the output reaches anything else."""
    from .symmetry.capture import module_path

    readers, stack = set(), [(node, node.meta["val"].ndim)]
    while stack:
        cur, nd = stack.pop()
        for user in cur.users:
            if user.op == "output":
                raise ValueError(f"{where}: its output is an output of the model, not only read by nn.Linear "
                                 "maps; orthogonal alignment needs the norm without gain/bias (T-S3)")
            if reads(user, cur):
                readers.add(user)
                continue
            nd2 = _token_op(user, cur, nd)
            if nd2 is None or nd2 < 1:
                raise ValueError(
                    f"{where}: its output feeds {user.target} (node {user.name!r}, module "
                    f"{module_path(user)!r}), not only nn.Linear maps; orthogonal alignment needs the norm "
                    "without gain/bias (T-S3)")
            stack.append((user, nd2))
    return readers


def _fold_plan(cg, mods) -> dict:
    """Norm name -> the names of the linear maps its gain/bias folds into; ``ValueError`` naming a norm that
    cannot be folded (see :func:`fold_norm_gains`)."""
    from .symmetry.capture import module_path

    calls = _linear_calls(cg, mods)

    def reads(user, cur):
        return user in calls.get(module_path(user), ()) and \
            user.args[1 if str(user.target).startswith("aten.addmm.") else 0] is cur
    plan = {}  # norm name -> set of linear module names
    claimed = {}  # linear module -> norm
    for name, m in mods.items():
        if not _has_affine(m):
            continue
        where = f"cannot fold the gain of {_kind(m)} at {name!r}"
        if len(_norm_shape(m)) != 1:
            raise ValueError(f"{where}: it normalizes {len(_norm_shape(m))} axes (only the last axis is "
                             "supported)")
        ran = _module_nodes(cg, name)
        if not ran:
            continue  # not called on this input
        readers = _norm_readers(ran[-1], where, reads)
        names = {module_path(r) for r in readers}
        for ln in names:
            if not calls[ln] <= readers or claimed.get(ln, name) != name:
                raise ValueError(f"{where}: the linear map {ln!r} reading it also reads other tensors")
            claimed[ln] = name
        plan[name] = names
    return plan


def _plain_norm(norm, ref):
    """The norm ``norm`` without affine parameters (same kind, shape and ``eps``), on ``ref``'s device/dtype."""
    if _rms_eps(norm) is not None:
        plain = nn.RMSNorm(_norm_shape(norm), eps=_rms_eps(norm), elementwise_affine=False,
                           device=ref.device, dtype=ref.dtype)
    elif isinstance(norm, _RMSNORM):
        plain = nn.RMSNorm(norm.normalized_shape, eps=norm.eps, elementwise_affine=False,
                           device=ref.device, dtype=ref.dtype)
    else:
        plain = nn.LayerNorm(norm.normalized_shape, eps=norm.eps, elementwise_affine=False,
                             device=ref.device, dtype=ref.dtype)
    plain.train(norm.training)
    return plain


@torch.no_grad()
def _fold_into_linears(new, plan) -> None:
    """Fold each planned norm's gain/bias into its linear maps and replace the norm by a plain one, in place on
    ``new`` (a copy of the model); a tied weight is untied, a missing bias added."""
    nmods = dict(new.named_modules())

    def replace(name, module):
        parent_name, _, child = name.rpartition(".")
        setattr(new.get_submodule(parent_name) if parent_name else new, child, module)

    shared = {}  # parameter id -> how many module slots hold it (a tied lm_head and embedding)
    for mod in new.modules():
        for p in mod.parameters(recurse=False):
            shared[id(p)] = shared.get(id(p), 0) + 1

    for norm_name, lin_names in plan.items():
        norm = nmods[norm_name]
        ref = norm.weight if norm.weight is not None else norm.bias
        g = norm.weight.detach() if norm.weight is not None else torch.ones_like(ref)
        beta = getattr(norm, "bias", None)
        for ln in sorted(lin_names):
            lin = nmods[ln]
            w0 = lin.weight.detach().clone()
            if _is_conv1d(lin):  # y = x W + b, W (in, out): rows scaled
                lin.weight.copy_(w0 * g.to(w0.dtype)[:, None])
                if beta is not None:
                    lin.bias.add_(beta.detach().to(w0.dtype) @ w0)
                continue
            if shared.get(id(lin.weight), 1) > 1 or beta is not None and lin.bias is None:
                # a tied weight is untied (the fold changes this reader only); a missing bias is added
                bias = lin.bias is not None or beta is not None
                fresh = nn.Linear(lin.in_features, lin.out_features, bias=bias, device=w0.device, dtype=w0.dtype)
                fresh.weight.copy_(w0)
                if bias:
                    fresh.bias.copy_(lin.bias.detach() if lin.bias is not None else torch.zeros_like(fresh.bias))
                fresh.train(lin.training)
                replace(ln, fresh)
                lin = nmods[ln] = fresh
            lin.weight.copy_(w0 * g.to(w0.dtype))
            if beta is not None:
                lin.bias.add_(w0 @ beta.detach().to(w0.dtype))
        replace(norm_name, _plain_norm(norm, ref))


def residual_stream_group(groups, group: str | None = None):
    """The residual-stream group among ``groups`` (``kind == "residual"``), or the one named ``group``."""
    from .symmetry import check_groups

    groups = check_groups(groups)
    if group is not None:
        found = [g for g in groups if g.name == group]
        if not found:
            raise ValueError(f"group {group!r} is not among the groups {[g.name for g in groups]}")
        return found[0]
    res = [g for g in groups if g.kind == "residual"]
    if not res:
        raise ValueError("the model has no residual-stream group (no group of kind 'residual' among "
                         f"{[(g.name, g.kind) for g in groups]}): nothing to rotate; pass group= to rotate another")
    if len(res) > 1:
        raise ValueError(f"the model has {len(res)} residual-stream groups {[g.name for g in res]}; "
                         "pick one with group=")
    return res[0]


def _check_stream_ops(cg, model, g) -> bool:
    """Refuse, naming it, any captured operation on the stream that does not commute with rotations; return True
    if a LayerNorm without affine parameters acts on the stream (then ``Q`` must fix the all-ones direction)."""
    mods = dict(model.named_modules())
    nodes = {n.name: n for n in cg.graph.nodes}
    fix_ones = False
    for t in g.taps:
        node = nodes.get(t.node)
        if node is None:
            continue
        op = t.op or str(node.target)
        m = mods.get(t.module) if t.module else None
        where = f"{op} (node {node.name!r}, module {t.module!r})"
        if "layer_norm" in op and _functional_ln_plain(node):
            fix_ones = True  # layer_norm(x, shape, weight=None, bias=None): commutes with Q·1 = ±1 (T-S3)
            continue
        if "rms_norm" in op and len(node.args) > 2 and node.args[2] is not None or \
                isinstance(m, _REFUSED) or (isinstance(m, _RMSNORM) and m.weight is not None) or \
                any(f in op for f in _REFUSED_FUNCS):
            raise ValueError(
                f"the residual stream passes through {type(m).__name__ if m is not None else 'a norm'} at {where}, "
                "which does not commute with orthogonal maps (LayerNorm only admits rotations fixing the all-ones "
                "direction, after its gain and bias are folded into the following linear maps, T-S3): orthogonal "
                "alignment needs RMSNorm or LayerNorm whose affine parameters fold (fold_gains=True). Use "
                "permutation alignment for this model.")
        if t.tier == 0:
            raise ValueError(
                f"an elementwise nonlinearity ({where}) acts on the residual stream itself; it commutes with "
                "permutations but not with orthogonal maps, so the stream cannot be rotated")
    return fix_ones


def _functional_ln_plain(node) -> bool:
    """A functional ``layer_norm(input, normalized_shape, weight, bias, eps)`` node over one axis with neither
    weight nor bias (as ``F.layer_norm`` or ``aten.layer_norm`` write it)."""
    args = list(node.args) + [None] * 5
    shape = node.kwargs.get("normalized_shape", args[1])
    weight = node.kwargs.get("weight", args[2])
    bias = node.kwargs.get("bias", args[3])
    one_axis = isinstance(shape, (list, tuple)) and len(shape) == 1 or isinstance(shape, int)
    return bool(one_axis and weight is None and bias is None)


def has_norm_affine(module: nn.Module) -> bool:
    """True for an ``nn.RMSNorm`` with a gain or an ``nn.LayerNorm`` with a gain or bias (to be folded by
    :func:`fold_norm_gains` before the stream can rotate, T-S3).

    Examples
    --------
    >>> from torch import nn
    >>> has_norm_affine(nn.LayerNorm(4)), has_norm_affine(nn.LayerNorm(4, elementwise_affine=False))
    (True, False)
    """
    return _has_affine(module)


def stream_rotation_constraint(model: nn.Module, example_input, group) -> bool:
    """Which orthogonal maps the residual-stream ``group`` of ``model`` admits: ``False`` — every orthogonal map
    (gainless RMSNorm); ``True`` — those with ``Q·1 = ±1`` (LayerNorm without affine parameters on the stream,
    T-S3). Raises ``ValueError`` naming the operation when the stream cannot rotate at all (a norm with a gain,
    BatchNorm/GroupNorm, an elementwise nonlinearity on the stream).

    Parameters
    ----------
    model : nn.Module
    example_input : torch.Tensor or tuple of torch.Tensor
    group : PermutationGroup
        The residual-stream group of ``model`` (:func:`residual_stream_group`).

    References
    ----------
    [GLMC] §2 (LayerNorm = RMSNorm after centering); docs/theory.md T-S3.

    Examples
    --------
    >>> import torch
    >>> from lmctheory.nn.vit import make_vit
    >>> from lmctheory.nn.symmetry import permutation_groups
    >>> m = make_vit(norm="rmsnorm", dim=8, heads=2, depth=1, seed=0)
    >>> x = torch.zeros(2, 64)
    >>> stream_rotation_constraint(m, x, residual_stream_group(permutation_groups(m, x)))
    False
    """
    from .symmetry import capture

    return _check_stream_ops(capture(model, example_input), model, group)


def _procrustes_fixing_ones(B, A):
    """``O`` orthogonal with ``O·1 = ±1`` minimizing ``‖B O − A‖_F`` (Procrustes on the complement of ``1``)."""
    from ..alignment import orthogonal_procrustes

    D = A.shape[1]
    basis = np.linalg.qr(np.hstack([np.ones((D, 1)), np.eye(D)[:, : D - 1]]))[0]  # [±1/√D, basis of 1^⊥]
    u, perp = basis[:, :1], basis[:, 1:]
    s = 1.0 if float(((B @ u).T @ (A @ u))[0, 0]) >= 0 else -1.0
    O = s * (u @ u.T)
    if D > 1:
        O = O + perp @ orthogonal_procrustes(B @ perp, A @ perp) @ perp.T
    return O


def _stream_rows(vals, taps):
    rows = []
    for t in taps:
        v = vals[t.node]
        for i in t.index:
            v = v[i]
        rows.append(torch.movedim(v.detach().double(), t.axis, -1).reshape(-1, v.shape[t.axis]))
    return torch.cat(rows).numpy()


def _outputs(model, inputs):
    from ._inputs import model_outputs

    return model_outputs(model, inputs)


def orthogonal_align(model_a: nn.Module, model_b: nn.Module, X, groups=None, *, group: str | None = None,
                     fold_gains: bool = True, atol: float | None = None, rtol: float = 1e-4):
    """Align model B's residual stream to model A's by an orthogonal map ([GLMC]; docs/theory.md T-S3, §10).

    With ``a_s, b_s ∈ R^D`` the two models' stream activations at the same stream point ``s`` on the same
    input and token (rows of ``A``, ``B``: every sample × token × stream point, taken at the residual sums of
    the stream group; at the outputs of linear maps on the stream if it has no residual sum),

    ``Q = argmin_{QᵀQ = I} Σ_s ‖a_s − Q b_s‖² = (U Vᵀ)ᵀ``  with  ``BᵀA = U S Vᵀ``

    (orthogonal Procrustes, :func:`lmctheory.alignment.orthogonal_procrustes`). ``Q`` is applied to every
    tensor of B that writes the stream (``W ← QW``, biases, positional embeddings) or reads it (``W ← WQᵀ``)
    (:func:`apply_orthogonal`); the aligned B computes the same function as B, which is verified on ``X``.

    Supported models: any model :func:`~lmctheory.nn.symmetry.permutation_groups` can trace whose stream passes
    only through linear maps, residual sums, token mixing (attention, means, indexing) and

    * parameter-free RMSNorm (this package's ``RMSNorm``, ``nn.RMSNorm(elementwise_affine=False)``, or written
      functionally): every orthogonal ``Q``;
    * ``nn.LayerNorm`` on the last axis: ``Q`` restricted to ``Q·1 = ±1`` (the maps commuting with the centering
      ``M = I − 11ᵀ/D``, T-S3; ``fixes_ones`` in the result), Procrustes solved on the complement of ``1``;
    * gains/biases of ``nn.RMSNorm`` / ``nn.LayerNorm`` are first folded into the ``nn.Linear`` maps that read the
      norm (directly or after a token mean/index) by :func:`fold_norm_gains` when ``fold_gains``.

    Asymmetric layers are made standard first (:func:`~lmctheory.nn.matching.to_standard`: fixed ``F``/``D``
    cannot rotate), in both models. Refused with a ``ValueError`` naming the module: a norm gain that cannot be
    folded (e.g. a post-norm block whose LayerNorm output *is* the stream), BatchNorm, GroupNorm, InstanceNorm,
    functional ``layer_norm``/``group_norm``, an elementwise nonlinearity on the stream; anything else that
    breaks the symmetry is caught by the function check (``SymmetryCheckError``).

    Typical use: permutation-align heads and MLP units first (:func:`~lmctheory.nn.matching.activation_match`,
    :func:`~lmctheory.nn.matching.permute_model`), then rotate the stream.

    Parameters
    ----------
    model_a, model_b : nn.Module
        Same architecture (same state-dict names and shapes).
    X : torch.Tensor, tuple of torch.Tensor, or array_like ``(N, d)``
        Inputs (batch first, ``N ≥ 2``); every token of every input is a sample. Also the check inputs.
    groups : list of PermutationGroup, optional
        Default: traced from (the converted) ``model_a`` on ``X``.
    group : str, optional
        Name of the group to rotate (default: the single group of kind ``"residual"``).
    fold_gains : bool
        Fold ``nn.RMSNorm``/``nn.LayerNorm`` gains and biases into the following linear maps (else such a model
        is refused).
    atol, rtol : float
        Function check ``max|f_B(x) − f_{QB}(x)| ≤ atol + rtol·max|f_B(x)|``; ``atol`` defaults to
        ``100·ε(dtype)·max(1, max|f_B|)``.

    Returns
    -------
    model_b_aligned : nn.Module
        A new model (the inputs are untouched), standard layers.
    OrthogonalAlignment
        ``Q``, the Procrustes residuals before/after, the function change and ``model_a`` in the same
        parametrization (interpolate between ``alignment.model_a`` and ``model_b_aligned``).

    Raises
    ------
    ValueError
        Unsupported normalization / nonlinearity on the stream (named), no residual-stream group, models of
        different architectures, bad ``X``.
    SymmetryCheckError
        If the rotated model's outputs differ from B's beyond the tolerance.

    References
    ----------
    [GLMC] §3–4 (orthogonal residual-stream alignment of transformers); docs/theory.md T-S3 and §10 "Alignment";
    Schönemann 1966 (orthogonal Procrustes).

    Examples
    --------
    >>> import torch
    >>> from lmctheory.nn.vit import make_vit
    >>> a = make_vit(norm="rmsnorm", dim=8, heads=2, depth=1, seed=0)
    >>> Q = torch.linalg.qr(torch.randn(8, 8, generator=torch.Generator().manual_seed(0),
    ...                                 dtype=torch.float64))[0]
    >>> from lmctheory.nn.symmetry import permutation_groups
    >>> g = [g for g in permutation_groups(a, torch.zeros(2, 64)) if g.kind == "residual"][0]
    >>> b = apply_orthogonal(a, Q, g.members)
    >>> b_al, res = orthogonal_align(a, b, torch.randn(20, 64))
    >>> bool(torch.allclose(b_al.embed.weight, a.embed.weight, atol=1e-5)), res.residual_after < 1e-5
    (True, True)
    """
    from ..alignment import orthogonal_procrustes
    from ._checks import check_module
    from ._inputs import as_model_inputs, check_same_architecture
    from .symmetry import capture, check_groups, permutation_groups

    check_module(model_a, "model_a", nn.Module, "a torch.nn.Module")
    check_module(model_b, "model_b", nn.Module, "a torch.nn.Module")
    check_same_architecture(model_a, model_b)
    rtol = float(rtol)
    if not (np.isfinite(rtol) and rtol >= 0):
        raise ValueError(f"rtol must be a finite number ≥ 0, got {rtol}")
    xs = as_model_inputs(X, "X", model=model_a)
    if xs.batch_size < 2:
        raise ValueError(f"X needs at least 2 samples along its first axis, got {xs.batch_size}")
    # the stream is identified on the model as given, so a model without one is refused for that reason
    g = residual_stream_group(permutation_groups(model_a, xs) if groups is None else check_groups(groups), group)
    model_a, model_b, g, converted = _standard_pair(model_a, model_b, xs, g, fold_gains)
    members = _stream_members(model_b, g, converted)
    check_stream_rotatable(model_b, members)
    cg = capture(model_a, xs)
    fix_ones = _check_stream_ops(cg, model_a, g)
    taps = _alignment_taps(model_a, g)
    keep = {t.node for t in taps}
    A = _stream_rows(cg.run(model_a, xs, keep), taps)
    B = _stream_rows(cg.run(model_b, xs, keep), taps)
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(B))):
        raise ValueError("the stream activations are not finite on X")
    # B O ≈ A, i.e. a ≈ Oᵀ b; with LayerNorm on the stream O must fix the all-ones direction (T-S3)
    O = _procrustes_fixing_ones(B, A) if fix_ones else orthogonal_procrustes(B, A)
    Q = O.T
    aligned = apply_orthogonal(model_b, Q, members)
    diff = _check_rotation_unchanged(model_b, aligned, xs, members, g.name, atol, rtol)
    nA = float(np.linalg.norm(A))
    res_before = float(np.linalg.norm(A - B) / nA) if nA > 0 else float("nan")
    res_after = float(np.linalg.norm(A - B @ Q.T) / nA) if nA > 0 else float("nan")
    return aligned, OrthogonalAlignment(Q=Q, residual_before=res_before, residual_after=res_after,
                                        n_samples=int(A.shape[0]), function_change=diff, group=g.name,
                                        fixes_ones=fix_ones,
                                        members=tuple(members), converted=tuple(converted), model_a=model_a)


def _standard_pair(model_a, model_b, xs, g, fold_gains):
    """Both models with asymmetric layers made standard and norm gains folded (when needed), the stream group
    ``g`` re-traced on the converted model, and the list of conversions made: ``(model_a, model_b, g,
    converted)``."""
    from .matching import to_standard
    from .symmetry import is_asymmetric_module, permutation_groups

    converted = []
    if any(is_asymmetric_module(m) for m in model_a.modules()):
        model_a, model_b = to_standard(model_a), to_standard(model_b)
        converted.append("asymmetric layers → standard (to_standard)")
    if any(_has_affine(m) for m in model_a.modules()):
        if not fold_gains:
            name, m = next((n, m) for n, m in model_a.named_modules() if _has_affine(m))
            raise ValueError(f"the residual stream passes through {_kind(m)} with a gain/bias at {name!r}, which does "
                             "not commute with orthogonal maps (LayerNorm: not even with those fixing the all-ones "
                             "direction); pass fold_gains=True to fold it into the linear maps reading it (T-S3)")
        model_a, model_b = fold_norm_gains(model_a, xs), fold_norm_gains(model_b, xs)
        converted.append("norm gains/biases folded into the linear maps reading them")
    if converted:
        # the converted model has other members (no F/D) and traced nodes: take its group of the same name
        found = [h for h in permutation_groups(model_a, xs) if h.name == g.name]
        if not found:
            raise ValueError(f"group {g.name!r} is not a group of the converted (standard) model")
        g = found[0]
    return model_a, model_b, g, converted


def _stream_members(model_b, g, converted) -> list[tuple[str, int]]:
    """The ``(name, axis)`` members of the stream group ``g`` present in ``model_b`` (``F``/``D`` of converted
    layers are gone); ``ValueError`` if members are missing from a model that was not converted."""
    sd = model_b.state_dict()
    members = [(m.name, m.axis) for m in g.members if m.name in sd]  # F/D of converted layers are gone
    dropped = [m.name for m in g.members if m.name not in sd]
    if dropped and not converted:
        raise ValueError(f"group {g.name!r} has members that are not in the model: {dropped[:3]}")
    return _as_members([(n, a) for n, a in members])


def _alignment_taps(model_a, g) -> list:
    """The stream activations Procrustes aligns on: the residual sums of ``g``, else the outputs of the linear
    maps on the stream; ``ValueError`` if there are none."""
    taps = [t for t in g.taps if t.tier == 1 and t.outer == 1 and t.inner == 1]
    if not taps:
        mods = dict(model_a.named_modules())
        taps = [t for t in g.taps if t.op.startswith("aten.linear.") and isinstance(mods.get(t.module), nn.Linear)
                and t.outer == 1 and t.inner == 1]
    if not taps:
        raise ValueError(f"group {g.name!r} has no traced activation to align on (no residual sum or linear "
                         "output carries it)")
    return taps


def _check_rotation_unchanged(model_b, aligned, xs, members, group_name, atol, rtol) -> float:
    """``max|f_B(x) − f_{QB}(x)|`` on ``xs``; ``SymmetryCheckError`` if it exceeds ``atol + rtol·max|f_B|``
    (``atol`` default: ``100·ε(dtype)·max(1, max|f_B|)``)."""
    from .symmetry import SymmetryCheckError

    from ._inputs import output_difference

    ya, yb = _outputs(model_b, xs), _outputs(aligned, xs)
    diff, scale = output_difference(yb, ya)
    if atol is None:
        eps = max(torch.finfo(u.dtype).eps if u.is_floating_point() else 0.0 for u in ya)
        atol = 100 * eps * max(scale, 1.0)
    if not diff <= float(atol) + rtol * scale:
        gains = [n for n, _ in members if n.rsplit(".", 1)[-1] not in ("weight", "bias") or
                 not isinstance(dict(model_b.named_modules()).get(n.rpartition(".")[0]), nn.Linear)]
        raise SymmetryCheckError(
            f"rotating the residual stream (group {group_name!r}) changed model B's outputs by {diff:.3g} > "
            f"{float(atol) + rtol * scale:.3g}: some operation on the stream does not commute with orthogonal maps "
            f"(stream tensors that are not linear weights: {gains[:6]})")
    return diff
