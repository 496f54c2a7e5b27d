"""The dataset gallery: every usable pair as a thumbnail, its caption and its label, virtualised.

* :class:`~.gallery_model.GalleryListModel` holds the items and the rows a search leaves. Its row count
  lives in C++ (see the class docstring): a 100,000-item reset is O(1) and the view lays it out in
  milliseconds.
* The core's :class:`~mmstudio.data.search.SearchIndex` (built off the GUI thread while the dataset
  loads) makes a text search over 100,000 captions a plain list scan, and a label filter a dict lookup.
* :class:`~mmstudio.ui.thumbnails.ThumbnailLoader` decodes thumbnails in its own ``QThreadPool``: only
  rows that are painted ask for one, the newest request is served first, requests still queued when
  the user scrolls away are dropped, and finished thumbnails sit in an LRU cache of ``QPixmap``.
* :class:`~.gallery_delegate.GalleryDelegate` paints one cell; :class:`~.item_dialog.ItemDialog`
  shows one pair at full size. Here: the grid (:class:`GalleryView`) and the widget around it.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mmstudio.data.search import SearchIndex
from mmstudio.data.types import ImageRef, Item
from mmstudio.formatting import plural, printable_text
from mmstudio.ui.datasets.gallery_delegate import GalleryDelegate
from mmstudio.ui.datasets.gallery_model import GalleryListModel
from mmstudio.ui.datasets.item_dialog import ItemDialog
from mmstudio.ui.resources import icon
from mmstudio.ui.thumbnails import ThumbnailLoader

ALL_LABELS = "All labels"


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
        self._dialog_row = 0

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
        self.augmented_button = QPushButton("Show augmented")
        self.augmented_button.setToolTip(
            "Open the selected item (else the first shown) with random views of its image as augmented "
            "training batches hold them (the Train page's Augment images)"
        )
        self.augmented_button.clicked.connect(self._on_augmented_button_clicked)

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
        bar.addWidget(self.augmented_button)
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

    def open_item(self, row: int, *, augmented: bool = False) -> ItemDialog:
        """Open the larger view of the item shown at ``row`` (it steps through the items shown); with
        ``augmented``, its Show augmented on."""
        item = self.model.item(row)
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = ItemDialog(item, self)
        self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog.destroyed.connect(self._on_dialog_destroyed)
        self.dialog.step_requested.connect(self._on_dialog_step_requested)
        self._dialog_row = row
        self.dialog.set_steps(row > 0, row + 1 < self.model.shown_count())
        self.dialog.show()
        if augmented:
            self.dialog.augmented_button.setChecked(True)
        self.dialog.activateWindow()  # its keys (previous, next) act at once
        self.item_opened.emit(item)
        return self.dialog

    def dialog_row(self) -> int | None:
        """The row of the item the larger view shows (None when it is closed)."""
        return self._dialog_row if self.dialog is not None else None

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
            self.label_filter.addItem(f"{printable_text(label)} ({labels[label]:,})", label)
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
            self.count_label.setText(plural(total, "item"))
        else:
            self.count_label.setText(f"showing {shown:,} of {total:,}")
        self.augmented_button.setEnabled(shown > 0)

    def _on_augmented_button_clicked(self) -> None:
        current = self.view.currentIndex()
        self.open_item(current.row() if current.isValid() else 0, augmented=True)

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

    def _on_dialog_step_requested(self, step: int) -> None:
        dialog, row = self.dialog, self._dialog_row + step
        if dialog is None or not 0 <= row < self.model.shown_count():
            return
        self._dialog_row = row
        index = self.model.index(row, 0)
        self.view.setCurrentIndex(index)  # the grid follows (and scrolls to it)
        self.view.scrollTo(index)
        dialog.show_item(self.model.item(row))
        dialog.set_steps(row > 0, row + 1 < self.model.shown_count())
