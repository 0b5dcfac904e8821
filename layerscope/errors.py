"""Errors a user can meet.  Each carries one line of text that names the
problem and the place; the CLI prints it as `layerscope: error: ...` and exits 2."""

from __future__ import annotations

import re


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


# Characters a terminal would act on or that hide what a name really is: C0/C1 controls, surrogates
# (invalid UTF-8 bytes as surrogate escapes, or lone ones from JSON), and the invisible format
# characters (bidi overrides and isolates, zero-width spaces and joiners, line/paragraph separators).
UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]")


def escaped(m: re.Match) -> str:
    o = ord(m.group())
    if o < 0x100:
        return f"\\x{o:02x}"
    if 0xDC80 <= o <= 0xDCFF:  # surrogate-escaped invalid UTF-8 byte
        return f"\\x{o - 0xDC00:02x}"
    return f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}"


def one_line(text: str, limit: int = 600) -> str:
    """Make any text safe to print on one terminal line: control and invisible
    format characters (newlines, ESC, bidi overrides, ...) and surrogates are
    shown escaped, never passed to the terminal.  At most `limit` characters."""
    # Each character becomes at least one: what lies past `limit` can never be shown.
    s = UNSAFE.sub(escaped, text[: limit + 1])
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
