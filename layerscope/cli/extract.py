"""`layerscope extract PATH... -o DEST`: copy paths of the merged view out
of an image (the safety rules are layerscope.extract's)."""

from __future__ import annotations

import sys

from ..errors import ImageError, one_line
from .common import analyse_image, layer_arg, load


def run(args) -> int:
    from ..extract import ExtractError, extract_paths

    graph, image = load([args.archive], args.image, args.platform, args.verify, not args.no_cache)
    a = analyse_image(graph, image, args.base)
    L = layer_arg(args.layer, a.stack.n)
    try:
        result = extract_paths(a, L, args.paths, args.output, overwrite=args.force, keep_setuid=args.keep_setuid)
    except ExtractError as e:
        raise ImageError(str(e)) from None
    from ..units import plural

    print(f"extracted {plural(result.files, 'file')}, {plural(result.dirs, 'directory', 'directories')}, "
          f"{plural(result.links, 'link')} "
          f"({result.bytes:,} bytes) into {one_line(args.output)}")
    for w in result.skipped[:50]:
        print(one_line("skipped: " + w), file=sys.stderr)
    return 0
