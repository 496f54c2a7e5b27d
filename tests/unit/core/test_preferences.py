"""The preferences' rules: which value wins, and what each may hold (mmstudio.preferences)."""

from __future__ import annotations

import pytest

from mmstudio import paths, preferences
from mmstudio.preferences import Resolved, resolve


def test_the_command_line_wins_then_the_environment_then_the_settings_then_the_default():
    env = {"MMSTUDIO_THEME": "dark"}
    assert resolve("light", "MMSTUDIO_THEME", "system", "system", env) == Resolved("light", "command line")
    assert resolve(None, "MMSTUDIO_THEME", "light", "system", env) == Resolved(
        "dark", "environment", "MMSTUDIO_THEME"
    )
    assert resolve(None, "MMSTUDIO_THEME", "light", "system", {}) == Resolved("light", "settings")
    assert resolve(None, "MMSTUDIO_THEME", "", "system", {"MMSTUDIO_THEME": ""}).source == "default"
    assert resolve(None, "X", "", "d", {"X": "v"}).describe() == "set by X"


def test_themes_and_devices():
    assert preferences.check_theme("dark") == "dark"
    assert preferences.check_device("cuda:1") == "cuda:1"
    with pytest.raises(ValueError, match="'purple'"):
        preferences.check_theme("purple")
    with pytest.raises(ValueError, match="'tpu'"):
        preferences.check_device("tpu")


def test_a_cache_folder_is_absolute_and_not_a_file(tmp_path):
    assert preferences.check_cache_folder("") == ""
    assert preferences.check_cache_folder(str(tmp_path / "new")) == str(tmp_path / "new")
    with pytest.raises(ValueError, match="not an absolute path"):
        preferences.check_cache_folder("relative/cache")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        preferences.check_cache_folder(str(tmp_path / "file"))


def test_the_cache_folder_variable_moves_the_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("MMSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MMSTUDIO_CACHE_DIR", raising=False)
    assert paths.cache_dir() == tmp_path / "home" / "cache"
    monkeypatch.setenv("MMSTUDIO_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert paths.cache_dir() == tmp_path / "elsewhere"


def test_a_store_is_a_path_or_a_url(tmp_path):
    assert preferences.store_url("") == ""
    assert preferences.store_url(f"  {tmp_path / 'runs.db'} ") == f"sqlite:///{tmp_path / 'runs.db'}"
    assert preferences.store_url(f"sqlite:///{tmp_path / 'a.db'}") == f"sqlite:///{tmp_path / 'a.db'}"
    assert preferences.store_url("postgresql://me@db.lab/runs") == "postgresql://me@db.lab/runs"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sqlite:///{tmp}/missing/runs.db", "folder that does not exist"),
        ("{tmp}", "is a folder"),
        ("runs.db", "not an absolute path"),
        ("sqlite://", "not a SQLite URL"),
        ("sqlite:///:memory:", "names no file"),
        ("postgresql:/db", "neither a file path nor a URL"),
    ],
)
def test_a_bad_store_is_named(tmp_path, text, message):
    text = text.format(tmp=tmp_path)
    with pytest.raises(ValueError, match=message) as error:
        preferences.store_url(text)
    assert repr(text) in str(error.value)


def test_a_store_password_is_hidden_and_put_back_only_where_the_mask_is():
    from mmstudio.preferences import hide_password, restore_password

    url = "postgresql://me:p%40ss@host/db"
    shown = hide_password(url)
    assert shown == "postgresql://me:***@host/db"
    assert restore_password(shown, url) == url  # the encoded password survives the round trip
    assert restore_password("postgresql://me:***@other/db", url) == "postgresql://me:p%40ss@other/db"
    assert restore_password("postgresql://me:typed@host/db", url) == "postgresql://me:typed@host/db"
    for plain in ("", "sqlite:////home/me/runs.db", "/home/me/runs.db", "postgresql://me@host/db", "x://::"):
        assert hide_password(plain) == plain
        assert restore_password(plain, url) == plain
