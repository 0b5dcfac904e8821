"""Modal screens: keys help, fuzzy jump, extraction, saving a view, a squash to weigh."""

from __future__ import annotations

import os
import re

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from ...units import plural
from ..fmt import clean_text, diff_legend_text, legend_text
from ..keys import help_sections

# (key, what) by pane, from the key table; the help screen and its test read this.
KEYS: list[tuple[str, list[tuple[str, str]]]] = help_sections()

COLUMNS = [
    ("layers: size", "bytes of the files the layer stores; the bar is scaled to the largest layer"),
    ("layers: +add ~new *meta =dup -del", "entries the layer added; stored again with new content, with only a new "
     "mode or owner (metadata only), or identical (duplicate); deleted"),
    ("layers: wasted", "bytes of this layer that upper layers hide (overwrite or delete)"),
    ("files: size", "a directory's size counts everything below it"),
    ("files: bar", "the entry's share of the layer (changes) or image (merged view); r: of its directory"),
    ("files: (n)", "entries inside a closed directory"),
    ("compare: size, Δ", "size in B (in A for a removed path); Δ = size in B − size in A"),
    ("graph: ● N", "the image (column) uses the layer as its layer N; │ its stack goes on past the row"),
    ("graph: figures", "alone: what an image needs by itself; stored once: every distinct layer once"),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        t = Text()
        t.append("layerscope keys\n\n", "bold")
        for section, rows in KEYS:
            t.append(section + "\n", "bold underline")
            for k, what in rows:
                t.append(f"  {k:<30}", "bold cyan")
                t.append(what + "\n")
            t.append("\n")
        own = getattr(getattr(self.app, "settings", None), "keys", None)
        if own:
            t.append(f"Your keys ({clean_text(self.app.settings.path or 'settings', 200)})\n", "bold underline")
            for kid, keys in sorted(own.items()):
                t.append(f"  {clean_text(keys, 30):<30}", "bold cyan")
                t.append(kid + "\n")
            t.append("\n")
        t.append("Legend\n", "bold underline")
        t.append("  ")
        t.append_text(legend_text(True))
        t.append("\n  o", "bold red")
        t.append(" directory made opaque by the layer (what lower layers had inside is hidden)")
        t.append("\n  B", "bold blue")
        t.append(" base-image layer   ")
        t.append("⧉", "magenta")
        t.append(" layer shared by several images   dimmed rows: steps that made no layer\n")
        t.append("  compare: ")
        t.append_text(diff_legend_text())
        t.append("\n\n")
        t.append("Columns\n", "bold underline")
        for k, what in COLUMNS:
            t.append(f"  {k:<30}", "bold")
            t.append(what + "\n")
        with VerticalScroll(id="help-box"):
            yield Static(t, id="help-text", markup=False)
            yield Static(Text("escape to close", style="dim"), markup=False)

    def action_dismiss(self, result=None) -> None:
        self.dismiss(None)


class JumpScreen(ModalScreen[str | None]):
    """Type part of a path; enter jumps to it."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "down", "Down", show=False),
        Binding("up", "up", "Up", show=False),
    ]

    def __init__(self, index_ready, search) -> None:
        super().__init__()
        self._index_ready = index_ready  # () -> bool
        self._search = search  # (query, cancelled) -> list[(path, label Text)]

    def compose(self) -> ComposeResult:
        with Vertical(id="jump-box"):
            yield Label(Text("Jump to a path in any layer (fuzzy); enter to go, escape to cancel", style="bold"), markup=False)
            yield Input(placeholder="e.g. os-release, usr bin python, /etc/pas", id="jump-input")
            yield OptionList(id="jump-results", markup=False)
            yield Static("", id="jump-status", markup=False)

    def on_mount(self) -> None:
        self.query_one("#jump-input", Input).focus()
        if not self._index_ready():
            self.query_one("#jump-status", Static).update(Text("indexing paths…", style="dim"))

    @on(Input.Changed, "#jump-input")
    def _changed(self, event: Input.Changed) -> None:
        if self._index_ready() and event.value.strip():
            # a search over a million paths takes a while: say so until its results replace this
            self.query_one("#jump-status", Static).update(Text("searching…", style="dim"))
        self.run_search(event.value)

    @work(thread=True, exclusive=True, group="jump")
    def run_search(self, query: str) -> None:
        worker = get_current_worker()
        results = self._search(query, lambda: worker.is_cancelled)
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show, query, results)

    def _show(self, query: str, results) -> None:
        ol = self.query_one("#jump-results", OptionList)
        ol.clear_options()
        ol.add_options([Option(label, id=str(k)) for k, (path, label) in enumerate(results)])
        self._paths = [p for p, _ in results]
        if results:
            ol.highlighted = 0
        status = self.query_one("#jump-status", Static)
        if query.strip():
            status.update(Text(f"{len(results)} match(es)" + (" (first 200)" if len(results) >= 200 else ""),
                               style="dim"))
        else:
            status.update("")

    def action_down(self) -> None:
        ol = self.query_one("#jump-results", OptionList)
        if ol.option_count:
            ol.highlighted = min(ol.option_count - 1, (ol.highlighted or 0) + (0 if ol.highlighted is None else 1))

    def action_up(self) -> None:
        ol = self.query_one("#jump-results", OptionList)
        if ol.option_count and ol.highlighted:
            ol.highlighted -= 1

    @on(Input.Submitted, "#jump-input")
    def _submit(self) -> None:
        ol = self.query_one("#jump-results", OptionList)
        if ol.highlighted is not None and getattr(self, "_paths", None):
            self.dismiss(self._paths[ol.highlighted])

    @on(OptionList.OptionSelected, "#jump-results")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._paths[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExtractScreen(ModalScreen[tuple[str, bool] | None]):
    """Ask where to extract; returns (folder, keep_setuid)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, what: str, layer: int, default: str) -> None:
        super().__init__()
        self.what = what
        self.at_layer = layer
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="extract-box"):
            t = Text("Extract ", style="bold")
            t.append(clean_text(self.what, 400), "bold cyan")
            t.append(f" as it is at layer {self.at_layer}", "bold")
            yield Label(t, markup=False)
            yield Label(Text("into this folder (its path inside the image is kept below it):", style="dim"), markup=False)
            yield Input(value=self.default, id="extract-dest")
            yield Checkbox("keep setuid/setgid bits", value=False, id="extract-setuid")
            with Horizontal(id="extract-buttons"):
                yield Button("Extract", variant="primary", id="extract-ok")
                yield Button("Cancel", id="extract-cancel")

    def on_mount(self) -> None:
        self.query_one("#extract-dest", Input).focus()

    def _ok(self) -> None:
        dest = self.query_one("#extract-dest", Input).value.strip()
        if not dest:
            self.notify("type a folder to extract into", severity="warning")
            return
        self.dismiss((os.path.expanduser(dest), self.query_one("#extract-setuid", Checkbox).value))

    @on(Input.Submitted, "#extract-dest")
    def _submitted(self) -> None:
        self._ok()

    @on(Button.Pressed, "#extract-ok")
    def _pressed_ok(self) -> None:
        self._ok()

    @on(Button.Pressed, "#extract-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class SaveScreen(ModalScreen[str | None]):
    """Ask where to save the view `what`; returns the path (.csv or .json)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, what: str, default: str) -> None:
        super().__init__()
        self.what = what
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="save-box"):
            t = Text("Save ", style="bold")
            t.append(self.what, "bold cyan")
            yield Label(t, markup=False)
            yield Label(Text("to this file: .csv, or .json for JSON lines (as `ls --json` and `report --json` "
                             "write them); nothing is overwritten without asking", style="dim"), markup=False)
            yield Input(value=self.default, id="save-path")
            with Horizontal(id="save-buttons"):
                yield Button("Save", variant="primary", id="save-ok")
                yield Button("Cancel", id="save-cancel")

    def on_mount(self) -> None:
        self.query_one("#save-path", Input).focus()

    @on(Input.Submitted, "#save-path")
    @on(Button.Pressed, "#save-ok")
    def _ok(self) -> None:
        from ..export import ExportError, format_of

        path = os.path.expanduser(self.query_one("#save-path", Input).value.strip())
        try:
            format_of(path)
        except ExportError as e:
            self.notify(str(e), severity="warning")
            return
        self.dismiss(path)

    @on(Button.Pressed, "#save-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def parse_range(text: str, layers: int) -> tuple[int, int]:
    """Layers "i..j" (or "i-j", "i j") of a stack of `layers`; ValueError says what is wrong."""
    got = re.fullmatch(r"\s*(\d+)\s*(?:\.\.|-|\s)\s*(\d+)\s*", text)
    if got is None:
        raise ValueError("give two layers, as in 2..5")
    i, j = int(got[1]), int(got[2])
    if i > j:
        i, j = j, i
    if j >= layers:
        raise ValueError(f"the image has layers 0..{layers - 1}")
    if i == j:
        raise ValueError("a squash takes two layers or more")
    return i, j


class SquashScreen(ModalScreen[tuple[int, int] | None]):
    """Ask which layers to weigh squashing; returns (first, last)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, layers: int, default: tuple[int, int]) -> None:
        super().__init__()
        self.n_layers = layers
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="squash-box"):
            yield Label(Text("What if these layers were one?", style="bold"), markup=False)
            yield Label(Text(f"layers i..j of 0..{self.n_layers - 1}, made one: the copies they store and "
                             "hide among themselves are gone", style="dim"), markup=False)
            yield Input(value=f"{self.default[0]}..{self.default[1]}", id="squash-range")
            with Horizontal(id="squash-buttons"):
                yield Button("Weigh it", variant="primary", id="squash-ok")
                yield Button("Cancel", id="squash-cancel")

    def on_mount(self) -> None:
        self.query_one("#squash-range", Input).focus()

    @on(Input.Submitted, "#squash-range")
    @on(Button.Pressed, "#squash-ok")
    def _ok(self) -> None:
        try:
            got = parse_range(self.query_one("#squash-range", Input).value, self.n_layers)
        except ValueError as e:
            self.notify(str(e), severity="warning")
            return
        self.dismiss(got)

    @on(Button.Pressed, "#squash-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("escape,n", "no", "No"), Binding("y", "yes", "Yes")]

    def __init__(self, message: Text, yes: str = "Overwrite") -> None:
        super().__init__()
        self.message = message
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(self.message, markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="confirm-yes")
                yield Button("Cancel (n)", id="confirm-no")

    @on(Button.Pressed, "#confirm-yes")
    def action_yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def action_no(self) -> None:
        self.dismiss(False)


class CompareScreen(ModalScreen[int | None]):
    """Pick the image to compare the current one with; returns its index in
    graph.images (the current image is side A)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, images: list, current, labels: list[str], preselect: int | None = None) -> None:
        super().__init__()
        self.images = images
        self.current = current
        self.labels = labels
        self.preselect = preselect

    def compose(self) -> ComposeResult:
        cur = self.images.index(self.current)
        with Vertical(id="compare-box"):
            t = Text("Compare ", style="bold")
            t.append("A ", "bold red")
            t.append(clean_text(self.labels[cur], 200), "bold")
            t.append(" with B:", "bold")
            yield Label(t, markup=False)
            opts = []
            mine = {l.key for l in self.current.layers}
            for k, im in enumerate(self.images):
                if im is self.current:
                    continue
                lab = Text(no_wrap=True, overflow="ellipsis")
                lab.append(f"[{k + 1}] ", "bold cyan")
                lab.append(clean_text(self.labels[k], 200))
                shared = sum(1 for l in im.layers if l.key in mine)
                lab.append(f"  {plural(len(im.layers), 'layer')}, {shared} shared with A", "dim")
                opts.append(Option(lab, id=str(k)))
            yield OptionList(*opts, id="compare-list", markup=False)
            yield Static(Text("enter compares · escape cancels", style="dim"), markup=False)

    def on_mount(self) -> None:
        ol = self.query_one("#compare-list", OptionList)
        ol.focus()
        if self.preselect is not None:
            for i in range(ol.option_count):
                if ol.get_option_at_index(i).id == str(self.preselect):
                    ol.highlighted = i
                    break
        elif ol.option_count:
            ol.highlighted = 0

    @on(OptionList.OptionSelected, "#compare-list")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)
