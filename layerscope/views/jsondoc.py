"""The machine-readable documents of the CLI (`report --json`, `ls --json`).
This is a contract: README.md documents every key; add keys, never rename."""

from __future__ import annotations

import base64
import json
import re

from .. import __version__
from ..analysis import ImageAnalysis
from ..analysis.stack import IMPLIED
from ..model import HARDLINK, TYPE_NAMES, Image, LayerGraph


def image_doc(im: Image, a: ImageAnalysis | None = None) -> dict:
    osr = a.os_release() if a is not None else None
    return {
        "ref": im.refs[0] if im.refs else None,
        "refs": list(im.refs),
        "digest": im.digest or None,
        "config_digest": im.config_digest or None,
        "platform": str(im.platform),
        "os": (osr or {}).get("PRETTY_NAME") if osr else None,
        "source": im.source,
        "layers": len(im.layers),
        "verified": im.verified,
    }


def layer_doc(a: ImageAnalysis, L: int) -> dict:
    layer = a.layers[L]
    added, modified, deleted = a.counts(L)
    content, meta, dup = a.modified_kinds(L)
    return {
        "index": L,
        "digest": layer.digest or None,
        "diff_id": layer.diff_id or None,
        "media_type": layer.media_type or None,
        "compression": layer.compression or None,
        "compressed_size": layer.compressed_size,
        "uncompressed_size": layer.uncompressed_size,
        "size": a.waste.layer_bytes[L],
        "entries": len(layer.entries),
        "created_by": a.created_by(L) or None,
        "added": added,
        "modified": modified,
        "modified_content": content,
        "modified_metadata_only": meta,
        "modified_duplicate": dup,
        "deleted": deleted,
        "wasted_bytes": a.waste.layer_wasted[L],
        "base": L < a.waste.base_layers,
        "shared_with": [o.name for o in layer.images if o is not a.image],
        "warnings": list(layer.warnings),
        "error": layer.error,
    }


def finding_doc(f, top: int = 100) -> dict:
    """One finding (analysis.findings.Finding) with its `top` biggest paths."""
    return {
        "kind": f.kind,
        "layer": f.layer,
        "fixed_by": f.fixed_by,
        "bytes": f.bytes,
        "paths": [{"path": p, "bytes": n} for p, n in f.paths[:max(top, 0)]],
        "path_count": len(f.paths),
        "base": f.base,
        "fix": f.fix,
    }


def waste_doc(pw) -> dict:
    """One wasted path: its hidden bytes and every copy (report's "waste" items)."""
    return {
        "path": pw.path,
        "wasted_bytes": pw.wasted_bytes,
        "copies": [{"layer": c.layer, "size": c.size, "state": c.state, "kind": c.kind, "hidden_at": c.hidden_at}
                   for c in pw.copies],
    }


def report_doc(graph: LayerGraph, a: ImageAnalysis, top: int = 100) -> dict:
    im = a.image
    waste = [waste_doc(pw) for pw in a.waste.paths(top)]
    t = a.totals()
    warnings = list(graph.warnings)
    for L, layer in enumerate(a.layers):
        warnings.extend(f"layer {L}: {w}" for w in layer.warnings)
        if layer.error:
            warnings.append(f"layer {L}: {layer.error}")
    if a.kinds.hash_errors:
        warnings.extend(a.kinds.hash_errors)
    return {
        "layerscope_version": __version__,
        "image": image_doc(im, a),
        "images": [image_doc(o) for o in graph.images],
        "layers": [layer_doc(a, L) for L in range(a.stack.n)],
        "history": [
            {"step": s, "created_by": h.created_by, "created": h.created or None, "empty_layer": h.empty_layer,
             "layer": h.layer_index}
            for s, h in enumerate(im.history)
        ],
        "history_mapped": im.history_mapped,
        "totals": {
            "size": t["size"],
            "visible_size": t["visible_size"],
            "wasted_bytes": t["wasted_bytes"],
            "user_wasted_bytes": t["user_wasted_bytes"],
            "user_wasted_percent": t["user_wasted_percent"],
            "efficiency": t["efficiency"],
            "base_layers": t["base_layers"],
            "entries": t["entries"],
            "wasted_paths": a.waste.path_count(),
        },
        "waste": waste,
        "findings": [finding_doc(f, top) for f in a.findings()],
        "warnings": warnings,
    }


def entry_doc(a: ImageAnalysis, path: str, L: int, i: int, change: str | None = None) -> dict:
    if i == IMPLIED:
        d = {"path": "/" + path, "type": "dir", "size": 0, "mode": 0o755, "uid": 0, "gid": 0, "link": None,
             "layer": L, "implied": True}
    else:
        e = a.layers[L].entries
        t = e.types[i]
        d = {"path": "/" + path, "type": TYPE_NAMES[t], "size": e.sizes[i], "mode": e.modes[i], "uid": e.uids[i],
             "gid": e.gids[i], "link": e.links.get(i), "layer": L}
        if t == HARDLINK and d["link"] is not None:
            d["link"] = "/" + d["link"]  # hardlink targets are image paths, shown like every path
    if change is not None:
        d["change"] = change
    return d


def tree_entry_doc(a: ImageAnalysis, t, n: int) -> dict | None:
    """Node n of a file tree as `ls --json` shows it: for a tree of a layer's
    changes (`ls --changes`) with its change and kind, None for a node that is
    no change (a directory listed again, or an implied parent that existed)."""
    from ..analysis.tree import S_DELETED

    p = t.path(n).lstrip("/")
    ref = t.ref(n)
    L = t.layer
    if t.mode != "changes":
        return entry_doc(a, p, L, IMPLIED) if ref is None else entry_doc(a, p, ref[0], ref[1])
    change, kind = status_change(t.status[n])
    if ref is None and a.stack.implied.get(p, (None,))[0] == L:
        change = "added"  # a parent directory this layer implied into existence
    if change == "unchanged":
        return None
    if ref is None:
        d = entry_doc(a, p, L, IMPLIED, change)
    else:
        d = entry_doc(a, p, ref[0], ref[1], change)
        if t.status[n] == S_DELETED:
            d["layer"] = L
            d["deleted_layer"] = ref[0]
    if kind:
        d["kind"] = kind
    return d


def status_change(status: int) -> tuple[str, str | None]:
    """tree status -> (change, kind) for `ls --changes`."""
    from ..analysis.tree import STATUS_NAMES  # trees are for `ls` and the app, not `report`

    name = STATUS_NAMES[status]
    if name == "added":
        return "added", None
    if name == "deleted":
        return "deleted", None
    if name == "modified":
        return "modified", "content"
    if name == "metadata":
        return "modified", "metadata-only"
    if name == "duplicate":
        return "modified", "duplicate"
    return "unchanged", None


def entry_brief(e, layer: int) -> dict:
    """One Entry as JSON (for `history`)."""
    link = e.link
    if e.type == HARDLINK and link is not None:
        link = "/" + link
    return {"path": "/" + e.path, "type": TYPE_NAMES[e.type], "size": e.size, "mode": e.mode, "uid": e.uid,
            "gid": e.gid, "link": link, "layer": layer}


# Tar names are bytes; a name that is not UTF-8 reaches here with each bad byte as a surrogate escape.
_BAD_BYTE = re.compile("[\udc80-\udcff]")
NAME_KEYS = ("path", "link")


def encode_names(doc):
    """`doc` with every name that is not valid UTF-8 in one reversible form:
    "path"/"link" hold it with each invalid byte as U+FFFD, and "path_bytes"/
    "link_bytes" hold its exact bytes in base64.  Valid names are untouched
    (and get no *_bytes key)."""
    if isinstance(doc, list):
        return [encode_names(v) for v in doc]
    if not isinstance(doc, dict):
        return doc
    out = {}
    for k, v in doc.items():
        if isinstance(v, str):
            if k in NAME_KEYS and _BAD_BYTE.search(v):
                raw = v.encode("utf-8", "surrogateescape")
                out[k] = raw.decode("utf-8", "replace")
                out[k + "_bytes"] = base64.b64encode(raw).decode("ascii")
                continue
            out[k] = v
        elif isinstance(v, (dict, list)):
            out[k] = encode_names(v)
        else:
            out[k] = v
    return out


def dumps(doc) -> str:
    """The JSON text of a document: ASCII only (a lone surrogate from a config stays a \\u escape, as it came)."""
    return json.dumps(encode_names(doc), ensure_ascii=True)
