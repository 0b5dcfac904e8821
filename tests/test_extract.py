"""Extraction (`layerscope.extract.extract_paths`, CLI `extract`): right
contents and modes; never outside the target, never through a symlink, never
over an existing file without overwrite, no device nodes, no setuid bits
unless asked; contents streamed in bounded memory."""

from __future__ import annotations

import os
import resource
import stat
import tracemalloc

import pytest

from layerscope import extract as X
from layerscope.analysis import analyse
from layerscope.cli import main
from layerscope.extract import ExtractError, extract_paths
from layerscope.formats.source import open_graph
from layerscope.layers.indexing import index_layers
from layerscope.model import FILE, SYMLINK
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive

LAYOUTS = [("docker-legacy", "none"), ("oci", "gzip"), ("oci", "zstd")]


def load(path):
    g = open_graph([str(path)])
    im = g.images[0]
    index_layers(g, layers=im.layers, use_cache=False, workers=1)
    assert not [l.error for l in im.layers if l.error]
    return analyse(g, im)


def image(tmp_path, layers: list[list[F]], layout="docker-legacy", comp="none", name="img.tar"):
    p = tmp_path / name
    write_archive(p, [ImageSpec([LayerSpec(l, f"step {n}", comp) for n, l in enumerate(layers)])], layout)
    return p


def box(tmp_path):
    """A sandbox: dest inside it, and files outside dest that must survive."""
    b = tmp_path / "box"
    (b / "dest").mkdir(parents=True)
    (b / "outside").mkdir()
    (b / "outside" / "victim").write_text("untouched")
    return b


def tree_of(root) -> dict[str, str]:
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = "-> " + os.readlink(p)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = "dir"
            else:
                with open(p, "rb") as f:
                    out[rel] = f.read().decode("latin-1")
    return out


def assert_box_intact(b):
    assert sorted(os.listdir(b)) == ["dest", "outside"]
    assert tree_of(b / "outside") == {"victim": "untouched"}


BASIC = [
    F("etc/", "dir", mode=0o755),
    F("etc/passwd", data=b"root:x:0:0\n", mode=0o644),
    F("etc/secret", data=b"s3cret\n", mode=0o600),
    F("etc/alias", "symlink", link="passwd"),
    F("etc/abs", "symlink", link="/etc/passwd"),
    F("bin/", "dir", mode=0o755),
    F("bin/tool", data=b"\x7fELF" + bytes(3000), mode=0o755),
    F("bin/tool2", "hardlink", link="bin/tool"),
    F("bin/su", data=b"setuid", mode=0o4755),
    F("bin/sg", data=b"setgid", mode=0o2711),
    F("tmp/", "dir", mode=0o1777),
    F("ro/", "dir", mode=0o555),
    F("ro/file", data=b"in a read-only dir", mode=0o444),
    F("dev/", "dir"),
    F("dev/null", "char", major=1, minor=3),
    F("dev/sda", "block", major=8, minor=0),
    F("dev/pipe", "fifo"),
    F("empty", data=b""),
]


@pytest.mark.parametrize("layout,comp", LAYOUTS)
def test_extract_everything(tmp_path, layout, comp):
    a = load(image(tmp_path, [BASIC, [F("etc/", "dir"), F("etc/passwd", data=b"root:x:0:0:new\n", mode=0o640)]],
                   layout, comp))
    dest = tmp_path / "out"
    r = extract_paths(a, a.stack.n - 1, ["/"], str(dest))
    d = str(dest)
    assert open(f"{d}/etc/passwd", "rb").read() == b"root:x:0:0:new\n"  # the top layer's copy
    assert stat.S_IMODE(os.stat(f"{d}/etc/passwd").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(f"{d}/etc/secret").st_mode) == 0o600
    assert os.readlink(f"{d}/etc/alias") == "passwd"
    assert os.readlink(f"{d}/etc/abs") == "/etc/passwd"  # created as is, never followed
    assert open(f"{d}/bin/tool", "rb").read() == b"\x7fELF" + bytes(3000)
    assert os.stat(f"{d}/bin/tool").st_ino == os.stat(f"{d}/bin/tool2").st_ino  # a real hardlink
    assert stat.S_IMODE(os.stat(f"{d}/bin/tool").st_mode) == 0o755
    # setuid/setgid/sticky stripped by default
    assert stat.S_IMODE(os.stat(f"{d}/bin/su").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(f"{d}/bin/sg").st_mode) == 0o711
    assert stat.S_IMODE(os.stat(f"{d}/tmp").st_mode) == 0o777
    # a read-only directory is filled, then gets its mode
    assert open(f"{d}/ro/file").read() == "in a read-only dir"
    assert stat.S_IMODE(os.stat(f"{d}/ro").st_mode) == 0o555
    assert os.path.getsize(f"{d}/empty") == 0
    # device nodes and fifos are refused, with a reason
    assert sorted(os.listdir(f"{d}/dev")) == []
    assert len([s for s in r.skipped if s.startswith("/dev/")]) == 3
    assert any("/dev/null: a character device" in s for s in r.skipped)
    assert any("/dev/pipe: a fifo" in s for s in r.skipped)
    assert r.files == 7 and r.links == 3 and r.dirs == 5
    assert r.bytes == len(b"root:x:0:0:new\n") + 7 + 3004 + 6 + 6 + 18
    assert os.stat(f"{d}/etc/secret").st_mtime == 0  # mtimes kept


def test_extract_keep_setuid(tmp_path):
    a = load(image(tmp_path, [BASIC]))
    dest = tmp_path / "out"
    extract_paths(a, 0, ["/bin", "/tmp"], str(dest), keep_setuid=True)
    assert stat.S_IMODE(os.stat(dest / "bin/su").st_mode) == 0o4755
    assert stat.S_IMODE(os.stat(dest / "bin/sg").st_mode) == 0o2711
    assert stat.S_IMODE(os.stat(dest / "tmp").st_mode) == 0o1777
    assert not (dest / "etc").exists()


def test_extract_one_file_and_a_lower_layer(tmp_path):
    a = load(image(tmp_path, [BASIC, [F("etc/", "dir"), F("etc/passwd", data=b"new\n"),
                                      F("etc/secret", "whiteout")]]))
    dest = tmp_path / "out"
    extract_paths(a, 0, ["etc/passwd", "/etc/secret"], str(dest))
    assert (dest / "etc/passwd").read_bytes() == b"root:x:0:0\n"  # as it was at layer 0
    assert (dest / "etc/secret").exists()
    with pytest.raises(ExtractError, match="/etc/secret is not in the image at layer 1"):
        extract_paths(a, 1, ["/etc/secret"], str(tmp_path / "out2"))


def test_hardlink_to_a_file_not_extracted_gets_a_copy(tmp_path):
    a = load(image(tmp_path, [BASIC]))
    dest = tmp_path / "out"
    r = extract_paths(a, 0, ["/bin/tool2"], str(dest))
    assert (dest / "bin/tool2").read_bytes() == b"\x7fELF" + bytes(3000)
    assert stat.S_IMODE(os.stat(dest / "bin/tool2").st_mode) == 0o755
    assert r.files == 1 and not (dest / "bin/tool").exists()


def test_hardlink_to_a_lower_layer(tmp_path):
    a = load(image(tmp_path, [BASIC, [F("usr/", "dir"), F("usr/tool3", "hardlink", link="bin/tool")]]))
    dest = tmp_path / "out"
    extract_paths(a, 1, ["/usr"], str(dest))
    assert (dest / "usr/tool3").read_bytes() == b"\x7fELF" + bytes(3000)


def test_hardlink_outside_the_image_root(tmp_path):
    """A hardlink to `../../etc/passwd` names an image path, never a host file."""
    a = load(image(tmp_path, [[F("x/", "dir"), F("x/h", "hardlink", link="../../../etc/shadow")]]))
    dest = tmp_path / "out"
    r = extract_paths(a, 0, ["/x"], str(dest))
    assert not (dest / "x/h").exists()
    assert any("/x/h: hardlink to /etc/shadow, which is not a regular file in the image" in s for s in r.skipped)


@pytest.mark.parametrize("layout,comp", LAYOUTS[:2])
def test_symlink_then_file_under_it_same_layer(tmp_path, layout, comp):
    """`evil -> ../../..` then `evil/x`: the merged view makes evil a
    directory; nothing lands outside the target."""
    b = box(tmp_path)
    a = load(image(tmp_path, [[F("evil", "symlink", link="../outside"), F("evil/victim", data=b"pwned")]],
                   layout, comp))
    extract_paths(a, 0, ["/"], str(b / "dest"))
    assert_box_intact(b)
    assert (b / "dest/evil/victim").read_bytes() == b"pwned"
    assert not os.path.islink(b / "dest/evil")


def test_symlink_in_lower_layer_file_above(tmp_path):
    b = box(tmp_path)
    outside = str(b / "outside")
    a = load(image(tmp_path, [[F("etc", "symlink", link=outside), F("evil", "symlink", link="../../..")],
                              [F("etc/victim", data=b"pwned"), F("evil/x", data=b"pwned")]]))
    r = extract_paths(a, 1, ["/"], str(b / "dest"))
    assert_box_intact(b)
    assert (b / "dest/etc/victim").read_bytes() == b"pwned" and not os.path.islink(b / "dest/etc")
    assert r.skipped == []


def test_two_extractions_never_follow_an_extracted_symlink(tmp_path):
    """Layer 0's `etc -> /outside` extracted first; then layer 1's etc/victim
    into the same target: refused without force, and with force the link is
    replaced by a directory -- never written through."""
    b = box(tmp_path)
    outside = str(b / "outside")
    a = load(image(tmp_path, [[F("etc", "symlink", link=outside)], [F("etc/victim", data=b"pwned")]]))
    extract_paths(a, 0, ["/etc"], str(b / "dest"))
    assert os.readlink(b / "dest/etc") == outside
    with pytest.raises(ExtractError, match="etc already exists as a symlink"):
        extract_paths(a, 1, ["/etc"], str(b / "dest"))
    with pytest.raises(ExtractError, match="etc is a symlink in the target; not followed"):
        extract_paths(a, 1, ["/etc/victim"], str(b / "dest"))
    assert_box_intact(b)
    assert os.path.islink(b / "dest/etc")
    extract_paths(a, 1, ["/etc"], str(b / "dest"), overwrite=True)
    assert_box_intact(b)
    assert not os.path.islink(b / "dest/etc")
    assert (b / "dest/etc/victim").read_bytes() == b"pwned"


def test_writer_never_writes_through_a_symlink_even_if_the_view_says_so(tmp_path):
    """Defence in depth: hand the writer a plan where `evil` is a symlink and
    `evil/x` a file (a view the stack never produces): evil/x is skipped."""
    b = box(tmp_path)
    a = load(image(tmp_path, [[F("evil", "symlink", link="../outside"), F("evil2", "symlink", link="/"),
                               F("evil/victim", data=b"pwned"), F("evil2/tmp/pwned", data=b"pwned")]]))
    e = a.layers[0].entries
    items = []
    for i, p in enumerate(e.paths):
        if e.types[i] in (FILE, SYMLINK):
            items.append(X._Item(p, 0, i, e.types[i]))
    items.sort(key=lambda it: it.path.split("/"))
    fd = os.open(b / "dest", os.O_RDONLY | os.O_DIRECTORY)
    try:
        res = X.ExtractResult()
        X._Writer(a, 0, items, fd, False, False, res).run()
        res2 = X.ExtractResult()
        X._Writer(a, 0, items, fd, True, False, res2).run()  # overwrite: replaces the links, still inside
    finally:
        os.close(fd)
    assert_box_intact(b)
    assert any("/evil/victim: /evil is a symlink in the target; not followed" in s for s in res.skipped)
    assert any("/evil2/tmp/pwned: /evil2 is a symlink" in s for s in res.skipped)
    assert not os.path.exists("/tmp/pwned") or open("/tmp/pwned").read() != "pwned"


def test_existing_file_is_an_error_and_nothing_is_written(tmp_path):
    a = load(image(tmp_path, [BASIC]))
    dest = tmp_path / "out"
    (dest / "etc").mkdir(parents=True)
    (dest / "etc/secret").write_text("mine")
    with pytest.raises(ExtractError) as ei:
        extract_paths(a, 0, ["/"], str(dest))
    assert "etc/secret already exists (use --force to overwrite); nothing was extracted" in str(ei.value)
    from layerscope.extract import ExtractConflict
    assert isinstance(ei.value, ExtractConflict)  # the app offers to overwrite on this type
    assert tree_of(dest) == {"etc": "dir", "etc/secret": "mine"}  # nothing else written
    extract_paths(a, 0, ["/"], str(dest), overwrite=True)
    assert (dest / "etc/secret").read_text() == "s3cret\n"


def test_existing_symlink_in_target_is_replaced_not_followed(tmp_path):
    b = box(tmp_path)
    os.symlink(str(b / "outside" / "victim"), b / "dest" / "empty")
    os.symlink(str(b / "outside"), b / "dest" / "etc")
    a = load(image(tmp_path, [BASIC]))
    with pytest.raises(ExtractError):
        extract_paths(a, 0, ["/empty"], str(b / "dest"))
    with pytest.raises(ExtractError, match="symlink in the target"):
        extract_paths(a, 0, ["/etc/passwd"], str(b / "dest"))
    assert_box_intact(b)
    extract_paths(a, 0, ["/empty", "/etc/passwd"], str(b / "dest"), overwrite=True)
    assert_box_intact(b)
    assert not os.path.islink(b / "dest/empty") and not os.path.islink(b / "dest/etc")


def test_existing_directories_are_merged(tmp_path):
    a = load(image(tmp_path, [BASIC]))
    dest = tmp_path / "out"
    (dest / "etc").mkdir(parents=True)
    (dest / "etc" / "mine").write_text("keep")
    extract_paths(a, 0, ["/etc"], str(dest))
    assert (dest / "etc/mine").read_text() == "keep"
    assert (dest / "etc/passwd").exists()


def test_user_errors(tmp_path):
    a = load(image(tmp_path, [[F("lib", "symlink", link="usr/lib"), F("usr/lib/x", data=b"x")]]))
    with pytest.raises(ExtractError, match="/nope is not in the image at layer 0"):
        extract_paths(a, 0, ["/nope"], str(tmp_path / "o"))
    with pytest.raises(ExtractError, match="/lib is a symlink to usr/lib"):
        extract_paths(a, 0, ["/lib/x"], str(tmp_path / "o"))
    with pytest.raises(ExtractError, match="NUL"):
        extract_paths(a, 0, ["/usr\0x"], str(tmp_path / "o"))
    with pytest.raises(ExtractError, match="out of range"):
        extract_paths(a, 5, ["/usr"], str(tmp_path / "o"))
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ExtractError, match="cannot use"):
        extract_paths(a, 0, ["/usr"], str(tmp_path / "afile"))
    # `..` in a request stays inside the image: /../../usr is /usr
    r = extract_paths(a, 0, ["/../../usr/lib/x"], str(tmp_path / "o"))
    assert r.files == 1 and (tmp_path / "o/usr/lib/x").read_bytes() == b"x"


def test_hostile_names_extracted_literally_or_skipped(tmp_path):
    b = box(tmp_path)
    names = [b"n/new\nline", b"n/esc\x1b[31m", b"n/bad\xff\xfe", b"n/[bold]x", b"n/" + b"y" * 300,
             b"../../outside/victim", b"n/../../../outside/victim2"]
    a = load(image(tmp_path, [[F("n/", "dir")] + [F("x", raw_name=nm, data=b"data") for nm in names]]))
    r = extract_paths(a, 0, ["/"], str(b / "dest"))
    assert_box_intact(b)
    got = set(os.listdir(os.fsencode(b / "dest/n")))
    assert {b"new\nline", b"esc\x1b[31m", b"bad\xff\xfe", b"[bold]x"} <= got
    assert any("y" * 300 in s and "too long" in s.lower() for s in r.skipped)


def test_deep_tree_past_path_max_with_few_fds(tmp_path):
    """10,000 nested directories (a 20,000-byte path, beyond PATH_MAX):
    extracted relative to directory fds, with few fds held."""
    depth = 10_000
    deep = "/".join(["d"] * depth)
    a = load(image(tmp_path, [[F(deep + "/f", data=b"bottom"), F("d/top", data=b"top")]]))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 64
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(in_use + 80, hard), hard))  # far fewer than 10,000
    try:
        r = extract_paths(a, 0, ["/"], str(tmp_path / "out"))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert r.skipped == [] and r.files == 2 and r.dirs == depth
    fd = os.open(tmp_path / "out", os.O_RDONLY)
    try:
        for _ in range(depth):
            nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        ffd = os.open("f", os.O_RDONLY, dir_fd=fd)
        assert os.read(ffd, 100) == b"bottom"
        os.close(ffd)
    finally:
        os.close(fd)
        _remove_deep(tmp_path / "out")


def test_deep_tree_with_a_file_at_every_level(tmp_path):
    """Going back up a deep chain (a file at every level, visited after the
    deeper levels) reopens directories from held anchors, never through a
    symlink, within a small fd budget."""
    depth = 1500
    entries = [F("/".join(["d"] * k) + "/f", data=b"%d" % k) for k in range(1, depth + 1)]
    a = load(image(tmp_path, [entries]))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 64
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(in_use + 40, hard), hard))
    try:
        r = extract_paths(a, 0, ["/d"], str(tmp_path / "out"))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        assert r.skipped == [] and r.files == depth
        fd = os.open(tmp_path / "out", os.O_RDONLY)
        for k in range(1, depth + 1):
            nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
            ffd = os.open("f", os.O_RDONLY, dir_fd=fd)
            assert os.read(ffd, 10) == b"%d" % k
            os.close(ffd)
        os.close(fd)
    finally:
        _remove_deep(tmp_path / "out")


def _remove_deep(root) -> None:
    """shutil.rmtree (and pytest's cleanup) recurse once per level: lift the
    chain up one level at a time instead."""
    root = str(root)
    while os.path.isdir(os.path.join(root, "d")):
        top = os.path.join(root, "d")
        for n in os.listdir(top):
            if n != "d":
                os.unlink(os.path.join(top, n))
        if os.path.isdir(os.path.join(top, "d")):
            os.rename(os.path.join(top, "d"), os.path.join(root, "d.next"))
            os.rmdir(top)
            os.rename(os.path.join(root, "d.next"), top)
        else:
            os.rmdir(top)


@pytest.mark.parametrize("comp", ["none", "gzip"])
def test_big_file_streamed_in_bounded_memory(tmp_path, comp):
    size = 96 << 20
    a = load(image(tmp_path, [[F("big", size=size)]], "oci", comp))
    tracemalloc.start()
    try:
        r = extract_paths(a, 0, ["/big"], str(tmp_path / "out"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.bytes == size and os.path.getsize(tmp_path / "out/big") == size
    assert peak < 24 << 20, f"peak {peak >> 20} MB"


def test_corrupt_data_while_extracting_is_an_extract_error(tmp_path, monkeypatch):
    import zlib

    a = load(image(tmp_path, [BASIC], "oci", "gzip"))

    def broken(ref, comp, wanted):
        yield wanted[0][0], iter(())
        raise zlib.error("invalid block type")

    monkeypatch.setattr(X, "iter_ranges", broken)
    with pytest.raises(ExtractError, match="corrupt"):
        extract_paths(a, 0, ["/etc"], str(tmp_path / "out"))


# ---------------------------------------------------------------------------
# the CLI

def test_cli_extract(tmp_path, capsys):
    p = image(tmp_path, [BASIC])
    dest = tmp_path / "out"
    rc = main(["extract", str(p), "/etc", "/dev", "-o", str(dest)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert out.startswith("extracted 2 files, 2 directories, 2 links (18 bytes) into ")
    assert err.count("skipped: /dev/") == 3
    assert (dest / "etc/passwd").read_bytes() == b"root:x:0:0\n"
    # again: the files exist
    rc = main(["extract", str(p), "/etc", "-o", str(dest)])
    out, err = capsys.readouterr()
    assert rc == 2 and err.startswith("layerscope: error: ") and err.count("\n") == 1
    assert "already exists" in err and "--force" in err
    rc = main(["extract", str(p), "/etc", "-o", str(dest), "--force"])
    assert rc == 0
    capsys.readouterr()
    rc = main(["extract", str(p), "/bin/su", "-o", str(tmp_path / "o2"), "--keep-setuid"])
    assert rc == 0 and stat.S_IMODE(os.stat(tmp_path / "o2/bin/su").st_mode) == 0o4755
    capsys.readouterr()
    rc = main(["extract", str(p), "/missing", "-o", str(tmp_path / "o3")])
    out, err = capsys.readouterr()
    assert rc == 2 and err == "layerscope: error: /missing is not in the image at layer 0\n"


def test_cli_extract_layer_option(tmp_path, capsys):
    p = image(tmp_path, [BASIC, [F("etc/", "dir"), F("etc/passwd", data=b"v2\n")]])
    rc = main(["extract", str(p), "/etc/passwd", "-o", str(tmp_path / "a"), "--layer", "0"])
    assert rc == 0
    rc = main(["extract", str(p), "/etc/passwd", "-o", str(tmp_path / "b")])
    assert rc == 0
    assert (tmp_path / "a/etc/passwd").read_bytes() == b"root:x:0:0\n"
    assert (tmp_path / "b/etc/passwd").read_bytes() == b"v2\n"


def test_parents_made_on_the_way_get_the_image_mode_not_0700(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")
    p = tmp_path / "modes.tar"
    write_archive(str(p), [ImageSpec([LayerSpec([F("opt", "dir", mode=0o750), F("opt/app", "dir", mode=0o711),
                                                 F("opt/app/x", data=b"x", mode=0o600),
                                                 F("srv/implied/y", data=b"y")])])], "docker-legacy")
    out = tmp_path / "out"
    assert main(["extract", str(p), "/opt/app/x", "/srv/implied/y", "-o", str(out), "--no-cache"]) == 0

    def mode(rel: str) -> int:
        return stat.S_IMODE(os.stat(out / rel).st_mode)

    assert (mode("opt"), mode("opt/app"), mode("opt/app/x")) == (0o750, 0o711, 0o600)
    assert (mode("srv"), mode("srv/implied")) == (0o755, 0o755)  # only implied by the image
    pre = tmp_path / "pre"
    (pre / "opt").mkdir(parents=True)
    os.chmod(pre / "opt", 0o700)  # a directory that was there before is left as it was
    assert main(["extract", str(p), "/opt/app/x", "-o", str(pre), "--no-cache"]) == 0
    assert stat.S_IMODE(os.stat(pre / "opt").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(pre / "opt" / "app").st_mode) == 0o711
