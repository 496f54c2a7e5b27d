"""Cooperative pause / resume / stop requests (standard library only, so the GUI can hold one
without importing torch)."""

from __future__ import annotations

import threading
from typing import Any


class TrainingControl:
    """Cooperative pause / resume / stop requests, read by the trainer between optimiser steps.

    With a ``multiprocessing`` context the flags are shared with a child process (pass the object to
    it); without one they are plain thread events (the command line, tests).
    """

    def __init__(self, context: Any = None) -> None:
        make = threading.Event if context is None else context.Event
        self._stop = make()
        self._pause = make()

    def stop(self) -> None:
        self._stop.set()

    def pause(self) -> None:
        self._pause.set()

    def resume(self) -> None:
        self._pause.clear()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def cancel_flag(self) -> Any:
        """The stop request as an object with ``is_set()``, for the data layer's ``cancel=`` arguments:
        a stop while the dataset loads or the image cache is built ends that work too."""
        return self._stop

    @property
    def pause_requested(self) -> bool:
        return self._pause.is_set()

    def wait_while_paused(self, poll_s: float = 0.1) -> None:
        """Block while paused; a stop request ends the wait at once."""
        while self._pause.is_set() and not self._stop.is_set():
            self._stop.wait(poll_s)
