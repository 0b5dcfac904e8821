"""The merged view at a layer as a lazy file tree: only the directories a
viewer opens are materialised.

`build_merged_tree` (tree.py) makes one node per visible path, for every
layer the viewer looks at: too slow for big images.  Here the per-entry work is done once per stack
(`StackIndex`: the parent directory of every entry and, per directory and per
layer, the bytes and entries grouped by the layer that hides them); the
merged view at any layer N then costs a pass over those groups (thousands,
not hundreds of thousands) plus the children of the directories opened.

`LazyMergedTree` has the FileTree API (node ids, `children(n, by)`, `find`,
`path`, `size`, `count`, `status`, `ref`, `entry`...) and gives exactly what
`build_merged_tree` gives for every node it materialises (tests compare the
two on generated images).  Node ids are assigned in the order directories
are opened, so they differ from the eager tree's; nothing may rely on them
beyond one tree.  `change_mask()` is the lazy counterpart of
app.treemodel.change_mask.

A few rare shapes (a layer that deletes a path under a directory that is not
a directory in the view at that layer, e.g. under a file that replaced it)
are left to the eager build: `LazyMergedTree.supported()` says so before
anything is built.
"""

from __future__ import annotations

import threading
from array import array

from ..model import DIR, FILE, OPAQUE, WHITEOUT
from .stack import ADDED, IMPLIED, MODIFIED, OVERWRITTEN, VISIBLE, Stack
from .tree import CHECK_EVERY, S_DELETED, S_IMPLIED, S_UNCHANGED, Cancelled, FileTree, _status_of, add_to_root

SHIFT = 32
LOW = (1 << SHIFT) - 1


def _parent(p: str) -> str:
    s = p.rfind("/")
    return p[:s] if s >= 0 else ""


class Unsupported(Exception):
    """A shape of the view that LazyMergedTree leaves to build_merged_tree."""


class StackIndex:
    """What every merged view of a stack needs, computed in one pass over all
    entries (seconds for big images: run it in the background).

    dir_id      directory path -> id (parents have smaller ids than children);
                every path that is the parent of some entry, and "" (the root)
    dir_path, dir_parent
    kids[d]     packed refs (layer << 32 | index) of the entries whose parent is
                directory d, markers left out, in layer order
    groups[l]   {(d << 32 | hidden_at): [file bytes, entries]} of layer l's entries
                directly in d: the merged view at N sums those with l <= N < hidden_at
    hidden[N]   packed refs of the regular files of layers below N that layer N hid
                other than by overwriting them (what the ghosts of layer N hid)
    changed_in[l]    {d: entries of layer l directly in d that are changes (added,
                modified) still visible at l}; changed_dirs[l]: the paths of those
                that are directories (the change mask of the merged view at l)
    implied_kids[d]  implied directory paths whose parent is d
    """

    def __init__(self, stack: Stack, cancelled=None):
        self.stack = stack
        dir_id: dict[str, int] = {"": 0}
        dir_path = [""]
        dir_parent = array("i", [-1])
        kids: list[list[int]] = [[]]
        dir_kids: list[list[int]] = [[]]
        dir_entries: list[tuple[str, int]] = []

        def make_dir(p: str) -> int:
            chain = []
            q = p
            while q not in dir_id:
                chain.append(q)
                q = _parent(q)
            d = dir_id[q]
            for q in reversed(chain):
                d2 = len(dir_path)
                dir_id[q] = d2
                dir_path.append(q)
                dir_parent.append(d)
                kids.append([])
                dir_kids.append([])
                dir_kids[d].append(d2)
                d = d2
            return d

        self.groups: list[dict[int, list[int]]] = []
        self.root_refs: list[int] = []
        self.changed_in: list[dict[int, int]] = []  # per layer l: dir -> its changes of l visible at l
        self.changed_dirs: list[list[str]] = []  # per layer l: its changed directories visible at l
        self.hidden: list[list[int]] = [[] for _ in range(stack.n)]
        for l, layer in enumerate(stack.layers):
            e = layer.entries
            paths, types, sizes = e.paths, e.types, e.sizes
            ha, how, change = stack.hidden_at[l], stack.how[l], stack.change[l]
            g: dict[int, list[int]] = {}
            ch: dict[int, int] = {}
            chd: list[str] = []
            base = l << SHIFT
            hidden = self.hidden
            get = dir_id.get
            for i, p in enumerate(paths):
                if not i & CHECK_EVERY and cancelled is not None and cancelled():
                    raise Cancelled()
                t = types[i]
                if t == WHITEOUT or t == OPAQUE:
                    continue
                if not p:  # an entry for the root itself: node 0, not a child
                    self.root_refs.append(base | i)
                    continue
                s = p.rfind("/")
                parent = p[:s] if s >= 0 else ""
                d = get(parent)
                if d is None:
                    d = make_dir(parent)
                kids[d].append(base | i)
                h = ha[i]
                size = sizes[i] if t == FILE else 0
                k = (d << SHIFT) | h
                v = g.get(k)
                if v is None:
                    g[k] = [size, 1]
                else:
                    v[0] += size
                    v[1] += 1
                if h != VISIBLE and h > l and t == FILE and how[i] != OVERWRITTEN:
                    hidden[h].append(base | i)
                if t == DIR:
                    dir_entries.append((p, base | i))
                c = change[i]
                if (c == ADDED or c == MODIFIED) and h > l:  # a change of layer l, seen at l
                    ch[d] = ch.get(d, 0) + 1
                    if t == DIR:
                        chd.append(p)
            self.groups.append(g)
            self.changed_in.append(ch)
            self.changed_dirs.append(chd)
        self.implied_kids: dict[int, list[str]] = {}
        for p in stack.implied:
            parent = _parent(p)
            d = dir_id.get(parent)
            if d is None:
                d = make_dir(parent)
            self.implied_kids.setdefault(d, []).append(p)
        self.dir_id, self.dir_path, self.dir_parent, self.kids = dir_id, dir_path, dir_parent, kids
        self.dir_kids = dir_kids
        self.dir_records: dict[int, list[int]] = {}
        for p, ref in dir_entries:
            d = dir_id.get(p)
            if d is not None:
                self.dir_records.setdefault(d, []).append(ref)

    def has_record(self, d: int, N: int) -> bool:
        """Has directory d a record (a dir entry, or an implied one) in the merged view at N?"""
        st = self.stack
        imp = st.implied.get(self.dir_path[d])
        if imp is not None and imp[0] <= N < imp[1]:
            return True
        for ref in self.dir_records.get(d, ()):
            l = ref >> SHIFT
            if l <= N < st.hidden_at[l][ref & LOW]:
                return True
        return False

    def record_at(self, path: str, N: int):
        """The visible record of `path` in the merged view at N: (layer, index),
        (layer, IMPLIED) for an implied directory, or None."""
        st = self.stack
        imp = st.implied.get(path)
        if imp is not None and imp[0] <= N < imp[1]:
            return imp[0], IMPLIED
        d = self.dir_id.get(_parent(path))
        if d is None:
            return None
        for ref in self.kids[d]:
            l = ref >> SHIFT
            if l > N:
                break
            i = ref & LOW
            if st.hidden_at[l][i] > N and st.layers[l].entries.paths[i] == path:
                return l, i
        return None


class LazyMask:
    """change_mask() of a lazy tree: mask[node] is 1 for a change of the tree's
    layer or a directory with one below it.  `total()`: how many nodes (of the
    whole view, materialised or not) are 1."""

    def __init__(self, tree: LazyMergedTree, marked: bytearray, total: int):
        self.tree = tree
        self.marked = marked
        self._total = total

    def __getitem__(self, n: int) -> int:
        t = self.tree
        s = t.status[n]
        if s != S_UNCHANGED and s != S_IMPLIED:
            return 1
        if not t.dirflag[n]:
            return 0
        d = t.ix.dir_id.get(t.rel_path(n))
        return self.marked[d] if d is not None else 0

    def total(self) -> int:
        return self._total


class LazyMergedTree(FileTree):
    """The merged view at layer N, materialised a directory at a time."""

    lazy = True

    @staticmethod
    def supported(stack: Stack, N: int, index: StackIndex) -> bool:
        """False for a root entry that is not a directory; the constructor
        raises Unsupported for a deletion under a path that is not a
        directory in the view at N (build_merged_tree makes implied nodes
        for those; this tree leaves such shapes to it)."""
        for ref in index.root_refs:
            l, i = ref >> SHIFT, ref & LOW
            if l <= N < stack.hidden_at[l][i] and stack.layers[l].entries.types[i] != DIR:
                return False
        return True

    def _check_ghost_parents(self, rc) -> None:
        st, N, ix = self.stack, self.layer, self.index
        self._file_parents: set[str] = set()
        seen: set[str] = set()
        for d in st.deletions[N]:
            p = _parent(d.path)
            if p in seen or p == "":
                continue
            seen.add(p)
            di = ix.dir_id.get(p)
            if di is not None and rc[di]:
                continue  # a directory with something visible in it
            r = ix.record_at(p, N)
            if r is None:
                raise Unsupported(p)
            if r[1] != IMPLIED and st.layers[r[0]].entries.types[r[1]] != DIR:
                # a file (or link) replaced the directory: the ghosts of what was
                # in it hang under the file, as build_merged_tree leaves them
                self._file_parents.add(p)

    def __init__(self, stack: Stack, kinds, N: int, index: StackIndex, cancelled=None):
        super().__init__(stack, N, "merged")
        self.kinds = kinds
        self.ix = self.index = index
        nd = len(index.dir_path)
        rb = array("q", [0]) * nd
        rc = array("i", [0]) * nd
        k = 0
        for l in range(N + 1):
            for key, v in index.groups[l].items():
                k += 1
                if not k & CHECK_EVERY and cancelled is not None and cancelled():
                    raise Cancelled()
                if (key & LOW) > N:
                    d = key >> SHIFT
                    rb[d] += v[0]
                    rc[d] += v[1]
        for d, ps in index.implied_kids.items():
            for p in ps:
                made, hid = stack.implied[p]
                if made <= N < hid:
                    rc[d] += 1
        dpar = index.dir_parent
        # Directories with something visible below them but no record of their
        # own at N (stack.implied keeps the last time a path was implied only):
        # build_merged_tree makes them implied nodes, so they are counted here.
        synth = set()
        for d in range(nd - 1, 0, -1):
            p = dpar[d]
            if rc[d] and not index.has_record(d, N):
                synth.add(d)
                rc[p] += 1
            rb[p] += rb[d]
            rc[p] += rc[d]
        self._rb, self._rc, self._synth = rb, rc, synth
        self._check_ghost_parents(rc)
        # ghosts: what layer N deleted, by parent path (the last record of a path
        # wins), unless layer N itself made the path again
        dels = stack.deletions[N]
        readded: set[str] = set()
        if dels:
            e = stack.layers[N].entries
            ha, types, paths = stack.hidden_at[N], e.types, e.paths
            gone = {d.path for d in dels}
            readded = {paths[i] for i in range(len(e)) if paths[i] in gone and ha[i] > N
                       and types[i] != WHITEOUT and types[i] != OPAQUE}
            for p in gone:
                imp = stack.implied.get(p)
                d = index.dir_id.get(p)
                if (imp is not None and imp[0] <= N < imp[1]) or (d is not None and rc[d]):
                    readded.add(p)  # an implied dir now, or one with something visible in it
        ghosts: dict[str, dict[str, object]] = {}
        for d in dels:
            if d.path in readded:
                continue
            s = d.path.rfind("/")
            ghosts.setdefault(d.path[:s] if s >= 0 else "", {})[d.path[s + 1:]] = d
        self._ghosts = ghosts
        # a ghost shows what it hid: bytes under it, down to the next deletion root
        self._ghost_bytes = self._hidden_bytes({d.path for d in stack.deletions[N]})
        # the change mask: directories with a change below them, by id
        marked = bytearray(nd)
        did = index.dir_id

        def mark(d: int) -> None:
            while d >= 0 and not marked[d]:
                marked[d] = 1
                d = dpar[d]

        changes = 0
        for d, c in index.changed_in[N].items():
            changes += c
            mark(d)
        nghosts = 0
        for par, g in ghosts.items():
            nghosts += len(g)
            # under a file that replaced a directory: the file is a change itself
            mark(dpar[did[par]] if par in self._file_parents else did[par])
        # a marked directory that is itself a change is one node, not two
        overlap = 0
        for p in index.changed_dirs[N]:
            d = did.get(p)
            if d is not None and marked[d]:
                overlap += 1
        root_changed = any(r >> SHIFT == N and stack.change[N][r & LOW] in (ADDED, MODIFIED)
                           and stack.hidden_at[N][r & LOW] > N for r in index.root_refs)
        # (the tree keeps the parts, not a LazyMask: that would be a reference
        # cycle, which reference counting alone cannot free)
        self._marked = marked
        self._changed_total = (changes + root_changed + nghosts + sum(marked) - overlap
                               - (root_changed and marked[0]))
        self._nghosts = nghosts
        self._rel: dict[int, str] = {0: ""}
        self._lock = threading.RLock()  # a viewer may open a directory while a worker filters
        # the root, as build_merged_tree leaves it
        self.kids[0] = None
        self.sizes[0] = rb[0]
        self.counts[0] = rc[0]
        for ref in index.root_refs:
            l, i = ref >> SHIFT, ref & LOW
            if l <= N < stack.hidden_at[l][i]:
                self._fill(0, l, i, _status_of(stack, kinds, l, i) if l == N else S_UNCHANGED, "")

    def _hidden_bytes(self, roots: set[str]) -> dict[str, int]:
        """tree._hidden_bytes_by_root, over only the files layer N hid."""
        out: dict[str, int] = {}
        if not roots:
            return out
        st = self.stack
        for ref in self.ix.hidden[self.layer]:
            l, i = ref >> SHIFT, ref & LOW
            e = st.layers[l].entries
            add_to_root(out, roots, e.paths[i], e.sizes[i])
        return out

    def _fill(self, n: int, layer: int, index: int, status: int, path: str) -> None:
        """Set node n from its record, as FileTree._set_many does."""
        self.ref_layer[n] = layer
        self.ref_index[n] = index
        self.status[n] = status
        if index == IMPLIED:
            self.dirflag[n] = 1
            self.sizes[n] = self._dir_size(path) if n else self._rb[0]
            self.counts[n] = self._dir_count(path) if n else self._rc[0]
        else:
            t = self.stack.layers[layer].entries.types[index]
            if t == DIR:
                self.dirflag[n] = 1
                self.sizes[n] = self._dir_size(path) if n else self._rb[0]
                self.counts[n] = self._dir_count(path) if n else self._rc[0]
            else:
                self.dirflag[n] = 0
                self.sizes[n] = self.stack.layers[layer].entries.sizes[index] if t == FILE else 0
                self.counts[n] = 0

    def _dir_size(self, path: str) -> int:
        d = self.ix.dir_id.get(path)
        return self._rb[d] if d is not None else 0

    def _dir_count(self, path: str) -> int:
        d = self.ix.dir_id.get(path)
        return self._rc[d] if d is not None else 0

    # -- materialising ---------------------------------------------------------
    def rel_path(self, n: int) -> str:
        p = self._rel.get(n)
        if p is None:
            par = self.parent[n]
            pp = self.rel_path(par) if par > 0 else ""
            p = self._rel[n] = (pp + "/" + self.names[n]) if pp else self.names[n]
        return p

    def _add(self, parent: int, path: str, name: str, layer: int, index: int, status: int) -> int:
        n = len(self.names)
        self.names.append(name)
        self.parent.append(parent)
        self.kids.append(None)
        self.ref_layer.append(layer)
        self.ref_index.append(index)
        self.status.append(status)
        self.sizes.append(0)
        self.counts.append(0)
        self.dirflag.append(0)
        self._by_path[path] = n
        self._rel[n] = path
        return n

    def load(self, n: int) -> list[int]:
        """The children of node n (materialised on first use)."""
        ks = self.kids[n]
        if ks is not None:
            return ks
        with self._lock:
            return self._load(n)

    def _load(self, n: int) -> list[int]:
        ks = self.kids[n]
        if ks is not None:
            return ks
        ks = []
        if self.status[n] == S_DELETED:
            self.kids[n] = ks
            return ks
        st, N, ix = self.stack, self.layer, self.ix
        P = self.rel_path(n)
        prefix = P + "/" if P else ""
        d = ix.dir_id.get(P) if self.dirflag[n] else None
        kinds = self.kinds
        if d is not None:
            for ref in ix.kids[d]:
                l = ref >> SHIFT
                if l > N:
                    break
                i = ref & LOW
                if st.hidden_at[l][i] > N:
                    path = st.layers[l].entries.paths[i]
                    c = self._add(n, path, path[len(prefix):], l, i, S_UNCHANGED)
                    self._fill(c, l, i, _status_of(st, kinds, l, i) if l == N else S_UNCHANGED, path)
                    ks.append(c)
            for path in ix.implied_kids.get(d, ()):
                made, hid = st.implied[path]
                if made <= N < hid:
                    c = self._add(n, path, path[len(prefix):], made, IMPLIED, S_IMPLIED)
                    self._fill(c, made, IMPLIED, S_IMPLIED, path)
                    ks.append(c)
            synth = self._synth
            if synth:
                for cd in ix.dir_kids[d]:
                    if cd in synth:
                        path = ix.dir_path[cd]
                        c = self._add(n, path, path[len(prefix):], -1, IMPLIED, S_IMPLIED)
                        self.dirflag[c] = 1
                        self.sizes[c] = self._rb[cd]
                        self.counts[c] = self._rc[cd]
                        ks.append(c)
        g = self._ghosts.get(P)
        if g:
            for name, dl in g.items():
                path = prefix + name
                c = self._add(n, path, name, dl.lower_layer, dl.lower_index, S_DELETED)
                self.sizes[c] = self._ghost_bytes.get(path, 0)
                self.dirflag[c] = 1 if st.layers[dl.lower_layer].entries.types[dl.lower_index] == DIR else 0
                ks.append(c)
        self.kids[n] = ks  # published complete: readers without the lock see all or nothing
        return ks

    def load_all(self) -> None:
        """Materialise every node (what a filter or expand-all needs)."""
        todo = [0]
        while todo:
            n = todo.pop()
            todo.extend(c for c in self.load(n) if self.has_children(c))

    # -- the FileTree API --------------------------------------------------------
    def __len__(self) -> int:
        return self._rc[0] + 1 + self._nghosts

    def materialised(self) -> int:
        return len(self.names)

    def children(self, n: int, by: str = "name") -> list[int]:
        self.load(n)
        return super().children(n, by)

    def has_children(self, n: int) -> bool:
        ks = self.kids[n]
        if ks is not None:
            return bool(ks)
        if self.status[n] == S_DELETED:
            return False
        return (self.dirflag[n] and self.counts[n] > 0) or self.rel_path(n) in self._ghosts

    def find(self, path: str) -> int | None:
        p = path.strip("/")
        n = self._by_path.get(p)
        if n is not None:
            return n
        if not p:
            return 0
        node = 0
        parts = p.split("/")
        for k in range(len(parts)):
            self.load(node)
            node = self._by_path.get("/".join(parts[:k + 1]))
            if node is None:
                return None
        return node

    def change_mask(self) -> LazyMask:
        return LazyMask(self, self._marked, self._changed_total)


def lazy_merged_tree(stack: Stack, kinds, N: int, index: StackIndex, cancelled=None) -> FileTree | None:
    """The merged view at N as a LazyMergedTree, or None for the shapes it leaves
    to build_merged_tree."""
    if not LazyMergedTree.supported(stack, N, index):
        return None
    try:
        return LazyMergedTree(stack, kinds, N, index, cancelled)
    except Unsupported:
        return None
