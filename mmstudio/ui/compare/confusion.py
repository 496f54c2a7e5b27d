"""The Compare page's confusion tab: each run's confusion matrix on the test split as a heat map, side
by side; a click on a cell lists those test items beside them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from mmstudio.formatting import plural, shorten
from mmstudio.store.compare import Comparison, run_label
from mmstudio.ui.compare.charts import png_bytes, run_colour
from mmstudio.ui.compare.examples import ExamplesWidget
from mmstudio.ui.plot_style import mix, plot_colours


class ConfusionTab(QWidget):
    """The runs' confusion matrices in a grid (2 or 3 a row) and the examples of the cell clicked."""

    cell_clicked = Signal(int, str, str)  # run id, true label, predicted label

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.comparison: Comparison | None = None
        h = QHBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.host = QWidget()
        self.grid = QGridLayout(self.host)
        self.scroll.setWidget(self.host)
        splitter.addWidget(self.scroll)
        self.examples = ExamplesWidget("Examples")
        self.examples.caption.setText("Click a cell of a matrix to see those test items.")
        splitter.addWidget(self.examples)
        splitter.setSizes([820, 400])
        h.addWidget(splitter)
        self.widgets: list[ConfusionMatrixWidget] = []

    def set_comparison(self, c: Comparison) -> None:
        self.comparison = c

    def fill(self) -> None:
        for w in self.widgets:
            w.setParent(None)
            w.deleteLater()
        self.widgets = []
        c = self.comparison
        if c is None:
            return
        columns = 2 if len(c.runs) <= 4 else 3
        for n, run in enumerate(c.runs):
            w = ConfusionMatrixWidget(run.id, run_label(run), run_colour(n))
            e = c.evaluation(run.id)
            w.set_matrix((e.labels or []) if e else [], e.confusion_matrix if e else None)
            w.setMinimumSize(300, 260)
            w.cell_clicked.connect(self.cell_clicked)
            self.grid.addWidget(w, n // columns, n % columns)
            self.widgets.append(w)

    def to_png(self) -> bytes | None:
        """The matrices as one PNG (for the report); None when none is shown."""
        return png_bytes(self.host.grab()) if self.widgets else None


class ConfusionTableModel(QAbstractTableModel):
    """A confusion matrix (rows: true label, columns: predicted) with a heat-map background by the
    row's share, so classes of different sizes read alike."""

    def __init__(self, labels: Sequence[str], matrix: Sequence[Sequence[int]], parent=None) -> None:
        super().__init__(parent)
        self.labels = list(labels)
        self.matrix = np.asarray(matrix, dtype=np.int64).reshape(len(self.labels), len(self.labels))
        totals = self.matrix.sum(axis=1, keepdims=True)
        #: Long labels: columns are numbered like the rows, so that every column stays readable.
        self.numbered = max((len(x) for x in self.labels), default=0) > 6
        self.share = np.divide(self.matrix, totals, out=np.zeros(self.matrix.shape), where=totals > 0)
        self.background = plot_colours().background  # the heat map fades into the palette's base

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.labels)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.labels)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r, c = index.row(), index.column()
        share = float(self.share[r, c])
        if role == Qt.ItemDataRole.DisplayRole:
            return str(int(self.matrix[r, c]))
        if role == Qt.ItemDataRole.BackgroundRole:
            return heat_colour(share, diagonal=r == c, background=self.background)
        if role == Qt.ItemDataRole.ForegroundRole:  # what reads on the cell's colour, light or dark
            cell = heat_colour(share, diagonal=r == c, background=self.background)
            return QColor("white") if cell.lightnessF() < 0.6 else QColor("#222")
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return Qt.AlignmentFlag.AlignCenter
        if role == Qt.ItemDataRole.ToolTipRole:
            count = int(self.matrix[r, c])
            see = "" if count == 0 else " Click to see it." if count == 1 else " Click to see them."
            return (
                f"true {self.labels[r]}, predicted {self.labels[c]}: {plural(count, 'test item')} "
                f"({share:.0%} of {self.labels[r]}).{see}"
            )
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole:
            if orientation == Qt.Orientation.Horizontal and self.numbered:
                return str(section + 1)
            name = shorten(self.labels[section], 16)
            return f"{section + 1} {name}" if self.numbered else name
        if role == Qt.ItemDataRole.ToolTipRole:
            kind = "predicted" if orientation == Qt.Orientation.Horizontal else "true"
            return f"{kind}: {self.labels[section]}"
        return None


def heat_colour(share: float, *, diagonal: bool, background: QColor | None = None) -> QColor:
    """The background (white, or the dark palette's base) to blue for the diagonal (right), to red
    elsewhere (mistakes)."""
    base = QColor(33, 102, 172) if diagonal else QColor(202, 0, 32)
    return mix(base, max(0.0, min(1.0, share)), background if background is not None else QColor("white"))


class ConfusionMatrixWidget(QWidget):
    """One run's confusion matrix as a heat-map table with its labels; a click on a cell says which."""

    cell_clicked = Signal(int, str, str)  # run id, true label, predicted label

    def __init__(self, run_id: int, title: str, colour: QColor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_id = run_id
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.run_title = title
        self.title = QLabel(title)
        font = QFont(self.title.font())
        font.setBold(True)
        self.title.setFont(font)
        self.title.setStyleSheet(f"border-left: 6px solid {colour.name()}; padding-left: 6px;")
        self.title.setWordWrap(True)  # a narrow window wraps it rather than cutting the accuracy off
        layout.addWidget(self.title)
        self.subtitle = QLabel("rows: true label, columns: predicted")
        self.subtitle.setObjectName("hint")
        self.subtitle.setWordWrap(True)
        layout.addWidget(self.subtitle)
        self.table = QTableView()
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        self.table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setMinimumSectionSize(28)
        self.table.clicked.connect(self._on_table_clicked)
        layout.addWidget(self.table, 1)
        self.table_model: ConfusionTableModel | None = None

    def set_matrix(self, labels: Sequence[str], matrix: Sequence[Sequence[int]] | None) -> None:
        if matrix is None:
            self.table_model = None
            self.table.setModel(None)
            self.subtitle.setText("no confusion matrix: this run has no test evaluation")
            return
        self.table_model = ConfusionTableModel(labels, matrix, self.table)
        self.table.setModel(self.table_model)
        m = self.table_model.matrix
        total = int(m.sum())
        acc = float(np.trace(m)) / total if total else float("nan")
        columns = "predicted, numbered as the rows" if self.table_model.numbered else "predicted"
        self.title.setText(f"{self.run_title}   ·   accuracy {acc:.1%} of {plural(total, 'test item')}")
        self.subtitle.setText(f"rows: true label; columns: {columns}")

    def click_cell(self, true_label: str, predicted_label: str) -> None:
        """What a click on that cell does (for tests and keyboard use)."""
        self.cell_clicked.emit(self.run_id, true_label, predicted_label)

    def _on_table_clicked(self, index: QModelIndex) -> None:
        if self.table_model is not None and index.isValid():
            labels = self.table_model.labels
            self.cell_clicked.emit(self.run_id, labels[index.row()], labels[index.column()])
