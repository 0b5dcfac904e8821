"""A keyboard/mouse list over the Line API: renders only the rows on screen,
so it holds a million rows as cheaply as ten."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


class CursorList(ScrollView, can_focus=True):
    """Subclasses implement `row_count()` and `render_row(i, width)`."""

    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("enter", "select", "Select", show=False),
    ]
    COMPONENT_CLASSES = {"cursorlist--cursor", "cursorlist--cursor-blur"}
    DEFAULT_CSS = """
    CursorList {
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
    }
    CursorList > .cursorlist--cursor { background: $accent 45%; text-style: bold; }
    CursorList > .cursorlist--cursor-blur { background: $accent 18%; }
    """

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class Highlighted(Message):
        def __init__(self, widget: CursorList, index: int) -> None:
            self.widget = widget
            self.index = index
            super().__init__()

        @property
        def control(self) -> CursorList:
            return self.widget

    class Selected(Highlighted):
        pass

    placeholder: str = ""

    # -- to implement ----------------------------------------------------
    def row_count(self) -> int:  # pragma: no cover - abstract
        return 0

    def render_row(self, i: int, width: int) -> Text:  # pragma: no cover - abstract
        return Text()

    def row_key(self, i: int):
        """Optional: a hashable value that captures everything row i's look depends
        on (besides cursor, focus and width); its drawn line is then reused until it
        changes.  None (the default): drawn every time."""
        return None

    # -- state -------------------------------------------------------------
    _line_cache: dict | None = None

    def forget_lines(self) -> None:
        """Drop the drawn lines that row_key() made reusable."""
        self._line_cache = None

    def notify_style_update(self) -> None:
        self.forget_lines()
        super().notify_style_update()

    def is_stop(self, i: int) -> bool:
        """Whether the cursor may rest on row i (a subclass skips rows that
        only label something, as the layer list does for steps without a layer)."""
        return True

    def _snap(self, i: int, direction: int) -> int:
        """Row i, or the nearest row the cursor may rest on: first in
        `direction`, then the other way; i when there is none."""
        n = self.row_count()
        if not 0 <= i < n or self.is_stop(i):
            return i
        for d in (direction, -direction):
            j = i + d
            while 0 <= j < n:
                if self.is_stop(j):
                    return j
                j += d
        return i

    def rows_changed(self, keep_cursor: bool = True) -> None:
        """Call after the rows changed: fixes the size, the cursor and redraws."""
        self.forget_lines()
        n = self.row_count()
        self.virtual_size = Size(0, n)
        c = self.cursor if keep_cursor else 0
        c = self._snap(max(0, min(c, n - 1)), 1)
        self.set_reactive(CursorList.cursor, c)
        self.scroll_to_cursor()
        self.refresh()

    def watch_cursor(self, old: int, new: int) -> None:
        n = self.row_count()
        if n and not 0 <= new < n:
            self.set_reactive(CursorList.cursor, max(0, min(new, n - 1)))
            new = self.cursor
        snapped = self._snap(new, 1 if new >= old else -1)
        if snapped != new:
            self.set_reactive(CursorList.cursor, snapped)
            new = snapped
        self.scroll_to_cursor()
        self.refresh()
        if n:
            self.post_message(self.Highlighted(self, new))

    def scroll_to_cursor(self) -> None:
        h = self.scrollable_content_region.height or self.size.height
        if h <= 0:
            self.call_after_refresh(self._scroll_to_cursor_later)
            return
        y = int(self.scroll_y)
        c = self.cursor
        if c < y:
            self.scroll_to(y=c, animate=False, immediate=True)
        elif c >= y + h:
            self.scroll_to(y=c - h + 1, animate=False, immediate=True)

    def _scroll_to_cursor_later(self) -> None:
        if (self.scrollable_content_region.height or self.size.height) > 0:
            self.scroll_to_cursor()

    # -- rendering ---------------------------------------------------------
    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def on_resize(self) -> None:
        self.scroll_to_cursor()

    _frame: tuple | None = None  # (width, base style) while Textual draws the lines of one frame

    def render_lines(self, crop):
        # the width and the base style (Textual computes it from every ancestor)
        # once per frame, not once per line
        self._frame = (self.scrollable_content_region.width or self.size.width, self.rich_style)
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def render_line(self, y: int) -> Strip:
        frame = self._frame
        if frame is not None:
            width, base = frame
        else:
            width = self.scrollable_content_region.width or self.size.width
            base = self.rich_style
        i = int(self.scroll_y) + y
        n = self.row_count()
        if i >= n:
            if n == 0 and y == 0 and self.placeholder:
                t = Text(self.placeholder, style="dim italic", no_wrap=True, overflow="ellipsis")
                return self._strip(t, width, base)
            return Strip.blank(width, base)
        # Textual redraws every visible line of the widget for any change (a cursor
        # move, a focus move): lines whose key did not change are reused.
        rk = self.row_key(i)
        if rk is not None:
            ck = (rk, i == self.cursor, self.has_focus, width, base)
            cache = self._line_cache
            if cache is None or len(cache) > 4000:
                cache = self._line_cache = {}
            got = cache.get(ck)
            if got is not None:
                return got
        text = self.render_row(i, width)
        if i == self.cursor:
            cls = "cursorlist--cursor" if self.has_focus else "cursorlist--cursor-blur"
            text.stylize_before(self.get_component_rich_style(cls))
            text.pad_right(max(0, width - text.cell_len))
            text.stylize_before(self.get_component_rich_style(cls))
        strip = self._strip(text, width, base)
        if rk is not None:
            cache[ck] = strip
        return strip

    def _strip(self, text: Text, width: int, base: Style) -> Strip:
        text.no_wrap = True
        text.overflow = "ellipsis"
        text.truncate(width, overflow="ellipsis", pad=True)
        segs = [Segment(s.text, base + s.style if s.style else base) for s in text.render(self.app.console)
                if s.text != "\n"]
        return Strip(segs).crop_extend(0, width, base)

    # -- keys and mouse ------------------------------------------------------
    def _page(self) -> int:
        return max(1, (self.scrollable_content_region.height or self.size.height) - 1)

    def action_cursor_up(self) -> None:
        if self.cursor > 0:
            self.cursor -= 1

    def action_cursor_down(self) -> None:
        if self.cursor < self.row_count() - 1:
            self.cursor += 1

    def action_page_up(self) -> None:
        self.cursor = max(0, self.cursor - self._page())

    def action_page_down(self) -> None:
        self.cursor = max(0, min(self.row_count() - 1, self.cursor + self._page()))

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = max(0, self.row_count() - 1)

    def action_select(self) -> None:
        if self.row_count():
            self.post_message(self.Selected(self, self.cursor))

    def on_click(self, event: events.Click) -> None:
        off = event.get_content_offset(self)
        if off is None:
            return
        i = int(self.scroll_y) + off.y
        if 0 <= i < self.row_count():
            self.focus()
            if i == self.cursor and event.chain >= 2:
                self.action_select()
            else:
                self.cursor = i
                self.on_row_clicked(i, off.x)

    def on_row_clicked(self, i: int, x: int) -> None:
        """Hook for subclasses (e.g. the tree toggles a dir on its arrow)."""


class ItemList(CursorList):
    """A list of analysis results, one row each, that Enter shows in the file
    tree (the waste list, the findings); `EMPTY` is said when there are none."""

    BINDINGS = [Binding("enter", "select", "Show in tree", show=True)]
    EMPTY = "nothing to show"

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.items: list = []

    def row_count(self) -> int:
        return len(self.items)

    def set_items(self, items: list) -> None:
        self.items = items
        if not items:
            self.placeholder = self.EMPTY
        self.rows_changed(keep_cursor=False)
