"""Package findings (analysis/pkgfindings.py): a package installed and
removed later, a build toolchain left in the final view; names that are
and are not toolchains."""

from __future__ import annotations

import pytest

from layerscope.analysis import analyse
from layerscope.analysis.pkgfindings import BUILD_TOOLCHAIN, PACKAGE_REMOVED, is_toolchain
from layerscope.testing.pkgdb import dpkg_list, dpkg_status
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive
from tests.helpers import loaded

MB = 1 << 20


def _image(tmp_path):
    def status(*pkgs):
        return F("var/lib/dpkg/status", data=dpkg_status([{"Package": n, "Version": "1"} for n in pkgs]))

    layers = [
        LayerSpec([F("bin/sh", size=1000), status("dash"), F("var/lib/dpkg/info/dash.list", data=dpkg_list(["/bin/sh"]))],
                  created_by="ADD rootfs.tar /"),
        LayerSpec([F("usr/bin/gcc-12", size=2 * MB), F("usr/include/x.h", size=MB // 2), F("usr/bin/cmake", size=MB),
                   status("dash", "gcc-12", "libx-dev", "cmake"),
                   F("var/lib/dpkg/info/gcc-12.list", data=dpkg_list(["/usr/bin/gcc-12"])),
                   F("var/lib/dpkg/info/libx-dev.list", data=dpkg_list(["/usr/include/x.h"])),
                   F("var/lib/dpkg/info/cmake.list", data=dpkg_list(["/usr/bin/cmake"]))],
                  created_by="/bin/sh -c apt-get install -y gcc-12 libx-dev cmake"),
        LayerSpec([F("usr/bin/cmake", "whiteout"), F("var/lib/dpkg/info/cmake.list", "whiteout"),
                   status("dash", "gcc-12", "libx-dev")], created_by="/bin/sh -c apt-get purge -y cmake"),
    ]
    p = tmp_path / "img.tar"
    write_archive(str(p), [ImageSpec(layers)], "docker-legacy")
    g = loaded(p)
    return analyse(g, g.images[0])


def test_removed_and_toolchain_findings(tmp_path):
    a = _image(tmp_path)
    found = {f.kind: f for f in a.findings() if f.kind in (PACKAGE_REMOVED, BUILD_TOOLCHAIN)}
    rm = found[PACKAGE_REMOVED]
    assert (rm.layer, rm.fixed_by, rm.bytes, rm.paths, rm.base) == (1, 2, MB, [("/usr/bin/cmake", MB)], False)
    assert "cmake 1 (dpkg)" in rm.fix and "same RUN" in rm.fix
    tc = found[BUILD_TOOLCHAIN]
    assert (tc.layer, tc.fixed_by, tc.bytes) == (1, None, 2 * MB + MB // 2)
    assert tc.paths == [("/usr/bin/gcc-12", 2 * MB), ("/usr/include/x.h", MB // 2)]
    assert "gcc-12, libx-dev" in tc.fix
    # listed among the others, biggest first
    assert [f.bytes for f in a.findings()] == sorted((f.bytes for f in a.findings()), reverse=True)


@pytest.mark.parametrize("name, yes", [
    ("gcc", True), ("gcc-12", True), ("g++-12", True), ("cpp-12", True), ("build-essential", True),
    ("make", True), ("libc6-dev", True), ("python3-dev", True), ("python3.11-dev", True),
    ("gcc-x86-64-linux-gnu", True), ("binutils-x86-64-linux-gnu", True), ("openssl-devel", True),
    ("build-base", True), ("libgcc-s1", False), ("gcc-12-base", False), ("libstdc++6", False),
    ("makedev", False), ("bash", False), ("libc6", False)])
def test_toolchain_names(name, yes):
    assert is_toolchain("dpkg", name) is yes
    assert not is_toolchain("python", name)


def test_package_findings_are_cached_and_checked_when_read(tmp_path, monkeypatch):
    from layerscope.analysis import pkgfindings
    from layerscope.layers import cache

    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "ANALYSIS_MIN_ENTRIES", 0)
    first = [f for f in _image(tmp_path).findings() if f.kind in pkgfindings.KINDS]
    assert len(first) == 2
    calls = []
    real = pkgfindings.package_findings
    monkeypatch.setattr(pkgfindings, "package_findings", lambda a: calls.append(1) or real(a))
    again = [f for f in _image(tmp_path).findings() if f.kind in pkgfindings.KINDS]
    assert calls == [] and [_vars(f) for f in again] == [_vars(f) for f in first]
    # a stored state that does not add up (or names no layer of the image) is not believed: made again
    good = pkgfindings.to_state(first)
    for n, (field, value) in enumerate([(3, good[0][3] + 1), (1, 7), (4, good[0][4] + "\0/x")]):
        a = _image(tmp_path)
        bad = [good[0][:field] + (value,) + good[0][field + 1:]] + good[1:]
        cache.store_analysis(a.layers, bad, "pkgfindings", _extra(a))
        assert [_vars(f) for f in a.findings() if f.kind in pkgfindings.KINDS] == [_vars(f) for f in first]
        assert len(calls) == n + 1


def _extra(a):
    from layerscope.analysis import findings, pkgfindings

    return f"{pkgfindings.FORMAT}\0{pkgfindings.MIN_BYTES}\0{findings.cache_extra(a)}"


def _vars(f):
    return {k: getattr(f, k) for k in f.__slots__}
