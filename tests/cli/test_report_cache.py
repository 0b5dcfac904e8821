"""`report --json` served from the cache: the same bytes as a fresh run while
the archive file, the arguments and the code are the same; recomputed when
any of them changes or the cached file is damaged."""

from __future__ import annotations

import os
import time

import pytest

from layerscope.cli import common, main
from layerscope.layers import cache
from layerscope.testing.synth import F, ImageSpec, LayerSpec, classic_image, write_archive


@pytest.fixture
def cached(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "RECENT_NS", -1)  # the test's archives were written just now
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image()], layout="docker-legacy")
    return p


def report(capsys, *args) -> str:
    assert main(["report", "--json", *args]) == 0
    return capsys.readouterr().out


def documents(tmp_path) -> list[str]:
    return sorted(n for _, _, ns in os.walk(tmp_path / "cache") for n in ns if n.endswith(".report"))


def no_loading(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the image was opened: the document should come from the cache")

    monkeypatch.setattr(common, "load", refuse)
    import layerscope.cli.report as report_mod

    monkeypatch.setattr(report_mod, "load", refuse)


def test_second_report_is_the_cached_document(cached, tmp_path, capsys, monkeypatch):
    first = report(capsys, str(cached))
    assert '"layers": [' in first and len(documents(tmp_path)) == 1
    with monkeypatch.context() as m:
        no_loading(m)
        assert report(capsys, str(cached)) == first
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")
    assert report(capsys, str(cached)) == first  # what a fresh run prints


def test_other_arguments_are_other_documents(cached, tmp_path, capsys):
    full = report(capsys, str(cached))
    top1 = report(capsys, "--top", "1", str(cached))
    assert top1 != full
    assert len(documents(tmp_path)) == 2
    assert report(capsys, "--top", "1", str(cached)) == top1
    assert report(capsys, str(cached)) == full


def test_a_changed_archive_is_reported_anew(cached, tmp_path, capsys):
    from layerscope.layers import blobs

    before = report(capsys, str(cached))
    blobs.forget(str(cached))  # as a new process would see it
    time.sleep(0.01)
    write_archive(str(cached), [ImageSpec([LayerSpec([F("etc/hostname", data=b"other\n")])])], "docker-legacy")
    after = report(capsys, str(cached))
    assert after != before and '"etc/hostname"' not in before
    os.environ["LAYERSCOPE_CACHE"] = "off"
    assert report(capsys, str(cached)) == after


def test_other_code_is_never_served_its_document(cached, tmp_path, capsys, monkeypatch):
    first = report(capsys, str(cached))
    monkeypatch.setattr(cache, "code_state", lambda: "some other build")
    with monkeypatch.context() as m:
        no_loading(m)
        assert main(["report", "--json", str(cached)]) == 2
        assert "should come from the cache" in capsys.readouterr().err
    assert report(capsys, str(cached)) == first
    assert len(documents(tmp_path)) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncate", "other kind"])
def test_a_damaged_document_is_recomputed(cached, tmp_path, capsys, damage):
    first = report(capsys, str(cached))
    (name,) = documents(tmp_path)
    path = tmp_path / "cache" / cache.SUBDIR / name
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(data[:-20] + b"x" * 20)
    elif damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:  # a valid file of another kind under the document's name
        path.write_bytes(cache.MAGIC + cache.KINDS["index"] + data[len(cache.MAGIC) + 1:])
    assert report(capsys, str(cached)) == first
    assert report(capsys, str(cached)) == first


def test_no_document_without_the_cache_or_for_a_recent_file(cached, tmp_path, capsys, monkeypatch):
    report(capsys, "--no-cache", str(cached))
    report(capsys, "--verify", str(cached))
    assert documents(tmp_path) == []
    monkeypatch.setattr(cache, "RECENT_NS", 10**18)  # the archive could still change with these timestamps
    report(capsys, str(cached))
    assert documents(tmp_path) == []
    assert cache.archive_state(str(tmp_path)) is None  # a directory: its state says nothing of its files
