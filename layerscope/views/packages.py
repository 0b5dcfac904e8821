"""`packages` output: the packages of the view at a layer with their real
bytes, and per layer what it added, upgraded and removed.  The JSON lines
are a contract (README: packages --json): add keys, never rename."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..units import human, plural
from .pkgdoc import SUMMARY_TOP, summary_doc
from .text import plain_text, step_text


def _label(r) -> Text:
    t = plain_text(r.name)
    if r.arch and r.manager == "dpkg":
        t.append(f":{r.arch}", "dim")
    return t


def render_packages(con: Console, a, N: int, rows: list, with_layers: bool, top: int | None = None) -> None:
    pa = a.packages()
    if not rows and not pa.states:
        con.print(Text("No package database found (dpkg, apk, rpm sqlite, Python dist-info, npm package.json).",
                       style="dim"))
    else:
        by_manager: dict[str, list[int]] = {}
        for r in rows:
            by_manager.setdefault(r.manager, [0, 0])
            by_manager[r.manager][0] += 1
            by_manager[r.manager][1] += r.bytes
        summary = ", ".join(f"{m} {plural(n, 'package')} {human(b)}" for m, (n, b) in by_manager.items())
        con.print(Text(f"Packages at layer {N}: {summary or 'none'}", style="bold"))
        t = Table(box=None, header_style="bold", pad_edge=False)
        for col, just in (("Package", "left"), ("Version", "left"), ("Manager", "left"), ("Layer", "right"),
                          ("Bytes", "right"), ("Hidden", "right"), ("Files", "right"), ("Location", "left")):
            t.add_column(col, justify=just, no_wrap=True, overflow="ellipsis")
        shown = rows if top is None else rows[:max(top, 0)]
        for r in shown:
            layer = str(r.layer) + (f" (changed {', '.join(map(str, r.changed_in))})" if r.changed_in else "")
            t.add_row(_label(r), plain_text(r.version), r.manager, layer, human(r.bytes),
                      human(r.hidden_bytes) if r.hidden_bytes else "", f"{r.files:,}",
                      plain_text("/" + r.location, "dim") if r.location else "")
        con.print(t)
        if len(shown) < len(rows):
            con.print(Text(f"… {plural(len(rows) - len(shown), 'more package')}", style="dim"))
        if pa.shared_files and N == a.stack.n - 1:
            con.print(Text(f"{plural(pa.shared_files, 'file')} ({human(pa.shared_bytes)}) are listed by packages of "
                           "two managers (a system package and a Python or npm one): counted once, under the "
                           "system package.", style="dim"))
    if with_layers:
        con.print()
        con.print(Text("Per layer", style="bold"))
        for lp in pa.layer_rows(N):
            head = Text(f"layer {lp.layer}  ", style="bold")
            head.append(f"owned {human(lp.owned_bytes)}, unowned {human(lp.unowned_bytes)}  ", "")
            head.append_text(step_text(a.created_by(lp.layer), "dim", ""))
            con.print(head)
            for what, lst in (("+", lp.added), ("^", lp.upgraded), ("-", lp.removed)):
                for c in lst:
                    line = Text(f"  {what} {human(c.bytes):>9}  ")
                    line.append_text(plain_text(c.name))
                    line.append(f" ({c.manager}) ", "dim")
                    if what == "^":
                        line.append_text(plain_text(f"{c.old_version} → {c.version}"))
                    else:
                        line.append_text(plain_text(c.version if what == "+" else c.old_version))
                    con.print(line)
    for note in pa.notes:
        con.print(Text("note: ", style="yellow") + plain_text(note))


def render_summary(con: Console, a) -> None:
    """The report's one paragraph on packages: per manager, and the biggest."""
    pa = a.packages()
    rows = pa.rows()
    if not rows and not pa.notes:
        return
    con.print()
    doc = summary_doc(a, SUMMARY_TOP)
    head = Text("Packages  ", style="bold")
    head.append(", ".join(f"{m} {plural(d['packages'], 'package')} {human(d['bytes'])}"
                          for m, d in doc["managers"].items()) or "none")
    con.print(head)
    if rows:
        line = Text("  biggest: ", style="dim")
        for k, r in enumerate(rows[:SUMMARY_TOP]):
            if k:
                line.append(", ")
            line.append_text(plain_text(r.name))
            line.append(f" {human(r.bytes)}", "dim")
        con.print(line)
        con.print(Text("  each package's layer and bytes: layerscope packages IMAGE (--layers for every layer)",
                       style="dim"))
    for note in pa.notes:
        con.print(Text("  note: ", style="yellow") + plain_text(note))
