"""run_job end to end in this process: what lands in the store, failures routed through one place,
resuming into the same run, and the store writer's batching."""

from __future__ import annotations

import pytest
import torch

from mmstudio.data.spec import DatasetSpec
from mmstudio.store import Store
from mmstudio.store.types import RunStatus
from mmstudio.training import events as ev
from mmstudio.training.runner import (
    UNUSABLE_INPUT,
    TrainingControl,
    describe_failure,
    resolve_model_spec,
    run_job,
)
from mmstudio.training.spec import RunJob
from mmstudio.training.store_writer import StoreWriter


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def curve(db_url, run_id, key):
    with Store.open(db_url) as store:
        return store.read_curve(run_id, key)


def test_a_job_records_its_run_completely(db_url, make_job):
    seen: list[ev.Event] = []
    result = run_job(make_job(db_url, name="tiny"), on_event=seen.append)
    assert result.status == "completed", result.message
    assert (result.epochs, result.steps) == (2, 12)
    summary = result.summary()
    assert {"run_id", "status", "device", "epochs", "duration_s", "metrics", "best"} <= set(summary)
    assert {"test/accuracy", "test/macro_f1", "val/accuracy", "test_text_masked/accuracy"} <= set(
        result.metrics
    )
    assert "test_image_masked/accuracy" in result.metrics and "val/loss" in result.best
    assert isinstance(seen[0], ev.RunStarted) and isinstance(seen[-1], ev.RunFinished)

    with Store.open(db_url) as store:
        run = store.get_run(result.run_id)
        assert run.status == RunStatus.COMPLETED and run.name == "tiny" and run.device == "cpu"
        assert run.dataset_id is not None and run.spec["text_encoder"]["name"] == "bag"
        assert run.train_spec["batch_size"] == 32 and run.seed == 0 and run.pid is not None
        assert run.metrics["test/accuracy"] == pytest.approx(result.metrics["test/accuracy"])
        evaluations = {(e.split, e.ablation): e for e in store.list_evaluations(result.run_id)}
        assert set(evaluations) == {
            ("val", None),
            ("test", None),
            ("test", "text_masked"),
            ("test", "image_masked"),
        }
        test = evaluations[("test", None)]
        assert test.confusion_matrix and test.per_class and len(test.labels) == 6
        predictions = store.list_predictions(result.run_id)
        assert len(predictions) == sum(test.confusion_matrix[i][j] for i in range(6) for j in range(6))
        assert all(p.evaluation_id == test.id for p in predictions)
        artifacts = {
            a.path.rsplit("/", 1)[-1] for a in store.list_artifacts(result.run_id, kind="checkpoint")
        }
        assert artifacts == {"best.json", "last.json"}
        assert (store.run_dir(result.run_id) / "last.json").is_file()
    loss = curve(db_url, result.run_id, "train/loss")
    assert loss.step.tolist() == list(range(1, 13))
    assert len(curve(db_url, result.run_id, "val/accuracy")) == 2


def test_stop_then_resume_continues_the_same_run_as_if_never_stopped(db_url, tmp_path, make_job):
    reference = run_job(make_job(f"sqlite:///{tmp_path / 'reference.db'}", epochs=3))
    control = TrainingControl()

    def stop_at_step_8(event):
        if isinstance(event, ev.MetricsLogged) and any(p[1] >= 8 for p in event.points):
            control.stop()

    stopped = run_job(make_job(db_url, epochs=3), on_event=stop_at_step_8, control=control)
    assert stopped.status == "cancelled" and stopped.steps == 8
    with Store.open(db_url) as store:
        assert store.get_run(stopped.run_id).status == RunStatus.CANCELLED
        assert "test/accuracy" in store.get_run(stopped.run_id).metrics  # a stopped run is evaluated

    seen: list[ev.Event] = []
    job = RunJob.from_dict({**make_job(db_url, epochs=3).to_dict(), "resume_run_id": stopped.run_id})
    resumed = run_job(job, on_event=seen.append)
    assert resumed.status == "completed", resumed.message
    assert resumed.run_id == stopped.run_id
    started = next(e for e in seen if isinstance(e, ev.RunStarted))
    assert started.start_step == 8 and started.total_steps == 18
    with Store.open(db_url) as store:
        assert [r.id for r in store.list_runs()] == [stopped.run_id]
        assert store.get_run(stopped.run_id).status == RunStatus.COMPLETED
    loss = curve(db_url, stopped.run_id, "train/loss")
    assert loss.step.tolist() == list(range(1, 19))
    expected = curve(f"sqlite:///{tmp_path / 'reference.db'}", reference.run_id, "train/loss")
    assert loss.value.tolist() == expected.value.tolist()
    for key in ("test/accuracy", "test/loss", "val/loss"):
        assert resumed.metrics[key] == pytest.approx(reference.metrics[key], abs=1e-9)
    steps = curve(db_url, stopped.run_id, "test/accuracy").step.tolist()
    assert steps == sorted(set(steps)) == [8, 18]


def test_a_diverging_run_fails_with_a_message_and_traceback_in_the_store(db_url, make_job, tiny_model):
    seen: list[ev.Event] = []
    # SGD at lr 10 blows this model up to NaN by step 10. The image branch is mean-pooled: with
    # small_cnn's default max pool, dead ReLUs stop the blow-up at about 1e8, and the loss stays finite.
    # Modality dropout off: zeroing one modality of some items slows this blow-up past the two epochs,
    # and what is tested here is how a NaN is reported, not how soon this model reaches one.
    model = {**tiny_model, "image_encoder": {**tiny_model["image_encoder"], "pooling": "mean"}}
    job = make_job(
        db_url,
        model=model,
        optimizer="sgd",
        lr=10.0,
        grad_clip=None,
        warmup_fraction=0.0,
        modality_dropout=0.0,
    )
    result = run_job(job, on_event=seen.append)
    assert result.status == "failed" and result.kind == "nan_loss"
    failed = seen[-1]
    assert isinstance(failed, ev.RunFailed) and failed.kind == "nan_loss" and failed.step is not None
    assert f"at step {failed.step}" in failed.message and "learning rate" in failed.message
    with Store.open(db_url) as store:
        run = store.get_run(result.run_id)
        assert run.status == RunStatus.FAILED
        assert run.error_message == failed.message and "TrainingFailed" in run.error_traceback
        assert curve(db_url, result.run_id, "train/loss").step.max() < failed.step


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"image_encoder": {"name": "none"}}, "concat"),  # concat needs both encoders
        ({"preset": "nope"}, "unknown preset 'nope'; choose one of: text_only"),
        ({"text_encoder": {"name": "nope"}}, "unknown text encoder 'nope'"),
    ],
)
def test_a_spec_that_cannot_be_built_is_refused_before_any_run_exists(
    db_url, make_job, tiny_model, change, said
):
    result = run_job(make_job(db_url, model={**tiny_model, **change}))
    assert result.status == "failed" and result.kind == UNUSABLE_INPUT and result.run_id is None
    assert said in result.message
    with Store.open(db_url) as store:
        assert store.list_runs() == []


def test_an_unreadable_dataset_fails_before_any_run_exists(tmp_path, db_url, tiny_model):
    seen: list[ev.Event] = []
    job = RunJob(dataset=DatasetSpec(str(tmp_path / "nowhere")), model=tiny_model, db_url=db_url)
    result = run_job(job, on_event=seen.append)
    assert result.status == "failed" and result.run_id is None
    assert "could not be loaded" in result.message and "nowhere" in result.message
    assert result.kind == UNUSABLE_INPUT
    assert isinstance(seen[-1], ev.RunFailed)
    with Store.open(db_url) as store:
        assert store.list_runs() == []


def test_a_stop_before_training_cancels_without_failing(db_url, make_job):
    control = TrainingControl()
    control.stop()
    seen: list[ev.Event] = []
    result = run_job(make_job(db_url), on_event=seen.append, control=control)
    assert result.status == "cancelled" and result.run_id is None
    assert [type(e) for e in seen] == [ev.RunFinished] and seen[0].status == "cancelled"


def test_ctrl_c_marks_the_run_interrupted_and_propagates(db_url, make_job):
    def interrupt(event):
        if isinstance(event, ev.MetricsLogged):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_job(make_job(db_url), on_event=interrupt)
    with Store.open(db_url) as store:
        (run,) = store.list_runs()
        detail = store.get_run(run.id)
        assert detail.status == RunStatus.INTERRUPTED and "Ctrl-C" in detail.error_message


def test_only_a_stopped_run_with_a_checkpoint_can_be_resumed(db_url, make_job):
    """Both refusals are the input's fault (the command line says so with exit 2), and touch nothing."""
    done = run_job(make_job(db_url, epochs=1))
    job = RunJob.from_dict({**make_job(db_url).to_dict(), "resume_run_id": done.run_id})
    result = run_job(job)
    assert result.status == "failed" and "is completed" in result.message and result.kind == UNUSABLE_INPUT
    with Store.open(db_url) as store:
        assert store.get_run(done.run_id).status == RunStatus.COMPLETED  # untouched
        early = store.create_run(name="early")
        store.start_run(early, pid=1, hostname="h", device="cpu")
        store.finish_run(early, RunStatus.INTERRUPTED)
    result = run_job(RunJob.from_dict({**job.to_dict(), "resume_run_id": early}))
    assert result.kind == UNUSABLE_INPUT and "before its first checkpoint was written" in result.message


def test_out_of_memory_speaks_of_the_batch_size(db_url, make_job):
    job = make_job(db_url, batch_size=256)
    kind, message, _ = describe_failure(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate"), job)
    assert kind == "out_of_memory"
    assert message == "out of memory at batch size 256: try a smaller batch size or image size"


def test_partial_model_requests_are_completed_for_the_dataset(small_demo):
    dataset = DatasetSpec(str(small_demo), check_images="header").load()
    default = resolve_model_spec({}, dataset)
    assert default.task == "classification" and default.has_text and default.has_image
    assert default.fusion["name"] == "concat"
    text_only = resolve_model_spec({"image_encoder": {"name": "none"}}, dataset)
    assert not text_only.has_image and text_only.fusion["name"] == "none"
    gated = resolve_model_spec({"preset": "gated", "text_encoder": {"name": "bag"}}, dataset)
    assert gated.fusion["name"] == "gated" and gated.text_encoder["name"] == "bag"


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_store_writer_batches_and_never_duplicates_a_step(db_url):
    clock = FakeClock()
    with Store.open(db_url) as store:
        run_id = store.create_run(name="w")
        store.start_run(run_id)
        writer = StoreWriter(store, run_id, flush_interval_s=0.5, max_points=100, clock=clock)
        for step in range(1, 11):
            writer(ev.MetricsLogged(run_id, (("train/loss", step, 1, 1.0 / step),), 1.0))
        assert len(store.read_curve(run_id, "train/loss")) == 0  # buffered: not due yet
        clock.now = 0.6
        writer(ev.MetricsLogged(run_id, (("train/loss", 11, 1, 0.1),), 1.0))
        assert len(store.read_curve(run_id, "train/loss")) == 11
        writer(ev.MetricsLogged(run_id, (("train/loss", 12, 1, 0.1),), 1.0))
        writer(ev.EpochEnded(run_id, 1, 12))  # an epoch end writes at once
        assert len(store.read_curve(run_id, "train/loss")) == 12

        # A resumed run's writer drops the steps the store already has (the checkpoint was at 8).
        resumed = StoreWriter(store, run_id, clock=clock)
        points = tuple(("train/loss", s, 1, 0.5) for s in range(9, 15))
        resumed(ev.MetricsLogged(run_id, points, 2.0))
        resumed.flush()
        loss = store.read_curve(run_id, "train/loss")
        assert loss.step.tolist() == list(range(1, 15))
        assert loss.value.tolist()[-2:] == [0.5, 0.5]
