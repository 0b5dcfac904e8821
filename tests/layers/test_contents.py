"""Reading a range of an uncompressed blob inside a bigger file: the bytes of
that blob only, read (not sliced from the mapping) once the file is mapped,
the same as a slice of the blob's view, at its edges too."""

from __future__ import annotations

from layerscope.layers import blobs, contents
from layerscope.model import BlobRef


def test_read_range_of_a_mapped_file_is_the_blob_slice(tmp_path):
    data = bytes(range(256)) * 64  # 16 KiB: the blob is 5,000 bytes from offset 3,000, with bytes after it
    path = tmp_path / "archive.tar"
    path.write_bytes(data)
    ref = BlobRef(str(path), 3000, 5000, "blob")
    blobs.blob_view(ref)  # maps the file, as indexing did
    assert blobs.mapped(str(path))
    blob = data[3000:8000]
    for off, n, cap in [(0, 10, None), (123, 4000, None), (4990, 10, None), (4990, 50, None), (5000, 5, None),
                        (6000, 5, None), (0, 5000, 100), (4999, 1, 1), (100, 0, None)]:
        want = blob[off:off + (n if cap is None else min(n, cap))]
        assert contents.read_range(ref, "none", off, n, cap) == want, (off, n, cap)
    blobs.forget(str(path))
    assert contents.read_range(ref, "none", 4990, 50) == blob[4990:]  # mapped again by the read itself
