"""Property-based fuzzing of the tar walker and the format readers (hypothesis,
a bounded number of examples: well under 20 s).  Valid layer tars and image
archives are mutated -- bytes flipped, cut short, header fields set to odd
values with the checksum fixed so the walker gets past it, extended headers
inserted -- and fed to TarIndexer (over memory and over a stream) and to
open_graph + index_layers.  The only exceptions allowed are ImageError and
LayerError; every example must finish within a deadline.

`bench/fuzz.py` runs the same kind of targets for minutes; the crashes it
found are the regression tests at the end of this file."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import tracemalloc
from datetime import timedelta

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerscope.errors import ImageError, LayerError
from layerscope.formats.source import open_graph
from layerscope.layers import blobs, indexing
from layerscope.layers.indexing import index_layers
from layerscope.layers.tarwalk import TarIndexer
from layerscope.model import OPAQUE, BlobRef
from layerscope.testing.synth import EmptyStep, F, ImageSpec, LayerSpec, layer_tar_bytes, write_archive

FUZZ = settings(max_examples=int(os.environ.get("LAYERSCOPE_FUZZ_EXAMPLES", "120")),
                deadline=timedelta(seconds=10), database=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SEED_LAYER = LayerSpec([
    F("etc/", "dir"), F("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n"),
    F("bin/", "dir"), F("bin/sh", data=bytes(range(256)) * 3, mode=0o4755),
    F("lib", "symlink", link="usr/lib"), F("bin/sh2", "hardlink", link="bin/sh"),
    F("usr/lib/" + "long-" * 30, data=b"pax path"), F("dev/null", "char", major=1, minor=3),
    F("etc/gone", "whiteout"), F("usr/", "opaque"),
    F("x", raw_name=b"bad/\xff\x1b[31m\nname", data=b"x"),
])
SEED_TAR = layer_tar_bytes(SEED_LAYER)


def _gnu_tar() -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name in ("a/" + "n" * 150, "./d/", "/abs/e", "../up"):
            ti = tarfile.TarInfo(name)
            ti.size = 3
            ti.uid = 1 << 40
            t.addfile(ti, io.BytesIO(b"abc"))
        ti = tarfile.TarInfo("l" * 200)
        ti.type = tarfile.SYMTYPE
        ti.linkname = "t" * 300
        t.addfile(ti)
    return bio.getvalue()


SEEDS = [SEED_TAR, _gnu_tar()]
FIELDS = [(0, 100), (100, 8), (108, 8), (116, 8), (124, 12), (136, 12), (148, 8), (156, 1), (157, 100),
          (257, 8), (345, 155)]
ODD_VALUES = [b"", b"0", b"7" * 11, b"\x80" + bytes(10) + b"\x01", b"\xff" * 12, b" " * 8, b"-1", b"9",
              b"../../etc/passwd", b"/abs", b".", b"..", b"\x1b[2J", b"x", b"L", b"K", b"g", b"S", b"V",
              b"\x80" + (1 << 40).to_bytes(11, "big"), b"\x80" + b"\xff" * 11]


def _headers(data: bytes) -> list[int]:
    out, i = [], data.find(b"ustar")
    while i >= 0:
        if (i - 257) % 512 == 0 and i >= 257:
            out.append(i - 257)
        i = data.find(b"ustar", i + 1)
    return out


def _fix(b: bytearray, h: int) -> None:
    if h + 512 <= len(b):
        s = sum(b[h:h + 512]) - sum(b[h + 148:h + 156]) + 256
        b[h + 148:h + 156] = b"%06o\0 " % (s & 0o777777)


op = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 7)),
    st.tuples(st.just("cut"), st.floats(0, 1), st.sampled_from([0, 1, 100, 256, 511, 512, 513])),
    st.tuples(st.just("field"), st.floats(0, 1), st.integers(0, len(FIELDS) - 1),
              st.one_of(st.sampled_from(ODD_VALUES), st.binary(max_size=16)), st.booleans()),
    st.tuples(st.just("pax"), st.floats(0, 1), st.sampled_from([b"x", b"g", b"L", b"K"]),
              st.sampled_from([b"path", b"linkpath", b"size", b"uid", b"mtime", b"junk"]),
              st.one_of(st.sampled_from([b"-1", b"1e400", b"inf", b"nan", b"99999999999999999999", b"",
                                         b"../../x", b"a\nb"]), st.binary(max_size=20))),
    st.tuples(st.just("block"), st.floats(0, 1), st.sampled_from(["drop", "dup", "zero"])),
)


def mutate(data: bytes, ops) -> bytes:
    b = bytearray(data)
    for o in ops:
        if not b:
            break
        hs = _headers(bytes(b)) or [0]
        kind, where = o[0], o[1]
        i = min(int(where * len(b)), len(b) - 1)
        h = hs[min(int(where * len(hs)), len(hs) - 1)]
        if kind == "flip":
            b[i] ^= 1 << o[2]
        elif kind == "cut":
            del b[min(h + o[2], len(b)) if where < 0.5 else i:]
        elif kind == "field":
            off, ln = FIELDS[o[2]]
            if h + off + ln <= len(b):
                b[h + off:h + off + ln] = o[3][:ln].ljust(ln, b"\0")
                if o[4]:
                    _fix(b, h)
        elif kind == "pax":
            body = b" " + o[3] + b"=" + o[4] + b"\n"
            n = len(body) + 1
            while len(str(n).encode() + body) != n:
                n = len(str(n).encode() + body)
            payload = (str(n).encode() + body) if o[2] in (b"x", b"g") else o[4] + b"\0"
            hdr = bytearray(512)
            hdr[0:9] = b"PaxHeader"
            hdr[100:108] = b"0000644\0"
            hdr[124:136] = b"%011o\0" % len(payload)
            hdr[156:157] = o[2]
            hdr[257:265] = b"ustar\x0000"
            _fix(hdr, 0)
            b[h:h] = bytes(hdr) + payload + bytes(-len(payload) % 512)
        else:
            k = (i // 512) * 512
            if o[2] == "drop":
                del b[k:k + 512]
            elif o[2] == "dup":
                b[k:k] = b[k:k + 512]
            else:
                b[k:k + 512] = bytes(len(b[k:k + 512]))
    return bytes(b)


def _well_formed(entries) -> None:
    for i, p in enumerate(entries.paths):
        if p == "" and entries.types[i] == OPAQUE:
            continue  # an opaque marker for the root
        assert not p.startswith("/") and all(c not in ("", ".", "..") for c in p.split("/")), p


@FUZZ
@given(seed=st.sampled_from(range(len(SEEDS))), ops=st.lists(op, min_size=1, max_size=5),
       chunk=st.sampled_from([1, 511, 4096, 1 << 20]))
def test_fuzz_tar_walker(seed, ops, chunk):
    data = mutate(SEEDS[seed], ops)
    tracemalloc.start()
    try:
        results = []
        for mode in ("memory", "stream"):
            if mode == "memory":
                ix = TarIndexer(data, None, None, "fuzz")
            else:
                src = io.BytesIO(data)
                ix = TarIndexer(b"", lambda n, r=src.read: r(min(n, chunk)), (len(data) + 1) * 4, "fuzz")
            try:
                e = ix.run()
                _well_formed(e)
                results.append((e.paths, bytes(e.types), list(e.sizes), list(e.offsets)))
            except LayerError as err:
                assert "\n" not in err.line()
                results.append(type(err))
        # over memory and over a stream, the walker must agree
        assert results[0] == results[1]
        assert tracemalloc.get_traced_memory()[1] < (64 << 20) + 40 * len(data)
    finally:
        tracemalloc.stop()


def _compressed(kind: str, tar: bytes) -> bytes:
    if kind == "gzip":
        return gzip.compress(tar, compresslevel=1, mtime=0)
    if kind == "zstd":
        return zstandard.ZstdCompressor(write_checksum=True).compress(tar)
    return tar


@FUZZ
@given(kind=st.sampled_from(["gzip", "zstd"]), inner=st.booleans(), ops=st.lists(op, min_size=1, max_size=3),
       cut=st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 7)), max_size=4))
def test_fuzz_compressed_layer(tmp_path_factory, kind, inner, ops, cut, flips):
    """The decoder path: the tar inside mutated, or the compressed bytes
    flipped / cut (gzip CRCs, zstd checksums, block headers)."""
    blob = bytearray(_compressed(kind, mutate(SEED_TAR, ops) if inner else SEED_TAR))
    if not inner:
        for where, bit in flips:
            blob[min(int(where * len(blob)), len(blob) - 1)] ^= 1 << bit
        if cut < 0.5:
            del blob[int(cut * 2 * len(blob)):]
    d = tmp_path_factory.mktemp("blob")
    p = str(d / "layer")
    with open(p, "wb") as f:
        f.write(blob)
    try:
        entries, comp, usize, warnings, bomb = indexing.index_blob(BlobRef(p, 0, len(blob), "fuzz"), "", "fuzz")
        _well_formed(entries)
    except LayerError as err:
        assert "\n" not in err.line()
    finally:
        blobs.forget(p)


def _seed_archives(tmp) -> dict[str, bytes]:
    spec = ImageSpec([SEED_LAYER, EmptyStep("ENV A=1"),
                      LayerSpec([F("etc/", "dir"), F("etc/passwd", data=b"changed\n")], "RUN x")],
                     repo_tags=["fuzz:1"])
    out = {}
    for layout, comp, opts in (("docker-legacy", "none", {}), ("oci", "gzip", {"nested_index": True}),
                               ("docker25", "zstd", {})):
        for l in spec.layers:
            if isinstance(l, LayerSpec):
                l.compression = comp
        p = os.path.join(tmp, f"{layout}.tar")
        write_archive(p, [spec], layout, **opts)
        with open(p, "rb") as f:
            out[layout] = f.read()
    return out


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    return _seed_archives(str(tmp_path_factory.mktemp("seeds")))


json_value = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10),
                                    st.sampled_from(["../../etc/passwd", "/etc/passwd", "sha256:" + "0" * 64,
                                                     "application/vnd.oci.image.index.v1+json"])),
                          lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=8), c,
                                                                                       max_size=3)),
                          max_leaves=8)


def _mutate_json_members(data: bytes, picks, value, key_choice) -> bytes:
    """Replace one value somewhere in one JSON member of the archive (the
    tar is rewritten, so sizes stay right)."""
    members = []
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        for ti in t.getmembers():
            members.append((ti, t.extractfile(ti).read() if ti.isreg() else b""))
    js = [k for k, (ti, b) in enumerate(members) if ti.isreg() and b[:1] in (b"{", b"[")]
    if js:
        k = js[picks % len(js)]
        doc = json.loads(members[k][1])
        nodes = []

        def walk(x):
            if isinstance(x, dict):
                for kk in list(x):
                    nodes.append((x, kk))
                    walk(x[kk])
            elif isinstance(x, list):
                for i in range(len(x)):
                    nodes.append((x, i))
                    walk(x[i])

        walk(doc)
        if nodes:
            parent, key = nodes[key_choice % len(nodes)]
            parent[key] = value
        members[k] = (members[k][0], json.dumps(doc).encode())
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as t:
        for ti, b in members:
            ti.size = len(b)
            t.addfile(ti, io.BytesIO(b) if ti.isreg() else None)
    return bio.getvalue()


def _load(tmp: str, data: bytes) -> None:
    p = os.path.join(tmp, "img.tar")
    with open(p, "wb") as f:
        f.write(data)
    try:
        g = open_graph([p])
        index_layers(g, use_cache=False, workers=1)
        for layer in g.layers.values():
            if layer.error:
                assert "\n" not in layer.error
            else:
                _well_formed(layer.entries)
    except ImageError as err:
        assert "\n" not in err.line()
    finally:
        blobs.forget(p)
        os.unlink(p)


@FUZZ
@given(layout=st.sampled_from(["docker-legacy", "oci", "docker25"]), ops=st.lists(op, min_size=1, max_size=4))
def test_fuzz_image_archive_bytes(archives, tmp_path_factory, layout, ops):
    _load(str(tmp_path_factory.mktemp("img")), mutate(archives[layout], ops))


@FUZZ
@given(layout=st.sampled_from(["docker-legacy", "oci", "docker25"]), pick=st.integers(0, 100),
       where=st.integers(0, 1000), value=json_value)
def test_fuzz_image_archive_json(archives, tmp_path_factory, layout, pick, where, value):
    _load(str(tmp_path_factory.mktemp("img")), _mutate_json_members(archives[layout], pick, value, where))


# ---------------------------------------------------------------------------
# regressions: each crash bench/fuzz.py found, reduced to its cause

def _oci_index(tmp_path, index_doc) -> str:
    """An OCI archive with only `index_doc` as its index."""
    p = tmp_path / "idx.tar"
    body = json.dumps(index_doc).encode()
    with tarfile.open(p, "w") as t:
        for name, data in (("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", body),
                           ("blobs/sha256/" + "a" * 64, json.dumps({"manifests": [], "mediaType": ["x"]}).encode())):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return str(p)


def test_regression_media_type_not_a_string(tmp_path):
    """fuzz: TypeError: unhashable type: 'list' (oci.py, `mt in INDEX_TYPES`)."""
    p = _oci_index(tmp_path, {"manifests": [{"mediaType": ["a"], "digest": "sha256:" + "a" * 64}]})
    with pytest.raises(ImageError):
        open_graph([p])
    p = _oci_index(tmp_path, {"manifests": [{"mediaType": {"a": 1}, "digest": "sha256:" + "a" * 64}]})
    with pytest.raises(ImageError):
        open_graph([p])


def test_regression_manifests_not_a_list(tmp_path):
    """fuzz: TypeError: 'bool' object is not iterable (oci.py, a nested
    index whose `manifests` is not a list)."""
    nested = {"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": True}
    p = tmp_path / "n.tar"
    body = json.dumps({"manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
                                      "digest": "sha256:" + "b" * 64}]}).encode()
    with tarfile.open(p, "w") as t:
        for name, data in (("oci-layout", b"{}"), ("index.json", body),
                           ("blobs/sha256/" + "b" * 64, json.dumps(nested).encode())):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    with pytest.raises(ImageError, match="malformed manifests list"):
        open_graph([str(p)])


def test_regression_repo_tags_not_a_list(tmp_path):
    """fuzz: TypeError: 'int' object is not iterable (docker.py, RepoTags)."""
    from layerscope.testing.synth import write_archive as wa

    p = tmp_path / "img.tar"
    wa(p, [ImageSpec([LayerSpec([F("a", data=b"a")])])], "docker-legacy")
    members = []
    with tarfile.open(p) as t:
        for ti in t.getmembers():
            members.append((ti, t.extractfile(ti).read() if ti.isreg() else b""))
    out = tmp_path / "img2.tar"
    with tarfile.open(out, "w") as t:
        for ti, b in members:
            if ti.name == "manifest.json":
                m = json.loads(b)
                m[0]["RepoTags"] = 5
                b = json.dumps(m).encode()
                ti.size = len(b)
            t.addfile(ti, io.BytesIO(b) if ti.isreg() else None)
    g = open_graph([str(out)])
    assert g.images[0].refs == []


def test_regression_repo_tags_not_a_list_docker25(tmp_path):
    """fuzz: the same in formats/__init__.py (_merge_repo_tags, Docker 25+
    archives carry both index.json and manifest.json)."""
    p = tmp_path / "img.tar"
    write_archive(p, [ImageSpec([LayerSpec([F("a", data=b"a")])])], "docker25")
    members = []
    with tarfile.open(p) as t:
        for ti in t.getmembers():
            members.append((ti, t.extractfile(ti).read() if ti.isreg() else b""))
    out = tmp_path / "img2.tar"
    with tarfile.open(out, "w") as t:
        for ti, b in members:
            if ti.name == "manifest.json":
                m = json.loads(b)
                m[0]["RepoTags"] = 5
                m.append(7)
                b = json.dumps(m).encode()
                ti.size = len(b)
            t.addfile(ti, io.BytesIO(b) if ti.isreg() else None)
    g = open_graph([str(out)])
    assert len(g.images) == 1


def test_regression_mtime_beyond_64_bits():
    """fuzz: OverflowError: int too big to convert (model.py, mtimes.append)."""
    ti = tarfile.TarInfo("a")
    hb = bytearray(ti.tobuf(tarfile.USTAR_FORMAT))
    hb[136:148] = b"\x80" + b"\x7f" * 11
    _fix(hb, 0)
    e = TarIndexer(bytes(hb) + bytes(1024), None, None, "t").run()
    assert e.mtimes[0] == (1 << 63) - 1
    hb[136:148] = b"\xc0" + b"\x00" * 11  # negative, huge
    _fix(hb, 0)
    e = TarIndexer(bytes(hb) + bytes(1024), None, None, "t").run()
    assert e.mtimes[0] == -(1 << 63)


def test_regression_pax_mtime_infinite():
    ti = tarfile.TarInfo("a")
    ti.pax_headers = {"mtime": "inf"}
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as t:
        t.addfile(ti)
    with pytest.raises(LayerError, match="bad number"):
        TarIndexer(bio.getvalue(), None, None, "t").run()


def test_regression_whiteout_without_name():
    """fuzz: a `.wh.` entry produced a whiteout for '' (the root) or 'dir/'."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w") as t:
        for n in ("etc/.wh.", ".wh.", "etc/.wh..", "etc/f"):
            t.addfile(tarfile.TarInfo(n))
    e = TarIndexer(bio.getvalue(), None, None, "t").run()
    assert e.paths == ["etc/f"]


def test_regression_truncated_zstd_is_not_an_empty_layer(tmp_path):
    """Found while writing the hostile tests: zstd's stream reader stops
    silently at the end of its input, so a cut zstd layer indexed as an empty
    (or shorter) tar.  The frames are now checked first."""
    blob = zstandard.ZstdCompressor(write_checksum=True).compress(SEED_TAR + os.urandom(100_000))
    for cut in (len(blob) // 3, len(blob) - 100, len(blob) - 2, 10):
        p = str(tmp_path / f"l{cut}")
        with open(p, "wb") as f:
            f.write(blob[:cut])
        with pytest.raises(LayerError, match="the zstd stream ends early"):
            indexing.index_blob(BlobRef(p, 0, cut, "l"), "", "l")
    p = str(tmp_path / "whole")
    with open(p, "wb") as f:
        f.write(blob + blob)  # two whole frames: fine
    indexing.index_blob(BlobRef(p, 0, 2 * len(blob), "l"), "", "l")


def test_regression_bomb_keeps_the_entry_it_stopped_in():
    """The entry whose contents hit the bomb limit is kept (its header is
    real: the report shows its size) and extraction refuses its bytes."""
    ti = tarfile.TarInfo("zeros")
    ti.size = 1 << 40
    head = ti.tobuf(tarfile.GNU_FORMAT)
    state = {"first": True}

    def read(n):
        if state["first"]:
            state["first"] = False
            return head
        return bytes(min(n, 1 << 20))

    ix = TarIndexer(b"", read, 64 << 20, "t")
    e = ix.run()
    assert ix.bomb and e.paths == ["zeros"] and e.sizes[0] == 1 << 40
