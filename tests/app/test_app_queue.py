"""No key is lost or applied to a stale view (issue 17 item 2): a slow tree
build or a slow change of the rows is made to wait on an event, so that the
keys pressed meanwhile can be checked deterministically."""

from __future__ import annotations

import threading

import pytest

from layerscope.app import LayerscopeApp
from layerscope.app.state import LoadedState
from layerscope.app.testing import mem_graph, screen_text
from layerscope.model import DIR, FILE
from tests.app.test_app import SIZE, ready, selected_path, tree, tree_paths, until


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")


def _graph():
    layer0 = [("a", DIR, 0), ("a/x", FILE, 10), ("b", DIR, 0), ("b/y", FILE, 20), ("b/z", FILE, 30)]
    layer1 = [("c", DIR, 0), ("c/w", FILE, 40)]
    return mem_graph([layer0, layer1])


@pytest.fixture
def graph(monkeypatch):
    import layerscope.formats.source as formats

    g = _graph()
    monkeypatch.setattr(formats, "open_graph", lambda sources, platform=None, **kw: g)
    return g


@pytest.fixture
def gate(monkeypatch):
    """While the returned event is clear, building a merged tree waits for it."""
    ev = threading.Event()
    ev.set()
    orig = LoadedState.tree

    def slow(self, image, a, N, mode, filtering, cancelled):
        if mode == "merged":
            while not ev.wait(0.01):
                if cancelled():
                    break
        return orig(self, image, a, N, mode, filtering, cancelled)

    monkeypatch.setattr(LoadedState, "tree", slow)
    return ev


async def test_a_key_pressed_while_the_merged_view_builds_applies_to_the_merged_view(graph, gate):
    app = LayerscopeApp(["<memory>"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        t = tree(app)
        t.focus()
        assert t.model.tree.mode == "changes" and tree_paths(app) == ["/c", "/c/w"]
        await pilot.press("left")  # close /c
        assert tree_paths(app) == ["/c"]
        gate.clear()
        await pilot.press("m")  # the merged tree now waits on the gate
        await pilot.pause(0.15)
        assert t.busy and t.model.tree.mode == "changes"
        assert "working: building the tree" in screen_text(app)
        await pilot.press("right", "down")  # open /c in the merged view, then go to /c/w
        assert t.model.tree.mode == "changes" and tree_paths(app) == ["/c"]  # the old view is untouched
        gate.set()
        await until(pilot, lambda: not t.busy and t.model.tree.mode == "merged", what="the merged view")
        await pilot.pause(0.05)
        assert tree_paths(app) == ["/a", "/b", "/c", "/c/w"]
        assert selected_path(app) == "/c/w"
        assert "working" not in screen_text(app)


async def test_escape_cancels_a_slow_build_and_keeps_the_view(graph, gate):
    app = LayerscopeApp(["<memory>"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        t = tree(app)
        t.focus()
        gate.clear()
        await pilot.press("m")
        await pilot.pause(0.15)
        await pilot.press("down")  # waits for the merged view, and is dropped with it
        await pilot.press("escape")
        assert app.layer_view.mode == "changes" and not t.busy and not t.queue
        assert "cancelled" in screen_text(app)
        gate.set()
        await pilot.pause(0.2)
        assert t.model.tree.mode == "changes" and selected_path(app) == "/c"
        await pilot.press("m")  # asked again, it is built
        await until(pilot, lambda: not t.busy and t.model.tree.mode == "merged", what="the merged view")


@pytest.mark.parametrize("then", ["enter", "p"])
async def test_a_key_after_a_jump_to_another_layer_is_not_lost(graph, gate, then):
    """enter on the tree, or p on the layer view: both act on the file jumped to."""
    from layerscope.app.screens.dialogs import JumpScreen

    app = LayerscopeApp(["<memory>"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.layer_view.mode = "merged"
        app.layer_view._request_tree(now=True)
        await until(pilot, lambda: tree(app).model.tree.mode == "merged", what="the merged view")
        gate.clear()
        await pilot.press("slash")
        await until(pilot, lambda: isinstance(app.screen, JumpScreen) and id(app.image) in app.state.path_search,
                    what="the jump index")
        await pilot.press(*"b/y")
        await until(pilot, lambda: getattr(app.screen, "_paths", None) == ["b/y"], what="the match")
        await pilot.press("enter", then)  # jump to b/y (layer 0, building), then preview it
        assert tree(app).busy
        gate.set()
        await until(pilot, lambda: app.query_one("#side").active == "preview-tab", what="the preview")
        assert selected_path(app) == "/b/y" and tree(app).model.tree.layer == 0


@pytest.fixture
def held_expand_all(monkeypatch):
    """Expand-all runs in a worker (even for these small trees) and waits for the event it returns."""
    import layerscope.app.widgets.filetree as ft
    from layerscope.app.treemodel import TreeRows

    monkeypatch.setattr(ft, "BIG_TREE", 0)
    ev = threading.Event()
    orig = TreeRows.expand_all

    def slow(self, under=None):
        ev.wait(5)
        return orig(self, under)

    monkeypatch.setattr(TreeRows, "expand_all", slow)
    return ev


async def merged_tree(pilot, app):
    """The merged view, built and focused."""
    await ready(pilot)
    await pilot.press("m")
    t = tree(app)
    await until(pilot, lambda: t.model.tree.mode == "merged" and not t.busy, what="the merged view")
    t.focus()
    return t


async def test_expand_all_survives_the_keys_that_follow(graph, held_expand_all):
    ev = held_expand_all
    app = LayerscopeApp(["<memory>"])
    async with app.run_test(size=SIZE) as pilot:
        t = await merged_tree(pilot, app)
        assert selected_path(app) == "/c" and tree_paths(app) == ["/a", "/b", "/c", "/c/w"]
        await pilot.press("E", "down", "s")  # expand all; down and a new sort wait for it
        await pilot.pause(0.15)
        assert t.busy and "opening directories" in screen_text(app)
        ev.set()
        await until(pilot, lambda: not t.busy and app.layer_view.sort == "size" and t.model.sort == "size"
                    and not app.layer_view.tree_pending, what="expanded, then sorted")
        # every directory still open after the sort, the cursor one row down from where E was pressed
        assert tree_paths(app) == ["/b", "/b/z", "/b/y", "/c", "/c/w", "/a", "/a/x"]
        assert selected_path(app) == "/c/w"


async def test_escape_cancels_a_slow_expand_all(graph, held_expand_all):
    ev = held_expand_all
    app = LayerscopeApp(["<memory>"])
    async with app.run_test(size=SIZE) as pilot:
        t = await merged_tree(pilot, app)
        before = tree_paths(app)
        await pilot.press("E", "down")
        await pilot.press("escape")
        assert not t.busy and not t.queue
        ev.set()
        await pilot.pause(0.2)
        assert tree_paths(app) == before and selected_path(app) == "/c"  # nothing opened, the down dropped


async def test_a_jump_into_a_layer_whose_tree_is_not_built_answers_at_once_and_fills_in(graph, gate, monkeypatch):
    """Issue 18: the jump shows where it goes at once (the layer picked, the tree
    pane saying it is building), and the tree fills in when built."""
    from layerscope.app.screens.dialogs import JumpScreen
    from layerscope.app.screens.layers import LayersScreen

    monkeypatch.setattr(LayersScreen, "_prefetch_neighbours", lambda self, N: None)  # a layer far from the cursor

    app = LayerscopeApp(["<memory>"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        lv = app.layer_view
        lv.mode = "merged"
        lv._request_tree(now=True)
        await until(pilot, lambda: tree(app).model.tree.mode == "merged" and tree(app).model.tree.layer == 1,
                    what="the merged view at the top layer")
        assert not app.state.has_tree(app.state.tree_key(app.image, app.analysis, 0, "merged", False))
        gate.clear()
        await pilot.press("slash")
        await until(pilot, lambda: isinstance(app.screen, JumpScreen) and id(app.image) in app.state.path_search,
                    what="the jump index")
        await pilot.press(*"b/y")
        await until(pilot, lambda: getattr(app.screen, "_paths", None) == ["b/y"], what="the match")
        await pilot.press("enter")
        await pilot.pause(0.15)
        # answered: the dialog gone, the layer picked, the pane saying what is coming
        assert not isinstance(app.screen, JumpScreen)
        ll = app.query_one("#layers")
        assert ll.cursor == ll.row_of_layer(0)
        text = screen_text(app)
        assert "Files: merged view at layer 0" in text and "building the tree" in text
        assert tree(app).busy
        gate.set()
        await until(pilot, lambda: not tree(app).busy and tree(app).model.tree.layer == 0
                    and selected_path(app) == "/b/y", what="the tree at layer 0 on /b/y")
        assert app.focused is tree(app) and "working" not in screen_text(app)
