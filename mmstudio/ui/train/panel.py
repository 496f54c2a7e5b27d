"""The Train page: hyperparameters, Start, live plots, progress, pause / resume / stop, a queue of runs.

Training runs in a worker process (:func:`mmstudio.training.worker.start_worker`, ``spawn``), which
writes the run to the store itself; this page only shows what it reports. The page composes its parts:

- :class:`~mmstudio.ui.train.setup_column.SetupColumnWidget`: the settings column, which holds
  :class:`~mmstudio.ui.train.summary.JobSummaryWidget` (the dataset and model a run would use),
  :class:`~mmstudio.ui.train.spec_form.TrainSpecFormWidget` (the hyperparameters, a ``TrainSpec``),
  Start with why it is unavailable, :class:`~mmstudio.ui.train.run_queue.RunQueueWidget` (the queue,
  whose rules are :class:`mmstudio.training.queue.RunQueue`'s, run one job at a time) and
  :class:`~mmstudio.ui.train.resumable.ResumableRunsWidget` (the runs that can be resumed);
- :class:`~mmstudio.ui.train.job_check.JobCheckController`: why the data cannot train the model
  (:func:`mmstudio.training.preflight.job_problems`, in the pool), which disables Start with the reason;
- :class:`~mmstudio.ui.train.launch_dialog.LaunchDialog` (Export launch command…): the job as torchrun
  and SLURM launch files for other machines (:mod:`mmstudio.training.launch`);
- :class:`~mmstudio.ui.train.controller.WorkerController`: the worker, started and joined in the thread
  pool, its events read on a timer with a budget per tick;
- :class:`~mmstudio.ui.train.run_view.RunViewWidget`: what the run reports (progress, a failure, the
  live plots, the log), or a run another process or machine trains, followed from the store
  (:meth:`TrainPanel.follow_run`; the Experiments page asks for it through ``state.follow_requested``),
  which Stop asks to stop through the store after a question (:meth:`TrainPanel.stop_followed_run`).

Keys (page actions, listed by the window's shortcuts dialog): Ctrl+Return starts, Ctrl+P pauses or
resumes, Ctrl+. stops. On a page too narrow for the settings column beside the run (the window at its
minimum), the column hides when a run starts; the toggle left of the run's name shows it again.

The page decides what runs when (the queue, Start, Stop, resume, closing); its parts show and read.
:meth:`TrainPanel.feed_events` is the one path every worker event takes; the plots redraw at most ~20
times a second, less often when a redraw gets expensive, so the GUI thread never stalls for long
however fast the run logs (``tests/benchmarks/bench_train_plots.py``).

Startup stays light: this module imports neither torch nor the worker module. The devices of the
machine are listed by a helper process (:func:`mmstudio.training.device.probe_devices`, called from the
thread pool), the worker is started from the thread pool, and the store is read there (the runs that
can be resumed, a resumed run's curves so far).

Closing: :meth:`TrainPanel.confirm_close` asks whether to stop a running run or keep it running in the
background; :meth:`TrainPanel.stop_all` and :meth:`TrainPanel.detach` do either without asking.

Run it alone: ``python -m mmstudio.ui.train [DATASET] [--demo-run] [--screenshot out.png]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox, QSplitter, QVBoxLayout, QWidget

from mmstudio.training import events as ev
from mmstudio.training.device import DeviceInfo
from mmstudio.training.queue import QueueEntry, RunQueue
from mmstudio.training.spec import RunJob, TrainSpec
from mmstudio.ui.remote_stop import confirm_stop
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.tasks import Task, run_task
from mmstudio.ui.train.controller import CLOSE_TIMEOUT_S, WorkerController, ask_stop_or_keep
from mmstudio.ui.train.job_check import JobCheckController
from mmstudio.ui.train.progress_view import PAUSE_KEYS, STOP_KEYS, keys_text
from mmstudio.ui.train.run_view import RunViewWidget
from mmstudio.ui.train.setup_column import SetupColumnWidget

if TYPE_CHECKING:
    from mmstudio.data.spec import DatasetSpec
    from mmstudio.ui.train.launch_dialog import LaunchDialog

#: The keys of Start (Ctrl+Enter on the keypad too). Pause / Resume and Stop: progress_view's.
START_KEYS = (QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter"))
#: The least width of the run view beside the settings column. A narrower page (the window at its
#: 720 x 480 minimum) shows one of them at a time: the run while one runs, else the column.
RUN_VIEW_MIN_WIDTH = 480
#: The devices when the probe fails: the CPU is always there.
_CPU_ONLY = [DeviceInfo("cpu", "cpu", "CPU")]
_DETECTED_DEVICES: list[list[DeviceInfo]] = []  # this machine's devices, once detected (a probe is slow)


# --- work in the thread pool (no Qt, no GUI state) ----------------------------------------------------


def _detect_devices_job(_state: Any) -> list[DeviceInfo]:
    from mmstudio.training.device import probe_devices

    return probe_devices()


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
    devices_detected = Signal(object)  # [DeviceInfo]
    resumable_listed = Signal(object)  # [(run id, name, status)]

    def __init__(self, state: StudioState, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.settings = settings
        self.queue = RunQueue()
        self.devices: list[DeviceInfo] | None = None
        self._entry: QueueEntry | None = None  # the entry whose worker is being started or runs
        self._queue_held = False
        self._devices_task: Task | None = None  # detected when the page is first shown
        self.job_check = JobCheckController(self)  # why the data cannot train the model
        self.job_check.checked.connect(self._update_controls)

        self._build()
        self.controller = WorkerController(redraw=self.run_view.plots.refresh, parent=self)
        self.controller.started.connect(self._on_controller_started)
        self.controller.start_failed.connect(self._on_controller_start_failed)
        self.controller.events_read.connect(self._on_controller_events_read)
        self.controller.unresponsive.connect(self._on_controller_unresponsive)
        self.controller.finishing.connect(self._on_controller_finishing)
        self.controller.closed.connect(self._on_controller_closed)
        self.controller.state_changed.connect(self._update_controls)
        self._update_summary()

        state.dataset_changed.connect(self._on_state_dataset_changed)
        state.model_spec_changed.connect(self._on_state_model_spec_changed)
        state.store_changed.connect(self._on_state_store_changed)
        state.runs_changed.connect(self._on_state_runs_changed)

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

    @property
    def entries(self) -> list[QueueEntry]:
        """The queue's entries, in the order they run."""
        return self.queue.entries

    @property
    def last_failure(self) -> ev.RunFailed | None:
        """The last failure the page showed."""
        return self.run_view.last_failure

    # --- layout ---------------------------------------------------------------------------------

    def _build(self) -> None:
        self.settings_column = column = SetupColumnWidget(self.queue)  # what to train and how
        self.summary, self.form, self.resumable = column.summary, column.form, column.resumable
        self.form.set_preferred_device(self.settings.device)
        self.form.augmentation_changed.connect(self._update_summary)
        self.form_message, self.start_message = column.form_message, column.start_message
        self.start_button, self.queue_button = column.start_button, column.queue_button
        self.launch_button = column.launch_button
        self.launch_button.clicked.connect(self.export_launch)
        self.queue_view = column.queue_view
        self.summary.page_requested.connect(self.state.page_requested)
        self.start_button.clicked.connect(self._on_start_button_clicked)
        self.queue_button.clicked.connect(self._on_queue_button_clicked)
        self.queue_view.changed.connect(self._on_queue_view_changed)
        self.queue_view.run_requested.connect(self.run_queue)
        self.resumable.resume_requested.connect(self.resume_run)
        self.resumable.listed.connect(self.resumable_listed)

        self.run_view = RunViewWidget(store_url=lambda: self.state.db_url)  # the run in progress
        self.run_view.follow_requested.connect(self.follow_run)
        self.run_view.progress_view.pause_button.clicked.connect(self._on_pause_button_clicked)
        self.run_view.progress_view.stop_button.clicked.connect(self._on_stop_button_clicked)
        self.run_view.run_started.connect(self._on_run_view_run_started)
        self.run_view.run_ended.connect(self._on_run_view_run_ended)

        page = QSplitter(Qt.Orientation.Horizontal)
        page.addWidget(column)
        page.addWidget(self.run_view)
        page.setChildrenCollapsible(False)
        page.setStretchFactor(0, 0)
        page.setStretchFactor(1, 1)
        page.setSizes([380, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(page)
        self._build_actions()

    def _build_actions(self) -> None:
        """The page's keyboard shortcuts (acting while the page is shown; the window's shortcuts dialog
        lists them) and the settings column's toggle."""

        def action(text: str, keys: Sequence[QKeySequence], slot: Any) -> QAction:
            act = QAction(text, self)
            act.setShortcuts(list(keys))
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        progress = self.run_view.progress_view
        # Start says why it cannot start; Pause and Stop act as their buttons (click: not when disabled).
        self.start_action = action("Start training", START_KEYS, lambda: self.start())
        self.pause_action = action("Pause or resume the run", [PAUSE_KEYS], progress.pause_button.click)
        self.stop_action = action("Stop the run", [STOP_KEYS], progress.stop_button.click)
        self.settings_action = self.settings_column.toggle_action
        self.settings_action.toggled.connect(self._fit_columns)
        self.run_view.progress_view.settings_button.setDefaultAction(self.settings_action)
        self._fit_columns()  # for the size the page has now (its minimum follows)

    # --- the job --------------------------------------------------------------------------------

    def set_train_spec(self, spec: TrainSpec) -> None:
        """Show ``spec`` in the form; its fields that have no control here are kept as they are."""
        self.form.set_train_spec(spec)

    def train_spec(self) -> TrainSpec:
        """The form as a :class:`TrainSpec` (raises ``ValueError`` / ``TypeError`` naming a bad field)."""
        return self.form.train_spec()

    def dataset_spec(self) -> DatasetSpec | None:
        """The current dataset as a spec (the state's, or one made from the loaded dataset)."""
        if self.state.dataset_spec is not None:
            return self.state.dataset_spec
        dataset = self.state.dataset
        if dataset is None:
            return None
        from mmstudio.data.spec import DatasetSpec

        return DatasetSpec.of(dataset)

    def build_job(self) -> RunJob:
        """The job the form describes (raises ``ValueError`` with a message for the user)."""
        dataset = self.dataset_spec()
        if dataset is None:
            raise ValueError("No dataset is loaded: open one on the Datasets page first.")
        try:
            train = self.train_spec()
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None
        return RunJob(
            dataset=dataset,
            model=dict(self.state.model_spec or {}),
            train=train,
            name=self.form.run_name(),
            db_url=self.state.db_url,
        )

    # --- public actions -------------------------------------------------------------------------

    def start(self) -> bool:
        """Start the job the form describes now (nothing may be running, and the data must be able to
        train the model: ``job_check.problems``); False with a message if not. While the data is still
        being checked it starts (the runner checks the same before it records a run)."""
        if self.has_running_run():
            self.form_message.show_message("A run is in progress: add this one to the queue instead.", "info")
            return False
        if self.job_check.problems:
            self.form_message.show_message(self.job_check.unavailable, "error")
            return False
        job = self._job_from_form()
        if job is None:
            return False
        entry = self.queue.insert_next(job)
        self._queue_held = False
        self._launch(entry)
        return True

    def add_to_queue(self) -> QueueEntry | None:
        """Queue the job the form describes; it starts when the runs before it have ended."""
        if self.job_check.problems:
            self.form_message.show_message(self.job_check.unavailable, "error")
            return None
        job = self._job_from_form()
        if job is None:
            return None
        entry = self.enqueue(job)
        self.state.post_status(f"Queued: {entry.title}")
        return entry

    def export_launch(self) -> LaunchDialog | None:
        """Export launch command…: the dialog that writes the job the form describes as torchrun and
        SLURM launch files (:mod:`mmstudio.training.launch`), for the app's store; None with a message
        when the form holds no job that can train."""
        if self.job_check.problems:
            self.form_message.show_message(self.job_check.unavailable, "error")
            return None
        job = self._job_from_form()
        if job is None:
            return None
        from mmstudio.paths import default_db_url
        from mmstudio.ui.train.launch_dialog import LaunchDialog

        gpus = sum(device.kind == "cuda" for device in self.devices or [])
        dialog = LaunchDialog(job, self.state.db_url or default_db_url(), gpus=gpus, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.exported.connect(self._on_launch_dialog_exported)
        dialog.open()
        return dialog

    def enqueue(self, job: RunJob, title: str | None = None) -> QueueEntry:
        """Queue a ready-made job (a resume, a job built elsewhere)."""
        entry = self.queue.append(job, title or "")
        self._refresh_queue()
        return entry

    def run_queue(self) -> None:
        """Start the next queued job, if nothing runs; the others follow one after another."""
        self._queue_held = False
        self._start_next()

    def move_entry(self, row: int, delta: int) -> bool:
        """Move a queued entry up (-1) or down (+1) among the queued ones."""
        return self.queue_view.move(row, delta)

    def remove_entry(self, row: int) -> bool:
        """Remove an entry that is not starting or running."""
        return self.queue_view.remove(row)

    def clear_finished(self) -> None:
        self.queue_view.clear_finished()

    def pause(self) -> None:
        if self.controller.pause():
            self.run_view.progress_view.set_status("pausing…")

    def resume(self) -> None:
        if self.controller.resume():
            self.run_view.progress_view.set_status("resuming…")

    def stop(self) -> None:
        """Ask the run to stop after the current step (it saves a final checkpoint and evaluates); the
        queue is held. After ``controller.kill_after_s`` without an answer the Stop button offers Kill."""
        self._queue_held = True
        if self.controller.stop():
            self.run_view.progress_view.set_status("stopping (saving a final checkpoint)…")

    def kill_run(self) -> None:
        """Terminate the worker now (the last resort); the run is recorded ``interrupted``."""
        if self.controller.handle is None:
            return
        self.run_view.log.add("warning", "the training process was terminated at your request")
        self.controller.kill()

    def redraw_plots(self) -> None:
        """Give the plots every point received so far now (the timer otherwise does it, throttled)."""
        self.run_view.plots.refresh(force=True)

    def resume_run(self, run_id: int) -> None:
        """Continue a stopped, failed or interrupted run from its last checkpoint: the job is built off
        the GUI thread (it reads the store) and queued first; it starts now if nothing runs."""
        task = run_task(_resume_job, self.state.db_url, int(run_id), self.dataset_spec())
        task.succeeded.connect(self._on_resume_task_succeeded)
        task.failed.connect(self._on_resume_task_failed)
        self._resume_task = task

    def follow_run(self, run_id: int) -> bool:
        """Show run ``run_id``, which another process or machine trains into the store, as it trains
        (read from the store every ~1.5 s; :meth:`RunViewWidget.follow`). Not while a run of this
        window is in progress: the page shows that one (True when it is that very run)."""
        if self.has_running_run():
            if self._entry is not None and self._entry.run_id == run_id:
                return True
            self.state.post_status(
                f"A run of this window is in progress: run {run_id} can be followed when it has ended."
            )
            return False
        self._make_room_for_the_run()
        self.run_view.follow(self.state.db_url, int(run_id))
        return True

    def stop_followed_run(self, *, confirm: bool = True) -> bool:
        """Stop for the run followed from the store: ask the user (naming the run and its machine),
        then ask the run to stop through the store (:meth:`RunViewWidget.request_stop`); its process
        stops at its next step, wherever it runs. False when it cannot be asked (not running, asked
        already) or the user said no."""
        state = self.run_view.stop_target()
        if state is None or (confirm and not confirm_stop(self, [state])):
            return False
        return self.run_view.request_stop()

    def refresh_resumable(self) -> None:
        """List the runs of the store that can be resumed (in the thread pool)."""
        self.resumable.refresh(self.state.db_url)

    # --- window integration ---------------------------------------------------------------------

    def is_busy(self) -> bool:
        """Work in flight that a screenshot should wait for: a run, the device detection, the check of
        the data, or plots still to be redrawn."""
        detecting = self._devices_task is not None and not self._devices_task.done
        checking = self.job_check.checking
        follower = self.run_view.follower
        following = follower.loading or follower.asking_stop  # a followed run's first read, a stop asked
        return self.has_running_run() or detecting or checking or self.run_view.plots.flushing or following

    def has_running_run(self) -> bool:
        """A worker is being started or is running (its process not yet joined)."""
        return self.controller.busy

    def stop_all(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Hold the queue, stop the run cooperatively and join its process (terminating it after
        ``timeout`` seconds): no process is left behind. Blocks; for the window's close."""
        self._queue_held = True
        if self.controller.stop_and_join(timeout):
            self._entry = None
            self.state.runs_changed.emit()

    def detach(self) -> None:
        """Let the run go on without this window: it trains to the end and records itself in the store
        while the GUI exits. The worker is no longer a child this process joins at exit (Python's
        ``multiprocessing`` would wait for it); when it ends, the system reaps it."""
        self._queue_held = True
        self.controller.detach()

    def confirm_close(self) -> bool:
        """For the window's close: with a run in progress, ask Stop / Keep running / Cancel and do it.
        Returns False when the user cancelled the close."""
        if not self.has_running_run():
            return True
        answer = ask_stop_or_keep(self)
        if answer == "stop":
            self.stop_all()
        elif answer == "keep":
            self.detach()
        return answer != "cancel"

    # --- running ----------------------------------------------------------------------------------

    def _job_from_form(self) -> RunJob | None:
        try:
            job = self.build_job()
        except ValueError as exc:
            self.form_message.show_message(str(exc), "error")
            return None
        self.form_message.clear()
        return job

    def _start_next(self) -> None:
        if self.has_running_run() or self._queue_held or self.controller.closing:
            return
        entry = self.queue.next_waiting()
        if entry is not None:
            self._launch(entry)

    def _launch(self, entry: QueueEntry) -> None:
        self._make_room_for_the_run()
        entry.start()
        self._entry = entry
        self.run_view.show_starting(entry.title)
        self.controller.start(entry.job)
        self._refresh_queue()

    def feed_events(self, events: Sequence[ev.Event], *, redraw: bool = True) -> None:
        """Show what ``events`` say: the one path every worker event takes (the controller calls it;
        tests and the benchmark call it directly). See :meth:`RunViewWidget.feed_events`."""
        self.run_view.feed_events(events, redraw=redraw)

    def _on_controller_started(self) -> None:
        if self._entry is not None:
            self._entry.run()
        self.run_view.progress_view.set_status("running")
        self._refresh_queue()

    def _on_controller_start_failed(self, message: str, details: str) -> None:
        entry, self._entry = self._entry, None
        if entry is not None:
            entry.end("failed", message)
        failure = f"The training process could not start: {message}"
        self.run_view.show_failure(ev.RunFailed(0, failure, "error", details))
        self._refresh_queue()
        self._start_next()

    def _on_controller_events_read(self, events: Sequence[ev.Event], redraw: bool) -> None:
        self.run_view.feed_events(events, redraw=redraw)

    def _on_controller_unresponsive(self, seconds: float) -> None:
        self.run_view.log.add("warning", f"the run has not stopped after {seconds:.0f} s; Kill ends it now")

    def _on_controller_finishing(self) -> None:
        self.run_view.finish()

    def _on_controller_closed(self) -> None:
        entry, self._entry = self._entry, None
        self.state.training_run_id = None
        self.run_view.plots.flush()
        self._update_controls()
        if entry is not None:
            self.run_finished.emit(entry.run_id or 0, entry.status)
        self.refresh_resumable()
        self._start_next()

    def _on_run_view_run_started(self, event: ev.RunStarted) -> None:
        self.state.training_run_id = event.run_id
        self._make_room_for_the_run()
        if self._entry is not None:
            self._entry.run(event.run_id)
        if event.start_step:  # the curves so far, from the store, go before what the run logs now
            self.run_view.load_history(self.state.db_url, event.run_id)
        self._refresh_queue()
        self.state.runs_changed.emit()
        self.run_started.emit(event.run_id)

    def _on_run_view_run_ended(self, run_id: int, status: str, message: str) -> None:
        if self._entry is not None:
            self._entry.end(status, message, run_id)
        self._refresh_queue()
        self.state.runs_changed.emit()

    # --- display --------------------------------------------------------------------------------

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if not self.is_narrow():
            self.settings_column.show_again()  # room for both again
        elif self.has_running_run():
            self.settings_column.hide_for_run()  # narrowed during a run: the run keeps the page
        self._fit_columns()

    def _fit_columns(self) -> None:
        """The settings column as its toggle says; on a narrow page it takes the page when shown."""
        shown, narrow = self.settings_action.isChecked(), self.is_narrow()
        self.settings_column.setVisible(shown)
        self.run_view.setVisible(not (shown and narrow))
        self.settings_column.run_button.setVisible(shown and narrow)

    def is_narrow(self) -> bool:
        """Whether the page is too narrow for the settings column and the run side by side."""
        return self.width() < self.settings_column.minimumWidth() + RUN_VIEW_MIN_WIDTH

    def _make_room_for_the_run(self) -> None:
        """On a narrow page a run takes the page: the settings column hides (its toggle, at the left of
        the run's name, brings it back, taking the page; so does a page wide enough for both)."""
        if self.is_narrow():
            self.settings_column.hide_for_run()

    def _refresh_queue(self) -> None:
        self.queue_view.refresh()
        self._update_controls()
        self.queue_changed.emit()

    def _update_summary(self) -> None:
        try:
            train = self.train_spec()
        except (TypeError, ValueError):  # a field out of range: the form says so where it is edited
            train = None
        self.summary.show_job(self.state.dataset, self.state.model_spec, train)
        self.job_check.check(self.state.dataset, self.state.model_spec)
        self._update_controls()

    def _update_controls(self) -> None:
        running = self.has_running_run()
        has_dataset = self.dataset_spec() is not None
        blocked = bool(self.job_check.problems)
        if not has_dataset:
            why = "Open a dataset first"
        elif blocked:
            why = self.job_check.unavailable
        else:
            why = ""
        self.start_button.setEnabled(has_dataset and not blocked and not running)
        keys = keys_text(START_KEYS[0])
        self.start_button.setToolTip(f"{why} ({keys})" if why else f"Start training now ({keys})")
        self.queue_button.setEnabled(has_dataset and not blocked)
        self.queue_button.setToolTip(why)
        self.launch_button.setEnabled(has_dataset and not blocked)
        self.launch_button.setToolTip(
            why.replace("Start is", "Export is") or "Write this job as torchrun and SLURM launch files"
        )
        if blocked:
            self.start_message.show_message(self.job_check.unavailable, "warning")
        else:
            self.start_message.clear()
        controller = self.controller
        self.run_view.progress_view.set_controls(
            live=controller.live,
            paused=controller.paused,
            stopping=controller.stopping,
            offers_kill=controller.offers_kill,
        )
        self.queue_view.set_running(running)
        self.run_view.follow_button.set_unavailable(
            "A run of this window is in progress: the page shows it" if running else ""
        )

    # --- slots ------------------------------------------------------------------------------------

    def _on_start_button_clicked(self) -> None:
        self.start()

    def _on_queue_button_clicked(self) -> None:
        self.add_to_queue()

    def _on_launch_dialog_exported(self, folder: Any) -> None:
        self.state.post_status(f"Launch files written to {folder}")

    def _on_queue_view_changed(self) -> None:
        self.queue_changed.emit()

    def _on_pause_button_clicked(self) -> None:
        if self.controller.paused:
            self.resume()
        else:
            self.pause()

    def _on_stop_button_clicked(self) -> None:
        if self.run_view.followed_run_id is not None:  # a run trained elsewhere: through the store
            self.stop_followed_run()
            return
        if not self.controller.offers_kill:
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

    def _on_resume_task_succeeded(self, job: RunJob) -> None:
        self.queue.insert_next(job)
        self._refresh_queue()
        self._queue_held = False
        if self.has_running_run():
            self.resumable.show_message(
                f"Run {job.resume_run_id} is queued: it resumes when the run in progress ends.", "info"
            )
        self._start_next()

    def _on_resume_task_failed(self, message: str, _details: str) -> None:
        self.resumable.show_message(f"The run cannot be resumed: {message}", "error")

    def _on_devices_task_succeeded(self, devices: list[DeviceInfo]) -> None:
        devices = devices or _CPU_ONLY
        if not _DETECTED_DEVICES:
            _DETECTED_DEVICES.append(devices)
        self.devices = devices
        self.form.set_devices(devices)
        self.devices_detected.emit(devices)

    def _on_state_dataset_changed(self, _dataset: Any) -> None:
        self._update_summary()

    def _on_state_model_spec_changed(self, _spec: Any) -> None:
        self._update_summary()

    def _on_state_store_changed(self, _url: Any) -> None:
        self.run_view.end_following()  # its run is in the other store
        self.refresh_resumable()

    def _on_state_runs_changed(self) -> None:
        self.refresh_resumable()  # a run ended, started, or was deleted: the choice follows the store
