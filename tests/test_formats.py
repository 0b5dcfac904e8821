"""Every input kind loads into the same layer graph: docker-save (legacy,
podman, Docker 25+), OCI (tar and directory, nested indexes, platforms,
attestations), kaniko; uncompressed, gzip, eStargz, zstd, zstd:chunked;
standard input; several images per archive."""

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time

import pytest

from layerscope.layers import indexing as index_mod
from layerscope.analysis import analyse
from layerscope.cli import main
from layerscope.formats.source import open_graph
from layerscope.layers.indexing import index_layers
from layerscope.testing.synth import F, ImageSpec, LayerSpec, classic_image, classic_pair, write_archive


def loaded(path, platform=None):
    g = open_graph([str(path)], platform)
    index_layers(g, use_cache=False)
    return g


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


def test_classic_sample_facts(tmp_path):
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image()], layout="docker-legacy")
    g = loaded(p)
    a = analyse(g, g.images[0])
    assert a.os_release()["ID"] == "debian"
    steps = [r.created_by for r in a.layer_rows()]
    assert any("ENV" in s for s in steps) and any("CMD" in s for s in steps)
    # dpkg status rewritten by both install steps: a copy-up, two hidden copies
    w = {x.path: x for x in a.waste.paths()}
    assert [c.state for c in w["/var/lib/dpkg/status"].copies] == ["overwritten", "overwritten", "visible"]
    # chmod 0700 on the editor: metadata-only copy-up
    assert [c.kind for c in w["/usr/bin/vim.tiny"].copies][-1] == "metadata-only"
    # the cleanup step deleted the .deb files (whiteouts): their bytes are waste
    assert any(p.startswith("/var/cache/apt/archives/") and p.endswith(".deb") for p in w)


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


def test_docker_legacy_shared_layer_symlink(tmp_path):
    # the same layer at another position has another chain id: docker writes
    # its layer.tar as a symlink to the first copy
    shared = LayerSpec([F("shared.txt", data=b"s" * 10)])
    a = ImageSpec([LayerSpec([F("a.txt", data=b"a")]), shared], repo_tags=["a:1"])
    b = ImageSpec([shared], repo_tags=["b:1"])
    p = tmp_path / "pair.tar"
    write_archive(str(p), [a, b], layout="docker-legacy")
    with tarfile.open(p) as t:
        assert any(m.issym() and m.name.endswith("layer.tar") for m in t.getmembers())
    g = loaded(p)
    assert g.images[0].layers[1] is g.images[1].layers[0]
    assert g.images[1].layers[0].error is None
    assert g.images[1].layers[0].entries.paths == ["shared.txt"]


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


def multiplatform(tmp_path, **opts):
    imgs = []
    for arch, variant in (("amd64", ""), ("arm64", "v8"), ("arm", "v7")):
        imgs.append(ImageSpec([LayerSpec([F(f"{arch}.txt", data=arch.encode())])], repo_tags=["multi:1"],
                              architecture=arch, variant=variant))
    p = tmp_path / "multi.tar"
    write_archive(str(p), imgs, layout="oci", multiplatform=True, **opts)
    return p


def test_multiplatform_index_and_platform_choice(tmp_path, capsys):
    p = multiplatform(tmp_path, attestation=True)
    g = loaded(p)
    assert sorted(str(i.platform) for i in g.images) == ["linux/amd64", "linux/arm/v7", "linux/arm64/v8"]
    g = loaded(p, "linux/arm64")
    assert [str(i.platform) for i in g.images] == ["linux/arm64/v8"]
    assert g.images[0].layers[0].entries.paths == ["arm64.txt"]
    assert main(["ls", str(p), "--platform", "linux/arm/v7", "--json"]) == 0
    rows = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [r["path"] for r in rows] == ["/arm.txt"]
    assert main(["ls", str(p), "--platform", "windows/amd64"]) == 2
    assert "no image for platform windows/amd64" in capsys.readouterr().err


def test_nested_index(tmp_path):
    p = multiplatform(tmp_path, nested_index=True)
    g = loaded(p)
    assert len(g.images) == 3


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


def test_long_names_pax_gnu_and_ustar_prefix(tmp_path):
    long_dir = "d" * 120
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        info = tarfile.TarInfo(long_dir + "/gnu-long-name-" + "x" * 90)
        info.size = 3
        t.addfile(info, io.BytesIO(b"abc"))
    gnu = buf.getvalue()
    entries = [F("p/" + "y" * 200, data=b"pax"), F("a" * 90 + "/" + "b" * 90, data=b"ustar-prefix")]
    p = tmp_path / "long.tar"
    write_archive(str(p), [ImageSpec([LayerSpec(entries)])], layout="docker-legacy")
    g = loaded(p)
    paths = set(g.images[0].layers[0].entries.paths)
    assert "p/" + "y" * 200 in paths
    assert "a" * 90 + "/" + "b" * 90 in paths
    from layerscope.layers.tarwalk import TarIndexer
    e = TarIndexer(gnu, None).run()
    assert e.paths == [long_dir + "/gnu-long-name-" + "x" * 90]
    assert e.sizes[0] == 3


def test_names_escaping_the_root_are_warned_and_left_out(tmp_path):
    entries = [F("ok", data=b"1"), F("x", raw_name=b"../../etc/evil", data=b"2"),
               F("y", raw_name=b"a/../../b", data=b"3")]
    p = tmp_path / "esc.tar"
    write_archive(str(p), [ImageSpec([LayerSpec(entries)])], layout="docker-legacy")
    g = loaded(p)
    layer = g.images[0].layers[0]
    assert layer.entries.paths == ["ok"]
    assert len(layer.warnings) == 2 and "escapes the image root" in layer.warnings[0]


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


def test_history_mapping_unknown_when_counts_disagree(tmp_path):
    p = tmp_path / "c.tar"
    write_archive(str(p), [ImageSpec([LayerSpec([F("a")]), LayerSpec([F("b")])])], layout="oci")
    # rewrite the config's history to a single non-empty step
    d = tmp_path / "d"
    with tarfile.open(p) as t:
        t.extractall(d)
    idx = json.loads((d / "index.json").read_text())
    man_path = d / "blobs" / "sha256" / idx["manifests"][0]["digest"].split(":")[1]
    man = json.loads(man_path.read_text())
    cfg_path = d / "blobs" / "sha256" / man["config"]["digest"].split(":")[1]
    cfg = json.loads(cfg_path.read_text())
    cfg["history"] = [{"created_by": "only one"}]
    cfg_path.write_text(json.dumps(cfg))  # the digest no longer matches: fine without --verify
    g = loaded(d)
    im = g.images[0]
    assert not im.history_mapped
    assert im.created_by(0) == ""
    assert [h.created_by for h in im.history] == ["only one"]


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


def test_uncompressed_layers_smallest_here_biggest_to_the_pool(tmp_path, monkeypatch):
    """Uncompressed layers: walked in this process smallest first while the
    first stretch lasts, the rest handed to worker processes biggest first
    (so that no core idles while one big layer is walked); the entries are
    those of a serial walk either way."""
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
    pooled = run(0.0)  # all handed to the pool, biggest first
    assert pooled == sorted(pooled, reverse=True)


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


def test_path_index_agrees_with_scan(tmp_path):
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image()], layout="docker-legacy")
    g = loaded(p)
    st = analyse(g, g.images[0]).stack
    paths = ["var/lib/dpkg/status", "usr/bin/vim.tiny", "etc/hostname", "nope"]
    scanned = [st.entries_at(x) for x in paths[:3]]  # the first calls scan
    assert st._by_path is None
    indexed = [st.entries_at(x) for x in paths]  # then an index is built
    assert st._by_path is not None
    assert indexed[:3] == scanned and indexed[3] == []
    assert [l for l, _ in indexed[0]] == [0, 1, 2]


def test_image_refs_match_tags_repos_and_digests_only():
    from layerscope.model import Image, Platform

    im = Image(refs=["docker.io/library/nginx:1.25"], digest="sha256:" + "ab12" * 16, config_digest="sha256:" + "cd" * 32,
               platform=Platform("linux", "amd64"), config={}, raw_config={}, layers=[], history=[],
               history_mapped=True)
    for ref in ("docker.io/library/nginx:1.25", "nginx:1.25", "nginx", "sha256:ab12ab", "ab12ab12", "cdcd"):
        assert im.matches_ref(ref), ref
    for ref in ("nope:1", "nginx:1.2", "1", "ab", "sha256:ffff", "ngin"):
        assert not im.matches_ref(ref), ref
    reg = Image(refs=["localhost:5000/team/app:v2"], digest="", config_digest="", platform=Platform(), config={},
                raw_config={}, layers=[], history=[], history_mapped=False)
    assert reg.matches_ref("localhost:5000/team/app") and not reg.matches_ref("localhost")


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
    from layerscope.layers import cache
    from layerscope.analysis.stack import Stack

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
