"""Runs: creation, detail, listing, status transitions, editing, cascade delete, orphan recovery."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from mmstudio.store import (
    DEFAULT_EXPERIMENT,
    InvalidTransitionError,
    NotFoundError,
    Prediction,
    RunDetail,
    RunStatus,
    RunSummary,
    Store,
)


def test_create_and_get_round_trip(store: Store) -> None:
    ds = store.ensure_dataset(
        name="demo", path="/data/demo", format="manifest", fingerprint="fp1", item_count=10
    )
    spec = {"task": "classification", "text_encoder": {"name": "textcnn", "dim": 64}}
    run_id = store.create_run(
        name="baseline",
        experiment="ablations",
        dataset_id=ds.id,
        spec=spec,
        train_spec={"epochs": 3, "lr": 1e-3},
        device="cpu",
        seed=42,
        tags=["fusion", "fusion", "  ", "cpu "],
        notes="first try",
    )
    run = store.get_run(run_id)
    assert isinstance(run, RunDetail)
    assert run.id == run_id and run.name == "baseline"
    assert run.status is RunStatus.QUEUED
    assert run.experiment == "ablations" and run.dataset == "demo" and run.dataset_id == ds.id
    assert run.spec == spec and run.train_spec == {"epochs": 3, "lr": 1e-3}
    assert (run.device, run.seed, run.notes, run.tags) == ("cpu", 42, "first try", ("fusion", "cpu"))
    assert run.created.tzinfo is UTC
    assert abs(run.created - datetime.now(UTC)) < timedelta(minutes=1)
    assert run.started is None and run.ended is None and run.duration_s is None
    assert run.metrics == {}


def test_default_experiment_and_default_name(store: Store) -> None:
    run_id = store.create_run()
    run = store.get_run(run_id)
    assert run.experiment == DEFAULT_EXPERIMENT
    assert run.name == f"run-{run_id}"
    assert [e.name for e in store.list_experiments()] == [DEFAULT_EXPERIMENT]


def test_unknown_references_raise_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.get_run(123)
    with pytest.raises(NotFoundError):
        store.create_run(experiment=99)
    with pytest.raises(NotFoundError):
        store.create_run(dataset_id=99)
    for call in (store.delete_run, store.start_run, lambda i: store.rename_run(i, "x")):
        with pytest.raises(NotFoundError):
            call(123)


def test_lifecycle_records_times_process_and_duration(store: Store) -> None:
    run_id = store.create_run(name="r")
    store.start_run(run_id, device="cuda:0")
    run = store.get_run(run_id)
    assert run.status is RunStatus.RUNNING
    assert run.pid == os.getpid() and run.hostname == socket.gethostname()
    assert run.device == "cuda:0" and run.started is not None
    time.sleep(0.02)
    store.finish_run(run_id)
    run = store.get_run(run_id)
    assert run.status is RunStatus.COMPLETED
    assert run.ended is not None and run.ended >= run.started
    assert run.duration_s == pytest.approx((run.ended - run.started).total_seconds())
    assert run.duration_s >= 0.02


def test_failure_keeps_message_and_traceback(store: Store) -> None:
    run_id = store.create_run()
    store.start_run(run_id)
    store.set_status(run_id, "failed", error_message="CUDA out of memory", error_traceback="Traceback ...")
    run = store.get_run(run_id)
    assert run.status is RunStatus.FAILED
    assert (run.error_message, run.error_traceback) == ("CUDA out of memory", "Traceback ...")


def test_resume_accumulates_duration_and_clears_the_error(store: Store) -> None:
    run_id = store.create_run()
    store.start_run(run_id)
    store.finish_run(run_id, "interrupted", error_message="stopped")
    first = store.get_run(run_id).duration_s
    store.start_run(run_id)  # resumed from a checkpoint into the same run
    assert store.get_run(run_id).error_message is None
    time.sleep(0.01)
    store.finish_run(run_id)
    run = store.get_run(run_id)
    assert run.status is RunStatus.COMPLETED
    assert run.duration_s > first


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ((), "completed"),  # queued -> completed
        ((), "interrupted"),
        (("running", "completed"), "running"),  # completed is final
        (("running", "completed"), "failed"),
        (("running",), "queued"),
    ],
)
def test_invalid_transitions_are_refused(store: Store, path: tuple[str, ...], bad: str) -> None:
    run_id = store.create_run()
    for status in path:
        store.set_status(run_id, status)
    before = store.get_run(run_id).status
    with pytest.raises(InvalidTransitionError, match=f"cannot become {bad}"):
        store.set_status(run_id, bad)
    assert store.get_run(run_id).status == before


def test_queued_run_can_be_cancelled_without_duration(store: Store) -> None:
    run_id = store.create_run()
    store.finish_run(run_id, "cancelled")
    run = store.get_run(run_id)
    assert run.status is RunStatus.CANCELLED and run.ended is not None and run.duration_s is None


def test_finish_run_needs_a_finished_status(store: Store) -> None:
    run_id = store.create_run()
    store.start_run(run_id)
    with pytest.raises(InvalidTransitionError):
        store.finish_run(run_id, "queued")
    with pytest.raises(ValueError):
        store.set_status(run_id, "exploded")


def test_rename_tags_notes(store: Store) -> None:
    run_id = store.create_run(name="a", tags=["x"])
    store.rename_run(run_id, "  better name ")
    store.set_tags(run_id, ["b", "a", "b", ""])
    store.set_notes(run_id, "multi\nline")
    run = store.get_run(run_id)
    assert (run.name, run.tags, run.notes) == ("better name", ("b", "a"), "multi\nline")
    with pytest.raises(ValueError):
        store.rename_run(run_id, "   ")


def test_list_runs_newest_first_with_filters_and_last_metrics(store: Store) -> None:
    ds = store.ensure_dataset(name="demo", path="/d", format="coco", fingerprint="f", item_count=3)
    ids = [
        store.create_run(name=n, dataset_id=ds.id if n == "beta" else None)
        for n in ("alpha", "beta", "Gamma")
    ]
    store.start_run(ids[1], device="cpu")
    store.log_metrics(ids[1], [("train/loss", 1, 0.0, 1.0, None), ("train/loss", 2, 0.0, 0.5, None)])
    store.log_metrics(ids[1], [("val/accuracy", 1, 1.0, 0.7, None)])
    store.finish_run(ids[1])
    store.set_tags(ids[2], ["keep"])

    runs = store.list_runs()
    assert [r.id for r in runs] == ids[::-1]
    assert all(isinstance(r, RunSummary) and r.created.tzinfo is UTC for r in runs)
    beta = runs[1]
    assert beta.metrics == {"train/loss": 0.5, "val/accuracy": 0.7}
    assert (beta.dataset, beta.device, beta.experiment, beta.status) == (
        "demo",
        "cpu",
        "Default",
        "completed",
    )
    assert beta.duration_s is not None and beta.duration_s >= 0
    assert runs[0].metrics == {}

    assert [r.name for r in store.list_runs(status="completed")] == ["beta"]
    assert [r.name for r in store.list_runs(status=["queued"])] == ["Gamma", "alpha"]
    assert [r.name for r in store.list_runs(name_contains="gam")] == ["Gamma"]  # case-insensitive
    assert store.list_runs(name_contains="%") == []  # wildcards are literal
    assert [r.name for r in store.list_runs(tag="keep")] == ["Gamma"]
    assert [r.name for r in store.list_runs(limit=2)] == ["Gamma", "beta"]
    assert [r.name for r in store.list_runs(run_ids=[ids[0]])] == ["alpha"]
    assert [r.name for r in store.list_runs(experiment="Default", limit=1)] == ["Gamma"]
    assert store.list_runs(experiment="nope") == []


def test_delete_run_cascades_to_everything_it_owns(store: Store, tmp_path: Path) -> None:
    keep = store.create_run(name="keep")
    gone = store.create_run(name="gone")
    for run_id in (keep, gone):
        store.log_metrics(run_id, [("train/loss", s, None, 1.0 / (s + 1), None) for s in range(50)])
        ev = store.add_evaluation(run_id, split="test", metrics={"accuracy": 0.5})
        store.add_predictions(
            run_id,
            [Prediction(item_index=i, true_label="a", predicted_label="b") for i in range(5)],
            evaluation_id=ev,
        )
        f = tmp_path / f"ckpt-{run_id}.safetensors"
        f.write_bytes(b"weights")
        store.add_artifact(run_id, "checkpoint", f)

    def counts(run_id: int) -> dict[str, int]:
        tables = ("metrics", "metric_summaries", "metric_blocks", "evaluations", "predictions", "artifacts")
        with store._db.read() as conn:
            return {
                t: conn.execute(
                    text(f"SELECT count(*) FROM {t} WHERE run_id = :r"), {"r": run_id}
                ).scalar_one()
                for t in tables
            }

    assert all(n > 0 for n in counts(gone).values())
    store.delete_run(gone)
    assert counts(gone) == dict.fromkeys(counts(gone), 0)
    assert all(n > 0 for n in counts(keep).values())
    assert [r.name for r in store.list_runs()] == ["keep"]
    with pytest.raises(NotFoundError):
        store.delete_run(gone)


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


def test_runs_of_dead_processes_are_marked_interrupted_on_open(db_url: str) -> None:
    dead = _dead_pid()
    with Store.open(db_url) as store:
        orphan = store.create_run(name="orphan")
        store.start_run(orphan, pid=dead)
        t = time.time()
        store.log_metrics(orphan, [("train/loss", 1, 0.0, 1.0, t), ("train/loss", 2, 0.0, 0.9, t + 1)])
        alive = store.create_run(name="alive")
        store.start_run(alive)  # this process: alive
        remote = store.create_run(name="remote")
        store.start_run(remote, pid=dead, hostname="another-machine")  # unknown: left alone
        done = store.create_run(name="done")
        store.start_run(done, pid=dead)
        store.finish_run(done)

    with Store.open(db_url) as store:
        assert store.interrupted == (orphan,)
        run = store.get_run(orphan)
        assert run.status is RunStatus.INTERRUPTED
        assert f"pid {dead}" in run.error_message
        assert run.ended == datetime.fromtimestamp(t + 1, UTC)  # the last sign of life
        assert run.duration_s == pytest.approx((run.ended - run.started).total_seconds())
        assert store.get_run(alive).status is RunStatus.RUNNING
        assert store.get_run(remote).status is RunStatus.RUNNING
        assert store.get_run(done).status is RunStatus.COMPLETED
        assert store.mark_orphaned_runs() == []  # idempotent

    with Store.open(db_url) as store:
        assert store.interrupted == ()


def test_a_live_run_of_another_machine_with_the_same_host_name_is_left_alone(db_url: str) -> None:
    """Issue 13 E: a run started on another machine that shares this host name (its machine id
    differs) is never marked interrupted here, even when its pid is dead on this machine."""
    from mmstudio.store import owner

    dead = _dead_pid()
    with Store.open(db_url) as store:
        theirs = store.create_run(name="theirs")
        store.start_run(theirs, pid=dead)  # as this host name ...
    with Store.open(db_url, mark_orphans=False) as store, store._db.write() as conn:  # ... other machine
        conn.execute(
            text(
                "UPDATE runs SET machine_id = 'another-machine-id', boot_id = 'b', process_start = 1 "
                "WHERE id = :i"
            ),
            {"i": theirs},
        )
    with Store.open(db_url) as store:
        assert store.interrupted == ()
        run = store.get_run(theirs)
        assert run.status is RunStatus.RUNNING and run.hostname == owner.this_machine().hostname


def test_a_run_records_its_machine_boot_and_process_start(db_url: str) -> None:
    """Issue 13 E: entering running records the machine id, the boot id and the process start time."""
    from mmstudio.store import owner

    with Store.open(db_url) as store:
        run = store.create_run(name="here")
        store.start_run(run)
        with store._db.read() as conn:
            row = conn.execute(
                text("SELECT machine_id, boot_id, process_start FROM runs WHERE id = :i"), {"i": run}
            ).one()
    here = owner.this_machine()
    assert row.machine_id == here.machine_id and row.boot_id == here.boot_id
    if sys.platform.startswith("linux"):
        assert row.process_start == owner.process_start(os.getpid()) is not None


def test_a_reused_pid_does_not_keep_an_orphan_alive() -> None:
    """Issue 13 E: the pid alive but started at another time (reused) means the run's process is
    gone; a different boot means gone only when the run was silent since this boot began."""
    from mmstudio.store.owner import Machine, is_dead

    here = Machine("box", "m1", "b1")
    alive = lambda pid: True  # noqa: E731
    start = lambda pid: 500  # noqa: E731
    assert is_dead(here, 7, "m1", "b1", 400, None, alive=alive, started_at=start)  # reused
    assert not is_dead(here, 7, "m1", "b1", 500, None, alive=alive, started_at=start)  # the same process
    assert not is_dead(here, 7, "m2", "b1", 400, None, alive=lambda pid: False)  # another machine
    assert is_dead(here, 7, "m1", "b1", 500, None, alive=lambda pid: False)
    booted = lambda: 1000.0  # noqa: E731
    assert is_dead(here, 7, "m1", "b0", 500, 900.0, booted=booted)  # silent since before this boot
    assert not is_dead(here, 7, "m1", "b0", 500, 1100.0, booted=booted)  # a clone, alive now
    assert not is_dead(here, None, "m1", "b1", None, None)
    assert is_dead(here, 7, None, None, None, None, alive=lambda pid: False)  # recorded before 0004


def test_a_stop_is_asked_through_the_store_once_and_cleared_by_the_next_start(store: Store) -> None:
    run_id = store.create_run()
    with pytest.raises(InvalidTransitionError, match="is queued, not running: there is nothing to stop"):
        store.request_stop(run_id)
    store.start_run(run_id)
    assert not store.stop_requested(run_id)
    assert store.request_stop(run_id) is True
    assert store.request_stop(run_id) is False  # asked already
    assert store.stop_requested(run_id)
    store.finish_run(run_id, RunStatus.CANCELLED)
    with pytest.raises(InvalidTransitionError, match="is cancelled, not running"):
        store.request_stop(run_id)
    store.start_run(run_id)  # resumed: the stop asked of the first attempt is not this one's
    assert not store.stop_requested(run_id)
