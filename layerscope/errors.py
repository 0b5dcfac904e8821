"""Errors a user can meet.  Each carries one line of text that names the
problem and the place; the CLI prints it as `layerscope: error: ...` and exits 2."""

from __future__ import annotations


class ImageError(Exception):
    """The archive (or a part of it) cannot be read as an image."""

    def __init__(self, message: str, place: str | None = None):
        self.message = message
        self.place = place
        super().__init__(self.line())

    def line(self) -> str:
        text = f"{self.place}: {self.message}" if self.place else self.message
        return one_line(text)


class LayerError(ImageError):
    """One layer cannot be indexed (corrupt, truncated, encrypted, unknown)."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds the run like KeyboardInterrupt
    (past `except Exception`), so that every cleanup runs on the way out."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"terminated by signal {signum}")


def one_line(text: str, limit: int = 600) -> str:
    """Make any text safe to print on one terminal line: control characters
    (newlines, ESC, ...) are shown escaped, never passed to the terminal."""
    out = []
    for ch in text:
        o = ord(ch)
        if o < 0x20 or o == 0x7F or 0x80 <= o < 0xA0:
            out.append(f"\\x{o:02x}")
        elif 0xDC80 <= o <= 0xDCFF:  # surrogate-escaped invalid UTF-8 byte
            out.append(f"\\x{o - 0xDC00:02x}")
        else:
            out.append(ch)
    s = "".join(out)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s
