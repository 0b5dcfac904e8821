"""The layer list: every build step of the image, with its sizes and waste."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding

from ..fmt import SIZE_W, bar, human, short_command
from .cursorlist import CursorList

LBAR_W = 10
CNT_W = 7
COUNTS = 5  # added, new content, metadata only, duplicate, deleted
FIND_W = 14  # "12: 123.4 MB": the findings whose bytes a step stored, and those bytes


class LayerList(CursorList):
    """Every build step of the image, empty steps dimmed."""

    BINDINGS = [Binding("enter", "select", "Files", show=True)]
    placeholder = "reading the image…"

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.rows: list = []  # LayerRow-like objects
        self.analysed = False
        self.multi = False  # several images in the archive
        self.max_size = 0
        self.dockerfile = False  # rows as Dockerfile instructions (D) instead of the table
        self.steps: dict = {}  # history step -> analysis.dockerfile.Step, once the findings are in

    def row_count(self) -> int:
        return len(self.rows)

    def set_rows(self, rows: list, analysed: bool, multi: bool) -> None:
        self.rows = rows
        self.steps = {}  # the analysis's steps come with its findings (set_steps)
        self.analysed = analysed
        self.multi = multi
        self.max_size = max((r.size for r in rows if r.index is not None), default=0)
        self.rows_changed()

    def set_steps(self, steps: list) -> None:
        """The Dockerfile steps of the analysis (their bytes and findings)."""
        self.steps = {s.step: s for s in steps}
        if self.dockerfile:
            self.refresh()

    def is_stop(self, i: int) -> bool:
        # a step without a layer has no files to show: the cursor passes over it
        return self.rows[i].index is not None

    def row_of_layer(self, L: int) -> int | None:
        for i, r in enumerate(self.rows):
            if r.index == L:
                return i
        return None

    @staticmethod
    def header(multi: bool, dockerfile: bool = False) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis", style="bold")
        if dockerfile:
            t.append("    #  ")
            t.append("added".rjust(SIZE_W))
            t.append("hid".rjust(SIZE_W + 1))
            t.append("findings".rjust(FIND_W))
            t.append("  Dockerfile (from the history; D: the table)")
            return t
        t.append("    #  ")
        t.append("size".rjust(SIZE_W))
        t.append(" " + "".ljust(LBAR_W))
        t.append("  " + "".join(h.rjust(CNT_W) for h in ("+add", "~new", "*meta", "=dup", "-del")))
        t.append("wasted".rjust(SIZE_W + 1))
        if multi:
            t.append("  imgs")
        t.append("  command")
        return t

    def _dockerfile_row(self, r) -> Text:
        """A step as its Dockerfile instruction, after what its layer added and
        hid and the findings whose bytes it stored; base steps commented out."""
        t = Text(no_wrap=True, overflow="ellipsis")
        s = self.steps.get(r.step)
        if r.index is None:
            t.append("    ·  " + "".rjust(SIZE_W + SIZE_W + 1 + FIND_W), "dim")
        else:
            t.append("B " if r.is_base else "  ", "bold blue")
            t.append(f"{r.index:>3}  ", "blue" if r.is_base else "bold")
            if s is None:
                t.append("…".rjust(SIZE_W + SIZE_W + 1 + FIND_W), "dim")
            else:
                t.append(human(s.bytes_added).rjust(SIZE_W))
                t.append((human(s.bytes_hidden) if s.bytes_hidden else "·").rjust(SIZE_W + 1),
                         "bold red" if s.bytes_hidden else "dim")
                cell = f"{len(s.stored)}: {human(sum(f.bytes for f in s.stored))}" if s.stored else "·"
                t.append(cell.rjust(FIND_W), "yellow" if s.stored else "dim")
        ins = short_command(s.instruction) if s is not None and s.instruction else short_command(r.created_by)
        if r.is_base and r.index is not None:
            t.append("  # " + ins, "dim italic")
        else:
            t.append("  " + ins, "dim italic" if r.index is None else "")
        return t

    def render_row(self, i: int, width: int) -> Text:
        r = self.rows[i]
        if self.dockerfile and self.analysed:
            return self._dockerfile_row(r)
        t = Text(no_wrap=True, overflow="ellipsis")
        if r.index is None:  # an empty step: only config changed
            t.append("    ·  ", "dim")
            t.append("(no layer)".rjust(SIZE_W) + " " + "".ljust(LBAR_W) + "  " + "".rjust(COUNTS * CNT_W), "dim")
            t.append("".rjust(SIZE_W + 1))
            if self.multi:
                t.append("      ")
            t.append("  " + short_command(r.created_by), "dim italic")
            return t
        layer = r.layer
        st = "error" if layer is not None and layer.error else \
            "done" if layer is not None and layer.indexed else "pending"
        if layer is not None and layer.error:
            t.append("!", "bold red")
        elif r.is_base:
            t.append("B", "bold blue")
        else:
            t.append(" ")
        t.append(" ")
        t.append(f"{r.index:>3}  ", "bold" if not r.is_base else "blue")
        if self.analysed:
            t.append(human(r.size).rjust(SIZE_W))
            frac = r.size / self.max_size if self.max_size else 0
            t.append(" ")
            t.append(bar(frac, LBAR_W), "blue" if r.is_base else "green")
            t.append("  ")
            t.append(f"{r.added:>{CNT_W}}", "green" if r.added else "dim")
            content, meta, dup = r.kinds
            t.append(f"{content:>{CNT_W}}", "yellow" if content else "dim")
            t.append(f"{meta:>{CNT_W}}", "cyan" if meta else "dim")
            t.append(f"{dup:>{CNT_W}}", "magenta" if dup else "dim")
            t.append(f"{r.deleted:>{CNT_W}}", "red" if r.deleted else "dim")
            t.append((human(r.wasted) if r.wasted else "·").rjust(SIZE_W + 1),
                     "bold red" if r.wasted else "dim")
        else:
            label = {"pending": "indexing…", "done": "indexed", "error": "error"}.get(st, st)
            t.append(label.rjust(SIZE_W), "red" if st == "error" else "dim")
            t.append(" " + "".ljust(LBAR_W) + "  " + "".rjust(COUNTS * CNT_W) + "".rjust(SIZE_W + 1))
        if self.multi:
            n = len(layer.images) if layer is not None else 1
            t.append(f"  {n:>2}", "bold magenta" if n > 1 else "dim")
            t.append("⧉ " if n > 1 else "  ", "magenta")
        t.append("  " + short_command(r.created_by))
        return t
