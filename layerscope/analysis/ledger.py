"""The byte ledger: every byte of every layer, in one column each.

Per layer, its tar (`uncompressed`, what its diff_id hashes) is split into
  * visible: file bytes of the final view,
  * overwritten: file bytes hidden by a later copy of the path (in a later
    layer, or later in the same tar: a path stored twice),
  * deleted: file bytes hidden by a whiteout, an opaque directory or a
    non-file in their place,
  * metadata_only: file bytes a step stored again only to change their mode or
    owner (a copy-up; visible, but a build need not store them),
  * tar_overhead: the rest -- headers, padding, PAX and long-name records,
    end blocks,
which add up to it exactly; `compressed` is the blob a pull downloads.  A layer
listed from its table of contents (eStargz, zstd:chunked) was never decoded, so
its tar and tar_overhead are unknown (None), and so are those totals.

What-ifs: what a change to the build would save.  "squash i..j" removes the
copies layers i..j store and hide among themselves; "apply all fixes"
removes the bytes of every finding of the user's layers (no byte is in two
findings).  Both count file bytes (as the tar stores them), exactly; the
compressed estimate applies each layer's own compression ratio (compressed /
uncompressed) to the bytes removed from it.
"""

from __future__ import annotations

from itertools import compress
from operator import itemgetter

from ..model import FILE, Record
from .changes import METADATA
from .stack import OVERWRITTEN, VISIBLE

COLUMNS = ("compressed", "uncompressed", "visible", "overwritten", "deleted", "metadata_only", "tar_overhead")


class LedgerRow(Record):
    __slots__ = ("index",) + COLUMNS

    def __init__(self, index: int | None, compressed: int = 0, uncompressed: int = 0, visible: int = 0,
                 overwritten: int = 0, deleted: int = 0, metadata_only: int = 0, tar_overhead: int = 0) -> None:
        self.index = index  # layer index; None for the totals
        self.compressed = compressed  # bytes of the blob
        self.uncompressed = uncompressed  # bytes of the tar
        self.visible = visible
        self.overwritten = overwritten
        self.deleted = deleted
        self.metadata_only = metadata_only
        self.tar_overhead = tar_overhead

    def as_dict(self) -> dict:
        d = {} if self.index is None else {"index": self.index}
        d.update((k, getattr(self, k)) for k in COLUMNS)
        return d


class Ledger(Record):
    __slots__ = ("layers", "totals")

    def __init__(self, layers: list[LedgerRow], totals: LedgerRow) -> None:
        self.layers = layers
        self.totals = totals


def hidden_pairs(a) -> dict[tuple[int, int, bool], int]:
    """(storing layer, hiding layer, overwritten) -> bytes stored of the hidden
    copies that cost bytes: one pass over them, shared by the ledger, the
    squash what-ifs and the Dockerfile view (made once per analysis)."""
    if a._pairs is not None:
        return a._pairs
    from ..layers import cache

    st = a.stack
    # cached beside the findings; never for sparse files, whose stored bytes the check below cannot see
    cacheable = a._cacheable and cache.cache_dir() is not None and not any(l.entries.sparse for l in st.layers)
    if cacheable:
        state = cache.load_analysis(st.layers, lambda layers, v: None, "pairs")
        if state is not None:
            try:
                a._pairs = _pairs_from_state(a, state)
                return a._pairs
            except (ValueError, TypeError):
                pass  # a state that does not fit: made again
    out: dict[tuple[int, int, bool], int] = {}
    get = out.get
    last = -1
    sizes = ha = how = sparse = None
    for L, i in a.waste.hidden_files():  # in layer order
        if L != last:
            last = L
            e = st.layers[L].entries
            sizes, ha, how, sparse = e.sizes, st.hidden_at[L], st.how[L], e.sparse
        k = (L, ha[i], how[i] == OVERWRITTEN)
        out[k] = get(k, 0) + (sizes[i] if not sparse or i not in sparse else sparse[i][0])
    if cacheable:
        cache.store_analysis(st.layers, [(L, H, over, n) for (L, H, over), n in out.items()], "pairs")
    a._pairs = out
    return out


def _pairs_from_state(a, state) -> dict[tuple[int, int, bool], int]:
    """hidden_pairs from its cached list; a ValueError (or TypeError) unless each pair is of this
    image's layers and they add up, with the paths stored twice, to its waste."""
    if not isinstance(state, list):
        raise ValueError("not hidden pairs")
    n = a.stack.n
    out = {}
    for L, H, over, b in state:
        if not (type(L) is int and type(H) is int and 0 <= L <= H < n and type(over) is bool and type(b) is int
                and b >= 0 and (L, H, over) not in out):
            raise ValueError("not a hidden pair")
        out[L, H, over] = b
    dropped = sum(n for layer in a.stack.layers for _, n in layer.entries.dropped)
    if sum(out.values()) + dropped != a.waste.wasted_bytes:
        raise ValueError("hidden pairs that do not add up to the waste")
    return out


def compute_ledger(a) -> Ledger:
    """The ledger of an ImageAnalysis.  Costs one pass over the hidden
    copies and the metadata-only copy-ups; the rest is per-layer sums in C."""
    st, w = a.stack, a.waste
    hidden = [[0, 0] for _ in range(st.n)]  # per layer: overwritten, deleted (stored bytes)
    for (L, _, over), n in hidden_pairs(a).items():
        hidden[L][0 if over else 1] += n
    rows = []
    for L, layer in enumerate(st.layers):
        e = layer.entries
        dropped = sum(map(itemgetter(1), e.dropped)) if e.dropped else 0
        files = w.layer_bytes[L] - dropped  # real sizes of the layer's file entries
        if e.sparse:  # a sparse file stores only its data
            files -= sum(e.sizes[i] - s for i, (s, _) in e.sparse.items() if e.types[i] == FILE)
        meta = 0
        kind = a.kinds.kind[L] if a.kinds is not None else b""
        if METADATA in kind:
            ha = st.hidden_at[L]
            for i in compress(range(len(kind)), map(METADATA.__eq__, kind)):
                if e.types[i] == FILE and (ha[i] == VISIBLE or i in w.protected[L]):
                    meta += e.stored_size(i)
        over, deleted = hidden[L]
        over += dropped
        visible = files - (over - dropped) - deleted - meta
        # a layer listed from its table of contents was never decoded: its tar's length is unknown
        tar = layer.uncompressed_size if layer.uncompressed_size >= 0 else None
        rows.append(LedgerRow(L, layer.compressed_size, tar, visible, over, deleted, meta,
                              None if tar is None else tar - visible - over - deleted - meta))
    totals = LedgerRow(None, *(_total(getattr(r, k) for r in rows) for k in COLUMNS))
    return Ledger(rows, totals)


def _total(values) -> int | None:
    values = list(values)
    return None if None in values else sum(values)


# -- what-ifs -------------------------------------------------------------------
class WhatIf(Record):
    __slots__ = ("change", "uncompressed_saved", "compressed_saved_estimate", "layers")

    def __init__(self, change: str, uncompressed_saved: int, compressed_saved_estimate: int,
                 layers: dict[int, int]) -> None:
        self.change = change  # "squash 3..5", "apply all fixes", ...
        self.uncompressed_saved = uncompressed_saved
        self.compressed_saved_estimate = compressed_saved_estimate
        self.layers = layers  # layer -> bytes removed from it


def ratio(layer) -> float:
    """A layer's compressed bytes per tar byte (1.0 for an uncompressed blob)."""
    if (layer.compression or "none") == "none":
        return 1.0
    tar = layer.uncompressed_size
    if tar < 0 and layer.entries is not None:  # listed from its table of contents: its files' bytes instead
        tar = sum(layer.entries.sizes)
    return layer.compressed_size / tar if tar > 0 else 1.0


def what_if(a, change: str, removed: dict[int, int]) -> WhatIf:
    """A what-if of `removed` bytes per layer: saved exactly, and compressed
    by each layer's own ratio."""
    est = sum(round(n * ratio(a.layers[L])) for L, n in removed.items())
    return WhatIf(change, sum(removed.values()), est, dict(sorted(removed.items())))


def squash(a, i: int, j: int) -> WhatIf:
    """Layers i..j made one: the copies they store that a layer of i..j
    hides (and the paths a tar of theirs stores twice) are gone."""
    st = a.stack
    removed: dict[int, int] = {}
    for (L, H, _), n in hidden_pairs(a).items():
        if i <= L <= j and H <= j:
            removed[L] = removed.get(L, 0) + n
    for L in range(max(i, 0), min(j, st.n - 1) + 1):
        d = st.layers[L].entries.dropped
        if d:
            removed[L] = removed.get(L, 0) + sum(map(itemgetter(1), d))
    return what_if(a, f"squash {i}..{j}", removed)


def squash_runs(a) -> list[tuple[int, int]]:
    """The runs of consecutive user layers that hide each other's bytes:
    every (storing layer, hiding layer) span of a hidden copy, merged where
    they overlap.  Base layers are left out (squashing them into the user's
    steps would stop them being shared)."""
    base = a.waste.base_layers
    spans: dict[int, int] = {}
    for L, H, _ in hidden_pairs(a):
        if L >= base and H > spans.get(L, L):
            spans[L] = H
    runs: list[list[int]] = []
    for L in sorted(spans):
        H = spans[L]
        if runs and L <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], H)
        else:
            runs.append([L, H])
    return [(s, e) for s, e in runs]


def apply_fixes(a, base: bool = False) -> WhatIf:
    """Every finding's bytes removed: the user's layers' findings, or with
    `base`, the base image's too."""
    from .pkgfindings import KINDS as PACKAGE_KINDS  # their bytes are in the other findings already, or overlap them

    removed: dict[int, int] = {}
    for f in a.findings():
        if (base or not f.base) and f.kind not in PACKAGE_KINDS:
            removed[f.layer] = removed.get(f.layer, 0) + f.bytes
    return what_if(a, "apply all fixes, base image too" if base else "apply all fixes", removed)


def what_ifs(a, squashes: list[tuple[int, int]] | None = None) -> list[WhatIf]:
    """The what-ifs of the report: each squash asked for (else each run of
    user layers that hide each other's bytes), the whole of the user's
    layers squashed when that is more than one run, and applying every fix."""
    n = a.stack.n
    base = a.waste.base_layers
    ranges = list(squashes) if squashes else squash_runs(a)
    if not squashes and len(ranges) > 1:
        ranges.append((base, n - 1))
    out = [squash(a, i, j) for i, j in dict.fromkeys(ranges)]
    out.append(apply_fixes(a))
    if any(f.base for f in a.findings()):
        out.append(apply_fixes(a, base=True))
    return out
