"""Human-readable CLI output, rendered with rich.  Every name from an archive
goes through `plain_text()` into a `Text`: never markup, never a terminal
escape."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..analysis import ImageAnalysis
from ..errors import clipped, one_line
from ..model import LayerGraph, pretty_step
from ..units import human, plural


def plain_text(s: str, style: str = "") -> Text:
    """`s` as a rich Text of one line: rich reads no markup in a Text, and
    one_line() escapes control characters, so an archive's names cannot
    style or drive the terminal."""
    return Text(one_line(s, 100_000), style=style)


# of a build step, a report row shows this much (`report --json` has it whole)
STEP_SHOWN = 10_000


def step_text(created_by: str, style: str = "", empty: str = "(unknown step)") -> Text:
    """A build step for a report line: as a person reads it, cut (with what
    was left off counted) when it is huge."""
    return plain_text(clipped(pretty_step(created_by), STEP_SHOWN) or empty, style)


DIVE_WASTE = "the hidden copies only: dive's figure is larger, as it counts the visible copy too"


def render_report(console: Console, graph: LayerGraph, a: ImageAnalysis, top: int = 10,
                  squashes: list[tuple[int, int]] | None = None) -> None:
    im = a.image
    t = a.totals()
    osr = a.os_release() or {}
    head = Text()
    head.append("Image     ", "bold")
    head.append_text(plain_text(im.refs[0] if im.refs else im.name))
    head.append("\nPlatform  ", "bold")
    head.append_text(plain_text(str(im.platform)))
    head.append("\nOS        ", "bold")
    head.append_text(plain_text(osr.get("PRETTY_NAME", "unknown (no /etc/os-release)")))
    head.append("  (an image carries no kernel; containers use the host's)", "dim")
    head.append("\nDigest    ", "bold")
    head.append_text(plain_text(im.digest or "-"))
    head.append("  (verified)" if im.verified else "  (unverified: as the archive claims; --verify checks it)", "dim")
    if len(graph.images) > 1:
        head.append("\nArchive   ", "bold")
        head.append(f"{len(graph.images)} images: ")
        head.append_text(plain_text(", ".join(o.name for o in graph.images)))
        head.append("  (pick one with --image)", "dim")
    console.print(head)
    console.print()

    console.print(_layer_table(a, console.width))
    console.print(Text(LEGEND, style="dim"), overflow="fold")
    console.print()

    tot = Table.grid(padding=(0, 2))
    tot.add_column(style="bold")
    tot.add_column(justify="right")
    tot.add_column(style="dim", overflow="fold")
    tot.add_row("Total size", human(t["size"]))
    tot.add_row("Visible size", human(t["visible_size"]))
    tot.add_row("Wasted bytes", human(t["wasted_bytes"]), DIVE_WASTE)
    tot.add_row(f"User wasted (after {t['base_layers']} base layer{'s' if t['base_layers'] != 1 else ''})",
                f"{human(t['user_wasted_bytes'])} ({t['user_wasted_percent'] * 100:.1f} %)")
    tot.add_row("Efficiency", f"{t['efficiency'] * 100:.2f} %")
    console.print(tot)
    _render_findings(console, a, top)
    render_ledger(console, a)
    render_what_ifs(console, a.what_ifs(squashes))

    paths = a.waste.paths(top)
    if paths:
        console.print()
        wt = Table(title=f"Biggest wasted paths ({a.waste.path_count():,} in all)", title_justify="left",
                   show_edge=False, pad_edge=False, header_style="bold")
        wt.add_column("Wasted", justify="right", no_wrap=True)
        wt.add_column("Path", overflow="fold")
        wt.add_column("Copies (layer: size kind, state)", overflow="fold")
        for pw in paths[:top]:
            copies = Text()
            for n, c in enumerate(pw.copies):
                if n:
                    copies.append("; ")
                style = "green" if c.state == "visible" else "red"
                at = f" at L{c.hidden_at}" if c.hidden_at is not None else ""
                copies.append(f"L{c.layer}: {human(c.size)} {c.kind}, {c.state}{at}", style)
            wt.add_row(human(pw.wasted_bytes), plain_text(pw.path), copies)
        console.print(wt)
    warnings = [f"layer {L}: {w}" for L, l in enumerate(a.layers) for w in l.warnings]
    warnings += [f"layer {L}: {l.error}" for L, l in enumerate(a.layers) if l.error]
    if warnings:
        console.print()
        for w in warnings[:50]:
            console.print(plain_text("warning: " + w, "yellow"))


FINDING_PATHS = 3  # paths shown under each finding (report --json has --top of them)


def _render_findings(console: Console, a: ImageAnalysis, top: int) -> None:
    """What the build could save: the image's own findings in full (kind,
    bytes, step, biggest paths, fix), at most `top`; the base image's apart,
    one line each, since no later step can free those bytes."""
    found = a.findings()
    if not found:
        return
    own = [f for f in found if not f.base][:max(top, 0)]
    base = [f for f in found if f.base]
    hidden = sum(not f.base for f in found) - len(own)
    size_width = max(len(human(f.bytes)) for f in own + base) if own or base else 0  # one column in both lists

    def head(f) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f.kind, "bold")
        t.append(f"  layer {f.layer}")
        if f.fixed_by is not None:
            t.append(f" → layer {f.fixed_by}")
        step = pretty_step(a.created_by(f.layer))
        if step:
            t.append("  ")
            t.append_text(plain_text(step, "dim"))
        return t

    console.print()
    console.print(Text(f"Findings ({len(found):,}: what the build could save, biggest first)", style="bold"))
    if own:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(justify="right", no_wrap=True, min_width=size_width)
        grid.add_column(overflow="fold")
        for f in own:
            parts = [head(f)]
            for p, n in f.paths[:FINDING_PATHS]:
                line = plain_text(p)
                line.append(f"  {human(n)}", "dim")
                parts.append(line)
            if len(f.paths) > FINDING_PATHS:
                parts.append(Text(f"… {plural(len(f.paths) - FINDING_PATHS, 'more path')}", style="dim"))
            fix = Text("Fix: ", style="green")
            fix.append_text(Text(one_line(f.fix, 100_000)))
            parts.append(fix)
            grid.add_row(human(f.bytes), Group(*parts))
        console.print(grid)
    if hidden:
        console.print(Text(f"… {plural(hidden, 'more finding')} (--top N, or report --json for all)", style="dim"))
    if base:
        total = sum(f.bytes for f in base)
        console.print(Text(f"In the base image ({plural(len(base), 'finding')}, {human(total)}): no later step "
                           "frees these bytes; a smaller or newer base image does.", style="dim"))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(justify="right", no_wrap=True, min_width=size_width)
        grid.add_column(overflow="ellipsis")  # wrappable for the layout, so the sizes keep their width
        for f in base:
            grid.add_row(human(f.bytes), head(f))
        console.print(grid)


_LEDGER_HEADS = ("Layer", "Compressed", "Tar", "Visible", "Overwritten", "Deleted", "Metadata only", "Tar overhead")


def render_ledger(console: Console, a: ImageAnalysis) -> None:
    """Every byte of every layer, by where it went; the columns after the
    tar add up to it."""
    from ..analysis.ledger import COLUMNS

    led = a.ledger()
    table = Table(title="Byte ledger (visible + overwritten + deleted + metadata only + tar overhead = tar)",
                  title_justify="left", show_edge=False, pad_edge=False, header_style="bold")
    for h in _LEDGER_HEADS:
        table.add_column(h, justify="right", no_wrap=True)
    def cell(n: int | None) -> str:
        return "unknown" if n is None else human(n)

    for r in led.layers:
        table.add_row(str(r.index), *(cell(getattr(r, k)) for k in COLUMNS))
    table.add_row("total", *(cell(getattr(led.totals, k)) for k in COLUMNS), style="bold")
    console.print()
    console.print(table)


def render_what_ifs(console: Console, whatifs: list) -> None:
    if not whatifs:
        return
    grid = Table(title="What if", title_justify="left", show_edge=False, pad_edge=False, header_style="bold")
    grid.add_column("Change", no_wrap=True)
    grid.add_column("Saves", justify="right", no_wrap=True)
    grid.add_column("Compressed (est.)", justify="right", no_wrap=True)
    for w in whatifs:
        grid.add_row(w.change, human(w.uncompressed_saved), human(w.compressed_saved_estimate))
    console.print()
    console.print(grid)
    console.print(Text("Saves: file bytes removed, exact; compressed: each layer's own compression ratio applied "
                       "to the bytes removed from it.", style="dim"), overflow="fold")


MIN_STEP = 24  # build-step cells narrower than this drop other columns first
# least important first: what goes when the build steps would be too narrow to read
_DROP_ORDER = ("Entries", "Layer", "=", "*", "-", "~", "+")
LEGEND = "+ added  ~ new content  * metadata only (chmod/chown copy-up)  = duplicate (an identical copy)  - deleted"


def _layer_table(a: ImageAnalysis, width: int) -> Table:
    """One row per build step, in `width` columns: each build step on one
    line, cut with '…' to what is left, and columns dropped in order of
    importance when what is left would be too narrow."""
    heads = ("#", "Layer", "Size", "Entries", "+", "~", "*", "=", "-", "Wasted", "Build step")
    rows = []
    for row in a.layer_rows():
        step = step_text(row.created_by, empty="" if row.index is None else "(unknown step)")
        if row.index is None:
            rows.append((["·", Text("(no layer)"), "", "", "", "", "", "", "", "", step], "dim"))
            continue
        layer = row.layer
        ident = Text(layer.short_id)
        if row.is_base:
            ident.append(" base", "cyan")
        if row.shared_with:
            ident.append(" shared", "magenta")
        if layer.error:
            ident.append(" ERROR", "bold red")
        content, meta, dup = a.modified_kinds(row.index)
        rows.append(([str(row.index), ident, human(row.size), f"{row.entries:,}", str(row.added), str(content),
                      str(meta), str(dup), str(row.deleted), human(row.wasted) if row.wasted else "", step], None))

    def cell_width(k: int) -> int:
        return max([len(heads[k])] + [len(r[0][k]) if isinstance(r[0][k], str) else r[0][k].cell_len
                                      for r in rows])

    keep = list(range(len(heads)))
    widths = {k: cell_width(k) for k in keep}

    def room() -> int:  # what the build steps get: the width less the other columns and " │ " between columns
        return width - sum(widths[k] for k in keep[:-1]) - 3 * (len(keep) - 1)

    for name in _DROP_ORDER:
        if room() >= MIN_STEP:
            break
        keep.remove(heads.index(name))
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for k in keep:
        last = k == len(heads) - 1
        table.add_column(heads[k], justify="left" if heads[k] in ("Layer", "Build step") else "right",
                         no_wrap=True, overflow="ellipsis" if last else "fold",
                         max_width=max(room(), 8) if last else None)
    for cells, style in rows:
        table.add_row(*[cells[k] for k in keep], style=style)
    return table


def render_images(console: Console, graph: LayerGraph) -> None:
    table = Table(title="Images in the archive", title_justify="left", show_edge=False, header_style="bold")
    table.add_column("Ref")
    table.add_column("Platform")
    table.add_column("Layers", justify="right")
    table.add_column("Digest")
    for im in graph.images:
        table.add_row(plain_text(", ".join(im.refs) or "(untagged)"), plain_text(str(im.platform)), str(len(im.layers)),
                      plain_text((im.digest or "")[:19]))
    console.print(table)
    console.print(Group())
