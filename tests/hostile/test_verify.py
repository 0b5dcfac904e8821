"""`--verify` catches altered layers and blobs; loading without it never
hashes."""

from __future__ import annotations

import hashlib
import json
import random

from layerscope.layers import contents
from tests.hostile._helpers import (
    assert_one_error,
    cli,
    config_for,
    docker_archive,
    gzip_of,
    layer_tar,
    oci_archive,
    sha,
)


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
    assert_one_error(rc, err, "verification failed", "layer 1: blob digest", "layer 1 (diff_id): uncompressed digest")
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
    from layerscope.layers import verify

    stored, streams = [], []
    real_stored, real_stream = verify._stored, verify._uncompressed
    monkeypatch.setattr(verify, "_stored", lambda ref, h: stored.append(ref.name) or real_stored(ref, h))
    monkeypatch.setattr(verify, "_uncompressed", lambda ref, c, h: streams.append(ref.name) or real_stream(ref, c, h))
    rc, out, err = cli(capsys, "report", "--verify", p)
    assert rc == 0, err
    # with --verify: every stored blob (index, manifest, config, both layers) and each layer's stream
    assert len(streams) == 2 and set(streams) <= set(stored)
    assert len(stored) == len(set(stored)) >= 4
