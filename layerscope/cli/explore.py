"""`layerscope [IMAGE...]` (the `app` command): the explorer; two images
open their comparison."""

from __future__ import annotations

import os

# the bundled demo image, opened when no IMAGE is given
DEMO_IMAGE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "classic-docker.tar")


def run(args) -> int:
    from ..app import run_app

    archives = list(args.archives) or [DEMO_IMAGE]
    return run_app(archives, image=args.image, platform=args.platform, base=args.base)
