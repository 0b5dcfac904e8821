"""gzipstream.GzipStream, the gzip reader built on isal's igzip_lib
(raw inflate) that replaced isal.igzip.IGzipFile (whose import pulls in the stdlib gzip
and typing): the same bytes as gzip.decompress, the same errors as the
IGzipFile reader it replaces (recorded below, and checked against
isal.igzip directly where it is installed), bounded output per read.

What IGzipFile did, and GzipStream does, past the last member:
* zero bytes are skipped (padding), then the stream ends;
* other bytes: fewer than 10 left -> EOFError ("Compressed file ended
  before the end-of-stream marker was reached"); 10 or more -> BadGzipFile
  "Not a gzipped file (b'..')" (the stdlib's gzip says BadGzipFile for both).
"""

from __future__ import annotations

import gzip
import io
import os
import random
import struct
import zlib

import pytest

from layerscope.errors import LayerError
from layerscope.layers import blobs, compression, contents, indexing
from layerscope.layers.gzipstream import GzipStream
from layerscope.model import BlobRef
from tests.conftest import ROOT

EOF_MSG = "Compressed file ended before the end-of-stream marker was reached"

_rng = random.Random(1234)
PAYLOAD = bytes(_rng.getrandbits(8) for _ in range(3000)) + b"layer " * 6000 + bytes(5000)
ONE = gzip.compress(PAYLOAD, mtime=0)


def members(*parts: bytes) -> bytes:
    return b"".join(gzip.compress(p, mtime=0) for p in parts)


def read_all(data: bytes, n: int = 1 << 18, step: int | None = None) -> bytes:
    s = compression._gzip_reader(memoryview(data))
    if step is not None:
        s.STEP = step
    out = []
    while True:
        c = s.read(n)
        assert len(c) <= n
        if not c:
            break
        out.append(c)
    assert s.read(n) == b""  # stays at the end
    return b"".join(out)


def outcome(data: bytes, n: int = 1 << 18, step: int | None = None):
    """('ok', bytes) or (exception type name, message)."""
    try:
        return "ok", read_all(data, n, step)
    except Exception as e:
        return type(e).__name__, str(e)


def igzip_outcome(data: bytes, n: int = 1 << 18):
    """The same, through the reader this replaced (isal.igzip.IGzipFile over
    a buffered view reader, as compression._gzip_reader built it)."""
    igzip = pytest.importorskip("isal.igzip")
    s = igzip.IGzipFile(fileobj=io.BufferedReader(compression._ViewReader(memoryview(data)), 1 << 18), mode="rb")
    out = []
    try:
        while c := s.read(n):
            out.append(c)
    except Exception as e:
        return type(e).__name__, str(e)
    return "ok", b"".join(out)


def test_one_member_every_read_size():
    for n in (1, 7, 512, 4096, 100_000, 1 << 18, 1 << 22):
        assert read_all(ONE, n) == PAYLOAD, n
    assert compression._gzip_reader(memoryview(ONE)).read() == PAYLOAD
    assert compression._gzip_reader(memoryview(ONE)).read(-1) == PAYLOAD


def test_read_returns_exactly_n_until_the_end():
    """As IGzipFile (a BufferedReader) did: read_range and the tar walker's
    callers rely on a short read meaning the end of the stream."""
    data = members(PAYLOAD[:10_000], b"", PAYLOAD, PAYLOAD[:777])
    total = len(gzip.decompress(data))
    for n in (1, 7, 512, 65_536):
        s = compression._gzip_reader(memoryview(data))
        s.STEP = 1000
        sizes = []
        while c := s.read(n):
            sizes.append(len(c))
        assert sizes[:-1] == [n] * (len(sizes) - 1) and sum(sizes) == total, n


def test_several_members_and_empty_members_across_input_slices():
    parts = [PAYLOAD[:k] for k in (0, 1, 100, 0, 5000, 0, len(PAYLOAD), 3)] + [b"", b""]
    data = members(*parts)
    want = gzip.decompress(data)
    assert want == b"".join(parts)
    for step in (1, 2, 5, 9, 10, 17, 64, 1000, 4096, 1 << 17):
        for n in (1, 7, 512, 1 << 18):
            if step < 10 and n == 1:
                continue  # slow and adds nothing over n=7
            assert read_all(data, n, step) == want, (step, n)


def test_many_small_members_like_estargz():
    rng = random.Random(7)
    parts = [bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 300))) * rng.randrange(1, 4)
             for _ in range(400)]
    data = members(*parts)
    for step in (7, 333, 4096, 1 << 17):
        assert read_all(data, 512, step) == b"".join(parts), step


def test_empty_blob_and_single_empty_member():
    assert read_all(b"") == b""
    assert read_all(gzip.compress(b"")) == b""
    assert read_all(members(b"", b"", b"")) == b""


@pytest.mark.parametrize("pad", [1, 7, 10, 4096, 70_000, 300_000])
def test_trailing_zero_padding_is_ignored(pad):
    data = ONE + bytes(pad)
    assert gzip.decompress(data) == PAYLOAD
    for step in (5, 4096, 1 << 17):
        assert read_all(data, 7 if step == 5 else 4096, step) == PAYLOAD
    # zeros between members too
    assert read_all(ONE + bytes(pad) + ONE + bytes(3)) == PAYLOAD * 2


@pytest.mark.parametrize("tail,expect", [
    (b"\x01", ("EOFError", EOF_MSG)),
    (b"garbage!", ("EOFError", EOF_MSG)),
    (b"\x1f", ("EOFError", EOF_MSG)),
    (b"\x1f\x8b\x08\x00", ("EOFError", EOF_MSG)),
    (b"\0\0xyz", ("EOFError", EOF_MSG)),
    (b"garbage!" * 10, ("BadGzipFile", "Not a gzipped file (b'ga')")),
    (b"\0\0" + b"xyz" * 10, ("BadGzipFile", "Not a gzipped file (b'xy')")),
    (b"\x1f\x8b\x07" + bytes(20), ("BadGzipFile", "Unknown compression method")),
])
def test_trailing_garbage_is_an_error_as_before(tail, expect):
    data = ONE + tail
    for n, step in ((1 << 18, None), (512, 1000), (7, 5)):
        assert outcome(data, n, step) == expect
    assert igzip_outcome(data) == expect  # what the replaced reader said


def test_truncation_at_every_cut_point():
    """Cut inside a member: EOFError.  Cut exactly at a member's end (or in
    the zero padding after it): a shorter, valid stream, as gzip says too."""
    a, b = gzip.compress(PAYLOAD[:2000], mtime=0), gzip.compress(PAYLOAD[-3000:], mtime=0)
    data = a + bytes(3) + b
    ends = {len(a), len(a) + 1, len(a) + 2, len(a) + 3}
    checked = 0
    for cut in range(1, len(data)):
        got = outcome(data[:cut], 512, 97)
        if cut in ends:
            assert got == ("ok", PAYLOAD[:2000]), cut
        else:
            assert got == ("EOFError", EOF_MSG), cut
        checked += 1
    assert checked == len(data) - 1
    # the replaced reader agrees at a spread of cut points
    for cut in list(range(1, 40)) + list(range(40, len(data), 53)) + list(range(len(data) - 20, len(data))):
        assert outcome(data[:cut]) == igzip_outcome(data[:cut]), cut


def test_flipped_crc_and_isize_bytes():
    for i in range(4):
        crc = bytearray(ONE)
        crc[-8 + i] ^= 0x40
        stored = struct.unpack("<I", bytes(crc[-8:-4]))[0]
        assert outcome(bytes(crc)) == ("BadGzipFile", f"CRC check failed {stored} != {zlib.crc32(PAYLOAD)}")
        size = bytearray(ONE)
        size[-4 + i] ^= 0x01
        assert outcome(bytes(size)) == ("BadGzipFile", "Incorrect length of data produced")
        assert outcome(bytes(size), 512, 100) == ("BadGzipFile", "Incorrect length of data produced")
        assert igzip_outcome(bytes(crc)) == outcome(bytes(crc))
        assert igzip_outcome(bytes(size)) == outcome(bytes(size))
    # in the second of two members
    two = bytearray(ONE + ONE)
    two[-6] ^= 1
    assert outcome(bytes(two))[0] == "BadGzipFile"
    assert outcome(bytes(two))[1].startswith("CRC check failed")


def test_corrupt_deflate_data_raises():
    bad = ONE[:20] + b"\xff" * 8 + ONE[28:]
    kind, msg = outcome(bad)
    assert kind == "IsalError" and msg == "Error -1 Invalid deflate block found"
    assert igzip_outcome(bad) == (kind, msg)


def test_header_fields_and_header_crc():
    body = ONE[10:]
    h = b"\x1f\x8b\x08\x1e" + bytes(6) + b"\x04\x00abcd" + b"name.tar\0" + b"a comment\0"
    good = h + struct.pack("<H", zlib.crc32(h) & 0xFFFF) + body
    assert read_all(good) == PAYLOAD == gzip.decompress(good)
    assert read_all(good + good, 512, 11) == PAYLOAD * 2
    bad = h + struct.pack("<H", (zlib.crc32(h) & 0xFFFF) ^ 1) + body
    kind, msg = outcome(bad)
    assert kind == "BadGzipFile" and msg.startswith("Corrupted gzip header. Checksums do not match")
    assert igzip_outcome(bad) == (kind, msg)
    # a long name spanning several search blocks
    h2 = b"\x1f\x8b\x08\x08" + bytes(6) + b"n" * 10_000 + b"\0"
    assert read_all(h2 + body) == PAYLOAD
    for cut in (11, 13, 20, 40, len(h) - 1, len(h) + 1, len(h2) - 1):
        assert outcome((good if cut < len(good) // 2 else h2 + body)[:cut])[0] == "EOFError", cut
    assert outcome(b"hello, world")[0] == "BadGzipFile"
    assert outcome(ONE[:2] + b"\x07" + ONE[3:]) == ("BadGzipFile", "Unknown compression method")


def test_output_is_bounded_per_read():
    """A bomb (64 MiB of zeros in ~64 KiB) read 4 KiB then 1 MiB at a time:
    no read returns more, and memory stays flat (traced: the decoder's
    buffers are PyMem allocations)."""
    import tracemalloc

    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    data = b"".join([bomb.compress(bytes(1 << 20)) for _ in range(64)] + [bomb.flush()])
    assert len(data) < 100_000
    tracemalloc.start()
    try:
        s = compression._gzip_reader(memoryview(data))
        total = 0
        for _ in range(2000):
            c = s.read(4096)
            assert len(c) == 4096 and not any(c)
            total += len(c)
        while c := s.read(1 << 20):
            assert len(c) <= 1 << 20
            total += len(c)
            del c
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == 64 << 20
    assert peak < 4 << 20, peak


def test_consumed_pages_are_released(tmp_path, monkeypatch):
    data = members(*(os.urandom(400_000) for _ in range(8)))
    p = tmp_path / "blob"
    p.write_bytes(b"x" * 100 + data)
    calls = []
    monkeypatch.setattr(compression, "release_range", lambda f, a, b: calls.append((f, a, b)))
    ref = BlobRef(str(p), 100, len(data), "blob")
    s = compression.open_stream(blobs.blob_view(ref), "gzip", ref)
    out = []
    while c := s.read(1 << 18):
        out.append(c)
    assert b"".join(out) == gzip.decompress(data)
    assert len(calls) >= len(data) // (2 << 20)
    assert all(f == str(p) and 100 <= a < b <= 100 + len(data) for f, a, b in calls)
    assert all(b - a >= GzipStream.RELEASE_EVERY for f, a, b in calls)
    assert [a for f, a, b in calls] == sorted(a for f, a, b in calls)


def _index(tmp_path, blob: bytes):
    p = tmp_path / f"layer{len(list(tmp_path.iterdir()))}"  # files are mapped once per path
    p.write_bytes(blob)
    return indexing.index_blob(BlobRef(str(p), 0, len(blob), "l"), "", "layer 0")


def test_index_blob_messages(tmp_path):
    """The messages index_blob makes of the reader's errors."""
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo("etc/data")
        ti.size = len(PAYLOAD)
        t.addfile(ti, io.BytesIO(PAYLOAD))
    tar = buf.getvalue()
    gz = gzip.compress(tar, mtime=0)
    entries, comp, usize, warnings, bomb = _index(tmp_path, gz)
    assert comp == "gzip" and usize > len(PAYLOAD) and entries.paths == ["etc/data"]
    # two members, split inside the file's contents, with zero padding after
    cut = 2000
    entries2, _, usize2, _, _ = _index(tmp_path, gzip.compress(tar[:cut]) + gzip.compress(tar[cut:]) + bytes(9))
    assert entries2.paths == ["etc/data"] and usize2 == usize
    with pytest.raises(LayerError) as e:
        _index(tmp_path, gz[:len(gz) // 2])
    assert e.value.message == f"the gzip stream ends early ({EOF_MSG})"
    crc = bytearray(gz)
    crc[-7] ^= 1
    with pytest.raises(LayerError) as e:
        _index(tmp_path, bytes(crc))
    assert e.value.message.startswith("corrupt gzip data (CRC check failed ")
    with pytest.raises(LayerError) as e:
        _index(tmp_path, gz[:20] + b"\xff" * 8 + gz[28:])
    assert e.value.message == "corrupt gzip data (Error -1 Invalid deflate block found)"


def test_read_range_and_digest_blob_over_gzip(tmp_path):
    data = members(PAYLOAD[:5000], PAYLOAD[5000:])
    p = tmp_path / "blob"
    p.write_bytes(data)
    ref = BlobRef(str(p), 0, len(data), "b")
    assert contents.read_range(ref, "gzip", 4000, 3000) == PAYLOAD[4000:7000]
    assert contents.read_range(ref, "gzip", 10, 100, cap=7) == PAYLOAD[10:17]
    import hashlib

    assert contents.digest_blob(ref, "gzip") == "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()
    wanted = [(0, 10), (4990, 20), (len(PAYLOAD) - 5, 5)]
    got = {off: b"".join(ch) for off, ch in contents.iter_ranges(ref, "gzip", wanted)}
    assert got == {0: PAYLOAD[:10], 4990: PAYLOAD[4990:5010], len(PAYLOAD) - 5: PAYLOAD[-5:]}


def test_random_streams_behave_as_the_replaced_reader():
    """Members with and without header fields, zero padding, then cut,
    bit-flipped or followed by garbage: the same bytes, or the same error
    type and message, as IGzipFile gave, at three read sizes."""
    pytest.importorskip("isal.igzip")
    rng = random.Random(20240501)

    def member() -> bytes:
        k = rng.choice([0, 1, 100, 5000, 70_000])
        kind = rng.random()
        data = rng.randbytes(k) if kind < 0.4 else (b"abc" * k)[:k] if kind < 0.7 else bytes(k)
        flags = rng.choice([0, 0, 0, 2, 4, 8, 16, 30])
        h = b"\x1f\x8b\x08" + bytes([flags]) + bytes(6)
        if flags & 4:
            h += b"\x03\x00xyz"
        if flags & 8:
            h += b"name\0"
        if flags & 16:
            h += b"comment\0"
        if flags & 2:
            h += struct.pack("<H", zlib.crc32(h) & 0xFFFF)
        c = zlib.compressobj(rng.choice([1, 6, 9]), zlib.DEFLATED, -15)
        return h + c.compress(data) + c.flush() + struct.pack("<II", zlib.crc32(data), len(data))

    kinds = set()
    for _ in range(150):
        blob = bytearray()
        for _ in range(rng.choice([1, 2, 3, 6])):
            blob += member()
            if rng.random() < 0.2:
                blob += bytes(rng.choice([1, 3, 20]))
        r = rng.random()
        if r < 0.25:
            del blob[rng.randrange(len(blob) + 1):]
        elif r < 0.45:
            for _ in range(rng.choice([1, 3])):
                blob[rng.randrange(len(blob))] ^= 1 << rng.randrange(8)
        elif r < 0.6:
            blob += rng.choice([b"\x01", b"garbage", b"garbage" * 5, b"\x1f\x8b", bytes(5) + b"x", rng.randbytes(30)])
        blob = bytes(blob)
        for n in (1 << 18, 4096, 7):
            got = outcome(blob, n)
            assert got == igzip_outcome(blob, n), (blob[:40], n)
            kinds.add(got[0])
    assert {"ok", "EOFError", "BadGzipFile"} <= kinds


def test_the_reader_does_not_import_gzip_or_igzip():
    import subprocess
    import sys

    code = ("import sys; from layerscope.layers import compression; "
            f"s = compression.open_stream(memoryview({gzip.compress(b'abc', mtime=0)!r}), 'gzip'); "
            "assert s.read(10) == b'abc' and s.read(10) == b''; "
            "print(sorted(m for m in ('gzip', 'isal.igzip') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_input_by_pread_gives_the_same_bytes():
    """With `pread`, the deflate data comes by copy into one reused buffer
    (no mapped pages): the same bytes at every read size, several members
    included, and a blob that turns out shorter than its view ends early."""
    data = members(os.urandom(300_000), PAYLOAD, b"", os.urandom(2_000_000) * 2)
    calls = []

    def pread(buf, off):
        calls.append(off)
        chunk = data[off:off + len(buf)]
        buf[:len(chunk)] = chunk
        return len(chunk)

    for n in (7, 512, 1 << 18):
        calls.clear()
        s = GzipStream(memoryview(data), pread=pread)
        out = []
        while c := s.read(n):
            out.append(c)
        assert b"".join(out) == gzip.decompress(data)
        assert len(calls) > 3 and calls == sorted(calls)  # the input went through pread, in order

    def short_pread(buf, off):  # the file lost its second half after it was mapped
        chunk = data[off:min(off + len(buf), len(data) // 2)]
        buf[:len(chunk)] = chunk
        return len(chunk)

    s = GzipStream(memoryview(data), pread=short_pread)
    with pytest.raises(EOFError):
        while s.read(1 << 18):
            pass


def test_index_blob_reads_gzip_by_pread(tmp_path, monkeypatch):
    """index_blob hands the reader a pread over the blob's file."""
    import tarfile as tf

    bio = io.BytesIO()
    with tf.open(fileobj=bio, mode="w") as t:
        for i in range(50):
            ti = tf.TarInfo(f"f{i}")
            body = os.urandom(20_000)
            ti.size = len(body)
            t.addfile(ti, io.BytesIO(body))
    blob = gzip.compress(bio.getvalue())
    p = tmp_path / "layer.gz"
    p.write_bytes(blob)
    seen = []
    real = os.preadv
    monkeypatch.setattr(os, "preadv", lambda fd, bufs, off: seen.append(off) or real(fd, bufs, off))
    entries, comp, usize, warnings, bomb = indexing.index_blob(BlobRef(str(p), 0, len(blob), "layer.gz"))
    assert comp == "gzip" and entries.paths == [f"f{i}" for i in range(50)]
    assert seen and max(seen) < len(blob)


def test_streams_do_not_keep_descriptors(tmp_path):
    """Each gzip stream reads through a descriptor of its own, closed with
    the stream: indexing many blobs leaves no descriptor behind (a fuzzing
    run once ran out of them)."""
    import tarfile as tf

    bio = io.BytesIO()
    with tf.open(fileobj=bio, mode="w") as t:
        ti = tf.TarInfo("f")
        ti.size = 3
        t.addfile(ti, io.BytesIO(b"abc"))
    blob = gzip.compress(bio.getvalue())
    before = len(os.listdir("/proc/self/fd"))
    for i in range(40):
        p = tmp_path / f"b{i}.gz"
        p.write_bytes(blob)
        entries = indexing.index_blob(BlobRef(str(p), 0, len(blob), p.name))[0]
        assert entries.paths == ["f"]
        blobs.forget(str(p))
    assert len(os.listdir("/proc/self/fd")) <= before + 1
