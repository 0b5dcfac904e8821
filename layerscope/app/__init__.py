"""The layerscope explorer (Textual).  The core never imports this package."""

from __future__ import annotations

__all__ = ["LayerscopeApp", "run_app"]


def __getattr__(name: str):
    if name == "LayerscopeApp":
        from .app import LayerscopeApp

        return LayerscopeApp
    raise AttributeError(name)


def run_app(sources: list[str], image: str | None = None, platform: str | None = None,
            base: int | None = None, settings=None) -> int:
    """Open the explorer on `sources` (archives, `-`, docker://REF, podman://REF),
    each optionally ARCHIVE@REF for one image of the archive.  Two sources open
    the comparison of their images (the layer view of each stays one key away);
    one or three and more open the layer view, with `v` to compare and `g` for
    the layer graph.  `settings`: an app.settings.Settings (theme, mouse, first
    sort and view, rebound keys)."""
    from .app import run_app as _run

    return _run(sources, image=image, platform=platform, base=base, settings=settings)
