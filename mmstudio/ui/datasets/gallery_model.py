"""The gallery's list model: the dataset's items, showing the rows a search leaves.

The search itself is the core's :class:`~mmstudio.data.search.SearchIndex`, built off the GUI thread
while the dataset loads (or here, on the first search, when none was given).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from PySide6.QtCore import QModelIndex, QObject, Qt
from PySide6.QtGui import QStandardItemModel

from mmstudio.data.search import SearchIndex
from mmstudio.data.types import Item
from mmstudio.formatting import printable_text, shorten


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
            # Rich text, which Qt wraps (a plain-text tooltip is one line across the screen).
            label = f"{item.label} · " if item.label is not None else ""
            caption = escape(printable_text(shorten(item.text, 400)))
            where = escape(printable_text(f"{label}{item.split} · {item.image}"))
            return f"<qt><p>{caption}</p><p style='color:gray'>{where}</p></qt>"
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
