"""Tar records whose meaning differs between tar implementations: the layer
reads as container runtimes (Go's archive/tar in Docker, containerd and
Podman) unpack it, the same with the batch reader and the general walker."""

from __future__ import annotations

import io
import tarfile

import pytest

from layerscope.layers import tarwalk
from layerscope.layers.tarwalk import TarIndexer


def _index(data: bytes, how: str):
    if how == "general":
        tarwalk.COLUMNS = False
        try:
            ix = TarIndexer(data, place="t")
            e = ix.run()
        finally:
            tarwalk.COLUMNS = True
    elif how == "columns":
        ix = TarIndexer(data, place="t")
        e = ix.run()
    else:  # a decompressed stream, read a little at a time
        ix = TarIndexer(b"", read=io.BytesIO(data).read, place="t")
        e = ix.run()
    return e, ix


def _all(data: bytes):
    """Index `data` every way; they must agree."""
    results = [_index(data, how) for how in ("general", "columns", "stream")]
    (e0, ix0), *rest = results
    for e, ix in rest:
        assert e.to_state() == e0.to_state()
        assert ix.warnings == ix0.warnings
        assert ix.size == ix0.size
    return e0, ix0


def _file(name: str, data: bytes = b"", **kw) -> tuple[tarfile.TarInfo, io.BytesIO]:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti, io.BytesIO(data)


def _tar(members, global_headers=None, fmt=tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, pax_headers=global_headers or {}) as t:
        for ti, f in members:
            t.addfile(ti, f)
    return buf.getvalue()


def _global(records: dict[str, str]) -> bytes:
    """A lone PAX global header record, to put anywhere in a tar."""
    return tarfile.TarInfo().create_pax_global_header(records)


def test_a_global_path_renames_nothing():
    data = _tar([_file("a", b"1"), _file("dir/b", b"22")], {"path": "evil/renamed"})
    with tarfile.open(fileobj=io.BytesIO(data)) as t:  # what GNU tar and Python make of it
        assert t.getnames() == ["evil/renamed", "evil/renamed"]
    e, ix = _all(data)
    assert list(e.paths) == ["a", "dir/b"]
    assert list(e.sizes) == [1, 2]
    assert len([w for w in ix.warnings if "global" in w]) == 1, ix.warnings


def test_global_fields_change_no_later_entry():
    recs = {"path": "x", "linkpath": "/etc/shadow", "size": "4096", "uid": "4242", "gid": "4343",
            "mtime": "99999"}
    data = _tar([_file("f", b"abc", uid=1, gid=2, mtime=7),
                 _file("l", type=tarfile.SYMTYPE, linkname="target")], recs)
    e, _ = _all(data)
    assert list(e.paths) == ["f", "l"]
    assert list(e.sizes) == [3, 0]
    assert list(e.uids) == [1, 0] and list(e.gids) == [2, 0] and list(e.mtimes) == [7, 0]
    assert e.links[1] == "target"


def test_a_global_header_in_the_middle():
    head = _tar([_file("a", b"1")], fmt=tarfile.USTAR_FORMAT)[:1024]  # header + one block, no end
    tail = _tar([_file("b", b"2"), _file("c", b"3")], fmt=tarfile.USTAR_FORMAT)
    data = head + _global({"path": "z"}) + tail
    e, ix = _all(data)
    assert list(e.paths) == ["a", "b", "c"]
    assert any("global" in w for w in ix.warnings)


def test_records_before_a_global_header_go_with_it():
    """Go's reader returns the global header as an entry of its own, which
    the runtimes skip: PAX and GNU long-name records before it are spent."""
    payload = tarfile.TarInfo._create_pax_generic_header({"path": "from-x"}, tarfile.XHDTYPE, "utf-8")
    data = payload + _global({"comment": "c"}) + _tar([_file("real", b"r")], fmt=tarfile.USTAR_FORMAT)
    e, _ = _all(data)
    assert list(e.paths) == ["real"]


@pytest.mark.parametrize("n", [1, 3])
def test_many_global_headers_warn_once(n):
    body = b"".join(_global({"path": f"g{k}"}) for k in range(n))
    data = body + _tar([_file("a", b"1"), _file("b", b"2")], fmt=tarfile.USTAR_FORMAT)
    e, ix = _all(data)
    assert list(e.paths) == ["a", "b"]
    assert len([w for w in ix.warnings if "global" in w]) == 1, ix.warnings


def test_a_corrupt_global_header_is_still_an_error():
    bad = bytearray(_global({"path": "x"}))
    bad[512:513] = b"z"  # the record's length field
    data = bytes(bad) + _tar([_file("a", b"1")], fmt=tarfile.USTAR_FORMAT)
    from layerscope.errors import LayerError

    for how in ("general", "columns", "stream"):
        with pytest.raises(LayerError, match="corrupt PAX header"):
            _index(data, how)
