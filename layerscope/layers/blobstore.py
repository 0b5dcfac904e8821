"""Blobs fetched from a registry, kept by digest so that a second open of the
same image, or of another one sharing layers, fetches none of them again.

Where: the subdirectory `blobs` of the layer cache's directory (see
layers/cache.py: $LAYERSCOPE_CACHE, $XDG_CACHE_HOME/layerscope or
~/.cache/layerscope), one file per blob named `<algorithm>-<hex>`.  With
LAYERSCOPE_CACHE=off the blobs go to a private temporary directory removed
when the process ends.  A blob is written to a temporary name while it
streams, hashed as it comes, and renamed to its digest's name only when its
size and digest are what the manifest said: a file under a digest's name was
checked once.  As with the index cache, nothing authenticates the directory
itself.  Bounded in size, least recently used first, trimmed once per process.
"""

from __future__ import annotations

import os
import stat
from _thread import allocate_lock, get_ident

from ..errors import ImageError
from .cache import cache_dir, own_dir

SUBDIR = "blobs"
MAX_BYTES = 20 << 30
ALGORITHMS = {"sha256": 64, "sha512": 128}
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_HEX = frozenset("0123456789abcdef")

_private: list[str] = []  # the temporary directory used while the cache is off
_used: set[str] = set()  # blob files this process has handed out: never trimmed from under it
_lock = allocate_lock()


def check_digest(digest: str, place: str) -> tuple[str, str]:
    """(algorithm, hex) of a digest that names a blob, or an ImageError: a
    digest is a file name here, so it must be exactly one the OCI spec allows."""
    alg, _, hexd = digest.partition(":") if isinstance(digest, str) else ("", "", "")
    if alg not in ALGORITHMS:
        raise ImageError(f"unsupported digest algorithm in {str(digest)[:40]!r}", place)
    if len(hexd) != ALGORITHMS[alg] or not _HEX.issuperset(hexd):
        raise ImageError(f"malformed digest {digest[:80]!r}", place)
    return alg, hexd


def store_dir() -> str:
    """The directory blobs go to, created when missing: the cache's own, or a
    private temporary one when the cache is off or cannot be trusted."""
    sub = own_dir(True, SUBDIR)
    if sub:
        return sub
    with _lock:
        if not _private:
            import tempfile

            _private.append(tempfile.mkdtemp(prefix="layerscope-blobs-"))
        return _private[0]


def path_of(digest: str, place: str) -> str:
    alg, hexd = check_digest(digest, place)
    path = os.path.join(store_dir(), f"{alg}-{hexd}")
    with _lock:
        _used.add(path)
    return path


def present(path: str, size: int) -> bool:
    """Whether a checked blob of `size` bytes is stored at `path` (a regular
    file, not a link someone put there)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size != size:
        return False
    try:
        os.utime(path)  # the trim removes the least recently used first
    except OSError:
        pass
    return True


class Writer:
    """Receives a blob's bytes as they stream, hashing them, and puts the file
    under its digest's name only when size and digest are right."""

    def __init__(self, digest: str, size: int, place: str) -> None:
        alg, self.hex = check_digest(digest, place)
        self.digest = digest
        self.size = size  # -1: not known in advance (a manifest fetched by tag)
        self.place = place
        import hashlib

        self.path = path_of(digest, place)
        self.hash = hashlib.new(alg)
        self.got = 0
        self.tmp = f"{self.path}.{os.getpid()}.{get_ident()}.part"
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o600)
        self.f = os.fdopen(fd, "wb")

    def write(self, data) -> None:
        self.got += len(data)
        if 0 <= self.size < self.got:
            self.abort()
            raise ImageError(f"the registry sent more than the {self.size:,} bytes the manifest gives "
                             f"{self.digest[:19]}…", self.place)
        self.hash.update(data)
        self.f.write(data)

    def finish(self) -> str:
        self.f.close()
        if 0 <= self.size != self.got:
            self.abort()
            raise ImageError(f"the registry sent {self.got:,} bytes of {self.digest[:19]}…, the manifest "
                             f"says {self.size:,}", self.place)
        got = self.hash.hexdigest()
        if got != self.hex:
            self.abort()
            alg = self.digest.partition(":")[0]
            raise ImageError(f"the registry's blob is {alg}:{got[:12]}…, it was asked for {self.digest[:19]}… "
                             "(a corrupt or tampered blob)", self.place)
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self.f.close()
        except OSError:
            pass
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


def put(digest: str, data: bytes, place: str, size: int | None = None) -> str:
    """Store a blob already in memory (a manifest or config), checked first
    against its digest and, when given, the size its descriptor states."""
    w = Writer(digest, len(data) if size is None else size, place)
    try:
        w.write(data)
    except BaseException:
        w.abort()
        raise
    return w.finish()


def cleanup() -> None:
    """Remove the private directory used while the cache was off."""
    with _lock:
        dirs, _private[:] = list(_private), []
    if dirs:
        import shutil

        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


_trimmed: set[str] = set()


def trim(limit: int | None = None) -> None:
    """Keep the blob directory under `limit` bytes, oldest first, at most once
    per process; never a blob this process uses, never a file not named as a
    blob or a partial download of one."""
    d = cache_dir()
    if not d or d in _trimmed:
        return
    _trimmed.add(d)
    sub = own_dir(False, SUBDIR)
    if not sub:
        return
    limit = MAX_BYTES if limit is None else limit
    import time

    files, stale, total = [], [], 0
    try:
        with os.scandir(sub) as it:
            for e in it:
                alg, dash, hexd = e.name.partition("-")
                part = hexd.endswith(".part")
                if part:
                    hexd = hexd.split(".", 1)[0]
                if not dash or alg not in ALGORITHMS or len(hexd) != ALGORITHMS[alg] or not _HEX.issuperset(hexd):
                    continue
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                if part:
                    # a download whose process died: left a day, so that a live one is never cut
                    if time.time() - st.st_mtime > 86400:
                        stale.append(e.path)
                    continue
                files.append((st.st_mtime_ns, st.st_size, e.path))
                total += st.st_size
    except OSError:
        return
    doomed = list(stale)
    if total > limit:
        for _, size, path in sorted(files):
            if total <= limit * 0.8:
                break
            if path not in _used:
                doomed.append(path)
                total -= size
    for path in doomed:
        try:
            os.unlink(path)
        except OSError:
            pass
