"""What the hostile-input tests share: archives built with the standard
library (docker-save and oci-archive layouts around any members, any JSON),
and the CLI run in this process, in a child process, or measured (peak RSS
and time) in a fresh one; the one-line error every bad input must give."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

from layerscope.cli import main
from tests import conftest

ROOT = str(conftest.ROOT)

CONTROL = {chr(c) for c in range(0x20)} | {"\x7f"} | {chr(c) for c in range(0x80, 0xA0)}


# ---------------------------------------------------------------------------
# building archives with the standard library

def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def ti_file(name: str, data: bytes = b"", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = mode
    return ti, data


def ti_link(name: str, target: str, kind=tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = target
    return ti, b""


def tar_of(members, fmt=tarfile.PAX_FORMAT) -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=fmt) as t:
        for m in members:
            if isinstance(m[1], (bytes, bytearray)) and not isinstance(m[0], tarfile.TarInfo):
                m = ti_file(m[0], m[1])
            ti, data = m
            t.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return bio.getvalue()


def layer_tar(files: dict[str, bytes] | None = None) -> bytes:
    files = files if files is not None else {"etc/": None, "etc/hello": b"hello\n"}
    members = []
    for name, data in files.items():
        if data is None:
            ti = tarfile.TarInfo(name.rstrip("/"))
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            members.append((ti, b""))
        else:
            members.append(ti_file(name, data))
    return tar_of(members)


def config_for(diff_ids: list[str], **extra) -> dict:
    cfg = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
           "rootfs": {"type": "layers", "diff_ids": diff_ids},
           "history": [{"created_by": f"step {i}"} for i in range(len(diff_ids))]}
    cfg.update(extra)
    return cfg


def docker_archive(path, layers: list[bytes] | None = None, *, manifest=None, config=None,
                   extra=(), drop=()) -> str:
    """A docker-save (legacy) archive: <n>/layer.tar, <hex>.json, manifest.json."""
    layers = layers if layers is not None else [layer_tar()]
    cfg = config if config is not None else config_for([sha(l) for l in layers])
    cfg_bytes = cfg if isinstance(cfg, bytes) else json.dumps(cfg).encode()
    cfg_name = hashlib.sha256(cfg_bytes).hexdigest() + ".json"
    names = [f"l{i}/layer.tar" for i in range(len(layers))]
    man = manifest if manifest is not None else [{"Config": cfg_name, "RepoTags": ["hostile:1"], "Layers": names}]
    members = [(n, l) for n, l in zip(names, layers)]
    members += [(cfg_name, cfg_bytes), ("manifest.json", man if isinstance(man, bytes) else json.dumps(man).encode())]
    members = [m for m in members if m[0] not in drop] + list(extra)
    with open(path, "wb") as f:
        f.write(tar_of(members))
    return str(path)


def oci_archive(path, blobs_: list[bytes] | None = None, *, manifest=None, config=None, index=None,
                extra=(), drop=(), media="application/vnd.oci.image.layer.v1.tar") -> str:
    """An oci-archive: oci-layout, index.json, blobs/sha256/<hex>."""
    blobs_ = blobs_ if blobs_ is not None else [layer_tar()]
    cfg = config if config is not None else json.dumps(config_for([sha(b"x%d" % i) for i in range(len(blobs_))])).encode()
    man = manifest if manifest is not None else json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg), "size": len(cfg)},
        "layers": [{"mediaType": media, "digest": sha(b), "size": len(b)} for b in blobs_]}).encode()
    idx = index if index is not None else json.dumps({
        "schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                           "digest": sha(man), "size": len(man),
                                           "annotations": {"org.opencontainers.image.ref.name": "1"}}]}).encode()
    members = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", idx)]
    for b in [cfg, man, *blobs_]:
        name = "blobs/sha256/" + hashlib.sha256(b).hexdigest()
        if name not in [m[0] for m in members]:
            members.append((name, b))
    members = [m for m in members if m[0] not in drop] + list(extra)
    with open(path, "wb") as f:
        f.write(tar_of(members))
    return str(path)


def gzip_of(b: bytes) -> bytes:
    return gzip.compress(b, compresslevel=1, mtime=0)


def _fix_checksum(b: bytearray, h: int) -> None:
    s = sum(b[h:h + 512]) - sum(b[h + 148:h + 156]) + 256
    b[h + 148:h + 156] = b"%06o\0 " % s


# ---------------------------------------------------------------------------
# running the CLI

def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([*argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_error(rc: int, err: str, *needles: str) -> str:
    assert rc == 2, err
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert err.startswith("layerscope: error: "), err
    assert "internal error" not in err, err
    assert not (set(err[:-1]) & CONTROL), f"control characters in {err!r}"
    for n in needles:
        assert n in err, f"{n!r} not in {err!r}"
    return err


def run_subprocess(*argv, timeout=120) -> subprocess.CompletedProcess:
    env = dict(os.environ, LAYERSCOPE_CACHE="off", PYTHONPATH=ROOT)
    env.pop("LAYERSCOPE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "layerscope", *argv], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


# Peak RSS from VmHWM: ru_maxrss would carry over the high-water mark of the
# (large) pytest process this child was forked from, across exec.
MEASURE = """
import sys, time
t = time.time()
from layerscope.cli import main
rc = main(sys.argv[1:])
sys.stdout.flush()
hwm = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print(f"@@rss={hwm} time={time.time() - t:.2f}", file=sys.stderr)
sys.exit(rc)
"""


def measured(*argv, timeout=300) -> tuple[subprocess.CompletedProcess, int, float]:
    """Run the CLI in a fresh process: (result, peak RSS in MB, seconds)."""
    env = dict(os.environ, LAYERSCOPE_CACHE="off", PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", MEASURE, *argv], capture_output=True, text=True, timeout=timeout,
                       env=env, cwd=ROOT)
    line = [l for l in r.stderr.splitlines() if l.startswith("@@rss=")][-1]
    rss = int(line.split("rss=")[1].split()[0]) // 1024
    secs = float(line.split("time=")[1])
    r.stderr = "\n".join(l for l in r.stderr.splitlines() if not l.startswith("@@rss=")) + "\n"
    return r, rss, secs
