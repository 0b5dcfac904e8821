"""Index layers: walk each layer's tar headers into LayerEntries.

Layers already indexed before (same blob) come from the cache; the blobs of
a big first open are hashed for their keys on a thread beside the walks,
each layer looked up just before its walk would start.  Compressed
layers are indexed in two threads (decoding and hashing release the GIL);
uncompressed ones in this process first, and what is left after 0.25 s in
worker processes (their walk is Python work, held by the GIL), the CLI's
process walking the small ones of those meanwhile.  A registry's layers are
indexed while they download, several at once (layers/pipe.py), or listed
from their tables of contents (layers/toc.py).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable

from ..errors import LayerError
from ..model import BlobRef, Layer, LayerEntries, LayerGraph
from . import cache
from .blobs import CHANGED, blob_view, fd_of, pread_exact, release, release_range, require, shrunk
from .compression import (
    BOMB_FLOOR,
    BOMB_RATIO,
    NOTE_MIN_BYTES,
    NOTE_RATIO,
    decode_error,
    open_stream,
    sniff,
    zstd_truncation,
)
from .tarwalk import TarIndexer

PARALLEL_MIN_BYTES = 48 << 20  # below this, a process pool costs more than it saves
# Uncompressed layers cost per entry, not per byte (a 160 MB layer of three
# big files walks in a millisecond), so their size says little: they are
# walked here first, and only what is left after this long goes to a pool
# (a pool's processes cost memory that a little walking left does not repay).
SEQUENTIAL_FIRST_S = 0.25

# Every parent directory a layer does not list is implied, and each is a path
# string of its own, so one deep path costs the square of its depth: the
# implied parents of one layer are refused past this many characters in all.
MAX_IMPLIED_CHARS = 1 << 27
# Paths this short imply parents costing at most a small multiple of their own
# tar headers, so only longer ones are walked for the check.
SHORT_PATH = 256

DEEP = (f"paths nested too deeply: the directories they imply would take more than {MAX_IMPLIED_CHARS:,} "
        "characters of paths (deeper than a file system allows)")

Progress = Callable[[int, int, Layer], None]
ProcessPoolExecutor = None  # concurrent.futures' class, imported on first parallel use


def _pool_class():
    global ProcessPoolExecutor
    if ProcessPoolExecutor is None:
        from concurrent.futures import ProcessPoolExecutor as cls

        ProcessPoolExecutor = cls
    return ProcessPoolExecutor


def wants_digests(layer: Layer) -> bool:
    """Hash a (compressed) layer's files while indexing it when it is in an
    image with other layers: its files may then be one side of a copy-up
    pair whose contents the analysis compares.  A one-layer image has none."""
    return any(len(im.layers) > 1 for im in layer.images) if layer.images else True


def _job(file: str, offset: int, size: int, name: str, media_type: str, place: str, hash_files: bool = False):
    """Runs in a worker process: returns only compact, picklable state."""
    try:
        entries, comp, usize, warnings, bomb = index_blob(BlobRef(file, offset, size, name), media_type, place,
                                                          hash_files)
    except LayerError as e:
        return ("error", e.line())
    except MemoryError:
        return ("error", f"{place}: out of memory while indexing")
    return ("ok", entries.to_state(), comp, usize, warnings, bomb)


def _apply(layer: Layer, result) -> None:
    if result[0] == "error":
        layer.error = result[1]
        layer.entries = LayerEntries()
        return
    _, state, comp, usize, warnings, bomb = result
    layer.entries = state if isinstance(state, LayerEntries) else LayerEntries.from_state(state)
    layer.compression = comp
    layer.uncompressed_size = usize
    layer.warnings = list(warnings)
    layer.bomb = bomb


def place_of(layer: Layer) -> str:
    """`ARCHIVE: layer N (blobs/sha256/0123456789ab…)` -- where a user can
    find the layer: its archive, its index in the (first) image that uses
    it, and the blob's name in the archive."""
    src = layer.images[0].source if layer.images else (layer.blob.file if layer.blob else "")
    pos = f"layer {layer.images[0].layers.index(layer)}" if layer.images else f"layer {layer.short_id}"
    name = layer.blob.name if layer.blob else "?"
    base, _, tail = name.rpartition("/")
    if len(tail) > 16 and all(c in "0123456789abcdef" for c in tail[:16]):
        name = f"{base}/{tail[:12]}…" if base else tail[:12] + "…"
    return f"{src}: {pos} ({name})" if src else f"{pos} ({name})"


def _compressed(layer: Layer) -> bool:
    """Whether the layer's blob starts like gzip or zstd (a peek at 4 bytes)."""
    if layer.blob is None:
        return False
    try:
        b = layer.blob
        return sniff(pread_exact(b.file, b.offset, min(512, b.size), b.name)) in ("gzip", "zstd")
    except Exception:
        return False


def implied_too_costly(entries: LayerEntries, budget: int | None = None) -> bool:
    """Whether the parents that long paths imply (not listed as entries)
    would take more than `budget` characters of path strings.  The walk stops
    at the budget, so the check costs at most what it allows."""
    budget = MAX_IMPLIED_CHARS if budget is None else budget
    paths = entries.paths
    if not paths or max(map(len, paths)) <= SHORT_PATH:
        return False  # the common case, decided in C
    long = [p for p in paths if len(p) > SHORT_PATH]
    listed = set(paths)
    implied: set[int] = set()  # hashes, so the check keeps no copy of the strings it counts
    cost = 0
    for p in long:
        end = p.rfind("/")
        while end > 0:
            q = p[:end]
            if q in listed:
                break
            h = hash(q)
            if h in implied:
                break
            implied.add(h)
            cost += end
            if cost > budget:
                return True
            end = p.rfind("/", 0, end)
    return False


def index_blob(ref: BlobRef, media_type: str = "", place: str | None = None, hash_files: bool = False):
    """Index a layer blob.  Returns (entries, compression, uncompressed_size,
    warnings, bomb).  Raises LayerError when the blob cannot be read.

    With `hash_files`, a compressed layer's regular files are hashed as they
    stream past (an uncompressed one is compared in place later instead)."""
    place = place or ref.name
    if "encrypted" in media_type:
        raise LayerError("the layer is encrypted (ocicrypt); it cannot be read without its key", place)
    require(ref.file, ref.offset + ref.size, place)  # before any mapped page is touched
    view = blob_view(ref)
    comp = sniff(pread_exact(ref.file, ref.offset, min(512, ref.size), place))
    if comp in ("bzip2", "xz"):
        raise LayerError(f"{comp}-compressed layers are not supported", place)
    if comp == "unknown":
        raise LayerError("not a tar, gzip or zstd layer (unknown format)", place)
    if comp == "none":
        ix = TarIndexer(view, None, None, place,
                        release=lambda a, b: release_range(ref.file, ref.offset + a, ref.offset + b),
                        pread_from=(fd_of(ref.file), ref.offset))
        read, decoded, limit = None, [0], 0
    else:
        if comp == "zstd":
            cut = zstd_truncation(view)
            if cut:
                raise LayerError(cut, place)
        ix, read, decoded, limit = _stream_indexer(open_stream(view, comp, ref), comp, len(view), place, hash_files)
    try:
        entries = ix.run()
        tar_size = _tar_size(ix, comp, ref.size, read, decoded, limit)
    except LayerError as e:
        # a read that came up short because the file shrank: say that, not "corrupt"
        if shrunk(ref.file):
            raise LayerError(CHANGED, place) from None
        raise e
    finally:
        release(ref)
    if shrunk(ref.file):  # reads past the new end just stop: what was indexed is not the layer
        raise LayerError(CHANGED, place)
    return _checked(ix, entries, comp, len(view), place, tar_size)


def _stream_indexer(stream, comp: str, blob_size: int, place: str, hash_files: bool):
    """A tar walker over a decoder's output, its errors said as a layer's; with
    its read function, the count of bytes it decoded and its bomb limit, for
    _tar_size."""
    limit = max(BOMB_FLOOR, blob_size * BOMB_RATIO)
    decoded = [0]  # bytes of tar the stream gave, for the layer's full tar length

    def read(n: int, _r=stream.read) -> bytes:
        try:
            b = _r(n)
            decoded[0] += len(b)
            return b
        except EOFError as e:
            raise LayerError(f"the {comp} stream ends early ({decode_error(e)})", place) from None
        except LayerError:
            raise
        except Exception as e:  # zlib.error, ZstdError, BadGzipFile, OSError
            raise LayerError(f"corrupt {comp} data ({decode_error(e)})", place) from None

    return TarIndexer(b"", read, limit, place, hash_files=hash_files), read, decoded, limit


def _checked(ix: TarIndexer, entries: LayerEntries, comp: str, blob_size: int, place: str, tar_size: int):
    if implied_too_costly(entries):
        raise LayerError(DEEP, place)
    if comp != "none" and not ix.bomb and ix.size >= NOTE_MIN_BYTES and ix.size > NOTE_RATIO * blob_size:
        ix.warnings.append(
            f"the layer expands {ix.size // max(blob_size, 1):,}× ({blob_size:,} bytes of {comp} hold "
            f"{ix.size:,} bytes of tar): mostly zeros or repeated data, a decompression bomb? "
            "(it was read in full, in bounded memory)")
    return entries, comp, tar_size, ix.warnings, ix.bomb


def _tar_size(ix: TarIndexer, comp: str, blob_size: int, read, decoded, limit: int) -> int:
    """The layer tar's full length (what its diff_id hashes), end blocks and
    padding included, so that a layer's bytes add up: the walk stops at the
    end blocks, and what a stream holds past them (a few KB) is read here."""
    if comp == "none":
        return blob_size
    if ix.bomb:
        return ix.size
    try:
        while decoded[0] < limit and read(1 << 16):
            pass
    except LayerError:
        pass  # a stream that breaks past the tar's end leaves the tar itself whole
    return max(ix.size, min(decoded[0], limit))


def index_stream(source, blob_size: int, media_type: str = "", place: str = "layer", hash_files: bool = False):
    """Index a compressed layer from a file object giving its blob's bytes as
    they arrive (a download: layers/pipe.py), with what index_blob returns;
    None when the blob is not gzip or zstd (an uncompressed layer is walked
    in place once it is stored).  The caller checks the blob's digest, and a
    zstd blob's last frame (zstd_truncation), once all of it is in."""
    if "encrypted" in media_type:
        raise LayerError("the layer is encrypted (ocicrypt); it cannot be read without its key", place)
    head = bytearray()
    while len(head) < 512:
        chunk = source.read(512 - len(head))
        if not chunk:
            break
        head += chunk
    comp = sniff(bytes(head))
    if comp not in ("gzip", "zstd"):
        return None
    raw = _Prefixed(bytes(head), source)
    if comp == "gzip":
        from isal.igzip import IGzipFile

        stream = IGzipFile(fileobj=raw, mode="rb")
    else:
        import zstandard

        stream = zstandard.ZstdDecompressor().stream_reader(raw, read_size=1 << 20, read_across_frames=True)
    ix, read, decoded, limit = _stream_indexer(stream, comp, blob_size, place, hash_files)
    entries = ix.run()
    return _checked(ix, entries, comp, blob_size, place, _tar_size(ix, comp, blob_size, read, decoded, limit))


class _Prefixed(io.RawIOBase):
    """The bytes already read to tell the compression, then the rest."""

    def __init__(self, head: bytes, rest) -> None:
        self.head = memoryview(head)
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self.head:
            n = min(len(b), len(self.head))
            b[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        return self.rest.readinto(b)


def index_one(layer: Layer) -> None:
    if layer.blob is None:
        layer.error = f"{place_of(layer)}: the blob is missing"
        layer.entries = LayerEntries()
        return
    b = layer.blob
    try:
        entries, comp, usize, warnings, bomb = index_blob(b, layer.media_type, place_of(layer),
                                                          wants_digests(layer))
        _apply(layer, ("ok", entries, comp, usize, warnings, bomb))
    except LayerError as e:
        _apply(layer, ("error", e.line()))


def index_layers(graph: LayerGraph, progress: Progress | None = None, workers: int | None = None,
                 use_cache: bool = True, layers: Iterable[Layer] | None = None,
                 fetched: Callable[[Layer, int], None] | None = None, partial: bool = True) -> None:
    """Index the layers not indexed yet (of `layers`, else of the graph);
    those whose blob is still in a registry are fetched, several at once,
    each indexed while it downloads, or with `partial` listed from its table
    of contents when it has one.  `fetched(layer, bytes so far)` follows
    their downloads."""
    # an image may list one layer many times: each distinct node is walked once
    todo = [l for l in dict.fromkeys(layers if layers is not None else graph.layers.values()) if not l.indexed]
    total = len(todo)
    done = 0

    def tick(layer: Layer) -> None:
        nonlocal done
        done += 1
        if use_cache and layer.error is None and not layer.bomb:
            cache.store(layer)
        if progress:
            progress(done, total, layer)

    remote = [l for l in todo if l.fetch is not None]
    if remote:
        for layer, from_cache in _fetch_and_index(remote, use_cache, fetched, partial):
            if from_cache:
                done += 1
                if progress:
                    progress(done, total, layer)
            else:
                tick(layer)
        todo = [l for l in todo if not l.indexed]

    def from_cache(layer: Layer) -> bool:
        if not (use_cache and cache.load(layer)):
            return False
        if implied_too_costly(layer.entries):  # stored by a version that did not refuse it
            _apply(layer, ("error", f"{place_of(layer)}: {DEEP}"))
        return True

    def counted(layer: Layer) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total, layer)

    def loaded(layer: Layer) -> bool:
        if not from_cache(layer):
            return False
        counted(layer)
        return True

    # the blobs whose hash is not known are hashed on a thread while layers are
    # walked, each looked up in the cache just before its walk would start
    packed = [l for l in todo if _compressed(l)]
    packed_ids = {id(l) for l in packed}
    flat = [l for l in todo if id(l) not in packed_ids]
    packed.sort(key=lambda l: -l.compressed_size)  # the order _index_in_threads starts them
    flat.sort(key=lambda l: l.compressed_size)  # this process walks the smallest first
    # two queues: the compressed layers' thread is done before the uncompressed ones' pool forks
    packed_queued, start_packed = cache.queue_hashes(packed) if use_cache else ([], lambda: None)
    flat_queued, start_flat = cache.queue_hashes(flat) if use_cache else ([], lambda: None)
    later = {id(l) for l in packed_queued + flat_queued}
    packed = [l for l in packed if id(l) in later or not loaded(l)]
    flat = [l for l in flat if id(l) in later or not loaded(l)]
    if not packed and not flat:
        return
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)

    def walk_here(layer: Layer) -> bool:
        """Whether the layer is still to be walked (False: its index came from the cache, counted)."""
        return id(layer) not in later or not loaded(layer)

    if packed:
        hashing = start_packed()
        _index_in_threads(packed, workers, tick, lambda l: id(l) not in later or not from_cache(l), counted)
        if hashing is not None:
            hashing.join()  # its last hash was a tick's key: it is ending, and a fork below wants one thread
    if flat:
        _index_uncompressed(flat, workers, tick, walk_here, start_flat)
    if use_cache:
        cache.trim()  # once, after the last store: trimming after every layer made deep images quadratic


FETCH_WORKERS = 4  # downloads at once: enough to fill a link, few enough to be polite to a registry


def _fetch_and_index(layers: list[Layer], use_cache: bool, fetched, partial: bool = True) -> Iterable[tuple[Layer, bool]]:
    """Fetch registry layers, several at once, each indexed while it
    downloads (layers/pipe.py: the bytes go to the blob store and to the
    indexer at once).  A layer whose index is cached by its digest is not
    fetched at all: its contents are fetched when they are read.  Yields
    (layer, whether its index came from the cache) as each is done; a layer
    that cannot be fetched gets that as its error."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from . import partial as listings  # the module; `partial` is the caller's wish

    def job(layer: Layer) -> tuple[Layer, bool]:
        if layer.blob is not None:
            listings.read_through(layer.blob.file, None)  # an earlier open's listing is not this one's
        if use_cache and cache.load(layer):
            if implied_too_costly(layer.entries):
                _apply(layer, ("error", f"{place_of(layer)}: {DEEP}"))
            return layer, True
        if partial and _listed(layer):
            return layer, True  # a listing is a few Range requests: not worth a cache entry
        try:
            _fetch_indexing(layer, fetched)
        except MemoryError:
            _apply(layer, ("error", f"{place_of(layer)}: out of memory while fetching or indexing"))
        return layer, False

    order = sorted(layers, key=lambda l: -l.compressed_size)  # the longest download starts first
    with ThreadPoolExecutor(max_workers=min(FETCH_WORKERS, len(order))) as pool:
        for fut in as_completed([pool.submit(job, l) for l in order]):
            yield fut.result()
    from . import blobstore

    blobstore.trim()  # once, after the downloads: the blobs this process uses are kept


def _listed(layer: Layer) -> bool:
    """List an eStargz or zstd:chunked layer from its table of contents (a
    few Range requests) instead of downloading it; False when it has none or
    it cannot be read (then the whole blob is fetched and walked: that
    decides what the layer holds)."""
    from ..errors import ImageError
    from . import partial as listings

    fetch = layer.fetch
    if fetch is None or not getattr(fetch, "partial", lambda: False)() or fetch.present() or layer.blob is None:
        return False
    try:
        got = fetch.listing()
    except ImageError:
        return False
    if implied_too_costly(got[0]):
        return False
    listings.read_through(layer.blob.file, fetch)
    _apply(layer, ("ok", *got))
    return True


def _fetch_indexing(layer: Layer, fetched) -> None:
    """Download one layer while a second thread indexes the bytes as they
    come; the index counts only once the blob's digest checked out.  When
    the stream could not be indexed as it came (the download started again,
    or the blob is no gzip or zstd), the stored blob is indexed in place."""
    import threading

    from ..errors import ImageError
    from .pipe import Pipe

    fetch = layer.fetch
    if fetch is None or fetch.present():
        layer.fetch = None
        index_one(layer)
        return
    pipe = Pipe()
    size = layer.blob.size if layer.blob is not None else 0
    result: list = []

    def run() -> None:
        try:
            result.append(index_stream(pipe, size, layer.media_type, place_of(layer), wants_digests(layer)))
        except BaseException as e:  # a bad stream, the download's failure: the stored blob decides
            result.append(e)
        finally:
            pipe.leave()

    t = threading.Thread(target=run, name="layerscope-index", daemon=True)
    t.start()
    try:
        fetch(None if fetched is None else (lambda n: fetched(layer, n)), sink=pipe)
    except ImageError as e:
        pipe.fail(e)
        t.join()
        _apply(layer, ("error", e.line()))
        return
    except BaseException as e:
        pipe.fail(e)
        t.join()
        raise
    pipe.close_writer()
    t.join()
    layer.fetch = None
    got = result[0] if result else None
    # the decoder stops at the end of its input without a word: a cut zstd blob is told from its frames
    if isinstance(got, tuple) and not pipe.restarted and not (got[1] == "zstd" and zstd_truncation(blob_view(layer.blob))):
        _apply(layer, ("ok", *got))
    else:  # what the stored blob says, in the words index_blob uses for it
        index_one(layer)


def _index_in_threads(layers: list[Layer], workers: int, tick, walk_here, counted) -> None:
    """Compressed layers: decoding (ISA-L, zstd) and hashing (BLAKE3) run in
    C with the GIL released, so threads use both cores as well as processes
    do, without a second interpreter's memory.  `walk_here(layer)` is False
    for a layer whose index came from the cache instead (then `counted`)."""
    if workers < 2 or len(layers) < 2:
        for layer in layers:
            if walk_here(layer):
                index_one(layer)
                tick(layer)
            else:
                counted(layer)
        return
    from concurrent.futures import ThreadPoolExecutor, as_completed

    def job(layer: Layer) -> tuple[Layer, bool]:
        if not walk_here(layer):
            return layer, False
        try:
            index_one(layer)
        except MemoryError:
            _apply(layer, ("error", f"{place_of(layer)}: out of memory while indexing"))
        return layer, True

    # biggest first, so that the last one to finish is a small one
    order = sorted(layers, key=lambda l: -l.compressed_size)
    with ThreadPoolExecutor(max_workers=min(workers, len(layers))) as pool:
        for fut in as_completed([pool.submit(job, l) for l in order]):
            layer, walked = fut.result()
            (tick if walked else counted)(layer)  # in the caller's thread, as finished layers come


def _index_uncompressed(rest: list[Layer], workers: int, tick, walk_here, start_hashing) -> None:
    """Uncompressed layers: walking headers is Python work (the GIL), so
    what is left after a first stretch in this process goes to worker
    processes.  `walk_here(layer)` is False for a layer whose index came from
    the cache instead; `start_hashing()` starts the hash-ahead thread, once
    this process has forked whatever it forks (fork is only safe while it has
    one thread)."""
    import time

    def walk(layer: Layer) -> None:
        if walk_here(layer):
            index_one(layer)
            tick(layer)

    if workers > 1 and len(rest) > 1:
        # smallest first here (a layer's bytes bound its entries: at least
        # 512 bytes each), so that this stretch ends soon after its time
        # and the pool gets the big layers, biggest first (below); walking
        # the biggest here would leave the other core idle meanwhile
        rest.sort(key=lambda l: l.compressed_size, reverse=True)
        t0 = time.perf_counter()
        while len(rest) > 1 and time.perf_counter() - t0 < SEQUENTIAL_FIRST_S:
            walk(rest.pop())
        if len(rest) < 2:
            start_hashing()
            for layer in rest:
                walk(layer)
            return
    nbytes = sum(l.compressed_size for l in rest)
    if workers > 1 and len(rest) > 1 and nbytes >= PARALLEL_MIN_BYTES:
        # fork is cheap and needs no re-import, but is only safe while this
        # process has one thread (the CLI); the app indexes from a worker
        # thread, so it spawns.
        import multiprocessing  # imported here: start-up time matters for small images
        import threading

        single = threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if single else "spawn")
        # In the CLI this process walks layers too, taking them from the small
        # end of the queue while the pool takes the big end: no core waits, and
        # the layers walked here cost no transfer.  The app indexes from a
        # thread beside its event loop, so there the pool does all the walking.
        procs = workers - 1 if single else workers
        try:
            pool = _pool_class()(max_workers=procs, mp_context=ctx)
            pool.submit(os.getpid).result()  # fails here when processes cannot start
        except Exception:
            # e.g. under a TUI that replaced stderr, or without /dev/shm:
            # index in this process instead
            start_hashing()
            for layer in rest:
                walk(layer)
            return
        start_hashing()  # the pool's processes are forked by now
        with pool:
            futs = []
            for layer in rest:  # biggest first
                if layer.blob is None:
                    futs.append(None)
                    continue
                b = layer.blob
                futs.append(pool.submit(_job, b.file, b.offset, b.size, b.name, layer.media_type, place_of(layer),
                                        wants_digests(layer)))
            here: set[int] = set()
            if single:
                first = next((f for f in futs if f is not None), None)
                t0 = time.perf_counter()
                while first is not None and not (first.running() or first.done()) and time.perf_counter() - t0 < 1:
                    time.sleep(0.001)  # the pool's own thread hands it the biggest layer: let it, then take the rest
                for k in range(len(rest) - 1, -1, -1):  # smallest first
                    fut = futs[k]
                    if fut is None:
                        continue
                    if not fut.cancel():
                        break  # the pool takes them in order: it has started every layer left
                    walk(rest[k])
                    here.add(k)
            for k, (layer, fut) in enumerate(zip(rest, futs)):
                if k in here:
                    continue
                if fut is None:
                    index_one(layer)
                else:
                    try:
                        _apply(layer, fut.result())
                    except Exception as e:  # a worker died (e.g. killed for memory)
                        _apply(layer, ("error", f"{place_of(layer)}: indexing failed ({type(e).__name__})"))
                tick(layer)
    else:
        start_hashing()
        for layer in rest:
            walk(layer)


def layer_errors(graph: LayerGraph) -> list[str]:
    return [l.error for l in graph.layers.values() if l.error]
