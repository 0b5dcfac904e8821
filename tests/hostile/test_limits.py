"""Bounded memory and time for the big ones: huge and dense manifests,
10,000 layers, decompression bombs (read in full with a note, or cut short),
10,000 nested directories."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
import zlib

import pytest
import zstandard

from layerscope.formats.container import MAX_JSON
from layerscope.layers import compression
from layerscope.layers.tarwalk import TarIndexer
from tests.hostile._cases import case_docker_10000_layers, case_huge_manifest_sparse, case_oci_10000_layers
from tests.hostile._helpers import (
    assert_one_error,
    cli,
    config_for,
    docker_archive,
    measured,
    run_subprocess,
    sha,
    tar_of,
    ti_file,
)


def test_huge_manifest_refused_without_reading(tmp_path):
    path, _ = case_huge_manifest_sparse(tmp_path)
    r, rss, secs = measured("report", str(path))
    assert_one_error(r.returncode, r.stderr, "too large")
    assert secs < 30
    assert rss < 400, f"peak RSS {rss} MB"


def test_manifest_just_under_the_cap_bounded_memory(tmp_path):
    """The worst JSON for memory (millions of tiny objects) just under the
    size cap must not blow up memory: refused or read in bounded memory."""
    n = (MAX_JSON - 100) // 3
    body = b"[" + b"[]," * (n - 1) + b"[]]"
    assert len(body) < MAX_JSON
    p = docker_archive(tmp_path / "dense.tar", manifest=body)
    r, rss, secs = measured("report", p)
    assert_one_error(r.returncode, r.stderr, "manifest.json", "JSON values")
    assert rss < 600, f"peak RSS {rss} MB"
    assert secs < 120
    # and the densest document under the value cap is read in bounded memory
    from layerscope.formats.container import MAX_JSON_VALUES

    body = b"[" + b"[]," * (MAX_JSON_VALUES // 2 - 10) + b"[]]"  # each `[],` counts twice
    p = docker_archive(tmp_path / "dense2.tar", manifest=body)
    r, rss, secs = measured("report", p)
    assert_one_error(r.returncode, r.stderr, "manifest.json entry 0 is not an object")
    assert rss < 600, f"peak RSS {rss} MB"


def test_10000_layers_bounded(tmp_path):
    for case in (case_docker_10000_layers, case_oci_10000_layers):
        path, needles = case(tmp_path)
        r, rss, secs = measured("report", str(path))
        assert_one_error(r.returncode, r.stderr, *needles)
        assert secs < 60 and rss < 600


def _gzip_bomb(path, gb: int) -> int:
    """A gzip layer whose tar holds one file of `gb` GiB of zeros (members of
    1 GiB each, as deflate cannot do better than ~1032:1).  Returns its size."""
    size = gb << 30
    hdr = tarfile.TarInfo("zeros.img")
    hdr.size = size
    head = hdr.tobuf(tarfile.GNU_FORMAT)
    z16 = bytes(16 << 20)
    from isal import isal_zlib

    def member(prefix: bytes, n16: int, tail: bytes = b"") -> bytes:
        c = isal_zlib.compressobj(1, zlib.DEFLATED, 31)
        parts = [c.compress(prefix)] + [c.compress(z16) for _ in range(n16)] + [c.compress(tail), c.flush()]
        return b"".join(parts)

    one = member(b"", 64)
    with open(path, "wb") as f:
        f.write(member(head, 64))
        for _ in range(gb - 2):
            f.write(one)
        f.write(member(b"", 64, bytes(1024)))
    return os.path.getsize(path)


def _zstd_bomb(path, gb: int) -> int:
    hdr = tarfile.TarInfo("zeros.img")
    hdr.size = gb << 30
    z16 = bytes(16 << 20)

    def frame(prefix: bytes, tail: bytes = b"") -> bytes:
        c = zstandard.ZstdCompressor(level=1).compressobj()
        return b"".join([c.compress(prefix)] + [c.compress(z16) for _ in range(64)] + [c.compress(tail), c.flush()])

    one = frame(b"")
    with open(path, "wb") as f:
        f.write(frame(hdr.tobuf(tarfile.GNU_FORMAT)))
        for _ in range(gb - 2):
            f.write(one)
        f.write(frame(b"", bytes(1024)))
    return os.path.getsize(path)


def _bomb_archive(tmp_path, blob_file: str, media: str) -> str:
    """An OCI archive around a big blob file, without reading it into memory."""
    blob_hex = "f" * 64  # no --verify: the digest is not checked, and hashing 10 GB is not the point
    cfg = json.dumps(config_for(["sha256:" + "0" * 64])).encode()
    man = json.dumps({"schemaVersion": 2, "config": {"digest": sha(cfg), "size": len(cfg)},
                      "layers": [{"mediaType": media, "digest": "sha256:" + blob_hex,
                                  "size": os.path.getsize(blob_file)}]}).encode()
    idx = json.dumps({"manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                     "digest": sha(man), "size": len(man)}]}).encode()
    out = str(tmp_path / "bomb.tar")
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data in [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", idx),
                           ("blobs/sha256/" + sha(cfg)[7:], cfg), ("blobs/sha256/" + sha(man)[7:], man)]:
            ti, d = ti_file(name, data)
            t.addfile(ti, io.BytesIO(d))
        t.add(blob_file, "blobs/sha256/" + blob_hex)
    os.unlink(blob_file)
    return out


def test_gzip_bomb_10gb_bounded_with_note(tmp_path):
    """~10 MB of gzip expanding to 10 GiB of zeros inside one file entry.
    Deflate cannot exceed ~1032:1, so this is under BOMB_RATIO (1100): the
    layer is read in full (time bounded by the real data, a few seconds of
    decompression) in flat memory, and the report carries a note."""
    csize = _gzip_bomb(tmp_path / "blob", 10)
    assert csize < 12 << 20
    assert (10 << 30) < csize * compression.BOMB_RATIO  # not cut short: this is the "read it all" path
    p = _bomb_archive(tmp_path, str(tmp_path / "blob"), "application/vnd.oci.image.layer.v1.tar+gzip")
    r, rss, secs = measured("report", p, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "expands" in r.stdout and "decompression bomb" in r.stdout
    assert "10.7 GB" in r.stdout  # the entry's real size is shown
    assert rss < 400, f"peak RSS {rss} MB"
    assert secs < 300
    rj, _, _ = measured("report", "--json", p, timeout=600)
    doc = json.loads(rj.stdout)
    assert any("decompression bomb" in w for w in doc["layers"][0]["warnings"])


def test_zstd_bomb_cut_short_with_note(tmp_path):
    """zstd goes far beyond 1100:1 (10 GiB of zeros in ~330 kB): indexing
    stops at max(BOMB_FLOOR, size * BOMB_RATIO) bytes, the layer is marked,
    the report says so, and time and memory stay small."""
    csize = _zstd_bomb(tmp_path / "blob", 10)
    limit = max(compression.BOMB_FLOOR, csize * compression.BOMB_RATIO)
    assert limit < (10 << 30)
    p = _bomb_archive(tmp_path, str(tmp_path / "blob"), "application/vnd.oci.image.layer.v1.tar+zstd")
    r, rss, secs = measured("report", p, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"stopped after {limit} bytes" in r.stdout
    assert "decompression bomb" in r.stdout
    assert rss < 400, f"peak RSS {rss} MB"
    assert secs < 60
    # the extraction of the cut-short file is refused (its bytes lie past the cut)
    out = tmp_path / "x"
    r2 = run_subprocess("extract", p, "/zeros.img", "-o", str(out))
    assert r2.returncode == 0, r2.stderr
    assert "decompression bomb" in r2.stderr and "skipped: /zeros.img" in r2.stderr
    assert not (out / "zeros.img").exists()


@pytest.mark.parametrize("hash_files", [False, True])
def test_bomb_limit_in_process(tmp_path, hash_files):
    """The walker's `limit` ends a stream that goes on and on: bounded time,
    no memory growth (tracemalloc), `bomb` set and a warning -- also while
    hashing the file's content as it streams past (the cut file keeps no
    digest: its bytes were not all seen)."""
    import tracemalloc

    hdr = tarfile.TarInfo("z")
    hdr.size = 1 << 40
    head = hdr.tobuf(tarfile.GNU_FORMAT)
    served = [0]

    def endless(n: int) -> bytes:
        if served[0] == 0:
            served[0] = len(head)
            return head
        served[0] += n
        return bytes(n)

    tracemalloc.start()
    t = time.time()
    ix = TarIndexer(b"", endless, 512 << 20, "bomb", hash_files=hash_files)
    entries = ix.run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert ix.bomb and entries.paths == ["z"]
    assert entries.digest(0) is None
    assert len(entries.digests) == (16 if hash_files else 0)
    assert "decompression bomb" in ix.warnings[0]
    assert served[0] <= (512 << 20) + (8 << 20)
    assert peak < 64 << 20
    assert time.time() - t < 60


# ---------------------------------------------------------------------------
# deep trees

def test_deep_directories_report(tmp_path, capsys):
    """10,000 nested directories: no recursion limit, no quadratic blow-up."""
    name = "/".join(["d"] * 10_000) + "/f"
    p = docker_archive(tmp_path / "deep.tar", [tar_of([ti_file(name, b"x")])])
    t = time.time()
    rc, out, err = cli(capsys, "report", p)
    assert rc == 0, err
    rc, out, err = cli(capsys, "report", "--json", p)
    assert rc == 0, err
    assert time.time() - t < 60


def test_deep_directories_ls(tmp_path, capsys):
    name = "/".join(["d"] * 3000) + "/f"
    p = docker_archive(tmp_path / "deep.tar", [tar_of([ti_file(name, b"x")])])
    rc, out, err = cli(capsys, "ls", p)
    assert rc == 0, err
    assert len(out.splitlines()) == 3001
    assert out.splitlines()[-1].endswith("/" + name)


def test_deep_directories_ls_changes(tmp_path, capsys):
    name = "/".join(["d"] * 10_000) + "/f"
    p = docker_archive(tmp_path / "deep.tar", [tar_of([ti_file(name, b"x")])])
    rc, out, err = cli(capsys, "ls", "--changes", "--json", p)
    assert rc == 0, err
    assert len(out.splitlines()) == 10_001
