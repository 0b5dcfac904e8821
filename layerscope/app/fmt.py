"""Small pure helpers for the app: sizes, bars, glyphs and safe text.

Everything a user sees that came from the image (file names, commands, link
targets) goes through `clean_text()` so that control characters, escape sequences
and invalid UTF-8 show as visible escapes and never reach the terminal.
"""

from __future__ import annotations

import os
import re

from rich.text import Text

from ..analysis.tree import S_ADDED, S_DELETED, S_IMPLIED, S_METADATA, S_MODIFIED, S_SAME, S_UNCHANGED
from ..errors import clipped, one_line
from ..model import BLOCK, CHAR, DIR, FIFO, HARDLINK, SYMLINK
from ..units import human, mode_string

__all__ = ["human", "clean_text", "clipped_text", "bar", "mode_text", "STATUS", "LEGEND", "short_command", "pct",
           "legend_text", "type_char", "signed", "diff_legend_text", "picker_labels", "note", "middle_cut",
           "SIZE_W", "TBAR_W"]

# glyph, style, legend label for each tree status
STATUS: dict[int, tuple[str, str, str]] = {
    S_ADDED: ("+", "bold green", "added"),
    S_MODIFIED: ("~", "bold yellow", "new content"),
    S_METADATA: ("*", "bold cyan", "metadata only"),
    S_SAME: ("=", "magenta", "duplicate"),
    S_DELETED: ("-", "bold red", "deleted"),
    S_IMPLIED: (" ", "", "implied dir"),
    S_UNCHANGED: (" ", "", "from a lower layer"),
}
NAME_STYLE = {
    S_ADDED: "green",
    S_MODIFIED: "yellow",
    S_METADATA: "cyan",
    S_SAME: "magenta",
    S_DELETED: "red strike",
    S_IMPLIED: "",
    S_UNCHANGED: "",
}
CONTAINS_CHANGES = ("•", "yellow")  # a merged-view directory with changes below it
OPAQUE_MARK = ("o", "bold red")  # a directory this layer made opaque
LEGEND = [S_ADDED, S_MODIFIED, S_METADATA, S_SAME, S_DELETED]

_BLOCKS = " ▏▎▍▌▋▊▉█"

SIZE_W = 9  # the size column of the lists
TBAR_W = 8  # the bar column of the file trees


def clean_text(text: str, limit: int = 600) -> str:
    """Display-safe one-line form of any name or command from the image."""
    return one_line(text, limit)


def clipped_text(text: str, limit: int) -> str:
    """clean_text() of a string that may be huge, saying how much was left
    off: `… (N more characters)`."""
    return clean_text(clipped(text, limit), limit + 40)


def middle_cut(text: str, width: int) -> str:
    """`text` in at most `width` cells, cut in the middle when longer: of two
    paths the tail is what tells them apart (.../lists/deb.debian.org_..._Packages)."""
    if len(text) <= width:
        return text
    if width < 5:
        return text[:width]
    head = (width - 1) // 3
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def note(text: str) -> str:
    """A message for notify() on one safe line (the app never parses a notification as markup)."""
    return one_line(text)


def signed(n: int) -> str:
    """A size change: +1.2 kB, -300 B, 0 B."""
    if n == 0:
        return "0 B"
    return ("+" if n > 0 else "-") + human(abs(n))


def picker_labels(images) -> list[str]:
    """A short label per image that tells them apart: the name, plus the
    platform when the images differ in platform, plus the archive's file name
    when they come from several archives.  Raw text: display it with clean_text()."""
    multi_plat = len({str(im.platform) for im in images}) > 1
    multi_src = len({im.source for im in images}) > 1
    out = []
    for im in images:
        parts = [im.name]
        if multi_plat:
            parts.append(str(im.platform))
        if multi_src and im.source:
            parts.append(os.path.basename(im.source.rstrip("/")) or im.source)
        out.append("  ".join(parts))
    return out


def pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def bar(frac: float, width: int) -> str:
    """A horizontal bar of `width` cells filled to `frac` (eighths of a cell)."""
    if width <= 0:
        return ""
    frac = 0.0 if frac != frac else max(0.0, min(1.0, frac))
    eighths = round(frac * width * 8)
    if frac > 0 and eighths == 0:
        eighths = 1  # something is there: show a sliver
    full, part = divmod(eighths, 8)
    s = "█" * full + (_BLOCKS[part] if part and full < width else "")
    return s.ljust(width)


def type_char(t: int) -> str:
    return {DIR: "d", SYMLINK: "l", HARDLINK: "h", CHAR: "c", BLOCK: "b", FIFO: "p"}.get(t, "-")


def mode_text(mode: int, t: int) -> str:
    return mode_string(mode, type_char(t))


def legend_text(merged: bool) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis")
    for s in LEGEND:
        g, style, label = STATUS[s]
        out.append(g, style)
        out.append(f"{label} ")
    if merged:
        out.append(CONTAINS_CHANGES[0], CONTAINS_CHANGES[1])
        out.append("changed inside ")
    out.append(" ? keys", "dim")
    return out


def diff_legend_text() -> Text:
    """The legend of the comparison tree (A is the old side, B the new)."""
    out = Text(no_wrap=True, overflow="ellipsis")
    for s, label in ((S_ADDED, "only in B"), (S_DELETED, "only in A"), (S_MODIFIED, "content/type"),
                     (S_METADATA, "mode/owner")):
        g, style, _ = STATUS[s]
        out.append(g, style)
        out.append(f"{label} ")
    out.append(CONTAINS_CHANGES[0], CONTAINS_CHANGES[1])
    out.append("changed inside ")
    out.append(" Δ: B − A", "dim")
    out.append("  ? keys", "dim")
    return out


_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s*")
_NONSPACE = re.compile(r"\S")
# characters of a step read to make its one-line form (which shows at most
# 2000): a multi-megabyte step costs what a short one does
SHORT_SCAN = 20_000
_SH = re.compile(r"^/bin/sh -c\s+")
_WS = re.compile(r"\s+")
_HASH = re.compile(r"\b((?:file|dir|sha256):[0-9a-f]{12})[0-9a-f]{20,}")


def short_command(created_by: str) -> str:
    """A build step's command for one list line: `/bin/sh -c #(nop) CMD x`
    reads `CMD x`, `/bin/sh -c cmd` reads `RUN cmd`; whitespace collapsed and
    content hashes (`ADD file:<64 hex> in /`) shortened.  The details show it whole."""
    m = _NONSPACE.search(created_by, 0, SHORT_SCAN)
    if m is None and len(created_by) <= SHORT_SCAN:
        return "(no command recorded)"
    start = m.start() if m is not None else 0
    c = created_by[start:start + SHORT_SCAN]
    cut = len(created_by) - start > SHORT_SCAN
    c = c.lstrip() if cut else c.strip()
    if _NOP.match(c):
        c = _NOP.sub("", c)
    elif _SH.match(c):
        c = "RUN " + _SH.sub("", c)
    c = _HASH.sub(r"\1…", _WS.sub(" ", c))
    if cut and len(c) < 2000:
        c += " …"  # whitespace collapsed the part read: say the step goes on
    return clean_text(c, 2000) if c else "(no command recorded)"
