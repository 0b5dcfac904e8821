"""Where a source argument becomes a LayerGraph: a path to an archive or
an image layout directory, `-` (standard input), a named pipe,
`podman://REF` / `docker://REF` (saved by the engine), or an image in a
registry: `registry://REF`, or REF itself when no such path exists and it
reads as a reference with a host, namespace, tag or digest (formats/reference.py).
Loading has two phases so that a viewer can show something at once:
`open_graph` reads manifests and configs; `layers.indexing.index_layers`
walks the layer tars (fetching a registry's layers first)."""

from __future__ import annotations

import os
import stat
import sys

from ..errors import ImageError
from ..model import Image, Layer, LayerGraph
from . import read_container
from .container import open_container

_spooled: list[str] = []


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
    r = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True)
    if r.returncode != 0:
        msg = (r.stderr.decode("utf-8", "replace").strip().splitlines() or ["failed"])[-1]
        raise ImageError(f"`{engine} save {ref}` failed: {msg}")
    _spooled.append(path)
    return path


def cleanup_spooled() -> None:
    blobstore = sys.modules.get(f"{__package__.rsplit('.', 1)[0]}.layers.blobstore")  # only when a registry was read
    if blobstore is not None:
        blobstore.cleanup()
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


def is_registry(src: str) -> bool:
    """Whether a source argument names an image in a registry: `registry://REF`,
    or a reference (with a host, namespace, tag or digest) that is no path."""
    from .reference import explicit, implied

    if explicit(src):
        return True
    if src == "-" or "://" in src or os.path.lexists(src):
        return False
    return implied(src) is not None


def open_graph(sources: list[str], platform: str | None = None,
               platforms: dict[str, list[str]] | None = None) -> LayerGraph:
    """Read every source's manifests and configs into one graph (layers with
    the same diff_id become one node).  Layers are not indexed yet.
    `platforms` names, per registry source, the platforms to read of an
    index (SOURCE@OS/ARCH sides); else `platform`, else the host's."""
    layers: dict[str, Layer] = {}
    images: list[Image] = []
    for src in sources:
        if is_registry(src):
            from .registry import read_registry

            want = [p for p in [platform, *(platforms or {}).get(src, [])] if p]
            images.extend(read_registry(src, layers, want))
            continue
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


def split_spec(spec: str) -> tuple[str, str | None]:
    """'ARCHIVE' or 'ARCHIVE@REF' -> (archive, ref or None).  A registry
    reference keeps its own '@DIGEST'; `REF@OS/ARCH` picks a platform of it."""
    if spec == "-" or os.path.exists(spec):
        return spec, None
    from .reference import explicit, implied

    at = spec.rfind("@")
    if at > 0 and not os.path.exists(spec[:at]) and (explicit(spec) or implied(spec[:at])) \
            and ":" not in spec[at + 1:] and "/" in spec[at + 1:]:
        return spec[:at], spec[at + 1:] or None  # host/repo:tag@linux/arm64
    if "://" in spec.split("@", 1)[0] or is_registry(spec):
        return spec, None
    at = len(spec)
    while True:
        at = spec.rfind("@", 0, at)
        if at <= 0:
            return spec, None
        if os.path.exists(spec[:at]):
            ref = spec[at + 1:]
            return spec[:at], (ref or None)
