"""The findings list: what a change to the build could save, biggest first."""

from __future__ import annotations

from rich.text import Text

from ..fmt import SIZE_W, clean_text, human, middle_cut
from .cursorlist import ItemList

KIND_W = 17  # the longest kind, "duplicate-content"


class FindingList(ItemList):
    """One row per finding: bytes, kind, the step that stored them, the biggest path."""

    placeholder = "the findings fill in once every layer is indexed"
    EMPTY = "no findings: nothing a change to the build would obviously save"

    def render_row(self, i: int, width: int) -> Text:
        f = self.items[i]
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(human(f.bytes).rjust(SIZE_W), "bold red" if not f.base else "red")
        t.append(" " + f.kind.ljust(KIND_W), "bold" if not f.base else "dim")
        where = f"L{f.layer}" + (f"→L{f.fixed_by}" if f.fixed_by is not None else "")
        t.append(" " + where.ljust(8), "cyan")
        if f.base:
            t.append("base ", "blue")
        if f.paths:
            more = f" +{len(f.paths) - 1:,}" if len(f.paths) > 1 else ""
            room = max(12, width - t.cell_len - len(more) - 1)
            t.append(middle_cut(clean_text(f.paths[0][0], 4000), room))
            t.append(more, "dim")
        return t


def finding_text(f, limit: int = 12) -> Text:
    """The highlighted finding in full: the fix, then its biggest paths."""
    t = Text()
    t.append(f"{f.kind}", "bold")
    t.append(f"  {human(f.bytes)}", "bold red")
    t.append(f"  stored by layer {f.layer}" + (f", hidden by layer {f.fixed_by}" if f.fixed_by is not None else ""),
             "cyan")
    if f.base:
        t.append("  (base image: you may not control it)", "blue")
    t.append("\n" + clean_text(f.fix, 2000) + "\n")
    for path, size in f.paths[:limit]:
        t.append(f"{human(size):>{SIZE_W}}  ", "dim")
        t.append(clean_text(path, 400) + "\n")
    if len(f.paths) > limit:
        t.append(f"… and {len(f.paths) - limit:,} more paths\n", "dim")
    return t


def what_if_text(what_ifs: list, picked=None) -> Text:
    """The report's what-ifs, one a line (the squash the user asked for, then the fixes, then the squashes):
    bytes saved, and the compressed estimate (each layer's own ratio)."""
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append("what if", "bold")
    t.append(" (bytes saved; ≈ compressed by each layer's ratio) · S: squash layers i..j", "dim")
    rest = [w for w in what_ifs if picked is None or w.change != picked.change]
    # the fixes first: where the pane is short, the squashes are what is cut
    rest.sort(key=lambda w: not w.change.startswith("apply"))
    rows = ([picked] if picked is not None else []) + rest
    for w in rows:
        t.append("\n")
        t.append(human(w.uncompressed_saved).rjust(SIZE_W), "bold green" if w.uncompressed_saved else "dim")
        t.append(f"  ≈ {human(w.compressed_saved_estimate)} compressed".ljust(24), "green" if w.uncompressed_saved
                 else "dim")
        t.append(" ")
        t.append(clean_text(w.change, 200), "bold" if w is picked else "")
        if w is picked:
            t.append("  (yours)", "cyan")
    return t
