"""The batch reader of plain headers (tarcolumns) against the general walker:
the same entries, warnings, consumed size and errors for every tar, over
memory and over a file read with pread -- on hand-made tars for each rule, on
every uncompressed layer of the samples, the dive corpus and the bench images,
and on random and mutated tars (hypothesis)."""

from __future__ import annotations

import io
import mmap
import os
import tarfile
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerscope.errors import LayerError
from layerscope.formats.source import open_graph
from layerscope.layers import blobs, compression, indexing, tarbatch, tarwalk
from layerscope.layers.tarwalk import TarIndexer
from tests.conftest import CORPUS, ROOT, SAMPLES
from tests.fuzz.test_fuzz import SEEDS, mutate, op

PROPS = settings(max_examples=int(os.environ.get("LAYERSCOPE_FUZZ_EXAMPLES", "120")),
                 deadline=timedelta(seconds=10), database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


COMPILED = tarbatch._chain_fd is not None
C_FD, C_BUF, C_OK = tarbatch._chain_fd, tarbatch._chain_buf, tarbatch._headers_ok  # kept from the tests' monkeypatching
ONLY_COMPILED = pytest.mark.parametrize("chain_impl", ["compiled"], indirect=True)


@pytest.fixture(autouse=True, params=["compiled", "python"])
def chain_impl(request, monkeypatch):
    """Every test here runs with the compiled chain (layers/_tarchain.c) and
    with the Python one it stands in for."""
    if request.param == "compiled" and not COMPILED:
        pytest.skip("layers/_tarchain.c is not built here (pip install -e . builds it)")
    if request.param == "python":
        monkeypatch.setattr(tarbatch, "_chain_fd", None)
        monkeypatch.setattr(tarbatch, "_chain_buf", None)
        monkeypatch.setattr(tarbatch, "_headers_ok", None)
    return request.param


def _outcome(ix: TarIndexer):
    try:
        e = ix.run()
    except LayerError as err:
        return ("error", err.line())
    return (e.to_state(), tuple(ix.warnings), ix.size, ix.bomb)


def general(data: bytes):
    tarwalk.COLUMNS = False
    try:
        return _outcome(TarIndexer(data, place="t"))
    finally:
        tarwalk.COLUMNS = True


def columns(data: bytes, path=None, origin: int = 0, after: bytes = b""):
    """Over memory, or (with `path`) over a file holding `data` at `origin`
    followed by `after`, mapped and read with pread as index_blob does."""
    if path is None:
        return _outcome(TarIndexer(data, place="t"))
    with open(path, "wb") as f:
        f.write(os.urandom(origin) + data + after)
    fd = os.open(path, os.O_RDONLY)
    try:
        m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ) if origin + len(data) + len(after) else b""
        view = memoryview(m)[origin:origin + len(data)]
        try:
            return _outcome(TarIndexer(view, place="t", pread_from=(fd, origin)))
        finally:
            view.release()
            if isinstance(m, mmap.mmap):
                m.close()
    finally:
        os.close(fd)


def stream(data: bytes, chunk: int, use_columns: bool = True, hash_files: bool = False):
    """As over a decompressing stream that returns at most `chunk` bytes a
    read; with `hash_files`, as for a layer of a multi-layer image."""
    src = io.BytesIO(data)
    tarwalk.COLUMNS = use_columns
    try:
        return _outcome(TarIndexer(b"", lambda n, r=src.read: r(min(n, chunk)), (len(data) + 1) * 4, "t",
                                   hash_files=hash_files))
    finally:
        tarwalk.COLUMNS = True


def same(data: bytes, tmp_path=None, chunks=(511, 4096, 1 << 18)) -> tuple:
    want = general(data)
    assert columns(data) == want
    if tmp_path is not None:
        assert columns(data, tmp_path / "layer.tar", origin=1536, after=SEEDS[0]) == want
    for chunk in chunks:
        assert stream(data, chunk) == stream(data, chunk, use_columns=False), chunk
        hashed = stream(data, chunk, hash_files=True)
        assert hashed == stream(data, chunk, use_columns=False, hash_files=True), chunk
    return want


@pytest.fixture
def batches(monkeypatch):
    """Counts the batches tarcolumns decoded (and how many it gave back)."""
    seen = {"decoded": 0, "refused": 0}
    real = tarwalk.decode

    def counting(blocks, sizes):
        b = real(blocks, sizes)
        seen["decoded" if b is not None else "refused"] += 1
        return b

    monkeypatch.setattr(tarwalk, "decode", counting)
    return seen


# ---------------------------------------------------------------------------
# hand-made tars, one rule each

def tar_of(members, fmt=tarfile.USTAR_FORMAT) -> bytes:
    """members: (name, kind, data-or-link, extra TarInfo attributes)."""
    bio = io.BytesIO()
    t = tarfile.open(fileobj=bio, mode="w", format=fmt)
    for m in members:
        name, kind, payload, extra = (*m, {})[:4] if len(m) == 3 else m
        ti = tarfile.TarInfo(name)
        ti.mtime = 1700000000
        ti.mode = 0o644
        for k, v in extra.items():
            setattr(ti, k, v)
        if kind == "file":
            ti.size = len(payload)
            t.addfile(ti, io.BytesIO(payload))
            continue
        ti.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                   "char": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}[kind]
        if kind in ("symlink", "hardlink"):
            ti.linkname = payload
        t.addfile(ti)
    t.close()
    return bio.getvalue()


def without_end_blocks(data: bytes) -> bytes:
    while data.endswith(bytes(512)):
        data = data[:-512]
    return data


def plain(n: int = 3) -> list:
    return [(f"d{i}/", "dir", None) for i in range(n)] + [(f"d{i}/f", "file", b"x" * i) for i in range(n)]


def patch_header(data: bytes, index: int, off: int, value: bytes, fix: bool = True) -> bytes:
    """Set a field of the index-th header, fixing its checksum."""
    b = bytearray(data)
    h, k = 0, 0
    while k < index:
        size = int(b[h + 124:h + 135].split(b"\0")[0] or b"0", 8)
        h += 512 + (size + 511) // 512 * 512
        k += 1
    b[h + off:h + off + len(value)] = value
    if fix:
        s = sum(b[h:h + 512]) - sum(b[h + 148:h + 156]) + 256
        b[h + 148:h + 156] = b"%06o\0 " % s
    return bytes(b)


CASES = {
    "plain": lambda: tar_of(plain(4) + [("l", "symlink", "d0/f"), ("h", "hardlink", "./d1/f"),
                                        ("dev/p", "fifo", None)]),
    "empty": lambda: b"",
    "only-end-blocks": lambda: bytes(1024),
    "no-end-blocks": lambda: without_end_blocks(tar_of(plain())),
    "ustar-prefix": lambda: tar_of([("p/" * 60 + "leaf", "file", b"abc"), ("q/" * 60, "dir", None)]),
    "gnu-long-names": lambda: tar_of([("a/" + "n" * 150, "file", b"1"), ("l" * 120, "symlink", "t" * 130),
                                      ("b", "file", b"2")], fmt=tarfile.GNU_FORMAT),
    "pax-records": lambda: tar_of([("x", "file", b"1", {"pax_headers": {"path": "renamed", "uid": "7",
                                                                       "mtime": "12.5"}}),
                                   ("y", "file", b"22"), ("é/ü", "file", b"3")], fmt=tarfile.PAX_FORMAT),
    "pax-size": lambda: tar_of([("a", "file", b"0123456789" * 100, {"pax_headers": {"size": "1000"}}),
                                ("b", "file", b"z")], fmt=tarfile.PAX_FORMAT),
    "whiteouts": lambda: tar_of([("etc/", "dir", None), ("etc/.wh.passwd", "file", b""),
                                 ("usr/.wh..wh..opq", "file", b""), (".wh..wh..opq", "file", b""),
                                 ("x/.wh..wh.plnk", "file", b""), ("y/.wh.", "file", b"junk"),
                                 ("a.wh.b/c", "file", b"k"), (".wh.top", "file", b"")]),
    "dot-slash-names": lambda: tar_of([("./", "dir", None), ("./etc/", "dir", None), ("./etc/a", "file", b"a"),
                                       ("./etc/.wh.b", "file", b""), ("./h", "hardlink", "./etc/a")]),
    "odd-names": lambda: tar_of([("/abs/a", "file", b"1"), ("a//b", "file", b"2"), ("a/./c", "file", b"3"),
                                 ("../up", "file", b"4"), ("x/../../y", "file", b"5"), (".", "dir", None),
                                 (".hidden", "file", b"6"), ("ok", "file", b"7")]),
    "hidden-and-dotted-names": lambda: tar_of([("etc/.bashrc", "file", b"1"), ("..x/y", "file", b"2"),
                                               (".../z", "file", b"3"), ("a/.b/", "dir", None),
                                               ("c/..d", "file", b"4"), ("e.", "file", b"5")]),
    "one-odd-name-in-a-clean-batch": lambda: tar_of(plain(50) + [("a//", "dir", None)] + plain(3)),
    "dot-component-at-the-end": lambda: tar_of(plain(5) + [("a/./", "dir", None), ("b/..", "dir", None)]),
    "many-escapes": lambda: tar_of([(f"../e{i}", "file", b"") for i in range(25)] + [("fine", "file", b"")]),
    "file-named-as-dir": lambda: patch_header(tar_of([("dir/", "dir", None), ("f/", "file", b"")]), 0, 156,
                                              b"0"),
    "os-release": lambda: tar_of([("etc/", "dir", None), ("etc/os-release", "file", b"ID=debian\n"),
                                  ("usr/lib/os-release", "file", b"ID=x\n"),
                                  ("other/os-release", "file", b"no"), ("etc/.wh.os-release", "file", b"")]),
    "non-utf8-and-control-names": lambda: patch_header(tar_of([("aaaa", "file", b"1"), ("bbbb", "file", b"")]),
                                                       1, 0, b"b\xff\x1b[2J\n"),
    "nul-inside-name": lambda: patch_header(tar_of([("abcdef", "file", b"1")]), 0, 0, b"ab\0de"),
    "space-ended-numbers": lambda: patch_header(tar_of(plain()), 2, 100, b"0000644 "),
    "base-256-uid": lambda: patch_header(tar_of(plain()), 1, 108, b"\x80" + bytes(6) + b"\x05"),
    "negative-uid": lambda: patch_header(tar_of(plain()), 1, 108, b"-000001\0"),
    "signed-checksum": lambda: _signed_checksum(),
    "bad-checksum": lambda: patch_header(tar_of(plain()), 3, 148, b"000001\0 ", fix=False),
    "checksum-off-by-65521": lambda: _checksum_plus(tar_of(plain()), 3, 65521),
    "no-checksum": lambda: patch_header(tar_of(plain()), 3, 148, bytes(8), fix=False),
    "truncated-contents": lambda: tar_of([("a", "file", b"x" * 5000)])[:2048],
    "truncated-header": lambda: tar_of(plain())[:512 * 3 + 100],
    "unknown-type": lambda: patch_header(tar_of(plain()), 1, 156, b"Z"),
    "volume-header": lambda: patch_header(tar_of(plain()), 0, 156, b"V"),
    "sparse-type": lambda: patch_header(tar_of(plain()), 2, 156, b"S"),
    "global-pax": lambda: _global_pax(),
    "duplicates": lambda: tar_of([("a", "file", b"1"), ("a", "file", b"22"), ("a/", "dir", None)]),
}


def _signed_checksum() -> bytes:
    data = bytearray(patch_header(tar_of(plain()), 1, 0, b"\xe9t\xe9"))
    h = 512
    s = sum(b if b < 128 else b - 256 for b in data[h:h + 512]) - sum(data[h + 148:h + 156]) + 256
    data[h + 148:h + 156] = b"%06o\0 " % s
    return bytes(data)


def _checksum_plus(data: bytes, index: int, delta: int) -> bytes:
    """The index-th header's checksum made wrong by `delta` (Adler-32's modulus: a
    check of the sum modulo 65521 would pass it)."""
    h = _header_offsets(data)[index]
    right = sum(data[h:h + 512]) - sum(data[h + 148:h + 156]) + 256
    return data[:h + 148] + b"%06o\0 " % (right + delta) + data[h + 156:]


def _header_offsets(data: bytes) -> list[int]:
    out, h = [], 0
    while h + 512 <= len(data) and data[h:h + 512] != bytes(512):
        out.append(h)
        h += 512 + (int(data[h + 124:h + 135].split(b"\0")[0] or b"0", 8) + 511) // 512 * 512
    return out


def _global_pax() -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"path": "everywhere"}) as t:
        for name in ("a", "b", "c"):
            ti = tarfile.TarInfo(name)
            t.addfile(ti)
    return bio.getvalue()


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_as_the_general_walker(name, tmp_path):
    same(CASES[name](), tmp_path)


def test_the_cases_cover_both_outcomes():
    outcomes = {name: general(CASES[name]()) for name in CASES}
    assert outcomes["bad-checksum"][0] == "error" and "bad checksum" in outcomes["bad-checksum"][1]
    off = outcomes["checksum-off-by-65521"]
    assert off[0] == "error" and "bad checksum" in off[1]
    assert outcomes["truncated-contents"][0] == "error"
    assert outcomes["plain"][0] != "error" and len(outcomes["plain"][0][0].split("\0")) == 11
    assert "escapes the image root" in " ".join(outcomes["odd-names"][1])
    assert any("25 entries in all" in w for w in outcomes["many-escapes"][1])
    # a global record renames nothing (as container runtimes read it), and is warned about
    assert outcomes["global-pax"][0][0] == "a\0b\0c"
    assert any("PAX global header" in w for w in outcomes["global-pax"][1])


def test_plain_tars_are_read_in_batches(batches):
    data = tar_of([(f"f{i:05d}", "file", b"%d" % i) for i in range(2 * tarbatch.BATCH + 7)])
    want = general(data)
    assert columns(data) == want
    assert batches == {"decoded": 3, "refused": 0}


def test_odd_entries_between_batches(batches, tmp_path):
    """PAX and GNU records in the middle of a long plain run: the general
    walker reads those entries, the batches go on around them."""
    members = [(f"f{i:05d}", "file", b"%d" % i) for i in range(1500)]
    members[300] = ("p" * 120, "file", b"long")  # GNU 'L' record before it
    members[1000] = ("q" * 150, "symlink", "t" * 140)
    data = tar_of(members, fmt=tarfile.GNU_FORMAT)
    want = same(data, tmp_path)
    assert want[0][0].split("\0")[300] == "p" * 120
    assert batches["refused"] == 0 and batches["decoded"] >= 5


@pytest.mark.parametrize("hash_files", [False, True], ids=["plain", "hashed"])
def test_streams_are_read_in_batches_too(batches, hash_files):
    data = tar_of([(f"f{i:05d}", "file", b"%d" % i) for i in range(3000)] + [("e", "file", b"")])
    got = stream(data, 1 << 18, hash_files=hash_files)
    assert got == stream(data, 1 << 18, use_columns=False, hash_files=hash_files)
    assert batches["decoded"] >= 6 and batches["refused"] == 0
    if hash_files:  # a digest per entry, and the one of f00007's contents where it should be
        from blake3 import blake3

        from layerscope.model import LayerEntries

        e = LayerEntries.from_state(got[0])
        assert len(e.digests) == 16 * len(e)
        assert e.digest(e.paths.index("f00007")) == blake3(b"7").digest(16)
        assert e.digest(e.paths.index("e")) is None  # an empty file: no digest


def test_a_refused_batch_goes_to_the_general_walker(batches):
    data = patch_header(tar_of(plain(200)), 250, 100, b"0000644 ")  # one space-ended mode
    assert columns(data) == general(data)
    assert batches["refused"] == 1


def test_reads_no_byte_past_the_layer(tmp_path):
    """Over a file, the headers after the layer's end (another blob) are not
    taken: a layer without end blocks ends at its last entry."""
    body = without_end_blocks(tar_of(plain()))
    assert columns(body, tmp_path / "l.tar", origin=512, after=tar_of([("other", "file", b"")])) == general(body)


# ---------------------------------------------------------------------------
# real layers

def _uncompressed_layers():
    archives = sorted(SAMPLES.glob("*.tar"))
    if CORPUS.exists():
        archives += sorted(CORPUS.glob("dive/*.tar"))
    bench = ROOT / "bench" / "images"
    archives += [p for p in sorted(bench.glob("*.docker.tar")) if p.stat().st_size < (1 << 31)]
    out = []
    for a in archives:
        try:
            g = open_graph([str(a)])
        except Exception:
            continue
        for layer in g.layers.values():
            if layer.blob is not None and compression.sniff(bytes(blobs.blob_view(layer.blob)[:512])) == "none":
                out.append(pytest.param(a, layer.blob, id=f"{a.name}:{layer.short_id}"))
    return out


@pytest.mark.parametrize("archive,blob", _uncompressed_layers())
def test_real_layers(archive, blob):
    tarwalk.COLUMNS = False
    try:
        want = indexing.index_blob(blob, "", "t")
    finally:
        tarwalk.COLUMNS = True
    got = indexing.index_blob(blob, "", "t")
    assert got[0].to_state() == want[0].to_state()
    assert got[1:] == want[1:]
    if blob.size < (200 << 20):  # and as a stream, as when the layer is compressed
        data = bytes(blobs.blob_view(blob))
        assert stream(data, 1 << 18) == stream(data, 1 << 18, use_columns=False)
        assert stream(data, 1 << 18, hash_files=True) == stream(data, 1 << 18, use_columns=False, hash_files=True)


# ---------------------------------------------------------------------------
# random and mutated tars

name_part = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="/\0"), min_size=1,
                    max_size=12)
member = st.tuples(
    st.lists(st.one_of(name_part, st.sampled_from([".", "..", "", ".wh.x", ".wh..wh..opq", "os-release"])),
             min_size=1, max_size=12).map("/".join),
    st.sampled_from(["file", "dir", "symlink", "hardlink", "fifo"]),
    st.binary(max_size=700),
    st.fixed_dictionaries({"uid": st.integers(0, 70000), "mode": st.integers(0, 0o7777),
                           "mtime": st.integers(0, 8 ** 11 - 1)}),
)


@PROPS
@given(members=st.lists(member, max_size=40), fmt=st.sampled_from([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT,
                                                                   tarfile.PAX_FORMAT]))
def test_random_tars(members, fmt):
    ms = []
    for name, kind, data, extra in members:
        payload = data if kind == "file" else (name[::-1] or "t") if kind in ("symlink", "hardlink") else None
        ms.append((name, kind, payload, extra))
    try:
        data = tar_of(ms, fmt=fmt)
    except (ValueError, UnicodeError):  # a name USTAR cannot hold
        return
    same(data)


@PROPS
@given(seed=st.sampled_from(range(len(SEEDS))), ops=st.lists(op, min_size=1, max_size=5))
def test_mutated_tars(seed, ops):
    same(mutate(SEEDS[seed], ops))


def test_global_pax_record_between_plain_entries(tmp_path):
    # what hypothesis found first: a 'g' record after an 'x' one
    base = tar_of(plain(2))
    assert same(mutate(base, [("pax", 0.0, b"x", b"path", b"-1"), ("pax", 0.0, b"g", b"path", b"-1")]),
                tmp_path)[0] != "error"


@pytest.mark.parametrize("limit", [20_000, 300_000, 1_000_000])
def test_bomb_limit_on_a_stream(limit):
    """A decompression-bomb limit hit between batches or inside an entry:
    the same entries kept and the same note as the general walker."""
    data = tar_of([(f"f{i:05d}", "file", b"z" * (i % 2000)) for i in range(1500)])

    def run(use_columns):
        src = io.BytesIO(data)
        tarwalk.COLUMNS = use_columns
        try:
            return _outcome(TarIndexer(b"", lambda n, r=src.read: r(min(n, 65536)), limit, "t"))
        finally:
            tarwalk.COLUMNS = True

    got = run(True)
    assert got == run(False)
    assert got[3] is True and any("decompression bomb" in w for w in got[1])


# ---------------------------------------------------------------------------
# the compiled chain against the Python one, header for header

def chains(data: bytes, pos: int, end: int, limit: int, shift: int, tmp_path) -> tuple:
    """(Python over bytes, compiled over bytes, compiled over a file at an origin)."""
    from array import array

    py = tarbatch.chain_py(data, 0, pos, end, limit, shift)
    path = tmp_path / "chain.tar"
    path.write_bytes(b"\xff" * 700 + data)
    fd = os.open(path, os.O_RDONLY)
    try:
        c_fd = tarbatch._columns(*C_FD(fd, 700, pos, end, limit, shift))
    finally:
        os.close(fd)
    c_buf = tarbatch._columns(*C_BUF(data, pos, end, limit, shift))
    for got in (c_fd, c_buf):
        assert isinstance(got[1], array) and got[1].typecode == "q" and got[2].typecode == "q"
    return py, c_buf, c_fd


def check_chains(data: bytes, tmp_path, limits=(1, 3, tarbatch.BATCH)) -> None:
    """The compiled chain takes what the Python one takes, except that it
    stops at a size field that is not eleven octal digits, which int() reads
    (the general walker then reads that entry)."""
    for limit in limits:
        for end in sorted({len(data), max(0, len(data) - 512), len(data) // 2}):
            py, c_buf, c_fd = chains(data, 0, end, limit, 7, tmp_path)
            assert c_buf == c_fd
            k = len(c_buf[0])
            assert c_buf[0] == py[0][:k] and list(c_buf[1]) == list(py[1][:k]) and list(c_buf[2]) == list(py[2][:k])
            if k < len(py[0]):  # stopped early: only at a size field int() reads but the compiled chain does not
                field = py[0][k][124:135]
                assert not all(48 <= b <= 55 for b in field)
                assert c_buf[3] == py[1][k] - 7 - 512
            else:
                assert c_buf[3] == py[3]


@ONLY_COMPILED
@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_chain_as_python(name, tmp_path):
    check_chains(CASES[name](), tmp_path)


@ONLY_COMPILED
def test_compiled_chain_stops_at_a_size_it_does_not_read(tmp_path):
    data = tar_of(plain(6))
    spaced = patch_header(data, 3, 124, b" 0000000000")  # a directory's size, as int(" 0000000000", 8) reads it
    py, c_buf, c_fd = chains(spaced, 0, len(spaced), 100, 0, tmp_path)
    assert len(py[0]) == 12 and len(c_buf[0]) == 3 and c_fd == c_buf
    check_chains(spaced, tmp_path)
    assert columns(spaced) == general(spaced)


@ONLY_COMPILED
@PROPS
@given(seed=st.sampled_from(range(len(SEEDS))), ops=st.lists(op, min_size=1, max_size=5))
def test_compiled_chain_on_mutated_tars(seed, ops, tmp_path_factory):
    check_chains(mutate(SEEDS[seed], ops), tmp_path_factory.mktemp("chain"), limits=(2, tarbatch.BATCH))


def test_compiled_chain_is_built_in_ci():
    """CI installs the project as a user does (pip builds setup.py's
    extension): there, a missing compiled chain is a broken build."""
    if os.environ.get("CI") != "true":
        pytest.skip("only CI's install is known to have a compiler")
    assert COMPILED


def python_verdict(hdrs: bytes) -> bool:
    """Whether decode's Python checks of terminators and checksums pass."""
    blocks = [hdrs[k:k + 512] for k in range(0, len(hdrs), 512)]
    for off in tarbatch._TERMINATORS:
        if hdrs[off::512].count(0) != len(blocks):
            return False
    try:
        return all(int(b[148:154], 8) + sum(b[148:154]) + b[155] == sum(b) + 256 for b in blocks)
    except ValueError:
        return False


def check_verdict(data: bytes) -> None:
    blocks, _, _, _ = tarbatch.chain_py(data, 0, 0, len(data), 10_000)
    for k in range(len(blocks)):  # every batch that starts at a header the chain took
        hdrs = b"".join(blocks[k:k + 7])
        got = C_OK(hdrs)
        if got >= 0:
            assert bool(got) == python_verdict(hdrs), k
        else:  # a checksum field int() may read: decode checks in Python
            assert any(not all(48 <= c <= 55 for c in hdrs[h + 148:h + 154]) for h in range(0, len(hdrs), 512))


@ONLY_COMPILED
def test_compiled_checks_as_decodes(tmp_path):
    data = tar_of(plain(5))
    check_verdict(data)
    assert C_OK(b"".join(tarbatch.chain_py(data, 0, 0, len(data), 100)[0])) == 1
    bad = patch_header(data, 2, 148, b"000001", fix=False)
    assert C_OK(b"".join(tarbatch.chain_py(bad, 0, 0, len(bad), 100)[0])) == 0
    spaced = patch_header(data, 2, 148, b" " + data[2 * 512 + 149:2 * 512 + 154], fix=False)
    assert C_OK(b"".join(tarbatch.chain_py(spaced, 0, 0, len(spaced), 100)[0])) == -1
    unended = patch_header(data, 1, 107, b"7")
    assert C_OK(b"".join(tarbatch.chain_py(unended, 0, 0, len(unended), 100)[0])) == 0
    for name in sorted(CASES):
        check_verdict(CASES[name]())


@ONLY_COMPILED
@PROPS
@given(seed=st.sampled_from(range(len(SEEDS))), ops=st.lists(op, min_size=1, max_size=5))
def test_compiled_checks_on_mutated_tars(seed, ops):
    check_verdict(mutate(SEEDS[seed], ops))
