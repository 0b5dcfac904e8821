"""Hostile and broken input (issues 2 "Errors" and 7): every bad archive gives
ONE line on stderr starting `layerscope: error: `, exit status 2, no
traceback, in bounded time and memory; hostile names are shown escaped;
decompression bombs end in bounded time and memory with a note; `--verify`
catches altered layers and blobs, and loading without it never hashes.

Every archive is written into tmp_path with the standard library (or
layerscope.testing.synth for realistic images)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import time
import zlib

import pytest
import zstandard

from layerscope.layers import compression, contents
from layerscope.cli import main
from layerscope.errors import ImageError, LayerError
from layerscope.formats.source import open_graph
from layerscope.formats.container import MAX_JSON
from layerscope.layers.indexing import index_layers
from layerscope.layers.tarwalk import TarIndexer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTROL = {chr(c) for c in range(0x20)} | {"\x7f"} | {chr(c) for c in range(0x80, 0xA0)}


# ---------------------------------------------------------------------------
# building archives with the standard library

def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def ti_file(name: str, data: bytes = b"", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = mode
    return ti, data


def ti_link(name: str, target: str, kind=tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = target
    return ti, b""


def tar_of(members, fmt=tarfile.PAX_FORMAT) -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=fmt) as t:
        for m in members:
            if isinstance(m[1], (bytes, bytearray)) and not isinstance(m[0], tarfile.TarInfo):
                m = ti_file(m[0], m[1])
            ti, data = m
            t.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return bio.getvalue()


def layer_tar(files: dict[str, bytes] | None = None) -> bytes:
    files = files if files is not None else {"etc/": None, "etc/hello": b"hello\n"}
    members = []
    for name, data in files.items():
        if data is None:
            ti = tarfile.TarInfo(name.rstrip("/"))
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            members.append((ti, b""))
        else:
            members.append(ti_file(name, data))
    return tar_of(members)


def config_for(diff_ids: list[str], **extra) -> dict:
    cfg = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
           "rootfs": {"type": "layers", "diff_ids": diff_ids},
           "history": [{"created_by": f"step {i}"} for i in range(len(diff_ids))]}
    cfg.update(extra)
    return cfg


def docker_archive(path, layers: list[bytes] | None = None, *, manifest=None, config=None,
                   extra=(), drop=()) -> str:
    """A docker-save (legacy) archive: <n>/layer.tar, <hex>.json, manifest.json."""
    layers = layers if layers is not None else [layer_tar()]
    cfg = config if config is not None else config_for([sha(l) for l in layers])
    cfg_bytes = cfg if isinstance(cfg, bytes) else json.dumps(cfg).encode()
    cfg_name = hashlib.sha256(cfg_bytes).hexdigest() + ".json"
    names = [f"l{i}/layer.tar" for i in range(len(layers))]
    man = manifest if manifest is not None else [{"Config": cfg_name, "RepoTags": ["hostile:1"], "Layers": names}]
    members = [(n, l) for n, l in zip(names, layers)]
    members += [(cfg_name, cfg_bytes), ("manifest.json", man if isinstance(man, bytes) else json.dumps(man).encode())]
    members = [m for m in members if m[0] not in drop] + list(extra)
    with open(path, "wb") as f:
        f.write(tar_of(members))
    return str(path)


def oci_archive(path, blobs_: list[bytes] | None = None, *, manifest=None, config=None, index=None,
                extra=(), drop=(), media="application/vnd.oci.image.layer.v1.tar") -> str:
    """An oci-archive: oci-layout, index.json, blobs/sha256/<hex>."""
    blobs_ = blobs_ if blobs_ is not None else [layer_tar()]
    cfg = config if config is not None else json.dumps(config_for([sha(b"x%d" % i) for i in range(len(blobs_))])).encode()
    man = manifest if manifest is not None else json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg), "size": len(cfg)},
        "layers": [{"mediaType": media, "digest": sha(b), "size": len(b)} for b in blobs_]}).encode()
    idx = index if index is not None else json.dumps({
        "schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                           "digest": sha(man), "size": len(man),
                                           "annotations": {"org.opencontainers.image.ref.name": "1"}}]}).encode()
    members = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", idx)]
    for b in [cfg, man, *blobs_]:
        name = "blobs/sha256/" + hashlib.sha256(b).hexdigest()
        if name not in [m[0] for m in members]:
            members.append((name, b))
    members = [m for m in members if m[0] not in drop] + list(extra)
    with open(path, "wb") as f:
        f.write(tar_of(members))
    return str(path)


def gzip_of(b: bytes) -> bytes:
    return gzip.compress(b, compresslevel=1, mtime=0)


# ---------------------------------------------------------------------------
# running the CLI

def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([*argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_error(rc: int, err: str, *needles: str) -> str:
    assert rc == 2, err
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert err.startswith("layerscope: error: "), err
    assert "internal error" not in err, err
    assert not (set(err[:-1]) & CONTROL), f"control characters in {err!r}"
    for n in needles:
        assert n in err, f"{n!r} not in {err!r}"
    return err


def run_subprocess(*argv, timeout=120) -> subprocess.CompletedProcess:
    env = dict(os.environ, LAYERSCOPE_CACHE="off", PYTHONPATH=ROOT)
    env.pop("LAYERSCOPE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "layerscope", *argv], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


# Peak RSS from VmHWM: ru_maxrss would carry over the high-water mark of the
# (large) pytest process this child was forked from, across exec.
MEASURE = """
import sys, time
t = time.time()
from layerscope.cli import main
rc = main(sys.argv[1:])
sys.stdout.flush()
hwm = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print(f"@@rss={hwm} time={time.time() - t:.2f}", file=sys.stderr)
sys.exit(rc)
"""


def measured(*argv, timeout=300) -> tuple[subprocess.CompletedProcess, int, float]:
    """Run the CLI in a fresh process: (result, peak RSS in MB, seconds)."""
    env = dict(os.environ, LAYERSCOPE_CACHE="off", PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", MEASURE, *argv], capture_output=True, text=True, timeout=timeout,
                       env=env, cwd=ROOT)
    line = [l for l in r.stderr.splitlines() if l.startswith("@@rss=")][-1]
    rss = int(line.split("rss=")[1].split()[0]) // 1024
    secs = float(line.split("time=")[1])
    r.stderr = "\n".join(l for l in r.stderr.splitlines() if not l.startswith("@@rss=")) + "\n"
    return r, rss, secs


# ---------------------------------------------------------------------------
# the bad archives: each case builds one and names what the error must say

def case_empty(tmp):
    p = tmp / "empty.tar"
    p.write_bytes(b"")
    return p, ["empty"]


def case_random(tmp):
    p = tmp / "random.bin"
    p.write_bytes(random.Random(7).randbytes(100_000))
    return p, ["not an image archive"]


def case_random_small(tmp):
    p = tmp / "random-small.bin"
    p.write_bytes(b"\x00\x01garbage")
    return p, ["not an image archive"]


def case_plain_tar(tmp):
    p = tmp / "plain.tar"
    p.write_bytes(tar_of([("hello.txt", b"hello\n"), ("dir/notes.md", b"# notes\n")]))
    return p, ["not an image archive", "no manifest.json or index.json"]


def case_gzipped_archive(tmp):
    p = tmp / "image.tar.gz"
    p.write_bytes(gzip_of(open(docker_archive(tmp / "inner.tar"), "rb").read()))
    return p, ["gzip-compressed", "decompress it first"]


def case_directory_not_image(tmp):
    d = tmp / "somedir"
    d.mkdir()
    (d / "file.txt").write_text("x")
    return d, ["not an image archive"]


def case_missing_file(tmp):
    return tmp / "does-not-exist.tar", ["no such file"]


def _cut(tmp, name, where):
    """A docker archive cut at an offset chosen by `where(data, layer_start)`."""
    full = open(docker_archive(tmp / "full.tar", [layer_tar({"etc/": None, "etc/big": b"A" * 5000,
                                                             "etc/next": b"B" * 10})]), "rb").read()
    start = full.index(b"ustar", full.index(b"l0/layer.tar") + 1) - 257  # the layer's first inner header
    p = tmp / name
    p.write_bytes(full[:where(full, start)])
    return p


def case_truncated_in_outer_header(tmp):
    full = open(docker_archive(tmp / "full.tar"), "rb").read()
    p = tmp / "cut-outer.tar"
    hdr = full.index(b"manifest.json")  # cut inside manifest.json's own header
    p.write_bytes(full[:hdr + 50])
    return p, ["truncated"]


def case_truncated_in_layer_header(tmp):
    return _cut(tmp, "cut-layer-header.tar", lambda d, s: s + 1024 + 200), ["truncated"]


def case_truncated_in_layer_content(tmp):
    return _cut(tmp, "cut-layer-content.tar", lambda d, s: d.index(b"AAAA") + 2000), ["truncated"]


def case_layer_blob_truncated_inside(tmp):
    """The outer archive is whole, but the layer.tar inside it was cut in the
    middle of a header (a broken build)."""
    lt = layer_tar({"etc/": None, "etc/a": b"a" * 600, "etc/b": b"b"})
    cut = lt[:lt.index(b"etc/b") + 100]
    p = docker_archive(tmp / "inner-cut.tar", [cut], config=config_for([sha(lt)]))
    return p, ["layer 0", "truncated tar header"]


def case_layer_content_truncated_inside(tmp):
    lt = layer_tar({"etc/": None, "etc/a": b"a" * 6000})
    cut = lt[:lt.index(b"aaaa") + 3000]
    p = docker_archive(tmp / "inner-cut2.tar", [cut], config=config_for([sha(lt)]))
    return p, ["layer 0", "truncated tar", "etc/a"]


def case_gzip_ends_early(tmp):
    blob = gzip_of(layer_tar({"etc/": None, "etc/r": random.Random(1).randbytes(200_000)}))
    p = oci_archive(tmp / "gz-cut.tar", [blob[: len(blob) // 2]], media="application/vnd.oci.image.layer.v1.tar+gzip")
    return p, ["layer 0", "gzip stream ends early"]


def case_gzip_corrupt(tmp):
    blob = bytearray(gzip_of(layer_tar({"etc/": None, "etc/r": random.Random(2).randbytes(50_000)})))
    for i in range(200, 260):
        blob[i] ^= 0x5A
    p = oci_archive(tmp / "gz-bad.tar", [bytes(blob)])
    return p, ["layer 0", "gzip"]


def case_gzip_bad_crc(tmp):
    blob = bytearray(gzip_of(layer_tar()))
    blob[-8] ^= 0xFF  # the CRC32 in the trailer
    p = oci_archive(tmp / "gz-crc.tar", [bytes(blob)])
    return p, ["layer 0", "corrupt gzip data"]


def case_zstd_bad_checksum(tmp):
    blob = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(layer_tar()))
    blob[-1] ^= 0xFF
    blob[-3] ^= 0x0F  # the frame's 4-byte content checksum
    p = oci_archive(tmp / "zstd-sum.tar", [bytes(blob)], media="application/vnd.oci.image.layer.v1.tar+zstd")
    return p, ["layer 0", "corrupt zstd data", "checksum"]


def case_zstd_ends_early(tmp):
    blob = zstandard.ZstdCompressor(write_checksum=True).compress(
        layer_tar({"etc/": None, "etc/r": random.Random(3).randbytes(100_000)}))
    p = oci_archive(tmp / "zstd-cut.tar", [blob[:-5000]])
    return p, ["layer 0", "the zstd stream ends early"]


def case_layer_bzip2(tmp):
    import bz2
    p = oci_archive(tmp / "bz.tar", [bz2.compress(layer_tar())])
    return p, ["layer 0", "bzip2-compressed layers are not supported"]


def case_layer_unknown(tmp):
    p = oci_archive(tmp / "unknown.tar", [b"this is not a tar" * 100])
    return p, ["layer 0", "unknown format"]


def case_layer_encrypted(tmp):
    p = oci_archive(tmp / "enc.tar", [b"\x00" * 1000], media="application/vnd.oci.image.layer.v1.tar+gzip+encrypted")
    return p, ["layer 0", "encrypted"]


def case_invalid_json_manifest(tmp):
    return docker_archive(tmp / "badjson.tar", manifest=b'[{"Config": "x.json", '), ["invalid manifest", "manifest.json"]


def case_invalid_json_config(tmp):
    return docker_archive(tmp / "badcfg.tar", config=b"{nope"), ["invalid image config"]


def case_invalid_json_index(tmp):
    return oci_archive(tmp / "badindex.tar", index=b"\xff\xfe{"), ["invalid index", "index.json", "not UTF-8"]


def case_json_nested_deep(tmp):
    return docker_archive(tmp / "deepjson.tar", manifest=b"[" * 200_000 + b"]" * 200_000), ["manifest.json"]


def case_manifest_wrong_shape(tmp):
    return docker_archive(tmp / "shape.tar", manifest={"Config": 1}), ["manifest.json lists no images"]


def case_manifest_entry_wrong_types(tmp):
    return docker_archive(tmp / "types.tar", manifest=[{"Config": ["a"], "Layers": "x", "RepoTags": 5}]), \
        ["manifest.json entry 0 has no Config or Layers"]


def case_missing_layer_blob(tmp):
    return docker_archive(tmp / "nolayer.tar", drop=("l0/layer.tar",)), ["l0/layer.tar", "missing"]


def case_missing_config(tmp):
    lt = layer_tar()
    cfg = json.dumps(config_for([sha(lt)])).encode()
    name = hashlib.sha256(cfg).hexdigest() + ".json"
    return docker_archive(tmp / "nocfg.tar", [lt], drop=(name,)), [name, "missing"]


def case_missing_oci_blob(tmp):
    lt = layer_tar()
    return oci_archive(tmp / "noblob.tar", [lt], drop=("blobs/sha256/" + hashlib.sha256(lt).hexdigest(),)), \
        ["missing"]


def case_manifest_path_dotdot(tmp):
    man = [{"Config": "../../etc/passwd", "RepoTags": [], "Layers": ["l0/layer.tar"]}]
    return docker_archive(tmp / "dotdot.tar", manifest=man), ["../../etc/passwd", "points outside the archive"]


def case_manifest_path_absolute(tmp):
    lt = layer_tar()
    cfg = json.dumps(config_for([sha(lt)])).encode()
    man = [{"Config": hashlib.sha256(cfg).hexdigest() + ".json", "Layers": ["/etc/passwd"]}]
    return docker_archive(tmp / "abs.tar", [lt], manifest=man), ["/etc/passwd"]


def case_layer_path_dotdot(tmp):
    lt = layer_tar()
    cfg = json.dumps(config_for([sha(lt)])).encode()
    man = [{"Config": hashlib.sha256(cfg).hexdigest() + ".json", "Layers": ["l0/../../../etc/shadow"]}]
    return docker_archive(tmp / "ldotdot.tar", [lt], manifest=man), ["points outside the archive"]


def case_symlink_outside_relative(tmp):
    lt = layer_tar()
    cfg = json.dumps(config_for([sha(lt)])).encode()
    man = [{"Config": hashlib.sha256(cfg).hexdigest() + ".json", "Layers": ["evil/layer.tar"]}]
    p = docker_archive(tmp / "symrel.tar", [lt], manifest=man,
                       extra=[ti_link("evil/layer.tar", "../../../../../etc/passwd")])
    return p, ["'evil/layer.tar' is a symlink to '../../../../../etc/passwd', outside the archive"]


def case_symlink_outside_absolute(tmp):
    lt = layer_tar()
    cfg = json.dumps(config_for([sha(lt)])).encode()
    man = [{"Config": hashlib.sha256(cfg).hexdigest() + ".json", "Layers": ["evil/layer.tar"]}]
    p = docker_archive(tmp / "symabs.tar", [lt], manifest=man, extra=[ti_link("evil/layer.tar", "/etc/passwd")])
    # never read from the host: an absolute target is outside the archive
    return p, ["'evil/layer.tar' is a symlink to '/etc/passwd', outside the archive"]


def case_symlink_loop(tmp):
    lt = layer_tar()
    cfg = json.dumps(config_for([sha(lt)])).encode()
    man = [{"Config": hashlib.sha256(cfg).hexdigest() + ".json", "Layers": ["a/layer.tar"]}]
    p = docker_archive(tmp / "loop.tar", [lt], manifest=man,
                       extra=[ti_link("a/layer.tar", "../b/layer.tar"), ti_link("b/layer.tar", "../a/layer.tar")])
    return p, ["too many levels of symbolic links"]


def case_outer_header_absurd_size(tmp):
    """The manifest's header claims 1 TB: the outer tar ends long before."""
    data = bytearray(open(docker_archive(tmp / "full.tar"), "rb").read())
    h = data.index(b"manifest.json")
    h -= h % 512
    data[h + 124:h + 136] = b"\x80" + (1 << 40).to_bytes(11, "big")  # base-256: 1 TB
    _fix_checksum(data, h)
    p = tmp / "absurd-outer.tar"
    p.write_bytes(bytes(data))
    return p, ["manifest.json", "claims 1099511627776 bytes but the archive ends first"]


def case_layer_header_absurd_size(tmp):
    lt = bytearray(layer_tar({"etc/": None, "etc/a": b"a" * 100}))
    h = lt.index(b"etc/a")
    lt[h + 124:h + 136] = b"\x80" + (1 << 40).to_bytes(11, "big")  # base-256: 1 TB
    _fix_checksum(lt, h)
    p = docker_archive(tmp / "absurd-layer.tar", [bytes(lt)])
    return p, ["layer 0", "etc/a", "claims 1099511627776 bytes"]


def case_gzip_layer_header_absurd_size(tmp):
    lt = bytearray(layer_tar({"etc/": None, "etc/a": b"a" * 100}))
    h = lt.index(b"etc/a")
    lt[h + 124:h + 136] = b"\x80" + (1 << 40).to_bytes(11, "big")
    _fix_checksum(lt, h)
    p = oci_archive(tmp / "absurd-gz.tar", [gzip_of(bytes(lt))])
    return p, ["layer 0", "claims 1099511627776 bytes"]


def case_layer_header_bad_checksum(tmp):
    lt = bytearray(layer_tar())
    lt[lt.index(b"etc/hello") + 3] ^= 1
    return docker_archive(tmp / "badsum.tar", [bytes(lt)]), ["layer 0", "bad checksum"]


def case_index_points_at_itself(tmp):
    """index.json lists an index whose blob lists itself (a cycle)."""
    fake = "sha256:" + "ab" * 32
    inner = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": fake,
                                       "size": 1}]}).encode()
    return oci_archive(tmp / "selfidx.tar", index=inner, extra=[("blobs/sha256/" + "ab" * 32, inner)]), \
        ["refers to itself"]


def case_index_blob_is_symlink_to_index(tmp):
    fake = "sha256:" + "cd" * 32
    idx = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": fake, "size": 1}]}).encode()
    return oci_archive(tmp / "selflink.tar", index=idx,
                       extra=[ti_link("blobs/sha256/" + "cd" * 32, "../../index.json")]), ["refers to itself"]


def case_index_nest_100(tmp):
    extra = []
    child = None
    for n in range(100):
        manifests = [] if child is None else [{"mediaType": "application/vnd.oci.image.index.v1+json",
                                                "digest": sha(child), "size": len(child)}]
        body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                           "manifests": manifests}).encode()
        extra.append(("blobs/sha256/" + hashlib.sha256(body).hexdigest(), body))
        child = body
    return oci_archive(tmp / "nest.tar", index=child, extra=extra[:-1]), ["nested more than"]


def case_oci_10000_layers(tmp):
    lt = layer_tar()
    cfg = json.dumps(config_for([sha(lt)] * 10_000)).encode()
    man = json.dumps({"schemaVersion": 2, "config": {"digest": sha(cfg), "size": len(cfg)},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(lt),
                                  "size": len(lt)}] * 10_000}).encode()
    return oci_archive(tmp / "oci10k.tar", [lt], config=cfg, manifest=man), ["10000 layers"]


def case_docker_10000_layers(tmp):
    lt = layer_tar()
    cfg = json.dumps(config_for([sha(b"%d" % i) for i in range(10_000)])).encode()
    name = hashlib.sha256(cfg).hexdigest() + ".json"
    man = [{"Config": name, "Layers": ["l0/layer.tar"] * 10_000}]
    return docker_archive(tmp / "docker10k.tar", [lt], manifest=man, config=cfg), ["10000 layers"]


def case_huge_manifest_sparse(tmp):
    """A 200 MB manifest.json (sparse on disk): refused by its size, unread."""
    p = tmp / "huge-manifest.tar"
    with open(p, "wb") as f:
        ti = tarfile.TarInfo("manifest.json")
        ti.size = 200 << 20
        f.write(ti.tobuf(tarfile.PAX_FORMAT))
        f.seek(ti.size, 1)
        f.write(bytes(-ti.size % 512 + 1024))
    return p, ["manifest.json", "too large"]


def case_many_manifests(tmp):
    descs = [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + "e" * 64,
              "size": 1}] * 5000
    return oci_archive(tmp / "manymanifests.tar", index=json.dumps({"manifests": descs}).encode(),
                       extra=[("blobs/sha256/" + "e" * 64, b"[]")]), ["not an object"]


def case_bad_digest(tmp):
    idx = json.dumps({"manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                     "digest": "sha256:../../../etc/passwd", "size": 1}]}).encode()
    return oci_archive(tmp / "baddigest.tar", index=idx), ["invalid digest"]


def case_diff_ids_mismatch(tmp):
    return docker_archive(tmp / "ids.tar", config=config_for(["sha256:" + "1" * 64] * 3)), \
        ["manifest lists 1 layer but the config has 3 diff_ids"]


def case_media_type_wrong_type(tmp):
    idx = json.dumps({"manifests": [{"mediaType": ["x"], "digest": "sha256:" + "0" * 64, "size": 1}]}).encode()
    return oci_archive(tmp / "mtlist.tar", index=idx), ["missing"]


def case_device_zero(tmp):
    return "/dev/zero", ["/dev/zero", "a device, not an image archive"]


def _oci_dir(tmp, name) -> str:
    """An OCI image layout directory (unpacked from an oci-archive)."""
    d = tmp / name
    with tarfile.open(oci_archive(tmp / (name + ".tar"))) as t:
        t.extractall(d, filter="data")
    return str(d)


def case_oci_dir_blob_symlink_outside(tmp):
    d = _oci_dir(tmp, "ocidir")
    blobs_dir = os.path.join(d, "blobs", "sha256")
    big = max(os.listdir(blobs_dir), key=lambda n: os.path.getsize(os.path.join(blobs_dir, n)))
    os.unlink(os.path.join(blobs_dir, big))  # the layer: now a link to a host file
    os.symlink("/etc/passwd", os.path.join(blobs_dir, big))
    return d, ["points outside the image directory"]


def case_oci_dir_index_symlink_to_device(tmp):
    d = _oci_dir(tmp, "ocidir2")
    os.unlink(os.path.join(d, "index.json"))
    os.symlink("/dev/zero", os.path.join(d, "index.json"))
    return d, ["not an image archive"]


def _fix_checksum(b: bytearray, h: int) -> None:
    s = sum(b[h:h + 512]) - sum(b[h + 148:h + 156]) + 256
    b[h + 148:h + 156] = b"%06o\0 " % s


CASES = [v for k, v in sorted(globals().items()) if k.startswith("case_")]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[5:] for c in CASES])
def test_bad_archive_one_line_error(case, tmp_path, capsys):
    path, needles = case(tmp_path)
    t = time.time()
    rc, out, err = cli(capsys, "report", str(path))
    assert_one_error(rc, err, *needles)
    assert out == ""
    assert time.time() - t < 60


@pytest.mark.parametrize("case", [case_empty, case_random, case_plain_tar, case_truncated_in_layer_header,
                                  case_gzip_ends_early, case_zstd_bad_checksum, case_manifest_path_dotdot,
                                  case_index_nest_100, case_layer_header_absurd_size],
                         ids=lambda c: c.__name__[5:])
def test_bad_archive_subprocess_no_traceback(case, tmp_path):
    """The real program, as a user runs it: nothing but one line on stderr."""
    path, needles = case(tmp_path)
    r = run_subprocess("report", str(path))
    assert r.returncode == 2
    assert r.stdout == ""
    assert_one_error(2, r.stderr, *needles)


@pytest.mark.parametrize("command", [["ls"], ["ls", "--json"], ["report", "--json"], ["check"],
                                     ["extract", "/etc", "-o", "OUT"]])
def test_every_command_gives_one_line(command, tmp_path, capsys):
    path, needles = case_gzip_ends_early(tmp_path)
    argv = [command[0], str(path), *[str(tmp_path / "out") if a == "OUT" else a for a in command[1:]]]
    rc, out, err = cli(capsys, *argv)
    assert_one_error(rc, err, *needles)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_named_pipe_is_read_like_stdin(tmp_path, capsys):
    """bash's `<(cat image.tar)` is a pipe: spooled, then read."""
    import threading

    good = docker_archive(tmp_path / "good.tar")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def feed(data: bytes) -> None:
        with open(fifo, "wb") as f:
            f.write(data)

    t = threading.Thread(target=feed, args=(open(good, "rb").read(),))
    t.start()
    rc, out, err = cli(capsys, "report", str(fifo))
    t.join(10)
    assert rc == 0, err
    assert "hostile:1" in out
    t = threading.Thread(target=feed, args=(b"garbage" * 100,))
    t.start()
    rc, out, err = cli(capsys, "report", str(fifo))
    t.join(10)
    assert_one_error(rc, err, "not an image archive")


def test_stdin_garbage(tmp_path):
    env = dict(os.environ, LAYERSCOPE_CACHE="off", PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-m", "layerscope", "report", "-"], input=b"\x00garbage" * 1000,
                       capture_output=True, env=env, timeout=60)
    assert r.returncode == 2
    assert_one_error(2, r.stderr.decode(), "<stdin>")


# ---------------------------------------------------------------------------
# bounded memory and time for the big ones

def test_huge_manifest_refused_without_reading(tmp_path):
    path, _ = case_huge_manifest_sparse(tmp_path)
    r, rss, secs = measured("report", str(path))
    assert_one_error(r.returncode, r.stderr, "too large")
    assert secs < 30
    assert rss < 400, f"peak RSS {rss} MB"


def test_manifest_just_under_the_cap_bounded_memory(tmp_path):
    """The worst JSON for memory (millions of tiny objects) just under the
    size cap must not blow up memory: refused or read in bounded memory."""
    n = (MAX_JSON - 100) // 3
    body = b"[" + b"[]," * (n - 1) + b"[]]"
    assert len(body) < MAX_JSON
    p = docker_archive(tmp_path / "dense.tar", manifest=body)
    r, rss, secs = measured("report", p)
    assert_one_error(r.returncode, r.stderr, "manifest.json", "JSON values")
    assert rss < 600, f"peak RSS {rss} MB"
    assert secs < 120
    # and the densest document under the value cap is read in bounded memory
    from layerscope.formats.container import MAX_JSON_VALUES

    body = b"[" + b"[]," * (MAX_JSON_VALUES // 2 - 10) + b"[]]"  # each `[],` counts twice
    p = docker_archive(tmp_path / "dense2.tar", manifest=body)
    r, rss, secs = measured("report", p)
    assert_one_error(r.returncode, r.stderr, "manifest.json entry 0 is not an object")
    assert rss < 600, f"peak RSS {rss} MB"


def test_10000_layers_bounded(tmp_path):
    for case in (case_docker_10000_layers, case_oci_10000_layers):
        path, needles = case(tmp_path)
        r, rss, secs = measured("report", str(path))
        assert_one_error(r.returncode, r.stderr, *needles)
        assert secs < 60 and rss < 600


def _gzip_bomb(path, gb: int) -> int:
    """A gzip layer whose tar holds one file of `gb` GiB of zeros (members of
    1 GiB each, as deflate cannot do better than ~1032:1).  Returns its size."""
    size = gb << 30
    hdr = tarfile.TarInfo("zeros.img")
    hdr.size = size
    head = hdr.tobuf(tarfile.GNU_FORMAT)
    z16 = bytes(16 << 20)
    from isal import isal_zlib

    def member(prefix: bytes, n16: int, tail: bytes = b"") -> bytes:
        c = isal_zlib.compressobj(1, zlib.DEFLATED, 31)
        parts = [c.compress(prefix)] + [c.compress(z16) for _ in range(n16)] + [c.compress(tail), c.flush()]
        return b"".join(parts)

    one = member(b"", 64)
    with open(path, "wb") as f:
        f.write(member(head, 64))
        for _ in range(gb - 2):
            f.write(one)
        f.write(member(b"", 64, bytes(1024)))
    return os.path.getsize(path)


def _zstd_bomb(path, gb: int) -> int:
    hdr = tarfile.TarInfo("zeros.img")
    hdr.size = gb << 30
    z16 = bytes(16 << 20)

    def frame(prefix: bytes, tail: bytes = b"") -> bytes:
        c = zstandard.ZstdCompressor(level=1).compressobj()
        return b"".join([c.compress(prefix)] + [c.compress(z16) for _ in range(64)] + [c.compress(tail), c.flush()])

    one = frame(b"")
    with open(path, "wb") as f:
        f.write(frame(hdr.tobuf(tarfile.GNU_FORMAT)))
        for _ in range(gb - 2):
            f.write(one)
        f.write(frame(b"", bytes(1024)))
    return os.path.getsize(path)


def _bomb_archive(tmp_path, blob_file: str, media: str) -> str:
    """An OCI archive around a big blob file, without reading it into memory."""
    blob_hex = "f" * 64  # no --verify: the digest is not checked, and hashing 10 GB is not the point
    cfg = json.dumps(config_for(["sha256:" + "0" * 64])).encode()
    man = json.dumps({"schemaVersion": 2, "config": {"digest": sha(cfg), "size": len(cfg)},
                      "layers": [{"mediaType": media, "digest": "sha256:" + blob_hex,
                                  "size": os.path.getsize(blob_file)}]}).encode()
    idx = json.dumps({"manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                     "digest": sha(man), "size": len(man)}]}).encode()
    out = str(tmp_path / "bomb.tar")
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data in [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", idx),
                           ("blobs/sha256/" + sha(cfg)[7:], cfg), ("blobs/sha256/" + sha(man)[7:], man)]:
            ti, d = ti_file(name, data)
            t.addfile(ti, io.BytesIO(d))
        t.add(blob_file, "blobs/sha256/" + blob_hex)
    os.unlink(blob_file)
    return out


def test_gzip_bomb_10gb_bounded_with_note(tmp_path):
    """~10 MB of gzip expanding to 10 GiB of zeros inside one file entry.
    Deflate cannot exceed ~1032:1, so this is under BOMB_RATIO (1100): the
    layer is read in full (time bounded by the real data, a few seconds of
    decompression) in flat memory, and the report carries a note."""
    csize = _gzip_bomb(tmp_path / "blob", 10)
    assert csize < 12 << 20
    assert (10 << 30) < csize * compression.BOMB_RATIO  # not cut short: this is the "read it all" path
    p = _bomb_archive(tmp_path, str(tmp_path / "blob"), "application/vnd.oci.image.layer.v1.tar+gzip")
    r, rss, secs = measured("report", p, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "expands" in r.stdout and "decompression bomb" in r.stdout
    assert "10.7 GB" in r.stdout  # the entry's real size is shown
    assert rss < 400, f"peak RSS {rss} MB"
    assert secs < 300
    rj, _, _ = measured("report", "--json", p, timeout=600)
    doc = json.loads(rj.stdout)
    assert any("decompression bomb" in w for w in doc["layers"][0]["warnings"])


def test_zstd_bomb_cut_short_with_note(tmp_path):
    """zstd goes far beyond 1100:1 (10 GiB of zeros in ~330 kB): indexing
    stops at max(BOMB_FLOOR, size * BOMB_RATIO) bytes, the layer is marked,
    the report says so, and time and memory stay small."""
    csize = _zstd_bomb(tmp_path / "blob", 10)
    limit = max(compression.BOMB_FLOOR, csize * compression.BOMB_RATIO)
    assert limit < (10 << 30)
    p = _bomb_archive(tmp_path, str(tmp_path / "blob"), "application/vnd.oci.image.layer.v1.tar+zstd")
    r, rss, secs = measured("report", p, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"stopped after {limit} bytes" in r.stdout
    assert "decompression bomb" in r.stdout
    assert rss < 400, f"peak RSS {rss} MB"
    assert secs < 60
    # the extraction of the cut-short file is refused (its bytes lie past the cut)
    out = tmp_path / "x"
    r2 = run_subprocess("extract", p, "/zeros.img", "-o", str(out))
    assert r2.returncode == 0, r2.stderr
    assert "decompression bomb" in r2.stderr and "skipped: /zeros.img" in r2.stderr
    assert not (out / "zeros.img").exists()


@pytest.mark.parametrize("hash_files", [False, True])
def test_bomb_limit_in_process(tmp_path, hash_files):
    """The walker's `limit` ends a stream that goes on and on: bounded time,
    no memory growth (tracemalloc), `bomb` set and a warning -- also while
    hashing the file's content as it streams past (the cut file keeps no
    digest: its bytes were not all seen)."""
    import tracemalloc

    hdr = tarfile.TarInfo("z")
    hdr.size = 1 << 40
    head = hdr.tobuf(tarfile.GNU_FORMAT)
    served = [0]

    def endless(n: int) -> bytes:
        if served[0] == 0:
            served[0] = len(head)
            return head
        served[0] += n
        return bytes(n)

    tracemalloc.start()
    t = time.time()
    ix = TarIndexer(b"", endless, 512 << 20, "bomb", hash_files=hash_files)
    entries = ix.run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert ix.bomb and entries.paths == ["z"]
    assert entries.digest(0) is None
    assert len(entries.digests) == (16 if hash_files else 0)
    assert "decompression bomb" in ix.warnings[0]
    assert served[0] <= (512 << 20) + (8 << 20)
    assert peak < 64 << 20
    assert time.time() - t < 60


def test_stream_ending_inside_a_hashed_file(tmp_path):
    """A compressed stream that ends inside a file's content, with hashing
    on: the same one-line truncation error as without, no partial digest."""
    data = tarfile.TarInfo("f")
    data.size = 100_000
    stream = data.tobuf(tarfile.GNU_FORMAT) + b"x" * 5000  # 95,000 bytes missing
    chunks = [stream[i:i + 1000] for i in range(0, len(stream), 1000)]

    def read(n: int) -> bytes:
        return chunks.pop(0) if chunks else b""

    with pytest.raises(LayerError, match="claims 100000 bytes but the layer ends first"):
        TarIndexer(b"", read, None, "cut", hash_files=True).run()


def test_whiteout_with_content_gets_no_digest():
    """Found by the fuzzer: a `.wh.` entry that carries bytes is a marker,
    not a file; the digest its bytes got while streaming must not stay."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data in [("a/.wh.b", b"junk" * 100), ("a/c", b"real")]:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    e = TarIndexer(b"", io.BytesIO(buf.getvalue()).read, None, "wh", hash_files=True).run()
    assert e.paths == ["a/b", "a/c"]
    assert e.digest(0) is None and e.sizes[0] == 0
    from blake3 import blake3
    assert e.digest(1) == blake3(b"real").digest(16)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hashing_across_any_read_boundaries(seed):
    """Digests taken while streaming equal BLAKE3 of each file's bytes however
    the decoder happens to cut the stream (reads of 1 byte to 3 MB)."""
    from blake3 import blake3

    rnd = random.Random(seed)
    buf = io.BytesIO()
    want = {}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for k in range(40):
            n = rnd.choice([0, 1, 511, 512, 513, 4096, 70_000, 1 << 20, (2 << 20) + 7])
            data = rnd.randbytes(n)
            ti = tarfile.TarInfo(f"d/f{k}")
            ti.size = n
            t.addfile(ti, io.BytesIO(data))
            want[f"d/f{k}"] = blake3(data).digest(16) if n else None
    stream = buf.getvalue()
    pos = 0

    def read(n: int) -> bytes:
        nonlocal pos
        k = rnd.choice([1, 100, 512, 4096, 1 << 20, 3 << 20])
        out = stream[pos:pos + k]
        pos += len(out)
        return out

    e = TarIndexer(b"", read, None, "chunks", hash_files=True).run()
    assert {p: e.digest(i) for i, p in enumerate(e.paths)} == want


# ---------------------------------------------------------------------------
# hostile names

NASTY = {
    "markup": "etc/[bold]x[/]",
    "markup2": "etc/[link=https:evil]click[/link]",  # the '/'s make directories: fine
    "ansi": "etc/\x1b[31mred\x1b[0m",
    "osc": "etc/\x1b]8;;https:evil\x07link\x1b]8;;\x07",
    "title": "etc/\x1b]0;pwned\x07",
    "newline": "etc/new\nline",
    "cr": "etc/carriage\rreturn",
    "bell": "etc/bell\x07",
    "c1": "etc/c1\u009b31m",
    "long": "etc/" + "n" * 4000,
    "gnu_long": "usr/" + "g" * 300,
    "unicode": "etc/ünïcødé",
}
BAD_UTF8 = b"etc/bad\xff\xfe\xc3("


def _names_image(tmp_path) -> str:
    members = []
    for key, name in NASTY.items():
        if key == "gnu_long":
            continue
        members.append(ti_file(name, key.encode()))
    # GNU long name (././@LongLink) in its own GNU-format tar, appended before the end blocks
    gnu = tar_of([ti_file(NASTY["gnu_long"], b"gnu")], fmt=tarfile.GNU_FORMAT)
    pax = tar_of(members)
    # invalid UTF-8 via a raw ustar header
    raw = tarfile.TarInfo("placeholder")
    raw.size = 3
    hb = bytearray(raw.tobuf(tarfile.USTAR_FORMAT))
    hb[0:100] = BAD_UTF8.ljust(100, b"\0")
    _fix_checksum(hb, 0)
    badblk = bytes(hb) + b"bad" + bytes(509)
    # '..' names: kept out of the tree with a warning
    dotdot = tar_of([ti_file("../../escape", b"no"), ti_file("etc/../../../up", b"no")])
    lt = _strip_end(pax) + _strip_end(gnu) + badblk + _strip_end(dotdot) + bytes(1024)
    return docker_archive(tmp_path / "names.tar", [lt])


def _strip_end(t: bytes) -> bytes:
    """A tar without its end-of-archive blocks (to concatenate tars)."""
    while t.endswith(bytes(512)):
        t = t[:-512]
    return t


def _expected_paths() -> set[str]:
    """Every path of the merged view, parents included."""
    exp = set()
    for n in [*NASTY.values(), BAD_UTF8.decode("utf-8", "surrogateescape")]:
        parts = n.split("/")
        exp.update("/" + "/".join(parts[:k]) for k in range(1, len(parts) + 1))
    return exp


def test_names_ls_plain_escaped(tmp_path, capsys):
    p = _names_image(tmp_path)
    rc, out, err = cli(capsys, "ls", p)
    assert rc == 0, err
    lines = out.splitlines()
    assert not (set(out) - {"\n"}) & CONTROL, "raw control characters in ls output"
    assert len(lines) == len(_expected_paths())
    assert any(l.endswith("/etc/\\x1b[31mred\\x1b[0m") for l in lines)
    assert any(l.endswith("/etc/new\\x0aline") for l in lines)
    assert any(l.endswith("/etc/bad\\xff\\xfe\\xc3(") for l in lines)
    assert any(l.endswith("/etc/[bold]x[/]") for l in lines)  # literal, not markup
    assert any(l.endswith("/etc/" + "n" * 4000) for l in lines)
    assert not any("escape" in l or "/up" in l for l in lines)


def test_names_ls_json_round_trip(tmp_path, capsys):
    p = _names_image(tmp_path)
    rc, out, err = cli(capsys, "ls", "--json", p)
    assert rc == 0, err
    assert out.isascii() and not (set(out) - {"\n"}) & CONTROL
    paths = {json.loads(l)["path"] for l in out.splitlines()}
    assert paths == _expected_paths()


def test_names_report_no_control_chars_and_dotdot_warning(tmp_path, capsys):
    p = _names_image(tmp_path)
    rc, out, err = cli(capsys, "report", p)
    assert rc == 0, err
    assert not (set(out) - {"\n"}) & CONTROL, [c for c in set(out) if c in CONTROL]
    assert "escapes the image root" in out  # the '..' names are reported, not shown
    rc, out, err = cli(capsys, "report", "--json", p)
    doc = json.loads(out)
    warnings = " ".join(doc["layers"][0]["warnings"])
    assert "../../escape" in warnings and "escapes the image root" in warnings


def test_names_report_subprocess(tmp_path):
    r = run_subprocess("report", _names_image(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout


def test_hostile_config_strings_not_shown_raw(tmp_path, capsys):
    """Tags, history and OS fields come from the archive too."""
    lt = layer_tar({"etc/": None, "etc/os-release": b'PRETTY_NAME="\x1b[2JOS\x1b]0;t\x07 [red]x[/]"\n'})
    cfg = config_for([sha(lt)], os="linux", history=[{"created_by": "RUN \x1b[31mevil\x1b[0m\nsecond line"}])
    cfg_b = json.dumps(cfg).encode()
    man = [{"Config": hashlib.sha256(cfg_b).hexdigest() + ".json", "RepoTags": ["evil\x1b[5m:tag\n"],
            "Layers": ["l0/layer.tar"]}]
    p = docker_archive(tmp_path / "cfg.tar", [lt], config=cfg_b, manifest=man)
    rc, out, err = cli(capsys, "report", p)
    assert rc == 0, err
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[31mevil" in out


def test_hostile_platform_not_shown_raw(tmp_path, capsys):
    lt = layer_tar()
    cfg = config_for([sha(lt)], os="lin\x1b]0;x\x07ux", architecture="\x1b[31mamd64")
    p = docker_archive(tmp_path / "plat.tar", [lt], config=cfg)
    for argv in (["report", p], ["report", "--json", p]):
        rc, out, err = cli(capsys, *argv)
        assert rc == 0, err
        assert "\x1b" not in out + err and "\x07" not in out + err
    assert "lin\\x1b]0;x\\x07ux/\\x1b[31mamd64" in cli(capsys, "report", p)[1]


def test_hostile_diff_id_rejected(tmp_path, capsys):
    cfg = config_for(["sha256:\x1b[2J" + "0" * 56])
    p = docker_archive(tmp_path / "diffid.tar", config=cfg)
    rc, out, err = cli(capsys, "report", p)
    assert_one_error(rc, err, "malformed rootfs.diff_ids")


def test_hostile_blob_names_not_shown_raw(tmp_path, capsys):
    """Layer ids shown in the report come from member names when the config
    has no diff_ids: a name that is not a digest is not used as one."""
    lt = layer_tar()
    cfg = config_for([])
    name = "sha256:\x1b[2J" + "a" * 56 + ".tar"
    cfg_b = json.dumps(cfg).encode()
    man = [{"Config": hashlib.sha256(cfg_b).hexdigest() + ".json", "Layers": [name]}]
    p = docker_archive(tmp_path / "blobname.tar", [lt], config=cfg_b, manifest=man, extra=[(name, lt)])
    rc, out, err = cli(capsys, "report", p)
    assert rc == 0, err
    assert "\x1b" not in out


def test_deep_directories_report(tmp_path, capsys):
    """10,000 nested directories: no recursion limit, no quadratic blow-up."""
    name = "/".join(["d"] * 10_000) + "/f"
    p = docker_archive(tmp_path / "deep.tar", [tar_of([ti_file(name, b"x")])])
    t = time.time()
    rc, out, err = cli(capsys, "report", p)
    assert rc == 0, err
    rc, out, err = cli(capsys, "report", "--json", p)
    assert rc == 0, err
    assert time.time() - t < 60


def test_deep_directories_ls(tmp_path, capsys):
    name = "/".join(["d"] * 3000) + "/f"
    p = docker_archive(tmp_path / "deep.tar", [tar_of([ti_file(name, b"x")])])
    rc, out, err = cli(capsys, "ls", p)
    assert rc == 0, err
    assert len(out.splitlines()) == 3001
    assert out.splitlines()[-1].endswith("/" + name)


def test_deep_directories_ls_changes(tmp_path, capsys):
    name = "/".join(["d"] * 10_000) + "/f"
    p = docker_archive(tmp_path / "deep.tar", [tar_of([ti_file(name, b"x")])])
    rc, out, err = cli(capsys, "ls", "--changes", "--json", p)
    assert rc == 0, err
    assert len(out.splitlines()) == 10_001


def test_normalise_never_leaves_dot_components():
    from layerscope.layers.tarwalk import normalise

    for raw in [".", "./", "a/.", "./a/./b/", "a//b", "/a", "//a/b", "a/b/..", "...", "..a", "a/...", ".wh.x"]:
        n = normalise(raw)
        assert n is not None
        assert not n.startswith("/") and (n == "" or all(c not in ("", ".", "..") for c in n.split("/"))), (raw, n)
    for raw in ["..", "../a", "a/../..", "/../a", "a/../../b", "./../x"]:
        assert normalise(raw) is None, raw


def test_whiteout_without_a_name_is_ignored():
    lt = tar_of([ti_file("etc/.wh.", b""), ti_file(".wh..", b""), ti_file("etc/x", b"x")])
    ix = TarIndexer(lt, None, None, "t")
    e = ix.run()
    assert e.paths == ["etc/x"]
    assert any("whiteout without a name" in w for w in ix.warnings)


def test_huge_mtime_and_pax_numbers():
    """base-256 mtimes beyond 64 bits and PAX `mtime=inf` (found by the fuzzer)."""
    ti, _ = ti_file("a", b"")
    hb = bytearray(ti.tobuf(tarfile.USTAR_FORMAT))
    hb[136:148] = b"\x80" + b"\xff" * 11
    _fix_checksum(hb, 0)
    e = TarIndexer(bytes(hb) + bytes(1024), None, None, "t").run()
    assert e.paths == ["a"] and e.mtimes[0] == (1 << 63) - 1
    ti2, _ = ti_file("b", b"")
    ti2.pax_headers = {"mtime": "1e400"}
    with pytest.raises(LayerError, match="bad number"):
        TarIndexer(tar_of([(ti2, b"")]), None, None, "t").run()


def test_nul_in_pax_path_ends_the_name():
    """A PAX path or linkpath with a NUL in it: the name ends there, as the
    C string a tar extractor makes of it.  A NUL kept in a path broke the
    compact state that the cache and the worker processes pass around
    (paths are joined with NULs), so a worker's result failed to load."""
    from layerscope.model import LayerEntries

    ti, data = ti_file("placeholder", b"x")
    ti.pax_headers = {"path": "etc/evil\0hidden"}
    tl, _ = ti_link("link", "placeholder")
    tl.pax_headers = {"linkpath": "target\0rest"}
    e = TarIndexer(tar_of([(ti, data), (tl, b"")]), None, None, "t").run()
    assert e.paths == ["etc/evil", "link"]
    assert e.links == {1: "target"}
    back = LayerEntries.from_state(e.to_state())
    assert back.paths == e.paths and back.links == e.links


# ---------------------------------------------------------------------------
# --verify

def _legacy_altered(tmp_path) -> str:
    good = layer_tar({"etc/": None, "etc/a": b"original\n"})
    bad = good.replace(b"original\n", b"ALTERED!\n")
    assert len(bad) == len(good)
    return docker_archive(tmp_path / "altered.tar", [layer_tar({"bin/": None}), bad],
                          config=config_for([sha(layer_tar({"bin/": None})), sha(good)]))


def _oci_altered(tmp_path) -> str:
    """An OCI archive whose layer 1 blob does not match its digest (and its
    diff_id: the uncompressed bytes changed too)."""
    l0 = gzip_of(layer_tar({"bin/": None}))
    good_tar = layer_tar({"etc/": None, "etc/a": b"original\n"})
    good = gzip_of(good_tar)
    bad = gzip_of(good_tar.replace(b"original\n", b"ALTERED!\n"))
    cfg = json.dumps(config_for([sha(layer_tar({"bin/": None})), sha(good_tar)])).encode()
    mt = "application/vnd.oci.image.layer.v1.tar+gzip"
    man = json.dumps({"schemaVersion": 2, "config": {"digest": sha(cfg), "size": len(cfg)},
                      "layers": [{"mediaType": mt, "digest": sha(l0), "size": len(l0)},
                                 {"mediaType": mt, "digest": sha(good), "size": len(bad)}]}).encode()
    return oci_archive(tmp_path / "oci-altered.tar", [l0], config=cfg, manifest=man,
                       extra=[("blobs/sha256/" + sha(good)[7:], bad)])


def test_verify_docker_legacy_diff_id_mismatch(tmp_path, capsys):
    p = _legacy_altered(tmp_path)
    rc, out, err = cli(capsys, "report", p)
    assert rc == 0, err  # without --verify: loads
    rc, out, err = cli(capsys, "report", "--verify", p)
    assert_one_error(rc, err, "verification failed", "layer 1", "diff_id")
    assert "layer 0" not in err


def test_verify_oci_blob_digest_mismatch(tmp_path, capsys):
    p = _oci_altered(tmp_path)
    rc, out, err = cli(capsys, "report", p)
    assert rc == 0, err
    rc, out, err = cli(capsys, "report", "--verify", p)
    assert_one_error(rc, err, "verification failed", "layer 1: blob digest", "layer 1: uncompressed digest")
    assert "layer 0" not in err


def test_verify_passes_on_a_good_image(tmp_path, capsys):
    from layerscope.testing.synth import classic_image, write_archive

    for layout, comp in (("docker-legacy", "none"), ("oci", "gzip"), ("oci", "zstd")):
        p = tmp_path / f"good-{layout}-{comp}.tar"
        write_archive(p, [classic_image(comp)], layout)
        rc, out, err = cli(capsys, "report", "--verify", str(p))
        assert rc == 0, err


def test_no_hashing_without_verify(tmp_path, capsys, monkeypatch):
    """Loading never pays for hashing whole blobs: digest_blob is not called,
    and sha256 is only used by the analysis for same-size candidate pairs
    (none in this image)."""


    def boom(*a, **k):
        raise AssertionError("a blob was hashed without --verify")

    monkeypatch.setattr(contents, "digest_blob", boom)
    real_sha = hashlib.sha256
    big = []

    class Counting:
        def __init__(self, *a):
            self.h = real_sha(*a)
            self.n = len(a[0]) if a else 0

        def update(self, b):
            self.n += len(b)
            if self.n > 1 << 20:
                big.append(self.n)
            self.h.update(b)

        def hexdigest(self):
            return self.h.hexdigest()

        def digest(self):
            return self.h.digest()

    monkeypatch.setattr(hashlib, "sha256", Counting)
    l0 = layer_tar({"big/": None, "big/blob": random.Random(5).randbytes(3 << 20)})
    p = oci_archive(tmp_path / "nohash.tar", [gzip_of(l0), gzip_of(layer_tar())],
                    config=json.dumps(config_for([sha(l0), sha(layer_tar())])).encode())
    rc, out, err = cli(capsys, "report", p)
    assert rc == 0, err
    rc, out, err = cli(capsys, "ls", p)
    assert rc == 0, err
    assert big == []
    monkeypatch.undo()
    calls = []
    real = contents.digest_blob

    def counting(*a, **k):
        calls.append(a[0].name)
        return real(*a, **k)

    monkeypatch.setattr(contents, "digest_blob", counting)
    rc, out, err = cli(capsys, "report", "--verify", p)
    assert rc == 0, err
    assert len(calls) == 4  # with --verify: each blob and each uncompressed stream


# ---------------------------------------------------------------------------
# loading in the library: only ImageError escapes

def test_library_open_graph_raises_only_image_errors(tmp_path):
    for case in CASES:
        d = tmp_path / case.__name__
        d.mkdir()
        path, _ = case(d)
        try:
            g = open_graph([str(path)])
            index_layers(g, use_cache=False, workers=1)
        except ImageError as e:
            assert "\n" not in e.line()
