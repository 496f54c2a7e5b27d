"""How the gallery paints one cell: the thumbnail, two lines of caption, the label as a chip.

Painting is the gallery's hot path while it scrolls: a cell's text is laid out once and kept
(``QStaticText``), the enum members a cell uses are looked up once, and the thumbnail comes from the
:class:`~mmstudio.ui.thumbnails.ThumbnailLoader`'s cache (asked for, never waited on). A thumbnail
with transparency is drawn over the card as it is (plain, hovered or selected), never over white;
text is written by :func:`mmstudio.formatting.printable_text` (no control character drawn as a box).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QObject, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPalette, QStaticText
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from mmstudio.data.types import Item
from mmstudio.formatting import printable_text
from mmstudio.ui.datasets.gallery_model import GalleryListModel
from mmstudio.ui.thumbnails import ThumbnailLoader

# Soft chip colours for labels; a label always gets the same one (a hash of its name).
_CHIP_COLOURS = (
    "#dbe9f6", "#fde2c8", "#d7f0d9", "#f6d6d6", "#e6dcf3", "#f3e6cf", "#d3eef0", "#f5d9ea", "#e4e8c9",
    "#dde3ea",
)  # fmt: skip


def chip_colour(label: str) -> QColor:
    return QColor(_CHIP_COLOURS[zlib.crc32(label.encode("utf-8", "surrogatepass")) % len(_CHIP_COLOURS)])


def two_lines(fm: QFontMetrics, text: str, width: int) -> tuple[str, str]:
    """``text`` wrapped at word boundaries into at most two lines of ``width`` pixels, the second elided."""
    text = " ".join(text.split())
    words = text.split(" ")
    first = ""
    for n, word in enumerate(words):
        candidate = f"{first} {word}" if first else word
        if fm.horizontalAdvance(candidate) > width:
            if not first:  # one long word: it takes the first line alone
                return fm.elidedText(text, Qt.TextElideMode.ElideRight, width), ""
            rest = " ".join(words[n:])
            return first, fm.elidedText(rest, Qt.TextElideMode.ElideRight, width)
        first = candidate
    return first, ""


@dataclass(frozen=True)
class _CellText:
    """A cell's text, laid out once (QStaticText: drawing it again skips the layout, ~40% of a
    drawText)."""

    first: QStaticText
    second: QStaticText
    label: QStaticText | None
    label_width: int


def _static(text: str) -> QStaticText:
    static = QStaticText(text)
    static.setTextFormat(Qt.TextFormat.PlainText)
    return static


# Looked up once: an enum member from Python costs a few microseconds, and a cell used ~15 of them.
_SELECTED, _HOVERED = QStyle.StateFlag.State_Selected, QStyle.StateFlag.State_MouseOver
_NO_PEN, _KEEP_ASPECT = Qt.PenStyle.NoPen, Qt.AspectRatioMode.KeepAspectRatio
_ANTIALIASING, _CENTER = QPainter.RenderHint.Antialiasing, Qt.AlignmentFlag.AlignCenter
_HIGHLIGHT, _ALTERNATE_BASE = QPalette.ColorRole.Highlight, QPalette.ColorRole.AlternateBase
_TEXT, _PLACEHOLDER = QPalette.ColorRole.Text, QPalette.ColorRole.PlaceholderText
_ELIDE_RIGHT = Qt.TextElideMode.ElideRight
_CHIP_TEXT = QColor("#1f2933")


class GalleryDelegate(QStyledItemDelegate):
    """One cell: the thumbnail, two lines of caption, the label as a chip."""

    PAD = 8

    LINES_CACHE = 4096  # cells whose text is kept laid out (wrapping is most of a cell's painting time)

    def __init__(self, loader: ThumbnailLoader, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._loader = loader
        self._texts: dict[tuple[int, int], _CellText] = {}  # (item index, width) -> its text

    def clear_cache(self) -> None:
        self._texts.clear()

    def _cell_text(self, fm: QFontMetrics, item: Item, width: int) -> _CellText:
        key = (item.index, width)
        text = self._texts.get(key)
        if text is None:
            if len(self._texts) >= self.LINES_CACHE:
                self._texts.clear()
            first, second = two_lines(fm, printable_text(item.text), width)
            label, label_width = None, 0
            if item.label is not None:
                elided = fm.elidedText(printable_text(item.label), _ELIDE_RIGHT, width - 12)
                label, label_width = _static(elided), fm.horizontalAdvance(elided)
            text = self._texts[key] = _CellText(_static(first), _static(second), label, label_width)
        return text

    def cell_size(self, fm: QFontMetrics) -> QSize:
        t = self._loader.size
        line = fm.height()
        return QSize(t + 2 * self.PAD + 8, self.PAD + t + 6 + 2 * line + 6 + line + 6 + self.PAD)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        # In a view with a grid (the gallery's), an item is its whole grid cell, the card in its middle.
        view = option.widget
        grid = view.gridSize() if isinstance(view, QListView) else QSize()
        return grid if grid.isValid() else self.cell_size(option.fontMetrics)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        model = index.model()
        if not isinstance(model, GalleryListModel) or index.row() >= model.shown_count():
            return
        item = model.item(index.row())
        palette = option.palette
        fm = option.fontMetrics
        card, cell = self.cell_size(fm), option.rect
        rect = QRect(
            cell.x() + (cell.width() - card.width()) // 2,
            cell.y() + (cell.height() - card.height()) // 2,
            card.width(),
            card.height(),
        ).adjusted(2, 2, -2, -2)
        t = self._loader.size
        painter.save()
        painter.setRenderHint(_ANTIALIASING)
        state = option.state
        if state & _SELECTED:
            colour = QColor(palette.color(_HIGHLIGHT))
            colour.setAlpha(70)
            painter.setPen(palette.color(_HIGHLIGHT))
            painter.setBrush(colour)
            painter.drawRoundedRect(rect, 6, 6)
        elif state & _HOVERED:
            colour = QColor(palette.color(_HIGHLIGHT))
            colour.setAlpha(25)
            painter.setPen(_NO_PEN)
            painter.setBrush(colour)
            painter.drawRoundedRect(rect, 6, 6)
        thumb = QRect(rect.x() + (rect.width() - t) // 2, rect.y() + self.PAD - 2, t, t)
        pixmap = self._loader.thumbnail(item)
        if pixmap is not None and not pixmap.isNull():
            size = pixmap.size().scaled(thumb.size(), _KEEP_ASPECT)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(thumb.center())
            target.moveBottom(thumb.bottom())  # every image sits on the caption's line
            painter.drawPixmap(target, pixmap)
        else:
            painter.setPen(_NO_PEN)
            painter.setBrush(palette.color(_ALTERNATE_BASE))
            painter.drawRect(thumb)
            if pixmap is not None:  # a null pixmap: the image cannot be decoded
                painter.setPen(palette.color(_PLACEHOLDER))
                painter.drawText(thumb, _CENTER, "no preview")
        text_width = rect.width() - 2 * self.PAD
        y = thumb.bottom() + 6
        text = self._cell_text(fm, item, text_width)
        line = fm.height()
        left = rect.x() + self.PAD
        painter.setPen(palette.color(_TEXT))
        painter.drawStaticText(left, y, text.first)
        painter.drawStaticText(left, y + line, text.second)
        if text.label is not None:
            chip = QRect(left, y + 2 * line + 6, text.label_width + 12, line + 4)
            painter.setPen(_NO_PEN)
            painter.setBrush(chip_colour(item.label))
            painter.drawRoundedRect(chip, chip.height() / 2, chip.height() / 2)
            painter.setPen(_CHIP_TEXT)
            painter.drawStaticText(chip.x() + 6, chip.y() + 2, text.label)
        painter.restore()
