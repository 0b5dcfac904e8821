"""Layer compression, told by magic bytes (never by name or media type),
and the C decoders that turn a blob into its tar stream: ISA-L for gzip,
zstandard for zstd.  Decompression bombs are bounded here."""

from __future__ import annotations

import io
import os

from ..model import BlobRef
from .blobs import release_range
from .gzipstream import GzipStream

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
            release_range(self.ref.file, self.ref.offset + self.released, self.ref.offset + self.pos)
            self.released = self.pos
        return n


def _gzip_reader(view: memoryview, ref: BlobRef | None = None) -> GzipStream:
    if ref is None:
        return GzipStream(view)

    def release(a: int, b: int) -> None:
        release_range(ref.file, ref.offset + a, ref.offset + b)

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


def decode_error(exc: BaseException) -> str:
    msg = str(exc) or type(exc).__name__
    return msg.splitlines()[0] if msg else type(exc).__name__
