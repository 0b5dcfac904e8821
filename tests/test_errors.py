"""one_line(): what any text from an image becomes before a terminal sees it."""

from __future__ import annotations

import sys
import unicodedata

from layerscope.errors import one_line


def test_every_control_format_and_surrogate_character_is_escaped():
    hidden = [chr(c) for c in range(sys.maxunicode + 1)
              if unicodedata.category(chr(c)) in ("Cc", "Cf", "Cs", "Zl", "Zp")]
    assert len(hidden) > 2000  # the surrogates alone are 2,048
    for ch in hidden:
        out = one_line("a" + ch + "b")
        assert ch not in out and out.startswith("a\\") and out.endswith("b"), repr(ch)


def test_escapes_are_readable_and_text_is_kept():
    assert one_line("x\x1b[1m\n") == "x\\x1b[1m\\x0a"
    assert one_line("bad\udcff") == "bad\\xff"  # an invalid UTF-8 byte, as a name's bytes had it
    assert one_line("\ud800\u202e\U000e0041") == "\\ud800\\u202e\\U000e0041"
    assert one_line("ünï€😀 [b]x[/b] \u00a0") == "ünï€😀 [b]x[/b] \u00a0"


def test_cut_to_the_limit_whatever_the_length():
    assert one_line("n" * 10, 10) == "n" * 10
    assert one_line("n" * 11, 10) == "n" * 9 + "…"
    assert one_line("\x1b" * 10, 10) == "\\x1b\\x1b\\…"
    huge = "\u202e" * (50 << 20)
    assert len(one_line(huge, 600)) == 600
