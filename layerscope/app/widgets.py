"""The app's list widgets, all on the Line API (see lines.CursorList)."""

from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.color import Color
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..analysis.tree import S_DELETED, S_IMPLIED, S_UNCHANGED
from ..model import SYMLINK, HARDLINK
from .fmt import CONTAINS_CHANGES, OPAQUE_MARK, NAME_STYLE, STATUS, bar, human, safe, short_command
from .lines import CursorList
from .treemodel import TreeRows

class Pane(Vertical):
    """A bordered pane that `z` can zoom to the whole screen; its border and
    title take the accent colour while the focus is inside it.

    That used to be a `:focus-within` CSS rule, but a pseudo-class change makes
    Textual restyle the pane's whole subtree and repaint the screen: every Tab
    or click into another pane cost 30-65 ms.  The same look as inline styles
    on the pane alone costs about half."""

    ALLOW_MAXIMIZE = True
    _LIT_RULES = ("border_top", "border_right", "border_bottom", "border_left",
                  "border_title_color", "auto_border_title_color", "border_title_style")

    _lit_on = False

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def on_unmount(self) -> None:
        self.app.theme_changed_signal.unsubscribe(self)

    def _theme_changed(self, _theme) -> None:
        if self._lit_on:
            self._lit(True, force=True)

    def on_descendant_focus(self, event) -> None:
        self._lit(True)

    def on_descendant_blur(self, event) -> None:
        # the focus may move to another widget of this pane: look once it has
        self.call_after_refresh(lambda: self._lit(self.has_focus_within))

    def _lit(self, on: bool, force: bool = False) -> None:
        if on == self._lit_on and not force:
            return
        self._lit_on = on
        st = self.styles.inline
        if on:
            accent = Color.parse(self.app.theme_variables["accent"])
            st.border = ("round", accent)
            st.border_title_color = accent
            st.auto_border_title_color = False  # ($text-muted in the stylesheet is "auto")
            st.border_title_style = "bold"
        else:  # back to the stylesheet's look
            for rule in self._LIT_RULES:
                st.clear_rule(rule)
        self.refresh()


# ---------------------------------------------------------------------------
SIZE_W = 9
LBAR_W = 10
CNT_W = 7


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

    def row_count(self) -> int:
        return len(self.rows)

    def set_rows(self, rows: list, analysed: bool, multi: bool) -> None:
        self.rows = rows
        self.analysed = analysed
        self.multi = multi
        self.max_size = max((r.size for r in rows if r.index is not None), default=0)
        self.rows_changed()

    def row_of_layer(self, L: int) -> int | None:
        for i, r in enumerate(self.rows):
            if r.index == L:
                return i
        return None

    @staticmethod
    def header(multi: bool) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis", style="bold")
        t.append("    #  ")
        t.append("size".rjust(SIZE_W))
        t.append(" " + "".ljust(LBAR_W))
        t.append("  " + "+add".rjust(CNT_W) + "~mod".rjust(CNT_W) + "-del".rjust(CNT_W))
        t.append("wasted".rjust(SIZE_W + 1))
        if multi:
            t.append("  imgs")
        t.append("  command")
        return t

    def render_row(self, i: int, width: int) -> Text:
        r = self.rows[i]
        t = Text(no_wrap=True, overflow="ellipsis")
        if r.index is None:  # an empty step: only config changed
            t.append("    ·  ", "dim")
            t.append("(no layer)".rjust(SIZE_W) + " " + "".ljust(LBAR_W) + "  " + "".rjust(3 * CNT_W), "dim")
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
            t.append(f"{r.modified:>{CNT_W}}", "yellow" if r.modified else "dim")
            t.append(f"{r.deleted:>{CNT_W}}", "red" if r.deleted else "dim")
            t.append((human(r.wasted) if r.wasted else "·").rjust(SIZE_W + 1),
                     "bold red" if r.wasted else "dim")
        else:
            label = {"pending": "indexing…", "done": "indexed", "error": "error"}.get(st, st)
            t.append(label.rjust(SIZE_W), "red" if st == "error" else "dim")
            t.append(" " + "".ljust(LBAR_W) + "  " + "".rjust(3 * CNT_W) + "".rjust(SIZE_W + 1))
        if self.multi:
            n = len(layer.images) if layer is not None else 1
            t.append(f"  {n:>2}", "bold magenta" if n > 1 else "dim")
            t.append("⧉ " if n > 1 else "  ", "magenta")
        t.append("  " + short_command(r.created_by))
        return t


# ---------------------------------------------------------------------------
TBAR_W = 8
# row changes bigger than this run in a thread worker (about 1-3 us a node: ~15 ms of UI)
BIG_DIR = 5000  # children of one directory
BIG_TREE = 3000  # nodes of a tree, for expand-all (9,600 on classic: 40 ms)


class FileTreeView(CursorList):
    """The file tree of one layer (changes or merged view)."""

    BINDINGS = [
        Binding("enter,space", "toggle", "Open/close", show=True),
        Binding("right,l", "expand", "Expand", show=False),
        Binding("left,h", "collapse", "Collapse", show=False),
        Binding("E", "expand_all", "Expand all", show=True),
        Binding("C", "collapse_all", "Collapse all", show=True),
    ]
    placeholder = "indexing layers…"

    class FileActivated(Message):
        """Enter on a file (not a directory)."""

        def __init__(self, node: int, tree: "FileTreeView | None" = None) -> None:
            self.node = node
            self.tree = tree
            super().__init__()

        @property
        def control(self) -> "FileTreeView | None":
            return self.tree

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.model: TreeRows | None = None
        self.changes_below: bytearray | None = None
        self.opaque = frozenset()  # dirs this layer made opaque
        self.pending: int | None = None  # the node a worker is opening (drawn with an ellipsis)
        self._rows_token = 0

    # -- big changes of the rows: off the UI thread ---------------------------------
    def _big(self, node: int | None = None) -> bool:
        """Would opening `node` (or, for None, every directory) take long?"""
        m = self.model
        if m is None:
            return False
        t = m.tree
        if node is None:
            return len(t) > BIG_TREE
        ks = t.kids[node]  # None: not loaded yet (lazy tree), its count bounds it
        return (len(ks) if ks is not None else t.count(node)) > BIG_DIR

    def _in_worker(self, op, node: int | None) -> None:
        """Run op(rows) on a copy of the rows in a thread; the copy replaces the
        rows when done, the cursor on the node it was on (or the one `op` returns).
        The view keeps answering meanwhile; a newer model drops the result."""
        self._rows_token += 1
        self.pending = node if node is not None else self.node
        self.refresh()
        self._rows_worker(self._rows_token, self.model, op)

    @work(thread=True, exclusive=True, group="rows", exit_on_error=False)
    def _rows_worker(self, token: int, model: TreeRows, op) -> None:
        m2 = model.copy()
        keep_node = op(m2)
        try:
            self.app.call_from_thread(self._rows_done, token, model, m2, keep_node)
        except RuntimeError:
            pass  # the app is closing

    def _rows_done(self, token: int, old: TreeRows, m2: TreeRows, keep_node) -> None:
        if token != self._rows_token or self.model is not old:
            return
        self.pending = None
        node = keep_node if keep_node is not None else self.node
        self.model = m2
        try:
            cursor = m2.rows.index(node) if node is not None else 0
        except ValueError:
            cursor = min(self.cursor, max(0, len(m2.rows) - 1))
        self.set_reactive(CursorList.cursor, cursor)
        self._after_change()

    def row_count(self) -> int:
        return len(self.model) if self.model is not None else 0

    def set_model(self, model: TreeRows | None, changes_below: bytearray | None = None,
                  cursor: int = 0, placeholder: str | None = None, opaque=frozenset()) -> None:
        self.model = model
        self.forget_lines()  # node ids of another tree
        self.pending = None
        self._rows_token += 1  # a worker still changing the old rows is dropped
        self.changes_below = changes_below
        self.opaque = opaque
        if placeholder is not None:
            self.placeholder = placeholder
        self.set_reactive(CursorList.cursor, cursor)
        self.rows_changed()
        self.post_message(self.Highlighted(self, self.cursor))

    @property
    def node(self) -> int | None:
        m = self.model
        if m is None or not m.rows:
            return None
        return m.rows[min(self.cursor, len(m.rows) - 1)]

    def row_key(self, i: int):
        m = self.model
        node = m.rows[i]
        cb = self.changes_below
        return (node, m.depth[i], node in m.expanded, node == self.pending, node in self.opaque,
                cb[node] if cb is not None else None)

    def render_row(self, i: int, width: int) -> Text:
        m = self.model
        t_ = m.tree
        node = m.rows[i]
        depth = m.depth[i]
        status = t_.status[node]
        glyph, gstyle, _ = STATUS[status]
        if (status == S_UNCHANGED or status == S_IMPLIED) and self.changes_below is not None \
                and self.changes_below[node] and t_.is_dir(node):
            glyph, gstyle = CONTAINS_CHANGES
        is_dir = t_.is_dir(node)
        ghost = status == S_DELETED
        if node in self.opaque and (status == S_UNCHANGED or status == S_IMPLIED):
            glyph, gstyle = OPAQUE_MARK
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(glyph, gstyle)
        out.append(" ")
        size = t_.size(node)
        out.append(human(size).rjust(SIZE_W), "dim strike" if ghost else ("bold" if is_dir else ""))
        out.append(" ")
        p = t_.parent[node]
        psize = t_.size(p) if p >= 0 else 0
        if ghost:
            out.append("".ljust(TBAR_W))
        else:
            out.append(bar(size / psize if psize else 0.0, TBAR_W), "blue" if is_dir else "cyan")
        out.append(" " + "  " * depth)
        if node == self.pending:
            out.append("… ", "bold")
        elif is_dir and m.has_kids(node):
            out.append("▾ " if m.is_expanded(node) else "▸ ", "bold")
        else:
            out.append("  ")
        name = safe(t_.name(node), 300)
        style = NAME_STYLE.get(status, "")
        if is_dir:
            out.append(name + "/", (style + " bold").strip())
            if not m.is_expanded(node) and t_.count(node):
                out.append(f" ({t_.count(node):,})", "dim")
        else:
            out.append(name, style)
            e = t_.entry(node) if not ghost else None
            if e is not None and e.link is not None and e.type in (SYMLINK, HARDLINK):
                out.append(" → " if e.type == SYMLINK else " ⇒ ", "dim")
                out.append(safe(e.link, 200), "dim")
        if ghost:
            out.append("  deleted" + (f", hid {human(size)}" if size else ""), "red dim")
        elif node in self.opaque:
            out.append("  opaque: lower contents hidden", "yellow dim")
        return out

    def arrow_x(self, i: int) -> int:
        return 1 + 1 + SIZE_W + 1 + TBAR_W + 1 + 2 * self.model.depth[i]

    def on_row_clicked(self, i: int, x: int) -> None:
        ax = self.arrow_x(i)
        if ax <= x <= ax + 1:
            self.action_toggle()

    # -- actions -------------------------------------------------------------
    def _after_change(self) -> None:
        self.rows_changed()
        self.post_message(self.Highlighted(self, self.cursor))

    def action_toggle(self) -> None:
        m = self.model
        if m is None or not m.rows:
            return
        node = m.rows[self.cursor]
        if m.tree.is_dir(node) and m.has_kids(node):
            if not m.is_expanded(node) and self._big(node):
                self._in_worker(lambda r: self._expand_node(r, node), node)
                return
            m.toggle(self.cursor)
            self._after_change()
        elif not m.tree.is_dir(node):
            self.post_message(self.FileActivated(node, self))

    def action_select(self) -> None:
        self.action_toggle()

    def action_expand(self) -> None:
        m = self.model
        if m is None or not m.rows:
            return
        node = m.rows[self.cursor]
        if m.is_expanded(node):
            if self.cursor + 1 < len(m.rows) and m.depth[self.cursor + 1] > m.depth[self.cursor]:
                self.cursor += 1
        elif m.tree.is_dir(node) and m.has_kids(node) and self._big(node):
            self._in_worker(lambda r: self._expand_node(r, node), node)
        elif m.expand(self.cursor):
            self._after_change()

    def action_collapse(self) -> None:
        m = self.model
        if m is None or not m.rows:
            return
        if m.collapse(self.cursor):
            self._after_change()
            return
        p = m.parent_row(self.cursor)
        if p is not None:
            self.cursor = p

    def action_expand_all(self) -> None:
        m = self.model
        if m is None:
            return
        node = self.node
        if self._big():
            def op(r: TreeRows):
                r.expand_all()
                return node
            self._in_worker(op, node)
            return
        m.expand_all()
        self.set_reactive(CursorList.cursor, m.rows.index(node) if node is not None else 0)
        self._after_change()

    def action_collapse_all(self) -> None:
        m = self.model
        if m is None:
            return
        node = self.node
        # keep the cursor on the top-level ancestor of where it was
        top = node
        if top is not None:
            while m.tree.parent[top] > 0:
                top = m.tree.parent[top]
        m.collapse_all()
        self.set_reactive(CursorList.cursor, m.rows.index(top) if top is not None and top in m.rows else 0)
        self._after_change()

    @staticmethod
    def _expand_node(r: TreeRows, node: int):
        try:
            r.expand(r.rows.index(node))
        except ValueError:
            pass
        return node

    def select_node(self, node: int) -> bool:
        m = self.model
        if m is None:
            return False
        row = m.reveal(node)
        if row is None:
            return False
        self.set_reactive(CursorList.cursor, row)
        self._after_change()
        return True


# ---------------------------------------------------------------------------
class WasteList(CursorList):
    """Paths that cost hidden bytes, biggest first."""

    BINDINGS = [Binding("enter", "select", "Show in tree", show=True)]
    placeholder = "the waste view fills in once every layer is indexed"

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.items: list = []

    def row_count(self) -> int:
        return len(self.items)

    def set_items(self, items: list) -> None:
        self.items = items
        if not items:
            self.placeholder = "no wasted bytes: every file's bytes are visible in the final image"
        self.rows_changed(keep_cursor=False)

    def render_row(self, i: int, width: int) -> Text:
        w = self.items[i]
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(human(w.wasted_bytes).rjust(SIZE_W), "bold red")
        t.append(f" {len(w.copies)}×", "dim")
        t.append(" " + safe(w.path, 400))
        parts = []
        for c in w.copies:
            parts.append(f"L{c.layer} {c.kind}, {c.state}")
        t.append("  " + "; ".join(parts), "dim")
        return t


# ---------------------------------------------------------------------------
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
