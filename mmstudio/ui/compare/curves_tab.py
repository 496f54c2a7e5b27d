"""The Compare page's curves tab: one metric of every run, overlaid, raw and smoothed (EMA) where the
core's rule smooths it (per-step metrics with enough points), on a step, epoch or wall-time axis. It
opens on the metric the Experiments page ranks the runs by (:func:`mmstudio.store.compare.default_metric`).

Curves are read, smoothed and prepared for drawing off the GUI thread (:mod:`.jobs`); the last
:data:`CURVE_CACHE` metrics are kept, so switching back to one draws at once. The default metric's
curves are read while the rest of the comparison is (:meth:`CurvesTab.prefetch`). A running run's
curve of the metric shown grows as the page polls the store (:meth:`CurvesTab.grow`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from mmstudio.store.compare import Comparison, is_step_metric
from mmstudio.store.curves import ChartCurves, PeakPyramid, StepPyramids
from mmstudio.store.handle import StoreHandle
from mmstudio.store.types import Curve, CurveCursor, CurveUpdate
from mmstudio.ui.compare.charts import X_MODES, CurvesChart
from mmstudio.ui.compare.jobs import load_curves_job, prefetch_curves_job, smooth_job
from mmstudio.ui.compare.tables import set_choices
from mmstudio.ui.tasks import Task

CURVE_CACHE = 3  # metric keys whose curves are kept


class CurvesTab(QWidget):
    """The curves of one metric. ``start(fn, *args, succeeded=...)`` runs a job for the current
    comparison (the page's tasks: a newer comparison drops its result); ``store()`` gives the store
    handle and URL to read."""

    drawn = Signal(str)  # the metric key, once the chart has drawn its curves
    status_changed = Signal(str)  # what the tab is doing, for the page's status line

    def __init__(
        self,
        start: Callable[..., Task],
        store: Callable[[], tuple[StoreHandle, str | None]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._start = start
        self._store = store
        self.run_ids: list[int] = []
        self._loaded = False  # the comparison of run_ids has arrived
        self._stopped = False
        self.prefetching = False  # the default metric's curves are being read with the comparison
        self._prefetch_task: Task | None = None
        self._curves: dict[str, dict[int, Curve]] = {}
        self._pyramids: dict[str, StepPyramids] = {}  # of the curves above
        self._smoothed: dict[str, tuple[float, dict[int, np.ndarray]]] = {}  # their EMA, at this weight
        self._smooth_timer = QTimer(self, singleShot=True, interval=120)
        self._smooth_timer.timeout.connect(self._on_smooth_timer_timeout)

        v = QVBoxLayout(self)
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
        self.x_combo.currentTextChanged.connect(lambda mode: self.chart.set_options(x_mode=mode))
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
        self.log_check.toggled.connect(lambda on: self.chart.set_options(log_y=on))
        row.addWidget(self.log_check)
        row.addStretch(1)
        v.addLayout(row)
        self.chart = CurvesChart()
        self.chart.drawn.connect(self._on_chart_drawn)
        v.addWidget(self.chart, 1)
        note = QLabel(
            "Per-step metrics: faint band, the values; line, smoothed. Per-epoch metrics: their points as "
            "they are. ★ best · ● last · ▲ minimum (when it is not the best). Click a run's name to hide it."
        )
        note.setWordWrap(True)
        note.setForegroundRole(QPalette.ColorRole.PlaceholderText)  # muted, in light and dark palettes
        v.addWidget(note)

    def weight(self) -> float:
        """The smoothing weight the slider sets."""
        return self.smooth_slider.value() / 100

    # --- what the page calls ---------------------------------------------------------------------

    def clear(self, run_ids: Sequence[int]) -> None:
        """Other runs are coming: forget the curves read so far."""
        self.run_ids = list(run_ids)
        self._loaded = False
        self._prefetch_task = None
        self._curves.clear()
        self._pyramids.clear()
        self._smoothed.clear()

    def prefetch(self) -> Task:
        """Read the default metric's curves now, beside the comparison (two jobs in the pool)."""
        self.prefetching = True
        holder, url = self._store()
        task = self._start(
            prefetch_curves_job, holder, url, list(self.run_ids), self.weight(), succeeded=self._on_prefetched
        )
        task.finished.connect(lambda task=task: self._on_prefetch_finished(task))
        self._prefetch_task = task
        return task

    def set_comparison(self, c: Comparison) -> str | None:
        """The runs' legend and metrics; returns the metric to show first (None: they logged none)."""
        self.run_ids = c.run_ids
        self._loaded = True
        self.chart.set_runs(c.run_ids, c.labels())  # its legend takes the columns its height needs
        default = c.default_metric()
        set_choices(self.metric_combo, c.shared_metric_keys(), default)
        return default

    def show_first(self, key: str | None) -> None:
        """Draw the metric shown first (an empty chart for None), unless its prefetched curves are
        still on their way (they are drawn when they arrive)."""
        if key is None:
            self.chart.set_curves("", {})
        elif not self.prefetching or key in self._curves:
            self.show_metric(key)

    def show_metric(self, key: str) -> None:
        """Draw ``key``'s curves: at once when they were read, else once they are."""
        if key in self._curves:
            weight, smoothed = self._smoothed.get(key, (None, None))
            same = weight is not None and abs(weight - self.weight()) < 1e-9
            if same:
                self.chart.smoothing = weight
            self._draw(key, self._curves[key], smoothed if same else None)
            return
        self.status_changed.emit(f"reading {key}…")
        holder, url = self._store()
        self._start(
            load_curves_job, holder, url, list(self.run_ids), key, self.weight(), succeeded=self._on_loaded
        )

    def update_choices(self, c: Comparison) -> None:
        """The comparison's metrics changed (a running run logged a new one): the choice of metric
        follows, the metric shown stays."""
        self.run_ids = c.run_ids
        set_choices(self.metric_combo, c.shared_metric_keys(), self.metric_combo.currentText() or None)

    def held(self, run_ids: Sequence[int]) -> tuple[str, dict[int, CurveCursor]]:
        """The metric drawn, and how much of its curve the chart holds for each of ``run_ids`` (what a
        poll of the store asks to be brought up to date); ``""`` when none is drawn yet."""
        key = self.chart.key
        if not key or key not in self._curves or self.chart.is_drawing():
            return "", {}
        cursors = {}
        for run_id in run_ids:
            curve = self.chart.curve(run_id)
            if curve is not None:
                cursors[run_id] = CurveCursor.of(curve)
        return key, cursors

    def grow(self, key: str, updates: dict[int, CurveUpdate]) -> None:
        """Running runs' new points of metric ``key`` (by run id): their curves grow in the chart, if it
        still shows ``key``, and in the cache."""
        if key != self.chart.key or key not in self._curves:
            return
        for run_id, update in updates.items():
            self.chart.grow(run_id, update)
            curve = self.chart.curve(run_id)
            if curve is not None:
                self._curves[key][run_id] = curve
        smoothed, pyramids = self.chart.prepared()
        self._smoothed[key] = (self.chart.smoothing, smoothed)
        self._pyramids[key] = pyramids
        self._say_what_is_drawn()

    def stop(self) -> None:
        """The page is closing: start nothing more."""
        self._stopped = True
        self._smooth_timer.stop()

    # --- loading and drawing -----------------------------------------------------------------------

    def _on_prefetched(self, result: ChartCurves | None) -> None:
        if result is not None:
            self._on_loaded(result)

    def _on_prefetch_finished(self, task: Task) -> None:
        if task is not self._prefetch_task or not self.prefetching:
            return
        self.prefetching = False
        # failed or cancelled, or the view wants another metric by now: load what it shows
        key = self.metric_combo.currentText()
        if self._loaded and key and key not in self._curves and not self._stopped:
            self.show_metric(key)

    def _on_loaded(self, result: ChartCurves) -> None:
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
        self.chart.smoothing = weight
        self._draw(key, curves, smoothed)

    def _draw(self, key: str, curves: dict[int, Curve], smoothed: dict[int, np.ndarray] | None) -> None:
        per_step = is_step_metric(key)
        self.smooth_slider.setEnabled(per_step)
        self.smooth_slider.setToolTip(
            "Exponential moving average of the curves with enough points (the values stay as a faint band)"
            if per_step
            else f"{key} is logged once an epoch: its points are drawn as they are, not smoothed"
        )
        prepared = self._pyramids.get(key)
        if smoothed is None and self.smooth_slider.value() > 0:
            self.chart.smoothing = self.weight()
            raw_only = StepPyramids(prepared.raw, {}) if prepared else None
            self.chart.set_curves(key, curves, {}, raw_only)
            self._smooth_timer.start(0)  # recompute off the GUI thread; drawn raw meanwhile
        else:
            self.chart.set_curves(key, curves, smoothed, prepared)

    def _on_chart_drawn(self) -> None:
        self._say_what_is_drawn()
        self.drawn.emit(self.chart.key)

    def _say_what_is_drawn(self) -> None:
        key = self.chart.key
        curves = self._curves.get(key, {})
        points = sum(len(cv) for cv in curves.values())
        self.status_changed.emit(f"{key}: {points:,} points in {len(curves)} runs")

    def _on_metric_combo_changed(self, key: str) -> None:
        if key and self._loaded:
            self.show_metric(key)

    def _on_smooth_slider_changed(self, value: int) -> None:
        self.smooth_label.setText(f"{value / 100:.2f}")
        self._smooth_timer.start()

    def _on_smooth_timer_timeout(self) -> None:
        key = self.chart.key
        curves = self._curves.get(key)
        if not curves:
            return
        weight = self.weight()

        def done(result: tuple[float, dict[int, np.ndarray], dict[int, PeakPyramid]]) -> None:
            if self.chart.key == key and abs(result[0] - self.weight()) < 1e-9:
                self.chart.set_smoothed(*result)

        self._start(smooth_job, key, curves, weight, succeeded=done)
