"""The whole job is stored with each run, and resuming reads it: one path for the Train page and
``mmstudio train --resume`` (:mod:`mmstudio.training.resume`)."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from mmstudio.data.spec import DatasetSpec
from mmstudio.store import Store
from mmstudio.training import events as ev
from mmstudio.training.checkpoints import read_checkpoint_meta
from mmstudio.training.resume import ResumeError, recorded_dataset, resume_job
from mmstudio.training.runner import TrainingControl, run_job


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def stopped_run(job) -> int:
    """Run ``job`` and stop it during its second epoch: a cancelled run with a checkpoint."""
    control = TrainingControl()

    def stop_at_step_8(event):
        if isinstance(event, ev.MetricsLogged) and any(p[1] >= 8 for p in event.points):
            control.stop()

    result = run_job(job, on_event=stop_at_step_8, control=control)
    assert result.status == "cancelled", result.message
    return result.run_id


def test_a_run_records_the_dataset_it_loaded(small_demo, db_url, make_job, monkeypatch):
    """The exact path (made absolute: a relative one means nothing elsewhere), the detected format,
    the column roles and split settings as given; the checkpoint carries the same spec."""
    monkeypatch.chdir(small_demo.parent)
    job = dataclasses.replace(
        make_job(db_url, epochs=1), dataset=DatasetSpec(small_demo.name, seed=5, check_images="header")
    )
    result = run_job(job)
    assert result.status == "completed", result.message
    with Store.open(db_url) as store:
        recorded = store.get_run(result.run_id).dataset_spec
    assert recorded == {
        "path": str(small_demo),
        "format": "manifest",
        "columns": None,
        "val_fraction": 0.1,
        "test_fraction": 0.1,
        "seed": 5,
        "stratify": True,
        "check_images": "header",
    }
    from mmstudio.paths import run_dir

    assert read_checkpoint_meta(run_dir(result.run_id) / "last")["dataset"] == recorded


def test_resume_job_rebuilds_the_stored_job_and_the_run_continues(db_url, make_job):
    run_id = stopped_run(make_job(db_url, name="stopped", epochs=3, lr=5e-3, seed=4))
    job = resume_job(run_id, db_url=db_url)
    with Store.open(db_url) as store:
        run = store.get_run(run_id)
    assert job.resume_run_id == run_id and job.name == "stopped" and job.experiment == run.experiment
    assert job.dataset.to_dict() == run.dataset_spec
    assert job.train.to_dict() == run.train_spec and (job.train.lr, job.train.seed) == (5e-3, 4)
    assert job.model == run.spec
    assert resume_job(run_id, db_url=db_url, train={"epochs": 4}).train.epochs == 4

    result = run_job(job)
    assert result.status == "completed" and result.run_id == run_id and result.steps == 18


def test_a_moved_dataset_is_named_and_a_copy_can_be_given(tmp_path, db_url, make_job):
    original = tmp_path / "original"
    shutil.copytree(make_job(db_url).dataset.path, original)
    run_id = stopped_run(make_job(db_url, data=original, epochs=3))
    with Store.open(db_url) as store:
        recorded = store.get_run(run_id).dataset_spec
    moved = tmp_path / "moved"
    original.rename(moved)

    with pytest.raises(ResumeError, match=rf"dataset {original} is gone.*--data PATH"):
        resume_job(run_id, db_url=db_url)
    job = resume_job(run_id, db_url=db_url, data=moved)
    assert job.dataset.to_dict() == {**recorded, "path": str(moved)}  # the recorded settings, the copy's path
    opened = resume_job(run_id, db_url=db_url, current=DatasetSpec(str(moved)))
    assert opened.dataset.to_dict() == {**recorded, "path": str(moved)}
    with Store.open(db_url) as store:
        with pytest.raises(ResumeError, match="is gone"):
            recorded_dataset(store, run_id)
        assert recorded_dataset(store, run_id, check=False).path == str(original)

    result = run_job(job)
    assert result.status == "completed", result.message
    with Store.open(db_url) as store:
        assert store.get_run(run_id).dataset_spec["path"] == str(moved)  # where it went on


def test_only_a_stopped_run_can_be_resumed(db_url, make_job):
    done = run_job(make_job(db_url, epochs=1))
    with pytest.raises(ResumeError, match="is completed; only a failed, cancelled or interrupted run"):
        resume_job(done.run_id, db_url=db_url)


def test_a_run_recorded_before_the_spec_was_kept_resumes_on_its_folder(tmp_path, db_url):
    """No dataset spec (an old store, no checkpoint to backfill from): the dataset record's folder, or
    the manifest the user has open in that folder (the record named only the folder)."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "manifest_train.csv").write_text("image,text\n")
    with Store.open(db_url) as store:
        dataset = store.ensure_dataset(
            name="data", path=folder, format="manifest", fingerprint="f", item_count=1, summary={}
        )
        run_id = store.create_run(name="old", dataset_id=dataset.id, train_spec={"epochs": 7})
        store.start_run(run_id, pid=1, hostname="h", device="cpu")
        store.finish_run(run_id, "cancelled")
        assert store.get_run(run_id).dataset_spec is None
    assert resume_job(run_id, db_url=db_url).dataset == DatasetSpec(str(folder))
    manifest = DatasetSpec(str(folder / "manifest_train.csv"), format="manifest")
    job = resume_job(run_id, db_url=db_url, current=manifest)
    assert job.dataset == manifest and job.train.epochs == 7
    other = DatasetSpec(str(tmp_path))
    assert resume_job(run_id, db_url=db_url, current=other).dataset == DatasetSpec(str(folder))
