"""Registry credentials, found where podman and docker keep them.

Files, first hit wins: $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json,
$DOCKER_CONFIG/config.json, ~/.docker/config.json.  In each, `auths` maps a
registry (maybe with a repository path, the most specific match first; Docker
Hub under its historical names too) to `auth`, base64 of `user:password`;
`credHelpers` names a helper per registry and `credsStore` one for all, run
as `docker-credential-NAME get` when it is installed.  A file that cannot be
read or parsed is passed over: it may belong to another tool's version.
"""

from __future__ import annotations

import base64
import json
import os

MAX_FILE = 4 << 20
HUB_KEYS = ("docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/",
            "https://index.docker.io/v1", "https://registry-1.docker.io")


class Credentials:
    __slots__ = ("user", "password", "source")

    def __init__(self, user: str, password: str, source: str) -> None:
        self.user = user
        self.password = password
        self.source = source  # the file (or helper) they came from, for messages

    def __repr__(self) -> str:  # never the secret
        return f"Credentials(user={self.user!r}, source={self.source!r})"


def auth_files() -> list[str]:
    out = []
    env = os.environ.get("REGISTRY_AUTH_FILE")
    if env:
        out.append(env)
    run = os.environ.get("XDG_RUNTIME_DIR")
    if run:
        out.append(os.path.join(run, "containers", "auth.json"))
    dc = os.environ.get("DOCKER_CONFIG")
    if dc:
        out.append(os.path.join(dc, "config.json"))
    out.append(os.path.join(os.path.expanduser("~"), ".docker", "config.json"))
    return out


def _load(path: str) -> dict | None:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE + 1)
        if len(data) > MAX_FILE:
            return None
        doc = json.loads(data.decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _keys(host: str, repo: str) -> list[str]:
    """The `auths` keys that may hold credentials for host/repo, the most specific first."""
    hosts = list(HUB_KEYS) if host == "docker.io" else [host]
    keys = []
    parts = repo.split("/") if repo else []
    for h in hosts:
        for n in range(len(parts), 0, -1):
            keys.append(f"{h}/{'/'.join(parts[:n])}")
        keys.append(h)
    # docker writes some keys as URLs
    keys += [f"https://{host}", f"http://{host}"] if host != "docker.io" else []
    return keys


def _decode(entry, source: str) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            user, sep, password = base64.b64decode(auth, validate=False).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if sep:
            return Credentials(user, password, source)
    user, password = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(password, str) and user:
        return Credentials(user, password, source)
    return None


def _helper(name: str, server: str) -> Credentials | None:
    """Ask `docker-credential-NAME get`, when it is installed, for `server`."""
    import shutil
    import subprocess

    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        return None
    exe = shutil.which(f"docker-credential-{name}")
    if exe is None:
        return None
    try:
        r = subprocess.run([exe, "get"], input=server.encode(), capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0 or len(r.stdout) > MAX_FILE:
        return None
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    user, secret = doc.get("Username"), doc.get("Secret")
    if isinstance(user, str) and isinstance(secret, str) and secret:
        return Credentials(user, secret, f"docker-credential-{name}")
    return None


def find(host: str, repo: str = "") -> Credentials | None:
    """Credentials for `host` (as the reference names it: docker.io,
    localhost:5000) and repository `repo`, or None for anonymous access."""
    keys = _keys(host, repo)
    for path in auth_files():
        doc = _load(path)
        if doc is None:
            continue
        helpers = doc.get("credHelpers")
        if isinstance(helpers, dict):
            for k in keys:
                if k in helpers:
                    c = _helper(helpers[k], k)
                    if c:
                        return c
        auths = doc.get("auths")
        if isinstance(auths, dict):
            for k in keys:
                c = _decode(auths.get(k), path)
                if c:
                    return c
        store = doc.get("credsStore")
        if store:
            c = _helper(store, "https://index.docker.io/v1/" if host == "docker.io" else host)
            if c:
                return c
    return None
