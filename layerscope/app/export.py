"""Saving what the explorer shows (e in the layer view): the file tree as
`ls` writes it (every entry the view keeps, in its order, expanded or not),
the waste list or the findings as `report` writes them, as JSON lines or
CSV by the file's extension.  No Textual here: the layer view runs it in a
worker and asks before it overwrites anything."""

from __future__ import annotations

import os

from ..views import csvdoc
from ..views.jsondoc import dumps, finding_doc, tree_entry_doc, waste_doc

FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json"}
CHECK_EVERY = 0x3FFF


class ExportError(Exception):
    pass


def format_of(path: str) -> str:
    """"csv" or "json" from the file's extension; ExportError for another."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise ExportError(f"{os.path.basename(path) or path}: name it .csv or .json (JSON lines)")
    return FORMATS[ext]


def tree_docs(a, rows, cancelled=lambda: False) -> list[dict]:
    """Every entry the tree view keeps (its filter and only-changed applied),
    depth first in the view's sort, as `ls --json` writes them."""
    t = rows.tree
    if getattr(t, "lazy", False):
        # every path is written: an eager tree of the same view, not the shown one
        # materialised from this thread while the app reads it
        from ..analysis.tree import build_merged_tree
        from .treemodel import TreeRows, change_mask

        t = build_merged_tree(a.stack, a.kinds, t.layer)
        rows = TreeRows(t, rows.sort, change_mask(t) if rows.keep is not None else None)
    out: list[dict] = []
    stack = [iter(rows.kids(0))]
    k = 0
    while stack:
        n = next(stack[-1], None)
        if n is None:
            stack.pop()
            continue
        k += 1
        if not k & CHECK_EVERY and cancelled():
            raise ExportError("cancelled")
        d = tree_entry_doc(a, t, n)
        if d is not None:
            out.append(d)
        if t.is_dir(n) and t.has_children(n):
            stack.append(iter(rows.kids(n)))
    return out


def write(path: str, kind: str, items, a=None, cancelled=lambda: False) -> int:
    """Write the view `kind` ("tree": TreeRows; "waste", "findings": their
    items) to `path`; how many rows were written.  The file is written next to
    its name and renamed into place, so a failed save leaves nothing half done."""
    fmt = format_of(path)
    if kind == "tree":
        docs = tree_docs(a, items, cancelled)
    elif kind == "waste":
        docs = [waste_doc(w) for w in items]
    else:
        docs = [finding_doc(f, top=len(f.paths)) for f in items]
    tmp = f"{path}.part{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            if fmt == "json":
                for d in docs:
                    out.write(dumps(d))
                    out.write("\n")
            elif kind == "tree":
                csvdoc.write_entries(out, docs)
            elif kind == "waste":
                csvdoc.write_waste(out, docs)
            else:
                csvdoc.write_findings(out, docs)
        os.replace(tmp, path)
    except OSError as e:
        raise ExportError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return len(docs)
