"""The Train page without a real run (its events fed in, its runs written to a real store): the wheel
over its form scrolls the page (a field takes the wheel only when focused); the runs to resume follow
the store and stay chosen; Start is unavailable, saying why, for data that cannot train the model;
at the window's minimum size every plot keeps a readable height; the page's keys."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QKeySequence, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from mmstudio.data.dataset import load_dataset
from mmstudio.data.spec import DatasetSpec
from mmstudio.store import Store
from mmstudio.training import events as ev
from mmstudio.ui.plot_style import PlotWidget
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.train.panel import TrainPanel
from mmstudio.ui.train.run_view import READABLE_PLOT_HEIGHT

#: The Train page's area in the window at the window's minimum size, 720 x 480 (the page bar, the menu
#: and the status bar take the rest).
MINIMUM_PAGE = (623, 439)


@pytest.fixture
def make_page(qtbot, tmp_path):
    def make(dataset=None, spec=None, size=(1000, 420)) -> TrainPanel:
        state = StudioState()
        state.set_db_url(f"sqlite:///{tmp_path / 'runs.db'}")
        Store.open(state.db_url).close()  # made once here, not by the page's listing and a test at once
        if dataset is not None:
            state.set_dataset(dataset, spec)
        panel = TrainPanel(state, Settings(tmp_path / "settings.ini"))
        qtbot.addWidget(panel)
        panel.resize(*size)
        panel.show()
        qtbot.waitExposed(panel)
        return panel

    return make


def _wheel(widget: QWidget, notches: int) -> None:
    """``notches`` of the mouse wheel over ``widget`` (positive: towards the user, scrolling down)."""
    pos = QPointF(widget.rect().center())
    event = QWheelEvent(
        pos,
        QPointF(widget.mapToGlobal(pos)),
        QPoint(),
        QPoint(0, -120 * notches),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_the_form_and_changes_only_a_focused_field(qtbot, make_page):
    panel = make_page()
    form = panel.form
    bar = panel.settings_column.verticalScrollBar()
    assert bar.maximum() > 0  # the column is taller than the page: it scrolls
    combos = [form.optimizer_combo, form.precision_combo, form.device_combo, panel.resumable.combo]
    assert all(field.focusPolicy() == Qt.FocusPolicy.StrongFocus for field in [*form.fields(), *combos])
    form.seed_spin.setValue(5)
    before = {
        field: (field.value() if hasattr(field, "value") else field.currentIndex())
        for field in form.fields()[:-1]
    }
    for field in form.fields()[:-1]:  # the run name is a line edit: the wheel never edits it
        bar.setValue(0)
        _wheel(field, 3)
        assert bar.value() > 0, f"{field.objectName() or type(field).__name__} did not scroll the page"
    after = {
        field: (field.value() if hasattr(field, "value") else field.currentIndex())
        for field in form.fields()[:-1]
    }
    assert after == before

    # A focused field takes the wheel, and the page stays where it is.
    form.seed_spin.setFocus()
    qtbot.waitUntil(form.seed_spin.hasFocus)
    bar.setValue(bar.maximum() // 2)
    _wheel(form.seed_spin, -1)  # away from the user: up
    assert form.seed_spin.value() == 6 and bar.value() == bar.maximum() // 2


def _ended_run(db_url: str, name: str, status: str) -> int:
    with Store.open(db_url) as store:
        run_id = store.create_run(name=name)
        store.start_run(run_id)
        store.finish_run(run_id, status)
    return run_id


def test_the_runs_to_resume_follow_the_store_and_the_chosen_one_stays_chosen(qtbot, make_page):
    panel = make_page()
    resumable = panel.resumable
    assert not resumable.resume_button.isEnabled()
    assert "No stopped" in resumable.resume_button.toolTip()

    # A run the user stopped ends: it is offered and chosen at once, no refresh button pressed.
    stopped = _ended_run(panel.state.db_url, "first", "cancelled")
    with qtbot.waitSignal(panel.resumable_listed, timeout=10_000):
        panel.feed_events([ev.RunFinished(stopped, "cancelled")])
    assert resumable.combo.currentData() == stopped
    assert resumable.combo.currentText() == f"{stopped} · first (stopped)"
    assert resumable.resume_button.isEnabled() and "Continue" in resumable.resume_button.toolTip()
    resumable.combo.showPopup()  # the drop-down dismissed keeps the choice
    resumable.combo.hidePopup()
    assert resumable.combo.currentData() == stopped

    # Runs change in the store (another page, the command line): the list follows, the choice stays.
    failed = _ended_run(panel.state.db_url, "second", "failed")
    with qtbot.waitSignal(panel.resumable_listed, timeout=10_000) as listed:
        panel.state.runs_changed.emit()
    assert [run[0] for run in listed.args[0]] == [failed, stopped]
    assert resumable.combo.currentData() == stopped

    # Resume never fails silently: this run has no dataset on record and none is open.
    qtbot.mouseClick(resumable.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: resumable.message.isVisible(), timeout=10_000)
    assert resumable.message.error().startswith(f"The run cannot be resumed: run {stopped} has no dataset")


def test_start_is_unavailable_with_the_reason_for_a_single_label_dataset(qtbot, make_page, single_label_demo):
    panel = make_page(load_dataset(single_label_demo), DatasetSpec(path=str(single_label_demo)))
    qtbot.waitUntil(lambda: panel.job_check.problems is not None, timeout=10_000)
    reason = (
        f"{single_label_demo.name} has a single label ('cat'), and a classification model needs at least two"
    )
    assert not panel.start_button.isEnabled() and not panel.queue_button.isEnabled()
    assert panel.start_button.toolTip().startswith(f"Start is unavailable: {reason}")
    assert panel.start_message.isVisible() and reason in panel.start_message.label.text()
    assert panel.start() is False and reason in panel.form_message.error()
    assert panel.add_to_queue() is None and panel.entries == []
    assert "240 pairs · 1 label · manifest" in panel.summary.dataset_label.text()  # not "1 labels"


def test_start_follows_the_data_and_the_model(qtbot, make_page, small_demo):
    demo = load_dataset(small_demo)
    panel = make_page(demo, DatasetSpec(path=str(small_demo)))
    qtbot.waitUntil(lambda: panel.job_check.problems == [], timeout=10_000)
    assert panel.start_button.isEnabled() and not panel.start_message.isVisible()
    # A regression model on text labels: the data cannot serve the task.
    panel.state.set_model_spec({"task": "regression"})
    qtbot.waitUntil(lambda: bool(panel.job_check.problems), timeout=10_000)
    assert not panel.start_button.isEnabled() and "are not numbers" in panel.start_button.toolTip()
    panel.state.set_model_spec(None)  # back to the default for the data
    qtbot.waitUntil(lambda: panel.job_check.problems == [], timeout=10_000)
    assert (
        panel.start_button.isEnabled() and panel.start_button.toolTip() == "Start training now (Ctrl+Return)"
    )


def _plots(panel: TrainPanel) -> list[PlotWidget]:
    return panel.run_view.plots.findChildren(PlotWidget)


def test_at_the_windows_minimum_size_a_run_takes_the_page_and_every_plot_stays_readable(qtbot, make_page):
    panel = make_page(size=MINIMUM_PAGE)
    # One at a time: first the settings, with a way to the run.
    assert panel.is_narrow() and panel.settings_column.isVisible() and not panel.run_view.isVisible()
    assert panel.settings_column.run_button.isVisible()
    assert panel.width() == MINIMUM_PAGE[0]  # nothing needs more: nothing is clipped
    panel.feed_events([ev.RunStarted(1, "run", "cpu", 3, 18, 54)])
    assert not panel.settings_column.isVisible() and panel.run_view.isVisible()  # the run takes the page
    area = panel.run_view.plots_area
    # The whole width less the margins, and the plots scroll.
    qtbot.waitUntil(lambda: area.width() >= MINIMUM_PAGE[0] - 40 and area.verticalScrollBar().maximum() > 0)
    assert len(_plots(panel)) >= 4 and all(plot.height() >= READABLE_PLOT_HEIGHT for plot in _plots(panel))
    assert all(plot.width() >= 200 for plot in _plots(panel))

    # The wheel over a plot scrolls the plots while they do not fit (Ctrl and the wheel zoom it).
    plot = _plots(panel)[0]
    _wheel(plot.viewport(), 1)
    assert area.verticalScrollBar().value() > 0

    # The toggle left of the run's name brings the column back; a wide page shows both.
    panel.settings_action.trigger()
    assert panel.settings_column.isVisible() and not panel.run_view.isVisible()
    qtbot.mouseClick(panel.settings_column.run_button, Qt.MouseButton.LeftButton)
    assert not panel.settings_column.isVisible() and panel.run_view.isVisible()
    panel.settings_action.trigger()
    panel.feed_events([ev.RunStarted(2, "next", "cpu", 3, 18, 54)])  # the next run takes the page again
    assert not panel.settings_column.isVisible()
    panel.resize(1280, 800)
    qtbot.waitUntil(lambda: panel.settings_column.isVisible())  # hidden for the run: shown again
    assert panel.run_view.isVisible() and not panel.settings_column.run_button.isVisible()
    qtbot.waitUntil(lambda: area.verticalScrollBar().maximum() == 0)  # everything fits
    assert all(plot.height() >= READABLE_PLOT_HEIGHT for plot in _plots(panel))


def test_the_keys_of_the_page_start_pause_and_stop_and_the_buttons_name_them(
    qtbot, make_page, single_label_demo
):
    panel = make_page(load_dataset(single_label_demo), DatasetSpec(path=str(single_label_demo)))
    keys = {action.text(): action for action in panel.actions() if not action.shortcut().isEmpty()}
    assert {name: action.shortcut() for name, action in keys.items()} == {
        "Start training": QKeySequence("Ctrl+Return"),
        "Pause or resume the run": QKeySequence("Ctrl+P"),
        "Stop the run": QKeySequence("Ctrl+."),
    }
    assert all(a.shortcutContext() == Qt.ShortcutContext.WidgetWithChildrenShortcut for a in keys.values())
    progress = panel.run_view.progress_view
    assert panel.start_button.toolTip().endswith("(Ctrl+Return)")
    assert progress.pause_button.toolTip().endswith("(Ctrl+P)")
    assert progress.stop_button.toolTip().endswith("(Ctrl+.)")

    # Ctrl+Return from a field of the form starts, or says why it cannot: here, the data.
    qtbot.waitUntil(lambda: panel.job_check.problems is not None, timeout=10_000)
    panel.activateWindow()
    panel.form.seed_spin.setFocus()
    qtbot.waitUntil(panel.form.seed_spin.hasFocus)
    QTest.keyClick(panel.form.seed_spin, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert "has a single label ('cat')" in panel.form_message.error()
    # Without a run, Ctrl+P and Ctrl+. do nothing (and nothing fails).
    QTest.keyClick(panel.form.seed_spin, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(panel.form.seed_spin, Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier)
    assert not panel.has_running_run() and panel.form.seed_spin.value() == 0


def test_the_summary_says_what_the_run_augments(qtbot, make_page, small_demo):
    panel = make_page(load_dataset(small_demo), DatasetSpec(path=str(small_demo)))
    assert "augmented" not in panel.summary.settings_label.text()
    panel.form.augment_image_combo.setCurrentIndex(1)  # light
    assert "training batches augmented: images light (crop, flip)" in panel.summary.settings_label.text()
    panel.form.augment_flip_check.setChecked(False)
    panel.form.augment_text_combo.setCurrentIndex(2)  # strong
    said = "training batches augmented: images light (crop) and text strong (token dropout, span masking)"
    assert said in panel.summary.settings_label.text()
    # A text-only model augments no images.
    panel.state.set_model_spec(
        {"task": "classification", "text_encoder": {"name": "bag"}, "image_encoder": {"name": "none"}}
    )
    said = "training batches augmented: text strong (token dropout, span masking)"
    assert said in panel.summary.settings_label.text()
