"""Normalization layers: LayerNorm, RMSNorm, BatchNorm, GroupNorm, InstanceNorm.

Statistics over the normalized axes are invariant under permutations of those axes, so a norm is
equivariant; its gain, bias and running statistics follow their axis (tied). LayerNorm over the
channel axis of an image (ConvNeXt's ``LayerNorm2d``) is a permute, a ``layer_norm`` over the last
axis and a permute back: handled by the generic ops. GroupNorm(G, C) keeps only permutations that
map groups to groups: the channel axis is read as ``(G, C/G)`` (groups as blocks, times a shared
within-group permutation). An RMSNorm written out (``x * rsqrt(mean(x²) + ε) * w``) is handled by the
elementwise and reduction handlers.
"""

from __future__ import annotations

from ..registry import register_handler


def _trailing(ctx, x, k, params):
    xl = ctx.lay(x)
    for p in params:
        if p is not None:
            for a, b in zip(xl[len(xl) - k:], ctx.lay(p)):
                ctx.tie(a, b)
    return list(xl)


@register_handler("aten.layer_norm", "aten.native_layer_norm")
def _layer_norm(ctx):
    x, shape = ctx.arg(0, "input"), ctx.arg(1, "normalized_shape")
    res = _trailing(ctx, x, len(shape), (ctx.arg(2, "weight"), ctx.arg(3, "bias")))
    out = ctx.out
    if isinstance(out, (tuple, list)):  # (output, mean, rstd)
        xv = ctx.val(x)
        stats = list(res[:xv.ndim - len(shape)]) + [[] for _ in shape]
        return [ctx.tap(res, 2, (0,)), stats, list(stats)]
    return ctx.tap(res, 2)


@register_handler("aten.rms_norm", "aten._fused_rms_norm")
def _rms_norm(ctx):
    x, shape = ctx.arg(0, "input"), ctx.arg(1, "normalized_shape")
    res = _trailing(ctx, x, len(shape), (ctx.arg(2, "weight"),))
    out = ctx.out
    if isinstance(out, (tuple, list)):
        xv = ctx.val(x)
        return [ctx.tap(res, 2, (0,)), list(res[:xv.ndim - len(shape)]) + [[] for _ in shape]]
    return ctx.tap(res, 2)


def _channel_params(ctx, xl, params):
    for p in params:
        if p is not None:
            ctx.tie(xl[1], ctx.lay(p)[0])


@register_handler("aten.batch_norm", "aten._native_batch_norm_legit_no_training", "aten.native_batch_norm",
                  "aten._batch_norm_impl_index", "aten.cudnn_batch_norm", "aten._native_batch_norm_legit",
                  "aten._native_batch_norm_legit_functional")
def _batch_norm(ctx):
    x = ctx.arg(0, "input")
    xl = ctx.lay(x)
    name = str(ctx.node.target)
    training = ctx.arg(5, "training", False) if "legit_no_training" not in name else False
    if "legit_no_training" in name:
        training = False
    if training is True:
        ctx.fail("batch norm in training mode (batch statistics)")
    _channel_params(ctx, xl, (ctx.arg(1, "weight"), ctx.arg(2, "bias"), ctx.arg(3, "running_mean"),
                              ctx.arg(4, "running_var")))
    out = ctx.out
    if isinstance(out, (tuple, list)):
        C = [xl[1]]
        rest = []
        for o in out[1:]:
            rest.append(C if o.ndim == 1 and o.shape[0] == ctx.val(x).shape[1] else ctx.fresh(o.shape, "stat"))
        return [ctx.tap(list(xl), 2, (0,))] + rest
    return ctx.tap(list(xl), 2)


@register_handler("aten.group_norm", "aten.native_group_norm")
def _group_norm(ctx):
    x = ctx.arg(0, "input")
    xl, xv = ctx.lay(x), ctx.val(x)
    name = str(ctx.node.target)
    if "native" in name:
        w, b, G = ctx.arg(1), ctx.arg(2), ctx.arg(6, "group")
    else:
        G, w, b = ctx.arg(1, "num_groups"), ctx.arg(2, "weight"), ctx.arg(3, "bias")
    C = xv.shape[1]
    _channel_params(ctx, xl, (w, b))
    ctx.cl.cut(xl[1], [G, C // G], f"GroupNorm({G}, {C}): incompatible channel structure")
    out = ctx.out
    if isinstance(out, (tuple, list)):
        return [ctx.tap(list(xl), 2, (0,))] + [ctx.fresh(o.shape, "stat") for o in out[1:]]
    return ctx.tap(list(xl), 2)


@register_handler("aten.instance_norm")
def _instance_norm(ctx):
    x = ctx.arg(0, "input")
    xl = ctx.lay(x)
    if ctx.arg(5, "use_input_stats", True) is not True and (ctx.arg(3) is not None):
        pass
    _channel_params(ctx, xl, (ctx.arg(1, "weight"), ctx.arg(2, "bias"), ctx.arg(3, "running_mean"),
                              ctx.arg(4, "running_var")))
    return ctx.tap(list(xl), 2)
