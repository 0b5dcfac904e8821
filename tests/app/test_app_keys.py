"""README's key table and the explorer's key table (layerscope/app/keys.py) list the same keys."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

pytest.importorskip("textual")

from layerscope.app.keys import KEYS, bindings, help_sections

README = ROOT / "README.md"
_NAMES = {"question_mark": "?", "slash": "/", "left_square_bracket": "[", "right_square_bracket": "]"}


def _norm(k: str) -> str:
    return k.lower() if len(k) > 1 else k  # `Enter` is enter; `E` is not e


def readme_keys() -> set[str]:
    """The keys in the first column of the `| key | does |` table under "## The explorer"."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## The explorer", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert rows and rows[0].replace(" ", "") == "|key|does|", rows[:1]
    keys = set()
    for row in rows[2:]:
        first = row.split("|")[1]
        for quoted in re.findall(r"`([^`]+)`", first):
            keys.update(_norm(k) for k in quoted.split())
    return keys


def table_keys() -> set[str]:
    """Every key the help screen shows for the layer view and its panes."""
    keys = set()
    for k in KEYS:
        if k.help is None:
            continue
        shown = k.help[0].strip()
        if shown == "/":
            keys.add("/")
            continue
        for t in re.split(r"[\s(),]+", shown):
            keys.update(_norm(part) for part in t.split("/") if part)  # "tab / shift+tab", "pgup/pgdn"
    return keys


def bound_keys() -> set[str]:
    """The keys bound on the app and the layer view."""
    return {_norm(_NAMES.get(b.key, b.key)) for b in bindings("app") + bindings("layers")}


def test_every_readme_key_is_in_the_key_table():
    assert readme_keys() - table_keys() == set()


def test_every_bound_key_is_in_readme():
    assert bound_keys() - readme_keys() == set()


def test_every_bound_key_is_on_the_help_screen():
    assert bound_keys() - table_keys() == set()
    assert help_sections()[0][0] == "Everywhere"
