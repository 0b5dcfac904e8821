"""The digest-keyed store of registry blobs: only checked bytes get a digest's
name, it follows the layer cache's directory (and its `off`), and the trim
removes only its own files, never one in use."""

import hashlib
import os

import pytest

from layerscope.errors import ImageError
from layerscope.layers import blobstore


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(blobstore, "_used", set())
    return tmp_path / "cache" / "blobs"


def test_a_checked_blob_is_stored_under_its_digest(store):
    data = b"layer bytes" * 1000
    w = blobstore.Writer(digest(data), len(data), "test")
    for i in range(0, len(data), 4096):
        w.write(data[i:i + 4096])
    path = w.finish()
    assert path == str(store / ("sha256-" + digest(data)[7:]))
    assert open(path, "rb").read() == data
    assert blobstore.present(path, len(data)) and not blobstore.present(path, len(data) + 1)
    assert oct(os.stat(store).st_mode & 0o777) == "0o700"


@pytest.mark.parametrize("sent, says", [(b"the wrong bytes", "tampered"), (b"short", "sent 5 bytes"),
                                        (b"far too many bytes", "more than")])
def test_wrong_bytes_never_get_the_name(store, sent, says):
    data = b"the right bytes"
    w = blobstore.Writer(digest(data), len(data), "test")
    with pytest.raises(ImageError, match=says):
        w.write(sent)
        w.finish()
    assert os.listdir(store) == []


@pytest.mark.parametrize("bad", ["sha256:../../etc/passwd", "md5:" + "0" * 32, "sha256:" + "A" * 64, "sha256:abc",
                                 "sha512:" + "0" * 64, "../x", 7])
def test_a_digest_must_be_one_to_be_a_file_name(store, bad):
    with pytest.raises(ImageError):
        blobstore.path_of(bad, "test")


def test_cache_off_uses_a_private_directory_removed_at_the_end(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")
    monkeypatch.setattr(blobstore, "_private", [])
    path = blobstore.put(digest(b"x"), b"x", "test")
    d = os.path.dirname(path)
    assert os.path.basename(d).startswith("layerscope-blobs-") and os.path.exists(path)
    blobstore.cleanup()
    assert not os.path.exists(d)


def test_a_cache_directory_of_someone_else_is_not_used(store, monkeypatch):
    os.makedirs(store.parent)
    os.symlink("/tmp", store)  # a link could send blobs anywhere
    path = blobstore.put(digest(b"y"), b"y", "test")
    assert not path.startswith(str(store))
    blobstore.cleanup()


def test_trim_removes_the_oldest_own_files_but_none_in_use(store, monkeypatch):
    paths = []
    for i in range(6):
        data = bytes([i]) * 1000
        paths.append(blobstore.put(digest(data), data, "test"))
        os.utime(paths[-1], (1000 + i, 1000 + i))
    (store / "notes.txt").write_bytes(b"x" * 5000)  # not the store's: never removed
    monkeypatch.setattr(blobstore, "_used", {paths[0]})
    monkeypatch.setattr(blobstore, "_trimmed", set())
    blobstore.trim(limit=4000)
    left = sorted(os.listdir(store))
    assert "notes.txt" in left
    assert os.path.exists(paths[0])  # in use
    # oldest first, down to four fifths of the limit
    assert [os.path.exists(p) for p in paths[1:]] == [False, False, False, True, True]
