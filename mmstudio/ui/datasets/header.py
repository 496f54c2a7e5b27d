"""The Datasets page's header: which dataset, how it was understood, and the work going on.

The dataset's name, a chip with its format and its path; the reason the format was chosen; the summary
line ("1,382 usable pairs, 7 skipped  ·  6 labels  ·  ...") and its columns, all written by the core
(:mod:`mmstudio.data.overview`). While a task runs, its progress and Cancel; Columns… and Reload.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from mmstudio.data.dataset import Dataset
from mmstudio.data.overview import columns_text, display_name, summary_line
from mmstudio.data.stats import DatasetStats


class DatasetHeader(QWidget):
    """Title, format chip, path, reason, summary and columns; progress, Cancel, Columns… and Reload.

    The panel connects the buttons' ``clicked`` signals and says what to show (:meth:`show_dataset`,
    :meth:`update_controls`, :meth:`show_progress`).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel()
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.format_label = QLabel()
        self.format_label.setObjectName("formatChip")  # styled in resources/style.qss, light or dark
        self.path_label = _secondary_label()
        self.path_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.path_label.setWordWrap(False)
        self.reason_label = _secondary_label()
        self.reason_label.setToolTip("How the format was detected")
        self.summary_label = QLabel()
        summary_font = QFont(self.summary_label.font())
        summary_font.setBold(True)
        self.summary_label.setFont(summary_font)
        self.summary_label.setWordWrap(True)
        self.columns_label = _secondary_label()
        self.columns_label.setWordWrap(False)
        self.columns_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.columns_label.setMinimumWidth(120)
        self.columns_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        self.progress_label = _secondary_label()
        self.progress_label.setWordWrap(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedWidth(180)
        self.cancel_button = QPushButton("Cancel")
        self.columns_button = QPushButton("Columns…")
        self.columns_button.setToolTip("Choose which column is the image, the text, the label and the split")
        self.reload_button = QPushButton("Reload")
        self.reload_button.setToolTip("Read and check the dataset again (after its files changed)")

        top = QHBoxLayout()
        top.setSpacing(10)
        top.addWidget(self.title)
        top.addWidget(self.format_label)
        top.addWidget(self.path_label, 1)
        top.addWidget(self.progress_label)
        top.addWidget(self.progress)
        top.addWidget(self.cancel_button)
        top.addWidget(self.columns_button)
        top.addWidget(self.reload_button)
        bottom = QHBoxLayout()
        bottom.setSpacing(16)
        bottom.addWidget(self.summary_label, 3)
        bottom.addWidget(self.columns_label, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.reason_label)
        layout.addLayout(bottom)

    def show_dataset(self, dataset: Dataset, path: str, stats: DatasetStats) -> None:
        """Say which dataset is shown (``path`` as the user gave it), how it was read, and its summary."""
        self.title.setText(display_name(path, dataset))
        self.title.setToolTip(path)
        self.format_label.setText(dataset.format)
        self.path_label.setText(path)
        self.path_label.setToolTip(path)
        self.reason_label.setText(dataset.reason)
        self.summary_label.setText(summary_line(dataset, stats))
        self.columns_label.setText(columns_text(dataset.columns))
        self.columns_label.setToolTip(columns_text(dataset.columns))  # cut off in a narrow window

    def update_controls(
        self, *, busy: bool, shown: Dataset | None, columns: bool, loading: str | None
    ) -> None:
        """Show what fits: the progress while ``busy``, the dataset's lines when one is ``shown``,
        Columns… when its ``columns`` may be chosen; ``loading`` is the path of a first load."""
        # Showing a widget in a visible window lays the window out at once; with the header hidden
        # meanwhile, its children change for free and the window is laid out once, not ten times.
        has = shown is not None
        self.setVisible(False)
        for w in (self.progress, self.progress_label, self.cancel_button):
            w.setVisible(busy)
        self.cancel_button.setEnabled(busy)
        self.columns_button.setVisible(has and columns)
        self.columns_button.setEnabled(has and not busy)
        self.reload_button.setVisible(has)
        self.reload_button.setEnabled(has and not busy)
        for w in (self.reason_label, self.summary_label, self.columns_label, self.format_label):
            w.setVisible(has)
        if busy and not has and loading is not None:
            self.title.setText(f"Loading {display_name(loading)}")
            self.path_label.setText("")
        self.setVisible(has or busy)

    def show_progress(self, fraction: float, message: str) -> None:
        """A task's progress: ``fraction`` in [0, 1], or below 0 for a message alone (a busy bar)."""
        if fraction < 0:
            self.progress.setRange(0, 0)
            self.progress_label.setText(f"{message}…" if message else "Working…")
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(fraction * 1000))
            self.progress_label.setText(f"{message}: {fraction:.0%}" if message else f"{fraction:.0%}")

    def show_cancelling(self) -> None:
        self.progress_label.setText("Cancelling…")
        self.cancel_button.setEnabled(False)


def _secondary_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label
