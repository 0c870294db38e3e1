"""The [GLMC] symmetry hierarchy of a transformer and its three alignment strategies (docs/theory.md §10,
T-S1, T-S3, T-S4).

A transformer's function is unchanged by

* **permutations** of the units of every feed-forward layer (T-S1) and of the heads of every attention layer;
* an **orthogonal map** ``R`` of the residual stream (T-S3): every tensor writing the stream gets ``R·``, every
  tensor reading it ``·Rᵀ`` — exact when the stream's norms are gainless RMSNorm, or LayerNorm with its gain and
  bias folded into the maps reading it and ``R·1 = ±1`` (LayerNorm = RMSNorm after the centering ``M = I − 11ᵀ/D``);
* per head, an **invertible map** inside each circuit (T-S4): ``W_Q ← W_Q A``, ``W_K ← W_K A^{−ᵀ}`` leaves
  ``W_Q W_Kᵀ`` unchanged, ``W_V ← W_V B``, ``W_O ← B^{−1} W_O`` leaves ``W_V W_O`` unchanged. So heads are compared
  through their circuits, never through their factors.

The levels of :func:`align` are nested: ``"permutation"`` (FF units, heads, the stream by a permutation),
``"orthogonal"`` (the stream by an orthogonal map, the head maps orthogonal), ``"invertible"`` (alias
``"hierarchy"``: the head maps invertible — the whole hierarchy handled here; the semi-permutations of ReLU units
and of heads (T-S2) and rectangular stream maps between different widths are not).

Structure
---------
:func:`transformer_structure` reads the hierarchy off the model: the residual-stream, head and unit groups of
:func:`lmctheory.nn.symmetry.permutation_groups`, and, for every head group, its four *slots* (the blocks of the
q, k, v projections and of the output projection that the group permutes). Which slots form a circuit is not
read from names: it is found by the symmetry itself — the pairing of the slots for which random per-head maps
``(G, G^{−ᵀ})`` leave the function unchanged (checked on the example input in float64). Behind a rotary position
embedding the QK maps must commute with the rotations: the probe then tries the block-diagonal maps ``a·I + b·J``
on every rotated plane (rotate-half and interleaved layouts) and, when they pass, restricts that circuit's maps to
them exactly; a QK circuit admitting no such maps (a norm on q/k, partial rotary) is refused by name at the levels
that need it.

Conventions
-----------
A map ``M`` of a member's units acts as in :mod:`lmctheory.nn.symmetry`: ``T'[…, o, i, r, …] = Σ_j M[i, j]
T[…, o, j, r, …]``. In that convention the two slots of a circuit get ``G`` and ``G^{−ᵀ}`` (q rows ``G``, k rows
``G^{−ᵀ}``; v rows ``G``, the output projection's head columns ``G^{−ᵀ}``). Model B is aligned to model A: the
result is B in A's coordinates, to be interpolated with ``report.model_a`` (A in the same parametrization: norm
gains folded, asymmetric layers made standard).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

__all__ = ["LEVELS", "STRATEGIES", "Slot", "AttentionBlock", "TransformerStructure", "HierarchyTransform",
           "AlignmentReport", "transformer_structure", "apply_transform", "weight_match_hierarchy",
           "learned_match_hierarchy", "align"]

LEVELS = ("permutation", "orthogonal", "invertible")
STRATEGIES = ("activation", "weight", "learned")
_LEVEL_ALIASES = {"hierarchy": "invertible"}


# -------------------------------------------------------------------------------------------------
# structure
# -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Slot:
    """The block of one projection (q, k, v or output) that a head group permutes.

    ``module`` owns the ``members`` (weight, bias); ``outer`` is the index along the members' outer factor
    (0, 1, 2 for the q, k, v thirds of a fused qkv map; 0 for a separate projection).
    """

    module: str
    outer: int
    members: tuple


@dataclass(frozen=True)
class AttentionBlock:
    """One attention layer: its head group, head width and the slots of its two circuits.

    ``circuits[c] = (i, j)``: slots ``i`` and ``j`` form circuit ``c`` (maps ``G`` on slot ``i``, ``G^{−ᵀ}`` on
    slot ``j`` leave the function unchanged); ``roles[c]`` is ``"ov"`` for the circuit holding the output
    projection (a slot on the input axis of an ``nn.Linear``), ``"qk"`` for the other; ``"circuit"`` when the
    projection's layout cannot tell. ``qk_ok`` is False when the QK circuit admits no per-head maps (then
    ``qk_issue`` says why). ``commuting[c]`` is ``None`` (every per-head map) or, for a QK circuit behind a rotary
    embedding, the index pairs of the rotated planes: its maps are then restricted to block-diagonal ``a·I + b·J``
    per plane, the maps that commute with every rotation of those planes (found by probing). ``source`` is
    ``"site"`` when the slots come from the engine's attention site (verified by probing), ``"probe"`` when the
    site finder does not follow the attention and the slots were paired by probing alone.
    """

    group: object
    n_heads: int
    head_dim: int
    slots: tuple
    circuits: tuple
    roles: tuple
    qk_ok: bool = True
    qk_issue: str = ""
    commuting: tuple = (None, None)  # per circuit: None, or the rotary planes its maps must commute with
    source: str = "site"  # "site": slots from the engine's attention site; "probe": paired by probing alone


@dataclass(frozen=True)
class TransformerStructure:
    """The [GLMC] hierarchy of one model (see :func:`transformer_structure`)."""

    stream: tuple          # ((name, axis), ...)
    stream_group: str
    width: int
    fixes_ones: bool       # LayerNorm on the stream: R must fix the all-ones direction
    stream_issue: str      # non-empty: the stream cannot be rotated (why)
    units: tuple           # PermutationGroup of kind "units"
    attention: tuple       # AttentionBlock
    groups: tuple = field(repr=False, default=())
    tied: tuple = ()       # groups of state-dict names sharing one tensor (a tied read-out and embedding)


def _inputs_tuple(X, model, name="X"):
    from ._inputs import as_model_inputs

    inputs = as_model_inputs(X, name, model)
    if inputs.kwargs:
        raise TypeError(f"{name}: keyword inputs are not supported here; pass the model's inputs positionally "
                        "(a tensor or a tuple of tensors)")
    dt = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    xs = tuple(x.detach().to(dt) if isinstance(x, torch.Tensor) and x.is_floating_point() else x
               for x in inputs.args)
    if not isinstance(xs[0], torch.Tensor) or xs[0].ndim == 0 or xs[0].shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 samples along its first axis")
    return xs


def _to64(model):
    m = copy.deepcopy(model)
    return m.double()


def _cast_inputs(xs, dtype):
    return tuple(x.to(dtype) if isinstance(x, torch.Tensor) and x.is_floating_point() else x for x in xs)


def _rows(xs, n):
    """The first ``n`` samples of every tensor input (other inputs passed through)."""
    return tuple(x[:n] if isinstance(x, torch.Tensor) else x for x in xs)


def _outputs(model, xs):
    from ._inputs import model_outputs

    return model_outputs(model, xs)


def _max_diff(ya, yb):
    from ._inputs import output_difference

    return output_difference(yb, ya)


def _writes(model, slot) -> bool | None:
    """True if the slot is on a projection's input axis (the output projection), None if unknown."""
    mods = dict(model.named_modules())
    m = mods.get(slot.module)
    w = [x for x in slot.members if x.name.endswith("weight")]
    if m is None or not w:
        return None
    if isinstance(m, nn.Linear):
        return w[0].axis == 1
    if type(m).__name__ == "Conv1D":  # Hugging Face GPT-2: weight (in, out)
        return w[0].axis == 0
    return None


def _random_maps(n_heads, dh, gen, orthogonal=False):
    G = torch.eye(dh, dtype=torch.float64) + 0.5 * torch.randn(n_heads, dh, dh, generator=gen,
                                                               dtype=torch.float64) / np.sqrt(dh)
    if orthogonal:
        G = _polar(G)
    return G


def transformer_structure(model: nn.Module, X, groups=None, *, seed: int = 0) -> TransformerStructure:
    """The [GLMC] symmetry hierarchy of ``model``: residual stream, FF unit groups, and per attention layer the
    slots of its QK and OV circuits.

    The groups come from :func:`lmctheory.nn.symmetry.permutation_groups` and the attention layout from
    :func:`lmctheory.nn.symmetry.attention_sites` (captured on ``X``): for every head group, the q, k, v and
    output projections of its attention site (exact rows per head; one contiguous block per head required) give
    the QK circuit (q, k) and the OV circuit (v, o). Each circuit is verified by the symmetry itself: random
    per-head maps ``G`` (first slot) and ``G^{−ᵀ}`` (second slot) must leave the model's outputs on the first 8
    rows of ``X`` unchanged (float64 copy, relative change ≤ 1e-7); behind rotary embeddings the QK maps are
    restricted to those commuting with the rotated planes (rotate-half or interleaved, found by the same probe).
    A head group whose attention the site finder does not follow (e.g. written with ``einsum``) has its four
    slots paired into circuits by that probe alone. Grouped-query attention (``n_kv_heads < n_heads``) enters
    at the permutation level only: its head group (a kv head with its group of query heads) and its group of
    query heads within a kv group join ``units``; it gets no circuit maps. No names or per-architecture
    specification are used. The stream's maps are probed: a random orthogonal map (RMSNorm without gain: every
    map), else a random one with ``R·1 = 1`` (LayerNorm without affine parameters, ``fixes_ones``), else none
    (``stream_issue`` says why; only the permutation level is then available).

    Parameters
    ----------
    model : nn.Module
        Standard layers (asymmetric ones made standard first, :func:`~lmctheory.nn.matching.to_standard`).
    X : torch.Tensor or tuple
        Example inputs (batch first, ``N ≥ 2``).
    groups : list of PermutationGroup, optional
        Default: traced.
    seed : int
        Seed of the random probe maps.

    Returns
    -------
    TransformerStructure

    Raises
    ------
    ValueError
        No (or several) residual-stream groups; a head group with no attention site, whose projections are not
        linear maps of parameters, whose head blocks are not contiguous, or whose OV circuit fails the probe.

    References
    ----------
    [GLMC] §2 (the hierarchy of transformer symmetries); docs/theory.md T-S1, T-S3, T-S4.

    Examples
    --------
    >>> import torch
    >>> from lmctheory.nn.vit import make_vit
    >>> s = transformer_structure(make_vit(norm="rmsnorm", dim=8, heads=2, depth=1, seed=0), torch.randn(4, 64))
    >>> s.width, len(s.units), [b.roles for b in s.attention]
    (8, 1, [('qk', 'ov')])
    """
    from .orthogonal import residual_stream_group
    from .symmetry import PermutationGroup, permutation_groups

    xs = _inputs_tuple(X, model)
    if groups is None:
        groups = permutation_groups(model, xs)
    elif not all(isinstance(g, PermutationGroup) for g in groups):
        raise TypeError("groups must be a list of PermutationGroup (from permutation_groups)")
    groups = list(groups)
    g = residual_stream_group(groups)
    for m in g.members:
        if m.outer != 1 or m.inner != 1:
            raise ValueError(f"the residual-stream member {m.name!r} (axis {m.axis}) has block structure "
                             f"(outer={m.outer}, inner={m.inner}); the stream maps need plain members")
    stream = tuple((m.name, m.axis) for m in g.members)
    units = tuple(u for u in groups if u.kind == "units")
    m64 = _to64(model)
    x64 = _cast_inputs(_rows(xs, 8), torch.float64)  # a few rows suffice for the probe
    y0 = _outputs(m64, x64)
    sd64 = {k: v for k, v in m64.state_dict().items()}
    gen = torch.Generator().manual_seed(int(seed))
    tied = _tied_keys(model)
    fix_ones, issue = _probe_stream(model, m64, sd64, x64, y0, stream, g, xs, gen, tied)
    from .symmetry import attention_sites

    sites, gqa_names = {}, []
    for site in attention_sites(model, xs):
        if site.n_kv_heads != site.n_heads:
            # grouped-query attention: a kv head moves with its group of query heads (the site's head group), the
            # query heads within a kv group by their own group; both are permutations only (no circuit maps)
            gqa_names += [n for n in (site.heads_group, site.q_group_heads_group) if n and n not in gqa_names]
        elif site.heads_group is not None:
            sites.setdefault(site.heads_group, site)
    by_name = {h.name: h for h in groups}
    gqa = tuple(by_name[n] for n in gqa_names if n in by_name)
    blocks = []
    for hg in (h for h in groups if h.kind == "heads" and h.name not in gqa_names):
        site = sites.get(hg.name)
        if site is None:
            # no site (an attention the site finder does not follow): slots paired by probing alone
            blocks.append(_probed_block(hg, model, sd64, m64, x64, y0, gen, tied))
            continue
        blocks.append(_site_block(site, hg, model, sd64, m64, x64, y0, gen, tied))
    units = units + gqa
    width = int(next(iter(sd64[n].shape[a] for n, a in stream)))
    return TransformerStructure(stream=stream, stream_group=g.name, width=width, fixes_ones=bool(fix_ones),
                                stream_issue=issue, units=units, attention=tuple(blocks), groups=tuple(groups),
                                tied=tied)


def _slots_of(group) -> list[Slot]:
    by = {}
    for m in group.members:
        mod = m.name.rsplit(".", 1)[0] if "." in m.name else ""
        for o in range(m.outer):
            by.setdefault((mod, o), []).append(m)
    return [Slot(module=k[0], outer=k[1], members=tuple(v)) for k, v in by.items()]


def _circuit_probe(hg, dh, slots, sd64, m64, x64, y0, gen, tied):
    """``passes(pair, pairs=None)``: whether random per-head maps on the circuit ``pair`` of ``slots`` (restricted
    to those commuting with rotations of the planes ``pairs`` when given) leave the outputs ``y0`` unchanged
    (float64 probe, relative tolerance ``1e-7``)."""
    slots = tuple(slots)

    def passes(pair, pairs=None):
        G = _random_maps(hg.size, dh, gen)
        if pairs is not None:
            G = _to_class(G, pairs)
        tr = HierarchyTransform(maps={(hg.name, 0): G})
        blk = AttentionBlock(group=hg, n_heads=hg.size, head_dim=dh, slots=slots, circuits=(pair,),
                             roles=("circuit",))
        new = _apply_sd(sd64, _mini_structure(blk, tied), tr)
        diff, scale = _max_diff(y0, _functional_outputs(m64, new, x64))
        return diff <= 1e-7 * max(scale, 1.0)
    return passes


def _qk_restriction(hg, names, pair, dh, passes):
    """``(qk_ok, qk_issue, commuting)`` for a QK circuit ``pair`` (slots ``names``) that general per-head maps
    break: maps commuting with the rotary planes (``"half"`` or ``"interleaved"``) if those pass the probe, else
    none."""
    found = [c for c in ("half", "interleaved") if dh % 2 == 0 and passes(pair, _rotary_pairs(dh, c))]
    if found:
        qk_issue = (f"the circuit of slots {names} in head group {hg.name!r} admits only maps commuting with "
                    f"rotations of the planes {found[0]!r} (rotary position embeddings): its per-head maps are "
                    "restricted to a·I + b·J per plane")
        return True, qk_issue, (_rotary_pairs(dh, found[0]), None)
    qk_issue = (f"the circuit of slots {names} in head group {hg.name!r} admits no per-head invertible "
                "or orthogonal maps, not even those commuting with rotations of 2-D planes: an operation "
                "between these projections and the attention scores does not commute with them (rotary "
                "position embeddings on part of the head or with repeated planes, a norm on q/k); "
                "per-head maps inside this QK circuit are not supported (use level='permutation')")
    return False, qk_issue, (None, None)


def _probed_block(hg, model, sd64, m64, x64, y0, gen, tied):
    """The attention block of a head group with no attention site (an attention the engine's site finder does not
    follow, e.g. written with ``einsum``): its four slots paired into circuits by the symmetry itself, the pairing
    for which random per-head maps leave the outputs unchanged (float64 probe)."""
    slots = _slots_of(hg)
    inner = {m.inner for s in slots for m in s.members}
    if len(inner) != 1:
        raise ValueError(f"head group {hg.name!r}: its members have different head widths {sorted(inner)}; "
                         "per-head maps need one contiguous block of equal width per head")
    dh = inner.pop()
    if len(slots) != 4:
        raise ValueError(
            f"head group {hg.name!r} has {len(slots)} projection slots {[(s.module, s.outer) for s in slots]}; "
            "the circuit maps need exactly q, k, v and an output projection per head")
    pairings = [((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2))]
    passes = _circuit_probe(hg, dh, slots, sd64, m64, x64, y0, gen, tied)
    ok = {pair: passes(pair) for pr in pairings for pair in pr}
    full = [pr for pr in pairings if ok[pr[0]] and ok[pr[1]]]
    half = [pr for pr in pairings if ok[pr[0]] != ok[pr[1]]]
    qk_ok, qk_issue, commuting = True, "", (None, None)
    if full:
        pr = full[0]
    elif half:
        pr = half[0]
        good = pr[0] if ok[pr[0]] else pr[1]
        bad = pr[1] if ok[pr[0]] else pr[0]
        pr = (bad, good)
        names = [(slots[i].module, slots[i].outer) for i in bad]
        qk_ok, qk_issue, commuting = _qk_restriction(hg, names, bad, dh, passes)
    else:
        raise ValueError(f"head group {hg.name!r}: no pairing of its slots "
                         f"{[(s.module, s.outer) for s in slots]} into two circuits leaves the function unchanged "
                         "under per-head maps (G, G^-T); the attention layout is not supported")
    roles = []
    for pair in pr:
        w = [_writes(model, slots[i]) for i in pair]
        roles.append("ov" if any(w) else ("qk" if all(x is False for x in w) else "circuit"))
    if half:
        roles[0] = "qk"
    # the writing slot second in an OV circuit, q before k (lower slot index first) in a QK circuit
    circ = []
    for pair, role in zip(pr, roles):
        if role == "ov" and _writes(model, slots[pair[0]]):
            pair = (pair[1], pair[0])
        circ.append(tuple(pair))
    return AttentionBlock(group=hg, n_heads=hg.size, head_dim=dh, slots=tuple(slots), circuits=tuple(circ),
                          roles=tuple(roles), qk_ok=qk_ok, qk_issue=qk_issue, commuting=commuting, source="probe")


def _site_slot(hg, proj, role, site):
    """The slot of projection ``proj`` (role q/k/v/o) in head group ``hg``, checked against its exact rows: head
    ``h``, coordinate ``j`` must sit at ``(index·H + h)·d + j`` of its member (one contiguous block per head)."""
    where = f"attention site {site.node!r} (module {site.module!r})"
    if proj is None:
        raise ValueError(f"{where}: the {role} projection does not reach a parameter (attention_sites gives none); "
                         "per-head circuit maps need linear q, k, v and output projections")
    mem = [m for m in hg.members if m.name in (proj.weight, proj.bias)]
    w = [m for m in mem if m.name == proj.weight and m.axis % 2 == proj.axis % 2]
    if not w:
        raise ValueError(f"{where}: the {role} weight {proj.weight!r} is not a member of head group {hg.name!r}")
    m = w[0]
    d = m.inner
    if proj.rows is not None:
        want = tuple(tuple((proj.index * hg.size + h) * d + j for j in range(d)) for h in range(hg.size))
        if m.outer != proj.outer or tuple(map(tuple, proj.rows)) != want:
            raise ValueError(f"{where}: the heads of the {role} projection {proj.weight!r} are not one contiguous "
                             "block per head (interleaved layout); per-head circuit maps need contiguous heads")
    return Slot(module=proj.weight.rsplit(".", 1)[0] if "." in proj.weight else "", outer=proj.index,
                members=tuple(mem))


def _site_block(site, hg, model, sd64, m64, x64, y0, gen, tied):
    """The attention block of one site (multi-head attention): slots q, k, v, o from the engine's exact
    projections, circuits (q, k) and (v, o), each verified by a random per-head map (float64 probe); the QK maps
    restricted to those commuting with the rotations when rotary embeddings act (planes found by probing)."""
    slots = tuple(_site_slot(hg, p, r, site) for p, r in ((site.q, "q"), (site.k, "k"), (site.v, "v"),
                                                          (site.o, "o")))
    dh = site.head_dim
    inner = {m.inner for sl in slots for m in sl.members if m.name.endswith("weight")}
    if site.v_head_dim != dh or inner != {dh}:
        raise ValueError(f"head group {hg.name!r}: q/k heads of width {dh} and v/o heads of width "
                         f"{site.v_head_dim} (member widths {sorted(inner)}); per-head maps need one width")
    passes = _circuit_probe(hg, dh, slots, sd64, m64, x64, y0, gen, tied)
    qk, ov = (0, 1), (2, 3)
    if not passes(ov):
        raise ValueError(f"head group {hg.name!r}: per-head maps (G on v, G^-T on the output projection) of the OV "
                         f"circuit of attention site {site.node!r} change the function; the attention layout is not "
                         "supported")
    qk_ok, qk_issue, commuting = True, "", (None, None)
    if not passes(qk):
        names = [(slots[i].module, slots[i].outer) for i in qk]
        qk_ok, qk_issue, commuting = _qk_restriction(hg, names, qk, dh, passes)
    elif site.rotary:  # the rotations act as the identity on X (e.g. one position): the planes cannot be probed
        qk_ok = False
        qk_issue = (f"attention site {site.node!r} has rotary embeddings, but general per-head QK maps leave the "
                    "outputs on X unchanged, so the rotated planes cannot be found by probing (use inputs with "
                    "several positions); per-head maps inside this QK circuit are not supported here")
    return AttentionBlock(group=hg, n_heads=hg.size, head_dim=dh, slots=slots, circuits=(qk, ov),
                          roles=("qk", "ov"), qk_ok=qk_ok, qk_issue=qk_issue, commuting=commuting)


def _tied_keys(model) -> tuple:
    """State-dict names that share one tensor (e.g. a read-out tied to the embedding), grouped."""
    by = {}
    for k, v in model.state_dict(keep_vars=True).items():
        by.setdefault((v.data_ptr(), tuple(v.shape), v.dtype), []).append(k)
    return tuple(tuple(ks) for ks in by.values() if len(ks) > 1)


def _probe_stream(model, m64, sd64, x64, y0, stream, g, xs, gen, tied=()):
    """Which orthogonal maps the stream admits, found by the symmetry: a random orthogonal ``R`` (every map), else
    one with ``R·1 = 1`` (LayerNorm on the stream), else none (the reason, named by the graph check if it can)."""
    from .orthogonal import stream_rotation_constraint

    D = int(sd64[stream[0][0]].shape[stream[0][1]])
    base = TransformerStructure(stream=stream, stream_group=g.name, width=D, fixes_ones=False, stream_issue="",
                                units=(), attention=(), tied=tied)

    def passes(R):
        diff, scale = _max_diff(y0, _functional_outputs(m64, _apply_sd(sd64, base, HierarchyTransform(stream=R)),
                                                        x64))
        return diff <= 1e-7 * max(scale, 1.0)

    if D < 2 or passes(_polar(torch.randn(D, D, generator=gen, dtype=torch.float64))):
        return False, ""
    u, perp = _ones_basis(D)
    if passes(u @ u.T + perp @ _polar(torch.randn(D - 1, D - 1, generator=gen, dtype=torch.float64)) @ perp.T):
        return True, ""
    try:
        stream_rotation_constraint(model, xs, g)
        named = ""
    except Exception as err:  # the graph check names the operation where it can
        named = f" ({err})"
    return False, ("rotating the residual stream by a random orthogonal map, even one fixing the all-ones direction, "
                   "changes the model's outputs: an operation on the stream does not commute with rotations (a norm "
                   "gain that cannot be folded, BatchNorm/GroupNorm, an elementwise nonlinearity on the stream)"
                   + named)


def _mini_structure(block, tied=()):
    return TransformerStructure(stream=(), stream_group="", width=0, fixes_ones=False, stream_issue="", units=(),
                                attention=(block,), tied=tied)


def _functional_outputs(model, sd, xs):
    from ._inputs import eval_mode, flatten_output

    with eval_mode(model), torch.no_grad():
        return [t.detach() for t in flatten_output(torch.func.functional_call(model, sd, xs, tie_weights=False))]


# -------------------------------------------------------------------------------------------------
# transforms
# -------------------------------------------------------------------------------------------------
@dataclass
class HierarchyTransform:
    """Maps of every level, applied to model B (see :func:`apply_transform`).

    ``stream``: ``(D, D)`` orthogonal (or permutation) matrix ``R``; ``units`` / ``heads``: ``{group name: (n, n)
    permutation matrix}``; ``maps``: ``{(head group name, circuit index): (H, d_h, d_h)}`` per-head maps ``G``
    (first slot ``G``, second slot ``G^{−ᵀ}``), indexed by the heads *after* the head permutation.
    """

    stream: torch.Tensor | None = None
    units: dict = field(default_factory=dict)
    heads: dict = field(default_factory=dict)
    maps: dict = field(default_factory=dict)


def _act(t, axis, outer, size, inner, M):
    """``T'[…, o, i, r, …] = Σ_j M[i, j] T[…, o, j, r, …]`` along ``axis``."""
    v = torch.movedim(t, axis, 0)
    shape = v.shape
    v = v.reshape(outer, size, inner, -1)
    v = torch.einsum("ij,ojrn->oirn", M.to(v.dtype), v)
    return torch.movedim(v.reshape(shape), 0, axis)


def _act_heads(t, axis, outer, size, inner, o, G):
    """Per-head map on outer index ``o``: ``T'[o, h, i] = Σ_j G[h, i, j] T[o, h, j]``."""
    v = torch.movedim(t, axis, 0)
    shape = v.shape
    v = v.reshape(outer, size, inner, -1)
    w = torch.einsum("hij,hjn->hin", G.to(v.dtype), v[o])
    v = torch.cat([v[:o], w[None], v[o + 1:]], 0)
    return torch.movedim(v.reshape(shape), 0, axis)


def _inv_t(G):
    return torch.linalg.inv(G).transpose(-1, -2)


def _apply_sd(sd, structure, tr, skip=()):
    """The transformed state dict (differentiable in the maps; entries not touched are shared)."""
    out = dict(sd)
    if tr.stream is not None and "stream" not in skip:
        for name, axis in structure.stream:
            out[name] = _act(out[name], axis, 1, tr.stream.shape[0], 1, tr.stream)
    if "units" not in skip:
        for g in structure.units:
            P = tr.units.get(g.name)
            if P is None:
                continue
            for m in g.members:
                out[m.name] = _act(out[m.name], m.axis, m.outer, g.size, m.inner, P)
    for blk in structure.attention:
        g = blk.group
        P = tr.heads.get(g.name)
        if P is not None and "heads" not in skip:
            for m in g.members:
                out[m.name] = _act(out[m.name], m.axis, m.outer, g.size, m.inner, P)
        if "maps" in skip:
            continue
        for c, (i, j) in enumerate(blk.circuits):
            G = tr.maps.get((g.name, c))
            if G is None:
                continue
            for s, M in ((blk.slots[i], G), (blk.slots[j], _inv_t(G))):
                for m in s.members:
                    out[m.name] = _act_heads(out[m.name], m.axis, m.outer, g.size, m.inner, s.outer, M)
    for keys in getattr(structure, "tied", ()):  # a tied tensor takes the value of the name the maps changed
        changed = [k for k in keys if out[k] is not sd[k]]
        if changed:
            for k in keys:
                out[k] = out[changed[0]]
    return out


@torch.no_grad()
def apply_transform(model: nn.Module, structure: TransformerStructure, transform: HierarchyTransform) -> nn.Module:
    """A copy of ``model`` with every map of ``transform`` applied (in float64, then cast back).

    Parameters
    ----------
    model : nn.Module
    structure : TransformerStructure
        Of ``model`` (:func:`transformer_structure`).
    transform : HierarchyTransform

    Returns
    -------
    nn.Module
        Function-preserving when the maps are in the model's symmetry group (checked by :func:`align`).

    References
    ----------
    [GLMC] §2; docs/theory.md T-S1, T-S3, T-S4.

    Examples
    --------
    >>> import torch
    >>> from lmctheory.nn.vit import make_vit
    >>> m = make_vit(norm="rmsnorm", dim=8, heads=2, depth=1, seed=0)
    >>> s = transformer_structure(m, torch.randn(4, 64))
    >>> R = torch.linalg.qr(torch.randn(8, 8, dtype=torch.float64))[0]
    >>> x = torch.randn(3, 64)
    >>> bool(torch.allclose(apply_transform(m, s, HierarchyTransform(stream=R))(x), m(x), atol=1e-5))
    True
    """
    sd = {k: (v.detach().double() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    new_sd = _apply_sd(sd, structure, transform)
    new = copy.deepcopy(model)
    ref = model.state_dict()
    new.load_state_dict({k: v.to(ref[k].dtype) for k, v in new_sd.items()})
    return new


# -------------------------------------------------------------------------------------------------
# small solvers
# -------------------------------------------------------------------------------------------------
def _polar(M):
    U, _, Vh = torch.linalg.svd(M)
    return U @ Vh


def _polar_smooth(Z, iters=12):
    """Differentiable polar factor by Newton–Schulz iterations (the SVD's gradient is undefined at the repeated
    singular values of a near-orthogonal ``Z``); ``polar(cZ) = polar(Z)``, so the scale is taken without gradient."""
    with torch.no_grad():
        s = torch.linalg.matrix_norm(Z, 2)
        s = s[..., None, None] if s.ndim else s
    X = Z / s
    eye = torch.eye(Z.shape[-1], dtype=Z.dtype)
    for _ in range(iters):
        X = X @ (1.5 * eye - 0.5 * X.transpose(-1, -2) @ X)
    return X


def _perm_matrix(M):
    """Permutation matrix maximizing ``⟨P, M⟩`` (Hungarian)."""
    from scipy.optimize import linear_sum_assignment

    r, c = linear_sum_assignment(M.detach().double().cpu().numpy(), maximize=True)
    P = torch.zeros(M.shape, dtype=M.dtype)
    P[r, c] = 1.0
    return P


def _ones_basis(D):
    basis = torch.linalg.qr(torch.cat([torch.ones(D, 1, dtype=torch.float64),
                                       torch.eye(D, dtype=torch.float64)[:, : D - 1]], 1))[0]
    return basis[:, :1], basis[:, 1:]


def _stream_orthogonal(M, fix_ones):
    """Orthogonal ``R`` maximizing ``⟨R, M⟩`` (``R·1 = ±1`` if ``fix_ones``)."""
    if not fix_ones:
        return _polar(M)
    u, perp = _ones_basis(M.shape[0])
    s = 1.0 if float(u.T @ M @ u) >= 0 else -1.0
    return s * (u @ u.T) + perp @ _polar(perp.T @ M @ perp) @ perp.T


def _flat(t, axis):
    v = torch.movedim(t, axis, 0)
    return v.reshape(v.shape[0], -1)


def _slot_mats(sd, blk, s):
    """``(H, d_h, n)``: per head, the slot's rows (weight entries and bias along the other axes)."""
    slot = blk.slots[s]
    parts = []
    for m in slot.members:
        v = torch.movedim(sd[m.name], m.axis, 0)
        v = v.reshape(m.outer, blk.n_heads, blk.head_dim, -1)[slot.outer]
        parts.append(v)
    return torch.cat(parts, -1)


def _circuit_gram(sd_a, sd_b, blk, c):
    """``K[h, h'] = ⟨C_a(h), C_b(h')⟩`` and the squared norms of the circuits ``C = S_iᵀ S_j`` of circuit ``c``."""
    i, j = blk.circuits[c]
    Ai, Aj, Bi, Bj = (_slot_mats(sd, blk, s) for sd in (sd_a, sd_b) for s in (i, j))
    X = torch.einsum("hdn,ken->hkde", Ai, Bi)  # S_i^a S_i^bᵀ per head pair
    Y = torch.einsum("hdn,ken->hkde", Aj, Bj)
    K = (X * Y).sum((-1, -2))
    na = torch.einsum("hdn,hen->hde", Ai, Ai).mul(torch.einsum("hdn,hen->hde", Aj, Aj)).sum((-1, -2))
    nb = torch.einsum("hdn,hen->hde", Bi, Bi).mul(torch.einsum("hdn,hen->hde", Bj, Bj)).sum((-1, -2))
    return K, na, nb


def _rotary_pairs(dh, convention):
    """Index pairs of the 2-D planes a rotary embedding rotates: ``"half"`` ``(k, k + d_h/2)`` (rotate-half
    layout), ``"interleaved"`` ``(2k, 2k + 1)``."""
    if convention == "half":
        return tuple((k, k + dh // 2) for k in range(dh // 2))
    return tuple((2 * k, 2 * k + 1) for k in range(dh // 2))


def _to_class(G, pairs, orthogonal=False):
    """Frobenius projection of per-head maps onto those commuting with every rotation of the planes ``pairs``
    (block-diagonal ``a·I + b·J`` per plane; with ``orthogonal``, the plane rotations ``(a, b)/√(a² + b²)``)."""
    i = torch.tensor([p[0] for p in pairs])
    j = torch.tensor([p[1] for p in pairs])
    a = (G[..., i, i] + G[..., j, j]) / 2
    b = (G[..., j, i] - G[..., i, j]) / 2
    if orthogonal:
        r = torch.sqrt(a ** 2 + b ** 2).clamp_min(1e-12)
        a, b = a / r, b / r
    out = torch.zeros_like(G)
    out[..., i, i] = a
    out[..., j, j] = a
    out[..., j, i] = b
    out[..., i, j] = -b
    return out


def _fit_maps(Y1, X1, Y2, X2, invertible, iters=60, pairs=None):
    """Per head ``G`` minimizing ``‖G X1 − Y1‖² + ‖G^{−ᵀ} X2 − Y2‖²`` (orthogonal: Procrustes, closed form;
    invertible: from the orthogonal solution by L-BFGS). With ``pairs`` (a rotary QK circuit) ``G`` is restricted
    to the maps commuting with the rotations of those planes (:func:`_to_class`), fitted by L-BFGS."""
    G0 = _polar(torch.einsum("hdn,hen->hde", torch.cat([Y1, Y2], -1), torch.cat([X1, X2], -1)))
    if pairs is not None:
        G0 = _to_class(G0, pairs, orthogonal=True)
    if not invertible and pairs is None:
        return G0

    def cls(G):
        return G if pairs is None else _to_class(G, pairs, orthogonal=not invertible)

    def f(G):
        M = cls(G)
        return ((M @ X1 - Y1) ** 2).sum() + ((_inv_t(M) @ X2 - Y2) ** 2).sum()

    G = G0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([G], lr=1.0, max_iter=iters, line_search_fn="strong_wolfe")
    scale = float((Y1 ** 2).sum() + (Y2 ** 2).sum()) or 1.0

    def closure():
        opt.zero_grad()
        loss = f(G) / scale
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    G = cls(G.detach())
    with torch.no_grad():
        f0, f1 = float(f(G0)), float(f(G))
    if not np.isfinite(f1) or f1 > f0 or float(torch.linalg.cond(G).max()) > 1e6:
        return G0
    return G


def _sqdist(sd_a, sd_b, names):
    return float(sum(float(((sd_a[n] - sd_b[n]) ** 2).sum()) for n in names))


# -------------------------------------------------------------------------------------------------
# weight matching over the hierarchy
# -------------------------------------------------------------------------------------------------
def _check_level(level):
    if not isinstance(level, str):
        raise TypeError(f"level must be a str, one of {LEVELS + tuple(_LEVEL_ALIASES)}, got {type(level).__name__}")
    lv = _LEVEL_ALIASES.get(level, level)
    if lv not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS + tuple(_LEVEL_ALIASES)}, got {level!r}")
    return lv


def _check_level_supported(structure, level):
    if level != "permutation" and structure.stream_issue:
        raise ValueError(f"level={level!r} needs an orthogonal map of the residual stream: {structure.stream_issue}")
    if level != "permutation":
        for blk in structure.attention:
            if not blk.qk_ok:
                raise ValueError(f"level={level!r}: {blk.qk_issue}")


def _f64(sd):
    return {k: (v.detach().double() if v.is_floating_point() else v) for k, v in sd.items()}


def weight_match_hierarchy(sd_a: dict, sd_b: dict, structure: TransformerStructure, level: str = "invertible",
                           *, rounds: int = 5, init: HierarchyTransform | None = None):
    """Data-free alignment of B's parameters to A's over the hierarchy ([GLMC] weight matching).

    Coordinate descent on ``Σ_θ ‖θ_A − T(θ_B)‖²``, ``rounds`` times over the levels:

    * **stream**: ``R = argmax ⟨R, Σ_members T_A T_Bᵀ⟩`` over orthogonal maps (Procrustes ``R = UVᵀ``; ``R·1 = ±1``
      for a LayerNorm stream) or permutations (Hungarian) at level ``"permutation"``; the first round uses only
      the members whose other axes carry no hidden symmetry (embeddings, biases, the read-out);
    * **FF units**: given the stream, each FF layer's units by one linear assignment (the sum of bilinear
      assignment problems of the layer decouples once the stream is fixed);
    * **heads**: linear assignment on ``‖C_A(h) − C_B(h')‖²`` summed over the QK and OV circuits ``C = S_iᵀ S_j``
      (factors at level ``"permutation"``), in the aligned stream basis; then per head the circuit maps ``G``
      fitted to A's factors (orthogonal: Procrustes; invertible: L-BFGS from it).

    Parameters
    ----------
    sd_a, sd_b : dict of torch.Tensor
        State dicts (same names and shapes).
    structure : TransformerStructure
    level : {"permutation", "orthogonal", "invertible", "hierarchy"}
    rounds : int
    init : HierarchyTransform, optional

    Returns
    -------
    transform : HierarchyTransform
    steps : list of dict
        Per level ``{"part", "before", "after"}``: squared distance of the tensors the level acts on, before and
        after alignment, relative to ``‖θ_A‖²`` of those tensors.

    References
    ----------
    [GLMC] §3 (weight matching: SOBLAP by Hungarian, head assignment on circuits, Procrustes); Ainsworth et al.
    2023 (Git Re-Basin); docs/theory.md T-S1, T-S3, T-S4.

    Examples
    --------
    >>> import torch
    >>> from lmctheory.nn.vit import make_vit
    >>> a = make_vit(norm="rmsnorm", dim=8, heads=2, depth=1, seed=0)
    >>> s = transformer_structure(a, torch.randn(4, 64))
    >>> tr, steps = weight_match_hierarchy(a.state_dict(), a.state_dict(), s, "orthogonal")
    >>> bool(torch.allclose(tr.stream, torch.eye(8, dtype=torch.float64), atol=1e-8))
    True
    """
    level = _check_level(level)
    _check_level_supported(structure, level)
    sa, sb = _f64(sd_a), _f64(sd_b)
    D = structure.width
    tr = copy.deepcopy(init) if init is not None else HierarchyTransform(stream=torch.eye(D, dtype=torch.float64))
    if tr.stream is None:
        tr.stream = torch.eye(D, dtype=torch.float64)
    hidden = set()
    for g in structure.units:
        hidden.update(m.name for m in g.members)
    for blk in structure.attention:
        hidden.update(m.name for m in blk.group.members)
    plain = [(n, a) for n, a in structure.stream if n not in hidden]
    n_rounds = max(1, int(rounds))
    for r in range(n_rounds):
        # --- stream
        cur = _apply_sd(sb, structure, tr, skip=("stream",))
        use = plain if (r == 0 and init is None) else structure.stream
        M = sum(_flat(sa[n], a) @ _flat(cur[n], a).T for n, a in use) if use else torch.zeros(D, D)
        if level == "permutation":
            tr.stream = _perm_matrix(M)
        else:
            tr.stream = _stream_orthogonal(M, structure.fixes_ones)
        # --- FF units
        cur = _apply_sd(sb, structure, tr, skip=("units",))
        for g in structure.units:
            C = 0
            for m in g.members:
                va = torch.movedim(sa[m.name], m.axis, 0).reshape(m.outer, g.size, m.inner, -1)
                vb = torch.movedim(cur[m.name], m.axis, 0).reshape(m.outer, g.size, m.inner, -1)
                C = C + torch.einsum("oirn,ojrn->ij", va, vb)
            tr.units[g.name] = _perm_matrix(C)
        # --- heads and their circuit maps
        for blk in structure.attention:
            g = blk.group
            for c in range(len(blk.circuits)):
                tr.maps.pop((g.name, c), None)
            cur = _apply_sd(sb, structure, tr, skip=("heads", "maps"))
            if level == "permutation":
                C = 0
                for m in g.members:
                    va = torch.movedim(sa[m.name], m.axis, 0).reshape(m.outer, g.size, m.inner, -1)
                    vb = torch.movedim(cur[m.name], m.axis, 0).reshape(m.outer, g.size, m.inner, -1)
                    C = C + torch.einsum("oirn,ojrn->ij", va, vb)
                tr.heads[g.name] = _perm_matrix(C)
                continue
            C = 0
            for c in range(len(blk.circuits)):
                K, na, nb = _circuit_gram(sa, cur, blk, c)
                C = C - (na[:, None] + nb[None, :] - 2 * K)  # maximize −‖C_A − C_B‖²
            tr.heads[g.name] = _perm_matrix(C)
            cur = _apply_sd(sb, structure, tr, skip=("maps",))
            for c, (i, j) in enumerate(blk.circuits):
                G = _fit_maps(_slot_mats(sa, blk, i), _slot_mats(cur, blk, i), _slot_mats(sa, blk, j),
                              _slot_mats(cur, blk, j), invertible=(level == "invertible"), pairs=blk.commuting[c])
                tr.maps[(g.name, c)] = G
    return tr, _level_steps(sa, sb, structure, tr, level)


def _level_steps(sa, sb, structure, tr, level):
    """Per part of the hierarchy: relative squared distance of its tensors before/after the maps."""
    done = _apply_sd(sb, structure, tr)
    steps = []

    def rel(names):
        names = sorted(set(names))
        den = sum(float((sa[n] ** 2).sum()) for n in names) or 1.0
        return _sqdist(sa, sb, names) / den, _sqdist(sa, done, names) / den

    b, a = rel([n for n, _ in structure.stream])
    steps.append({"part": "residual stream", "kind": "permutation" if level == "permutation" else "orthogonal",
                  "before": b, "after": a})
    for g in structure.units:
        b, a = rel([m.name for m in g.members])
        what = "FF units" if g.kind == "units" else "heads (grouped-query)"
        steps.append({"part": f"{what} {g.name}", "kind": "permutation", "before": b, "after": a})
    for blk in structure.attention:
        g = blk.group
        b, a = rel([m.name for m in g.members])
        steps.append({"part": f"heads {g.name} (factors)", "kind": "permutation", "before": b, "after": a})
        for c, role in enumerate(blk.roles):
            K0, na, nb0 = _circuit_gram(sa, sb, blk, c)
            K1, _, nb1 = _circuit_gram(sa, done, blk, c)
            den = float(na.sum()) or 1.0
            before = float((na + nb0 - 2 * torch.diagonal(K0)).sum()) / den
            after = float((na + nb1 - 2 * torch.diagonal(K1)).sum()) / den
            steps.append({"part": f"{role} circuits {g.name}", "kind": "circuit", "before": before, "after": after})
    all_names = [k for k, v in sa.items() if v.is_floating_point()]
    b, a = rel(all_names)
    steps.append({"part": "all parameters", "kind": "total", "before": b, "after": a})
    return steps


# -------------------------------------------------------------------------------------------------
# learned matching
# -------------------------------------------------------------------------------------------------
def _ste_perm(Z):
    P = _perm_matrix(Z.detach())
    return P + Z - Z.detach()


def _task_loss(out, y):
    from ._inputs import primary_output

    logits = primary_output(out)
    if logits.ndim > 2:
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    return nn.functional.cross_entropy(logits, y)


def _learned_params(structure, init, level, dtype):
    """The trainable implicit matrices ``Z`` of :func:`learned_match_hierarchy`, started from ``init`` (keys
    ``"stream"``, ``("units", name)``, ``("heads", name)``, ``("maps", name, circuit)``), and the split of a
    LayerNorm stream along the all-ones direction, ``(u, perp, sign)`` in float64, or ``None``."""
    D = structure.width
    params = {}
    Zs = (init.stream if init.stream is not None else torch.eye(D, dtype=torch.float64)).to(dtype).clone()
    ones = None
    if level != "permutation" and structure.fixes_ones:
        u64, perp64 = _ones_basis(D)
        u, perp = u64.to(dtype), perp64.to(dtype)
        sign = 1.0 if float(u.T @ Zs @ u) >= 0 else -1.0
        Zs = perp.T @ Zs @ perp
        ones = (u64, perp64, sign)
    params["stream"] = Zs.requires_grad_(True)
    for g in structure.units:
        P = init.units.get(g.name, torch.eye(g.size, dtype=torch.float64))
        params[("units", g.name)] = P.to(dtype).clone().requires_grad_(True)
    for blk in structure.attention:
        g = blk.group
        P = init.heads.get(g.name, torch.eye(g.size, dtype=torch.float64))
        params[("heads", g.name)] = P.to(dtype).clone().requires_grad_(True)
        if level != "permutation":
            for c in range(len(blk.circuits)):
                G = init.maps.get((g.name, c))
                if G is None:
                    G = torch.eye(blk.head_dim, dtype=torch.float64).expand(g.size, -1, -1)
                params[("maps", g.name, c)] = G.to(dtype).clone().requires_grad_(True)
    return params, ones


def _project_learned(params, structure, level, ones, dtype, hard) -> HierarchyTransform:
    """The maps of the current ``Z`` (:func:`_learned_params`): straight-through / smooth polar while training,
    exact (float64) at the end (``hard``)."""
    P = (lambda Z: _perm_matrix(Z.detach().double())) if hard else _ste_perm
    O = (lambda Z: _polar(Z.detach().double())) if hard else _polar_smooth
    Z = params["stream"]
    if level == "permutation":
        R = P(Z)
    elif ones is not None:
        u64, perp64, sign = ones
        uu, pp = (u64, perp64) if hard else (u64.to(dtype), perp64.to(dtype))
        R = sign * (uu @ uu.T) + pp @ O(Z) @ pp.T
    else:
        R = O(Z)
    tr = HierarchyTransform(stream=R)
    for g in structure.units:
        tr.units[g.name] = P(params[("units", g.name)])
    for blk in structure.attention:
        g = blk.group
        tr.heads[g.name] = P(params[("heads", g.name)])
        for c in range(len(blk.circuits)):
            key = ("maps", g.name, c)
            if key in params:
                G = params[key].detach().double() if hard else params[key]
                if blk.commuting[c] is not None:  # rotary QK circuit: the commuting class
                    G = _to_class(G, blk.commuting[c], orthogonal=level != "invertible")
                tr.maps[(g.name, c)] = G if (level == "invertible" or blk.commuting[c] is not None) else O(G)
    return tr


def learned_match_hierarchy(model_a: nn.Module, model_b: nn.Module, structure: TransformerStructure, X, y,
                            level: str = "invertible", *, init: HierarchyTransform | None = None, steps: int = 100,
                            lr: float = 1e-2, batch_size: int = 128, seed: int = 0):
    """Learned matching ([GLMC] §3): maps trained on the task loss of the interpolated model.

    Implicit matrices ``Z`` (one per FF layer, head group, the stream, and per circuit the per-head maps) are
    projected onto their symmetry class at every step — permutations by the Hungarian algorithm with a
    straight-through gradient (``P + Z − sg(Z)``), orthogonal maps by the polar factor ``UVᵀ`` of the SVD (restricted
    to ``R·1 = ±1`` on a LayerNorm stream), invertible head maps used as they are — and trained with Adam on
    ``𝓛(f((1−λ)θ_A + λ T_Z(θ_B)); X, y)``, ``λ ~ U(0.4, 0.6)`` per step, from ``init`` (weight matching).

    Parameters
    ----------
    model_a, model_b : nn.Module
        Same architecture, in the parametrization of ``structure``.
    structure : TransformerStructure
    X, y : torch.Tensor
        Inputs and integer targets (cross-entropy on the primary output; token axes are flattened).
    level : {"permutation", "orthogonal", "invertible", "hierarchy"}
    init : HierarchyTransform, optional
        Default: identity maps.
    steps, lr, batch_size, seed : int, float, int, int

    Returns
    -------
    transform : HierarchyTransform
        The projected maps (exact members of the symmetry class).
    history : list of float
        Training loss per step.

    References
    ----------
    [GLMC] §3 (learned matching, straight-through permutations, SVD orthogonal maps); docs/theory.md T-S1, T-S3, T-S4.

    Examples
    --------
    >>> import torch
    >>> from lmctheory.nn.vit import make_vit
    >>> a, b = (make_vit(norm="rmsnorm", dim=8, heads=2, depth=1, seed=s) for s in (0, 1))
    >>> X, y = torch.randn(16, 64), torch.randint(0, 10, (16,))
    >>> s = transformer_structure(a, X)
    >>> tr, hist = learned_match_hierarchy(a, b, s, X, y, "orthogonal", steps=2)
    >>> len(hist), tuple(tr.stream.shape)
    (2, (8, 8))
    """
    level = _check_level(level)
    _check_level_supported(structure, level)
    init = init or HierarchyTransform(stream=torch.eye(structure.width, dtype=torch.float64))
    ref = model_a.state_dict()
    dtype = next((v.dtype for v in ref.values() if v.is_floating_point()), torch.float32)
    sa = {k: v.detach() for k, v in ref.items()}
    sb = {k: v.detach() for k, v in model_b.state_dict().items()}
    params, ones = _learned_params(structure, init, level, dtype)

    def project(hard):
        return _project_learned(params, structure, level, ones, dtype, hard)

    xs = _inputs_tuple(X, model_a)
    y = torch.as_tensor(y)
    N = xs[0].shape[0]
    if y.is_floating_point() or y.is_complex() or y.ndim == 0 or y.shape[0] != N:
        raise ValueError(f"y must hold integer targets with one row per sample of X ({N} rows: shape (N,) or (N, T)), "
                         f"got dtype {y.dtype} and shape {tuple(y.shape)}")
    opt = torch.optim.Adam(list(params.values()), lr=float(lr))
    gen = torch.Generator().manual_seed(int(seed))
    rng = np.random.default_rng(seed)
    history = []
    with torch.enable_grad():
        model_a.eval()
        for _ in range(int(steps)):
            idx = torch.randperm(N, generator=gen)[: int(batch_size)]
            lam = float(rng.uniform(0.4, 0.6))
            tb = _apply_sd(sb, structure, project(hard=False))
            mixed = {k: ((1 - lam) * v + lam * tb[k]) if v.is_floating_point() else v for k, v in sa.items()}
            out = torch.func.functional_call(model_a, mixed, tuple(x[idx] if isinstance(x, torch.Tensor) else x
                                                                  for x in xs), tie_weights=False)
            loss = _task_loss(out, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.append(float(loss.detach()))
    with torch.no_grad():
        return project(hard=True), history


# -------------------------------------------------------------------------------------------------
# the user-facing call
# -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlignmentReport:
    """What :func:`align` did.

    Attributes
    ----------
    strategy, level : str
    steps : list of dict
        Per part of the hierarchy (residual stream, each FF layer, each head group's factors and circuits, all
        parameters): ``before`` / ``after`` — the relative squared distance ``‖θ_A − θ_B‖² / ‖θ_A‖²`` of the
        tensors that part acts on (for circuits: of the circuits), before and after alignment; for the
        activation strategy also the matching objectives.
    function_change : float
        ``max |f_B(x) − f_{aligned}(x)|`` on the check inputs.
    tolerance : float
        The bound it had to meet (``1000·ε(dtype)·max(1, max|f_B|)``).
    transform : HierarchyTransform or None
        The maps applied (weight / learned strategies).
    history : list of float
        Learned matching: training loss per step.
    converted : tuple of str
        Reparametrizations applied to both models before aligning (folded norm gains, standard layers).
    model_a : nn.Module
        Model A in the same parametrization as the aligned B: interpolate between ``model_a`` and the aligned B.
    """

    strategy: str
    level: str
    steps: list
    function_change: float
    tolerance: float
    transform: object = None
    history: list = field(default_factory=list)
    converted: tuple = ()
    model_a: nn.Module | None = field(default=None, repr=False, compare=False)


def _prepare(model_a, model_b, xs, level):
    """Both models standard, with norm gains folded (levels above permutation)."""
    from .symmetry import is_asymmetric_module
    from .matching import to_standard
    from .orthogonal import fold_norm_gains, has_norm_affine

    converted = []
    if any(is_asymmetric_module(m) for m in model_a.modules()):
        model_a, model_b = to_standard(model_a), to_standard(model_b)
        converted.append("asymmetric layers → standard (to_standard)")
    if level != "permutation" and any(has_norm_affine(m) for m in model_a.modules()):
        try:
            model_a, model_b = fold_norm_gains(model_a, xs), fold_norm_gains(model_b, xs)
        except Exception as err:  # a graph the fx-based folding cannot read: fold by following the tensors
            first = f"{type(err).__name__}: {str(err)[:200]}"
            model_a, model_b = _fold_by_hooks(model_a, xs, first), _fold_by_hooks(model_b, xs, first)
        converted.append("norm gains/biases folded into the linear maps reading them")
    if not converted:
        model_a, model_b = copy.deepcopy(model_a), copy.deepcopy(model_b)
    return model_a, model_b, tuple(converted)


def _is_conv1d(m) -> bool:
    """Hugging Face ``Conv1D``: ``y = x W + b`` with ``W`` of shape ``(in, out)``."""
    return type(m).__name__ == "Conv1D" and getattr(m, "weight", None) is not None and m.weight.ndim == 2


@torch.no_grad()
def _fold_by_hooks(model, xs, why=""):
    """Fold the gain/bias of every ``nn.LayerNorm``/``nn.RMSNorm`` into the linear maps (``nn.Linear`` or
    ``Conv1D``) that read its output (found by following the output tensor's storage in one forward pass); the
    result's function is checked against the model's."""
    from .orthogonal import has_norm_affine

    new = copy.deepcopy(model)
    mods = dict(new.named_modules())
    norms = {n: m for n, m in mods.items() if has_norm_affine(m)}
    outs, readers, hooks = {}, {n: set() for n in norms}, []

    def key(t):
        return (t.untyped_storage().data_ptr(), t.storage_offset(), t.numel())

    for n, m in norms.items():
        hooks.append(m.register_forward_hook(lambda mod, i, o, n=n: outs.__setitem__(key(o), n)))
    for n, m in mods.items():
        if isinstance(m, nn.Linear) or _is_conv1d(m):
            def pre(mod, inp, n=n):
                if inp and isinstance(inp[0], torch.Tensor) and key(inp[0]) in outs:
                    readers[outs[key(inp[0])]].add(n)
            hooks.append(m.register_forward_pre_hook(pre))
    try:
        y0 = _outputs(new, xs)
    finally:
        for h in hooks:
            h.remove()
    for n, norm in norms.items():
        if not readers[n]:
            raise ValueError(f"cannot fold the gain of {type(norm).__name__} at {n!r}: no linear map reads its output "
                             f"directly (graph-based folding failed too: {why})")
        g = norm.weight.detach().clone() if norm.weight is not None else None
        beta = getattr(norm, "bias", None)
        beta = beta.detach().clone() if beta is not None else None
        for r in sorted(readers[n]):
            lin = mods[r]
            W = lin.weight.detach().clone()
            if isinstance(lin, nn.Linear):  # y = W x + b
                b = lin.bias.detach().clone() if lin.bias is not None else torch.zeros(W.shape[0], dtype=W.dtype)
                if beta is not None:
                    b = b + W @ beta.to(W.dtype)
                W = W * g.to(W.dtype) if g is not None else W
            else:  # Conv1D: y = x W + b
                b = lin.bias.detach().clone()
                if beta is not None:
                    b = b + beta.to(W.dtype) @ W
                W = W * g.to(W.dtype)[:, None] if g is not None else W
            lin.weight = nn.Parameter(W)  # a fresh tensor: a read-out tied to the embedding is untied here
            lin.bias = nn.Parameter(b)
        for pname in ("weight", "bias"):
            if getattr(norm, pname, None) is not None:
                delattr(norm, pname)
                norm.register_parameter(pname, None)
        norm.elementwise_affine = False
    y1 = _outputs(new, xs)
    diff, scale = _max_diff(y0, y1)
    eps = max((torch.finfo(u.dtype).eps if u.is_floating_point() else 0.0) for u in y0)
    if not diff <= 1000 * eps * max(scale, 1.0):
        raise ValueError(f"folding the norm gains changed the model's outputs by {diff:.3g}: some norm output feeds "
                         f"more than the linear maps {sorted(set().union(*readers.values()))[:6]}; the stream cannot "
                         f"be rotated (graph-based folding: {why})")
    return new


def _check_function(model_b, aligned, xs):
    from .symmetry import SymmetryCheckError

    ya, yb = _outputs(model_b, xs), _outputs(aligned, xs)
    diff, scale = _max_diff(ya, yb)
    eps = max((torch.finfo(u.dtype).eps if u.is_floating_point() else 0.0) for u in ya)
    tol = 1000 * eps * max(scale, 1.0)
    if not diff <= tol:
        raise SymmetryCheckError(f"the aligned model B differs from model B by {diff:.3g} > {tol:.3g} (max |f_B − "
                                 "f_aligned| on X): the maps left the model's symmetry group")
    return diff, tol


def _activation_align(a, b, xs, structure, level, seed):
    from .matching import activation_match, permute_model
    from .orthogonal import orthogonal_align

    # groups given: A is traced once, like B
    match = activation_match(a, b, xs, groups=list(structure.groups), seed=seed)
    b_p = permute_model(b, match)
    kinds = {g.name: g.kind for g in match.groups}
    steps = [{"part": f"{name} ({kinds.get(name, '?')})", "kind": "activation correlation",
              "before": float(r.objective_identity), "after": float(r.objective_optimal)}
             for name, r in match.results.items()]
    if level == "permutation":
        return b_p, steps
    g = [h for h in structure.groups if h.name == structure.stream_group]
    b_o, info = orthogonal_align(a, b_p, xs, list(structure.groups), group=g[0].name if g else None,
                                 fold_gains=False)
    steps.append({"part": "residual stream (Procrustes on activations)", "kind": "orthogonal",
                  "before": info.residual_before, "after": info.residual_after})
    if level == "invertible":
        b_o, extra = _activation_head_maps(a, b_o, xs, structure)
        steps.extend(extra)
    return b_o, steps


def _activation_head_maps(a, b, xs, structure):
    """Per-head circuit maps fitted on activations: the q/k/v slots on their projection outputs, the output
    projection's slot on its inputs (least squares, both slots of a circuit together; see ``_fit_maps``)."""
    mods = dict(a.named_modules())
    names = {s.module for blk in structure.attention for s in blk.slots}

    def grab(model):
        store, hooks = {}, []
        for n, m in model.named_modules():
            if n in names:
                hooks.append(m.register_forward_hook(
                    lambda mod, inp, out, n=n: store.__setitem__(n, (inp[0].detach().double(), out.detach().double()))))
        try:
            _outputs(model, xs)
        finally:
            for h in hooks:
                h.remove()
        return store

    ra, rb = grab(a), grab(b)
    tr = HierarchyTransform()
    steps = []
    for blk in structure.attention:
        mats = []
        for s in range(4):
            slot = blk.slots[s]
            w = _writes(a, slot)
            mod = mods[slot.module]
            wm = [m for m in slot.members if m.name.endswith("weight")][0]
            out_axis = (wm.axis == 0) if isinstance(mod, nn.Linear) else (wm.axis == 1)
            k = 1 if out_axis else 0
            va, vb = ra[slot.module][k], rb[slot.module][k]
            va = va.reshape(-1, va.shape[-1]).T.reshape(wm.outer, blk.n_heads, blk.head_dim, -1)[slot.outer]
            vb = vb.reshape(-1, vb.shape[-1]).T.reshape(wm.outer, blk.n_heads, blk.head_dim, -1)[slot.outer]
            mats.append((va, vb, bool(w)))
        for c, (i, j) in enumerate(blk.circuits):
            (ya1, xb1, _), (ya2, xb2, w2) = mats[i], mats[j]
            # activations of the first slot move with G; of the second with G^{-T} (reading) or G (writing)
            if w2:
                G = _fit_maps(torch.cat([ya1, ya2], -1), torch.cat([xb1, xb2], -1), ya1[..., :0], xb1[..., :0],
                              invertible=True)
            else:
                G = _fit_maps(ya1, xb1, ya2, xb2, invertible=True, pairs=blk.commuting[c])
            tr.maps[(blk.group.name, c)] = G
            steps.append({"part": f"{blk.roles[c]} maps {blk.group.name} (activations)", "kind": "invertible",
                          "before": float(((ya1 - xb1) ** 2).sum() / (ya1 ** 2).sum()),
                          "after": float(((ya1 - G @ xb1) ** 2).sum() / (ya1 ** 2).sum())})
    return apply_transform(b, structure, tr), steps


def align(model_a: nn.Module, model_b: nn.Module, X=None, *, strategy: str = "weight", level: str = "hierarchy",
          y=None, rounds: int = 5, steps: int = 200, lr: float = 1e-2, batch_size: int = 128, seed: int = 0):
    """Align model B to model A over the [GLMC] symmetry hierarchy; B's function is unchanged (verified).

    Strategies:

    * ``"weight"`` — data-free weight matching (:func:`weight_match_hierarchy`): Hungarian for FF units and heads
      (head costs on the QK/OV circuits), Procrustes for the stream, per-head circuit maps fitted to A's factors,
      alternated ``rounds`` times;
    * ``"activation"`` — activation matching of every permutation group on ``X``
      (:func:`~lmctheory.nn.matching.activation_match`), then Procrustes of the stream activations
      (:func:`~lmctheory.nn.orthogonal.orthogonal_align`) and per-head circuit maps fitted on the projections'
      activations (levels above permutation);
    * ``"learned"`` — learned matching (:func:`learned_match_hierarchy`) on ``(X, y)``, initialized from weight
      matching.

    Levels: ``"permutation"`` (FF units, heads, the stream permuted), ``"orthogonal"`` (the stream and the per-head
    maps orthogonal), ``"invertible"`` = ``"hierarchy"`` (per-head maps invertible: the whole hierarchy).

    Every result is checked: ``max |f_B(x) − f_aligned(x)| ≤ 1000·ε(dtype)·max(1, max|f_B|)`` on ``X`` (at most
    256 rows), else :class:`~lmctheory.nn.symmetry.SymmetryCheckError`.

    Parameters
    ----------
    model_a, model_b : nn.Module
        Same architecture; transformers :func:`~lmctheory.nn.symmetry.permutation_groups` can trace.
    X : torch.Tensor or tuple
        Inputs (batch first). Needed by every strategy to trace the model and check the result; the weight
        strategy uses no other information from it.
    strategy : {"activation", "weight", "learned"}
    level : {"permutation", "orthogonal", "invertible", "hierarchy"}
    y : torch.Tensor, optional
        Integer targets (learned matching only).
    rounds : int
        Weight-matching rounds.
    steps, lr, batch_size : int, float, int
        Learned matching.
    seed : int

    Returns
    -------
    model_b_aligned : nn.Module
    AlignmentReport
        Interpolate between ``report.model_a`` and ``model_b_aligned``.

    Raises
    ------
    ValueError
        Bad strategy/level/inputs; a stream that cannot be rotated or a QK circuit without per-head maps
        (rotary embeddings) at levels above permutation, named.
    SymmetryCheckError
        The aligned model's function differs from B's.

    References
    ----------
    [GLMC] §2–3 (hierarchy; weight, activation and learned matching); docs/theory.md T-S1, T-S3, T-S4, §10.

    Examples
    --------
    >>> import torch
    >>> from lmctheory.nn.vit import make_vit
    >>> a, b = (make_vit(norm="rmsnorm", dim=8, heads=2, depth=1, seed=s) for s in (0, 1))
    >>> b2, rep = align(a, b, torch.randn(16, 64), strategy="weight", level="hierarchy")
    >>> rep.function_change <= rep.tolerance, rep.steps[-1]["after"] < rep.steps[-1]["before"]
    (True, True)
    """
    from ._checks import check_module
    from ._inputs import check_same_architecture

    check_module(model_a, "model_a")
    check_module(model_b, "model_b")
    check_same_architecture(model_a, model_b)
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    level = _check_level(level)
    if X is None:
        raise ValueError("X is required: example inputs (batch first) to trace the models and to check that the "
                         "aligned model computes B's function (weight matching uses nothing else from it)")
    xs = _inputs_tuple(X, model_a)
    if strategy == "learned" and y is None:
        raise ValueError("strategy='learned' needs targets y (integer labels for X) for the task loss")
    a, b, converted = _prepare(model_a, model_b, xs, level)
    # traced on a copy: tracing may attach constants to a module, and activation matching compares both graphs
    structure = transformer_structure(copy.deepcopy(a), xs, seed=seed)
    _check_level_supported(structure, level)
    check = _rows(xs, 256)
    tr, history = None, []
    if strategy == "activation":
        aligned, steps_out = _activation_align(a, b, xs, structure, level, seed)
    else:
        tr, steps_out = weight_match_hierarchy(a.state_dict(), b.state_dict(), structure, level, rounds=rounds)
        if strategy == "learned":
            wm_steps = steps_out
            tr, history = learned_match_hierarchy(a, b, structure, xs, y, level, init=tr, steps=steps, lr=lr,
                                                  batch_size=batch_size, seed=seed)
            steps_out = _level_steps(_f64(a.state_dict()), _f64(b.state_dict()), structure, tr, level)
            for s, w in zip(steps_out, wm_steps):
                s["weight_matching"] = w["after"]
        aligned = apply_transform(b, structure, tr)
    diff, tol = _check_function(b, aligned, check)
    return aligned, AlignmentReport(strategy=strategy, level=level, steps=steps_out, function_change=diff,
                                    tolerance=tol, transform=tr, history=history, converted=converted, model_a=a)
