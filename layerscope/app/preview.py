"""File content for the preview pane: highlighted text, or a hex dump for
binary data.  Pure functions (run in a thread worker); the content is
untrusted, so control characters are shown escaped, never sent to the terminal."""

from __future__ import annotations

from typing import NamedTuple

from rich.style import Style
from rich.text import Span, Text

from ..errors import UNSAFE, escaped

PREVIEW_CAP = 256 << 10  # bytes read for a preview
HEX_CAP = 64 << 10  # bytes shown as hex (4096 lines)
MAX_LINE = 2000  # cells shown of one text line


def is_binary(data: bytes) -> bool:
    head = data[:8192]
    if b"\0" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        # a multi-byte character cut at the end of the sample is still text
        if e.start < len(head) - 4:
            return True
    ctrl = sum(1 for b in head if b < 9 or 13 < b < 32)
    return ctrl > max(8, len(head) // 10)


def _fg_only(style) -> Style:
    st = Style.parse(style) if isinstance(style, str) else style
    return Style(color=st.color, bold=st.bold, italic=st.italic, underline=st.underline)


def text_lines(data: bytes, name: str, theme: str = "monokai", first_line: int = 1) -> list[Text]:
    code = data.decode("utf-8", "surrogateescape").expandtabs(4)
    code = "\n".join(UNSAFE.sub(escaped, ln.rstrip("\r"))[:MAX_LINE] for ln in code.split("\n"))
    if code.endswith("\n"):
        code = code[:-1]
    from rich.syntax import Syntax  # here, on first use: it loads pygments, slow to import

    try:
        lexer = Syntax.guess_lexer(name, code[:4096])
    except Exception:
        lexer = "text"
    try:
        syn = Syntax("", lexer, theme=theme)
        hl = syn.highlight(code)
        hl.style = ""  # keep the token colours, drop the theme's background
        hl.spans = [Span(sp.start, sp.end, _fg_only(sp.style)) for sp in hl.spans]
    except Exception:
        hl = Text(code)
    hl.rstrip()
    lines = hl.split("\n", allow_blank=True)
    width = len(str(len(lines) + first_line - 1))
    out = []
    for n, ln in enumerate(lines, first_line):
        t = Text(no_wrap=True)
        t.append(f" {n:>{width}} ", "dim")
        t.append_text(ln)
        t.no_wrap = True
        out.append(t)
    return out


def _printable(b: int) -> str:
    return chr(b) if 32 <= b < 127 else "."


def hex_lines(data: bytes, per_line: int = 16, start: int = 0) -> list[Text]:
    out = []
    for off in range(0, min(len(data), HEX_CAP), per_line):
        chunk = data[off:off + per_line]
        t = Text(no_wrap=True)
        t.append(f" {start + off:08x}  ", "dim")
        for j in range(per_line):
            if j < len(chunk):
                b = chunk[j]
                t.append(f"{b:02x} ", "dim" if b == 0 else ("cyan" if 32 <= b < 127 else ""))
            else:
                t.append("   ")
            if j == 7 and per_line > 8:
                t.append(" ")
        t.append(" |")
        t.append("".join(_printable(b) for b in chunk), "cyan")
        t.append("|")
        out.append(t)
    return out


def render(data: bytes, name: str, total: int, width: int = 80) -> tuple[list[Text], str]:
    """(lines, kind) for `data` (the first bytes of a `total`-byte file);
    a hex dump fits `width` cells (16 or 8 bytes a line)."""
    if not data:
        return [Text("(empty file)" if total == 0 else "(no content)", style="dim italic")], "empty"
    if is_binary(data):
        lines = hex_lines(data, 16 if width >= 78 else 8)
        shown = min(len(data), HEX_CAP)
        if shown < total:
            lines.append(Text(f"… showing the first {shown:,} of {total:,} bytes", style="dim italic"))
        return lines, "binary"
    lines = text_lines(data, name)
    if len(data) < total:
        lines.append(Text(f"… showing the first {len(data):,} of {total:,} bytes", style="dim italic"))
    return lines, "text"


class Part(NamedTuple):
    """One part of a file as the preview shows it."""

    lines: list[Text]
    kind: str  # "text", "binary" or "empty"
    start: int  # the first byte shown
    end: int  # just past the last byte shown: where the next part starts
    first_line: int  # the number of its first line (text)
    next_line: int  # the number of the next part's first line


def render_part(data: bytes, name: str, total: int, width: int = 80, start: int = 0, first_line: int = 1,
                kind: str | None = None) -> Part:
    """The part of a `total`-byte file that starts at byte `start` (`data`: up
    to PREVIEW_CAP bytes from there).  A text part ends at a line's end, so
    that no line is split between two parts and the line numbers go on; a
    hex dump shows HEX_CAP bytes.  The first part decides the `kind`."""
    if kind is None:
        if not data:
            return Part(render(data, name, total, width)[0], "empty", 0, 0, 1, 1)
        kind = "binary" if is_binary(data) else "text"
    if kind == "binary":
        shown = min(len(data), HEX_CAP)
        lines = hex_lines(data[:shown], 16 if width >= 78 else 8, start)
        first, nxt = first_line, first_line
    else:
        shown = len(data)
        if start + shown < total:
            cut = data.rfind(b"\n")
            if cut >= 0:
                shown = cut + 1
        lines = text_lines(data[:shown], name, first_line=first_line)
        first, nxt = first_line, first_line + data.count(b"\n", 0, shown)
    end = start + shown
    if start > 0:
        lines.insert(0, Text(f"… {start:,} bytes above: scroll up past the top for the part before",
                             style="dim italic"))
    if end < total:
        lines.append(Text(f"… showing bytes {start:,}–{end - 1:,} of {total:,}: scroll down past the end for the next "
                          "part", style="dim italic"))
    return Part(lines, kind, start, end, first, nxt)
