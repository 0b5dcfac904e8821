"""Command line: `layerscope [IMAGE...]` opens the explorer; `report`, `ls`,
`check`, `diff`, `extract` are the scriptable commands.

Exit status: 0 ok, 1 a check failed / images differ, 2 an error (one line on
stderr, never a traceback; LAYERSCOPE_DEBUG=1 shows one for bug reports).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import __version__
from .errors import ImageError, one_line

# the bundled demo image, opened when no IMAGE is given
DEMO_IMAGE = os.path.join(os.path.dirname(__file__), "data", "classic-docker.tar")

COMMANDS = ("report", "ls", "history", "check", "diff", "extract", "app")


class UsageError(Exception):
    pass


def _columns() -> int:
    """shutil.get_terminal_size().columns, without importing shutil (and
    bz2, lzma): argparse builds a formatter for every add_argument()."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Formatter(argparse.HelpFormatter):
    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None,
                 **kwargs):
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width,
                         **kwargs)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # exit 2 with one line, like every other error
        raise UsageError(message)


def _add_common(p: argparse.ArgumentParser, many: bool = False) -> None:
    if many:
        p.add_argument("archives", nargs="+", metavar="IMAGE",
                       help="image archive(s): a docker/podman save tar, an OCI archive or directory, "
                            "'-' for standard input, podman://REF or docker://REF")
    else:
        p.add_argument("archive", metavar="IMAGE",
                       help="an image archive: docker/podman save tar, OCI archive or directory, "
                            "'-' for standard input, podman://REF or docker://REF")
    p.add_argument("--image", metavar="REF", help="which image, when the archive holds several (tag or digest)")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="which platform of a multi-platform image")
    p.add_argument("--base", type=int, metavar="N",
                   help="the first N layers are the base image (default 1, as dive): their waste is not the user's")
    p.add_argument("--verify", action="store_true",
                   help="check every blob against its digest and every layer against its diff_id (reads all bytes)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the layer index cache")


def _report_args(r: argparse.ArgumentParser) -> None:
    _add_common(r, many=True)
    r.add_argument("--json", action="store_true", help="machine-readable output (see README: JSON contract)")
    r.add_argument("--top", type=int, default=None, metavar="N",
                   help="how many wasted paths to list (default 10; 100 with --json)")


def _ls_args(ls: argparse.ArgumentParser) -> None:
    _add_common(ls)
    ls.add_argument("--layer", type=int, metavar="N", help="layer index (0 = bottom; negative counts from the top)")
    ls.add_argument("--changes", action="store_true", help="only layer N's own changes, with their kind")
    ls.add_argument("--json", action="store_true", help="JSON lines, one object per entry")


def _history_args(h: argparse.ArgumentParser) -> None:
    _add_common(h)
    h.add_argument("path", metavar="PATH", help="an absolute path in the image, e.g. /etc/passwd")
    h.add_argument("--json", action="store_true", help="machine-readable output")


def _check_args(c: argparse.ArgumentParser) -> None:
    _add_common(c)
    c.add_argument("--ci-config", metavar="FILE", help="a .dive-ci YAML file with a `rules:` map")
    c.add_argument("--lowest-efficiency", metavar="RATIO", help="fail when efficiency is below this (0-1)")
    c.add_argument("--highest-wasted-bytes", metavar="SIZE", help="fail when wasted bytes exceed this (e.g. 20MB)")
    c.add_argument("--highest-user-wasted-percent", metavar="RATIO",
                   help="fail when user wasted bytes / image size exceeds this (0-1)")
    c.add_argument("--json", action="store_true", help="machine-readable results")


def _diff_args(d: argparse.ArgumentParser) -> None:
    d.add_argument("a", metavar="A", help="ARCHIVE or ARCHIVE@REF; REF is a tag, a digest (prefix) or an "
                                           "OS/ARCH platform, e.g. img.tar@linux/arm64")
    d.add_argument("b", metavar="B", help="the same for the other side")
    d.add_argument("--platform", metavar="OS/ARCH[/VARIANT]")
    d.add_argument("--json", action="store_true")
    d.add_argument("--no-cache", action="store_true")
    d.add_argument("--top", type=int, default=30, metavar="N", help="how many changed paths to list")


def _extract_args(x: argparse.ArgumentParser) -> None:
    _add_common(x)
    x.add_argument("paths", nargs="+", metavar="PATH")
    x.add_argument("-o", "--output", required=True, metavar="DEST", help="target directory")
    x.add_argument("--layer", type=int, metavar="N")
    x.add_argument("--force", action="store_true", help="overwrite existing files in DEST")
    x.add_argument("--keep-setuid", action="store_true", help="keep setuid/setgid bits")


def _app_args(a: argparse.ArgumentParser) -> None:
    a.add_argument("archives", nargs="*", metavar="IMAGE",
                   help="archives, each optionally ARCHIVE@REF; two open the comparison (diff view)")
    a.add_argument("--image", metavar="REF")
    a.add_argument("--platform", metavar="OS/ARCH[/VARIANT]")
    a.add_argument("--base", type=int, metavar="N")
    a.add_argument("--no-cache", action="store_true")


# command: (help in the command list, description on its own help page, its arguments)
_COMMAND_PARSERS = {
    "report": ("summary of an image: layers, sizes, changes, waste",
               "Print the image, one row per build step, totals and the biggest wasted paths.", _report_args),
    "ls": ("list the merged view at a layer, or one layer's changes",
           "List every path of the merged (union) view at layer N (default: the top), "
           "or with --changes only what layer N added, modified and deleted.", _ls_args),
    "history": ("which layers touched a path, and what hides what",
                "For one path: every layer that added, modified or deleted it (bottom up), "
                "the copy visible at the top, and the hidden copies with the layer that hid "
                "each and the bytes it costs.", _history_args),
    "check": ("CI gate: efficiency and waste rules (dive's .dive-ci format)",
              "Evaluate efficiency/waste rules; exit 0 when all pass, 1 when any fails. "
              "Rules come from --ci-config (default ./.dive-ci when present) and options.", _check_args),
    "diff": ("compare two images (exit 0 identical, 1 different)",
             "Compare two images: shared layers, files added/removed/changed between their "
             "merged views, config and history changes.  Each side is ARCHIVE or "
             "ARCHIVE@REF (an image inside the archive).", _diff_args),
    "extract": ("copy files or directories out of an image",
                "Extract PATHs of the merged view at a layer (default: the top) into DEST. "
                "Never writes outside DEST, never follows links out of it.", _extract_args),
    "app": ("open the explorer (the default); two IMAGEs open their comparison", None, _app_args),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for every command, or, given the command about to run, for
    that one alone: a parser with all seven costs 3 ms of a small image's
    70 (an ArgumentParser and a gettext lookup per command and argument)."""
    p = _Parser(prog="layerscope",
                description="Explore container images: what each layer added, changed and deleted, the merged "
                            "view, shadowed files and wasted bytes.  Without a command, opens the explorer "
                            "(with no IMAGE, on a bundled demo image; with two, on their comparison -- each "
                            "IMAGE may be ARCHIVE@REF for one image of an archive).")
    p.add_argument("--version", action="version", version=f"layerscope {__version__}")
    # prog given: argparse would otherwise build a HelpFormatter to compute it,
    # which imports shutil (and bz2, lzma) on every run
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, prog=p.prog)
    for name, (help_, description, add_args) in _COMMAND_PARSERS.items():
        if command is None or name == command:
            kw = {"description": description} if description else {}
            add_args(sub.add_parser(name, help=help_, **kw))
    return p


# -- loading -------------------------------------------------------------
def load(archives: list[str], ref: str | None, plat: str | None, verify: bool = False, use_cache: bool = True):
    from .formats.source import open_graph
    from .layers.indexing import index_layers

    graph = open_graph(archives, plat)
    image = graph.pick(ref)
    index_layers(graph, layers=image.layers, use_cache=use_cache and not verify)
    for L, layer in enumerate(image.layers):
        if layer.error:
            raise ImageError(layer.error)
    if verify:
        from .layers.verify import verify_layers

        problems = verify_layers(image.layers)
        if problems:
            raise ImageError("verification failed: " + "; ".join(problems))
    return graph, image


def analyse_image(graph, image, base):
    from .analysis import analyse

    if base is not None and base < 0:
        raise UsageError("--base must be 0 or more")
    return analyse(graph, image, base)


# -- commands ------------------------------------------------------------
def _console():
    from rich.console import Console

    import shutil

    width = None if sys.stdout.isatty() else max(shutil.get_terminal_size((140, 40)).columns, 140)
    return Console(highlight=False, markup=False, emoji=False, soft_wrap=False, width=width)


def cmd_report(args) -> int:
    from .views.jsondoc import report_doc

    graph, image = load(args.archives, args.image, args.platform, args.verify, not args.no_cache)
    a = analyse_image(graph, image, args.base)
    if args.json:
        doc = report_doc(graph, a, args.top if args.top is not None else 100)
        if len(graph.images) > 1 or len(args.archives) > 1:
            from .analysis.sharing import sharing_doc
            from .layers.indexing import index_layers

            index_layers(graph, use_cache=not args.no_cache)
            doc["sharing"] = sharing_doc(graph)
        json.dump(doc, sys.stdout, ensure_ascii=True)
        sys.stdout.write("\n")
    else:
        from .views.text import render_report

        con = _console()
        render_report(con, graph, a, args.top if args.top is not None else 10)
        if len(graph.images) > 1 or len(args.archives) > 1:
            from .analysis.sharing import render_sharing
            from .layers.indexing import index_layers

            index_layers(graph, use_cache=not args.no_cache)
            con.print()
            render_sharing(con, graph)
    return 0


def _layer_arg(n: int | None, count: int) -> int:
    if n is None:
        return count - 1
    L = n + count if n < 0 else n
    if not 0 <= L < count:
        raise UsageError(f"--layer {n} is out of range: the image has {count} layers (0 to {count - 1})")
    return L


def cmd_ls(args) -> int:
    from .analysis.tree import S_DELETED, build_changes_tree
    from .errors import one_line as esc
    from .units import human, mode_string
    from .views.jsondoc import entry_doc, status_change

    graph, image = load([args.archive], args.image, args.platform, args.verify, not args.no_cache)
    a = analyse_image(graph, image, args.base)
    L = _layer_arg(args.layer, a.stack.n)
    out = sys.stdout
    rows = []
    if args.changes:
        t = build_changes_tree(a.stack, a.kinds, L)
        for n in range(1, len(t)):
            change, kind = status_change(t.status[n])
            ref = t.ref(n)
            p = t.path(n).lstrip("/")
            if ref is None and a.stack.implied.get(p, (None,))[0] == L:
                change = "added"  # a parent directory this layer implied into existence
            if change == "unchanged":
                continue  # a directory listed again, or an implied parent that existed: not a change
            if ref is None:
                d = entry_doc(a, p, L, -1, change)
            else:
                d = entry_doc(a, p, ref[0], ref[1], change)
                if t.status[n] == S_DELETED:
                    d["layer"] = L
                    d["deleted_layer"] = ref[0]
            if kind:
                d["kind"] = kind
            rows.append(d)
        rows.sort(key=lambda d: d["path"])
    else:
        items = sorted(a.stack.visible_at(L))
        rows = [entry_doc(a, p, l, i) for p, l, i in items]
    if args.json:
        for d in rows:
            out.write(json.dumps(d, ensure_ascii=True))
            out.write("\n")
        return 0
    tchar = {"dir": "d", "symlink": "l", "hardlink": "h", "char": "c", "block": "b", "fifo": "p"}
    for d in rows:
        mode = mode_string(d["mode"], tchar.get(d["type"], "-"))
        line = f"{mode} {d['uid']:>5}:{d['gid']:<5} {human(d['size']):>9}  L{d['layer']:<3} "
        if args.changes:
            ch = d["change"] + ("/" + d["kind"] if d.get("kind") else "")
            line += f"{ch:<22} "
        line += esc(d["path"], 100_000)
        if d.get("link"):
            line += (" -> " if d["type"] == "symlink" else " link to ") + esc(d["link"], 100_000)
        out.write(line + "\n")
    return 0


def cmd_history(args) -> int:
    from .units import human, mode_string
    from .views.jsondoc import entry_brief

    graph, image = load([args.archive], args.image, args.platform, args.verify, not args.no_cache)
    a = analyse_image(graph, image, args.base)
    path = "/" + args.path.strip("/")
    events = a.history(path)
    shadows = a.shadows(path)
    ref = a.visible_ref(path)
    if not events and ref is None:
        raise ImageError(f"no layer of the image touches {path!r}")
    visible = entry_brief(a.layers[ref[0]].entries.entry(ref[1]), ref[0]) if ref else None
    if args.json:
        json.dump({
            "path": path,
            "visible": visible,
            "events": [{"layer": ev.layer, "action": ev.action, "detail": ev.detail or None,
                        "created_by": a.created_by(ev.layer) or None,
                        "entry": entry_brief(ev.entry, ev.layer) if ev.entry else None} for ev in events],
            "hidden": [{"layer": sh.layer, "hidden_at": sh.hidden_at, "how": sh.how, "wasted_bytes": sh.bytes,
                        "entry": entry_brief(sh.entry, sh.layer)} for sh in shadows],
        }, sys.stdout, ensure_ascii=True)
        sys.stdout.write("\n")
        return 0
    from .model import pretty_step

    out = sys.stdout
    out.write(one_line(path, 100_000) + "\n")
    for ev in events:
        line = f"  layer {ev.layer:<3} {ev.action:<14}"
        if ev.entry is not None:
            e = ev.entry
            tc = {"dir": "d", "symlink": "l", "hardlink": "h", "char": "c", "block": "b", "fifo": "p"}
            line += f" {mode_string(e.mode, tc.get(e.type_name, '-'))} {e.uid}:{e.gid} {human(e.size):>9} {e.type_name}"
        if ev.detail:
            line += f" ({ev.detail})"
        step = pretty_step(a.created_by(ev.layer))
        if step:
            line += "  ← " + one_line(step, 200)
        out.write(line + "\n")
    if ref:
        out.write(f"  visible: the copy from layer {ref[0]}\n")
    else:
        out.write("  not in the final image\n")
    for sh in shadows:
        out.write(f"  hidden:  layer {sh.layer}'s copy, {sh.how} by layer {sh.hidden_at}"
                  f"{', wastes ' + human(sh.bytes) if sh.bytes else ''}\n")
    return 0


def cmd_check(args) -> int:
    from .dive_ci import evaluate, load_rules

    rules = load_rules(args)
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


def cmd_diff(args) -> int:
    from .analysis.diff import run_diff

    return run_diff(args)


def cmd_extract(args) -> int:
    from .extract import ExtractError, extract_paths

    graph, image = load([args.archive], args.image, args.platform, args.verify, not args.no_cache)
    a = analyse_image(graph, image, args.base)
    L = _layer_arg(args.layer, a.stack.n)
    try:
        result = extract_paths(a, L, args.paths, args.output, overwrite=args.force, keep_setuid=args.keep_setuid)
    except ExtractError as e:
        raise ImageError(str(e)) from None
    print(f"extracted {result.files} files, {result.dirs} directories, {result.links} links "
          f"({result.bytes:,} bytes) into {one_line(args.output)}")
    for w in result.skipped[:50]:
        print(one_line("skipped: " + w), file=sys.stderr)
    return 0


def cmd_app(args) -> int:
    from .app import run_app

    archives = list(args.archives)
    if not archives:

        archives = [DEMO_IMAGE]
    return run_app(archives, image=args.image, platform=args.platform, base=args.base)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv = ["app", *argv]
    try:
        args = build_parser(argv[0] if argv[0] in COMMANDS else None).parse_args(argv)
        if getattr(args, "no_cache", False):
            os.environ["LAYERSCOPE_CACHE"] = "off"
        handler = {"report": cmd_report, "ls": cmd_ls, "history": cmd_history, "check": cmd_check, "diff": cmd_diff,
                   "extract": cmd_extract, "app": cmd_app}[args.command]
        return handler(args)
    except UsageError as e:
        print(f"layerscope: usage error: {one_line(str(e))} (see layerscope --help)", file=sys.stderr)
        return 2
    except ImageError as e:
        print(f"layerscope: error: {e.line()}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except KeyboardInterrupt:
        print("layerscope: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("layerscope: error: out of memory", file=sys.stderr)
        return 2
    except Exception as e:  # a bug: still one line, unless asked for the traceback
        if os.environ.get("LAYERSCOPE_DEBUG"):
            raise
        print(f"layerscope: error: internal error: {one_line(type(e).__name__ + ': ' + str(e))} "
              "(set LAYERSCOPE_DEBUG=1 for a traceback)", file=sys.stderr)
        return 2
    finally:
        from .formats.source import cleanup_spooled

        cleanup_spooled()


def run() -> None:
    """The `layerscope` command: main(), then exit without tearing the
    interpreter down.  Freeing every object of a big index one by one is work
    nobody waits for (5 ms of a one-layer image's 85, seconds after the
    explorer has shown a million entries): everything this process wrote is
    already closed -- cache files are renamed into place, worker pools are
    shut down, spooled input is removed in main() -- so only the standard
    streams need flushing."""
    rc = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: main() reported what it could
            pass
    os._exit(rc if isinstance(rc, int) else 1)


if __name__ == "__main__":  # pragma: no cover
    run()
