"""Blob bytes: mmap views of byte ranges, compression detected from magic
bytes, decompression in C (ISA-L for gzip, zstandard for zstd), and indexing
a layer blob into entries with the tar walker.

Contents are never loaded whole: an uncompressed layer is walked over the
mmap; a compressed one is streamed through the decoder.
"""

from __future__ import annotations

import io
import mmap
import os
from _thread import allocate_lock  # threading.Lock itself, without importing threading (1 ms)
from collections.abc import Iterator

from .errors import LayerError
from .gzipstream import GzipStream
from .model import DIGEST_SIZE, BlobRef
from .tarwalk import TarIndexer

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_SKIPPABLE = range(0x184D2A50, 0x184D2A60)
# deflate cannot expand more than ~1032:1; anything beyond this ratio (with a
# floor for tiny blobs) is treated as a decompression bomb and cut short.
BOMB_RATIO = 1100
BOMB_FLOOR = 256 << 20
# below the bomb limit, a layer that still expands this much gets a note
NOTE_RATIO = 100
NOTE_MIN_BYTES = 256 << 20

_maps: dict[str, mmap.mmap | bytes] = {}
_maps_lock = allocate_lock()


def file_view(path: str) -> memoryview:
    """A read-only view of a whole file, mmapped once per process."""
    with _maps_lock:
        m = _maps.get(path)
        if m is None:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            _maps[path] = m
    return memoryview(m)


def forget(path: str) -> None:
    """Unmap one file and close its descriptor (a long-lived process that
    reads many files one after another, such as the fuzzer)."""
    with _maps_lock:
        m = _maps.pop(path, None)
        fd = _fds.pop(path, None)
    _close(m, fd)


def close_all() -> None:
    """Unmap every file mapped so far (for long-lived processes that open
    many archives one after another, and for tests)."""
    with _maps_lock:
        paths = set(_maps) | set(_fds)
    for path in paths:
        forget(path)


def _close(m, fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass
    if isinstance(m, mmap.mmap):
        try:
            m.close()
        except BufferError:
            pass  # a view still points into it: the mapping goes when that does


def release(ref: BlobRef) -> None:
    """Drop the mapped pages of a blob from this process (they stay in the
    page cache): walking a 10 GB uncompressed layer must not look like
    10 GB of memory."""
    _release_range(ref.file, ref.offset, ref.offset + ref.size)


def _release_range(file: str, start: int, end: int) -> None:
    m = _maps.get(file)
    if not isinstance(m, mmap.mmap) or not hasattr(m, "madvise"):
        return
    page = mmap.PAGESIZE
    start -= start % page
    end = min(len(m), end)
    if end <= start:
        return
    try:
        m.madvise(mmap.MADV_DONTNEED, start, end - start)
    except (OSError, ValueError):
        pass


def blob_view(ref: BlobRef) -> memoryview:
    view = file_view(ref.file)
    end = ref.offset + ref.size
    if end > len(view):
        raise LayerError(f"blob is truncated ({len(view) - ref.offset} of {ref.size} bytes present)", ref.name)
    return view[ref.offset:end]


def sniff(head: bytes) -> str:
    """'gzip', 'zstd', 'none' (a tar), or a name for what it is not."""
    if head[:2] == GZIP_MAGIC:
        return "gzip"
    if head[:4] == ZSTD_MAGIC:
        return "zstd"
    if len(head) >= 4 and int.from_bytes(head[:4], "little") in ZSTD_SKIPPABLE:
        return "zstd"
    if head[:3] == b"BZh":
        return "bzip2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if len(head) >= 263 and head[257:262] == b"ustar":
        return "none"
    if len(head) == 0:
        return "none"  # an empty layer
    if len(head) >= 512 and not any(head[:512]):
        return "none"  # an empty tar (end-of-archive blocks only)
    if len(head) >= 512:
        # old v7 tar: no magic, but a valid checksum
        hdr = head[:512]
        try:
            stored = int(hdr[148:156].split(b"\0", 1)[0].strip() or b"-1", 8)
        except ValueError:
            stored = -1
        if stored == sum(hdr) - sum(hdr[148:156]) + 256:
            return "none"
    return "unknown"


class _ViewReader(io.RawIOBase):
    """A file object over a memoryview, for the decoders to pull from."""

    RELEASE_EVERY = 1 << 20

    def __init__(self, view: memoryview, ref: BlobRef | None = None):
        self.view = view
        self.pos = 0
        self.ref = ref  # when known, pages already consumed are dropped as we go
        self.released = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(len(b), len(self.view) - self.pos)
        b[:n] = self.view[self.pos:self.pos + n]
        self.pos += n
        if self.ref is not None and self.pos - self.released >= self.RELEASE_EVERY:
            _release_range(self.ref.file, self.ref.offset + self.released, self.ref.offset + self.pos)
            self.released = self.pos
        return n


def _gzip_reader(view: memoryview, ref: BlobRef | None = None) -> GzipStream:
    if ref is None:
        return GzipStream(view)

    def release(a: int, b: int) -> None:
        _release_range(ref.file, ref.offset + a, ref.offset + b)

    try:  # a descriptor of the stream's own, closed with it (the process may open many blobs)
        fd = os.open(ref.file, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return GzipStream(view, release)  # then through the mapped pages
    stream = GzipStream(view, release, lambda buf, off: os.preadv(fd, [buf], ref.offset + off))
    import weakref  # here: a one-layer uncompressed image never needs it

    weakref.finalize(stream, os.close, fd)
    return stream


def _zstd_reader(view: memoryview, ref: BlobRef | None = None):
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(_ViewReader(view, ref), read_size=1 << 20,
                                                       read_across_frames=True)


ZSTD_FRAME = 0xFD2FB528


def zstd_truncation(view: memoryview) -> str | None:
    """Walk the zstd frame and block headers (no decoding; a few bytes per
    128 KiB block): a message when the stream ends inside a frame, else None.
    The decoder itself does not say so: at the end of its input it just
    stops, so a cut zstd layer would look like a shorter (or empty) tar."""
    n = len(view)
    pos = 0
    while pos < n:
        if n - pos < 8:
            return f"the zstd stream ends early (a partial frame header at byte {pos})"
        magic = int.from_bytes(view[pos:pos + 4], "little")
        if magic in ZSTD_SKIPPABLE:
            pos += 8 + int.from_bytes(view[pos + 4:pos + 8], "little")
            if pos > n:
                return "the zstd stream ends early (inside a skippable frame)"
            continue
        if magic != ZSTD_FRAME:
            return None  # not a frame: the decoder reports what it is
        fhd = view[pos + 4]
        single = (fhd >> 5) & 1
        pos += 5 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + ((1 if single else 0), 2, 4, 8)[fhd >> 6]
        while True:
            if pos + 3 > n:
                return f"the zstd stream ends early (inside the frame ending at byte {n})"
            bh = int.from_bytes(view[pos:pos + 3], "little")
            btype = (bh >> 1) & 3
            if btype == 3:
                return None  # a reserved block type: corrupt, the decoder says so
            pos += 3 + (1 if btype == 1 else bh >> 3)
            if pos > n:
                return f"the zstd stream ends early (inside a block ending at byte {n})"
            if bh & 1:
                break
        if (fhd >> 2) & 1:
            pos += 4
            if pos > n:
                return "the zstd stream ends early (inside a frame checksum)"
    return None


def open_stream(view: memoryview, compression: str, ref: BlobRef | None = None):
    """A file object yielding the uncompressed tar stream."""
    if compression == "gzip":
        return _gzip_reader(view, ref)
    if compression == "zstd":
        return _zstd_reader(view, ref)
    return _ViewReader(view, ref)


def _decode_error(exc: BaseException) -> str:
    msg = str(exc) or type(exc).__name__
    return msg.splitlines()[0] if msg else type(exc).__name__


def index_blob(ref: BlobRef, media_type: str = "", place: str | None = None, hash_files: bool = False):
    """Index a layer blob.  Returns (entries, compression, uncompressed_size,
    warnings, bomb).  Raises LayerError when the blob cannot be read.

    With `hash_files`, a compressed layer's regular files are hashed as they
    stream past (an uncompressed one is compared in place later instead)."""
    place = place or ref.name
    if "encrypted" in media_type:
        raise LayerError("the layer is encrypted (ocicrypt); it cannot be read without its key", place)
    view = blob_view(ref)
    comp = sniff(bytes(view[:512]))
    if comp in ("bzip2", "xz"):
        raise LayerError(f"{comp}-compressed layers are not supported", place)
    if comp == "unknown":
        raise LayerError("not a tar, gzip or zstd layer (unknown format)", place)
    if comp == "none":
        ix = TarIndexer(view, None, None, place,
                        release=lambda a, b: _release_range(ref.file, ref.offset + a, ref.offset + b),
                        pread_from=(_fd(ref.file), ref.offset))
    else:
        if comp == "zstd":
            cut = zstd_truncation(view)
            if cut:
                raise LayerError(cut, place)
        stream = open_stream(view, comp, ref)
        limit = max(BOMB_FLOOR, len(view) * BOMB_RATIO)

        def read(n: int, _r=stream.read) -> bytes:
            try:
                return _r(n)
            except EOFError as e:
                raise LayerError(f"the {comp} stream ends early ({_decode_error(e)})", place) from None
            except LayerError:
                raise
            except Exception as e:  # zlib.error, ZstdError, BadGzipFile, OSError
                raise LayerError(f"corrupt {comp} data ({_decode_error(e)})", place) from None

        ix = TarIndexer(b"", read, limit, place, hash_files=hash_files)
    try:
        entries = ix.run()
    finally:
        release(ref)
    if comp != "none" and not ix.bomb and ix.size >= NOTE_MIN_BYTES and ix.size > NOTE_RATIO * len(view):
        ix.warnings.append(
            f"the layer expands {ix.size // max(len(view), 1):,}× ({len(view):,} bytes of {comp} hold "
            f"{ix.size:,} bytes of tar): mostly zeros or repeated data, a decompression bomb? "
            "(it was read in full, in bounded memory)")
    return entries, comp, ix.size, ix.warnings, ix.bomb


# -- reading contents on demand ----------------------------------------------
def read_range(ref: BlobRef, compression: str, offset: int, size: int, cap: int | None = None) -> bytes:
    """Bytes [offset, offset+size) of the uncompressed layer stream (at most
    `cap` of them).  Over an uncompressed blob this is a slice; over a
    compressed one the stream is decoded up to the offset."""
    n = size if cap is None else min(size, cap)
    view = blob_view(ref)
    if compression == "none":
        return bytes(view[offset:offset + n])
    stream = open_stream(view, compression, ref)
    _discard(stream, offset)
    return stream.read(n)


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
    if ref is not None and ref.file in _maps:
        fd = _fd(ref.file)
        for o in range(off, end, 4 << 20):
            n = min(4 << 20, end - o)
            b = os.pread(fd, n, ref.offset + o)
            if len(b) != n:
                raise LayerError("the layer ended inside a file", ref.name)
            yield b
        return
    for o in range(off, end, 4 << 20):
        yield bytes(view[o:min(o + (4 << 20), end)])


_fds: dict[str, int] = {}
_CMP_STEP = 1 << 20
_cmp_bufs = None  # a threading.local, made on first use


def _fd(path: str) -> int:
    with _maps_lock:
        fd = _fds.get(path)
        if fd is None:
            fd = _fds[path] = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        return fd


def same_bytes(a: BlobRef, off_a: int, b: BlobRef, off_b: int, size: int) -> bool:
    """Whether two ranges of uncompressed blobs hold the same bytes: read
    with pread into two reused 1 MiB buffers and compared in C (memcmp),
    never mapped, so comparing big copies costs no memory."""
    global _cmp_bufs
    if _cmp_bufs is None:
        import threading

        _cmp_bufs = threading.local()  # two threads may both make one here: either is fine
    bufs = getattr(_cmp_bufs, "pair", None)
    if bufs is None:
        bufs = _cmp_bufs.pair = (bytearray(_CMP_STEP), bytearray(_CMP_STEP))
    ba, bb = bufs
    fa, fb = _fd(a.file), _fd(b.file)
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
    view = blob_view(ref)
    if compression == "none":
        for off, size in wanted:
            if off + size > len(view):
                raise LayerError("the layer ended inside a file", ref.name)
            yield off, _view_chunks(view, off, size, ref)
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
