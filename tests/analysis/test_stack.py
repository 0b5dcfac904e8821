"""Stack's bulk pass for layer 0 (`Stack._bottom`) and the columnar pass of
big stacks (`stackcols`) give exactly what the general loop gives: every column (hidden_at, hidden_by, how, prev_layer,
prev_index, change), the deletions in order, the implied directories and the
top view (in insertion order too; for the columnar pass as a mapping), on the sample images, on hand-made layer
stacks that the bulk pass must refuse (children before their parent, a file in
the way of a child, duplicates) or accept (markers in layer 0, a whiteout and
an entry for one path), and on random stacks (hypothesis)."""

from __future__ import annotations

import os
import random
from datetime import timedelta
from itertools import permutations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerscope.analysis import stack as stack_mod
from layerscope.analysis.stack import Stack
from layerscope.app.testing import mem_graph
from layerscope.formats.source import open_graph
from layerscope.layers.indexing import index_layers
from layerscope.model import BLOCK, CHAR, DIR, FIFO, FILE, HARDLINK, OPAQUE, SYMLINK, WHITEOUT, Image, LayerEntries
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive
from tests.conftest import ROOT, SAMPLES

COLUMNS = ("hidden_at", "hidden_by", "how", "prev_layer", "prev_index", "change")


def snapshot(s: Stack) -> dict:
    """Everything the pass computes, order included (dicts as item lists)."""
    out = {name: [bytes(x) for x in getattr(s, name)] for name in COLUMNS}
    out["types"] = [type(x) for name in COLUMNS for x in getattr(s, name)]
    out["deletions"] = [[d._values() for d in ds] for ds in s.deletions]
    out["implied"] = list(s.implied.items())
    out["top_view"] = list(s.top_view.items())
    return out


def general(image: Image, layers=None) -> Stack:
    old = stack_mod._fast_bottom, stack_mod._columns
    stack_mod._fast_bottom, stack_mod._columns = False, False
    try:
        return Stack(image, layers)
    finally:
        stack_mod._fast_bottom, stack_mod._columns = old


def columnar(image: Image, layers=None) -> Stack:
    old = stack_mod._columns
    stack_mod._columns = True
    try:
        return Stack(image, layers)
    finally:
        stack_mod._columns = old


def same_but_top_view_order(a: dict, b: dict) -> None:
    a, b = dict(a), dict(b)
    assert dict(a.pop("top_view")) == dict(b.pop("top_view"))
    assert a == b


def took_fast_path(s: Stack) -> bool:
    probe = Stack.__new__(Stack)
    probe.layers, probe.n = s.layers, s.n
    probe.change = [bytearray(len(l.entries)) for l in s.layers]
    return bool(s.n) and probe._bottom(s.n > 1) is not None


def check(image: Image, layers=None) -> Stack:
    assert stack_mod._fast_bottom and stack_mod._columns is None
    fast = Stack(image, layers)
    slow = general(image, layers)
    assert snapshot(fast) == snapshot(slow)
    # the columnar pass: the same, but for the top view's order (a mapping)
    same_but_top_view_order(snapshot(columnar(image, layers)), snapshot(slow))
    # and the cached state loads to the same thing (its top view is rebuilt
    # layer by layer, so in another order)
    loaded = snapshot(Stack(image, layers, state=fast.to_state()))
    want = snapshot(slow)
    assert dict(loaded.pop("top_view")) == dict(want.pop("top_view"))
    assert loaded == want
    return fast


def entries(rows) -> LayerEntries:
    """rows: (path, type) or (path, type, mode); sizes distinct."""
    e = LayerEntries()
    for k, row in enumerate(rows):
        path, t = row[:2]
        mode = row[2] if len(row) > 2 else (0o755 if t == DIR else 0o644)
        link = "a" if t in (SYMLINK, HARDLINK) else None
        e.append(path, t, k + 1 if t == FILE else 0, mode, 0, 0, 0, link, 0)
    return e


def image_of(*layers) -> Image:
    """An image of in-memory layers, each a list of rows for `entries`."""
    g = mem_graph([[] for _ in layers])
    im = g.images[0]
    for layer, rows in zip(im.layers, layers):
        layer.entries = entries(rows)
    return im


# ---------------------------------------------------------------------------
# real archives

def sample_archives():
    out = sorted(str(p) for p in SAMPLES.glob("*.tar"))
    for name in ("base.docker.tar", "classic.docker.tar", "bloated.docker.tar"):
        p = ROOT / "bench" / "images" / name
        if p.exists():
            out.append(str(p))
    return out


@pytest.mark.parametrize("path", sample_archives(), ids=os.path.basename)
def test_same_result_on_real_images(path):
    g = open_graph([path], None)
    index_layers(g, use_cache=False)
    assert g.images
    for im in g.images:
        s = check(im)
        assert took_fast_path(s), im.refs
        for k in range(1, len(im.layers)):  # every prefix of the stack, as the app's per-layer views
            check(im, im.layers[:k])


def test_same_result_on_a_written_archive_with_duplicates_and_markers(tmp_path):
    # the walker dedupes (path, record kind): a whiteout, an opaque marker and
    # an entry for one path all survive in layer 0
    layer0 = [F("a/", "dir"), F("a/x", data=b"1"), F("a/x", data=b"22"), F("a/x", "whiteout"),
              F("a", "opaque"), F("b/", "dir"), F("b", "whiteout"), F("b/y", data=b"3"), F("top", data=b"t"),
              F("top", "whiteout")]
    layer1 = [F("a", "opaque"), F("a/z", data=b"4"), F("b", "whiteout"), F("top", "whiteout"), F("c/d/e", data=b"5")]
    layer2 = [F("c", "whiteout"), F("a/", "dir", mode=0o700)]
    p = tmp_path / "img.tar"
    specs = [LayerSpec(l, created_by=f"step {k}") for k, l in enumerate((layer0, layer1, layer2))]
    write_archive(str(p), [ImageSpec(specs)], layout="docker-legacy")
    g = open_graph([str(p)], None)
    index_layers(g, use_cache=False)
    im = g.images[0]
    e = im.layers[0].entries
    assert sorted(zip(e.paths, e.types)).count(("a/x", FILE)) == 1
    assert ("a/x", WHITEOUT) in zip(e.paths, e.types)
    s = check(im)
    assert took_fast_path(s)
    assert s.deletions[1] and s.deletions[2]
    check(im, im.layers[:1])


# ---------------------------------------------------------------------------
# hand-made layer 0s: (rows, should the bulk pass take it?)

CASES = {
    "root-level only": ([("a", FILE), ("b", DIR), ("c", SYMLINK), ("d", HARDLINK)], True),
    "tidy tree": ([("a", DIR), ("a/b", DIR), ("a/b/c", FILE), ("a/d", FILE), ("e", FILE)], True),
    "children before their parent": ([("a/b", FILE), ("a", DIR)], False),
    "grandchild before its parent": ([("a", DIR), ("a/b/c", FILE), ("a/b", DIR)], False),
    "parent never listed": ([("a/b/c", FILE), ("x", FILE)], False),
    "a file in the way of a child": ([("a", FILE), ("a/b", FILE)], False),
    "a symlink in the way of a child": ([("a", SYMLINK), ("a/b", DIR), ("a/b/c", FILE)], False),
    "a whiteout before an entry for the same path": ([("a", WHITEOUT), ("a", DIR), ("a/b", FILE)], True),
    "a whiteout after an entry for the same path": ([("a", DIR), ("a/b", FILE), ("a", WHITEOUT)], True),
    "a whiteout for a child's parent": ([("a", WHITEOUT), ("a/b", FILE)], False),
    "a whiteout for a missing path": ([("x", DIR), ("nope", WHITEOUT), ("x/nope", WHITEOUT)], True),
    "an opaque marker in layer 0": ([("a", DIR), ("a", OPAQUE), ("a/b", FILE)], True),
    "an opaque marker before its dir": ([("a", OPAQUE), ("a", DIR), ("a/b", FILE)], True),
    "an opaque marker at the root": ([("", OPAQUE), ("a", FILE)], True),
    "only markers": ([("a", WHITEOUT), ("b", OPAQUE), ("a/b", WHITEOUT)], True),
    "the same file twice": ([("a", FILE), ("a", FILE)], False),
    "the same dir twice, same mode": ([("a", DIR), ("a/b", FILE), ("a", DIR)], False),
    "the same dir twice, other mode": ([("a", DIR), ("a", DIR, 0o700), ("a/b", FILE)], False),
    "a dir then a file at its path": ([("a", DIR), ("a/b", FILE), ("a", FILE)], False),
    "look-alike paths": ([("a", DIR), ("a.so", FILE), ("a/b", FILE), ("ab", DIR), ("ab/c", FILE), ("a-b", FILE)],
                         True),
    "a path with a trailing slash": ([("a", DIR), ("a/", FILE)], True),
    "a leading slash": ([("/a", FILE), ("b", DIR), ("b//c", FILE)], False),
    "a leading slash alone": ([("/a", FILE), ("b", FILE)], True),
    "the root as an entry": ([("", DIR), ("a", FILE)], False),
    "every entry type": ([("d", DIR), ("d/f", FILE), ("d/l", SYMLINK), ("d/h", HARDLINK), ("d/c", CHAR),
                          ("d/b", BLOCK), ("d/p", FIFO)], True),
    "empty": ([], True),
}

# layers put above each case's layer 0
UPPERS = [
    [],
    [[("a", WHITEOUT), ("a/b", FILE), ("x", OPAQUE)]],
    [[("a", OPAQUE), ("a/n", FILE)], [("a", FILE), ("", OPAQUE), ("q", DIR)]],
    [[("a", DIR, 0o700), ("b", FILE)], [("b/c", FILE), ("a", WHITEOUT), ("a", DIR)]],
    [[("d", FILE), ("a/b", WHITEOUT), ("ab", SYMLINK)], [("d/f", FILE), ("a/b/c/d", FILE)]],
]


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("uppers", range(len(UPPERS)))
def test_same_result_on_hand_made_stacks(name, uppers):
    rows, fast = CASES[name]
    im = image_of(rows, *UPPERS[uppers])
    s = check(im)
    assert took_fast_path(s) == fast
    if s.n > 1:
        check(im, im.layers[:1])


@pytest.mark.parametrize("name", ["tidy tree", "look-alike paths", "an opaque marker in layer 0"])
def test_every_order_of_a_small_layer(name):
    rows = CASES[name][0]
    for order in permutations(rows):
        check(image_of(list(order), UPPERS[1][0]))


def test_no_layers():
    im = image_of([("a", FILE)])
    s = check(im, [])
    assert s.top_view == {} and s.n == 0


def test_kids_are_filled_in_the_loops_order():
    # the sets' iteration order decides the order of a later layer's deletions
    rows = [("d", DIR)] + [(f"d/{k}", FILE) for k in range(200)] + [("e", DIR)] + [(f"e/{k}", FILE) for k in range(50)]
    middle = rows[1:201]
    random.Random(1).shuffle(middle)
    rows[1:201] = middle
    im = image_of(rows, [("d", OPAQUE), ("e", OPAQUE)])
    s = check(im)
    assert took_fast_path(s)
    assert len(s.deletions[1]) == 200 + 50  # one per child, in the sets' order
    probe = Stack.__new__(Stack)
    probe.layers, probe.n = im.layers, 2
    probe.change = [bytearray(len(l.entries)) for l in im.layers]
    cur, kids = probe._bottom(True)
    expect: dict[str, set[str]] = {"": set()}
    for p, _t in rows:
        expect.setdefault(p.rpartition("/")[0], set()).add(p)
    assert {k: list(v) for k, v in kids.items()} == {k: list(v) for k, v in expect.items()}
    assert probe._bottom(False)[1] == {"": set()}
    assert cur == {p: (0, i) for i, (p, t) in enumerate(rows)}


# ---------------------------------------------------------------------------
# random stacks

NAMES = ["a", "b", "c", "lib", "x.so"]
TYPES = [FILE] * 5 + [DIR] * 3 + [SYMLINK, HARDLINK, WHITEOUT, WHITEOUT, OPAQUE]


def random_layers(rng: random.Random, n_layers: int, per_layer: int) -> list[list[tuple]]:
    layers = []
    for _ in range(n_layers):
        layers.append([("/".join(rng.choice(NAMES) for _ in range(rng.randrange(1, 4))), rng.choice(TYPES),
                        rng.choice((0o755, 0o700)))
                       for _ in range(rng.randrange(0, per_layer))])
    return layers


def tidy(rows: list[tuple]) -> list[tuple]:
    """A layer 0 the bulk pass accepts: unique paths, every parent a dir listed
    before its children; the markers kept where they were."""
    kept: dict[str, tuple] = {}
    for row in rows:
        if row[1] in (WHITEOUT, OPAQUE):
            continue
        p = row[0]
        parts = p.split("/")
        for k in range(1, len(parts)):
            kept[("/".join(parts[:k]))] = ("/".join(parts[:k]), DIR, 0o755)
        kept.setdefault(p, row)
    ents = sorted(kept.values())
    out = []
    markers = [r for r in rows if r[1] in (WHITEOUT, OPAQUE)]
    for k, row in enumerate(ents):
        out.append(row)
        if markers and k % 3 == 0:
            out.append(markers.pop())
    return out + markers


@pytest.mark.parametrize("seed", range(80))
def test_same_result_on_random_stacks(seed):
    rng = random.Random(seed)
    layers = random_layers(rng, rng.randrange(1, 6), 25)
    if seed % 2:
        layers[0] = tidy(layers[0])
    im = image_of(*layers)
    s = check(im)
    if seed % 2:
        assert took_fast_path(s)


path_st = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map("/".join)
row_st = st.tuples(path_st, st.sampled_from(TYPES), st.sampled_from((0o755, 0o700)))
layer_st = st.lists(row_st, max_size=14)


@settings(max_examples=int(os.environ.get("LAYERSCOPE_FUZZ_EXAMPLES", "300")), deadline=timedelta(seconds=5),
          database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(layer_st, min_size=1, max_size=5), st.booleans())
def test_same_result_on_hypothesis_stacks(layers, make_tidy):
    if make_tidy:
        layers = [tidy(layers[0])] + layers[1:]
    im = image_of(*layers)
    s = check(im)
    if make_tidy:
        assert took_fast_path(s)
    check(im, im.layers[:1])
