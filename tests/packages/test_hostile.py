"""Every reader on mutated and random databases (hypothesis, bounded): no
exception, bounded results.  Each example starts from a valid database and
flips, cuts or inserts bytes, or is random bytes outright."""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerscope.packages import Budget, apk, dpkg, npm, python, rpm
from layerscope.testing.pkgdb import apk_installed, dpkg_list, dpkg_status, rpm_header, rpmdb_sqlite

FUZZ = settings(max_examples=int(os.environ.get("LAYERSCOPE_FUZZ_EXAMPLES", "120")) // 2,
                deadline=timedelta(seconds=10), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SEEDS = {
    "status": dpkg_status([{"Package": "a", "Version": "1", "Conffiles": [("/etc/a", "x")]},
                           {"Package": "b", "Version": "2"}]),
    "list": dpkg_list(["/usr/bin/a", "/etc/a"]),
    "apk": apk_installed([{"P": "musl", "V": "1", "files": {"lib": ["ld.so"]}}]),
    "record": b"a/__init__.py,sha256=x,10\n../../../bin/a,,\na-1.dist-info/RECORD,,\n",
    "json": b'{"name": "x", "version": "1.0.0", "dependencies": {"y": "^2"}}',
    "header": rpm_header("bash", "5", "1", "x86_64", ["/usr/bin/bash", "/usr/bin/sh"]),
}


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    b = bytearray(seed)
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(("flip", "cut", "insert")))
        if not b:
            break
        k = draw(st.integers(0, len(b) - 1))
        if op == "flip":
            b[k] = draw(st.integers(0, 255))
        elif op == "cut":
            del b[k:]
        else:
            b[k:k] = draw(st.binary(max_size=40))
    return bytes(b)


def _bounded(out):
    pkgs, notes = out
    assert isinstance(notes, list) and all(isinstance(n, str) for n in notes)
    for p in pkgs:
        assert len(p.name) <= 1024 and len(p.version) <= 1024
        assert all(f and not f.startswith("/") and ".." not in f.split("/") for f in p.files)
    return pkgs


@FUZZ
@given(st.one_of(mutated(SEEDS["status"]), st.binary(max_size=2000)), mutated(SEEDS["list"]))
def test_dpkg(status, lst):
    _bounded(dpkg.read({"var/lib/dpkg/status": status, "var/lib/dpkg/info/a.list": lst,
                        "var/lib/dpkg/status.d/c": status, "var/lib/dpkg/status.d/c.md5sums": lst}, Budget()))


@FUZZ
@given(st.one_of(mutated(SEEDS["apk"]), st.binary(max_size=2000)))
def test_apk(data):
    _bounded(apk.read({"lib/apk/db/installed": data}, Budget()))


@FUZZ
@given(st.one_of(mutated(SEEDS["record"]), st.binary(max_size=2000)))
def test_python(data):
    _bounded(python.read({"usr/lib/python3/site-packages/a-1.dist-info/RECORD": data}, Budget()))


@FUZZ
@given(st.one_of(mutated(SEEDS["json"]), st.binary(max_size=2000)))
def test_npm(data):
    _bounded(npm.read({"node_modules/x/package.json": data}, Budget()))


@FUZZ
@given(st.lists(st.one_of(mutated(SEEDS["header"]), st.binary(max_size=300)), max_size=4))
def test_rpm_headers(blobs):
    _bounded(rpm.read({"var/lib/rpm/rpmdb.sqlite": rpmdb_sqlite(blobs)}, Budget()))


@settings(max_examples=20, deadline=timedelta(seconds=10), database=None)
@given(mutated(rpmdb_sqlite([SEEDS["header"]])))
def test_rpm_database_file(data):
    _bounded(rpm.read({"var/lib/rpm/rpmdb.sqlite": data}, Budget()))
