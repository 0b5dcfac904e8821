"""The size map of the merged view at the selected layer (M in the layer
view): a directory's entries as boxes sized by their bytes, coloured (and
numbered) by the layer that stored them, the bytes the view hides apart on
the right; enter opens a directory, backspace or escape goes back out."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import get_current_worker

from ...analysis.treemap import hidden_under, items_of
from ...units import plural
from .. import gcfreeze
from ..fmt import clean_text, human, middle_cut, pct
from ..widgets.keybar import KeyBar
from ..widgets.sizemap import PALETTE, SizeMap, layer_style


class SizeMapScreen(Screen):
    """`image`'s merged view at layer N, from the app's tree cache."""

    BINDINGS = [
        Binding("enter", "open", "Open dir"),
        Binding("backspace", "up", "Up a dir"),
        Binding("escape", "back", "Back"),
        Binding("M", "close", "Close map"),
        Binding("t", "show_in_tree", "Show in tree"),
    ]

    def __init__(self, image, a, N: int) -> None:
        super().__init__()
        self.image, self.a, self.N = image, a, N
        self.map_tree = None
        self.layer_bytes = None  # LayerBytes of a lazy map_tree
        self.hidden: list | None = None  # None until the hidden copies are counted
        self.node = 0  # the directory shown
        self.trail: list[tuple[int, int]] = []  # (directory, cursor) of the levels above
        self._layers_cache: dict = {}
        self._token = 0

    def compose(self) -> ComposeResult:
        yield Static(Text("size map: building the merged view… (escape goes back)", style="dim"), id="map-head",
                     markup=False)
        yield SizeMap(id="map")
        yield Static(Text(""), id="map-info", markup=False)
        yield Static(Text(""), id="map-legend", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#map", SizeMap).focus()
        self._load(self.image, self.a, self.N)

    @work(thread=True, exclusive=True, group="sizemap", exit_on_error=False)
    @gcfreeze.building
    def _load(self, image, a, N: int) -> None:
        """The merged view at N (lazy once the stack's index is there: only the
        directories shown are built), the bytes each layer stored under every
        directory, then the hidden copies (the strip fills in after the boxes)."""
        import time

        from ...analysis.tree import Cancelled
        from ...analysis.treemap import LayerBytes, hidden_files

        worker = get_current_worker()
        state = self.app.state
        cancelled = lambda: worker.is_cancelled  # noqa: E731
        try:
            # the index is built right after the analysis: waiting for it beats an eager tree
            if state.stack_index.get(id(a), False) is None:
                self.app.call_from_thread(self._progress, "indexing the image's directories (once per image)…")
            while state.stack_index.get(id(a), False) is None and not worker.is_cancelled:
                time.sleep(0.02)
            lazy = state.stack_index.get(id(a)) is not None
            if not lazy:
                self.app.call_from_thread(self._progress, "building the merged view (every entry)…")
            t, _, _ = state.tree(image, a, N, "merged", not lazy, cancelled)
            lb = LayerBytes(t.index, N, cancelled) if getattr(t, "lazy", False) else None
            if worker.is_cancelled:
                return
            self.app.call_from_thread(self._loaded, t, lb)
            hidden = hidden_files(a.stack, N)
        except Cancelled:
            return
        except Exception as e:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._failed, f"{type(e).__name__}: {e}")
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._hidden_found, hidden)

    def _progress(self, what: str) -> None:
        self.query_one("#map-head", Static).update(Text(f"size map: {what} (escape goes back)", style="dim"))

    def _failed(self, msg: str) -> None:
        self.query_one("#map-head", Static).update(Text(f"cannot draw the size map: {clean_text(msg, 300)}",
                                                        style="red"))

    def _loaded(self, t, layer_bytes) -> None:
        self.map_tree, self.layer_bytes = t, layer_bytes
        self._show(0)

    def _hidden_found(self, hidden) -> None:
        self.hidden = hidden
        if self.map_tree is not None:
            self._show(self.node, self.query_one("#map", SizeMap).cursor)

    def _show(self, node: int, cursor: int = 0) -> None:
        """Lay out directory `node` (its items in a worker: a big subtree takes a while)."""
        self.node = node
        self._token += 1
        m = self.query_one("#map", SizeMap)
        m.placeholder = "measuring…"
        self._head()
        self._items(self._token, node, cursor)

    @work(thread=True, exclusive=True, group="sizemap-items", exit_on_error=False)
    @gcfreeze.building
    def _items(self, token: int, node: int, cursor: int) -> None:
        worker = get_current_worker()
        items = items_of(self.map_tree, node, self._layers_cache, layer_bytes=self.layer_bytes)
        hid = hidden_under(self.hidden, self.map_tree.path(node)) if self.hidden is not None else None
        if not worker.is_cancelled:
            self.app.call_from_thread(self._items_done, token, items, hid, cursor)

    def _items_done(self, token: int, items, hid, cursor: int) -> None:
        if token != self._token:
            return
        m = self.query_one("#map", SizeMap)
        m.placeholder = "an empty directory"
        m.show(items, hid if hid is not None else (0, 0), cursor)
        self._head()
        self._legend(items)

    def _head(self) -> None:
        t = self.map_tree
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append("Size map", "bold")
        head.append(f" of the merged view at layer {self.N}: ", "bold")
        if t is None:
            head.append("building…", "dim")
        else:
            head.append(middle_cut(clean_text(t.path(self.node), 2000), 80), "bold cyan")
            total = t.size(0)
            size = t.size(self.node)
            head.append(f"  {human(size)}" + (f" ({pct(size / total)} of the view)" if total and self.node else ""))
            m = self.query_one("#map", SizeMap)
            small = sum(1 for it in m.items if it.size) - len(m.boxes)
            if m.boxes and small > 0:
                head.append(f"  · {plural(small, 'entry', 'entries')} too small to draw", "dim")
            if self.hidden is None:
                head.append("  · counting the hidden copies…", "dim")
            elif m.hidden[0]:
                head.append(f"  · hidden below it: {human(m.hidden[0])} in {plural(m.hidden[1], 'copy', 'copies')} "
                            "(lower layers' bytes this view does not show; the ░ strip)", "yellow")
        self.query_one("#map-head", Static).update(head)

    def _legend(self, items) -> None:
        by: dict[int, int] = {}
        for it in items:
            by[it.layer] = by.get(it.layer, 0) + it.size
        leg = Text(no_wrap=True, overflow="ellipsis")
        leg.append("colour and number = the layer that stored the bytes: ", "dim")
        for L in sorted(by):
            if L < 0:
                continue
            leg.append(f" L{L} ", layer_style(L))
            leg.append(f" {human(by[L])}  ")
        leg.append(" enter open · backspace up · t show in tree · escape back", "dim")
        self.query_one("#map-legend", Static).update(leg)

    def on_size_map_moved(self) -> None:
        self._head()
        m = self.query_one("#map", SizeMap)
        b = m.box
        info = Text(no_wrap=True, overflow="ellipsis")
        if b is not None and self.map_tree is not None:
            it = b.item
            if it.node >= 0:
                info.append(middle_cut(clean_text(self.map_tree.path(it.node), 2000), 120) + ("/" if it.is_dir else ""),
                            "bold")
            else:
                info.append(it.name, "bold")
            total = sum(x.size for x in m.items)
            info.append(f"  {human(it.size)}" + (f" · {pct(it.size / total)} of this directory" if total else ""))
            if it.layer >= 0:
                info.append(f" · mostly stored by layer {it.layer}")
            if it.is_dir:
                info.append(f" · {it.count:,} entries", "dim")
        self.query_one("#map-info", Static).update(info)

    # -- keys ---------------------------------------------------------------
    def action_open(self) -> None:
        m = self.query_one("#map", SizeMap)
        b = m.box
        if b is None or self.map_tree is None:
            return
        if not b.item.is_dir or b.item.node < 0:
            self.app.notify("a file: t shows it in the tree; enter opens directories", timeout=3)
            return
        self.trail.append((self.node, m.cursor))
        self._show(b.item.node)

    def action_up(self) -> bool:
        if not self.trail:
            return False
        node, cursor = self.trail.pop()
        self._show(node, cursor)
        return True

    def action_back(self) -> None:
        if not self.action_up():
            self.dismiss()

    def action_close(self) -> None:
        self.dismiss()

    def action_show_in_tree(self) -> None:
        b = self.query_one("#map", SizeMap).box
        if b is None or self.map_tree is None or b.item.node < 0:
            return
        path = self.map_tree.path(b.item.node)
        lv = self.app.layer_view
        if lv.mode != "merged":
            lv.mode = "merged"
        self.app.show_in_layer_view(self.image, path, self.N)

    def system_commands(self) -> list[tuple]:
        return [
            ("Open directory", "Show the highlighted directory's entries (enter)", self.action_open),
            ("Up a directory", "Back to the directory above (backspace)", self.action_up),
            ("Show in tree", "The highlighted entry in the layer view's tree (t)", self.action_show_in_tree),
            ("Close the size map", "Back to the layer view (escape at the top, M)", self.action_close),
            ("Show keys", "Every key binding (?)", self.app.action_help),
        ]


__all__ = ["SizeMapScreen", "PALETTE"]
