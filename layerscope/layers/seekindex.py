"""Reading one file deep in a big gzip layer without decoding all that comes
before it: a seek index (zlib's zran method, through `indexed_gzip`) keeps a
checkpoint of the inflate state (where a deflate block starts and the 32 KiB
window before it) every SPACING bytes of the decoded stream, so a read decodes from the
nearest checkpoint only.  The index grows as reads go deeper and is kept in
the cache (layers/cache.py, by the blob's key), so a later preview or
extract of the same layer, in this process or another, starts at its
checkpoint.  It serves an archive's blobs and a registry's alike: both are
byte ranges of a file."""

from __future__ import annotations

import io
import os

from ..model import BlobRef
from .blobs import fd_of

MIN_BLOB = 16 << 20  # below this, decoding from the start costs less than loading an index
SPACING = 4 << 20  # decoded bytes between checkpoints: what one read decodes at most before its bytes
READ_BUFFER = 1 << 18


class BlobFile(io.RawIOBase):
    """A blob (a byte range of a file) as a seekable file, read with pread."""

    def __init__(self, ref: BlobRef) -> None:
        self.fd = fd_of(ref.file)
        self.base = ref.offset
        self.size = ref.size
        self.pos = 0
        self.read_bytes = 0  # how much was read, for the tests and the bench

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = max(0, offset if whence == 0 else self.pos + offset if whence == 1 else self.size + offset)
        return self.pos

    def readinto(self, b) -> int:
        n = min(len(b), self.size - self.pos)
        if n <= 0:
            return 0
        got = os.preadv(self.fd, [memoryview(b)[:n]], self.base + self.pos)
        self.pos += got
        self.read_bytes += got
        return got


def wanted(ref: BlobRef, compression: str) -> bool:
    """Whether reads of this blob go through a seek index."""
    from .cache import cache_dir

    if compression != "gzip" or ref.size < MIN_BLOB or not cache_dir():
        return False  # without a cache the index would be built for one read: decoding from the start is faster
    try:
        import indexed_gzip  # noqa: F401
    except ImportError:  # an install without it decodes from the start, as before
        return False
    return True


class Seeker:
    """A gzip blob's decoded stream, seekable through its index: open it,
    read ranges with `read(offset, n)`, then `close()` (which keeps the index
    in the cache when it grew)."""

    def __init__(self, ref: BlobRef) -> None:
        from . import cache

        self.ref = ref
        self.raw = BlobFile(ref)
        self.gz = self._open()
        self.points = 0
        saved = cache.load_seek_index(ref)
        if saved:
            try:
                self.gz.import_index(fileobj=io.BytesIO(saved))
                self.points = self._count()
            except Exception:  # a stale or foreign index: built again
                self.gz = self._open()

    def _open(self):
        from indexed_gzip import IndexedGzipFile

        # buffer_size: its reader's read-ahead, 4 × SPACING by default, would decode 16 MB past a 4 KB preview
        return IndexedGzipFile(fileobj=self.raw, spacing=SPACING, readbuf_size=READ_BUFFER, buffer_size=READ_BUFFER,
                               auto_build=True, drop_handles=False)

    def _count(self) -> int:
        try:
            return sum(1 for _ in self.gz.seek_points())
        except Exception:
            return 0

    def read(self, offset: int, n: int) -> bytes:
        self.gz.seek(offset)
        return self.gz.read(n)

    def chunks(self, offset: int, size: int, step: int = 4 << 20):
        self.gz.seek(offset)
        left = size
        while left > 0:
            c = self.gz.read(min(left, step))
            if not c:
                from ..errors import LayerError

                raise LayerError("the layer ended inside a file", self.ref.name)
            left -= len(c)
            yield c

    def close(self) -> None:
        from . import cache

        try:
            if self._count() > self.points:
                out = io.BytesIO()
                self.gz.export_index(fileobj=out)
                cache.store_seek_index(self.ref, out.getvalue())
        finally:
            self.gz.close()
