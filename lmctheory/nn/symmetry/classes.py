"""Axis classes: a union–find over the permutable axes of every tensor of a captured graph.

Every axis of every tensor (activation, parameter, buffer) gets a *layout*: a list of class ids whose
sizes multiply to the axis length, read row-major. An axis of length ``3·H·dh`` produced by a fused
``qkv`` projection and reshaped to ``(3, H, dh)`` thus ends up with three factor classes. The
union–find merges classes an operation forces to be permuted together (:meth:`AxisClasses.tie`),
refines a class into a product of factor classes when two layouts meet with different factor
boundaries (:meth:`AxisClasses.cut`), and records *pinned* classes — classes no permutation may
touch (model inputs and outputs, spatial axes of a convolution, an axis indexed by position, a
within-head axis multiplied by rotary ``cos``/``sin`` tables, …).

Pinning is eager: a class is pinned as soon as some operation pins it, and the flag survives unions
and refinements, so a handler can ask whether an input still carries a permutable axis
(:meth:`AxisClasses.is_pinned`).
"""

from __future__ import annotations

import math

__all__ = ["AxisClasses"]


class AxisClasses:
    """Union–find over axis classes with factor refinement and pinning (see the module docstring).

    A *layout* is a list of class ids (a size-1 axis has the empty layout ``[]``).
    """

    def __init__(self):
        self.parent: list[int] = []
        self.size: list[int] = []
        self.label: list[str] = []
        self.tags: list[set] = []
        self.pinned: list[str | None] = []  # reason, per class (meaningful on roots and leaves)
        self.split: dict[int, list[int]] = {}

    # ---- creation and lookup -----------------------------------------------------------------
    def new(self, size: int, label: str, pinned: str | None = None) -> list[int]:
        """A layout of one fresh class of ``size`` (``[]`` for size 1), pinned with reason ``pinned`` if given."""
        if int(size) == 1:
            return []
        c = len(self.parent)
        self.parent.append(c)
        self.size.append(int(size))
        self.label.append(label)
        self.tags.append(set())
        self.pinned.append(pinned or None)
        return [c]

    def find(self, c: int) -> int:
        while self.parent[c] != c:
            self.parent[c] = self.parent[self.parent[c]]
            c = self.parent[c]
        return c

    def expand(self, layout) -> list[int]:
        """The layout's leaf classes (roots, refined into their factors where split)."""
        out = []
        for c in layout:
            r = self.find(c)
            out.extend(self.expand(self.split[r]) if r in self.split else [r])
        return out

    def prod(self, layout) -> int:
        return math.prod(self.size[c] for c in self.expand(layout))

    # ---- tags and pins -----------------------------------------------------------------------
    def tag(self, layout, t: str) -> None:
        for c in self.expand(layout):
            self.tags[c].add(t)

    def pin(self, layout, reason: str) -> None:
        for c in self.expand(layout):
            if self.pinned[c] is None:
                self.pinned[c] = reason

    def is_pinned(self, layout) -> bool:
        """True if every leaf class of ``layout`` is pinned (an empty layout counts as pinned)."""
        return all(self.pinned[c] is not None for c in self.expand(layout))

    def pin_reason(self, c: int) -> str | None:
        return self.pinned[self.find(c)]

    # ---- merging -----------------------------------------------------------------------------
    def _split(self, r: int, sizes) -> list[int]:
        new = [self.new(s, f"{self.label[r]}/{k}", self.pinned[r])[0] for k, s in enumerate(sizes)]
        self.split[r] = new
        return new

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] != self.size[rb]:
            raise AssertionError("internal error: union of classes of different sizes")
        if rb < ra:
            ra, rb = rb, ra  # the older class names the union
        self.parent[rb] = ra
        self.tags[ra] |= self.tags[rb]
        if self.pinned[ra] is None:
            self.pinned[ra] = self.pinned[rb]
        sa, sb = self.split.get(ra), self.split.get(rb)
        if sb is not None:
            if sa is None:
                self.split[ra] = sb
                if self.pinned[ra] is not None:
                    self.pin(sb, self.pinned[ra])
            else:
                self.tie(sa, sb, "")
        elif sa is not None and self.pinned[ra] is not None:
            self.pin(sa, self.pinned[ra])

    def tie(self, la, lb, reason: str) -> bool:
        """Merge two layouts of the same total size, refining factors to a common structure.

        Returns False (and pins both) if their factor boundaries cross (no exact common refinement)."""
        A, B = self.expand(la), self.expand(lb)
        if self.prod(A) != self.prod(B):
            raise AssertionError(f"internal error: tie of axes of different lengths ({self.prod(A)} vs "
                                 f"{self.prod(B)})")
        i = j = 0
        while i < len(A) and j < len(B):
            a, b = self.find(A[i]), self.find(B[j])
            if a in self.split:
                A[i:i + 1] = self.expand([a])
                continue
            if b in self.split:
                B[j:j + 1] = self.expand([b])
                continue
            sa, sb = self.size[a], self.size[b]
            if sa == sb:
                self.union(a, b)
                i += 1
                j += 1
            elif sb % sa == 0:
                B[j:j + 1] = self._split(b, [sa, sb // sa])
            elif sa % sb == 0:
                A[i:i + 1] = self._split(a, [sb, sa // sb])
            else:
                self.pin(la, reason or "incompatible axis structures")
                self.pin(lb, reason or "incompatible axis structures")
                return False
        return True

    def cut(self, layout, sizes, reason: str):
        """Split a flat layout into consecutive pieces of the given sizes (row-major); pins and returns None
        when the existing factor boundaries make that impossible."""
        out, rest = [], self.expand(layout)
        for s in sizes:
            piece, p = [], 1
            while p < s:
                if not rest:
                    break
                c = self.find(rest[0])
                if c in self.split:
                    rest[0:1] = self.expand([c])
                    continue
                sc = self.size[c]
                if p * sc <= s and s % (p * sc) == 0:
                    piece.append(c)
                    p *= sc
                    rest.pop(0)
                elif s % p == 0 and sc % (s // p) == 0:
                    rest[0:1] = self._split(c, [s // p, sc // (s // p)])
                else:
                    break
            if p != s:
                self.pin(layout, reason)
                return None
            out.append(piece)
        return out
