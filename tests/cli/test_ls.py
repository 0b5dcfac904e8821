"""`layerscope ls --sort name|size --top N`: the N biggest entries of the
merged view at a layer (or of its changes), the same in text, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest

from layerscope.cli import main
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive


@pytest.fixture
def image(tmp_path):
    p = tmp_path / "sizes.tar"
    layers = [
        LayerSpec([F("etc", "dir"), F("etc/a", data=b"a" * 300), F("etc/b", data=b"b" * 5000),
                   F("etc/c", data=b"c" * 300), F("usr/lib/big", data=b"g" * 9000), F("etc/l", "symlink", link="a")],
                  created_by="ADD rootfs.tar /"),
        LayerSpec([F("etc/b", "whiteout"), F("opt/new", data=b"n" * 7000), F("etc/a", data=b"A" * 20)],
                  created_by="RUN change"),
    ]
    write_archive(str(p), [ImageSpec(layers)], "docker-legacy")
    return str(p)


def _json(capsys, *argv):
    assert main(["ls", "--no-cache", *argv]) == 0
    return [(d["path"], d["size"], d["layer"]) for d in map(json.loads, capsys.readouterr().out.splitlines())]


def test_sort_size_top_n_gives_the_biggest_entries_of_the_view(image, capsys):
    assert _json(capsys, "--json", "--sort", "size", "--top", "3", image) == [
        ("/usr/lib/big", 9000, 0), ("/opt/new", 7000, 1), ("/etc/c", 300, 0)]
    # at layer 0 the file that layer 1 deleted is there; equal sizes go by path
    assert _json(capsys, "--json", "--sort", "size", "--top", "4", "--layer", "0", image) == [
        ("/usr/lib/big", 9000, 0), ("/etc/b", 5000, 0), ("/etc/a", 300, 0), ("/etc/c", 300, 0)]
    everything = _json(capsys, "--json", "--sort", "size", image)
    assert [s for _, s, _ in everything] == sorted((s for _, s, _ in everything), reverse=True)
    assert sorted(everything) == sorted(_json(capsys, "--json", image))  # the same entries, another order


def test_top_alone_keeps_the_name_order(image, capsys):
    assert _json(capsys, "--json", "--top", "3", image) == [("/etc", 0, 0), ("/etc/a", 20, 1), ("/etc/c", 300, 0)]
    assert _json(capsys, "--json", "--sort", "name", "--top", "0", image) == []


def test_sort_and_top_apply_to_changes(image, capsys):
    assert _json(capsys, "--json", "--changes", "--sort", "size", "--top", "2", image) == [
        ("/opt/new", 7000, 1), ("/etc/b", 5000, 1)]  # a deleted entry has the size of what it removed


def test_text_and_csv_list_the_same_entries(image, capsys):
    argv = ["ls", "--no-cache", "--sort", "size", "--top", "2", image]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [l.split()[-1] for l in lines] == ["/usr/lib/big", "/opt/new"]
    assert "9.0 kB" in lines[0] and "7.0 kB" in lines[1]
    assert main(argv + ["--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["path"], r["size"]) for r in rows] == [("/usr/lib/big", "9000"), ("/opt/new", "7000")]


def test_a_negative_top_is_a_usage_error(image, capsys):
    assert main(["ls", "--top", "-1", image]) == 2
    assert "--top must be 0 or more" in capsys.readouterr().err
