"""Read an image config JSON into the parts of the model it fills: platform,
run config, diff_ids and the history mapped onto layers."""

from __future__ import annotations

from ..errors import ImageError
from ..model import HistoryStep, Platform


def _obj(v) -> dict:
    return v if isinstance(v, dict) else {}


def platform_of(cfg: dict) -> Platform:
    return Platform(str(cfg.get("os") or ""), str(cfg.get("architecture") or ""), str(cfg.get("variant") or ""))


def diff_ids_of(cfg: dict, place: str) -> list[str]:
    rootfs = _obj(cfg.get("rootfs"))
    ids = rootfs.get("diff_ids", [])
    if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
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
