"""`layerscope diff A B`: exit 0 when the images are identical, 1 when they
differ (what counts is analysis.diff's), 2 on an error.

Each side is ARCHIVE or ARCHIVE@REF.  REF is what `--image` takes (a tag, a
repo name, a digest or a digest prefix); it may also be a platform such as
`linux/arm64`, to pick one image of a multi-platform index.  The split is
made at an '@' whose left part exists as a path (the rightmost such '@'), so
`img.tar@repo@sha256:...` names the image `repo@sha256:...` in `img.tar`.
Both sides may name the same archive: it is then read once.
"""

from __future__ import annotations

import sys

from .common import load_sides


def run(args) -> int:
    from ..analysis.diff import diff_images

    a_graph, a_image, b_graph, b_image = load_sides(args.a, args.b, args.platform, not args.no_cache)
    d = diff_images(a_graph, a_image, b_graph, b_image)
    if args.json:
        from ..views.diff import diff_doc
        from ..views.jsondoc import dumps

        sys.stdout.write(dumps(diff_doc(d)))
        sys.stdout.write("\n")
    else:
        from ..views.diff import render_diff
        from .common import console

        render_diff(console(), d, args.top if args.top is not None else 30)
    return 0 if d.identical else 1
