"""OCI image indexes: several platforms, the platform choice, nested indexes."""

import json

from layerscope.cli import main
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive
from tests.helpers import loaded


def multiplatform(tmp_path, **opts):
    imgs = []
    for arch, variant in (("amd64", ""), ("arm64", "v8"), ("arm", "v7")):
        imgs.append(ImageSpec([LayerSpec([F(f"{arch}.txt", data=arch.encode())])], repo_tags=["multi:1"],
                              architecture=arch, variant=variant))
    p = tmp_path / "multi.tar"
    write_archive(str(p), imgs, layout="oci", multiplatform=True, **opts)
    return p


def test_multiplatform_index_and_platform_choice(tmp_path, capsys):
    p = multiplatform(tmp_path, attestation=True)
    g = loaded(p)
    assert sorted(str(i.platform) for i in g.images) == ["linux/amd64", "linux/arm/v7", "linux/arm64/v8"]
    g = loaded(p, "linux/arm64")
    assert [str(i.platform) for i in g.images] == ["linux/arm64/v8"]
    assert g.images[0].layers[0].entries.paths == ["arm64.txt"]
    assert main(["ls", str(p), "--platform", "linux/arm/v7", "--json"]) == 0
    rows = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [r["path"] for r in rows] == ["/arm.txt"]
    assert main(["ls", str(p), "--platform", "windows/amd64"]) == 2
    assert "no image for platform windows/amd64" in capsys.readouterr().err


def test_nested_index(tmp_path):
    p = multiplatform(tmp_path, nested_index=True)
    g = loaded(p)
    assert len(g.images) == 3
