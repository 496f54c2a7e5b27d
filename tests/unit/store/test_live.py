"""Following a run from the store (``mmstudio.store.live``): its live state, the points after a step in
one query, and poll ticks that add up to the whole curve, on SQLite and on PostgreSQL
(``MMSTUDIO_TEST_POSTGRES_URL``), with the run written by another process as it trains."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event

from mmstudio.store import CurveCursor, NotFoundError, Store
from mmstudio.store.live import joined
from mmstudio.store.types import Curve, RunStatus

REMOTE_TRAINER = Path(__file__).parents[2] / "remote_trainer.py"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'live.db'}"
    return request.getfixturevalue("fresh_postgres_url")


@pytest.fixture
def live_store(url: str) -> Iterator[Store]:
    with Store.open(url) as store:
        yield store


class _Statements:
    """The SQL statements a store sends while counted."""

    def __init__(self, store: Store) -> None:
        self.sent: list[str] = []
        self._engine = store._db.engine
        event.listen(self._engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, _conn, _cursor, statement, _params, _context, _many) -> None:
        self.sent.append(" ".join(statement.split()))

    def reading_points(self) -> list[str]:
        return [s for s in self.sent if "FROM metrics " in s]

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._on_execute)


def _log_steps(store: Store, run_id: int, steps: range, *, epoch: int = 1) -> None:
    points = []
    for s in steps:
        points.append(("train/loss", s, epoch, 1.0 / s, 1_700_000_000.0 + s))
        if s % 3 == 0:
            points.append(("train/lr", s, epoch, 1e-3 * s, 1_700_000_000.0 + s))
    store.log_metrics(run_id, points)


def _join(held: dict[str, Curve], updates) -> None:
    """What a follower does with a tick's updates."""
    for key, update in updates.items():
        held[key] = update.curve if key not in held else joined(held[key], update)


def _cursors(held: dict[str, Curve]) -> dict[str, CurveCursor]:
    return {key: CurveCursor.of(curve) for key, curve in held.items()}


def _assert_same(a: Curve, b: Curve) -> None:
    np.testing.assert_array_equal(a.step, b.step)
    np.testing.assert_array_equal(a.epoch, b.epoch)
    np.testing.assert_array_equal(a.value, b.value)
    np.testing.assert_array_equal(a.time, b.time)


def test_points_after_a_step_per_key_in_one_query(live_store: Store) -> None:
    store = live_store
    run_id = store.create_run(name="r")
    _log_steps(store, run_id, range(1, 31))
    store.log_metrics(run_id, [("train/loss", 31, 1, math.nan, None), ("val/accuracy", 30, None, 0.5, None)])
    counted = _Statements(store)
    try:
        found = store.read_points_after(run_id, {"train/loss": 27, "train/lr": 20, "val/accuracy": 30})
    finally:
        counted.close()
    assert len(counted.reading_points()) == 1  # every key in one query
    np.testing.assert_array_equal(found["train/loss"].step, [28, 29, 30, 31])
    np.testing.assert_array_equal(found["train/loss"].value[:3], [1 / 28, 1 / 29, 1 / 30])
    assert np.isnan(found["train/loss"].value[3])  # a NaN logged reads back NaN
    np.testing.assert_array_equal(found["train/loss"].time[:3], 1_700_000_000.0 + np.array([28, 29, 30]))
    np.testing.assert_array_equal(found["train/lr"].step, [21, 24, 27, 30])
    np.testing.assert_array_equal(found["train/lr"].epoch, [1, 1, 1, 1])
    assert len(found["val/accuracy"]) == 0  # nothing after its last step
    # a key never logged, and a run with nothing after the step: empty curves, not errors
    assert len(store.read_points_after(run_id, {"no/such_key": -1})["no/such_key"]) == 0
    assert len(store.read_points_after(run_id, {"train/loss": 100})["train/loss"]) == 0


def test_run_state_says_where_the_run_is(live_store: Store) -> None:
    store = live_store
    run_id = store.create_run(name="far away", train_spec={"epochs": 4})
    state = store.run_state(run_id)
    assert (state.status, state.last_step, state.last_epoch) == (RunStatus.QUEUED, None, None)
    assert state.stats == {} and state.last_seen is None
    store.start_run(run_id, pid=4242, hostname="gpu-box-7", device="cuda:1")
    _log_steps(store, run_id, range(1, 11), epoch=2)
    state = store.run_state(run_id)
    assert (state.name, state.status, state.hostname, state.pid, state.device) == (
        "far away",
        RunStatus.RUNNING,
        "gpu-box-7",
        4242,
        "cuda:1",
    )
    assert (state.last_step, state.last_epoch, state.train_spec["epochs"]) == (10, 2.0, 4)
    assert state.stats["train/loss"].count == 10 and state.stats["train/lr"].count == 3
    assert state.last_seen == pytest.approx(max(1_700_000_010.0, state.started.timestamp()))
    assert not state.finished and not state.stop_requested
    assert store.request_stop(run_id)  # asked through the store: every follower reads it
    assert store.run_state(run_id).stop_requested
    store.finish_run(run_id, "failed", error_message="out of memory", error_traceback="Traceback ...")
    state = store.run_state(run_id)
    assert state.finished and state.status is RunStatus.FAILED
    assert (state.error_message, state.error_traceback) == ("out of memory", "Traceback ...")
    assert state.ended is not None and state.duration_s is not None
    with pytest.raises(NotFoundError):
        store.run_state(run_id + 100)


def test_poll_ticks_add_up_to_the_whole_curve(live_store: Store) -> None:
    store = live_store
    run_id = store.create_run()
    store.start_run(run_id)
    held: dict[str, Curve] = {}
    poll = store.poll_run(run_id, {})
    assert poll.curves == {} and poll.state.status is RunStatus.RUNNING

    _log_steps(store, run_id, range(1, 201))
    poll = store.poll_run(run_id, _cursors(held))  # the first look reads the curves whole
    assert {k: u.replace for k, u in poll.curves.items()} == {"train/loss": True, "train/lr": True}
    _join(held, poll.curves)

    counted = _Statements(store)
    try:
        poll = store.poll_run(run_id, _cursors(held))  # nothing new: no point is read
        assert poll.curves == {} and counted.reading_points() == []
        _log_steps(store, run_id, range(201, 206))
        store.log_metrics(run_id, [("val/loss", 205, 1, 0.7, None)])  # a key appears
        counted.sent.clear()
        poll = store.poll_run(run_id, _cursors(held))
        assert len(counted.reading_points()) == 1  # the new points of both grown keys in one query
    finally:
        counted.close()
    assert {k: (u.replace, len(u.curve)) for k, u in poll.curves.items()} == {
        "train/loss": (False, 5),
        "train/lr": (False, 2),  # steps 201 and 204
        "val/loss": (True, 1),
    }
    _join(held, poll.curves)
    # only the keys asked for
    _log_steps(store, run_id, range(206, 210))
    poll = store.poll_run(run_id, _cursors(held), keys=["train/lr"])
    assert list(poll.curves) == ["train/lr"] and poll.state.stats["train/loss"].count == 209
    _join(held, poll.curves)
    _join(held, store.poll_run(run_id, _cursors(held)).curves)
    for key in ("train/loss", "train/lr", "val/loss"):
        _assert_same(held[key], store.read_curve(run_id, key))


def test_a_curve_logged_again_from_an_earlier_step_is_read_whole(live_store: Store) -> None:
    """A run resumed from an earlier checkpoint logs some steps again: the follower's copy no longer adds
    up, so the next tick hands it the whole curve (what the store reads back)."""
    store = live_store
    run_id = store.create_run()
    _log_steps(store, run_id, range(1, 51))
    held: dict[str, Curve] = {}
    _join(held, store.poll_run(run_id, {}).curves)
    store.log_metrics(run_id, [("train/loss", s, 1, 2.0 / s, None) for s in range(40, 61)])
    poll = store.poll_run(run_id, _cursors(held))
    assert poll.curves["train/loss"].replace
    _join(held, poll.curves)
    _assert_same(held["train/loss"], store.read_curve(run_id, "train/loss"))


def test_following_a_run_another_process_trains(url: str) -> None:
    """A separate process records a run as ``mmstudio train`` does while this one polls it: every tick
    adds what is new, the curves this side assembles are the store's, and the end is seen."""
    with Store.open(url) as store:
        proc = subprocess.Popen(
            [sys.executable, str(REMOTE_TRAINER), url, "--epochs", "3", "--steps", "30", "--step-s", "0.01"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            run_id = json.loads(proc.stdout.readline())["run_id"]
            held: dict[str, Curve] = {}
            grew = 0
            statuses = set()
            for _ in range(2000):
                poll = store.poll_run(run_id, _cursors(held))
                statuses.add(poll.state.status)
                grew += any(not u.replace for u in poll.curves.values())
                _join(held, poll.curves)
                if poll.state.finished:
                    break
            _out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        assert poll.state.status is RunStatus.COMPLETED and RunStatus.RUNNING in statuses
        assert grew >= 2  # it was followed as it trained, not read once at the end
        _join(held, store.poll_run(run_id, _cursors(held)).curves)
        assert set(held) == set(store.metric_keys(run_id))
        for key, curve in held.items():
            _assert_same(curve, store.read_curve(run_id, key))
        assert len(held["train/loss"]) == 90


def test_several_runs_one_metric_in_one_tick(live_store: Store) -> None:
    """The Compare page's tick: every running run's state, and the new points of the metric it shows
    for the runs whose curve it holds."""
    from mmstudio.store.curves import poll_runs

    store = live_store
    a, b = store.create_run(name="a"), store.create_run(name="b")
    for run_id in (a, b):
        store.start_run(run_id)
        _log_steps(store, run_id, range(1, 11))
    held = {a: CurveCursor.of(store.read_curve(a, "train/loss"))}
    _log_steps(store, a, range(11, 14))
    polls = poll_runs(store, [a, b], "train/loss", held)
    assert list(polls[a].curves) == ["train/loss"] and not polls[a].curves["train/loss"].replace
    np.testing.assert_array_equal(polls[a].curves["train/loss"].curve.step, [11, 12, 13])
    assert polls[b].curves == {} and polls[b].state.stats["train/loss"].count == 10  # not held: its state
    assert all(p.curves == {} for p in poll_runs(store, [a, b], None, held).values())
