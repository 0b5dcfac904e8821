"""Pilot tests of the comparison (diff) screen and the layer graph: two
archives open the diff, identical images say so, a second image of a
multi-image archive can be picked, the graph draws shared layers once."""

from __future__ import annotations

import pytest

from layerscope.analysis.tree import S_ADDED, S_DELETED, S_METADATA, S_MODIFIED, S_UNCHANGED
from layerscope.app import LayerscopeApp
from layerscope.app.screens.dialogs import KEYS, CompareScreen, HelpScreen
from layerscope.app.screens.diff import DiffScreen, DiffTreeView
from layerscope.app.screens.graph import GraphScreen, SharingList
from layerscope.app.testing import screen_segments, screen_text
from layerscope.testing.synth import EmptyStep, F, ImageSpec, LayerSpec, write_archive
from tests.app.test_app import CLASSIC, OCI, SHARED, SIZE, layers, need, ready, tree, until

BASE = LayerSpec([
    F("etc", "dir"),
    F("etc/motd", data=b"hello world\n"),
    F("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n"),
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
CHANGES = LayerSpec([
    F("etc", "dir"),
    F("etc/motd", data=b"HELLO WORLD\n"),  # same size, new content
    F("bin", "dir"),
    F("bin/helper", data=b"H" * 300, mode=0o755),  # chmod only
    F("bin/sh-link", "symlink", link="/bin/other"),  # new target
    F("bin/new", data=b"N" * 250),  # added
    F("opt", "whiteout"),  # removes opt/ and what is below (1000 bytes)
    F("srv", "dir"),  # a file became a directory
    F("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"),
    F("d", "dir"),
    F("d/[bold]x", data=b"x"),  # names from the image are data, never markup
    F("d/esc\x1b[31mred", data=b"y"),
], created_by="/bin/sh -c change things [red]loud[/red]")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("appdiff")
    a, b = d / "base.tar", d / "changed.oci.tar"
    write_archive(a, [ImageSpec([BASE, EmptyStep('/bin/sh -c #(nop)  CMD ["sh"]')], repo_tags=["demo:base"])],
                  "docker-legacy")
    write_archive(b, [ImageSpec([BASE, CHANGES, EmptyStep('/bin/sh -c #(nop)  CMD ["app"]')],
                                repo_tags=["demo:changed"], cmd=["app"], env=["PATH=/bin", "MODE=prod"],
                                exposed_ports=["8080/tcp"])], "oci")
    env = d / "env.tar"  # the base image with another config: a config-only change
    write_archive(env, [ImageSpec([BASE, EmptyStep('/bin/sh -c #(nop)  CMD ["sh"]')], repo_tags=["demo:env"],
                                  env=["PATH=/bin", "MODE=prod"], user="app")], "docker-legacy")
    m = d / "multi.tar"
    amd = ImageSpec([BASE, LayerSpec([F("bin", "dir"), F("bin/arch", data=b"amd64\n")], "RUN arch")],
                    repo_tags=["multi:1"], architecture="amd64")
    arm = ImageSpec([BASE, LayerSpec([F("bin", "dir"), F("bin/arch", data=b"arm64\n"),
                                      F("bin/extra", data=b"x" * 77)], "RUN arch")],
                    repo_tags=["multi:1"], architecture="arm64", variant="v8")
    write_archive(m, [amd, arm], "oci", multiplatform=True)
    return {"a": str(a), "b": str(b), "multi": str(m), "env": str(env)}


def diff_screen(app) -> DiffScreen:
    scr = app.screen
    assert isinstance(scr, DiffScreen), type(scr)
    return scr


def dtree(app) -> DiffTreeView:
    return diff_screen(app).query_one("#diff-tree", DiffTreeView)


def diff_ready(app) -> bool:
    scr = app.screen
    if not isinstance(scr, DiffScreen) or scr.diff is None:
        return False
    t = scr.query_one("#diff-tree", DiffTreeView)
    return (t.model is not None and not any(w.group == "difftree" and w.is_running for w in scr.workers)
            and scr._details_timer is None)


async def diff_shown(pilot):
    await until(pilot, lambda: diff_ready(pilot.app), what="the comparison")
    await pilot.pause(0.05)


def diff_paths(app) -> list[str]:
    m = dtree(app).model
    return [m.tree.path(n) for n in m.rows]


def status_of(app, path: str) -> int:
    t = dtree(app).model.tree
    return t.status[t.find(path)]


async def select_diff_path(pilot, path: str):
    app = pilot.app
    t = dtree(app)
    assert t.select_node(t.model.tree.find(path)), path
    t.focus()
    await until(pilot, lambda: diff_screen(app).details_plain().startswith(path + "\n"), what=f"details of {path}")


# ---------------------------------------------------------------------------
async def test_two_archives_open_the_diff(pair):
    app = LayerscopeApp([pair["a"], pair["b"]])
    async with app.run_test(size=SIZE) as pilot:
        await diff_shown(pilot)
        scr = diff_screen(app)
        assert scr.a.name == "demo:base" and scr.b.name == "demo:changed"
        assert scr.a.source == pair["a"] and scr.b.source == pair["b"]
        text = screen_text(app)
        assert "layerscope diff" in text and "demo:base" in text and "demo:changed" in text
        assert "≠ different" in text
        c = scr.diff.counts()
        assert f"{c['added']} added" in text and f"{c['removed']} removed" in text
        assert f"{c['changed']} changed" in text
        assert "1 in common" in text and "diverge at 1" in text
        # statuses: one of each kind, only the changes by default
        assert status_of(app, "/bin/new") == S_ADDED
        assert status_of(app, "/opt") == S_DELETED and status_of(app, "/opt/app/a.dat") == S_DELETED
        assert status_of(app, "/etc/motd") == S_MODIFIED  # same size, other bytes
        assert status_of(app, "/etc/passwd") == S_MODIFIED
        assert status_of(app, "/bin/helper") == S_METADATA
        assert status_of(app, "/srv") == S_MODIFIED and scr.diff and \
            dtree(app).model.tree.change(dtree(app).model.tree.find("/srv")).kind == "type"
        assert "/bin/tool" not in diff_paths(app)  # unchanged: hidden while only changes show
        # the screen: glyphs, sizes, deltas, what each change is
        t = dtree(app)
        rows = {t.model.tree.path(n): t.render_row(i, 200).plain for i, n in enumerate(t.model.rows)}
        assert rows["/bin/new"].startswith("+     250 B") and "+250 B" in rows["/bin/new"]
        assert rows["/opt"].startswith("-    1.0 kB") and "-1.0 kB" in rows["/opt"]
        assert "opt/  only in A" in text
        assert "only in A" not in rows["/opt/app/a.dat"]  # said once, at the root of what went
        assert rows["/bin/helper"].startswith("*") and rows["/bin/helper"].endswith("helper  0644→0755")
        assert rows["/srv"].endswith("srv/  file → dir")
        assert rows["/bin/sh-link"].endswith("sh-link → /bin/other  was → /bin/tool")
        assert rows["/bin"].startswith("•")  # changes inside
        assert "+only in B -only in A" in text
        assert "Files: changes A → B" in text and "only changed" in text
        # details: A against B
        await select_diff_path(pilot, "/bin/helper")
        d = scr.details_plain()
        assert "changed: mode/owner only" in d
        assert "-rw-r--r-- (0644)" in d and "-rwxr-xr-x (0755)" in d
        await select_diff_path(pilot, "/etc/passwd")
        d = scr.details_plain()
        assert "changed: content" in d and "Δ size +" in d
        assert "L0" in d and "L1" in d  # the layer providing each side
        await pilot.press("t", "enter")  # enter on a file: back to its details, nothing else moves
        assert isinstance(app.screen, DiffScreen)
        assert scr.query_one("#diff-side").active == "diff-path-tab"
        assert app.layer_view.query_one("#side").active == "details-tab"
        await select_diff_path(pilot, "/opt/app/b.dat")
        assert "removed: only in A" in scr.details_plain()
        # layers and config tabs
        await pilot.press("t")
        await pilot.pause(0.05)
        text = screen_text(app)
        assert "the stacks diverge" in text and "= L0" in text and "+ B1" in text
        await pilot.press("t")
        await pilot.pause(0.05)
        text = screen_text(app)
        assert "Cmd" in text and '["app"]' in text and "8080/tcp" in text and "MODE" in text
        # names stay literal
        await pilot.press("d")
        text = screen_text(app)
        assert "[bold]x" in text and "esc\\x1b[31mred" in text
        for seg in screen_segments(app):
            assert "\x1b" not in seg.text


async def test_diff_controls_sort_filter_everything_and_back(pair):
    app = LayerscopeApp([pair["a"], pair["b"]])
    async with app.run_test(size=SIZE) as pilot:
        await diff_shown(pilot)
        scr = diff_screen(app)
        t = dtree(app)
        t.focus()
        # collapse / expand, as in the layer view
        await pilot.press("C")
        assert all(d == 0 for d in t.model.depth)
        text = screen_text(app)
        assert "bin/ (4, 3 changed)" in text and "etc/ (2, all changed)" in text
        assert "opt/ (3)  only in A" in text
        await pilot.press("E")
        assert "/opt/app/a.dat" in diff_paths(app)
        row = diff_paths(app).index("/bin")  # the mouse: a click on the arrow closes it
        await pilot.click(DiffTreeView, offset=(t.arrow_x(row) + 1, row - int(t.scroll_y)))
        await pilot.pause(0.05)
        assert "/bin/new" not in diff_paths(app)
        await pilot.press("E")
        # sort: name -> size -> delta
        await pilot.press("s")
        await diff_shown(pilot)
        assert scr.sort == "size" and "sort: size" in screen_text(app)
        await pilot.press("s")
        await diff_shown(pilot)
        assert scr.sort == "delta"
        m = t.model
        top = [n for i, n in enumerate(m.rows) if m.depth[i] == 0]
        deltas = [abs(m.tree.delta(n)) for n in top]
        assert deltas == sorted(deltas, reverse=True)
        await pilot.press("s")
        await diff_shown(pilot)
        assert scr.sort == "name"
        # every path of A and B, changes marked
        await pilot.press("c")
        await diff_shown(pilot)
        assert not scr.only_changed
        t.action_expand_all()
        assert "/bin/tool" in diff_paths(app) and status_of(app, "/bin/tool") == S_UNCHANGED
        assert "A ∪ B" in screen_text(app)
        await pilot.press("c")
        await diff_shown(pilot)
        # filter
        await pilot.press("f")
        scr.query_one("#diff-filter").value = "*.dat"
        await pilot.press("enter")
        await pilot.pause(0.1)
        await diff_shown(pilot)
        leaves = [p for p in diff_paths(app) if p.endswith(".dat")]
        assert leaves == ["/opt/app/a.dat", "/opt/app/b.dat"] and "/bin/new" not in diff_paths(app)
        assert "filter: *.dat" in screen_text(app)
        await pilot.press("f", "escape")
        await diff_shown(pilot)
        assert scr.filter_text == "" and "/bin/new" in diff_paths(app)
        # b: the layer view of B at the layer that provides the path
        await select_diff_path(pilot, "/bin/new")
        await pilot.press("b")
        await until(pilot, lambda: app.screen is app.layer_view and app.image is scr.b, what="layer view of B")
        await ready(pilot)
        assert tree(app).model.tree.layer == 1
        assert tree(app).model.tree.path(tree(app).node) == "/bin/new"
        # v brings the comparison back (cached), escape leaves it
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen), what="compare picker")
        await pilot.press("enter")
        await diff_shown(pilot)
        assert diff_screen(app).a is scr.b and diff_screen(app).b is scr.a  # B is now the current image
        await pilot.press("r")  # swap
        await diff_shown(pilot)
        assert diff_screen(app).a is scr.a
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.layer_view, what="layer view")
        # the layer view's keys work again; the diff screen's are gone
        await pilot.press("m")
        assert app.layer_view.mode == "merged"


async def test_identical_images_say_identical():
    need(CLASSIC)
    need(OCI)
    app = LayerscopeApp([CLASSIC, OCI])  # one image, written as docker save and as OCI
    async with app.run_test(size=SIZE) as pilot:
        await diff_shown(pilot)
        scr = diff_screen(app)
        assert scr.diff.identical
        text = screen_text(app)
        assert "= identical" in text and "same files, same config" in text
        assert "all 7 the same" in text and "(0 B)" in text
        # nothing changed: every file is shown to browse, all unchanged
        assert not scr.only_changed and "A ∪ B" in text
        assert dtree(app).model is not None and len(dtree(app).model) > 3
        assert all(dtree(app).model.tree.status[n] == S_UNCHANGED for n in dtree(app).model.rows)
        await pilot.press("c")
        await diff_shown(pilot)
        assert "no file differs (c shows every file)" in screen_text(app)
        # g: the two archives' layers, recognised as the same by diff_id
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, GraphScreen), what="graph")
        lst = app.screen.query_one("#graph-list", SharingList)
        assert len(lst.rows) == 7 and all(r.users == 2 for r in lst.rows)
        assert app.screen.sharing.saved_bytes == app.screen.sharing.stored_bytes > 0
        assert "7 shared" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DiffScreen), what="back to the comparison")
        # the layer view of each image is reachable
        await pilot.press("a")
        await until(pilot, lambda: app.screen is app.layer_view, what="layer view")
        await ready(pilot)
        assert app.image is scr.a and app.image.source == CLASSIC
        assert len(app.graph.images) == 2  # both archives, one graph: the picker switches
        assert "2 images from 2 archives" in screen_text(app)


async def test_pick_second_image_of_an_archive_opens_the_diff():
    need(SHARED)
    app = LayerscopeApp([SHARED])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.screen is app.layer_view  # one archive: the layer view first
        first = app.image
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen), what="compare picker")
        text = screen_text(app)
        assert "Compare A layerscope-demo:editor with B:" in text
        assert "layerscope-demo:web" in text and "1 shared with A" in text
        await pilot.press("enter")
        await diff_shown(pilot)
        scr = diff_screen(app)
        assert scr.a is first and scr.b is app.graph.images[1]
        text = screen_text(app)
        assert "≠ different" in text and "files in the final view 205.0 kB → 114.2 kB (-90.8 kB)" in text
        assert status_of(app, "/usr/bin/vim.tiny") == S_DELETED
        assert status_of(app, "/usr/sbin/nginx") == S_ADDED
        assert status_of(app, "/var/lib/dpkg/status") == S_MODIFIED
        # the palette of this screen offers its own actions only
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Swap A and B" in titles and "Toggle changes / merged view" not in titles
        # the layer view's keys do nothing here
        await pilot.press("m", "w")
        assert app.layer_view.mode == "changes" and isinstance(app.screen, DiffScreen)
        # the help tells how to compare and lists this screen's keys
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_text = str(app.screen.query_one("#help-text").render())
        assert "layerscope A B" in help_text and "Layer graph" in help_text
        listed = {tok.strip("()") for _, rows in KEYS for k, _ in rows for tok in k.split()}
        from layerscope.app.screens.layers import LayersScreen

        for b in (DiffScreen.BINDINGS + GraphScreen.BINDINGS + DiffTreeView.BINDINGS + LayerscopeApp.BINDINGS
                  + LayersScreen.BINDINGS):
            for key in b.key.split(","):
                assert key in listed or key in ("question_mark", "slash", "left_square_bracket",
                                                "right_square_bracket"), f"key {key} missing from help"
        await pilot.press("escape")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.layer_view)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Compare with another image…" in titles and "Layer graph" in titles


async def test_refs_pick_images_and_errors_show(pair, tmp_path):
    """ARCHIVE@REF names an image in an archive (here: platforms of an index)."""
    m = pair["multi"]
    app = LayerscopeApp([f"{m}@linux/amd64", f"{m}@linux/arm64"])
    async with app.run_test(size=SIZE) as pilot:
        await diff_shown(pilot)
        scr = diff_screen(app)
        assert str(scr.a.platform) == "linux/amd64" and str(scr.b.platform) == "linux/arm64/v8"
        assert status_of(app, "/bin/arch") == S_MODIFIED and status_of(app, "/bin/extra") == S_ADDED
        await pilot.press("t", "t")
        await pilot.pause(0.05)
        assert "platform" in screen_text(app) and "linux/arm64/v8" in screen_text(app)
    cfg = LayerscopeApp([pair["a"], pair["env"]])  # only the config differs
    async with cfg.run_test(size=SIZE) as pilot:
        await diff_shown(pilot)
        scr = diff_screen(cfg)
        assert not scr.diff.identical and not scr.diff.changes
        text = screen_text(cfg)
        assert "≠ different: same files · 3 config changes" in text
        assert scr.query_one("#diff-side").active == "diff-config-tab"  # where the difference is
        assert "User" in text and "MODE" in text
        assert not scr.only_changed and all(dtree(cfg).model.tree.status[n] == S_UNCHANGED
                                            for n in dtree(cfg).model.rows)
    bad = LayerscopeApp([f"{m}@nope", f"{m}@linux/arm64"])
    async with bad.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: bad.fatal is not None, what="error")
        assert "no image 'nope'" in bad.fatal


async def test_graph_view_shares_layers_once():
    need(SHARED)
    app = LayerscopeApp([SHARED])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, GraphScreen), what="graph")
        scr = app.screen
        await until(pilot, lambda: scr.sharing is not None and all(r.indexed for r in scr.sharing.rows))
        lst = scr.query_one("#graph-list", SharingList)
        assert len(lst.rows) == 4  # the base once, then each image's own layers
        assert [r.positions for r in lst.rows] == [[0, 0], [1, None], [None, 1], [None, 2]]
        assert lst.marks(0) == ["●0", "●0"] and lst.marks(1) == ["●1", "│"] and lst.marks(2) == ["", "●1"]
        s = scr.sharing
        assert s.saved_bytes == lst.rows[0].size > 0
        assert s.stored_bytes == sum(r.size for r in lst.rows)
        text = screen_text(app)
        assert "2 images, 4 distinct layers, 1 shared" in text
        assert "saved by sharing 113.3 kB" in text
        assert "[1]" in text and "[2]" in text and "⧉ 3f858fff2e7f" in text
        line = next(ln for ln in text.splitlines() if "8354cb0f6d3a" in ln)
        assert "●1   │" in line
        # figures per image
        line = next(ln for ln in text.splitlines() if "[1] layerscope-demo:editor" in ln)
        assert line.split()[2:] == ["2", "206.9", "kB", "113.3", "kB", "93.7", "kB", "241.7", "kB"]
        # the selected layer: the images using it
        assert "used by 2 images" in text
        # enter opens the layer in the layer view (of an image that uses it)
        lst.focus()
        await pilot.press("down", "down")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is app.layer_view, what="layer view")
        assert app.image is app.graph.images[1]
        assert layers(app).rows[layers(app).cursor].index == 1
        await ready(pilot)


async def test_graph_view_multiplatform_and_across_archives(pair):
    app = LayerscopeApp([pair["multi"], pair["a"], pair["b"]])  # three archives: the layer view
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.screen is app.layer_view and len(app.graph.images) == 4
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, GraphScreen), what="graph")
        scr = app.screen
        lst = scr.query_one("#graph-list", SharingList)
        assert lst.rows[0].users == 4  # the base, recognised by diff_id in every archive
        labels = scr.labels  # tell the images apart: platform, archive
        assert labels[:2] == ["multi:1  linux/amd64  multi.tar", "multi:1  linux/arm64/v8  multi.tar"]
        assert labels[2:] == ["demo:base  linux/amd64  base.tar", "demo:changed  linux/amd64  changed.oci.tar"]
        text = screen_text(app)
        assert "4 images" in text and "[4]" in text and "multi:1  linux/arm64/v8  multi.tar" in text
        assert "RUN change things [red]loud[/red]" in text  # a build step is data, not markup
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.layer_view)


async def test_directory_counts_and_sizes_say_what_they_count(tmp_path):
    """A directory whose B side keeps 1 of 3 entries: 3 paths changed (two
    removed) is not "all changed" of 1; the size figures say what they are."""
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    write_archive(str(a), [ImageSpec([LayerSpec([F("d", "dir"), F("d/a", data=b"1"), F("d/b", data=b"22"),
                                                 F("d/c", data=b"333"), F("e", data=b"e")])], repo_tags=["x:a"])],
                  "docker-legacy")
    write_archive(str(b), [ImageSpec([LayerSpec([F("d", "dir"), F("d/a", data=b"9"), F("e", data=b"e")])],
                                     repo_tags=["x:b"])], "docker-legacy")
    app = LayerscopeApp([str(a), str(b)])
    async with app.run_test(size=SIZE) as pilot:
        await diff_shown(pilot)
        t = dtree(app)
        if t.model.is_expanded(t.model.tree.find("/d")):
            t.model.collapse(t.model.rows.index(t.model.tree.find("/d")))
        row = t.render_row(t.model.rows.index(t.model.tree.find("/d")), 120).plain
        assert "d/ (1, 3 changed, removed ones included)" in row
        assert "files in the final view 7 B → 2 B" in screen_text(app)
