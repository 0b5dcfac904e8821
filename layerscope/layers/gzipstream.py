"""A gzip stream reader over a memoryview of a blob (multi-member, as
pigz and eStargz write), built on ISA-L's raw inflate: isal.igzip, the
library's own reader, imports the stdlib gzip, typing and re, a cost every
small image's run would pay at start-up."""

from __future__ import annotations

from collections.abc import Callable


class BadGzipFile(OSError):
    """What is not a gzip stream (named as gzip's, which is not imported)."""


_GZIP_EOF = "Compressed file ended before the end-of-stream marker was reached"


class GzipStream:
    """The decompressed bytes of a gzip blob held in a memoryview: `read(n)`
    returns n bytes (fewer only at the end, b'' after it), as
    isal.igzip.IGzipFile does.  This parses the member headers and trailers itself and has ISA-L inflate
    the deflate data (and compute its CRC-32) through
    igzip_lib.IgzipDecompressor, which allocates each output at its final
    size (isal_zlib's decompressobj grows it from 16 KiB, copying as it
    goes) and releases the GIL while it decodes.  Behaves as isal's gzip
    reader does:

    * members follow one another (pigz, eStargz); zero bytes between and
      after them are skipped; the stream ends with the blob, after a
      member or its zero padding (an empty blob is an empty stream);
    * bytes after a member that are not zeros and do not make a 10-byte
      gzip header raise EOFError when fewer than 10 remain, else
      BadGzipFile;
    * a member cut short raises EOFError; a bad CRC-32 or length, a wrong
      method or header CRC, BadGzipFile (with isal's messages); corrupt
      deflate data, igzip_lib.IsalError.

    Output is bounded by n per call (max_length): a decompression bomb is
    read in bounded memory.  Input is handed to the decoder in views of
    the blob (FIRST bytes at a member's start, then four times more each
    time up to STEP); with `release`, the caller drops the mapped pages
    already handed over as we go."""

    STEP = 1 << 19
    FIRST = 1 << 10
    # the decoder allocates max_length at once; 64 KiB or more for a member
    # of a few KiB (eStargz) costs glibc heap trims, several times its decoding
    FIRST_OUT = 1 << 15
    RELEASE_EVERY = 1 << 20

    def __init__(self, view: memoryview, release: Callable[[int, int], None] | None = None,
                 pread: Callable[[memoryview, int], int] | None = None):
        from isal import igzip_lib

        self._decoder = igzip_lib.IgzipDecompressor
        self._flag = igzip_lib.DECOMP_GZIP_NO_HDR  # raw deflate; ISA-L keeps the CRC-32
        self.view = view
        self.end = len(view)
        self.release = release  # called with (start, end) of view bytes the decoder is done with
        # pread(buffer, offset) fills `buffer` with the blob's bytes at view
        # offset `offset` and returns the count: the deflate data then reaches
        # the decoder by copy from the page cache into one reused buffer,
        # instead of through mapped pages, which would count in the process's
        # memory; the headers are still read from `view`
        self.pread = pread
        self.inbuf = memoryview(bytearray(self.STEP)) if pread is not None else None
        self.released = 0
        self.pos = 0  # view offset of the first byte not handed to the decoder
        self.d = None  # the current member's decoder; None before a member header
        self.size = 0  # the current member's output length
        self.feed = self.FIRST  # input handed at once (grows to STEP)
        self.done = False

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = []
            while c := self.read(1 << 20):
                parts.append(c)
            return b"".join(parts)
        parts = []
        want = n
        d = self.d
        size = self.size
        view, end, pos = self.view, self.end, self.pos
        while want > 0:
            if d is None:
                if self.done:
                    break
                self._member(pos, False)
                d, pos = self.d, self.pos
                continue
            if not d.needs_input:  # it still holds input
                out = d.decompress(b"", want)
                if not out and not d.eof and not d.needs_input:
                    raise BadGzipFile(f"the gzip decoder made no progress before byte {pos}")
            elif pos < end:
                p = pos
                feed = self.feed
                pos = p + feed
                if pos > end:
                    pos = end
                if self.release is not None and p - self.released >= self.RELEASE_EVERY:
                    self.release(self.released, p)
                    self.released = p
                if self.pread is None:
                    data = view[p:pos]
                else:
                    k = self.pread(self.inbuf[:pos - p], p)
                    if k <= 0:  # the file is shorter than when it was mapped
                        self.pos = p
                        raise EOFError(_GZIP_EOF)
                    data = self.inbuf[:k]
                    pos = p + k
                if feed >= self.STEP:
                    out = d.decompress(data, want)
                else:
                    self.feed = feed * 4
                    # a member's first call may be all of a small member (see FIRST_OUT)
                    out = d.decompress(data, want if feed != self.FIRST or want < self.FIRST_OUT
                                       else self.FIRST_OUT)
            else:  # all input handed over: what the decoder still holds, if anything
                out = d.decompress(b"", want)
                if not out and not d.eof:
                    self.pos = pos
                    raise EOFError(_GZIP_EOF)
            if out:
                size += len(out)
                parts.append(out)
                want -= len(out)
            if d.eof:
                tail = d.unused_data
                p = pos - len(tail)  # the trailer
                if (len(tail) >= 18 and tail[8:12] == b"\x1f\x8b\x08\x00"
                        and int.from_bytes(tail[:4], "little") == d.crc
                        and int.from_bytes(tail[4:8], "little") == size & 0xFFFFFFFF):
                    # a good trailer and a plain header next (eStargz: thousands of members)
                    pos = p + 18
                    self.feed = self.FIRST
                    d = self.d = self._decoder(flag=self._flag)
                else:
                    self.size = size
                    self._trailer(p, d.crc)
                    d, pos = self.d, self.pos
                size = 0
        self.size = size
        self.pos = pos
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)

    def close(self) -> None:
        self.done = True
        self.d = None
        self.view = memoryview(b"")

    def _trailer(self, p: int, computed: int) -> None:
        """Check the member's trailer at view offset p, then go on to what
        follows it (at once, as isal does: a bad next header is reported by
        the read that reaches the end of this member)."""
        view = self.view
        if self.end - p < 8:
            raise EOFError(_GZIP_EOF)
        crc = int.from_bytes(view[p:p + 4], "little")
        if crc != computed:
            raise BadGzipFile(f"CRC check failed {crc} != {computed}")
        if int.from_bytes(view[p + 4:p + 8], "little") != self.size & 0xFFFFFFFF:
            raise BadGzipFile("Incorrect length of data produced")
        self._member(p + 8, True)

    def _member(self, p: int, after: bool) -> None:
        """Start the member whose header is at view offset p (after
        another member: zero padding first), or end the stream there."""
        view, end = self.view, self.end
        self.d = None
        if after:
            while p < end and not view[p]:
                block = bytes(view[p:p + 65536])
                p += len(block) - len(block.lstrip(b"\0"))
        if p >= end:
            self.pos = end
            self.done = True
            return
        if end - p < 10:
            raise EOFError(_GZIP_EOF)
        if view[p] != 0x1F or view[p + 1] != 0x8B:
            raise BadGzipFile(f"Not a gzipped file ({bytes(view[p:p + 2])!r})")
        if view[p + 2] != 8:
            raise BadGzipFile("Unknown compression method")
        flags = view[p + 3]
        q = p + 10
        if flags & 0x1E:  # FHCRC, FEXTRA, FNAME, FCOMMENT
            if flags & 4:
                if q + 2 > end:
                    raise EOFError(_GZIP_EOF)
                q += 2 + (view[q] | view[q + 1] << 8)
            for flag in (8, 16):  # a name, a comment: NUL-terminated
                if flags & flag:
                    while True:
                        if q >= end:
                            raise EOFError(_GZIP_EOF)
                        k = bytes(view[q:q + 4096]).find(b"\0")
                        if k >= 0:
                            q += k + 1
                            break
                        q += 4096
            if flags & 2:
                if q + 2 > end:
                    raise EOFError(_GZIP_EOF)
                stored = view[q] | view[q + 1] << 8
                from isal.isal_zlib import crc32

                crc = crc32(view[p:q]) & 0xFFFF
                if crc != stored:
                    raise BadGzipFile(f"Corrupted gzip header. Checksums do not match: {crc:04x} != {stored:04x}")
                q += 2
            if q > end:
                raise EOFError(_GZIP_EOF)
        self.pos = q
        self.d = self._decoder(flag=self._flag)
        self.size = 0
        # small input first, growing to STEP: at a member's end the decoder
        # copies what is left of the input it holds (eStargz: one small
        # member per file)
        self.feed = self.FIRST
