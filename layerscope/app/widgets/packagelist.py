"""The packages list: the packages of the view at the selected layer, biggest first."""

from __future__ import annotations

from rich.text import Text

from ..fmt import SIZE_W, clean_text, human, middle_cut
from .cursorlist import ItemList

MANAGER_W = 6  # the longest manager, "python"


class PackageList(ItemList):
    """One row per package (analysis.packages.PackageRow): bytes, manager, name, version, the layer that installed it."""

    placeholder = "the packages fill in once every layer is indexed"
    EMPTY = "no package database here (dpkg, apk, rpm sqlite, Python dist-info, npm package.json)"

    def render_row(self, i: int, width: int) -> Text:
        r = self.items[i]
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(human(r.bytes).rjust(SIZE_W), "bold")
        t.append(" " + r.manager.ljust(MANAGER_W), "dim")
        t.append(f" L{r.layer}".ljust(5), "cyan")
        room = max(12, width - t.cell_len - 2)
        name = middle_cut(clean_text(r.name, 400), max(8, room * 2 // 3))
        t.append(" " + name)
        t.append(" " + middle_cut(clean_text(r.version, 200), max(4, room - len(name) - 1)), "dim")
        return t


def package_text(r, a, limit: int = 12) -> Text:
    """The highlighted package in full: what it is, where it came from, its bytes and biggest files."""
    from ..fmt import short_command

    t = Text()
    t.append(clean_text(r.name, 400), "bold")
    t.append("  " + clean_text(r.version, 200))
    t.append(f"  ({r.manager}" + (f", {clean_text(r.arch, 40)}" if r.arch else "") + ")", "dim")
    t.append("\n")
    if r.location:
        t.append("in /" + clean_text(r.location, 400) + "\n", "dim")
    t.append(f"installed by layer {r.layer}", "cyan")
    step = a.created_by(r.layer) if a is not None else ""
    if step:
        t.append("  " + clean_text(short_command(step)[:120], 200), "dim")
    t.append("\n")
    if r.changed_in:
        t.append("version changed in layer(s) " + ", ".join(map(str, r.changed_in)) + "\n", "yellow")
    t.append(f"{human(r.bytes)} in {r.files:,} files", "bold")
    if r.hidden_bytes:
        t.append(f"  {human(r.hidden_bytes)} of earlier copies hidden below", "red")
    if r.shared_bytes:
        t.append(f"  (and {human(r.shared_bytes)} a system package owns)", "dim")
    t.append("\n")
    for path, size in r.paths[:limit]:
        t.append(f"{human(size):>{SIZE_W}}  ", "dim")
        t.append("/" + clean_text(path, 400) + "\n")
    if len(r.paths) > limit:
        t.append(f"… and {len(r.paths) - limit:,} more files (enter shows them all in the tree)\n", "dim")
    return t
