"""Strings from an image, and strings a user types, are data in every view:
a walk over each screen with names made of markup and click actions finds
none of them interpreted (no style, link or action comes from them) and
each shown literally."""

from __future__ import annotations

import pytest

from layerscope.app import LayerscopeApp
from layerscope.app.screens.dialogs import CompareScreen, ConfirmScreen, ExtractScreen, HelpScreen, JumpScreen
from layerscope.app.screens.diff import DiffScreen
from layerscope.app.screens.graph import GraphScreen
from layerscope.app.testing import screen_segments, screen_text
from layerscope.testing.synth import EmptyStep, F, ImageSpec, LayerSpec, write_archive
from tests.app.test_app import SIZE, layers, move_to, ready, select_layer, tree, until

MARK = "PWNED"  # every hostile action and link names it; nothing rendered may carry it
CLICK = f"[@click=app.notify('{MARK}')]c"
LINK = f"[link=https:{MARK}]l"
BOLD = "[bold]b"
NAMES = [CLICK, LINK, BOLD, "[reverse]r["]  # names cannot hold "/": a typed filter brings "[/]"


def _image(tag: str, extra: list[F]) -> ImageSpec:
    entries = [F("etc", "dir"), F("etc/os-release", data=f'PRETTY_NAME="{CLICK} os"\n'.encode()),
               F("d", "dir")] + [F("d/" + n, data=n.encode()) for n in NAMES]
    return ImageSpec([LayerSpec(entries, created_by=f"/bin/sh -c echo {CLICK} {LINK}"),
                      LayerSpec(extra, created_by=f"RUN {BOLD} two"),
                      EmptyStep(f"LABEL {CLICK}")],
                     repo_tags=[tag], labels={CLICK: LINK}, env=["PATH=/bin", f"X={CLICK}"],
                     cmd=[CLICK], annotations={LINK: CLICK})


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    d = tmp_path_factory.mktemp("markup")
    path = d / "markup.tar"
    write_archive(path, [
        _image("evil:a", [F("d", "dir"), F(f"d/{CLICK}", data=b"changed copy"), F(f"d/{BOLD}", "whiteout")]),
        _image("evil:b", [F("srv", "dir"), F(f"srv/{LINK}", data=b"other")]),
    ], "docker-legacy")
    return str(path)


def _style_problems(style, where: str) -> list[str]:
    out = []
    if style is None:
        return out
    if style.link and MARK in style.link:
        out.append(f"{where}: a link to {style.link!r}")
    meta = style.meta if style._meta else {}
    if any(MARK in str(v) for v in meta.values()):
        out.append(f"{where}: an action {meta!r}")
    return out


def interpreted(app) -> list[str]:
    """What on the screen took a style, link or action from a string."""
    bad = []
    for seg in screen_segments(app):
        bad += _style_problems(seg.style, f"segment {seg.text!r}")
    for w in app.screen.walk_children():
        for attr in ("_border_title", "_border_subtitle"):
            c = getattr(w, attr, None)
            if c is None:
                continue
            for span in c.spans:
                st = span.style
                if not isinstance(st, str):
                    st = str(st)
                if MARK in st or "@click" in st or "link" in st:
                    bad.append(f"{w!r}.{attr}: {st!r} in {c.plain!r}")
    for n in app._notifications:
        if n.markup:
            bad.append(f"a notification parsed as markup: {n.message!r}")
    return bad


async def clean(pilot, *literal: str) -> str:
    await pilot.pause(0.1)
    app = pilot.app
    bad = interpreted(app)
    assert not bad, "\n".join(bad)
    text = screen_text(app)
    for s in literal:
        assert s in text, f"{s!r} not shown literally on {type(app.screen).__name__}:\n{text}"
    return text


def side_title(app) -> str:
    return app.screen.query_one("#side-pane")._border_title.plain


async def test_every_view_shows_markup_as_text(hostile, tmp_path):
    app = LayerscopeApp([hostile])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await clean(pilot, "evil:a", "echo [@click=app.notify(", f"RUN {BOLD} two")
        # the file tree, the details pane and its title with each name
        await select_layer(pilot, 0)
        tree(app).focus()
        await pilot.press("E")
        await ready(pilot)
        await clean(pilot, *NAMES)
        for n in NAMES:
            await move_to(pilot, "/d/" + n)
            await until(pilot, lambda n=n: n in side_title(app), what=f"the details title of {n!r}")
            await clean(pilot, "Details: " + n)
        # the preview of a file whose name is markup: its title and content
        await move_to(pilot, "/d/" + CLICK)
        await pilot.press("p")
        await until(pilot, lambda: CLICK in str(app.screen.query_one("#preview-title").render()), what="preview")
        await clean(pilot, CLICK)
        # a notification that names a file (a directory has no preview)
        await move_to(pilot, "/d")
        await pilot.press("p")
        await until(pilot, lambda: app._notifications, what="a notification")
        await clean(pilot)
        # the upper layer: a copy and a whiteout of markup names, and the waste list
        await select_layer(pilot, 1)
        await pilot.press("m")
        await ready(pilot)
        tree(app).focus()
        await pilot.press("E")
        await ready(pilot)
        await clean(pilot, CLICK)
        await pilot.press("w")
        await clean(pilot, CLICK)
        # the findings: a markup name deleted later, and the fix that names its step
        await pilot.press("F")
        await until(pilot, lambda: app.layer_view.query_one("#findings").row_count() > 0, what="findings")
        await clean(pilot, "/d/" + BOLD)
        # the image tab: labels, env, cmd, annotations, os-release
        await pilot.press("i")
        await clean(pilot, f"X={CLICK}", LINK)
        # the jump dialog lists markup names
        layers(app).focus()
        await pilot.press("slash")
        await until(pilot, lambda: isinstance(app.screen, JumpScreen))
        app.screen.query_one("#jump-input").value = "d/"
        await until(pilot, lambda: CLICK in screen_text(app), what="jump results")
        await clean(pilot, CLICK, BOLD)
        await pilot.press("escape")
        # the extract dialog, and the confirmation when something is in the way
        await until(pilot, lambda: not isinstance(app.screen, JumpScreen))
        await move_to(pilot, "/d/" + CLICK)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ExtractScreen))
        await clean(pilot, CLICK)
        dest = tmp_path / "ex"
        (dest / "d").mkdir(parents=True)
        (dest / "d" / CLICK).mkdir()  # a directory where the file goes: the app asks
        app.screen.query_one("#extract-dest").value = str(dest)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await clean(pilot, CLICK)
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await clean(pilot)
        await pilot.press("escape")
        # the compare dialog, the diff screen with its tabs, the graph
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, (CompareScreen, DiffScreen)), what="compare")
        if isinstance(app.screen, CompareScreen):
            await clean(pilot, "evil:b")
            await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DiffScreen) and app.screen.dtree is not None, what="diff")
        await pilot.pause(0.3)
        await clean(pilot, "evil:a", "evil:b")
        for _ in range(3):
            await pilot.press("t")
            await clean(pilot)
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, GraphScreen), what="graph")
        await clean(pilot, "evil:a", "evil:b")
        # a notification about nothing but names: none was ever markup
        assert not any(MARK in str(n.message) and n.markup for n in app._notifications)


@pytest.mark.parametrize("typed", ["re:[/]x", "*.[ch]", "[bold]b", CLICK])
async def test_a_typed_filter_is_text(hostile, typed):
    app = LayerscopeApp([hostile])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select_layer(pilot, 0)
        await pilot.press("m")
        await ready(pilot)
        await pilot.press("f")
        app.query_one("#filter").value = typed
        await pilot.press("enter")
        await ready(pilot)
        subtitle = app.query_one("#files-pane")._border_subtitle.plain
        assert "filter: " + typed in subtitle
        await clean(pilot, "filter: " + typed)
