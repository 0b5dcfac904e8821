"""Snapshots of the main screens at 80x24 and 160x48, dark and light: the
SVG Textual exports, compared with the committed one in snapshots/.  After a
change meant to alter a screen, regenerate them and look at the difference:

    LAYERSCOPE_UPDATE_SNAPSHOTS=1 python -m pytest tests/app/test_snapshots.py

The sample is fixed and nothing on these screens depends on a clock."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import pytest

from layerscope.app import LayerscopeApp
from layerscope.app.screens.sizemap import SizeMapScreen
from tests.app.test_app import CLASSIC, need, ready, tree, until

SNAPSHOTS = Path(__file__).with_name("snapshots")
UPDATE = bool(os.environ.get("LAYERSCOPE_UPDATE_SNAPSHOTS"))
SIZES = [(80, 24), (160, 48)]
THEMES = ["textual-dark", "textual-light"]


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")


async def _layers(pilot):
    tree(pilot.app).focus()


async def _merged_preview(pilot):
    app = pilot.app
    await pilot.press("m")
    await until(pilot, lambda: tree(app).model.tree.mode == "merged" and not tree(app).busy, what="merged")
    t = tree(app)
    t.focus()
    assert t.select_node(t.model.tree.find("/etc/os-release"))
    await pilot.press("p")
    await until(pilot, lambda: "PRETTY_NAME" in app.query_one("#preview").plain(), what="the preview")


async def _waste(pilot):
    await pilot.press("w")


async def _size_map(pilot):
    from layerscope.app.widgets.sizemap import SizeMap

    app = pilot.app
    await pilot.press("M")
    await until(pilot, lambda: isinstance(app.screen, SizeMapScreen) and app.screen.query_one(SizeMap).boxes
                and not any(w.group.startswith("sizemap") and w.is_running for w in app.workers), what="the map")


async def _help(pilot):
    await pilot.press("question_mark")


SCREENS = {"layers": _layers, "merged-preview": _merged_preview, "waste": _waste, "sizemap": _size_map,
           "help": _help}


def _normalise(svg: str) -> str:
    # the ids Textual derives from a hash of the export: the same screen, another run, other ids
    return re.sub(r"terminal-\d+", "terminal", svg)


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
async def test_screen_snapshot(screen, size, theme):
    need(CLASSIC)
    from layerscope.app.settings import Settings

    app = LayerscopeApp([CLASSIC], settings=Settings(theme=theme))
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        await SCREENS[screen](pilot)
        app.clear_notifications()
        await pilot.pause(0.3)
        svg = _normalise(app.export_screenshot(title=f"{screen} {size[0]}x{size[1]} {theme}"))
    path = SNAPSHOTS / f"{screen}-{size[0]}x{size[1]}-{theme}.svg"
    if UPDATE or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(svg, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"{path.name} was missing: written; check it and commit it")
        return
    want = path.read_text(encoding="utf-8")
    if svg != want:
        diff = "".join(list(difflib.unified_diff(want.splitlines(True), svg.splitlines(True), "committed", "now"))[:60])
        pytest.fail(f"{path.name} differs (LAYERSCOPE_UPDATE_SNAPSHOTS=1 regenerates it):\n{diff}")
