"""Dataset statistics: label and text-length histograms, image sizes, split sizes and split settings.

The numbers come from :func:`mmstudio.data.stats.dataset_stats` (computed off the GUI thread while
the dataset loads), what is drawn too (every distinct image size, the caption lengths without their
outliers); the plots are pyqtgraph items created once and given new data. Plots are drawn when the
tab is first shown, so loading a dataset costs the GUI thread nothing for a hidden tab.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mmstudio.data.dataset import Dataset
from mmstudio.data.stats import DatasetStats, SizeCount
from mmstudio.data.types import SPLITS
from mmstudio.formatting import plural, sentence, shorten
from mmstudio.ui.plot_style import palette_plot

MAX_LABEL_BARS = 30  # more labels than this: the most frequent are drawn, and the title says so
MAX_SCATTER_POINTS = 5000  # distinct image sizes drawn at most (a random, fixed sample beyond)
BAR_COLOUR = QColor(76, 120, 168)
SPLIT_COLOURS = {"train": QColor(76, 120, 168), "val": QColor(245, 133, 24), "test": QColor(84, 162, 75)}


# --- plots ------------------------------------------------------------------------------------


def _plot(title: str, x_label: str, y_label: str) -> pg.PlotWidget:
    """A static chart in the palette's colours (no mouse panning or menu: it is a figure, not a tool)."""
    return palette_plot(title, x_label, y_label, grid_x=False, static=True, min_height=150)


class _PanesLayout(QGridLayout):
    """The panes' grid, with no height for its width: the scroll area then gives the panes the view's
    height and scrolls only below their minimum. (The splits' wrapped note would make it ask the
    layout's height for the width, which counts each plot's 480 px preferred height.)"""

    def hasHeightForWidth(self) -> bool:
        return False


MIN_PANE_WIDTH = 260  # a pane narrower than this cuts its title
MIN_PLOT_HEIGHT = 200  # below this a plot is a sliver


class StatsWidget(QWidget):
    """Four panes: labels, caption lengths, image sizes, and the splits with their settings."""

    split_settings_applied = Signal(float, float, int, bool)  # val fraction, test fraction, seed, stratify

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dataset: Dataset | None = None
        self.data: DatasetStats | None = None
        self._drawn = True

        self.labels_plot = _plot("Labels", "pairs", "")
        self.label_bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[], brush=BAR_COLOUR, pen=None)
        self.labels_plot.addItem(self.label_bars)
        self.labels_plot.getPlotItem().showGrid(x=True, y=False, alpha=0.15)

        self.lengths_plot = _plot("Caption length", "characters", "pairs")
        self.length_bars = pg.BarGraphItem(x0=[], x1=[], height=[], brush=BAR_COLOUR, pen=None)
        self.lengths_plot.addItem(self.length_bars)

        self.sizes_plot = _plot("Image sizes", "width (px)", "height (px)")
        self.size_points = pg.ScatterPlotItem(pen=None, brush=pg.mkBrush(76, 120, 168, 150))
        self.sizes_plot.addItem(self.size_points)

        self.split_table = QTableWidget(len(SPLITS), 3)
        self.split_table.setHorizontalHeaderLabels(["Split", "Pairs", "Share"])
        self.split_table.verticalHeader().hide()
        self.split_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.split_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.split_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.split_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        rows_height = self.split_table.horizontalHeader().sizeHint().height()
        rows_height += sum(self.split_table.rowHeight(r) for r in range(len(SPLITS))) + 4
        self.split_table.setFixedHeight(rows_height)

        self.val_spin = self._percent_spin("Share of the pairs held out for validation")
        self.test_spin = self._percent_spin("Share of the pairs held out for the final test")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("The same seed always gives the same split, whatever the row order")
        self.stratify_check = QCheckBox("Stratify by label")
        self.stratify_check.setToolTip("Keep each label's share the same in train, val and test")
        self.apply_button = QPushButton("Apply")
        self.apply_button.setEnabled(False)
        self.apply_button.clicked.connect(self._on_apply_button_clicked)
        self.split_note = QLabel()
        self.split_note.setWordWrap(True)
        self.split_note.setObjectName("splitNote")
        for spin in (self.val_spin, self.test_spin, self.seed_spin):
            spin.valueChanged.connect(self._on_settings_changed)
        self.stratify_check.toggled.connect(self._on_settings_changed)

        self.splits_box = splits_box = QGroupBox("Splits")
        splits_box.setMinimumWidth(MIN_PANE_WIDTH)
        splits_layout = QVBoxLayout(splits_box)
        splits_layout.addWidget(self.split_table)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.addRow("Validation", self.val_spin)
        form.addRow("Test", self.test_spin)
        form.addRow("Seed", self.seed_spin)
        form.addRow("", self.stratify_check)
        splits_layout.addLayout(form)
        splits_layout.addWidget(self.split_note)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.apply_button)
        splits_layout.addLayout(buttons)
        splits_layout.addStretch(1)

        # The panes in a scroll area: on a small window they keep a readable size and the tab scrolls,
        # rather than the layout squeezing the splits' form over their table.
        panes = QWidget()
        grid = _PanesLayout(panes)
        grid.setContentsMargins(0, 8, 0, 0)
        grid.setSpacing(10)
        for plot in (self.labels_plot, self.lengths_plot, self.sizes_plot):
            plot.setMinimumSize(MIN_PANE_WIDTH, MIN_PLOT_HEIGHT)
        grid.addWidget(self.labels_plot, 0, 0)
        grid.addWidget(self.lengths_plot, 0, 1)
        grid.addWidget(self.sizes_plot, 1, 0)
        grid.addWidget(splits_box, 1, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(1, 1)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidget(panes)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll_area)

    @staticmethod
    def _percent_spin(tip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(0, 50)
        spin.setSingleStep(5)
        spin.setSuffix(" %")
        spin.setToolTip(tip)
        return spin

    # public

    def set_dataset(self, dataset: Dataset | None, data: DatasetStats | None) -> None:
        """Show ``dataset`` (drawn now if the tab is visible, else when it is first shown)."""
        self.dataset, self.data = dataset, data
        self._set_settings(dataset)
        self._drawn = False
        if self.isVisible():
            self._draw()

    def settings(self) -> tuple[float, float, int, bool]:
        return (
            self.val_spin.value() / 100,
            self.test_spin.value() / 100,
            self.seed_spin.value(),
            self.stratify_check.isChecked(),
        )

    def set_settings(self, val_fraction: float, test_fraction: float, seed: int, stratify: bool) -> None:
        self.val_spin.setValue(round(val_fraction * 100))
        self.test_spin.setValue(round(test_fraction * 100))
        self.seed_spin.setValue(seed)
        self.stratify_check.setChecked(stratify)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._drawn:
            self._draw()

    # private

    def _set_settings(self, dataset: Dataset | None) -> None:
        widgets = (self.val_spin, self.test_spin, self.seed_spin, self.stratify_check)
        for w in widgets:
            w.blockSignals(True)
        if dataset is not None:
            o = dataset.options
            self.set_settings(o.val_fraction, o.test_fraction, o.seed, o.stratify)
        for w in widgets:
            w.blockSignals(False)
            w.setEnabled(dataset is not None)
        self.apply_button.setEnabled(False)
        labelled = self.data is not None and bool(self.data.labels)
        self.stratify_check.setEnabled(dataset is not None and labelled)
        self._update_note()

    def _update_note(self) -> None:
        dataset = self.dataset
        if dataset is None:
            self.split_note.setText("")
            self._fit_splits_box()
            return
        if dataset.columns.split:
            text = (
                f"The dataset gives its own splits ({dataset.columns.split}); they are kept. The shares "
                f"apply only to a split the dataset lacks."
            )
        else:
            text = "Pairs are split by a hash of the seed and their content: the same seed, the same split."
        if dataset.notes:
            text += " " + " ".join(sentence(n) for n in dataset.notes)
        self.split_note.setText(text)
        self._fit_splits_box()

    def _fit_splits_box(self) -> None:
        """The splits' box at least as tall as its content at its narrowest (the note wraps most
        there): the panes' grid asks no height for a width (see :class:`_PanesLayout`)."""
        self.splits_box.setMinimumHeight(0)
        self.splits_box.setMinimumHeight(self.splits_box.heightForWidth(MIN_PANE_WIDTH))

    def _draw(self) -> None:
        self._drawn = True
        if self.data is None:
            for bars in (self.label_bars, self.length_bars):
                bars.setOpts(x0=[], x1=[], y=[], height=[], width=[])
            self.size_points.setData([], [])
            self._fill_split_table({})
            return
        self._draw_labels(self.data)
        self._draw_lengths(self.data)
        self._draw_sizes(self.data.images.sizes, self.data.images.known)
        self._fill_split_table(self.data.splits)

    def _draw_labels(self, stats: DatasetStats) -> None:
        plot = self.labels_plot.getPlotItem()
        labels = list(stats.labels.items())[:MAX_LABEL_BARS]  # most frequent first
        if not labels:
            self.label_bars.setOpts(x0=[], y=[], width=[], height=0.7)
            plot.setTitle("Labels: none (an image–text retrieval dataset)")
            plot.getAxis("left").setTicks([[]])
            return
        n = len(labels)
        y = np.arange(n)[::-1].astype(float)  # the most frequent at the top
        counts = np.array([c for _, c in labels], dtype=float)
        self.label_bars.setOpts(x0=np.zeros(n), y=y, width=counts, height=0.7)
        plot.getAxis("left").setTicks(
            [[(float(y[i]), shorten(name, 24)) for i, (name, _) in enumerate(labels)]]
        )
        total = len(stats.labels)
        shown = f"top {n} of {total:,}" if total > n else f"{total:,}"
        smallest, largest = min(stats.labels.values()), max(stats.labels.values())
        each = (
            f"{plural(smallest, 'pair')} each"
            if smallest == largest
            else f"{smallest:,} to {largest:,} pairs each"
        )
        plot.setTitle(f"Labels ({shown}): {each}")
        plot.setYRange(-0.6, n - 0.4, padding=0)
        plot.setXRange(0, counts.max() * 1.05, padding=0)

    def _draw_lengths(self, stats: DatasetStats) -> None:
        plot = self.lengths_plot.getPlotItem()
        drawn, every = stats.text_histogram, stats.text_chars
        d = drawn.lengths
        if d.count == 0:
            self.length_bars.setOpts(x0=[], x1=[], height=[])
            plot.setTitle("Caption length")
            return
        edges = np.asarray(d.bin_edges)
        self.length_bars.setOpts(x0=edges[:-1], x1=edges[1:], height=np.asarray(d.bin_counts, dtype=float))
        plot.setTitle(
            f"Caption length: median {every.median:,.0f}, 95% under {every.p95:,.0f}"
        )  # characters: the axis
        axis = "characters"
        if drawn.longer:
            axis += f" ({drawn.note()})"  # the lengths left out, beyond the axis
        plot.getAxis("bottom").setLabel(axis, color=self.palette().color(QPalette.ColorRole.Text).name())
        low, high = float(edges[0]), float(edges[-1])
        if high - low < 10:  # a narrow range: a few bars, not a wall
            middle = (low + high) / 2
            low, high = max(0.0, middle - 5), middle + 5
        plot.setXRange(low, high, padding=0.02)
        plot.setYRange(0, max(d.bin_counts) * 1.08, padding=0)

    def _draw_sizes(self, sizes: list[SizeCount], known: int) -> None:
        plot = self.sizes_plot.getPlotItem()
        if not sizes:
            self.size_points.setData([], [])
            plot.setTitle("Image sizes: unknown")
            return
        drawn = sizes
        if len(sizes) > MAX_SCATTER_POINTS:  # keep the most common, then a fixed random sample
            rng = np.random.default_rng(0)
            rest = rng.choice(len(sizes) - 1000, MAX_SCATTER_POINTS - 1000, replace=False) + 1000
            drawn = [sizes[i] for i in np.concatenate([np.arange(1000), np.sort(rest)])]
        points = np.array([(s.width, s.height, s.count) for s in drawn], dtype=float)
        w, h, n = points[:, 0], points[:, 1], points[:, 2]
        self.size_points.setData(x=w, y=h, size=np.clip(6 + 3 * np.log2(n), 6, 30))
        width, height, count = sizes[0].width, sizes[0].height, sizes[0].count
        if len(sizes) == 1:
            title = (
                f"Image sizes: all {known:,} images are {width} × {height} px"
                if known > 1
                else f"Image size: {width} × {height} px"
            )
        else:
            title = (
                f"Image sizes: {len(sizes):,} distinct, most common {width} × {height} px "
                f"({count / known:.0%})"
            )
        plot.setTitle(title)
        plot.setXRange(0, w.max() * 1.12, padding=0)  # from 0: the plot shows the shapes as they are
        plot.setYRange(0, h.max() * 1.12, padding=0)

    def _fill_split_table(self, splits: dict[str, int]) -> None:
        total = sum(splits.values())
        for row, name in enumerate(SPLITS):
            count = splits.get(name, 0)
            share = f"{count / total:.1%}" if total else ""
            for column, text in enumerate((name, f"{count:,}", share)):
                cell = QTableWidgetItem(text)
                if column:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.split_table.setItem(row, column, cell)

    def split_counts(self) -> dict[str, int]:
        """The counts in the split table (what the user sees)."""
        out = {}
        for row in range(self.split_table.rowCount()):
            name, count = self.split_table.item(row, 0), self.split_table.item(row, 1)
            if name is not None and count is not None:
                out[name.text()] = int(count.text().replace(",", "") or 0)
        return out

    def _on_settings_changed(self, *_args) -> None:
        val, test, seed, stratify = self.settings()
        valid = val + test < 1
        o = self.dataset.options if self.dataset is not None else None
        changed = o is not None and (
            not math.isclose(val, o.val_fraction)
            or not math.isclose(test, o.test_fraction)
            or seed != o.seed
            or stratify != o.stratify
        )
        self.apply_button.setEnabled(bool(changed and valid))

    def _on_apply_button_clicked(self) -> None:
        self.apply_button.setEnabled(False)
        self.split_settings_applied.emit(*self.settings())
