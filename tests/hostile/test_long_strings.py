"""Strings of tens of megabytes in an image (a build step, a label): every
text rendering costs what a short one does and says what it left off; JSON
keeps them whole."""

from __future__ import annotations

import json
import time

import pytest

from layerscope.cli import main
from layerscope.errors import clipped, one_line
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive

HUGE_CHARS = 50_000_000
# a bound far above what the renderings take and far below what escaping
# every character took
FAST = 6.0


def huge_step() -> str:
    return "/bin/sh -c " + ("make -j2 all \x1b && \\\n" * (HUGE_CHARS // 22)) + "echo LAST-WORD"


@pytest.fixture(scope="module")
def huge_archive(tmp_path_factory):
    p = tmp_path_factory.mktemp("huge") / "huge.tar"
    spec = ImageSpec([
        LayerSpec([F("etc/"), F("etc/a", data=b"a\n")], created_by="ADD base /"),
        LayerSpec([F("etc/"), F("etc/a", data=b"b\n")], created_by=huge_step()),
    ])
    write_archive(str(p), spec, "docker-legacy")
    return p


def timed(capsys, *argv):
    capsys.readouterr()
    t = time.monotonic()
    rc = main(list(argv))
    took = time.monotonic() - t
    out, err = capsys.readouterr()
    assert rc == 0, err
    return out, took


def test_report_cuts_a_huge_step_quickly(huge_archive, capsys):
    out, took = timed(capsys, "report", str(huge_archive))
    assert took < FAST, f"report took {took:.1f} s"
    assert "RUN make -j2 all \\x1b && \\\\x0amake" in out
    row = next(l for l in out.splitlines() if "RUN make -j2 all" in l)
    assert row.rstrip().endswith("…")  # one line, cut to the width of the table
    assert "LAST-WORD" not in out
    assert len(out) < 200_000


def test_history_cuts_a_huge_step_quickly(huge_archive, capsys):
    out, took = timed(capsys, "history", str(huge_archive), "/etc/a")
    assert took < FAST, f"history took {took:.1f} s"
    assert "← RUN make -j2 all \\x1b && \\\\x0a" in out
    assert max(len(ln) for ln in out.splitlines()) < 400


def test_json_keeps_a_huge_step_whole(huge_archive, capsys):
    out, _ = timed(capsys, "report", str(huge_archive), "--json")
    doc = json.loads(out)
    assert doc["layers"][1]["created_by"] == huge_step()


def test_one_line_costs_its_limit_not_the_text():
    text = "\x1b" * HUGE_CHARS
    t = time.monotonic()
    for _ in range(100):
        s = one_line(text, 2000)
    assert time.monotonic() - t < FAST
    assert s == "\\x1b" * 499 + "\\x1…"
    assert one_line("a\nb\udc80\x85", 600) == "a\\x0ab\\x80\\x85"


def test_clipped_counts_what_it_left_off():
    assert clipped("abc", 3) == "abc"
    assert clipped("abcdef", 3) == "abc … (3 more characters)"
