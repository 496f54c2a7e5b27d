"""The runs table of the Experiments page: one row per run (:class:`~mmstudio.store.summaries.RunRecord`),
updated in place as polls arrive, optionally grouped by dataset or tag (groups as top-level rows, the
runs under them), and a proxy that sorts numbers as numbers and filters by status, dataset and search
words."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QWidget

from mmstudio.formatting import format_duration, format_value, plural, short_time
from mmstudio.store.summaries import STATUS_COLOURS, RunRecord, group_title
from mmstudio.store.types import RunStatus
from mmstudio.ui.resources import icon

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
RUN_ID_ROLE = Qt.ItemDataRole.UserRole + 2
CURVE_ROLE = Qt.ItemDataRole.UserRole + 3  # a run's sparkline values (the curve column)
GROUP_ROLE = Qt.ItemDataRole.UserRole + 4  # a group row's key ("" for no dataset / no tag); None for a run

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
    (
        "curve",
        "Loss curve",
        "The run's train/loss over training (val/loss when it has none); sorts by its last value",
    ),
    ("test", "Test", "The key metric on the test split, when the run was tested"),
    ("duration", "Time", "Training time (so far, for a running run)"),
    ("device", "Device", ""),
    ("created", "Created", ""),
    ("tags", "Tags", ""),
    ("notes", "Notes", ""),
)
COLUMN_KEYS = tuple(c[0] for c in COLUMNS)
#: The widest a column starts (its contents decide below this); the last one (notes) also takes what
#: is left of the width.
COLUMN_CAPS = {
    "name": 170,
    "dataset": 110,
    "architecture": 180,
    "metric": 100,
    "tags": 120,
    "device": 64,
    "notes": 200,
}
#: Columns that start at this width whatever their contents (the sparkline draws into it).
COLUMN_WIDTHS = {"curve": 96}
#: Columns hidden until the user shows them (the header's context menu): with them the columns are
#: wider than a 1280 px window, and Tags and Notes would start off screen.
DEFAULT_HIDDEN = ("loss_last", "device")
NUMERIC_COLUMNS = frozenset(
    {"id", "best", "last", "loss_best", "loss_last", "curve", "test", "duration", "created"}
)


class RunsTableModel(QAbstractItemModel):
    """The runs, in the order they arrived; the proxy sorts and filters them.

    Flat (the default), every run is a top-level row. Grouped (:meth:`set_group_by` ``"dataset"`` or
    ``"tag"``), the top-level rows are the groups and the runs their children; a run with several tags
    is listed under each. An index's internal id is 0 for a top-level row, else its group's id.

    :meth:`apply` merges a poll: rows are removed, updated in place or appended (a run whose group
    changed moves), never reset, so the view keeps its selection, scroll position and open groups.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._records: list[RunRecord] = []
        self._row_of: dict[int, int] = {}
        self._by: str | None = None
        self._groups: list[int] = []  # group ids, in the order the groups appeared
        self._key_of: dict[int, str] = {}  # group id -> key
        self._gid_of: dict[str, int] = {}  # key -> group id
        self._members: dict[int, list[int]] = {}  # group id -> run ids
        self._next_gid = 1
        self._bold = QFont()
        self._bold.setBold(True)

    # -- the tree
    @property
    def group_by(self) -> str | None:
        return self._by

    def index(
        self,
        row: int,
        column: int,
        parent: QModelIndex | QPersistentModelIndex = QModelIndex(),  # noqa: B008
    ) -> QModelIndex:
        if not 0 <= column < len(COLUMNS) or row < 0:
            return QModelIndex()
        if not parent.isValid():
            top = len(self._groups) if self._by else len(self._records)
            return self.createIndex(row, column, 0) if row < top else QModelIndex()
        if self._by and parent.internalId() == 0 and parent.row() < len(self._groups):
            gid = self._groups[parent.row()]
            return self.createIndex(row, column, gid) if row < len(self._members[gid]) else QModelIndex()
        return QModelIndex()

    def parent(self, index: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        gid = index.internalId() if index.isValid() else 0
        if gid == 0 or not self._by or gid not in self._members:
            return QModelIndex()
        return self.createIndex(self._groups.index(gid), 0, 0)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        if not parent.isValid():
            return len(self._groups) if self._by else len(self._records)
        if self._by and parent.internalId() == 0 and parent.column() == 0:
            return len(self._members[self._groups[parent.row()]])
        return 0

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return len(COLUMNS)

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if self.run_at(index) is None:
            return Qt.ItemFlag.ItemIsEnabled  # a group: opened and closed, not selected
        return super().flags(index)

    # -- reading
    def record(self, row: int) -> RunRecord:
        return self._records[row]

    def record_by_id(self, run_id: int) -> RunRecord | None:
        row = self._row_of.get(run_id)
        return None if row is None else self._records[row]

    def row_of(self, run_id: int) -> int | None:
        """The run's place among the runs in arrival order (its row when the table is flat)."""
        return self._row_of.get(run_id)

    def index_of(self, run_id: int, column: int = 0) -> QModelIndex:
        """The run's (first) row; an invalid index for a run not here."""
        row = self._row_of.get(run_id)
        if row is None:
            return QModelIndex()
        if not self._by:
            return self.index(row, column)
        for position, gid in enumerate(self._groups):
            if run_id in self._members[gid]:
                return self.index(self._members[gid].index(run_id), column, self.index(position, 0))
        return QModelIndex()

    def run_at(self, index: QModelIndex | QPersistentModelIndex) -> RunRecord | None:
        """The run of this row; None for a group row."""
        if not index.isValid():
            return None
        if not self._by:
            return self._records[index.row()]
        gid = index.internalId()
        if gid == 0:
            return None
        return self.record_by_id(self._members[gid][index.row()])

    def run_count(self) -> int:
        return len(self._records)

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
        rec = self.run_at(index)
        if rec is None:
            return self._group_data(index, role)
        key = COLUMN_KEYS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(rec, key)
        if role == SORT_ROLE:
            value = rec.value(key)
            return value.lower() if isinstance(value, str) else value
        if role == RUN_ID_ROLE:
            return rec.id
        if role == CURVE_ROLE:
            return rec.curve if key == "curve" else None
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
            if key == "curve":
                return rec.curve_summary() or "No loss logged yet (train/loss or val/loss)"
        return None

    def _group_data(self, index: QModelIndex | QPersistentModelIndex, role: int) -> Any:
        gid = self._groups[index.row()]
        key = self._key_of[gid]
        if role == Qt.ItemDataRole.DisplayRole and index.column() == 0:
            return f"{group_title(self._by or '', key)}  ·  {plural(len(self._members[gid]), 'run')}"
        if role == Qt.ItemDataRole.FontRole:
            return self._bold
        if role == GROUP_ROLE:
            return key
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{self._by} {group_title(self._by or '', key)}: {plural(len(self._members[gid]), 'run')}"
        return None

    @staticmethod
    def _display(rec: RunRecord, key: str) -> str:
        if key in ("best", "last", "loss_best", "loss_last", "test"):
            return format_value(getattr(rec, key))
        if key == "curve":
            return ""  # drawn by the view's sparkline delegate
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
    def set_group_by(self, by: str | None) -> None:
        """List the runs under their groups (``"dataset"``, ``"tag"``), or flat (None)."""
        if by == self._by:
            return
        self.beginResetModel()
        self._by = by
        self._groups, self._key_of, self._gid_of, self._members = [], {}, {}, {}
        if by:
            for rec in self._records:
                for key in dict.fromkeys(rec.groups(by)):
                    self._group_id(key, signals=False)
                    self._members[self._gid_of[key]].append(rec.id)
        self.endResetModel()

    def clear(self) -> None:
        if not self._records:
            return
        self.beginResetModel()
        self._records, self._row_of = [], {}
        self._groups, self._key_of, self._gid_of, self._members = [], {}, {}, {}
        self.endResetModel()

    def apply(self, order: Iterable[int], records: dict[int, RunRecord]) -> tuple[int, int, int]:
        """Make the rows the runs ``order`` (ids); ``records`` holds the new or changed ones.
        Returns how many rows were (added, updated, removed)."""
        if self._by:
            return self._apply_grouped(list(order), records)
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

    def _apply_grouped(self, order: list[int], records: dict[int, RunRecord]) -> tuple[int, int, int]:
        by = self._by or ""
        wanted = set(order)
        gone = [rid for rid in self._row_of if rid not in wanted]
        for rid in gone:
            self._unplace(rid)
        if gone:
            self._records = [r for r in self._records if r.id in wanted]
            self._row_of = {r.id: n for n, r in enumerate(self._records)}
        updated = 0
        last = len(COLUMNS) - 1
        for rid, rec in records.items():
            row = self._row_of.get(rid)
            if row is None or rid not in wanted or self._records[row] == rec:
                continue
            moved = self._records[row].groups(by) != rec.groups(by)
            if moved:
                self._unplace(rid)
            self._records[row] = rec
            if moved:
                self._place(rec)
            else:
                for position, gid in enumerate(self._groups):
                    if rid in self._members[gid]:
                        child = self._members[gid].index(rid)
                        parent = self.index(position, 0)
                        self.dataChanged.emit(self.index(child, 0, parent), self.index(child, last, parent))
            updated += 1
        new = [records[rid] for rid in order if rid not in self._row_of and rid in records]
        for rec in new:
            self._row_of[rec.id] = len(self._records)
            self._records.append(rec)
            self._place(rec)
        return len(new), updated, len(gone)

    def _group_id(self, key: str, *, signals: bool = True) -> int:
        gid = self._gid_of.get(key)
        if gid is None:
            gid, self._next_gid = self._next_gid, self._next_gid + 1
            if signals:
                self.beginInsertRows(QModelIndex(), len(self._groups), len(self._groups))
            self._groups.append(gid)
            self._key_of[gid], self._gid_of[key], self._members[gid] = key, gid, []
            if signals:
                self.endInsertRows()
        return gid

    def _place(self, rec: RunRecord) -> None:
        for key in dict.fromkeys(rec.groups(self._by or "")):
            gid = self._group_id(key)
            parent = self.index(self._groups.index(gid), 0)
            members = self._members[gid]
            self.beginInsertRows(parent, len(members), len(members))
            members.append(rec.id)
            self.endInsertRows()
            self.dataChanged.emit(parent, parent)  # its count

    def _unplace(self, run_id: int) -> None:
        for gid in [g for g in self._groups if run_id in self._members[g]]:
            position = self._groups.index(gid)
            members = self._members[gid]
            if len(members) == 1:  # the group goes with its last run
                self.beginRemoveRows(QModelIndex(), position, position)
                del self._groups[position], self._gid_of[self._key_of.pop(gid)], self._members[gid]
                self.endRemoveRows()
                continue
            parent = self.index(position, 0)
            row = members.index(run_id)
            self.beginRemoveRows(parent, row, row)
            del members[row]
            self.endRemoveRows()
            self.dataChanged.emit(parent, parent)


class RunsFilterProxy(QSortFilterProxyModel):
    """Sorts by :data:`SORT_ROLE` (numbers as numbers, empty cells last) and filters by status,
    dataset and a search over name, tags, notes and architecture."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)
        self.setRecursiveFilteringEnabled(True)  # a group shows when one of its runs does
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
        rec = model.run_at(model.index(source_row, 0, source_parent))
        if rec is None:
            return False  # a group row: shown when one of its runs is (recursive filtering)
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
        groups = left.data(GROUP_ROLE), right.data(GROUP_ROLE)
        if groups[0] is not None and groups[1] is not None:
            # groups by name whichever way the runs are sorted; no dataset / no tag last
            ascending = (groups[0] == "", groups[0].lower()) < (groups[1] == "", groups[1].lower())
            return ascending != (self.sortOrder() == Qt.SortOrder.DescendingOrder)
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
