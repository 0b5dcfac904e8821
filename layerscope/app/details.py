"""Text for the details pane: a path (in a tree) or a build step.  Built in a
thread worker from what the core computed; every name goes through clean_text()."""

from __future__ import annotations

from rich.text import Text

from ..analysis.tree import S_DELETED, S_IMPLIED, S_UNCHANGED
from ..model import DIR, FILE, HARDLINK, OPAQUE, SYMLINK, TYPE_NAMES
from .fmt import STATUS, clean_text, clipped_text, human, mode_text, short_command

KEY_W = 12
MAX_HISTORY = 200
# of a build step, the details show this much (a step can be megabytes: b shows it whole)
COMMAND_SHOWN = 8192
COMMAND_LINES = 400
MAX_ITEMS = 500  # of a config list (Env, Labels, Cmd, ...)
# how a hidden copy was hidden, as a phrase before "at L<n>"
HIDDEN_BY = {"overwritten": "overwritten", "whiteout": "deleted (whiteout)", "opaque dir": "hidden by an opaque dir",
             "replaced parent": "its parent replaced"}


def _kv(t: Text, key: str, value: str | Text, style: str = "") -> None:
    t.append(f"{key:<{KEY_W - 1}} ", "bold")
    if isinstance(value, Text):
        t.append_text(value)
    else:
        t.append(value, style)
    t.append("\n")


def layer_label(a, L: int) -> str:
    layer = a.layers[L] if a is not None else None
    return f"layer {L}" + (f" ({layer.short_id})" if layer is not None else "")


def _entry_line(e) -> str:
    bits = [TYPE_NAMES.get(e.type, "?")]
    if e.type == FILE:
        bits.append(human(e.size))
    bits.append(mode_text(e.mode, e.type))
    bits.append(f"{e.uid}:{e.gid}")
    if e.link is not None and e.type in (SYMLINK, HARDLINK):
        bits.append(("→ " if e.type == SYMLINK else "⇒ ") + clean_text(e.link, 200))
    return "  ".join(bits)


def path_details(tree, node: int, a=None, image=None) -> Text:
    """Details of one tree node; `a` (the ImageAnalysis) adds the history
    across layers and the shadows; without it (still indexing) only the entry."""
    t = Text()
    path = tree.path(node)
    N = tree.layer
    status = tree.status[node]
    t.append(clean_text(path, 2000), "bold")
    t.append("\n")
    glyph, gstyle, label = STATUS[status]
    ref0 = tree.ref(node)
    if status == S_UNCHANGED and ref0 is not None and ref0[0] == N:
        label = "listed again by this layer, unchanged"
        if a is not None and any(L == N and a.layers[L].entries.types[i] == OPAQUE
                                 for L, i in a.stack.entries_at(path.strip("/"))):
            label = "made opaque by this layer: what lower layers had inside is hidden"
            glyph, gstyle = "o", "bold red"
    view = "changes of" if tree.mode == "changes" else "merged view at"
    t.append(f"{view} layer {N}: ", "dim")
    t.append(f"{glyph.strip() or '·'} {label if status != S_IMPLIED else 'implied directory (no entry of its own)'}",
             gstyle or "dim")
    t.append("\n\n")
    ref = tree.ref(node)
    e = tree.entry(node)
    if status == S_DELETED:
        _kv(t, "deleted", f"by layer {N}", "red")
        if tree.size(node):
            _kv(t, "it hid", human(tree.size(node)) + " of files below", "red")
        if e is not None and ref is not None:
            _kv(t, "was", f"{_entry_line(e)}  (from layer {ref[0]})")
    elif e is not None:
        _kv(t, "type", TYPE_NAMES.get(e.type, "?"))
        if e.type == DIR:
            _kv(t, "size", f"{human(tree.size(node))} in {tree.count(node):,} entries (recursive)")
        else:
            _kv(t, "size", f"{human(e.size)} ({e.size:,} bytes)" if e.type == FILE else human(tree.size(node)))
        _kv(t, "mode", f"{mode_text(e.mode, e.type)}  ({e.mode:04o})")
        _kv(t, "owner", f"uid {e.uid}, gid {e.gid}")
        if e.link is not None and e.type in (SYMLINK, HARDLINK):
            _kv(t, "link", ("→ " if e.type == SYMLINK else "⇒ (hardlink) ") + clean_text(e.link, 2000))
    else:
        _kv(t, "type", "dir (implied: a layer lists files in it but not the dir itself)")
        _kv(t, "size", f"{human(tree.size(node))} in {tree.count(node):,} entries (recursive)")
    if ref is not None and status != S_DELETED:
        L = ref[0]
        who = f"layer {L}"
        if a is not None:
            who += f" ({a.layers[L].short_id})"
            cb = a.created_by(L)
            if cb:
                who += "  " + short_command(cb)[:120]
        _kv(t, "provided by", who)
        if a is not None:
            st = a.stack
            ha = st.hidden_at[L][ref[1]]
            relisted = False
            if ha < st.n and e is not None and e.type == DIR and st.hidden_by[L][ref[1]] >= 0:
                relisted = st.layers[ha].entries.types[st.hidden_by[L][ref[1]]] == DIR
            if ha < st.n and not relisted:
                from ..analysis.stack import HOW_NAMES
                _kv(t, "hidden at", f"layer {ha} ({HOW_NAMES.get(st.how[L][ref[1]], '')}): "
                                    "not in the final image", "yellow")
    if a is None:
        t.append("\nhistory and shadows appear once every layer is indexed…", "dim italic")
        return t
    _owners(t, a, path)
    # -- opaque markers: a directory whose lower contents a layer hid ----------
    opaque = [L for L, i in a.stack.entries_at(path.strip("/")) if a.layers[L].entries.types[i] == OPAQUE]
    if opaque:
        t.append("\nopaque in layer(s) " + ", ".join(map(str, opaque)), "bold yellow")
        t.append(": everything lower layers had inside it is hidden there\n", "yellow")
    # -- history across every layer -------------------------------------------
    hist = a.history(path)
    t.append("\nhistory", "bold underline")
    t.append(f"  (every layer that touched it, of {a.stack.n})\n", "dim")
    if not hist:
        t.append("  only implied by its children\n", "dim")
    for ev in hist[:MAX_HISTORY]:
        style = {"added": "green", "modified": "yellow", "metadata-only": "cyan", "duplicate": "magenta",
                 "deleted": "red"}.get(ev.action, "")
        mark = "▶" if ev.layer == N else " "
        t.append(f" {mark}L{ev.layer:<3} ", "bold" if ev.layer == N else "")
        t.append(f"{ev.action:<14}", style)
        if ev.entry is not None:
            t.append(_entry_line(ev.entry), "dim")
        elif ev.detail:
            t.append(f"({ev.detail})", "dim")
        t.append("\n")
    if len(hist) > MAX_HISTORY:
        t.append(f"  … {len(hist) - MAX_HISTORY} more\n", "dim")
    # -- shadows ----------------------------------------------------------------
    sh = a.shadows(path)
    relisted = [s for s in sh if s.entry.type == DIR and s.how == "overwritten"]
    sh = [s for s in sh if not (s.entry.type == DIR and s.how == "overwritten")]
    t.append("\nhidden copies", "bold underline")
    if not sh:
        t.append("  none: nothing below is shadowed\n", "dim")
    else:
        total = sum(s.bytes for s in sh)
        t.append(f"  ({len(sh)}, costing {human(total)})\n", "dim")
        for s in sh[:MAX_HISTORY]:
            t.append(f"  L{s.layer:<3} ")
            t.append(_entry_line(s.entry), "dim")
            t.append(f"  {HIDDEN_BY.get(s.how, s.how)} at L{s.hidden_at}", "yellow")
            if s.bytes:
                t.append(f"  costs {human(s.bytes)}", "bold red")
            t.append("\n")
    if relisted:
        t.append(f"  (and {len(relisted)} lower listing(s) of this directory, no bytes)\n", "dim")
    return t


def layer_details(row, a=None, image=None, multi: bool = False) -> Text:
    """Details of one build step (row of the layer list)."""
    t = Text()
    if row.index is None:
        t.append(f"Build step {row.step}: no layer\n", "bold")
        t.append("This step only changed the image configuration (ENV, CMD, LABEL, …); "
                 "it added no files.\n\n", "dim")
    else:
        layer = row.layer
        n = len(image.layers) if image is not None else 0
        t.append(f"Layer {row.index}", "bold")
        t.append(f"  (layers 0–{n - 1}; build step {row.step} of the history)\n", "dim")
        if row.is_base:
            t.append("B base-image layer\n", "bold blue")
        if layer is not None:
            if layer.error:
                t.append("error: " + clean_text(layer.error, 2000) + "\n", "bold red")
            _kv(t, "diff id", clean_text(layer.diff_id or "?"))
            if layer.digest and layer.digest != layer.diff_id:
                _kv(t, "blob", clean_text(layer.digest))
            comp = f" ({layer.compression})" if layer.compression and layer.compression != "none" else ""
            _kv(t, "stored", human(layer.compressed_size) + comp)
        if a is not None:
            _kv(t, "files size", human(row.size))
            _kv(t, "entries", f"{row.entries:,}")
            ch = Text()
            content, meta, dup = row.kinds
            for n, label, style in ((row.added, "+{} added", "green"), (content, "~{} new content", "yellow"),
                                    (meta, "*{} metadata only", "cyan"), (dup, "={} duplicate", "magenta"),
                                    (row.deleted, "-{} deleted", "red")):
                if n:  # only what the layer did
                    ch.append(("  " if ch.plain else "") + label.format(f"{n:,}"), style)
            if not ch.plain:
                ch.append("none", "dim")
            _kv(t, "changes", ch)
            _kv(t, "wasted", human(row.wasted) + (" (bytes later hidden by an upper layer)" if row.wasted else ""),
                "bold red" if row.wasted else "")
            led = a._ledger  # made in the findings worker: shown once it is there
            if led is not None and row.index < len(led.layers) and led.layers[row.index].uncompressed is not None:
                r = led.layers[row.index]
                _kv(t, "tar", f"{human(r.uncompressed)} = {human(r.visible)} visible + {human(r.overwritten)} "
                              f"overwritten + {human(r.deleted)} deleted + {human(r.metadata_only)} metadata only + "
                              f"{human(r.tar_overhead)} tar overhead")
        if layer is not None and multi:
            names = [clean_text(im.name, 200) for im in layer.images]
            _kv(t, "used by", f"{len(names)} image(s): " + ", ".join(names), "magenta")
        if layer is not None:
            for w in layer.warnings[:20]:
                t.append("warning: " + clean_text(w, 1000) + "\n", "yellow")
        t.append("\n")
    t.append("command\n", "bold underline")
    cmd = row.created_by or "(no command recorded in the image history)"
    lines = cmd[:COMMAND_SHOWN].split("\n")[:COMMAND_LINES]
    for ln in lines:
        t.append(clean_text(ln, COMMAND_SHOWN) + "\n")
    more = len(cmd) - sum(len(ln) + 1 for ln in lines) + 1
    if more > 0:
        t.append(f"… ({more:,} more characters: b shows the whole build step)\n", "dim italic")
    return t


def image_details(image, a=None) -> Text:
    t = Text()
    t.append(clean_text(image.name, 400) + "\n", "bold")
    _kv(t, "refs", ", ".join(clean_text(r, 200) for r in image.refs) or "(untagged)")
    _kv(t, "digest", clean_text(image.digest or "?"))
    _kv(t, "platform", clean_text(str(image.platform)))
    if a is not None:
        osr = a.os_release() or {}
        _kv(t, "OS", clean_text(osr.get("PRETTY_NAME") or osr.get("NAME") or "unknown (no /etc/os-release)"))
    cfg = image.config or {}

    def val(v) -> str:
        if isinstance(v, (list, dict)):
            items = list(v)
            sep, cap = (" ", 400) if isinstance(v, list) else (", ", 200)
            out = sep.join(clipped_text(str(x), cap) for x in items[:MAX_ITEMS])
            return out + (f" … ({len(items) - MAX_ITEMS:,} more)" if len(items) > MAX_ITEMS else "")
        return clipped_text(str(v), 2000)

    for key in ("Entrypoint", "Cmd", "WorkingDir", "User", "ExposedPorts", "StopSignal"):
        if cfg.get(key):
            _kv(t, key, val(cfg[key]))
    env = cfg.get("Env") or []
    if env:
        t.append("\nEnv\n", "bold underline")
        for v in env[:MAX_ITEMS]:
            t.append("  " + clipped_text(str(v), 2000) + "\n")
        if len(env) > MAX_ITEMS:
            t.append(f"  … ({len(env) - MAX_ITEMS:,} more)\n", "dim")
    labels = cfg.get("Labels") or {}
    if isinstance(labels, dict) and labels:
        t.append("\nLabels\n", "bold underline")
        for k, v in list(labels.items())[:MAX_ITEMS]:
            t.append("  " + clean_text(str(k), 400) + " = " + clipped_text(str(v), 2000) + "\n")
        if len(labels) > MAX_ITEMS:
            t.append(f"  … ({len(labels) - MAX_ITEMS:,} more)\n", "dim")
    return t


def _owners(t: Text, a, path: str) -> None:
    """The packages that list `path` in the final view, once their databases are read (never read here:
    that is the Packages tab's worker)."""
    pa = a._packages
    if pa is None:
        return
    for r in pa.owners(path)[:4]:
        who = Text()
        who.append(clean_text(r.name, 200), "bold")
        who.append(f" {clean_text(r.version, 100)} ({r.manager}), installed by layer {r.layer}", "")
        if r.changed_in:
            who.append(f", changed in {', '.join(map(str, r.changed_in))}", "dim")
        _kv(t, "package", who)


FULL = 1 << 20  # a path or a link target shown in full: far beyond any a tar records


def full_path_text(tree, node: int) -> tuple[str, str]:
    """(title, text) of the tree's `node` in full: its path and, for a link, its target."""
    path = clean_text(tree.path(node), FULL)
    lines = [path]
    e = tree.entry(node)
    if e is not None and e.link is not None and e.type in (SYMLINK, HARDLINK):
        lines.append(("symlink to " if e.type == SYMLINK else "hardlink to ") + clean_text(e.link, FULL))
    lines.append(f"{human(tree.size(node))} at layer {tree.layer} ({tree.mode} view)")
    return f"Path ({len(path):,} characters)", "\n".join(lines)


def full_waste_text(w) -> tuple[str, str]:
    """(title, text) of a wasted path in full: the path, then every copy."""
    lines = [clean_text(w.path, FULL), f"{human(w.wasted_bytes)} of hidden bytes in {len(w.copies)} copies:"]
    for c in w.copies:
        lines.append(f"  layer {c.layer}: {c.kind}, {c.state}" + (f" at layer {c.hidden_at}" if c.hidden_at is not None
                                                                  else ""))
    return "Wasted path", "\n".join(lines)
