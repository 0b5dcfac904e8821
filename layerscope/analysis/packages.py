"""Packages: which package put which real bytes in which layer.

The package databases (dpkg, apk, rpm, Python, npm; readers in
`layerscope.packages`) are read as they stand in the merged view at each
layer where one of their files changed: a database file is visible from the
layer that stores it until the layer that hides it, so those layers are the
only ones whose package state can differ from the one below.  Only the
database files are read, each stored copy once (and kept in the layer cache).

Bytes are the image's own: a package's bytes are the regular files it lists
in the merged view (a hardlinked inode once), its hidden bytes the copies of
its files that lower layers still store under a later copy or a deletion.  A
file two managers list (a Debian python3-x and its dist-info) belongs to the
system package manager's package; the other's counts it as shared.
"""

from __future__ import annotations

import posixpath
from array import array
from itertools import compress, filterfalse, islice, repeat
from operator import itemgetter, le

from ..model import DIR, FILE, HARDLINK, OPAQUE, SYMLINK, WHITEOUT, Record, is_marker
from ..packages import FILE_MAX, MANAGERS, NPM, SYSTEM, TOTAL_MAX, Budget, Package, db_files
from .stack import IMPLIED, VISIBLE

_NM = "node_modules/"
_ASK = object()  # a path _view's `at` has not looked at yet
_IS_FILE = bytes(1 if t == FILE else 0 for t in range(256))  # bytes.translate over LayerEntries.types


def _biggest_first(items: list[tuple[str, int]]) -> None:
    """Sort (path, bytes) pairs by bytes, biggest first, then by path.  A package's files are
    mostly listed in path order already: then one sort by bytes (stable) is that order, in C."""
    paths = list(map(itemgetter(0), items))
    if all(map(le, paths, islice(paths, 1, None))):
        items.sort(key=itemgetter(1), reverse=True)  # a stable sort keeps the path order of equal sizes
    else:
        items.sort(key=lambda t: (-t[1], t[0]))


class PackageRow(Record):
    """One package of the view at a layer, with its bytes there."""

    __slots__ = ("manager", "name", "version", "arch", "location", "layer", "changed_in", "bytes",
                 "hidden_bytes", "shared_bytes", "files", "paths")

    def __init__(self, manager: str, name: str, version: str, arch: str, location: str, layer: int,
                 changed_in: list[int], bytes: int = 0, hidden_bytes: int = 0, shared_bytes: int = 0,
                 files: int = 0, paths: list[tuple[str, int]] | None = None) -> None:
        self.manager = manager
        self.name = name
        self.version = version
        self.arch = arch
        self.location = location
        self.layer = layer  # the layer that installed the version in this view
        self.changed_in = changed_in  # layers that upgraded (or downgraded) it after it was first installed
        self.bytes = bytes  # regular files in the view, each inode once, not those another manager owns
        self.hidden_bytes = hidden_bytes  # copies of its files (any version) lower layers keep hidden
        self.shared_bytes = shared_bytes  # its files that a system package (dpkg, apk, rpm) owns
        self.files = files  # its non-directory entries in the view
        self.paths: list[tuple[str, int]] = [] if paths is None else paths  # (path, bytes), biggest first


class Change(Record):
    """A package a layer added, upgraded or removed, with the bytes of it
    that layer stored (added, upgraded) or that stay stored below (removed)."""

    __slots__ = ("manager", "name", "version", "old_version", "arch", "location", "bytes")

    def __init__(self, manager: str, name: str, version: str, old_version: str, arch: str, location: str,
                 bytes: int) -> None:
        self.manager = manager
        self.name = name
        self.version = version
        self.old_version = old_version  # upgraded: the version before; removed: the version removed
        self.arch = arch
        self.location = location
        self.bytes = bytes


class LayerPackages(Record):
    __slots__ = ("layer", "unowned_bytes", "owned_bytes", "added", "upgraded", "removed")

    def __init__(self, layer: int, unowned_bytes: int = 0, owned_bytes: int = 0) -> None:
        self.layer = layer
        self.unowned_bytes = unowned_bytes  # regular files this layer stores that no package lists
        self.owned_bytes = owned_bytes
        self.added: list[Change] = []
        self.upgraded: list[Change] = []
        self.removed: list[Change] = []


class Removed(Record):
    """A package installed by one layer and gone from the view at a later one."""

    __slots__ = ("manager", "name", "version", "arch", "location", "layer", "removed_in", "bytes", "paths")

    def __init__(self, manager, name, version, arch, location, layer, removed_in, bytes, paths=None) -> None:
        self.manager = manager
        self.name = name
        self.version = version
        self.arch = arch
        self.location = location
        self.layer = layer
        self.removed_in = removed_in
        self.bytes = bytes  # what its files still take in the layers below the removal
        self.paths: list[tuple[str, int]] = [] if paths is None else paths  # (path, bytes), biggest first


def _names(*x) -> tuple[str, ...]:
    """Cached names and versions: strings without NULs (the readers keep none), a manager this version knows."""
    if not all(map(str.__instancecheck__, x)) or "\0" in "".join(x) or (len(x) >= 5 and x[0] not in MANAGERS):
        raise TypeError("not names")
    return x


# the cached state keeps a list of paths as one string (and sizes as one array's bytes): a few objects
# for marshal to read instead of one per path and per pair
def _pack_paths(paths: list[str]) -> tuple[str, int]:
    return "\0".join(paths), len(paths)


def _unpack_paths(x: tuple) -> list[str]:
    """The paths `_pack_paths` kept: a TypeError or ValueError for anything else."""
    joined, count = x
    if type(joined) is not str or type(count) is not int:
        raise TypeError("not paths")
    paths = joined.split("\0") if count else []
    if len(paths) != count or (not count and joined):
        raise ValueError("not as many paths as kept")
    return paths


def _pack_sized(pairs: list[tuple[str, int]]) -> tuple[str, int, bytes]:
    return (*_pack_paths(list(map(itemgetter(0), pairs))), array("q", map(itemgetter(1), pairs)).tobytes())


def _unpack_sized(x: tuple, most: int) -> list[tuple[str, int]]:
    """The (path, bytes) pairs `_pack_sized` kept, each size within 0..most."""
    joined, count, sizes = x
    paths = _unpack_paths((joined, count))
    if type(sizes) is not bytes or len(sizes) != 8 * count:
        raise ValueError("not a size per path")
    ns = array("q")
    ns.frombytes(sizes)
    if ns and (min(ns) < 0 or max(ns) > most):
        raise ValueError("not a size")
    return list(zip(paths, ns.tolist()))


class PackageAnalysis:
    """The packages of one image (an ImageAnalysis): per layer states, the
    changes between them, and bytes.  `rows(N)` is the view at layer N."""

    def __init__(self, a) -> None:
        self.a = a
        st = self.stack = a.stack
        self.n = st.n
        self.notes: list[str] = []
        self.states: dict[int, dict[tuple, Package]] = {}  # change layer -> key -> package
        self.layers = [LayerPackages(L) for L in range(self.n)]
        self.removed: list[Removed] = []
        self._rows: dict[int, list[PackageRow]] = {}
        self._resolved: dict[str, str] = {}
        self._owners: dict[str, list[PackageRow]] | None = None
        self.shared_files = 0  # files two managers list, counted once
        self.shared_bytes = 0
        self._wanted: set[str] = set()  # every path some package lists, resolved
        self._hidden: dict[str, list[tuple[int, int]]] = {}  # such a path -> its hidden entries, bottom up
        self._installed: dict[tuple, int] = {}  # key -> layer of the visible version
        self._changed: dict[tuple, list[int]] = {}  # key -> layers that changed its version
        self._system: set[str] | None = None
        self._views: dict[int, object] = {}  # layer -> _view(layer)
        self._stored: dict[int, dict[str, int]] = {}  # layer -> {path: bytes of its regular file there}
        self._indexed = False
        if self.n == 0:
            return
        from ..layers import cache

        layers = st.layers
        cacheable = all(layer.error is None and not layer.bomb for layer in layers)
        got = cache.load_packages(layers) if cacheable else None
        if got is not None:
            try:
                self._load_state(got)
                return
            except (TypeError, ValueError, IndexError, KeyError, AttributeError):
                self._reset()  # a state that does not fit: computed again below
        dbs = self._find()
        if dbs:
            self._read_states(dbs)
        if self.states:
            self._expand_npm()
            self._index()
            self._history()
        self._unowned()
        if self.states:
            self.rows()
            if cacheable and cache.cache_dir() is not None:
                cache.store_packages(layers, self._to_state())

    def _reset(self) -> None:
        self.notes, self.states, self.removed, self._rows = [], {}, [], {}
        self.layers = [LayerPackages(L) for L in range(self.n)]
        self._installed, self._changed, self._owners = {}, {}, None

    # -- a compact state for the cache: a second report reads nothing and computes nothing --------
    _STATE = "packages-3"

    def _to_state(self) -> tuple:
        table: list[tuple] = []
        at: dict[int, int] = {}
        states = []
        for N, state in sorted(self.states.items()):
            ids = []
            for p in state.values():
                k = at.get(id(p))
                if k is None:
                    k = at[id(p)] = len(table)
                    table.append((p.manager, p.name, p.version, p.arch, p.location, _pack_paths(p.files)))
                ids.append(k)
            states.append((N, ids))

        def changes(lst):
            return [(c.manager, c.name, c.version, c.old_version, c.arch, c.location, c.bytes) for c in lst]

        top = self.rows()
        # each part at the top level is checked against the others as it loads (a wrong one is
        # recomputed): what cannot be derived sits inside a tuple of fixed shape
        return (self._STATE, table, states,
                [(lp.layer, lp.unowned_bytes, lp.owned_bytes, changes(lp.added), changes(lp.upgraded),
                  changes(lp.removed)) for lp in self.layers],
                [(r.manager, r.name, r.version, r.arch, r.location, r.layer, r.removed_in, r.bytes,
                  _pack_sized(r.paths)) for r in self.removed],
                (list(self.notes), self.shared_files, self.shared_bytes),
                [(r.manager, r.name, r.version, r.arch, r.location, r.layer, list(r.changed_in), r.bytes,
                  r.hidden_bytes, r.shared_bytes, r.files, _pack_sized(r.paths)) for r in top])

    def _load_state(self, v: tuple) -> None:
        """The state `_to_state` made.  Anything of another shape or type, a count no image of these
        layers can have, or changes that do not follow from the states raises (then it is computed again)."""
        tag, table, states, layers, removed, misc, top = v
        if tag != self._STATE or len(layers) != self.n or not states:
            raise ValueError("a packages state of another shape")
        n = self.n
        most = sum(max(layer.uncompressed_size, 0) for layer in self.stack.layers)  # no count of bytes is larger
        entries = sum(len(layer.entries) for layer in self.stack.layers)

        def layer(x):
            if type(x) is not int or not 0 <= x < n:
                raise ValueError("not a layer of the image")
            return x

        def count(x, bound=most):
            if type(x) is not int or not 0 <= x <= bound:
                raise ValueError("not a count")
            return x

        def sized(x):
            return _unpack_sized(x, most)

        pkgs = [Package(*_names(m, nm, ver, a, loc), _unpack_paths(files)) for m, nm, ver, a, loc, files in table]
        for N, ids in states:
            if not all(map(int.__instancecheck__, ids)) or (ids and not 0 <= min(ids) <= max(ids) < len(pkgs)):
                raise ValueError("not a package of the table")
            self.states[layer(N)] = {pkgs[k].key: pkgs[k] for k in ids}
        events: list[set] = [set() for _ in range(n)]
        for N, what, k, p, old, _ in self._events():  # also the layers of each visible version
            events[N].add((what, k, (p or old).version, old.version if what == "upgraded" else ""))
        self.layers = []
        for i, (L, unowned, owned, added, upgraded, gone) in enumerate(layers):
            if layer(L) != i:
                raise ValueError("layers out of order")
            lp = LayerPackages(L, count(unowned), count(owned))
            lp.added, lp.upgraded, lp.removed = ([Change(*_names(*c[:6]), count(c[6])) for c in lst]
                                                 for lst in (added, upgraded, gone))
            got = {("added", (c.manager, c.location, c.name, c.arch), c.version, "") for c in lp.added}
            got |= {("upgraded", (c.manager, c.location, c.name, c.arch), c.version, c.old_version)
                    for c in lp.upgraded}
            got |= {("removed", (c.manager, c.location, c.name, c.arch), c.old_version, "") for c in lp.removed}
            if got != events[L]:
                raise ValueError("changes that do not follow from the states")
            self.layers.append(lp)
        self.removed = [Removed(*_names(m, nm, ver, a, loc), layer(L), layer(R), count(b), sized(paths))
                        for m, nm, ver, a, loc, L, R, b, paths in removed]
        if sorted((r.removed_in, r.manager, r.location, r.name, r.arch) for r in self.removed) != sorted(
                (N, *k) for N, ev in enumerate(events) for what, k, _, _ in ev if what == "removed"):
            raise ValueError("removals that do not follow from the states")
        notes, shared_files, shared_bytes = misc
        self.notes = list(_names(*notes))
        self.shared_files, self.shared_bytes = count(shared_files, entries), count(shared_bytes)
        rows = [PackageRow(*_names(m, nm, ver, a, loc), layer(L), [layer(x) for x in ch], count(b), count(h),
                           count(sh), count(f, entries), sized(paths))
                for m, nm, ver, a, loc, L, ch, b, h, sh, f, paths in top]
        if {(r.manager, r.location, r.name, r.arch) for r in rows} != set(self._state_at(n - 1)):
            raise ValueError("rows that are not the top's packages")
        self._rows[n - 1] = rows

    # -- the database files and their contents -----------------------------------
    def _find(self) -> list[tuple[int, int, str]]:
        out = []
        for L, layer in enumerate(self.stack.layers):
            e = layer.entries
            for i, manager in db_files(e.paths):
                if e.types[i] in (FILE, HARDLINK):
                    out.append((L, i, manager))
        return out

    def _contents(self, dbs) -> dict[tuple[int, int], bytes]:
        """The bytes of every database file, each layer's read in one pass
        over its stream (or from the cache), within FILE_MAX and TOTAL_MAX."""
        from ..layers import cache
        from ..layers.contents import iter_ranges

        a = self.a
        out: dict[tuple[int, int], bytes] = {}
        total = 0
        by_layer: dict[int, list[int]] = {}
        for L, i, _ in dbs:
            by_layer.setdefault(L, []).append(i)
        big = 0
        for L, idxs in by_layer.items():
            layer = self.stack.layers[L]
            e = layer.entries
            kept = cache.load_files(layer)
            wanted, fresh = [], {}
            for i in idxs:
                if e.types[i] == FILE and e.sizes[i] > FILE_MAX:
                    big += 1
                    continue
                if i in kept:
                    out[(L, i)] = kept[i]
                    total += len(kept[i])
                elif e.types[i] == FILE and i not in e.captured and not (e.sparse and i in e.sparse):
                    wanted.append(i)
                else:  # a hardlink, a sparse or a captured file: the general reader
                    try:
                        data = a.read(L, i, FILE_MAX)
                    except Exception as ex:  # an unreadable file is a note, never the end of the report
                        self.notes.append(f"layer {L}: /{e.paths[i]} cannot be read ({ex})")
                        continue
                    out[(L, i)] = data
                    total += len(data)
            if total + sum(e.sizes[i] for i in wanted) > TOTAL_MAX:
                self.notes.append(f"the package databases take more than {TOTAL_MAX >> 20} MiB: those of "
                                  f"layer {L} and above are not read")
                break
            if wanted:
                at = {e.offsets[i]: i for i in wanted}
                try:
                    for off, chunks in iter_ranges(layer.blob, layer.compression or "none",
                                                   sorted((e.offsets[i], e.sizes[i]) for i in wanted)):
                        i = at[off]
                        data = b"".join(chunks)
                        out[(L, i)] = fresh[i] = data
                        total += len(data)
                except Exception as ex:
                    self.notes.append(f"layer {L}: its package database files cannot be read ({ex})")
                if fresh:
                    cache.store_files(layer, {**kept, **fresh} if kept else fresh)
        if big:
            self.notes.append(f"{big:,} package database file(s) larger than {FILE_MAX >> 20} MiB are not read")
        return out

    def _read_states(self, dbs) -> None:
        from ..packages import apk, dpkg, npm, python, rpm

        st = self.stack
        contents = self._contents(dbs)
        readers = {"apk": apk.read, "rpm": rpm.read, "python": python.read, "npm": npm.read}  # dpkg: with its memo
        change = sorted({L for L, _, _ in dbs} | {st.hidden_at[L][i] for L, i, _ in dbs
                                                   if st.hidden_at[L][i] < self.n})
        last: dict[str, tuple] = {}  # manager -> (visible files, its packages)
        memo: dict = {}  # dpkg's parsed file lists, by content
        latest: dict[str, list[str]] = {}  # manager -> the notes of its database as the top layer has it
        for N in change:
            visible: dict[str, list[tuple[int, int]]] = {}
            for L, i, m in dbs:
                if L <= N < st.hidden_at[L][i] and (L, i) in contents:
                    visible.setdefault(m, []).append((L, i))
            state: dict[tuple, Package] = {}
            for m in MANAGERS:
                refs = tuple(visible.get(m, ()))
                prev = last.get(m)
                if prev is not None and prev[0] == refs:
                    pkgs = prev[1]
                else:
                    files = {st.layers[L].entries.paths[i]: contents[(L, i)] for L, i in refs}
                    try:
                        if not files:
                            pkgs, notes = [], []
                        elif m == "dpkg":
                            pkgs, notes = dpkg.read(files, Budget(), memo)
                        else:
                            pkgs, notes = readers[m](files, Budget())
                    except Exception as ex:  # a reader's own bug must not end the report: say it
                        pkgs, notes = [], [f"{m}: the database cannot be read ({type(ex).__name__}: {ex})"]
                    latest[m] = notes
                    last[m] = (refs, pkgs)
                for p in pkgs:
                    state.setdefault(p.key, p)
            self.states[N] = state
        for m in MANAGERS:
            self.notes += latest.get(m, [])

    def _expand_npm(self) -> None:
        """An npm package's files are its directory's, less what its own
        node_modules hold: every path under a node_modules, in every layer,
        goes to the package directory nearest above it."""
        dirs = {p.files[0] for s in self.states.values() for p in s.values() if p.manager == NPM and p.files}
        if not dirs:
            return
        under: dict[str, set[str]] = {d: set() for d in dirs}
        for layer in self.stack.layers:
            paths = layer.entries.paths
            for p in compress(paths, [_NM in p for p in paths]):
                k = p.rfind(_NM)
                rest = p[k + len(_NM):]
                parts = rest.split("/", 2)
                name = "/".join(parts[:2]) if rest.startswith("@") else parts[0]
                d = p[:k + len(_NM)] + name
                if d != p and d in under:
                    under[d].add(p)
        for s in self.states.values():
            for p in s.values():
                if p.manager == NPM and p.files and p.files[0] in under:
                    p.files = [p.files[0], *sorted(under[p.files[0]])]

    # -- paths: resolved through the view's directory symlinks (usrmerge: /bin -> usr/bin) --
    def resolve(self, p: str) -> str:
        top = self.stack.top_view
        if p in top:
            return p
        d, _, base = p.rpartition("/")
        if not d:
            return p
        return self._dir(d) + "/" + base

    def _dir(self, d: str, hops: int = 0) -> str:
        r = self._resolved.get(d)
        if r is not None:
            return r
        parent, _, base = d.rpartition("/")
        r = (self._dir(parent, hops) + "/" + base) if parent else d
        ref = self.stack.top_view.get(r)
        if ref is not None and ref[1] != IMPLIED and hops < 16:
            e = self.stack.layers[ref[0]].entries
            if e.types[ref[1]] == SYMLINK:
                tgt = e.links.get(ref[1]) or ""
                full = posixpath.normpath(tgt if tgt.startswith("/") else posixpath.join("/" + posixpath.dirname(r), tgt))
                t = full.lstrip("/")
                if t and t != r:
                    r = self._dir(t, hops + 1)
        self._resolved[d] = r
        return r

    def _index(self) -> None:
        """Every package's files resolved (each package object once: one unchanged between states is
        one object), the set of them, and every entry at one of them that some layer hides: path ->
        [(layer, index)] bottom up.  A visible entry is the top view's, so these two are every entry
        at a listed path."""
        self._indexed = True
        top = self.stack.top_view
        resolved_get = self._resolved.get
        wanted: set[str] = set()
        done = set()
        for s in self.states.values():
            for p in s.values():
                if id(p) not in done:
                    done.add(id(p))
                    files = p.files
                    if not all(map(top.__contains__, files)):  # (in C) most lists name only paths the view has
                        moved = {}
                        for f in filterfalse(top.__contains__, files):  # resolve(f), its calls inlined
                            d, _, base = f.rpartition("/")
                            if d:
                                r = resolved_get(d) or self._dir(d)
                                if r != d:
                                    moved[f] = r + "/" + base
                        if moved:  # two names of one file: once
                            p.files = files = list(dict.fromkeys(map(moved.get, files, files)))
                    wanted.update(files)
        self._wanted = wanted
        hidden: dict[str, list[tuple[int, int]]] = {}
        for L, layer in enumerate(self.stack.layers):
            ha = self.stack.hidden_at[L]
            paths = layer.entries.paths
            for i in compress(range(len(ha)), map(VISIBLE.__ne__, ha)):
                p = paths[i]
                if p in wanted:
                    hidden.setdefault(p, []).append((L, i))
        self._hidden = hidden

    def view_ref(self, N: int, path: str) -> tuple[int, int] | None:
        """The entry at `path` in the view at layer N, among the packages' paths."""
        st = self.stack
        ref = st.top_view.get(path)
        if N == self.n - 1:  # the top: the merge's own map
            return None if ref is None or ref[1] == IMPLIED else ref
        if path not in self._wanted:
            return None
        if ref is not None and ref[1] != IMPLIED and ref[0] <= N:
            return ref  # visible at the top and already at N: above every copy it hides
        hidden_at = st.hidden_at
        for L, i in reversed(self._hidden.get(path, ())):
            if L <= N and hidden_at[L][i] > N and not is_marker(st.layers[L].entries.types[i]):
                return L, i
        return None

    def _inode(self, N: int, ref: tuple[int, int]) -> tuple[tuple[int, int], int] | None:
        """(the regular file, its size) an entry of the view at N stands for: a
        file itself, a hardlink its target; None for anything else."""
        L, i = ref
        e = self.stack.layers[L].entries
        t = e.types[i]
        if t == FILE:
            return ref, e.sizes[i]
        if t == HARDLINK:
            tgt = e.links.get(i)
            r = self.view_ref(N, tgt) if tgt in self._wanted else None
            if r is None or self.stack.layers[r[0]].entries.types[r[1]] != FILE:
                r = self.a.hardlink_target(L, i)
            if r is not None:
                return r, self.stack.layers[r[0]].entries.sizes[r[1]]
        return None

    def _view(self, N: int):
        """A package's path at N: `at(path)` -> (inode, bytes, hidden bytes, in the view).  The inode
        (a regular file's entry; a hardlink's target) is None for a symlink or a device; a directory,
        or a path not in the view, is there only for its hidden bytes (None without any): its copies
        in layers up to N that the view at N does not show.  Each path is looked up once per N."""
        at = self._views.get(N)
        if at is not None:
            return at
        st = self.stack
        known: dict[str, tuple | None] = {}
        known_get = known.get
        hidden_get = self._hidden.get
        top_get = st.top_view.get
        hidden_at = st.hidden_at
        entries = [layer.entries for layer in st.layers]
        types = [e.types for e in entries]
        sizes = [e.sizes for e in entries]
        is_top = N == self.n - 1
        inode = self._inode

        def at(path: str, _ask=_ASK) -> tuple | None:
            got = known_get(path, _ask)
            if got is not _ask:
                return got
            hidden = 0
            ref = None
            refs = hidden_get(path)
            if refs is not None:
                for L, i in refs:  # bottom up: the last one still shown at N is the view's
                    if L > N:
                        break
                    t = types[L][i]
                    if hidden_at[L][i] <= N:
                        if t == FILE:
                            hidden += sizes[L][i]
                    elif t != WHITEOUT and t != OPAQUE:
                        ref = (L, i)
            r = top_get(path)
            if r is not None and r[1] != IMPLIED and r[0] <= N:
                ref = r  # visible at the top, so at N: above every copy it hides
            elif is_top:
                ref = None
            if ref is None:
                got = (None, 0, hidden, False) if hidden else None
            else:
                t = types[ref[0]][ref[1]]
                if t == FILE:
                    got = (ref, sizes[ref[0]][ref[1]], hidden, True)
                elif t == DIR:
                    got = (None, 0, hidden, False) if hidden else None
                else:
                    ino = inode(N, ref) if t == HARDLINK else None
                    got = (ino[0], ino[1], hidden, True) if ino is not None else (None, 0, hidden, True)
            known[path] = got
            return got

        self._views[N] = at
        return at

    def _state_at(self, N: int) -> dict[tuple, Package]:
        best = -1
        for L in self.states:
            if best < L <= N:
                best = L
        return self.states.get(best, {})

    # -- what changed where ---------------------------------------------------------
    def _system_files(self, state: dict) -> set[str]:
        """The files a system package lists, at any layer: a Python or npm package's share of them is not its own."""
        if self._system is None:
            seen = set()
            self._system = set()
            for st in self.states.values():
                for p in st.values():
                    if p.manager in SYSTEM and id(p) not in seen:
                        seen.add(id(p))
                        self._system.update(p.files)
        return self._system

    def _layer_bytes(self, L: int, p: Package, state: dict) -> int:
        stored = self._stored.get(L)
        if stored is None:  # {path: bytes} of the regular files layer L stores (the last copy of a path), in C
            e = self.stack.layers[L].entries
            files = e.types.translate(_IS_FILE)
            stored = self._stored[L] = dict(zip(compress(e.paths, files), compress(e.sizes, files)))
        if p.manager in SYSTEM:
            return sum(map(stored.get, p.files, repeat(0)))
        skip = self._system_files(state)
        return sum(stored.get(f, 0) for f in p.files if f not in skip)

    def _view_files(self, N: int, p: Package, state: dict) -> list[tuple[str, int]]:
        """(path, bytes) of the package's regular files in the view at N, each inode once, biggest first
        (for a Python or npm package, not those a system package of `state` lists)."""
        seen = set()
        out = []
        skip = self._system_files(state) if p.manager not in SYSTEM else ()
        at = self._view(N)
        for path in p.files:
            v = at(path)
            if v is not None and v[0] is not None and v[0] not in seen and path not in skip:
                seen.add(v[0])
                out.append((path, v[1]))
        _biggest_first(out)
        return out

    def _events(self):
        """(layer, "added" | "upgraded" | "removed", key, package, the one before) from state to state,
        and the layer of each visible version and its version changes, as they go."""
        prev: dict[tuple, Package] = {}
        self._installed, self._changed = {}, {}
        for N in sorted(self.states):
            cur = self.states[N]
            for k, p in cur.items():
                old = prev.get(k)
                if old is None:
                    self._installed[k] = N
                    self._changed[k] = []
                    yield N, "added", k, p, None, cur
                elif old.version != p.version:
                    self._installed[k] = N
                    self._changed[k].append(N)
                    yield N, "upgraded", k, p, old, cur
            for k, old in prev.items():
                if k not in cur:
                    yield N, "removed", k, None, old, prev
            prev = cur

    def _history(self) -> None:
        for N, what, k, p, old, state in self._events():
            lp = self.layers[N]
            if what == "added":
                lp.added.append(Change(p.manager, p.name, p.version, "", p.arch, p.location,
                                       self._layer_bytes(N, p, state)))
            elif what == "upgraded":
                lp.upgraded.append(Change(p.manager, p.name, p.version, old.version, p.arch, p.location,
                                          self._layer_bytes(N, p, state)))
            else:
                files = self._view_files(N - 1, old, state)
                b = sum(n for _, n in files)
                lp.removed.append(Change(old.manager, old.name, "", old.version, old.arch, old.location, b))
                self.removed.append(Removed(old.manager, old.name, old.version, old.arch, old.location,
                                            self._installed.get(k, N), N, b, files))
        for lp in self.layers:
            for lst in (lp.added, lp.upgraded, lp.removed):
                lst.sort(key=lambda c: (-c.bytes, c.manager, c.name))

    def _unowned(self) -> None:
        st = self.stack
        owned_at: dict[int, set[str]] = {}
        for N, s in self.states.items():
            owned_at[N] = set().union(*(p.files for p in s.values()))
        cur: set[str] = set()
        for L in range(self.n):
            if L in owned_at:
                cur = owned_at[L]
            e = st.layers[L].entries
            files = e.types.translate(_IS_FILE)
            total = sum(compress(e.sizes, files))
            owned = sum(compress(compress(e.sizes, files), map(cur.__contains__, compress(e.paths, files)))) \
                if cur else 0
            self.layers[L].owned_bytes = owned
            self.layers[L].unowned_bytes = total - owned

    # -- the view at a layer -----------------------------------------------------------
    def rows(self, N: int | None = None) -> list[PackageRow]:
        """The packages of the view at layer N (the top by default), biggest first."""
        N = self.n - 1 if N is None else N
        if N in self._rows:
            return self._rows[N]
        if not self._indexed:  # loaded from the cache: the index is made when a lower layer is asked for
            self._index()
        state = self._state_at(N)
        at = self._view(N)
        rows = []
        claimed: dict[tuple[int, int], str] = {}  # inode -> the manager whose package counts it
        order = sorted(state.values(), key=lambda p: (MANAGERS.index(p.manager), p.name, p.arch, p.location))
        shared_files = shared_bytes = 0
        for p in order:
            k = p.key
            installed = self._installed.get(k, 0)
            changed = [c for c in self._changed.get(k, []) if c <= N]
            if installed > N:  # the version of this view came earlier
                installed = changed[-1] if changed else self._first_at(k, N)
            seen = set()
            own = shared = hidden = 0
            nfiles = 0
            paths = []
            system = p.manager in SYSTEM
            for path in p.files:
                v = at(path)
                if v is None:
                    continue
                ino, size, h, shown = v
                hidden += h
                nfiles += shown
                if ino is None or ino in seen:
                    continue
                seen.add(ino)
                by = claimed.get(ino)
                if by is None:
                    claimed[ino] = p.manager
                elif by in SYSTEM and not system:
                    shared += size
                    shared_files += 1
                    shared_bytes += size
                    continue
                # (two packages of one manager, or two system managers, may list one file: each counts it)
                own += size
                paths.append((path, size))
            _biggest_first(paths)
            rows.append(PackageRow(p.manager, p.name, p.version, p.arch, p.location, installed, changed, own,
                                   hidden, shared, nfiles, paths))
        rows.sort(key=lambda r: (-r.bytes, r.manager, r.name, r.arch, r.location))
        if N == self.n - 1:
            self.shared_files, self.shared_bytes = shared_files, shared_bytes
        self._rows[N] = rows
        return rows

    def _first_at(self, k: tuple, N: int) -> int:
        for L in sorted(self.states):
            if L <= N and k in self.states[L]:
                return L
        return 0

    def layer_rows(self, N: int | None = None) -> list[LayerPackages]:
        """Per layer, bottom up to N: what each layer did to the packages."""
        N = self.n - 1 if N is None else N
        return self.layers[:N + 1]

    def owners(self, path: str) -> list[PackageRow]:
        """The packages of the final view that list `path` (resolved through
        directory symlinks)."""
        if self._owners is None:
            own: dict[str, list[PackageRow]] = {}
            state = self._state_at(self.n - 1)
            rows = {(r.manager, r.location, r.name, r.arch): r for r in self.rows()}
            for k, p in state.items():
                r = rows.get(k)
                if r is not None:
                    for f in p.files:
                        own.setdefault(f, []).append(r)
            self._owners = own
        if not self.states:
            return []
        return list(self._owners.get(self.resolve(path.strip("/")), ()))

