"""The symmetry engine: permutation symmetry groups of any PyTorch model (docs/theory.md §10, T-S1).

A *permutation symmetry* of a network reorders the units along some axes of its activations and,
consistently, the entries of every parameter/buffer that reads or writes those units, so that the
function is unchanged (T-S1: hidden units of an MLP; channels of a CNN; heads of attention).
:func:`permutation_groups` finds them for any model ``torch.export`` can capture — Hugging Face
transformers, timm and torchvision models included:

1. :mod:`~lmctheory.nn.symmetry.capture` — the model is captured on its example input as an ATen
   graph (``torch.export``, non-strict, eval mode; outputs flattened, so ``ModelOutput`` and cache
   objects are fine; parameters mapped back to state-dict names, tied weights to one name).
2. :mod:`~lmctheory.nn.symmetry.classes` — every axis of every tensor gets a layout of equivalence
   classes (factor classes where a reshape splits an axis); a union–find merges what an operation
   forces to be permuted together and pins what no permutation may touch.
3. :mod:`~lmctheory.nn.symmetry.handlers` — one exact handler per ATen operation family, found in the
   :mod:`~lmctheory.nn.symmetry.registry` (extensible: :func:`register_handler`). An operation whose
   inputs carry no permutable axis needs no handler (its outputs are pinned); any other operation
   without a handler raises :class:`UnsupportedOperationError` naming the op and the module path.
4. :mod:`~lmctheory.nn.symmetry.api` — every class owning a parameter axis and never pinned is a
   :class:`PermutationGroup`; :func:`attention_sites` reports the q/k/v/o projections of each attention
   product; :func:`check_permutation_invariance` verifies the result on the model itself.

The traced groups are a subgroup of the full symmetry group: the within-head permutation is shared by
all heads (the true symmetry allows one per head), GroupNorm(G, C) with ``1 < G < C`` and grouped
convolutions allow permutations of groups times a within-group permutation shared by all groups, and
a concatenated axis is pinned.

Conventions
-----------
A permutation ``perm`` of a group of size ``n`` is an int array of shape ``(n,)``; applying it gives
new unit ``i`` = old unit ``perm[i]`` (the convention of :mod:`lmctheory.alignment`).

Members (:class:`Member`) are exact: ``Member(name, axis, outer, inner)`` says that axis ``axis`` of the
state-dict tensor ``name`` has length ``outer · size · inner``, is viewed row-major as
``(outer, size, inner)``, and the group permutes the middle index. Plain channels: ``outer = inner = 1``;
conv channels flattened into a Linear: ``inner = H·W``; heads in a fused qkv weight of shape
``(3·H·dh, E)``: ``outer = 3, inner = dh``; heads in the output projection ``(E, H·dh)``: ``inner = dh``.

Group kinds (``PermutationGroup.kind``): ``"heads"`` (a batch axis of an attention product),
``"head_dim"`` (a within-head axis of q/k or v), ``"residual"`` (an axis of a sum of two activations:
a residual stream), ``"units"`` (anything else: MLP hidden units, conv channels inside a block).
"""

from .api import (SymmetryAnalysis, analyze, apply_permutation, attention_sites, check_groups,
                  check_permutation_invariance, is_asymmetric_module, normalize_perms, permutation_groups,
                  permute_member, random_permutation)
from .capture import CapturedGraph, capture, clear_capture_cache
from .registry import register_handler
from . import handlers  # noqa: E402,F401  (registers the built-in handlers)
from .types import (GROUP_KINDS, AttentionSite, GroupElement, Member, PermutationGroup, Projection,
                    SymmetryCheckError, Tap, UnsupportedOperationError)

__all__ = [
    "GROUP_KINDS", "UnsupportedOperationError", "SymmetryCheckError", "Member", "Tap", "PermutationGroup",
    "GroupElement", "Projection", "AttentionSite", "SymmetryAnalysis", "CapturedGraph", "capture", "analyze",
    "permutation_groups", "attention_sites", "random_permutation", "normalize_perms", "apply_permutation",
    "permute_member", "check_permutation_invariance", "check_groups", "is_asymmetric_module", "register_handler",
    "clear_capture_cache", "handlers",
]
