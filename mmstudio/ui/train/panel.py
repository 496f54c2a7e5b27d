"""The Train page: hyperparameters, Start, live plots, progress, pause / resume / stop, a queue of runs.

Training runs in a worker process (:func:`mmstudio.training.worker.start_worker`, ``spawn``), which
writes the run to the store itself; this page only shows what it reports. A 50 ms timer drains the
worker's events with a budget per tick (:meth:`TrainPanel.feed_events` is the one path every event
takes) and redraws the plots at most ~20 times a second, less often when a redraw gets expensive, so
the GUI thread never stalls for long however fast the run logs (``tests/benchmarks/bench_train_plots.py``).

Startup stays light: this module imports neither torch nor the worker module. The devices of the
machine are detected in the thread pool (that imports torch there), the worker is started from the
thread pool too (a ``spawn`` start pickles the job and launches an interpreter), and the store is read
there (the runs that can be resumed). Jobs are queued and run one at a time.

Closing: :meth:`TrainPanel.confirm_close` asks whether to stop a running run or keep it running in the
background; :meth:`TrainPanel.stop_all` and :meth:`TrainPanel.detach` do either without asking.

Run it alone: ``python -m mmstudio.ui.train.panel [DATASET] [--demo-run] [--screenshot out.png]``.
"""

from __future__ import annotations

import dataclasses
import html
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmstudio.formatting import format_duration
from mmstudio.training import events as ev
from mmstudio.training.spec import OPTIMIZERS, PRECISIONS, SCHEDULES, RunJob, TrainSpec
from mmstudio.ui.resources import icon
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.tasks import Task, run_task
from mmstudio.ui.train.live_plots import LivePlotsWidget
from mmstudio.ui.widgets import MessageBar, section_label
from mmstudio.vocabulary import RESUMABLE_STATUSES, is_live_metric

if TYPE_CHECKING:
    import numpy as np

    from mmstudio.data.spec import DatasetSpec

POLL_INTERVAL_MS = 50
#: The progress line and bar change at most this often (seconds): each change lays out its row.
PROGRESS_INTERVAL_S = 0.2
#: Events read from the worker per timer tick (the worker sends at most ~40 a second).
EVENTS_PER_TICK = 200
#: The longest a timer tick spends reading events (seconds); a backlog is read on at the next
#: event-loop pass (the timer then fires at once), so no tick blocks the window for long.
TICK_BUDGET_S = 0.006
#: The timer's interval (ms) after a backlog pass that redrew a plot (see :meth:`TrainPanel._poll`).
BACKLOG_INTERVAL_MS = 1
#: Seconds after a Stop before the Stop button offers to kill the worker.
KILL_AFTER_S = 20.0
#: How long a stop may take at the window's close before the worker is terminated.
CLOSE_TIMEOUT_S = 30.0
EARLY_STOPPING_METRICS = ("val/loss", "val/accuracy", "val/macro_f1")

_STATUS_COLOURS = {
    "queued": "#5b6b7f",
    "starting": "#2f7dd1",
    "running": "#2f7dd1",
    "completed": "#2e9e5b",
    "cancelled": "#e0a21b",
    "interrupted": "#e0a21b",
    "failed": "#d64541",
}


@dataclass
class QueueEntry:
    """One configured job in the queue and what became of it."""

    job: RunJob
    title: str
    status: str = "queued"  # queued | starting | running | completed | cancelled | failed | interrupted
    run_id: int | None = None
    message: str = ""


class LearningRateSpinBox(QDoubleSpinBox):
    """A learning rate: shown as ``0.003`` or ``3e-05``, typed in either form, and stepped on a log scale
    (each arrow press or wheel notch multiplies or divides by about 1.26, ten steps a decade)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(12)
        self.setRange(1e-8, 10.0)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:
        return f"{value:.3g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> object:
        stripped = text.strip()
        try:
            value = float(stripped)
        except ValueError:
            ok = all(c in "0123456789.eE+-" for c in stripped)
            return (QValidator.State.Intermediate if ok else QValidator.State.Invalid), text, pos
        if self.minimum() <= value <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos

    def stepBy(self, steps: int) -> None:
        value = self.value() * 10.0 ** (steps / 10.0)
        self.setValue(float(f"{value:.3g}"))


# --- work in the thread pool (no Qt, no GUI state) ----------------------------------------------------


_DETECTED_DEVICES: list[list[tuple[str, str]]] = []  # this machine's devices, once detected


def _detect_devices_job(_state: Any) -> list[tuple[str, str]]:
    from mmstudio.training.device import probe_devices

    return [(device.name, device.description) for device in probe_devices()]


def _start_worker_job(_state: Any, job: RunJob, holder: dict[str, Any]) -> Any:
    from mmstudio.training.worker import start_worker

    started = time.perf_counter()
    handle = start_worker(job)
    holder["handle"] = handle
    holder["start_s"] = time.perf_counter() - started
    return handle


def _close_handle_job(_state: Any, handle: Any, timeout: float, done: threading.Event) -> list[Any]:
    try:
        return handle.close(timeout)
    finally:
        done.set()


def _list_resumable_job(_state: Any, url: str | None) -> list[tuple[int, str, str]]:
    from mmstudio.store import Store

    with Store.open(url) as store:
        return [(r.id, r.name, r.status.value) for r in store.list_runs(status=RESUMABLE_STATUSES, limit=200)]


def _history_job(state: Any, url: str | None, run_id: int) -> dict[str, tuple[np.ndarray, ...]]:
    """A resumed run's live curves so far (what the plots show), ``{key: (step, epoch, value)}``."""
    from mmstudio.store import Store

    with Store.open(url) as store:
        curves = {}
        for key in filter(is_live_metric, store.metric_keys(run_id)):
            state.check()
            curve = store.read_curve(run_id, key)
            curves[key] = (curve.step, curve.epoch, curve.value)
        return curves


def _resume_job(_state: Any, url: str | None, run_id: int, current: DatasetSpec | None) -> RunJob:
    from mmstudio.training.resume import resume_job

    return resume_job(run_id, db_url=url, current=current)


# --- the page --------------------------------------------------------------------------------------------


class TrainPanel(QWidget):
    """The Train page. See the module docstring.

    Signals: ``run_started(run_id)`` when the worker has created its run, ``run_finished(run_id,
    status)`` once a run has ended and its worker process is joined (``status``: completed, cancelled,
    failed, interrupted), ``queue_changed()``. It also emits ``state.runs_changed`` when a run starts
    and when it ends.
    """

    run_started = Signal(int)
    run_finished = Signal(int, str)
    queue_changed = Signal()
    devices_detected = Signal(object)  # [(name, description)]
    resumable_listed = Signal(object)  # [(run id, name, status)]

    def __init__(self, state: StudioState, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.settings = settings
        self.kill_after_s = KILL_AFTER_S
        self.events_per_tick = EVENTS_PER_TICK
        self._plotted_run_id: int | None = None
        self._pending_progress: ev.ProgressUpdated | None = None  # not shown yet (throttled)
        self._progress_shown_at = 0.0
        self.entries: list[QueueEntry] = []
        self.devices: list[tuple[str, str]] | None = None
        self.worker_start_s: float | None = None  # how long the last start_worker call took (in a thread)
        self._base_spec = TrainSpec()
        self._handle: Any = None
        self._entry: QueueEntry | None = None
        self._holder: dict[str, Any] | None = None  # the handle of a worker being started, once it is
        self._closing_task: Task | None = None
        self._queue_held = False
        self._paused = False
        self._stop_requested_at: float | None = None
        self._kill_offered = False
        self._total_steps = 0
        self._epochs = 0
        self._device = ""
        self._closed = threading.Event()
        self.last_failure: ev.RunFailed | None = None

        self._timer = QTimer(self)
        self._timer.setInterval(POLL_INTERVAL_MS)
        self._timer.timeout.connect(self._on_poll_timer_timeout)

        self._build()
        self.set_train_spec(TrainSpec())
        self._update_summary()
        self._update_controls()

        state.dataset_changed.connect(self._on_state_dataset_changed)
        state.model_spec_changed.connect(self._on_state_model_spec_changed)
        state.store_changed.connect(self._on_state_store_changed)
        state.runs_changed.connect(self._on_state_runs_changed)

        self._devices_task: Task | None = None  # detected when the page is first shown

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._devices_task is None and self.devices is None:
            self.detect_devices()
            self.refresh_resumable()

    def detect_devices(self) -> Task | None:
        """List this machine's devices in a helper process (it imports torch and may initialise CUDA;
        this process need not), once per process: the Device choice then shows cuda:N with its name,
        mps and cpu. Returns the task, or None when the devices were known already."""
        if _DETECTED_DEVICES:
            self._on_devices_task_succeeded(_DETECTED_DEVICES[0])
            return None
        task = run_task(_detect_devices_job)
        task.succeeded.connect(self._on_devices_task_succeeded)
        task.failed.connect(lambda _message, _details: self._on_devices_task_succeeded([]))
        self._devices_task = task
        return task

    # --- layout ---------------------------------------------------------------------------------

    def _build(self) -> None:
        # Left: what to train and how.
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(10, 10, 10, 10)
        left_layout.setSpacing(8)

        left_layout.addWidget(section_label("Data and model"))
        self.dataset_label = QLabel()
        self.dataset_label.setWordWrap(True)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.go_datasets_button = QPushButton("Go to Datasets")
        self.go_datasets_button.clicked.connect(lambda: self.state.page_requested.emit("datasets"))
        self.go_model_button = QPushButton("Go to Model")
        self.go_model_button.clicked.connect(lambda: self.state.page_requested.emit("model"))
        left_layout.addWidget(self.dataset_label)
        left_layout.addWidget(self.model_label)
        links = QHBoxLayout()
        links.addWidget(self.go_datasets_button)
        links.addWidget(self.go_model_button)
        links.addStretch(1)
        left_layout.addLayout(links)

        left_layout.addSpacing(4)
        left_layout.addWidget(section_label("Hyperparameters"))
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 100_000)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 1 << 16)
        self.lr_spin = LearningRateSpinBox()
        self.lr_spin.setToolTip("Type 0.001 or 1e-3; the arrows step on a log scale (10 steps a decade)")
        self.optimizer_combo = QComboBox()
        self.optimizer_combo.addItems(OPTIMIZERS)
        self.schedule_combo = QComboBox()
        self.schedule_combo.addItems(SCHEDULES)
        self.warmup_spin = QSpinBox()
        self.warmup_spin.setRange(-1, 10_000_000)
        self.warmup_spin.setSpecialValueText("auto (5 % of the steps)")
        self.warmup_spin.setSuffix(" steps")
        self.decay_spin = QDoubleSpinBox()
        self.decay_spin.setRange(0.0, 10.0)
        self.decay_spin.setDecimals(4)
        self.decay_spin.setSingleStep(0.01)
        self.precision_combo = QComboBox()
        self.precision_combo.addItems(PRECISIONS)
        self.precision_combo.setToolTip("auto: bf16 (or fp16) on a CUDA GPU, fp32 elsewhere")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.device_combo = QComboBox()
        self.device_combo.addItem("auto (looking for devices…)", "auto")
        self.early_combo = QComboBox()
        self.early_combo.addItem("off", None)
        for key in EARLY_STOPPING_METRICS:
            self.early_combo.addItem(key, key)
        self.patience_spin = QSpinBox()
        self.patience_spin.setRange(1, 10_000)
        self.patience_spin.setSuffix(" epochs")
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("automatic (run-<id>)")
        early = QHBoxLayout()
        early.addWidget(self.early_combo, 1)
        early.addWidget(QLabel("patience"))
        early.addWidget(self.patience_spin)
        for label, widget in (
            ("Epochs", self.epochs_spin),
            ("Batch size", self.batch_spin),
            ("Learning rate", self.lr_spin),
            ("Optimizer", self.optimizer_combo),
            ("Schedule", self.schedule_combo),
            ("Warm-up", self.warmup_spin),
            ("Weight decay", self.decay_spin),
            ("Precision", self.precision_combo),
            ("Seed", self.seed_spin),
            ("Device", self.device_combo),
        ):
            form.addRow(label, widget)
        form.addRow("Early stopping", early)
        form.addRow("Run name", self.name_edit)
        left_layout.addLayout(form)
        self.form_message = MessageBar()
        left_layout.addWidget(self.form_message)

        buttons = QHBoxLayout()
        self.start_button = QPushButton(icon("play"), "Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self._on_start_button_clicked)
        self.queue_button = QPushButton("Add to queue")
        self.queue_button.clicked.connect(self._on_queue_button_clicked)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.queue_button)
        buttons.addStretch(1)
        left_layout.addLayout(buttons)

        left_layout.addSpacing(4)
        left_layout.addWidget(section_label("Queue"))
        self.queue_list = QListWidget()
        self.queue_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.queue_list.setMinimumHeight(90)
        self.queue_list.setMaximumHeight(150)
        self.queue_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.queue_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.queue_list.currentRowChanged.connect(lambda _row: self._update_controls())
        left_layout.addWidget(self.queue_list)
        queue_buttons = QHBoxLayout()
        self.up_button = QToolButton(text="Up")
        self.up_button.clicked.connect(lambda: self.move_entry(self.queue_list.currentRow(), -1))
        self.down_button = QToolButton(text="Down")
        self.down_button.clicked.connect(lambda: self.move_entry(self.queue_list.currentRow(), 1))
        self.remove_button = QToolButton(text="Remove")
        self.remove_button.clicked.connect(lambda: self.remove_entry(self.queue_list.currentRow()))
        self.clear_button = QToolButton(text="Clear finished")
        self.clear_button.clicked.connect(self.clear_finished)
        self.run_queue_button = QPushButton("Run queue")
        self.run_queue_button.clicked.connect(self.run_queue)
        for button in (self.up_button, self.down_button, self.remove_button, self.clear_button):
            queue_buttons.addWidget(button)
        queue_buttons.addStretch(1)
        left_layout.addLayout(queue_buttons)
        run_queue_row = QHBoxLayout()
        run_queue_row.addStretch(1)
        run_queue_row.addWidget(self.run_queue_button)
        left_layout.addLayout(run_queue_row)

        left_layout.addSpacing(4)
        left_layout.addWidget(section_label("Resume a stopped run"))
        resume = QHBoxLayout()
        self.resume_combo = QComboBox()
        self.resume_combo.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.resume_combo.setPlaceholderText("no stopped or interrupted run")
        self.resume_refresh_button = QToolButton()
        self.resume_refresh_button.setIcon(icon("reload"))
        self.resume_refresh_button.setToolTip("List the runs that can be resumed again")
        self.resume_refresh_button.clicked.connect(self.refresh_resumable)
        self.resume_button = QPushButton("Resume run…")
        self.resume_button.setToolTip("Continue the chosen run from its last checkpoint, into the same run")
        self.resume_button.clicked.connect(self._on_resume_button_clicked)
        resume.addWidget(self.resume_combo, 1)
        resume.addWidget(self.resume_refresh_button)
        left_layout.addLayout(resume)
        resume_row = QHBoxLayout()
        resume_row.addStretch(1)
        resume_row.addWidget(self.resume_button)
        left_layout.addLayout(resume_row)
        left_layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        # Wide enough for the form: the page never clips a field (the splitter can widen it further).
        scroll.setMinimumWidth(
            left.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4
        )
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        # Right: the run in progress.
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(10, 10, 10, 10)
        right_layout.setSpacing(6)
        header = QHBoxLayout()
        self.run_label = section_label("No run yet")
        self.status_label = QLabel()
        self.pause_button = QPushButton(icon("pause"), "Pause")
        self.pause_button.clicked.connect(self._on_pause_button_clicked)
        self.stop_button = QPushButton(icon("stop"), "Stop")
        self.stop_button.setToolTip("Stop after the current step; a final checkpoint is saved")
        self.stop_button.clicked.connect(self._on_stop_button_clicked)
        header.addWidget(self.run_label)
        header.addWidget(self.status_label)
        header.addStretch(1)
        header.addWidget(self.pause_button)
        header.addWidget(self.stop_button)
        right_layout.addLayout(header)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        right_layout.addWidget(self.progress)
        details = QHBoxLayout()
        self.progress_label = QLabel("Press Start to train the current model on the current dataset.")
        self.device_label = QLabel()
        self.device_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        details.addWidget(self.progress_label, 1)
        details.addWidget(self.device_label)
        right_layout.addLayout(details)

        self.failure_bar = MessageBar()
        right_layout.addWidget(self.failure_bar)
        failure_row = QHBoxLayout()
        self.details_button = QToolButton(text="Show details")
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(self._on_details_button_toggled)
        self.details_button.hide()
        failure_row.addWidget(self.details_button)
        failure_row.addStretch(1)
        right_layout.addLayout(failure_row)
        self.details_text = QPlainTextEdit()
        self.details_text.setReadOnly(True)
        self.details_text.setMaximumHeight(180)
        self.details_text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details_text.hide()
        right_layout.addWidget(self.details_text)

        self.plots = LivePlotsWidget()
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setPlaceholderText("What the run reports appears here.")
        log_box = QWidget()
        log_layout = QVBoxLayout(log_box)
        log_layout.setContentsMargins(0, 4, 0, 0)
        log_layout.addWidget(section_label("Log"))
        log_layout.addWidget(self.log_view)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.plots)
        splitter.addWidget(log_box)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([520, 130])
        right_layout.addWidget(splitter, 1)

        page = QSplitter(Qt.Orientation.Horizontal)
        page.addWidget(scroll)
        page.addWidget(right)
        page.setStretchFactor(0, 0)
        page.setStretchFactor(1, 1)
        page.setSizes([380, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(page)

    # --- the form -------------------------------------------------------------------------------

    def set_train_spec(self, spec: TrainSpec) -> None:
        """Show ``spec`` in the form; its fields that have no control here are kept as they are."""
        self._base_spec = spec
        self.epochs_spin.setValue(spec.epochs)
        self.batch_spin.setValue(spec.batch_size)
        self.lr_spin.setValue(spec.lr)
        self.optimizer_combo.setCurrentText(spec.optimizer)
        self.schedule_combo.setCurrentText(spec.schedule)
        self.warmup_spin.setValue(-1 if spec.warmup_steps is None else spec.warmup_steps)
        self.decay_spin.setValue(spec.weight_decay)
        self.precision_combo.setCurrentText(spec.precision)
        self.seed_spin.setValue(min(spec.seed, self.seed_spin.maximum()))
        index = self.device_combo.findData(spec.device)
        if index < 0:
            self.device_combo.addItem(spec.device, spec.device)
            index = self.device_combo.count() - 1
        self.device_combo.setCurrentIndex(index)
        metric = spec.early_stopping_metric
        index = self.early_combo.findData(metric)
        if index < 0:
            self.early_combo.addItem(metric, metric)
            index = self.early_combo.count() - 1
        self.early_combo.setCurrentIndex(index)
        self.patience_spin.setValue(spec.patience)

    def train_spec(self) -> TrainSpec:
        """The form as a :class:`TrainSpec` (raises ``ValueError`` / ``TypeError`` naming a bad field)."""
        warmup = self.warmup_spin.value()
        return dataclasses.replace(
            self._base_spec,
            epochs=self.epochs_spin.value(),
            batch_size=self.batch_spin.value(),
            lr=float(self.lr_spin.value()),
            optimizer=self.optimizer_combo.currentText(),
            schedule=self.schedule_combo.currentText(),
            warmup_steps=None if warmup < 0 else warmup,
            weight_decay=float(self.decay_spin.value()),
            precision=self.precision_combo.currentText(),
            seed=self.seed_spin.value(),
            device=self.device_combo.currentData() or "auto",
            early_stopping_metric=self.early_combo.currentData(),
            patience=self.patience_spin.value(),
        )

    def dataset_spec(self) -> DatasetSpec | None:
        """The current dataset as a spec (the state's, or one made from the loaded dataset)."""
        if self.state.dataset_spec is not None:
            return self.state.dataset_spec
        dataset = self.state.dataset
        if dataset is None:
            return None
        from mmstudio.data.spec import DatasetSpec

        files = getattr(dataset.source, "files", None) or []
        path = files[0] if len(files) == 1 else dataset.root
        options = dataset.options
        return DatasetSpec(
            path=str(path),
            format=dataset.format,
            columns=dataset.columns,
            val_fraction=options.val_fraction,
            test_fraction=options.test_fraction,
            seed=options.seed,
            stratify=options.stratify,
        )

    def build_job(self) -> RunJob:
        """The job the form describes (raises ``ValueError`` with a message for the user)."""
        dataset = self.dataset_spec()
        if dataset is None:
            raise ValueError("No dataset is loaded: open one on the Datasets page first.")
        try:
            train = self.train_spec()
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None
        name = self.name_edit.text().strip() or None
        return RunJob(
            dataset=dataset,
            model=dict(self.state.model_spec or {}),
            train=train,
            name=name,
            db_url=self.state.db_url,
        )

    def _job_title(self, job: RunJob) -> str:
        model = job.model
        parts = [
            (model.get(k) or {}).get("name", "")
            for k in ("text_encoder", "image_encoder", "fusion")
            if (model.get(k) or {}).get("name") not in (None, "", "none")
        ]
        arch = " + ".join(parts) if parts else "default model"
        lead = job.name or (f"resume run {job.resume_run_id}" if job.resume_run_id else "new run")
        train = job.train
        return f"{lead} · {arch} · {train.epochs} epochs, batch {train.batch_size}, lr {train.lr:.3g}"

    # --- public actions -------------------------------------------------------------------------

    def start(self) -> bool:
        """Start the job the form describes now (nothing may be running); False with a message if not."""
        if self.has_running_run():
            self.form_message.show_message("A run is in progress: add this one to the queue instead.", "info")
            return False
        job = self._job_from_form()
        if job is None:
            return False
        entry = QueueEntry(job, self._job_title(job))
        self.entries.insert(self._first_waiting_index(), entry)
        self._queue_held = False
        self._launch(entry)
        return True

    def add_to_queue(self) -> QueueEntry | None:
        """Queue the job the form describes; it starts when the runs before it have ended."""
        job = self._job_from_form()
        if job is None:
            return None
        entry = QueueEntry(job, self._job_title(job))
        self.entries.append(entry)
        self._refresh_queue()
        self.state.post_status(f"Queued: {entry.title}")
        return entry

    def enqueue(self, job: RunJob, title: str | None = None) -> QueueEntry:
        """Queue a ready-made job (a resume, a job built elsewhere)."""
        entry = QueueEntry(job, title or self._job_title(job))
        self.entries.append(entry)
        self._refresh_queue()
        return entry

    def run_queue(self) -> None:
        """Start the next queued job, if nothing runs; the others follow one after another."""
        self._queue_held = False
        self._start_next()

    def move_entry(self, row: int, delta: int) -> bool:
        """Move a queued entry up (-1) or down (+1) among the queued ones."""
        target = row + delta
        if not (0 <= row < len(self.entries) and 0 <= target < len(self.entries)):
            return False
        if self.entries[row].status != "queued" or self.entries[target].status != "queued":
            return False
        self.entries[row], self.entries[target] = self.entries[target], self.entries[row]
        self._refresh_queue()
        self.queue_list.setCurrentRow(target)
        return True

    def remove_entry(self, row: int) -> bool:
        """Remove an entry that is not starting or running."""
        if not 0 <= row < len(self.entries) or self.entries[row].status in ("starting", "running"):
            return False
        del self.entries[row]
        self._refresh_queue()
        return True

    def clear_finished(self) -> None:
        self.entries = [e for e in self.entries if e.status in ("queued", "starting", "running")]
        self._refresh_queue()

    def pause(self) -> None:
        if self._handle is not None and not self._paused:
            self._handle.pause()
            self._paused = True
            self.status_label.setText("pausing…")
            self._update_controls()

    def resume(self) -> None:
        if self._handle is not None and self._paused:
            self._handle.resume()
            self._paused = False
            self.status_label.setText("resuming…")
            self._update_controls()

    def stop(self) -> None:
        """Ask the run to stop after the current step (it saves a final checkpoint and evaluates); the
        queue is held. After :attr:`kill_after_s` without an answer the Stop button offers Kill."""
        self._queue_held = True
        if self._handle is None:
            return
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
        self._handle.stop()
        self.status_label.setText("stopping (saving a final checkpoint)…")
        self._update_controls()

    def kill_run(self) -> None:
        """Terminate the worker now (the last resort); the run is recorded ``interrupted``."""
        if self._handle is None:
            return
        self._log("warning", "the training process was terminated at your request")
        self._handle.kill()
        pending, self._handle.pending = self._handle.pending, []
        self.feed_events(pending)
        self._poll()

    def redraw_plots(self) -> None:
        """Give the plots every point received so far now (the timer otherwise does it, throttled)."""
        self._redraw(force=True)

    def resume_run(self, run_id: int) -> None:
        """Continue a stopped, failed or interrupted run from its last checkpoint: the job is built off
        the GUI thread (it reads the store) and queued first; it starts now if nothing runs."""
        task = run_task(_resume_job, self.state.db_url, int(run_id), self.dataset_spec())
        task.succeeded.connect(self._on_resume_task_succeeded)
        task.failed.connect(self._on_resume_task_failed)
        self._resume_task = task

    def refresh_resumable(self) -> None:
        """List the runs of the store that can be resumed (in the thread pool)."""
        task = run_task(_list_resumable_job, self.state.db_url)
        task.succeeded.connect(self._on_resumable_task_succeeded)
        self._resumable_task = task

    # --- window integration ---------------------------------------------------------------------

    def is_busy(self) -> bool:
        """Work in flight that a screenshot should wait for: a run, the device detection, or plots
        still to be redrawn."""
        detecting = self._devices_task is not None and not self._devices_task.done
        return self.has_running_run() or detecting or self.plots.flushing

    def has_running_run(self) -> bool:
        """A worker is being started or is running (its process not yet joined)."""
        return self._handle is not None or self._holder is not None

    def stop_all(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Hold the queue, stop the run cooperatively and join its process (terminating it after
        ``timeout`` seconds): no process is left behind. Blocks; for the window's close."""
        self._queue_held = True
        self._timer.stop()
        if self._closing_task is not None:  # the run has ended; its process is being joined
            self._closed.wait(timeout)
            return
        handle = self._wait_for_starting_handle(timeout) if self._handle is None else self._handle
        if handle is None:
            return
        events = handle.close(timeout)
        self.feed_events(events)
        self._handle = None
        self._holder = None
        self._entry = None
        self.state.runs_changed.emit()

    def detach(self) -> None:
        """Let the run go on without this window: it trains to the end and records itself in the store
        while the GUI exits. The worker is no longer a child this process joins at exit (Python's
        ``multiprocessing`` would wait for it); when it ends, the system reaps it."""
        self._queue_held = True
        self._timer.stop()
        handle = self._wait_for_starting_handle(CLOSE_TIMEOUT_S) if self._handle is None else self._handle
        if handle is None:
            return
        handle.detach()
        self._handle = None
        self._holder = None

    def confirm_close(self) -> bool:
        """For the window's close: with a run in progress, ask Stop / Keep running / Cancel and do it.
        Returns False when the user cancelled the close."""
        if not self.has_running_run():
            return True
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("A run is in progress")
        box.setText("A training run is in progress. Stop it, or keep it running in the background?")
        box.setInformativeText(
            "Stop saves a final checkpoint (the run can be resumed later). Keep running lets it finish on "
            "its own; it is saved in the experiment store as usual."
        )
        stop = box.addButton("Stop the run", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep running", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(stop)
        box.exec()
        clicked = box.clickedButton()
        if clicked is stop:
            self.stop_all()
            return True
        if clicked is keep:
            self.detach()
            return True
        return False

    def _wait_for_starting_handle(self, timeout: float) -> Any:
        holder = self._holder
        if holder is None:
            return None
        deadline = time.monotonic() + timeout
        while "handle" not in holder and "error" not in holder and time.monotonic() < deadline:
            time.sleep(0.01)  # the start takes about a second; the window is closing anyway
        return holder.get("handle")

    # --- running ----------------------------------------------------------------------------------

    def _job_from_form(self) -> RunJob | None:
        try:
            job = self.build_job()
        except ValueError as exc:
            self.form_message.show_message(str(exc), "error")
            return None
        self.form_message.clear()
        return job

    def _first_waiting_index(self) -> int:
        for index, entry in enumerate(self.entries):
            if entry.status == "queued":
                return index
        return len(self.entries)

    def _start_next(self) -> None:
        if self.has_running_run() or self._queue_held or self._closing_task is not None:
            return
        for entry in self.entries:
            if entry.status == "queued":
                self._launch(entry)
                return

    def _launch(self, entry: QueueEntry) -> None:
        entry.status = "starting"
        self._entry = entry
        self._paused = False
        self._stop_requested_at = None
        self._kill_offered = False
        self._total_steps = self._epochs = 0
        self.failure_bar.clear()
        self.details_button.hide()
        self.details_button.setChecked(False)
        self.plots.clear()
        self._plotted_run_id = None
        self._pending_progress = None
        self.progress.setRange(0, 0)  # busy until the first progress
        self.run_label.setText(entry.title.split(" · ")[0])
        self.status_label.setText("starting the worker…")
        self.progress_label.setText("Loading the dataset and building the model…")
        self.device_label.clear()
        self._log("info", f"starting: {entry.title}")
        holder: dict[str, Any] = {}
        self._holder = holder
        task = run_task(_start_worker_job, entry.job, holder)
        task.succeeded.connect(lambda handle: self._on_start_task_succeeded(entry, holder, handle))
        task.failed.connect(
            lambda message, details: self._on_start_task_failed(entry, holder, message, details)
        )
        self._start_task = task
        self._refresh_queue()
        self._update_controls()

    def _on_start_task_succeeded(self, entry: QueueEntry, holder: dict[str, Any], handle: Any) -> None:
        if self._holder is not holder:  # stopped or detached meanwhile; it was dealt with there
            return
        self.worker_start_s = holder.get("start_s")
        self._holder = None
        self._handle = handle
        entry.status = "running"
        self.status_label.setText("running")
        self._timer.start()
        self._refresh_queue()
        self._update_controls()

    def _on_start_task_failed(
        self, entry: QueueEntry, holder: dict[str, Any], message: str, details: str
    ) -> None:
        holder["error"] = message
        if self._holder is not holder:
            return
        self._holder = None
        self._entry = None
        entry.status, entry.message = "failed", message
        self._show_failure(
            ev.RunFailed(0, f"The training process could not start: {message}", "error", details)
        )
        self._refresh_queue()
        self._update_controls()
        self._start_next()

    def _on_poll_timer_timeout(self) -> None:
        self._poll()

    def _poll(self) -> None:
        handle = self._handle
        if handle is None:
            self._timer.stop()
            return
        if self._timer.interval() <= BACKLOG_INTERVAL_MS and self.plots.refresh():
            # Draining a backlog: a pass that redraws a plot (its paint follows this tick) reads
            # nothing, and the next read waits a millisecond, so that other timers due meanwhile run
            # between the paint and it (a timer of no interval would fire first): no pass of the
            # event loop holds both a reading slice and a paint.
            self._timer.setInterval(BACKLOG_INTERVAL_MS)
            return
        # Read in small batches until the tick's budget (events or time) is spent: a backlog of
        # large coalesced events never blocks the GUI thread for long.
        deadline = time.perf_counter() + TICK_BUDGET_S
        read = 0
        backlog = False
        while read < self.events_per_tick:
            events = handle.events(0.0, max_items=min(2, self.events_per_tick - read))
            if not events:
                break
            read += len(events)
            self.feed_events(events, redraw=False)
            if handle.finished:
                break
            if time.perf_counter() >= deadline or read >= self.events_per_tick:
                backlog = True  # more may be waiting: read on after the event loop has had a turn
                break
        # A backlog (the GUI was busy, or the worker logs faster than it is read) is drained in
        # slices with the event loop running in between, not in one long tick.
        self._timer.setInterval(0 if backlog else POLL_INTERVAL_MS)
        if not backlog:  # a backlog's redraws take passes of their own (above)
            self._redraw()
        waited = 0.0 if self._stop_requested_at is None else time.monotonic() - self._stop_requested_at
        if waited >= self.kill_after_s and not self._kill_offered and not handle.finished:
            self._kill_offered = True
            self._log("warning", f"the run has not stopped after {self.kill_after_s:.0f} s; Kill ends it now")
            self._update_controls()
        if handle.finished and self._closing_task is None:
            self._timer.stop()
            self._flush_progress(force=True)
            self.plots.flush()  # the plots still behind, one per pass (not all four in one)
            self._close_handle(handle)

    def feed_events(self, events: Sequence[ev.Event], *, redraw: bool = True) -> None:
        """Show what ``events`` say: the one path every worker event takes (the timer calls it; tests and
        the benchmark call it directly). The plots are redrawn on their own throttle
        (:meth:`LivePlotsWidget.refresh`)."""
        points: list[tuple[str, int, int, float]] = []
        progress: ev.ProgressUpdated | None = None
        for event in events:
            if isinstance(event, ev.MetricsLogged):
                points.extend(event.points)
            elif isinstance(event, ev.ProgressUpdated):
                progress = event
            elif isinstance(event, ev.RunStarted):
                if points:
                    self.plots.add_points(points)
                    points = []
                self._on_run_started(event)
            else:
                self._on_event(event)
        if points:
            self.plots.add_points(points)
        if progress is not None:
            self._pending_progress = progress
        self._flush_progress(force=redraw)
        if redraw:
            self._redraw()

    def _redraw(self, *, force: bool = False) -> None:
        self.plots.refresh(force=force)  # throttled there, per plot

    def _on_run_started(self, event: ev.RunStarted) -> None:
        entry = self._entry
        if entry is not None:
            entry.run_id = event.run_id
            entry.status = "running"
        self._plotted_run_id = event.run_id
        self.plots.reserve(event.total_steps)
        self._total_steps, self._epochs, self._device = event.total_steps, event.epochs, event.device
        self.run_label.setText(f"Run {event.run_id} · {event.name}")
        self.status_label.setText("running")
        self.progress.setRange(0, max(1, event.total_steps))
        self.progress.setValue(event.start_step)
        self.device_label.setText(f"on {event.device}")
        resumed = f", resuming at step {event.start_step:,}" if event.start_step else ""
        self._log(
            "info",
            f"run {event.run_id} '{event.name}' on {event.device}: {event.epochs} epochs x "
            f"{event.steps_per_epoch:,} steps, {event.parameters:,} parameters{resumed}",
        )
        if event.start_step:  # the curves so far, from the store, go before what the run logs now
            task = run_task(_history_job, self.state.db_url, event.run_id)
            task.succeeded.connect(lambda curves, run_id=event.run_id: self._on_history(run_id, curves))
            self._history_task = task
        self._refresh_queue()
        self.state.runs_changed.emit()
        self.run_started.emit(event.run_id)

    def _on_history(self, run_id: int, curves: dict) -> None:
        if self._plotted_run_id == run_id:  # the plots still show that run
            self.plots.add_history(curves)
            self._redraw(force=True)

    def _on_event(self, event: ev.Event) -> None:
        line = ev.describe(event)
        if line is not None and not isinstance(event, ev.RunStarted):
            self._log(*line)
        if isinstance(event, ev.RunPaused):
            self._paused = True
            self.status_label.setText(f"paused at step {event.step:,}")
            self._update_controls()
        elif isinstance(event, ev.RunResumed):
            self._paused = False
            self.status_label.setText("running")
            self._update_controls()
        elif isinstance(event, ev.RunFinished):
            self._on_run_ended(event.run_id, event.status)
            self.status_label.setText(event.status)
        elif isinstance(event, ev.RunFailed):
            self._on_run_ended(event.run_id, event.status, event.message)
            self._show_failure(event)
            self.status_label.setText(event.status)

    def _on_run_ended(self, run_id: int, status: str, message: str = "") -> None:
        entry = self._entry
        if entry is not None:
            entry.status, entry.message = status, message
            if run_id:
                entry.run_id = run_id
        if status == "completed" and self._total_steps:
            self.progress.setRange(0, self._total_steps)
            self.progress.setValue(self._total_steps)
        elif self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self._refresh_queue()
        self.state.runs_changed.emit()

    def _close_handle(self, handle: Any) -> None:
        """Join the ended worker in the thread pool (it may take a moment to exit), then go on."""
        self._closed = threading.Event()
        task = run_task(_close_handle_job, handle, CLOSE_TIMEOUT_S, self._closed)
        self._closing_task = task
        task.succeeded.connect(self._on_close_task_succeeded)
        task.failed.connect(lambda _message, _details: self._on_close_task_succeeded([]))

    def _on_close_task_succeeded(self, events: list[Any]) -> None:
        self._closing_task = None
        if events:
            self.feed_events([e for e in events if not isinstance(e, ev.TERMINAL)])
        entry = self._entry
        self._handle = None
        self._entry = None
        self._paused = False
        self._stop_requested_at = None
        self._kill_offered = False
        self.plots.flush()
        self._update_controls()
        if entry is not None:
            self.run_finished.emit(entry.run_id or 0, entry.status)
        self.refresh_resumable()
        self._start_next()

    # --- display --------------------------------------------------------------------------------

    def _flush_progress(self, *, force: bool = False) -> None:
        """Show the latest progress, at most every :data:`PROGRESS_INTERVAL_S` unless ``force``."""
        now = time.monotonic()
        if self._pending_progress is not None and (
            force or now - self._progress_shown_at >= PROGRESS_INTERVAL_S
        ):
            self._progress_shown_at = now
            self._show_progress(self._pending_progress)
            self._pending_progress = None

    def _show_progress(self, event: ev.ProgressUpdated) -> None:
        total = max(1, event.total_steps)
        if self.progress.maximum() != total:
            self.progress.setRange(0, total)
        self.progress.setValue(min(event.step, total))
        epochs = f"/{self._epochs}" if self._epochs else ""
        eta = "" if event.eta_s is None else f" · ETA {format_duration(event.eta_s)}"
        self.progress_label.setText(
            f"Epoch {event.epoch}{epochs} · step {event.step:,}/{event.total_steps:,}{eta} · "
            f"{event.samples_per_s:,.0f} samples/s"
        )
        device = f"on {self._device}" if self._device else ""
        if event.memory_bytes:
            kind = "GPU memory" if self._device.startswith("cuda") else "memory"
            device += f" · {kind} {event.memory_bytes / 2**20:,.0f} MiB"
        self.device_label.setText(device)

    def _show_failure(self, event: ev.RunFailed) -> None:
        self.last_failure = event
        run = f"Run {event.run_id} failed" if event.run_id else "The run failed"
        self.failure_bar.show_message(f"{run}: {event.message}", "error")
        details = event.traceback.strip()
        if not details:
            lines = self.log_view.toPlainText().splitlines()[-20:]
            details = (
                "No traceback: the process ended without reporting one. Its last log lines:\n"
                + "\n".join(lines)
            )
        self.details_text.setPlainText(details)
        self.details_button.show()

    def _on_details_button_toggled(self, on: bool) -> None:
        self.details_text.setVisible(on)
        self.details_button.setText("Hide details" if on else "Show details")

    def _log(self, level: str, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        text = html.escape(message)
        if level == "error":
            line = f'<span style="color:#d64541"><b>{stamp} error:</b> {text}</span>'
        elif level == "warning":
            line = f'<span style="color:#b7791f"><b>{stamp} warning:</b> {text}</span>'
        else:
            line = f'<span style="color:#7b8794">{stamp}</span> {text}'
        self.log_view.appendHtml(line)

    def _refresh_queue(self) -> None:
        row = self.queue_list.currentRow()
        self.queue_list.clear()
        for entry in self.entries:
            run = f"run {entry.run_id} · " if entry.run_id else ""
            item = QListWidgetItem(f"[{entry.status}] {run}{entry.title}")
            item.setForeground(_colour(_STATUS_COLOURS.get(entry.status, "#5b6b7f")))
            if entry.message:
                item.setToolTip(entry.message)
            self.queue_list.addItem(item)
        if 0 <= row < self.queue_list.count():
            self.queue_list.setCurrentRow(row)
        self._update_controls()
        self.queue_changed.emit()

    def _update_summary(self) -> None:
        dataset = self.state.dataset
        if dataset is None:
            self.dataset_label.setText("<b>Dataset:</b> none loaded. Open one on the Datasets page.")
        else:
            labels = len(dataset.labels)
            self.dataset_label.setText(
                f"<b>Dataset:</b> {html.escape(dataset.root.name or str(dataset.root))} · "
                f"{len(dataset.items):,} pairs · {labels} labels · {dataset.format}"
            )
        spec = self.state.model_spec
        if not spec:
            self.model_label.setText(
                "<b>Model:</b> none built: training uses the default for the dataset "
                "(TextCNN + small CNN, concatenated)."
            )
        else:
            parts = []
            for key in ("text_encoder", "image_encoder", "fusion", "head"):
                name = (spec.get(key) or {}).get("name")
                if name:
                    parts.append(f"{key.split('_')[0]} {name}")
            task = html.escape(spec.get("task", "classification"))
            self.model_label.setText(f"<b>Model:</b> {task} · {html.escape(', '.join(parts))}")
        self.go_datasets_button.setVisible(dataset is None)
        self.go_model_button.setVisible(dataset is not None and not spec)
        self._update_controls()

    def _update_controls(self) -> None:
        running = self.has_running_run()
        has_dataset = self.dataset_spec() is not None
        self.start_button.setEnabled(has_dataset and not running)
        self.start_button.setToolTip("" if has_dataset else "Open a dataset first")
        self.queue_button.setEnabled(has_dataset)
        live = self._handle is not None and not self._handle.finished
        self.pause_button.setEnabled(live and self._stop_requested_at is None)
        self.pause_button.setText("Resume" if self._paused else "Pause")
        self.pause_button.setIcon(icon("play" if self._paused else "pause"))
        stopping = self._stop_requested_at is not None
        self.stop_button.setEnabled(live and (not stopping or self._kill_offered))
        if self._kill_offered:
            self.stop_button.setText("Kill")
            self.stop_button.setIcon(icon("error"))
            self.stop_button.setToolTip("The run does not answer: end its process now (it can be resumed)")
        else:
            self.stop_button.setText("Stopping…" if stopping and live else "Stop")
            self.stop_button.setIcon(icon("stop"))
            self.stop_button.setToolTip("Stop after the current step; a final checkpoint is saved")
        row = self.queue_list.currentRow()
        entry = self.entries[row] if 0 <= row < len(self.entries) else None
        queued = entry is not None and entry.status == "queued"
        self.up_button.setEnabled(queued and row > 0 and self.entries[row - 1].status == "queued")
        self.down_button.setEnabled(
            queued and row + 1 < len(self.entries) and self.entries[row + 1].status == "queued"
        )
        self.remove_button.setEnabled(entry is not None and entry.status not in ("starting", "running"))
        self.run_queue_button.setEnabled(not running and any(e.status == "queued" for e in self.entries))
        self.resume_button.setEnabled(self.resume_combo.count() > 0)

    # --- slots ------------------------------------------------------------------------------------

    def _on_start_button_clicked(self) -> None:
        self.start()

    def _on_queue_button_clicked(self) -> None:
        self.add_to_queue()

    def _on_pause_button_clicked(self) -> None:
        if self._paused:
            self.resume()
        else:
            self.pause()

    def _on_stop_button_clicked(self) -> None:
        if not self._kill_offered:
            self.stop()
            return
        answer = QMessageBox.question(
            self,
            "Kill the training process?",
            "The run has not answered the stop request. End its process now? Everything up to its last "
            "checkpoint is kept, and the run can be resumed.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.kill_run()

    def _on_resume_button_clicked(self) -> None:
        run_id = self.resume_combo.currentData()
        if run_id is not None:
            self.resume_run(int(run_id))

    def _on_resume_task_succeeded(self, job: RunJob) -> None:
        entry = QueueEntry(job, self._job_title(job))
        self.entries.insert(self._first_waiting_index(), entry)
        self._refresh_queue()
        self._queue_held = False
        self._start_next()

    def _on_resume_task_failed(self, message: str, _details: str) -> None:
        self.form_message.show_message(f"The run cannot be resumed: {message}", "error")

    def _on_resumable_task_succeeded(self, runs: list[tuple[int, str, str]]) -> None:
        current = self.resume_combo.currentData()
        self.resume_combo.clear()
        for run_id, name, status in runs:
            self.resume_combo.addItem(f"{run_id} · {name} ({status})", run_id)
        index = self.resume_combo.findData(current)
        if index >= 0:
            self.resume_combo.setCurrentIndex(index)
        self._update_controls()
        self.resumable_listed.emit(runs)

    def _on_devices_task_succeeded(self, devices: list[tuple[str, str]]) -> None:
        devices = devices or [("cpu", "CPU")]
        if not _DETECTED_DEVICES:
            _DETECTED_DEVICES.append(devices)
        self.devices = devices
        current = self.device_combo.currentData()
        self.device_combo.clear()
        best = devices[0][0]
        self.device_combo.addItem(f"auto ({best})", "auto")
        for name, description in devices:
            self.device_combo.addItem(f"{name}: {description}", name)
        index = self.device_combo.findData(current)
        self.device_combo.setCurrentIndex(max(0, index))
        self.devices_detected.emit(devices)

    def _on_state_dataset_changed(self, _dataset: Any) -> None:
        self._update_summary()

    def _on_state_model_spec_changed(self, _spec: Any) -> None:
        self._update_summary()

    def _on_state_store_changed(self, _url: Any) -> None:
        self.refresh_resumable()

    def _on_state_runs_changed(self) -> None:
        if not self.has_running_run():
            self.refresh_resumable()


def _colour(name: str) -> Any:
    from PySide6.QtGui import QColor

    return QColor(name)
