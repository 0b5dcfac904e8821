"""The garbage collector paused while an analysis builds its many small objects.

A collection runs every few hundred new container objects, and once in a
while it walks every object alive: for a big image the millions of the index
and the merge.  The package analysis and the findings make tens of thousands
of tuples and lists and no reference cycle, so collections during them find
nothing and only cost time.
"""

from __future__ import annotations

import gc


class paused:
    """`with paused():` no automatic collection inside; the collector is on
    again after it if it was on before.  Two threads may nest it: the last
    one out that found it on turns it back on."""

    __slots__ = ("was_on",)

    def __enter__(self) -> None:
        self.was_on = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc) -> None:
        if self.was_on:
            gc.enable()
