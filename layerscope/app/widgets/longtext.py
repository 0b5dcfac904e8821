"""A long text from the image (a build step can be tens of megabytes), wrapped
at the view's width: only the rows on screen are escaped and drawn."""

from __future__ import annotations

import re
from array import array

from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..fmt import clean_text

# more lines than this and the text is cut in rows of the view's width
# alone: indexing each line is Python work per line
MAX_LINES = 1_000_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\udc80-\udcff]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\udc80-\udcff]")
_PIECE = 1 << 16  # escaped a piece at a time: the event loop gets the GIL in between
# each control character's escape, as clean_text() shows it
_ESCAPE = {chr(c): clean_text(chr(c), 8) for c in (*range(0x20), *range(0x7F, 0xA0), *range(0xDC80, 0xDD00))}


def _escape(m: re.Match) -> str:
    return _ESCAPE[m.group()]


def escaped(text: str, keep_newlines: bool) -> str:
    """`text` with every control character shown as its escape, as
    clean_text() shows it (newlines kept when asked), so that rows can be cut
    from what is shown.  `text` itself when nothing needs escaping."""
    pat = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    pieces = []
    changed = False
    for i in range(0, len(text), _PIECE):
        piece = text[i:i + _PIECE]
        if pat.search(piece) is not None:
            piece = pat.sub(_escape, piece)
            changed = True
        pieces.append(piece)
    return "".join(pieces) if changed else text


def row_starts(text: str, width: int, by_line: bool = True) -> array:
    """Where each row of `text` wrapped at `width` characters starts: rows
    follow its lines, or (`by_line` False) are `width`-character pieces."""
    width = max(1, width)
    n = len(text)
    if not by_line:
        return array("q", range(0, max(n, 1), width))
    starts = array("q")
    pos = 0
    while pos < n:
        nl = text.find("\n", pos)
        end = n if nl < 0 else nl
        if end - pos <= width:
            starts.append(pos)
        else:
            starts.extend(range(pos, end, width))
        pos = end + 1 if nl >= 0 else n
    if not starts:
        starts.append(0)
    return starts


class LongTextView(ScrollView, can_focus=True):
    """`set_text()` shows a text of any length; the rows are indexed in a
    thread worker (again when the width changes)."""

    DEFAULT_CSS = """
    LongTextView { overflow-y: scroll; overflow-x: auto; scrollbar-size-vertical: 1; scrollbar-size-horizontal: 1; }
    """
    BINDINGS = [
        Binding("up,k", "scroll_up", "Up", show=False),
        Binding("down,j", "scroll_down", "Down", show=False),
        Binding("left", "scroll_left", "Left", show=False),
        Binding("right", "scroll_right", "Right", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "scroll_home", "Top", show=False),
        Binding("end", "scroll_end", "Bottom", show=False),
    ]

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.text = ""
        self.shown = ""  # the text with its control characters escaped
        self.shown_from: str | None = None  # the text `shown` was made from
        self.starts = array("q")
        self.by_line = True
        self.indexed_width = 0  # the width the rows were made for (0: not indexed yet)
        self._cache: dict[int, Strip] = {}

    def set_text(self, text: str) -> None:
        self.text = text
        self.indexed_width = 0
        self._reindex()

    def on_resize(self) -> None:
        self._reindex()

    def _width(self) -> int:
        return self.scrollable_content_region.width or self.size.width

    def _reindex(self) -> None:
        width = self._width()
        if width > 0 and width != self.indexed_width:
            self._index(self.text, width)

    @work(thread=True, exclusive=True, group="longtext", exit_on_error=False)
    def _index(self, text: str, width: int) -> None:
        by_line = text.count("\n") <= MAX_LINES
        shown = self.shown if self.shown_from is text and self.by_line == by_line else escaped(text, by_line)
        starts = row_starts(shown, width, by_line)
        self.app.call_from_thread(self._indexed, text, shown, width, starts, by_line)

    def _indexed(self, text: str, shown: str, width: int, starts: array, by_line: bool) -> None:
        if text is not self.text or not self.is_attached:
            return
        self.shown, self.shown_from = shown, text
        self.starts, self.by_line, self.indexed_width = starts, by_line, width
        self._cache.clear()
        # a wide character takes two cells: such rows can be wider than the view
        self.virtual_size = Size(width if shown.isascii() else 2 * width, len(starts))
        self.refresh()

    def row_text(self, i: int) -> str:
        """Row i as shown."""
        s = self.starts
        end = s[i + 1] if i + 1 < len(s) else len(self.shown)
        seg = self.shown[s[i]:end]
        if self.by_line and seg.endswith("\n"):
            seg = seg[:-1]
        return clean_text(seg, len(seg) + 1)

    def render_line(self, y: int) -> Strip:
        sx, sy = self.scroll_offset
        width = self._width()
        i = sy + y
        base = self.rich_style
        if not self.indexed_width:
            if y == 0 and self.text:
                note = f"laying out {len(self.text):,} characters…"
                return Strip([Segment(note, base + Style(dim=True, italic=True))]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        if i >= len(self.starts):
            return Strip.blank(width, base)
        strip = self._cache.get(i)
        if strip is None:
            if len(self._cache) > 4000:
                self._cache.clear()
            strip = self._cache[i] = Strip([Segment(self.row_text(i), base)])
        return strip.crop_extend(sx, sx + width, base)
