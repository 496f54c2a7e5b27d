"""The Trainer on real tiny models and the demo dataset: reproducible, learning, failing loudly on a
NaN, stopping early, accumulating exactly, pausing, stopping and resuming as if never stopped."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
import torch

from mmstudio.data.spec import DatasetSpec
from mmstudio.models.context import ModelContext
from mmstudio.models.model import build_model
from mmstudio.training import events as ev
from mmstudio.training.checkpoints import CHECKPOINT_FORMAT_VERSION, load_checkpoint
from mmstudio.training.data import PreparedData
from mmstudio.training.device import resolve_precision
from mmstudio.training.spec import TrainSpec
from mmstudio.training.trainer import (
    LRSchedule,
    Trainer,
    TrainingControl,
    TrainingFailed,
    parameter_groups,
    seed_everything,
)

CPU = torch.device("cpu")
TEXT_ONLY = {
    "task": "classification",
    "text_encoder": {"name": "bag", "embed_dim": 16},
    "head": {"name": "linear"},
}


@pytest.fixture(scope="module")
def dataset(small_demo):
    return DatasetSpec(str(small_demo), check_images="header").load()


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


class Recorder:
    """Collects events; optionally runs ``action(event)`` on each (to pause or stop mid-run)."""

    def __init__(self, action=None):
        self.events: list[ev.Event] = []
        self.action = action

    def __call__(self, event):
        self.events.append(event)
        if self.action is not None:
            self.action(event)

    def losses(self) -> list[tuple[int, float]]:
        return [(s, v) for e in self.of(ev.MetricsLogged) for k, s, _, v in e.points if k == "train/loss"]

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


def make_trainer(
    dataset, cache_root, model=TEXT_ONLY, *, on_event=None, control=None, checkpoint_dir=None, **train
) -> Trainer:
    spec = TrainSpec(
        **{
            "epochs": 2,
            "batch_size": 32,
            "image_size": 32,
            "max_len": 16,
            "device": "cpu",
            "log_every_steps": 1,
            "checkpoint_every_s": 0.0,  # every epoch: these tests resume from them
            "vocab_min_freq": 1,
            **train,
        }
    )
    need_image = model.get("image_encoder", {}).get("name", "none") != "none"
    data = PreparedData(dataset, spec, "classification", need_image=need_image, cache_root=cache_root)
    seed_everything(spec.seed)
    net = build_model(model, ModelContext(**data.context()))
    return Trainer(
        net,
        data,
        spec,
        device=CPU,
        precision=resolve_precision("fp32", CPU),
        run_id=1,
        on_event=on_event,
        control=control,
        checkpoint_dir=checkpoint_dir,
    )


def params(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def test_same_spec_and_seed_give_identical_losses(tiny_model, dataset, cache_root):
    runs = []
    for seed in (0, 0, 1):
        recorder = Recorder()
        make_trainer(dataset, cache_root, tiny_model, on_event=recorder, seed=seed).fit()
        runs.append(recorder.losses())
    assert runs[0] == runs[1]
    assert len(runs[0]) == 12 and [s for s, _ in runs[0]] == list(range(1, 13))
    assert runs[0] != runs[2]


def test_loss_decreases(dataset, cache_root):
    recorder = Recorder()
    result = make_trainer(dataset, cache_root, TEXT_ONLY, on_event=recorder, epochs=6, lr=0.1).fit()
    assert result.status == "completed" and result.state.step == 36
    losses = [v for _, v in recorder.losses()]
    assert sum(losses[-6:]) / 6 < 0.8 * sum(losses[:6]) / 6
    epochs = recorder.of(ev.EpochEnded)
    assert [e.epoch for e in epochs] == [1, 2, 3, 4, 5, 6]
    assert epochs[-1].metrics["train/epoch_loss"] < epochs[0].metrics["train/epoch_loss"]
    assert {"val/loss", "val/accuracy", "val/macro_f1"} <= set(epochs[-1].metrics)


def poison_from(model: torch.nn.Module, call: int) -> None:
    """A forward hook (a real torch mechanism) that turns the logits to NaN from the ``call``-th
    forward pass on, as a diverged model or a bad input would."""
    calls = []

    def hook(module, inputs, outputs):
        calls.append(1)
        return {**outputs, "logits": outputs["logits"] * math.nan} if len(calls) >= call else outputs

    model.register_forward_hook(hook)


def test_a_nan_loss_stops_the_run_naming_the_step(dataset, cache_root):
    """NaN from the 2nd batch on, a log every 4 steps: found at step 4, reported at step 2."""
    trainer = make_trainer(dataset, cache_root, TEXT_ONLY, log_every_steps=4)
    poison_from(trainer.model, 2)
    with pytest.raises(TrainingFailed) as caught:
        trainer.fit()
    failure = caught.value
    assert (failure.kind, failure.step) == ("nan_loss", 2)
    assert "became NaN at step 2 (epoch 1)" in failure.message and "learning rate" in failure.message
    assert trainer.state.step == 4


def test_deferred_logging_loses_nothing_and_still_names_the_nan_step(dataset, cache_root):
    """On CUDA a log window is read one step late (the copy overlaps the next step); forced on here,
    the points and the failure are the same as when read at once."""
    eager, deferred = Recorder(), Recorder()
    make_trainer(dataset, cache_root, TEXT_ONLY, on_event=eager, log_every_steps=4).fit()
    trainer = make_trainer(dataset, cache_root, TEXT_ONLY, on_event=deferred, log_every_steps=4)
    trainer._async_log = True
    trainer.fit()
    assert deferred.losses() == eager.losses() and len(eager.losses()) == 12

    trainer = make_trainer(dataset, cache_root, TEXT_ONLY, log_every_steps=4)
    trainer._async_log = True
    poison_from(trainer.model, 3)
    with pytest.raises(TrainingFailed) as caught:
        trainer.fit()
    assert caught.value.step == 3 and "became NaN at step 3" in caught.value.message
    assert trainer.state.step == 5  # read one step after the log at step 4


def test_early_stopping_on_a_metric_that_stalls(dataset, cache_root):
    recorder = Recorder()
    trainer = make_trainer(
        dataset,
        cache_root,
        TEXT_ONLY,
        on_event=recorder,
        epochs=10,
        lr=1e-9,
        early_stopping_metric="val/accuracy",
        patience=2,
    )
    result = trainer.fit()
    assert result.early_stopped and result.status == "completed"
    assert result.state.epoch == 3  # best at epoch 1, then two epochs without improvement
    assert result.state.best_epoch == 1
    assert any("stopped early" in e.message for e in recorder.of(ev.LogMessage))


def test_accumulation_matches_a_larger_batch(dataset, cache_root):
    """8 × 4 accumulated batches give the same updates as batches of 32 (no dropout, no batch norm)."""
    common = {"optimizer": "sgd", "lr": 0.5, "momentum": 0.9, "weight_decay": 0.0, "epochs": 1}
    big = make_trainer(dataset, cache_root, TEXT_ONLY, batch_size=32, **common)
    small = make_trainer(dataset, cache_root, TEXT_ONLY, batch_size=8, accumulation=4, **common)
    assert big.steps_per_epoch == small.steps_per_epoch == 6
    assert all(torch.equal(a, b) for a, b in zip(params(big).values(), params(small).values(), strict=True))
    big.fit()
    small.fit()
    for (name, a), b in zip(params(big).items(), params(small).values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), name
    assert small.state.step == big.state.step == 6


def test_pause_waits_and_resume_continues(dataset, cache_root):
    control = TrainingControl()
    paused = threading.Event()

    def act(event):
        if isinstance(event, ev.MetricsLogged) and event.points[0][1] == 2 and not paused.is_set():
            control.pause()
        if isinstance(event, ev.RunPaused):
            paused.set()
            threading.Timer(0.3, control.resume).start()

    recorder = Recorder(act)
    result = make_trainer(dataset, cache_root, TEXT_ONLY, on_event=recorder, control=control, epochs=1).fit()
    assert result.status == "completed" and result.state.step == 6
    kinds = [type(e).__name__ for e in recorder.events]
    assert kinds.index("RunPaused") < kinds.index("RunResumed")
    assert recorder.of(ev.RunPaused)[0].step == recorder.of(ev.RunResumed)[0].step == 2


def test_stop_saves_a_final_checkpoint_mid_epoch(dataset, cache_root, tmp_path):
    control = TrainingControl()

    def act(event):
        if isinstance(event, ev.MetricsLogged) and event.points[-1][1] >= 3:
            control.stop()

    recorder = Recorder(act)
    trainer = make_trainer(
        dataset, cache_root, TEXT_ONLY, on_event=recorder, control=control, checkpoint_dir=tmp_path
    )
    result = trainer.fit()
    assert result.status == "cancelled" and result.state.step == 3
    saved = recorder.of(ev.CheckpointSaved)
    assert [(c.kind, c.step) for c in saved] == [("final", 3)]
    checkpoint = load_checkpoint(saved[0].path)
    assert checkpoint.meta["trainer"]["batch"] == 3 and checkpoint.meta["trainer"]["epoch"] == 0
    assert checkpoint.optimizer_state is not None and "rng" in checkpoint.meta


def test_resume_from_a_stop_gives_the_uninterrupted_run(tiny_model, dataset, cache_root, tmp_path):
    """Stop mid-epoch, restore into a fresh trainer, finish: the same losses and weights as a run
    that never stopped (dropout included: the RNG state is restored too)."""
    whole = Recorder()
    uninterrupted = make_trainer(
        dataset, cache_root, tiny_model, on_event=whole, checkpoint_dir=tmp_path / "a"
    )
    uninterrupted.fit()

    control = TrainingControl()
    first = Recorder(lambda e: isinstance(e, ev.MetricsLogged) and e.points[-1][1] >= 4 and control.stop())
    make_trainer(
        dataset, cache_root, tiny_model, on_event=first, control=control, checkpoint_dir=tmp_path / "b"
    ).fit()
    second = Recorder()
    resumed = make_trainer(dataset, cache_root, tiny_model, on_event=second, checkpoint_dir=tmp_path / "b")
    resumed.restore(load_checkpoint(tmp_path / "b" / "last"))
    assert resumed.state.step == 4
    resumed.fit()

    steps = [s for s, _ in first.losses()] + [s for s, _ in second.losses()]
    assert steps == list(range(1, 13))
    assert first.losses() + second.losses() == whole.losses()
    for (name, a), b in zip(params(uninterrupted).items(), params(resumed).values(), strict=True):
        assert torch.equal(a, b), name


def test_checkpoints_best_and_last_each_epoch(dataset, cache_root, tmp_path):
    recorder = Recorder()
    make_trainer(dataset, cache_root, TEXT_ONLY, on_event=recorder, checkpoint_dir=tmp_path, lr=1e-2).fit()
    kinds = [(c.kind, c.epoch) for c in recorder.of(ev.CheckpointSaved)]
    assert ("last", 1) in kinds and ("last", 2) in kinds and ("best", 1) in kinds
    best = load_checkpoint(tmp_path / "best")
    assert best.optimizer_state is None and best.meta["kind"] == "best"
    last = load_checkpoint(tmp_path / "last")
    assert last.meta["format_version"] == CHECKPOINT_FORMAT_VERSION and last.scheduler_state is not None


def test_evaluation_with_a_modality_masked(tiny_model, dataset, cache_root):
    trainer = make_trainer(dataset, cache_root, tiny_model)
    plain = trainer.evaluate("test")
    masked = trainer.evaluate("test", ablation="text_masked")
    assert set(plain.metrics) == {"test/loss", "test/accuracy", "test/macro_f1"}
    assert set(masked.metrics) == {
        "test_text_masked/loss",
        "test_text_masked/accuracy",
        "test_text_masked/macro_f1",
    }
    assert len(plain.result.predictions) == trainer.data.split_sizes()["test"]
    assert plain.result.confusion is not None and plain.result.per_class is not None


def test_schedules():
    cosine = LRSchedule(TrainSpec(schedule="cosine", warmup_steps=10), steps_per_epoch=10, total_steps=110)
    assert cosine.factor(0) == pytest.approx(0.1) and cosine.factor(9) == pytest.approx(1.0)
    assert cosine.factor(10) == pytest.approx(1.0) and cosine.factor(60) == pytest.approx(0.5)
    assert cosine.factor(110) == pytest.approx(0.0, abs=1e-12)
    step = LRSchedule(
        TrainSpec(schedule="step", step_size=2, gamma=0.1, warmup_steps=0), steps_per_epoch=5, total_steps=50
    )
    assert [step.factor(s) for s in (0, 9, 10, 25)] == pytest.approx([1.0, 1.0, 0.1, 0.01])
    constant = LRSchedule(TrainSpec(schedule="constant", warmup_steps=0), steps_per_epoch=5, total_steps=50)
    assert constant.factor(49) == 1.0


def test_plateau_reduces_after_patience_and_round_trips():
    schedule = LRSchedule(
        TrainSpec(schedule="plateau", plateau_patience=1, gamma=0.5, warmup_steps=0),
        steps_per_epoch=5,
        total_steps=50,
    )
    reduced = [schedule.observe(v, "min") for v in (1.0, 0.9, 0.95, 0.95, 0.8, 0.85, 0.85)]
    assert reduced == [False, False, False, True, False, False, True]
    assert schedule.factor(30) == 0.25
    again = LRSchedule(schedule.spec, steps_per_epoch=5, total_steps=50)
    again.load_state_dict(schedule.state_dict())
    assert again.factor(30) == 0.25 and again.state_dict() == schedule.state_dict()


def test_no_weight_decay_on_biases_and_norms():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Embedding(5, 4))
    decay, no_decay = parameter_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert {p.ndim for p in decay["params"]} == {2} and len(decay["params"]) == 2
    assert {p.ndim for p in no_decay["params"]} == {1} and len(no_decay["params"]) == 3


def test_checkpoints_wait_for_their_interval_and_best_travels_with_last(dataset, cache_root, tmp_path):
    """With a long interval no epoch end writes: the run's end writes ``last`` and the best weights
    copied when the monitor improved, so the two on disk agree; a short one writes every epoch."""
    recorder = Recorder()
    trainer = make_trainer(
        dataset,
        cache_root,
        TEXT_ONLY,
        on_event=recorder,
        checkpoint_dir=tmp_path,
        epochs=3,
        checkpoint_every_s=3600.0,
        lr=1e-2,
    )
    trainer.fit()
    saved = [(c.kind, c.epoch) for c in recorder.of(ev.CheckpointSaved)]
    assert [kind for kind, _ in saved] == ["best", "last"] and saved[1][1] == 3
    best, last = load_checkpoint(tmp_path / "best"), load_checkpoint(tmp_path / "last")
    assert best.meta["trainer"]["best_epoch"] == best.epoch == last.meta["trainer"]["best_epoch"]
    assert best.meta["best"] == last.meta["best"]

    recorder = Recorder()
    make_trainer(
        dataset,
        cache_root,
        TEXT_ONLY,
        on_event=recorder,
        checkpoint_dir=tmp_path / "every",
        epochs=3,
        checkpoint_every_s=0.0,
    ).fit()
    assert [c.epoch for c in recorder.of(ev.CheckpointSaved) if c.kind == "last"] == [1, 2, 3]
