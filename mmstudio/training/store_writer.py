"""The consumer that records a run's events in the experiment store.

The trainer never touches the store: it emits events, and this writer (running in the same process
as the trainer, so a GUI crash loses nothing) turns them into store writes. Metric points are
buffered and written in one transaction when the buffer is old (``flush_interval_s``) or large
(``max_points``), and at every epoch end, checkpoint, evaluation and at the end of the run: a few
transactions a second at most, whatever the step rate.

While the run trains, the writer also reads, once a second, whether a stop was asked through the
store (``mmstudio runs stop ID``, or Stop in an app that follows the run from another machine) and
then calls ``on_stop_requested`` once: the runner turns it into the trainer's stop request.

On resume, points at or below the last step the store already holds for a key are dropped, so a
curve never gets two points for one step (the steps between the checkpoint and the crash were
recorded by the first attempt).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from mmstudio.store import Store
from mmstudio.store.metrics import MetricPoint
from mmstudio.training import events as ev

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.5
MAX_POINTS = 500
#: How often the store is asked whether someone asked the run to stop (one primary-key read).
STOP_POLL_S = 1.0
#: Events after which the buffer is written at once: the run reached a point worth keeping.
_FLUSH_ON = (ev.EpochEnded, ev.CheckpointSaved, ev.EvaluationFinished, ev.RunPaused, *ev.TERMINAL)


class StoreWriter:
    """Write run ``run_id``'s metric points and checkpoint records to ``store`` in batches.

    Call it with each event (it is an ``on_event`` callback); call :meth:`flush` before the run's
    status changes, so the store never says ``completed`` while points are still buffered.
    """

    def __init__(
        self,
        store: Store,
        run_id: int,
        *,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        max_points: int = MAX_POINTS,
        clock: Callable[[], float] = time.monotonic,
        on_stop_requested: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._on_stop = on_stop_requested
        self._last_stop_check = clock()
        self._run_id = run_id
        self._interval = flush_interval_s
        self._max_points = max_points
        self._clock = clock
        self._buffer: list[MetricPoint] = []
        self._last_flush = clock()
        # For a resumed run: the highest step each key already has in the store.
        self._floor = {key: s.last_step for key, s in store.metric_stats([run_id]).get(run_id, {}).items()}
        self._artifacts = {a.path for a in store.list_artifacts(run_id)}
        self.points_written = 0

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.MetricsLogged):
            self._add(event.points, event.time or time.time())
        elif isinstance(event, ev.CheckpointSaved):
            self._record_checkpoint(event.path)
        if isinstance(event, _FLUSH_ON) or self._due():
            self.flush()
        if self._on_stop is not None and self._clock() - self._last_stop_check >= STOP_POLL_S:
            self._check_stop()

    def _check_stop(self) -> None:
        self._last_stop_check = self._clock()
        try:
            asked = self._store.stop_requested(self._run_id)
        except Exception:  # a store that cannot answer now: ask again at the next check
            log.warning("run %s: could not read whether a stop was asked", self._run_id, exc_info=True)
            return
        if asked:
            callback, self._on_stop = self._on_stop, None  # once
            assert callback is not None
            callback()

    def _add(self, points: Iterable[tuple[str, int, int, float]], wall_time: float) -> None:
        floor = self._floor
        for key, step, epoch, value in points:
            if floor and step <= floor.get(key, -1):
                continue
            self._buffer.append((key, step, epoch, value, wall_time))

    def _due(self) -> bool:
        if not self._buffer:
            return False
        return len(self._buffer) >= self._max_points or self._clock() - self._last_flush >= self._interval

    def flush(self) -> None:
        """Write the buffered points in one transaction."""
        self._last_flush = self._clock()
        if not self._buffer:
            return
        points, self._buffer = self._buffer, []
        self.points_written += self._store.log_metrics(self._run_id, points)

    def _record_checkpoint(self, path: str) -> None:
        """Record each checkpoint file once. Best and last are rewritten every epoch, so no hash is
        kept (it would be stale after the next epoch); the record says where to find the file."""
        resolved = str(Path(path))
        if resolved in self._artifacts:
            return
        self._store.add_artifact(self._run_id, "checkpoint", resolved, hash_file=False)
        self._artifacts.add(resolved)
