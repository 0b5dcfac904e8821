"""The comparison of two images: a screen with the summary, the difference as
a browsable tree (same colours, glyphs, sizes and controls as the layer
view), and for the selection the A side against the B side; tabs for the
layer stacks and the config/history changes.

The core computes (`analysis.diff`); this module only renders.  Every name
from an image goes through clean_text()."""

from __future__ import annotations

import json

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from ...analysis.diff import ADDED, CHANGED, CONTENT, METADATA, REMOVED, TYPE
from ...analysis.tree import S_ADDED, S_DELETED, S_METADATA, S_UNCHANGED
from ...errors import one_line
from ...model import DIR, FILE, HARDLINK, SYMLINK, TYPE_NAMES
from ...units import plural
from .. import gcfreeze
from ..filterbox import FilterBoxMixin
from ..fmt import (
    CONTAINS_CHANGES,
    NAME_STYLE,
    SIZE_W,
    STATUS,
    TBAR_W,
    bar,
    clean_text,
    clipped_text,
    diff_legend_text,
    human,
    mode_text,
    short_command,
    signed,
)
from ..treemodel import TreeRows, compile_filter, shown_mask
from ..widgets import FileTreeView, Pane
from ..widgets.cursorlist import CursorList
from ..widgets.keybar import KeyBar

DELTA_W = 10
NARROW = 60  # a tree narrower than this shows no bars
AUTO_EXPAND_MAX = 400
KEEP_EXPANDED_MAX = 5000
SORTS = ("name", "size", "delta")
TABS = ("diff-path-tab", "diff-layers-tab", "diff-config-tab")


def image_line(label: str, im, style: str) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f"{label} ", f"bold {style}")
    t.append(clean_text(im.name, 120), "bold")
    if len(im.refs) > 1:
        t.append(f" (+{len(im.refs) - 1} tags)", "dim")
    t.append("  " + clean_text(str(im.platform), 60), "cyan")
    t.append(f"  {plural(len(im.layers), 'layer')}", "dim")
    digest = (im.digest or "").split(":", 1)[-1][:12]
    if digest:
        t.append(f"  {digest}", "dim")
    if im.source:
        t.append("  " + clean_text(im.source, 200), "dim")
    return t


def summary_text(a, b, d=None, note: str = "") -> Text:
    """The top of the diff screen: both sides, then the verdict and figures."""
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append("layerscope diff  ", "bold magenta")
    t.append_text(image_line("A", a, "red"))
    t.append("\n                 ")
    t.append_text(image_line("B", b, "green"))
    t.append("\n")
    if d is None:
        t.append(note or "comparing…", "dim italic")
        return t
    c = d.counts()
    n_cfg = f"{len(d.config)} config change{'s' if len(d.config) != 1 else ''}"
    if d.identical:
        t.append("= identical", "bold green")
        t.append(": same files, same config", "green")
        if d.history:
            t.append(f" ({len(d.history)} history step(s) differ)", "dim")
    elif not d.changes:
        t.append("≠ different", "bold yellow")
        t.append(": ")
        t.append("same files", "green")
        t.append(" · ")
        t.append(n_cfg, "bold")
    else:
        t.append("≠ different", "bold yellow")
        t.append(": ")
        t.append(f"{c[ADDED]:,} added", "green")
        t.append(" · ")
        t.append(f"{c[REMOVED]:,} removed", "red")
        t.append(" · ")
        t.append(f"{c[CHANGED]:,} changed", "yellow")
        kinds = ", ".join(f"{c[k]:,} {name}" for k, name in ((CONTENT, "content"), (METADATA, "mode/owner"),
                                                            (TYPE, "type")) if c[k])
        if kinds:
            t.append(f" ({kinds})", "dim")
        t.append(" · ")
        t.append(n_cfg, "bold" if d.config else "dim")
    t.append("\nfiles in the final view ")
    t.append(human(d.size_a), "bold")
    t.append(" → ")
    t.append(human(d.size_b), "bold")
    t.append(f" ({signed(d.size_delta)})", "bold" if d.size_delta else "dim")
    lc = d.layers
    t.append(" · layers: ")
    if lc.diverge_at is None:
        t.append(f"all {lc.common_prefix} the same", "green")
    else:
        t.append(f"{lc.common_prefix} in common", "bold")
        t.append(f" ({human(sum(s.size for s in lc.shared if s.in_prefix))})", "dim")
        t.append(f", diverge at {lc.diverge_at}")
        if lc.out_of_order:
            t.append(f", {len(lc.out_of_order)} shared elsewhere")
        t.append(" · only A ")
        t.append(str(len(lc.only_a)), "bold red")
        t.append(" · only B ")
        t.append(str(len(lc.only_b)), "bold green")
    for w in d.warnings[:2]:
        t.append("\nwarning: " + clean_text(w, 300), "yellow")
    return t


# ---------------------------------------------------------------------------
def _layer_line(t: Text, mark: str, mstyle: str, side: str, idx: int, layer, created_by: str) -> None:
    t.append(f"{mark} ", mstyle)
    t.append(f"{side}{idx:<3}", "bold")
    t.append(f" {layer.short_id}  " if layer is not None else " ?             ", "dim")
    t.append(human(layer.size if layer is not None else 0).rjust(SIZE_W))
    t.append("  " + short_command(created_by) + "\n", "" if created_by else "dim")


def layers_text(d) -> Text:
    """The two stacks: the common bottom, then what only one side has."""
    a, b = d.a_image, d.b_image
    lc = d.layers
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f"A has {plural(len(a.layers), 'layer')}, B has {len(b.layers)}\n", "bold")
    if lc.diverge_at is None:
        t.append(f"every layer is the same ({human(lc.shared_bytes)})\n\n", "green")
    else:
        t.append(f"{lc.common_prefix} in common at the bottom, ", "")
        t.append(f"the stacks diverge at layer {lc.diverge_at}\n", "bold")
        t.append(f"{len(lc.shared)} shared in all ({human(lc.shared_bytes)}), "
                 f"{len(lc.only_a)} only in A, {len(lc.only_b)} only in B\n\n", "dim")
    for s in lc.shared:
        if s.in_prefix:
            _layer_line(t, "=", "bold green", "L", s.a_index, a.layers[s.a_index], a.created_by(s.a_index))
    if lc.diverge_at is not None:
        t.append("── the stacks diverge here ──\n", "bold yellow")
    for o in lc.only_a:
        _layer_line(t, "-", "bold red", "A", o.index, a.layers[o.index], o.created_by)
    for o in lc.only_b:
        _layer_line(t, "+", "bold green", "B", o.index, b.layers[o.index], o.created_by)
    ooo = lc.out_of_order
    if ooo:
        t.append("\nshared, but not in the same place\n", "bold")
        for s in ooo:
            t.append("≈ ", "bold magenta")
            t.append(f"A{s.a_index} = B{s.b_index}", "bold")
            t.append(f"  {a.layers[s.a_index].short_id}  {human(s.size)}  ", "dim")
            t.append(short_command(a.created_by(s.a_index)) + "\n")
    t.append("\n= both use it there   - only in A   + only in B   ≈ shared elsewhere", "dim")
    return t


def _value(v) -> str:
    if v is None:
        return "(none)"
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False)


def config_text(d) -> Text:
    """Config changes (Env, Cmd, …) and history steps only one side has."""
    t = Text()
    if not d.config:
        t.append("Config: the same\n", "bold green")
    else:
        t.append(f"Config: {len(d.config)} change{'s' if len(d.config) != 1 else ''}\n", "bold")
        for c in d.config:
            t.append(clean_text(c.field, 100), "bold")
            if c.key:
                t.append(" " + clean_text(c.key, 300), "bold cyan")
            t.append(f"  {c.change}\n", {"added": "green", "removed": "red"}.get(c.change, "yellow"))
            if c.a is not None:
                t.append("  A ", "bold red")
                t.append(clipped_text(_value(c.a), 4000) + "\n")
            if c.b is not None:
                t.append("  B ", "bold green")
                t.append(clipped_text(_value(c.b), 4000) + "\n")
    t.append("\n")
    if not d.history:
        t.append("History: the same build steps\n", "bold green")
    else:
        t.append(f"History: {len(d.history)} step(s) differ", "bold")
        t.append("  (history alone does not make images different)\n", "dim")
        for h in d.history[:500]:
            if h.change == REMOVED:
                t.append(f"  - A#{h.index:<3}", "red")
            else:
                t.append(f"  + B#{h.index:<3}", "green")
            t.append(short_command(h.created_by))
            if h.empty_layer:
                t.append("  (no layer)", "dim")
            t.append("\n")
        if len(d.history) > 500:
            t.append(f"  … {len(d.history) - 500} more\n", "dim")
    return t


# ---------------------------------------------------------------------------
def _side_of(stack, path: str):
    """(layer, entry or None, implied) of `path` in a side's final view, or None."""
    ref = stack.top_view.get(path.strip("/"))
    if ref is None:
        return None
    L, i = ref
    if i < 0:
        return L, None
    return L, stack.layers[L].entries.entry(i)


def _cell(s: str, style: str = "") -> Text:
    return Text(s, style=style, overflow="fold")


def path_comparison(t, n: int) -> Group:
    """The selected path of the diff tree: the A side against the B side."""
    d = t.diff
    path = t.path(n)
    status = t.status[n]
    change = t.change(n)
    head = Text()
    head.append(clean_text(path, 2000), "bold")
    head.append("\n")
    glyph, gstyle, _ = STATUS[status]
    if status == S_ADDED:
        what = "added: only in B"
    elif status == S_DELETED:
        what = "removed: only in A"
    elif change is not None and change.kind == TYPE:
        what = "changed: the type"
    elif change is not None and change.kind == CONTENT:
        what = "changed: content" + (" (and mode/owner)" if change.meta_changed else "")
    elif status == S_METADATA:
        what = "changed: mode/owner only"
    elif t.is_dir(n) and t.changed_below(n):
        glyph, gstyle = CONTAINS_CHANGES
        what = f"the same directory, {t.changed_below(n):,} change(s) inside"
    else:
        what = "the same in both"
    head.append(f"{glyph.strip() or '='} {what}", gstyle or "green")
    head.append("\n")
    sa, sb = _side_of(d.a_stack, path), _side_of(d.b_stack, path)
    tab = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1), expand=True, show_header=True,
                header_style="bold")
    tab.add_column("", style="bold", no_wrap=True, width=7)
    tab.add_column("A", ratio=1, overflow="fold", header_style="bold red")
    tab.add_column("B", ratio=1, overflow="fold", header_style="bold green")
    ea = sa[1] if sa else None
    eb = sb[1] if sb else None
    is_dir = t.is_dir(n)

    def row(key: str, va: str | None, vb: str | None) -> None:
        diff = sa is not None and sb is not None and va != vb
        st = "bold yellow" if diff else ""
        tab.add_row(key, _cell("—" if va is None else va, st if va is not None else "dim"),
                    _cell("—" if vb is None else vb, st if vb is not None else "dim"))

    def typ(s, e):
        if s is None:
            return None
        return TYPE_NAMES.get(e.type, "?") if e is not None else "dir (implied)"

    row("type", typ(sa, ea), typ(sb, eb))
    if is_dir:
        row("size", human(t.old_size(n)) + " inside" if sa else None, human(t.new_size(n)) + " inside" if sb else None)
    else:
        def size(s, e):
            if s is None:
                return None
            if e is not None and e.type == FILE:
                return f"{human(e.size)} ({e.size:,} B)"
            return human(0)
        row("size", size(sa, ea), size(sb, eb))

    def mode(s, e):
        if s is None:
            return None
        if e is None:
            return f"{mode_text(0o755, DIR)} (0755, implied)"
        return f"{mode_text(e.mode, e.type)} ({e.mode:04o})"

    def owner(s, e):
        if s is None:
            return None
        return f"{e.uid}:{e.gid}" if e is not None else "0:0"

    def link(s, e):
        if s is None:
            return None
        if e is not None and e.link is not None and e.type in (SYMLINK, HARDLINK):
            return ("→ " if e.type == SYMLINK else "⇒ ") + clean_text(e.link, 2000)
        return ""

    row("mode", mode(sa, ea), mode(sb, eb))
    row("owner", owner(sa, ea), owner(sb, eb))
    la, lb = link(sa, ea), link(sb, eb)
    if la or lb:
        row("link", la, lb)

    def layer(s, im):
        if s is None:
            return None
        L = s[0]
        ly = im.layers[L] if 0 <= L < len(im.layers) else None
        out = f"L{L}" + (f" ({ly.short_id})" if ly is not None else "")
        cb = im.created_by(L)
        if cb:
            out += "  " + short_command(cb)[:100]
        return out

    tab.add_row("layer", _cell(layer(sa, d.a_image) or "—", "dim"), _cell(layer(sb, d.b_image) or "—", "dim"))
    tail = Text()
    delta = t.delta(n)
    tail.append("\nΔ size ", "bold")
    tail.append(signed(delta), "bold" if delta else "dim")
    tail.append(f"  ({human(t.old_size(n))} → {human(t.new_size(n))})", "dim")
    if is_dir:
        dd = d.directories.get(path.strip("/"))
        if dd is not None:
            tail.append("\ninside  ", "bold")
            tail.append(f"+{dd.added:,} added  ", "green")
            tail.append(f"-{dd.removed:,} removed  ", "red")
            tail.append(f"~{dd.changed:,} changed", "yellow")
    if sa is not None or sb is not None:
        tail.append("\n\na / b: show it in the layer view of A / B", "dim italic")
    return Group(head, tab, tail)


# ---------------------------------------------------------------------------
class DiffTreeView(FileTreeView):
    """The difference as a tree: status glyph, size (B; A for a removed
    entry), bar, size change, name."""

    BINDINGS = [
        Binding("E", "expand_all", "Expand all", show=False),
        Binding("C", "collapse_all", "Collapse all", show=False),
    ]
    placeholder = "comparing…"

    def render_row(self, i: int, width: int) -> Text:
        m = self.model
        t_ = m.tree
        node = m.rows[i]
        depth = m.depth[i]
        status = t_.status[node]
        is_dir = t_.is_dir(node)
        glyph, gstyle, _ = STATUS[status]
        if status == S_UNCHANGED and is_dir and t_.changed_below(node):
            glyph, gstyle = CONTAINS_CHANGES
        removed = status == S_DELETED
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(glyph, gstyle)
        out.append(" ")
        size = t_.size(node)
        out.append(human(size).rjust(SIZE_W), "dim strike" if removed else ("bold" if is_dir else ""))
        out.append(" ")
        p = t_.parent[node]
        psize = t_.size(p) if p >= 0 else 0
        if self.with_bar(width):
            if removed:
                out.append("".ljust(TBAR_W))
            else:
                out.append(bar(size / psize if psize else 0.0, TBAR_W), "blue" if is_dir else "cyan")
            out.append(" ")
        delta = t_.delta(node)
        out.append((signed(delta) if delta else "·").rjust(DELTA_W - 1), "bold" if delta else "dim")
        out.append(" " + "  " * depth)
        if is_dir and m.has_kids(node):
            out.append("▾ " if m.is_expanded(node) else "▸ ", "bold")
        else:
            out.append("  ")
        name = clean_text(t_.name(node), 300)
        style = NAME_STYLE.get(status, "")
        change = t_.change(node)
        if is_dir:
            out.append(name + "/", (style + " bold").strip())
            if not m.is_expanded(node):
                inside = t_.changed_below(node) - (1 if change is not None else 0)
                n_in = t_.count(node)
                bits = [f"{n_in:,}"] if n_in else []
                if inside > 0 and status not in (S_ADDED, S_DELETED):  # all inside is, for those
                    if inside == n_in:
                        bits.append("all changed")
                    else:  # removed paths are changes too, but are not among B's entries counted first
                        bits.append(f"{inside:,} changed" + (", removed ones included" if inside > n_in else ""))
                if bits:
                    out.append(" (" + ", ".join(bits) + ")", "dim")
        else:
            out.append(name, style)
            e = t_.entry(node)
            if e is not None and e.link is not None and e.type in (SYMLINK, HARDLINK):
                out.append(" → " if e.type == SYMLINK else " ⇒ ", "dim")
                out.append(clean_text(e.link, 200), "dim")
        if removed:
            if p <= 0 or t_.status[p] != S_DELETED:  # the root of what was removed
                out.append("  only in A", "red dim")
        elif change is not None and change.a is not None and change.b is not None:
            a, b = change.a, change.b
            if change.kind == TYPE:
                out.append(f"  {a.type_name} → {b.type_name}", "yellow")
            elif change.kind == CONTENT and a.type == SYMLINK and a.link != b.link:
                out.append("  was → " + clean_text(a.link or "", 120), "yellow dim")
            elif change.kind == CONTENT and change.meta_changed:
                out.append("  and mode/owner", "cyan dim")
            if change.kind == METADATA or (change.kind == CONTENT and change.meta_changed):
                bits = []
                if a.mode != b.mode:
                    bits.append(f"{a.mode:04o}→{b.mode:04o}")
                if (a.uid, a.gid) != (b.uid, b.gid):
                    bits.append(f"{a.uid}:{a.gid}→{b.uid}:{b.gid}")
                if bits and change.kind == METADATA:
                    out.append("  " + " ".join(bits), "cyan")
        return out

    @staticmethod
    def with_bar(width: int) -> bool:
        """Narrow panes drop the bars: the names need the room."""
        return width >= NARROW

    def arrow_x(self, i: int) -> int:
        width = self.scrollable_content_region.width or self.size.width
        bar_w = TBAR_W + 1 if self.with_bar(width) else 0
        return 1 + 1 + SIZE_W + 1 + bar_w + DELTA_W - 1 + 1 + 2 * self.model.depth[i]


# ---------------------------------------------------------------------------
class DiffScreen(FilterBoxMixin, Screen):
    """Image A against image B.  Escape goes back to the layer view."""

    BINDINGS = [
        Binding("escape", "back", "Layer view"),
        Binding("s", "sort", "Sort"),
        Binding("c", "toggle_changed", "Changed"),
        Binding("f", "filter", "Filter"),
        Binding("t", "next_tab", "Tabs"),
        Binding("a", "open_side('a')", "Layers of A/B", key_display="a/b"),
        Binding("b", "open_side('b')", "Layers of B", show=False),
        Binding("r", "swap", "Swap", show=False),
        Binding("d", "tab('diff-path-tab')", "Path details", show=False),
        Binding("g", "app.graph", "Layer graph", show=False),
    ]

    def __init__(self, a, b) -> None:
        super().__init__()
        self.a = a
        self.b = b
        self.diff = None
        self.dtree = None
        self.error: str | None = None
        self.sort = "name"
        self.only_changed = True
        self.filter_text = ""
        self.expanded_paths: set[str] = set()
        self.cursor_path: str | None = None
        self._token = 0
        self._changed_mask: bytearray | None = None
        self._details_timer = None
        self._filter_timer = None
        self._note = "comparing…"
        self._mounted = False

    def compose(self) -> ComposeResult:
        yield Static(summary_text(self.a, self.b), id="diff-summary", markup=False)
        with Horizontal(id="diff-main"):
            with Pane(id="diff-files-pane"):
                yield DiffTreeView(id="diff-tree")
                yield Input(placeholder="filter: glob like *.so or usr/lib/*, or re:REGEX; escape clears",
                            id="diff-filter", compact=True)
                yield Static(diff_legend_text(), id="diff-legend", markup=False)
            with Pane(id="diff-side-pane"), TabbedContent(id="diff-side", initial="diff-path-tab"):
                with TabPane("Path", id="diff-path-tab"):
                    with VerticalScroll(id="diff-details-scroll"):
                        yield Static(Text("select a path in the tree", style="dim"), id="diff-details", markup=False)
                with TabPane("Layers", id="diff-layers-tab"):
                    with VerticalScroll(id="diff-layers-scroll"):
                        yield Static(Text("comparing…", style="dim"), id="diff-layers", markup=False)
                with TabPane("Config", id="diff-config-tab"):
                    with VerticalScroll(id="diff-config-scroll"):
                        yield Static(Text("comparing…", style="dim"), id="diff-config", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self._mounted = True
        self._titles()
        self.query_one("#diff-side-pane").border_title = "A ⇄ B"
        self.query_one("#diff-tree", DiffTreeView).focus()
        if self.diff is not None:
            self._show()
        elif self.error is not None:
            self.failed(self.error)
        else:
            self.waiting(self._note)

    @property
    def live(self) -> bool:
        return self._mounted and self.is_attached

    # -- filling in ------------------------------------------------------
    def waiting(self, note: str) -> None:
        self._note = note
        if not self.live:
            return
        self.query_one("#diff-summary", Static).update(summary_text(self.a, self.b, None, note))
        tree = self.query_one("#diff-tree", DiffTreeView)
        tree.placeholder = note
        tree.refresh()

    def failed(self, msg: str) -> None:
        self.error = msg
        if not self.live:
            return
        t = summary_text(self.a, self.b, None, " ")
        t.append("error: ", "bold red")
        t.append(clean_text(msg, 1000), "red")
        self.query_one("#diff-summary", Static).update(t)
        self.query_one("#diff-tree", DiffTreeView).set_model(None, placeholder="cannot compare (see above)")

    def set_diff(self, d, dtree) -> None:
        self.diff = d
        self.dtree = dtree
        self._changed_mask = bytearray(map(bool, dtree.changed))
        if not d.changes:
            self.only_changed = False  # no file differs: show them all, unchanged
        if self.live:
            self._show()

    def _show(self) -> None:
        d = self.diff
        self.query_one("#diff-summary", Static).update(summary_text(self.a, self.b, d))
        self.query_one("#diff-layers", Static).update(layers_text(d))
        self.query_one("#diff-config", Static).update(config_text(d))
        side = self.query_one("#diff-side", TabbedContent)
        side.get_tab("diff-config-tab").label = f"Config ({len(d.config)})" if d.config else "Config"
        if d.config and not d.changes:
            side.active = "diff-config-tab"  # what differs is the config
        self._request_tree()

    def _titles(self, extra: str = "") -> None:
        pane = self.query_one("#diff-files-pane")
        pane.border_title = "Files: changes A → B" if self.only_changed else "Files: A ∪ B, changes marked"
        bits = [f"sort: {self.sort}"]
        if self.only_changed:
            bits.append("only changed")
        if self.filter_text:
            bits.append("filter: " + clean_text(self.filter_text, 40))
        if extra:
            bits.append(extra)
        pane.border_subtitle = " · ".join(bits)

    # -- the tree ----------------------------------------------------------
    def _request_tree(self) -> None:
        tree = self.query_one("#diff-tree", DiffTreeView)
        self._titles()
        if self.dtree is None:
            return
        if tree.model is not None and tree.node is not None:
            self.cursor_path = tree.model.tree.path(tree.node)
            if not self.filter_text and len(tree.model.expanded) <= KEEP_EXPANDED_MAX:
                self.expanded_paths = {tree.model.tree.path(n) for n in tree.model.expanded}
        inp = self.query_one("#diff-filter", Input)
        try:
            pred = compile_filter(self.filter_text) if self.filter_text else None
            inp.remove_class("error")
        except ValueError as e:
            pred = None
            inp.add_class("error")
            self.notify(one_line(str(e)), severity="error", timeout=4)
        self._token += 1
        self._build(self._token, self.dtree, self.sort, self.only_changed, pred, bool(self.filter_text),
                    set(self.expanded_paths), self.cursor_path)

    @work(thread=True, exclusive=True, group="difftree", exit_on_error=False)
    @gcfreeze.building
    def _build(self, token, t, sort, only_changed, pred, filtering, expanded_paths, cursor_path) -> None:
        worker = get_current_worker()
        try:
            keep, matches, kept = shown_mask(t, self._changed_mask if only_changed else None, pred)
            expanded = {n for n in (t.find(p) for p in expanded_paths) if n is not None}
            rows = TreeRows(t, sort, keep, expanded)
            if filtering or (only_changed and kept <= AUTO_EXPAND_MAX) or (not expanded_paths and kept <= 60):
                rows.expand_all()
            cursor = rows.reveal_path(cursor_path)
        except Exception as e:  # never a traceback
            self.app.call_from_thread(self.notify, one_line(f"cannot build the tree: {type(e).__name__}: {e}"),
                                      severity="error")
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._install, token, rows, cursor, matches)

    def _install(self, token, rows: TreeRows, cursor: int, matches) -> None:
        if token != self._token or not self.live:
            return
        gcfreeze.settle()
        tree = self.query_one("#diff-tree", DiffTreeView)
        if not rows.rows:
            if self.filter_text:
                ph = "nothing matches the filter (escape in the filter box clears it)"
            elif self.only_changed:
                ph = "no file differs (c shows every file)" if not self.diff.changes else \
                    "no changes in this view (c shows everything)"
            else:
                ph = "both images are empty"
            tree.set_model(rows, None, 0, placeholder=ph)
        else:
            tree.set_model(rows, None, cursor)
        self._titles(f"{matches:,} match(es)" if matches is not None else "")

    @on(FileTreeView.FileActivated, "#diff-tree")
    def _file_activated(self, event: FileTreeView.FileActivated) -> None:
        event.stop()  # enter on a file: its details, A against B
        self.action_tab("diff-path-tab")

    @on(CursorList.Highlighted, "#diff-tree")
    def _highlighted(self) -> None:
        if self._details_timer is not None:
            self._details_timer.stop()
        self._details_timer = self.set_timer(0.05, self._details)

    def _details(self) -> None:
        self._details_timer = None
        if not self.live:
            return
        tree = self.query_one("#diff-tree", DiffTreeView)
        if tree.node is None:
            return
        t, n = tree.model.tree, tree.node
        self.cursor_path = t.path(n)
        try:
            body = path_comparison(t, n)
        except Exception as e:
            body = Text(f"cannot show details: {type(e).__name__}: {clean_text(str(e), 300)}", style="red")
        self._details_body = body
        self.query_one("#diff-details", Static).update(body)
        self.query_one("#diff-details-scroll").scroll_home(animate=False)

    def details_plain(self) -> str:
        """The path details as plain text (for tests)."""
        import io

        from rich.console import Console

        con = Console(width=100, file=io.StringIO(), color_system=None)
        body = getattr(self, "_details_body", None)
        if body is None:
            return ""
        con.print(body)
        return con.file.getvalue()

    # -- actions -----------------------------------------------------------
    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._request_tree()

    def action_toggle_changed(self) -> None:
        self.only_changed = not self.only_changed
        self._request_tree()

    FILTER_INPUT = "#diff-filter"
    FILTER_TREE = "#diff-tree"

    def _filter_live(self) -> bool:
        return self.live

    @on(Input.Changed, "#diff-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._filter_typed(event.value)

    @on(Input.Submitted, "#diff-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self._filter_entered(event)

    def system_commands(self) -> list[tuple]:
        """(title, help, callback) of the palette's commands for this view."""
        return [
            ("Sort by name / size / Δ", "Sort the comparison tree (s)", self.action_sort),
            ("Show only changed paths", "Only changes, or every path of A and B (c)",
             self.action_toggle_changed),
            ("Filter paths", "Glob (*.so, usr/lib/*) or re:REGEX (f)", self.action_filter),
            ("Clear filter", "Show every path again (escape)", self.clear_filter),
            ("Expand all", "Open every directory of the tree (E)",
             lambda: self.query_one("#diff-tree").action_expand_all()),
            ("Collapse all", "Close every directory of the tree (C)",
             lambda: self.query_one("#diff-tree").action_collapse_all()),
            ("Path details", "The selected path: A against B (d)", lambda: self.action_tab("diff-path-tab")),
            ("Layer comparison", "Layers in common, where the stacks diverge (t)",
             lambda: self.action_tab("diff-layers-tab")),
            ("Config and history changes", "Env, Cmd, labels, ports, build steps (t)",
             lambda: self.action_tab("diff-config-tab")),
            ("Layer view of A", "Back to the layers of A, at the selected path (a)",
             lambda: self.action_open_side("a")),
            ("Layer view of B", "The layers of B, at the selected path (b)", lambda: self.action_open_side("b")),
            ("Swap A and B", "Compare the other way round (r)", self.action_swap),
            ("Layer graph", "Which layers the two images share (g)", self.app.action_graph),
            ("Back to the layer view", "Leave the comparison (escape)", self.action_back),
            ("Show keys", "Every key binding (?)", self.app.action_help),
        ]

    def action_back(self) -> None:
        f = self.query_one("#diff-filter", Input)
        if self.focused is f or f.has_class("active"):
            self.clear_filter()
            self.query_one("#diff-tree", DiffTreeView).focus()
            return
        if self.maximized is not None:
            self.minimize()
            return
        self.dismiss()

    def action_next_tab(self) -> None:
        side = self.query_one("#diff-side", TabbedContent)
        k = TABS.index(side.active) if side.active in TABS else -1
        side.active = TABS[(k + 1) % len(TABS)]

    def action_tab(self, tab: str) -> None:
        self.query_one("#diff-side", TabbedContent).active = tab

    def selected_path(self) -> str | None:
        tree = self.query_one("#diff-tree", DiffTreeView)
        if tree.node is None:
            return None
        return tree.model.tree.path(tree.node)

    def action_open_side(self, side: str) -> None:
        """The layer view of one side, at the layer that provides the selected path."""
        im = self.a if side == "a" else self.b
        path = self.selected_path()
        layer = None
        if path is not None and self.diff is not None:
            stack = self.diff.a_stack if side == "a" else self.diff.b_stack
            got = _side_of(stack, path)
            if got is not None:
                layer = got[0]
            else:
                self.notify(f"that path is not in {side.upper()}: showing its top layer", timeout=4)
                path = None
        self.app.show_in_layer_view(im, path, layer)

    def action_swap(self) -> None:
        self.app.open_diff(self.b, self.a)
