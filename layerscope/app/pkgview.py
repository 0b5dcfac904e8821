"""The layer view's Packages tab: the packages of the view at the selected
layer (analysis.packages), read in a worker after the first analysis is
shown; Enter narrows the file tree to the highlighted package's files.

A mixin of LayerScreen (screens/layers.py), which composes the tab and
routes its list's messages here."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.message import Message
from textual.widgets import Input, Static, TabbedContent

from . import gcfreeze
from .fmt import clean_text, human, note
from .widgets.packagelist import PackageList, package_text

FILTER_PREFIX = "pkg:"  # the filter box's text while the tree shows one package's files


class PackagesRead(Message):
    """The package databases of `analysis` are read (or that failed: `error`)."""

    def __init__(self, analysis, error: str | None = None) -> None:
        super().__init__()
        self.analysis, self.error = analysis, error


class PackagesTabMixin:
    """Needs on the screen: `analysis`, `image`, `_current_row()`, `mode`,
    `filter_text`, `cursor_path`, `state`, `_request_tree()` and `goto()`."""

    _pkg_files: tuple[str, frozenset[str]] | None = None  # (filter text, paths) of the package the tree shows

    def _packages_layer(self) -> int | None:
        row = self._current_row()
        if row is not None and row.index is not None:
            return row.index
        return len(self.image.layers) - 1 if self.image is not None and self.image.layers else None

    def _fill_packages(self, a) -> None:
        lst = self.query_one("#packages", PackageList)
        title = self.query_one("#packages-title", Static)
        if a is None:
            lst.set_items([])
            lst.placeholder = "the packages fill in once every layer is indexed"
            title.update(Text("waiting for the analysis…", style="dim"))
            return
        if a._packages is None:
            lst.set_items([])
            lst.placeholder = "reading the package databases…"
            title.update(Text("reading the package databases…", style="dim"))
            if id(a) not in self.state.reading_packages:
                self.state.reading_packages.add(id(a))
                self._read_packages(a)
            return
        N = self._packages_layer()
        if N is None:
            return
        pa = a.packages()
        items = pa.rows(N)
        if lst.items is not items:
            lst.set_items(items)
        lp = pa.layers[N]
        t = Text()
        t.append(f"{len(items):,} packages, {human(sum(r.bytes for r in items))} at layer {N}", "bold")
        t.append(f"  layer {N}: +{len(lp.added)} ^{len(lp.upgraded)} -{len(lp.removed)}, "
                 f"{human(lp.unowned_bytes)} no package owns", "dim")
        t.append("  (enter: its files in the tree)", "dim")
        for n in pa.notes[:3]:
            t.append("\n" + clean_text(n, 300), "yellow")
        title.update(t)
        self._show_package()

    @work(thread=True, group="packages", exit_on_error=False)
    @gcfreeze.building
    def _read_packages(self, a) -> None:
        try:
            a.packages().rows()
        except Exception as e:  # a bug: say so in the view rather than stop silently
            self.post_message(PackagesRead(a, f"reading the package databases failed: {type(e).__name__}: {e}"))
            return
        self.post_message(PackagesRead(a))

    def on_packages_read(self, m: PackagesRead) -> None:
        self.state.reading_packages.discard(id(m.analysis))
        if m.error is not None:
            self.app.notify(note(m.error), severity="error", timeout=10)
        elif self.analysis is m.analysis:
            self._fill_packages(m.analysis)

    def _packages_follow_layer(self) -> None:
        """The list follows the layer list's cursor while its tab is shown."""
        if self.query_one("#side", TabbedContent).active == "packages-tab":
            self._fill_packages(self.analysis)

    def _show_package(self) -> None:
        lst = self.query_one("#packages", PackageList)
        box = self.query_one("#package-text", Static)
        if lst.items and 0 <= lst.cursor < len(lst.items):
            box.update(package_text(lst.items[lst.cursor], self.analysis))
        else:
            box.update(Text(""))

    def _package_selected(self, index: int) -> None:
        """The tree narrowed to the package's files, in the merged view at the list's layer."""
        items = self.query_one("#packages", PackageList).items
        N = self._packages_layer()
        if not items or N is None or not 0 <= index < len(items) or not items[index].paths:
            return
        r = items[index]
        text = FILTER_PREFIX + r.name
        self._pkg_files = (text, frozenset("/" + p for p, _ in r.paths))
        self.mode = "merged"
        self.goto(r.paths[0][0], N)  # clears any filter, then builds the tree at N
        box = self.query_one("#filter", Input)
        box.value = text
        box.add_class("active")
        self.filter_text = text
        self._request_tree(now=True)

    def package_filter(self):
        """The tree's predicate while it shows one package's files, else None."""
        if self._pkg_files is not None and self.filter_text == self._pkg_files[0]:
            paths = self._pkg_files[1]
            return lambda name, path: path in paths
        return None

    def action_packages(self) -> None:
        self.query_one("#side", TabbedContent).active = "packages-tab"
        self.query_one("#packages", PackageList).focus()
        self._fill_packages(self.analysis)
        if self.analysis is None:
            self.app.notify("the packages fill in once every layer is indexed", timeout=3)
