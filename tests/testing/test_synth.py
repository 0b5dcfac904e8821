"""The synthetic archives are valid by structure: every path a manifest names
exists, every digest matches its blob, every diff_id its uncompressed tar."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import posixpath
import shutil
import struct
import subprocess
import tarfile
import zlib
from pathlib import Path

import pytest
import zstandard

from layerscope.testing.synth import (
    COMPRESSIONS,
    LAYOUTS,
    EmptyStep,
    F,
    ImageSpec,
    LayerSpec,
    classic_image,
    classic_pair,
    layer_blob,
    layer_tar_bytes,
    write_archive,
)
from tests.conftest import ROOT, SAMPLES


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


# ---------------------------------------------------------------------------
# readers


class Archive:
    """All members of an archive tar (or an OCI directory), symlinks followed."""

    def __init__(self, path: Path) -> None:
        self.members: dict[str, tarfile.TarInfo] = {}
        self.data: dict[str, bytes] = {}
        self.order: list[str] = []
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                if p.is_file():
                    name = p.relative_to(path).as_posix()
                    self.data[name] = p.read_bytes()
                    self.order.append(name)
            return
        with tarfile.open(path) as tf:
            for m in tf.getmembers():
                name = m.name.rstrip("/")
                self.members[name] = m
                self.order.append(name)
                if m.isfile():
                    self.data[name] = tf.extractfile(m).read()

    def names(self) -> set[str]:
        return set(self.order)

    def read(self, name: str, hops: int = 0) -> bytes:
        m = self.members.get(name)
        if m is not None and m.issym():
            assert hops < 8
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), m.linkname))
            return self.read(target, hops + 1)
        return self.data[name]

    def json(self, name: str):
        return json.loads(self.read(name))


def gzip_members(blob: bytes) -> int:
    n = 0
    while blob:
        d = zlib.decompressobj(31)
        d.decompress(blob)
        assert d.eof
        blob = d.unused_data
        n += 1
    return n


def zstd_frames(blob: bytes) -> tuple[int, list[bytes]]:
    """(number of data frames, payloads of skippable frames)"""
    frames, skips = 0, []
    pos = 0
    while pos < len(blob):
        magic = struct.unpack_from("<I", blob, pos)[0]
        if magic & 0xFFFFFFF0 == 0x184D2A50:
            size = struct.unpack_from("<I", blob, pos + 4)[0]
            skips.append(blob[pos + 8:pos + 8 + size])
            pos += 8 + size
        else:
            pos = len(blob) - len(_rest_after_frame(blob[pos:]))
            frames += 1
    return frames, skips


def _rest_after_frame(blob: bytes) -> bytes:
    d = zstandard.ZstdDecompressor().decompressobj()
    d.decompress(blob)
    return d.unused_data


def uncompress(blob: bytes) -> bytes:
    if blob[:2] == b"\x1f\x8b":
        return gzip.decompress(blob)  # reads every member
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        r = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob), read_across_frames=True)
        return r.read()
    return blob


def check_image(config: bytes, layers: list[bytes], tars: bool = True) -> dict:
    cfg = json.loads(config)
    diff_ids = cfg["rootfs"]["diff_ids"]
    assert cfg["rootfs"]["type"] == "layers"
    assert len(diff_ids) == len(layers)
    for diff_id, blob in zip(diff_ids, layers):
        tar = uncompress(blob)
        assert sha(tar) == diff_id
        if not tars:
            continue
        with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
            tf.getmembers()
    if "history" in cfg:
        assert sum(1 for h in cfg["history"] if not h.get("empty_layer")) == len(diff_ids)
    return cfg


def check_docker_manifest(a: Archive) -> list[dict]:
    """manifest.json of docker-legacy / podman / docker25 / kaniko."""
    items = a.json("manifest.json")
    configs = []
    for item in items:
        cname = item["Config"]
        config = a.read(cname)
        hexd = cname.removeprefix("blobs/sha256/").removeprefix("sha256:").removesuffix(".json")
        assert hashlib.sha256(config).hexdigest() == hexd
        configs.append(check_image(config, [a.read(p) for p in item["Layers"]]))
        for diff_id, src in (item.get("LayerSources") or {}).items():
            assert diff_id in configs[-1]["rootfs"]["diff_ids"]
            assert sha(a.read("blobs/sha256/" + src["digest"][7:])) == src["digest"]
    return configs


def check_oci(a: Archive) -> list[dict]:
    """Walk index.json down to every image; returns the image configs."""
    assert a.json("oci-layout") == {"imageLayoutVersion": "1.0.0"}
    configs = []

    def blob(desc: dict) -> bytes:
        data = a.read("blobs/sha256/" + desc["digest"][7:])
        assert sha(data) == desc["digest"] and len(data) == desc["size"]
        return data

    def walk(desc: dict) -> None:
        data = blob(desc)
        doc = json.loads(data)
        if "manifests" in doc:
            for d in doc["manifests"]:
                walk(d)
        else:
            assert doc["mediaType"] == desc["mediaType"]
            tars = all("in-toto" not in layer["mediaType"] for layer in doc["layers"])
            configs.append(check_image(blob(doc["config"]), [blob(layer) for layer in doc["layers"]], tars))

    index = a.json("index.json")
    assert index["schemaVersion"] == 2
    for d in index["manifests"]:
        walk(d)
    return configs


def check(path: Path, layout: str) -> list[dict]:
    a = Archive(path)
    if layout in ("oci",):
        return check_oci(a)
    if layout == "docker25":
        check_oci(a)
    return check_docker_manifest(a)


# ---------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_is_valid(tmp_path, layout):
    path = tmp_path / "img.tar"
    write_archive(path, [classic_image("gzip")], layout)
    (cfg,) = check(path, layout)
    assert cfg["config"]["Cmd"] == ["nginx", "-g", "daemon off;"]
    assert len(cfg["rootfs"]["diff_ids"]) == 7


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_every_compression_is_valid(tmp_path, compression):
    for layout in ("oci", "docker25"):
        path = tmp_path / f"{layout}.tar"
        write_archive(path, classic_pair(compression), layout)
        assert len(check(path, layout)) == 2


def test_layout_files(tmp_path):
    imgs = classic_pair()
    write_archive(tmp_path / "legacy.tar", imgs, "docker-legacy")
    a = Archive(tmp_path / "legacy.tar")
    items = a.json("manifest.json")
    assert [i["RepoTags"] for i in items] == [["layerscope-demo:editor"], ["layerscope-demo:web"]]
    assert items[0]["Layers"][0] == items[1]["Layers"][0]  # same chain: same layer dir
    lid = items[0]["Layers"][0].split("/")[0]
    assert a.read(f"{lid}/VERSION") == b"1.0"
    assert a.json(f"{lid}/json")["id"] == lid
    assert set(a.json("repositories")["layerscope-demo"]) == {"editor", "web"}
    assert a.members[lid].isdir()

    write_archive(tmp_path / "podman.tar", imgs, "podman")
    a = Archive(tmp_path / "podman.tar")
    items = a.json("manifest.json")
    base = items[0]["Layers"][0]
    assert base == items[1]["Layers"][0] and base.endswith(".tar") and "/" not in base
    assert a.order.count(base) == 1
    legacy = [n for n in a.order if n.endswith("/layer.tar")]
    assert legacy and all(a.members[n].issym() for n in legacy)
    assert all(a.members[n].linkname.startswith("../") for n in legacy)
    check_docker_manifest(a)

    write_archive(tmp_path / "d25.tar", imgs, "docker25")
    a = Archive(tmp_path / "d25.tar")
    assert {"oci-layout", "index.json", "manifest.json", "repositories", "blobs/sha256"} <= a.names()
    ann = [m["annotations"] for m in a.json("index.json")["manifests"]]
    assert ann[0]["io.containerd.image.name"] == "docker.io/library/layerscope-demo:editor"
    assert ann[0]["org.opencontainers.image.ref.name"] == "editor"
    assert all(p.startswith("blobs/sha256/") for p in a.json("manifest.json")[1]["Layers"])

    write_archive(tmp_path / "kaniko.tar", imgs, "kaniko")
    a = Archive(tmp_path / "kaniko.tar")
    items = a.json("manifest.json")
    assert items[0]["Config"].startswith("sha256:") and items[0]["Config"] in a.names()
    assert all(p.endswith(".tar.gz") for p in items[0]["Layers"])
    assert a.order[-1] == "manifest.json"


def test_docker_legacy_symlink_for_a_layer_on_another_chain(tmp_path):
    extra = LayerSpec([F("app/", "dir"), F("app/run", data=b"#!/bin/sh\n", mode=0o755)], "COPY run /app/")
    a = ImageSpec([LayerSpec([F("a", data=b"a")]), extra], repo_tags=["a:1"])
    b = ImageSpec([LayerSpec([F("b", data=b"b")]), extra], repo_tags=["b:1"])
    write_archive(tmp_path / "s.tar", [a, b], "docker-legacy")
    arc = Archive(tmp_path / "s.tar")
    items = arc.json("manifest.json")
    first, second = items[0]["Layers"][1], items[1]["Layers"][1]
    assert first != second
    assert arc.members[second].issym()
    assert arc.members[second].linkname == "../" + first
    check_docker_manifest(arc)

    write_archive(tmp_path / "n.tar", [a, b], "docker-legacy", shared_as_symlink=False)
    arc = Archive(tmp_path / "n.tar")
    assert arc.members[arc.json("manifest.json")[1]["Layers"][1]].isfile()


def test_classic_image_config_and_history():
    img = classic_image()
    layers = [s for s in img.layers if isinstance(s, LayerSpec)]
    assert len(layers) == 7 and len(img.layers) == 9
    steps = [s.created_by for s in img.layers]
    assert steps[1] == "/bin/sh -c #(nop)  ENV LANG=C.UTF-8"
    assert isinstance(img.layers[-1], EmptyStep)


def test_classic_config_json(tmp_path):
    write_archive(tmp_path / "c.tar", [classic_image()], "docker-legacy")
    (cfg,) = check(tmp_path / "c.tar", "docker-legacy")
    c = cfg["config"]
    assert c["ExposedPorts"] == {"80/tcp": {}}
    assert "LANG=C.UTF-8" in c["Env"] and c["Env"][0].startswith("PATH=")
    assert c["Labels"] == {"org.opencontainers.image.base.name": "debian:bookworm-slim"}
    assert cfg["os"] == "linux" and cfg["architecture"] == "amd64"
    hist = cfg["history"]
    assert len(hist) == 9
    assert [bool(h.get("empty_layer")) for h in hist] == [False, True] + [False] * 6 + [True]
    assert hist[2]["created_by"] == "RUN apt-get install -y vim-tiny"


def test_classic_layer_contents():
    layers = [s for s in classic_image().layers if isinstance(s, LayerSpec)]

    def members(i):
        with tarfile.open(fileobj=io.BytesIO(layer_tar_bytes(layers[i]))) as tf:
            return {m.name: m for m in tf.getmembers()}

    base = members(0)
    assert base["tmp"].mode == 0o1777 and base["lib"].issym() and base["lib"].linkname == "usr/lib"
    assert not any(n.startswith("boot") for n in base)
    assert sum(1 for n in base if n.endswith(".deb")) == 2
    assert "etc/os-release" in base and "var/lib/dpkg/status" in base
    assert "var/lib/dpkg/status" in members(1) and "var/lib/dpkg/status" in members(2)
    assert members(2)["var/lib/dpkg/status"].size > members(1)["var/lib/dpkg/status"].size
    wh = members(3)
    assert "etc/.wh.hostname" in wh
    assert sum(1 for n in wh if ".wh." in n and n.endswith(".deb")) == 4
    assert {"usr/share/doc/.wh..wh..opq", "usr/share/doc/README"} <= set(members(4))
    assert members(5)["usr/bin/vim.tiny"].mode == 0o700
    link = members(6)["usr/sbin/nginx-hardlink"]
    assert link.islnk() and link.linkname == "usr/sbin/nginx"
    # layer_tar_bytes is what the diff_id is of
    assert sha(layer_tar_bytes(layers[0])) == sha(layer_blob(layers[0]))


def test_estargz_layout(tmp_path):
    spec = LayerSpec([F("d/", "dir"), F("d/a", data=b"a" * 100), F("d/b", data=b"b" * 10),
                      F("d/big", size=9 << 20), F("d/l", "symlink", link="a")], compression="estargz")
    blob = layer_blob(spec)
    assert gzip_members(blob) >= 7  # headers, 3 files (big in 3 chunks), TOC, footer
    footer = blob[-51:]
    assert footer[:4] == b"\x1f\x8b\x08\x04" and footer[16:38].endswith(b"STARGZ")
    toc_off = int(footer[16:32], 16)
    toc_tar = gzip.decompress(blob[toc_off:-51])
    with tarfile.open(fileobj=io.BytesIO(toc_tar)) as tf:
        (m,) = tf.getmembers()
        assert m.name == "stargz.index.json"
        toc = json.load(tf.extractfile(m))
    chunks = [e for e in toc["entries"] if e["name"] == "d/big"]
    assert [e["type"] for e in chunks] == ["reg", "chunk", "chunk"]
    a = next(e for e in toc["entries"] if e["name"] == "d/a")
    assert gzip.decompress(blob[a["offset"]:])[:100] == b"a" * 100
    assert a["digest"] == sha(b"a" * 100)

    img = ImageSpec([spec])
    write_archive(tmp_path / "e.tar", [img], "oci")
    arc = Archive(tmp_path / "e.tar")
    check_oci(arc)
    man = arc.json("blobs/sha256/" + arc.json("index.json")["manifests"][0]["digest"][7:])
    ann = man["layers"][0]["annotations"]
    assert man["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert ann["containerd.io/snapshot/stargz/toc.digest"] == sha(json.dumps(toc, separators=(",", ":")).encode())


def test_zstd_chunked_layout(tmp_path):
    spec = LayerSpec([F("a", data=b"a" * 1000), F("b", data=b"b" * 1000), F("c", "dir"), F("c/d", data=b"d")],
                     compression="zstd-chunked")
    img = ImageSpec([spec])
    write_archive(tmp_path / "z.tar", [img], "oci")
    arc = Archive(tmp_path / "z.tar")
    (cfg,) = check_oci(arc)
    man = arc.json("blobs/sha256/" + arc.json("index.json")["manifests"][0]["digest"][7:])
    layer = man["layers"][0]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    blob = arc.read("blobs/sha256/" + layer["digest"][7:])
    frames, skips = zstd_frames(blob)
    assert frames >= 4 and len(skips) == 2
    off, clen, ulen, kind = map(int, layer["annotations"]["io.github.containers.zstd-chunked.manifest-position"].split(":"))
    cm = blob[off:off + clen]
    assert sha(cm) == layer["annotations"]["io.github.containers.zstd-chunked.manifest-checksum"]
    toc = json.loads(zstandard.ZstdDecompressor().decompress(cm, max_output_size=ulen))
    b = next(e for e in toc["entries"] if e["name"] == "b")
    part = zstandard.ZstdDecompressor().decompressobj().decompress(blob[b["offset"]:b["endOffset"]])
    assert part.startswith(b"b" * 1000)


def test_hostile_names():
    names = [b"bad\xff\xfename", b"../escape", b"esc\x1b[31mred", b"long\xff" + b"y" * 300]
    entries = [F("x", raw_name=n, data=b"1") for n in names]
    entries += [F("a/" + "x" * 4000, data=b"long"), F("caf\u00e9/\u00fc.txt", data=b"u"),
                F("l", "symlink", link="/" + "t" * 300), F("dev/null", "char", major=1, minor=3),
                F("big-ids", uid=10_000_000, gid=70_000_000)]
    tar = layer_tar_bytes(LayerSpec(entries))
    with tarfile.open(fileobj=io.BytesIO(tar), encoding="utf-8", errors="surrogateescape") as tf:
        ms = tf.getmembers()
    got = [m.name.encode("utf-8", "surrogateescape") for m in ms]
    assert got[:4] == names
    assert got[4] == b"a/" + b"x" * 4000
    assert ms[5].name == "caf\u00e9/\u00fc.txt"
    assert ms[6].linkname == "/" + "t" * 300
    assert ms[7].ischr() and (ms[7].devmajor, ms[7].devminor) == (1, 3)
    assert (ms[8].uid, ms[8].gid) == (10_000_000, 70_000_000)


def test_paths_are_normalised():
    tar = layer_tar_bytes(LayerSpec([F("/etc", "dir"), F("./etc/passwd", data=b"x"),
                                     F("/etc/gone", "whiteout"), F("/var/", "opaque"), F("top", "whiteout")]))
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        raw = [m.name for m in tf.getmembers()]
    assert raw == ["etc", "etc/passwd", "etc/.wh.gone", "var/.wh..wh..opq", ".wh.top"]
    assert tar[:4] == b"etc/"  # directories keep their slash in the header


def test_deterministic_and_shared_blobs(tmp_path):
    for layout in ("oci", "docker-legacy", "podman"):
        write_archive(tmp_path / "1.tar", classic_pair("gzip"), layout)
        write_archive(tmp_path / "2.tar", classic_pair("gzip"), layout)
        assert (tmp_path / "1.tar").read_bytes() == (tmp_path / "2.tar").read_bytes()
    # the same layer content in two separately built specs is one blob
    write_archive(tmp_path / "o.tar", [classic_image("gzip"), classic_pair("gzip")[1]], "oci")
    arc = Archive(tmp_path / "o.tar")
    mans = [arc.json("blobs/sha256/" + d["digest"][7:]) for d in arc.json("index.json")["manifests"]]
    assert mans[0]["layers"][0]["digest"] == mans[1]["layers"][0]["digest"]


def test_big_sizes_are_streamed(tmp_path):
    entries = [F("d", "dir")] + [F(f"d/f{i}", size=i % 3) for i in range(10_000)] + [F("zero", size=12 << 20)]
    write_archive(tmp_path / "big.tar", [ImageSpec([LayerSpec(entries)])], "docker-legacy")
    with tarfile.open(tmp_path / "big.tar") as tf:
        item = json.load(tf.extractfile("manifest.json"))[0]
        layer = tf.getmember(item["Layers"][0])
        assert layer.size > 12 << 20
        with tarfile.open(fileobj=tf.extractfile(layer)) as inner:
            names = inner.getnames()
    assert len(names) == 10_002 and names[-1] == "zero"


def test_oci_directory_nested_index_attestation_multiplatform(tmp_path):
    amd = classic_image("gzip")
    arm = classic_image("zstd")
    arm.architecture, arm.variant = "arm64", "v8"
    write_archive(tmp_path / "dir", [amd, arm], "oci", directory=True, multiplatform=True, attestation=True)
    arc = Archive(tmp_path / "dir")
    configs = check_oci(arc)
    assert sorted(c["architecture"] for c in configs) == ["amd64", "arm64", "unknown", "unknown"]
    (top,) = arc.json("index.json")["manifests"]
    assert top["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert top["annotations"] == {"io.containerd.image.name": "layerscope-demo:classic",
                                  "org.opencontainers.image.ref.name": "classic"}
    inner = arc.json("blobs/sha256/" + top["digest"][7:])["manifests"]
    assert [m["platform"]["architecture"] for m in inner] == ["amd64", "arm64", "unknown", "unknown"]
    att = inner[2]
    assert att["annotations"]["vnd.docker.reference.type"] == "attestation-manifest"
    assert att["annotations"]["vnd.docker.reference.digest"] == inner[0]["digest"]

    write_archive(tmp_path / "n.tar", [amd], "oci", nested_index=True)
    arc = Archive(tmp_path / "n.tar")
    (top,) = arc.json("index.json")["manifests"]
    assert top["mediaType"].endswith("index.v1+json")
    assert len(check_oci(arc)) == 1


def test_unknown_options_are_refused(tmp_path):
    with pytest.raises(TypeError):
        write_archive(tmp_path / "x.tar", [classic_image()], "podman", directory=True)
    with pytest.raises(ValueError):
        write_archive(tmp_path / "x.tar", [classic_image()], "nope")
    with pytest.raises(ValueError):
        F("x", "sock")


SAMPLE_FILES = {"classic-docker.tar": "docker-legacy", "classic-oci.tar": "oci",
                "shared-base-podman.tar": "podman"}


@pytest.mark.parametrize("name", sorted(SAMPLE_FILES))
def test_samples_are_valid(name):
    path = SAMPLES / name
    assert path.stat().st_size < 1 << 20
    check(path, SAMPLE_FILES[name])


def test_samples_are_current(tmp_path):
    write_archive(tmp_path / "d.tar", [classic_image()], "docker-legacy")
    assert (tmp_path / "d.tar").read_bytes() == (SAMPLES / "classic-docker.tar").read_bytes()
    assert (ROOT / "layerscope" / "data" / "classic-docker.tar").read_bytes() == (tmp_path / "d.tar").read_bytes()
    write_archive(tmp_path / "p.tar", classic_pair(), "podman")
    assert (tmp_path / "p.tar").read_bytes() == (SAMPLES / "shared-base-podman.tar").read_bytes()


@pytest.mark.skipif(not shutil.which("skopeo"), reason="skopeo not installed")
def test_skopeo_reads_the_samples():
    for ref in (f"docker-archive:{SAMPLES / 'classic-docker.tar'}",
                f"docker-archive:{SAMPLES / 'shared-base-podman.tar'}:layerscope-demo:web",
                f"oci-archive:{SAMPLES / 'classic-oci.tar'}:classic"):
        out = subprocess.run(["skopeo", "inspect", "--config", ref], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["config"]["Env"]
