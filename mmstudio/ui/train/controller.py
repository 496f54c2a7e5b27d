"""One training worker at a time, driven from the GUI thread without ever blocking it for long.

:class:`WorkerController` starts the worker (:func:`mmstudio.training.worker.start_worker`, a
``spawn`` process) from the thread pool (a ``spawn`` start pickles the job and launches an
interpreter: too slow for the GUI thread), reads the worker's events on a 50 ms timer with a budget
per tick, forwards pause / resume / stop, offers to kill a worker that does not answer a stop, joins
the ended process in the thread pool, and on the window's close either stops and joins the worker or
lets it run on (detach). What it reads it hands on as signals, in order; it shows nothing itself
(beside :func:`ask_stop_or_keep`, the question the window's close asks while a run is in progress).

The budget: a tick reads events in small batches until :data:`TICK_BUDGET_S` or
:attr:`WorkerController.events_per_tick` is spent; a backlog (the GUI was busy, or the worker logs
faster than it is read) is read on after the event loop has had a turn, and a pass that redraws a plot
reads nothing, so no pass of the event loop holds both a reading slice and a paint
(``tests/benchmarks/bench_train_plots.py`` measures the stalls).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from mmstudio.training import events as ev
from mmstudio.training.spec import RunJob
from mmstudio.ui.tasks import Task, run_task

POLL_INTERVAL_MS = 50
#: Events read from the worker per timer tick (the worker sends at most ~40 a second).
EVENTS_PER_TICK = 200
#: The longest a timer tick spends reading events (seconds); a backlog is read on at the next
#: event-loop pass (the timer then fires at once), so no tick blocks the window for long.
TICK_BUDGET_S = 0.006
#: The timer's interval (ms) after a backlog pass that redrew a plot (see :meth:`WorkerController.poll`).
BACKLOG_INTERVAL_MS = 1
#: Seconds after a Stop before the controller offers to kill the worker.
KILL_AFTER_S = 20.0
#: How long a stop may take at the window's close before the worker is terminated.
CLOSE_TIMEOUT_S = 30.0


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


class WorkerController(QObject):
    """The worker of the run in progress, if any. See the module docstring.

    ``redraw`` is called between reading slices and after a tick: it redraws what changed (throttled
    on its side) and returns whether it did (that pass then reads nothing).

    Signals, all in the GUI thread: ``started()`` once the worker process runs; ``start_failed(message,
    details)`` when it could not be started; ``events_read(events, redraw)`` for every batch of events
    read, in order (``redraw``: whether the receiver should redraw now rather than leave it to the
    tick); ``unresponsive(seconds)`` when a stop has gone unanswered that long (Kill is offered);
    ``finishing()`` when the worker's last event has been read and its process is being joined;
    ``closed()`` once it is joined and the controller is free for the next worker;
    ``state_changed()`` when what can be done (pause, resume, stop, kill) changed.
    """

    started = Signal()
    start_failed = Signal(str, str)
    events_read = Signal(object, bool)
    unresponsive = Signal(float)
    finishing = Signal()
    closed = Signal()
    state_changed = Signal()

    def __init__(self, redraw: Callable[[], bool], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.redraw = redraw
        self.kill_after_s = KILL_AFTER_S
        self.events_per_tick = EVENTS_PER_TICK
        self.worker_start_s: float | None = None  # how long the last start_worker call took (in a thread)
        self.paused = False
        self.offers_kill = False
        self._handle: Any = None
        self._holder: dict[str, Any] | None = None  # the handle of a worker being started, once it is
        self._start_task: Task | None = None
        self._closing_task: Task | None = None
        self._closed = threading.Event()
        self._stop_requested_at: float | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_INTERVAL_MS)
        self._timer.timeout.connect(self._on_timer_timeout)

    # --- state ----------------------------------------------------------------------------------

    @property
    def handle(self) -> Any:
        """The running worker's :class:`~mmstudio.training.worker.WorkerHandle` (None before it runs)."""
        return self._handle

    @property
    def busy(self) -> bool:
        """A worker is being started, runs, or is being joined."""
        return self._handle is not None or self._holder is not None

    @property
    def live(self) -> bool:
        """The worker runs and has not sent its last event."""
        return self._handle is not None and not self._handle.finished

    @property
    def stopping(self) -> bool:
        return self._stop_requested_at is not None

    @property
    def closing(self) -> bool:
        """The worker has ended and its process is being joined."""
        return self._closing_task is not None

    # --- starting -------------------------------------------------------------------------------

    def start(self, job: RunJob) -> None:
        """Start a worker for ``job`` in the thread pool (nothing may be busy)."""
        if self.busy:
            raise RuntimeError("a worker is busy already")
        self.paused = self.offers_kill = False
        self._stop_requested_at = None
        holder: dict[str, Any] = {}
        self._holder = holder
        task = run_task(_start_worker_job, job, holder)
        task.succeeded.connect(lambda handle: self._on_start_task_succeeded(holder, handle))
        task.failed.connect(lambda message, details: self._on_start_task_failed(holder, message, details))
        self._start_task = task

    def watch(self, handle: Any) -> None:
        """Read the events of the worker of ``handle`` from now on (:meth:`start` calls it once the
        process runs; a benchmark hands it a stand-in)."""
        self._handle = handle
        self._timer.setInterval(POLL_INTERVAL_MS)
        self._timer.start()
        self.started.emit()
        self.state_changed.emit()

    def _on_start_task_succeeded(self, holder: dict[str, Any], handle: Any) -> None:
        if self._holder is not holder:  # stopped or detached meanwhile; it was dealt with there
            return
        self.worker_start_s = holder.get("start_s")
        self._holder = None
        self.watch(handle)

    def _on_start_task_failed(self, holder: dict[str, Any], message: str, details: str) -> None:
        holder["error"] = message
        if self._holder is not holder:
            return
        self._holder = None
        self.start_failed.emit(message, details)
        self.state_changed.emit()

    # --- control --------------------------------------------------------------------------------

    def pause(self) -> bool:
        """Ask the worker to pause after the current step; whether it was asked."""
        if self._handle is None or self.paused:
            return False
        self._handle.pause()
        self.paused = True
        self.state_changed.emit()
        return True

    def resume(self) -> bool:
        """Ask a paused worker to go on; whether it was asked."""
        if self._handle is None or not self.paused:
            return False
        self._handle.resume()
        self.paused = False
        self.state_changed.emit()
        return True

    def stop(self) -> bool:
        """Ask the worker to stop after the current step (it saves a final checkpoint and evaluates);
        whether there was one to ask. After :attr:`kill_after_s` without an answer, ``unresponsive``."""
        if self._handle is None:
            return False
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
        self._handle.stop()
        self.state_changed.emit()
        return True

    def kill(self) -> None:
        """Terminate the worker now (the last resort): the run is recorded ``interrupted``."""
        handle = self._handle
        if handle is None:
            return
        handle.kill()
        pending, handle.pending = handle.pending, []
        self.events_read.emit(pending, True)
        self.poll()

    # --- reading ----------------------------------------------------------------------------------

    def _on_timer_timeout(self) -> None:
        self.poll()

    def poll(self) -> None:
        """Read what the worker sent, within the tick's budget (the timer calls it)."""
        handle = self._handle
        if handle is None:
            self._timer.stop()
            return
        if self._timer.interval() <= BACKLOG_INTERVAL_MS and self.redraw():
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
            self._note(events)
            self.events_read.emit(events, False)
            if handle.finished:
                break
            if time.perf_counter() >= deadline or read >= self.events_per_tick:
                backlog = True  # more may be waiting: read on after the event loop has had a turn
                break
        # A backlog (the GUI was busy, or the worker logs faster than it is read) is drained in
        # slices with the event loop running in between, not in one long tick.
        self._timer.setInterval(0 if backlog else POLL_INTERVAL_MS)
        if not backlog:  # a backlog's redraws take passes of their own (above)
            self.redraw()
        waited = 0.0 if self._stop_requested_at is None else time.monotonic() - self._stop_requested_at
        if waited >= self.kill_after_s and not self.offers_kill and not handle.finished:
            self.offers_kill = True
            self.unresponsive.emit(self.kill_after_s)
            self.state_changed.emit()
        if handle.finished and self._closing_task is None:
            self._timer.stop()
            self.finishing.emit()
            self._close(handle)

    def _note(self, events: list[ev.Event]) -> None:
        """Follow the worker's own word on pausing (it pauses at the end of a step)."""
        for event in events:
            if isinstance(event, ev.RunPaused | ev.RunResumed):
                self.paused = isinstance(event, ev.RunPaused)
                self.state_changed.emit()

    # --- ending -----------------------------------------------------------------------------------

    def _close(self, handle: Any) -> None:
        """Join the ended worker in the thread pool (it may take a moment to exit), then go on."""
        self._closed = threading.Event()
        task = run_task(_close_handle_job, handle, CLOSE_TIMEOUT_S, self._closed)
        self._closing_task = task
        task.succeeded.connect(self._on_close_task_succeeded)
        task.failed.connect(lambda _message, _details: self._on_close_task_succeeded([]))

    def _on_close_task_succeeded(self, events: list[Any]) -> None:
        self._closing_task = None
        if events:  # the last ones were read already
            self.events_read.emit([e for e in events if not isinstance(e, ev.TERMINAL)], True)
        self._handle = None
        self.paused = self.offers_kill = False
        self._stop_requested_at = None
        self.state_changed.emit()
        self.closed.emit()

    def stop_and_join(self, timeout: float = CLOSE_TIMEOUT_S) -> bool:
        """Stop the worker cooperatively and join its process (terminating it after ``timeout``
        seconds): no process is left behind. Blocks; for the window's close. The events read meanwhile
        go out as ``events_read``; returns whether there was a worker to end here."""
        self._timer.stop()
        if self._closing_task is not None:  # the run has ended; its process is being joined
            self._closed.wait(timeout)
            return False
        handle = self._wait_for_starting_handle(timeout) if self._handle is None else self._handle
        if handle is None:
            return False
        self.events_read.emit(handle.close(timeout), True)
        self._handle = None
        self._holder = None
        return True

    def detach(self) -> None:
        """Let the worker go on without this window: it trains to the end and records itself in the
        store while the GUI exits (:meth:`~mmstudio.training.worker.WorkerHandle.detach`)."""
        self._timer.stop()
        handle = self._wait_for_starting_handle(CLOSE_TIMEOUT_S) if self._handle is None else self._handle
        if handle is None:
            return
        handle.detach()
        self._handle = None
        self._holder = None

    def _wait_for_starting_handle(self, timeout: float) -> Any:
        holder = self._holder
        if holder is None:
            return None
        deadline = time.monotonic() + timeout
        while "handle" not in holder and "error" not in holder and time.monotonic() < deadline:
            time.sleep(0.01)  # the start takes about a second; the window is closing anyway
        return holder.get("handle")


def ask_stop_or_keep(parent: QWidget) -> str:
    """For the window's close with a run in progress: ``"stop"`` (a final checkpoint, resumable),
    ``"keep"`` (it trains on without the window) or ``"cancel"``, as the user answers."""
    box = QMessageBox(parent)
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
    return "stop" if clicked is stop else "keep" if clicked is keep else "cancel"
