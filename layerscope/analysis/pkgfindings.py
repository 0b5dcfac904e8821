"""Findings about packages (analysis.packages): a package one step installed
and a later one removed, whose bytes stay in the image; build toolchains
(compilers, make, -dev packages) left in the final view.

A third family beside findings.py's two: these name by package bytes that
the hidden-copy findings (a removal) or nothing else (a toolchain) already
count, so they are listed, not added to the others."""

from __future__ import annotations

import re
from operator import itemgetter

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


# -- a compact state for the cache (a second open skips the package findings) ---
FORMAT = 1


def to_state(found: list[Finding]) -> list[tuple]:
    """What a cache keeps of the package findings: their words too (they name packages, which only
    the package analysis knows), each list of paths as one string and its sizes as one array's bytes."""
    from array import array

    # each column taken in C (itemgetter), not by a generator per path
    return [(f.kind, f.layer, f.fixed_by, f.bytes, "\0".join(map(itemgetter(0), f.paths)),
             array("q", map(itemgetter(1), f.paths)).tobytes(), f.fix) for f in found]


def from_state(a, state) -> list[Finding]:
    """Package findings of analysis `a` from to_state(); a ValueError (or TypeError) unless each is
    whole: a kind of this module, layers of this image, sizes that add up to its bytes, absolute
    paths, biggest first.  The cache's key holds the layers, the base and the build steps: the
    package analysis, a function of them, is not made again to compare."""
    from array import array

    if not isinstance(state, list):
        raise ValueError("not package findings")
    n = a.stack.n
    base_layers = a.waste.base_layers
    out = []
    for item in state:
        kind, L, H, total, paths, sizes, fix = item
        if not (kind in KINDS and type(L) is int and 0 <= L < n and type(total) is int
                and (H is None) == (kind == BUILD_TOOLCHAIN) and (H is None or (type(H) is int and L < H < n))
                and isinstance(paths, str) and isinstance(sizes, bytes) and isinstance(fix, str) and fix):
            raise ValueError("not a package finding")
        ns = array("q")
        ns.frombytes(sizes)
        ps = paths.split("\0") if paths else []
        if not ps or len(ps) != len(ns) or sum(ns) != total or min(ns) < 0 or not all(p[:1] == "/" for p in ps) \
                or ns.tolist() != sorted(ns, reverse=True):
            raise ValueError("a package finding that does not add up")
        out.append(Finding(kind, L, H, total, list(zip(ps, ns)), L < base_layers, fix))
    return out
