"""Python reader (packages/python.py): dist-info RECORD and egg-info installed-files.txt."""

from layerscope.packages import Budget, python
from layerscope.testing.pkgdb import dist_info


def test_record_paths_relative_to_site_packages():
    site = "usr/local/lib/python3.11/site-packages"
    files = dist_info(site, "six", "1.16.0", {"six.py": b"x" * 10, "../../../bin/six-tool": b"#!"})
    pkgs, notes = python.read({p: d for p, d in files.items() if p.endswith("RECORD")}, Budget())
    (p,) = pkgs
    assert (p.name, p.version, p.location) == ("six", "1.16.0", site)
    assert p.files == [f"{site}/six.py", "usr/local/bin/six-tool", f"{site}/six-1.16.0.dist-info/METADATA",
                       f"{site}/six-1.16.0.dist-info/RECORD"]


def test_egg_info():
    site = "usr/lib/python3/dist-packages"
    p = f"{site}/foo-2.0-py3.11.egg-info/installed-files.txt"
    pkgs, _ = python.read({p: b"../foo/__init__.py\n../foo/x.py\nPKG-INFO\n"}, Budget())
    assert (pkgs[0].name, pkgs[0].version) == ("foo", "2.0")
    assert pkgs[0].files == [f"{site}/foo/__init__.py", f"{site}/foo/x.py", f"{site}/foo-2.0-py3.11.egg-info/PKG-INFO", p]


def test_bad_csv_keeps_what_came_before():
    p = "s/site-packages/a-1.dist-info/RECORD"
    pkgs, _ = python.read({p: b'a.py,,1\n"unterminated\n' + b"\0" * 100}, Budget())
    assert pkgs[0].files[0] == "s/site-packages/a.py"
