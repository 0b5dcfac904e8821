"""Package attribution (analysis/packages.py) on synthetic images: the
layer of the visible version, upgrades, removals, bytes in the view
(hardlinks once, through usrmerge symlinks), hidden bytes, unowned bytes
per layer, files two managers list, npm directories, the view at a lower
layer, hostile databases, and the database contents kept in the cache."""

from __future__ import annotations

import pytest

from layerscope.analysis import analyse
from layerscope.testing.pkgdb import apk_installed, dist_info, dpkg_list, dpkg_status, npm_package, rpm_header, rpmdb_sqlite
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive
from tests.helpers import loaded

STATUS = "var/lib/dpkg/status"
INFO = "var/lib/dpkg/info/"
SITE = "usr/local/lib/python3.11/site-packages"


def _files(d: dict[str, bytes]) -> list[F]:
    return [F(p, data=v) for p, v in d.items()]


def _layers():
    base = LayerSpec([
        F("usr/bin", "dir"), F("bin", "symlink", link="usr/bin"),
        F("usr/bin/bash", data=b"b" * 1000), F("usr/bin/a", data=b"a" * 300),
        F("usr/bin/b", "hardlink", link="usr/bin/a"),
        F(STATUS, data=dpkg_status([{"Package": "bash", "Version": "1"}, {"Package": "coreutils", "Version": "9"}])),
        F(INFO + "bash.list", data=dpkg_list(["/bin", "/bin/bash"])),
        F(INFO + "coreutils.list", data=dpkg_list(["/usr/bin/a", "/usr/bin/b"])),
    ], created_by="ADD rootfs.tar /")
    install = LayerSpec([
        F("usr/bin/bash", data=b"B" * 1100), F("usr/bin/gcc", data=b"g" * 2000),
        F("usr/include/foo.h", data=b"h" * 100), F("app/data", data=b"d" * 700),
        F(STATUS, data=dpkg_status([{"Package": "bash", "Version": "2"}, {"Package": "coreutils", "Version": "9"},
                                    {"Package": "gcc", "Version": "12"}, {"Package": "libfoo-dev", "Version": "1"}])),
        F(INFO + "bash.list", data=dpkg_list(["/bin", "/bin/bash"])),
        F(INFO + "gcc.list", data=dpkg_list(["/usr/bin/gcc"])),
        F(INFO + "libfoo-dev:amd64.list", data=dpkg_list(["/usr/include/foo.h"])),
    ], created_by="/bin/sh -c apt-get install -y gcc libfoo-dev && apt-get upgrade -y")
    purge = LayerSpec([
        F("usr/bin/gcc", "whiteout"), F(INFO + "gcc.list", "whiteout"),
        F(STATUS, data=dpkg_status([{"Package": "bash", "Version": "2"}, {"Package": "coreutils", "Version": "9"},
                                    {"Package": "libfoo-dev", "Version": "1"}])),
    ], created_by="/bin/sh -c apt-get purge -y gcc")
    six = {"usr/lib/python3/dist-packages/six.py": b"s" * 50}
    py = dist_info(SITE, "numpy", "1.26.4", {"numpy/core.so": b"n" * 400})
    py.update(dist_info("usr/lib/python3/dist-packages", "six", "1.16.0", {"six.py": b"s" * 50}))
    python = LayerSpec(_files(py) + [
        F(STATUS, data=dpkg_status([{"Package": "bash", "Version": "2"}, {"Package": "coreutils", "Version": "9"},
                                    {"Package": "libfoo-dev", "Version": "1"},
                                    {"Package": "python3-six", "Version": "1.16.0-4", "Architecture": "all"}])),
        F(INFO + "python3-six.list", data=dpkg_list(["/" + p for p in six])),
    ], created_by="/bin/sh -c pip install numpy && apt-get install -y python3-six")
    nm = npm_package("app/node_modules", "a", "1.0.0", {"index.js": b"i" * 60})
    nm.update(npm_package("app/node_modules/a/node_modules", "b", "2.0.0", {"b.js": b"j" * 30}))
    npm = LayerSpec(_files(nm), created_by="/bin/sh -c npm install")
    return [base, install, purge, python, npm]


@pytest.fixture(scope="module", params=[("docker-legacy", "none"), ("oci", "gzip")])
def pa(request, tmp_path_factory):
    layout, comp = request.param
    layers = _layers()
    for spec in layers:
        spec.compression = comp
    p = tmp_path_factory.mktemp("pk") / "img.tar"
    write_archive(str(p), [ImageSpec(layers)], layout)
    g = loaded(p)
    return analyse(g, g.images[0]).packages()


def _rows(pa, N=None):
    return {(r.manager, r.name): r for r in pa.rows(N)}


def test_versions_layers_and_bytes(pa):
    rows = _rows(pa)
    assert sorted(rows) == [("dpkg", "bash"), ("dpkg", "coreutils"), ("dpkg", "libfoo-dev"), ("dpkg", "python3-six"),
                            ("npm", "a"), ("npm", "b"), ("python", "numpy"), ("python", "six")]
    bash = rows[("dpkg", "bash")]
    # /bin/bash is usr/bin/bash through the /bin symlink; the upgrade's copy is visible, the first hidden
    assert (bash.version, bash.layer, bash.changed_in, bash.bytes, bash.hidden_bytes, bash.files) == \
        ("2", 1, [1], 1100, 1000, 2)  # files: the /bin symlink it lists, and bash
    core = rows[("dpkg", "coreutils")]
    assert (core.layer, core.bytes, core.files) == (0, 300, 2)  # the hardlink's inode once
    assert rows[("dpkg", "libfoo-dev")].bytes == 100 and rows[("dpkg", "libfoo-dev")].arch == "amd64"
    assert pa.notes == []


def test_a_file_two_managers_list_counts_once_under_the_system_package(pa):
    rows = _rows(pa)
    assert rows[("dpkg", "python3-six")].bytes == 50
    six = rows[("python", "six")]
    assert six.shared_bytes == 50
    assert six.bytes == sum(n for _, n in six.paths) and "usr/lib/python3/dist-packages/six.py" not in \
        [p for p, _ in six.paths]
    assert (pa.shared_files, pa.shared_bytes) == (1, 50)
    numpy = rows[("python", "numpy")]
    assert numpy.location == SITE and numpy.layer == 3 and ("usr/local/lib/python3.11/site-packages/numpy/core.so", 400) \
        in numpy.paths


def test_npm_package_directory_without_nested_packages(pa):
    rows = _rows(pa)
    a, b = rows[("npm", "a")], rows[("npm", "b")]
    assert a.bytes == 60 + len(b'{"name": "a", "version": "1.0.0"}')
    assert b.bytes == 30 + len(b'{"name": "b", "version": "2.0.0"}')
    assert (a.location, b.location) == ("app/node_modules", "app/node_modules/a/node_modules")


def test_per_layer_changes(pa):
    L = pa.layer_rows()
    assert [(c.name, c.bytes) for c in L[0].added] == [("bash", 1000), ("coreutils", 300)]
    assert [(c.name, c.bytes) for c in L[1].added] == [("gcc", 2000), ("libfoo-dev", 100)]
    assert [(c.name, c.old_version, c.version, c.bytes) for c in L[1].upgraded] == [("bash", "1", "2", 1100)]
    assert [(c.name, c.old_version, c.bytes) for c in L[2].removed] == [("gcc", "12", 2000)]
    assert [(r.name, r.layer, r.removed_in, r.bytes) for r in pa.removed] == [("gcc", 1, 2, 2000)]
    assert L[1].owned_bytes == 3200 and L[1].unowned_bytes > 700
    assert L[2].added == L[2].upgraded == [] and L[4].owned_bytes == sum(n for r in pa.rows() if r.manager == "npm"
                                                                          for _, n in r.paths)


def test_the_view_at_a_lower_layer(pa):
    rows = _rows(pa, 1)
    assert sorted(n for _, n in rows) == ["bash", "coreutils", "gcc", "libfoo-dev"]
    assert rows[("dpkg", "gcc")].bytes == 2000
    rows0 = _rows(pa, 0)
    assert (rows0[("dpkg", "bash")].version, rows0[("dpkg", "bash")].bytes, rows0[("dpkg", "bash")].changed_in) == \
        ("1", 1000, [])


def test_owners_of_a_path(pa):
    assert [r.name for r in pa.owners("/bin/bash")] == ["bash"]
    assert [r.name for r in pa.owners("/usr/bin/bash")] == ["bash"]
    assert sorted(r.manager for r in pa.owners("/usr/lib/python3/dist-packages/six.py")) == ["dpkg", "python"]
    assert pa.owners("/app/data") == []


def _open(tmp_path, layers, layout="docker-legacy"):
    p = tmp_path / "img.tar"
    write_archive(str(p), [ImageSpec(layers)], layout)
    g = loaded(p)
    return analyse(g, g.images[0])


def test_apk_and_rpm_images(tmp_path):
    apk = LayerSpec([F("lib/ld-musl.so", data=b"m" * 600), F("bin/busybox", data=b"x" * 800),
                     F("lib/apk/db/installed", data=apk_installed([
                         {"P": "musl", "V": "1.2.4", "files": {"lib": ["ld-musl.so"]}},
                         {"P": "busybox", "V": "1.36", "files": {"bin": ["busybox"]}}]))])
    rows = {r.name: r for r in _open(tmp_path, [apk]).packages().rows()}
    assert {n: (r.manager, r.version, r.bytes) for n, r in rows.items()} == {"musl": ("apk", "1.2.4", 600),
                                                                            "busybox": ("apk", "1.36", 800)}
    (tmp_path / "r").mkdir()
    rpm = LayerSpec([F("usr/bin/bash", data=b"b" * 900),
                     F("var/lib/rpm/rpmdb.sqlite", data=rpmdb_sqlite([rpm_header("bash", "5.1", "9", "x86_64",
                                                                                 ["/usr/bin/bash"])]))])
    (r,) = _open(tmp_path / "r", [rpm]).packages().rows()
    assert (r.manager, r.name, r.version, r.arch, r.bytes) == ("rpm", "bash", "5.1-9", "x86_64", 900)


def test_berkeleydb_is_a_note(tmp_path):
    a = _open(tmp_path, [LayerSpec([F("var/lib/rpm/Packages", data=b"\0" * 8192)])])
    pa = a.packages()
    assert pa.rows() == [] and len(pa.notes) == 1 and "BerkeleyDB" in pa.notes[0]


def test_hostile_databases_are_notes_not_crashes(tmp_path, monkeypatch):
    from layerscope import packages

    monkeypatch.setattr("layerscope.analysis.packages.FILE_MAX", 10_000)
    layers = [LayerSpec([
        F(STATUS, data=b"\xff\xfe" * 8000),  # over the bound: not read
        F("lib/apk/db/installed", data=bytes(range(256)) * 20),
        F("var/lib/rpm/rpmdb.sqlite", data=b"\x00" * 5000),
        F(f"{SITE}/x-1.dist-info/RECORD", data=b"\x1b]0;owned\x07,,\n" * 50),
        F("node_modules/\x1b[2Jevil/package.json", data=b'{"name": "\\u001b[31mred", "version": 7}'),
    ])]
    pa = _open(tmp_path, layers).packages()
    names = sorted(r.name for r in pa.rows())
    assert names == ["\x1b[31mred", "x"]
    assert any("larger than" in n for n in pa.notes) and any(n.startswith("rpm:") for n in pa.notes)
    assert packages.FILE_MAX == 64 << 20


def test_database_contents_come_from_the_cache_the_second_time(tmp_path, monkeypatch):
    from layerscope.layers import contents

    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    p = tmp_path / "img.tar"
    layers = _layers()
    for spec in layers:
        spec.compression = "gzip"
    write_archive(str(p), [ImageSpec(layers)], "oci")

    def run():
        from layerscope.formats.source import open_graph
        from layerscope.layers.indexing import index_layers

        g = open_graph([str(p)])
        index_layers(g)
        return {(r.name, r.bytes) for r in analyse(g, g.images[0]).packages().rows()}

    first = run()
    calls = []
    real = contents.iter_ranges
    monkeypatch.setattr(contents, "iter_ranges", lambda *a: calls.append(a) or real(*a))
    assert run() == first and calls == []


def _everything(pa):
    return ([r._values() for r in pa.rows()], [r._values() for N in range(pa.n) for r in pa.rows(N)],
            [lp._values() for lp in pa.layer_rows()], [r._values() for r in pa.removed], pa.notes,
            (pa.shared_files, pa.shared_bytes), [r.name for r in pa.owners("/bin/bash")])


def test_a_second_open_loads_the_analysis_from_the_cache(tmp_path, monkeypatch):
    from layerscope.analysis import packages as ap
    from layerscope.formats.source import open_graph
    from layerscope.layers import cache
    from layerscope.layers.indexing import index_layers

    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    p = tmp_path / "img.tar"
    write_archive(str(p), [ImageSpec(_layers())], "docker-legacy")

    def run():
        g = open_graph([str(p)])
        index_layers(g)
        return analyse(g, g.images[0]).packages()

    first = _everything(run())
    found = []
    monkeypatch.setattr(ap.PackageAnalysis, "_find", lambda self: found.append(1) or [])
    assert _everything(run()) == first and found == []  # nothing looked for: all of it from the cache
    # a state that does not fit is computed again
    monkeypatch.undo()
    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "load_packages", lambda layers: ("packages-3", [], [(99, [0])], [], [], ([], 0, 0), []))
    assert _everything(run()) == first
