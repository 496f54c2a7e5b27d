"""The Train page without a real run: the wheel over its form scrolls the page (a field takes the
wheel only when focused)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QWidget

from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.train.panel import TrainPanel


@pytest.fixture
def make_page(qtbot, tmp_path):
    def make(dataset=None, spec=None, size=(1000, 420)) -> TrainPanel:
        state = StudioState()
        state.set_db_url(f"sqlite:///{tmp_path / 'runs.db'}")
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
