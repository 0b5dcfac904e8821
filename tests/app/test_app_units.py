"""Pure helpers of the app (no Textual running): tree rows, filters, fuzzy
search, preview rendering, safe text."""

from __future__ import annotations

import sys
import time

import pytest

from layerscope.analysis import analyse
from layerscope.analysis.tree import S_ADDED, build_changes_tree, build_merged_tree
from layerscope.app.fmt import bar, legend_text, mode_text, short_command
from layerscope.app.pathsearch import PathSearch
from layerscope.app.preview import hex_lines, is_binary, render
from layerscope.app.testing import mem_graph
from layerscope.app.treemodel import TreeRows, change_mask, compile_filter, filter_mask
from layerscope.model import DIR, FILE, SYMLINK


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")


def small():
    g = mem_graph([
        [("etc", DIR, 0), ("etc/passwd", FILE, 300), ("usr", DIR, 0), ("usr/bin", DIR, 0),
         ("usr/bin/ls", FILE, 1000), ("usr/bin/cat", FILE, 500), ("usr/lib", DIR, 0),
         ("usr/lib/libc.so.6", FILE, 40000)],
        [("usr/bin/new", FILE, 10), ("opt/app/main.py", FILE, 70)],
    ])
    return g, analyse(g, g.images[0])


def names(rows: TreeRows) -> list[str]:
    return [rows.tree.path(n) for n in rows.rows]


def test_rows_expand_collapse_and_sort():
    g, a = small()
    t = build_merged_tree(a.stack, a.kinds, 1)
    rows = TreeRows(t)
    assert names(rows) == ["/etc", "/opt", "/usr"]
    assert rows.expand(2)
    assert names(rows) == ["/etc", "/opt", "/usr", "/usr/bin", "/usr/lib"]
    rows.expand(3)
    assert names(rows)[4:7] == ["/usr/bin/cat", "/usr/bin/ls", "/usr/bin/new"]
    assert rows.parent_row(4) == 3
    assert rows.collapse(2)
    assert names(rows) == ["/etc", "/opt", "/usr"]
    rows.expand(2)  # /usr/bin stays expanded underneath
    assert "/usr/bin/ls" in names(rows)
    rows.set_sort("size")
    assert names(rows)[0] == "/usr"  # biggest first
    rows.collapse_all()
    rows.expand_all()
    assert len(rows) == len(t) - 1
    assert rows.reveal(t.find("/opt/app/main.py")) == names(rows).index("/opt/app/main.py")


def test_change_mask_and_only_changed():
    g, a = small()
    t = build_merged_tree(a.stack, a.kinds, 1)
    m = change_mask(t)
    rows = TreeRows(t, keep=m)
    rows.expand_all()
    assert names(rows) == ["/opt", "/opt/app", "/opt/app/main.py", "/usr", "/usr/bin", "/usr/bin/new"]
    assert t.status[t.find("/usr/bin/new")] == S_ADDED


@pytest.mark.parametrize("text,expect", [
    ("*.so*", ["/usr/lib/libc.so.6"]),
    ("passwd", ["/etc/passwd"]),
    ("usr/bin/*", ["/usr/bin/cat", "/usr/bin/ls", "/usr/bin/new"]),
    ("re:^/usr/bin/(ls|cat)$", ["/usr/bin/cat", "/usr/bin/ls"]),
    ("/\\.py$/", ["/opt/app/main.py"]),
])
def test_filters(text, expect):
    g, a = small()
    t = build_merged_tree(a.stack, a.kinds, 1)
    mask, matches = filter_mask(t, compile_filter(text))
    rows = TreeRows(t, keep=mask)
    rows.expand_all()
    leaves = [p for p in names(rows) if not t.is_dir(t.find(p))]
    assert leaves == expect
    assert matches == len(expect)


def test_bad_regex_is_a_readable_error():
    with pytest.raises(ValueError, match="bad regular expression"):
        compile_filter("re:(")
    assert compile_filter("   ") is None


def test_expanding_50000_entries_is_fast():
    g = mem_graph([[("big", DIR, 0)] + [(f"big/f{i:06d}", FILE, i) for i in range(50000)]])
    a = analyse(g, g.images[0])
    t = build_changes_tree(a.stack, a.kinds, 0)
    rows = TreeRows(t)
    t0 = time.perf_counter()
    rows.expand(0)
    took = time.perf_counter() - t0
    assert len(rows) == 50001
    assert took < 1.0
    t0 = time.perf_counter()
    rows.collapse(0)
    assert time.perf_counter() - t0 < 0.2
    assert len(rows) == 1


def test_fuzzy_index():
    g, a = small()
    idx = PathSearch(g.images[0].layers)
    assert idx.search("passwd")[0] == "etc/passwd"
    assert idx.search("usr bin ls")[0] == "usr/bin/ls"
    assert "opt/app/main.py" in idx.search("oapmain")  # subsequence
    assert idx.layers_of("/usr/bin/new") == [1]
    assert idx.last_layer("usr/bin") == 0 or idx.last_layer("usr/bin") == 1
    assert idx.search("") == []


def _many_paths(n: int):
    import random

    from layerscope.model import LayerEntries

    rnd = random.Random(7)
    e = LayerEntries()
    for k in range(n):
        e.append(f"usr/d{rnd.randrange(2000):04d}/sub{rnd.randrange(30)}/file-{k:06d}.txt", FILE, 1, 0o644, 0, 0, 0,
                 None, 0)

    class Layer:
        entries = e

    return PathSearch([Layer()])


def _reference_search(idx, q: str, limit: int = 200) -> list[str]:
    """What the search ranked before it kept only the best `limit` (every substring hit sorted)."""
    q = q.strip().lower().lstrip("/")
    last = q.split()[-1]
    scored = []
    for i, p in enumerate(idx.lower):
        if all(t in p for t in q.split()):
            base = p.rsplit("/", 1)[-1]
            scored.append(((0 if base == last else 1 if base.startswith(last) else 2 if last in base else 3,
                            p.count("/"), len(p)), i))
    scored.sort(key=lambda s: (s[0], idx.paths[s[1]]))
    return [idx.paths[i] for _, i in scored[:limit]]


def test_fuzzy_search_of_many_hits_keeps_the_order_and_lets_the_ui_run():
    import threading
    import time

    idx = _many_paths(300_000)
    for q in ("d", "file-001", "sub1 file-00"):  # each with more substring hits than the 200 kept
        assert idx.search(q) == _reference_search(idx, q)
    # a one-letter query hits every path: its search must not hold the GIL for long
    # (sorting every hit's score was one C call of about a second on a million paths)
    ticks, stop = [], threading.Event()

    def beat():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    old = sys.getswitchinterval()
    sys.setswitchinterval(0.001)  # as the app sets it
    th = threading.Thread(target=beat)
    th.start()
    try:
        idx.search("e")
    finally:
        stop.set()
        th.join()
        sys.setswitchinterval(old)
    assert max(b - a for a, b in zip(ticks, ticks[1:])) < 0.15
    # cancelled: nothing
    assert idx.search("e", cancelled=lambda: True) == []


def test_fuzzy_subsequence_search_of_digit_heavy_paths_takes_no_exponential_time():
    """A long query that a path nearly matches made the lazy subsequence pattern
    backtrack for 70 µs a path and more (89 s over real1m's 1.25 M paths)."""
    import random
    import re

    from layerscope.model import LayerEntries

    rnd = random.Random(3)
    e = LayerEntries()
    for _k in range(20_000):
        p = "srv/" + "/".join(f"d{rnd.randrange(100000):07d}" for _ in range(4)) + f"/f{rnd.randrange(10**6):07d}"
        e.append(p, FILE, 1, 0o644, 0, 0, 0, None, 0)

    class Layer:
        entries = e

    idx = PathSearch([Layer()])
    q = idx.paths[123].rsplit("/", 2)[-2][:9] + "/f0" + idx.paths[123][-4:]  # a directory, then a file's digits
    t = time.perf_counter()
    got = idx.search(q)
    took = time.perf_counter() - t
    # what the lazy pattern alone finds, ranked as the search ranks subsequence matches
    pat = q.lower()
    rx = re.compile(".*?".join(re.escape(c) for c in pat))
    subs = [i for i, p in enumerate(idx.lower[:2000]) if pat not in p and rx.search(p)]
    assert all(idx.paths[i] in got for i in subs[:50])
    assert idx.paths[123] in got
    assert took < 1.0


def test_preview_text_binary_and_escapes():
    lines, kind = render(b"hello\n\x1b[31mred\x1b[0m\tx\n", "a.txt", 22)
    assert kind == "text"
    plain = "\n".join(ln.plain for ln in lines)
    assert "\x1b" not in plain and "\\x1b[31mred" in plain
    assert is_binary(b"\x7fELF\x00\x01")
    lines, kind = render(b"\x7fELF\x00\x01\x02" * 10, "x", 70)
    assert kind == "binary"
    assert lines[0].plain.startswith(" 00000000  7f 45 4c 46")
    assert len(hex_lines(bytes(64), 8)) == 8
    lines, kind = render(b"", "e", 0)
    assert kind == "empty"
    lines, _ = render(b"a" * 10, "t.txt", 1000)
    assert "first 10 of 1,000 bytes" in lines[-1].plain


def test_fmt_helpers():
    assert bar(1.0, 4) == "████"
    assert bar(0.0, 4) == "    "
    assert bar(0.001, 4).strip() == "▏"
    assert mode_text(0o4755, FILE) == "-rwsr-xr-x"
    assert mode_text(0o777, SYMLINK) == "lrwxrwxrwx"
    assert short_command('/bin/sh -c #(nop)  CMD ["sh"]') == 'CMD ["sh"]'
    assert short_command("/bin/sh -c apt-get update &&\n\tapt-get install x") == \
        "RUN apt-get update && apt-get install x"
    assert short_command("x\x1b[2Jy") == "x\\x1b[2Jy"
    assert short_command("/bin/sh -c #(nop) COPY file:" + "ab" * 32 + " in /opt/x") == \
        "COPY file:abababababab… in /opt/x"
    assert "added" in legend_text(False).plain


def _two_sides():
    """Two one-layer in-memory images: etc/a grows, etc/b goes, etc/c comes,
    and a name that looks like markup and escape codes."""
    from layerscope.analysis.diff import diff_images
    from layerscope.analysis.difftree import diff_tree

    ga = mem_graph([[("etc", DIR, 0), ("etc/a", FILE, 10), ("etc/b", FILE, 20), ("opt", DIR, 0)]], "x:1")
    gb = mem_graph([[("etc", DIR, 0), ("etc/a", FILE, 11), ("etc/c", FILE, 5), ("etc/[bold]\x1b[2Jz", FILE, 3),
                     ("opt", DIR, 0)]], "x:2")
    gb.images[0].layers[0].diff_id = "sha256:" + "ee" * 32  # another layer
    gb.images[0].config = {"Cmd": ["run"]}
    d = diff_images(ga, ga.images[0], gb, gb.images[0], hash_contents=False)
    return d, diff_tree(d)


def test_diff_texts():
    from layerscope.app.screens.diff import config_text, layers_text, path_comparison, summary_text

    d, t = _two_sides()
    s = summary_text(d.a_image, d.b_image, d).plain
    assert "A x:1" in s and "B x:2" in s and "≠ different" in s
    assert "2 added · 1 removed · 1 changed (1 content)" in s and "1 config change" in s
    assert "files in the final view 30 B → 19 B (-11 B)" in s and "diverge at 0" in s
    assert "= identical" in summary_text(d.a_image, d.a_image, diff_images_same(d)).plain
    lt = layers_text(d).plain
    assert "- A0" in lt and "+ B0" in lt and "the stacks diverge here" in lt
    ct = config_text(d).plain
    assert "Cmd" in ct and 'B ["run"]' in ct
    import io

    from rich.console import Console

    con = Console(width=100, file=io.StringIO(), color_system=None)
    con.print(path_comparison(t, t.find("/etc/a")))
    out = con.file.getvalue()
    assert "changed: content" in out and "10 B (10 B)" in out and "11 B (11 B)" in out and "Δ size +1 B" in out


def diff_images_same(d):
    from layerscope.analysis.diff import diff_images

    return diff_images(d.a_graph, d.a_image, d.a_graph, d.a_image, hash_contents=False)


def test_diff_tree_rows_render_escaped():
    from layerscope.app.screens.diff import DiffTreeView

    d, t = _two_sides()
    keep = bytearray(map(bool, t.changed))
    rows = TreeRows(t, "delta", keep, set())
    rows.expand_all()
    assert names(rows) == ["/etc", "/etc/b", "/etc/c", "/etc/[bold]\x1b[2Jz", "/etc/a"]  # biggest |Δ| first
    view = DiffTreeView()
    view.model = rows
    plain = [view.render_row(i, 200).plain for i in range(len(rows))]
    assert plain[0].startswith("•") and "-11 B" in plain[0]
    assert plain[1].startswith("-") and plain[1].endswith("b  only in A")
    assert plain[2].startswith("+") and "+5 B" in plain[2]
    assert "[bold]\\x1b[2Jz" in plain[3] and "\x1b" not in plain[3]
    assert plain[4].startswith("~") and "+1 B" in plain[4]


def test_image_labels_and_signed():
    from types import SimpleNamespace as NS

    from layerscope.app.fmt import picker_labels, signed
    from layerscope.model import Platform

    amd, arm = Platform("linux", "amd64"), Platform("linux", "arm64")
    ims = [NS(name="a:1", platform=amd, source="/x/one.tar"), NS(name="a:1", platform=arm, source="/x/one.tar")]
    assert picker_labels(ims) == ["a:1  linux/amd64", "a:1  linux/arm64"]
    ims = [NS(name="a:1", platform=amd, source="/x/one.tar"), NS(name="a:1", platform=amd, source="/y/two/")]
    assert picker_labels(ims) == ["a:1  one.tar", "a:1  two"]
    assert signed(0) == "0 B" and signed(1500) == "+1.5 kB" and signed(-3) == "-3 B"


def test_sharing_marks():
    from types import SimpleNamespace as NS

    from layerscope.app.screens.graph import SharingList

    rows = [NS(positions=[0, 0, None]), NS(positions=[1, None, None]), NS(positions=[None, 1, None]),
            NS(positions=[2, None, 0])]
    lst = SharingList()
    lst.rows, lst.n_images = rows, 3
    lst.spans = [(0, 3), (0, 2), (3, 3)]
    assert [lst.marks(i) for i in range(4)] == [["●0", "●0", ""], ["●1", "│", ""], ["│", "●1", ""],
                                                ["●2", "", "●0"]]


def test_extract_conflict_is_recognised():
    from types import SimpleNamespace as NS

    from layerscope.app.app import in_the_way

    class ExtractError(Exception):
        pass

    class ExtractConflict(ExtractError):
        pass

    assert in_the_way(ExtractConflict("x exists"), NS(ExtractConflict=ExtractConflict))
    assert not in_the_way(ExtractError("x exists (use --force)"), NS(ExtractConflict=ExtractConflict))
    assert in_the_way(ExtractError("x exists (use --force to overwrite)"), NS())  # before the core had it
    assert not in_the_way(ExtractError("outside the folder"), NS())


def test_the_loaded_state_needs_no_textual():
    """state.py is the explorer's model: importable, and testable, without Textual."""
    import subprocess

    code = "import sys, layerscope.app.state; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_middle_cut_keeps_the_tail_that_tells_paths_apart():
    from layerscope.app.fmt import middle_cut

    a = "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"
    b = "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_i18n_Translation-en"
    ca, cb = middle_cut(a, 40), middle_cut(b, 40)
    assert len(ca) == len(cb) == 40 and "…" in ca and ca != cb
    assert ca.endswith("amd64_Packages") and cb.endswith("Translation-en") and ca.startswith("/var/lib/ap")
    assert middle_cut("short", 40) == "short" and middle_cut("abcdefgh", 4) == "abcd"


def test_waste_and_finding_rows_cut_long_paths_in_the_middle():
    from layerscope.analysis.findings import Finding
    from layerscope.analysis.waste import Copy, PathWaste
    from layerscope.app.widgets import FindingList, WasteList

    long = "/usr/share/" + "x" * 200 + "/the-distinguishing-tail.txt"
    w = WasteList()
    w.items = [PathWaste(long, 10, [Copy(0, 0, 10, "deleted", "added", 1)])]
    row = w.render_row(0, 100).plain
    assert "…" in row and "the-distinguishing-tail.txt" in row and "L0 added, deleted at L1" in row
    f = FindingList()
    f.items = [Finding("deleted-later", 0, 1, 10, [(long, 10), ("/b", 1)], False, "fix")]
    row = f.render_row(0, 100).plain
    assert len(row) <= 100 and row.endswith("the-distinguishing-tail.txt +1")
