"""The file tree of one layer (its changes, or the merged view at it)."""

from __future__ import annotations

import functools

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.message import Message

from ...analysis.tree import S_DELETED, S_IMPLIED, S_UNCHANGED, Cancelled
from ...model import HARDLINK, SYMLINK
from .. import gcfreeze
from ..fmt import CONTAINS_CHANGES, NAME_STYLE, OPAQUE_MARK, SIZE_W, STATUS, TBAR_W, bar, clean_text, human
from ..treemodel import TreeRows
from .cursorlist import CursorList

# row changes bigger than these run in a thread worker, so that the UI keeps answering
BIG_DIR = 5000  # children of one directory
BIG_TREE = 3000  # nodes of a tree, for expand-all
QUEUE_MAX = 64  # keys held while the tree is being replaced (a held key repeats: beyond this, dropped)


def queued(fn):
    """For the tree's key actions: while the rows are being replaced (a new
    tree, or a big expansion in a worker), the key waits and is applied to the
    new rows once they are shown, in the order the keys came, never to the
    rows on their way out."""

    def wrapper(self, *args):
        if self.busy:
            self.wait(functools.partial(fn, self, *args))
            return None
        return fn(self, *args)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


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

        def __init__(self, node: int, tree: FileTreeView | None = None) -> None:
            self.node = node
            self.tree = tree
            super().__init__()

        @property
        def control(self) -> FileTreeView | None:
            return self.tree

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.model: TreeRows | None = None
        self.changes_below: bytearray | None = None
        self.opaque = frozenset()  # dirs this layer made opaque
        self.pending: int | None = None  # the node a worker is opening (drawn with an ellipsis)
        self._rows_token = 0
        self._rows_busy = False  # a worker is changing the rows
        self.stale = False  # the screen asked for another tree, still being built
        self.queue: list = []  # the calls of the keys pressed while busy, applied in order after
        # bars as a share of the whole tree (the layer, or the image at the layer), so that bars
        # compare across directories; "parent": of the entry's directory
        self.bars = "tree"

    def set_bars(self, bars: str) -> None:
        self.bars = bars
        self.forget_lines()
        self.refresh()

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

    class RowsSettled(Message):
        """The rows a worker was changing are shown (or the change was dropped)."""

    class Working(Message):
        """A change of the rows in a worker is taking a while."""

    @property
    def busy(self) -> bool:
        """Are the rows on their way out (keys wait for the new ones)?"""
        return self.stale or self._rows_busy

    def set_stale(self, stale: bool) -> None:
        """The screen asked for a new tree (True), or showed it or gave up on it
        (False: the keys that waited are applied now)."""
        self.stale = stale
        if not stale:
            self.drain()

    def drain(self) -> None:
        """Apply the keys that waited, until one of them makes the tree busy again."""
        while self.queue and not self.busy:
            self.queue.pop(0)()

    def wait(self, call) -> None:
        """Run `call()` once the tree is not busy (now, if it is not)."""
        if not self.busy:
            call()
        elif len(self.queue) < QUEUE_MAX:
            self.queue.append(call)

    def cancel_pending(self) -> bool:
        """Escape while a big change runs: drop it and the keys that waited.
        False when nothing was running."""
        if not self._rows_busy and not self.queue:
            return False
        self._rows_token += 1
        self.workers.cancel_group(self, "rows")
        self._rows_busy = False
        self.pending = None
        self.queue.clear()
        self.refresh()
        self.post_message(self.RowsSettled())
        return True

    def _in_worker(self, op, node: int | None) -> None:
        """Run op(rows) on a copy of the rows in a thread; the copy replaces the
        rows when done, the cursor on the node it was on (or the one `op` returns).
        The view keeps answering meanwhile; a newer model drops the result."""
        self._rows_token += 1
        self._rows_busy = True
        self.pending = node if node is not None else self.node
        self.refresh()
        self.set_timer(0.1, self._say_working)
        self._rows_worker(self._rows_token, self.model, op)

    def _say_working(self) -> None:
        if self._rows_busy:
            self.post_message(self.Working())

    @work(thread=True, exclusive=True, group="rows", exit_on_error=False)
    @gcfreeze.building
    def _rows_worker(self, token: int, model: TreeRows, op) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        m2 = model.copy()
        m2.cancelled = lambda: worker.is_cancelled
        try:
            keep_node = op(m2)
        except Cancelled:
            return
        except Exception:  # a bug: keep the rows shown, and the keys that waited going
            m2 = model
            keep_node = None
        m2.cancelled = None
        try:
            self.app.call_from_thread(self._rows_done, token, model, m2, keep_node)
        except RuntimeError:
            pass  # the app is closing

    def _rows_done(self, token: int, old: TreeRows, m2: TreeRows, keep_node) -> None:
        if token != self._rows_token or self.model is not old:
            return
        self._rows_busy = False
        self.pending = None
        node = keep_node if keep_node is not None else self.node
        self.model = m2
        try:
            cursor = m2.rows.index(node) if node is not None else 0
        except ValueError:
            cursor = min(self.cursor, max(0, len(m2.rows) - 1))
        self.set_reactive(CursorList.cursor, cursor)
        self._after_change()
        self.post_message(self.RowsSettled())
        self.drain()

    def row_count(self) -> int:
        return len(self.model) if self.model is not None else 0

    def set_model(self, model: TreeRows | None, changes_below: bytearray | None = None,
                  cursor: int = 0, placeholder: str | None = None, opaque=frozenset()) -> None:
        self.model = model
        self.forget_lines()  # node ids of another tree
        self.pending = None
        self._rows_token += 1  # a worker still changing the old rows is dropped
        self._rows_busy = False
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
                cb[node] if cb is not None else None, self.bars)

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
        if self.bars == "parent":
            p = t_.parent[node]
            psize = t_.size(p) if p >= 0 else 0
        else:
            psize = t_.size(0)
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
        name = clean_text(t_.name(node), 300)
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
                out.append(clean_text(e.link, 200), "dim")
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

    @queued
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

    @queued
    def action_select(self) -> None:
        self.action_toggle()

    @queued
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

    @queued
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

    @queued
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

    @queued
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

    # the moves of the cursor wait for new rows as the tree's own keys do
    action_cursor_up = queued(CursorList.action_cursor_up)
    action_cursor_down = queued(CursorList.action_cursor_down)
    action_page_up = queued(CursorList.action_page_up)
    action_page_down = queued(CursorList.action_page_down)
    action_first = queued(CursorList.action_first)
    action_last = queued(CursorList.action_last)

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
