"""CSV forms of the CLI's entry rows (`ls --format csv`) and of the explorer's
lists (waste, findings) when it saves a view.  Columns are a contract, as
JSON keys are: add columns, never rename them."""

from __future__ import annotations

import csv

from ..errors import one_line
from .jsondoc import encode_names

ENTRY_COLUMNS = ("path", "type", "size", "mode", "uid", "gid", "link", "layer", "change", "kind", "deleted_layer",
                 "implied", "path_bytes", "link_bytes")
WASTE_COLUMNS = ("path", "wasted_bytes", "copies", "layers", "path_bytes")
FINDING_COLUMNS = ("kind", "bytes", "layer", "fixed_by", "base", "paths", "biggest_path", "fix")
_FORMULA = "=+-@\t\r"  # a cell starting with one of these is run by a spreadsheet


def _safe(text: str) -> str:
    """A name or command from the image as a cell: control characters
    escaped, and never a formula (prefixed with ')."""
    text = one_line(text, 1 << 20)
    return "'" + text if text and text[0] in _FORMULA else text


def write_entries(out, rows) -> None:
    """One row per entry doc (`ls --json`'s) under a header; names as the text
    output shows them (*_bytes hold names that are not UTF-8)."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(ENTRY_COLUMNS)
    for d in rows:
        d = encode_names(d)
        d["mode"] = f"{d['mode']:04o}"
        d["implied"] = "true" if d.get("implied") else ""
        if d.get("path"):
            d["path"] = one_line(d["path"], 1 << 20)
        if d.get("link"):
            d["link"] = _safe(d["link"])
        w.writerow(["" if d.get(k) is None else d[k] for k in ENTRY_COLUMNS])


def write_waste(out, docs) -> None:
    """One row per wasted path (report's "waste" items): its copies as a
    count and the layers that hold them."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(WASTE_COLUMNS)
    for d in docs:
        d = encode_names(d)
        w.writerow([_safe(d["path"]), d["wasted_bytes"], len(d["copies"]),
                    " ".join(str(c["layer"]) for c in d["copies"]), d.get("path_bytes", "")])


def write_findings(out, docs) -> None:
    """One row per finding (report's "findings" items), with its biggest path."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(FINDING_COLUMNS)
    for d in docs:
        paths = d.get("paths") or []
        w.writerow([d["kind"], d["bytes"], d["layer"], "" if d.get("fixed_by") is None else d["fixed_by"],
                    "true" if d.get("base") else "", d.get("path_count", len(paths)),
                    _safe(paths[0]["path"]) if paths else "", _safe(d.get("fix", ""))])
