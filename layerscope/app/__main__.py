"""`python -m layerscope.app IMAGE.tar [...]`: the explorer without the CLI."""

from __future__ import annotations

import argparse
import sys

from . import run_app


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m layerscope.app", description="Explore a container image.")
    ap.add_argument("sources", nargs="+", help="image archive(s), '-', docker://REF or podman://REF")
    ap.add_argument("--image", help="which image of the archive (tag or digest)")
    ap.add_argument("--platform", help="os/arch[/variant] of a multi-platform archive")
    ap.add_argument("--base", type=int, help="how many bottom layers are the base image")
    args = ap.parse_args(argv)
    from ..errors import ImageError, Terminated

    try:
        return run_app(args.sources, image=args.image, platform=args.platform, base=args.base)
    except ImageError as e:
        print(f"layerscope: error: {e.line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Terminated as e:
        return 128 + e.signum


if __name__ == "__main__":
    sys.exit(main())
