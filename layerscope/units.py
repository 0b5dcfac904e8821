"""Byte sizes for people (SI units, as dive prints them) and for rules files."""

from __future__ import annotations

import re

_UNITS = ["B", "kB", "MB", "GB", "TB", "PB"]
_PARSE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtTpP]?)(i?)([bB]?)\s*$")


def human(n: int | float) -> str:
    n = float(n)
    for u in _UNITS:
        if abs(n) < 1000 or u == _UNITS[-1]:
            return f"{int(n)} {u}" if u == "B" else f"{n:.1f} {u}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover


def plural(n: int, noun: str, many: str | None = None) -> str:
    """'1 layer', '2 layers', '1,024 files' (`many` for irregular plurals: 'directories')."""
    return f"{n:,} {noun if n == 1 else (many or noun + 's')}"


def parse_bytes(text: str | int | float) -> int:
    """'20MB', '20Mb', '1.5 GiB', '300' -> bytes.  SI for kB/MB/GB (as dive),
    binary for KiB/MiB/GiB."""
    if isinstance(text, (int, float)):
        return int(text)
    m = _PARSE.match(str(text))
    if not m:
        raise ValueError(f"not a size: {text!r} (use e.g. 20MB, 1.5GiB or a number of bytes)")
    value, prefix, binary, _ = m.groups()
    power = "kmgtp".find(prefix.lower()) + 1 if prefix else 0
    base = 1024 if binary else 1000
    return int(float(value) * base ** power)


def mode_string(mode: int, type_char: str = "-") -> str:
    bits = "rwxrwxrwx"
    s = [bits[i] if mode & (1 << (8 - i)) else "-" for i in range(9)]
    if mode & 0o4000:
        s[2] = "s" if s[2] == "x" else "S"
    if mode & 0o2000:
        s[5] = "s" if s[5] == "x" else "S"
    if mode & 0o1000:
        s[8] = "t" if s[8] == "x" else "T"
    return type_char + "".join(s)
