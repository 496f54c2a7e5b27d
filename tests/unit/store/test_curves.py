"""The min/max pyramid behind the live and compare curves (Qt-free): appending in pieces builds the
same blocks as at once, windows keep every peak in few points, NaN is ignored, a step back in x
replaces the points from there on, room reserved up front changes nothing, round axis bounds; and the
module stays light (numpy only: no SQLAlchemy, torch or Qt)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mmstudio.store.curves import FACTOR, PeakPyramid, is_sparse, nice_ceil, smoothed_curves, value_range


def _pyramid(x, y, chunk=None):
    pyramid = PeakPyramid(capacity=4)
    if chunk is None:
        pyramid.extend(x, y)
    else:
        for start in range(0, len(x), chunk):
            pyramid.extend(x[start : start + chunk], y[start : start + chunk])
    return pyramid


def test_appending_in_pieces_builds_the_same_levels_as_at_once():
    rng = np.random.default_rng(1)
    x = np.arange(10_000, dtype=float)
    y = rng.normal(size=x.size)
    whole, pieces = _pyramid(x, y), _pyramid(x, y, chunk=37)
    assert len(whole) == len(pieces) == 10_000
    np.testing.assert_array_equal(pieces.x, x)
    np.testing.assert_array_equal(pieces.y, y)
    assert [lv.count for lv in whole.levels] == [lv.count for lv in pieces.levels]
    for a, b in zip(whole.levels, pieces.levels, strict=True):
        np.testing.assert_array_equal(a.lo[: a.count], b.lo[: b.count])
        np.testing.assert_array_equal(a.hi[: a.count], b.hi[: b.count])
    level = next(lv for lv in whole.levels if lv.block == 64)
    assert level.count == 10_000 // 64
    np.testing.assert_array_equal(level.lo[: level.count], y[: 64 * level.count].reshape(-1, 64).min(axis=1))
    np.testing.assert_array_equal(level.hi[: level.count], y[: 64 * level.count].reshape(-1, 64).max(axis=1))


@pytest.mark.parametrize("n", [10, 1000, 123_457])
@pytest.mark.parametrize("span", [None, (0.1, 0.2), (0.5, 1.0), (0.97, 1.2), (-0.5, 0.01)])
def test_a_window_keeps_every_peak_of_the_range_in_few_points(n, span):
    rng = np.random.default_rng(n)
    x = np.sort(rng.uniform(0, 1, n))
    y = rng.normal(size=n)
    y[rng.integers(0, n, 5)] = [40.0, -40.0, 25.0, -30.0, 33.0]  # spikes a decimation must not lose
    pyramid = _pyramid(x, y, chunk=1000)
    max_points = 800
    x0, x1 = span if span is not None else (None, None)
    wx, wy = pyramid.window(x0, x1, max_points)
    inside = np.ones(n, dtype=bool) if span is None else (x >= x0) & (x <= x1)
    assert np.all(np.diff(wx) >= 0)
    # the tail (not a complete block yet) adds at most 2 (FACTOR - 1) points per level
    assert len(wx) <= max_points + 2 * (FACTOR - 1) * len(pyramid.levels) + 1
    if inside.any():
        # the shown points cover the range and hold its extremes (and, at most, the block around it)
        assert wy.max() >= y[inside].max() and wy.min() <= y[inside].min()
        assert wx[0] <= x[inside][0] and wx[-1] >= x[inside][-1]
        assert set(np.round(wy, 12)) <= set(np.round(y, 12))  # values shown are values logged
    if span is None:
        assert wx[0] == x[0] and wx[-1] == x[-1] and wy[-1] == y[-1]  # ends at the last point logged
    if n <= max_points:
        near = inside.copy()
        near[1:] |= inside[:-1]
        near[:-1] |= inside[1:]
        if not inside.any():  # a range between two points: the two around it
            near[max(0, np.searchsorted(x, x0) - 1) : np.searchsorted(x, x1) + 1] = True
        np.testing.assert_array_equal(wx, x[near])


def test_nan_values_are_ignored_by_the_blocks():
    y = np.arange(64, dtype=float)
    y[:4] = np.nan
    y[10] = np.nan
    pyramid = _pyramid(np.arange(64, dtype=float), y)
    block = {lv.block: lv for lv in pyramid.levels}
    assert np.isnan(block[FACTOR].lo[0])  # a block of NaN only
    assert block[4].lo[2] == 8 and block[4].hi[2] == 11  # y[8:12] without y[10]
    assert block[64].lo[0] == 4 and block[64].hi[0] == 63


def test_a_step_back_in_x_replaces_the_points_from_there_on():
    pyramid = _pyramid(np.arange(1, 1001, dtype=float), np.ones(1000))
    # a run resumed from its checkpoint at step 600 logs 600... again, with other values
    pyramid.extend(np.arange(600, 801, dtype=float), np.full(201, 5.0))
    assert len(pyramid) == 599 + 201
    np.testing.assert_array_equal(pyramid.x, np.arange(1, 801))
    assert pyramid.y[598] == 1.0 and pyramid.y[599] == 5.0
    reference = _pyramid(pyramid.x.copy(), pyramid.y.copy())
    for a, b in zip(reference.levels, pyramid.levels, strict=True):
        assert a.count == b.count
        np.testing.assert_array_equal(a.hi[: a.count], b.hi[: b.count])
    # the same inside one piece
    pyramid.extend(np.array([801.0, 802.0, 10.0, 11.0]), np.array([7.0, 7.0, 9.0, 9.0]))
    np.testing.assert_array_equal(pyramid.x, [*range(1, 10), 10.0, 11.0])


def test_nice_ceil_rounds_up_to_round_numbers():
    assert nice_ceil(1.0) == 1.0
    assert nice_ceil(1_000_001) == pytest.approx(1_200_000)
    assert nice_ceil(0.0213) == pytest.approx(0.025)
    assert nice_ceil(7_900) == pytest.approx(8_000)
    assert nice_ceil(0.0) == 0.0


def test_reserving_room_keeps_the_points_and_the_blocks():
    rng = np.random.default_rng(3)
    x, y = np.arange(5000, dtype=float), rng.normal(size=5000)
    reserved = PeakPyramid(capacity=4)
    reserved.extend(x[:1000], y[:1000])
    reserved.reserve(100_000)
    reserved.extend(x[1000:], y[1000:])
    reference = _pyramid(x, y)
    np.testing.assert_array_equal(reserved.y, y)
    for a, b in zip(reference.levels, reserved.levels, strict=False):
        assert a.block == b.block and a.count == b.count
        np.testing.assert_array_equal(a.lo[: a.count], b.lo[: b.count])
    assert np.array_equal(reserved.window(None, None, 300)[1], reference.window(None, None, 300)[1])


def test_extent_and_envelope_of_a_curve_with_nan():
    y = np.array([np.nan, 3.0, -2.0, 5.0, np.nan, 1.0])
    pyramid = PeakPyramid.of(np.arange(6, dtype=float), y)
    assert pyramid.extent() == (0.0, 5.0, -2.0, 5.0)
    x, lo, hi = pyramid.envelope(None, None, 1000)  # fits: the raw points, low = high
    np.testing.assert_array_equal(x, np.arange(6))
    np.testing.assert_array_equal(lo, hi)
    assert PeakPyramid().extent() is None
    assert PeakPyramid.of(np.arange(3.0), np.full(3, np.nan)).extent() is None


def test_the_module_needs_neither_sqlalchemy_nor_torch_nor_qt():
    code = (
        "import sys, mmstudio.store.curves\n"
        "heavy = {'sqlalchemy', 'alembic', 'torch', 'PySide6', 'pyqtgraph'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"


def test_chart_curves_reads_smooths_and_builds_the_pyramids_of_each_run(tmp_path):
    from mmstudio.progress import Cancelled, TaskState
    from mmstudio.store import Store
    from mmstudio.store.compare import ema
    from mmstudio.store.curves import chart_curves

    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        runs = [store.create_run(name=name) for name in ("a", "b")]
        for n, run_id in enumerate(runs):
            store.log_metrics(run_id, [("train/loss", s, None, 1.0 / (s + n), None) for s in range(1, 51)])
        seen = []
        drawn = chart_curves(store, runs, "train/loss", 0.6, progress=lambda d, t: seen.append((d, t)))
        assert drawn.key == "train/loss" and drawn.weight == 0.6 and seen == [(1, 4), (2, 4)]
        for run_id in runs:
            np.testing.assert_array_equal(drawn.smoothed[run_id], ema(drawn.curves[run_id].value, 0.6))
            assert len(drawn.pyramids.raw[run_id]) == len(drawn.pyramids.smoothed[run_id]) == 50
        raw = chart_curves(store, runs, "train/loss", 0.0)
        assert (
            raw.smoothed[runs[0]] is raw.curves[runs[0]].value and raw.pyramids.smoothed == raw.pyramids.raw
        )
        cancelled = TaskState()
        cancelled.cancel()
        with pytest.raises(Cancelled):
            chart_curves(store, runs, "train/loss", 0.6, cancel=cancelled)


def test_a_score_axis_ends_at_1_and_others_just_above_their_highest_bar():
    """#17: the per-class F1 axis ran on past 1.1 (head room for a legend drawn over the bars)."""
    assert value_range([0.25, 0.97, None, float("nan")], "F1") == (0.0, 1.0)
    low, high = value_range([0.25, 0.5], "test/accuracy")
    assert low == 0.0 and 0.5 < high <= 0.55
    assert value_range([1.0, 0.8], "F1") == (0.0, 1.0)
    low, high = value_range([1.27, 0.9], "test/loss")  # a loss is not a score
    assert low == 0.0 and high == pytest.approx(1.27 * 1.05)
    assert value_range([0.9, 0.95], "test/loss")[1] == pytest.approx(0.95 * 1.05)  # minimised: no cap
    assert value_range([-0.5, 2.0], "r2")[0] == -0.5
    assert value_range([], "F1") == (0.0, 1.0) and value_range([None], "") == (0.0, 1.0)


def test_curves_that_are_not_smoothed_are_their_own_values_and_sparse_lines_are_antialiased():
    from mmstudio.store.types import Curve

    def curve(n):
        return Curve(
            run_id=1,
            key="",
            step=np.arange(n),
            epoch=np.full(n, np.nan),
            value=np.linspace(2, 1, n),
            time=np.arange(n, dtype=float),
        )

    curves = {1: curve(3), 2: curve(500)}
    per_epoch = smoothed_curves("val/loss", curves, 0.6)
    assert all(per_epoch[i] is curves[i].value for i in curves)
    per_step = smoothed_curves("train/loss", curves, 0.6)
    assert per_step[1] is curves[1].value and per_step[2] is not curves[2].value
    assert is_sparse(3, 400) and is_sparse(400, 400) and not is_sparse(401, 400) and not is_sparse(0, 400)
