"""The layer view: the image's layer list, the file tree of the layer under
the cursor and the side pane (details, preview, waste, image config).  It
reads the app's loaded state and builds trees, details and previews in
thread workers of its own."""

from __future__ import annotations

import functools
import os

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Input, Label, ProgressBar, Select, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from ...analysis.tree import S_DELETED, Cancelled
from ...errors import one_line
from ...model import FILE, HARDLINK
from ...units import plural
from .. import details as D
from .. import gcfreeze
from .. import messages as M
from .. import preview as P
from ..filterbox import FilterBoxMixin
from ..fmt import clean_text, human, legend_text, note, pct
from ..keys import bindings
from ..pkgview import PackagesTabMixin
from ..treemodel import TreeRows, compile_filter, shown_mask
from ..widgets import FileTreeView, FindingList, KeyBar, LayerList, Pane, PreviewView, WasteList
from ..widgets.cursorlist import CursorList
from ..widgets.findinglist import what_if_text
from ..widgets.packagelist import PackageList
from .dialogs import ExtractScreen, JumpScreen, SquashScreen

AUTO_EXPAND_MAX = 400  # trees (or filtered trees) this small open fully
TREE_DEBOUNCE = 0.05  # s the layer cursor rests before a tree that is not cached is built
KEEP_EXPANDED_MAX = 5000
BUSY_AFTER = 0.1  # s: work that takes longer says that it is working (and that escape cancels it)
KERNEL_NOTE = "an image carries no kernel: containers share the host's"


def on_selection(fn):
    """For the layer view's keys that act on the tree's selection (preview,
    copy, extract, save, …): pressed while the tree is being replaced, they
    wait for the new tree, as the tree's own keys do."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kw):
        tree = self.query_one("#tree", FileTreeView)
        if tree.busy:
            tree.wait(functools.partial(fn, self, *args, **kw))
            return None
        return fn(self, *args, **kw)

    return wrapper


def ui(fn):
    """For callbacks that touch this screen's widgets: a worker result or a
    timer that lands while the app shuts down is dropped, not an error."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kw):
        try:
            return fn(self, *args, **kw)
        except NoMatches:
            if self.app.shutting_down():
                return None
            raise

    return wrapper


class LayersScreen(PackagesTabMixin, FilterBoxMixin, Screen):
    """The main view of the explorer; the app pushes it first and keeps it
    under every other screen."""

    BINDINGS = bindings("layers")

    def __init__(self) -> None:
        super().__init__()
        self.mode = "changes"
        self.sort = "name"
        self.only_changed = False
        self.filter_text = ""
        self.expanded_paths: set[str] = set()
        # the tree shown last and its open directories: the same tree built again (a new sort, a
        # toggle) keeps them all, however many, with no lookup by path
        self._expanded_nodes: tuple = (None, frozenset())
        self.cursor_path: str | None = None
        self._tree_token = 0  # of the tree last asked for: results of older requests are dropped
        self._tree_building: int | None = None  # the token whose build is running
        self._tree_timer = None
        self._details_timer = None
        self._filter_timer = None
        self._preview_timer = None
        self._details_for = "layer"
        self._details_title = "Details"
        self._preview: dict | None = None
        self._waiting_tree = False
        self._busy_timer = None  # says "working…" when a tree takes longer than BUSY_AFTER
        self._rerequest = False  # a tree was asked for while the rows were changing in a worker
        self._shown: tuple | None = None  # (mode, sort, only changed, filter, layer row) of the tree shown

    @property
    def state(self):
        return self.app.state

    @property
    def image(self):
        return self.app.state.image

    @property
    def graph(self):
        return self.app.state.graph

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        with Horizontal(id="summary-row"):
            opening = ", ".join(clean_text(s, 200) for s in self.app.sources)
            yield Static(Text(f"opening {opening} …"), id="summary", markup=False)
        with Horizontal(id="picker-row"):
            yield Label("image:", id="picker-label", markup=False)
            yield Select([], prompt="image", id="image-picker", allow_blank=True, compact=True)
            yield Label("", id="picker-note", markup=False)
        with Horizontal(id="progress-row"):
            yield Label("indexing layers", id="progress-label", markup=False)
            yield ProgressBar(total=None, id="progress", show_eta=False)
        with Pane(id="layers-pane"):
            yield Static(LayerList.header(False), id="layers-header", markup=False)
            yield LayerList(id="layers")
        with Horizontal(id="bottom"):
            with Pane(id="files-pane"):
                yield FileTreeView(id="tree")
                yield Input(placeholder="filter: glob like *.so or usr/lib/*, or re:REGEX; escape clears",
                            id="filter", compact=True)
                yield Static(legend_text(False), id="legend", markup=False)
            with Pane(id="side-pane"), TabbedContent(id="side", initial="details-tab"):
                with TabPane("Details", id="details-tab"):
                    with VerticalScroll(id="details-scroll"):
                        yield Static(Text("select a layer or a file", style="dim"), id="details", markup=False)
                with TabPane("Preview", id="preview-tab"):
                    yield Static(Text("p on a file shows its content here", style="dim"), id="preview-title", markup=False)
                    yield PreviewView(id="preview")
                with TabPane("Waste", id="waste-tab"):
                    yield Static(Text("", style="dim"), id="waste-title", markup=False)
                    yield WasteList(id="waste")
                with TabPane("Findings", id="findings-tab"):
                    yield Static(Text("", style="dim"), id="findings-title", markup=False)
                    yield Static(Text("", style="dim"), id="whatif-text", markup=False)
                    yield FindingList(id="findings")
                    with VerticalScroll(id="finding-scroll"):
                        yield Static(Text("", style="dim"), id="finding-text", markup=False)
                with TabPane("Packages", id="packages-tab"):
                    yield Static(Text("", style="dim"), id="packages-title", markup=False)
                    yield PackageList(id="packages")
                    with VerticalScroll(id="package-scroll"):
                        yield Static(Text("", style="dim"), id="package-text", markup=False)
                with TabPane("Image", id="image-tab"):
                    with VerticalScroll(id="image-scroll"):
                        yield Static(Text("reading…", style="dim"), id="image-info", markup=False)
        yield KeyBar()

    # ------------------------------------------------------------ image level
    @property
    def analysis(self):
        return self.app.state.analysis

    @ui
    def _show_image(self, keep_row: bool) -> None:
        image, a = self.image, self.analysis
        layers = self.query_one("#layers", LayerList)
        rows = self.state.rows_for(image, a)
        multi = len(self.graph.images) > 1
        old = layers.cursor if keep_row else None
        layers.set_rows(rows, a is not None, multi)
        pane = self.query_one("#layers-pane")
        pane.border_title = f"Layers: {plural(len(image.layers), 'layer')}, {plural(len(rows), 'build step')}"
        pane.border_subtitle = "↑↓ pick a layer · tab: its files · ? all keys"
        self._fit_layers_pane()
        if old is None:
            # start on the last layer that made files: what the image ends with
            last = max((i for i, r in enumerate(rows) if r.index is not None), default=0)
            layers.cursor = last
        else:
            layers.cursor = min(old, len(rows) - 1)
        self._update_summary()
        self.query_one("#image-info", Static).update(D.image_details(image, a))
        self.app.title = f"layerscope — {clean_text(image.name, 80)}"
        self._fill_waste(a)
        self._fill_findings(a)
        self._fill_packages(a)
        self._request_tree(now=True)

    def _fill_waste(self, a) -> None:
        """The waste list of analysis `a`: its wasted paths, biggest first.
        Ranking them takes a while on a big image, so it runs in a worker
        after the analysis is shown, not before."""
        waste = self.query_one("#waste", WasteList)
        if a is None:
            waste.set_items([])
            waste.placeholder = "the waste view fills in once every layer is indexed"
            self.query_one("#waste-title", Static).update(Text("waiting for the analysis…", style="dim"))
            return
        if not a.waste.is_ranked:
            waste.set_items([])
            waste.placeholder = "ranking the wasted paths…"
            self.query_one("#waste-title", Static).update(Text("ranking the wasted paths…", style="dim"))
            if id(a) not in self.state.ranking:  # once per analysis, however often the image is shown
                self.state.ranking.add(id(a))
                self._rank(a)
            return
        items = a.waste.ranked()
        waste.set_items(items)
        wt = Text()
        wt.append(f"{len(items):,} paths cost {human(a.totals()['wasted_bytes'])} of hidden bytes", "bold")
        wt.append("  (biggest first; enter shows the file in the tree)", "dim")
        self.query_one("#waste-title", Static).update(wt)

    def _fill_findings(self, a) -> None:
        """The findings list of analysis `a`, computed in a worker the first time."""
        lst = self.query_one("#findings", FindingList)
        title = self.query_one("#findings-title", Static)
        if a is None:
            lst.set_items([])
            lst.placeholder = "the findings fill in once every layer is indexed"
            title.update(Text("waiting for the analysis…", style="dim"))
            return
        whatif = self.query_one("#whatif-text", Static)
        if a._findings is None or a._steps is None or a._ledger is None or a._what_ifs is None:
            whatif.update(Text(""))
            lst.set_items([])
            lst.placeholder = "looking for what the build could save…"
            if id(a) not in self.state.finding:
                self.state.finding.add(id(a))
                self._find(a)
            return
        items = a.findings()
        lst.set_items(items)
        self.query_one("#layers", LayerList).set_steps(a.dockerfile_steps())
        if self.focused is self.query_one("#layers", LayerList):
            self._show_layer_details()  # its tar line is in now
        mine = sum(f.bytes for f in items if not f.base)
        t = Text()
        t.append(f"{len(items):,} findings: {human(mine)} a change to the build could save", "bold")
        t.append("  (base image apart; enter shows the biggest file in the tree)", "dim")
        title.update(t)
        weighed = self.state.squash_weighed.get(id(a))
        whatif.update(what_if_text(a.what_ifs(), weighed[1] if weighed else None))
        self._show_finding()

    @work(thread=True, group="findings", exit_on_error=False)
    @gcfreeze.building
    def _find(self, a) -> None:
        try:
            a.findings()
            a.dockerfile_steps()  # the layer list's Dockerfile view: its bytes and findings per step
            a.ledger()  # the layer details' tar line
            a.what_ifs()  # the findings tab's what-if lines
        except Exception as e:  # a bug: say so in the view rather than stop silently
            self.post_message(M.FindingsMade(a, f"finding what the build could save failed: {type(e).__name__}: {e}"))
            return
        self.post_message(M.FindingsMade(a))

    @ui
    def on_findings_made(self, m: M.FindingsMade) -> None:
        self.state.finding.discard(id(m.analysis))
        if m.error is not None:
            self.app.notify(note(m.error), severity="error", timeout=10)
        elif self.analysis is m.analysis:
            self._fill_findings(m.analysis)

    def action_squash(self) -> None:
        """Weigh squashing layers i..j (the core computes it, from the hidden copies it keeps)."""
        from ...analysis.ledger import squash, squash_runs

        a = self.analysis
        if a is None or a._what_ifs is None:
            self.app.notify("what-ifs are weighed once the findings are in", timeout=3)
            return
        n = a.stack.n
        if n < 2:
            self.app.notify("one layer: nothing to squash", timeout=3)
            return
        picked = self.state.squash_weighed.get(id(a))
        runs = squash_runs(a)
        if picked is not None:
            default = picked[0]
        elif runs:
            default = runs[0]
        else:
            default = (max(0, min(a.waste.base_layers, n - 2)), n - 1)

        def chosen(got) -> None:
            if got is None or self.analysis is not a:
                return
            self.state.squash_weighed[id(a)] = (got, squash(a, *got))
            self.action_findings()
            self._fill_findings(a)

        self.app.push_screen(SquashScreen(n, default), chosen)

    def _show_finding(self) -> None:
        from ..widgets.findinglist import finding_text

        lst = self.query_one("#findings", FindingList)
        box = self.query_one("#finding-text", Static)
        if lst.items and 0 <= lst.cursor < len(lst.items):
            box.update(finding_text(lst.items[lst.cursor]))
        else:
            box.update(Text(""))

    @on(CursorList.Highlighted, "#findings")
    @ui
    def _finding_highlighted(self) -> None:
        self._show_finding()

    @on(CursorList.Selected, "#findings")
    @ui
    def _finding_selected(self, event: CursorList.Selected) -> None:
        items = self.query_one("#findings", FindingList).items
        if not items or not items[event.index].paths:
            return
        f = items[event.index]
        # a hidden copy is in the layer that stored it; a file of the final view, at the top
        layer = f.layer if f.fixed_by is not None else len(self.image.layers) - 1
        if f.fixed_by is not None and self.mode != "changes":
            self.mode = "changes"
        self.goto(f.paths[0][0], layer)

    @on(CursorList.Highlighted, "#packages")
    @ui
    def _package_highlighted(self) -> None:
        self._show_package()

    @on(CursorList.Selected, "#packages")
    @ui
    def _package_chosen(self, event: CursorList.Selected) -> None:
        self._package_selected(event.index)

    @work(thread=True, group="rank", exit_on_error=False)
    @gcfreeze.building
    def _rank(self, a) -> None:
        try:
            a.waste.ranked()
        except Exception as e:  # a bug: say so in the view rather than stop silently
            self.post_message(M.WasteRanked(a, f"ranking the wasted paths failed: {type(e).__name__}: {e}"))
            return
        self.post_message(M.WasteRanked(a))

    @ui
    def on_waste_ranked(self, m: M.WasteRanked) -> None:
        self.state.ranking.discard(id(m.analysis))
        if m.error is not None:
            self.app.notify(note(m.error), severity="error", timeout=10)
        elif self.analysis is m.analysis:
            self._fill_waste(m.analysis)

    def _fit_layers_pane(self) -> None:
        n = self.query_one("#layers", LayerList).row_count()
        h = self.size.height or 40
        self.query_one("#layers-pane").styles.height = max(6, min(n + 3, int(h * 0.36)))

    @ui
    def on_resize(self) -> None:
        if self.graph is not None:
            self._fit_layers_pane()

    def _update_summary(self) -> None:
        image, a = self.image, self.analysis
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append("layerscope  ", "bold magenta")
        t.append(clean_text(image.name, 120), "bold")
        if len(image.refs) > 1:
            t.append(f" (+{len(image.refs) - 1} tags)", "dim")
        t.append("  " + clean_text(str(image.platform), 60), "cyan")
        digest = (image.digest or "").split(":", 1)[-1][:12]
        if digest:
            t.append(f"  {digest}", "dim")
        if len(self.app.sources) > 1 and image.source:
            t.append("  " + clean_text(image.source, 200), "dim")
        t.append("\nOS: ", "dim")
        if a is not None:
            osr = a.os_release() or {}
            os_name = osr.get("PRETTY_NAME") or osr.get("NAME") or ""
            t.append(clean_text(os_name, 80) if os_name else "unknown (no /etc/os-release)",
                     "bold" if os_name else "dim")
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
            t.append(plural(a.stack.n, "layer"), "bold")
            t.append(" · ")
            t.append(human(tot["size"]), "bold")
            t.append(" stored in the layers · ")
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
            t.append(f"{plural(len(image.layers), 'layer')} · {human(stored)} stored", "bold")
            t.append(" · indexing…", "dim")
        self.query_one("#summary", Static).update(t)

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
        self.state.image = im
        self._preview = None
        picker = self.query_one("#image-picker", Select)
        if picker.has_class("multi"):
            picker.value = self.graph.images.index(im)  # its Changed event then finds nothing to do
        self._show_image(keep_row=False)
        if self.state.indexed_all:
            self.app.start_analysis(im)
        self.app.notify(note(f"image {im.name}"), timeout=3)
        return True


    # ------------------------------------------------------------- layer list
    def _current_row(self):
        layers = self.query_one("#layers", LayerList)
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
        self._packages_follow_layer()
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
        return self.state.has_tree(self.state.tree_key(self.image, self.analysis, N, self.mode,
                                                       bool(self.filter_text)))

    @on(CursorList.Selected, "#layers")
    @ui
    def _layer_selected(self) -> None:
        self.query_one("#tree", FileTreeView).focus()

    @ui
    def _show_layer_details(self) -> None:
        row = self._current_row()
        if row is None or self.image is None:
            return
        self._details_for = "layer"
        self.query_one("#details", Static).update(
            D.layer_details(row, self.analysis, self.image, len(self.graph.images) > 1))
        self.query_one("#details-scroll").scroll_home(animate=False)
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
            bits.append("filter: " + clean_text(self.filter_text, 40))
        bars = self.query_one("#tree", FileTreeView).bars
        bits.append("bars: % of " + ("dir" if bars == "parent" else "layer" if self.mode == "changes" else "image"))
        if extra.startswith(("working", "cancelled")):  # first, where a narrow pane does not cut it
            bits.insert(0, extra)
        elif extra:
            bits.append(extra)
        pane = self.query_one("#files-pane")
        pane.border_title = title
        pane.border_subtitle = " · ".join(bits)

    @ui
    def _request_tree(self, now: bool = False) -> None:
        self._tree_timer = None
        tree = self.query_one("#tree", FileTreeView)
        if tree._rows_busy:
            # a big expansion is running: the new tree keeps what it opens (keys wait meanwhile)
            self._rerequest = True
            tree.set_stale(True)
            return
        self._files_title()
        self._waiting_tree = False
        row = self._current_row()
        if row is None or self.image is None:
            tree.set_stale(False)
            return
        if tree.model is not None and tree.node is not None and tree.model.tree is not None:
            self.cursor_path = tree.model.tree.path(tree.node)
            if not self.filter_text:
                exp = tree.model.expanded
                self._expanded_nodes = (tree.model.tree, frozenset(exp))
                if len(exp) <= KEEP_EXPANDED_MAX:
                    self.expanded_paths = {tree.model.tree.path(n) for n in exp}
        if row.index is None:
            self._tree_token += 1
            tree.set_model(None, placeholder=f"step {row.step} made no layer: it only changed the image config "
                                             "(see the details). Pick another step.")
            tree.set_stale(False)
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
                tree.set_stale(False)
                return
            if all(layer.indexed for layer in self.graph.layers.values()):
                # every layer is indexed, so this image's analysis is next
                # (or running): a tree built now would repeat its merge pass
                # while competing with it for the GIL, then be built again
                self._waiting_tree = True
                self._tree_token += 1
                if tree.model is None:
                    tree.set_model(None, placeholder="analysing the layers, then the tree…")
                tree.set_stale(False)
                return
        try:
            pred = self.package_filter() or (compile_filter(self.filter_text) if self.filter_text else None)
            self.query_one("#filter", Input).remove_class("error")
        except ValueError as e:
            pred = None
            self.query_one("#filter", Input).add_class("error")
            self.app.notify(note(str(e)), severity="error", timeout=4)
        self._tree_token += 1
        if tree.model is None:
            tree.placeholder = "building the tree…"
            tree.refresh()
        self.workers.cancel_group(self, "prefetch")  # this tree first
        self._tree_building = self._tree_token
        tree.set_stale(True)  # keys for the tree wait for this one
        if self._busy_timer is not None:
            self._busy_timer.stop()
        self._busy_timer = self.set_timer(BUSY_AFTER, self._show_busy)
        self._build_tree(self._tree_token, self.image, a, N, self.mode, self.sort, self.only_changed, pred,
                         bool(self.filter_text), set(self.expanded_paths), self.cursor_path, self._expanded_nodes)


    def _prefetch_neighbours(self, N: int) -> None:
        """Build the trees of the layers above and below N in the background,
        so that the next move in the layer list shows its tree at once."""
        a = self.analysis
        if a is None or self.filter_text or self.image is None:
            return
        todo = []
        for L in (N + 1, N - 1):
            if 0 <= L < len(self.image.layers):
                if self.state.has_tree(self.state.tree_key(self.image, a, L, self.mode, False), keep=True):
                    continue  # a neighbour: kept
                todo.append(L)
        if todo:
            self._prefetch(self.image, a, todo, self.mode)

    @work(thread=True, exclusive=True, group="prefetch", exit_on_error=False)
    @gcfreeze.building
    def _prefetch(self, image, a, Ls: list[int], mode: str) -> None:
        worker = get_current_worker()
        for L in Ls:
            if worker.is_cancelled:
                return
            try:
                self.state.tree(image, a, L, mode, False, lambda: worker.is_cancelled)
            except Exception:
                return  # (a Cancelled build, or one that the request will report)

    @work(thread=True, exclusive=True, group="tree", exit_on_error=False)
    @gcfreeze.building
    def _build_tree(self, token, image, a, N, mode, sort, only_changed, pred, filtering, expanded_paths,
                    cursor_path, expanded_nodes=(None, frozenset())) -> None:
        worker = get_current_worker()
        try:
            got = self.state.tree(image, a, N, mode, filtering, lambda: worker.is_cancelled)
            t, changes, opaque = got
            if worker.is_cancelled:
                return
            keep, matches, kept = shown_mask(t, changes if only_changed else None, pred)
            if expanded_nodes[0] is t:
                expanded = set(expanded_nodes[1])
            else:
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
            self.post_message(M.TreeBuilt(token, error=f"cannot build the tree: {type(e).__name__}: {e}"))
            return
        if not worker.is_cancelled:
            self.post_message(M.TreeBuilt(token, rows, changes if mode == "merged" else None, cursor, matches,
                                          opaque))

    @property
    def tree_pending(self) -> bool:
        """Is the tree last asked for still to be built and shown?"""
        return self._tree_building == self._tree_token

    @ui
    def _show_busy(self) -> None:
        """The tree asked for (or a big change of its rows) is still coming: say so."""
        self._busy_timer = None
        tree = self.query_one("#tree", FileTreeView)
        if self.tree_pending or tree.busy:
            what = "opening directories" if tree._rows_busy else "building the tree"
            self._files_title(f"working: {what}… (escape cancels)")
            tree.placeholder = f"{what}…"
            tree.refresh()

    def on_file_tree_view_working(self) -> None:
        self._show_busy()

    @ui
    def on_file_tree_view_rows_settled(self) -> None:
        if self._rerequest:
            self._rerequest = False
            self._request_tree()
        elif not self.tree_pending:
            self._files_title()

    def cancel_tree_work(self) -> bool:
        """Escape while the tree is being built or changed: stop, keep the tree
        shown and what it was shown with; the keys that waited are dropped.
        False when nothing was running."""
        tree = self.query_one("#tree", FileTreeView)
        if self.tree_pending:
            self.workers.cancel_group(self, "tree")
            self._tree_token += 1
            self._tree_building = None
            self._rerequest = False
            if self._shown is not None:
                self.mode, self.sort, self.only_changed, shown_filter, row = self._shown
                if shown_filter != self.filter_text:
                    self.filter_text = shown_filter
                    self.query_one("#filter", Input).value = shown_filter
                layers = self.query_one("#layers", LayerList)
                if layers.cursor != row:
                    layers.set_reactive(CursorList.cursor, row)
                    layers.rows_changed()
                    self._show_layer_details()
            tree.queue.clear()
            tree.set_stale(False)
            if tree.model is None:
                tree.placeholder = "cancelled: pick a layer or press m to build a tree"
                tree.refresh()
            self._files_title("cancelled")
            return True
        if tree.cancel_pending():
            self._files_title("cancelled")
            return True
        return False

    @ui
    def on_tree_built(self, m: M.TreeBuilt) -> None:
        if m.token == self._tree_building:
            self._tree_building = None
        if m.error is not None:
            self.app.notify(note(m.error), severity="error")
            if m.token == self._tree_token:
                self.query_one("#tree", FileTreeView).set_stale(False)
            return
        if m.token != self._tree_token:
            return
        rows, changes, cursor, matches, opaque = m.rows, m.changes, m.cursor, m.matches, m.opaque
        gcfreeze.settle()
        tree = self.query_one("#tree", FileTreeView)
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
        self._shown = (self.mode, self.sort, self.only_changed, self.filter_text,
                       self.query_one("#layers", LayerList).cursor)
        tree.set_stale(False)  # the keys that waited for this tree, now
        self._prefetch_neighbours(rows.tree.layer)
        extra = f"{matches:,} match(es)" if matches is not None else ""
        if self.analysis is None:
            extra = (extra + " · " if extra else "") + "analysis pending"
        self._files_title(extra)
        self.query_one("#legend", Static).update(legend_text(self.mode == "merged"))

    @on(CursorList.Highlighted, "#tree")
    @ui
    def _tree_highlighted(self, event: CursorList.Highlighted) -> None:
        tree = self.query_one("#tree", FileTreeView)
        if tree.node is None:
            return
        self.cursor_path = tree.model.tree.path(tree.node)
        if self.focused is tree or self._details_for == "path":
            self._schedule_path_details()
        if self.query_one("#side", TabbedContent).active == "preview-tab" and self.analysis is not None:
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
            self.query_one("#preview-title", Static).update(
                Text(clean_text(t.path(node), 300) + "\n" + msg, style="dim"))
            self.query_one("#preview", PreviewView).set_lines([])
            return
        self.action_preview(quiet=True)

    def _schedule_path_details(self) -> None:
        if self._details_timer is not None:
            self._details_timer.stop()
        self._details_timer = self.set_timer(0.05, self._request_path_details)

    @ui
    def _request_path_details(self) -> None:
        self._details_timer = None
        tree = self.query_one("#tree", FileTreeView)
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
            self.post_message(M.PathDetailed(t, node, text, worker))

    @ui
    def on_path_detailed(self, m: M.PathDetailed) -> None:
        if m.worker.is_cancelled:
            return
        t, node = m.tree, m.node
        self.query_one("#details", Static).update(m.text)
        self.query_one("#details-scroll").scroll_home(animate=False)
        self._side_title("Details: " + clean_text(t.name(node), 60))

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
        self.app.notify(f"file tree: {'merged view at the layer' if self.mode == 'merged' else 'changes of the layer'}",
                    timeout=2)
        self._request_tree()

    def action_toggle_sort(self) -> None:
        self.sort = "size" if self.sort == "name" else "name"
        self._request_tree()

    def action_toggle_bars(self) -> None:
        tree = self.query_one("#tree", FileTreeView)
        tree.set_bars("parent" if tree.bars == "tree" else "tree")
        self._files_title()

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
            f = self.query_one("#filter", Input)
            if self.focused is f or (self.filter_text and self.focused is self.query_one("#tree")):
                self.clear_filter()
                self.query_one("#tree", FileTreeView).focus()
                event.stop()
            elif self.cancel_tree_work():
                event.stop()

    @on_selection
    def action_details(self) -> None:
        self.query_one("#side", TabbedContent).active = "details-tab"

    def action_build_step(self) -> None:
        row = self._current_row()
        if row is None:
            self.app.notify("select a layer first", timeout=3)
            return
        if not row.created_by:
            self.app.notify("the image records no command for this step", timeout=3)
            return
        from .step import BuildStepScreen

        where = f"layer {row.index}" if row.index is not None else "no layer"
        self.app.push_screen(BuildStepScreen(f"Build step {row.step} ({where})", row.created_by))

    def action_waste(self) -> None:
        self.query_one("#side", TabbedContent).active = "waste-tab"
        self.query_one("#waste", WasteList).focus()
        if self.analysis is None:
            self.app.notify("the waste view fills in once every layer is indexed", timeout=3)

    @on_selection
    def action_copy_path(self) -> None:
        from ...errors import UNSAFE, one_line

        t, node = self._selected()
        if t is None:
            self.app.notify("select a file or directory in the tree first", timeout=3)
            return
        path = t.path(node)
        if UNSAFE.search(path):  # a terminal must never be handed these, a clipboard neither
            self.app.copy_to_clipboard(one_line(path, 1 << 20))
            self.app.notify(note(f"copied {path} (escaped: the name holds control or invisible characters)"),
                            timeout=4)
            return
        self.app.copy_to_clipboard(path)
        self.app.notify(note(f"copied {path}"), timeout=3)

    @on_selection
    def action_save_view(self) -> None:
        """Save the focused view (the tree unless a list is focused) to a file."""
        from .dialogs import ConfirmScreen, SaveScreen

        a = self.analysis
        if a is None:
            self.app.notify("saving a view is available once every layer is indexed", timeout=3)
            return
        w = self.focused
        if isinstance(w, WasteList):
            kind, items, what = "waste", w.items, f"the waste list ({len(w.items):,} paths)"
        elif isinstance(w, FindingList):
            kind, items, what = "findings", w.items, f"the findings ({len(w.items):,})"
        else:
            tree = self.query_one("#tree", FileTreeView)
            if tree.model is None or tree.busy:
                self.app.notify("the file tree is not shown yet: save it once it is", timeout=3)
                return
            t = tree.model.tree
            kind, items = "tree", tree.model
            what = (f"the file tree ({'changes of' if t.mode == 'changes' else 'merged view at'} layer {t.layer}"
                    + (f", filter {clean_text(self.filter_text, 60)}" if self.filter_text else "")
                    + (", only changed" if self.only_changed else "") + ")")
        default = os.path.join(os.getcwd(), f"layerscope-{kind}.csv")

        def write(path: str) -> None:
            self.app.notify(note(f"saving {what} to {path}…"), timeout=3)
            self._save(path, kind, items, a)

        def chosen(path: str | None) -> None:
            if not path:
                return
            if os.path.lexists(path):
                msg = Text()
                msg.append("The file is there already\n\n", "bold")
                msg.append(clean_text(path, 600) + "\n\nReplace it?")
                self.app.push_screen(ConfirmScreen(msg, "Replace"), lambda ok: write(path) if ok else None)
                return
            write(path)

        self.app.push_screen(SaveScreen(what, default), chosen)

    @work(thread=True, group="save", exit_on_error=False)
    def _save(self, path: str, kind: str, items, a) -> None:
        from .. import export

        try:
            n = export.write(path, kind, items, a)
        except export.ExportError as e:
            self.post_message(M.Notice(note(f"not saved: {e}"), severity="error", timeout=10))
            return
        except Exception as e:  # a bug: say so rather than stop silently
            self.post_message(M.Notice(note(f"not saved: {type(e).__name__}: {e}"), severity="error", timeout=10))
            return
        self.post_message(M.Notice(note(f"saved {n:,} rows to {path}"), title="saved", timeout=6))

    def on_notice(self, m: M.Notice) -> None:
        self.app.notify(m.text, **m.kw)

    @on_selection
    def action_size_map(self) -> None:
        """The size map of the merged view at the selected layer."""
        from .sizemap import SizeMapScreen

        a = self.analysis
        row = self._current_row()
        if a is None or row is None:
            self.app.notify("the size map is available once every layer is indexed", timeout=3)
            return
        N = row.index if row.index is not None else a.stack.n - 1
        self.app.push_screen(SizeMapScreen(self.image, a, N))

    @on_selection
    def action_full_value(self) -> None:
        """What the focused list cuts to fit its row, in full on a page of its own."""
        from .step import BuildStepScreen

        w = self.focused
        if isinstance(w, LayerList):
            self.action_build_step()
            return
        got = None
        if isinstance(w, FileTreeView) and w.node is not None:
            got = D.full_path_text(w.model.tree, w.node)
        elif isinstance(w, WasteList) and w.items:
            got = D.full_waste_text(w.items[w.cursor])
        elif isinstance(w, FindingList) and w.items:
            from ..widgets.findinglist import finding_text

            f = w.items[w.cursor]
            got = (f"Finding: {f.kind}", finding_text(f, limit=len(f.paths)).plain)
        if got is None:
            self.app.notify("o shows the highlighted row of the layers, files, waste or findings in full", timeout=3)
            return
        self.app.push_screen(BuildStepScreen(*got))

    def action_findings(self) -> None:
        self.query_one("#side", TabbedContent).active = "findings-tab"
        self.query_one("#findings", FindingList).focus()
        if self.analysis is None:
            self.app.notify("the findings fill in once every layer is indexed", timeout=3)

    def action_toggle_dockerfile(self) -> None:
        layers = self.query_one("#layers", LayerList)
        layers.dockerfile = not layers.dockerfile
        self.query_one("#layers-header", Static).update(LayerList.header(layers.multi, layers.dockerfile))
        layers.refresh()
        if layers.dockerfile and self.analysis is None:
            self.app.notify("the Dockerfile view shows its figures once every layer is indexed", timeout=3)

    def action_image(self) -> None:
        self.query_one("#side", TabbedContent).active = "image-tab"
        picker = self.query_one("#image-picker", Select)
        if picker.has_class("multi"):
            picker.focus()


    def action_focus_pane(self, n: int) -> None:
        if n == 1:
            self.query_one("#layers", LayerList).focus()
        elif n == 2:
            self.query_one("#tree", FileTreeView).focus()
        else:
            side = self.query_one("#side", TabbedContent)
            target = {"details-tab": "#details-scroll", "preview-tab": "#preview", "waste-tab": "#waste",
                      "findings-tab": "#findings", "packages-tab": "#packages",
                      "image-tab": "#image-scroll"}.get(side.active or "", "#details-scroll")
            self.query_one(target).focus()

    def _side_title(self, details: str | None = None) -> None:
        if details is not None:
            self._details_title = details
        active = self.query_one("#side", TabbedContent).active
        title = {"details-tab": getattr(self, "_details_title", "Details"), "preview-tab": "Preview",
                 "waste-tab": "Waste: where hidden bytes are", "findings-tab": "Findings: what the build could save",
                 "packages-tab": "Packages: real bytes per package, at the selected layer",
                 "image-tab": "Image config"}.get(active, "")
        self.query_one("#side-pane").border_title = title

    @on(TabbedContent.TabActivated, "#side")
    @ui
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        self._side_title()


    # -- preview -------------------------------------------------------------
    def _selected(self):
        """(tree, node) of the file tree's cursor, or (None, None)."""
        tree = self.query_one("#tree", FileTreeView)
        if tree.model is None or tree.node is None:
            return None, None
        return tree.model.tree, tree.node

    @on_selection
    def action_preview(self, quiet: bool = False) -> None:
        pv = self._pick_copy(quiet)
        if pv is not None:
            self._preview = pv
            self.query_one("#side", TabbedContent).active = "preview-tab"
            self._load_preview()

    def _pick_copy(self, quiet: bool = False) -> dict | None:
        """The selected file's copies in the image and the one at the tree's
        layer (a symlink's: those of where it leads), or None after saying why
        there is no content to show."""
        t, node = self._selected()
        a = self.analysis
        if t is None:
            self.app.notify("select a file in the tree first", timeout=3)
            return None
        if t.is_dir(node):
            self.app.notify("preview shows files; this is a directory (enter opens it)", timeout=3)
            return None
        if a is None:
            self.app.notify("the preview is available once every layer is indexed", timeout=3)
            return None
        path = t.path(node)
        target, followed = self._follow_link(t, node, path)
        if target is None:  # a link that leads nowhere: say where it stopped
            self._preview = None
            self.query_one("#side", TabbedContent).active = "preview-tab"
            self.query_one("#preview-title", Static).update(Text(clean_text(path, 300) + "\n" + followed,
                                                                 style="yellow"))
            self.query_one("#preview", PreviewView).set_lines([])
            return None
        copies = [(ev.layer, ev.index) for ev in a.history(target)
                  if ev.entry is not None and ev.index is not None and ev.entry.type in (FILE, HARDLINK)]
        if not copies:
            e = t.entry(node)
            kind = e.type_name if e is not None else "directory"
            if quiet:
                self._preview = None
                self.query_one("#preview-title", Static).update(
                    Text(clean_text(path, 300) + f"\na {kind}: no content to preview", style="dim"))
                self.query_one("#preview", PreviewView).set_lines([])
            else:
                self.app.notify(note(f"{path} has no file content in any layer (it is a {kind})"), timeout=4)
            return None
        ref = t.ref(node) if not followed else self._visible_ref(target, t.layer)
        pos = copies.index(ref) if ref in copies else len(copies) - 1
        return {"path": path, "target": target, "followed": followed, "copies": copies, "pos": pos}

    @on_selection
    def action_open_external(self, which: str) -> None:
        """The selected file (the copy the preview shows, else the one at the
        tree's layer) in $PAGER or $EDITOR: a read-only copy in a private
        temporary folder, removed when the program ends."""
        t, node = self._selected()
        pv = self._preview
        if pv is None or t is None or pv["path"] != t.path(node):
            pv = self._pick_copy()
        if pv is None:
            return
        if which == "pager":
            command = os.environ.get("PAGER") or "less"
        else:
            command = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        L, _ = pv["copies"][pv["pos"]]
        self.app.notify(note(f"reading {pv['target']} (layer {L}) for {command}…"), timeout=3)
        self._copy_out(self.analysis, L, pv["target"], command)

    @work(thread=True, group="external", exit_on_error=False)
    def _copy_out(self, a, L: int, path: str, command: str) -> None:
        import shutil
        import tempfile

        from ... import extract as X

        tmp = tempfile.mkdtemp(prefix="layerscope-view-")
        try:
            X.extract_paths(a, L, [path], tmp)
            file = os.path.join(tmp, path.strip("/"))
            os.chmod(file, 0o444)
        except Exception as e:
            shutil.rmtree(tmp, ignore_errors=True)
            self.post_message(M.Notice(note(f"cannot open {path}: {e}"), severity="error", timeout=8))
            return
        self.app.call_from_thread(self._run_external, command, file, tmp)

    def _run_external(self, command: str, file: str, tmp: str) -> None:
        import shlex
        import shutil
        import subprocess

        from textual.app import SuspendNotSupported

        try:
            argv = shlex.split(command) + [file]
            with self.app.suspend():
                subprocess.run(argv, check=False)
        except SuspendNotSupported:
            self.app.notify("this terminal cannot hand itself to another program (no suspend)", severity="error")
        except (OSError, ValueError) as e:
            self.app.notify(note(f"cannot run {command}: {e}"), severity="error", timeout=8)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.refresh()

    def _follow_link(self, t, node, path: str) -> tuple[str | None, str]:
        """(the path whose content a preview shows, how it was reached): the
        path itself, or where its symlinks lead in the merged view at the
        tree's layer; (None, why) when they lead nowhere."""
        from ...analysis.links import resolve
        from ...model import SYMLINK

        e = t.entry(node)
        if e is None or e.type != SYMLINK:
            return path, ""
        r = resolve(self.analysis.stack, path, t.layer)
        if r.problem is not None:
            return None, f"a symlink to {clean_text(e.link or '', 300)}: {r.problem}"
        how = f"→ /{clean_text(r.path, 300)} ({plural(r.hops, 'link')} followed at layer {t.layer}"
        how += ", a .. above / stayed at /)" if r.clamped else ")"
        return "/" + r.path, how

    def _visible_ref(self, path: str, L: int):
        from ...analysis.links import visible_entry

        return visible_entry(self.analysis.stack, path.strip("/"), L)

    def action_copy(self, step: int) -> None:
        pv = self._preview
        if not pv:
            self.app.notify("p previews the selected file first", timeout=3)
            return
        if len(pv["copies"]) < 2:
            self.app.notify("this file has only one copy in the image", timeout=3)
            return
        pv["pos"] = (pv["pos"] + step) % len(pv["copies"])
        self.query_one("#side", TabbedContent).active = "preview-tab"
        self._load_preview()

    def _load_preview(self, start: int = 0, first_line: int = 1, at_end: bool = False) -> None:
        pv = self._preview
        a = self.analysis
        L, i = pv["copies"][pv["pos"]]
        e = a.layers[L].entries.entry(i)
        if start == 0:
            pv["parts"] = []  # (start, first line) of the parts before the one shown
            pv["kind"] = None
        st = a.waste.state(L, i) if e.type == FILE else ("visible" if a.stack.is_visible(L, i) else "hidden")
        t = Text()
        t.append(clean_text(pv["path"], 300), "bold")
        if pv.get("followed"):
            t.append(" " + pv["followed"], "cyan")
        t.append(f"\ncopy {pv['pos'] + 1} of {len(pv['copies'])}: layer {L} · {human(e.size)} · ")
        t.append(st if st == "visible" else f"hidden ({st} at layer {a.stack.hidden_at[L][i]})",
                 "green" if st == "visible" else "yellow")
        if len(pv["copies"]) > 1:
            t.append("  [ ] other copies", "dim")
        self.query_one("#preview-title", Static).update(t)
        view = self.query_one("#preview", PreviewView)
        view.set_lines([Text("loading…", style="dim italic")])
        width = max(view.scrollable_content_region.width, self.query_one("#side-pane").size.width - 4) or 80
        self._read_preview(a, L, i, pv["target"], e.size, width, start, first_line, pv.get("kind"), at_end)

    def on_preview_view_more(self, m: PreviewView.More) -> None:
        """Scrolled past a part of a big file: read the next (or the previous) part."""
        pv = self._preview
        part = pv.get("part") if pv else None
        if part is None:
            return
        if m.step > 0:
            pv["parts"].append((part.start, part.first_line))
            self._load_preview(part.end, part.next_line)
        elif pv["parts"]:
            start, first = pv["parts"].pop()
            self._load_preview(start, first, at_end=True)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def _read_preview(self, a, L, i, path, size, width, start=0, first_line=1, kind=None, at_end=False) -> None:
        worker = get_current_worker()
        part = None
        try:
            data = a.read(L, i, P.PREVIEW_CAP, start)
            part = P.render_part(data, path, size, width, start, first_line, kind)
            lines = part.lines
        except Exception as e:
            lines = [Text(f"cannot read: {type(e).__name__}: {clean_text(str(e), 300)}", style="red")]
        if not worker.is_cancelled:
            self.post_message(M.PreviewRendered(lines, worker, part, at_end))

    @ui
    def on_preview_rendered(self, m: M.PreviewRendered) -> None:
        if m.worker.is_cancelled:
            return
        part = m.part
        pv = self._preview
        if part is not None and pv is not None:
            pv["part"], pv["kind"] = part, part.kind
        size = pv and self.analysis.layers[pv["copies"][pv["pos"]][0]].entries.sizes[pv["copies"][pv["pos"]][1]]
        self.query_one("#preview", PreviewView).set_lines(
            m.lines, more_before=part is not None and part.start > 0,
            more_after=part is not None and bool(size) and part.end < size, at_end=m.at_end)

    # -- waste and jump --------------------------------------------------------
    @on(CursorList.Selected, "#waste")
    @ui
    def _waste_selected(self, event: CursorList.Selected) -> None:
        items = self.query_one("#waste", WasteList).items
        if not items:
            return
        w = items[event.index]
        last = max(c.layer for c in w.copies) if w.copies else None
        if last is None:
            return
        self.goto(w.path, last)

    def goto(self, path: str, layer: int) -> None:
        """Show `path` in the tree at `layer` and focus the tree."""
        layers = self.query_one("#layers", LayerList)
        row = layers.row_of_layer(layer)
        if row is None:
            return
        if self.maximized is not None:  # the tree is behind the zoom: show it, or nothing seems to happen
            self.minimize()
        if self.filter_text:
            self.clear_filter()
            self.app.notify("filter cleared to show the path", timeout=3)
        self.cursor_path = path if path.startswith("/") else "/" + path
        # the highlighted handler would debounce; request at once with the new cursor path
        layers.set_reactive(CursorList.cursor, row)
        layers.rows_changed()
        self._details_for = "path"
        tree = self.query_one("#tree", FileTreeView)
        tree.set_model(None, placeholder="building the tree…")
        self._request_tree(now=True)
        tree.focus()

    def action_jump(self) -> None:
        if self.image is None:
            return
        image = self.image
        self.app.ensure_path_search(image)

        def ready() -> bool:
            return id(image) in self.state.path_search

        def search(q, cancelled):
            idx = self.state.path_search.get(id(image))
            if idx is None:
                return []
            a = self.state.analyses.get(id(image))
            out = []
            for p in idx.search(q, 200, cancelled):
                layers = idx.layers_of(p)
                lab = Text(no_wrap=True, overflow="ellipsis")
                lab.append("/" + clean_text(p, 300))
                gone = a is not None and a.stack.top_view.get(p) is None
                shown = ",".join(map(str, layers[-8:])) + ("…" if len(layers) > 8 else "")
                lab.append(("   layers " if len(layers) > 1 else "   layer ") + shown, "dim")
                if gone:
                    lab.append("  not in the final image", "yellow dim")
                out.append((p, lab))
            return out

        def done(path: str | None) -> None:
            if not path:
                return
            idx = self.state.path_search.get(id(image))
            L = idx.last_layer(path) if idx else None
            if L is None or image is not self.image:
                return
            self.goto(path, L)

        self.app.push_screen(JumpScreen(ready, search), done)

    # -- extract ---------------------------------------------------------------
    @on_selection
    def action_extract(self) -> None:
        t, node = self._selected()
        a = self.analysis
        if t is None:
            self.app.notify("select a file or directory in the tree first", timeout=3)
            return
        if a is None:
            self.app.notify("extraction is available once every layer is indexed", timeout=3)
            return
        if t.status[node] == S_DELETED:
            self.app.notify("this entry is deleted at this layer; pick a lower layer to extract it", timeout=4)
            return
        path = t.path(node)
        L = t.layer
        default = os.path.join(os.getcwd(), "layerscope-extract")

        def chosen(res) -> None:
            if res:
                dest, keep_setuid = res
                self.app.extract(a, L, path, dest, keep_setuid, False)

        self.app.push_screen(ExtractScreen(path, L, default), chosen)

    # -- the command palette ----------------------------------------------------
    def system_commands(self) -> list[tuple]:
        """(title, help, callback) of the palette's commands for this view."""
        return [
            ("Toggle changes / merged view", "File tree: what this layer changed, or the whole filesystem at it (m)",
             self.action_toggle_mode),
            ("Sort by name / size", "Sort the file tree (s)", self.action_toggle_sort),
            ("Show only changed entries", "Hide entries this layer did not touch (c)", self.action_toggle_changed),
            ("Filter files", "Glob (*.so, usr/lib/*) or re:REGEX (f)", self.action_filter),
            ("Clear filter", "Show every file again (escape in the filter)", self.clear_filter),
            ("Jump to path", "Fuzzy search a path across every layer (/)", self.action_jump),
            ("Expand all", "Open every directory of the tree (E)",
             lambda: self.query_one("#tree", FileTreeView).action_expand_all()),
            ("Collapse all", "Close every directory of the tree (C)",
             lambda: self.query_one("#tree", FileTreeView).action_collapse_all()),
            ("Details", "Details of the selected layer or path (d)", self.action_details),
            ("Whole build step", "The selected layer's build step in full, however long (b)",
             self.action_build_step),
            ("Full text of the row", "The highlighted row's path, command or finding in full (o)",
             self.action_full_value),
            ("Preview file", "Content of the selected file (p); [ ] cycle hidden copies", self.action_preview),
            ("Open in pager", "A read-only copy of the file in $PAGER (P)", lambda: self.action_open_external("pager")),
            ("Open in editor", "A read-only copy of the file in $VISUAL / $EDITOR (V)",
             lambda: self.action_open_external("editor")),
            ("Previous copy", "Preview the previous copy of the file ([)", lambda: self.action_copy(-1)),
            ("Next copy", "Preview the next copy of the file (])", lambda: self.action_copy(1)),
            ("Waste view", "Paths that cost hidden bytes, biggest first (w)", self.action_waste),
            ("Packages", "Packages of the view at the selected layer, biggest first (K)", self.action_packages),
            ("Size map", "Boxes sized by bytes, coloured by the layer that stored them (M)", self.action_size_map),
            ("Weigh a squash", "What squashing layers i..j would save, beside the other what-ifs (S)",
             self.action_squash),
            ("Image config and picker", "Env, Cmd, labels; pick another image (i)", self.action_image),
            ("Extract", "Copy the selected file or directory to a folder (x)", self.action_extract),
            ("Save view", "Save the file tree, waste list or findings as CSV or JSON lines (e)", self.action_save_view),
            ("Compare with another image…", "Diff this image against another loaded image (v)",
             self.app.action_compare),
            ("Layer graph", "Which layers the loaded images share, and what sharing saves (g)",
             self.app.action_graph),
            ("Focus layers", "Move to the layer list (1)", lambda: self.action_focus_pane(1)),
            ("Focus files", "Move to the file tree (2)", lambda: self.action_focus_pane(2)),
            ("Focus side pane", "Move to details / preview / waste (3)", lambda: self.action_focus_pane(3)),
            ("Zoom pane", "Maximize the focused pane, again to restore (z)", self.app.action_zoom),
            ("Show keys", "Every key binding (?)", self.app.action_help),
        ]

    # -- what the app's loading reports -------------------------------------------
    def on_mount(self) -> None:
        settings = getattr(self.app, "settings", None)
        if settings is not None:  # the first sort and view a user chose
            self.sort, self.mode = settings.sort, settings.mode
            self.query_one("#tree", FileTreeView).bars = settings.bars
        self.query_one("#layers-pane").border_title = "Layers"
        self._files_title()
        self._side_title()
        self.query_one("#layers", LayerList).focus()

    @ui
    def show_fatal(self, msg: str) -> None:
        t = Text()
        t.append("error: ", "bold red")
        t.append(clean_text(msg, 2000), "red")
        self.query_one("#summary", Static).update(t)
        self.query_one("#progress-row").add_class("done")
        layers = self.query_one("#layers", LayerList)
        layers.placeholder = "nothing to show: " + clean_text(msg, 400)
        layers.refresh()
        tree = self.query_one("#tree", FileTreeView)
        tree.set_model(None, placeholder="nothing to show (see the error above); q quits")

    @ui
    def graph_opened(self) -> None:
        """The graph and the image to show are in the state: list its layers."""
        from ..fmt import picker_labels

        graph, image = self.graph, self.image
        picker = self.query_one("#image-picker", Select)
        if len(graph.images) > 1:
            opts = []
            for k, label in enumerate(picker_labels(graph.images)):
                opts.append((Text(clean_text(label, 120)), k))
            picker.set_options(opts)
            picker.value = graph.images.index(image)
            picker.add_class("multi")
            self.query_one("#picker-row").add_class("multi")
            sources = self.app.sources
            where = "in the archive" if len(sources) == 1 else f"from {len(sources)} archives"
            self.query_one("#picker-note", Label).update(
                Text(f"{len(graph.images)} images {where} · i switch · v compare · g layer graph", style="dim"))
        self.query_one("#layers-header", Static).update(LayerList.header(len(graph.images) > 1,
                                                                          self.query_one("#layers", LayerList).dockerfile))
        bar = self.query_one("#progress", ProgressBar)
        todo = sum(1 for l in graph.layers.values() if not l.indexed)
        bar.update(total=max(1, todo), progress=0)
        self._show_image(keep_row=False)

    @ui
    def layers_indexed(self, done: int, total: int) -> None:
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=max(1, total), progress=done)
        self.query_one("#progress-label", Label).update(f"indexing layers {done}/{total}")
        self.query_one("#layers", LayerList).refresh()
        if self._waiting_tree:
            self._request_tree()

    @ui
    def fetching(self, text: str) -> None:
        """Layer blobs are downloading: which, how far along, how fast."""
        self.query_one("#progress-label", Label).update(Text(text))

    @ui
    def all_indexed(self) -> None:
        self.query_one("#progress-label", Label).update("analysing: sizes, shadows, waste…")
        self.query_one("#progress", ProgressBar).update(total=None)
        self.query_one("#layers", LayerList).refresh()

    @ui
    def analysed(self) -> None:
        """The shown image's analysis is in the state."""
        self.query_one("#progress-row").add_class("done")
        self._show_image(keep_row=True)

    def path_search_ready(self, search) -> None:
        """The jump dialog over this view can search now."""
        scr = self.app.screen
        if isinstance(scr, JumpScreen):
            scr.query_one("#jump-status", Static).update(Text(f"{len(search):,} paths", style="dim"))
            q = scr.query_one("#jump-input", Input).value
            if q:
                scr.run_search(q)
