"""The events a training run emits: plain, frozen, picklable dataclasses (standard library only).

One protocol serves the worker process, the store writer, the command line's progress bar and the
GUI: the worker puts these on a ``multiprocessing`` queue, throttled at the source (metrics are
coalesced so a consumer never sees more than a few dozen events a second). Names are past tense.
Metric keys follow ``split/name``: ``train/loss``, ``val/accuracy``, ``test/macro_f1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunStarted:
    run_id: int
    name: str
    device: str
    epochs: int
    steps_per_epoch: int
    total_steps: int
    start_step: int = 0  # > 0 when a run resumes from a checkpoint
    parameters: int = 0
    time: float = 0.0


@dataclass(frozen=True)
class MetricsLogged:
    """Points of one or more metric keys (coalesced): ``points`` is a tuple of (key, step, epoch, value)."""

    run_id: int
    points: tuple[tuple[str, int, int, float], ...]
    time: float = 0.0


@dataclass(frozen=True)
class ProgressUpdated:
    run_id: int
    epoch: int
    step: int
    total_steps: int
    samples_per_s: float
    eta_s: float | None
    time: float = 0.0
    memory_bytes: int | None = None  # device memory in use (CUDA) or the process's resident set


@dataclass(frozen=True)
class EpochEnded:
    run_id: int
    epoch: int
    step: int
    metrics: dict[str, float] = field(default_factory=dict)
    time: float = 0.0


@dataclass(frozen=True)
class CheckpointSaved:
    run_id: int
    kind: str  # "best" | "last" | "final"
    path: str
    step: int
    epoch: int
    time: float = 0.0


@dataclass(frozen=True)
class EvaluationFinished:
    run_id: int
    split: str
    metrics: dict[str, float] = field(default_factory=dict)
    ablation: str | None = None  # None, "text_masked" or "image_masked"
    time: float = 0.0


@dataclass(frozen=True)
class RunPaused:
    run_id: int
    step: int
    time: float = 0.0


@dataclass(frozen=True)
class RunResumed:
    run_id: int
    step: int
    time: float = 0.0


@dataclass(frozen=True)
class LogMessage:
    run_id: int
    level: str  # "info" | "warning" | "error"
    message: str
    time: float = 0.0


@dataclass(frozen=True)
class RunFinished:
    """The run ended on its own terms: ``status`` is ``completed`` or ``cancelled`` (stopped by the user)."""

    run_id: int
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    best: dict[str, float] = field(default_factory=dict)
    duration_s: float = 0.0
    time: float = 0.0


@dataclass(frozen=True)
class RunFailed:
    """The run failed: ``message`` speaks to the user (what happened, what to do); ``traceback`` is
    for the log."""

    run_id: int
    message: str
    kind: str = "error"  # "nan_loss" | "out_of_memory" | "crashed" | "error"
    traceback: str = ""
    step: int | None = None
    time: float = 0.0


Event = (
    RunStarted
    | MetricsLogged
    | ProgressUpdated
    | EpochEnded
    | CheckpointSaved
    | EvaluationFinished
    | RunPaused
    | RunResumed
    | LogMessage
    | RunFinished
    | RunFailed
)
TERMINAL = (RunFinished, RunFailed)
