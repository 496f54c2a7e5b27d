"""The look shared by mmstudio's pyqtgraph charts: the palette's colours, a quiet grid, and fast axes.

An axis item paints its ticks, its labels and the grid lines across the whole plot, and it was the
costliest part of a chart's repaint. :class:`ClippedAxisItem` clips its painter to its own bounds
first: Qt's raster engine draws translucent lines ~10x faster with a clip rectangle than without one
(25 grid lines: 6.5 ms against 0.5 ms), and pyqtgraph draws the grid before it sets its clip. Two
axes then repaint in ~3 ms; keeping them as pixmaps (``DeviceCoordinateCache``) saved little more
and made every change of range ~7 ms dearer, so they are not cached.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QWidget

AXES = ("left", "bottom")


class ClippedAxisItem(pg.AxisItem):
    """A :class:`pyqtgraph.AxisItem` that clips its painter to its bounds before painting (the
    fast path of the raster engine for its grid lines; the pixels are the same)."""

    def paint(self, p, opt, widget) -> None:  # pyqtgraph override
        p.setClipRect(self.boundingRect())
        super().paint(p, opt, widget)


class PlotWidget(pg.PlotWidget):
    """pyqtgraph's plot widget, whose context menu is built at the first right press instead of up
    front: ~11 ms of the ~42 that a plot costs to make, and the window makes ~15 of them."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("enableMenu", False)
        super().__init__(*args, **kwargs)
        self.menu_wanted = True  # False: a figure, with no menu at all

    def mousePressEvent(self, event) -> None:  # Qt override
        item = self.getPlotItem()
        if self.menu_wanted and event.button() == Qt.MouseButton.RightButton and not item.menuEnabled():
            item.setMenuEnabled(True)  # builds the view box's menu; the click then opens it
        super().mousePressEvent(event)


def fit_range(view: pg.ViewBox) -> None:
    """Fit ``view``'s auto range to its items and move them to it now, rather than in the next
    paint (pyqtgraph's way): a range or transform that changes while the plot paints asks for a
    second paint of the axes and everything (the compare view's first paint was two, 30 + 20 ms)."""
    view.updateAutoRange()
    view.updateMatrix()


def axis_items() -> dict[str, ClippedAxisItem]:
    """New left and bottom axes for a ``PlotWidget(axisItems=...)``: major and minor ticks (and grid
    lines) only; pyqtgraph's third level, at a tenth of the major interval, doubles what a change of
    range costs to lay out and draw, for lines too faint to read."""
    items = {name: ClippedAxisItem(name) for name in AXES}
    for item in items.values():
        item.setStyle(maxTickLevel=1)
    return items


def palette_plot(
    title: str,
    x_label: str,
    y_label: str,
    *,
    widget_class: type[PlotWidget] = PlotWidget,
    grid_x: bool = True,
    static: bool = False,
    min_height: int = 140,
) -> PlotWidget:
    """A plot in the application palette's colours (dark themes included), with clipped axes.
    ``static`` makes it a figure rather than a tool: no mouse panning, menu or auto-range button."""
    palette = QWidget().palette()
    text = palette.color(QPalette.ColorRole.Text)
    widget = widget_class(background=palette.color(QPalette.ColorRole.Base), axisItems=axis_items())
    item = widget.getPlotItem()
    item.setTitle(title, color=text.name(), size="10pt")
    if static:
        widget.menu_wanted = False
        item.hideButtons()
        item.setMouseEnabled(x=False, y=False)
    item.showGrid(x=grid_x, y=True, alpha=0.15)
    for name, label in (("bottom", x_label), ("left", y_label)):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(text))
        axis.setTextPen(pg.mkPen(text))
        if label:
            axis.setLabel(label, color=text.name())
    widget.setMinimumHeight(min_height)
    return widget
