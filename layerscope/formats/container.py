"""The outer container of an image: a tar archive (docker save, podman save,
oci-archive) or a directory (OCI layout).  Both answer the same questions:
which names exist, read a small JSON file, and where a blob's bytes are.

Names inside the container are data from a stranger: a manifest path that
leaves the container, or a symlink that points outside it, is an error, never
a file read from the host.
"""

from __future__ import annotations

import json
import os
import posixpath

from ..errors import ImageError, LayerError
from ..layers.blobs import CHANGED, fd_of, file_view, pread_exact, require, shrunk
from ..layers.tarwalk import TarIndexer, normalise
from ..model import DIR, FILE, HARDLINK, SYMLINK, BlobRef

MAX_JSON = 64 << 20  # manifests and configs are small; refuse absurd ones
# ... and bound what parsing costs: every JSON value is a Python object (an
# empty list is 56 bytes from 3 bytes of text), so 64 MB of `[],[],...` would
# take ~1.7 GB.  Values are counted (over-counted: separators inside strings
# count too) before parsing; real manifests and configs hold thousands.
MAX_JSON_VALUES = 2_000_000
MAX_LINK_HOPS = 40


class Container:
    label: str

    def exists(self, name: str) -> bool:
        raise NotImplementedError

    def blob(self, name: str) -> BlobRef:
        raise NotImplementedError

    def read_json(self, name: str, what: str = "JSON"):
        ref = self.blob(name)
        if ref.size > MAX_JSON:
            raise ImageError(f"{what} {name!r} is {ref.size} bytes, too large to be one", self.label)
        try:
            data = pread_exact(ref.file, ref.offset, ref.size, name)  # pread: a shrunk file is an error, not SIGBUS
        except LayerError as e:
            raise ImageError(f"{what} {name!r}: {e.message}", self.label) from None
        if data.count(b",") + data.count(b":") + data.count(b"[") > MAX_JSON_VALUES:
            raise ImageError(f"{what} {name!r} holds more than {MAX_JSON_VALUES:,} JSON values, "
                             "too many to be one", self.label)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ImageError(f"invalid {what} in {name!r} (not UTF-8 text: byte {e.start})", self.label) from None
        try:
            return json.loads(text)
        except (ValueError, UnicodeDecodeError) as e:
            raise ImageError(f"invalid {what} in {name!r} ({e})", self.label) from None
        except RecursionError:
            raise ImageError(f"invalid {what} in {name!r} (nested too deeply)", self.label) from None

    def names(self) -> list[str]:
        raise NotImplementedError


def _clean(name: str, label: str) -> str:
    n = normalise(name)
    if n is None or n == "":
        raise ImageError(f"path {name!r} points outside the archive", label)
    return n


class TarContainer(Container):
    """A tar file, indexed once by walking its headers over mmap."""

    def __init__(self, path: str, label: str | None = None):
        self.path = path
        self.label = label or path
        view = file_view(path)
        if len(view) == 0:
            raise ImageError("the file is empty", self.label)
        head = pread_exact(path, 0, min(512, len(view)), self.label)
        from ..layers.compression import sniff

        kind = sniff(head)
        if kind in ("gzip", "zstd", "bzip2", "xz"):
            raise ImageError(f"this is a {kind}-compressed file; an image archive is a plain tar "
                             f"(decompress it first, or use `docker save` / `podman save` output)", self.label)
        if kind != "none" or len(view) < 512:
            raise ImageError("not an image archive (not a tar file)", self.label)
        try:
            # plain headers with pread: fewer mapped pages touched while another process may cut the file
            ix = TarIndexer(view, None, None, self.label, what="archive", pread_from=(fd_of(path), 0))
            self.entries = ix.run()
        except LayerError as e:
            if shrunk(path):
                raise ImageError(CHANGED, self.label) from None
            raise ImageError(f"not a readable tar archive: {e.message}", self.label) from None
        if shrunk(path):
            raise ImageError(CHANGED, self.label)
        self.index = {p: i for i, p in enumerate(self.entries.paths)}

    def names(self) -> list[str]:
        return list(self.entries.paths)

    def exists(self, name: str) -> bool:
        try:
            self._resolve(name)
            return True
        except ImageError:
            return False

    def _resolve(self, name: str) -> int:
        n = _clean(name, self.label)
        e = self.entries
        for _ in range(MAX_LINK_HOPS):
            i = self.index.get(n)
            if i is None:
                raise ImageError(f"{name!r} is missing from the archive", self.label)
            t = e.types[i]
            if t == FILE:
                return i
            if t == SYMLINK:
                target = e.links.get(i) or ""
                if target.startswith("/"):
                    raise ImageError(f"{name!r} is a symlink to {target!r}, outside the archive", self.label)
                joined = posixpath.join(posixpath.dirname(n), target)
                if normalise(joined) is None:
                    raise ImageError(f"{name!r} is a symlink to {target!r}, outside the archive", self.label)
                n = _clean(joined, self.label)
                continue
            if t == HARDLINK:
                n = _clean(e.links.get(i) or "", self.label)
                continue
            if t == DIR:
                raise ImageError(f"{name!r} is a directory, not a file", self.label)
            raise ImageError(f"{name!r} is not a regular file", self.label)
        raise ImageError(f"{name!r}: too many levels of symbolic links", self.label)

    def blob(self, name: str) -> BlobRef:
        i = self._resolve(name)
        e = self.entries
        if i in e.sparse:  # its bytes are not one range of the archive
            raise ImageError(f"{name!r} is stored as a GNU sparse file in the archive; not supported", self.label)
        ref = BlobRef(self.path, e.offsets[i], e.sizes[i], name)
        if ref.offset + ref.size > len(file_view(self.path)):
            raise ImageError(f"{name!r} is truncated", self.label)
        try:
            require(self.path, ref.offset + ref.size, name)
        except LayerError as e:
            raise ImageError(e.message, self.label) from None
        return ref


class DirContainer(Container):
    """A directory (an OCI image layout on disk)."""

    def __init__(self, path: str):
        self.root = os.path.realpath(path)
        self.label = path

    def _path(self, name: str) -> str:
        n = _clean(name, self.label)
        full = os.path.realpath(os.path.join(self.root, n))
        if full != self.root and not full.startswith(self.root + os.sep):
            raise ImageError(f"path {name!r} points outside the image directory", self.label)
        return full

    def names(self) -> list[str]:
        out = []
        for d, _, files in os.walk(self.root):
            for f in files:
                out.append(os.path.relpath(os.path.join(d, f), self.root))
        return out

    def exists(self, name: str) -> bool:
        try:
            return os.path.isfile(self._path(name))
        except ImageError:
            return False

    def blob(self, name: str) -> BlobRef:
        full = self._path(name)
        if not os.path.isfile(full):
            raise ImageError(f"{name!r} is missing from the image directory", self.label)
        return BlobRef(full, 0, os.path.getsize(full), name)


def open_container(path: str, label: str | None = None) -> Container:
    if os.path.isdir(path):
        return DirContainer(path)
    try:
        return TarContainer(path, label)
    except FileNotFoundError:
        raise ImageError("no such file", label or path) from None
    except IsADirectoryError:
        return DirContainer(path)
    except PermissionError:
        raise ImageError("permission denied", label or path) from None
    except OSError as e:
        raise ImageError(f"cannot read it ({e.strerror or e})", label or path) from None
