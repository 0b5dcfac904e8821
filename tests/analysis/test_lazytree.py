"""The lazy merged tree (analysis/lazytree.py) gives exactly what the eager
build_merged_tree gives: every node's name, status, entry, size, count, kind,
children (in every sort order), the change mask and its count, `find`, the
app's row model with only-changed and filters, at every layer, on generated
archives (synth) and on random in-memory stacks with whiteouts, opaque
directories, type changes, implied parents, hardlinks and duplicates."""

from __future__ import annotations

import os
import random
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from layerscope.analysis import analyse
from layerscope.analysis.lazytree import LazyMergedTree, StackIndex, lazy_merged_tree
from layerscope.analysis.tree import Cancelled, build_merged_tree
from layerscope.app.testing import mem_graph
from layerscope.app.treemodel import TreeRows, change_mask, compile_filter, shown_mask
from layerscope.formats.source import open_graph
from layerscope.layers.indexing import index_layers
from layerscope.model import DIR, FILE, HARDLINK, OPAQUE, SYMLINK, WHITEOUT
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")


def node_view(t, n):
    return (t.path(n), t.status[n], t.ref(n), t.size(n), t.count(n), t.is_dir(n), t.has_children(n))


def walk(t, by):
    """Every node reachable from the root, depth first in `by` order: [(depth, view)]."""
    out = []
    todo = [(0, 0)]
    while todo:
        n, d = todo.pop()
        out.append((d, node_view(t, n)))
        ks = t.children(n, by)
        todo.extend((c, d + 1) for c in reversed(ks))
    return out


def same_trees(stack, kinds, N, ix):
    eager = build_merged_tree(stack, kinds, N)
    lazy = lazy_merged_tree(stack, kinds, N, ix)
    if lazy is None:  # a shape left to the eager build
        return False
    assert isinstance(lazy, LazyMergedTree)
    # before anything is opened: the root, the size of the view, the change count
    assert node_view(lazy, 0) == node_view(eager, 0)
    assert len(lazy) == len(eager)
    em = change_mask(eager)
    lm = change_mask(lazy)
    assert lm.total() == sum(em)
    for by in ("name", "size"):
        assert walk(lazy, by) == walk(eager, by)
    assert lazy.materialised() == len(eager)
    for n in range(len(eager)):
        m = lazy.find(eager.path(n))
        assert m is not None, eager.path(n)
        assert node_view(lazy, m) == node_view(eager, n)
        assert lm[m] == em[n], eager.path(n)
    assert lazy.find("/no/such/path") is None
    return True


def same_rows(stack, kinds, N, ix, filters=("", "*.so", "re:b/", "a")):
    """The app's row model over both trees: only-changed, filters, expand all."""
    for only_changed in (False, True):
        for text in filters:
            eager = build_merged_tree(stack, kinds, N)
            lazy = lazy_merged_tree(stack, kinds, N, ix)
            if lazy is None:
                return
            pred = compile_filter(text) if text else None
            rows = []
            for t in (eager, lazy):
                keep, matches, kept = shown_mask(t, change_mask(t) if only_changed else None, pred)
                r = TreeRows(t, "name", keep)
                r.expand_all()
                rows.append(([t.path(n) for n in r.rows], list(r.depth), matches, kept))
            assert rows[0] == rows[1], (N, only_changed, text)


def d(p, **kw):
    return F(p, "dir", **kw)


def f(p, data=b"x", **kw):
    return F(p, "file", data=data, **kw)


def build(tmp_path, *layers):
    specs = [LayerSpec(list(l), created_by=f"step {n}") for n, l in enumerate(layers)]
    p = tmp_path / "img.tar"
    write_archive(str(p), [ImageSpec(specs)], layout="docker-legacy")
    g = open_graph([str(p)])
    index_layers(g, use_cache=False)
    return analyse(g, g.images[0])


SYNTH = {
    "whiteouts": [
        [d("a"), f("a/one", b"1" * 10), d("a/sub"), f("a/sub/two", b"2" * 20), f("keep", b"k"), d("b"),
         f("b/x.so", b"so")],
        [F("a/sub", "whiteout"), F("keep", "whiteout"), F("never-existed", "whiteout"), f("b/y.so", b"yy")],
    ],
    "opaque": [
        [d("etc"), d("etc/app"), f("etc/app/old.conf", b"o" * 100), d("etc/app/conf.d"),
         f("etc/app/conf.d/x", b"x" * 7)],
        [d("etc/app"), F("etc/app", "opaque"), f("etc/app/new.conf", b"n" * 5)],
    ],
    "type changes": [
        [d("x"), f("x/a", b"a" * 3), f("y", b"y" * 4), F("lib", "symlink", link="usr/lib")],
        [f("x", b"now a file"), f("lib/x.so", b"so")],
        [d("y"), f("y/inside", b"i"), F("x", "whiteout")],
    ],
    "readd and copy-ups": [
        [d("cache"), f("cache/big", b"b" * 50), f("conf", b"old"), f("bin/tool", b"t" * 9),
         F("bin/tool2", "hardlink", link="bin/tool")],
        [F("cache", "whiteout"), d("cache"), f("cache/small", b"s"), F("conf", "whiteout"), f("conf", b"new!"),
         f("bin/tool", b"t" * 9, mode=0o700), f("bin/tool3", b"t" * 9)],
        [f("usr/local/share/deep/file", b"d" * 11), d("bin", mode=0o700)],
    ],
}


@pytest.mark.parametrize("name", sorted(SYNTH))
def test_lazy_equals_eager_on_generated_archives(tmp_path, name):
    a = build(tmp_path, *SYNTH[name])
    ix = StackIndex(a.stack)
    lazy_layers = 0
    for N in range(a.stack.n):
        lazy_layers += same_trees(a.stack, a.kinds, N, ix)
        same_rows(a.stack, a.kinds, N, ix)
    assert lazy_layers >= a.stack.n - 1


NAMES = ["a", "b", "c", "lib", "x.so"]
TYPES = [FILE] * 5 + [DIR] * 3 + [SYMLINK, HARDLINK, WHITEOUT, WHITEOUT, OPAQUE]


def random_layers(rng: random.Random, n_layers: int, per_layer: int) -> list[list[tuple]]:
    size = iter(range(1, 10 ** 6))
    layers = []
    for _ in range(n_layers):
        ents = []
        for _ in range(rng.randrange(1, per_layer)):
            path = "/".join(rng.choice(NAMES) for _ in range(rng.randrange(1, 4)))
            t = rng.choice(TYPES)
            link = "a" if t in (SYMLINK, HARDLINK) else None
            ents.append((path, t, next(size) if t == FILE else 0, link))
        layers.append(ents)
    return layers


@pytest.mark.parametrize("seed", range(60))
def test_lazy_equals_eager_on_random_stacks(seed):
    rng = random.Random(seed)
    g = mem_graph(random_layers(rng, rng.randrange(1, 6), 25))
    a = analyse(g, g.images[0])
    ix = StackIndex(a.stack)
    for N in range(a.stack.n):
        same_trees(a.stack, a.kinds, N, ix)
        same_rows(a.stack, a.kinds, N, ix, filters=("", "*.so", "re:^/a/b"))


def test_most_random_stacks_take_the_lazy_path():
    lazy = total = 0
    for seed in range(60):
        rng = random.Random(seed)
        g = mem_graph(random_layers(rng, rng.randrange(1, 6), 25))
        a = analyse(g, g.images[0])
        ix = StackIndex(a.stack)
        for N in range(a.stack.n):
            total += 1
            lazy += lazy_merged_tree(a.stack, a.kinds, N, ix) is not None
    assert lazy >= total * 0.7, (lazy, total)


def test_only_opened_directories_are_materialised():
    layers = [[("big", DIR, 0)] + [(f"big/f{i:05d}", FILE, i + 1) for i in range(5000)]
              + [("etc/passwd", FILE, 7)],
              [("big/f00001", WHITEOUT, 0), ("etc/group", FILE, 3)]]
    g = mem_graph(layers)
    a = analyse(g, g.images[0])
    ix = StackIndex(a.stack)
    t = lazy_merged_tree(a.stack, a.kinds, 1, ix)
    assert len(t) == 1 + 1 + 4999 + 1 + 2 + 1  # root's descendants + the ghost of big/f00001
    kids = t.children(0)
    assert [t.name(n) for n in kids] == ["big", "etc"]
    assert t.materialised() == 3
    big = t.find("/big")
    assert t.count(big) == 4999 and t.size(big) == sum(range(1, 5001)) - 2
    assert t.has_children(big) and t.materialised() == 3
    assert change_mask(t)[big] == 1  # the deletion below it
    assert t.find("/etc/group") is not None and t.materialised() == 5
    assert len(t.children(big, "size")) == 5000  # 4,999 files and the ghost
    assert t.status[t.find("/big/f00001")] == 5  # S_DELETED


def test_builds_stop_when_cancelled():
    layers = [[(f"d{i % 50}/f{i}", FILE, i) for i in range(20000)]]
    g = mem_graph(layers)
    a = analyse(g, g.images[0])
    with pytest.raises(Cancelled):
        StackIndex(a.stack, cancelled=lambda: True)
    with pytest.raises(Cancelled):
        build_merged_tree(a.stack, a.kinds, 0, cancelled=lambda: True)
    calls = []
    t = build_merged_tree(a.stack, a.kinds, 0, cancelled=lambda: calls.append(1) or False)
    assert calls and len(t) == 20000 + 50 + 1


def test_a_dropped_lazy_tree_is_freed_without_the_cycle_collector():
    """The app freezes long-lived objects out of the garbage collector's sight
    (app/gcfreeze.py): a tree evicted from its cache must go by reference counting."""
    import gc
    import weakref

    g = mem_graph([[("a/b", FILE, 1), ("a/c", FILE, 2)], [("a/b", WHITEOUT, 0), ("d", FILE, 3)]])
    a = analyse(g, g.images[0])
    t = lazy_merged_tree(a.stack, a.kinds, 1, StackIndex(a.stack))
    mask = change_mask(t)
    t.load_all()
    assert mask[t.find("/a")] == 1
    ref = weakref.ref(t)
    gc.disable()
    try:
        del t, mask
        assert ref() is None
    finally:
        gc.enable()
