"""Fuzzy jump: every path that any layer of the image lists (including what
was later deleted), matched by substrings, then by subsequence.  Built once in
a thread worker; searching runs in a thread worker too."""

from __future__ import annotations

import heapq
import re

from ..model import OPAQUE


class PathSearch:
    def __init__(self, layers) -> None:
        where: dict[str, int] = {}
        for L, layer in enumerate(layers):
            e = layer.entries
            if e is None:
                continue
            bit = 1 << L
            types = e.types
            for i, p in enumerate(e.paths):
                if types[i] == OPAQUE:
                    continue
                where[p] = where.get(p, 0) | bit
        self.where = where
        # not sorted: one sort of a million strings holds the GIL for a second, freezing the UI
        # while it builds; the few results are put in order instead
        self.paths = list(where)
        self.lower = [p.lower() for p in self.paths]

    def __len__(self) -> int:
        return len(self.paths)

    def layers_of(self, path: str) -> list[int]:
        m = self.where.get(path.strip("/"), 0)
        out = []
        L = 0
        while m:
            if m & 1:
                out.append(L)
            m >>= 1
            L += 1
        return out

    def last_layer(self, path: str) -> int | None:
        m = self.where.get(path.strip("/"), 0)
        return m.bit_length() - 1 if m else None

    def search(self, query: str, limit: int = 200, cancelled=lambda: False) -> list[str]:
        """Paths (without the leading '/') best first."""
        q = query.strip().lower().lstrip("/")
        if not q:
            return []
        tokens = q.split()
        paths, lower = self.paths, self.lower
        scored: list[tuple[tuple, int]] = []
        seen: set[int] = set()
        # 1. every token a substring
        if len(tokens) == 1:
            tok = tokens[0]
            hits = [i for i, p in enumerate(lower) if tok in p]
        else:
            hits = [i for i, p in enumerate(lower) if all(tok in p for tok in tokens)]
        if cancelled():
            return []
        last = tokens[-1]

        def score(i: int) -> tuple:
            p = lower[i]
            base = p.rsplit("/", 1)[-1]
            return (0 if base == last else 1 if base.startswith(last) else 2 if last in base else 3,
                    p.count("/"), len(p))

        if len(hits) >= limit:
            # the best `limit` kept as they come: a million scores built, sorted and freed at once
            # are C calls that hold the GIL for a second in all, freezing the UI
            try:
                best = heapq.nsmallest(limit, _checked(hits, cancelled), key=lambda i: (score(i), paths[i]))
            except _Cancelled:
                return []
            return [paths[i] for i in best]
        for i in hits:
            scored.append((score(i), i))
            seen.add(i)
        # 2. subsequence (typo-tolerant jumps like "usbinpy")
        if len(scored) < limit:
            pat = "".join(ch for ch in q if not ch.isspace())
            rx = re.compile(".*?".join(re.escape(c) for c in pat))
            # linear (possessive): a path that fails the lazy pattern can take it exponential time
            # to say so (seconds for a long query on paths full of repeated digits)
            has = re.compile("".join(f"[^{c}]*+{c}" for c in map(re.escape, pat))).match
            for i, p in enumerate(lower):
                if i in seen or has(p) is None:
                    continue
                m = rx.search(p)
                if m:
                    scored.append(((4, m.end() - m.start() - len(pat), len(p)), i))
                    if len(scored) > 20000:
                        break
                if (i & 0xFFFF) == 0 and cancelled():
                    return []
        scored.sort(key=lambda s: (s[0], paths[s[1]]))
        return [paths[i] for _, i in scored[:limit]]


class _Cancelled(Exception):
    pass


def _checked(items, cancelled):
    """`items`, stopping with _Cancelled when `cancelled()` says so (checked now and then)."""
    for k, x in enumerate(items):
        if not k & 0xFFFF and cancelled():
            raise _Cancelled()
        yield x
