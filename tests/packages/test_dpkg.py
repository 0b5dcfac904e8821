"""dpkg reader (packages/dpkg.py): status stanzas, .list and multi-arch
.list files, conffiles, the status word, distroless status.d."""

import pytest

from layerscope.packages import Budget, dpkg
from layerscope.testing.pkgdb import dpkg_list, dpkg_status


def _read(files):
    pkgs, notes = dpkg.read(files, Budget())
    return {p.name: p for p in pkgs}, notes


def test_status_lists_and_conffiles():
    status = dpkg_status([
        {"Package": "bash", "Version": "5.2-2", "Conffiles": [("/etc/bash.bashrc", "abc")]},
        {"Package": "libc6", "Version": "2.36", "Architecture": "amd64"},
        {"Package": "gone", "Version": "1", "Status": "deinstall ok config-files"},
        {"Package": "never", "Version": "1", "Status": "purge ok not-installed"},
        {"Package": "half", "Version": "3", "Status": "install ok unpacked"},
    ])
    files = {"var/lib/dpkg/status": status,
             "var/lib/dpkg/info/bash.list": dpkg_list(["/bin", "/bin/bash", "/etc/bash.bashrc"]),
             "var/lib/dpkg/info/libc6:amd64.list": dpkg_list(["/usr/lib/x86_64-linux-gnu/libc.so.6"]),
             "var/lib/dpkg/info/gone.list": dpkg_list(["/usr/bin/gone"])}
    pkgs, notes = _read(files)
    assert sorted(pkgs) == ["bash", "half", "libc6"]
    assert notes == ["dpkg: 1 of 3 packages have no file list (/var/lib/dpkg/info/*.list): their bytes are not known"]
    assert pkgs["bash"].version == "5.2-2" and pkgs["bash"].arch == "amd64"
    assert pkgs["bash"].files == ["bin", "bin/bash", "etc/bash.bashrc"]  # '/.' dropped, conffile once
    assert pkgs["libc6"].files == ["usr/lib/x86_64-linux-gnu/libc.so.6"]
    assert pkgs["half"].files == []


def test_distroless_status_d_with_md5sums():
    files = {"var/lib/dpkg/status.d/base-files": dpkg_status([{"Package": "base-files", "Version": "12.4"}]),
             "var/lib/dpkg/status.d/base-files.md5sums": b"0123  etc/debian_version\n4567  usr/lib/os-release\n",
             "var/lib/dpkg/status.d/python3.11": dpkg_status([{"Package": "python3.11", "Version": "3.11.2"}])}
    pkgs, _ = _read(files)
    assert sorted(pkgs) == ["base-files", "python3.11"]
    assert pkgs["base-files"].files == ["etc/debian_version", "usr/lib/os-release"]


def test_hostile_status_is_bounded_and_never_raises():
    garbage = bytes(range(256)) * 1000 + b"\nPackage: x\x1b[31m\nStatus: install ok installed\nVersion: " + \
        b"9" * 5000 + b"\n"
    pkgs, _ = _read({"var/lib/dpkg/status": garbage,
                     "var/lib/dpkg/info/x\x1b[31m.list": b"/../../etc/passwd\n/ok\n\0bad\n"})
    (p,) = pkgs.values()
    assert p.name == "x\x1b[31m" and len(p.version) == 1024
    assert p.files == ["etc/passwd", "ok"]  # '..' stops at the root, as a path in the image does


def test_file_budget_cuts_the_lists():
    b = Budget(3)
    pkgs, _ = dpkg.read({"var/lib/dpkg/status": dpkg_status([{"Package": "a", "Version": "1"}]),
                         "var/lib/dpkg/info/a.list": dpkg_list([f"/f{i}" for i in range(10)])}, b)
    assert len(pkgs[0].files) == 3 and b.cut


def test_list_lines_that_normalise_to_nothing():
    pkgs, _ = _read({"var/lib/dpkg/status": dpkg_status([{"Package": "a", "Version": "1"}]),
                     "var/lib/dpkg/info/a.list": b"/.\n/usr/bin/a\n/"})
    assert pkgs["a"].files == ["usr/bin/a"]


@pytest.mark.parametrize("listing", [
    "/.\n/usr\n/usr/bin\n/usr/bin/x y\n",  # what dpkg writes
    "/.\n/usr\n/usr/bin/x",  # no newline at the end
    "/usr\n/usr/share/doc\n",  # no "/." line
    "/.\n",  # nothing but the root
    "/.\n/usr\n\n/usr/bin\n",  # an empty line
    "/.\n/usr/./bin\n/usr//lib\n/usr/lib/\n/a/..\n",  # lines to normalise
])
def test_a_file_list_is_read_as_each_line_normalised(listing):
    from layerscope.packages import image_path

    want = [q for q in (image_path(line) for line in listing.split("\n")) if q]
    assert dpkg._lines(listing.encode()) == want


def test_a_file_list_of_normal_paths_keeps_only_its_absolute_lines():
    # what the reader has always done with a line that is not absolute in a list of normal paths
    assert dpkg._lines(b"/.\nusr/relative\n/usr/bin\n") == ["usr/bin"]


def test_status_paragraphs_read_once_are_the_same_read_again():
    first = dpkg_status([{"Package": "a", "Version": "1"}, {"Package": "b", "Version": "2", "Architecture": "amd64"}])
    second = dpkg_status([{"Package": "a", "Version": "1"}, {"Package": "b", "Version": "3", "Architecture": "amd64"},
                          {"Package": "c", "Version": "1", "Conffiles": [("/etc/c.conf", "abc")]}])
    memo: dict = {}
    assert dpkg.stanzas(first, memo) == dpkg.stanzas(first)
    again = dpkg.stanzas(second, memo)
    assert again == dpkg.stanzas(second)
    assert [r["Version"] for r in again] == ["1", "3", "1"]
    assert again[0] is memo[next(k for k in memo if "Package: a" in k)]  # the paragraph both share: parsed once
