"""Keep Python's garbage collector from freezing the UI.

A full (generation 2) collection scans every container object alive.  Once a
big image is analysed and a few file trees are built that is millions of
objects, and one full collection holds the GIL long enough for the app to
stop answering keys (whichever thread's allocation happened to trigger it).
The long-lived data never becomes garbage, so it is moved out of the
collector's sight with gc.freeze() (O(1)) whenever a big structure has been
built: collections then scan only what was allocated since.  Reference
counting still frees frozen objects that are dropped (trees evicted from the
cache, a closed comparison); only reference cycles among frozen objects
would stay, which the app's data does not make.

While a worker builds such a structure (an index, the analysis, a tree, an
expansion), what it allocates is not frozen yet, and the collections its
allocations trigger scan all of it, again and again: `paused()` turns
automatic collections off until the last such worker is done, then freezes
what they built before turning them back on.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = True


def settle() -> None:
    """Freeze what is alive now (call after a big structure was built and installed)."""
    gc.freeze()


@contextmanager
def paused():
    """No automatic collection while the block runs (in any thread, however many overlap)."""
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                gc.freeze()  # what the block built: else the first collection after it scans it all
                if _was_enabled:
                    gc.enable()


def holders() -> int:
    """How many blocks are in paused() now (tests)."""
    return _holders


def building(fn):
    """A worker function run inside paused()."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kw):
        with paused():
            return fn(*args, **kw)

    return wrapper
