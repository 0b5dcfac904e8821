"""Write the bundled sample images (deterministic: re-running gives the same bytes).

    python sample-images/make_samples.py

  classic-docker.tar      classic_image() as `docker save` (Docker <= 24) writes it
  classic-oci.tar         classic_image("gzip") as an OCI image layout tar
  shared-base-podman.tar  classic_pair() as `podman save --multi-image-archive`

classic-docker.tar is written to layerscope/data/ (package data: the demo
opened when `layerscope` runs without an argument) and linked from here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from layerscope.testing.synth import classic_image, classic_pair, write_archive  # noqa: E402

LIMIT = 1 << 20


def main() -> int:
    written = []
    out = ROOT / "layerscope" / "data" / "classic-docker.tar"
    write_archive(out, [classic_image()], "docker-legacy")
    written.append(out)
    link = HERE / "classic-docker.tar"
    if not link.is_symlink():
        link.unlink(missing_ok=True)
        link.symlink_to(os.path.relpath(out, HERE))

    out = HERE / "classic-oci.tar"
    write_archive(out, [classic_image("gzip")], "oci")
    written.append(out)

    out = HERE / "shared-base-podman.tar"
    write_archive(out, classic_pair(), "podman")
    written.append(out)

    for p in written:
        size = p.stat().st_size
        print(f"{p.relative_to(ROOT)}  {size:,} bytes")
        if size >= LIMIT:
            print(f"error: {p.name} is not under 1 MiB", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
