"""Write synthetic, spec-correct container image archives.

For tests, the bundled sample images and benchmarks.  Everything here is
deterministic: the same specs give the same bytes (fixed mtimes, owners and
gzip headers), so a layer used by two images is one blob, as in real archives.

    from layerscope.testing.synth import F, LayerSpec, ImageSpec, EmptyStep, write_archive

    base = LayerSpec([F("etc/", "dir"), F("etc/os-release", data=b"ID=demo\\n")],
                     created_by="ADD rootfs.tar /")
    img = ImageSpec([base, EmptyStep("/bin/sh -c #(nop)  CMD [\\"sh\\"]")],
                    repo_tags=["demo:1"])
    write_archive("demo.tar", [img], "docker-legacy")

Layouts (`layout=`), each as the named tool writes it:

  "docker-legacy"  `docker save` up to Docker 24: `<id>/{VERSION,json,layer.tar}`,
                   `<config hex>.json`, `manifest.json`, `repositories`.  Option
                   `shared_as_symlink=True`: a layer whose bytes were already
                   written under another id becomes a symlink `../<id>/layer.tar`.
  "podman"         `podman save` (docker-archive, also multi-image):
                   `<diff_id hex>.tar` at the root, `<config hex>.json`, legacy
                   `<chain id>/{layer.tar -> ../<hex>.tar, json, VERSION}`,
                   `manifest.json`, `repositories`.
  "docker25"       `docker save` from Docker 25: an OCI layout plus
                   `manifest.json` (paths `blobs/sha256/<hex>`, LayerSources) and
                   `repositories`.
  "oci"            an OCI image layout in a tar (oci-archive), or with
                   `directory=True` a directory.  Options `nested_index`,
                   `attestation`, `multiplatform`, and `media_types="docker"` (Docker
                   v2 manifest/config/layer media types instead of OCI ones; also
                   for docker25).
  "kaniko"         go-containerregistry tarball (kaniko, crane): config file
                   `sha256:<hex>`, layers `<hex>.tar.gz`, `manifest.json`.

Layer compression (`LayerSpec.compression`) is honoured by "oci" and "docker25";
"docker-legacy" and "podman" always store plain tars, "kaniko" gzip (or
estargz).  "estargz" and "zstd-chunked" follow their real layouts: each
regular file's content starts a new gzip member / zstd frame (big files are
cut in 4 MiB chunks), followed by a table of contents: estargz appends a
`stargz.index.json` tar entry in its own member and a 51-byte footer member;
zstd:chunked appends the manifest and a footer as zstd skippable frames.

Only the standard library, isal and zstandard are used.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

try:  # isal is much faster; zlib gives the same format
    from isal import isal_zlib as _deflate

    _GZIP_LEVEL = 2
except ImportError:  # pragma: no cover
    _deflate = zlib  # type: ignore[assignment]
    _GZIP_LEVEL = 6

import zstandard

__all__ = [
    "F", "LayerSpec", "EmptyStep", "ImageSpec", "write_archive", "layer_tar_bytes",
    "layer_blob", "classic_image", "classic_pair", "LAYOUTS", "COMPRESSIONS",
]

LAYOUTS = ("docker-legacy", "podman", "docker25", "oci", "kaniko")
COMPRESSIONS = ("none", "gzip", "zstd", "estargz", "zstd-chunked")
ENTRY_TYPES = ("file", "dir", "symlink", "hardlink", "char", "block", "fifo", "whiteout", "opaque")

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# media types
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
MT_IN_TOTO = "application/vnd.in-toto+json"

_CHUNK_SIZE = 4 << 20  # estargz / zstd:chunked chunk size for big files
_IO = 1 << 20
_ZEROS = bytes(_IO)


# ---------------------------------------------------------------------------
# Specs


@dataclass
class F:
    """One tar entry of a layer.

    `path` may start with "/" or "./"; it is written as "etc/passwd" (dirs as
    "etc/").  type "whiteout" writes `<dir>/.wh.<name>`, "opaque" writes
    `<path>/.wh..wh..opq`.  `size` with empty `data` writes that many zero
    bytes, streamed.  `raw_name` writes exactly those bytes as the entry name
    (no normalising; over 100 bytes it goes in a PAX `path` record).
    `major`/`minor` are the device numbers of "char"/"block" entries.
    """

    path: str
    type: str = "file"
    data: bytes = b""
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    link: str | None = None
    mtime: int = 0
    size: int | None = None
    raw_name: bytes | None = None
    major: int = 0
    minor: int = 0
    uname: str = ""
    gname: str = ""

    def __post_init__(self) -> None:
        if self.type not in ENTRY_TYPES:
            raise ValueError(f"F({self.path!r}): unknown type {self.type!r}")
        if isinstance(self.data, str):
            self.data = self.data.encode("utf-8")
        if self.type in ("symlink", "hardlink") and self.link is None:
            raise ValueError(f"F({self.path!r}): a {self.type} needs link=")
        if self.size is not None and self.data and self.size != len(self.data):
            raise ValueError(f"F({self.path!r}): size={self.size} but data has {len(self.data)} bytes")


@dataclass
class LayerSpec:
    entries: list[F]
    created_by: str = ""
    compression: str = "none"
    comment: str = ""

    def __post_init__(self) -> None:
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"unknown compression {self.compression!r}; one of {COMPRESSIONS}")


@dataclass
class EmptyStep:
    """A history entry without a layer (ENV, CMD, LABEL, ...)."""

    created_by: str
    comment: str = ""


@dataclass
class ImageSpec:
    layers: list[LayerSpec | EmptyStep]
    repo_tags: list[str] = field(default_factory=lambda: ["example:latest"])
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""
    env: list[str] = field(default_factory=lambda: [DEFAULT_PATH])
    cmd: list[str] | None = field(default_factory=lambda: ["/bin/sh"])
    entrypoint: list[str] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    user: str = ""
    workdir: str = ""
    exposed_ports: list[str] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)
    created: str = "2024-01-01T00:00:00Z"


# ---------------------------------------------------------------------------
# Tar headers (ustar, PAX records where ustar cannot hold a value)

_TYPEFLAG = {
    "file": b"0", "whiteout": b"0", "opaque": b"0", "hardlink": b"1", "symlink": b"2",
    "char": b"3", "block": b"4", "dir": b"5", "fifo": b"6",
}


_CHK_CONST = sum(b"        ") + sum(b"ustar\x0000")
_TAIL = bytes(512 - 345)


def _pax_record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while True:
        rec = str(n).encode() + body
        if len(rec) == n:
            return rec
        n = len(rec)


def _ascii(b: bytes) -> bytes:
    return b if b.isascii() else bytes(c for c in b if c < 0x80)


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _tar_header(name: bytes, typeflag: bytes, size: int = 0, mode: int = 0o644, uid: int = 0,
                gid: int = 0, mtime: int = 0, link: bytes = b"", uname: bytes = b"",
                gname: bytes = b"", major: int = 0, minor: int = 0, raw_name: bool = False) -> bytes:
    """One entry's header block(s): a PAX extended header first when needed."""
    pax: list[tuple[bytes, bytes]] = []
    if len(name) > 100 or (not raw_name and not name.isascii()):
        pax.append((b"path", name))
        name = _ascii(name)[:100]
    if len(link) > 100 or not link.isascii():
        pax.append((b"linkpath", link))
        link = _ascii(link)[:100]
    if size >= 0o77777777777:
        pax.append((b"size", str(size).encode()))
        size_f = 0
    else:
        size_f = size
    if uid > 0o7777777:
        pax.append((b"uid", str(uid).encode()))
        uid = 0
    if gid > 0o7777777:
        pax.append((b"gid", str(gid).encode()))
        gid = 0
    if mtime < 0 or mtime > 0o77777777777:
        pax.append((b"mtime", str(mtime).encode()))
        mtime = 0
    if len(uname) > 32 or not uname.isascii():
        pax.append((b"uname", uname))
        uname = _ascii(uname)[:32]
    if len(gname) > 32 or not gname.isascii():
        pax.append((b"gname", gname))
        gname = _ascii(gname)[:32]

    nums = b"%07o\0%07o\0%07o\0%011o\0%011o\0" % (mode & 0o7777777, uid, gid, size_f, mtime)
    devs = b"%07o\0%07o\0" % (major, minor)
    chk = (sum(name) + sum(nums) + sum(typeflag) + sum(link) + sum(uname) + sum(gname) + sum(devs)
           + _CHK_CONST)
    h = b"".join((name.ljust(100, b"\0"), nums, b"%06o\0 " % chk, typeflag, link.ljust(100, b"\0"),
                  b"ustar\x0000", uname.ljust(32, b"\0"), gname.ljust(32, b"\0"), devs, _TAIL))
    if not pax:
        return h

    binary = any(not _is_utf8(v) for k, v in pax if k in (b"path", b"linkpath", b"uname", b"gname"))
    records = (_pax_record(b"hdrcharset", b"BINARY") if binary else b"") + b"".join(
        _pax_record(k, v) for k, v in pax)
    full = pax[0][1] if pax[0][0] == b"path" else name
    d, _, base = full.rstrip(b"/").rpartition(b"/")
    xname = _ascii((d + b"/" if d else b"") + b"PaxHeaders.0/" + base)[:100]
    x = _tar_header(xname, b"x", len(records), 0o644)
    return x + records + bytes(-len(records) % 512) + h


def _clean(p: str) -> str:
    while p.startswith("/") or p.startswith("./"):
        p = p[1:] if p.startswith("/") else p[2:]
    return p.rstrip("/") if p not in (".", "") else ""


def _entry_name(f: F) -> bytes:
    if f.raw_name is not None:
        return f.raw_name
    p = _clean(f.path)
    t = f.type
    if t == "whiteout":
        d, _, n = p.rpartition("/")
        p = (d + "/" if d else "") + ".wh." + n
    elif t == "opaque":
        p = (p + "/" if p else "") + ".wh..wh..opq"
    elif t == "dir":
        p = p + "/" if p else "./"
    return p.encode("utf-8", "surrogateescape")


def _entry_mode(f: F) -> int:
    if f.mode is not None:
        return f.mode
    return {"dir": 0o755, "symlink": 0o777}.get(f.type, 0o644)


def _entry_size(f: F) -> int:
    if f.type != "file":
        return 0
    return len(f.data) if f.data else (f.size or 0)


def _entry_link(f: F) -> bytes:
    if f.link is None:
        return b""
    link = f.link
    if f.type == "hardlink":
        link = _clean(link)
    return link.encode("utf-8", "surrogateescape")


def _f_header(f: F) -> bytes:
    return _tar_header(
        _entry_name(f), _TYPEFLAG[f.type], _entry_size(f), _entry_mode(f), f.uid, f.gid, f.mtime,
        _entry_link(f), f.uname.encode(), f.gname.encode(), f.major, f.minor,
        raw_name=f.raw_name is not None)


# ---------------------------------------------------------------------------
# Layer streams


class _HashOut:
    """The blob as written: counts and hashes it."""

    def __init__(self, fh) -> None:
        self.fh = fh
        self.h = hashlib.sha256()
        self.n = 0

    def write(self, b) -> None:
        self.fh.write(b)
        self.h.update(b)
        self.n += len(b)


_GZ_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, mtime 0, OS unknown


class _GzipMember:
    """One gzip member.  Small members are compressed in one call (estargz
    has one per file); big ones are streamed."""

    def __init__(self, out: _HashOut) -> None:
        self.out = out
        out.write(_GZ_HEADER)
        self.c = None
        self.pending: list = []
        self.pending_n = 0
        self.crc = 0
        self.size = 0

    def write(self, b) -> None:
        self.crc = zlib.crc32(b, self.crc)
        self.size += len(b)
        if self.c is None:
            self.pending.append(b)
            self.pending_n += len(b)
            if self.pending_n < _IO:
                return
            self.c = _deflate.compressobj(_GZIP_LEVEL, zlib.DEFLATED, -15)
            b = b"".join(self.pending)
            self.pending = []
        d = self.c.compress(b)
        if d:
            self.out.write(d)

    def close(self) -> None:
        if self.c is None:
            self.out.write(_deflate.compress(b"".join(self.pending), _GZIP_LEVEL, -15))
        else:
            self.out.write(self.c.flush())
        self.out.write(struct.pack("<II", self.crc & 0xFFFFFFFF, self.size & 0xFFFFFFFF))


_ZSTD = zstandard.ZstdCompressor(level=3)


class _ZstdFrame:
    def __init__(self, out: _HashOut) -> None:
        self.out = out
        self.c = _ZSTD.compressobj()

    def write(self, b) -> None:
        d = self.c.compress(b)
        if d:
            self.out.write(d)

    def close(self) -> None:
        self.out.write(self.c.flush())


def _stargz_footer(toc_offset: int) -> bytes:
    """The 51-byte estargz footer: an empty gzip member whose extra field
    holds the TOC offset."""
    sub = b"%016xSTARGZ" % toc_offset
    extra = b"SG" + struct.pack("<H", len(sub)) + sub
    return (b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff" + struct.pack("<H", len(extra)) + extra
            + b"\x01\x00\x00\xff\xff" + struct.pack("<II", 0, 0))


def _skippable(payload: bytes) -> bytes:
    return struct.pack("<II", 0x184D2A50, len(payload)) + payload


class _Sink:
    """Takes the uncompressed layer tar and writes the blob."""

    def __init__(self, fh, compression: str, capture: io.BytesIO | None = None) -> None:
        self.out = _HashOut(fh)
        self.compression = compression
        self.capture = capture
        self.plain = compression == "none"
        self.uh = hashlib.sha256()
        self.un = 0
        self.buf = bytearray()
        self.unit = None
        self.gz = compression in ("gzip", "estargz")
        if not self.plain:
            self._open()

    def _open(self) -> None:
        self.unit = _GzipMember(self.out) if self.gz else _ZstdFrame(self.out)

    def write(self, b) -> None:
        if len(b) >= 65536:
            self._drain()
            self._put(b)
        else:
            self.buf += b
            if len(self.buf) >= 262144:
                self._drain()

    def _drain(self) -> None:
        if self.buf:
            b = bytes(self.buf)
            self.buf.clear()
            self._put(b)

    def _put(self, b) -> None:
        self.un += len(b)
        if self.capture is not None:
            self.capture.write(b)
        if self.plain:
            self.out.write(b)
        else:
            self.uh.update(b)
            self.unit.write(b)

    def new_unit(self) -> int:
        """Start a new gzip member / zstd frame; returns its offset in the blob."""
        self._drain()
        self.unit.close()
        off = self.out.n
        self._open()
        return off

    def close(self) -> None:
        self._drain()
        if self.unit is not None:
            self.unit.close()
            self.unit = None

    @property
    def diff_id(self) -> str:
        return "sha256:" + (self.out.h if self.plain else self.uh).hexdigest()


@dataclass
class _Blob:
    """One layer blob, written to a temp file."""

    path: str
    digest: str  # sha256:<hex> of the blob
    size: int
    diff_id: str  # sha256:<hex> of the uncompressed tar
    tar_size: int
    compression: str
    annotations: dict[str, str]

    @property
    def hex(self) -> str:
        return self.digest[7:]


_TOC_TYPE = {"file": "reg", "whiteout": "reg", "opaque": "reg", "dir": "dir", "symlink": "symlink",
             "hardlink": "hardlink", "char": "char", "block": "block", "fifo": "fifo"}


def _rfc3339(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _toc_entry(f: F, size: int) -> dict:
    name = _entry_name(f).decode("utf-8", "replace")
    name = _clean(name) if f.raw_name is None else name
    e: dict = {"name": name, "type": _TOC_TYPE[f.type]}
    if e["type"] == "reg":
        e["size"] = size
    if f.mtime:
        e["modtime"] = _rfc3339(f.mtime)
    if f.link is not None:
        e["linkName"] = _entry_link(f).decode("utf-8", "replace")
    e["mode"] = _entry_mode(f)
    if f.uid:
        e["uid"] = f.uid
    if f.gid:
        e["gid"] = f.gid
    if f.uname:
        e["userName"] = f.uname
    if f.gname:
        e["groupName"] = f.gname
    if f.type in ("char", "block"):
        e["devMajor"] = f.major
        e["devMinor"] = f.minor
    return e


def _write_content(sink: _Sink, f: F, start: int, n: int, h=None) -> None:
    if f.data:
        piece = f.data[start:start + n] if (start or n != len(f.data)) else f.data
        sink.write(piece)
        if h is not None:
            for hh in h:
                hh.update(piece)
        return
    while n > 0:
        k = min(n, _IO)
        z = _ZEROS if k == _IO else _ZEROS[:k]
        sink.write(z)
        if h is not None:
            for hh in h:
                hh.update(z)
        n -= k


def _write_layer(spec: LayerSpec, compression: str, fh, capture: io.BytesIO | None = None):
    """Write the layer blob to `fh`; returns (sink, annotations)."""
    sink = _Sink(fh, compression, capture)
    chunked = compression in ("estargz", "zstd-chunked")
    toc: list[dict] = []
    write = sink.write
    for f in spec.entries:
        size = _entry_size(f)
        write(_f_header(f))
        if not chunked:
            if size:
                _write_content(sink, f, 0, size)
                if size % 512:
                    write(_ZEROS[:512 - size % 512])
            continue
        e = _toc_entry(f, size)
        toc.append(e)
        if not size:
            continue
        whole = hashlib.sha256()
        pos = 0
        first = e
        while pos < size:
            n = min(_CHUNK_SIZE, size - pos)
            off = sink.new_unit()
            ch = hashlib.sha256()
            _write_content(sink, f, pos, n, (whole, ch))
            if pos:
                e = {"name": first["name"], "type": "chunk"}
                toc.append(e)
            e["offset"] = off
            if pos:
                e["chunkOffset"] = pos
            if n != size:
                e["chunkSize"] = n
            e["chunkDigest"] = "sha256:" + ch.hexdigest()
            if compression == "zstd-chunked":
                e["_end"] = True
            pos += n
        first["digest"] = "sha256:" + whole.hexdigest()
        if size % 512:
            write(_ZEROS[:512 - size % 512])
    annotations: dict[str, str] = {}
    if compression == "estargz":
        toc_json = json.dumps({"version": 1, "entries": toc}, separators=(",", ":")).encode()
        # As buildkit writes it (see the shared corpus): the tar's own
        # end-of-archive blocks come first, then the TOC entry in a member of
        # its own -- so a plain tar reader never sees stargz.index.json.
        write(_ZEROS[:1024])
        toc_off = sink.new_unit()
        write(_tar_header(b"stargz.index.json", b"0", len(toc_json), 0o644))
        write(toc_json)
        write(_ZEROS[:-len(toc_json) % 512])
        sink.close()
        sink.out.write(_stargz_footer(toc_off))
        annotations["containerd.io/snapshot/stargz/toc.digest"] = "sha256:" + hashlib.sha256(toc_json).hexdigest()
        annotations["io.containers.estargz.uncompressed-size"] = str(sink.un)
    elif compression == "zstd-chunked":
        # frames end where the next one starts: fill in endOffset
        ends = [e for e in toc if e.pop("_end", False)]
        write(_ZEROS[:1024])
        sink.close()
        end = sink.out.n
        for i, e in enumerate(ends):
            e["endOffset"] = ends[i + 1]["offset"] if i + 1 < len(ends) else end
        manifest = json.dumps({"version": 1, "entries": toc}, separators=(",", ":")).encode()
        cm = zstandard.ZstdCompressor(level=3).compress(manifest)
        m_off = sink.out.n + 8
        sink.out.write(_skippable(cm))
        footer = struct.pack("<QQQQQQQ", m_off, len(cm), len(manifest), 1, 0, 0, 0) + b"GNUlInUx"
        sink.out.write(_skippable(footer))
        annotations["io.github.containers.zstd-chunked.manifest-checksum"] = "sha256:" + hashlib.sha256(cm).hexdigest()
        annotations["io.github.containers.zstd-chunked.manifest-position"] = f"{m_off}:{len(cm)}:{len(manifest)}:1"
    else:
        write(_ZEROS[:1024])
        sink.close()
    return sink, annotations


def layer_tar_bytes(spec: LayerSpec) -> bytes:
    """The uncompressed tar of a layer: what its blob decompresses to (for
    "estargz" that includes the `stargz.index.json` entry)."""
    cap = io.BytesIO()
    _write_layer(spec, spec.compression, io.BytesIO(), cap)
    return cap.getvalue()


def layer_blob(spec: LayerSpec, compression: str | None = None) -> bytes:
    """The layer blob as stored in an archive (compressed per `compression`,
    default the spec's own)."""
    buf = io.BytesIO()
    _write_layer(spec, compression or spec.compression, buf)
    return buf.getvalue()


class _Blobs:
    """Layer blobs of one write_archive call, in temp files, made once each."""

    def __init__(self, tmp: str) -> None:
        self.tmp = tmp
        self.by_spec: dict[tuple[int, str], _Blob] = {}
        self.keep: list[LayerSpec] = []  # keep ids valid

    def get(self, spec: LayerSpec, compression: str) -> _Blob:
        key = (id(spec), compression)
        b = self.by_spec.get(key)
        if b is None:
            path = os.path.join(self.tmp, f"layer{len(self.by_spec)}")
            with open(path, "wb") as fh:
                sink, ann = _write_layer(spec, compression, fh)
            b = _Blob(path, "sha256:" + sink.out.h.hexdigest(), sink.out.n, sink.diff_id,
                      sink.un, compression, ann)
            self.by_spec[key] = b
            self.keep.append(spec)
        return b


# ---------------------------------------------------------------------------
# Config, manifests


def _json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def _split_tag(ref: str) -> tuple[str, str]:
    name = ref.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:]
    return name, "latest"


def _docker_name(ref: str) -> str:
    """docker.io/library/x:tag, as Docker names images in index.json."""
    repo, tag = _split_tag(ref)
    first = repo.split("/", 1)[0]
    if "/" not in repo:
        repo = "docker.io/library/" + repo
    elif not ("." in first or ":" in first or first == "localhost"):
        repo = "docker.io/" + repo
    return f"{repo}:{tag}"


def _container_config(img: ImageSpec) -> dict:
    c: dict = {"User": img.user}
    if img.exposed_ports:
        c["ExposedPorts"] = {p: {} for p in img.exposed_ports}
    c["Env"] = list(img.env) if img.env else None
    c["Entrypoint"] = list(img.entrypoint) if img.entrypoint else None
    c["Cmd"] = list(img.cmd) if img.cmd else None
    c["WorkingDir"] = img.workdir
    c["Labels"] = dict(img.labels) if img.labels else None
    return c


def _config_dict(img: ImageSpec, diff_ids: list[str]) -> dict:
    cfg: dict = {"created": img.created, "architecture": img.architecture}
    if img.variant:
        cfg["variant"] = img.variant
    cfg["os"] = img.os
    cfg["config"] = _container_config(img)
    cfg["rootfs"] = {"type": "layers", "diff_ids": list(diff_ids)}
    hist = []
    for step in img.layers:
        h: dict = {"created": img.created}
        if step.created_by:
            h["created_by"] = step.created_by
        if step.comment:
            h["comment"] = step.comment
        if isinstance(step, EmptyStep):
            h["empty_layer"] = True
        hist.append(h)
    cfg["history"] = hist
    return cfg


class _Built:
    """One image, ready to write: blobs, config, manifest."""

    def __init__(self, img: ImageSpec, blobs: list[_Blob], media: str) -> None:
        self.img = img
        self.blobs = blobs
        self.config = _json(_config_dict(img, [b.diff_id for b in blobs]))
        self.config_digest = _sha(self.config)
        docker = media == "docker"
        layers = []
        for b in blobs:
            if docker and b.compression in ("none", "gzip", "estargz"):
                mt = MT_DOCKER_LAYER + (".gzip" if b.compression != "none" else "")
            else:
                mt = MT_OCI_LAYER + {"none": "", "gzip": "+gzip", "estargz": "+gzip",
                                     "zstd": "+zstd", "zstd-chunked": "+zstd"}[b.compression]
            d = {"mediaType": mt, "digest": b.digest, "size": b.size}
            if b.annotations:
                d["annotations"] = dict(b.annotations)
            layers.append(d)
        self.manifest_mt = MT_DOCKER_MANIFEST if docker else MT_OCI_MANIFEST
        m: dict = {"schemaVersion": 2, "mediaType": self.manifest_mt,
                   "config": {"mediaType": MT_DOCKER_CONFIG if docker else MT_OCI_CONFIG,
                              "digest": self.config_digest, "size": len(self.config)},
                   "layers": layers}
        if img.annotations:
            m["annotations"] = dict(img.annotations)
        self.manifest = _json(m)
        self.manifest_digest = _sha(self.manifest)

    @property
    def diff_ids(self) -> list[str]:
        return [b.diff_id for b in self.blobs]

    def platform(self) -> dict:
        p = {"architecture": self.img.architecture, "os": self.img.os}
        if self.img.variant:
            p["variant"] = self.img.variant
        return p


def _layers_of(img: ImageSpec) -> list[LayerSpec]:
    return [s for s in img.layers if isinstance(s, LayerSpec)]


# ---------------------------------------------------------------------------
# Archive output


class _Out:
    """Files of an archive, written in order as a tar (or into a directory)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, object]] = []
        self.names: set[str] = set()

    def add_bytes(self, name: str, data: bytes) -> None:
        self._add(name, "bytes", data)

    def add_file(self, name: str, blob: _Blob) -> None:
        self._add(name, "file", blob)

    def add_symlink(self, name: str, target: str) -> None:
        self._add(name, "symlink", target)

    def _add(self, name, kind, payload) -> None:
        if name in self.names:
            return
        self.names.add(name)
        self.items.append((name, kind, payload))

    def walk_order(self) -> None:
        """Add directory entries and sort as a directory walk does (what
        tools that tar up a temp directory produce)."""
        dirs = set()
        for name, _, _ in self.items:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        for d in dirs:
            self._add(d, "dir", None)
        self.items.sort(key=lambda it: it[0].split("/"))

    def write_tar(self, path, mtime: int = 0) -> None:
        with open(path, "wb") as fh:
            for name, kind, payload in self.items:
                bname = name.encode("utf-8")
                if kind == "dir":
                    fh.write(_tar_header(bname + b"/", b"5", 0, 0o755, mtime=mtime))
                elif kind == "symlink":
                    fh.write(_tar_header(bname, b"2", 0, 0o777, mtime=mtime, link=payload.encode()))
                elif kind == "bytes":
                    fh.write(_tar_header(bname, b"0", len(payload), 0o644, mtime=mtime))
                    fh.write(payload)
                    fh.write(bytes(-len(payload) % 512))
                else:
                    blob: _Blob = payload
                    fh.write(_tar_header(bname, b"0", blob.size, 0o644, mtime=mtime))
                    with open(blob.path, "rb") as src:
                        shutil.copyfileobj(src, fh, _IO)
                    fh.write(bytes(-blob.size % 512))
            fh.write(bytes(1024))

    def write_dir(self, path) -> None:
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        for name, kind, payload in self.items:
            p = root / name
            if kind == "dir":
                p.mkdir(parents=True, exist_ok=True)
                continue
            p.parent.mkdir(parents=True, exist_ok=True)
            if kind == "symlink":
                if p.is_symlink() or p.exists():
                    p.unlink()
                p.symlink_to(payload)
            elif kind == "bytes":
                p.write_bytes(payload)
            else:
                shutil.copyfile(payload.path, p)


def _repositories(entries: list[tuple[list[str], str]]) -> bytes | None:
    repos: dict[str, dict[str, str]] = {}
    for tags, top in entries:
        for t in tags:
            repo, tag = _split_tag(t)
            repos.setdefault(repo, {})[tag] = top
    return _json(repos) if repos else None


_EMPTY_CONTAINER_CONFIG = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
    "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
    "OnBuild": None, "Labels": None,
}


def _chain_ids(diff_ids: list[str]) -> list[str]:
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else _sha(f"{out[-1]} {d}".encode()))
    return out


def _write_docker_legacy(out: _Out, built: list[_Built], shared_as_symlink: bool = True) -> None:
    manifest = []
    repos = []
    layer_path: dict[str, str] = {}  # diff_id -> "<id>/layer.tar" first written
    for b in built:
        img = b.img
        chains = _chain_ids(b.diff_ids)
        parent = ""
        paths = []
        for i, (blob, chain) in enumerate(zip(b.blobs, chains)):
            top = i == len(b.blobs) - 1
            if top:
                v1: dict = {"created": img.created, "container_config": _EMPTY_CONTAINER_CONFIG,
                            "config": _container_config(img), "architecture": img.architecture}
                if img.variant:
                    v1["variant"] = img.variant
                v1["os"] = img.os
            else:
                v1 = {"created": "1970-01-01T00:00:00Z", "container_config": _EMPTY_CONTAINER_CONFIG}
            idcfg = dict(v1, layer_id=chain)
            if parent:
                idcfg["parent"] = parent
            v1id = hashlib.sha256(json.dumps(idcfg, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
            lpath = f"{v1id}/layer.tar"
            paths.append(lpath)
            if lpath not in out.names:
                ljson = {"id": v1id}
                if parent:
                    ljson["parent"] = parent[7:]
                ljson.update(v1)
                out.add_bytes(f"{v1id}/VERSION", b"1.0")
                out.add_bytes(f"{v1id}/json", _json(ljson))
                first = layer_path.get(blob.diff_id)
                if first is not None and shared_as_symlink:
                    out.add_symlink(lpath, "../" + first)
                else:
                    out.add_file(lpath, blob)
                    layer_path.setdefault(blob.diff_id, lpath)
            parent = "sha256:" + v1id
        out.add_bytes(f"{b.config_digest[7:]}.json", b.config)
        manifest.append({"Config": f"{b.config_digest[7:]}.json",
                         "RepoTags": list(img.repo_tags) or None, "Layers": paths})
        if paths:
            repos.append((img.repo_tags, paths[-1].split("/")[0]))
    out.add_bytes("manifest.json", _json(manifest))
    r = _repositories(repos)
    if r:
        out.add_bytes("repositories", r)
    out.walk_order()


def _write_podman(out: _Out, built: list[_Built]) -> None:
    manifest = []
    repos = []
    for b in built:
        img = b.img
        for blob in b.blobs:
            out.add_file(f"{blob.diff_id[7:]}.tar", blob)
        out.add_bytes(f"{b.config_digest[7:]}.json", b.config)
        parent = ""
        top_id = ""
        chains = _chain_ids(b.diff_ids)
        for i, (blob, chain) in enumerate(zip(b.blobs, chains)):
            lid = chain[7:]
            if f"{lid}/json" not in out.names:
                cfg: dict = {"id": lid}
                if parent:
                    cfg["parent"] = parent
                if i == len(b.blobs) - 1:
                    cfg.update({"architecture": img.architecture, "config": _container_config(img),
                                "created": img.created, "os": img.os})
                out.add_symlink(f"{lid}/layer.tar", f"../{blob.diff_id[7:]}.tar")
                out.add_bytes(f"{lid}/VERSION", b"1.0")
                out.add_bytes(f"{lid}/json", json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode())
            parent = lid
            top_id = lid
        manifest.append({"Config": f"{b.config_digest[7:]}.json",
                         "RepoTags": list(img.repo_tags) or None,
                         "Layers": [f"{blob.diff_id[7:]}.tar" for blob in b.blobs]})
        if top_id:
            repos.append((img.repo_tags, top_id))
    out.add_bytes("manifest.json", _json(manifest))
    r = _repositories(repos)
    if r:
        out.add_bytes("repositories", r)


def _write_kaniko(out: _Out, built: list[_Built]) -> None:
    manifest = []
    for b in built:
        out.add_bytes(b.config_digest, b.config)
        for blob in b.blobs:
            out.add_file(f"{blob.hex}.tar.gz", blob)
        manifest.append({"Config": b.config_digest, "RepoTags": list(b.img.repo_tags),
                         "Layers": [f"{blob.hex}.tar.gz" for blob in b.blobs]})
    out.add_bytes("manifest.json", _json(manifest))


def _attestation(out: _Out, b: _Built, media: str) -> dict:
    """A buildkit provenance attestation manifest for image `b`; returns its
    descriptor for the index."""
    repo, _ = _split_tag(b.img.repo_tags[0]) if b.img.repo_tags else ("image", "")
    stmt = _json({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": f"pkg:docker/{repo}?platform={b.img.os}%2F{b.img.architecture}",
                     "digest": {"sha256": b.manifest_digest[7:]}}],
        "predicate": {"builder": {"id": ""}, "buildType": "https://mobyproject.org/buildkit@v1",
                      "materials": [], "invocation": {}, "metadata": {"buildkit_completeness": {}}},
    })
    sdig = _sha(stmt)
    cfg = _json({"architecture": "unknown", "os": "unknown", "config": {},
                 "rootfs": {"type": "layers", "diff_ids": [sdig]}})
    m = _json({"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
               "config": {"mediaType": MT_OCI_CONFIG, "digest": _sha(cfg), "size": len(cfg)},
               "layers": [{"mediaType": MT_IN_TOTO, "digest": sdig, "size": len(stmt),
                           "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}]})
    for data in (stmt, cfg, m):
        out.add_bytes("blobs/sha256/" + _sha(data)[7:], data)
    return {"mediaType": MT_OCI_MANIFEST, "digest": _sha(m), "size": len(m),
            "annotations": {"vnd.docker.reference.digest": b.manifest_digest,
                            "vnd.docker.reference.type": "attestation-manifest"},
            "platform": {"architecture": "unknown", "os": "unknown"}}


def _write_oci(out: _Out, built: list[_Built], *, docker25: bool = False, nested_index: bool = False,
               attestation: bool = False, multiplatform: bool = False, media: str = "oci") -> None:
    def blob_bytes(data: bytes) -> None:
        out.add_bytes("blobs/sha256/" + _sha(data)[7:], data)

    for b in built:
        for blob in b.blobs:
            out.add_file("blobs/sha256/" + blob.hex, blob)
        blob_bytes(b.config)
        blob_bytes(b.manifest)

    index_mt = MT_DOCKER_LIST if media == "docker" else MT_OCI_INDEX

    def mdesc(b: _Built, platform: bool) -> dict:
        d = {"mediaType": b.manifest_mt, "digest": b.manifest_digest, "size": len(b.manifest)}
        if platform:
            d["platform"] = b.platform()
        return d

    def ref_annotations(tag: str) -> dict:
        full = _docker_name(tag) if docker25 else tag
        return {"io.containerd.image.name": full, "org.opencontainers.image.ref.name": _split_tag(tag)[1]}

    # groups: (tags, images) -> one ref each
    groups = [(built[0].img.repo_tags, built)] if multiplatform else [(b.img.repo_tags, [b]) for b in built]
    top: list[dict] = []
    for tags, members in groups:
        nested = nested_index or multiplatform
        descs = []
        for b in members:
            descs.append(mdesc(b, nested))
        atts = [_attestation(out, b, media) for b in members] if attestation else []
        if nested:
            idx = _json({"schemaVersion": 2, "mediaType": index_mt, "manifests": descs + atts})
            blob_bytes(idx)
            targets = [{"mediaType": index_mt, "digest": _sha(idx), "size": len(idx)}]
        else:
            targets = descs
        for t in targets:
            if tags:
                for tag in tags:
                    top.append(dict(t, annotations=ref_annotations(tag)))
            else:
                top.append(t)
        if not nested:
            top.extend(atts)
    out.add_bytes("index.json", _json({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": top}))
    out.add_bytes("oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
    if docker25:
        manifest = []
        repos = []
        for b in built:
            item = {"Config": "blobs/sha256/" + b.config_digest[7:],
                    "RepoTags": list(b.img.repo_tags) or None,
                    "Layers": ["blobs/sha256/" + blob.hex for blob in b.blobs]}
            cfg_layers = json.loads(b.manifest)["layers"]
            if b.blobs:
                item["LayerSources"] = {blob.diff_id: {k: d[k] for k in ("mediaType", "size", "digest")}
                                        for blob, d in zip(b.blobs, cfg_layers)}
                repos.append((b.img.repo_tags, b.blobs[-1].hex))
            manifest.append(item)
        out.add_bytes("manifest.json", _json(manifest))
        r = _repositories(repos)
        if r:
            out.add_bytes("repositories", r)
    out.walk_order()


_LAYOUT_OPTS = {
    "docker-legacy": {"shared_as_symlink", "mtime"},
    "podman": {"mtime"},
    "docker25": {"nested_index", "attestation", "multiplatform", "media_types", "mtime"},
    "oci": {"directory", "nested_index", "attestation", "multiplatform", "media_types", "mtime"},
    "kaniko": {"mtime"},
}


def _layer_compression(layout: str, compression: str) -> str:
    if layout in ("docker-legacy", "podman"):
        return "none"
    if layout == "kaniko":
        return "estargz" if compression == "estargz" else "gzip"
    return compression


def write_archive(path, images: list[ImageSpec] | ImageSpec, layout: str, **opts) -> None:
    """Write `images` to `path` in `layout` (see the module docstring).

    Options: shared_as_symlink (docker-legacy, default True); directory,
    nested_index, attestation, multiplatform, media_types ("oci" or "docker")
    for oci / docker25; mtime (of the archive's own entries, default 0).
    """
    if isinstance(images, ImageSpec):
        images = [images]
    if layout not in _LAYOUT_OPTS:
        raise ValueError(f"unknown layout {layout!r}; one of {LAYOUTS}")
    bad = set(opts) - _LAYOUT_OPTS[layout]
    if bad:
        raise TypeError(f"layout {layout!r} takes no option(s) {sorted(bad)}")
    if not images:
        raise ValueError("no images")
    media = opts.get("media_types", "oci")
    if media not in ("oci", "docker"):
        raise ValueError(f"media_types must be 'oci' or 'docker', not {media!r}")
    mtime = int(opts.get("mtime", 0))
    with tempfile.TemporaryDirectory(prefix="layerscope-synth-") as tmp:
        blobs = _Blobs(tmp)
        built = []
        for img in images:
            bl = [blobs.get(s, _layer_compression(layout, s.compression)) for s in _layers_of(img)]
            built.append(_Built(img, bl, media))
        out = _Out()
        if layout == "docker-legacy":
            _write_docker_legacy(out, built, bool(opts.get("shared_as_symlink", True)))
        elif layout == "podman":
            _write_podman(out, built)
        elif layout == "kaniko":
            _write_kaniko(out, built)
        else:
            _write_oci(out, built, docker25=layout == "docker25",
                       nested_index=bool(opts.get("nested_index", False)),
                       attestation=bool(opts.get("attestation", False)),
                       multiplatform=bool(opts.get("multiplatform", False)), media=media)
        if layout == "oci" and opts.get("directory"):
            out.write_dir(path)
        else:
            out.write_tar(path, mtime)


# ---------------------------------------------------------------------------
# The classic example image


def _pseudo(seed: str, size: int, prefix: bytes = b"", text: bytes = b"") -> bytes:
    """Deterministic filler: `prefix`, then blocks of hash output mixed with
    `text` (so binaries compress a little, as real ones do)."""
    out = bytearray(prefix)
    i = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        if text:
            out += text
        i += 1
    return bytes(out[:size])


_ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x03\x00\x3e\x00\x01\x00\x00\x00"
_SYMS = b"\0GLIBC_2.2.5\0memcpy\0__libc_start_main\0"


def _elf(name: str, size: int) -> bytes:
    return _pseudo(name, size, _ELF, _SYMS)


def _deb(name: str, size: int) -> bytes:
    head = (b"!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\n"
            b"control.tar.xz  0           0     0     100644  1024      `\n")
    return _pseudo(name, size, head)


_OS_RELEASE = b"""PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""

_PASSWD = b"""root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
_apt:x:42:65534::/nonexistent:/usr/sbin/nologin
"""

_GROUP = b"""root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
www-data:x:33:
nogroup:x:65534:
"""


def _dpkg(pkgs: list[tuple[str, str, str, str]]) -> bytes:
    out = []
    for name, version, size, desc in pkgs:
        out.append(
            f"Package: {name}\nStatus: install ok installed\nPriority: optional\nSection: misc\n"
            f"Installed-Size: {size}\nMaintainer: Debian Developers <debian-devel@lists.debian.org>\n"
            f"Architecture: amd64\nVersion: {version}\nDescription: {desc}\n\n")
    return "".join(out).encode()


_BASE_PKGS = [
    ("base-files", "12.4+deb12u5", "341", "Debian base system miscellaneous files"),
    ("bash", "5.2.15-2+b2", "7164", "GNU Bourne Again SHell"),
    ("coreutils", "9.1-1", "18062", "GNU core utilities"),
    ("dash", "0.5.12-2", "230", "POSIX-compliant shell"),
    ("debian-archive-keyring", "2023.3+deb12u1", "245", "GnuPG archive keys of the Debian archive"),
    ("dpkg", "1.21.22", "6420", "Debian package management system"),
    ("libc6", "2.36-9+deb12u4", "12987", "GNU C Library: Shared libraries"),
    ("tzdata", "2024a-0+deb12u1", "3197", "time zone and daylight-saving time data"),
]
_VIM_PKGS = [
    ("vim-common", "2:9.0.1378-2", "395", "Vi IMproved - Common files"),
    ("vim-tiny", "2:9.0.1378-2", "1739", "Vi IMproved - enhanced vi editor - compact version"),
]
_NGINX_PKGS = [
    ("nginx-common", "1.22.1-9", "427", "small, powerful, scalable web/proxy server - common files"),
    ("nginx-light", "1.22.1-9", "1133", "nginx web/proxy server (basic version)"),
]

_DEBS_BASE = ["var/cache/apt/archives/libc6_2.36-9+deb12u4_amd64.deb",
              "var/cache/apt/archives/coreutils_9.1-1_amd64.deb"]
_DEB_VIM = "var/cache/apt/archives/vim-tiny_2%3a9.0.1378-2_amd64.deb"
_DEB_NGINX = "var/cache/apt/archives/nginx-light_1.22.1-9_amd64.deb"

_NGINX_CONF = b"""user www-data;
worker_processes auto;
pid /run/nginx.pid;
include /etc/nginx/modules-enabled/*.conf;

events {
\tworker_connections 768;
}

http {
\tsendfile on;
\ttcp_nopush on;
\ttypes_hash_max_size 2048;
\tinclude /etc/nginx/mime.types;
\tdefault_type application/octet-stream;
\taccess_log /var/log/nginx/access.log;
\terror_log /var/log/nginx/error.log;
\tgzip on;
\tinclude /etc/nginx/conf.d/*.conf;
\tinclude /etc/nginx/sites-enabled/*;
}
"""

_SITE = b"""server {
\tlisten 80 default_server;
\tlisten [::]:80 default_server;
\troot /var/www/html;
\tindex index.html index.htm index.nginx-debian.html;
\tserver_name _;
\tlocation / {
\t\ttry_files $uri $uri/ =404;
\t}
}
"""

_INDEX_HTML = b"""<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>
</body>
</html>
"""


def _dirs(*paths: str) -> list[F]:
    return [F(p, "dir") for p in paths]


def _base_layer(compression: str) -> LayerSpec:
    e = _dirs("bin")
    e += [F("bin/cat", data=_elf("cat", 4_400), mode=0o755),
          F("bin/ls", data=_elf("ls", 14_200), mode=0o755),
          F("bin/sh", data=_elf("dash", 9_100), mode=0o755)]
    e += _dirs("etc")
    e += [F("etc/group", data=_GROUP), F("etc/hostname", data=b"buildkitsandbox\n"),
          F("etc/os-release", data=_OS_RELEASE), F("etc/passwd", data=_PASSWD)]
    e += [F("lib", "symlink", link="usr/lib"), F("tmp", "dir", mode=0o1777)]
    e += _dirs("usr", "usr/bin", "usr/lib")
    e += [F("usr/lib/libc.so.6", data=_elf("libc.so.6", 40_000), mode=0o755)]
    e += _dirs("usr/share", "usr/share/doc", "usr/share/doc/base-files", "usr/share/doc/dpkg")
    e += [F("usr/share/doc/base-files/copyright",
            data=b"This is the Debian prepackaged version of the Debian Base System\n"
                 b"Miscellaneous files. These files were written by Ian Murdock.\n"),
          F("usr/share/doc/dpkg/changelog.Debian.gz", data=_pseudo("dpkg-changelog", 2_300, b"\x1f\x8b\x08\x00"))]
    e += _dirs("var", "var/cache", "var/cache/apt", "var/cache/apt/archives")
    e += [F(p, data=_deb(p, 20_000 + 480 * i)) for i, p in enumerate(_DEBS_BASE)]
    e += _dirs("var/lib", "var/lib/dpkg")
    e += [F("var/lib/dpkg/status", data=_dpkg(_BASE_PKGS))]
    e += _dirs("var/log")
    return LayerSpec(e, "ADD rootfs.tar.xz / # debian-like base", compression)


_VIM_TINY = _elf("vim.tiny", 60_000)
_NGINX_BIN = _elf("nginx", 40_000)


def _vim_layer(compression: str) -> LayerSpec:
    e = _dirs("etc", "etc/vim") + [F("etc/vim/vimrc", data=b"runtime! debian.vim\nsyntax on\n")]
    e += _dirs("usr", "usr/bin") + [F("usr/bin/vim.tiny", data=_VIM_TINY, mode=0o755)]
    e += _dirs("usr/share", "usr/share/vim", "usr/share/vim/vim90", "usr/share/vim/vim90/colors")
    e += [F("usr/share/vim/vim90/debian.vim", data=b"set nocompatible\nset backspace=indent,eol,start\n"),
          F("usr/share/vim/vim90/defaults.vim", data=b"\" The default vimrc file.\nset history=200\nset ruler\n" * 20),
          F("usr/share/vim/vim90/colors/default.vim", data=b"hi clear\nlet g:colors_name = 'default'\n")]
    e += _dirs("var", "var/cache", "var/cache/apt", "var/cache/apt/archives")
    e += [F(_DEB_VIM, data=_deb("vim-tiny.deb", 30_000))]
    e += _dirs("var/lib", "var/lib/dpkg") + [F("var/lib/dpkg/status", data=_dpkg(_BASE_PKGS + _VIM_PKGS))]
    return LayerSpec(e, "RUN apt-get install -y vim-tiny", compression)


def _nginx_layer(compression: str, pkgs_before: list) -> LayerSpec:
    e = _dirs("etc", "etc/nginx")
    e += [F("etc/nginx/nginx.conf", data=_NGINX_CONF)]
    e += _dirs("etc/nginx/sites-available") + [F("etc/nginx/sites-available/default", data=_SITE)]
    e += _dirs("etc/nginx/sites-enabled")
    e += [F("etc/nginx/sites-enabled/default", "symlink", link="/etc/nginx/sites-available/default")]
    e += _dirs("usr", "usr/sbin") + [F("usr/sbin/nginx", data=_NGINX_BIN, mode=0o755)]
    e += _dirs("var", "var/cache", "var/cache/apt", "var/cache/apt/archives")
    e += [F(_DEB_NGINX, data=_deb("nginx-light.deb", 24_000))]
    e += _dirs("var/lib", "var/lib/dpkg")
    e += [F("var/lib/dpkg/status", data=_dpkg(pkgs_before + _NGINX_PKGS))]
    e += _dirs("var/log", "var/log/nginx", "var/www", "var/www/html")
    e += [F("var/www/html/index.html", data=_INDEX_HTML)]
    return LayerSpec(e, "RUN apt-get install -y nginx-light", compression)


def _cleanup_layer(compression: str, debs: list[str]) -> LayerSpec:
    e = _dirs("etc") + [F("etc/hostname", "whiteout")]
    e += _dirs("var", "var/cache", "var/cache/apt", "var/cache/apt/archives")
    e += [F(p, "whiteout") for p in sorted(debs)]
    return LayerSpec(e, "RUN rm -rf /var/cache/apt/archives/*.deb && rm /etc/hostname", compression)


_ENV_STEP = "/bin/sh -c #(nop)  ENV LANG=C.UTF-8"
_CMD_NGINX = '/bin/sh -c #(nop)  CMD ["nginx" "-g" "daemon off;"]'
_LABELS = {"org.opencontainers.image.base.name": "debian:bookworm-slim"}


def classic_image(compression: str = "none") -> ImageSpec:
    """A small Debian-like image with nginx and vim, exercising copy-ups,
    whiteouts, an opaque directory, a chmod-only copy-up and a hardlink."""
    c = compression
    layers: list = [
        _base_layer(c),
        EmptyStep(_ENV_STEP),
        _vim_layer(c),
        _nginx_layer(c, _BASE_PKGS + _VIM_PKGS),
        _cleanup_layer(c, _DEBS_BASE + [_DEB_VIM, _DEB_NGINX]),
        LayerSpec(_dirs("usr", "usr/share", "usr/share/doc")
                  + [F("usr/share/doc", "opaque"), F("usr/share/doc/README", data=b"docs\n")],
                  "RUN rm -rf /usr/share/doc && mkdir /usr/share/doc && echo docs > /usr/share/doc/README", c),
        LayerSpec(_dirs("usr", "usr/bin") + [F("usr/bin/vim.tiny", data=_VIM_TINY, mode=0o700)],
                  "RUN chmod 0700 /usr/bin/vim.tiny", c),
        # `ln` on a lower file copies it up first (overlayfs), so the layer
        # holds an identical copy of nginx plus the link to it -- as a real
        # build stores it, and as container engines can apply it.
        LayerSpec(_dirs("usr", "usr/sbin") + [F("usr/sbin/nginx", data=_NGINX_BIN, mode=0o755),
                                              F("usr/sbin/nginx-hardlink", "hardlink", link="usr/sbin/nginx")],
                  "RUN ln /usr/sbin/nginx /usr/sbin/nginx-hardlink", c),
        EmptyStep(_CMD_NGINX),
    ]
    return ImageSpec(layers, repo_tags=["layerscope-demo:classic"],
                     env=[DEFAULT_PATH, "LANG=C.UTF-8"], cmd=["nginx", "-g", "daemon off;"],
                     labels=dict(_LABELS), exposed_ports=["80/tcp"])


def classic_pair(compression: str = "none") -> list[ImageSpec]:
    """Two images on one base layer (the same blob): an editor image (base +
    vim) and a web image (base + nginx + cleanup)."""
    c = compression
    base = _base_layer(c)
    editor = ImageSpec(
        [base, EmptyStep(_ENV_STEP), _vim_layer(c), EmptyStep('/bin/sh -c #(nop)  CMD ["vim.tiny"]')],
        repo_tags=["layerscope-demo:editor"], env=[DEFAULT_PATH, "LANG=C.UTF-8"], cmd=["vim.tiny"],
        labels=dict(_LABELS))
    web = ImageSpec(
        [base, EmptyStep(_ENV_STEP), _nginx_layer(c, _BASE_PKGS),
         _cleanup_layer(c, _DEBS_BASE + [_DEB_NGINX]), EmptyStep(_CMD_NGINX)],
        repo_tags=["layerscope-demo:web"], env=[DEFAULT_PATH, "LANG=C.UTF-8"],
        cmd=["nginx", "-g", "daemon off;"], labels=dict(_LABELS), exposed_ports=["80/tcp"])
    return [editor, web]
