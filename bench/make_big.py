#!/usr/bin/env python3
"""Generate the benchmark's big image: 500,000 tar entries over 10 layers.

    python bench/make_big.py [--out bench/images/big.docker.tar] [--entries 500000] [--no-oci]

Writes a docker-archive (`docker save` layout, plain layer tars) and, unless
--no-oci, the same image as an oci-archive with gzip layers (NAME.oci.tar next
to it).  Uses layerscope.testing.synth, so the archives are deterministic.

The layers, as a build would leave them (every file is 0-200 bytes):

  0  ADD rootfs          a tree of 400 packages x 5 modules x 60 files, a directory of
                         50,000 entries (usr/share/wide), 2,000 files in etc/conf.d
  1  RUN install tools   200 tool dirs x 200 files, 2,000 symlinks, 1,000 hardlinks
  2  RUN upgrade         30,000 files of layer 0 overwritten with new content
  3  RUN chmod -R g+w    30,000 files of layer 0 copied up with only the mode changed
  4  RUN rm -rf ...      80 package dirs deleted (dir whiteouts), 10,000 file whiteouts,
                         5,000 tool files deleted
  5  RUN make cache      60,000 files in var/cache/gen
  6  RUN rebuild cache   var/cache/gen made opaque (emptied) with 1,000 new files;
                         10,000 files of the wide directory overwritten
  7  RUN build           60,000 new files in home/build, 10,000 tool files overwritten
  8  RUN chmod 600 wide  the 50,000 files of usr/share/wide copied up, mode only
  9  RUN cleanup         home/build/src deleted (one whiteout), 5,000 overwrites, and new
                         files in usr/local/share/extra to reach exactly --entries
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

try:
    from layerscope.testing.synth import EmptyStep, F, ImageSpec, LayerSpec, write_archive
except ImportError as e:  # pragma: no cover
    sys.exit(f"make_big.py needs layerscope.testing.synth ({e}); run from the layerscope checkout")

N_PKG, N_MOD, N_FILE = 400, 5, 60
N_WIDE = 50_000


def content(path: str, version: int = 0) -> bytes:
    """Deterministic small content (0-200 bytes) for a path at a version."""
    size = zlib.crc32(b"%d:%s" % (version, path.encode())) % 201
    line = b"v%d %s\n" % (version, path.encode())
    return (line * (size // len(line) + 1))[:size]


class Layer:
    """Collects a layer's entries, emitting each parent directory once, first."""

    def __init__(self, created_by: str) -> None:
        self.created_by = created_by
        self.entries: list[F] = []
        self.dirs: set[str] = set()

    def _parents(self, path: str) -> None:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                self.entries.append(F(d, "dir"))

    def dir(self, path: str, mode: int | None = None) -> None:
        self._parents(path)
        if path not in self.dirs:
            self.dirs.add(path)
            self.entries.append(F(path, "dir", mode=mode))

    def file(self, path: str, version: int = 0, mode: int | None = None) -> None:
        self._parents(path)
        self.entries.append(F(path, data=content(path, version), mode=mode))

    def add(self, f: F) -> None:
        self._parents(f.path)
        self.entries.append(f)

    def spec(self) -> LayerSpec:
        return LayerSpec(self.entries, created_by=self.created_by)


def pkg_file(p: int, m: int, f: int) -> str:
    return f"usr/lib/big/p{p:03d}/m{m}/f{f:02d}.py"


def wide_file(i: int) -> str:
    return f"usr/share/wide/item-{i:05d}.txt"


def tool_file(t: int, f: int) -> str:
    return f"opt/tools/t{t:03d}/bin{f:03d}"


def build_layers(total: int) -> list[Layer]:
    layers: list[Layer] = []

    l0 = Layer("ADD rootfs.tar / # generated tree")
    for d in ("bin", "etc", "tmp", "usr", "var"):
        l0.dir(d, mode=0o1777 if d == "tmp" else None)
    for p in range(N_PKG):
        for m in range(N_MOD):
            l0.dir(f"usr/lib/big/p{p:03d}/m{m}")
            for f in range(N_FILE):
                l0.file(pkg_file(p, m, f))
    l0.dir("usr/share/wide")
    for i in range(N_WIDE):
        l0.file(wide_file(i))
    for i in range(2_000):
        l0.file(f"etc/conf.d/{i:04d}.conf")
    layers.append(l0)

    l1 = Layer("RUN /bin/sh -c install-tools")
    for t in range(200):
        l1.dir(f"opt/tools/t{t:03d}")
        for f in range(200):
            l1.file(tool_file(t, f))
    for i in range(2_000):
        l1.add(F(f"usr/local/bin/tool-{i:04d}", "symlink", link="/" + tool_file(i % 200, i // 200)))
    for i in range(1_000):
        l1.add(F(f"opt/tools/links/hl-{i:04d}", "hardlink", link=tool_file(i % 200, 199 - i // 200)))
    layers.append(l1)

    l2 = Layer("RUN /bin/sh -c upgrade-packages")
    for k in range(30_000):  # every 4th file of every package
        i = k * 4
        p, rest = divmod(i, N_MOD * N_FILE)
        m, f = divmod(rest, N_FILE)
        l2.file(pkg_file(p, m, f), version=1)
    layers.append(l2)

    l3 = Layer("RUN /bin/sh -c chmod -R g+w /usr/lib/big/p3* /usr/lib/big/p2*")
    for p in range(300, 400):  # packages 300-399: 100 x 300 files, content of layer 0
        for m in range(N_MOD):
            l3.dir(f"usr/lib/big/p{p:03d}/m{m}", mode=0o775)
            for f in range(N_FILE):
                i = (p * N_MOD + m) * N_FILE + f
                v = 1 if i % 4 == 0 else 0  # as layer 2 left it
                l3.add(F(pkg_file(p, m, f), data=content(pkg_file(p, m, f), v), mode=0o664))
    layers.append(l3)

    l4 = Layer("RUN /bin/sh -c rm -rf /usr/lib/big/p1[0-7]* && rm -f ...")
    for p in range(100, 180):  # 80 whole packages
        l4.add(F(f"usr/lib/big/p{p:03d}", "whiteout"))
    for k in range(10_000):  # every 2nd file of packages 200-266
        i = 200 * N_MOD * N_FILE + k * 2
        p, rest = divmod(i, N_MOD * N_FILE)
        m, f = divmod(rest, N_FILE)
        l4.add(F(pkg_file(p, m, f), "whiteout"))
    for k in range(5_000):
        l4.add(F(tool_file(k // 25, k % 25), "whiteout"))
    layers.append(l4)

    l5 = Layer("RUN /bin/sh -c make-cache")
    for c in range(300):
        l5.dir(f"var/cache/gen/c{c:03d}")
        for f in range(200):
            l5.file(f"var/cache/gen/c{c:03d}/obj{f:03d}.o")
    layers.append(l5)

    l6 = Layer("RUN /bin/sh -c rm -rf /var/cache/gen && mkdir /var/cache/gen && rebuild")
    l6.dir("var/cache/gen")
    l6.add(F("var/cache/gen", "opaque"))
    for f in range(1_000):
        l6.file(f"var/cache/gen/new{f:04d}.o", version=6)
    for i in range(0, N_WIDE, 5):
        l6.file(wide_file(i), version=6)
    layers.append(l6)

    l7 = Layer("RUN /bin/sh -c build")
    for d in range(300):
        l7.dir(f"home/build/src/d{d:03d}")
        for f in range(200):
            l7.file(f"home/build/src/d{d:03d}/unit{f:03d}.c", version=7)
    for k in range(10_000):
        t, f = 40 + k // 200, k % 200
        l7.file(tool_file(t, f), version=7)
    layers.append(l7)

    l8 = Layer("RUN /bin/sh -c chmod 600 /usr/share/wide/*")
    l8.dir("usr/share/wide")
    for i in range(N_WIDE):
        v = 6 if i % 5 == 0 else 0
        l8.add(F(wide_file(i), data=content(wide_file(i), v), mode=0o600))
    layers.append(l8)

    l9 = Layer("RUN /bin/sh -c rm -rf /home/build/src && update-extra")
    l9.add(F("home/build/src", "whiteout"))
    for k in range(5_000):
        l9.file(f"etc/conf.d/{k:04d}.conf", version=9)
    before = sum(len(layer.entries) for layer in layers)
    if before + len(l9.entries) > total:
        sys.exit(f"--entries {total} is below the fixed part ({before + len(l9.entries)})")
    k = 0
    while before + len(l9.entries) < total:  # new files, 1,000 per directory
        d, f = divmod(k, 1_000)
        l9.file(f"usr/local/share/extra/x{d:03d}/e{f:03d}", version=9)
        k += 1
    while before + len(l9.entries) > total:  # a new parent dir may overshoot by one or two
        l9.entries.pop()
    layers.append(l9)
    return layers


def save(img, specs, out: Path, counts: list[int], t0: float, t1: float, docker: bool = True, oci: bool = True,
         **extra) -> None:
    """Write the image as OUT (docker-save, uncompressed) and beside it as
    NAME.oci.tar (gzip layers), each atomically, then NAME.counts.json: its
    entries, `extra` and how long each step took (specs made from t0 to t1)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    if docker:
        tmp = out.with_name(out.name + ".tmp")
        write_archive(str(tmp), [img], layout="docker-legacy")
        os.replace(tmp, out)
        written.append(str(out))
    t2 = time.perf_counter()
    if oci:
        for spec in specs:
            spec.compression = "gzip"
        path = out.with_name(out.name.replace(".docker.tar", "") + ".oci.tar") \
            if out.name.endswith(".docker.tar") else out.with_suffix(".oci.tar")
        tmp = path.with_name(path.name + ".tmp")
        write_archive(str(tmp), [img], layout="oci")
        os.replace(tmp, path)
        written.append(str(path))
    t3 = time.perf_counter()
    info = {"entries": sum(counts), "entries_per_layer": counts, **extra,
            "seconds": {"specs": round(t1 - t0, 2), "docker_archive": round(t2 - t1, 2),
                        "oci_archive": round(t3 - t2, 2)},
            "archives": {p: os.path.getsize(p) for p in written}}
    out.with_name(out.name.split(".")[0] + ".counts.json").write_text(json.dumps(info, indent=1) + "\n")
    print(json.dumps(info))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE / "images" / "big.docker.tar"))
    ap.add_argument("--entries", type=int, default=500_000)
    ap.add_argument("--no-oci", action="store_true", help="do not write the gzip oci-archive too")
    args = ap.parse_args()

    t0 = time.perf_counter()
    layers = build_layers(args.entries)
    counts = [len(layer.entries) for layer in layers]
    t1 = time.perf_counter()
    specs = [layer.spec() for layer in layers]
    steps: list = []
    for spec in specs:
        steps.append(spec)
        if spec is specs[0]:
            steps.append(EmptyStep('/bin/sh -c #(nop)  CMD ["bash"]'))
    img = ImageSpec(steps, repo_tags=["lsbench/big:latest"], cmd=["bash"])

    save(img, specs, Path(args.out), counts, t0, t1, oci=not args.no_oci)
    return 0


if __name__ == "__main__":
    sys.exit(main())
