"""The shared plot widget: its context menu is built at the first right press, and a figure has none;
legends beside the data in the palette's text colour, toggled by a click on a name; the empty state;
whole-epoch ticks; lines as wide at 2x as at 1x."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRectF, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from mmstudio.ui.plot_style import PlotWidget, add_legend, is_empty, palette_plot, pen, set_empty


def test_the_context_menu_is_built_at_the_first_right_press(qtbot):
    plot = palette_plot("loss", "step", "loss")
    qtbot.addWidget(plot)
    plot.resize(300, 200)
    plot.show()
    qtbot.waitExposed(plot)
    view = plot.getPlotItem().getViewBox()
    assert isinstance(plot, PlotWidget) and view.menu is None  # not made up front
    centre = QPoint(plot.width() // 2, plot.height() // 2)
    QTest.mousePress(plot.viewport(), Qt.MouseButton.RightButton, pos=centre)
    assert view.menu is not None and plot.getPlotItem().menuEnabled()
    QTest.mouseRelease(plot.viewport(), Qt.MouseButton.RightButton, pos=centre)
    view.menu.close()


def test_a_figure_has_no_menu(qtbot):
    plot = palette_plot("labels", "", "", static=True)
    qtbot.addWidget(plot)
    plot.resize(300, 200)
    plot.show()
    qtbot.waitExposed(plot)
    QTest.mousePress(plot.viewport(), Qt.MouseButton.RightButton, pos=QPoint(150, 100))
    QTest.mouseRelease(plot.viewport(), Qt.MouseButton.RightButton, pos=QPoint(150, 100))
    assert plot.getPlotItem().getViewBox().menu is None and not plot.getPlotItem().menuEnabled()


# --- legends, colours, line widths and the empty state (#6, #8, #12) -------------------------------


def _shown(qtbot, widget, width=500, height=300):
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    QApplication.processEvents()
    return widget


def _scene_point_in_view(plot, rect: QRectF) -> QPoint:
    return plot.mapFromScene(rect.center())


@pytest.mark.parametrize(("place", "columns"), [("top", 3), ("right", 1)])
def test_a_legend_sits_beside_the_data_in_the_palettes_text_colour(qtbot, place, columns):
    """#6: pyqtgraph anchors a legend inside the view box, over the data; ours is laid out beside it."""
    plot = _shown(qtbot, palette_plot("loss", "step", "loss"))
    legend = add_legend(plot, place=place, columns=columns)
    x = np.linspace(0, 1, 200)
    for n in range(3):  # curves across the whole plot, corners included
        plot.plot(x, (x * (n + 1)) % 1, pen=pen("#2f7dd1"), name=f"curve {n}")
    QApplication.processEvents()
    view = plot.getPlotItem().getViewBox()
    assert [name for _item, name in legend.entries()] == ["curve 0", "curve 1", "curve 2"]
    box = legend.sceneBoundingRect()
    assert box.width() > 0 and box.height() > 0
    # the data is drawn in the view box only (clipped to its shape, its rectangle)
    assert not box.intersects(view.mapRectToScene(view.rect()))
    text = QApplication.palette().color(QPalette.ColorRole.Text)
    for _sample, label in legend.items:
        assert QColor(label.opts["color"]) == text


def test_a_legend_beside_a_narrow_plot_goes_above_it(qtbot):
    """Beside the data on a wide chart; a chart too narrow for that (the Compare metrics tab at the
    window's minimum size) gets it above the data rather than clipped at its right edge."""
    plot = _shown(qtbot, palette_plot("bars", "", "F1"), width=900)
    legend = add_legend(plot, place="right")
    for n in range(3):
        plot.plot([0, 1], [n, n + 1], pen=pen("#2f7dd1"), name=f"#{n} a run with a long name")
    QApplication.processEvents()
    assert legend.place == "right"
    plot.resize(300, 300)
    qtbot.waitUntil(lambda: legend.place == "top")
    QApplication.processEvents()
    view = plot.getPlotItem().getViewBox()
    assert not legend.sceneBoundingRect().intersects(view.mapRectToScene(view.rect()))
    assert legend.sceneBoundingRect().right() <= plot.getPlotItem().sceneBoundingRect().right() + 1
    plot.resize(900, 300)
    qtbot.waitUntil(lambda: legend.place == "right")


def test_a_click_on_an_entrys_name_toggles_its_item(qtbot):
    """#6: not only the swatch: the name, the larger target, hides and shows the curve."""
    plot = _shown(qtbot, palette_plot("loss", "step", "loss"))
    legend = add_legend(plot, place="right")
    curve = plot.plot([0, 1, 2], [1, 0, 1], pen=pen("#2f7dd1"), name="val/loss")
    QApplication.processEvents()
    label = legend.label_of(curve)
    where = _scene_point_in_view(plot, label.sceneBoundingRect())
    QTest.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert not curve.isVisible()
    assert QColor(label.opts["color"]) == QApplication.palette().color(QPalette.ColorRole.PlaceholderText)
    QTest.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert curve.isVisible()


def test_an_empty_plot_says_so_instead_of_inventing_axes(qtbot):
    """#8: no 0-1 ticks for no data; the ticks come back with the first points."""
    plot = _shown(qtbot, palette_plot("loss", "step", "loss"))
    set_empty(plot, True)
    left = plot.getPlotItem().getAxis("left")
    assert is_empty(plot) and plot.empty_label.toPlainText() == "No points yet"
    assert not left.style["showValues"] and plot.empty_label.isVisible()
    plot.plot([1, 2, 3], [3, 2, 1])
    set_empty(plot, False)
    assert not is_empty(plot) and left.style["showValues"] and not plot.empty_label.isVisible()


def test_epoch_ticks_fall_on_whole_epochs(qtbot):
    plot = palette_plot("per epoch", "epoch", "loss", integer_x=True)
    qtbot.addWidget(plot)
    axis = plot.getPlotItem().getAxis("bottom")
    for low, high in ((1, 3), (0.9, 2.1), (1, 50), (1, 1.4)):
        values = [v for _spacing, level in axis.tickValues(low, high, 400) for v in level]
        assert values and all(float(v).is_integer() for v in values), (low, high, values)


DPR_SCRIPT = """
import json
from mmstudio.ui.app import create_application
app = create_application(theme="light")
from mmstudio.ui.plot_style import device_pixel_ratio, palette_plot, pen
from mmstudio.ui.train.live_plots import LivePlotsWidget
plot = palette_plot("", "", "")
plot.getPlotItem().hideAxis("left"); plot.getPlotItem().hideAxis("bottom")
plot.plot([0, 1], [0.5, 0.5], pen=pen("#000000", 1))
plot.setYRange(0, 1, padding=0); plot.resize(200, 100); plot.show()
app.processEvents()
image = plot.grab().toImage()
column = [image.pixelColor(image.width() // 2, y).lightness() for y in range(image.height())]
live = LivePlotsWidget()
print(json.dumps({
    "ratio": device_pixel_ratio(),
    "image_ratio": image.devicePixelRatio(),
    "dark_rows": sum(1 for value in column if value < 128),
    "smoothed_loss": live.loss_smooth.curve.opts["pen"].widthF(),
}))
"""


@pytest.mark.parametrize("scale", ["1", "2"])
def test_lines_are_as_wide_on_a_2x_screen_as_on_a_1x_one(scale):
    """#12: pyqtgraph's pens are cosmetic (device pixels): a 1 px line was a hairline at 2x."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_SCALE_FACTOR": scale}
    done = subprocess.run(
        [sys.executable, "-c", DPR_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    ratio = float(scale)
    assert got["ratio"] == got["image_ratio"] == ratio
    assert got["dark_rows"] >= ratio  # a 1 px line covers a device pixel per unit of the ratio
    assert got["smoothed_loss"] == pytest.approx(2.2 * ratio)
