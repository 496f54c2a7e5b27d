"""The settings a user can change (File ▸ Settings…): versioned, checked on load, in one dialog whose
choices feed the store, the cache folder, the Train page's device and the theme, with the command line
and the environment winning over them."""

from __future__ import annotations

import os

import pytest
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QLabel, QMessageBox

from mmstudio import paths
from mmstudio.ui.main_window import MainWindow
from mmstudio.ui.settings import SETTINGS_VERSION, Settings
from mmstudio.ui.settings_dialog import SettingsDialog


@pytest.fixture
def settings(tmp_path):
    return Settings(tmp_path / "settings.ini")


@pytest.fixture
def window(qtbot, settings):
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def _answer(monkeypatch, button):
    asked = []

    def question(_parent, title, text, *_args, **_kwargs):
        asked.append((title, text))
        return button

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def _fill_cache(folder, size=3000):
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    (images / "key.npy").write_bytes(b"x" * size)
    (images / "key.json").write_text("{}")


def test_bad_values_in_the_file_are_reset_and_said_in_the_status_bar(qtbot, tmp_path):
    path = tmp_path / "s.ini"
    path.write_text(
        f"[General]\nsettings_version={SETTINGS_VERSION}\n[appearance]\ntheme=purple\n"
        "[training]\ndevice=tpu\n[store]\nurl=sqlite:///nowhere/at/all.db\n[cache]\nfolder=relative\n"
    )
    settings = Settings(path)
    assert len(settings.problems) == 4
    assert "'purple'" in settings.problems[3] and "reset to the default" in settings.problems[3]
    chosen = (settings.theme, settings.device, settings.db_url, settings.cache_folder)
    assert chosen == ("system", "auto", "", "")
    assert Settings(path).problems == []  # reset in the file too
    path.write_text(f"[General]\nsettings_version={SETTINGS_VERSION}\n[appearance]\ntheme=purple\n")
    win = MainWindow(Settings(path))
    qtbot.addWidget(win)
    assert "'purple'" in win.statusBar().currentMessage()


def test_a_version_1_file_is_upgraded_and_its_user_not_offered_the_tour(tmp_path):
    path = tmp_path / "s.ini"
    path.write_text("[General]\nsettings_version=1\n[first_start]\ndemo_offered=true\n")
    settings = Settings(path)
    assert settings.tour_offered and f"settings_version={SETTINGS_VERSION}" in path.read_text()
    assert not Settings(tmp_path / "new.ini").tour_offered


def test_settings_is_in_the_file_menu_with_ctrl_comma(window):
    assert window.settings_action.shortcut() == QKeySequence("Ctrl+,")
    assert window.settings_action in window.menuBar().actions()[0].menu().actions()


def test_the_cache_is_counted_in_the_background_and_cleared_after_asking(qtbot, window, monkeypatch):
    _fill_cache(paths.cache_dir())
    dialog = window.show_settings()
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: not dialog.is_busy() and dialog.cache_bytes is not None)
    assert dialog.cache_bytes == 3002 and "1 cache" in dialog.size_label.text()
    assert dialog.clear_button.isEnabled()
    asked = _answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    dialog.clear_button.click()
    assert asked and (paths.cache_dir() / "images" / "key.npy").exists()
    _answer(monkeypatch, QMessageBox.StandardButton.Yes)
    dialog.clear_button.click()
    qtbot.waitUntil(lambda: dialog.size_label.text() == "Empty")
    assert not (paths.cache_dir() / "images" / "key.npy").exists()
    assert not dialog.clear_button.isEnabled()


def test_a_bad_store_is_named_and_the_old_one_kept(qtbot, window, tmp_path):
    window.settings.db_url = f"sqlite:///{tmp_path / 'old.db'}"
    dialog = window.show_settings()
    qtbot.addWidget(dialog)
    dialog.store_edit.setText(str(tmp_path / "missing" / "runs.db"))
    dialog.accept()
    assert dialog.result() != QDialog.DialogCode.Accepted and dialog.isVisible()
    assert "missing" in dialog.store_error.error() and "stays as it was" in dialog.store_error.error()
    assert window.settings.db_url == f"sqlite:///{tmp_path / 'old.db'}"
    dialog.cache_edit.setText("not/absolute")
    dialog.store_edit.setText("")
    dialog.accept()
    assert "not an absolute path" in dialog.cache_error.error() and dialog.isVisible()


def test_a_new_store_applies_after_a_confirmation(qtbot, window, tmp_path, monkeypatch):
    dialog = window.show_settings()
    qtbot.addWidget(dialog)
    dialog.store_edit.setText(str(tmp_path / "team.db"))
    url = f"sqlite:///{tmp_path / 'team.db'}"
    assert dialog.changes() == {"store": url}
    asked = _answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    window.apply_settings(dialog.changes())
    assert asked and window.state.db_url is None and window.settings.db_url == ""
    _answer(monkeypatch, QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(window.state.store_changed):
        window.apply_settings(dialog.changes())
    assert window.state.db_url == url and Settings(window.settings.path).db_url == url
    assert "team.db" in window.store.label.text()


def test_the_command_line_and_the_environment_win_over_the_settings(qtbot, tmp_path, monkeypatch):
    path = tmp_path / "s.ini"
    Settings(path).db_url = f"sqlite:///{tmp_path / 'saved.db'}"
    saved = MainWindow(Settings(path))
    qtbot.addWidget(saved)
    assert saved.state.db_url == f"sqlite:///{tmp_path / 'saved.db'}"
    monkeypatch.setenv("MMSTUDIO_DB", f"sqlite:///{tmp_path / 'env.db'}")
    env = MainWindow(Settings(path))
    qtbot.addWidget(env)
    assert env.state.db_url == f"sqlite:///{tmp_path / 'env.db'}"
    assert env.preferences_in_use()["store"].source == "environment"
    option = MainWindow(Settings(path), db_url=f"sqlite:///{tmp_path / 'option.db'}")
    qtbot.addWidget(option)
    assert option.state.db_url == f"sqlite:///{tmp_path / 'option.db'}"
    dialog = SettingsDialog(option.settings, option.preferences_in_use())
    qtbot.addWidget(dialog)
    assert any("set on the command line" in label.text() for label in dialog.findChildren(QLabel))


def test_the_cache_folder_feeds_this_process_and_its_workers(qtbot, window, tmp_path, monkeypatch):
    window.apply_settings({"cache": str(tmp_path / "big-disk")})
    assert window.settings.cache_folder == str(tmp_path / "big-disk")
    assert os.environ["MMSTUDIO_CACHE_DIR"] == str(tmp_path / "big-disk")
    assert paths.cache_dir() == tmp_path / "big-disk"
    window.apply_settings({"cache": ""})
    assert "MMSTUDIO_CACHE_DIR" not in os.environ
    monkeypatch.setenv("MMSTUDIO_CACHE_DIR", str(tmp_path / "users"))
    user = MainWindow(Settings(tmp_path / "u.ini"), export_cache_folder=True)
    qtbot.addWidget(user)
    user.apply_settings({"cache": str(tmp_path / "ignored")})
    assert paths.cache_dir() == tmp_path / "users"  # the user's variable wins
    assert user.preferences_in_use()["cache"].describe() == "set by MMSTUDIO_CACHE_DIR"


def test_the_device_is_where_the_train_page_starts(qtbot, window):
    window.apply_settings({"device": "cpu", "theme": "dark"})
    assert window.settings.device == "cpu" and window.settings.theme == "dark"
    assert window.train.form.preferred_device == "cpu"
    assert "next time" in window.statusBar().currentMessage()
    from mmstudio.training.device import DeviceInfo

    window.train.form.set_devices([DeviceInfo("cuda", "cuda", "a GPU"), DeviceInfo("cpu", "cpu", "the CPU")])
    assert window.train.form.device_combo.currentData() == "cpu"


def test_the_app_starts_with_the_settings_theme_and_cache_unless_told_otherwise(qapp, tmp_path, monkeypatch):
    from mmstudio.ui import launch

    saved = Settings()  # the user's file (in MMSTUDIO_HOME's config folder)
    saved.theme, saved.cache_folder = "dark", str(tmp_path / "cache")
    saved.sync()
    themes = []

    class App:  # the application, whose event loop closes the window at once
        def exec(self) -> int:
            for widget in qapp.topLevelWidgets():
                if isinstance(widget, MainWindow):
                    widget.close()
                    widget.deleteLater()
            return 0

    monkeypatch.setattr(launch, "create_application", lambda theme=None: themes.append(theme) or App())
    assert launch.run_gui() == 0
    assert themes == ["dark"] and paths.cache_dir() == tmp_path / "cache"
    monkeypatch.setenv("MMSTUDIO_THEME", "light")
    assert launch.run_gui() == 0
    assert themes[-1] == "light"


def test_a_store_password_is_shown_masked_and_kept(qtbot, window):
    url = "postgresql+psycopg://team:s3cret@db.lab.example:5432/runs"
    window.settings.db_url = url
    dialog = window.show_settings()
    qtbot.addWidget(dialog)
    assert "s3cret" not in dialog.store_edit.text()
    assert dialog.store_edit.text() == "postgresql+psycopg://team:***@db.lab.example:5432/runs"
    assert dialog.changes() == {}  # left as shown: the same store, password and all
    dialog.store_edit.setText("postgresql+psycopg://team:***@db2.lab.example/runs")
    assert dialog.changes() == {"store": "postgresql+psycopg://team:s3cret@db2.lab.example/runs"}
    dialog.store_edit.setText("postgresql+psycopg://team:n3w@db.lab.example/runs")  # typed over the mask
    assert dialog.changes() == {"store": "postgresql+psycopg://team:n3w@db.lab.example/runs"}
