"""Format readers: the images of one opened container (a docker-save or
OCI archive, or an image layout directory).  `source.open_graph` turns
source arguments into a LayerGraph with them."""

from __future__ import annotations

from ..errors import ImageError
from ..model import Image, Layer
from .container import Container
from .docker import read_docker_archive
from .oci import read_oci_layout


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
