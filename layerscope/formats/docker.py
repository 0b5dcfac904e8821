"""docker-archive readers: `manifest.json` at the root of the archive.

Covers Docker <=24 (`<id>/layer.tar`, maybe a symlink to a shared layer),
podman (`<diffid>.tar` at the root, legacy dirs symlinked, several images in
a multi-image archive), kaniko (`<hex>.tar.gz` layers, config named
`sha256:<hex>`), and the `manifest.json` of Docker 25+ (paths into `blobs/`).
"""

from __future__ import annotations

from ..errors import ImageError
from ..model import Image, Layer
from .config import DIGEST_RE, diff_ids_of, history_of, platform_of, plural, run_config
from .container import Container
from .oci import MAX_LAYERS, check_layer_refs


def _digest_from_path(name: str) -> str:
    """`blobs/sha256/<hex>` or `sha256:<hex>` -> 'sha256:<hex>'; else ''
    (also when it does not look like a digest: names are data)."""
    parts = name.split("/")
    d = ""
    if len(parts) >= 3 and parts[-3] == "blobs":
        d = f"{parts[-2]}:{parts[-1]}"
    elif parts[-1].startswith("sha256:"):
        d = parts[-1].split(".")[0]
    return d if DIGEST_RE.match(d) else ""


def read_docker_archive(c: Container, layers: dict[str, Layer], source: str) -> list[Image]:
    manifest = c.read_json("manifest.json", "manifest")
    if not isinstance(manifest, list) or not manifest:
        raise ImageError("manifest.json lists no images", c.label)
    repos_tags: dict[str, list[str]] = {}
    images: list[Image] = []
    configs: dict[str, dict] = {}  # entries may share a config: parsed once
    refs_total = 0
    for n, m in enumerate(manifest):
        if not isinstance(m, dict):
            raise ImageError(f"manifest.json entry {n} is not an object", c.label)
        cfg_name = m.get("Config")
        layer_names = m.get("Layers")
        if not isinstance(cfg_name, str) or not isinstance(layer_names, list) or \
                not all(isinstance(x, str) for x in layer_names):
            raise ImageError(f"manifest.json entry {n} has no Config or Layers", c.label)
        if len(layer_names) > MAX_LAYERS:
            raise ImageError(f"manifest.json entry {n} lists {len(layer_names)} layers (more than {MAX_LAYERS})",
                             c.label)
        refs_total += len(layer_names)
        check_layer_refs(refs_total, c.label)
        cfg = configs.get(cfg_name)
        if cfg is None:
            cfg = c.read_json(cfg_name, "image config")
            if isinstance(cfg, dict):
                configs[cfg_name] = cfg
        if not isinstance(cfg, dict):
            raise ImageError(f"image config {cfg_name!r} is not an object", c.label)
        place = f"{c.label}: {cfg_name}"
        diff_ids = diff_ids_of(cfg, place)
        if diff_ids and len(diff_ids) != len(layer_names):
            raise ImageError(f"manifest lists {plural(len(layer_names), 'layer')} but the config has "
                             f"{plural(len(diff_ids), 'diff_id')}", place)
        img_layers: list[Layer] = []
        for i, lname in enumerate(layer_names):
            ref = c.blob(lname)  # raises when missing or escaping
            diff_id = diff_ids[i] if i < len(diff_ids) else ""
            digest = _digest_from_path(lname)
            if not digest and lname.endswith(".tar") and len(lname.split("/")[-1]) == 68:
                digest = "sha256:" + lname.split("/")[-1][:-4]  # podman: <diffid>.tar
                digest = digest if DIGEST_RE.match(digest) else ""
            key = diff_id or digest or f"{source}:{ref.file}:{ref.offset}"
            layer = layers.get(key)
            if layer is None:
                layer = Layer(key=key, digest=digest, diff_id=diff_id, media_type="",
                              compressed_size=ref.size, blob=ref)
                layers[key] = layer
            img_layers.append(layer)
        history, mapped = history_of(cfg, len(img_layers))
        rt = m.get("RepoTags")
        refs = [t for t in rt if isinstance(t, str)] if isinstance(rt, list) else []
        named = _digest_from_path(cfg_name)
        stem = cfg_name.split("/")[-1].removesuffix(".json")
        if not named and len(stem) == 64 and all(ch in "0123456789abcdef" for ch in stem):
            named = "sha256:" + stem  # docker <=24 names the config by its digest: <hex>.json
        cfg_digest = named or ("sha256:" + cfg_name.split("/")[-1].removesuffix(".json"))
        img = Image(refs=refs, digest=cfg_digest, config_digest=cfg_digest, platform=platform_of(cfg),
                    config=run_config(cfg), raw_config=cfg, layers=img_layers, history=history,
                    history_mapped=mapped, source=source,
                    blobs=[("image config", named, c.blob(cfg_name))] if named else [])
        images.append(img)
    del repos_tags
    return images
