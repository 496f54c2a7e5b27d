""" "Check on a batch" on the Model page: the button (which cancels while a check runs, and says why it
cannot start when it cannot), what the check is doing, and its outcome worded by
:func:`mmstudio.training.preflight.describe_check`."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from mmstudio.ui.model.sections import hint_label
from mmstudio.ui.resources import icon
from mmstudio.ui.widgets import MessageBar

READY_TIP = "Build the model and run one real training batch through it: forward, loss and backward"


class BatchCheckWidget(QWidget):
    """The button emits :attr:`clicked`; the page starts or cancels the check and shows its outcome."""

    clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(8)
        row = QHBoxLayout()
        self.button = QPushButton(icon("check"), "Check on a batch")
        self.button.setObjectName("checkButton")
        self.button.clicked.connect(self.clicked)
        row.addWidget(self.button)
        self._status = hint_label()
        row.addWidget(self._status, 1)
        column.addLayout(row)
        self.message = MessageBar()
        self.message.setObjectName("checkMessage")
        column.addWidget(self.message)

    def set_state(self, *, running: bool, reason: str = "") -> None:
        """A running check can be cancelled; else the button starts one, unless there is a ``reason``
        not to (its tooltip then)."""
        if running:
            self.button.setText("Cancel check")
            self.button.setEnabled(True)
            self.button.setToolTip("Stop the check")
            return
        self.button.setText("Check on a batch")
        self.button.setEnabled(not reason)
        self.button.setToolTip(reason or READY_TIP)

    def set_status(self, text: str) -> None:
        """What the check is doing ("" to clear)."""
        self._status.setText(text)

    def show_outcome(self, text: str, level: str) -> None:
        self.message.show_message(text, level)
        self._status.clear()

    def clear(self) -> None:
        self.message.clear()
        self._status.clear()
