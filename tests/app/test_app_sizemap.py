"""The size map (issue 17 item 13): boxes sized by bytes, named and numbered
by layer, hidden bytes apart, zoom in with enter and out with backspace or
escape, one widget for every box."""

from __future__ import annotations

import pytest

from layerscope.app import LayerscopeApp
from layerscope.app.screens.sizemap import SizeMapScreen
from layerscope.app.testing import mem_graph, screen_text
from layerscope.app.widgets.sizemap import SizeMap
from layerscope.model import DIR, FILE
from tests.app.test_app import SIZE, ready, selected_path, tree, until


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")


@pytest.fixture
def app(monkeypatch):
    import layerscope.formats.source as formats

    big = [(f"usr/lib/mod{k:03d}.so", FILE, 1000 + k) for k in range(200)]
    g = mem_graph([
        [("usr", DIR, 0), ("usr/lib", DIR, 0)] + big + [("etc", DIR, 0), ("etc/\x1b[31mred", FILE, 90_000)],
        [("opt", DIR, 0), ("opt/app.jar", FILE, 150_000), ("usr/lib/mod000.so", FILE, 5000)],
    ])
    monkeypatch.setattr(formats, "open_graph", lambda sources, platform=None, **kw: g)
    return LayerscopeApp(["<memory>"])


def map_ready(app) -> bool:
    m = app.screen.query_one(SizeMap) if isinstance(app.screen, SizeMapScreen) else None
    return m is not None and bool(m.boxes) and not any(w.group.startswith("sizemap") and w.is_running
                                                      for w in app.workers)


async def test_the_size_map_zooms_in_and_out(app):
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("M")
        await until(pilot, lambda: map_ready(app), what="the size map")
        m = app.screen.query_one(SizeMap)
        assert len(app.screen.query(SizeMap)) == 1 and not list(m.children)  # one widget, no child per box
        names = [b.item.name for b in m.boxes]
        assert names == ["usr", "opt", "etc"]  # biggest first
        text = screen_text(app)
        assert "opt/" in text and "L1" in text and "L0" in text  # the layer is written, not only coloured
        assert "\x1b" not in text  # names are data, never terminal escapes
        assert "hidden" in text and "1.0 kB" in text  # the overwritten mod000.so, apart
        # the box's area follows its bytes
        area = {b.item.name: b.w * b.h for b in m.boxes}
        assert area["usr"] > area["opt"] > area["etc"]
        await pilot.press("enter")  # into usr/
        await until(pilot, lambda: map_ready(app) and m.boxes[0].item.name == "lib", what="usr/")
        assert "/usr" in screen_text(app)
        await pilot.press("enter")  # into usr/lib/: 200 files, the smallest folded or too small to draw
        await until(pilot, lambda: map_ready(app) and m.boxes[0].item.name == "mod000.so", what="usr/lib/")
        assert m.boxes[0].item.layer == 1 and all(b.item.layer == 0 or b.item.node < 0 for b in m.boxes[1:])
        await pilot.press("right")
        assert m.cursor != 0
        await pilot.press("backspace")
        await until(pilot, lambda: map_ready(app) and m.boxes[0].item.name == "lib", what="back in usr/")
        await pilot.press("escape")
        await until(pilot, lambda: map_ready(app) and m.boxes[0].item.name == "usr", what="back at /")
        assert m.cursor == 0  # where it was before zooming in
        await pilot.press("down" if m.boxes[1].y > m.boxes[0].y else "right")
        assert m.box.item.name == "opt"
        await pilot.press("t")  # the highlighted entry in the tree
        await until(pilot, lambda: not isinstance(app.screen, SizeMapScreen) and selected_path(app) == "/opt"
                    and tree(app).model.tree.mode == "merged", what="/opt in the tree")


async def test_escape_at_the_top_closes_the_map(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("M")
        await until(pilot, lambda: map_ready(app), what="the size map")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, SizeMapScreen), what="the layer view")


async def _indexed(pilot, app):
    await until(pilot, lambda: app.analysis is not None and app.state.stack_index.get(id(app.analysis)) is not None,
                what="the stack's index")


@pytest.fixture
def eager_builds(monkeypatch):
    """The merged trees built eagerly (every entry of the view), by layer."""
    import layerscope.app.state as state

    built = []
    orig = state.build_merged_tree

    def counting(stack, kinds, N, cancelled=None):
        built.append(N)
        return orig(stack, kinds, N, cancelled)

    monkeypatch.setattr(state, "build_merged_tree", counting)
    return built


async def test_the_size_map_shows_its_boxes_before_the_hidden_copies_are_counted(app, monkeypatch, eager_builds):
    import threading

    import layerscope.analysis.treemap as treemap

    gate = threading.Event()
    orig = treemap.hidden_files

    def slow(stack, N):
        gate.wait(10)
        return orig(stack, N)

    monkeypatch.setattr(treemap, "hidden_files", slow)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await _indexed(pilot, app)
        await pilot.press("M")
        m = app.screen.query_one(SizeMap)
        await until(pilot, lambda: bool(m.boxes), what="the boxes, with the hidden copies still being counted")
        assert [b.item.name for b in m.boxes] == ["usr", "opt", "etc"]
        assert [b.item.layer for b in m.boxes] == [0, 1, 0]
        assert "counting the hidden copies" in screen_text(app)
        await pilot.press("right")  # the keys work meanwhile
        assert m.cursor != 0
        gate.set()
        await until(pilot, lambda: "hidden below it: 1.0 kB in 1 copy" in screen_text(app), what="the hidden strip")
        assert m.box is not None and m.box.item.name != "usr"  # the cursor stayed where it was moved
        assert eager_builds == []  # the map read the lazy merged view


async def test_the_size_map_answers_while_the_stack_index_is_built(app, eager_builds):
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await _indexed(pilot, app)
        a = app.analysis
        index = app.state.stack_index[id(a)]
        app.state.stack_index[id(a)] = None  # as while it is being built
        await pilot.press("M")
        await pilot.pause(0.2)
        assert isinstance(app.screen, SizeMapScreen) and not app.screen.query_one(SizeMap).boxes
        assert "size map: indexing the image's directories" in screen_text(app)
        await pilot.press("escape")  # leaves at once, the map's worker cancelled
        await until(pilot, lambda: not isinstance(app.screen, SizeMapScreen), what="the layer view")
        await pilot.press("M")
        await pilot.pause(0.1)
        app.state.stack_index[id(a)] = index
        await until(pilot, lambda: map_ready(app), what="the size map, once the index is in")
        assert [b.item.name for b in app.screen.query_one(SizeMap).boxes] == ["usr", "opt", "etc"]
        assert eager_builds == []


async def test_the_size_map_draws_from_the_eager_view_when_the_stack_index_fails(app, monkeypatch, eager_builds):
    import layerscope.analysis.lazytree as lazytree

    def broken(self, stack, cancelled=None):
        raise RuntimeError("no index")

    monkeypatch.setattr(lazytree.StackIndex, "__init__", broken)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await until(pilot, lambda: app.analysis is not None and id(app.analysis) not in app.state.stack_index,
                    what="the index given up")
        await pilot.press("M")
        await until(pilot, lambda: map_ready(app), what="the size map, from the eager view")
        assert [b.item.name for b in app.screen.query_one(SizeMap).boxes] == ["usr", "opt", "etc"]
        assert eager_builds == [1]
