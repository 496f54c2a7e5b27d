"""Curves of millions of points drawn at the cost of a few thousand: the pyqtgraph items that draw
from a :class:`~mmstudio.store.curves.PeakPyramid` (the min/max pyramid, Qt-free, in the core).

pyqtgraph's own peak downsampling and clip-to-view work on the whole array at every ``setData``
(its data bounds, the clip and the min/max reshape are O(n): ~13 ms a curve at 1,000,000 points,
and again at every change of the view range). A pyramid answers "the visible x range in at most N
points" in O(N) however long the curve. :class:`PeakCurve` is a :class:`pyqtgraph.PlotDataItem` that
shows such a window and fetches a new one when the view range or the plot's width changes;
:class:`PeakTraces` draws many curves in one item.

The display is the classic peak decimation (every block drawn as its minimum and maximum at its
first x), so spikes are never lost; a block is at most about a pixel wide, so it looks the same as
drawing every point. A line drawn from at most a point per pixel is antialiased (its stair steps
would show); a denser one is not (:func:`~mmstudio.store.curves.is_sparse`: it costs several times
more, for a band that looks the same).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QPainter, QPainterPath, QPen

from mmstudio.store.curves import PeakPyramid, is_sparse, nice_ceil
from mmstudio.ui.plot_style import device_pixel_ratio

#: Points handed to pyqtgraph per pixel of the plot's width: a block (drawn as its min and max) is
#: between half a pixel and a pixel wide, so a noisy curve draws as a solid band (blocks wider than a
#: pixel show the zigzag between them as hatching).
POINTS_PER_PIXEL = 4


class PeakCurve(pg.PlotDataItem):
    """A :class:`pyqtgraph.PlotDataItem` drawn from a :class:`PeakPyramid`.

    Give it points with :meth:`set_points` or :meth:`append` and call :meth:`refresh` to show them;
    it shows the visible x range (everything while the view auto-ranges x) in at most
    :data:`POINTS_PER_PIXEL` points per pixel, and fetches a new window when the view range or the
    plot's width changes. x must not decrease; data whose x does is shown whole, with pyqtgraph's
    own downsampling. ``stable_bounds`` rounds the bounds it reports for auto-ranging outwards (x up
    to a round number, y to a twentieth of its span), so a growing curve changes the axes, and has
    their ticks redrawn, only now and then."""

    def __init__(self, *args, stable_bounds: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # pyqtgraph re-derives the shown data at every y-range change to clamp huge values
        # (dynamicRangeLimit); a few thousand points per pixel-column window need no such guard
        self.setDynamicRangeLimit(None)
        self.pyramid = PeakPyramid()
        self.stable_bounds = stable_bounds
        self._shown: tuple | None = None  # what the display was made for
        self._whole = False  # non-monotonic data handed to pyqtgraph whole

    def __len__(self) -> int:
        return len(self.pyramid)

    def set_points(self, x: np.ndarray, y: np.ndarray) -> None:
        """Replace the points and show them."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        self.pyramid.clear()
        self._whole = bool(len(x) > 1 and np.any(x[1:] < x[:-1]))
        if self._whole:
            self.setDownsampling(auto=True, method="peak")
            self._shown = None
            self.setData(x, y, skipFiniteCheck=True)
            return
        self.setDownsampling(auto=False)
        self.pyramid.extend(x, y)
        self.refresh(force=True)

    def set_pyramid(self, pyramid: PeakPyramid) -> None:
        """Show a pyramid built elsewhere (say in a worker thread: building is the O(n) part)."""
        self.pyramid = pyramid
        self._whole = False
        self.setDownsampling(auto=False)
        self.refresh(force=True)

    def append(self, x: np.ndarray, y: np.ndarray) -> None:
        """Append points (shown at the next :meth:`refresh`)."""
        if self._whole:
            raise ValueError("append to a curve whose x values go back: use set_points")
        self.pyramid.extend(x, y)

    def reset(self) -> None:
        self.pyramid.clear()
        self._whole = False
        self.refresh(force=True)

    def refresh(self, *, force: bool = False, view_only: bool = False) -> bool:
        """Hand pyqtgraph the points of the current view (when they changed); returns whether it did.
        ``view_only``: only if the view range or the width changed (not because points were added)."""
        if self._whole:
            return False
        view = self.getViewBox()
        width = 2000
        x_range: tuple[float, float] | None = None
        if isinstance(view, pg.ViewBox):
            width = max(100, round(view.width()))
            if not view.autoRangeEnabled()[0]:
                left, right = view.viewRange()[0]
                x_range = (float(left), float(right))
        key = (len(self.pyramid), x_range, width)
        if not force and key == self._shown:
            return False
        if view_only and self._shown is not None and key[1:] == self._shown[1:]:
            return False  # new points wait for their owner's refresh (it throttles the redraws)
        self._shown = key
        x, y = self.pyramid.window(*(x_range or (None, None)), max_points=width * POINTS_PER_PIXEL)
        self.opts["antialias"] = is_sparse(len(x), width)  # handed to the curve item by setData
        self.setData(x, y, skipFiniteCheck=True)
        return True

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):  # pyqtgraph override
        low, high = super().dataBounds(ax, frac, orthoRange)
        if not self.stable_bounds or low is None or high is None:
            return low, high
        if ax == 0:
            return low, nice_ceil(high) if high > 0 else high
        span = high - low
        if not (span > 0 and math.isfinite(span)):
            return low, high
        quantum = 10.0 ** math.floor(math.log10(span)) / 4
        return math.floor(low / quantum) * quantum, math.ceil(high / quantum) * quantum

    def viewRangeChanged(self, vb=None, ranges=None, changed=None) -> None:  # pyqtgraph override
        super().viewRangeChanged(vb, ranges, changed)
        if changed is None or changed[0]:
            self.refresh(view_only=True)

    def viewTransformChanged(self) -> None:  # pyqtgraph override: a resize changes the width
        super().viewTransformChanged()
        self.refresh(view_only=True)


class _Trace:
    """One curve of a :class:`PeakTraces`: its pyramid, its pen and what is drawn of it now."""

    def __init__(self, pyramid: PeakPyramid, x: np.ndarray | None, pen: QPen, fill: QBrush | None) -> None:
        self.pyramid = pyramid
        self.x = x  # the real x of each point when they go back (the pyramid is then over positions)
        self.pen = pen
        self.fill = fill  # drawn as a band between the lows and highs, in the fill's colour
        self.band_pen: QPen | None = None
        if fill is not None:
            self.band_pen = QPen(fill.color())
            self.band_pen.setCosmetic(True)
            self.band_pen.setWidthF(device_pixel_ratio())  # a stroke per pixel column: one pixel wide
        self.visible = True
        self.shown: tuple | None = None
        self.path = QPainterPath()
        self.shown_points = 0
        self.band = False  # the path is a band's vertical strokes (drawn with band_pen), not a line
        self.antialias = False  # a line of at most a point per pixel (is_sparse)
        self.extent: tuple[float, float, float, float] | None = None
        self.extent_log: bool | None = None  # the log mode the extent is of (None: not computed)


class PeakTraces(pg.GraphicsObject):
    """Many curves drawn by one item, each from its :class:`PeakPyramid` with its own pen.

    Twenty curves as twenty :class:`PeakCurve` items cost ~1 ms of Python each per repaint (their
    bounds, padding and paint go through pyqtgraph's machinery item by item); here a repaint is a
    ``drawPath`` per curve, and the windows are rebuilt only when the view range, the width or a
    curve changes. It takes part in auto-ranging (:meth:`dataBounds`) and in log mode
    (:meth:`setLogMode`), like a ``PlotDataItem``. Curves whose x goes back are decimated over their
    positions and drawn whole."""

    def __init__(self, points_per_pixel: int = POINTS_PER_PIXEL) -> None:
        super().__init__()
        # 2 suits smooth curves (a block of a pixel or two has no visible zigzag); 4 noisy ones
        self.points_per_pixel = points_per_pixel
        self._traces: dict[object, _Trace] = {}
        self._log_y = False
        self._rect = QRectF()
        self._bounds: tuple[float, float, float, float] | None = None  # of the visible curves

    def __len__(self) -> int:
        return len(self._traces)

    def curve_keys(self) -> list[object]:
        return list(self._traces)

    def point_count(self, key: object) -> int:
        trace = self._traces.get(key)
        return 0 if trace is None else len(trace.pyramid)

    def shown_count(self, key: object) -> int:
        """How many points of curve ``key`` are drawn now."""
        trace = self._traces.get(key)
        return 0 if trace is None else trace.shown_points

    def set_pyramid(self, key: object, pyramid: PeakPyramid, pen: QPen, fill: QBrush | None = None) -> None:
        """Show (or replace) curve ``key``; call :meth:`refresh` when every change is made. With
        ``fill``, the curve is drawn in the fill's colour as the band between its lows and highs
        (each pixel covered once: a noisy curve stays faint, and it draws faster than the zigzag
        between them)."""
        previous = self._traces.get(key)
        self._traces[key] = trace = _Trace(pyramid, None, pen, fill)
        trace.visible = previous.visible if previous is not None else True

    def set_points(
        self, key: object, x: np.ndarray, y: np.ndarray, pen: QPen, fill: QBrush | None = None
    ) -> None:
        x = np.asarray(x, dtype=np.float64)
        if len(x) > 1 and np.any(x[1:] < x[:-1]):
            self.set_pyramid(key, PeakPyramid.of(np.arange(len(x), dtype=np.float64), y), pen, fill)
            self._traces[key].x = x
        else:
            self.set_pyramid(key, PeakPyramid.of(x, y), pen, fill)

    def remove(self, key: object) -> None:
        if self._traces.pop(key, None) is not None:
            self._update_rect()

    def clear(self) -> None:
        self._traces.clear()
        self._update_rect()

    def set_visible(self, key: object, visible: bool) -> None:
        trace = self._traces.get(key)
        if trace is not None and trace.visible != visible:
            trace.visible = visible
            self._update_rect()

    def setLogMode(self, x: bool, y: bool) -> None:  # called by PlotItem
        if y != self._log_y:
            self._log_y = bool(y)
            self.refresh(force=True)

    def fit_bounds(self) -> None:
        """Report the bounds of every curve given (for auto-ranging) before any is drawn: fit the
        view's range with them first, and the windows are then built once, for that range."""
        self._update_rect()

    def refresh(self, *, force: bool = False) -> None:
        """Rebuild the drawn window of every curve whose data or view changed."""
        view = self.getViewBox()
        width, x_range, columns = 2000, None, None
        if isinstance(view, pg.ViewBox):
            width = max(100, round(view.width()))
            left, right = (float(v) for v in view.viewRange()[0])
            columns = (left, right)
            if not view.autoRangeEnabled()[0]:
                x_range = columns
        changed = False
        for trace in self._traces.values():
            own_x = trace.x is not None
            key = (
                id(trace.pyramid),
                len(trace.pyramid),
                None if own_x else x_range,
                width,
                columns if trace.fill is not None and not own_x else None,  # a band's pixel columns
            )
            if not force and key == trace.shown:
                continue
            trace.shown = key
            self._rebuild(trace, x_range, width, None if own_x else columns)
            changed = True
        if changed or force:
            self._update_rect()

    def _rebuild(
        self,
        trace: _Trace,
        x_range: tuple[float, float] | None,
        width: int,
        columns: tuple[float, float] | None,
    ) -> None:
        span = (None, None) if trace.x is not None or x_range is None else x_range
        if trace.fill is not None:
            # one to two blocks per pixel, so that every pixel column has a block (binned below)
            x, lo, hi = trace.pyramid.envelope(*span, max_points=width * 4)
        else:
            x, lo = trace.pyramid.window(*span, max_points=width * self.points_per_pixel)
            hi = lo
        if trace.x is not None:  # positions: always the whole curve, mapped back to its x
            x = trace.x[x.astype(np.int64)]
        if self._log_y:
            with np.errstate(divide="ignore", invalid="ignore"):
                lo = np.log10(np.where(lo > 0, lo, np.nan))
                hi = lo if trace.fill is None else np.log10(np.where(hi > 0, hi, np.nan))
        finite = np.isfinite(lo) & np.isfinite(hi)
        trace.shown_points = len(x)
        trace.antialias = False
        if len(x) == 0 or not finite.any():
            trace.path = QPainterPath()
        elif trace.fill is not None and not np.array_equal(lo, hi):
            # A vertical stroke per pixel column from its low to its high, reaching the column
            # before it so that no gap opens where the curve is steep: it covers what the filled
            # polygon between the highs and the lows would, and Qt strokes it 4-5x faster (a
            # polygon of thousands of edges is the raster engine's slow case). Where the window
            # holds the raw points themselves it is a line.
            x, lo, hi = x[finite], lo[finite], hi[finite]
            if columns is not None and columns[1] > columns[0]:
                # One stroke per pixel column, over the blocks that fall in it: a column holding
                # two blocks next to one holding one would draw a band with teeth.
                scale = width / (columns[1] - columns[0])
                column = np.floor((x - columns[0]) * scale)
                starts = np.flatnonzero(np.r_[True, column[1:] != column[:-1]])
                lo, hi = np.minimum.reduceat(lo, starts), np.maximum.reduceat(hi, starts)
                x = columns[0] + (column[starts] + 0.5) / scale
            bottom, top = lo.copy(), hi.copy()
            np.minimum(bottom[1:], hi[:-1], out=bottom[1:])
            np.maximum(top[1:], lo[:-1], out=top[1:])
            ends = np.empty(2 * len(x))
            ends[0::2], ends[1::2] = bottom, top
            trace.path = pg.arrayToQPath(np.repeat(x, 2), ends, connect="pairs", finiteCheck=False)
            trace.band = True
        else:
            trace.path = pg.arrayToQPath(x, lo, connect="finite")
            trace.band = False  # a line: never filled (a filled zigzag is a slow self-crossing polygon)
            trace.antialias = is_sparse(len(x), width)

    def _extent(self, trace: _Trace) -> tuple[float, float, float, float] | None:
        """The bounds of the whole curve (what auto-ranging fits, as pyqtgraph's own items do),
        whatever part of it is drawn."""
        if not self._log_y:
            extent = trace.pyramid.extent()
            if extent is not None and trace.x is not None:
                extent = (float(np.nanmin(trace.x)), float(np.nanmax(trace.x)), extent[2], extent[3])
            return extent
        y = trace.pyramid.y
        positive = y > 0
        if not positive.any():
            return None
        x = trace.pyramid.x if trace.x is None else trace.x
        logged = np.log10(y[positive])
        return float(np.nanmin(x)), float(np.nanmax(x)), float(logged.min()), float(logged.max())

    def _update_rect(self) -> None:
        for trace in self._traces.values():
            if trace.extent_log != self._log_y:  # the whole curve's bounds: once per curve and mode
                trace.extent, trace.extent_log = self._extent(trace), self._log_y
        bounds = [t.extent for t in self._traces.values() if t.visible and t.extent is not None]
        rect, self._bounds = QRectF(), None
        if bounds:
            x0, x1 = min(b[0] for b in bounds), max(b[1] for b in bounds)
            y0, y1 = min(b[2] for b in bounds), max(b[3] for b in bounds)
            self._bounds = (x0, x1, y0, y1)
            # a margin for the pens' width (and a flat curve's rectangle must not be empty)
            pad_x = (x1 - x0) * 0.01 + abs(x1) * 1e-9 + 1e-12
            pad_y = (y1 - y0) * 0.05 + abs(y1) * 1e-6 + 1e-12
            rect = QRectF(x0 - pad_x, y0 - pad_y, x1 - x0 + 2 * pad_x, y1 - y0 + 2 * pad_y)
        self.prepareGeometryChange()
        self._rect = rect
        self.informViewBoundsChanged()
        self.update()

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):  # pyqtgraph auto-range
        if self._bounds is None:
            return None, None
        x0, x1, y0, y1 = self._bounds
        return (x0, x1) if ax == 0 else (y0, y1)

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, p: QPainter, *args) -> None:
        p.setBrush(Qt.BrushStyle.NoBrush)  # lines and strokes only: a filled zigzag is very slow
        # Qt's raster engine strokes translucent lines ~10x faster with a clip rectangle set (see
        # plot_style.ClippedAxisItem)
        visible = self.viewRect()
        p.setClipRect(visible if visible is not None else self.boundingRect())
        for trace in self._traces.values():
            if trace.visible and not trace.path.isEmpty():
                p.setRenderHint(QPainter.RenderHint.Antialiasing, trace.antialias)
                p.setPen(trace.band_pen if trace.band else trace.pen)
                p.drawPath(trace.path)

    def viewRangeChanged(self) -> None:  # GraphicsItem: the view's range changed
        self.refresh()

    def viewTransformChanged(self) -> None:  # GraphicsItem: a resize changes the width
        super().viewTransformChanged()  # forgets the cached view rectangle (paint clips to it)
        self.refresh()
