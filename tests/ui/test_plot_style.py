"""The shared plot widget: its context menu is built at the first right press, and a figure has none."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from mmstudio.ui.plot_style import PlotWidget, palette_plot


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
