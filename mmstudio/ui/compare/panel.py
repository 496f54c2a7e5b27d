"""The compare view: 2 to 20 stored runs side by side.

Tabs: overlaid curves of a chosen metric; the parameters that differ (or all); final and best
metrics as a table, a bar chart and a parameter-vs-metric scatter; confusion matrices side by side
(a click on a cell lists those test items); per-class F1; a gallery of the items the runs disagree
on; modality contribution (test scores fused, text masked, image masked). Charts export as PNG or
SVG, tables as CSV, the whole comparison as one self-contained HTML report.

Every store query runs off the GUI thread (:func:`mmstudio.ui.tasks.run_task`); the Qt-free part
(parameter diff, aggregation, smoothing) is :mod:`mmstudio.store.compare`.

Alone: ``python -m mmstudio.ui.compare.panel --db URL --run A --run B [--screenshot out.png] [--tab NAME]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QScrollArea,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmstudio.formatting import shorten
from mmstudio.store import report
from mmstudio.store.compare import MAX_RUNS, Comparison, default_metric, ema, load_comparison, run_label
from mmstudio.store.handle import StoreHandle
from mmstudio.store.report import Table
from mmstudio.store.types import Curve
from mmstudio.ui.compare.charts import (
    X_MODES,
    BarSeries,
    ConfusionMatrixWidget,
    CurvesChart,
    GroupedBarChart,
    ScatterChart,
    StepPyramids,
    png_bytes,
    run_colour,
    step_pyramids,
)
from mmstudio.ui.peak_curve import PeakPyramid
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.tasks import Task, run_task
from mmstudio.ui.widgets import EmptyState, MessageBar, section_label

FIRST_PAINT_WAIT_MS = 150  # set_runs: the longest the store queries wait for the tabs' first paint
SETTLE_MS = 60  # ... and how long after it
TABS = ("curves", "parameters", "metrics", "confusion", "per_class", "predictions", "modalities")
TAB_TITLES = {
    "curves": "Curves",
    "parameters": "Parameters",
    "metrics": "Metrics",
    "confusion": "Confusion",
    "per_class": "Per class",
    "predictions": "Disagreements",
    "modalities": "Modalities",
}
MAX_EXAMPLES = 300  # examples listed at most for a cell or the disagreement gallery
THUMB = 72
CURVE_CACHE = 3  # metric keys whose curves are kept


# --- work off the GUI thread -----------------------------------------------------------------------


def _load_comparison_job(state, holder: StoreHandle, url: str | None, run_ids: list[int]) -> Comparison:
    state.set_message("reading the runs")
    return load_comparison(holder.get(url), run_ids, cancel=state)


def _load_curves_job(
    state, holder: StoreHandle, url: str | None, run_ids: list[int], key: str, weight: float
) -> tuple[str, dict[int, Curve], dict[int, np.ndarray], float, StepPyramids]:
    """Read one metric of every run, smooth it and build the pyramids the chart draws from."""
    store = holder.get(url)
    curves: dict[int, Curve] = {}
    for n, run_id in enumerate(run_ids):
        state.check()
        curves[run_id] = store.read_curve(run_id, key)
        state.progress(n + 1, 2 * len(run_ids))
    _, smoothed, _ = _smooth_job(state, curves, weight)
    state.check()
    return key, curves, smoothed, weight, step_pyramids(curves, smoothed)


def _prefetch_curves_job(
    state, holder: StoreHandle, url: str | None, run_ids: list[int], weight: float
) -> tuple[str, dict[int, Curve], dict[int, np.ndarray], float, StepPyramids] | None:
    """The curves the view will show first (the default metric), read while the rest of the
    comparison is: the two jobs run side by side in the pool."""
    key = default_metric(run_ids, holder.get(url).metric_stats(run_ids))
    return None if key is None else _load_curves_job(state, holder, url, run_ids, key, weight)


def _smooth_job(
    state, curves: dict[int, Curve], weight: float
) -> tuple[float, dict[int, np.ndarray], dict[int, PeakPyramid]]:
    out = {}
    for run_id, curve in curves.items():
        state.check()
        out[run_id] = ema(curve.value, weight) if weight > 0 else curve.value
    pyramids = {run_id: PeakPyramid.of(curves[run_id].step, values) for run_id, values in out.items()}
    return weight, out, pyramids


def _load_items_job(state, holder: StoreHandle, url: str | None, dataset_id: int) -> tuple[int, list, str]:
    """The items of a run's dataset (item indices of predictions point into them) and a warning."""
    from mmstudio.data.spec import DatasetSpec

    info = holder.get(url).get_dataset(dataset_id)
    if not Path(info.path).exists():
        return dataset_id, [], f"the dataset of these runs is no longer at {info.path}: no images shown"
    spec = DatasetSpec(info.path, format=info.format, check_images="header")
    dataset = spec.load(cancel=state)
    warning = ""
    if dataset.fingerprint != info.fingerprint:
        warning = f"the dataset at {info.path} changed since these runs: examples may not match"
    return dataset_id, list(dataset.items), warning


# --- examples (confusion cells, disagreements) -----------------------------------------------------


class ExamplesWidget(QWidget):
    """A list of test items: thumbnail, text, true label and what each run predicted."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = section_label(title)
        layout.addWidget(self.title)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("color: #555;")
        layout.addWidget(self.caption)
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(False)
        self.list.setSpacing(2)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        layout.addWidget(self.list, 1)
        self._by_ref: dict[Any, list[tuple[QListWidgetItem, Any]]] = {}

    def count(self) -> int:
        return self.list.count()

    def set_examples(self, caption: str, rows: Sequence[tuple[Any, str]], thumbnail: Callable[[Any], Any]):
        """``rows`` are ``(dataset Item or None, text)``; ``thumbnail(item)`` is a pixmap or None."""
        self.caption.setText(caption)
        self.list.clear()
        self._by_ref.clear()
        blank = QPixmap(THUMB, THUMB)
        blank.fill(QColor("#eeeeee"))
        for item, text in rows:
            entry = QListWidgetItem(text)
            pixmap = thumbnail(item) if item is not None else None
            entry.setIcon(QIcon(pixmap if pixmap is not None and not pixmap.isNull() else blank))
            if item is not None:
                self._by_ref.setdefault(item.image, []).append((entry, item))
            self.list.addItem(entry)

    def thumbnail_arrived(self, ref: Any, thumbnail: Callable[[Any], Any]) -> None:
        entries = self._by_ref.get(ref)
        if not entries:
            return
        pixmap = thumbnail(entries[0][1])  # cached now: no new request
        for entry, _item in entries:
            if pixmap is not None and not pixmap.isNull():
                entry.setIcon(QIcon(pixmap))


# --- the panel -------------------------------------------------------------------------------------


class ComparePanel(QWidget):
    """Compare stored runs. Call :meth:`set_runs` with 2 to 20 run ids; everything loads off the GUI
    thread; :meth:`is_busy` says whether something is still loading."""

    comparison_loaded = Signal(object)  # the Comparison
    curves_drawn = Signal(str)  # the metric key
    examples_shown = Signal(int)  # how many examples the confusion cell or gallery lists

    def __init__(self, state: StudioState, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.settings = settings
        self.comparison: Comparison | None = None
        self.run_ids: list[int] = []
        self._holder = StoreHandle(mark_orphans=False)
        self._tasks: set[Task] = set()
        self._generation = 0
        self._curves: dict[str, dict[int, Curve]] = {}
        self._prefetching = False  # the default metric's curves are being read with the comparison
        # set_runs has shown the tabs; the store is read after their first paint: (run ids, generation)
        self._queries_pending: tuple[list[int], int] | None = None
        self._first_paint_timer = QTimer(self, singleShot=True)
        self._first_paint_timer.timeout.connect(self._on_first_paint_timer_timeout)
        self._pyramids: dict[str, StepPyramids] = {}  # of the curves above
        self._smoothed: dict[str, tuple[float, dict[int, np.ndarray]]] = {}  # their EMA, at this weight
        self._items: dict[int, list] = {}  # dataset id -> items
        self._items_loading: set[int] = set()
        self._last_cell: tuple[int, str, str] | None = None
        self._by_index: dict[int, dict[int, Any]] = {}
        self._filled: set[str] = set()  # the tabs filled for the current comparison
        self._closing = False
        from mmstudio.ui.thumbnails import ThumbnailLoader

        self._thumbs = ThumbnailLoader(self, size=THUMB)
        self._thumbs.thumbnail_ready.connect(self._on_thumbs_thumbnail_ready)
        self._smooth_timer = QTimer(self, singleShot=True, interval=120)
        self._smooth_timer.timeout.connect(self._on_smooth_timer_timeout)
        self._build()
        state.compare_requested.connect(self.set_runs)
        state.store_changed.connect(self._on_state_store_changed)

    # --- layout --------------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        top = QHBoxLayout()
        self.heading = QLabel("No runs to compare")
        font = self.heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.heading.setFont(font)
        top.addWidget(self.heading)
        self.status = QLabel("")
        self.status.setStyleSheet("color: #666;")
        top.addWidget(self.status, 1)
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.addAction("Chart as PNG…", lambda: self._ask_export_chart("png"))
        menu.addAction("Chart as SVG…", lambda: self._ask_export_chart("svg"))
        menu.addAction("Table as CSV…", self._ask_export_csv)
        menu.addSeparator()
        menu.addAction("HTML report…", self._ask_export_html)
        self.export_button.setMenu(menu)
        self.export_button.setEnabled(False)
        top.addWidget(self.export_button)
        layout.addLayout(top)
        self.message = MessageBar()
        layout.addWidget(self.message)

        self.empty = EmptyState(
            "experiments",
            "Nothing to compare yet",
            "Select two to twenty runs on the Experiments page and choose Compare, or run "
            "python -m mmstudio.ui.compare.panel --run A --run B.",
        )
        layout.addWidget(self.empty, 1)
        self.tabs = QTabWidget()
        self.tabs.installEventFilter(self)  # its first paint after set_runs starts the store queries
        self.tabs.setDocumentMode(True)
        layout.addWidget(self.tabs, 1)
        self.tabs.hide()
        self._pages: dict[str, QWidget] = {}
        for name, build in (
            ("curves", self._build_curves),
            ("parameters", self._build_parameters),
            ("metrics", self._build_metrics),
            ("confusion", self._build_confusion),
            ("per_class", self._build_per_class),
            ("predictions", self._build_predictions),
            ("modalities", self._build_modalities),
        ):
            page = build()
            self._pages[name] = page
            self.tabs.addTab(page, TAB_TITLES[name])
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)

    def _build_curves(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        row = QHBoxLayout()
        row.addWidget(QLabel("Metric"))
        self.metric_combo = QComboBox()
        self.metric_combo.setMinimumContentsLength(18)
        self.metric_combo.currentTextChanged.connect(self._on_metric_combo_changed)
        row.addWidget(self.metric_combo)
        row.addSpacing(12)
        row.addWidget(QLabel("X axis"))
        self.x_combo = QComboBox()
        self.x_combo.addItems(X_MODES)
        self.x_combo.currentTextChanged.connect(lambda mode: self.curves.set_options(x_mode=mode))
        row.addWidget(self.x_combo)
        row.addSpacing(12)
        row.addWidget(QLabel("Smoothing"))
        self.smooth_slider = QSlider(Qt.Orientation.Horizontal)
        self.smooth_slider.setRange(0, 99)
        self.smooth_slider.setValue(60)
        self.smooth_slider.setFixedWidth(140)
        self.smooth_slider.valueChanged.connect(self._on_smooth_slider_changed)
        row.addWidget(self.smooth_slider)
        self.smooth_label = QLabel("0.60")
        self.smooth_label.setMinimumWidth(32)
        row.addWidget(self.smooth_label)
        row.addSpacing(12)
        self.log_check = QCheckBox("Log scale")
        self.log_check.toggled.connect(lambda on: self.curves.set_options(log_y=on))
        row.addWidget(self.log_check)
        row.addStretch(1)
        v.addLayout(row)
        self.curves = CurvesChart()
        self.curves.drawn.connect(self._on_curves_drawn)
        v.addWidget(self.curves, 1)
        note = QLabel(
            "Faint band: raw values; line: smoothed. ★ best · ● last · ▲ minimum (when it is not the best)."
        )
        note.setStyleSheet("color: #666;")
        v.addWidget(note)
        return page

    def _build_parameters(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        row = QHBoxLayout()
        self.params_caption = QLabel("")
        row.addWidget(self.params_caption, 1)
        self.show_all_check = QCheckBox("Show all parameters")
        self.show_all_check.toggled.connect(self._fill_parameters)
        row.addWidget(self.show_all_check)
        v.addLayout(row)
        self.params_table = _table()
        v.addWidget(self.params_table, 1)
        return page

    def _build_metrics(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        splitter = QSplitter(Qt.Orientation.Vertical)
        self.metrics_table = _table()
        splitter.addWidget(self.metrics_table)
        charts = QWidget()
        grid = QGridLayout(charts)
        grid.setContentsMargins(0, 4, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Metric"))
        self.bar_metric_combo = QComboBox()
        self.bar_metric_combo.setMinimumContentsLength(16)
        self.bar_metric_combo.currentTextChanged.connect(self._fill_metric_charts)
        row.addWidget(self.bar_metric_combo)
        row.addSpacing(16)
        row.addWidget(QLabel("Scatter x"))
        self.scatter_x_combo = QComboBox()
        self.scatter_x_combo.setMinimumContentsLength(18)
        self.scatter_x_combo.currentTextChanged.connect(self._fill_metric_charts)
        row.addWidget(self.scatter_x_combo)
        row.addWidget(QLabel("y: the metric's best"))
        row.addStretch(1)
        grid.addLayout(row, 0, 0, 1, 2)
        self.metric_bars = GroupedBarChart("last and best")
        self.scatter = ScatterChart()
        grid.addWidget(self.metric_bars, 1, 0)
        grid.addWidget(self.scatter, 1, 1)
        splitter.addWidget(charts)
        splitter.setSizes([260, 420])
        v.addWidget(splitter, 1)
        return page

    def _build_confusion(self) -> QWidget:
        page = QWidget()
        h = QHBoxLayout(page)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.confusion_scroll = QScrollArea()
        self.confusion_scroll.setWidgetResizable(True)
        self.confusion_host = QWidget()
        self.confusion_grid = QGridLayout(self.confusion_host)
        self.confusion_scroll.setWidget(self.confusion_host)
        splitter.addWidget(self.confusion_scroll)
        self.cell_examples = ExamplesWidget("Examples")
        self.cell_examples.caption.setText("Click a cell of a matrix to see those test items.")
        splitter.addWidget(self.cell_examples)
        splitter.setSizes([820, 400])
        h.addWidget(splitter)
        self.confusion_widgets: list[ConfusionMatrixWidget] = []
        return page

    def _build_per_class(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        self.per_class_chart = GroupedBarChart("Per-class F1 on the test split")
        v.addWidget(self.per_class_chart, 3)
        self.per_class_table = _table()
        v.addWidget(self.per_class_table, 2)
        return page

    def _build_predictions(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        self.disagreements = ExamplesWidget("Test items the runs disagree on")
        v.addWidget(self.disagreements, 1)
        return page

    def _build_modalities(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        row = QHBoxLayout()
        row.addWidget(QLabel("Test metric"))
        self.modality_combo = QComboBox()
        self.modality_combo.setMinimumContentsLength(12)
        self.modality_combo.currentTextChanged.connect(self._fill_modalities)
        row.addWidget(self.modality_combo)
        row.addStretch(1)
        v.addLayout(row)
        self.modality_chart = GroupedBarChart("Modality contribution")
        v.addWidget(self.modality_chart, 3)
        note = QLabel(
            "Each run evaluated on the test split as trained (fused), with the text masked and with the "
            "image masked: a large drop when a modality is masked means the model relies on it."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #666;")
        v.addWidget(note)
        self.modality_table = _table()
        v.addWidget(self.modality_table, 2)
        return page

    # --- public API ----------------------------------------------------------------------------

    def set_runs(self, run_ids: Sequence[int]) -> None:
        """Compare these runs (2 to 20; more are cut to the first 20). Loads in the background."""
        ids = [int(i) for i in dict.fromkeys(run_ids)]
        self._cancel_tasks()
        self._generation += 1
        self._curves.clear()
        self._pyramids.clear()
        self._smoothed.clear()
        self._items_loading.clear()
        self._last_cell = None
        self.message.clear()
        if len(ids) > MAX_RUNS:
            self.message.show_message(
                f"{len(ids)} runs were selected; the first {MAX_RUNS} are compared.", "warning"
            )
            ids = ids[:MAX_RUNS]
        self.run_ids = ids
        self.comparison = None
        if not ids:
            self.tabs.hide()
            self.empty.show()
            self.heading.setText("No runs to compare")
            self.export_button.setEnabled(False)
            return
        if len(ids) == 1:
            self.message.show_message("Select at least two runs to compare; showing one.", "info")
        self.heading.setText(f"Comparing {len(ids)} runs")
        self.status.setText("reading the runs…")
        if self.tabs.isHidden() and self.isVisible():
            # The tabs' first paint (~40 ms, much of it Python in pyqtgraph) goes first: store queries
            # started with it would take the interpreter lock from it half the time. They start once
            # the page has painted (or after FIRST_PAINT_WAIT_MS).
            self.empty.hide()
            self.tabs.show()
            self._queries_pending = (ids, self._generation)
            self._first_paint_timer.start(FIRST_PAINT_WAIT_MS)
        else:
            self.empty.hide()
            self.tabs.show()
            self._start_queries(ids, self._generation)

    def eventFilter(self, watched, event) -> bool:  # the tabs' first paint after set_runs
        # A moment after the first paint: a new page settles in two or three paints (its layout,
        # the plot's first range), each ~20-40 ms, which the queries would slow down.
        first = self._queries_pending is not None and self._first_paint_timer.interval() != SETTLE_MS
        if first and event.type() == QEvent.Type.Paint:
            self._first_paint_timer.start(SETTLE_MS)
        return super().eventFilter(watched, event)

    def _on_first_paint_timer_timeout(self) -> None:
        if self._queries_pending is not None:
            ids, generation = self._queries_pending
            self._start_queries(ids, generation)

    def _start_queries(self, ids: list[int], generation: int) -> None:
        self._queries_pending = None
        if generation != self._generation or self._closing:
            return
        self._start(
            _load_comparison_job, self._holder, self.state.db_url, ids, succeeded=self._on_comparison_loaded
        )
        self._prefetching = True
        prefetch = self._start(
            _prefetch_curves_job,
            self._holder,
            self.state.db_url,
            ids,
            self.smooth_slider.value() / 100,
            succeeded=self._on_prefetched_curves,
        )
        prefetch.finished.connect(lambda generation=self._generation: self._on_prefetch_finished(generation))

    def is_busy(self) -> bool:
        """Whether a store query, a dataset or a thumbnail is still loading."""
        return (
            self._queries_pending is not None
            or bool(self._tasks)
            or self._thumbs.pending_count() > 0
            or self.curves.is_drawing()
        )

    def show_tab(self, name: str) -> None:
        if name not in self._pages:
            raise ValueError(f"unknown compare tab {name!r}; choose one of {', '.join(TABS)}")
        self.tabs.setCurrentWidget(self._pages[name])

    def current_tab(self) -> str:
        page = self.tabs.currentWidget()
        return next(name for name, p in self._pages.items() if p is page)

    def set_metric(self, key: str) -> None:
        self.metric_combo.setCurrentText(key)

    def show_cell_examples(self, run_id: int, true_label: str, predicted_label: str) -> None:
        """List the test items of ``run_id`` with this true and predicted label (a confusion cell)."""
        c = self.comparison
        if c is None:
            return
        self._last_cell = (run_id, true_label, predicted_label)
        examples = c.examples(run_id, true_label, predicted_label)
        run = next(r for r in c.runs if r.id == run_id)
        items = self._dataset_items(run.dataset_id)
        rows = []
        for p in examples[:MAX_EXAMPLES]:
            rows.append(self._example_row(c, p.item_index, items))
        shown = f"{len(rows)} of {len(examples)}" if len(examples) > len(rows) else str(len(examples))
        caption = f"{run_label(run)}: true {true_label}, predicted {predicted_label}: {shown} item(s)"
        if not examples and not c.predictions.get(run_id):
            caption += " (this run stored no per-item predictions)"
        self.cell_examples.set_examples(caption, rows, self._thumbnail)
        self.examples_shown.emit(len(rows))

    def export_chart(self, path: str | Path, tab: str | None = None) -> Path:
        """Save the chart of ``tab`` (default: the current one) as PNG or SVG (by the suffix)."""
        return self._chart_of(tab or self.current_tab()).export(path)

    def export_csv(self, path: str | Path, tab: str | None = None) -> Path:
        """Save the table of ``tab`` (default: the current one; metrics when it has none) as CSV."""
        return report.write_csv(path, self._table_of(tab or self.current_tab()))

    def export_html(self, path: str | Path) -> Path:
        """Write the whole comparison as one self-contained HTML file (charts as inline PNGs)."""
        c = self.comparison
        if c is None:
            raise RuntimeError("nothing to export: the runs have not loaded yet")
        current = self.tabs.currentIndex()
        images: list[tuple[str, bytes]] = []
        for name in ("curves", "metrics", "confusion", "per_class", "modalities"):
            self.tabs.setCurrentWidget(self._pages[name])
            self._fill_current_tab()
            self._pages[name].layout().activate()
            if name == "curves":
                images.append((f"Curves: {self.curves.key}", self.curves.to_png()))
            elif name == "metrics":
                images.append((f"Metric: {self.bar_metric_combo.currentText()}", self.metric_bars.to_png()))
                images.append((self.scatter.title, self.scatter.to_png()))
            elif name == "confusion" and self.confusion_widgets:
                images.append(("Confusion matrices (test)", png_bytes(self.confusion_host.grab())))
            elif name == "per_class" and c.class_labels():
                images.append(("Per-class F1 (test)", self.per_class_chart.to_png()))
            elif name == "modalities" and self.modality_combo.count():
                images.append(("Modality contribution (test)", self.modality_chart.to_png()))
        self.tabs.setCurrentIndex(current)
        tables = report.report_tables(c, metric=self.modality_combo.currentText() or None)
        path = Path(path)
        path.write_text(report.html_report(c, images, tables), encoding="utf-8")
        return path

    def shutdown(self) -> None:
        """Cancel the loads, stop the thumbnail threads, close the store (the window is closing)."""
        self._closing = True
        self._cancel_tasks()
        self._thumbs.shutdown()
        self._holder.close()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    # --- tasks ---------------------------------------------------------------------------------

    def _start(self, fn: Callable[..., Any], *args: Any, succeeded: Callable[[Any], None]) -> Task:
        generation = self._generation
        task = run_task(fn, *args)
        self._tasks.add(task)

        def on_succeeded(result: Any) -> None:
            if generation == self._generation and not self._closing:
                succeeded(result)

        def on_failed(message: str, traceback: str) -> None:
            if generation == self._generation and not self._closing:
                import logging

                logging.getLogger(__name__).error("compare: %s\n%s", message, traceback)
                self.message.show_message(f"Could not read the runs: {message}", "error")
                self.status.setText("")

        task.succeeded.connect(on_succeeded)
        task.failed.connect(on_failed)
        task.finished.connect(lambda: self._tasks.discard(task))
        return task

    def _cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()

    # --- filling the tabs ----------------------------------------------------------------------

    def _on_comparison_loaded(self, c: Comparison) -> None:
        self.comparison = c
        self._by_index = {i: {p.item_index: p for p in c.predictions.get(i, [])} for i in c.run_ids}
        self.run_ids = c.run_ids
        self.heading.setText(f"Comparing {len(c.runs)} runs")
        self.status.setText("  ".join(c.labels()) if len(c.runs) <= 4 else "")
        self.export_button.setEnabled(True)
        self.curves.set_runs(c.run_ids, c.labels())
        self.curves.legend.setColumnCount(2 if len(c.runs) > 8 else 1)
        keys = c.shared_metric_keys()
        default = c.default_metric()
        for combo, items, current in (
            (self.metric_combo, keys, default),
            (self.bar_metric_combo, keys, report.headline_metric(keys, task=report.comparison_task(c))),
            (self.scatter_x_combo, c.differing or c.all_keys, report.scatter_default(c)),
            (self.modality_combo, c.eval_metric_names(), None),
        ):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(items)
            if current:
                combo.setCurrentText(current)
            combo.blockSignals(False)
        # Tabs are filled when first shown: 20 confusion tables and a few charts at once would
        # stall the GUI thread for half a second.
        self._filled.clear()
        self._fill_current_tab()
        if default:
            if not self._prefetching or default in self._curves:  # else they are on their way
                self._load_curves(default)
        else:
            self.curves.set_curves("", {})
            self.message.show_message("These runs logged no metrics yet.", "info")
        self.comparison_loaded.emit(c)

    def _fill_current_tab(self) -> None:
        name = self.current_tab()
        if self.comparison is None or name in self._filled:
            return
        self._filled.add(name)
        fill = {
            "parameters": self._fill_parameters,
            "metrics": self._fill_metrics,
            "confusion": self._fill_confusion,
            "per_class": self._fill_per_class,
            "predictions": self._fill_disagreements,
            "modalities": self._fill_modalities,
        }.get(name)
        if fill is not None:
            fill()

    def _load_curves(self, key: str) -> None:
        if key in self._curves:
            weight, smoothed = self._smoothed.get(key, (None, None))
            same = weight is not None and abs(weight - self.smooth_slider.value() / 100) < 1e-9
            if same:
                self.curves.smoothing = weight
            self._draw_curves(key, self._curves[key], smoothed if same else None)
            return
        self.status.setText(f"reading {key}…")
        weight = self.smooth_slider.value() / 100
        self._start(
            _load_curves_job,
            self._holder,
            self.state.db_url,
            list(self.run_ids),
            key,
            weight,
            succeeded=self._on_curves_loaded,
        )

    def _on_prefetched_curves(self, result: tuple | None) -> None:
        if result is not None:
            self._on_curves_loaded(result)

    def _on_prefetch_finished(self, generation: int) -> None:
        if generation != self._generation or not self._prefetching:
            return
        self._prefetching = False
        # failed or cancelled, or the view wants another metric by now: load what it shows
        key = self.metric_combo.currentText()
        if self.comparison is not None and key and key not in self._curves and not self._closing:
            self._load_curves(key)

    def _on_curves_loaded(
        self, result: tuple[str, dict[int, Curve], dict[int, np.ndarray], float, StepPyramids]
    ) -> None:
        key, curves, smoothed, weight, pyramids = result
        self._curves[key] = curves
        self._pyramids[key] = pyramids
        self._smoothed[key] = (weight, smoothed)
        while len(self._curves) > CURVE_CACHE:
            oldest = next(iter(self._curves))
            del self._curves[oldest]
            self._pyramids.pop(oldest, None)
            self._smoothed.pop(oldest, None)
        if key != self.metric_combo.currentText():
            return
        self.curves.smoothing = weight
        self._draw_curves(key, curves, smoothed)

    def _draw_curves(
        self, key: str, curves: dict[int, Curve], smoothed: dict[int, np.ndarray] | None
    ) -> None:
        prepared = self._pyramids.get(key)
        if smoothed is None and self.smooth_slider.value() > 0:
            self.curves.smoothing = self.smooth_slider.value() / 100
            raw_only = StepPyramids(prepared.raw, {}) if prepared else None
            self.curves.set_curves(key, curves, {}, raw_only)
            self._smooth_timer.start(0)  # recompute off the GUI thread; drawn raw meanwhile
        else:
            self.curves.set_curves(key, curves, smoothed, prepared)

    def _on_curves_drawn(self) -> None:
        key = self.curves.key
        curves = self._curves.get(key, {})
        points = sum(len(cv) for cv in curves.values())
        self.status.setText(f"{key}: {points:,} points in {len(curves)} runs")
        self.curves_drawn.emit(key)

    def _fill_parameters(self) -> None:
        c = self.comparison
        if c is None:
            return
        show_all = self.show_all_check.isChecked()
        headers, rows = report.parameters_table(c, show_all)
        _fill(self.params_table, headers, rows, colours=True, right=False)
        differing = set(c.differing)
        if show_all:
            for r, row in enumerate(rows):
                if row[0] in differing:
                    for col in range(len(row)):
                        self.params_table.item(r, col).setBackground(QColor("#fff4d6"))
        n = len(c.differing)
        self.params_caption.setText(
            f"{n} of {len(c.all_keys)} parameters differ"
            + ("" if show_all else " (only those are shown)")
            + ("; highlighted" if show_all and n else "")
        )
        if not rows and not show_all:
            self.params_caption.setText("The runs have the same parameters. Show all to see them.")

    def _fill_metrics(self) -> None:
        c = self.comparison
        if c is None:
            return
        headers, rows = report.metrics_table(c)
        _fill(self.metrics_table, headers, rows, colours=False)
        self._fill_metric_charts()

    def _fill_metric_charts(self, *_: Any) -> None:
        c = self.comparison
        if c is None:
            return
        key = self.bar_metric_combo.currentText()
        labels = c.labels()
        lasts, bests = [], []
        for i in c.run_ids:
            s = c.stats.get(i, {}).get(key)
            lasts.append(s.last_value if s else None)
            bests.append(s.best if s else None)
        series = [BarSeries(label, [lasts[n], bests[n]], run_colour(n)) for n, label in enumerate(labels)]
        self.metric_bars.set_data(["last", "best"], series, y_label=key)
        self.metric_bars.set_title(f"{key}: last and best" if key else "no metric")
        param = self.scatter_x_combo.currentText()
        if param:
            self.scatter.set_points(
                [p.get(param) for p in c.parameters], bests, labels, x_label=param, y_label=f"best {key}"
            )

    def _fill_confusion(self) -> None:
        c = self.comparison
        for w in self.confusion_widgets:
            w.setParent(None)
            w.deleteLater()
        self.confusion_widgets = []
        if c is None:
            return
        columns = 2 if len(c.runs) <= 4 else 3
        for n, run in enumerate(c.runs):
            w = ConfusionMatrixWidget(run.id, run_label(run), run_colour(n))
            e = c.evaluation(run.id)
            w.set_matrix((e.labels or []) if e else [], e.confusion_matrix if e else None)
            w.setMinimumSize(300, 260)
            w.cell_clicked.connect(self.show_cell_examples)
            self.confusion_grid.addWidget(w, n // columns, n % columns)
            self.confusion_widgets.append(w)

    def _fill_per_class(self) -> None:
        c = self.comparison
        if c is None:
            return
        classes = c.class_labels()
        scores = c.per_class("f1")
        series = [
            BarSeries(label, [scores[i].get(k) for k in classes], run_colour(n))
            for n, (i, label) in enumerate(zip(c.run_ids, c.labels(), strict=True))
        ]
        self.per_class_chart.set_data(classes, series, y_label="F1")
        headers, rows = report.per_class_table(c)
        _fill(self.per_class_table, headers, rows, colours=False)

    def _fill_disagreements(self) -> None:
        c = self.comparison
        if c is None:
            return
        indices = c.disagreements()
        with_preds = sum(1 for i in c.run_ids if c.predictions.get(i))
        items = self._dataset_items(c.runs[0].dataset_id)
        rows = [self._example_row(c, index, items) for index in indices[:MAX_EXAMPLES]]
        total = len(c.predictions.get(c.run_ids[0], []))
        if with_preds < 2:
            caption = "Fewer than two runs stored per-item test predictions: nothing to compare."
        else:
            caption = f"The runs disagree on {len(indices)} of {total} test items"
            caption += f" (the first {len(rows)} shown)." if len(rows) < len(indices) else "."
        if len({r.dataset_id for r in c.runs}) > 1:
            caption += " The runs used different datasets: items are matched by index."
        self.disagreements.set_examples(caption, rows, self._thumbnail)

    def _fill_modalities(self, *_: Any) -> None:
        c = self.comparison
        metric = self.modality_combo.currentText()
        if c is None or not metric:
            return
        scores = c.modality_scores(metric)
        names = ["fused", "text masked", "image masked"]
        series = [
            BarSeries(label, [scores[i][k] for k in names], run_colour(n))
            for n, (i, label) in enumerate(zip(c.run_ids, c.labels(), strict=True))
        ]
        self.modality_chart.set_data(names, series, y_label=f"test {metric}")
        self.modality_chart.set_title(f"Test {metric}: fused, text masked, image masked")
        headers, rows = report.modality_table(c, metric)
        _fill(self.modality_table, headers, rows, colours=False)

    # --- examples ------------------------------------------------------------------------------

    def _dataset_items(self, dataset_id: int | None) -> list:
        """The items of a dataset if loaded; else starts loading them and returns []."""
        if dataset_id is None:
            return []
        if dataset_id in self._items:
            return self._items[dataset_id]
        if dataset_id not in self._items_loading:
            self._items_loading.add(dataset_id)
            self._start(
                _load_items_job, self._holder, self.state.db_url, dataset_id, succeeded=self._on_items_loaded
            )
        return []

    def _on_items_loaded(self, result: tuple[int, list, str]) -> None:
        dataset_id, items, warning = result
        self._items_loading.discard(dataset_id)
        self._items[dataset_id] = items
        if warning:
            self.message.show_message(warning, "warning")
        if "predictions" in self._filled:
            self._fill_disagreements()
        if self._last_cell is not None:
            self.show_cell_examples(*self._last_cell)

    def _example_row(self, c: Comparison, index: int, items: list) -> tuple[Any, str]:
        item = items[index] if 0 <= index < len(items) else None
        preds = []
        true = None
        for run_id, label in zip(c.run_ids, c.labels(), strict=True):
            p = self._by_index.get(run_id, {}).get(index)
            if p is not None:
                true = true or p.true_label
                mark = "✓" if p.predicted_label == p.true_label else "✗"
                preds.append(f"{label.split(' ', 1)[0]} {p.predicted_label} {mark}")
        text = item.text if item is not None else f"item {index} (dataset not loaded)"
        return item, f"{shorten(text, 140)}\ntrue: {true}   predicted: " + "  ".join(preds)

    def _thumbnail(self, item: Any) -> QPixmap | None:
        return self._thumbs.thumbnail(item)

    def _on_thumbs_thumbnail_ready(self, ref: Any) -> None:
        for widget in (self.cell_examples, self.disagreements):
            widget.thumbnail_arrived(ref, self._thumbnail)

    # --- export actions --------------------------------------------------------------------------

    def _chart_of(self, tab: str):
        return {
            "curves": self.curves,
            "metrics": self.metric_bars,
            "per_class": self.per_class_chart,
            "modalities": self.modality_chart,
        }.get(tab, self.curves)

    def _table_of(self, tab: str) -> Table:
        """The table of ``tab``; the metrics for a tab without one."""
        c = self.comparison
        if c is None:
            raise RuntimeError("nothing to export: the runs have not loaded yet")
        return report.table(
            c,
            tab if tab in report.TABLES else "metrics",
            show_all=self.show_all_check.isChecked(),
            metric=self.modality_combo.currentText() or None,
        )

    def _ask_export_chart(self, kind: str) -> None:
        name = f"compare-{self.current_tab()}.{kind}"
        path, _ = QFileDialog.getSaveFileName(self, "Save chart", name, f"{kind.upper()} (*.{kind})")
        if path:
            self._report(lambda: self.export_chart(path))

    def _ask_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save table", f"compare-{self.current_tab()}.csv", "CSV (*.csv)"
        )
        if path:
            self._report(lambda: self.export_csv(path))

    def _ask_export_html(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save report", "comparison.html", "HTML (*.html)")
        if path:
            self._report(lambda: self.export_html(path))

    def _report(self, write: Callable[[], Path]) -> None:
        try:
            path = write()
        except (OSError, RuntimeError) as exc:
            self.message.show_message(f"Could not save: {exc}", "error")
        else:
            self.state.post_status(f"Saved {path}")

    # --- slots ---------------------------------------------------------------------------------

    def _on_metric_combo_changed(self, key: str) -> None:
        if key and self.comparison is not None:
            self._load_curves(key)

    def _on_smooth_slider_changed(self, value: int) -> None:
        self.smooth_label.setText(f"{value / 100:.2f}")
        self._smooth_timer.start()

    def _on_smooth_timer_timeout(self) -> None:
        key = self.curves.key
        curves = self._curves.get(key)
        if not curves:
            return
        weight = self.smooth_slider.value() / 100

        def done(result: tuple[float, dict[int, np.ndarray], dict[int, PeakPyramid]]) -> None:
            if self.curves.key == key and abs(result[0] - self.smooth_slider.value() / 100) < 1e-9:
                self.curves.set_smoothed(*result)

        self._start(_smooth_job, curves, weight, succeeded=done)

    def _on_tabs_current_changed(self, _index: int) -> None:
        self._thumbs.drop_queued()
        self._fill_current_tab()

    def _on_state_store_changed(self, _url: object) -> None:
        self._items.clear()
        if self.run_ids:
            self.set_runs(self.run_ids)


def _table() -> QTableWidget:
    table = QTableWidget()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setSortingEnabled(False)
    table.verticalHeader().hide()
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    table.horizontalHeader().setStretchLastSection(False)
    return table


def _fill(
    table: QTableWidget, headers: list[str], rows: list[list[str]], *, colours: bool, right: bool = True
) -> None:
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
