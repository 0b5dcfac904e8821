"""Plain tar headers of a layer, read a batch at a time and parsed column by
column: from the file for an uncompressed layer, from the bytes decoded so
far for a compressed one.

The header walker (`tarwalk.TarIndexer`) takes every kind of tar, one header
at a time, a field at a time, in Python.
Most layers are nothing but plain ustar headers -- NUL-ended octal numbers,
a name of up to 100 bytes, no PAX or GNU records -- and for those the work
can be done for a whole batch at once by C-level operations:

1. `chain` follows the headers: only the size and type of each are read
   (the one thing that is sequential: where the next header starts), and
   each header block is kept.
2. `decode` parses the batch: the numeric fields of all its headers are
   joined and split at their NULs and converted by `map(int, ...)`; names
   are joined, decoded once and split; types come from one `translate`;
   checksums are checked by `map(header_sum, ...)`.  The structure each of
   these relies on is checked first (every terminator at its place, the
   expected number of fields), and anything else -- a field ended by a space,
   a base-256 number, a checksum that only matches the old signed way, an
   unknown type -- makes `decode` return None, and the general walker reads
   that part of the layer instead, with its exact rules and messages.

For a header that `chain` does not take (a PAX or GNU record, an unusual
type, the end of the archive, a truncated entry) the general walker reads
that one entry and `chain` goes on after it.  Both paths give the same
entries, warnings and errors; `tests/layers/test_tarbatch.py` compares them.

Header blocks are read with `pread` when the layer is in a file: a page
fault per header costs as much as the system call, and the mapped pages
would count in the process's memory until released.
"""

from __future__ import annotations

import os
import struct
from array import array
from itertools import repeat
from operator import add, mul, ne

from isal.isal_zlib import adler32

from ..model import BLOCK, CHAR, DIR, FIFO, FILE, HARDLINK, SYMLINK

# size (11 digits, then the byte that ends it) and typeflag: all `chain` reads
_CHAIN = struct.Struct("124x11sc20xc")
BATCH = 512  # headers a batch: under 1 MB of transient objects
# bytes read at a time: a 4 KiB window often holds the next header too
# (small files), and costs little more than a 512-byte read
WINDOW = 4096

# tar typeflag -> entry type, for the types that are one entry each (the
# general walker's table too; it also takes 'S' sparse files, and 'V', 'M',
# 'N' volume records, which are no entry)
TAR_TYPES = {b"0": FILE, b"\0": FILE, b"7": FILE, b"1": HARDLINK, b"2": SYMLINK, b"3": CHAR, b"4": BLOCK,
             b"5": DIR, b"6": FIFO}
_PLAIN = frozenset(TAR_TYPES)  # the typeflags taken here
_TYPE_TABLE = bytearray(range(256))
for _flag, _typ in TAR_TYPES.items():
    _TYPE_TABLE[_flag[0]] = _typ
_TYPE_TABLE = bytes(_TYPE_TABLE)
# entry type -> 1 for a regular file, else 0
_IS_FILE = bytes(1 if t == FILE else 0 for t in range(256))
# typeflag -> 1 for the types that carry a link name (hardlink, symlink)
_HAS_LINK = bytes(1 if t in b"12" else 0 for t in range(256))
# where the NUL ending mode, uid, gid, size, mtime and chksum must be
_TERMINATORS = (107, 115, 123, 135, 147, 154)
# name, mode, uid, gid, mtime, the chksum's 6 digits (the size is chain's)
_FIELDS = struct.Struct("100s7sx7sx7sx12x11sx6s2x356x")
assert _FIELDS.size == 512
USTAR_MAGIC = b"ustar\x00"


def header_sum(block) -> int:
    """The sum of a 512-byte header's bytes, in C: Adler-32's low half of each
    256-byte half, which never reaches its modulus (256 x 255 < 65521), so the
    sum is exact (a checksum off by 65521 must not pass)."""
    return (adler32(block[:256], 0) & 0xFFFF) + (adler32(block[256:512], 0) & 0xFFFF)


try:  # the same walk in C (setup.py builds it where a compiler is); `chain` in Python otherwise
    from ._tarchain import chain_buf as _chain_buf
    from ._tarchain import chain_fd as _chain_fd
    from ._tarchain import headers_ok as _headers_ok
except ImportError:
    _chain_buf = _chain_fd = _headers_ok = None


def chain(source, origin: int, pos: int, end: int, limit: int = BATCH, shift: int = 0):
    """Follow plain headers from `pos` to at most `end`.  `source` is the
    bytes themselves, a file descriptor (read with pread from `origin`), or a
    function: `source(n, origin + pos)` returns the n bytes at `pos` (fewer
    at the end of the file), read a window of WINDOW bytes at a time, since
    the next header is often in it already (after a directory, a link or a
    small file).  Returns (blocks, offsets, sizes, pos): the headers taken,
    where each one's contents start (`shift` + the offset after its header),
    and where `chain` stopped -- after `limit` headers, or at a header it
    leaves to the general walker."""
    if type(source) is int:
        if _chain_fd is not None:
            return _columns(*_chain_fd(source, origin, pos, end, limit, shift))
        from functools import partial

        source = partial(os.pread, source)
    elif _chain_buf is not None and not callable(source):
        return _columns(*_chain_buf(source, pos, end, limit, shift))
    return chain_py(source, origin, pos, end, limit, shift)


def _columns(blocks: list[bytes], offsets: bytes, sizes: bytes, pos: int):
    out_offsets, out_sizes = array("q"), array("q")
    out_offsets.frombytes(offsets)
    out_sizes.frombytes(sizes)
    return blocks, out_offsets, out_sizes, pos


def chain_py(source, origin: int, pos: int, end: int, limit: int = BATCH, shift: int = 0):
    """`chain` in Python, over bytes or a read function."""
    blocks: list[bytes] = []
    offsets = array("q")
    sizes = array("q")
    keep, at, sized = blocks.append, offsets.append, sizes.append
    unpack = _CHAIN.unpack_from
    plain = _PLAIN
    read = source if callable(source) else None
    window = b"" if read else source
    start = pos if read else 0  # where window[0] is
    while limit > 0 and end - pos >= 512:
        off = pos - start
        if off + 512 > len(window):
            if read is None:
                break
            window = read(WINDOW, origin + pos)
            start = pos
            off = 0
            if len(window) < 512:
                break
        size11, size_end, flag = unpack(window, off)
        if size_end != b"\0" or flag not in plain:
            break
        try:
            size = int(size11, 8)
        except ValueError:  # the end of the archive, a base-256 size...
            break
        nxt = pos + 512 + ((size + 511) & ~511)
        if size < 0 or nxt > end:
            break
        keep(window[off:off + 512])
        at(shift + pos + 512)
        sized(size)
        pos = nxt
        limit -= 1
    return blocks, offsets, sizes, pos


class Batch:
    """One decoded batch, in archive order, before normalising paths."""

    __slots__ = ("names", "types", "sizes", "modes", "uids", "gids", "mtimes", "links")

    def __init__(self, names, types, sizes, modes, uids, gids, mtimes, links):
        self.names: list[str] = names  # as the header has them, prefix joined
        self.types: bytearray = types  # entry types (model), FILE named "x/" already DIR
        self.sizes: array = sizes  # 0 for all but regular files
        self.modes: array = modes  # & 0o7777
        self.uids: array = uids
        self.gids: array = gids
        self.mtimes: array = mtimes
        self.links: dict[int, str] = links  # batch index -> link name, as the header has it


def _octal_column(typecode: str, fields, mask: int | None = None) -> array:
    """int(field, 8) for each field (& mask), as an array: each distinct
    field is parsed once, since modes, owners and times repeat across a
    layer (and an owner is often the same for all of a batch)."""
    first = fields[0]
    if fields.count(first) == len(fields):
        value = int(first, 8)
        return array(typecode, [value if mask is None else value & mask]) * len(fields)
    if mask is None:
        values = {f: int(f, 8) for f in set(fields)}
    else:
        values = {f: int(f, 8) & mask for f in set(fields)}
    return array(typecode, list(map(values.__getitem__, fields)))


def decode(blocks: list[bytes], sizes: array) -> Batch | None:
    """Parse a batch of header blocks from `chain`, or None when any of them
    needs the general walker's rules."""
    n = len(blocks)
    hdrs = b"".join(blocks)
    # the terminators' and checksums' checks below, in C where it is built (-1: left to these)
    verdict = _headers_ok(hdrs) if _headers_ok is not None else -1
    if verdict == 0:
        return None
    if verdict < 0:
        for off in _TERMINATORS:  # each numeric field ends with a NUL
            if hdrs[off::512].count(0) != n:
                return None
    names_b, modes_b, uids_b, gids_b, mtimes_b, chks_b = zip(*_FIELDS.iter_unpack(hdrs))
    try:  # int() refuses a NUL inside a field: base-256 numbers and such go to the general rules
        modes = _octal_column("I", modes_b, 0o7777)
        uids = _octal_column("I", uids_b)
        gids = _octal_column("I", gids_b)
        mtimes = _octal_column("q", mtimes_b)
        if verdict < 0:
            stored = map(int, chks_b, repeat(8))
            # The checksum is the sum of the header's bytes with its own field
            # read as 8 spaces (256): stored = sum - field + 256, the field's own
            # bytes being its 6 digits, a NUL and byte 155.
            expected = map(add, map(add, stored, map(sum, chks_b)), hdrs[155::512])
            if any(map(ne, expected, map(add, map(header_sum, blocks), repeat(256)))):
                return None
    except (ValueError, OverflowError):  # not octal, or negative: the general rules
        return None
    # names: the bytes before the first NUL, decoded once for the batch
    raw = b"\0".join(map(bytes.rstrip, names_b, repeat(b"\0")))
    if raw.count(0) != n - 1:  # a NUL inside a name, then more bytes: cut each at its first NUL
        raw = b"\0".join([b.partition(b"\0")[0] for b in names_b])
    names = raw.decode("utf-8", "surrogateescape").split("\0")
    prefixes = hdrs[345::512]
    if prefixes.count(0) != n:  # ustar's prefix field: the name's leading directories
        for i in _nonzero(prefixes):
            h = 512 * i
            if hdrs[h + 257:h + 263] == USTAR_MAGIC:
                prefix = hdrs[h + 345:h + 500].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                if prefix:
                    names[i] = prefix + "/" + names[i]
    flags = hdrs[156::512]
    types = bytearray(flags.translate(_TYPE_TABLE))
    # a regular file whose name ends with "/" is a directory (old tars)
    ends = bytes(map(str.endswith, names, repeat("/")))
    if int.from_bytes(ends, "little") & int.from_bytes(types.translate(_IS_FILE), "little"):
        for i in _nonzero(ends):
            if types[i] == FILE:
                types[i] = DIR
    links: dict[int, str] = {}
    with_links = flags.translate(_HAS_LINK)
    if with_links.count(0) != n:
        for i in _nonzero(with_links):
            h = 512 * i
            links[i] = hdrs[h + 157:h + 257].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    file_sizes = array("q", map(mul, sizes, types.translate(_IS_FILE)))
    return Batch(names, types, file_sizes, modes, uids, gids, mtimes, links)


_ONE = bytes([0] + [1] * 255)


def _nonzero(bs: bytes):
    """Indices of the non-zero bytes of `bs` (found in C)."""
    ones = bs.translate(_ONE)
    find = ones.find
    i = find(1)
    while i >= 0:
        yield i
        i = find(1, i + 1)
