"""The JSON documents of packages: `packages --json` lines and `report
--json`'s "packages".  A contract (README): add keys, never rename.  No rich
here: `report --json` does not load it."""

from __future__ import annotations


def package_doc(r) -> dict:
    return {
        "manager": r.manager, "name": r.name, "version": r.version, "arch": r.arch, "layer": r.layer,
        "changed_in": list(r.changed_in), "bytes": r.bytes, "hidden_bytes": r.hidden_bytes, "files": r.files,
        "location": ("/" + r.location) if r.location else None, "shared_bytes": r.shared_bytes,
    }


def _change_doc(c, removed: bool = False) -> dict:
    d = {"manager": c.manager, "name": c.name, "arch": c.arch, "bytes": c.bytes,
         "location": ("/" + c.location) if c.location else None}
    if removed:
        d["version"] = c.old_version
    else:
        d["version"] = c.version
        if c.old_version:
            d["from_version"] = c.old_version
    return d


def layer_doc(lp) -> dict:
    return {
        "layer": lp.layer, "unowned_bytes": lp.unowned_bytes, "owned_bytes": lp.owned_bytes,
        "added": [_change_doc(c) for c in lp.added],
        "upgraded": [_change_doc(c) for c in lp.upgraded],
        "removed": [_change_doc(c, True) for c in lp.removed],
    }


SUMMARY_TOP = 5  # packages named in the report's summary line


def summary_doc(a, top: int = 10) -> dict:
    """`report --json`'s "packages": per manager, the count and bytes of the
    final view's packages, the biggest `top`, and the readers' notes."""
    pa = a.packages()
    rows = pa.rows()
    managers: dict[str, dict] = {}
    for r in rows:
        m = managers.setdefault(r.manager, {"packages": 0, "bytes": 0})
        m["packages"] += 1
        m["bytes"] += r.bytes
    return {"managers": managers, "biggest": [package_doc(r) for r in rows[:max(top, 0)]],
            "removed": len(pa.removed), "shared_bytes": pa.shared_bytes, "notes": list(pa.notes)}
