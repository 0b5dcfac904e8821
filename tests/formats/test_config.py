"""The image config: its history mapped onto the layers."""

import json
import tarfile

from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive
from tests.helpers import loaded


def test_history_mapping_unknown_when_counts_disagree(tmp_path):
    p = tmp_path / "c.tar"
    write_archive(str(p), [ImageSpec([LayerSpec([F("a")]), LayerSpec([F("b")])])], layout="oci")
    # rewrite the config's history to a single non-empty step
    d = tmp_path / "d"
    with tarfile.open(p) as t:
        t.extractall(d)
    idx = json.loads((d / "index.json").read_text())
    man_path = d / "blobs" / "sha256" / idx["manifests"][0]["digest"].split(":")[1]
    man = json.loads(man_path.read_text())
    cfg_path = d / "blobs" / "sha256" / man["config"]["digest"].split(":")[1]
    cfg = json.loads(cfg_path.read_text())
    cfg["history"] = [{"created_by": "only one"}]
    cfg_path.write_text(json.dumps(cfg))  # the digest no longer matches: fine without --verify
    g = loaded(d)
    im = g.images[0]
    assert not im.history_mapped
    assert im.created_by(0) == ""
    assert [h.created_by for h in im.history] == ["only one"]
