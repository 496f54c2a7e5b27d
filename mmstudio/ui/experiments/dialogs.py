"""The Experiments page's dialogs: a run's notes, and the metrics of an evaluation."""

from __future__ import annotations

from html import escape
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mmstudio.formatting import plural, sentence
from mmstudio.ui.widgets import MessageBar


class NotesDialog(QDialog):
    """Edit a run's notes (free text)."""

    def __init__(self, run_name: str, notes: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Notes on {run_name}")
        self.resize(520, 320)
        layout = QVBoxLayout(self)
        self.editor = QPlainTextEdit(notes)
        self.editor.setPlaceholderText("What was tried, what was learned, what to do next…")
        layout.addWidget(self.editor)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def notes(self) -> str:
        return self.editor.toPlainText()


class EvaluationDialog(QDialog):
    """The metrics of an evaluation of a run on another dataset."""

    def __init__(self, run_name: str, result: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Evaluation of {run_name}")
        self.resize(480, 420)
        layout = QVBoxLayout(self)
        items = result.get("items", 0)
        summary = QLabel(
            f"<b>{escape(run_name)}</b> on <code>{escape(str(result.get('dataset', '')))}</code><br>"
            f"{plural(items, 'item')}, split {escape(str(result.get('split', 'all')))}, "
            f"checkpoint {escape(str(result.get('checkpoint', '')))}"
        )
        summary.setWordWrap(True)
        summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(summary)
        # the evaluated items the run trained on: the scores overstate how it does on unseen data
        self.warnings: list[MessageBar] = []
        for warning in result.get("warnings", []):
            bar = MessageBar()
            bar.show_message(sentence(str(warning)), "warning")
            layout.addWidget(bar)
            self.warnings.append(bar)
        overlap = result.get("overlap") or {}
        if overlap.get("shared") == 0:
            clean = QLabel(
                f"None of these items shows an image the run was trained on (compared by image content "
                f"with the {plural(overlap.get('training_items', 0), 'item')} of its training split)."
            )
            clean.setWordWrap(True)
            clean.setObjectName("hint")
            layout.addWidget(clean)
        scalars = {k: v for k, v in sorted(result.get("metrics", {}).items()) if isinstance(v, int | float)}
        self.table = QTableWidget(len(scalars), 2)
        self.table.setHorizontalHeaderLabels(["Metric", "Value"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for row, (key, value) in enumerate(scalars.items()):
            self.table.setItem(row, 0, QTableWidgetItem(key))
            item = QTableWidgetItem(f"{value:.4f}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, 1, item)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table, 1)
        for note in result.get("notes", []):
            label = QLabel(f"Note: {escape(str(note))}")
            label.setWordWrap(True)
            layout.addWidget(label)
        hint = QLabel(f"The evaluation is saved with the run (mmstudio runs show {result.get('run_id', 0)}).")
        hint.setObjectName("hint")
        layout.addWidget(hint)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)
