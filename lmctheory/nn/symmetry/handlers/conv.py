"""Convolutions (1-, 2-, 3-D; plain, grouped, depthwise, transposed).

``groups = 1``: the input channel axis is tied to ``weight[:, in]``, the output channels are
``weight[out]`` (and the bias); spatial axes and kernel axes are pinned.

``groups = G > 1``: input channels are read as ``(G, C_in/G)`` and output channels as
``(G, C_out/G)``. Permuting the ``G`` groups as blocks (the same permutation on the input's group
factor and the output's group factor), and, shared by all groups, the channels within a group, are
symmetries: the input's group factor is tied to the output's, the within-group input factor to
``weight[:, in]``, and the output's two factors are ``weight[out]``. A depthwise convolution
(``C_in = G``) thus ties input and output channels one to one (times the channel multiplier).
"""

from __future__ import annotations

from ..registry import register_handler


def conv(ctx, x, w, b, groups, transposed=False):
    xl, xv, wl, wv = ctx.lay(x), ctx.val(x), ctx.lay(w), ctx.val(w)
    out = ctx.out
    k = wv.ndim - 2
    ch = xv.ndim - k - 1
    # weight axes: (out, in/G, *k) for a convolution, (in, out/G, *k) for a transposed one
    w_in, w_out = (wl[0], wl[1]) if transposed else (wl[1], wl[0])
    if groups == 1:
        ctx.tie(xl[ch], w_in)
        out_ch = w_out
    else:
        cin, cout = xv.shape[ch], out.shape[ch]
        if transposed:
            # weight (C_in, C_out/G): C_in read as (G, C_in/G); the output channel is (G, C_out/G)
            wi = ctx.cl.cut(w_in, [groups, cin // groups], "grouped transposed convolution")
            xi = ctx.cl.cut(xl[ch], [groups, cin // groups], "grouped convolution input")
            if wi is None or xi is None:
                ctx.fail("grouped transposed convolution with incompatible channel structure")
            ctx.tie(xi[0], wi[0])
            ctx.tie(xi[1], wi[1])
            out_ch = wi[0] + list(w_out)
        else:
            xi = ctx.cl.cut(xl[ch], [groups, cin // groups], f"convolution with groups={groups}")
            wo = ctx.cl.cut(w_out, [groups, cout // groups], f"convolution with groups={groups}")
            if xi is None or wo is None:
                ctx.fail(f"convolution with groups={groups}: incompatible channel structure")
            ctx.tie(xi[0], wo[0])
            ctx.tie(xi[1], w_in)
            out_ch = w_out
    for a in xl[ch + 1:]:
        ctx.pin(a, "spatial axis mixed by a convolution")
    for a in wl[2:]:
        ctx.pin(a, "convolution kernel axis")
    res = list(xl[:ch]) + [list(out_ch)] + [
        ctx.cl.new(s, f"{ctx.node.name}:{ch + 1 + i}", pinned="spatial axis of a convolution")
        for i, s in enumerate(out.shape[ch + 1:])]
    if b is not None:
        bl = ctx.lay(b)
        ctx.tie(bl[0], res[ch])
    return ctx.tap(res, 2)


@register_handler("aten.conv1d", "aten.conv2d", "aten.conv3d")
def _conv(ctx):
    pad = ctx.arg(4, "padding", 0)
    if isinstance(pad, str) and pad not in ("valid", "same"):
        ctx.fail(f"convolution with padding={pad!r}")
    return conv(ctx, ctx.arg(0, "input"), ctx.arg(1, "weight"), ctx.arg(2, "bias"), int(ctx.arg(6, "groups", 1)))


@register_handler("aten.conv_transpose1d", "aten.conv_transpose2d", "aten.conv_transpose3d")
def _conv_t(ctx):
    return conv(ctx, ctx.arg(0, "input"), ctx.arg(1, "weight"), ctx.arg(2, "bias"), int(ctx.arg(6, "groups", 1)),
                transposed=True)


@register_handler("aten.convolution", "aten._convolution")
def _convolution(ctx):
    return conv(ctx, ctx.arg(0, "input"), ctx.arg(1, "weight"), ctx.arg(2, "bias"), int(ctx.arg(8, "groups", 1)),
                transposed=bool(ctx.arg(6, "transposed", False)))
