"""The waste list: paths that cost hidden bytes, biggest first."""

from __future__ import annotations

from rich.text import Text

from ..fmt import SIZE_W, clean_text, human, middle_cut
from .cursorlist import ItemList


class WasteList(ItemList):
    """Paths that cost hidden bytes, biggest first."""

    placeholder = "the waste view fills in once every layer is indexed"
    EMPTY = "no wasted bytes: every file's bytes are visible in the final image"

    def render_row(self, i: int, width: int) -> Text:
        w = self.items[i]
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(human(w.wasted_bytes).rjust(SIZE_W), "bold red")
        t.append(f" {len(w.copies)}×", "dim")
        # the copies follow the path: give the path at most two thirds of the row
        t.append(" " + middle_cut(clean_text(w.path, 4000), max(20, (width - SIZE_W - 5) * 2 // 3)))
        parts = []
        for c in w.copies:
            parts.append(f"L{c.layer} {c.kind}, {c.state}" + (f" at L{c.hidden_at}" if c.hidden_at is not None else ""))
        t.append("  " + "; ".join(parts), "dim")
        return t
