"""The explorer on an image in a registry: the layer list is there before
the first layer blob arrives, downloads show their progress, and the image
is browsed as an archive's once they are in."""

from __future__ import annotations

import json
import threading

import pytest

from layerscope.app import LayerscopeApp
from layerscope.app.testing import screen_text
from layerscope.formats import registry
from layerscope.testing.synth import classic_image, write_archive
from tests.app.test_app import SIZE, layers, ready, until
from tests.formats._registry import FakeRegistry


@pytest.fixture
def fake(tmp_path, monkeypatch):
    registry._clients.clear()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "DOCKER_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    layout = tmp_path / "layout"
    write_archive(str(layout), [classic_image("gzip")], layout="oci", directory=True)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0]["annotations"] = {"org.opencontainers.image.ref.name": "1"}
    (layout / "index.json").write_text(json.dumps(index))
    f = FakeRegistry(layout)
    yield f
    if f.gate is not None:
        f.gate.set()
    f.stop()
    registry._clients.clear()


async def test_the_layer_list_comes_before_any_layer_blob(fake):
    fake.gate = threading.Event()
    ref = f"{fake.host}/demo/app:1"
    app = LayerscopeApp([ref])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(layers(app).rows) == 9, what="layer list")
        assert fake.blob_gets() == [m for m in fake.blob_gets() if m.split("/")[-1] in fake.config_digests]
        assert app.analysis is None
        assert ref in screen_text(app)
        fake.gate.set()
        await ready(pilot)
        assert layers(app).analysed
        assert len([p for p in fake.blob_gets() if p.split("/")[-1] not in fake.config_digests]) == 7


def test_download_progress_names_layers_sizes_and_rates():
    from layerscope.app.app import _FetchProgress
    from layerscope.app.messages import Fetching
    from layerscope.model import Image, Layer, LayerGraph, Platform

    a = Layer("a", "sha256:a", "", "", 4_000_000, None)
    b = Layer("b", "sha256:b", "", "", 1000, None)
    im = Image([], "", "", Platform(), {}, {}, [a, b], [], True)
    posted = []
    p = _FetchProgress(LayerGraph([im], {"a": a, "b": b}, []), posted.append)
    now = [100.0]
    p.clock = lambda: now[0]
    p(a, 0)
    now[0] += 1
    p(a, 2_000_000)
    p(b, 10)  # too soon after the last: not posted
    now[0] += 1
    p(b, 1000)  # done: posted, and no longer listed
    assert all(isinstance(m, Fetching) for m in posted)
    assert "layer 0 2.0 MB/4.0 MB 2.0 MB/s" in posted[1].text
    assert len(posted) == 3 and "layer 1" not in posted[-1].text


async def test_a_zstd_chunked_image_is_browsed_from_its_tables_of_contents(tmp_path):
    """Every layer listed from its TOC (Range requests, no whole blob), and a
    preview fetches that file's pieces alone."""
    from layerscope.app.widgets.previewview import PreviewView
    from tests.app.test_app import move_to, select_layer

    layout = tmp_path / "chunked"
    write_archive(str(layout), [classic_image("zstd-chunked")], layout="oci", directory=True)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0]["annotations"] = {"org.opencontainers.image.ref.name": "1"}
    (layout / "index.json").write_text(json.dumps(index))
    f = FakeRegistry(layout)
    try:
        app = LayerscopeApp([f"{f.host}/demo/chunked:1"])
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            assert [p for p in f.blob_gets() if p.split("/")[-1] not in f.config_digests] == []
            listed = len(f.range_gets())
            # the manifest of each layer, /etc/os-release for the summary, and (the packages worker, when it
            # has got there) /var/lib/dpkg/status of the three layers that have one
            assert 7 <= listed <= 11
            await select_layer(pilot, 0)
            await move_to(pilot, "/etc/os-release")
            await pilot.press("p")
            pv = app.query_one("#preview", PreviewView)
            await until(pilot, lambda: "PRETTY_NAME" in pv.plain(), what="text preview")
            assert len(f.range_gets()) == listed + 1
            assert [p for p in f.blob_gets() if p.split("/")[-1] not in f.config_digests] == []
    finally:
        f.stop()
        registry._clients.clear()
