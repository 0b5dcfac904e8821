#!/usr/bin/env python3
"""Generate a benchmark image that is big in bytes rather than in entries.

    python bench/make_bytes.py [--out bench/images/bytes10g.docker.tar] [--gb 10] [--layers 4]

A docker-archive (`docker save` layout, plain layer tars) of --layers layers
adding up to about --gb GB: each layer holds files of 100 MiB (zeros: the
content does not matter to either tool, both read past it) and 20,000 small
files.  Not part of the default set that bench/build_images.sh builds: it
answers "a 10 GB image opens quickly" (issue 5), and takes about a minute and
twice its size on disk while it is written.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIG_FILE = 100 << 20
SMALL_FILES = 20_000


class _Zeros(io.RawIOBase):
    """`n` zero bytes, as a file to read from."""

    def __init__(self, n: int):
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        k = min(len(b), self.left)
        b[:k] = bytes(k)
        self.left -= k
        return k


class _Hashing(io.RawIOBase):
    """A file to write to that also feeds SHA-256 (the layer's diff_id)."""

    def __init__(self, f):
        self.f = f
        self.h = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.h.update(b)
        return self.f.write(b)


def write_layer(path: Path, index: int, big_files: int) -> str:
    """One layer tar; returns its diff_id."""
    with open(path, "wb") as raw:
        sink = _Hashing(raw)
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as t:
            d = tarfile.TarInfo(f"data{index}")
            d.type, d.mode = tarfile.DIRTYPE, 0o755
            t.addfile(d)
            for i in range(big_files):
                ti = tarfile.TarInfo(f"data{index}/blob{i:03d}.bin")
                ti.size = BIG_FILE
                t.addfile(ti, io.BufferedReader(_Zeros(BIG_FILE), 1 << 20))
            for i in range(SMALL_FILES):
                body = b"x" * (i % 300)
                ti = tarfile.TarInfo(f"data{index}/small/{i // 1000:02d}/f{i}.txt")
                ti.size = len(body)
                t.addfile(ti, io.BytesIO(body))
        return "sha256:" + sink.h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE / "images" / "bytes10g.docker.tar"))
    ap.add_argument("--gb", type=float, default=10.0)
    ap.add_argument("--layers", type=int, default=4)
    args = ap.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    per_layer = max(1, int(args.gb * 1e9 / args.layers / BIG_FILE))
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        names, diff_ids = [], []
        for L in range(args.layers):
            name = f"layer{L}.tar"
            diff_ids.append(write_layer(Path(tmp) / name, L, per_layer))
            names.append(name)
        config = json.dumps({
            "architecture": "amd64", "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"COPY data{L} /data{L}"} for L in range(args.layers)],
        }).encode()
        manifest = json.dumps([{"Config": "config.json", "RepoTags": [f"lsbench/bytes:{args.gb:g}g"],
                                "Layers": names}]).encode()
        part = out.with_suffix(".tmp")
        with tarfile.open(part, "w") as t:
            for name, body in (("manifest.json", manifest), ("config.json", config)):
                ti = tarfile.TarInfo(name)
                ti.size = len(body)
                t.addfile(ti, io.BytesIO(body))
            for name in names:
                t.add(os.path.join(tmp, name), arcname=name)
                os.unlink(os.path.join(tmp, name))
        part.replace(out)
    print(json.dumps({"archive": str(out), "bytes": out.stat().st_size, "layers": args.layers,
                      "entries_per_layer": per_layer + SMALL_FILES + 1}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
