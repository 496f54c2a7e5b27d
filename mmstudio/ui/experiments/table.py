"""The runs table of the Experiments page: one row per run (:class:`~mmstudio.store.summaries.RunRecord`),
updated in place as polls arrive, and a proxy that sorts numbers as numbers and filters by status,
dataset and search words."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from mmstudio.formatting import format_duration, format_value, short_time
from mmstudio.store.summaries import STATUS_COLOURS, RunRecord
from mmstudio.store.types import RunStatus
from mmstudio.ui.resources import icon

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
RUN_ID_ROLE = Qt.ItemDataRole.UserRole + 2

STATUS_ICONS = {
    RunStatus.QUEUED: "pause",
    RunStatus.RUNNING: "play",
    RunStatus.COMPLETED: "check",
    RunStatus.FAILED: "error",
    RunStatus.CANCELLED: "stop",
    RunStatus.INTERRUPTED: "warning",
}

# (key, header, tooltip)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("id", "ID", "Run id (as in mmstudio runs list)"),
    ("name", "Name", ""),
    ("status", "Status", ""),
    ("dataset", "Dataset", ""),
    ("architecture", "Architecture", "text encoder + image encoder · fusion"),
    ("metric", "Metric", "The run's key metric (its early-stopping metric, else the task's main one)"),
    ("best", "Best", "Best value of the key metric over the run"),
    ("last", "Last", "Last value of the key metric"),
    ("loss_best", "Best loss", "Lowest val/loss"),
    ("loss_last", "Last loss", "Last val/loss"),
    ("test", "Test", "The key metric on the test split, when the run was tested"),
    ("duration", "Time", "Training time (so far, for a running run)"),
    ("device", "Device", ""),
    ("created", "Created", ""),
    ("tags", "Tags", ""),
    ("notes", "Notes", ""),
)
COLUMN_KEYS = tuple(c[0] for c in COLUMNS)
#: The widest a column starts (its contents decide below this); notes take what is left.
COLUMN_CAPS = {"name": 170, "dataset": 110, "architecture": 180, "metric": 100, "tags": 120, "device": 64}
NUMERIC_COLUMNS = frozenset({"id", "best", "last", "loss_best", "loss_last", "test", "duration", "created"})


class RunsTableModel(QAbstractTableModel):
    """The runs, one row each, in the order they arrived; the proxy sorts and filters them.

    :meth:`apply` merges a poll: rows are removed, updated in place or appended, never reset, so the
    view keeps its selection and scroll position.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._records: list[RunRecord] = []
        self._row_of: dict[int, int] = {}

    # -- reading
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._records)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def record(self, row: int) -> RunRecord:
        return self._records[row]

    def record_by_id(self, run_id: int) -> RunRecord | None:
        row = self._row_of.get(run_id)
        return None if row is None else self._records[row]

    def row_of(self, run_id: int) -> int | None:
        return self._row_of.get(run_id)

    def run_ids(self) -> list[int]:
        return [r.id for r in self._records]

    def datasets(self) -> list[str]:
        return sorted({r.dataset for r in self._records if r.dataset}, key=str.lower)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][1]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section][2] or None
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        rec = self._records[index.row()]
        key = COLUMN_KEYS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(rec, key)
        if role == SORT_ROLE:
            value = rec.value(key)
            return value.lower() if isinstance(value, str) else value
        if role == RUN_ID_ROLE:
            return rec.id
        if role == Qt.ItemDataRole.DecorationRole and key == "status":
            return icon(STATUS_ICONS.get(rec.status, "info"))
        if role == Qt.ItemDataRole.ForegroundRole and key == "status" and rec.status in STATUS_COLOURS:
            return QColor(STATUS_COLOURS[rec.status])
        if role == Qt.ItemDataRole.TextAlignmentRole and key in NUMERIC_COLUMNS and key != "created":
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            if key == "architecture":
                return rec.architecture_tip or None
            if key == "status" and rec.error_message:
                return rec.error_message
            if key in ("notes", "name", "tags", "dataset"):
                return self._display(rec, key) or None
            if key == "created":
                return rec.created.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        return None

    @staticmethod
    def _display(rec: RunRecord, key: str) -> str:
        if key in ("best", "last", "loss_best", "loss_last", "test"):
            return format_value(getattr(rec, key))
        if key == "duration":
            return format_duration(rec.duration_s)
        if key == "created":
            return short_time(rec.created)
        if key == "notes":
            first = rec.notes.strip().splitlines()
            return first[0] + (" …" if len(first) > 1 else "") if first else ""
        if key == "id":
            return str(rec.id)
        return str(rec.value(key) or "")

    # -- writing
    def clear(self) -> None:
        if not self._records:
            return
        self.beginRemoveRows(QModelIndex(), 0, len(self._records) - 1)
        self._records, self._row_of = [], {}
        self.endRemoveRows()

    def apply(self, order: Iterable[int], records: dict[int, RunRecord]) -> tuple[int, int, int]:
        """Make the rows the runs ``order`` (ids); ``records`` holds the new or changed ones.
        Returns how many rows were (added, updated, removed)."""
        wanted = set(order)
        gone = sorted((row for rid, row in self._row_of.items() if rid not in wanted), reverse=True)
        for row in gone:  # one by one from the end: rows after it keep their numbers until then
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._records[row]
            self.endRemoveRows()
        if gone:
            self._row_of = {r.id: n for n, r in enumerate(self._records)}
        updated = 0
        last = len(COLUMNS) - 1
        for rid, rec in records.items():
            row = self._row_of.get(rid)
            if row is not None and rid in wanted and self._records[row] != rec:
                self._records[row] = rec
                self.dataChanged.emit(self.index(row, 0), self.index(row, last))
                updated += 1
        new = [records[rid] for rid in order if rid not in self._row_of and rid in records]
        if new:
            start = len(self._records)
            self.beginInsertRows(QModelIndex(), start, start + len(new) - 1)
            for n, rec in enumerate(new):
                self._records.append(rec)
                self._row_of[rec.id] = start + n
            self.endInsertRows()
        return len(new), updated, len(gone)


class RunsFilterProxy(QSortFilterProxyModel):
    """Sorts by :data:`SORT_ROLE` (numbers as numbers, empty cells last) and filters by status,
    dataset and a search over name, tags, notes and architecture."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)
        self._status: str | None = None
        self._dataset: str | None = None
        self._words: list[str] = []

    def set_status(self, status: str | None) -> None:
        self._change_filter(_status=status or None)

    def set_dataset(self, dataset: str | None) -> None:
        self._change_filter(_dataset=dataset or None)

    def set_search(self, text: str) -> None:
        self._change_filter(_words=text.lower().split())

    def _change_filter(self, **values: Any) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9: invalidateFilter() is deprecated
            self.beginFilterChange()
            self._set(values)
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._set(values)
            self.invalidateRowsFilter()

    def _set(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            setattr(self, name, value)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        model = self.sourceModel()
        if not isinstance(model, RunsTableModel):
            return True
        rec = model.record(source_row)
        if self._status is not None and str(rec.status) != self._status:
            return False
        if self._dataset is not None and rec.dataset != self._dataset:
            return False
        if self._words:
            haystack = " ".join(
                (str(rec.id), rec.name, " ".join(rec.tags), rec.notes, rec.architecture, rec.architecture_tip)
            ).lower()
            return all(word in haystack for word in self._words)
        return True

    def lessThan(
        self, left: QModelIndex | QPersistentModelIndex, right: QModelIndex | QPersistentModelIndex
    ) -> bool:
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        a_missing = a is None or a == "" or (isinstance(a, float) and math.isnan(a))
        b_missing = b is None or b == "" or (isinstance(b, float) and math.isnan(b))
        if a_missing and b_missing:
            return left.data(RUN_ID_ROLE) < right.data(RUN_ID_ROLE)
        if a_missing or b_missing:
            # Empty cells go last in either order.
            descending = self.sortOrder() == Qt.SortOrder.DescendingOrder
            return (not a_missing and b_missing) != descending
        if a == b:
            return left.data(RUN_ID_ROLE) < right.data(RUN_ID_ROLE)
        return a < b
