"""The garbage collector paused while an analysis builds its many small objects.

A collection runs every few hundred new container objects, and once in a
while it walks every object alive: for a big image the millions of the index
and the merge.  The package analysis and the findings make tens of thousands
of tuples and lists and no reference cycle, so collections during them find
nothing and only cost time.  What was made is then frozen (gc.freeze, as the
explorer does after a big structure): else the first collections after the
pause walk it all at once.  Reference counting still frees it.
"""

from __future__ import annotations

import gc


class paused:
    """`with paused():` no automatic collection inside; the collector is on
    again after it, with everything alive frozen, if it was on before.  Two threads may nest it: the last
    one out that found it on turns it back on."""

    __slots__ = ("was_on",)

    def __enter__(self) -> None:
        self.was_on = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc) -> None:
        if self.was_on:
            gc.freeze()  # what was made inside is kept: later collections need not walk it either
            gc.enable()
