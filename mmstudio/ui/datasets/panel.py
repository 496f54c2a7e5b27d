"""The Datasets page: open a dataset, see how it was understood, browse it, read its report.

Loading runs in the thread pool (:func:`mmstudio.ui.tasks.run_task`): detection, reading, validation
and splitting in the core, then the statistics and the search index, so the GUI thread only swaps
finished results in. The header says which format was detected and why, and sums the dataset up
("1,382 usable pairs, 7 skipped"); the tabs hold the gallery, the report and the statistics.

Several ``.tar`` shards opened together become one WebDataset source: their folder when they are all
the shards in it, else a brace pattern of their paths (``DIR/{a.tar,b.tar}``), read as ``webdataset``.

Run it alone (STYLE.md, pattern 9)::

    python -m mmstudio.ui.datasets.panel [PATH ...] [--screenshot out.png] [--tab report]
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QFont, QIcon, QPalette
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from mmstudio.data.dataset import Dataset
from mmstudio.data.detect import detect_format
from mmstudio.data.preview import Preview, read_preview
from mmstudio.data.sources import can_open, dataset_source
from mmstudio.data.spec import DatasetSpec
from mmstudio.data.types import ColumnRoles, DatasetFormatError
from mmstudio.heap import collector_paused
from mmstudio.progress import TaskState
from mmstudio.ui.datasets.columns_dialog import ColumnMappingDialog
from mmstudio.ui.datasets.gallery import GalleryWidget, SearchIndex
from mmstudio.ui.datasets.report import ReportWidget
from mmstudio.ui.datasets.stats import StatsData, StatsWidget
from mmstudio.ui.resources import icon
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.tasks import Task, run_task
from mmstudio.ui.widgets import EmptyState, MessageBar

log = logging.getLogger(__name__)

COLUMN_FORMATS = ("manifest", "imagefolder", "webdataset")  # formats whose roles the user may choose
TABS = ("gallery", "report", "statistics")
FORMATS_TEXT = (
    "mmstudio reads a folder or a manifest (.csv, .tsv, .jsonl, .json, .parquet), a Hugging Face "
    "imagefolder, class folders with .txt captions, a COCO captions .json, or WebDataset .tar shards."
)
GUESSED_MESSAGE = (
    "Some columns were guessed from their contents, or more than one column could play a role. "
    "Check the choice below; Load reads the dataset again with it."
)


# --- what the load task returns ---------------------------------------------------------------


@dataclass
class LoadResult:
    """A loaded dataset with everything the page shows, all computed off the GUI thread."""

    dataset: Dataset
    stats: StatsData
    index: SearchIndex
    preview: Preview | None = None  # the first rows, when the column roles were guessed with doubt


@dataclass
class ColumnsNeeded:
    """The columns could not be told apart: the user has to choose them."""

    format: str
    preview: Preview
    roles: ColumnRoles
    message: str


def summarise(dataset: Dataset) -> LoadResult:
    dataset.labels  # noqa: B018 - computed here, once: the pages ask for it when the dataset lands
    return LoadResult(dataset, StatsData.of(dataset), SearchIndex.of(dataset.items))


def load_job(state: TaskState, spec: DatasetSpec, ask_columns: bool) -> LoadResult | ColumnsNeeded:
    """Load ``spec`` (in a pool thread). With ``ask_columns``, a manifest whose roles cannot be told
    apart gives :class:`ColumnsNeeded` instead of an error, and one whose roles were guessed with doubt
    comes with a preview for the mapping dialog."""

    def progress(done: int, total: int) -> None:
        if not state.message.startswith("Checking"):
            state.message = f"Checking {total:,} images"
        state.progress(done, total)

    state.set_message("Reading the dataset")
    try:
        with collector_paused():
            dataset = spec.load(progress=progress, cancel=state)
            state.set_message("Summarising")
            result = summarise(dataset)
    except DatasetFormatError as exc:
        needed = _columns_needed(spec, str(exc)) if ask_columns and spec.columns is None else None
        if needed is None:
            raise
        return needed
    source = dataset.source
    if ask_columns and spec.columns is None and not source.roles_certain and dataset.format in COLUMN_FORMATS:
        try:
            result.preview = read_preview(dataset.format, source.files)
        except (DatasetFormatError, OSError, ValueError):
            log.warning("no column preview for %s", spec.path, exc_info=True)
    return result


def _columns_needed(spec: DatasetSpec, message: str) -> ColumnsNeeded | None:
    """A :class:`ColumnsNeeded` when the load failed because the image or text column is unknown."""
    from mmstudio.data.columns import guess_roles

    try:
        detection = detect_format(spec.path, spec.format)
        if detection.format not in ("manifest", "imagefolder"):
            return None
        preview = read_preview(detection.format, detection.paths)
    except (DatasetFormatError, OSError, ValueError):
        return None
    if not preview.columns:
        return None
    guess = guess_roles(preview.columns, preview.rows)
    if guess.roles.image and guess.roles.text:
        return None  # the columns are not what failed
    return ColumnsNeeded(detection.format, preview, guess.roles, message)


def resplit_job(state: TaskState, dataset: Dataset, settings: tuple[float, float, int, bool]) -> LoadResult:
    val, test, seed, stratify = settings
    state.set_message("Splitting")
    with collector_paused():
        split = dataset.resplit(val_fraction=val, test_fraction=test, seed=seed, stratify=stratify)
        return summarise(split)


def preview_job(state: TaskState, format: str, files: list[Path]) -> Preview:
    state.set_message("Reading the columns")
    return read_preview(format, files)


def summarise_job(state: TaskState, dataset: Dataset) -> LoadResult:
    state.set_message("Summarising")
    with collector_paused():
        return summarise(dataset)


# --- paths ------------------------------------------------------------------------------------


def _local_path(path: str | os.PathLike | QUrl) -> str:
    if isinstance(path, QUrl):
        return path.toLocalFile()
    return os.fspath(path)


def _display_name(spec_path: str, dataset: Dataset | None) -> str:
    if dataset is not None:
        return dataset.root.name or str(dataset.root)
    return Path(spec_path).name or spec_path


# --- the panel --------------------------------------------------------------------------------


class DatasetsPanel(QWidget):
    """The Datasets page of the main window.

    Public API: :meth:`open_path`, :meth:`cancel_loading`, :meth:`is_busy`, :meth:`accepts` and the
    signals below. Every ``loading_started`` is followed by one ``loading_finished`` (with ``None``
    when the load failed, was cancelled or was replaced by a newer one).
    """

    loading_started = Signal(str)  # the path (or shard pattern) being loaded
    loading_finished = Signal(object)  # the Dataset, or None if it failed or was cancelled
    open_requested = Signal()  # "Open dataset…" in the empty state: the window shows its file dialog
    demo_requested = Signal()  # "Use the demo dataset": the window writes it (once) and opens it

    def __init__(self, state: StudioState, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.settings = settings
        self.dataset: Dataset | None = None
        self.spec: DatasetSpec | None = None
        self.ask_columns = True  # open the mapping dialog when roles are uncertain (off for screenshots)
        self.columns_dialog: ColumnMappingDialog | None = None
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

        self.empty = EmptyState("datasets", "Drop a dataset here", FORMATS_TEXT)
        self.open_button = self.empty.add_action("Open dataset…", self.open_requested.emit, default=True)
        self.open_button.setIcon(icon("open"))
        self.demo_button = self.empty.add_action("Use the demo dataset", self.demo_requested.emit)
        self.demo_button.setIcon(icon("demo"))

        self.title = QLabel()
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.format_label = QLabel()
        self.format_label.setObjectName("formatChip")
        self.format_label.setStyleSheet(
            "QLabel#formatChip { background: #e3ecf7; color: #1d3b5c; border-radius: 9px;"
            " padding: 2px 10px; }"
        )
        self.path_label = _secondary_label()
        self.path_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.path_label.setWordWrap(False)
        self.reason_label = _secondary_label()
        self.reason_label.setToolTip("How the format was detected")
        self.summary_label = QLabel()
        summary_font = QFont(self.summary_label.font())
        summary_font.setBold(True)
        self.summary_label.setFont(summary_font)
        self.summary_label.setWordWrap(True)
        self.columns_label = _secondary_label()
        self.columns_label.setWordWrap(False)
        self.columns_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.columns_label.setMinimumWidth(120)
        self.columns_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        self.progress_label = _secondary_label()
        self.progress_label.setWordWrap(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedWidth(180)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.columns_button = QPushButton("Columns…")
        self.columns_button.setToolTip("Choose which column is the image, the text, the label and the split")
        self.columns_button.clicked.connect(self._on_columns_button_clicked)
        self.reload_button = QPushButton("Reload")
        self.reload_button.setToolTip("Read and check the dataset again (after its files changed)")
        self.reload_button.clicked.connect(self._on_reload_button_clicked)

        top = QHBoxLayout()
        top.setSpacing(10)
        top.addWidget(self.title)
        top.addWidget(self.format_label)
        top.addWidget(self.path_label, 1)
        top.addWidget(self.progress_label)
        top.addWidget(self.progress)
        top.addWidget(self.cancel_button)
        top.addWidget(self.columns_button)
        top.addWidget(self.reload_button)
        bottom = QHBoxLayout()
        bottom.setSpacing(16)
        bottom.addWidget(self.summary_label, 3)
        bottom.addWidget(self.columns_label, 2)
        self.header = QWidget()
        header_layout = QVBoxLayout(self.header)
        header_layout.setContentsMargins(0, 0, 0, 0)
        header_layout.setSpacing(4)
        header_layout.addLayout(top)
        header_layout.addWidget(self.reason_label)
        header_layout.addLayout(bottom)

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
            self.message.show_message(_sentence(str(exc)), "error")
            return
        self._start_load(spec, ask_columns=columns is None and self.ask_columns)

    def cancel_loading(self) -> None:
        """Stop the load (or re-split) in progress; the page keeps what it showed before."""
        if self._task is not None:
            self._task.cancel()
            self.progress_label.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

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
        self.progress.setRange(0, 0)
        self.progress_label.setText("Starting…")
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
        if self.sender() is not self._task:
            return
        if fraction < 0:
            self.progress.setRange(0, 0)
            self.progress_label.setText(f"{message}…" if message else "Working…")
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(fraction * 1000))
            self.progress_label.setText(f"{message}: {fraction:.0%}" if message else f"{fraction:.0%}")

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
        if isinstance(result, ColumnsNeeded):
            self.message.show_message(_sentence(result.message), "error")
            self._show_page()
            self.loading_finished.emit(None)
            self._open_columns_dialog(result.preview, result.roles, result.format, result.message, spec)
            return
        assert isinstance(result, LoadResult)
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
            self.settings.add_recent_dataset(spec.path)
            self.state.post_status(f"Loaded {self.title.text()}: {result.dataset.report.summary()}")
            self.loading_finished.emit(result.dataset)
            if result.preview is not None:
                dataset = result.dataset
                self._open_columns_dialog(
                    result.preview, dataset.columns, dataset.format, GUESSED_MESSAGE, spec
                )
        else:
            self.state.post_status(f"Split again: {_splits_text(result.dataset)}")

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
        self.message.show_message(f"{what}: {_sentence(message)}", "error")
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

    def _show(self, result: LoadResult, spec: DatasetSpec | None) -> None:
        dataset = result.dataset
        self.dataset, self.spec = dataset, spec
        path = spec.path if spec is not None else str(dataset.root)
        self.title.setText(_display_name(path, dataset))
        self.title.setToolTip(path)
        self.format_label.setText(dataset.format)
        self.path_label.setText(path)
        self.path_label.setToolTip(path)
        self.reason_label.setText(dataset.reason)
        self.summary_label.setText(_summary_line(dataset, result.stats))
        self.columns_label.setText(_columns_text(dataset.columns))
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
            self.message.show_message(" ".join(_sentence(n) for n in dataset.notes), "info")
        self._show_page()
        # Last: every visibility change above relays the page out, and with 100,000 items in the
        # gallery each of those would lay them all out again (tens of milliseconds each). The grid
        # itself is laid out and painted in the next pass of the event loop, after the page.
        self.gallery.set_items(dataset.items, result.index, result.stats.stats.labels)
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
        busy = self._task is not None
        has = self.dataset is not None
        # Showing a widget in a visible window lays the window out at once; with the header hidden
        # meanwhile, its children change for free and the window is laid out once, not ten times.
        self.header.setVisible(False)
        for w in (self.progress, self.progress_label, self.cancel_button):
            w.setVisible(busy)
        self.cancel_button.setEnabled(busy)
        self.columns_button.setVisible(has and self.dataset.format in COLUMN_FORMATS)
        self.columns_button.setEnabled(has and not busy)
        self.reload_button.setVisible(has)
        self.reload_button.setEnabled(has and not busy)
        for w in (self.reason_label, self.summary_label, self.columns_label, self.format_label):
            w.setVisible(has)
        if busy and not has and self._task_spec is not None:
            self.title.setText(f"Loading {Path(self._task_spec.path).name or self._task_spec.path}")
            self.path_label.setText("")
        self.header.setVisible(has or busy)

    # --- columns -------------------------------------------------------------------------------

    def _open_columns_dialog(
        self, preview: Preview, roles: ColumnRoles, format: str, message: str, spec: DatasetSpec | None
    ) -> None:
        self._close_columns_dialog()
        dialog = ColumnMappingDialog(preview, roles, format=format, message=_sentence(message), parent=self)
        dialog.finished.connect(self._on_columns_dialog_finished)
        self.columns_dialog, self._columns_spec = dialog, spec
        dialog.open()

    def _close_columns_dialog(self) -> None:
        dialog, self.columns_dialog = self.columns_dialog, None
        if dialog is not None:
            dialog.reject()  # its finished signal is ignored: it is no longer the panel's dialog
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
        if self.dataset is not None and spec is self.spec and _same_roles(roles, self.dataset.columns):
            self.spec = dataclasses.replace(spec, columns=roles)  # confirmed as guessed: nothing to reload
            self.state.set_dataset(self.dataset, self.spec)
            return
        self._start_load(dataclasses.replace(spec, columns=roles), ask_columns=False)

    # --- slots ---------------------------------------------------------------------------------

    def _on_cancel_button_clicked(self) -> None:
        self.cancel_loading()

    def _on_reload_button_clicked(self) -> None:
        if self.spec is not None:
            self._start_load(self.spec, ask_columns=False)

    def _on_columns_button_clicked(self) -> None:
        if self.dataset is None or self.dataset.format not in COLUMN_FORMATS:
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


# --- text -------------------------------------------------------------------------------------


def _secondary_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _summary_line(dataset: Dataset, stats: StatsData) -> str:
    parts = [dataset.report.summary()]
    warnings = sum(1 for p in dataset.report.problems if not p.skipped)
    if warnings:
        parts[0] += f", {warnings:,} warning{'s' if warnings != 1 else ''}"
    labels = len(stats.stats.labels)
    if labels:
        parts.append(f"{labels:,} label{'s' if labels != 1 else ''}")
    parts.append("classification" if dataset.task == "classification" else "image–text retrieval")
    parts.append(_splits_text(dataset, stats.stats.splits))
    return "  ·  ".join(parts)


def _splits_text(dataset: Dataset, splits: dict[str, int] | None = None) -> str:
    splits = splits if splits is not None else dataset.split_counts()
    return " / ".join(f"{name} {splits.get(name, 0):,}" for name in ("train", "val", "test"))


def _columns_text(columns: ColumnRoles) -> str:
    return "Columns: " + ", ".join(f"{role} = {name}" for role, name in columns.to_dict().items() if name)


def _same_roles(a: ColumnRoles, b: ColumnRoles) -> bool:
    return all(
        (x or None) == (y or None) for x, y in zip(a.to_dict().values(), b.to_dict().values(), strict=True)
    )
