"""`layerscope packages` (cli/packages.py): JSON lines per the contract, --layer,
--layers, the text table, names never reaching the terminal raw, and a note
on standard error."""

from __future__ import annotations

import json

import pytest

from layerscope.cli import main
from layerscope.testing.pkgdb import dpkg_list, dpkg_status
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive

KEYS = {"manager", "name", "version", "arch", "layer", "changed_in", "bytes", "hidden_bytes", "files", "location",
        "shared_bytes"}


@pytest.fixture
def image(tmp_path):
    evil = "x\x1b[31m"
    layers = [
        LayerSpec([F("usr/bin/a", size=100),
                   F("var/lib/dpkg/status", data=dpkg_status([{"Package": "a", "Version": "1"}])),
                   F("var/lib/dpkg/info/a.list", data=dpkg_list(["/usr/bin/a"]))]),
        LayerSpec([F("usr/bin/a", size=120), F("usr/bin/b", size=40), F("app/own", size=9),
                   F("var/lib/dpkg/status", data=dpkg_status([{"Package": "a", "Version": "2"},
                                                               {"Package": evil, "Version": "1"}])),
                   F("var/lib/dpkg/info/a.list", data=dpkg_list(["/usr/bin/a"])),
                   F(f"var/lib/dpkg/info/{evil}.list", data=dpkg_list(["/usr/bin/b"])),
                   F("var/lib/rpm/Packages", size=10)]),
    ]
    p = tmp_path / "img.tar"
    write_archive(str(p), [ImageSpec(layers)], "docker-legacy")
    return str(p)


def test_json_lines(image, capsys):
    assert main(["packages", image, "--json", "--no-cache"]) == 0
    cap = capsys.readouterr()
    lines = [json.loads(x) for x in cap.out.splitlines()]
    assert all(set(d) == KEYS for d in lines)
    assert [(d["name"], d["version"], d["layer"], d["changed_in"], d["bytes"], d["hidden_bytes"], d["files"])
            for d in lines] == [("a", "2", 1, [1], 120, 100, 1), ("x\x1b[31m", "1", 1, [], 40, 0, 1)]
    assert "BerkeleyDB" in cap.err and cap.err.startswith("layerscope: note: ")


def test_layers_and_an_earlier_view(image, capsys):
    assert main(["packages", image, "--json", "--layers", "--layer", "0", "--no-cache"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(d["name"], d["version"], d["bytes"]) for d in lines[:1]] == [("a", "1", 100)]
    (layer0,) = lines[1:]
    assert set(layer0) == {"layer", "unowned_bytes", "owned_bytes", "added", "upgraded", "removed"}
    assert layer0["layer"] == 0 and layer0["owned_bytes"] == 100
    assert [(c["name"], c["version"], c["bytes"]) for c in layer0["added"]] == [("a", "1", 100)]
    assert main(["packages", image, "--json", "--layers", "--no-cache"]) == 0
    layer1 = [json.loads(x) for x in capsys.readouterr().out.splitlines()][-1]
    assert [(c["name"], c["from_version"], c["version"], c["bytes"]) for c in layer1["upgraded"]] == [("a", "1", "2", 120)]
    assert layer1["owned_bytes"] == 160 and layer1["unowned_bytes"] > 9


def test_text_escapes_names(image, capsys):
    assert main(["packages", image, "--layers", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "x\\x1b[31m" in out
    assert "upgraded" not in out and "1 → 2" in out and "note: rpm:" in out


def test_layer_out_of_range(image, capsys):
    assert main(["packages", image, "--layer", "7"]) == 2
    assert "out of range" in capsys.readouterr().err
