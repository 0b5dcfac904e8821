"""Real archives made by docker, kaniko and buildkit (../shared/corpus): every
layer's size and entry count equal dive 0.13.1's own figures."""

import json

import pytest

from layerscope.analysis import analyse
from layerscope.cli import main
from layerscope.formats.source import open_graph
from layerscope.layers.indexing import index_layers
from tests.conftest import CORPUS, corpus_file

NAMES = ["test-docker-image", "test-kaniko-image", "test-oci-gzip-image", "test-oci-zstd-image",
         "test-oci-uncompressed-image", "test-oci-estargz-image"]
COMPRESSION = {"test-docker-image": "none", "test-kaniko-image": "gzip", "test-oci-gzip-image": "gzip",
               "test-oci-zstd-image": "zstd", "test-oci-uncompressed-image": "none",
               "test-oci-estargz-image": "gzip"}


@pytest.mark.parametrize("name", NAMES)
def test_layer_sizes_match_dive(name):
    archive = corpus_file("dive", name + ".tar")
    dive = json.loads(corpus_file("dive", "dive-0.13.1-json", name + ".json").read_text())
    g = open_graph([str(archive)])
    index_layers(g, use_cache=False)
    im = g.images[0]
    assert [l.error for l in im.layers] == [None] * len(im.layers)
    assert len(im.layers) == len(dive["layers"])
    for layer, d in zip(im.layers, dive["layers"]):
        assert layer.size == d["sizeBytes"], (layer.short_id, d["command"])
        assert len(layer.entries) == d["files"], (layer.short_id, d["command"])
        assert layer.compression == COMPRESSION[name]
    a = analyse(g, im)
    assert a.totals()["size"] == dive["image"]["sizeBytes"]


def test_docker_image_history_and_refs():
    g = open_graph([str(corpus_file("dive", "test-docker-image.tar"))])
    im = g.images[0]
    assert im.refs == ["dive-test:latest"]
    assert str(im.platform) == "linux/amd64"
    assert im.history_mapped
    assert im.created_by(9).endswith("rm -rf /root/example/")
    empty = [h for h in im.history if h.empty_layer]
    assert [h.created_by for h in empty] == ['/bin/sh -c #(nop)  CMD ["sh"]']


def test_docker_image_waste_is_exact():
    """The Dockerfile copies, chmods, moves and deletes one 6405-byte file:
    the hidden copies are exactly these (the visible ones are never waste)."""
    g = open_graph([str(corpus_file("dive", "test-docker-image.tar"))])
    index_layers(g, use_cache=False)
    a = analyse(g, g.images[0])
    waste = {w.path: w for w in a.waste.paths()}
    assert set(waste) == {"/root/example/somefile1.txt", "/root/example/somefile2.txt",
                          "/root/example/somefile3.txt", "/root/saved.txt"}
    s1 = waste["/root/example/somefile1.txt"]
    assert [(c.layer, c.state, c.kind) for c in s1.copies] == [(3, "overwritten", "added"),
                                                             (4, "deleted", "metadata-only")]
    saved = waste["/root/saved.txt"]
    assert saved.wasted_bytes == 6405
    assert [(c.layer, c.state, c.kind) for c in saved.copies] == [(7, "overwritten", "added"),
                                                                (13, "visible", "metadata-only")]
    assert a.totals()["wasted_bytes"] == 4 * 6405 + 6405  # somefile1 twice, 2, 3, saved once
    # chmod 444 is a metadata-only copy-up, decided by digest, not by size alone
    assert a.kinds.hashed_pairs >= 2


def test_oci_platform_and_check_gate(capsys):
    archive = str(corpus_file("dive", "test-oci-gzip-image.tar"))
    assert main(["report", archive, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["image"]["platform"] == "linux/arm64"
    assert doc["totals"]["efficiency"] == 1.0
    assert doc["layers"][0]["compression"] == "gzip"
    rc = main(["check", str(corpus_file("dive", "test-docker-image.tar")),
               "--ci-config", str(CORPUS / "dive" / ".dive-ci")])
    out = capsys.readouterr().out
    assert rc == 0 and "PASS  lowestEfficiency" in out
    rc = main(["check", str(corpus_file("dive", "test-docker-image.tar")), "--lowest-efficiency", "0.99"])
    out = capsys.readouterr().out
    assert rc == 1 and "FAIL  lowestEfficiency: efficiency 0.9738 < 0.99" in out
