"""The layerscope explorer: a Textual app over the core's model and analysis.

The app renders; the core computes.  Loading runs in thread workers that
post what they found (messages.py): the layer list appears from the manifest
and config at once, layers are indexed with a progress bar (finished layers
can already be browsed), then the analysis fills in sizes, waste, history
and shadows.  The app owns the loaded state (state.py) and routes between
the screens; the layer view is screens/layers.py.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.screen import Screen

from ..errors import ImageError
from ..units import plural
from . import gcfreeze
from . import messages as M
from .fmt import clean_text, human, note
from .keys import bindings
from .screens.dialogs import CompareScreen, ConfirmScreen, HelpScreen
from .screens.layers import LayersScreen
from .state import LoadedState

SWITCH_INTERVAL = 0.001  # s, see on_mount
_FORCE = re.compile(r"\s*\(use --force[^)]*\)(; nothing was extracted)?")


def _is_screen(scr, module: str, name: str) -> bool:
    """isinstance(scr, <module>.<name>) without importing that module (the
    comparison and graph screens are imported on first use): no screen of a
    module never imported can exist."""
    mod = sys.modules.get(f"{__package__}.screens.{module}")
    return mod is not None and isinstance(scr, getattr(mod, name))


def _start_resource_tracker() -> None:
    """The core indexes big images in worker processes (spawn).  Their pool
    cannot be created once Textual has replaced stderr (the resource tracker
    it starts needs the real one): the core then indexes in this process, on
    one core.  Starting the tracker now, before the app takes the terminal,
    keeps parallel indexing working under the app."""
    try:
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    except Exception:
        pass  # indexing falls back to one process


def in_the_way(e: Exception, extract_module) -> bool:
    """Did extraction stop because something is in the way (so that asking to
    overwrite makes sense)?  The core's ExtractConflict says so; before it
    existed, the message's `--force` hint did."""
    conflict = getattr(extract_module, "ExtractConflict", None)
    if isinstance(conflict, type):
        return isinstance(e, conflict)
    return "--force" in str(e)


class LayerscopeApp(App):
    """layerscope: browse an image's layers, files, shadows and waste."""

    CSS_PATH = "app.tcss"
    TITLE = "layerscope"
    BINDINGS = bindings("app")

    def __init__(self, sources: list[str], image: str | None = None, platform: str | None = None,
                 base: int | None = None, settings=None) -> None:
        """`sources`: archives (or `-`, docker://REF, podman://REF), each
        optionally ARCHIVE@REF for one image of it.  Two of them open the
        comparison of the two images; the layer view stays one key away."""
        from ..formats.source import split_spec
        from .settings import Settings

        super().__init__()
        _start_resource_tracker()
        self.settings = settings if settings is not None else Settings()
        self.specs = [split_spec(s) for s in sources]  # (source, ref or None)
        self.sources = list(dict.fromkeys(src for src, _ in self.specs))  # each archive read once
        self.want_image = image
        self.want_platform = platform
        self.base = base
        self.state = LoadedState()
        self.layer_view: LayersScreen | None = None
        self.last_extract = None
        self._leaving = False
        self._event_loop = None
        self.stopped_by: int | None = None  # the signal that made the app leave
        self.when_leaving = None  # called once the app starts to leave (run_app: stop reading pipes)

    # the state that the other screens read
    @property
    def graph(self):
        return self.state.graph

    @property
    def image(self):
        return self.state.image

    @property
    def analysis(self):
        return self.state.analysis

    @property
    def fatal(self) -> str | None:
        return self.state.fatal

    def get_default_screen(self) -> Screen:
        # the layer view is the bottom of the screen stack, under every other screen
        self.layer_view = LayersScreen()
        return self.layer_view

    def on_load(self) -> None:
        import asyncio

        self._event_loop = asyncio.get_running_loop()

    def leave_on_signal(self, signum: int) -> bool:
        """From a signal handler (in the main thread, maybe inside the event
        loop): leave as after `q`, so that the terminal is restored.  False
        when the app is not running, and cannot leave that way."""
        loop = self._event_loop
        if loop is None or loop.is_closed() or not self.is_running:
            return False
        self.stopped_by = signum
        loop.call_soon_threadsafe(self.exit, None, 128 + signum)
        return True

    def on_mount(self) -> None:
        if self.settings.theme:
            self.theme = self.settings.theme
        if self.settings.keys:
            self.set_keymap(self.settings.keys)
        # Loading, trees and details run in threads: a short GIL switch
        # interval lets the event loop back in quickly while one computes.
        sys.setswitchinterval(SWITCH_INTERVAL)

    def on_ready(self) -> None:
        self._load()  # now that the layer view is composed: the graph goes straight into it

    def exit(self, *args, **kw) -> None:
        self._leave()
        super().exit(*args, **kw)

    def on_unmount(self) -> None:
        self._leave()

    def _leave(self) -> None:
        self._leaving = True
        if self.when_leaving is not None:
            self.when_leaving()

    def shutting_down(self) -> bool:
        """Is the app leaving (so a late worker result or timer has nowhere to
        go)?  Textual's own flags for this are private: the app keeps its own."""
        lv = self.layer_view
        return self._leaving or not self.is_running or lv is None or not lv.is_attached

    # ----------------------------------------------------------------- loading
    @work(thread=True, group="load", exit_on_error=False)
    @gcfreeze.building
    def _load(self) -> None:
        from ..formats.source import open_graph
        from ..layers.indexing import index_layers

        try:
            # a registry index is read for the platforms the sources name (SOURCE@OS/ARCH), not for all
            wanted: dict[str, list[str]] = {}
            for src, ref in self.specs:
                if ref and "/" in ref:
                    wanted.setdefault(src, []).append(ref)
            extra = {"platforms": wanted} if wanted else {}
            graph = open_graph(self.sources, platform=self.want_platform, **extra)
            sides = [self._pick(graph, src, ref) for src, ref in self.specs]
        except ImageError as e:
            self.post_message(M.LoadFailed(e.line()))
            return
        except Exception as e:  # never a traceback on a torn-down screen
            self.post_message(M.LoadFailed(f"cannot open: {type(e).__name__}: {e}"))
            return
        pair = (sides[0], sides[1]) if len(sides) == 2 else None
        try:
            # waits for the layer view to show the graph: indexing starts after
            self.call_from_thread(self._graph_opened, graph, sides[0], pair)
        except Exception as e:  # a bug: say so rather than stop silently
            self.post_message(M.LoadFailed(f"cannot show the image: {type(e).__name__}: {e}"))
            return

        def progress(d, t, layer):
            self.post_message(M.LayersIndexed(d, t, layer))

        try:
            # the core indexes in this process when worker processes cannot start
            index_layers(graph, progress=progress, fetched=_FetchProgress(graph, self.post_message))
        except Exception as e:
            self.post_message(M.LoadFailed(f"indexing failed: {type(e).__name__}: {e}"))
            return
        self.post_message(M.AllIndexed())

    def _pick(self, graph, src: str, ref: str | None):
        """The image `ref` (or --image, else the host's platform) among the
        images that came from `src`."""
        return graph.pick(ref or self.want_image, self.want_platform, source=src)

    def on_load_failed(self, m: M.LoadFailed) -> None:
        msg = m.text
        self.state.fatal = msg
        if self.shutting_down():
            return
        self.layer_view.show_fatal(msg)
        self.notify(note(msg), title="layerscope", severity="error", timeout=30)
        for scr in self.screen_stack:
            if _is_screen(scr, "diff", "DiffScreen") and scr.diff is None:
                scr.failed(msg)

    def _graph_opened(self, graph, image, pair=None) -> None:
        self.state.graph = graph
        self.state.image = image
        if self.shutting_down():
            return
        for w in graph.warnings[:5]:
            self.notify(note(w), severity="warning", timeout=8)
        self.layer_view.graph_opened()
        if pair is not None:
            self.open_diff(*pair)

    def on_fetching(self, m: M.Fetching) -> None:
        if not self.shutting_down():
            self.layer_view.fetching(m.text)

    def on_layers_indexed(self, m: M.LayersIndexed) -> None:
        if self.shutting_down():
            return
        self.state.index_note = f"indexing layers {m.done}/{m.total}…"
        for scr in self.screen_stack:
            if _is_screen(scr, "diff", "DiffScreen") and scr.diff is None and scr.error is None:
                scr.waiting(self.state.index_note + " then comparing")
        if m.layer.error:
            self.notify(note(m.layer.error), severity="error", timeout=10)
        gcfreeze.settle()  # the layer's index is here to stay
        self.layer_view.layers_indexed(m.done, m.total)

    def on_all_indexed(self, m: M.AllIndexed) -> None:
        if self.shutting_down():
            return
        self.state.indexed_all = True
        gcfreeze.settle()
        self.layer_view.all_indexed()
        self.start_analysis(self.state.image)
        pending, self.state.pending_diffs = self.state.pending_diffs, []
        for a, b in pending:
            self._start_diff(a, b)
        for scr in self.screen_stack:
            if _is_screen(scr, "graph", "GraphScreen"):
                scr.refresh_data()

    def start_analysis(self, image) -> None:
        st = self.state
        if id(image) in st.analyses or id(image) in st.analysing:
            return
        st.analysing.add(id(image))
        self._analyse(image)

    @work(thread=True, group="analyse", exit_on_error=False)
    @gcfreeze.building
    def _analyse(self, image) -> None:
        from ..analysis import analyse

        try:
            a = analyse(self.state.graph, image, base_layers=self.base)
            a.os_release()  # reads a file: do it here, not on the UI thread
        except ImageError as e:
            self.post_message(M.LoadFailed(e.line()))
            return
        except Exception as e:
            self.post_message(M.LoadFailed(f"analysis failed: {type(e).__name__}: {e}"))
            return
        self.post_message(M.Analysed(image, a))

    def on_analysed(self, m: M.Analysed) -> None:
        st = self.state
        st.analyses[id(m.image)] = m.analysis
        st.analysing.discard(id(m.image))
        gcfreeze.settle()
        self._start_stack_index(m.analysis)
        if m.image is st.image and not self.shutting_down():
            self.layer_view.analysed()

    def _start_stack_index(self, a) -> None:
        if id(a) not in self.state.stack_index:
            self.state.stack_index[id(a)] = None  # being built
            self._build_stack_index(a)

    @work(thread=True, group="stackindex", exit_on_error=False)
    @gcfreeze.building
    def _build_stack_index(self, a) -> None:
        """Once per analysed image, in the background: what makes every merged
        view a matter of milliseconds (analysis.lazytree)."""
        from ..analysis.lazytree import StackIndex

        try:
            ix = StackIndex(a.stack)
        except Exception:
            # merged views stay eager; nothing waits for an index that will not come (the size map)
            self.post_message(M.StackIndexed(a, None))
            return
        self.post_message(M.StackIndexed(a, ix))

    def on_stack_indexed(self, m: M.StackIndexed) -> None:
        if m.index is None:  # it failed
            self.state.stack_index.pop(id(m.analysis), None)
            return
        self.state.stack_index[id(m.analysis)] = m.index
        gcfreeze.settle()

    def ensure_path_search(self, image) -> None:
        """Build the jump search over `image`'s paths, once."""
        if id(image) not in self.state.path_search:
            self._build_path_search(image)

    @work(thread=True, group="pathsearch", exit_on_error=False)
    @gcfreeze.building
    def _build_path_search(self, image) -> None:
        from .pathsearch import PathSearch

        try:
            search = PathSearch(image.layers)
        except Exception:
            return
        self.post_message(M.PathsSearchable(image, search))

    def on_paths_searchable(self, m: M.PathsSearchable) -> None:
        self.state.path_search[id(m.image)] = m.search
        gcfreeze.settle()
        if not self.shutting_down():
            self.layer_view.path_search_ready(m.search)

    def on_notice(self, m: M.Notice) -> None:
        self.notify(m.text, **m.kw)

    # ------------------------------------------------------------- routing
    def show_in_layer_view(self, im, path: str | None = None, layer: int | None = None) -> None:
        """Back on the layer view: image `im`, at `layer` (its top layer by
        default), with `path` selected in the tree when given."""
        lv = self.layer_view
        while self.screen is not lv and len(self.screen_stack) > 1:
            self.pop_screen()
        lv.switch_image(im)
        if layer is None:
            layer = len(im.layers) - 1
        if path:
            lv.goto(path, layer)
            return
        layers = lv.query_one("#layers")
        row = layers.row_of_layer(layer)
        if row is not None:
            layers.cursor = row
        self.call_after_refresh(layers.focus)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_zoom(self) -> None:
        from .widgets import Pane

        scr = self.screen
        if scr.maximized is not None:
            scr.minimize()
            return
        w = self.focused
        if w is None:
            return
        target = w
        for anc in w.ancestors_with_self:
            if isinstance(anc, Pane):
                target = anc
                break
        scr.maximize(target, container=False)

    def on_key(self, event) -> None:
        if event.key == "escape" and self.screen.maximized is not None:
            self.screen.minimize()
            event.stop()

    def action_graph(self) -> None:
        """The layer graph of every loaded image."""
        if self.state.graph is None:
            return
        from .screens.graph import GraphScreen

        self.push_screen(GraphScreen())

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "graph":
            view = next((s for s in reversed(self.screen_stack) if not s.is_modal), None)  # what a dialog covers
            if _is_screen(view, "graph", "GraphScreen"):
                return False
        return True

    # ------------------------------------------------------------- compare
    def action_compare(self) -> None:
        """Pick a second image and compare the current one with it."""
        from .fmt import picker_labels

        st = self.state
        if st.graph is None or st.image is None:
            return
        images = st.graph.images
        if len(images) < 2:
            self.notify("only one image is loaded: open two to compare them "
                        "(layerscope A B, or ARCHIVE@REF for an image inside an archive)", timeout=6)
            return
        last = next((b for (a, b) in ((d.a_image, d.b_image) for d, _ in reversed(st.diffs.values()))
                     if a is st.image), None)

        def chosen(k) -> None:
            if k is not None:
                self.open_diff(self.state.image, images[k])

        self.push_screen(CompareScreen(images, st.image, picker_labels(images),
                                       images.index(last) if last is not None else None), chosen)

    def open_diff(self, a, b) -> None:
        """Show the comparison of image a (A) with image b (B)."""
        from .screens.diff import DiffScreen

        st = self.state
        scr = DiffScreen(a, b)
        key = (id(a), id(b))
        got = st.diffs.get(key)
        if got is not None:
            st.diffs.move_to_end(key)
            scr.set_diff(*got)
        if _is_screen(self.screen, "diff", "DiffScreen"):
            self.switch_screen(scr)
        else:
            self.push_screen(scr)
        if got is not None:
            return
        if st.fatal:
            scr.failed(st.fatal)
        elif st.indexed_all:
            scr.waiting("comparing…")
            self._start_diff(a, b)
        else:
            if (a, b) not in st.pending_diffs:
                st.pending_diffs.append((a, b))
            scr.waiting((st.index_note or "indexing layers…") + " then comparing")

    def _start_diff(self, a, b) -> None:
        key = (id(a), id(b))
        if key in self.state.diffing or key in self.state.diffs:
            return
        self.state.diffing.add(key)
        self._diff_worker(a, b)

    @work(thread=True, group="diff", exit_on_error=False)
    @gcfreeze.building
    def _diff_worker(self, a, b) -> None:
        from ..analysis.diff import diff_images
        from ..analysis.difftree import diff_tree

        graph = self.state.graph
        try:
            for side, im in (("A", a), ("B", b)):
                for L, layer in enumerate(im.layers):
                    if layer.error:
                        raise ImageError(f"{side}: layer {L}: {layer.error}")
            d = diff_images(graph, a, graph, b)
            t = diff_tree(d)
        except ImageError as e:
            self.post_message(M.Compared(a, b, error=e.line()))
            return
        except Exception as e:
            self.post_message(M.Compared(a, b, error=f"comparison failed: {type(e).__name__}: {e}"))
            return
        self.post_message(M.Compared(a, b, d, t))

    def on_compared(self, m: M.Compared) -> None:
        a, b = m.a, m.b
        if m.error is not None:
            self.state.diffing.discard((id(a), id(b)))
            for scr in self.screen_stack:
                if _is_screen(scr, "diff", "DiffScreen") and scr.a is a and scr.b is b:
                    scr.failed(m.error)
            return
        self.state.add_diff(a, b, m.diff, m.tree)
        gcfreeze.settle()
        for scr in self.screen_stack:
            if _is_screen(scr, "diff", "DiffScreen") and scr.a is a and scr.b is b and scr.diff is None:
                scr.set_diff(m.diff, m.tree)

    # -------------------------------------------------------------- extract
    def extract(self, a, L, path, dest, keep_setuid, overwrite) -> None:
        """Extract `path` of layer L's view into `dest`, in a worker."""
        self._extract(a, L, path, dest, keep_setuid, overwrite)

    @work(thread=True, group="extract", exit_on_error=False)
    def _extract(self, a, L, path, dest, keep_setuid, overwrite) -> None:
        from .. import extract as X

        try:
            res = X.extract_paths(a, L, [path], dest, overwrite=overwrite, keep_setuid=keep_setuid)
        except X.ExtractError as e:
            msg = str(e)
            if not overwrite and in_the_way(e, X):  # something is in the way: nothing was written yet
                self.post_message(M.ExtractInTheWay(a, L, path, dest, keep_setuid, msg))
            else:
                self.post_message(M.Notice(note(f"extract failed: {msg}"), severity="error", timeout=10))
            return
        except Exception as e:
            self.post_message(M.Notice(note(f"extract failed: {type(e).__name__}: {e}"),
                                       severity="error", timeout=10))
            return
        msg = (f"extracted {path} into {dest}: {plural(res.files, 'file')}, {plural(res.dirs, 'dir')}, "
               f"{plural(res.links, 'link')}, {human(res.bytes)}")
        if res.skipped:
            msg += f"; skipped {len(res.skipped)} (e.g. {res.skipped[0]})"
        self.last_extract = res
        self.post_message(M.Notice(note(msg), title="extracted", timeout=8))

    def on_extract_in_the_way(self, m: M.ExtractInTheWay) -> None:
        from rich.text import Text

        text = Text()
        text.append("Something is in the way\n\n", "bold")
        text.append(clean_text(_FORCE.sub("", m.text), 600) + "\n\n")
        text.append("Overwrite it? Nothing outside the folder is touched, and links in it are not followed.")

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._extract(m.analysis, m.layer, m.path, m.dest, m.keep_setuid, True)

        self.push_screen(ConfirmScreen(text), confirmed)

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = False) -> None:
        # Messages name files and images: plain text, whoever calls (screens and widgets end here too).
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    # -- command palette ---------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        own = getattr(screen, "system_commands", None)  # a view's commands (a dialog has none)
        if own is None and self.layer_view is not None:
            own = self.layer_view.system_commands  # a dialog: the commands of the layer view under it
        if own is not None:
            for title, help, cb in own():
                yield SystemCommand(title, help, cb)


class _FetchProgress:
    """Follows the downloads of a registry's layers (called from the threads
    fetching them) and posts, a few times a second, which layers are coming,
    how far along each is and how fast."""

    INTERVAL_S = 0.2

    def __init__(self, graph, post) -> None:
        import time
        from _thread import allocate_lock

        self.clock = time.monotonic
        self.post = post
        self.lock = allocate_lock()
        self.active: dict[int, list] = {}  # id(layer) -> [layer, bytes so far, start]
        self.last = 0.0
        self.number = {}
        for im in graph.images:
            for k, layer in enumerate(im.layers):
                self.number.setdefault(id(layer), k)

    def __call__(self, layer, got: int) -> None:
        now = self.clock()
        with self.lock:
            st = self.active.setdefault(id(layer), [layer, 0, now])
            st[1] = got
            if got >= layer.compressed_size:
                del self.active[id(layer)]
            if now - self.last < self.INTERVAL_S and got < layer.compressed_size:
                return
            self.last = now
            parts = []
            for lay, n, t0 in sorted(self.active.values(), key=lambda s: self.number.get(id(s[0]), 0)):
                rate = n / max(now - t0, 1e-3)
                parts.append(f"layer {self.number.get(id(lay), '?')} {human(n)}/{human(lay.compressed_size)} "
                             f"{human(rate)}/s")
        if parts:
            self.post(M.Fetching("fetching " + " · ".join(parts[:3]) + (" …" if len(parts) > 3 else "")))


def _stdin_sources(sources: list[str]) -> list[str]:
    """`-` reads the archive from stdin: spool it before the app starts, then
    give the app the terminal as its stdin (it reads keys from fd 0)."""
    if "-" not in sources:
        return sources
    from ..formats.source import resolve_source

    out = [resolve_source(s)[0] if s == "-" else s for s in sources]
    if not os.isatty(0):
        try:
            fd = os.open("/dev/tty", os.O_RDONLY)
        except OSError:
            raise ImageError("the explorer needs a terminal; with the image on stdin, run it from one "
                             "(or use `layerscope report -`)") from None
        os.dup2(fd, 0)
        os.close(fd)
    return out


def run_app(sources: list[str], image: str | None = None, platform: str | None = None,
            base: int | None = None, settings=None) -> int:
    """Run the explorer; returns the exit status (2 after an error was shown).
    Raises ImageError only when stdin (`-`) cannot be used, Terminated when
    SIGTERM or SIGHUP ended it (spooled input is removed either way)."""
    from ..errors import Terminated
    from ..formats.source import release_spooled, stop_spooling, watch_signals

    if settings is not None and settings.theme:
        from textual.theme import BUILTIN_THEMES

        if settings.theme not in BUILTIN_THEMES:
            raise ImageError(f"no theme {settings.theme!r} (one of {', '.join(sorted(BUILTIN_THEMES))})",
                             settings.path or "--theme")
    app = None
    # installed before anything is spooled: a named pipe is read in a thread, which cannot install them
    watch_signals(lambda signum: app is not None and app.leave_on_signal(signum))
    try:
        sources = _stdin_sources(list(sources))
        app = LayerscopeApp(sources, image=image, platform=platform, base=base, settings=settings)
        # the loader may be copying a named pipe: leaving must not wait for the pipe to end
        app.when_leaving = stop_spooling
        app.run(mouse=app.settings.mouse)
    finally:
        release_spooled()
    if app.stopped_by is not None:
        import signal

        if app.stopped_by == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(app.stopped_by)
    if app.return_code not in (None, 0):
        return app.return_code
    return 2 if app.fatal else 0
