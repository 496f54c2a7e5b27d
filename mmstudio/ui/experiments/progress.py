"""The Experiments page's progress row: what a long action on a run (an evaluation) is doing, how far
it is, and a Cancel button; hidden when nothing runs."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget

from mmstudio.ui.resources import icon


class TaskProgressRow(QWidget):
    """``start(title)`` shows the row; :meth:`show_progress` takes a task's ``progressed`` signal;
    :meth:`finish` hides it. Cancel emits :attr:`cancel_requested` (once)."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        self.title = QLabel()
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.label = QLabel()
        self.label.setObjectName("hint")
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setFixedWidth(220)
        self.cancel_button = QPushButton(icon("stop"), "Cancel")
        self.cancel_button.setToolTip("Stop the evaluation; nothing is recorded")
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        layout.addWidget(self.title)
        layout.addWidget(self.bar)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.cancel_button)
        self.hide()

    def start(self, title: str) -> None:
        self.title.setText(title)
        self.label.setText("Starting…")
        self.bar.setRange(0, 0)  # busy until the first fraction
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        self.show()

    def show_progress(self, fraction: float, message: str) -> None:
        """``fraction`` in [0, 1] of the step ``message`` names; below 0: a new step, length unknown."""
        if fraction < 0:
            self.bar.setRange(0, 0)
            self.label.setText(f"{message}…" if message else "")
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(round(fraction * 1000))
            self.label.setText(f"{message}: {fraction:.0%}" if message else f"{fraction:.0%}")
        self.label.setToolTip(self.label.text())

    def finish(self) -> None:
        self.hide()

    def _on_cancel_button_clicked(self) -> None:
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")
        self.cancel_requested.emit()
