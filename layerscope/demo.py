"""The bundled demo image opened by `layerscope` with no argument."""

import os


def demo_path() -> str:
    return os.path.join(os.path.dirname(__file__), "demo", "classic-docker.tar")
