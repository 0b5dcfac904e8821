"""`layerscope packages IMAGE`: the packages of the view at a layer (the
top by default), biggest first, with the layer that installed each and its
real bytes; --layers adds what each layer added, upgraded and removed."""

from __future__ import annotations

import sys

from .common import analyse_image, layer_arg, load


def run(args) -> int:
    graph, image = load([args.archive], args.image, args.platform, args.verify, not args.no_cache)
    a = analyse_image(graph, image, args.base)
    N = layer_arg(args.layer, a.stack.n) if a.stack.n else 0
    pa = a.packages()
    rows = pa.rows(N) if a.stack.n else []
    if args.json:
        from ..errors import one_line
        from ..views.jsondoc import dumps
        from ..views.pkgdoc import layer_doc, package_doc

        out = sys.stdout
        for r in rows:
            out.write(dumps(package_doc(r)) + "\n")
        if args.layers:
            for lp in pa.layer_rows(N):
                out.write(dumps(layer_doc(lp)) + "\n")
        for note in pa.notes:  # standard output holds only the contract's lines
            sys.stderr.write("layerscope: note: " + one_line(note) + "\n")
        return 0
    from ..views.packages import render_packages
    from .common import console

    render_packages(console(), a, N, rows, args.layers, args.top)
    return 0
