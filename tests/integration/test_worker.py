"""The training worker: a real ``spawn`` process, its throttled events, pause / resume / stop, and a
SIGKILL mid-epoch that loses nothing already flushed and can be resumed into the same run."""

from __future__ import annotations

import os
import platform
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from mmstudio.store import Store
from mmstudio.store.types import RunStatus
from mmstudio.training import events as ev
from mmstudio.training.checkpoints import read_checkpoint_meta
from mmstudio.training.runner import run_job
from mmstudio.training.spec import RunJob
from mmstudio.training.worker import ThrottledSender, WorkerHandle, describe_exit, start_worker

pytestmark = pytest.mark.slow


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "store.db"


_unchecked: dict[int, list] = {}  # per handle: events read (and in ``seen``) after the one a wait returned


def wait_for(handle: WorkerHandle, seen: list, predicate, timeout: float = 60.0):
    """Read events into ``seen`` until one satisfies ``predicate``; return it. Events that came in
    the same batch after it are checked by the next wait, not skipped."""
    deadline = time.monotonic() + timeout
    backlog = _unchecked.setdefault(id(handle), [])
    while True:
        fresh = handle.events(timeout=0.0 if backlog else 0.2)
        seen += fresh
        batch, backlog[:] = [*backlog, *fresh], []
        for i, event in enumerate(batch):
            if predicate(event):
                backlog[:] = batch[i + 1 :]
                return event
        if (handle.finished and not handle.is_alive) or time.monotonic() >= deadline:
            break
    raise AssertionError(f"no such event; saw {[type(e).__name__ for e in seen][-20:]}")


def terminal(event) -> bool:
    return isinstance(event, ev.TERMINAL)


def test_a_worker_trains_a_job_end_to_end(db_path, make_job):
    handle = start_worker(make_job(f"sqlite:///{db_path}"))
    seen: list = []
    try:
        finished = wait_for(handle, seen, terminal)
    finally:
        seen += handle.close()
    assert isinstance(finished, ev.RunFinished) and finished.status == "completed", finished
    assert handle.exitcode == 0 and not handle.is_alive
    started = next(e for e in seen if isinstance(e, ev.RunStarted))
    assert handle.run_id == started.run_id == finished.run_id
    points = [p for e in seen if isinstance(e, ev.MetricsLogged) for p in e.points]
    assert [s for k, s, _, _ in points if k == "train/loss"] == list(range(1, 13))  # coalesced, not lost
    with Store.open(f"sqlite:///{db_path}") as store:
        run = store.get_run(handle.run_id)
        assert run.status == RunStatus.COMPLETED and run.pid == handle.pid
        assert {"train/loss", "val/accuracy", "test/accuracy", "test_image_masked/accuracy"} <= set(
            run.metrics
        )
        assert len(store.list_evaluations(run.id)) == 4
        assert store.list_predictions(run.id)
        assert len(store.list_artifacts(run.id, kind="checkpoint")) == 2


def test_pause_resume_and_stop(db_path, make_job):
    handle = start_worker(make_job(f"sqlite:///{db_path}", epochs=50))
    seen: list = []
    try:
        wait_for(handle, seen, lambda e: isinstance(e, ev.MetricsLogged))
        handle.pause()
        paused = wait_for(handle, seen, lambda e: isinstance(e, ev.RunPaused))
        time.sleep(0.5)
        quiet = handle.drain()
        assert not [e for e in quiet if isinstance(e, ev.MetricsLogged | ev.ProgressUpdated)]
        handle.resume()
        resumed = wait_for(handle, seen, lambda e: isinstance(e, ev.RunResumed))
        assert resumed.step == paused.step
        wait_for(handle, seen, lambda e: isinstance(e, ev.MetricsLogged) and e.points[-1][1] > paused.step)
        handle.stop()
        finished = wait_for(handle, seen, terminal)
    finally:
        seen += handle.close()
    assert isinstance(finished, ev.RunFinished) and finished.status == "cancelled"
    assert "test/accuracy" in finished.metrics
    final = [e for e in seen if isinstance(e, ev.CheckpointSaved) and e.kind == "final"]
    assert len(final) == 1 and os.path.isfile(final[0].path)
    with Store.open(f"sqlite:///{db_path}") as store:
        run = store.get_run(handle.run_id)
        assert run.status == RunStatus.CANCELLED
        assert store.read_curve(run.id, "train/loss").step.max() == final[0].step


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_epoch_keeps_what_was_flushed_and_resumes(db_path, make_job):
    url = f"sqlite:///{db_path}"
    job = make_job(f"sqlite:///{db_path}", epochs=40, batch_size=8)  # 24 steps an epoch
    handle = start_worker(job)
    seen: list = []
    try:
        epoch = wait_for(handle, seen, lambda e: isinstance(e, ev.EpochEnded))
        # The epoch's checkpoint is written in the background; kill only once it is committed.
        wait_for(handle, seen, lambda e: isinstance(e, ev.CheckpointSaved) and e.kind == "last")
        wait_for(handle, seen, lambda e: isinstance(e, ev.MetricsLogged) and e.points[-1][1] > epoch.step + 2)
        os.kill(handle.pid, signal.SIGKILL)
        while handle.is_alive:  # reaps the child, so the store sees its pid gone
            time.sleep(0.05)
        # The store's own check marks the orphan, before the handle's watchdog has even looked.
        with Store.open(url) as store:
            assert store.interrupted == (handle.run_id,)
        crashed = wait_for(handle, seen, terminal, timeout=10)
    finally:
        seen += handle.close()
    assert isinstance(crashed, ev.RunFailed) and crashed.kind == "crashed" and crashed.run_id == handle.run_id
    assert handle.exitcode == -signal.SIGKILL

    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Store.open(url) as store:
        run = store.get_run(handle.run_id)
        assert run.status == RunStatus.INTERRUPTED and "pid" in run.error_message
        stored = store.read_curve(run.id, "train/loss").step.tolist()
    # Everything up to the epoch end was written before EpochEnded reached this process.
    assert stored[: epoch.step] == list(range(1, epoch.step + 1))
    assert stored == list(range(1, len(stored) + 1))

    # Resume from the last checkpoint (an epoch end) and finish the epoch that was cut short.
    with Store.open(f"sqlite:///{db_path}", mark_orphans=False) as store:
        checkpoint = read_checkpoint_meta(store.run_dir(run.id) / "last")
    assert checkpoint["step"] >= epoch.step and checkpoint["step"] % 24 == 0
    epochs = checkpoint["epoch"] + 1
    resumed_job = RunJob.from_dict(
        {**job.to_dict(), "train": {**job.train.to_dict(), "epochs": epochs}, "resume_run_id": run.id}
    )
    seen = []
    result = run_job(resumed_job, on_event=seen.append)
    assert result.status == "completed" and result.run_id == run.id, result.message
    assert next(e for e in seen if isinstance(e, ev.RunStarted)).start_step == checkpoint["step"]
    with Store.open(url) as store:
        assert store.get_run(run.id).status == RunStatus.COMPLETED
        steps = store.read_curve(run.id, "train/loss").step.tolist()
    assert steps == list(range(1, 24 * epochs + 1))  # continuous: no gap, no duplicate


def test_the_watchdog_records_a_killed_worker(db_path, make_job):
    """Without the store's orphan check: the handle itself marks the run and reports the crash."""
    handle = start_worker(make_job(f"sqlite:///{db_path}", epochs=40))
    seen: list = []
    try:
        wait_for(handle, seen, lambda e: isinstance(e, ev.RunStarted))
        os.kill(handle.pid, signal.SIGTERM)
        crashed = wait_for(handle, seen, terminal, timeout=20)
    finally:
        seen += handle.close()
    assert crashed.kind == "crashed" and "SIGTERM" in crashed.message
    with Store.open(f"sqlite:///{db_path}", mark_orphans=False) as store:
        run = store.get_run(handle.run_id)
        assert run.status == RunStatus.INTERRUPTED and run.error_message == crashed.message


def test_exit_codes_are_explained():
    assert describe_exit(-signal.SIGKILL)[0] == "interrupted"
    assert "SIGKILL" in describe_exit(-signal.SIGKILL)[1]
    status, message = describe_exit(-signal.SIGSEGV)
    assert status == "failed" and "SIGSEGV" in message
    assert describe_exit(1) == (
        "failed",
        "the training process ended unexpectedly (exit code 1) without reporting a result",
    )


class ListQueue(list):
    def put(self, item):
        self.append(item)


def test_the_sender_coalesces_points_and_progress_but_never_delays_other_events():
    clock = [0.0]
    queue = ListQueue()
    sender = ThrottledSender(queue, interval_s=0.05, clock=lambda: clock[0])
    for step in range(1, 1001):  # 1000 steps in 0.1 s
        clock[0] = step * 1e-4
        sender(ev.MetricsLogged(1, (("train/loss", step, 1, 1.0),)))
        sender(ev.ProgressUpdated(1, 1, step, 1000, 1.0, None))
    sender(ev.EpochEnded(1, 1, 1000))
    assert len(queue) <= 8  # ~20 sends a second, two events each, plus the epoch end
    assert isinstance(queue[-1], ev.EpochEnded)
    points = [p for e in queue if isinstance(e, ev.MetricsLogged) for p in e.points]
    assert [p[1] for p in points] == list(range(1, 1001))
    assert [e.step for e in queue if isinstance(e, ev.ProgressUpdated)][-1] == 1000


def test_the_worker_keeps_freed_memory_with_glibc_only():
    # In a fresh interpreter: the setting is process-wide, and this one runs the other tests.
    code = "from mmstudio.training.worker import keep_freed_memory; print(keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert out.stdout.strip() == str(glibc)


DETACHING_PARENT = """
import sys, time
from mmstudio.data.spec import DatasetSpec
from mmstudio.training import events as ev
from mmstudio.training.spec import RunJob, TrainSpec
from mmstudio.training.worker import start_worker

if __name__ == "__main__":
    data, db = sys.argv[1], sys.argv[2]
    train = TrainSpec(epochs=40, batch_size=32, image_size=32, max_len=16, device="cpu")
    job = RunJob(dataset=DatasetSpec(data, check_images="header"), model={"task": "classification"},
                 train=train, db_url=db)
    handle = start_worker(job)
    deadline = time.monotonic() + 120
    while handle.run_id is None and time.monotonic() < deadline:
        handle.events(timeout=0.5)
    handle.detach()
    print(handle.run_id, handle.pid, flush=True)
"""


def test_a_detached_worker_outlives_its_parent_and_records_its_run(small_demo, db_path, tmp_path):
    """A GUI closed with "keep running": the parent exits at once, the worker trains on and its run
    ends completed in the store, and nothing is left behind."""
    script = tmp_path / "parent.py"
    script.write_text(DETACHING_PARENT)
    started = time.monotonic()
    out = tmp_path / "parent.out"
    with open(out, "w") as sink:  # a file, not a pipe: the worker inherits it and keeps it open
        parent = subprocess.Popen(
            [sys.executable, str(script), str(small_demo), f"sqlite:///{db_path}"], stdout=sink, stderr=sink
        )
        assert parent.wait(timeout=180) == 0, out.read_text()
    parent_s = time.monotonic() - started
    run_id, pid = (int(x) for x in out.read_text().split()[:2])
    with Store.open(f"sqlite:///{db_path}", mark_orphans=False) as store:
        assert store.get_run(run_id).status == RunStatus.RUNNING, parent_s  # the parent did not wait
    deadline = started + 300
    while time.monotonic() < deadline:
        with Store.open(f"sqlite:///{db_path}", mark_orphans=False) as store:
            status = store.get_run(run_id).status
        if status != RunStatus.RUNNING:
            break
        time.sleep(0.5)
    assert status == RunStatus.COMPLETED
    for _ in range(100):  # reaped by the system once it ends: no zombie under this test either
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the detached worker {pid} is still there after its run completed")
