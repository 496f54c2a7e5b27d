"""The Train page's check before Start: why the open dataset cannot train the model
(:func:`mmstudio.training.preflight.job_problems`: too few labels, no training items, a task or a
modality the data lacks), found in the thread pool whenever the dataset or the model changes, so the
page can say why Start is unavailable before a run fails."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from mmstudio.ui.tasks import Task, run_task


def _problems_job(state: Any, dataset: Any, model: dict[str, Any] | None) -> list[str]:
    from mmstudio.training.preflight import job_problems

    return job_problems(dataset, model, cancel=state)


class JobCheckController(QObject):
    """:meth:`check` a dataset and a model spec; ``checked()`` when :attr:`problems` is known. A check
    asked for while another runs replaces it (the older one's answer is dropped)."""

    checked = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        #: Why the data cannot train the model, a sentence each; [] when nothing stands in the way (or
        #: there is no dataset); None while it is being found.
        self.problems: list[str] | None = []
        self._task: Task | None = None

    @property
    def checking(self) -> bool:
        return self.problems is None

    @property
    def unavailable(self) -> str:
        """Why Start is unavailable, as the page says it; "" when it is available."""
        return f"Start is unavailable: {'; '.join(self.problems)}." if self.problems else ""

    def check(self, dataset: Any, model: dict[str, Any] | None) -> None:
        """Find why ``dataset`` cannot train ``model`` (None: the default for the data), in the pool."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if dataset is None:
            self.problems = []
            self.checked.emit()
            return
        self.problems = None
        task = run_task(_problems_job, dataset, model)
        # Bound methods, not lambdas: Qt drops them with this controller if the page closes first.
        task.succeeded.connect(self._on_task_succeeded)
        task.failed.connect(self._on_task_failed)
        self._task = task

    def _on_task_succeeded(self, problems: list[str]) -> None:
        if self.sender() is self._task:  # not a check of a dataset or model since replaced
            self._task = None
            self.problems = problems
            self.checked.emit()

    def _on_task_failed(self, _message: str, _details: str) -> None:
        # A check that fails stands in nobody's way: the runner checks the same before it records a run.
        self._on_task_succeeded([])
