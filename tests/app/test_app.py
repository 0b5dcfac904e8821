"""Pilot tests of the explorer on the bundled samples and synthetic images:
each interaction, asserting on what the widgets hold and what the screen shows."""

from __future__ import annotations

import os
import threading
import time

import pytest

from layerscope.analysis.tree import S_DELETED
from layerscope.app import LayerscopeApp
from layerscope.app.screens.dialogs import KEYS, ConfirmScreen, ExtractScreen, HelpScreen, JumpScreen
from layerscope.app.testing import mem_graph, screen_segments, screen_text
from layerscope.app.widgets import FileTreeView, LayerList, PreviewView, WasteList
from layerscope.model import DIR, FILE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.path.join(ROOT, "sample-images")
CLASSIC = os.path.join(SAMPLES, "classic-docker.tar")
OCI = os.path.join(SAMPLES, "classic-oci.tar")
SHARED = os.path.join(SAMPLES, "shared-base-podman.tar")
SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")


def need(path):
    if not os.path.exists(path):
        pytest.skip(f"{path} not generated")
    return path


async def until(pilot, cond, timeout: float = 10.0, what: str = "condition"):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}:\n{screen_text(pilot.app)}")
        await pilot.pause(0.02)


def tree(app) -> FileTreeView:
    return app.query_one("#tree", FileTreeView)


def layers(app) -> LayerList:
    return app.query_one("#layers", LayerList)


def tree_ready(app) -> bool:
    t = tree(app)
    return (app.analysis is not None and t.model is not None and t.model.tree.mode == app.layer_view.mode
            and not app.layer_view._waiting_tree and app.layer_view._tree_timer is None
            and not app.layer_view.tree_pending
            and not any(w.group == "tree" and w.is_running for w in app.workers))


def waste_ready(app) -> bool:
    """The wasted paths ranked (in a worker after the analysis) and listed."""
    a = app.analysis
    return (a is not None and a.waste.is_ranked and id(a) not in app.state.ranking
            and not any(w.group == "rank" and w.is_running for w in app.workers))


async def ready(pilot):
    await until(pilot, lambda: tree_ready(pilot.app) and waste_ready(pilot.app),
                what="the analysis, the tree and the waste list")
    await pilot.pause(0.05)


def tree_paths(app) -> list[str]:
    m = tree(app).model
    return [m.tree.path(n) for n in m.rows]


def selected_path(app) -> str | None:
    t = tree(app)
    return t.model.tree.path(t.node) if t.node is not None else None


async def select_layer(pilot, L: int):
    ll = layers(pilot.app)
    ll.cursor = ll.row_of_layer(L)
    await until(pilot, lambda: tree_ready(pilot.app) and tree(pilot.app).model.tree.layer == L,
                what=f"tree of layer {L}")


async def move_to(pilot, path: str):
    app = pilot.app
    t = tree(app)
    assert t.select_node(t.model.tree.find(path)), path
    t.focus()
    await until(pilot, lambda: details_text(app).startswith(path + "\n"), what=f"details of {path}")


def details_text(app) -> str:
    return str(app.query_one("#details").render())


# ---------------------------------------------------------------------------
async def test_window_appears_before_indexing(monkeypatch):
    """The layer list comes from the history at once; a progress bar while
    layers are indexed; finished layers can be browsed before the analysis."""
    need(CLASSIC)
    import layerscope.layers.indexing as index_mod

    real = index_mod.index_layers
    gate = threading.Event()

    def slow(graph, progress=None, **kw):
        todo = [l for l in graph.layers.values() if not l.indexed]
        for k, layer in enumerate(todo):
            real(graph, layers=[layer], use_cache=False)
            if progress:
                progress(k + 1, len(todo), layer)
            if k == 1:
                gate.wait(10)

    monkeypatch.setattr(index_mod, "index_layers", slow)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(layers(app).rows) == 9, what="layer list")
        assert app.analysis is None
        assert not layers(app).analysed
        # empty steps are in the list before indexing finishes
        assert [r.index for r in layers(app).rows].count(None) == 2
        await until(pilot, lambda: "indexing layers 2/7" in screen_text(app), what="progress")
        assert not app.query_one("#progress-row").has_class("done")
        # layer 1 is indexed (and layer 0 below it): its changes can be browsed already
        ll = layers(app)
        ll.cursor = ll.row_of_layer(1)
        await until(pilot, lambda: tree(app).model is not None and tree(app).model.tree.layer == 1,
                    what="partial tree")
        assert "/usr" in tree_paths(app)
        assert "analysis pending" in screen_text(app)
        # a layer not indexed yet says so
        ll.cursor = ll.row_of_layer(5)
        await until(pilot, lambda: "waiting for layer" in screen_text(app), what="waiting message")
        gate.set()
        await ready(pilot)
        assert app.query_one("#progress-row").has_class("done")
        assert layers(app).analysed
        assert tree(app).model.tree.layer == 5


async def test_summary_and_layer_list():
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        text = screen_text(app)
        assert "layerscope-demo:classic" in text
        assert "linux/amd64" in text
        assert "Debian GNU/Linux 12 (bookworm)" in text
        assert text.count("an image carries no kernel") == 1  # said once, in the summary
        assert "efficiency" in text and "wasted" in text
        rows = layers(app).rows
        assert len(rows) == 9
        # the last layer is selected at start
        assert layers(app).rows[layers(app).cursor].index == 6
        # empty steps: dimmed, no size
        empty = [i for i, r in enumerate(rows) if r.index is None]
        t = layers(app).render_row(empty[0], 110)
        assert "(no layer)" in t.plain and "ENV LANG=C.UTF-8" in t.plain
        assert all("dim" in str(s.style) for s in t.spans if s.end - s.start > 3)
        # base mark, size bar scaled to the largest layer, counts, wasted
        t0 = layers(app).render_row(0, 110).plain
        assert t0.startswith("B") and "██████████" in t0 and "113.3 kB" in t0
        assert "ADD rootfs.tar.xz" in text and "RUN apt-get install -y vim-tiny" in text
        assert "+add" in text and "wasted" in text


async def test_full_command_in_details():
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ll = layers(app)
        ll.focus()
        row = ll.row_of_layer(4)
        ll.cursor = row
        await until(pilot, lambda: "Layer 4" in details_text(app), what="layer 4's details")
        full = ll.rows[row].created_by
        assert len(full) > 60  # cut in the list...
        line = next(ln for ln in screen_text(app).splitlines() if "RUN rm -rf /usr/share/doc" in ln)
        assert "…" in line and "README" not in line
        d = details_text(app)  # ...complete in the details
        assert full.split()[-1] in d.replace("\n", " ")
        assert "Layer 4" in d and "+1 added" in d


async def test_steps_without_a_layer_are_no_cursor_stops():
    """The classic sample: layer 0, then ENV (no layer), then layer 1: one key
    between them, and the mouse on such a row lands on a layer."""
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ll = layers(app)
        ll.focus()
        empty = [i for i, r in enumerate(ll.rows) if r.index is None]
        assert empty == [1, len(ll.rows) - 1]
        await select_layer(pilot, 1)
        await pilot.press("up")
        await until(pilot, lambda: ll.rows[ll.cursor].index == 0, what="layer 0 after one key")
        await pilot.press("down")
        await until(pilot, lambda: ll.rows[ll.cursor].index == 1, what="layer 1 after one key")
        await pilot.press("end")  # the last row is a CMD step: the cursor stays on the top layer
        await until(pilot, lambda: ll.rows[ll.cursor].index == 6, what="the top layer")
        ll.cursor = 1  # as a click on the ENV row does
        await until(pilot, lambda: ll.cursor != 1 and ll.rows[ll.cursor].index is not None, what="a layer")


async def test_tab_moves_between_panes_and_number_keys():
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.focused is layers(app)
        await pilot.press("tab")
        assert app.focused is tree(app)
        await pilot.press("tab")
        assert app.focused is not tree(app) and app.focused is not layers(app)
        await pilot.press("1")
        assert app.focused is layers(app)
        await pilot.press("2")
        assert app.focused is tree(app)
        await pilot.press("shift+tab")
        assert app.focused is layers(app)
        await pilot.press("z")  # zoom the focused pane
        assert app.screen.maximized is not None
        await pilot.press("z")
        assert app.screen.maximized is None


async def test_layer_cursor_drives_tree_and_modes():
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select_layer(pilot, 3)
        t = tree(app)
        assert t.model.tree.mode == "changes"
        # changes: the deletions of layer 3 as ghosts
        ghosts = [p for p in tree_paths(app) if t.model.tree.status[t.model.tree.find(p)] == S_DELETED]
        assert "/etc/hostname" in ghosts
        assert "Files: changes of layer 3" in screen_text(app)
        assert "deleted" in screen_text(app)
        # an opaque directory (layer 4) is marked, with ghosts for what it hid
        await select_layer(pilot, 4)
        assert "o       5 B" in screen_text(app) and "opaque: lower contents hidden" in screen_text(app)
        assert "dpkg/  deleted, hid 2.3 kB" in screen_text(app)
        await select_layer(pilot, 3)
        await pilot.press("m")
        await ready(pilot)
        assert tree(app).model.tree.mode == "merged"
        assert "merged view at layer 3" in screen_text(app)
        assert "/bin" in tree_paths(app)  # the whole filesystem
        await pilot.press("m")
        await ready(pilot)
        assert tree(app).model.tree.mode == "changes"
        assert "/bin" not in tree_paths(app)


async def test_sort_only_changed_and_expand_collapse():
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select_layer(pilot, 2)
        await pilot.press("m")
        await ready(pilot)
        tree(app).focus()
        await pilot.press("C")
        top = tree_paths(app)
        m = tree(app).model
        assert all(d == 0 for d in m.depth)  # collapsed
        dirs = [p for p in top if m.tree.is_dir(m.tree.find(p))]
        assert top[:len(dirs)] == dirs == sorted(dirs) and "/bin" in dirs  # by name, directories first
        await pilot.press("s")
        await ready(pilot)
        m = tree(app).model
        sizes = [m.tree.size(n) for n in m.rows if m.depth[m.rows.index(n)] == 0]
        assert sizes == sorted(sizes, reverse=True)
        assert "sort: size" in screen_text(app)
        await pilot.press("s")
        await ready(pilot)
        # only changed: everything left is a change of layer 2 or holds one
        await pilot.press("c")
        await ready(pilot)
        m = tree(app).model
        assert "/bin" not in tree_paths(app)
        assert all(m.tree.status[n] != 0 or app.query_one("#tree").changes_below[n] for n in m.rows)
        assert "only changed" in screen_text(app)
        await pilot.press("c")
        await ready(pilot)
        # expand all / collapse all / arrows / enter
        await pilot.press("E")  # a big tree: expanded in a worker
        await until(pilot, lambda: "/usr/share/doc/dpkg/changelog.Debian.gz" in tree_paths(app), what="expand all")
        await pilot.press("C")
        assert all(p.count("/") == 1 for p in tree_paths(app))
        t = tree(app)
        t.cursor = tree_paths(app).index("/etc")
        await pilot.press("right")
        assert "/etc/passwd" in tree_paths(app)
        await pilot.press("down")
        await pilot.press("left")  # on a child: go to the parent
        assert selected_path(app) == "/etc"
        await pilot.press("left")
        assert "/etc/passwd" not in tree_paths(app)
        await pilot.press("enter")
        assert "/etc/passwd" in tree_paths(app)
        assert "▾ etc/" in screen_text(app)
        await pilot.press("enter")
        assert "/etc/passwd" not in tree_paths(app)
        assert "▸ etc/" in screen_text(app)
        # the mouse: a click on the arrow opens the directory
        row = tree_paths(app).index("/etc")
        await pilot.click(FileTreeView, offset=(t.arrow_x(row) + 1, row - int(t.scroll_y)))
        await pilot.pause(0.05)
        assert "/etc/passwd" in tree_paths(app)


async def test_expanded_dirs_and_cursor_follow_layer_changes():
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select_layer(pilot, 1)
        await pilot.press("m")
        await ready(pilot)
        await move_to(pilot, "/usr/bin/vim.tiny")
        layers(app).focus()
        await pilot.press("down")  # next layer keeps the place in the tree
        await until(pilot, lambda: tree_ready(app) and tree(app).model.tree.layer == 2)
        assert selected_path(app) == "/usr/bin/vim.tiny"


async def test_filter_glob_regex_and_escape():
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select_layer(pilot, 2)
        await pilot.press("m")
        await ready(pilot)
        await pilot.press("f")
        assert app.focused is app.query_one("#filter")
        app.query_one("#filter").value = "*.deb"
        await pilot.press("enter")
        await pilot.pause(0.1)
        await ready(pilot)
        assert app.focused is tree(app)
        leaves = [p for p in tree_paths(app) if not p.endswith(("/var", "/cache", "/apt", "/archives"))]
        assert leaves and all(p.endswith(".deb") for p in leaves)
        assert "match(es)" in screen_text(app) and "filter: *.deb" in screen_text(app)
        # regex
        await pilot.press("f")
        inp = app.query_one("#filter")
        inp.value = ""
        inp.value = "re:nginx\\.conf$"
        await pilot.press("enter")
        await ready(pilot)
        assert tree_paths(app)[-1] == "/etc/nginx/nginx.conf"
        # a bad regex says so and does not crash
        await pilot.press("f")
        inp.value = ""
        inp.value = "re:("
        await pilot.press("enter")
        await until(pilot, lambda: inp.has_class("error"), what="the bad regex marked")
        # escape clears
        await pilot.press("f", "escape")
        await ready(pilot)
        assert app.layer_view.filter_text == "" and not inp.has_class("active")
        assert "/bin" in tree_paths(app)


async def test_details_of_a_path():
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select_layer(pilot, 5)
        await move_to(pilot, "/usr/bin/vim.tiny")
        d = details_text(app)
        assert "type        file" in d
        assert "-rwx------" in d and "(0700)" in d
        assert "uid 0, gid 0" in d
        assert "provided by layer 5" in d
        assert "L1   added" in d and "metadata-only" in d  # history across layers
        assert "hidden copies" in d and "costs 60.0 kB" in d  # the shadowed copy and its bytes
        assert "Details: vim.tiny" in screen_text(app)
        # a link target
        await select_layer(pilot, 6)
        await move_to(pilot, "/usr/sbin/nginx-hardlink")
        assert "⇒ (hardlink) usr/sbin/nginx" in details_text(app)
        # a deleted entry (ghost) in layer 3
        await select_layer(pilot, 3)
        await move_to(pilot, "/etc/hostname")
        d = details_text(app)
        assert "deleted" in d and "by layer 3" in d and "from layer 0" in d


async def test_no_tree_before_the_analysis_once_all_is_indexed(monkeypatch):
    """The first tree (the top layer's) needs every layer; once they are all
    indexed the analysis is next, so the tree waits for it rather than
    running the same merge pass beside it and being built again after."""
    need(CLASSIC)
    calls = []
    from layerscope.app.state import LoadedState

    real = LoadedState.tree

    def spy(self, image, a, *args, **kw):
        calls.append(a is not None)
        return real(self, image, a, *args, **kw)

    monkeypatch.setattr(LoadedState, "tree", spy)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert calls and all(calls), calls
        assert tree(app).model.tree.layer == len(app.image.layers) - 1


async def test_analysis_shown_before_waste_is_ranked(monkeypatch):
    """Ranking every wasted path runs in a worker after the analysis is
    shown: the summary does not wait for it, the waste view says what it is
    doing, then fills in."""
    import threading

    from layerscope.analysis.waste import Waste

    need(CLASSIC)
    go = threading.Event()
    real = Waste.ranked

    def slow_ranked(self):
        go.wait(10)
        return real(self)

    monkeypatch.setattr(Waste, "ranked", slow_ranked)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.analysis is not None, what="the analysis")
        assert not app.analysis.waste.is_ranked
        assert "efficiency" in screen_text(app)
        title = str(app.query_one("#waste-title").render())
        assert "ranking the wasted paths" in title
        app.layer_view._show_image(keep_row=True)  # shown again while ranking: still one ranking worker
        assert sum(1 for w in app.workers if w.group == "rank") == 1
        go.set()
        await until(pilot, lambda: waste_ready(app), what="the ranking")
        await pilot.pause(0.05)
        w = app.query_one("#waste", WasteList)
        assert w.items[0].path == "/usr/bin/vim.tiny"
        assert "paths cost" in str(app.query_one("#waste-title").render())


async def test_waste_view_jumps_to_file():
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("w")
        w = app.query_one("#waste", WasteList)
        assert app.focused is w
        sizes = [x.wasted_bytes for x in w.items]
        assert sizes == sorted(sizes, reverse=True) and sizes[0] > 0
        assert w.items[0].path == "/usr/bin/vim.tiny"
        text = screen_text(app)
        assert "/usr/bin/vim.tiny" in text and "paths cost" in text
        await pilot.press("down")
        target = w.items[1].path
        await pilot.press("enter")
        await until(pilot, lambda: tree_ready(app) and selected_path(app) == target, what="jump to waste path")
        assert app.focused is tree(app)
        last = max(c.layer for c in w.items[1].copies)
        assert tree(app).model.tree.layer == last


async def test_preview_text_binary_and_hidden_copies():
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select_layer(pilot, 0)
        await move_to(pilot, "/etc/os-release")
        await pilot.press("p")
        pv = app.query_one("#preview", PreviewView)
        await until(pilot, lambda: "PRETTY_NAME" in pv.plain(), what="text preview")
        assert app.query_one("#side").active == "preview-tab"
        assert "PRETTY_NAME" in screen_text(app)
        # binary: hex dump; enter on a file previews too
        await select_layer(pilot, 5)
        await move_to(pilot, "/usr/bin/vim.tiny")
        await pilot.press("enter")
        await until(pilot, lambda: pv.plain().startswith(" 00000000  7f 45 4c 46"), what="hex preview")
        title = str(app.query_one("#preview-title").render())
        assert "copy 2 of 2" in title and "layer 5" in title and "visible" in title
        # the hidden copy in layer 1
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: "copy 1 of 2" in str(app.query_one("#preview-title").render()))
        title = str(app.query_one("#preview-title").render())
        assert "layer 1" in title and "hidden" in title
        await until(pilot, lambda: pv.plain().startswith(" 00000000"), what="hidden copy content")
        # while the preview is shown it follows the tree's cursor; a directory is not previewed
        await move_to(pilot, "/usr/bin")
        await until(pilot, lambda: "a directory" in str(app.query_one("#preview-title").render()))
        await select_layer(pilot, 0)
        await move_to(pilot, "/etc/passwd")
        await until(pilot, lambda: "root:" in pv.plain(), what="preview following the cursor")


async def test_extract_file_and_overwrite(tmp_path):
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    dest = tmp_path / "out"
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select_layer(pilot, 2)
        await pilot.press("m")
        await ready(pilot)
        await move_to(pilot, "/etc/nginx")
        for attempt in range(2):
            await pilot.press("x")
            await until(pilot, lambda: isinstance(app.screen, ExtractScreen), what="extract dialog")
            inp = app.screen.query_one("#extract-dest")
            inp.value = str(dest)
            await pilot.press("enter")
            if attempt == 0:
                await until(pilot, lambda: app.last_extract is not None, what="extraction")
            else:
                await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="overwrite question")
                app.last_extract = None
                await pilot.press("y")
                await until(pilot, lambda: app.last_extract is not None, what="overwrite")
        assert (dest / "etc/nginx/nginx.conf").read_bytes().startswith(b"user")
        assert (dest / "etc/nginx/sites-enabled/default").is_symlink()
        assert app.last_extract.files >= 2


async def test_jump_fuzzy_across_layers():
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("slash")
        assert isinstance(app.screen, JumpScreen)
        app.screen.query_one("#jump-input").value = "hostname"
        ol = app.screen.query_one("#jump-results")
        await until(pilot, lambda: ol.option_count > 0, what="jump results")
        assert "not in the final image" in screen_text(app)  # deleted in layer 3
        await pilot.press("enter")
        await until(pilot, lambda: tree_ready(app) and selected_path(app) == "/etc/hostname", what="jump")
        assert tree(app).model.tree.layer == 3  # the last layer that touched it: its deletion
        # fuzzy (subsequence) match
        await pilot.press("slash")
        app.screen.query_one("#jump-input").value = "ngxconf"
        ol = app.screen.query_one("#jump-results")
        await until(pilot, lambda: ol.option_count > 0, what="fuzzy results")
        await pilot.press("enter")
        await until(pilot, lambda: tree_ready(app) and selected_path(app) == "/etc/nginx/nginx.conf")
        # escape cancels
        await pilot.press("slash", "escape")
        assert not isinstance(app.screen, JumpScreen)
        # a page of its own: no dimmed copy of the layer view drawn behind it (slow on a big image)
        await pilot.press("slash")
        assert isinstance(app.screen, JumpScreen) and app.screen.styles.background.a == 1.0
        await pilot.press("escape")


async def test_help_lists_every_key_and_palette_has_every_action():
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_text = str(app.screen.query_one("#help-text").render())
        listed = {tok.strip("()") for _, rows in KEYS for k, _ in rows for tok in k.split()}
        names = {"question_mark": "?", "slash": "/", "left_square_bracket": "[", "right_square_bracket": "]",
                 "right": "→", "left": "←"}
        from layerscope.app.screens.layers import LayersScreen

        view_bindings = LayerscopeApp.BINDINGS + LayersScreen.BINDINGS
        assert len(view_bindings) >= 20  # the app's keys and the layer view's
        for b in view_bindings + FileTreeView.BINDINGS:
            for key in b.key.split(","):
                k = names.get(key, key)
                assert k in listed, f"key {key} missing from help"
        for banned in ("ctrl+m", "ctrl+i", "ctrl+space"):
            assert all(banned not in b.key for b in view_bindings)
        assert "legend" in help_text.lower()
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        # every app action has a palette command
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for t in ("Toggle changes / merged view", "Sort by name / size", "Show only changed entries",
                  "Filter files", "Jump to path", "Expand all", "Collapse all", "Preview file", "Waste view",
                  "Extract", "Show keys", "Image config and picker", "Zoom pane", "Details"):
            assert t in titles
        # the footer shows the bindings
        text = screen_text(app)
        for k in ("Quit", "Keys", "Jump", "Filter", "Waste"):
            assert k in text
        # run an action from the palette
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"Toggle chan")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await ready(pilot)
        assert app.layer_view.mode == "merged"


async def test_image_picker_and_shared_layers():
    need(SHARED)
    app = LayerscopeApp([SHARED])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert len(app.graph.images) == 2
        assert app.query_one("#picker-row").has_class("multi")
        text = screen_text(app)
        assert "imgs" in text and "2⧉" in text  # the base layer is shared
        first = app.image
        await pilot.press("i")
        picker = app.query_one("#image-picker")
        assert app.focused is picker
        picker.value = 1
        await until(pilot, lambda: app.image is not first and tree_ready(app), what="second image")
        assert app.image is app.graph.images[1]
        assert app.image.name in screen_text(app)
        assert len(app.state.analyses) == 2
        ll = layers(app)
        ll.focus()
        ll.cursor = 0
        # the details follow the cursor (the handler runs once the focus has moved)
        await until(pilot, lambda: "used by     2 image(s)" in details_text(app), what="the shared layer's details")


async def test_oci_sample_opens():
    need(OCI)
    app = LayerscopeApp([OCI])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.analysis.stack.n == 7
        assert "Debian" in screen_text(app)


async def test_error_is_shown_not_raised(tmp_path):
    bad = tmp_path / "not-an-image.tar"
    bad.write_bytes(b"hello" * 100)
    app = LayerscopeApp([str(bad)])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.fatal is not None, what="error")
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "error:" in text and "not-an-image.tar" in text
        await pilot.press("m", "slash", "x", "p", "w")  # keys do nothing harmful
        await pilot.press("escape", "escape")
        await pilot.press("q")
    assert app.return_code in (0, None)
    missing = LayerscopeApp([str(tmp_path / "missing.tar")])
    async with missing.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: missing.fatal is not None, what="error")


async def test_hostile_names_are_shown_escaped(tmp_path):
    from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive

    names = ["[bold]x", "[reverse]z[", "esc\x1b[31mred\x1b[0m", "new\nline", "tab\there", "rlo\u202eexe.txt",
             "zero\u200bwidth"]
    entries = [F("etc/", "dir"), F("etc/os-release", data=b"PRETTY_NAME=\"\x1b[2Jevil\"\n")]
    entries += [F("d/", "dir")] + [F("d/" + n, data=b"x") for n in names]
    entries += [F("d/bad", raw_name=b"d/bad\xff\xfename", data=b"y")]
    img = ImageSpec([LayerSpec(entries, created_by="/bin/sh -c echo \x1b]0;title\x07 [red]hi[/red]")],
                    repo_tags=["evil\x1b[5m:latest"])
    path = tmp_path / "evil.tar"
    write_archive(str(path), [img], "docker-legacy")
    app = LayerscopeApp([str(path)])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        tree(app).focus()
        await pilot.press("E")
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "[bold]x" in text and "[reverse]z[" in text
        assert "esc\\x1b[31mred\\x1b[0m" in text
        assert "new\\x0aline" in text
        assert "tab\\x09here" in text
        assert "rlo\\u202eexe.txt" in text and "zero\\u200bwidth" in text  # bidi and zero-width: visible
        assert "bad\\xff\\xfename" in text
        assert "[red]hi[/red]" in text and "\\x1b]0;title\\x07" in text
        assert "\\x1b[2Jevil" in text  # the OS name from the image is data too
        for seg in screen_segments(app):
            assert not {"\x1b", "\n", "\x07", "\u202e", "\u200b"} & set(seg.text)
        # the details and a notification with such a name stay literal
        await move_to(pilot, "/d/[bold]x")
        assert "[bold]x" in details_text(app)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ExtractScreen))
        app.screen.query_one("#extract-dest").value = str(tmp_path / "ex")
        await pilot.press("enter")
        await until(pilot, lambda: app.last_extract is not None, what="extract")
        assert (tmp_path / "ex" / "d" / "[bold]x").read_bytes() == b"x"


async def test_50000_entry_directory_stays_fast(monkeypatch):
    """No widget per file: expanding a directory of 50,000 entries only
    flattens rows; the screen renders what is visible."""
    import layerscope.formats.source as formats

    g = mem_graph([[("big", DIR, 0)] + [(f"big/file{i:06d}", FILE, i % 977) for i in range(50000)]])
    monkeypatch.setattr(formats, "open_graph", lambda sources, platform=None: g)
    app = LayerscopeApp(["<memory>"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        n_widgets = len(list(app.screen.walk_children()))
        tree(app).focus()
        await pilot.press("enter")  # expand /big: in a worker, the UI answers meanwhile
        await until(pilot, lambda: len(tree(app).model) == 50001, what="the 50,000 entries")
        await until(pilot, lambda: "file000000" in screen_text(app), what="the first entry on screen")
        await pilot.press("end")
        await until(pilot, lambda: "file049999" in screen_text(app), what="the last entry on screen")
        assert len(list(app.screen.walk_children())) < n_widgets + 10  # no widget per file


async def test_a_broken_layer_is_reported_and_the_rest_stays_usable(tmp_path):
    """A layer whose gzip stream ends early: the app says so, marks the
    layer, and still browses the layers that did load."""
    import json

    from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive

    good = tmp_path / "good"
    img = ImageSpec([LayerSpec([F("etc/", "dir"), F("etc/ok.conf", data=b"fine")], compression="gzip"),
                     LayerSpec([F("var/", "dir"), F("var/big.bin", data=os.urandom(200_000))], compression="gzip")])
    write_archive(str(good), [img], layout="oci", directory=True)
    man = json.loads((good / "index.json").read_text())["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((good / "blobs" / "sha256" / man).read_text())
    blob = good / "blobs" / "sha256" / manifest["layers"][1]["digest"].split(":")[1]
    blob.write_bytes(blob.read_bytes()[: blob.stat().st_size // 2])  # cut the second layer
    app = LayerscopeApp([str(good)])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.image is not None and all(l.indexed for l in app.image.layers),
                    what="indexing")
        assert app.image.layers[1].error and "ends early" in app.image.layers[1].error
        await select_layer(pilot, 1)
        await until(pilot, lambda: "the gzip stream ends early" in details_text(app), what="the error in details")
        flat = " ".join(screen_text(app).split())
        assert "1 layer(s) could not be read (1)" in flat
        assert "this layer could not be read" in flat
        await select_layer(pilot, 0)  # what did load is still browsable
        assert "/etc/ok.conf" in tree_paths(app)
        await pilot.press("q")


# ---------------------------------------------------------------------------
# the lazy merged view and work moved off the UI thread


def eager_rows(a, N, sort="name", only_changed=False):
    from layerscope.analysis.tree import build_merged_tree
    from layerscope.app.treemodel import TreeRows, change_mask

    t = build_merged_tree(a.stack, a.kinds, N)
    r = TreeRows(t, sort, change_mask(t) if only_changed else None)
    r.expand_all()
    return [t.path(n) for n in r.rows]


def index_ready(app) -> bool:
    return app.analysis is not None and app.state.stack_index.get(id(app.analysis)) is not None


async def test_merged_view_is_lazy_and_shows_what_the_eager_tree_shows():
    from layerscope.analysis.lazytree import LazyMergedTree

    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await until(pilot, lambda: index_ready(app), what="the stack index")
        await select_layer(pilot, 4)
        await pilot.press("m")
        await ready(pilot)
        t = tree(app)
        assert isinstance(t.model.tree, LazyMergedTree)
        t.focus()
        for sort, changed in (("name", False), ("size", False), ("name", True)):
            await pilot.press("E")
            await until(pilot, lambda: tree_paths(app) == eager_rows(app.analysis, 4, sort, changed),
                        what=f"all rows sorted by {sort}, only changed {changed}")
            await pilot.press("C")
            await until(pilot, lambda: all(d == 0 for d in tree(app).model.depth), what="collapsed")
            if sort == "name" and not changed:
                await pilot.press("s")
                await ready(pilot)
            elif sort == "size":
                await pilot.press("s")
                await ready(pilot)
                await pilot.press("c")
                await ready(pilot)
        # the opaque directory of layer 4 is marked in the merged view too
        await pilot.press("c")
        await ready(pilot)
        await move_to(pilot, "/usr/share/doc")
        assert "doc/ (1)  opaque: lower contents" in screen_text(app)
        # layer moves in the merged view keep using it
        await select_layer(pilot, 2)
        assert isinstance(tree(app).model.tree, LazyMergedTree)
        assert selected_path(app) == "/usr/share/doc"


async def test_a_filter_on_the_merged_view_matches_the_eager_filter():
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await until(pilot, lambda: index_ready(app), what="the stack index")
        await select_layer(pilot, 2)
        await pilot.press("m")
        await ready(pilot)
        await pilot.press("f")
        await pilot.press(*"nginx")
        await pilot.press("enter")
        await until(pilot, lambda: app.layer_view.filter_text == "nginx" and tree_ready(app), what="the filter applied")
        paths = tree_paths(app)
        assert paths and all("nginx" in p or any(q.startswith(p + "/") and "nginx" in q for q in paths)
                             for p in paths)
        await pilot.press("escape")
        await until(pilot, lambda: not app.layer_view.filter_text and tree_ready(app), what="the filter cleared")
        from layerscope.analysis.lazytree import LazyMergedTree
        assert isinstance(tree(app).model.tree, LazyMergedTree)


async def test_big_directories_open_in_a_worker_and_stale_layer_builds_are_dropped(monkeypatch):
    import layerscope.formats.source as formats

    layer0 = [("big", DIR, 0)] + [(f"big/f{i:05d}", FILE, i % 977 + 1) for i in range(12000)]
    layer0 += [(f"d{k}/x{j}", FILE, 5) for k in range(30) for j in range(800)]
    layers_ = [layer0] + [[(f"big/f{i:05d}", FILE, 5000 + i + L) for i in range(0, 12000, 7)]
                          + [(f"new{L}/y", FILE, 3)] for L in range(1, 6)]
    g = mem_graph(layers_)
    monkeypatch.setattr(formats, "open_graph", lambda sources, platform=None: g)
    app = LayerscopeApp(["<memory>"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await until(pilot, lambda: index_ready(app), what="the stack index")
        await pilot.press("m")
        await ready(pilot)
        # many layer moves in a row: whatever was started for the layers passed by,
        # the tree shown is the one where the cursor stopped
        ll = layers(app)
        ll.focus()
        for key in ["up"] * 4 + ["down"] * 2:
            await pilot.press(key)
        await until(pilot, lambda: tree_ready(app) and tree(app).model.tree.layer == 3, what="layer 3's tree")
        assert "/new3" in tree_paths(app) and "/new4" not in tree_paths(app)
        t = tree(app)
        t.focus()
        t.cursor = tree_paths(app).index("/big")
        await pilot.press("enter")  # 12,000 entries: opened in a worker
        await until(pilot, lambda: len(tree(app).model) == 12000 + 1 + 30 + 3, what="big opened")
        assert selected_path(app) == "/big"
        assert "▾ big/" in screen_text(app)
        await pilot.press("E")  # 36,000 nodes: a worker too; the cursor stays on /big
        await until(pilot, lambda: len(tree(app).model) == 12000 + 30 * 801 + 3 * 2 + 1,
                    what="everything expanded")
        assert selected_path(app) == "/big"
        assert tree_paths(app) == eager_rows(app.analysis, 3)
        await pilot.press("C")
        await until(pilot, lambda: len(tree(app).model) == 1 + 30 + 3, what="collapsed")


async def test_key_bar_follows_the_focus_and_runs_a_clicked_key():
    from layerscope.app.widgets.keybar import KeyBar

    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        bar = app.query_one(KeyBar)

        def bar_text() -> str:
            return screen_text(app).splitlines()[-1]

        layers(app).focus()
        await until(pilot, lambda: " Files " in bar_text() and "Open/close" not in bar_text(), what="layer keys")
        assert all(k in bar_text() for k in (" q Quit ", " ? Keys ", " / Jump ", " m Mode ", "^p palette"))
        tree(app).focus()
        await until(pilot, lambda: "Open/close" in bar_text() and " Files " not in bar_text(), what="tree keys")
        assert " E Expand all " in bar_text()
        # a click on a key runs it
        x = bar_text().index(" ? Keys ") + 2
        await pilot.click(KeyBar, offset=(x, 0))
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help screen")
        assert bar.is_attached


async def test_the_focused_pane_is_lit():
    from textual.color import Color

    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        accent = Color.parse(app.theme_variables["accent"])

        def lit(pane_id: str) -> bool:
            return app.query_one(pane_id).styles.border_top[1] == accent

        layers(app).focus()
        await until(pilot, lambda: lit("#layers-pane") and not lit("#files-pane"), what="the layer pane lit")
        tree(app).focus()
        await until(pilot, lambda: lit("#files-pane") and not lit("#layers-pane") and not lit("#side-pane"),
                    what="the files pane lit")
        await pilot.press("tab")
        await until(pilot, lambda: lit("#side-pane") and not lit("#files-pane"), what="the side pane lit")
        # the filter box is in the files pane: it stays lit while typing
        await pilot.press("f")
        await until(pilot, lambda: lit("#files-pane") and not lit("#side-pane"), what="lit with the filter")


async def test_layers_pane_follows_the_terminal_size(tmp_path):
    """120x40 -> 80x24 -> 120x40 / 200x60, also while another screen is on
    top: the layer pane is as tall as the new size allows, and when every row
    fits, the base layer is in view again."""
    from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive

    path = tmp_path / "many.tar"
    write_archive(str(path), [ImageSpec([LayerSpec([F(f"d{k}/f", data=b"x" * (100 * k + 1))],
                                                   created_by=f"RUN step {k}") for k in range(14)])],
                  "docker-legacy")
    app = LayerscopeApp([str(path)])

    def pane_rows() -> int:
        return app.layer_view.query_one("#layers-pane").outer_size.height

    def expected(h: int) -> int:  # 14 rows, a header and a border: at most 36% of the height
        return max(6, min(14 + 3, int(h * 0.36)))

    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        assert pane_rows() == expected(40)
        for size, over in [((80, 24), False), ((120, 40), False), ((200, 60), False), ((80, 24), True),
                           ((200, 60), True)]:
            if over:
                await pilot.press("question_mark")
                await until(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.resize_terminal(*size)
            await pilot.pause(0.2)
            if over:
                await pilot.press("escape")
                await until(pilot, lambda: not isinstance(app.screen, HelpScreen))
                await pilot.pause(0.2)
            assert pane_rows() == expected(size[1]), size
            ll = layers(app)
            assert ll.scroll_y == ll.max_scroll_y  # the cursor (the top layer) is in view, no gap below
            if expected(size[1]) >= 17:
                assert "RUN step 0" in screen_text(app), size


async def test_layer_rows_and_details_split_modified_by_kind():
    """The chmod layer of the sample re-stores a file with a new mode only, the
    hardlink layer stores an identical copy: neither reads as "modified"."""
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ll = layers(app)
        assert [r.kinds for r in ll.rows if r.index is not None] == [
            (0, 0, 0), (1, 0, 0), (1, 0, 0), (0, 0, 0), (0, 0, 0), (0, 1, 0), (0, 0, 1)]
        header = screen_text(app).splitlines()[4]
        assert all(h in header for h in ("+add", "~new", "*meta", "=dup", "-del"))
        await select_layer(pilot, 5)
        await until(pilot, lambda: "Layer 5" in details_text(app), what="layer 5's details")
        assert "changes     *1 metadata only" in details_text(app)
        await select_layer(pilot, 6)
        await until(pilot, lambda: "Layer 6" in details_text(app), what="layer 6's details")
        assert "changes     +1 added  =1 duplicate" in details_text(app)
        assert "+added ~new content *metadata only =duplicate -deleted" in screen_text(app)


async def test_waste_list_names_the_layer_that_hid_a_copy():
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("w")
        w = app.query_one("#waste", WasteList)
        await until(pilot, lambda: w.row_count() > 0, what="the waste list")
        row = w.render_row(0, 200).plain
        assert "/usr/bin/vim.tiny" in row and "L1 added, overwritten at L5" in row


async def test_enter_in_the_zoomed_waste_list_leaves_the_zoom_for_the_tree():
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("w")
        w = app.query_one("#waste", WasteList)
        await until(pilot, lambda: w.row_count() > 0 and app.focused is w, what="the waste list")
        await pilot.press("z")
        await until(pilot, lambda: app.screen.maximized is not None, what="the zoom")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.maximized is None and tree_ready(app)
                    and selected_path(app) == "/usr/bin/vim.tiny", what="the tree at the path, unzoomed")
        assert "vim.tiny" in screen_text(app) and "Files:" in screen_text(app)


async def test_sorting_keeps_every_open_directory(monkeypatch):
    """Expand all on a tree of 6,000 directories, then sort by size and back:
    the tree stays open, and the cursor stays on its path."""
    import layerscope.formats.source as formats

    ents = []
    for k in range(6000):
        ents += [(f"d{k:04d}", DIR, 0), (f"d{k:04d}/f", FILE, (k * 7919) % 1000 + 1)]
    g = mem_graph([ents])
    monkeypatch.setattr(formats, "open_graph", lambda sources, platform=None: g)
    app = LayerscopeApp(["<memory>"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        tree(app).focus()
        await pilot.press("E")
        await until(pilot, lambda: len(tree(app).model) == 12000, what="expand all")
        await move_to(pilot, "/d0042/f")
        for sort in ("size", "name"):
            await pilot.press("s")
            await until(pilot, lambda sort=sort: tree_ready(app) and tree(app).model.sort == sort, what=sort)
            assert len(tree(app).model) == 12000, sort
            assert selected_path(app) == "/d0042/f", sort


async def test_tree_bars_compare_across_directories(monkeypatch):
    """By default a bar is the entry's share of the whole tree, so a small file
    alone in its directory no longer outgrows a big one elsewhere; r switches
    to the share of the directory, and the pane says which."""
    import layerscope.formats.source as formats

    g = mem_graph([[("a", DIR, 0), ("a/small", FILE, 100), ("b", DIR, 0), ("b/big", FILE, 9000),
                    ("b/mid", FILE, 1000)]])
    monkeypatch.setattr(formats, "open_graph", lambda sources, platform=None: g)
    app = LayerscopeApp(["<memory>"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        t = tree(app)
        t.focus()
        await pilot.press("E")
        await until(pilot, lambda: len(t.model) == 5, what="expand all")

        def bar_of(path: str) -> str:
            i = t.model.rows.index(t.model.tree.find(path))
            return t.render_row(i, 120).plain[11:11 + 8].strip()

        assert len(bar_of("/b/big")) >= 7 and len(bar_of("/a/small")) <= 1
        assert "bars: % of layer" in app.query_one("#files-pane")._border_subtitle.plain
        await pilot.press("r")
        await until(pilot, lambda: t.bars == "parent", what="bars of the directory")
        assert len(bar_of("/a/small")) >= 7 and len(bar_of("/b/mid")) <= 1
        assert "bars: % of dir" in app.query_one("#files-pane")._border_subtitle.plain


async def test_findings_view_lists_fixes_and_enter_shows_the_file():
    from layerscope.app.widgets import FindingList

    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("F")
        lst = app.query_one("#findings", FindingList)
        await until(pilot, lambda: lst.row_count() > 0 and app.focused is lst, what="the findings")
        assert [f.kind for f in lst.items] == [f.kind for f in app.analysis.findings()]
        first = lst.items[0]
        assert (first.kind, first.layer, first.fixed_by, first.bytes) == ("metadata-copy-up", 1, 5, 60000)
        text = screen_text(app)
        assert "metadata-copy-up" in text and "COPY" in text and "Findings: what the build could save" in text
        await pilot.press("enter")
        await until(pilot, lambda: tree_ready(app) and tree(app).model.tree.layer == 1
                    and selected_path(app) == "/usr/bin/vim.tiny", what="the copy in the layer that stored it")


async def test_the_findings_tab_shows_the_what_ifs_and_weighs_a_squash_of_your_own():
    from layerscope.analysis.ledger import squash
    from layerscope.app.fmt import human
    from layerscope.app.screens.dialogs import SquashScreen

    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await pilot.press("F")
        box = app.layer_view.query_one("#whatif-text")
        await until(pilot, lambda: "apply all fixes" in str(box.render()), what="the what-ifs")
        a = app.analysis
        lines = str(box.render()).splitlines()[1:]
        # the core's what-ifs, the fixes first, each with its bytes and compressed estimate
        assert [w.change for w in a.what_ifs()] == ["squash 1..6", "apply all fixes", "apply all fixes, base image too"]
        shown = [a.what_ifs()[k] for k in (1, 2, 0)]
        assert [ln.split("compressed")[1].strip() for ln in lines] == [w.change for w in shown]
        for ln, w in zip(lines, shown):
            assert ln.split()[:2] == human(w.uncompressed_saved).split()
            assert f"≈ {human(w.compressed_saved_estimate)} compressed" in ln
        assert "201.4 kB" in lines[1]
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, SquashScreen), what="the squash dialog")
        inp = app.screen.query_one("#squash-range")
        assert inp.value == "1..6"  # the run of layers that hide each other's bytes
        inp.value = "4..4"
        await pilot.press("enter")
        assert isinstance(app.screen, SquashScreen)  # one layer is no squash: it asks again
        inp.value = "2..5"
        await pilot.press("enter")
        await until(pilot, lambda: "(yours)" in str(box.render()), what="the squash weighed")
        first = str(box.render()).splitlines()[1]
        assert "squash 2..5" in first and first.split()[:2] == human(squash(a, 2, 5).uncompressed_saved).split()
        assert squash(a, 2, 5).uncompressed_saved == 24000
        assert app.layer_view.query_one("#side").active == "findings-tab"
        await pilot.press("S")  # asks again from the range weighed last
        await until(pilot, lambda: isinstance(app.screen, SquashScreen), what="the squash dialog again")
        assert app.screen.query_one("#squash-range").value == "2..5"
        await pilot.press("escape")


def test_a_squash_range_is_two_layers_of_the_image():
    from layerscope.app.screens.dialogs import parse_range

    assert parse_range("2..5", 7) == (2, 5) and parse_range(" 5 - 2 ", 7) == (2, 5) and parse_range("0 6", 7) == (0, 6)
    for bad, why in (("3..3", "two layers or more"), ("2..7", "layers 0..6"), ("x", "two layers"), ("-1..3", "two")):
        with pytest.raises(ValueError, match=why):
            parse_range(bad, 7)


async def test_the_kernel_note_is_said_once():
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("i")
        await until(pilot, lambda: "Debian GNU/Linux" in str(app.query_one("#image-info").render()), what="image tab")
        assert screen_text(app).count("carries no kernel") == 1


async def test_y_copies_the_selected_path_escaped_when_it_must_be(tmp_path):
    from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive

    p = tmp_path / "copy.tar"
    write_archive(str(p), [ImageSpec([LayerSpec([F("etc", "dir"), F("etc/passwd", data=b"x"),
                                                 F("etc/evil\x1b[2J", data=b"y")])])], "docker-legacy")
    app = LayerscopeApp([str(p)])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        tree(app).focus()
        await pilot.press("E")
        await ready(pilot)
        await move_to(pilot, "/etc/passwd")
        await pilot.press("y")
        await until(pilot, lambda: app.clipboard == "/etc/passwd", what="the path in the clipboard")
        t = tree(app)
        assert t.select_node(t.model.tree.find("/etc/evil\x1b[2J"))
        await pilot.pause(0.1)
        await pilot.press("y")
        await until(pilot, lambda: app.clipboard == "/etc/evil\\x1b[2J", what="the escaped path")


async def test_the_layer_list_switches_to_the_dockerfile_view():
    need(CLASSIC)
    app = LayerscopeApp([CLASSIC])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        lst = layers(app)
        await until(pilot, lambda: bool(lst.steps), what="the Dockerfile steps (with the findings)")
        assert "Dockerfile" not in screen_text(app)
        await pilot.press("D")
        await until(pilot, lambda: "Dockerfile (from the history" in screen_text(app), what="the Dockerfile view")
        text = screen_text(app)
        # the base step commented out, a user step as its instruction, an empty step, the figures
        assert "# ADD rootfs.tar.xz /" in text
        assert "RUN chmod 0700 /usr/bin/vim.tiny" in text
        assert 'CMD ["nginx", "-g", "daemon off;"]' in text
        step5 = lst.steps[next(r.step for r in lst.rows if r.index == 5)]
        assert (step5.bytes_added, step5.bytes_hidden) == (60000, 60000)
        row = lst.render_row(lst.row_of_layer(5), 120).plain
        assert row.split()[:4] == ["5", "60.0", "kB", "60.0"]  # added, hid
        assert "RUN chmod" in row and ":" not in row.split("RUN")[0]  # it stored no finding's bytes
        # layer 1 stored three findings' bytes: the copy-up's 60,000, the deleted .deb's 30,000, 2,507 rewritten
        assert "3: 92.5 kB" in lst.render_row(lst.row_of_layer(1), 120).plain
        # the cursor still picks layers: the tree follows
        lst.focus()
        lst.cursor = lst.row_of_layer(2)
        await until(pilot, lambda: tree_ready(app) and tree(app).model.tree.layer == 2, what="layer 2's tree")
        await pilot.press("D")
        await until(pilot, lambda: "Dockerfile (from the history" not in screen_text(app), what="the table again")
        # the layer's details carry its ledger row, made with the findings
        lst.focus()
        lst.cursor = lst.row_of_layer(1)
        await until(pilot, lambda: "108.0 kB = 1.2 kB visible + 62.5 kB overwritten + 30.0 kB deleted"
                    in str(app.layer_view.query_one("#details").render()), what="layer 1's ledger in its details")
