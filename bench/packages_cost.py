#!/usr/bin/env python3
"""What package analysis adds to `layerscope report`.

    python bench/packages_cost.py [--runs 7] [--cold] [--text] [--code CHECKOUT] [ARCHIVE ...]

Without ARCHIVE: the bench images (bench/images/{base,classic,bloated}.{docker,oci}.tar,
made by bench/build_images.sh).  Each run is a fresh `python -m layerscope report
--json ARCHIVE` (`report` with --text) as a user runs it, with the layer cache warm (its own directory, filled by
a first run) and compiled modules kept (PYTHONPYCACHEPREFIX, as an installed
package has them), timed from outside; runs without package analysis (the database
files are not looked for) alternate with runs with it, so a busy machine slows
both alike.  --cold: the cache off (every layer decoded and indexed again, the
package databases read from the layers).  --code: the checkout whose layerscope
is timed (default: this one), to time another branch with the same script.
Prints medians and best runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

WITHOUT = """
import sys
from layerscope.analysis import packages
from layerscope.layers import cache
cache.load_packages = lambda layers: None          # no cached analysis either
packages.PackageAnalysis._find = lambda self: []   # no database file: nothing read, nothing attributed
from layerscope.cli import run
sys.argv = ["layerscope", *sys.argv[1:]]
run()
"""
WITH = WITHOUT.replace("cache.load_packages = lambda layers: None", "pass").replace(
    "packages.PackageAnalysis._find = lambda self: []", "pass")


def _run(code: str, archive: str, env: dict, flags: tuple[str, ...]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one run; on a shared machine the CPU time
    moves less with the other jobs than the wall time does."""
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-c", code, "report", *flags, archive], stdout=subprocess.DEVNULL,
                         env=env, cwd=env["PYTHONPATH"])
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise SystemExit(f"report {archive} failed ({p.returncode})")
    return wall, ru.ru_utime + ru.ru_stime


def _line(name: str, without: list[float], with_: list[float]) -> str:
    a, b = statistics.median(without), statistics.median(with_)
    lo, hi = min(without), min(with_)
    return (f"{name} {a:.3f} s without packages (best {lo:.3f}), {b:.3f} s with (best {hi:.3f}): "
            f"{(b - a) / a * 100:+.1f} % (best runs {(hi - lo) / lo * 100:+.1f} %)")


def measure(archive: str, runs: int, cold: bool, text: bool = False, code: Path = ROOT) -> None:
    flags = () if text else ("--json",)
    with tempfile.TemporaryDirectory(prefix="ls-bench-cache-") as cache:
        # compiled modules kept (in the cache's directory), as an installed package has them
        env = dict(os.environ, PYTHONPATH=str(code), LAYERSCOPE_CACHE="off" if cold else cache,
                   PYTHONPYCACHEPREFIX=os.path.join(cache, "pycache"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        _run(WITH, archive, dict(env, LAYERSCOPE_CACHE="off") if not cold else env, flags)  # compiles every module
        if not cold:
            _run(WITH, archive, env, flags)  # fills the cache: indexes, stack, database contents
            _run(WITHOUT, archive, env, flags)
        without, with_ = [], []
        for _ in range(runs):
            without.append(_run(WITHOUT, archive, env, flags))
            with_.append(_run(WITH, archive, env, flags))
    name = Path(archive).name + (" (cold)" if cold else " (warm)") + (" report" if text else " report --json")
    print(f"{name}: medians of {runs}")
    print("  wall " + _line("", [w for w, _ in without], [w for w, _ in with_]))
    print("  CPU  " + _line("", [c for _, c in without], [c for _, c in with_]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("archives", nargs="*")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--text", action="store_true", help="time `report` (text) instead of `report --json`")
    ap.add_argument("--code", type=Path, default=ROOT, help="the checkout whose layerscope is timed")
    args = ap.parse_args()
    archives = args.archives or [str(HERE / "images" / f"{n}.{k}.tar") for n in ("base", "classic", "bloated")
                                 for k in ("docker", "oci")]
    for a in archives:
        if os.path.exists(a):
            measure(a, args.runs, args.cold, args.text, args.code.resolve())
        else:
            print(f"{a}: not built (bench/build_images.sh)")


if __name__ == "__main__":
    main()
