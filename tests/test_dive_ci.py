"""`check` in dive's language (dive_ci.py): highestUserWastedPercent is
dive's figure (all wasted bytes over the bytes the user's layers add) with
the true waste, so a gate dive fails for a real reason fails here too
(checked against dive itself when it is on PATH); maxFindingBytes limits
one kind of finding, from the .dive-ci file and from options."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess

import pytest

from layerscope.cli import main
from layerscope.testing.synth import F, ImageSpec, LayerSpec, write_archive

BIG = random.Random(1).randbytes(2_000_000)


def _chmod_image(tmp_path):
    """A base file of 2 MB that a user step only chmods: the user's step made
    2 MB of waste though the hidden copy is the base's."""
    base = LayerSpec([F("usr", "dir"), F("usr/share", "dir"), F("usr/share/big.dat", data=BIG, mode=0o644),
                      F("etc", "dir"), F("etc/os-release", data=b"ID=demo\n")], created_by="ADD rootfs /")
    chmod = LayerSpec([F("usr", "dir"), F("usr/share", "dir"), F("usr/share/big.dat", data=BIG, mode=0o664)],
                      created_by="/bin/sh -c chmod -R g+w /usr/share")
    cache = LayerSpec([F("var", "dir"), F("var/cache", "dir"), F("var/cache/apt", "dir"),
                       F("var/cache/apt/archives", "dir"),
                       F("var/cache/apt/archives/x.deb", data=b"d" * 300_000)],
                      created_by="/bin/sh -c apt-get install -y x")
    p = tmp_path / "chmod.tar"
    write_archive(str(p), [ImageSpec([base, chmod, cache])], "docker-legacy")
    return p


def _check(capsys, *argv):
    rc = main(["check", "--json", *argv])
    return rc, json.loads(capsys.readouterr().out)


def test_highest_user_wasted_percent_is_dives_figure(tmp_path, capsys):
    p = _chmod_image(tmp_path)
    rc, doc = _check(capsys, str(p), "--highest-user-wasted-percent", "0.5", "--lowest-efficiency", "0",
                     "--highest-wasted-bytes", "disabled")
    r = {x["rule"]: x for x in doc["results"]}["highestUserWastedPercent"]
    user = 2_000_000 + 300_000  # what the two user layers add
    assert r["value"] == pytest.approx(2_000_000 / user)
    assert r["status"] == "FAIL" and rc == 1
    assert main(["report", "--json", str(p)]) == 0
    t = json.loads(capsys.readouterr().out)["totals"]
    assert (t["user_size"], t["wasted_bytes"]) == (user, 2_000_000)
    assert t["wasted_user_percent"] == r["value"]
    assert t["user_wasted_bytes"] == 0  # the old figure, still reported: it would have passed the gate


def test_no_user_bytes_but_waste_fails(tmp_path, capsys):
    base = LayerSpec([F("a", data=b"x" * 1000), F("b", data=b"y" * 10)])
    rm = LayerSpec([F("a", "whiteout")])
    p = tmp_path / "rm.tar"
    write_archive(str(p), [ImageSpec([base, rm])], "docker-legacy")
    rc, doc = _check(capsys, str(p), "--highest-user-wasted-percent", "0.9")
    r = doc["results"][0]
    assert (r["status"], r["value"], rc) == ("FAIL", None, 1)
    assert "divides by zero" in r["message"]


def test_max_finding_bytes_from_options_and_file(tmp_path, capsys):
    p = _chmod_image(tmp_path)
    rc, doc = _check(capsys, str(p), "--max-finding-bytes", "package-cache=100kB",
                     "--max-finding-bytes", "metadata-copy-up=10MB")
    res = {x["rule"]: x for x in doc["results"]}
    assert res["maxFindingBytes:package-cache"]["status"] == "FAIL"
    assert res["maxFindingBytes:package-cache"]["value"] == 300_000
    assert "layer 2" in res["maxFindingBytes:package-cache"]["message"]
    # the chmod copy-up's hidden copy is the base's: a base finding, not the build's
    assert res["maxFindingBytes:metadata-copy-up"] == {**res["maxFindingBytes:metadata-copy-up"],
                                                       "status": "PASS", "value": 0}
    assert rc == 1
    for body in ("  maxFindingBytes: package-cache=1MB, all=200kB\n",
                 "  maxFindingBytes:\n    package-cache: 1MB\n    all: 200kB\n",
                 "  maxFindingBytes:\n    - package-cache=1MB\n    - all=200kB\n"):
        cfg = tmp_path / "ci.yml"
        cfg.write_text("rules:\n" + body)
        rc, doc = _check(capsys, str(p), "--ci-config", str(cfg))
        got = [(x["rule"], x["status"], x["value"]) for x in doc["results"]]
        assert got == [("maxFindingBytes:package-cache", "PASS", 300_000), ("maxFindingBytes:all", "FAIL", 300_000)]
        assert rc == 1
    # an option overrides the file's limit of the same kind
    rc, doc = _check(capsys, str(p), "--ci-config", str(cfg), "--max-finding-bytes", "all=1MB")
    assert [(x["rule"], x["status"]) for x in doc["results"]] == [("maxFindingBytes:package-cache", "PASS"),
                                                                  ("maxFindingBytes:all", "PASS")]
    assert rc == 0


@pytest.mark.parametrize("bad", ["package-cache", "nosuchkind=1MB", "package-cache=lots", "=1MB"])
def test_a_bad_finding_limit_is_one_line_before_the_image_is_read(tmp_path, capsys, bad):
    rc = main(["check", str(tmp_path / "missing.tar"), "--max-finding-bytes", bad])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "maxFindingBytes" in err


@pytest.mark.skipif(shutil.which("dive") is None, reason="dive is not on PATH")
def test_a_gate_dive_fails_for_a_real_reason_fails_here(tmp_path, capsys):
    """dive fails highestUserWastedPercent on the chmod image (its figure is
    inflated, counting the visible copy too, but the waste is real): so do we."""
    p = _chmod_image(tmp_path)
    cfg = tmp_path / "ci.yml"
    cfg.write_text("rules:\n  lowestEfficiency: disabled\n  highestWastedBytes: disabled\n"
                   "  highestUserWastedPercent: 0.5\n")
    r = subprocess.run(["dive", "--source", "docker-archive", str(p), "--ci", "--ci-config", str(cfg)],
                       capture_output=True, text=True, env={**os.environ, "CI": "true"}, timeout=300, cwd=tmp_path)
    assert r.returncode == 1 and "FAIL" in r.stdout and "highestUserWastedPercent" in r.stdout
    rc = main(["check", str(p), "--ci-config", str(cfg)])
    out = capsys.readouterr().out
    assert rc == 1 and "FAIL  highestUserWastedPercent" in out
    # and where dive passes, so do we
    cfg.write_text("rules:\n  lowestEfficiency: disabled\n  highestWastedBytes: disabled\n"
                   "  highestUserWastedPercent: 1.0\n")
    image = tmp_path / "clean.tar"
    write_archive(str(image), [ImageSpec([LayerSpec([F("a", data=b"a" * 5000)]),
                                          LayerSpec([F("b", data=b"b" * 5000)])])], "docker-legacy")
    r = subprocess.run(["dive", "--source", "docker-archive", str(image), "--ci", "--ci-config", str(cfg)],
                       capture_output=True, text=True, env={**os.environ, "CI": "true"}, timeout=300, cwd=tmp_path)
    assert r.returncode == 0
    assert main(["check", str(image), "--ci-config", str(cfg)]) == 0
