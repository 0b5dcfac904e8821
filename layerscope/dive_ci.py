"""The CI gate: dive's `.dive-ci` rules, evaluated on our (correct) figures."""

from __future__ import annotations

import os

from .errors import ImageError
from .units import human, parse_bytes

RULES = ("lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent")
_OPTS = {"lowestEfficiency": "lowest_efficiency", "highestWastedBytes": "highest_wasted_bytes",
         "highestUserWastedPercent": "highest_user_wasted_percent"}


def load_rules(args) -> dict[str, str]:
    rules: dict[str, str] = {}
    path = args.ci_config
    if path is None and os.path.isfile(".dive-ci"):
        path = ".dive-ci"
    if path:
        import yaml

        try:
            with open(path, "rb") as f:
                data = f.read(1 << 20)
            doc = yaml.safe_load(data) or {}
        except OSError as e:
            raise ImageError(f"cannot read it ({e.strerror})", path) from None
        except yaml.YAMLError as e:
            raise ImageError(f"invalid YAML ({str(e).splitlines()[0]})", path) from None
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


def _ratio(name: str, v: str) -> float:
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
            try:
                thr = parse_bytes(v)
            except ValueError as e:
                raise ImageError(f"rule {name}: {e}") from None
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
