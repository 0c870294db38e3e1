"""Embedding lookups: the vocabulary axis is indexed by the input ids (pinned); the embedding axis is a
free axis of the output (the residual stream of a language model)."""

from __future__ import annotations

from ..registry import register_handler


@register_handler("aten.embedding", "aten.embedding_renorm")
def _embedding(ctx):
    w, ids = ctx.arg(0, "weight"), ctx.arg(1, "indices")
    wl = ctx.lay(w)
    if "renorm" in str(ctx.node.target):
        ctx.fail("embedding with max_norm (renormalizes rows in place)")
    ctx.pin(wl[0], "embedding rows are indexed by the input")
    return ctx.tap(list(ctx.lay(ids)) + [wl[1]], 2)


@register_handler("aten.embedding_bag", "aten._embedding_bag")
def _embedding_bag(ctx):
    ctx.fail("embedding_bag is not supported")
