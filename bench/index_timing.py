#!/usr/bin/env python3
"""Wall and CPU time of `index_layers` on a first open with the cache on (an empty cache
directory each run), the blobs hashed ahead on a thread against hashed in turn before
each look-up, run alternately.

    python bench/index_timing.py [--rounds 4] ARCHIVE ...

Each run is a process of its own (`PYTHONPATH` decides whose code), so no hash or mapping
is left from the run before.  CPU seconds are the process's and its pool's, user + system.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ONE_RUN = r"""
import json, os, sys, time
from layerscope.formats.source import open_graph
from layerscope.layers import cache
from layerscope.layers.indexing import index_layers
if sys.argv[2] == "in-turn":
    cache.AHEAD_MIN_BYTES = 1 << 62
t0, c0 = time.perf_counter(), os.times()
index_layers(open_graph([sys.argv[1]]))
t1, c1 = time.perf_counter(), os.times()
cpu = sum(getattr(c1, k) - getattr(c0, k) for k in ("user", "system", "children_user", "children_system"))
print(json.dumps({"wall": t1 - t0, "cpu": cpu}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("archives", nargs="+")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    for archive in args.archives:
        print(f"== {os.path.basename(archive)}", flush=True)
        got: dict[str, list[dict]] = {"in-turn": [], "ahead": []}
        for _ in range(args.rounds):
            for how in got:
                d = tempfile.mkdtemp(prefix="index-timing-")
                try:
                    out = subprocess.run([sys.executable, "-c", ONE_RUN, archive, how], capture_output=True,
                                         text=True, check=True, env=dict(os.environ, LAYERSCOPE_CACHE=d)).stdout
                finally:
                    shutil.rmtree(d, ignore_errors=True)
                got[how].append(json.loads(out))
                print(f"  {how}: {got[how][-1]['wall']:.2f} s wall, {got[how][-1]['cpu']:.2f} s CPU", flush=True)
        for how, rs in got.items():
            print(f"  {how}: median {statistics.median(r['wall'] for r in rs):.2f} s wall, "
                  f"{statistics.median(r['cpu'] for r in rs):.2f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
