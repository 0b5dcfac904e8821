"""Hostile archives that cost time or memory out of proportion to their size:
a layer referenced many times, a manifest listed many times, paths nested
absurdly deep.  Each must end quickly, in bounded memory, with a clear result.

Archives are built here with the standard library (small helpers copied on
purpose: the older hostile test module is being split)."""

from __future__ import annotations

import hashlib
import io
import json
import resource
import tarfile
import tracemalloc

from layerscope.cli import main
from layerscope.formats.source import open_graph
from layerscope.layers import indexing
from layerscope.layers.indexing import index_layers


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def tar_of(members) -> bytes:
    """members: (name, bytes) for files, (name, None) for directories."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            if data is None:
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                t.addfile(ti)
            else:
                ti.size = len(data)
                ti.mode = 0o644
                t.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


def config_for(diff_ids: list[str]) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                       "rootfs": {"type": "layers", "diff_ids": diff_ids},
                       "history": [{"created_by": f"step {i}"} for i in range(len(diff_ids))]}).encode()


def docker_repeated(path, layer: bytes, times: int) -> str:
    """A docker-save archive whose one manifest lists the same layer `times` times."""
    cfg = config_for([sha(layer)] * times)
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    man = json.dumps([{"Config": cfg_name, "RepoTags": ["rep:1"], "Layers": ["l0/layer.tar"] * times}]).encode()
    with open(path, "wb") as f:
        f.write(tar_of([("l0/layer.tar", layer), (cfg_name, cfg), ("manifest.json", man)]))
    return str(path)


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------------------
# a layer listed many times in one manifest

def test_repeated_layer_is_indexed_once(tmp_path, monkeypatch):
    layer = tar_of([("etc", None)] + [(f"etc/f{i}", b"x") for i in range(50)])
    path = docker_repeated(tmp_path / "rep.tar", layer, 64)
    calls = []
    real = indexing.index_blob

    def counting(ref, *a, **kw):
        calls.append(ref.name)
        return real(ref, *a, **kw)

    monkeypatch.setattr(indexing, "index_blob", counting)
    graph = open_graph([path])
    image = graph.pick()
    assert len(image.layers) == 64 and len({id(l) for l in image.layers}) == 1
    # the CLI passes the image's layer list, duplicates and all
    index_layers(graph, layers=image.layers, use_cache=False, workers=1)
    assert calls == ["l0/layer.tar"]
    assert image.layers[0].error is None and len(image.layers[0].entries) == 51


def test_repeated_layer_progress_counts_distinct_layers(tmp_path):
    layer = tar_of([(f"f{i}", b"x") for i in range(5)])
    path = docker_repeated(tmp_path / "rep.tar", layer, 8)
    graph = open_graph([path])
    image = graph.pick()
    seen = []
    index_layers(graph, layers=image.layers, use_cache=False, workers=1,
                 progress=lambda done, total, l: seen.append((done, total)))
    assert seen == [(1, 1)]


def test_repeated_layer_merged_view_is_that_layer(tmp_path):
    from layerscope.analysis.stack import MODIFIED, UNCHANGED, VISIBLE, Stack

    layer = tar_of([("d", None), ("d/a", b"1"), ("e/b", b"22")])  # e is implied
    path = docker_repeated(tmp_path / "rep.tar", layer, 3)
    graph = open_graph([path])
    image = graph.pick()
    index_layers(graph, layers=image.layers, use_cache=False, workers=1)
    st = Stack(image)
    assert sorted(st.top_view) == ["d", "d/a", "e", "e/b"]
    # each copy hides the one below it; the top copy is what is visible
    assert all(st.top_view[p][0] == 2 for p in ("d", "d/a", "e/b"))
    for L in (0, 1):
        assert list(st.hidden_at[L]) == [L + 1] * 3
    assert list(st.hidden_at[2]) == [VISIBLE] * 3
    assert st.change[1][0] == UNCHANGED and st.change[1][1] == MODIFIED


def test_repeated_layer_report_bounded(tmp_path, capsys):
    layer = tar_of([("d", None)] + [(f"d/f{i}", b"x") for i in range(200)])
    path = docker_repeated(tmp_path / "rep.tar", layer, 512)
    t0 = cpu_seconds()
    rc = main(["report", path])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert cpu_seconds() - t0 < 60


# ---------------------------------------------------------------------------
# an OCI index listing one big manifest many times

def oci_index_repeating(path, n_layers: int, times: int, *, distinct: bool = False) -> str:
    """An oci-archive whose index lists a manifest of `n_layers` layers
    `times` times (the same digest, or `distinct` manifests that differ only
    in an annotation)."""
    layer = tar_of([("f", b"x")])
    cfg = config_for([sha(layer)] * n_layers)
    mans = []
    for k in range(times if distinct else 1):
        mans.append(json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg), "size": len(cfg)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(layer),
                        "size": len(layer)}] * n_layers,
            "annotations": {"k": str(k)}}).encode())
    descs = [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(mans[k % len(mans)]),
              "size": len(mans[k % len(mans)]), "annotations": {"org.opencontainers.image.ref.name": f"t{k}"}}
             for k in range(times)]
    idx = json.dumps({"schemaVersion": 2, "manifests": descs}).encode()
    members = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", idx)]
    for b in [cfg, layer, *mans]:
        members.append(("blobs/sha256/" + hashlib.sha256(b).hexdigest(), b))
    with open(path, "wb") as f:
        f.write(tar_of(members))
    return str(path)


def test_same_manifest_listed_many_times_is_one_image(tmp_path):
    path = oci_index_repeating(tmp_path / "idx.tar", 256, 512)
    tracemalloc.start()
    try:
        t0 = cpu_seconds()
        graph = open_graph([path])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert cpu_seconds() - t0 < 30
    assert len(graph.images) == 1
    image = graph.images[0]
    assert len(image.layers) == 256
    # every name the index gives it still picks it
    assert image.refs[:3] == ["t0", "t1", "t2"] and len(image.refs) == 512
    assert graph.pick("t511") is image
    assert peak < 40 << 20, f"{peak:,} bytes traced while loading"


def test_many_manifests_times_layers_refused_clearly(tmp_path, monkeypatch, capsys):
    from layerscope.formats import oci

    monkeypatch.setattr(oci, "MAX_LAYER_REFS", 1000)
    path = oci_index_repeating(tmp_path / "idx.tar", 256, 8, distinct=True)
    rc = main(["report", path])
    out, err = capsys.readouterr()
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("layerscope: error: ")
    assert "more than 1,000 layers in all" in err, err


def test_docker_manifest_entries_times_layers_refused_clearly(tmp_path, monkeypatch, capsys):
    from layerscope.formats import oci

    monkeypatch.setattr(oci, "MAX_LAYER_REFS", 1000)
    layer = tar_of([("f", b"x")])
    cfg = config_for([sha(layer)] * 300)
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    man = json.dumps([{"Config": cfg_name, "RepoTags": [f"r:{k}"], "Layers": ["l0/layer.tar"] * 300}
                      for k in range(4)]).encode()
    path = tmp_path / "d.tar"
    path.write_bytes(tar_of([("l0/layer.tar", layer), (cfg_name, cfg), ("manifest.json", man)]))
    rc = main(["report", str(path)])
    out, err = capsys.readouterr()
    assert rc == 2, err
    assert err.count("\n") == 1 and "more than 1,000 layers in all" in err, err


# ---------------------------------------------------------------------------
# paths nested absurdly deep: each implied parent is a path string of its own,
# so their cost grows with the square of the depth

def docker_one_layer(path, layer: bytes) -> str:
    cfg = config_for([sha(layer)])
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    man = json.dumps([{"Config": cfg_name, "RepoTags": ["deep:1"], "Layers": ["l0/layer.tar"]}]).encode()
    with open(path, "wb") as f:
        f.write(tar_of([("l0/layer.tar", layer), (cfg_name, cfg), ("manifest.json", man)]))
    return str(path)


def test_deep_path_refused_at_index_time(tmp_path):
    path = docker_one_layer(tmp_path / "deep.tar", tar_of([("a/" * 20_000 + "f", b"x")]))
    graph = open_graph([path])
    image = graph.pick()
    tracemalloc.start()
    try:
        index_layers(graph, layers=image.layers, use_cache=False, workers=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = image.layers[0].error
    assert err and "nested too deeply" in err, err
    assert "layer 0" in err
    assert peak < 64 << 20, f"{peak:,} bytes traced while indexing"


def test_many_deep_chains_refused(tmp_path):
    # each chain alone is acceptable; together they would cost as much as one huge one
    members = [(f"x{i}/" + "a/" * 4_000 + "f", b"x") for i in range(40)]
    path = docker_one_layer(tmp_path / "chains.tar", tar_of(members))
    graph = open_graph([path])
    image = graph.pick()
    index_layers(graph, layers=image.layers, use_cache=False, workers=1)
    assert "nested too deeply" in (image.layers[0].error or "")


def test_deep_but_listed_parents_are_not_refused(tmp_path):
    # every parent listed as an entry: nothing is implied, nothing to refuse
    members, p = [], ""
    for _ in range(300):
        p = p + "d" * 50 + "/"
        members.append((p.rstrip("/"), None))
    members.append((p + "f", b"x"))
    path = docker_one_layer(tmp_path / "listed.tar", tar_of(members))
    graph = open_graph([path])
    image = graph.pick()
    index_layers(graph, layers=image.layers, use_cache=False, workers=1)
    assert image.layers[0].error is None
    assert len(image.layers[0].entries) == 301


def test_deep_path_cli_one_line_error_bounded(tmp_path):
    import os
    import subprocess
    import sys

    path = docker_one_layer(tmp_path / "deep.tar", tar_of([("a/" * 40_000 + "f", b"x")]))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = ("import sys\nfrom layerscope.cli import main\nrc = main(sys.argv[1:])\n"
            "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
            "print('@@rss=' + hwm, file=sys.stderr)\nsys.exit(rc)\n")
    env = dict(os.environ, LAYERSCOPE_CACHE="off", PYTHONPATH=root)
    r = subprocess.run([sys.executable, "-c", code, "report", path], capture_output=True, text=True,
                       timeout=300, env=env, cwd=root)
    lines = r.stderr.splitlines()
    rss_mb = int([l for l in lines if l.startswith("@@rss=")][-1][6:]) // 1024
    err = [l for l in lines if not l.startswith("@@rss=")]
    assert r.returncode == 2, r.stderr
    assert len(err) == 1 and err[0].startswith("layerscope: error: ") and "nested too deeply" in err[0], err
    assert rss_mb < 400, f"peak RSS {rss_mb} MB"


def test_deep_path_from_an_old_cache_entry_refused(tmp_path, monkeypatch):
    # a cache written before layers were refused for depth must not bring one back
    from layerscope.layers import cache

    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    path = docker_one_layer(tmp_path / "deep.tar", tar_of([("a/" * 20_000 + "f", b"x")]))
    monkeypatch.setattr(indexing, "implied_too_costly", lambda entries, budget=None: False)
    graph = open_graph([path])
    index_layers(graph, use_cache=True, workers=1)
    layer = graph.pick().layers[0]
    assert layer.error is None
    cache.store(layer)
    monkeypatch.undo()
    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    graph = open_graph([path])
    index_layers(graph, use_cache=True, workers=1)
    assert "nested too deeply" in (graph.pick().layers[0].error or "")
