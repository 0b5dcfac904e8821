"""The build history as a Dockerfile: each history step's created_by turned
back into the instruction that made it, with what the step's layer added,
what it hid, and the findings it stored or caused.

created_by comes in the forms the builders write:
  * docker (classic): `/bin/sh -c #(nop)  ENV A=1`, `/bin/sh -c #(nop) COPY
    file:<hash> in /dst `, `/bin/sh -c apt-get ...` (a RUN), `CMD ["a" "b"]`;
  * buildkit: `RUN /bin/sh -c cmd # buildkit`, `COPY src /dst # buildkit`,
    `|2 A=1 B=2 /bin/sh -c cmd` (a RUN with build args);
  * buildah and kaniko: the instruction itself (`RUN cmd`, `ADD x /y`), or the
    docker forms.
"""

from __future__ import annotations

import re

from ..model import Record, pretty_step

INSTRUCTIONS = ("FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
                "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL")
# a build step can be megabytes: an instruction keeps this much of it (report --json has it whole)
MAX_STEP = 100_000

_SHELLS = ("/bin/sh -c ", "/bin/bash -c ")
_NOP_COPY = re.compile(r"^(ADD|COPY) (?:(file|dir|multi):([0-9a-f]{12})[0-9a-f]*|(\S+)) in (\S+)\s*$")
_DOCKER_ARRAY = re.compile(r'^\[(?:"(?:[^"\\]|\\.)*"(?: |(?=\])))*\]$')
_WORD = re.compile(r'"((?:[^"\\]|\\.)*)"')


def instruction(created_by: str) -> str:
    """The Dockerfile instruction of a created_by, e.g. `RUN apt-get update`;
    '' when the step says nothing (no history)."""
    s = pretty_step(created_by[:MAX_STEP]).strip()
    if not s:
        return ""
    for shell in _SHELLS:  # a buildkit RUN with build args: `|2 A=1 B=2 /bin/sh -c cmd`
        if s.startswith(shell):
            return "RUN " + s[len(shell):].lstrip()
    if s.startswith("RUN "):
        rest = s[4:].lstrip()
        for shell in _SHELLS:  # buildkit keeps the shell: RUN /bin/sh -c cmd
            if rest.startswith(shell):
                rest = rest[len(shell):]
                break
        return "RUN " + rest
    word, _, rest = s.partition(" ")
    if word.upper() not in INSTRUCTIONS:
        return "RUN " + s  # a bare command (some builders write the shell's argument only)
    word = word.upper()
    m = _NOP_COPY.match(s)
    if m:  # docker's `COPY file:<hash> in /dst`: the source is a hash of the files copied
        src = f"<{m.group(2)}:{m.group(3)}…>" if m.group(2) else m.group(4)
        return f"{m.group(1)} {src} {m.group(5)}"
    if word in ("CMD", "ENTRYPOINT", "SHELL", "VOLUME") and _DOCKER_ARRAY.match(rest.strip()):
        # docker writes a JSON array without commas: ["nginx" "-g" "daemon off;"]
        words = _WORD.findall(rest)
        return f"{word} [" + ", ".join(f'"{w}"' for w in words) + "]"
    return f"{word} {rest}".rstrip()


class Step(Record):
    """One history step as a Dockerfile instruction, with its layer's bytes."""

    __slots__ = ("step", "layer", "instruction", "created_by", "bytes_added", "bytes_hidden", "stored", "hid",
                 "base")

    def __init__(self, step: int, layer: int | None, instruction: str, created_by: str, bytes_added: int = 0,
                 bytes_hidden: int = 0, stored: list | None = None, hid: list | None = None, base: bool = False):
        self.step = step
        self.layer = layer  # None for a step without a layer (ENV, CMD ...)
        self.instruction = instruction
        self.created_by = created_by
        self.bytes_added = bytes_added  # file bytes its layer stores
        self.bytes_hidden = bytes_hidden  # bytes of earlier copies its layer hid (or its tar stored twice)
        self.stored = stored or []  # findings whose bytes it stored
        self.hid = hid or []  # findings whose bytes it hid (fixed_by), stored by an earlier step
        self.base = base


def hidden_by_layer(a) -> list[int]:
    """Per layer: the bytes of copies it hid (its own tar's duplicates too)."""
    from .ledger import hidden_pairs

    st = a.stack
    out = [0] * st.n
    for (_, H, _), n in hidden_pairs(a).items():
        out[H] += n
    for L, layer in enumerate(st.layers):
        out[L] += sum(n for _, n in layer.entries.dropped)
    return out


def steps(a) -> list[Step]:
    """Every history step (or, without a history that fits, every layer)."""
    hid = hidden_by_layer(a)
    stored: dict[int, list] = {}
    caused: dict[int, list] = {}
    for f in a.findings():
        stored.setdefault(f.layer, []).append(f)
        if f.fixed_by is not None and f.fixed_by != f.layer:
            caused.setdefault(f.fixed_by, []).append(f)
    base = a.waste.base_layers
    out = []
    for row in a.layer_rows():
        L = row.index
        ins = instruction(row.created_by or "")
        if L is None:
            out.append(Step(row.step, None, ins, row.created_by or ""))
            continue
        out.append(Step(row.step, L, ins, row.created_by or "", a.waste.layer_bytes[L], hid[L],
                        stored.get(L, []), caused.get(L, []), L < base))
    return out
