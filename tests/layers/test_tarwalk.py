"""The general tar walker: long names (PAX, GNU, ustar prefix) and names
that escape the image root."""

import io
import tarfile

from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive
from tests.helpers import loaded


def test_long_names_pax_gnu_and_ustar_prefix(tmp_path):
    long_dir = "d" * 120
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        info = tarfile.TarInfo(long_dir + "/gnu-long-name-" + "x" * 90)
        info.size = 3
        t.addfile(info, io.BytesIO(b"abc"))
    gnu = buf.getvalue()
    entries = [F("p/" + "y" * 200, data=b"pax"), F("a" * 90 + "/" + "b" * 90, data=b"ustar-prefix")]
    p = tmp_path / "long.tar"
    write_archive(str(p), [ImageSpec([LayerSpec(entries)])], layout="docker-legacy")
    g = loaded(p)
    paths = set(g.images[0].layers[0].entries.paths)
    assert "p/" + "y" * 200 in paths
    assert "a" * 90 + "/" + "b" * 90 in paths
    from layerscope.layers.tarwalk import TarIndexer
    e = TarIndexer(gnu, None).run()
    assert e.paths == [long_dir + "/gnu-long-name-" + "x" * 90]
    assert e.sizes[0] == 3


def test_names_escaping_the_root_are_warned_and_left_out(tmp_path):
    entries = [F("ok", data=b"1"), F("x", raw_name=b"../../etc/evil", data=b"2"),
               F("y", raw_name=b"a/../../b", data=b"3")]
    p = tmp_path / "esc.tar"
    write_archive(str(p), [ImageSpec([LayerSpec(entries)])], layout="docker-legacy")
    g = loaded(p)
    layer = g.images[0].layers[0]
    assert layer.entries.paths == ["ok"]
    assert len(layer.warnings) == 2 and "escapes the image root" in layer.warnings[0]
