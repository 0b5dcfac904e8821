"""The bad archives: each case builds one in the directory it is given and
names what the error must say.  CASES is every case_ function of this
module, in name order."""

from __future__ import annotations

import hashlib
import json
import os
import random
import tarfile

import zstandard

from tests.hostile._helpers import (
    _fix_checksum,
    config_for,
    docker_archive,
    gzip_of,
    layer_tar,
    oci_archive,
    sha,
    tar_of,
    ti_link,
)


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
    for _n in range(100):
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


CASES = [v for k, v in sorted(globals().items()) if k.startswith("case_")]
