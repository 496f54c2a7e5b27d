"""One training job, start to finish, in the current process: the command line calls it directly and
the GUI's worker process calls it in a child.

:func:`run_job` opens the store, loads and records the dataset, creates the run (or reopens it to
resume), prepares the tensors, builds the model, trains, evaluates, and finishes the run. The run's
results are written by this process (through a :class:`~mmstudio.training.store_writer.StoreWriter`
that consumes the trainer's events), so a run is recorded the same way whoever started it and a GUI
crash loses nothing.

Every exception ends in one place, :func:`_handle_exception`: it becomes a user-facing message
(what happened, what to try) plus the traceback, the run is recorded ``failed`` with both, a
:class:`~mmstudio.training.events.RunFailed` event is emitted and a failed :class:`RunResult` is
returned. Only ``KeyboardInterrupt`` is re-raised after it is recorded (the run is ``interrupted``);
a stop request while the data is still loading ends the run ``cancelled``. Every job ends with
exactly one terminal event (``RunFinished`` or ``RunFailed``).

The run is created after the dataset has loaded, so that it is linked to the dataset record and
stores the complete model spec; a dataset that cannot be loaded fails the job without creating a run.

Under ``torchrun`` (``distributed``, :mod:`mmstudio.training.distributed`) every process runs the job;
only rank 0 opens the store, records the run (and tells the others its id), writes the checkpoints and
evaluates the best weights at the end. The others load the same dataset, check that they computed the
same job, train their share of every batch and return.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmstudio.store import Store
from mmstudio.store.types import RunStatus
from mmstudio.training import events as ev
from mmstudio.training.control import TrainingControl
from mmstudio.training.preflight import (
    dataset_facts,
    job_problems,
    model_context,
    model_inputs,
    resolve_model_spec,
    train_for_data,
)
from mmstudio.training.spec import RunJob
from mmstudio.training.trainer import TrainingFailed
from mmstudio.vocabulary import ABLATIONS, best_value, run_status_title

__all__ = ["RunResult", "TrainingControl", "resolve_model_spec", "run_job"]

log = logging.getLogger(__name__)
EventCallback = Callable[[ev.Event], None]
#: Final evaluations logged as metric points at the last step (val/* is logged every epoch already).
_LOGGED_SPLITS = ("test",)
#: How often the log says how far the frozen encoders' features are (seconds).
_FEATURE_LOG_S = 5.0


#: The failure kind of a job refused before its run was recorded: its dataset or model spec cannot work.
UNUSABLE_INPUT = "unusable_input"


@dataclass
class RunResult:
    """How a job ended. ``status`` is ``completed``, ``cancelled`` or ``failed`` (then ``message``
    speaks to the user, ``kind`` says what failed and ``traceback`` is for the log). ``run_id`` is
    ``None`` when the job failed before its run was created (an unreadable dataset)."""

    run_id: int | None
    status: str
    device: str | None = None
    epochs: int = 0
    steps: int = 0
    duration_s: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    best: dict[str, float] = field(default_factory=dict)
    message: str | None = None
    kind: str | None = None
    traceback: str | None = None

    def summary(self) -> dict[str, Any]:
        """The ``mmstudio train --json`` document (stable keys: DESIGN.md)."""
        doc: dict[str, Any] = {
            "run_id": self.run_id,
            "status": self.status,
            "device": self.device,
            "epochs": self.epochs,
            "steps": self.steps,
            "duration_s": round(self.duration_s, 3),
            "metrics": dict(self.metrics),
            "best": dict(self.best),
        }
        if self.status == RunStatus.FAILED:
            doc["error"] = {"kind": self.kind, "message": self.message}
        return doc


class _Events:
    """Fans each event out to the store writer (first, so the store is never behind what a listener
    was told) and the caller's callback."""

    def __init__(self, callback: EventCallback | None) -> None:
        self.callback = callback
        self.writer: Any = None

    def __call__(self, event: ev.Event) -> None:
        if self.writer is not None:
            self.writer(event)
        if self.callback is not None:
            self.callback(event)

    def log(self, run_id: int, message: str, level: str = "info") -> None:
        self(ev.LogMessage(run_id, level, message, time.time()))


@dataclass
class _Job:
    """What the job has reached so far, for :func:`_fail` to record the right things."""

    job: RunJob
    started: float
    dist: Any = None
    store: Store | None = None
    run_id: int | None = None
    device: str | None = None
    trainer: Any = None


def run_job(
    job: RunJob,
    *,
    on_event: EventCallback | None = None,
    control: TrainingControl | None = None,
    distributed: Any = None,
) -> RunResult:
    """Run ``job`` in this process and return how it ended; see the module docstring.

    ``on_event`` receives every event (after the store has recorded it); ``control`` carries pause,
    resume and stop requests; ``distributed`` is this process's
    :class:`~mmstudio.training.distributed.Distributed` under ``torchrun`` (the process group is joined
    here and left at the end). A failure is returned as a result with ``status="failed"``, never raised.
    """
    events = _Events(on_event)
    state = _Job(job, time.monotonic(), dist=distributed)
    try:
        if distributed is None or distributed.main:
            state.store = Store.open(job.db_url)
        return _run(state, events, control)
    except BaseException as exc:
        result = _handle_exception(state, events, exc)
        if isinstance(exc, KeyboardInterrupt):
            raise
        return result
    finally:
        if state.store is not None:
            state.store.close()
        if distributed is not None:
            distributed.stop()


def _run(state: _Job, events: _Events, control: TrainingControl | None) -> RunResult:
    """The job's steps in order; each helper below does one of them."""
    import torch

    from mmstudio.training.device import describe_device, resolve_device, resolve_precision
    from mmstudio.training.store_writer import StoreWriter

    job, store, dist = state.job, state.store, state.dist
    main = dist is None or dist.main
    assert store is not None or not main
    if job.train.num_threads is not None:
        torch.set_num_threads(job.train.num_threads)
    device = resolve_device(job.train.device)
    if dist is not None:
        device = dist.place(device)
        dist.start(device)
        if job.train.batch_size < dist.world_size:
            raise TrainingFailed(
                f"the batch size ({job.train.batch_size}) is the global batch, shared by the "
                f"{dist.world_size} processes: make it at least {dist.world_size}",
                kind=UNUSABLE_INPUT,
            )
    precision = resolve_precision(job.train.precision, device)
    cancel = None if control is None else control.cancel_flag
    with _leader_first(dist):  # the first process of each machine builds the caches
        dataset = _load_dataset(job, cancel)
    job = state.job = dataclasses.replace(job, dataset=job.dataset.as_loaded(dataset))
    dataset_id = _record_dataset(store, dataset) if store is not None else None
    resume = _resume_checkpoint(store, job.resume_run_id, dist) if job.resume_run_id else None
    spec = _resume_spec(resume) if resume is not None else _model_spec(job, dataset)
    # a resumed run keeps the image size it recorded (one stored before torchvision weights brought
    # their own went on at the run's size)
    given = job.train if resume is not None else model_inputs(spec, job.train)[0]
    train, choices = train_for_data(dataset, spec, given)
    job = state.job = dataclasses.replace(job, train=train)
    if dist is not None:
        dist.same_everywhere((dataset.fingerprint, spec.to_dict(), train.to_dict()), "the dataset or the job")
    _check_spec(spec, dataset, job.train)
    if store is not None:
        run_id = _open_run(store, job, spec, dataset_id, _device_record(device, dist))
        run = (run_id, store.get_run(run_id).name, str(store.run_dir(run_id)))
    if dist is not None:
        run = dist.broadcast(run if main else None)
    run_id, run_name, run_dir = run
    state.run_id = run_id
    state.device = _device_record(describe_device(device), dist)
    if store is not None:
        events.writer = StoreWriter(store, run_id, on_stop_requested=_stop_asked(run_id, events, control))
    if precision.note:
        events.log(run_id, precision.note, "warning")
    if resume is not None and resume.meta.get("dataset_fingerprint") != dataset.fingerprint:
        events.log(
            run_id, "the dataset changed since the checkpoint; resuming on the current files", "warning"
        )

    trainer = state.trainer = _build_trainer(
        job,
        dataset,
        spec,
        resume,
        device,
        precision,
        run_id,
        events,
        control,
        Path(run_dir) if main else None,
        dist,
    )
    events(
        ev.RunStarted(
            run_id,
            run_name,
            state.device,
            job.train.epochs,
            trainer.steps_per_epoch,
            trainer.total_steps,
            trainer.state.step,
            sum(p.numel() for p in trainer.model.parameters()),
            time.time(),
        )
    )
    for line in choices:  # what picks the best checkpoint, and what the data chose
        events.log(run_id, line)
    fit = trainer.fit()
    if not main:  # rank 0 evaluates the best weights and records how the run ended
        duration = time.monotonic() - state.started
        return RunResult(run_id, fit.status, state.device, fit.state.epoch, fit.state.step, duration)
    assert store is not None and dataset_id is not None
    trainer.dist = None  # the final evaluation is rank 0's alone
    metrics = {**fit.last_metrics, **_final_evaluation(trainer, store, run_id, dataset_id, spec, events)}
    events.writer.flush()
    status = RunStatus.CANCELLED if fit.status == "cancelled" else RunStatus.COMPLETED
    store.finish_run(run_id, status)
    best = _best_values(store, run_id)
    duration = time.monotonic() - state.started
    events(ev.RunFinished(run_id, status.value, metrics, best, duration, time.time()))
    return RunResult(
        run_id, status.value, state.device, fit.state.epoch, fit.state.step, duration, metrics, best
    )


def _stop_asked(run_id: int, events: _Events, control: TrainingControl | None) -> Any:
    """What the store writer calls when a stop is asked through the store: the trainer's own stop
    request (under torchrun, agreed with the other processes at the next log), said in the log."""
    if control is None:
        return None

    def stop() -> None:
        control.stop()
        events.log(
            run_id,
            "a stop was asked through the store (Stop in the app, or mmstudio runs stop): stopping at "
            "the next step, with a checkpoint",
        )

    return stop


def _leader_first(dist: Any) -> Any:
    from contextlib import nullcontext

    return nullcontext() if dist is None else dist.leader_first()


def _device_record(device: Any, dist: Any) -> str:
    """The device as recorded with the run: ``cuda:0 × 8 processes (nccl)`` under torchrun."""
    return str(device) if dist is None else f"{device} × {dist.describe()}"


def _resume_checkpoint(store: Store | None, run_id: int, dist: Any) -> Any:
    """The checkpoint to resume run ``run_id`` from: found and checked by the process that has the
    store; under torchrun the others load the file it names (a folder every machine reads)."""
    from mmstudio.training import checkpoints

    checkpoint = _load_resume_checkpoint(store, run_id) if store is not None else None
    if dist is None:
        return checkpoint
    path = dist.broadcast(None if checkpoint is None else str(checkpoint.path))
    if checkpoint is None:
        if not Path(path).is_file():
            raise TrainingFailed(
                f"process {dist.rank} cannot read the checkpoint {path} that rank 0 resumes from: "
                "resuming under torchrun needs the run's folder on a file system every machine reads",
                kind=UNUSABLE_INPUT,
            )
        checkpoint = checkpoints.load_checkpoint(path)
    return checkpoint


def _record_dataset(store: Store, dataset: Any) -> int:
    """The dataset's record in the store (found by fingerprint, or added)."""
    info = store.ensure_dataset(
        name=dataset.root.name or str(dataset.root),
        path=dataset.root,
        format=dataset.format,
        fingerprint=dataset.fingerprint,
        item_count=len(dataset.items),
        summary={"task": dataset.task, "labels": dataset.label_counts(), "splits": dataset.split_counts()},
    )
    return info.id


def _open_run(store: Store, job: RunJob, spec: Any, dataset_id: int, device: str) -> int:
    """Create the run (or take the one being resumed) and mark it running in this process."""
    if job.resume_run_id is not None:
        run_id = job.resume_run_id
        store.set_dataset_spec(run_id, job.dataset.to_dict())
    else:
        run_id = store.create_run(
            name=job.name,
            experiment=job.experiment,
            dataset_id=dataset_id,
            spec=spec.to_dict(),
            train_spec=job.train.to_dict(),
            dataset_spec=job.dataset.to_dict(),
            device=device,
            seed=job.train.seed,
        )
    store.start_run(run_id, pid=os.getpid(), hostname=socket.gethostname(), device=device)
    return run_id


def _build_trainer(
    job: RunJob,
    dataset: Any,
    spec: Any,
    resume: Any,
    device: Any,
    precision: Any,
    run_id: int,
    events: _Events,
    control: TrainingControl | None,
    checkpoint_dir: Path | None,
    dist: Any = None,
) -> Any:
    """Prepare the tensors (with the checkpoint's labels and vocabulary when resuming), build the
    model from the seed, and the trainer around it, restored from the checkpoint when resuming."""
    from mmstudio.models.context import ModelContext
    from mmstudio.models.model import build_model
    from mmstudio.training.data import PreparedData
    from mmstudio.training.trainer import Trainer, seed_everything

    train = job.train
    _, own_tokenizer, image_norm = model_inputs(spec, train)
    with _leader_first(dist):
        data = PreparedData(
            dataset,
            train,
            spec.task,
            need_text=spec.has_text,
            need_image=spec.has_image,
            labels=None if resume is None else resume.meta.get("labels"),
            tokenizer=own_tokenizer if resume is None else resume.meta.get("tokenizer"),
            cancel=None if control is None else control.cancel_flag,
            image_norm=image_norm,
        )
    for message in data.messages:
        events.log(run_id, message, "warning")
    seed_everything(train.seed)
    model = build_model(spec, ModelContext(**data.context())).to(device)
    if train.gradient_checkpointing:
        for module in model.modules():
            enable = getattr(module, "enable_gradient_checkpointing", None)
            if callable(enable) and not enable():
                events.log(
                    run_id, "gradient checkpointing applies to top:N and full fine-tuning only", "info"
                )
    trainer = Trainer(
        model,
        data,
        train,
        device=device,
        precision=precision,
        run_id=run_id,
        on_event=events,
        control=control,
        checkpoint_dir=checkpoint_dir,
        distributed=dist,
        checkpoint_meta={
            "run_id": run_id,
            "model": spec.to_dict(),
            "train": train.to_dict(),
            "dataset": job.dataset.to_dict(),
            "dataset_fingerprint": dataset.fingerprint,
            "labels": list(data.labels),
            "tokenizer": None if data.tokenizer is None else data.tokenizer.to_dict(),
            "precision": precision.name,
        },
    )
    if resume is not None:
        trainer.restore(resume)
    with _leader_first(dist):
        _cache_features(trainer, spec, train, device, run_id, events, control)
    return trainer


def _cache_features(
    trainer: Any,
    spec: Any,
    train: Any,
    device: Any,
    run_id: int,
    events: _Events,
    control: TrainingControl | None,
) -> None:
    """Compute (or read) the features of the frozen encoders the plan caches, and say in the log
    which encoders' features are cached and why the others' are not
    (:mod:`mmstudio.training.features`). Progress is a log line every few seconds; a stop request
    ends the run cancelled, with nothing half-written left in the cache."""
    from mmstudio.training.features import cache_features, plan_features

    plans = plan_features(spec, train)
    if not plans:
        return
    for plan in plans.values():
        if not plan.cached:
            events.log(run_id, plan.describe())
    last = [time.monotonic()]

    def progress(modality: str, done: int, total: int) -> None:
        if done < total and time.monotonic() - last[0] >= _FEATURE_LOG_S:
            last[0] = time.monotonic()
            events.log(run_id, f"{modality} features: {done:,} of {total:,} items computed")

    results = cache_features(
        trainer.model,
        trainer.data,
        plans,
        device=device,
        batch_size=max(1, 2 * train.batch_size),
        progress=progress,
        cancel=None if control is None else control.cancel_flag,
    )
    for result in results:
        events.log(run_id, result.describe())
    cached = {r.modality for r in results}
    for plan in plans.values():
        if plan.cached and plan.modality not in cached:
            events.log(run_id, f"{plan.modality} features computed every step: some of the encoder trains")


# --- the dataset and the model spec --------------------------------------------------------------


def _model_spec(job: RunJob, dataset: Any) -> Any:
    """The job's model request completed for the dataset; one that names what does not exist (a
    preset, a task) is unusable input, refused before a run is recorded for it."""
    from mmstudio.models.spec import SpecError, describe_errors

    try:
        return resolve_model_spec(job.model, dataset)
    except (KeyError, ValueError, TypeError) as exc:
        reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        if isinstance(exc, SpecError):  # one sentence, not its list of lines
            reason = describe_errors(exc.issues) or reason
        raise TrainingFailed(f"the model spec cannot be used: {reason}", kind=UNUSABLE_INPUT) from exc


def _load_dataset(job: RunJob, cancel: Any) -> Any:
    """Load, validate and split the job's dataset; an unreadable one fails with a message that says so."""
    from mmstudio.data.types import DatasetFormatError

    try:
        dataset = job.dataset.load(cancel=cancel)
    except (DatasetFormatError, OSError) as exc:
        raise TrainingFailed(
            f"the dataset at {job.dataset.path} could not be loaded: {exc}", kind=UNUSABLE_INPUT
        ) from exc
    if not dataset.report.usable:
        raise TrainingFailed(
            f"the dataset at {job.dataset.path} has no usable pairs ({dataset.report.rows:,} rows, all "
            f"skipped); 'mmstudio data check {job.dataset.path}' shows why",
            kind=UNUSABLE_INPUT,
        )
    return dataset


def _check_spec(spec: Any, dataset: Any, train: Any) -> None:
    """Refuse an impossible job before a run is recorded for it, in a sentence for people: first what
    the data cannot give whatever the model (:func:`~mmstudio.training.preflight.job_problems`: too few
    labels, no training items, a task or a modality the data lacks; the Train page checks the same
    before Start), then the spec's own errors (unknown names, out-of-range parameters, combinations
    that cannot work) against the Model page's context
    (:func:`~mmstudio.training.preflight.model_context`), before the tokenizer is fit: no check needs
    the vocabulary's size."""
    from mmstudio.models import ModelContext
    from mmstudio.models.spec import describe_errors

    problems = job_problems(dataset, spec.to_dict())
    if problems:
        raise TrainingFailed("; ".join(problems), kind=UNUSABLE_INPUT)
    ctx = ModelContext(**model_context(spec.task, train, dataset_facts(dataset)))
    errors = spec.errors(ctx)
    if errors:
        raise TrainingFailed(
            f"the model cannot be built as specified: {describe_errors(errors)}", kind=UNUSABLE_INPUT
        )


# --- resume ---------------------------------------------------------------------------------------


def _load_resume_checkpoint(store: Store, run_id: int) -> Any:
    """The ``last`` checkpoint of run ``run_id``, checked to be resumable."""
    from mmstudio.training import checkpoints

    run = store.get_run(run_id)  # raises NotFoundError with a clear message
    if run.status not in (RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.INTERRUPTED):
        raise TrainingFailed(
            f"run {run_id} is {run_status_title(run.status.value)}; only a failed, stopped or interrupted "
            "run can be resumed",
            kind=UNUSABLE_INPUT,
        )
    folders = [checkpoints.manifest_path(folder / "last") for folder in store.run_dirs(run_id)]
    path = next((p for p in folders if p.is_file()), folders[0])
    recorded = [
        a.path for a in store.list_artifacts(run_id, kind="checkpoint") if Path(a.path).name == path.name
    ]
    if not path.is_file() and recorded:
        path = Path(recorded[-1])
    if not path.is_file():
        raise TrainingFailed(
            f"run {run_id} has no checkpoint to resume from (looked for {path}); it stopped before its "
            "first checkpoint was written, so start a new run instead",
            kind=UNUSABLE_INPUT,
        )
    checkpoint = checkpoints.load_checkpoint(path)
    checkpoints.check_model_meta(checkpoint.meta, path)
    return checkpoint


def _resume_spec(checkpoint: Any) -> Any:
    from mmstudio.models.spec import ModelSpec, SpecError, describe_errors
    from mmstudio.training.checkpoints import CheckpointError

    try:
        return ModelSpec.from_dict(checkpoint.meta["model"])
    except SpecError as exc:
        raise CheckpointError(
            f"{checkpoint.path}: its model spec cannot be used ({describe_errors(exc.issues)}); the "
            "checkpoint was edited or damaged: use another checkpoint of the run, or train again"
        ) from None


# --- evaluation -----------------------------------------------------------------------------------


def _fusion_guard(trainer: Any, spec: Any, run_id: int, events: _Events) -> None:
    """For a model with a head of its own on each modality (:attr:`ModelContext.unimodal_heads`, from
    ``TrainSpec.fusion_guard``): score the loaded (best) weights on val with the fused prediction and
    with each modality's own head; when one modality alone scores better than both, the model answers
    from it from now on (:attr:`MultimodalModel.answer_from`), written into the best checkpoint (so
    evaluation, export and inference do the same) and said in the log. The fused model is then never
    worse on val than its better modality."""
    model = trainer.model
    if getattr(model, "unimodal_heads", None) is None or trainer.data.split_sizes().get("val", 0) == 0:
        return
    monitor, mode = trainer.monitor, trainer.monitor_mode
    scores: dict[str | None, float] = {}
    for source in (None, "text", "image"):  # the fused prediction first: a tie keeps it
        model.answer_from = source
        value = trainer.evaluate("val").metrics.get(monitor)
        if value is None or value != value:  # not measured, or NaN
            model.answer_from = None
            return
        scores[source] = value
    better = min if mode == "min" else max
    chosen = better(scores, key=lambda k: scores[k])  # the first of equals
    model.answer_from = chosen
    trainer.checkpoint_meta["answer_from"] = chosen
    alone = f"text alone {scores['text']:.4g}, image alone {scores['image']:.4g}"
    if chosen is None:
        events.log(
            run_id,
            f"fusion guard: the fused prediction is kept ({monitor} {scores[None]:.4g} on val; {alone})",
        )
        return
    other = "image" if chosen == "text" else "text"
    events.log(
        run_id,
        f"fusion guard: on val, the {chosen} alone scores better ({monitor} {scores[chosen]:.4g}) than "
        f"the fusion ({scores[None]:.4g}): the model answers from its {chosen} head and ignores the "
        f"{other} from now on, in evaluation, export and inference (--no-fusion-guard keeps the fusion)",
        "warning",
    )
    trainer.save_checkpoint("best")


def _final_evaluation(
    trainer: Any, store: Store, run_id: int, dataset_id: int, spec: Any, events: _Events
) -> dict[str, float]:
    """Evaluate the best weights on val and test (and test with each modality masked, for a model
    that reads both), record each evaluation, the test predictions, and return the metrics."""
    best = trainer.checkpoint_path("best")
    if best is not None and best.is_file():
        trainer.load_weights(best)
        state = trainer.state
        if state.best_epoch is not None and state.best_value is not None:
            events.log(
                run_id,
                f"evaluating the best weights: epoch {state.best_epoch} "
                f"({trainer.monitor} {state.best_value:.4g}) of {state.epoch}",
            )
    _fusion_guard(trainer, spec, run_id, events)
    sizes = trainer.data.split_sizes()
    runs = [(split, None) for split in ("val", "test") if sizes.get(split, 0) > 0]
    if sizes.get("test", 0) > 0 and spec.has_text and spec.has_image:
        runs += [("test", ablation) for ablation in ABLATIONS]
    metrics: dict[str, float] = {}
    logged: list[tuple[str, int, int, float]] = []
    step, epoch = trainer.state.step, trainer.state.epoch
    for split, ablation in runs:
        evaluation = trainer.evaluate(split, ablation=ablation)
        result = evaluation.result
        evaluation_id = store.add_evaluation(
            run_id,
            split=split,
            metrics=result.metrics,
            dataset_id=dataset_id,
            ablation=ablation,
            labels=result.labels,
            confusion_matrix=result.confusion,
            per_class=result.per_class,
        )
        if split == "test" and ablation is None and result.predictions:
            store.add_predictions(run_id, result.predictions, evaluation_id=evaluation_id)
        events(ev.EvaluationFinished(run_id, split, dict(evaluation.metrics), ablation, time.time()))
        metrics.update(evaluation.metrics)
        if split in _LOGGED_SPLITS:
            logged += [(key, step, epoch, value) for key, value in evaluation.metrics.items()]
    if logged:
        events(ev.MetricsLogged(run_id, tuple(logged), time.time()))
    return metrics


def _best_values(store: Store, run_id: int) -> dict[str, float]:
    """The best value of every validation metric over the run's epochs (resumed parts included)."""
    stats = store.metric_stats([run_id]).get(run_id, {})
    best = {}
    for key, s in stats.items():
        value = best_value(key, s.min, s.max)
        if key.startswith("val/") and value is not None:
            best[key] = value
    return best


# --- failure: the one place -----------------------------------------------------------------------


def describe_failure(exc: BaseException, job: RunJob) -> tuple[str, str, int | None]:
    """``(kind, message for the user, step)`` for any exception a job can raise."""
    from mmstudio.store.errors import StoreError
    from mmstudio.training.checkpoints import CheckpointError
    from mmstudio.training.device import DeviceUnavailableError, is_out_of_memory
    from mmstudio.training.distributed import DistributedError, Terminated

    if isinstance(exc, TrainingFailed):
        return exc.kind, exc.message, exc.step
    if isinstance(exc, StoreError):  # an unusable store (exit 2) or a failed write (a full disk)
        return (UNUSABLE_INPUT if exc.exit_code == 2 else "store"), str(exc), None
    if isinstance(exc, CheckpointError | DeviceUnavailableError | DistributedError):  # names what to fix
        return UNUSABLE_INPUT, str(exc), None
    if isinstance(exc, Terminated):
        return "error", Terminated.message, None
    if isinstance(exc, KeyboardInterrupt):
        return (
            "error",
            "training was interrupted (Ctrl-C); resume the run to continue from its last checkpoint",
            None,
        )
    if is_out_of_memory(exc):
        return (
            "out_of_memory",
            f"out of memory at batch size {job.train.batch_size}: try a smaller batch size or image size",
            None,
        )
    text = str(exc).strip() or type(exc).__name__
    return "error", f"training failed: {text}", None


def _handle_exception(state: _Job, events: _Events, exc: BaseException) -> RunResult:
    """The one place every exception of a job ends up. A stop while the data was still loading
    (``Cancelled``) ends the run ``cancelled``; anything else becomes a recorded failure: the run's
    status, message and traceback in the store, a ``RunFailed`` event, a failed result. Problems
    while recording are logged, not raised: the original error is the one to report."""
    from mmstudio.progress import Cancelled

    if isinstance(exc, Cancelled):
        return _cancelled_early(state, events)
    kind, message, step = describe_failure(exc, state.job)
    trace = "".join(traceback.format_exception(exc))
    if kind == "out_of_memory" and state.trainer is not None:
        from mmstudio.training.device import free_cached_memory

        free_cached_memory(state.trainer.device)
    status = RunStatus.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED
    if state.dist is not None:
        from mmstudio.training.distributed import PEER_LOST, lost_peer

        if lost_peer(exc):  # not this process's failure: the run can go on from its checkpoint
            kind, message, status = "error", PEER_LOST, RunStatus.INTERRUPTED
    if not _record_end(state, events, status, message, trace) and state.run_id is not None:
        message = f"{message} (the store could not record it)"
    _tell(events, ev.RunFailed(state.run_id or 0, message, kind, trace, step, time.time(), status.value))
    trainer_state = getattr(state.trainer, "state", None)
    return RunResult(
        state.run_id,
        RunStatus.FAILED.value,
        state.device,
        getattr(trainer_state, "epoch", 0),
        getattr(trainer_state, "step", 0),
        time.monotonic() - state.started,
        message=message,
        kind=kind,
        traceback=trace,
    )


def _cancelled_early(state: _Job, events: _Events) -> RunResult:
    """A stop before training began: the run (if it exists yet) is ``cancelled``, nothing to evaluate."""
    _record_end(state, events, RunStatus.CANCELLED, None, None)
    duration = time.monotonic() - state.started
    _tell(
        events,
        ev.RunFinished(state.run_id or 0, RunStatus.CANCELLED.value, duration_s=duration, time=time.time()),
    )
    return RunResult(state.run_id, RunStatus.CANCELLED.value, state.device, duration_s=duration)


def _tell(events: _Events, event: ev.Event) -> None:
    """Send the terminal event to the caller only (the store has been written already)."""
    if events.callback is None:
        return
    try:
        events.callback(event)
    except Exception:  # a broken listener must not hide the outcome being reported
        log.exception("the event listener failed on %s", type(event).__name__)


def _record_end(
    state: _Job, events: _Events, status: RunStatus, message: str | None, trace: str | None
) -> bool:
    """Write the buffered points and the run's final status; False if the store could not."""
    store, run_id = state.store, state.run_id
    if store is None or run_id is None:
        return False
    try:
        if events.writer is not None:
            events.writer.flush()
    except Exception:
        log.exception("run %s: buffered metric points could not be written", run_id)
    try:
        store.finish_run(run_id, status, error_message=message, error_traceback=trace)
    except Exception:
        log.exception("run %s could not be recorded as %s", run_id, status.value)
        return False
    return True
