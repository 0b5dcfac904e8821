"""Saving the explorer's views (issue 17 item 16): the tree as `ls` writes it,
the lists as `report` does, CSV or JSON lines by the extension, never an
existing file without asking."""

from __future__ import annotations

import csv
import json

import pytest

from layerscope.app import LayerscopeApp, export
from layerscope.app.screens.dialogs import ConfirmScreen, SaveScreen
from layerscope.app.testing import mem_graph
from layerscope.model import DIR, FILE
from tests.app.test_app import SIZE, ready, tree, until, waste_ready


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")


@pytest.fixture
def app(monkeypatch):
    import layerscope.formats.source as formats

    g = mem_graph([[("a", DIR, 0), ("a/x", FILE, 10), ("b", DIR, 0), ("b/=y", FILE, 20)],
                   [("a", DIR, 0), ("a/x", FILE, 30), ("c", DIR, 0), ("c/w", FILE, 40)]])
    monkeypatch.setattr(formats, "open_graph", lambda sources, platform=None, **kw: g)
    return LayerscopeApp(["<memory>"])


def test_the_format_is_the_extension():
    assert export.format_of("x.CSV") == "csv" and export.format_of("x.json") == "json"
    with pytest.raises(export.ExportError, match=r"\.csv or \.json"):
        export.format_of("x.txt")


async def _save(pilot, path, confirm=None):
    await pilot.press("e")
    await until(pilot, lambda: isinstance(pilot.app.screen, SaveScreen), what="the save dialog")
    box = pilot.app.screen.query_one("#save-path")
    box.value = str(path)
    await pilot.press("enter")
    if confirm is not None:
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="the question")
        await pilot.press(confirm)


async def test_e_saves_the_tree_and_asks_before_replacing(app, tmp_path):
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        tree(app).focus()
        out = tmp_path / "changes.csv"
        await _save(pilot, out)
        await until(pilot, lambda: out.exists(), what="the file")
        rows = list(csv.DictReader(out.open()))
        # the changes of layer 1, as `ls --changes --format csv` writes them, also what is not expanded
        assert [(r["path"], r["change"], r["kind"]) for r in rows] == [
            ("/a/x", "modified", "content"), ("/c", "added", ""), ("/c/w", "added", "")]
        await pilot.press("m")
        await until(pilot, lambda: tree(app).model.tree.mode == "merged" and not tree(app).busy,
                    what="the merged view")
        await _save(pilot, out, confirm="n")  # kept as it was
        await pilot.pause(0.2)
        assert len(list(csv.DictReader(out.open()))) == 3
        await _save(pilot, out, confirm="y")
        await until(pilot, lambda: len(list(csv.DictReader(out.open()))) == 6, what="the merged view saved")
        paths = [r["path"] for r in csv.DictReader(out.open())]
        assert paths == ["/a", "/a/x", "/b", "/b/=y", "/c", "/c/w"]


async def test_e_saves_the_waste_list_as_json_lines(app, tmp_path):
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await until(pilot, lambda: waste_ready(app), what="the waste list")
        await pilot.press("w")
        out = tmp_path / "waste.json"
        await _save(pilot, out)
        await until(pilot, lambda: out.exists() and out.read_text(), what="the file")
        docs = [json.loads(line) for line in out.read_text().splitlines()]
        assert [d["path"] for d in docs] == ["/a/x"]
        assert docs[0]["wasted_bytes"] == 10 and [c["layer"] for c in docs[0]["copies"]] == [0, 1]
