"""Symlinks followed inside the merged view at a layer (analysis/links.py)."""

from __future__ import annotations

from layerscope.analysis import analyse
from layerscope.analysis.links import MAX_HOPS, resolve, visible_entry
from layerscope.analysis.stack import IMPLIED
from layerscope.app.testing import mem_graph
from layerscope.model import DIR, FILE, SYMLINK, WHITEOUT


def _stack(layers):
    g = mem_graph(layers)
    return analyse(g, g.images[0]).stack


def test_relative_absolute_and_directory_links():
    st = _stack([[("etc", DIR, 0), ("etc/real", FILE, 5), ("usr/lib/os", FILE, 7),
                  ("etc/rel", SYMLINK, 0, "real"), ("etc/abs", SYMLINK, 0, "/usr/lib/os"),
                  ("lib", SYMLINK, 0, "usr/lib"), ("etc/via", SYMLINK, 0, "../lib/os")]])
    assert resolve(st, "/etc/rel", 0)[:2] == ("etc/real", (0, 1))
    assert resolve(st, "etc/abs", 0).path == "usr/lib/os"
    r = resolve(st, "etc/via", 0)  # through a link to a directory
    assert r.path == "usr/lib/os" and r.hops == 2 and r.problem is None
    assert resolve(st, "lib/os", 0).path == "usr/lib/os"
    assert resolve(st, "etc/rel", 0, follow_last=False).path == "etc/rel"
    assert visible_entry(st, "usr/lib", 0)[1] == IMPLIED


def test_escapes_stay_in_the_image_and_loops_stop():
    st = _stack([[("etc/up", SYMLINK, 0, "../../../../etc/passwd"), ("etc/passwd", FILE, 3),
                  ("a", SYMLINK, 0, "b"), ("b", SYMLINK, 0, "a"), ("f", FILE, 1), ("g", SYMLINK, 0, "f/x")]])
    r = resolve(st, "etc/up", 0)
    assert r.path == "etc/passwd" and r.clamped and r.problem is None
    r = resolve(st, "a", 0)
    assert r.hops == MAX_HOPS + 1 and "loop" in r.problem
    assert "not a directory" in resolve(st, "g", 0).problem
    assert "not in the image" in resolve(st, "nowhere/x", 0).problem


def test_the_view_at_a_lower_layer():
    st = _stack([[("t1", FILE, 1), ("l", SYMLINK, 0, "t1")],
                 [("t2", FILE, 2), ("l", SYMLINK, 0, "t2"), ("t1", WHITEOUT, 0)]])
    assert resolve(st, "l", 0).path == "t1"
    assert resolve(st, "l", 1).path == "t2"
    assert visible_entry(st, "t1", 1) is None and visible_entry(st, "t1", 0) == (0, 0)
