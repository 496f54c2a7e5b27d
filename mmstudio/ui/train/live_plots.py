"""Live training plots: loss per step (raw and smoothed), the per-epoch losses and the per-epoch scores
(apart: a 0-1 score and a loss of 2 on one axis flatten each other), learning rate, throughput.

The pyqtgraph pattern (STYLE.md): every curve is created once and fed from growing numpy buffers
(capacity doubles, so appending is amortised O(1)). The buffers are
:class:`~mmstudio.store.curves.PeakPyramid` objects: they keep the min/max of blocks of points at several
scales, so what a curve hands pyqtgraph is the visible range in a few points per pixel (peak
decimation, clipped to the view), and a 1,000,000-step run redraws as fast as a 1,000-step one.

Points arrive through :meth:`LivePlotsWidget.add_points` (cheap: vectorised, they are only
appended); :meth:`LivePlotsWidget.refresh` pushes what changed to the curves and is called by the
owner on a timer: each plot is redrawn at most ~20 times a second, and less often when its redraw
gets expensive. The curves report rounded bounds for auto-ranging, so the axes (whose ticks and grid
are the costliest part of a repaint) change only now and then as a run grows. The smoothed loss is an
exponential moving average kept incrementally, debiased as TensorBoard does, by the compare view's
rule (:func:`mmstudio.store.compare.smoothing_weight`: a short loss is smoothed less, or not at all),
so a run's curve is the same on both pages; a new smoothing weight recomputes it. A plot shows "No
points yet" until its first points arrive, and the legends sit above the data, never over it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from operator import itemgetter

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPalette, QPen
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from mmstudio.store.compare import ema, smoothing_weight
from mmstudio.store.curves import PeakPyramid
from mmstudio.ui.peak_curve import PeakCurve
from mmstudio.ui.plot_style import (
    PlotWidget,
    add_legend,
    fit_range,
    is_empty,
    mix,
    palette_plot,
    pen,
    set_empty,
)
from mmstudio.vocabulary import STEP_METRICS, is_epoch_metric, is_live_metric, lower_is_better

#: The per-step metrics of the loss, learning rate and throughput plots (the rest are per epoch).
LOSS_KEY, LR_KEY, THROUGHPUT_KEY = STEP_METRICS
LOSS_COLOUR = QColor(47, 125, 209)
#: Colours of the per-epoch curves, in the order their keys first appear.
EPOCH_COLOURS = ("#2f7dd1", "#e0701b", "#2e9e5b", "#b0419e", "#8a6d3b", "#d64541", "#5b6b7f")
DEFAULT_SMOOTHING = 0.9
#: The shortest time between two redraws of a plot (seconds): at most 20 a second.
MIN_REDRAW_INTERVAL_S = 0.05
#: The learning rate and throughput plots change slowly: at most 4 redraws a second.
SECONDARY_INTERVAL_S = 0.25
#: The shortest time between two redraws of any plot: the plots of one window are painted together,
#: so redrawing several in quick succession would add their paints up in one event-loop pass.
ANY_REDRAW_INTERVAL_S = 0.02
#: How often (ms) :meth:`LivePlotsWidget.flush` offers the next plot its redraw.
FLUSH_INTERVAL_MS = 5
#: The longest the next plot's redraw waits for the previous one to be painted (seconds).
PAINT_WAIT_S = 0.2
#: A plot waits this many times what its last redraw cost (setting the data and painting) before the
#: next one, so redrawing takes at most about a sixth of the GUI thread however large the curves.
COST_FACTOR = 5.0
#: The most steps :meth:`LivePlotsWidget.reserve` makes room for up front (~64 MB of curves).
MAX_RESERVED = 2_000_000
_VAL_LOSS_STEPS = "@val_loss_steps"  # val/loss drawn on the loss plot, at its step


class _TimedPlotWidget(PlotWidget):
    """A plot that remembers when it was last painted and how long that took (the redraw throttle
    reads both)."""

    paint_s = 0.0
    painted_at = 0.0  # time.monotonic() at the end of the last paint

    def paintEvent(self, event) -> None:  # Qt override
        started = time.perf_counter()
        super().paintEvent(event)
        self.paint_s = time.perf_counter() - started
        self.painted_at = time.monotonic()


#: The left axis keeps this width (pixels): one that followed its tick labels would resize the plot
#: whenever a label grew a digit, and each resize re-fits the range and paints again.
LEFT_AXIS_WIDTH = 58


def _plot_widget(
    title: str, x_label: str, y_label: str, *, legend: bool = False, min_height: int = 90
) -> _TimedPlotWidget:
    """A live plot, empty until its first points (its x ticks on whole epochs when x is the epoch)."""
    widget = palette_plot(
        title,
        x_label,
        y_label,
        widget_class=_TimedPlotWidget,
        integer_x=x_label == "epoch",
        min_height=min_height,
    )
    widget.getPlotItem().getAxis("left").setWidth(LEFT_AXIS_WIDTH)
    if legend:
        add_legend(widget, place="top", columns=3)
    set_empty(widget, True)
    return widget


def _curve(plot: pg.PlotWidget, line: QPen, **kwargs) -> PeakCurve:
    item = PeakCurve(pen=line, stable_bounds=True, **kwargs)
    plot.addItem(item)
    return item


class _Series:
    """One metric's points (kept by its curve) and whether the curve shows them all yet."""

    def __init__(self, curve: PeakCurve) -> None:
        self.curve = curve
        self.dirty = False

    @property
    def buffer(self) -> PeakPyramid:
        return self.curve.pyramid

    def push(self) -> None:
        self.curve.refresh(force=True)
        self.dirty = False


class LivePlotsWidget(QWidget):
    """Five live charts of one run: loss per step, per-epoch losses, per-epoch scores, learning rate,
    throughput."""

    smoothing_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.redraw_count = 0
        self.last_redraw_s = 0.0  # what the last plot redraw cost (setting its data + its last paint)
        self._smoothing = DEFAULT_SMOOTHING
        self._loss_weight = 0.0  # the weight the smoothed loss is computed with (smoothing_weight)
        self._next_redraw: dict[object, float] = {}
        self._next_any_redraw = 0.0
        self._awaiting: tuple[_TimedPlotWidget, float] | None = None  # redrawn, not painted yet
        self._turn = 0
        self._flush_timer = QTimer(self)  # see flush()
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self._on_flush_timer_timeout)

        # the loss plot spans two rows: the three rows together need no more height than the two of
        # 140 px did (the window's minimum size)
        self.loss_plot = _plot_widget("Training loss", "step", "loss", legend=True, min_height=180)
        self.epoch_loss_plot = _plot_widget("Loss per epoch", "epoch", "loss", legend=True)
        self.epoch_score_plot = _plot_widget("Scores per epoch", "epoch", "score", legend=True)
        self.lr_plot = _plot_widget("Learning rate", "step", "")
        self.throughput_plot = _plot_widget("Throughput", "step", "samples/s")

        # Faint as an opaque colour (the loss colour over the background): Qt strokes opaque lines
        # several times faster than translucent ones, and a dense raw curve stays faint where it
        # crosses itself.
        faint = mix(LOSS_COLOUR, 0.3, self.palette().color(QPalette.ColorRole.Base))
        self.loss_raw = _Series(_curve(self.loss_plot, pen(faint, 1), name="raw"))
        self.loss_smooth = _Series(_curve(self.loss_plot, pen(LOSS_COLOUR, 2.2), name="smoothed"))
        self.val_loss = _Series(
            _curve(
                self.loss_plot,
                pen("#e0701b", 1.5, style=Qt.PenStyle.DashLine),
                symbol="o",
                symbolSize=6,
                symbolBrush="#e0701b",
                symbolPen=None,
                name="val/loss",
            )
        )
        self.lr = _Series(_curve(self.lr_plot, pen("#2e9e5b", 1.8)))
        self.throughput = _Series(_curve(self.throughput_plot, pen("#b0419e", 1.5)))
        self.epoch_series: dict[str, _Series] = {}

        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(QLabel("Loss smoothing"))
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, 999)
        self.smoothing_slider.setMaximumWidth(220)
        self.smoothing_slider.setToolTip(
            "Exponential moving average of the loss: 0 shows the raw values, 0.99 a very smooth curve"
        )
        self.smoothing_spin = QDoubleSpinBox()
        self.smoothing_spin.setRange(0.0, 0.999)
        self.smoothing_spin.setDecimals(3)
        self.smoothing_spin.setSingleStep(0.01)
        controls.addWidget(self.smoothing_slider)
        controls.addWidget(self.smoothing_spin)
        controls.addStretch(1)
        self.smoothing_slider.setValue(round(self._smoothing * 1000))
        self.smoothing_spin.setValue(self._smoothing)
        self.smoothing_slider.valueChanged.connect(self._on_smoothing_slider_value_changed)
        self.smoothing_spin.valueChanged.connect(self._on_smoothing_spin_value_changed)

        # The loss per step over two rows; beside it the per-epoch losses above the per-epoch scores
        # (one epoch axis, read down); the learning rate and throughput below.
        grid = QGridLayout()
        grid.setSpacing(6)
        grid.addWidget(self.loss_plot, 0, 0, 2, 1)
        grid.addWidget(self.epoch_loss_plot, 0, 1)
        grid.addWidget(self.epoch_score_plot, 1, 1)
        grid.addWidget(self.lr_plot, 2, 0)
        grid.addWidget(self.throughput_plot, 2, 1)
        for row, stretch in enumerate((3, 3, 2)):
            grid.setRowStretch(row, stretch)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addLayout(grid, 1)

    # --- data -----------------------------------------------------------------------------------

    @property
    def smoothing(self) -> float:
        return self._smoothing

    def set_smoothing(self, weight: float) -> None:
        weight = max(0.0, min(0.999, float(weight)))
        if abs(weight - self._smoothing) < 1e-9:
            return
        self._smoothing = weight
        self.smoothing_slider.blockSignals(True)
        self.smoothing_slider.setValue(round(weight * 1000))
        self.smoothing_slider.blockSignals(False)
        self.smoothing_spin.blockSignals(True)
        self.smoothing_spin.setValue(weight)
        self.smoothing_spin.blockSignals(False)
        self._smooth_loss_again()
        self.smoothing_changed.emit(weight)

    def add_points(self, points: Sequence[tuple[str, int, int, float]]) -> int:
        """Append metric points ``(key, step, epoch, value)``; returns how many were kept (non-finite
        values are left out: a NaN ends the run anyway, and it would break the drawn path).

        Vectorised: the columns are read in C (``map`` + ``itemgetter``) and split by key with numpy, so
        a tick's tens of thousands of points cost a few milliseconds."""
        if not points:
            return 0
        n = len(points)
        keys = list(map(itemgetter(0), points))
        step_arr = np.fromiter(map(itemgetter(1), points), dtype=np.float64, count=n)
        epoch_arr = np.fromiter(map(itemgetter(2), points), dtype=np.float64, count=n)
        value_arr = np.fromiter(map(itemgetter(3), points), dtype=np.float64, count=n)
        distinct = set(keys)
        key_arr = np.array(keys, dtype=object) if len(distinct) > 1 else None
        kept = 0
        for key in sorted(distinct):
            if is_epoch_metric(key):
                x_all = epoch_arr
            elif key in STEP_METRICS:
                x_all = step_arr
            else:
                continue
            if key_arr is None:
                x, y, at = x_all, value_arr, step_arr
            else:
                mask = key_arr == key
                x, y, at = x_all[mask], value_arr[mask], step_arr[mask]
            finite = np.isfinite(y) & np.isfinite(x)  # a point without its epoch has no place here
            if not finite.all():
                x, y, at = x[finite], y[finite], at[finite]
            kept += len(x)
            self._append(key, x, y)
            if key == "val/loss":
                self._append(_VAL_LOSS_STEPS, at, y)
        return kept

    def reserve(self, steps: int) -> None:
        """Make room for a run of ``steps`` steps now (growing a buffer of a million points later
        would copy it in the middle of the run); at most :data:`MAX_RESERVED` (a longer run grows)."""
        steps = min(int(steps), MAX_RESERVED)
        for series in (self.loss_raw, self.loss_smooth):
            series.buffer.reserve(steps)
        for series in (self.lr, self.throughput):  # logged every few steps
            series.buffer.reserve(steps // 8)

    def add_history(self, curves: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """Put a resumed run's earlier points, read from the store as ``{key: (step, epoch, value)}``,
        before those received live (where both have a point, the live one wins: the run logs the
        steps after its checkpoint again). Keys that are not plotted live are left out."""
        for key, (step, epoch, value) in curves.items():
            step = np.asarray(step, dtype=np.float64)
            value = np.asarray(value, dtype=np.float64)
            if not is_live_metric(key):
                continue
            x = np.asarray(epoch, dtype=np.float64) if is_epoch_metric(key) else step
            finite = np.isfinite(value) & np.isfinite(x)
            _prepend(self._series(key), x[finite], value[finite])
            if key == "val/loss":
                _prepend(self.val_loss, step[finite], value[finite])
        self._smooth_loss_again()

    def _smooth_loss_again(self) -> None:
        """Smooth the whole loss again, at the weight the rule gives for its length now."""
        raw = self.loss_raw.buffer
        self._loss_weight = smoothing_weight(LOSS_KEY, len(raw), self._smoothing)
        self.loss_smooth.buffer.clear()
        self.loss_smooth.buffer.extend(raw.x, ema(raw.y, self._loss_weight))
        self.loss_smooth.dirty = True

    def _series(self, key: str) -> _Series:
        """The series that shows ``key`` (a per-epoch one is made when its key first appears)."""
        fixed = {LOSS_KEY: self.loss_raw, _VAL_LOSS_STEPS: self.val_loss, LR_KEY: self.lr}
        fixed[THROUGHPUT_KEY] = self.throughput
        if key in fixed:
            return fixed[key]
        series = self.epoch_series.get(key)
        if series is None:
            plot = self._epoch_plot(key)
            shown = sum(1 for k in self.epoch_series if self._epoch_plot(k) is plot)
            colour = EPOCH_COLOURS[shown % len(EPOCH_COLOURS)]
            curve = _curve(
                plot,
                pen(colour, 2),
                symbol="o",
                symbolSize=6,
                symbolBrush=colour,
                symbolPen=None,
                name=key,
            )
            series = self.epoch_series[key] = _Series(curve)
        return series

    def _epoch_plot(self, key: str) -> _TimedPlotWidget:
        """Where a per-epoch metric is drawn: with the losses (and errors), or with the scores."""
        return self.epoch_loss_plot if lower_is_better(key) else self.epoch_score_plot

    def _append(self, key: str, x: np.ndarray, y: np.ndarray) -> None:
        if len(x) == 0:
            return
        if key == LOSS_KEY:
            raw, smooth = self.loss_raw.buffer, self.loss_smooth.buffer
            if len(raw) and x[0] < raw.x[-1]:  # a resumed run logs steps again: theirs replace ours
                cut = int(np.searchsorted(raw.x, x[0], side="left"))
                raw.truncate(cut)
                smooth.truncate(cut)
            raw.extend(x, y)
            self.loss_raw.dirty = self.loss_smooth.dirty = True
            if smoothing_weight(LOSS_KEY, len(raw), self._smoothing) != self._loss_weight:
                # a short loss is smoothed less (the rule's weight grows with its length, up to the
                # one asked for): again from the start, over a few thousand points at most
                self._smooth_loss_again()
                return
            resume = (float(smooth.y[-1]), len(smooth)) if len(smooth) else None
            smooth.extend(x, ema(y, self._loss_weight, resume=resume))
        else:
            series = self._series(key)
            series.buffer.extend(x, y)
            series.dirty = True

    def _groups(self) -> list[tuple[_TimedPlotWidget, list[_Series], float]]:
        epoch = list(self.epoch_series.items())
        return [
            (self.loss_plot, [self.loss_raw, self.loss_smooth, self.val_loss], MIN_REDRAW_INTERVAL_S),
            (self.epoch_loss_plot, [s for k, s in epoch if lower_is_better(k)], MIN_REDRAW_INTERVAL_S),
            (self.epoch_score_plot, [s for k, s in epoch if not lower_is_better(k)], MIN_REDRAW_INTERVAL_S),
            (self.lr_plot, [self.lr], SECONDARY_INTERVAL_S),
            (self.throughput_plot, [self.throughput], SECONDARY_INTERVAL_S),
        ]

    @property
    def dirty(self) -> bool:
        return any(s.dirty for _, series, _ in self._groups() for s in series)

    def refresh(self, *, force: bool = False) -> bool:
        """Give the curves whose data changed their new data: each plot at most every
        :data:`MIN_REDRAW_INTERVAL_S` seconds (the learning rate and throughput every
        :data:`SECONDARY_INTERVAL_S`), one plot per call, and a plot whose redraw costs more (setting
        its data plus its last paint) proportionally less often (:data:`COST_FACTOR`). ``force`` redraws
        every changed plot now. Returns whether anything was redrawn."""
        now = time.monotonic()
        redrawn = False
        if not force and (now < self._next_any_redraw or self._paint_pending(now)):
            return False
        groups = self._groups()
        # Round robin, one plot a call (all when forced): the paints of several plots never add up
        # into one long stall.
        self._turn = (self._turn + 1) % len(groups)
        for plot, series, interval in groups[self._turn :] + groups[: self._turn]:
            changed = [s for s in series if s.dirty]
            if not changed or (not force and now < self._next_redraw.get(plot, 0.0)):
                continue
            started = time.perf_counter()
            for one in changed:
                one.push()
            empty = not any(len(one.buffer) for one in series)
            if empty != is_empty(plot):
                set_empty(plot, empty)
            fit_range(plot.getPlotItem().getViewBox())
            cost = time.perf_counter() - started + plot.paint_s
            self.last_redraw_s = cost
            self._next_redraw[plot] = now + max(interval, COST_FACTOR * cost)
            self._awaiting = (plot, now)
            redrawn = True
            if not force:
                break
        if redrawn:
            self.redraw_count += 1
            self._next_any_redraw = now + ANY_REDRAW_INTERVAL_S
        return redrawn

    def flush(self) -> None:
        """Redraw every changed plot soon, one per pass of the event loop, as :meth:`refresh` does
        (at the end of a run: all four redrawn at once were one stall of 30-50 ms)."""
        if self.dirty and not self._flush_timer.isActive():
            self._flush_timer.start()

    @property
    def flushing(self) -> bool:
        """Whether changed plots are still waiting for their redraw (see :meth:`flush`)."""
        return self._flush_timer.isActive()

    def _on_flush_timer_timeout(self) -> None:
        self.refresh()
        if not self.dirty:
            self._flush_timer.stop()

    def _paint_pending(self, now: float) -> bool:
        """Whether the last plot given new data has not been painted yet: the window paints every
        changed plot in one frame, so the next plot waits for it (at most :data:`PAINT_WAIT_S`),
        and one frame never holds the repaints of several plots."""
        if self._awaiting is None:
            return False
        plot, since = self._awaiting
        if plot.painted_at >= since or now - since > PAINT_WAIT_S or not plot.isVisible():
            self._awaiting = None
            return False
        return True

    def clear(self) -> None:
        """Forget every point (a new run starts); the curves stay, the per-epoch ones are removed."""
        for series in (self.loss_raw, self.loss_smooth, self.val_loss, self.lr, self.throughput):
            series.buffer.clear()
            series.dirty = True
        for key, series in self.epoch_series.items():
            plot = self._epoch_plot(key)
            plot.removeItem(series.curve)
            plot.getPlotItem().legend.removeItem(key)
        self.epoch_series.clear()
        for plot in (self.epoch_loss_plot, self.epoch_score_plot):
            set_empty(plot, True)
        self.refresh(force=True)

    def curve_lengths(self) -> dict[str, int]:
        """How many points each curve holds, by metric key (it shows them decimated to its width)."""
        lengths = {
            LOSS_KEY: _length(self.loss_raw.curve),
            "train/loss (smoothed)": _length(self.loss_smooth.curve),
            LR_KEY: _length(self.lr.curve),
            THROUGHPUT_KEY: _length(self.throughput.curve),
        }
        lengths.update({key: _length(s.curve) for key, s in self.epoch_series.items()})
        return lengths

    # --- slots ----------------------------------------------------------------------------------

    def _on_smoothing_slider_value_changed(self, value: int) -> None:
        self.set_smoothing(value / 1000.0)

    def _on_smoothing_spin_value_changed(self, value: float) -> None:
        self.set_smoothing(value)


def _prepend(series: _Series, x: np.ndarray, y: np.ndarray) -> None:
    """Put ``x, y`` before the series' points (those from its first x on are left out)."""
    pyramid = series.buffer
    live_x, live_y = pyramid.x.copy(), pyramid.y.copy()
    if len(live_x):
        keep = x < live_x[0]
        x, y = x[keep], y[keep]
    pyramid.clear()
    pyramid.extend(x, y)
    pyramid.extend(live_x, live_y)
    series.dirty = True


def _length(curve: PeakCurve) -> int:
    return len(curve)
