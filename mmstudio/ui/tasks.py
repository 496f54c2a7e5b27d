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

import gc
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal

from mmstudio.data.types import Cancelled, DatasetFormatError

PROGRESS_INTERVAL_S = 0.05  # progress reaches the GUI at most 20 times a second


#: How many modules were imported when the heap was last settled (0: never; then nothing is frozen).
_modules_at_settle = 0


def settle_heap() -> None:
    """Put every object alive now (the imported modules, the window's widgets: ~130,000) out of the
    cyclic garbage collector's reach (:func:`gc.freeze`). A full collection otherwise walks them all,
    ~90 ms on this machine with the interpreter lock held, which freezes the window whenever a
    background load happens to trigger one. Called once the window is built; after that, again
    whenever a background task has imported modules (:func:`settle_new_modules`)."""
    global _modules_at_settle
    gc.freeze()
    _modules_at_settle = len(sys.modules)


def settle_new_objects() -> None:
    """Settle the heap again, where it was settled before: for what was built since (a page of the
    window made after its first paint)."""
    if _modules_at_settle:
        settle_heap()


def settle_new_modules() -> None:
    """Settle the heap again if modules were imported since it was last settled: the store's
    SQLAlchemy and Alembic, imported by the first background query, are ~40,000 objects, and one
    full collection walking them stalled a streaming run's plots for 36 ms. Modules live as long as
    the process, so nothing collectable is held back. Does nothing where the heap was never settled
    (the tests, a page used as a library)."""
    if _modules_at_settle and len(sys.modules) > _modules_at_settle:
        settle_heap()


class TaskState:
    """What a background function sees: report progress, check for cancellation.

    ``progress(done, total)`` matches the core's progress callbacks; ``is_set()`` makes the state a
    cancel token for the core (``load_dataset(..., cancel=state)``).
    """

    def __init__(self, emit: Callable[[float, str], None]) -> None:
        self._emit = emit
        self._cancel = threading.Event()
        self._last = 0.0
        self.message = ""

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def is_set(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def check(self) -> None:
        """Raise :class:`~mmstudio.data.types.Cancelled` if the task was cancelled."""
        if self._cancel.is_set():
            raise Cancelled("cancelled")

    def set_message(self, message: str) -> None:
        self.message = message
        try:
            self._emit(-1.0, message)
        except RuntimeError:  # as in progress()
            self._cancel.set()
            raise Cancelled("the application is closing") from None
        self._last = time.monotonic()

    def progress(self, done: float, total: float | None = None) -> None:
        """Report ``done`` of ``total`` (or a fraction in [0, 1] when ``total`` is None); throttled."""
        now = time.monotonic()
        if now - self._last < PROGRESS_INTERVAL_S and not (total and done >= total):
            return
        self._last = now
        fraction = done / total if total else float(done)
        try:
            self._emit(max(0.0, min(1.0, fraction)), self.message)
        except RuntimeError:  # the task's Qt object is gone (the app is quitting): nobody wants the result
            self._cancel.set()
            raise Cancelled("the application is closing") from None

    __call__ = progress  # a TaskState is itself a progress(done, total) callback


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
                task.error = user_message(exc)
                expected = isinstance(exc, (DatasetFormatError, OSError))
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


def user_message(exc: BaseException) -> str:
    """The exception as a sentence for the user (the core's errors already speak to the user)."""
    text = str(exc).strip()
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)) and exc.filename:
        return f"{exc.strerror}: {exc.filename}"
    if isinstance(exc, (ValueError, OSError, RuntimeError, KeyError, TypeError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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


class StoreHandle:
    """One open :class:`~mmstudio.store.Store` per URL, opened lazily in a pool thread and shared by a
    panel's tasks (the store is thread-safe). ``mark_orphans`` as in ``Store.open``."""

    def __init__(self, *, mark_orphans: bool = True) -> None:
        self._lock = threading.Lock()
        self._url: str | None = None
        self._store: Any = None
        self._mark_orphans = mark_orphans

    def get(self, url: str | None) -> Any:
        from mmstudio.store import Store

        with self._lock:
            if self._store is None or self._url != url:
                if self._store is not None:
                    self._store.close()
                self._store = Store.open(url, mark_orphans=self._mark_orphans)
                self._url = url
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
            self._store = None
