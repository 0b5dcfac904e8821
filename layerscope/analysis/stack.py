"""Apply an image's layers in order, by the OCI image-spec's rules, and record
for every entry what happened to it.

One bottom-up pass over all entries gives, for each entry of each layer:
  * `prev`: the lower entry it replaced (so: added vs modified),
  * `hidden_at` / `hidden_by` / `how`: the layer that hid it, the entry there
    that did it, and how (overwritten, whiteout, opaque dir, parent replaced).
Hiding is monotonic, so the merged view at any layer N is simply every entry
of layers 0..N with hidden_at > N -- no second pass per layer.  Layer 0 takes
a bulk pass instead (`Stack._bottom`) when the loop would only add entries.

Rules (OCI image-spec, "Representing Changes"):
  * a layer's whiteouts and opaque markers apply to the layers below it only,
    before its own entries;
  * a whiteout removes the path and, for a directory, its whole subtree;
  * an opaque marker hides every lower child of its directory but keeps the
    directory and this layer's own children;
  * an entry replaces the lower entry at its path; a non-directory replacing
    a directory removes the lower subtree; a directory over a directory keeps
    the lower children;
  * a whiteout and an entry for one path in one layer: the entry is the result;
  * a marker for a path that does not exist does nothing;
  * parents that a layer does not list are implied directories; a lower
    non-directory in the way of an implied parent is replaced.
"""

from __future__ import annotations

from array import array
from itertools import compress, repeat
from operator import and_, itemgetter, lt

from ..model import DIR, OPAQUE, WHITEOUT, Image, Layer, Record

VISIBLE = 0x7FFFFFFF  # hidden_at of an entry still visible at the top

# how an entry was hidden
OVERWRITTEN = ord("o")
WHITED_OUT = ord("w")
OPAQUED = ord("q")
REPLACED = ord("r")  # an ancestor (or the dir itself) was replaced by a non-directory
HOW_NAMES = {OVERWRITTEN: "overwritten", WHITED_OUT: "whiteout", OPAQUED: "opaque dir", REPLACED: "replaced parent"}

# change of an entry relative to what was below it
ADDED = ord("A")
MODIFIED = ord("M")
UNCHANGED = ord("=")  # a directory listed again with the same metadata
DELETES = ord("D")  # a marker that removed something
NOOP = ord("0")  # a marker for a path that did not exist

IMPLIED = -1  # entry index of an implied directory

# Stack._bottom (the bulk pass for layer 0) may be used; tests set this False
# to compare it against the general loop.
_fast_bottom = True
# The columnar pass (stackcols) takes stacks of at least this many entries:
# below it, importing numpy costs more than the loop.  Tests set _columns to
# True or False to force one pass or the other.
COLUMNS_MIN = 150_000
_columns: bool | None = None

# bytes.translate tables over LayerEntries.types
_CHANGE0 = bytes(NOOP if t == WHITEOUT or t == OPAQUE else ADDED for t in range(256))  # layer 0's change column
_IS_ENTRY = bytes(0 if t == WHITEOUT or t == OPAQUE else 1 for t in range(256))
_IS_DIR = bytes(1 if t == DIR else 0 for t in range(256))
_first = itemgetter(0)


class Deletion(Record):
    """A path that a layer removed from the view below it."""

    __slots__ = ("path", "layer", "by", "how", "lower_layer", "lower_index")

    def __init__(self, path: str, layer: int, by: int, how: int, lower_layer: int, lower_index: int) -> None:
        self.path = path
        self.layer = layer  # the layer that deleted it
        self.by = by  # entry index of the marker/entry that did it in that layer
        self.how = how  # WHITED_OUT, OPAQUED, REPLACED
        self.lower_layer = lower_layer  # the entry it removed
        self.lower_index = lower_index


class Stack:
    """The analysis of one image's layer stack."""

    def __init__(self, image: Image, layers: list[Layer] | None = None, state: tuple | None = None):
        self.image = image
        self.layers: list[Layer] = list(layers if layers is not None else image.layers)
        self.n = len(self.layers)
        for layer in self.layers:
            if layer.entries is None:
                raise ValueError(f"layer {layer.short_id} is not indexed")
        self.hidden_at: list[array] = []
        self.hidden_by: list[array] = []
        self.how: list[bytearray] = []
        self.prev_layer: list[array] = []
        self.prev_index: list[array] = []
        self.change: list[bytearray] = []
        self.deletions: list[list[Deletion]] = []
        # implied dirs: path -> (created at layer, hidden at layer)
        self.implied: dict[str, list[int]] = {}
        self._by_path: dict | None = None  # path -> ((layer, index), ...), built on demand
        self._lookups = 0
        if state is not None:
            self._load_state(state)
        else:
            self._apply_all()

    # -- a compact state for the cache (a second open skips the pass) ----
    def to_state(self) -> tuple:
        return (
            [a.tobytes() for a in self.hidden_at], [a.tobytes() for a in self.hidden_by],
            [bytes(b) for b in self.how], [a.tobytes() for a in self.prev_layer],
            [a.tobytes() for a in self.prev_index], [bytes(b) for b in self.change],
            [[(d.path, d.layer, d.by, d.how, d.lower_layer, d.lower_index) for d in ds] for ds in self.deletions],
            [(p, v[0], v[1]) for p, v in self.implied.items()],
        )

    def _load_state(self, st: tuple) -> None:
        ha, hb, how, pl, pi, ch, dels, implied = st
        if not (len(ha) == len(hb) == len(how) == len(pl) == len(pi) == len(ch) == len(dels) == self.n):
            raise ValueError("stack state does not fit the layers")

        def arr(b: bytes, m: int) -> array:
            a = array("i")
            a.frombytes(b)
            if len(a) != m:
                raise ValueError("stack state does not fit the layers")
            return a

        for L, layer in enumerate(self.layers):
            m = len(layer.entries)
            self.hidden_at.append(arr(ha[L], m))
            self.hidden_by.append(arr(hb[L], m))
            self.prev_layer.append(arr(pl[L], m))
            self.prev_index.append(arr(pi[L], m))
            if len(how[L]) != m or len(ch[L]) != m:
                raise ValueError("stack state does not fit the layers")
            self.how.append(bytearray(how[L]))
            self.change.append(bytearray(ch[L]))
            self.deletions.append([Deletion(*d) for d in dels[L]])
        self.implied = {p: [made, hid] for p, made, hid in implied}
        # the top view: every visible entry, then the visible implied dirs
        top: dict[str, tuple[int, int]] = {}
        for L, layer in enumerate(self.layers):
            e = layer.entries
            keep = bytes(map(and_, map(VISIBLE.__eq__, self.hidden_at[L]), e.types.translate(_IS_ENTRY)))
            top.update(zip(compress(e.paths, keep), zip(repeat(L), compress(range(len(keep)), keep))))
        for p, (made, hid) in self.implied.items():
            if hid == VISIBLE:
                top[p] = (made, IMPLIED)
        self.top_view = top

    # ------------------------------------------------------------------
    def _apply_all(self) -> None:
        big = sum(len(l.entries) for l in self.layers) >= COLUMNS_MIN if _columns is None else _columns
        if big:
            import sys

            from . import stackcols

            stackcols.apply(self, sys.modules[__name__])
            return
        cur: dict[str, tuple[int, int]] = {}  # path -> (layer, index) of the visible entry
        kids: dict[str, set[str]] = {"": set()}  # dir path -> child paths (may be stale)
        for layer in self.layers:
            e = layer.entries
            m = len(e)
            self.hidden_at.append(array("i", [VISIBLE]) * m)
            self.hidden_by.append(array("i", [-1]) * m)
            self.how.append(bytearray(m))
            self.prev_layer.append(array("i", [-1]) * m)
            self.prev_index.append(array("i", [-1]) * m)
            self.change.append(bytearray(m))
            self.deletions.append([])
        implied = self.implied
        ltypes = [l.entries.types for l in self.layers]
        start = 0
        if _fast_bottom and self.n:
            bottom = self._bottom(self.n > 1)
            if bottom is not None:
                cur, kids = bottom
                start = 1
        for L in range(start, self.n):
            layer = self.layers[L]
            e = layer.entries
            paths, types = e.paths, e.types
            dels = self.deletions[L]
            change = self.change[L]

            def hide(p: str, by: int, how: int) -> None:
                ref = cur.pop(p)
                l, i = ref
                if i == IMPLIED:
                    implied[p][1] = L
                else:
                    self.hidden_at[l][i] = L
                    self.hidden_by[l][i] = by
                    self.how[l][i] = how

            def remove_subtree(root: str, by: int, how: int, record_root: bool) -> None:
                """Hide `root` (when record_root) and everything under it."""
                if record_root and root in cur:
                    l, i = cur[root]
                    dels.append(Deletion(root, L, by, how, l, i))
                    hide(root, by, how)
                stack = [root]
                first = True
                while stack:
                    d = stack.pop()
                    ch = kids.pop(d, None)
                    if not ch:
                        first = False
                        continue
                    # the deletions (one per child of the root) in path order, not the set's
                    for c in (sorted(ch) if first and not record_root else ch):
                        if c in cur:
                            if first and not record_root:
                                l, i = cur[c]
                                dels.append(Deletion(c, L, by, how, l, i))
                            hide(c, by, how)
                            stack.append(c)
                    first = False

            # 1. markers: apply to the layers below
            for i in range(len(paths)):
                t = types[i]
                if t == WHITEOUT:
                    p = paths[i]
                    if p in cur:
                        change[i] = DELETES
                        remove_subtree(p, i, WHITED_OUT, True)
                    else:
                        change[i] = NOOP
                elif t == OPAQUE:
                    p = paths[i]
                    if (p == "" or p in cur) and kids.get(p):
                        before = len(dels)
                        remove_subtree(p, i, OPAQUED, False)
                        change[i] = DELETES if len(dels) > before else NOOP
                    else:
                        change[i] = NOOP
            # 2. entries (the hot loop: locals only, no tuple unpacking helpers)
            prev_l, prev_i = self.prev_layer[L], self.prev_index[L]
            ha_by, hb_by, how_by = self.hidden_at, self.hidden_by, self.how
            for i, p in enumerate(paths):
                t = types[i]
                if t == WHITEOUT or t == OPAQUE:
                    continue
                slash = p.rfind("/")
                if slash >= 0:
                    parent = p[:slash]
                    pr = cur.get(parent)
                    if pr is None or (pr[1] != IMPLIED and ltypes[pr[0]][pr[1]] != DIR):
                        self._imply(parent, L, cur, kids, dels)
                else:
                    parent = ""
                old = cur.get(p)
                if old is None:
                    change[i] = ADDED
                    ks = kids.get(parent)
                    if ks is None:
                        kids[parent] = ks = set()
                    ks.add(p)
                else:
                    ol, oi = old
                    if oi == IMPLIED:
                        old_is_dir = True
                        implied[p][1] = L
                    else:
                        prev_l[i] = ol
                        prev_i[i] = oi
                        old_is_dir = ltypes[ol][oi] == DIR
                        ha_by[ol][oi] = L
                        hb_by[ol][oi] = i
                        how_by[ol][oi] = OVERWRITTEN
                    if t == DIR and old_is_dir:
                        change[i] = self._dir_change(ol, oi, e, i)
                    else:
                        change[i] = MODIFIED
                        if old_is_dir:
                            remove_subtree(p, i, REPLACED, False)
                cur[p] = (L, i)
        self.top_view = cur  # path -> (layer, index) at the top; index IMPLIED for implied dirs

    def _bottom(self, with_kids: bool):
        """Layer 0 in bulk, when the general loop would do nothing but add.

        Nothing is below layer 0, so every marker there is a NOOP and, when
        (a) its entries' paths are unique and (b) every entry's parent is the
        root or a directory entry listed before it, every entry is ADDED and
        nothing is hidden, deleted or implied.  Then the result is
        cur = {path: (0, i)} and the change column, built here with C-level
        bulk operations (about half the loop's time on a one-layer image).
        `kids` (only read by the layers above) is built only when asked, with
        every set filled in the loop's order, so later set iteration (and so
        the order of deletions) is the same.  Returns (cur, kids), or None
        when (a) or (b) fails or cannot be shown: the general loop does it."""
        e = self.layers[0].entries
        paths, types = e.paths, e.types
        m = len(paths)
        if types.count(WHITEOUT) or types.count(OPAQUE):
            keep = types.translate(_IS_ENTRY)
            ps = list(compress(paths, keep))
            idx = list(compress(range(m), keep))
        else:
            ps, idx = paths, range(m)
        cur = dict(zip(ps, zip(repeat(0), idx)))
        if len(cur) != len(ps) or "" in cur:
            return None  # (a): a path listed twice (not deduped), or the root as an entry
        # (b): parent of each entry -> index of that directory entry, which must be lower
        isdir = types.translate(_IS_DIR)
        dirs = dict(zip(compress(paths, isdir), compress(range(m), isdir)))
        dirs[""] = -1
        parents = list(map(_first, map(str.rpartition, ps, repeat("/"))))
        if not all(map(lt, map(dirs.get, parents, repeat(m)), idx)):
            return None
        self.change[0] = types.translate(_CHANGE0)
        kids: dict[str, set[str]] = {"": set()}
        if with_kids:
            get = kids.get
            for parent, p in zip(parents, ps):
                ks = get(parent)
                if ks is None:
                    kids[parent] = {p}
                else:
                    ks.add(p)
        return cur, kids

    def _dir_change(self, ol: int, oi: int, e, i: int) -> int:
        if oi == IMPLIED:
            return MODIFIED
        o = self.layers[ol].entries
        if o.modes[oi] == e.modes[i] and o.uids[oi] == e.uids[i] and o.gids[oi] == e.gids[i]:
            return UNCHANGED
        return MODIFIED

    def _imply(self, d: str, L: int, cur, kids, dels) -> None:
        """Make directory `d` exist at layer L (and its parents)."""
        chain = []
        p = d
        while p:
            ref = cur.get(p)
            if ref is not None:
                l, i = ref
                if i == IMPLIED or self.layers[l].entries.types[i] == DIR:
                    break
                # a non-directory in the way: replaced by the implied dir
                dels.append(Deletion(p, L, -1, REPLACED, l, i))
                cur.pop(p)
                self.hidden_at[l][i] = L
                self.hidden_by[l][i] = -1
                self.how[l][i] = REPLACED
            chain.append(p)
            s = p.rfind("/")
            p = p[:s] if s >= 0 else ""
        for p in reversed(chain):
            cur[p] = (L, IMPLIED)
            self.implied[p] = [L, VISIBLE]
            s = p.rfind("/")
            parent = p[:s] if s >= 0 else ""
            kids.setdefault(parent, set()).add(p)

    # -- queries ---------------------------------------------------------
    def visible_at(self, N: int):
        """Yield (path, layer, index) of the merged view at layer N
        (index IMPLIED for implied directories)."""
        for l in range(min(N, self.n - 1) + 1):
            e = self.layers[l].entries
            ha = self.hidden_at[l]
            types = e.types
            paths = e.paths
            for i in range(len(paths)):
                if ha[i] > N and types[i] != WHITEOUT and types[i] != OPAQUE:
                    yield paths[i], l, i
        for p, (made, hid) in self.implied.items():
            if made <= N < hid:
                yield p, made, IMPLIED

    def is_visible(self, l: int, i: int) -> bool:
        return self.hidden_at[l][i] == VISIBLE

    def entries_at(self, path: str):
        """Every record for `path` in every layer: [(layer, index)], bottom up.

        The first few calls scan the layers' path lists (C speed, no extra
        memory); a viewer that keeps asking gets a path index built once."""
        if self._by_path is None:
            self._lookups += 1
            if self._lookups <= 3:
                out = []
                for l, layer in enumerate(self.layers):
                    paths = layer.entries.paths
                    start = 0
                    while True:
                        try:
                            i = paths.index(path, start)
                        except ValueError:
                            break
                        out.append((l, i))
                        start = i + 1
                return out
            self._build_path_index()
        return list(self._by_path.get(path, ()))

    def _build_path_index(self) -> None:
        idx: dict[str, object] = {}
        get = idx.get
        for l, layer in enumerate(self.layers):
            for i, p in enumerate(layer.entries.paths):
                ref = (l, i)
                old = get(p)
                if old is None:
                    idx[p] = (ref,)
                else:
                    idx[p] = old + (ref,)
        self._by_path = idx
