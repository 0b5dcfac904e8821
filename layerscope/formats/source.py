"""Where a source argument becomes a LayerGraph: a path to an archive or
an image layout directory, `-` (standard input), a named pipe,
`podman://REF` / `docker://REF` (saved by the engine), or an image in a
registry: `registry://REF`, or REF itself when no such path exists and it
reads as a reference with a host, namespace, tag or digest (formats/reference.py).
Loading has two phases so that a viewer can show something at once:
`open_graph` reads manifests and configs; `layers.indexing.index_layers`
walks the layer tars (fetching a registry's layers first)."""

from __future__ import annotations

import os
import stat
import sys

from ..errors import ImageError
from ..model import Image, Layer, LayerGraph
from . import read_container
from .container import open_container

# files this process created to hold input (spooled streams, engine saves):
# removed on every exit, a signal's included
_spooled: list[str] = []

# LAYERSCOPE_SPOOL_LIMIT: how much of a stream is copied before it is refused
SPOOL_LIMIT_ENV = "LAYERSCOPE_SPOOL_LIMIT"
DEFAULT_SPOOL_LIMIT = 16_000_000_000  # room for big real images, not for an endless stream
_NO_LIMIT = ("off", "0", "no", "none", "unlimited")
_CHUNK = 4 << 20

# signal handling while spooled files exist (see watch_signals)
_SIGNALS = ("SIGTERM", "SIGHUP", "SIGINT")
_saved_handlers: dict | None = None
_owner_pid = 0
_stop = None  # the front end's way to leave on a signal, when it has one
_closing = False  # a signal came or the run is ending: copying stops, no new spooled file may outlive the cleanup


def spool_limit() -> int | None:
    """The most bytes a stream may have (None: no limit but the disk)."""
    text = os.environ.get(SPOOL_LIMIT_ENV, "").strip()
    if not text:
        return DEFAULT_SPOOL_LIMIT
    if text.lower() in _NO_LIMIT:
        return None
    from ..units import parse_bytes

    try:
        return parse_bytes(text)
    except ValueError:
        raise ImageError(f"{SPOOL_LIMIT_ENV}={text!r} is not a size (use e.g. 32GB, 1.5GiB, a number of "
                         "bytes, or off)") from None


def _spool_stdin(src=None) -> str:
    """Copy a stream (standard input, or a named pipe such as bash's
    `<(...)`) to a temporary file: the readers need random access.  At most
    spool_limit() bytes; a stream that is longer, or a disk that fills up,
    is an ImageError and the partial copy is removed at once."""
    label = "<stdin>" if src is None else src
    limit = spool_limit()
    if src is None:
        try:
            fd_in = sys.stdin.fileno()
        except (AttributeError, ValueError, OSError):
            raise ImageError("standard input is closed", label) from None
    else:
        try:
            fd_in = os.open(src, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as e:
            raise ImageError(f"cannot open: {e.strerror}", label) from None
    try:
        fd, path = _new_spool_file("layerscope-stdin-", label)
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                _copy(fd_in, out, limit, label)
        except BaseException:
            _remove(path)
            raise
    finally:
        if src is not None:
            os.close(fd_in)
    return path


def _new_spool_file(prefix: str, label: str) -> tuple[int, str]:
    import tempfile

    watch_signals()
    mask = _block_signals()
    try:
        try:
            fd, path = tempfile.mkstemp(prefix=prefix, suffix=".tar")
        except OSError as e:
            raise ImageError(f"cannot create a temporary file in {tempfile.gettempdir()} to copy the input to: "
                             f"{e.strerror} (TMPDIR chooses another directory)", label) from None
        _spooled.append(path)  # with signals held: no handler runs between creating and recording it
    finally:
        _unblock_signals(mask)
    if _closing:  # a signal's cleanup ran while this thread created the file
        os.close(fd)
        _remove(path)
        raise ImageError("interrupted", label)
    return fd, path


def _copy(fd_in: int, out, limit: int | None, label: str) -> None:
    from ..units import human

    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    total = 0
    eof = False
    ready = _readiness(fd_in)
    while not eof:
        filled = 0
        while filled < _CHUNK:  # a pipe gives what it holds: gather a chunk per write
            _wait_readable(ready, label)
            try:
                n = os.readv(fd_in, [view[filled:]])
            except OSError as e:
                raise ImageError(f"cannot read: {e.strerror}", label) from None
            if not n:
                eof = True
                break
            filled += n
        if limit is not None and total + filled > limit:
            raise ImageError(f"the input is larger than {human(limit)}, the most layerscope copies from a "
                             f"stream (set {SPOOL_LIMIT_ENV}, e.g. to 64GB or off, to allow more)", label)
        done = 0
        try:
            while done < filled:  # the file is unbuffered: a write may take part of the chunk
                done += out.write(view[done:filled])
        except OSError as e:  # a full disk or quota: never assumed away
            import tempfile

            raise ImageError(f"cannot copy the input to {tempfile.gettempdir()}: {e.strerror} after "
                             f"{human(total + done)} (TMPDIR chooses another directory)", label) from None
        total += filled


def _readiness(fd: int):
    """A way to wait for `fd` to be readable, a quarter of a second at most."""
    import select

    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        return lambda: bool(poller.poll(250))
    return lambda: bool(select.select([fd], [], [], 0.25)[0])


def _wait_readable(ready, label: str) -> None:
    """Block until the input has data or its end, waking now and then: a
    thread (the explorer reads named pipes in one) cannot be interrupted by a
    signal, so it looks whether one came or the run is ending."""
    while not ready():
        if _closing:
            raise ImageError("interrupted", label)
    if _closing:
        raise ImageError("interrupted", label)


def _engine_save(engine: str, ref: str) -> str:
    import shutil
    import subprocess

    exe = shutil.which(engine)
    if exe is None:
        raise ImageError(f"{engine} is not installed, so {engine}://{ref} cannot be loaded")
    fd, path = _new_spool_file(f"layerscope-{engine}-", f"{engine}://{ref}")
    os.close(fd)
    os.unlink(path)  # the engine refuses to overwrite; the name stays recorded for cleanup
    args = [exe, "save", "-o", path, ref]
    if engine == "podman":
        args[2:2] = ["--format", "docker-archive"]
    try:
        r = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True)
    except BaseException:
        _remove(path)
        raise
    if r.returncode != 0:
        _remove(path)
        msg = (r.stderr.decode("utf-8", "replace").strip().splitlines() or ["failed"])[-1]
        raise ImageError(f"`{engine} save {ref}` failed: {msg}")
    return path


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
    try:
        _spooled.remove(path)
    except ValueError:  # a signal's cleanup took it meanwhile
        pass


def cleanup_spooled() -> None:
    """Remove every spooled file.  Safe to re-enter from a signal handler:
    a file leaves the list only after it is gone."""
    blobstore = sys.modules.get(f"{__package__.rsplit('.', 1)[0]}.layers.blobstore")  # only when a registry was read
    if blobstore is not None:
        blobstore.cleanup()
    while _spooled:
        _remove(_spooled[-1])


def stop_spooling() -> None:
    """The run is ending: a stream still being copied (in another thread)
    stops, so that leaving never waits for a stalled pipe."""
    global _closing
    _closing = True


def release_spooled() -> None:
    """At the end of a run: remove the spooled files, then give the signals
    back their previous handlers."""
    cleanup_spooled()
    unwatch_signals()


# ------------------------------------------------------------------ signals
# A spooled file can be gigabytes in $TMPDIR: SIGTERM, SIGHUP and SIGINT
# remove it at once, in the handler, and then end the run through the normal
# paths (Terminated or KeyboardInterrupt unwinds every `finally`; the explorer
# is asked to exit so that the terminal is restored).  SIGKILL cannot be
# caught.

def watch_signals(stop=None) -> None:
    """Install the handlers (from the main thread; elsewhere nothing is
    done, and the front end must have called this already).  `stop(signum)`,
    if given, is tried first and returns True when it arranged to leave."""
    global _saved_handlers, _owner_pid, _stop, _closing
    if stop is not None:
        _stop = stop
    if _saved_handlers is not None:
        return
    import signal

    saved = {}
    try:
        for name in _SIGNALS:
            if hasattr(signal, name):
                num = getattr(signal, name)
                saved[num] = signal.signal(num, _on_signal)
    except ValueError:  # not the main thread: signals cannot be handled from here
        for num, old in saved.items():
            signal.signal(num, old)
        return
    _saved_handlers = saved
    _owner_pid = os.getpid()
    _closing = False


def unwatch_signals() -> None:
    global _saved_handlers, _stop, _closing
    saved, _saved_handlers, _stop = _saved_handlers, None, None
    _closing = False
    if saved:
        import signal

        for num, old in saved.items():
            try:
                signal.signal(num, old)
            except (ValueError, TypeError):
                pass


def _on_signal(signum, frame) -> None:
    import signal

    from ..errors import Terminated

    old = (_saved_handlers or {}).get(signum, signal.SIG_DFL)
    if os.getpid() != _owner_pid:  # a forked worker: what it would have done without us
        if callable(old):
            return old(signum, frame)
        signal.signal(signum, old if old is not None else signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    global _closing
    _closing = True
    cleanup_spooled()
    if signum != signal.SIGINT:
        signal.signal(signum, signal.SIG_DFL)  # a second one ends the process at once
    if _stop is not None and _stop(signum):
        return
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def _block_signals():
    try:
        import signal

        nums = [getattr(signal, n) for n in _SIGNALS if hasattr(signal, n)]
        return signal.pthread_sigmask(signal.SIG_BLOCK, nums)
    except (AttributeError, OSError, ValueError):
        return None


def _unblock_signals(mask) -> None:
    if mask is not None:
        import signal

        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def resolve_source(src: str) -> tuple[str, str]:
    """(file path, label) for a source argument."""
    if src == "-":
        return _spool_stdin(), "<stdin>"
    for engine in ("podman", "docker"):
        prefix = engine + "://"
        if src.startswith(prefix):
            return _engine_save(engine, src[len(prefix):]), src
    try:
        mode = os.stat(src).st_mode
    except OSError:
        return src, src  # the container reports what is wrong
    if stat.S_ISFIFO(mode):
        return _spool_stdin(src), src
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
        raise ImageError("a device, not an image archive", src)
    return src, src


def is_registry(src: str) -> bool:
    """Whether a source argument names an image in a registry: `registry://REF`,
    or a reference (with a host, namespace, tag or digest) that is no path."""
    from .reference import explicit, implied

    if explicit(src):
        return True
    if src == "-" or "://" in src or os.path.lexists(src):
        return False
    return implied(src) is not None


def open_graph(sources: list[str], platform: str | None = None,
               platforms: dict[str, list[str]] | None = None) -> LayerGraph:
    """Read every source's manifests and configs into one graph (layers with
    the same diff_id become one node).  Layers are not indexed yet.
    `platforms` names, per registry source, the platforms to read of an
    index (SOURCE@OS/ARCH sides); else `platform`, else the host's."""
    layers: dict[str, Layer] = {}
    images: list[Image] = []
    for src in sources:
        if is_registry(src):
            from .registry import read_registry

            want = [p for p in [platform, *(platforms or {}).get(src, [])] if p]
            images.extend(read_registry(src, layers, want))
            continue
        path, label = resolve_source(src)
        c = open_container(path, label)
        images.extend(read_container(c, layers, label))
    if platform:
        picked = [im for im in images if im.platform.matches(platform)]
        if not picked:
            have = ", ".join(sorted({str(im.platform) for im in images}))
            raise ImageError(f"no image for platform {platform} (the archive has: {have})")
        images = picked
    used: dict[str, Layer] = {}
    for im in images:
        for layer in im.layers:
            used[layer.key] = layer
            if im not in layer.images:
                layer.images.append(im)
    return LayerGraph(images=images, layers=used, sources=list(sources))


def split_spec(spec: str) -> tuple[str, str | None]:
    """'ARCHIVE' or 'ARCHIVE@REF' -> (archive, ref or None).  A registry
    reference keeps its own '@DIGEST'; `REF@OS/ARCH` picks a platform of it."""
    if spec == "-" or os.path.exists(spec):
        return spec, None
    from .reference import explicit, implied

    at = spec.rfind("@")
    if at > 0 and not os.path.exists(spec[:at]) and (explicit(spec) or implied(spec[:at])) \
            and ":" not in spec[at + 1:] and "/" in spec[at + 1:]:
        return spec[:at], spec[at + 1:] or None  # host/repo:tag@linux/arm64
    if "://" in spec.split("@", 1)[0] or is_registry(spec):
        return spec, None
    at = len(spec)
    while True:
        at = spec.rfind("@", 0, at)
        if at <= 0:
            return spec, None
        if os.path.exists(spec[:at]):
            ref = spec[at + 1:]
            return spec[:at], (ref or None)
