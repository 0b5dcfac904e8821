"""The CSV forms of entries, wasted paths and findings (views/csvdoc.py)."""

from __future__ import annotations

import csv
import io

from layerscope.views.csvdoc import ENTRY_COLUMNS, FINDING_COLUMNS, WASTE_COLUMNS, write_entries, write_findings, write_waste


def _rows(write, docs):
    out = io.StringIO()
    write(out, docs)
    return list(csv.reader(io.StringIO(out.getvalue())))


def test_entries_keep_ls_columns_and_escape_names():
    rows = _rows(write_entries, [{"path": "/a\x1bb", "type": "symlink", "size": 0, "mode": 0o777, "uid": 0, "gid": 0,
                                  "link": "=cmd()", "layer": 2}])
    assert tuple(rows[0]) == ENTRY_COLUMNS
    d = dict(zip(rows[0], rows[1]))
    assert d["path"] == "/a\\x1bb" and d["link"] == "'=cmd()" and d["mode"] == "0777" and d["layer"] == "2"


def test_waste_and_findings_rows():
    rows = _rows(write_waste, [{"path": "/x", "wasted_bytes": 10, "copies": [{"layer": 0}, {"layer": 3}]}])
    assert tuple(rows[0]) == WASTE_COLUMNS and rows[1] == ["/x", "10", "2", "0 3", ""]
    rows = _rows(write_findings, [{"kind": "cache", "bytes": 5, "layer": 1, "fixed_by": None, "base": False,
                                   "paths": [{"path": "+/p", "bytes": 5}], "path_count": 1, "fix": "-rm it"}])
    assert tuple(rows[0]) == FINDING_COLUMNS
    assert rows[1] == ["cache", "5", "1", "", "", "1", "'+/p", "'-rm it"]
