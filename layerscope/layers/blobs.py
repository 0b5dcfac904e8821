"""Archive files as bytes: each file mmapped once per process, views of a
blob's byte range, a descriptor per file for pread, and dropping the pages
of a blob once it has been walked."""

from __future__ import annotations

import mmap
import os
from _thread import allocate_lock  # threading's Lock without importing threading

from ..errors import LayerError
from ..model import BlobRef

_maps: dict[str, mmap.mmap | bytes] = {}


_maps_lock = allocate_lock()


_fds: dict[str, int] = {}

# Touching a mapped page past the end of a file that shrank after it was
# mapped raises SIGBUS, which Python cannot catch: readers check the size
# (or read with pread) and raise this instead.
CHANGED = "the archive changed while it was read"


def file_view(path: str) -> memoryview:
    """A read-only view of a whole file, mmapped once per process."""
    with _maps_lock:
        m = _maps.get(path)
        if m is None:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            try:
                size = os.fstat(fd).st_size
                m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ) if size else b""
            except BaseException:
                os.close(fd)
                raise
            _maps[path] = m
            # pread and fstat go through the descriptor of the file that was
            # mapped, not whatever the name points to by then
            old = _fds.setdefault(path, fd)
            if old != fd:
                os.close(fd)
    return memoryview(m)


def shrunk(path: str) -> bool:
    """Whether the file is now shorter than when it was mapped."""
    m = _maps.get(path)
    if m is None:
        return False
    try:
        return os.fstat(fd_of(path)).st_size < len(m)
    except OSError:
        return True


def require(file: str, end: int, place: str) -> None:
    """Raise LayerError (CHANGED) unless the first `end` bytes of the mapped
    file are still in the file: checked before mapped pages are touched."""
    try:
        size = os.fstat(fd_of(file)).st_size
    except OSError:
        raise LayerError(CHANGED + " (it can no longer be read)", place) from None
    m = _maps.get(file)
    if size < end or (m is not None and size < len(m)):
        raise LayerError(f"{CHANGED} (it is now {size:,} bytes)", place)


def pread_exact(file: str, offset: int, size: int, place: str) -> bytes:
    """`size` bytes at `offset`, read with pread (never through mapped pages,
    so a file that shrank meanwhile is an error, not SIGBUS)."""
    fd = fd_of(file)
    parts = []
    got = 0
    while got < size:
        b = os.pread(fd, size - got, offset + got)
        if not b:
            break
        parts.append(b)
        got += len(b)
    if got < size:
        if shrunk(file):
            raise LayerError(CHANGED, place)
        raise LayerError(f"truncated ({got} of {size} bytes present)", place)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def forget(path: str) -> None:
    """Unmap one file and close its descriptor (a long-lived process that
    reads many files one after another, such as the fuzzer)."""
    with _maps_lock:
        m = _maps.pop(path, None)
        fd = _fds.pop(path, None)
    _close(m, fd)


def close_all() -> None:
    """Unmap every file mapped so far (for long-lived processes that open
    many archives one after another, and for tests)."""
    with _maps_lock:
        paths = set(_maps) | set(_fds)
    for path in paths:
        forget(path)


def _close(m, fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass
    if isinstance(m, mmap.mmap):
        try:
            m.close()
        except BufferError:
            pass  # a view still points into it: the mapping goes when that does


def release(ref: BlobRef) -> None:
    """Drop the mapped pages of a blob from this process (they stay in the
    page cache): walking a 10 GB uncompressed layer must not look like
    10 GB of memory."""
    release_range(ref.file, ref.offset, ref.offset + ref.size)


def release_range(file: str, start: int, end: int) -> None:
    m = _maps.get(file)
    if not isinstance(m, mmap.mmap) or not hasattr(m, "madvise"):
        return
    page = mmap.PAGESIZE
    start -= start % page
    end = min(len(m), end)
    if end <= start:
        return
    try:
        m.madvise(mmap.MADV_DONTNEED, start, end - start)
    except (OSError, ValueError):
        pass


def blob_view(ref: BlobRef) -> memoryview:
    view = file_view(ref.file)
    end = ref.offset + ref.size
    if end > len(view):
        raise LayerError(f"blob is truncated ({len(view) - ref.offset} of {ref.size} bytes present)", ref.name)
    require(ref.file, end, ref.name)
    return view[ref.offset:end]


def fd_of(path: str) -> int:
    with _maps_lock:
        fd = _fds.get(path)
        if fd is None:
            fd = _fds[path] = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        return fd


def mapped(path: str) -> bool:
    """Whether `path` is mapped in this process (then reading it with pread
    is safe: the file was there and readable)."""
    return path in _maps
