"""File contents, read on demand: byte ranges of a layer's tar stream
(previews, extraction), comparing two stored copies in place, content
digests, and hashing a whole blob for --verify.  Nothing here is read
while indexing."""

from __future__ import annotations

import os
from _thread import _local as _thread_local  # threading.local without importing threading
from collections.abc import Callable, Iterator

from ..errors import ImageError, LayerError
from ..model import DIGEST_SIZE, BlobRef
from . import partial, seekindex, sparse
from .blobs import blob_view, fd_of, mapped
from .compression import open_stream

# -- blobs still in a registry ------------------------------------------------
# A registry layer whose index came from the cache is not downloaded while
# the image opens: its blob is fetched by the first read of its contents.
_fetchers: dict[str, Callable[[], None]] = {}


def fetch_on_demand(file: str, fetch: Callable[[], None]) -> None:
    """`fetch()` brings the blob at `file` (checked against its digest)
    before any of its bytes are read."""
    _fetchers[file] = fetch


def _listed_read(ref: BlobRef, offset: int, n: int) -> bytes | None:
    reader = partial.reader(ref.file)
    if reader is None:
        return None
    try:
        return reader.read(offset, n)
    except LayerError:
        raise
    except ImageError as e:
        raise LayerError(e.message, e.place) from None


def listed_same(a: BlobRef, off_a: int, b: BlobRef, off_b: int) -> bool | None:
    """Whether two files of layers listed from their tables of contents hold
    the same bytes, by the digests the tables give them; None when either is
    not such a file (then its bytes must be read)."""
    ra, rb = partial.reader(a.file), partial.reader(b.file)
    da = ra.file_digest(off_a) if ra is not None else None
    db = rb.file_digest(off_b) if rb is not None else None
    return None if da is None or db is None else da == db


def _ready(ref: BlobRef) -> None:
    fetch = _fetchers.get(ref.file)
    if fetch is None:
        return
    try:
        fetch()
    except LayerError:
        raise
    except ImageError as e:  # a registry's failure, said as the layer's: readers handle LayerError
        raise LayerError(e.message, e.place) from None
    _fetchers.pop(ref.file, None)


# -- reading contents on demand ----------------------------------------------
def read_range(ref: BlobRef, compression: str, offset: int, size: int, cap: int | None = None) -> bytes:
    """Bytes [offset, offset+size) of the uncompressed layer stream (at most
    `cap` of them).  Over an uncompressed blob this is a slice; over a
    compressed one the stream is decoded up to the offset."""
    n = size if cap is None else min(size, cap)
    if partial.listed(ref.file):
        return _listed_read(ref, offset, n)
    _ready(ref)
    view = blob_view(ref)
    if compression == "none":
        if mapped(ref.file):
            # read, not sliced from the mapping: the pages read stay out of this process's memory
            # (the findings read the heads of same-size files all over a big layer)
            n = max(0, min(n, len(view) - offset))
            return os.pread(fd_of(ref.file), n, ref.offset + offset) if n else b""
        return bytes(view[offset:offset + n])
    if seekindex.wanted(ref, compression):
        seeker = seekindex.Seeker(ref)
        try:
            return seeker.read(offset, n)
        finally:
            seeker.close()
    stream = open_stream(view, compression, ref)
    _discard(stream, offset)
    return stream.read(n)


# a sparse file read whole (no cap) is made in memory: its real size, not
# what the layer stores, so it is bounded here
SPARSE_WHOLE_MAX = 1 << 30


def read_sparse(ref: BlobRef, compression: str, offset: int, stored: tuple, size: int,
                cap: int | None = None) -> bytes:
    """The first `cap` bytes (all `size` by default) of a sparse file whose
    stored data starts at `offset`; `stored` is its (bytes stored, map) from
    `LayerEntries.sparse`.  Only the stored bytes inside the first `cap` are
    read; the holes are zeros."""
    n = size if cap is None else min(size, cap)
    if n > SPARSE_WHOLE_MAX:
        raise LayerError(f"a sparse file of {size:,} bytes is too large to read whole", ref.name)
    smap = stored[1]
    need = sparse.stored_within(smap, n)
    return sparse.expand([read_range(ref, compression, offset, need)] if need else [], smap, n)


def _discard(stream, n: int) -> None:
    while n > 0:
        chunk = stream.read(min(n, 4 << 20))
        if not chunk:
            raise LayerError("the layer ended before the requested file")
        n -= len(chunk)


def _view_chunks(view: memoryview, off: int, size: int, ref: BlobRef | None = None) -> Iterator[bytes]:
    """A range of an uncompressed blob in bounded chunks: a 5 GB file is
    never one bytes object.  With `ref`, read with pread (the bytes come from
    the page cache without being mapped into this process: no RSS growth)."""
    end = off + size
    if ref is not None and mapped(ref.file):
        fd = fd_of(ref.file)
        for o in range(off, end, 4 << 20):
            n = min(4 << 20, end - o)
            b = os.pread(fd, n, ref.offset + o)
            if len(b) != n:
                raise LayerError("the layer ended inside a file", ref.name)
            yield b
        return
    for o in range(off, end, 4 << 20):
        yield bytes(view[o:min(o + (4 << 20), end)])


_CMP_STEP = 1 << 20


_cmp_bufs = _thread_local()  # each thread compares with buffers of its own


def same_bytes(a: BlobRef, off_a: int, b: BlobRef, off_b: int, size: int) -> bool:
    """Whether two ranges of uncompressed blobs hold the same bytes: read
    with pread into two reused 1 MiB buffers and compared in C (memcmp),
    never mapped, so comparing big copies costs no memory."""
    _ready(a)
    _ready(b)
    bufs = getattr(_cmp_bufs, "pair", None)
    if bufs is None:
        bufs = _cmp_bufs.pair = (bytearray(_CMP_STEP), bytearray(_CMP_STEP))
    ba, bb = bufs
    fa, fb = fd_of(a.file), fd_of(b.file)
    pa, pb = a.offset + off_a, b.offset + off_b
    if off_a + size > a.size or off_b + size > b.size:
        return False
    k = 0
    while size - k >= _CMP_STEP:
        if os.preadv(fa, [ba], pa + k) != _CMP_STEP or os.preadv(fb, [bb], pb + k) != _CMP_STEP:
            return False
        if ba != bb:
            return False
        k += _CMP_STEP
    n = size - k
    return n == 0 or os.pread(fa, n, pa + k) == os.pread(fb, n, pb + k)


def iter_ranges(ref: BlobRef, compression: str, wanted: list[tuple[int, int]]) -> Iterator[tuple[int, Iterator[bytes]]]:
    """For sorted (offset, size) ranges, yield (offset, chunks) in one pass
    over the layer stream (one decode for many files)."""
    if partial.listed(ref.file):
        for off, size in wanted:
            yield off, iter([_listed_read(ref, off, size)])
        return
    _ready(ref)
    view = blob_view(ref)
    if compression == "none":
        for off, size in wanted:
            if off + size > len(view):
                raise LayerError("the layer ended inside a file", ref.name)
            yield off, _view_chunks(view, off, size, ref)
        return
    if seekindex.wanted(ref, compression):
        seeker = seekindex.Seeker(ref)  # each range from its nearest checkpoint
        try:
            for off, size in wanted:
                yield off, seeker.chunks(off, size)
        finally:
            seeker.close()
        return
    stream = open_stream(view, compression, ref)
    pos = 0
    for off, size in wanted:
        if off < pos:
            continue
        _discard(stream, off - pos)

        def chunks(size=size):
            left = size
            while left > 0:
                c = stream.read(min(left, 4 << 20))
                if not c:
                    raise LayerError("the layer ended inside a file")
                left -= len(c)
                yield c
        yield off, chunks()
        pos = off + size


def digest_ranges(ref: BlobRef, compression: str, wanted: list[tuple[int, int]]) -> dict[int, str]:
    """Content digest (BLAKE3, DIGEST_SIZE bytes, hex; the same digest the tar
    walker computes with hashing on) of each (offset, size) range of the
    uncompressed layer."""
    from blake3 import blake3

    out = {}
    for off, chunks in iter_ranges(ref, compression, sorted(set(wanted))):
        h = blake3()
        for c in chunks:
            h.update(c)
        out[off] = h.digest(DIGEST_SIZE).hex()
    return out


def digest_blob(ref: BlobRef, uncompressed: str | None = None) -> str:
    """sha256 of the stored blob, or of its uncompressed stream when
    `uncompressed` names its compression."""
    import hashlib

    _ready(ref)
    view = blob_view(ref)
    h = hashlib.sha256()
    if uncompressed is None or uncompressed == "none":
        for i in range(0, len(view), 8 << 20):
            h.update(view[i:i + (8 << 20)])
    else:
        stream = open_stream(view, uncompressed, ref)
        while True:
            c = stream.read(8 << 20)
            if not c:
                break
            h.update(c)
    return "sha256:" + h.hexdigest()
