"""Views, reshapes, transposes, indexing, concatenation and splitting (pure data movement).

Row-major reshapes split and merge axes into factor classes (so a channel axis viewed as
``(groups, per_group)`` and transposed — a channel shuffle — is followed exactly). Splitting into (or
slicing out) equal consecutive pieces, and concatenating equal pieces, read the axis as
``(pieces, piece length)``: the piece index is pinned and one permutation acts inside every piece (Swin's
patch merging, fused projections). An axis indexed at one position, sliced unevenly, rolled, flipped,
padded or concatenated from unequal pieces is pinned.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx

from ..registry import register_handler
from ..tracer import norm_axis

_BIG = 2 ** 62


def reshape(ctx, xl, shape_in, shape_out):
    """Row-major reshape: match minimal blocks of axes with equal products, split/merge factors."""
    shape_in, shape_out = list(shape_in), list(shape_out)
    res, i, j = [], 0, 0
    while i < len(shape_in) or j < len(shape_out):
        bi, bj, pi, po = [], [], 1, 1
        while True:
            if pi == po and (bi or bj) and (i >= len(shape_in) or shape_in[i] != 1) and \
                    (j >= len(shape_out) or shape_out[j] != 1):
                break
            if (pi <= po and i < len(shape_in)) or j >= len(shape_out):
                if i >= len(shape_in):
                    break
                bi.append(i)
                pi *= shape_in[i]
                i += 1
            else:
                bj.append(j)
                po *= shape_out[j]
                j += 1
        flat = [c for a in bi for c in xl[a]]
        pieces = ctx.cl.cut(flat, [shape_out[a] for a in bj], "reshape mixes axes")
        if pieces is None:
            pieces = [ctx.cl.new(shape_out[a], f"{ctx.node.name}:{a}", pinned="reshape mixes axes") for a in bj]
        res.extend(pieces)
    return res


@register_handler("aten.view", "aten.reshape", "aten._unsafe_view", "aten.flatten", "aten.unflatten",
                  "aten.squeeze", "aten.unsqueeze", "aten.view_as", "aten.reshape_as", "aten.ravel")
def _reshape(ctx):
    x = ctx.arg(0)
    return reshape(ctx, ctx.lay(x), ctx.val(x).shape, ctx.out.shape)


@register_handler("aten.alias", "aten.contiguous", "aten.clone", "aten.detach", "aten.detach_", "aten.to",
                  "aten._to_copy", "aten.type_as", "aten.lift_fresh_copy", "aten.lift_fresh", "aten.float",
                  "aten.double", "aten.half", "aten.bfloat16", "aten._assert_tensor_metadata",
                  "aten.requires_grad_", "aten.clone_", "aten.dropout", "aten.dropout_", "aten.feature_dropout",
                  "aten.alpha_dropout", "aten.feature_alpha_dropout", "aten.native_dropout", "aten.identity")
def _identity(ctx):
    out = ctx.out
    if out is None:
        return None  # assertions
    name = str(ctx.node.target)
    if "dropout" in name:
        train = ctx.arg(2, "train", None)
        if train is True or (name.startswith("aten.native_dropout") and train is not False):
            ctx.fail("dropout in training mode (the graph is captured in eval mode; this dropout is forced on)")
        x = ctx.lay(ctx.arg(0))
        if isinstance(out, (tuple, list)):  # native_dropout: (output, mask)
            return [list(x), list(x)]
        return list(x)
    return list(ctx.lay(ctx.arg(0)))


@register_handler("aten.permute", "aten.transpose", "aten.swapaxes", "aten.swapdims", "aten.t", "aten.numpy_T",
                  "aten.mT", "aten.movedim", "aten.adjoint")
def _permute(ctx):
    x = ctx.arg(0)
    xl, n = ctx.lay(x), ctx.val(x).ndim
    name = str(ctx.node.target).split(".")[1]
    if name == "permute":
        return [xl[norm_axis(d, n)] for d in ctx.arg(1, "dims")]
    if name in ("transpose", "swapaxes", "swapdims"):
        a, b = norm_axis(ctx.arg(1, "dim0"), n), norm_axis(ctx.arg(2, "dim1"), n)
        res = list(xl)
        res[a], res[b] = res[b], res[a]
        return res
    if name in ("t", "numpy_T"):
        return list(reversed(xl))
    if name in ("mT", "adjoint"):
        return list(xl[:-2]) + [xl[-1], xl[-2]]
    src, dst = ctx.arg(1, "source"), ctx.arg(2, "destination")
    src = [src] if isinstance(src, int) else list(src)
    dst = [dst] if isinstance(dst, int) else list(dst)
    src = [norm_axis(s, n) for s in src]
    dst = [norm_axis(d, n) for d in dst]
    rest = iter([a for a in range(n) if a not in src])
    res = [None] * n
    for s, d in zip(src, dst):
        res[d] = xl[s]
    return [r if r is not None else xl[next(rest)] for r in res]


@register_handler("aten.expand", "aten.expand_as", "aten.broadcast_to")
def _expand(ctx):
    x = ctx.arg(0)
    return ctx.broadcast([(ctx.lay(x), ctx.val(x).shape)], ctx.out.shape)


@register_handler("aten.repeat")
def _repeat(ctx):
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    reps = list(ctx.arg(1, "repeats"))
    lead = len(reps) - xv.ndim
    res = [ctx.cl.new(r, f"{ctx.node.name}:{i}") for i, r in enumerate(reps[:lead])]
    for k in range(xv.ndim):
        r = reps[lead + k]
        # tiling: the axis becomes (r, n) row-major; the copy index is a constant axis
        res.append(ctx.cl.new(r, f"{ctx.node.name}:r{k}") + list(xl[k]))
    return res


@register_handler("aten.repeat_interleave.self_int")
def _repeat_interleave(ctx):
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    r, d = ctx.arg(1, "repeats"), ctx.arg(2, "dim")
    if d is None:
        ctx.fail("repeat_interleave without dim")
    d = norm_axis(d, xv.ndim)
    res = list(xl)
    res[d] = list(xl[d]) + ctx.cl.new(r, f"{ctx.node.name}:{d}")  # (n, r) row-major
    return res


@register_handler("aten.slice.Tensor", "aten.narrow")
def _slice(ctx):
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    d = norm_axis(ctx.arg(1, "dim", 0), xv.ndim)
    out = ctx.out
    res = list(xl)
    n, size = xv.shape[d], out.shape[d]
    start = ctx.arg(2, "start", 0) or 0
    step = ctx.arg(4, "step", 1) if "slice" in str(ctx.node.target) else 1
    start = start + n if start < 0 else start
    if size != n and size > 0 and step == 1 and n % size == 0 and start % size == 0:
        # one of n/size equal consecutive pieces: the piece index is pinned, the units within a piece
        # may be permuted (the same way in every piece), as for split/chunk
        cut = ctx.cl.cut(xl[d], [n // size, size], "slice of an equal piece")
        if cut is not None:
            ctx.pin(cut[0], "slice: position of the piece")
            res[d] = cut[1]
            return res
    if out.shape[d] != xv.shape[d]:
        ctx.pin(xl[d], "axis sliced by position")
        res[d] = ctx.cl.new(out.shape[d], f"{ctx.node.name}:{d}", pinned="slice")
    return res


@register_handler("aten.select")
def _select(ctx):
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    d = norm_axis(ctx.arg(1, "dim"), xv.ndim)
    ctx.pin(xl[d], "axis indexed at one position")
    return [a for k, a in enumerate(xl) if k != d]


@register_handler("aten.index.Tensor", "aten._unsafe_index.Tensor")
def _index(ctx):
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    idx = list(ctx.arg(1, "indices"))
    out = ctx.out
    used = [k for k, i in enumerate(idx) if i is not None]
    for k in used:
        ctx.pin(xl[k], "axis indexed by a tensor (advanced indexing)")
    # result: index axes (broadcast) replace the indexed axes (at the first one if they are adjacent)
    rest = [xl[k] for k in range(xv.ndim) if k not in used]
    n_idx = out.ndim - len(rest)
    adjacent = used == list(range(used[0], used[-1] + 1))
    first = used[0] if adjacent else 0
    before = [xl[k] for k in range(first) if k not in used] if adjacent else []
    after = [xl[k] for k in range(first, xv.ndim) if k not in used] if adjacent else rest
    mid = [ctx.cl.new(out.shape[len(before) + k], f"{ctx.node.name}:{len(before) + k}", pinned="advanced index")
           for k in range(n_idx)]
    return before + mid + after


@register_handler("aten.index_select", "aten.gather", "aten.take_along_dim")
def _index_select(ctx):
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    d = norm_axis(ctx.arg(1, "dim"), xv.ndim)
    ctx.pin(xl[d], "axis indexed by a tensor")
    out = ctx.out
    name = str(ctx.node.target)
    if "gather" in name or "take_along" in name:
        for k in range(xv.ndim):
            ctx.pin(xl[k], "gathered")
        return ctx.fresh(out.shape, "gather")
    res = list(xl)
    res[d] = ctx.cl.new(out.shape[d], f"{ctx.node.name}:{d}", pinned="index_select")
    return res


@register_handler("aten.roll", "aten.flip", "aten.cumsum", "aten.cumprod", "aten.cummax", "aten.cummin",
                  "aten.sort", "aten.argsort", "aten.topk", "aten.diff")
def _positional(ctx):
    """Operations that mix or move positions along given axes: those axes are pinned."""
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    name = str(ctx.node.target).split(".")[1]
    if name == "roll":
        dims = ctx.arg(2, "dims", [])
        dims = list(range(xv.ndim)) if not dims else ([dims] if isinstance(dims, int) else list(dims))
    elif name == "flip":
        dims = list(ctx.arg(1, "dims"))
    elif name in ("sort", "argsort", "topk"):
        dims = [ctx.arg(2 if name == "topk" else 1, "dim", -1)]
    else:
        dims = [ctx.arg(1, "dim", -1)]
    dims = [norm_axis(d, xv.ndim) for d in dims]
    for d in dims:
        ctx.pin(xl[d], f"axis mixed by {name}")
    out = ctx.out
    if isinstance(out, (tuple, list)):
        return [[xl[k] if k not in dims else ctx.cl.new(o.shape[k], f"{ctx.node.name}:{k}", pinned=name)
                 for k in range(o.ndim)] for o in out]
    if out.ndim != xv.ndim:
        ctx.fail(f"{name} with an unexpected result shape")
    return [xl[k] if k not in dims else ctx.cl.new(out.shape[k], f"{ctx.node.name}:{k}", pinned=name)
            for k in range(out.ndim)]


@register_handler("aten.pad", "aten.constant_pad_nd", "aten.reflection_pad1d", "aten.reflection_pad2d",
                  "aten.replication_pad1d", "aten.replication_pad2d", "aten.replication_pad3d",
                  "aten.reflection_pad3d", "aten.circular_pad2d")
def _pad(ctx):
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    pad = list(ctx.arg(1, "pad"))
    res = list(xl)
    for k in range(len(pad) // 2):
        d = xv.ndim - 1 - k
        if pad[2 * k] or pad[2 * k + 1]:
            ctx.pin(xl[d], "padded axis")
            res[d] = ctx.cl.new(ctx.out.shape[d], f"{ctx.node.name}:{d}", pinned="padded axis")
    return res


@register_handler("aten.cat", "aten.concat", "aten.concatenate", "aten.stack")
def _cat(ctx):
    stack = "stack" in str(ctx.node.target)
    ts = [t for t in ctx.arg(0, "tensors") if not (ctx.val(t).numel() == 0 and not stack)]  # empty pieces add nothing
    out = ctx.out
    n = out.ndim
    d = norm_axis(ctx.arg(1, "dim", 0), n)
    res = [None] * n
    equal = not stack and len(ts) > 1 and len({ctx.val(t).shape[d] for t in ts}) == 1
    for t in ts:
        tl = list(ctx.lay(t))
        if ctx.val(t).ndim != n - int(stack):
            ctx.fail("cat of tensors of different ranks (legacy 1-D empty tensors are the only exception)")
        if stack:
            tl = tl[:d] + [None] + tl[d:]
        elif equal:
            ctx.tie(ctx.lay(ts[0])[d], tl[d])  # equal pieces: one permutation inside every piece
        elif len(ts) > 1:
            ctx.pin(tl[d], "concatenated axis")
        for i in range(n):
            if i == d or tl[i] is None:
                continue
            if res[i] is None:
                res[i] = tl[i]
            else:
                ctx.tie(res[i], tl[i])
    if not stack and len(ts) == 1:
        res[d] = list(ctx.lay(ts[0])[d])
    elif equal:
        # (pieces, piece length) row-major: the piece index is pinned, the units within a piece follow the pieces
        res[d] = ctx.cl.new(len(ts), f"{ctx.node.name}:{d}", pinned="concatenated pieces") + list(ctx.lay(ts[0])[d])
    else:
        res[d] = ctx.cl.new(out.shape[d], f"{ctx.node.name}:{d}", pinned="concatenated/stacked axis")
    return [r if r is not None else ctx.cl.new(out.shape[i], f"{ctx.node.name}:{i}") for i, r in enumerate(res)]


@register_handler("aten.split", "aten.split_with_sizes", "aten.chunk", "aten.unbind", "aten.tensor_split",
                  "aten.unsafe_split", "aten.unsafe_chunk")
def _split(ctx):
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    name = str(ctx.node.target).split(".")[1]
    d = norm_axis(ctx.arg(1, "dim", 0) if name == "unbind" else ctx.arg(2, "dim", 0), xv.ndim)
    pieces = list(ctx.out)
    if name == "unbind":
        ctx.pin(xl[d], "unbound axis")
        rest = [xl[i] for i in range(xv.ndim) if i != d]
        return [list(rest) for _ in pieces]
    sizes = [p.shape[d] for p in pieces]
    if len(pieces) == 1:
        return [list(xl)]
    if len(set(sizes)) == 1 and sum(sizes) == xv.shape[d]:
        cut = ctx.cl.cut(xl[d], [len(pieces), sizes[0]], f"{name} into equal pieces")
        if cut is not None:
            ctx.pin(cut[0], f"{name}: position of the piece")
            return [list(xl[:d]) + [cut[1]] + list(xl[d + 1:]) for _ in pieces]
    ctx.pin(xl[d], f"{name} into unequal pieces")
    return [list(xl[:d]) + [ctx.cl.new(s, f"{ctx.node.name}:{d}", pinned="split")] + list(xl[d + 1:])
            for s in sizes]


@register_handler(operator.getitem)
def _getitem(ctx):
    src, idx = ctx.node.args
    lay = ctx.lay(src)
    v = ctx.val(src)
    if isinstance(v, torch.Tensor):
        ctx.fail("indexing a tensor with Python getitem in the captured graph")
    if lay is None or not isinstance(idx, int):
        if isinstance(ctx.out, torch.Tensor):
            ctx.fail("indexing a container the engine does not follow")
        return None
    return lay[idx]


@register_handler("aten.unfold")
def _unfold(ctx):
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    d = norm_axis(ctx.arg(1, "dimension"), xv.ndim)
    ctx.pin(xl[d], "axis unfolded into windows")
    res = list(xl)
    res[d] = ctx.cl.new(ctx.out.shape[d], f"{ctx.node.name}:{d}", pinned="unfold")
    return res + [ctx.cl.new(ctx.out.shape[-1], f"{ctx.node.name}:w", pinned="unfold")]


@register_handler("aten.channel_shuffle", "aten.native_channel_shuffle")
def _channel_shuffle(ctx):
    """Channels read as (groups, C/groups) and transposed: the factors are followed exactly."""
    x = ctx.arg(0)
    xl, xv = ctx.lay(x), ctx.val(x)
    g = int(ctx.arg(1, "groups"))
    cut = ctx.cl.cut(xl[1], [g, xv.shape[1] // g], "channel shuffle")
    if cut is None:
        return list(xl[:1]) + [ctx.cl.new(xv.shape[1], f"{ctx.node.name}:1", pinned="channel shuffle")] + \
            list(xl[2:])
    return list(xl[:1]) + [cut[1] + cut[0]] + list(xl[2:])


@register_handler("aten.im2col", "aten.col2im", "aten.pixel_shuffle", "aten.pixel_unshuffle")
def _mixing_layout(ctx):
    """Operations that rearrange channels with positions: every input axis is pinned."""
    x = ctx.arg(0)
    for a in ctx.lay(x):
        ctx.pin(a, f"rearranged by {str(ctx.node.target).split('.')[1]}")
    return ctx.fresh(ctx.out.shape, "rearranged")


def _shape_list(v):
    return isinstance(v, (list, tuple)) and all(isinstance(s, int) for s in v)


__all__ = ["reshape", "fx", "_shape_list", "_BIG"]
