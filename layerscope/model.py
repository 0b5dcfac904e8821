"""The layer graph: images -> ordered layers -> entries.

This is the one model every other part reads.  It holds facts read from the
archive and nothing computed from several layers (that is `analysis`).

Entries are kept per layer in parallel columns (`LayerEntries`) instead of one
object per file: an image may have a million entries, and a list of strings
plus a few `array`s costs a fraction of the memory of a million objects, is
quick to build, and pickles/caches as a handful of blobs.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator  # not typing: a start-up cost

# ---------------------------------------------------------------------------
# Entry types.  One byte per entry in LayerEntries.types.
FILE = ord("f")
DIR = ord("d")
SYMLINK = ord("l")
HARDLINK = ord("h")
CHAR = ord("c")
BLOCK = ord("b")
FIFO = ord("p")
WHITEOUT = ord("w")  # `.wh.NAME`: deletes NAME from the layers below
OPAQUE = ord("o")  # `.wh..wh..opq` in DIR: hides every lower child of DIR

TYPE_NAMES = {
    FILE: "file",
    DIR: "dir",
    SYMLINK: "symlink",
    HARDLINK: "hardlink",
    CHAR: "char",
    BLOCK: "block",
    FIFO: "fifo",
    WHITEOUT: "whiteout",
    OPAQUE: "opaque",
}
MARKERS = (WHITEOUT, OPAQUE)
# content digests computed while walking a compressed layer: BLAKE3, 128 bits
DIGEST_SIZE = 16
NO_DIGEST = bytes(DIGEST_SIZE)


def typed_path(p: str) -> str:
    """An image path from what a user typed, resolved the way member names
    are ('.', '..' and '//' components; '..' stops at the root), without the
    leading '/': '' is the root.  Spaces are part of a name, never trimmed."""
    import posixpath

    n = posixpath.normpath("/" + p).lstrip("/")
    return "" if n == "." else n


def is_marker(t: int) -> bool:
    return t == WHITEOUT or t == OPAQUE


class Record:
    """Base of the small value classes: equality and repr by the fields named
    in `__slots__`, in order, as @dataclass gives them.  (Not dataclasses:
    importing it loads inspect, ast, dis... at start-up.)
    Compared by value, so mutable records are unhashable, like a dataclass."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]

    def _values(self) -> tuple:
        return tuple([getattr(self, f) for f in self.__slots__])

    def __eq__(self, other: object):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        args = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__)
        return f"{type(self).__qualname__}({args})"


class LayerEntries:
    """The entries of one layer's tar, in archive order, duplicates removed
    (the last entry for a path wins, as when extracting).

    Paths are normalised: no leading `/` or `./`, no trailing `/`, the root
    itself is never an entry.  Whiteout markers are stored under the path they
    delete (type WHITEOUT); an opaque marker under its directory (type OPAQUE).
    `offsets` is where the entry's content starts in the *uncompressed* layer
    stream, so contents can be read on demand later.

    `digests` holds, for a compressed layer walked with hashing on, a
    DIGEST_SIZE-byte BLAKE3 digest of each regular file's content (zeros for
    other entries), DIGEST_SIZE bytes per entry; empty when not computed.
    `captured` keeps the content of a few small files the analysis reads
    anyway (os-release, the package databases' files, within bounds), so a
    compressed layer is not decoded twice for them.

    `sparse` maps a GNU sparse file's index to (bytes stored, map): its size
    in `sizes` is the real one, its stored data (`offsets` on) holds only the
    map's segments, an `array("q")` of offset, length pairs (`layers.sparse`).
    Its digest, if any, is of the bytes stored.

    `dropped` lists the regular files the tar stored more than once, as
    (path, bytes stored) of each copy a later entry for the same path
    replaced: those bytes are in the layer but in no entry.
    """

    __slots__ = ("paths", "types", "sizes", "modes", "uids", "gids", "links", "offsets", "mtimes",
                 "digests", "captured", "sparse", "dropped")

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.types = bytearray()
        self.sizes = array("q")
        self.modes = array("I")
        self.uids = array("I")
        self.gids = array("I")
        self.mtimes = array("q")
        self.links: dict[int, str] = {}  # index -> link target (symlinks, hardlinks)
        self.offsets = array("q")
        self.digests = bytearray()  # DIGEST_SIZE bytes per entry, or empty
        self.captured: dict[int, bytes] = {}  # index -> content of a small file kept at index time
        self.sparse: dict[int, tuple[int, array]] = {}  # index -> (bytes stored, map) of a sparse file
        self.dropped: list[tuple[str, int]] = []  # (path, bytes stored) of files stored again later in the tar

    def digest(self, i: int) -> bytes | None:
        """The content digest of entry i when computed at index time."""
        d = self.digests[DIGEST_SIZE * i:DIGEST_SIZE * (i + 1)]
        return bytes(d) if len(d) == DIGEST_SIZE and d != NO_DIGEST else None

    def __len__(self) -> int:
        return len(self.paths)

    def append(self, path: str, typ: int, size: int, mode: int, uid: int, gid: int,
               mtime: int, link: str | None, offset: int) -> None:
        i = len(self.paths)
        self.paths.append(path)
        self.types.append(typ)
        self.sizes.append(size)
        self.modes.append(mode & 0o7777)
        self.uids.append(uid & 0xFFFFFFFF)
        self.gids.append(gid & 0xFFFFFFFF)
        self.mtimes.append(mtime)
        self.offsets.append(offset)
        if link is not None:
            self.links[i] = link

    def link(self, i: int) -> str | None:
        return self.links.get(i)

    def stored_size(self, i: int) -> int:
        """The bytes of entry i's content in the layer stream (from
        offsets[i]): its size, but for a sparse file only its data."""
        sp = self.sparse.get(i) if self.sparse else None
        return self.sizes[i] if sp is None else sp[0]

    def same_layout(self, i: int, other: LayerEntries, j: int) -> bool:
        """Whether entries i and other's j store their content the same way
        (both plain, or both sparse with the same map), so that equal stored
        bytes mean equal contents."""
        a = self.sparse.get(i) if self.sparse else None
        b = other.sparse.get(j) if other.sparse else None
        return a == b if a is None or b is None else a[1] == b[1]

    def entry(self, i: int) -> Entry:
        return Entry(self.paths[i], self.types[i], self.sizes[i], self.modes[i],
                     self.uids[i], self.gids[i], self.links.get(i), self.mtimes[i])

    def content_bytes(self) -> int:
        """Bytes of regular files (a hardlink adds none)."""
        total = 0
        types, sizes = self.types, self.sizes
        for i in range(len(types)):
            if types[i] == FILE:
                total += sizes[i]
        return total

    def dedupe(self) -> LayerEntries:
        """Drop earlier duplicates of the same (path, record kind): the last
        one wins.  A whiteout, an opaque marker and an entry for the same path
        are different records and are all kept."""
        if len(set(self.paths)) == len(self.paths):
            return self  # the common case, decided in C
        seen: dict[tuple[str, int], int] = {}
        types = self.types
        for i, p in enumerate(self.paths):
            t = types[i]
            k = t if t in MARKERS else 0
            seen[(p, k)] = i
        if len(seen) == len(self.paths):
            return self
        keep = sorted(seen.values())
        out = LayerEntries()
        kept = set(keep)
        out.dropped = [(self.paths[i], self.stored_size(i)) for i in range(len(types))
                       if types[i] == FILE and i not in kept and self.stored_size(i)]
        digests = self.digests
        for i in keep:
            if i in self.captured:
                out.captured[len(out.paths)] = self.captured[i]
            if i in self.sparse:
                out.sparse[len(out.paths)] = self.sparse[i]
            out.append(self.paths[i], self.types[i], self.sizes[i], self.modes[i], self.uids[i],
                       self.gids[i], self.mtimes[i], self.links.get(i), self.offsets[i])
            if digests:
                out.digests += digests[DIGEST_SIZE * i:DIGEST_SIZE * (i + 1)]
        return out

    # -- compact serialisation for the cache and for worker processes --------
    def to_state(self) -> tuple:
        return ("\0".join(self.paths), bytes(self.types), self.sizes.tobytes(), self.modes.tobytes(),
                self.uids.tobytes(), self.gids.tobytes(), self.mtimes.tobytes(),
                self.offsets.tobytes(), list(self.links.items()), bytes(self.digests),
                list(self.captured.items()), [(i, s, m.tobytes()) for i, (s, m) in self.sparse.items()],
                list(self.dropped))

    @classmethod
    def from_state(cls, st: tuple) -> LayerEntries:
        paths, types, sizes, modes, uids, gids, mtimes, offsets, links, digests, captured, sparse, dropped = st
        e = cls()
        e.dropped = list(dropped)
        e.paths = paths.split("\0") if paths else []
        e.types = bytearray(types)
        e.sizes.frombytes(sizes)
        e.modes.frombytes(modes)
        e.uids.frombytes(uids)
        e.gids.frombytes(gids)
        e.mtimes.frombytes(mtimes)
        e.offsets.frombytes(offsets)
        e.links = dict(links)
        e.digests = bytearray(digests)
        e.captured = dict(captured)
        for i, stored, m in sparse:
            smap = array("q")
            smap.frombytes(m)
            e.sparse[i] = (stored, smap)
        n = len(e.paths)
        if not (len(e.types) == len(e.sizes) == len(e.modes) == len(e.offsets) == n) or \
                len(e.digests) not in (0, DIGEST_SIZE * n):
            raise ValueError("inconsistent layer entry state")
        return e


class Entry(Record):
    """One entry, materialised on demand (for display, JSON, tests).
    Immutable, hashable by value."""

    __slots__ = ("path", "type", "size", "mode", "uid", "gid", "link", "mtime")
    path: str  # normalised, without leading '/'
    type: int
    size: int
    mode: int
    uid: int
    gid: int
    link: str | None
    mtime: int

    def __init__(self, path: str, type: int, size: int, mode: int, uid: int, gid: int, link: str | None,
                 mtime: int = 0) -> None:
        init = object.__setattr__
        init(self, "path", path)
        init(self, "type", type)
        init(self, "size", size)
        init(self, "mode", mode)
        init(self, "uid", uid)
        init(self, "gid", gid)
        init(self, "link", link)
        init(self, "mtime", mtime)

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: Entry is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: Entry is immutable")

    def __hash__(self) -> int:
        return hash(self._values())

    def __reduce__(self):  # pickle/copy through __init__ (the default would call the blocked __setattr__)
        return (Entry, self._values())

    @property
    def type_name(self) -> str:
        return TYPE_NAMES[self.type]

    @property
    def abspath(self) -> str:
        return "/" + self.path


# ---------------------------------------------------------------------------
class BlobRef(Record):
    """Where a blob's bytes live: a byte range of a file (the outer archive or
    an OCI layout's blob file).  Read lazily, never all at once."""

    __slots__ = ("file", "offset", "size", "name")

    def __init__(self, file: str, offset: int, size: int, name: str) -> None:
        self.file = file
        self.offset = offset
        self.size = size
        self.name = name  # as named in the archive, for messages

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"BlobRef({self.name!r} @{self.offset}+{self.size})"


class Layer:
    """One layer node.  Shared by every image that uses it (keyed by diff_id
    when known, else by the digest/name of the stored blob).  Compared by
    identity."""

    __slots__ = ("key", "digest", "diff_id", "media_type", "compressed_size", "blob", "compression",
                 "uncompressed_size", "entries", "warnings", "error", "images", "bomb", "fetch")

    def __init__(self, key: str, digest: str, diff_id: str, media_type: str, compressed_size: int,
                 blob: BlobRef | None, compression: str = "", uncompressed_size: int = -1,
                 entries: LayerEntries | None = None, warnings: list[str] | None = None,
                 error: str | None = None, images: list[Image] | None = None, bomb: bool = False) -> None:
        self.key = key
        self.digest = digest  # digest of the stored blob, as the manifest names it (may be "")
        self.diff_id = diff_id  # digest of the uncompressed tar (from the config), may be ""
        self.media_type = media_type
        self.compressed_size = compressed_size  # bytes of the stored blob
        self.blob = blob
        self.compression = compression  # "none" | "gzip" | "zstd", detected from the bytes
        self.uncompressed_size = uncompressed_size  # bytes of the tar stream, once indexed
        self.entries = entries  # None until indexed
        self.warnings: list[str] = [] if warnings is None else warnings
        self.error = error  # set when the layer could not be indexed
        self.images: list[Image] = [] if images is None else images
        self.bomb = bomb  # stopped early: the headers claim more than the data holds
        # fetch(progress) brings the blob's bytes to `blob.file` (a registry's layer, not fetched yet);
        # progress(bytes so far) is called as they come.  None once they are there.
        self.fetch: Callable[..., None] | None = None

    @property
    def indexed(self) -> bool:
        return self.entries is not None

    @property
    def size(self) -> int:
        """Bytes of regular files in the layer (dive's layer size)."""
        return self.entries.content_bytes() if self.entries is not None else 0

    @property
    def short_id(self) -> str:
        d = self.diff_id or self.digest or self.key
        return d.split(":", 1)[-1][:12]

    def __repr__(self) -> str:  # pragma: no cover
        return f"Layer({self.short_id})"


class HistoryStep(Record):
    __slots__ = ("created_by", "created", "comment", "empty_layer", "layer_index")

    def __init__(self, created_by: str, created: str = "", comment: str = "", empty_layer: bool = False,
                 layer_index: int | None = None) -> None:
        self.created_by = created_by
        self.created = created
        self.comment = comment
        self.empty_layer = empty_layer
        self.layer_index = layer_index  # index into Image.layers, None for empty steps


class Platform(Record):
    __slots__ = ("os", "architecture", "variant")

    def __init__(self, os: str = "", architecture: str = "", variant: str = "") -> None:
        self.os = os
        self.architecture = architecture
        self.variant = variant

    def __str__(self) -> str:
        s = f"{self.os}/{self.architecture}" if self.os or self.architecture else "unknown"
        return s + (f"/{self.variant}" if self.variant else "")

    def matches(self, want: str) -> bool:
        parts = want.split("/")
        mine = [self.os, self.architecture, self.variant]
        for a, b in zip(parts, mine):
            if a and a != b:
                return False
        return True


def _short_ref(ref: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/", "localhost/"):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref


def _repo(ref: str) -> str:
    """`host:5000/name:tag` -> `host:5000/name` (a tag follows the last '/')."""
    last = ref.rsplit("/", 1)[-1]
    return ref[: ref.rfind(":")] if ":" in last else ref


class Image:
    """One image of an archive.  Compared by identity."""

    __slots__ = ("refs", "digest", "config_digest", "platform", "config", "raw_config", "layers", "history",
                 "history_mapped", "annotations", "source", "blobs", "verified")

    def __init__(self, refs: list[str], digest: str, config_digest: str, platform: Platform, config: dict,
                 raw_config: dict, layers: list[Layer], history: list[HistoryStep], history_mapped: bool,
                 annotations: dict | None = None, source: str = "",
                 blobs: list[tuple[str, str, BlobRef]] | None = None) -> None:
        self.refs = refs  # repo tags / ref names; may be empty
        self.digest = digest  # manifest digest when known, else config digest
        self.config_digest = config_digest
        self.platform = platform
        self.config = config  # the image config JSON's "config" object (Env, Cmd, ...)
        self.raw_config = raw_config  # the whole config JSON
        self.layers = layers
        self.history = history
        self.history_mapped = history_mapped  # False when history and layer counts disagree
        self.annotations: dict = {} if annotations is None else annotations
        self.source = source  # the archive it came from
        # (what, digest its descriptor names, where its bytes are) for each JSON
        # blob read to make this image (indexes on the way, manifest, config),
        # so that --verify can check every blob read, not only the layers
        self.blobs: list[tuple[str, str, BlobRef]] = [] if blobs is None else blobs
        self.verified = False  # True once --verify has checked every blob of it

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Image({self.name!r}, {self.platform}, {len(self.layers)} layers)"

    def matches_ref(self, ref: str) -> bool:
        """A tag (`nginx:1`, `docker.io/library/nginx:1`), a repository
        (`nginx`), a digest (`sha256:ab…`) or a digest prefix of at least 4
        hex digits names this image."""
        want = _short_ref(ref)
        for r in self.refs:
            if r == ref or _short_ref(r) == want or _repo(_short_ref(r)) == want:
                return True
        hexs = ref[len("sha256:"):] if ref.startswith("sha256:") else ref
        if len(hexs) >= 4 and all(c in "0123456789abcdef" for c in hexs):
            for d in (self.digest, self.config_digest):
                if d and d.split(":", 1)[-1].startswith(hexs):
                    return True
        return False

    @property
    def name(self) -> str:
        if self.refs:
            return self.refs[0]
        return (self.digest or self.config_digest).split(":", 1)[-1][:12] or "image"

    def created_by(self, layer_index: int) -> str:
        """The build step that made layer `layer_index`, '' when unknown."""
        if not self.history_mapped:
            return ""
        for h in self.history:
            if h.layer_index == layer_index:
                return h.created_by
        return ""


class LayerGraph:
    """Everything loaded from one or more archives.  Compared by identity."""

    __slots__ = ("images", "layers", "sources", "warnings", "indexer")

    def __init__(self, images: list[Image], layers: dict[str, Layer], sources: list[str],
                 warnings: list[str] | None = None, indexer: Callable[..., None] | None = None) -> None:
        self.images = images
        self.layers = layers  # key -> node, shared between images
        self.sources = sources
        self.warnings: list[str] = [] if warnings is None else warnings
        # Filled by the loader: indexes the layers that are not indexed yet.
        # progress(done, total, layer) is called after each one.
        self.indexer = indexer

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"LayerGraph({len(self.images)} images, {len(self.layers)} layers)"

    def pick(self, ref: str | None = None, platform: str | None = None, source: str | None = None) -> Image:
        """The one image picker: the image `ref` names (a tag, repo, digest
        or digest prefix, or an OS/ARCH[/VARIANT] platform), among the
        images of `platform` when given and of `source` (an archive
        argument) when given; of several candidates, the host's platform's."""
        from .errors import ImageError

        images = [im for im in self.images if im.source == source] if source is not None else self.images
        images = images or self.images
        if not images:
            raise ImageError("the archive holds no image")
        if platform:
            images = [im for im in images if im.platform.matches(platform)]
            if not images:
                have = ", ".join(sorted({str(im.platform) for im in self.images}))
                raise ImageError(f"no image for platform {platform} (the archive has: {have})")
        if ref:
            found = [im for im in images if im.matches_ref(ref)]
            if not found and _looks_like_platform(ref):
                found = [im for im in images if im.platform.matches(ref)]
            if not found:
                several = len({str(im.platform) for im in images}) > 1
                names = ", ".join(f"{im.name} ({im.platform})" if several else im.name for im in images)
                raise ImageError(f"no image {ref!r} in the archive (it holds: {names})")
            images = found
        if len(images) > 1:
            host = host_platform()
            for im in images:
                if im.platform.matches(host):
                    return im
        return images[0]

    def iter_layers(self) -> Iterator[Layer]:
        return iter(self.layers.values())


def host_platform() -> str:
    """This machine's platform as an image names it (`linux/amd64`)."""
    import platform  # only needed to choose among several images

    m = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(m, m)
    return f"linux/{arch}"


def _looks_like_platform(ref: str) -> bool:
    parts = ref.split("/")
    return 2 <= len(parts) <= 3 and all(parts) and not any(c in ref for c in ":@.")


def pretty_step(created_by: str) -> str:
    """A build step as a person reads it: `/bin/sh -c #(nop)  CMD [...]` ->
    `CMD [...]`, `/bin/sh -c apt-get ...` -> `RUN apt-get ...`."""
    s = created_by.strip()
    for shell in ("/bin/sh -c ", "/bin/bash -c ", "|"):
        if shell == "|" and s.startswith("|"):
            # buildkit RUN with build args: `|2 A=1 B=2 /bin/sh -c cmd`
            i = s.find(" /bin/sh -c ")
            if i > 0:
                s = s[i + 1:]
            continue
        if s.startswith(shell):
            s = s[len(shell):].strip()
            if s.startswith("#(nop)"):
                return s[len("#(nop)"):].strip()
            return "RUN " + s
    if s.endswith(" # buildkit"):
        s = s[: -len(" # buildkit")]
    return s
