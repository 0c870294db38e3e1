"""Reductions, softmax and pooling.

A sum/mean/max over an axis is invariant under every permutation of that axis, so the reduced axis
keeps its class (it simply disappears from the output). ``max``/``min`` with ``dim`` return values and
indices: the indices name positions, so the reduced axis is pinned only if the indices are used.
Softmax along an axis is equivariant along it. Pooling mixes spatial positions (pinned) and keeps
channels.
"""

from __future__ import annotations

import operator

from ..registry import register_handler
from ..tracer import norm_axis


def _dims(ctx, ndim, i=1, name="dim"):
    d = ctx.arg(i, name)
    if d is None or (isinstance(d, (list, tuple)) and len(d) == 0):
        return list(range(ndim))
    d = [d] if isinstance(d, int) else list(d)
    return sorted(norm_axis(a, ndim) for a in d)


def _reduced(ctx, xl, ndim, dims, out_ndim):
    keep = out_ndim == ndim
    res = [[] if i in dims else xl[i] for i in range(ndim)] if keep else [xl[i] for i in range(ndim) if i not in dims]
    if len(res) != out_ndim:
        ctx.fail("reduction with an unexpected result shape")
    return res


@register_handler("aten.sum", "aten.mean", "aten.amax", "aten.amin", "aten.prod", "aten.logsumexp", "aten.any",
                  "aten.all", "aten.nansum", "aten.nanmean", "aten.count_nonzero")
def _reduce(ctx):
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    name = str(ctx.node.target)
    if name.endswith(".default") and name.split(".")[1] in ("sum", "mean", "prod", "any", "all", "nansum"):
        dims = list(range(xv.ndim))  # full reduction
    else:
        dims = _dims(ctx, xv.ndim)
    return ctx.tap(_reduced(ctx, xl, xv.ndim, dims, ctx.out.ndim), 2)


@register_handler("aten.var", "aten.std", "aten.var_mean", "aten.std_mean")
def _var(ctx):
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    d = ctx.arg(1, "dim")
    dims = list(range(xv.ndim)) if d is None or isinstance(d, bool) else \
        sorted(norm_axis(a, xv.ndim) for a in ([d] if isinstance(d, int) else d))
    out = ctx.out
    if isinstance(out, (tuple, list)):
        return [_reduced(ctx, xl, xv.ndim, dims, o.ndim) for o in out]
    return _reduced(ctx, xl, xv.ndim, dims, out.ndim)


@register_handler("aten.norm", "aten.linalg_vector_norm", "aten.frobenius_norm")
def _norm(ctx):
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    dims = _dims(ctx, xv.ndim, 2, "dim")
    return ctx.tap(_reduced(ctx, xl, xv.ndim, dims, ctx.out.ndim), 2)


def _indices_used(node) -> bool:
    for u in node.users:
        if u.target is operator.getitem and u.args[1] == 1 and u.users:
            return True
        if u.target is not operator.getitem:
            return True
    return False


@register_handler("aten.max", "aten.min", "aten.median", "aten.nanmedian", "aten.mode", "aten.kthvalue",
                  "aten.aminmax")
def _maxmin(ctx):
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    out = ctx.out
    name = str(ctx.node.target)
    if not isinstance(out, (tuple, list)):
        if len(ctx.tensor_args()) > 1:  # max(a, b): elementwise
            from .elementwise import elementwise
            return elementwise(ctx)
        return _reduced(ctx, xl, xv.ndim, list(range(xv.ndim)), out.ndim)
    if "aminmax" in name:
        dims = _dims(ctx, xv.ndim)
        return [_reduced(ctx, xl, xv.ndim, dims, o.ndim) for o in out]
    d = norm_axis(ctx.arg(2 if "kthvalue" in name else 1, "dim", -1), xv.ndim)
    if _indices_used(ctx.node):
        ctx.pin(xl[d], "axis reduced by max/min whose indices are used")
    res = _reduced(ctx, xl, xv.ndim, [d], out[0].ndim)
    return [ctx.tap(res, 2, (0,)), list(res)]


@register_handler("aten.argmax", "aten.argmin")
def _argmax(ctx):
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    d = ctx.arg(1, "dim")
    dims = list(range(xv.ndim)) if d is None else [norm_axis(d, xv.ndim)]
    for k in dims:
        ctx.pin(xl[k], "axis whose positions argmax/argmin return")
    return _reduced(ctx, xl, xv.ndim, dims, ctx.out.ndim)


@register_handler("aten.softmax", "aten._softmax", "aten.log_softmax", "aten._log_softmax", "aten.softmin",
                  "aten._safe_softmax")
def _softmax(ctx):
    return ctx.tap(list(ctx.lay(ctx.arg(0))), 0)


def _pool(ctx, k):
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    ch = xv.ndim - k - 1
    for a in xl[ch + 1:]:
        ctx.pin(a, "spatial axis mixed by pooling")
    out = ctx.out

    def one(o):
        return list(xl[:ch + 1]) + [ctx.cl.new(s, f"{ctx.node.name}:{ch + 1 + i}", pinned="spatial axis of pooling")
                                    for i, s in enumerate(o.shape[ch + 1:])]
    if isinstance(out, (tuple, list)):  # (values, indices)
        if _indices_used(ctx.node):
            ctx.fail("pooling whose indices are used")
        return [ctx.tap(one(out[0]), 2, (0,)), one(out[1])]
    return ctx.tap(one(out), 2)


for _k, _names in ((1, ("max_pool1d", "avg_pool1d", "adaptive_avg_pool1d", "adaptive_max_pool1d", "lp_pool1d",
                        "max_pool1d_with_indices", "upsample_nearest1d", "upsample_linear1d",
                        "_upsample_nearest_exact1d")),
                   (2, ("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "lp_pool2d",
                        "max_pool2d_with_indices", "_adaptive_avg_pool2d", "upsample_nearest2d",
                        "upsample_bilinear2d", "upsample_bicubic2d", "_upsample_nearest_exact2d",
                        "_upsample_bilinear2d_aa")),
                   (3, ("max_pool3d", "avg_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d",
                        "max_pool3d_with_indices", "upsample_nearest3d", "upsample_trilinear3d"))):
    register_handler(*[f"aten.{n}" for n in _names])(lambda ctx, _k=_k: _pool(ctx, _k))
