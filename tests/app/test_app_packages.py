"""The explorer's Packages tab (app/pkgview.py, widgets/packagelist.py): read
in a worker after the analysis is shown, following the layer list, Enter
narrowing the tree to the package's files, the owning package in a file's
details, names never taken as markup."""

from __future__ import annotations

import pytest

pytest.importorskip("textual")

from layerscope.app import LayerscopeApp
from layerscope.app.testing import screen_text
from layerscope.app.widgets import PackageList
from layerscope.testing.pkgdb import dpkg_list, dpkg_status
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive
from tests.app.test_app import SIZE, ready, tree, tree_paths, until

EVIL = "[bold]evil\x1b[31m"


@pytest.fixture
def image(tmp_path):
    def status(*pkgs):
        return F("var/lib/dpkg/status", data=dpkg_status([{"Package": n, "Version": v} for n, v in pkgs]))

    layers = [
        LayerSpec([F("usr/bin/sh", size=1000), F("usr/bin/ls", size=3000), status(("dash", "1"), ("coreutils", "9")),
                   F("var/lib/dpkg/info/dash.list", data=dpkg_list(["/usr/bin", "/usr/bin/sh"])),
                   F("var/lib/dpkg/info/coreutils.list", data=dpkg_list(["/usr/bin/ls"]))],
                  created_by="ADD rootfs.tar /"),
        LayerSpec([F("usr/bin/curl", size=5000), F("usr/lib/libcurl.so", size=7000),
                   status(("dash", "1"), ("coreutils", "9"), ("curl", "8.5"), (EVIL, "1")),
                   F("var/lib/dpkg/info/curl.list", data=dpkg_list(["/usr/bin/curl", "/usr/lib/libcurl.so"])),
                   F(f"var/lib/dpkg/info/{EVIL}.list", data=dpkg_list(["/usr/bin/sh"]))],
                  created_by="/bin/sh -c apt-get install -y curl"),
    ]
    p = tmp_path / "img.tar"
    write_archive(str(p), [ImageSpec(layers)], "docker-legacy")
    return str(p)


def _names(app):
    return [r.name for r in app.query_one("#packages", PackageList).items]


async def test_packages_tab_follows_the_layer_and_shows_files(image):
    app = LayerscopeApp([image])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        view = app.layer_view
        await pilot.press("K")
        await until(pilot, lambda: _names(app), what="the packages list")
        assert app.analysis._packages is not None  # read by the worker, not before the analysis was shown
        assert _names(app) == ["curl", "coreutils", EVIL, "dash"]  # the top layer, biggest first, then by name
        assert [r.bytes for r in app.query_one("#packages", PackageList).items] == [12000, 3000, 1000, 1000]
        text = screen_text(app)
        assert "evil\\x1b[31m" in text and "[bold]evil" in text  # shown as written: no markup, no escape
        # the layer list's cursor moves: the list is the view at layer 0
        view.action_focus_pane(1)
        await pilot.press("up")
        await until(pilot, lambda: _names(app) == ["coreutils", "dash"], what="the packages of layer 0")
        await pilot.press("down")
        await until(pilot, lambda: _names(app)[:1] == ["curl"], what="the packages of layer 1")
        # enter on curl: the tree holds its files only, in the merged view
        app.query_one("#packages", PackageList).focus()
        await pilot.press("enter")
        await until(pilot, lambda: view.filter_text == "pkg:curl" and tree(app).model is not None
                    and "/usr/bin/curl" in tree_paths(app), what="the tree of curl's files")
        tree(app).model and tree(app).action_expand_all()
        await pilot.pause(0.1)
        files = [p for p in tree_paths(app) if p.count("/") > 2 or p.endswith((".so", "curl"))]
        assert sorted(files) == ["/usr/bin/curl", "/usr/lib/libcurl.so"]
        assert view.mode == "merged"


async def test_the_owning_package_in_details(image):
    app = LayerscopeApp([image])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("K")
        await until(pilot, lambda: _names(app), what="the packages list")
        app.layer_view.mode = "merged"
        app.layer_view.goto("/usr/bin/sh", 1)
        await until(pilot, lambda: str(app.query_one("#details").render()).startswith("/usr/bin/sh\n"),
                    what="the details of /usr/bin/sh")
        text = str(app.query_one("#details").render())
        assert "dash 1 (dpkg), installed by layer 0" in text and "evil" in text
