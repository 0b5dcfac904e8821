"""The byte ledger and the what-ifs (analysis/ledger.py): every layer's tar
splits exactly into its columns, checked against Python's tarfile over the
same tar; a path stored twice in one tar is counted (waste, finding,
ledger); squash and "apply all fixes" save exactly the bytes named, and
their compressed estimate is checked against a real recompression."""

from __future__ import annotations

import io
import random
import tarfile

import pytest

from layerscope.analysis import analyse
from layerscope.analysis.findings import HIDDEN_KINDS, STORED_TWICE
from layerscope.analysis.ledger import COLUMNS, squash, squash_runs
from layerscope.formats.source import open_graph
from layerscope.layers.indexing import index_layers
from layerscope.testing.synth import F, ImageSpec, LayerSpec, layer_blob, layer_tar_bytes, write_archive
from tests.helpers import loaded

# what a layer's text compresses like: words of a small vocabulary, so that every file of a layer
# compresses about as well as the rest of it
_VOCAB = [bytes(random.Random(n).choices(b"abcdefghijklmnopqrstuvwxyz", k=random.Random(n).randint(2, 9)))
          for n in range(400)]


def text(seed: int, n: int) -> bytes:
    rnd = random.Random(seed)
    out = bytearray()
    while len(out) < n:
        out += rnd.choice(_VOCAB) + (b"\n" if rnd.random() < 0.1 else b" ")
    return bytes(out[:n])


# the tolerance the README states for the compressed estimate
ESTIMATE_TOLERANCE = 0.15


def _layers(compression="none"):
    return [
        LayerSpec([F("etc", "dir"), F("etc/os-release", data=b"ID=demo\n"), F("usr", "dir"),
                   F("usr/lib", "dir"), F("usr/lib/libbig.so", data=text(1, 60_000)),
                   F("usr/lib/libold.so", data=text(2, 30_000))], created_by="ADD rootfs.tar /",
                  compression=compression),
        LayerSpec([F("app", "dir"), F("app/data.txt", data=text(3, 50_000)), F("app/cache.bin", data=text(4, 40_000)),
                   F("app/tool", data=text(5, 20_000), mode=0o644),
                   F("a" * 150 + "/long-name.txt", data=text(6, 3000))],  # a PAX record's worth of header
                  created_by="/bin/sh -c make", compression=compression),
        LayerSpec([F("app", "dir"), F("app/data.txt", data=text(7, 45_000)), F("app/cache.bin", "whiteout"),
                   F("app/tool", data=text(5, 20_000), mode=0o755), F("usr", "dir"), F("usr/lib", "dir"),
                   F("usr/lib/libold.so", "whiteout")],
                  created_by="/bin/sh -c make install && rm app/cache.bin && chmod +x app/tool",
                  compression=compression),
        LayerSpec([F("srv", "dir"), F("srv/x.log", data=text(8, 10_000)), F("srv/x.log", data=text(9, 12_000))],
                  created_by="/bin/sh -c tar -rf ...", compression=compression),
    ]


def _open(tmp_path, layers, layout="docker-legacy"):
    p = tmp_path / f"img-{layout}.tar"
    write_archive(str(p), [ImageSpec(layers)], layout)
    g = loaded(p)
    return analyse(g, g.images[0])


def _tarfile_figures(tar: bytes) -> tuple[int, int, dict[str, list[int]]]:
    """(tar length, file bytes, path -> sizes of its regular-file copies in order), by tarfile."""
    files: dict[str, list[int]] = {}
    total = 0
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        for m in t.getmembers():
            if m.isreg():
                files.setdefault(m.name.rstrip("/"), []).append(m.size)
                total += m.size
    return len(tar), total, files


@pytest.mark.parametrize("layout,compression", [("docker-legacy", "none"), ("oci", "gzip"), ("oci", "zstd")])
def test_ledger_adds_up_to_each_layer_tar_and_blob(tmp_path, layout, compression):
    specs = _layers(compression)
    a = _open(tmp_path, specs, layout)
    led = a.ledger()
    for L, (row, spec) in enumerate(zip(led.layers, specs)):
        tar = layer_tar_bytes(spec)
        n, file_bytes, _ = _tarfile_figures(tar)
        assert row.index == L
        assert row.uncompressed == n  # the whole tar, end blocks too
        assert row.compressed == len(layer_blob(spec, compression))
        assert row.visible + row.overwritten + row.deleted + row.metadata_only + row.tar_overhead == row.uncompressed
        assert row.visible + row.overwritten + row.deleted + row.metadata_only == file_bytes
        assert row.tar_overhead == n - file_bytes
    t = led.totals
    for k in COLUMNS:
        assert getattr(t, k) == sum(getattr(r, k) for r in led.layers)
    assert t.compressed == sum(len(layer_blob(s, compression)) for s in specs)
    assert t.overwritten + t.deleted == a.waste.wasted_bytes
    assert t.visible + t.metadata_only == a.waste.visible_size
    # by hand: layer 1's data.txt (50,000) is rewritten by layer 2, cache.bin (40,000) deleted, tool (20,000)
    # only chmod-ed: its lower copy is overwritten, its upper one metadata_only
    r1, r2 = led.layers[1], led.layers[2]
    assert (r1.overwritten, r1.deleted, r1.metadata_only) == (50_000 + 20_000, 40_000, 0)
    assert (r2.visible, r2.metadata_only) == (45_000, 20_000)
    assert led.layers[0].deleted == 30_000


def test_a_path_stored_twice_in_one_tar_is_stored_and_hidden(tmp_path):
    specs = _layers()
    a = _open(tmp_path, specs)
    _, _, files = _tarfile_figures(layer_tar_bytes(specs[3]))
    assert files["srv/x.log"] == [10_000, 12_000]  # tarfile sees both copies
    e = a.layers[3].entries
    assert e.dropped == [("srv/x.log", 10_000)]
    assert a.waste.layer_bytes[3] == 22_000  # the layer's size has both, as dive's does
    assert a.waste.layer_wasted[3] == 10_000
    row = a.ledger().layers[3]
    assert (row.visible, row.overwritten) == (12_000, 10_000)
    twice = [f for f in a.findings() if f.kind == STORED_TWICE]
    assert [(f.layer, f.fixed_by, f.bytes, f.paths) for f in twice] == [(3, 3, 10_000, [("/srv/x.log", 10_000)])]
    assert "twice" in twice[0].fix
    assert sum(f.bytes for f in a.findings() if f.kind in HIDDEN_KINDS) == a.waste.wasted_bytes
    pw = {p.path: p for p in a.waste.paths()}["/srv/x.log"]
    assert pw.wasted_bytes == 10_000
    assert [(c.layer, c.index, c.size, c.state, c.kind) for c in pw.copies] == [
        (3, -1, 10_000, "overwritten", "stored-twice"), (3, e.paths.index("srv/x.log"), 12_000, "visible", "added")]
    ranked = a.waste.ranked()
    row = next(r for r in ranked if r.path == "/srv/x.log")
    assert [(c.layer, c.size, c.kind) for c in row.copies] == [(3, 10_000, "stored-twice"), (3, 12_000, "added")]


def test_stored_twice_survives_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    specs = _layers("gzip")
    p = tmp_path / "img.tar"
    write_archive(str(p), [ImageSpec(specs)], "oci")
    first, again = open_graph([str(p)]), open_graph([str(p)])
    index_layers(first)
    index_layers(again)
    for x, y in zip(first.images[0].layers, again.images[0].layers):
        assert x.entries.dropped == y.entries.dropped
        assert x.uncompressed_size == y.uncompressed_size
    assert again.images[0].layers[3].entries.dropped == [("srv/x.log", 10_000)]


def test_squash_runs_and_exact_savings(tmp_path):
    a = _open(tmp_path, _layers())
    # layer 1's copies are hidden by layer 2; layer 3 hides only its own first copy (no span)
    assert squash_runs(a) == [(1, 2)]
    w = squash(a, 1, 2)
    assert w.change == "squash 1..2"
    assert w.layers == {1: 50_000 + 40_000 + 20_000}
    assert w.uncompressed_saved == 110_000
    assert w.compressed_saved_estimate == 110_000  # plain tars: ratio 1
    # layer 0's copies hidden by layer 2 go too when layer 0 is in the range; layer 3's duplicate too
    assert squash(a, 0, 3).layers == {0: 30_000, 1: 110_000, 3: 10_000}
    changes = [x.change for x in a.what_ifs()]
    assert changes[0] == "squash 1..2" and "apply all fixes" in changes
    assert [x.change for x in a.what_ifs([(2, 3)])][0] == "squash 2..3"


def test_hidden_pairs_are_cached_and_checked_against_the_waste(tmp_path, monkeypatch):
    from layerscope.analysis import ledger
    from layerscope.layers import cache

    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "ANALYSIS_MIN_ENTRIES", 0)
    first = ledger.hidden_pairs(_open(tmp_path, _layers()))
    assert first == {(0, 2, False): 30_000, (1, 2, True): 70_000, (1, 2, False): 40_000}
    a = _open(tmp_path, _layers())
    assert cache.load_analysis(a.layers, lambda layers, v: None, "pairs") == [(L, H, o, n) for (L, H, o), n in
                                                                             first.items()]
    assert ledger.hidden_pairs(a) == first
    # a cached list that does not add up to the waste, or names no layer of the image, is not believed
    for bad in ([(0, 2, False, 30_001), (1, 2, True, 70_000), (1, 2, False, 40_000)],
                [(0, 9, False, 30_000), (1, 2, True, 70_000), (1, 2, False, 40_000)], "x"):
        a = _open(tmp_path, _layers())
        cache.store_analysis(a.layers, bad, "pairs")
        assert ledger.hidden_pairs(a) == first
        assert cache.load_analysis(a.layers, lambda layers, v: None, "pairs") == [(L, H, o, n) for (L, H, o), n in
                                                                                 first.items()]


def _drop(entries: list[F], paths: set[str], first_only: bool = False) -> list[F]:
    """Layer entries without the regular files at `paths` (only their first copy with `first_only`)."""
    out, seen = [], set()
    for f in entries:
        p = f.path.strip("/")
        if f.type == "file" and p in paths and (not first_only or p not in seen):
            seen.add(p)
            continue
        out.append(f)
    return out


def test_compressed_estimate_against_a_real_recompression(tmp_path):
    specs = _layers("gzip")
    a = _open(tmp_path, specs, "oci")
    blob = [len(layer_blob(s, "gzip")) for s in specs]
    # squash 1..2: the layer the squash writes, recompressed, against the two it replaces
    w = squash(a, 1, 2)
    merged = [f for f in specs[2].entries if f.type != "whiteout"]
    kept = {f.path for f in merged}
    merged = [f for f in specs[1].entries if f.path not in kept and f.path != "app/cache.bin"] + merged
    squashed = LayerSpec(merged, compression="gzip")
    real = blob[1] + blob[2] - len(layer_blob(squashed, "gzip"))
    assert abs(w.compressed_saved_estimate - real) <= ESTIMATE_TOLERANCE * real, (w.compressed_saved_estimate, real)
    # apply all fixes: each layer rewritten without the files of its findings
    fixes = next(x for x in a.what_ifs() if x.change == "apply all fixes")
    by_layer: dict[int, set[str]] = {}
    for f in a.findings():
        if not f.base:
            by_layer.setdefault(f.layer, set()).update(p.lstrip("/") for p, _ in f.paths)
    real = 0
    for L, paths in by_layer.items():
        smaller = LayerSpec(_drop(specs[L].entries, paths, first_only=L == 3), compression="gzip")
        real += blob[L] - len(layer_blob(smaller, "gzip"))
    assert fixes.uncompressed_saved == sum(f.bytes for f in a.findings() if not f.base)
    assert abs(fixes.compressed_saved_estimate - real) <= ESTIMATE_TOLERANCE * real, \
        (fixes.compressed_saved_estimate, real)
