"""Size attribution: every layer's bytes are either visible in the final
merged view or hidden (wasted).  The visible copy is never counted as waste.

A regular file's bytes stay visible while any hardlink to it from the same
layer is still visible (the link keeps the inode alive in the union mount).
"""

from __future__ import annotations

from itertools import compress
from operator import itemgetter

from ..model import FILE, HARDLINK, Image, Record
from .changes import CONTENT, METADATA, SAME, ChangeKinds
from .stack import ADDED, OVERWRITTEN, VISIBLE, Stack

STORED_TWICE = "stored-twice"  # the copy kind of a file stored again later in the same layer tar


class Copy(Record):
    __slots__ = ("layer", "index", "size", "state", "kind", "hidden_at")

    def __init__(self, layer: int, index: int, size: int, state: str, kind: str,
                 hidden_at: int | None = None) -> None:
        self.layer = layer
        self.index = index
        self.size = size
        self.state = state  # visible | overwritten | deleted
        self.kind = kind  # added | modified | metadata-only | duplicate | stored-twice
        self.hidden_at = hidden_at  # the layer that overwrote or deleted it (None while visible)


class PathWaste(Record):
    __slots__ = ("path", "wasted_bytes", "copies")

    def __init__(self, path: str, wasted_bytes: int, copies: list[Copy] | None = None) -> None:
        self.path = path  # absolute
        self.wasted_bytes = wasted_bytes
        self.copies: list[Copy] = [] if copies is None else copies


class Waste:
    def __init__(self, stack: Stack, kinds: ChangeKinds | None = None, base_layers: int | None = None):
        self.stack = stack
        self.kinds = kinds
        n = stack.n
        self.base_layers = base_count(stack.image, n) if base_layers is None else max(0, min(base_layers, n))
        self.layer_bytes = [0] * n
        self.layer_wasted = [0] * n
        self.protected: list[set[int]] = [set() for _ in range(n)]
        self._hidden_files: list[tuple[int, int]] = []
        for L, layer in enumerate(stack.layers):
            e = layer.entries
            types, sizes, ha = e.types, e.sizes, stack.hidden_at[L]
            # inodes kept alive by a visible hardlink in the same layer
            links_alive = None
            if e.links:
                for i, tgt in e.links.items():
                    if types[i] == HARDLINK and ha[i] == VISIBLE:
                        if links_alive is None:
                            links_alive = set()
                        links_alive.add(tgt)
            total = sum(compress(sizes, map(FILE.__eq__, types)))  # in C
            # a file the tar stored again later: its first copy's bytes are in the layer, hidden by the second
            wasted = sum(map(itemgetter(1), e.dropped)) if e.dropped else 0
            total += wasted
            if ha.count(VISIBLE) != len(ha):  # else nothing of this layer is hidden (the top one, often)
                for i in range(len(types)):
                    if types[i] != FILE or ha[i] == VISIBLE:
                        continue
                    s = sizes[i]
                    if links_alive and e.paths[i] in links_alive:
                        self.protected[L].add(i)
                        continue
                    wasted += s
                    if s:
                        self._hidden_files.append((L, i))
            self.layer_bytes[L] = total
            self.layer_wasted[L] = wasted
        self.size = sum(self.layer_bytes)
        self.wasted_bytes = sum(self.layer_wasted)
        self.visible_size = self.size - self.wasted_bytes
        self.user_wasted_bytes = sum(self.layer_wasted[self.base_layers:])
        self.user_size = sum(self.layer_bytes[self.base_layers:])  # what the user's layers add
        self.efficiency = (self.visible_size / self.size) if self.size else 1.0
        self._paths: list[PathWaste] | None = None
        self._by_path: dict[str, int] | None = None
        self._ranked: RankedWaste | None = None

    def hidden_files(self) -> list[tuple[int, int]]:
        """(layer, index) of every hidden copy of an entry that costs bytes:
        their sizes and the layers' dropped copies (LayerEntries.dropped) add
        up to wasted_bytes."""
        return self._hidden_files

    @property
    def user_wasted_percent(self) -> float:
        return self.user_wasted_bytes / self.size if self.size else 0.0

    @property
    def wasted_user_percent(self) -> float | None:
        """dive's WastedUserPercent with the true waste: all wasted bytes over
        the bytes the user's layers add (a chmod of base files is the user's
        waste, though the hidden copy is the base's); None when the user's
        layers add nothing but there is waste (dive divides by zero)."""
        if self.user_size:
            return self.wasted_bytes / self.user_size
        return 0.0 if not self.wasted_bytes else None

    def copy_kind(self, L: int, i: int) -> str:
        st = self.stack
        if st.change[L][i] == ADDED or st.prev_layer[L][i] < 0:
            return "added"
        if self.kinds is None:
            return "modified"
        k = self.kinds.kind[L][i]
        return {CONTENT: "modified", METADATA: "metadata-only", SAME: "duplicate"}.get(k, "modified")

    def copy(self, L: int, i: int) -> Copy:
        state = self.state(L, i)
        return Copy(L, i, self.stack.layers[L].entries.sizes[i], state, self.copy_kind(L, i),
                    None if state == "visible" else self.stack.hidden_at[L][i])

    @staticmethod
    def dropped_copy(L: int, size: int) -> Copy:
        """A copy of a file that layer L's tar stored again later (LayerEntries.dropped): hidden by
        the later one, in no entry (index -1)."""
        return Copy(L, -1, size, "overwritten", STORED_TWICE, L)

    def state(self, L: int, i: int) -> str:
        st = self.stack
        if st.hidden_at[L][i] == VISIBLE or i in self.protected[L]:
            return "visible"
        return "overwritten" if st.how[L][i] == OVERWRITTEN else "deleted"

    def wasted_by_path(self) -> dict[str, int]:
        """path (relative) -> hidden bytes, over all layers."""
        if self._by_path is None:
            st = self.stack
            by_path: dict[str, int] = {}
            get = by_path.get
            for L, i in self._hidden_files:
                e = st.layers[L].entries
                p = e.paths[i]
                by_path[p] = get(p, 0) + e.sizes[i]
            for layer in st.layers:
                for p, n in layer.entries.dropped:
                    by_path[p] = get(p, 0) + n
            self._by_path = by_path
        return self._by_path

    def path_count(self) -> int:
        return len(self.wasted_by_path())

    def paths(self, limit: int | None = None) -> list[PathWaste]:
        """The paths that cost hidden bytes, biggest first, each with all its
        copies; `limit` keeps only the biggest (and skips building the rest)."""
        if self._paths is not None:
            return self._paths if limit is None else self._paths[:limit]
        by_path = self.wasted_by_path()
        key = lambda kv: (-kv[1], kv[0])  # noqa: E731 -- biggest first, then by path
        if not by_path:
            order = []
        elif limit is not None:
            from heapq import nsmallest  # imported here: only images with waste need it

            order = nsmallest(limit, by_path.items(), key=key)
        else:
            order = sorted(by_path.items(), key=key)
        st = self.stack
        copies: dict[str, list[Copy]] = {p: [] for p, _ in order}
        for L, layer in enumerate(st.layers if copies else ()):  # one pass over all entries
            e = layer.entries
            types = e.types
            get = copies.get
            for p, n in e.dropped:
                lst = get(p)
                if lst is not None:
                    lst.append(self.dropped_copy(L, n))
            for i, p in enumerate(e.paths):
                lst = get(p)
                if lst is not None and types[i] == FILE:
                    lst.append(self.copy(L, i))
        out = [PathWaste("/" + p, w, copies[p]) for p, w in order]
        if limit is None:
            self._paths = out
        return out


    @property
    def is_ranked(self) -> bool:
        """Whether ranked() has been computed (and is now instant)."""
        return self._ranked is not None

    def ranked(self) -> RankedWaste:
        """Every wasted path, biggest first, as a sequence whose rows (a
        PathWaste with its copies) are made when read: equal to paths(),
        without making hundreds of thousands of objects up front (a viewer
        shows a screenful at a time)."""
        if self._ranked is None:
            by_path = self.wasted_by_path()
            order = sorted(by_path.items())  # by path, then (stable) biggest first: plain keys, in C
            order.sort(key=itemgetter(1), reverse=True)
            refs: dict[str, list[int]] = {p: [] for p in by_path}
            get = refs.get
            for L, layer in enumerate(self.stack.layers):  # one pass: the file records of those paths
                e = layer.entries
                types = e.types
                for k, (p, _) in enumerate(e.dropped):
                    refs[p].append(-(L << 32 | k) - 1)  # a dropped copy: negative
                for i, p in enumerate(e.paths):
                    lst = get(p)
                    if lst is not None and types[i] == FILE:
                        lst.append(L << 32 | i)
            self._ranked = RankedWaste(self, order, refs)
        return self._ranked


class RankedWaste:
    """Wasted paths biggest first (see Waste.ranked); rows made on access."""

    def __init__(self, waste: Waste, order: list[tuple[str, int]], refs: dict[str, list[int]]):
        self._waste = waste
        self._order = order
        self._refs = refs
        self._made: dict[int, PathWaste] = {}

    def __len__(self) -> int:
        return len(self._order)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self._order)))]
        n = len(self._order)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        row = self._made.get(i)
        if row is None:
            p, wasted = self._order[i]
            w = self._waste
            copies = []
            for ref in self._refs[p]:
                if ref < 0:
                    ref = -ref - 1
                    L = ref >> 32
                    copies.append(w.dropped_copy(L, w.stack.layers[L].entries.dropped[ref & 0xFFFFFFFF][1]))
                    continue
                L, j = ref >> 32, ref & 0xFFFFFFFF
                copies.append(w.copy(L, j))
            row = self._made[i] = PathWaste("/" + p, wasted, copies)
        return row

    def __iter__(self):
        for i in range(len(self._order)):
            yield self[i]


def base_count(image: Image, n: int) -> int:
    """How many of the image's first layers are its base image.

    Without `--base`, layer 0 is the base (dive's rule), unless the image's
    history marks where the base ends: buildah and docker do not, so we keep
    the simple rule and say so in the README."""
    return 1 if n > 0 else 0
