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


CHAIN = [F("d/", "dir"), F("d/a", data=b"real contents", mode=0o640), F("d/b", "hardlink", link="d/a"),
         F("d/c", "hardlink", link="d/b"), F("d/e", "hardlink", link="d/c")]


def test_a_chain_of_hardlinks_is_all_one_file(tmp_path):
    _, a = load(tmp_path, [CHAIN])
    dest = tmp_path / "out"
    r = extract_paths(a, 0, ["/d"], str(dest))
    assert not r.skipped, r.skipped
    ino = os.stat(dest / "d/a").st_ino
    for n in "bce":
        assert os.stat(dest / "d" / n).st_ino == ino, n
    assert os.stat(dest / "d/a").st_nlink == 4
    assert r.files == 1 and r.links == 3


def test_a_chain_to_a_file_not_extracted_gives_one_copy(tmp_path):
    _, a = load(tmp_path, [CHAIN])
    dest = tmp_path / "out"
    r = extract_paths(a, 0, ["/d/c", "/d/e"], str(dest))
    assert not r.skipped, r.skipped
    assert (dest / "d/c").read_bytes() == b"real contents"
    assert os.stat(dest / "d/c").st_mode & 0o777 == 0o640
    assert os.stat(dest / "d/e").st_ino == os.stat(dest / "d/c").st_ino
    assert not (dest / "d/a").exists() and not (dest / "d/b").exists()


def test_a_chain_across_layers(tmp_path):
    _, a = load(tmp_path, [[F("a", data=b"base")], [F("b", "hardlink", link="a")], [F("c", "hardlink", link="b")]])
    dest = tmp_path / "out"
    r = extract_paths(a, 2, ["/c"], str(dest))
    assert not r.skipped, r.skipped
    assert (dest / "c").read_bytes() == b"base"


def test_a_cycle_of_hardlinks_is_skipped_not_looped(tmp_path):
    _, a = load(tmp_path, [[F("x", "hardlink", link="y")], [F("y", "hardlink", link="x")]])
    dest = tmp_path / "out"
    r = extract_paths(a, 1, ["/x", "/y"], str(dest))
    assert len(r.skipped) == 2 and all("not a regular file" in s for s in r.skipped), r.skipped
    assert not os.listdir(dest)


def test_a_long_chain_is_bounded(tmp_path):
    n = 500
    layer = [F("f0", data=b"z")] + [F(f"f{k}", "hardlink", link=f"f{k - 1}") for k in range(1, n)]
    _, a = load(tmp_path, [layer])
    dest = tmp_path / "out"
    r = extract_paths(a, 0, [f"/f{n - 1}", "/f3"], str(dest))
    assert (dest / "f3").read_bytes() == b"z"
    assert not (dest / f"f{n - 1}").exists()
    assert any(s.startswith(f"/f{n - 1}:") for s in r.skipped), r.skipped
