"""`layerscope diff` and the diff core: layers in common, file changes and
their kinds, config and history changes, the diff tree, exit codes, JSON."""

from __future__ import annotations

import json

import pytest

from layerscope.analysis.diff import ADDED, CHANGED, CONTENT, METADATA, REMOVED, TYPE, diff_images
from layerscope.analysis.difftree import diff_tree
from layerscope.analysis.tree import S_ADDED, S_DELETED, S_METADATA, S_MODIFIED, S_UNCHANGED
from layerscope.cli import main
from layerscope.cli.common import load_sides
from layerscope.errors import ImageError
from layerscope.formats.source import split_spec
from layerscope.testing.synth import EmptyStep, F, ImageSpec, LayerSpec, classic_image, write_archive
from layerscope.views.diff import diff_doc


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")


BASE = LayerSpec([
    F("etc", "dir"),
    F("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n"),
    F("etc/motd", data=b"hello world\n"),  # 12 bytes
    F("bin", "dir"),
    F("bin/tool", data=b"T" * 1000, mode=0o755),
    F("bin/helper", data=b"H" * 300, mode=0o644),
    F("bin/sh-link", "symlink", link="/bin/tool"),
    F("opt", "dir"),
    F("opt/app", "dir"),
    F("opt/app/a.dat", data=b"a" * 400),
    F("opt/app/b.dat", data=b"b" * 600),
    F("srv", data=b"srv-file"),
], created_by="ADD base.tar /")

# B's changes over BASE, one of each kind
CHANGES = LayerSpec([
    F("etc", "dir"),
    F("etc/motd", data=b"HELLO WORLD\n"),  # same size, new content
    F("bin", "dir"),
    F("bin/helper", data=b"H" * 300, mode=0o755),  # chmod only: same bytes
    F("bin/tool", data=b"T" * 1000, mode=0o755),  # identical copy: not a change
    F("bin/sh-link", "symlink", link="/bin/other"),  # new target
    F("bin/new", data=b"N" * 250),  # added
    F("opt", "whiteout"),  # removes opt/ and everything below it (1000 bytes)
    F("srv", "dir"),  # a file became a directory
    F("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"),  # bigger
], created_by="RUN change things")


def _img(layers, tag, **kw):
    return ImageSpec(layers, repo_tags=[tag], **kw)


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    d = tmp_path_factory.mktemp("diff")
    base = _img([BASE, EmptyStep('/bin/sh -c #(nop)  CMD ["sh"]')], "demo:base")
    changed = _img([BASE, CHANGES, EmptyStep('/bin/sh -c #(nop)  CMD ["sh"]')], "demo:changed")
    env2 = _img([BASE, EmptyStep('/bin/sh -c #(nop)  CMD ["sh"]')], "demo:env2",
                env=["PATH=/usr/bin:/bin", "MODE=prod"], labels={"team": "core"}, user="app",
                exposed_ports=["8080/tcp"])
    paths = {}
    paths["one"] = d / "one.tar"
    write_archive(paths["one"], [base, changed, env2], "podman")
    paths["other"] = d / "other.tar"  # the changed image alone, in another layout
    write_archive(paths["other"], [changed], "oci")
    amd = ImageSpec([BASE, LayerSpec([F("bin", "dir"), F("bin/arch", data=b"amd64\n")], "RUN arch")],
                    repo_tags=["multi:1"], architecture="amd64")
    arm = ImageSpec([BASE, LayerSpec([F("bin", "dir"), F("bin/arch", data=b"arm64\n"),
                                      F("bin/extra", data=b"x" * 77)], "RUN arch")],
                    repo_tags=["multi:1"], architecture="arm64", variant="v8")
    paths["multi"] = d / "multi.tar"
    write_archive(paths["multi"], [amd, arm], "oci", multiplatform=True)
    paths["classic"] = d / "classic.tar"
    write_archive(paths["classic"], [classic_image()], "docker-legacy")
    return paths


def _diff(a, b, platform=None):
    ag, ai, bg, bi = load_sides(str(a), str(b), platform, use_cache=False)
    return diff_images(ag, ai, bg, bi)


def _by_path(d):
    return {c.path: c for c in d.changes}


# -- the core ------------------------------------------------------------------


def test_change_kinds(archives):
    one = archives["one"]
    d = _diff(f"{one}@demo:base", f"{one}@demo:changed")
    ch = _by_path(d)
    assert ch["etc/motd"].change == CHANGED and ch["etc/motd"].kind == CONTENT  # same size, hashed
    assert ch["bin/helper"].kind == METADATA
    assert (ch["bin/helper"].a.mode, ch["bin/helper"].b.mode) == (0o644, 0o755)
    assert "bin/tool" not in ch  # an identical copy in another layer is no change
    assert ch["bin/sh-link"].kind == CONTENT
    assert (ch["bin/sh-link"].a.link, ch["bin/sh-link"].b.link) == ("/bin/tool", "/bin/other")
    assert ch["srv"].kind == TYPE
    assert ch["etc/passwd"].kind == CONTENT and ch["etc/passwd"].delta == 37
    assert ch["bin/new"].change == ADDED and ch["bin/new"].size_b == 250
    for p in ("opt", "opt/app", "opt/app/a.dat", "opt/app/b.dat"):
        assert ch[p].change == REMOVED, p
    assert set(ch) == {"etc/motd", "bin/helper", "bin/sh-link", "srv", "etc/passwd", "bin/new",
                       "opt", "opt/app", "opt/app/a.dat", "opt/app/b.dat", "etc", "bin"} - {"etc", "bin"}
    assert d.hashed_pairs == 3  # motd, helper and tool: the same-size pairs
    c = d.counts()
    assert (c[ADDED], c[REMOVED], c[CHANGED]) == (1, 4, 5)
    assert (c[CONTENT], c[METADATA], c[TYPE]) == (3, 1, 1)
    # sizes: -1000 (opt) - 8 (srv file) + 250 (new) + 36 (passwd)
    assert d.size_delta == -1000 - 8 + 250 + 37
    assert d.size_b - d.size_a == d.size_delta
    assert d.directories["opt"].delta == -1000 and d.directories["opt"].removed == 3
    assert d.directories["bin"].delta == 250
    assert (d.directories["bin"].added, d.directories["bin"].changed) == (1, 2)
    assert d.directories[""].delta == d.size_delta
    assert d.top_directories(1)[0].path == "opt"
    assert [c.path for c in d.top_changes(2)] == ["opt/app/b.dat", "opt/app/a.dat"]
    assert not d.identical and d.config == []


def test_layers_in_common(archives):
    one, other = archives["one"], archives["other"]
    d = _diff(f"{one}@demo:base", f"{other}")  # across archives and layouts
    lc = d.layers
    assert lc.common_prefix == 1 and lc.diverge_at == 1
    assert [(s.a_index, s.b_index, s.in_prefix) for s in lc.shared] == [(0, 0, True)]
    assert lc.only_a == [] and [o.index for o in lc.only_b] == [1]
    assert lc.only_b[0].created_by == "RUN change things"
    assert lc.shared_bytes == d.a_image.layers[0].size > 0
    # both archives hold the same changed image: nothing differs
    same = _diff(f"{one}@demo:changed", str(other))
    assert same.identical and same.layers.diverge_at is None and same.layers.common_prefix == 2


def test_out_of_order_layers(tmp_path):
    x = LayerSpec([F("x", data=b"x")], "RUN x")
    y = LayerSpec([F("y", data=b"yy")], "RUN y")
    p = tmp_path / "o.tar"
    write_archive(p, [_img([x, y], "o:xy"), _img([y, x], "o:yx")], "podman")
    d = _diff(f"{p}@o:xy", f"{p}@o:yx")
    lc = d.layers
    assert lc.common_prefix == 0 and lc.diverge_at == 0
    assert sorted((s.a_index, s.b_index) for s in lc.out_of_order) == [(0, 1), (1, 0)]
    assert lc.only_a == [] and lc.only_b == []
    assert d.changes == [] and d.identical  # same merged view, same config
    assert [(h.change, h.index, h.created_by) for h in d.history] == [("added", 0, "RUN y"), ("removed", 1, "RUN y")]


def test_config_only_change(archives, capsys):
    one = archives["one"]
    d = _diff(f"{one}@demo:base", f"{one}@demo:env2")
    assert d.changes == [] and d.layers.diverge_at is None and not d.identical
    got = {(c.field, c.key): (c.a, c.b) for c in d.config}
    assert got == {
        ("Env", "PATH"): ("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "/usr/bin:/bin"),
        ("Env", "MODE"): (None, "prod"),
        ("User", None): (None, "app"),
        ("Labels", "team"): (None, "core"),
        ("ExposedPorts", "8080/tcp"): (None, "8080/tcp"),
    }
    assert [c.change for c in d.config if c.field == "Env"] == ["added", "changed"]
    assert d.history == []
    assert main(["diff", f"{one}@demo:base", f"{one}@demo:env2", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["identical"] is False and doc["changes"] == []
    assert doc["summary"]["size_delta"] == 0
    assert {"field": "User", "key": None, "change": "added", "a": None, "b": "app"} in doc["config"]


def test_identical_image_against_itself(archives, capsys):
    c = archives["classic"]
    assert main(["diff", str(c), str(c)]) == 0
    out = capsys.readouterr().out
    assert "identical" in out
    assert main(["diff", str(c), str(c), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["identical"] is True
    assert doc["changes"] == [] and doc["config"] == [] and doc["history"] == []
    assert doc["layers"]["diverge_at"] is None and doc["layers"]["common_prefix"] == 7
    assert doc["a"]["size"] == doc["b"]["size"] > 0
    assert doc["summary"] == {"added": 0, "removed": 0, "changed": 0, "content": 0, "metadata": 0, "type": 0,
                              "size_a": doc["a"]["size"], "size_b": doc["b"]["size"], "size_delta": 0}


def test_multiplatform(archives, capsys):
    m = archives["multi"]
    d = _diff(f"{m}@linux/amd64", f"{m}@linux/arm64")
    assert str(d.a_image.platform) == "linux/amd64" and str(d.b_image.platform) == "linux/arm64/v8"
    assert ("platform", None, "linux/amd64", "linux/arm64/v8") in [(c.field, c.key, c.a, c.b) for c in d.config]
    ch = _by_path(d)
    assert ch["bin/arch"].kind == CONTENT  # same size (6 bytes), different bytes
    assert ch["bin/extra"].change == ADDED
    assert set(ch) == {"bin/arch", "bin/extra"}
    assert d.layers.common_prefix == 1
    # by digest ref, and the CLI
    assert main(["diff", f"{m}@{d.a_image.digest}", f"{m}@linux/arm64", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["a"]["platform"] == "linux/amd64" and doc["b"]["platform"] == "linux/arm64/v8"
    assert doc["summary"]["added"] == 1 and doc["summary"]["size_delta"] == 77
    # --platform picks the same platform on both sides: identical
    assert main(["diff", str(m), str(m), "--platform", "linux/arm64"]) == 0
    capsys.readouterr()
    assert main(["diff", str(m), str(m), "--platform", "windows/amd64"]) == 2
    assert "no image for platform" in capsys.readouterr().err


def test_cli_report_and_json(archives, capsys):
    one = archives["one"]
    assert main(["diff", f"{one}@demo:base", f"{one}@demo:changed", "--top", "5"]) == 1
    out = capsys.readouterr().out
    assert "1 added, 4 removed, 5 changed (3 content, 1 metadata-only, 1 type), size -721 B; same config" in out
    assert "Changed paths (biggest 5 of 10)" in out
    assert "/opt/app/b.dat" in out and "/srv" in out and "/bin/helper" not in out  # the top 5 by bytes
    assert main(["diff", f"{one}@demo:base", f"{one}@demo:changed"]) == 1
    out = capsys.readouterr().out
    assert "metadata-only 0644→0755" in out and "type file→dir" in out
    assert "/bin/sh-link -> /bin/other" in out
    assert main(["diff", f"{one}@demo:base", f"{one}@demo:changed", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"identical", "a", "b", "layers", "summary", "changes", "directories", "config",
                        "history", "warnings", "packages"}
    assert doc["a"]["ref"] == "demo:base" and doc["b"]["ref"] == "demo:changed"
    rows = {c["path"]: c for c in doc["changes"]}
    assert len(rows) == 10
    assert rows["/bin/helper"] == {"path": "/bin/helper", "change": "changed", "kind": "metadata-only",
                                   "type_a": "file", "type_b": "file", "size_a": 300, "size_b": 300, "delta": 0,
                                   "mode_a": 0o644, "mode_b": 0o755, "uid_a": 0, "uid_b": 0, "gid_a": 0,
                                   "gid_b": 0, "link_a": None, "link_b": None}
    assert rows["/opt/app/a.dat"]["change"] == "removed" and rows["/opt/app/a.dat"]["size_b"] is None
    assert rows["/srv"]["kind"] == "type" and (rows["/srv"]["type_a"], rows["/srv"]["type_b"]) == ("file", "dir")
    dirs = {x["path"]: x for x in doc["directories"]}
    assert dirs["/"] == {"path": "/", "delta": -721, "added": 1, "removed": 4, "changed": 5}
    assert [x["path"] for x in doc["directories"]] == ["/opt", "/opt/app", "/", "/bin", "/etc"]  # by |delta|
    assert [h["change"] for h in doc["history"]] == ["added"]
    assert doc["history"][0]["created_by"] == "RUN change things"
    assert doc["layers"]["only_b"][0]["index"] == 1


def test_errors_exit_2(archives, capsys, tmp_path):
    one = archives["one"]
    assert main(["diff", f"{one}@nope:1", str(one)]) == 2
    err = capsys.readouterr().err
    assert "no image 'nope:1'" in err and "\n" == err[-1] and err.count("\n") == 1
    assert main(["diff", str(tmp_path / "missing.tar"), str(one)]) == 2
    with pytest.raises(ImageError):
        load_sides(f"{one}@linux/s390x", str(one), None, use_cache=False)


def test_split_spec(tmp_path):
    p = tmp_path / "img.tar"
    p.write_bytes(b"")
    assert split_spec(str(p)) == (str(p), None)
    assert split_spec(f"{p}@demo:1") == (str(p), "demo:1")
    assert split_spec(f"{p}@repo@sha256:abcd") == (str(p), "repo@sha256:abcd")
    assert split_spec(f"{p}@sha256:abcd") == (str(p), "sha256:abcd")
    at = tmp_path / "odd@name.tar"
    at.write_bytes(b"")
    assert split_spec(str(at)) == (str(at), None)
    assert split_spec(f"{at}@x:1") == (str(at), "x:1")
    assert split_spec("podman://repo@sha256:abcd") == ("podman://repo@sha256:abcd", None)
    assert split_spec("nowhere.tar@x") == ("nowhere.tar@x", None)


def test_diff_tree(archives):
    one = archives["one"]
    d = _diff(f"{one}@demo:base", f"{one}@demo:changed")
    t = diff_tree(d)
    st = lambda p: t.status[t.find(p)]  # noqa: E731
    assert st("etc/motd") == S_MODIFIED
    assert st("bin/helper") == S_METADATA
    assert st("bin/tool") == S_UNCHANGED
    assert st("bin/new") == S_ADDED
    assert st("srv") == S_MODIFIED and t.is_dir(t.find("srv"))
    assert st("opt") == S_DELETED and st("opt/app/a.dat") == S_DELETED
    # size: the new size, recursive; a removed node shows its old size
    assert t.size(t.find("bin")) == 1000 + 300 + 250
    assert t.size(t.find("opt")) == 1000 and t.delta(t.find("opt")) == -1000
    assert t.size(0) == d.size_b and t.delta(0) == d.size_delta
    assert t.old_size(0) == d.size_a
    assert t.changed_below(t.find("bin")) == 3
    assert t.changed_below(0) == len(d.changes)
    assert [t.name(n) for n in t.children(0)] == ["bin", "etc", "opt", "srv"]
    assert t.name(t.children(0, "delta")[0]) == "opt"
    assert t.name(t.children(0, "size")[0]) == "bin"
    assert t.path(t.find("opt/app/a.dat")) == "/opt/app/a.dat"
    assert t.entry(t.find("opt/app/a.dat")).size == 400  # from A
    assert t.entry(t.find("bin/new")).size == 250  # from B
    assert t.old_entry(t.find("bin/helper")).mode == 0o644 and t.new_entry(t.find("bin/helper")).mode == 0o755
    assert t.change(t.find("bin/helper")).kind == METADATA and t.change(t.find("bin/tool")) is None
    assert t.stack_of(t.find("opt")) is d.a_stack and t.stack_of(t.find("bin")) is d.b_stack
    only = diff_tree(d, changes_only=True)
    assert only.find("bin/tool") is None and only.find("bin/new") is not None
    assert only.find("etc/motd") is not None and only.status[only.find("etc")] == S_UNCHANGED
    assert len(only) == 1 + 12  # root, 10 changes, bin and etc


def test_hash_contents_off_counts_same_size_as_content(archives):
    one = archives["one"]
    ag, ai, bg, bi = load_sides(f"{one}@demo:base", f"{one}@demo:changed", None, use_cache=False)
    d = diff_images(ag, ai, bg, bi, hash_contents=False)
    ch = _by_path(d)
    assert ch["bin/helper"].kind == CONTENT and ch["bin/helper"].meta_changed
    assert ch["bin/tool"].kind == CONTENT  # cannot tell without reading
    assert d.hashed_pairs == 0
    doc = diff_doc(d)
    assert doc["summary"]["content"] == 5


def test_compressed_sides_use_the_digests_taken_while_indexing(tmp_path, monkeypatch):
    """gzip layers of multi-layer images were hashed while they were indexed:
    the diff compares those digests and decodes no layer a second time; a
    layer indexed without them (a one-layer image) is read on demand. The
    verdicts are those of the uncompressed archives."""
    import dataclasses

    import layerscope.analysis.diff as diff_mod

    gz = lambda spec: dataclasses.replace(spec, compression="gzip")  # noqa: E731
    extra = LayerSpec([F("etc", "dir"), F("etc/motd", data=b"HELLO WORLD\n", mode=0o600)], "RUN chmod")
    two = _img([gz(BASE), gz(CHANGES)], "demo:changed")
    three = _img([gz(BASE), gz(CHANGES), gz(extra)], "demo:chmod")
    one = _img([gz(BASE)], "demo:base")
    write_archive(tmp_path / "multi.tar", [two, three], "oci")
    write_archive(tmp_path / "single.tar", [one], "oci")
    read = []
    real = diff_mod.digest_ranges
    monkeypatch.setattr(diff_mod, "digest_ranges", lambda ref, comp, ranges: read.append(comp) or real(ref, comp, ranges))

    d = _diff(f"{tmp_path / 'multi.tar'}@demo:changed", f"{tmp_path / 'multi.tar'}@demo:chmod")
    ch = _by_path(d)
    assert ch["etc/motd"].kind == METADATA and set(ch) == {"etc/motd"}
    assert read == []  # both sides hashed at index time
    d2 = _diff(tmp_path / "single.tar", f"{tmp_path / 'multi.tar'}@demo:changed")
    ch2 = _by_path(d2)
    assert ch2["etc/motd"].kind == CONTENT and ch2["bin/helper"].kind == METADATA and "bin/tool" not in ch2
    assert read == ["gzip"]  # only the one-layer image's layer, once
