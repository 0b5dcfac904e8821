"""A build step (history `created_by`) of tens of megabytes: the explorer
shows it cut, with what was left off counted, stays quick to move around,
and shows the whole step on demand (b)."""

from __future__ import annotations

import time

import pytest

from layerscope.app import LayerscopeApp
from layerscope.app.details import COMMAND_SHOWN
from layerscope.app.testing import screen_text
from layerscope.app.widgets.longtext import LongTextView, escaped, row_starts
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive
from tests.app.test_app import SIZE, details_text, layers, ready, until

HUGE_CHARS = 30_000_000
# far above what moving takes on a loaded machine, far below what one key
# took when the details escaped the whole step
QUICK = 15.0
LINE = "apt-get install -y package-" + "x" * 950 + " \x1b[31m && \\\n"
TAIL = "echo THE-VERY-END"


def huge_step() -> str:
    body = LINE * ((HUGE_CHARS - len(TAIL)) // len(LINE))
    return "/bin/sh -c " + body + TAIL


@pytest.fixture(scope="module")
def huge_archive(tmp_path_factory):
    p = tmp_path_factory.mktemp("huge") / "huge.tar"
    spec = ImageSpec([
        LayerSpec([F("etc/"), F("etc/a", data=b"a\n")], created_by="ADD base /"),
        LayerSpec([F("etc/"), F("etc/b", data=b"b\n")], created_by=huge_step()),
        LayerSpec([F("etc/"), F("etc/c", data=b"c\n")], created_by="/bin/sh -c echo small"),
    ])
    write_archive(str(p), spec, "docker-legacy")
    return p


async def test_moving_over_a_huge_build_step_stays_quick(huge_archive):
    app = LayerscopeApp([str(huge_archive)])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ll = layers(app)
        ll.focus()
        ll.cursor = ll.row_of_layer(1)
        await until(pilot, lambda: "Layer 1" in details_text(app), what="the huge layer's details")
        start = time.monotonic()
        for k in range(10):  # across the huge step and back, the details following
            await pilot.press("down" if k % 2 == 0 else "up")
            assert time.monotonic() - start < QUICK, f"{k + 1} key presses took {time.monotonic() - start:.1f} s"
        await until(pilot, lambda: "Layer 1" in details_text(app), what="the huge layer's details again")
        # the details show the beginning and count the rest
        d = details_text(app)
        assert "apt-get install -y package-xxx" in d and "\\x1b[31m" in d
        assert "THE-VERY-END" not in d
        assert "more characters: b shows the whole build step" in d
        shown = d.split("\ncommand\n", 1)[1]
        assert len(shown) < COMMAND_SHOWN + 200
        # the list line is one cut line
        line = next(ln for ln in screen_text(app).splitlines() if "RUN apt-get install" in ln)
        assert "…" in line and len(line) <= SIZE[0]


async def test_the_whole_build_step_is_shown_on_demand(huge_archive):
    step = huge_step()
    app = LayerscopeApp([str(huge_archive)])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ll = layers(app)
        ll.focus()
        ll.cursor = ll.row_of_layer(1)
        await until(pilot, lambda: "Layer 1" in details_text(app), what="the huge layer's details")
        await pilot.press("b")
        from layerscope.app.screens.step import BuildStepScreen

        await until(pilot, lambda: isinstance(app.screen, BuildStepScreen), what="the build step page")
        view = app.screen.query_one(LongTextView)
        await until(pilot, lambda: view.indexed_width > 0, timeout=30, what="the rows of the step")
        assert view.text is step or view.text == step
        assert f"{len(step):,} characters" in screen_text(app)
        assert "/bin/sh -c apt-get install -y package-xxx" in screen_text(app)
        start = time.monotonic()
        await pilot.press("end")
        await until(pilot, lambda: "echo THE-VERY-END" in screen_text(app), what="the end of the step")
        await pilot.press("home", "pagedown", "pagedown", "up")
        assert time.monotonic() - start < QUICK
        # every character is on some row, in order
        rows = len(view.starts)
        assert rows >= step.count("\n") + 1
        assert view.row_text(rows - 1).endswith("THE-VERY-END")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, BuildStepScreen), what="back to the layer view")
        assert "Layer 1" in details_text(app)


def test_row_starts_cover_the_text_in_order():
    text = "ab\n" + "c" * 25 + "\n\n" + "d" * 10
    starts = row_starts(text, 10)
    rows = [text[s:e] for s, e in zip(starts, list(starts[1:]) + [len(text)])]
    assert rows == ["ab\n", "c" * 10, "c" * 10, "c" * 5 + "\n", "\n", "d" * 10]
    assert "".join(rows) == text
    assert list(row_starts("", 10)) == [0]
    assert list(row_starts("a\n" * 10, 4, by_line=False)) == [0, 4, 8, 12, 16]


def test_rows_are_cut_from_the_escaped_text():
    """An escape is as wide as it shows: a row of escapes fits the view."""
    assert escaped("plain\ntext", True) == "plain\ntext"
    assert escaped("a\x1bb\nc\udc80", True) == "a\\x1bb\nc\\x80"
    assert escaped("a\nb", False) == "a\\x0ab"
    big = "\x1b" * 3_000_000
    assert escaped(big, True) == "\\x1b" * 3_000_000


def test_every_rendering_of_a_huge_string_is_cut_quickly():
    """The image tab, the layer graph's details and the comparison's config
    text: a huge value costs what a short one does, and says what it left off."""
    from types import SimpleNamespace as NS

    from layerscope.app.details import image_details, layer_details
    from layerscope.app.fmt import short_command
    from layerscope.app.screens.diff import config_text
    from layerscope.app.screens.graph import layer_text

    huge = "v" * HUGE_CHARS
    image = NS(name="img", refs=["img:1"], digest="sha256:0", platform="linux/amd64",
               config={"Cmd": [huge, "x"], "Env": ["A=" + huge], "Labels": {"k": huge}, "User": huge})
    layer = NS(diff_id="sha256:1", digest="sha256:1", key="k", compression="none", compressed_size=1, error=None,
               warnings=[], images=[image])
    row = NS(index=0, step=0, is_base=False, layer=layer, created_by=huge, size=1, entries=1, added=1,
             modified=0, deleted=0, wasted=0)
    sharing_row = NS(layer=layer, shared=False, size=1, indexed=True, compressed_size=1, users=1, positions=[0],
                     created_by=huge)
    diff = NS(config=[NS(field="Cmd", key=None, change="changed", a=huge, b=[huge])], history=[])
    start = time.monotonic()
    texts = [image_details(image).plain, layer_details(row, None, NS(layers=[layer])).plain,
             layer_text(None, sharing_row, ["img"]).plain, config_text(diff).plain, short_command(huge)]
    assert time.monotonic() - start < 4
    for t in texts:
        assert len(t) < 40_000
    for t in texts[:4]:
        assert "more characters" in t


async def test_o_shows_the_full_value_of_a_cut_row(tmp_path, monkeypatch):
    """Item 7: a path the tree or the waste list cuts is one key away in full."""
    import layerscope.formats.source as formats
    from layerscope.app.screens.step import BuildStepScreen
    from layerscope.app.testing import mem_graph
    from layerscope.app.widgets import WasteList
    from layerscope.model import DIR, FILE
    from tests.app.test_app import tree, waste_ready

    deep = "/".join(f"directory-{k:02d}" for k in range(30))
    name = deep + "/the-distinguishing-tail\x1b[31m.txt"
    g = mem_graph([[("d", DIR, 0), (f"d/{deep}", DIR, 0), (f"d/{name}", FILE, 100)],
                   [(f"d/{name}", FILE, 300)]])
    monkeypatch.setattr(formats, "open_graph", lambda sources, platform=None, **kw: g)
    app = LayerscopeApp(["<memory>"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await until(pilot, lambda: waste_ready(app), what="the waste list")
        t = tree(app)
        t.focus()
        t.select_node(t.model.tree.find("/d/" + name))
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, BuildStepScreen), what="the full path")
        text = app.screen.query_one(LongTextView).text
        assert text.splitlines()[0] == "/d/" + name.replace("\x1b", "\\x1b")
        assert "the-distinguishing-tail\\x1b[31m.txt" in screen_text(app)  # wrapped, never cut, escaped
        await pilot.press("escape")
        await pilot.press("w")
        assert isinstance(app.focused, WasteList)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, BuildStepScreen), what="the full wasted path")
        text = app.screen.query_one(LongTextView).text
        assert name.replace("\x1b", "\\x1b") in text and "layer 0: " in text and "layer 1: " in text
