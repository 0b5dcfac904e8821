"""The preview of a file: pre-rendered lines drawn on demand."""

from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
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

    class More(Message):
        """Scrolled past the end (step 1) or above the top (-1) of a part of a
        file bigger than one part: the next or the previous part is wanted."""

        def __init__(self, step: int) -> None:
            super().__init__()
            self.step = step

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.lines: list[Text] = []
        self._cache: dict[int, Strip] = {}
        self.more_before = False  # parts of the file above and below the lines shown
        self.more_after = False

    def set_lines(self, lines: list[Text], more_before: bool = False, more_after: bool = False,
                  at_end: bool = False) -> None:
        self.lines = lines
        self.more_before, self.more_after = more_before, more_after
        self._cache.clear()
        width = max((ln.cell_len for ln in lines), default=0)
        self.virtual_size = Size(width, len(lines))
        self.scroll_to(0, 0, animate=False, immediate=True)
        if at_end:  # once the new size is laid out: before, the end is still the old one
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True)
        self.refresh()

    def _past(self, step: int) -> bool:
        """Is the view at the end (step 1) or the top (-1), with more of the file that way?"""
        if step > 0:
            return self.more_after and self.scroll_y >= self.max_scroll_y
        return self.more_before and self.scroll_y <= 0

    def _scroll_or_more(self, step: int, action) -> None:
        if self._past(step):
            self.post_message(self.More(step))
        else:
            action()

    def action_scroll_down(self) -> None:
        self._scroll_or_more(1, super().action_scroll_down)

    def action_page_down(self) -> None:
        self._scroll_or_more(1, super().action_page_down)

    def action_scroll_end(self) -> None:
        self._scroll_or_more(1, super().action_scroll_end)

    def action_scroll_up(self) -> None:
        self._scroll_or_more(-1, super().action_scroll_up)

    def action_page_up(self) -> None:
        self._scroll_or_more(-1, super().action_page_up)

    def action_scroll_home(self) -> None:
        self._scroll_or_more(-1, super().action_scroll_home)

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
