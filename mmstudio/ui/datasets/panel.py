"""The Datasets page: open a dataset, see how it was understood, browse it, read its report.

Loading runs in the thread pool (:func:`mmstudio.ui.tasks.run_task`): the core's
:func:`~mmstudio.data.overview.load_overview` detects, reads, validates and splits, then computes the
statistics and the search index, so the GUI thread only swaps finished results in. The header
(:mod:`.header`) says which format was detected and why, and sums the dataset up ("1,382 usable pairs,
7 skipped"); the tabs hold the gallery, the report and the statistics.

Several ``.tar`` shards opened together become one WebDataset source: their folder when they are all
the shards in it, else a brace pattern of their paths (``DIR/{a.tar,b.tar}``), read as ``webdataset``.

Run it alone (STYLE.md, pattern 9)::

    python -m mmstudio.ui.datasets [PATH ...] [--screenshot out.png] [--tab report]
"""

from __future__ import annotations

import dataclasses
import html
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QLineEdit,
    QListView,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from mmstudio.data.dataset import Dataset
from mmstudio.data.formats import roles_choosable
from mmstudio.data.overview import (
    ChoiceNeeded,
    ColumnsNeeded,
    Overview,
    display_name,
    load_overview,
    overview,
    splits_text,
)
from mmstudio.data.preview import Preview, read_preview
from mmstudio.data.sources import can_open, dataset_source, formats_text
from mmstudio.data.spec import DatasetSpec
from mmstudio.data.types import ColumnRoles
from mmstudio.formatting import sentence
from mmstudio.heap import collector_paused
from mmstudio.progress import TaskState
from mmstudio.ui.datasets.choice_dialog import DatasetChoiceDialog
from mmstudio.ui.datasets.columns_dialog import ColumnMappingDialog
from mmstudio.ui.datasets.gallery import GalleryWidget
from mmstudio.ui.datasets.header import DatasetHeader
from mmstudio.ui.datasets.report import ReportWidget
from mmstudio.ui.datasets.stats import StatsWidget
from mmstudio.ui.resources import icon
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.tasks import Task, run_task
from mmstudio.ui.widgets import EmptyState, MessageBar

log = logging.getLogger(__name__)

TABS = ("gallery", "report", "statistics")
GUESSED_MESSAGE = (
    "Some columns were guessed from their contents, or more than one column could play a role. "
    "Check the choice below; Load reads the dataset again with it."
)


# --- the tasks (in the thread pool; the collector paused while a dataset is built: see heap.py) ------


def load_job(
    state: TaskState, spec: DatasetSpec, ask_columns: bool
) -> Overview | ColumnsNeeded | ChoiceNeeded:
    with collector_paused():
        return load_overview(spec, ask_columns=ask_columns, state=state)


def resplit_job(state: TaskState, dataset: Dataset, settings: tuple[float, float, int, bool]) -> Overview:
    val, test, seed, stratify = settings
    state.set_message("Splitting")
    with collector_paused():
        split = dataset.resplit(val_fraction=val, test_fraction=test, seed=seed, stratify=stratify)
        return overview(split)


def preview_job(state: TaskState, format: str, files: list[Path]) -> Preview:
    state.set_message("Reading the columns")
    return read_preview(format, files)


def summarise_job(state: TaskState, dataset: Dataset) -> Overview:
    state.set_message("Summarising")
    with collector_paused():
        return overview(dataset)


# --- paths ------------------------------------------------------------------------------------


def _local_path(path: str | os.PathLike | QUrl) -> str:
    if isinstance(path, QUrl):
        return path.toLocalFile()
    return os.fspath(path)


# --- the panel --------------------------------------------------------------------------------


class DatasetsPanel(QWidget):
    """The Datasets page of the main window.

    Public API: :meth:`open_path`, :meth:`cancel_loading`, :meth:`is_busy`, :meth:`accepts`,
    :meth:`focus_search` (Ctrl+F, :attr:`search_action`) and the signals below. Every
    ``loading_started`` is followed by one ``loading_finished`` (with ``None`` when the load failed,
    was cancelled or was replaced by a newer one).
    """

    loading_started = Signal(str)  # the path (or shard pattern) being loaded
    loading_finished = Signal(object)  # the Dataset, or None if it failed or was cancelled
    open_requested = Signal()  # "Open dataset…" in the empty state: the window shows its file dialog
    demo_requested = Signal()  # "Create the demo dataset": the window writes it (once) and opens it
    tour_requested = Signal()  # "Take the tour": the window steps through the pages

    def __init__(self, state: StudioState, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.settings = settings
        self.dataset: Dataset | None = None
        self.spec: DatasetSpec | None = None
        self.ask_columns = True  # open the mapping dialog when roles are uncertain (off for screenshots)
        self.columns_dialog: ColumnMappingDialog | None = None
        self.choice_dialog: DatasetChoiceDialog | None = None  # a folder of several datasets: which one
        self._columns_spec: DatasetSpec | None = None
        self._task: Task | None = None
        self._task_kind = ""  # "load", "split", "preview" or "summary"
        self._task_spec: DatasetSpec | None = None
        self.setAcceptDrops(True)
        self._build()
        state.dataset_changed.connect(self._on_state_dataset_changed)

    # --- building ------------------------------------------------------------------------------

    def _build(self) -> None:
        self.message = MessageBar()

        self.empty = EmptyState(
            "datasets",
            "Start with a dataset",
            "<p>Drop a dataset anywhere on the window, open one, or create the demo dataset (3,000 "
            "image + caption pairs in six classes) to try every page first.</p>"
            f"<p>{html.escape(formats_text())}</p>",
        )
        self.open_button = self.empty.add_action("Open a dataset…", self.open_requested.emit, default=True)
        self.open_button.setIcon(icon("open"))
        self.demo_button = self.empty.add_action("Create the demo dataset", self.demo_requested.emit)
        self.demo_button.setIcon(icon("demo"))
        self.tour_button = self.empty.add_action("Take the tour", self.tour_requested.emit)

        self.header = DatasetHeader()
        self.header.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.header.columns_button.clicked.connect(self._on_columns_button_clicked)
        self.header.reload_button.clicked.connect(self._on_reload_button_clicked)

        self.gallery = GalleryWidget()
        self.report = ReportWidget()
        self.report.exported.connect(self._on_report_exported)
        self.stats = StatsWidget()
        self.stats.split_settings_applied.connect(self._on_stats_split_settings_applied)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.gallery, "Gallery")
        self.tabs.addTab(self.report, "Report")
        self.tabs.addTab(self.stats, "Statistics")

        self.loading_page = QLabel()
        self.loading_page.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.loading_page.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.loading_page)
        self.stack.addWidget(self.tabs)

        # Ctrl+F while the page is shown: the gallery's search field (the shortcuts dialog lists it).
        self.search_action = QAction(icon("search"), "Search captions", self)
        self.search_action.setShortcut(QKeySequence.StandardKey.Find)
        self.search_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.search_action.triggered.connect(self.focus_search)
        self.addAction(self.search_action)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(10)
        layout.addWidget(self.header)
        layout.addWidget(self.message)
        layout.addWidget(self.stack, 1)
        self._update_controls()

    # --- public API ----------------------------------------------------------------------------

    def open_path(
        self,
        paths: str | os.PathLike | list[str] | list[os.PathLike],
        *,
        format: str | None = None,
        columns: ColumnRoles | None = None,
    ) -> None:
        """Load a dataset folder or file, a shard pattern, or several ``.tar`` shards (one source).

        ``format`` skips detection; ``columns`` sets the column roles (no dialog is shown then). The
        load runs in the background: ``loading_finished`` says when it is done.
        """
        try:
            if not isinstance(paths, str | os.PathLike):
                paths = [_local_path(p) for p in paths]
            path, format = dataset_source(paths, format)
            spec = DatasetSpec(
                path=path, format=format, columns=columns, check_images=self.settings.check_images
            )
        except (ValueError, TypeError) as exc:
            self.message.show_message(sentence(str(exc)), "error")
            return
        self._start_load(spec, ask_columns=columns is None and self.ask_columns)

    def open_spec(self, spec: DatasetSpec) -> None:
        """Load ``spec`` exactly: its path, format, column roles and split settings (a run's recorded
        dataset, re-opened); the column dialog is shown only where the spec leaves roles to guess."""
        self._start_load(spec, ask_columns=spec.columns is None and self.ask_columns)

    def cancel_loading(self) -> None:
        """Stop the load (or re-split) in progress; the page keeps what it showed before."""
        if self._task is not None:
            self._task.cancel()
            self.header.show_cancelling()

    def is_busy(self) -> bool:
        """True while a dataset loads, or while the gallery's grid or the thumbnails of its visible
        cells are still coming."""
        if self._task is not None:
            return True
        return self.stack.currentWidget() is self.tabs and (
            self.gallery.grid_held() or self.gallery.pending_thumbnails() > 0
        )

    @staticmethod
    def accepts(paths: Iterable[str | os.PathLike | QUrl]) -> bool:
        """Whether dropping ``paths`` opens a dataset: one folder, one manifest or COCO file
        (.csv .tsv .jsonl .json .parquet), or one or more .tar shards."""
        return can_open([_local_path(p) for p in paths])

    def is_loading(self) -> bool:
        """True while a dataset is being loaded (``is_busy`` also counts thumbnails)."""
        return self._task is not None and self._task_kind == "load"

    def show_error(self, text: str) -> None:
        """Say ``text`` in the page's message bar as an error (the page keeps what it shows)."""
        self.message.show_message(text, "error")

    def error_message(self) -> str:
        """The error shown in the message bar ("" when none)."""
        bar = self.message
        return bar.label.text() if not bar.isHidden() and bar.property("level") == "error" else ""

    def show_tab(self, name: str) -> None:
        """Show the ``gallery``, ``report`` or ``statistics`` tab."""
        if name not in TABS:
            raise ValueError(f"no tab {name!r}; tabs: {', '.join(TABS)}")
        self.tabs.setCurrentIndex(TABS.index(name))

    def gallery_view(self) -> QListView:
        return self.gallery.view

    def search_field(self) -> QLineEdit:
        return self.gallery.search

    def focus_search(self) -> None:
        """Show the gallery and put the cursor in its search field, its text selected (Ctrl+F)."""
        if self.dataset is None:
            return
        self.show_tab("gallery")
        self.gallery.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.gallery.search.selectAll()

    def visible_count(self) -> int:
        """How many items the gallery shows (after the search and the label filter)."""
        return self.gallery.shown_count()

    def shutdown(self) -> None:
        """Stop background work (the window calls this when it closes)."""
        if self._task is not None:
            self._task.cancel()
        self.gallery.shutdown()

    # --- loading -------------------------------------------------------------------------------

    def _start_load(self, spec: DatasetSpec, *, ask_columns: bool) -> None:
        self._abandon_task()
        self._close_columns_dialog()
        self.message.clear()
        self._run("load", spec, load_job, spec, ask_columns)
        self.loading_page.setText(f"Reading {Path(spec.path).name or spec.path}…")
        self._show_page()
        self.loading_started.emit(spec.path)

    def _run(self, kind: str, spec: DatasetSpec | None, fn, *args) -> None:
        task = run_task(fn, *args)
        task.progressed.connect(self._on_task_progressed)
        task.succeeded.connect(self._on_task_succeeded)
        task.failed.connect(self._on_task_failed)
        task.cancelled.connect(self._on_task_cancelled)
        self._task, self._task_kind, self._task_spec = task, kind, spec
        self.header.show_progress(-1, "Starting")
        self._update_controls()

    def _abandon_task(self) -> None:
        """Cancel the running task; its results will be ignored."""
        task, kind = self._task, self._task_kind
        if task is None:
            return
        task.cancel()
        self._task = None
        if kind == "load":
            self.loading_finished.emit(None)

    def _finish_task(self, *, update_controls: bool = True) -> tuple[str, DatasetSpec | None] | None:
        """Take the task that sent the current signal off the panel; None if it is not the current one."""
        if self._task is None or self.sender() is not self._task:
            return None
        kind, spec = self._task_kind, self._task_spec
        self._task, self._task_kind, self._task_spec = None, "", None
        if update_controls:
            self._update_controls()
        return kind, spec

    def _on_task_progressed(self, fraction: float, message: str) -> None:
        if self.sender() is self._task:
            self.header.show_progress(fraction, message)

    def _on_task_succeeded(self, result: object) -> None:
        # The controls are updated once, by _show_page below: each update lays the window out (~4 ms).
        finished = self._finish_task(update_controls=False)
        if finished is None:
            return
        kind, spec = finished
        if kind == "preview":
            self._update_controls()
            dataset = self.dataset
            if dataset is not None and self.spec is not None:
                self._open_columns_dialog(result, dataset.columns, dataset.format, "", self.spec)
            return
        if isinstance(result, ChoiceNeeded):
            self.message.show_message(sentence(result.message), "info")
            self._show_page()
            self.loading_finished.emit(None)
            self._open_choice_dialog(result, spec)
            return
        if isinstance(result, ColumnsNeeded):
            self.message.show_message(sentence(result.message), "error")
            self._show_page()
            self.loading_finished.emit(None)
            self._open_columns_dialog(result.preview, result.roles, result.format, result.message, spec)
            return
        assert isinstance(result, Overview)
        if kind == "split" and spec is not None:
            o = result.dataset.options
            spec = dataclasses.replace(
                spec,
                val_fraction=o.val_fraction,
                test_fraction=o.test_fraction,
                seed=o.seed,
                stratify=o.stratify,
            )
        elif kind == "summary":
            spec = self.state.dataset_spec
        self._show(result, spec)
        if kind == "summary":
            return
        self.state.set_dataset(result.dataset, spec)
        if kind == "load":
            # Not added to Open Recent here: the window does that (loading_finished), so that the page
            # shown alone (python -m mmstudio.ui.datasets) leaves the user's list as it was.
            name = display_name(spec.path, result.dataset)
            self.state.post_status(f"Loaded {name}: {result.dataset.report.summary()}")
            self.loading_finished.emit(result.dataset)
            if result.preview is not None:
                dataset = result.dataset
                self._open_columns_dialog(
                    result.preview, dataset.columns, dataset.format, GUESSED_MESSAGE, spec
                )
        else:
            self.state.post_status(f"Split again: {splits_text(result.dataset.split_counts())}")

    def _on_task_failed(self, message: str, traceback_text: str) -> None:
        finished = self._finish_task()
        if finished is None:
            return
        kind, spec = finished
        where = spec.path if spec else "the dataset"
        if traceback_text:
            log.error("%s of %s failed: %s\n%s", kind, where, message, traceback_text)
        else:  # the input's fault: the message shown says it all
            log.info("%s of %s failed: %s", kind, where, message)
        what = {"load": "Could not load the dataset", "split": "Could not split the dataset"}.get(
            kind, "Could not read the columns"
        )
        self.message.show_message(f"{what}: {sentence(message)}", "error")
        self._show_page()
        if kind == "load":
            self.state.post_status(f"{what}.")
            self.loading_finished.emit(None)

    def _on_task_cancelled(self) -> None:
        finished = self._finish_task()
        if finished is None:
            return
        kind, _spec = finished
        if kind == "load":
            kept = " The dataset shown before is kept." if self.dataset is not None else ""
            self.message.show_message(f"Loading was cancelled.{kept}", "info")
        self._show_page()
        if kind == "load":
            self.loading_finished.emit(None)

    # --- showing -------------------------------------------------------------------------------

    def _show(self, result: Overview, spec: DatasetSpec | None) -> None:
        dataset = result.dataset
        self.dataset, self.spec = dataset, spec
        self.header.show_dataset(dataset, spec.path if spec is not None else str(dataset.root), result.stats)
        self.report.set_report(dataset.report)
        count = len(dataset.report.problems)
        self.tabs.setTabText(1, f"Report ({count:,})" if count else "Report")
        self.tabs.setTabIcon(1, icon("warning") if count else QIcon())
        self.stats.set_dataset(dataset, result.stats)
        if not dataset.report.usable:
            self.message.show_message(
                "No usable pairs: every row has a problem. The Report tab lists them by kind.", "warning"
            )
        elif dataset.notes:
            self.message.show_message(" ".join(sentence(n) for n in dataset.notes), "info")
        self._show_page()
        # Last: every visibility change above relays the page out, and with 100,000 items in the
        # gallery each of those would lay them all out again (tens of milliseconds each). The grid
        # itself is laid out and painted in the next pass of the event loop, after the page.
        self.gallery.set_items(dataset.items, result.index, result.stats.labels)
        self.gallery.hold_grid()

    def _clear(self) -> None:
        self.dataset, self.spec = None, None
        self.gallery.set_items([])
        self.report.set_report(None)
        self.stats.set_dataset(None, None)
        self._show_page()

    def _show_page(self) -> None:
        if self.dataset is not None:
            self.stack.setCurrentWidget(self.tabs)
        elif self._task is not None and self._task_kind == "load":
            self.stack.setCurrentWidget(self.loading_page)
        else:
            self.stack.setCurrentWidget(self.empty)
        self._update_controls()

    def _update_controls(self) -> None:
        dataset, spec = self.dataset, self._task_spec
        self.search_action.setEnabled(dataset is not None)
        self.header.update_controls(
            busy=self._task is not None,
            shown=dataset,
            columns=dataset is not None and roles_choosable(dataset.format),
            loading=spec.path if spec is not None else None,
        )

    # --- columns -------------------------------------------------------------------------------

    def _open_columns_dialog(
        self, preview: Preview, roles: ColumnRoles, format: str, message: str, spec: DatasetSpec | None
    ) -> None:
        self._close_columns_dialog()
        dialog = ColumnMappingDialog(preview, roles, format=format, message=sentence(message), parent=self)
        dialog.finished.connect(self._on_columns_dialog_finished)
        self.columns_dialog, self._columns_spec = dialog, spec
        dialog.open()

    def _open_choice_dialog(self, needed: ChoiceNeeded, spec: DatasetSpec | None) -> None:
        dialog = DatasetChoiceDialog(needed, self)
        dialog.finished.connect(self._on_choice_dialog_finished)
        self.choice_dialog, self._columns_spec = dialog, spec
        dialog.open()

    def _on_choice_dialog_finished(self, result: int) -> None:
        dialog, spec = self.sender(), self._columns_spec
        if dialog is None or dialog is not self.choice_dialog:
            return
        self.choice_dialog, self._columns_spec = None, None
        chosen = dialog.chosen()
        dialog.deleteLater()
        if result == QDialog.DialogCode.Accepted and chosen is not None and spec is not None:
            self._start_load(dataclasses.replace(spec, path=str(chosen)), ask_columns=self.ask_columns)

    def _close_columns_dialog(self) -> None:
        """Close the column or choice dialog (their finished signals are then ignored: neither is the
        panel's dialog any more)."""
        dialogs = (self.columns_dialog, self.choice_dialog)
        self.columns_dialog = self.choice_dialog = None
        for dialog in dialogs:
            if dialog is not None:
                dialog.reject()
                dialog.deleteLater()

    def _on_columns_dialog_finished(self, result: int) -> None:
        dialog, spec = self.sender(), self._columns_spec
        if dialog is None or dialog is not self.columns_dialog:
            return
        self.columns_dialog, self._columns_spec = None, None
        roles = dialog.roles()
        dialog.deleteLater()
        if result != QDialog.DialogCode.Accepted or spec is None:
            return
        if self.dataset is not None and spec is self.spec and roles.same(self.dataset.columns):
            self.spec = dataclasses.replace(spec, columns=roles)  # confirmed as guessed: nothing to reload
            self.state.set_dataset(self.dataset, self.spec)
            return
        self._start_load(dataclasses.replace(spec, columns=roles), ask_columns=False)

    # --- slots ---------------------------------------------------------------------------------

    def set_demo_busy(self, busy: bool) -> None:
        """While the window writes the demo dataset: its button says so and cannot be pressed twice."""
        self.demo_button.setEnabled(not busy)
        self.demo_button.setText("Creating the demo dataset…" if busy else "Create the demo dataset")

    def _on_cancel_button_clicked(self) -> None:
        self.cancel_loading()

    def _on_reload_button_clicked(self) -> None:
        if self.spec is not None:
            self._start_load(self.spec, ask_columns=False)

    def _on_columns_button_clicked(self) -> None:
        if self.dataset is None or not roles_choosable(self.dataset.format):
            return
        self._run("preview", self.spec, preview_job, self.dataset.format, list(self.dataset.source.files))

    def _on_stats_split_settings_applied(self, val: float, test: float, seed: int, stratify: bool) -> None:
        if self.dataset is None or self._task is not None:
            return
        self.message.clear()
        self._run("split", self.spec, resplit_job, self.dataset, (val, test, seed, stratify))

    def _on_report_exported(self, path: str) -> None:
        self.state.post_status(f"Problems written to {path}")

    def _on_state_dataset_changed(self, dataset: Dataset | None) -> None:
        if dataset is self.dataset:
            return
        if self._task is not None and self._task_kind in ("load", "split"):
            return  # the page is about to show its own dataset
        if dataset is None:
            self._clear()
            return
        self._abandon_task()
        self._run("summary", self.state.dataset_spec, summarise_job, dataset)

    # --- drag and drop -------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if urls and self.accepts(urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls()]
        if self.accepts(paths):
            event.acceptProposedAction()
            self.open_path(paths if len(paths) > 1 else paths[0])

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)
