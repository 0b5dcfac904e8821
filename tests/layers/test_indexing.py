"""Indexing the layers: in worker processes as in this one, in which order,
and without worker processes when they cannot start."""

from layerscope.formats.source import open_graph
from layerscope.layers import indexing as index_mod
from layerscope.layers.indexing import index_layers
from layerscope.testing.synth import classic_image, write_archive
from tests.helpers import loaded


def test_parallel_indexing_matches_serial(tmp_path, monkeypatch):
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image("gzip")], layout="oci")
    serial = loaded(p)
    monkeypatch.setattr(index_mod, "PARALLEL_MIN_BYTES", 0)
    g = open_graph([str(p)])
    index_layers(g, workers=2, use_cache=False)
    for a, b in zip(serial.images[0].layers, g.images[0].layers):
        assert a.entries.to_state() == b.entries.to_state()
        assert a.uncompressed_size == b.uncompressed_size


def test_uncompressed_layers_smallest_here_biggest_to_the_pool(tmp_path, monkeypatch):
    """Uncompressed layers: walked in this process smallest first while the
    first stretch lasts, the rest handed to worker processes biggest first
    (so that no core idles while one big layer is walked) while this process
    takes the small ones the pool has not started; the entries are those of a
    serial walk either way."""
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image()], layout="docker-legacy")
    serial = loaded(p)
    sizes = {l.diff_id: l.compressed_size for l in serial.images[0].layers}
    assert len(set(sizes.values())) == len(sizes)  # the order below is by size

    def run(first_s: float) -> list[int]:
        monkeypatch.setattr(index_mod, "SEQUENTIAL_FIRST_S", first_s)
        monkeypatch.setattr(index_mod, "PARALLEL_MIN_BYTES", 0)
        g = open_graph([str(p)])
        order = []
        index_layers(g, workers=2, use_cache=False, progress=lambda d, t, layer: order.append(sizes[layer.diff_id]))
        for a, b in zip(serial.images[0].layers, g.images[0].layers):
            assert a.entries.to_state() == b.entries.to_state()
        return order

    everything_here = run(60.0)  # all but the last one walked here, smallest first
    assert everything_here[:-1] == sorted(everything_here[:-1])
    pooled = run(0.0)  # the pool takes the biggest first, this process the smallest meanwhile
    k = pooled.index(max(pooled))
    here, pool = pooled[:k], pooled[k:]
    assert here == sorted(here) and pool == sorted(pool, reverse=True)
    assert not here or max(here) < min(pool)
    assert len(pooled) < 3 or here


def test_indexing_falls_back_when_processes_cannot_start(tmp_path, monkeypatch):
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image("gzip")], layout="oci")

    class Broken:
        def __init__(self, *a, **k):
            raise ValueError("bad value(s) in fds_to_keep")

    monkeypatch.setattr(index_mod, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(index_mod, "ProcessPoolExecutor", Broken)
    g = open_graph([str(p)])
    index_layers(g, workers=2, use_cache=False)
    assert all(l.indexed and l.error is None for l in g.images[0].layers)
    assert len(g.images[0].layers[0].entries) > 10


def test_a_stream_is_indexed_as_its_blob_is(tmp_path):
    """index_stream (a download's bytes as they come, layers/pipe.py) gives
    what index_blob gives for the stored blob, for every compression a
    registry serves; an uncompressed stream is left to the stored blob."""
    import io

    from layerscope.layers.indexing import index_blob, index_stream
    from layerscope.model import BlobRef
    from layerscope.testing.synth import layer_blob

    spec = [s for s in classic_image("gzip").layers if hasattr(s, "entries")][1]
    for comp in ("gzip", "zstd", "estargz", "zstd-chunked", "none"):
        blob = layer_blob(spec, comp)
        path = tmp_path / f"{comp}.blob"
        path.write_bytes(blob)
        streamed = index_stream(io.BufferedReader(io.BytesIO(blob), 7), len(blob), place="x", hash_files=True)
        if comp == "none":
            assert streamed is None
            continue
        stored = index_blob(BlobRef(str(path), 0, len(blob), comp), place="x", hash_files=True)
        assert streamed[0].to_state() == stored[0].to_state(), comp
        assert streamed[1:] == stored[1:], comp
