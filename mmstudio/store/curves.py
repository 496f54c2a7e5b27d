"""Curves of millions of points summarised for drawing: a min/max pyramid (peak-preserving decimation
of a growing curve) and round numbers for an axis that grows with it. numpy only: no Qt, no torch.

Drawing a curve of 1,000,000 points costs what its window in a few points per pixel costs, if the
window can be had without touching every point. :class:`PeakPyramid` keeps, next to the raw points,
the minimum and maximum of every block of 2, 4, 8, ... points, built incrementally as points are
appended; :meth:`PeakPyramid.window` answers "the visible x range in at most N points" in O(N) from
the coarsest level that still has about a point per pixel, so appending and redrawing no longer
depend on the length of the run. The display is the classic peak decimation (every block drawn as
its minimum and maximum at its first x), so spikes are never lost.

The Train page's live plots and the Compare page's chart draw from it (their pyqtgraph items are in
:mod:`mmstudio.ui.peak_curve`); :func:`mmstudio.store.compare.smooth` smooths the curves they show.
:func:`value_range` is the value axis of a bar chart (a score's ends at 1).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from mmstudio.progress import check_cancel
from mmstudio.vocabulary import lower_is_better

if TYPE_CHECKING:
    from .store import Store
    from .types import Curve, CurveCursor, RunPoll

FACTOR = 2  # points of a level per block of the next level
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
        """A pyramid of these points (building is the O(n) part: do it off the GUI thread, then hand
        the pyramid to what draws it)."""
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

    def extent(self) -> tuple[float, float, float, float] | None:
        """``(x_min, x_max, y_min, y_max)`` of every point (NaN left out), from the coarsest level and
        the points after its last block: O(1) in the number of points. None when there is none."""
        if self.size == 0:
            return None
        top = self.levels[-1] if self.levels else None
        covered = top.count * top.block if top is not None else 0
        parts_lo = [self.y[covered:]]
        parts_hi = [self.y[covered:]]
        if top is not None:
            parts_lo.append(top.lo[: top.count])
            parts_hi.append(top.hi[: top.count])
        lo, hi = np.concatenate(parts_lo), np.concatenate(parts_hi)
        with np.errstate(invalid="ignore"):
            y0, y1 = float(np.fmin.reduce(lo)), float(np.fmax.reduce(hi))
        if math.isnan(y0):
            return None
        return float(self._x[0]), float(self._x[self.size - 1]), y0, y1

    def window(self, x0: float | None, x1: float | None, max_points: int) -> tuple[np.ndarray, np.ndarray]:
        """The points between ``x0`` and ``x1`` (everything when None), one beyond each end, in at
        most about ``max_points`` points: the raw points when they fit, else the min and max of the
        blocks of the finest level that fits (and of finer levels, then raw points, for the tail
        that is not a complete block yet). New arrays (the pyramid may overwrite its own)."""
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        for x, lo, hi, raw in self._pieces(x0, x1, max_points):
            if raw:
                xs.append(x)
                ys.append(lo)
            else:
                xs.append(np.repeat(x, 2))
                pair = np.empty(2 * len(x), dtype=np.float64)
                pair[0::2], pair[1::2] = lo, hi
                ys.append(pair)
        if not xs:
            return np.empty(0), np.empty(0)
        return np.concatenate(xs), np.concatenate(ys)

    def envelope(
        self, x0: float | None, x1: float | None, max_points: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`window`, as a band: ``x`` with the lowest and highest value at each (a raw
        point's low and high are its value), at most about ``max_points / 2`` of them."""
        pieces = self._pieces(x0, x1, max_points)
        if not pieces:
            return np.empty(0), np.empty(0), np.empty(0)
        return tuple(np.concatenate([p[i] for p in pieces]) for i in range(3))  # type: ignore[return-value]

    def _pieces(
        self, x0: float | None, x1: float | None, max_points: int
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]]:
        """The parts of a window, coarse to fine: ``(x, lo, hi, raw)`` (blocks, or raw points)."""
        n = self.size
        if n == 0:
            return []
        x = self.x
        i0, i1 = 0, n
        if x0 is not None and x1 is not None:
            i0 = max(0, int(np.searchsorted(x, x0, side="left")) - 1)
            i1 = min(n, int(np.searchsorted(x, x1, side="right")) + 1)
            if i1 <= i0:
                return []
        max_points = max(16, int(max_points))
        if i1 - i0 <= max_points:
            y = self.y[i0:i1].copy()
            return [(x[i0:i1].copy(), y, y, True)]
        depth = min(len(self.levels), max(1, math.ceil(math.log(2 * (i1 - i0) / max_points, FACTOR))))
        pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]] = []
        position = i0 - i0 % self.levels[depth - 1].block
        for level in reversed(self.levels[:depth]):
            first = position // level.block
            last = min(level.count, -(-i1 // level.block))
            if last <= first:
                continue
            blocks = np.arange(first, last) * level.block
            pieces.append((x[blocks], level.lo[first:last].copy(), level.hi[first:last].copy(), False))
            position = last * level.block
            if position >= i1:
                break
        # the curve ends at its last point, not at the start of the block that holds it
        start = position if position < i1 else i1 - 1
        y = self.y[start:i1].copy()
        pieces.append((x[start:i1].copy(), y, y, True))
        return pieces


def nice_ceil(value: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten that is >= ``value``."""
    if not math.isfinite(value) or value <= 0:
        return value
    scale = 10.0 ** math.floor(math.log10(value))
    for step in _NICE:
        if step * scale >= value * (1 - 1e-12):
            return step * scale
    return 10.0 * scale


def is_sparse(points: int, width_px: float) -> bool:
    """Whether a line of ``points`` points drawn across ``width_px`` pixels is worth antialiasing: at
    most a point per pixel, so its segments are long and their stair steps show. A denser line is a
    peak-decimated band, where antialiasing costs several times more and shows nothing."""
    return 0 < points <= max(1.0, math.floor(width_px))


def value_range(values: Iterable[float | None], key: str = "") -> tuple[float, float]:
    """The value axis of a bar chart of ``values`` (None and NaN left out): from 0, or the lowest value
    when one is negative, to a little above the highest. Scores (a metric that is not minimised,
    :func:`~mmstudio.vocabulary.lower_is_better`, whose values all lie in 0-1: accuracy, F1, recall)
    end at 1 at most: an F1 axis that runs on to 1.1 reads as if more were possible."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    low = min(0.0, min(finite, default=0.0))
    top = max(finite, default=0.0)
    if top <= 0:
        return low, 0.0 if low < 0 else 1.0
    high = top * 1.05
    if not lower_is_better(key) and low >= 0 and top <= 1:
        high = min(high, 1.0)
    return low, high


@dataclass(frozen=True)
class StepPyramids:
    """The min/max pyramids of curves and of their smoothed versions, over their steps."""

    raw: dict[int, PeakPyramid]
    smoothed: dict[int, PeakPyramid]


def step_pyramids(curves: dict[int, Curve], smoothed: dict[int, np.ndarray]) -> StepPyramids:
    """The pyramids the compare view draws curves from, raw and smoothed (O(n): build them off the GUI
    thread)."""
    raw = {run_id: PeakPyramid.of(c.step, c.value) for run_id, c in curves.items()}
    smooth = {
        run_id: raw[run_id] if values is c.value else PeakPyramid.of(c.step, values)
        for run_id, c in curves.items()
        if (values := smoothed.get(run_id)) is not None
    }
    return StepPyramids(raw, smooth)


def smoothed_curves(
    key: str, curves: dict[int, Curve], weight: float, *, cancel: Any = None
) -> dict[int, np.ndarray]:
    """Each run's curve of metric ``key`` smoothed as the compare view and the live plots smooth it
    (:func:`~mmstudio.store.compare.smooth`: a curve that is not smoothed is its own values)."""
    from .compare import smooth

    out = {}
    for run_id, curve in curves.items():
        check_cancel(cancel, "smoothing the curves")
        out[run_id] = smooth(key, curve.value, weight)
    return out


class ChartCurves(NamedTuple):
    """One metric of several runs, ready to draw: the curves, their smoothed values at ``weight`` and
    the pyramids the chart draws from."""

    key: str
    curves: dict[int, Curve]
    smoothed: dict[int, np.ndarray]
    weight: float
    pyramids: StepPyramids


def chart_curves(
    store: Store, run_ids: list[int], key: str, weight: float, *, progress: Any = None, cancel: Any = None
) -> ChartCurves:
    """Read metric ``key`` of every run, smooth it and build its pyramids (O(n): off the GUI thread)."""
    curves: dict[int, Curve] = {}
    for n, run_id in enumerate(run_ids):
        check_cancel(cancel, "reading the curves")
        curves[run_id] = store.read_curve(run_id, key)
        if progress is not None:
            progress(n + 1, 2 * len(run_ids))
    smoothed = smoothed_curves(key, curves, weight, cancel=cancel)
    check_cancel(cancel, "reading the curves")
    return ChartCurves(key, curves, smoothed, weight, step_pyramids(curves, smoothed))


def poll_runs(
    store: Store,
    run_ids: Iterable[int],
    key: str | None,
    held: Mapping[int, CurveCursor],
    *,
    cancel: Any = None,
) -> dict[int, RunPoll]:
    """One tick of following several runs' curves of one metric (the Compare page's running runs):
    each run's state and, for a run whose curve of ``key`` the follower ``held``, its new points (the
    states alone for the others, and for all when ``key`` is None)."""
    polls = {}
    for run_id in run_ids:
        check_cancel(cancel, "reading the running runs")
        cursor = held.get(run_id) if key else None
        if key is None or cursor is None:
            polls[run_id] = store.poll_run(run_id, {}, keys=())
        else:
            polls[run_id] = store.poll_run(run_id, {key: cursor}, keys=(key,))
    return polls
