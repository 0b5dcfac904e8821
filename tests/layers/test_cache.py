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
