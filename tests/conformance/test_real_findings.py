"""Findings and the ledger on a real image (the bloated bench image, built
with buildah from Debian: apt-get installs without cleanup, a chmod -R step,
deleted caches, a purged package, a 50 MB blob copied then deleted), against
an independent computation from its layer tars with Python's tarfile: a
plain merge by the OCI rules, content compared by sha256.  Skips when
bench/build_images.sh has not made the image."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import tarfile
from pathlib import Path

import pytest

from layerscope.analysis import analyse
from layerscope.analysis.findings import DUPLICATE_MIN, HIDDEN_KINDS, PYC_MIN, TEMP_FILES, classify
from layerscope.analysis.pkgfindings import KINDS as PACKAGE_KINDS
from tests.helpers import loaded

ROOT = Path(__file__).resolve().parent.parent.parent
BENCH = Path(os.environ.get("LAYERSCOPE_BENCH_IMAGES", ROOT / "bench" / "images"))
DOCKER, OCI = BENCH / "bloated.docker.tar", BENCH / "bloated.oci.tar"

pytestmark = pytest.mark.skipif(not (DOCKER.is_file() and OCI.is_file()),
                                reason="no bloated bench image (bench/build_images.sh makes it)")


def _norm(name: str) -> str:
    p = posixpath.normpath("/" + name).lstrip("/")
    return "" if p == "." else p


class Copy:
    """A regular file's copy stored in a layer tar, and its fate."""

    __slots__ = ("layer", "path", "member", "hidden_at", "how", "by")

    def __init__(self, layer, path, member):
        self.layer, self.path, self.member = layer, path, member
        self.hidden_at = None  # the layer that hid it
        self.how = None  # "overwritten" or "deleted"
        self.by = None  # the member over it, when overwritten


def _layer_tars(outer: tarfile.TarFile) -> list:
    manifest = json.load(outer.extractfile("manifest.json"))[0]
    return [outer.extractfile(name) for name in manifest["Layers"]]


def _independent(path: Path):
    """The merge of the docker-archive's layers, in plain Python: every regular
    file copy with its fate, the visible entries, and each copy's sha256 when
    it is compared (an overwritten copy and what overwrote it; visible files
    of DUPLICATE_MIN bytes or more)."""
    outer = tarfile.open(path)
    fobjs = _layer_tars(outer)
    layers = []
    for f in fobjs:
        with tarfile.open(fileobj=f) as t:
            layers.append(t.getmembers())
    view: dict[str, tuple[int, tarfile.TarInfo, Copy | None]] = {}  # path -> (layer, member, its copy)
    copies: list[Copy] = []

    def hide(p, L, how, by=None):
        _, _, c = view.pop(p)
        if c is not None:
            c.hidden_at, c.how, c.by = L, how, by

    def subtree(p):
        pre = p + "/"
        return [q for q in view if q.startswith(pre)]

    for L, members in enumerate(layers):
        for m in members:  # whiteouts and opaque markers first, on the layers below
            base = posixpath.basename(_norm(m.name))
            d = posixpath.dirname(_norm(m.name))
            if base == ".wh..wh..opq":
                for q in subtree(d) if d else list(view):
                    if view[q][0] < L:
                        hide(q, L, "deleted")
            elif base.startswith(".wh."):
                target = posixpath.join(d, base[4:])
                if target in view and view[target][0] < L:
                    for q in subtree(target):
                        hide(q, L, "deleted")
                    hide(target, L, "deleted")
        for m in members:
            p = _norm(m.name)
            if not p or posixpath.basename(p).startswith(".wh."):
                continue
            c = Copy(L, p, m) if m.isreg() else None
            if c is not None:
                copies.append(c)
            old = view.get(p)
            if old is not None:
                if old[1].isdir() and not m.isdir():
                    for q in subtree(p):
                        hide(q, L, "deleted")
                hide(p, L, "overwritten" if m.isreg() or old[1].isreg() else "deleted", m)
            view[p] = (L, m, c)
    # a hidden copy kept alive by a visible hardlink to it in its own layer stays visible
    alive = {(L, _norm(m.linkname)) for L, m, _ in view.values() if m.islnk()}
    for c in copies:
        if c.hidden_at is not None and (c.layer, c.path) in alive:
            c.hidden_at = c.how = c.by = None
    # contents, sha256, only of the copies that are compared
    want: dict[int, set[str]] = {}
    for c in copies:
        if c.how == "overwritten" and c.by is not None and c.by.isreg() and c.by.size == c.member.size:
            want.setdefault(c.layer, set()).add(c.path)
            want.setdefault(c.hidden_at, set()).add(_norm(c.by.name))
        if c.hidden_at is None and c.member.size >= DUPLICATE_MIN:
            want.setdefault(c.layer, set()).add(c.path)
    digests: dict[tuple[int, int], str] = {}  # (layer, member offset) -> sha256
    for L, f in enumerate(_layer_tars(outer)):
        with tarfile.open(fileobj=f) as t:
            for m in t:
                if m.isreg() and _norm(m.name) in want.get(L, ()):
                    digests[L, m.offset] = hashlib.sha256(t.extractfile(m).read()).hexdigest()
    return layers, copies, view, digests


@pytest.fixture(scope="module")
def real():
    layers, copies, view, digests = _independent(DOCKER)
    g = loaded(OCI)  # compressed layers: every file's digest is taken while indexing, so duplicates are exact
    return layers, copies, view, digests, analyse(g, g.images[0])


def _digest(digests, L, m):
    return digests.get((L, m.offset))


def test_hidden_copy_findings_agree_with_tarfile(real):
    _, copies, _, digests, a = real
    want: dict[tuple[str, int, int], int] = {}
    for c in copies:
        if c.hidden_at is None or not c.member.size:
            continue
        kind = "deleted-later"
        by = c.by
        if c.how == "overwritten" and by is not None and by.isreg():
            same = by.size == c.member.size and \
                _digest(digests, c.layer, c.member) == _digest(digests, c.hidden_at, by)
            meta = (by.mode & 0o7777, by.uid, by.gid) == (c.member.mode & 0o7777, c.member.uid, c.member.gid)
            kind = ("identical-copy" if meta else "metadata-copy-up") if same else "rewritten"
        key = (kind, c.layer, c.hidden_at)
        want[key] = want.get(key, 0) + c.member.size
    got = {(f.kind, f.layer, f.fixed_by): f.bytes for f in a.findings() if f.kind in HIDDEN_KINDS}
    assert got == want
    # every kind a build like this one makes is there
    assert {k for k, _, _ in got} == {"deleted-later", "metadata-copy-up", "rewritten", "identical-copy"}
    assert sum(got.values()) == a.waste.wasted_bytes


def test_final_view_findings_agree_with_tarfile(real):
    _, _, view, digests, a = real
    want: dict[tuple[str, int], int] = {}
    claimed = set()
    pyc = []
    for p, (L, m, _) in view.items():
        if not m.isreg() or not m.size:
            continue
        c = classify(p)
        if c is not None:
            want[c[0], L] = want.get((c[0], L), 0) + m.size
            claimed.add(p)
        elif p.endswith(".pyc"):
            pyc.append((L, p, m.size))
    if sum(n for _, _, n in pyc) >= PYC_MIN:
        for L, p, n in pyc:
            want[TEMP_FILES, L] = want.get((TEMP_FILES, L), 0) + n
            claimed.add(p)
    # duplicates: of the visible files with the same bytes, the lowest layer's (then first by path) is kept
    by_digest: dict[str, list[tuple[int, str, int]]] = {}
    for p, (L, m, _) in view.items():
        if m.isreg() and m.size >= DUPLICATE_MIN and p not in claimed:
            by_digest.setdefault(_digest(digests, L, m), []).append((L, p, m.size))
    for group in by_digest.values():
        for L, _, n in sorted(group)[1:]:
            want["duplicate-content", L] = want.get(("duplicate-content", L), 0) + n
    # the package findings name bytes by package (tests/analysis/test_pkgfindings.py checks them)
    got = {(f.kind, f.layer): f.bytes for f in a.findings() if f.kind not in HIDDEN_KINDS + PACKAGE_KINDS}
    assert got == want
    assert {"package-cache", "package-index", "duplicate-content"} <= {k for k, _ in got}


def test_ledger_totals_are_the_layer_blobs(real):
    _, _, _, _, a = real
    led = a.ledger()
    with tarfile.open(OCI) as outer:
        index = json.load(outer.extractfile("index.json"))
        manifest = json.load(outer.extractfile("blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]))
        blobs = [outer.getmember("blobs/sha256/" + d["digest"].split(":")[1]) for d in manifest["layers"]]
        assert [r.compressed for r in led.layers] == [b.size for b in blobs] == [d["size"] for d in manifest["layers"]]
        assert led.totals.compressed == sum(b.size for b in blobs)
        # the same tars, stored plain in the docker-archive: the uncompressed column is their length
        with tarfile.open(DOCKER) as docker:
            plain = [docker.getmember(n).size for n in json.load(docker.extractfile("manifest.json"))[0]["Layers"]]
        assert [r.uncompressed for r in led.layers] == plain
        for r, b in zip(led.layers, blobs):  # and each gzip blob's own record of its length (ISIZE) agrees
            f = outer.extractfile(b)
            f.seek(b.size - 4)
            assert int.from_bytes(f.read(4), "little") == r.uncompressed % (1 << 32)
    for r in led.layers:
        assert r.visible + r.overwritten + r.deleted + r.metadata_only + r.tar_overhead == r.uncompressed
    assert led.totals.overwritten + led.totals.deleted == a.waste.wasted_bytes


def test_the_docker_archive_of_the_same_image_has_the_same_findings(real):
    """Its layers are plain tars (no digests taken while indexing): copies are
    compared, and duplicates digested, in place, all within the read budget."""
    *_, a = real
    g = loaded(DOCKER)
    b = analyse(g, g.images[0])

    def kinds(x):
        return sorted((f.kind, f.layer, f.fixed_by, f.bytes, f.paths) for f in x.findings())

    assert kinds(b) == kinds(a)
    assert [(r.uncompressed, r.visible, r.overwritten, r.deleted, r.metadata_only) for r in b.ledger().layers] == \
        [(r.uncompressed, r.visible, r.overwritten, r.deleted, r.metadata_only) for r in a.ledger().layers]
