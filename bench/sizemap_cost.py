#!/usr/bin/env python3
"""What the explorer's size map (M) costs on an image, in its workers:

    python bench/sizemap_cost.py [ARCHIVE ...] [--runs 3]

For each archive (analysed first, untimed): the eager merged tree at the top
layer, the hidden copies of the layers, the items of the root (the colour of
each top-level directory walks everything below it) and the layout of the
root's boxes at 160x46 cells.  Best and median of the runs, in seconds."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def main() -> int:
    from layerscope.analysis import analyse
    from layerscope.analysis.tree import build_merged_tree
    from layerscope.analysis.treemap import hidden_files, hidden_under, items_of, layout
    from layerscope.formats.source import open_graph
    from layerscope.layers.indexing import index_layers

    ap = argparse.ArgumentParser()
    ap.add_argument("archives", nargs="*")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    paths = args.archives or [str(p) for p in sorted((HERE / "images").glob("*.tar")) if p.name != "rootfs.tar"]
    print(f"{'archive':<22} {'entries':>9} {'tree s':>12} {'hidden s':>12} {'root items s':>13} {'layout s':>10}")
    for path in paths:
        g = open_graph([path])
        index_layers(g)
        im = g.images[0]
        a = analyse(g, im)
        N = a.stack.n - 1
        times: dict[str, list[float]] = {"tree": [], "hidden": [], "items": [], "layout": []}
        for _ in range(args.runs):
            t0 = time.perf_counter()
            t = build_merged_tree(a.stack, a.kinds, N)
            t1 = time.perf_counter()
            hidden = hidden_files(a.stack, N)
            hidden_under(hidden, "/")
            t2 = time.perf_counter()
            items = items_of(t, 0, {})
            t3 = time.perf_counter()
            layout(items, 160, 46)
            t4 = time.perf_counter()
            for k, v in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                times[k].append(v)

        def f(xs):
            return f"{min(xs):.2f}, {statistics.median(xs):.2f}"

        entries = sum(len(layer.entries.paths) for layer in im.layers)
        print(f"{Path(path).name:<22} {entries:>9,} {f(times['tree']):>12} {f(times['hidden']):>12} "
              f"{f(times['items']):>13} {f(times['layout']):>10}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
