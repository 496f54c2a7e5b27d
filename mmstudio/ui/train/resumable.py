"""The Train page's "Resume a stopped run": the runs of the store that can be resumed (failed,
stopped or interrupted: :data:`mmstudio.vocabulary.RESUMABLE_STATUSES`), listed in the thread pool,
and a button that asks to continue the chosen one from its last checkpoint.

A run is always chosen while any is offered (the one chosen before, else the latest), so Resume run
acts on what the choice shows; with none offered it is disabled and says why. What goes wrong (the
list cannot be read, a run cannot be resumed) is said under the choice, never swallowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmstudio.ui.resources import icon
from mmstudio.ui.tasks import run_task
from mmstudio.ui.widgets import MessageBar, WheelGuard
from mmstudio.vocabulary import RESUMABLE_STATUSES, run_status_title

#: The most runs offered (the latest first).
MAX_LISTED = 200
RESUME_TIP = "Continue the chosen run from its last checkpoint, into the same run"
NO_RUN_TIP = "No stopped, failed or interrupted run to resume: a run you stop is offered here"


def _list_resumable_job(_state: Any, url: str | None) -> list[tuple[int, str, str]]:
    from mmstudio.store import Store

    with Store.open(url) as store:
        runs = store.list_runs(status=RESUMABLE_STATUSES, limit=MAX_LISTED)
        return [(r.id, r.name, r.status.value) for r in runs]


class ResumableRunsWidget(QWidget):
    """A choice of runs and Resume run…. ``resume_requested(run_id)`` on Resume; ``listed(runs)`` when
    the runs of the store given to :meth:`refresh` are listed, as ``[(run id, name, status)]``. The
    refresh button lists the runs of the last store again."""

    resume_requested = Signal(int)
    listed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._db_url: str | None = None
        self._list_task: Any = None  # the latest listing: an older one that returns later is stale
        self.combo = QComboBox()
        self.combo.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.combo.setPlaceholderText("no stopped or interrupted run")
        self._wheel_guard = WheelGuard(self)
        self._wheel_guard.guard(self.combo)  # the page scrolls this column
        self.refresh_button = QToolButton()
        self.refresh_button.setIcon(icon("reload"))
        self.refresh_button.setToolTip("List the runs that can be resumed again")
        self.refresh_button.clicked.connect(lambda: self.refresh(self._db_url))
        self.resume_button = QPushButton("Resume run…")
        self.resume_button.clicked.connect(self._on_resume_button_clicked)
        self.message = MessageBar()
        choice = QHBoxLayout()
        choice.addWidget(self.combo, 1)
        choice.addWidget(self.refresh_button)
        button_row = QHBoxLayout()
        button_row.addStretch(1)
        button_row.addWidget(self.resume_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addLayout(choice)
        layout.addWidget(self.message)
        layout.addLayout(button_row)
        self._update_button()

    def refresh(self, db_url: str | None) -> None:
        """List the runs of the store at ``db_url`` that can be resumed (in the thread pool)."""
        self._db_url = db_url
        task = run_task(_list_resumable_job, db_url)
        # Bound methods, not lambdas: Qt drops them with this widget if the page closes first.
        task.succeeded.connect(self._on_list_task_succeeded)
        task.failed.connect(self._on_list_task_failed)
        self._list_task = task

    def set_runs(self, runs: Sequence[tuple[int, str, str]]) -> None:
        """Offer ``runs`` as ``(run id, name, status)``, latest first: the chosen run stays chosen while
        it is offered, else the first is chosen."""
        current = self.combo.currentData()
        self.combo.clear()
        for run_id, name, status in runs:
            self.combo.addItem(f"{run_id} · {name} ({run_status_title(status)})", run_id)
        if self.combo.count():
            self.combo.setCurrentIndex(max(0, self.combo.findData(current)))
        self._update_button()

    def select(self, run_id: int) -> bool:
        """Choose run ``run_id``; False when it is not offered."""
        index = self.combo.findData(run_id)
        if index >= 0:
            self.combo.setCurrentIndex(index)
        return index >= 0

    def chosen(self) -> int | None:
        """The run chosen, None when none is."""
        run_id = self.combo.currentData()
        return None if run_id is None else int(run_id)

    def show_message(self, text: str, level: str = "error") -> None:
        """Say ``text`` under the choice (what became of a resume, or why the list is missing)."""
        self.message.show_message(text, level)

    def _update_button(self) -> None:
        chosen = self.chosen() is not None
        self.resume_button.setEnabled(chosen)
        self.resume_button.setToolTip(RESUME_TIP if chosen else NO_RUN_TIP)

    def _on_list_task_succeeded(self, runs: list[tuple[int, str, str]]) -> None:
        if self.sender() is not self._list_task:  # an older listing that returned late
            return
        if self.message.error().startswith("Could not list"):
            self.message.clear()
        self.set_runs(runs)
        self.listed.emit(runs)

    def _on_list_task_failed(self, message: str, _details: str) -> None:
        if self.sender() is self._list_task:
            self.show_message(f"Could not list the runs that can be resumed: {message}")

    def _on_resume_button_clicked(self) -> None:
        run_id = self.chosen()
        if run_id is None:  # the button is disabled then; say so rather than do nothing
            self.show_message("Choose a run to resume first.", "info")
            return
        self.message.clear()
        self.resume_requested.emit(run_id)
