"""npm: every `node_modules/NAME/package.json` (and `node_modules/@SCOPE/NAME/`)
is one installed package; its name and version come from that file, its
files are its directory (the analysis takes them from the image, leaving
out the packages nested in its own node_modules)."""

from __future__ import annotations

import json
import posixpath

from . import NPM, PACKAGES_MAX, Package, clip, text


def location(pkg_dir: str) -> str:
    """The node_modules directory a package directory is in."""
    d = posixpath.dirname(pkg_dir)
    return posixpath.dirname(d) if posixpath.basename(d).startswith("@") else d


def read(files: dict[str, bytes], budget) -> tuple[list[Package], list[str]]:
    out = []
    notes = []
    bad = 0
    for p in sorted(files):
        if len(out) >= PACKAGES_MAX:
            notes.append(f"npm: more than {PACKAGES_MAX:,} packages; only the first are read")
            break
        d = posixpath.dirname(p)
        try:
            doc = json.loads(text(files[p]))
        except (ValueError, RecursionError):
            doc = None
        if not isinstance(doc, dict):
            bad += 1
            doc = {}
        name = doc.get("name")
        version = doc.get("version")
        if not isinstance(name, str) or not name:
            name = d[len(location(d)) + 1:]
        out.append(Package(NPM, clip(name), clip(version if isinstance(version, str) else ""), "", location(d),
                           [d]))
    if bad:
        notes.append(f"npm: {bad:,} package.json file(s) are not JSON objects; named by their directory")
    return out, notes
