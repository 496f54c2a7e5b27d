"""Progress and cooperative cancellation for long work, wherever it runs (standard library only).

Long functions of the core take ``progress(done, total)`` and a ``cancel`` object with ``is_set()``;
they call :func:`check_cancel` between chunks of work and raise :class:`Cancelled` when asked to stop.
A :class:`TaskState` is both at once: the GUI hands one to every background function (it forwards
throttled progress to a queued Qt signal), and a command-line caller or a test can make one with any
callback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

PROGRESS_INTERVAL_S = 0.05  # progress is passed on at most 20 times a second


class Cancelled(Exception):
    """Raised by long work when the caller's cancel flag is set."""


def check_cancel(cancel: object, what: str = "the work") -> None:
    """Raise :class:`Cancelled` (``"<what> was cancelled"``) if ``cancel`` is set."""
    if cancel is not None and cancel.is_set():  # type: ignore[attr-defined]
        raise Cancelled(f"{what} was cancelled")


class TaskState:
    """What a background function sees: report progress, check for cancellation.

    ``progress(done, total)`` matches the core's progress callbacks; ``is_set()`` makes the state a
    cancel token for the core (``load_dataset(..., cancel=state)``). ``emit(fraction, message)``
    receives the progress (``-1`` for a message without a fraction); when it raises ``RuntimeError``
    (nobody is listening any more: the application is closing) the work is cancelled.
    """

    def __init__(self, emit: Callable[[float, str], None] | None = None) -> None:
        self._emit = emit or (lambda _fraction, _message: None)
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
        """Raise :class:`Cancelled` if the work was cancelled."""
        if self._cancel.is_set():
            raise Cancelled("cancelled")

    def set_message(self, message: str) -> None:
        self.message = message
        self._send(-1.0)
        self._last = time.monotonic()

    def progress(self, done: float, total: float | None = None) -> None:
        """Report ``done`` of ``total`` (or a fraction in [0, 1] when ``total`` is None); throttled."""
        now = time.monotonic()
        if now - self._last < PROGRESS_INTERVAL_S and not (total and done >= total):
            return
        self._last = now
        fraction = done / total if total else float(done)
        self._send(max(0.0, min(1.0, fraction)))

    __call__ = progress  # a TaskState is itself a progress(done, total) callback

    def _send(self, fraction: float) -> None:
        try:
            self._emit(fraction, self.message)
        except RuntimeError:  # the receiver is gone (the app is quitting): nobody wants the result
            self._cancel.set()
            raise Cancelled("the application is closing") from None


def user_message(exc: BaseException) -> str:
    """The exception as a sentence for the user (the core's errors already speak to the user)."""
    text = str(exc).strip()
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)) and exc.filename:
        return f"{exc.strerror}: {exc.filename}"
    if isinstance(exc, (ValueError, OSError, RuntimeError, KeyError, TypeError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
