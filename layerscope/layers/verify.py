"""`--verify`: every blob against its digest, every layer against its diff_id.
Reads every byte, so it is opt-in; loading without it never hashes."""

from __future__ import annotations

import hashlib

from ..errors import ImageError
from ..model import BlobRef, Image, Layer, LayerGraph
from . import contents
from .blobs import blob_view, fd_of, require
from .compression import open_stream

# the algorithms the OCI image spec registers; any other is an error, never a skip
ALGORITHMS = {"sha256": 64, "sha512": 128}
_STEP = 8 << 20


def _hasher(digest: str):
    """A new hash object for `digest`'s algorithm, or a message saying why not."""
    alg, _, hexd = digest.partition(":")
    if alg not in ALGORITHMS:
        return None, f"unknown digest algorithm {alg!r}"
    if len(hexd) != ALGORITHMS[alg] or any(ch not in "0123456789abcdef" for ch in hexd):
        return None, f"malformed {alg} digest"
    return hashlib.new(alg), ""


def _stored(ref: BlobRef, h) -> str:
    """Hash a stored blob's bytes, read with pread (a file cut meanwhile is an
    error, never SIGBUS)."""
    import os

    require(ref.file, ref.offset + ref.size, ref.name)
    fd = fd_of(ref.file)
    pos, end = ref.offset, ref.offset + ref.size
    while pos < end:
        b = os.pread(fd, min(_STEP, end - pos), pos)
        if not b:
            raise ImageError("the blob ends early", ref.name)
        h.update(b)
        pos += len(b)
    return h.hexdigest()


def _uncompressed(ref: BlobRef, compression: str, h) -> str:
    if compression in ("", "none"):
        return _stored(ref, h)
    stream = open_stream(blob_view(ref), compression, ref)
    while True:
        c = stream.read(_STEP)
        if not c:
            break
        h.update(c)
    return h.hexdigest()


def _check(what: str, digest: str, compute, claim: str) -> str | None:
    h, why = _hasher(digest)
    if h is None:
        return f"{what}: {why} in {digest[:24]!r}, cannot verify it"
    try:
        got = compute(h)
    except ImageError as e:
        return f"{what}: cannot be read ({e.message})"
    want = digest.partition(":")[2]
    if got != want:
        alg = digest.partition(":")[0]
        return f"{what}: {claim} is {alg}:{got[:12]}…, it is named {digest[:len(alg) + 13]}…"
    return None


def verify_image(graph: LayerGraph, image: Image) -> list[str]:
    """Check every blob read for `image` against the digest that names it:
    indexes on the way, the manifest, the config, each layer's stored blob
    and its uncompressed stream against the config's diff_id.  Returns one
    message per problem; an unknown or malformed algorithm is a problem."""
    problems: list[str] = []
    for what, digest, ref in image.blobs:
        p = _check(f"{what} {ref.name}", digest, lambda h, r=ref: _stored(r, h), "blob digest")
        if p:
            problems.append(p)
    done: set[int] = set()
    for L, layer in enumerate(image.layers):
        if id(layer) in done:
            continue  # listed again: the same bytes, checked once
        done.add(id(layer))
        if layer.blob is None:
            problems.append(f"layer {L}: the blob is missing")
            continue
        if layer.digest and not _is_podman_diff_name(layer):
            p = _check(f"layer {L}", layer.digest, lambda h, b=layer.blob: _stored(b, h), "blob digest")
            if p:
                problems.append(p)
        if layer.diff_id:
            comp = layer.compression or _sniff(layer.blob)
            p = _check(f"layer {L} (diff_id)", layer.diff_id,
                       lambda h, b=layer.blob, c=comp: _uncompressed(b, c, h), "uncompressed digest")
            if p:
                problems.append(p)
    return problems


def _is_podman_diff_name(layer: Layer) -> bool:
    """podman names a layer `<diff_id>.tar`: that digest is the diff_id's,
    checked as such below, not a claim about the stored bytes."""
    return layer.digest == layer.diff_id and layer.blob is not None and layer.blob.name.count("/") == 0


def _sniff(ref: BlobRef) -> str:
    from .blobs import pread_exact
    from .compression import sniff

    kind = sniff(pread_exact(ref.file, ref.offset, min(512, ref.size), ref.name))
    return kind if kind in ("gzip", "zstd") else "none"


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
