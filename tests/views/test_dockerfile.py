"""`report --dockerfile` (views/dockerfile.py): the history as a Dockerfile
with each step's figures in comments, the base image's steps commented out,
names never reaching the terminal raw; its JSON."""

from __future__ import annotations

import json

from layerscope.cli import main
from layerscope.testing.synth import EmptyStep, F, ImageSpec, LayerSpec, write_archive

CLASSIC = "layerscope/data/classic-docker.tar"


def test_report_dockerfile_text(capsys):
    assert main(["report", "--dockerfile", CLASSIC]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[2] == "FROM <base image>"
    assert "# ADD rootfs.tar.xz / # debian-like base" in lines  # the base image's step, commented out
    i = lines.index("RUN chmod 0700 /usr/bin/vim.tiny")
    assert lines[i - 2] == "# layer 5: 60.0 kB added, hid 60.0 kB stored before"
    assert lines[i - 1] == "#   metadata-copy-up 60.0 kB of layer 1, hidden here"
    j = lines.index("RUN apt-get install -y vim-tiny")
    notes = lines[lines.index("# layer 1: 93.7 kB added, hid 2.0 kB stored before"):j]
    assert notes[1].startswith("#   metadata-copy-up 60.0 kB (hidden by layer 5): ")
    assert lines[-1] == 'CMD ["nginx", "-g", "daemon off;"]'
    # every line is a comment, an instruction, or blank
    words = ("FROM", "RUN", "CMD", "ENV", "ADD", "COPY")
    assert all(not l or l.startswith("#") or l.split()[0] in words for l in lines)


def test_report_dockerfile_json(capsys):
    assert main(["report", "--dockerfile", "--json", CLASSIC]) == 0
    doc = json.loads(capsys.readouterr().out)
    steps = doc["steps"]
    assert [s["layer"] for s in steps] == [0, None, 1, 2, 3, 4, 5, 6, None]
    s = steps[6]
    assert (s["instruction"], s["bytes_added"], s["bytes_hidden"], s["base"]) == \
        ("RUN chmod 0700 /usr/bin/vim.tiny", 60000, 60000, False)
    assert s["findings"] == [{"kind": "metadata-copy-up", "layer": 1, "fixed_by": 5, "bytes": 60000}]
    assert doc["dockerfile"].startswith("# ")


def test_a_step_with_escapes_and_lines_stays_data(tmp_path, capsys):
    evil = "/bin/sh -c echo \x1b[2J\x07 && \\\n  echo two\u202e"
    img = ImageSpec([LayerSpec([F("a", data=b"x")], created_by="ADD a /"),
                     LayerSpec([F("b", data=b"y")], created_by=evil), EmptyStep("/bin/sh -c #(nop)  USER \x1b]0;x\x07")])
    p = tmp_path / "evil.tar"
    write_archive(str(p), [img], "docker-legacy")
    assert main(["report", "--dockerfile", str(p)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    lines = out.splitlines()
    k = next(n for n, l in enumerate(lines) if l.startswith("RUN echo"))
    assert lines[k].endswith(" \\") and lines[k + 1].lstrip().startswith("echo two")


def test_report_squash_asks_for_ranges(capsys):
    assert main(["report", "--json", "--squash", "2..3", "--squash", "1..6", CLASSIC]) == 0
    got = [(w["change"], w["uncompressed_saved"]) for w in json.loads(capsys.readouterr().out)["what_if"]]
    assert got[:2] == [("squash 2..3", 24000), ("squash 1..6", 156507)]
    assert main(["report", "--squash", "5..2", CLASSIC]) == 2
    assert "--squash" in capsys.readouterr().err
