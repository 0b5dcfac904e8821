"""How the images of a graph share layers, and what sharing saves.

Layers are one node per diff_id (open_graph merges them, also across
archives), so a layer used by several images is counted once in storage.

Sizes: `size` is the bytes of regular files in the layer (`Layer.size`, as
everywhere in layerscope; 0 until the layer is indexed), `compressed_size`
the stored blob.  A layer listed twice by one image counts once for it.

Figures (`Sharing`):

    stored_bytes       every distinct layer once: what the images take together
    unshared_bytes     the sum over images of their own layers: without sharing
    saved_bytes        unshared_bytes - stored_bytes
    (and the same with _compressed_ for the stored blobs)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model import Image, Layer, LayerGraph


@dataclass
class SharingRow:
    """One distinct layer: a row of the sharing graph."""

    layer: Layer
    key: str
    short_id: str
    size: int
    compressed_size: int
    created_by: str  # the build step, from the first image that says
    positions: list[int | None]  # per image (graph.images order): its index in that stack, None if unused
    indexed: bool = True

    @property
    def used_by(self) -> list[bool]:
        return [p is not None for p in self.positions]

    @property
    def users(self) -> int:
        return sum(p is not None for p in self.positions)

    @property
    def shared(self) -> bool:
        return self.users > 1


@dataclass
class ImageShare:
    image: Image
    label: str
    layers: int  # distinct layers
    size: int  # bytes it needs alone
    shared_bytes: int  # of those, in layers another image also uses
    compressed_size: int
    shared_compressed_bytes: int

    @property
    def unique_bytes(self) -> int:
        return self.size - self.shared_bytes

    @property
    def unique_compressed_bytes(self) -> int:
        return self.compressed_size - self.shared_compressed_bytes


@dataclass
class Sharing:
    images: list[ImageShare]  # graph.images order: the columns
    rows: list[SharingRow]  # distinct layers, stack order
    stored_bytes: int = 0
    unshared_bytes: int = 0
    stored_compressed_bytes: int = 0
    unshared_compressed_bytes: int = 0
    labels: list[str] = field(default_factory=list)

    @property
    def saved_bytes(self) -> int:
        return self.unshared_bytes - self.stored_bytes

    @property
    def saved_compressed_bytes(self) -> int:
        return self.unshared_compressed_bytes - self.stored_compressed_bytes

    @property
    def shared_layer_count(self) -> int:
        return sum(1 for r in self.rows if r.shared)


def image_labels(images: list[Image]) -> list[str]:
    """A unique label per image: its name, plus the platform when names
    collide (one tag for every platform of an index), plus the source when
    that is not enough, plus a number as a last resort."""
    names = [im.name for im in images]
    out = []
    for k, im in enumerate(images):
        s = names[k]
        if names.count(s) > 1:
            s = f"{s} ({im.platform})"
        out.append(s)
    if len(set(out)) < len(out):
        out2 = []
        for k, im in enumerate(images):
            s = out[k]
            if out.count(s) > 1 and im.source:
                s = f"{s} [{im.source}]"
            out2.append(s)
        out = out2
    seen: dict[str, int] = {}
    final = []
    for s in out:
        if out.count(s) > 1:
            seen[s] = seen.get(s, 0) + 1
            s = f"{s} #{seen[s]}"
        final.append(s)
    return final


def sharing_rows(graph: LayerGraph) -> list[SharingRow]:
    """One row per distinct layer, bottom layers first: each image's layers
    in stack order, a layer where it first appears.  `positions[k]` is the
    layer's index in graph.images[k] (None when that image does not use it)
    -- enough to draw images as columns with shared layers drawn once."""
    images = graph.images
    rows: dict[str, SharingRow] = {}
    order: list[str] = []
    for k, im in enumerate(images):
        for L, layer in enumerate(im.layers):
            r = rows.get(layer.key)
            if r is None:
                r = SharingRow(layer, layer.key, layer.short_id, layer.size, max(layer.compressed_size, 0),
                               "", [None] * len(images), layer.indexed)
                rows[layer.key] = r
                order.append(layer.key)
            if r.positions[k] is None:
                r.positions[k] = L
            if not r.created_by:
                r.created_by = im.created_by(L)
    return [rows[k] for k in order]


def sharing(graph: LayerGraph) -> Sharing:
    """Rows and figures (see the module docstring)."""
    rows = sharing_rows(graph)
    labels = image_labels(graph.images)
    users: dict[str, int] = {r.key: r.users for r in rows}
    shares: list[ImageShare] = []
    for k, im in enumerate(graph.images):
        distinct: dict[str, Layer] = {}
        for layer in im.layers:
            distinct.setdefault(layer.key, layer)
        size = sum(l.size for l in distinct.values())
        csize = sum(max(l.compressed_size, 0) for l in distinct.values())
        sh = sum(l.size for l in distinct.values() if users[l.key] > 1)
        csh = sum(max(l.compressed_size, 0) for l in distinct.values() if users[l.key] > 1)
        shares.append(ImageShare(im, labels[k], len(distinct), size, sh, csize, csh))
    return Sharing(
        images=shares, rows=rows,
        stored_bytes=sum(r.size for r in rows),
        unshared_bytes=sum(s.size for s in shares),
        stored_compressed_bytes=sum(r.compressed_size for r in rows),
        unshared_compressed_bytes=sum(s.compressed_size for s in shares),
        labels=labels)
