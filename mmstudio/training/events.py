"""The events a training run emits: plain, frozen, picklable dataclasses (standard library only).

One protocol serves the worker process, the store writer, the command line's progress bar and the
GUI: the worker puts these on a ``multiprocessing`` queue, throttled at the source (metrics are
coalesced so a consumer never sees more than a few dozen events a second). Names are past tense.
Metric keys follow ``split/name``: ``train/loss``, ``val/accuracy``, ``test/macro_f1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mmstudio.formatting import plural
from mmstudio.vocabulary import run_status_title


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
    for the log. ``status`` is what the run is recorded as: ``failed``, or ``interrupted`` when it was
    stopped from outside (Ctrl-C, a signal) and can be resumed from its last checkpoint."""

    run_id: int
    message: str
    kind: str = "error"  # "nan_loss" | "out_of_memory" | "crashed" | "unusable_input" | "error"
    traceback: str = ""
    step: int | None = None
    time: float = 0.0
    status: str = "failed"  # "failed" | "interrupted"


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


def _metrics_text(metrics: dict[str, float], prefix: str = "") -> str:
    return "  ".join(
        f"{k} {v:.4g}"
        for k, v in sorted(metrics.items())
        if k.startswith(prefix) and isinstance(v, int | float) and not isinstance(v, bool)
    )


def describe(event: Event) -> tuple[str, str] | None:
    """``(level, line)`` for the events a person reads in a run's log (the command line's stderr, the
    Train page's log); None for the ones shown otherwise (metric points, progress). ``level`` is
    ``info``, ``warning`` or ``error``."""
    if isinstance(event, RunStarted):
        resumed = f", resuming at step {event.start_step:,}" if event.start_step else ""
        return "info", (
            f"run {event.run_id} '{event.name}' on {event.device}: {plural(event.epochs, 'epoch')} x "
            f"{event.steps_per_epoch:,} steps, {event.parameters:,} parameters{resumed}"
        )
    if isinstance(event, EpochEnded):
        return "info", f"epoch {event.epoch}: {_metrics_text(event.metrics)}"
    if isinstance(event, LogMessage):
        return event.level, event.message
    if isinstance(event, CheckpointSaved):
        return "info", f"{event.kind} checkpoint saved at step {event.step:,} (epoch {event.epoch})"
    if isinstance(event, EvaluationFinished):
        which = event.split + (f" ({event.ablation.replace('_', ' ')})" if event.ablation else "")
        return "info", f"evaluated on {which}: {_metrics_text(event.metrics)}"
    if isinstance(event, RunPaused):
        return "info", f"paused at step {event.step:,}"
    if isinstance(event, RunResumed):
        return "info", f"resumed at step {event.step:,}"
    if isinstance(event, RunFinished):
        tested = _metrics_text(event.metrics, "test/")
        word = run_status_title(event.status)  # a cancelled run reads "stopped"
        return "info", f"run {event.run_id} {word} in {event.duration_s:.1f} s. {tested}".strip()
    if isinstance(event, RunFailed):
        return "error", event.message
    return None
