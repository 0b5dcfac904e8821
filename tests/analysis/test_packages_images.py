"""Packages on real images built here (bench/images, built by
bench/build_images.sh; skipped when absent): every package dpkg-query lists
in the rootfs umoci unpacks is reported with the bytes of its listed regular
files there, by the layer whose tar first holds its file list; the purged
package is gone and shown removed by its step; docker and OCI archives of one
image agree.  Then a real pip install and a real npm install (skipped
without the registries) made into layers."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile

import pytest

from layerscope.analysis import analyse
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive
from tests.conftest import ROOT
from tests.helpers import loaded

IMAGES = ROOT / "bench" / "images"
if not IMAGES.is_dir():  # a worktree: the images are built once, in the main checkout
    IMAGES = ROOT.parent / "main" / "bench" / "images"


def _image(name: str):
    p = IMAGES / name
    if not p.exists():
        pytest.skip(f"bench image not built ({p}; bench/build_images.sh makes it)")
    return p


def _unpack(oci_tar, dest):
    if shutil.which("umoci") is None or shutil.which("dpkg-query") is None:
        pytest.skip("umoci and dpkg-query are needed to check against an unpacked rootfs")
    layout = dest / "oci"
    layout.mkdir()
    with tarfile.open(oci_tar) as t:
        t.extractall(layout, filter="tar")
    ref = json.loads((layout / "index.json").read_text())["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:{ref}", str(dest / "bundle")], check=True,
                   capture_output=True)
    shutil.rmtree(layout)
    return dest / "bundle" / "rootfs"


def _dpkg_truth(root) -> dict[tuple[str, str], tuple[str, int]]:
    """(name, arch) -> (version, bytes of its listed regular files, each inode once), as dpkg-query and lstat see them."""
    admin = f"--admindir={root}/var/lib/dpkg"
    out = subprocess.run(["dpkg-query", admin, "-W", "-f", "${Package}\t${Architecture}\t${Version}\n"],
                         capture_output=True, text=True, check=True).stdout
    truth = {}
    for line in out.splitlines():
        name, arch, version = line.split("\t")
        files = subprocess.run(["dpkg-query", admin, "-L", f"{name}:{arch}"], capture_output=True,
                               text=True).stdout.splitlines()
        seen, total = set(), 0
        for f in files:
            try:
                st = os.lstat(f"{root}{f}")
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
        truth[(name, arch)] = (version, total)
    return truth


def _first_list_layer(oci_tar, a) -> dict[str, int]:
    """package (as its .list file names it) -> the first layer whose tar holds that file, read with tarfile."""
    first: dict[str, int] = {}
    with tarfile.open(oci_tar) as outer:
        for L, layer in enumerate(a.layers):
            blob = outer.extractfile(f"blobs/sha256/{layer.digest.split(':')[1]}")
            with tarfile.open(fileobj=blob, mode="r|*") as t:
                for m in t:
                    n = m.name.lstrip("./")
                    if n.startswith("var/lib/dpkg/info/") and n.endswith(".list"):
                        first.setdefault(n[len("var/lib/dpkg/info/"):-len(".list")], L)
    return first


@pytest.fixture(scope="module", params=["classic", "bloated"])
def real(request, tmp_path_factory):
    oci = _image(f"{request.param}.oci.tar")
    root = _unpack(oci, tmp_path_factory.mktemp(request.param))
    g = loaded(oci)
    a = analyse(g, g.images[0])
    return request.param, oci, root, a


def test_every_dpkg_package_with_its_bytes_and_layer(real):
    name, oci, root, a = real
    truth = _dpkg_truth(root)
    rows = {(r.name, r.arch): r for r in a.packages().rows() if r.manager == "dpkg"}
    assert len(truth) > 100
    assert set(rows) == set(truth)
    assert {k: (r.version, r.bytes) for k, r in rows.items()} == truth
    first = _first_list_layer(oci, a)
    for (n, arch), r in rows.items():
        assert r.layer == first.get(f"{n}:{arch}", first.get(n)), (n, arch)


def test_the_purged_package(real):
    name, oci, root, a = real
    if name != "bloated":
        pytest.skip("only the bloated image purges a package")
    pa = a.packages()
    assert "python3-scipy" not in {r.name for r in pa.rows()}
    (gone,) = [r for r in pa.removed if r.name == "python3-scipy" and r.manager == "dpkg"]
    assert "purge" in a.created_by(gone.removed_in) and "python3-scipy" in a.created_by(gone.layer)
    assert gone.bytes > 10 << 20
    assert any(c.name == "python3-scipy" for c in pa.layers[gone.removed_in].removed)
    assert "openjdk-17-jre-headless" in {r.name for r in pa.rows()}


@pytest.mark.parametrize("name", ["classic", "bloated"])
def test_docker_and_oci_archives_agree(name):
    def rows(p):
        g = loaded(p)
        return {(r.manager, r.name, r.arch, r.version, r.layer, r.bytes, r.hidden_bytes)
                for r in analyse(g, g.images[0]).packages().rows()}

    assert rows(_image(f"{name}.docker.tar")) == rows(_image(f"{name}.oci.tar"))


# -- real installs, made into a layer -------------------------------------------------------
def _tree(d, prefix) -> list[F]:
    out = []
    for dirpath, _dirs, filenames in os.walk(d):
        rel = os.path.relpath(dirpath, d)
        base = prefix if rel == "." else f"{prefix}/{rel}"
        out.append(F(base, "dir"))
        for f in filenames:
            p = os.path.join(dirpath, f)
            if os.path.islink(p):
                out.append(F(f"{base}/{f}", "symlink", link=os.readlink(p)))
            else:
                with open(p, "rb") as fh:
                    out.append(F(f"{base}/{f}", data=fh.read()))
    return out


@pytest.fixture(scope="session")
def installs(tmp_path_factory):
    d = tmp_path_factory.mktemp("installs")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--quiet",
                          "--target", str(d / "site"), "six==1.16.0", "idna==3.7"], capture_output=True, timeout=300)
    npm = None
    if shutil.which("npm"):
        npm = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(d / "app"),
                              "express@4.19.2"], capture_output=True, timeout=300)
    return d, pip.returncode == 0, npm is not None and npm.returncode == 0


def test_a_real_pip_install(installs, tmp_path):
    d, pip_ok, _ = installs
    if not pip_ok:
        pytest.skip("pip could not install from the package index")
    site = "usr/local/lib/python3.11/site-packages"
    p = tmp_path / "img.tar"
    write_archive(str(p), [ImageSpec([LayerSpec(_tree(d / "site", site), created_by="RUN pip install six idna")])],
                  "oci")
    g = loaded(p)
    rows = {r.name: r for r in analyse(g, g.images[0]).packages().rows()}
    assert {n: (r.manager, r.version, r.location) for n, r in rows.items()} == {
        "six": ("python", "1.16.0", site), "idna": ("python", "3.7", site)}
    for n, r in rows.items():
        di = next((d / "site").glob(f"{n}-*.dist-info"))
        listed = [row.split(",")[0] for row in (di / "RECORD").read_text().splitlines() if row]
        want = sum(os.path.getsize(d / "site" / x) for x in listed if (d / "site" / x).is_file())
        assert r.bytes == want > 0 and r.layer == 0


def test_a_real_npm_install(installs, tmp_path):
    d, _, npm_ok = installs
    if not npm_ok:
        pytest.skip("npm could not install from the registry")
    p = tmp_path / "img.tar"
    write_archive(str(p), [ImageSpec([LayerSpec(_tree(d / "app", "app"), created_by="RUN npm install express")])],
                  "oci")
    g = loaded(p)
    rows = {r.name: r for r in analyse(g, g.images[0]).packages().rows() if r.location == "app/node_modules"}
    assert rows["express"].version == "4.19.2" and len(rows) > 30
    for n, r in rows.items():
        pkg_dir = d / "app" / "node_modules" / n
        want = 0
        for dirpath, dirnames, filenames in os.walk(pkg_dir):
            if "node_modules" in dirnames:
                dirnames.remove("node_modules")  # nested packages are their own
            want += sum(os.path.getsize(os.path.join(dirpath, f)) for f in filenames
                        if not os.path.islink(os.path.join(dirpath, f)))
        assert r.bytes == want, n
