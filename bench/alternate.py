#!/usr/bin/env python3
"""`layerscope report --json` of two source trees, run alternately on the same archives.

    python bench/alternate.py --tree /path/to/main --tree /path/to/branch [--rounds 3]
                              [--cache fresh|off] ARCHIVE ...

Each round runs every tree once per archive, in turn (tree A, tree B, tree A, ...), so that
a shared machine's load falls on both alike.  Each tree runs from its own directory
(`PYTHONPATH=TREE python -m layerscope`).  With `--cache fresh` (default) a run is a first
open into an empty cache directory, then a second open with that directory, as bench/run.py
measures them; with `--cache off` it is a first open with LAYERSCOPE_CACHE=off.  Wall time
and peak memory are bench/run.py's (the process tree's RSS, and its anonymous part).

Prints each run, the medians and whether the trees' JSON documents are byte-identical.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import run_cmd  # bench/ is no package: its directory is on the path above


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("archives", nargs="+")
    ap.add_argument("--tree", action="append", required=True, help="a source tree (repeat: two or more)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cache", choices=("fresh", "off"), default="fresh")
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="alternate-"))
    try:
        for archive in args.archives:
            print(f"== {Path(archive).name} (cache {args.cache})", flush=True)
            runs: dict[tuple[str, str], list] = {}
            for _ in range(args.rounds):
                for k, tree in enumerate(args.tree):
                    cache = tempfile.mkdtemp(prefix="cache-", dir=out) if args.cache == "fresh" else "off"
                    argv = [sys.executable, "-m", "layerscope", "report", "--json", archive]
                    env = {"PYTHONPATH": tree, "LAYERSCOPE_CACHE": cache}
                    opens = ["first", "second"] if args.cache == "fresh" else ["first"]
                    for which in opens:
                        r = run_cmd(argv, env=env, stdout_path=str(out / f"{k}-{which}.json"))
                        if r.rc != 0:
                            print(f"{tree}: exit {r.rc}: {r.tail}", file=sys.stderr)
                            return 1
                        runs.setdefault((tree, which), []).append(r)
                        print(f"  {tree} {which}: {r.wall:.2f} s, {r.peak_mb:.0f} MB (anon {r.tree_anon_mb:.0f})",
                              flush=True)
                    if cache != "off":
                        shutil.rmtree(cache, ignore_errors=True)
            for (tree, which), rs in runs.items():
                print(f"  {tree} {which}: median {statistics.median(r.wall for r in rs):.2f} s, "
                      f"peak {max(r.peak_mb for r in rs):.0f} MB (anon {max(r.tree_anon_mb for r in rs):.0f})")
            docs = sorted(out.glob("*.json"))
            same = all(filecmp.cmp(docs[0], d, shallow=False) for d in docs[1:])
            print(f"  documents byte-identical: {same}")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
