"""The size map's layout and figures (analysis/treemap.py)."""

from __future__ import annotations

import pytest

from layerscope.analysis import analyse
from layerscope.analysis.tree import S_DELETED, build_merged_tree
from layerscope.analysis.treemap import (
    CELL_ASPECT,
    Item,
    dominant_layer,
    hidden_files,
    hidden_under,
    items_of,
    layout,
    squarify,
)
from layerscope.app.testing import mem_graph
from layerscope.model import DIR, FILE, WHITEOUT


@pytest.mark.parametrize("values", [[6, 6, 4, 3, 2, 2, 1], [100], [50, 1, 1, 1], [3] * 12])
def test_squarify_tiles_the_rectangle_in_proportion(values):
    w, h = 60.0, 40.0
    rects = squarify(values, 0, 0, w, h)
    assert len(rects) == len(values)
    total = sum(values)
    for v, (x, y, rw, rh) in zip(values, rects):
        assert rw * rh == pytest.approx(w * h * v / total)
        assert -1e-9 <= x and x + rw <= w + 1e-9 and -1e-9 <= y and y + rh <= h + 1e-9
    # no two overlap
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            ox = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
            oy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
            assert ox <= 1e-9 or oy <= 1e-9


def test_squarified_boxes_stay_close_to_square():
    rects = squarify([6, 6, 4, 3, 2, 2, 1], 0, 0, 6, 4)  # the paper's example
    worst = max(max(w / h, h / w) for _, _, w, h in rects)
    assert worst < 3


def test_layout_in_cells_covers_without_overlap():
    items = [Item(k, f"n{k}", s, k % 3, False, 1) for k, s in enumerate([500, 300, 120, 50, 20, 9, 1])]
    boxes = layout(items, 80, 24)
    seen = set()
    for b in boxes:
        for x in range(b.x, b.x + b.w):
            for y in range(b.y, b.y + b.h):
                assert (x, y) not in seen and 0 <= x < 80 and 0 <= y < 24
                seen.add((x, y))
    assert len(seen) == 80 * 24  # every cell belongs to one box
    big = boxes[0]
    assert big.item.size == 500 and big.w * big.h * CELL_ASPECT >= 0.9 * 80 * 24 * CELL_ASPECT * 500 / 1000


def test_items_colours_and_hidden_bytes():
    g = mem_graph([
        [("usr", DIR, 0), ("usr/a", FILE, 100), ("usr/b", FILE, 300), ("etc", DIR, 0), ("etc/x", FILE, 50)],
        [("usr", DIR, 0), ("usr/c", FILE, 1000), ("usr/b", FILE, 301), ("etc/x", WHITEOUT, 0)],
    ])
    a = analyse(g, g.images[0])
    t = build_merged_tree(a.stack, a.kinds, 1)
    items = items_of(t, 0)
    assert [(i.name, i.size, i.layer, i.is_dir) for i in items] == [("usr", 1401, 1, True), ("etc", 0, -1, True)]
    usr = t.find("/usr")
    assert dominant_layer(t, usr) == 1 and dominant_layer(t, t.find("/usr/a")) == 0
    assert [(i.name, i.layer) for i in items_of(t, usr)] == [("c", 1), ("b", 1), ("a", 0)]
    # the limit folds the rest into one item
    rest = items_of(t, usr, limit=1)
    assert rest[-1].node == -1 and rest[-1].size == 401 and rest[-1].count == 2
    hidden = hidden_files(a.stack, 1)
    assert sorted(hidden) == [("etc/x", 50), ("usr/b", 300)]
    assert hidden_under(hidden, "/") == (350, 2) and hidden_under(hidden, "/usr") == (300, 1)
    assert hidden_under(hidden, "us") == (0, 0)
    assert hidden_files(a.stack, 0) == []


def _layered_stack():
    """Four layers: adds, overwrites, a whiteout, an opaque directory, nested dirs."""
    from layerscope.model import OPAQUE

    l0 = [("usr", DIR, 0), ("usr/lib", DIR, 0), ("usr/lib/a", FILE, 100), ("usr/lib/b", FILE, 300),
          ("usr/share", DIR, 0), ("usr/share/doc", DIR, 0), ("usr/share/doc/x", FILE, 70),
          ("etc", DIR, 0), ("etc/x", FILE, 50), ("var", DIR, 0), ("var/c", DIR, 0), ("var/c/old", FILE, 900)]
    l1 = [("usr", DIR, 0), ("usr/lib", DIR, 0), ("usr/lib/b", FILE, 301), ("usr/lib/big", FILE, 5000),
          ("etc/x", WHITEOUT, 0), ("opt", DIR, 0), ("opt/deep", DIR, 0), ("opt/deep/er", DIR, 0),
          ("opt/deep/er/f", FILE, 42)]
    l2 = [("var/c", OPAQUE, 0), ("var/c/new", FILE, 11), ("usr/share/doc/y", FILE, 71)]
    l3 = [("usr/share/doc/x", FILE, 72), ("usr/share/doc/z", FILE, 1)]
    g = mem_graph([l0, l1, l2, l3])
    return analyse(g, g.images[0])


@pytest.mark.parametrize("N", [0, 1, 2, 3])
def test_layer_bytes_give_every_directory_the_layer_its_subtree_walk_gives(N):
    from layerscope.analysis.lazytree import StackIndex, lazy_merged_tree
    from layerscope.analysis.treemap import LayerBytes

    a = _layered_stack()
    ix = StackIndex(a.stack)
    eager = build_merged_tree(a.stack, a.kinds, N)
    lazy = lazy_merged_tree(a.stack, a.kinds, N, ix)
    assert lazy is not None and lazy.lazy
    lb = LayerBytes(ix, N)
    dirs = [n for n in range(len(eager.names)) if eager.is_dir(n) and eager.status[n] != S_DELETED]
    assert len(dirs) > 5
    for n in dirs:
        assert lb.dominant(eager.path(n).strip("/")) == dominant_layer(eager, n), eager.path(n)
    # the map's items read from the lazy view equal those of the eager tree, directory by directory
    for path in ("/", "/usr", "/usr/share", "/opt/deep", "/var/c"):
        en, ln = eager.find(path), lazy.find(path)
        if en is None:
            assert ln is None
            continue
        want = [(i.name, i.size, i.layer, i.is_dir, i.count) for i in items_of(eager, en)]
        assert [(i.name, i.size, i.layer, i.is_dir, i.count) for i in items_of(lazy, ln, layer_bytes=lb)] == want


def test_layer_bytes_stop_when_cancelled():
    from layerscope.analysis.lazytree import StackIndex
    from layerscope.analysis.tree import Cancelled
    from layerscope.analysis.treemap import LayerBytes

    a = _layered_stack()
    with pytest.raises(Cancelled):
        LayerBytes(StackIndex(a.stack), 3, cancelled=lambda: True)
