"""The OCI layer rules, each on a generated archive: what the merged view is,
what each layer did, what is hidden and what is wasted."""

import pytest

from layerscope.analysis import analyse
from layerscope.formats.source import open_graph
from layerscope.layers.indexing import index_layers
from layerscope.testing.synth import EmptyStep, F, ImageSpec, LayerSpec, write_archive


def build(tmp_path, *layers, layout="docker-legacy", compression="none", name="img.tar", base=None):
    specs = [l if isinstance(l, EmptyStep) else LayerSpec(list(l), created_by=f"step {n}", compression=compression)
             for n, l in enumerate(layers)]
    p = tmp_path / name
    write_archive(str(p), [ImageSpec(specs)], layout=layout)
    g = open_graph([str(p)])
    index_layers(g, use_cache=False)
    for l in g.images[0].layers:
        assert l.error is None, l.error
    return analyse(g, g.images[0], base)


def view(a, N=None):
    """{path: (type, size, layer)} of the merged view at layer N (default top)."""
    N = a.stack.n - 1 if N is None else N
    out = {}
    for p, l, i in a.stack.visible_at(N):
        if i < 0:
            out["/" + p] = ("dir", 0, l)
        else:
            e = a.layers[l].entries.entry(i)
            out["/" + p] = (e.type_name, e.size, l)
    return out


def d(p, **kw):
    return F(p, "dir", **kw)


def f(p, data=b"x", **kw):
    return F(p, "file", data=data, **kw)


def test_whiteout_removes_file_and_directory_subtree(tmp_path):
    a = build(tmp_path,
              [d("a"), f("a/one", b"1" * 10), d("a/sub"), f("a/sub/two", b"2" * 20), f("keep", b"k")],
              [F("a/sub", "whiteout"), F("keep", "whiteout"), F("never-existed", "whiteout")])
    v = view(a)
    assert set(v) == {"/a", "/a/one"}
    # the merged view at layer 0 still has everything
    assert set(view(a, 0)) == {"/a", "/a/one", "/a/sub", "/a/sub/two", "/keep"}
    added, modified, deleted = a.counts(1)
    assert (added, modified, deleted) == (0, 0, 2)  # the no-op marker deletes nothing
    assert a.totals()["wasted_bytes"] == 20 + 1
    st = a.stack
    from layerscope.analysis.stack import DELETES, NOOP
    e1 = a.layers[1].entries
    changes = {e1.paths[i]: st.change[1][i] for i in range(len(e1))}
    assert changes == {"a/sub": DELETES, "keep": DELETES, "never-existed": NOOP}


def test_opaque_dir_hides_lower_children_keeps_its_own(tmp_path):
    a = build(tmp_path,
              [d("etc"), d("etc/app"), f("etc/app/old.conf", b"o" * 100), d("etc/app/conf.d"),
               f("etc/app/conf.d/x", b"x" * 7)],
              [d("etc/app"), F("etc/app", "opaque"), f("etc/app/new.conf", b"n" * 5)])
    v = view(a)
    assert set(v) == {"/etc", "/etc/app", "/etc/app/new.conf"}
    assert v["/etc/app"][2] == 1
    assert a.totals()["wasted_bytes"] == 107  # dive ignores opaque dirs and reports 0 here
    dels = sorted(x.path for x in a.stack.deletions[1])
    assert dels == ["etc/app/conf.d", "etc/app/old.conf"]


def test_file_replacing_directory_and_back(tmp_path):
    a = build(tmp_path,
              [d("x"), f("x/a", b"a" * 3), f("y", b"y" * 4)],
              [f("x", b"now a file")],
              [d("y"), f("y/inside", b"i")])
    v = view(a)
    assert v["/x"] == ("file", 10, 1)
    assert "/x/a" not in v
    assert v["/y"] == ("dir", 0, 2)
    assert v["/y/inside"] == ("file", 1, 2)
    w = {p.path: p for p in a.waste.paths()}
    assert w["/x/a"].copies[0].state == "deleted"
    assert w["/y"].copies[0].state == "overwritten"


def test_whiteout_and_readd_in_one_layer_yields_new_entry(tmp_path):
    a = build(tmp_path,
              [d("cache"), f("cache/big", b"b" * 50), f("conf", b"old")],
              [F("cache", "whiteout"), d("cache"), f("cache/small", b"s"), F("conf", "whiteout"), f("conf", b"new!")])
    v = view(a)
    assert set(v) == {"/cache", "/cache/small", "/conf"}
    assert v["/conf"] == ("file", 4, 1)
    assert a.totals()["wasted_bytes"] == 50 + 3


def test_implied_parent_directories(tmp_path):
    a = build(tmp_path, [f("usr/local/bin/tool", b"t")])
    v = view(a)
    assert v["/usr"] == ("dir", 0, 0)
    assert v["/usr/local/bin"] == ("dir", 0, 0)
    assert v["/usr/local/bin/tool"] == ("file", 1, 0)


def test_non_directory_in_the_way_of_an_implied_parent_is_replaced(tmp_path):
    a = build(tmp_path, [F("lib", "symlink", link="usr/lib")], [f("lib/x.so", b"so")])
    v = view(a)
    assert v["/lib"] == ("dir", 0, 1)
    assert v["/lib/x.so"] == ("file", 2, 1)


def test_duplicate_entries_in_one_layer_last_wins(tmp_path):
    a = build(tmp_path, [f("dup", b"first"), f("dup", b"second!", mode=0o600)])
    e = a.layers[0].entries
    assert e.paths.count("dup") == 1
    i = e.paths.index("dup")
    assert e.sizes[i] == 7 and e.modes[i] == 0o600
    assert a.read(0, i) == b"second!"


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_change_kinds_content_metadata_duplicate(tmp_path, compression):
    """Uncompressed layers compare copies in place; compressed ones by the
    digests the walker computed while indexing: the same verdicts."""
    a = build(tmp_path,
              [f("content", b"aaaa"), f("chmod", b"same"), f("copy", b"dupe"), f("size", b"1")],
              [f("content", b"bbbb"), f("chmod", b"same", mode=0o755), f("copy", b"dupe"), f("size", b"22")],
              layout="oci", compression=compression)
    kinds = {c.layer: c.kind for w in a.waste.paths() for c in w.copies if w.path == "/chmod"}
    assert kinds == {0: "added", 1: "metadata-only"}
    by_path = {w.path: [c.kind for c in w.copies] for w in a.waste.paths()}
    assert by_path == {"/content": ["added", "modified"], "/chmod": ["added", "metadata-only"],
                       "/copy": ["added", "duplicate"], "/size": ["added", "modified"]}
    assert a.counts(1) == (0, 4, 0)
    # same-size pairs are hashed; different sizes never are
    assert a.kinds.hashed_pairs == 3
    e0, e1 = a.layers[0].entries, a.layers[1].entries
    if compression == "none":
        assert not e0.digests  # compared in place, never hashed
    else:
        from blake3 import blake3

        for e in (e0, e1):
            for i, p in enumerate(e.paths):
                want = blake3(a.read(0 if e is e0 else 1, i)).digest(16)
                assert e.digest(i) == want, p
        assert e0.digest(e0.paths.index("copy")) == e1.digest(e1.paths.index("copy"))
        assert e0.digest(e0.paths.index("content")) != e1.digest(e1.paths.index("content"))


def test_digests_only_where_pairs_can_exist(tmp_path):
    """A one-layer image has no copy-up pairs: its layer is not hashed."""
    a = build(tmp_path, [f("a", b"1234"), f("b", b"5678")], layout="oci", compression="gzip")
    assert not a.layers[0].entries.digests
    a2 = build(tmp_path, [f("a", b"1234")], [f("a", b"1234", mode=0o600)], layout="oci", compression="gzip",
               name="two.tar")
    assert a2.layers[0].entries.digest(0) == a2.layers[1].entries.digest(0) is not None
    assert a2.kinds.hashed_pairs == 1 and a2.counts(1) == (0, 1, 0)


def test_same_size_change_in_mixed_layers(tmp_path):
    """A pair across compressed and uncompressed layers (docker 25+ saves can
    mix them) is still decided by content."""
    from layerscope.analysis.changes import CONTENT, METADATA
    specs = [LayerSpec([f("x", b"A" * 5000), f("y", b"B" * 5000)], compression="none"),
             LayerSpec([f("x", b"A" * 4999 + b"Z"), f("y", b"B" * 5000, mode=0o700)], compression="gzip")]
    p = tmp_path / "mixed.tar"
    write_archive(str(p), [ImageSpec(specs)], layout="oci")
    g = open_graph([str(p)])
    index_layers(g, use_cache=False)
    assert [l.compression for l in g.images[0].layers] == ["none", "gzip"]
    a = analyse(g, g.images[0])
    k1 = a.kinds.kind[1]
    e1 = a.layers[1].entries
    assert k1[e1.paths.index("x")] == CONTENT and k1[e1.paths.index("y")] == METADATA


def test_os_release_is_kept_while_indexing(tmp_path):
    """os-release (small, always read by the report) is kept from the index
    walk, so a compressed base layer is not decoded twice for it."""
    text = b'PRETTY_NAME="Testix 1"\nID=testix\n'
    a = build(tmp_path, [d("etc"), d("usr"), d("usr/lib"), f("usr/lib/os-release", text),
                         F("etc/os-release", "symlink", link="../usr/lib/os-release")],
              layout="oci", compression="gzip")
    e = a.layers[0].entries
    assert e.captured == {e.paths.index("usr/lib/os-release"): text}
    assert a.os_release()["ID"] == "testix"


def test_history_and_shadows_of_a_path(tmp_path):
    a = build(tmp_path,
              [d("etc"), f("etc/motd", b"hello")],
              [f("etc/motd", b"hello", mode=0o600)],
              [F("etc/motd", "whiteout")],
              [f("etc/motd", b"back again")])
    events = [(e.layer, e.action) for e in a.history("/etc/motd")]
    assert events == [(0, "added"), (1, "metadata-only"), (2, "deleted"), (3, "added")]
    shadows = [(s.layer, s.hidden_at, s.how, s.bytes) for s in a.shadows("/etc/motd")]
    assert shadows == [(0, 1, "overwritten", 5), (1, 2, "whiteout", 5)]


def test_history_shows_deletion_by_an_ancestor(tmp_path):
    a = build(tmp_path, [d("var"), d("var/cache"), f("var/cache/pkg.deb", b"d" * 9)], [F("var/cache", "whiteout")])
    assert [(e.layer, e.action, e.detail) for e in a.history("/var/cache/pkg.deb")] == [
        (0, "added", ""), (1, "deleted", "whiteout")]


def test_hardlinks_add_no_bytes_and_keep_their_inode_visible(tmp_path):
    a = build(tmp_path,
              [f("bin/real", b"r" * 100), F("bin/alias", "hardlink", link="bin/real")],
              [F("bin/real", "whiteout")])
    assert a.waste.layer_bytes[0] == 100
    v = view(a)
    assert "/bin/real" not in v and v["/bin/alias"][0] == "hardlink"
    # the bytes are still reachable through the hardlink: not waste
    assert a.totals()["wasted_bytes"] == 0
    i = a.layers[0].entries.paths.index("bin/alias")
    assert a.read(0, i) == b"r" * 100


def test_waste_never_counts_the_visible_copy_and_base_is_excluded_for_user_waste(tmp_path):
    a = build(tmp_path,
              [f("base.bin", b"B" * 1000)],
              [f("app", b"1" * 300)],
              [f("app", b"2" * 300)],
              [f("app", b"3" * 300), F("base.bin", "whiteout")])
    t = a.totals()
    assert t["size"] == 1000 + 900
    assert t["wasted_bytes"] == 1000 + 600
    assert t["visible_size"] == 300
    assert t["user_wasted_bytes"] == 600  # layer 0 is the base
    assert t["efficiency"] == pytest.approx(300 / 1900)
    a2 = build(tmp_path, [f("base.bin", b"B" * 1000)], [f("app", b"1" * 300)], [f("app", b"2" * 300)],
               name="b.tar", base=2)
    assert a2.totals()["user_wasted_bytes"] == 0  # the only waste is in the base's layers


def test_empty_steps_and_history_mapping(tmp_path):
    a = build(tmp_path, [f("a")], EmptyStep("/bin/sh -c #(nop)  ENV X=1"), [f("b")])
    rows = a.layer_rows()
    assert [(r.index, r.created_by) for r in rows] == [(0, "step 0"), (None, "/bin/sh -c #(nop)  ENV X=1"),
                                                      (1, "step 2")]
    assert a.image.history_mapped


def test_no_layers_is_fully_efficient(tmp_path):
    a = build(tmp_path, [])
    assert a.totals()["efficiency"] == 1.0
    assert a.totals()["size"] == 0


def test_merged_view_at_every_layer(tmp_path):
    a = build(tmp_path, [f("a", b"1")], [f("b", b"2")], [F("a", "whiteout")], [f("a", b"333")])
    assert set(view(a, 0)) == {"/a"}
    assert set(view(a, 1)) == {"/a", "/b"}
    assert set(view(a, 2)) == {"/b"}
    assert view(a, 3)["/a"] == ("file", 3, 3)


def test_history_command(tmp_path, capsys):
    import json

    from layerscope.cli import main

    p = tmp_path / "h.tar"
    write_archive(str(p), [ImageSpec([LayerSpec([d("etc"), f("etc/motd", b"hello")]),
                                      LayerSpec([f("etc/motd", b"hello", mode=0o600)]),
                                      LayerSpec([d("etc"), F("etc", "opaque"), f("etc/new", b"n")])])],
                  layout="docker-legacy")
    assert main(["history", str(p), "/etc/motd", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["visible"] is None
    assert [(e["layer"], e["action"]) for e in doc["events"]] == [(0, "added"), (1, "metadata-only"),
                                                                 (2, "deleted")]
    assert [(h["layer"], h["hidden_at"], h["how"], h["wasted_bytes"]) for h in doc["hidden"]] == [
        (0, 1, "overwritten", 5), (1, 2, "opaque dir", 5)]
    assert main(["history", str(p), "/etc"]) == 0
    out = capsys.readouterr().out
    assert "emptied" in out and "visible: the copy from layer 2" in out
    assert main(["history", str(p), "/nope"]) == 2
    assert "no layer of the image touches '/nope'" in capsys.readouterr().err


def test_ls_changes_lists_implied_parents_only_where_the_layer_made_them(tmp_path, capsys):
    import json

    from layerscope.cli import main

    p = tmp_path / "i.tar"
    write_archive(str(p), [ImageSpec([LayerSpec([d("usr"), f("usr/a", b"a")]),
                                      LayerSpec([f("usr/lib/deep/x.so", b"x")])])], layout="docker-legacy")
    assert main(["ls", str(p), "--layer", "1", "--changes", "--json"]) == 0
    rows = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [(r["path"], r["change"], r.get("implied", False)) for r in rows] == [
        ("/usr/lib", "added", True), ("/usr/lib/deep", "added", True), ("/usr/lib/deep/x.so", "added", False)]


def test_ranked_waste_equals_paths(tmp_path):
    """The app's lazily made waste rows are the report's rows, in the same order."""
    a = build(tmp_path,
              [f("a", b"1" * 30), f("b", b"2" * 30), f("c", b"3" * 10), d("dir"), f("dir/x", b"x" * 50)],
              [f("a", b"1" * 30, mode=0o600), F("b", "whiteout"), f("c", b"4" * 10), F("dir", "whiteout")],
              [f("a", b"9" * 31)])
    r = a.waste.ranked()
    full = a.waste.paths()
    assert len(r) == len(full) == 4
    assert [w.path for w in r] == ["/a", "/dir/x", "/b", "/c"]  # 60, 50, 30, 10 bytes; ties by path
    assert list(r) == full and r[-1] == full[-1] and r[1:3] == full[1:3]
    assert [(c.layer, c.state, c.kind) for c in r[0].copies] == [
        (0, "overwritten", "added"), (1, "overwritten", "metadata-only"), (2, "visible", "modified")]
    with pytest.raises(IndexError):
        r[4]
