"""The layer graph: how the loaded images share layers.

Images are columns, every distinct layer is one row (drawn once, in stack
order, bottom first) with a mark in the column of each image that uses it;
the figures say what the images take stored once against what they would
take without sharing.  The core computes (`analysis.sharing`)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from ...units import plural
from ..fmt import SIZE_W, clean_text, clipped_text, human, pct, picker_labels, short_command
from ..widgets import Pane
from ..widgets.cursorlist import CursorList
from ..widgets.keybar import KeyBar

ID_W = 12
USED = "●"
THROUGH = "│"


def col_width(n_images: int) -> int:
    return max(5, len(f"[{n_images}]") + 1)


class SharingList(CursorList):
    """One row per distinct layer; a column per image."""

    BINDINGS = [Binding("enter", "select", "Open layer", show=True)]
    placeholder = "no layers"

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.rows: list = []  # SharingRow
        self.n_images = 0
        self.spans: list[tuple[int, int]] = []  # per image: first and last row it uses

    def row_count(self) -> int:
        return len(self.rows)

    def set_rows(self, rows: list, n_images: int) -> None:
        self.rows = rows
        self.n_images = n_images
        spans = []
        for k in range(n_images):
            used = [i for i, r in enumerate(rows) if r.positions[k] is not None]
            spans.append((used[0], used[-1]) if used else (-1, -1))
        self.spans = spans
        self.rows_changed()

    def header(self) -> Text:
        w = col_width(self.n_images)
        t = Text(no_wrap=True, overflow="ellipsis", style="bold")
        t.append("  " + "layer".ljust(ID_W))
        t.append("files".rjust(SIZE_W) + "blob".rjust(SIZE_W + 1) + "  ")
        for k in range(self.n_images):
            t.append(f"[{k + 1}]".ljust(w))
        t.append(" build step")
        return t

    def marks(self, i: int) -> list[str]:
        """What each image's column shows on row i: ● N (its layer N), │ (its
        stack goes on past this row) or nothing."""
        r = self.rows[i]
        out = []
        for k, p in enumerate(r.positions):
            if p is not None:
                out.append(f"{USED}{p}")
            elif self.spans[k][0] < i < self.spans[k][1]:
                out.append(THROUGH)
            else:
                out.append("")
        return out

    def render_row(self, i: int, width: int) -> Text:
        r = self.rows[i]
        w = col_width(self.n_images)
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append("⧉ " if r.shared else "  ", "bold magenta")
        t.append(r.short_id.ljust(ID_W), "magenta" if r.shared else "")
        if r.indexed:
            t.append(human(r.size).rjust(SIZE_W), "bold" if r.shared else "")
        else:
            t.append("…".rjust(SIZE_W), "dim")
        t.append(human(r.compressed_size).rjust(SIZE_W + 1), "dim")
        t.append("  ")
        for _k, m in enumerate(self.marks(i)):
            if m.startswith(USED):
                t.append(m.ljust(w), "bold magenta" if r.shared else "bold green")
            else:
                t.append(m.ljust(w), "dim")
        t.append(" " + short_command(r.created_by) if r.created_by else " (no build step recorded)",
                 "" if r.created_by else "dim")
        return t


def figures_text(s, labels: list[str], n_layers_note: str = "") -> Text:
    """Per image and in total: what the images need alone against stored once."""
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append("Layer graph  ", "bold magenta")
    t.append(f"{len(s.images)} image{'s' if len(s.images) != 1 else ''}, {plural(len(s.rows), 'distinct layer')}, "
             f"{s.shared_layer_count} shared", "bold")
    if n_layers_note:
        t.append("  " + n_layers_note, "dim italic")
    t.append("\n")
    lw = min(48, max((len(clean_text(x, 200)) for x in labels), default=10))
    t.append("     " + "image".ljust(lw) + "layers".rjust(8) + "alone".rjust(SIZE_W + 1) + "shared".rjust(SIZE_W + 1)
             + "its own".rjust(SIZE_W + 1) + "blobs".rjust(SIZE_W + 1) + "\n", "bold")
    for k, sh in enumerate(s.images):
        t.append(f"[{k + 1}] ".rjust(5), "bold cyan")
        t.append(clean_text(labels[k], lw).ljust(lw), "bold")
        t.append(f"{sh.layers:>8}")
        t.append(human(sh.size).rjust(SIZE_W + 1), "bold")
        t.append(human(sh.shared_bytes).rjust(SIZE_W + 1), "magenta" if sh.shared_bytes else "dim")
        t.append(human(sh.unique_bytes).rjust(SIZE_W + 1))
        t.append(human(sh.compressed_size).rjust(SIZE_W + 1), "dim")
        t.append("\n")
    t.append("stored once ", "bold")
    t.append(human(s.stored_bytes), "bold")
    t.append(" · without sharing ")
    t.append(human(s.unshared_bytes), "bold")
    t.append(" · saved by sharing ")
    saved_pct = s.saved_bytes / s.unshared_bytes if s.unshared_bytes else 0.0
    t.append(f"{human(s.saved_bytes)} ({pct(saved_pct)})", "bold green" if s.saved_bytes else "bold")
    t.append("  (bytes of files)", "dim")
    t.append(f"\nblobs (as stored in the archive): {human(s.stored_compressed_bytes)} once · "
             f"{human(s.unshared_compressed_bytes)} without sharing · {human(s.saved_compressed_bytes)} saved", "dim")
    return t


def layer_text(s, r, labels: list[str]) -> Text:
    """Details of one row: the layer, its sizes, the images using it."""
    t = Text()
    t.append("layer ", "bold")
    t.append(clean_text(r.layer.diff_id or r.layer.digest or r.key, 200), "magenta" if r.shared else "")
    t.append("\n")
    t.append(human(r.size) if r.indexed else "… (not indexed yet)", "bold")
    t.append(" of files · ")
    c = getattr(r.layer, "compression", None)
    comp = f" ({clean_text(c, 20)})" if c and c != "none" else ""
    t.append(f"{human(r.compressed_size)} blob{comp}")
    t.append(f" · used by {r.users} image{'s' if r.users != 1 else ''}: ", "bold magenta" if r.shared else "bold")
    parts = [f"[{k + 1}] {clean_text(labels[k], 80)} as layer {p}" for k, p in enumerate(r.positions) if p is not None]
    t.append("; ".join(parts))
    t.append("\n")
    t.append(clipped_text(r.created_by, 4000) if r.created_by else "(no build step recorded)",
             "" if r.created_by else "dim")
    return t


class GraphScreen(Screen):
    """The layer graph of every loaded image.  Escape goes back."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sharing = None
        self.labels: list[str] = []

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="graph-head"):
            yield Static(Text("reading…", style="dim"), id="graph-figures", markup=False)
        with Pane(id="graph-pane"):
            yield Static("", id="graph-header", markup=False)
            yield SharingList(id="graph-list")
        yield Static("", id="graph-details", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        pane = self.query_one("#graph-pane")
        pane.border_title = "Layers, bottom first: one row per distinct layer, one column per image"
        pane.border_subtitle = ("● N: the image's layer N · │ its stack goes on · ⧉ shared · "
                                "enter opens the layer")
        self.refresh_data()
        self.query_one("#graph-list", SharingList).focus()

    def refresh_data(self) -> None:
        """(Re)compute the figures: sizes fill in as layers are indexed."""
        from ...analysis.sharing import sharing

        graph = self.app.graph
        if graph is None or not self.is_attached:
            return
        s = self.sharing = sharing(graph)
        pending = sum(1 for r in s.rows if not r.indexed)
        note = f"{pending} layer(s) still indexing: their sizes fill in" if pending else ""
        if len(s.images) < 2:
            note = (note + " · " if note else "") + "one image: nothing to share (open several, or an archive " \
                                                    "that holds several)"
        self.labels = picker_labels(graph.images)
        self.query_one("#graph-figures", Static).update(figures_text(s, self.labels, note))
        lst = self.query_one("#graph-list", SharingList)
        lst.set_rows(s.rows, len(s.images))
        self.query_one("#graph-header", Static).update(lst.header())
        self._fit()
        self._show_row()

    def _fit(self) -> None:
        """The list as tall as its rows (the details sit right below it)."""
        n = len(self.query_one("#graph-list", SharingList).rows)
        h = self.app.size.height or 40
        self.query_one("#graph-pane").styles.height = max(5, min(n + 3, h - 14))

    def on_resize(self) -> None:
        if self.sharing is not None:
            self._fit()

    @on(CursorList.Highlighted, "#graph-list")
    def _highlighted(self) -> None:
        self._show_row()

    def _show_row(self) -> None:
        lst = self.query_one("#graph-list", SharingList)
        if not lst.rows or self.sharing is None:
            return
        r = lst.rows[min(lst.cursor, len(lst.rows) - 1)]
        self.query_one("#graph-details", Static).update(layer_text(self.sharing, r, self.labels))

    @on(CursorList.Selected, "#graph-list")
    def _selected(self, event: CursorList.Selected) -> None:
        lst = self.query_one("#graph-list", SharingList)
        r = lst.rows[event.index]
        images = self.app.graph.images
        cur = self.app.image
        k = next((k for k, p in enumerate(r.positions) if p is not None and images[k] is cur), None)
        if k is None:
            k = next(k for k, p in enumerate(r.positions) if p is not None)
        self.app.show_in_layer_view(images[k], None, r.positions[k])

    def system_commands(self) -> list[tuple]:
        """(title, help, callback) of the palette's commands for this view."""
        return [
            ("Back to the layer view", "Leave the layer graph (escape)", self.action_back),
            ("Show keys", "Every key binding (?)", self.app.action_help),
        ]

    def action_back(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        self.dismiss()
