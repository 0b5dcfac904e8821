"""rpm: the sqlite database of rpm >= 4.16 (Fedora 33+, RHEL/UBI 9):
/var/lib/rpm/rpmdb.sqlite or /usr/lib/sysimage/rpm/rpmdb.sqlite, table
Packages(hnum, blob), each blob one rpm header.  The BerkeleyDB `Packages`
and NDB `Packages.db` formats are not read: they get a note.

A header blob is: index count and data length (big-endian uint32 each),
then that many 16-byte index entries (tag, type, offset, count), then the
data store the offsets point into."""

from __future__ import annotations

import os
import struct

from . import FILE_MAX, PACKAGES_MAX, RPM, Budget, Package, clip, image_path

DIRS = ("var/lib/rpm/", "usr/lib/sysimage/rpm/")
SQLITE = "rpmdb.sqlite"

NAME, VERSION, RELEASE, EPOCH, ARCH = 1000, 1001, 1002, 1003, 1022
FILESIZES, FILEMODES, DIRINDEXES, BASENAMES, DIRNAMES, LONGFILESIZES = 1028, 1030, 1116, 1117, 1118, 5008
WANTED = frozenset((NAME, VERSION, RELEASE, EPOCH, ARCH, DIRINDEXES, BASENAMES, DIRNAMES))
# tag types
INT32, STRING, STRING_ARRAY, I18NSTRING = 4, 6, 8, 9
INDEX_MAX = 1 << 20  # index entries of one header


class BadHeader(ValueError):
    pass


def header(blob: bytes) -> dict[int, object]:
    """The tags this reader needs from one header blob: strings, string
    lists and int32 lists by tag.  Anything out of bounds is BadHeader."""
    if len(blob) < 8:
        raise BadHeader("a header shorter than its lengths")
    il, dl = struct.unpack_from(">II", blob, 0)
    if il > INDEX_MAX or 8 + 16 * il + dl > len(blob):
        raise BadHeader("a header whose index or data is longer than the blob")
    store = 8 + 16 * il
    out: dict[int, object] = {}
    for k in range(il):
        tag, typ, off, count = struct.unpack_from(">iIiI", blob, 8 + 16 * k)
        if tag not in WANTED:
            continue
        if off < 0 or off > dl:
            raise BadHeader(f"tag {tag} points outside the data")
        pos = store + off
        end = store + dl
        if typ in (STRING, I18NSTRING, STRING_ARRAY):
            n = 1 if typ == STRING else count
            if n > dl:
                raise BadHeader(f"tag {tag} counts more strings than the data holds")
            vals = []
            for _ in range(n):
                z = blob.find(b"\0", pos, end)
                if z < 0:
                    raise BadHeader(f"tag {tag}: a string runs past the data")
                vals.append(blob[pos:z].decode("utf-8", "surrogateescape"))
                pos = z + 1
            out[tag] = vals[0] if typ == STRING else vals
        elif typ == INT32:
            if pos + 4 * count > end:
                raise BadHeader(f"tag {tag} runs past the data")
            out[tag] = struct.unpack_from(f">{count}i", blob, pos)
    return out


def package(h: dict[int, object], budget: Budget) -> Package | None:
    name = h.get(NAME)
    if not isinstance(name, str) or not name:
        return None
    ver, rel, epoch = h.get(VERSION), h.get(RELEASE), h.get(EPOCH)
    version = f"{ver}-{rel}" if isinstance(rel, str) and rel else str(ver or "")
    if isinstance(epoch, tuple) and epoch and epoch[0]:
        version = f"{epoch[0]}:{version}"
    arch = h.get(ARCH)
    base, dirs, idx = h.get(BASENAMES), h.get(DIRNAMES), h.get(DIRINDEXES)
    paths: list[str] = []
    if isinstance(base, list) and isinstance(dirs, list) and isinstance(idx, tuple) and len(idx) == len(base):
        for b, i in zip(base, idx):
            if 0 <= i < len(dirs) and "/" not in b:
                q = image_path(dirs[i] + b)
                if q:
                    paths.append(q)
    return Package(RPM, clip(name), clip(version), clip(arch if isinstance(arch, str) else ""), "",
                   budget.take(paths))


def read_sqlite(data: bytes, wal: bytes | None, budget: Budget) -> tuple[list[Package], list[str]]:
    """The packages of an rpmdb.sqlite held in memory: written to a private
    temporary directory and opened read-only (sqlite needs a file)."""
    import sqlite3
    import tempfile

    notes: list[str] = []
    out: list[Package] = []
    bad = 0
    with tempfile.TemporaryDirectory(prefix="layerscope-rpmdb-") as d:
        path = os.path.join(d, SQLITE)
        with open(path, "wb") as f:
            f.write(data)
        if wal:
            with open(path + "-wal", "wb") as f:
                f.write(wal)
        try:
            # read-only; immutable only without a WAL, which sqlite must then read
            uri = f"file:{path}?mode=ro" + ("" if wal else "&immutable=1")
            con = sqlite3.connect(uri, uri=True)
            try:
                con.execute("PRAGMA query_only = ON")
                rows = con.execute("SELECT blob FROM Packages LIMIT ?", (PACKAGES_MAX + 1,))
                for n, (blob,) in enumerate(rows):
                    if n >= PACKAGES_MAX:
                        notes.append(f"rpm: the database holds more than {PACKAGES_MAX:,} packages; "
                                     "only the first are read")
                        break
                    if not isinstance(blob, bytes) or len(blob) > FILE_MAX:
                        bad += 1
                        continue
                    try:
                        p = package(header(blob), budget)
                    except (BadHeader, struct.error):
                        bad += 1
                        continue
                    if p is not None:
                        out.append(p)
            finally:
                con.close()
        except sqlite3.Error as e:
            return [], [f"rpm: rpmdb.sqlite cannot be read ({e})"]
    if bad:
        notes.append(f"rpm: {bad:,} header(s) of rpmdb.sqlite cannot be read and are left out")
    return out, notes


def read(files: dict[str, bytes], budget: Budget) -> tuple[list[Package], list[str]]:
    for d in DIRS:
        if d + SQLITE in files:
            return read_sqlite(files[d + SQLITE], files.get(d + SQLITE + "-wal"), budget)
    for d in DIRS:
        for name, what in (("Packages.db", "NDB"), ("Packages", "BerkeleyDB")):
            if d + name in files:
                return [], [f"rpm: /{d}{name} is an rpm database in the {what} format, which is not supported "
                            "(only rpmdb.sqlite, rpm 4.16 and later, is read): its packages are not listed"]
    return [], []
