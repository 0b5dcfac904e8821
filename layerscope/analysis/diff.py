"""Compare two indexed images: the comparison only (its text and JSON are
layerscope.views.diff, the command is layerscope.cli.diff).

What is compared
  * layers, by diff_id: the common prefix (the bottom layers both stacks
    share in the same places), where the stacks diverge, layers shared out
    of order, and the layers only one side has;
  * the two final merged views, path by path: added, removed, changed.  A
    change has a kind: "content" (size, symlink/hardlink target, or - for
    same-size regular files - the sha256 of both copies, read on demand),
    "metadata-only" (mode, uid or gid; mtimes are ignored: every rebuild
    changes them), or "type" (e.g. a file became a symlink).  An implied
    directory (one no layer lists) counts as root:root 0755;
  * regular-file bytes per directory (recursive) and in total;
  * the config (Env, Entrypoint, Cmd, User, WorkingDir, Labels, ExposedPorts,
    Volumes, any other key of the run config, and the platform);
  * the history, by created_by (steps added / removed).

The images are *identical* when the merged views have no change and the
configs are equal; history-only differences are listed but do not make the
images different.
"""

from __future__ import annotations

import difflib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..errors import ImageError
from ..layers.contents import digest_ranges
from ..model import DIR, FILE, HARDLINK, SYMLINK, TYPE_NAMES, Image, Layer, LayerGraph
from .stack import IMPLIED, Stack

# change kinds
CONTENT = "content"
METADATA = "metadata-only"
TYPE = "type"

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"

IMPLIED_DIR_MODE = 0o755

# config fields, in the order they are reported; other keys follow by name
CONFIG_FIELDS = ("Env", "Entrypoint", "Cmd", "User", "WorkingDir", "Labels", "ExposedPorts", "Volumes")
_KEYED = {"Env", "Labels", "ExposedPorts", "Volumes"}


def layer_id(layer: Layer) -> str:
    """What makes two layers the same layer: the diff_id (digest of the
    uncompressed tar), else the stored blob's digest, else the node key."""
    return layer.diff_id or layer.digest or layer.key


# ---------------------------------------------------------------------------
# Result types


@dataclass(slots=True)
class SharedLayer:
    diff_id: str
    a_index: int
    b_index: int
    size: int
    in_prefix: bool  # part of the common prefix (same place in both stacks)


@dataclass(slots=True)
class OnlyLayer:
    index: int
    diff_id: str
    size: int
    created_by: str


@dataclass
class LayerComparison:
    common_prefix: int  # number of bottom layers equal in both stacks
    diverge_at: int | None  # first index where the stacks differ; None when equal
    shared: list[SharedLayer]  # every layer both use (prefix and out of order)
    only_a: list[OnlyLayer]
    only_b: list[OnlyLayer]

    @property
    def out_of_order(self) -> list[SharedLayer]:
        return [s for s in self.shared if not s.in_prefix]

    @property
    def shared_bytes(self) -> int:
        return sum(s.size for s in self.shared)


@dataclass(slots=True)
class Side:
    """One path on one side: the entry as the merged view shows it."""

    type: int  # model type code (DIR for an implied directory)
    size: int  # regular-file bytes (0 for everything else)
    mode: int
    uid: int
    gid: int
    link: str | None
    layer: int  # index in that side's stack
    index: int  # entry index in that layer, IMPLIED for an implied directory

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type, "?")


@dataclass(slots=True)
class PathChange:
    path: str  # normalised, no leading "/"
    change: str  # ADDED | REMOVED | CHANGED
    kind: str | None  # CONTENT | METADATA | TYPE for CHANGED, else None
    a: Side | None
    b: Side | None
    meta_changed: bool = False  # a content change that also changed mode/owner

    @property
    def size_a(self) -> int:
        return self.a.size if self.a is not None else 0

    @property
    def size_b(self) -> int:
        return self.b.size if self.b is not None else 0

    @property
    def delta(self) -> int:
        return self.size_b - self.size_a

    @property
    def is_dir(self) -> bool:
        s = self.b if self.b is not None else self.a
        return s is not None and s.type == DIR


@dataclass(slots=True)
class DirDelta:
    path: str  # "" is the root
    delta: int = 0
    added: int = 0
    removed: int = 0
    changed: int = 0


@dataclass(slots=True)
class ConfigChange:
    field: str
    key: str | None  # Env variable, label, port or volume; None for whole values
    a: object  # None when added
    b: object  # None when removed

    @property
    def change(self) -> str:
        if self.a is None:
            return ADDED
        if self.b is None:
            return REMOVED
        return CHANGED


@dataclass(slots=True)
class HistoryChange:
    change: str  # ADDED (only in B) | REMOVED (only in A)
    index: int  # position in that side's history
    created_by: str
    empty_layer: bool


@dataclass
class ImageDiff:
    a_graph: LayerGraph
    a_image: Image
    b_graph: LayerGraph
    b_image: Image
    a_stack: Stack = field(repr=False)
    b_stack: Stack = field(repr=False)
    layers: LayerComparison
    changes: list[PathChange]  # sorted by path
    directories: dict[str, DirDelta]  # every directory with a change below it ("" = root)
    config: list[ConfigChange]
    history: list[HistoryChange]
    size_a: int  # regular-file bytes of A's merged view
    size_b: int
    entries_a: int  # paths in A's merged view
    entries_b: int
    hashed_pairs: int = 0  # same-size file pairs whose contents were compared
    warnings: list[str] = field(default_factory=list)
    packages: list = field(default_factory=list)  # analysis.pkgdiff.PackageChange, biggest |delta| first

    @property
    def identical(self) -> bool:
        return not self.changes and not self.config

    @property
    def size_delta(self) -> int:
        return self.size_b - self.size_a

    def counts(self) -> dict[str, int]:
        out = {ADDED: 0, REMOVED: 0, CHANGED: 0, CONTENT: 0, METADATA: 0, TYPE: 0}
        for c in self.changes:
            out[c.change] += 1
            if c.kind:
                out[c.kind] += 1
        return out

    def top_changes(self, n: int) -> list[PathChange]:
        """The n changes that move the most bytes (then added/removed/changed
        files before directories, then by path)."""
        key = lambda c: (-abs(c.delta), c.is_dir, c.path)  # noqa: E731
        return sorted(self.changes, key=key)[:max(n, 0)]

    def top_directories(self, n: int, include_root: bool = False) -> list[DirDelta]:
        ds = [d for d in self.directories.values() if include_root or d.path]
        ds.sort(key=lambda d: (-abs(d.delta), -(d.added + d.removed + d.changed), d.path))
        return ds[:max(n, 0)]


# ---------------------------------------------------------------------------
# The comparison


def _side(stack: Stack, ref: tuple[int, int]) -> Side:
    L, i = ref
    if i == IMPLIED:
        return Side(DIR, 0, IMPLIED_DIR_MODE, 0, 0, None, L, IMPLIED)
    e = stack.layers[L].entries
    t = e.types[i]
    return Side(t, e.sizes[i] if t == FILE else 0, e.modes[i], e.uids[i], e.gids[i], e.links.get(i), L, i)


def _meta_differs(a: Side, b: Side) -> bool:
    return a.mode != b.mode or a.uid != b.uid or a.gid != b.gid


class _HardlinkTargets:
    """Resolve a hardlink to the entry it links to, in the same layer."""

    def __init__(self) -> None:
        self._maps: dict[int, dict[str, int]] = {}

    def resolve(self, layer: Layer, i: int) -> int | None:
        e = layer.entries
        m = self._maps.get(id(layer))
        if m is None:
            m = {}
            for j, p in enumerate(e.paths):
                if e.types[j] == FILE:
                    m[p] = j
            self._maps[id(layer)] = m
        tgt = e.links.get(i)
        if tgt is None:
            return None
        return m.get(tgt.strip("/"))


def compare_layers(a_image: Image, b_image: Image) -> LayerComparison:
    a_ids = [layer_id(l) for l in a_image.layers]
    b_ids = [layer_id(l) for l in b_image.layers]
    prefix = 0
    for x, y in zip(a_ids, b_ids):
        if x != y:
            break
        prefix += 1
    diverge = None if a_ids == b_ids else prefix
    b_pos: dict[str, list[int]] = {}
    for j, d in enumerate(b_ids):
        b_pos.setdefault(d, []).append(j)
    shared: list[SharedLayer] = []
    used_b: set[int] = set()
    only_a: list[OnlyLayer] = []
    for i, d in enumerate(a_ids):
        layer = a_image.layers[i]
        if i < prefix:
            shared.append(SharedLayer(d, i, i, layer.size, True))
            used_b.add(i)
            continue
        js = [j for j in b_pos.get(d, []) if j not in used_b]
        if js:
            used_b.add(js[0])
            shared.append(SharedLayer(d, i, js[0], layer.size, False))
        else:
            only_a.append(OnlyLayer(i, d, layer.size, a_image.created_by(i)))
    only_b = [OnlyLayer(j, d, b_image.layers[j].size, b_image.created_by(j))
              for j, d in enumerate(b_ids) if j not in used_b]
    return LayerComparison(prefix, diverge, shared, only_a, only_b)


def _env_map(env) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(env, list):
        for item in env:
            k, _, v = str(item).partition("=")
            out[k] = v
    return out


def _as_map(name: str, v) -> dict:
    if name == "Env":
        return _env_map(v)
    if isinstance(v, dict):
        if name in ("ExposedPorts", "Volumes"):
            return {str(k): True for k in v}
        return {str(k): val for k, val in v.items()}
    if isinstance(v, list) and name in ("ExposedPorts", "Volumes"):
        return {str(k): True for k in v}
    return {}


def _empty(v) -> bool:
    return v is None or v == "" or v == [] or v == {}


def compare_config(a: Image, b: Image) -> list[ConfigChange]:
    ca, cb = a.config or {}, b.config or {}
    names = list(CONFIG_FIELDS) + sorted((set(ca) | set(cb)) - set(CONFIG_FIELDS))
    out: list[ConfigChange] = []
    for name in names:
        va, vb = ca.get(name), cb.get(name)
        if name in _KEYED and (isinstance(va, (dict, list)) or isinstance(vb, (dict, list))
                               or va is None or vb is None):
            ma, mb = _as_map(name, va), _as_map(name, vb)
            for k in sorted(set(ma) | set(mb)):
                x, y = ma.get(k), mb.get(k)
                if x != y:
                    if name in ("ExposedPorts", "Volumes"):
                        x, y = (k if x is not None else None), (k if y is not None else None)
                    out.append(ConfigChange(name, k, x, y))
            continue
        if _empty(va) and _empty(vb):
            continue  # "" vs null vs []: the same to a runtime
        if va != vb:
            out.append(ConfigChange(name, None, None if _empty(va) else va, None if _empty(vb) else vb))
    pa, pb = str(a.platform), str(b.platform)
    if pa != pb:
        out.append(ConfigChange("platform", None, pa, pb))
    return out


def compare_history(a: Image, b: Image) -> list[HistoryChange]:
    ha = [h.created_by for h in a.history]
    hb = [h.created_by for h in b.history]
    out: list[HistoryChange] = []
    sm = difflib.SequenceMatcher(None, ha, hb, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        for i in range(i1, i2):
            out.append(HistoryChange(REMOVED, i, ha[i], a.history[i].empty_layer))
        for j in range(j1, j2):
            out.append(HistoryChange(ADDED, j, hb[j], b.history[j].empty_layer))
    return out


def _visible_bytes(stack: Stack) -> int:
    total = 0
    for L, i in stack.top_view.values():
        if i != IMPLIED:
            e = stack.layers[L].entries
            if e.types[i] == FILE:
                total += e.sizes[i]
    return total


def diff_images(a_graph: LayerGraph, a_image: Image, b_graph: LayerGraph, b_image: Image,
                hash_contents: bool = True) -> ImageDiff:
    """Compare two images (their layers must be indexed).  Same-size regular
    files are compared by the sha256 of both copies, read on demand, unless
    `hash_contents` is False (then they count as content changes)."""
    for im in (a_image, b_image):
        for L, layer in enumerate(im.layers):
            if layer.entries is None:
                raise ValueError(f"{im.name}: layer {L} is not indexed")
    sa, sb = Stack(a_image), Stack(b_image)
    va, vb = sa.top_view, sb.top_view
    a_ids = [layer_id(l) for l in sa.layers]
    b_ids = [layer_id(l) for l in sb.layers]
    links = _HardlinkTargets()
    changes: list[PathChange] = []
    # pending content checks: (change, a layer, a offset, b layer, b offset, size)
    pending: list[tuple[PathChange, Layer, int, Layer, int, int]] = []
    for p, ref in va.items():
        rb = vb.get(p)
        if rb is None:
            changes.append(PathChange(p, REMOVED, None, _side(sa, ref), None))
            continue
        if ref[1] != IMPLIED and rb[1] != IMPLIED and a_ids[ref[0]] == b_ids[rb[0]] and ref[1] == rb[1]:
            continue  # the very same entry of the same layer
        x, y = _side(sa, ref), _side(sb, rb)
        if x.type != y.type:
            changes.append(PathChange(p, CHANGED, TYPE, x, y, _meta_differs(x, y)))
            continue
        meta = _meta_differs(x, y)
        t = x.type
        if t == FILE or t == HARDLINK:
            if t == HARDLINK and x.link != y.link:
                changes.append(PathChange(p, CHANGED, CONTENT, x, y, meta))
                continue
            la, lb = sa.layers[x.layer], sb.layers[y.layer]
            ia, ib = x.index, y.index
            if t == HARDLINK:
                ia, ib = links.resolve(la, ia), links.resolve(lb, ib)
                if ia is None or ib is None:
                    if meta:
                        changes.append(PathChange(p, CHANGED, METADATA, x, y))
                    continue
            ea, eb = la.entries, lb.entries
            za, zb = ea.sizes[ia], eb.sizes[ib]
            if za != zb or ((ea.sparse or eb.sparse) and not ea.same_layout(ia, eb, ib)):
                # other sizes, or a sparse file and a plain one (or other maps): the holes are not read
                changes.append(PathChange(p, CHANGED, CONTENT, x, y, meta))
            elif za == 0 or ea.stored_size(ia) == 0 or (layer_id(la) == layer_id(lb) and ia == ib):
                if meta:
                    changes.append(PathChange(p, CHANGED, METADATA, x, y))
            else:
                c = PathChange(p, CHANGED, METADATA if meta else None, x, y)
                pending.append((c, la, ea.offsets[ia], lb, eb.offsets[ib], ea.stored_size(ia)))
        elif t == SYMLINK:
            if x.link != y.link:
                changes.append(PathChange(p, CHANGED, CONTENT, x, y, meta))
            elif meta:
                changes.append(PathChange(p, CHANGED, METADATA, x, y))
        elif meta:
            changes.append(PathChange(p, CHANGED, METADATA, x, y))
    for p, ref in vb.items():
        if p not in va:
            changes.append(PathChange(p, ADDED, None, None, _side(sb, ref)))

    warnings: list[str] = []
    hashed = 0
    if pending:
        if hash_contents:
            digests = _digest_pending(pending, warnings)
        else:
            digests = {}
        for c, la, oa, lb, ob, _ in pending:
            da = digests.get(id(la), {}).get(oa)
            db = digests.get(id(lb), {}).get(ob)
            hashed += 1 if hash_contents else 0
            if da is None or db is None or da != db:
                c.meta_changed = c.kind == METADATA
                c.kind = CONTENT
            if c.kind is not None:
                changes.append(c)
    changes.sort(key=lambda c: c.path)

    dirs: dict[str, DirDelta] = {}
    for c in changes:
        p = c.path
        d = c.delta
        while True:
            s = p.rfind("/")
            p = p[:s] if s >= 0 else ""
            dd = dirs.get(p)
            if dd is None:
                dirs[p] = dd = DirDelta(p)
            dd.delta += d
            if c.change == ADDED:
                dd.added += 1
            elif c.change == REMOVED:
                dd.removed += 1
            else:
                dd.changed += 1
            if not p:
                break

    from .pkgdiff import compare_packages  # the package databases of both sides (analysis.pkgdiff)

    packages, notes = compare_packages(sa, sb)
    warnings += notes
    return ImageDiff(
        a_graph=a_graph, a_image=a_image, b_graph=b_graph, b_image=b_image, a_stack=sa, b_stack=sb,
        layers=compare_layers(a_image, b_image), changes=changes, directories=dirs,
        config=compare_config(a_image, b_image), history=compare_history(a_image, b_image),
        size_a=_visible_bytes(sa), size_b=_visible_bytes(sb), entries_a=len(va), entries_b=len(vb),
        hashed_pairs=hashed, warnings=warnings, packages=packages)


def _digest_pending(pending, warnings: list[str]) -> dict[int, dict[int, str]]:
    wanted: dict[int, tuple[Layer, set[tuple[int, int]]]] = {}
    for _, la, oa, lb, ob, size in pending:
        wanted.setdefault(id(la), (la, set()))[1].add((oa, size))
        wanted.setdefault(id(lb), (lb, set()))[1].add((ob, size))

    def work(key: int):
        layer, ranges = wanted[key]
        try:
            out: dict[int, str] = {}
            e = layer.entries
            if e is not None and e.digests:
                # taken while the (compressed) layer was indexed: no second decode
                at = {off: i for i, off in enumerate(e.offsets)}
                for off, _ in ranges:
                    i = at.get(off)
                    d = e.digest(i) if i is not None else None
                    if d is not None:
                        out[off] = d.hex()
                ranges = {r for r in ranges if r[0] not in out}
            if ranges:
                if layer.blob is None:
                    raise ImageError("the blob is missing")
                out.update(digest_ranges(layer.blob, layer.compression or "none", sorted(ranges)))
            return key, out
        except Exception as e:  # cannot re-read: say so, count the files as changed
            warnings.append(f"layer {layer.short_id}: contents could not be compared ({e})")
            return key, {}

    if len(wanted) == 1:
        return dict(map(work, wanted))
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(work, list(wanted)))
