"""The command line's own plumbing: a parser built for one command parses as
the full one, and `layerscope` (cli.run) exits without interpreter teardown
yet loses no output and keeps the exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from layerscope import cli
from tests.conftest import ROOT, SAMPLES

SAMPLE = str(SAMPLES / "classic-docker.tar")
OTHER = str(SAMPLES / "classic-oci.tar")

ARGVS = [
    ["report", "--json", "--top", "5", "--base", "2", "a.tar", "b.tar"],
    ["report", "--no-cache", "--verify", "--image", "x:1", "--platform", "linux/arm64", "a.tar"],
    ["ls", "--layer", "-1", "--changes", "--json", "a.tar"],
    ["ls", "--sort", "size", "--top", "5", "--format", "csv", "a.tar"],
    ["history", "a.tar", "/etc/passwd", "--json"],
    ["check", "--ci-config", "c.yml", "--lowest-efficiency", "0.9", "--highest-wasted-bytes", "20MB",
     "--highest-user-wasted-percent", "0.1", "a.tar"],
    ["diff", "a.tar", "b.tar@linux/amd64", "--top", "3", "--json"],
    ["extract", "a.tar", "/etc", "/usr/bin", "-o", "out", "--layer", "2", "--force", "--keep-setuid"],
    ["app", "a.tar", "b.tar", "--base", "0", "--no-cache"],
]


def test_every_command_has_a_parser():
    assert set(cli.COMMANDS) == set(cli._COMMAND_PARSERS)


@pytest.mark.parametrize("argv", ARGVS, ids=lambda a: a[0])
def test_one_command_parser_parses_as_the_full_one(argv):
    full = cli.build_parser().parse_args(argv)
    one = cli.build_parser(argv[0]).parse_args(argv)
    assert vars(one) == vars(full)
    assert vars(one)["command"] == argv[0]


@pytest.mark.parametrize("argv", [["ls", "--layer", "x", "a.tar"], ["report"], ["extract", "a.tar", "/x"]],
                         ids=["bad-int", "missing-image", "missing-output"])
def test_one_command_parser_rejects_as_the_full_one(argv):
    with pytest.raises(cli.UsageError) as full:
        cli.build_parser().parse_args(argv)
    with pytest.raises(cli.UsageError) as one:
        cli.build_parser(argv[0]).parse_args(argv)
    assert str(one.value) == str(full.value)


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert f"    {name} " in out or f"    {name}\n" in out, name


def _run(*argv: str, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, LAYERSCOPE_CACHE="off", PYTHONPATH=str(ROOT))
    env.pop("LAYERSCOPE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "layerscope", *argv], capture_output=True, cwd=ROOT, env=env,
                          timeout=120, **kw)


def test_run_flushes_all_output_before_exiting(capsys):
    # `ls --json` on the sample writes less than stdout's buffer: nothing
    # reaches the pipe unless run() flushes before its os._exit
    assert cli.main(["ls", "--json", "--no-cache", SAMPLE]) == 0
    expected = capsys.readouterr().out
    r = _run("ls", "--json", SAMPLE)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == expected
    paths = [json.loads(line)["path"] for line in expected.splitlines()]
    assert "/etc/passwd" in paths and len(paths) > 40


def test_run_keeps_the_exit_status():
    r = _run("report", "--json", SAMPLE)
    assert r.returncode == 0
    assert json.loads(r.stdout)["image"]["layers"]
    assert _run("report", str(ROOT / "no-such.tar")).returncode == 2
    assert _run("diff", SAMPLE, SAMPLE + "@nope").returncode == 2
    assert _run("report").returncode == 2  # usage error


@pytest.mark.parametrize("argv", [["ls", SAMPLE], ["report", SAMPLE], ["report", "--json", SAMPLE],
                                  ["diff", SAMPLE, OTHER], ["diff", "--json", SAMPLE, OTHER],
                                  ["history", SAMPLE, "/etc/os-release"]])
def test_run_into_a_closed_pipe_is_quiet_and_no_result(argv):
    """`| head` leaving early: 141, as a shell reports SIGPIPE -- never 1,
    which for diff would mean "the images differ", nor 0 ("identical")."""
    p = subprocess.Popen([sys.executable, "-m", "layerscope", *argv], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT,
                         env=dict(os.environ, LAYERSCOPE_CACHE="off", PYTHONPATH=str(ROOT)))
    p.stdout.close()  # the reader is gone before the first line is written
    err = p.stderr.read()
    assert p.wait(timeout=120) == 141, err
    assert err == b"", err


IMPORTS = """
import io, sys
sys.argv = ["layerscope", *sys.argv[1:]]
from layerscope.cli import main
out, sys.stdout = sys.stdout, io.StringIO()
rc = main()
sys.stdout = out
print(rc, " ".join(sorted(sys.modules)))
"""


@pytest.mark.parametrize("argv, absent", [
    # a run over an uncompressed image: every millisecond of start-up is a
    # visible share of it (each costs start-up time)
    (["report", "--json", SAMPLE], {"threading", "weakref", "typing", "dataclasses", "tempfile",
                                   "hashlib", "shutil", "textual", "rich", "blake3", "multiprocessing",
                                   "concurrent", "platform"}),
])
def test_what_a_report_imports(argv, absent):
    env = dict(os.environ, LAYERSCOPE_CACHE="off", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", IMPORTS, *argv], capture_output=True, text=True, cwd=ROOT, env=env,
                       timeout=120)
    rc, mods = r.stdout.split(" ", 1)
    assert rc == "0", r.stderr
    loaded = set(mods.split()) - _at_start()  # what this environment's own start-up hooks load is not ours
    assert "layerscope.layers.tarbatch" in loaded
    assert not absent & loaded, absent & loaded


def _at_start() -> set[str]:
    code = "import sys; print(' '.join(sys.modules))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                              cwd=ROOT).stdout.split())


def test_the_explorer_imports_previews_and_comparisons_when_used():
    code = "import sys, layerscope.app.app; print(' '.join(sorted(sys.modules)))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    loaded = set(r.stdout.split()) - _at_start()
    assert "textual.app" in loaded
    assert not {"rich.syntax", "pygments", "layerscope.app.screens.diff", "layerscope.app.screens.graph"} & loaded


@pytest.mark.parametrize("argv, line", [
    (["reprot", SAMPLE], "layerscope: usage error: unknown command 'reprot': did you mean report?"),
    (["hisotry", SAMPLE, "/etc"], "layerscope: usage error: unknown command 'hisotry': did you mean history?"),
    (["frobnicate"], "layerscope: usage error: 'frobnicate' is neither a command"),
    (["no-such.tar"], "layerscope: error: no-such.tar: no such file"),
    ([SAMPLE, "missing/other.tar@tag"], "layerscope: error: missing/other.tar@tag: no such file"),
    (["--image", "x", "no-such.tar"], "layerscope: error: no-such.tar: no such file"),
])
def test_a_word_that_names_nothing_never_opens_the_explorer(argv, line):
    """A mistyped command or a missing archive: one line on stderr and exit 2,
    before anything takes the terminal (stdin is no terminal here either)."""
    r = _run(*argv, stdin=subprocess.DEVNULL)
    err = r.stderr.decode()
    assert r.returncode == 2 and err.startswith(line) and err.count("\n") == 1, err
    assert r.stdout == b""


@pytest.mark.parametrize("columns", [60, 80, 100, 200])
def test_report_fits_the_width_piped_or_not(columns):
    """COLUMNS is honoured when piped; each build step is one line, cut with
    '…' when it does not fit, and columns go before the steps get unreadable."""
    env = dict(os.environ, COLUMNS=str(columns), LAYERSCOPE_CACHE="off", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "layerscope", "report", SAMPLE], capture_output=True, text=True,
                       cwd=ROOT, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(len(l) for l in lines) <= columns
    head = next(i for i, l in enumerate(lines) if l.startswith("# "))
    table = lines[head + 2:next(i for i, l in enumerate(lines) if l.startswith("+ added"))]
    assert len(table) == 9  # 7 layers and 2 steps without a layer: one line each
    steps = [l.rsplit("│", 1)[1].strip() for l in table]
    assert steps[1] == "ENV LANG=C.UTF-8"
    full = "RUN rm -rf /usr/share/doc && mkdir /usr/share/doc && echo docs > /usr/share/doc/README"
    assert steps[5] == full if columns >= 200 else (steps[5].endswith("…") and full.startswith(steps[5][:-1]))
    assert all(len(s) >= 16 for s in steps if s.endswith("…"))  # never cut to a few characters
    cols = lines[head]
    assert ("Entries" in cols and "Layer" in cols) == (columns >= 100)
    assert all(h in cols for h in ("#", "Size", "Wasted", "Build step"))


def test_ls_csv_has_the_json_rows(capsys, tmp_path):
    import csv
    import io

    for extra in ([], ["--changes", "--layer", "6"]):
        assert cli.main(["ls", "--json", "--no-cache", SAMPLE, *extra]) == 0
        docs = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
        assert cli.main(["ls", "--format", "csv", "--no-cache", SAMPLE, *extra]) == 0
        rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
        assert len(rows) == len(docs) > 0
        for d, r in zip(docs, rows):
            assert r["path"] == d["path"] and r["type"] == d["type"] and int(r["size"]) == d["size"]
            assert int(r["mode"], 8) == d["mode"] and int(r["layer"]) == d["layer"]
            assert r["kind"] == (d.get("kind") or "") and r["change"] == (d.get("change") or "")
    assert {"kind": "duplicate"}.items() <= next(d for d in docs if d["path"] == "/usr/sbin/nginx").items()


def test_ls_csv_never_carries_a_formula_or_a_control_character(capsys, tmp_path):
    import csv
    import io

    from tests.hostile._helpers import docker_archive, tar_of, ti_file, ti_link

    lt = tar_of([ti_file("etc/ok\x1b[31m", b"1"), ti_link("etc/f", '=HYPERLINK("http://x")'),
                 ti_link("etc/g", "+1"), ti_link("etc/h", "plain")])
    p = docker_archive(tmp_path / "csv.tar", [lt])
    assert cli.main(["ls", "--format", "csv", "--no-cache", p]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    rows = {r["path"]: r for r in csv.DictReader(io.StringIO(out))}
    assert "/etc/ok\\x1b[31m" in rows
    assert rows["/etc/f"]["link"] == "'=HYPERLINK(\"http://x\")" and rows["/etc/g"]["link"] == "'+1"
    assert rows["/etc/h"]["link"] == "plain"


def test_report_names_the_layer_that_hid_each_copy(capsys):
    assert cli.main(["report", "--json", "--no-cache", SAMPLE]) == 0
    waste = {w["path"]: w for w in json.loads(capsys.readouterr().out)["waste"]}
    assert [(c["layer"], c["state"], c["hidden_at"]) for c in waste["/usr/bin/vim.tiny"]["copies"]] == [
        (1, "overwritten", 5), (5, "visible", None)]
    deb = next(w for p, w in waste.items() if p.startswith("/var/cache/apt/archives/vim-tiny"))
    assert [(c["state"], c["hidden_at"]) for c in deb["copies"]] == [("deleted", 3)]
    assert cli.main(["report", "--no-cache", SAMPLE]) == 0
    assert "L1: 60.0 kB added, overwritten at L5; L5: 60.0 kB metadata-only," in capsys.readouterr().out
