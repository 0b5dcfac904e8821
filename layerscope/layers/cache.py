"""On-disk cache of layer indexes, keyed by the layer's blob.

Where: $LAYERSCOPE_CACHE, else $XDG_CACHE_HOME/layerscope, else
~/.cache/layerscope.  LAYERSCOPE_CACHE=off disables it.  Bounded in size
(oldest files go first); a file that is corrupt, truncated or from another
version is ignored and rebuilt.  The key hashes (BLAKE2b) the layer's digest, diff_id,
stored size and the first and last 64 KiB of the blob, so an archive that
lies about a digest cannot make another image show its entries.
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
SAMPLE = 64 << 10


def cache_dir() -> str | None:
    env = os.environ.get("LAYERSCOPE_CACHE")
    if env:
        return None if env.lower() in ("off", "0", "no", "none") else env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "layerscope")


def _hasher():
    """A cryptographic hash for the keys, without loading OpenSSL (hashlib
    does) nor blake3 (only images whose
    files are hashed need it): CPython's own BLAKE2b module."""
    try:
        from _blake2 import blake2b
    except ImportError:  # an interpreter built without it
        from blake3 import blake3

        return blake3()
    return blake2b(digest_size=32)


_keys: dict[tuple, str] = {}  # what _key() computed in this process


def _key(layer: Layer) -> str | None:
    """The layer's cache key: its identity (digest, diff_id, size) and 64 KiB
    of its blob's bytes at each end, read with pread (the mapped pages of a
    layer just walked are gone; faulting them back in would cost time).  Kept
    for the process, as long as the archive file is the same file, unchanged."""
    b = layer.blob
    if b is None:
        return None
    try:
        st = os.stat(b.file)
        memo = (b.file, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size, b.offset, b.size, layer.digest,
                layer.diff_id)
        key = _keys.get(memo)
        if key is not None:
            return key
        if b.offset + b.size > st.st_size:
            return None  # a truncated blob: nothing to cache
        fd = fd_of(b.file)
        head = os.pread(fd, min(SAMPLE, b.size), b.offset)
        tail = os.pread(fd, SAMPLE, b.offset + b.size - SAMPLE) if b.size > SAMPLE else b""
    except Exception:
        return None
    h = _hasher()
    h.update(f"{__version__}\0{FORMAT}\0{layer.digest}\0{layer.diff_id}\0{b.size}\0".encode())
    h.update(head)
    h.update(tail)
    key = _keys[memo] = h.hexdigest()
    return key


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
