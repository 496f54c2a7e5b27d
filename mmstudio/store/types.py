"""Plain data returned by the store: frozen dataclasses, never live ORM objects.

Times are timezone-aware UTC :class:`~datetime.datetime` values; metric wall times are Unix seconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np

from mmstudio.vocabulary import best_value


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


#: Statuses a run can leave for each status. ``running`` is reachable again from a stopped run so a
#: checkpoint can be resumed into the same run.
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.FAILED}),
    RunStatus.RUNNING: frozenset(
        {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.INTERRUPTED}
    ),
    RunStatus.COMPLETED: frozenset(),
    RunStatus.FAILED: frozenset({RunStatus.RUNNING}),
    RunStatus.CANCELLED: frozenset({RunStatus.RUNNING}),
    RunStatus.INTERRUPTED: frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.CANCELLED}),
}
FINISHED = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.INTERRUPTED})


@dataclass(frozen=True, kw_only=True)
class DatasetInfo:
    id: int
    name: str
    path: str
    format: str
    fingerprint: str
    item_count: int
    summary: dict[str, Any]
    created: datetime


@dataclass(frozen=True, kw_only=True)
class ExperimentInfo:
    id: int
    name: str
    description: str
    created: datetime


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """What ``runs list`` and the experiments table show for one run."""

    id: int
    name: str
    status: RunStatus
    created: datetime
    started: datetime | None
    ended: datetime | None
    duration_s: float | None
    experiment_id: int
    experiment: str
    dataset_id: int | None
    dataset: str | None
    device: str | None
    tags: tuple[str, ...]
    notes: str = ""
    metrics: dict[str, float | None]
    """The last logged value (highest step) of every metric key."""


@dataclass(frozen=True, kw_only=True)
class RunDetail(RunSummary):
    """Everything stored about one run, including the specs needed to rebuild it."""

    spec: dict[str, Any]
    train_spec: dict[str, Any]
    dataset_spec: dict[str, Any] | None
    """The dataset it trained on (``DatasetSpec.to_dict()``: the exact path, format, column roles and
    split settings); None for a run recorded before mmstudio kept it and without a checkpoint."""
    seed: int | None
    error_message: str | None
    error_traceback: str | None
    pid: int | None
    hostname: str | None
    uid: str | None = None
    """The run's identity across stores (a copy in another store keeps it; its id there differs)."""


@dataclass(frozen=True, kw_only=True)
class MetricStats:
    """Per run and key: how many points, the last one (highest step) and the extremes."""

    key: str
    count: int
    last_step: int
    last_epoch: float | None
    last_value: float | None
    last_time: float
    min: float | None
    max: float | None

    @property
    def best(self) -> float | None:
        """``min`` for keys that are better when lower (loss, error, mae, rmse), else ``max``."""
        return best_value(self.key, self.min, self.max)


@dataclass(frozen=True, kw_only=True, eq=False)
class Curve:
    """One metric of one run, ordered by step. ``epoch`` is NaN where none was logged; a NaN value
    logged by the trainer (a diverged loss) reads back as NaN."""

    run_id: int
    key: str
    step: np.ndarray  # int64
    epoch: np.ndarray  # float64
    value: np.ndarray  # float64
    time: np.ndarray  # float64, Unix seconds

    def __len__(self) -> int:
        return int(self.step.shape[0])


@dataclass(frozen=True, kw_only=True)
class RunLiveState:
    """Where a run is now, as another process or machine records it: its status, its process, and per
    metric key the count and last point (:class:`MetricStats`). What following a run reads at every
    tick (:func:`mmstudio.store.live.run_state`: two indexed queries, no curve)."""

    id: int
    name: str
    status: RunStatus
    device: str | None
    hostname: str | None
    pid: int | None
    started: datetime | None
    ended: datetime | None
    duration_s: float | None
    error_message: str | None
    error_traceback: str | None
    train_spec: dict[str, Any]
    stats: dict[str, MetricStats]
    stop_requested: bool = False
    """A stop was asked through the store since the run last started (:meth:`Store.request_stop`:
    the app's Stop, ``mmstudio runs stop``); its process stops at its next step."""

    @property
    def finished(self) -> bool:
        """Whether the run has ended (completed, failed, cancelled or interrupted)."""
        return self.status in FINISHED

    @property
    def last_step(self) -> int | None:
        """The highest step any metric reached (None before the first point)."""
        return max((s.last_step for s in self.stats.values()), default=None)

    @property
    def last_epoch(self) -> float | None:
        """The highest epoch a metric point names (None when none does)."""
        return max((s.last_epoch for s in self.stats.values() if s.last_epoch is not None), default=None)

    @property
    def last_seen(self) -> float | None:
        """The run's newest sign of life, in Unix seconds: its last metric point (the trainer writes
        some every fraction of a second while it trains), else its (re)start; its heartbeat."""
        times = [s.last_time for s in self.stats.values()]
        if self.started is not None:
            times.append(self.started.timestamp())
        return max(times, default=None)


class CurveCursor(NamedTuple):
    """How much of a curve a follower holds: its last step and its number of points."""

    last_step: int
    count: int

    @classmethod
    def of(cls, curve: Curve) -> CurveCursor:
        return cls(int(curve.step[-1]) if len(curve) else -1, len(curve))


@dataclass(frozen=True, kw_only=True, eq=False)
class CurveUpdate:
    """What a follower adds to one curve: the new points, or (``replace``) the whole curve, when it
    held none of it or what it held no longer adds up (the run was resumed from an earlier step)."""

    curve: Curve
    replace: bool


@dataclass(frozen=True, kw_only=True, eq=False)
class RunPoll:
    """One tick of following a run: its state and, per metric key that grew, the update."""

    state: RunLiveState
    curves: dict[str, CurveUpdate]


@dataclass(frozen=True, kw_only=True)
class EvaluationInfo:
    id: int
    run_id: int
    split: str
    ablation: str | None
    """``None`` for a plain evaluation, else what was masked (``text_masked``, ``image_masked``)."""
    dataset_id: int | None
    metrics: dict[str, Any]
    labels: list[str] | None
    confusion_matrix: list[list[int]] | None
    per_class: dict[str, Any] | None
    created: datetime


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """One item's prediction; ``probabilities`` maps label -> probability (or holds a list)."""

    item_index: int
    true_label: str | None = None
    predicted_label: str | None = None
    score: float | None = None
    probabilities: Any = None
    correct: bool | None = None
    evaluation_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class ArtifactInfo:
    id: int
    run_id: int
    kind: str
    path: str
    size_bytes: int | None
    sha256: str | None
    created: datetime
