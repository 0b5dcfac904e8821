"""Conformance: our merged view equals the rootfs that `umoci unpack` (an
independent implementation of the OCI layer rules) produces from the same
image: the same paths, types, sizes and link targets."""

import json
import os
import shutil
import stat
import subprocess

import pytest

from layerscope.cli import main
from layerscope.testing.synth import F, ImageSpec, LayerSpec, classic_image, write_archive
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("umoci") is None or os.geteuid() != 0,
                                reason="umoci (run as root) is needed for the reference union")


def umoci_view(layout_dir, tag, tmp_path):
    bundle = tmp_path / "bundle"
    r = subprocess.run(["umoci", "unpack", "--image", f"{layout_dir}:{tag}", str(bundle)],
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    root = bundle / "rootfs"
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(d, name)
            st = os.lstat(full)
            rel = "/" + os.path.relpath(full, root)
            if stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", 0, None)
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", 0, os.readlink(full))
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("file", st.st_size, None)
            else:
                out[rel] = ("special", 0, None)
    return out


def our_view(archive, capsys):
    assert main(["ls", str(archive), "--json"]) == 0
    rows = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    out = {}
    # a hardlink's bytes are its target's in the same layer (even when the
    # target's own name was deleted above)
    from layerscope.analysis import analyse
    from layerscope.formats.source import open_graph
    from layerscope.layers.indexing import index_layers
    g = open_graph([str(archive)])
    index_layers(g, use_cache=False)
    a = analyse(g, g.images[0])

    def target_size(r):
        e = a.layers[r["layer"]].entries
        l, j = a.hardlink_target(r["layer"], e.paths.index(r["path"].lstrip("/")))
        return a.layers[l].entries.sizes[j]
    for r in rows:
        t = r["type"]
        if t == "hardlink":  # in a rootfs a hardlink is just another name for the file
            out[r["path"]] = ("file", target_size(r), None)
        elif t in ("char", "block", "fifo"):
            out[r["path"]] = ("special", 0, None)
        else:
            out[r["path"]] = (t, r["size"], r["link"] if t == "symlink" else None)
    return out


def tricky_image():
    def d(p, **k):
        return F(p, "dir", **k)
    def f(p, data=b"x", **k):
        return F(p, "file", data=data, **k)
    return ImageSpec([
        LayerSpec([d("etc"), f("etc/a.conf", b"aaa"), d("etc/app"), f("etc/app/1", b"1"), d("etc/app/sub"),
                   f("etc/app/sub/2", b"22"), d("var"), d("var/cache"), f("var/cache/big", b"b" * 5000),
                   f("swap", b"file"), d("tobefile"), f("tobefile/child", b"c"),
                   F("lib", "symlink", link="usr/lib"), d("usr"), d("usr/lib"), f("usr/lib/libx.so", b"so" * 50),
                   f("bin/tool", b"t" * 70), F("bin/tool-alias", "hardlink", link="bin/tool")]),
        LayerSpec([F("var/cache", "whiteout"), d("etc/app"), F("etc/app", "opaque"), f("etc/app/new", b"new"),
                   f("tobefile", b"now a file"), d("swap"), f("swap/inside", b"i"),
                   f("etc/a.conf", b"aaa", mode=0o600), F("nothing-here", "whiteout")]),
        LayerSpec([F("etc/a.conf", "whiteout"), f("etc/a.conf", b"re-added"), f("deep/implied/dirs/file", b"d"),
                   F("bin/tool", "whiteout")]),
    ], repo_tags=["tricky:latest"])


@pytest.mark.parametrize("make,tag", [(lambda: classic_image("gzip"), "classic"), (tricky_image, "latest")],
                         ids=["classic", "tricky"])
def test_top_view_equals_umoci_unpack(tmp_path, capsys, make, tag):
    layout = tmp_path / "img"
    write_archive(str(layout), [make()], layout="oci", directory=True)
    theirs = umoci_view(layout, tag, tmp_path)
    ours = our_view(layout, capsys)
    assert set(ours) == set(theirs)
    diffs = {p: (ours[p], theirs[p]) for p in ours if ours[p] != theirs[p]}
    assert diffs == {}


BENCH = str(ROOT / "bench" / "images")
# the buildah-built ones (bench/build_images.sh), not the generated big ones
REAL = sorted(f for f in (os.listdir(BENCH) if os.path.isdir(BENCH) else []) if f.endswith(".oci.tar")
              and f.split(".")[0] in ("base", "classic", "bloated"))


@pytest.mark.skipif(not REAL, reason="no real images built (bench/build_images.sh makes them)")
@pytest.mark.parametrize("name", REAL or ["none"])
def test_real_buildah_images_equal_umoci_unpack(tmp_path, capsys, name):
    """The buildah-built benchmark images (deleted caches, chmod -R copy-ups,
    a purged package, hardlinks) against umoci's union of the same image."""
    import tarfile

    layout = tmp_path / "img"
    with tarfile.open(os.path.join(BENCH, name)) as t:
        t.extractall(layout, filter="data")
    import json as _json
    tag = _json.loads((layout / "index.json").read_text())["manifests"][0]["annotations"][
        "org.opencontainers.image.ref.name"]
    theirs = umoci_view(layout, tag, tmp_path)
    ours = our_view(layout, capsys)
    assert set(ours) == set(theirs)
    diffs = {p: (ours[p], theirs[p]) for p in ours if ours[p] != theirs[p]}
    assert diffs == {}
