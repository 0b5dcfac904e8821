"""The on-disk cache cannot be made to lie, to delete what it did not write,
to fail on well-formed but wrong files, or to cost time per layer."""

import time

import pytest

from layerscope.formats.source import open_graph
from layerscope.layers import blobs, cache
from layerscope.layers.indexing import index_layers
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive

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
