"""Registries for the registry tests: Debian's `docker-registry` (the CNCF
distribution server) on 127.0.0.1, plain, with htpasswd auth or with TLS,
images pushed to it with skopeo; and a small fake registry serving an OCI
layout, for what a real one never does (bearer tokens without a token
server, tampered blobs, odd media types, failures and redirects)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REGISTRY = shutil.which("docker-registry")
SKOPEO = shutil.which("skopeo")
OPENSSL = shutil.which("openssl")
HTPASSWD = shutil.which("htpasswd")


def need_tools(*tools: str) -> None:
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install docker-registry skopeo apache2-utils)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """A `docker-registry serve` process; its access log counts requests."""

    def __init__(self, root: Path, htpasswd: Path | None = None, tls: tuple[Path, Path] | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log_path = root / "registry.log"
        self.tls = tls
        cfg = ["version: 0.1", "log:", "  level: warn", "  accesslog:", "    disabled: false",
               "storage:", "  filesystem:", f"    rootdirectory: {root / 'data'}", "  delete:", "    enabled: true",
               "http:", f"  addr: {self.host}", "  secret: test-only"]
        if tls:
            cfg += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
        if htpasswd:
            cfg += ["auth:", "  htpasswd:", "    realm: test", f"    path: {htpasswd}"]
        (root / "config.yml").write_text("\n".join(cfg) + "\n")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([REGISTRY, "serve", str(root / "config.yml")], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._wait()

    def _wait(self) -> None:
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("docker-registry exited: " + self.log_path.read_text(errors="replace")[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start")

    def requests(self, with_bytes: bool = False) -> list[tuple]:
        """(method, path, status) of every request served so far; with
        `with_bytes`, the bytes of each answer's body too."""
        self.log.flush()
        # the registry logs a request once its handler returns, which can be just after the
        # client has read the whole answer: wait until the log stops growing
        size, end = -1, time.monotonic() + 3
        while time.monotonic() < end:
            now = self.log_path.stat().st_size
            if now == size:
                break
            size = now
            time.sleep(0.1)
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            m = re.search(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP/[\d.]+" (\d+) (\d+|-)', line)
            if m:
                row = (m.group(1), m.group(2), int(m.group(3)))
                out.append(row + (int(m.group(4).replace("-", "0")),) if with_bytes else row)
        return out

    def blob_gets(self, repo: str | None = None) -> list[str]:
        """The digests of the blobs GET has fetched (skopeo's pushes only HEAD and PUT)."""
        out = []
        for method, path, status in self.requests():
            m = re.fullmatch(r"/v2/(.+)/blobs/(sha256:[0-9a-f]{64})", path)
            if method == "GET" and m and (repo is None or m.group(1) == repo) and status in (200, 307):
                out.append(m.group(2))
        return out

    def push(self, archive: Path, ref: str, transport: str = "oci-archive", all_images: bool = False,
             creds: str | None = None, compress: str | None = None) -> None:
        args = [SKOPEO, "copy", "--quiet", "--dest-tls-verify=false", "--insecure-policy"]
        if compress:
            args += ["--dest-compress-format", compress]
        if all_images:
            args.append("--all")
        if creds:
            args += ["--dest-creds", creds]
        r = subprocess.run([*args, f"{transport}:{archive}", f"docker://{self.host}/{ref}"],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"skopeo copy failed: {r.stderr.strip()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def make_ca(d: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key)."""
    def run(*args: str) -> None:
        subprocess.run([OPENSSL, *args], check=True, capture_output=True, cwd=d, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=layerscope test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return d / "ca.pem", d / "server.pem", d / "server.key"


def htpasswd_file(d: Path, user: str, password: str) -> Path:
    p = d / "htpasswd"
    if HTPASSWD:
        subprocess.run([HTPASSWD, "-Bbc", str(p), user, password], check=True, capture_output=True, timeout=60)
    else:  # the registry reads bcrypt only
        pytest.skip("htpasswd (apache2-utils) not installed")
    return p


def auth_file(d: Path, host: str, user: str, password: str, name: str = "auth.json") -> Path:
    p = d / name
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    p.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    return p


# ---------------------------------------------------------------------------
# A fake registry serving an OCI image layout directory

class FakeRegistry:
    """Serves /v2/<repo>/manifests/<tag|digest> and /v2/<repo>/blobs/<digest>
    from an OCI layout directory (its index.json's ref names are the tags).
    Knobs: `token` (bearer auth with a token endpoint checking `creds`),
    `fail` (path -> statuses to answer first), `redirect` (blobs answered
    with a redirect to another host name for the same server), `content_type`
    and `manifest_override` (tag -> bytes), `blob_override` (digest -> bytes)."""

    def __init__(self, layout: Path) -> None:
        self.layout = layout
        self.token: str | None = None
        self.creds: str | None = None
        self.fail: dict[str, list[int]] = {}
        self.redirect = False
        self.content_type: dict[str, str] = {}
        self.manifest_override: dict[str, bytes] = {}
        self.blob_override: dict[str, bytes] = {}
        self.gate: threading.Event | None = None  # blob requests wait for it when set
        self.half_gate: threading.Event | None = None  # when set, layer blobs stop halfway until it opens
        self.ranges = True  # Range requests are answered with 206 and the bytes asked for
        self.drop_once: set[str] = set()  # blobs whose first answer stops halfway and closes the connection
        self.log: list[tuple[str, str, str]] = []  # (path, Authorization, status)
        self.tags = {}
        index = json.loads((layout / "index.json").read_text())
        for d in index["manifests"]:
            tag = (d.get("annotations") or {}).get("org.opencontainers.image.ref.name", "latest")
            self.tags[tag] = d
        self.config_digests = set()
        for p in (layout / "blobs" / "sha256").iterdir():
            try:
                doc = json.loads(p.read_bytes())
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(doc, dict) and isinstance(doc.get("config"), dict) and "digest" in doc["config"]:
                self.config_digests.add(doc["config"]["digest"])
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                fake._serve(self)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that stops reading (a body too large to be a manifest) is what some tests do

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def blob_bytes(self, digest: str) -> bytes:
        if digest in self.blob_override:
            return self.blob_override[digest]
        return (self.layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()

    def blob_gets(self) -> list[str]:
        return [p for p, _, s in self.log if "/blobs/" in p and s == "200"]

    def range_gets(self) -> list[str]:
        return [p for p, _, s in self.log if "/blobs/" in p and s == "206"]

    def _send(self, h, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.log.append((h.path, h.headers.get("Authorization") or "", str(status)))
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _serve(self, h) -> None:
        path = h.path.split("?", 1)[0]
        if path == "/token":
            want = "Basic " + base64.b64encode(self.creds.encode()).decode() if self.creds else None
            if want and h.headers.get("Authorization") != want:
                return self._send(h, 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad creds"}]}')
            return self._send(h, 200, json.dumps({"token": self.token}).encode())
        if path.startswith("/storage/"):
            if h.headers.get("Authorization"):
                return self._send(h, 400, b"credentials sent to blob storage")
            return self._send(h, 200, self.blob_bytes(path[len("/storage/"):]))
        if self.fail.get(path):
            return self._send(h, self.fail[path].pop(0), b"", {"Retry-After": "0"})
        if self.token and h.headers.get("Authorization") != f"Bearer {self.token}":
            realm = f"http://{self.host}/token"
            return self._send(h, 401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {
                "WWW-Authenticate": f'Bearer realm="{realm}",service="fake",scope="repository:x:pull"'})
        if path == "/v2/":
            return self._send(h, 200, b"{}")
        m = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/(.+)", path)
        if not m:
            return self._send(h, 404)
        kind, target = m.group(2), m.group(3)
        if kind == "blobs":
            if self.gate is not None and target not in self.config_digests:
                self.gate.wait(30)
            try:
                body = self.blob_bytes(target)
            except OSError:
                return self._send(h, 404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}')
            if self.redirect:
                return self._send(h, 307, b"", {"Location": f"http://localhost:{self.port}/storage/{target}"})
            if target in self.drop_once:
                self.drop_once.discard(target)
                self.log.append((h.path, h.headers.get("Authorization") or "", "200"))
                h.send_response(200)
                h.send_header("Content-Length", str(len(body)))
                h.end_headers()
                h.wfile.write(body[:len(body) // 2])
                h.wfile.flush()
                h.close_connection = True
                return None
            rng = re.fullmatch(r"bytes=(\d+)-(\d+)", h.headers.get("Range") or "")
            if rng and self.ranges:
                a, b = int(rng.group(1)), int(rng.group(2)) + 1
                return self._send(h, 206, body[a:b], {"Content-Range": f"bytes {a}-{b - 1}/{len(body)}"})
            if self.half_gate is not None and target not in self.config_digests:
                self.log.append((h.path, h.headers.get("Authorization") or "", "200"))
                h.send_response(200)
                h.send_header("Content-Length", str(len(body)))
                h.end_headers()
                h.wfile.write(body[:len(body) // 2])
                h.wfile.flush()
                self.half_gate.wait(30)
                h.wfile.write(body[len(body) // 2:])
                return None
            return self._send(h, 200, body)
        if target in self.manifest_override:
            body = self.manifest_override[target]
            mt = self.content_type.get(target, "application/vnd.oci.image.manifest.v1+json")
        elif target in self.tags or target.startswith("sha256:"):
            d = self.tags.get(target)
            digest = d["digest"] if d else target
            try:
                body = self.blob_bytes(digest)
            except OSError:
                return self._send(h, 404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
            mt = self.content_type.get(target) or json.loads(body).get("mediaType") or (d or {}).get("mediaType", "")
        else:
            return self._send(h, 404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self._send(h, 200, body, {"Content-Type": mt, "Docker-Content-Digest": digest})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
