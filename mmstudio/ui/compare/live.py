"""The Compare page's running runs: their curves grow and their numbers update as they train, wherever
they train (another process, another machine: what they write to the store is what is read).

While the page is shown and a compared run is running, :class:`RunningRunsController` reads the store
every :data:`~mmstudio.training.follow.FOLLOW_INTERVAL_S` seconds in the thread pool (one read in
flight): per running run, its state (status, and per metric its count, last and extreme values) and
the new points of the metric the curves tab shows (:meth:`~mmstudio.store.Store.poll_run`: only what is
new, one query). The chart's curves grow in place (:meth:`~.charts.CurvesChart.grow`: the user's zoom
and hidden runs stay), and the page gets the comparison with the new statistics (the Metrics tab's last
and best values, the runs' status). When a run has ended, the page reads the whole comparison again:
its test evaluation, confusion matrix and per-class scores come with its end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from mmstudio.store.compare import Comparison
from mmstudio.store.curves import poll_runs
from mmstudio.store.handle import StoreHandle
from mmstudio.store.types import CurveCursor, RunPoll, RunStatus
from mmstudio.training.follow import FOLLOW_INTERVAL_S
from mmstudio.ui.compare.curves_tab import CurvesTab
from mmstudio.ui.tasks import Task


def poll_running_job(
    state: Any,
    holder: StoreHandle,
    url: str | None,
    run_ids: list[int],
    key: str,
    held: dict[int, CurveCursor],
) -> tuple[str, dict[int, RunPoll]]:
    return key, poll_runs(holder.get(url), run_ids, key or None, held, cancel=state)


class RunningRunsController(QObject):
    """Keeps the compared runs that are running up to date (see the module docstring).

    ``start(fn, *args, succeeded=...)`` runs a job for the current comparison (the page's: a newer
    comparison drops its result); ``store()`` gives the store handle and URL. Signal
    ``updated(comparison, ended)``: the comparison with the runs' new state; ``ended``: a run has
    ended since (the page reads the whole comparison again)."""

    updated = Signal(object, bool)

    def __init__(
        self,
        start: Callable[..., Task],
        store: Callable[[], tuple[StoreHandle, str | None]],
        curves_tab: CurvesTab,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._start = start
        self._store = store
        self._curves_tab = curves_tab
        self.comparison: Comparison | None = None
        self.running: list[int] = []
        self._active = False
        self._task: Task | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(round(FOLLOW_INTERVAL_S * 1000))
        self._timer.timeout.connect(self._on_timer_timeout)

    @property
    def polling(self) -> bool:
        return self._timer.isActive()

    def set_interval(self, seconds: float) -> None:
        self._timer.setInterval(round(seconds * 1000))

    def set_comparison(self, c: Comparison | None) -> None:
        """The runs compared now (None: none); those running are read from now on."""
        self.comparison = c
        self.running = [] if c is None else [r.id for r in c.runs if r.status is RunStatus.RUNNING]
        self._task = None  # a read for the runs before is dropped (the page's start does)
        self._update_timer()

    def set_active(self, active: bool) -> None:
        """Read only while the page is shown."""
        self._active = active
        self._update_timer()

    def stop(self) -> None:
        self.set_comparison(None)

    def _update_timer(self) -> None:
        if self._active and self.running:
            if not self._timer.isActive():
                self._timer.start()
        else:
            self._timer.stop()

    def _on_timer_timeout(self) -> None:
        self.poll()

    def poll(self) -> Task | None:
        """Read the running runs now (nothing when a read is in flight)."""
        if self._task is not None or not self.running:
            return None
        key, held = self._curves_tab.held(self.running)
        holder, url = self._store()
        task = self._start(
            poll_running_job,
            holder,
            url,
            list(self.running),
            key,
            held,
            succeeded=self._on_polled,
            failure="Could not read the running runs",
        )
        task.finished.connect(lambda: self._on_poll_finished(task))
        self._task = task
        return task

    def _on_poll_finished(self, task: Task) -> None:
        if self._task is task:
            self._task = None

    def _on_polled(self, result: tuple[str, dict[int, RunPoll]]) -> None:
        key, polls = result
        c = self.comparison
        if c is None:
            return
        grown = {run_id: poll.curves[key] for run_id, poll in polls.items() if key in poll.curves}
        if grown:
            self._curves_tab.grow(key, grown)
        stats = dict(c.stats)
        runs = list(c.runs)
        for i, run in enumerate(runs):
            poll = polls.get(run.id)
            if poll is None:
                continue
            live = poll.state
            stats[run.id] = live.stats
            runs[i] = dataclasses.replace(
                run,
                status=live.status,
                ended=live.ended,
                duration_s=live.duration_s,
                metrics={k: s.last_value for k, s in live.stats.items()},
            )
        ended = any(poll.state.finished for poll in polls.values())
        c = dataclasses.replace(c, runs=runs, stats=stats)
        self.comparison = c
        self.running = [r.id for r in runs if r.status is RunStatus.RUNNING]
        self._update_timer()
        self.updated.emit(c, ended)
