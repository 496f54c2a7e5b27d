"""Curves of millions of points drawn at the cost of a few thousand: a min/max pyramid and the
pyqtgraph item that draws from it.

pyqtgraph's own peak downsampling and clip-to-view work on the whole array at every ``setData``
(its data bounds, the clip and the min/max reshape are O(n): ~13 ms a curve at 1,000,000 points,
and again at every change of the view range). :class:`PeakPyramid` keeps, next to the raw points,
the minimum and maximum of every block of 2, 4, 8, ... points, built incrementally as points are
appended; :meth:`PeakPyramid.window` answers "the visible x range in at most N points" in O(N) from
the coarsest level that still has about a point per pixel, so appending and redrawing no longer
depend on the length of the run. :class:`PeakCurve` is a :class:`pyqtgraph.PlotDataItem` that shows
such a window and fetches a new one when the view range or the plot's width changes.

The display is the classic peak decimation (every block drawn as its minimum and maximum at its
first x), so spikes are never lost; a block is at most about a pixel wide, so it looks the same as
drawing every point.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

FACTOR = 2  # points of a level per block of the next level
#: Points handed to pyqtgraph per pixel of the plot's width: a block (drawn as its min and max) is
#: between half a pixel and a pixel wide, the classic peak rendering of one min/max per column.
POINTS_PER_PIXEL = 2
_NICE = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def _grown(array: np.ndarray, used: int, capacity: int) -> np.ndarray:
    """A new array of ``capacity`` holding the first ``used`` values of ``array``."""
    new = np.empty(capacity, dtype=np.float64)
    new[:used] = array[:used]
    return new


class _Level:
    """The minimum and maximum of each complete block of one level (capacity doubles when full)."""

    def __init__(self, block: int) -> None:
        self.block = block  # raw points per block
        self.lo = np.empty(256, dtype=np.float64)
        self.hi = np.empty(256, dtype=np.float64)
        self.count = 0

    def reserve(self, capacity: int) -> None:
        if capacity > len(self.lo):
            self.lo, self.hi = _grown(self.lo, self.count, capacity), _grown(self.hi, self.count, capacity)

    def append(self, lo: np.ndarray, hi: np.ndarray) -> None:
        needed = self.count + len(lo)
        if needed > len(self.lo):
            self.reserve(max(needed, 2 * len(self.lo)))
        self.lo[self.count : needed] = lo
        self.hi[self.count : needed] = hi
        self.count = needed


class PeakPyramid:
    """Append-only points with non-decreasing x, and the min/max of their blocks at every level.

    Level ``k`` (k >= 1) holds the minimum and maximum y of every complete block of ``2**k`` raw
    points; a block's x is its first point's. NaN values are ignored by the summaries (a block of
    NaN only is NaN). Appending costs O(new points); a step back in x (a run resumed from an
    earlier checkpoint logs those steps again) drops the points from that x on first."""

    def __init__(self, capacity: int = 1024) -> None:
        self._x = np.empty(max(1, capacity), dtype=np.float64)
        self._y = np.empty(max(1, capacity), dtype=np.float64)
        self.size = 0
        self.levels: list[_Level] = []

    def __len__(self) -> int:
        return self.size

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> PeakPyramid:
        """A pyramid of these points (built off the GUI thread, then handed to a :class:`PeakCurve`)."""
        pyramid = cls(capacity=len(x))
        pyramid.extend(x, y)
        return pyramid

    @property
    def x(self) -> np.ndarray:
        return self._x[: self.size]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self.size]

    def clear(self) -> None:
        self.size = 0
        self.levels.clear()

    def extend(self, x: np.ndarray, y: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if len(x) == 0:
            return
        backwards = np.flatnonzero(x[1:] < x[:-1]) + 1
        start = 0
        for cut in [*backwards.tolist(), len(x)]:
            self._extend_sorted(x[start:cut], y[start:cut])
            start = cut

    def reserve(self, capacity: int) -> None:
        """Make room for ``capacity`` points (and their blocks) without copying later."""
        if capacity > len(self._x):
            self._x, self._y = _grown(self._x, self.size, capacity), _grown(self._y, self.size, capacity)
        for depth in range(len(self.levels), int(math.log(max(capacity, 1), FACTOR))):
            self.levels.append(_Level(FACTOR ** (depth + 1)))
        for level in self.levels:
            level.reserve(capacity // level.block)

    def _extend_sorted(self, x: np.ndarray, y: np.ndarray) -> None:
        if self.size and x[0] < self._x[self.size - 1]:
            self.truncate(int(np.searchsorted(self.x, x[0], side="left")))
        needed = self.size + len(x)
        if needed > len(self._x):
            capacity = len(self._x)
            while capacity < needed:
                capacity *= 2
            self.reserve(capacity)
        self._x[self.size : needed] = x
        self._y[self.size : needed] = y
        self.size = needed
        self._summarise()

    def truncate(self, size: int) -> None:
        """Keep the first ``size`` points (and the blocks made of them only)."""
        self.size = max(0, min(self.size, size))
        for level in self.levels:
            level.count = min(level.count, self.size // level.block)

    def _summarise(self) -> None:
        below_lo, below_hi, below_count = self._y, self._y, self.size
        depth = 0
        while below_count // FACTOR:
            if depth == len(self.levels):
                self.levels.append(_Level(FACTOR ** (depth + 1)))
            level = self.levels[depth]
            complete = below_count // FACTOR
            if complete > level.count:
                a, b = level.count * FACTOR, complete * FACTOR
                # strided elementwise fmin/fmax: ~10x faster than a reduce along a short axis
                lo, hi = below_lo[a:b:FACTOR], below_hi[a:b:FACTOR]
                for k in range(1, FACTOR):
                    lo = np.fmin(lo, below_lo[a + k : b : FACTOR])
                    hi = np.fmax(hi, below_hi[a + k : b : FACTOR])
                level.append(lo, hi)
            below_lo, below_hi, below_count = level.lo, level.hi, level.count
            depth += 1

    def window(self, x0: float | None, x1: float | None, max_points: int) -> tuple[np.ndarray, np.ndarray]:
        """The points between ``x0`` and ``x1`` (everything when None), one beyond each end, in at
        most about ``max_points`` points: the raw points when they fit, else the min and max of the
        blocks of the finest level that fits (and of finer levels, then raw points, for the tail
        that is not a complete block yet). New arrays (the pyramid may overwrite its own)."""
        n = self.size
        if n == 0:
            return np.empty(0), np.empty(0)
        x = self.x
        i0, i1 = 0, n
        if x0 is not None and x1 is not None:
            i0 = max(0, int(np.searchsorted(x, x0, side="left")) - 1)
            i1 = min(n, int(np.searchsorted(x, x1, side="right")) + 1)
            if i1 <= i0:
                return np.empty(0), np.empty(0)
        max_points = max(16, int(max_points))
        if i1 - i0 <= max_points:
            return x[i0:i1].copy(), self.y[i0:i1].copy()
        depth = min(len(self.levels), max(1, math.ceil(math.log(2 * (i1 - i0) / max_points, FACTOR))))
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        position = i0 - i0 % self.levels[depth - 1].block
        for level in reversed(self.levels[:depth]):
            first = position // level.block
            last = min(level.count, -(-i1 // level.block))
            if last <= first:
                continue
            blocks = np.arange(first, last) * level.block
            xs.append(np.repeat(x[blocks], 2))
            pair = np.empty(2 * (last - first), dtype=np.float64)
            pair[0::2] = level.lo[first:last]
            pair[1::2] = level.hi[first:last]
            ys.append(pair)
            position = last * level.block
            if position >= i1:
                break
        if position < i1:
            xs.append(x[position:i1])
            ys.append(self.y[position:i1])
        else:  # the curve ends at its last point, not at the start of the block that holds it
            xs.append(x[i1 - 1 : i1])
            ys.append(self.y[i1 - 1 : i1])
        return np.concatenate(xs), np.concatenate(ys)


def nice_ceil(value: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten that is >= ``value``."""
    if not math.isfinite(value) or value <= 0:
        return value
    scale = 10.0 ** math.floor(math.log10(value))
    for step in _NICE:
        if step * scale >= value * (1 - 1e-12):
            return step * scale
    return 10.0 * scale


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

    def refresh(self, *, force: bool = False) -> bool:
        """Hand pyqtgraph the points of the current view (when they changed); returns whether it did."""
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
        self._shown = key
        x, y = self.pyramid.window(*(x_range or (None, None)), max_points=width * POINTS_PER_PIXEL)
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
            self.refresh()

    def viewTransformChanged(self) -> None:  # pyqtgraph override: a resize changes the width
        super().viewTransformChanged()
        self.refresh()
