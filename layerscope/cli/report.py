"""`layerscope report`: one row per build step, totals, findings and the biggest
wasted paths; with several images, how they share layers."""

from __future__ import annotations

import os
import sys

from .common import analyse_image, load


def run(args) -> int:
    from ..views.jsondoc import dumps, report_doc

    key = _document_key(args)
    if key:
        from ..layers import cache

        text = cache.load_document(key)
        if text is not None:
            sys.stdout.write(text)
            return 0
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
        text = dumps(doc) + "\n"
        # a blob that could not be read whole this time is no answer to keep
        if key and a._cacheable and not a.kinds.hash_errors:
            from ..layers import cache

            cache.store_document(key, text)
        sys.stdout.write(text)
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


def _document_key(args) -> str | None:
    """The cache key of this `report --json` document, or None when it is not
    to be cached: only local archive files (their state identifies their bytes),
    no --verify (which must read every blob), no --dockerfile."""
    if not args.json or args.dockerfile or args.verify or args.no_cache:
        return None
    from ..formats.source import is_registry
    from ..layers import cache

    inputs = [repr(sorted(vars(args).items()))]  # the archives as named too: the document quotes them
    for src in args.archives:
        state = None if src == "-" or is_registry(src) else cache.archive_state(src)
        if state is None:
            return None
        inputs.append(state)
    inputs.append(os.uname().machine)  # the host's platform picks among an archive's images
    return cache.document_key("report --json", inputs)


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
