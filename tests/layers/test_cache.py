"""The cache: layer indexes, content digests and whole analyses kept across
runs, corrupt entries ignored, keys that follow the archive's bytes."""

import os
import time

from layerscope.analysis import analyse
from layerscope.formats.source import open_graph
from layerscope.layers import indexing as index_mod
from layerscope.layers.indexing import index_layers
from layerscope.testing.synth import classic_image, write_archive


def test_cache_roundtrip_and_corrupt_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("LAYERSCOPE_CACHE", str(cache))
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image("gzip")], layout="oci")
    g1 = open_graph([str(p)])
    index_layers(g1)
    files = [os.path.join(r, n) for r, _, ns in os.walk(cache) for n in ns]
    assert len(files) == 7
    calls = []
    monkeypatch.setattr(index_mod, "index_blob", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(
        AssertionError("should come from the cache")))
    g2 = open_graph([str(p)])
    index_layers(g2)
    assert calls == []
    assert [l.entries.to_state() for l in g2.images[0].layers] == [l.entries.to_state() for l in g1.images[0].layers]
    # corrupt every cache file: ignored and rebuilt
    monkeypatch.undo()
    monkeypatch.setenv("LAYERSCOPE_CACHE", str(cache))
    for fpath in files:
        with open(fpath, "r+b") as fh:
            fh.write(b"garbage")
    g3 = open_graph([str(p)])
    index_layers(g3)
    assert [l.entries.to_state() for l in g3.images[0].layers] == [l.entries.to_state() for l in g1.images[0].layers]


def test_content_digests_are_cached_for_compressed_layers(tmp_path, monkeypatch):
    import layerscope.analysis.changes as changes

    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image("gzip")], layout="oci")
    g = open_graph([str(p)])
    index_layers(g)
    first = analyse(g, g.images[0])
    assert first.kinds.hashed_pairs >= 1
    kinds = [bytes(k) for k in first.kinds.kind]

    def no_decoding(*a, **k):
        raise AssertionError("digests should come from the cache")

    monkeypatch.setattr(changes, "digest_ranges", no_decoding)
    g2 = open_graph([str(p)])
    index_layers(g2)
    second = analyse(g2, g2.images[0])
    assert [bytes(k) for k in second.kinds.kind] == kinds
    assert second.kinds.hash_errors == []


def test_whole_analysis_is_cached_and_identical(tmp_path, monkeypatch):
    from layerscope.analysis.stack import Stack
    from layerscope.layers import cache

    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "ANALYSIS_MIN_ENTRIES", 0)
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image()], layout="docker-legacy")

    def fresh():
        g = open_graph([str(p)])
        index_layers(g)
        return analyse(g, g.images[0])

    a = fresh()

    def no_pass(self):
        raise AssertionError("the merge pass should come from the cache")

    monkeypatch.setattr(Stack, "_apply_all", no_pass)
    b = fresh()
    sa, sb = a.stack, b.stack
    for name in ("hidden_at", "hidden_by", "how", "prev_layer", "prev_index", "change"):
        assert [bytes(x) for x in getattr(sa, name)] == [bytes(x) for x in getattr(sb, name)], name
    assert sa.deletions == sb.deletions and sa.implied == sb.implied
    assert sa.top_view == sb.top_view
    assert [bytes(k) for k in a.kinds.kind] == [bytes(k) for k in b.kinds.kind]
    assert a.totals() == b.totals()
    assert [(w.path, w.wasted_bytes) for w in a.waste.paths()] == [(w.path, w.wasted_bytes) for w in b.waste.paths()]


def test_cache_key_follows_the_bytes(tmp_path, monkeypatch):
    """The key samples the blob's bytes (read with pread) and is kept for the
    process only while the file is the same: an archive rewritten in place
    with other bytes in a layer gets other keys; a truncated one none."""
    from layerscope.layers import blobs, cache

    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image()], layout="docker-legacy")
    layer = open_graph([str(p)]).images[0].layers[1]
    k1 = cache._key(layer)
    assert k1 and cache._key(layer) == k1
    b = layer.blob
    data = bytearray(p.read_bytes())
    data[b.offset + b.size - 1] ^= 0xFF  # the last byte of the layer's blob (its end padding)
    time.sleep(0.01)
    p.write_bytes(bytes(data))  # same size, same path, new bytes (and mtime)
    blobs.forget(str(p))
    k2 = cache._key(layer)
    assert k2 and k2 != k1
    with open(p, "r+b") as fh:
        fh.truncate(b.offset + b.size - 1)
    assert cache._key(layer) is None


def test_a_registry_blob_is_keyed_by_its_digest(tmp_path, monkeypatch):
    """A blob in the blob store under its digest's name (put there only once
    its bytes had that digest) is keyed by the digest: its bytes are not
    hashed, nor needed; a layer listed from its table of contents gets a key
    of its own, so a listing and a walk never stand in for each other; a
    blob elsewhere is keyed by its bytes."""
    from layerscope.layers import blobstore, cache, partial
    from layerscope.model import BlobRef, Layer

    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    digest = "sha256:" + "ab" * 32
    path = blobstore.path_of(digest, "x")
    assert not os.path.exists(path)
    layer = Layer("k", digest, "sha256:" + "cd" * 32, "application/vnd.oci.image.layer.v1.tar+gzip", 10,
                  BlobRef(path, 0, 10, "blobs/sha256/ab"))
    monkeypatch.setattr(cache, "_hash_blob", lambda *a: (_ for _ in ()).throw(AssertionError("hashed")))
    by_digest = cache._key(layer)
    assert by_digest and by_digest == cache._key(layer)
    partial.read_through(path, object())
    try:
        assert cache._key(layer) not in (None, by_digest)
    finally:
        partial.read_through(path, None)
    elsewhere = tmp_path / ("sha256-" + "ab" * 32)
    elsewhere.write_bytes(b"0123456789")
    layer.blob = BlobRef(str(elsewhere), 0, 10, "x")
    monkeypatch.setattr(cache, "_hash_blob", lambda *a: b"h" * 32)
    assert cache._key(layer) not in (None, by_digest)


def test_blob_hashes_are_remembered_across_processes_while_the_file_is_unchanged(tmp_path, monkeypatch):
    """A later process reuses the blob hashes of an archive file whose
    device, inode, size, mtime and ctime are those it was hashed with (a
    second open reads no blob); one rewritten in place is hashed again, and
    a file changed just now is not remembered."""
    from layerscope.layers import blobs, cache

    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image()], layout="docker-legacy")
    hashed = []
    real = cache._hash_blob
    monkeypatch.setattr(cache, "_hash_blob", lambda *a: (hashed.append(a[2]), real(*a))[1])

    def new_process() -> list[str | None]:
        cache._blob_hashes.clear()
        cache._file_hashes.clear()
        blobs.forget(str(p))
        hashed.clear()
        return [cache._key(l) for l in open_graph([str(p)]).images[0].layers]

    first = new_process()  # just written: too recent to remember
    assert len(hashed) == len(first) and all(first)
    assert new_process() == first and len(hashed) == len(first)
    monkeypatch.setattr(cache, "RECENT_NS", -1)
    assert new_process() == first and len(hashed) == len(first)  # hashed, and remembered now
    assert new_process() == first and hashed == []
    b = open_graph([str(p)]).images[0].layers[1].blob
    data = bytearray(p.read_bytes())
    data[b.offset + b.size - 1] ^= 0xFF
    time.sleep(0.01)
    p.write_bytes(bytes(data))  # same size, new bytes, new mtime and ctime
    again = new_process()
    assert again[1] != first[1] and len(hashed) == len(first)
    os.utime(p, ns=(os.stat(p).st_atime_ns, os.stat(p).st_mtime_ns))  # the same mtime: only the ctime moves on
    assert new_process() == again and len(hashed) == len(first)


def _fresh_process(p, cache, blobs) -> None:
    cache._blob_hashes.clear()
    cache._file_hashes.clear()
    cache._ahead.clear()
    blobs.forget(str(p))


def test_blobs_hashed_ahead_give_the_keys_hashed_in_turn(tmp_path, monkeypatch):
    """A first open of big blobs hashes them on the hash-ahead thread while
    the layers are walked; the cache's files are named by the same keys as
    when every blob is hashed before its look-up, and a second open walks
    nothing, for uncompressed and compressed layers alike."""
    import threading

    from layerscope.layers import blobs, cache

    real_index_blob = index_mod.index_blob
    for layout, compression in (("docker-legacy", "none"), ("oci", "gzip")):
        p = tmp_path / f"{layout}.tar"
        write_archive(str(p), [classic_image(compression)], layout=layout)
        names = {}
        for min_bytes in (1 << 62, 0):  # never ahead, always ahead
            monkeypatch.setattr(cache, "AHEAD_MIN_BYTES", min_bytes)
            d = tmp_path / f"cache-{layout}-{min_bytes}"
            monkeypatch.setenv("LAYERSCOPE_CACHE", str(d))
            hashed_on = []
            real = cache._hash_blob
            monkeypatch.setattr(cache, "_hash_blob",
                                lambda *a, real=real, hashed_on=hashed_on: (
                                    hashed_on.append(threading.current_thread().name), real(*a))[1])
            _fresh_process(p, cache, blobs)
            g = open_graph([str(p)])
            index_layers(g, workers=1)
            assert all(l.error is None and l.entries is not None for l in g.images[0].layers)
            names[min_bytes] = sorted(n for n in os.listdir(d / cache.SUBDIR) if n.endswith(".index"))
            assert len(hashed_on) == len(g.images[0].layers)
            if min_bytes == 0:
                assert "layerscope-hash-ahead" in hashed_on
            else:
                assert set(hashed_on) == {threading.main_thread().name}
            _fresh_process(p, cache, blobs)
            walked = []
            monkeypatch.setattr(index_mod, "index_blob", lambda *a, **k: walked.append(a) or (_ for _ in ()).throw(
                AssertionError("should come from the cache")))
            g2 = open_graph([str(p)])
            index_layers(g2, workers=1)
            assert walked == []
            assert [l.entries.to_state() for l in g2.images[0].layers] == \
                [l.entries.to_state() for l in g.images[0].layers]
            monkeypatch.setattr(index_mod, "index_blob", real_index_blob)
        assert names[0] == names[1 << 62] and len(names[0]) == len(g.images[0].layers)


def test_a_look_up_hashes_a_queued_blob_the_thread_has_not_taken(tmp_path, monkeypatch):
    """A blob queued for the hash-ahead thread but not taken by it yet is
    hashed by its look-up, once: the thread then leaves it."""
    from layerscope.layers import blobs, cache

    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "AHEAD_MIN_BYTES", 0)
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image()], layout="docker-legacy")
    layers = open_graph([str(p)]).images[0].layers
    _fresh_process(p, cache, blobs)
    in_turn = [cache._key(l) for l in layers]
    _fresh_process(p, cache, blobs)
    hashed = []
    real = cache._hash_blob
    monkeypatch.setattr(cache, "_hash_blob", lambda *a: (hashed.append(a[2]), real(*a))[1])
    queued, start = cache.queue_hashes(layers)
    assert queued == list(layers)
    first = cache._key(layers[0])  # before the thread starts
    assert first == in_turn[0] and len(hashed) == 1
    start().join()
    assert [cache._key(l) for l in layers] == in_turn
    assert sorted(hashed) == sorted(l.blob.offset for l in layers)  # each blob once
    assert cache._ahead == {}


def test_a_cached_layer_whose_hash_was_not_remembered_is_loaded_not_walked(tmp_path, monkeypatch):
    """Layers hashed ahead are looked up in the cache before their walk: an
    archive touched since (its remembered hashes no longer apply) is hashed
    again and every layer comes from the cache."""
    from layerscope.layers import blobs, cache

    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "AHEAD_MIN_BYTES", 0)
    monkeypatch.setattr(cache, "RECENT_NS", -1)
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image()], layout="docker-legacy")
    g = open_graph([str(p)])
    index_layers(g, workers=1)
    time.sleep(0.01)
    os.utime(p)  # a new mtime: the remembered hashes are another file state's
    _fresh_process(p, cache, blobs)
    monkeypatch.setattr(index_mod, "index_blob", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("should come from the cache")))
    g2 = open_graph([str(p)])
    assert len(cache.queue_hashes(g2.images[0].layers)[0]) == len(g2.images[0].layers)
    cache._ahead.clear()
    progress = []
    index_layers(g2, workers=1, progress=lambda done, total, layer: progress.append((done, total)))
    assert [l.entries.to_state() for l in g2.images[0].layers] == [l.entries.to_state() for l in g.images[0].layers]
    n = len(g2.images[0].layers)
    assert progress == [(k + 1, n) for k in range(n)]


def test_a_blob_hash_is_blake3_of_its_range_across_mapped_windows(tmp_path, monkeypatch):
    """_hash_blob maps the file a window at a time: ranges that start off a
    page, span windows or end inside one hash as BLAKE3 of those bytes; a
    range past the file's end is an OSError, not a touched page past it."""
    import pytest
    from blake3 import blake3

    from layerscope.layers import cache

    monkeypatch.setattr(cache, "CHUNK", 20000)  # several windows on a small file
    data = bytes(range(256)) * 400 + b"tail"
    p = tmp_path / "blob"
    p.write_bytes(data)
    fd = os.open(p, os.O_RDONLY)
    try:
        for off, n in [(0, len(data)), (1, 10), (512, 20000), (4095, 40007), (70000, len(data) - 70000),
                       (len(data), 0), (100, 0), (len(data) - 1, 1)]:
            assert cache._hash_blob(str(p), fd, off, n, len(data)) == blake3(data[off:off + n]).digest(), (off, n)
        with pytest.raises(OSError):
            cache._hash_blob(str(p), fd, 10, len(data), len(data))
    finally:
        os.close(fd)
