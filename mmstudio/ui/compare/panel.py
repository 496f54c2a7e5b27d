"""The compare view: 2 to 20 stored runs side by side.

Tabs: overlaid curves of a chosen metric; the parameters that differ (or all); final and best
metrics as a table, a bar chart and a parameter-vs-metric scatter; confusion matrices side by side
(a click on a cell lists those test items); per-class F1; a gallery of the items the runs disagree
on; modality contribution (test scores fused, text masked, image masked). Charts export as PNG or
SVG, tables as CSV, the whole comparison as one self-contained HTML report. A run that is still
running, here or on another machine, is followed while the page is shown: its curves grow and its
numbers update from polls of the store (:mod:`.live`), and once it has ended its test results appear.

The page composes its parts: the curves tab (:mod:`.curves_tab`), the tabs of tables
(:mod:`.tables`), the confusion matrices (:mod:`.confusion`) and the test items
(:mod:`.examples`). Every store query runs off the GUI thread (:mod:`.jobs`); the Qt-free part is the
store's: the comparison itself (:mod:`mmstudio.store.compare`) and its tables, CSV and HTML report
(:mod:`mmstudio.store.report`, which ``mmstudio runs compare`` uses too).

Alone: ``python -m mmstudio.ui.compare --db URL --run A --run B [--tab NAME] [--screenshot out.png]``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSizePolicy,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmstudio.store import report
from mmstudio.store.compare import MAX_RUNS, Comparison
from mmstudio.store.handle import StoreHandle
from mmstudio.store.report import Table
from mmstudio.ui.compare.charts import ChartWidget
from mmstudio.ui.compare.confusion import ConfusionTab
from mmstudio.ui.compare.curves_tab import CurvesTab
from mmstudio.ui.compare.examples import ExamplesController, ExamplesWidget
from mmstudio.ui.compare.jobs import (
    load_comparison_job,
    load_curves_job,
    load_items_job,
    prefetch_curves_job,
    smooth_job,
)
from mmstudio.ui.compare.live import RunningRunsController
from mmstudio.ui.compare.tables import MetricsTab, ModalitiesTab, ParametersTab, PerClassTab
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.tasks import Task, run_task
from mmstudio.ui.widgets import EmptyState, MessageBar

log = logging.getLogger(__name__)

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
#: What each tab shows, in the line beside the heading (the curves tab says what it drew instead).
TAB_HINTS = {
    "curves": "one metric of every run over training",
    "parameters": "the model and training settings of each run",
    "metrics": "every metric's last and best value, per run",
    "confusion": "true against predicted labels on the test split; click a cell for its items",
    "per_class": "each class's F1 on the test split, per run",
    "predictions": "the test items the runs predicted differently",
    "modalities": "test scores as trained, with the text masked and with the image masked",
}


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
        self._holder = StoreHandle(mark_orphans=False, read_only=True)  # it only reads
        self._tasks: set[Task] = set()
        self._generation = 0
        # set_runs has shown the tabs; the store is read after their first paint: (run ids, generation)
        self._queries_pending: tuple[list[int], int] | None = None
        self._first_paint_timer = QTimer(self, singleShot=True)
        self._first_paint_timer.timeout.connect(self._on_first_paint_timer_timeout)
        self._filled: set[str] = set()  # the tabs filled for the current comparison
        self._curves_status = ""  # what the curves tab drew ("val/loss: 8 points in 4 runs")
        self._reading = False  # the comparison of run_ids is on its way
        self._closing = False
        self._build()
        self.examples = ExamplesController(
            self, self._start, self._store, self.confusion_tab.examples, self.disagreements
        )
        self.examples.shown.connect(self.examples_shown)
        self.examples.warned.connect(lambda warning: self.message.show_message(warning, "warning"))
        self.live = RunningRunsController(self._start, self._store, self.curves_tab, self)
        self.live.updated.connect(self._on_live_updated)
        self.confusion_tab.cell_clicked.connect(self.show_cell_examples)
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
        self.status.setObjectName("hint")  # the palette's secondary text, light or dark
        # what is left of the row beside the heading: a long line is cut, never widens the window
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
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
            "compare",
            "Nothing to compare yet",
            "Select two to twenty runs on the Experiments page and choose Compare (Ctrl+Shift+C), or "
            "open the app on them: <code>mmstudio gui --page compare --run A --run B</code>. In a "
            "terminal, <code>mmstudio runs compare A B</code> prints the same tables.",
        )
        self.empty.add_action(
            "Go to Experiments", lambda: self.state.page_requested.emit("experiments"), default=True
        )
        layout.addWidget(self.empty, 1)
        self.tabs = QTabWidget()
        self.tabs.installEventFilter(self)  # its first paint after set_runs starts the store queries
        self.tabs.setDocumentMode(True)
        layout.addWidget(self.tabs, 1)
        self.tabs.hide()

        self.curves_tab = CurvesTab(self._start, self._store)
        self.curves_tab.drawn.connect(self.curves_drawn)
        self.curves_tab.status_changed.connect(self._on_curves_tab_status_changed)
        self.curves = self.curves_tab.chart
        self.parameters_tab = ParametersTab()
        self.metrics_tab = MetricsTab()
        self.confusion_tab = ConfusionTab()
        self.per_class_tab = PerClassTab()
        predictions = QWidget()
        self.disagreements = ExamplesWidget("Test items the runs disagree on")
        predictions_layout = QVBoxLayout(predictions)
        predictions_layout.addWidget(self.disagreements, 1)
        self.modalities_tab = ModalitiesTab()
        self._pages: dict[str, QWidget] = {
            "curves": self.curves_tab,
            "parameters": self.parameters_tab,
            "metrics": self.metrics_tab,
            "confusion": self.confusion_tab,
            "per_class": self.per_class_tab,
            "predictions": predictions,
            "modalities": self.modalities_tab,
        }
        for name in TABS:
            self.tabs.addTab(self._pages[name], TAB_TITLES[name])
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)

    # --- public API ----------------------------------------------------------------------------

    def set_runs(self, run_ids: Sequence[int]) -> None:
        """Compare these runs (2 to 20; more are cut to the first 20). Loads in the background."""
        ids = [int(i) for i in dict.fromkeys(run_ids)]
        self._cancel_tasks()
        self._generation += 1
        self.examples.reset()
        self.message.clear()
        if len(ids) > MAX_RUNS:
            self.message.show_message(
                f"{len(ids)} runs were selected; the first {MAX_RUNS} are compared.", "warning"
            )
            ids = ids[:MAX_RUNS]
        self.curves_tab.clear(ids)
        self.live.stop()
        self.run_ids = ids
        self.comparison = None
        self._reading = bool(ids)
        if not ids:
            self.tabs.hide()
            self.empty.show()
            self.heading.setText("No runs to compare")
            self._show_status()
            self.export_button.setEnabled(False)
            return
        if len(ids) == 1:
            self.message.show_message("Select at least two runs to compare; showing one.", "info")
        self.heading.setText(f"Comparing {len(ids)} runs")
        self._curves_status = ""
        self._show_status()
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

    def is_busy(self) -> bool:
        """Whether a store query, a dataset or a thumbnail is still loading."""
        return (
            self._queries_pending is not None
            or bool(self._tasks)
            or self.examples.is_busy()
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
        """Show ``key``'s curves."""
        self.curves_tab.metric_combo.setCurrentText(key)

    def show_cell_examples(self, run_id: int, true_label: str, predicted_label: str) -> None:
        """List the test items of ``run_id`` with this true and predicted label (a confusion cell)."""
        self.examples.show_cell(run_id, true_label, predicted_label)

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
                metrics = self.metrics_tab
                images.append((f"Metric: {metrics.metric_combo.currentText()}", metrics.bars.to_png()))
                images.append((metrics.scatter.title, metrics.scatter.to_png()))
            elif name == "confusion" and (png := self.confusion_tab.to_png()) is not None:
                images.append(("Confusion matrices (test)", png))
            elif name == "per_class" and c.class_labels():
                images.append(("Per-class F1 (test)", self.per_class_tab.chart.to_png()))
            elif name == "modalities" and self.modalities_tab.combo.count():
                images.append(("Modality contribution (test)", self.modalities_tab.chart.to_png()))
        self.tabs.setCurrentIndex(current)
        tables = report.report_tables(c, metric=self.modalities_tab.metric())
        path = Path(path)
        path.write_text(report.html_report(c, images, tables), encoding="utf-8")
        return path

    def shutdown(self) -> None:
        """Cancel the loads, stop the thumbnail threads, close the store (the window is closing)."""
        self._closing = True
        self.live.stop()
        self.curves_tab.stop()
        self._cancel_tasks()
        self.examples.shutdown()
        self._holder.close()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    # --- tasks ---------------------------------------------------------------------------------

    def _store(self) -> tuple[StoreHandle, str | None]:
        return self._holder, self.state.db_url

    def _start(
        self, fn: Callable[..., Any], *args: Any, succeeded: Callable[[Any], None], failure: str = ""
    ) -> Task:
        """Run ``fn`` in the pool; ``succeeded(result)`` unless other runs were asked for meanwhile.
        If it fails, ``failure`` (default: what ``fn`` does, :meth:`_failure`) and why are shown."""
        generation = self._generation
        task = run_task(fn, *args)
        self._tasks.add(task)

        def on_succeeded(result: Any) -> None:
            if generation == self._generation and not self._closing:
                succeeded(result)

        def on_failed(message: str, traceback: str) -> None:
            if generation == self._generation and not self._closing:
                log.error("compare: %s\n%s", message, traceback)
                self.message.show_message(f"{failure or self._failure(fn, args)}: {message}", "error")
                if fn is load_comparison_job:
                    self._reading = False
                    self._show_status()

        task.succeeded.connect(on_succeeded)
        task.failed.connect(on_failed)
        task.finished.connect(lambda: self._tasks.discard(task))
        return task

    def _failure(self, fn: Callable[..., Any], args: tuple) -> str:
        """What failed, for the error banner: the runs, a metric's curves, a run's dataset."""
        if fn in (load_curves_job, prefetch_curves_job):
            key = args[3] if fn is load_curves_job else self.curves_tab.metric_combo.currentText()
            return f"Could not read the {key} curves" if key else "Could not read the curves"
        if fn is smooth_job:
            return "Could not smooth the curves"
        if fn is load_items_job:
            return f"Could not load run {args[2]}'s dataset to show its test items"
        return "Could not read the runs"

    def _cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()

    def _on_first_paint_timer_timeout(self) -> None:
        if self._queries_pending is not None:
            ids, generation = self._queries_pending
            self._start_queries(ids, generation)

    def _start_queries(self, ids: list[int], generation: int) -> None:
        self._queries_pending = None
        if generation != self._generation or self._closing:
            return
        holder, url = self._store()
        self._start(load_comparison_job, holder, url, ids, succeeded=self._on_comparison_loaded)
        self.curves_tab.prefetch()

    # --- filling the tabs ----------------------------------------------------------------------

    def _on_comparison_loaded(self, c: Comparison) -> None:
        self.comparison = c
        self.run_ids = c.run_ids
        self._reading = False
        self.heading.setText(f"Comparing {len(c.runs)} runs")
        self._show_status()
        self.export_button.setEnabled(True)
        default = self.curves_tab.set_comparison(c)
        for tab in (
            self.parameters_tab,
            self.metrics_tab,
            self.confusion_tab,
            self.per_class_tab,
            self.modalities_tab,
            self.examples,
        ):
            tab.set_comparison(c)
        # Tabs are filled when first shown: 20 confusion tables and a few charts at once would
        # stall the GUI thread for half a second.
        self._filled.clear()
        self._fill_current_tab()
        self.curves_tab.show_first(default)
        if default is None:
            self.message.show_message("These runs logged no metrics yet.", "info")
        self.live.set_comparison(c)
        self._show_status()
        self.comparison_loaded.emit(c)

    def _on_live_updated(self, c: Comparison, ended: bool) -> None:
        """The running runs' new state (their curves have grown already): the numbers follow; a run
        that ended has the comparison read again (its test results come with its end)."""
        self.comparison = c
        self._update_choices(c)
        self._refresh_metrics_tab(c)
        self._show_status()
        if ended:
            holder, url = self._store()
            self._start(load_comparison_job, holder, url, c.run_ids, succeeded=self._on_comparison_refreshed)

    def _on_comparison_refreshed(self, c: Comparison) -> None:
        """The comparison read again after a run ended: every tab but the curves (which grew as the
        run went) shows it."""
        self.comparison = c
        for tab in (
            self.parameters_tab,
            self.confusion_tab,
            self.per_class_tab,
            self.modalities_tab,
            self.examples,
        ):
            tab.set_comparison(c)
        self._update_choices(c)
        self._refresh_metrics_tab(c)
        self._filled &= {"curves", "metrics"}  # the other tabs fill again when shown
        self._fill_current_tab()
        self.live.set_comparison(c)
        self._show_status()
        self.comparison_loaded.emit(c)

    def _update_choices(self, c: Comparison) -> None:
        """The metrics to choose from, when the runs logged a new one."""
        combo = self.curves_tab.metric_combo
        if c.shared_metric_keys() != [combo.itemText(i) for i in range(combo.count())]:
            self.curves_tab.update_choices(c)

    def _refresh_metrics_tab(self, c: Comparison) -> None:
        """The Metrics tab with the new numbers: its table and charts again when it is shown (else when
        it is next), the metric and parameter chosen there kept."""
        tab = self.metrics_tab
        chosen = (tab.metric_combo.currentText(), tab.scatter_x_combo.currentText())
        tab.set_comparison(c)
        for combo, text in zip((tab.metric_combo, tab.scatter_x_combo), chosen, strict=True):
            if text and combo.findText(text) >= 0:
                combo.blockSignals(True)
                combo.setCurrentText(text)
                combo.blockSignals(False)
        if self.current_tab() == "metrics":
            tab.fill()
        else:
            self._filled.discard("metrics")

    def _fill_current_tab(self) -> None:
        name = self.current_tab()
        if self.comparison is None or name in self._filled:
            return
        self._filled.add(name)
        fill = {
            "parameters": self.parameters_tab.fill,
            "metrics": self.metrics_tab.fill,
            "confusion": self.confusion_tab.fill,
            "per_class": self.per_class_tab.fill,
            "predictions": self.examples.fill_gallery,
            "modalities": self.modalities_tab.fill,
        }.get(name)
        if fill is not None:
            fill()

    # --- export actions --------------------------------------------------------------------------

    def _chart_of(self, tab: str) -> ChartWidget:
        return {
            "curves": self.curves,
            "metrics": self.metrics_tab.bars,
            "per_class": self.per_class_tab.chart,
            "modalities": self.modalities_tab.chart,
        }.get(tab, self.curves)

    def _table_of(self, tab: str) -> Table:
        """The table of ``tab``; the metrics for a tab without one."""
        c = self.comparison
        if c is None:
            raise RuntimeError("nothing to export: the runs have not loaded yet")
        return report.table(
            c,
            tab if tab in report.TABLES else "metrics",
            show_all=self.parameters_tab.show_all_check.isChecked(),
            metric=self.modalities_tab.metric(),
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

    def _show_status(self) -> None:
        """The line beside the heading: what the current tab shows (on the curves tab, what it drew)."""
        if self._reading:
            text = "reading the runs…"
        elif self.comparison is None:
            text = ""
        elif self.current_tab() == "curves" and self._curves_status:
            text = self._curves_status
        else:
            text = TAB_HINTS[self.current_tab()]
        running = len(self.live.running) if self.comparison is not None else 0
        if running:
            which = ", ".join(f"#{run_id}" for run_id in self.live.running)
            they = "they train" if running > 1 else "it trains"
            text += f" · {which} running: followed from the store as {they}"
        self.status.setText(text)
        self.status.setToolTip(text)

    def _on_curves_tab_status_changed(self, text: str) -> None:
        self._curves_status = text
        self._show_status()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.live.set_active(True)

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.live.set_active(False)  # a hidden page reads nothing

    def _on_tabs_current_changed(self, _index: int) -> None:
        self.examples.drop_queued()
        self._fill_current_tab()
        self._show_status()

    def _on_state_store_changed(self, _url: object) -> None:
        self.examples.forget_items()
        if self.run_ids:
            self.set_runs(self.run_ids)
