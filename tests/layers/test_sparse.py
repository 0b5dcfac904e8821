"""GNU sparse files (old GNU `S` with extension blocks; PAX 0.0, 0.1, 1.0):
indexed under their real name with their real size, the same by every
walker; extracted with holes and the right bytes; previews expanded; hostile
maps a one-line error or a bounded result.  Python's tarfile, which reads all
four formats, is the reference; GNU tar makes the real archives."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tracemalloc
from array import array

import pytest

from layerscope.analysis import analyse
from layerscope.errors import LayerError
from layerscope.formats.source import open_graph
from layerscope.layers import sparse, tarwalk
from layerscope.layers.indexing import index_layers
from layerscope.layers.tarwalk import TarIndexer
from tests.hostile._helpers import assert_one_error, cli, docker_archive, gzip_of, oci_archive

NAME = "opt/data/disk.img"


# -- building sparse tars by hand -------------------------------------------
def _header(name: bytes, size: int, flag: bytes, gnu: bool = False, fields: dict | None = None) -> bytes:
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"%011o\0" % 1_700_000_000
    h[156:157] = flag
    h[257:265] = b"ustar  \0" if gnu else b"ustar\x0000"
    for off, v in (fields or {}).items():
        h[off:off + len(v)] = v
    h[148:156] = b"%06o\0 " % (sum(h) - sum(h[148:156]) + 256)
    return bytes(h)


def _pad(b: bytes) -> bytes:
    return b + bytes(-len(b) % 512)


def _o12(n: int) -> bytes:
    return b"%011o\0" % n


def _pairs(segs) -> bytes:
    return b"".join(_o12(o) + _o12(n) for o, n in segs)


def _data(segs) -> bytes:
    """The stored bytes of segments (offset, length): each a run of one
    byte, from its offset, so a misplaced byte shows."""
    return b"".join(bytes([65 + (o // 4096) % 26]) * n for o, n in segs)


def _expanded(segs, real: int) -> bytes:
    out = bytearray(real)
    for (o, n), piece in zip(segs, _chunks(segs)):
        out[o:o + n] = piece
    return bytes(out)


def _chunks(segs):
    return [bytes([65 + (o // 4096) % 26]) * n for o, n in segs]


def old_gnu(segs, real: int, name: bytes = NAME.encode(), data: bytes | None = None,
            realsize_field: bytes | None = None, extended_forever: bool = False) -> bytes:
    """An old GNU `S` entry: 4 pairs in the header, 21 in each extension block."""
    data = _data(segs) if data is None else data
    head, rest = segs[:4], segs[4:]
    fields = {386: _pairs(head), 483: realsize_field or _o12(real)}
    if rest or extended_forever:
        fields[482] = b"\1"
    out = _header(name, len(data), b"S", gnu=True, fields=fields)
    while rest:
        blk = bytearray(512)
        blk[0:24 * len(rest[:21])] = _pairs(rest[:21])
        rest = rest[21:]
        blk[504] = 1 if rest or extended_forever else 0
        out += bytes(blk)
    return out + _pad(data)


def _rec(k: str, v: str) -> bytes:
    body = f" {k}={v}\n".encode()
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n += 1
    return str(n).encode() + body


def _pax(records) -> bytes:
    data = b"".join(_rec(k, v) for k, v in records)
    return _header(b"PaxHeaders/f", len(data), b"x") + _pad(data)


def pax0(segs, real: int, version: str, numblocks: int | None = None, data: bytes | None = None,
         records=()) -> bytes:
    data = _data(segs) if data is None else data
    recs = [("GNU.sparse.size", str(real)), ("GNU.sparse.numblocks", str(len(segs) if numblocks is None
                                                                           else numblocks))]
    if version == "0.0":
        for o, n in segs:
            recs += [("GNU.sparse.offset", str(o)), ("GNU.sparse.numbytes", str(n))]
        name = NAME.encode()
    else:
        recs += [("GNU.sparse.name", NAME), ("GNU.sparse.map", ",".join(f"{o},{n}" for o, n in segs))]
        name = b"./GNUSparseFile.1/disk.img"
    return _pax(recs + list(records)) + _header(name, len(data), b"0") + _pad(data)


def pax1(segs, real: int, count: int | None = None, data: bytes | None = None, map_text: bytes | None = None,
         size: int | None = None) -> bytes:
    data = _data(segs) if data is None else data
    if map_text is None:
        map_text = b"%d\n" % (len(segs) if count is None else count) + b"".join(b"%d\n%d\n" % s for s in segs)
    body = _pad(map_text) + data
    recs = [("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0"), ("GNU.sparse.name", NAME),
            ("GNU.sparse.realsize", str(real))]
    return _pax(recs) + _header(b"./GNUSparseFile.1/disk.img", len(body) if size is None else size, b"0") \
        + _pad(body)


def _plain(name: bytes, data: bytes) -> bytes:
    return _header(name, len(data), b"0") + _pad(data)


END = bytes(1024)
AFTER = _plain(b"etc/after", b"after the sparse file\n")


def _index(data: bytes, how: str, hash_files: bool = False):
    if how == "general":
        tarwalk.COLUMNS = False
        try:
            return TarIndexer(data, place="t").run()
        finally:
            tarwalk.COLUMNS = True
    if how == "columns":
        return TarIndexer(data, place="t").run()
    chunks = [data[i:i + 700] for i in range(0, len(data), 700)]  # read boundaries inside maps and headers
    return TarIndexer(b"", read=lambda n: chunks.pop(0) if chunks else b"", place="t", hash_files=hash_files).run()


def index_all(data: bytes):
    """Index every way (the batch reader, the general walker, a stream cut
    into small reads): the same entries."""
    e = _index(data, "general")
    for how in ("columns", "stream"):
        assert _index(data, how).to_state() == e.to_state(), how
    return e


def _reference(data: bytes) -> dict[str, tuple[int, bytes]]:
    """What Python's tarfile reads: name -> (size, contents)."""
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return {m.name: (m.size, t.extractfile(m).read()) for m in t.getmembers() if m.isfile()}


SEGS = [(0, 4096), (5 << 20, 4096 * 2)]
MANY = [(k * 65536, 4096 + k) for k in range(60)]  # > 4 pairs: extension blocks; a map of more than a block
REAL = 10 << 20

KINDS = {
    "old-gnu": lambda segs, real: old_gnu(segs, real),
    "pax-0.0": lambda segs, real: pax0(segs, real, "0.0"),
    "pax-0.1": lambda segs, real: pax0(segs, real, "0.1"),
    "pax-1.0": lambda segs, real: pax1(segs, real),
}


@pytest.mark.parametrize("segs", [SEGS, MANY], ids=["few", "many"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_hand_built_sparse_files_index_as_tarfile_reads_them(kind, segs):
    data = KINDS[kind](segs, REAL) + AFTER + END
    ref = _reference(data)
    assert ref[NAME] == (REAL, _expanded(segs, REAL))  # the fixture is what it says
    e = index_all(data)
    assert e.paths == [NAME, "etc/after"]
    assert list(e.sizes) == [REAL, 22]
    stored, smap = e.sparse[0]
    assert stored == sum(n for _, n in segs)
    assert list(smap) == [x for s in segs for x in s]
    assert 1 not in e.sparse
    # the file after it is where it should be: the walk went past the map and data exactly
    assert data[e.offsets[1]:e.offsets[1] + 22] == b"after the sparse file\n"
    assert data[e.offsets[0]:e.offsets[0] + stored] == _data(segs)


def test_the_digest_taken_while_streaming_is_of_the_stored_bytes():
    from blake3 import blake3

    data = pax1(SEGS, REAL) + END
    e = _index(data, "stream", hash_files=True)
    assert e.digest(0) == blake3(_data(SEGS)).digest(16)


def test_a_map_ending_at_the_real_size_and_an_all_hole_file():
    """GNU tar ends a map with an empty segment at the real size; a file that
    is all holes stores nothing."""
    data = old_gnu([(0, 10), (100, 0)], 100) + pax1([(4096, 0)], 4096) + END
    assert _reference(data)[NAME][0] == 4096
    e = index_all(data)
    assert list(e.sizes) == [4096]  # the later entry for the same path wins
    assert e.sparse[0] == (0, array("q"))
    e = index_all(old_gnu([(0, 10), (100, 0)], 100) + END)
    assert list(e.sparse[0][1]) == [0, 10] and e.sizes[0] == 100


def test_an_unknown_pax_sparse_version_is_shown_as_stored():
    data = _pax([("GNU.sparse.major", "2"), ("GNU.sparse.minor", "0"), ("GNU.sparse.name", "real")]) \
        + _plain(b"GNUSparseFile.1/x", b"abc") + END
    ix = TarIndexer(data, place="t")
    e = ix.run()
    assert e.paths == ["GNUSparseFile.1/x"] and list(e.sizes) == [3] and not e.sparse
    assert any("sparse format 2.0 is not known" in w for w in ix.warnings)


# -- hostile maps -------------------------------------------------------------
def _map01(value: str) -> bytes:
    return _pax([("GNU.sparse.size", "100"), ("GNU.sparse.numblocks", "1"), ("GNU.sparse.map", value)]) \
        + _plain(b"f", b"x")


_NO_END = bytes(504) + b"\1" + bytes(7)  # an extension block with no pairs that says another follows

HOSTILE = {  # name: (the layer, what its one-line error says); END: the archive's end blocks
    "huge-count-1.0": (lambda: pax1(SEGS, REAL, count=10 ** 18) + END, "more than 2,097,152 segments"),
    # two blocks of good numbers, all the entry holds, and the count wants more
    "count-past-the-data-1.0": (lambda: pax1([], REAL, map_text=b"1000000\n" + b"0\n" * 508, data=b"") + END,
                                "runs past the entry's data"),
    "huge-numblocks-0.1": (lambda: pax0(SEGS, REAL, "0.1", numblocks=10 ** 15) + END,
                           "1,000,000,000,000,000 segments: more than 2,097,152 segments"),
    "short-numblocks-0.0": (lambda: pax0(SEGS, REAL, "0.0", numblocks=1) + END, "numblocks is 1 but the map has 2"),
    "offset-past-real-size": (lambda: pax0([(0, 10), (REAL, 10)], REAL, "0.1") + END, "past the real size"),
    "offset-past-real-size-old-gnu": (lambda: old_gnu([(1 << 40, 10)], 100) + END, "past the real size"),
    "overlapping": (lambda: pax1([(0, 100), (50, 100)], REAL) + END, "overlaps"),
    "out-of-order": (lambda: old_gnu([(8192, 10), (0, 10)], REAL) + END, "overlaps"),
    "map-holds-less": (lambda: pax0([(0, 10)], REAL, "0.1", data=b"x" * 20) + END,
                       "hold 10 bytes but the entry stores 20"),
    "map-holds-more": (lambda: old_gnu([(0, 1 << 30)], 1 << 31, data=b"x" * 512) + END, "hold 1073741824 bytes"),
    "not-a-number-1.0": (lambda: pax1(SEGS, REAL, map_text=b"1\n0\n1e3\n") + END, "bad sparse map number"),
    "signed-number-0.1": (lambda: _map01("+0,1") + END, "bad sparse map number"),
    "unicode-digit-0.1": (lambda: _map01("0,\u0661") + END, "bad sparse map number"),
    "odd-map-0.1": (lambda: _map01("0,1,5") + END, "the map has 1.5 segments"),
    "no-newline-in-map-1.0": (lambda: pax1(SEGS, REAL, map_text=b"7" * 600) + END, "bad sparse map number"),
    "nuls-for-a-map-1.0": (lambda: pax1(SEGS, REAL, map_text=b"") + END, "bad sparse map number"),
    "real-size-out-of-range": (lambda: pax1(SEGS, 1 << 64) + END, "out of range"),
    "base-256-real-size-out-of-range": (lambda: old_gnu(SEGS, 0, realsize_field=b"\x80" + b"\xff" * 11) + END,
                                        "out of range"),
    "negative-real-size": (lambda: old_gnu(SEGS, 0, realsize_field=b"\xff" * 12) + END, "out of range"),
    "records-out-of-order-0.0": (
        lambda: _pax([("GNU.sparse.size", "100"), ("GNU.sparse.numblocks", "1"), ("GNU.sparse.numbytes", "1"),
                      ("GNU.sparse.offset", "0")]) + _plain(b"f", b"x") + END, "out of order"),
    "map-in-a-truncated-archive-1.0": (lambda: pax1(MANY, REAL)[:512 * 4], "(inside a sparse map)"),
    "extension-blocks-in-a-truncated-archive": (lambda: old_gnu(MANY, REAL)[:512 * 2], "(inside a sparse map)"),
    "extension-blocks-without-end": (lambda: old_gnu(SEGS, REAL, extended_forever=True)[:512] + _NO_END * 8,
                                     "(inside a sparse map)"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_sparse_maps_are_an_error_every_way(name):
    make, needle = HOSTILE[name]
    data = make()
    for how in ("general", "columns", "stream"):
        with pytest.raises(LayerError) as err:
            _index(data, how)
        assert needle in str(err.value), (how, str(err.value))
        assert "\n" not in str(err.value)


def test_a_hostile_map_through_the_cli_is_one_line_and_exit_2(tmp_path, capsys):
    for name in ("huge-count-1.0", "offset-past-real-size", "map-in-a-truncated-archive-1.0"):
        path = docker_archive(tmp_path / f"{name}.tar", [HOSTILE[name][0]()])
        rc, _, err = cli(capsys, "ls", path)
        assert_one_error(rc, err, "sparse map")


def test_the_segment_bound_is_per_layer(monkeypatch):
    """Many files each under the bound, together over it; extension blocks
    are not read on past it."""
    monkeypatch.setattr(sparse, "MAX_SEGMENTS", 100)
    one = [(k * 8192, 10) for k in range(40)]
    data = old_gnu(one, 1 << 20) + pax1(one, 1 << 20) + END
    assert list(index_all(data).sparse) == [0]  # 80 segments: taken (the second entry for the path wins)
    for data in (old_gnu(one, 1 << 20) + pax1(one, 1 << 20) + pax0(one, 1 << 20, "0.0") + END,
                 old_gnu(one, 1 << 20) + pax1(one, 1 << 20) + old_gnu(one, 1 << 20) + END,
                 old_gnu([(k * 8192, 10) for k in range(1000)], 1 << 30) + END):
        for how in ("general", "stream"):
            with pytest.raises(LayerError, match="more than 100 segments"):
                _index(data, how)


def test_a_huge_real_size_is_shown_and_never_allocated(tmp_path, capsys):
    """2**62 bytes of holes around a few stored ones: listed at that size;
    the preview and the extraction take memory for what is stored."""
    real = 1 << 62
    segs = [(0, 5), (real - 5, 5)]
    path = docker_archive(tmp_path / "huge.tar", [pax1(segs, real) + END])
    rc, out, _ = cli(capsys, "ls", path, "--json")
    assert rc == 0
    assert {json.loads(l)["path"]: json.loads(l)["size"] for l in out.splitlines()}["/" + NAME] == real
    a = _analysis(path)
    i = a.layers[0].entries.paths.index(NAME)
    assert a.read(0, i, 8) == b"AAAAA\0\0\0"
    with pytest.raises(LayerError, match="too large to read whole"):
        a.read(0, i)
    tracemalloc.start()
    try:
        rc, out, err = cli(capsys, "extract", path, "/" + NAME, "-o", str(tmp_path / "out"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rc == 0, err
    assert peak < 64 << 20
    dest = tmp_path / "out" / NAME
    # a file system that takes a file this large has it, with holes; one
    # that does not (ext4: 16 TiB) makes it a skipped file, with the reason
    if "skipped" in out + err:
        assert "too large" in (out + err).lower()
        assert not dest.exists()
    else:
        st = os.stat(dest)
        assert st.st_size == real and st.st_blocks * 512 < 1 << 20


# -- extraction, listing, previews ---------------------------------------------
def _analysis(path):
    g = open_graph([str(path)])
    im = g.images[0]
    index_layers(g, layers=im.layers, use_cache=False, workers=1)
    assert not [l.error for l in im.layers if l.error]
    return analyse(g, im)


def _ls(capsys, path) -> dict[str, int]:
    rc, out, err = cli(capsys, "ls", path, "--json")
    assert rc == 0, err
    return {json.loads(l)["path"]: json.loads(l)["size"] for l in out.splitlines()}


@pytest.mark.parametrize("comp", ["none", "gzip"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_hand_built_sparse_files_list_and_extract(kind, comp, tmp_path, capsys):
    layer = KINDS[kind](MANY, REAL) + AFTER + END
    path = (docker_archive(tmp_path / "img.tar", [layer]) if comp == "none"
            else oci_archive(tmp_path / "img.tar", [gzip_of(layer)], media="application/vnd.oci.image.layer.v1.tar+gzip"))
    sizes = _ls(capsys, path)
    assert sizes["/" + NAME] == REAL and sizes["/etc/after"] == 22
    assert not [p for p in sizes if "GNUSparseFile" in p]
    rc, out, err = cli(capsys, "extract", path, "/", "-o", str(tmp_path / "out"))
    assert rc == 0, err
    assert f"({REAL + 22:,} bytes)" in out
    got = (tmp_path / "out" / NAME).read_bytes()
    assert len(got) == REAL and got == _expanded(MANY, REAL)
    assert (tmp_path / "out" / "etc" / "after").read_bytes() == b"after the sparse file\n"
    # previews: the expanded bytes, up to the cap, reading only what is stored below it
    a = _analysis(path)
    i = a.layers[0].entries.paths.index(NAME)
    want = _expanded(MANY, REAL)
    for cap in (1, 4096, 65536 + 100, 1 << 20):
        assert a.read(0, i, cap) == want[:cap]


def test_a_hardlink_to_a_sparse_file_gets_a_sparse_copy(tmp_path, capsys):
    link = _header(b"link", 0, b"1", fields={157: NAME.encode()})
    path = docker_archive(tmp_path / "img.tar", [old_gnu(SEGS, REAL) + link + END])
    rc, _, err = cli(capsys, "extract", path, "/link", "-o", str(tmp_path / "out"))
    assert rc == 0, err
    assert (tmp_path / "out" / "link").read_bytes() == _expanded(SEGS, REAL)


@pytest.mark.parametrize("comp", ["none", "gzip"])
def test_a_copy_up_of_a_sparse_file_compares_its_map_and_stored_bytes(comp, tmp_path, capsys):
    """The same sparse file again (a chmod, in another format) is no content
    change; the same size with other stored bytes, or as a plain file (whose
    holes are not read to compare), is one.  Uncompressed layers are compared
    in place, compressed ones by the digests of what they store."""
    base = old_gnu(SEGS, REAL)
    same = _reheader(pax1(SEGS, REAL).replace(b"0000644\0", b"0000600\0"))  # chmod 600
    other = pax1(SEGS, REAL, data=b"z" * sum(n for _, n in SEGS))
    plain = _plain(NAME.encode(), _expanded(SEGS, REAL))
    layers = [base + END, same + END, other + END, plain + END]
    path = (docker_archive(tmp_path / "img.tar", layers) if comp == "none"
            else oci_archive(tmp_path / "img.tar", [gzip_of(l) for l in layers],
                             media="application/vnd.oci.image.layer.v1.tar+gzip"))
    kinds = {}
    for L in (1, 2, 3):
        rc, out, err = cli(capsys, "ls", path, "--changes", "--layer", str(L), "--json")
        assert rc == 0, err
        kinds[L] = [json.loads(l).get("kind") for l in out.splitlines() if json.loads(l)["path"] == "/" + NAME]
    assert kinds == {1: ["metadata-only"], 2: ["content"], 3: ["content"]}


def _reheader(data: bytes) -> bytes:
    """Fix the checksum of every header in a run of hand-built entries."""
    b = bytearray(data)
    pos = 0
    while pos + 512 <= len(b) and b[pos:pos + 512] != bytes(512):
        b[pos + 148:pos + 156] = b"%06o\0 " % (sum(b[pos:pos + 512]) - sum(b[pos + 148:pos + 156]) + 256)
        size = int(bytes(b[pos + 124:pos + 135]), 8)
        pos += 512 + (size + 511) // 512 * 512
    return bytes(b)


def test_the_cache_keeps_sparse_maps(tmp_path, monkeypatch):
    from layerscope.layers import cache

    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    path = docker_archive(tmp_path / "img.tar", [old_gnu(MANY, REAL) + END])
    g1 = open_graph([path])
    index_layers(g1)
    layer = open_graph([path]).images[0].layers[0]
    assert cache.load(layer)
    assert layer.entries.to_state() == g1.images[0].layers[0].entries.to_state()
    assert layer.entries.sparse[0][0] == sum(n for _, n in MANY)


# -- real archives from GNU tar -----------------------------------------------
def _gnu_tar() -> str:
    tar = shutil.which("tar")
    if tar is None:
        pytest.skip("no tar on PATH")
    r = subprocess.run([tar, "--help"], capture_output=True, text=True)
    if "--sparse-version" not in r.stdout:
        pytest.skip("tar is not GNU tar with --sparse-version")
    return tar


GNU_FORMATS = [("gnu", None), ("posix", "0.0"), ("posix", "0.1"), ("posix", "1.0")]


def _sparse_source(root, islands: int) -> tuple[str, bytes]:
    """A file of 12 MiB with `islands` runs of data in holes (and a hole at
    its end); its path and contents."""
    p = root / NAME
    p.parent.mkdir(parents=True)
    size = 12 << 20
    with open(p, "wb") as f:
        f.truncate(size)
        for k in range(islands):
            f.seek(k * (size // (islands + 1)) + 4096 * (k % 3))
            f.write(b"%d:" % k * (200 + 37 * k))
    return str(p), p.read_bytes()


@pytest.mark.parametrize("islands", [2, 40], ids=["in-the-header", "extension-blocks"])
@pytest.mark.parametrize("fmt,version", GNU_FORMATS, ids=["old-gnu", "pax-0.0", "pax-0.1", "pax-1.0"])
def test_gnu_tar_sparse_archives(fmt, version, islands, tmp_path, capsys):
    tar = _gnu_tar()
    src = tmp_path / "src"
    src_file, contents = _sparse_source(src, islands)
    (src / "etc").mkdir()
    (src / "etc" / "after").write_bytes(b"after\n")
    cmd = [tar, "--sparse", f"--format={fmt}", "--owner=0", "--group=0", "--numeric-owner", "-C", str(src),
           "-cf", "-", NAME, "etc/after"]
    if version:
        cmd[2:2] = [f"--sparse-version={version}"]
    layer = subprocess.run(cmd, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(layer)) as t:  # the reference reads it as a sparse file
        m = t.getmember(NAME)
        assert m.issparse() and m.size == len(contents)
        assert len([s for s in m.sparse if s[1]]) >= islands
        assert t.extractfile(m).read() == contents
    if fmt == "gnu" and islands > 4:
        assert layer[482] == 1  # extension blocks
    e = index_all(layer)
    assert e.paths == [NAME, "etc/after"] and list(e.sizes) == [len(contents), 6]
    assert 0 in e.sparse and e.sparse[0][0] < len(contents)

    path = docker_archive(tmp_path / "img.tar", [layer])
    assert _ls(capsys, path)["/" + NAME] == len(contents)
    rc, _, err = cli(capsys, "extract", path, "/", "-o", str(tmp_path / "out"))
    assert rc == 0, err
    out = tmp_path / "out" / NAME
    assert out.read_bytes() == contents
    assert (tmp_path / "out" / "etc" / "after").read_bytes() == b"after\n"
    if os.stat(src_file).st_blocks * 512 < len(contents):  # the file system keeps holes: so does the output
        assert os.stat(out).st_blocks * 512 < len(contents) // 2
