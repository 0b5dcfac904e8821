#!/usr/bin/env python3
"""Time opening an image straight from a registry against pulling it first.

    python bench/registry_timing.py [--runs 3] [--only NAME ...] [--no-dive] [--timeout 600]

Starts Debian's `docker-registry` (the CNCF distribution server) on 127.0.0.1 with its
storage in a temporary directory, pushes each OCI archive of bench/images/ (base, classic,
bloated: `bench/build_images.sh`) to it with `skopeo copy`, as it is (gzip layers) and
recompressed as zstd:chunked, then for each image, --runs times, alternating:

  explorer       the explorer headless (bench/app_timing.py's child, a fresh process) on
                 127.0.0.1:PORT/bench/NAME:1 with an empty cache: "first screen" is process
                 start -> the layer list on screen; "full" is process start -> the analysis
                 complete (every layer downloaded, indexed, merged);
  explorer, 2nd  the same with the cache the first run filled (only manifests are fetched);
  report         `layerscope report --json REF` with an empty cache (the CLI's full analysis);
  report, TOC    the same on the zstd:chunked copy: layers listed from their tables of
                 contents with Range requests (the bytes the registry sent are counted from
                 its access log);
  skopeo + dive  `skopeo copy docker://REF docker-archive:X` then
                 `CI=true dive --source docker-archive X --ci`: what dive needs to show an
                 image of a registry without a docker engine.  dive shows its first screen
                 only once it has analysed the whole image, so its first screen and full
                 analysis are the same moment.

Medians; prints a table and writes bench/out/registry_timing.json.  Everything is on
loopback: network time is not in these figures, only what each tool does with the bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
IMAGES = HERE / "images"
OUT = HERE / "out"
sys.path.insert(0, str(HERE))

import app_timing  # noqa: E402  (the explorer's headless child)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, root: Path) -> None:
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log_path = root / "access.log"
        cfg = root / "config.yml"
        cfg.write_text("\n".join([
            "version: 0.1", "log:", "  level: warn", "  accesslog:", "    disabled: false",
            "storage:", "  filesystem:", f"    rootdirectory: {root / 'data'}",
            "http:", f"  addr: {self.host}", "  secret: bench-only", ""]))
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([shutil.which("docker-registry"), "serve", str(cfg)], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start")

    def blob_bytes(self) -> int:
        """Bytes of blob bodies sent so far (GET, 200 or 206)."""
        self.log.flush()
        total = 0
        for line in self.log_path.read_text(errors="replace").splitlines():
            m = re.search(r'"GET (\S+/blobs/\S+) HTTP/[\d.]+" (200|206) (\d+)', line)
            if m:
                total += int(m.group(3))
        return total

    def push(self, archive: Path, ref: str, compress: str | None = None) -> None:
        args = ["skopeo", "copy", "--quiet", "--insecure-policy", "--dest-tls-verify=false"]
        if compress:
            args += ["--dest-compress-format", compress]
        subprocess.run([*args, f"oci-archive:{archive}", f"docker://{self.host}/{ref}"], check=True, timeout=3600)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


def _timed(args: list[str], env: dict | None = None, timeout: float = 600) -> float | None:
    t = time.perf_counter()
    try:
        r = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode not in (0, 1):  # dive --ci exits 1 when a rule fails
        raise RuntimeError(f"{args[0]} failed ({r.returncode}): {r.stderr.decode(errors='replace')[-500:]}")
    return time.perf_counter() - t


def _layerscope() -> list[str]:
    return [sys.executable, "-m", "layerscope"]


def run_image(reg: Registry, toc_reg: Registry, name: str, runs: int, dive: bool, timeout: float, tmp: Path) -> dict:
    ref = f"{reg.host}/bench/{name}:1"
    toc_ref = f"{toc_reg.host}/bench/{name}-zstd-chunked:1"
    env = dict(os.environ)
    res: dict[str, list] = {k: [] for k in ("first_screen", "full", "first_screen_2nd", "full_2nd", "report",
                                             "report_toc", "toc_bytes", "skopeo", "dive", "skopeo_dive")}
    for k in range(runs):
        cache = tmp / f"cache-{name}-{k}"
        r1 = app_timing.run_child(ref, cache, timeout, False)
        r2 = app_timing.run_child(ref, cache, timeout, False)
        if r1.get("error") or r2.get("error"):
            raise RuntimeError(f"explorer: {r1.get('error') or r2.get('error')} {r1.get('stderr', '')[-500:]}")
        res["first_screen"].append(r1["first_screen_s"])
        res["full"].append(r1["indexed_s"])
        res["first_screen_2nd"].append(r2["first_screen_s"])
        res["full_2nd"].append(r2["indexed_s"])
        shutil.rmtree(cache, ignore_errors=True)
        res["report"].append(_timed([*_layerscope(), "report", "--json", ref],
                                    dict(env, LAYERSCOPE_CACHE=str(cache)), timeout))
        shutil.rmtree(cache, ignore_errors=True)
        before = toc_reg.blob_bytes()
        res["report_toc"].append(_timed([*_layerscope(), "report", "--json", toc_ref],
                                        dict(env, LAYERSCOPE_CACHE=str(cache)), timeout))
        res["toc_bytes"].append(toc_reg.blob_bytes() - before)
        shutil.rmtree(cache, ignore_errors=True)
        if dive:
            archive = tmp / f"{name}.docker.tar"
            archive.unlink(missing_ok=True)
            s = _timed(["skopeo", "copy", "--quiet", "--insecure-policy", "--src-tls-verify=false",
                        f"docker://{ref}", f"docker-archive:{archive}:bench/{name}:1"], timeout=timeout)
            d = _timed(["dive", "--source", "docker-archive", str(archive), "--ci"], dict(os.environ, CI="true"),
                       timeout) if s is not None else None
            res["skopeo"].append(s)
            res["dive"].append(d)
            res["skopeo_dive"].append(None if s is None or d is None else s + d)
            archive.unlink(missing_ok=True)
    out = {}
    for key, values in list(res.items()):
        vals = [v for v in values if v is not None]
        out[key] = statistics.median(vals) if vals and len(vals) == len(values) else None
        out[key + "_runs"] = values
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--no-dive", action="store_true")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--images", type=Path, default=IMAGES, help="where the OCI archives are (default bench/images)")
    a = ap.parse_args()
    for tool in ("docker-registry", "skopeo") + (() if a.no_dive else ("dive",)):
        if not shutil.which(tool):
            print(f"{tool} is not installed", file=sys.stderr)
            return 2
    names = a.only or [p.name[:-len(".oci.tar")] for p in sorted(a.images.glob("*.oci.tar"))]
    OUT.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="lsbench-registry-"))
    (tmp / "gzip").mkdir()
    (tmp / "toc").mkdir()
    reg = Registry(tmp / "gzip")
    # a registry of its own: skopeo would otherwise mount the gzip blob it already pushed instead of recompressing
    toc_reg = Registry(tmp / "toc")
    results = {}
    try:
        for name in names:
            archive = a.images / f"{name}.oci.tar"
            reg.push(archive, f"bench/{name}:1")
            toc_reg.push(archive, f"bench/{name}-zstd-chunked:1", compress="zstd:chunked")
            man = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{toc_reg.host}/bench/"
                                  f"{name}-zstd-chunked:1"], capture_output=True, text=True, check=True).stdout
            layer_bytes = sum(l["size"] for l in json.loads(man)["layers"])
            r = run_image(reg, toc_reg, name, a.runs, not a.no_dive, a.timeout, tmp)
            r["toc_layer_bytes"] = layer_bytes
            results[name] = r
            _print_row(name, r)
    finally:
        reg.stop()
        toc_reg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    (OUT / "registry_timing.json").write_text(json.dumps(results, indent=1))
    return 0


def _print_row(name: str, r: dict) -> None:
    def f(x):
        return "–" if x is None else f"{x:.2f}"

    share = (f"{100 * r['toc_bytes'] / r['toc_layer_bytes']:.2f} %" if r.get("toc_bytes") is not None
             and r.get("toc_layer_bytes") else "–")
    print(f"{name}: explorer first screen {f(r['first_screen'])} s, full {f(r['full'])} s; 2nd open "
          f"{f(r['first_screen_2nd'])} / {f(r['full_2nd'])} s; report {f(r['report'])} s; zstd:chunked report "
          f"{f(r['report_toc'])} s ({share} of layer bytes); skopeo {f(r['skopeo'])} + dive {f(r['dive'])} = "
          f"{f(r['skopeo_dive'])} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
