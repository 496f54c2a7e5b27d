"""The architecture diagram of the Model page: one box per block, arrows between them.

What each block says is the core's (:func:`mmstudio.training.preflight.architecture_diagram` makes a
:class:`~mmstudio.training.preflight.DiagramData` from a spec, its summary, the data context and the
issues: the text branch (input → encoder), the image branch, and the trunk (fusion → head), each
block with its name, output shapes and parameter count, and the totals; ``mmstudio train --check``
prints the same). :class:`ArchitectureDiagramWidget` draws it top to bottom in a ``QGraphicsView``,
fitted to the view, in colours derived from the palette (light and dark themes alike).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)

from mmstudio.training.preflight import DiagramBlock, DiagramData

ROLE_COLOURS = {
    "text": QColor(37, 99, 235),  # blue
    "image": QColor(5, 150, 105),  # green
    "fusion": QColor(124, 58, 237),  # violet
    "head": QColor(217, 119, 6),  # amber
    "input": QColor(100, 116, 139),  # slate
}
LEVEL_COLOURS = {"error": QColor(220, 38, 38), "warning": QColor(217, 119, 6)}


# --- the drawing ---------------------------------------------------------------------------------


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved ``t`` of the way to ``b``."""
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


BLOCK_WIDTH = 250.0
PADDING = 10.0
COLUMN_GAP = 36.0
ROW_GAP = 34.0
MAX_SCALE = 1.35
TEXT_WIDTH = 540.0  # the width the lines under the diagram may take, even under a single branch


class ArchitectureDiagramWidget(QGraphicsView):
    """Draws a :class:`DiagramData`; fitted to the view whenever it or the data changes. A click on a
    block emits :attr:`block_clicked` with its key (the page shows that block's settings)."""

    block_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("architectureDiagram")
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setMinimumSize(280, 240)
        self._data = DiagramData()
        self._items: dict[str, QGraphicsRectItem] = {}
        self._redraw()

    # --- what the page and the tests use ------------------------------------------------------------

    def set_diagram(self, data: DiagramData) -> None:
        self._data = data
        self._redraw()

    def diagram(self) -> DiagramData:
        return self._data

    def block_keys(self) -> list[str]:
        return list(self._data.blocks)

    def block_text(self, key: str) -> str:
        """Everything written in block ``key`` (title, name, shapes, parameters), one line each."""
        return self._data.blocks[key].text()

    def footer_text(self) -> str:
        return "\n".join(self._data.footer)

    def block_item(self, key: str) -> QGraphicsRectItem:
        return self._items[key]

    # --- drawing ----------------------------------------------------------------------------------

    def _fonts(self) -> dict[str, QFont]:
        base = QFont(self.font())
        size = base.pointSizeF() if base.pointSizeF() > 0 else 10.0
        small = QFont(base)
        small.setPointSizeF(size * 0.85)
        name = QFont(base)
        name.setPointSizeF(size * 1.12)
        name.setBold(True)
        title = QFont(small)
        title.setCapitalization(QFont.Capitalization.AllUppercase)
        title.setLetterSpacing(QFont.SpacingType.PercentageSpacing, 106)
        return {"title": title, "name": name, "line": base, "small": small}

    def _redraw(self) -> None:
        self._scene.clear()
        self._items.clear()
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        ink = palette.color(QPalette.ColorRole.Text)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        self.setBackgroundBrush(QBrush(base))
        fonts = self._fonts()
        data = self._data

        branches = [b for b in (data.text, data.image) if b]
        columns = max(1, len(branches))
        total_width = columns * BLOCK_WIDTH + (columns - 1) * COLUMN_GAP
        centre = total_width / 2
        text_width = max(total_width + BLOCK_WIDTH / 2, TEXT_WIDTH)
        y = 0.0
        bottoms: list[tuple[float, float]] = []  # (x centre, y bottom) of each branch's last block
        if branches:
            rows = max(len(b) for b in branches)
            for row in range(rows):
                height = max(self._block_height(b[row], fonts) for b in branches if row < len(b))
                for col, branch in enumerate(branches):
                    if row >= len(branch):
                        continue
                    x = col * (BLOCK_WIDTH + COLUMN_GAP)
                    self._draw_block(branch[row], x, y, height, fonts, base, ink, muted)
                    if row > 0:
                        self._arrow(
                            QPointF(x + BLOCK_WIDTH / 2, y - ROW_GAP), QPointF(x + BLOCK_WIDTH / 2, y), ink
                        )
                    if row == len(branch) - 1:
                        bottoms.append((x + BLOCK_WIDTH / 2, y + height))
                y += height + ROW_GAP
        for index, block in enumerate(data.trunk):
            height = self._block_height(block, fonts)
            x = centre - BLOCK_WIDTH / 2
            self._draw_block(block, x, y, height, fonts, base, ink, muted)
            if index == 0:
                for bx, by in bottoms:
                    self._arrow(QPointF(bx, by), QPointF(centre, y), ink, bend=True)
            else:
                self._arrow(QPointF(centre, y - ROW_GAP), QPointF(centre, y), ink)
            y += height + ROW_GAP
        if data.trunk and data.output:
            self._arrow(QPointF(centre, y - ROW_GAP), QPointF(centre, y - ROW_GAP / 3), ink)
            label = self._text(data.output, fonts["line"], ink)
            self._fit_text(label, text_width)
            label.setPos(centre - label.boundingRect().width() / 2, y - ROW_GAP / 3 + 4)
            y += label.boundingRect().height() + 8
        y += 10
        for index, line in enumerate(data.footer):
            font = fonts["line"] if index == 0 else fonts["small"]
            item = self._text(line, font, ink if index < 2 else muted)
            self._fit_text(item, text_width)
            item.setPos(centre - item.boundingRect().width() / 2, y)
            y += item.boundingRect().height() + 3
        rect = self._scene.itemsBoundingRect().adjusted(-16, -16, 16, 16)
        self._scene.setSceneRect(rect)
        self._fit()

    def _block_height(self, block: DiagramBlock, fonts: dict[str, QFont]) -> float:
        height = PADDING * 2
        height += QFontMetricsF(fonts["title"]).height() + 1
        height += QFontMetricsF(fonts["name"]).height() + 3
        height += len(block.lines) * (QFontMetricsF(fonts["line"]).height() + 1)
        if block.params:
            height += QFontMetricsF(fonts["small"]).height() + 3
        return height

    def _draw_block(
        self,
        block: DiagramBlock,
        x: float,
        y: float,
        height: float,
        fonts: dict[str, QFont],
        base: QColor,
        ink: QColor,
        muted: QColor,
    ) -> None:
        accent = ROLE_COLOURS.get(block.role, ROLE_COLOURS["input"])
        dark = base.lightness() < 128
        fill = _mix(base, accent, 0.22 if dark else 0.09)
        border = _mix(accent, ink, 0.15)
        width = 1.4
        if block.level in LEVEL_COLOURS:
            border, width = LEVEL_COLOURS[block.level], 2.6
        rect = QGraphicsRectItem(QRectF(0, 0, BLOCK_WIDTH, height))
        path = QPainterPath()
        path.addRoundedRect(QRectF(0, 0, BLOCK_WIDTH, height), 8, 8)
        rect.setPen(QPen(Qt.PenStyle.NoPen))
        rect.setBrush(Qt.BrushStyle.NoBrush)
        rect.setPos(x, y)
        rect.setToolTip(block.tooltip)
        rect.setData(0, block.key)
        rect.setCursor(Qt.CursorShape.PointingHandCursor)
        shape = QGraphicsPathItem(path, rect)
        shape.setBrush(QBrush(fill))
        shape.setPen(QPen(border, width))
        stripe = QPainterPath()
        stripe.addRoundedRect(QRectF(0, 0, 5, height), 2.5, 2.5)
        bar = QGraphicsPathItem(stripe, rect)
        bar.setBrush(QBrush(border if block.level else accent))
        bar.setPen(QPen(Qt.PenStyle.NoPen))
        self._scene.addItem(rect)
        self._items[block.key] = rect

        left = PADDING + 6
        text_width = BLOCK_WIDTH - left - PADDING
        top = PADDING
        title = self._text(block.title, fonts["title"], _mix(muted, accent, 0.35), rect)
        title.setPos(left, top)
        top += QFontMetricsF(fonts["title"]).height() + 1
        name = self._text(block.name, fonts["name"], ink, rect)
        self._fit_text(name, text_width)
        name.setPos(left, top)
        top += QFontMetricsF(fonts["name"]).height() + 3
        for line in block.lines:
            item = self._text(line, fonts["line"], ink, rect)
            self._fit_text(item, text_width)
            item.setPos(left, top)
            top += QFontMetricsF(fonts["line"]).height() + 1
        if block.params:
            item = self._text(block.params, fonts["small"], muted, rect)
            self._fit_text(item, text_width)
            item.setPos(left, top + 2)

    def _text(
        self, text: str, font: QFont, colour: QColor, parent: QGraphicsItem | None = None
    ) -> QGraphicsSimpleTextItem:
        item = QGraphicsSimpleTextItem(text, parent)
        item.setFont(font)
        item.setBrush(QBrush(colour))
        if parent is None:
            self._scene.addItem(item)
        return item

    @staticmethod
    def _fit_text(item: QGraphicsSimpleTextItem, width: float) -> None:
        """Elide a line that would overflow its box (the full text stays in the tooltip)."""
        metrics = QFontMetricsF(item.font())
        full = item.text()
        if metrics.horizontalAdvance(full) > width:
            item.setText(metrics.elidedText(full, Qt.TextElideMode.ElideRight, width))
            item.setToolTip(full)

    def _arrow(self, start: QPointF, end: QPointF, ink: QColor, *, bend: bool = False) -> None:
        colour = QColor(ink)
        colour.setAlphaF(0.55)
        path = QPainterPath(start)
        if bend and abs(start.x() - end.x()) > 1:
            middle = (start.y() + end.y()) / 2
            path.cubicTo(QPointF(start.x(), middle), QPointF(end.x(), middle), QPointF(end.x(), end.y() - 7))
        else:
            path.lineTo(QPointF(end.x(), end.y() - 7))
        line = QGraphicsPathItem(path)
        line.setPen(QPen(colour, 1.6))
        self._scene.addItem(line)
        head = QPainterPath()
        head.moveTo(end)
        head.lineTo(end.x() - 5, end.y() - 8)
        head.lineTo(end.x() + 5, end.y() - 8)
        head.closeSubpath()
        tip = QGraphicsPathItem(head)
        tip.setBrush(QBrush(colour))
        tip.setPen(QPen(Qt.PenStyle.NoPen))
        self._scene.addItem(tip)

    def _fit(self) -> None:
        """Scale the whole diagram into the view (never above :data:`MAX_SCALE`), centred."""
        rect = self._scene.sceneRect()
        viewport = self.viewport().rect()
        if rect.isEmpty() or viewport.width() < 10 or viewport.height() < 10:
            return
        scale = min(viewport.width() / rect.width(), viewport.height() / rect.height(), MAX_SCALE)
        self.resetTransform()
        self.scale(scale, scale)
        self.centerOn(rect.center())

    def block_at(self, point: Any) -> str | None:
        """The key of the block under ``point`` (view coordinates), or None."""
        item = self.itemAt(point)
        while item is not None:
            key = item.data(0)
            if key:
                return str(key)
            item = item.parentItem()
        return None

    def mousePressEvent(self, event: Any) -> None:
        key = self.block_at(event.position().toPoint())
        if key is not None and event.button() == Qt.MouseButton.LeftButton:
            self.block_clicked.emit(key)
            event.accept()
            return
        super().mousePressEvent(event)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._fit()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange):
            self._redraw()
