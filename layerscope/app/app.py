"""The layerscope explorer: a Textual app over the core's model and analysis.

The app renders; the core computes.  Loading runs in thread workers: the
layer list appears from the manifest and config at once, layers are indexed
with a progress bar (finished layers can already be browsed), then the
analysis fills in sizes, waste, history and shadows.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import threading
from collections import OrderedDict
from typing import Iterable

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Label, ProgressBar, Select, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from .keybar import KeyBar
from ..analysis import LayerRow, analyse
from ..analysis.stack import Stack
from ..analysis.lazytree import StackIndex, lazy_merged_tree
from ..analysis.tree import S_DELETED, Cancelled, build_changes_tree, build_merged_tree
from ..errors import ImageError, one_line
from .filterbox import FilterBoxMixin
from . import gcfreeze
from ..model import FILE, HARDLINK, OPAQUE
from . import details as D
from . import preview as P
from .fmt import human, legend_text, pct, safe
from .fuzzy import PathIndex
from .lines import CursorList
from .screens import CompareScreen, ConfirmScreen, ExtractScreen, HelpScreen, JumpScreen
from .treemodel import TreeRows, change_mask, compile_filter, shown_mask
from .widgets import FileTreeView, LayerList, Pane, PreviewView, WasteList

AUTO_EXPAND_MAX = 400  # trees (or filtered trees) this small open fully
TREE_CACHE = 8  # trees kept: the current one, its neighbours and a few more
SWITCH_INTERVAL = 0.001  # s, see on_mount
TREE_DEBOUNCE = 0.05  # s the layer cursor rests before a tree that is not cached is built
DIFF_CACHE = 2
# actions of the layer view: off while the comparison or the graph is shown
MAIN_ACTIONS = frozenset({"jump", "toggle_mode", "toggle_sort", "toggle_changed", "filter", "preview", "waste",
                          "extract", "details", "image", "copy", "focus_pane", "compare"})
KEEP_EXPANDED_MAX = 5000
_FORCE = re.compile(r"\s*\(use --force[^)]*\)(; nothing was extracted)?")
KERNEL_NOTE = "an image carries no kernel: containers share the host's"


def _is_screen(scr, module: str, name: str) -> bool:
    """isinstance(scr, <module>.<name>) without importing that module (the
    comparison and graph screens: 10 ms of the explorer's start): no screen
    of a module never imported can exist."""
    mod = sys.modules.get(f"{__package__}.{module}")
    return mod is not None and isinstance(scr, getattr(mod, name))


def _start_resource_tracker() -> None:
    """The core indexes big images in worker processes (spawn).  Their pool
    cannot be created once Textual has replaced stderr (the resource tracker
    it starts needs the real one): the core then indexes in this process, on
    one core.  Starting the tracker now, before the app takes the terminal,
    keeps parallel indexing working under the app."""
    try:
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    except Exception:
        pass  # indexing falls back to one process


def _positions(types: bytearray, t: int):
    """Indexes of the entries of type t (bytearray.find runs at C speed)."""
    b = bytes([t])
    i = types.find(b)
    while i >= 0:
        yield i
        i = types.find(b, i + 1)


def ui(fn):
    """For callbacks that touch the main screen's widgets: a worker result or
    a timer that lands while the app shuts down is dropped, not an error."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kw):
        try:
            return fn(self, *args, **kw)
        except NoMatches:
            if self.shutting_down():
                return None
            raise

    return wrapper


def in_the_way(e: Exception, extract_module) -> bool:
    """Did extraction stop because something is in the way (so that asking to
    overwrite makes sense)?  The core's ExtractConflict says so; before it
    existed, the message's `--force` hint did."""
    conflict = getattr(extract_module, "ExtractConflict", None)
    if isinstance(conflict, type):
        return isinstance(e, conflict)
    return "--force" in str(e)


def note(text: str) -> str:
    """A message for notify(): markup-escaped and on one safe line."""
    return escape(one_line(text))


class LayerscopeApp(FilterBoxMixin, App):
    """layerscope: browse an image's layers, files, shadows and waste."""

    CSS_PATH = "app.tcss"
    TITLE = "layerscope"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Keys"),
        Binding("slash", "jump", "Jump"),
        Binding("m", "toggle_mode", "Mode"),
        Binding("s", "toggle_sort", "Sort"),
        Binding("c", "toggle_changed", "Changed"),
        Binding("f", "filter", "Filter"),
        Binding("p", "preview", "Preview"),
        Binding("w", "waste", "Waste"),
        Binding("x", "extract", "Extract"),
        Binding("d", "details", "Details", show=False),
        Binding("i", "image", "Image", show=False),
        Binding("v", "compare", "Compare", show=False),
        Binding("g", "graph", "Graph", show=False),
        Binding("z", "zoom", "Zoom", show=False),
        Binding("left_square_bracket", "copy(-1)", "Prev copy", show=False),
        Binding("right_square_bracket", "copy(1)", "Next copy", show=False),
        Binding("1", "focus_pane(1)", "Layers", show=False),
        Binding("2", "focus_pane(2)", "Files", show=False),
        Binding("3", "focus_pane(3)", "Side pane", show=False),
    ]

    def __init__(self, sources: list[str], image: str | None = None, platform: str | None = None,
                 base: int | None = None) -> None:
        """`sources`: archives (or `-`, docker://REF, podman://REF), each
        optionally ARCHIVE@REF for one image of it.  Two of them open the
        comparison of the two images; the layer view stays one key away."""
        from ..formats.source import split_spec

        super().__init__()
        _start_resource_tracker()
        self.specs = [split_spec(s) for s in sources]  # (source, ref or None)
        self.sources = list(dict.fromkeys(src for src, _ in self.specs))  # each archive read once
        self.want_image = image
        self.want_platform = platform
        self.base = base
        self.graph = None
        self.image = None
        self.analyses: dict[int, object] = {}  # id(image) -> ImageAnalysis
        self.analysing: set[int] = set()
        self.ranking: set[int] = set()  # analyses whose wasted paths a worker is ranking
        self.indexed_all = False
        self.fatal: str | None = None
        self.mode = "changes"
        self.sort = "name"
        self.only_changed = False
        self.filter_text = ""
        self.expanded_paths: set[str] = set()
        self.cursor_path: str | None = None
        self._tree_cache: OrderedDict = OrderedDict()
        self._stack_index: dict[int, object] = {}  # id(analysis) -> StackIndex (None while building)
        self._tree_lock = threading.Lock()  # a cancelled tree worker may still be finishing
        self._tree_token = 0
        self._tree_timer = None
        self._details_timer = None
        self._filter_timer = None
        self._preview_timer = None
        self._details_for = "layer"
        self._path_index: dict[int, PathIndex] = {}
        self._preview: dict | None = None
        self._waiting_tree = False
        self.last_extract = None
        self._main_screen = None
        self.diffs: OrderedDict = OrderedDict()  # (id(a), id(b)) -> (ImageDiff, DiffTree)
        self._diffing: set = set()
        self._pending_diffs: list = []  # (a, b) to compare once every layer is indexed
        self._index_note = ""

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        with Horizontal(id="summary-row"):
            yield Static(Text("opening " + ", ".join(safe(s, 200) for s in self.sources) + " …"), id="summary")
        with Horizontal(id="picker-row"):
            yield Label("image:", id="picker-label")
            yield Select([], prompt="image", id="image-picker", allow_blank=True, compact=True)
            yield Label("", id="picker-note")
        with Horizontal(id="progress-row"):
            yield Label("indexing layers", id="progress-label")
            yield ProgressBar(total=None, id="progress", show_eta=False)
        with Pane(id="layers-pane"):
            yield Static(LayerList.header(False), id="layers-header")
            yield LayerList(id="layers")
        with Horizontal(id="bottom"):
            with Pane(id="files-pane"):
                yield FileTreeView(id="tree")
                yield Input(placeholder="filter: glob like *.so or usr/lib/*, or re:REGEX; escape clears",
                            id="filter", compact=True)
                yield Static(legend_text(False), id="legend")
            with Pane(id="side-pane"), TabbedContent(id="side", initial="details-tab"):
                with TabPane("Details", id="details-tab"):
                    with VerticalScroll(id="details-scroll"):
                        yield Static(Text("select a layer or a file", style="dim"), id="details")
                with TabPane("Preview", id="preview-tab"):
                    yield Static(Text("p on a file shows its content here", style="dim"), id="preview-title")
                    yield PreviewView(id="preview")
                with TabPane("Waste", id="waste-tab"):
                    yield Static(Text("", style="dim"), id="waste-title")
                    yield WasteList(id="waste")
                with TabPane("Image", id="image-tab"):
                    with VerticalScroll(id="image-scroll"):
                        yield Static(Text("reading…", style="dim"), id="image-info")
        yield KeyBar()  # Textual's Footer rebuilt a dozen widgets on every focus move

    def shutting_down(self) -> bool:
        ms = self._main_screen
        return bool(self._exit or self._closing or self._closed or not self.is_running
                    or ms is None or not ms.is_attached)

    def q(self, selector: str, expect_type=None):
        """A widget of the main screen (whatever modal is on top)."""
        scr = self._main_screen if self._main_screen is not None else self.screen
        return scr.query_one(selector, expect_type) if expect_type else scr.query_one(selector)

    _fq = q  # the filter box lives on the main screen

    def on_mount(self) -> None:
        # Loading, trees and details run in threads.  While one computes, every
        # time the event loop waits (it does, many times a frame) it must then
        # wait up to the GIL switch interval to run again: 5 ms by default,
        # which stretched a 20 ms repaint to 50-60 ms.  1 ms keeps the UI ahead.
        sys.setswitchinterval(SWITCH_INTERVAL)
        self._main_screen = self.screen
        self.q("#layers-pane").border_title = "Layers"
        self._files_title()
        self._side_title()
        self.q("#layers", LayerList).focus()
        self._load()

    # ----------------------------------------------------------------- loading
    @work(thread=True, group="load", exit_on_error=False)
    def _load(self) -> None:
        from ..formats.source import open_graph
        from ..layers.indexing import index_layers

        try:
            graph = open_graph(self.sources, platform=self.want_platform)
            sides = [self._pick(graph, src, ref) for src, ref in self.specs]
        except ImageError as e:
            self.call_from_thread(self._set_fatal, e.line())
            return
        except Exception as e:  # never a traceback on a torn-down screen
            self.call_from_thread(self._set_fatal, f"cannot open: {type(e).__name__}: {e}")
            return
        pair = (sides[0], sides[1]) if len(sides) == 2 else None
        try:
            self.call_from_thread(self._graph_ready, graph, sides[0], pair)
        except Exception as e:  # a bug: say so rather than stop silently
            self.call_from_thread(self._set_fatal, f"cannot show the image: {type(e).__name__}: {e}")
            return

        def progress(d, t, layer):
            self.call_from_thread(self._progress, d, t, layer)

        try:
            # the core indexes in this process when worker processes cannot start
            index_layers(graph, progress=progress)
        except Exception as e:
            self.call_from_thread(self._set_fatal, f"indexing failed: {type(e).__name__}: {e}")
            return
        self.call_from_thread(self._indexed)

    def _pick(self, graph, src: str, ref: str | None):
        """The image `ref` (or --image, else the host's platform) among the
        images that came from `src`."""
        return graph.pick(ref or self.want_image, self.want_platform, source=src)

    @ui
    def _set_fatal(self, msg: str) -> None:
        self.fatal = msg
        t = Text()
        t.append("error: ", "bold red")
        t.append(safe(msg, 2000), "red")
        self.q("#summary", Static).update(t)
        self.q("#progress-row").add_class("done")
        layers = self.q("#layers", LayerList)
        layers.placeholder = "nothing to show: " + safe(msg, 400)
        layers.refresh()
        tree = self.q("#tree", FileTreeView)
        tree.set_model(None, placeholder="nothing to show (see the error above); q quits")
        self.notify(note(msg), title="layerscope", severity="error", timeout=30)
        for scr in self.screen_stack:
            if _is_screen(scr, "diffview", "DiffScreen") and scr.diff is None:
                scr.failed(msg)

    @ui
    def _graph_ready(self, graph, image, pair=None) -> None:
        from .fmt import image_labels

        self.graph = graph
        self.image = image
        for w in graph.warnings[:5]:
            self.notify(note(w), severity="warning", timeout=8)
        picker = self.q("#image-picker", Select)
        if len(graph.images) > 1:
            opts = []
            for k, label in enumerate(image_labels(graph.images)):
                opts.append((Text(safe(label, 120)), k))
            picker.set_options(opts)
            picker.value = graph.images.index(image)
            picker.add_class("multi")
            self.q("#picker-row").add_class("multi")
            where = "in the archive" if len(self.sources) == 1 else f"from {len(self.sources)} archives"
            self.q("#picker-note", Label).update(
                Text(f"{len(graph.images)} images {where} · i switch · v compare · g layer graph", style="dim"))
        self.q("#layers-header", Static).update(LayerList.header(len(graph.images) > 1))
        bar = self.q("#progress", ProgressBar)
        todo = sum(1 for l in graph.layers.values() if not l.indexed)
        bar.update(total=max(1, todo), progress=0)
        self._show_image(keep_row=False)
        if pair is not None:
            self.open_diff(*pair)

    @ui
    def _progress(self, done: int, total: int, layer) -> None:
        bar = self.q("#progress", ProgressBar)
        bar.update(total=max(1, total), progress=done)
        self.q("#progress-label", Label).update(f"indexing layers {done}/{total}")
        self._index_note = f"indexing layers {done}/{total}…"
        for scr in self.screen_stack:
            if _is_screen(scr, "diffview", "DiffScreen") and scr.diff is None and scr.error is None:
                scr.waiting(self._index_note + " then comparing")
        if layer.error:
            self.notify(note(layer.error), severity="error", timeout=10)
        gcfreeze.settle()  # the layer's index is here to stay
        self.q("#layers", LayerList).refresh()
        if self._waiting_tree:
            self._request_tree()

    @ui
    def _indexed(self) -> None:
        self.indexed_all = True
        gcfreeze.settle()
        self.q("#progress-label", Label).update("analysing: sizes, shadows, waste…")
        self.q("#progress", ProgressBar).update(total=None)
        self.q("#layers", LayerList).refresh()
        self._start_analysis(self.image)
        pending, self._pending_diffs = self._pending_diffs, []
        for a, b in pending:
            self._start_diff(a, b)
        for scr in self.screen_stack:
            if _is_screen(scr, "graphview", "GraphScreen"):
                scr.refresh_data()

    def _start_analysis(self, image) -> None:
        if id(image) in self.analyses or id(image) in self.analysing:
            return
        self.analysing.add(id(image))
        self._analyse(image)

    @work(thread=True, group="analyse", exit_on_error=False)
    def _analyse(self, image) -> None:
        try:
            a = analyse(self.graph, image, base_layers=self.base)
            a.os_release()  # reads a file: do it here, not on the UI thread
        except ImageError as e:
            self.call_from_thread(self._set_fatal, e.line())
            return
        except Exception as e:
            self.call_from_thread(self._set_fatal, f"analysis failed: {type(e).__name__}: {e}")
            return
        self.call_from_thread(self._analysed, image, a)

    @ui
    def _analysed(self, image, a) -> None:
        self.analyses[id(image)] = a
        self.analysing.discard(id(image))
        gcfreeze.settle()
        self._start_stack_index(a)
        if image is self.image:
            self.q("#progress-row").add_class("done")
            self._show_image(keep_row=True)

    # ------------------------------------------------------------ image level
    @property
    def analysis(self):
        return self.analyses.get(id(self.image)) if self.image is not None else None

    def _rows_for(self, image, a) -> list[LayerRow]:
        if a is not None:
            return a.layer_rows()
        rows = []
        if image.history_mapped:
            for s, h in enumerate(image.history):
                layer = image.layers[h.layer_index] if h.layer_index is not None else None
                rows.append(LayerRow(s, h.layer_index, h.created_by, layer))
        else:
            for L, layer in enumerate(image.layers):
                rows.append(LayerRow(L, L, "", layer))
        return rows

    @ui
    def _show_image(self, keep_row: bool) -> None:
        image, a = self.image, self.analysis
        layers = self.q("#layers", LayerList)
        rows = self._rows_for(image, a)
        multi = len(self.graph.images) > 1
        old = layers.cursor if keep_row else None
        layers.set_rows(rows, a is not None, multi)
        pane = self.q("#layers-pane")
        pane.border_title = f"Layers: {len(image.layers)} layers, {len(rows)} build steps"
        pane.border_subtitle = "↑↓ pick a layer · tab: its files · ? all keys"
        self._fit_layers_pane()
        if old is None:
            # start on the last layer that made files: what the image ends with
            last = max((i for i, r in enumerate(rows) if r.index is not None), default=0)
            layers.cursor = last
        else:
            layers.cursor = min(old, len(rows) - 1)
        self._update_summary()
        self.q("#image-info", Static).update(D.image_details(image, a))
        self.title = f"layerscope — {safe(image.name, 80)}"
        self._fill_waste(a)
        self._request_tree(now=True)

    def _fill_waste(self, a) -> None:
        """The waste list of analysis `a`: its wasted paths, biggest first.
        Ranking them takes a while on a big image (0.4 s alone on the
        500,000-entry one, more while the first tree is being built), so it
        runs in a worker after the analysis is shown, not before."""
        waste = self.q("#waste", WasteList)
        if a is None:
            waste.set_items([])
            waste.placeholder = "the waste view fills in once every layer is indexed"
            self.q("#waste-title", Static).update(Text("waiting for the analysis…", style="dim"))
            return
        if not a.waste.is_ranked:
            waste.set_items([])
            waste.placeholder = "ranking the wasted paths…"
            self.q("#waste-title", Static).update(Text("ranking the wasted paths…", style="dim"))
            if id(a) not in self.ranking:  # once per analysis, however often the image is shown
                self.ranking.add(id(a))
                self._rank(a)
            return
        items = a.waste.ranked()
        waste.set_items(items)
        wt = Text()
        wt.append(f"{len(items):,} paths cost {human(a.totals()['wasted_bytes'])} of hidden bytes", "bold")
        wt.append("  (biggest first; enter shows the file in the tree)", "dim")
        self.q("#waste-title", Static).update(wt)

    @work(thread=True, group="rank", exit_on_error=False)
    def _rank(self, a) -> None:
        try:
            a.waste.ranked()
        except Exception as e:  # a bug: say so in the view rather than stop silently
            self.call_from_thread(self.notify, note(f"ranking the wasted paths failed: {type(e).__name__}: {e}"),
                                  severity="error", timeout=10)
            self.call_from_thread(self.ranking.discard, id(a))
            return
        self.call_from_thread(self._ranked, a)

    @ui
    def _ranked(self, a) -> None:
        self.ranking.discard(id(a))
        if self.analysis is a:
            self._fill_waste(a)

    def _fit_layers_pane(self) -> None:
        n = self.q("#layers", LayerList).row_count()
        h = self.size.height or 40
        self.q("#layers-pane").styles.height = max(6, min(n + 3, int(h * 0.36)))

    @ui
    def on_resize(self) -> None:
        if self.graph is not None:
            self._fit_layers_pane()

    def _update_summary(self) -> None:
        image, a = self.image, self.analysis
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append("layerscope  ", "bold magenta")
        t.append(safe(image.name, 120), "bold")
        if len(image.refs) > 1:
            t.append(f" (+{len(image.refs) - 1} tags)", "dim")
        t.append("  " + safe(str(image.platform), 60), "cyan")
        digest = (image.digest or "").split(":", 1)[-1][:12]
        if digest:
            t.append(f"  {digest}", "dim")
        if len(self.sources) > 1 and image.source:
            t.append("  " + safe(image.source, 200), "dim")
        t.append("\nOS: ", "dim")
        if a is not None:
            osr = a.os_release() or {}
            os_name = osr.get("PRETTY_NAME") or osr.get("NAME") or ""
            t.append(safe(os_name, 80) if os_name else "unknown (no /etc/os-release)", "bold" if os_name else "dim")
        else:
            t.append("…", "dim")
        t.append(f"  ({KERNEL_NOTE})", "dim italic")
        t.append("\n")
        if a is not None:
            tot = a.totals()
            broken = [L for L, l in enumerate(image.layers) if l.error]
            if broken:
                t.append(f"{len(broken)} layer(s) could not be read ({', '.join(map(str, broken[:5]))}): "
                         "the figures leave them out · ", "bold red")
            t.append(f"{a.stack.n} layers", "bold")
            t.append(" · ")
            t.append(human(tot["size"]), "bold")
            t.append(" of files · ")
            t.append(human(tot["wasted_bytes"]), "bold red" if tot["wasted_bytes"] else "bold")
            t.append(f" wasted ({pct(tot['wasted_bytes'] / tot['size'] if tot['size'] else 0)})")
            t.append(" · efficiency ")
            eff = tot["efficiency"]
            t.append(pct(eff), "bold green" if eff >= 0.95 else "bold yellow" if eff >= 0.8 else "bold red")
            t.append(f" · {tot['entries']:,} entries")
            if tot["user_wasted_bytes"] != tot["wasted_bytes"]:
                t.append(f" · {human(tot['user_wasted_bytes'])} of it above the base", "dim")
        else:
            stored = sum(l.compressed_size for l in image.layers)
            t.append(f"{len(image.layers)} layers · {human(stored)} stored", "bold")
            t.append(" · indexing…", "dim")
        self.q("#summary", Static).update(t)

    @on(Select.Changed, "#image-picker")
    @ui
    def _image_picked(self, event: Select.Changed) -> None:
        if self.graph is None or not isinstance(event.value, int):
            return
        self.switch_image(self.graph.images[event.value])

    def switch_image(self, im) -> bool:
        """Show `im` in the layer view; False when it is already shown."""
        if im is self.image:
            return False
        self.image = im
        self._preview = None
        picker = self.q("#image-picker", Select)
        if picker.has_class("multi"):
            picker.value = self.graph.images.index(im)  # its Changed event then finds nothing to do
        self._show_image(keep_row=False)
        if self.indexed_all:
            self._start_analysis(im)
        self.notify(note(f"image {im.name}"), timeout=3)
        return True

    def show_in_layer_view(self, im, path: str | None = None, layer: int | None = None) -> None:
        """Back on the layer view: image `im`, at `layer` (its top layer by
        default), with `path` selected in the tree when given."""
        while self.screen is not self._main_screen and len(self.screen_stack) > 1:
            self.pop_screen()
        self.switch_image(im)
        if layer is None:
            layer = len(im.layers) - 1
        if path:
            self.goto(path, layer)
            return
        layers = self.q("#layers", LayerList)
        row = layers.row_of_layer(layer)
        if row is not None:
            layers.cursor = row
        self.call_after_refresh(layers.focus)

    # ------------------------------------------------------------- compare
    def action_compare(self) -> None:
        """Pick a second image and compare the current one with it."""
        from .fmt import image_labels

        if self.graph is None or self.image is None:
            return
        images = self.graph.images
        if len(images) < 2:
            self.notify("only one image is loaded: open two to compare them "
                        "(layerscope A B, or ARCHIVE@REF for an image inside an archive)", timeout=6)
            return
        last = next((b for (a, b) in ((d.a_image, d.b_image) for d, _ in reversed(self.diffs.values()))
                     if a is self.image), None)

        def chosen(k) -> None:
            if k is not None:
                self.open_diff(self.image, images[k])

        self.push_screen(CompareScreen(images, self.image, image_labels(images),
                                       images.index(last) if last is not None else None), chosen)

    def open_diff(self, a, b) -> None:
        """Show the comparison of image a (A) with image b (B)."""
        from .diffview import DiffScreen

        scr = DiffScreen(a, b)
        key = (id(a), id(b))
        got = self.diffs.get(key)
        if got is not None:
            self.diffs.move_to_end(key)
            scr.set_diff(*got)
        if _is_screen(self.screen, "diffview", "DiffScreen"):
            self.switch_screen(scr)
        else:
            self.push_screen(scr)
        if got is not None:
            return
        if self.fatal:
            scr.failed(self.fatal)
        elif self.indexed_all:
            scr.waiting("comparing…")
            self._start_diff(a, b)
        else:
            if (a, b) not in self._pending_diffs:
                self._pending_diffs.append((a, b))
            scr.waiting((self._index_note or "indexing layers…") + " then comparing")

    def _start_diff(self, a, b) -> None:
        key = (id(a), id(b))
        if key in self._diffing or key in self.diffs:
            return
        self._diffing.add(key)
        self._diff_worker(a, b)

    @work(thread=True, group="diff", exit_on_error=False)
    def _diff_worker(self, a, b) -> None:
        from ..analysis.diff import diff_images
        from ..analysis.difftree import diff_tree

        try:
            for side, im in (("A", a), ("B", b)):
                for L, layer in enumerate(im.layers):
                    if layer.error:
                        raise ImageError(f"{side}: layer {L}: {layer.error}")
            d = diff_images(self.graph, a, self.graph, b)
            t = diff_tree(d)
        except ImageError as e:
            self.call_from_thread(self._diff_failed, a, b, e.line())
            return
        except Exception as e:
            self.call_from_thread(self._diff_failed, a, b, f"comparison failed: {type(e).__name__}: {e}")
            return
        self.call_from_thread(self._diff_ready, a, b, d, t)

    def _diff_failed(self, a, b, msg: str) -> None:
        self._diffing.discard((id(a), id(b)))
        for scr in self.screen_stack:
            if _is_screen(scr, "diffview", "DiffScreen") and scr.a is a and scr.b is b:
                scr.failed(msg)

    def _diff_ready(self, a, b, d, t) -> None:
        key = (id(a), id(b))
        self._diffing.discard(key)
        self.diffs[key] = (d, t)
        gcfreeze.settle()
        while len(self.diffs) > DIFF_CACHE:
            self.diffs.popitem(last=False)
        for scr in self.screen_stack:
            if _is_screen(scr, "diffview", "DiffScreen") and scr.a is a and scr.b is b and scr.diff is None:
                scr.set_diff(d, t)

    def action_graph(self) -> None:
        """The layer graph of every loaded image."""
        if self.graph is None:
            return
        from .graphview import GraphScreen

        self.push_screen(GraphScreen())

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # the layer view's keys do nothing while the comparison or the graph is shown
        ms = self._main_screen
        if ms is None:
            return True
        view = next((s for s in reversed(self.screen_stack) if not s.is_modal), ms)  # what a dialog covers
        if action in MAIN_ACTIONS and view is not ms:
            return False
        if action == "graph" and _is_screen(view, "graphview", "GraphScreen"):
            return False
        return True

    # ------------------------------------------------------------- layer list
    def _current_row(self):
        layers = self.q("#layers", LayerList)
        if not layers.rows:
            return None
        return layers.rows[min(layers.cursor, len(layers.rows) - 1)]

    @on(CursorList.Highlighted, "#layers")
    @ui
    def _layer_highlighted(self, event: CursorList.Highlighted) -> None:
        row = self._current_row()
        if row is None:
            return
        if self.focused is event.widget or self._details_for == "layer":
            self._show_layer_details()
        if self._tree_timer is not None:
            self._tree_timer.stop()
            self._tree_timer = None
        if self._tree_is_cached(row.index):
            self._request_tree()  # no build: show it at once
        else:  # wait for the cursor to rest before building (a held key passes many layers)
            self._tree_timer = self.set_timer(TREE_DEBOUNCE, self._request_tree)

    def _tree_is_cached(self, N: int | None) -> bool:
        if N is None or self.image is None:
            return True  # a step without a layer: nothing to build
        key = self._tree_key(self.image, self.analysis, N, self.mode, bool(self.filter_text))
        with self._tree_lock:
            return key in self._tree_cache

    def _tree_key(self, image, a, N: int, mode: str, filtering: bool):
        """The tree cache's key; also says whether the tree is a lazy merged view
        (built from the stack's index once it is ready; a filter reads every path,
        so it gets an eager tree of its own)."""
        lazy = (mode == "merged" and a is not None and not filtering
                and self._stack_index.get(id(a)) is not None)
        return (id(image), N, mode, a is not None, lazy)

    def _start_stack_index(self, a) -> None:
        if id(a) not in self._stack_index:
            self._stack_index[id(a)] = None  # being built
            self._build_stack_index(a)

    @work(thread=True, group="stackindex", exit_on_error=False)
    def _build_stack_index(self, a) -> None:
        """Once per analysed image, in the background: what makes every merged
        view a matter of milliseconds (analysis.lazytree)."""
        try:
            ix = StackIndex(a.stack)
        except Exception:
            return  # merged views stay eager
        self.call_from_thread(self._stack_index_ready, a, ix)

    def _stack_index_ready(self, a, ix) -> None:
        self._stack_index[id(a)] = ix
        gcfreeze.settle()

    @on(CursorList.Selected, "#layers")
    @ui
    def _layer_selected(self) -> None:
        self.q("#tree", FileTreeView).focus()

    @ui
    def _show_layer_details(self) -> None:
        row = self._current_row()
        if row is None or self.image is None:
            return
        self._details_for = "layer"
        self.q("#details", Static).update(
            D.layer_details(row, self.analysis, self.image, len(self.graph.images) > 1))
        self.q("#details-scroll").scroll_home(animate=False)
        self._side_title(f"Details: layer {row.index}" if row.index is not None
                         else f"Details: step {row.step} (no layer)")

    # -------------------------------------------------------------- file tree
    def _files_title(self, extra: str = "") -> None:
        row = self._current_row() if self.graph is not None else None
        if row is None:
            title = "Files"
        elif row.index is None:
            title = f"Files: step {row.step} made no layer"
        else:
            view = "changes of layer" if self.mode == "changes" else "merged view at layer"
            title = f"Files: {view} {row.index}"
        bits = [f"sort: {self.sort}"]
        if self.only_changed:
            bits.append("only changed")
        if self.filter_text:
            bits.append("filter: " + safe(self.filter_text, 40))
        pane = self.q("#files-pane")
        pane.border_title = title
        pane.border_subtitle = " · ".join(bits) + (f" · {extra}" if extra else "")

    @ui
    def _request_tree(self, now: bool = False) -> None:
        self._tree_timer = None
        tree = self.q("#tree", FileTreeView)
        self._files_title()
        self._waiting_tree = False
        row = self._current_row()
        if row is None or self.image is None:
            return
        if tree.model is not None and tree.node is not None and tree.model.tree is not None:
            self.cursor_path = tree.model.tree.path(tree.node)
            if not self.filter_text:
                exp = tree.model.expanded
                if len(exp) <= KEEP_EXPANDED_MAX:
                    self.expanded_paths = {tree.model.tree.path(n) for n in exp}
        if row.index is None:
            self._tree_token += 1
            tree.set_model(None, placeholder=f"step {row.step} made no layer: it only changed the image config "
                                             "(see the details). Pick another step.")
            return
        N = row.index
        a = self.analysis
        if a is None:
            pending = [L for L in range(N + 1) if not self.image.layers[L].indexed]
            if pending:
                self._waiting_tree = True
                self._tree_token += 1
                tree.set_model(None, placeholder=f"waiting for layer {pending[0]} to be indexed "
                                                 f"({len(pending)} of layers 0–{N} still to go)…")
                return
            if all(layer.indexed for layer in self.graph.layers.values()):
                # every layer is indexed, so this image's analysis is next
                # (or running): a tree built now would repeat its merge pass
                # while competing with it for the GIL, then be built again
                self._waiting_tree = True
                self._tree_token += 1
                if tree.model is None:
                    tree.set_model(None, placeholder="analysing the layers, then the tree…")
                return
        try:
            pred = compile_filter(self.filter_text) if self.filter_text else None
            self.q("#filter", Input).remove_class("error")
        except ValueError as e:
            pred = None
            self.q("#filter", Input).add_class("error")
            self.notify(note(str(e)), severity="error", timeout=4)
        self._tree_token += 1
        if tree.model is None:
            tree.placeholder = "building the tree…"
            tree.refresh()
        self.workers.cancel_group(self, "prefetch")  # this tree first
        self._build_tree(self._tree_token, self.image, a, N, self.mode, self.sort, self.only_changed, pred,
                         bool(self.filter_text), set(self.expanded_paths), self.cursor_path)

    def _cached_tree(self, image, a, N: int, mode: str, filtering: bool, cancelled):
        """(tree, change mask, opaque nodes) of layer N, from the cache or built
        (in a worker thread; `cancelled()` stops the build)."""
        key = self._tree_key(image, a, N, mode, filtering)
        with self._tree_lock:
            got = self._tree_cache.get(key)
            if got is not None:
                self._tree_cache.move_to_end(key)
                return got
        if a is not None:
            stack, kinds = a.stack, a.kinds
        else:  # still indexing: the layers up to N are enough for this tree
            stack, kinds = Stack(image, image.layers[:N + 1]), None
        t = None
        if key[-1]:
            t = lazy_merged_tree(stack, kinds, N, self._stack_index[id(a)], cancelled)
        if t is None:
            t = (build_merged_tree if mode == "merged" else build_changes_tree)(stack, kinds, N, cancelled)
        changes = change_mask(t)
        le = t.stack.layers[N].entries
        opaque = frozenset(n for n in (t.find(le.paths[i]) for i in _positions(le.types, OPAQUE))
                           if n is not None)
        got = (t, changes, opaque)
        with self._tree_lock:
            self._tree_cache[key] = got
            while len(self._tree_cache) > TREE_CACHE:
                self._tree_cache.popitem(last=False)
        return got

    def _prefetch_neighbours(self, N: int) -> None:
        """Build the trees of the layers above and below N in the background,
        so that the next move in the layer list shows its tree at once."""
        a = self.analysis
        if a is None or self.filter_text or self.image is None:
            return
        todo = []
        for L in (N + 1, N - 1):
            if 0 <= L < len(self.image.layers):
                key = self._tree_key(self.image, a, L, self.mode, False)
                with self._tree_lock:
                    if key in self._tree_cache:
                        self._tree_cache.move_to_end(key)  # a neighbour: keep it
                        continue
                todo.append(L)
        if todo:
            self._prefetch(self.image, a, todo, self.mode)

    @work(thread=True, exclusive=True, group="prefetch", exit_on_error=False)
    def _prefetch(self, image, a, Ls: list[int], mode: str) -> None:
        worker = get_current_worker()
        for L in Ls:
            if worker.is_cancelled:
                return
            try:
                self._cached_tree(image, a, L, mode, False, lambda: worker.is_cancelled)
            except Exception:
                return  # (a Cancelled build, or one that the request will report)

    @work(thread=True, exclusive=True, group="tree", exit_on_error=False)
    def _build_tree(self, token, image, a, N, mode, sort, only_changed, pred, filtering, expanded_paths,
                    cursor_path) -> None:
        worker = get_current_worker()
        try:
            got = self._cached_tree(image, a, N, mode, filtering, lambda: worker.is_cancelled)
            t, changes, opaque = got
            if worker.is_cancelled:
                return
            keep, matches, kept = shown_mask(t, changes if only_changed else None, pred)
            expanded = set()
            for p in expanded_paths:
                n = t.find(p)
                if n is not None:
                    expanded.add(n)
            rows = TreeRows(t, sort, keep, expanded)
            if filtering or (kept <= AUTO_EXPAND_MAX and (mode == "changes" or only_changed)):
                rows.expand_all()
            cursor = rows.reveal_path(cursor_path)
        except Cancelled:
            return
        except Exception as e:
            self.call_from_thread(self.notify, note(f"cannot build the tree: {type(e).__name__}: {e}"),
                                  severity="error")
            return
        if not worker.is_cancelled:
            self.call_from_thread(self._install_tree, token, rows, changes if mode == "merged" else None,
                                  cursor, matches, opaque)

    @ui
    def _install_tree(self, token, rows: TreeRows, changes, cursor: int, matches, opaque=frozenset()) -> None:
        if token != self._tree_token:
            return
        gcfreeze.settle()
        tree = self.q("#tree", FileTreeView)
        if not rows.rows:
            if self.filter_text:
                ph = "nothing matches the filter (escape in the filter box clears it)"
            elif self.only_changed:
                ph = "no changes in this view (c shows everything)"
            else:
                broken = rows.tree.stack.layers[rows.tree.layer].error if rows.tree.mode == "changes" else None
                ph = (f"this layer could not be read: {one_line(broken)}" if broken
                      else "this layer lists no files")
            tree.set_model(rows, changes, 0, placeholder=ph, opaque=opaque)
        else:
            tree.set_model(rows, changes, cursor, opaque=opaque)
        self._prefetch_neighbours(rows.tree.layer)
        extra = f"{matches:,} match(es)" if matches is not None else ""
        if self.analysis is None:
            extra = (extra + " · " if extra else "") + "analysis pending"
        self._files_title(extra)
        self.q("#legend", Static).update(legend_text(self.mode == "merged"))

    @on(CursorList.Highlighted, "#tree")
    @ui
    def _tree_highlighted(self, event: CursorList.Highlighted) -> None:
        tree = self.q("#tree", FileTreeView)
        if tree.node is None:
            return
        self.cursor_path = tree.model.tree.path(tree.node)
        if self.focused is tree or self._details_for == "path":
            self._schedule_path_details()
        if self.q("#side", TabbedContent).active == "preview-tab" and self.analysis is not None:
            if self._preview_timer is not None:
                self._preview_timer.stop()
            self._preview_timer = self.set_timer(0.15, self._follow_preview)

    @ui
    def _follow_preview(self) -> None:
        """The preview follows the tree's cursor while its tab is shown."""
        self._preview_timer = None
        t, node = self._selected()
        if t is None or (self._preview and self._preview.get("path") == t.path(node)):
            return
        if t.is_dir(node) or t.status[node] == S_DELETED:
            self._preview = None
            msg = "a directory: select a file to preview it" if t.is_dir(node) else \
                "deleted at this layer: pick a lower layer, or [ ] on a copy"
            self.q("#preview-title", Static).update(Text(safe(t.path(node), 300) + "\n" + msg, style="dim"))
            self.q("#preview", PreviewView).set_lines([])
            return
        self.action_preview(quiet=True)

    def _schedule_path_details(self) -> None:
        if self._details_timer is not None:
            self._details_timer.stop()
        self._details_timer = self.set_timer(0.05, self._request_path_details)

    @ui
    def _request_path_details(self) -> None:
        self._details_timer = None
        tree = self.q("#tree", FileTreeView)
        node = tree.node
        if node is None:
            return
        self._details_for = "path"
        self._path_details(tree.model.tree, node, self.analysis)

    @work(thread=True, exclusive=True, group="details", exit_on_error=False)
    def _path_details(self, t, node, a) -> None:
        worker = get_current_worker()
        try:
            text = D.path_details(t, node, a, self.image)
        except Exception as e:
            text = Text(f"cannot show details: {type(e).__name__}: {e}", style="red")
        if not worker.is_cancelled:
            self.call_from_thread(self._set_path_details, t, node, text)

    @ui
    def _set_path_details(self, t, node, text: Text) -> None:
        self.q("#details", Static).update(text)
        self.q("#details-scroll").scroll_home(animate=False)
        self._side_title("Details: " + safe(t.name(node), 60))

    @ui
    def on_descendant_focus(self, event) -> None:
        w = event.widget
        if isinstance(w, LayerList):
            self._show_layer_details()
        elif isinstance(w, FileTreeView) and w.id == "tree" and w.node is not None:
            self._schedule_path_details()

    @on(FileTreeView.FileActivated, "#tree")
    @ui
    def _file_activated(self) -> None:
        self.action_preview()

    # ---------------------------------------------------------------- actions
    def action_toggle_mode(self) -> None:
        self.mode = "merged" if self.mode == "changes" else "changes"
        self.notify(f"file tree: {'merged view at the layer' if self.mode == 'merged' else 'changes of the layer'}",
                    timeout=2)
        self._request_tree()

    def action_toggle_sort(self) -> None:
        self.sort = "size" if self.sort == "name" else "name"
        self._request_tree()

    def action_toggle_changed(self) -> None:
        self.only_changed = not self.only_changed
        self._request_tree()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._filter_typed(event.value)

    @ui
    def _apply_filter(self, value: str) -> None:
        super()._apply_filter(value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self._filter_entered(event)

    def on_key(self, event) -> None:
        if event.key == "escape":
            f = self.q("#filter", Input)
            if self.focused is f or (self.filter_text and self.focused is self.q("#tree")):
                self.clear_filter()
                self.q("#tree", FileTreeView).focus()
                event.stop()
            elif self.screen.maximized is not None:
                self.screen.minimize()
                event.stop()

    def action_details(self) -> None:
        self.q("#side", TabbedContent).active = "details-tab"

    def action_waste(self) -> None:
        self.q("#side", TabbedContent).active = "waste-tab"
        self.q("#waste", WasteList).focus()
        if self.analysis is None:
            self.notify("the waste view fills in once every layer is indexed", timeout=3)

    def action_image(self) -> None:
        self.q("#side", TabbedContent).active = "image-tab"
        picker = self.q("#image-picker", Select)
        if picker.has_class("multi"):
            picker.focus()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_zoom(self) -> None:
        scr = self.screen
        if scr.maximized is not None:
            scr.minimize()
            return
        w = self.focused
        if w is None:
            return
        target = w
        for anc in w.ancestors_with_self:
            if isinstance(anc, Pane):
                target = anc
                break
        scr.maximize(target, container=False)

    def action_focus_pane(self, n: int) -> None:
        if n == 1:
            self.q("#layers", LayerList).focus()
        elif n == 2:
            self.q("#tree", FileTreeView).focus()
        else:
            side = self.q("#side", TabbedContent)
            target = {"details-tab": "#details-scroll", "preview-tab": "#preview", "waste-tab": "#waste",
                      "image-tab": "#image-scroll"}.get(side.active or "", "#details-scroll")
            self.q(target).focus()

    def _side_title(self, details: str | None = None) -> None:
        if details is not None:
            self._details_title = details
        active = self.q("#side", TabbedContent).active
        title = {"details-tab": getattr(self, "_details_title", "Details"), "preview-tab": "Preview",
                 "waste-tab": "Waste: where hidden bytes are", "image-tab": "Image config"}.get(active, "")
        self.q("#side-pane").border_title = title

    @on(TabbedContent.TabActivated, "#side")
    @ui
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        self._side_title()

    # -- preview -------------------------------------------------------------
    def _selected(self):
        """(tree, node) of the file tree's cursor, or (None, None)."""
        tree = self.q("#tree", FileTreeView)
        if tree.model is None or tree.node is None:
            return None, None
        return tree.model.tree, tree.node

    def action_preview(self, quiet: bool = False) -> None:
        t, node = self._selected()
        a = self.analysis
        if t is None:
            self.notify("select a file in the tree first", timeout=3)
            return
        if t.is_dir(node):
            self.notify("preview shows files; this is a directory (enter opens it)", timeout=3)
            return
        if a is None:
            self.notify("the preview is available once every layer is indexed", timeout=3)
            return
        path = t.path(node)
        copies = [(ev.layer, ev.index) for ev in a.history(path)
                  if ev.entry is not None and ev.index is not None and ev.entry.type in (FILE, HARDLINK)]
        if not copies:
            e = t.entry(node)
            kind = e.type_name if e is not None else "directory"
            if quiet:
                self._preview = None
                self.q("#preview-title", Static).update(
                    Text(safe(path, 300) + f"\na {kind}: no content to preview", style="dim"))
                self.q("#preview", PreviewView).set_lines([])
            else:
                self.notify(note(f"{path} has no file content in any layer (it is a {kind})"), timeout=4)
            return
        ref = t.ref(node)
        pos = copies.index(ref) if ref in copies else len(copies) - 1
        self._preview = {"path": path, "copies": copies, "pos": pos}
        self.q("#side", TabbedContent).active = "preview-tab"
        self._load_preview()

    def action_copy(self, step: int) -> None:
        pv = self._preview
        if not pv:
            self.notify("p previews the selected file first", timeout=3)
            return
        if len(pv["copies"]) < 2:
            self.notify("this file has only one copy in the image", timeout=3)
            return
        pv["pos"] = (pv["pos"] + step) % len(pv["copies"])
        self.q("#side", TabbedContent).active = "preview-tab"
        self._load_preview()

    def _load_preview(self) -> None:
        pv = self._preview
        a = self.analysis
        L, i = pv["copies"][pv["pos"]]
        e = a.layers[L].entries.entry(i)
        st = a.waste.state(L, i) if e.type == FILE else ("visible" if a.stack.is_visible(L, i) else "hidden")
        t = Text()
        t.append(safe(pv["path"], 300), "bold")
        t.append(f"\ncopy {pv['pos'] + 1} of {len(pv['copies'])}: layer {L} · {human(e.size)} · ")
        t.append(st if st == "visible" else f"hidden ({st} at layer {a.stack.hidden_at[L][i]})",
                 "green" if st == "visible" else "yellow")
        if len(pv["copies"]) > 1:
            t.append("  [ ] other copies", "dim")
        self.q("#preview-title", Static).update(t)
        view = self.q("#preview", PreviewView)
        view.set_lines([Text("loading…", style="dim italic")])
        width = max(view.scrollable_content_region.width, self.q("#side-pane").size.width - 4) or 80
        self._read_preview(a, L, i, pv["path"], e.size, width)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def _read_preview(self, a, L, i, path, size, width) -> None:
        worker = get_current_worker()
        try:
            data = a.read(L, i, P.PREVIEW_CAP)
            lines, _ = P.render(data, path, size, width)  # (lines, the kind of rendering)
        except Exception as e:
            lines = [Text(f"cannot read: {type(e).__name__}: {safe(str(e), 300)}", style="red")]
        if not worker.is_cancelled:
            self.call_from_thread(self.q("#preview", PreviewView).set_lines, lines)

    # -- waste and jump --------------------------------------------------------
    @on(CursorList.Selected, "#waste")
    @ui
    def _waste_selected(self, event: CursorList.Selected) -> None:
        items = self.q("#waste", WasteList).items
        if not items:
            return
        w = items[event.index]
        last = max(c.layer for c in w.copies) if w.copies else None
        if last is None:
            return
        self.goto(w.path, last)

    def goto(self, path: str, layer: int) -> None:
        """Show `path` in the tree at `layer` and focus the tree."""
        layers = self.q("#layers", LayerList)
        row = layers.row_of_layer(layer)
        if row is None:
            return
        if self.filter_text:
            self.clear_filter()
            self.notify("filter cleared to show the path", timeout=3)
        self.cursor_path = path if path.startswith("/") else "/" + path
        # the highlighted handler would debounce; request at once with the new cursor path
        layers.set_reactive(CursorList.cursor, row)
        layers.rows_changed()
        self._details_for = "path"
        tree = self.q("#tree", FileTreeView)
        tree.set_model(None, placeholder="building the tree…")
        self._request_tree(now=True)
        tree.focus()

    def action_jump(self) -> None:
        if self.image is None:
            return
        image = self.image
        self._ensure_path_index(image)

        def ready() -> bool:
            return id(image) in self._path_index

        def search(q, cancelled):
            idx = self._path_index.get(id(image))
            if idx is None:
                return []
            a = self.analyses.get(id(image))
            out = []
            for p in idx.search(q, 200, cancelled):
                layers = idx.layers_of(p)
                lab = Text(no_wrap=True, overflow="ellipsis")
                lab.append("/" + safe(p, 300))
                gone = a is not None and a.stack.top_view.get(p) is None
                lab.append(("   layers " if len(layers) > 1 else "   layer ") + ",".join(map(str, layers[-8:])) + ("…" if len(layers) > 8 else ""),
                           "dim")
                if gone:
                    lab.append("  not in the final image", "yellow dim")
                out.append((p, lab))
            return out

        def done(path: str | None) -> None:
            if not path:
                return
            idx = self._path_index.get(id(image))
            L = idx.last_layer(path) if idx else None
            if L is None or image is not self.image:
                return
            self.goto(path, L)

        self.push_screen(JumpScreen(ready, search), done)

    def _ensure_path_index(self, image) -> None:
        if id(image) in self._path_index:
            return
        self._build_path_index(image)

    @work(thread=True, group="pathindex", exit_on_error=False)
    def _build_path_index(self, image) -> None:
        try:
            idx = PathIndex(image.layers)
        except Exception:
            return
        self.call_from_thread(self._path_index_ready, image, idx)

    @ui
    def _path_index_ready(self, image, idx) -> None:
        self._path_index[id(image)] = idx
        gcfreeze.settle()
        scr = self.screen
        if isinstance(scr, JumpScreen):
            scr.query_one("#jump-status", Static).update(Text(f"{len(idx):,} paths", style="dim"))
            q = scr.query_one("#jump-input", Input).value
            if q:
                scr.run_search(q)

    # -- extract ---------------------------------------------------------------
    def action_extract(self) -> None:
        t, node = self._selected()
        a = self.analysis
        if t is None:
            self.notify("select a file or directory in the tree first", timeout=3)
            return
        if a is None:
            self.notify("extraction is available once every layer is indexed", timeout=3)
            return
        if t.status[node] == S_DELETED:
            self.notify("this entry is deleted at this layer; pick a lower layer to extract it", timeout=4)
            return
        path = t.path(node)
        L = t.layer
        default = os.path.join(os.getcwd(), "layerscope-extract")

        def chosen(res) -> None:
            if res:
                dest, keep_setuid = res
                self._extract(a, L, path, dest, keep_setuid, False)

        self.push_screen(ExtractScreen(path, L, default), chosen)

    @work(thread=True, group="extract", exit_on_error=False)
    def _extract(self, a, L, path, dest, keep_setuid, overwrite) -> None:
        from .. import extract as X

        try:
            res = X.extract_paths(a, L, [path], dest, overwrite=overwrite, keep_setuid=keep_setuid)
        except X.ExtractError as e:
            msg = str(e)
            if not overwrite and in_the_way(e, X):  # something is in the way: nothing was written yet
                self.call_from_thread(self._confirm_overwrite, a, L, path, dest, keep_setuid, msg)
            else:
                self.call_from_thread(self.notify, note(f"extract failed: {msg}"), severity="error", timeout=10)
            return
        except Exception as e:
            self.call_from_thread(self.notify, note(f"extract failed: {type(e).__name__}: {e}"),
                                  severity="error", timeout=10)
            return
        msg = (f"extracted {path} into {dest}: {res.files} files, {res.dirs} dirs, {res.links} links, "
               f"{human(res.bytes)}")
        if res.skipped:
            msg += f"; skipped {len(res.skipped)} (e.g. {res.skipped[0]})"
        self.last_extract = res
        self.call_from_thread(self.notify, note(msg), title="extracted", timeout=8)

    @ui
    def _confirm_overwrite(self, a, L, path, dest, keep_setuid, msg: str) -> None:
        text = Text()
        text.append("Something is in the way\n\n", "bold")
        text.append(safe(_FORCE.sub("", msg), 600) + "\n\n")
        text.append("Overwrite it? Nothing outside the folder is touched, and links in it are not followed.")

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._extract(a, L, path, dest, keep_setuid, True)

        self.push_screen(ConfirmScreen(text), confirmed)

    # -- command palette ---------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if _is_screen(screen, "diffview", "DiffScreen"):
            for title, help, cb in [
                ("Sort by name / size / Δ", "Sort the comparison tree (s)", screen.action_sort),
                ("Show only changed paths", "Only changes, or every path of A and B (c)",
                 screen.action_toggle_changed),
                ("Filter paths", "Glob (*.so, usr/lib/*) or re:REGEX (f)", screen.action_filter),
                ("Clear filter", "Show every path again (escape)", screen.clear_filter),
                ("Expand all", "Open every directory of the tree (E)",
                 lambda: screen.query_one("#diff-tree").action_expand_all()),
                ("Collapse all", "Close every directory of the tree (C)",
                 lambda: screen.query_one("#diff-tree").action_collapse_all()),
                ("Path details", "The selected path: A against B (d)", lambda: screen.action_tab("diff-path-tab")),
                ("Layer comparison", "Layers in common, where the stacks diverge (t)",
                 lambda: screen.action_tab("diff-layers-tab")),
                ("Config and history changes", "Env, Cmd, labels, ports, build steps (t)",
                 lambda: screen.action_tab("diff-config-tab")),
                ("Layer view of A", "Back to the layers of A, at the selected path (a)",
                 lambda: screen.action_open_side("a")),
                ("Layer view of B", "The layers of B, at the selected path (b)", lambda: screen.action_open_side("b")),
                ("Swap A and B", "Compare the other way round (r)", screen.action_swap),
                ("Layer graph", "Which layers the two images share (g)", self.action_graph),
                ("Back to the layer view", "Leave the comparison (escape)", screen.action_back),
                ("Show keys", "Every key binding (?)", self.action_help),
            ]:
                yield SystemCommand(title, help, cb)
            return
        if _is_screen(screen, "graphview", "GraphScreen"):
            yield SystemCommand("Back to the layer view", "Leave the layer graph (escape)", screen.action_back)
            yield SystemCommand("Show keys", "Every key binding (?)", self.action_help)
            return
        cmds = [
            ("Toggle changes / merged view", "File tree: what this layer changed, or the whole filesystem at it (m)",
             self.action_toggle_mode),
            ("Sort by name / size", "Sort the file tree (s)", self.action_toggle_sort),
            ("Show only changed entries", "Hide entries this layer did not touch (c)", self.action_toggle_changed),
            ("Filter files", "Glob (*.so, usr/lib/*) or re:REGEX (f)", self.action_filter),
            ("Clear filter", "Show every file again (escape in the filter)", self.clear_filter),
            ("Jump to path", "Fuzzy search a path across every layer (/)", self.action_jump),
            ("Expand all", "Open every directory of the tree (E)",
             lambda: self.q("#tree", FileTreeView).action_expand_all()),
            ("Collapse all", "Close every directory of the tree (C)",
             lambda: self.q("#tree", FileTreeView).action_collapse_all()),
            ("Details", "Details of the selected layer or path (d)", self.action_details),
            ("Preview file", "Content of the selected file (p); [ ] cycle hidden copies", self.action_preview),
            ("Previous copy", "Preview the previous copy of the file ([)", lambda: self.action_copy(-1)),
            ("Next copy", "Preview the next copy of the file (])", lambda: self.action_copy(1)),
            ("Waste view", "Paths that cost hidden bytes, biggest first (w)", self.action_waste),
            ("Image config and picker", "Env, Cmd, labels; pick another image (i)", self.action_image),
            ("Extract", "Copy the selected file or directory to a folder (x)", self.action_extract),
            ("Compare with another image…", "Diff this image against another loaded image (v)",
             self.action_compare),
            ("Layer graph", "Which layers the loaded images share, and what sharing saves (g)",
             self.action_graph),
            ("Focus layers", "Move to the layer list (1)", lambda: self.action_focus_pane(1)),
            ("Focus files", "Move to the file tree (2)", lambda: self.action_focus_pane(2)),
            ("Focus side pane", "Move to details / preview / waste (3)", lambda: self.action_focus_pane(3)),
            ("Zoom pane", "Maximize the focused pane, again to restore (z)", self.action_zoom),
            ("Show keys", "Every key binding (?)", self.action_help),
        ]
        for title, help, cb in cmds:
            yield SystemCommand(title, help, cb)


def _stdin_sources(sources: list[str]) -> list[str]:
    """`-` reads the archive from stdin: spool it before the app starts, then
    give the app the terminal as its stdin (it reads keys from fd 0)."""
    if "-" not in sources:
        return sources
    from ..formats.source import resolve_source

    out = [resolve_source(s)[0] if s == "-" else s for s in sources]
    if not os.isatty(0):
        try:
            fd = os.open("/dev/tty", os.O_RDONLY)
        except OSError:
            raise ImageError("the explorer needs a terminal; with the image on stdin, run it from one "
                             "(or use `layerscope report -`)") from None
        os.dup2(fd, 0)
        os.close(fd)
    return out


def run_app(sources: list[str], image: str | None = None, platform: str | None = None,
            base: int | None = None) -> int:
    """Run the explorer; returns the exit status (2 after an error was shown).
    Raises ImageError only when stdin (`-`) cannot be used."""
    from ..formats.source import cleanup_spooled

    try:
        sources = _stdin_sources(list(sources))
        app = LayerscopeApp(sources, image=image, platform=platform, base=base)
        app.run()
    finally:
        cleanup_spooled()
    if app.return_code not in (None, 0):
        return app.return_code
    return 2 if app.fatal else 0
