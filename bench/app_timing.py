#!/usr/bin/env python3
"""Time the explorer app headless with Textual's Pilot.

    python bench/app_timing.py [ARCHIVE ...] [--runs 3] [--keys] [--timeout 120]

For each archive (default: every archive in bench/images/), in a fresh Python process per run:

  first screen   process start -> the layer list on screen with its rows
                 (LayerList widget mounted and row_count() > 0);
  layers indexed process start -> every layer's tar index built (app.indexed_all);
  indexed        process start -> the analysis complete (app.analysis set; else the
                 progress row has the class "done"): every view, the waste included, ready;
  second open    the same, again, with the cache that the first run filled.

Key latencies are measured through Pilot: press() waits for the app to go idle (Textual's
wait_for_idle polls CPU time, so it has a floor of tens of ms); "baseline_unbound_key" is that
floor, measured with a key nothing is bound to -- subtract it to estimate the app's own cost.

Each run gets its own empty LAYERSCOPE_CACHE for the first open; the second open reuses it.
With --keys (after indexing): latency of single key presses in the layer list and the file
tree (press -> app idle and screen refreshed), and of expanding the biggest directory that
the tree shows under usr/share/wide (the 50,000-entry directory of the big image) when present.

Times are from process start (interpreter, imports and all), as a user sees them; the
"app" figures are from App.run_test() entry.  Writes bench/out/app_timing.json.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
POLL = 0.002
SIZE = (160, 48)


# ---------------------------------------------------------------------------
# child: one run inside the app


def _make_app(archive: str):
    from layerscope.app import LayerscopeApp  # noqa: the app under test

    sig = inspect.signature(LayerscopeApp)
    params = list(sig.parameters.values())
    names = [p.name for p in params]
    for key in ("archives", "paths", "images", "sources"):
        if key in names:
            return LayerscopeApp(**{key: [archive]})
    for key in ("archive", "path", "image", "source"):
        if key in names:
            return LayerscopeApp(**{key: archive})
    if params and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        ann = str(params[0].annotation)
        return LayerscopeApp([archive] if ("list" in ann or "Sequence" in ann) else archive)
    if params and params[0].kind == params[0].VAR_POSITIONAL:
        return LayerscopeApp(archive)
    raise RuntimeError(f"do not know how to give an archive to LayerscopeApp{sig}")


def _find(app, cls_name: str):
    for w in app.screen.walk_children() if app.screen is not None else ():
        if type(w).__name__ == cls_name:
            return w
    return None


def _layer_list_ready(app) -> bool:
    w = _find(app, "LayerList")
    try:
        return w is not None and w.row_count() > 0 and w.region.height > 0
    except Exception:
        return False


def _layers_indexed(app) -> bool:
    """Every layer's tar index is built (the app's own flag)."""
    return getattr(app, "indexed_all", False) is True


def _analysed(app) -> str | None:
    """Why the app counts as fully analysed (the progress row hidden, the analysis there), or None."""
    if getattr(app, "fatal", None):
        return "fatal: " + str(app.fatal)
    if getattr(app, "analysis", None) is not None:
        return "app.analysis"
    for attr in ("analysed", "analysis_done", "ready", "fully_indexed"):
        v = getattr(app, attr, None)
        if v is True:
            return f"app.{attr}"
        if hasattr(v, "is_set") and v.is_set():
            return f"app.{attr} (event)"
    try:
        rows = app.screen.query("#progress-row")
        if rows and rows.first().has_class("done"):
            return "#progress-row.done"
    except Exception:
        pass
    return None


async def _press_timed(pilot, key: str) -> float:
    t = time.perf_counter()
    await pilot.press(key)
    await pilot.pause()  # let the refresh happen
    return time.perf_counter() - t


async def _expand_path(pilot, tree, names: list[str]) -> float | None:
    """Move the tree cursor onto each directory of `names` in turn and open it; the time
    of opening the last one."""
    last = None
    for name in names:
        m = tree.model
        if m is None:
            return None
        row = None
        for i, node in enumerate(m.rows):
            try:
                if m.tree.name(node) == name:
                    row = i
                    break
            except Exception:
                return None
        if row is None:
            return None
        tree.cursor = row
        await pilot.pause()
        if m.is_expanded(m.rows[row]):
            continue
        last = await _press_timed(pilot, "enter")
    return last


async def _tree_has(pilot, tree, name: str, timeout: float = 15.0) -> bool:
    """Wait until the tree's top level shows `name` (the tree is rebuilt after a layer change)."""
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        m = tree.model
        if m is not None and any(m.depth[i] == 0 and m.tree.name(n) == name for i, n in enumerate(m.rows)):
            return True
        await pilot.pause(0.02)
    return False


async def _keys(app, pilot, lat: dict) -> None:
    """Key press latencies: press -> the app idle again and the screen refreshed."""
    ll = _find(app, "LayerList")
    tree = _find(app, "FileTreeView")
    if ll is not None:
        ll.focus()
        await pilot.pause()
        # the harness's own cost: a key that nothing is bound to
        lat["baseline_unbound_key"] = [await _press_timed(pilot, "f12") for _ in range(5)]
        lat["layers_down"] = [await _press_timed(pilot, "down") for _ in range(5)]
        lat["layers_up"] = [await _press_timed(pilot, "up") for _ in range(5)]
        row = ll.row_of_layer(0) if hasattr(ll, "row_of_layer") else None
        if row is not None:  # the bottom layer: its changes hold the 50,000-entry directory
            ll.cursor = row
            await pilot.pause()
    if tree is None:
        return
    await _tree_has(pilot, tree, "usr")
    tree.focus()
    await pilot.pause()
    lat["tree_down"] = [await _press_timed(pilot, "down") for _ in range(10)]
    lat["tree_pagedown"] = [await _press_timed(pilot, "pagedown") for _ in range(3)]
    lat["tree_end"] = [await _press_timed(pilot, "end")]
    lat["tree_home"] = [await _press_timed(pilot, "home")]
    t = await _expand_path(pilot, tree, ["usr", "share", "wide"])
    if t is not None:
        m = tree.model
        try:
            lat["expand_dir_entries"] = [float(len(m.kids(m.rows[tree.cursor])))]
        except Exception:
            pass
        lat["expand_usr_share_wide"] = [t]
        lat["in_wide_down"] = [await _press_timed(pilot, "down") for _ in range(5)]
        lat["in_wide_pagedown"] = [await _press_timed(pilot, "pagedown") for _ in range(3)]
        lat["in_wide_end"] = [await _press_timed(pilot, "end")]
        lat["in_wide_home"] = [await _press_timed(pilot, "home")]
    lat["toggle_merged_view"] = [await _press_timed(pilot, "m")]
    lat["toggle_changes_view"] = [await _press_timed(pilot, "m")]


async def _child(archive: str, timeout: float, keys: bool, t_proc: float) -> dict:
    t_start = time.perf_counter()
    app = _make_app(archive)  # imports the app (Textual and all)
    t_app = time.perf_counter()
    res: dict = {"python_start_s": t_start - t_proc, "app_import_s": t_app - t_start}
    try:
        async with app.run_test(size=SIZE) as pilot:
            first = layers_done = indexed = None
            how = None
            deadline = t_app + timeout
            while time.perf_counter() < deadline:
                now = time.perf_counter()
                if first is None and _layer_list_ready(app):
                    first = now
                if layers_done is None and _layers_indexed(app):
                    layers_done = now
                if first is not None and indexed is None:
                    how = _analysed(app)
                    if how:
                        indexed = now
                        break
                await asyncio.sleep(POLL)
            res["first_screen_s"] = None if first is None else first - t_proc
            res["first_screen_app_s"] = None if first is None else first - t_app
            res["layers_indexed_s"] = None if layers_done is None else layers_done - t_proc
            res["indexed_s"] = None if indexed is None else indexed - t_proc
            res["indexed_app_s"] = None if indexed is None else indexed - t_app
            res["indexed_signal"] = how
            if how and how.startswith("fatal"):
                res["error"] = how
            if indexed is None:
                res["note"] = "timed out waiting" + (" for the layer list" if first is None else " for indexing")
            if keys and indexed is not None:
                res["key_latency_s"] = lat = {}
                try:
                    await _keys(app, pilot, lat)
                except Exception as e:  # the app's API moved on: report what was measured
                    res["keys_error"] = f"{type(e).__name__}: {e}"
    except Exception as e:  # raised at teardown (or by the app): keep what was measured
        if "first_screen_s" not in res:
            raise
        res["teardown_error"] = f"{type(e).__name__}: {e}"
    return res


def child_main(argv: list[str]) -> int:
    t_proc = float(os.environ.get("LSBENCH_T0", time.perf_counter()))
    ap = argparse.ArgumentParser()
    ap.add_argument("archive")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--keys", action="store_true")
    a = ap.parse_args(argv)
    try:
        res = asyncio.run(_child(a.archive, a.timeout, a.keys, t_proc))
    except Exception as e:
        import traceback
        res = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
    sys.stdout.write("\nLSBENCH-RESULT " + json.dumps(res) + "\n")
    return 0


# ---------------------------------------------------------------------------
# parent


def run_child(archive: Path, cache: Path, timeout: float, keys: bool) -> dict:
    env = dict(os.environ, LAYERSCOPE_CACHE=str(cache), TERM="xterm-256color")
    # CLOCK_MONOTONIC is system-wide on Linux, so the child can subtract our start time
    env["LSBENCH_T0"] = repr(time.perf_counter())
    p = subprocess.run([sys.executable, __file__, "--child", str(archive), "--timeout", str(timeout)]
                       + (["--keys"] if keys else []),
                       capture_output=True, text=True, env=env, timeout=timeout + 60)
    for line in p.stdout.splitlines():
        if line.startswith("LSBENCH-RESULT "):
            return json.loads(line[len("LSBENCH-RESULT "):])
    return {"error": f"no result (rc={p.returncode})", "stderr": p.stderr[-2000:]}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("archives", nargs="*")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--keys", action="store_true", help="also time key presses (once per archive)")
    ap.add_argument("--out", default=str(OUT / "app_timing.json"))
    args = ap.parse_args()

    sys.path.insert(0, str(HERE.parent))
    try:
        from layerscope.app import LayerscopeApp  # noqa: F401
    except Exception as e:
        print(f"the app is not importable yet: layerscope.app.LayerscopeApp ({type(e).__name__}: {e})",
              file=sys.stderr)
        return 2

    paths = [Path(a) for a in args.archives] or sorted(
        p for p in (HERE / "images").glob("*.tar") if p.name != "rootfs.tar")
    results = []
    for path in paths:
        print(f"== {path.name}", file=sys.stderr, flush=True)
        firsts, seconds = [], []
        keys_res = None
        for i in range(args.runs):
            cache = Path(tempfile.mkdtemp(prefix="lsbench-app-"))
            try:
                r1 = run_child(path, cache, args.timeout, keys=False)
                r2 = run_child(path, cache, args.timeout, keys=args.keys and i == 0)
            finally:
                shutil.rmtree(cache, ignore_errors=True)
            for tag, r in (("first open", r1), ("second open", r2)):
                if "teardown_error" in r:
                    print(f"  {tag}: (app raised at teardown: {r['teardown_error']})", file=sys.stderr)
                if "error" in r:
                    print(f"  {tag}: ERROR {r['error']}\n{r.get('traceback') or r.get('stderr', '')}",
                          file=sys.stderr)
                else:
                    print(f"  run {i + 1} {tag}: first screen {r['first_screen_s']}, indexed {r['indexed_s']} "
                          f"({r.get('indexed_signal')})", file=sys.stderr)
            firsts.append(r1)
            seconds.append(r2)
            if r2.get("key_latency_s"):
                keys_res = r2["key_latency_s"]
        ok1 = [r for r in firsts if "error" not in r]
        ok2 = [r for r in seconds if "error" not in r]
        summary = {
            "archive": path.name,
            "ok_runs": [len(ok1), len(ok2)],
            "first_screen_s": med([r.get("first_screen_s") for r in ok1]),
            "first_screen_app_s": med([r.get("first_screen_app_s") for r in ok1]),
            "indexed_s": med([r.get("indexed_s") for r in ok1]),
            "second_open_first_screen_s": med([r.get("first_screen_s") for r in ok2]),
            "second_open_indexed_s": med([r.get("indexed_s") for r in ok2]),
            "second_open_indexed_app_s": med([r.get("indexed_app_s") for r in ok2]),
            "layers_indexed_s": med([r.get("layers_indexed_s") for r in ok1]),
            "app_import_s": med([r.get("app_import_s") for r in ok1]),
            "key_latency_max_s": ({k: max(v) for k, v in keys_res.items() if v and k != "expand_dir_entries"}
                                  if keys_res else None),
            "runs": {"first": firsts, "second": seconds},
        }
        results.append(summary)
        OUT.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")

    def f(x):
        return "-" if x is None else f"{x:.3f}"

    print(f"{'archive':<20} {'screen s':>9} {'indexed s':>10} {'2nd screen':>11} {'2nd indexed':>12} {'import s':>9}  (seconds from process start)")
    for s in results:
        print(f"{s['archive']:<20} {f(s['first_screen_s']):>9} {f(s['indexed_s']):>10} "
              f"{f(s['second_open_first_screen_s']):>11} {f(s['second_open_indexed_s']):>12} {f(s['app_import_s']):>9}")
        if s["key_latency_max_s"]:
            print("   worst key latency: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in s["key_latency_max_s"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
