"""Standard input and named pipes are copied to a temporary file (the
readers need random access): at most LAYERSCOPE_SPOOL_LIMIT bytes, a full
disk is one line of error, and the copy is gone after every exit -- errors,
SIGTERM, SIGHUP and SIGINT, from the commands and from the explorer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from layerscope.testing.synth import classic_image, write_archive
from tests.conftest import ROOT

PY = [sys.executable, "-m", "layerscope"]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> bytes:
    p = tmp_path_factory.mktemp("spool") / "c.tar"
    write_archive(str(p), [classic_image()], layout="docker-legacy")
    return p.read_bytes()


@pytest.fixture
def tmpdir_(tmp_path):
    d = tmp_path / "tmp"
    d.mkdir()
    return d


def env_for(tmpdir, **extra) -> dict:
    env = dict(os.environ, LAYERSCOPE_CACHE="off", PYTHONPATH=str(ROOT), TMPDIR=str(tmpdir))
    env.pop("LAYERSCOPE_SPOOL_LIMIT", None)
    env.update(extra)
    return env


def one_error(r) -> str:
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert r.stdout == b""
    assert err.startswith("layerscope: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "internal error" not in err
    return err


def feed_fifo(path, data: bytes, hold: threading.Event | None = None) -> threading.Thread:
    def run():
        try:
            with open(path, "wb") as f:
                f.write(data)
                if hold is not None:
                    hold.wait(60)
        except BrokenPipeError:  # the reader stopped at its limit
            pass

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def wait_for_file(d, timeout=30.0) -> list[str]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        names = os.listdir(d)
        if names:
            return names
        time.sleep(0.02)
    raise AssertionError(f"nothing was spooled into {d}")


# ---------------------------------------------------------------------------
# normal spooling

def test_stdin_and_fifo_are_read_and_the_copy_removed(tmp_path, tmpdir_, archive):
    r = subprocess.run([*PY, "report", "-"], input=archive, capture_output=True, env=env_for(tmpdir_),
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert b"layerscope-demo:classic" in r.stdout
    assert os.listdir(tmpdir_) == []
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    t = feed_fifo(fifo, archive)
    r = subprocess.run([*PY, "report", str(fifo)], capture_output=True, env=env_for(tmpdir_), timeout=120)
    t.join(10)
    assert r.returncode == 0, r.stderr
    assert os.listdir(tmpdir_) == []


def test_input_exactly_at_the_limit_is_read(tmpdir_, archive):
    env = env_for(tmpdir_, LAYERSCOPE_SPOOL_LIMIT=str(len(archive)))
    r = subprocess.run([*PY, "report", "-"], input=archive, capture_output=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------------------
# the limit

@pytest.mark.parametrize("limit", ["20000", "20kB", "0.02MB"])
def test_stdin_over_the_limit_is_one_error(tmpdir_, archive, limit):
    assert len(archive) > 20000
    env = env_for(tmpdir_, LAYERSCOPE_SPOOL_LIMIT=limit)
    r = subprocess.run([*PY, "report", "-"], input=archive, capture_output=True, env=env, timeout=120)
    err = one_error(r)
    assert "<stdin>" in err and "20.0 kB" in err and "LAYERSCOPE_SPOOL_LIMIT" in err
    assert os.listdir(tmpdir_) == []


def test_endless_stdin_stops_at_the_limit(tmpdir_):
    """`yes | layerscope report -` ends with the error, not with a full disk."""
    env = env_for(tmpdir_, LAYERSCOPE_SPOOL_LIMIT="8MiB")
    yes = subprocess.Popen(["yes"], stdout=subprocess.PIPE)
    try:
        r = subprocess.run([*PY, "report", "-"], stdin=yes.stdout, capture_output=True, env=env, timeout=120)
    finally:
        yes.stdout.close()
        yes.kill()
        yes.wait()
    err = one_error(r)
    assert "8.4 MB" in err
    assert os.listdir(tmpdir_) == []


def test_fifo_over_the_limit_is_one_error(tmp_path, tmpdir_, archive):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    t = feed_fifo(fifo, archive)
    env = env_for(tmpdir_, LAYERSCOPE_SPOOL_LIMIT="20kB")
    r = subprocess.run([*PY, "report", str(fifo)], capture_output=True, env=env, timeout=120)
    t.join(10)
    err = one_error(r)
    assert str(fifo) in err and "LAYERSCOPE_SPOOL_LIMIT" in err
    assert os.listdir(tmpdir_) == []


def test_the_explorer_on_stdin_over_the_limit_is_one_error(tmpdir_, archive):
    env = env_for(tmpdir_, LAYERSCOPE_SPOOL_LIMIT="20kB")
    r = subprocess.run([*PY, "-"], input=archive, capture_output=True, env=env, timeout=120)
    assert "LAYERSCOPE_SPOOL_LIMIT" in one_error(r)
    assert os.listdir(tmpdir_) == []


@pytest.mark.parametrize("value", ["off", "none", "unlimited"])
def test_the_limit_can_be_lifted(tmpdir_, archive, value):
    env = env_for(tmpdir_, LAYERSCOPE_SPOOL_LIMIT=value)
    r = subprocess.run([*PY, "report", "-"], input=archive, capture_output=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr


def test_a_bad_limit_is_one_error(tmpdir_, archive):
    env = env_for(tmpdir_, LAYERSCOPE_SPOOL_LIMIT="lots")
    r = subprocess.run([*PY, "report", "-"], input=archive, capture_output=True, env=env, timeout=120)
    assert "LAYERSCOPE_SPOOL_LIMIT='lots' is not a size" in one_error(r)


def test_a_full_disk_is_one_error(tmpdir_, archive):
    """No free space is assumed: a write that fails (here: a file size limit,
    as a full disk or a quota would) is one line, and the partial copy goes."""
    import resource

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))

    r = subprocess.run([*PY, "report", "-"], input=archive, capture_output=True, env=env_for(tmpdir_),
                       timeout=120, preexec_fn=small_files)
    err = one_error(r)
    assert "<stdin>: cannot copy the input to " + str(tmpdir_) in err and "TMPDIR" in err
    assert os.listdir(tmpdir_) == []


# ---------------------------------------------------------------------------
# signals while spooling

EXPECTED_RC = {signal.SIGTERM: -signal.SIGTERM, signal.SIGHUP: -signal.SIGHUP, signal.SIGINT: 130}
SIGNALS = [signal.SIGTERM, signal.SIGHUP, signal.SIGINT]


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("argv", [["report", "-"], ["ls", "-"], ["-"]], ids=["report", "ls", "explorer"])
def test_signal_while_spooling_stdin_removes_the_copy(tmpdir_, archive, argv, signum):
    p = subprocess.Popen([*PY, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env_for(tmpdir_))
    try:
        p.stdin.write(archive[:10000])  # a slow producer: the rest never comes
        p.stdin.flush()
        wait_for_file(tmpdir_)
        p.send_signal(signum)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == EXPECTED_RC[signum], err
    assert b"Traceback" not in err
    assert os.listdir(tmpdir_) == []


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_signal_while_spooling_a_fifo_removes_the_copy(tmp_path, tmpdir_, archive, signum):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    hold = threading.Event()
    t = feed_fifo(fifo, archive[:10000], hold)
    p = subprocess.Popen([*PY, "report", str(fifo)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env_for(tmpdir_))
    try:
        wait_for_file(tmpdir_)
        p.send_signal(signum)
        out, err = p.communicate(timeout=60)
    finally:
        hold.set()
        if p.poll() is None:
            p.kill()
            p.wait()
        t.join(10)
    assert p.returncode == EXPECTED_RC[signum], err
    assert os.listdir(tmpdir_) == []


# ---------------------------------------------------------------------------
# signals while the explorer runs (it needs a terminal: a pseudo-terminal)

def _explorer_in_a_pty(argv, env, stdin=None):
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    name = os.ttyname(slave)

    def controlling_terminal():  # the new session's first terminal opened becomes its /dev/tty
        os.close(os.open(name, os.O_RDWR))

    p = subprocess.Popen([*PY, *argv], stdin=stdin if stdin is not None else slave, stdout=slave, stderr=slave,
                         env=dict(env, TERM="xterm-256color"), start_new_session=True,
                         preexec_fn=controlling_terminal)
    os.close(slave)
    out = bytearray()

    def read():
        while True:
            try:
                b = os.read(master, 65536)
            except OSError:
                return
            if not b:
                return
            out.extend(b)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return p, master, out, t


def _until(cond, timeout=60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_signal_while_the_explorer_runs_on_stdin(tmpdir_, archive, signum):
    """`layerscope -`: the copy lives as long as the explorer; a signal
    removes it and the explorer leaves (restoring the terminal)."""
    p, master, out, reader = _explorer_in_a_pty(["-"], env_for(tmpdir_), stdin=subprocess.PIPE)
    try:
        p.stdin.write(archive)
        p.stdin.close()
        _until(lambda: b"chmod 0700" in out)  # a build step in the layer list: the app is up
        assert len(os.listdir(tmpdir_)) == 1  # the explorer reads the spooled copy
        p.send_signal(signum)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        reader.join(10)
        os.close(master)
    assert p.returncode == EXPECTED_RC[signum], bytes(out[-2000:])
    assert os.listdir(tmpdir_) == []
    assert b"\x1b[?1049l" in out  # the terminal left the alternate screen: it was restored
    assert b"Traceback" not in out


@pytest.mark.parametrize("how", ["SIGTERM", "q"])
def test_leaving_while_the_explorer_spools_a_fifo(tmp_path, tmpdir_, archive, how):
    """A named pipe is read by the explorer's loader thread, not before it
    starts: a signal, or quitting, does not wait for the pipe to end."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    hold = threading.Event()
    t = feed_fifo(fifo, archive[:10000], hold)
    p, master, out, reader = _explorer_in_a_pty([str(fifo)], env_for(tmpdir_))
    try:
        wait_for_file(tmpdir_)
        if how == "q":
            _until(lambda: b"\x1b[?1049h" in out)  # the explorer has the terminal
            os.write(master, b"q")
        else:
            p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
    finally:
        hold.set()
        if p.poll() is None:
            p.kill()
            p.wait()
        reader.join(10)
        os.close(master)
        t.join(10)
    assert p.returncode == (-signal.SIGTERM if how == "SIGTERM" else 0), bytes(out[-2000:])
    assert os.listdir(tmpdir_) == []
