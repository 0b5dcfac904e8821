"""Every bad archive gives ONE line on stderr starting `layerscope: error: `,
exit status 2, no traceback (in this process, as a user runs it, for every
command, from a named pipe or stdin); in the library only ImageError
escapes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from layerscope.errors import ImageError
from layerscope.formats.source import open_graph
from layerscope.layers.indexing import index_layers
from tests.hostile._cases import (
    CASES,
    case_empty,
    case_gzip_ends_early,
    case_index_nest_100,
    case_layer_header_absurd_size,
    case_manifest_path_dotdot,
    case_plain_tar,
    case_random,
    case_truncated_in_layer_header,
    case_zstd_bad_checksum,
)
from tests.hostile._helpers import ROOT, assert_one_error, cli, docker_archive, run_subprocess


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[5:] for c in CASES])
def test_bad_archive_one_line_error(case, tmp_path, capsys):
    path, needles = case(tmp_path)
    t = time.time()
    rc, out, err = cli(capsys, "report", str(path))
    assert_one_error(rc, err, *needles)
    assert out == ""
    assert time.time() - t < 60


@pytest.mark.parametrize("case", [case_empty, case_random, case_plain_tar, case_truncated_in_layer_header,
                                  case_gzip_ends_early, case_zstd_bad_checksum, case_manifest_path_dotdot,
                                  case_index_nest_100, case_layer_header_absurd_size],
                         ids=lambda c: c.__name__[5:])
def test_bad_archive_subprocess_no_traceback(case, tmp_path):
    """The real program, as a user runs it: nothing but one line on stderr."""
    path, needles = case(tmp_path)
    r = run_subprocess("report", str(path))
    assert r.returncode == 2
    assert r.stdout == ""
    assert_one_error(2, r.stderr, *needles)


@pytest.mark.parametrize("command", [["ls"], ["ls", "--json"], ["report", "--json"], ["check"],
                                     ["extract", "/etc", "-o", "OUT"]])
def test_every_command_gives_one_line(command, tmp_path, capsys):
    path, needles = case_gzip_ends_early(tmp_path)
    argv = [command[0], str(path), *[str(tmp_path / "out") if a == "OUT" else a for a in command[1:]]]
    rc, out, err = cli(capsys, *argv)
    assert_one_error(rc, err, *needles)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_named_pipe_is_read_like_stdin(tmp_path, capsys):
    """bash's `<(cat image.tar)` is a pipe: spooled, then read."""
    import threading

    good = docker_archive(tmp_path / "good.tar")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def feed(data: bytes) -> None:
        with open(fifo, "wb") as f:
            f.write(data)

    t = threading.Thread(target=feed, args=(open(good, "rb").read(),))
    t.start()
    rc, out, err = cli(capsys, "report", str(fifo))
    t.join(10)
    assert rc == 0, err
    assert "hostile:1" in out
    t = threading.Thread(target=feed, args=(b"garbage" * 100,))
    t.start()
    rc, out, err = cli(capsys, "report", str(fifo))
    t.join(10)
    assert_one_error(rc, err, "not an image archive")


def test_stdin_garbage(tmp_path):
    env = dict(os.environ, LAYERSCOPE_CACHE="off", PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-m", "layerscope", "report", "-"], input=b"\x00garbage" * 1000,
                       capture_output=True, env=env, timeout=60)
    assert r.returncode == 2
    assert_one_error(2, r.stderr.decode(), "<stdin>")


# ---------------------------------------------------------------------------
# loading in the library: only ImageError escapes

def test_library_open_graph_raises_only_image_errors(tmp_path):
    for case in CASES:
        d = tmp_path / case.__name__
        d.mkdir()
        path, _ = case(d)
        try:
            g = open_graph([str(path)])
            index_layers(g, use_cache=False, workers=1)
        except ImageError as e:
            assert "\n" not in e.line()
