"""A hostile `.dive-ci` file: every problem is one `layerscope: error:` line
and exit status 2, never a traceback, an "internal error", unbounded work, or
a gate that passes because part of the file was not read."""

from __future__ import annotations

import time

import pytest

from layerscope.cli import main
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive


@pytest.fixture
def archive(tmp_path):
    p = tmp_path / "img.tar"
    write_archive(p, [ImageSpec([LayerSpec([F("a", data=b"x" * 100)], "step 0"),
                                 LayerSpec([F("a", data=b"y" * 100)], "step 1")])], "docker-legacy")
    return p


def check(archive, cfg, capsys, *extra):
    rc = main(["check", str(archive), "--ci-config", str(cfg), *extra])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_clean_error(rc, err, *words):
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("layerscope: error: "), err
    assert "internal error" not in err and "Traceback" not in err
    for w in words:
        assert w in lines[0], lines[0]


def test_billion_laughs_is_refused_quickly(archive, tmp_path, capsys):
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for k in range(1, 6):
        refs = ",".join([f"*a{k - 1}"] * 9)
        lines.append(f"a{k}: &a{k} [{refs}]")
    lines.append("rules:\n  lowestEfficiency: 0.9\n  highestWastedBytes: *a5")
    cfg = tmp_path / "laughs.yml"
    cfg.write_text("\n".join(lines) + "\n")
    t = time.monotonic()
    rc, _, err = check(archive, cfg, capsys)
    assert time.monotonic() - t < 5
    assert_clean_error(rc, err, "laughs.yml", "alias")


def test_a_single_alias_is_refused_too(archive, tmp_path, capsys):
    cfg = tmp_path / "alias.yml"
    cfg.write_text("x: &v 0.5\nrules:\n  lowestEfficiency: *v\n")
    rc, _, err = check(archive, cfg, capsys)
    assert_clean_error(rc, err, "alias")


@pytest.mark.parametrize("doc", ["[" * 20000 + "]" * 20000, "{a: " * 20000 + "1" + "}" * 20000,
                                 "".join(f"{' ' * (2 * k)}k{k}:\n" for k in range(3000)) + " " * 6000 + "v"])
def test_deep_nesting_is_refused(archive, tmp_path, capsys, doc):
    cfg = tmp_path / "deep.yml"
    cfg.write_text("rules:\n  lowestEfficiency: 0.1\nx: " + doc + "\n" if doc[0] in "[{" else doc)
    rc, _, err = check(archive, cfg, capsys)
    assert_clean_error(rc, err, "deep.yml", "nest")


@pytest.mark.parametrize("rule", ["highestWastedBytes", "lowestEfficiency", "highestUserWastedPercent"])
def test_absurd_numbers_are_refused(archive, tmp_path, capsys, rule):
    cfg = tmp_path / "big.yml"
    cfg.write_text(f"rules:\n  {rule}: {'9' * 400}\n")
    rc, _, err = check(archive, cfg, capsys)
    assert_clean_error(rc, err, rule)


@pytest.mark.parametrize("value", ["9" * 400, "9" * 400 + "GB", "1" + "0" * 30 + "PiB"])
def test_absurd_sizes_on_the_command_line(archive, tmp_path, capsys, value):
    cfg = tmp_path / "ok.yml"
    cfg.write_text("rules:\n  lowestEfficiency: 0.0\n")
    rc, _, err = check(archive, cfg, capsys, "--highest-wasted-bytes", value)
    assert_clean_error(rc, err, "highestWastedBytes")


def test_a_file_over_the_limit_is_refused_not_truncated(archive, tmp_path, capsys):
    """The rule after the padding would fail the gate: reading only the start
    of the file would silently pass it."""
    cfg = tmp_path / "huge.yml"
    pad = "# " + "x" * 1000 + "\n"
    cfg.write_text("rules:\n  lowestEfficiency: 0.0\n" + pad * 1100 + "  highestWastedBytes: 1\n")
    rc, _, err = check(archive, cfg, capsys)
    assert_clean_error(rc, err, "huge.yml", "MiB")


def test_an_ordinary_file_still_works(archive, tmp_path, capsys):
    cfg = tmp_path / "fine.yml"
    cfg.write_text("rules:\n  lowestEfficiency: 0.0\n  highestWastedBytes: 1\n  highestUserWastedPercent: disabled\n")
    rc, out, err = check(archive, cfg, capsys)
    assert rc == 1 and "FAIL  highestWastedBytes" in out, (out, err)
