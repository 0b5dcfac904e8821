"""The visible rows of a file tree: expanded directories flattened into one
list of node ids (no widget, no object per file).  Expanding a directory of
50,000 entries splices 50,000 ints into a list; drawing reads only the rows on
screen.  Pure Python, no Textual: tested on its own."""

from __future__ import annotations

import fnmatch
import re
from array import array

from ..analysis.tree import S_DELETED, S_IMPLIED, S_UNCHANGED, Cancelled, FileTree

CHECK_EVERY = 0x3FFF  # a long change of the rows asks whether it is still wanted this often


def change_mask(t: FileTree):
    """1 for every node that is a change of the tree's layer or has one below it
    (a bytearray; for a lazy tree an object indexed the same way, see lazytree)."""
    if getattr(t, "lazy", False):
        return t.change_mask()
    n = len(t)
    mask = bytearray(n)
    status, parent = t.status, t.parent
    for node in range(1, n):
        s = status[node]
        if s != S_UNCHANGED and s != S_IMPLIED:
            p = node
            while p >= 0 and not mask[p]:
                mask[p] = 1
                p = parent[p]
    return mask


def compile_filter(text: str):
    """A predicate on (name, path) from what the user typed.

    `re:EXPR` or `/EXPR/` is a regular expression searched in the full path;
    anything else is a glob: matched against the name, or against the full
    path when it contains a `/` (a glob without wildcards matches as a
    substring).  Case-insensitive unless the text has capitals.  Raises
    ValueError with a readable message for a bad regex."""
    text = text.strip()
    if not text:
        return None
    flags = 0 if any(c.isupper() for c in text) else re.IGNORECASE
    if text.startswith("re:") or (len(text) > 2 and text.startswith("/") and text.endswith("/")):
        expr = text[3:] if text.startswith("re:") else text[1:-1]
        try:
            rx = re.compile(expr, flags)
        except re.error as e:
            raise ValueError(f"bad regular expression: {e}") from None
        return lambda name, path: rx.search(path) is not None
    pat = text
    if not any(c in pat for c in "*?["):
        pat = f"*{pat}*"
    rx = re.compile(fnmatch.translate(pat), flags)
    if "/" in text:
        if not pat.startswith("/") and not pat.startswith("*"):
            rx = re.compile(fnmatch.translate("*/" + pat), flags)
        return lambda name, path: rx.match(path) is not None
    return lambda name, path: rx.match(name) is not None


def shown_mask(t: FileTree, changed: bytearray | None, pred) -> tuple[bytearray | None, int | None, int]:
    """Which nodes a tree view shows: only the changed ones (`changed`, or
    None for all) narrowed by the filter `pred` (or None).  Returns
    (mask or None for all, filter matches or None, how many are shown)."""
    keep = changed
    matches = None
    if pred is not None:
        fm, matches = filter_mask(t, pred)
        if keep is not None:
            fm = bytearray(x & keep[i] for i, x in enumerate(fm))
        keep = fm
    if keep is None:
        return None, matches, len(t)
    return keep, matches, (sum(keep) if isinstance(keep, (bytes, bytearray)) else keep.total())


def filter_mask(t: FileTree, pred) -> tuple[bytearray, int]:
    """Nodes matching `pred(name, path)` and their ancestors; (mask, matches).
    A matching directory keeps its whole subtree."""
    if getattr(t, "lazy", False):
        t.load_all()  # every path is tested: materialise them (parents before children)
    n = len(t.names)
    mask = bytearray(n)
    names, parent = t.names, t.parent
    paths = [""] * n
    hit = bytearray(n)
    matches = 0
    # parents are always created before children, so one forward pass works
    for node in range(1, n):
        p = parent[node]
        path = paths[p] + "/" + names[node]
        paths[node] = path
        if hit[p] or pred(names[node], path):
            if not hit[p]:
                matches += 1
            hit[node] = 1
            q = node
            while q >= 0 and not mask[q]:
                mask[q] = 1
                q = parent[q]
    return mask, matches


class TreeRows:
    """Flattened visible rows of a FileTree.  `cancelled`, when set (by a worker
    changing the rows), is asked now and then during a long change, which
    raises Cancelled when it says so."""

    cancelled = None

    def __init__(self, tree: FileTree, sort: str = "name", keep: bytearray | None = None,
                 expanded: set[int] | None = None):
        self.tree = tree
        self.sort = sort
        self.keep = keep
        self.expanded: set[int] = set(expanded or ())
        self.rows: list[int] = []
        self.depth = array("H")
        self.rebuild()

    def __len__(self) -> int:
        return len(self.rows)

    def copy(self) -> TreeRows:
        """The same rows over the same tree (for changing them in a worker)."""
        c = TreeRows.__new__(TreeRows)
        c.tree, c.sort, c.keep = self.tree, self.sort, self.keep
        c.expanded = set(self.expanded)
        c.rows = list(self.rows)
        c.depth = array("H", self.depth)
        return c

    def kids(self, node: int) -> list[int]:
        ks = self.tree.children(node, self.sort)
        keep = self.keep
        if keep is not None:
            return [c for c in ks if keep[c]]
        return ks

    def _flatten(self, node: int, depth: int, rows: list[int], depths: array) -> None:
        """Append the visible subtree under `node` (not node itself)."""
        stack = [(iter(self.kids(node)), depth)]
        expanded, is_dir = self.expanded, self.tree.is_dir
        cancelled = self.cancelled
        while stack:
            if cancelled is not None and not len(rows) & CHECK_EVERY and cancelled():
                raise Cancelled
            it, d = stack[-1]
            c = next(it, None)
            if c is None:
                stack.pop()
                continue
            rows.append(c)
            depths.append(d)
            if c in expanded and is_dir(c):
                stack.append((iter(self.kids(c)), d + 1))

    def rebuild(self) -> None:
        rows: list[int] = []
        depths = array("H")
        self._flatten(0, 0, rows, depths)
        self.rows, self.depth = rows, depths

    def set_sort(self, sort: str) -> None:
        self.sort = sort
        self.rebuild()

    def set_keep(self, keep: bytearray | None) -> None:
        self.keep = keep
        self.rebuild()

    def has_kids(self, node: int) -> bool:
        return self.tree.is_dir(node) and self.tree.has_children(node)

    def is_expanded(self, node: int) -> bool:
        return node in self.expanded

    def _end_of(self, row: int) -> int:
        """Index just past the visible subtree of `row`."""
        d = self.depth[row]
        j = row + 1
        depth = self.depth
        n = len(self.rows)
        while j < n and depth[j] > d:
            j += 1
        return j

    def expand(self, row: int) -> bool:
        node = self.rows[row]
        if node in self.expanded or not self.has_kids(node):
            return False
        self.expanded.add(node)
        rows: list[int] = []
        depths = array("H")
        self._flatten(node, self.depth[row] + 1, rows, depths)
        self.rows[row + 1:row + 1] = rows
        self.depth[row + 1:row + 1] = depths
        return True

    def collapse(self, row: int) -> bool:
        node = self.rows[row]
        if node not in self.expanded:
            return False
        self.expanded.discard(node)
        end = self._end_of(row)
        del self.rows[row + 1:end]
        del self.depth[row + 1:end]
        return True

    def toggle(self, row: int) -> bool:
        return self.collapse(row) or self.expand(row)

    def parent_row(self, row: int) -> int | None:
        d = self.depth[row]
        if d == 0:
            return None
        j = row - 1
        while j >= 0 and self.depth[j] >= d:
            j -= 1
        return j if j >= 0 else None

    def expand_all(self, under: int | None = None) -> None:
        t = self.tree
        if under is None:
            todo = [0]
        else:
            todo = [self.rows[under]]
        cancelled = self.cancelled
        k = 0
        while todo:
            k += 1
            if cancelled is not None and not k & CHECK_EVERY and cancelled():
                raise Cancelled
            n = todo.pop()
            if t.is_dir(n) and t.has_children(n):
                if n:
                    self.expanded.add(n)
                todo.extend(self.kids(n))
        self.rebuild()

    def collapse_all(self) -> None:
        self.expanded.clear()
        self.rebuild()

    def reveal(self, node: int) -> int | None:
        """Expand the ancestors of `node`; its row, or None if it is filtered out."""
        if self.keep is not None and not self.keep[node]:
            return None
        chain = []
        p = self.tree.parent[node]
        while p > 0:
            chain.append(p)
            p = self.tree.parent[p]
        changed = False
        for a in chain:
            if a not in self.expanded:
                self.expanded.add(a)
                changed = True
        if changed:
            self.rebuild()
        try:
            return self.rows.index(node)
        except ValueError:
            return None

    def reveal_path(self, path: str | None) -> int:
        """The row of `path`, or of its nearest ancestor the tree shows (its
        ancestors expanded); 0 when none is (e.g. after a layer change)."""
        p = path
        while p and p not in ("", "/"):
            n = self.tree.find(p)
            if n is not None:
                r = self.reveal(n)
                if r is not None:
                    return r
            p = p.rsplit("/", 1)[0]
        return 0

    def expanded_paths(self) -> set[str]:
        return {self.tree.path(n) for n in self.expanded}

    def is_ghost(self, node: int) -> bool:
        return self.tree.status[node] == S_DELETED
