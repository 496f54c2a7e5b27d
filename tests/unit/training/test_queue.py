"""The run queue's rules: titles and labels, the next waiting entry, only waiting entries move, an
active one stays, clear finished keeps what waits or runs, an entry's life from queued to ended."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mmstudio.data.spec import DatasetSpec
from mmstudio.training.queue import ENTRY_STATUSES, QueueEntry, RunQueue
from mmstudio.training.spec import RunJob, TrainSpec
from mmstudio.vocabulary import RUN_STATUSES

MODEL = {
    "task": "classification",
    "text_encoder": {"name": "textcnn"},
    "image_encoder": {"name": "small_cnn"},
    "fusion": {"name": "concat"},
}


def _job(name: str | None = None, model: dict | None = None, **train) -> RunJob:
    spec = TrainSpec(**{"epochs": 2, "batch_size": 32, "lr": 0.003, **train})
    return RunJob(DatasetSpec(path="data"), model=MODEL if model is None else model, train=spec, name=name)


def _queue(*names: str) -> RunQueue:
    queue = RunQueue()
    for name in names:
        queue.append(_job(name))
    return queue


def _names(queue: RunQueue) -> list[str | None]:
    return [e.job.name for e in queue]


def test_a_job_title_names_the_run_its_architecture_and_settings():
    assert _job("first").title == "first · textcnn + small_cnn + concat · 2 epochs, batch 32, lr 0.003"
    assert _job(lr=3e-5).title.startswith("new run · ")
    assert _job(lr=3e-5).title.endswith("lr 3e-05")
    text_only = {**MODEL, "image_encoder": {"name": "none"}, "fusion": None}
    assert _job(model=text_only).title.split(" · ")[1] == "textcnn"
    assert _job(model={}).title.split(" · ")[1] == "default model"
    resumed = RunJob(DatasetSpec(path="data"), model={}, resume_run_id=7)
    assert resumed.title.startswith("resume run 7 · ")


def test_an_entry_goes_from_queued_to_how_its_run_ended():
    entry = QueueEntry(_job("a"))
    assert entry.title == entry.job.title and entry.waiting and not entry.active
    assert entry.label == f"[queued] {entry.title}"
    entry.start()
    assert entry.status == "starting" and entry.active
    entry.run(run_id=3)
    assert entry.status == "running" and entry.run_id == 3
    assert entry.label == f"[running] run 3 · {entry.title}"
    entry.end("failed", "out of memory")
    assert (entry.status, entry.message, entry.run_id) == ("failed", "out of memory", 3)
    assert QueueEntry(_job("b"), status="cancelled", run_id=4).label.startswith("[stopped] run 4 · ")
    assert not entry.waiting and not entry.active
    with pytest.raises(ValueError, match="unknown queue status"):
        entry.end("exploded")
    assert QueueEntry(_job(), title="mine").title == "mine"
    assert set(RUN_STATUSES) < set(ENTRY_STATUSES) and "starting" in ENTRY_STATUSES


def test_the_next_entry_is_the_first_waiting_one_and_a_started_job_goes_before_it():
    queue = _queue("a", "b")
    assert queue.next_waiting() is queue[0] and queue.has_waiting()
    queue[0].start()
    assert queue.next_waiting() is queue[1]
    queue[0].end("completed")
    now = queue.insert_next(_job("now"))
    assert _names(queue) == ["a", "now", "b"] and queue.next_waiting() is now
    queue.append(_job("last"))
    assert _names(queue)[-1] == "last"
    for entry in queue:
        entry.end("cancelled")
    assert queue.next_waiting() is None and not queue.has_waiting()
    assert queue.insert_next(_job("end")) is queue[len(queue) - 1]


def test_only_waiting_entries_change_places():
    queue = _queue("a", "b", "c")
    assert queue.move(2, -1) and _names(queue) == ["a", "c", "b"]
    assert queue.move(0, 1) and _names(queue) == ["c", "a", "b"]
    assert not queue.move(0, -1) and not queue.move(2, 1)  # off either end
    queue[0].start()
    assert not queue.can_move(0, 1) and not queue.can_move(1, -1)  # never past an active entry
    assert not queue.move(1, -1) and _names(queue) == ["c", "a", "b"]
    assert queue.can_move(1, 1)
    assert not queue.can_move(-1, 1)  # no selection


def test_an_active_entry_stays_and_clear_finished_keeps_what_waits_or_runs():
    queue = _queue("done", "failed", "running", "waiting")
    queue[0].end("completed")
    queue[1].end("failed", "boom")
    queue[2].run(5)
    assert not queue.can_remove(2) and not queue.remove(2)
    assert not queue.remove(9) and queue.get(9) is None
    assert queue.clear_finished() == 2
    assert _names(queue) == ["running", "waiting"]
    assert queue.remove(1) and _names(queue) == ["running"]


def test_the_queue_is_light_to_import():
    """The Train page imports it as the window starts: no torch, numpy or SQLAlchemy."""
    code = (
        "import sys, mmstudio.training.queue\n"
        "heavy = {'torch', 'numpy', 'sqlalchemy', 'PySide6'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
