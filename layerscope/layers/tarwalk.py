"""Index a layer's tar stream into its `LayerEntries` without building a
`tarfile` object per member and without reading contents: in an uncompressed
layer the contents are skipped by arithmetic; over a decompressing stream
they are read in big chunks and dropped (or hashed).

`TarIndexer` reads runs of plain ustar headers a batch at a time with
`tarcolumns`, and walks every other entry here, one header at a time, with
the general rules: ustar (prefix field), GNU long names/links (`L`/`K`), PAX
extended headers (`x`: path, linkpath, size, uid, gid, mtime; `g` is ignored,
as container runtimes ignore it), GNU sparse files (old `S` and PAX 0.0, 0.1,
1.0: real name and size, the map kept; `sparse.py`), base-256
numbers, old signed checksums.  Both give the same entries.
"""

from __future__ import annotations

import posixpath
import struct
from array import array
from collections.abc import Callable
from itertools import compress, repeat

from ..errors import LayerError
from ..model import DIGEST_SIZE, DIR, FILE, HARDLINK, NO_DIGEST, OPAQUE, SYMLINK, WHITEOUT, LayerEntries
from ..packages import db_files, is_db, might_be_db
from . import sparse as sparse_map
from .tarbatch import BATCH, TAR_TYPES, chain, decode, header_sum

BLOCKSIZE = 512
# name, mode uid gid size mtime (each: its digits, then the byte that ends
# the field -- NUL as tar writes it, which the fast path checks without
# slicing), chksum typeflag linkname magic(6) [version uname gname devmajor
# devminor] prefix
_HDR = struct.Struct("100s7sc7sc7sc11sc11sc8sc100s6s82x155s12x")
assert _HDR.size == 512
ZERO8 = bytes(8)
USTAR_MAGIC = b"ustar\x00"
META_TYPES = (b"x", b"g", b"L", b"K")
CHUNK = 1 << 18
ZERO_BLOCK = bytes(BLOCKSIZE)
# Longest GNU long name / PAX header we accept: names are data, not storage.
MAX_META = 1 << 20
# mtimes are kept in 64 bits; base-256 and PAX values can be anything
MAX_TIME = (1 << 63) - 1
# read plain headers of uncompressed layers a batch at a time (tarcolumns);
# tests turn it off to compare with the general walker
COLUMNS = True
MIN_TIME = -(1 << 63)

# small files whose content the analysis reads anyway: kept while walking,
# so that a compressed layer is not decoded a second time for them
CAPTURE_PATHS = frozenset(("etc/os-release", "usr/lib/os-release"))
CAPTURE_MAX = 64 << 10
# and the package databases' files (layerscope.packages), within bounds: one file, and a layer's
CAPTURE_DB_MAX = 8 << 20
CAPTURE_DB_LAYER = 64 << 20



_SPARSE_00 = (b"GNU.sparse.offset", b"GNU.sparse.numbytes")


class TruncatedBomb(Exception):
    """Internal: the stream produced more bytes than the bomb limit allows."""


def _num(field: bytes) -> int:
    if field and field[0] & 0x80:  # base-256 (GNU): big values, negative ids
        v = int.from_bytes(field[1:], "big")
        if field[0] & 0x40:  # negative
            v -= 1 << (8 * (len(field) - 1))
        return v
    s = field.split(b"\0", 1)[0].strip()
    if not s:
        return 0
    return int(s, 8)


def _str(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def normalise(name: str) -> str | None:
    """Normalise a tar member name to a relative path without leading `/`
    or `./` and without a trailing `/`.  '' is the root.  None when the name
    escapes the root (`..`)."""
    if name == ".":
        return ""
    if name.startswith("/") or name.startswith("./") or "/." in name or "//" in name or name.startswith(".."):
        n = posixpath.normpath("/" + name.lstrip("/"))
        # normpath keeps a leading '..' only for relative paths; with the '/'
        # prefix it removes them, so check the raw components instead.
        depth = 0
        for part in name.split("/"):
            if part == "..":
                depth -= 1
                if depth < 0:
                    return None
            elif part and part != ".":
                depth += 1
        name = n.lstrip("/")
        return name
    return name.rstrip("/")


def _parse_pax(data: bytes, pairs: list[tuple[bytes, bytes]] | None = None) -> dict[str, str]:
    """The records of a PAX header; with `pairs`, the GNU.sparse.offset and
    numbytes records are appended to it too, in order (PAX sparse 0.0 repeats
    them: the dict keeps only the last)."""
    out: dict[str, str] = {}
    pos = 0
    n = len(data)
    while pos < n:
        sp = data.find(b" ", pos)
        if sp < 0:
            break
        try:
            length = int(data[pos:sp])
        except ValueError:
            raise ValueError("bad PAX record length") from None
        if length <= 0 or pos + length > n:
            raise ValueError("bad PAX record length")
        rec = data[sp + 1: pos + length - 1]  # drop trailing newline
        k, _, v = rec.partition(b"=")
        if k in (b"path", b"linkpath"):  # a file name ends at a NUL, as in the C string tar writes
            v = v.split(b"\0", 1)[0]
        elif pairs is not None and k in _SPARSE_00:
            pairs.append((k, v))
        out[k.decode("utf-8", "surrogateescape")] = v.decode("utf-8", "surrogateescape")
        pos += length
    return out


def _marker(path: str, name: str, warn) -> tuple[str, int] | None:
    """For a path with `.wh.` in it: None when it is no marker (`.wh.` not at
    the start of its last component), else (the path it marks, OPAQUE or
    WHITEOUT), or (path, -1) when the entry is no part of the tree (aufs
    metadata; a whiteout without a name, warned about)."""
    slash = path.rfind("/")
    if path[slash + 1:slash + 5] != ".wh.":
        return None
    base_name = path[slash + 1:]
    parent = path[:slash] if slash >= 0 else ""
    if base_name == ".wh..wh..opq":
        return parent, OPAQUE
    if base_name.startswith(".wh..wh."):
        return path, -1  # aufs metadata (.wh..wh.plnk etc.): not part of the tree
    target = base_name[4:]
    if target in ("", ".", ".."):
        warn(f"entry {name!r} is a whiteout without a name; ignored")
        return path, -1
    return ((parent + "/" + target) if parent else target), WHITEOUT


def _names_with(joined: str, part: str):
    """Indices of the names holding `part` in "\0" + "\0".join(names) + "\0"."""
    i, counted = -1, 0
    at = joined.find(part)
    while at >= 0:
        i += joined.count("\0", counted, at + 1)
        counted = at + 1
        yield i
        at = joined.find("\0", at + len(part) - 1)  # on to the next name
        if at < 0:
            return
        at = joined.find(part, at)


def _pax_sparse_version(pax: dict[str, str], pairs00: list, name: str, warn) -> str | None:
    """Which PAX sparse format an entry's records are in, as Go's archive/tar
    tells: "0.x" (the map in the records) or "1.0" (the map in the data);
    None for a format it does not know (warned about) or no sparse file."""
    major, minor = pax.get("GNU.sparse.major", ""), pax.get("GNU.sparse.minor", "")
    if major == "0" and minor in ("0", "1"):
        return "0.x"
    if major == "1" and minor == "0":
        return "1.0"
    if major or minor:
        warn(f"{name!r}: GNU sparse format {major}.{minor} is not known; shown as stored")
        return None
    return "0.x" if pax.get("GNU.sparse.map") or pairs00 else None


def _pax0_map(pax: dict[str, str], pairs00: list[tuple[bytes, bytes]]) -> list[int]:
    """The numbers of a PAX 0.0 or 0.1 sparse map: GNU.sparse.map, or the
    0.0 offset and numbytes records (alternating, offset first), as many
    pairs as GNU.sparse.numblocks says."""
    count = sparse_map.decimal(pax.get("GNU.sparse.numblocks", ""), "GNU.sparse.numblocks")
    if pairs00:
        numbers = []
        for k, (key, v) in enumerate(pairs00):
            if key != _SPARSE_00[k % 2]:
                raise sparse_map.SparseError("GNU.sparse.offset and numbytes records out of order")
            numbers.append(sparse_map.decimal(v, "sparse map number"))
    else:
        if count > sparse_map.MAX_SEGMENTS:  # before splitting
            raise sparse_map.SparseError(f"{count:,} segments: more than {sparse_map.MAX_SEGMENTS:,} segments")
        numbers = sparse_map.pax01_map(pax.get("GNU.sparse.map", ""))
    if len(numbers) != 2 * count:
        raise sparse_map.SparseError(f"GNU.sparse.numblocks is {count} but the map has {len(numbers) / 2:g} segments")
    return numbers


class TarIndexer:
    """Index one tar stream.

    `buf` is either the whole stream (an mmap/bytes/memoryview, with `read`
    None) or empty, with `read(n)` returning the next decompressed bytes
    (b'' at the end).  `limit` bounds the total stream size (decompression
    bombs); passing it sets `bomb` and stops indexing early.

    With `hash_files`, each regular file's content is hashed (BLAKE3, in C)
    as it streams past, into `LayerEntries.digests`: for a compressed layer
    this is far cheaper than decoding it again later to compare copies.
    """

    RELEASE_EVERY = 1 << 20

    def __init__(self, buf=b"", read: Callable[[int], bytes] | None = None,
                 limit: int | None = None, place: str = "layer", what: str = "layer",
                 release: Callable[[int, int], None] | None = None, hash_files: bool = False,
                 pread_from: tuple[int, int] | None = None):
        self.hash_files = hash_files
        # (file descriptor, offset of buf[0] in that file): plain headers of
        # an uncompressed layer are then read with pread (tarcolumns)
        self.pread_from = pread_from
        self.what = what  # "layer" or "archive", for messages
        # over an mmap: called with (start, end) of the bytes walked past, so
        # the caller can drop those pages as the walk goes
        self.release = release
        self.buf = buf
        self.read = read
        self.limit = limit
        self.place = place
        self.warnings: list[str] = []
        self.global_seen = False  # a PAX global header was met (warned about once)
        self._buf, self._base = buf, 0  # the general walker's window on the stream, where it left it
        self.bomb = False
        self.db_room = CAPTURE_DB_LAYER  # bytes of package database files this layer may still keep
        self.size = 0  # bytes of the tar stream consumed

    def _skip_or_cut(self, skip, n: int) -> bool:
        """skip(n), but when the bomb limit is hit inside these contents the
        entry is still kept (its header is real) and indexing stops after it."""
        try:
            return skip(n)
        except TruncatedBomb:
            self.cut = True
            return True

    def run(self) -> LayerEntries:
        entries = LayerEntries()
        self.escaped = 0
        self.cut = False
        self.segments = 0  # sparse-map segments kept (sparse.MAX_SEGMENTS)
        if not COLUMNS or (self.read is None and self.hash_files):
            self.size = self._walk(entries, 0, False)[0]
        elif self.read is None:
            self.size = self._run_columns(entries)
        else:
            self.size = self._run_columns_stream(entries)
        if self.escaped > 20:
            self.warnings.append(f"{self.escaped} entries in all escape the image root")
        return entries.dedupe()

    # -- plain headers, a batch at a time -------------------------------------
    def _run_columns(self, entries: LayerEntries) -> int:
        """Read batches of plain headers with tarcolumns, and each entry it
        does not take with the general walker; returns the bytes consumed."""
        buf = self.buf
        end = len(buf)
        if self.pread_from is not None:
            read, origin = self.pread_from  # a file descriptor: chain reads with pread
        else:
            origin = 0

            def read(n: int, p: int) -> bytes:
                return bytes(buf[p:p + n])
        pos = 0
        while True:
            blocks, offsets, sizes, stop = chain(read, origin, pos, end)
            if blocks:
                batch = decode(blocks, sizes)
                if batch is None:  # not plain after all: the general rules from here on
                    return self._walk(entries, pos, False)[0]
                self._add_batch(entries, batch, offsets)
                pos = stop
                if len(blocks) == BATCH:
                    continue
            pos, ended = self._walk(entries, pos, True)
            if ended:
                return pos

    def _run_columns_stream(self, entries: LayerEntries) -> int:
        """The same over a decompressed stream: batches of the plain headers
        whose entries lie whole in the bytes decoded so far; the entry that
        runs past them (or is not plain) is the general walker's, which
        decodes more.  With hash_files, each regular file's contents are
        hashed from those bytes, as the general walker hashes them."""
        if self.hash_files:
            from blake3 import blake3
        buf, pos, base = b"", 0, 0
        while True:
            if len(buf) - pos >= BLOCKSIZE:
                blocks, offsets, sizes, stop = chain(buf, 0, pos, len(buf), BATCH, base)
                if blocks:
                    batch = decode(blocks, sizes)
                    if batch is None:  # not plain after all: the general rules from here on
                        return self._walk(entries, pos, False, buf, base)[0]
                    digests = None
                    if self.hash_files:
                        digests = bytearray(NO_DIGEST * len(blocks))
                        data = memoryview(buf)
                        for i in compress(range(len(blocks)), batch.sizes):  # regular files with contents
                            p = offsets[i] - base
                            digests[DIGEST_SIZE * i:DIGEST_SIZE * (i + 1)] = \
                                blake3(data[p:p + batch.sizes[i]]).digest(DIGEST_SIZE)
                        data.release()
                    self._add_batch(entries, batch, offsets, buf, base, digests)
                    pos = stop
                    if len(blocks) == BATCH:
                        continue
            consumed, ended = self._walk(entries, pos, True, buf, base)
            if ended:
                return consumed
            buf, base = self._buf, self._base
            pos = consumed - base
            if self.cut:  # the bomb limit was hit inside that entry: the walker says so and stops
                return self._walk(entries, pos, False, buf, base)[0]

    def _add_batch(self, entries: LayerEntries, batch, offsets: array, data=None, data_base: int = 0,
                   digests: bytearray | None = None) -> None:
        """Append a decoded batch: paths normalised, markers and the root
        dropped or converted, exactly as the general walker does per entry.
        `data` holds the entries' contents from stream offset `data_base`
        (by default: the whole layer); `digests`, their content digests
        (DIGEST_SIZE bytes each) when the layer's files are hashed."""
        warn = self.warnings.append
        names, types, links = batch.names, batch.types, batch.links
        sizes, modes, uids, gids, mtimes = batch.sizes, batch.modes, batch.uids, batch.gids, batch.mtimes
        joined = "\0" + "\0".join(names) + "\0"  # for finding names (_names_with)
        # What the general walker makes of a name that has no "." or ".."
        # component, no "//" and no leading "/": the name without its
        # trailing "/" (hidden files, "/.x", included: normalise() leaves
        # them as they are).  Between slashes, such components show.
        paths = list(map(str.rstrip, names, repeat("/")))
        between = "/" + "/".join(paths) + "/"
        drop: list[int] = []

        def mark(i: int, path: str) -> str:
            marker = _marker(path, names[i], warn)
            if marker is None:
                return path
            path, typ = marker
            if typ < 0:
                drop.append(i)
                return path
            types[i] = typ
            sizes[i] = modes[i] = uids[i] = gids[i] = mtimes[i] = 0
            links.pop(i, None)
            if digests is not None:  # a marker has no content, whatever bytes its entry carried
                digests[DIGEST_SIZE * i:DIGEST_SIZE * (i + 1)] = NO_DIGEST
            return path

        if "//" in between or "/./" in between or "/../" in between:
            # some name has a "." or ".." component, a "//", a leading "/", or
            # is empty: normalise() decides (escaping, the root).  One entry
            # at a time, so that warnings come in archive order.
            paths = []
            for i, name in enumerate(names):
                if name[:1] in "./" or "/." in name or "//" in name:
                    path = normalise(name)
                    if path is None:
                        self.escaped += 1
                        if self.escaped <= 20:
                            warn(f"entry {name!r} escapes the image root; left out of the tree")
                        drop.append(i)
                        paths.append("")
                        continue
                else:
                    path = name[:-1] if name[-1:] == "/" else name
                if ".wh." in path:
                    path = mark(i, path)
                elif not path:
                    drop.append(i)  # the root directory itself
                paths.append(path)
        else:
            if ".wh." in joined:
                for i in _names_with(joined, ".wh."):
                    paths[i] = mark(i, paths[i])
        for i, link in links.items():
            if types[i] == HARDLINK:
                nl = normalise(link)
                if nl is not None:
                    links[i] = nl
        captured = {}
        if "os-release\0" in joined:
            data = self.buf if data is None else data
            for i in _names_with(joined, "os-release\0"):
                name = names[i]
                if types[i] == FILE and 0 < sizes[i] <= CAPTURE_MAX and normalise(name) in CAPTURE_PATHS:
                    p = offsets[i] - data_base
                    captured[i] = bytes(data[p:p + sizes[i]])
        for i, _ in db_files(paths) if self.db_room > 0 else ():
            n = sizes[i]
            if types[i] == FILE and 0 < n <= min(CAPTURE_DB_MAX, self.db_room):
                data = self.buf if data is None else data
                p = offsets[i] - data_base
                captured[i] = bytes(data[p:p + n])
                self.db_room -= n
        if drop:
            keep = sorted(set(range(len(names))) - set(drop))
            where = {old: new for new, old in enumerate(keep)}
            paths = [paths[i] for i in keep]
            types = bytearray(types[i] for i in keep)
            sizes, modes, uids, gids, mtimes, offsets = (array(col.typecode, [col[i] for i in keep])
                                                         for col in (sizes, modes, uids, gids, mtimes, offsets))
            links = {where[i]: v for i, v in links.items() if i in where}
            captured = {where[i]: v for i, v in captured.items() if i in where}
            if digests is not None:
                digests = b"".join([digests[DIGEST_SIZE * i:DIGEST_SIZE * (i + 1)] for i in keep])
        first = len(entries.paths)
        entries.paths += paths
        entries.types += types
        entries.sizes += sizes
        entries.modes += modes
        entries.uids += uids
        entries.gids += gids
        entries.mtimes += mtimes
        entries.offsets += offsets
        if digests is not None:
            entries.digests += digests
        for i, link in links.items():
            entries.links[first + i] = link
        for i, content in captured.items():
            entries.captured[first + i] = content

    # -- the general walker ----------------------------------------------------
    def _walk(self, entries: LayerEntries, start: int, one: bool, buf=None, base: int = 0) -> tuple[int, bool]:
        """Walk headers from `start`, an offset in `buf` (by default the
        whole layer, or nothing yet of a stream), whose first byte is at
        `base` in the stream.  With `one`, stop after the first entry that is
        not a PAX/GNU record.  Returns (bytes of the stream consumed, whether
        the archive ended), and leaves the stream's window in self._buf and
        self._base."""
        buf = self.buf if buf is None else buf
        read = self.read
        pos = start  # position in buf
        ended = False
        stop = False
        limit = self.limit
        types = TAR_TYPES
        num = _num
        warn = self.warnings.append
        pending_name: str | None = None
        pending_link: str | None = None
        pax: dict[str, str] = {}
        pairs00: list[tuple[bytes, bytes]] = []  # PAX sparse 0.0 records, in order

        def need(n: int) -> bool:
            """Make buf[pos:pos+n] available; False at end of stream."""
            nonlocal buf, pos, base
            if len(buf) - pos >= n:
                return True
            if read is None:
                return False
            parts = [bytes(buf[pos:])]
            have = len(parts[0])
            base += pos
            while have < n:
                chunk = read(max(CHUNK, n - have))
                if not chunk:
                    break
                parts.append(chunk)
                have += len(chunk)
            buf = b"".join(parts)
            pos = 0
            if limit is not None and base + len(buf) > limit:
                raise TruncatedBomb()
            return have >= n

        def old_gnu_map(hstart: int) -> tuple[list[int], int]:
            """An old GNU sparse header's map numbers and real size: the
            header is the block before `pos`; its extension blocks are read."""
            nonlocal pos
            hdr = bytes(buf[pos - BLOCKSIZE:pos])
            numbers = sparse_map.old_gnu_pairs(hdr, sparse_map.OLD_PAIRS_AT, sparse_map.OLD_PAIRS, num)
            real = num(hdr[sparse_map.OLD_REALSIZE_AT:sparse_map.OLD_REALSIZE_AT + 12])
            more = hdr[sparse_map.OLD_EXTENDED_AT]
            room = 2 * (sparse_map.MAX_SEGMENTS - self.segments)
            while more:
                if len(numbers) > room:  # over the bound: the blocks after are not read
                    raise sparse_map.SparseError(f"more than {sparse_map.MAX_SEGMENTS:,} segments in the sparse "
                                                 "maps of one layer")
                if len(buf) - pos < BLOCKSIZE and not need(BLOCKSIZE):
                    raise LayerError(f"truncated tar at byte {hstart} (inside a sparse map)", self.place)
                block = bytes(buf[pos:pos + BLOCKSIZE])
                pos += BLOCKSIZE
                numbers += sparse_map.old_gnu_pairs(block, 0, sparse_map.EXT_PAIRS, num)
                more = block[sparse_map.EXT_EXTENDED_AT]
            return numbers, real

        def map_in_data(size: int, hstart: int) -> tuple[array, int]:
            """PAX sparse 1.0: the map at the start of the entry's `size`
            bytes of data -- a count, then the numbers, a decimal a line, in
            whole blocks.  Returns its numbers and the bytes it takes; `pos`
            is left after it."""
            nonlocal pos
            numbers = array("q")
            want = -1  # numbers to read, once the count is
            taken = 0
            carry = b""
            while want < 0 or len(numbers) < want:
                if taken + BLOCKSIZE > size:
                    raise sparse_map.SparseError("the map runs past the entry's data")
                if len(buf) - pos < BLOCKSIZE and not need(BLOCKSIZE):
                    raise LayerError(f"truncated tar at byte {hstart} (inside a sparse map)", self.place)
                lines = (carry + bytes(buf[pos:pos + BLOCKSIZE])).split(b"\n")
                pos += BLOCKSIZE
                taken += BLOCKSIZE
                carry = lines.pop()
                for line in lines:
                    if want < 0:
                        count = sparse_map.decimal(line, "segment count")
                        if count > sparse_map.MAX_SEGMENTS - self.segments:
                            raise sparse_map.SparseError(f"{count:,} segments: more than {sparse_map.MAX_SEGMENTS:,} "
                                                         "segments in the sparse maps of one layer")
                        want = 2 * count
                    elif len(numbers) < want:
                        numbers.append(sparse_map.decimal(line, "sparse map number"))
                    else:
                        break
                if len(carry) > 20 and (want < 0 or len(numbers) < want):
                    raise sparse_map.SparseError(f"bad sparse map number {carry[:40]!r}")
            return numbers, taken

        def skip(n: int, h=None, size: int = 0) -> bool:
            """Consume n bytes (False at the end of the stream first); with
            `h`, feed the first `size` of them to it (a file's content)."""
            nonlocal buf, pos, base
            have = len(buf) - pos
            if have >= n:
                if h is not None:
                    h.update(buf[pos:pos + size])
                pos += n
                return True
            if read is None:
                return False
            content = 0  # content bytes still to hash
            if h is not None:
                take = min(have, size)
                if take:
                    h.update(buf[pos:pos + take])
                content = size - take
            left = n - have
            base += len(buf)
            buf = b""
            pos = 0
            while left > 0:
                if limit is not None and base > limit:
                    raise TruncatedBomb()
                chunk = read(CHUNK)  # 256 KiB at a time: bigger reads only raise peak memory
                if not chunk:
                    return False
                if content > 0:
                    if len(chunk) > content:
                        h.update(memoryview(chunk)[:content])
                        content = 0
                    else:
                        h.update(chunk)
                        content -= len(chunk)
                if len(chunk) > left:
                    buf = chunk  # base is the stream offset of chunk[0]
                    pos = left
                    break
                base += len(chunk)
                left -= len(chunk)
            return True

        hashing = self.hash_files
        if hashing:
            from blake3 import blake3
        edigests = entries.digests
        captured = entries.captured

        paths = entries.paths
        etypes = entries.types
        esizes = entries.sizes
        emodes = entries.modes
        euids = entries.uids
        egids = entries.gids
        emtimes = entries.mtimes
        eoffsets = entries.offsets
        elinks = entries.links
        add_path, add_type, add_size, add_mode = paths.append, etypes.append, esizes.append, emodes.append
        add_uid, add_gid, add_mtime, add_offset = euids.append, egids.append, emtimes.append, eoffsets.append
        unpack = _HDR.unpack_from
        release = self.release if read is None else None
        release_every = self.RELEASE_EVERY
        released = start
        hsum = header_sum
        try:
            while not stop:
                if self.cut:  # the limit was hit inside the last entry's contents
                    raise TruncatedBomb()
                if len(buf) - pos < BLOCKSIZE and not need(BLOCKSIZE):
                    if len(buf) - pos == 0:
                        ended = True
                        break  # EOF at a header boundary: accept (no end blocks)
                    raise LayerError(f"truncated tar header at byte {base + pos}", self.place)
                (name_b, mode7, mode_t, uid7, uid_t, gid7, gid_t, size11, size_t, mtime11, mtime_t, chk_b, tf,
                 link_b, magic, prefix_b) = unpack(buf, pos)
                hstart = base + pos
                if chk_b == ZERO8:
                    if bytes(buf[pos:pos + BLOCKSIZE]) == ZERO_BLOCK:
                        ended = True
                        break  # end of archive (a second zero block is optional)
                    raise LayerError(f"corrupt tar header at byte {hstart} (no checksum)", self.place)
                # The header checksum: the sum of its bytes with the checksum
                # field read as spaces (summed in C); a mismatch is tried with
                # the signed-char variant some old writers used.
                try:  # "%06o\0 " as tar writes it, else any NUL-terminated octal
                    stored = int(chk_b[:6], 8) if chk_b[6] == 0 else int(chk_b.split(b"\0", 1)[0], 8)
                except ValueError:
                    stored = -1
                chk = hsum(buf[pos:pos + BLOCKSIZE]) - sum(chk_b) + 256
                if stored != chk:
                    hdr = bytes(buf[pos:pos + BLOCKSIZE])
                    if stored != chk - 256 * sum(1 for b in hdr if b > 127):
                        raise LayerError(f"corrupt tar header at byte {hstart} (bad checksum)", self.place)
                pos += BLOCKSIZE
                try:  # the usual NUL-ended octal; anything else (base-256, spaces, empty) the general way
                    size = int(size11, 8) if size_t == b"\0" else num(size11 + size_t)
                except ValueError:
                    try:
                        size = num(size11 + size_t)
                    except ValueError:
                        raise LayerError(f"corrupt tar header at byte {hstart} (bad size field)", self.place) from None
                if size < 0:
                    raise LayerError(f"corrupt tar header at byte {hstart} (negative size)", self.place)
                padded = (size + 511) & ~511
                if tf in META_TYPES:
                    if size > MAX_META:
                        raise LayerError(f"tar extended header of {size} bytes at byte {hstart} is too large", self.place)
                    if len(buf) - pos < padded and not need(padded):
                        raise LayerError(f"truncated tar at byte {hstart} (inside an extended header)", self.place)
                    data = bytes(buf[pos:pos + size])
                    pos += padded
                    if tf == b"L":
                        pending_name = _str(data)
                    elif tf == b"K":
                        pending_link = _str(data)
                    else:
                        try:
                            recs = _parse_pax(data, pairs00 if tf == b"x" else None)
                        except ValueError:
                            raise LayerError(f"corrupt PAX header at byte {hstart}", self.place) from None
                        if tf == b"x":
                            pax.update(recs)
                            if len(pairs00) > 2 * (sparse_map.MAX_SEGMENTS - self.segments) + 2:
                                raise LayerError(f"corrupt sparse map at byte {hstart}: more than "
                                                 f"{sparse_map.MAX_SEGMENTS:,} segments in the sparse maps "
                                                 "of one layer", self.place)
                        else:
                            # Go's archive/tar (Docker, containerd, Podman) returns a
                            # global record as an entry of its own, which the runtimes
                            # skip: it changes no later entry, and the records before
                            # it are spent with it.
                            pax = {}
                            pairs00 = []
                            pending_name = pending_link = None
                            if not self.global_seen:
                                self.global_seen = True
                                warn(f"the {self.what} carries a PAX global header (at byte {hstart}); "
                                     "ignored, as container runtimes ignore it")
                    continue

                data_off = base + pos
                if pax and "size" in pax:
                    try:
                        size = int(pax["size"])
                        padded = (size + 511) & ~511
                    except ValueError:
                        raise LayerError(f"corrupt PAX size at byte {hstart}", self.place) from None
                    if size < 0:
                        raise LayerError(f"corrupt PAX size at byte {hstart}", self.place)
                # name
                if pending_name is not None:
                    name = pending_name
                elif pax and "path" in pax:
                    name = pax["path"]
                else:
                    z = name_b.find(0)
                    name = (name_b if z < 0 else name_b[:z]).decode("utf-8", "surrogateescape")
                    if magic == USTAR_MAGIC and prefix_b[0] != 0:
                        prefix = _str(prefix_b)
                        if prefix:
                            name = prefix + "/" + name
                typ = types.get(tf)
                if typ is None:
                    if tf in (b"V", b"M", b"N"):
                        typ = -1  # volume header / multi-volume: no entry
                    elif tf == b"S":
                        typ = FILE
                    else:
                        warn(f"{name!r}: unknown tar entry type {tf!r}, shown as a file")
                        typ = FILE
                if typ == FILE and name.endswith("/"):
                    typ = DIR
                link = None
                if typ == SYMLINK or typ == HARDLINK:
                    if pending_link is not None:
                        link = pending_link
                    elif pax and "linkpath" in pax:
                        link = pax["linkpath"]
                    else:
                        link = _str(link_b)
                try:
                    mode = int(mode7, 8) if mode_t == b"\0" else num(mode7 + mode_t)
                    if pax:
                        uid = int(pax["uid"]) if "uid" in pax else num(uid7 + uid_t)
                        gid = int(pax["gid"]) if "gid" in pax else num(gid7 + gid_t)
                        mt = pax.get("mtime")
                        mtime = int(float(mt)) if mt else num(mtime11 + mtime_t)
                    else:
                        uid = int(uid7, 8) if uid_t == b"\0" else num(uid7 + uid_t)
                        gid = int(gid7, 8) if gid_t == b"\0" else num(gid7 + gid_t)
                        mtime = int(mtime11, 8) if mtime_t == b"\0" else num(mtime11 + mtime_t)
                except (ValueError, OverflowError):  # OverflowError: a PAX mtime of "inf"
                    try:  # the slow, general way (the PAX records, if any, still win)
                        mode = num(mode7 + mode_t)
                        uid = int(pax["uid"]) if pax and "uid" in pax else num(uid7 + uid_t)
                        gid = int(pax["gid"]) if pax and "gid" in pax else num(gid7 + gid_t)
                        mt = pax.get("mtime") if pax else None
                        mtime = int(float(mt)) if mt else num(mtime11 + mtime_t)
                    except (ValueError, OverflowError):
                        raise LayerError(f"corrupt tar header at byte {hstart} (bad number)", self.place) from None
                if not MIN_TIME <= mtime <= MAX_TIME:  # base-256 / PAX: any size; stored in 64 bits
                    mtime = MAX_TIME if mtime > 0 else MIN_TIME
                sparse = None  # (bytes stored, map) of a GNU sparse file
                if typ == FILE and (tf == b"S" or (pax and ("GNU.sparse.major" in pax or "GNU.sparse.minor" in pax
                                                            or "GNU.sparse.map" in pax or pairs00))):
                    # the map, and (PAX 1.0) past it, to the stored segments
                    try:
                        if tf == b"S":
                            numbers, real = old_gnu_map(hstart)
                        else:
                            version = _pax_sparse_version(pax, pairs00, name, warn)
                            if version is None:
                                numbers = None
                            else:
                                if "GNU.sparse.name" in pax and pax["GNU.sparse.name"]:
                                    name = pax["GNU.sparse.name"].split("\0", 1)[0]
                                real_s = pax.get("GNU.sparse.size") or pax.get("GNU.sparse.realsize")
                                real = size if real_s is None else sparse_map.decimal(real_s, "real size")
                                if version == "1.0":
                                    numbers, taken = map_in_data(size, hstart)
                                    size -= taken
                                    padded -= taken
                                else:
                                    numbers = _pax0_map(pax, pairs00)
                        if numbers is not None:
                            smap = sparse_map.check(numbers, real, size, sparse_map.MAX_SEGMENTS - self.segments)
                            self.segments += len(smap) // 2
                            sparse = (size, smap)
                            data_off = base + pos
                    except (sparse_map.SparseError, ValueError) as e:
                        raise LayerError(f"corrupt sparse map of {name!r} at byte {hstart}: {e}", self.place) \
                            from None
                if pairs00:
                    pairs00 = []
                if pending_name is not None or pending_link is not None:
                    pending_name = pending_link = None
                if pax:
                    pax = {}
                # skip the contents (hardlinks, dirs... should have size 0, but
                # honour what the header says, as tar does)
                content = None
                digest = NO_DIGEST
                if typ == FILE and size and size <= CAPTURE_MAX and sparse is None and name.endswith("os-release") \
                        and normalise(name) in CAPTURE_PATHS:
                    if len(buf) - pos >= size or need(size):
                        content = bytes(buf[pos:pos + size])
                elif typ == FILE and size and sparse is None and size <= CAPTURE_DB_MAX and size <= self.db_room \
                        and might_be_db(name) and is_db(normalise(name) or ""):
                    if len(buf) - pos >= size or need(size):
                        content = bytes(buf[pos:pos + size])
                        self.db_room -= size
                if padded:
                    if hashing and typ == FILE and size:
                        h = blake3()
                        try:
                            ok = skip(padded, h, size)
                            digest = h.digest(DIGEST_SIZE)
                        except TruncatedBomb:  # as in _skip_or_cut: the entry is kept, unhashed
                            self.cut = True
                            ok = True
                            digest = NO_DIGEST
                        if not ok:
                            raise LayerError(
                                f"truncated tar: {name!r} claims {size} bytes but the {self.what} ends first", self.place)
                    elif len(buf) - pos >= padded:
                        pos += padded
                        if release is not None and pos - released >= release_every:
                            release(released, pos)
                            released = pos
                    elif not self._skip_or_cut(skip, padded):
                        raise LayerError(
                            f"truncated tar: {name!r} claims {size} bytes but the {self.what} ends first", self.place)
                stop = one  # this entry is read: the caller goes on after it
                if typ == -1:
                    continue
                if name[:1] in "./" or "/." in name or "//" in name:  # else clean (most names)
                    path = normalise(name)
                    if path is None:
                        self.escaped += 1
                        if self.escaped <= 20:
                            warn(f"entry {name!r} escapes the image root; left out of the tree")
                        continue
                else:
                    path = name[:-1] if name[-1:] == "/" else name
                marker = _marker(path, name, warn) if ".wh." in path else None
                if marker is not None:
                    path, typ = marker
                    if typ < 0:
                        continue
                    size = mode = uid = gid = mtime = 0
                    link = None
                    digest = NO_DIGEST  # a marker has no content, whatever bytes its entry carried
                    sparse = None
                elif not path:
                    continue  # the root directory itself
                elif typ != FILE:
                    size = 0
                    if typ == HARDLINK and link is not None:
                        nl = normalise(link)
                        link = nl if nl is not None else link
                if link is not None:
                    elinks[len(paths)] = link
                if hashing:
                    edigests += digest
                if content is not None and typ == FILE:
                    captured[len(paths)] = content
                add_path(path)
                add_type(typ)
                if sparse is not None:
                    entries.sparse[len(esizes)] = sparse  # this entry's index: its size is not in yet
                    add_size(real)
                else:
                    add_size(size)
                add_mode(mode & 0o7777)
                add_uid(uid & 0xFFFFFFFF)
                add_gid(gid & 0xFFFFFFFF)
                add_mtime(mtime)
                add_offset(data_off)
        except TruncatedBomb:
            self.bomb = True
            ended = True
            warn(f"stopped after {self.limit} bytes: the layer expands far beyond its compressed size "
                 "(a decompression bomb?); the entries after that point are not shown")
        self._buf, self._base = buf, base
        return base + pos, ended
