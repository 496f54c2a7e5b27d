"""The look shared by mmstudio's pyqtgraph charts: the palette's colours (dark themes included), a
quiet grid, fast axes, legends beside the data rather than over it, lines as wide on a 2x screen as
on a 1x one, and an empty state.

An axis item paints its ticks, its labels and the grid lines across the whole plot, and it was the
costliest part of a chart's repaint. :class:`ClippedAxisItem` clips its painter to its own bounds
first: Qt's raster engine draws translucent lines ~10x faster with a clip rectangle than without one
(25 grid lines: 6.5 ms against 0.5 ms), and pyqtgraph draws the grid before it sets its clip. Two
axes then repaint in ~3 ms; keeping them as pixmaps (``DeviceCoordinateCache``) saved little more
and made every change of range ~7 ms dearer, so they are not cached.

Legends (:func:`add_legend`) sit in the plot item's own layout, above the data or to its right: a
legend anchored inside the view box (pyqtgraph's way) covers whatever the data draws under it, and a
corner chosen from the data would jump about as a live curve grows. A click on an entry's name, not
only on its swatch, hides or shows its curve.

pyqtgraph's pens are cosmetic: their width is in device pixels, so a 1-pixel line is a hairline on a
2x screen. :func:`pen` scales the width by the screen's device pixel ratio; the curves that are drawn
from few points (where a line's stair steps show) are antialiased, the dense peak-decimated bands
are not (antialiasing them costs several times more and changes nothing one can see).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QSizeF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette, QPen
from PySide6.QtWidgets import QApplication, QGraphicsItem, QSizePolicy, QWidget

AXES = ("left", "bottom")
EMPTY_TEXT = "No points yet"


@dataclass(frozen=True)
class PlotColours:
    """The application palette's colours as the charts use them."""

    background: QColor  # the palette's Base: what a chart is drawn on
    text: QColor  # titles, axes, legends, labels on the chart
    muted: QColor  # notes and hidden legend entries

    @property
    def dark(self) -> bool:
        return self.background.lightnessF() < 0.5


def plot_colours() -> PlotColours:
    """The colours of the application's palette now (read when a chart is built)."""
    palette = QApplication.palette() if QApplication.instance() is not None else QWidget().palette()
    return PlotColours(
        palette.color(QPalette.ColorRole.Base),
        palette.color(QPalette.ColorRole.Text),
        palette.color(QPalette.ColorRole.PlaceholderText),
    )


def mix(colour: QColor, share: float, background: QColor) -> QColor:
    """``colour`` laid over ``background`` at opacity ``share``, as an opaque colour (Qt strokes opaque
    lines several times faster than translucent ones, and overlapping faint curves stay readable)."""
    return QColor(
        round(share * colour.red() + (1 - share) * background.red()),
        round(share * colour.green() + (1 - share) * background.green()),
        round(share * colour.blue() + (1 - share) * background.blue()),
    )


def device_pixel_ratio() -> float:
    """The primary screen's device pixel ratio (2 on a "retina" screen; 1 offscreen)."""
    screen = QGuiApplication.primaryScreen() if QGuiApplication.instance() is not None else None
    return float(screen.devicePixelRatio()) if screen is not None else 1.0


def pen(colour, width: float = 1.0, **kwargs) -> QPen:
    """A cosmetic pen ``width`` screen pixels wide, as wide on a 2x screen as on a 1x one (a cosmetic
    pen's width is in device pixels). Other keywords as :func:`pyqtgraph.mkPen`."""
    return pg.mkPen(colour, width=width * device_pixel_ratio(), **kwargs)


class ClippedAxisItem(pg.AxisItem):
    """A :class:`pyqtgraph.AxisItem` that clips its painter to its bounds before painting (the
    fast path of the raster engine for its grid lines; the pixels are the same)."""

    def paint(self, p, opt, widget) -> None:  # pyqtgraph override
        p.setClipRect(self.boundingRect())
        super().paint(p, opt, widget)


class IntegerAxisItem(ClippedAxisItem):
    """An axis whose ticks fall on whole numbers only (epochs: no tick at epoch 1.5)."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float):  # pyqtgraph override
        levels = [
            (float(round(spacing)), 0.0)
            for spacing, _offset in super().tickSpacing(minVal, maxVal, size)
            if spacing >= 1 and abs(spacing - round(spacing)) < 1e-9
        ]
        return levels or [(1.0, 0.0)]


class PlotWidget(pg.PlotWidget):
    """pyqtgraph's plot widget, whose context menu is built at the first right press instead of up
    front: ~11 ms of the ~42 that a plot costs to make, and the window makes ~15 of them."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("enableMenu", False)
        super().__init__(*args, **kwargs)
        self.menu_wanted = True  # False: a figure, with no menu at all
        self.empty_label: pg.TextItem | None = None  # see set_empty

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


def axis_items(*, integer_x: bool = False) -> dict[str, ClippedAxisItem]:
    """New left and bottom axes for a ``PlotWidget(axisItems=...)``: major and minor ticks (and grid
    lines) only; pyqtgraph's third level, at a tenth of the major interval, doubles what a change of
    range costs to lay out and draw, for lines too faint to read. ``integer_x``: ticks on whole
    numbers only along x."""
    items = {
        name: (IntegerAxisItem if integer_x and name == "bottom" else ClippedAxisItem)(name) for name in AXES
    }
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
    integer_x: bool = False,
    min_height: int = 140,
) -> PlotWidget:
    """A plot in the application palette's colours (dark themes included), with clipped axes.
    ``static`` makes it a figure rather than a tool: no mouse panning, menu or auto-range button;
    ``integer_x`` puts the x ticks on whole numbers (epochs)."""
    colours = plot_colours()
    widget = widget_class(background=colours.background, axisItems=axis_items(integer_x=integer_x))
    item = widget.getPlotItem()
    item.setTitle(title, color=colours.text.name(), size="10pt")
    if static:
        widget.menu_wanted = False
        item.hideButtons()
        item.setMouseEnabled(x=False, y=False)
    item.showGrid(x=grid_x, y=True, alpha=0.15)
    for name, label in (("bottom", x_label), ("left", y_label)):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(colours.text))
        axis.setTextPen(pg.mkPen(colours.text))
        axis.enableAutoSIPrefix(False)  # "score (x0.001)" over 350 means 0.35: write the values
        if label:
            axis.setLabel(label, color=colours.text.name())
    widget.setMinimumHeight(min_height)
    return widget


# --- legends --------------------------------------------------------------------------------------

#: Where a legend goes in a :class:`pyqtgraph.PlotItem`'s layout (row, column): ``top`` takes the row
#: of the (hidden) top axis, between the title and the data; ``right`` a column of its own.
LEGEND_PLACES = {"top": (1, 1), "right": (2, 3)}


class PlotLegend(pg.LegendItem):
    """A legend in its plot's layout, beside the data (never over it), in the palette's text colour.

    ``place="right"``: a column beside the data, in as many columns as its height needs, moved above
    the data when that would take more than :data:`RIGHT_SHARE` of the plot's width (a narrow chart);
    ``place="top"``: a row between the title and the data, as many entries a row as the width holds
    (two rows at most: on a plot too narrow even for that the entries are clipped rather than stacked
    over its whole height). It is arranged again whenever the plot is resized.

    A click on an entry's name toggles its item, as pyqtgraph's click on the swatch does; the name of
    a hidden item is drawn muted. Items added to the plot with a ``name`` are listed (it is the plot
    item's ``legend``)."""

    def __init__(self, plot_item: pg.PlotItem, *, place: str = "right", columns: int = 1) -> None:
        colours = plot_colours()
        super().__init__(
            offset=None, labelTextColor=colours.text, frame=False, colCount=columns, horSpacing=4
        )
        self.colours = colours
        self.wanted = place  # where it goes when there is room
        self.place = ""  # where it is
        self._plot_item = plot_item
        self._most_columns = columns if place == "top" else 1000
        # in a layout, not anchored over the view box: it scales with the plot like everything else
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, False)
        # its own size, not its cell's: stretched, its rows would spread over the plot's height
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        plot_item.hideAxis("top")  # its cell is the legend's when it sits above the data
        plot_item.layout.removeItem(plot_item.getAxis("top"))
        self._move_to(place)
        plot_item.legend = self
        self.sigSampleClicked.connect(self._on_sample_clicked)
        plot_item.geometryChanged.connect(self.arrange)

    def entries(self) -> list[tuple[object, str]]:
        """``(item, name)`` of every entry, in order."""
        return [(sample.item, label.text) for sample, label in self.items]

    def label_of(self, item: object) -> pg.LabelItem | None:
        return next((label for sample, label in self.items if sample.item is item), None)

    def toggle(self, item: object) -> None:
        """What a click on ``item``'s entry does: hide it, or show it again."""
        for sample, _label in self.items:
            if sample.item is item:
                item.setVisible(not item.isVisible())
                sample.update()
                self.sigSampleClicked.emit(item)
                return

    def addItem(self, item, name) -> None:  # pyqtgraph override: entries of a hidden item look it
        super().addItem(item, name)
        self._mark(item)
        self.arrange()

    def arrange(self) -> None:
        """Place the legend and choose its columns for the plot's size now."""
        if not self.items:
            return
        n = len(self.items)
        size = self._plot_item.geometry()
        entry = max(sample.width() + label.effectiveSizeHint(Qt.SizeHint.PreferredSize).width() + 12
                    for sample, label in self.items)  # fmt: skip
        place = self.wanted
        if place == "right":
            rows = max(1, int((size.height() - 70) // ENTRY_HEIGHT))
            columns = math.ceil(n / rows)
            if columns * entry > RIGHT_SHARE * size.width():
                place = "top"
        if place == "top":
            axis = self._plot_item.getAxis("left")
            room = size.width() - (axis.width() if axis.isVisible() else 0) - 8
            fit = int(max(1, room // max(entry, 1)))
            columns = min(self._most_columns, n, max(fit, math.ceil(n / 2)))
        if place != self.place:
            self._move_to(place)
        if columns != self.columnCount:
            self.setColumnCount(columns)

    def _move_to(self, place: str) -> None:
        layout = self._plot_item.layout
        if self.place:
            layout.removeItem(self)
        self.place = place
        self.layout.setContentsMargins(8 if place == "right" else 4, 0, 4, 0)
        layout.addItem(self, *LEGEND_PLACES[place], alignment=_ALIGN[place])

    def sizeHint(self, which, constraint=QSizeF()):  # noqa: B008 Qt override
        hint = super().sizeHint(which, constraint)
        if self.place == "top" and which == Qt.SizeHint.MinimumSize:
            hint.setWidth(0)  # never widen the plot past its view: the entries wrap instead
        return hint

    def updateSize(self) -> None:  # pyqtgraph override: the plot's layout places and sizes it
        self.updateGeometry()

    def hoverEvent(self, event) -> None:  # pyqtgraph override: laid out, it is not dragged about
        pass

    def mouseDragEvent(self, event) -> None:  # pyqtgraph override
        event.ignore()

    def mouseClickEvent(self, event) -> None:  # pyqtgraph: a click on an entry's name
        if event.button() != Qt.MouseButton.LeftButton:
            return
        for sample, label in self.items:
            if label.isVisible() and label.geometry().contains(event.pos()):
                event.accept()
                self.toggle(sample.item)
                return

    def _on_sample_clicked(self, item: object) -> None:
        self._mark(item)

    def _mark(self, item: object) -> None:
        label = self.label_of(item)
        if label is not None:
            shown = not hasattr(item, "isVisible") or item.isVisible()
            label.setText(label.text, color=QColor(self.colours.text if shown else self.colours.muted))


#: A legend to the right of the data takes at most this share of the plot's width, else it goes above.
RIGHT_SHARE = 0.3
ENTRY_HEIGHT = 22  # pixels: an entry's row, for the columns a legend to the right needs
_ALIGN = {
    "top": Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
    "right": Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
}


def add_legend(plot: pg.PlotWidget | pg.PlotItem, *, place: str = "right", columns: int = 1) -> PlotLegend:
    """The plot's legend, made on the first call: ``place`` ``"top"`` (a row above the data: a few
    entries on a narrow plot, at most ``columns`` a row) or ``"right"`` (a column beside it, or more
    for many runs; above the data when the plot is too narrow for it): see :class:`PlotLegend`."""
    item = plot.getPlotItem() if isinstance(plot, pg.PlotWidget) else plot
    if isinstance(item.legend, PlotLegend):
        return item.legend
    return PlotLegend(item, place=place, columns=columns)


# --- empty state ----------------------------------------------------------------------------------


def set_empty(widget: PlotWidget, empty: bool, text: str = EMPTY_TEXT) -> None:
    """Show ``text`` in the middle of the plot, without ticks or legend, while it has nothing to show
    (axes of 0 to 1 for no data are invented numbers); ``empty=False`` brings them back."""
    item = widget.getPlotItem()
    label = widget.empty_label
    if empty and label is None:
        label = widget.empty_label = pg.TextItem(text, color=plot_colours().muted, anchor=(0.5, 0.5))
        item.addItem(label, ignoreBounds=True)
        label.setPos(0.5, 0.5)
    elif label is not None:
        label.setText(text)
    if label is not None:
        label.setVisible(empty)
    if item.legend is not None:
        item.legend.setVisible(not empty)
    for name in AXES:
        axis = item.getAxis(name)
        if axis.style["showValues"] == empty:
            axis.setStyle(showValues=not empty)
            axis.setTicks([[], []] if empty else None)  # no grid lines either
    if empty:
        item.getViewBox().setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        item.getViewBox().enableAutoRange()


def is_empty(widget: PlotWidget) -> bool:
    """Whether the plot shows its empty state."""
    return widget.empty_label is not None and widget.empty_label.isVisible()
