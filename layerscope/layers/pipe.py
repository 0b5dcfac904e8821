"""A bounded in-memory pipe between a download and the indexer reading the
same bytes: the downloading thread writes each chunk to the blob store and
here, the indexing thread reads a file object over it.  Bounded, so that
memory stays small when decoding is slower than the network; a reader that
stopped (the layer ended, or was refused) makes writes no-ops, so the
download is never held up by an indexer that is gone."""

from __future__ import annotations

import io
from _thread import allocate_lock
from collections import deque


class Restarted(Exception):
    """The download started again from its first byte: what was read is void."""


class Pipe(io.RawIOBase):
    MAX_BUFFERED = 8 << 20

    def __init__(self) -> None:
        self._chunks: deque = deque()
        self._head = memoryview(b"")
        self._buffered = 0
        self._lock = allocate_lock()
        self._readable = allocate_lock()  # held while there is nothing to read
        self._writable = allocate_lock()  # held while the buffer is full
        self._readable.acquire()
        self._eof = False
        self._error: BaseException | None = None
        self._gone = False  # the reader stopped reading
        self.restarted = False
        self.read_bytes = 0

    # -- the writer's side (the downloading thread) ----------------------
    def write(self, data) -> int:
        n = len(data)
        if not n or self._gone:
            return n
        while True:
            with self._lock:
                if self._gone:
                    return n
                if self._buffered < self.MAX_BUFFERED:
                    self._chunks.append(bytes(data))
                    self._buffered += n
                    if self._readable.locked():
                        self._readable.release()
                    return n
                if not self._writable.locked():
                    self._writable.acquire()
            self._writable.acquire()  # until the reader takes something (or leaves)
            self._writable.release()

    def close_writer(self) -> None:
        """The last byte was written (and the blob checked)."""
        self._end(None)

    def fail(self, error: BaseException) -> None:
        """The download failed or started again: the reader raises `error`."""
        self._end(error)

    def restart(self) -> None:
        """The download starts again from its first byte: this reading is void."""
        self.restarted = True
        self._end(Restarted())

    def _end(self, error: BaseException | None) -> None:
        with self._lock:
            if self._eof:
                return
            self._eof = True
            self._error = error
            if self._readable.locked():
                self._readable.release()

    # -- the reader's side (the indexing thread) -------------------------
    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        want = len(b)
        while True:
            with self._lock:
                if self._head or self._chunks:
                    if not self._head:
                        self._head = memoryview(self._chunks.popleft())
                    n = min(want, len(self._head))
                    b[:n] = self._head[:n]
                    self._head = self._head[n:]
                    self._buffered -= n
                    self.read_bytes += n
                    if self._writable.locked():
                        self._writable.release()
                    return n
                if self._eof:
                    if self._error is not None:
                        raise self._error
                    return 0
                if not self._readable.locked():
                    self._readable.acquire()
            self._readable.acquire()
            self._readable.release()

    def leave(self) -> None:
        """The reader is done (or gave up): what is still written is dropped."""
        with self._lock:
            self._gone = True
            self._chunks.clear()
            self._head = memoryview(b"")
            self._buffered = 0
            if self._writable.locked():
                self._writable.release()
