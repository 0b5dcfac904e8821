#!/usr/bin/env python3
"""What a seek index into a gzip layer costs and saves (layers/seekindex.py).

    python bench/gzip_seek.py [ARCHIVE] [--runs 3]

On the biggest gzip layer of ARCHIVE (default bench/images/bloated.oci.tar), medians of --runs:

  isal decode        the whole layer through ISA-L (what indexing does)
  zlib decode        the whole layer through the stdlib's zlib
  zlib + copy()      the same, with decompressobj().copy() every 4 MB of input: the only way
                     Python's zlib can checkpoint inflate state (in memory only; a copy
                     cannot be stored or resumed in another process)
  index build        indexed_gzip building its checkpoints over the whole layer (4 MB apart)
  deep read, cold    read 64 KiB at 90 % of the stream with no index (decode from the start)
  deep read, warm    the same with the index imported (its size in KB beside it)

and the compressed bytes each deep read took from the file.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tarfile
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from layerscope.layers.seekindex import READ_BUFFER, SPACING, BlobFile  # noqa: E402
from layerscope.model import BlobRef  # noqa: E402


def biggest_gzip_layer(archive: Path) -> BlobRef:
    with tarfile.open(archive) as t:
        best = None
        for m in t.getmembers():
            if m.isfile() and m.name.startswith("blobs/") and (best is None or m.size > best.size):
                with t.extractfile(m) as f:
                    if f.read(2) == b"\x1f\x8b":
                        best = m
        return BlobRef(str(archive), best.offset_data, best.size, best.name)


def median_time(fn, runs: int):
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("archive", nargs="?", type=Path, default=HERE / "images" / "bloated.oci.tar")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    ref = biggest_gzip_layer(a.archive)
    with open(ref.file, "rb") as f:
        f.seek(ref.offset)
        blob = f.read(ref.size)
    res: dict = {"layer": ref.name, "compressed_bytes": ref.size}

    def isal_all():
        from isal import isal_zlib

        d = isal_zlib.decompressobj(31)
        n = 0
        for i in range(0, len(blob), 1 << 20):
            n += len(d.decompress(blob[i:i + (1 << 20)]))
        return n

    def zlib_all(copy_every: int = 0):
        d = zlib.decompressobj(31)
        n = copies = 0
        last = 0
        kept = []
        for i in range(0, len(blob), 1 << 20):
            n += len(d.decompress(blob[i:i + (1 << 20)]))
            if copy_every and i - last >= copy_every:
                kept.append(d.copy())
                copies += 1
                last = i
        return n, copies

    res["isal_decode_s"], usize = median_time(isal_all, a.runs)
    res["uncompressed_bytes"] = usize
    res["zlib_decode_s"], _ = median_time(zlib_all, a.runs)
    res["zlib_copy_decode_s"], (_, res["copies"]) = median_time(lambda: zlib_all(SPACING), a.runs)

    from indexed_gzip import IndexedGzipFile

    def build():
        g = IndexedGzipFile(fileobj=BlobFile(ref), spacing=SPACING, readbuf_size=READ_BUFFER)
        g.build_full_index()
        out = io.BytesIO()
        g.export_index(fileobj=out)
        g.close()
        return out.getvalue()

    res["index_build_s"], index = median_time(build, a.runs)
    res["index_kb"] = len(index) // 1024
    target = int(usize * 0.9)

    def cold():
        from isal import isal_zlib

        d = isal_zlib.decompressobj(31)
        pos = 0
        for i in range(0, len(blob), 1 << 20):
            out = d.decompress(blob[i:i + (1 << 20)])
            if pos + len(out) > target:
                return i + (1 << 20)
            pos += len(out)
        return len(blob)

    res["deep_read_cold_s"], res["deep_read_cold_bytes"] = median_time(cold, a.runs)

    def warm():
        raw = BlobFile(ref)
        g = IndexedGzipFile(fileobj=raw, spacing=SPACING, readbuf_size=READ_BUFFER, buffer_size=READ_BUFFER)
        g.import_index(fileobj=io.BytesIO(index))
        g.seek(target)
        g.read(64 << 10)
        g.close()
        return raw.read_bytes

    res["deep_read_warm_s"], res["deep_read_warm_bytes"] = median_time(warm, a.runs)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
