"""Blobs whose layer was listed from its table of contents (eStargz,
zstd:chunked; layers/toc.py) instead of walked: their entries' `offsets` name
files in that table, and the reader registered here fetches one file's
pieces.  Consulted by the contents readers and by the cache's keys, which
must never take such a listing for a walk of the blob or the other way round."""

from __future__ import annotations

_readers: dict[str, object] = {}


def read_through(file: str, reader) -> None:
    """Read the files of the blob at `file` through `reader`, whose
    `read(offset, size)` and `file_digest(offset)` serve them (None: from the
    blob itself)."""
    if reader is None:
        _readers.pop(file, None)
    else:
        _readers[file] = reader


def reader(file: str):
    return _readers.get(file)


def listed(file: str) -> bool:
    """Whether the blob at `file` was listed from its table of contents."""
    return file in _readers
