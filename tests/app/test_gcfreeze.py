"""Automatic garbage collection stays off while a worker builds a big
structure (layerscope/app/gcfreeze.py): a full collection over what it is
building would hold the GIL, and the UI, for 100 ms and more on a million
entries."""

from __future__ import annotations

import gc
import threading

import pytest

from layerscope.app import LayerscopeApp, gcfreeze
from layerscope.app.testing import mem_graph
from layerscope.model import DIR, FILE
from tests.app.test_app import SIZE, ready, tree, until


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")


def test_paused_nests_across_threads_and_freezes_what_was_built():
    assert gc.isenabled() and gcfreeze.holders() == 0
    inner_started, release = threading.Event(), threading.Event()

    def other():
        with gcfreeze.paused():
            inner_started.set()
            release.wait(5)

    with gcfreeze.paused():
        assert not gc.isenabled()
        th = threading.Thread(target=other)
        th.start()
        inner_started.wait(5)
    assert not gc.isenabled() and gcfreeze.holders() == 1  # the other block still runs
    built = [[k] for k in range(1000)]
    frozen = gc.get_freeze_count()
    release.set()
    th.join()
    assert gc.isenabled() and gcfreeze.holders() == 0
    assert gc.get_freeze_count() >= frozen + len(built)


def test_paused_leaves_collection_off_when_it_was_off():
    gc.disable()
    try:
        with gcfreeze.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


async def test_no_collection_runs_while_expand_all_builds_the_rows(monkeypatch):
    import layerscope.formats.source as formats
    from layerscope.app.treemodel import TreeRows

    ents = [("d", DIR, 0)] + [(f"d/s{k}", DIR, 0) for k in range(40)]
    ents += [(f"d/s{k}/f{j}", FILE, j + 1) for k in range(40) for j in range(100)]
    g = mem_graph([ents])
    monkeypatch.setattr(formats, "open_graph", lambda sources, platform=None, **kw: g)
    seen = []
    orig = TreeRows.expand_all

    def recording(self, under=None):
        seen.append((threading.current_thread() is not threading.main_thread(), gc.isenabled()))
        return orig(self, under)

    monkeypatch.setattr(TreeRows, "expand_all", recording)
    app = LayerscopeApp(["<memory>"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        t = tree(app)
        t.focus()
        seen.clear()
        await pilot.press("E")  # 4,000 rows: in a worker
        await until(pilot, lambda: not t.busy and len(t.model.rows) > 4000, what="every directory open")
        assert seen == [(True, False)]  # in a thread, with automatic collection off
        assert gc.isenabled() and gcfreeze.holders() == 0
