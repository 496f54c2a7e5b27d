"""The training loop (Qt-free, store-free): one model, one prepared dataset, one :class:`TrainSpec`.

A step runs in a fixed order (nanoGPT, Lightning Fabric): learning rate → forward and loss under
autocast → backward (accumulated over ``accumulation`` batches) → unscale and clip → optimiser step →
``zero_grad(set_to_none=True)`` → log. The loss never leaves the device between logs: each step's
detached loss is kept, and every ``log_every_steps`` steps they are copied to the host in one transfer,
checked for NaN / infinity, and emitted as events. On CUDA that copy is asynchronous and is read one
step later, once the next step's kernels are queued: the GPU never runs dry waiting for the host, so
the loop has no synchronisation at all between epochs.

The trainer talks to the world through two small objects: ``on_event`` receives the events of
:mod:`mmstudio.training.events` (the store writer, a progress bar and the worker's queue are
consumers), and a :class:`TrainingControl` carries the user's pause / resume / stop requests, checked
between optimiser steps.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mmstudio.formatting import plural
from mmstudio.progress import check_cancel
from mmstudio.training import checkpoints
from mmstudio.training import events as ev
from mmstudio.training.augment import Augmenter
from mmstudio.training.control import TrainingControl
from mmstudio.training.data import PreparedData, mask_batch
from mmstudio.training.device import Precision, memory_in_use
from mmstudio.training.distributed import Distributed
from mmstudio.training.metrics import EvaluationResult, compute_metrics
from mmstudio.training.spec import DEFAULT_PATIENCE, TrainSpec
from mmstudio.vocabulary import ABLATIONS, metric_mode

EventCallback = Callable[[ev.Event], None]
#: The outputs an evaluation keeps per task (everything else a model returns is dropped at once).
_OUTPUT_KEYS = {
    "classification": ("logits",),
    "multilabel": ("logits",),
    "regression": ("prediction",),
    "contrastive": ("image_embedding", "text_embedding"),
}
TRAINER_STATE_VERSION = 1


class TrainingFailed(Exception):
    """Training cannot go on. ``kind`` is one of :class:`~mmstudio.training.events.RunFailed`'s kinds;
    the message says what happened and what to try."""

    def __init__(self, message: str, *, kind: str = "error", step: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.step = step


# --- reproducibility ------------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (every device), so a spec and seed give the same run on a CPU."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --- learning rate --------------------------------------------------------------------------------


class LRSchedule:
    """The learning-rate factor of every optimiser step: a linear warm-up, then ``constant``,
    ``cosine`` (to 0 at the last step) or ``step`` (× ``gamma`` every ``step_size`` epochs); with
    ``plateau``, × ``gamma`` whenever the monitored metric stalls for more than ``plateau_patience``
    evaluations (:meth:`observe`, called once per evaluation).

    A pure function of the step plus a little plateau state, which is plain JSON: a checkpoint needs
    no pickled scheduler, and a resumed run gets exactly the rate it would have had.
    """

    def __init__(self, spec: TrainSpec, *, steps_per_epoch: int, total_steps: int) -> None:
        self.spec = spec
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.total_steps = max(1, total_steps)
        self.warmup = spec.warmup_for(total_steps)
        self.plateau_scale = 1.0
        self._plateau_best: float | None = None
        self._plateau_bad = 0

    def factor(self, step: int) -> float:
        """The multiplier of the base rate for optimiser step ``step`` (0-based)."""
        if step < self.warmup:
            return (step + 1) / self.warmup
        schedule = self.spec.schedule
        if schedule == "cosine":
            span = max(1, self.total_steps - self.warmup)
            progress = min(1.0, (step - self.warmup) / span)
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        if schedule == "step":
            return self.spec.gamma ** ((step // self.steps_per_epoch) // self.spec.step_size)
        if schedule == "plateau":
            return self.plateau_scale
        return 1.0

    def observe(self, value: float, mode: str) -> bool:
        """Record one evaluation of the monitored metric; returns True when the rate was reduced."""
        if self.spec.schedule != "plateau" or not math.isfinite(value):
            return False
        best = self._plateau_best
        if best is None or (value < best if mode == "min" else value > best):
            self._plateau_best, self._plateau_bad = value, 0
            return False
        self._plateau_bad += 1
        if self._plateau_bad > self.spec.plateau_patience:
            self.plateau_scale *= self.spec.gamma
            self._plateau_bad = 0
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {
            "plateau_scale": self.plateau_scale,
            "plateau_best": self._plateau_best,
            "plateau_bad": self._plateau_bad,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.plateau_scale = float(state.get("plateau_scale", 1.0))
        self._plateau_best = state.get("plateau_best")
        self._plateau_bad = int(state.get("plateau_bad", 0))


# --- optimiser ------------------------------------------------------------------------------------


def parameter_groups(
    model: nn.Module, weight_decay: float, lr: float | None = None, backbone_lr_scale: float = 1.0
) -> list[dict[str, Any]]:
    """Weight decay on matrices and kernels only: biases and normalisation weights (every parameter
    with fewer than two dimensions) are not decayed, as decaying them only hurts (nanoGPT, timm).

    The pretrained parameters that train (those a pretrained encoder lists in its
    ``backbone_parameters()``) form groups of their own after the head's, at ``lr × backbone_lr_scale``
    (``lr`` given): fine-tuning moves pretrained weights less than new ones (discriminative rates)."""
    backbone: set[int] = set()
    for module in model.modules():
        listed = getattr(module, "backbone_parameters", None)
        if callable(listed) and module is not model:
            backbone.update(id(p) for p in listed())
    decay, no_decay, backbone_decay, backbone_no_decay = [], [], [], []
    for param in model.parameters():
        if param.requires_grad:
            if id(param) in backbone:
                (backbone_decay if param.ndim >= 2 else backbone_no_decay).append(param)
            else:
                (decay if param.ndim >= 2 else no_decay).append(param)
    scaled = {} if lr is None else {"lr": lr * backbone_lr_scale}
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
        {"params": backbone_decay, "weight_decay": weight_decay, **scaled},
        {"params": backbone_no_decay, "weight_decay": 0.0, **scaled},
    ]
    return [g for g in groups if g["params"]]


def build_optimizer(model: nn.Module, spec: TrainSpec, device: torch.device) -> torch.optim.Optimizer:
    """AdamW (fused kernels on CUDA) or SGD with momentum, over :func:`parameter_groups`."""
    groups = parameter_groups(model, spec.weight_decay, spec.lr, spec.backbone_lr_scale)
    if not groups:
        raise TrainingFailed("the model has no trainable parameters; unfreeze an encoder or add a head")
    if spec.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum)
    return torch.optim.AdamW(groups, lr=spec.lr, fused=device.type == "cuda")


# --- state ----------------------------------------------------------------------------------------


@dataclass
class TrainState:
    """Where the run is, saved in every checkpoint: ``epoch`` is the epoch in progress (0-based) and
    ``batch`` how many of its batches are done (0 at an epoch boundary; more after a stop mid-epoch)."""

    step: int = 0
    epoch: int = 0
    batch: int = 0
    best_value: float | None = None
    best_epoch: int | None = None
    bad_evaluations: int = 0
    train_loss_sum: float = 0.0
    train_loss_steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"version": TRAINER_STATE_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class FitResult:
    """How :meth:`Trainer.fit` ended: ``status`` is ``completed`` or ``cancelled`` (a stop request);
    ``early_stopped`` says the monitored metric stopped improving."""

    status: str
    state: TrainState
    last_metrics: dict[str, float] = field(default_factory=dict)
    early_stopped: bool = False


@dataclass
class Evaluation:
    """One evaluation of one split: ``metrics`` carry their ``split/`` (or ``split_ablation/``) prefix."""

    split: str
    ablation: str | None
    result: EvaluationResult
    metrics: dict[str, float]


def metric_prefix(split: str, ablation: str | None) -> str:
    return split if ablation is None else f"{split}_{ablation}"


# --- the trainer ----------------------------------------------------------------------------------


@dataclass
class _LogWindow:
    """The losses of one log window on their way to the host (``ready`` is None once they are there)."""

    losses: torch.Tensor
    steps: list[int]
    epoch: int
    lr: float
    ready: Any = None
    stop: torch.Tensor | None = None  # under torchrun: how many processes were asked to stop


class Trainer:
    """Train ``model`` on ``data`` as ``spec`` says, on ``device`` in ``precision``.

    ``checkpoint_dir`` receives ``best`` and ``last`` checkpoints (``None``: no checkpoints);
    ``checkpoint_meta`` is added to every checkpoint's meta (specs, labels, tokenizer, run id).

    ``distributed`` (under ``torchrun``, :mod:`mmstudio.training.distributed`): the model trains
    wrapped in DistributedDataParallel on this process's share of each global batch, the logged
    losses and the evaluations are reduced over the processes, and only rank 0 is given a
    ``checkpoint_dir``. ``self.model`` stays the plain module (checkpoints, evaluation, export).
    """

    def __init__(
        self,
        model: nn.Module,
        data: PreparedData,
        spec: TrainSpec,
        *,
        device: torch.device,
        precision: Precision,
        run_id: int = 0,
        on_event: EventCallback | None = None,
        control: TrainingControl | None = None,
        checkpoint_dir: str | Path | None = None,
        checkpoint_meta: dict[str, Any] | None = None,
        distributed: Distributed | None = None,
    ) -> None:
        self.model = model
        self.dist = distributed
        self._ddp: nn.Module | None = None  # the DistributedDataParallel wrapper, made in fit()
        if hasattr(model, "modality_dropout"):  # a MultimodalModel: drops a modality in training only
            model.modality_dropout = spec.modality_dropout
        self.data = data
        self.spec = spec
        # Training batches only: evaluation (below) never passes it to the data.
        # Under torchrun each process draws its own augmentations (rank 0 those of a single process).
        rank = 0 if distributed is None else distributed.rank
        seeded = spec if rank == 0 else replace(spec, seed=spec.seed + 7919 * rank)
        self.augment = Augmenter.for_run(seeded, data.tokenizer)
        self.device = device
        self.precision = precision
        self.run_id = run_id
        self.emit: EventCallback = on_event or (lambda event: None)
        self.control = control
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.checkpoint_meta = dict(checkpoint_meta or {})
        self._checkpoints = checkpoints.CheckpointWriter() if checkpoint_dir is not None else None
        self._pending_best: list | None = None  # a best checkpoint copied, written with the next last
        self._last_checkpoint_time = time.monotonic()
        self._last_checkpoint_step: int | None = None
        self._frozen: checkpoints.FrozenState | None = None  # left out of checkpoints (found once)
        self.task = data.task
        self.batches_per_epoch = data.num_batches("train", spec.batch_size)
        self.steps_per_epoch = math.ceil(self.batches_per_epoch / spec.accumulation)
        self.total_steps = self.steps_per_epoch * spec.epochs
        self.optimizer = build_optimizer(model, spec, device)
        self.base_lrs = [group["lr"] for group in self.optimizer.param_groups]
        self.schedule = LRSchedule(spec, steps_per_epoch=self.steps_per_epoch, total_steps=self.total_steps)
        self.scaler = precision.grad_scaler()
        self.state = TrainState()
        self.monitor = spec.monitor_for(data.task)
        self.monitor_mode = metric_mode(self.monitor)
        self._pending: list[torch.Tensor] = []  # detached losses of the steps since the last log
        self._pending_steps: list[int] = []
        self._in_flight: _LogWindow | None = None
        self._async_log = device.type == "cuda"
        self._window_start = time.perf_counter()
        self._window_samples = 0
        self._window_step = 0
        self._seconds_per_step: float | None = None
        self._monitor_warned = False
        self._stop_agreed = False

    # --- the loop ---------------------------------------------------------------------------------

    def fit(self) -> FitResult:
        """Train from the current state to the last epoch, a stop request or early stopping; the
        checkpoints are all on disk when it returns."""
        self.model.to(self.device)
        self._wrap_ddp()
        self._last_checkpoint_time = time.monotonic()
        try:
            result = self._fit()
            written = self._last_checkpoint_step == self.state.step
            if self._checkpoints is not None and result.status == "completed" and not written:
                self._write_checkpoints("last")
        except BaseException:
            self._finish_checkpoints(failing=True)
            raise
        self._finish_checkpoints(failing=False)
        return result

    def _fit(self) -> FitResult:
        last_metrics: dict[str, float] = {}
        while self.state.epoch < self.spec.epochs:
            if not self._train_epoch():
                self._flush_log()
                self.save_checkpoint("final")
                return FitResult("cancelled", self.state, last_metrics)
            last_metrics = self._end_epoch()
            if self._should_stop_early():
                self.emit(
                    ev.LogMessage(
                        self.run_id,
                        "info",
                        f"stopped early after epoch {self.state.epoch}: {self.monitor} has not improved "
                        f"for {plural(self.state.bad_evaluations, 'evaluation')}",
                        time.time(),
                    )
                )
                return FitResult("completed", self.state, last_metrics, early_stopped=True)
        return FitResult("completed", self.state, last_metrics)

    def _wrap_ddp(self) -> None:
        """Under torchrun, wrap the model in DistributedDataParallel (once); its construction makes every
        process's weights rank 0's."""
        if self.dist is None or self._ddp is not None:
            return
        from torch.nn.parallel import DistributedDataParallel

        norm = nn.modules.batchnorm._BatchNorm
        if self.device.type == "cuda" and any(isinstance(m, norm) for m in self.model.modules()):
            # batch statistics over the global batch, as one process would compute them (CUDA only:
            # on a CPU each process normalises with its own share's statistics)
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        ids = [self.device.index] if self.device.type == "cuda" else None
        self._ddp = DistributedDataParallel(self.model, device_ids=ids)

    def _train_epoch(self) -> bool:
        """One epoch (or what is left of it); False when a stop was requested."""
        spec, state = self.spec, self.state
        accumulation, n_batches = spec.accumulation, self.batches_per_epoch
        self.model.train()
        self._start_window()
        batches = self.data.batches(
            "train",
            spec.batch_size,
            shuffle=True,
            seed=spec.seed,
            epoch=state.epoch,
            start_step=state.batch,
            device=self.device,
            augment=self.augment,
            shard=self.dist,
            pad_shards=True,
        )
        group = accumulation
        for i, batch in enumerate(batches, start=state.batch):
            position = i % accumulation
            if position == 0:
                group = min(accumulation, n_batches - i)  # the epoch's last group may be short
                self._set_lr(state.step)
            self._forward_backward(batch, group, i, last=position == group - 1)
            if position == group - 1:
                self._optimizer_step()
                state.step += 1
                state.batch = i + 1
                if self._in_flight is not None:
                    self._finish_log()  # the previous window's copy overlapped this step
                if state.step % spec.log_every_steps == 0:
                    self._log(wait=not self._async_log)
                if self.control is not None and not self._obey_control():
                    return False
        self._flush_log()
        state.epoch += 1
        state.batch = 0
        return True

    def _forward_backward(self, batch: dict[str, torch.Tensor], group: int, i: int, *, last: bool) -> None:
        """Forward and backward of batch ``i`` of the epoch, ``group`` batches to an optimiser step
        (``last``: this batch completes it)."""
        share, samples = 1.0, batch["index"].shape[0]
        ddp = self._ddp
        with self.precision.autocast(), ddp.no_sync() if ddp is not None and not last else nullcontext():
            outputs = (ddp or self.model)(batch)
            if self.dist is not None:
                outputs, batch, share, samples = self._global_batch(outputs, batch, i)
            logged, loss = self.model.loss_parts(outputs, batch)  # the prediction's loss is logged
            if self.dist is not None:
                # DDP averages the processes' gradients: scaled so the average is the global batch's
                loss = loss * (share * self.dist.world_size)
                logged = logged * share  # summed over the processes when logged
            if group != 1:
                loss, logged = loss / group, logged / group
            self.scaler.scale(loss).backward()
        # logged + (loss - loss): the prediction's loss, or NaN when the total is not finite (the check)
        self._pending.append((logged + (loss - loss)).detach())
        self._pending_steps.append(self.state.step)
        self._window_samples += samples

    def _global_batch(
        self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], i: int
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], float, int]:
        """Under torchrun: ``(outputs, batch, share, samples)`` for this process's loss. The contrastive
        loss is computed on every process's embeddings (gathered with their gradients, so the whole
        global batch gives the negatives), each process then holding ``1 / world_size`` of it; another
        task's mean loss over this process's items is ``local / global`` of the global batch's."""
        assert self.dist is not None
        world = self.dist.world_size
        size = self.spec.batch_size
        n = self.data.split_sizes().get("train", 0)
        samples = max(world, min(size, n - i * size))  # the global batch, padded as the shards were
        if self.task == "contrastive":
            outputs = dict(outputs)
            for key in ("text_embedding", "image_embedding"):
                outputs[key] = self.dist.gather_rows(outputs[key])
            if "group" in batch:
                batch = {**batch, "group": self.dist.gather_rows(batch["group"])}
            return outputs, batch, 1.0 / world, samples
        return outputs, batch, batch["index"].shape[0] / samples, samples

    def _set_lr(self, step: int) -> None:
        factor = self.schedule.factor(step)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor

    def _optimizer_step(self) -> None:
        if self.spec.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.spec.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)

    def _obey_control(self) -> bool:
        """Honour pause and stop requests between optimiser steps; False means stop now."""
        control = self.control
        assert control is not None
        if self.dist is not None:  # a stop every process agreed on at a log (no pause under torchrun)
            return not self._stop_agreed
        if control.pause_requested and not control.stop_requested:
            self._flush_log()
            if self._checkpoints is not None:  # a paused run has its checkpoints on disk
                self._checkpoints.wait()
                self._announce_checkpoints()
            self.emit(ev.RunPaused(self.run_id, self.state.step, time.time()))
            control.wait_while_paused()
            if not control.stop_requested:
                self.emit(ev.RunResumed(self.run_id, self.state.step, time.time()))
                self._start_window()
        return not control.stop_requested

    # --- logging ----------------------------------------------------------------------------------

    def _start_window(self) -> None:
        """Start timing throughput afresh (after a pause or an evaluation)."""
        self._window_start = time.perf_counter()
        self._window_samples = 0
        self._window_step = self.state.step

    def _flush_log(self) -> None:
        """Log every pending loss now (at an epoch end, a pause, a stop)."""
        self._log(wait=True)

    def _log(self, *, wait: bool) -> None:
        """Send the pending losses to the host in one transfer; unless ``wait``, the copy runs
        asynchronously and :meth:`_finish_log` reads it later."""
        self._finish_log()
        self._announce_checkpoints()
        if not self._pending:
            return
        losses = torch.stack(self._pending).float()
        stop = None
        if self.dist is not None:
            # each process sends its share of each step's global loss, and whether it was asked to
            # stop: every process then stops at the same step (none waits in a collective alone)
            asked = float(self.control is not None and self.control.stop_requested)
            reduced = self.dist.sum(torch.cat([losses, losses.new_tensor([asked])]))
            losses, stop = reduced[:-1], reduced[-1:]
        lr = self.optimizer.param_groups[0]["lr"]
        window = _LogWindow(losses, self._pending_steps, self.state.epoch + 1, lr)
        self._pending, self._pending_steps = [], []
        if wait:
            window.losses = losses.cpu()
            window.stop = None if stop is None else stop.cpu()
        else:
            window.losses = losses.to("cpu", non_blocking=True)
            window.stop = None if stop is None else stop.to("cpu", non_blocking=True)
            if losses.is_cuda:
                window.ready = torch.cuda.Event()
                window.ready.record()
        self._in_flight = window
        if wait:
            self._finish_log()

    def _finish_log(self) -> None:
        """Read the window in flight: check its losses, emit its points and the progress."""
        window, self._in_flight = self._in_flight, None
        if window is None:
            return
        if window.ready is not None:
            window.ready.synchronize()
        if window.stop is not None and float(window.stop.item()) > 0:
            self._stop_agreed = True
        # Every loss belongs to a finished step (logs happen after optimiser steps); with
        # accumulation a step has several, which add up to the step's loss.
        done: dict[int, float] = {}
        for step, value in zip(window.steps, window.losses.tolist(), strict=True):
            done[step] = done.get(step, 0.0) + value
        self._check_finite(done, window.epoch)
        now = time.perf_counter()
        elapsed = max(now - self._window_start, 1e-9)
        samples_per_s = self._window_samples / elapsed
        self._update_eta(elapsed / max(1, self.state.step - self._window_step))
        self._window_start, self._window_samples, self._window_step = now, 0, self.state.step
        epoch = window.epoch
        points: list[tuple[str, int, int, float]] = [("train/loss", s + 1, epoch, v) for s, v in done.items()]
        last = max(done) + 1
        points.append(("train/lr", last, epoch, window.lr))
        points.append(("train/samples_per_s", last, epoch, samples_per_s))
        self.state.train_loss_sum += sum(done.values())
        self.state.train_loss_steps += len(done)
        wall = time.time()
        self.emit(ev.MetricsLogged(self.run_id, tuple(points), wall))
        self.emit(
            ev.ProgressUpdated(
                self.run_id,
                epoch,
                last,
                self.total_steps,
                samples_per_s,
                self._eta(last),
                wall,
                memory_in_use(self.device),
            )
        )

    def _check_finite(self, losses: dict[int, float], epoch: int) -> None:
        for step in sorted(losses):
            value = losses[step]
            if not math.isfinite(value):
                message = self._nan_message(step + 1, epoch, value)
                raise TrainingFailed(message, kind="nan_loss", step=step + 1)

    def _nan_message(self, step: int, epoch: int, value: float) -> str:
        what = "NaN" if math.isnan(value) else "infinite"
        causes = [f"the learning rate ({self.spec.lr:g}) is too high: lower it, or use a longer warm-up"]
        if self.precision.name == "fp16":
            causes.insert(0, "fp16 overflowed: train in bf16 or fp32")
        causes.append("some inputs hold invalid values (check the dataset)")
        return (
            f"the training loss became {what} at step {step} (epoch {epoch}); "
            f"likely causes: {'; '.join(causes)}"
        )

    def _update_eta(self, seconds_per_step: float) -> None:
        previous = self._seconds_per_step
        self._seconds_per_step = (
            seconds_per_step if previous is None else 0.7 * previous + 0.3 * seconds_per_step
        )

    def _eta(self, step: int) -> float | None:
        if self._seconds_per_step is None:
            return None
        return max(0, self.total_steps - step) * self._seconds_per_step

    # --- end of an epoch --------------------------------------------------------------------------

    def _end_epoch(self) -> dict[str, float]:
        """Validate, update the schedule and early stopping, save checkpoints, emit ``EpochEnded``."""
        state = self.state
        metrics: dict[str, float] = {}
        if state.train_loss_steps:
            metrics["train/epoch_loss"] = state.train_loss_sum / state.train_loss_steps
        state.train_loss_sum, state.train_loss_steps = 0.0, 0
        evaluate = state.epoch % self.spec.eval_every_epochs == 0 or state.epoch == self.spec.epochs
        if evaluate and self.data.split_sizes().get("val", 0) > 0:
            metrics.update(self.evaluate("val").metrics)
        if metrics:
            points = tuple((key, state.step, state.epoch, value) for key, value in metrics.items())
            self.emit(ev.MetricsLogged(self.run_id, points, time.time()))
        improved = self._track_monitor(metrics) if evaluate else False
        if self._checkpoints is not None:
            if improved:  # copied now, written with the next last (see TrainSpec.checkpoint_every_s)
                self._pending_best = self._prepare_best()
            if time.monotonic() - self._last_checkpoint_time >= self.spec.checkpoint_every_s:
                self._write_checkpoints("last")
        self.emit(ev.EpochEnded(self.run_id, state.epoch, state.step, dict(metrics), time.time()))
        return metrics

    def _track_monitor(self, metrics: dict[str, float]) -> bool:
        """Feed the monitored metric to the plateau schedule and early stopping; True if it improved."""
        value = metrics.get(self.monitor)
        if value is None:
            if not self._monitor_warned:
                self._monitor_warned = True
                self.emit(
                    ev.LogMessage(
                        self.run_id,
                        "warning",
                        f"{self.monitor} is not measured (the split is empty or the task has no such "
                        "metric): the last epoch counts as the best, and early stopping is off",
                        time.time(),
                    )
                )
            return True
        if self.schedule.observe(value, self.monitor_mode):
            self.emit(
                ev.LogMessage(
                    self.run_id,
                    "info",
                    f"{self.monitor} stalled: learning rate × {self.spec.gamma:g}",
                    time.time(),
                )
            )
        state = self.state
        best = state.best_value
        if best is None or (value < best if self.monitor_mode == "min" else value > best):
            state.best_value, state.best_epoch, state.bad_evaluations = value, state.epoch, 0
            return True
        state.bad_evaluations += 1
        return False

    def _should_stop_early(self) -> bool:
        return (
            self.spec.stops_early
            and self.state.bad_evaluations >= (self.spec.patience or DEFAULT_PATIENCE)
            and self.state.epoch < self.spec.epochs
        )

    # --- checkpoints ------------------------------------------------------------------------------

    def checkpoint_path(self, kind: str) -> Path | None:
        """The manifest of the ``best`` or ``last`` checkpoint (``final`` is written as ``last``)."""
        if self.checkpoint_dir is None:
            return None
        stem = "best" if kind == "best" else "last"
        return checkpoints.manifest_path(self.checkpoint_dir / stem)

    def save_checkpoint(self, kind: str) -> Path | None:
        """Write the ``last`` / ``final`` checkpoint (with a pending ``best``) or the ``best`` one now,
        and wait until it is on disk; the manifest's path."""
        if self._checkpoints is None:
            return None
        if kind == "best":
            self._checkpoints.write(self._prepare_best())
            self._checkpoints.wait()
            self._announce_checkpoints()
        else:
            self._write_checkpoints(kind, wait=True)
        return self.checkpoint_path(kind)

    def _checkpoint_request(self, kind: str) -> checkpoints.CheckpointRequest:
        """The ``best`` checkpoint holds the weights (for evaluation and export); ``last`` / ``final``
        add the optimiser, schedule, scaler and RNG state: enough to resume exactly."""
        resumable = kind != "best"
        meta = {
            **self.checkpoint_meta,
            "kind": kind,
            "epoch": self.state.epoch,
            "step": self.state.step,
            "best": {self.monitor: self.state.best_value} if self.state.best_value is not None else {},
            "trainer": self.state.to_dict(),
        }
        if self._frozen is None:
            self._frozen = checkpoints.FrozenState.of(self.model)
        meta.update(self._frozen.meta())
        states: dict[str, Any] = {"model_state": self._frozen.strip(self.model.state_dict())}
        if resumable:
            meta["rng"] = checkpoints.capture_rng_state()
            states["optimizer_state"] = self.optimizer.state_dict()
            states["scheduler_state"] = self.schedule.state_dict()
            states["scaler_state"] = self.scaler.state_dict()
        tag = (kind, self.state.step, self.state.epoch)
        return tag, self.checkpoint_path(kind), states, meta

    def _prepare_best(self) -> list:
        assert self._checkpoints is not None
        return self._checkpoints.prepare([self._checkpoint_request("best")], slot="best")

    def _write_checkpoints(self, kind: str, *, wait: bool = False) -> None:
        """Copy the state into the ``last`` (or ``final``) checkpoint and write it in the background,
        after the pending ``best`` one; each is announced (``CheckpointSaved``) once committed."""
        assert self._checkpoints is not None
        batch = self._pending_best or []
        self._pending_best = None
        batch = batch + self._checkpoints.prepare([self._checkpoint_request(kind)], slot="last")
        self._checkpoints.write(batch)
        self._last_checkpoint_time = time.monotonic()
        self._last_checkpoint_step = self.state.step
        if wait:
            self._checkpoints.wait()
        self._announce_checkpoints()

    def _announce_checkpoints(self) -> None:
        """Emit ``CheckpointSaved`` for each checkpoint the background writer has committed."""
        if self._checkpoints is None:
            return
        for (kind, step, epoch), manifest in self._checkpoints.completed():
            self.emit(ev.CheckpointSaved(self.run_id, kind, str(manifest), step, epoch, time.time()))

    def _finish_checkpoints(self, *, failing: bool) -> None:
        """Wait for the checkpoint in flight and announce it. When the run is ``failing`` already, a
        failed write is reported as a log message and the first error propagates."""
        if self._checkpoints is None:
            return
        try:
            self._checkpoints.wait()
        except Exception as exc:
            if not failing:
                raise
            message = f"a checkpoint could not be written: {exc}"
            self.emit(ev.LogMessage(self.run_id, "error", message, time.time()))
        finally:
            self._announce_checkpoints()

    def restore(self, checkpoint: checkpoints.Checkpoint) -> None:
        """Continue from a ``last`` / ``final`` checkpoint: weights, optimiser, schedule, scaler, RNG and
        the loop's position, so the run goes on as if it had never stopped."""
        if checkpoint.optimizer_state is None:
            raise TrainingFailed(
                f"{checkpoint.path} holds weights only (a 'best' checkpoint); "
                "resume from the run's 'last' one"
            )
        state = checkpoints.complete_model_state(
            self.model, checkpoint.model_state, checkpoint.meta, checkpoint.path
        )
        checkpoints.check_model_state(self.model.state_dict(), state, checkpoint.path)
        self.model.load_state_dict(state)
        self.model.to(self.device)
        self.optimizer.load_state_dict(checkpoint.optimizer_state)
        if checkpoint.scheduler_state:
            self.schedule.load_state_dict(checkpoint.scheduler_state)
        if checkpoint.scaler_state:
            self.scaler.load_state_dict(checkpoint.scaler_state)
        self.state = TrainState.from_dict(checkpoint.meta.get("trainer", {}))
        rng = checkpoint.meta.get("rng")
        if rng is not None:
            checkpoints.restore_rng_state(rng)

    def load_weights(self, path: str | Path) -> None:
        """Load only the weights of a checkpoint (the best one, before the final evaluation)."""
        loaded = checkpoints.load_checkpoint(path, self.device)
        state = checkpoints.complete_model_state(self.model, loaded.model_state, loaded.meta, path)
        checkpoints.check_model_state(self.model.state_dict(), state, path)
        self.model.load_state_dict(state)

    # --- evaluation -------------------------------------------------------------------------------

    @torch.inference_mode()
    def evaluate(
        self,
        split: str,
        *,
        ablation: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        cancel: Any = None,
    ) -> Evaluation:
        """Metrics of ``split`` (``val`` / ``test``), optionally with one modality masked
        (``text_masked`` / ``image_masked``), including the mean loss; per-item predictions included.
        ``progress(done, total)`` counts the batches scored; ``cancel.is_set()`` stops between batches
        with :class:`~mmstudio.progress.Cancelled` (``mmstudio eval`` and the Experiments page)."""
        if ablation is not None and ablation not in ABLATIONS:
            raise ValueError(f"unknown ablation {ablation!r}; choose one of {', '.join(ABLATIONS)}")
        was_training = self.model.training
        self.model.eval()
        if self.dist is not None:
            self.dist.broadcast_buffers(self.model)  # rank 0's BatchNorm statistics everywhere
        keep = _OUTPUT_KEYS[self.task]
        collected: dict[str, list[torch.Tensor]] = {key: [] for key in keep}
        indices: list[torch.Tensor] = []
        loss_sum = torch.zeros((), device=self.device)
        count = 0
        total = self.data.num_batches(split, self._eval_batch_size()) if progress is not None else 0
        empty_text = self.data.empty_text() if ablation is not None else None
        masked_features = self.data.masked_features(self.device) if ablation is not None else None
        try:
            for done, batch in enumerate(self._eval_batches(split), start=1):
                check_cancel(cancel, "the evaluation")
                if ablation is not None:
                    batch = mask_batch(
                        batch, ABLATIONS[ablation], empty_text=empty_text, masked_features=masked_features
                    )
                with self.precision.autocast():
                    outputs = self.model(batch)
                    loss = self.model.prediction_loss(outputs, batch)
                n = batch["index"].shape[0]
                loss_sum += loss.detach().float() * n
                count += n
                for key in keep:
                    collected[key].append(outputs[key].detach().float())
                indices.append(batch["index"])
                if progress is not None:
                    progress(done, total)
        finally:
            self.model.train(was_training)
        if self.dist is not None:
            collected, indices, loss_sum, count = self._gather_evaluation(collected, indices, loss_sum, count)
        return self._score(split, ablation, collected, indices, loss_sum, count)

    def _gather_evaluation(
        self,
        collected: dict[str, list[torch.Tensor]],
        indices: list[torch.Tensor],
        loss_sum: torch.Tensor,
        count: int,
    ) -> tuple[dict[str, list[torch.Tensor]], list[torch.Tensor], torch.Tensor, int]:
        """Under torchrun, every process's share of an evaluation, on every process, in item order: each
        then computes the same metrics (and takes the same early-stopping decision)."""
        assert self.dist is not None
        mine = (
            {key: [t.cpu() for t in parts] for key, parts in collected.items()},
            [t.cpu() for t in indices],
            float(loss_sum.item()),
            count,
        )
        shares = self.dist.gather(mine)
        index = torch.cat([t for share in shares for t in share[1]] or [torch.zeros(0, dtype=torch.long)])
        order = torch.argsort(index)
        merged: dict[str, list[torch.Tensor]] = {}
        for key in collected:
            parts = [t for share in shares for t in share[0][key]]
            merged[key] = [torch.cat(parts)[order]] if parts else []
        total = sum(share[3] for share in shares)
        loss = torch.tensor(sum(share[2] for share in shares))
        return merged, [index[order]] if len(index) else [], loss, total

    def _eval_batch_size(self) -> int:
        return max(1, 2 * self.spec.batch_size)

    def _eval_batches(self, split: str) -> Iterator[dict[str, torch.Tensor]]:
        return self.data.batches(split, self._eval_batch_size(), device=self.device, shard=self.dist)

    def _score(
        self,
        split: str,
        ablation: str | None,
        collected: dict[str, list[torch.Tensor]],
        indices: list[torch.Tensor],
        loss_sum: torch.Tensor,
        count: int,
    ) -> Evaluation:
        if count == 0:
            result = EvaluationResult({}, list(self.data.labels) or None)
        else:
            outputs = {key: torch.cat(parts).cpu().numpy() for key, parts in collected.items()}
            index = torch.cat(indices).cpu().numpy()
            targets = self.data.targets(index) if self.task != "contrastive" else None
            groups = self.data.groups(index) if self.task == "contrastive" else None
            labels = self.data.labels or None
            result = compute_metrics(self.task, outputs, targets, labels, groups, index)
            loss = float(loss_sum.item()) / count
            if math.isfinite(loss):
                result.metrics = {"loss": loss, **result.metrics}
        prefix = metric_prefix(split, ablation)
        return Evaluation(split, ablation, result, result.prefixed(prefix))
