"""Evaluating a saved run: the overlap of the evaluated items with the run's training split is counted
and warned of, the steps report progress, and a cancelled evaluation stops and records nothing."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from mmstudio.data.spec import DatasetSpec
from mmstudio.progress import Cancelled
from mmstudio.store import Store
from mmstudio.training.inference import evaluate_run
from mmstudio.training.runner import run_job


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def trained(db_url, make_job) -> int:
    result = run_job(make_job(db_url, epochs=1))
    assert result.status == "completed", result.message
    return result.run_id


def load(path: Path):
    return DatasetSpec(str(path), check_images="header").load()


def test_a_copy_of_the_training_images_is_counted_and_warned_of(trained, db_url, small_demo, tmp_path):
    copy = Path(shutil.copytree(small_demo, tmp_path / "downloaded-again"))
    own = load(small_demo)
    trained_on = {Path(i.image.path).name for i in own.items if i.split == "train"}

    result = evaluate_run(trained, load(copy), db_url=db_url)
    assert result["items"] == len(own.items) == 240
    assert result["overlap"]["shared"] == len(trained_on) > 0  # a copy elsewhere: found by content
    assert result["overlap"]["by"] == "image content"
    [warning] = result["warnings"]
    assert f"{len(trained_on):,} of the 240 evaluated items" in warning and f"run {trained}" in warning

    # the run's own test split shares nothing with its train split: no warning
    clean = evaluate_run(trained, own, split="test", db_url=db_url)
    assert clean["overlap"]["shared"] == 0 and clean["warnings"] == [] and clean["items"] == 24


def test_an_unrelated_dataset_shares_nothing(trained, db_url, tmp_path):
    from mmstudio.data.demo import write_demo

    other = tmp_path / "other"
    write_demo(other, n_items=60, image_size=32, seed=99)
    result = evaluate_run(trained, load(other), db_url=db_url)
    assert result["overlap"]["shared"] == 0 and result["warnings"] == []


def test_the_overlap_is_said_unchecked_when_the_training_data_is_gone(db_url, make_job, small_demo, tmp_path):
    moved = Path(shutil.copytree(small_demo, tmp_path / "moving"))
    result = run_job(make_job(db_url, data=moved, epochs=1))
    assert result.status == "completed", result.message
    dataset = load(moved)
    shutil.rmtree(moved)
    evaluated = evaluate_run(result.run_id, dataset, split="test", db_url=db_url)
    assert evaluated["overlap"]["shared"] is None and "not checked" in evaluated["overlap"]["reason"]
    assert any("not checked" in note for note in evaluated["notes"])


def test_each_step_reports_progress_and_cancel_stops_it_recording_nothing(trained, db_url, small_demo):
    stages: list[str] = []
    steps: list[tuple[str, int, int]] = []
    evaluate_run(
        trained,
        load(small_demo),
        split="test",
        db_url=db_url,
        stage=stages.append,
        progress=lambda done, total: steps.append((stages[-1], done, total)),
    )
    assert stages[0] == "Loading the checkpoint"
    assert (
        "Preparing the images" in stages and "Looking for training images among the evaluated items" in stages
    )
    scoring = [s for s in stages if s.startswith("Scoring 24 items")]
    assert scoring == ["Scoring 24 items", "Scoring 24 items, text masked", "Scoring 24 items, image masked"]
    assert ("Scoring 24 items", 1, 1) in steps  # 24 items in one batch of 64

    with Store.open(db_url) as store:
        before = len(store.list_evaluations(trained))
    cancel = threading.Event()

    def stage(message: str) -> None:
        if message.startswith("Scoring") and "masked" in message:
            cancel.set()  # the fused scores are done: nothing may be recorded all the same

    with pytest.raises(Cancelled):
        evaluate_run(trained, load(small_demo), db_url=db_url, stage=stage, cancel=cancel)
    with Store.open(db_url) as store:
        assert len(store.list_evaluations(trained)) == before
