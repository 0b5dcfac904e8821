"""The size map: the boxes of one directory drawn as one widget on the Line
API (never a widget per box), names as plain text, each box's layer both as
its colour and as a written number, so that colour is never the only cue."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from ...analysis.treemap import Box, layout
from ..fmt import clean_text, human

# background of the boxes of layer L: PALETTE[L % len]; the number is written in the box too
PALETTE = ["#2f5d8a", "#3b7a3b", "#8a4b2f", "#6b3f8a", "#2f7a7a", "#8a7a2f", "#8a2f5d", "#4d4d4d"]
NONE_BG = "#303030"
HIDDEN_FILL = "░"
HIDDEN_MIN_W = 10


def layer_style(L: int, bold: bool = False) -> Style:
    bg = NONE_BG if L < 0 else PALETTE[L % len(PALETTE)]
    return Style(color="#f0f0f0", bgcolor=bg, bold=bold)


class SizeMap(Widget, can_focus=True):
    """Boxes sized by bytes; arrows move between them, enter opens a directory."""

    BINDINGS = [
        Binding("left,h", "move(-1,0)", "Left", show=False),
        Binding("right,l", "move(1,0)", "Right", show=False),
        Binding("up,k", "move(0,-1)", "Up", show=False),
        Binding("down,j", "move(0,1)", "Down", show=False),
        Binding("tab", "cycle(1)", "Next", show=False),
        Binding("shift+tab", "cycle(-1)", "Previous", show=False),
    ]
    DEFAULT_CSS = "SizeMap { height: 1fr; }"

    class Moved(Message):
        """The highlighted box changed."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.items: list = []
        self.hidden = (0, 0)  # (bytes, copies) hidden below the directory shown
        self.boxes: list[Box] = []
        self.cursor = 0
        self.placeholder = "building the size map…"
        self._rows: list[Strip] = []
        self._laid_for = None

    def show(self, items: list, hidden: tuple[int, int], cursor: int = 0) -> None:
        self.items, self.hidden = items, hidden
        self.cursor = cursor
        self._laid_for = None
        self.refresh()

    @property
    def box(self) -> Box | None:
        return self.boxes[self.cursor] if 0 <= self.cursor < len(self.boxes) else None

    def hidden_width(self, width: int) -> int:
        """Columns of the strip on the right that stands for the hidden bytes."""
        hb = self.hidden[0]
        if not hb:
            return 0
        shown = sum(it.size for it in self.items)
        w = round(width * hb / (hb + shown)) if hb + shown else width
        return min(max(w, HIDDEN_MIN_W), width // 3) if shown else width

    def _lay_out(self) -> None:
        w, h = self.size.width, self.size.height
        key = (w, h, id(self.items), self.cursor)
        if key == self._laid_for:
            return
        hw = self.hidden_width(w)
        if self._laid_for is None or self._laid_for[:3] != key[:3]:
            self.boxes = layout(self.items, max(0, w - hw), h)
            self.cursor = min(self.cursor, max(0, len(self.boxes) - 1))
            self.post_message(self.Moved())  # the boxes the screen describes are new
        self._laid_for = (w, h, id(self.items), self.cursor)
        self._rows = [self._paint_row(y, w, hw) for y in range(h)]

    def _paint_row(self, y: int, width: int, hw: int) -> Strip:
        base = self.rich_style
        segs: list[Segment] = []
        x = 0
        cur = self.box
        for b in sorted((b for b in self.boxes if b.y <= y < b.y + b.h), key=lambda b: b.x):
            if b.x > x:
                segs.append(Segment(" " * (b.x - x), base))
            segs.append(self._box_cells(b, y - b.y, b is cur))
            x = b.x + b.w
        map_w = width - hw
        if x < map_w:
            segs.append(Segment(" " * (map_w - x), base))
        if hw:
            label = ""
            if y == 0:
                label = " hidden"
            elif y == 1:
                label = " " + human(self.hidden[0])
            elif y == 2:
                label = f" {self.hidden[1]:,} copies"
            cell = (label[:hw] + HIDDEN_FILL * hw)[:hw]
            segs.append(Segment(cell, Style(color="#a0a0a0", bgcolor="#1a1a1a")))
        return Strip(segs).crop_extend(0, width, base)

    def _box_cells(self, b: Box, ry: int, current: bool) -> Segment:
        it = b.item
        st = layer_style(it.layer, bold=current)
        if current:
            st = st + Style(reverse=True)
        w = b.w
        digit = "·" if it.layer < 0 else str(it.layer % 10)
        if w < 3 or b.h < 2:  # too small for words: the layer's last digit says whose bytes they are
            return Segment((digit * w), st)
        inner = w - 1  # the last column separates it from the box to its right
        last_row = ry == b.h - 1 and b.h > 2
        if ry == 0:
            name = clean_text(it.name, 300) + ("/" if it.is_dir else "")
            text = " " + name
        elif ry == 1:
            text = f" {human(it.size)}" + (f" L{it.layer}" if it.layer >= 0 else "")
            if it.is_dir and it.count:
                text += f" ({it.count:,})"
        else:
            text = ""
        if len(text) > inner:
            text = text[:max(0, inner - 1)] + "…"
        fill = "▁" if last_row else " "
        cells = (text + fill * inner)[:inner] + "▕"
        return Segment(cells, st)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if not any(it.size for it in self.items) and not self.hidden[0]:
            if y == 0:
                return Strip([Segment(self.placeholder[:width], self.rich_style + Style(dim=True, italic=True))]
                             ).crop_extend(0, width, self.rich_style)
            return Strip.blank(width, self.rich_style)
        self._lay_out()
        return self._rows[y] if y < len(self._rows) else Strip.blank(width, self.rich_style)

    def on_resize(self) -> None:
        self._laid_for = None
        self.refresh()

    def _set_cursor(self, i: int) -> None:
        if self.boxes and i != self.cursor:
            self.cursor = i
            self.refresh()
            self.post_message(self.Moved())

    def action_move(self, dx: int, dy: int) -> None:
        """To the nearest box in that direction (by the boxes' centres)."""
        cur = self.box
        if cur is None:
            return
        cx, cy = cur.x + cur.w / 2, cur.y + cur.h / 2
        best, best_d = None, None
        for k, b in enumerate(self.boxes):
            bx, by = b.x + b.w / 2, b.y + b.h / 2
            ahead = (bx - cx) * dx + (by - cy) * dy
            if k == self.cursor or ahead <= 0:
                continue
            side = abs((bx - cx) * dy) + abs((by - cy) * dx)
            d = ahead + 2 * side
            if best_d is None or d < best_d:
                best, best_d = k, d
        if best is not None:
            self._set_cursor(best)

    def action_cycle(self, step: int) -> None:
        if self.boxes:
            self._set_cursor((self.cursor + step) % len(self.boxes))

    def on_click(self, event: events.Click) -> None:
        off = event.get_content_offset(self)
        if off is None:
            return
        for k, b in enumerate(self.boxes):
            if b.x <= off.x < b.x + b.w and b.y <= off.y < b.y + b.h:
                self.focus()
                self._set_cursor(k)
                return
