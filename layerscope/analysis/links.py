"""Following symbolic links inside an image's merged view, as a container
would see them: an absolute target starts at the image's root, `..` above
the root stays at the root (never the host's), every directory on the way
may itself be a link, and a chain longer than the kernel allows is a loop."""

from __future__ import annotations

from typing import NamedTuple

from ..model import DIR, OPAQUE, SYMLINK, WHITEOUT
from .stack import IMPLIED

MAX_HOPS = 40  # the kernel's limit (MAXSYMLINKS) on the links one lookup follows


class Resolved(NamedTuple):
    path: str  # where the lookup ended, without the leading '/'
    ref: tuple[int, int] | None  # the entry there (layer, index; index IMPLIED for an implied directory)
    hops: int  # links followed
    problem: str | None  # why it stopped short: a missing path, a loop, a link through a non-directory
    clamped: bool = False  # a `..` tried to climb above the root (and stayed there)


def visible_entry(stack, path: str, N: int) -> tuple[int, int] | None:
    """The entry that `path` shows in the merged view at layer N: (layer,
    index), IMPLIED as the index for a directory only its children make, or
    None when nothing is there."""
    if N >= stack.n - 1:
        return stack.top_view.get(path)
    best = None
    for L, i in stack.entries_at(path):
        if L > N:
            break
        t = stack.layers[L].entries.types[i]
        if t != WHITEOUT and t != OPAQUE and stack.hidden_at[L][i] > N:
            best = (L, i)
    if best is None:
        made = stack.implied.get(path)
        if made is not None and made[0] <= N < made[1]:
            return made[0], IMPLIED
    return best


def resolve(stack, path: str, N: int, follow_last: bool = True) -> Resolved:
    """Look `path` up in the merged view at layer N, following links."""
    todo = [p for p in path.strip("/").split("/") if p][::-1]  # components still to walk, next last
    done: list[str] = []
    hops = 0
    clamped = False
    ref = None
    while todo:
        comp = todo.pop()
        if comp == ".":
            continue
        if comp == "..":
            if done:
                done.pop()
            else:
                clamped = True
            ref = None
            continue
        here = "/".join(done + [comp])
        ref = visible_entry(stack, here, N)
        if ref is None:
            return Resolved(here, None, hops, f"/{here} is not in the image at layer {N}", clamped)
        L, i = ref
        e = stack.layers[L].entries
        if i != IMPLIED and e.types[i] == SYMLINK and (todo or follow_last):
            hops += 1
            if hops > MAX_HOPS:
                return Resolved(here, ref, hops, f"more than {MAX_HOPS} links in a row (a loop) at /{here}", clamped)
            target = e.links.get(i) or ""
            if target.startswith("/"):
                done = []
            todo.extend([p for p in target.split("/") if p][::-1])
            continue
        if todo and i != IMPLIED and e.types[i] != DIR:
            return Resolved(here, ref, hops, f"/{here} is not a directory", clamped)
        done.append(comp)
    final = "/".join(done)
    if ref is None and final:
        ref = visible_entry(stack, final, N)
    return Resolved(final, ref, hops, None, clamped)

