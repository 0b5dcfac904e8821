"""Layers that carry their own table of contents: eStargz (a gzip layer whose
last members hold `stargz.index.json`, found by a 51-byte footer) and
zstd:chunked (a zstd layer whose manifest sits in a skippable frame named by
the descriptor's `...zstd-chunked.manifest-position` annotation).  Both TOCs
list every tar entry with its metadata and, for a regular file, where its
compressed contents start in the blob, so a layer can be listed, and one
file read, without the rest of the blob.

What is here is pure: the bytes of a TOC become LayerEntries (through the
tar walker's own batch rules, so paths, whiteouts and links come out as a
walk of the tar gives them) and a map from each file's `offsets` value to
the compressed ranges holding its contents.  A listed layer's `offsets` are
these keys, not offsets in the tar stream: its contents are read through
the map (formats/registry.py), never from a decoded stream.
"""

from __future__ import annotations

import io
import json
from array import array
from datetime import datetime

from ..errors import LayerError
from ..model import BLOCK, CHAR, DIR, FIFO, FILE, HARDLINK, SYMLINK, LayerEntries

ESTARGZ_TOC_DIGEST = "containerd.io/snapshot/stargz/toc.digest"
ESTARGZ_USIZE = "io.containers.estargz.uncompressed-size"
ZSTD_CHUNKED_POSITIONS = ("io.github.containers.zstd-chunked.manifest-position",
                          "io.containers.zstd-chunked.manifest-position")
ZSTD_CHUNKED_CHECKSUMS = ("io.github.containers.zstd-chunked.manifest-checksum",
                          "io.containers.zstd-chunked.manifest-checksum")
ESTARGZ_FOOTER = 51
MAX_TOC = 64 << 20  # a TOC of a million entries is ~200 MB of JSON; that many are refused with the rest
MAX_ENTRIES = 2_000_000

_TYPES = {"reg": FILE, "dir": DIR, "symlink": SYMLINK, "hardlink": HARDLINK, "char": CHAR, "block": BLOCK,
          "fifo": FIFO}


class Chunk:
    """Where one piece of a file is: the compressed range [start, end) of the
    blob, decoding to `size` bytes (after `skip` bytes) that hash to `digest`."""

    __slots__ = ("start", "end", "size", "skip", "digest")

    def __init__(self, start: int, end: int, size: int, skip: int, digest: str) -> None:
        self.start, self.end, self.size, self.skip, self.digest = start, end, size, skip, digest


class Toc:
    """A TOC read into the walker's form: `entries`, and `chunks`, each
    listed regular file's `offsets` value -> its pieces, in order."""

    def __init__(self, entries: LayerEntries, chunks: dict[int, list[Chunk]], digests: dict[int, str],
                 warnings: list[str]) -> None:
        self.entries = entries
        self.chunks = chunks
        self.digests = digests  # `offsets` value -> the digest the TOC gives the whole file's contents
        self.warnings = warnings


def estargz_toc_offset(footer: bytes) -> int | None:
    """The TOC's offset from an eStargz footer (the empty gzip member whose
    extra field says `%016xSTARGZ`), None when it is no such footer."""
    if len(footer) != ESTARGZ_FOOTER or footer[:4] != b"\x1f\x8b\x08\x04":
        return None
    xlen = int.from_bytes(footer[10:12], "little")
    extra = footer[12:12 + xlen]
    if extra[:2] == b"SG" and len(extra) >= 26:  # the subfield of later versions
        sub = extra[4:4 + int.from_bytes(extra[2:4], "little")]
    else:
        sub = extra
    if len(sub) != 22 or sub[16:] != b"STARGZ":
        return None
    try:
        return int(sub[:16], 16)
    except ValueError:
        return None


def zstd_chunked_position(annotations: dict) -> tuple[int, int, int] | None:
    """(offset, compressed length, uncompressed length) of a zstd:chunked
    manifest, from the descriptor's annotation; None without one (or with a
    manifest of another type than JSON)."""
    for key in ZSTD_CHUNKED_POSITIONS:
        text = annotations.get(key)
        if isinstance(text, str):
            parts = text.split(":")
            try:
                off, length, ulength, kind = (int(p) for p in parts[:4])
            except ValueError:
                return None
            if len(parts) != 4 or kind != 1 or min(off, length, ulength) < 0:
                return None
            return off, length, ulength
    return None


def _mtime(text) -> int:
    if not isinstance(text, str) or not text:
        return 0
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() // 1)
    except (ValueError, OverflowError):
        return 0


def _int(doc: dict, key: str, place: str) -> int:
    v = doc.get(key, 0)
    if v is None:
        return 0
    if type(v) is not int or v < 0:
        raise LayerError(f"the layer's table of contents gives {key} {str(v)[:40]!r}", place)
    return v


def parse(data: bytes, blob_size: int, toc_start: int, place: str) -> Toc:
    """Read a TOC's JSON (`toc_start`: where the TOC itself starts in the
    blob, the end of the last file's range)."""
    from .tarbatch import Batch
    from .tarwalk import TarIndexer

    if data.count(b"{") > MAX_ENTRIES:
        raise LayerError(f"the layer's table of contents lists more than {MAX_ENTRIES:,} entries", place)
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise LayerError(f"the layer's table of contents is not JSON ({str(e)[:80]})", place) from None
    items = doc.get("entries") if isinstance(doc, dict) else None
    if not isinstance(items, list) or doc.get("version") != 1:
        raise LayerError("the layer's table of contents is of no version layerscope reads", place)
    names: list[str] = []
    types = bytearray()
    sizes, modes, uids, gids, mtimes, offsets = (array(t) for t in "qIIIqq")
    links: dict[int, str] = {}
    chunks: dict[int, list[Chunk]] = {}
    digests: dict[int, str] = {}
    starts: list[int] = []  # each piece's start: its end is the next start (or the TOC)
    last: list[Chunk] | None = None
    for e in items:
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            raise LayerError("the layer's table of contents has an entry without a name", place)
        kind = e.get("type")
        if kind == "chunk":
            if last is None:
                raise LayerError("the layer's table of contents has a chunk of no file", place)
            start = _int(e, "offset", place)
            last.append(Chunk(start, _int(e, "endOffset", place), _int(e, "chunkSize", place),
                              _int(e, "chunkOffset", place), str(e.get("chunkDigest") or "")))
            starts.append(start)
            continue
        typ = _TYPES.get(kind)
        if typ is None:
            raise LayerError(f"the layer's table of contents has an entry of type {str(kind)[:20]!r}", place)
        size = _int(e, "size", place) if typ == FILE else 0
        off = 0
        last = None
        if typ == FILE and size:
            off = _int(e, "offset", place)
            if not 0 <= off < blob_size:
                raise LayerError(f"the layer's table of contents places a file at byte {off:,}", place)
            last = chunks[off] = [Chunk(off, _int(e, "endOffset", place), _int(e, "chunkSize", place) or size, 0,
                                        str(e.get("chunkDigest") or ""))]
            starts.append(off)
            if isinstance(e.get("digest"), str) and e["digest"].startswith(("sha256:", "sha512:")):
                digests[off] = e["digest"]
        names.append(e["name"] + ("/" if typ == DIR and not e["name"].endswith("/") else ""))
        types.append(typ)
        sizes.append(size)
        modes.append(_int(e, "mode", place) & 0o7777)
        uids.append(_int(e, "uid", place) & 0xFFFFFFFF)
        gids.append(_int(e, "gid", place) & 0xFFFFFFFF)
        mtimes.append(_mtime(e.get("modtime")))
        offsets.append(off)
        if typ in (SYMLINK, HARDLINK):
            links[len(names) - 1] = str(e.get("linkName") or "")
    # a piece without its end (eStargz gives none) ends where the next one starts
    ends = sorted(set(starts)) + [toc_start]
    nxt = {s: ends[k + 1] for k, s in enumerate(ends[:-1])}
    for pieces in chunks.values():
        total = 0
        for c in pieces:
            if not c.end:
                c.end = nxt[c.start]
            if not c.start < c.end <= blob_size:
                raise LayerError(f"the layer's table of contents gives a file the bytes {c.start:,}-{c.end:,}",
                                 place)
            total += c.size
    walker = TarIndexer(b"", None, None, place)
    walker.escaped = 0
    entries = LayerEntries()
    walker._add_batch(entries, Batch(names, types, sizes, modes, uids, gids, mtimes, links), offsets)
    entries.captured.clear()  # the walker keeps os-release from bytes it has: here it has none
    entries = entries.dedupe()
    return Toc(entries, chunks, digests, walker.warnings)


class Body(io.RawIOBase):
    """An iterator of byte strings as a file, for the decoders to pull from."""

    def __init__(self, chunks) -> None:
        self.chunks = iter(chunks)
        self.head = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self.head:
            nxt = next(self.chunks, None)
            if nxt is None:
                return 0
            self.head = memoryview(nxt)
        n = min(len(b), len(self.head))
        b[:n] = self.head[:n]
        self.head = self.head[n:]
        return n


STEP = 1 << 20


def read_piece(body, comp: str, piece: Chunk, want: int, place: str) -> bytes:
    """The first `want` bytes a piece holds, from `body` (an iterator of the
    compressed bytes of [start, end)).  The whole piece is decoded, a step at
    a time (a piece that expands without bound never is in memory), so that
    its digest, when the TOC gives one, is checked before anything is used."""
    import hashlib

    raw = Body(body)
    if comp == "zstd":
        import zstandard

        stream = zstandard.ZstdDecompressor().stream_reader(raw, read_size=STEP, read_across_frames=True)
    else:
        from isal.igzip import IGzipFile

        stream = IGzipFile(fileobj=raw, mode="rb")  # member after member (eStargz: one per file)
    alg, _, hexd = piece.digest.partition(":")
    h = hashlib.new(alg) if hexd and alg in ("sha256", "sha512") else None
    out = bytearray()
    skip, left = piece.skip, piece.size
    try:
        while skip:
            got = stream.read(min(skip, STEP))
            if not got:
                break
            skip -= len(got)
        while left:
            got = stream.read(min(left, STEP))
            if not got:
                break
            left -= len(got)
            if h is not None:
                h.update(got)
            if len(out) < want:
                out += got[:want - len(out)]
    except LayerError:
        raise
    except Exception as e:  # a corrupt frame or member, or one cut short
        raise LayerError(f"a file's compressed bytes at {piece.start:,} cannot be decoded ({type(e).__name__}: "
                         f"{str(e)[:80]})", place) from None
    if left or skip:
        raise LayerError(f"a file's compressed bytes at {piece.start:,} hold {piece.size - left:,} of its "
                         f"{piece.size:,} bytes", place)
    if h is not None and h.hexdigest() != hexd:
        raise LayerError(f"a file's bytes at {piece.start:,} are not the ones its table of contents gives "
                         "(a corrupt or tampered layer)", place)
    return bytes(out)
