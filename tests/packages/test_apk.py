"""apk reader (packages/apk.py): P/V/A/F/R records."""

from layerscope.packages import Budget, apk
from layerscope.testing.pkgdb import apk_installed


def test_records_files_and_dirs():
    db = apk_installed([
        {"P": "musl", "V": "1.2.4-r2", "files": {"lib": ["ld-musl-x86_64.so.1", "libc.musl-x86_64.so.1"]}},
        {"P": "busybox", "V": "1.36.1-r5", "A": "aarch64", "files": {"bin": ["busybox"], "etc": ["securetty"]}},
    ])
    pkgs, notes = apk.read({"lib/apk/db/installed": db}, Budget())
    assert notes == []
    assert [(p.name, p.version, p.arch) for p in pkgs] == [("musl", "1.2.4-r2", "x86_64"),
                                                          ("busybox", "1.36.1-r5", "aarch64")]
    assert pkgs[0].files == ["lib", "lib/ld-musl-x86_64.so.1", "lib/libc.musl-x86_64.so.1"]
    assert pkgs[1].files == ["bin", "bin/busybox", "etc", "etc/securetty"]


def test_a_file_name_with_a_slash_is_not_a_path():
    db = b"P:x\nV:1\nF:usr\nR:../../etc/shadow\nR:ok\n\n"
    pkgs, _ = apk.read({"lib/apk/db/installed": db}, Budget())
    assert pkgs[0].files == ["usr", "usr/ok"]


def test_garbage_gives_no_package_and_no_error():
    pkgs, notes = apk.read({"lib/apk/db/installed": bytes(range(256)) * 100}, Budget())
    assert pkgs == [] and notes == []
