"""`layerscope check`: dive's CI rules (efficiency, wasted bytes) and limits on findings; exit 1
when any fails."""

from __future__ import annotations

import json
import sys

from .common import analyse_image, load


def run(args) -> int:
    from ..dive_ci import evaluate, load_rules

    rules = load_rules(args)  # before loading: a bad rule is reported without reading the image
    graph, image = load([args.archive], args.image, args.platform, args.verify, not args.no_cache)
    a = analyse_image(graph, image, args.base)
    results = evaluate(rules, a)
    failed = any(r["status"] == "FAIL" for r in results)
    if args.json:
        json.dump({"image": image.name, "results": results, "passed": not failed}, sys.stdout)
        sys.stdout.write("\n")
    else:
        for r in results:
            print(f"  {r['status']:<5} {r['rule']}: {r['message']}")
        print(f"Result: {'FAIL' if failed else 'PASS'} "
              f"[Total: {len(results)}] "
              f"[Passed: {sum(r['status'] == 'PASS' for r in results)}] "
              f"[Failed: {sum(r['status'] == 'FAIL' for r in results)}] "
              f"[Skipped: {sum(r['status'] == 'SKIP' for r in results)}]")
    return 1 if failed else 0
