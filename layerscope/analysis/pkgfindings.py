"""Findings about packages (analysis.packages): a package one step installed
and a later one removed, whose bytes stay in the image; build toolchains
(compilers, make, -dev packages) left in the final view.

A third family beside findings.py's two: these name by package bytes that
the hidden-copy findings (a removal) or nothing else (a toolchain) already
count, so they are listed, not added to the others."""

from __future__ import annotations

import re

from .findings import Finding, _cap, _step

PACKAGE_REMOVED = "package-removed"
BUILD_TOOLCHAIN = "build-toolchain"
KINDS = (PACKAGE_REMOVED, BUILD_TOOLCHAIN)

# what compiles, links or builds, by package name (dpkg, apk, rpm); a -dev/-devel package holds headers
# and static libraries only a build reads
TOOLCHAIN = re.compile(
    r"(?:gcc|g\+\+|cpp|gfortran|clang|llvm|lld)(?:-\d+(?:\.\d+)?)?(?:-[a-z0-9_-]+-linux-gnu)?"
    r"|lib(?:gcc|stdc\+\+)-\d+-dev|build-essential|build-base|make|cmake|ninja-build|autoconf|automake|libtool"
    r"|binutils(?:-[a-z0-9_-]+)?|pkg-?config|pkgconf|dpkg-dev|python3?(?:\.\d+)?-dev(?:el)?|rust(?:c)?|cargo"
    r"|golang(?:-[\d.]+)?(?:-go)?|.+-dev|.+-devel")
SYSTEM = ("dpkg", "apk", "rpm")
MIN_BYTES = 1 << 20  # a toolchain under a megabyte is not worth a finding


def is_toolchain(manager: str, name: str) -> bool:
    return manager in SYSTEM and TOOLCHAIN.fullmatch(name) is not None


def package_findings(a) -> list[Finding]:
    pa = a.packages()
    base_layers = a.waste.base_layers
    out = []
    removed: dict[tuple[int, int], list] = {}  # (installed by, removed by) -> packages: one finding per pair of steps
    for r in pa.removed:
        if r.bytes > 0:
            removed.setdefault((r.layer, r.removed_in), []).append(r)
    for (L, H), rs in sorted(removed.items()):
        rs.sort(key=lambda r: (-r.bytes, r.name))
        base = L < base_layers
        if len(rs) == 1:
            what = f"{rs[0].name} {rs[0].version} ({rs[0].manager})"
        else:
            what = f"{len(rs):,} packages (" + ", ".join(r.name for r in rs[:5]) + \
                (f" and {len(rs) - 5:,} more)" if len(rs) > 5 else ")")
        if base:
            fix = (f"{_cap(_step(a, H))} removed {what} of the base image, which frees nothing: the files stay "
                   f"in {_step(a, L)}; a base image without them is the fix.")
        else:
            fix = (f"{_cap(_step(a, H))} removed {what}, which {_step(a, L)} installed, so the files stay in "
                   f"the image: install and remove in the same RUN, or install in a build stage of a "
                   f"multi-stage build and copy out only what it made.")
        seen: set[str] = set()
        paths = []
        for r in rs:  # a file two of them list (a dpkg package and its dist-info) once
            for p, n in r.paths:
                if p not in seen:
                    seen.add(p)
                    paths.append(("/" + p, n))
        paths.sort(key=lambda t: (-t[1], t[0]))
        out.append(Finding(PACKAGE_REMOVED, L, H, sum(n for _, n in paths), paths, base, fix))
    groups: dict[int, list] = {}
    for row in pa.rows():
        if is_toolchain(row.manager, row.name) and row.bytes:
            groups.setdefault(row.layer, []).append(row)
    for L, rows in sorted(groups.items()):
        total = sum(r.bytes for r in rows)
        if total < MIN_BYTES:
            continue
        rows.sort(key=lambda r: (-r.bytes, r.name))
        names = ", ".join(r.name for r in rows[:6]) + (f" and {len(rows) - 6:,} more" if len(rows) > 6 else "")
        base = L < base_layers
        paths = sorted((("/" + p, n) for r in rows for p, n in r.paths), key=lambda t: (-t[1], t[0]))
        if base:
            fix = (f"{_cap(_step(a, L))} of the base image leaves a build toolchain ({names}) in the image: a "
                   f"runtime base image (a -slim or distroless one) leaves it out.")
        else:
            fix = (f"{_cap(_step(a, L))} leaves a build toolchain ({names}) in the final image: build in a "
                   f"separate stage and copy only the results, or remove it in the same RUN "
                   f"(apt-get purge --auto-remove, apk del, dnf remove).")
        out.append(Finding(BUILD_TOOLCHAIN, L, None, total, paths, base, fix))
    return out
