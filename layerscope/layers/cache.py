"""On-disk cache of layer indexes and analysis results, keyed by the layer's blob.

Where: $LAYERSCOPE_CACHE, else $XDG_CACHE_HOME/layerscope, else
~/.cache/layerscope.  LAYERSCOPE_CACHE=off disables it.  Every file lives in
the subdirectory `layerscope-cache-v<FORMAT>` of that directory.  Bounded in
size, least recently used first, trimmed once per process; only files in that
subdirectory with the cache's own names and header are ever deleted.

What the key guarantees: an entry is used for a layer only if the layer's
stored blob has, byte for byte, the same BLAKE3 hash as the blob the entry was
built from (the claimed digest, diff_id, media type and size are hashed in
too, but are not relied on).  The hash of a blob is computed once and reused
while the archive file keeps its device, inode, size, mtime and ctime -- within
one process, and by later processes too (the `hashes` files: a second open of a
big archive then reads no blob), so a file rewritten in place with all of
those unchanged is not noticed: changing a file's bytes sets its ctime to the
clock's time, so that takes setting the clock or writing the device.  A file
changed less than two seconds before it is hashed is not remembered across
processes (a later change may share its timestamps).  `--verify` indexes
without the cache and checks every blob against its digest.  Nothing authenticates the cache directory itself: whoever can
write to it can make layerscope show anything.  A file whose header, checksum,
version or contents do not check out is ignored and rebuilt.
"""

from __future__ import annotations

import marshal
import os
import stat
from _thread import allocate_lock, get_ident  # threading's own, without importing threading
from collections.abc import Callable

from .. import __version__
from ..model import DIGEST_SIZE, FILE, TYPE_NAMES, BlobRef, Layer, LayerEntries
from . import sparse as sparse_map
from .blobs import fd_of
from .compression import BOMB_FLOOR, BOMB_RATIO

FORMAT = 4  # 3: full-blob keys, own subdirectory, header with a checksum; 4: files stored twice in a tar, full tar length
SUBDIR = f"layerscope-cache-v{FORMAT}"
MAX_BYTES = 1 << 30
MAGIC = b"layerscope-cache\0" + bytes([FORMAT])
KINDS = {"index": b"i", "digests": b"d", "stack": b"s", "seek": b"g", "findings": b"n", "files": b"f",
         "packages": b"p", "pkgfindings": b"k", "pairs": b"a",
         "hashes": b"h", "report": b"r"}
HEADER = len(MAGIC) + 1 + 32  # magic, kind, BLAKE2b-256 of the payload
CHUNK = 16 << 20  # reads this large let BLAKE3 hash on several threads
_HEX = frozenset("0123456789abcdef")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def cache_dir() -> str | None:
    env = os.environ.get("LAYERSCOPE_CACHE")
    if env:
        return None if env.lower() in ("off", "0", "no", "none") else env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "layerscope")


def own_dir(create: bool, name: str = SUBDIR) -> str | None:
    """The cache's own subdirectory `name` (the index cache's, or the blob
    store's), or None when there is none we can trust (a symlink or someone
    else's directory could send writes elsewhere)."""
    d = cache_dir()
    if not d:
        return None
    sub = os.path.join(d, name)
    try:
        st = os.lstat(sub)
    except FileNotFoundError:
        if not create:
            return None
        try:
            os.makedirs(d, exist_ok=True)
            os.mkdir(sub, 0o700)
        except FileExistsError:
            pass
        except OSError:
            return None
        try:
            st = os.lstat(sub)
        except OSError:
            return None
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "geteuid") and st.st_uid != os.geteuid()):
        return None
    return sub


def _hasher():
    """BLAKE2b for keys and checksums of small inputs, without loading OpenSSL
    (hashlib does): CPython's own module."""
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
    import mmap

    # windows of the file mapped in turn rather than read: a read copies every byte (half the pass's
    # time), and a window at a time keeps the mapped pages few
    pos = offset
    end = offset + size
    while pos < end:
        start = pos - pos % mmap.ALLOCATIONGRANULARITY
        n = min(CHUNK, end - pos)
        if os.fstat(fd).st_size < pos + n:
            raise OSError("the blob ended early")  # checked first: touching a page past the end is SIGBUS
        with mmap.mmap(fd, pos + n - start, offset=start, access=mmap.ACCESS_READ) as m, \
                memoryview(m) as whole, whole[pos - start:] as v:
            h.update(v)
        pos += n
    return h.digest()


_file_hashes: dict[str, dict[tuple[int, int], bytes]] = {}  # the hashes files read or written by this process
RECENT_NS = 2_000_000_000  # a file changed this recently may change again with the same timestamps


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino, a.st_size, a.st_mtime_ns, a.st_ctime_ns) == \
        (b.st_dev, b.st_ino, b.st_size, b.st_mtime_ns, b.st_ctime_ns)


def _file_key(path: str, st: os.stat_result) -> str:
    h = _hasher()
    h.update(f"hashes\0{os.path.realpath(path)}\0{st.st_dev}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0"
             f"{st.st_ctime_ns}".encode())
    return h.hexdigest()


def _known_hashes(fkey: str) -> dict[tuple[int, int], bytes]:
    """The blob hashes remembered for one archive file in this state (a
    hashes file), {(offset, size): BLAKE3}; empty when none or not intact."""
    known = _file_hashes.get(fkey)
    if known is None:
        known = {}
        value = _read(fkey, "hashes")
        if isinstance(value, list) and all(
                isinstance(x, tuple) and len(x) == 3 and type(x[0]) is int and type(x[1]) is int
                and isinstance(x[2], bytes) and len(x[2]) == 32 for x in value):
            known = {(o, n): h for o, n, h in value}
        _file_hashes[fkey] = known
    return known


_remember_lock = allocate_lock()  # the hash-ahead thread and a look-up may both add to one hashes file


def _remembered_hash(b: BlobRef, st: os.stat_result) -> bytes:
    """A blob's hash as an earlier process of this file's state kept it, else hashed (and kept)."""
    fkey = _file_key(b.file, st)
    with _remember_lock:
        h = _known_hashes(fkey).get((b.offset, b.size))
    if h is None:
        h = _hash_blob(b.file, fd_of(b.file), b.offset, b.size, st.st_size)
        import time

        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > RECENT_NS and _same_file(os.stat(b.file), st):
            with _remember_lock:
                known = _known_hashes(fkey)
                known[(b.offset, b.size)] = h
                _store(fkey, "hashes", [(o, n, x) for (o, n), x in sorted(known.items())])
    return h


# -- hashing ahead: a first open of a big archive hashes its blobs on a thread
# while the layers are walked, instead of all of them before the first walk
AHEAD_MIN_BYTES = 64 << 20  # below this, hashing in turn costs less than a thread


class _Ahead:
    """One blob queued for the hash-ahead thread: `started` once the thread
    took it (a look-up then waits for `done`), else a look-up hashes it itself."""

    __slots__ = ("started", "done")

    def __init__(self, done) -> None:
        self.started = False
        self.done = done


_ahead_lock = allocate_lock()
_ahead: dict[tuple, _Ahead] = {}  # memo of _blob_hash -> its place in the queue


def _memo(b, st: os.stat_result) -> tuple:
    return (b.file, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size, b.offset, b.size)


def queue_hashes(layers) -> tuple[list[Layer], Callable[[], object]]:
    """Queue the blobs of `layers` (in the order they will be looked up)
    whose hash is neither known in this process nor remembered for their
    file, when they are big enough together to be worth a thread.  Returns
    those layers and a function that starts the thread and returns it (the
    caller picks when: not before it forks).  Their look-ups wait for the thread's hash,
    or hash themselves what it has not taken yet; the keys are the same."""
    if not cache_dir():
        return [], lambda: None
    queued: list[tuple[tuple, BlobRef, os.stat_result]] = []
    out = []
    for layer in layers:
        b = layer.blob
        if b is None or _in_blob_store(layer):
            continue
        try:
            st = os.stat(b.file)
        except OSError:
            continue
        memo = _memo(b, st)
        if memo in _blob_hashes or not (0 <= b.offset and 0 <= b.size and b.offset + b.size <= st.st_size):
            continue
        with _remember_lock:
            if (b.offset, b.size) in _known_hashes(_file_key(b.file, st)):
                continue
        queued.append((memo, b, st))
        out.append(layer)
    if sum(b.size for _, b, _ in queued) < AHEAD_MIN_BYTES:
        return [], lambda: None
    import threading

    for memo, _, _ in queued:
        _ahead[memo] = _Ahead(threading.Event())

    def run() -> None:
        for memo, b, st in queued:
            with _ahead_lock:
                job = _ahead.get(memo)
                if job is None:
                    continue  # a look-up took it first
                job.started = True
            try:
                _blob_hashes[memo] = _remembered_hash(b, st)
            except Exception:
                pass  # the look-up hashes it again, and decides
            finally:
                with _ahead_lock:
                    _ahead.pop(memo, None)
                job.done.set()

    started: list[threading.Thread] = []

    def start() -> threading.Thread | None:
        if not started:
            started.append(threading.Thread(target=run, name="layerscope-hash-ahead", daemon=True))
            started[0].start()
        return started[0]

    return out, start


def _key(layer: Layer) -> str | None:
    """The layer's cache key: a hash of every byte of its stored blob, plus
    what the archive claims about it.  The blob's hash is kept for the process
    as long as the archive file is the same file, unchanged."""
    b = layer.blob
    if b is None:
        return None
    if _in_blob_store(layer):
        from .partial import listed

        # a listing from the layer's table of contents has offsets of its own: never taken for a walk's
        how = "by its table of contents" if listed(b.file) else "by digest"
        h = _hasher()
        h.update(f"{__version__}\0{FORMAT}\0{how}\0{layer.digest}\0{layer.diff_id}\0{layer.media_type}\0"
                 f"{b.size}\0".encode())
        return h.hexdigest()
    blob_hash = _blob_hash(b)
    if blob_hash is None:
        return None
    h = _hasher()
    h.update(f"{__version__}\0{FORMAT}\0{layer.digest}\0{layer.diff_id}\0{layer.media_type}\0{b.size}\0".encode())
    h.update(blob_hash)
    return h.hexdigest()


def _blob_hash(b) -> bytes | None:
    """BLAKE3 of every byte of a blob, kept for the process while its file
    is the same file, unchanged; None when it cannot be read whole."""
    try:
        st = os.stat(b.file)
        memo = _memo(b, st)
        blob_hash = _blob_hashes.get(memo)
        if blob_hash is None and _ahead:
            with _ahead_lock:
                job = _ahead.get(memo)
                if job is not None and not job.started:
                    del _ahead[memo]  # not taken yet: hashed here, now
                    job.done.set()
                    job = None
            if job is not None:
                job.done.wait()
                blob_hash = _blob_hashes.get(memo)
        if blob_hash is None:
            if b.offset < 0 or b.size < 0 or b.offset + b.size > st.st_size:
                return None  # a truncated blob: nothing to cache
            blob_hash = _blob_hashes[memo] = _remembered_hash(b, st)
    except Exception:
        return None
    return blob_hash


def _seek_key(b) -> str | None:
    """The key of a blob's seek index (layers/seekindex.py): its digest when
    it is in the blob store (checked there), else the hash of its bytes."""
    h = _hasher()
    name = os.path.basename(b.file)
    if b.offset == 0 and "-" in name and os.path.dirname(b.file) == own_dir(False, "blobs"):
        h.update(f"{__version__}\0{FORMAT}\0seek\0{name}\0{b.size}".encode())
        return h.hexdigest()
    blob_hash = _blob_hash(b)
    if blob_hash is None:
        return None
    h.update(f"{__version__}\0{FORMAT}\0seek\0{b.size}\0".encode())
    h.update(blob_hash)
    return h.hexdigest()


def load_seek_index(b) -> bytes | None:
    key = _seek_key(b) if cache_dir() else None
    value = _read(key, "seek") if key else None
    return value if isinstance(value, bytes) else None


def store_seek_index(b, data: bytes) -> None:
    key = _seek_key(b) if cache_dir() else None
    if key:
        _store(key, "seek", data)


def _in_blob_store(layer: Layer) -> bool:
    """Whether the layer's blob is (or is to be) a registry's, in the blob
    store under its digest's name: such a file is there only once its bytes
    had that digest (layers/blobstore.py), so the digest is the key, and a
    second open needs neither the blob nor a pass over it."""
    b = layer.blob
    alg, _, hexd = layer.digest.partition(":")
    if b.offset != 0 or not hexd or os.path.basename(b.file) != f"{alg}-{hexd}":
        return False
    return os.path.dirname(b.file) == own_dir(False, "blobs")


# -- files: a header (magic, kind, checksum) then a marshal payload ---------
def _read(key: str, kind: str):
    """The payload stored under key, or None when absent or not intact."""
    sub = own_dir(False)
    if not sub:
        return None
    path = os.path.join(sub, f"{key}.{kind}")
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        with os.fdopen(fd, "rb") as f:
            data = f.read()
        if data[:len(MAGIC)] != MAGIC or data[len(MAGIC):len(MAGIC) + 1] != KINDS[kind]:
            return None
        payload = memoryview(data)[HEADER:]
        h = _hasher()
        h.update(payload)
        if h.digest() != data[len(MAGIC) + 1:HEADER]:
            return None  # a torn or altered file
        version, value = marshal.loads(payload)
        if version != __version__:
            return None
    except Exception:  # missing, corrupt, truncated, foreign: rebuild
        return None
    try:
        os.utime(path)  # the trim removes the least recently used first
    except OSError:
        pass
    return value


def _store(key: str, kind: str, value) -> None:
    sub = own_dir(True)
    if not sub:
        return
    try:
        payload = marshal.dumps((__version__, value))
        h = _hasher()
        h.update(payload)
        _write(sub, f"{key}.{kind}", MAGIC + KINDS[kind] + h.digest() + payload)
    except (OSError, ValueError):
        pass  # a read-only or full cache never stops the tool


# -- checks of what was loaded: anything unexpected is a miss ----------------
_TYPE_CODES = bytes(sorted(TYPE_NAMES))
_COMPRESSIONS = ("none", "gzip", "zstd")  # what compression.sniff lets indexing through


def _entries_of(value, blob_size: int):
    """(entries, compression, uncompressed size, warnings) from a cached index,
    or a ValueError/TypeError when it is not one this version could have written."""
    state, comp, usize, warnings = value
    if not (isinstance(state, tuple) and len(state) == 13 and comp in _COMPRESSIONS and type(usize) is int
            and isinstance(warnings, list) and all(isinstance(w, str) for w in warnings)):
        raise ValueError("not an index")
    # what indexing could have found in this blob: a tar no larger than it, or what a stream below the bomb limit holds
    if not 0 <= usize <= (blob_size if comp == "none" else max(BOMB_FLOOR, blob_size * BOMB_RATIO)):
        raise ValueError("an uncompressed size the blob cannot have")
    paths, types, sizes, modes, uids, gids, mtimes, offsets, links, digests, captured, sparse, dropped = state
    if not (isinstance(paths, str) and all(isinstance(x, bytes) for x in (types, sizes, modes, uids, gids, mtimes,
                                                                         offsets, digests))
            and isinstance(links, list) and isinstance(captured, list) and isinstance(sparse, list)
            and all(isinstance(x, tuple) and len(x) == 3 and type(x[0]) is int and type(x[1]) is int
                    and isinstance(x[2], bytes) and len(x[2]) % 16 == 0 for x in sparse)
            and isinstance(dropped, list)
            and all(isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str) and type(x[1]) is int
                    and 0 < x[1] <= usize for x in dropped)):
        raise ValueError("not an index")
    e = LayerEntries.from_state(state)
    n = len(e)
    if not (len(e.uids) == len(e.gids) == len(e.mtimes) == n) or len(e.digests) not in (0, DIGEST_SIZE * n):
        raise ValueError("columns of different lengths")
    if e.types.translate(None, _TYPE_CODES):
        raise ValueError("unknown entry type")
    for i, (stored, smap) in e.sparse.items():  # a map indexing could have made, for a file
        if not 0 <= i < n or e.types[i] != FILE or i in e.captured:
            raise ValueError("a bad sparse map")
        try:
            if sparse_map.check(smap, e.sizes[i], stored, len(smap) // 2) != smap:
                raise ValueError("a bad sparse map")
        except sparse_map.SparseError:
            raise ValueError("a bad sparse map") from None
    if n and (min(e.sizes) < 0 or min(e.offsets) < 0 or max(e.modes) > 0o7777
              or max([o + e.stored_size(k) for k, o in enumerate(e.offsets)] if e.sparse
                     else map(int.__add__, e.offsets, e.sizes)) > usize):
        raise ValueError("an entry outside the layer")
    for i, link in e.links.items():
        if type(i) is not int or not 0 <= i < n or not isinstance(link, str):
            raise ValueError("a bad link")
    for i, content in e.captured.items():
        if type(i) is not int or not 0 <= i < n or not isinstance(content, bytes) or len(content) > e.sizes[i]:
            raise ValueError("a bad captured file")
    return e, comp, usize, warnings


def load(layer: Layer) -> bool:
    key = _key(layer) if cache_dir() else None
    value = _read(key, "index") if key else None
    if value is None:
        return False
    try:
        entries, comp, usize, warnings = _entries_of(value, layer.blob.size)
    except Exception:
        return False
    layer.entries = entries
    layer.compression = comp
    layer.uncompressed_size = usize
    layer.warnings = list(warnings)
    return True


def store(layer: Layer) -> None:
    key = _key(layer) if cache_dir() else None
    if not key or layer.entries is None:
        return
    _store(key, "index", (layer.entries.to_state(), layer.compression, layer.uncompressed_size,
                          list(layer.warnings)))


def load_digests(layer: Layer) -> dict[int, str]:
    """Content digests computed on an earlier open: {offset in the layer
    stream: sha256 hex}.  Empty when absent, corrupt or disabled."""
    key = _key(layer) if cache_dir() else None
    pairs = _read(key, "digests") if key else None
    if not isinstance(pairs, list):
        return {}
    usize = layer.uncompressed_size
    out = {}
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            return {}
        o, h = pair
        if type(o) is not int or not 0 <= o <= usize or not isinstance(h, str) or len(h) != 64 \
                or not _HEX.issuperset(h):
            return {}
        out[o] = h
    return out


def store_digests(layer: Layer, digests: dict[int, str]) -> None:
    key = _key(layer) if cache_dir() else None
    if not key or not digests:
        return
    _store(key, "digests", sorted(digests.items()))


def load_files(layer: Layer) -> dict[int, bytes]:
    """Contents of a few of the layer's files kept on an earlier open (the
    package databases): {entry index: bytes}.  Empty when absent, corrupt or
    disabled; an item that does not fit the layer's index voids them all."""
    key = _key(layer) if cache_dir() and layer.entries is not None else None
    pairs = _read(key, "files") if key else None
    if not isinstance(pairs, list):
        return {}
    e = layer.entries
    out = {}
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            return {}
        i, data = pair
        if type(i) is not int or not 0 <= i < len(e) or e.types[i] != FILE or not isinstance(data, bytes) \
                or len(data) != e.sizes[i]:
            return {}
        out[i] = data
    return out


def store_files(layer: Layer, files: dict[int, bytes]) -> None:
    key = _key(layer) if cache_dir() else None
    if key and files:
        _store(key, "files", sorted(files.items()))


ANALYSIS_MIN_ENTRIES = 20_000  # below this the pass is quicker than reading a file


def _stack_key(layers, part: str = "stack", extra: str = "") -> str | None:
    keys = [_key(l) for l in layers]
    if not keys or any(k is None for k in keys):
        return None
    h = _hasher()
    h.update((part + "\0" + "\0".join(keys)).encode())
    if extra:  # what else the value depends on (for findings: the base, the build steps)
        h.update(b"\0\0" + extra.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def load_analysis(layers, check, part: str = "stack", extra: str = ""):
    """The cached (stack state, change kinds) of this ordered stack, or None;
    with `part="findings"`, the findings made of it (`extra`: what else they
    depend on).  `check(layers, value)` raises unless the value fits these
    layers: the analysis knows its own state's shape, the cache does not."""
    if not cache_dir() or sum(len(l.entries) for l in layers) < ANALYSIS_MIN_ENTRIES:
        return None
    key = _stack_key(layers, part, extra)
    value = _read(key, part) if key else None
    if value is None:
        return None
    try:
        check(layers, value)
    except Exception:
        return None
    return value


def store_analysis(layers, state, part: str = "stack", extra: str = "") -> None:
    if not cache_dir() or sum(len(l.entries) for l in layers) < ANALYSIS_MIN_ENTRIES:
        return
    key = _stack_key(layers, part, extra)
    if not key:
        return
    _store(key, part, state)
    trim()


def load_packages(layers):
    """The cached package analysis of this ordered stack (its own state, which
    analysis.packages checks as it loads it), or None."""
    key = _stack_key(layers) if cache_dir() else None
    return _read(key, "packages") if key else None


def store_packages(layers, state) -> None:
    key = _stack_key(layers) if cache_dir() else None
    if key:
        _store(key, "packages", state)


# -- whole documents: a command's output for unchanged archive files --------
def archive_state(path: str) -> str | None:
    """What identifies a local archive file's bytes for a cached document:
    its real path, device, inode, size, mtime and ctime (as the blob hashes
    are remembered); None for anything else (a registry, a directory, a pipe)
    or a file changed too recently to tell a later change from this one."""
    import time

    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode) or time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) <= RECENT_NS:
        return None
    return f"{os.path.realpath(path)}\0{st.st_dev}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"


def code_state() -> str:
    """The installed code's files (path, size, mtime): a cached document made
    by other code, even at the same version number, is never served."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    import sys

    parts = [__version__, str(FORMAT), sys.version]
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.endswith((".py", ".so", ".pyd")):
                try:
                    st = os.stat(os.path.join(d, name))
                except OSError:
                    continue
                parts.append(f"{os.path.relpath(os.path.join(d, name), root)}\0{st.st_size}\0{st.st_mtime_ns}")
    return "\0".join(parts)


def document_key(what: str, inputs: list[str]) -> str | None:
    """The key of a cached document: `what` it is, everything it was made
    from (`inputs`, each a string) and the code that made it; None when the
    cache is off."""
    if not cache_dir():
        return None
    h = _hasher()
    h.update(f"document\0{what}\0".encode())
    for part in [code_state(), *inputs]:
        h.update(part.encode("utf-8", "surrogatepass") + b"\0\0")
    return h.hexdigest()


def load_document(key: str) -> str | None:
    value = _read(key, "report")
    return value if isinstance(value, str) else None


def store_document(key: str, text: str) -> None:
    _store(key, "report", text)
    trim()


def _write(sub: str, name: str, data: bytes) -> None:
    """Write sub/name atomically: a reader never sees a partial file."""
    # a name of our own rather than tempfile.mkstemp: importing tempfile
    # (random, shutil...) is a start-up cost every small image would pay
    tmp = os.path.join(sub, f".{name}.{os.getpid()}.{get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o600)
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


# -- trimming: once per process, only the cache's own files -----------------
def _own_name(name: str) -> bool:
    key, dot, kind = name.partition(".")
    return dot == "." and kind in KINDS and len(key) == 64 and _HEX.issuperset(key)


def _own_file(name: str, dfd: int) -> bool:
    """Whether name (in the directory dfd) is a regular file that starts with
    the cache's header; opened without following a symlink."""
    try:
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0), dir_fd=dfd)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        return os.pread(fd, len(MAGIC) + 1, 0) == MAGIC + KINDS[name.partition(".")[2]]
    except OSError:
        return False
    finally:
        os.close(fd)


_trimmed: set[str] = set()  # the cache directories trimmed by this process


def trim() -> None:
    """Keep the cache under MAX_BYTES, oldest files first: one scandir of the
    cache's own subdirectory, at most once per process."""
    d = cache_dir()
    if not d or d in _trimmed:
        return
    _trimmed.add(d)
    sub = own_dir(False)
    if not sub:
        return
    try:
        dfd = os.open(sub, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW)
    except OSError:
        return
    try:
        files = []
        total = 0
        with os.scandir(dfd) as it:
            for e in it:
                if not _own_name(e.name):
                    continue
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    files.append((st.st_mtime_ns, st.st_size, e.name))
                    total += st.st_size
        if total <= MAX_BYTES:
            return
        files.sort()
        for _, size, name in files:
            if total <= MAX_BYTES * 0.8:
                break
            if _own_file(name, dfd):
                try:
                    os.unlink(name, dir_fd=dfd)
                    total -= size
                except OSError:
                    pass
    except OSError:
        pass
    finally:
        os.close(dfd)
