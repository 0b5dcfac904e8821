"""Extraction takes the paths it is asked for literally, and hardlinks to
hardlinks come out as hard links to the real file (or a copy of it)."""

from __future__ import annotations

import os

import pytest

from layerscope.analysis import analyse
from layerscope.cli import main
from layerscope.extract import ExtractError, extract_paths
from layerscope.formats.source import open_graph
from layerscope.layers.indexing import index_layers
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive


def load(tmp_path, layers):
    p = tmp_path / "img.tar"
    write_archive(p, [ImageSpec([LayerSpec(l, f"step {n}") for n, l in enumerate(layers)])], "docker-legacy")
    g = open_graph([str(p)])
    im = g.images[0]
    index_layers(g, layers=im.layers, use_cache=False, workers=1)
    assert not [l.error for l in im.layers if l.error]
    return p, analyse(g, im)


ETC = [F("etc/", "dir"), F("etc/passwd", data=b"root:x:0:0\n")]


@pytest.mark.parametrize("asked", ["/etc/passwd ", " /etc/passwd", "/etc/passwd\t", "/etc/passwd\n"])
def test_a_path_is_matched_exactly(tmp_path, asked):
    _, a = load(tmp_path, [ETC])
    dest = tmp_path / "out"
    with pytest.raises(ExtractError, match="is not in the image at layer 0") as err:
        extract_paths(a, 0, [asked], str(dest))
    assert "passwd" in str(err.value)
    assert not (dest / "etc/passwd").exists()


def test_a_name_with_a_trailing_space_is_its_own_file(tmp_path):
    _, a = load(tmp_path, [ETC + [F("etc/passwd ", data=b"other\n")]])
    dest = tmp_path / "out"
    r = extract_paths(a, 0, ["/etc/passwd "], str(dest))
    assert r.files == 1
    assert (dest / "etc/passwd ").read_bytes() == b"other\n"
    assert not (dest / "etc/passwd").exists()


def test_cli_names_the_missing_path(tmp_path, capsys):
    p, _ = load(tmp_path, [ETC])
    rc = main(["extract", str(p), "/etc/passwd ", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and "'/etc/passwd '" in err and "not in the image" in err, err
    assert not (tmp_path / "out/etc/passwd").exists()
