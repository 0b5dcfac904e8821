"""Format readers: turn archives into a LayerGraph.

Loading has two phases so that a viewer can show something at once:
`open_graph` reads manifests and configs (milliseconds); `index.index_layers`
walks the layer tars (the slow part, parallel and cached).
"""

from __future__ import annotations

import os
import stat
import sys

from ..errors import ImageError
from ..model import Image, Layer, LayerGraph
from .container import Container, open_container
from .docker import read_docker_archive
from .oci import read_oci_layout

_spooled: list[str] = []


def read_container(c: Container, layers: dict[str, Layer], source: str) -> list[Image]:
    has_index = c.exists("index.json")
    has_manifest = c.exists("manifest.json")
    if has_index and (c.exists("oci-layout") or not has_manifest):
        images = read_oci_layout(c, layers, source)
        if has_manifest:
            _merge_repo_tags(c, images)
        if not images:
            raise ImageError("the OCI index lists no image manifests", c.label)
        return images
    if has_manifest:
        return read_docker_archive(c, layers, source)
    if c.exists("repositories"):
        raise ImageError("a docker archive without manifest.json (Docker < 1.10) is not supported", c.label)
    raise ImageError("not an image archive: no manifest.json or index.json in it", c.label)


def _merge_repo_tags(c: Container, images: list[Image]) -> None:
    """Docker 25+ writes both layouts; manifest.json carries the RepoTags."""
    try:
        manifest = c.read_json("manifest.json", "manifest")
    except ImageError:
        return
    if not isinstance(manifest, list):
        return
    for m in manifest:
        if not isinstance(m, dict):
            continue
        cfg = str(m.get("Config") or "")
        rt = m.get("RepoTags")
        tags = [t for t in rt if isinstance(t, str)] if isinstance(rt, list) else []
        hexd = cfg.split("/")[-1]
        for im in images:
            if im.config_digest.split(":", 1)[-1] == hexd and tags:
                im.refs = tags + [r for r in im.refs if r not in tags]


def _spool_stdin(src=None) -> str:
    """Copy a stream (standard input, or a named pipe such as bash's
    `<(...)`) to a temporary file: the readers need random access."""
    import shutil
    import tempfile

    fd, path = tempfile.mkstemp(prefix="layerscope-stdin-", suffix=".tar")
    _spooled.append(path)
    with os.fdopen(fd, "wb") as out:
        if src is None:
            shutil.copyfileobj(sys.stdin.buffer, out, 4 << 20)
        else:
            with open(src, "rb") as f:
                shutil.copyfileobj(f, out, 4 << 20)
    return path


def _engine_save(engine: str, ref: str) -> str:
    import shutil
    import subprocess
    import tempfile

    exe = shutil.which(engine)
    if exe is None:
        raise ImageError(f"{engine} is not installed, so {engine}://{ref} cannot be loaded")
    fd, path = tempfile.mkstemp(prefix=f"layerscope-{engine}-", suffix=".tar")
    os.close(fd)
    os.unlink(path)
    args = [exe, "save", "-o", path, ref]
    if engine == "podman":
        args[2:2] = ["--format", "docker-archive"]
    r = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        msg = (r.stderr.decode("utf-8", "replace").strip().splitlines() or ["failed"])[-1]
        raise ImageError(f"`{engine} save {ref}` failed: {msg}")
    _spooled.append(path)
    return path


def cleanup_spooled() -> None:
    while _spooled:
        p = _spooled.pop()
        try:
            os.unlink(p)
        except OSError:
            pass


def resolve_source(src: str) -> tuple[str, str]:
    """(file path, label) for a source argument."""
    if src == "-":
        return _spool_stdin(), "<stdin>"
    for engine in ("podman", "docker"):
        prefix = engine + "://"
        if src.startswith(prefix):
            return _engine_save(engine, src[len(prefix):]), src
    try:
        mode = os.stat(src).st_mode
    except OSError:
        return src, src  # the container reports what is wrong
    if stat.S_ISFIFO(mode):
        return _spool_stdin(src), src
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
        raise ImageError("a device, not an image archive", src)
    return src, src


def open_graph(sources: list[str], platform: str | None = None) -> LayerGraph:
    """Read every source's manifests and configs into one graph (layers with
    the same diff_id become one node).  Layers are not indexed yet."""
    layers: dict[str, Layer] = {}
    images: list[Image] = []
    for src in sources:
        path, label = resolve_source(src)
        c = open_container(path, label)
        images.extend(read_container(c, layers, label))
    if platform:
        picked = [im for im in images if im.platform.matches(platform)]
        if not picked:
            have = ", ".join(sorted({str(im.platform) for im in images}))
            raise ImageError(f"no image for platform {platform} (the archive has: {have})")
        images = picked
    used: dict[str, Layer] = {}
    for im in images:
        for layer in im.layers:
            used[layer.key] = layer
            if im not in layer.images:
                layer.images.append(im)
    return LayerGraph(images=images, layers=used, sources=list(sources))
