"""Hostile names and strings are shown escaped: file names (markup, ANSI and
OSC sequences, control characters, invalid UTF-8, very long, '..'), tags,
history, OS and platform fields, layer ids."""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile

from tests.hostile._helpers import (
    CONTROL,
    _fix_checksum,
    assert_one_error,
    cli,
    config_for,
    docker_archive,
    layer_tar,
    run_subprocess,
    sha,
    tar_of,
    ti_file,
)

NASTY = {
    "markup": "etc/[bold]x[/]",
    "markup2": "etc/[link=https:evil]click[/link]",  # the '/'s make directories: fine
    "ansi": "etc/\x1b[31mred\x1b[0m",
    "osc": "etc/\x1b]8;;https:evil\x07link\x1b]8;;\x07",
    "title": "etc/\x1b]0;pwned\x07",
    "newline": "etc/new\nline",
    "cr": "etc/carriage\rreturn",
    "bell": "etc/bell\x07",
    "c1": "etc/c1\u009b31m",
    "long": "etc/" + "n" * 4000,
    "gnu_long": "usr/" + "g" * 300,
    "unicode": "etc/ünïcødé",
}


BAD_UTF8 = b"etc/bad\xff\xfe\xc3("


def _names_image(tmp_path) -> str:
    members = []
    for key, name in NASTY.items():
        if key == "gnu_long":
            continue
        members.append(ti_file(name, key.encode()))
    # GNU long name (././@LongLink) in its own GNU-format tar, appended before the end blocks
    gnu = tar_of([ti_file(NASTY["gnu_long"], b"gnu")], fmt=tarfile.GNU_FORMAT)
    pax = tar_of(members)
    # invalid UTF-8 via a raw ustar header
    raw = tarfile.TarInfo("placeholder")
    raw.size = 3
    hb = bytearray(raw.tobuf(tarfile.USTAR_FORMAT))
    hb[0:100] = BAD_UTF8.ljust(100, b"\0")
    _fix_checksum(hb, 0)
    badblk = bytes(hb) + b"bad" + bytes(509)
    # '..' names: kept out of the tree with a warning
    dotdot = tar_of([ti_file("../../escape", b"no"), ti_file("etc/../../../up", b"no")])
    lt = _strip_end(pax) + _strip_end(gnu) + badblk + _strip_end(dotdot) + bytes(1024)
    return docker_archive(tmp_path / "names.tar", [lt])


def _strip_end(t: bytes) -> bytes:
    """A tar without its end-of-archive blocks (to concatenate tars)."""
    while t.endswith(bytes(512)):
        t = t[:-512]
    return t


def _expected_paths() -> set[str]:
    """Every path of the merged view, parents included."""
    exp = set()
    for n in [*NASTY.values(), BAD_UTF8.decode("utf-8", "surrogateescape")]:
        parts = n.split("/")
        exp.update("/" + "/".join(parts[:k]) for k in range(1, len(parts) + 1))
    return exp


def test_names_ls_plain_escaped(tmp_path, capsys):
    p = _names_image(tmp_path)
    rc, out, err = cli(capsys, "ls", p)
    assert rc == 0, err
    lines = out.splitlines()
    assert not (set(out) - {"\n"}) & CONTROL, "raw control characters in ls output"
    assert len(lines) == len(_expected_paths())
    assert any(l.endswith("/etc/\\x1b[31mred\\x1b[0m") for l in lines)
    assert any(l.endswith("/etc/new\\x0aline") for l in lines)
    assert any(l.endswith("/etc/bad\\xff\\xfe\\xc3(") for l in lines)
    assert any(l.endswith("/etc/[bold]x[/]") for l in lines)  # literal, not markup
    assert any(l.endswith("/etc/" + "n" * 4000) for l in lines)
    assert not any("escape" in l or "/up" in l for l in lines)


def test_names_ls_json_round_trip(tmp_path, capsys):
    p = _names_image(tmp_path)
    rc, out, err = cli(capsys, "ls", "--json", p)
    assert rc == 0, err
    assert out.isascii() and not (set(out) - {"\n"}) & CONTROL
    docs = [json.loads(l) for l in out.splitlines()]
    # a name that is not UTF-8: U+FFFD in "path", its exact bytes in "path_bytes"
    paths = {base64.b64decode(d["path_bytes"]).decode("utf-8", "surrogateescape") if "path_bytes" in d
             else d["path"] for d in docs}
    assert paths == _expected_paths()
    bad = [d for d in docs if "path_bytes" in d]
    assert [d["path"] for d in bad] == ["/etc/bad\ufffd\ufffd\ufffd("]
    assert base64.b64decode(bad[0]["path_bytes"]) == b"/" + BAD_UTF8
    assert all("\udc80" > c or c > "\udcff" for d in docs for c in d["path"])  # no lone surrogates for jq


def test_names_not_utf8_stay_distinct_in_json(tmp_path, capsys):
    """Two names that differ only in invalid bytes look alike as text; their
    bytes keep them apart, in ls, history and report."""
    names = [b"etc/x\xff", b"etc/x\xfe"]
    blocks = b""
    for n in names:
        ti = tarfile.TarInfo("placeholder")
        ti.size = 1
        hb = bytearray(ti.tobuf(tarfile.USTAR_FORMAT))
        hb[0:100] = n.ljust(100, b"\0")
        _fix_checksum(hb, 0)
        blocks += bytes(hb) + b"z" + bytes(511)
    hl = tarfile.TarInfo("etc/link")
    hl.type = tarfile.LNKTYPE
    hb = bytearray(hl.tobuf(tarfile.USTAR_FORMAT))
    hb[157:257] = names[0].ljust(100, b"\0")
    _fix_checksum(hb, 0)
    blocks += bytes(hb)
    p = docker_archive(tmp_path / "bytes.tar", [blocks + bytes(1024)])
    rc, out, err = cli(capsys, "ls", "--json", p)
    assert rc == 0, err
    docs = {d["path"] + "|" + d.get("path_bytes", ""): d for d in map(json.loads, out.splitlines())}
    got = sorted(base64.b64decode(d["path_bytes"]) for d in docs.values() if "path_bytes" in d)
    assert got == sorted(b"/" + n for n in names)
    link = next(d for d in docs.values() if d["path"] == "/etc/link")
    assert link["link"] == "/etc/x\ufffd" and base64.b64decode(link["link_bytes"]) == b"/" + names[0]
    rc, out, err = cli(capsys, "history", "--json", p, "/etc/link")
    assert rc == 0, err
    assert base64.b64decode(json.loads(out)["visible"]["link_bytes"]) == b"/" + names[0]


def test_names_report_no_control_chars_and_dotdot_warning(tmp_path, capsys):
    p = _names_image(tmp_path)
    rc, out, err = cli(capsys, "report", p)
    assert rc == 0, err
    assert not (set(out) - {"\n"}) & CONTROL, [c for c in set(out) if c in CONTROL]
    assert "escapes the image root" in out  # the '..' names are reported, not shown
    rc, out, err = cli(capsys, "report", "--json", p)
    doc = json.loads(out)
    warnings = " ".join(doc["layers"][0]["warnings"])
    assert "../../escape" in warnings and "escapes the image root" in warnings


def test_names_report_subprocess(tmp_path):
    r = run_subprocess("report", _names_image(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout


def test_hostile_config_strings_not_shown_raw(tmp_path, capsys):
    """Tags, history and OS fields come from the archive too."""
    lt = layer_tar({"etc/": None, "etc/os-release": b'PRETTY_NAME="\x1b[2JOS\x1b]0;t\x07 [red]x[/]"\n'})
    cfg = config_for([sha(lt)], os="linux", history=[{"created_by": "RUN \x1b[31mevil\x1b[0m\nsecond line"}])
    cfg_b = json.dumps(cfg).encode()
    man = [{"Config": hashlib.sha256(cfg_b).hexdigest() + ".json", "RepoTags": ["evil\x1b[5m:tag\n"],
            "Layers": ["l0/layer.tar"]}]
    p = docker_archive(tmp_path / "cfg.tar", [lt], config=cfg_b, manifest=man)
    rc, out, err = cli(capsys, "report", p)
    assert rc == 0, err
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[31mevil" in out


def test_hostile_platform_not_shown_raw(tmp_path, capsys):
    lt = layer_tar()
    cfg = config_for([sha(lt)], os="lin\x1b]0;x\x07ux", architecture="\x1b[31mamd64")
    p = docker_archive(tmp_path / "plat.tar", [lt], config=cfg)
    for argv in (["report", p], ["report", "--json", p]):
        rc, out, err = cli(capsys, *argv)
        assert rc == 0, err
        assert "\x1b" not in out + err and "\x07" not in out + err
    assert "lin\\x1b]0;x\\x07ux/\\x1b[31mamd64" in cli(capsys, "report", p)[1]


def test_hostile_diff_id_rejected(tmp_path, capsys):
    cfg = config_for(["sha256:\x1b[2J" + "0" * 56])
    p = docker_archive(tmp_path / "diffid.tar", config=cfg)
    rc, out, err = cli(capsys, "report", p)
    assert_one_error(rc, err, "malformed rootfs.diff_ids")


def test_hostile_blob_names_not_shown_raw(tmp_path, capsys):
    """Layer ids shown in the report come from member names when the config
    has no diff_ids: a name that is not a digest is not used as one."""
    lt = layer_tar()
    cfg = config_for([])
    name = "sha256:\x1b[2J" + "a" * 56 + ".tar"
    cfg_b = json.dumps(cfg).encode()
    man = [{"Config": hashlib.sha256(cfg_b).hexdigest() + ".json", "Layers": [name]}]
    p = docker_archive(tmp_path / "blobname.tar", [lt], config=cfg_b, manifest=man, extra=[(name, lt)])
    rc, out, err = cli(capsys, "report", p)
    assert rc == 0, err
    assert "\x1b" not in out


def test_lone_surrogates_in_config_and_tags_are_shown_escaped(tmp_path):
    """JSON may spell a lone surrogate (\\ud800): shown escaped by report, diff and
    history, kept as the same \\u escape in --json, never an internal error."""
    lt = layer_tar()
    cfg = config_for([sha(lt)], history=[{"created_by": "RUN echo \ud800 end"}],
                     config={"Env": ["A=\udfff"], "Labels": {"k\ud800": "v"}, "Cmd": ["\ud800"]})
    cfg_b = json.dumps(cfg).encode()
    man = [{"Config": hashlib.sha256(cfg_b).hexdigest() + ".json", "RepoTags": ["t\ud800g:latest"],
            "Layers": ["l0/layer.tar"]}]
    p = docker_archive(tmp_path / "sur.tar", [lt], config=cfg_b, manifest=man)
    other = docker_archive(tmp_path / "other.tar", [layer_tar({"etc/": None, "etc/hello": b"other\n"})])
    for argv, rc in [(["report", p], 0), (["history", p, "/etc/hello"], 0), (["diff", p, other], 1),
                     (["ls", p], 0)]:
        r = run_subprocess(*argv)
        assert r.returncode == rc and r.stderr == "", (argv, r.stderr)
        if argv[0] != "ls":
            assert "RUN echo \\ud800 end" in r.stdout, argv
    assert "t\\ud800g:latest" in run_subprocess("report", p).stdout
    assert "\\ud800" in run_subprocess("diff", p, other).stdout  # the Cmd and label rows
    r = run_subprocess("report", "--json", p)
    assert r.returncode == 0 and "\\ud800" in r.stdout  # the same JSON escape it came as
    assert json.loads(r.stdout)["layers"][0]["created_by"] == "RUN echo \ud800 end"


INVISIBLE = {"rlo": "etc/evil\u202egnp.exe", "zwsp": "etc/zero\u200bwidth", "lsep": "etc/line\u2028sep",
             "bom": "etc/\ufeffbom", "tag": "etc/tag\U000e0041"}


def test_bidi_overrides_and_zero_width_characters_are_escaped(tmp_path, capsys):
    lt = tar_of([ti_file(n, k.encode()) for k, n in INVISIBLE.items()])
    p = docker_archive(tmp_path / "bidi.tar", [lt],
                       config=config_for([sha(lt)], history=[{"created_by": "RUN echo \u202eevil\u202c"}]))
    rc, out, err = cli(capsys, "ls", p)
    assert rc == 0, err
    for shown in ["etc/evil\\u202egnp.exe", "etc/zero\\u200bwidth", "etc/line\\u2028sep", "etc/\\ufeffbom",
                  "etc/tag\\U000e0041"]:
        assert any(l.endswith(shown) for l in out.splitlines()), shown
    rc, out, err = cli(capsys, "report", p)
    assert rc == 0, err
    assert "RUN echo \\u202eevil\\u202c" in out
    assert not {"\u202e", "\u202c", "\u200b", "\u2028", "\ufeff"} & set(out)
    rc, out, err = cli(capsys, "ls", "--json", p)
    assert {json.loads(l)["path"] for l in out.splitlines()} >= {"/" + n for n in INVISIBLE.values()}


def test_history_resolves_dot_dot_as_the_tree_does(tmp_path, capsys):
    p = docker_archive(tmp_path / "h.tar", [layer_tar({"etc/": None, "etc/hello": b"hi\n"})])
    for typed in ["/etc/hello", "etc/hello", "/etc/../etc/hello", "./etc//hello", "/../../etc/./hello"]:
        rc, out, err = cli(capsys, "history", p, typed)
        assert rc == 0, (typed, err)
        assert out.splitlines()[0] == "/etc/hello", typed
        rc, out, err = cli(capsys, "history", "--json", p, typed)
        assert json.loads(out)["path"] == "/etc/hello"
    rc, out, err = cli(capsys, "history", p, "/etc/hello ")  # a trailing space is another name
    assert_one_error(rc, err, "no layer of the image touches")
