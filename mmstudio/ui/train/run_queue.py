"""The Train page's queue of runs: a list of the :class:`~mmstudio.training.queue.RunQueue` (the rules
are there, Qt-free), each entry coloured by its status, with Up, Down, Remove, Clear finished and
Run queue.

:class:`RunQueueListModel` shows the queue; :class:`RunQueueWidget` is the section of the page, whose
buttons are enabled as the queue's rules allow. Whoever changes the queue otherwise (a run starts or
ends) calls :meth:`RunQueueWidget.refresh`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QListView,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmstudio.training.queue import RunQueue

#: The text colour of an entry, by status.
STATUS_COLOURS = {
    "queued": "#5b6b7f",
    "starting": "#2f7dd1",
    "running": "#2f7dd1",
    "completed": "#2e9e5b",
    "cancelled": "#e0a21b",
    "interrupted": "#e0a21b",
    "failed": "#d64541",
}
_OTHER_COLOUR = "#5b6b7f"


class RunQueueListModel(QAbstractListModel):
    """The entries of a :class:`RunQueue`, one row each: ``[status] run N · title``, coloured by status,
    with the failure message as the tooltip. Call :meth:`refresh` after the queue changed."""

    def __init__(self, queue: RunQueue, parent: Any = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self._brushes = {status: QBrush(QColor(colour)) for status, colour in STATUS_COLOURS.items()}

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.queue)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        entry = self.queue.get(index.row()) if index.isValid() else None
        if entry is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return entry.label
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._brushes.get(entry.status) or QBrush(QColor(_OTHER_COLOUR))
        if role == Qt.ItemDataRole.ToolTipRole:
            return entry.message or None
        return None

    def refresh(self) -> None:
        """The queue changed (entries added, moved, removed, or their status): show it again."""
        self.beginResetModel()
        self.endResetModel()


class RunQueueWidget(QWidget):
    """The queue's list and its buttons. ``changed()`` after the user moved, removed or cleared
    entries; ``run_requested()`` when Run queue is clicked."""

    changed = Signal()
    run_requested = Signal()

    def __init__(self, queue: RunQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self._running = False
        self.model = RunQueueListModel(queue, self)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setMinimumHeight(90)
        self.view.setMaximumHeight(150)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.selectionModel().currentRowChanged.connect(self._on_view_current_row_changed)
        self.up_button = QToolButton(text="Up")
        self.up_button.clicked.connect(lambda: self.move(self.current_row(), -1))
        self.down_button = QToolButton(text="Down")
        self.down_button.clicked.connect(lambda: self.move(self.current_row(), 1))
        self.remove_button = QToolButton(text="Remove")
        self.remove_button.clicked.connect(lambda: self.remove(self.current_row()))
        self.clear_button = QToolButton(text="Clear finished")
        self.clear_button.clicked.connect(self.clear_finished)
        self.run_button = QPushButton("Run queue")
        self.run_button.clicked.connect(self.run_requested)

        buttons = QHBoxLayout()
        for button in (self.up_button, self.down_button, self.remove_button, self.clear_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        run_row = QHBoxLayout()
        run_row.addStretch(1)
        run_row.addWidget(self.run_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self.view)
        layout.addLayout(buttons)
        layout.addLayout(run_row)
        self.update_buttons()

    def current_row(self) -> int:
        """The selected row; -1 when none is."""
        index = self.view.currentIndex()
        return index.row() if index.isValid() else -1

    def set_current_row(self, row: int) -> None:
        self.view.setCurrentIndex(self.model.index(row, 0))

    def refresh(self) -> None:
        """Show the queue as it is now; the selected row stays selected while it exists."""
        row = self.current_row()
        self.model.refresh()
        if 0 <= row < len(self.queue):
            self.set_current_row(row)
        self.update_buttons()

    def set_running(self, running: bool) -> None:
        """A run is starting or running (Run queue waits for it to end)."""
        self._running = running
        self.update_buttons()

    def update_buttons(self) -> None:
        row = self.current_row()
        self.up_button.setEnabled(self.queue.can_move(row, -1))
        self.down_button.setEnabled(self.queue.can_move(row, 1))
        self.remove_button.setEnabled(self.queue.can_remove(row))
        self.run_button.setEnabled(not self._running and self.queue.has_waiting())

    # --- the user's edits -----------------------------------------------------------------------

    def move(self, row: int, delta: int) -> bool:
        """Move a waiting entry up (-1) or down (+1) among the waiting ones, and keep it selected."""
        if not self.queue.move(row, delta):
            return False
        self.refresh()
        self.set_current_row(row + delta)
        self.changed.emit()
        return True

    def remove(self, row: int) -> bool:
        """Remove an entry that is not starting or running."""
        if not self.queue.remove(row):
            return False
        self.refresh()
        self.changed.emit()
        return True

    def clear_finished(self) -> None:
        """Remove the entries whose run has ended."""
        self.queue.clear_finished()
        self.refresh()
        self.changed.emit()

    def _on_view_current_row_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self.update_buttons()
