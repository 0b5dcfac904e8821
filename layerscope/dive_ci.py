"""The CI gate: dive's `.dive-ci` rules, evaluated on our (correct) figures."""

from __future__ import annotations

import os

from .errors import ImageError
from .units import human, parse_bytes

RULES = ("lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent")
_OPTS = {"lowestEfficiency": "lowest_efficiency", "highestWastedBytes": "highest_wasted_bytes",
         "highestUserWastedPercent": "highest_user_wasted_percent"}
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
            if k in RULES:
                rules[k] = str(v).strip()
    for k, opt in _OPTS.items():
        v = getattr(args, opt, None)
        if v is not None:
            rules[k] = str(v).strip()
    if not rules:
        # dive's defaults
        rules = {"lowestEfficiency": "0.9", "highestWastedBytes": "disabled", "highestUserWastedPercent": "0.1"}
    return rules


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


def evaluate(rules: dict[str, str], a) -> list[dict]:
    t = a.totals()
    out = []
    for name in RULES:
        if name not in rules:
            continue
        v = rules[name]
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
            _short(name, v)
            try:
                thr = parse_bytes(v)
            except ValueError as e:
                raise ImageError(f"rule {name}: {e}") from None
            except OverflowError:  # a number too big for a float
                thr = MAX_BYTES + 1
            if thr > MAX_BYTES:
                raise ImageError(f"rule {name}: {v!r} is more bytes than any image can hold")
            val = t["wasted_bytes"]
            ok = val <= thr
            msg = f"wasted {human(val)} ({val:,} B) {'<=' if ok else '>'} {human(thr)}"
        else:
            thr = _ratio(name, v)
            val = t["user_wasted_percent"]
            ok = val <= thr
            msg = f"user wasted {val:.4f} of the image {'<=' if ok else '>'} {thr}"
        out.append({"rule": name, "status": "PASS" if ok else "FAIL", "threshold": thr, "value": val,
                    "message": msg})
    return out
