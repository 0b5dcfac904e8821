"""Layer sharing: rows of the layer graph and the bytes sharing saves."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from layerscope.analysis.sharing import image_labels, sharing, sharing_rows
from layerscope.cli import main
from layerscope.formats.source import open_graph
from layerscope.layers.indexing import index_layers
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive
from layerscope.views.sharing import render_sharing, sharing_doc


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")


BASE = LayerSpec([F("etc", "dir"), F("etc/os-release", data=b"ID=demo\n"),  # 8 bytes
                  F("bin", "dir"), F("bin/sh", data=b"s" * 5000, mode=0o755)], "ADD base /")
APP1 = LayerSpec([F("app", "dir"), F("app/one", data=b"1" * 700)], "COPY one /app/")
APP2 = LayerSpec([F("app", "dir"), F("app/two", data=b"2" * 1200), F("app/cfg", data=b"c" * 30)], "COPY two /app/")
OTHER = LayerSpec([F("usr", "dir"), F("usr/x", data=b"x" * 333)], "ADD other /")
BASE_SIZE = 5008


def _graph(*paths):
    g = open_graph([str(p) for p in paths])
    index_layers(g, use_cache=False)
    return g


@pytest.fixture(scope="module")
def arch(tmp_path_factory):
    d = tmp_path_factory.mktemp("sharing")
    p = {}
    p["pair"] = d / "pair.tar"
    write_archive(p["pair"], [ImageSpec([BASE, APP1], repo_tags=["app:one"]),
                              ImageSpec([BASE, APP2], repo_tags=["app:two"])], "podman")
    p["unrelated"] = d / "unrelated.tar"
    write_archive(p["unrelated"], [ImageSpec([BASE], repo_tags=["u:base"]),
                                   ImageSpec([OTHER], repo_tags=["u:other"])], "docker-legacy")
    p["multi"] = d / "multi.tar"
    write_archive(p["multi"], [ImageSpec([BASE, APP1], repo_tags=["m:1"], architecture="amd64"),
                               ImageSpec([BASE, APP2], repo_tags=["m:1"], architecture="arm64")],
                  "oci", multiplatform=True)
    p["a"] = d / "a.tar"
    write_archive(p["a"], [ImageSpec([BASE, APP1], repo_tags=["app:one"])], "podman")
    p["b"] = d / "b.oci.tar"
    write_archive(p["b"], [ImageSpec([BASE, APP2], repo_tags=["app:two"])], "oci")
    return p


def test_two_images_one_base(arch):
    g = _graph(arch["pair"])
    doc = sharing_doc(g)
    assert doc["image_count"] == 2 and doc["layer_count"] == 3 and doc["shared_layer_count"] == 1
    assert doc["stored_bytes"] == BASE_SIZE + 700 + 1230  # the base counted once
    assert doc["unshared_bytes"] == 2 * BASE_SIZE + 700 + 1230
    assert doc["saved_bytes"] == BASE_SIZE
    base_blob = doc["layers"][0]["compressed_size"]
    assert base_blob > BASE_SIZE  # an uncompressed tar: headers and padding
    assert doc["saved_compressed_bytes"] == base_blob
    assert doc["stored_compressed_bytes"] == sum(l["compressed_size"] for l in doc["layers"])
    one, two = doc["images"]
    assert (one["label"], one["layers"], one["size"], one["shared_bytes"], one["unique_bytes"]) == \
        ("app:one", 2, BASE_SIZE + 700, BASE_SIZE, 700)
    assert (two["label"], two["size"], two["shared_bytes"], two["unique_bytes"]) == \
        ("app:two", BASE_SIZE + 1230, BASE_SIZE, 1230)
    assert one["unique_compressed_bytes"] == one["compressed_size"] - base_blob
    assert [(l["size"], l["images"]) for l in doc["layers"]] == [
        (BASE_SIZE, ["app:one", "app:two"]), (700, ["app:one"]), (1230, ["app:two"])]
    assert [l["created_by"] for l in doc["layers"]] == ["ADD base /", "COPY one /app/", "COPY two /app/"]
    assert doc["layers"][0]["diff_id"].startswith("sha256:") and doc["layers"][0]["indexed"] is True


def test_rows_for_the_app(arch):
    g = _graph(arch["pair"])
    rows = sharing_rows(g)
    assert [r.positions for r in rows] == [[0, 0], [1, None], [None, 1]]
    assert [r.used_by for r in rows] == [[True, True], [True, False], [False, True]]
    assert [r.shared for r in rows] == [True, False, False]
    assert rows[0].layer is g.images[0].layers[0] is g.images[1].layers[0]
    s = sharing(g)
    assert s.saved_bytes == BASE_SIZE and s.labels == ["app:one", "app:two"]
    assert [i.unique_bytes for i in s.images] == [700, 1230]


def test_two_unrelated_images(arch):
    g = _graph(arch["unrelated"])
    doc = sharing_doc(g)
    assert doc["shared_layer_count"] == 0 and doc["saved_bytes"] == 0 and doc["saved_compressed_bytes"] == 0
    assert doc["stored_bytes"] == doc["unshared_bytes"] == BASE_SIZE + 333
    assert [(i["shared_bytes"], i["unique_bytes"]) for i in doc["images"]] == [(0, BASE_SIZE), (0, 333)]
    assert [r.positions for r in sharing_rows(g)] == [[0, None], [None, 0]]


def test_multiplatform_index(arch):
    g = _graph(arch["multi"])
    doc = sharing_doc(g)
    assert [i["label"] for i in doc["images"]] == ["m:1 (linux/amd64)", "m:1 (linux/arm64)"]
    assert [i["platform"] for i in doc["images"]] == ["linux/amd64", "linux/arm64"]
    assert doc["saved_bytes"] == BASE_SIZE and doc["shared_layer_count"] == 1
    assert doc["layers"][0]["images"] == ["m:1 (linux/amd64)", "m:1 (linux/arm64)"]


def test_across_archives_report_json(arch, capsys):
    assert main(["report", str(arch["a"]), str(arch["b"]), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    sh = doc["sharing"]
    assert sh["image_count"] == 2 and sh["layer_count"] == 3  # the base recognised by diff_id
    assert sh["saved_bytes"] == BASE_SIZE
    assert [i["source"] for i in sh["images"]] == [str(arch["a"]), str(arch["b"])]
    assert sh["layers"][0]["images"] == ["app:one", "app:two"]
    # one image alone: no sharing key
    assert main(["report", str(arch["a"]), "--json"]) == 0
    assert "sharing" not in json.loads(capsys.readouterr().out)


def test_report_text_draws_the_graph(arch, capsys):
    assert main(["report", str(arch["pair"])]) == 0
    out = capsys.readouterr().out
    assert "Layer sharing  2 images, 3 distinct layers, 1 shared" in out
    assert "[1] app:one" in out and "[2] app:two" in out
    graph = out[out.index("Layer sharing"):]
    lines = [l for l in graph.splitlines() if "COPY two /app/" in l or "ADD base /" in l]
    assert len(lines) == 2
    assert lines[0].count("●") == 2 and lines[1].count("●") == 1 and "·" in lines[1]
    saved = [l for l in out.splitlines() if l.startswith("Saved by sharing")]
    assert saved and "5.0 kB (41.9 %)" in saved[0]  # 5008 of 11946


def test_render_is_not_markup(tmp_path):
    p = tmp_path / "m.tar"
    write_archive(p, [ImageSpec([BASE], repo_tags=["x:[bold]a"]), ImageSpec([BASE, APP1], repo_tags=["y:1"])],
                  "oci")
    g = _graph(p)
    con = Console(width=160, record=True, markup=False, highlight=False)
    render_sharing(con, g)
    text = con.export_text()
    assert "x:[bold]a" in text


def test_labels_unique():
    class P:
        def __init__(self, s):
            self.s = s

        def __str__(self):
            return self.s

    class Im:
        def __init__(self, name, plat, source):
            self.name, self.platform, self.source = name, P(plat), source

    ims = [Im("a", "linux/amd64", "1.tar"), Im("a", "linux/amd64", "2.tar"), Im("a", "linux/arm64", "1.tar"),
           Im("b", "linux/amd64", "1.tar")]
    assert image_labels(ims) == ["a (linux/amd64) [1.tar]", "a (linux/amd64) [2.tar]", "a (linux/arm64)", "b"]
