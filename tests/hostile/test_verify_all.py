"""verify_image: every blob read for an image (nested index, manifest,
config, layers) is checked against the digest that names it, for sha256 and
sha512; an unknown algorithm is reported, never skipped."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

from layerscope.formats.source import open_graph
from layerscope.layers.indexing import index_layers
from layerscope.layers.verify import verify_image, verify_layers

M_INDEX = "application/vnd.oci.image.index.v1+json"
M_MAN = "application/vnd.oci.image.manifest.v1+json"
M_CFG = "application/vnd.oci.image.config.v1+json"


def digest(b: bytes, alg: str = "sha256") -> str:
    return f"{alg}:" + hashlib.new(alg, b).hexdigest()


def tar_of(files: dict[str, bytes]) -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


def blob_name(d: str) -> str:
    alg, _, hexd = d.partition(":")
    return f"blobs/{alg}/{hexd}"


def build(tmp_path, *, layer_alg="sha256", layer_digest=None, tamper=(), diff_id=None) -> str:
    """index.json -> nested index -> manifest -> config + one gzip layer.
    `tamper` names blobs ("index", "manifest", "config", "layer") whose bytes
    are changed after their digests were taken (still valid JSON)."""
    raw = tar_of({"etc/hello": b"hello\n"})
    layer = gzip.compress(raw, mtime=0)
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": [diff_id or digest(raw)]},
                      "history": [{"created_by": "x"}]}).encode()
    ldig = layer_digest or digest(layer, layer_alg)
    man = json.dumps({"schemaVersion": 2, "mediaType": M_MAN,
                      "config": {"mediaType": M_CFG, "digest": digest(cfg), "size": len(cfg)},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ldig,
                                  "size": len(layer)}]}).encode()
    sub = json.dumps({"schemaVersion": 2, "mediaType": M_INDEX,
                      "manifests": [{"mediaType": M_MAN, "digest": digest(man), "size": len(man),
                                     "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    top = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": M_INDEX, "digest": digest(sub), "size": len(sub),
         "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}).encode()
    blobs = {"index": (digest(sub), sub), "manifest": (digest(man), man), "config": (digest(cfg), cfg),
             "layer": (ldig, layer)}
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": top}
    for key, (d, b) in blobs.items():
        if key in tamper:
            b = b[:-1] + b', "x": 1}' if key != "layer" else gzip.compress(raw + bytes(512), mtime=0)
        files[blob_name(d)] = b
    path = tmp_path / "img.tar"
    path.write_bytes(tar_of(files))
    return str(path)


def problems_of(path: str) -> list[str]:
    graph = open_graph([path])
    image = graph.pick()
    index_layers(graph, layers=image.layers, use_cache=False, workers=1)
    assert image.layers[0].error is None, image.layers[0].error
    return verify_image(graph, image)


def test_intact_image_verifies(tmp_path):
    assert problems_of(build(tmp_path)) == []


def test_every_json_blob_is_recorded(tmp_path):
    graph = open_graph([build(tmp_path)])
    kinds = [what for what, _, _ in graph.pick().blobs]
    assert kinds == ["image index", "manifest", "image config"]


def test_tampered_nested_index_found(tmp_path):
    p = problems_of(build(tmp_path, tamper=("index",)))
    assert len(p) == 1 and p[0].startswith("image index"), p


def test_tampered_manifest_found(tmp_path):
    p = problems_of(build(tmp_path, tamper=("manifest",)))
    assert len(p) == 1 and p[0].startswith("manifest"), p


def test_tampered_config_found(tmp_path):
    p = problems_of(build(tmp_path, tamper=("config",)))
    assert len(p) == 1 and p[0].startswith("image config"), p


def test_tampered_layer_found_by_both_digests(tmp_path):
    p = problems_of(build(tmp_path, tamper=("layer",)))
    assert len(p) == 2 and all(x.startswith("layer 0") for x in p), p
    assert any("diff_id" in x for x in p)


def test_sha512_layer_digest_checked(tmp_path):
    assert problems_of(build(tmp_path, layer_alg="sha512")) == []
    p = problems_of(build(tmp_path, layer_digest="sha512:" + "ab" * 64))
    assert len(p) == 1 and "sha512" in p[0], p


def test_unknown_algorithm_is_an_error_not_a_skip(tmp_path):
    p = problems_of(build(tmp_path, layer_digest="md5:" + "ab" * 16))
    assert len(p) == 1 and "unknown digest algorithm 'md5'" in p[0], p


def test_diff_id_mismatch_found(tmp_path):
    p = problems_of(build(tmp_path, diff_id="sha256:" + "cd" * 32))
    assert len(p) == 1 and "diff_id" in p[0], p


def test_docker_config_named_by_digest_checked(tmp_path):
    raw = tar_of({"etc/hello": b"hello\n"})
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": [digest(raw)]}}).encode()
    name = hashlib.sha256(cfg).hexdigest() + ".json"
    man = json.dumps([{"Config": name, "RepoTags": ["d:1"], "Layers": ["l0/layer.tar"]}]).encode()
    path = tmp_path / "d.tar"
    path.write_bytes(tar_of({"l0/layer.tar": raw, name: cfg[:-1] + b', "x": 1}', "manifest.json": man}))
    assert [x.split(" ")[:2] for x in problems_of(str(path))] == [["image", "config"]]


def test_verify_layers_still_works(tmp_path):
    graph = open_graph([build(tmp_path, tamper=("layer",))])
    image = graph.pick()
    index_layers(graph, layers=image.layers, use_cache=False, workers=1)
    assert len(verify_layers(image.layers)) == 2


def test_cli_verify_checks_every_blob_and_says_so(tmp_path, capsys):
    """`report --verify` fails on a swapped manifest, config or layer, and the
    digest a report shows is labelled verified only after --verify."""
    from layerscope.cli import main

    for part in ("manifest", "config", "layer"):
        rc = main(["report", "--verify", build(tmp_path, tamper=(part,))])
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith("layerscope: error: verification failed"), (part, err)
    good = build(tmp_path)
    assert main(["report", "--json", good]) == 0
    assert json.loads(capsys.readouterr().out)["image"]["verified"] is False
    assert main(["report", "--json", "--verify", good]) == 0
    assert json.loads(capsys.readouterr().out)["image"]["verified"] is True
    assert main(["report", good]) == 0
    assert "(unverified" in capsys.readouterr().out
    assert main(["report", "--verify", good]) == 0
    assert "(verified)" in capsys.readouterr().out
