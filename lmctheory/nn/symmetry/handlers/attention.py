"""Attention: ``scaled_dot_product_attention`` (with masks and grouped-query attention) and the
explicit form ``softmax(q @ kᵀ) @ v`` (the products are handled by :mod:`.linear`).

SDPA ties the within-head axis of q and k, the token axis of k and v, and broadcasts the batch/head
axes of q, k, v and the mask. With ``enable_gqa`` the ``H_q`` query heads are read as
``(H_kv, H_q/H_kv)``: the kv-head factor is tied to the heads of k and v, so a kv head moves with its
group of query heads, and the query heads within a group share one permutation. Grouped-query
attention written with ``repeat_kv`` (``expand`` + ``reshape``) gets the same structure from the
shape handlers. A mask is broadcast against the scores ``(…, H, L, S)``: a mask computed from the
inputs (or a parameter mask over token axes) pins the axes where it varies.

Every attention product is recorded (:func:`record_sdpa`, :func:`record_matmul`) so that
:func:`lmctheory.nn.symmetry.attention_sites` can report which projections are q, k, v and o.
"""

from __future__ import annotations

from ..registry import register_handler


def record_sdpa(ctx, q, k, v):
    ctx._a.attention.append(("sdpa", ctx.node, q, k, v))


def record_matmul(ctx, a, b):
    ctx._a.attention.append(("matmul", ctx.node, a, b, None))


@register_handler("aten.scaled_dot_product_attention", "aten._scaled_dot_product_flash_attention",
                  "aten._scaled_dot_product_efficient_attention", "aten._scaled_dot_product_flash_attention_for_cpu",
                  "aten._scaled_dot_product_attention_math")
def _sdpa(ctx):
    name = str(ctx.node.target)
    q, k, v = ctx.arg(0, "query"), ctx.arg(1, "key"), ctx.arg(2, "value")
    ql, kl, vl = ctx.lay(q), ctx.lay(k), ctx.lay(v)
    qv, kv, vv = ctx.val(q), ctx.val(k), ctx.val(v)
    mask = ctx.arg(3, "attn_mask") if name.startswith("aten.scaled_dot_product_attention") or \
        "math" in name else ctx.node.kwargs.get("attn_mask")
    gqa = bool(ctx.node.kwargs.get("enable_gqa", ctx.arg(7, None, False)) if "scaled_dot_product_attention." in name
               else False)
    ctx.tie(ql[-1], kl[-1])
    ctx.tie(kl[-2], vl[-2])
    out = ctx.out
    if isinstance(out, (tuple, list)):
        ctx.fail("fused attention kernels returning auxiliary outputs are not supported")
    qb = list(ql[:-2])
    if gqa and qv.ndim >= 3 and qv.shape[-3] != kv.shape[-3]:
        hq, hkv = qv.shape[-3], kv.shape[-3]
        cut = ctx.cl.cut(ql[-3], [hkv, hq // hkv], "grouped-query attention heads")
        if cut is None:
            ctx.fail("grouped-query attention with incompatible head structure")
        ctx.tie(cut[0], kl[-3])
        ctx.tie(cut[0], vl[-3])
        batch = ctx.broadcast([(qb[:-1], qv.shape[:-3]), (kl[:-3], kv.shape[:-3]), (vl[:-3], vv.shape[:-3])],
                              out.shape[:-3]) + [ql[-3]]
    else:
        batch = ctx.broadcast([(qb, qv.shape[:-2]), (kl[:-2], kv.shape[:-2]), (vl[:-2], vv.shape[:-2])],
                              out.shape[:-2])
    if mask is not None and hasattr(ctx.val(mask), "shape"):
        ml, mv = ctx.lay(mask), ctx.val(mask)
        full = list(batch) + [ql[-2], kl[-2]]
        shape = tuple(out.shape[:-2]) + (qv.shape[-2], kv.shape[-2])
        ctx.broadcast([(ml, mv.shape), (full, shape)], shape)  # ties (and so pins) the mask's axes
    for c in batch:
        ctx.tag(c, "heads")
    ctx.tag(ql[-1], "head_dim")
    ctx.tag(vl[-1], "head_dim")
    record_sdpa(ctx, q, k, v)
    return ctx.tap(batch + [ql[-2], vl[-1]], 2)
