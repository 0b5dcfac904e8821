"""The on-disk cache cannot be made to lie, to delete what it did not write,
to fail on well-formed but wrong files, or to cost time per layer."""

import json
import marshal
import os
import random
import time

import pytest

from layerscope.cli import main
from layerscope.formats.source import open_graph
from layerscope.layers import blobs, cache
from layerscope.layers.indexing import index_layers
from layerscope.testing.synth import F, ImageSpec, LayerSpec, classic_image, write_archive

PAD = 200 << 10  # more than the 64 KiB either end that keys used to sample


@pytest.fixture
def cache_at(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("LAYERSCOPE_CACHE", str(d))
    if hasattr(cache, "_trimmed"):
        monkeypatch.setattr(cache, "_trimmed", set())
    return d


def _states(path, use_cache=True):
    g = open_graph([str(path)])
    index_layers(g, use_cache=use_cache)
    return [(l.entries.to_state(), l.uncompressed_size) for l in g.images[0].layers]


def _set_mode(data: bytearray, name: bytes, mode: int, start: int, end: int) -> None:
    """Rewrite the ustar mode of the entry `name` found in data[start:end],
    with a valid header checksum: a well-formed forged layer."""
    at = data.index(name + b"\0", start, end)
    data[at + 100:at + 108] = b"%07o\0" % mode
    data[at + 148:at + 156] = b" " * 8
    data[at + 148:at + 156] = b"%06o\0 " % sum(data[at:at + 512])


def test_forged_middle_bytes_do_not_hit_the_cache(tmp_path, cache_at):
    """A layer with the genuine layer's claimed digest, diff_id and size but
    a setuid bit set in the middle is shown as it is, not as the cached
    genuine layer."""
    p = tmp_path / "img.tar"
    spec = ImageSpec([LayerSpec([F("a/pad", size=PAD), F("usr/bin/tool", data=b"x", mode=0o755),
                                 F("z/pad", size=PAD)])])
    write_archive(str(p), [spec], layout="docker-legacy")
    genuine = _states(p)
    layer = open_graph([str(p)]).images[0].layers[0]
    b = layer.blob
    data = bytearray(p.read_bytes())
    _set_mode(data, b"usr/bin/tool", 0o4755, b.offset + PAD, b.offset + b.size - PAD)
    time.sleep(0.01)
    p.write_bytes(bytes(data))  # same size, same claimed digests, other middle bytes
    blobs.forget(str(p))
    shown = _states(p)
    honest = _states(p, use_cache=False)
    assert honest != genuine
    assert shown == honest
    g = open_graph([str(p)])
    index_layers(g)
    e = g.images[0].layers[0].entries
    assert e.modes[e.paths.index("usr/bin/tool")] == 0o4755


def _all_files(d):
    return sorted(os.path.relpath(os.path.join(r, n), d) for r, _, ns in os.walk(d) for n in ns)


def test_cache_writes_and_trims_only_its_own_files(tmp_path, cache_at, monkeypatch):
    """LAYERSCOPE_CACHE pointed at a shared directory: the cache writes only
    in its own subdirectory, and trimming spares every file it did not write
    -- foreign names, files with its names but not its header, and the
    targets of symlinks planted among its files."""
    shared = cache_at
    shared.mkdir()
    hexname = "ab" * 32
    foreign = {"notes.txt": b"mine", hexname: b"x" * 100, f"{hexname}.index": b"y" * 100,
               os.path.join("ab", hexname): b"z" * 100}
    for rel, body in foreign.items():
        (shared / rel).parent.mkdir(parents=True, exist_ok=True)
        (shared / rel).write_bytes(body)
        os.utime(shared / rel, (1000, 1000))  # older than anything the cache writes
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image("gzip")], layout="oci")
    _states(p)
    written = [f for f in _all_files(shared) if f not in foreign]
    assert written and all(f.startswith("layerscope-cache-v") and os.sep in f for f in written)
    own = shared / written[0].split(os.sep)[0]
    # a symlink with the cache's name pattern, to a file with the cache's header
    victim = tmp_path / "victim"
    victim.write_bytes((own / os.path.basename(written[0])).read_bytes())
    os.symlink(victim, own / ("cd" * 32 + ".index"))
    # a file of its own name but another header
    (own / ("ef" * 32 + ".index")).write_bytes(b"not a cache file" * 10)
    monkeypatch.setattr(cache, "MAX_BYTES", 1)
    monkeypatch.setattr(cache, "_trimmed", set())
    cache.trim()
    for rel, body in foreign.items():
        assert (shared / rel).read_bytes() == body, rel
    assert victim.exists() and os.path.islink(own / ("cd" * 32 + ".index"))
    assert (own / ("ef" * 32 + ".index")).exists()
    assert not any((shared / f).exists() for f in written)  # its own files were trimmed


def test_trim_runs_once_for_a_deep_image(tmp_path, cache_at, monkeypatch):
    """Indexing a 300-layer image with the cache on lists the cache
    directory once, not once per layer."""
    p = tmp_path / "deep.tar"
    write_archive(str(p), [ImageSpec([LayerSpec([F(f"l{i}/f", data=b"x")]) for i in range(300)])], layout="oci")
    calls = []
    real = os.scandir
    monkeypatch.setattr(os, "scandir", lambda *a: calls.append(a) or real(*a))
    _states(p)
    assert 1 <= len(calls) <= 2
    monkeypatch.setattr(os, "scandir", real)
    assert len([f for f in _all_files(cache_at)]) == 300


# -- well-formed but wrong cache files ---------------------------------------
def _report(path, capsys):
    assert main(["report", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _unseal(data: bytes):
    """(header, payload) of a cache file, in whichever format it has."""
    magic = getattr(cache, "MAGIC", None)
    if magic and data.startswith(magic):
        return data[:cache.HEADER], data[cache.HEADER:]
    return b"", data


def _seal(header: bytes, payload: bytes) -> bytes:
    """A file as the cache would write it for this payload (checksum and
    all): what a mutation left well-formed has to be rejected by the checks
    of what was loaded, not by the checksum."""
    if not header:
        return payload
    h = cache._hasher()
    h.update(payload)
    return header[:-32] + h.digest() + payload


def _mutations(value, rnd):
    """Variants of a marshalled value, each with one leaf made wrong: another
    type, a column a few bytes short or long, an int out of range, bytes
    full of codes no writer uses."""
    leaves = []

    def walk(v, path):
        if isinstance(v, bytes) and path[1:3] == (0, 10) and path[-1] == 1:
            return  # a captured file's content: any bytes of its length are well-formed and cannot be checked
        if isinstance(v, (tuple, list)):
            for i, x in enumerate(v):
                walk(x, path + (i,))
        elif isinstance(v, dict):
            return
        else:
            leaves.append((path, v))

    walk(value, ())
    rnd.shuffle(leaves)

    def replaced(v, path, new):
        if not path:
            return new
        items = list(v)
        items[path[0]] = replaced(v[path[0]], path[1:], new)
        return tuple(items) if isinstance(v, tuple) else items

    for path, leaf in leaves[:12]:
        if isinstance(leaf, bytes):
            # 0xfe.. / 0x7f..: no known code, no index in range, a negative or huge size or offset
            news = ["a string", leaf[:-1] if leaf else b"\x01", leaf + bytes(8), b"\xfe" * len(leaf),
                    b"\x7f" * len(leaf)]
        elif isinstance(leaf, int):
            news = ["7", -5, 1 << 40, None]
        elif isinstance(leaf, str):
            news = [12, b"bytes", leaf + "\0x"]
        else:
            news = [0, "x"]
        for new in news:
            yield replaced(value, path, new)
    # whole containers of the wrong shape
    if isinstance(value, (tuple, list)):
        for i in range(len(value)):
            yield replaced(value, (i,), [])
            yield replaced(value, (i,), (1, 2, 3))


@pytest.mark.parametrize("columns", [False, True], ids=["loop", "columns"])
def test_wrong_cache_files_are_rebuilt(tmp_path, cache_at, monkeypatch, capsys, columns):
    """Every cache file (index, content digests, analysis) mutated -- bytes
    flipped, or well-formed with wrong types, lengths, offsets or codes --
    gives the same report as no cache, never an error; checked as a small
    stack is, and as a big one is (on arrays)."""
    monkeypatch.setattr(cache, "ANALYSIS_MIN_ENTRIES", 0)
    if columns:
        from layerscope.analysis import stack as stack_mod

        monkeypatch.setattr(stack_mod, "COLUMNS_MIN", 0)
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image()], layout="docker-legacy")
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")
    want = _report(p, capsys)
    monkeypatch.setenv("LAYERSCOPE_CACHE", str(cache_at))
    assert _report(p, capsys) == want
    files = [os.path.join(cache_at, f) for f in _all_files(cache_at)]
    assert any(f.endswith(".stack") for f in files) and len(files) > 7  # indexes and the analysis
    originals = {f: open(f, "rb").read() for f in files}
    rnd = random.Random(12)
    tried = 0
    for f, data in originals.items():
        variants = []
        for _ in range(3):  # flipped bytes
            b = bytearray(data)
            for _ in range(rnd.randint(1, 4)):
                b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
            variants.append(bytes(b))
        header, payload = _unseal(data)
        for v in _mutations(marshal.loads(payload), rnd):
            variants.append(_seal(header, marshal.dumps(v)))
        if not f.endswith((".stack", ".digests")):
            variants = variants[:25]  # the index files are many and alike
        for v in variants:
            with open(f, "wb") as fh:
                fh.write(v)
            blobs.close_all()
            assert _report(p, capsys) == want, (f, v[:200])
            tried += 1
        with open(f, "wb") as fh:
            fh.write(data)
    assert tried > 100


def test_wrong_digest_cache_is_ignored(tmp_path, cache_at):
    """Content digests cached for a layer, well-formed but wrong (offsets past
    the layer, not hex, another shape), are not used."""
    from layerscope.analysis import analyse

    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image("gzip")], layout="oci")

    def fresh():
        g = open_graph([str(p)])
        index_layers(g)
        for l in g.images[0].layers:
            l.entries.digests = bytearray()  # as indexed without hashing files: the analysis hashes them
        return g

    g = fresh()
    want = [bytes(k) for k in analyse(g, g.images[0]).kinds.kind]
    files = [os.path.join(cache_at, f) for f in _all_files(cache_at) if f.endswith(".digests")]
    assert files
    layer = g.images[0].layers[0]
    for f in files:
        header, payload = _unseal(open(f, "rb").read())
        value = marshal.loads(payload)
        good = value[-1] if isinstance(value[-1], list) else value
        for bad in ([(layer.uncompressed_size + 1 << 20, "0" * 64)], [(0, "not hex" * 9 + "0")], [(0,)],
                    [("0", "0" * 64)], "pairs"):
            v = tuple(value[:-1]) + (bad,) if value is not good else bad
            with open(f, "wb") as fh:
                fh.write(_seal(header, marshal.dumps(v)))
            g2 = fresh()
            for l in g2.images[0].layers:
                d = cache.load_digests(l)
                assert isinstance(d, dict) and all(0 <= o <= l.uncompressed_size for o in d)
                assert all(len(h) == 64 and set(h) <= set("0123456789abcdef") for h in d.values())
            assert [bytes(k) for k in analyse(g2, g2.images[0]).kinds.kind] == want
