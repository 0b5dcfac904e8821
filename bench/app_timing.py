#!/usr/bin/env python3
"""Time the explorer app headless: opening, and what a user waits for after a key.

    python bench/app_timing.py [ARCHIVE ...] [--runs 3] [--keys] [--timeout 120]
    python bench/app_timing.py --keys-only [--why] [ARCHIVE ...]

For each archive (default: every archive in bench/images/), in a fresh Python process per run:

  first screen   process start -> the layer list on screen with its rows
                 (LayerList widget mounted and row_count() > 0);
  layers indexed process start -> every layer's tar index built (app.indexed_all);
  indexed        process start -> the analysis complete (app.analysis set; else the
                 progress row has the class "done"): every view, the waste included, ready;
  second open    the same, again, with the cache that the first run filled.

Each run gets its own empty LAYERSCOPE_CACHE for the first open; the second open reuses it.
Times are from process start (interpreter, imports and all), as a user sees them; the
"app" figures are from App.run_test() entry.  Writes bench/out/app_timing.json.

Key latency (--keys: in the second open's process; --keys-only: one process per archive,
first open, keys after the analysis).  Not Pilot's press() + pause(): those wait for
Textual's idle detection, whose floor (67-145 ms here, even for a key nothing is bound to)
hid what the app itself costs.  Instead, inside the app's process (the Probe class):

  * the key is posted to the app as the terminal driver posts it (an events.Key through
    App._post_message); t0 is taken just before;
  * every screen update is timestamped where Textual hands it to the driver (App._display).
    Headless Textual skips turning the update into terminal bytes; the probe does that
    too, so the cost a real terminal pays (minus the write) is in the figures;
  * a heartbeat coroutine ticks every 1 ms on the app's event loop: a gap between ticks is
    time in which the loop could not run -- the key's own handling, a repaint, or a worker
    thread (or a garbage collection) holding the GIL;
  * garbage collections are timed with gc.callbacks;
  * after the key the probe waits until the app is settled: no worker running, no debounce
    timer pending, nothing painted and no loop stall for 0.4 s (QUIET).

Per key, in ms:
  response  t0 -> the first screen update (the key visibly answered);
  stall     the longest heartbeat gap from t0 until the app settled (anything that kept the
            loop from answering the next key, during or after the handling);
  latency   max(response, stall): what the user waits for an answer, and the longest the
            app is unable to take the next key.  The target is <= 50 ms;
  final     t0 -> the last screen update before the app settled: the final content on screen
            (a tree built in a worker, the details that follow the cursor, ...).  Work in
            workers counts here, not in latency, as long as the loop keeps answering;
  gc        the longest garbage collection in that time.
Each key is pressed once or a few times; the table shows the worst of them.  The keys:
the layer list (up/down in the changes and merged views), the file tree (down, page down,
end, home, sort, only-changed, expand/collapse all), opening usr/share/wide (the big image's
50,000-entry directory) and moving in it, switching views with it open, and the filter box
(open, typing, escape), Tab between the panes, the side pane's tabs (w, i, d) and the help
screen (? and escape).  Then the presses of issue 17 item 2, each followed 30 ms later by
a second key, before the first one's work is done: Enter on a `/` result in another layer
then Enter (the preview must show the file jumped to), the first `m` of a layer then `→`
(the merged view's directory must open), the filter's keystrokes, and `E` then `↓` (the
expansion must survive); the "..._applied" rows say whether the second key acted on the new
view.  The big directory and the jump's target are taken from the image (usr/share/wide and
wide/item-00001.txt on the big image; on others the bottom layer's fullest directory and the
tail of a file three layers below the top, whose tree is not built yet).  Last, the size map:
the first M of the top layer, moves, a directory in and out, escape, M again.  The keys run
one after another in one app, each after the app has settled, so background work a key
starts (e.g. building the neighbours' trees) is finished before the next key, as when a
user pauses between keys.

--why writes, for every key whose stall exceeds 40 ms, the event loop's stacks sampled every
5 ms while the heartbeat was late, to bench/out/app_timing-why.txt.  (A stall with few
samples is GIL held elsewhere: the sampling thread could not run either.)

LSBENCH_TRACE=FILE appends each key's figures to FILE as it is measured (and the workers
still running), to see where a run that times out got to.

The same can be checked in a real terminal with tmux (tmux new-session -d -x 120 -y 40
'layerscope IMAGE', send-keys, capture-pane); that adds tmux's own polling and is used to
check what the views show, not for the figures.
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
WHY_MS = 40.0  # --why prints where the loop was for stalls longer than this
QUIET = 0.4  # the app counts as settled after this long with nothing running or painted
SIZE = (160, 48)


# ---------------------------------------------------------------------------
# child: one run inside the app


def _make_app(archive: str):
    from layerscope.app import LayerscopeApp  # the app under test

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


class Probe:
    """In-process instruments for key latency (see the module docstring).

    * every screen update the compositor produces goes through App._display; headless
      Textual skips turning it into terminal bytes, so the probe does that too (the cost
      a real terminal pays, minus the write) and timestamps it;
    * a heartbeat coroutine ticks every millisecond on the app's event loop: a gap
      between two ticks is time the loop (or the GIL) was held by something else.
    """

    def __init__(self, app) -> None:
        self.app = app
        self.paints: list[float] = []
        self.ticks: list[float] = []
        self.measuring = False
        self._task = None
        orig = app._display

        def display(screen, renderable):
            from textual._compositor import CompositorUpdate

            if renderable is not None and app.is_headless and isinstance(renderable, CompositorUpdate):
                renderable.render_segments(app.console)
            orig(screen, renderable)
            if renderable is not None:
                self.paints.append(time.perf_counter())

        app._display = display
        # garbage collections (any thread): (start, duration, generation)
        import gc

        self.gcs: list[tuple[float, float, int]] = []
        self._gc_t = 0.0

        def on_gc(phase, info):
            if phase == "start":
                self._gc_t = time.perf_counter()
            else:
                t = time.perf_counter()
                self.gcs.append((self._gc_t, t - self._gc_t, info.get("generation", -1)))

        gc.callbacks.append(on_gc)

    def start(self, why: bool = False) -> None:
        if why:
            self._start_sampler()

        async def beat():
            while True:
                self.ticks.append(time.perf_counter())
                await asyncio.sleep(0.001)
        self._task = asyncio.get_running_loop().create_task(beat())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._sampling = False

    def _start_sampler(self) -> None:
        """--why: a thread samples the event loop's stack while a heartbeat is late
        (more than 20 ms), so a stall can be traced to the code that held the loop."""
        import collections
        import threading
        import traceback

        main = threading.get_ident()
        self._sampling = True
        self.samples = collections.Counter()

        def run():
            while self._sampling:
                time.sleep(0.005)
                if self.measuring and self.ticks and time.perf_counter() - self.ticks[-1] > 0.02:
                    f = sys._current_frames().get(main)
                    if f is not None:
                        st = traceback.extract_stack(f)[-14:]
                        self.samples["".join(f"  {s.filename.split('site-packages/')[-1]}:{s.lineno} {s.name}\n"
                                             for s in st)] += 1

        threading.Thread(target=run, daemon=True).start()

    def report_samples(self, label: str) -> None:
        s = getattr(self, "samples", None)
        if not s:
            return
        with open(os.environ["LSBENCH_WHY"], "a") as out:
            out.write(f"--- stall samples after {label} (5 ms each)\n")
            for stack, n in s.most_common(4):
                out.write(f"{n} x\n{stack}")
        s.clear()

    def reset(self) -> None:
        self.paints.clear()
        self.gcs.clear()
        del self.ticks[:-1]

    def busy(self) -> bool:
        """Work the key started that is not finished: a worker, or an app timer still to fire."""
        app = self.app
        if any(not w.is_finished for w in app.workers):
            return True
        for attr in ("_tree_timer", "_details_timer", "_filter_timer", "_preview_timer"):
            if getattr(app, attr, None) is not None:
                return True
        return False

    def max_gap(self, t0: float, t1: float) -> float:
        """Longest time between heartbeat ticks within [t0, t1] (an open gap at t1 too)."""
        import bisect

        ticks = self.ticks
        lo = bisect.bisect_left(ticks, t0)
        hi = bisect.bisect_right(ticks, t1)
        prev = t0
        worst = 0.0
        for k in range(lo, hi):
            worst = max(worst, ticks[k] - prev)
            prev = ticks[k]
        # the gap still open at t1 (or closed by the first tick after it)
        nxt = ticks[hi] if hi < len(ticks) else time.perf_counter()
        worst = max(worst, min(nxt, t1) - prev)
        return worst


async def _settle(probe: Probe, quiet: float = QUIET, timeout: float = 60.0) -> float:
    """Wait until the app is quiet: nothing running, nothing painted and the event loop
    never stalled for the last `quiet` s.  Returns when the quiet period began."""
    start = time.perf_counter()
    end = start + timeout
    calm = start
    while time.perf_counter() < end:
        await asyncio.sleep(0.01)
        now = time.perf_counter()
        if probe.busy() or probe.max_gap(now - 0.03, now) > 0.02:
            calm = now
            continue
        last = max(probe.paints[-1] if probe.paints else 0.0, calm)
        if now - last >= quiet:
            return last
    return time.perf_counter()


def _key_event(app, key: str):
    import unicodedata

    from textual import events
    from textual.keys import _get_unicode_name_from_key

    try:
        char = unicodedata.lookup(_get_unicode_name_from_key(key))
    except KeyError:
        char = key if len(key) == 1 else None
    ev = events.Key(key, char)
    ev.set_sender(app)
    return ev


async def _key(probe: Probe, key: str, results: dict, name: str | None = None, then: str | None = None,
               settle: bool = True) -> dict:
    """Send one key as the terminal driver would and time what follows (ms):
    response  key sent -> first screen update;
    stall     longest event-loop stall from the key until the app settled;
    latency   max(response, stall): what the user waits before the app answers
              (and before it can answer the next key);
    final     key sent -> last screen update before the app settled (the result shown)."""
    app = probe.app
    if settle:
        await _settle(probe)
    probe.reset()
    probe.measuring = True
    t0 = time.perf_counter()
    await app._post_message(_key_event(app, key))
    if then is not None:  # a second key 30 ms later, before the first one's work is done
        await asyncio.sleep(0.03)
        await app._post_message(_key_event(app, then))
    t_calm = await _settle(probe)
    probe.measuring = False
    paints = [p for p in probe.paints if p >= t0]
    t1 = paints[-1] if paints else t0
    # stalls anywhere from the key until the app was quiet (also when nothing was painted)
    stall = probe.max_gap(t0, max(t1, t_calm))
    resp = (paints[0] - t0) if paints else None
    r = {"response": None if resp is None else resp * 1000, "stall": stall * 1000,
         "latency": max(resp or 0.0, stall) * 1000, "final": (t1 - t0) * 1000 if paints else None,
         "paints": len(paints)}
    gcs = [(d, g) for s, d, g in probe.gcs if s >= t0]
    if gcs:
        d, g = max(gcs)
        r["gc"] = d * 1000
        r["gc_gen"] = g
    results.setdefault(name or key, []).append(r)
    if os.environ.get("LSBENCH_TRACE"):  # where a run that never ends got to
        with open(os.environ["LSBENCH_TRACE"], "a") as out:
            out.write(f"{name or key} {json.dumps(r)} busy={[w.name for w in app.workers if not w.is_finished]}\n")
    if r["stall"] > WHY_MS:
        probe.report_samples(f"{name or key} (stall {r['stall']:.0f} ms)")
    elif getattr(probe, "samples", None):
        probe.samples.clear()
    return r


async def _tree_has(pilot, tree, name: str, timeout: float = 30.0) -> bool:
    """Wait until the tree's top level shows `name` (the tree is rebuilt after a layer change)."""
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        m = tree.model
        if m is not None and any(m.depth[i] == 0 and m.tree.name(n) == name for i, n in enumerate(m.rows)):
            return True
        await pilot.pause(0.02)
    return False


async def _goto_row(probe, tree, names: list[str]) -> bool:
    """Put the tree cursor on the directory `names` (a path), opening its parents (untimed)."""
    for k, name in enumerate(names):
        m = tree.model
        if m is None:
            return False
        start = tree.cursor + 1 if k else 0
        row = next((i for i in range(start, len(m.rows)) if m.tree.name(m.rows[i]) == name), None)
        if row is None:
            return False
        tree.cursor = row
        await _settle(probe)
        if k < len(names) - 1 and not m.is_expanded(m.rows[row]):
            m.expand(row)
            tree.rows_changed()
            await _settle(probe)
    return True


async def _keys(app, pilot, lat: dict) -> None:
    """The key sequence (each key timed by _key, the app settled in between)."""
    probe = Probe(app)
    probe.start(why=bool(os.environ.get("LSBENCH_WHY")))
    try:
        await _keys_seq(app, pilot, probe, lat)
    finally:
        probe.stop()


async def _keys_seq(app, pilot, probe, lat: dict) -> None:
    ll = _find(app, "LayerList")
    tree = _find(app, "FileTreeView")
    if ll is None or tree is None:
        return
    ll.focus()
    await _settle(probe)
    for _ in range(3):  # the harness's floor: a key nothing is bound to
        await _key(probe, "f12", lat, "baseline_unbound_key")
    for _ in range(4):
        await _key(probe, "up", lat, "layers_up")
    for _ in range(4):
        await _key(probe, "down", lat, "layers_down")
    await _key(probe, "m", lat, "toggle_merged_view")
    for _ in range(3):
        await _key(probe, "up", lat, "merged_layers_up")
    for _ in range(3):
        await _key(probe, "down", lat, "merged_layers_down")
    tree.focus()
    await _settle(probe)
    for _ in range(3):
        await _key(probe, "down", lat, "merged_tree_down")
    await _key(probe, "s", lat, "merged_sort_size")
    await _key(probe, "s", lat, "merged_sort_name")
    await _key(probe, "c", lat, "merged_only_changed")
    await _key(probe, "c", lat, "merged_all_entries")
    await _key(probe, "E", lat, "merged_expand_all")
    for _ in range(2):
        await _key(probe, "pagedown", lat, "merged_expanded_pagedown")
    await _key(probe, "end", lat, "merged_expanded_end")
    await _key(probe, "C", lat, "merged_collapse_all")
    ll.focus()
    await _settle(probe)
    await _key(probe, "m", lat, "toggle_changes_view")
    row = ll.row_of_layer(0) if hasattr(ll, "row_of_layer") else None
    if row is not None:  # the bottom layer: its changes hold the 50,000-entry directory
        ll.cursor = row
        await _settle(probe)
    await _tree_has(pilot, tree, "usr")
    await _settle(probe)
    tree.focus()
    await _settle(probe)
    for _ in range(5):
        await _key(probe, "down", lat, "tree_down")
    for _ in range(3):
        await _key(probe, "pagedown", lat, "tree_pagedown")
    await _key(probe, "end", lat, "tree_end")
    await _key(probe, "home", lat, "tree_home")
    if await _goto_row(probe, tree, _widest_dir(app).split("/")):
        m = tree.model
        lat["expand_dir_entries"] = [{"entries": float(len(m.kids(m.rows[tree.cursor])))}]
        await _key(probe, "enter", lat, "expand_usr_share_wide")
        for _ in range(3):
            await _key(probe, "down", lat, "in_wide_down")
        for _ in range(3):
            await _key(probe, "pagedown", lat, "in_wide_pagedown")
        await _key(probe, "end", lat, "in_wide_end")
        await _key(probe, "home", lat, "in_wide_home")
        await _key(probe, "s", lat, "in_wide_sort_size")
        await _key(probe, "s", lat, "in_wide_sort_name")
        await _key(probe, "m", lat, "in_wide_toggle_merged")
        for _ in range(3):
            await _key(probe, "pagedown", lat, "in_wide_merged_pagedown")
        await _key(probe, "m", lat, "in_wide_toggle_changes")
    await _key(probe, "f", lat, "filter_open")
    for ch in "wide":
        await _key(probe, ch, lat, "filter_type_char")
    await _key(probe, "escape", lat, "filter_clear")
    for _ in range(3):  # tree -> side pane -> layer list -> tree
        await _key(probe, "tab", lat, "focus_next_pane")
    for key, name in (("w", "side_waste"), ("i", "side_image"), ("d", "side_details"),
                      ("question_mark", "help_open"), ("escape", "help_close")):
        await _key(probe, key, lat, name)
    await _issue_keys(app, pilot, probe, ll, tree, lat)


def _widest_dir(app) -> str:
    """The directory of the bottom layer with the most entries directly in it
    (the big image's usr/share/wide, 50,000; on other images, their biggest)."""
    from collections import Counter

    paths = app.image.layers[0].entries.paths
    if "usr/share/wide" in set(paths[:1]) or any(p.startswith("usr/share/wide/") for p in paths[:100000:97]):
        return "usr/share/wide"
    n = Counter(p.rsplit("/", 1)[0] for p in paths if "/" in p)
    return n.most_common(1)[0][0] if n else "usr"


def _jump_target(app) -> tuple[str, int]:
    """A file of a lower layer (stored last there, its tree not built yet) and what
    to type for it: "wide/item-00001.txt" on the big image, a path's tail elsewhere."""
    im = app.image
    top = len(im.layers) - 1
    a = app.analysis
    paths = im.layers[0].entries.paths
    if "usr/share/wide/item-00001.txt" in paths[:60000]:
        return "wide/item-00001.txt", 0
    from layerscope.model import FILE

    L = max(0, top - 3)
    e = im.layers[L].entries
    for i in range(len(e.paths) // 2, len(e.paths)):
        p = e.paths[i]
        got = a.stack.top_view.get(p)
        if e.types[i] == FILE and got is not None and got[0] == L and p.count("/") >= 2:
            tail = "/".join(p.rsplit("/", 2)[-2:])
            return tail, L
    return "os-release", 0


def _tree_state(tree):
    """(mode, layer, cursor path, cursor expanded) of what the tree shows."""
    m = tree.model
    if m is None or not m.rows:
        return None
    node = tree.node
    return (m.tree.mode, m.tree.layer, m.tree.path(node), m.is_expanded(node))


async def _issue_keys(app, pilot, probe, ll, tree, lat: dict) -> None:
    """The presses of issue 17 item 2, each followed by a second key pressed before the
    first one's work is done; "applied" records whether the second key acted on the
    view the first one asked for (1) or was lost or applied to the old view (0)."""
    scr = app.screen
    # the fuzzy jump: each keystroke, then enter on a result in another layer, then enter again
    top = len(app.image.layers) - 1
    ll.cursor = ll.row_of_layer(top)
    tree.focus()
    await _settle(probe)
    query, _ = _jump_target(app)
    await _key(probe, "slash", lat, "jump_open")
    for ch in query:
        await _key(probe, ch, lat, "jump_type_char")
    await _settle(probe)
    jump = app.screen
    target = jump._paths[jump.query_one("#jump-results").highlighted or 0] if getattr(jump, "_paths", None) else ""
    idx = app.state.path_search.get(id(app.image))
    target_layer = idx.last_layer(target) if idx is not None and target else None
    lat.setdefault("jump_target_layer", []).append({"layer": target_layer, "top": top,
                                                    "built": float(scr._tree_is_cached(target_layer))})
    await _key(probe, "enter", lat, "jump_enter_other_layer", then="enter", settle=False)
    await _settle(probe)
    st = _tree_state(tree)
    lat.setdefault("jump_then_enter_applied", []).append(
        {"applied": float(scr.query_one("#side").active == "preview-tab" and st is not None and bool(target)
                          and st[1] == target_layer and st[2] == "/" + target.lstrip("/"))})
    # the first m of a layer, then -> at once
    tree.action_first()
    tree.action_collapse_all()
    ll.cursor = ll.row_of_layer(top - 1)
    await _settle(probe)
    tree.focus()
    scr.mode = "changes"
    scr._request_tree(now=True)
    await _settle(probe)
    tree.action_first()
    await _settle(probe)
    await _key(probe, "m", lat, "first_m_then_right", then="right", settle=False)
    st = _tree_state(tree)
    lat.setdefault("m_then_right_applied", []).append(
        {"applied": float(st is not None and st[0] == "merged" and st[3])})
    # the filter: from the keystroke that applies it to the filtered tree
    await _key(probe, "f", lat, "filter_open_2")
    for ch in "item-00001":
        await _key(probe, ch, lat, "filter_type_char_2")
    await _key(probe, "escape", lat, "filter_clear_2")
    # expand all, then a key at once: the expansion must survive it
    tree.focus()
    await _settle(probe)
    m = tree.model
    before = m.rows[tree.cursor] if m is not None and m.rows else None
    await _key(probe, "E", lat, "expand_all_then_down", then="down", settle=False)
    m = tree.model
    lat.setdefault("expand_all_then_down_applied", []).append(
        {"applied": float(m is not None and len(m.rows) > 10000 and before in m.rows
                          and tree.cursor == m.rows.index(before) + 1)})
    await _key(probe, "C", lat, "collapse_all_2")
    # the size map: the first M of a layer answers at once, then fills in; moves, a directory in and out
    ll.cursor = ll.row_of_layer(top)
    await _settle(probe)
    await _key(probe, "M", lat, "sizemap_first_open")
    for _ in range(3):
        await _key(probe, "right", lat, "sizemap_right")
    await _key(probe, "left", lat, "sizemap_left")
    await _key(probe, "home", lat, "sizemap_home")
    await _key(probe, "enter", lat, "sizemap_open_dir")
    await _key(probe, "backspace", lat, "sizemap_up_dir")
    await _key(probe, "escape", lat, "sizemap_close")
    await _key(probe, "M", lat, "sizemap_second_open")
    await _key(probe, "escape", lat, "sizemap_close")


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


def _key_summary(keys_res: dict | None) -> dict | None:
    """Per key: the worst latency/stall/response/final of its presses (ms), and how many."""
    if not keys_res:
        return None
    out = {}
    for k, rs in keys_res.items():
        if k in ("expand_dir_entries", "jump_target_layer"):
            out[k] = rs[0]
            continue
        if k.endswith("_applied"):
            out[k] = {"applied": sum(r["applied"] for r in rs), "n": len(rs)}
            continue

        def worst(f):
            xs = [r[f] for r in rs if r.get(f) is not None]
            return max(xs) if xs else None
        out[k] = {"n": len(rs), "latency": worst("latency"), "stall": worst("stall"),
                  "response": worst("response"), "final": worst("final"), "gc": worst("gc")}
    return out


def _print_keys(summary: dict) -> None:
    def f(x):
        return "-" if x is None else f"{x:.0f}"

    print(f"   {'key (worst of n presses, ms)':<28} {'n':>2} {'latency':>8} {'stall':>6} "
          f"{'response':>9} {'final':>7} {'gc':>5}")
    for k, v in summary.items():
        if k == "expand_dir_entries":
            continue
        if k == "jump_target_layer":
            print(f"   (the jump went to layer {v['layer']} of 0..{v['top']}, its tree "
                  f"{'already built' if v['built'] else 'not built yet'})")
            continue
        if k.endswith("_applied"):
            print(f"   {k:<28} {v['n']:>2} second key applied to the new view: {v['applied']:.0f} of {v['n']}")
            continue
        flag = "  > 50 ms" if (v["latency"] or 0) > 50 else ""
        print(f"   {k:<28} {v['n']:>2} {f(v['latency']):>8} {f(v['stall']):>6} {f(v['response']):>9} "
              f"{f(v['final']):>7} {f(v.get('gc')):>5}{flag}")


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
    ap.add_argument("--why", action="store_true",
                    help="write where the event loop stalled to bench/out/app_timing-why.txt")
    ap.add_argument("--keys-only", action="store_true", help="only the key latencies: one run per archive")
    ap.add_argument("--out", default=str(OUT / "app_timing.json"))
    args = ap.parse_args()
    if args.keys_only:
        args.keys, args.runs = True, 1
    if args.why:
        os.environ["LSBENCH_WHY"] = str(OUT / "app_timing-why.txt")
        Path(os.environ["LSBENCH_WHY"]).unlink(missing_ok=True)

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
                if args.keys_only:  # one open with an empty cache, then the keys
                    r1 = r2 = run_child(path, cache, args.timeout, keys=True)
                else:
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
            "key_latency_ms": _key_summary(keys_res),
            "runs": {"first": firsts, "second": seconds},
        }
        results.append(summary)
        OUT.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")

    def f(x):
        return "-" if x is None else f"{x:.3f}"

    print(f"{'archive':<20} {'screen s':>9} {'indexed s':>10} {'2nd screen':>11} {'2nd indexed':>12} "
          f"{'import s':>9}  (seconds from process start)")
    for s in results:
        print(f"{s['archive']:<20} {f(s['first_screen_s']):>9} {f(s['indexed_s']):>10} "
              f"{f(s['second_open_first_screen_s']):>11} {f(s['second_open_indexed_s']):>12} {f(s['app_import_s']):>9}")
        if s["key_latency_ms"]:
            _print_keys(s["key_latency_ms"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
