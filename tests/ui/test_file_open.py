"""Files Finder asks the running app to open (``QFileOpenEvent`` sent to the application, as Qt does on
macOS for a double-clicked spec, a file dropped on the Dock icon, or Open With) open as with
``mmstudio PATH``: a saved spec on the Model page, a dataset on the Datasets page, and a path that is not
there is said in the command's words. The events are the real ones, sent to the real application."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QUrl
from PySide6.QtGui import QFileOpenEvent

from mmstudio import cli
from mmstudio.formatting import sentence
from mmstudio.ui.file_open import FileOpenController, listen_for_file_open
from mmstudio.ui.main_window import MainWindow
from mmstudio.ui.settings import Settings

SPEC = {
    "task": "classification",
    "text_encoder": {"name": "bag"},
    "image_encoder": {"name": "small_cnn"},
    "fusion": {"name": "gated"},
    "head": {"name": "linear"},
}


@pytest.fixture
def file_open(qapp):
    controller = FileOpenController(qapp)
    yield controller
    controller.remove()  # the application outlives this test
    controller.deleteLater()


@pytest.fixture
def make_window(qtbot, tmp_path):
    made: list[MainWindow] = []

    def make() -> MainWindow:
        win = MainWindow(Settings(tmp_path / "settings.ini"), db_url=f"sqlite:///{tmp_path / 'store.db'}")
        qtbot.addWidget(win)
        made.append(win)
        return win

    yield make
    for win in made:
        win.datasets.cancel_loading()


def _finder_opens(path: str | Path) -> bool:
    """Send the application the event Qt makes of Finder's "open this file"; whether it was taken."""
    return QCoreApplication.sendEvent(QCoreApplication.instance(), QFileOpenEvent(str(path)))


def test_a_spec_finder_opens_before_the_window_exists_opens_on_the_model_page_once_it_is_shown(
    qtbot, file_open, make_window, tmp_path
):
    spec = tmp_path / "fused.mmspec"
    spec.write_text(json.dumps(SPEC), encoding="utf-8")
    assert _finder_opens(spec)  # at start-up Qt may deliver it before the window is made
    assert file_open.pending == [str(spec)]
    window = make_window()
    file_open.attach(window)
    assert file_open.pending == [str(spec)] and window.model.path() is None  # not shown yet: it waits
    window.show()
    qtbot.waitUntil(lambda: window.model.path() == spec, timeout=120_000)  # once the model library is in
    assert window.current_page() == "model" and window.windowTitle() == "fused.mmspec[*]"
    assert file_open.pending == []


def test_files_finder_opens_while_the_app_runs_open_as_mmstudio_path_opens_them(
    qtbot, file_open, make_window, small_demo, tmp_path, capsys
):
    window = make_window()
    window.show()
    qtbot.waitExposed(window)
    file_open.attach(window)

    window.show_page("train")
    with qtbot.waitSignal(window.datasets.loading_finished, timeout=60_000) as loaded:
        assert _finder_opens(small_demo)  # a dataset folder (Open With, or dropped on the Dock icon)
    assert loaded.args[0] is not None and window.current_page() == "datasets"
    assert window.state.dataset_spec.path == str(small_demo)

    spec = tmp_path / "plain.json"  # a spec by its content, as 'mmstudio plain.json' tells it
    spec.write_text(json.dumps(SPEC), encoding="utf-8")
    assert _finder_opens(spec)
    assert window.current_page() == "model"
    qtbot.waitUntil(lambda: window.model.path() == spec, timeout=120_000)  # once the model library is in
    assert window.state.dataset_spec.path == str(small_demo)  # the dataset stays open

    missing = tmp_path / "moved" / "model.mmspec"
    assert _finder_opens(missing)
    assert window.current_page() == "datasets"
    assert cli.main([str(missing)]) == 2
    said = capsys.readouterr().err.removeprefix("error: ").strip()
    assert said.startswith(f"{missing} does not exist")
    assert window.datasets.error_message() == sentence(said)
    assert window.state.dataset_spec.path == str(small_demo) and file_open.pending == []


def test_a_url_is_not_taken_and_only_macos_gets_a_controller(qapp, file_open):
    assert not QCoreApplication.sendEvent(qapp, QFileOpenEvent(QUrl("https://example.org/spec")))
    assert file_open.pending == []
    assert listen_for_file_open(qapp, "linux") is None and listen_for_file_open(qapp, "win32") is None
    on_macos = listen_for_file_open(qapp, "darwin")
    try:
        assert isinstance(on_macos, FileOpenController)
        assert _finder_opens("/no/window/yet.mmspec") and on_macos.pending == ["/no/window/yet.mmspec"]
    finally:
        on_macos.remove()
        on_macos.deleteLater()
