"""Package changes between two images (analysis/pkgdiff.py, through diff_images)."""

from __future__ import annotations

from layerscope.analysis.diff import diff_images
from layerscope.testing.pkgdb import dpkg_list, dpkg_status
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive
from tests.helpers import loaded


def _layer(pkgs: dict[str, tuple[str, int]]) -> LayerSpec:
    e = [F("var/lib/dpkg/status", data=dpkg_status([{"Package": n, "Version": v} for n, (v, _) in pkgs.items()]))]
    for n, (_, size) in pkgs.items():
        e += [F(f"usr/bin/{n}", size=size), F(f"var/lib/dpkg/info/{n}.list", data=dpkg_list([f"/usr/bin/{n}"]))]
    return LayerSpec(e, created_by="/bin/sh -c apt-get install")


def test_added_removed_version(tmp_path):
    a = ImageSpec([_layer({"curl": ("8.5", 300), "gone": ("1", 50), "same": ("2", 10)})], repo_tags=["t:a"])
    b = ImageSpec([_layer({"curl": ("8.6", 450), "new": ("3", 70), "same": ("2", 10)})], repo_tags=["t:b"])
    pa, pb = tmp_path / "a.tar", tmp_path / "b.tar"
    write_archive(str(pa), [a], "docker-legacy")
    write_archive(str(pb), [b], "docker-legacy")
    ga, gb = loaded(pa), loaded(pb)
    d = diff_images(ga, ga.images[0], gb, gb.images[0])
    assert [(c.name, c.change, c.version_a, c.version_b, c.bytes_a, c.bytes_b, c.delta) for c in d.packages] == [
        ("curl", "version", "8.5", "8.6", 300, 450, 150),
        ("new", "added", None, "3", 0, 70, 70),
        ("gone", "removed", "1", None, 50, 0, -50)]
