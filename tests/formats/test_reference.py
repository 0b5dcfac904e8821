"""Image references read as docker reads them, and which source arguments are
taken for one (never a path that exists, a file-like name or a bare word)."""

import pytest

from layerscope.formats.reference import implied, parse
from layerscope.formats.source import is_registry, split_spec

HEX = "a" * 64


@pytest.mark.parametrize("text, host, path, tag, digest", [
    ("nginx", "docker.io", "library/nginx", "latest", ""),
    ("nginx:1.25", "docker.io", "library/nginx", "1.25", ""),
    ("team/app", "docker.io", "team/app", "latest", ""),
    ("docker.io/nginx", "docker.io", "library/nginx", "latest", ""),
    ("index.docker.io/library/nginx:1", "docker.io", "library/nginx", "1", ""),
    ("localhost/app", "localhost", "app", "latest", ""),
    ("localhost:5000/a/b:t", "localhost:5000", "a/b", "t", ""),
    ("127.0.0.1:5000/repo:tag", "127.0.0.1:5000", "repo", "tag", ""),
    ("ghcr.io/o/r@sha256:" + HEX, "ghcr.io", "o/r", "", "sha256:" + HEX),
    ("ghcr.io/o/r:v1@sha256:" + HEX, "ghcr.io", "o/r", "v1", "sha256:" + HEX),
    ("[::1]:5000/x", "[::1]:5000", "x", "latest", ""),
    ("registry://quay.io/a/b", "quay.io", "a/b", "latest", ""),
    ("registry://nginx", "docker.io", "library/nginx", "latest", ""),
])
def test_parse(text, host, path, tag, digest):
    r = parse(text)
    assert (r.host, r.path, r.tag, r.digest) == (host, path, tag, digest)


def test_docker_hub_is_served_from_its_api_host():
    assert parse("nginx").api_host == "registry-1.docker.io"
    assert parse("localhost:5000/x").api_host == "localhost:5000"
    assert parse("[::1]:5000/x").hostname == "::1"
    assert str(parse("nginx")) == "docker.io/library/nginx:latest"


@pytest.mark.parametrize("text", ["Team/app", "UPPER", "a b", "x:y:z", "host/repo@sha256:short", "", "a//b",
                                  "ghcr.io/o/r@sha256:" + "A" * 64, "x/" + "a" * 300])
def test_not_references(text):
    assert parse(text) is None


@pytest.mark.parametrize("text, registry", [
    ("nginx", False),  # a bare word: a mistyped command or file, never a pull
    ("reprt", False),
    ("app.tar", False), ("images/app.tar.gz", False), ("./app", False), ("/abs/app", False), ("~/x", False),
    ("nginx:1", True), ("team/app", True), ("127.0.0.1:5000/x", True), ("registry://nginx", True),
])
def test_what_is_taken_for_a_reference(text, registry):
    assert (implied(text) is not None) == registry
    assert is_registry(text) == registry


def test_an_existing_path_is_never_a_reference(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "app").write_bytes(b"")
    assert not is_registry("team/app")
    assert is_registry("team/other")


def test_split_spec_of_registry_references():
    assert split_spec("127.0.0.1:5000/x:1") == ("127.0.0.1:5000/x:1", None)
    assert split_spec("127.0.0.1:5000/x:1@linux/arm64") == ("127.0.0.1:5000/x:1", "linux/arm64")
    assert split_spec("ghcr.io/o/r@sha256:" + HEX) == ("ghcr.io/o/r@sha256:" + HEX, None)
    assert split_spec("registry://nginx@linux/arm64/v8") == ("registry://nginx", "linux/arm64/v8")
