"""The dataset gallery: every usable pair as a thumbnail, its caption and its label, virtualised.

* :class:`GalleryListModel` holds the items and the rows a search leaves. Its row count lives in C++
  (see the class docstring): a 100,000-item reset is O(1) and the view lays it out in milliseconds.
* :class:`SearchIndex` (built off the GUI thread while the dataset loads) makes a text search over
  100,000 captions a plain list scan, and a label filter a dict lookup.
* :class:`ThumbnailLoader` decodes thumbnails in its own ``QThreadPool``: only rows that are painted
  ask for one, the newest request is served first, requests still queued when the user scrolls away
  are dropped, and finished thumbnails sit in an LRU cache of ``QPixmap``.
* :class:`GalleryDelegate` paints one cell; :class:`ItemDialog` shows one pair at full size.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFontMetrics,
    QImage,
    QPainter,
    QPalette,
    QPixmap,
    QStandardItemModel,
    QStaticText,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QSizePolicy,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from mmstudio.data.types import ImageRef, Item
from mmstudio.ui.resources import icon
from mmstudio.ui.tasks import run_task
from mmstudio.ui.thumbnails import ThumbnailLoader, qimage, unpad

PREVIEW_MAX_SIDE = 2048  # the larger view decodes at most this many pixels per side
ALL_LABELS = "All labels"

# Soft chip colours for labels; a label always gets the same one (a hash of its name).
_CHIP_COLOURS = (
    "#dbe9f6", "#fde2c8", "#d7f0d9", "#f6d6d6", "#e6dcf3", "#f3e6cf", "#d3eef0", "#f5d9ea", "#e4e8c9",
    "#dde3ea",
)  # fmt: skip


# --- search -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchIndex:
    """What a search needs, computed once per dataset (off the GUI thread): case-folded captions and
    the item numbers of each label."""

    texts: list[str]
    by_label: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, items: Sequence[Item]) -> SearchIndex:
        by_label: dict[str, list[int]] = {}
        for n, item in enumerate(items):
            if item.label is not None:
                by_label.setdefault(item.label, []).append(n)
        return cls([item.text.casefold() for item in items], by_label)

    def rows(self, text: str = "", label: str | None = None) -> list[int] | None:
        """The item numbers whose caption contains every word of ``text`` (case-insensitive) and whose
        label is ``label``; ``None`` when nothing is filtered (every item)."""
        words = text.casefold().split()
        if not words and label is None:
            return None
        candidates: Sequence[int] = (
            self.by_label.get(label, []) if label is not None else range(len(self.texts))
        )
        if not words:
            return list(candidates)
        texts = self.texts
        # One list comprehension per word, each over what the previous word left: a plain ``in`` per
        # caption is the fastest scan Python has (100,000 captions: ~15 ms for the first word).
        first = words[0]
        if label is None:
            rows = [n for n, t in enumerate(texts) if first in t]
        else:
            rows = [n for n in candidates if first in texts[n]]
        for word in words[1:]:
            rows = [n for n in rows if word in texts[n]]
        return rows


# --- the model --------------------------------------------------------------------------------


class GalleryListModel(QStandardItemModel):
    """A list model over ``dataset.items``, showing the rows a search leaves.

    Why a ``QStandardItemModel`` base and not ``QAbstractListModel``: ``QListView`` lays items out by
    calling ``model.index(row)`` for every row, and ``QAbstractListModel.index`` calls ``rowCount`` for
    each; a Python ``rowCount`` is then called 400,000 times for 100,000 items (a 250-400 ms stall per
    layout, measured). Here the row count is ``setRowCount`` on the C++ side, no ``QStandardItem`` is
    ever created, and ``data`` is answered from the Python items: the same layout takes 15-30 ms.
    """

    ItemRole = Qt.ItemDataRole.UserRole + 1
    LabelRole = Qt.ItemDataRole.UserRole + 2

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(1)
        self._items: Sequence[Item] = []
        self._rows: list[int] | None = None  # item numbers shown, or None for all of them
        self._index: SearchIndex | None = None
        self._filter: tuple[str, str | None] = ("", None)

    # items and filter

    def set_items(self, items: Sequence[Item], index: SearchIndex | None = None) -> None:
        """Show ``items`` (O(1): nothing is done per item); ``index`` is built later if not given."""
        self._items, self._index, self._rows = items, index, None
        self._filter = ("", None)
        self._reset(len(items))

    def set_filter(self, text: str = "", label: str | None = None) -> None:
        """Show the items whose caption contains every word of ``text`` and whose label is ``label``."""
        if (text.strip(), label) == self._filter:
            return
        self._filter = (text.strip(), label)
        if self._index is None and (text.strip() or label is not None):
            self._index = SearchIndex.of(self._items)
        rows = self._index.rows(text, label) if self._index is not None else None
        self._rows = rows
        self._reset(len(self._items) if rows is None else len(rows))

    def _reset(self, count: int) -> None:
        self.beginResetModel()
        self.blockSignals(True)  # a reset is announced once, not as rows removed and inserted
        try:
            self.setRowCount(count)
        finally:
            self.blockSignals(False)
        self.endResetModel()

    @property
    def items(self) -> Sequence[Item]:
        return self._items

    @property
    def filter(self) -> tuple[str, str | None]:
        return self._filter

    def total_count(self) -> int:
        return len(self._items)

    def shown_count(self) -> int:
        return len(self._items) if self._rows is None else len(self._rows)

    def item(self, row: int) -> Item:
        """The item shown at ``row``."""
        return self._items[row if self._rows is None else self._rows[row]]

    # Qt model interface

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.column() != 0 or not 0 <= index.row() < self.shown_count():
            return None
        item = self.item(index.row())
        if role == Qt.ItemDataRole.DisplayRole:
            return item.text
        if role == self.ItemRole:
            return item
        if role == self.LabelRole:
            return item.label
        if role == Qt.ItemDataRole.ToolTipRole:
            label = f"{item.label} · " if item.label is not None else ""
            return f"{_short(item.text, 400)}\n\n{label}{item.split} · {item.image}"
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# --- painting ---------------------------------------------------------------------------------


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
            first, second = two_lines(fm, item.text, width)
            label, label_width = None, 0
            if item.label is not None:
                elided = fm.elidedText(item.label, _ELIDE_RIGHT, width - 12)
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


# --- the larger view --------------------------------------------------------------------------


class ImageView(QWidget):
    """An image scaled to fit the widget, aspect ratio kept; a line of text until it is set."""

    MAX_ZOOM = 8

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self._text = "Loading…"
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_pixmap(self, pixmap: QPixmap) -> None:
        self._pixmap, self._text = pixmap, ""
        self.update()

    def set_text(self, text: str) -> None:
        self._pixmap, self._text = None, text
        self.update()

    @property
    def pixmap(self) -> QPixmap | None:
        return self._pixmap

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Base))
        if self._pixmap is None or self._pixmap.isNull():
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._text)
            return
        size = self._pixmap.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        if size.width() > self._pixmap.width() * self.MAX_ZOOM:  # a tiny image: at most 8x, pixels shown
            size = self._pixmap.size() * self.MAX_ZOOM
        target = QRect(QPoint(0, 0), size)
        target.moveCenter(self.rect().center())
        # Smooth when shrinking; when enlarging, show the pixels as they are (what the model sees).
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, size.width() < self._pixmap.width())
        painter.drawPixmap(target, self._pixmap)


def decode_preview(state, ref: ImageRef, width: int, height: int) -> QImage:
    """The image for the larger view (in a task): full size, or at most PREVIEW_MAX_SIDE per side."""
    from mmstudio.data.images import decode_rgb

    if max(width, height) <= PREVIEW_MAX_SIDE:
        return qimage(decode_rgb(ref))
    # decode_rgb(size=...) letterboxes into a square (and uses JPEG draft decoding): cut the bars off.
    return unpad(qimage(decode_rgb(ref, PREVIEW_MAX_SIDE, fit="pad")), width, height)


class ItemDialog(QDialog):
    """One pair: the image at full size (fit to the window), the whole caption, label, split and path."""

    def __init__(self, item: Item, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.item = item
        self.setWindowTitle(f"Row {item.row} of {item.source}")
        self.setSizeGripEnabled(True)
        self.image_view = ImageView()
        details = QWidget()
        form = QFormLayout(details)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.caption = QPlainTextEdit(item.text)
        self.caption.setReadOnly(True)
        self.caption.setMinimumHeight(60)
        form.addRow("Caption", self.caption)
        for name, value in (
            ("Label", item.label if item.label is not None else "(none)"),
            ("Split", item.split),
            ("Image", str(item.image)),
            ("Size", f"{item.width} × {item.height} px" if item.width else "unknown"),
            ("Row", f"{item.source} row {item.row}"),
        ):
            label = QLabel(value)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            form.addRow(name, label)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.image_view)
        splitter.addWidget(details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)
        self.resize(760, 680)
        self._task = run_task(decode_preview, item.image, item.width, item.height)
        self._task.succeeded.connect(self._on_task_succeeded)
        self._task.failed.connect(self._on_task_failed)

    @property
    def loaded(self) -> bool:
        return self._task.done

    def _on_task_succeeded(self, image: QImage) -> None:
        self.image_view.set_pixmap(QPixmap.fromImage(image))

    def _on_task_failed(self, message: str, _traceback: str) -> None:
        self.image_view.set_text(f"The image cannot be shown: {message}")

    def done(self, result: int) -> None:
        self._task.cancel()
        super().done(result)


class GalleryView(QListView):
    """A wrapping grid whose columns share the width evenly (no ragged gap on the right)."""

    MIN_SPACING = 4
    # More rows than any screen shows: the vertical scroll bar is shown before they are laid out.
    SCROLL_BAR_ROWS = 2000

    def __init__(self, delegate: GalleryDelegate, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._delegate = delegate

    def reset(self) -> None:
        # The model was reset (a new dataset, a search): its rows are laid out later, once. A scroll
        # bar that appeared after that layout would narrow the viewport and Qt would lay every row
        # out again: 100,000 rows twice, ~10 ms each, in the pass of the first paint (measured).
        # Many rows surely need the bar: it is shown now, before the layout.
        model = self.model()
        rows = model.rowCount() if model is not None else 0
        policy = (
            Qt.ScrollBarPolicy.ScrollBarAlwaysOn
            if rows > self.SCROLL_BAR_ROWS
            else Qt.ScrollBarPolicy.ScrollBarAsNeeded
        )
        if policy != self.verticalScrollBarPolicy():
            self.setVerticalScrollBarPolicy(policy)
        super().reset()

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:  # the view's size, or a scroll bar came or went
            self._fit_grid()
        return super().viewportEvent(event)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:  # the cards' size follows the font
            self._fit_grid()

    def _fit_grid(self) -> None:
        # QListView places cell k of a line at k * grid width and fits (width - 1) // grid width cells
        # per line: the cells share the width, each card in the middle of its cell with at least
        # MIN_SPACING around it. A grid, not a spacing: with a spacing Qt asks every row its size
        # when it lays the rows out, and 100,000 rows take ~40% longer (measured).
        cell = self._delegate.cell_size(self.fontMetrics())
        width = self.viewport().width() - 1  # a line that fills the width exactly wraps
        if width <= 0:
            return
        columns = max(1, width // (cell.width() + 2 * self.MIN_SPACING))
        spacing = max(self.MIN_SPACING, (width // columns - cell.width()) // 2)
        grid = QSize(cell.width() + 2 * spacing, cell.height() + 2 * spacing)
        if grid != self.gridSize():
            self.setGridSize(grid)


# --- the gallery widget -----------------------------------------------------------------------


class GalleryWidget(QWidget):
    """Search field, label filter, count, and the virtualised grid of items."""

    filter_changed = Signal(int, int)  # shown, total
    item_opened = Signal(object)  # the Item whose larger view was opened

    SEARCH_DELAY_MS = 150
    REPAINT_DELAY_MS = 40
    REVEAL_FALLBACK_MS = 100  # hold_grid(): the grid comes back after this even if nothing is painted

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loader = ThumbnailLoader(self)
        self.model = GalleryListModel(self)
        self.delegate = GalleryDelegate(self.loader, self)
        self.dialog: ItemDialog | None = None

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search captions")
        self.search.setClearButtonEnabled(True)
        self.search.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.search.setMinimumWidth(260)
        self.label_filter = QComboBox()
        self.label_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.label_filter.setMinimumWidth(160)
        self.count_label = QLabel()
        self.count_label.setObjectName("galleryCount")

        self.view = GalleryView(self.delegate)
        self.view.setViewMode(QListView.ViewMode.ListMode)
        self.view.setFlow(QListView.Flow.LeftToRight)  # a wrapping grid, like IconMode but laid out 2x faster
        self.view.setWrapping(True)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setUniformItemSizes(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.verticalScrollBar().setSingleStep(24)
        self.view.setMouseTracking(True)
        self.view.setItemDelegate(self.delegate)
        self.view.setModel(self.model)
        self.view.activated.connect(self._on_view_activated)  # double-click or Enter
        self.view.verticalScrollBar().valueChanged.connect(self._on_scrollbar_value_changed)
        self.loader.thumbnail_ready.connect(self._on_loader_thumbnail_ready)

        # Thumbnails arrive one by one: the cells they belong to are repainted together, a few
        # times a second at most, instead of the whole viewport for each one.
        self._arrived: set[ImageRef] = set()
        self._repaint_timer = QTimer(self)
        self._repaint_timer.setSingleShot(True)
        self._repaint_timer.setInterval(self.REPAINT_DELAY_MS)
        self._repaint_timer.timeout.connect(self._repaint_arrived)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(self.SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._apply_filter)
        size_policy = self.view.sizePolicy()
        size_policy.setRetainSizeWhenHidden(True)  # held (hold_grid), the grid keeps its place and size
        self.view.setSizePolicy(size_policy)
        self._grid_focused = False
        self._reveal_timer = QTimer(self)
        self._reveal_timer.setSingleShot(True)
        self._reveal_timer.timeout.connect(self._reveal_grid)
        self.search.textChanged.connect(self._on_search_text_changed)
        self.label_filter.currentIndexChanged.connect(self._on_label_filter_current_index_changed)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.search, 2)
        bar.addWidget(self.label_filter)
        bar.addStretch(1)
        bar.addWidget(self.count_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 8, 0, 0)
        layout.setSpacing(8)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self._set_labels({})
        self._update_count()

    # public

    def set_items(
        self, items: Sequence[Item], index: SearchIndex | None = None, labels: dict[str, int] | None = None
    ) -> None:
        """Show ``items``; ``labels`` (label → count) fills the label filter."""
        self.loader.clear()
        self.delegate.clear_cache()
        self._arrived.clear()
        self._search_timer.stop()
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self._set_labels(labels or {})
        self.model.set_items(items, index)
        self.view.scrollToTop()
        self._update_count()

    def hold_grid(self) -> None:
        """Hide the grid until the rest of the window has been painted, then lay it out, then paint it.

        For a caller that changed much else with the items (the Datasets page when a dataset lands):
        the page is laid out and painted in one pass of the event loop, the grid's rows are laid out
        (100,000 rows: ~5-10 ms) in a later one and its cells first painted (~10-15 ms) in the next,
        instead of one ~45 ms freeze (measured). Nothing is held while the gallery is not on screen."""
        if not self.isVisible():
            return
        if not self._reveal_timer.isActive():
            self._grid_focused = self.view.hasFocus()
        self.view.hide()
        self.view.setUpdatesEnabled(True)
        # Shown when this widget has been painted without it (paintEvent), or after this at most.
        self._reveal_timer.start(self.REVEAL_FALLBACK_MS)

    def grid_held(self) -> bool:
        """True from :meth:`hold_grid` until the grid is shown again."""
        return self._reveal_timer.isActive()

    def set_search_text(self, text: str) -> None:
        """Search now (the field waits for a pause in typing)."""
        self.search.setText(text)
        self._apply_filter()

    def set_label(self, label: str | None) -> None:
        self.label_filter.setCurrentIndex(0 if label is None else max(0, self.label_filter.findData(label)))

    def shown_count(self) -> int:
        return self.model.shown_count()

    def total_count(self) -> int:
        return self.model.total_count()

    def count_text(self) -> str:
        return self.count_label.text()

    def open_item(self, row: int) -> ItemDialog:
        """Open the larger view of the item shown at ``row``."""
        item = self.model.item(row)
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = ItemDialog(item, self)
        self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog.destroyed.connect(self._on_dialog_destroyed)
        self.dialog.show()
        self.item_opened.emit(item)
        return self.dialog

    def visible_rows(self, limit: int = 2000) -> range:
        """The rows whose cells are (at least partly) in the viewport."""
        n = self.model.rowCount()
        viewport = self.view.viewport().rect()
        if n == 0 or not self.view.isVisible() or viewport.isEmpty():
            return range(0)
        lo, hi = 0, n  # first row whose cell ends below the viewport's top (rows are laid out in order)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.view.visualRect(self.model.index(mid, 0)).bottom() < viewport.top():
                lo = mid + 1
            else:
                hi = mid
        end = lo
        while end < n and end - lo < limit:
            if self.view.visualRect(self.model.index(end, 0)).top() > viewport.bottom():
                break
            end += 1
        return range(lo, end)

    def pending_thumbnails(self) -> int:
        """How many visible cells still wait for their thumbnail (asking for any not yet asked for)."""
        missing = 0
        for row in self.visible_rows():
            item = self.model.item(row)
            if not self.loader.has(item.image):
                self.loader.request(item)
                missing += 1
        return missing

    def shutdown(self) -> None:
        self.loader.shutdown()

    # private

    def _set_labels(self, labels: dict[str, int]) -> None:
        self.label_filter.blockSignals(True)
        self.label_filter.clear()
        self.label_filter.addItem(ALL_LABELS if labels else "No labels", None)
        for label in sorted(labels):
            self.label_filter.addItem(f"{label} ({labels[label]:,})", label)
        self.label_filter.setEnabled(bool(labels))
        self.label_filter.blockSignals(False)

    def _apply_filter(self) -> None:
        self._search_timer.stop()
        self.loader.drop_queued()
        self.model.set_filter(self.search.text(), self.label_filter.currentData())
        self._update_count()
        self.filter_changed.emit(self.model.shown_count(), self.model.total_count())

    def _update_count(self) -> None:
        shown, total = self.model.shown_count(), self.model.total_count()
        if shown == total:
            self.count_label.setText(f"{total:,} item{'s' if total != 1 else ''}")
        else:
            self.count_label.setText(f"showing {shown:,} of {total:,}")

    def _on_search_text_changed(self, _text: str) -> None:
        self._search_timer.start()

    def _on_label_filter_current_index_changed(self, _index: int) -> None:
        self._apply_filter()

    def _on_view_activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_item(index.row())

    def _on_scrollbar_value_changed(self, _value: int) -> None:
        # What was queued for rows scrolled past is dropped; the rows now on screen ask again as they paint.
        self.loader.drop_queued()

    def _on_loader_thumbnail_ready(self, ref: ImageRef) -> None:
        self._arrived.add(ref)
        if not self._repaint_timer.isActive():
            self._repaint_timer.start()

    def _repaint_arrived(self) -> None:
        arrived, self._arrived = self._arrived, set()
        for row in self.visible_rows():
            if self.model.item(row).image in arrived:
                self.view.update(self.model.index(row, 0))  # Qt paints the dirty cells in one pass

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self._reveal_timer.isActive() and self._reveal_timer.interval() > 0:
            # The window is being painted without the grid: show it in the event loop's next pass.
            # (A zero timer, not QTimer.singleShot(0), which is a posted event handled with the paint.)
            self._reveal_timer.start(0)

    def _reveal_grid(self) -> None:
        if self.view.isHidden():  # shown, the rows are laid out now; painted in the next pass
            self.view.setUpdatesEnabled(False)
            self.view.show()
            if self._grid_focused:
                self.view.setFocus()
            self._reveal_timer.start(0)
        else:
            self.view.setUpdatesEnabled(True)  # paints the whole grid

    def _on_dialog_destroyed(self) -> None:
        self.dialog = None
