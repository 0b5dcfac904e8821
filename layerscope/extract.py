"""Extract files of an image's merged view into a directory, safely.

The names, link targets and modes all come from a stranger's archive, so:

* nothing is ever written outside the target directory: every name is
  checked component by component (no `..`, `.`, empty or NUL components),
  and every directory on the way is opened relative to its parent with
  O_NOFOLLOW | O_DIRECTORY -- a symlink on the way (from the image, or
  already in the target) is never followed;
* files are created with O_CREAT | O_EXCL | O_NOFOLLOW, so an existing name
  is never written through; symlinks from the image are created as symlinks
  and nothing is ever written through them;
* an existing file is not replaced unless `overwrite=True`; the conflicts are
  looked for before anything is written and the first one is the error;
* device nodes and fifos are skipped (with a reason), never created;
* permission bits are kept, setuid/setgid/sticky only with `keep_setuid`;
* contents are streamed in bounded chunks, one decode pass per layer.

The CLI's `extract` command and the app call `extract_paths`.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from dataclasses import dataclass, field

from .errors import ImageError, one_line
from .layers.contents import iter_ranges
from .layers.sparse import place as place_sparse
from .model import BLOCK, CHAR, DIR, FIFO, FILE, HARDLINK, SYMLINK, typed_path

# Errors that stop the whole extraction (the target cannot take more data).
_FATAL = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# Directory fds held for the current path: the deepest _KEEP_FDS levels, plus
# an anchor every _KEEP_EVERY levels (at most _MAX_ANCHORS) to reopen from, so
# a 10,000-deep tree needs ~60 fds and going back up costs a few opens a level.
_KEEP_FDS = 16
_KEEP_EVERY = 256
_MAX_ANCHORS = 48
_IMPLIED = -1
# Hardlinks followed to find the real file: a longer chain (or a cycle) is
# hostile, and the link is skipped rather than walked without end.
_MAX_LINK_HOPS = 128


class ExtractError(Exception):
    """A user error: the path is not in the image, a file exists, ..."""

    def __init__(self, message: str):
        super().__init__(one_line(message))


class ExtractConflict(ExtractError):
    """Something already exists where a file would go: overwriting (--force,
    or the app's confirmation) would resolve it."""


@dataclass
class ExtractResult:
    files: int = 0
    dirs: int = 0
    links: int = 0  # symlinks and hardlinks
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)  # "/path: reason"


@dataclass(slots=True)
class _Item:
    path: str  # image path without leading '/'
    layer: int
    index: int  # _IMPLIED for an implied directory
    typ: int

    @property
    def name(self) -> str:
        return self.path[self.path.rfind("/") + 1:]


def _norm_request(p: str) -> str:
    """A path the user asked for -> image path without leading '/' ('' = all)."""
    if "\0" in p:
        raise ExtractError(f"{p!r}: a path cannot contain a NUL byte")
    return typed_path(p)


def _bad_name(path: str) -> str | None:
    """Why an image path cannot be a name under the target (string tests
    only: a 10,000-deep path is checked in one pass)."""
    s = "/" + path + "/"
    if "//" in s or "/./" in s or "/../" in s:
        return "unsafe name (empty, '.' or '..' component); not extracted"
    if "\0" in path:
        return "the name contains a NUL byte; not extracted"
    return None


def _mode(mode: int, keep_setuid: bool) -> int:
    return mode & (0o7777 if keep_setuid else 0o777)


def _anchor(level: int) -> bool:
    return level % _KEEP_EVERY == 0 and level // _KEEP_EVERY <= _MAX_ANCHORS


class _Tree:
    """Directories under the target, opened one component at a time relative
    to their parent, never through a symlink.  Holds a bounded number of fds
    for the current path (a 10,000-deep tree must not exhaust them)."""

    def __init__(self, root_fd: int, create: bool, overwrite: bool):
        self.root_fd = root_fd
        self.create = create
        self.overwrite = overwrite
        self.names: list[str] = []  # the current directory chain, one name per level
        self.fds: list[int | None] = []
        self.cur = ""  # "/".join(names)
        self.made: set[str] = set()  # directories this run created

    def close(self) -> None:
        for fd in self.fds:
            if fd is not None:
                os.close(fd)
        self.names, self.fds, self.cur = [], [], ""

    def _truncate(self, n: int, cur: str | None = None) -> None:
        while len(self.names) > n:
            self.names.pop()
            fd = self.fds.pop()
            if fd is not None:
                os.close(fd)
        self.cur = cur if cur is not None else "/".join(self.names)

    def _trim(self, full: bool = False) -> None:
        """Close the fds above the deepest _KEEP_FDS levels, but one in every
        _KEEP_EVERY (full: all of them, after a reopen; else just one)."""
        top = len(self.fds) - _KEEP_FDS - 1
        for k in (range(top + 1) if full else (top,)):
            if k >= 0 and self.fds[k] is not None and not _anchor(k + 1):
                os.close(self.fds[k])  # type: ignore[arg-type]
                self.fds[k] = None

    def _fd_at(self, level: int) -> int:
        """The fd of the directory names[:level] (level 0 = the target),
        reopened from the nearest held ancestor when it was closed."""
        if level == 0:
            return self.root_fd
        fd = self.fds[level - 1]
        if fd is not None:
            return fd
        j = level - 1
        while j > 0 and self.fds[j - 1] is None:
            j -= 1
        parent = self.root_fd if j == 0 else self.fds[j - 1]
        for k in range(j, level):  # fds[k] is the directory names[:k + 1]
            fd = os.open(self.names[k], _DIR_FLAGS, dir_fd=parent)
            if k > j and k - 1 < level - _KEEP_FDS and not _anchor(k):
                os.close(parent)  # just passing through: not an anchor, not in the window
                self.fds[k - 1] = None
            self.fds[k] = parent = fd
        self._trim(full=True)
        if self.fds[level - 1] is None:  # cannot happen: the deepest levels are kept
            raise OSError(errno.EBADF, "directory fd lost")
        return parent  # type: ignore[return-value]

    def parent(self, path: str) -> int | None:
        """fd of the directory holding `path`'s last name; the directories on
        the way are made as needed (when creating).  None: it does not exist
        (dry run).  Raises _Unsafe when one is a symlink or not a directory.
        Paths come in depth-first order, so the chain mostly just grows or
        shrinks (string tests, not a walk over every level)."""
        slash = path.rfind("/")
        d = path[:slash] if slash >= 0 else ""
        cur = self.cur
        if d != cur:
            if not d:
                self._truncate(0, "")
            elif not cur or d.startswith(cur + "/"):
                pass  # deeper: keep the chain
            elif cur.startswith(d + "/"):
                self._truncate(d.count("/") + 1, d)
            else:
                parts = d.split("/")
                n = 0
                limit = min(len(parts), len(self.names))
                while n < limit and self.names[n] == parts[n]:
                    n += 1
                self._truncate(n)
            rest = d[len(self.cur) + 1:] if self.cur else d
            for name in (rest.split("/") if rest else ()):
                key = self.cur + "/" + name if self.cur else name
                fd = self._open_dir(self._fd_at(len(self.names)), name, key)
                if fd is None:
                    return None
                self.names.append(name)
                self.fds.append(fd)
                self.cur = key
                self._trim()
        return self._fd_at(len(self.names))

    def _open_dir(self, pfd: int, name: str, key: str) -> int | None:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=pfd)
        except FileNotFoundError:
            if not self.create:
                return None
        except OSError as e:
            if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
            if not self.overwrite or key in self.made:
                raise _Unsafe(f"/{key} is {what} in the target; not followed") from None
            if not self.create:
                return None  # would be replaced
            os.unlink(name, dir_fd=pfd)  # the link itself, never what it points to
        os.mkdir(name, 0o700, dir_fd=pfd)
        self.made.add(key)
        return os.open(name, _DIR_FLAGS, dir_fd=pfd)


class _Unsafe(Exception):
    pass


def _visible(a, L: int) -> dict[str, tuple[int, int]]:
    if L == a.stack.n - 1:
        return a.stack.top_view
    return {p: (l, i) for p, l, i in a.stack.visible_at(L)}


def _select(a, L: int, paths: list[str]) -> list[_Item]:
    view = _visible(a, L)
    want: dict[str, tuple[int, int]] = {}
    for raw in paths:
        p = _norm_request(raw)
        if p and p not in view:
            raise ExtractError(_not_found(a, view, p, L))
        if p:
            want[p] = view[p]
        ref = view.get(p)
        is_dir = p == "" or ref[1] == _IMPLIED or a.layers[ref[0]].entries.types[ref[1]] == DIR
        if is_dir:
            prefix = p + "/" if p else ""
            for q, r in view.items():
                if q.startswith(prefix) and q:
                    want[q] = r
    items = []
    for p, (l, i) in want.items():
        typ = DIR if i == _IMPLIED else a.layers[l].entries.types[i]
        items.append(_Item(p, l, i, typ))
    items.sort(key=lambda it: it.path.replace("/", "\0"))  # parents first, depth-first order
    return items


def _not_found(a, view, p: str, L: int) -> str:
    shown = "/" + p
    if shown != shown.strip():  # quoted, so the spaces at its ends show
        shown = repr(shown)
    msg = f"{shown} is not in the image at layer {L}"
    parts = p.split("/")
    for k in range(1, len(parts)):
        ref = view.get("/".join(parts[:k]))
        if ref is None:
            break
        l, i = ref
        if i != _IMPLIED and a.layers[l].entries.types[i] == SYMLINK:
            tgt = a.layers[l].entries.links.get(i) or ""
            msg += f" (/{'/'.join(parts[:k])} is a symlink to {tgt}; ask for the target's path)"
            break
    return msg


def _check_conflicts(items: list[_Item], root_fd: int, overwrite: bool, dest: str) -> None:
    """Before writing anything: the first existing file the extraction would
    replace (an error unless overwrite), and symlinks in the target that a
    path would have to go through (always an error without overwrite)."""
    tree = _Tree(root_fd, create=False, overwrite=overwrite)
    try:
        for it in items:
            if _bad_name(it.path):
                continue
            try:
                pfd = tree.parent(it.path)
            except _Unsafe as e:
                raise ExtractConflict(f"{dest}: {e} (use --force to replace it); nothing was extracted") from None
            except OSError:
                continue  # reported when writing
            if pfd is None:
                continue
            try:
                st = os.stat(it.name, dir_fd=pfd, follow_symlinks=False)
            except OSError:
                continue
            if it.typ == DIR and stat.S_ISDIR(st.st_mode):
                continue  # extracting into an existing directory is fine
            if it.typ in (CHAR, BLOCK, FIFO):
                continue  # skipped anyway
            if not overwrite:
                what = " as a symlink (never followed)" if stat.S_ISLNK(st.st_mode) else ""
                raise ExtractConflict(f"{os.path.join(dest, it.path)} already exists{what} "
                                   "(use --force to overwrite); nothing was extracted")
    finally:
        tree.close()


def _remove_existing(pfd: int, name: str, want_dir: bool) -> bool:
    """Make room for a new entry (overwrite mode).  Returns True when an
    existing directory should simply be reused."""
    try:
        st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        if want_dir:
            return True
        try:
            os.rmdir(name, dir_fd=pfd)
        except OSError:
            raise _Unsafe("a non-empty directory is in the way in the target") from None
        return False
    os.unlink(name, dir_fd=pfd)
    return False


def extract_paths(a, L: int, paths: list[str], dest: str, overwrite: bool = False,
                  keep_setuid: bool = False) -> ExtractResult:
    """Extract `paths` (files, or directories recursively) of the merged view
    at layer L of the analysis `a` into `dest`, as `dest/<path>`."""
    if not paths:
        raise ExtractError("no path to extract")
    if not 0 <= L < a.stack.n:
        raise ExtractError(f"layer {L} is out of range (0 to {a.stack.n - 1})")
    items = _select(a, L, paths)
    res = ExtractResult()
    try:
        os.makedirs(dest, exist_ok=True)
        root_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise ExtractError(f"cannot use {dest!r} as the target directory ({e.strerror or e})") from None
    try:
        _check_conflicts(items, root_fd, overwrite, dest)
        _Writer(a, L, items, root_fd, overwrite, keep_setuid, res).run()
    finally:
        os.close(root_fd)
    return res


class _Writer:
    def __init__(self, a, L, items, root_fd, overwrite, keep_setuid, res):
        self.a = a
        self.L = L
        self.items = items
        self.tree = _Tree(root_fd, create=True, overwrite=overwrite)
        self.overwrite = overwrite
        self.keep_setuid = keep_setuid
        self.res = res
        self.written: dict[str, tuple[int, int]] = {}  # path -> (layer, index) of files written
        # (layer, index) of a regular file -> the path it was written at, so
        # that every hardlink to it becomes a link to that one file
        self.by_ref: dict[tuple[int, int], str] = {}
        self.dir_meta: list[tuple[str, int, int | None]] = []  # (path, mode, mtime)

    def skip(self, path: str, why: str) -> None:
        self.res.skipped.append(f"/{path}: {why}")

    def run(self) -> None:
        try:
            links = []
            contents: dict[int, list[tuple[_Item, int, int]]] = {}  # layer -> (item, offset, size)
            for it in self.items:
                bad = _bad_name(it.path)
                if bad:
                    self.skip(it.path, bad)
                    continue
                if it.typ == HARDLINK:
                    links.append(it)
                    continue
                if it.typ in (CHAR, BLOCK, FIFO):
                    kind = {CHAR: "a character device", BLOCK: "a block device", FIFO: "a fifo"}[it.typ]
                    self.skip(it.path, f"{kind}; device nodes and fifos are never created")
                    continue
                self._guard(it, self._make, it, contents)
            # contents, one pass per layer in stream order
            for l in sorted(contents):
                self._fill(l, contents[l])
            for it in links:
                self._guard(it, self._hardlink, it)
            self._finish_dirs()
        finally:
            self.tree.close()

    def _guard(self, it: _Item, fn, *args) -> None:
        try:
            fn(*args)
        except _Unsafe as e:
            self.skip(it.path, str(e))
        except ExtractError:
            raise
        except OSError as e:
            if e.errno in _FATAL:
                raise ExtractError(f"writing /{it.path} failed: {e.strerror}; extraction stopped") from None
            self.skip(it.path, f"{e.strerror or e}")
        except ValueError as e:  # e.g. NUL in a link target
            self.skip(it.path, str(e))

    def _entry(self, it: _Item):
        return self.a.layers[it.layer].entries

    def _make(self, it: _Item, contents) -> None:
        pfd = self.tree.parent(it.path)
        name = it.name
        if it.typ == DIR:
            if it.index == _IMPLIED:
                mode, mtime = 0o755, None
            else:
                e = self._entry(it)
                mode, mtime = _mode(e.modes[it.index], self.keep_setuid), e.mtimes[it.index]
            try:
                os.mkdir(name, 0o700, dir_fd=pfd)
                self.tree.made.add(it.path)
            except FileExistsError:
                st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):  # an existing directory is reused
                    self._replace(pfd, name, True, it)
                    os.mkdir(name, 0o700, dir_fd=pfd)
                    self.tree.made.add(it.path)
            fd = os.open(name, _DIR_FLAGS, dir_fd=pfd)
            try:
                os.fchmod(fd, mode | 0o700)  # writable while we fill it; exact mode at the end
            finally:
                os.close(fd)
            self.dir_meta.append((it.path, mode, mtime))
            self.res.dirs += 1
            return
        e = self._entry(it)
        i = it.index
        if it.typ == SYMLINK:
            target = e.links.get(i) or ""
            if not target:
                raise _Unsafe("a symlink with an empty target; not extracted")
            try:
                os.symlink(target, name, dir_fd=pfd)
            except FileExistsError:
                self._replace(pfd, name, False, it)
                os.symlink(target, name, dir_fd=pfd)
            try:
                os.utime(name, (e.mtimes[i], e.mtimes[i]), dir_fd=pfd, follow_symlinks=False)
            except (OSError, OverflowError, ValueError):
                pass
            self.res.links += 1
            return
        if it.typ != FILE:
            raise _Unsafe("an entry of an unknown type; not extracted")
        layer = self.a.layers[it.layer]
        size = e.stored_size(i)
        off = e.offsets[i]
        if layer.bomb and off + size > layer.uncompressed_size:
            raise _Unsafe(f"its {size:,} bytes lie past where indexing stopped (the layer expands far "
                          "beyond its compressed size, a decompression bomb?); not extracted")
        fd = self._create(pfd, name, it)
        try:
            self._sparse_size(fd, e, i, pfd, name)
        finally:
            os.close(fd)
        if size:
            contents.setdefault(it.layer, []).append((it, off, size))
        else:
            self._finish_file(it, None)
        self.written[it.path] = (it.layer, i)
        self.by_ref.setdefault((it.layer, i), it.path)
        self.res.files += 1

    def _replace(self, pfd: int, name: str, want_dir: bool, it: _Item) -> bool:
        if not self.overwrite:
            raise _Unsafe("already exists in the target; not overwritten (use --force)")
        if it.path in self.tree.made and not want_dir:
            raise _Unsafe("a directory extracted by this run is in the way")
        return _remove_existing(pfd, name, want_dir)

    def _create(self, pfd: int, name: str, it: _Item) -> int:
        try:
            return os.open(name, _NEW_FILE, 0o600, dir_fd=pfd)
        except FileExistsError:
            self._replace(pfd, name, False, it)
            return os.open(name, _NEW_FILE, 0o600, dir_fd=pfd)

    def _sparse_size(self, fd: int, e, i: int, pfd: int, name: str) -> None:
        """A sparse file gets its real size at once: its data is then written
        at the map's offsets (`_fill`), and the holes are never written.  A
        size the target cannot take (EFBIG) skips the file, and the empty one
        just made goes."""
        if i in e.sparse:
            try:
                os.ftruncate(fd, e.sizes[i])
            except OSError:
                os.unlink(name, dir_fd=pfd)
                raise
            if not e.sparse[i][0]:  # all holes: no contents to fill in
                self.res.bytes += e.sizes[i]

    def _open_written(self, it: _Item) -> int:
        """Reopen a file this run created (never through a symlink)."""
        pfd = self.tree.parent(it.path)
        return os.open(it.name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)

    def _finish_file(self, it: _Item, fd: int | None) -> None:
        e = self._entry(it)
        i = it.index
        own = fd is None
        if own:
            fd = self._open_written(it)
        try:
            os.fchmod(fd, _mode(e.modes[i], self.keep_setuid))
            try:
                os.utime(fd, (e.mtimes[i], e.mtimes[i]))
            except (OSError, OverflowError, ValueError):
                pass
        finally:
            if own:
                os.close(fd)

    def _fill(self, l: int, todo: list[tuple[_Item, int, int]]) -> None:
        """Write the contents of layer l's files, in one pass over its stream."""
        layer = self.a.layers[l]
        todo.sort(key=lambda t: t[1])
        by_off = {off: (it, size) for it, off, size in todo}
        wanted = [(off, size) for it, off, size in todo]
        ranges = _reading(iter_ranges(layer.blob, layer.compression or "none", wanted), f"layer {l}")
        for off, chunks in ranges:
            it, size = by_off[off]
            entries = self._entry(it)
            sparse = entries.sparse.get(it.index) if entries.sparse else None
            fd = None
            try:
                try:
                    fd = self._open_written(it)
                except (OSError, _Unsafe) as e:
                    self.skip(it.path, f"could not write its contents ({getattr(e, 'strerror', None) or e})")
                n = 0
                data = _reading(chunks, "/" + it.path)
                if sparse is not None:  # each piece at its offset, over the holes
                    for at, piece in place_sparse(data, sparse[1]):
                        if fd is not None:
                            _pwrite_all(fd, piece, at)
                    n = entries.sizes[it.index]
                    for _ in data:  # nothing is left (the map holds what is stored); drained all the same
                        pass
                else:
                    for c in data:  # always drained: the stream stays in step
                        if fd is not None:
                            n += _write_all(fd, c)
                if fd is not None:
                    self.res.bytes += n
                    self._finish_file(it, fd)
            except OSError as e:
                if e.errno in _FATAL:
                    raise ExtractError(f"writing /{it.path} failed: {e.strerror}; extraction stopped") from None
                self.skip(it.path, e.strerror or str(e))
                fd2, fd = fd, None
                if fd2 is not None:
                    os.close(fd2)
                for _ in _reading(chunks, "/" + it.path):
                    pass
            finally:
                if fd is not None:
                    os.close(fd)

    def _hardlink(self, it: _Item) -> None:
        e = self._entry(it)
        target = e.links.get(it.index) or ""
        tgt = posixpath.normpath("/" + target).lstrip("/") if target else ""
        ref = self._link_source(it)
        if ref is None:
            raise _Unsafe(f"hardlink to /{tgt}, which is not a regular file in the image; not extracted")
        src = self.by_ref.get(ref)
        if src is not None:
            sname = src[src.rfind("/") + 1:]
            pfd_t = os.dup(self.tree.parent(src))  # the next parent() may close it
            try:
                pfd = self.tree.parent(it.path)
                try:
                    os.link(sname, it.name, src_dir_fd=pfd_t, dst_dir_fd=pfd, follow_symlinks=False)
                except FileExistsError:
                    self._replace(pfd, it.name, False, it)
                    os.link(sname, it.name, src_dir_fd=pfd_t, dst_dir_fd=pfd, follow_symlinks=False)
            finally:
                os.close(pfd_t)
            self.res.links += 1
            return
        # the real file is not part of this extraction: write a copy of its
        # contents, which the other links to it then link to
        l, i = ref
        le = self.a.layers[l].entries
        copy = _Item(it.path, l, i, FILE)
        pfd = self.tree.parent(it.path)
        fd = self._create(pfd, it.name, it)
        try:
            self._sparse_size(fd, le, i, pfd, it.name)
        finally:
            os.close(fd)
        self.res.files += 1
        self.by_ref[ref] = it.path
        self.written[it.path] = ref
        stored = le.stored_size(i)
        if stored:
            layer = self.a.layers[l]
            if layer.bomb and le.offsets[i] + stored > layer.uncompressed_size:
                raise _Unsafe("its target's contents lie past where indexing stopped; not extracted")
            self._fill(l, [(copy, le.offsets[i], stored)])
        else:
            self._finish_file(copy, None)

    def _link_source(self, it: _Item) -> tuple[int, int] | None:
        """The regular file a hardlink names, through hardlinks to hardlinks
        (a bounded number, cycles refused): each target is an earlier entry
        of the link's own layer, else the visible entry at that path."""
        l, i = it.layer, it.index
        seen = {(l, i)}
        view = None
        for _ in range(_MAX_LINK_HOPS):
            e = self.a.layers[l].entries
            target = e.links.get(i) or ""
            if not target:
                return None
            tgt = posixpath.normpath("/" + target).lstrip("/")
            ref = None
            for j in range(i - 1, -1, -1):
                if e.paths[j] == tgt:
                    ref = (l, j)
                    break
            if ref is None:
                if view is None:
                    view = _visible(self.a, self.L)
                ref = view.get(tgt)
                if ref is None or ref[1] == _IMPLIED:
                    return None
            typ = self.a.layers[ref[0]].entries.types[ref[1]]
            if typ == FILE:
                return ref
            if typ != HARDLINK or ref in seen:
                return None
            seen.add(ref)
            l, i = ref
        return None

    def _finish_dirs(self) -> None:
        """Exact modes and mtimes of directories, deepest first (after their
        contents are written).  Parents made on the way to what was asked for
        (extracting /usr/bin/vim makes usr and usr/bin) get the image's mode
        for them, or 0755 when the image only implies them: not the 0700 they
        were made with while being filled."""
        listed = {p for p, _, _ in self.dir_meta}
        parents = [p for p in self.tree.made if p not in listed]
        if parents:
            view = _visible(self.a, self.L)
            for p in parents:
                ref = view.get(p)
                mode = 0o755
                if ref is not None and ref[1] != _IMPLIED:
                    e = self.a.layers[ref[0]].entries
                    if e.types[ref[1]] == DIR:
                        mode = _mode(e.modes[ref[1]], self.keep_setuid)
                self.dir_meta.append((p, mode, None))
        for path, mode, mtime in sorted(self.dir_meta, key=lambda t: t[0].count("/"), reverse=True):
            try:
                pfd = self.tree.parent(path)
                fd = os.open(path[path.rfind("/") + 1:], _DIR_FLAGS, dir_fd=pfd)
            except (OSError, _Unsafe):
                continue
            try:
                os.fchmod(fd, mode)
                if mtime is not None:
                    os.utime(fd, (mtime, mtime))
            except (OSError, OverflowError, ValueError):
                pass
            finally:
                os.close(fd)


def _reading(it, where: str):
    """Iterate over decoded layer data; a decoder error (corrupt or truncated
    data) becomes an ExtractError naming the place."""
    it = iter(it)
    while True:
        try:
            x = next(it)
        except StopIteration:
            return
        except (MemoryError, KeyboardInterrupt):
            raise
        except ImageError as e:
            raise ExtractError(f"reading {where} failed: {e.message}; extraction stopped") from None
        except Exception as e:  # zlib.error, ZstdError, EOFError, BadGzipFile, OSError...
            raise ExtractError(f"reading {where} failed: the layer data is corrupt "
                               f"({type(e).__name__}: {e}); extraction stopped") from None
        yield x


def _pwrite_all(fd: int, data, at: int) -> None:
    view = memoryview(data)
    n = 0
    while n < len(view):
        n += os.pwrite(fd, view[n:], at + n)


def _write_all(fd: int, data: bytes) -> int:
    view = memoryview(data)
    n = 0
    while n < len(view):
        n += os.write(fd, view[n:])
    return n
