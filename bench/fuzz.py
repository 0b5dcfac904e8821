#!/usr/bin/env python3
"""Long-running mutation fuzzer for layerscope's tar walker, layer decoder,
format readers, analysis/report and extraction.

    nice -n 10 python bench/fuzz.py --minutes 30

Targets (each execution picks one; weights in TARGETS):
  tar      a (mutated) layer tar (GNU sparse files among the seeds) -> TarIndexer over memory and over a stream
           in random chunk sizes; both must agree, and every path must be
           normalised (no '', '.', '..' components, no leading '/').
  blob     a (mutated) layer blob (none/gzip/zstd/estargz/zstd:chunked,
           compressed bytes flipped or truncated, or the tar inside mutated)
           -> indexing.index_blob, then every file's contents via iter_ranges.
  image    a (mutated) image archive (docker-legacy, podman, docker25, oci,
           kaniko; JSON mutated structurally, members renamed/dropped/turned
           into symlinks, layers mutated) -> open_graph, index_layers,
           analyse, the text and JSON reports, `ls` rows, the display trees,
           and extract_paths into a sandbox (nothing may appear outside it).
  cache    a cache file of a seed image's layer (its index, content digests
           or merge result), damaged byte-wise -> the report read through
           that cache must equal the report made without it; or altered
           structurally with its checksum made right -> no crash.
  diveci   a (mutated) .dive-ci YAML file -> load_rules and evaluate: a clear
           ImageError or rules, never another exception.

The only exceptions allowed are ImageError (LayerError) and ExtractError.
Any other exception, a hang (--timeout seconds per input) or a MemoryError
(address space capped with RLIMIT_AS) is a crash: the input is saved to
bench/out/fuzz-crashes/<target>-<signature>-<n>.bin with a .txt traceback
(at most 3 inputs per signature).  A summary is printed (and written to
bench/out/fuzz-summary.json) at the end.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import resource
import shutil
import signal
import sys
import tarfile
import tempfile
import time
import traceback
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import zstandard  # noqa: E402

from layerscope.errors import ImageError  # noqa: E402
from layerscope.extract import ExtractError, extract_paths  # noqa: E402
from layerscope.layers import blobs, compression, contents, indexing  # noqa: E402
from layerscope.layers.tarwalk import TarIndexer  # noqa: E402
from layerscope.model import FILE, OPAQUE, BlobRef  # noqa: E402

ALLOWED = (ImageError, ExtractError)
OUT = os.path.join(ROOT, "bench", "out", "fuzz-crashes")


class Hang(BaseException):
    pass


def _alarm(signum, frame):
    raise Hang()


# ---------------------------------------------------------------------------
# seeds

def _seed_specs():
    from layerscope.testing.synth import EmptyStep, F, ImageSpec, LayerSpec

    def layers(c):
        l0 = LayerSpec([
            F("bin/", "dir"), F("bin/sh", data=b"\x7fELF" + bytes(700), mode=0o4755),
            F("etc/", "dir"), F("etc/os-release", data=b"ID=fuzz\nPRETTY_NAME=\"Fuzz [bold]x[/]\"\n"),
            F("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n"),
            F("lib", "symlink", link="usr/lib"), F("usr/lib/", "dir"),
            F("usr/lib/libc.so", data=bytes(range(256)) * 3),
            F("usr/lib/" + "long-name-" * 12, data=b"pax path\n"),
            F("dev/", "dir"), F("dev/null", "char", major=1, minor=3), F("dev/fifo", "fifo"),
            F("tmp/", "dir", mode=0o1777),
            F("x", raw_name=b"odd/\xff\xfe\x1b[31mred\x1b[0m\nline", data=b"bad name\n"),
        ], "ADD rootfs /", c)
        l1 = LayerSpec([
            F("etc/", "dir"), F("etc/passwd", data=b"root:x:0:0::/root:/bin/bash\n"),
            F("etc/os-release", "whiteout"), F("usr/lib/", "opaque"), F("usr/lib/new", data=b"new\n"),
            F("bin/sh2", "hardlink", link="bin/sh"), F("evil", "symlink", link="../../.."),
            F("var/big", size=70_000),
        ], "RUN change things", c)
        l2 = LayerSpec([F("usr/lib/libc.so", data=bytes(range(256)) * 3, mode=0o755)], "RUN chmod", c)
        return [l0, EmptyStep("ENV A=1"), l1, l2]

    out = []
    for layout, comp, opts in (
        ("docker-legacy", "none", {}),
        ("podman", "none", {}),
        ("docker25", "gzip", {}),
        ("oci", "zstd", {}),
        ("oci", "gzip", {"nested_index": True, "attestation": True}),
        ("oci", "estargz", {}),
        ("oci", "zstd-chunked", {}),
        ("kaniko", "gzip", {}),
    ):
        out.append((layout, ImageSpec(layers(comp), repo_tags=["fuzz:1"]), opts))
    return out


def build_seeds(tmp: str):
    from layerscope.testing.synth import layer_blob, layer_tar_bytes, write_archive

    images, tars, blob_seeds = [], [], []
    for n, (layout, spec, opts) in enumerate(_seed_specs()):
        p = os.path.join(tmp, f"seed{n}.tar")
        write_archive(p, [spec], layout, **opts)
        with open(p, "rb") as f:
            images.append(f.read())
        for ls in spec.layers:
            if hasattr(ls, "entries"):
                if n == 0:
                    tars.append(layer_tar_bytes(ls))
                blob_seeds.append(layer_blob(ls))
    # hand-written tars: GNU long names, base-256 numbers, PAX records
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name in ("a/" + "n" * 150, "b" * 120 + "/c", "./d/", "/abs/e", "../up"):
            ti = tarfile.TarInfo(name)
            ti.size = 3
            ti.uid = 1 << 40
            t.addfile(ti, io.BytesIO(b"abc"))
        ti = tarfile.TarInfo("l" * 200)
        ti.type = tarfile.SYMTYPE
        ti.linkname = "t" * 300
        t.addfile(ti)
    tars.append(bio.getvalue())
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo("p/ü" + "x" * 120)
        ti.size = 5
        ti.pax_headers = {"mtime": "1.5", "uid": "7"}
        t.addfile(ti, io.BytesIO(b"hello"))
    tars.append(bio.getvalue())
    sparse = _gnu_sparse_tars(tmp)
    tars += sparse
    blob_seeds += [gzip.compress(t, mtime=0) for t in sparse]
    blob_seeds += [zstandard.ZstdCompressor(write_checksum=True).compress(tars[0]),
                   gzip.compress(tars[0], mtime=0) + gzip.compress(tars[1], mtime=0)]
    return images, tars, blob_seeds


def _gnu_sparse_tars(tmp: str) -> list[bytes]:
    """A sparse file in each GNU sparse format (old GNU, PAX 0.0, 0.1, 1.0),
    written by GNU tar itself; none where GNU tar is missing."""
    import shutil
    import subprocess

    if shutil.which("tar") is None:
        return []
    d = os.path.join(tmp, "sparse")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "holes"), "wb") as f:
        for k in range(6):  # six data runs: the old GNU header needs an extension block
            f.seek(k * 20000)
            f.write(b"data%d" % k * 50)
        f.truncate(150000)
    out = []
    for fmt in (["--format=gnu"], *(["--format=posix", f"--sparse-version={v}"] for v in ("0.0", "0.1", "1.0"))):
        r = subprocess.run(["tar", "--sparse", *fmt, "-cf", "-", "-C", d, "holes"], capture_output=True)
        if r.returncode == 0:
            out.append(r.stdout)
    return out


# ---------------------------------------------------------------------------
# mutations

INTERESTING_NAMES = [b"../../etc/passwd", b"/etc/passwd", b"a/../../b", b".", b"..", b"", b"./", b"//",
                     b"\x1b]8;;http://x\x07y", b"[bold]x[/]", b"a\nb", b"\xff\xfe", b"a/" * 60,
                     b"x" * 255, b"../canary", b"dev/../../canary", b".wh..wh..opq", b"a/.wh.b",
                     b".wh..wh.plnk", b"evil/x", b"lib/x"]
INTERESTING_NUMS = [b"0" * 11, b"7" * 11, b"77777777777", b"\x80" + bytes(10) + b"\x01",
                    b"\xff" * 12, b"\x80\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", b"        ",
                    b"-1", b"999", b"0x10", b"\0" * 12, b"1" + b"0" * 10, b"17777777777 "]
FIELDS = {"name": (0, 100), "mode": (100, 8), "uid": (108, 8), "gid": (116, 8), "size": (124, 12),
          "mtime": (136, 12), "chksum": (148, 8), "type": (156, 1), "link": (157, 100),
          "magic": (257, 8), "prefix": (345, 155), "devmajor": (329, 8)}


def _fix_checksum(b: bytearray, h: int) -> None:
    hdr = b[h:h + 512]
    if len(hdr) < 512:
        return
    s = sum(hdr) - sum(hdr[148:156]) + 256
    b[h + 148:h + 156] = b"%06o\0 " % (s & 0o777777)


def _headers(data: bytes) -> list[int]:
    hs = []
    i = data.find(b"ustar")
    while i >= 0 and len(hs) < 4096:
        h = i - 257
        if h >= 0 and h % 512 == 0:
            hs.append(h)
        i = data.find(b"ustar", i + 1)
    return hs


def mutate_tar(r: random.Random, data: bytes, rounds: int | None = None) -> bytes:
    b = bytearray(data)
    for _ in range(rounds or r.randint(1, 4)):
        hs = _headers(bytes(b))
        op = r.randrange(10)
        if op == 0 and b:  # bit flips anywhere
            for _ in range(r.randint(1, 8)):
                i = r.randrange(len(b))
                b[i] ^= 1 << r.randrange(8)
        elif op <= 3 and hs:  # a header field, checksum fixed most of the time
            h = r.choice(hs)
            name, (off, ln) = r.choice(list(FIELDS.items()))
            if name in ("name", "link", "prefix"):
                v = r.choice(INTERESTING_NAMES) if r.random() < 0.8 else os.urandom(r.randint(0, ln))
            elif name == "type":
                v = r.choice([b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"x", b"g", b"L", b"K", b"S",
                              b"V", b"M", b"\0", b"Z"])
            else:
                v = r.choice(INTERESTING_NUMS)
            v = v[:ln].ljust(ln, b"\0")
            b[h + off:h + off + ln] = v
            if name != "chksum" and r.random() < 0.9:
                _fix_checksum(b, h)
        elif op == 4 and b:  # truncate
            if hs and r.random() < 0.5:
                cut = r.choice(hs) + r.choice([0, 1, 100, 256, 511, 512, 513, 1000])
            else:
                cut = r.randrange(len(b))
            del b[cut:]
        elif op == 5 and len(b) >= 1024:  # drop / duplicate / move a block
            k = r.randrange(len(b) // 512) * 512
            blk = bytes(b[k:k + 512])
            what = r.randrange(3)
            if what == 0:
                del b[k:k + 512]
            elif what == 1:
                b[k:k] = blk * r.randint(1, 3)
            else:
                j = r.randrange(len(b) // 512) * 512
                b[j:j] = blk
        elif op == 6 and hs:  # a PAX or GNU long-name header in front of an entry
            h = r.choice(hs)
            kind = r.choice([b"x", b"g", b"L", b"K"])
            if kind in (b"x", b"g"):
                key = r.choice([b"path", b"linkpath", b"size", b"uid", b"gid", b"mtime", b"hdrcharset"])
                val = r.choice(INTERESTING_NAMES + [b"-5", b"99999999999999", b"1e9", b"nan", b"0"])
                body = b" " + key + b"=" + val + b"\n"
                n = len(body) + 1
                while len(str(n).encode() + body) != n:
                    n = len(str(n).encode() + body)
                payload = str(n).encode() + body
                if r.random() < 0.2:
                    payload = r.choice([b"5 a=b\n", b"999 x", b"abc path=x\n", b"0 =\n", b"3 \n"])
            else:
                payload = r.choice(INTERESTING_NAMES) + b"\0"
            hdr = bytearray(512)
            hdr[0:13] = b"././@LongLink"
            hdr[100:108] = b"0000644\0"
            hdr[124:136] = b"%011o\0" % len(payload)
            hdr[156:157] = kind
            hdr[257:265] = b"ustar\x0000"
            _fix_checksum(hdr, 0)
            b[h:h] = bytes(hdr) + payload + bytes(-len(payload) % 512)
        elif op == 7 and b:  # random bytes spliced in
            i = r.randrange(len(b))
            b[i:i] = os.urandom(r.choice([1, 7, 512, 1024]))
        elif op == 8 and hs:  # zero a header (an early end) or its tail
            h = r.choice(hs)
            b[h + r.choice([0, 100, 257]):h + 512] = bytes(512 - r.choice([0, 100, 257]))
        elif op == 9 and hs:  # huge size claim, checksum fixed
            h = r.choice(hs)
            b[h + 124:h + 136] = r.choice([b"%011o\0" % (1 << 33 - 1), b"\x80" + (1 << 40).to_bytes(11, "big"),
                                           b"\x80" + (1 << 62).to_bytes(11, "big")])
            _fix_checksum(b, h)
    return bytes(b)


def _compress(r: random.Random, kind: str, tar: bytes) -> bytes:
    if kind == "gzip":
        if r.random() < 0.3:  # multi-member
            k = r.randrange(len(tar) + 1)
            return gzip.compress(tar[:k], mtime=0) + gzip.compress(tar[k:], mtime=0)
        return gzip.compress(tar, compresslevel=1, mtime=0)
    if kind == "zstd":
        c = zstandard.ZstdCompressor(write_checksum=r.random() < 0.5)
        if r.random() < 0.3:  # multi-frame
            k = r.randrange(len(tar) + 1)
            return c.compress(tar[:k]) + c.compress(tar[k:])
        return c.compress(tar)
    return tar


def _decompress(blob: bytes) -> tuple[str, bytes | None]:
    kind = compression.sniff(blob[:512])
    try:
        if kind == "gzip":
            return kind, gzip.decompress(blob)
        if kind == "zstd":
            d = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob), read_across_frames=True)
            return kind, d.read()
    except Exception:
        return kind, None
    return kind, blob


def mutate_blob(r: random.Random, blob: bytes) -> bytes:
    kind, tar = _decompress(blob)
    op = r.randrange(8)
    if op <= 3 and tar is not None:  # mutate the tar inside, recompress
        return _compress(r, kind if kind in ("gzip", "zstd") else r.choice(["none", "gzip", "zstd"]),
                         mutate_tar(r, tar))
    b = bytearray(blob)
    if op == 4 and b:  # the compressed stream ends early
        del b[r.randrange(len(b)):]
    elif op == 5 and b:  # flip compressed bytes (checksums, block headers, data)
        for _ in range(r.randint(1, 6)):
            i = r.choice([r.randrange(len(b)), len(b) - 1 - r.randrange(min(8, len(b))), r.randrange(min(32, len(b)))])
            b[i] ^= 1 << r.randrange(8)
    elif op == 6:  # a small bomb: lots of zeros in one entry
        size = r.choice([1 << 20, 8 << 20, 64 << 20])
        hdr = bytearray(512)
        hdr[0:4] = b"zero"
        hdr[100:108] = b"0000644\0"
        hdr[124:136] = b"%011o\0" % (size * r.choice([1, 2, 1000]))
        hdr[156:157] = b"0"
        hdr[257:265] = b"ustar\x0000"
        _fix_checksum(hdr, 0)
        c = zstandard.ZstdCompressor(level=1)
        if r.random() < 0.5:
            return c.compress(bytes(hdr) + bytes(size))
        z = zlib.compressobj(1, zlib.DEFLATED, 31)
        return z.compress(bytes(hdr)) + z.compress(bytes(size)) + z.flush()
    else:  # junk appended / prepended
        junk = os.urandom(r.randint(1, 600))
        b = bytearray(junk + b) if r.random() < 0.3 else b + junk
    return bytes(b)


def _random_json(r: random.Random, depth: int = 0):
    c = r.randrange(12)
    return [None, True, 0, -1, 1 << 70, 1.5e308, "", "../../etc/passwd", "/etc/passwd",
            "sha256:" + "0" * 64, [] if depth > 2 else [_random_json(r, depth + 1)],
            {} if depth > 2 else {"mediaType": "application/vnd.oci.image.index.v1+json",
                                  "digest": "sha256:" + "a" * 64}][c]


def mutate_json(r: random.Random, data: bytes, names: list[str]) -> bytes:
    try:
        doc = json.loads(data)
    except Exception:
        return data[: r.randrange(len(data) + 1)]
    op = r.randrange(10)
    if op == 0:
        return data[: r.randrange(len(data) + 1)]  # invalid JSON
    if op == 1:
        return b"[" * 100_000 + b"]" * 100_000  # deeply nested
    nodes = []

    def walk(x, parent, key):
        nodes.append((parent, key, x))
        if isinstance(x, dict):
            for k, v in list(x.items()):
                walk(v, x, k)
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, x, i)

    walk(doc, None, None)
    for _ in range(r.randint(1, 3)):
        parent, key, x = r.choice(nodes)
        if parent is None:
            continue
        op = r.randrange(7)
        if op == 0:
            parent[key] = _random_json(r)
        elif op == 1 and isinstance(parent, dict):
            parent.pop(key, None)
        elif op == 2 and isinstance(x, list) and x:
            x.extend([x[0]] * r.choice([1, 10, 5000]))
        elif op == 3 and isinstance(x, str):
            parent[key] = r.choice(["../" + x, "/" + x, x + "/..", r.choice(names) if names else x,
                                    x.replace("sha256", "sha512"), x[:-1], x + "\x00", "\x1b[2J" + x])
        elif op == 4 and isinstance(x, str) and names:
            parent[key] = "blobs/sha256/" + r.choice(names).split("/")[-1]
        elif op == 5 and isinstance(parent, dict) and key == "digest":
            parent["mediaType"] = r.choice(["application/vnd.oci.image.index.v1+json",
                                            "application/vnd.oci.image.manifest.v1+json", "", "x"])
        else:
            parent[key] = x if not isinstance(x, (int, float)) else r.choice([0, -1, 1 << 63, 3.5])
    return json.dumps(doc).encode()


def read_members(data: bytes):
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as t:
        for ti in t.getmembers():
            body = t.extractfile(ti).read() if ti.isreg() else b""
            out.append((ti, body))
    return out


def write_members(members) -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as t:
        for ti, body in members:
            if ti.isreg():
                ti.size = len(body)
                t.addfile(ti, io.BytesIO(body))
            else:
                t.addfile(ti)
    return bio.getvalue()


def mutate_image(r: random.Random, data: bytes) -> bytes:
    try:
        members = read_members(data)
    except Exception:
        return mutate_tar(r, data)
    names = [ti.name for ti, _ in members]
    for _ in range(r.randint(1, 3)):
        op = r.randrange(12)
        k = r.randrange(len(members))
        ti, body = members[k]
        ti = _copy(ti)
        if op <= 3 and ti.isreg() and (body[:1] in (b"{", b"[") or ti.name.endswith(".json")):
            members[k] = (ti, mutate_json(r, body, names))
        elif op <= 3:
            js = [i for i, (t, b) in enumerate(members) if t.isreg() and b[:1] in (b"{", b"[")]
            if js:
                j = r.choice(js)
                members[j] = (_copy(members[j][0]), mutate_json(r, members[j][1], names))
        elif op <= 6 and ti.isreg():  # a layer (or any blob): mutated
            members[k] = (ti, mutate_blob(r, body) if r.random() < 0.8 else mutate_tar(r, body))
        elif op == 7:  # dropped
            del members[k]
            if not members:
                return b""
        elif op == 8:  # turned into a symlink / hardlink
            ti.type = r.choice([tarfile.SYMTYPE, tarfile.LNKTYPE])
            ti.linkname = r.choice(["../../etc/passwd", "/etc/passwd", "index.json", ti.name, "manifest.json",
                                    "/dev/zero", "../" + ti.name, r.choice(names)])
            ti.size = 0
            members[k] = (ti, b"")
        elif op == 9:  # renamed
            ti.name = r.choice(["../" + ti.name, "/" + ti.name, ti.name + "/", "./" + ti.name,
                                r.choice(names), ti.name.upper()])
            members[k] = (ti, body)
        elif op == 10:  # duplicated (last one wins)
            members.append((_copy(ti), body[: r.randrange(len(body) + 1)] if body else body))
        else:  # an extra member with a hostile name
            t2 = tarfile.TarInfo(r.choice(["index.json", "manifest.json", "oci-layout", "blobs/sha256/" + "0" * 64,
                                           "../x", "a" * 300]))
            b2 = r.choice([b"{}", b"[]", b"null", b"{\"manifests\":[]}", os.urandom(64)])
            t2.size = len(b2)
            members.append((t2, b2))
    out = write_members(members)
    if r.random() < 0.15:
        out = mutate_tar(r, out, 1)
    return out


def _copy(ti: tarfile.TarInfo) -> tarfile.TarInfo:
    t = tarfile.TarInfo(ti.name)
    for a in ("size", "mode", "uid", "gid", "mtime", "type", "linkname", "uname", "gname"):
        setattr(t, a, getattr(ti, a))
    return t


# ---------------------------------------------------------------------------
# targets

def _bad_path(p: str) -> bool:
    return p.startswith("/") or any(c in ("", ".", "..") for c in p.split("/"))


def _state(ix: TarIndexer):
    """What a walk gave, to compare two walks: entries (or the error), warnings, size."""
    try:
        e = ix.run()
    except ImageError as err:
        return ("error", err.line())
    return (e.to_state(), tuple(ix.warnings), ix.size, ix.bomb)


def _same_with_the_general_walker(data: bytes, read_of, limit, hashing: bool) -> None:
    """The batch reader (tarcolumns) against the general walker alone, over
    memory and over a stream read in the same pieces: equal in everything."""
    from layerscope.layers import tarwalk

    for stream in (False, True):
        got = []
        for columns in (True, False):
            tarwalk.COLUMNS = columns
            try:
                if stream:
                    got.append(_state(TarIndexer(b"", read_of(), limit, "fuzz", hash_files=hashing)))
                else:
                    got.append(_state(TarIndexer(data, None, None, "fuzz")))
            finally:
                tarwalk.COLUMNS = True
        if got[0] != got[1]:
            raise AssertionError(f"batch reader and general walker disagree ({'stream' if stream else 'memory'})")


def run_tar(data: bytes, r: random.Random) -> None:
    a = b = None
    ea = eb = None
    pieces = [r.choice([1, 100, 512, 4096, 1 << 20]) for _ in range(64)]

    def read_of():
        src, k = io.BytesIO(data), iter(range(1 << 62))

        def read(n, _r=src.read):
            return _r(min(n, pieces[next(k) % 64]))
        return read
    _same_with_the_general_walker(data, read_of, max(len(data) * 4, 1 << 20), r.random() < 0.5)
    try:
        a = TarIndexer(data, None, None, "fuzz").run()
    except ImageError as e:
        ea = e
    src = io.BytesIO(data)
    sizes = [r.choice([1, 100, 512, 4096, 1 << 20])]

    def read(n, _r=src.read):
        return _r(min(n, sizes[0]) if r.random() < 0.5 else n)

    hashing = r.random() < 0.5  # hash each file as it streams past, as for compressed layers
    ix = TarIndexer(b"", read, max(len(data) * 4, 1 << 20), "fuzz", hash_files=hashing)
    try:
        b = ix.run()
    except ImageError as e:
        eb = e
    if (ea is None) != (eb is None) and not ix.bomb:
        raise AssertionError(f"memory and stream walks disagree: {ea!r} vs {eb!r}")
    if a is not None and b is not None and not ix.bomb:
        if a.paths != b.paths or bytes(a.types) != bytes(b.types) or list(a.offsets) != list(b.offsets) \
                or list(a.sizes) != list(b.sizes) or list(a.modes) != list(b.modes) \
                or list(a.mtimes) != list(b.mtimes) or a.links != b.links or a.captured != b.captured \
                or a.sparse != b.sparse:
            raise AssertionError("memory and stream walks give different entries")
        if hashing:
            from blake3 import blake3

            for i in range(len(b.paths)):
                n = b.stored_size(i)  # a sparse file's digest is of the bytes stored
                want = blake3(data[b.offsets[i]:b.offsets[i] + n]).digest(16) \
                    if b.types[i] == FILE and n else None
                if b.digest(i) != want:
                    raise AssertionError(f"{b.paths[i]!r}: digest taken while streaming is wrong")
    for e in (a, b):
        if e is None:
            continue
        for i, p in enumerate(e.paths):
            if _bad_path(p) and not (p == "" and e.types[i] == OPAQUE):  # an opaque root is fine
                raise AssertionError(f"unnormalised path {p!r}")
            if e.types[i] == FILE and e.offsets[i] + e.stored_size(i) > len(data) and e is a:
                raise AssertionError(f"{p!r}: contents past the end of the data")
    if ea is not None:
        raise ea  # both walks refused it, as they should: counted as rejected


def run_blob(data: bytes, r: random.Random, tmp: str) -> None:
    path = os.path.join(tmp, f"blob-{r.randrange(1 << 30)}")
    with open(path, "wb") as f:
        f.write(data)
    try:
        ref = BlobRef(path, 0, len(data), "fuzz-blob")
        entries, comp, usize, warnings, bomb = indexing.index_blob(ref, "", "fuzz")
        wanted = sorted({(entries.offsets[i], entries.sizes[i]) for i in range(len(entries))
                         if entries.types[i] == FILE and entries.sizes[i] and
                         (not bomb or entries.offsets[i] + entries.sizes[i] <= usize)})
        if sum(s for _, s in wanted) > 256 << 20:
            return
        for _off, chunks in contents.iter_ranges(ref, comp, wanted):
            for c in chunks:
                if len(c) > 4 << 20:
                    raise AssertionError("iter_ranges gave a chunk over 4 MiB")
    finally:
        _forget(path)


def run_image(data: bytes, r: random.Random, tmp: str) -> None:
    from rich.console import Console

    from layerscope.analysis import analyse
    from layerscope.analysis.tree import build_changes_tree, build_merged_tree
    from layerscope.formats.source import open_graph
    from layerscope.layers.indexing import index_layers
    from layerscope.views.jsondoc import entry_doc, report_doc
    from layerscope.views.text import render_report

    path = os.path.join(tmp, f"image-{r.randrange(1 << 30)}.tar")
    with open(path, "wb") as f:
        f.write(data)
    box = os.path.join(tmp, "box")
    try:
        graph = open_graph([path])
        for image in graph.images[:2]:
            index_layers(graph, layers=image.layers, use_cache=False, workers=1)
            if any(l.error for l in image.layers):
                continue
            a = analyse(graph, image)
            con = Console(file=io.StringIO(), width=120, markup=False, highlight=False, emoji=False)
            render_report(con, graph, a, 10)
            out = con.file.getvalue()
            if "\x1b" in out.replace("\x1b[", "") or "\x07" in out:
                raise AssertionError("raw control characters in the report")
            json.dumps(report_doc(graph, a, 100), ensure_ascii=True)
            top = a.stack.n - 1
            for p, l, i in sorted(a.stack.visible_at(top)):
                json.dumps(entry_doc(a, p, l, i), ensure_ascii=True)
            build_merged_tree(a.stack, a.kinds, top)
            build_changes_tree(a.stack, a.kinds, top)
            if os.path.exists(box):
                shutil.rmtree(box)
            os.makedirs(os.path.join(box, "dest"))
            with open(os.path.join(box, "canary"), "w") as f:
                f.write("canary")
            try:
                extract_paths(a, top, ["/"], os.path.join(box, "dest"), overwrite=r.random() < 0.3)
                if r.random() < 0.3:
                    extract_paths(a, max(0, top - 1), ["/"], os.path.join(box, "dest"), overwrite=True)
            except ExtractError:
                pass
            if sorted(os.listdir(box)) != ["canary", "dest"]:
                raise AssertionError(f"extraction wrote outside its target: {os.listdir(box)}")
            with open(os.path.join(box, "canary")) as f:
                if f.read() != "canary":
                    raise AssertionError("extraction wrote through a link")
    finally:
        _forget(path)


DIVE_CI_SEEDS = [
    b"rules:\n  lowestEfficiency: 0.95\n  highestWastedBytes: 20MB\n  highestUserWastedPercent: 0.20\n",
    b"rules:\n  lowestEfficiency: disabled\n  highestWastedBytes: 1.5GiB\n",
    b"plugins: [a, b]\nrules: {lowestEfficiency: '0.5', highestUserWastedPercent: 1}\n",
    b"a: &x [1, 2]\nb: *x\nrules:\n  highestWastedBytes: 300\n",
    b"rules:\n  maxFindingBytes: package-cache=10MB, all=1GB\n",
    b"rules:\n  maxFindingBytes:\n    package-index: 5MB\n    temp-files: disabled\n",
    b"rules:\n  maxFindingBytes: [deleted-later=1kB]\n",
]
YAML_TOKENS = [b"&a ", b"*a", b"[", b"]", b"{", b"}", b"- ", b": ", b"\n", b"  ", b"!!python/object:os.system ",
               b"'", b'"', b"9" * 40, b"1e309", b"-1", b"nan", b"rules:", b"highestWastedBytes: ",
               b"maxFindingBytes: ", b"=", b",", b"\x00", b"\xff"]


def mutate_dive_ci(r: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(r.randint(1, 8)):
        op = r.random()
        pos = r.randint(0, len(b))
        if op < 0.4:
            b[pos:pos] = r.choice(YAML_TOKENS) * r.choice((1, 1, 2, 50))
        elif op < 0.6 and b:
            del b[pos:pos + r.randint(1, 8)]
        elif op < 0.8 and b:
            b[min(pos, len(b) - 1)] = r.randrange(256)
        else:
            b[pos:pos] = bytes(b[: r.randint(0, len(b))])  # repeat a prefix: nesting, aliases
    return bytes(b)


def run_dive_ci(data: bytes, r: random.Random, tmp: str) -> None:
    from types import SimpleNamespace

    from layerscope import dive_ci

    path = os.path.join(tmp, f"dive-ci-{r.randrange(1 << 30)}")
    with open(path, "wb") as f:
        f.write(data)
    try:
        args = SimpleNamespace(ci_config=path, lowest_efficiency=None, highest_wasted_bytes=None,
                               highest_user_wasted_percent=None, max_finding_bytes=None)
        rules = dive_ci.load_rules(args)
        totals = {"efficiency": 0.5, "wasted_bytes": 1 << 20, "user_wasted_percent": 0.1, "user_size": 1 << 22,
                  "wasted_user_percent": 0.25}
        finding = SimpleNamespace(kind="package-cache", bytes=1 << 19, base=False, layer=1)
        dive_ci.evaluate(rules, SimpleNamespace(totals=lambda: totals, findings=lambda: [finding]))
    finally:
        os.unlink(path)


_CACHE_SEED: dict = {}


def _cache_seed(tmp: str):
    """A small multi-layer image, its uncached report and a cache dir of its own."""
    if not _CACHE_SEED:
        from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive

        path = os.path.join(tmp, "cache-seed.tar")
        spec = ImageSpec([LayerSpec([F("etc", "dir"), F("etc/a", data=b"a" * 700), F("bin", "dir"),
                                     F("bin/sh", data=b"sh" * 300, mode=0o755)], compression="gzip"),
                          LayerSpec([F("etc", "dir"), F("etc/a", data=b"b" * 700), F("etc/b", "whiteout"),
                                     F("bin/sh", data=b"sh" * 300, mode=0o4755)], compression="gzip")])
        write_archive(path, [spec], "oci")
        _CACHE_SEED.update(path=path, report=_report_of(path, None))
    return _CACHE_SEED


def _report_of(path: str, cache: str | None) -> str:
    from layerscope.analysis import analyse
    from layerscope.formats.source import open_graph
    from layerscope.layers.indexing import index_layers
    from layerscope.views.jsondoc import report_doc

    os.environ["LAYERSCOPE_CACHE"] = cache or "off"
    try:
        graph = open_graph([path])
        image = graph.pick()
        index_layers(graph, layers=image.layers, use_cache=cache is not None, workers=1)
        return json.dumps(report_doc(graph, analyse(graph, image), 100), sort_keys=True)
    finally:
        os.environ["LAYERSCOPE_CACHE"] = "off"
        blobs.forget(path)


def _mutate_value(r: random.Random, v, depth: int = 0):
    """A structurally altered copy of a marshalled cache value."""
    choices = [0, -1, 1 << 40, "x", b"\xff" * 3, None, (), [], 1.5]
    if isinstance(v, (list, tuple)) and v and depth < 6:
        items = list(v)
        i = r.randrange(len(items))
        op = r.random()
        if op < 0.6:
            items[i] = _mutate_value(r, items[i], depth + 1)
        elif op < 0.8:
            del items[i]
        else:
            items.insert(i, r.choice(choices))
        return type(v)(items)
    if isinstance(v, bytes) and v:
        b = bytearray(v)
        op = r.random()
        if op < 0.5:
            b[r.randrange(len(b))] = r.randrange(256)
        elif op < 0.75:
            del b[r.randrange(len(b)):]
        else:
            b += os.urandom(r.randint(1, 8))
        return bytes(b)
    if isinstance(v, int) and r.random() < 0.7:
        return r.choice([v + 1, v - 1, -v, v * 1000, 1 << 62])
    if isinstance(v, str) and r.random() < 0.7:
        return r.choice(["", v + "/..", "../" + v, v[::-1], "a" * 300])
    return r.choice(choices)


def _resealed(r: random.Random, data: bytes) -> bytes:
    """The cache file with its payload altered and its checksum made right again."""
    import marshal

    from layerscope.layers import cache

    if len(data) < cache.HEADER or data[:len(cache.MAGIC)] != cache.MAGIC:
        return data
    try:
        version, value = marshal.loads(data[cache.HEADER:])
    except Exception:
        return data
    payload = marshal.dumps((version, _mutate_value(r, value)))
    h = cache._hasher()
    h.update(payload)
    return data[:len(cache.MAGIC) + 1] + h.digest() + payload


def run_cache(r: random.Random, tmp: str) -> None:
    seed = _cache_seed(tmp)
    cdir = os.path.join(tmp, f"cache-{r.randrange(1 << 30)}")
    try:
        _report_of(seed["path"], cdir)  # fills the cache
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(cdir) for f in fs)
        resealed = False
        for victim in r.sample(files, min(len(files), r.randint(1, 2))):
            with open(victim, "rb") as f:
                data = bytearray(f.read())
            if r.random() < 0.6:
                with open(victim, "wb") as f:
                    f.write(_resealed(r, bytes(data)))  # well-formed, checksum right, contents wrong
                resealed = True
                continue
            for _ in range(r.randint(1, 6)):
                if not data:
                    break
                op = r.random()
                pos = r.randrange(len(data))
                if op < 0.5:
                    data[pos] = r.randrange(256)
                elif op < 0.75:
                    del data[pos:pos + r.randint(1, 64)]
                else:
                    data[pos:pos] = os.urandom(r.randint(1, 64))
            with open(victim, "wb") as f:
                f.write(data)
        got = _report_of(seed["path"], cdir)
        # A damaged file must be rebuilt.  A resealed one (only someone who can
        # write the cache directory can make one) may change values that no
        # check can tell from real ones, such as a mode; it must never crash.
        if not resealed and got != seed["report"]:
            raise AssertionError("a damaged cache file changed the report")
    finally:
        shutil.rmtree(cdir, ignore_errors=True)


def _forget(path: str) -> None:
    blobs.forget(path)
    try:
        os.unlink(path)
    except OSError:
        pass


# ---------------------------------------------------------------------------
# the loop

def signature(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in tb if "layerscope" in f.filename] or list(tb)
    last = frames[-1] if frames else None
    where = f"{os.path.basename(last.filename)}:{last.lineno}" if last else "?"
    return f"{type(exc).__name__}@{where}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per input before it counts as a hang")
    ap.add_argument("--memory-mb", type=int, default=3072, help="address-space cap (RLIMIT_AS)")
    ap.add_argument("--targets", default="tar,blob,image,cache,diveci")
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--replay", nargs="*", help="run saved inputs (target-*.bin) once and show what happens")
    args = ap.parse_args(argv)

    os.environ["LAYERSCOPE_CACHE"] = "off"
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    r = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="layerscope-fuzz-")
    images, tars, blob_seeds = build_seeds(tmp)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = args.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    signal.signal(signal.SIGALRM, _alarm)

    def run(target: str, data: bytes) -> None:
        if target == "tar":
            run_tar(data, r)
        elif target == "blob":
            run_blob(data, r, tmp)
        elif target == "cache":
            run_cache(r, tmp)
        elif target == "diveci":
            run_dive_ci(data, r, tmp)
        else:
            run_image(data, r, tmp)

    if args.replay:
        rc = 0
        for p in args.replay:
            target = os.path.basename(p).split("-")[0]
            with open(p, "rb") as f:
                data = f.read()
            try:
                run(target, data)
                print(f"{p}: ok")
            except ALLOWED as e:
                print(f"{p}: ok ({type(e).__name__}: {e})")
            except BaseException:
                rc = 1
                print(f"{p}: CRASH")
                traceback.print_exc()
        shutil.rmtree(tmp, ignore_errors=True)
        return rc

    targets = [t for t in args.targets.split(",") if t]
    weights = {"tar": 5, "blob": 3, "image": 4, "cache": 2, "diveci": 2}
    os.makedirs(args.out, exist_ok=True)
    stats = {t: {"execs": 0, "ok": 0, "rejected": 0, "crashes": 0} for t in targets}
    sigs: dict[str, int] = {}
    slowest = (0.0, "")
    start = time.time()
    end = start + args.minutes * 60
    last_print = start
    print(f"fuzzing {targets} for {args.minutes} min, seed {seed}, pid {os.getpid()}", flush=True)
    while time.time() < end:
        target = r.choices(targets, [weights[t] for t in targets])[0]
        if target == "tar":
            data = mutate_tar(r, r.choice(tars))
        elif target == "blob":
            data = mutate_blob(r, r.choice(blob_seeds))
        elif target == "cache":
            data = b""  # the cache target mutates the files it makes
        elif target == "diveci":
            data = mutate_dive_ci(r, r.choice(DIVE_CI_SEEDS))
        else:
            data = mutate_image(r, r.choice(images))
        st = stats[target]
        st["execs"] += 1
        t0 = time.time()
        signal.setitimer(signal.ITIMER_REAL, args.timeout)
        try:
            run(target, data)
            st["ok"] += 1
        except ALLOWED:
            st["rejected"] += 1
        except (Hang, MemoryError, RecursionError, Exception) as e:  # each named for clarity
            signal.setitimer(signal.ITIMER_REAL, 0)
            sig = signature(e)
            st["crashes"] += 1
            n = sigs.get(f"{target}:{sig}", 0) + 1
            sigs[f"{target}:{sig}"] = n
            if n <= 3:
                h = hashlib.sha256(sig.encode()).hexdigest()[:10]
                base = os.path.join(args.out, f"{target}-{h}-{n}")
                with open(base + ".bin", "wb") as f:
                    f.write(data)
                with open(base + ".txt", "w") as f:
                    f.write(f"{sig}\nseed {seed}\n\n")
                    f.write("".join(traceback.format_exception(e)))
                print(f"CRASH {target} {sig} -> {base}.bin", flush=True)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        dt = time.time() - t0
        if dt > slowest[0]:
            slowest = (dt, target)
        if time.time() - last_print > 60:
            last_print = time.time()
            total = sum(s["execs"] for s in stats.values())
            print(f"[{(last_print - start) / 60:5.1f} min] {total} execs, "
                  f"{sum(s['crashes'] for s in stats.values())} crashes, {len(sigs)} signatures, "
                  f"maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    summary = {
        "seed": seed, "minutes": round((time.time() - start) / 60, 2), "targets": stats,
        "executions": sum(s["execs"] for s in stats.values()),
        "crashes": sum(s["crashes"] for s in stats.values()), "signatures": sigs,
        "slowest_input_seconds": round(slowest[0], 2), "slowest_target": slowest[1],
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    print(json.dumps(summary, indent=2), flush=True)
    with open(os.path.join(os.path.dirname(args.out), "fuzz-summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return 1 if summary["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
