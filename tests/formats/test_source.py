"""Every input kind loads into the same layer graph: docker-save (legacy,
podman, Docker 25+), OCI (tar and directory, nested indexes, platforms,
attestations), kaniko; uncompressed, gzip, eStargz, zstd, zstd:chunked;
standard input; several images per archive."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from layerscope.analysis import analyse
from layerscope.cli import main
from layerscope.testing.synth import classic_image, classic_pair, write_archive
from tests.helpers import loaded


def summary(g, im=None):
    """What must not depend on the archive format."""
    im = im or g.images[0]
    a = analyse(g, im)
    rows = [(r.index, r.created_by, r.size, r.entries, r.added, r.modified, r.deleted, r.wasted)
            for r in a.layer_rows()]
    top = sorted((p, a.layers[l].entries.entry(i).type_name if i >= 0 else "dir",
                  a.layers[l].entries.sizes[i] if i >= 0 else 0)
                 for p, l, i in a.stack.visible_at(a.stack.n - 1))
    return rows, top, a.totals()  # digests differ by format (eStargz adds its TOC), nothing else may


LAYOUTS = [
    ("docker-legacy", {}, "none"),
    ("podman", {}, "none"),
    ("docker25", {}, "none"),
    ("docker25", {}, "gzip"),
    ("docker25", {}, "zstd"),
    ("oci", {}, "gzip"),
    ("oci", {}, "zstd"),
    ("oci", {}, "estargz"),
    ("oci", {}, "zstd-chunked"),
    ("oci", {"directory": True}, "gzip"),
    ("oci", {"nested_index": True, "attestation": True}, "gzip"),
    ("kaniko", {}, "gzip"),
]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    p = tmp_path_factory.mktemp("ref") / "ref.tar"
    write_archive(str(p), [classic_image()], layout="docker-legacy")
    return summary(loaded(p))


@pytest.mark.parametrize("layout,opts,compression", LAYOUTS,
                         ids=[f"{l}-{c}{'-' + '-'.join(o) if o else ''}" for l, o, c in LAYOUTS])
def test_same_report_in_every_format(tmp_path, reference, layout, opts, compression):
    p = tmp_path / ("img" if opts.get("directory") else "img.tar")
    write_archive(str(p), [classic_image(compression)], layout=layout, **opts)
    g = loaded(p)
    assert len(g.images) == 1  # attestation manifests are not images
    im = g.images[0]
    expected = {"none": "none", "gzip": "gzip", "estargz": "gzip", "zstd": "zstd", "zstd-chunked": "zstd"}
    if layout in ("docker-legacy", "podman"):
        compression = "none"
    assert {l.compression for l in im.layers} == {expected[compression]}
    assert summary(g) == reference
    assert "layerscope-demo:classic" in im.refs or any("classic" in r for r in im.refs)


def test_shared_layers_are_one_node(tmp_path):
    p = tmp_path / "pair.tar"
    write_archive(str(p), classic_pair(), layout="podman")
    g = loaded(p)
    assert len(g.images) == 2
    a, b = g.images
    assert a.layers[0] is b.layers[0]
    assert set(i.name for i in a.layers[0].images) == {a.name, b.name}
    assert a.layers[1] is not b.layers[1]
    assert len(g.layers) == len({l.key for im in g.images for l in im.layers})


def test_image_pick_by_ref(tmp_path, capsys):
    p = tmp_path / "pair.tar"
    write_archive(str(p), classic_pair(), layout="podman")
    assert main(["report", str(p), "--json", "--image", "layerscope-demo:web"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["image"]["ref"] == "layerscope-demo:web"
    assert [i["ref"] for i in doc["images"]] == ["layerscope-demo:editor", "layerscope-demo:web"]
    assert main(["report", str(p), "--image", "nope:1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerscope: error: no image 'nope:1'") and err.count("\n") == 1


def test_stdin(tmp_path):
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image("gzip")], layout="oci")
    with open(p, "rb") as fh:
        r = subprocess.run([sys.executable, "-m", "layerscope", "report", "-", "--json"], stdin=fh,
                           capture_output=True, env={**os.environ, "LAYERSCOPE_CACHE": "off"}, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["image"]["source"] == "<stdin>"
    assert len(doc["layers"]) == 7


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")
def test_podman_engine_source(tmp_path, capsys):
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image()], layout="docker-legacy")
    r = subprocess.run(["podman", "load", "-i", str(p)], capture_output=True, timeout=300)
    if r.returncode != 0:
        pytest.skip(f"podman cannot load images here: {r.stderr.decode()[-200:]}")
    assert main(["report", "podman://layerscope-demo:classic", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["layers"]) == 7
    assert main(["report", "podman://no-such-image:404"]) == 2
    assert "podman save" in capsys.readouterr().err
