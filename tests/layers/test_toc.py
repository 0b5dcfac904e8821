"""Tables of contents (eStargz, zstd:chunked) read into the walker's form:
the listing of a layer from its TOC is the walk of its tar, one file's
pieces decode to its bytes, and a piece whose digest is wrong is refused."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
import zstandard

from layerscope.errors import LayerError
from layerscope.layers import toc
from layerscope.layers.indexing import index_blob
from layerscope.model import BlobRef
from layerscope.testing.synth import classic_image, layer_blob


def _specs():
    return [s for s in classic_image().layers if hasattr(s, "entries")]


def _zstd_chunked(spec, tmp_path):
    blob = layer_blob(spec, "zstd-chunked")
    footer = blob[-64:]
    off = int.from_bytes(footer[0:8], "little")
    length = int.from_bytes(footer[8:16], "little")
    data = zstandard.ZstdDecompressor().decompress(blob[off:off + length], max_output_size=64 << 20)
    return blob, toc.parse(data, len(blob), off - 8, "x")


def _walked(blob, tmp_path, name):
    p = tmp_path / name
    p.write_bytes(blob)
    return index_blob(BlobRef(str(p), 0, len(blob), name), place="x")[0]


def test_a_zstd_chunked_listing_is_the_walk_of_its_tar(tmp_path):
    for k, spec in enumerate(_specs()):
        blob, t = _zstd_chunked(spec, tmp_path)
        walked = _walked(blob, tmp_path, f"{k}.zst")
        got = [t.entries.entry(i) for i in range(len(t.entries))]
        assert got == [walked.entry(i) for i in range(len(walked))]
        for i in range(len(t.entries)):
            if t.entries.sizes[i] and t.entries.types[i] == ord("f"):
                piece_bytes = b"".join(
                    toc.read_piece(iter([blob[c.start:c.end]]), "zstd", c, c.size, "x")
                    for c in t.chunks[t.entries.offsets[i]])
                start = walked.offsets[i]
                tar = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob), read_across_frames=True).read()
                assert piece_bytes == tar[start:start + walked.sizes[i]]
                assert t.digests[t.entries.offsets[i]] == "sha256:" + hashlib.sha256(piece_bytes).hexdigest()


def test_a_piece_that_is_not_what_the_toc_says_is_refused(tmp_path):
    spec = _specs()[2]
    blob, t = _zstd_chunked(spec, tmp_path)
    off, pieces = next(iter(t.chunks.items()))
    c = pieces[0]
    bad = toc.Chunk(c.start, c.end, c.size, 0, "sha256:" + "0" * 64)
    with pytest.raises(LayerError, match="tampered"):
        toc.read_piece(iter([blob[c.start:c.end]]), "zstd", bad, 10, "x")
    with pytest.raises(LayerError, match="hold"):
        toc.read_piece(iter([blob[c.start:c.end]]), "zstd", toc.Chunk(c.start, c.end, c.size + 100_000, 0, ""), 10, "x")


def test_estargz_footer_and_positions():
    blob = layer_blob(_specs()[1], "estargz")
    off = toc.estargz_toc_offset(blob[-51:])
    assert off and blob[off:off + 2] == b"\x1f\x8b"
    assert toc.estargz_toc_offset(b"\x1f\x8b" + bytes(49)) is None
    assert toc.zstd_chunked_position({"io.containers.zstd-chunked.manifest-position": "10:20:30:1"}) == (10, 20, 30)
    assert toc.zstd_chunked_position({"io.containers.zstd-chunked.manifest-position": "10:20:30:2"}) is None
    assert toc.zstd_chunked_position({}) is None


@pytest.mark.parametrize("doc, says", [
    (b"not json", "not JSON"),
    (json.dumps({"version": 2, "entries": []}).encode(), "no version"),
    (json.dumps({"version": 1, "entries": [{"name": "a", "type": "weird"}]}).encode(), "type"),
    (json.dumps({"version": 1, "entries": [{"name": "a", "type": "reg", "size": 5, "offset": 10 ** 9}]}).encode(),
     "places a file"),
    (json.dumps({"version": 1, "entries": [{"name": "a", "type": "reg", "size": -1}]}).encode(), "size"),
])
def test_a_bad_toc_is_a_layer_error(doc, says):
    with pytest.raises(LayerError, match=says):
        toc.parse(doc, 1000, 900, "x")


def test_a_piece_that_expands_without_bound_is_decoded_in_steps():
    """A few KB of zstd that decode to 256 MB of zeros, claimed as one piece:
    decoded a step at a time to check its digest, never held whole."""
    import resource

    big = 256 << 20
    c = zstandard.ZstdCompressor(level=3).compressobj()
    zeros = bytes(1 << 20)
    comp = b"".join(c.compress(zeros) for _ in range(big >> 20)) + c.flush()  # never 256 MB in memory here either
    assert len(comp) < 64 << 10
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    piece = toc.Chunk(0, len(comp), big, 0, "sha256:" + "0" * 64)
    with pytest.raises(LayerError, match="tampered"):
        toc.read_piece(iter([comp]), "zstd", piece, 100, "x")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 128 << 10  # KB: well under the 256 MB
