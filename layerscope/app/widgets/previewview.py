"""The preview of a file: pre-rendered lines drawn on demand."""

from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip


class PreviewView(ScrollView, can_focus=True):
    """Pre-rendered lines (highlighted text or a hex dump), drawn on demand."""

    DEFAULT_CSS = """
    PreviewView { overflow: auto; scrollbar-size-vertical: 1; scrollbar-size-horizontal: 1; }
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
        self.lines: list[Text] = []
        self._cache: dict[int, Strip] = {}

    def set_lines(self, lines: list[Text]) -> None:
        self.lines = lines
        self._cache.clear()
        width = max((ln.cell_len for ln in lines), default=0)
        self.virtual_size = Size(width, len(lines))
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def plain(self) -> str:
        return "\n".join(ln.plain for ln in self.lines)

    def render_line(self, y: int) -> Strip:
        sx, sy = self.scroll_offset
        width = self.scrollable_content_region.width or self.size.width
        i = sy + y
        base = self.rich_style
        if i >= len(self.lines):
            return Strip.blank(width, base)
        strip = self._cache.get(i)
        if strip is None:
            if len(self._cache) > 4000:
                self._cache.clear()
            segs = [Segment(s.text, base + s.style if s.style else base)
                    for s in self.lines[i].render(self.app.console) if s.text != "\n"]
            strip = self._cache[i] = Strip(segs)
        return strip.crop_extend(sx, sx + width, base)
