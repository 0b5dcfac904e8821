"""`layerscope report`: the findings in the JSON document (their keys, the
--top paths of each) and in the text report (a section after the totals, the
base image's apart, names escaped)."""

from __future__ import annotations

import json

import pytest

from layerscope.analysis.findings import KINDS
from layerscope.cli import main
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive
from tests.conftest import ROOT

INSTALL = "/bin/sh -c apt-get update && apt-get install -y curl"
R = bytes(range(256)) * 100  # big enough to be compared for duplicate content


@pytest.fixture
def image(tmp_path):
    p = tmp_path / "apt.tar"
    layers = [
        LayerSpec([F("etc/os-release", data=b"ID=demo\n"), F("usr/share/doc/README", data=b"d" * 300)],
                  created_by="ADD rootfs.tar /"),
        LayerSpec([F("var/lib/apt/lists/a_Packages", data=b"a" * 9000),
                   F("var/lib/apt/lists/b_Packages", data=b"b" * 5000),
                   F("var/lib/apt/lists/c_InRelease", data=b"c" * 700), F("var/lib/apt/lists/d", data=b"d" * 10),
                   F("build/big.o", data=b"o" * 8000), F("tmp/evil\x1b[31mname", data=b"e" * 50)],
                  created_by=INSTALL),
        LayerSpec([F("build", "whiteout"), F("usr/share/doc", "whiteout")], created_by="/bin/sh -c rm -rf /build /usr/share/doc"),
    ]
    write_archive(str(p), [ImageSpec(layers)], "docker-legacy")
    return str(p)


APT_FIX = ("Layer 1 (RUN apt-get update && apt-get install -y curl) leaves package indexes in the image: end the RUN "
           "that runs apt-get update with rm -rf /var/lib/apt/lists/*.")


def test_report_json_lists_the_findings_biggest_first(image, capsys):
    assert main(["report", "--json", "--no-cache", image]) == 0
    found = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["kind"], f["layer"], f["fixed_by"], f["bytes"], f["base"], f["path_count"]) for f in found] == [
        ("package-index", 1, None, 14_710, False, 4),
        ("deleted-later", 1, 2, 8000, False, 1),
        ("deleted-later", 0, 2, 300, True, 1),
        ("temp-files", 1, None, 50, False, 1),
    ]
    assert found[0] == {
        "kind": "package-index", "layer": 1, "fixed_by": None, "bytes": 14_710,
        "paths": [{"path": "/var/lib/apt/lists/a_Packages", "bytes": 9000},
                  {"path": "/var/lib/apt/lists/b_Packages", "bytes": 5000},
                  {"path": "/var/lib/apt/lists/c_InRelease", "bytes": 700},
                  {"path": "/var/lib/apt/lists/d", "bytes": 10}],
        "path_count": 4, "base": False, "fix": APT_FIX,
    }
    assert found[3]["paths"] == [{"path": "/tmp/evil\x1b[31mname", "bytes": 50}]  # JSON keeps names exact


def test_report_json_top_cuts_the_paths_of_each_finding(image, capsys):
    assert main(["report", "--json", "--top", "2", "--no-cache", image]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [len(f["paths"]) for f in doc["findings"]] == [2, 1, 1, 1]
    assert [p["bytes"] for p in doc["findings"][0]["paths"]] == [9000, 5000]
    assert doc["findings"][0]["path_count"] == 4
    assert len(doc["waste"]) == 2


def _unwrapped(lines: list[str]) -> list[str]:
    """The section's lines with each fix (wrapped under its finding) on one line."""
    out: list[str] = []
    in_fix = False
    for line in lines:
        if in_fix and line.startswith(" " * 9) and not line[9:].startswith("Fix: "):
            out[-1] += " " + line.strip()
            continue
        in_fix = line.startswith(" " * 9 + "Fix: ")
        out.append(line)
    return out


def test_report_text_has_a_findings_section_after_the_totals(image, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["report", "--no-cache", image]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    lines = [l.rstrip() for l in out.splitlines()]
    start = lines.index("Findings (4: what the build could save, biggest first)")
    assert lines[start - 2].startswith("Efficiency")
    section = _unwrapped(lines[start + 1:lines.index("", start)])
    assert section[:6] == [
        "14.7 kB  package-index  layer 1  RUN apt-get update && apt-get install -y curl",
        "         /var/lib/apt/lists/a_Packages  9.0 kB",
        "         /var/lib/apt/lists/b_Packages  5.0 kB",
        "         /var/lib/apt/lists/c_InRelease  700 B",
        "         … 1 more path",
        "         Fix: " + APT_FIX,
    ]
    assert section[6] == " 8.0 kB  deleted-later  layer 1 → layer 2  RUN apt-get update && apt-get install -y curl"
    assert section[7] == "         /build/big.o  8.0 kB"
    assert section[8].startswith("         Fix: Layer 2 (RUN rm -rf /build /usr/share/doc) deleted 1 file that layer 1")
    assert section[9:12] == [
        "   50 B  temp-files  layer 1  RUN apt-get update && apt-get install -y curl",
        "         /tmp/evil\\x1b[31mname  50 B",
        "         Fix: Layer 1 (RUN apt-get update && apt-get install -y curl) leaves temporary files in the image: "
        "remove what /tmp holds in the same RUN that makes it, or RUN --mount=type=tmpfs,target=/tmp.",
    ]
    base = section[section.index("In the base image (1 finding, 300 B): no later step frees these bytes; a smaller "
                                 "or newer base image does."):]
    assert base[1:] == ["  300 B  deleted-later  layer 0 → layer 2  ADD rootfs.tar /"]


def test_report_text_top_limits_the_findings(image, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["report", "--top", "1", "--no-cache", image]) == 0
    lines = [l.rstrip() for l in capsys.readouterr().out.splitlines()]
    start = lines.index("Findings (4: what the build could save, biggest first)")
    heads = [l for l in lines[start:] if "  layer " in l and not l.startswith(" " * 9)]
    assert heads == ["14.7 kB  package-index  layer 1  RUN apt-get update && apt-get install -y curl",
                     "  300 B  deleted-later  layer 0 → layer 2  ADD rootfs.tar /"]
    assert "… 2 more findings (--top N, or report --json for all)" in lines


def test_readme_documents_every_finding_key(image, capsys):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index("### `report --json`"):readme.index("### `ls --json`")]
    assert main(["report", "--json", "--no-cache", image]) == 0
    found = json.loads(capsys.readouterr().out)["findings"]
    keys = {k for f in found for k in f} | {k for f in found for p in f["paths"] for k in p}
    assert keys == {"kind", "layer", "fixed_by", "bytes", "paths", "path_count", "base", "fix", "path"}
    assert all(f'"{k}"' in block for k in keys)
    assert all(f"`{k}`" in block for k in KINDS)


def test_report_text_escapes_names_and_steps_in_findings(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    p = tmp_path / "hostile.tar"
    step = "/bin/sh -c cp -r src\x1b[2J /app\u202e"
    write_archive(str(p), [ImageSpec([LayerSpec([F("etc/os-release", data=b"ID=x\n")], "ADD base"),
                                      LayerSpec([F("app\x1b[31m/.git/HEAD", data=b"ref"),
                                                 F("app/a\x07", data=R), F("app/b\x1b]0;t\x07", data=R)], step)])],
                  "docker-legacy")
    assert main(["report", "--no-cache", str(p)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "(/app\\x1b[31m/.git is one)" in out
    assert "/app/b\\x1b]0;t\\x07 is the same as /app/a\\x07" in out
    assert "RUN cp -r src\\x1b[2J /app\\u202e" in out

