"""Command line: `layerscope [IMAGE...]` opens the explorer; `report`, `ls`,
`history`, `packages`, `check`, `diff`, `extract` are the scriptable commands.

This module is the dispatcher: it builds the parser of the command about to
run and imports that command's module (layerscope.cli.<module>) only then.

Exit status: 0 ok, 1 a check failed / images differ, 2 an error (one line on
stderr, never a traceback; LAYERSCOPE_DEBUG=1 shows one for bug reports).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .. import __version__
from ..errors import ImageError, Terminated, one_line
from .common import UsageError

# the signal that ended main(), for run() to end the process by
_signalled: int | None = None

COMMANDS = ("report", "ls", "history", "packages", "check", "diff", "extract", "app")


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


def _tls_verify(text: str) -> bool:
    v = text.lower()
    if v in ("true", "1", "yes", "on"):
        return True
    if v in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def _add_tls(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tls-verify", type=_tls_verify, default=None, metavar="BOOL",
                   help="check registries' TLS certificates (default true); false also allows plain http")


def _add_common(p: argparse.ArgumentParser, many: bool = False) -> None:
    if many:
        p.add_argument("archives", nargs="+", metavar="IMAGE",
                       help="image archive(s): a docker/podman save tar, an OCI archive or directory, "
                            "'-' for standard input, podman://REF or docker://REF, or an image in a registry "
                            "(HOST/NAME:TAG, registry://REF)")
    else:
        p.add_argument("archive", metavar="IMAGE",
                       help="an image archive: docker/podman save tar, OCI archive or directory, "
                            "'-' for standard input, podman://REF or docker://REF, or an image in a registry "
                            "(HOST/NAME:TAG, registry://REF)")
    p.add_argument("--image", metavar="REF", help="which image, when the archive holds several (tag or digest)")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="which platform of a multi-platform image")
    p.add_argument("--base", type=int, metavar="N",
                   help="the first N layers are the base image (default 1, as dive): their waste is not the user's")
    p.add_argument("--verify", action="store_true",
                   help="check every blob against its digest and every layer against its diff_id (reads all bytes)")
    p.add_argument("--no-cache", action="store_true",
                   help="do not read or write the layer index cache (nor keep a registry's blobs)")
    _add_tls(p)


def _report_args(r: argparse.ArgumentParser) -> None:
    _add_common(r, many=True)
    r.add_argument("--json", action="store_true", help="machine-readable output (see README: JSON contract)")
    r.add_argument("--top", type=int, default=None, metavar="N",
                   help="how many wasted paths and findings to list (default 10); with --json, how many "
                        "wasted paths and paths of each finding (default 100)")
    r.add_argument("--squash", action="append", metavar="I..J",
                   help="what squashing layers I..J into one would save (repeatable; default: each run of "
                        "layers that hide each other's bytes)")
    r.add_argument("--dockerfile", action="store_true",
                   help="print the build history as a Dockerfile, each step annotated with the bytes it added "
                        "and hid and its findings")


def _ls_args(ls: argparse.ArgumentParser) -> None:
    _add_common(ls)
    ls.add_argument("--layer", type=int, metavar="N", help="layer index (0 = bottom; negative counts from the top)")
    ls.add_argument("--changes", action="store_true", help="only layer N's own changes, with their kind")
    ls.add_argument("--sort", choices=("name", "size"), default="name",
                    help="by path (default) or biggest first (then by path)")
    ls.add_argument("--top", type=int, default=None, metavar="N", help="only the first N entries (after --sort)")
    ls.add_argument("--json", action="store_true", help="JSON lines, one object per entry (--format json)")
    ls.add_argument("--format", choices=("text", "json", "csv"), default=None,
                    help="text (default), json (JSON lines) or csv (a header row, then one row per entry)")


def _history_args(h: argparse.ArgumentParser) -> None:
    _add_common(h)
    h.add_argument("path", metavar="PATH", help="an absolute path in the image, e.g. /etc/passwd")
    h.add_argument("--json", action="store_true", help="machine-readable output")


def _packages_args(p: argparse.ArgumentParser) -> None:
    _add_common(p)
    p.add_argument("--layer", type=int, metavar="N", help="the view at layer N (0 = bottom; negative counts from the top)")
    p.add_argument("--layers", action="store_true", help="also what each layer added, upgraded and removed, "
                                                         "and the bytes no package owns")
    p.add_argument("--top", type=int, default=None, metavar="N", help="only the N biggest packages (text output)")
    p.add_argument("--json", action="store_true", help="JSON lines: one per package, then one per layer with --layers")


def _check_args(c: argparse.ArgumentParser) -> None:
    _add_common(c)
    c.add_argument("--ci-config", metavar="FILE", help="a .dive-ci YAML file with a `rules:` map")
    c.add_argument("--lowest-efficiency", metavar="RATIO", help="fail when efficiency is below this (0-1)")
    c.add_argument("--highest-wasted-bytes", metavar="SIZE", help="fail when wasted bytes exceed this (e.g. 20MB)")
    c.add_argument("--highest-user-wasted-percent", metavar="RATIO",
                   help="fail when wasted bytes / the bytes the user's layers add exceeds this (dive's figure, "
                        "with the true waste)")
    c.add_argument("--max-finding-bytes", action="append", metavar="KIND=SIZE",
                   help="fail when the user's findings of KIND (or all) exceed SIZE, e.g. package-cache=10MB "
                        "(repeatable)")
    c.add_argument("--json", action="store_true", help="machine-readable results")


def _diff_args(d: argparse.ArgumentParser) -> None:
    d.add_argument("a", metavar="A", help="ARCHIVE or ARCHIVE@REF; REF is a tag, a digest (prefix) or an "
                                           "OS/ARCH platform, e.g. img.tar@linux/arm64")
    d.add_argument("b", metavar="B", help="the same for the other side")
    d.add_argument("--platform", metavar="OS/ARCH[/VARIANT]")
    d.add_argument("--json", action="store_true")
    d.add_argument("--no-cache", action="store_true")
    _add_tls(d)
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
    a.add_argument("--theme", metavar="NAME", help="a Textual theme, e.g. textual-light (ctrl+p lists them)")
    a.add_argument("--no-mouse", action="store_true", help="leave the mouse to the terminal (to select text)")
    a.add_argument("--config", metavar="FILE", help="settings file (default $XDG_CONFIG_HOME/layerscope/config.toml)")
    _add_tls(a)


# command: (help in the command list, description on its own help page, its arguments)
_COMMAND_PARSERS = {
    "report": ("summary of an image: layers, sizes, changes, waste",
               "Print the image, one row per build step, totals, findings (what the build could save, with "
               "a fix for each) and the biggest wasted paths.", _report_args),
    "ls": ("list the merged view at a layer, or one layer's changes",
           "List every path of the merged (union) view at layer N (default: the top), "
           "or with --changes only what layer N added, modified and deleted; "
           "--sort size --top N lists the N biggest.", _ls_args),
    "history": ("which layers touched a path, and what hides what",
                "For one path: every layer that added, modified or deleted it (bottom up), "
                "the copy visible at the top, and the hidden copies with the layer that hid "
                "each and the bytes it costs.", _history_args),
    "packages": ("which packages an image holds, and their real bytes per layer",
                 "List the packages (dpkg, apk, rpm, Python, npm) of the merged view at layer N (default: the "
                 "top), biggest first: the layer that installed each, the bytes of its files, the bytes its "
                 "earlier copies leave hidden below.  Nothing in the image is run.", _packages_args),
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
    that one alone: every command's parser is an ArgumentParser and a gettext
    lookup per argument, a visible share of a short run's start-up."""
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


# command -> the module under layerscope.cli that runs it, imported only
# when that command runs (start-up time is part of every scripted call)
_COMMAND_MODULES = {"report": "report", "ls": "ls", "history": "history", "packages": "packages", "check": "check",
                    "diff": "diff", "extract": "extract", "app": "explore"}


def main(argv: list[str] | None = None) -> int:
    global _signalled
    _signalled = None
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
            if argv and not argv[0].startswith("-"):
                _not_a_command(argv[0])
            argv = ["app", *argv]
        args = build_parser(argv[0] if argv[0] in COMMANDS else None).parse_args(argv)
        if getattr(args, "no_cache", False):
            os.environ["LAYERSCOPE_CACHE"] = "off"
        if getattr(args, "tls_verify", None) is not None:
            os.environ["LAYERSCOPE_TLS_VERIFY"] = "true" if args.tls_verify else "false"
        module = importlib.import_module(f"{__name__}.{_COMMAND_MODULES[args.command]}")
        return module.run(args)
    except UsageError as e:
        print(f"layerscope: usage error: {one_line(str(e))} (see layerscope --help)", file=sys.stderr)
        return 2
    except ImageError as e:
        print(f"layerscope: error: {e.line()}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return _closed_pipe()
    except KeyboardInterrupt:
        print("layerscope: interrupted", file=sys.stderr)
        return 130
    except Terminated as e:  # SIGTERM or SIGHUP: the spooled input is already gone
        _signalled = e.signum
        return 128 + e.signum
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
        from ..formats.source import release_spooled

        release_spooled()


def _not_a_command(word: str) -> None:
    """A first argument that is no command opens the explorer on it, unless
    it names nothing: then it is most likely a mistyped command."""
    from ..formats.source import is_registry, split_spec

    if "://" in word or os.path.exists(split_spec(word)[0]) or is_registry(split_spec(word)[0]):
        return
    import difflib

    close = difflib.get_close_matches(word, [c for c in COMMANDS if c != "app"], n=1, cutoff=0.6)
    if close:
        raise UsageError(f"unknown command {word!r}: did you mean {close[0]}?")
    if "/" in word or "." in word:
        raise ImageError("no such file", split_spec(word)[0])
    raise UsageError(f"{word!r} is neither a command ({', '.join(c for c in COMMANDS if c != 'app')}) "
                     f"nor an image archive that exists (for an image in a registry: {word}:latest or "
                     f"registry://{word})")


CLOSED_PIPE = 141  # what a shell reports for a command that SIGPIPE ended: never one of our results


def _closed_pipe() -> int:
    """The reader of stdout went away: nothing more can be said there, and
    the status must not be one that means a result."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())  # the unflushed rest goes nowhere, quietly
        os.close(fd)
    except (OSError, ValueError):
        pass
    return CLOSED_PIPE


def run() -> None:
    """The `layerscope` command: main(), then exit without tearing the
    interpreter down.  Freeing every object of a big index one by one is work
    nobody waits for (seconds after the explorer has shown a million
    entries): everything this process wrote is
    already closed -- cache files are renamed into place, worker pools are
    shut down, spooled input is removed in main() -- so only the standard
    streams need flushing."""
    global _signalled
    try:
        rc = main()
    except Terminated as e:  # arrived during main()'s own cleanup, which the handler finished
        rc, _signalled = 128 + e.signum, e.signum
    except KeyboardInterrupt:
        rc = 130
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the output was still buffered when the reader left
        rc = _closed_pipe()
    except (OSError, ValueError):
        pass
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    if _signalled is not None:  # end as the signal would have, so that the caller sees it
        import signal

        signal.signal(_signalled, signal.SIG_DFL)
        os.kill(os.getpid(), _signalled)
    os._exit(rc if isinstance(rc, int) else 1)


if __name__ == "__main__":  # pragma: no cover
    run()
