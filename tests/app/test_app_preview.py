"""The preview, round 2 (issue 17 item 14): symlinks followed in the merged
view at the layer, files bigger than one part paged through on demand, and
a read-only copy of the file handed to $PAGER / $EDITOR."""

from __future__ import annotations

import contextlib
import os

import pytest

from layerscope.app import LayerscopeApp
from layerscope.app.preview import HEX_CAP, PREVIEW_CAP
from layerscope.app.widgets import PreviewView
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive
from tests.app.test_app import SIZE, ready, tree, until

BIG_LINES = 30_000  # lines of about 20 bytes: more than one part of PREVIEW_CAP


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    big = b"".join(b"line %08d of text\n" % n for n in range(1, BIG_LINES + 1))
    blob = bytes(range(256)) * (3 * HEX_CAP // 256)
    p = tmp_path_factory.mktemp("pv") / "pv.tar"
    spec = ImageSpec([
        LayerSpec([F("etc/", "dir"), F("etc/real.conf", data=b"old content\n"), F("usr/", "dir"), F("usr/lib/", "dir"),
                   F("usr/lib/os-release", data=b"NAME=deep\n"), F("big.txt", data=big), F("blob.bin", data=blob)]),
        LayerSpec([F("etc/", "dir"), F("etc/real.conf", data=b"new content\n"),
                   F("etc/link", type="symlink", link="real.conf"),
                   F("etc/os-release", type="symlink", link="../../../usr/lib/os-release"),
                   F("etc/loop", type="symlink", link="loop2"), F("etc/loop2", type="symlink", link="loop"),
                   F("etc/dangling", type="symlink", link="/nowhere")]),
    ])
    write_archive(str(p), spec, "docker-legacy")
    return p


def title(app) -> str:
    return str(app.query_one("#preview-title").render())


async def _twice(pilot, key: str):
    """The key, then (once the view has scrolled there) the key again."""
    pv = pilot.app.query_one("#preview", PreviewView)
    await pilot.press(key)
    await until(pilot, lambda: pv._past(1 if key == "end" else -1) or not (pv.more_after or pv.more_before),
                what=f"the view scrolled by {key}")
    await pilot.press(key)


async def _preview(pilot, path: str):
    app = pilot.app
    t = tree(app)
    t.focus()
    assert t.select_node(t.model.tree.find(path)), path
    await pilot.press("p")


async def test_symlinks_are_followed_in_the_merged_view(archive):
    app = LayerscopeApp([str(archive)])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        pv = app.query_one("#preview", PreviewView)
        await _preview(pilot, "/etc/link")
        await until(pilot, lambda: "new content" in pv.plain(), what="the link's target")
        assert "→ /etc/real.conf (1 link followed at layer 1)" in title(app)
        await _preview(pilot, "/etc/os-release")  # climbs above / : stays in the image
        await until(pilot, lambda: "NAME=deep" in pv.plain(), what="the escaping link's target")
        assert "a .. above / stayed at /" in title(app)
        await _preview(pilot, "/etc/loop")
        await until(pilot, lambda: "a loop" in title(app), what="the loop")
        await _preview(pilot, "/etc/dangling")
        await until(pilot, lambda: "/nowhere is not in the image" in title(app), what="the dangling link")


async def test_a_big_file_is_paged_through(archive):
    app = LayerscopeApp([str(archive)])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("m")  # the merged view shows layer 0's files
        await until(pilot, lambda: tree(app).model.tree.mode == "merged" and not tree(app).busy, what="merged")
        pv = app.query_one("#preview", PreviewView)
        await _preview(pilot, "/big.txt")
        await until(pilot, lambda: "line 00000001 of text" in pv.plain(), what="the first part")
        assert "scroll down past the end for the next part" in pv.plain()
        last_first = pv.plain().splitlines()[-2]
        n_first = int(last_first.split()[0])
        pv.focus()
        await _twice(pilot, "end")  # to the end of the part, then past it
        await until(pilot, lambda: pv.plain().startswith("… "), what="the second part")
        lines = pv.plain().splitlines()
        assert "bytes above" in lines[0]
        # the numbering goes on where the first part stopped, no line split or lost
        assert lines[1].split()[0] == str(n_first + 1) and lines[1].endswith(f"line {n_first + 1:08d} of text")
        await _twice(pilot, "end")
        await until(pilot, lambda: f"line {BIG_LINES:08d} of text" in pv.plain(), what="the last part")
        assert "next part" not in pv.plain()
        await pilot.press("home")  # at the top of the last part: the part before, shown from its end
        await until(pilot, lambda: f"line {n_first + 1:08d}" in pv.plain() and "next part" in pv.plain(),
                    what="the part before")
        assert pv.scroll_y > 0
        # a binary file pages by HEX_CAP
        await _preview(pilot, "/blob.bin")
        await until(pilot, lambda: pv.plain().startswith(" 00000000"), what="the hex dump")
        pv.focus()
        await _twice(pilot, "end")
        await until(pilot, lambda: f" {HEX_CAP:08x}  00 01 02" in pv.plain(), what="the second hex part")
        assert PREVIEW_CAP >= HEX_CAP


async def test_the_pager_gets_a_read_only_copy_of_the_copy_shown(archive, tmp_path, monkeypatch):
    seen = tmp_path / "seen"
    pager = tmp_path / "pager.sh"
    pager.write_text(f'#!/bin/sh\nstat -c %a "$1" > {seen}.mode; cat "$1" > {seen}; echo "$1" > {seen}.name\n')
    pager.chmod(0o755)
    monkeypatch.setenv("PAGER", str(pager))
    app = LayerscopeApp([str(archive)])
    monkeypatch.setattr(app, "suspend", contextlib.nullcontext)  # headless: nothing to hand over
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        pv = app.query_one("#preview", PreviewView)
        await _preview(pilot, "/etc/real.conf")
        await until(pilot, lambda: "new content" in pv.plain(), what="the preview")
        await pilot.press("left_square_bracket")  # the hidden copy of layer 0
        await until(pilot, lambda: "old content" in pv.plain(), what="the lower copy")
        await pilot.press("P")
        await until(pilot, lambda: seen.exists() and seen.read_text(), what="the pager to run")
        assert seen.read_text() == "old content\n"
        assert (tmp_path / "seen.mode").read_text().strip() == "444"
        copied = (tmp_path / "seen.name").read_text().strip()
        assert copied.endswith("/etc/real.conf")
        await until(pilot, lambda: not os.path.exists(copied), what="the copy removed")
