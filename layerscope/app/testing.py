"""Helpers for tests of the app (and of code built on it): in-memory graphs
and the plain text a running app shows.  Not imported by the app itself."""

from __future__ import annotations

from layerscope.model import HistoryStep, Image, Layer, LayerEntries, LayerGraph, Platform


def mem_graph(layers: list[list[tuple]], name: str = "mem:latest") -> LayerGraph:
    """A graph whose layers are already indexed: [(path, type, size), ...] per layer.
    Reading contents is not possible (no blobs), so keep sizes of modified files distinct."""
    out = []
    for k, ents in enumerate(layers):
        e = LayerEntries()
        for ent in ents:
            path, typ, size = ent[:3]
            link = ent[3] if len(ent) > 3 else None
            e.append(path, typ, size, 0o755 if typ == ord("d") else 0o644, 0, 0, 0, link, 0)
        d = f"sha256:{k + 1:064x}"
        out.append(Layer(key=d, digest=d, diff_id=d, media_type="", compressed_size=0, blob=None, entries=e))
    img = Image(refs=[name], digest="sha256:" + "ab" * 32, config_digest="sha256:" + "cd" * 32,
                platform=Platform("linux", "amd64"), config={}, raw_config={}, layers=out,
                history=[HistoryStep(f"/bin/sh -c step {k}", layer_index=k) for k in range(len(out))],
                history_mapped=True)
    for layer in out:
        layer.images.append(img)
    return LayerGraph(images=[img], layers={l.key: l for l in out}, sources=["<memory>"])


def screen_text(app) -> str:
    """What the terminal shows, as plain text."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)


def screen_segments(app):
    for strip in app.screen._compositor.render_strips():
        yield from strip
