"""Analysis of one image: the stack (merge + shadows), change kinds, waste,
per-path history.  `analyse()` is the entry point the CLI and the app use;
neither recomputes anything this package computes."""

from __future__ import annotations

from _thread import allocate_lock  # threading's own lock, without importing threading
from array import array

from ..layers.contents import read_range, read_sparse
from ..model import DIR, FILE, HARDLINK, OPAQUE, SYMLINK, TYPE_NAMES, WHITEOUT, Entry, Image, Layer, LayerGraph, Record
from .changes import CONTENT, KIND_NAMES, METADATA, SAME, ChangeKinds
from .stack import ADDED, DELETES, HOW_NAMES, IMPLIED, MODIFIED, OVERWRITTEN, UNCHANGED, VISIBLE, Stack
from .waste import Waste

MAX_OS_RELEASE = 64 << 10


class LayerRow(Record):
    """One build step, as the report and the layer list show it."""

    __slots__ = ("step", "index", "created_by", "layer", "size", "entries", "added", "modified", "deleted",
                 "wasted", "is_base", "shared_with", "kinds")

    def __init__(self, step: int, index: int | None, created_by: str, layer: Layer | None, size: int = 0,
                 entries: int = 0, added: int = 0, modified: int = 0, deleted: int = 0, wasted: int = 0,
                 is_base: bool = False, shared_with: list[str] | None = None) -> None:
        self.step = step  # position in history (or layer index when history is unknown)
        self.index = index  # layer index, None for an empty step (ENV, CMD...)
        self.created_by = created_by
        self.layer = layer
        self.size = size
        self.entries = entries
        self.added = added
        self.modified = modified
        self.deleted = deleted
        self.wasted = wasted
        self.kinds = (modified, 0, 0)  # modified entries as (new content, metadata only, duplicate)
        self.is_base = is_base
        self.shared_with: list[str] = [] if shared_with is None else shared_with  # other images using this layer


class HistoryEvent(Record):
    __slots__ = ("layer", "action", "entry", "detail", "index")

    def __init__(self, layer: int, action: str, entry: Entry | None, detail: str = "",
                 index: int | None = None) -> None:
        self.layer = layer
        self.action = action  # added | modified | metadata-only | duplicate | listed again | deleted | emptied
        self.entry = entry  # the layer's entry (None for deletions and opaque markers)
        self.detail = detail
        self.index = index  # entry index in that layer, when entry is set


class Shadow(Record):
    """A lower copy hidden by something above it."""

    __slots__ = ("layer", "entry", "hidden_at", "how", "bytes", "index")

    def __init__(self, layer: int, entry: Entry, hidden_at: int, how: str, bytes: int, index: int = -1) -> None:
        self.layer = layer
        self.entry = entry
        self.hidden_at = hidden_at
        self.how = how
        self.bytes = bytes
        self.index = index  # entry index in `layer`


class ImageAnalysis:
    def __init__(self, graph: LayerGraph, image: Image, base_layers: int | None = None,
                 hash_contents: bool = True):
        self.graph = graph
        self.image = image
        self.stack, self.kinds = _stack_and_kinds(image, hash_contents)
        self._cacheable = hash_contents and all(l.error is None and not l.bomb for l in image.layers)
        self.waste = Waste(self.stack, self.kinds, base_layers)
        self.layers = self.stack.layers
        self._counts = [self._count(L) for L in range(self.stack.n)]
        self._os: dict | None | bool = False
        self._findings: list | None = None
        self._image_findings: list | None = None
        self._ledger = None
        self._steps: list | None = None
        self._what_ifs: list | None = None
        self._pairs: dict | None = None  # analysis.ledger.hidden_pairs
        self._packages = None
        self._packages_lock = allocate_lock()

    # -- per layer -------------------------------------------------------
    def _count(self, L: int) -> tuple[int, int, int]:
        ch = self.stack.change[L]
        added = ch.count(ADDED)
        modified = ch.count(MODIFIED)
        deleted = len(self.stack.deletions[L])
        return added, modified, deleted

    def counts(self, L: int) -> tuple[int, int, int]:
        """(added, modified, deleted) for layer L."""
        return self._counts[L]

    def modified_kinds(self, L: int) -> tuple[int, int, int]:
        """Layer L's modified entries by kind: (new content, metadata only,
        duplicate), which add up to its modified count."""
        k = self.kinds.kind[L]
        return k.count(CONTENT), k.count(METADATA), k.count(SAME)

    def layer_rows(self, include_empty: bool = True) -> list[LayerRow]:
        im = self.image
        rows: list[LayerRow] = []

        def row_for(step: int, L: int, created_by: str) -> LayerRow:
            layer = self.layers[L]
            a, m, d = self._counts[L]
            others = [o.name for o in layer.images if o is not im]
            row = LayerRow(step, L, created_by, layer, self.waste.layer_bytes[L], len(layer.entries), a, m, d,
                           self.waste.layer_wasted[L], L < self.waste.base_layers, others)
            row.kinds = self.modified_kinds(L)
            return row

        if im.history_mapped:
            for s, h in enumerate(im.history):
                if h.layer_index is None:
                    if include_empty:
                        rows.append(LayerRow(s, None, h.created_by, None))
                else:
                    rows.append(row_for(s, h.layer_index, h.created_by))
        else:
            for L in range(self.stack.n):
                rows.append(row_for(L, L, ""))
        return rows

    def created_by(self, L: int) -> str:
        return self.image.created_by(L)

    # -- totals ----------------------------------------------------------
    def totals(self) -> dict:
        w = self.waste
        return {
            "size": w.size,
            "visible_size": w.visible_size,
            "wasted_bytes": w.wasted_bytes,
            "user_wasted_bytes": w.user_wasted_bytes,
            "user_wasted_percent": w.user_wasted_percent,
            "efficiency": w.efficiency,
            "base_layers": w.base_layers,
            "entries": sum(len(l.entries) for l in self.layers),
            "user_size": w.user_size,
            "wasted_user_percent": w.wasted_user_percent,
        }

    def findings(self) -> list:
        """What a build could save, biggest first (analysis.findings.Finding);
        computed on the first call."""
        if self._findings is None:
            # packages: a family of their own (analysis.pkgfindings), listed by bytes among the others
            self._findings = sorted(self.image_findings() + self._package_findings(), key=lambda f: -f.bytes)
        return self._findings

    def _package_findings(self) -> list:
        """analysis.pkgfindings' findings, cached beside the others (a second open reads the package
        analysis' findings instead of making them again)."""
        from ..layers import cache
        from . import findings as fm
        from . import pkgfindings as pf

        cacheable = self._cacheable and not self.kinds.hash_errors and cache.cache_dir() is not None
        extra = f"{pf.FORMAT}\0{pf.MIN_BYTES}\0{fm.cache_extra(self)}" if cacheable else ""
        state = cache.load_analysis(self.layers, lambda layers, v: None, "pkgfindings", extra) if cacheable else None
        if state is not None:
            try:
                return pf.from_state(self, state)
            except (ValueError, TypeError):
                pass  # a state that does not fit: made again
        found = pf.package_findings(self)
        if cacheable:
            cache.store_analysis(self.layers, pf.to_state(found), "pkgfindings", extra)
        return found

    def image_findings(self) -> list:
        """The findings of hidden copies and of the final view (analysis.findings), without
        those of packages: what needs no package analysis; computed on the first call."""
        if self._image_findings is None:
            from ..layers import cache
            from . import findings as fm  # only what reports findings pays for it

            # cached with the merge's state, for the same images (a second open skips the search)
            cacheable = self._cacheable and not self.kinds.hash_errors and cache.cache_dir() is not None
            extra = fm.cache_extra(self) if cacheable else ""
            found = None
            state = cache.load_analysis(self.layers, lambda layers, v: None, "findings", extra) if cacheable else None
            if state is not None:
                try:
                    found = fm.from_state(self, state)
                except (ValueError, TypeError, IndexError, AttributeError):
                    found = None  # a state that does not fit: found again
            if found is None:
                found = fm.compute_findings(self)
                if cacheable:
                    cache.store_analysis(self.layers, fm.to_state(found), "findings", extra)
            self._image_findings = found
        return self._image_findings

    def ledger(self):
        """Every byte of every layer by where it went (analysis.ledger.Ledger);
        computed on the first call."""
        if self._ledger is None:
            from .ledger import compute_ledger

            self._ledger = compute_ledger(self)
        return self._ledger

    def dockerfile_steps(self) -> list:
        """The history as Dockerfile steps with their bytes and findings
        (analysis.dockerfile.Step); computed on the first call."""
        if self._steps is None:
            from .dockerfile import steps

            self._steps = steps(self)
        return self._steps

    def what_ifs(self, squashes: list[tuple[int, int]] | None = None) -> list:
        """What squashing steps or applying every fix would save (analysis.ledger.WhatIf)."""
        from .ledger import what_ifs

        if squashes:
            return what_ifs(self, squashes)
        if self._what_ifs is None:
            self._what_ifs = what_ifs(self)
        return self._what_ifs

    def packages(self):
        """The package databases of every layer, with real bytes per package
        and layer (analysis.packages.PackageAnalysis); read on the first call."""
        if self._packages is None:
            with self._packages_lock:  # the explorer's Packages and Findings workers may both ask
                if self._packages is None:
                    from .packages import PackageAnalysis  # only what shows packages pays for it

                    self._packages = PackageAnalysis(self)
        return self._packages

    # -- contents ----------------------------------------------------------
    def read(self, L: int, i: int, cap: int | None = None, start: int = 0) -> bytes:
        """Content of entry i of layer L (at most `cap` bytes from byte `start`),
        read on demand.  A hardlink reads its target in the same layer."""
        if self.layers[L].entries.types[i] == HARDLINK:
            ref = self.hardlink_target(L, i)
            if ref is None:
                return b""
            L, i = ref
        layer = self.layers[L]
        e = layer.entries
        if e.types[i] != FILE or e.sizes[i] == 0:
            return b""
        start = max(0, min(start, e.sizes[i]))
        kept = e.captured.get(i)
        if kept is not None:  # kept while indexing (os-release)
            return kept[start:] if cap is None else kept[start:start + cap]
        sp = e.sparse.get(i) if e.sparse else None
        if sp is not None:
            got = read_sparse(layer.blob, layer.compression or "none", e.offsets[i], sp, e.sizes[i],
                              None if cap is None else start + cap)
            return got[start:] if start else got
        return read_range(layer.blob, layer.compression or "none", e.offsets[i] + start, e.sizes[i] - start, cap)

    def hardlink_target(self, L: int, i: int) -> tuple[int, int] | None:
        """The regular file a hardlink names: in its own layer, else the file
        visible at that path just below it (a link to a lower layer's file,
        as umoci and containers/storage apply it)."""
        tgt = self.layers[L].entries.links.get(i)
        if tgt is None:
            return None
        st = self.stack
        for l in range(L, -1, -1):
            e = self.layers[l].entries
            start = 0
            while True:
                try:
                    j = e.paths.index(tgt, start)
                except ValueError:
                    break
                start = j + 1
                if e.types[j] == FILE and (l == L or st.hidden_at[l][j] >= L):
                    return l, j
        return None

    def os_release(self) -> dict | None:
        """Parsed /etc/os-release (or /usr/lib/os-release) of the final view."""
        if self._os is not False:
            return self._os  # type: ignore[return-value]
        self._os = None
        for p in ("etc/os-release", "usr/lib/os-release"):
            ref = self._resolve_visible(p)
            if ref is None:
                continue
            L, i = ref
            try:
                data = self.read(L, i, MAX_OS_RELEASE)
            except Exception:
                continue
            out = {}
            for line in data.decode("utf-8", "replace").splitlines():
                k, sep, v = line.partition("=")
                if sep and k.strip() and not k.startswith("#"):
                    out[k.strip()] = v.strip().strip('"').strip("'")
            self._os = out
            break
        return self._os

    def _resolve_visible(self, path: str, hops: int = 8):
        top = self.stack.top_view
        for _ in range(hops):
            ref = top.get(path)
            if ref is None or ref[1] == IMPLIED:
                return None
            L, i = ref
            e = self.layers[L].entries
            if e.types[i] == SYMLINK:
                tgt = e.links.get(i) or ""
                import posixpath
                base = posixpath.dirname(path)
                path = posixpath.normpath(tgt if tgt.startswith("/") else posixpath.join("/" + base, tgt)).lstrip("/")
                continue
            return ref
        return None

    # -- per path ----------------------------------------------------------
    def history(self, path: str) -> list[HistoryEvent]:
        """Every layer that touched `path`, bottom up: what it did."""
        p = path.strip("/")
        st = self.stack
        out: list[HistoryEvent] = []
        for L, i in st.entries_at(p):
            e = self.layers[L].entries
            t = e.types[i]
            if t == WHITEOUT:
                if st.change[L][i] == DELETES:
                    out.append(HistoryEvent(L, "deleted", None, "whiteout"))
                continue
            if t == OPAQUE:
                if st.change[L][i] == DELETES:
                    out.append(HistoryEvent(L, "emptied", None, "opaque dir: every lower child hidden"))
                continue
            c = st.change[L][i]
            if c == ADDED:
                action = "added"
            elif c == UNCHANGED:
                action = "listed again"
            else:
                action = KIND_NAMES.get(self.kinds.kind[L][i], "modified")
                action = "modified" if action == "content" else action
            out.append(HistoryEvent(L, action, e.entry(i), "", i))
        # removals by an ancestor's whiteout / opaque dir / replacement
        for L, i in st.entries_at(p):
            e = self.layers[L].entries
            if e.types[i] in (WHITEOUT, OPAQUE):
                continue
            h = st.hidden_at[L][i]
            if h != VISIBLE and st.how[L][i] != OVERWRITTEN:
                if not any(ev.layer == h and ev.action == "deleted" for ev in out):
                    out.append(HistoryEvent(h, "deleted", None, HOW_NAMES.get(st.how[L][i], "")))
        out.sort(key=lambda ev: ev.layer)
        return out

    def shadows(self, path: str) -> list[Shadow]:
        """The hidden copies of `path` (what the visible entry, or the deletion, hides)."""
        p = path.strip("/")
        st = self.stack
        out = []
        for L, i in st.entries_at(p):
            e = self.layers[L].entries
            t = e.types[i]
            if t in (WHITEOUT, OPAQUE) or st.hidden_at[L][i] == VISIBLE:
                continue
            state = self.waste.state(L, i)
            out.append(Shadow(L, e.entry(i), st.hidden_at[L][i], HOW_NAMES.get(st.how[L][i], ""),
                              e.sizes[i] if t == FILE and state != "visible" else 0, i))
        return out

    def visible_ref(self, path: str) -> tuple[int, int] | None:
        ref = self.stack.top_view.get(path.strip("/"))
        if ref is None or ref[1] == IMPLIED:
            return None
        return ref


def _stack_and_kinds(image: Image, hash_contents: bool) -> tuple[Stack, ChangeKinds]:
    """The merge pass and the change kinds, from the cache when this exact
    stack of layers was analysed before (a second open skips both)."""
    from ..layers import cache

    cacheable = hash_contents and all(l.error is None and not l.bomb for l in image.layers)
    state = cache.load_analysis(image.layers, _check_cached_state) if cacheable else None
    if state is not None:
        try:
            stack = Stack(image, state=state[0])
            return stack, ChangeKinds(stack, kinds=state[1])
        except (ValueError, TypeError, IndexError):
            pass  # a state that does not fit: compute it again
    stack = Stack(image)
    kinds = ChangeKinds(stack, hash_contents)
    if cacheable and not kinds.hash_errors:
        cache.store_analysis(image.layers, (stack.to_state(), [bytes(k) for k in kinds.kind]))
    return stack, kinds


def analyse(graph: LayerGraph, image: Image, base_layers: int | None = None,
            hash_contents: bool = True) -> ImageAnalysis:
    return ImageAnalysis(graph, image, base_layers, hash_contents)


__all__ = ["ImageAnalysis", "LayerRow", "HistoryEvent", "Shadow", "analyse", "TYPE_NAMES", "DIR"]


def _refs_ok(xs: array, ys: array, none: int, sizes: list[int], implied: int, entry) -> bool:
    """Whether every (layer, index) pair of xs, ys with xs != none is an
    entry (`entry(L, i)`); on arrays for a big stack (a second open of a
    million entries would spend seconds in the loop)."""
    from .stack import COLUMNS_MIN

    if sum(sizes) < COLUMNS_MIN:
        return all(x == none or entry(x, y) for x, y in zip(xs, ys))
    import numpy as np

    x, y = np.frombuffer(xs, dtype=np.int32), np.frombuffer(ys, dtype=np.int32)
    used = x != none
    x, y = x[used], y[used]
    if not ((x >= 0) & (x < len(sizes))).all():
        return False
    return bool(((y == implied) | ((y >= 0) & (y < np.array(sizes, dtype=np.int64)[x]))).all())


def _check_cached_state(layers, value) -> None:
    """Raise ValueError unless value is a (stack state, change kinds) that fits
    these layers: every index points at an entry that exists."""
    from .changes import CONTENT, METADATA, SAME
    from .stack import ADDED, DELETES, HOW_NAMES, IMPLIED, MODIFIED, NOOP, UNCHANGED, VISIBLE

    n = len(layers)
    sizes = [len(l.entries) for l in layers]
    state, kinds = value
    ha, hb, how, pl, pi, ch, dels, implied = state
    cols = (ha, hb, how, pl, pi, ch, dels, kinds)
    if not all(isinstance(c, list) and len(c) == n for c in cols) or not isinstance(implied, list):
        raise ValueError("stack state does not fit the layers")
    how_codes = bytes([0, *HOW_NAMES])
    change_codes = bytes([0, ADDED, MODIFIED, UNCHANGED, DELETES, NOOP])
    kind_codes = bytes([0, CONTENT, METADATA, SAME])

    def ints(b) -> array:
        if not isinstance(b, bytes):
            raise ValueError("not an int column")
        a = array("i")
        a.frombytes(b)
        return a

    def entry(L, i) -> bool:
        return type(L) is int and type(i) is int and 0 <= L < n and (i == IMPLIED or 0 <= i < sizes[L])

    for L in range(n):
        m = sizes[L]
        for b, codes in ((how[L], how_codes), (ch[L], change_codes), (kinds[L], kind_codes)):
            if not isinstance(b, bytes) or len(b) != m or b.translate(None, codes):
                raise ValueError("unknown codes")
        a_ha, a_hb, a_pl, a_pi = ints(ha[L]), ints(hb[L]), ints(pl[L]), ints(pi[L])
        if not len(a_ha) == len(a_hb) == len(a_pl) == len(a_pi) == m:
            raise ValueError("stack state does not fit the layers")
        if not _refs_ok(a_ha, a_hb, VISIBLE, sizes, IMPLIED, entry):
            raise ValueError("hidden by an entry that does not exist")
        if not _refs_ok(a_pl, a_pi, -1, sizes, IMPLIED, entry):
            raise ValueError("replaces an entry that does not exist")
        if not isinstance(dels[L], list):
            raise ValueError("bad deletions")
        for d in dels[L]:
            if not (isinstance(d, tuple) and len(d) == 6 and isinstance(d[0], str) and entry(d[1], d[2])
                    and d[3] in HOW_NAMES and entry(d[4], d[5])):
                raise ValueError("bad deletion")
    for imp in implied:
        if not (isinstance(imp, tuple) and len(imp) == 3 and isinstance(imp[0], str) and type(imp[1]) is int
                and 0 <= imp[1] < n and type(imp[2]) is int and (imp[2] == VISIBLE or 0 <= imp[2] < n)):
            raise ValueError("bad implied directory")
