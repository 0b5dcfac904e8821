"""Read an image config JSON into the parts of the model it fills: platform,
run config, diff_ids and the history mapped onto layers."""

from __future__ import annotations

import re

from ..errors import ImageError, one_line
from ..model import HistoryStep, Platform

# algorithm:encoded, as the OCI image spec defines a digest
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


def plural(n: int, word: str) -> str:
    """`1 layer`, `3 layers`: error messages are read by people."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _obj(v) -> dict:
    return v if isinstance(v, dict) else {}


def platform_field(v) -> str:
    """An os/architecture/variant value: text from the archive, so control
    characters are escaped here, once, for every view."""
    return one_line(str(v or ""), 100)


def platform_of(cfg: dict) -> Platform:
    return Platform(platform_field(cfg.get("os")), platform_field(cfg.get("architecture")),
                    platform_field(cfg.get("variant")))


def diff_ids_of(cfg: dict, place: str) -> list[str]:
    rootfs = _obj(cfg.get("rootfs"))
    ids = rootfs.get("diff_ids", [])
    if not isinstance(ids, list) or not all(isinstance(x, str) and DIGEST_RE.match(x) for x in ids):
        raise ImageError("the image config has a malformed rootfs.diff_ids", place)
    return ids


def history_of(cfg: dict, layer_count: int) -> tuple[list[HistoryStep], bool]:
    """History steps with each non-empty step mapped to its layer.  When the
    number of non-empty steps and the number of layers disagree the mapping
    is unknown: steps are kept for display but none claims a layer."""
    raw = cfg.get("history")
    steps: list[HistoryStep] = []
    if isinstance(raw, list):
        for h in raw:
            h = _obj(h)
            steps.append(HistoryStep(
                created_by=str(h.get("created_by") or ""),
                created=str(h.get("created") or ""),
                comment=str(h.get("comment") or ""),
                empty_layer=bool(h.get("empty_layer")),
            ))
    non_empty = [s for s in steps if not s.empty_layer]
    mapped = len(non_empty) == layer_count and layer_count > 0
    if mapped:
        for i, s in enumerate(non_empty):
            s.layer_index = i
    return steps, mapped


def run_config(cfg: dict) -> dict:
    return _obj(cfg.get("config"))
