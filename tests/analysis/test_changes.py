"""What kind of change each modified entry is, and the per-layer counts that
every view shows: new content, metadata only (a chmod/chown copy-up) and
duplicate (an identical copy) add up to the modified count."""

from __future__ import annotations

import json

from layerscope.cli import main
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive

BASE = LayerSpec([F("etc", "dir")] + [F(f"etc/f{i}", data=b"%d" % i * 100) for i in range(6)], created_by="ADD base")
CHMOD = LayerSpec([F("etc", "dir")] + [F(f"etc/f{i}", data=b"%d" % i * 100, mode=0o600) for i in range(3)],
                  created_by="RUN chmod -R go-rwx /etc")
REWRITE = LayerSpec([F("etc", "dir"), F("etc/f3", data=b"new" * 100), F("etc/f4", data=b"4" * 100),
                     F("etc/g", data=b"g")], created_by="RUN rewrite f3, copy f4 again")


def test_modified_entries_split_by_kind_in_report_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")
    p = tmp_path / "kinds.tar"
    write_archive(str(p), [ImageSpec([BASE, CHMOD, REWRITE])], "docker-legacy")
    assert main(["report", "--json", str(p)]) == 0
    layers = json.loads(capsys.readouterr().out)["layers"]
    got = [(l["added"], l["modified"], l["modified_content"], l["modified_metadata_only"],
            l["modified_duplicate"]) for l in layers]
    assert got == [(7, 0, 0, 0, 0), (0, 3, 0, 3, 0), (1, 2, 1, 0, 1)]
    assert main(["report", str(p)]) == 0
    rows = [l for l in capsys.readouterr().out.splitlines() if l[:1] in "012" and "│" in l]
    cells = [[c.strip() for c in r.split("│")] for r in rows]
    # + ~ * = - : columns 4 to 8 at the default (wide) width
    assert [c[4:9] for c in cells] == [["7", "0", "0", "0", "0"], ["0", "0", "3", "0", "0"], ["1", "1", "0", "1", "0"]]
