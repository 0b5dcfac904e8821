"""The pipe between a download and its indexer: bytes come out as they went
in, a full pipe holds the writer back until the reader takes some, a
reader that left never holds it back, and a failure reaches the reader."""

from __future__ import annotations

import threading

import pytest

from layerscope.layers.pipe import Pipe, Restarted


def test_bytes_come_out_in_order_across_a_full_pipe(monkeypatch):
    monkeypatch.setattr(Pipe, "MAX_BUFFERED", 1000)
    p = Pipe()
    data = bytes(range(256)) * 40
    def writer():
        for i in range(0, len(data), 300):
            p.write(data[i:i + 300])
        p.close_writer()
    t = threading.Thread(target=writer)
    t.start()
    got = bytearray()
    buf = bytearray(77)
    while n := p.readinto(buf):
        got += buf[:n]
        assert p._buffered <= 1000 + 300
    t.join(5)
    assert bytes(got) == data and p.read_bytes == len(data)


def test_a_reader_that_left_never_holds_the_writer(monkeypatch):
    monkeypatch.setattr(Pipe, "MAX_BUFFERED", 10)
    p = Pipe()
    p.write(b"x" * 10)
    p.leave()
    done = threading.Event()
    threading.Thread(target=lambda: (p.write(b"y" * 100), done.set())).start()
    assert done.wait(5)


def test_a_failure_and_a_restart_reach_the_reader():
    p = Pipe()
    p.write(b"abc")
    p.restart()
    assert p.restarted
    buf = bytearray(10)
    assert p.readinto(buf) == 3
    with pytest.raises(Restarted):
        p.readinto(buf)
    q = Pipe()
    q.fail(OSError("gone"))
    with pytest.raises(OSError, match="gone"):
        q.readinto(buf)
