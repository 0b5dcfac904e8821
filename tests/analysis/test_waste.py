"""The facts of the classic sample: its steps and where its bytes are wasted."""

from layerscope.analysis import analyse
from layerscope.testing.synth import classic_image, write_archive
from tests.helpers import loaded


def test_classic_sample_facts(tmp_path):
    p = tmp_path / "c.tar"
    write_archive(str(p), [classic_image()], layout="docker-legacy")
    g = loaded(p)
    a = analyse(g, g.images[0])
    assert a.os_release()["ID"] == "debian"
    steps = [r.created_by for r in a.layer_rows()]
    assert any("ENV" in s for s in steps) and any("CMD" in s for s in steps)
    # dpkg status rewritten by both install steps: a copy-up, two hidden copies
    w = {x.path: x for x in a.waste.paths()}
    assert [c.state for c in w["/var/lib/dpkg/status"].copies] == ["overwritten", "overwritten", "visible"]
    # chmod 0700 on the editor: metadata-only copy-up
    assert [c.kind for c in w["/usr/bin/vim.tiny"].copies][-1] == "metadata-only"
    # the cleanup step deleted the .deb files (whiteouts): their bytes are waste
    assert any(p.startswith("/var/cache/apt/archives/") and p.endswith(".deb") for p in w)
