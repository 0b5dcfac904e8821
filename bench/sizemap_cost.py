#!/usr/bin/env python3
"""What the explorer's size map (M) costs on an image, in its workers:

    python bench/sizemap_cost.py [ARCHIVE ...] [--runs 3] [--eager]

For each archive (analysed first, and the stack's index built, as the app
does after the analysis; both untimed but printed): the lazy merged view at
the top layer, the bytes each layer stored below every directory
(treemap.LayerBytes), the items of the root and the layout of its boxes at
160x46 cells -- what the map waits for before it shows its boxes -- then the
hidden copies of the layers (its strip, filled in after).  --eager also times
the eager merged tree and the root's items over it (what the map read before
it used the lazy view).  Best and median of the runs, in seconds."""

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
    from layerscope.analysis.lazytree import StackIndex, lazy_merged_tree
    from layerscope.analysis.tree import build_merged_tree
    from layerscope.analysis.treemap import LayerBytes, hidden_files, hidden_under, items_of, layout
    from layerscope.formats.source import open_graph
    from layerscope.layers.indexing import index_layers

    ap = argparse.ArgumentParser()
    ap.add_argument("archives", nargs="*")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--eager", action="store_true", help="also time the eager merged tree and its root's items")
    args = ap.parse_args()
    paths = args.archives or [str(p) for p in sorted((HERE / "images").glob("*.tar")) if p.name != "rootfs.tar"]
    cols = ["lazy tree", "layer bytes", "root items", "layout", "to boxes", "hidden"]
    if args.eager:
        cols += ["eager tree", "eager items"]
    print(f"{'archive':<22} {'entries':>9} {'index s':>8} " + " ".join(f"{c + ' s':>13}" for c in cols))
    for path in paths:
        g = open_graph([path])
        index_layers(g)
        im = g.images[0]
        a = analyse(g, im)
        t0 = time.perf_counter()
        ix = StackIndex(a.stack)
        t_index = time.perf_counter() - t0
        N = a.stack.n - 1
        times: dict[str, list[float]] = {c: [] for c in cols}
        for _ in range(args.runs):
            t0 = time.perf_counter()
            t = lazy_merged_tree(a.stack, a.kinds, N, ix)
            t1 = time.perf_counter()
            lb = LayerBytes(ix, N) if getattr(t, "lazy", False) else None
            t2 = time.perf_counter()
            items = items_of(t, 0, {}, layer_bytes=lb)
            t3 = time.perf_counter()
            layout(items, 160, 46)
            t4 = time.perf_counter()
            hidden = hidden_files(a.stack, N)
            hidden_under(hidden, "/")
            t5 = time.perf_counter()
            got = [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0, t5 - t4]
            if args.eager:
                e0 = time.perf_counter()
                et = build_merged_tree(a.stack, a.kinds, N)
                e1 = time.perf_counter()
                eitems = items_of(et, 0, {})
                e2 = time.perf_counter()
                got += [e1 - e0, e2 - e1]
                if [(i.name, i.size, i.layer) for i in eitems] != [(i.name, i.size, i.layer) for i in items]:
                    print(f"  {Path(path).name}: the lazy and eager root items differ", file=sys.stderr)
            for c, v in zip(cols, got):
                times[c].append(v)

        def f(xs):
            return f"{min(xs):.2f}, {statistics.median(xs):.2f}"

        entries = sum(len(layer.entries.paths) for layer in im.layers)
        print(f"{Path(path).name:<22} {entries:>9,} {t_index:>8.2f} " + " ".join(f"{f(times[c]):>13}" for c in cols),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
