"""OCI image layout reader (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`),
as a directory or inside a tar (oci-archive, and Docker 25+ `docker save`).

Nested indexes are followed to a bounded depth with cycle detection;
attestation manifests (platform unknown/unknown, or buildkit's
`vnd.docker.reference.type: attestation-manifest`) are not images.
"""

from __future__ import annotations

import re

from ..errors import ImageError
from ..model import Image, Layer
from .config import diff_ids_of, history_of, platform_field, platform_of, plural, run_config
from .container import Container

MAX_DEPTH = 8
MAX_MANIFESTS = 4096
MAX_LAYERS = 4096
# Layers summed over every image of one archive: each reference costs a few
# objects, so manifests x layers must be bounded, not only each factor.
MAX_LAYER_REFS = 1 << 17


def check_layer_refs(total: int, label: str) -> None:
    """Refuse an archive whose images list more layers in all than any real
    one (the same blob may be listed many times: each listing costs memory)."""
    if total > MAX_LAYER_REFS:
        raise ImageError(f"the images list more than {MAX_LAYER_REFS:,} layers in all: refusing to go on", label)

INDEX_TYPES = {"application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json"}
MANIFEST_TYPES = {"application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json"}
_DIGEST = re.compile(r"^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")


def blob_path(digest: str, place: str) -> str:
    m = _DIGEST.match(digest if isinstance(digest, str) else "")
    if not m:
        raise ImageError(f"invalid digest {digest!r}", place)
    return f"blobs/{m.group(1)}/{m.group(2)}"


def _text(v) -> str:
    return v if isinstance(v, str) else ""


def _is_attestation(desc: dict) -> bool:
    ann = desc.get("annotations") or {}
    if isinstance(ann, dict) and ann.get("vnd.docker.reference.type") == "attestation-manifest":
        return True
    p = desc.get("platform") or {}
    return isinstance(p, dict) and p.get("os") == "unknown" and p.get("architecture") == "unknown"


def _ref_names(desc: dict, parents: list[dict]) -> list[str]:
    refs = []
    for d in [desc, *parents]:
        ann = d.get("annotations") or {}
        if not isinstance(ann, dict):
            continue
        full = ann.get("io.containerd.image.name")
        short = ann.get("org.opencontainers.image.ref.name")
        if isinstance(full, str) and full:
            refs.append(full)
        elif isinstance(short, str) and short:
            refs.append(short)
        if refs:
            break
    return refs


def read_oci_layout(c: Container, layers: dict[str, Layer], source: str) -> list[Image]:
    index = c.read_json("index.json", "index")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise ImageError("index.json has no manifests list", c.label)
    images: list[Image] = []
    seen: set[str] = set()
    count = [0]
    # a manifest digest listed again (another tag, or a hostile index that
    # repeats one big manifest) is the same image: parsed once, its names merged
    by_digest: dict[str, Image] = {}
    configs: dict[str, dict] = {}
    refs_total = [0]

    def walk(idx: dict, depth: int, parents: list[dict], where: str, chain: tuple = ()) -> None:
        descs = idx.get("manifests")
        if descs is None:
            descs = []
        if not isinstance(descs, list):
            raise ImageError(f"{where}: the image index has a malformed manifests list", c.label)
        for desc in descs:
            if not isinstance(desc, dict):
                raise ImageError(f"{where}: a manifest descriptor is not an object", c.label)
            count[0] += 1
            if count[0] > MAX_MANIFESTS:
                raise ImageError(f"more than {MAX_MANIFESTS} manifests: refusing to go on", c.label)
            mt = _text(desc.get("mediaType"))  # any JSON value: a list is not a media type
            digest = desc.get("digest", "")
            if _is_attestation(desc):
                continue
            path = blob_path(digest, f"{c.label}: {where}")
            if mt in INDEX_TYPES:
                if depth >= MAX_DEPTH:
                    raise ImageError(f"image indexes nested more than {MAX_DEPTH} deep", c.label)
                if digest in seen:
                    raise ImageError(f"image index {digest} refers to itself (a cycle)", c.label)
                seen.add(digest)
                sub = c.read_json(path, "image index")
                if not isinstance(sub, dict):
                    raise ImageError(f"image index {digest} is not an object", c.label)
                walk(sub, depth + 1, [desc, *parents], digest, (*chain, ("image index", digest, c.blob(path))))
                seen.discard(digest)
                continue
            if mt and mt not in MANIFEST_TYPES:
                continue  # an artifact (signature, SBOM...): not an image
            known = by_digest.get(digest)
            if known is not None:
                known.refs.extend(r for r in _ref_names(desc, parents) if r not in known.refs)
                continue
            man = c.read_json(path, "manifest")
            if not isinstance(man, dict):
                raise ImageError(f"manifest {digest} is not an object", c.label)
            if _text(man.get("mediaType")) in INDEX_TYPES or ("manifests" in man and "layers" not in man):
                if depth >= MAX_DEPTH:
                    raise ImageError(f"image indexes nested more than {MAX_DEPTH} deep", c.label)
                if digest in seen:
                    raise ImageError(f"image index {digest} refers to itself (a cycle)", c.label)
                seen.add(digest)
                walk(man, depth + 1, [desc, *parents], digest, (*chain, ("image index", digest, c.blob(path))))
                seen.discard(digest)
                continue
            ldescs = man.get("layers")
            refs_total[0] += len(ldescs) if isinstance(ldescs, list) else 0
            check_layer_refs(refs_total[0], c.label)
            im = _image(c, man, desc, parents, digest, layers, source, configs)
            im.blobs[:0] = [*chain, ("manifest", digest, c.blob(path))]
            by_digest[digest] = im
            images.append(im)

    walk(index, 0, [], "index.json")
    return images


def _image(c: Container, man: dict, desc: dict, parents: list[dict], digest: str,
           layers: dict[str, Layer], source: str, configs: dict[str, dict] | None = None) -> Image:
    place = f"{c.label}: manifest {digest}"
    cdesc = man.get("config")
    if not isinstance(cdesc, dict):
        raise ImageError("the manifest has no config", place)
    cfg_digest = cdesc.get("digest", "")
    cfg_path = blob_path(cfg_digest, place)
    cfg = configs.get(cfg_path) if configs is not None else None
    if cfg is None:
        cfg = c.read_json(cfg_path, "image config")
        if configs is not None and isinstance(cfg, dict):
            configs[cfg_path] = cfg
    if not isinstance(cfg, dict):
        raise ImageError("the image config is not an object", place)
    ldescs = man.get("layers")
    if not isinstance(ldescs, list):
        raise ImageError("the manifest has no layers list", place)
    if len(ldescs) > MAX_LAYERS:
        raise ImageError(f"the manifest lists {len(ldescs)} layers (more than {MAX_LAYERS})", place)
    diff_ids = diff_ids_of(cfg, place)
    if diff_ids and len(diff_ids) != len(ldescs):
        raise ImageError(f"manifest lists {plural(len(ldescs), 'layer')} but the config has {plural(len(diff_ids), 'diff_id')}",
                         place)
    img_layers = []
    for i, ld in enumerate(ldescs):
        if not isinstance(ld, dict):
            raise ImageError(f"layer descriptor {i} is not an object", place)
        ldig = ld.get("digest", "")
        mt = str(ld.get("mediaType") or "")
        ref = c.blob(blob_path(ldig, place))
        diff_id = diff_ids[i] if i < len(diff_ids) else ""
        key = diff_id or ldig
        layer = layers.get(key)
        if layer is None:
            layer = Layer(key=key, digest=ldig, diff_id=diff_id, media_type=mt,
                          compressed_size=ref.size, blob=ref)
            layers[key] = layer
        img_layers.append(layer)
    history, mapped = history_of(cfg, len(img_layers))
    plat = platform_of(cfg)
    dp = desc.get("platform")
    if isinstance(dp, dict) and not plat.os:
        plat.os = platform_field(dp.get("os"))
        plat.architecture = platform_field(dp.get("architecture"))
        plat.variant = platform_field(dp.get("variant"))
    ann = {}
    for d in (man, desc):
        a = d.get("annotations")
        if isinstance(a, dict):
            ann.update({str(k): str(v) for k, v in a.items()})
    return Image(refs=_ref_names(desc, parents), digest=digest, config_digest=cfg_digest, platform=plat,
                 config=run_config(cfg), raw_config=cfg, layers=img_layers, history=history,
                 history_mapped=mapped, annotations=ann, source=source,
                 blobs=[("image config", cfg_digest, c.blob(cfg_path))])
