"""`layerscope report`: one row per build step, totals, findings and the biggest
wasted paths; with several images, how they share layers."""

from __future__ import annotations

import sys

from .common import analyse_image, load


def run(args) -> int:
    from ..views.jsondoc import dumps, report_doc

    graph, image = load(args.archives, args.image, args.platform, args.verify, not args.no_cache)
    a = analyse_image(graph, image, args.base)
    squashes = squash_ranges(args.squash, a.stack.n)
    if args.dockerfile:
        return _dockerfile(args, a)
    several = len(graph.images) > 1 or len(args.archives) > 1
    if args.json:
        doc = report_doc(graph, a, args.top if args.top is not None else 100, squashes)
        from ..views.pkgdoc import summary_doc

        doc["packages"] = summary_doc(a, args.top if args.top is not None else 10)
        if several:
            from ..layers.indexing import index_layers
            from ..views.sharing import sharing_doc

            index_layers(graph, use_cache=not args.no_cache)  # sharing counts every image's layer sizes
            doc["sharing"] = sharing_doc(graph)
        sys.stdout.write(dumps(doc))
        sys.stdout.write("\n")
    else:
        from ..views.text import render_report
        from .common import console

        con = console()
        render_report(con, graph, a, args.top if args.top is not None else 10, squashes)
        from ..views.packages import render_summary

        render_summary(con, a)
        if several:
            from ..layers.indexing import index_layers
            from ..views.sharing import render_sharing

            index_layers(graph, use_cache=not args.no_cache)
            con.print()
            render_sharing(con, graph)
    return 0


def squash_ranges(specs: list[str] | None, n: int) -> list[tuple[int, int]] | None:
    """`--squash I..J` values as (I, J) layer ranges; a bad one is an error."""
    from ..errors import ImageError

    if not specs:
        return None
    out = []
    for spec in specs:
        i, sep, j = spec.partition("..")
        try:
            lo, hi = int(i), int(j)
        except ValueError:
            raise ImageError(f"--squash {spec!r}: not I..J (two layer indexes)") from None
        if not sep or not 0 <= lo <= hi < n:
            raise ImageError(f"--squash {spec!r}: not I..J with 0 <= I <= J < {n} (the image's layers)")
        out.append((lo, hi))
    return out


def _dockerfile(args, a) -> int:
    from ..views.dockerfile import dockerfile_doc, render_dockerfile

    if args.json:
        from ..views.jsondoc import dumps

        sys.stdout.write(dumps(dockerfile_doc(a)))
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_dockerfile(a))
    return 0
