"""`--verify`: every blob against its digest, every layer against its diff_id.
Reads every byte, so it is opt-in; loading without it never hashes."""

from __future__ import annotations

from . import contents
from ..model import Layer


def verify_layers(layers: list[Layer]) -> list[str]:
    problems = []
    for L, layer in enumerate(layers):
        if layer.blob is None:
            continue
        if layer.digest.startswith("sha256:") and layer.blob.name.count("/") != 1:
            got = contents.digest_blob(layer.blob)
            if got != layer.digest:
                problems.append(f"layer {L}: blob digest is {got[:19]}…, the manifest says {layer.digest[:19]}…")
        if layer.diff_id.startswith("sha256:"):
            got = contents.digest_blob(layer.blob, layer.compression or "none")
            if got != layer.diff_id:
                problems.append(f"layer {L}: uncompressed digest is {got[:19]}…, the config's diff_id is "
                                f"{layer.diff_id[:19]}…")
    return problems
