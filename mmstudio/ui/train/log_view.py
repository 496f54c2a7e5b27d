"""What a run says in words on the Train page: its log (time-stamped lines, warnings and errors
coloured) and, when it fails, the failure with its traceback a click away."""

from __future__ import annotations

import html
import time

from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QToolButton, QVBoxLayout, QWidget

from mmstudio.ui.widgets import MessageBar, section_label

#: Lines the log keeps (the oldest go first).
MAX_LOG_LINES = 5000
_LEVEL_STYLE = {"error": ("#d64541", "error:"), "warning": ("#b7791f", "warning:")}


class RunLogWidget(QWidget):
    """The log: one line per :meth:`add`, the time first."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = QPlainTextEdit()
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(MAX_LOG_LINES)
        self.view.setPlaceholderText("What the run reports appears here.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(section_label("Log"))
        layout.addWidget(self.view)

    def add(self, level: str, message: str) -> None:
        """Append ``message`` (``level``: info, warning or error)."""
        stamp = time.strftime("%H:%M:%S")
        text = html.escape(message)
        style = _LEVEL_STYLE.get(level)
        if style is None:
            line = f'<span style="color:#7b8794">{stamp}</span> {text}'
        else:
            colour, word = style
            line = f'<span style="color:{colour}"><b>{stamp} {word}</b> {text}</span>'
        self.view.appendHtml(line)

    def text(self) -> str:
        return self.view.toPlainText()

    def last_lines(self, count: int) -> list[str]:
        return self.text().splitlines()[-count:]


class RunFailureWidget(QWidget):
    """A failed run's message, and its details (the traceback) behind Show details. Hidden until
    :meth:`show_failure`; :meth:`clear` hides it again."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = MessageBar()
        self.details_button = QToolButton(text="Show details")
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(self._on_details_button_toggled)
        self.details_text = QPlainTextEdit()
        self.details_text.setReadOnly(True)
        self.details_text.setMaximumHeight(180)
        self.details_text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details_text.hide()
        row = QHBoxLayout()
        row.addWidget(self.details_button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.bar)
        layout.addLayout(row)
        layout.addWidget(self.details_text)
        self.hide()

    def show_failure(self, message: str, details: str) -> None:
        """Show ``message`` as an error; ``details`` (a traceback) when the user asks."""
        self.bar.show_message(message, "error")
        self.details_text.setPlainText(details)
        self.show()

    def clear(self) -> None:
        self.bar.clear()
        self.details_button.setChecked(False)
        self.hide()

    def _on_details_button_toggled(self, on: bool) -> None:
        self.details_text.setVisible(on)
        self.details_button.setText("Hide details" if on else "Show details")
