"""Package databases read from an image's files, one module per manager:
dpkg, apk, rpm (sqlite), Python (dist-info RECORD, egg-info) and npm
(package.json).  Each reader turns the bytes of its database files into
`Package` records; nothing here reads the image itself, runs anything in
it, or computes bytes (that is `analysis.packages`).

Readers never raise on what an image holds: a database they cannot read
is a note (one line), and every record and list is bounded, so a hostile
database costs bounded time and memory."""

from __future__ import annotations

import posixpath
import re

from ..model import Record

DPKG, APK, RPM, PYTHON, NPM = "dpkg", "apk", "rpm", "python", "npm"
MANAGERS = (DPKG, APK, RPM, PYTHON, NPM)
# when two managers list one file, the system package manager owns it: a Debian python3-x is the
# dpkg package, its dist-info the same files again
SYSTEM = (DPKG, APK, RPM)

# bounds that keep a hostile database from taking the machine
FILE_MAX = 64 << 20  # one database file read
TOTAL_MAX = 512 << 20  # all database files of an image, read
PACKAGES_MAX = 200_000  # records of one database
FILES_MAX = 4_000_000  # file paths of one database, all packages together
NAME_MAX = 1024  # a name, version or arch longer than this is cut


class Package(Record):
    """One installed package as its database lists it.  `files` are image
    paths without the leading '/' (directories included, as listed)."""

    __slots__ = ("manager", "name", "version", "arch", "location", "files")

    def __init__(self, manager: str, name: str, version: str, arch: str = "", location: str = "",
                 files: list[str] | None = None) -> None:
        self.manager = manager
        self.name = name
        self.version = version
        self.arch = arch
        self.location = location  # python/npm: the site-packages or node_modules directory
        self.files: list[str] = [] if files is None else files

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What names one package across layers: an upgrade keeps the key and changes the version."""
        return (self.manager, self.location, self.name, self.arch)


class Budget:
    """How many more file paths a reader may keep (FILES_MAX per database)."""

    __slots__ = ("left", "cut")

    def __init__(self, n: int = FILES_MAX) -> None:
        self.left = n
        self.cut = False

    def take(self, paths: list[str]) -> list[str]:
        if len(paths) > self.left:
            paths = paths[:max(self.left, 0)]
            self.cut = True
        self.left -= len(paths)
        return paths


def clip(s: str) -> str:
    """A name or version as kept: at most NAME_MAX characters, no NUL (a hostile database's
    NULs would end a name where a C string ends it)."""
    return s[:NAME_MAX].replace("\0", "")


def image_path(p: str, base: str = "") -> str | None:
    """A path a database lists, as an image path (no leading '/'); relative
    ones are taken from `base`.  None for what leaves the root or is empty."""
    if not p or "\0" in p:
        return None
    if p[0] == "/" and "/." not in p and "//" not in p and p[-1] != "/":
        return p[1:]  # already normal, as nearly every listed path is
    if not p.startswith("/"):
        p = posixpath.join("/" + base, p)
    n = posixpath.normpath(p)
    if n.startswith("//"):
        n = "/" + n.lstrip("/")
    n = n.lstrip("/")
    return n if n and n != "." else None


def text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


# -- which image paths are database files ----------------------------------------
# what every database file's path holds: found by str.find over a layer's paths joined by NULs
# (a layer may hold a million paths); the pattern then decides
_KEYS = ("var/lib/dpkg/", "lib/apk/db/installed\0", "rpm/rpmdb.sqlite", "rpm/Packages", "-info/RECORD\0",
         "-info/installed-files.txt\0", "/package.json\0")
# what those paths end with (dpkg's status.d/ files apart)
_SUFFIXES = ("dpkg/status", ".list", "apk/db/installed", "rpmdb.sqlite", "rpmdb.sqlite-wal", "/Packages",
             "/Packages.db", "/RECORD", "/installed-files.txt", "/package.json")
_SITE = r"(?:.*/)?(?:site|dist)-packages/[^/]+"
DB_PATTERN = re.compile(
    r"(?P<dpkg>var/lib/dpkg/(?:status|status\.d/[^/]+|info/[^/]+\.list))"
    r"|(?P<apk>lib/apk/db/installed)"
    r"|(?P<rpm>(?:var/lib/rpm|usr/lib/sysimage/rpm)/(?:rpmdb\.sqlite(?:-wal)?|Packages(?:\.db)?))"
    rf"|(?P<python>{_SITE}\.dist-info/RECORD|{_SITE}\.egg-info/installed-files\.txt)"
    r"|(?P<npm>(?:.*/)?node_modules/(?:@[^/]+/)?[^/@][^/]*/package\.json)", re.S)


def db_files(paths: list[str]) -> list[tuple[int, str]]:
    """(index, manager) of every database file among a layer's paths."""
    joined = "\0".join(["", *paths, ""])  # one copy of the text, a NUL before and after every path
    starts = set()
    find, rfind = joined.find, joined.rfind
    for key in _KEYS:
        k = find(key)
        while k >= 0:
            starts.add(rfind("\0", 0, k + (key[0] != "/")) + 1)
            k = find(key, k + 1)
    out = []
    match = DB_PATTERN.fullmatch
    idx, pos = -1, 0
    for s in sorted(starts):
        idx += joined.count("\0", pos, s)
        pos = s
        m = match(joined, s, find("\0", s))
        if m is not None:
            out.append((idx, m.lastgroup))
    return out


_STATUS_D = "/dpkg/status.d/"


def might_be_db(name: str) -> bool:
    """A quick test on a tar member's name, before is_db on its normalised path."""
    return name.endswith(_SUFFIXES) or _STATUS_D in name or name.startswith(_STATUS_D[1:])


def is_db(path: str) -> bool:
    """Whether an image path (normalised) is a package database file."""
    return DB_PATTERN.fullmatch(path) is not None
