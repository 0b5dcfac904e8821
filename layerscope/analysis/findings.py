"""Findings: where an image's bytes go that a build could have avoided, each
tied to the build step that stored them (and the one that hid them), with a
fix in one sentence.

Two families, and no byte is in two findings:
  * hidden copies -- deleted-later, metadata-copy-up, rewritten,
    identical-copy, stored-twice (a path the layer's own tar holds twice,
    the later entry winning): every hidden copy the waste counts is in exactly one,
    chosen by what hid it, so their bytes add up to the waste total;
  * the final view -- package-index, package-cache, vcs-metadata,
    temp-files, duplicate-content: visible files a build usually need not
    ship, each file in at most one of them.

Everything comes from the merge and the change kinds already computed.  Only
duplicate-content may read file bytes: same-size candidates in uncompressed
layers that have no content digest, within a fixed budget of bytes read.
"""

from __future__ import annotations

from itertools import compress, repeat
from operator import contains, itemgetter, methodcaller

from ..model import FILE, Record, pretty_step
from ..units import plural
from .changes import METADATA, SAME
from .stack import OVERWRITTEN, VISIBLE

DELETED_LATER = "deleted-later"
METADATA_COPY_UP = "metadata-copy-up"
REWRITTEN = "rewritten"
IDENTICAL_COPY = "identical-copy"
PACKAGE_INDEX = "package-index"
PACKAGE_CACHE = "package-cache"
DUPLICATE_CONTENT = "duplicate-content"
VCS_METADATA = "vcs-metadata"
TEMP_FILES = "temp-files"
STORED_TWICE = "stored-twice"
# every kind, in the order ties are listed
KINDS = (DELETED_LATER, METADATA_COPY_UP, REWRITTEN, IDENTICAL_COPY, PACKAGE_INDEX, PACKAGE_CACHE,
         DUPLICATE_CONTENT, VCS_METADATA, TEMP_FILES, STORED_TWICE)
HIDDEN_KINDS = (DELETED_LATER, METADATA_COPY_UP, REWRITTEN, IDENTICAL_COPY, STORED_TWICE)

# Smaller files are many and save little each: comparing them is not worth the time.
DUPLICATE_MIN = 16 << 10
# The most file bytes duplicate-content reads per image; past it, same-size files are not compared.
DUPLICATE_READ_BUDGET = 256 << 20
# Different files of one size usually differ early: a file's head is read before the rest of it.
_HEAD = 4 << 10
# Compiled Python files are a finding only when they add up to this much: a few speed up start-up.
PYC_MIN = 10 << 20
# A build step quoted in a fix is cut to this many characters.
STEP_CHARS = 48

_VCS_DIRS = (".git", ".svn", ".hg")
# where a path rule may apply, tested on every path in C; the rest of the rules are under a
# dot directory, found by "/." (which also finds version control directories)
_PREFIXES = ("tmp/", "var/tmp/", "var/lib/apt/lists/", "var/cache/", ".")
_HAS_PREFIX = methodcaller("startswith", _PREFIXES)  # quicker over a list than str.startswith with repeat()
# rule -> (kind, remedy)
_RULE_INFO = {
    "apt-lists": (PACKAGE_INDEX, "apt-lists"),
    "apt-deb": (PACKAGE_CACHE, "apt"),
    "apt-bin": (PACKAGE_INDEX, "apt"),  # pkgcache.bin, srcpkgcache.bin: the index, cached
    "apk-index": (PACKAGE_INDEX, "apk"),
    "apk": (PACKAGE_CACHE, "apk"),
    "dnf-rpm": (PACKAGE_CACHE, "dnf"),
    "dnf": (PACKAGE_INDEX, "dnf"),
    "yum-rpm": (PACKAGE_CACHE, "yum"),
    "yum": (PACKAGE_INDEX, "yum"),
    "tmp": (TEMP_FILES, "tmp"),
    "yarn": (PACKAGE_CACHE, "yarn"),
    "pip": (PACKAGE_CACHE, "pip"),
    "go": (PACKAGE_CACHE, "go"),
    "cache": (PACKAGE_CACHE, "cache"),
    "npm": (PACKAGE_CACHE, "npm"),
    "cargo": (PACKAGE_CACHE, "cargo"),
}

# what to do, per cache or index (`{dir}`: where it is in this image)
_REMEDY = {
    "apt-lists": "end the RUN that runs apt-get update with rm -rf /var/lib/apt/lists/*",
    "apt": "run apt-get clean in the same RUN (or RUN --mount=type=cache,target=/var/cache/apt)",
    "apk": "install with apk add --no-cache",
    "dnf": "run dnf clean all in the same RUN (or RUN --mount=type=cache,target=/var/cache/dnf)",
    "yum": "run yum clean all in the same RUN",
    "pip": "pip install --no-cache-dir (or RUN --mount=type=cache,target={dir})",
    "npm": "npm cache clean --force in the same RUN (or RUN --mount=type=cache,target={dir})",
    "yarn": "yarn cache clean in the same RUN (or RUN --mount=type=cache,target={dir})",
    "cargo": "RUN --mount=type=cache,target={dir}, or build in a separate stage of a multi-stage build",
    "go": "RUN --mount=type=cache,target={dir}, or build in a separate stage of a multi-stage build",
    "cache": "remove {dir} in the same RUN, or mount it with RUN --mount=type=cache,target={dir}",
    "tmp": "remove what {dir} holds in the same RUN that makes it, or RUN --mount=type=tmpfs,target={dir}",
    "pyc": "set PYTHONDONTWRITEBYTECODE=1 and pip install --no-compile, unless start-up time matters more",
    "vcs": "add {name} to .dockerignore ({dir} is one), or copy only what the image needs",
}
_WHAT = {
    PACKAGE_INDEX: "leaves package indexes in the image",
    PACKAGE_CACHE: "leaves download caches in the image",
    VCS_METADATA: "copied version-control metadata into the image",
    TEMP_FILES: "leaves temporary files in the image",
}


class Finding(Record):
    """A group of bytes one change to the build could save."""

    __slots__ = ("kind", "layer", "fixed_by", "bytes", "paths", "base", "fix", "origin")

    def __init__(self, kind: str, layer: int, fixed_by: int | None, bytes: int, paths: list[tuple[str, int]],
                 base: bool, fix: str, origin: str | None = None) -> None:
        self.kind = kind
        self.layer = layer  # the layer that stored the bytes
        self.fixed_by = fixed_by  # the layer that hid or deleted them; None for files of the final view
        self.bytes = bytes
        self.paths = paths  # (absolute path, bytes), biggest first
        self.base = base  # stored by a base-image layer
        self.fix = fix
        self.origin = origin  # a duplicate-content finding: the file its biggest path copies (relative)


class _Group:
    """The files of one finding while they are collected: parallel lists
    (cheaper than a tuple each), bytes per remedy, and for duplicates the
    file each one copies."""

    __slots__ = ("paths", "sizes", "remedies", "origin")

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.sizes: list[int] = []
        self.remedies: dict[str, int] = {}
        self.origin: dict[str, str] = {}


def _group(groups: dict, key: tuple) -> _Group:
    g = groups.get(key)
    if g is None:
        g = groups[key] = _Group()
    return g


def compute_findings(a) -> list[Finding]:
    """The findings of an ImageAnalysis, biggest first: one per kind and
    layer (and, for hidden copies, the layer that hid them)."""
    st = a.stack
    groups: dict[tuple[str, int, int | None], _Group] = {}
    _hidden_copies(a, groups)
    claimed = _final_view(st, groups)
    _duplicates(st, claimed, groups)
    base_layers = a.waste.base_layers
    out = []
    for (kind, L, H), g in groups.items():
        # by path, then (stable) biggest first: plain keys, in C; the result is the finding's list
        items = sorted(zip(map("/".__add__, g.paths), g.sizes))
        items.sort(key=itemgetter(1), reverse=True)
        base = L < base_layers
        out.append(Finding(kind, L, H, sum(g.sizes), items, base, _fix(a, kind, L, H, items, g, base),
                           g.origin.get(items[0][0][1:]) if g.origin else None))
    rank = {k: n for n, k in enumerate(KINDS)}
    out.sort(key=lambda f: (-f.bytes, rank[f.kind], f.layer, -1 if f.fixed_by is None else f.fixed_by))
    return out


# -- a compact state for the cache (a second open skips the search) -----------
_IS_FILE = bytes(1 if t == FILE else 0 for t in range(256))  # bytes.translate over LayerEntries.types
# what the findings depend on besides the layers: these bounds, the base, and the build steps' beginnings
FORMAT = 1


def cache_extra(a) -> str:
    """Everything but the layers a cached state of `a`'s findings depends on."""
    steps = "\0".join(a.created_by(L)[:STEP_CHARS + 4096] for L in range(a.stack.n))
    return f"{FORMAT}\0{DUPLICATE_MIN}\0{DUPLICATE_READ_BUDGET}\0{PYC_MIN}\0{a.waste.base_layers}\0{steps}"


def to_state(found: list[Finding]) -> list[tuple]:
    """What a cache keeps of the findings: their groups, not their words --
    the base flag and the fix are made again from the image when read."""
    from array import array

    # each column taken in C (itemgetter), not by a generator per path
    return [(f.kind, f.layer, f.fixed_by, f.bytes, "\0".join(map(itemgetter(0), f.paths)),
             array("q", map(itemgetter(1), f.paths)).tobytes(), f.origin or "") for f in found]


def from_state(a, state) -> list[Finding]:
    """Findings of analysis `a` from to_state(); a ValueError (or TypeError)
    unless every one is what the image holds: each path an entry of the layer
    it names (hidden, or in the final view, as its kind says) with its size,
    a duplicate's original a visible file of the same size."""
    from array import array

    if not isinstance(state, list):
        raise ValueError("not findings")
    st = a.stack
    n = st.n
    files: dict[int, dict[str, int]] = {}  # layer -> path -> index of its regular file

    def indexes(L: int, rel: list[str]) -> list[int]:
        """The indexes of layer L's regular files at these paths (in C)."""
        m = files.get(L)
        if m is None:
            e = st.layers[L].entries
            isfile = e.types.translate(_IS_FILE)
            m = files[L] = dict(zip(compress(e.paths, isfile), compress(range(len(e.paths)), isfile)))
        idx = list(map(m.get, rel))
        if None in idx:
            raise ValueError("a path the layer does not hold")
        return idx

    out = []
    for item in state:
        kind, L, H, total, paths, sizes, origin = item
        if not (kind in KINDS and type(L) is int and 0 <= L < n and (H is None or (type(H) is int and 0 <= H < n))
                and type(total) is int and isinstance(paths, str) and isinstance(sizes, bytes)
                and isinstance(origin, str) and (H is None) == (kind not in HIDDEN_KINDS)):
            raise ValueError("not a finding")
        ns = array("q")
        ns.frombytes(sizes)
        ps = paths.split("\0") if paths else []
        if not ps or len(ps) != len(ns) or sum(ns) != total or min(ns) < 0 or not all(p[:1] == "/" for p in ps):
            raise ValueError("a finding that does not add up")
        g = _Group()
        e = st.layers[L].entries
        if kind == STORED_TWICE:
            if H != L or not set(zip((p[1:] for p in ps), ns)) <= set(e.dropped):
                raise ValueError("not a copy the layer stored twice")
        if kind != STORED_TWICE:
            rel = [p[1:] for p in ps]
            idx = indexes(L, rel)
            # each one's size, and hidden by H (or, for the final view, visible), checked in C
            if list(map(e.sizes.__getitem__, idx)) != ns.tolist() or \
                    set(map(st.hidden_at[L].__getitem__, idx)) != {VISIBLE if H is None else H}:
                raise ValueError("a path that is not what the finding says")
            if kind in (PACKAGE_INDEX, PACKAGE_CACHE, VCS_METADATA, TEMP_FILES):
                for p, size in zip(rel, ns):
                    c = classify(p)
                    k, remedy = (c[0], c[1]) if c is not None else (TEMP_FILES, "pyc")
                    if k != kind or (remedy == "pyc" and not p.endswith(".pyc")):
                        raise ValueError("a path its rule does not name")
                    g.remedies[remedy] = g.remedies.get(remedy, 0) + size
        if kind == DUPLICATE_CONTENT:
            ref = st.top_view.get(origin)
            if ref is None or ref[1] < 0 or st.layers[ref[0]].entries.types[ref[1]] != FILE or \
                    st.layers[ref[0]].entries.sizes[ref[1]] != ns[0]:
                raise ValueError("a duplicate of no file of its size")
            g.origin[ps[0][1:]] = origin
        items = list(zip(ps, ns))
        base = L < a.waste.base_layers
        out.append(Finding(kind, L, H, total, items, base, _fix(a, kind, L, H, items, g, base), g.origin.get(ps[0][1:])))
    return out


# -- hidden copies ------------------------------------------------------------
def _hidden_copies(a, groups) -> None:
    """Each hidden copy the waste counts, by what hid it: a file over it with
    the same bytes (metadata-copy-up, identical-copy) or new ones
    (rewritten); anything else -- a whiteout, an opaque directory, a link or
    directory in its place -- deleted it."""
    st, kinds = a.stack, a.kinds
    layers = st.layers
    last = -1
    adders: dict[tuple[str, int], tuple] = {}  # (kind, hiding layer) -> appenders of layer L's group
    for L, i in a.waste.hidden_files():  # in layer order
        if L != last:
            last = L
            e = layers[L].entries
            paths, sizes, ha, hb, how = e.paths, e.sizes, st.hidden_at[L], st.hidden_by[L], st.how[L]
            adders.clear()
        H = ha[i]
        kind = DELETED_LATER
        if how[i] == OVERWRITTEN:
            j = hb[i]
            if j >= 0 and layers[H].entries.types[j] == FILE:
                k = kinds.kind[H][j] if kinds is not None else 0
                kind = METADATA_COPY_UP if k == METADATA else IDENTICAL_COPY if k == SAME else REWRITTEN
        add = adders.get((kind, H))
        if add is None:
            g = _group(groups, (kind, L, H))
            add = adders[kind, H] = (g.paths.append, g.sizes.append)
        add[0](paths[i])
        add[1](sizes[i])
    for L, layer in enumerate(layers):
        if layer.entries.dropped:
            g = _group(groups, (STORED_TWICE, L, L))
            for p, n in layer.entries.dropped:
                g.paths.append(p)
                g.sizes.append(n)


# -- the final view -------------------------------------------------------------
def _vcs_dir(p: str) -> str | None:
    """The version-control directory `p` is in (absolute), or None."""
    parts = p.split("/")
    for n, part in enumerate(parts[:-1]):
        if part in _VCS_DIRS:
            return "/" + "/".join(parts[:n + 1])
    return None


def _home_rest(p: str) -> tuple[str, str] | None:
    """(home directory, what follows it) for a path under /root, /home/NAME
    or, for HOME=/, a dot directory at the top: ('/root', '.cache/pip/x')."""
    if p.startswith("root/."):
        return "/root", p[5:]
    if p.startswith("home/"):
        s = p.find("/", 5)
        return ("/" + p[:s], p[s + 1:]) if s > 0 and p.startswith(".", s + 1) else None
    return ("", p) if p.startswith(".") else None


def _rule(p: str) -> tuple[str, str] | None:
    """(rule, the directory it names) for relative path `p`, or None."""
    if p.startswith("tmp/"):
        return "tmp", "/tmp"
    if p.startswith("var/"):
        if p.startswith("var/tmp/"):
            return "tmp", "/var/tmp"
        if p.startswith("var/lib/apt/lists/"):
            return "apt-lists", "/var/lib/apt/lists"
        if p.startswith("var/cache/apt/"):
            if p.endswith(".deb"):
                return "apt-deb", "/var/cache/apt/archives"
            return ("apt-bin", "/var/cache/apt") if p.endswith(".bin") and p.count("/") == 3 else None
        if p.startswith("var/cache/apk/"):
            return ("apk-index" if p.startswith("APKINDEX", 14) else "apk"), "/var/cache/apk"
        for m in ("dnf", "yum"):
            if p.startswith(m + "/", 10) and p.startswith("var/cache/"):
                return (m + "-rpm" if p.endswith(".rpm") else m), f"/var/cache/{m}"
        return None
    if p.startswith("usr/local/share/.cache/yarn/"):
        return "yarn", "/usr/local/share/.cache/yarn"
    hr = _home_rest(p)
    if hr is None:
        return None
    home, rest = hr
    if rest.startswith(".cache/"):
        for sub, rule in (("pip/", "pip"), ("yarn/", "yarn"), ("go-build/", "go")):
            if rest.startswith(sub, 7):
                return rule, f"{home}/.cache/{sub[:-1]}"
        return "cache", f"{home}/.cache"
    if rest.startswith(".npm/"):
        return "npm", f"{home}/.npm"
    for sub in ("registry/", "git/"):
        if rest.startswith(sub, 7) and rest.startswith(".cargo/"):
            return "cargo", f"{home}/.cargo/{sub[:-1]}"
    return None


def classify(p: str) -> tuple[str, str, str] | None:
    """(kind, remedy, the directory it is in) for a visible regular file at
    relative path `p` when a path rule names it, else None.  Compiled Python
    files are not named here: they count only in bulk."""
    r = _rule(p)
    if r is not None:
        kind, remedy = _RULE_INFO[r[0]]
        return kind, remedy, r[1]
    d = _vcs_dir(p)
    return (VCS_METADATA, "vcs", d) if d is not None else None


def _final_view(st, groups) -> set[int]:
    """Group the visible files that a path rule names; returns them (as
    layer << 32 | index) so that duplicate-content leaves them out."""
    claimed: set[int] = set()
    pyc: list[tuple[int, int]] = []
    for L, layer in enumerate(st.layers):
        e = layer.entries
        paths, types, sizes, ha = e.paths, e.types, e.sizes, st.hidden_at[L]
        m = len(paths)
        # the candidates, found in C (most paths are none): a rule's prefix, a dot directory
        # (caches under a home, version control), a compiled Python file
        cand = set(compress(range(m), map(_HAS_PREFIX, paths)))
        cand.update(compress(range(m), map(contains, paths, repeat("/."))))
        base = L << 32
        last, last_kind = None, None
        for i in sorted(cand):
            if types[i] != FILE or ha[i] != VISIBLE or not sizes[i]:
                continue
            p = paths[i]
            r = _rule(p)
            if r is not None:
                kind, remedy = _RULE_INFO[r[0]]
            elif _vcs_dir(p) is not None:
                kind, remedy = VCS_METADATA, "vcs"
            else:
                continue
            g = last if last_kind == kind else _group(groups, (kind, L, None))  # runs of one kind are common
            last, last_kind = g, kind
            n = sizes[i]
            g.paths.append(p)
            g.sizes.append(n)
            g.remedies[remedy] = g.remedies.get(remedy, 0) + n
            claimed.add(base | i)
        for i in compress(range(m), map(contains, paths, repeat(".pyc"))):
            if types[i] == FILE and ha[i] == VISIBLE and sizes[i] and paths[i].endswith(".pyc") \
                    and (base | i) not in claimed:
                pyc.append((L, i))
    if sum(st.layers[L].entries.sizes[i] for L, i in pyc) >= PYC_MIN:
        for L, i in pyc:
            e = st.layers[L].entries
            g = _group(groups, (TEMP_FILES, L, None))
            g.paths.append(e.paths[i])
            g.sizes.append(e.sizes[i])
            g.remedies["pyc"] = g.remedies.get("pyc", 0) + e.sizes[i]
            claimed.add(L << 32 | i)
    return claimed


def _duplicates(st, claimed: set[int], groups) -> None:
    """Visible files of DUPLICATE_MIN bytes or more whose bytes another
    visible file holds: the copy in the lowest layer (then first by path) is
    kept, the others are the finding.  Equal content digests say so: those
    of compressed layers are taken while indexing; a file of an uncompressed
    layer is read in place, its head first (same-size files usually differ
    early), and digested whole only when another file of its size could hold
    the same bytes -- each file read once, within DUPLICATE_READ_BUDGET.  A
    file of a compressed layer without a digest is not compared (that would
    decode the layer again)."""
    layers = st.layers
    by_size: dict[int, list[tuple[int, str, int]]] = {}
    for L, layer in enumerate(layers):
        e = layer.entries
        types, sizes, ha, paths = e.types, e.sizes, st.hidden_at[L], e.paths
        for i in compress(range(len(sizes)), map(DUPLICATE_MIN.__le__, sizes)):
            if types[i] != FILE or ha[i] != VISIBLE or (L << 32 | i) in claimed or (e.sparse and i in e.sparse):
                continue
            by_size.setdefault(sizes[i], []).append((L, paths[i], i))
    budget = [DUPLICATE_READ_BUDGET]
    for size in sorted((s for s, refs in by_size.items() if len(refs) > 1), reverse=True):
        refs = sorted(by_size[size])
        digests = _digests(layers, refs, size, budget)
        by_digest: dict[bytes, tuple[int, str, int]] = {}
        for ref in refs:
            d = digests.get(ref)
            if d is None:
                continue
            orig = by_digest.setdefault(d, ref)
            if orig is not ref:
                L, p, _ = ref
                g = _group(groups, (DUPLICATE_CONTENT, L, None))
                g.paths.append(p)
                g.sizes.append(size)
                g.origin[p] = orig[1]


def _digests(layers, refs: list, size: int, budget: list[int]) -> dict:
    """The content digest of each same-size candidate that could be a
    duplicate: from the index, or read from an uncompressed layer -- its head,
    then the rest when another candidate shares that head (or has a digest
    from the index), charging the bytes read to `budget` (a file that does
    not fit in what is left is not compared)."""
    from ..errors import LayerError
    from ..layers.contents import digest_ranges, read_range  # only images with same-size candidates need it

    out: dict = {}
    plain = []
    for ref in refs:
        layer = layers[ref[0]]
        d = layer.entries.digest(ref[2]) if layer.entries.digests else None
        if d is not None:
            out[ref] = d
        elif (layer.compression or "none") == "none" and layer.blob is not None:
            plain.append(ref)
    if not plain or (len(plain) < 2 and not out):
        return out
    head = min(size, _HEAD)
    heads: dict[bytes, list] = {}
    for ref in plain:
        if budget[0] < head:
            break
        budget[0] -= head
        L, _, i = ref
        e = layers[L].entries
        try:
            heads.setdefault(read_range(layers[L].blob, "none", e.offsets[i], size, head), []).append(ref)
        except (OSError, ValueError, LayerError):  # a blob that cannot be read proves nothing
            continue
    for same in heads.values():
        if len(same) < 2 and not out:
            continue
        for ref in same:
            L, _, i = ref
            if size > head:
                if budget[0] < size - head:
                    return out
                budget[0] -= size - head
            e = layers[L].entries
            try:
                out[ref] = bytes.fromhex(digest_ranges(layers[L].blob, "none", [(e.offsets[i], size)])[e.offsets[i]])
            except (OSError, ValueError, KeyError, LayerError):
                continue
    return out


# -- the fix ----------------------------------------------------------------------
def _step(a, L: int) -> str:
    """'layer 3 (RUN apt-get install -y …)': the layer and a short form of its build step."""
    # a build step can be megabytes: only its beginning can show
    s = " ".join(pretty_step(a.created_by(L)[:STEP_CHARS + 4096]).split())
    if len(s) > STEP_CHARS:
        s = s[:STEP_CHARS - 1].rstrip() + "…"
    return f"layer {L} ({s})" if s else f"layer {L}"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _fix(a, kind: str, L: int, H: int | None, items: list, g: _Group, base: bool) -> str:
    n = len(items)
    files = plural(n, "file")
    them, their, copies = ("it", "its", "copy") if n == 1 else ("them", "their", "copies")
    stored, hid = _step(a, L), _step(a, H) if H is not None else ""
    if kind == DELETED_LATER:
        if base:
            return (f"{_cap(hid)} deleted {files} of the base image, which frees nothing: {their} bytes stay "
                    f"in {stored}; a smaller base image is the fix.")
        return (f"{_cap(hid)} deleted {files} that {stored} stored, so {their} bytes stay in the image: "
                f"delete {them} in the same RUN that creates {them}, make {them} in a separate stage of a "
                f"multi-stage build, or keep caches out of the layer with RUN --mount=type=cache.")
    if kind == METADATA_COPY_UP:
        if base:
            return (f"{_cap(hid)} only changed the mode or owner of {files} of the base image and stored "
                    f"{them} whole again: leave {them} as the base has {them}, or choose a base that has "
                    f"{them} right.")
        return (f"{_cap(hid)} only changed the mode or owner of {files} and stored {them} whole again: set "
                f"{them} with COPY --chmod/--chown, or in {stored}, which created {them}.")
    if kind == REWRITTEN:
        if base:
            return (f"{_cap(hid)} wrote new content over {files} of the base image, whose old {copies} stay in "
                    f"{stored}: a base image that already has the change saves {them}.")
        return (f"{_cap(hid)} wrote new content over {files} that {stored} stored, so the old and the new "
                f"copies are both in the image: produce the final version in one step.")
    if kind == IDENTICAL_COPY:
        return (f"{_cap(hid)} stored {files} again with the same bytes and metadata as {stored}: leave "
                f"{them} out of that step (a second COPY of the same files, or a reinstall, stores them twice).")
    if kind == STORED_TWICE:
        return (f"{_cap(stored)} holds {files} twice in its own tar (the later entry wins), so the first "
                f"{copies} stay in the layer, hidden: write each path once (a tar appended to, or a tool that "
                f"adds a path again, stores both).")
    if kind == DUPLICATE_CONTENT:
        p = items[0][0]
        return (f"{_cap(stored)} holds {files} whose bytes another file of the image already holds "
                f"({p} is the same as /{g.origin[p[1:]]}): keep one copy, or hardlink the others to it.")
    # a path rule: the remedies of the caches and indexes it found, most bytes first, each
    # with the directory of its biggest file
    where: dict[str, str] = {}
    for p, _ in items:
        if len(where) == len(g.remedies):
            break
        c = classify(p[1:])
        remedy, d = (c[1], c[2]) if c is not None else ("pyc", "")
        where.setdefault(remedy, d)
    if kind == TEMP_FILES and set(g.remedies) == {"pyc"}:
        what = f"leaves {files} of compiled Python in the image"
    else:
        what = _WHAT[kind]
    remedies = []
    for key in sorted(g.remedies, key=lambda k: (-g.remedies[k], k)):
        d = where.get(key, "")
        remedies.append(_REMEDY[key].format(dir=d, name=d.rsplit("/", 1)[-1]))
    fix = "; ".join(remedies)
    if base:
        return (f"{_cap(stored)} of the base image {what}; a later step cannot free {them}, so choose a base "
                f"image without {them} (the fix in its build: {fix}).")
    return f"{_cap(stored)} {what}: {fix}."
