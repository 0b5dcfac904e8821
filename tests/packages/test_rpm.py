"""rpm reader (packages/rpm.py): header blobs in an rpmdb.sqlite written from
the format; BerkeleyDB and NDB databases are a note; bad headers are counted."""

import struct

import pytest

from layerscope.packages import Budget, rpm
from layerscope.testing.pkgdb import rpm_header, rpmdb_sqlite


def test_headers_in_sqlite():
    db = rpmdb_sqlite([rpm_header("bash", "5.1.8", "9.el9", "x86_64", ["/usr/bin/bash", "/usr/bin/sh", "/etc/skel/.bashrc"]),
                       rpm_header("tzdata", "2024a", "1.el9", "noarch", [], epoch=1)])
    pkgs, notes = rpm.read({"var/lib/rpm/rpmdb.sqlite": db}, Budget())
    assert notes == []
    assert [(p.name, p.version, p.arch) for p in pkgs] == [("bash", "5.1.8-9.el9", "x86_64"),
                                                          ("tzdata", "1:2024a-1.el9", "noarch")]
    assert pkgs[0].files == ["usr/bin/bash", "usr/bin/sh", "etc/skel/.bashrc"]


def test_sysimage_location():
    db = rpmdb_sqlite([rpm_header("a", "1", "1", "noarch", ["/a"])])
    pkgs, _ = rpm.read({"usr/lib/sysimage/rpm/rpmdb.sqlite": db}, Budget())
    assert [p.name for p in pkgs] == ["a"]


@pytest.mark.parametrize("name, fmt", [("Packages", "BerkeleyDB"), ("Packages.db", "NDB")])
def test_old_formats_are_a_note(name, fmt):
    pkgs, notes = rpm.read({f"var/lib/rpm/{name}": b"\0" * 4096}, Budget())
    assert pkgs == [] and len(notes) == 1 and fmt in notes[0] and "not supported" in notes[0]


def test_bad_headers_are_counted_not_raised():
    good = rpm_header("ok", "1", "1", "noarch", ["/ok"])
    lying = struct.pack(">II", 5, 1 << 30) + b"\0" * 64
    out_of_bounds = rpm_header("x", "1", "1", "noarch", [], extra=[(1117, 8, b"no-terminator", 1000)])
    db = rpmdb_sqlite([good, lying, out_of_bounds, b"", b"\xff" * 7])
    pkgs, notes = rpm.read({"var/lib/rpm/rpmdb.sqlite": db}, Budget())
    assert [p.name for p in pkgs] == ["ok"]  # x's file names run past its data
    assert notes == ["rpm: 4 header(s) of rpmdb.sqlite cannot be read and are left out"]


def test_not_a_database():
    pkgs, notes = rpm.read({"var/lib/rpm/rpmdb.sqlite": b"SQLite format 3\0" + b"\xaa" * 5000}, Budget())
    assert pkgs == [] and notes and notes[0].startswith("rpm: rpmdb.sqlite cannot be read")
