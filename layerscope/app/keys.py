"""The explorer's keys, in one table: the bindings of the app and of the
layer view, the key bar's labels and the help screen are made from it, and
a test holds README's key table to it."""

from __future__ import annotations

from typing import NamedTuple

from textual.binding import Binding


class Key(NamedTuple):
    key: str  # Textual's name of the key ("" for a row that only documents keys)
    action: str | None  # what it runs (None: a key of a widget or of Textual itself)
    description: str  # its label in the key bar, when `bar`
    where: str  # "app" (every view), "layers" (the layer view), or a help section of widget keys
    help: tuple[str, str] | None = None  # (keys as shown, what they do) on the help screen
    bar: bool = False  # shown in the key bar

    @property
    def id(self) -> str:
        """Its name in the settings' [keys] table: the action without "app." or
        punctuation (focus_pane(1) -> focus_pane_1)."""
        act = (self.action or "").removeprefix("app.")
        if act in _NAMED_IDS:
            return _NAMED_IDS[act]
        return act.replace("(", "_").replace(")", "").replace(",", "_").replace("-", "minus_").strip("_")


# In key-bar order: the layer view's bar shows the shown keys of "app" and
# "layers" as they come here.
KEYS: list[Key] = [
    Key("q", "app.quit", "Quit", "app", ("q", "quit"), bar=True),
    Key("question_mark", "app.help", "Keys", "app", ("?", "this help"), bar=True),
    Key("", None, "", "app", ("tab / shift+tab", "next / previous pane")),
    Key("1", "focus_pane(1)", "Layers", "layers", ("1 2 3", "focus layers / files / the right-hand pane")),
    Key("2", "focus_pane(2)", "Files", "layers"),
    Key("3", "focus_pane(3)", "Side pane", "layers"),
    Key("slash", "jump", "Jump", "layers", ("/", "jump to a path (fuzzy, across every layer)"), bar=True),
    Key("m", "toggle_mode", "Mode", "layers", ("m", "file tree: changes of the layer ⇄ merged view at the layer"),
        bar=True),
    Key("s", "toggle_sort", "Sort", "layers", ("s", "sort files by name ⇄ size"), bar=True),
    Key("c", "toggle_changed", "Changed", "layers", ("c", "show only changed entries (on/off)"), bar=True),
    Key("r", "toggle_bars", "Bars", "layers",
        ("r", "size bars: share of the layer (or image) ⇄ share of the entry's directory")),
    Key("f", "filter", "Filter", "layers", ("f", "filter files by glob or regex (re:EXPR); escape clears"), bar=True),
    Key("d", "details", "Details", "layers", ("d", "details of the selection")),
    Key("b", "build_step", "Step", "layers",
        ("b", "the whole build step of the selected layer, however long (the details show its beginning)")),
    Key("p", "preview", "Preview", "layers",
        ("p", "preview the selected file (then [ and ] for hidden copies)"), bar=True),
    Key("P", "open_external('pager')", "Pager", "layers",
        ("P", "open the file (the copy previewed, else the one at this layer) in $PAGER, read-only")),
    Key("V", "open_external('editor')", "Editor", "layers",
        ("V", "open a read-only copy of the file in $VISUAL / $EDITOR")),
    Key("M", "size_map", "Size map", "layers",
        ("M", "size map of the merged view at the layer: boxes sized by bytes, coloured and numbered by layer")),
    Key("w", "waste", "Waste", "layers", ("w", "waste view: paths that cost hidden bytes"), bar=True),
    Key("F", "findings", "Findings", "layers",
        ("F", "findings: what a change to the build could save, with the fix (enter: the biggest file)")),
    Key("S", "squash", "Squash", "layers",
        ("S", "what if layers i..j were squashed: the bytes it saves (and ≈ compressed), in the findings tab")),
    Key("D", "toggle_dockerfile", "Dockerfile", "layers",
        ("D", "layer list: a table of sizes and changes ⇄ the build as a Dockerfile, each step with the bytes "
              "it added and hid and its findings")),
    Key("K", "packages", "Packages", "layers",
        ("K", "packages at the selected layer, biggest first, with real bytes (enter: its files in the tree)")),
    Key("i", "image", "Image", "layers", ("i", "image config (and the image picker when the archive has several)")),
    Key("v", "app.compare", "Compare", "layers", ("v", "compare this image with another loaded image (diff view)")),
    Key("g", "app.graph", "Graph", "app",
        ("g", "layer graph: which layers the loaded images share, what sharing saves")),
    Key("x", "extract", "Extract", "layers", ("x", "extract the selected file or directory to a folder"), bar=True),
    Key("e", "save_view", "Save view", "layers",
        ("e", "save the focused view (the file tree, the waste list or the findings) as CSV or JSON lines")),
    Key("z", "app.zoom", "Zoom", "app", ("z", "zoom the focused pane (again to restore)")),
    Key("o", "full_value", "Full text", "layers",
        ("o", "the highlighted row in full: a layer's build step, a path, a wasted path's copies, a finding")),
    Key("y", "copy_path", "Copy path", "layers",
        ("y", "copy the selected path to the clipboard (OSC 52: works over SSH in most terminals)")),
    Key("", None, "", "app", ("ctrl+p", "command palette: every action by name")),
    Key("left_square_bracket", "copy(-1)", "Prev copy", "layers"),
    Key("right_square_bracket", "copy(1)", "Next copy", "layers"),
    # keys of the panes' widgets, for the help screen
    Key("", None, "", "Layers", ("↑ ↓ pgup pgdn home end", "choose the build step; the tree follows")),
    Key("", None, "", "Layers", ("enter", "go to its files")),
    Key("", None, "", "Files", ("↑ ↓ (k j) pgup pgdn home end", "move")),
    Key("", None, "", "Files", ("enter / space", "open or close a directory; on a file: preview")),
    Key("", None, "", "Files", ("→ / ← (l / h)", "expand / collapse (← on a file: go to its directory)")),
    Key("", None, "", "Files", ("E / C", "expand all / collapse all")),
    Key("", None, "", "Files", ("mouse", "click a row; click the ▸ arrow to open it")),
    Key("", None, "", "Waste", ("enter", "show the file in the tree (at the layer of its last copy)")),
    Key("", None, "", "Preview", ("[ / ]", "previous / next copy of the file (hidden copies in lower layers)")),
    Key("", None, "", "Preview", ("arrows, pgup/pgdn", "scroll")),
]

# the comparison and the layer graph bind their own keys (screens/diff.py, screens/graph.py)
OTHER_VIEWS: list[tuple[str, list[tuple[str, str]]]] = [
    ("Compare  (layerscope A B, or A@REF B@REF; v in the layer view)", [
        ("s", "sort by name ⇄ size ⇄ Δ (biggest size change first)"),
        ("c", "only changed paths ⇄ every path of A and B"),
        ("f", "filter paths (glob or re:EXPR); escape clears"),
        ("enter / → ← / E C", "open and close directories, as in the layer view"),
        ("t", "side tabs: the selected path (A against B) / layers / config and history"),
        ("a / b", "the layer view of A / B, at the layer that provides the selected path"),
        ("r", "swap A and B"),
        ("g", "the layer graph of both images (which layers they share)"),
        ("escape", "back to the layer view (v brings the comparison back)"),
    ]),
    ("Size map (M)", [
        ("arrows / tab", "move between the boxes (each an entry of the directory, its area its bytes)"),
        ("enter / backspace", "open the highlighted directory / back up to the one above"),
        ("t", "show the highlighted entry in the tree (merged view at the layer)"),
        ("escape", "up a directory; at the top, back to the layer view"),
    ]),
    ("Layer graph (g)", [
        ("↑ ↓", "choose a layer: its size, blob, build step and the images using it"),
        ("enter", "open the layer in the layer view (of an image that uses it)"),
        ("escape", "back to the view it was opened from"),
    ]),
]

_SECTION = {"app": "Everywhere", "layers": "Everywhere"}


def bindings(where: str) -> list[Binding]:
    """The bindings of `where`: "app" (bound on the app, for every view), or
    "layers" (the layer view, which also lists the app's keys of its key bar
    first so that its bar reads in the table's order)."""
    out = []
    for k in KEYS:
        if not k.key or k.action is None:
            continue
        if k.where == where or (where == "layers" and k.where == "app" and k.bar):
            out.append(Binding(k.key, k.action, k.description, show=k.bar, id=k.id))
    return out


_NAMED_IDS = {"copy(-1)": "prev_copy", "copy(1)": "next_copy", "open_external('pager')": "pager",
              "open_external('editor')": "editor"}


def key_ids() -> set[str]:
    """Every id a user may rebind in the settings' [keys] table."""
    return {k.id for k in KEYS if k.key and k.action is not None}


def help_sections() -> list[tuple[str, list[tuple[str, str]]]]:
    """(section, [(keys, what they do)]) for the help screen."""
    sections: dict[str, list[tuple[str, str]]] = {}
    for k in KEYS:
        if k.help is not None:
            sections.setdefault(_SECTION.get(k.where, k.where), []).append(k.help)
    return list(sections.items()) + OTHER_VIEWS
