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
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Freeze what is alive now (call after a big structure was built and installed)."""
    gc.freeze()
