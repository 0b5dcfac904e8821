"""`layerscope diff` output: the text report (`render_diff`, `summary_line`)
and the JSON document (`diff_doc`) of an analysis.diff.ImageDiff.

JSON (`diff --json`), one object:

    identical           bool
    a, b                the two sides: {source, ref, refs, digest, config_digest,
                        platform, layers (count), size (regular-file bytes of
                        the merged view), entries (paths in the merged view)}
    layers              {common_prefix (count), diverge_at (layer index where
                        the stacks first differ, null when the stacks are
                        equal), shared_bytes (bytes of the layers both use),
                        shared: [{diff_id, a_index, b_index, size, in_prefix}],
                        only_a / only_b: [{index, diff_id, size, created_by}]}
    summary             {added, removed, changed, content, metadata, type
                        (counts of paths), size_a, size_b, size_delta (bytes)}
    changes             every changed path, sorted by path: {path, change
                        ("added" | "removed" | "changed"), kind ("content" |
                        "metadata-only" | "type", null for added/removed),
                        type_a, type_b, size_a, size_b, delta, mode_a, mode_b,
                        uid_a, uid_b, gid_a, gid_b, link_a, link_b} (the _a
                        keys are null for an added path, the _b keys for a
                        removed one)
    directories         every directory with a change below it, biggest |delta|
                        first: {path, delta, added, removed, changed}
                        ("/" is the whole image)
    config              [{field, key, change ("added" | "removed" | "changed"),
                        a, b}]; key is the variable / label / port for Env,
                        Labels, ExposedPorts and Volumes, else null
    history             [{change ("added" | "removed"), index (position in that
                        side's history), created_by, empty_layer}]
    packages            package changes, biggest |delta| first: {manager, name,
                        arch, location, change ("added" | "removed" |
                        "version" | "bytes": same version, other bytes),
                        version_a, version_b, bytes_a, bytes_b, delta}
    warnings            [str]: e.g. a layer whose contents could not be re-read
                        (its same-size files then count as changed)

Paths in JSON start with "/".  Sizes are bytes of regular files (a hardlink
adds none, as in every layerscope size).
"""

from __future__ import annotations

import json

from ..analysis.diff import ADDED, CHANGED, CONTENT, METADATA, REMOVED, TYPE, ImageDiff, PathChange
from ..model import SYMLINK, Image
from ..units import human, plural


def _side_doc(im: Image, size: int, entries: int) -> dict:
    return {
        "source": im.source,
        "ref": im.refs[0] if im.refs else None,
        "refs": list(im.refs),
        "digest": im.digest or None,
        "config_digest": im.config_digest or None,
        "platform": str(im.platform),
        "layers": len(im.layers),
        "size": size,
        "entries": entries,
    }


def _change_doc(c: PathChange) -> dict:
    a, b = c.a, c.b
    d = {"path": "/" + c.path, "change": c.change, "kind": c.kind,
         "type_a": a.type_name if a else None, "type_b": b.type_name if b else None,
         "size_a": a.size if a else None, "size_b": b.size if b else None, "delta": c.delta,
         "mode_a": a.mode if a else None, "mode_b": b.mode if b else None,
         "uid_a": a.uid if a else None, "uid_b": b.uid if b else None,
         "gid_a": a.gid if a else None, "gid_b": b.gid if b else None,
         "link_a": a.link if a else None, "link_b": b.link if b else None}
    return d


def diff_doc(d: ImageDiff) -> dict:
    """The `diff --json` document (keys in this module's docstring)."""
    cnt = d.counts()
    lc = d.layers
    return {
        "identical": d.identical,
        "a": _side_doc(d.a_image, d.size_a, d.entries_a),
        "b": _side_doc(d.b_image, d.size_b, d.entries_b),
        "layers": {
            "common_prefix": lc.common_prefix,
            "diverge_at": lc.diverge_at,
            "shared_bytes": lc.shared_bytes,
            "shared": [{"diff_id": s.diff_id, "a_index": s.a_index, "b_index": s.b_index, "size": s.size,
                        "in_prefix": s.in_prefix} for s in lc.shared],
            "only_a": [{"index": o.index, "diff_id": o.diff_id, "size": o.size, "created_by": o.created_by or None}
                       for o in lc.only_a],
            "only_b": [{"index": o.index, "diff_id": o.diff_id, "size": o.size, "created_by": o.created_by or None}
                       for o in lc.only_b],
        },
        "summary": {"added": cnt[ADDED], "removed": cnt[REMOVED], "changed": cnt[CHANGED],
                    "content": cnt[CONTENT], "metadata": cnt[METADATA], "type": cnt[TYPE],
                    "size_a": d.size_a, "size_b": d.size_b, "size_delta": d.size_delta},
        "changes": [_change_doc(c) for c in d.changes],
        "directories": [{"path": "/" + x.path, "delta": x.delta, "added": x.added, "removed": x.removed,
                         "changed": x.changed} for x in d.top_directories(len(d.directories), True)],
        "config": [{"field": c.field, "key": c.key, "change": c.change, "a": c.a, "b": c.b} for c in d.config],
        "history": [{"change": h.change, "index": h.index, "created_by": h.created_by,
                     "empty_layer": h.empty_layer} for h in d.history],
        "packages": [{"manager": c.manager, "name": c.name, "arch": c.arch,
                      "location": ("/" + c.location) if c.location else None, "change": c.change,
                      "version_a": c.version_a, "version_b": c.version_b, "bytes_a": c.bytes_a,
                      "bytes_b": c.bytes_b, "delta": c.delta} for c in d.packages],
        "warnings": list(d.warnings),
    }


def _signed(n: int) -> str:
    if n == 0:
        return "0 B"
    return ("+" if n > 0 else "-") + human(abs(n))


def _value(v) -> str:
    if v is None:
        return "(none)"
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False)


def summary_line(d: ImageDiff) -> str:
    """One line: identical, or what differs."""
    if d.identical:
        extra = f"; {len(d.history)} history step(s) differ" if d.history else ""
        return "identical: same files, same config" + extra
    c = d.counts()
    parts = []
    if d.changes:
        kinds = ", ".join(f"{c[k]} {k}" for k in (CONTENT, METADATA, TYPE) if c[k])
        parts.append(f"{c[ADDED]} added, {c[REMOVED]} removed, {c[CHANGED]} changed"
                     + (f" ({kinds})" if kinds else "") + f", size {_signed(d.size_delta)}")
    else:
        parts.append("same files")
    parts.append(f"{len(d.config)} config change{'s' if len(d.config) != 1 else ''}"
                 if d.config else "same config")
    return "different: " + "; ".join(parts)


def render_diff(console, d: ImageDiff, top: int = 30) -> None:
    """The human report of `layerscope diff`."""
    # rich only here: `diff --json` does without it
    from rich.table import Table
    from rich.text import Text

    from .text import plain_text, step_text

    head = Text()
    for label, im, size in (("A", d.a_image, d.size_a), ("B", d.b_image, d.size_b)):
        head.append(f"{label}  ", "bold")
        head.append_text(plain_text(im.refs[0] if im.refs else im.name))
        head.append(f"  {im.platform}  {plural(len(im.layers), 'layer')}  {human(size)}", "dim")
        if im.source:
            head.append("  ")
            head.append_text(plain_text(im.source, "dim"))
        head.append("\n")
    head.append("=  " if d.identical else "≠  ", "bold green" if d.identical else "bold yellow")
    head.append(summary_line(d), "green" if d.identical else "yellow")
    console.print(head)

    lc = d.layers
    console.print()
    lt = Text()
    lt.append("Layers  ", "bold")
    if lc.diverge_at is None:
        lt.append(f"all {lc.common_prefix} layers are the same")
    else:
        lt.append(f"{lc.common_prefix} in common at the bottom"
                  f" ({human(sum(s.size for s in lc.shared if s.in_prefix))}); the stacks diverge at layer "
                  f"{lc.diverge_at}")
        ooo = lc.out_of_order
        if ooo:
            lt.append(f"; {len(ooo)} more shared out of order ("
                      + ", ".join(f"A{s.a_index}=B{s.b_index}" for s in ooo[:8])
                      + (", …" if len(ooo) > 8 else "") + ")")
        lt.append(f"; only in A: {len(lc.only_a)}, only in B: {len(lc.only_b)}")
    console.print(lt)
    if lc.only_a or lc.only_b:
        t = Table(show_edge=False, pad_edge=False, header_style="bold")
        t.add_column("Side")
        t.add_column("#", justify="right")
        t.add_column("Layer")
        t.add_column("Size", justify="right")
        t.add_column("Build step", overflow="fold")
        for side, items, style in (("A", lc.only_a, "red"), ("B", lc.only_b, "green")):
            for o in items:
                t.add_row(Text(side, style), str(o.index), o.diff_id.split(":", 1)[-1][:12], human(o.size),
                          step_text(o.created_by))
        console.print(t)

    if d.config:
        console.print()
        t = Table(title="Config changes", title_justify="left", show_edge=False, pad_edge=False,
                  header_style="bold")
        t.add_column("Field")
        t.add_column("Key", overflow="fold")
        t.add_column("A", overflow="fold")
        t.add_column("B", overflow="fold")
        for c in d.config:
            t.add_row(c.field, plain_text(c.key or ""), plain_text(_value(c.a), "red" if c.a is not None else "dim"),
                      plain_text(_value(c.b), "green" if c.b is not None else "dim"))
        console.print(t)

    if d.history:
        console.print()
        console.print(Text("History changes", "bold"))
        for h in d.history[:max(top, 0)]:
            line = Text("  - " if h.change == REMOVED else "  + ", "red" if h.change == REMOVED else "green")
            line.append(f"A#{h.index} " if h.change == REMOVED else f"B#{h.index} ", "dim")
            line.append_text(step_text(h.created_by, empty="(no created_by)"))
            console.print(line)
        if len(d.history) > top:
            console.print(Text(f"  … {len(d.history) - top} more", "dim"))

    if d.changes:
        console.print()
        shown = d.top_changes(top)
        t = Table(title=f"Changed paths (biggest {len(shown)} of {len(d.changes):,})", title_justify="left",
                  show_edge=False, pad_edge=False, header_style="bold")
        for col, just in (("Change", "left"), ("Size A", "right"), ("Size B", "right"), ("Δ", "right"),
                          ("Path", "left")):
            t.add_column(col, justify=just, no_wrap=col != "Path", overflow="fold")
        styles = {ADDED: "green", REMOVED: "red", CHANGED: "yellow"}
        for c in shown:
            what = c.change if c.kind is None else f"{c.kind}"
            if c.kind == METADATA and c.a and c.b:
                what += f" {c.a.mode:04o}→{c.b.mode:04o}" if c.a.mode != c.b.mode else ""
                if (c.a.uid, c.a.gid) != (c.b.uid, c.b.gid):
                    what += f" {c.a.uid}:{c.a.gid}→{c.b.uid}:{c.b.gid}"
            if c.kind == TYPE and c.a and c.b:
                what += f" {c.a.type_name}→{c.b.type_name}"
            path = plain_text("/" + c.path + ("/" if c.is_dir else ""))
            if c.kind == CONTENT and c.b is not None and c.b.type == SYMLINK:
                path.append(" -> ", "dim")
                path.append_text(plain_text(c.b.link or ""))
            t.add_row(Text(what, styles[c.change]), human(c.size_a) if c.a else "",
                      human(c.size_b) if c.b else "", _signed(c.delta), path)
        console.print(t)

        dirs = d.top_directories(min(top, 15))
        if dirs:
            console.print()
            t = Table(title=f"Directories (total {_signed(d.size_delta)})", title_justify="left",
                      show_edge=False, pad_edge=False, header_style="bold")
            for col, just in (("Δ", "right"), ("+", "right"), ("-", "right"), ("~", "right"), ("Directory", "left")):
                t.add_column(col, justify=just, no_wrap=col != "Directory", overflow="fold")
            for x in dirs:
                t.add_row(_signed(x.delta), str(x.added), str(x.removed), str(x.changed), plain_text("/" + x.path + "/"))
            console.print(t)

    if d.packages:
        _render_packages(console, d, top)

    if d.warnings:
        console.print()
        for w in d.warnings[:50]:
            console.print(plain_text("warning: " + w, "yellow"))


def _render_packages(console, d: ImageDiff, top: int) -> None:
    """Package changes (added, removed, version changed), biggest |delta| first."""
    from rich.table import Table
    from rich.text import Text

    from .text import plain_text

    console.print()
    counts = {k: sum(c.change == k for c in d.packages) for k in ("added", "removed", "version", "bytes")}
    t = Table(title=f"Packages ({counts['added']} added, {counts['removed']} removed, {counts['version']} "
                    f"other version)", title_justify="left", show_edge=False, pad_edge=False, header_style="bold")
    for col, just in (("", "left"), ("Package", "left"), ("Manager", "left"), ("A", "left"), ("B", "left"),
                      ("Δ", "right")):
        t.add_column(col, justify=just, no_wrap=True, overflow="ellipsis")
    styles = {"added": "green", "removed": "red", "version": "yellow", "bytes": "yellow"}
    for c in d.packages[:max(top, 0)]:
        t.add_row(Text(c.change, styles[c.change]), plain_text(c.name), c.manager,
                  plain_text(c.version_a or ""), plain_text(c.version_b or ""), _signed(c.delta))
    console.print(t)
    if len(d.packages) > top:
        console.print(Text(f"  … {len(d.packages) - top} more (diff --json lists all)", "dim"))
