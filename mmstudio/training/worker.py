"""Training in a child process (``spawn``), so the GUI stays responsive and a crash stays contained.

:func:`start_worker` starts a process that calls :func:`~mmstudio.training.runner.run_job`: the child
writes the run's results to the store itself and sends the events to the parent on a queue,
throttled at the source (metric points and progress are coalesced; at most ~40 events a second
cross the queue, whatever the step rate; every other event, the terminal ones included, is sent at
once). The parent holds a :class:`WorkerHandle`: it reads the events without blocking, forwards
pause / resume / stop requests (cooperative: the trainer checks them between optimiser steps), and
watches the process: if it dies without a terminal event (SIGKILL, a segfault, the out-of-memory
killer), the handle records the run as ``interrupted`` (killed by a signal that ends a process on
purpose) or ``failed`` (crashed) with the exit code, and synthesizes a ``RunFailed(kind="crashed")``.

The run id is known from the ``RunStarted`` event: the child creates the run once the dataset has
loaded, so that the run is linked to its dataset record and stores its complete model spec. If the
child dies before the parent has seen ``RunStarted``, the handle marks any run the dead process left
``running`` via the store's orphan check (it matches the child's pid).
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import queue as queue_module
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from mmstudio.training import events as ev
from mmstudio.training.control import TrainingControl
from mmstudio.training.spec import RunJob

#: The shortest time between two sends of coalesced points / progress (two events each time).
MIN_INTERVAL_S = 0.05
#: Signals that end a process on purpose (a user, a supervisor, the out-of-memory killer): the run
#: was interrupted, not broken, and can be resumed.
_INTERRUPTING = {signal.SIGKILL, signal.SIGTERM, signal.SIGINT} if hasattr(signal, "SIGKILL") else set()
#: ``mallopt`` parameters (glibc's ``malloc.h``).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


class ThrottledSender:
    """The child's event callback: puts events on ``queue``, coalescing ``MetricsLogged`` points and
    keeping only the latest ``ProgressUpdated`` between sends, at most one send per ``interval_s``.
    Any other event first sends what is pending, then itself, so the order of what matters is kept."""

    def __init__(
        self, queue: Any, *, interval_s: float = MIN_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._queue = queue
        self._interval = interval_s
        self._clock = clock
        self._last_send = -float("inf")
        self._points: list[tuple[str, int, int, float]] = []
        self._metrics_run = 0
        self._metrics_time = 0.0
        self._progress: ev.ProgressUpdated | None = None

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.MetricsLogged):
            self._points.extend(event.points)
            self._metrics_run, self._metrics_time = event.run_id, event.time
        elif isinstance(event, ev.ProgressUpdated):
            self._progress = event
        else:
            self.flush()
            self._queue.put(event)
            return
        if self._clock() - self._last_send >= self._interval:
            self.flush()

    def flush(self) -> None:
        """Send the pending points and progress now."""
        self._last_send = self._clock()
        if self._points:
            points, self._points = tuple(self._points), []
            self._queue.put(ev.MetricsLogged(self._metrics_run, points, self._metrics_time))
        if self._progress is not None:
            progress, self._progress = self._progress, None
            self._queue.put(progress)


def keep_freed_memory() -> bool:
    """Ask glibc's ``malloc`` to keep the memory a training step frees for the next step; returns
    whether it could (only glibc can: elsewhere this does nothing).

    By default glibc hands freed memory at the top of its heap back to the system and maps each large
    block afresh, so on a CPU every step's activations are page-faulted in again, zeroed by the kernel
    page by page: tens of thousands of faults per epoch, 5-15 % of a small model's training time,
    depending on what the process allocated before (``tests/benchmarks/bench_training_throughput.py``
    measured it in this worker). Blocks up to 32 MiB (glibc's largest threshold) now come from the heap,
    and up to 1 GiB of free heap is kept; a training process needs that memory again at the next step.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    trimmed = mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    mapped = mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    return bool(trimmed and mapped)


def _child_main(job: RunJob, queue: Any, control: TrainingControl) -> None:
    """The child process: run the job, sending events on ``queue``. Ctrl-C in the terminal reaches the
    whole process group; the parent decides what happens to its worker, so the child ignores it."""
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_memory()  # the process exists to train: see the function
    from mmstudio.training.runner import run_job

    sender = ThrottledSender(queue)
    try:
        run_job(job, on_event=sender, control=control)
    finally:
        sender.flush()
        queue.close()
        queue.join_thread()  # every event is in the pipe before the process ends


class WorkerHandle:
    """The parent's side of one training process. See the module docstring.

    Read events with :meth:`events` (wait up to ``timeout`` for the first) or :meth:`drain` (never
    waits); both also run the watchdog. End it with :meth:`close` (stop, drain, join, and only then
    terminate), which never leaves a zombie.
    """

    def __init__(self, process: Any, queue: Any, control: TrainingControl, job: RunJob) -> None:
        self._process = process
        self._queue = queue
        self._control = control
        self.job = job
        self.run_id: int | None = job.resume_run_id
        self.terminal: ev.RunFinished | ev.RunFailed | None = None
        #: Events read while joining or killing, for the caller to consume (and clear).
        self.pending: list[ev.Event] = []
        self._crash_reported = False

    # --- state ----------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def is_alive(self) -> bool:
        return self._process.is_alive()

    @property
    def exitcode(self) -> int | None:
        return self._process.exitcode

    @property
    def finished(self) -> bool:
        """A terminal event (real or synthesized) has been read."""
        return self.terminal is not None

    # --- events ---------------------------------------------------------------------------------

    def drain(self, max_items: int | None = None) -> list[ev.Event]:
        """The events waiting on the queue (at most ``max_items``), without blocking."""
        out: list[ev.Event] = []
        while max_items is None or len(out) < max_items:
            try:
                event = self._queue.get_nowait()
            except (queue_module.Empty, OSError, ValueError):
                break
            out.append(self._seen(event))
        if max_items is None or len(out) < max_items:
            out.extend(self._watchdog())
        return out

    def events(self, timeout: float = 0.0, max_items: int | None = None) -> list[ev.Event]:
        """Wait up to ``timeout`` seconds for an event, then return it with whatever else is waiting
        (at most ``max_items`` in all)."""
        if timeout <= 0 or self.finished:
            return self.drain(max_items)
        try:
            first = self._seen(self._queue.get(timeout=timeout))
        except (queue_module.Empty, OSError, ValueError):
            return self.drain(max_items)
        return [first, *self.drain(None if max_items is None else max_items - 1)]

    def _seen(self, event: ev.Event) -> ev.Event:
        if isinstance(event, ev.RunStarted):
            self.run_id = event.run_id
        elif isinstance(event, ev.TERMINAL):
            self.terminal = event
        return event

    # --- control --------------------------------------------------------------------------------

    def pause(self) -> None:
        self._control.pause()

    def resume(self) -> None:
        self._control.resume()

    def stop(self) -> None:
        """Ask the trainer to stop after the current step (it saves a final checkpoint and evaluates)."""
        self._control.stop()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the process to end, reading events meanwhile (the child cannot exit while the
        queue's pipe is full). Returns whether it ended; the events read go to :attr:`pending`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._process.is_alive():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self.pending.extend(self.events(timeout=0.1))
        self._process.join()
        self.pending.extend(self.drain())
        return True

    def kill(self) -> None:
        """Terminate the process now (SIGTERM, then SIGKILL): the last resort, for a child that does not
        answer a stop request. The watchdog then records the run as interrupted."""
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self.pending.extend(self.drain())

    def detach(self) -> None:
        """Let the child go on without this process: it trains to the end and records the run in the
        store itself while this process may exit (a GUI closed with "keep running"). It is no longer a
        child that Python joins at exit, and its queue is closed without waiting for it to drain; the
        system reaps the child when it ends. The handle is of no further use."""
        import multiprocessing.process as mp_process

        mp_process._children.discard(self._process)  # multiprocessing's own list of children to join
        self._queue.cancel_join_thread()
        self._queue.close()

    def close(self, timeout: float = 30.0) -> list[ev.Event]:
        """Stop, drain, join; terminate only if the child has not ended within ``timeout`` seconds.
        Returns every event not yet returned (the terminal one included)."""
        if self._process.is_alive():
            self.stop()  # a paused trainer sees it too
            if not self.join(timeout):
                self.kill()
        else:
            self.join()
        events, self.pending = self.pending, []
        self._queue.close()
        self._queue.join_thread()
        return events

    # --- watchdog -------------------------------------------------------------------------------

    def _watchdog(self) -> list[ev.Event]:
        """If the process is gone without a terminal event, record the run and report a crash."""
        if self.terminal is not None or self._crash_reported or self._process.is_alive():
            return []
        self._process.join()
        # The child may have put its last events just before exiting: read them first.
        late = []
        while True:
            try:
                late.append(self._seen(self._queue.get(timeout=0.05)))
            except (queue_module.Empty, OSError, ValueError):
                break
        if self.terminal is not None:
            return late
        self._crash_reported = True
        code = self._process.exitcode
        status, message = describe_exit(code)
        run_id = _record_crash(self.job, self.run_id, self._process.pid, status, message)
        self.run_id = self.run_id or run_id
        crash = ev.RunFailed(self.run_id or 0, message, "crashed", "", None, time.time(), status)
        self.terminal = crash
        return [*late, crash]


def describe_exit(code: int | None) -> tuple[str, str]:
    """``(status, message)`` for a worker that ended without reporting: ``interrupted`` when a signal
    ended it on purpose (it can be resumed), else ``failed``."""
    if code is not None and code < 0:
        number = -code
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        if number in _INTERRUPTING:
            hint = (
                " (by a user, a supervisor, or the system's out-of-memory killer)"
                if name == "SIGKILL"
                else ""
            )
            return (
                "interrupted",
                f"the training process was killed by {name}{hint}; resume the run to continue",
            )
        return "failed", f"the training process crashed ({name}, exit code {code}); see the log for details"
    return "failed", f"the training process ended unexpectedly (exit code {code}) without reporting a result"


def _record_crash(job: RunJob, run_id: int | None, pid: int | None, status: str, message: str) -> int | None:
    """Mark the dead worker's run in the store; returns the run id when it had to be looked up."""
    from mmstudio.store import Store
    from mmstudio.store.types import RunStatus

    try:
        with Store.open(job.db_url, mark_orphans=False) as store:
            if run_id is None:
                running = store.list_runs(status=RunStatus.RUNNING)
                found = [r.id for r in running if store.get_run(r.id).pid == pid]
                if not found:
                    return None
                run_id = found[0]
            if store.get_run(run_id).status == RunStatus.RUNNING:
                store.set_status(run_id, status, error_message=message)
            return run_id
    except Exception:
        return run_id  # the store is unreachable; its next open marks the run interrupted anyway


def start_worker(job: RunJob, *, control: TrainingControl | None = None) -> WorkerHandle:
    """Start training ``job`` in a new ``spawn`` process and return its handle."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    control = control or TrainingControl(context)
    process = context.Process(
        target=_child_main, args=(job, queue, control), name="mmstudio-training", daemon=False
    )
    process.start()
    return WorkerHandle(process, queue, control, job)
