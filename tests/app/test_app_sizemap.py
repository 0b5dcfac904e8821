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
