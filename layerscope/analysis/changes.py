"""What kind of change a modified entry is: new content, metadata only
(a chmod/chown copy-up), or nothing at all (an identical copy).

"Same content" is decided by size, then by the bytes: two copies in
uncompressed layers are compared in place; otherwise by a BLAKE3 digest of
both copies -- computed while a compressed layer was indexed (it streamed
past anyway), or else only for the candidate pairs (same size, both regular
files), each layer's candidates hashed in one pass over its stream.
"""

from __future__ import annotations

from ..layers import cache
from ..layers.contents import digest_ranges, listed_same, same_bytes
from ..model import FILE
from .stack import MODIFIED, Stack

CONTENT = ord("c")
METADATA = ord("m")
SAME = ord("s")
KIND_NAMES = {CONTENT: "content", METADATA: "metadata-only", SAME: "duplicate"}


def _meta_equal(a, i, b, j) -> bool:
    return a.modes[i] == b.modes[j] and a.uids[i] == b.uids[j] and a.gids[i] == b.gids[j]


def _positions(data: bytearray, value: int):
    """Indexes of `value` in `data`, found in C (most entries are not modified)."""
    i = data.find(value)
    while i >= 0:
        yield i
        i = data.find(value, i + 1)


class ChangeKinds:
    def __init__(self, stack: Stack, hash_contents: bool = True, kinds: list[bytes] | None = None):
        self.stack = stack
        self.hashed_pairs = 0
        self.hash_errors: list[str] = []
        if kinds is not None:  # from the cache
            if [len(k) for k in kinds] != [len(l.entries) for l in stack.layers]:
                raise ValueError("change kinds do not fit the layers")
            self.kind = [bytearray(k) for k in kinds]
            return
        self.kind: list[bytearray] = [bytearray(len(l.entries)) for l in stack.layers]
        self._compute(hash_contents)

    def _compute(self, hash_contents: bool) -> None:
        st = self.stack
        pending: list[tuple[int, int, int, int]] = []  # (L, i, l, j) needing digests
        for L, layer in enumerate(st.layers):
            e = layer.entries
            ch = st.change[L]
            pl, pi = st.prev_layer[L], st.prev_index[L]
            kind = self.kind[L]
            for i in _positions(ch, MODIFIED):
                l, j = pl[i], pi[i]
                if l < 0:
                    kind[i] = CONTENT  # replaced an implied dir
                    continue
                o = st.layers[l].entries
                t = e.types[i]
                if t != o.types[j]:
                    kind[i] = CONTENT
                elif t == FILE:
                    if e.sizes[i] != o.sizes[j]:
                        kind[i] = CONTENT
                    elif (e.sparse or o.sparse) and not e.same_layout(i, o, j):
                        # a sparse file and a plain one, or other maps: their stored bytes
                        # do not say, and the holes are not read (they may be huge)
                        kind[i] = CONTENT
                    elif e.stored_size(i) == 0:
                        kind[i] = SAME if _meta_equal(e, i, o, j) else METADATA
                    else:
                        pending.append((L, i, l, j))
                        kind[i] = METADATA if not _meta_equal(e, i, o, j) else SAME
                elif e.links.get(i) != o.links.get(j):
                    kind[i] = CONTENT
                else:
                    kind[i] = SAME if _meta_equal(e, i, o, j) else METADATA
        if not pending:
            return
        if not hash_contents:
            # without digests, same-size copies are reported as content changes
            for L, i, _, _ in pending:
                self.kind[L][i] = CONTENT
            return
        # Both copies in layers listed from their tables of contents (eStargz,
        # zstd:chunked, from a registry): the tables give their digests.
        rest = []
        for item in pending:
            L, i, l, j = item
            same = listed_same(st.layers[L].blob, st.layers[L].entries.offsets[i], st.layers[l].blob,
                               st.layers[l].entries.offsets[j]) if st.layers[L].blob and st.layers[l].blob else None
            if same is None:
                rest.append(item)
                continue
            if not same:
                self.kind[L][i] = CONTENT
            self.hashed_pairs += 1
        pending = rest
        # Both copies in uncompressed layers: compare the bytes in place
        # (read in 1 MiB steps and compared in C; no hashing, nothing kept).
        direct = []
        rest = []
        for item in pending:
            L, i, l, j = item
            if (st.layers[L].compression or "none") == "none" and (st.layers[l].compression or "none") == "none":
                direct.append(item)
            else:
                rest.append(item)
        for L, i, l, j in direct:
            ea, eb = st.layers[L].entries, st.layers[l].entries
            if not same_bytes(st.layers[L].blob, ea.offsets[i], st.layers[l].blob, eb.offsets[j], ea.stored_size(i)):
                self.kind[L][i] = CONTENT
            self.hashed_pairs += 1
        pending = rest
        if not pending:
            return
        # digests computed while indexing (compressed layers, hashed as they
        # streamed past); the rest are read now
        digests: dict[int, dict[int, str]] = {}
        wanted: dict[int, set[tuple[int, int]]] = {}
        for L, i, l, j in pending:
            for x, k in ((L, i), (l, j)):
                e = st.layers[x].entries
                d = e.digest(k)
                if d is not None:
                    digests.setdefault(x, {})[e.offsets[k]] = d.hex()
                else:
                    wanted.setdefault(x, set()).add((e.offsets[k], e.stored_size(k)))

        def work(L: int):
            layer = st.layers[L]
            try:
                # digests from an earlier open (a compressed layer would have
                # to be decoded again to get them)
                known = cache.load_digests(layer)
                missing = sorted(r for r in wanted[L] if r[0] not in known)
                if missing:
                    known.update(digest_ranges(layer.blob, layer.compression or "none", missing))
                    cache.store_digests(layer, known)
                return L, known
            except Exception as e:  # a layer that cannot be re-read: say so, do not guess
                self.hash_errors.append(f"layer {layer.short_id}: {e}")
                return L, {}

        from concurrent.futures import ThreadPoolExecutor

        if wanted:
            with ThreadPoolExecutor(max_workers=2) as pool:
                for x, known in pool.map(work, sorted(wanted)):
                    digests.setdefault(x, {}).update(known)
        for L, i, l, j in pending:
            a = digests.get(L, {}).get(st.layers[L].entries.offsets[i])
            b = digests.get(l, {}).get(st.layers[l].entries.offsets[j])
            if a is None or b is None or a != b:
                self.kind[L][i] = CONTENT
            self.hashed_pairs += 1
