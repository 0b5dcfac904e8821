"""docker-save archives (legacy layout)."""

import tarfile

from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive
from tests.helpers import loaded


def test_docker_legacy_shared_layer_symlink(tmp_path):
    # the same layer at another position has another chain id: docker writes
    # its layer.tar as a symlink to the first copy
    shared = LayerSpec([F("shared.txt", data=b"s" * 10)])
    a = ImageSpec([LayerSpec([F("a.txt", data=b"a")]), shared], repo_tags=["a:1"])
    b = ImageSpec([shared], repo_tags=["b:1"])
    p = tmp_path / "pair.tar"
    write_archive(str(p), [a, b], layout="docker-legacy")
    with tarfile.open(p) as t:
        assert any(m.issym() and m.name.endswith("layer.tar") for m in t.getmembers())
    g = loaded(p)
    assert g.images[0].layers[1] is g.images[1].layers[0]
    assert g.images[1].layers[0].error is None
    assert g.images[1].layers[0].entries.paths == ["shared.txt"]
