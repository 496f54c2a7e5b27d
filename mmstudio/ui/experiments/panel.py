"""The Experiments page: every run in the store as a sortable, filterable table, kept current while the
page is visible (runs started by ``mmstudio train`` in another process appear on their own), with the
actions of ``mmstudio runs``: rename, tag, annotate, delete, re-open the spec in the builder, evaluate
on another dataset, export the checkpoint, compare.

Every store query runs in the thread pool (:func:`mmstudio.ui.tasks.run_task`). A poll every
:data:`POLL_INTERVAL_MS` lists the runs (one light query plus their metric summaries) and fetches the
details only of runs whose summary changed, so the table is updated row by row, never reset.

Shown alone::

    python -m mmstudio.ui.experiments.panel [--db URL] [--screenshot out.png]
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Iterable
from html import escape
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QByteArray,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QGuiApplication, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmstudio.formatting import format_duration, format_value, short_time
from mmstudio.store.handle import StoreHandle
from mmstudio.store.summaries import STATUS_COLOURS, RunRecord, RunsSnapshot, details_html, fetch_runs
from mmstudio.store.types import RunStatus
from mmstudio.ui import tasks
from mmstudio.ui.resources import icon
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.widgets import EmptyState, MessageBar

log = logging.getLogger(__name__)

POLL_INTERVAL_MS = 2000
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
RUN_ID_ROLE = Qt.ItemDataRole.UserRole + 2
MAX_COMPARE = 20

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
HEADER_KEY = "experiments/header"
COLUMNS_KEY = "experiments/columns"  # the columns the saved header is of (a newer version may differ)
SPLITTER_KEY = "experiments/splitter"
#: The widest a column starts (its contents decide below this); notes take what is left.
COLUMN_CAPS = {"name": 170, "dataset": 110, "architecture": 180, "metric": 100, "tags": 120, "device": 64}
NUMERIC_COLUMNS = frozenset({"id", "best", "last", "loss_best", "loss_last", "test", "duration", "created"})


# ------------------------------------------------------------------------------------------- item models


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


# ----------------------------------------------------------------------------------------------- dialogs


class NotesDialog(QDialog):
    """Edit a run's notes (free text)."""

    def __init__(self, run_name: str, notes: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Notes on {run_name}")
        self.resize(520, 320)
        layout = QVBoxLayout(self)
        self.editor = QPlainTextEdit(notes)
        self.editor.setPlaceholderText("What was tried, what was learned, what to do next…")
        layout.addWidget(self.editor)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def notes(self) -> str:
        return self.editor.toPlainText()


class EvaluationDialog(QDialog):
    """The metrics of an evaluation of a run on another dataset."""

    def __init__(self, run_name: str, result: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Evaluation of {run_name}")
        self.resize(480, 420)
        layout = QVBoxLayout(self)
        items = result.get("items", 0)
        summary = QLabel(
            f"<b>{escape(run_name)}</b> on <code>{escape(str(result.get('dataset', '')))}</code><br>"
            f"{items:,} items, split {escape(str(result.get('split', 'all')))}, "
            f"checkpoint {escape(str(result.get('checkpoint', '')))}"
        )
        summary.setWordWrap(True)
        summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(summary)
        scalars = {k: v for k, v in sorted(result.get("metrics", {}).items()) if isinstance(v, int | float)}
        self.table = QTableWidget(len(scalars), 2)
        self.table.setHorizontalHeaderLabels(["Metric", "Value"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for row, (key, value) in enumerate(scalars.items()):
            self.table.setItem(row, 0, QTableWidgetItem(key))
            item = QTableWidgetItem(f"{value:.4f}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, 1, item)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table, 1)
        for note in result.get("notes", []):
            label = QLabel(f"Note: {escape(str(note))}")
            label.setWordWrap(True)
            layout.addWidget(label)
        hint = QLabel(f"The evaluation is saved with the run (mmstudio runs show {result.get('run_id', 0)}).")
        hint.setObjectName("hint")
        layout.addWidget(hint)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)


# ----------------------------------------------------------------------------------------- the panel


class ExperimentsPanel(QWidget):
    """Every run in the store; see the module docstring."""

    runs_loaded = Signal(int)  # a refresh finished; the number of runs in the store
    run_selected = Signal(object)  # the current run's id, or None
    task_finished = Signal(str, bool)  # an action ("rename", "delete", "evaluate"...) ended; ok?

    def __init__(self, state: StudioState, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.settings = settings
        self.loaded = False  # a first list of runs has arrived
        self._handle = StoreHandle()
        self._signatures: dict[int, Hashable] = {}
        self._poll_task: tasks.Task | None = None
        self._refresh_again = False
        self._busy: set[tasks.Task] = set()
        self.last_evaluation: dict[str, Any] | None = None
        self._selected_id: int | None = None
        self._details_html: str | None = None
        self._fitted = False

        self.model = RunsTableModel(self)
        self.proxy = RunsFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self._build_actions()
        self._build_ui()

        self.timer = QTimer(self)
        self.timer.setInterval(POLL_INTERVAL_MS)
        self.timer.timeout.connect(self._on_timer_timeout)

        state.runs_changed.connect(self._on_state_runs_changed)
        state.store_changed.connect(self._on_state_store_changed)
        self.model.rowsInserted.connect(self._on_model_rows_changed)
        self.model.rowsRemoved.connect(self._on_model_rows_changed)
        self.proxy.rowsInserted.connect(self._update_count)
        self.proxy.rowsRemoved.connect(self._update_count)
        self.proxy.modelReset.connect(self._update_count)
        self.proxy.layoutChanged.connect(self._update_count)
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.view.selectionModel().currentRowChanged.connect(self._on_selection_changed)
        self.model.dataChanged.connect(self._on_model_data_changed)
        self._update_actions()

    # --- building ----------------------------------------------------------------------------------

    def _action(self, text: str, slot, icon_name: str | None = None, tip: str = "", shortcut=None) -> QAction:
        action = QAction(text, self)
        if icon_name:
            action.setIcon(icon(icon_name))
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        if shortcut:
            action.setShortcut(shortcut)
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.refresh_action = self._action("Refresh", self.refresh, "reload", "Read the store again", "F5")
        self.rename_action = self._action("Rename…", self.rename_selected, None, "Rename the run", "F2")
        self.tags_action = self._action("Tags…", self.tag_selected, None, "Set the run's tags")
        self.notes_action = self._action("Notes…", self.annotate_selected, None, "Write notes on the run")
        self.delete_action = self._action(
            "Delete…", self.delete_selected, None, "Delete the runs and their checkpoints", "Del"
        )
        self.builder_action = self._action(
            "Open in builder",
            self.open_selected_in_builder,
            "model",
            "Load the run's model spec in the Model page",
        )
        self.evaluate_action = self._action(
            "Evaluate on a folder…",
            self.evaluate_selected,
            "check",
            "Evaluate the run on another dataset folder",
        )
        self.evaluate_file_action = self._action(
            "Evaluate on a file…",
            lambda: self.evaluate_selected(pick="file"),
            None,
            "Evaluate the run on a manifest file or .tar shard",
        )
        self.export_action = self._action(
            "Export…", self.export_selected, "export", "Export the checkpoint as TorchScript or ONNX"
        )
        self.compare_action = self._action(
            "Compare", self.compare_selected, "experiments", f"Compare 2 to {MAX_COMPARE} selected runs"
        )

    def _build_ui(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget()
        outer.addWidget(self.stack)

        self.empty = EmptyState(
            "experiments",
            "No runs yet",
            "Every training run is saved here, from this window or from the command line: try "
            "<code>mmstudio train --demo</code>. Runs appear on this page as soon as they start.",
        )
        self.empty.add_action(
            "Go to Datasets", lambda: self.state.page_requested.emit("datasets"), default=True
        )

        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(6)

        bar = QHBoxLayout()
        bar.setSpacing(6)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name, tags, notes, architecture")
        self.search.setClearButtonEnabled(True)
        self.search.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.search.setMinimumWidth(260)
        self.search.textChanged.connect(self.proxy.set_search)
        bar.addWidget(self.search, 2)
        self.status_filter = QComboBox()
        self.status_filter.addItem("All statuses", None)
        for status in RunStatus:
            self.status_filter.addItem(icon(STATUS_ICONS[status]), status.value.capitalize(), status.value)
        self.status_filter.currentIndexChanged.connect(
            lambda _i: self.proxy.set_status(self.status_filter.currentData())
        )
        bar.addWidget(self.status_filter)
        self.dataset_filter = QComboBox()
        self.dataset_filter.addItem("All datasets", None)
        self.dataset_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.dataset_filter.currentIndexChanged.connect(
            lambda _i: self.proxy.set_dataset(self.dataset_filter.currentData())
        )
        bar.addWidget(self.dataset_filter)
        self.count_label = QLabel()
        self.count_label.setObjectName("hint")
        bar.addWidget(self.count_label)
        bar.addStretch(1)
        layout.addLayout(bar)

        self.toolbar = QToolBar()
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toolbar.setIconSize(self.toolbar.iconSize() * 0.75)
        for action in (self.refresh_action, None, self.rename_action, self.tags_action, self.notes_action):
            self.toolbar.addAction(action) if action else self.toolbar.addSeparator()
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.builder_action)
        evaluate_menu = QMenu(self)
        evaluate_menu.addAction(self.evaluate_action)
        evaluate_menu.addAction(self.evaluate_file_action)
        self.evaluate_button = QToolButton()
        self.evaluate_button.setDefaultAction(self.evaluate_action)
        self.evaluate_button.setMenu(evaluate_menu)
        self.evaluate_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.evaluate_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toolbar.addWidget(self.evaluate_button)
        self.toolbar.addAction(self.export_action)
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.compare_action)
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.delete_action)
        layout.addWidget(self.toolbar)

        self.message = MessageBar()
        layout.addWidget(self.message)

        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(COLUMN_KEYS.index("created"), Qt.SortOrder.DescendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(self.view.fontMetrics().height() + 10)
        header = self.view.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setSectionsMovable(True)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._on_view_context_menu_requested)

        self.details = QTextBrowser()
        self.details.setOpenLinks(False)
        self.details.setPlaceholderText("Select a run to see its model, training settings and metrics.")

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([480, 240])
        self.splitter.setChildrenCollapsible(False)
        split = self.settings.value(SPLITTER_KEY)
        if isinstance(split, QByteArray):
            self.splitter.restoreState(split)
        layout.addWidget(self.splitter, 1)
        # what the user changes is saved a moment later (a drag resizes a column many times)
        self._save_timer = QTimer(self, singleShot=True, interval=400)
        self._save_timer.timeout.connect(self._save_layout)
        header.sectionResized.connect(self._save_timer.start)
        header.sectionMoved.connect(self._save_timer.start)
        header.sortIndicatorChanged.connect(self._save_timer.start)
        self.splitter.splitterMoved.connect(self._save_timer.start)

        self.stack.addWidget(page)
        self.stack.addWidget(self.empty)
        self.page = page

    # --- refreshing --------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the store again (in the background); changed rows are updated in place."""
        if self._poll_task is not None:
            self._refresh_again = True
            return
        task = tasks.run_task(fetch_runs, self._handle, self.state.db_url, dict(self._signatures))
        task.succeeded.connect(self._on_poll_succeeded)
        task.failed.connect(self._on_poll_failed)
        task.finished.connect(self._on_poll_finished)
        self._poll_task = task

    def forget(self, run_ids: Iterable[int]) -> None:
        """Fetch these runs in full at the next refresh (after an edit made here, so it shows at once)."""
        for run_id in run_ids:
            self._signatures.pop(run_id, None)

    def _on_poll_succeeded(self, snapshot: RunsSnapshot) -> None:
        if snapshot.url != self.state.db_url:
            return  # the store changed meanwhile; the next refresh reads the new one
        if self.message.isVisible() and self.message.property("level") == "error":
            self.message.clear()
        for run_id, sig in snapshot.signatures.items():
            if run_id in snapshot.records or run_id in self._signatures:
                self._signatures[run_id] = sig
        for run_id in [r for r in self._signatures if r not in snapshot.signatures]:
            del self._signatures[run_id]
        added, updated, removed = self.model.apply(snapshot.order, snapshot.records)
        if added or updated or removed or not self.loaded:
            self._fill_dataset_filter()
        first = not self.loaded
        self.loaded = True
        if not self._fitted and self.model.rowCount():
            self._fit_columns()
        self.stack.setCurrentWidget(self.empty if self.model.rowCount() == 0 else self.page)
        if first and self.proxy.rowCount() and not self.view.selectionModel().hasSelection():
            self.view.selectRow(0)
        self._update_count()
        self._show_details()
        self.runs_loaded.emit(self.model.rowCount())

    def _fit_columns(self) -> None:
        """The columns as the user left them last time (widths, order, sort), else as wide as their
        contents with long texts capped; once, so a user's changes are kept."""
        self._fitted = True
        header = self.view.horizontalHeader()
        saved = self.settings.value(HEADER_KEY)
        same_columns = self.settings.value(COLUMNS_KEY) == ",".join(COLUMN_KEYS)
        if same_columns and isinstance(saved, QByteArray) and header.restoreState(saved):
            return
        self.view.resizeColumnsToContents()
        for key, cap in COLUMN_CAPS.items():
            col = COLUMN_KEYS.index(key)
            self.view.setColumnWidth(col, min(self.view.columnWidth(col), cap))

    def _save_layout(self) -> None:
        """Keep the columns' widths, order and sort, and the table / details split, for next time."""
        if not self._fitted:
            return
        self.settings.set_value(COLUMNS_KEY, ",".join(COLUMN_KEYS))
        self.settings.set_value(HEADER_KEY, self.view.horizontalHeader().saveState())
        self.settings.set_value(SPLITTER_KEY, self.splitter.saveState())

    def _on_poll_failed(self, message: str, traceback_text: str) -> None:
        log.warning("reading the runs failed: %s\n%s", message, traceback_text)
        self.message.show_message(f"The experiment store could not be read: {message}", "error")
        self.loaded = True
        self.runs_loaded.emit(self.model.rowCount())

    def _on_poll_finished(self) -> None:
        self._poll_task = None
        if self._refresh_again:
            self._refresh_again = False
            self.refresh()

    def _on_timer_timeout(self) -> None:
        if self._poll_task is None:
            self.refresh()

    def _on_state_runs_changed(self) -> None:
        self.refresh()

    def _on_state_store_changed(self, _url: object) -> None:
        self._signatures.clear()
        self.model.clear()
        self.loaded = False
        self.details.clear()
        self._details_html = None
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()
        self.timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.timer.stop()
        if self._save_timer.isActive():
            self._save_timer.stop()
            self._save_layout()

    def shutdown(self) -> None:
        """Stop polling and close the store (the window calls this when it closes)."""
        self.timer.stop()
        if self._save_timer.isActive():
            self._save_timer.stop()
            self._save_layout()
        if self._poll_task is not None:
            self._poll_task.cancel()
        self._handle.close()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    def is_busy(self) -> bool:
        return self._poll_task is not None or bool(self._busy)

    # --- selection ---------------------------------------------------------------------------------

    def selected_run_ids(self) -> list[int]:
        """The selected runs, in the order the table shows them."""
        rows = sorted(index.row() for index in self.view.selectionModel().selectedRows())
        return [self.proxy.index(row, 0).data(RUN_ID_ROLE) for row in rows]

    def current_run(self) -> RunRecord | None:
        ids = self.selected_run_ids()
        index = self.view.currentIndex()
        if index.isValid() and index.data(RUN_ID_ROLE) in ids:
            return self.model.record_by_id(index.data(RUN_ID_ROLE))
        return self.model.record_by_id(ids[0]) if ids else None

    def select_runs(self, run_ids: Iterable[int]) -> None:
        selection = self.view.selectionModel()
        selection.clearSelection()
        first = True
        for run_id in run_ids:
            row = self.model.row_of(run_id)
            if row is None:
                continue
            index = self.proxy.mapFromSource(self.model.index(row, 0))
            if not index.isValid():
                continue
            flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
            if first:
                selection.setCurrentIndex(index, flags)
                self.view.scrollTo(index)
                first = False
            else:
                selection.select(index, flags)

    def _on_selection_changed(self, *_args) -> None:
        self._update_actions()
        self._show_details()
        rec = self.current_run()
        run_id = rec.id if rec else None
        if run_id != self._selected_id:
            self._selected_id = run_id
            self.run_selected.emit(run_id)

    def _on_model_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex, _roles=None) -> None:
        rec = self.current_run()
        row = None if rec is None else self.model.row_of(rec.id)
        if row is not None and top_left.row() <= row <= bottom_right.row():
            self._show_details()
            self._update_actions()

    def _on_model_rows_changed(self, *_args) -> None:
        self._update_actions()

    def _update_actions(self) -> None:
        ids = self.selected_run_ids()
        one = len(ids) == 1
        rec = self.current_run()
        for action in (self.rename_action, self.tags_action, self.notes_action):
            action.setEnabled(one)
        has_spec = one and rec is not None and bool(rec.spec)
        self.builder_action.setEnabled(has_spec)
        usable = one and rec is not None and rec.status is not RunStatus.QUEUED
        for action in (self.evaluate_action, self.evaluate_file_action, self.export_action):
            action.setEnabled(usable)
        self.evaluate_button.setEnabled(usable)
        self.delete_action.setEnabled(bool(ids))
        self.compare_action.setEnabled(2 <= len(ids) <= MAX_COMPARE)

    def _update_count(self, *_args) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count_label.setText(
            f"{total:,} run{'s' * (total != 1)}" if shown == total else f"{shown:,} of {total:,} runs"
        )

    def _fill_dataset_filter(self) -> None:
        current = self.dataset_filter.currentData()
        names = self.model.datasets()
        if names == [self.dataset_filter.itemData(i) for i in range(1, self.dataset_filter.count())]:
            return
        self.dataset_filter.blockSignals(True)
        self.dataset_filter.clear()
        self.dataset_filter.addItem("All datasets", None)
        for name in names:
            self.dataset_filter.addItem(name, name)
        index = self.dataset_filter.findData(current) if current else 0
        self.dataset_filter.setCurrentIndex(max(0, index))
        self.dataset_filter.blockSignals(False)
        self.proxy.set_dataset(self.dataset_filter.currentData())

    def _on_view_context_menu_requested(self, pos) -> None:
        index = self.view.indexAt(pos)
        if index.isValid() and not self.view.selectionModel().isRowSelected(index.row(), QModelIndex()):
            self.view.selectRow(index.row())
        menu = QMenu(self)
        for action in (
            self.rename_action,
            self.tags_action,
            self.notes_action,
            None,
            self.builder_action,
            self.evaluate_action,
            self.evaluate_file_action,
            self.export_action,
            None,
            self.compare_action,
            None,
            self.delete_action,
        ):
            menu.addAction(action) if action else menu.addSeparator()
        menu.addSeparator()
        copy = menu.addAction("Copy run id")
        copy.setEnabled(bool(self.selected_run_ids()))
        copy.triggered.connect(
            lambda: QGuiApplication.clipboard().setText(" ".join(map(str, self.selected_run_ids())))
        )
        menu.popup(self.view.viewport().mapToGlobal(pos))
        self._context_menu = menu

    # --- details -----------------------------------------------------------------------------------

    def _show_details(self) -> None:
        ids = self.selected_run_ids()
        rec = self.current_run()
        if rec is None:
            self.details.clear()
            self._details_html = None
            return
        html = details_html(rec)
        if len(ids) > 1:
            html = f"<p><i>{len(ids)} runs selected; showing run {rec.id}.</i></p>" + html
        if html != self._details_html:
            bar = self.details.verticalScrollBar().value()
            self.details.setHtml(html)
            self.details.verticalScrollBar().setValue(bar)
            self._details_html = html

    # --- actions -----------------------------------------------------------------------------------

    def _one_selected(self) -> RunRecord | None:
        ids = self.selected_run_ids()
        return self.model.record_by_id(ids[0]) if len(ids) == 1 else None

    def _store_task(self, what: str, fn, *args, on_success=None, run_ids: Iterable[int] = ()) -> tasks.Task:
        """Run ``fn(store, *args)`` in the pool; afterwards re-read ``run_ids`` and tell the window."""
        handle, url = self._handle, self.state.db_url
        ids = list(run_ids)

        def work(_state):
            return fn(handle.get(url), *args)

        task = tasks.run_task(work)
        self._busy.add(task)

        def succeeded(result) -> None:
            self.forget(ids)
            if on_success is not None:
                on_success(result)
            self.state.runs_changed.emit()  # our own refresh listens to it too
            self.task_finished.emit(what, True)

        def failed(message: str, traceback_text: str) -> None:
            log.warning("%s failed: %s\n%s", what, message, traceback_text)
            self.message.show_message(f"Could not {what}: {message}", "error")
            self.task_finished.emit(what, False)

        task.succeeded.connect(succeeded)
        task.failed.connect(failed)
        task.finished.connect(lambda: self._busy.discard(task))
        return task

    def rename_run(self, run_id: int, name: str | None = None) -> None:
        rec = self.model.record_by_id(run_id)
        if name is None:
            name, ok = QInputDialog.getText(self, "Rename run", "Name:", text=rec.name if rec else "")
            if not ok:
                return
        name = name.strip()
        if not name:
            self.message.show_message("A run needs a name; it was not renamed.", "warning")
            return
        self._store_task("rename the run", lambda store: store.rename_run(run_id, name), run_ids=[run_id])

    def set_tags(self, run_id: int, tags: Iterable[str] | None = None) -> None:
        rec = self.model.record_by_id(run_id)
        if tags is None:
            text, ok = QInputDialog.getText(
                self, "Tags", "Tags, separated by commas:", text=", ".join(rec.tags) if rec else ""
            )
            if not ok:
                return
            tags = [t.strip() for t in text.split(",")]
        tags = [t for t in tags if t.strip()]
        self._store_task("set the tags", lambda store: store.set_tags(run_id, tags), run_ids=[run_id])

    def edit_notes(self, run_id: int, notes: str | None = None) -> None:
        rec = self.model.record_by_id(run_id)
        if notes is None:
            dialog = NotesDialog(rec.name if rec else str(run_id), rec.notes if rec else "", self)
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return
            notes = dialog.notes()
        self._store_task("save the notes", lambda store: store.set_notes(run_id, notes), run_ids=[run_id])

    def delete_runs(self, run_ids: Iterable[int], *, confirm: bool = True) -> None:
        """Delete the runs and their checkpoint folders (as ``mmstudio runs delete``), after asking."""
        ids = list(run_ids)
        records = [r for r in (self.model.record_by_id(i) for i in ids) if r is not None]
        running = [r for r in records if r.status is RunStatus.RUNNING]
        if running:
            self.message.show_message(
                f"Run {running[0].id} ({running[0].name}) is running; stop it before deleting it.", "warning"
            )
            return
        if not ids:
            return
        if confirm:
            names = ", ".join(f"{r.id} ({r.name})" for r in records[:8]) + (" …" if len(records) > 8 else "")
            answer = QMessageBox.question(
                self,
                "Delete runs",
                f"Delete {len(ids)} run{'s' * (len(ids) != 1)}: {names}?\n\nTheir records, curves, "
                "evaluations and the checkpoint files mmstudio wrote for them are removed. Files you "
                "exported elsewhere are kept.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return

        def delete(store) -> list[int]:
            from mmstudio.store import NotFoundError

            done = []
            for run_id in ids:
                try:
                    store.delete_run(run_id)
                except NotFoundError:
                    pass  # deleted meanwhile (by another window or 'mmstudio runs delete')
                done.append(run_id)
            return done

        self._store_task(
            "delete the runs",
            delete,
            run_ids=ids,
            on_success=lambda done: self.state.post_status(
                f"Deleted run{'s' * (len(done) != 1)} {', '.join(map(str, done))}"
            ),
        )

    def open_in_builder(self, run_id: int) -> bool:
        rec = self.model.record_by_id(run_id)
        if rec is None or not rec.spec:
            self.message.show_message(f"Run {run_id} has no model spec to open.", "warning")
            return False
        self.state.set_model_spec(dict(rec.spec))
        self.state.page_requested.emit("model")
        self.state.post_status(f"The model of run {rec.id} ({rec.name}) is in the builder")
        return True

    def compare(self, run_ids: Iterable[int]) -> bool:
        ids = list(run_ids)
        if not 2 <= len(ids) <= MAX_COMPARE:
            self.message.show_message(f"Select 2 to {MAX_COMPARE} runs to compare.", "info")
            return False
        self.state.compare_requested.emit(ids)
        self.state.page_requested.emit("compare")
        return True

    def evaluate(self, run_id: int, path: str, *, split: str = "all", checkpoint: str = "best") -> tasks.Task:
        """Evaluate run ``run_id`` on the dataset at ``path`` in the background (as ``mmstudio eval``:
        the evaluation is recorded with the run), then show its metrics. ``split="all"`` scores every
        usable row of the dataset (the run's vocabulary and labels come with its checkpoint)."""
        url = self.state.db_url
        rec = self.model.record_by_id(run_id)
        name = rec.name if rec else f"run {run_id}"

        def work(task_state):
            from mmstudio.data import LoadOptions, load_dataset
            from mmstudio.training.inference import evaluate_run

            task_state.set_message(f"Reading {path}…")
            dataset = load_dataset(path, options=LoadOptions(check_images="header"), cancel=task_state)
            if not dataset.report.usable:
                raise ValueError(f"{path} has no usable pairs; the Datasets page shows why")
            task_state.set_message(f"Evaluating {name}…")
            return evaluate_run(run_id, dataset, split=split, checkpoint=checkpoint, db_url=url)

        self.state.post_status(f"Evaluating {name} on {path}…", 0)

        def succeeded(result: dict[str, Any]) -> None:
            self.last_evaluation = result
            self.state.post_status(f"Evaluated {name}: saved with the run")
            self.state.runs_changed.emit()
            self.evaluation_dialog = EvaluationDialog(name, result, self)
            self.evaluation_dialog.open()

        return self._run_action("evaluate", run_id, work, succeeded, f"Could not evaluate {name} on {path}")

    def export(self, run_id: int, path: str, format: str, *, checkpoint: str = "best") -> tasks.Task:
        """Export run ``run_id``'s checkpoint to ``path`` as ``torchscript`` or ``onnx`` (as
        ``mmstudio export``), in the background."""
        url = self.state.db_url

        def work(_state):
            from mmstudio.training.inference import export_run

            return str(export_run(run_id, format, path, checkpoint=checkpoint, db_url=url))

        self.state.post_status(f"Exporting run {run_id} as {format}…", 0)

        def succeeded(out: str) -> None:
            self.state.post_status(f"Exported run {run_id} to {out}")
            self.message.show_message(
                f"Exported run {run_id} as {format} to {out} (with {out}.json).", "info"
            )

        return self._run_action("export", run_id, work, succeeded, f"Could not export run {run_id}")

    def _run_action(
        self,
        action: str,
        run_id: int,
        work: Callable[[Any], Any],
        succeeded: Callable[[Any], None],
        failure: str,
    ) -> tasks.Task:
        """Run ``work`` for ``action`` on run ``run_id`` in the pool: its progress in the status bar,
        ``succeeded(result)`` then the run fetched again, or ``failure: why`` shown; either way
        :attr:`task_finished` says how it ended."""
        task = tasks.run_task(work)
        self._busy.add(task)
        task.progressed.connect(lambda _f, message: message and self.state.post_status(message, 0))

        def on_succeeded(result: Any) -> None:
            succeeded(result)
            self.forget([run_id])
            self.task_finished.emit(action, True)

        def on_failed(message: str, traceback_text: str) -> None:
            log.warning("%s failed: %s\n%s", action, message, traceback_text)
            self.state.post_status("")
            self.message.show_message(f"{failure}: {message}", "error")
            self.task_finished.emit(action, False)

        task.succeeded.connect(on_succeeded)
        task.failed.connect(on_failed)
        task.finished.connect(lambda: self._busy.discard(task))
        return task

    # --- the actions on the selection (what the toolbar and the context menu call) ----------------

    def rename_selected(self) -> None:
        if rec := self._one_selected():
            self.rename_run(rec.id)

    def tag_selected(self) -> None:
        if rec := self._one_selected():
            self.set_tags(rec.id)

    def annotate_selected(self) -> None:
        if rec := self._one_selected():
            self.edit_notes(rec.id)

    def delete_selected(self) -> None:
        self.delete_runs(self.selected_run_ids())

    def open_selected_in_builder(self) -> None:
        if rec := self._one_selected():
            self.open_in_builder(rec.id)

    def compare_selected(self) -> None:
        self.compare(self.selected_run_ids())

    def evaluate_selected(self, pick: str = "folder") -> None:
        rec = self._one_selected()
        if rec is None:
            return
        title = f"Evaluate {rec.name} on a dataset"
        if pick == "file":
            path, _ = QFileDialog.getOpenFileName(
                self, title, "", "Datasets (*.csv *.tsv *.jsonl *.json *.parquet *.tar);;All files (*)"
            )
        else:
            path = QFileDialog.getExistingDirectory(self, title)
        if path:
            self.evaluate(rec.id, path)

    def export_selected(self) -> None:
        rec = self._one_selected()
        if rec is None:
            return
        from mmstudio.training.exports import onnx_available

        filters = ["TorchScript (*.pt)"] + (["ONNX (*.onnx)"] if onnx_available() else [])
        path, chosen = QFileDialog.getSaveFileName(
            self, f"Export {rec.name}", f"{rec.name}.pt", ";;".join(filters)
        )
        if not path:
            return
        format = "onnx" if chosen.startswith("ONNX") or path.endswith(".onnx") else "torchscript"
        self.export(rec.id, path, format)
