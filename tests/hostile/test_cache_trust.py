"""The on-disk cache cannot be made to lie, to delete what it did not write,
to fail on well-formed but wrong files, or to cost time per layer."""

import os
import time

import pytest

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
