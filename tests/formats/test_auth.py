"""Registry credentials from podman's and docker's files and credential helpers."""

import base64
import json
import os

import pytest

from layerscope.formats.auth import auth_files, find


@pytest.fixture(autouse=True)
def _no_user_files(monkeypatch, tmp_path):
    for var in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "DOCKER_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def write(path, doc):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def entry(user, password):
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_the_files_in_order(tmp_path, monkeypatch):
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "a.json"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "dc"))
    assert auth_files() == [str(tmp_path / "a.json"), str(tmp_path / "run" / "containers" / "auth.json"),
                            str(tmp_path / "dc" / "config.json"),
                            os.path.join(str(tmp_path / "home"), ".docker", "config.json")]
    write(tmp_path / "home" / ".docker" / "config.json", {"auths": {"r.example": entry("home", "1")}})
    assert find("r.example").user == "home"
    write(tmp_path / "dc" / "config.json", {"auths": {"r.example": entry("dc", "1")}})
    assert find("r.example").user == "dc"
    write(tmp_path / "run" / "containers" / "auth.json", {"auths": {"r.example": entry("run", "1")}})
    assert find("r.example").user == "run"
    write(tmp_path / "a.json", {"auths": {"r.example": entry("env", "1")}})
    assert find("r.example").user == "env"
    assert find("other.example") is None


def test_the_most_specific_key_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(write(tmp_path / "a.json", {"auths": {
        "r.example": entry("any", "1"), "r.example/team": entry("team", "1"),
        "r.example/team/app": entry("app", "1")}})))
    assert find("r.example", "team/app").user == "app"
    assert find("r.example", "team/other").user == "team"
    assert find("r.example", "solo").user == "any"


def test_docker_hub_under_its_old_names(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    write(tmp_path / "config.json", {"auths": {"https://index.docker.io/v1/": entry("hub", "pw")}})
    c = find("docker.io", "library/nginx")
    assert (c.user, c.password) == ("hub", "pw")


def test_unreadable_files_are_passed_over(tmp_path, monkeypatch):
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(write(tmp_path / "bad.json", "{not json")))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    write(tmp_path / "config.json", {"auths": {"r.example": {"auth": "!!!not base64"},
                                               "s.example": {"auth": base64.b64encode(b"nocolon").decode()}}})
    assert find("r.example") is None
    assert find("s.example") is None
    write(tmp_path / "config.json", ["a list"])
    assert find("r.example") is None


@pytest.mark.parametrize("key", ["credHelpers", "credsStore"])
def test_credential_helpers(tmp_path, monkeypatch, key):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-fake"
    helper.write_text('#!/bin/sh\nread server\n[ "$1" = get ] || exit 1\n'
                      'echo "{\\"ServerURL\\": \\"$server\\", \\"Username\\": \\"h-$server\\", \\"Secret\\": \\"s\\"}"\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    doc = {"credHelpers": {"r.example": "fake"}} if key == "credHelpers" else {"credsStore": "fake"}
    write(tmp_path / "config.json", doc)
    c = find("r.example", "x")
    assert (c.user, c.password, c.source) == ("h-r.example", "s", "docker-credential-fake")
    write(tmp_path / "config.json", {key: {"r.example": "missing"} if key == "credHelpers" else "missing"})
    assert find("r.example") is None  # a helper that is not installed is passed over
