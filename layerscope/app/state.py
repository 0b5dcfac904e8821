"""What the explorer has loaded: the graph, the image shown, the analyses,
the comparisons and the cache of file trees.  No Textual here: the screens
read this state, the app's workers fill it in."""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..analysis import LayerRow
from ..analysis.lazytree import lazy_merged_tree
from ..analysis.stack import Stack
from ..analysis.tree import build_changes_tree, build_merged_tree
from ..model import OPAQUE
from .treemodel import change_mask

TREE_CACHE = 8  # trees kept: the current one, its neighbours and a few more
DIFF_CACHE = 2


def _positions(types: bytearray, t: int):
    """Indexes of the entries of type t (bytearray.find runs at C speed)."""
    b = bytes([t])
    i = types.find(b)
    while i >= 0:
        yield i
        i = types.find(b, i + 1)


class LoadedState:
    """The images of one explorer session and what was computed about them."""

    def __init__(self) -> None:
        self.graph = None
        self.image = None
        self.analyses: dict[int, object] = {}  # id(image) -> ImageAnalysis
        self.analysing: set[int] = set()
        self.ranking: set[int] = set()  # analyses whose wasted paths a worker is ranking
        self.finding: set[int] = set()  # analyses whose findings a worker is computing
        self.squash_weighed: dict[int, object] = {}  # id(analysis) -> ((i, j), WhatIf) of the squash the user asked for
        self.reading_packages: set[int] = set()  # analyses whose package databases a worker is reading
        self.indexed_all = False
        self.fatal: str | None = None
        self.index_note = ""
        self.stack_index: dict[int, object] = {}  # id(analysis) -> StackIndex (None while building)
        self.path_search: dict[int, object] = {}  # id(image) -> PathSearch
        self.diffs: OrderedDict = OrderedDict()  # (id(a), id(b)) -> (ImageDiff, DiffTree)
        self.diffing: set = set()
        self.pending_diffs: list = []  # (a, b) to compare once every layer is indexed
        self._trees: OrderedDict = OrderedDict()
        self._tree_lock = threading.Lock()  # a cancelled tree worker may still be finishing

    @property
    def analysis(self):
        return self.analyses.get(id(self.image)) if self.image is not None else None

    def rows_for(self, image, a) -> list[LayerRow]:
        """The layer list's rows: the build steps once analysed (or when the
        history maps onto the layers), else one row per layer."""
        if a is not None:
            return a.layer_rows()
        rows = []
        if image.history_mapped:
            for s, h in enumerate(image.history):
                layer = image.layers[h.layer_index] if h.layer_index is not None else None
                rows.append(LayerRow(s, h.layer_index, h.created_by, layer))
        else:
            for L, layer in enumerate(image.layers):
                rows.append(LayerRow(L, L, "", layer))
        return rows

    def add_diff(self, a, b, d, t) -> None:
        key = (id(a), id(b))
        self.diffing.discard(key)
        self.diffs[key] = (d, t)
        while len(self.diffs) > DIFF_CACHE:
            self.diffs.popitem(last=False)

    # -- the tree cache (read and filled from worker threads) -----------------
    def tree_key(self, image, a, N: int, mode: str, filtering: bool):
        """The tree cache's key; also says whether the tree is a lazy merged view
        (built from the stack's index once it is ready; a filter reads every path,
        so it gets an eager tree of its own)."""
        lazy = (mode == "merged" and a is not None and not filtering
                and self.stack_index.get(id(a)) is not None)
        return (id(image), N, mode, a is not None, lazy)

    def has_tree(self, key, keep: bool = False) -> bool:
        """Is the tree of `key` cached (and, with `keep`, marked as recently used)?"""
        with self._tree_lock:
            if key in self._trees:
                if keep:
                    self._trees.move_to_end(key)
                return True
            return False

    def tree(self, image, a, N: int, mode: str, filtering: bool, cancelled):
        """(tree, change mask, opaque nodes) of layer N, from the cache or built
        (in a worker thread; `cancelled()` stops the build)."""
        key = self.tree_key(image, a, N, mode, filtering)
        with self._tree_lock:
            got = self._trees.get(key)
            if got is not None:
                self._trees.move_to_end(key)
                return got
        if a is not None:
            stack, kinds = a.stack, a.kinds
        else:  # still indexing: the layers up to N are enough for this tree
            stack, kinds = Stack(image, image.layers[:N + 1]), None
        t = None
        if key[-1]:
            t = lazy_merged_tree(stack, kinds, N, self.stack_index[id(a)], cancelled)
        if t is None:
            t = (build_merged_tree if mode == "merged" else build_changes_tree)(stack, kinds, N, cancelled)
        changes = change_mask(t)
        le = t.stack.layers[N].entries
        opaque = frozenset(n for n in (t.find(le.paths[i]) for i in _positions(le.types, OPAQUE))
                           if n is not None)
        got = (t, changes, opaque)
        with self._tree_lock:
            self._trees[key] = got
            while len(self._trees) > TREE_CACHE:
                self._trees.popitem(last=False)
        return got
