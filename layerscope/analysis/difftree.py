"""The difference of two images as a browsable FileTree: the union of both
merged views, each node marked added, removed, changed or unchanged."""

from __future__ import annotations

from array import array

from ..model import DIR
from .diff import ADDED, CONTENT, METADATA, REMOVED, TYPE, ImageDiff, PathChange, Side, _side
from .stack import IMPLIED, Stack
from .tree import S_ADDED, S_DELETED, S_METADATA, S_MODIFIED, S_UNCHANGED, FileTree

_CHANGE_STATUS = {CONTENT: S_MODIFIED, TYPE: S_MODIFIED, METADATA: S_METADATA}


class DiffTree(FileTree):
    """The union of both merged views as a FileTree (same API: `children(n,
    by)`, `name`, `path`, `is_dir`, `size`, `count`, `status[n]`, `find`).

    `status[n]`: S_ADDED (only in B), S_DELETED (only in A), S_MODIFIED
    (content or type changed), S_METADATA (mode/owner only), S_UNCHANGED.

    `size(n)` is the *new* size: regular-file bytes in B, recursive for
    directories -- except for a removed node (S_DELETED), whose size is what
    it had in A (as a ghost in the layer view shows what it hid).  `old_size`,
    `new_size` and `delta(n)` (= new - old, recursive) give both sides;
    `changed_below(n)` counts changed paths under a directory.

    `ref(n)` is (layer, index) in `stack_of(n)`: A's stack for removed nodes,
    else B's.  `entry(n)` / `old_entry(n)` / `new_entry(n)` materialise the
    entries (None for an implied directory or a missing side).
    `children(n, by)` takes by = "name" | "size" | "delta" (biggest |delta|).
    """

    def __init__(self, d: ImageDiff, changes_only: bool = False):
        super().__init__(d.b_stack, d.b_stack.n - 1, "diff")
        self.diff = d
        self.changes_only = changes_only
        self.a_stack = d.a_stack
        self.b_stack = d.b_stack
        self.old_sizes = array("q", [0])
        self.new_sizes = array("q", [0])
        self.changed = array("i", [0])
        self.side_a = bytearray([0])  # 1 when ref_layer/ref_index point into A
        self._changes: dict[int, PathChange] = {}
        self._build(changes_only)

    def _node(self, path: str) -> int:
        before = len(self.names)
        n = super()._node(path)
        if len(self.names) > before:
            grow = len(self.names) - len(self.old_sizes)
            self.old_sizes.extend([0] * grow)
            self.new_sizes.extend([0] * grow)
            self.changed.extend([0] * grow)
            self.side_a.extend(bytes(grow))
        return n

    def _put(self, path: str, status: int, a: Side | None, b: Side | None) -> int:
        n = self._node(path)
        s = b if b is not None else a
        self.status[n] = status
        self.side_a[n] = 1 if b is None else 0
        self.ref_layer[n] = s.layer
        self.ref_index[n] = s.index
        self.dirflag[n] = 1 if s.type == DIR else 0
        self.old_sizes[n] = a.size if a is not None else 0
        self.new_sizes[n] = b.size if b is not None else 0
        return n

    def _build(self, changes_only: bool) -> None:
        d = self.diff
        va, vb = d.a_stack.top_view, d.b_stack.top_view
        by_path = {c.path: c for c in d.changes}
        if changes_only:
            paths: set[str] = set()
            for p in by_path:
                while p and p not in paths:
                    paths.add(p)
                    s = p.rfind("/")
                    p = p[:s] if s >= 0 else ""
        else:
            paths = set(vb)
            paths.update(p for p in va if p not in vb)
        for p in paths:
            c = by_path.get(p)
            if c is not None:
                if c.change == ADDED:
                    st = S_ADDED
                elif c.change == REMOVED:
                    st = S_DELETED
                else:
                    st = _CHANGE_STATUS[c.kind]
                n = self._put(p, st, c.a, c.b)
                self._changes[n] = c
                self.changed[n] = 1
            else:
                rb = vb.get(p)
                ra = va.get(p)
                b = _side(d.b_stack, rb) if rb is not None else None
                a = _side(d.a_stack, ra) if ra is not None else None
                self._put(p, S_UNCHANGED, a, b)
        self._finish()

    def _finish(self) -> None:
        old, new, counts, parent, changed = self.old_sizes, self.new_sizes, self.counts, self.parent, self.changed
        status = self.status
        for n in range(len(self.names) - 1, 0, -1):
            p = parent[n]
            old[p] += old[n]
            new[p] += new[n]
            changed[p] += changed[n]
            if status[n] != S_DELETED or status[p] == S_DELETED:
                counts[p] += counts[n] + 1
        for n in range(len(self.names)):
            self.sizes[n] = old[n] if status[n] == S_DELETED else new[n]

    # -- reading ---------------------------------------------------------
    def stack_of(self, n: int) -> Stack:
        return self.a_stack if self.side_a[n] else self.b_stack

    def old_size(self, n: int) -> int:
        return self.old_sizes[n]

    def new_size(self, n: int) -> int:
        return self.new_sizes[n]

    def delta(self, n: int) -> int:
        return self.new_sizes[n] - self.old_sizes[n]

    def changed_below(self, n: int) -> int:
        """Changed paths at or under node n (n itself included)."""
        return self.changed[n]

    def change(self, n: int) -> PathChange | None:
        """The PathChange of node n (None when unchanged)."""
        return self._changes.get(n)

    def entry(self, n: int):
        r = self.ref(n)
        if r is None:
            return None
        return self.stack_of(n).layers[r[0]].entries.entry(r[1])

    def _entry_on(self, stack: Stack, n: int):
        ref = stack.top_view.get(self.path(n).lstrip("/"))
        if ref is None or ref[1] == IMPLIED:
            return None
        return stack.layers[ref[0]].entries.entry(ref[1])

    def old_entry(self, n: int):
        return self._entry_on(self.a_stack, n)

    def new_entry(self, n: int):
        return self._entry_on(self.b_stack, n)

    def children(self, n: int, by: str = "name") -> list[int]:
        if by != "delta":
            return super().children(n, by)
        key = (n, by)
        got = self._sorted.get(key)
        if got is None:
            ks = self.kids[n] or []
            got = sorted(ks, key=lambda c: (-abs(self.delta(c)), -self.changed[c], self.names[c]))
            self._sorted[key] = got
        return got


def diff_tree(d: ImageDiff, changes_only: bool = False) -> DiffTree:
    """The difference as a browsable FileTree (see DiffTree).  With
    `changes_only`, only changed paths and their parent directories."""
    return DiffTree(d, changes_only)
