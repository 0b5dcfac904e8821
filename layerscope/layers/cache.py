"""On-disk cache of layer indexes, keyed by the layer's blob.

Where: $LAYERSCOPE_CACHE, else $XDG_CACHE_HOME/layerscope, else
~/.cache/layerscope.  LAYERSCOPE_CACHE=off disables it.  Bounded in size
(oldest files go first); a file that is corrupt, truncated or from another
version is ignored and rebuilt.

What the key guarantees: an entry is used for a layer only if the layer's
stored blob has, byte for byte, the same BLAKE3 hash as the blob the entry was
built from (the claimed digest, diff_id, media type and size are hashed in
too, but are not relied on).  The hash of a blob is computed once per process
and reused while the archive file keeps its device, inode, mtime and size, so
a file rewritten in place within one process with all of those unchanged is
not noticed.  Nothing authenticates the cache directory itself: whoever can
write to it can make layerscope show anything.
"""

from __future__ import annotations

import marshal
import os
from _thread import get_ident  # threading's own, without importing threading

from .. import __version__
from .blobs import fd_of
from ..model import Layer, LayerEntries

FORMAT = 2  # 2: per-file BLAKE3 digests and captured small files in the index
MAX_BYTES = 1 << 30
CHUNK = 16 << 20  # reads this large let BLAKE3 hash on several threads


def cache_dir() -> str | None:
    env = os.environ.get("LAYERSCOPE_CACHE")
    if env:
        return None if env.lower() in ("off", "0", "no", "none") else env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "layerscope")


def _hasher():
    """BLAKE2b for keys of small inputs, without loading OpenSSL (hashlib
    does): CPython's own module."""
    try:
        from _blake2 import blake2b
    except ImportError:  # an interpreter built without it
        from blake3 import blake3

        return blake3()
    return blake2b(digest_size=32)


_blob_hashes: dict[tuple, bytes] = {}  # what _hash_blob() computed in this process


def _hash_blob(path: str, fd: int, offset: int, size: int, file_size: int) -> bytes:
    """BLAKE3 of every byte of the blob, on several threads (it releases the GIL)."""
    from blake3 import blake3

    h = blake3(max_threads=blake3.AUTO)
    if offset == 0 and size == file_size and size:
        h.update_mmap(path)  # a whole file (an OCI layout's blob): mapped by blake3 itself
        return h.digest()
    buf = bytearray(min(size, CHUNK))
    mv = memoryview(buf)
    pos = 0
    while pos < size:
        n = os.preadv(fd, [mv[:min(CHUNK, size - pos)]], offset + pos)
        if n <= 0:
            raise OSError("the blob ended early")
        h.update(mv[:n])
        pos += n
    return h.digest()


def _key(layer: Layer) -> str | None:
    """The layer's cache key: a hash of every byte of its stored blob, plus
    what the archive claims about it.  The blob's hash is kept for the process
    as long as the archive file is the same file, unchanged."""
    b = layer.blob
    if b is None:
        return None
    try:
        st = os.stat(b.file)
        memo = (b.file, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size, b.offset, b.size)
        blob_hash = _blob_hashes.get(memo)
        if blob_hash is None:
            if b.offset < 0 or b.size < 0 or b.offset + b.size > st.st_size:
                return None  # a truncated blob: nothing to cache
            blob_hash = _blob_hashes[memo] = _hash_blob(b.file, fd_of(b.file), b.offset, b.size, st.st_size)
    except Exception:
        return None
    h = _hasher()
    h.update(f"{__version__}\0{FORMAT}\0{layer.digest}\0{layer.diff_id}\0{layer.media_type}\0{b.size}\0".encode())
    h.update(blob_hash)
    return h.hexdigest()


def load(layer: Layer) -> bool:
    d = cache_dir()
    key = _key(layer) if d else None
    if not key:
        return False
    path = os.path.join(d, key[:2], key)
    try:
        with open(path, "rb") as f:
            data = f.read()
        magic, version, fmt, state, comp, usize, warnings = marshal.loads(data)
        if magic != "layerscope-index" or version != __version__ or fmt != FORMAT:
            return False
        entries = LayerEntries.from_state(state)
    except Exception:  # missing, corrupt, truncated, foreign: rebuild
        return False
    layer.entries = entries
    layer.compression = comp
    layer.uncompressed_size = usize
    layer.warnings = list(warnings)
    try:
        os.utime(path)
    except OSError:
        pass
    return True


def store(layer: Layer) -> None:
    d = cache_dir()
    key = _key(layer) if d else None
    if not key or layer.entries is None:
        return
    sub = os.path.join(d, key[:2])
    try:
        os.makedirs(sub, exist_ok=True)
        data = marshal.dumps(("layerscope-index", __version__, FORMAT, layer.entries.to_state(),
                              layer.compression, layer.uncompressed_size, list(layer.warnings)))
        _write(sub, key, data)
        _trim(d)
    except OSError:
        pass  # a read-only or full cache never stops the tool


def load_digests(layer: Layer) -> dict[int, str]:
    """Content digests computed on an earlier open: {offset in the layer
    stream: sha256 hex}.  Empty when absent, corrupt or disabled."""
    d = cache_dir()
    key = _key(layer) if d else None
    if not key:
        return {}
    try:
        with open(os.path.join(d, key[:2], key + ".digests"), "rb") as f:
            magic, version, pairs = marshal.loads(f.read())
        if magic != "layerscope-digests" or version != __version__:
            return {}
        return {int(o): str(h) for o, h in pairs}
    except Exception:
        return {}


def store_digests(layer: Layer, digests: dict[int, str]) -> None:
    d = cache_dir()
    key = _key(layer) if d else None
    if not key or not digests:
        return
    sub = os.path.join(d, key[:2])
    try:
        os.makedirs(sub, exist_ok=True)
        _write(sub, key + ".digests", marshal.dumps(("layerscope-digests", __version__, sorted(digests.items()))))
    except OSError:
        pass


ANALYSIS_MIN_ENTRIES = 20_000  # below this the pass is quicker than reading a file


def _stack_key(layers) -> str | None:
    keys = [_key(l) for l in layers]
    if not keys or any(k is None for k in keys):
        return None
    h = _hasher()
    h.update(("stack\0" + "\0".join(keys)).encode())
    return h.hexdigest()


def load_analysis(layers):
    """The cached (stack state, change kinds) of this ordered stack, or None."""
    d = cache_dir()
    if not d or sum(len(l.entries) for l in layers) < ANALYSIS_MIN_ENTRIES:
        return None
    key = _stack_key(layers)
    if not key:
        return None
    try:
        with open(os.path.join(d, key[:2], key + ".stack"), "rb") as f:
            magic, version, state = marshal.loads(f.read())
        if magic != "layerscope-stack" or version != __version__:
            return None
        return state
    except Exception:
        return None


def store_analysis(layers, state) -> None:
    d = cache_dir()
    if not d or sum(len(l.entries) for l in layers) < ANALYSIS_MIN_ENTRIES:
        return
    key = _stack_key(layers)
    if not key:
        return
    sub = os.path.join(d, key[:2])
    try:
        os.makedirs(sub, exist_ok=True)
        _write(sub, key + ".stack", marshal.dumps(("layerscope-stack", __version__, state)))
        _trim(d)
    except (OSError, ValueError):
        pass


def _write(sub: str, name: str, data: bytes) -> None:
    """Write sub/name atomically: a reader never sees a partial file."""
    # a name of our own rather than tempfile.mkstemp: importing tempfile
    # (random, shutil...) is a start-up cost every small image would pay
    tmp = os.path.join(sub, f".{name}.{os.getpid()}.{get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0),
                 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(sub, name))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _trim(d: str) -> None:
    files = []
    total = 0
    for root, _, names in os.walk(d):
        for n in names:
            p = os.path.join(root, n)
            try:
                st = os.stat(p)
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, p))
            total += st.st_size
    if total <= MAX_BYTES:
        return
    files.sort()
    for _, size, p in files:
        if total <= MAX_BYTES * 0.8:
            break
        try:
            os.unlink(p)
            total -= size
        except OSError:
            pass
