"""`layerscope history PATH`: every layer that touched a path, the copy
visible at the top, and the hidden copies with what they cost."""

from __future__ import annotations

import sys

from ..errors import ImageError, one_line
from .common import TYPE_CHARS, analyse_image, load


def run(args) -> int:
    from ..model import typed_path
    from ..units import human, mode_string
    from ..views.jsondoc import dumps, entry_brief

    graph, image = load([args.archive], args.image, args.platform, args.verify, not args.no_cache)
    a = analyse_image(graph, image, args.base)
    if "\0" in args.path:
        raise ImageError(f"{args.path!r}: a path cannot contain a NUL byte")
    path = "/" + typed_path(args.path)
    events = a.history(path)
    shadows = a.shadows(path)
    ref = a.visible_ref(path)
    if not events and ref is None:
        raise ImageError(f"no layer of the image touches {path!r}")
    visible = entry_brief(a.layers[ref[0]].entries.entry(ref[1]), ref[0]) if ref else None
    if args.json:
        sys.stdout.write(dumps({
            "path": path,
            "visible": visible,
            "events": [{"layer": ev.layer, "action": ev.action, "detail": ev.detail or None,
                        "created_by": a.created_by(ev.layer) or None,
                        "entry": entry_brief(ev.entry, ev.layer) if ev.entry else None} for ev in events],
            "hidden": [{"layer": sh.layer, "hidden_at": sh.hidden_at, "how": sh.how, "wasted_bytes": sh.bytes,
                        "entry": entry_brief(sh.entry, sh.layer)} for sh in shadows],
        }))
        sys.stdout.write("\n")
        return 0
    from ..model import pretty_step

    out = sys.stdout
    out.write(one_line(path, 100_000) + "\n")
    for ev in events:
        line = f"  layer {ev.layer:<3} {ev.action:<14}"
        if ev.entry is not None:
            e = ev.entry
            line += (f" {mode_string(e.mode, TYPE_CHARS.get(e.type_name, '-'))} {e.uid}:{e.gid} "
                     f"{human(e.size):>9} {e.type_name}")
        if ev.detail:
            line += f" ({ev.detail})"
        step = pretty_step(a.created_by(ev.layer))
        if step:
            line += "  ← " + one_line(step, 200)
        out.write(line + "\n")
    if ref:
        out.write(f"  visible: the copy from layer {ref[0]}\n")
    else:
        out.write("  not in the final image\n")
    for sh in shadows:
        out.write(f"  hidden:  layer {sh.layer}'s copy, {sh.how} by layer {sh.hidden_at}"
                  f"{', wastes ' + human(sh.bytes) if sh.bytes else ''}\n")
    return 0
