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
    with Store.open(db_url) as store:
        folder = store.run_dir(result.run_id)
    assert read_checkpoint_meta(folder / "last")["dataset"] == recorded


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
    with pytest.raises(ResumeError, match="is completed; only a failed, stopped or interrupted run"):
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


def test_a_runs_dataset_is_loaded_again_with_a_word_when_it_changed_or_is_gone(tmp_path, db_url, small_demo):
    """:func:`load_recorded` (the Compare page's test items): the recorded spec, or for an old record
    its dataset row's folder; a changed fingerprint or missing files are said, never raised."""
    from mmstudio.training.resume import load_recorded

    copy = tmp_path / "copy"
    shutil.copytree(small_demo, copy)
    fingerprint = DatasetSpec(str(copy), check_images="header").load().fingerprint
    with Store.open(db_url) as store:
        row = store.ensure_dataset(
            name="copy", path=copy, format="manifest", fingerprint=fingerprint, item_count=240, summary={}
        )
        spec = DatasetSpec(str(copy), format="manifest", seed=3).to_dict()
        recorded = store.create_run(name="new", dataset_id=row.id, dataset_spec=spec)
        legacy = store.create_run(name="old", dataset_id=row.id)
        stale = store.ensure_dataset(
            name="before", path=copy, format="manifest", fingerprint="older", item_count=240, summary={}
        )
        changed = store.create_run(name="changed", dataset_id=stale.id, dataset_spec=spec)
        nothing = store.create_run(name="none")

        dataset, warning = load_recorded(store, recorded)
        assert warning == "" and len(dataset.items) == 240
        assert load_recorded(store, legacy)[0].fingerprint == fingerprint
        dataset, warning = load_recorded(store, changed)
        assert dataset is not None and "changed since run" in warning
        assert load_recorded(store, nothing) == (
            None,
            f"run {nothing} has no dataset on record: no images shown",
        )
        shutil.rmtree(copy)
        dataset, warning = load_recorded(store, recorded)
        assert dataset is None and f"{copy} is gone" in warning


def test_an_old_record_of_a_folder_with_several_manifests_finds_the_one_it_trained_on(
    tmp_path, db_url, small_demo
):
    """Issue 12 #1: a record made before the file was kept names the folder; when that folder holds
    several manifests (no dataset by itself) the one whose fingerprint is the record's is taken, so the
    Compare page shows its items instead of 'FOLDER is not a manifest dataset'."""
    from mmstudio.training.resume import load_recorded, recorded_dataset

    folder = tmp_path / "several"
    shutil.copytree(small_demo, folder)
    rows = (folder / "manifest.csv").read_text().splitlines()
    (folder / "manifest.csv").rename(folder / "all.csv")
    (folder / "first.csv").write_text("\n".join(rows[:121]) + "\n")
    (folder / "second.csv").write_text("\n".join([rows[0], *rows[121:]]) + "\n")
    second = DatasetSpec(str(folder / "second.csv"), check_images="header").load()
    with Store.open(db_url) as store:
        row = store.ensure_dataset(
            name="several", path=folder, format="manifest", fingerprint=second.fingerprint,
            item_count=len(second.items), summary={},
        )  # fmt: skip
        legacy = store.create_run(name="old", dataset_id=row.id)
        assert recorded_dataset(store, legacy).path == str(folder / "second.csv")
        dataset, warning = load_recorded(store, legacy)
        assert warning == "" and dataset.fingerprint == second.fingerprint
        unknown = store.ensure_dataset(
            name="gone", path=folder, format="manifest", fingerprint="no such", item_count=1, summary={}
        )
        lost = store.create_run(name="lost", dataset_id=unknown.id)
        assert recorded_dataset(store, lost).path == str(folder)  # loading it names the manifests
