"""The pyqtgraph items that draw from a min/max pyramid (``tests/unit/store/test_curves.py`` tests the
pyramid itself): a curve that shows a window of the visible range, one whose x goes back, and many
curves in one item."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest

from mmstudio.store.curves import PeakPyramid
from mmstudio.ui.peak_curve import POINTS_PER_PIXEL, PeakCurve, PeakTraces


def _shown_plot(qtbot, width=600, height=400, **kwargs) -> pg.PlotWidget:
    widget = pg.PlotWidget(**kwargs)
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _is_red(colour) -> bool:
    return colour.red() > 200 and colour.green() < 80 and colour.blue() < 80


def test_a_pyramid_built_elsewhere_is_shown_as_is(qtbot):
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    curve = PeakCurve()
    widget.addItem(curve)
    x = np.arange(100_000, dtype=float)
    pyramid = PeakPyramid.of(x, np.cos(x))
    curve.set_pyramid(pyramid)
    assert curve.pyramid is pyramid and len(curve) == 100_000
    assert 0 < len(curve.getData()[0]) < 10_000


def test_the_curve_shows_a_window_of_the_visible_range(qtbot):
    widget = _shown_plot(qtbot)
    curve = PeakCurve(pen="b", stable_bounds=True)
    widget.addItem(curve)
    n = 1_000_000
    x = np.arange(1, n + 1, dtype=float)
    y = np.sin(x / 5000.0) + (x == 777_777) * 10.0
    curve.set_points(x, y)
    view = widget.getPlotItem().getViewBox()
    width = view.width()
    shown_x, shown_y = curve.getData()
    assert len(curve) == n
    assert len(shown_x) <= width * POINTS_PER_PIXEL + 64
    assert shown_x[0] == 1 and shown_x[-1] == n and shown_y.max() == y.max() > 8
    qtbot.waitUntil(lambda: view.viewRange()[0][1] >= n)
    # auto range: the bounds are rounded up (1.2e6, not 1e6 + 1000), so the axis stays still while
    # the curve grows
    assert curve.dataBounds(0) == (1.0, 1_000_000)
    curve.append(np.arange(n + 1, n + 1001, dtype=float), np.zeros(1000))
    curve.refresh()
    assert curve.dataBounds(0) == (1.0, pytest.approx(1_200_000))
    qtbot.waitUntil(lambda: view.viewRange()[0][1] >= 1_200_000)
    axis_range = view.viewRange()[0]
    curve.append(np.arange(n + 1001, n + 100_000, dtype=float), np.zeros(98_999))
    curve.refresh()
    qtbot.wait(50)
    assert view.viewRange()[0] == axis_range
    # zoomed in: raw points of the visible range (a few hundred here), one beyond each edge
    view.setXRange(500_000, 500_300, padding=0)
    qtbot.waitUntil(lambda: len(curve.getData()[0]) < 1000)
    shown_x, _ = curve.getData()
    assert shown_x[0] <= 500_000 and shown_x[-1] >= 500_300 and np.all(np.diff(shown_x) == 1)


def test_a_curve_whose_x_goes_back_is_shown_whole(qtbot):
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    curve = PeakCurve()
    widget.addItem(curve)
    x = np.array([1.0, 2.0, 3.0, 2.5, 4.0])
    curve.set_points(x, np.arange(5.0))
    np.testing.assert_array_equal(curve.getOriginalDataset()[0], x)
    with pytest.raises(ValueError, match="set_points"):
        curve.append(np.array([5.0]), np.array([1.0]))


def test_many_curves_in_one_item_fit_the_view_and_follow_the_log_mode(qtbot):
    widget = _shown_plot(qtbot)
    traces = PeakTraces()
    widget.addItem(traces)
    x = np.arange(1, 200_001, dtype=float)
    pen = pg.mkPen("b")
    traces.set_points("a", x, 1.0 + np.sin(x / 1000.0) ** 2, pen, fill=pg.mkBrush(0, 0, 255, 40))
    traces.set_points("b", x, np.full_like(x, 100.0), pen)
    traces.set_points("back", np.array([3.0, 1.0, 2.0]), np.array([5.0, 6.0, 7.0]), pen)  # x goes back
    traces.refresh()
    assert traces.point_count("a") == 200_000 and traces.point_count("back") == 3
    assert 0 < traces.shown_count("a") <= 600 * POINTS_PER_PIXEL + 64
    assert traces.shown_count("back") == 3
    # auto-ranging fits every curve whole
    assert traces.dataBounds(0) == (1.0, 200_000.0)
    assert traces.dataBounds(1) == (pytest.approx(1.0, abs=1e-6), 100.0)
    # zoomed in, only the visible part is drawn, but the bounds stay those of the whole curves
    view = widget.getPlotItem().getViewBox()
    view.setXRange(1000, 1100, padding=0)
    qtbot.waitUntil(lambda: traces.shown_count("a") < 200)
    assert traces.dataBounds(1)[1] == 100.0
    traces.set_visible("b", False)
    assert traces.dataBounds(1)[1] == 7.0  # "back" is now the highest shown
    widget.getPlotItem().setLogMode(y=True)
    assert traces.dataBounds(1)[1] == pytest.approx(np.log10(7.0))
    traces.remove("back")
    assert traces.dataBounds(1)[1] == pytest.approx(np.log10(2.0), abs=1e-3)
    image = widget.grab()  # paints (a band, a line) without error
    assert not image.isNull()


def _red_pixels(widget) -> int:
    image = widget.grab().toImage()
    return sum(
        1
        for x in range(0, image.width(), 2)
        for y in range(0, image.height(), 2)
        if _is_red(image.pixelColor(x, y))
    )


def test_traces_are_painted_in_the_view_after_its_range_changes(qtbot):
    # the paint clips to the view's rectangle: it must follow the view (a stale one hid every curve)
    widget = _shown_plot(qtbot, background="w")
    traces = PeakTraces()
    widget.addItem(traces)
    traces.set_points("empty", np.array([0.5]), np.array([0.5]), pg.mkPen("#0000ff"))
    traces.refresh()
    widget.grab()  # painted once with the view's first range (0 to 1)
    red = pg.mkPen("#ff0000", width=2)
    traces.set_points("a", np.array([8.0, 16.0, 24.0]), np.array([1.6, 1.4, 1.3]), red)
    traces.refresh()
    widget.getPlotItem().getViewBox().updateAutoRange()
    qtbot.waitUntil(lambda: _red_pixels(widget) > 50)
    widget.getPlotItem().getViewBox().setXRange(10, 20, padding=0)
    qtbot.waitUntil(lambda: _red_pixels(widget) > 50)


def _red_columns(widget) -> list[int]:
    """The x of every pixel column of ``widget`` holding a red pixel."""
    image = widget.grab().toImage()
    return [
        x for x in range(image.width()) if any(_is_red(image.pixelColor(x, y)) for y in range(image.height()))
    ]


@pytest.mark.parametrize("x_range", [None, (20_000.0, 60_000.0)])
def test_a_band_covers_every_pixel_column_of_its_curve(qtbot, x_range):
    # A band is drawn as one stroke per pixel column: no column in the curve's span may be left
    # out (too few blocks per pixel drew it as teeth or hatching)
    widget = _shown_plot(qtbot, 700, 400, background="w")
    traces = PeakTraces(points_per_pixel=2)
    widget.addItem(traces)
    x = np.arange(100_000, dtype=float)
    y = np.exp(-x / 30_000) + 0.1 * np.random.default_rng(0).random(len(x))
    traces.set_points("noisy", x, y, pg.mkPen("#0000ff"), fill=pg.mkBrush("#ff0000"))
    view = widget.getPlotItem().getViewBox()
    traces.fit_bounds()
    if x_range is None:
        view.updateAutoRange()
    else:
        view.setXRange(*x_range, padding=0)
    traces.refresh()
    # the curve's span on screen, from the view's own mapping
    first = view.mapViewToDevice(pg.Point(max(0.0, view.viewRange()[0][0]), 0.5)).x()
    last = view.mapViewToDevice(pg.Point(min(99_999.0, view.viewRange()[0][1]), 0.5)).x()
    qtbot.waitUntil(lambda: len(_red_columns(widget)) > 100)
    columns = set(_red_columns(widget))
    missing = [c for c in range(round(first) + 1, round(last) - 1) if c not in columns]
    assert missing == []
