"""Images read straight from a registry: a real one (Debian's docker-registry,
images pushed with skopeo) for what every registry does, plain, with
htpasswd auth and with TLS; a fake one for bearer tokens, redirects,
retries and what a hostile registry sends.  The real-registry tests skip
when docker-registry or skopeo is missing."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from layerscope.cli import main
from layerscope.formats import registry
from layerscope.model import host_platform
from layerscope.testing.synth import F, ImageSpec, LayerSpec, classic_image, classic_pair, write_archive
from tests.conftest import CORPUS, ROOT

from ._registry import FakeRegistry, Registry, auth_file, htpasswd_file, make_ca, need_tools

OTHER = "linux/arm64" if host_platform() != "linux/arm64" else "linux/amd64"


@pytest.fixture(autouse=True)
def _fresh_clients(monkeypatch, tmp_path):
    # each test gets new clients (credentials, tokens, TLS context read from its environment)
    # and an auth file lookup that never finds the user's own
    registry._clients.clear()
    for var in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "DOCKER_CONFIG", "LAYERSCOPE_TLS_VERIFY", "SSL_CERT_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(registry, "BACKOFF_S", 0.01)
    yield
    registry._clients.clear()


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(rc: int, err: str) -> str:
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("layerscope: error: "), err
    assert "Traceback" not in err
    return lines[0]


def without_names(doc):
    """A report with what names where it came from left out."""
    if isinstance(doc, dict):
        return {k: without_names(v) for k, v in doc.items() if k not in ("source", "ref", "refs")}
    if isinstance(doc, list):
        return [without_names(v) for v in doc]
    return doc


# ---------------------------------------------------------------------------
# a real registry

@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    need_tools("docker-registry", "skopeo")
    root = tmp_path_factory.mktemp("registry")
    r = Registry(root)
    arch = root / "classic.tar"
    write_archive(str(arch), [classic_image("gzip")], layout="oci")
    r.push(arch, "demo/classic:1")
    r.push(arch, "demo/classic:again")
    editor, web = classic_pair("gzip")
    for img, tag in ((editor, "editor"), (web, "web")):
        p = root / f"{tag}.tar"
        write_archive(str(p), [img], layout="oci")
        r.push(p, f"demo/pair:{tag}")
    here, there = host_platform().split("/"), OTHER.split("/")
    multi = root / "multi.tar"
    images = [ImageSpec([LayerSpec([F("etc/", "dir"), F("etc/arch", data=f"{p[1]}\n".encode())], "ADD arch /",
                                   compression="gzip")], repo_tags=["multi:1"], os=p[0], architecture=p[1])
              for p in (here, there)]
    write_archive(str(multi), images, layout="oci", multiplatform=True)
    r.push(multi, "demo/multi:1", all_images=True)
    r.archive = arch
    yield r
    r.stop()


def test_report_equals_the_archives(reg, capsys):
    rc, from_registry, err = run(capsys, "report", "--json", f"{reg.host}/demo/classic:1")
    assert rc == 0, err
    rc, from_archive, err = run(capsys, "report", "--json", str(reg.archive))
    assert rc == 0, err
    a, r = json.loads(from_archive), json.loads(from_registry)
    assert r["image"]["source"] == f"{reg.host}/demo/classic:1"
    assert r["image"]["ref"] == f"{reg.host}/demo/classic:1"
    assert without_names(r) == without_names(a)


def test_registry_prefix_and_every_command(reg, capsys, tmp_path):
    ref = f"registry://{reg.host}/demo/classic:1"
    rc, out, err = run(capsys, "ls", ref)
    assert rc == 0 and "/usr/sbin/nginx" in out, err
    rc, out, err = run(capsys, "history", f"{reg.host}/demo/classic:1", "/etc/os-release")
    assert rc == 0 and "layer 0" in out, err
    rc, out, err = run(capsys, "check", "--lowest-efficiency", "0", "--highest-wasted-bytes", "1GB",
                       "--highest-user-wasted-percent", "1", ref)
    assert rc == 0, out + err
    rc, out, err = run(capsys, "extract", ref, "/etc/os-release", "-o", str(tmp_path / "x"))
    assert rc == 0, err
    assert (tmp_path / "x" / "etc" / "os-release").read_bytes().startswith(b"PRETTY_NAME") or \
        (tmp_path / "x" / "etc" / "os-release").stat().st_size > 0
    rc, out, err = run(capsys, "diff", "--json", str(reg.archive), f"{reg.host}/demo/classic:1")
    assert rc == 0, err
    assert json.loads(out)["identical"] is True
    rc, out, err = run(capsys, "report", "--verify", ref)
    assert rc == 0 and "(verified)" in out, err


def test_a_second_open_fetches_no_layer_blob(reg, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    before = len(reg.blob_gets("demo/classic"))
    rc, _, err = run(capsys, "report", f"{reg.host}/demo/classic:1")
    assert rc == 0, err
    first = reg.blob_gets("demo/classic")[before:]
    assert len(first) == 8  # seven layers and the config
    assert len(list((tmp_path / "cache" / "blobs").iterdir())) == 9  # and the manifest
    for ref in ("demo/classic:1", "demo/classic:again"):
        rc, _, err = run(capsys, "report", f"{reg.host}/{ref}")
        assert rc == 0, err
    assert reg.blob_gets("demo/classic")[before + 8:] == []
    # images in another repository sharing layers with it: only what they do not share
    pair_before = len(reg.blob_gets("demo/pair"))
    rc, out, err = run(capsys, "report", "--json", f"{reg.host}/demo/pair:editor")
    assert rc == 0, err
    editor = json.loads(out)
    rc, out, err = run(capsys, "report", "--json", f"{reg.host}/demo/pair:web")
    assert rc == 0, err
    web = json.loads(out)
    got = reg.blob_gets("demo/pair")[pair_before:]
    classic = {d for d in first}
    assert editor["layers"][0]["digest"] == web["layers"][0]["digest"] in classic
    assert editor["layers"][0]["digest"] not in got
    new = {l["digest"] for im in (editor, web) for l in im["layers"]} - classic
    configs = {im["image"]["config_digest"] for im in (editor, web)}
    assert sorted(got) == sorted(new | configs)  # each once


def test_no_cache_leaves_no_blob_behind(reg, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    rc, _, err = run(capsys, "report", "--no-cache", f"{reg.host}/demo/classic:1")
    assert rc == 0, err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("layerscope-blobs-")]


def test_a_multi_platform_index_opens_on_the_host_and_platform_picks(reg, capsys):
    ref = f"{reg.host}/demo/multi:1"
    rc, out, err = run(capsys, "report", "--json", ref)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["image"]["platform"] == host_platform()
    assert [im["platform"] for im in doc["images"]] == [host_platform()]
    rc, out, err = run(capsys, "report", "--json", "--platform", OTHER, ref)
    assert rc == 0, err
    assert json.loads(out)["image"]["platform"] == OTHER
    rc, out, err = run(capsys, "ls", "--platform", OTHER, ref)
    assert rc == 0 and "/etc/arch" in out, err
    rc, out, err = run(capsys, "diff", "--json", f"{ref}@{host_platform()}", f"{ref}@{OTHER}")
    assert rc == 1, err
    d = json.loads(out)
    assert (d["a"]["platform"], d["b"]["platform"]) == (host_platform(), OTHER)


def test_missing_images_give_one_line(reg, capsys):
    line = one_line_error(*run(capsys, "report", f"{reg.host}/demo/classic:nope")[::2])
    assert "not found" in line and "demo/classic:nope" in line
    line = one_line_error(*run(capsys, "report", f"{reg.host}/no/such:1")[::2])
    assert "not found" in line
    line = one_line_error(*run(capsys, "report", f"{reg.host}/demo/multi:1", "--platform", "linux/s390x")[::2])
    assert "no image for platform linux/s390x" in line


def test_a_registry_that_is_not_there(capsys):
    from ._registry import free_port

    line = one_line_error(*run(capsys, "report", f"127.0.0.1:{free_port()}/x/y:1")[::2])
    assert "cannot connect" in line


def test_the_cli_as_a_subprocess(reg, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), LAYERSCOPE_CACHE="off", HOME=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "layerscope", "report", f"{reg.host}/demo/classic:1"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"{reg.host}/demo/classic:1" in r.stdout


@pytest.fixture(scope="module")
def auth_reg(tmp_path_factory):
    need_tools("docker-registry", "skopeo", "htpasswd")
    root = tmp_path_factory.mktemp("authreg")
    r = Registry(root, htpasswd=htpasswd_file(root, "alice", "s3cret"))
    arch = root / "classic.tar"
    write_archive(str(arch), [classic_image("gzip")], layout="oci")
    r.push(arch, "team/app:1", creds="alice:s3cret")
    yield r
    r.stop()


def test_htpasswd_auth(auth_reg, capsys, tmp_path, monkeypatch):
    ref = f"{auth_reg.host}/team/app:1"
    line = one_line_error(*run(capsys, "report", ref)[::2])
    assert "requires authentication" in line
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file(tmp_path, auth_reg.host, "alice", "wrong")))
    registry._clients.clear()
    line = one_line_error(*run(capsys, "report", ref)[::2])
    assert "authentication failed" in line and "'alice'" in line and "wrong" not in line
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file(tmp_path, auth_reg.host, "alice", "s3cret")))
    registry._clients.clear()
    rc, out, err = run(capsys, "report", ref)
    assert rc == 0, err


def test_credentials_from_docker_config(auth_reg, capsys, tmp_path, monkeypatch):
    d = tmp_path / "docker"
    d.mkdir()
    auth_file(d, auth_reg.host, "alice", "s3cret", name="config.json")
    monkeypatch.setenv("DOCKER_CONFIG", str(d))
    rc, out, err = run(capsys, "report", f"{auth_reg.host}/team/app:1")
    assert rc == 0, err


@pytest.fixture(scope="module")
def tls_reg(tmp_path_factory):
    need_tools("docker-registry", "skopeo", "openssl")
    root = tmp_path_factory.mktemp("tlsreg")
    ca, cert, key = make_ca(root)
    r = Registry(root, tls=(cert, key))
    arch = root / "classic.tar"
    write_archive(str(arch), [classic_image("gzip")], layout="oci")
    r.push(arch, "secure/app:1")
    r.ca = ca
    yield r
    r.stop()


def test_tls(tls_reg, capsys, monkeypatch):
    ref = f"{tls_reg.host}/secure/app:1"
    line = one_line_error(*run(capsys, "report", ref)[::2])
    assert "certificate is not trusted" in line and "--tls-verify=false" in line
    registry._clients.clear()
    rc, out, err = run(capsys, "report", "--tls-verify=false", ref)
    assert rc == 0, err
    monkeypatch.delenv("LAYERSCOPE_TLS_VERIFY")  # main() set it for the run above
    registry._clients.clear()
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_reg.ca))
    rc, out, err = run(capsys, "report", ref)
    assert rc == 0, err
    assert any(m == "GET" and p == "/v2/secure/app/manifests/1" for m, p, _ in tls_reg.requests())


# ---------------------------------------------------------------------------
# a fake registry

@pytest.fixture
def fake(tmp_path):
    layout = tmp_path / "layout"
    write_archive(str(layout), [classic_image("gzip")], layout="oci", directory=True)
    # the layout's ref name is the tag the fake serves
    index = json.loads((layout / "index.json").read_text())
    for d in index["manifests"]:
        d["annotations"] = {"org.opencontainers.image.ref.name": "1"}
    (layout / "index.json").write_text(json.dumps(index))
    f = FakeRegistry(layout)
    f.manifest_digest = index["manifests"][0]["digest"]
    f.manifest = json.loads(f.blob_bytes(f.manifest_digest))
    yield f
    f.stop()


def test_bearer_token_flow_and_redirects_to_storage(fake, capsys, tmp_path, monkeypatch):
    fake.token, fake.creds, fake.redirect = "tok123", "bob:pw", True
    ref = f"{fake.host}/demo/app:1"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file(tmp_path, fake.host, "bob", "bad")))
    line = one_line_error(*run(capsys, "report", ref)[::2])
    assert "authentication failed" in line
    registry._clients.clear()
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file(tmp_path, fake.host, "bob", "pw")))
    rc, out, err = run(capsys, "report", ref)
    assert rc == 0, err
    assert any(p.startswith("/storage/") for p, _, s in fake.log if s == "200")
    assert all(not a for p, a, _ in fake.log if p.startswith("/storage/"))  # the token stays with the registry
    assert any(a == "Bearer tok123" for p, a, _ in fake.log if "/manifests/" in p)


def test_anonymous_bearer_token(fake, capsys):
    fake.token = "anon"
    rc, out, err = run(capsys, "report", f"{fake.host}/demo/app:1")
    assert rc == 0, err


def test_retries_on_429_and_5xx(fake, capsys):
    layer = fake.manifest["layers"][0]["digest"]
    fake.fail["/v2/demo/app/manifests/1"] = [503, 429]
    fake.fail[f"/v2/demo/app/blobs/{layer}"] = [500, 502]
    rc, out, err = run(capsys, "report", f"{fake.host}/demo/app:1")
    assert rc == 0, err
    fake.fail["/v2/demo/app/manifests/1"] = [503] * 10
    line = one_line_error(*run(capsys, "report", f"{fake.host}/demo/app:1")[::2])
    assert "HTTP 503" in line and "tries" in line


@pytest.mark.parametrize("ctype, body, says", [
    ("application/vnd.docker.distribution.manifest.v1+prettyjws", b'{"schemaVersion": 1, "fsLayers": []}',
     "schema 1"),
    ("application/vnd.example.thing+json", b'{"schemaVersion": 2}', "'application/vnd.example.thing+json'"),
    ("application/json", b'{"schemaVersion": 2, "mediaType": "application/x-\\u001b[31mred"}', "cannot read"),
    ("text/html", b"<html>login page</html>", "'text/html'"),
])
def test_unreadable_manifest_media_types(fake, capsys, ctype, body, says):
    fake.manifest_override["1"] = body
    fake.content_type["1"] = ctype
    line = one_line_error(*run(capsys, "report", f"{fake.host}/demo/app:1")[::2])
    assert says in line and "\x1b" not in line


def test_a_tampered_layer_blob_is_refused(fake, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    layer = fake.manifest["layers"][1]["digest"]
    good = fake.blob_bytes(layer)
    fake.blob_override[layer] = good[:-1] + bytes([good[-1] ^ 1])
    line = one_line_error(*run(capsys, "report", f"{fake.host}/demo/app:1")[::2])
    assert "tampered" in line and "layer 1" in line
    assert not (tmp_path / "cache" / "blobs" / layer.replace(":", "-")).exists()
    assert not [p for p in (tmp_path / "cache" / "blobs").iterdir() if p.name.endswith(".part")]
    fake.blob_override[layer] = good + b"more"
    line = one_line_error(*run(capsys, "report", f"{fake.host}/demo/app:1")[::2])
    assert "more than" in line
    fake.blob_override[layer] = good[:10]
    line = one_line_error(*run(capsys, "report", f"{fake.host}/demo/app:1")[::2])
    assert "sent 10 bytes" in line


def test_a_tampered_config_or_manifest_is_refused(fake, capsys):
    cfg = fake.manifest["config"]["digest"]
    fake.blob_override[cfg] = fake.blob_bytes(cfg).replace(b"nginx", b"nginy")
    line = one_line_error(*run(capsys, "report", f"{fake.host}/demo/app:1")[::2])
    assert "tampered" in line
    fake.blob_override.clear()
    # a manifest fetched by digest must have that digest
    fake.manifest_override[fake.manifest_digest] = fake.blob_bytes(fake.manifest_digest) + b" "
    line = one_line_error(*run(capsys, "report", f"{fake.host}/demo/app@{fake.manifest_digest}")[::2])
    assert "tampered" in line


def test_a_manifest_too_large_is_not_read(fake, capsys):
    fake.manifest_override["1"] = b"{" + b" " * (registry.MAX_MANIFEST + 10) + b"}"
    line = one_line_error(*run(capsys, "report", f"{fake.host}/demo/app:1")[::2])
    assert "too large" in line


def test_absurd_sizes_in_a_manifest(fake, capsys):
    man = dict(fake.manifest)
    man["layers"] = [dict(man["layers"][0], size=-5)] + man["layers"][1:]
    fake.manifest_override["1"] = json.dumps(man).encode()
    line = one_line_error(*run(capsys, "report", f"{fake.host}/demo/app:1")[::2])
    assert "valid size" in line
    man["layers"] = [dict(man["layers"][0], size=1 << 60)] + man["layers"][1:]
    fake.manifest_override["1"] = json.dumps(man).encode()
    line = one_line_error(*run(capsys, "report", f"{fake.host}/demo/app:1")[::2])
    assert "valid size" in line


def test_a_missing_blob(fake, capsys):
    layer = fake.manifest["layers"][2]["digest"]
    (fake.layout / "blobs" / "sha256" / layer.split(":")[1]).unlink()
    line = one_line_error(*run(capsys, "report", f"{fake.host}/demo/app:1")[::2])
    assert "not found" in line and "BLOB_UNKNOWN" in line


def test_the_digest_the_registry_states_is_checked(fake, capsys, monkeypatch):
    real = fake._send

    def lying(h, status, body=b"", headers=None):
        if headers and "Docker-Content-Digest" in headers:
            headers = dict(headers, **{"Docker-Content-Digest": "sha256:" + hashlib.sha256(b"x").hexdigest()})
        real(h, status, body, headers)

    monkeypatch.setattr(fake, "_send", lying)
    line = one_line_error(*run(capsys, "report", f"{fake.host}/demo/app:1")[::2])
    assert "the registry states" in line


def test_basic_auth_header_is_what_the_file_says(tmp_path, monkeypatch):
    from layerscope.formats.auth import find

    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file(tmp_path, "reg.example:5000", "u", "p:w")))
    c = find("reg.example:5000", "team/app")
    assert (c.user, c.password) == ("u", "p:w")
    assert "p:w" not in repr(c)
    assert base64.b64decode(json.loads((tmp_path / "auth.json").read_text())["auths"]["reg.example:5000"]["auth"])


def test_what_is_not_a_reference_says_so(capsys):
    line = one_line_error(*run(capsys, "report", "registry://Not A/Ref")[::2])
    assert "not an image reference" in line
    rc, out, err = run(capsys, "frobnicate")
    assert rc == 2 and "registry://frobnicate" in err and len(err.strip().splitlines()) == 1
    line = one_line_error(*run(capsys, "report", "missing.tar")[::2])
    assert "no such file" in line  # a file-like name is never looked up in a registry


def test_layers_are_indexed_while_they_download(fake, capsys, monkeypatch):
    """Each layer blob stops halfway until the test lets it go on: by then
    every layer's indexer has read the half that came, so indexing runs with
    the download, not after it; the report is what a full pull gives, and no
    layer is walked a second time from the stored blob."""
    from layerscope.layers import indexing, pipe

    pipes = []

    class Watched(pipe.Pipe):
        def __init__(self):
            super().__init__()
            pipes.append(self)

    monkeypatch.setattr(pipe, "Pipe", Watched)
    walked = []
    real_index_one = indexing.index_one
    monkeypatch.setattr(indexing, "index_one", lambda layer: (walked.append(layer), real_index_one(layer)))
    rc, whole, err = run(capsys, "report", "--json", "--no-cache", f"{fake.host}/demo/app:1")
    assert rc == 0, err
    pipes.clear()
    registry._clients.clear()
    walked.clear()
    fake.half_gate = threading.Event()
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("rc", main(["report", "--json", "--no-cache",
                                                                       f"{fake.host}/demo/app:1"])))
    t.start()
    try:
        layers = fake.manifest["layers"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if len(pipes) == len(layers) or (len(pipes) >= registry.FETCH_WORKERS and all(p.read_bytes for p in pipes)):
                if all(p.read_bytes for p in pipes):
                    break
            time.sleep(0.02)
        started = [p.read_bytes for p in pipes]
        assert started and all(started), started  # read while the rest of each blob is held back
    finally:
        fake.half_gate.set()
        t.join(30)
    out, err = capsys.readouterr()
    assert result["rc"] == 0, err
    assert json.loads(out) == json.loads(whole)
    assert walked == []


def test_a_cached_index_needs_no_blob_and_contents_come_on_demand(reg, capsys, tmp_path, monkeypatch):
    """Layer indexes are cached by digest: with the blob store emptied, a
    second open fetches no layer blob at all; extracting a file then fetches
    the one layer it is in, once."""
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("LAYERSCOPE_CACHE", str(cache_dir))
    ref = f"{reg.host}/demo/classic:1"
    rc, first, err = run(capsys, "report", "--json", ref)
    assert rc == 0, err
    man = json.loads(first)
    layer_digests = {l["digest"] for l in man["layers"]}
    for p in (cache_dir / "blobs").iterdir():
        p.unlink()
    before = len(reg.blob_gets("demo/classic"))
    rc, again, err = run(capsys, "report", "--json", ref)
    assert rc == 0, err
    assert json.loads(again) == man
    assert not set(reg.blob_gets("demo/classic")[before:]) & layer_digests  # the config, at most
    before = len(reg.blob_gets("demo/classic"))
    out_dir = tmp_path / "x"
    rc, _, err = run(capsys, "extract", ref, "/usr/sbin/nginx", "-o", str(out_dir))
    assert rc == 0, err
    assert (out_dir / "usr" / "sbin" / "nginx").stat().st_size > 0
    got = [d for d in reg.blob_gets("demo/classic")[before:] if d in layer_digests]
    assert len(got) == 1


# ---------------------------------------------------------------------------
# layers with a table of contents, listed from it

@pytest.fixture(scope="module")
def toc_reg(tmp_path_factory):
    need_tools("docker-registry", "skopeo")
    root = tmp_path_factory.mktemp("toc-registry")
    r = Registry(root)
    plain = root / "plain.tar"
    write_archive(str(plain), [classic_image("none")], layout="oci")
    r.push(plain, "toc/skopeo:1", compress="zstd:chunked")  # as skopeo and podman write zstd:chunked
    r.archives = {}
    for comp in ("estargz", "zstd-chunked"):  # as the formats' own writers lay them out (synth)
        p = root / f"{comp}.tar"
        write_archive(str(p), [classic_image(comp)], layout="oci")
        r.push(p, f"toc/{comp}:1")
        r.archives[comp] = p
    r.archives["skopeo"] = plain
    corpus = CORPUS / "dive" / "test-oci-estargz-image.tar"  # buildkit's own eStargz, when the corpus is here
    if corpus.exists():
        r.push(corpus, "toc/corpus:1")
        r.archives["corpus"] = corpus
    yield r
    r.stop()


def _layer_bytes(rc_out) -> tuple[int, dict[str, int]]:
    doc = json.loads(rc_out)
    sizes = {l["digest"]: l["compressed_size"] for l in doc["layers"]}
    return sum(sizes.values()), sizes


@pytest.mark.parametrize("name", ["skopeo", "estargz", "zstd-chunked", "corpus"])
def test_a_layer_with_a_table_of_contents_is_listed_from_it(toc_reg, capsys, monkeypatch, name):
    """Listed with Range requests for the tables of contents alone: under
    10 % of the layer bytes cross the wire (the registry's access log says
    how many), and the listing and the report are those of a full download
    (but for the uncompressed sizes, which a table of contents may not give)."""
    if name not in toc_reg.archives:
        pytest.skip("reference corpus not present")
    ref = f"{toc_reg.host}/toc/{name}:1"
    before = len(toc_reg.requests())
    rc, listing, err = run(capsys, "ls", ref)
    assert rc == 0, err
    rc, report, err = run(capsys, "report", "--json", ref)
    assert rc == 0, err
    total, sizes = _layer_bytes(report)
    sent = sum(n for m, p, s, n in toc_reg.requests(with_bytes=True)[before:]
               if m == "GET" and p.rsplit("/", 1)[-1] in sizes)
    # the corpus's layers are a few KB each, less than their own tables of contents
    assert 0 < sent < total / (2 if name == "corpus" else 10), (sent, total)
    monkeypatch.setattr(registry._Fetch, "partial", lambda self: False)
    before = len(toc_reg.requests())
    rc, expected, err = run(capsys, "ls", ref)
    assert rc == 0, err
    assert listing == expected and ("/usr/sbin/nginx" in listing or name == "corpus")
    rc, whole, err = run(capsys, "report", "--json", ref)
    assert rc == 0, err
    assert sum(n for m, p, s, n in toc_reg.requests(with_bytes=True)[before:] if p.rsplit("/", 1)[-1] in sizes) >= total
    a, r = json.loads(whole), json.loads(report)
    for doc in (a, r):
        for layer in doc["layers"]:
            layer.pop("uncompressed_size")
    assert r == a


def test_one_file_of_a_listed_layer_is_fetched_alone(toc_reg, capsys, tmp_path):
    ref = f"{toc_reg.host}/toc/skopeo:1"
    rc, report, err = run(capsys, "report", "--json", ref)
    assert rc == 0, err
    total, sizes = _layer_bytes(report)
    before = len(toc_reg.requests())
    rc, _, err = run(capsys, "extract", ref, "/etc/os-release", "-o", str(tmp_path / "x"))
    assert rc == 0, err
    rc, _, err = run(capsys, "extract", str(toc_reg.archives["skopeo"]), "/etc/os-release", "-o",
                     str(tmp_path / "y"))
    assert rc == 0, err
    assert (tmp_path / "x" / "etc" / "os-release").read_bytes() == (tmp_path / "y" / "etc" / "os-release").read_bytes()
    got = [(p, s, n) for m, p, s, n in toc_reg.requests(with_bytes=True)[before:]
           if m == "GET" and p.rsplit("/", 1)[-1] in sizes]
    assert got and all(s == 206 for _, s, _ in got)
    assert sum(n for _, _, n in got) < total / 10


def test_verify_walks_the_whole_blob_of_a_listed_layer(toc_reg, capsys):
    """--verify checks what the layer holds, not what its table of contents says it holds."""
    ref = f"{toc_reg.host}/toc/zstd-chunked:1"
    before = len(toc_reg.requests())
    rc, out, err = run(capsys, "report", "--verify", ref)
    assert rc == 0 and "(verified)" in out, err
    whole = [s for m, p, s in toc_reg.requests()[before:] if m == "GET" and "/blobs/" in p]
    assert whole and 206 not in whole  # whole blobs only, no table of contents


def test_a_download_that_breaks_off_is_indexed_from_the_stored_blob(fake, capsys, monkeypatch):
    """The connection drops halfway through a layer: the download starts
    again, the half-read stream is dropped, and the layer is walked from the
    blob once it is stored; the report is the one an unbroken download gives."""
    from layerscope.layers import indexing

    rc, whole, err = run(capsys, "report", "--json", "--no-cache", f"{fake.host}/demo/app:1")
    assert rc == 0, err
    registry._clients.clear()
    layer = max(fake.manifest["layers"], key=lambda d: d["size"])["digest"]
    fake.drop_once.add(layer)
    walked = []
    real_index_one = indexing.index_one
    monkeypatch.setattr(indexing, "index_one", lambda l: (walked.append(l.digest), real_index_one(l)))
    rc, again, err = run(capsys, "report", "--json", "--no-cache", f"{fake.host}/demo/app:1")
    assert rc == 0, err
    assert walked == [layer]
    assert json.loads(again) == json.loads(whole)
