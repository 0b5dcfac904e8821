"""The explorer's settings file and options: each setting reaches the app,
and every mistake is one line before the app starts."""

from __future__ import annotations

import pytest

from layerscope.app import LayerscopeApp
from layerscope.app.keys import key_ids
from layerscope.app.screens.dialogs import HelpScreen, JumpScreen
from layerscope.app.settings import Settings, config_path, load
from layerscope.errors import ImageError
from tests.app.test_app import CLASSIC, SIZE, need, ready, tree, until
from tests.cli.test_cli import _run


def test_a_missing_default_file_means_the_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_path() == str(tmp_path / "layerscope" / "config.toml")
    assert load() == Settings()


def test_every_setting_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "layerscope").mkdir()
    (tmp_path / "layerscope" / "config.toml").write_text(
        'theme = "textual-light"\nmouse = false\nsort = "size"\nmode = "merged"\n[keys]\njump = "ctrl+f"\n')
    s = load(key_ids=key_ids())
    assert (s.theme, s.mouse, s.sort, s.mode, s.keys) == ("textual-light", False, "size", "merged",
                                                           {"jump": "ctrl+f"})


@pytest.mark.parametrize("text, says", [
    ("theme = 3\n", "theme must be a short string"),
    ("mouse = 'no'\n", "mouse must be true or false"),
    ("sort = 'date'\n", "sort must be one of name, size"),
    ("mode = 'all'\n", "mode must be one of changes, merged"),
    ("colour = 'red'\n", "unknown setting 'colour'"),
    ("[keys]\nfly = 'f'\n", "[keys] has no key id 'fly'"),
    ("keys = 'q'\n", "[keys] must be a table"),
    ("theme = \n", "not valid TOML"),
    ("#" * 70000, "a settings file of more than 64 KiB"),
])
def test_a_wrong_setting_is_one_error_naming_the_file(tmp_path, text, says):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ImageError) as e:
        load(str(p), key_ids())
    assert e.value.line().startswith(f"{p}: {says}"), e.value.line()


def test_the_cli_refuses_a_bad_theme_or_file_before_the_app(tmp_path):
    for argv, says in [(["--theme", "nope", CLASSIC], "layerscope: error: --theme: no theme 'nope'"),
                       (["--config", str(tmp_path / "none.toml"), CLASSIC], "none.toml: no such file")]:
        r = _run(*argv)
        err = r.stderr.decode()
        assert r.returncode == 2 and says in err and err.count("\n") == 1, err


def test_every_key_id_is_in_the_readme():
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    missing = [k for k in key_ids() if f"`{k}`" not in readme]
    assert not missing, missing


async def test_the_app_takes_theme_keys_sort_and_view():
    need(CLASSIC)
    s = Settings(theme="textual-light", sort="size", mode="merged", keys={"jump": "ctrl+f"})
    app = LayerscopeApp([CLASSIC], settings=s)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.theme == "textual-light"
        assert (app.layer_view.sort, app.layer_view.mode) == ("size", "merged")
        assert tree(app).model.sort == "size" and tree(app).model.tree.mode == "merged"
        await pilot.press("ctrl+f")
        await until(pilot, lambda: isinstance(app.screen, JumpScreen), what="jump on ctrl+f")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, JumpScreen))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = str(app.screen.query_one("#help-text").render())
        assert "Your keys" in text and "ctrl+f" in text and "jump" in text
