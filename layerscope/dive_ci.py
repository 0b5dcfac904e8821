"""The CI gate: dive's `.dive-ci` rules, evaluated on our (correct) figures, and maxFindingBytes."""

from __future__ import annotations

import os

from .errors import ImageError
from .units import human, parse_bytes

RULES = ("lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent", "maxFindingBytes")
_OPTS = {"lowestEfficiency": "lowest_efficiency", "highestWastedBytes": "highest_wasted_bytes",
         "highestUserWastedPercent": "highest_user_wasted_percent"}
# maxFindingBytes: KIND=SIZE limits the bytes of one kind of finding in the user's layers; `all` every kind
FINDING_RULE = "maxFindingBytes"
ALL_KINDS = "all"
# A rules file is a few lines: anything bigger is refused whole, since reading
# only its start could drop a rule and pass a gate that should fail.
MAX_CONFIG = 1 << 20
# Nesting beyond this is no rules file and would exhaust the composer's recursion.
MAX_DEPTH = 64
# Bounds the work of a file made of many small nodes.
MAX_NODES = 100_000
# A threshold is a short number or size; longer text is refused before parsing it.
MAX_VALUE = 64
# No image is larger than a signed 64-bit byte count.
MAX_BYTES = (1 << 63) - 1


class _Refused(Exception):
    """Internal: the YAML is well-formed but not something we parse."""


def _parse(data: bytes):
    """The YAML document, with aliases and anchors refused (an alias can
    expand a small file exponentially) and nesting and node count bounded."""
    import yaml

    class Loader(yaml.SafeLoader):
        depth = 0
        nodes = 0

        def compose_node(self, parent, index):
            event = self.peek_event()
            where = f" (line {event.start_mark.line + 1})" if event.start_mark else ""
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise _Refused(f"YAML anchors and aliases are not accepted{where}")
            self.nodes += 1
            if self.nodes > MAX_NODES:
                raise _Refused(f"more than {MAX_NODES} YAML nodes{where}")
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise _Refused(f"YAML nested deeper than {MAX_DEPTH} levels{where}")
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    loader = Loader(data)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_rules(args) -> dict[str, str]:
    rules: dict[str, str] = {}
    path = args.ci_config
    if path is None and os.path.isfile(".dive-ci"):
        path = ".dive-ci"
    if path:
        import yaml

        try:
            with open(path, "rb") as f:
                data = f.read(MAX_CONFIG + 1)
            if len(data) > MAX_CONFIG:
                raise ImageError("the CI config is larger than 1 MiB; refused", path)
            doc = _parse(data) or {}
        except OSError as e:
            raise ImageError(f"cannot read it ({e.strerror or e})", path) from None
        except _Refused as e:
            raise ImageError(str(e), path) from None
        except yaml.YAMLError as e:
            raise ImageError(f"invalid YAML ({(str(e).splitlines() or [type(e).__name__])[0]})", path) from None
        except RecursionError:  # belt and braces: the depth bound should come first
            raise ImageError(f"YAML nested deeper than {MAX_DEPTH} levels", path) from None
        raw = doc.get("rules", {}) if isinstance(doc, dict) else None
        if not isinstance(raw, dict):
            raise ImageError("no `rules:` map in the CI config", path)
        for k, v in raw.items():
            if k == FINDING_RULE:
                rules[k] = _finding_limits(v, path)
            elif k in RULES:
                rules[k] = str(v).strip()
    for k, opt in _OPTS.items():
        v = getattr(args, opt, None)
        if v is not None:
            rules[k] = str(v).strip()
    flags = getattr(args, "max_finding_bytes", None)
    if flags:  # options override the file's limit of the same kind
        merged = dict(_pairs(rules.get(FINDING_RULE, "")))
        merged.update(_pairs(",".join(str(f) for f in flags)))
        rules[FINDING_RULE] = ",".join(f"{k}={v}" for k, v in merged.items())
    if FINDING_RULE in rules:
        _check_limits(rules[FINDING_RULE])  # before the image is read, as every other rule
    if not rules:
        # dive's defaults
        rules = {"lowestEfficiency": "0.9", "highestWastedBytes": "disabled", "highestUserWastedPercent": "0.1"}
    return rules


def _finding_limits(v, place: str | None) -> str:
    """maxFindingBytes as the file gives it -- `package-cache=10MB` (several
    comma-separated), a list of those, or a map of kind to size -- as one
    `kind=size,...` string."""
    if isinstance(v, dict):
        return ",".join(f"{str(k).strip()}={str(x).strip()}" for k, x in v.items())
    if isinstance(v, list):
        return ",".join(str(x).strip() for x in v)
    if v is None or isinstance(v, (str, int, float)):
        return str(v if v is not None else "").strip()
    raise ImageError(f"rule {FINDING_RULE}: not KIND=SIZE, a list of them or a map", place)


def _pairs(spec: str) -> list[tuple[str, str]]:
    """`kind=size,kind=size` -> [(kind, size)]; a malformed part is an error."""
    out = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if len(part) > 2 * MAX_VALUE:
            raise ImageError(f"rule {FINDING_RULE}: a value of {len(part)} characters is no limit")
        kind, sep, size = part.partition("=")
        if not sep or not kind.strip() or not size.strip():
            raise ImageError(f"rule {FINDING_RULE}: {part!r} is not KIND=SIZE (e.g. package-cache=10MB)")
        out.append((kind.strip(), size.strip()))
    return out


def _short(name: str, v: str) -> None:
    if len(v) > MAX_VALUE:
        raise ImageError(f"rule {name}: a value of {len(v)} characters is no threshold")


def _ratio(name: str, v: str) -> float:
    _short(name, v)
    try:
        x = float(v)
    except ValueError:
        raise ImageError(f"rule {name}: {v!r} is not a number between 0 and 1") from None
    if not 0 <= x <= 1:
        raise ImageError(f"rule {name}: {v} is not between 0 and 1")
    return x


def _bytes(name: str, v: str) -> int:
    _short(name, v)
    try:
        thr = parse_bytes(v)
    except ValueError as e:
        raise ImageError(f"rule {name}: {e}") from None
    except OverflowError:  # a number too big for a float
        thr = MAX_BYTES + 1
    if thr > MAX_BYTES:
        raise ImageError(f"rule {name}: {v!r} is more bytes than any image can hold")
    return thr


def _check_limits(v: str) -> dict[str, int]:
    """maxFindingBytes' limits, kind -> bytes (a disabled kind left out); an
    unknown kind or a bad size is an error."""
    from .analysis.findings import KINDS

    limits = _pairs(v)
    for kind, _ in limits:
        if kind != ALL_KINDS and kind not in KINDS:
            raise ImageError(f"rule {FINDING_RULE}: no finding kind {kind!r} (one of {', '.join(KINDS)}, or all)")
    return {kind: _bytes(f"{FINDING_RULE} {kind}", size) for kind, size in limits if size.lower() != "disabled"}


def _finding_results(v: str, a) -> list[dict]:
    """One result per kind limited: the bytes of the user's findings of that kind
    (the base image's are not the build's to fix)."""
    limits = _pairs(v)
    checked = _check_limits(v)
    found = [f for f in a.findings() if not f.base] if checked else []
    out = []
    for kind, _ in limits:
        name = f"{FINDING_RULE}:{kind}"
        if kind not in checked:
            out.append({"rule": name, "status": "SKIP", "threshold": None, "value": None, "message": "rule disabled"})
            continue
        thr = checked[kind]
        mine = [f for f in found if kind == ALL_KINDS or f.kind == kind]
        val = sum(f.bytes for f in mine)
        ok = val <= thr
        msg = f"{kind} findings in the user's layers: {human(val)} ({val:,} B) {'<=' if ok else '>'} {human(thr)}"
        if mine and not ok:
            top = max(mine, key=lambda f: f.bytes)
            msg += f"; the biggest: layer {top.layer}, {human(top.bytes)}"
        out.append({"rule": name, "status": "PASS" if ok else "FAIL", "threshold": thr, "value": val, "message": msg})
    return out


def evaluate(rules: dict[str, str], a) -> list[dict]:
    t = a.totals()
    out = []
    for name in RULES:
        if name not in rules:
            continue
        v = rules[name]
        if name == FINDING_RULE:
            out.extend(_finding_results(v, a))
            continue
        if v.lower() == "disabled":
            out.append({"rule": name, "status": "SKIP", "threshold": None, "value": None,
                        "message": "rule disabled"})
            continue
        if name == "lowestEfficiency":
            thr = _ratio(name, v)
            val = t["efficiency"]
            ok = val >= thr
            msg = f"efficiency {val:.4f} {'>=' if ok else '<'} {thr}"
        elif name == "highestWastedBytes":
            thr = _bytes(name, v)
            val = t["wasted_bytes"]
            ok = val <= thr
            msg = f"wasted {human(val)} ({val:,} B) {'<=' if ok else '>'} {human(thr)}"
        else:
            # dive's figure: all wasted bytes over the bytes the user's layers add (a chmod of the base's
            # files is waste the user's step made, though the copy it hides is the base's)
            thr = _ratio(name, v)
            val = t["wasted_user_percent"]
            if val is None:
                ok = False
                msg = (f"wasted {human(t['wasted_bytes'])} while the user's layers add no bytes "
                       f"(dive divides by zero)")
            else:
                ok = val <= thr
                msg = (f"wasted {human(t['wasted_bytes'])} / {human(t['user_size'])} the user's layers add = "
                       f"{val:.4f} {'<=' if ok else '>'} {thr}")
        out.append({"rule": name, "status": "PASS" if ok else "FAIL", "threshold": thr, "value": val,
                    "message": msg})
    return out
