"""Asking runs that other processes or machines train to stop, through the store: what the Train page
(for the run it follows) and the Experiments page (for the selected running runs) share.

The rules are the core's (:mod:`mmstudio.training.follow`): :func:`~mmstudio.training.follow.stop_question`
names the runs and their machines, :func:`~mmstudio.training.follow.ask_to_stop` asks and says how it
went. Here: the question as a message box (:func:`confirm_stop`), and the asking in the thread pool
(:func:`ask_to_stop_task`; the GUI thread never waits for the store). Pausing is not offered: a pause
cannot reach another machine's process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

from mmstudio.store.handle import StoreHandle
from mmstudio.training.follow import RunProcess, StopAnswer, ask_to_stop, stop_question
from mmstudio.ui.tasks import Task, run_task


def confirm_stop(parent: QWidget | None, runs: Sequence[RunProcess]) -> bool:
    """Ask the user whether to stop ``runs`` (named with their machines); True for Yes."""
    title, text = stop_question(runs)
    answer = QMessageBox.question(
        parent,
        title,
        text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes


def _ask_job(_state: Any, handle: StoreHandle, url: str | None, run_ids: list[int]) -> list[StopAnswer]:
    store = handle.get(url)
    return [ask_to_stop(store, run_id) for run_id in run_ids]


def ask_to_stop_task(handle: StoreHandle, url: str | None, run_ids: Iterable[int]) -> Task:
    """Ask ``run_ids`` to stop through the store at ``url`` (opened by ``handle``, for writing) in the
    thread pool. The task succeeds with a :class:`~mmstudio.training.follow.StopAnswer` per run (a run
    that ended meanwhile is an answer that says so) and fails, with a sentence, when the store cannot
    be written."""
    return run_task(_ask_job, handle, url, list(run_ids))
