"""The explorer's settings: `$XDG_CONFIG_HOME/layerscope/config.toml` (or
`~/.config/layerscope/config.toml`), overridden by command-line options.

    theme = "textual-light"     # any theme the palette's "Change theme" lists
    mouse = false               # leave the mouse to the terminal (select text, scroll)
    sort = "size"               # the file tree's first sort: name | size
    mode = "merged"             # the file tree's first view: changes | merged
    bars = "parent"             # size bars: share of the layer/image (tree) | of the directory (parent)
    [keys]
    jump = "ctrl+f"             # a key id (see keys.py / README) = Textual key names, comma-separated

No textual here: the CLI reads and checks the file before the app starts,
so a mistake is one line on stderr, not a broken screen."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import ImageError

MAX_CONFIG = 64 << 10  # a settings file is a few lines


@dataclass
class Settings:
    theme: str | None = None
    mouse: bool = True
    sort: str = "name"
    mode: str = "changes"
    bars: str = "tree"  # size bars: share of the whole tree (tree) or of the directory (parent)
    keys: dict[str, str] = field(default_factory=dict)  # key id -> Textual key string
    path: str | None = None  # the file they came from, if any


def config_path() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "layerscope", "config.toml")


def load(path: str | None = None, key_ids: set[str] | None = None) -> Settings:
    """The settings in `path` (default: config_path(); a missing default file
    means the defaults).  ImageError, naming the file, on anything wrong."""
    import tomllib

    explicit = path is not None
    path = path or config_path()
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG + 1)
    except FileNotFoundError:
        if explicit:
            raise ImageError("no such file", path) from None
        return Settings()
    except OSError as e:
        raise ImageError(f"cannot read it ({e.strerror or e})", path) from None
    if len(raw) > MAX_CONFIG:
        raise ImageError(f"a settings file of more than {MAX_CONFIG >> 10} KiB", path)
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ImageError(f"not valid TOML ({e})", path) from None
    s = Settings(path=path)
    for k, v in doc.items():
        if k == "theme":
            s.theme = _str(v, k, path)
        elif k == "mouse":
            if not isinstance(v, bool):
                raise ImageError("mouse must be true or false", path)
            s.mouse = v
        elif k in ("sort", "mode", "bars"):
            allowed = {"sort": ("name", "size"), "mode": ("changes", "merged"), "bars": ("tree", "parent")}[k]
            if v not in allowed:
                raise ImageError(f"{k} must be one of {', '.join(allowed)} (not {v!r})", path)
            setattr(s, k, v)
        elif k == "keys":
            if not isinstance(v, dict):
                raise ImageError("[keys] must be a table of key id = \"keys\"", path)
            for kid, keys in v.items():
                if key_ids is not None and kid not in key_ids:
                    raise ImageError(f"[keys] has no key id {kid!r} (ids: {', '.join(sorted(key_ids))})", path)
                s.keys[kid] = _str(keys, f"keys.{kid}", path)
        else:
            raise ImageError(f"unknown setting {k!r} (theme, mouse, sort, mode, bars, [keys])", path)
    return s


def _str(v, name: str, path: str) -> str:
    if not isinstance(v, str) or not v or len(v) > 200:
        raise ImageError(f"{name} must be a short string", path)
    return v
