"""Write package databases from their documented formats, for tests: dpkg
status and .list files, apk's installed, rpm header blobs in an
rpmdb.sqlite, Python dist-info RECORD files and npm package.json files.
Each returns bytes (or image-path -> bytes) to put in a synthetic layer."""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import tempfile


def dpkg_status(pkgs: list[dict]) -> bytes:
    """pkgs: {Package, Version, Architecture, Status?, Conffiles?: [(path, md5)]}."""
    out = []
    for p in pkgs:
        lines = [f"Package: {p['Package']}", f"Status: {p.get('Status', 'install ok installed')}",
                 f"Architecture: {p.get('Architecture', 'amd64')}", f"Version: {p['Version']}"]
        if p.get("Conffiles"):
            lines.append("Conffiles:")
            lines += [f" {path} {md5}" for path, md5 in p["Conffiles"]]
        lines.append("Description: a package\n more text of it")
        out.append("\n".join(lines) + "\n")
    return "\n".join(out).encode()


def dpkg_list(paths: list[str]) -> bytes:
    return "".join(p + "\n" for p in ["/."] + paths).encode()


def apk_installed(pkgs: list[dict]) -> bytes:
    """pkgs: {P, V, A, files: {dir: [names]}}."""
    out = []
    for p in pkgs:
        lines = [f"C:Q1{'a' * 27}=", f"P:{p['P']}", f"V:{p['V']}", f"A:{p.get('A', 'x86_64')}", "S:1000", "I:4096",
                 "T:a package", "U:https://example.org", "L:MIT"]
        for d, names in p.get("files", {}).items():
            lines.append(f"F:{d}")
            for n in names:
                lines += [f"R:{n}", "a:0:0:755", f"Z:Q1{'b' * 27}="]
        out.append("\n".join(lines) + "\n")
    return "\n".join(out).encode() + b"\n"


# rpm header tag types and the tags written here
_INT32, _STRING, _STRING_ARRAY = 4, 6, 8


def rpm_header(name: str, version: str, release: str, arch: str, files: list[str], epoch: int | None = None,
               extra: list[tuple[int, int, bytes, int]] | None = None) -> bytes:
    """One header blob as rpmdb.sqlite stores it: il, dl, index entries, data."""
    dirs: list[str] = []
    base, idx = [], []
    for f in files:
        d, _, b = f.rpartition("/")
        d += "/"
        if d not in dirs:
            dirs.append(d)
        idx.append(dirs.index(d))
        base.append(b)
    entries: list[tuple[int, int, bytes, int]] = [
        (1000, _STRING, name.encode() + b"\0", 1), (1001, _STRING, version.encode() + b"\0", 1),
        (1002, _STRING, release.encode() + b"\0", 1), (1022, _STRING, arch.encode() + b"\0", 1)]
    if epoch is not None:
        entries.append((1003, _INT32, struct.pack(">i", epoch), 1))
    if files:
        entries += [(1116, _INT32, struct.pack(f">{len(idx)}i", *idx), len(idx)),
                    (1117, _STRING_ARRAY, b"".join(b.encode() + b"\0" for b in base), len(base)),
                    (1118, _STRING_ARRAY, b"".join(d.encode() + b"\0" for d in dirs), len(dirs))]
    entries += extra or []
    index, data = b"", b""
    for tag, typ, payload, count in entries:
        if typ == _INT32:
            data += bytes(-len(data) % 4)
        index += struct.pack(">iIiI", tag, typ, len(data), count)
        data += payload
    return struct.pack(">II", len(entries), len(data)) + index + data


def rpmdb_sqlite(headers: list[bytes]) -> bytes:
    """An rpmdb.sqlite holding these header blobs, as rpm 4.16+ lays it out."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "rpmdb.sqlite")
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
        con.execute("CREATE TABLE Name (key TEXT NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL)")
        con.executemany("INSERT INTO Packages (blob) VALUES (?)", [(h,) for h in headers])
        con.commit()
        con.close()
        with open(path, "rb") as f:
            return f.read()


def dist_info(site: str, name: str, version: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """A wheel's install under `site` (an image path): its files, METADATA and a RECORD naming them all."""
    di = f"{name}-{version}.dist-info"
    out = {f"{site}/{p}": data for p, data in files.items()}
    out[f"{site}/{di}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    rows = [f"{p},sha256=x,{len(data)}" for p, data in files.items()] + [f"{di}/METADATA,,", f"{di}/RECORD,,"]
    out[f"{site}/{di}/RECORD"] = ("\n".join(rows) + "\n").encode()
    return out


def npm_package(node_modules: str, name: str, version: str, files: dict[str, bytes]) -> dict[str, bytes]:
    d = f"{node_modules}/{name}"
    out = {f"{d}/{p}": data for p, data in files.items()}
    out[f"{d}/package.json"] = json.dumps({"name": name, "version": version}).encode()
    return out
