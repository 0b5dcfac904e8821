"""Helpers for tests and benchmarks (not used at run time): a writer of
synthetic image archives in every format layerscope reads."""
