"""The stack's path lookups: scanned at first, then from an index."""

from layerscope.analysis import analyse
from layerscope.testing.synth import classic_image, write_archive
from tests.helpers import loaded


def test_path_index_agrees_with_scan(tmp_path):
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image()], layout="docker-legacy")
    g = loaded(p)
    st = analyse(g, g.images[0]).stack
    paths = ["var/lib/dpkg/status", "usr/bin/vim.tiny", "etc/hostname", "nope"]
    scanned = [st.entries_at(x) for x in paths[:3]]  # the first calls scan
    assert st._by_path is None
    indexed = [st.entries_at(x) for x in paths]  # then an index is built
    assert st._by_path is not None
    assert indexed[:3] == scanned and indexed[3] == []
    assert [l for l, _ in indexed[0]] == [0, 1, 2]
