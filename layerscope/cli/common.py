"""What the commands share: loading an image (open, pick, index, check),
loading both sides of a diff, the --layer argument and the console.

Imported by the dispatcher for UsageError, so everything heavier than `os`
and `sys` is imported inside the function that needs it."""

from __future__ import annotations

import os
import sys

from ..errors import ImageError

# an entry type's letter in the mode column, as `ls -l` writes it
TYPE_CHARS = {"dir": "d", "symlink": "l", "hardlink": "h", "char": "c", "block": "b", "fifo": "p"}


class UsageError(Exception):
    """A bad command line: reported as a usage error, exit status 2."""


def load(archives: list[str], ref: str | None, plat: str | None, verify: bool = False, use_cache: bool = True):
    """Open the archive(s), pick the image and index its layers; a layer that
    could not be read, or a failed --verify, is an ImageError."""
    from ..formats.source import open_graph
    from ..layers.indexing import index_layers

    graph = open_graph(archives, plat)
    image = graph.pick(ref)
    # --verify walks every layer's whole blob: a table of contents is the layer's own claim about itself
    index_layers(graph, layers=image.layers, use_cache=use_cache and not verify, partial=not verify)
    for layer in image.layers:
        if layer.error:
            raise ImageError(layer.error)
    if verify:
        from ..layers.verify import verify_image

        problems = verify_image(graph, image)
        if problems:
            raise ImageError("verification failed: " + "; ".join(problems))
        image.verified = True
    return graph, image


def load_sides(a_spec: str, b_spec: str, platform: str | None = None, use_cache: bool = True):
    """Open both sides of a diff (an archive named on both sides is read
    once) and index their layers.  Returns (a_graph, a_image, b_graph, b_image)."""
    from ..formats.source import open_graph, split_spec
    from ..layers.indexing import index_layers

    a_src, a_ref = split_spec(a_spec)
    b_src, b_ref = split_spec(b_spec)
    graphs = {}
    for src in (a_src, b_src):
        if src not in graphs:
            # a registry index is read for the platforms the sides name, not for all of them
            refs = [r for s, r in ((a_src, a_ref), (b_src, b_ref)) if s == src and r and "/" in r] + \
                ([platform] if platform else [])
            graphs[src] = open_graph([src], platforms={src: refs})
    a_graph, b_graph = graphs[a_src], graphs[b_src]
    a_image = a_graph.pick(a_ref, platform)
    b_image = b_graph.pick(b_ref, platform)
    for graph, image in ((a_graph, a_image), (b_graph, b_image)):
        index_layers(graph, layers=image.layers, use_cache=use_cache)
        for layer in image.layers:
            if layer.error:
                raise ImageError(layer.error)
    return a_graph, a_image, b_graph, b_image


def analyse_image(graph, image, base):
    from ..analysis import analyse

    if base is not None and base < 0:
        raise UsageError("--base must be 0 or more")
    return analyse(graph, image, base)


def layer_arg(n: int | None, count: int) -> int:
    """--layer N as a stack index: the top when not given, negative N counts
    from the top."""
    if n is None:
        return count - 1
    L = n + count if n < 0 else n
    if not 0 <= L < count:
        raise UsageError(f"--layer {n} is out of range: the image has {count} layers (0 to {count - 1})")
    return L


def console():
    """A rich console for the text reports: never markup or emoji from
    names in an archive, and a wide fixed width when piped so that scripts
    get whole lines."""
    import shutil

    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich exits 1 here, which for `diff` means "the images differ": let main() say "closed pipe"
            raise BrokenPipeError

    try:
        width = int(os.environ.get("COLUMNS", "")) or None  # honoured, piped or not
    except ValueError:
        width = None
    if width is None and not sys.stdout.isatty():
        width = max(shutil.get_terminal_size((140, 40)).columns, 140)
    if width is not None:
        width = max(width, 40)
    return _Console(highlight=False, markup=False, emoji=False, soft_wrap=False, width=width)
