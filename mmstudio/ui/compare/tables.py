"""The Compare page's tabs built on the report's tables (:mod:`mmstudio.store.report`): the parameters
that differ, the metrics with a bar chart and a parameter-vs-metric scatter, per-class F1, and the
modality contribution.

Each tab is given the comparison with :meth:`set_comparison` (cheap: its choices) and draws it in
:meth:`fill`, which the page calls when the tab is first shown.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mmstudio.formatting import plural
from mmstudio.store import report
from mmstudio.store.compare import Comparison
from mmstudio.ui.compare.charts import BarSeries, GroupedBarChart, ScatterChart, run_colour, tint
from mmstudio.vocabulary import CONDITIONS

DIFFERS = QColor("#f0b000")  # a parameter that differs, when all are shown: its tint of the base


class ParametersTab(QWidget):
    """The parameters that differ between the runs, or all of them (those that differ highlighted)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.comparison: Comparison | None = None
        v = QVBoxLayout(self)
        row = QHBoxLayout()
        self.caption = QLabel("")
        row.addWidget(self.caption, 1)
        self.show_all_check = QCheckBox("Show all parameters")
        self.show_all_check.toggled.connect(self.fill)
        row.addWidget(self.show_all_check)
        v.addLayout(row)
        self.table = make_table()
        v.addWidget(self.table, 1)

    def set_comparison(self, c: Comparison) -> None:
        self.comparison = c

    def fill(self, *_: Any) -> None:
        c = self.comparison
        if c is None:
            return
        show_all = self.show_all_check.isChecked()
        headers, rows = report.parameters_table(c, show_all)
        fill_table(self.table, headers, rows, colours=True, right=False)
        differing = set(c.differing)
        differs = tint(DIFFERS, 0.22, self.table.palette().color(QPalette.ColorRole.Base))
        if show_all:
            for r, row in enumerate(rows):
                if row[0] in differing:
                    for col in range(len(row)):
                        self.table.item(r, col).setBackground(differs)
        n = len(c.differing)
        self.caption.setText(
            f"{n:,} of {plural(len(c.all_keys), 'parameter')} differ{'s' * (n == 1)}"
            + ("" if show_all else " (only those are shown)")
            + ("; highlighted" if show_all and n else "")
        )
        if not rows and not show_all:
            self.caption.setText("The runs have the same parameters. Show all to see them.")


class MetricsTab(QWidget):
    """Every metric's last and best value per run; one metric's as bars, and its best against a
    parameter as a scatter."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.comparison: Comparison | None = None
        v = QVBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Vertical)
        self.table = make_table()
        splitter.addWidget(self.table)
        charts = QWidget()
        grid = QGridLayout(charts)
        grid.setContentsMargins(0, 4, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Metric"))
        self.metric_combo = QComboBox()
        self.metric_combo.setMinimumContentsLength(16)
        self.metric_combo.currentTextChanged.connect(self.fill_charts)
        row.addWidget(self.metric_combo)
        row.addSpacing(16)
        row.addWidget(QLabel("Scatter x"))
        self.scatter_x_combo = QComboBox()
        self.scatter_x_combo.setMinimumContentsLength(18)
        self.scatter_x_combo.currentTextChanged.connect(self.fill_charts)
        row.addWidget(self.scatter_x_combo)
        row.addWidget(QLabel("y: the metric's best"))
        row.addStretch(1)
        grid.addLayout(row, 0, 0, 1, 2)
        self.bars = GroupedBarChart("last and best")
        self.scatter = ScatterChart()
        grid.addWidget(self.bars, 1, 0)
        grid.addWidget(self.scatter, 1, 1)
        splitter.addWidget(charts)
        splitter.setSizes([260, 420])
        v.addWidget(splitter, 1)

    def set_comparison(self, c: Comparison) -> None:
        self.comparison = c
        keys = c.shared_metric_keys()
        headline = report.headline_metric(keys, task=report.comparison_task(c))
        set_choices(self.metric_combo, keys, headline)
        set_choices(self.scatter_x_combo, c.differing or c.all_keys, report.scatter_default(c))

    def fill(self) -> None:
        c = self.comparison
        if c is None:
            return
        headers, rows = report.metrics_table(c)
        fill_table(self.table, headers, rows, colours=False)
        self.fill_charts()

    def fill_charts(self, *_: Any) -> None:
        c = self.comparison
        if c is None:
            return
        key = self.metric_combo.currentText()
        labels = c.labels()
        lasts, bests = [], []
        for i in c.run_ids:
            s = c.stats.get(i, {}).get(key)
            lasts.append(s.last_value if s else None)
            bests.append(s.best if s else None)
        series = [BarSeries(label, [lasts[n], bests[n]], run_colour(n)) for n, label in enumerate(labels)]
        self.bars.set_data(["last", "best"], series, y_label=key)
        self.bars.set_title(f"{key}: last and best" if key else "no metric")
        param = self.scatter_x_combo.currentText()
        if param:
            self.scatter.set_points(
                [p.get(param) for p in c.parameters], bests, labels, x_label=param, y_label=f"best {key}"
            )


class PerClassTab(QWidget):
    """Each class's F1 on the test split, per run: bars and a table."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.comparison: Comparison | None = None
        v = QVBoxLayout(self)
        self.chart = GroupedBarChart("Per-class F1 on the test split")
        v.addWidget(self.chart, 3)
        self.table = make_table()
        v.addWidget(self.table, 2)

    def set_comparison(self, c: Comparison) -> None:
        self.comparison = c

    def fill(self) -> None:
        c = self.comparison
        if c is None:
            return
        classes = c.class_labels()
        scores = c.per_class("f1")
        series = [
            BarSeries(label, [scores[i].get(k) for k in classes], run_colour(n))
            for n, (i, label) in enumerate(zip(c.run_ids, c.labels(), strict=True))
        ]
        self.chart.set_data(classes, series, y_label="F1")
        headers, rows = report.per_class_table(c)
        fill_table(self.table, headers, rows, colours=False)


class ModalitiesTab(QWidget):
    """A test metric of each run fused, with the text masked and with the image masked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.comparison: Comparison | None = None
        v = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("Test metric"))
        self.combo = QComboBox()
        self.combo.setMinimumContentsLength(12)
        self.combo.currentTextChanged.connect(self.fill)
        row.addWidget(self.combo)
        row.addStretch(1)
        v.addLayout(row)
        self.chart = GroupedBarChart("Modality contribution")
        v.addWidget(self.chart, 3)
        note = QLabel(
            "Each run evaluated on the test split as trained (fused), with the text masked and with the "
            "image masked: a large drop when a modality is masked means the model relies on it."
        )
        note.setWordWrap(True)
        note.setObjectName("hint")
        v.addWidget(note)
        self.table = make_table()
        v.addWidget(self.table, 2)

    def metric(self) -> str | None:
        """The test metric shown; None when the runs have no test evaluation."""
        return self.combo.currentText() or None

    def set_comparison(self, c: Comparison) -> None:
        self.comparison = c
        set_choices(self.combo, c.eval_metric_names(), None)

    def fill(self, *_: Any) -> None:
        c = self.comparison
        metric = self.metric()
        if c is None or not metric:
            return
        scores = c.modality_scores(metric)
        names = [name for name, _ablation in CONDITIONS]
        series = [
            BarSeries(label, [scores[i][k] for k in names], run_colour(n))
            for n, (i, label) in enumerate(zip(c.run_ids, c.labels(), strict=True))
        ]
        self.chart.set_data(names, series, y_label=f"test {metric}")
        self.chart.set_title(f"Test {metric}: fused, text masked, image masked")
        headers, rows = report.modality_table(c, metric)
        fill_table(self.table, headers, rows, colours=False)


def set_choices(combo: QComboBox, items: list[str], current: str | None) -> None:
    """Give ``combo`` these items and pick ``current`` (when given), without a change signal."""
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(items)
    if current:
        combo.setCurrentText(current)
    combo.blockSignals(False)


def make_table() -> QTableWidget:
    table = QTableWidget()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setSortingEnabled(False)
    table.verticalHeader().hide()
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    table.horizontalHeader().setStretchLastSection(False)
    return table


def fill_table(
    table: QTableWidget, headers: list[str], rows: list[list[str]], *, colours: bool, right: bool = True
) -> None:
    """Show a report table: a tooltip on every cell, numbers on the right (``right``), the run columns'
    headers in their runs' colours (``colours``), columns as wide as their contents within limits."""
    table.clear()
    table.setColumnCount(len(headers))
    table.setRowCount(len(rows))
    table.setHorizontalHeaderLabels(headers)
    for r, row in enumerate(rows):
        for col, text in enumerate(row):
            cell = QTableWidgetItem(text)
            cell.setToolTip(text)
            if col > 0 and right:
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, col, cell)
    if colours:
        for col in range(1, len(headers)):
            header = table.horizontalHeaderItem(col)
            if header is not None:
                header.setForeground(run_colour(col - 1).darker(120))
    table.resizeColumnsToContents()
    for col in range(len(headers)):
        table.setColumnWidth(col, max(90 if col else 0, min(table.columnWidth(col) + 16, 320)))
