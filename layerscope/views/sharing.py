"""Layer sharing as output: the `sharing` object of `report --json` (when
more than one image is loaded) and the text table of `report`; the figures
are analysis.sharing's.

`sharing_doc(graph)`:

    image_count, layer_count, shared_layer_count (layers used by 2+ images)
    stored_bytes, unshared_bytes, saved_bytes,
    stored_compressed_bytes, unshared_compressed_bytes, saved_compressed_bytes
    images   [{label (unique: name, plus platform / source when needed), ref,
               digest, platform, source, layers (distinct layer count),
               size (bytes it needs alone), shared_bytes (in layers other
               images use too), unique_bytes (only it uses: what removing it
               frees), compressed_size, shared_compressed_bytes,
               unique_compressed_bytes}]
    layers   [{key, digest, diff_id, size, compressed_size, indexed,
               created_by, images: [labels of the images using it]}],
             in stack order (bottom layers first; a layer where it first appears)
"""

from __future__ import annotations

from ..analysis.sharing import sharing
from ..model import LayerGraph
from ..units import human, plural


def sharing_doc(graph: LayerGraph) -> dict:
    """The `sharing` object of `report --json` (keys in the module docstring)."""
    s = sharing(graph)
    return {
        "image_count": len(s.images),
        "layer_count": len(s.rows),
        "shared_layer_count": s.shared_layer_count,
        "stored_bytes": s.stored_bytes,
        "unshared_bytes": s.unshared_bytes,
        "saved_bytes": s.saved_bytes,
        "stored_compressed_bytes": s.stored_compressed_bytes,
        "unshared_compressed_bytes": s.unshared_compressed_bytes,
        "saved_compressed_bytes": s.saved_compressed_bytes,
        "images": [{
            "label": sh.label,
            "ref": sh.image.refs[0] if sh.image.refs else None,
            "digest": sh.image.digest or None,
            "platform": str(sh.image.platform),
            "source": sh.image.source,
            "layers": sh.layers,
            "size": sh.size,
            "shared_bytes": sh.shared_bytes,
            "unique_bytes": sh.unique_bytes,
            "compressed_size": sh.compressed_size,
            "shared_compressed_bytes": sh.shared_compressed_bytes,
            "unique_compressed_bytes": sh.unique_compressed_bytes,
        } for sh in s.images],
        "layers": [{
            "key": r.key,
            "digest": r.layer.digest or None,
            "diff_id": r.layer.diff_id or None,
            "size": r.size,
            "compressed_size": r.compressed_size,
            "indexed": r.indexed,
            "created_by": r.created_by or None,
            "images": [s.labels[k] for k, p in enumerate(r.positions) if p is not None],
        } for r in s.rows],
    }


def render_sharing(console, graph: LayerGraph) -> None:
    """The layer graph as text: one row per distinct layer (drawn once), one
    column per image (● uses it, · does not), then the figures."""
    # rich only here: `report --json` does without it
    from rich.table import Table
    from rich.text import Text

    from .text import plain_text, step_text

    s = sharing(graph)
    head = Text("Layer sharing", "bold")
    head.append(f"  {plural(len(s.images), 'image')}, {plural(len(s.rows), 'distinct layer')}, "
                f"{s.shared_layer_count} shared", "dim")
    console.print(head)
    for k, sh in enumerate(s.images):
        line = Text(f"  [{k + 1}] ", "bold cyan")
        line.append_text(plain_text(sh.label))
        line.append(f"  {sh.image.platform}", "dim")
        if sh.image.source:
            line.append("  ")
            line.append_text(plain_text(sh.image.source, "dim"))
        console.print(line)

    t = Table(show_edge=False, pad_edge=False, header_style="bold")
    t.add_column("Layer", no_wrap=True)
    t.add_column("Size", justify="right", no_wrap=True)
    t.add_column("Blob", justify="right", no_wrap=True)
    for k in range(len(s.images)):
        t.add_column(f"[{k + 1}]", justify="center", no_wrap=True)
    t.add_column("Build step", overflow="fold")
    for r in s.rows:
        ident = Text(r.short_id, "magenta" if r.shared else "")
        if not r.indexed:
            ident.append(" ?", "dim")
        marks = [Text(f"● {p}" if p is not None else "·", "bold" if p is not None and r.shared else
                      ("" if p is not None else "dim")) for p in r.positions]
        t.add_row(ident, human(r.size), human(r.compressed_size), *marks,
                  step_text(r.created_by, "" if r.created_by else "dim"))
    console.print(t)
    console.print(Text("  ● N: used by the image as its layer N; shared layers (magenta) are stored once", "dim"))
    console.print()

    ft = Table(show_edge=False, pad_edge=False, header_style="bold")
    ft.add_column("Image")
    for col in ("Layers", "Size alone", "Shared", "Only its own", "Blobs"):
        ft.add_column(col, justify="right", no_wrap=True)
    for k, sh in enumerate(s.images):
        label = Text(f"[{k + 1}] ", "cyan")
        label.append_text(plain_text(sh.label))
        ft.add_row(label, str(sh.layers), human(sh.size), human(sh.shared_bytes), human(sh.unique_bytes),
                   human(sh.compressed_size))
    console.print(ft)
    console.print()

    tot = Table.grid(padding=(0, 2))
    tot.add_column(style="bold")
    tot.add_column(justify="right")
    tot.add_column(justify="right", style="dim")
    tot.add_row("", "files", "blobs")
    tot.add_row("Stored once (shared layers counted once)", human(s.stored_bytes), human(s.stored_compressed_bytes))
    tot.add_row("Without sharing (each image its own copy)", human(s.unshared_bytes),
                human(s.unshared_compressed_bytes))
    pct = (s.saved_bytes / s.unshared_bytes * 100) if s.unshared_bytes else 0.0
    tot.add_row("Saved by sharing", f"{human(s.saved_bytes)} ({pct:.1f} %)", human(s.saved_compressed_bytes))
    console.print(tot)
