"""What the workers report, as messages posted to the app (loading) or to the
layer view (its own workers): thread-safe, handled in order on the event loop."""

from __future__ import annotations

from textual.message import Message


class _Report(Message, bubble=False):
    pass


class LoadFailed(_Report):
    """Opening, indexing or analysing failed: nothing more will load."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class LayersIndexed(_Report):
    """`done` of `total` layers are indexed; `layer` is the one just done."""

    def __init__(self, done: int, total: int, layer) -> None:
        super().__init__()
        self.done, self.total, self.layer = done, total, layer


class Fetching(_Report):
    """Layer blobs are coming from a registry: `text` says which, how far along and how fast."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class AllIndexed(_Report):
    """Every layer of the graph is indexed."""


class Analysed(_Report):
    def __init__(self, image, analysis) -> None:
        super().__init__()
        self.image, self.analysis = image, analysis


class StackIndexed(_Report):
    """The index that makes merged views of `analysis` lazy is built."""

    def __init__(self, analysis, index) -> None:
        super().__init__()
        self.analysis, self.index = analysis, index


class PathsSearchable(_Report):
    """The jump search over every path of `image` is built."""

    def __init__(self, image, search) -> None:
        super().__init__()
        self.image, self.search = image, search


class Compared(_Report):
    """The comparison of images a and b: `diff` and its tree, or `error`."""

    def __init__(self, a, b, diff=None, tree=None, error: str | None = None) -> None:
        super().__init__()
        self.a, self.b, self.diff, self.tree, self.error = a, b, diff, tree, error


class ExtractInTheWay(_Report):
    """Extraction stopped before writing: something is in the way at `dest`."""

    def __init__(self, analysis, layer: int, path: str, dest: str, keep_setuid: bool, text: str) -> None:
        super().__init__()
        self.analysis, self.layer, self.path, self.dest = analysis, layer, path, dest
        self.keep_setuid, self.text = keep_setuid, text


class Notice(_Report):
    """A worker's outcome to tell the user (notify's arguments)."""

    def __init__(self, text: str, **kw) -> None:
        super().__init__()
        self.text, self.kw = text, kw


# -- what the layer view's own workers report to it ----------------------------
class WasteRanked(_Report):
    """The wasted paths of `analysis` are ranked (or ranking failed: `error`)."""

    def __init__(self, analysis, error: str | None = None) -> None:
        super().__init__()
        self.analysis, self.error = analysis, error


class FindingsMade(_Report):
    """The findings of `analysis` are computed (or that failed: `error`)."""

    def __init__(self, analysis, error: str | None = None) -> None:
        super().__init__()
        self.analysis, self.error = analysis, error


class PathDetailed(_Report):
    """The details of `node` of `tree`, from `worker` (stale once it is cancelled)."""

    def __init__(self, tree, node: int, text, worker) -> None:
        super().__init__()
        self.tree, self.node, self.text, self.worker = tree, node, text, worker


class PreviewRendered(_Report):
    """The preview's lines, from `worker` (stale once it is cancelled)."""

    def __init__(self, lines: list, worker, part=None, at_end: bool = False) -> None:
        super().__init__()
        self.lines, self.worker = lines, worker
        self.part = part  # preview.Part: where in the file the lines are
        self.at_end = at_end  # show its end (the part before the one shown was asked for)


class TreeBuilt(_Report):
    """The rows of the tree asked for as `token` (`rows` None: the build failed, `error`)."""

    def __init__(self, token: int, rows=None, changes=None, cursor: int = 0, matches=None,
                 opaque=frozenset(), error: str | None = None) -> None:
        super().__init__()
        self.token, self.rows, self.changes, self.cursor = token, rows, changes, cursor
        self.matches, self.opaque, self.error = matches, opaque, error
