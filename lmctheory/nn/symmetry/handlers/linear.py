"""Linear maps and products: ``linear``, ``addmm``/``mm`` (Hugging Face ``Conv1D``), ``matmul``/``bmm``/
``baddbmm``, ``einsum``.

A product contracts one axis of each operand: their classes are tied. Batch axes broadcast. When both
operands are activations (not parameters) and there are batch axes, the product is an attention
product: its batch axes are tagged ``"heads"`` and the contracted / value axes ``"head_dim"``; the
attention handler (:mod:`.attention`) records the site.
"""

from __future__ import annotations

from ..registry import register_handler


def matmul(ctx, a, b, out_shape, attention=True):
    al, av, bl, bv = ctx.lay(a), ctx.val(a), ctx.lay(b), ctx.val(b)
    if av.ndim == 1 and bv.ndim == 1:
        ctx.tie(al[0], bl[0])
        return []
    if av.ndim == 1:
        ctx.tie(al[0], bl[-2])
        return ctx.broadcast([(bl[:-2], bv.shape[:-2])], out_shape[:-1]) + [bl[-1]]
    if bv.ndim == 1:
        ctx.tie(al[-1], bl[0])
        return ctx.broadcast([(al[:-2], av.shape[:-2])], out_shape[:-1]) + [al[-2]]
    ctx.tie(al[-1], bl[-2])
    batch = ctx.broadcast([(al[:-2], av.shape[:-2]), (bl[:-2], bv.shape[:-2])], out_shape[:-2])
    if attention and ctx.param(a) is None and ctx.param(b) is None and batch:
        for c in batch:
            ctx.tag(c, "heads")
        ctx.tag(al[-1], "head_dim")
        ctx.tag(bl[-1], "head_dim")
        from .attention import record_matmul
        record_matmul(ctx, a, b)
    return batch + [al[-2], bl[-1]]


@register_handler("aten.linear")
def _linear(ctx):
    x, w, b = ctx.arg(0, "input"), ctx.arg(1, "weight"), ctx.arg(2, "bias")
    xl, wl = ctx.lay(x), ctx.lay(w)
    if ctx.val(w).ndim != 2:
        ctx.fail("linear with a weight that is not 2-D")
    ctx.tie(xl[-1], wl[1])
    res = list(xl[:-1]) + [wl[0]]
    if b is not None:
        res = ctx.broadcast([(res, ctx.out.shape), (ctx.lay(b), ctx.val(b).shape)], ctx.out.shape)
    return ctx.tap(res, 2)


@register_handler("aten.matmul", "aten.mm", "aten.bmm", "aten.mv", "aten.dot", "aten.vdot", "aten.inner")
def _matmul(ctx):
    return ctx.tap(matmul(ctx, ctx.arg(0), ctx.arg(1), ctx.out.shape), 2)


@register_handler("aten.addmm", "aten.baddbmm", "aten.addbmm", "aten.addmv")
def _addmm(ctx):
    bias, a, b = ctx.arg(0), ctx.arg(1), ctx.arg(2)
    out = ctx.out
    if "addbmm" in str(ctx.node.target) and "baddbmm" not in str(ctx.node.target):
        ctx.fail("addbmm (sums over the batch) is not supported")
    prod = matmul(ctx, a, b, out.shape)
    res = ctx.broadcast([(prod, out.shape), (ctx.lay(bias), ctx.val(bias).shape)], out.shape)
    return ctx.tap(res, 2)


@register_handler("aten.einsum")
def _einsum(ctx):
    eq, ops = ctx.arg(0, "equation"), list(ctx.arg(1, "tensors"))
    out = ctx.out
    if not isinstance(eq, str) or "." in eq:
        ctx.fail("einsum with ellipsis")
    eq = eq.replace(" ", "")
    lhs, _, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ops):
        ctx.fail("einsum equation and operands disagree")
    if "->" not in eq:
        counts = {c: lhs.count(c) for c in set(lhs) if c.isalpha()}
        rhs = "".join(sorted(c for c, n in counts.items() if n == 1))
    letter = {}
    for term, op in zip(terms, ops):
        ol, ov = ctx.lay(op), ctx.val(op)
        if len(set(term)) != len(term):
            ctx.fail("einsum with a repeated index in one operand (diagonal)")
        for i, c in enumerate(term):
            if ov.shape[i] == 1:
                continue
            if c in letter:
                ctx.tie(letter[c], ol[i])
            else:
                letter[c] = ol[i]
    if len(terms) == 2 and all(ctx.param(o) is None for o in ops):
        t0, t1 = terms
        for c, lay in letter.items():
            if c in t0 and c in t1:
                ctx.tag(lay, "heads" if c in rhs else "head_dim")
            elif c in t1 and c in rhs:
                ctx.tag(lay, "head_dim")
    return ctx.tap([letter.get(c, []) if out.shape[i] == 1 else letter[c] for i, c in enumerate(rhs)], 2)
