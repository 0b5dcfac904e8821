"""An archive that shrinks while it is read (another process truncating or
rewriting it): reading mapped pages past the new end of file raises SIGBUS,
which kills the process with no message.  Every read that can meet it must
end instead in one line, "the archive changed while it was read", exit 2.

Each scenario runs in a child process, so a SIGBUS kills the child (and
fails the test), never the test run."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile

import pytest
import zstandard

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHANGED = "the archive changed while it was read"


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def tar_of(members) -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


def big_layer() -> bytes:
    # several files of random bytes: the layer spans many pages
    rnd = [os.urandom(256 << 10) for _ in range(8)]
    return tar_of([(f"f{i}", b) for i, b in enumerate(rnd)])


def docker_archive(path, layer_blob: bytes, diff_id: str) -> tuple[str, int, int]:
    """(path, offset of the layer blob in the archive, its size).  The layer
    comes last, so cutting the file cuts into it."""
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                      "history": [{"created_by": "x"}]}).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    man = json.dumps([{"Config": cfg_name, "RepoTags": ["shrink:1"], "Layers": ["l0/layer.tar"]}]).encode()
    data = tar_of([(cfg_name, cfg), ("manifest.json", man), ("l0/layer.tar", layer_blob)])
    with open(path, "wb") as f:
        f.write(data)
    off = data.find(layer_blob[:512])
    return str(path), off, len(layer_blob)


CHILD = r"""
import os, sys
mode, path, cut = sys.argv[1], sys.argv[2], int(sys.argv[3])
from layerscope.formats.container import open_container
from layerscope.formats import read_container
from layerscope.formats.source import open_graph
from layerscope.layers import indexing
if mode == "index":
    graph = open_graph([path])
    image = graph.pick()
    os.truncate(path, cut)
    indexing.index_layers(graph, layers=image.layers, use_cache=False, workers=1)
    print("ERROR:", image.layers[0].error)
elif mode == "json":
    c = open_container(path)
    os.truncate(path, cut)
    try:
        read_container(c, {}, path)
        print("ERROR:", None)
    except Exception as e:
        print("ERROR:", e)
elif mode == "open":
    from layerscope.layers.blobs import file_view
    file_view(path)  # mapped first (as a second source naming the same file would)
    os.truncate(path, cut)
    try:
        open_container(path)
        print("ERROR:", None)
    except Exception as e:
        print("ERROR:", e)
elif mode == "cli":
    from layerscope.cli import main
    real = indexing.index_layers
    def cutting(*a, **kw):
        os.truncate(path, cut)
        return real(*a, **kw)
    indexing.index_layers = cutting
    sys.exit(main(["report", path]))
"""


def child(mode: str, path: str, cut: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, LAYERSCOPE_CACHE="off", PYTHONPATH=ROOT)
    env.pop("LAYERSCOPE_DEBUG", None)
    return subprocess.run([sys.executable, "-c", CHILD, mode, path, str(cut)], capture_output=True, text=True,
                          timeout=120, env=env, cwd=ROOT)


def assert_changed(r: subprocess.CompletedProcess) -> None:
    assert r.returncode != -signal.SIGBUS, "killed by SIGBUS"
    assert r.returncode == 0, r.stderr
    assert CHANGED in r.stdout, r.stdout


def layer_of(kind: str) -> bytes:
    raw = big_layer()
    if kind == "gzip":
        return gzip.compress(raw, compresslevel=1, mtime=0), raw
    if kind == "zstd":
        return zstandard.ZstdCompressor().compress(raw), raw
    return raw, raw


@pytest.mark.parametrize("kind", ["none", "gzip", "zstd"])
@pytest.mark.parametrize("where", ["before", "inside"])
def test_layer_cut_between_load_and_index(tmp_path, kind, where):
    blob, raw = layer_of(kind)
    path, off, size = docker_archive(tmp_path / "a.tar", blob, sha(raw))
    cut = off - 1024 if where == "before" else off + size // 2
    assert_changed(child("index", path, cut))


def test_json_cut_after_the_archive_was_opened(tmp_path):
    blob, raw = layer_of("none")
    path, off, size = docker_archive(tmp_path / "a.tar", blob, sha(raw))
    r = child("json", path, 1024)  # inside the first member: the config
    assert r.returncode != -signal.SIGBUS, "killed by SIGBUS"
    assert CHANGED in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("kind", ["none", "gzip", "zstd"])
def test_cli_report_of_a_shrinking_archive_one_line(tmp_path, kind):
    blob, raw = layer_of(kind)
    path, off, size = docker_archive(tmp_path / "a.tar", blob, sha(raw))
    r = child("cli", path, off + 100)
    assert r.returncode != -signal.SIGBUS, "killed by SIGBUS"
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("layerscope: error: "), r.stderr
    assert CHANGED in r.stderr, r.stderr


@pytest.mark.parametrize("cut", [0, 700])
def test_archive_cut_after_it_was_mapped(tmp_path, cut):
    blob, raw = layer_of("none")
    path, off, size = docker_archive(tmp_path / "a.tar", blob, sha(raw))
    r = child("open", path, cut)
    assert r.returncode != -signal.SIGBUS, "killed by SIGBUS"
    assert CHANGED in r.stdout, r.stdout + r.stderr
