"""The charts of the compare view: overlaid curves, grouped bars and a parameter-vs-metric scatter, each
with a run's colour taken from one fixed palette by run order (:data:`mmstudio.store.report.RUN_COLOURS`,
which the HTML report uses too). The confusion matrices are :mod:`.confusion`.

Every chart is a :class:`ChartWidget` (a title, a pyqtgraph plot in the application palette's colours,
its legend beside the data: :mod:`mmstudio.ui.plot_style`) that exports itself as PNG or SVG with
pyqtgraph's exporters. Curves are created once per run and given new data; they draw with peak
downsampling and clip-to-view, so 20 runs of 100,000 points stay interactive. Which curves are
smoothed, and how much, is the core's rule (:func:`mmstudio.store.compare.smoothing_weight`): a
per-epoch metric is drawn as its points, bold, never as a smoothed line that lags them. A running
run's curve grows in place (:meth:`CurvesChart.grow`): its pyramids and its smoothing are extended by
the new points, that run alone is drawn again, and a range the user zoomed to or a run they hid stays.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QIODevice,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QImage, QPen, QPixmap
from PySide6.QtWidgets import QVBoxLayout, QWidget

from mmstudio.formatting import shorten
from mmstudio.store import report
from mmstudio.store.compare import best_index, ema, smoothing_weight
from mmstudio.store.curves import PeakPyramid, StepPyramids, value_range
from mmstudio.store.live import joined
from mmstudio.store.types import Curve, CurveUpdate
from mmstudio.ui.peak_curve import PeakTraces
from mmstudio.ui.plot_style import add_legend, fit_range, mix, palette_plot, pen, plot_colours, set_empty

CONDITION_COLOURS = ("#4c78a8", "#f58518", "#54a24b")
X_MODES = ("step", "epoch", "wall time")


def run_colour(index: int) -> QColor:
    """The run's colour in every chart (:data:`mmstudio.store.report.RUN_COLOURS`, by run order)."""
    return QColor(report.run_colour(index))


def faint(colour: QColor, alpha: int = 60) -> QColor:
    c = QColor(colour)
    c.setAlpha(alpha)
    return c


def tint(colour: QColor, share: float, background: QColor | None = None) -> QColor:
    """``colour`` mixed into ``background`` (the palette's, white or dark), opaque: how a translucent
    colour looks on it. Qt strokes opaque lines faster than translucent ones, and twenty overlapping
    faint bands stay readable (each covers what is under it rather than darkening it)."""
    return mix(colour, share, background if background is not None else plot_colours().background)


def png_bytes(image: QImage | QPixmap) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


class ChartWidget(QWidget):
    """A titled pyqtgraph plot in the palette's colours, its legend to the right of the data, that
    exports as PNG or SVG."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.colours = plot_colours()
        self.plot_widget = palette_plot("", "", "", min_height=220)
        self.plot = self.plot_widget.getPlotItem()
        self.legend = add_legend(self.plot, place="right")
        layout.addWidget(self.plot_widget)
        self.set_title(title)

    def set_title(self, title: str) -> None:
        self.title = title
        self.plot.setTitle(title, color=self.colours.text.name(), size="11pt")

    def set_label(self, axis: str, text: str) -> None:
        """Name an axis (``"left"``, ``"bottom"``), in the palette's text colour."""
        self.plot.setLabel(axis, text, color=self.colours.text.name())

    def export(self, path: str | Path) -> Path:
        """Write the chart to ``path``: SVG when it ends in ``.svg``, else PNG."""
        from pyqtgraph.exporters import ImageExporter

        path = Path(path)
        if path.suffix.lower() == ".svg":
            self._export_svg(path)
        else:
            exporter = ImageExporter(self.plot)
            exporter.parameters()["width"] = max(800, self.plot_widget.width())
            exporter.export(str(path))
        return path

    def _export_svg(self, path: Path) -> None:
        # Qt's own SVG generator: pyqtgraph's SVGExporter fails on the path syntax of recent Qt
        # ("not enough values to unpack" in SVGExporter.correctCoordinates).
        from PySide6.QtCore import QRectF
        from PySide6.QtGui import QPainter
        from PySide6.QtSvg import QSvgGenerator

        source = self.plot.sceneBoundingRect()
        generator = QSvgGenerator()
        generator.setFileName(str(path))
        generator.setSize(source.size().toSize())
        generator.setViewBox(QRectF(0, 0, source.width(), source.height()))
        generator.setTitle(self.title or "mmstudio chart")
        painter = QPainter(generator)
        try:
            self.plot.scene().render(painter, QRectF(0, 0, source.width(), source.height()), source)
        finally:
            painter.end()
        if not path.is_file():
            raise OSError(f"could not write {path}")

    def to_png(self) -> bytes:
        """The chart as PNG bytes (for the HTML report)."""
        from pyqtgraph.exporters import ImageExporter

        exporter = ImageExporter(self.plot)
        exporter.parameters()["width"] = max(800, self.plot_widget.width())
        image = exporter.export(toBytes=True)
        return png_bytes(image)


# --- curves ----------------------------------------------------------------------------------------


@dataclass
class _RunStyle:
    """How one run is drawn, and its legend entry (an item that is never added to the plot: the
    legend reads its pen, and a click on the entry hides or shows the run)."""

    raw_pen: QPen
    raw_fill: QBrush
    smooth_pen: QPen
    brush: QBrush  # of its marks
    legend_entry: pg.PlotDataItem


WIDE_PEN_RUNS = 4
POINTS_PER_TICK = 200_000  # curve points drawn in one go; more are drawn a few runs per tick
DRAW_BUDGET_S = 0.010  # the time a tick spends handing curves to their items
MARKS = (("best", "star", 16), ("last", "o", 10), ("min", "t", 11))


#: A curve drawn as it is (not smoothed) with at most this many points shows each point.
SHOWN_POINTS = 200


class CurvesChart(ChartWidget):
    """Overlaid curves of one metric, one colour per run: the raw curve faint and the smoothed one bold
    where the curve is smoothed (:func:`~mmstudio.store.compare.smoothing_weight`), else the raw curve
    bold with its points; the best, last and minimum values marked (star, circle, triangle). A click
    on a run's legend entry (its swatch or its name) hides or shows all of it."""

    drawn = Signal()  # every run's curve was handed to its items

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("", parent)
        # Every run's raw curve in one item and every smoothed curve in another: 20 runs as 40
        # pyqtgraph items would cost ~40 ms of Python at each repaint.
        self.raw_traces = PeakTraces(points_per_pixel=2)  # bands: a stroke per block, no zigzag to hide
        self.smooth_traces = PeakTraces()
        self.smooth_traces.setZValue(1)
        self.plot.addItem(self.raw_traces)
        self.plot.addItem(self.smooth_traces)
        self._styles: dict[int, _RunStyle] = {}
        self._curves: dict[int, Curve] = {}
        self._smoothed: dict[int, np.ndarray] = {}
        # min/max pyramids over steps, built off the GUI thread when the curves were read
        self._raw_pyramids: dict[int, PeakPyramid] = {}
        self._smooth_pyramids: dict[int, PeakPyramid] = {}
        self._labels: dict[int, str] = {}
        self._order: list[int] = []
        self.key = ""
        self.x_mode = "step"
        self.smoothing = 0.6
        self.log_y = False
        self.x_fallback = False  # the asked x axis was missing and steps are shown instead
        self._queue: list[int] = []
        self._chunking = False  # a chunked draw's ticks are scheduled (see redraw)
        self._finish_step = 0  # the next of _finish_chunks's steps
        # The best / last / min marks of every run in one item: an item costs ~0.5 ms a paint however
        # few its points, and 20 runs would have 20.
        self.marks = pg.ScatterPlotItem(pen=pg.mkPen(self.colours.text, width=1))
        self.marks.setZValue(10)
        self.plot.addItem(self.marks)
        self._spots: dict[int, list[dict[str, Any]]] = {}
        # the points of the curves drawn as they are (short ones), every run's in one item too
        self.points = pg.ScatterPlotItem(pen=None, size=7)
        self.points.setZValue(2)
        self.plot.addItem(self.points)
        self._points: dict[int, tuple[np.ndarray, np.ndarray, QBrush]] = {}

    def set_runs(self, run_ids: Sequence[int], labels: Sequence[str]) -> None:
        """The runs, in palette order; each run's items are made when its curve is first drawn."""
        self._queue.clear()
        self._chunking = False  # a draw in progress is abandoned (its next tick does nothing)
        self.plot_widget.setUpdatesEnabled(True)
        self.raw_traces.clear()
        self.smooth_traces.clear()
        self.legend.clear()
        self._spots.clear()
        self.marks.setData([])
        self._points.clear()
        self.points.setData([])
        self._styles.clear()
        self._curves.clear()
        self._smoothed.clear()
        self._raw_pyramids.clear()
        self._smooth_pyramids.clear()
        self._order = list(run_ids)
        self._labels = dict(zip(run_ids, labels, strict=True))

    def _style(self, run_id: int) -> _RunStyle:
        style = self._styles.get(run_id)
        if style is not None:
            return style
        # A wide pen costs several times a cosmetic one in the raster engine: bold lines only for a
        # few runs.
        width = 2 if len(self._order) <= WIDE_PEN_RUNS else 1
        colour = run_colour(self._order.index(run_id))
        smooth_pen = pen(colour, width)
        entry = pg.PlotDataItem(pen=smooth_pen, name=self._labels[run_id])
        entry.visibleChanged.connect(lambda: self._on_legend_entry_toggled(run_id))
        self.legend.addItem(entry, self._labels[run_id])
        background = self.colours.background
        raw_pen, raw_fill = pen(tint(colour, 0.3, background)), pg.mkBrush(tint(colour, 0.22, background))
        style = self._styles[run_id] = _RunStyle(raw_pen, raw_fill, smooth_pen, pg.mkBrush(colour), entry)
        return style

    def is_shown(self, run_id: int) -> bool:
        """Whether ``run_id`` is shown (not hidden from the legend)."""
        style = self._styles.get(run_id)
        return style is None or style.legend_entry.isVisible()

    def _on_legend_entry_toggled(self, run_id: int) -> None:
        style = self._styles.get(run_id)
        if style is not None:
            visible = style.legend_entry.isVisible()
            self.raw_traces.set_visible(run_id, visible)
            self.smooth_traces.set_visible(run_id, visible)
            self._show_marks()  # its best, last and minimum, and its points, go with it

    def point_count(self, run_id: int) -> int:
        """How many points of ``run_id``'s curve the chart holds (it draws them decimated): its bold
        line's, the smoothed values or the values themselves."""
        return self.smooth_traces.point_count(run_id)

    def set_curves(
        self,
        key: str,
        curves: dict[int, Curve],
        smoothed: dict[int, np.ndarray] | None = None,
        pyramids: StepPyramids | None = None,
    ) -> None:
        """Draw ``curves``; ``smoothed`` holds their EMA at :attr:`smoothing` and ``pyramids`` their
        :func:`step_pyramids` when those were computed off the GUI thread (else it is done here)."""
        self.key = key
        self._curves = dict(curves)
        self._smoothed = dict(smoothed or {})
        self._raw_pyramids = dict(pyramids.raw) if pyramids else {}
        self._smooth_pyramids = dict(pyramids.smoothed) if pyramids else {}
        self.redraw()

    def curve(self, run_id: int) -> Curve | None:
        """The curve of ``run_id`` the chart holds (None: not one of its runs)."""
        return self._curves.get(run_id)

    def prepared(self) -> tuple[dict[int, np.ndarray], StepPyramids]:
        """The smoothed values and the pyramids the chart holds (a cache keeps them for a redraw)."""
        return dict(self._smoothed), StepPyramids(dict(self._raw_pyramids), dict(self._smooth_pyramids))

    def grow(self, run_id: int, update: CurveUpdate) -> None:
        """Add what run ``run_id`` logged since its curve was read (``update``: its new points, or its
        whole curve again) and draw that run again, alone. On the step axis its pyramids and its
        smoothing are extended by the new points (O(new points)), unless the smoothing weight the
        curve's length calls for changed (a short curve: smoothed again whole); the view's range
        follows the data only where it auto-ranges (a range the user zoomed to stays), and a run
        hidden from the legend stays hidden."""
        old = self._curves.get(run_id)
        if old is None or self._chunking or self._queue:
            return  # not one of its runs, or a draw in progress (it reads the curves as they are)
        new = update.curve
        curve = joined(old, update)
        self._curves[run_id] = curve
        raw, smooth = self._raw_pyramids.get(run_id), self._smooth_pyramids.get(run_id)
        before = smoothing_weight(self.key, len(old), self.smoothing)
        after = smoothing_weight(self.key, len(curve), self.smoothing)
        smoothed = self._smoothed.get(run_id)
        if update.replace or raw is None or len(raw) != len(old):
            self._forget_prepared(run_id)  # drawn from the points (O(n)), as a curve never prepared
        elif after != before or (after > 0 and (smoothed is None or len(smoothed) != len(old))):
            raw.extend(new.step, new.value)
            self._smoothed.pop(run_id, None)
            self._smooth_pyramids.pop(run_id, None)  # smoothed again whole, at the new weight
        else:
            raw.extend(new.step, new.value)
            grown = new.value  # the bold line's new values: smoothed, or the values themselves
            if after > 0 and smoothed is not None:
                finite = ~np.isnan(old.value)
                count = int(finite.sum())
                last = float(smoothed[finite][-1]) if count else 0.0
                grown = ema(new.value, after, resume=(last, count))
                self._smoothed[run_id] = np.concatenate([smoothed, grown])
            if smooth is not None and smooth is not raw:  # (one pyramid when not smoothed)
                if len(smooth) == len(old):
                    smooth.extend(new.step, grown)
                else:
                    self._smooth_pyramids.pop(run_id, None)
        self._draw_run(run_id)
        self._show_marks()
        set_empty(self.plot_widget, not any(len(c) for c in self._curves.values()), "No curves to show")
        fit_range(self.plot.getViewBox())  # only the axes that auto-range follow the data

    def _forget_prepared(self, run_id: int) -> None:
        self._raw_pyramids.pop(run_id, None)
        self._smooth_pyramids.pop(run_id, None)
        self._smoothed.pop(run_id, None)

    def set_smoothed(
        self, weight: float, smoothed: dict[int, np.ndarray], pyramids: dict[int, PeakPyramid] | None = None
    ) -> None:
        self.smoothing = weight
        self._smoothed = dict(smoothed)
        self._smooth_pyramids = dict(pyramids or {})
        self.redraw()

    def set_options(self, *, x_mode: str | None = None, log_y: bool | None = None) -> None:
        if x_mode is not None:
            self.x_mode = x_mode
        if log_y is not None:
            self.log_y = log_y
        self.redraw()

    def drawn_count(self) -> int:
        """How many runs have a non-empty curve drawn."""
        return sum(1 for run_id in self.smooth_traces.curve_keys() if self.smooth_traces.shown_count(run_id))

    def _x(self, curve: Curve) -> np.ndarray:
        if self.x_mode == "epoch" and curve.epoch.size and not np.all(np.isnan(curve.epoch)):
            return curve.epoch
        if self.x_mode == "wall time" and curve.time.size:
            return curve.time - curve.time[0]
        if self.x_mode != "step":
            self.x_fallback = True
        return curve.step.astype(np.float64)

    def is_drawing(self) -> bool:
        """Whether curves are still being handed to their items (a big set goes a few per tick)."""
        return self._chunking or bool(self._queue)

    def redraw(self) -> None:
        """Give every run's curve to its items: at once when small, else a few runs per event-loop
        tick, each tick at most :data:`DRAW_BUDGET_S` (20 x 100,000 points in one go would freeze the
        window); :attr:`drawn` is emitted when all are given."""
        self.x_fallback = False
        self.plot.setLogMode(y=self.log_y)
        unit = {"step": "step", "epoch": "epoch", "wall time": "seconds since start"}[self.x_mode]
        self.set_label("left", self.key)
        self.set_title(self.key)
        self._queue = list(self._order)
        self.set_label("bottom", unit)
        set_empty(self.plot_widget, not any(len(c) for c in self._curves.values()), "No curves to show")
        # smoothed curves are drawn with fewer points (unless they are the raw values)
        self.smooth_traces.points_per_pixel = 2 if self.smoothing > 0 else 4
        if sum(len(c) for c in self._curves.values()) <= POINTS_PER_TICK:
            while self._queue:
                self._draw_run(self._queue.pop(0))
            self._finish()
        else:
            # painted once when every run is given, not after each tick: a repaint draws all the
            # curves given so far, so painting as they come would cost the paint of 20 curves 20 times
            self.plot_widget.setUpdatesEnabled(False)
            self._finish_step = 0
            if not self._chunking:  # else the ticks already scheduled draw the new queue
                self._chunking = True
                self._draw_next()

    def _draw_next(self) -> None:
        if not self._chunking:
            return
        deadline = time.perf_counter() + DRAW_BUDGET_S
        while self._queue and time.perf_counter() < deadline:
            self._draw_run(self._queue.pop(0))
        # The next step in a tick of its own, not 0 ms: the event loop (input, other timers) gets a
        # turn between chunks, and the windows and range (_finish) are not made in the tick before
        # the first paint of everything, which is long enough alone.
        QTimer.singleShot(1, self._draw_next if self._queue else self._finish_chunks)

    def _finish_chunks(self) -> None:
        """The steps after the last run is given, each in a tick of its own: the event loop gets a
        turn between the marks (~15 ms for 20 runs), the range and windows, and the first paint of
        everything, which is the longest alone."""
        if not self._chunking:
            return
        if self._queue:  # redrawn meanwhile: draw the new queue first
            self._finish_step = 0
            self._draw_next()
            return
        steps = (self._show_marks, self._fit, self._reveal)
        step = steps[self._finish_step]
        self._finish_step += 1
        if self._finish_step == len(steps):
            self._chunking = False
        step()
        if self._chunking:
            QTimer.singleShot(1, self._finish_chunks)

    def _finish(self) -> None:
        self._show_marks()
        self._fit()
        self._reveal()

    def _show_marks(self) -> None:
        """The best / last / minimum marks and the points of the runs shown (hidden runs' are not)."""
        shown = [run_id for run_id in self._order if self.is_shown(run_id)]
        self.marks.setData([spot for run_id in shown for spot in self._spots.get(run_id, ())])
        points = [self._points[run_id] for run_id in shown if run_id in self._points]
        if points:
            self.points.setData(
                x=np.concatenate([x for x, _, _ in points]),
                y=np.concatenate([y for _, y, _ in points]),
                brush=[brush for x, _, brush in points for _ in range(len(x))],
            )
        else:
            self.points.setData([])

    def _fit(self) -> None:
        """The range and the drawn windows of every run given."""
        self.raw_traces.fit_bounds()
        self.smooth_traces.fit_bounds()
        # The windows are built once, for the fitted range (by its change, else here)
        fit_range(self.plot.getViewBox())
        self.raw_traces.refresh()
        self.smooth_traces.refresh()

    def _reveal(self) -> None:
        self.plot_widget.setUpdatesEnabled(True)
        if self.x_fallback:
            self.set_label("bottom", "step")
        self.drawn.emit()

    def _draw_run(self, run_id: int) -> None:
        curve = self._curves.get(run_id)
        if curve is None or len(curve) == 0:
            self.raw_traces.remove(run_id)
            self.smooth_traces.remove(run_id)
            self._spots.pop(run_id, None)
            self._points.pop(run_id, None)
            return
        style = self._style(run_id)
        x = self._x(curve)
        y = curve.value
        smooth = y
        weight = smoothing_weight(self.key, len(y), self.smoothing)
        if weight > 0:
            smooth = self._smoothed.get(run_id)
            if smooth is None or len(smooth) != len(y) or smooth is curve.value:
                smooth = self._smoothed[run_id] = ema(y, weight)
        if self.log_y:
            y = np.where(y > 0, y, np.nan)
            smooth = np.where(smooth > 0, smooth, np.nan)
        on_steps = self.x_mode == "step" and not self.log_y  # what the prepared pyramids are built on
        layers = [(self.smooth_traces, smooth, self._smooth_pyramids.get(run_id), style.smooth_pen, None)]
        if weight > 0:  # the raw values as a faint band under the smoothed line
            layers.append((self.raw_traces, y, self._raw_pyramids.get(run_id), style.raw_pen, style.raw_fill))
        else:  # drawn as they are: the bold line is the values themselves
            self.raw_traces.remove(run_id)
        for traces, values, prepared, line, fill in layers:
            if on_steps and prepared is not None and len(prepared) == len(values):
                traces.set_pyramid(run_id, prepared, line, fill)
            else:
                traces.set_points(run_id, x, values, line, fill)
            traces.set_visible(run_id, self.is_shown(run_id))
        if weight == 0 and len(y) <= SHOWN_POINTS:
            finite = np.isfinite(y)
            shown_y = np.log10(y[finite]) if self.log_y else y[finite]
            self._points[run_id] = (x[finite], shown_y, style.brush)
        else:
            self._points.pop(run_id, None)
        # the windows of this run's curves now, within the tick's budget, not all at the end
        self.raw_traces.refresh()
        self.smooth_traces.refresh()
        self._spots[run_id] = self._marks(x, y, style.brush)

    def _marks(self, x: np.ndarray, y: np.ndarray, brush: QBrush) -> list[dict[str, Any]]:
        finite = np.isfinite(y)
        if not finite.any():
            return []
        spots = []
        at = {"best": best_index(y, self.key), "last": int(np.flatnonzero(finite)[-1])}
        at["min"] = int(np.nanargmin(y))
        for name, symbol, size in MARKS:
            i = at[name]
            if i is None or (name == "min" and i == at["best"]):
                continue
            value = float(y[i])
            spots.append(
                {"pos": (float(x[i]), math.log10(value) if self.log_y else value), "symbol": symbol,
                 "size": size, "data": name, "brush": brush}
            )  # fmt: skip
        return spots


# --- bars and scatter ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BarSeries:
    name: str
    values: Sequence[float | None]
    colour: QColor


class GroupedBarChart(ChartWidget):
    """Bars grouped by category (x axis), one bar per series in each group; the legend beside them, and
    a score's axis ending at 1 (:func:`~mmstudio.store.curves.value_range`)."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.plot.showGrid(x=False, y=True, alpha=0.15)
        self.plot.setMouseEnabled(x=False, y=False)
        self._bars: list[pg.BarGraphItem] = []
        self.groups: list[str] = []
        self.series: list[BarSeries] = []

    def set_data(self, groups: Sequence[str], series: Sequence[BarSeries], *, y_label: str = "") -> None:
        for bar in self._bars:
            self.plot.removeItem(bar)
        self._bars.clear()
        self.legend.clear()
        self.groups, self.series = list(groups), list(series)
        n = max(1, len(series))
        width = 0.8 / n
        for k, s in enumerate(series):
            xs = [g - 0.4 + width * (k + 0.5) for g in range(len(groups))]
            pairs = [(x, v) for x, v in zip(xs, s.values, strict=True) if v is not None and math.isfinite(v)]
            bar = pg.BarGraphItem(
                x=[p[0] for p in pairs],
                height=[p[1] for p in pairs],
                width=width * 0.92,
                brush=pg.mkBrush(s.colour),
                pen=pen(s.colour.darker(130)),
            )
            self.plot.addItem(bar)
            self.legend.addItem(bar, s.name)
            self._bars.append(bar)
        axis = self.plot.getAxis("bottom")
        axis.setTicks([[(g, shorten(name, 18)) for g, name in enumerate(groups)]])
        self.set_label("left", y_label)
        self.plot.setXRange(-0.6, max(0.6, len(groups) - 0.4), padding=0)
        # the legend is beside the plot: no head room to leave above the bars
        self.plot.setYRange(*value_range((v for s in series for v in s.values), y_label), padding=0)


class ScatterChart(ChartWidget):
    """One point per run (its colour), x a parameter (numbers, or categories as ticks), y a metric."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.scatter = pg.ScatterPlotItem(size=14, pen=pg.mkPen(self.colours.text))
        self.plot.addItem(self.scatter)
        self._texts: list[pg.TextItem] = []
        self.legend.hide()

    def set_points(
        self, x_values: Sequence[Any], y_values: Sequence[float | None], labels: Sequence[str], *,
        x_label: str, y_label: str,
    ) -> None:  # fmt: skip
        for t in self._texts:
            self.plot.removeItem(t)
        self._texts.clear()
        numeric = all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in x_values if v is not None
        )
        axis = self.plot.getAxis("bottom")
        log_x = False
        if numeric:
            xs = [None if v is None else float(v) for v in x_values]
            axis.setTicks(None)
            present = [x for x in xs if x is not None]
            log_x = bool(present) and min(present) > 0 and max(present) / min(present) >= 10
            if log_x:  # a learning rate, a weight decay: read them on a log axis
                xs = [None if x is None else math.log10(x) for x in xs]
        else:
            categories = list(dict.fromkeys(repr(v) if not isinstance(v, str) else v for v in x_values))
            xs = [float(categories.index(repr(v) if not isinstance(v, str) else v)) for v in x_values]
            axis.setTicks([[(i, shorten(c, 16)) for i, c in enumerate(categories)]])
        axis.setLogMode(log_x)
        spots = []
        names: dict[tuple[float, float], list[str]] = {}  # runs at one point share one label
        for index, (x, y, label) in enumerate(zip(xs, y_values, labels, strict=True)):
            if x is None or y is None or not math.isfinite(y):
                continue
            spots.append({"pos": (x, y), "brush": pg.mkBrush(run_colour(index))})
            names.setdefault((x, y), []).append(label.split(" ", 1)[0])
        for (x, y), ids in names.items():
            text = pg.TextItem(" ".join(ids), color=self.colours.text, anchor=(0, 1))
            text.setPos(x, y)
            self.plot.addItem(text)
            self._texts.append(text)
        self.scatter.setData(spots)
        self.set_label("bottom", x_label)
        self.set_label("left", y_label)
        self.set_title(f"{y_label} against {x_label}")
        self.plot.enableAutoRange()
        ys = [spot["pos"][1] for spot in spots]  # of the points drawn (a run without x is not)
        if ys and max(ys) - min(ys) < 1e-9:  # one value: a sensible range around it, not 1e-15
            self.plot.setYRange(min(ys) - 0.05 * (abs(min(ys)) or 1), max(ys) + 0.05 * (abs(max(ys)) or 1))
