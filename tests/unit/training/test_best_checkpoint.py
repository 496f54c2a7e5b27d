"""Issue 14: the best checkpoint is chosen by the metric the run is ranked by (or the user's), the run
says so, the final evaluation uses those weights, early stopping is on, and the settings the user left
open are chosen from the dataset (the rules: mmstudio.training.defaults)."""

from __future__ import annotations

import pytest

from mmstudio.data.spec import DatasetSpec
from mmstudio.store import Store
from mmstudio.store.summaries import make_record, run_key_metric
from mmstudio.store.types import RunStatus
from mmstudio.training import checkpoints
from mmstudio.training import events as ev
from mmstudio.training.defaults import apply_defaults, describe_choices, suggest_defaults
from mmstudio.training.resume import resume_job
from mmstudio.training.runner import run_job
from mmstudio.training.spec import TrainSpec


def _run_dir(db_url, run_id):
    with Store.open(db_url) as store:
        return store.run_dir(run_id)


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def _logs(seen):
    return [e.message for e in seen if isinstance(e, ev.LogMessage)]


# --- the rules ---------------------------------------------------------------------------------------


def test_patience_grows_as_the_dataset_shrinks():
    assert suggest_defaults({"train_items": 700})["patience"] == 5
    assert suggest_defaults({"train_items": 2_400})["patience"] == 3
    assert suggest_defaults({"train_items": 50_000})["patience"] == 2


def test_max_len_is_the_95th_percentile_of_the_texts_rounded_up_and_capped():
    lengths = list(range(1, 101))  # 1..100 words: the 95th percentile is 95
    assert suggest_defaults({"text_lengths": lengths})["max_len"] == 96
    assert suggest_defaults({"text_lengths": [3] * 50})["max_len"] == 8  # never below 8
    assert suggest_defaults({"text_lengths": [900] * 10})["max_len"] == 128  # long descriptions: capped
    bpe = {"text_lengths": [20] * 10, "tokenizer": "bpe"}
    assert suggest_defaults(bpe)["max_len"] == 32  # 1.5 pieces a word
    # a pretrained tokenizer counts its own pieces: the old default, set by hand for long texts
    assert suggest_defaults({"text_lengths": [900] * 10, "pretrained_text": True})["max_len"] == 32
    assert "max_len" not in suggest_defaults({"train_items": 10})  # no text: no rule


def test_class_weights_go_on_for_an_imbalanced_classification_only():
    balanced = {"task": "classification", "class_counts": {"a": 100, "b": 60}}
    imbalanced = {"task": "classification", "class_counts": {"a": 300, "b": 100, "c": 20}}
    assert suggest_defaults(balanced)["class_weights"] is False
    assert suggest_defaults(imbalanced)["class_weights"] is True
    assert suggest_defaults({"task": "regression"})["class_weights"] is False


def test_only_the_fields_left_open_are_chosen_and_the_choice_is_said():
    facts = {
        "task": "classification",
        "train_items": 700,
        "text_lengths": [60] * 100,
        "class_counts": {"a": 600, "b": 100},
    }
    chosen, notes = apply_defaults(TrainSpec(), facts)
    assert (chosen.patience, chosen.max_len, chosen.class_weights) == (5, 64, True)
    line = describe_choices(notes)
    assert line.startswith("chosen from the dataset: patience 5 (700 training items)")
    assert "max_len 64 (95% of the texts have at most 60 words)" in line and "class_weights on" in line
    set_by_user = TrainSpec(patience=2, max_len=32, class_weights=False)
    kept, notes = apply_defaults(set_by_user, facts)
    assert kept == set_by_user and notes == {} and describe_choices(notes) == ""


# --- a real run on the small demo --------------------------------------------------------------------


def test_the_best_checkpoint_is_the_key_metrics_best_epoch_and_is_what_is_evaluated(db_url, make_job):
    seen: list[ev.Event] = []
    result = run_job(make_job(db_url, epochs=4, lr=0.02, warmup_fraction=0.0), on_event=seen.append)
    assert result.status == "completed", result.message
    logs = _logs(seen)
    assert any(m.startswith("best checkpoint by val/accuracy (max); early stopping after") for m in logs)
    assert any(m.startswith("chosen from the dataset: patience 5 (") for m in logs)  # 192 training items

    with Store.open(db_url) as store:
        run = store.get_run(result.run_id)
        stored = run.train_spec
        # the choices are stored with the run: it can be rebuilt and resumed as it ran
        assert stored["best_metric"] == "val/accuracy" and stored["early_stopping"] is True
        assert (stored["patience"], stored["max_len"]) == (5, 16)  # max_len: the job set it
        assert stored["class_weights"] in (True, False)
        stats = store.metric_stats([result.run_id])[result.run_id]
        # the Experiments page ranks the run by the metric that chose its checkpoint
        assert run_key_metric(stats, run.spec, stored) == "val/accuracy"
        assert make_record(run, stats).metric == "val/accuracy"
        evaluations = {e.split: e for e in store.list_evaluations(result.run_id) if e.ablation is None}
    accuracy = curve = None
    with Store.open(db_url) as store:
        curve = store.read_curve(result.run_id, "val/accuracy")
        losses = store.read_curve(result.run_id, "val/loss")
    accuracy = curve.value.tolist()
    best_epoch = accuracy.index(max(accuracy)) + 1  # the first epoch that reached the best value
    best = checkpoints.load_checkpoint(checkpoints.manifest_path(_run_dir(db_url, result.run_id) / "best"))
    assert best.meta["epoch"] == best_epoch
    assert best.meta["best"] == {"val/accuracy": pytest.approx(max(accuracy))}
    # the final evaluation ran on those weights: on val it gives exactly that epoch's numbers
    final_val = evaluations["val"].metrics
    assert final_val["accuracy"] == pytest.approx(max(accuracy), abs=1e-9)
    assert final_val["loss"] == pytest.approx(losses.value.tolist()[best_epoch - 1], rel=1e-5)
    assert any(m.startswith(f"evaluating the best weights: epoch {best_epoch} (val/accuracy") for m in logs)
    assert result.metrics["test/accuracy"] == pytest.approx(evaluations["test"].metrics["accuracy"])


def test_the_users_metric_picks_the_checkpoint_and_the_run_says_so(db_url, make_job):
    seen: list[ev.Event] = []
    result = run_job(make_job(db_url, best_metric="val/loss", early_stopping=False), on_event=seen.append)
    assert result.status == "completed", result.message
    assert "best checkpoint by val/loss (min); no early stopping" in _logs(seen)
    best = checkpoints.load_checkpoint(checkpoints.manifest_path(_run_dir(db_url, result.run_id) / "best"))
    assert set(best.meta["best"]) == {"val/loss"}


def test_early_stopping_ends_the_run_and_the_best_weights_are_evaluated(db_url, make_job):
    seen: list[ev.Event] = []
    # lr 0 never improves on the first epoch: with patience 1 the run stops after epoch 2 of 6
    job = make_job(db_url, epochs=6, patience=1, lr=1e-9, warmup_fraction=0.0)
    result = run_job(job, on_event=seen.append)
    assert result.status == "completed" and result.epochs == 2
    logs = _logs(seen)
    assert any(m.startswith("stopped early after epoch 2: val/accuracy has not improved") for m in logs)
    assert any(m.startswith("evaluating the best weights: epoch 1 ") for m in logs)


def test_a_run_recorded_before_best_metric_resumes_monitoring_val_loss(db_url, small_demo):
    """An old stored spec (no best_metric, no early-stopping metric) was trained with val/loss picking
    its best checkpoint and no early stopping: resuming it keeps both."""
    legacy = TrainSpec(patience=3, max_len=32, class_weights=False).to_dict()
    for key in ("best_metric", "early_stopping", "modality_dropout"):
        legacy.pop(key)
    with Store.open(db_url) as store:
        run_id = store.create_run(
            name="old",
            spec={"task": "classification"},
            train_spec=legacy,
            dataset_spec=DatasetSpec(str(small_demo)).to_dict(),
        )
        store.finish_run(run_id, RunStatus.FAILED)
        job = resume_job(run_id, db_url=db_url, store=store)
        assert job.train.best_metric == "val/loss" and not job.train.stops_early
        assert job.train.modality_dropout == 0.0
        # training settings given with the resume still win
        longer = resume_job(run_id, db_url=db_url, store=store, train={"epochs": 9, "patience": 2})
        assert (longer.train.epochs, longer.train.patience, longer.train.best_metric) == (9, 2, "val/loss")
        run = store.get_run(run_id)
        assert make_record(run, {}).train_spec == legacy
