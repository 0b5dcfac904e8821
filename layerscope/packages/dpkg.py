"""dpkg: /var/lib/dpkg/status (one stanza per package, RFC 822 style), the
file lists /var/lib/dpkg/info/PKG.list (PKG:ARCH.list for a multi-arch
package), the conffiles named in the status, and distroless images'
/var/lib/dpkg/status.d/PKG stanzas with their PKG.md5sums file lists."""

from __future__ import annotations

import re

from . import DPKG, PACKAGES_MAX, Budget, Package, clip, image_path, text

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
INFO = "var/lib/dpkg/info/"
# the status word (third of Status:) of a package whose files are on disk; config-files is a
# removed package whose conffiles stay, not-installed a forgotten one
ON_DISK = frozenset(("installed", "half-configured", "unpacked", "half-installed", "triggers-awaited",
                     "triggers-pending"))


_FIELDS = re.compile(r"^(Package|Status|Version|Architecture):[ \t]*(.*?)[ \t\r]*$", re.M)


def stanzas(data: bytes, memo: dict | None = None) -> list[dict[str, str]]:
    """The paragraphs of a status file with the fields read here (Package,
    Status, Version, Architecture, Conffiles): found by a regex per
    paragraph; only a paragraph with conffiles is read line by line.  `memo`
    keeps parsed paragraphs (not to be changed) between calls: the status at
    the next layer repeats most of them."""
    out: list[dict[str, str]] = []
    for para in re.split(r"\n[ \t\r]*\n", text(data)):
        if not para.strip():
            continue
        if "Conffiles:" in para:
            out += _stanzas_slow(para)
        elif memo is not None:
            got = memo.get(para)
            if got is None:
                got = memo[para] = dict(_FIELDS.findall(para))
            out.append(got)
        else:
            out.append(dict(_FIELDS.findall(para)))
        if len(out) > PACKAGES_MAX:  # one more than is read: read() says the rest was left out
            break
    return out


def _stanzas_slow(s: str) -> list[dict[str, str]]:
    """Every field of control paragraphs; a continuation line joins its
    field's value after a newline."""
    out: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    last = ""
    for line in s.split("\n"):
        if not line.strip():
            if cur:
                out.append(cur)
                if len(out) >= PACKAGES_MAX:
                    return out
                cur, last = {}, ""
            continue
        if line[0] in " \t":
            if last:
                cur[last] += "\n" + line.strip()
            continue
        k, sep, v = line.partition(":")
        if sep:
            last = k.strip()
            cur[last] = v.strip()
    if cur:
        out.append(cur)
    return out


def _conffiles(value: str) -> list[str]:
    out = []
    for line in value.split("\n"):
        p = line.split(" ", 1)[0] if line else ""
        q = image_path(p)
        if q:
            out.append(q)
    return out


def _lines(data: bytes, md5sums: bool = False) -> list[str]:
    s = text(data)
    if not md5sums and not any(x in s for x in ("//", "/./", "/../", "/..\n", "/\n", "\r", "\0")) \
            and s.count("/.\n") == s.startswith("/.\n") and not s.endswith(("/", "/.", "/..")):
        # every line an absolute, normal path (what dpkg writes): no per-line normalising
        body = s[3:] if s.startswith("/.\n") else s
        body = body[:-1] if body.endswith("\n") else body
        if body[:1] == "/" and body.count("\n") == body.count("\n/"):  # every line starts with '/': one split
            return body[1:].split("\n/")
        return [line[1:] for line in s.split("\n") if line[:1] == "/" and line != "/." and line[-3:] != "/.."]
    out = []
    for line in s.split("\n"):
        if md5sums:  # "<md5>  path" with the path relative to /
            line = line.partition("  ")[2]
        q = image_path(line.rstrip("\r"))
        if q:
            out.append(q)
    return out


def read(files: dict[str, bytes], budget: Budget, memo: dict | None = None) -> tuple[list[Package], list[str]]:
    """`memo` keeps parsed file lists between calls: the analysis reads the
    database again at each layer that changed it, most lists unchanged."""
    memo = {} if memo is None else memo
    notes: list[str] = []
    records: list[dict[str, str]] = []
    if STATUS in files:
        records += stanzas(files[STATUS], memo)
    lists: dict[str, bytes] = {}
    md5: dict[str, bytes] = {}
    for p, data in sorted(files.items()):
        if p.startswith(STATUS_D):
            name = p[len(STATUS_D):]
            if name.endswith(".md5sums"):
                md5[name[:-len(".md5sums")]] = data
            elif "." not in name or name.rsplit(".", 1)[1] not in ("md5sums", "list", "conffiles"):
                records += [dict(r, _statusd=name) for r in stanzas(data)]
        elif p.startswith(INFO) and p.endswith(".list"):
            lists[p[len(INFO):-len(".list")]] = data
    out = []
    seen = set()
    unlisted = 0
    for r in records[:PACKAGES_MAX]:
        name = r.get("Package", "")
        if not name:
            continue
        status = r.get("Status", "install ok installed" if "_statusd" in r else "").split()
        if len(status) < 3 or status[2] not in ON_DISK:
            continue
        arch = r.get("Architecture", "")
        if (name, arch) in seen:
            continue
        seen.add((name, arch))
        paths: list[str] = []
        data = lists.get(f"{name}:{arch}")
        if data is None:
            data = lists.get(name)
        if data is not None:
            got = memo.get(data)
            if got is None:
                got = memo[data] = _lines(data)
            paths = list(got)
        elif "_statusd" in r and r["_statusd"] in md5:
            paths = _lines(md5[r["_statusd"]], md5sums=True)
        else:
            unlisted += 1
        conf = r.get("Conffiles", "")
        key = (name, arch, r.get("Version", ""), conf, data)
        p = memo.get(key)
        if p is None or budget.left < len(p.files):
            if conf:
                paths = list(dict.fromkeys(paths + _conffiles(conf)))
            p = Package(DPKG, clip(name), clip(r.get("Version", "")), clip(arch), "", budget.take(paths))
            if not budget.cut:
                memo[key] = p  # the same record and list at the next layer: the same package, already resolved
        else:
            budget.left -= len(p.files)
        out.append(p)
    if unlisted:
        notes.append(f"dpkg: {unlisted:,} of {len(out):,} packages have no file list (/var/lib/dpkg/info/*.list): "
                     "their bytes are not known")
    if len(records) > PACKAGES_MAX:
        notes.append(f"dpkg: the status lists more than {PACKAGES_MAX:,} packages; only the first are read")
    return out, notes
