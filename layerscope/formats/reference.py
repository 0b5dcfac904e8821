"""Image references as docker reads them: `[HOST[:PORT]/]PATH[:TAG][@DIGEST]`.

A first component with a '.' or a ':', or `localhost`, is a registry host;
otherwise the image is on Docker Hub (`docker.io`), and a one-component name
is in its `library/` namespace.  Without a tag or digest the tag is `latest`.
The grammar is distribution's (reference/regexp.go), which is also why an
upper-case letter in a path is not a reference: docker refuses it too.
"""

from __future__ import annotations

import re

DOCKER_HUB = "docker.io"
# the host docker.io's API is served from (the name itself has no registry)
DOCKER_HUB_API = "registry-1.docker.io"
PREFIX = "registry://"
MAX_NAME = 255  # distribution's limit on a repository name

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_HOST_PART}(?:\.{_HOST_PART})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REF = re.compile(rf"^(?:(?P<host>{_HOST})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
                  rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")
# Names that are files to a person even when they parse as a reference
# (`app.tar` is a valid Hub name): a missing archive must not become a pull.
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.xz", ".oci", ".docker", ".img", ".json")


class Reference:
    """A parsed, normalised image reference."""

    __slots__ = ("host", "path", "tag", "digest")

    def __init__(self, host: str, path: str, tag: str, digest: str) -> None:
        self.host = host  # as named: docker.io, localhost:5000, 127.0.0.1:5000
        self.path = path  # the repository: library/alpine
        self.tag = tag  # "" when a digest names the image
        self.digest = digest

    @property
    def api_host(self) -> str:
        """Where the registry API is served from."""
        return DOCKER_HUB_API if self.host == DOCKER_HUB else self.host

    @property
    def target(self) -> str:
        """What /v2/<path>/manifests/ is asked for: the digest, else the tag."""
        return self.digest or self.tag

    @property
    def hostname(self) -> str:
        h = self.host
        if h.startswith("["):
            return h[1:h.index("]")]
        return h.rsplit(":", 1)[0] if ":" in h else h

    def __str__(self) -> str:
        s = f"{self.host}/{self.path}"
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Reference({str(self)!r})"


def parse(text: str) -> Reference | None:
    """The reference `text` names, or None when it is not one."""
    if text.startswith(PREFIX):
        text = text[len(PREFIX):]
    if not text or len(text) > MAX_NAME + 256:
        return None
    m = _REF.match(text)
    if not m:
        return None
    host, path, tag, digest = m.group("host"), m.group("path"), m.group("tag") or "", m.group("digest") or ""
    if host is None:
        host = DOCKER_HUB
    elif not ("." in host or ":" in host or host == "localhost" or host.startswith("[")):
        # `team/app`: the first component is a namespace on Docker Hub, not a host
        if not re.fullmatch(_COMPONENT, host):
            return None
        path, host = f"{host}/{path}", DOCKER_HUB
    if host in ("index.docker.io", "registry-1.docker.io"):
        host = DOCKER_HUB
    if host == DOCKER_HUB and "/" not in path:
        path = "library/" + path
    if len(path) > MAX_NAME:
        return None
    if digest:
        alg, _, hexd = digest.partition(":")
        digest = f"{alg.lower()}:{hexd}"
        if any(c in "ABCDEF" for c in hexd):
            return None  # distribution's digests are lower-case hex
    if not tag and not digest:
        tag = "latest"
    return Reference(host, path, tag, digest)


def explicit(text: str) -> bool:
    """Whether `text` says it is a registry reference (`registry://REF`)."""
    return text.startswith(PREFIX)


def implied(text: str) -> Reference | None:
    """The reference a source argument that is not a file names, or None:
    it must parse, and say something more than a bare word (a host, a
    namespace, a tag or a digest), so that a mistyped file or command name
    is never looked up on Docker Hub; `registry://WORD` always is."""
    if explicit(text):
        return parse(text)
    if text.startswith(("/", ".", "~", "-")) or "://" in text:
        return None
    name = text.split("@", 1)[0]
    if name.lower().endswith(_ARCHIVE_SUFFIXES):
        return None
    if "/" not in name and ":" not in name and "@" not in text:
        return None
    return parse(text)
