"""The Model page's background work, off the GUI thread (:func:`~mmstudio.ui.tasks.run_task`), with the
rules in :mod:`mmstudio.training.preflight`:

- the model library, loaded once (torch and the registries), when the page first needs it;
- the dataset's facts (the vocabulary from the tokenizer fit as training fits it, the labels), read
  again for a new dataset or new tokenizer settings; a newer request replaces an older one;
- the summary (validation, shapes, parameters, memory), debounced after the last edit, one at a time,
  a result older than the latest request dropped;
- "Check on a batch", one at a time, cancellable.

Results come back as signals, in the GUI thread.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from mmstudio.training.preflight import (
    DatasetFacts,
    check_on_batch,
    dataset_facts,
    load_library,
    summarize_spec,
)
from mmstudio.training.spec import TrainSpec
from mmstudio.ui.tasks import Task, run_task

if TYPE_CHECKING:
    from mmstudio.data.dataset import Dataset
    from mmstudio.progress import TaskState

SUMMARY_DELAY_MS = 150  # debounce: summarise this long after the last edit


def _library_job(_state: TaskState) -> float:
    return load_library()


def _facts_job(state: TaskState, dataset: Dataset, train: TrainSpec) -> DatasetFacts:
    return dataset_facts(dataset, train, cancel=state)


def _summary_job(_state: TaskState, request: int, spec: dict, context: dict, batch_size: int) -> dict:
    return {"request": request, **summarize_spec(spec, context, batch_size)}


def _check_job(state: TaskState, spec: dict, dataset: Dataset, train: TrainSpec, facts: DatasetFacts) -> dict:
    return check_on_batch(spec, dataset, train, facts, state=state)


def _start(fn: Any, *args: Any, **slots: Any) -> Task:
    """``run_task(fn, *args)`` with ``slots`` (``succeeded=...``, ``failed=...``) connected."""
    task = run_task(fn, *args)
    for name, slot in slots.items():
        getattr(task, name).connect(slot)
    return task


class PreflightController(QObject):
    """Runs the page's background work; see the module docstring."""

    library_loaded = Signal(float)  # seconds
    library_failed = Signal(str)  # message (the details go to stderr)
    facts_read = Signal(object)  # DatasetFacts
    facts_failed = Signal(str)  # message
    summary_ready = Signal(object)  # summarize_spec's dict, for the latest request only
    summary_failed = Signal(str)
    check_progressed = Signal(str)  # what the check is doing
    check_succeeded = Signal(object)  # check_on_batch's dict
    check_failed = Signal(str)
    check_cancelled = Signal()
    check_finished = Signal()  # after any of the three above

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._load_task: Task | None = None
        self._facts_task: Task | None = None
        self._summary_task: Task | None = None
        self._check_task: Task | None = None
        self._summary_request = 0
        self._summary_again = False
        self._summary_inputs: tuple[dict, dict, int] | None = None
        self.facts: DatasetFacts | None = None
        self.facts_error = ""
        self._summary_timer = QTimer(self)
        self._summary_timer.setSingleShot(True)
        self._summary_timer.setInterval(SUMMARY_DELAY_MS)
        self._summary_timer.timeout.connect(self._on_summary_timer_timeout)

    def is_busy(self) -> bool:
        """Loading the library or the facts, a summary due or running, or a check running."""
        return self._summary_timer.isActive() or any(
            task is not None and not task.done
            for task in (self._load_task, self._facts_task, self._summary_task, self._check_task)
        )

    # --- the library ----------------------------------------------------------------------------------

    def load_library(self) -> None:
        """Start loading the model library (once)."""
        if self._load_task is None:
            self._load_task = _start(
                _library_job, succeeded=self._on_load_task_succeeded, failed=self._on_load_task_failed
            )

    def _on_load_task_succeeded(self, seconds: float) -> None:
        self.library_loaded.emit(seconds)

    def _on_load_task_failed(self, message: str, details: str) -> None:
        sys.stderr.write(details)
        self.library_failed.emit(message)

    # --- the dataset's facts --------------------------------------------------------------------------

    def read_facts(self, dataset: Dataset | None, train: TrainSpec) -> None:
        """Forget the facts, and read those of ``dataset`` (none when None)."""
        if self._facts_task is not None:
            self._facts_task.cancel()
            self._facts_task = None
        self.facts = None
        self.facts_error = ""
        if dataset is not None:
            self._facts_task = _start(
                _facts_job,
                dataset,
                train,
                succeeded=self._on_facts_task_succeeded,
                failed=self._on_facts_task_failed,
            )

    def _on_facts_task_succeeded(self, facts: DatasetFacts) -> None:
        if self.sender() is self._facts_task:  # else a dataset replaced since
            self.facts = facts
            self.facts_read.emit(facts)

    def _on_facts_task_failed(self, message: str, _details: str) -> None:
        if self.sender() is self._facts_task:
            self.facts_error = message
            self.facts_failed.emit(message)

    # --- summaries ------------------------------------------------------------------------------------

    def request_summary(self, spec: Mapping[str, Any], context: Mapping[str, Any], batch_size: int) -> None:
        """Summarise ``spec`` for ``context`` once the edits pause; older requests are dropped."""
        self._summary_request += 1
        self._summary_inputs = (dict(spec), dict(context), batch_size)
        self._summary_timer.start()

    def _on_summary_timer_timeout(self) -> None:
        if self._summary_task is not None and not self._summary_task.done:
            self._summary_again = True  # one at a time: the latest request follows this one
            return
        assert self._summary_inputs is not None
        self._summary_task = _start(
            _summary_job,
            self._summary_request,
            *self._summary_inputs,
            succeeded=self._on_summary_task_succeeded,
            failed=self._on_summary_task_failed,
            finished=self._on_summary_task_finished,
        )

    def _on_summary_task_finished(self) -> None:
        if self._summary_again:
            self._summary_again = False
            if not self._summary_timer.isActive():
                self._on_summary_timer_timeout()

    def _on_summary_task_succeeded(self, result: dict) -> None:
        if result["request"] == self._summary_request:  # else a newer edit is on its way
            self.summary_ready.emit(result)

    def _on_summary_task_failed(self, message: str, details: str) -> None:
        sys.stderr.write(details)
        self.summary_failed.emit(message)

    # --- check on a batch -----------------------------------------------------------------------------

    def is_checking(self) -> bool:
        return self._check_task is not None and not self._check_task.done

    def start_check(self, spec: dict, dataset: Dataset, train: TrainSpec) -> None:
        """Run one batch of ``dataset`` through ``spec``'s model (the facts must be read)."""
        assert self.facts is not None and not self.is_checking()
        self._check_task = _start(
            _check_job,
            spec,
            dataset,
            train,
            self.facts,
            progressed=self._on_check_task_progressed,
            succeeded=self._on_check_task_succeeded,
            failed=self._on_check_task_failed,
            cancelled=self._on_check_task_cancelled,
            finished=self.check_finished,
        )

    def cancel_check(self) -> None:
        if self.is_checking():
            self._check_task.cancel()

    def _on_check_task_progressed(self, _fraction: float, message: str) -> None:
        if self.sender() is self._check_task and message:
            self.check_progressed.emit(message)

    def _on_check_task_succeeded(self, result: dict) -> None:
        if self.sender() is self._check_task:
            self.check_succeeded.emit(result)

    def _on_check_task_failed(self, message: str, details: str) -> None:
        if self.sender() is self._check_task:
            sys.stderr.write(details)
            self.check_failed.emit(message)

    def _on_check_task_cancelled(self) -> None:
        if self.sender() is self._check_task:
            self.check_cancelled.emit()
