"""The explorer's screens: the layer view (layers), the comparison (diff),
the layer graph (graph) and the dialogs.  diff and graph are imported on
first use."""
