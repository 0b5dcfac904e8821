"""`layerscope [IMAGE...]` (the `app` command): the explorer; two images
open their comparison."""

from __future__ import annotations

import os

# the bundled demo image, opened when no IMAGE is given
DEMO_IMAGE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "classic-docker.tar")


def run(args) -> int:
    from ..app import run_app
    from ..errors import ImageError
    from ..formats.source import is_registry, split_spec

    archives = list(args.archives) or [DEMO_IMAGE]
    for spec in archives:  # say it here, on one line, not inside a full-screen app
        path = split_spec(spec)[0]
        if spec != "-" and "://" not in path and not os.path.exists(path) and not is_registry(path):
            raise ImageError("no such file", path)
    from ..app.keys import key_ids
    from ..app.settings import load

    settings = load(args.config, key_ids())
    if args.theme:
        settings.theme = args.theme
    if args.no_mouse:
        settings.mouse = False
    return run_app(archives, image=args.image, platform=args.platform, base=args.base, settings=settings)
