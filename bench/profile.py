#!/usr/bin/env python3
"""Profile `layerscope report --json` on benchmark archives with pyinstrument, in one process.

    pip install pyinstrument
    python bench/profile.py [ARCHIVE ...] [--workers 1] [--interval 0.001]

The CLI indexes layers in worker processes, which a profiler of the main process sees only
as waiting.  This runs the same steps as `cmd_report` (open, index, analyse, JSON document,
json.dump) in this process with --workers 1 (default) so that the indexing shows up, with
the cache off.  Each phase is also timed without the profiler (a first, unprofiled pass).

Writes bench/out/profile-NAME.txt (call tree) and .html, and prints the phase times.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ["LAYERSCOPE_CACHE"] = "off"


def phases(archive: str, workers: int) -> dict:
    from layerscope.analysis import analyse
    from layerscope.formats.source import open_graph
    from layerscope.layers.indexing import index_layers
    from layerscope.views.jsondoc import report_doc

    t = {}
    t0 = time.perf_counter()
    graph = open_graph([archive])
    image = graph.pick()
    t1 = time.perf_counter()
    index_layers(graph, layers=image.layers, use_cache=False, workers=workers)
    t2 = time.perf_counter()
    a = analyse(graph, image, None)
    t3 = time.perf_counter()
    doc = report_doc(graph, a, 100)
    t4 = time.perf_counter()
    json.dump(doc, io.StringIO(), ensure_ascii=True)
    t5 = time.perf_counter()
    t.update(open=t1 - t0, index=t2 - t1, analyse=t3 - t2, report_doc=t4 - t3, json_dump=t5 - t4,
             total=t5 - t0, entries=sum(len(l.entries) for l in image.layers))
    return t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("archives", nargs="*")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--interval", type=float, default=0.001)
    args = ap.parse_args()
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("pip install pyinstrument", file=sys.stderr)
        return 2
    paths = args.archives or [str(HERE / "images" / n) for n in ("big.docker.tar", "bloated.docker.tar",
                                                                  "bloated.oci.tar")]
    out = HERE / "out"
    out.mkdir(parents=True, exist_ok=True)
    for p in paths:
        name = Path(p).name.removesuffix(".tar")
        plain = phases(p, args.workers)  # unprofiled (also warms the page cache)
        prof = Profiler(interval=args.interval)
        prof.start()
        phases(p, args.workers)
        prof.stop()
        (out / f"profile-{name}.txt").write_text(prof.output_text(unicode=True, color=False, show_all=False))
        (out / f"profile-{name}.html").write_text(prof.output_html())
        print(f"{Path(p).name}: " + ", ".join(
            f"{k} {v:.2f} s" if isinstance(v, float) else f"{k} {v:,}" for k, v in plain.items()))
        print(f"  call tree: {out / f'profile-{name}.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
