"""The main window: pages, menus, drag and drop, settings that persist, the first-start offer, and the
``gui`` command's screenshot mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication

from mmstudio.ui.main_window import PAGES, MainWindow
from mmstudio.ui.settings import SETTINGS_VERSION, Settings


@pytest.fixture
def settings(tmp_path):
    return Settings(tmp_path / "settings.ini")


@pytest.fixture
def window(qtbot, settings, tmp_path):
    win = MainWindow(settings, db_url=f"sqlite:///{tmp_path / 'store.db'}")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.datasets.cancel_loading()


def _mime(*paths: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def _drop(window: MainWindow, mime: QMimeData) -> tuple[bool, bool]:
    """Drag ``mime`` over the window and drop it; whether the enter and the drop were accepted."""
    pos = QPoint(window.width() // 2, window.height() // 2)
    enter = QDragEnterEvent(
        pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(window, enter)
    drop = QDropEvent(
        QPointF(pos),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, drop)
    return enter.isAccepted(), drop.isAccepted()


def test_the_plot_pages_are_made_after_the_first_paint_in_their_places(qtbot, settings, tmp_path):
    win = MainWindow(settings, db_url=f"sqlite:///{tmp_path / 'store.db'}")
    qtbot.addWidget(win)
    assert win.pages_made() == ["datasets", "model"]  # the window is built without the plot pages
    win.show()
    qtbot.waitUntil(lambda: win.pages_made() == list(PAGES), timeout=10_000)
    for n, name in enumerate(PAGES):
        assert win.stack.widget(n) is win.page(name)
    assert win.stack.count() == len(PAGES) and win.current_page() == "datasets"


def test_a_page_asked_for_before_it_was_made_is_made_at_once(qtbot, settings, tmp_path):
    win = MainWindow(settings, db_url=f"sqlite:///{tmp_path / 'store.db'}")
    qtbot.addWidget(win)
    win.show_page("experiments")
    assert "experiments" in win.pages_made() and "compare" not in win.pages_made()
    assert win.stack.currentWidget() is win.experiments and win.current_page() == "experiments"
    win.state.compare_requested.emit([3, 5])  # before the compare page exists: it still gets them
    assert win.compare.run_ids == [3, 5]
    win.state.compare_requested.emit([5, 7])  # and later ones, as any page does
    assert win.compare.run_ids == [5, 7]


def test_the_window_has_its_pages_menus_shortcuts_and_icon(window):
    assert [window.page_bar.title(n) for n in range(window.page_bar.count())] == [
        "Datasets",
        "Model",
        "Train",
        "Experiments",
        "Compare",
    ]
    menus = [action.text().replace("&", "") for action in window.menuBar().actions()]
    assert menus == ["File", "View", "Help"]
    file_actions = [
        a.text().replace("&", "") for a in window.menuBar().actions()[0].menu().actions() if a.text()
    ]
    for expected in ("Open dataset…", "Open recent", "Open model spec…", "Save model spec", "Quit"):
        assert expected in file_actions
    assert not window.windowIcon().isNull()
    assert window.open_action.shortcut().toString() == "Ctrl+O"
    for n, name in enumerate(PAGES):
        window.show_page(name)
        assert window.current_page() == name and window.stack.currentIndex() == n


def test_pages_switch_with_their_keyboard_shortcuts(window, qtbot):
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page() == "train"
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page() == "datasets"


def test_dropping_a_manifest_loads_it_on_the_datasets_page(window, qtbot, small_demo):
    manifest = Path(small_demo) / "manifest.csv"
    window.show_page("train")
    with qtbot.waitSignal(window.datasets.loading_finished, timeout=60_000) as blocker:
        assert _drop(window, _mime(manifest)) == (True, True)
    assert blocker.args[0] is not None
    assert window.current_page() == "datasets"
    assert window.state.dataset is not None and len(window.state.dataset.items) > 0
    assert "pairs" in window.dataset_label.text()
    assert window.settings.last_dataset == window.state.dataset_spec.path


def test_dropping_something_that_is_not_a_dataset_is_refused(window, tmp_path):
    note = tmp_path / "notes.docx"
    note.write_text("not a dataset")
    enter_accepted, drop_accepted = _drop(window, _mime(note))
    assert not enter_accepted and not drop_accepted
    assert window.state.dataset is None and not window.datasets.is_busy()


def test_geometry_page_and_last_dataset_persist_between_sessions(qtbot, settings, small_demo, tmp_path):
    first = MainWindow(settings)
    qtbot.addWidget(first)
    first.resize(780, 560)  # within the offscreen screen (800 x 600), which a restore keeps it to
    first.show()
    with qtbot.waitSignal(first.datasets.loading_finished, timeout=60_000):
        first.open_dataset(str(small_demo))
    first.show_page("experiments")
    first.close()
    assert Settings(settings.path).last_page == "experiments"

    again = Settings(settings.path)
    assert again.value("settings_version") in (SETTINGS_VERSION, str(SETTINGS_VERSION))
    second = MainWindow(again)
    qtbot.addWidget(second)
    assert (second.width(), second.height()) == (780, 560)
    assert second.current_page() == "experiments"
    assert again.recent_datasets[0] == first.state.dataset_spec.path
    with qtbot.waitSignal(second.datasets.loading_finished, timeout=60_000):
        assert second.reopen_last_dataset()
    assert second.state.dataset is not None


def test_an_empty_store_offers_the_demo_dataset(window, qtbot):
    assert window.welcome.isHidden()
    window.check_store()
    qtbot.waitUntil(lambda: hasattr(window, "store_runs"), timeout=30_000)
    assert window.store_runs == 0
    assert window.welcome.isVisible()
    assert "0 runs" in window.store.label.text()


@pytest.mark.slow
def test_the_demo_offer_opens_the_demo_in_one_click(window, qtbot):
    window.welcome.show()
    with qtbot.waitSignal(window.datasets.loading_finished, timeout=180_000) as blocker:
        qtbot.mouseClick(window.welcome.demo_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] is not None and len(blocker.args[0].items) == 3000
    assert window.welcome.isHidden()


def test_creating_the_window_does_not_import_torch():
    """The window is on screen before torch is needed (the Model page loads it in the background)."""
    code = (
        "import sys\n"
        "from mmstudio.ui.app import create_application\n"
        "from mmstudio.ui.main_window import MainWindow\n"
        "app = create_application()\n"
        "w = MainWindow(); w.show(); app.processEvents()\n"
        "print('torch' in sys.modules, 'torchvision' in sys.modules)\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def _gui(
    *args: str, env_home: Path, db: str | None = None, tmp: Path | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "MMSTUDIO_HOME": str(env_home)}
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    options = ["--db", db] if db else []
    return subprocess.run(
        [sys.executable, "-m", "mmstudio", *options, "gui", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.parametrize("page", ["datasets", "model"])
def test_the_screenshot_mode_renders_a_page_with_the_dataset_loaded(page, small_demo, tmp_path):
    out = tmp_path / f"{page}.png"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = _gui(
        "--page", page, str(small_demo), "--screenshot", str(out), env_home=tmp_path / "home", tmp=scratch
    )
    assert result.returncode == 0, result.stderr
    assert not list(scratch.glob("mmstudio-shot-*"))  # its own settings folder is removed after
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1280, 800)
    assert len({image.pixel(x, y) for x in range(0, 1280, 40) for y in range(0, 800, 40)}) > 20  # not blank


def test_the_screenshot_mode_fails_clearly_on_a_bad_dataset(tmp_path):
    missing = tmp_path / "nowhere"
    result = _gui(
        "--page", "datasets", str(missing), "--screenshot", str(tmp_path / "x.png"), env_home=tmp_path
    )
    assert result.returncode == 1
    assert "nowhere" in result.stderr and "does not exist" in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_the_screenshot_option_wants_a_png(tmp_path):
    result = _gui("--screenshot", str(tmp_path / "x.jpg"), env_home=tmp_path)
    assert result.returncode == 2 and "PNG" in result.stderr


def test_settings_files_carry_a_version(tmp_path):
    path = tmp_path / "s.ini"
    Settings(path)
    assert f"settings_version={SETTINGS_VERSION}" in path.read_text()
    json.dumps(Settings(path).recent_datasets)  # plain data


@pytest.mark.slow
def test_the_compare_page_renders_two_stored_runs(small_demo, tmp_path):
    """``gui --page compare --run A --run B --screenshot``: two real runs in a real store."""
    from mmstudio.data.spec import DatasetSpec
    from mmstudio.training.runner import run_job
    from mmstudio.training.spec import RunJob, TrainSpec

    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    ids = []
    for lr in (1e-3, 1e-2):
        train = TrainSpec(epochs=1, batch_size=32, image_size=32, max_len=16, device="cpu", lr=lr)
        job = RunJob(
            dataset=DatasetSpec(str(small_demo), check_images="header"),
            model={"task": "classification"},
            train=train,
            name=f"lr {lr}",
            db_url=db_url,
        )
        ids.append(run_job(job).run_id)
    out = tmp_path / "compare.png"
    result = _gui(
        "--page",
        "compare",
        "--run",
        str(ids[0]),
        "--run",
        str(ids[1]),
        "--screenshot",
        str(out),
        env_home=tmp_path / "home",
        db=db_url,
    )
    assert result.returncode == 0, result.stderr
    assert QImage(str(out)).width() == 1280


# --- issue 12: the window's part of the defects found by a new user ------------------------------------


def test_the_status_bar_counts_the_runs_as_they_change(window, qtbot, tmp_path):
    """#15: the count follows runs made here (runs_changed) and elsewhere (polled)."""
    from mmstudio.store import Store

    window.check_store()
    qtbot.waitUntil(lambda: "0 runs" in window.store.label.text(), timeout=30_000)
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as other:  # as 'mmstudio train' would
        other.create_run(name="elsewhere")
    window.state.runs_changed.emit()
    qtbot.waitUntil(lambda: "1 run" in window.store.label.text(), timeout=30_000)
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as other:
        other.create_run(name="again")
    window.store._poll.timeout.emit()  # the poll's tick, without waiting its 15 s
    qtbot.waitUntil(lambda: "2 runs" in window.store.label.text(), timeout=30_000)


def test_the_title_names_the_model_spec_and_marks_unsaved_changes(window, qtbot, tmp_path):
    """#19: the title does not repeat the app's name (Qt adds it) and names the spec's file."""
    window.show_page("model")
    qtbot.waitUntil(window.model.is_ready, timeout=120_000)
    assert window.windowTitle() == "Untitled model[*]" and not window.isWindowModified()
    window.model.apply_preset("gated")
    assert window.isWindowModified()
    window.model.save_spec_file(tmp_path / "gated.json")
    assert window.windowTitle() == "gated.json[*]" and not window.isWindowModified()
    assert "mmstudio" not in window.windowTitle()


def test_the_shortcuts_dialog_lists_the_menus_and_every_pages_own(window):
    rows = dict(window.shortcuts())
    assert rows["Ctrl+Shift+N"] == "New model spec" and rows["Ctrl+Shift+L"] == "Open model spec"
    assert rows["Ctrl+Z"] == "Model: Undo" and rows["Ctrl+Shift+Z"] == "Model: Redo"
    assert "Ctrl+1 … Ctrl+5" in rows and "Ctrl+1" not in rows


def test_a_run_that_ends_while_another_page_is_shown_is_announced_with_a_way_to_it(window, qtbot, tmp_path):
    from mmstudio.store import Store

    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        run_id = store.create_run(name="done")
    train = window.train
    window.show_page("datasets")
    train.run_finished.emit(run_id, "cancelled")
    assert window.notice.isVisible() and window.notice.text.text() == f"Run {run_id} stopped."
    qtbot.mouseClick(window.notice.action_button, Qt.MouseButton.LeftButton)
    assert window.current_page() == "experiments" and not window.notice.isVisible()
    qtbot.waitUntil(lambda: window.experiments.selected_run_ids() == [run_id], timeout=30_000)
    window.show_page("train")
    train.run_finished.emit(run_id, "completed")
    assert not window.notice.isVisible()  # on the Train page the run's end is in sight already
    window.experiments.shutdown()


def test_the_documentation_is_shown_in_the_app(window, qtbot):
    """#19: F1 shows the guides of this copy (a source checkout has them) instead of a raw folder."""
    from mmstudio.ui.docs_dialog import DocsDialog

    window._open_docs()
    dialog = window.docs_dialog
    qtbot.addWidget(dialog)
    assert isinstance(dialog, DocsDialog) and dialog.index.count() >= 4
    assert "mmstudio" in dialog.browser.toPlainText()
    titles = [dialog.index.item(i).text() for i in range(dialog.index.count())]
    assert titles[:2] == ["Overview", "Getting started"] and "Troubleshooting" in titles
    dialog.index.setCurrentRow(titles.index("Datasets"))
    assert "Datasets" in dialog.browser.toPlainText()
    dialog.index.setCurrentRow(titles.index("Troubleshooting"))
    assert "What mmstudio says when something is wrong" in dialog.browser.toPlainText()
    dialog.reject()


def test_an_unusable_store_is_said_in_the_status_bar_in_one_sentence(qtbot, settings, tmp_path):
    """Issue 13 tracebacks 2: the window says why the store cannot be opened, as the command line
    does (the same sentence), without a traceback."""
    (tmp_path / "a-folder").mkdir()
    win = MainWindow(settings, db_url=f"sqlite:///{tmp_path / 'a-folder'}")
    qtbot.addWidget(win)
    posted = []
    win.state.status_posted.connect(lambda message, _ms: posted.append(message))
    win.check_store()
    qtbot.waitUntil(lambda: any("could not be opened" in m for m in posted), timeout=30_000)
    message = next(m for m in posted if "could not be opened" in m)
    assert "is a folder, not a SQLite file" in message
    assert "Error:" not in message and "Traceback" not in message
