"""`report --dockerfile`: the build history as a Dockerfile, each step with
comments saying what its layer added, what it hid and its findings.  Every
line goes through one_line(): a build step is data and never reaches the
terminal as a control character."""

from __future__ import annotations

from ..analysis import ImageAnalysis
from ..analysis.dockerfile import Step
from ..errors import one_line
from ..units import human

COMMENT, INSTRUCTION = "comment", "instruction"
# a line of a reconstructed step keeps this many characters (report --json has the step whole)
LINE_CHARS = 10_000


def _instruction_lines(ins: str) -> list[str]:
    """An instruction as Dockerfile lines: a step written over several lines
    continues each with a backslash."""
    parts = ins.split("\n")
    return [one_line(p, LINE_CHARS) + (" \\" if k < len(parts) - 1 else "") for k, p in enumerate(parts)]


def _note(s: Step) -> str:
    what = f"layer {s.layer}" + (" (base image)" if s.base else "")
    note = f"# {what}: {human(s.bytes_added)} added"
    if s.bytes_hidden:
        note += f", hid {human(s.bytes_hidden)} stored before"
    return note


def step_lines(s: Step) -> list[tuple[str, str]]:
    """(kind, text) lines of one step: its comments, then its instruction."""
    out: list[tuple[str, str]] = []
    if s.layer is not None:
        out.append((COMMENT, _note(s)))
        for f in s.stored:
            by = f" (hidden by layer {f.fixed_by})" if f.fixed_by is not None and f.fixed_by != s.layer else ""
            out.append((COMMENT, one_line(f"#   {f.kind} {human(f.bytes)}{by}: {f.fix}", LINE_CHARS)))
        for f in s.hid:
            out.append((COMMENT, one_line(f"#   {f.kind} {human(f.bytes)} of layer {f.layer}, hidden here", LINE_CHARS)))
    if not s.instruction:
        out.append((COMMENT, "# (no build step recorded)"))
    elif s.base:
        out.extend((COMMENT, "# " + line) for line in _instruction_lines(s.instruction))
    else:
        out.extend((INSTRUCTION, line) for line in _instruction_lines(s.instruction))
    return out


def dockerfile_lines(a: ImageAnalysis) -> list[tuple[str, str]]:
    """The whole Dockerfile as (kind, text) lines: the base image's steps
    commented out under FROM (they are its build, not this one's)."""
    im = a.image
    ref = im.refs[0] if im.refs else im.name
    out = [(COMMENT, one_line(f"# {ref}: the build reconstructed from the image's history by layerscope", LINE_CHARS)),
           (COMMENT, "# (ADD and COPY sources are not in an image: docker names them by a hash of their files)")]
    base = a.waste.base_layers
    out.append((INSTRUCTION, "FROM scratch" if base == 0 else "FROM <base image>"))
    for s in a.dockerfile_steps():
        out.append((COMMENT, ""))
        out.extend(step_lines(s))
    return out


def render_dockerfile(a: ImageAnalysis) -> str:
    return "".join(text + "\n" for _, text in dockerfile_lines(a))


def dockerfile_doc(a: ImageAnalysis) -> dict:
    """`report --dockerfile --json`."""
    return {
        "steps": [
            {"step": s.step, "layer": s.layer, "instruction": s.instruction or None, "created_by": s.created_by,
             "base": s.base, "bytes_added": s.bytes_added, "bytes_hidden": s.bytes_hidden,
             "findings": [{"kind": f.kind, "layer": f.layer, "fixed_by": f.fixed_by, "bytes": f.bytes}
                          for f in s.stored + s.hid]}
            for s in a.dockerfile_steps()
        ],
        "dockerfile": render_dockerfile(a),
    }
