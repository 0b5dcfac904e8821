"""Python: each installed distribution's `NAME-VERSION.dist-info/RECORD`
(CSV rows path,hash,size; paths relative to the site-packages directory)
or, for the older egg-info, `NAME-VERSION[-pyX.Y].egg-info/installed-files.txt`
(one path a line, relative to the egg-info directory).  Name and version
come from the directory name, so METADATA (which can be long) is not read."""

from __future__ import annotations

import posixpath

from . import PACKAGES_MAX, PYTHON, Budget, Package, clip, image_path, text


def _name_version(d: str) -> tuple[str, str]:
    stem = d.rsplit(".", 1)[0]  # drop .dist-info / .egg-info
    name, sep, rest = stem.partition("-")
    version = rest.split("-py", 1)[0] if sep else ""
    return name, version


def _record_paths(data: bytes, site: str) -> list[str]:
    import csv

    out = []
    try:
        for row in csv.reader(text(data).splitlines()):
            if row:
                q = image_path(row[0], site)
                if q:
                    out.append(q)
    except csv.Error:
        pass  # what was read before the bad row stands
    return out


def read(files: dict[str, bytes], budget: Budget) -> tuple[list[Package], list[str]]:
    out = []
    notes = []
    for p in sorted(files):
        if len(out) >= PACKAGES_MAX:
            notes.append(f"python: more than {PACKAGES_MAX:,} distributions; only the first are read")
            break
        meta_dir = posixpath.dirname(p)
        site, d = posixpath.split(meta_dir)
        name, version = _name_version(d)
        if p.endswith("/RECORD"):
            paths = _record_paths(files[p], site)
        else:
            paths = [q for q in (image_path(x.rstrip("\r"), meta_dir) for x in text(files[p]).split("\n")) if q]
        paths.append(p)
        out.append(Package(PYTHON, clip(name), clip(version), "", site, budget.take(list(dict.fromkeys(paths)))))
    return out, notes
