"""The gzip seek index: a file deep in a big gzip layer is read from the
nearest checkpoint once the index is in the cache, reading a bounded amount
of compressed bytes; the bytes are those a decode from the start gives."""

from __future__ import annotations

import random

import pytest

from layerscope.layers import contents, seekindex
from layerscope.layers.indexing import index_blob
from layerscope.model import BlobRef
from layerscope.testing.synth import F, LayerSpec, layer_blob, write_archive


@pytest.fixture
def big_layer(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    rng = random.Random(7)
    files = [F(f"data/part{k:02d}", data=rng.randbytes(3 << 20)) for k in range(8)]
    files.append(F("data/deep/tail.txt", data=b"the end\n" * 100))
    blob = layer_blob(LayerSpec([F("data/", "dir"), F("data/deep/", "dir"), *files], "ADD data /"), "gzip")
    path = tmp_path / "layer.gz"
    path.write_bytes(blob)
    ref = BlobRef(str(path), 0, len(blob), "layer.gz")
    entries = index_blob(ref)[0]
    opened = []

    class Counted(seekindex.BlobFile):
        def __init__(self, r):
            super().__init__(r)
            opened.append(self)

    monkeypatch.setattr(seekindex, "BlobFile", Counted)
    return ref, entries, opened, files


def test_a_deep_file_is_read_from_the_nearest_checkpoint(big_layer):
    ref, entries, opened, files = big_layer
    assert ref.size > seekindex.MIN_BLOB
    i = entries.paths.index("data/deep/tail.txt")
    first = contents.read_range(ref, "gzip", entries.offsets[i], entries.sizes[i])
    assert first == files[-1].data
    assert opened[-1].read_bytes >= ref.size * 0.9  # the first read decodes its way there, keeping checkpoints
    again = contents.read_range(ref, "gzip", entries.offsets[i], entries.sizes[i])
    assert again == first
    bound = seekindex.SPACING + 2 * seekindex.READ_BUFFER
    assert opened[-1].read_bytes <= bound < ref.size / 4
    # any other file, from its own checkpoint, with the bytes a decode from the start gives
    j = entries.paths.index("data/part07")
    got = [b"".join(chunks) for _, chunks in contents.iter_ranges(ref, "gzip", [(entries.offsets[j], entries.sizes[j])])]
    assert got == [files[7].data]
    assert opened[-1].read_bytes <= seekindex.SPACING + 2 * seekindex.READ_BUFFER + entries.sizes[j] * 1.01


def test_without_a_cache_nothing_is_indexed(big_layer, monkeypatch):
    ref, entries, opened, files = big_layer
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")
    i = entries.paths.index("data/deep/tail.txt")
    assert contents.read_range(ref, "gzip", entries.offsets[i], entries.sizes[i]) == files[-1].data
    assert opened == []


def test_the_same_index_serves_an_archive(big_layer, tmp_path):
    """A blob inside a docker-save archive (a byte range of it) is indexed as
    a blob file is: the preview through the analysis reads a bounded amount."""
    from layerscope.analysis import analyse
    from layerscope.testing.synth import ImageSpec
    from tests.helpers import loaded

    _, _, opened, files = big_layer
    spec = LayerSpec([F("data/", "dir"), F("data/deep/", "dir"), *files], "ADD data /", compression="gzip")
    p = tmp_path / "big.tar"
    write_archive(str(p), [ImageSpec([spec], repo_tags=["big:1"])], layout="docker25")
    g = loaded(p)
    a = analyse(g, g.images[0])
    e = a.layers[0].entries
    i = e.paths.index("data/deep/tail.txt")
    assert a.read(0, i) == files[-1].data
    assert a.read(0, i) == files[-1].data
    assert opened[-1].read_bytes <= seekindex.SPACING + 2 * seekindex.READ_BUFFER
