"""GNU sparse files in a tar: the map of where a file's stored data goes.

A sparse file is stored as its data segments only, one after the other; its
map says at which offset of the real file each segment goes, and the file's
real size (the rest is holes: zeros).  GNU tar writes the map four ways, all
read as Go's archive/tar (Docker, containerd, Podman) and Python's tarfile
read them:

* old GNU (typeflag `S`): up to 4 (offset, length) pairs in the header
  (12-byte numbers from byte 386), 21 more in each extension block that
  follows the header while the "is extended" byte is set; the real size at
  byte 483.  The header's size is the data stored.
* PAX 0.0: repeated `GNU.sparse.offset` / `GNU.sparse.numbytes` records (in
  order), `GNU.sparse.numblocks`, real size in `GNU.sparse.size`.
* PAX 0.1: `GNU.sparse.map` = "offset,length,offset,length,...".
* PAX 1.0 (`GNU.sparse.major=1`, `minor=0`): the real name in
  `GNU.sparse.name` (the header has a `GNUSparseFile.NNN/` placeholder),
  the real size in `GNU.sparse.realsize`, and the map at the start of the
  entry's data: the count, then each number, one a line, padded to 512
  bytes; the data segments follow.

Kept per entry as (bytes stored, map): the map an `array("q")` of offset,
length pairs, in order, without the empty segments (GNU tar ends its maps
with one at the real size).  Whatever a header claims, nothing of the real
size is ever allocated: the map is checked (segments in order, inside the
real size, holding exactly the bytes stored) and its segments counted
against a bound per layer.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

# map segments kept for one layer, in all its sparse files (16 bytes each)
MAX_SEGMENTS = 1 << 21
MAX_SIZE = (1 << 63) - 1  # sizes and offsets are kept in 64 bits
# the longest number in a map: 2**63 has 19 digits
_MAX_DIGITS = 19

# old GNU header: 4 pairs of 12-byte numbers at 386, "is extended" at 482,
# the real size at 483; an extension block: 21 pairs, "is extended" at 504
OLD_PAIRS_AT, OLD_PAIRS, OLD_EXTENDED_AT, OLD_REALSIZE_AT = 386, 4, 482, 483
EXT_PAIRS, EXT_EXTENDED_AT = 21, 504


class SparseError(ValueError):
    """A sparse map that cannot be right (the message says why)."""


def decimal(s: str | bytes, what: str) -> int:
    """A non-negative decimal number as GNU tar writes it: ASCII digits
    only (int() would also take spaces, signs, underscores)."""
    if not s or not s.isdigit() or (isinstance(s, str) and not s.isascii()):
        raise SparseError(f"bad {what} {s[:40]!r}" if s else f"empty {what}")
    if len(s) > _MAX_DIGITS:  # (and int() of a long one costs)
        raise SparseError(f"{what} {s[:40]}{'…' if len(s) > 40 else ''} is out of range")
    v = int(s)
    if v > MAX_SIZE:
        raise SparseError(f"{what} {v} is out of range")
    return v


def old_gnu_pairs(block: bytes, at: int, count: int, num) -> list[int]:
    """The offset, length numbers of an old GNU header or extension block, up
    to the first pair whose offset field is empty (GNU tar, Go and BSD tar
    stop there, and go on with the next extension block)."""
    out: list[int] = []
    for k in range(count):
        p = at + 24 * k
        if block[p] == 0:
            break
        out.append(num(block[p:p + 12]))
        out.append(num(block[p + 12:p + 24]))
    return out


def pax01_map(value: str) -> list[int]:
    """The numbers of a `GNU.sparse.map` record."""
    if value == "":
        return []
    return [decimal(x, "sparse map number") for x in value.split(",")]


def check(numbers: Iterable[int], real_size: int, stored: int, budget: int) -> array:
    """The map from flat offset, length numbers: each segment at or after
    the end of the one before, inside `real_size`, all of them holding
    `stored` bytes; at most `budget` non-empty segments.  Raises
    SparseError."""
    if not 0 <= real_size <= MAX_SIZE:
        raise SparseError(f"real size {real_size} is out of range")
    it = iter(numbers)
    out = array("q")
    end = 0
    total = 0
    for off in it:
        length = next(it, None)
        if length is None:
            raise SparseError("an offset without a length")
        if off < 0 or length < 0:
            raise SparseError("a negative offset or length")
        if off < end:
            raise SparseError(f"segment at {off} overlaps the one before (which ends at {end}) or is out of order")
        if off + length > real_size:
            raise SparseError(f"segment at {off} of {length} bytes ends past the real size ({real_size})")
        if length:
            if len(out) >= 2 * budget:
                raise SparseError(f"more than {MAX_SEGMENTS:,} segments in the sparse maps of one layer")
            out.append(off)
            out.append(length)
            end = off + length
            total += length
    if total != stored:
        raise SparseError(f"its segments hold {total} bytes but the entry stores {stored}")
    return out


def stored_within(smap: array, n: int) -> int:
    """How many of the stored bytes lie in the first n bytes of the file."""
    total = 0
    for k in range(0, len(smap), 2):
        off, length = smap[k], smap[k + 1]
        if off >= n:
            break
        total += min(length, n - off)
    return total


def place(chunks: Iterable[bytes], smap: array) -> Iterator[tuple[int, memoryview]]:
    """The stored data, as it streams past in `chunks`, cut at the segments'
    ends: (offset in the real file, bytes) for each piece.  Stops when the
    map is used up (the bytes after it are not the file's)."""
    k = 0
    n = len(smap)
    if not n:
        return
    at, left = smap[0], smap[1]
    for c in chunks:
        view = memoryview(c)
        p = 0
        while p < len(view):
            take = min(left, len(view) - p)
            yield at, view[p:p + take]
            p += take
            at += take
            left -= take
            if not left:
                k += 2
                if k >= n:
                    return
                at, left = smap[k], smap[k + 1]


def expand(chunks: Iterable[bytes], smap: array, size: int) -> bytes:
    """The first `size` bytes of the real file, from its stored data (as
    many as `stored_within(smap, size)`): holes are zeros."""
    out = bytearray(size)
    for at, piece in place(chunks, smap):
        if at >= size:
            break
        piece = piece[:size - at]
        out[at:at + len(piece)] = piece
    return bytes(out)
