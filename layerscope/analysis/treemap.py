"""A size map of a merged view: each entry of a directory a rectangle whose
area is its bytes (squarified, so that rectangles stay close to square and
comparable by eye), coloured by the layer that stored most of its bytes;
the bytes lower layers hold but the view hides are counted apart.  Pure
computing over a FileTree and the stack: the explorer draws the result."""

from __future__ import annotations

from typing import NamedTuple

from ..model import FILE, HARDLINK
from .tree import S_DELETED, Cancelled

MAX_ITEMS = 80  # rectangles of one directory; the rest are one "smaller entries" rectangle
CELL_ASPECT = 2.0  # a terminal cell is about twice as high as it is wide


class Item(NamedTuple):
    node: int  # the tree node (-1: the smaller entries taken together)
    name: str
    size: int
    layer: int  # the layer that stored most of its bytes (-1: none, e.g. empty)
    is_dir: bool
    count: int  # entries it stands for (below a directory; the rest)


class Box(NamedTuple):
    item: Item
    x: int
    y: int
    w: int
    h: int


def squarify(values: list[float], x: float, y: float, w: float, h: float) -> list[tuple[float, float, float, float]]:
    """Rectangles (x, y, w, h) tiling the rectangle given, one per value
    (sorted biggest first, all > 0), areas in proportion to the values, rows
    chosen to keep the worst aspect ratio low (Bruls, Huizing, van Wijk)."""
    total = sum(values)
    if total <= 0 or w <= 0 or h <= 0:
        return []
    scale = w * h / total
    areas = [v * scale for v in values]
    out: list[tuple[float, float, float, float]] = []
    i = 0
    n = len(areas)
    while i < n:
        short = min(w, h)
        row = [areas[i]]
        i += 1
        s = row[0]
        while i < n and _worst(row + [areas[i]], s + areas[i], short) <= _worst(row, s, short):
            row.append(areas[i])
            s += areas[i]
            i += 1
        if w >= h:  # a column along the left edge
            cw = s / h
            yy = y
            for a in row:
                out.append((x, yy, cw, a / cw))
                yy += a / cw
            x += cw
            w -= cw
        else:  # a row along the top edge
            rh = s / w
            xx = x
            for a in row:
                out.append((xx, y, a / rh, rh))
                xx += a / rh
            y += rh
            h -= rh
    return out


def _worst(row: list[float], s: float, short: float) -> float:
    s2 = s * s
    sh2 = short * short
    return max(max(sh2 * r / s2, s2 / (sh2 * r)) for r in row)


def layout(items: list[Item], width: int, height: int) -> list[Box]:
    """Boxes in whole cells for `items` (biggest first) over width x height
    cells; an item too small for one cell is left out (the caller counts it)."""
    vals = [float(it.size) for it in items if it.size > 0]
    # laid out with cells as squares, then back to cells, so that boxes look square on screen
    rects = squarify(vals, 0.0, 0.0, float(width), height * CELL_ASPECT)
    out = []
    for it, (x, y, w, h) in zip([it for it in items if it.size > 0], rects):
        x0, x1 = round(x), round(x + w)
        y0, y1 = round(y / CELL_ASPECT), round((y + h) / CELL_ASPECT)
        x1, y1 = min(x1, width), min(y1, height)
        if x1 > x0 and y1 > y0:
            out.append(Box(it, x0, y0, x1 - x0, y1 - y0))
    return out


def dominant_layer(tree, node: int, cache: dict | None = None) -> int:
    """The layer that stored most of the bytes the view shows under `node`
    (a file: the layer of its copy); -1 when nothing is stored there."""
    if cache is not None and node in cache:
        return cache[node]
    if not tree.is_dir(node):
        got = tree.ref_layer[node] if tree.status[node] != S_DELETED else -1
    else:
        by: dict[int, int] = {}
        kids, status, sizes, ref_layer, dirflag = tree.kids, tree.status, tree.sizes, tree.ref_layer, tree.dirflag
        todo = list(kids[node] or ())
        while todo:
            n = todo.pop()
            if status[n] == S_DELETED:
                continue
            if dirflag[n]:
                k = kids[n]
                if k:
                    todo.extend(k)
            elif sizes[n]:
                L = ref_layer[n]
                by[L] = by.get(L, 0) + sizes[n]
        got = max(by, key=by.__getitem__) if by else -1
    if cache is not None:
        cache[node] = got
    return got


class LayerBytes:
    """Per directory of a stack index (analysis.lazytree.StackIndex), the bytes
    each layer stored that the merged view at N shows anywhere below it: what
    `dominant_layer` finds by walking a directory's subtree, for every
    directory at once, from the index's per-directory groups (thousands of
    them) instead of the view's entries (millions).  For a lazy merged tree,
    whose unopened directories have no nodes to walk."""

    def __init__(self, index, N: int, cancelled=None) -> None:
        from array import array

        from .lazytree import LOW, SHIFT

        nd = len(index.dir_path)
        self.index, self.N = index, N
        self.by_layer: list = []  # per layer l <= N: array of bytes per directory id
        for l in range(N + 1):
            if cancelled is not None and cancelled():
                raise Cancelled()
            col = array("q", [0]) * nd
            for key, v in index.groups[l].items():
                if (key & LOW) > N and v[0]:
                    col[key >> SHIFT] += v[0]
            if any(col):
                self.by_layer.append((l, col))
        dpar = index.dir_parent
        for _, col in self.by_layer:  # children have bigger ids than their parents
            if cancelled is not None and cancelled():
                raise Cancelled()
            for d in range(nd - 1, 0, -1):
                b = col[d]
                if b:
                    col[dpar[d]] += b

    def dominant(self, path: str) -> int:
        """The layer that stored most of the bytes shown below directory `path`
        (the lowest such layer on a tie), -1 when none."""
        d = self.index.dir_id.get(path)
        if d is None:
            return -1
        best, got = 0, -1
        for l, col in self.by_layer:
            if col[d] > best:
                best, got = col[d], l
        return got


def items_of(tree, node: int, cache: dict | None = None, limit: int = MAX_ITEMS,
             layer_bytes: LayerBytes | None = None) -> list[Item]:
    """The entries of directory `node` as map items, biggest first; past
    `limit`, the rest are one item (node -1) standing for all of them.  With
    `layer_bytes` (a lazy tree's), a directory's layer comes from it."""
    kids = [c for c in tree.children(node, "size") if tree.status[c] != S_DELETED]
    out = []
    for c in kids[:limit]:
        d = tree.is_dir(c)
        if d and layer_bytes is not None:
            layer = layer_bytes.dominant(tree.rel_path(c))
        else:
            layer = dominant_layer(tree, c, cache)
        out.append(Item(c, tree.name(c), tree.size(c), layer, d, tree.count(c) if d else 1))
    rest = kids[limit:]
    if rest:
        out.append(Item(-1, f"{len(rest):,} smaller entries", sum(tree.size(c) for c in rest), -1, False,
                        sum(tree.count(c) + 1 for c in rest)))
    return out


def hidden_files(stack, N: int) -> list[tuple[str, int]]:
    """(path, bytes) of every file copy in layers 0..N that the merged view at
    N hides (overwritten, deleted, under an opaque directory)."""
    out = []
    for L in range(min(N, stack.n - 1) + 1):
        e = stack.layers[L].entries
        ha, types, sizes, paths = stack.hidden_at[L], e.types, e.sizes, e.paths
        for i in range(len(paths)):
            if ha[i] <= N and sizes[i] and (types[i] == FILE or types[i] == HARDLINK):
                out.append((paths[i], sizes[i]))
    return out


def hidden_under(hidden: list[tuple[str, int]], path: str) -> tuple[int, int]:
    """(bytes, copies) of the hidden copies at or below `path` ("" or "/": everything)."""
    p = path.strip("/")
    if not p:
        return sum(s for _, s in hidden), len(hidden)
    pre = p + "/"
    got = [s for q, s in hidden if q == p or q.startswith(pre)]
    return sum(got), len(got)
