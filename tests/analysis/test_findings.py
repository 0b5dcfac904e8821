"""Findings (analysis/findings.py): every kind on synthetic images with its
exact bytes, layer, hiding layer and base flag; the hidden-copy kinds never
count a byte twice and add up to the waste; duplicates found by digest and by
comparing bytes, within the read budget; a 200,000-entry image."""

from __future__ import annotations

import hashlib
import random

import pytest

from layerscope.analysis import analyse
from layerscope.analysis import findings as fmod
from layerscope.analysis.findings import HIDDEN_KINDS, classify
from layerscope.model import DIGEST_SIZE, DIR, FILE, WHITEOUT, HistoryStep, Image, Layer, LayerEntries, LayerGraph, Platform
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive
from tests.helpers import loaded

R1 = random.Random(1).randbytes(20_000)
R2 = random.Random(2).randbytes(20_000)


def _open(tmp_path, layers, name="img.tar", layout="docker-legacy", **kw):
    p = tmp_path / name
    write_archive(str(p), [ImageSpec(layers)], layout, **kw)
    g = loaded(p)
    return analyse(g, g.images[0])


def _summary(a):
    return [(f.kind, f.layer, f.fixed_by, f.bytes, f.base) for f in a.findings()]


def _every_kind_layers():
    base = LayerSpec([F("etc", "dir"), F("etc/app.conf", data=b"a" * 100), F("usr", "dir"), F("usr/bin", "dir"),
                      F("usr/bin/tool", data=b"t" * 5000), F("usr/share", "dir"), F("usr/share/doc", "dir"),
                      F("usr/share/doc/README", data=b"d" * 300),
                      F("var/lib/apt/lists/deb.debian.org_InRelease", data=b"i" * 700)],
                     created_by="ADD rootfs.tar /")
    install = LayerSpec([F("var/lib/apt/lists/deb.debian.org_Packages", data=b"p" * 9000),
                         F("var/cache/apt/archives/curl_8.5_amd64.deb", data=b"c" * 4000),
                         F("var/cache/apt/pkgcache.bin", data=b"b" * 1500),
                         F("usr/bin/curl", data=b"u" * 3000), F("build", "dir"),
                         F("build/big.o", data=b"o" * 8000), F("build/small.o", data=b"s" * 10)],
                        created_by="/bin/sh -c apt-get update && apt-get install -y curl")
    cleanup = LayerSpec([F("build", "whiteout"), F("usr/share/doc", "whiteout"),
                         F("usr/bin/curl", data=b"u" * 3000, mode=0o700)],
                        created_by="/bin/sh -c rm -rf /build /usr/share/doc && chmod 700 /usr/bin/curl")
    app = LayerSpec([F("app", "dir"), F("app/.git", "dir"), F("app/.git/objects/pack-1.pack", data=b"g" * 6000),
                     F("app/.git/HEAD", data=b"ref: refs/heads/main"), F("app/main.py", data=b"m" * 200),
                     F("app/config.json", data=b"j" * 150), F("app/data1.bin", data=R1),
                     F("app/data2.bin", data=R1), F("app/data3.bin", data=R2),
                     F("tmp/build.log", data=b"l" * 700), F("var/tmp/x", data=b"x" * 50),
                     F("root/.cache/pip/wheels/a.whl", data=b"w" * 2500),
                     F("root/.npm/_cacache/index", data=b"n" * 1200),
                     F("home/dev/.cache/go-build/ab/cd", data=b"g" * 900),
                     F("root/.cargo/registry/cache/c.crate", data=b"r" * 800),
                     F("usr/local/share/.cache/yarn/v6/y.tgz", data=b"y" * 600),
                     F("home/dev/.cache/misc", data=b"z" * 100),
                     F("app/empty.log", data=b"")],
                    created_by="COPY . /app # buildkit")
    edit = LayerSpec([F("etc/app.conf", data=b"b" * 100), F("usr/bin/tool", data=b"t" * 5000),
                      F("app/main.py", data=b"M" * 200), F("app/config.json", data=b"j" * 150)],
                     created_by="/bin/sh -c sed -i s/a/b/ /etc/app.conf /app/main.py && cp -a /backup/. /")
    return [base, install, cleanup, app, edit]


def test_every_kind_with_its_bytes_layer_and_fixing_layer(tmp_path):
    a = _open(tmp_path, _every_kind_layers())
    assert _summary(a) == [
        ("duplicate-content", 3, None, 20_000, False),  # app/data2.bin repeats app/data1.bin
        ("package-index", 1, None, 10_500, False),  # apt lists and pkgcache.bin
        ("deleted-later", 1, 2, 8010, False),
        ("package-cache", 3, None, 6100, False),
        ("vcs-metadata", 3, None, 6020, False),
        ("identical-copy", 0, 4, 5000, True),
        ("package-cache", 1, None, 4000, False),
        ("metadata-copy-up", 1, 2, 3000, False),
        ("temp-files", 3, None, 750, False),
        ("package-index", 0, None, 700, True),
        ("deleted-later", 0, 2, 300, True),
        ("rewritten", 3, 4, 200, False),
        ("identical-copy", 3, 4, 150, False),
        ("rewritten", 0, 4, 100, True),
    ]
    by = {(f.kind, f.layer): f for f in a.findings()}
    assert by["deleted-later", 1].paths == [("/build/big.o", 8000), ("/build/small.o", 10)]
    assert by["package-cache", 3].paths == [
        ("/root/.cache/pip/wheels/a.whl", 2500), ("/root/.npm/_cacache/index", 1200),
        ("/home/dev/.cache/go-build/ab/cd", 900), ("/root/.cargo/registry/cache/c.crate", 800),
        ("/usr/local/share/.cache/yarn/v6/y.tgz", 600), ("/home/dev/.cache/misc", 100)]
    assert by["vcs-metadata", 3].paths == [("/app/.git/objects/pack-1.pack", 6000), ("/app/.git/HEAD", 20)]
    assert by["temp-files", 3].paths == [("/tmp/build.log", 700), ("/var/tmp/x", 50)]
    assert by["duplicate-content", 3].paths == [("/app/data2.bin", 20_000)]
    assert by["package-index", 1].paths == [("/var/lib/apt/lists/deb.debian.org_Packages", 9000),
                                            ("/var/cache/apt/pkgcache.bin", 1500)]
    # the hidden-copy findings are exactly the waste
    assert a.waste.wasted_bytes == 16_760 == sum(f.bytes for f in a.findings() if f.kind in HIDDEN_KINDS)


def test_each_fix_names_the_steps_and_the_remedy(tmp_path):
    a = _open(tmp_path, _every_kind_layers())
    fix = {(f.kind, f.layer): f.fix for f in a.findings()}
    assert fix["metadata-copy-up", 1] == (
        "Layer 2 (RUN rm -rf /build /usr/share/doc && chmod 700 /…) only changed the mode or owner of 1 "
        "file and stored it whole again: set it with COPY --chmod/--chown, or in layer 1 (RUN apt-get update && "
        "apt-get install -y curl), which created it.")
    assert fix["deleted-later", 1] == (
        "Layer 2 (RUN rm -rf /build /usr/share/doc && chmod 700 /…) deleted 2 files that layer 1 "
        "(RUN apt-get update && apt-get install -y curl) stored, so their bytes stay in the image: delete them in "
        "the same RUN that creates them, make them in a separate stage of a multi-stage build, or keep caches out "
        "of the layer with RUN --mount=type=cache.")
    assert fix["package-cache", 3] == (
        "Layer 3 (COPY . /app) leaves download caches in the image: pip install --no-cache-dir (or RUN "
        "--mount=type=cache,target=/root/.cache/pip); npm cache clean --force in the same RUN (or RUN "
        "--mount=type=cache,target=/root/.npm); RUN --mount=type=cache,target=/home/dev/.cache/go-build, or build "
        "in a separate stage of a multi-stage build; RUN --mount=type=cache,target=/root/.cargo/registry, or build "
        "in a separate stage of a multi-stage build; yarn cache clean in the same RUN (or RUN "
        "--mount=type=cache,target=/usr/local/share/.cache/yarn); remove /home/dev/.cache in the same RUN, or "
        "mount it with RUN --mount=type=cache,target=/home/dev/.cache.")
    assert fix["package-index", 1] == (
        "Layer 1 (RUN apt-get update && apt-get install -y curl) leaves package indexes in the image: end the RUN "
        "that runs apt-get update with rm -rf /var/lib/apt/lists/*; run apt-get clean in the same RUN (or RUN "
        "--mount=type=cache,target=/var/cache/apt).")
    assert fix["vcs-metadata", 3] == ("Layer 3 (COPY . /app) copied version-control metadata into the image: add "
                                      ".git to .dockerignore (/app/.git is one), or copy only what the image needs.")
    assert fix["duplicate-content", 3] == (
        "Layer 3 (COPY . /app) holds 1 file whose bytes another file of the image already holds (/app/data2.bin "
        "is the same as /app/data1.bin): keep one copy, or hardlink the others to it.")
    assert fix["deleted-later", 0].startswith("Layer 2 (RUN rm -rf /build /usr/share/doc && chmod 700 /…) "
                                              "deleted 1 file of the base image, which frees nothing")
    assert "a later step cannot free it, so choose a base image without it" in fix["package-index", 0]
    assert fix["identical-copy", 3].startswith("Layer 4 (RUN sed -i s/a/b/ /etc/app.conf /app/main.py &&…) stored "
                                               "1 file again with the same bytes and metadata as layer 3 (COPY")


def test_findings_are_computed_once(tmp_path):
    a = _open(tmp_path, _every_kind_layers())
    assert a.findings() is a.findings()


def test_base_layers_follow_the_base_option(tmp_path):
    p = tmp_path / "img.tar"
    write_archive(str(p), [ImageSpec(_every_kind_layers())], "docker-legacy")
    g = loaded(p)
    a = analyse(g, g.images[0], base_layers=2)
    base = {(f.kind, f.layer) for f in a.findings() if f.base}
    assert base == {("identical-copy", 0), ("package-index", 0), ("deleted-later", 0), ("rewritten", 0),
                    ("package-index", 1), ("deleted-later", 1), ("package-cache", 1), ("metadata-copy-up", 1)}


@pytest.mark.parametrize("path, want", [
    ("var/lib/apt/lists/x_Packages.lz4", ("package-index", "apt-lists", "/var/lib/apt/lists")),
    ("var/cache/apt/archives/partial/x.deb", ("package-cache", "apt", "/var/cache/apt/archives")),
    ("var/cache/apt/srcpkgcache.bin", ("package-index", "apt", "/var/cache/apt")),
    ("var/cache/apt/archives/lock", None),
    ("var/cache/apk/APKINDEX.66df3a.tar.gz", ("package-index", "apk", "/var/cache/apk")),
    ("var/cache/apk/curl-8.5.0-r0.a1b2.apk", ("package-cache", "apk", "/var/cache/apk")),
    ("lib/apk/db/installed", None),  # apk's database of what is installed: needed
    ("var/cache/dnf/fedora-1a2b/repodata/primary.xml.zst", ("package-index", "dnf", "/var/cache/dnf")),
    ("var/cache/dnf/updates/packages/curl-8.rpm", ("package-cache", "dnf", "/var/cache/dnf")),
    ("var/cache/yum/x86_64/7/base/repomd.xml", ("package-index", "yum", "/var/cache/yum")),
    ("var/cache/yum/x86_64/7/base/packages/vim-8.rpm", ("package-cache", "yum", "/var/cache/yum")),
    ("var/cache/debconf/config.dat", None),
    ("var/lib/dpkg/status", None),
    ("root/.cache/pip/http/a/b", ("package-cache", "pip", "/root/.cache/pip")),
    ("home/app/.cache/pip/wheels/x.whl", ("package-cache", "pip", "/home/app/.cache/pip")),
    (".cache/pip/x", ("package-cache", "pip", "/.cache/pip")),  # HOME=/
    ("root/.npm/_cacache/content-v2/x", ("package-cache", "npm", "/root/.npm")),
    ("root/.cache/yarn/v6/x", ("package-cache", "yarn", "/root/.cache/yarn")),
    ("usr/local/share/.cache/yarn/v6/x", ("package-cache", "yarn", "/usr/local/share/.cache/yarn")),
    ("root/.cargo/registry/cache/x.crate", ("package-cache", "cargo", "/root/.cargo/registry")),
    ("root/.cargo/git/db/x", ("package-cache", "cargo", "/root/.cargo/git")),
    ("root/.cargo/bin/cargo", None),
    ("root/.cache/go-build/ab/x-d", ("package-cache", "go", "/root/.cache/go-build")),
    ("root/.cache/matplotlib/fontlist.json", ("package-cache", "cache", "/root/.cache")),
    ("root/.bashrc", None),
    ("home/app/src/main.go", None),
    ("tmp/x", ("temp-files", "tmp", "/tmp")),
    ("var/tmp/y/z", ("temp-files", "tmp", "/var/tmp")),
    ("srv/repo/.git/objects/ab/cd", ("vcs-metadata", "vcs", "/srv/repo/.git")),
    (".svn/entries", ("vcs-metadata", "vcs", "/.svn")),
    ("a/.hg/store/data", ("vcs-metadata", "vcs", "/a/.hg")),
    ("app/.gitignore", None),
    ("app/x.git/config", None),
    ("usr/lib/python3/__pycache__/a.cpython-311.pyc", None),  # counted only in bulk
])
def test_path_rules(path, want):
    assert classify(path) == want


def test_compiled_python_counts_only_in_bulk(tmp_path):
    pyc = "usr/lib/python3/dist-packages/__pycache__/"
    few = _open(tmp_path, [LayerSpec([F(pyc + "a.cpython-311.pyc", size=1 << 20)], "RUN py3compile")], "few.tar")
    assert _summary(few) == []
    many = _open(tmp_path, [LayerSpec([F("etc/os-release", data=b"ID=x\n")], "ADD base"),
                            LayerSpec([F(pyc + "a.cpython-311.pyc", size=6 << 20),
                                       F(pyc + "b.cpython-311.pyc", size=5 << 20)], "RUN py3compile")], "many.tar")
    assert _summary(many) == [("temp-files", 1, None, 11 << 20, False)]
    f = many.findings()[0]
    assert f.paths == [("/" + pyc + "a.cpython-311.pyc", 6 << 20), ("/" + pyc + "b.cpython-311.pyc", 5 << 20)]
    assert f.fix == ("Layer 1 (RUN py3compile) leaves 2 files of compiled Python in the image: set "
                     "PYTHONDONTWRITEBYTECODE=1 and pip install --no-compile, unless start-up time matters more.")


def test_duplicates_compared_in_place_head_then_whole(tmp_path):
    """Same size and the same first bytes but another last byte is no
    duplicate; a file hardlinked or too small is none either."""
    big = random.Random(3).randbytes(300_000)
    other = big[:-1] + bytes([big[-1] ^ 1])
    a = _open(tmp_path, [LayerSpec([F("opt", "dir"), F("opt/a", data=big), F("opt/b", data=other),
                                    F("opt/small1", data=b"s" * 1000), F("opt/small2", data=b"s" * 1000),
                                    F("opt/link", "hardlink", link="opt/a")], "ADD opt"),
                         LayerSpec([F("srv/c", data=big), F("srv/d", data=other)], "COPY opt /srv")])
    assert _summary(a) == [("duplicate-content", 1, None, 600_000, False)]
    assert a.findings()[0].paths == [("/srv/c", 300_000), ("/srv/d", 300_000)]
    assert "(/srv/c is the same as /opt/a)" in a.findings()[0].fix


def test_duplicates_beyond_the_read_budget_are_not_compared(tmp_path, monkeypatch):
    layers = [LayerSpec([F("opt/a", data=R1), F("opt/b", data=R1)], "ADD opt")]
    monkeypatch.setattr(fmod, "DUPLICATE_READ_BUDGET", 2 * len(R1) - 1)
    assert _summary(_open(tmp_path, layers, "low.tar")) == []
    monkeypatch.setattr(fmod, "DUPLICATE_READ_BUDGET", 2 * len(R1))
    assert _summary(_open(tmp_path, layers, "enough.tar")) == [("duplicate-content", 0, None, 20_000, True)]


def test_duplicates_by_digest_in_compressed_layers(tmp_path):
    a = _open(tmp_path, [LayerSpec([F("opt/a", data=R1), F("opt/c", data=R2)], "ADD opt", compression="gzip"),
                         LayerSpec([F("srv/b", data=R1), F("srv/d", data=R1[::-1])], "COPY", compression="gzip")],
              "gz.tar", layout="oci")
    assert all(l.entries.digests for l in a.layers)  # what the finding is read from
    assert _summary(a) == [("duplicate-content", 1, None, 20_000, False)]
    assert a.findings()[0].paths == [("/srv/b", 20_000)]


def test_a_copy_replaced_by_a_link_or_a_directory_was_deleted(tmp_path):
    a = _open(tmp_path, [LayerSpec([F("opt/a", data=b"a" * 10), F("opt/b", data=b"b" * 20),
                                    F("opt/c/x", data=b"x" * 40)], "ADD opt"),
                         LayerSpec([F("opt/a", "symlink", link="b"), F("opt/b", "dir"), F("opt/c", data=b"c")],
                                   "RUN relink")])
    assert _summary(a) == [("deleted-later", 0, 1, 70, True)]
    assert a.findings()[0].paths == [("/opt/c/x", 40), ("/opt/b", 20), ("/opt/a", 10)]


def _random_layer(rng: random.Random, n: int) -> LayerSpec:
    names = ["d1/a", "d1/b", "d1/sub/c", "d2/a", "d2/b", "tmp/t", "e"]
    contents = [b"x" * 30, b"y" * 30, b"z" * 7, random.Random(9).randbytes(20_000)]
    entries: dict[str, F] = {}
    for _ in range(rng.randint(1, 6)):
        op = rng.random()
        p = rng.choice(names)
        if op < 0.45:
            entries[p] = F(p, data=rng.choice(contents), mode=rng.choice([0o644, 0o600]))
        elif op < 0.6:
            entries[p + "?w"] = F(p, "whiteout")
        elif op < 0.7:
            d = rng.choice(["d1", "d2", "d1/sub"])
            entries[d + "?w"] = F(d, "whiteout")
        elif op < 0.8:
            d = rng.choice(["d1", "d2"])
            entries[d + "?o"] = F(d, "opaque")
        elif op < 0.9:
            entries[p] = F(p, "symlink", link="elsewhere")
        else:
            d = rng.choice(["d1/sub", "d2"])
            entries[d] = F(d, data=rng.choice(contents))
    return LayerSpec(list(entries.values()), f"RUN step {n}")


@pytest.mark.parametrize("seed", range(12))
def test_no_byte_is_in_two_findings_and_hidden_copies_add_up_to_the_waste(tmp_path, seed):
    rng = random.Random(seed)
    a = _open(tmp_path, [_random_layer(rng, n) for n in range(rng.randint(2, 6))])
    found = a.findings()
    seen = [(f.layer, p) for f in found for p, _ in f.paths]
    assert len(seen) == len(set(seen))  # one stored copy is in at most one finding
    assert all(f.bytes == sum(n for _, n in f.paths) > 0 for f in found)
    hidden = [f for f in found if f.kind in HIDDEN_KINDS]
    assert sum(f.bytes for f in hidden) == a.waste.wasted_bytes
    want = {(L, "/" + a.layers[L].entries.paths[i]) for L, i in a.waste.hidden_files()}
    assert {(f.layer, p) for f in hidden for p, _ in f.paths} == want
    assert all(f.fixed_by is not None and f.fixed_by >= f.layer for f in hidden)
    assert sum(f.bytes for f in found) <= a.waste.size
    assert [f.bytes for f in found] == sorted((f.bytes for f in found), reverse=True)


# -- a big image, in memory -----------------------------------------------------------
def _digest(*parts) -> bytes:
    return hashlib.blake2b(repr(parts).encode(), digest_size=DIGEST_SIZE).digest()


def _mem_analysis(layers: list[tuple[str, list[tuple]]]):
    """An indexed image without blobs: (created_by, [(path, type, size, mode,
    content key)]) per layer; content digests as a hashing index keeps them,
    so neither the change kinds nor duplicates need to read a byte."""
    out = []
    for k, (_, ents) in enumerate(layers):
        e = LayerEntries()
        for n, (path, typ, size, mode, key) in enumerate(ents):
            e.append(path, typ, size, mode, 0, 0, 0, None, 512 * n)  # offsets: where each file's bytes would be
            e.digests += _digest(key) if typ == FILE else bytes(DIGEST_SIZE)
        d = f"sha256:{k + 1:064x}"
        out.append(Layer(key=d, digest=d, diff_id=d, media_type="", compressed_size=0, blob=None,
                         compression="gzip", entries=e))
    im = Image(refs=["big:1"], digest="sha256:" + "ab" * 32, config_digest="sha256:" + "cd" * 32,
               platform=Platform("linux", "amd64"), config={}, raw_config={}, layers=out,
               history=[HistoryStep(cb, layer_index=k) for k, (cb, _) in enumerate(layers)], history_mapped=True)
    for layer in out:
        layer.images.append(im)
    return analyse(LayerGraph(images=[im], layers={l.key: l for l in out}, sources=["<memory>"]), im)


def test_findings_of_a_200k_entry_image():
    """The hidden-copy kinds over tens of thousands of copies, caches and
    temporary files by the ten thousand: exact bytes (how long it takes is
    measured by hand: bench/RESULTS.md)."""
    def size(k, j):
        return 100 + (k * 1000 + j) % 97

    rootfs = [("usr", DIR, 0, 0o755, None), ("usr/lib", DIR, 0, 0o755, None)]
    for k in range(120):
        rootfs.append((f"usr/lib/p{k}", DIR, 0, 0o755, None))
        rootfs += [(f"usr/lib/p{k}/f{j}", FILE, size(k, j), 0o644, (k, j)) for j in range(1000)]
    chmod = [(f"usr/lib/p{k}/f{j}", FILE, size(k, j), 0o664, (k, j)) for k in range(20) for j in range(1000)]
    upgrade = [(f"usr/lib/p{k}/f{j}", FILE, size(k, j), 0o644, (k, j, 1)) for k in range(20, 40) for j in range(1000)]
    cleanup = [(f"usr/lib/p{k}", WHITEOUT, 0, 0, None) for k in range(40, 60)]
    cleanup += [(f"usr/lib/p{k}/f{j}", FILE, size(k, j), 0o644, (k, j)) for k in range(60, 70) for j in range(1000)]
    build = [(f"root/.cache/pip/h{j}", FILE, 1000, 0o644, ("pip", j)) for j in range(10_000)]
    build += [(f"tmp/t{j}", FILE, 10, 0o644, ("tmp", j)) for j in range(10_000)]
    build += [(f"app/.git/objects/o{j}", FILE, 100, 0o644, ("git", j)) for j in range(10_000)]
    build += [(f"usr/share/big{j}", FILE, 50_000, 0o644, "same") for j in range(10)]
    a = _mem_analysis([("ADD rootfs.tar /", rootfs), ("RUN chmod -R g+w /usr/lib", chmod),
                       ("RUN upgrade", upgrade), ("RUN rm -rf /usr/lib/p4* /usr/lib/p5* && reinstall", cleanup),
                       ("RUN build", build)])
    assert sum(len(l.entries) for l in a.layers) == 200_152

    def total(ks):
        return sum(size(k, j) for k in ks for j in range(1000))

    assert _summary(a) == sorted([
        ("package-cache", 4, None, 10_000_000, False),
        ("metadata-copy-up", 0, 1, total(range(20)), True),
        ("rewritten", 0, 2, total(range(20, 40)), True),
        ("deleted-later", 0, 3, total(range(40, 60)), True),
        ("identical-copy", 0, 3, total(range(60, 70)), True),
        ("vcs-metadata", 4, None, 1_000_000, False),
        ("duplicate-content", 4, None, 450_000, False),
        ("temp-files", 4, None, 100_000, False),
    ], key=lambda t: -t[3])
    assert sum(f.bytes for f in a.findings() if f.kind in HIDDEN_KINDS) == a.waste.wasted_bytes
    f = a.findings()[0]
    assert len(f.paths) == 10_000 and f.paths[:2] == [("/root/.cache/pip/h0", 1000), ("/root/.cache/pip/h1", 1000)]


def test_findings_are_cached_with_the_merge_and_checked_when_read(tmp_path, monkeypatch):
    from layerscope.layers import cache

    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "ANALYSIS_MIN_ENTRIES", 0)
    p = tmp_path / "img.tar"
    write_archive(str(p), [ImageSpec(_every_kind_layers())], "docker-legacy")

    def fresh(base=None):
        g = loaded(p)
        return analyse(g, g.images[0], base)

    first = fresh().findings()
    calls = []
    real = fmod.compute_findings
    monkeypatch.setattr(fmod, "compute_findings", lambda a: calls.append(1) or real(a))
    again = fresh().findings()
    assert calls == [] and [vars_of(f) for f in again] == [vars_of(f) for f in first]
    # another base is another key: its base flags and fixes differ
    other = fresh(0).findings()
    assert calls == [1] and not any(f.base for f in other)
    # a stored state that is not what the image holds is not believed: found again
    good = fmod.to_state(first)
    dup = next(k for k, f in enumerate(first) if f.kind == "duplicate-content")
    hid = next(k for k, f in enumerate(first) if f.kind == "deleted-later")
    for n, (k, field, value) in enumerate([(0, 3, good[0][3] + 1), (hid, 4, good[hid][4] + "x"),
                                           (dup, 6, good[dup][6] + "x"), (hid, 2, None)]):
        bad = list(good)
        bad[k] = bad[k][:field] + (value,) + bad[k][field + 1:]
        a = fresh()
        cache.store_analysis(a.layers, bad, "findings", fmod.cache_extra(a))
        assert [vars_of(f) for f in a.findings()] == [vars_of(f) for f in first] and len(calls) == n + 2


def vars_of(f):
    return {k: getattr(f, k) for k in f.__slots__}
