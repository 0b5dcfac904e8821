"""`layerscope ls`: the merged view at a layer, or (--changes) what that
layer added, modified and deleted, by name or biggest first (--sort size),
all or the first N (--top); text, JSON lines or CSV."""

from __future__ import annotations

import sys

from ..errors import one_line
from .common import TYPE_CHARS, UsageError, analyse_image, layer_arg, load


def run(args) -> int:
    from ..analysis.tree import build_changes_tree
    from ..units import human, mode_string
    from ..views.csvdoc import write_entries
    from ..views.jsondoc import dumps, entry_doc, tree_entry_doc

    top = args.top
    if top is not None and top < 0:
        raise UsageError("--top must be 0 or more")
    by_size = args.sort == "size"
    graph, image = load([args.archive], args.image, args.platform, args.verify, not args.no_cache)
    a = analyse_image(graph, image, args.base)
    L = layer_arg(args.layer, a.stack.n)
    out = sys.stdout
    rows = []
    if args.changes:
        t = build_changes_tree(a.stack, a.kinds, L)
        for n in range(1, len(t)):
            d = tree_entry_doc(a, t, n)
            if d is not None:
                rows.append(d)
        rows.sort(key=lambda d: d["path"])
        if by_size:
            rows.sort(key=lambda d: d["size"], reverse=True)  # stable: by path among equal sizes
        if top is not None:
            rows = rows[:top]
    else:
        items = a.stack.visible_at(L)
        if by_size:
            layers = a.layers

            def size_key(it):  # biggest first, then by path; an implied directory has no entry (size 0)
                p, l, i = it
                return (0 if i < 0 else -layers[l].entries.sizes[i]), p

            if top is not None:
                from heapq import nsmallest  # only the N biggest are made into rows

                items = nsmallest(top, items, key=size_key)
            else:
                items = sorted(items, key=size_key)
        else:
            items = sorted(items)
            if top is not None:
                items = items[:top]
        rows = [entry_doc(a, p, l, i) for p, l, i in items]
    fmt = args.format or ("json" if args.json else "text")
    if fmt == "json":
        for d in rows:
            out.write(dumps(d))
            out.write("\n")
        return 0
    if fmt == "csv":
        write_entries(out, rows)
        return 0
    for d in rows:
        mode = mode_string(d["mode"], TYPE_CHARS.get(d["type"], "-"))
        line = f"{mode} {d['uid']:>5}:{d['gid']:<5} {human(d['size']):>9}  L{d['layer']:<3} "
        if args.changes:
            ch = d["change"] + ("/" + d["kind"] if d.get("kind") else "")
            line += f"{ch:<22} "
        line += one_line(d["path"], 100_000)
        if d.get("link"):
            line += (" -> " if d["type"] == "symlink" else " link to ") + one_line(d["link"], 100_000)
        out.write(line + "\n")
    return 0
