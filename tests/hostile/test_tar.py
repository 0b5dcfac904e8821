"""Hostile layer tars read by the walker: streams that end inside a hashed
file, digests across any read boundaries, whiteouts that carry bytes or
have no name, names with dot components, absurd numbers, NULs in PAX
names."""

from __future__ import annotations

import io
import random
import tarfile

import pytest

from layerscope.errors import LayerError
from layerscope.layers.tarwalk import TarIndexer
from tests.hostile._helpers import _fix_checksum, tar_of, ti_file, ti_link


def test_stream_ending_inside_a_hashed_file(tmp_path):
    """A compressed stream that ends inside a file's content, with hashing
    on: the same one-line truncation error as without, no partial digest."""
    data = tarfile.TarInfo("f")
    data.size = 100_000
    stream = data.tobuf(tarfile.GNU_FORMAT) + b"x" * 5000  # 95,000 bytes missing
    chunks = [stream[i:i + 1000] for i in range(0, len(stream), 1000)]

    def read(n: int) -> bytes:
        return chunks.pop(0) if chunks else b""

    with pytest.raises(LayerError, match="claims 100000 bytes but the layer ends first"):
        TarIndexer(b"", read, None, "cut", hash_files=True).run()


def test_whiteout_with_content_gets_no_digest():
    """Found by the fuzzer: a `.wh.` entry that carries bytes is a marker,
    not a file; the digest its bytes got while streaming must not stay."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data in [("a/.wh.b", b"junk" * 100), ("a/c", b"real")]:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    e = TarIndexer(b"", io.BytesIO(buf.getvalue()).read, None, "wh", hash_files=True).run()
    assert e.paths == ["a/b", "a/c"]
    assert e.digest(0) is None and e.sizes[0] == 0
    from blake3 import blake3
    assert e.digest(1) == blake3(b"real").digest(16)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hashing_across_any_read_boundaries(seed):
    """Digests taken while streaming equal BLAKE3 of each file's bytes however
    the decoder happens to cut the stream (reads of 1 byte to 3 MB)."""
    from blake3 import blake3

    rnd = random.Random(seed)
    buf = io.BytesIO()
    want = {}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for k in range(40):
            n = rnd.choice([0, 1, 511, 512, 513, 4096, 70_000, 1 << 20, (2 << 20) + 7])
            data = rnd.randbytes(n)
            ti = tarfile.TarInfo(f"d/f{k}")
            ti.size = n
            t.addfile(ti, io.BytesIO(data))
            want[f"d/f{k}"] = blake3(data).digest(16) if n else None
    stream = buf.getvalue()
    pos = 0

    def read(n: int) -> bytes:
        nonlocal pos
        k = rnd.choice([1, 100, 512, 4096, 1 << 20, 3 << 20])
        out = stream[pos:pos + k]
        pos += len(out)
        return out

    e = TarIndexer(b"", read, None, "chunks", hash_files=True).run()
    assert {p: e.digest(i) for i, p in enumerate(e.paths)} == want


def test_normalise_never_leaves_dot_components():
    from layerscope.layers.tarwalk import normalise

    for raw in [".", "./", "a/.", "./a/./b/", "a//b", "/a", "//a/b", "a/b/..", "...", "..a", "a/...", ".wh.x"]:
        n = normalise(raw)
        assert n is not None
        assert not n.startswith("/") and (n == "" or all(c not in ("", ".", "..") for c in n.split("/"))), (raw, n)
    for raw in ["..", "../a", "a/../..", "/../a", "a/../../b", "./../x"]:
        assert normalise(raw) is None, raw


def test_whiteout_without_a_name_is_ignored():
    lt = tar_of([ti_file("etc/.wh.", b""), ti_file(".wh..", b""), ti_file("etc/x", b"x")])
    ix = TarIndexer(lt, None, None, "t")
    e = ix.run()
    assert e.paths == ["etc/x"]
    assert any("whiteout without a name" in w for w in ix.warnings)


def test_huge_mtime_and_pax_numbers():
    """base-256 mtimes beyond 64 bits and PAX `mtime=inf` (found by the fuzzer)."""
    ti, _ = ti_file("a", b"")
    hb = bytearray(ti.tobuf(tarfile.USTAR_FORMAT))
    hb[136:148] = b"\x80" + b"\xff" * 11
    _fix_checksum(hb, 0)
    e = TarIndexer(bytes(hb) + bytes(1024), None, None, "t").run()
    assert e.paths == ["a"] and e.mtimes[0] == (1 << 63) - 1
    ti2, _ = ti_file("b", b"")
    ti2.pax_headers = {"mtime": "1e400"}
    with pytest.raises(LayerError, match="bad number"):
        TarIndexer(tar_of([(ti2, b"")]), None, None, "t").run()


def test_nul_in_pax_path_ends_the_name():
    """A PAX path or linkpath with a NUL in it: the name ends there, as the
    C string a tar extractor makes of it.  A NUL kept in a path broke the
    compact state that the cache and the worker processes pass around
    (paths are joined with NULs), so a worker's result failed to load."""
    from layerscope.model import LayerEntries

    ti, data = ti_file("placeholder", b"x")
    ti.pax_headers = {"path": "etc/evil\0hidden"}
    tl, _ = ti_link("link", "placeholder")
    tl.pax_headers = {"linkpath": "target\0rest"}
    e = TarIndexer(tar_of([(ti, data), (tl, b"")]), None, None, "t").run()
    assert e.paths == ["etc/evil", "link"]
    assert e.links == {1: "target"}
    back = LayerEntries.from_state(e.to_state())
    assert back.paths == e.paths and back.links == e.links
