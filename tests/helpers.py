"""Helpers shared by test files in more than one folder (the fixtures and
the repository paths are in conftest.py)."""

from layerscope.formats.source import open_graph
from layerscope.layers.indexing import index_layers


def loaded(path, platform=None):
    g = open_graph([str(path)], platform)
    index_layers(g, use_cache=False)
    return g
