"""Attention sites: which projections are q, k, v, o of each attention product (see :class:`AttentionSite`).

From each recorded attention product the graph is walked back from q, k and v through data movement
(views, transposes, splits of a fused projection, dtype casts, scalar scaling, rotary embeddings) to
the linear map that produced them, and forward from the output to the linear map that reads it.
"""

from __future__ import annotations

import operator
from dataclasses import replace

import numpy as np
import torch

from .capture import module_path
from .types import AttentionSite, Projection

_MOVE = {"view", "reshape", "_unsafe_view", "transpose", "permute", "contiguous", "clone", "to", "_to_copy",
         "alias", "expand", "unsqueeze", "squeeze", "flatten", "unflatten", "dropout", "detach", "type_as",
         "lift_fresh_copy", "t", "repeat_interleave", "float", "half", "bfloat16", "double"}


def _name(node):
    s = str(node.target)
    return s.split(".")[1] if s.startswith("aten.") else s


class _Walker:
    def __init__(self, analysis):
        self.a = analysis
        self.graph = analysis.graph
        self._from_params = {}

    def from_params(self, node) -> bool:
        """True if ``node`` depends on a parameter (so it is an activation, not a position table)."""
        if not hasattr(node, "op"):
            return False
        if node in self._from_params:
            return self._from_params[node]
        stack, seen, found = [node], set(), False
        while stack and not found:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            if n.op == "placeholder":
                found = n.name in self.graph.params
                continue
            stack.extend(a for a in n.all_input_nodes)
        self._from_params[node] = found
        return found

    def _proj(self, node, outer, index, rotary):
        name = _name(node)
        p = self.graph.params.get
        if name == "linear":
            w, b = node.args[1], node.args[2] if len(node.args) > 2 else node.kwargs.get("bias")
            if p(w.name) is None:
                return None, rotary
            return Projection(p(w.name), p(b.name) if hasattr(b, "name") else None, 0, outer, index), rotary
        if name == "addmm":  # Hugging Face Conv1D: x @ W + b with W of shape (in, out)
            b, w = node.args[0], node.args[2]
            if p(w.name) is None:
                return None, rotary
            return Projection(p(w.name), p(b.name) if hasattr(b, "name") else None, 1, outer, index), rotary
        if name in ("matmul", "mm") and hasattr(node.args[1], "name") and p(node.args[1].name):
            return Projection(p(node.args[1].name), None, node.args[1].meta["val"].ndim - 1, outer, index), rotary
        return None, rotary

    def back(self, node, depth=0):
        """(Projection or None, rotary, path) for an attention operand; ``path`` lists the data-movement
        nodes from the projection's output (exclusive) to ``node`` (inclusive)."""
        outer, index, rotary = 1, 0, False
        path = []
        while depth < 200:
            depth += 1
            if not hasattr(node, "op") or node.op != "call_function":
                return None, rotary, None
            name = _name(node)
            proj, rot = self._proj(node, outer, index, rotary)
            if proj is not None:
                return replace(proj, node=node), rot, path[::-1]
            if node.target is operator.getitem:
                src = node.args[0]
                sname = _name(src)
                if sname in ("split", "split_with_sizes", "chunk", "unbind", "unsafe_split"):
                    outer, index = len(src.meta["val"]), node.args[1]
                    path += [node, src]
                    node = src.args[0]
                    continue
                return None, rotary, None
            if name == "select":
                outer, index = node.args[0].meta["val"].shape[node.args[1]], node.args[2]
                path.append(node)
                node = node.args[0]
                continue
            if name == "slice":
                src = node.args[0]
                d = node.args[1]
                n = src.meta["val"].shape[d]
                size = node.meta["val"].shape[d]
                start = node.args[2] if len(node.args) > 2 and node.args[2] is not None else 0
                if outer == 1 and size and n % size == 0 and start % size == 0:
                    outer, index = n // size, start // size
                path.append(node)
                node = src
                continue
            if name in _MOVE:
                path.append(node)
                node = node.args[0]
                continue
            if name in ("mul", "div", "add", "sub"):
                tens = [x for x in node.args if isinstance(x, torch.fx.Node)]
                acts = [x for x in tens if self.from_params(x)]
                others = [x for x in tens if x not in acts]
                if name == "mul" and others and any(o.meta["val"].ndim and o.meta["val"].shape[-1] > 1
                                                    for o in others):
                    rotary = True
                if name in ("add", "sub") and len(acts) == 2:
                    # rotary: q·cos + rotate_half(q)·sin — both branches come from q; follow the first
                    p0, r0, path0 = self.back(acts[0], depth)
                    p1, r1, _ = self.back(acts[1], depth)
                    if p0 is not None and p1 is not None and p0.weight == p1.weight:
                        return p0, rotary or r0 or r1, path0 + path[::-1]
                    return None, rotary, None
                if len(acts) != 1:
                    return None, rotary, None
                node = acts[0]
                continue
            if name == "neg":
                node = node.args[0]
                continue
            if name == "cat":
                pieces = [x for x in node.args[0] if isinstance(x, torch.fx.Node) and x.meta["val"].numel() > 0]
                if len(pieces) == 1:  # concatenation with an empty cache: data movement
                    path.append(node)
                    node = pieces[0]
                    continue
                found = [self.back(x, depth) for x in pieces]  # rotate_half: pieces of the same projection
                if found and all(f[0] is not None and f[0].weight == found[0][0].weight for f in found):
                    return found[0][0], rotary or any(f[1] for f in found), None
                return None, rotary, None
            return None, rotary, None
        return None, rotary, None

    def forward(self, node):
        """(Projection reading an attention output (o) or None, path of data-movement nodes to it)."""
        path = []
        while len(path) < 50:
            users = list(node.users)
            if len(users) != 1:
                return None, None
            u = users[0]
            name = _name(u)
            if name == "linear" and u.args[0] is node:
                w = u.args[1]
                b = u.args[2] if len(u.args) > 2 else u.kwargs.get("bias")
                pw = self.graph.params.get(w.name)
                if pw is None:
                    return None, None
                return Projection(pw, self.graph.params.get(b.name) if hasattr(b, "name") else None, 1), path
            if name == "addmm" and u.args[1] is node:
                w, b = u.args[2], u.args[0]
                pw = self.graph.params.get(w.name)
                if pw is None:
                    return None, None
                return Projection(pw, self.graph.params.get(b.name) if hasattr(b, "name") else None, 0), path
            if name in _MOVE or (name in ("mul", "div") and not any(
                    isinstance(a, torch.fx.Node) and a is not node for a in u.args)):
                if name in _MOVE:
                    path.append(u)
                node = u
                continue
            return None, None
        return None, None


def _replay(start_value, path, first_input):
    """Apply the data-movement nodes of ``path`` to ``start_value`` (in place of ``first_input``)."""
    cur, prev = start_value, first_input
    for n in path:
        def sub(a):
            if a is prev:
                return cur
            if isinstance(a, torch.fx.Node):
                if a.meta["val"].numel() == 0:  # an empty piece (a cache): zeros of its shape
                    return torch.zeros(tuple(a.meta["val"].shape), dtype=cur.dtype)
                return cur  # the chain continued through an elementwise link (rotary) that is not replayed
            return a
        args = torch.fx.node.map_arg(n.args, sub)
        kwargs = torch.fx.node.map_arg(n.kwargs, sub)
        if n.target is operator.getitem:
            cur = cur[n.args[1]]
        else:
            try:
                cur = n.target(*args, **kwargs)
            except RuntimeError:  # a view of a non-contiguous index tensor: same values by reshape
                if _name(n) != "view":
                    raise
                cur = cur.reshape(n.args[1])
        prev = n
    return cur


def _rows_back(proj, path, operand, transposed=False):
    """Indices along the projection's feature axis of each (head, within-head) entry of ``operand``."""
    node = proj.node
    out = node.meta["val"]
    idx = torch.arange(out.shape[-1], dtype=torch.float64).expand(tuple(out.shape)).contiguous()
    try:
        r = _replay(idx, path, node)
    except Exception:
        return None
    if r.ndim < 4 or tuple(r.shape) != tuple(operand.meta["val"].shape):
        return None
    if transposed:
        r = r.transpose(-1, -2)
    sel = r[(0,) * (r.ndim - 3)][:, 0, :]
    rows = sel.round().long().numpy()
    # grouped-query attention written with repeat_kv: repeated kv heads collapse to distinct rows
    uniq = []
    for h in rows:
        if not any(np.array_equal(h, u) for u in uniq):
            uniq.append(h)
    return np.stack(uniq)


def _rows_forward(proj, path, attn_out):
    v = attn_out.meta["val"]
    if v.ndim < 4:
        return None
    H, dv = v.shape[-3], v.shape[-1]
    code = (torch.arange(H, dtype=torch.float64)[:, None, None] * dv +
            torch.arange(dv, dtype=torch.float64)[None, None, :])
    idx = code.expand(tuple(v.shape)).contiguous()
    try:
        r = _replay(idx, path, attn_out)
    except Exception:
        return None
    feat = r.reshape(-1, r.shape[-1])[0].round().long().numpy()
    if sorted(feat.tolist()) != list(range(H * dv)):
        return None
    inv = np.empty(H * dv, dtype=np.int64)
    inv[feat] = np.arange(len(feat))
    return inv.reshape(H, dv)


def _scores_source(node, depth=0):
    """The q@kᵀ matmul node an attention-probabilities tensor comes from (through softmax, scaling, masks)."""
    while depth < 50 and hasattr(node, "op") and node.op == "call_function":
        depth += 1
        name = _name(node)
        if name in ("matmul", "bmm", "baddbmm"):
            return node
        if name in ("softmax", "_softmax", "_safe_softmax", "dropout", "to", "_to_copy", "div", "mul", "add",
                    "sub", "masked_fill", "where", "type_as", "contiguous", "clone", "alias") or name in _MOVE:
            cand = [a for a in node.args if isinstance(a, torch.fx.Node)]
            if name == "where":
                cand = cand[1:]
            if not cand:
                return None
            node = cand[0]
            continue
        return None
    return None


def _with_rows(p, rows):
    if p is None:
        return None
    return replace(p, node=None, rows=None if rows is None else tuple(map(tuple, rows.tolist())))


def attention_sites_of(analysis) -> list[AttentionSite]:
    w = _Walker(analysis)
    recs = analysis.attention
    sites = []
    matmuls = {r[1]: r for r in recs if r[0] == "matmul"}
    used_qk = set()
    triples = []
    for r in recs:
        if r[0] == "sdpa":
            _, node, q, k, v = r
            triples.append((node, node, q, k, v))
    for node, (_, _, a, b, _) in matmuls.items():
        src = _scores_source(a)
        if src is not None and src in matmuls and src is not node:
            _, _, q, kt, _ = matmuls[src]
            used_qk.add(src)
            triples.append((src, node, q, kt, b))
    for site_node, out_node, q, k, v in triples:
        qv, kv, vv = q.meta["val"], k.meta["val"], v.meta["val"]
        qp, qrot, qpath = w.back(q)
        kp, krot, kpath = w.back(k)
        vp, _, vpath = w.back(v)
        op, opath = w.forward(out_node)
        explicit = site_node is not out_node  # softmax(q @ kᵀ) @ v: the operand is kᵀ
        qp = _with_rows(qp, _rows_back(qp, qpath, q) if qp is not None else None)
        kp = _with_rows(kp, _rows_back(kp, kpath, k, transposed=explicit) if kp is not None else None)
        vp = _with_rows(vp, _rows_back(vp, vpath, v) if vp is not None else None)
        op = _with_rows(op, _rows_forward(op, opath, out_node) if op is not None else None)
        # head counts: from the projections' widths where found (repeat_kv hides kv heads in shapes)
        head_dim = int(qv.shape[-1])
        v_head_dim = int(vv.shape[-1])
        n_heads = int(qv.shape[-3]) if qv.ndim >= 4 else 1
        n_kv = int(kv.shape[-3]) if kv.ndim >= 4 and not explicit else n_heads

        def width(p):
            t = analysis.sd.get(p.weight)
            return None if t is None else t.shape[p.axis] // p.outer

        if qp is not None and width(qp):
            n_heads = max(1, width(qp) // head_dim)
        if kp is not None and width(kp):
            n_kv = max(1, width(kp) // head_dim)
        ql = analysis.lay.get(q)
        kl = analysis.lay.get(k)
        vl = analysis.lay.get(v)
        heads_group = analysis.group_name_of(kl[-3]) if kl is not None and kv.ndim >= 4 and not explicit else \
            (analysis.group_name_of(ql[-3]) if ql is not None and qv.ndim >= 4 else None)
        qk_group = analysis.group_name_of(ql[-1]) if ql is not None else None
        vo_group = analysis.group_name_of(vl[-1]) if vl is not None else None
        rep_group = None
        if ql is not None and qv.ndim >= 4:
            exp = analysis.cl.expand(ql[-3])
            if len(exp) == 2:
                heads_group = analysis.group_name_of([exp[0]]) or heads_group
                rep_group = analysis.group_name_of([exp[1]])
        residual = None
        if qp is not None and qp.weight in analysis.plays:
            in_axis = 1 - qp.axis if analysis.sd[qp.weight].ndim == 2 else None
            if in_axis is not None:
                residual = analysis.group_name_of(analysis.plays[qp.weight][in_axis])
        sites.append(AttentionSite(site_node.name, module_path(site_node), qp, kp, vp, op, n_heads, n_kv, head_dim,
                                   v_head_dim, bool(qrot or krot), heads_group, qk_group, vo_group, residual,
                                   rep_group))
    return sites
