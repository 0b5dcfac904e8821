"""apk (Alpine): /lib/apk/db/installed, one record per package separated by
a blank line, each line a one-letter key: P name, V version, A arch, F a
directory (relative to /), R a file in the last F directory."""

from __future__ import annotations

from . import APK, PACKAGES_MAX, Budget, Package, clip, image_path, text

INSTALLED = "lib/apk/db/installed"


def read(files: dict[str, bytes], budget: Budget) -> tuple[list[Package], list[str]]:
    data = files.get(INSTALLED)
    if data is None:
        return [], []
    out: list[Package] = []
    notes: list[str] = []
    cur: dict[str, str] = {}
    paths: list[str] = []
    d = ""

    def flush() -> None:
        if cur.get("P"):
            out.append(Package(APK, clip(cur["P"]), clip(cur.get("V", "")), clip(cur.get("A", "")), "",
                               budget.take(list(dict.fromkeys(paths)))))

    for line in text(data).split("\n"):
        if not line.strip():
            flush()
            cur, paths, d = {}, [], ""
            if len(out) >= PACKAGES_MAX:
                notes.append(f"apk: the database lists more than {PACKAGES_MAX:,} packages; only the first are read")
                return out, notes
            continue
        k, sep, v = line.partition(":")
        if not sep or len(k) != 1:
            continue
        if k == "F":
            d = v
            q = image_path(v)
            if q:
                paths.append(q)
        elif k == "R":
            q = image_path(v, d) if "/" not in v else None  # a file name, never a path
            if q:
                paths.append(q)
        elif k in "PVA" and k not in cur:
            cur[k] = v
    flush()
    return out, notes
