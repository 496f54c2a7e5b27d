"""Long work off the GUI thread (the Orange pattern): a function runs in Qt's thread pool with a small
:class:`TaskState` (throttled progress, cooperative cancel, partial results) and its outcome comes back
as queued signals of a :class:`Task` that lives in the GUI thread.

    task = run_task(load_dataset_in_thread, path, parent=self)
    task.progressed.connect(self._on_task_progressed)   # (fraction, message), at most ~20 per second
    task.succeeded.connect(self._on_task_succeeded)     # the function's return value (connect at once:
                                                        # signals are queued from the task's start)
    task.failed.connect(self._on_task_failed)           # (message, traceback text)
    task.cancel()                                       # the function sees state.cancelled / is_set()

The function receives the :class:`TaskState` as its first argument. It is Qt-free on purpose: it can be
passed wherever the core takes a ``progress`` callback or a ``cancel`` object with ``is_set()``.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal

from mmstudio.data.types import DatasetFormatError
from mmstudio.heap import settle_new_modules
from mmstudio.progress import Cancelled, TaskState, user_message
from mmstudio.store.errors import StoreError


class Task(QObject):
    """The GUI-thread face of one background call. Signals arrive queued, in the GUI thread.

    The pool thread emits private signals, connected (queued) to the public ones when the task is
    made, before its function starts: a connection made right after :func:`run_task` returns still
    gets every signal, even from a function that returned at once (Qt queues an emission only for
    the connections that exist when it happens).
    """

    progressed = Signal(float, str)  # fraction in [0, 1] (-1: unknown), message
    succeeded = Signal(object)
    # A message for the user, and the traceback for the log: "" when the input was at fault (a dataset
    # that cannot be read, a missing file), which the message says all about.
    failed = Signal(str, str)
    cancelled = Signal()
    finished = Signal()  # after any of the three above

    _progressed = Signal(float, str)
    _succeeded = Signal(object)
    _failed = Signal(str, str)
    _cancelled = Signal()
    _finished = Signal()

    def __init__(self) -> None:
        super().__init__()
        queued = Qt.ConnectionType.QueuedConnection
        for private, public in (
            (self._progressed, self.progressed),
            (self._succeeded, self.succeeded),
            (self._failed, self.failed),
            (self._cancelled, self.cancelled),
            (self._finished, self.finished),
        ):
            private.connect(public, queued)
        self.state = TaskState(self._progressed.emit)
        self.done = False
        self.result: Any = None
        self.error: str | None = None
        self.finished.connect(self._on_self_finished)

    def cancel(self) -> None:
        self.state.cancel()

    @property
    def is_cancelled(self) -> bool:
        return self.state.cancelled

    def _on_self_finished(self) -> None:
        self.done = True
        settle_new_modules()


class _Runnable(QRunnable):
    def __init__(self, task: Task, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._task, self._fn, self._args, self._kwargs = task, fn, args, kwargs

    def run(self) -> None:  # in a pool thread
        task = self._task
        try:
            result = self._fn(task.state, *self._args, **self._kwargs)
        except Cancelled:
            _send(task._cancelled)
        except Exception as exc:  # the GUI shows the message; the traceback goes to the log
            if task.state.cancelled:
                _send(task._cancelled)
            else:
                # an unusable store: the same sentence the command line prints
                task.error = str(exc) if isinstance(exc, StoreError) else user_message(exc)
                expected = isinstance(exc, (DatasetFormatError, OSError, StoreError))
                _send(task._failed, task.error, "" if expected else traceback.format_exc())
        else:
            if task.state.cancelled:
                _send(task._cancelled)
            else:
                task.result = result
                _send(task._succeeded, result)
        _send(task._finished)


def _send(signal, *args: Any) -> None:
    """Emit from the pool thread; a task whose Qt object is already gone (the application quit while
    it ran) has nobody left to tell."""
    try:
        signal.emit(*args)
    except RuntimeError:
        pass


def thread_pool() -> QThreadPool:
    """The pool for mmstudio's background work (the global one; thumbnails use their own)."""
    return QThreadPool.globalInstance()


_LIVE: set[Task] = set()  # tasks whose function still runs: kept alive until they finish


def run_task(fn: Callable[..., Any], *args: Any, pool: QThreadPool | None = None, **kwargs: Any) -> Task:
    """Run ``fn(state, *args, **kwargs)`` in the thread pool; connect to the returned task's signals
    right away (they are queued to this thread, so none is missed).

    The task has no Qt parent and stays alive until its function returns, so a panel closed while it
    runs only loses its connections (Qt drops those of a deleted receiver); cancel it on close.
    """
    task = Task()
    _LIVE.add(task)
    task.finished.connect(lambda: _LIVE.discard(task))
    (pool or thread_pool()).start(_Runnable(task, fn, args, kwargs))
    return task


def cancel_all(timeout_ms: int = 3000) -> bool:
    """Cancel every running task and wait for the pool (on quit); False if some did not stop."""
    for task in list(_LIVE):
        task.cancel()
    return thread_pool().waitForDone(timeout_ms)
