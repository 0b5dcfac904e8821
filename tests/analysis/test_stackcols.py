"""The columnar merge pass (`stackcols`, numpy) gives what the general loop
gives on stacks shaped as builds leave them: parents re-listed in every
layer, rewrites and chmods of the layer below, whiteouts further down, opaque
directories, type changes (file, directory, symlink, hardlink) and duplicate
paths in one layer; Stack takes it for big stacks only, and small images
never import numpy."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerscope.analysis import stack as stack_mod
from layerscope.analysis import stackcols
from layerscope.analysis.stack import Stack
from layerscope.model import DIR, FILE, HARDLINK, OPAQUE, SYMLINK, WHITEOUT
from tests.analysis.test_stack import check, image_of, snapshot
from tests.conftest import ROOT, SAMPLES

NAMES = ["a", "b", "lib", "a.b", "a-b", "x"]
KINDS = [FILE] * 4 + [DIR] * 3 + [SYMLINK, HARDLINK, WHITEOUT, OPAQUE]


def relisted(rows: list[tuple], parents_first: bool) -> list[tuple]:
    """A layer as a diff writes it: every parent of an entry listed as a
    directory (before it, or after it when not parents_first), then the rows
    in their order, markers included."""
    out: list[tuple] = []
    seen: set[str] = set()
    for row in rows:
        parts = row[0].split("/")
        parents = [("/".join(parts[:k]), DIR, 0o755) for k in range(1, len(parts)) if "/".join(parts[:k]) not in seen]
        seen.update(p for p, _, _ in parents)
        out.extend(parents + [row] if parents_first else [row] + parents)
    return out


path_st = st.lists(st.sampled_from(NAMES), min_size=1, max_size=4).map("/".join)
row_st = st.tuples(path_st, st.sampled_from(KINDS), st.sampled_from((0o755, 0o700, 0o644)))
layer_st = st.tuples(st.lists(row_st, max_size=16), st.booleans())


@settings(max_examples=int(os.environ.get("LAYERSCOPE_FUZZ_EXAMPLES", "300")), deadline=timedelta(seconds=5),
          database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(layer_st, min_size=1, max_size=6))
def test_same_result_on_build_shaped_stacks(layers):
    im = image_of(*(relisted(rows, first) for rows, first in layers))
    check(im)
    check(im, im.layers[: max(1, len(im.layers) // 2)])


def test_a_build_shaped_stack_by_hand():
    base = [("usr", DIR), ("usr/lib", DIR), ("usr/lib/a.so", FILE), ("usr/lib/b.so", FILE), ("usr/bin", DIR),
            ("usr/bin/sh", FILE), ("usr/bin/ls", HARDLINK), ("cache", DIR), ("cache/x", DIR), ("cache/x/1", FILE),
            ("cache/2", FILE), ("etc", DIR), ("etc/conf", DIR), ("etc/conf/a", FILE)]
    rewrite = [("usr", DIR), ("usr/lib", DIR), ("usr/lib/a.so", FILE, 0o600), ("usr/bin", DIR, 0o700),
               ("usr/bin/sh", SYMLINK), ("etc", DIR), ("etc/conf", FILE)]  # a chmod, a type change each way
    delete = [("cache", OPAQUE), ("cache", DIR), ("cache/new", FILE), ("usr", DIR), ("usr/lib", DIR),
              ("usr/lib/b.so", WHITEOUT), ("etc/conf", WHITEOUT), ("etc/conf/b/c", FILE), ("etc/conf/b/c", FILE)]
    s = check(image_of(base, rewrite, delete))
    assert [d.path for d in s.deletions[1]] == ["etc/conf/a"]  # etc/conf became a file
    assert [d.path for d in s.deletions[2]] == ["cache/2", "cache/x", "usr/lib/b.so", "etc/conf"]
    assert s.top_view["etc/conf"][1] == stack_mod.IMPLIED  # implied again by etc/conf/b/c
    assert "cache/x/1" not in s.top_view and "cache/new" in s.top_view


def test_opaque_deletions_come_in_path_order():
    rows = [("d", DIR)] + [(f"d/{k}", FILE) for k in (5, 3, 40, 1, 22)] + [("d/sub", DIR), ("d/sub/z", FILE)]
    s = check(image_of(rows, [("d", OPAQUE)]))
    assert [d.path for d in s.deletions[1]] == sorted(["d/5", "d/3", "d/40", "d/1", "d/22", "d/sub"])


def test_big_stacks_take_the_columnar_pass(monkeypatch):
    calls = []
    real = stackcols.apply
    monkeypatch.setattr(stackcols, "apply", lambda s, k: (calls.append(s), real(s, k)))
    im = image_of([("a", DIR), ("a/b", FILE)], [("a/b", WHITEOUT)])
    Stack(im)
    assert calls == []
    monkeypatch.setattr(stack_mod, "COLUMNS_MIN", 3)
    s = Stack(im)
    assert calls == [s]
    stack_mod._columns = False
    try:
        before = snapshot(Stack(im))
    finally:
        stack_mod._columns = None
    assert dict(snapshot(s)["top_view"]) == dict(before["top_view"])


def test_a_path_listed_by_several_layers_is_one_string(monkeypatch):
    """The columnar pass leaves each path one string object in every layer
    that lists it (the entries live as long as the analysis)."""
    rows = [("usr", DIR), ("usr/lib", DIR), ("usr/lib/a.so", FILE)]
    im = image_of(rows, [(p, t, 0o700) for p, t in rows], [("usr", DIR), ("usr/lib", DIR), ("usr/lib/b", FILE)])
    for layer in im.layers:  # as indexing leaves them: a string of its own per listing
        layer.entries.paths[:] = ["".join(list(p)) for p in layer.entries.paths]
    first = im.layers[0].entries.paths
    assert im.layers[1].entries.paths[0] is not first[0]
    monkeypatch.setattr(stack_mod, "COLUMNS_MIN", 3)
    s = Stack(im)
    assert [p is first[k] for k, p in enumerate(im.layers[1].entries.paths)] == [True, True, True]
    assert [p is first[k] for k, p in enumerate(im.layers[2].entries.paths[:2])] == [True, True]
    assert im.layers[2].entries.paths == ["usr", "usr/lib", "usr/lib/b"]
    assert s.top_view["usr/lib/b"] == (2, 2) and s.top_view["usr/lib/a.so"] == (1, 2)


def test_small_images_do_not_import_numpy():
    code = (
        "import sys\n"
        "from layerscope.formats.source import open_graph\n"
        "from layerscope.layers.indexing import index_layers\n"
        "from layerscope.analysis import analyse\n"
        f"g = open_graph([{str(SAMPLES / 'classic-docker.tar')!r}], None)\n"
        "index_layers(g, use_cache=False)\n"
        "analyse(g, g.images[0])\n"
        "assert 'numpy' not in sys.modules, 'numpy imported'\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
