"""The validation report: every problem row, grouped by kind, expandable, exportable to CSV.

:class:`ReportTreeModel` is a two-level tree (kind with its count → one row per problem) answered
from the report's lists, so a dataset with 100,000 missing files opens as fast as one with three. The
words (each kind's title and help, the summary line) and the CSV are the core's
(:mod:`mmstudio.data.report`), which ``mmstudio data check --problems-csv`` writes too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from mmstudio.data.report import KIND_HELP, kind_title, problem_file, summary_text, write_problems_csv
from mmstudio.data.types import Problem, ValidationReport
from mmstudio.ui.resources import icon


class ReportTreeModel(QAbstractItemModel):
    """Kinds (with their counts) at the top level, their problems below.

    An index's ``internalId`` is 0 for a kind and ``kind row + 1`` for a problem of that kind.
    """

    COLUMNS = ("Problem", "Row", "Image", "Message")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._kinds: list[str] = []
        self._groups: list[list[Problem]] = []

    def set_problems(self, problems: Sequence[Problem]) -> None:
        """Group ``problems`` by kind, the most frequent kind first (skipped rows before warnings)."""
        groups: dict[str, list[Problem]] = {}
        for p in problems:
            groups.setdefault(str(p.kind), []).append(p)
        order = sorted(groups, key=lambda k: (not groups[k][0].skipped, -len(groups[k]), k))
        self.beginResetModel()
        self._kinds = order
        self._groups = [groups[k] for k in order]
        self.endResetModel()

    @property
    def kinds(self) -> list[str]:
        return list(self._kinds)

    def problems_of(self, kind: str) -> list[Problem]:
        return list(self._groups[self._kinds.index(kind)]) if kind in self._kinds else []

    def problem(self, index: QModelIndex) -> Problem | None:
        if not index.isValid() or index.internalId() == 0:
            return None
        return self._groups[index.internalId() - 1][index.row()]

    # Qt model interface

    def index(self, row: int, column: int, parent: QModelIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        if column < 0 or column >= len(self.COLUMNS) or row < 0:
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, 0) if row < len(self._kinds) else QModelIndex()
        if parent.internalId() != 0:
            return QModelIndex()
        group = parent.row()
        if row >= len(self._groups[group]):
            return QModelIndex()
        return self.createIndex(row, column, group + 1)

    def parent(self, child: QModelIndex | None = None):
        if child is None:
            return super().parent()
        if not child.isValid() or child.internalId() == 0:
            return QModelIndex()
        return self.createIndex(child.internalId() - 1, 0, 0)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        if not parent.isValid():
            return len(self._kinds)
        if parent.internalId() == 0 and parent.column() == 0:
            return len(self._groups[parent.row()])
        return 0

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return len(self.COLUMNS)

    def hasChildren(self, parent: QModelIndex = QModelIndex()) -> bool:  # noqa: B008
        return self.rowCount(parent) > 0

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        column = index.column()
        if index.internalId() == 0:
            kind = self._kinds[index.row()]
            group = self._groups[index.row()]
            if role == Qt.ItemDataRole.DisplayRole:
                if column == 0:
                    return f"{kind_title(kind)} ({len(group):,})"
                if column == 3:
                    kept = "rows kept" if not group[0].skipped else "rows skipped"
                    return f"{KIND_HELP.get(kind, '')} {kept.capitalize()}.".strip()
                return None
            if role == Qt.ItemDataRole.FontRole and column == 0:
                font = QFont()
                font.setBold(True)
                return font
            if role == Qt.ItemDataRole.DecorationRole and column == 0:
                return icon("error" if group[0].skipped else "warning")
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"{kind}: {KIND_HELP.get(kind, '')}"
            return None
        p = self._groups[index.internalId() - 1][index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return problem_file(p)
            if column == 1:
                return "" if p.row is None else f"{p.row:,}"
            if column == 2:
                return p.path or ""
            return p.message
        if role == Qt.ItemDataRole.ToolTipRole:
            return p.message
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class ReportWidget(QWidget):
    """The summary line, the problems by kind, and Export CSV."""

    exported = Signal(str)  # the CSV file written

    EXPAND_AT_MOST = 50  # a short report opens expanded; a long one shows its kinds

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report: ValidationReport | None = None
        self.model = ReportTreeModel(self)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.expand_button = QPushButton("Expand all")
        self.expand_button.clicked.connect(self._on_expand_button_clicked)
        self.collapse_button = QPushButton("Collapse all")
        self.collapse_button.clicked.connect(self._on_collapse_button_clicked)
        self.export_button = QPushButton(icon("export"), "Export CSV…")
        self.export_button.setToolTip("Write every problem to a CSV file: file, row, kind, message, skipped")
        self.export_button.clicked.connect(self._on_export_button_clicked)

        self.tree = QTreeView()
        self.tree.setModel(self.model)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.tree.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 260)
        header.resizeSection(1, 70)
        header.resizeSection(2, 220)
        self.empty = QLabel("No problems: every row is usable.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setObjectName("reportEmpty")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.tree)
        self.stack.addWidget(self.empty)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.expand_button)
        bar.addWidget(self.collapse_button)
        bar.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 8, 0, 0)
        layout.setSpacing(8)
        layout.addLayout(bar)
        layout.addWidget(self.stack, 1)
        self.set_report(None)

    def set_report(self, report: ValidationReport | None) -> None:
        self.report = report
        problems = report.problems if report is not None else []
        self.model.set_problems(problems)
        has = bool(problems)
        for button in (self.export_button, self.expand_button, self.collapse_button):
            button.setEnabled(has)
        self.stack.setCurrentWidget(self.tree if has else self.empty)
        self.summary.setText(summary_text(report) if report is not None else "")
        if len(problems) <= self.EXPAND_AT_MOST:
            self.tree.expandAll()

    def problem_count(self) -> int:
        return len(self.report.problems) if self.report is not None else 0

    def export_csv(self, path: str | os.PathLike | None = None) -> Path | None:
        """Write the problems to ``path`` (asked with a file dialog when None); returns the file."""
        if self.report is None:
            return None
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Export the problems", "problems.csv", "CSV files (*.csv);;All files (*)"
            )
            if not chosen:
                return None
            path = chosen
        written = write_problems_csv(self.report.problems, path)
        self.exported.emit(str(written))
        return written

    def _on_expand_button_clicked(self) -> None:
        self.tree.expandAll()

    def _on_collapse_button_clicked(self) -> None:
        self.tree.collapseAll()

    def _on_export_button_clicked(self) -> None:
        self.export_csv()
