#!/usr/bin/env python3
"""What the findings (report's "why is it big") cost on top of the analysis.

    python bench/findings_cost.py [--runs 5] [--out-dir bench/images] [ARCHIVE ...]

Without ARCHIVE, writes (once) and measures two generated docker-archives of
about 200,000 entries (uncompressed layers, real bytes):

  findings-mix   a 130,000-file rootfs; 20,000 files copied up by a chmod,
                 20,000 rewritten, 20,000 deleted (directory whiteouts),
                 10,000 copied again unchanged; then a build step leaving a
                 pip cache, apt lists, a .git directory and /tmp files
                 (5,000 each) and 20 identical 1 MiB files
  findings-tmp   a 100,000-file rootfs and one step leaving 100,000 files in /tmp
                 (every one of them a finding: the costly case)

In one process, with the cache off: open and index once, then per run a
fresh analyse() and its findings(), each timed; prints the medians and
the best runs.

    python bench/findings_cost.py --report [--runs 5] [--code CHECKOUT] ARCHIVE ...

What findings, the byte ledger and the what-ifs add to `report --json`,
end to end in this process: per run, open, index, analyse and the package
analysis (report --json lists the packages: bench/packages_cost.py times
that), then findings, ledger and what-ifs (each timed), then the document
and its JSON text (the text of those three keys timed apart).  Twice per archive: first open
(cache off: every layer indexed) and second open (a warm cache in a
temporary directory: the index and the merge come from it).  Prints the
medians and the share the three add to the rest.  --code: the checkout
whose layerscope is timed (default: this one).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CODE = [HERE.parent]  # the checkout timed (--code)
PYCACHE = os.path.join(os.environ.get("TMPDIR", "/tmp"), "layerscope-bench-pycache")
os.environ["LAYERSCOPE_CACHE"] = "off"


def _data(k: int, j: int, version: int = 0) -> bytes:
    return b"%d:%d:%d\n" % (version, k, j) * (1 + (k * 1000 + j) % 12)


def _rootfs(dirs: int):
    from layerscope.testing.synth import F, LayerSpec

    ents = [F("usr", "dir"), F("usr/lib", "dir")]
    for k in range(dirs):
        ents.append(F(f"usr/lib/p{k}", "dir"))
        ents += [F(f"usr/lib/p{k}/f{j}", data=_data(k, j)) for j in range(1000)]
    return LayerSpec(ents, "ADD rootfs.tar /")


def mix():
    from layerscope.testing.synth import F, ImageSpec, LayerSpec

    chmod = [F(f"usr/lib/p{k}/f{j}", data=_data(k, j), mode=0o664) for k in range(20) for j in range(1000)]
    upgrade = [F(f"usr/lib/p{k}/f{j}", data=_data(k, j, 1)) for k in range(20, 40) for j in range(1000)]
    cleanup = [F(f"usr/lib/p{k}", "whiteout") for k in range(40, 60)]
    cleanup += [F(f"usr/lib/p{k}/f{j}", data=_data(k, j)) for k in range(60, 70) for j in range(1000)]
    build = [F(f"root/.cache/pip/http/h{j}", data=_data(-1, j)) for j in range(5000)]
    build += [F(f"var/lib/apt/lists/l{j}", data=_data(-2, j)) for j in range(5000)]
    build += [F(f"app/.git/objects/o{j}", data=_data(-3, j)) for j in range(5000)]
    build += [F(f"tmp/t{j}", data=_data(-4, j)) for j in range(5000)]
    blob = os.urandom(1 << 20)
    build += [F(f"opt/copy{j}.bin", data=blob) for j in range(20)]
    return ImageSpec([_rootfs(130), LayerSpec(chmod, "RUN chmod -R g+w /usr/lib"), LayerSpec(upgrade, "RUN upgrade"),
                      LayerSpec(cleanup, "RUN rm -rf /usr/lib/p4* /usr/lib/p5* && reinstall"),
                      LayerSpec(build, "RUN build")], repo_tags=["findings:mix"])


def tmp():
    from layerscope.testing.synth import F, ImageSpec, LayerSpec

    return ImageSpec([_rootfs(100), LayerSpec([F(f"tmp/t{j}", data=_data(-4, j)) for j in range(100_000)], "RUN tmp")],
                     repo_tags=["findings:tmp"])


def measure(archive: str, runs: int) -> None:
    from layerscope.analysis import analyse
    from layerscope.formats.source import open_graph
    from layerscope.layers.indexing import index_layers

    graph = open_graph([archive])
    image = graph.pick()
    index_layers(graph, layers=image.layers, use_cache=False)
    ta, tf = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        a = analyse(graph, image)
        t1 = time.perf_counter()
        found = a.findings()
        t2 = time.perf_counter()
        ta.append(t1 - t0)
        tf.append(t2 - t1)
    entries = sum(len(l.entries) for l in image.layers)
    ma, mf = statistics.median(ta), statistics.median(tf)
    print(f"{Path(archive).name}: {entries:,} entries, {len(found)} findings over "
          f"{sum(len(f.paths) for f in found):,} paths; analyse {ma:.3f} s (best {min(ta):.3f}), findings "
          f"{mf:.3f} s (best {min(tf):.3f}), {mf / ma * 100:.0f} % of analyse; medians of {runs}")


def report_run(archive: str, cache: bool) -> tuple[float, float]:
    """(seconds of report --json without findings, ledger and what-ifs, seconds they add)."""
    from layerscope.analysis import analyse
    from layerscope.formats.source import open_graph
    from layerscope.layers.indexing import index_layers
    from layerscope.views.jsondoc import dumps, report_doc
    from layerscope.views.pkgdoc import summary_doc

    t0 = time.perf_counter()
    graph = open_graph([archive])
    image = graph.pick()
    index_layers(graph, layers=image.layers, use_cache=cache)
    a = analyse(graph, image)
    a.packages()  # the report's "packages" needs it whether or not it has findings
    t1 = time.perf_counter()
    a.findings()
    a.ledger()
    a.what_ifs()
    t2 = time.perf_counter()
    doc = report_doc(graph, a, 100)
    doc["packages"] = summary_doc(a, 10)
    text = dumps(doc)
    t4 = time.perf_counter()
    extra = {k: doc.pop(k) for k in ("findings", "ledger", "what_if")}
    t5 = time.perf_counter()
    dumps(extra)
    t6 = time.perf_counter()
    assert text
    added = (t2 - t1) + (t6 - t5)
    return (t4 - t0) - added, added


def process_time(archive: str, cache_dir: str) -> float:
    """Wall seconds of one `layerscope report --json` process (start-up and imports included)."""
    import subprocess

    # compiled modules kept (PYTHONPYCACHEPREFIX), as an installed package has them: not a compile per run
    env = {**os.environ, "LAYERSCOPE_CACHE": cache_dir, "PYTHONPATH": str(CODE[0]),
           "PYTHONPYCACHEPREFIX": os.path.join(PYCACHE, CODE[0].name)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "layerscope", "report", "--json", archive], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def measure_report(archive: str, runs: int) -> None:
    import tempfile

    for label, cache in (("first open", False), ("second open", True)):
        with tempfile.TemporaryDirectory() as d:
            os.environ["LAYERSCOPE_CACHE"] = d if cache else "off"
            if cache:
                report_run(archive, True)  # fills the cache
            base, added, wall = [], [], []
            for _ in range(runs):
                b, x = report_run(archive, cache)
                base.append(b)
                added.append(x)
                wall.append(process_time(archive, d if cache else "off"))
        os.environ["LAYERSCOPE_CACHE"] = "off"
        mb, mx, mw = statistics.median(base), statistics.median(added), statistics.median(wall)
        print(f"{Path(archive).name} ({label}): in process {mb + mx:.3f} s, of which findings + ledger + "
              f"what-ifs {mx:.3f} s = {mx / mb * 100:.1f} % over the rest ({mb:.3f} s); the report --json process "
              f"{mw:.3f} s: they add {mx / (mw - mx) * 100:.1f} %; medians of {runs} "
              f"(added: best {min(added):.3f}, worst {max(added):.3f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("archives", nargs="*")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out-dir", default=str(HERE / "images"))
    ap.add_argument("--report", action="store_true",
                    help="what findings, ledger and what-ifs add to report --json, end to end")
    ap.add_argument("--code", type=Path, default=HERE.parent, help="the checkout whose layerscope is timed")
    args = ap.parse_args()
    CODE[0] = args.code.resolve()
    sys.path.insert(0, str(CODE[0]))
    if args.report:
        for a in args.archives:
            measure_report(a, args.runs)
        return
    archives = args.archives
    if not archives:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name, spec in (("findings-mix", mix), ("findings-tmp", tmp)):
            p = out / f"{name}.docker.tar"
            if not p.exists():
                from layerscope.testing.synth import write_archive

                write_archive(str(p), [spec()], "docker-legacy")
            archives.append(str(p))
    for a in archives:
        measure(a, args.runs)


if __name__ == "__main__":
    main()
