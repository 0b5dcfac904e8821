"""File trees for display: the merged view at a layer, or one layer's own
changes, as compact node arrays (no object per file) with recursive sizes.

Node 0 is the root `/`.  Children are kept as lists of node ids and sorted on
demand; sizes and counts are recursive for directories.
"""

from __future__ import annotations

from array import array

from ..model import DIR, FILE, OPAQUE, WHITEOUT
from .changes import CONTENT, METADATA, SAME
from .stack import ADDED, IMPLIED, MODIFIED, UNCHANGED, Stack

# status of a node relative to the layer the tree is built for
S_UNCHANGED = 0  # from a lower layer (merged view)
S_ADDED = 1
S_MODIFIED = 2  # content changed
S_METADATA = 3  # chmod/chown copy-up
S_SAME = 4  # an identical copy (duplicate), or a directory listed again
S_DELETED = 5  # a ghost: removed by this layer
S_IMPLIED = 6  # a directory that only exists because of its children
STATUS_NAMES = ["unchanged", "added", "modified", "metadata", "duplicate", "deleted", "implied"]

CHECK_EVERY = 0x1FFF  # builds ask `cancelled()` once per 8,192 nodes


class Cancelled(Exception):
    """A tree build stopped because its `cancelled()` callback said so (the
    viewer moved on to another layer before the tree was needed)."""


class FileTree:
    def __init__(self, stack: Stack, layer: int, mode: str):
        self.stack = stack
        self.layer = layer
        self.mode = mode  # "merged" | "changes"
        self.names: list[str] = [""]
        self.parent = array("i", [-1])
        self.kids: list[list[int] | None] = [[]]
        self.ref_layer = array("i", [-1])
        self.ref_index = array("i", [IMPLIED])
        self.status = bytearray([S_UNCHANGED])
        self.sizes = array("q", [0])
        self.counts = array("i", [0])
        self.dirflag = bytearray([1])
        self._by_path: dict[str, int] = {"": 0}
        self._sorted: dict[tuple[int, str], list[int]] = {}

    # -- building --------------------------------------------------------
    def _node(self, path: str) -> int:
        n = self._by_path.get(path)
        if n is not None:
            return n
        # create missing ancestors top-down, iteratively (paths may be 10,000 deep)
        missing = []
        p = path
        while True:
            s = p.rfind("/")
            p = p[:s] if s >= 0 else ""
            if p in self._by_path:
                break
            missing.append(p)
        for anc in reversed(missing):
            self._new_node(anc)
        return self._new_node(path)

    def _new_node(self, path: str) -> int:
        s = path.rfind("/")
        parent = self._by_path[path[:s] if s >= 0 else ""]
        n = len(self.names)
        self.names.append(path[s + 1:])
        self.parent.append(parent)
        self.kids.append(None)
        self.ref_layer.append(-1)
        self.ref_index.append(IMPLIED)
        self.status.append(S_IMPLIED)
        self.sizes.append(0)
        self.counts.append(0)
        self.dirflag.append(1)
        pk = self.kids[parent]
        if pk is None:
            self.kids[parent] = pk = []
        pk.append(n)
        self._by_path[path] = n
        return n

    def _set(self, path: str, layer: int, index: int, status: int) -> int:
        n = self._node(path)
        self.ref_layer[n] = layer
        self.ref_index[n] = index
        self.status[n] = status
        if index != IMPLIED:
            e = self.stack.layers[layer].entries
            t = e.types[index]
            self.dirflag[n] = 1 if t == DIR else 0
            self.sizes[n] = e.sizes[index] if t == FILE else 0
        else:
            self.dirflag[n] = 1
        return n

    def _set_many(self, items, cancelled=None) -> None:
        """`_set` for many (path, layer, index, status) in one tight loop:
        the hot path of building a tree of hundreds of thousands of nodes.
        `cancelled()` (optional) is asked every few thousand items; when it
        returns true the build raises Cancelled."""
        by_path = self._by_path
        names, parent, kids = self.names, self.parent, self.kids
        ref_layer, ref_index, status = self.ref_layer, self.ref_index, self.status
        sizes, counts, dirflag = self.sizes, self.counts, self.dirflag
        cols = [(l.entries.types, l.entries.sizes) for l in self.stack.layers]
        k = 0
        for path, layer, index, st in items:
            k += 1
            if not k & CHECK_EVERY and cancelled is not None and cancelled():
                raise Cancelled()
            if index == IMPLIED:
                is_dir, size = 1, 0
            else:
                types, szs = cols[layer]
                t = types[index]
                is_dir = 1 if t == DIR else 0
                size = szs[index] if t == FILE else 0
            n = by_path.get(path)
            if n is None:
                s = path.rfind("/")
                pp = path[:s] if s >= 0 else ""
                p = by_path.get(pp)
                if p is None:
                    p = self._node(pp)  # implied ancestors, created top-down
                n = len(names)
                names.append(path[s + 1:])
                parent.append(p)
                kids.append(None)
                pk = kids[p]
                if pk is None:
                    kids[p] = pk = []
                pk.append(n)
                by_path[path] = n
                ref_layer.append(layer)
                ref_index.append(index)
                status.append(st)
                sizes.append(size)
                counts.append(0)
                dirflag.append(is_dir)
            else:  # a node made earlier as an implied parent
                ref_layer[n] = layer
                ref_index[n] = index
                status[n] = st
                sizes[n] = size
                dirflag[n] = is_dir

    def _finish(self, cancelled=None) -> None:
        """Recursive sizes and counts, children-before-parents."""
        sizes, counts, parent = self.sizes, self.counts, self.parent
        for n in range(len(self.names) - 1, 0, -1):
            if not n & CHECK_EVERY and cancelled is not None and cancelled():
                raise Cancelled()
            p = parent[n]
            if self.status[n] != S_DELETED:
                sizes[p] += sizes[n]
                counts[p] += counts[n] + 1

    # -- reading ---------------------------------------------------------
    def __len__(self) -> int:
        return len(self.names)

    def find(self, path: str) -> int | None:
        return self._by_path.get(path.strip("/"))

    def path(self, n: int) -> str:
        parts = []
        while n > 0:
            parts.append(self.names[n])
            n = self.parent[n]
        return "/" + "/".join(reversed(parts))

    def name(self, n: int) -> str:
        return self.names[n] if n else "/"

    def is_dir(self, n: int) -> bool:
        return bool(self.dirflag[n])

    def size(self, n: int) -> int:
        return self.sizes[n]

    def count(self, n: int) -> int:
        return self.counts[n]

    def ref(self, n: int) -> tuple[int, int] | None:
        i = self.ref_index[n]
        return None if i == IMPLIED else (self.ref_layer[n], i)

    def status_name(self, n: int) -> str:
        return STATUS_NAMES[self.status[n]]

    def has_children(self, n: int) -> bool:
        """Does node n have child nodes (ghosts included)?"""
        return bool(self.kids[n])

    def children(self, n: int, by: str = "name") -> list[int]:
        key = (n, by)
        got = self._sorted.get(key)
        if got is not None:
            return got
        # Two stable sorts on plain keys instead of one on (key, name) tuples: the
        # same order, but comparing tuples holds the GIL several times longer,
        # which froze the UI while a worker sorted a big directory.
        by_name = self._sorted.get((n, ""))
        if by_name is None:
            by_name = self._sorted[(n, "")] = sorted(self.kids[n] or [], key=self.names.__getitem__)
        if by == "size":
            sizes = self.sizes
            out = sorted(by_name, key=lambda c: -sizes[c])  # biggest first, then by name
        else:
            out = sorted(by_name, key=self.dirflag.__getitem__, reverse=True)  # dirs first, then by name
        self._sorted[key] = out
        return out

    def entry(self, n: int):
        r = self.ref(n)
        if r is None:
            return None
        return self.stack.layers[r[0]].entries.entry(r[1])


def _status_of(stack: Stack, kinds, L: int, i: int) -> int:
    c = stack.change[L][i]
    if c == ADDED:
        return S_ADDED
    if c == UNCHANGED:
        return S_UNCHANGED  # a directory listed again, same metadata: not a change
    if c == MODIFIED:
        k = kinds.kind[L][i] if kinds is not None else CONTENT
        return {CONTENT: S_MODIFIED, METADATA: S_METADATA, SAME: S_SAME}.get(k, S_MODIFIED)
    return S_UNCHANGED


def build_merged_tree(stack: Stack, kinds, N: int, cancelled=None) -> FileTree:
    """The union filesystem as it stands at layer N; layer N's own changes
    are marked, and what layer N deleted is shown as ghosts.
    `cancelled`: an optional callable; the build raises Cancelled once it
    returns true."""
    t = FileTree(stack, N, "merged")
    t._set_many(((path, l, i, S_IMPLIED if i == IMPLIED else
                  (_status_of(stack, kinds, l, i) if l == N else S_UNCHANGED))
                 for path, l, i in stack.visible_at(N)), cancelled)
    _add_ghosts(t, stack, N, cancelled)
    t._finish(cancelled)
    return t


def build_changes_tree(stack: Stack, kinds, N: int, cancelled=None) -> FileTree:
    """Only what layer N did: its entries (added/modified) and ghosts for what
    it deleted.  Parent directories it did not list are implied."""
    t = FileTree(stack, N, "changes")
    e = stack.layers[N].entries
    types = e.types
    t._set_many(((path, N, i, _status_of(stack, kinds, N, i)) for i, path in enumerate(e.paths)
                 if types[i] != WHITEOUT and types[i] != OPAQUE), cancelled)
    _add_ghosts(t, stack, N, cancelled)
    t._finish(cancelled)
    return t


def _add_ghosts(t: FileTree, stack: Stack, N: int, cancelled=None) -> None:
    dels = stack.deletions[N]
    if not dels:
        return
    hidden = _hidden_bytes_by_root(stack, N, {d.path for d in dels}, cancelled)
    for d in dels:
        if d.path in t._by_path and t.status[t._by_path[d.path]] != S_DELETED:
            continue  # re-added in the same layer: the new entry is what shows
        n = t._set(d.path, d.lower_layer, d.lower_index, S_DELETED)
        # a ghost's size is what it hid (recursive for a directory)
        t.sizes[n] = hidden.get(d.path, 0)
        t.dirflag[n] = 1 if stack.layers[d.lower_layer].entries.types[d.lower_index] == DIR else 0


def _hidden_bytes_by_root(stack: Stack, N: int, roots: set[str], cancelled=None) -> dict[str, int]:
    """Bytes of regular files that layer N hid, summed under each deletion root."""
    out: dict[str, int] = {}
    for l in range(N):
        if cancelled is not None and cancelled():
            raise Cancelled()
        le = stack.layers[l].entries
        ha, types, sizes = stack.hidden_at[l], le.types, le.sizes
        for i in range(len(ha)):
            if ha[i] != N or types[i] != FILE or stack.how[l][i] == 0x6F:  # 'o' overwritten: not a deletion
                continue
            add_to_root(out, roots, le.paths[i], sizes[i])
    return out


def add_to_root(out: dict[str, int], roots, p: str, size: int) -> None:
    """Add `size` to out[r] for the nearest r of `roots` that is `p` or an
    ancestor of it (nothing when none is)."""
    while True:
        if p in roots:
            out[p] = out.get(p, 0) + size
            return
        s = p.rfind("/")
        if s < 0:
            return
        p = p[:s]
