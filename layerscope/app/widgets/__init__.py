"""The explorer's widgets, one module each; most draw on the Line API
(cursorlist.CursorList) so that a list of a million rows costs what ten do."""

from .cursorlist import CursorList
from .filetree import FileTreeView
from .findinglist import FindingList
from .keybar import KeyBar
from .layerlist import LayerList
from .packagelist import PackageList
from .pane import Pane
from .previewview import PreviewView
from .wastelist import WasteList

__all__ = ["CursorList", "FileTreeView", "FindingList", "KeyBar", "LayerList", "PackageList", "Pane", "PreviewView", "WasteList"]
