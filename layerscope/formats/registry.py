"""Images straight from a registry (the OCI distribution API, `/v2/`).

`read_registry` fetches the manifest (and, for an index, the manifests of
the platforms wanted) and the configs at once; layer blobs are fetched only
when their layers are indexed (`Layer.fetch`, run by layers.indexing, several
at once, each indexed as it streams), into the digest-keyed blob store
(layers/blobstore.py), then read like an archive's blobs.  A layer whose
index is cached by its digest is not fetched until a file of it is read; an
eStargz or zstd:chunked layer is listed from its table of contents, fetched
with Range requests (`_Fetch.listing`, layers/toc.py).  Every manifest,
config and blob is checked against its digest as it streams, and a table of
contents against the digest its descriptor gives it: a registry is one more
stranger.

The registry is read through the same OCI reader as an image layout: this
module presents it as a Container whose names are `blobs/<alg>/<hex>` and
whose `index.json` names the one manifest the reference points to, so that
indexes, attestations and platforms are handled by one code path.

HTTP: urllib3 (see README, Dependencies).  Auth is the challenge flow
docker uses: a request answered 401 with `WWW-Authenticate: Basic` is sent
again with the user's credentials (formats/auth.py), with `Bearer realm=...`
a token is fetched from the realm first (with the credentials, when there
are any) and sent.  TLS is verified against the system's store (SSL_CERT_FILE
and SSL_CERT_DIR are honoured); LAYERSCOPE_TLS_VERIFY=false (--tls-verify=false)
turns the check off and allows plain http, which localhost and 127.0.0.0/8
also get when their https handshake fails, as docker and podman allow.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from _thread import allocate_lock

from ..errors import ImageError, LayerError, one_line
from ..layers import blobstore, contents, toc
from ..model import BlobRef, Image, Layer, Platform, host_platform
from . import reference
from .container import MAX_JSON, MAX_JSON_VALUES, Container
from .oci import INDEX_TYPES, MANIFEST_TYPES, read_oci_layout

SCHEMA1_TYPES = {"application/vnd.docker.distribution.manifest.v1+json",
                 "application/vnd.docker.distribution.manifest.v1+prettyjws"}
ACCEPT = ", ".join(sorted(INDEX_TYPES | MANIFEST_TYPES)) + ", " + ", ".join(f"{t};q=0.5" for t in sorted(SCHEMA1_TYPES))
MAX_MANIFEST = 4 << 20  # distribution's own limit on a manifest
MAX_TOKEN = 1 << 20
MAX_ERROR_BODY = 64 << 10
MAX_LAYER = 1 << 42  # no registry serves a larger blob; a larger claim is a hostile manifest
MAX_REDIRECTS = 5
ATTEMPTS = 4  # tries of one request on 429, 5xx or a dropped connection
BACKOFF_S = 0.5  # the first wait between tries; doubled each time
MAX_RETRY_AFTER_S = 30.0  # a Retry-After longer than this is not waited for
FETCH_WORKERS = 4
CHUNK = 1 << 20
TIMEOUT_CONNECT_S = 15.0
TIMEOUT_READ_S = 120.0
RETRY_STATUSES = {429, 500, 502, 503, 504}
REDIRECTS = {301, 302, 303, 307, 308}
_DIGEST_PATH = re.compile(r"^blobs/([a-z0-9]+)/([0-9a-f]+)$")


def tls_verify() -> bool:
    return os.environ.get("LAYERSCOPE_TLS_VERIFY", "").lower() not in ("false", "0", "no", "off")


def _local(hostname: str) -> bool:
    return hostname in ("localhost", "::1") or hostname.startswith("127.") or hostname.endswith(".localhost")


def _error_detail(data: bytes) -> str:
    """The first error a registry's JSON error body names, '' when none."""
    try:
        doc = json.loads(data.decode("utf-8", "replace"))
        err = doc["errors"][0]
        code, msg = str(err.get("code") or ""), str(err.get("message") or "")
    except Exception:
        return ""
    text = f"{code}: {msg}" if code and msg else code or msg
    return one_line(text, 200)


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="..."` -> ('bearer', {realm: ..., service: ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for m in re.finditer(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))', rest):
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
    return scheme.lower(), params


class _Retry(Exception):
    """A request that may work if tried again: the connection dropped."""


class Client:
    """One registry host: its scheme (decided once), a connection pool, and
    the credentials and tokens for it.  Shared by the threads fetching blobs."""

    def __init__(self, ref: reference.Reference, verify: bool) -> None:
        import ssl

        import urllib3

        self._urllib3 = urllib3
        self.host = ref.api_host
        self.name = ref.host  # as the user named it, for credentials and messages
        self.verify = verify
        self.insecure_ok = not verify or _local(ref.hostname)
        self.scheme = ""
        ctx = ssl.create_default_context()  # the system's store, and SSL_CERT_FILE / SSL_CERT_DIR
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        kw = {} if verify else {"assert_hostname": False}
        if not verify:  # asked for: a warning on stderr per request would only repeat it
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.pool = urllib3.PoolManager(maxsize=FETCH_WORKERS, block=False, ssl_context=ctx, retries=False,
                                        timeout=urllib3.Timeout(connect=TIMEOUT_CONNECT_S, read=TIMEOUT_READ_S),
                                        headers={"User-Agent": "layerscope", "Accept-Encoding": "identity"}, **kw)
        self.lock = allocate_lock()
        self.auth: dict[str, str] = {}  # scope -> Authorization header value
        self._creds = None
        self._creds_looked = False

    # -- credentials -----------------------------------------------------
    def creds(self, repo: str):
        if not self._creds_looked:
            from .auth import find

            self._creds = find(self.name, repo)
            self._creds_looked = True
        return self._creds

    # -- transport -------------------------------------------------------
    def _fail(self, e: Exception) -> ImageError:
        reason = getattr(e, "reason", None) or e
        text = str(reason)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            detail = text.split("certificate verify failed:", 1)[-1].split(")", 1)[0].strip(" ('\"")
            return ImageError(f"the TLS certificate is not trusted ({detail or 'verify failed'}); add its CA to "
                              "the system store or SSL_CERT_FILE, or pass --tls-verify=false", self.name)
        if isinstance(reason, self._urllib3.exceptions.NewConnectionError) or "refused" in text.lower():
            return ImageError("cannot connect to the registry (connection refused or unreachable)", self.name)
        if isinstance(reason, self._urllib3.exceptions.NameResolutionError) or "resolve" in text.lower():
            return ImageError("cannot resolve the registry's host name", self.name)
        if isinstance(reason, self._urllib3.exceptions.TimeoutError):
            return ImageError("the registry did not answer in time", self.name)
        return ImageError(f"cannot talk to the registry ({type(reason).__name__}: {text[:200]})", self.name)

    def _send(self, url: str, headers: dict[str, str]):
        """GET url, following redirects (to blob storage, typically) without
        sending the registry's Authorization to another host."""
        from urllib.parse import urljoin, urlsplit

        u3 = self._urllib3
        origin = urlsplit(url).netloc
        for _ in range(MAX_REDIRECTS + 1):
            try:
                r = self.pool.request("GET", url, headers=headers, preload_content=False, redirect=False)
            except u3.exceptions.SSLError as e:
                raise self._fail(e) from None
            except (u3.exceptions.ProtocolError, u3.exceptions.ReadTimeoutError, u3.exceptions.ConnectTimeoutError) as e:
                raise _Retry(self._fail(e).message) from None
            except u3.exceptions.HTTPError as e:
                raise self._fail(e) from None
            if r.status not in REDIRECTS:
                return r
            loc = r.headers.get("Location") or ""
            _done(r)
            nxt = urljoin(url, loc)
            if not loc or urlsplit(nxt).scheme not in ("http", "https"):
                raise ImageError(f"the registry redirected to {one_line(loc, 120)!r}, which is no http(s) address",
                                 self.name)
            if urlsplit(nxt).netloc != origin:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            url = nxt
        raise ImageError(f"more than {MAX_REDIRECTS} redirects", self.name)

    def _base(self) -> str:
        """scheme://host, deciding the scheme once: https, or http where that
        is allowed and the https handshake failed for another reason than an
        untrusted certificate."""
        if self.scheme:
            return f"{self.scheme}://{self.host}"
        try:
            r = self._send(f"https://{self.host}/v2/", {})
            _done(r)
            self.scheme = "https"
        except ImageError as e:
            if not self.insecure_ok or (self.verify and "not trusted" in e.message):
                raise
            self.scheme = "http"
        except _Retry as e:
            if not self.insecure_ok:
                raise ImageError(str(e), self.name) from None
            self.scheme = "http"
        return f"{self.scheme}://{self.host}"

    def open(self, path: str, repo: str, what: str, accept: str | None = None, byte_range: tuple[int, int] | None = None):
        """A 200 response to GET path (its body unread), or with `byte_range`
        (start, end) a 206 holding those bytes, after auth, redirects and
        retries; any other answer is an ImageError saying what it means."""
        url = self._base() + path
        scope = f"repository:{repo}:pull"
        authed = False
        attempt = 0
        while True:
            headers = {"Accept": accept} if accept else {}
            if byte_range is not None:
                headers["Range"] = f"bytes={byte_range[0]}-{byte_range[1] - 1}"
            token = self.auth.get(scope)
            if token:
                headers["Authorization"] = token
            try:
                r = self._send(url, headers)
            except _Retry as e:
                attempt += 1
                if attempt >= ATTEMPTS:
                    raise ImageError(str(e), self.name) from None
                time.sleep(BACKOFF_S * 2 ** (attempt - 1))
                continue
            if r.status == (200 if byte_range is None else 206):
                return r
            if r.status == 200:  # a range asked for, the whole blob coming
                _drop(r)
                raise ImageError(f"the registry does not serve parts of {what} (HTTP 200 to a Range request)",
                                 self.name)
            body = r.read(MAX_ERROR_BODY) if r.status >= 400 else b""
            _done(r)
            if r.status == 401 and not authed:
                self._authenticate(r.headers.get("WWW-Authenticate") or "", scope, repo, sent=bool(token))
                authed = True
                continue
            if r.status in RETRY_STATUSES and attempt < ATTEMPTS - 1:
                attempt += 1
                wait = BACKOFF_S * 2 ** (attempt - 1)
                try:
                    wait = max(wait, float(r.headers.get("Retry-After") or 0))
                except ValueError:
                    pass
                if wait > MAX_RETRY_AFTER_S:
                    raise ImageError(f"the registry asks to wait {wait:.0f} s before trying again (HTTP {r.status})",
                                     self.name)
                time.sleep(wait)
                continue
            raise self._status_error(r.status, body, what, repo)

    def _status_error(self, status: int, body: bytes, what: str, repo: str) -> ImageError:
        detail = _error_detail(body)
        tail = f" ({detail})" if detail else ""
        if status == 401:
            c = self.creds(repo)
            if c is None:
                return ImageError(f"the registry requires authentication, and no credentials for {self.name} were "
                                  "found (podman login / docker login, or $REGISTRY_AUTH_FILE){tail}", self.name)
            return ImageError(f"authentication failed: the registry refused the credentials of user {c.user!r} "
                              f"from {c.source}{tail}", self.name)
        if status == 403:
            return ImageError(f"access to {what} is denied (HTTP 403){tail}", self.name)
        if status == 404:
            return ImageError(f"{what} not found (HTTP 404){tail}", self.name)
        if status in RETRY_STATUSES:
            return ImageError(f"the registry failed to serve {what} (HTTP {status}, {ATTEMPTS} tries){tail}", self.name)
        return ImageError(f"the registry answered HTTP {status} for {what}{tail}", self.name)

    def _authenticate(self, header: str, scope: str, repo: str, sent: bool) -> None:
        scheme, params = _challenge(header)
        creds = self.creds(repo)
        if scheme == "basic":
            if creds is None:
                raise self._status_error(401, b"", "", repo)
            if sent:
                raise self._status_error(401, b"", "", repo)
            raw = f"{creds.user}:{creds.password}".encode()
            with self.lock:
                self.auth[scope] = "Basic " + base64.b64encode(raw).decode("ascii")
            return
        if scheme != "bearer":
            raise ImageError(f"the registry asks for an authentication scheme layerscope does not know "
                             f"({one_line(header, 80)!r})", self.name)
        realm = params.get("realm", "")
        from urllib.parse import urlencode, urlsplit

        if urlsplit(realm).scheme not in ("http", "https"):
            raise ImageError(f"the registry's token realm {one_line(realm, 120)!r} is no http(s) address", self.name)
        q = {"scope": scope}
        if params.get("service"):
            q["service"] = params["service"]
        url = realm + ("&" if "?" in realm else "?") + urlencode(q)
        headers = {}
        if creds is not None and urlsplit(realm).scheme == "http" and self.scheme == "https":
            raise ImageError(f"the registry's token service {one_line(realm, 120)!r} is plain http: the credentials "
                             "are not sent there", self.name)
        if creds is not None:
            raw = f"{creds.user}:{creds.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        for attempt in range(ATTEMPTS):
            try:
                r = self._send(url, headers)
            except _Retry as e:
                if attempt == ATTEMPTS - 1:
                    raise ImageError(f"token service: {e}", self.name) from None
                time.sleep(BACKOFF_S * 2 ** attempt)
                continue
            if r.status in RETRY_STATUSES and attempt < ATTEMPTS - 1:
                _done(r)
                time.sleep(BACKOFF_S * 2 ** attempt)
                continue
            break
        data = r.read(MAX_TOKEN + 1)
        _done(r)
        if r.status in (401, 403):
            raise self._status_error(401, data, "", repo)
        if r.status != 200:
            raise ImageError(f"the token service answered HTTP {r.status}{_error_detail(data) and ': '}"
                             f"{_error_detail(data)}", self.name)
        if len(data) > MAX_TOKEN:
            raise ImageError("the token service's answer is too large to be one", self.name)
        try:
            doc = json.loads(data.decode("utf-8"))
            token = doc.get("token") or doc.get("access_token")
        except Exception:
            token = None
        if not isinstance(token, str) or not token or not token.isascii() or any(c in token for c in "\r\n"):
            raise ImageError("the token service's answer holds no token", self.name)
        with self.lock:
            self.auth[scope] = "Bearer " + token

    # -- reading ---------------------------------------------------------
    def read_capped(self, r, cap: int, what: str) -> bytes:
        try:
            declared = int(r.headers.get("Content-Length") or -1)
        except ValueError:
            declared = -1
        if declared > cap:
            _drop(r)
            raise ImageError(f"{what} is {declared:,} bytes, too large to be one", self.name)
        try:
            data = r.read(cap + 1)
        except self._urllib3.exceptions.HTTPError as e:
            _drop(r)
            raise self._fail(e) from None
        if len(data) > cap:
            _drop(r)
            raise ImageError(f"{what} is more than {cap:,} bytes, too large to be one", self.name)
        r.release_conn()
        return data

    def read_range(self, repo: str, digest: str, start: int, end: int, place: str):
        """The bytes [start, end) of a blob, as an iterator of what arrives
        (a Range request: eStargz and zstd:chunked layers are read in parts)."""
        r = self.open(f"/v2/{repo}/blobs/{digest}", repo, f"blob {digest[:19]}…", byte_range=(start, end))
        left = end - start
        try:
            while left > 0:
                chunk = r.read1(min(CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                yield chunk
        except self._urllib3.exceptions.HTTPError as e:
            _drop(r)
            raise ImageError(f"reading part of a blob broke off ({self._fail(e).message})", place) from None
        except BaseException:
            _drop(r)
            raise
        if left:
            _drop(r)
            raise ImageError(f"the registry sent {end - start - left:,} of the {end - start:,} bytes asked for "
                             f"of {digest[:19]}…", place)
        _done(r)

    def read_range_whole(self, repo: str, digest: str, start: int, end: int, place: str) -> bytes:
        return b"".join(self.read_range(repo, digest, start, end, place))

    def download(self, repo: str, digest: str, size: int, place: str, progress=None, sink=None) -> str:
        """Stream a blob into the blob store, checked against size and digest
        as it comes, and to `sink` (layers/pipe.py: an indexer reading it as
        it comes); a dropped connection starts it again (a few times)."""
        _check_space(size, place)
        for attempt in range(ATTEMPTS):
            r = self.open(f"/v2/{repo}/blobs/{digest}", repo, f"blob {digest[:19]}…")
            w = blobstore.Writer(digest, size, place)
            if attempt and sink is not None:
                sink.restart()
                sink = None
            try:
                # read1: what has arrived, not a full chunk, so that the indexer starts on the first bytes
                while chunk := r.read1(CHUNK):
                    w.write(chunk)
                    if sink is not None:
                        sink.write(chunk)
                    if progress is not None:
                        progress(w.got)
                path = w.finish()
                r.release_conn()
                return path
            except self._urllib3.exceptions.HTTPError as e:
                w.abort()
                _drop(r)
                if attempt == ATTEMPTS - 1:
                    raise ImageError(f"the download broke off ({self._fail(e).message})", place) from None
                time.sleep(BACKOFF_S * 2 ** attempt)
            except BaseException:
                w.abort()
                _drop(r)
                raise
        raise AssertionError("unreachable")  # pragma: no cover


def _done(r) -> None:
    """Give a response's connection back: after reading a small rest of the
    body, or closed, when the rest is large or of unknown size (a server that
    streams forever must not keep us reading what we do not want)."""
    try:
        n = int(r.headers.get("Content-Length") or -1)
    except ValueError:
        n = -1
    if 0 <= n <= MAX_ERROR_BODY:
        try:
            r.drain_conn()
        except Exception:
            _drop(r)
            return
        r.release_conn()
    else:
        _drop(r)


def _drop(r) -> None:
    """Close a response whose body is not read to its end: its connection
    cannot serve another request."""
    try:
        r.close()
    finally:
        r.release_conn()


def _check_space(size: int, place: str) -> None:
    try:
        st = os.statvfs(blobstore.store_dir())
    except (OSError, AttributeError):
        return
    free = st.f_bavail * st.f_frsize
    if size > free:
        raise ImageError(f"the layer is {size:,} bytes and the blob store has {free:,} bytes free", place)


_clients: dict[tuple[str, bool], Client] = {}
_clients_lock = allocate_lock()


def client_for(ref: reference.Reference) -> Client:
    key = (ref.host, tls_verify())
    with _clients_lock:
        c = _clients.get(key)
        if c is None:
            c = _clients[key] = Client(ref, key[1])
        return c


def _parse_json(data: bytes, what: str, place: str):
    if data.count(b",") + data.count(b":") + data.count(b"[") > MAX_JSON_VALUES:
        raise ImageError(f"{what} holds more than {MAX_JSON_VALUES:,} JSON values, too many to be one", place)
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ImageError(f"invalid {what} ({e})", place) from None
    except RecursionError:
        raise ImageError(f"invalid {what} (nested too deeply)", place) from None


def _kind(content_type: str, data: bytes, place: str) -> str:
    """The media type of a fetched manifest, as one the OCI reader knows;
    an ImageError for one it cannot read."""
    mt = content_type.split(";", 1)[0].strip().lower()
    if mt in INDEX_TYPES or mt in MANIFEST_TYPES:
        return mt
    doc = _parse_json(data, "manifest", place) if data.lstrip()[:1] == b"{" else None
    body = doc.get("mediaType") if isinstance(doc, dict) else None
    if mt in SCHEMA1_TYPES or body in SCHEMA1_TYPES or (isinstance(doc, dict) and doc.get("schemaVersion") == 1):
        raise ImageError("the registry serves this image only as a Docker schema 1 manifest (from before Docker "
                         "1.10), which layerscope cannot read", place)
    if mt in ("", "application/json", "text/plain", "application/octet-stream") and isinstance(doc, dict):
        if body in INDEX_TYPES or body in MANIFEST_TYPES:
            return body
        if not body and isinstance(doc.get("manifests"), list):
            return "application/vnd.oci.image.index.v1+json"
        if not body and isinstance(doc.get("layers"), list):
            return "application/vnd.oci.image.manifest.v1+json"
    shown = one_line(mt or str(body or "none"), 120)
    raise ImageError(f"the manifest's media type is {shown!r}, which layerscope cannot read (it reads OCI and "
                     "Docker v2 image manifests and indexes)", place)


def _digest_of(data: bytes, alg: str) -> str:
    import hashlib

    return f"{alg}:{hashlib.new(alg, data).hexdigest()}"


class RegistryContainer(Container):
    """A repository of a registry, as the OCI reader reads an image layout."""

    def __init__(self, client: Client, ref: reference.Reference, label: str, platforms: list[str]) -> None:
        self.client = client
        self.ref = ref
        self.label = label
        self.platforms = platforms or [host_platform()]
        self.fetched: dict[str, BlobRef] = {}  # digest -> a manifest or config in the blob store
        self.sizes: dict[str, int] = {}  # digest -> size, from the descriptors read so far
        self.annotations: dict[str, dict] = {}  # digest -> a layer descriptor's annotations (eStargz, zstd:chunked)
        self.layer_paths: set[str] = set()  # blob-store files of layers named so far (maybe not fetched)
        self.top = self._manifest(ref.target, ref.digest)

    def _place(self) -> str:
        return self.label

    def _manifest(self, target: str, want: str) -> tuple[str, str, int]:
        """Fetch a manifest (by tag or digest) into the blob store: (digest,
        media type, size).  Its bytes must have the digest asked for, and
        the one the registry states (Docker-Content-Digest) when it states one."""
        what = f"manifest of {self.ref}" if target == self.ref.target else f"manifest {target[:19]}…"
        r = self.client.open(f"/v2/{self.ref.path}/manifests/{target}", self.ref.path, what, accept=ACCEPT)
        ctype = r.headers.get("Content-Type") or ""
        stated = (r.headers.get("Docker-Content-Digest") or "").strip()
        data = self.client.read_capped(r, MAX_MANIFEST, what)
        mt = _kind(ctype, data, self.label)
        for claim, whose in ((want, "asked for"), (stated, "the registry states")):
            if not claim:
                continue
            alg, _ = blobstore.check_digest(claim, self.label)
            got = _digest_of(data, alg)
            if got != claim:
                raise ImageError(f"the manifest's bytes are {got[:19]}…, {whose} {claim[:19]}… (a corrupt or "
                                 "tampered manifest)", self.label)
        digest = want or stated or _digest_of(data, "sha256")
        path = blobstore.put(digest, data, self.label)
        self.fetched[digest] = BlobRef(path, 0, len(data), _name(digest))
        return digest, mt, len(data)

    def _config(self, digest: str) -> None:
        size = self.sizes.get(digest, -1)
        if size > MAX_JSON:
            raise ImageError(f"the image config is {size:,} bytes, too large to be one", self.label)
        path = blobstore.path_of(digest, self.label)
        if size < 0 or not blobstore.present(path, size):
            r = self.client.open(f"/v2/{self.ref.path}/blobs/{digest}", self.ref.path,
                                 f"image config {digest[:19]}…")
            data = self.client.read_capped(r, MAX_JSON, "the image config")
            path = blobstore.put(digest, data, self.label, None if size < 0 else size)
            size = len(data)
        self.fetched[digest] = BlobRef(path, 0, size, _name(digest))

    # -- Container -------------------------------------------------------
    def names(self) -> list[str]:
        return ["oci-layout", "index.json"]

    def exists(self, name: str) -> bool:
        return name in ("oci-layout", "index.json")

    def blob(self, name: str) -> BlobRef:
        digest = _digest_name(name, self.label)
        ref = self.fetched.get(digest)
        if ref is not None:
            return ref
        size = self.sizes.get(digest)
        if size is None:
            raise ImageError(f"{name!r} is named by no descriptor read", self.label)
        path = blobstore.path_of(digest, self.label)
        self.layer_paths.add(path)
        return BlobRef(path, 0, size, name)

    def read_json(self, name: str, what: str = "JSON"):
        if name == "index.json":
            digest, mt, size = self.top
            return {"schemaVersion": 2, "manifests": [
                {"mediaType": mt, "digest": digest, "size": size,
                 "annotations": {"io.containerd.image.name": str(self.ref)}}]}
        digest = _digest_name(name, self.label)
        if digest not in self.fetched:
            if what in ("manifest", "image index"):
                self._manifest(digest, digest)
            else:
                self._config(digest)
        doc = super().read_json(name, what)
        if isinstance(doc, dict):
            self._descriptors(doc)
        return doc

    def _descriptors(self, doc: dict) -> None:
        """Note the sizes a manifest gives its config and layers, and narrow an
        index to the platforms wanted (when any of its entries is one of them)."""
        descs = []
        if isinstance(doc.get("config"), dict):
            descs.append(doc["config"])
        if isinstance(doc.get("layers"), list):
            descs += [d for d in doc["layers"] if isinstance(d, dict)]
        for d in descs:
            dig, size = d.get("digest"), d.get("size")
            if not isinstance(dig, str):
                continue
            if type(size) is not int or not 0 <= size <= MAX_LAYER:
                raise ImageError(f"the descriptor of {one_line(dig, 80)} gives no valid size ({one_line(repr(size), 40)})",
                                 self.label)
            self.sizes[dig] = size
            if isinstance(d.get("annotations"), dict):
                self.annotations[dig] = d["annotations"]
        mans = doc.get("manifests")
        if isinstance(mans, list):
            wanted = [d for d in mans if isinstance(d, dict) and self._wanted(d.get("platform"))]
            if wanted:
                doc["manifests"] = wanted

    def _wanted(self, p) -> bool:
        if not isinstance(p, dict):
            return False
        plat = Platform(str(p.get("os") or ""), str(p.get("architecture") or ""), str(p.get("variant") or ""))
        return any(plat.matches(w) for w in self.platforms)


def _name(digest: str) -> str:
    alg, _, hexd = digest.partition(":")
    return f"blobs/{alg}/{hexd}"


def _digest_name(name: str, place: str) -> str:
    m = _DIGEST_PATH.match(name)
    if not m:
        raise ImageError(f"{name!r} names no blob", place)
    return f"{m.group(1)}:{m.group(2)}"


class _Fetch:
    """Layer.fetch of a registry layer: brings its blob into the blob store;
    for an eStargz or zstd:chunked layer, `listing` reads its table of
    contents with Range requests instead, and `read` then one file's parts."""

    __slots__ = ("client", "repo", "digest", "size", "place", "lock", "annotations", "toc", "comp")

    def __init__(self, client: Client, repo: str, digest: str, size: int, place: str, annotations: dict) -> None:
        self.client, self.repo, self.digest, self.size, self.place = client, repo, digest, size, place
        self.lock = allocate_lock()
        self.annotations = annotations
        self.toc = None
        self.comp = ""

    def present(self) -> bool:
        return blobstore.present(blobstore.path_of(self.digest, self.place), self.size)

    def __call__(self, progress=None, sink=None) -> None:
        with self.lock:  # a preview and the indexer may both want it: one download
            if not self.present():
                self.client.download(self.repo, self.digest, self.size, self.place, progress, sink)

    # -- a table of contents ---------------------------------------------
    def partial(self) -> bool:
        """Whether the layer says it has a table of contents to list it by."""
        a = self.annotations
        return toc.zstd_chunked_position(a) is not None or toc.ESTARGZ_TOC_DIGEST in a

    def listing(self):
        """(entries, compression, uncompressed size, warnings, bomb) from the
        layer's table of contents, as index_blob gives them, fetching only it;
        its bytes checked against the digest the manifest gives it."""
        a = self.annotations
        pos = toc.zstd_chunked_position(a)
        if pos is not None:
            off, length, ulength = pos
            if ulength > toc.MAX_TOC or off + length > self.size:
                raise ImageError("the layer's zstd:chunked manifest position is out of bounds", self.place)
            data = self.client.read_range_whole(self.repo, self.digest, off, off + length, self.place)
            _check_toc(data, next((a[k] for k in toc.ZSTD_CHUNKED_CHECKSUMS if k in a), ""), self.place)
            import zstandard

            try:
                raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=ulength)
            except zstandard.ZstdError as e:
                raise ImageError(f"the layer's zstd:chunked manifest cannot be decoded ({e})", self.place) from None
            parsed = toc.parse(raw, self.size, off - 8, self.place)  # the skippable frame's header is before it
            comp = "zstd"
        else:
            start = self.size - toc.ESTARGZ_FOOTER
            footer = self.client.read_range_whole(self.repo, self.digest, max(start, 0), self.size, self.place)
            toc_off = toc.estargz_toc_offset(footer)
            if toc_off is None or not 0 < toc_off < start or start - toc_off > toc.MAX_TOC:
                raise ImageError("the layer's eStargz footer names no table of contents", self.place)
            member = self.client.read_range_whole(self.repo, self.digest, toc_off, start, self.place)
            from isal import isal_zlib

            try:
                tar = isal_zlib.decompressobj(31).decompress(member, toc.MAX_TOC + 4096)
            except isal_zlib.error as e:
                raise ImageError(f"the layer's eStargz table of contents cannot be decoded ({e})", self.place) \
                    from None
            n = _octal(tar[124:136])
            if tar[:18] != b"stargz.index.json\0" or n < 0 or 512 + n > len(tar):
                raise ImageError("the layer's eStargz table of contents is no stargz.index.json entry", self.place)
            data = tar[512:512 + n]
            _check_toc(data, str(a.get(toc.ESTARGZ_TOC_DIGEST) or ""), self.place)
            parsed = toc.parse(data, self.size, toc_off, self.place)
            # stargz.index.json itself is no entry of the listing: estargz.Build (buildkit, nerdctl,
            # ctr-remote) ends the tar before it, so a walk of the tar never sees it either
            comp = "gzip"
        self.toc, self.comp = parsed, comp
        try:
            usize = int(a.get(toc.ESTARGZ_USIZE, -1))
        except (TypeError, ValueError):
            usize = -1
        return parsed.entries, comp, usize, parsed.warnings, False

    def file_digest(self, offset: int) -> str | None:
        return self.toc.digests.get(offset) if self.toc is not None else None

    def read(self, offset: int, size: int) -> bytes:
        """The first `size` bytes of the listed file whose `offsets` value is
        `offset`: its parts fetched with Range requests, each checked."""
        pieces = self.toc.chunks.get(offset) if self.toc is not None else None
        if pieces is None:
            raise LayerError("no file of the layer's table of contents is there", self.place)
        out = []
        got = 0
        for p in pieces:
            if got >= size:
                break
            body = self.client.read_range(self.repo, self.digest, p.start, p.end, self.place)
            try:
                data = toc.read_piece(body, self.comp, p, size - got, self.place)
            finally:
                body.close()
            out.append(data)
            got += len(data)
        return b"".join(out)


def _octal(field: bytes) -> int:
    try:
        return int(field.split(b"\0", 1)[0].strip() or b"0", 8)
    except ValueError:
        return -1


def _check_toc(data: bytes, claim: str, place: str) -> None:
    """A table of contents must have the digest its layer's descriptor gives
    (which the manifest's digest covers): the blob's own is not checked when
    only parts of it are read."""
    if not claim:
        raise ImageError("the layer's descriptor gives no digest of its table of contents", place)
    alg, _ = blobstore.check_digest(claim, place)
    if _digest_of(data, alg) != claim:
        raise ImageError("the layer's table of contents is not the one its descriptor names (a corrupt or "
                         "tampered layer)", place)


def read_registry(src: str, layers: dict[str, Layer], platforms: list[str] | None = None) -> list[Image]:
    """The images `src` (a reference, maybe `registry://REF`) names: one, or
    for an index those of the platforms wanted (the host's when none is)."""
    ref = reference.parse(src)
    if ref is None:
        raise ImageError("not an image reference ([HOST[:PORT]/]NAME[:TAG][@DIGEST])", src)
    client = client_for(ref)
    c = RegistryContainer(client, ref, src, list(platforms or []))
    images = read_oci_layout(c, layers, src)
    for im in images:
        for i, layer in enumerate(im.layers):
            b = layer.blob
            if layer.fetch is None and not layer.indexed and b is not None and b.file in c.layer_paths \
                    and not blobstore.present(b.file, b.size):
                layer.fetch = _Fetch(client, ref.path, layer.digest, b.size, f"{src}: layer {i}",
                                     c.annotations.get(layer.digest, {}))
                contents.fetch_on_demand(b.file, layer.fetch)
    if len(images) > 1:
        want = list(platforms or []) or [host_platform()]
        picked = [im for im in images if any(im.platform.matches(w) for w in want)]
        if picked or not platforms:
            images = picked or images[:1]
    return images
