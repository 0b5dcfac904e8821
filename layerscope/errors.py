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


# control characters (C0, DEL, C1) and surrogate-escaped invalid UTF-8 bytes,
# each shown as its \xNN escape
_ESCAPES = {**{c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))},
            **{c: f"\\x{c - 0xDC00:02x}" for c in range(0xDC80, 0xDD00)}}


def one_line(text: str, limit: int = 600) -> str:
    """Make any text safe to print on one terminal line: control characters
    (newlines, ESC, ...) are shown escaped, never passed to the terminal.
    At most `limit` characters, the last an ellipsis when cut; the cost is
    bounded by `limit`, whatever the length of `text` (escaping only makes
    text longer, so the first `limit` characters are all that can show)."""
    s = text[:limit + 1].translate(_ESCAPES)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s


def clipped(text: str, limit: int) -> str:
    """`text` when it has at most `limit` characters, else its first `limit`
    and how many more there are: a build step can be megabytes, and a view
    that shows one whole says what it left off."""
    if len(text) <= limit:
        return text
    return text[:limit] + f" … ({len(text) - limit:,} more characters)"
