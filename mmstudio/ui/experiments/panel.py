"""The Experiments page: every run in the store as a sortable, filterable table, kept current while the
page is visible (runs started by ``mmstudio train`` in another process appear on their own), with the
actions of ``mmstudio runs``: rename, tag, annotate, delete, re-open the run's job in the builder,
evaluate on its own dataset's test split or on another dataset, export the checkpoint, compare; and
follow a running run live on the Train page, whatever process or machine trains it (Follow live, or a
double-click on the run); and stop running runs that other processes or machines train (Stop, through
the store).

The page composes its parts: the runs table (:mod:`.table`), the details pane (:mod:`.details`) and
the actions on the selected runs (:mod:`.actions`, with the dialogs of :mod:`.dialogs`); the records
and the poll's data are the store's (:mod:`mmstudio.store.summaries`).

Every store query runs in the thread pool (:func:`mmstudio.ui.tasks.run_task`). A poll every
:data:`POLL_INTERVAL_MS` lists the runs (one light query plus their metric summaries) and fetches the
details only of runs whose summary changed, so the table is updated row by row, never reset.

Shown alone::

    python -m mmstudio.ui.experiments [--db URL] [--run ID ...] [--screenshot out.png]
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable

from PySide6.QtCore import QByteArray, QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QHideEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmstudio.formatting import plural
from mmstudio.store.handle import StoreHandle
from mmstudio.store.summaries import GROUP_BY, RunRecord, RunsSnapshot, fetch_runs
from mmstudio.store.types import RunStatus
from mmstudio.ui import tasks
from mmstudio.ui.experiments.actions import RunActionsController
from mmstudio.ui.experiments.details import RunDetailsView
from mmstudio.ui.experiments.table import (
    RUN_ID_ROLE,
    STATUS_ICONS,
    RunsFilterProxy,
    RunsTableModel,
)
from mmstudio.ui.experiments.view import RunsView
from mmstudio.ui.resources import icon
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.widgets import EmptyState, MessageBar

log = logging.getLogger(__name__)

POLL_INTERVAL_MS = 2000
SPLITTER_KEY = "experiments/splitter"
GROUP_KEY = "experiments/group_by"


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
        self._selected_id: int | None = None
        self._fitted = False

        self.model = RunsTableModel(self)
        self.proxy = RunsFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.message = MessageBar()
        self.refresh_action = QAction(icon("reload"), "Refresh", self)
        self.refresh_action.setToolTip("Read the store again")
        self.refresh_action.setStatusTip("Read the store again")
        self.refresh_action.setShortcut("F5")
        self.refresh_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.refresh_action.triggered.connect(lambda _checked=False: self.refresh())
        self.addAction(self.refresh_action)
        self.find_action = QAction(icon("search"), "Find runs", self)
        self.find_action.setToolTip("Search the runs by name, tags, notes or architecture")
        self.find_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Find))
        self.find_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.find_action.triggered.connect(lambda _checked=False: self.focus_search())
        self.addAction(self.find_action)
        self.run_actions = RunActionsController(
            self, state, self._handle, self.model, self.message, self.selected_run_ids
        )
        self.run_actions.edited.connect(self.forget)
        self.run_actions.task_finished.connect(self.task_finished)
        self._build_ui()

        self.timer = QTimer(self)
        self.timer.setInterval(POLL_INTERVAL_MS)
        self.timer.timeout.connect(self._on_timer_timeout)

        state.runs_changed.connect(self._on_state_runs_changed)
        state.dataset_changed.connect(self._update_next_step)
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

    def _update_next_step(self, *_args) -> None:
        has_dataset = self.state.dataset is not None
        self.next_button.setText("Train a model on the Train page" if has_dataset else "Open a dataset first")

    def _on_next_button_clicked(self) -> None:
        self.state.page_requested.emit("train" if self.state.dataset is not None else "datasets")

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
        # The next step: a dataset first, then a run on the Train page.
        self.next_button = self.empty.add_action("", self._on_next_button_clicked, default=True)
        self._update_next_step()

        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(6)

        bar = QHBoxLayout()
        bar.setSpacing(6)
        self.search = QLineEdit()
        find = self.find_action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        self.search.setPlaceholderText(f"Search name, tags, notes, architecture ({find})")
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
        self.group_combo = QComboBox()
        self.group_combo.setToolTip("List the runs under their dataset or under each of their tags")
        self.group_combo.addItem("No groups", None)
        for by in GROUP_BY:
            self.group_combo.addItem(f"Group by {by}", by)
        saved = self.settings.value(GROUP_KEY)
        self.group_combo.setCurrentIndex(
            max(0, self.group_combo.findData(saved if saved in GROUP_BY else None))
        )
        self.group_combo.currentIndexChanged.connect(self._on_group_combo_changed)
        bar.addWidget(self.group_combo)
        self.count_label = QLabel()
        self.count_label.setObjectName("hint")
        bar.addWidget(self.count_label)
        bar.addStretch(1)
        layout.addLayout(bar)

        actions = self.run_actions
        self.toolbar = QToolBar()
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toolbar.setIconSize(self.toolbar.iconSize() * 0.75)
        for action in (
            self.refresh_action,
            None,
            actions.rename_action,
            actions.tags_action,
            actions.notes_action,
        ):
            self.toolbar.addAction(action) if action else self.toolbar.addSeparator()
        self.toolbar.addSeparator()
        self.toolbar.addAction(actions.builder_action)
        evaluate_menu = QMenu(self)
        evaluate_menu.addAction(actions.evaluate_action)
        evaluate_menu.addAction(actions.evaluate_file_action)
        evaluate_menu.addAction(actions.evaluate_own_action)
        self.evaluate_button = QToolButton()
        self.evaluate_button.setDefaultAction(actions.evaluate_action)
        self.evaluate_button.setMenu(evaluate_menu)
        self.evaluate_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.evaluate_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toolbar.addWidget(self.evaluate_button)
        self.toolbar.addAction(actions.export_action)
        self.toolbar.addAction(actions.zeroshot_action)
        self.toolbar.addSeparator()
        self.toolbar.addAction(actions.follow_action)
        self.toolbar.addAction(actions.stop_action)
        self.toolbar.addAction(actions.compare_action)
        self.toolbar.addSeparator()
        self.toolbar.addAction(actions.delete_action)
        layout.addWidget(self.toolbar)
        layout.addWidget(actions.progress_row)
        layout.addWidget(self.message)

        self.view = RunsView(self.proxy)
        self.model.set_group_by(self.group_combo.currentData())
        self.view.set_grouped(self.model.group_by is not None)
        self.view.customContextMenuRequested.connect(self._on_view_context_menu_requested)
        self.view.doubleClicked.connect(self._on_view_double_clicked)

        self.details = RunDetailsView()

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
        self.view.layout_changed.connect(self._save_timer.start)
        self.splitter.splitterMoved.connect(self._save_timer.start)

        self.stack.addWidget(page)
        self.stack.addWidget(self.empty)
        self.page = page

    def focus_search(self) -> None:
        """Put the cursor in the search field, its text selected (Ctrl+F)."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

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
            self._select_first()
        self._update_count()
        self._show_details()
        self.runs_loaded.emit(self.model.run_count())

    def _fit_columns(self) -> None:
        """The columns as the user left them last time (widths, order, sort, hidden ones), else the
        defaults fitted to their contents; once, so a user's changes are kept."""
        self._fitted = True
        self.view.restore_layout(self.settings)

    def _save_layout(self) -> None:
        """Keep the columns (widths, order, sort, hidden ones) and the table / details split."""
        if not self._fitted:
            return
        self.view.save_layout(self.settings)
        self.settings.set_value(SPLITTER_KEY, self.splitter.saveState())

    def set_group_by(self, by: str | None) -> None:
        """List the runs under their dataset or their tags (``GROUP_BY``), or flat (None); kept in
        the settings. The selection stays."""
        ids = self.selected_run_ids()
        self.model.set_group_by(by)
        self.view.set_grouped(by is not None)
        self.settings.set_value(GROUP_KEY, by or "")
        if self.group_combo.currentData() != by:
            self.group_combo.setCurrentIndex(max(0, self.group_combo.findData(by)))
        self.select_runs(ids)

    def _on_group_combo_changed(self, _index: int) -> None:
        self.set_group_by(self.group_combo.currentData())

    def _select_first(self) -> None:
        """Select the first run shown (under the first group, when grouped)."""
        index = self.proxy.index(0, 0)
        if index.isValid() and index.data(RUN_ID_ROLE) is None:
            index = self.proxy.index(0, 0, index)
        if index.isValid():
            self.select_runs([index.data(RUN_ID_ROLE)])

    def _on_poll_failed(self, message: str, traceback_text: str) -> None:
        log.warning("reading the runs failed: %s\n%s", message, traceback_text)
        self.message.show_message(f"The experiment store could not be read: {message}", "error")
        self.loaded = True
        self.runs_loaded.emit(self.model.run_count())

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
        self.run_actions.cancel_evaluation()
        self._handle.close()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    def is_busy(self) -> bool:
        return self._poll_task is not None or self.run_actions.is_busy()

    # --- selection ---------------------------------------------------------------------------------

    def selected_run_ids(self) -> list[int]:
        """The selected runs, in the order the table shows them (once each: grouped by tag, a run may
        be listed twice)."""
        indexes = sorted(self.view.selectionModel().selectedRows(), key=lambda i: (i.parent().row(), i.row()))
        return list(dict.fromkeys(i.data(RUN_ID_ROLE) for i in indexes if i.data(RUN_ID_ROLE) is not None))

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
            index = self.proxy.mapFromSource(self.model.index_of(run_id))
            if not index.isValid():
                continue
            if index.parent().isValid():
                self.view.expand(index.parent())
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
        index = QModelIndex() if rec is None else self.model.index_of(rec.id)
        changed = index.isValid() and index.parent() == top_left.parent()
        if changed and top_left.row() <= index.row() <= bottom_right.row():
            self._show_details()
            self._update_actions()

    def _on_model_rows_changed(self, *_args) -> None:
        self._update_actions()

    def _update_actions(self) -> None:
        self.run_actions.update(self.current_run())
        self.evaluate_button.setEnabled(self.run_actions.evaluate_action.isEnabled())

    def _update_count(self, *_args) -> None:
        shown, total = self._shown_count(), self.model.run_count()
        self.count_label.setText(
            plural(total, "run") if shown == total else f"{shown:,} of {plural(total, 'run')}"
        )

    def _shown_count(self) -> int:
        """How many runs pass the filters: the rows, or the rows under the groups (a run is under one
        dataset; under tags it may be under several, so those are counted once: the one count that
        reads every shown row)."""
        proxy = self.proxy
        if self.model.group_by is None:
            return proxy.rowCount()
        groups = [proxy.index(g, 0) for g in range(proxy.rowCount())]
        if self.model.group_by == "dataset":
            return sum(proxy.rowCount(group) for group in groups)
        return len(
            {
                proxy.index(row, 0, group).data(RUN_ID_ROLE)
                for group in groups
                for row in range(proxy.rowCount(group))
            }
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
        run_id = index.data(RUN_ID_ROLE) if index.isValid() else None
        if run_id is not None and not self.view.selectionModel().isRowSelected(index.row(), index.parent()):
            self.select_runs([run_id])
        menu = QMenu(self)
        for action in self.run_actions.menu_actions():
            menu.addAction(action) if action else menu.addSeparator()
        menu.addSeparator()
        copy = menu.addAction("Copy run id")
        copy.setEnabled(bool(self.selected_run_ids()))
        copy.triggered.connect(
            lambda: QGuiApplication.clipboard().setText(" ".join(map(str, self.selected_run_ids())))
        )
        menu.popup(self.view.viewport().mapToGlobal(pos))
        self._context_menu = menu

    def _on_view_double_clicked(self, index: QModelIndex) -> None:
        """A double-click on a running run follows it live on the Train page."""
        rec = self.model.record_by_id(index.data(RUN_ID_ROLE)) if index.isValid() else None
        if rec is not None and rec.status is RunStatus.RUNNING:
            self.run_actions.follow(rec.id)

    # --- details -----------------------------------------------------------------------------------

    def _show_details(self) -> None:
        self.details.show_run(self.current_run(), len(self.selected_run_ids()))
