"""analysis/nogc.py: the collector off inside `paused()`, back on after it
only if it was on."""

from __future__ import annotations

import gc

import pytest

from layerscope.analysis.nogc import paused


def test_paused_turns_the_collector_off_and_back_on_with_what_it_made_frozen():
    assert gc.isenabled()
    gc.unfreeze()
    try:
        with paused():
            assert not gc.isenabled()
            with paused():
                assert not gc.isenabled()
            assert not gc.isenabled()  # the inner one found it off
            made = [[n] for n in range(1000)]
            assert gc.get_freeze_count() == 0
        assert gc.isenabled()
        assert gc.get_freeze_count() >= len(made)
    finally:
        gc.unfreeze()


def test_paused_leaves_it_off_when_it_was_off_and_on_after_an_error():
    gc.disable()
    try:
        with paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(KeyError):
        with paused():
            raise KeyError("x")
    assert gc.isenabled()
