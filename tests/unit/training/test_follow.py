"""Following a run from the store (``mmstudio.training.follow``): each poll of a real store becomes the
events a run of one's own sends (points, epochs, progress with a total and an ETA once known, the
end), a run that has gone quiet is said to be; and a run asked to stop through the store (the
question first, the answer in a sentence whatever the run has become, the followers told)."""

from __future__ import annotations

import time

import pytest

from mmstudio.store import Store
from mmstudio.training import events as ev
from mmstudio.training.follow import QUIET_AFTER_S, RunFollower, ask_to_stop, stop_question

T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path):
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as s:
        yield s


def _epoch(store: Store, run_id: int, epoch: int, steps_per_epoch: int = 10) -> None:
    """One epoch as the trainer logs it: a loss per step (0.5 s each), lr and throughput every 5
    steps, the epoch's metrics at its last step."""
    points = []
    for step in range((epoch - 1) * steps_per_epoch + 1, epoch * steps_per_epoch + 1):
        t = T0 + 0.5 * step
        points.append(("train/loss", step, epoch, 1.0 / step, t))
        if step % 5 == 0:
            points += [("train/lr", step, epoch, 1e-3, t), ("train/samples_per_s", step, epoch, 64.0, t)]
    last = epoch * steps_per_epoch
    points += [
        ("val/accuracy", last, epoch, 0.5 + epoch / 10, None),
        ("train/epoch_loss", last, epoch, 0.1, None),
    ]
    store.log_metrics(run_id, points)


def _of(events, kind):
    return [e for e in events if isinstance(e, kind)]


def test_polls_become_the_events_of_a_run_of_ones_own(store):
    run_id = store.create_run(name="far", train_spec={"epochs": 3})
    store.start_run(run_id, pid=77, hostname="gpu-box-7", device="cuda:0")
    _epoch(store, run_id, 1)
    follower = RunFollower(run_id)

    first = follower.poll(store)
    assert first.first and first.state.status == "running"
    (said,) = _of(first.events, ev.LogMessage)
    assert said.message == "following run 1 'far' from the store: trained by process 77 on gpu-box-7, cuda:0"
    (logged,) = _of(first.events, ev.MetricsLogged)
    assert len(logged.points) == 10 + 2 + 2 + 2 and ("train/loss", 3, 1.0, 1 / 3) in logged.points
    (epoch,) = _of(first.events, ev.EpochEnded)
    assert (epoch.epoch, epoch.step, epoch.metrics) == (1, 10, {"val/accuracy": 0.6, "train/epoch_loss": 0.1})
    (progress,) = _of(first.events, ev.ProgressUpdated)
    # the epoch's metrics at step 10 say an epoch has 10 steps: 30 in all
    assert (progress.epoch, progress.step, progress.total_steps, progress.samples_per_s) == (1, 10, 30, 64.0)
    assert progress.eta_s == pytest.approx(10.0)  # its points' own times: 0.5 s a step, 20 steps left
    assert first.total_steps == 30 and first.steps_per_epoch == 10

    again = follower.poll(store)  # nothing new: only where it is
    assert not again.first and [type(e) for e in again.events] == [ev.ProgressUpdated]

    _epoch(store, run_id, 2)
    second = follower.poll(store)
    (logged,) = _of(second.events, ev.MetricsLogged)
    assert {p[1] for p in logged.points} == set(range(11, 21))  # only the new points
    assert [e.epoch for e in _of(second.events, ev.EpochEnded)] == [2]
    (progress,) = _of(second.events, ev.ProgressUpdated)
    # the pace of its steps, by their own wall times (0.5 s a step): 10 steps left, 5 s
    assert (progress.step, progress.eta_s) == (20, pytest.approx(5.0))

    _epoch(store, run_id, 3)
    store.log_metrics(run_id, [("test/accuracy", 30, None, 0.8, None)])
    store.finish_run(run_id)
    last = follower.poll(store)
    assert [type(e) for e in last.events] == [
        ev.MetricsLogged,
        ev.EpochEnded,
        ev.ProgressUpdated,
        ev.RunFinished,
    ]
    end = last.events[-1]
    assert (end.status, end.metrics) == ("completed", {"test/accuracy": 0.8}) and end.duration_s > 0
    assert follower.ended and last.state.finished


@pytest.mark.parametrize("status", ["failed", "interrupted"])
def test_a_run_that_failed_elsewhere_ends_with_its_message(store, status):
    run_id = store.create_run(train_spec={"epochs": 2})
    store.start_run(run_id, hostname="gpu-box-7")
    _epoch(store, run_id, 1)
    follower = RunFollower(run_id)
    follower.poll(store)
    store.finish_run(run_id, status, error_message="CUDA out of memory", error_traceback="Traceback (...)")
    end = follower.poll(store).events[-1]
    assert isinstance(end, ev.RunFailed)
    assert (end.message, end.traceback, end.status, end.step) == (
        "CUDA out of memory",
        "Traceback (...)",
        status,
        10,
    )


def test_without_epoch_metrics_the_loss_says_how_long_an_epoch_is(store):
    run_id = store.create_run(train_spec={"epochs": 4})
    store.start_run(run_id)
    store.log_metrics(run_id, [("train/loss", s, 1, 1.0, None) for s in range(1, 9)])
    follower = RunFollower(run_id)
    assert follower.poll(store).total_steps == 0  # epoch 1 not over: not known yet
    store.log_metrics(run_id, [("train/loss", s, 2, 1.0, None) for s in range(9, 11)])
    update = follower.poll(store)
    assert (update.steps_per_epoch, update.total_steps) == (8, 32)
    (progress,) = _of(update.events, ev.ProgressUpdated)
    assert (progress.epoch, progress.step, progress.total_steps) == (2, 10, 32)


def test_a_queued_run_is_followed_until_it_starts_and_a_silent_one_is_said_to_be(store):
    clock, wall = Clock(), Clock()
    wall.now = T0
    run_id = store.create_run(train_spec={"epochs": 1})
    follower = RunFollower(run_id, clock=clock, wall_clock=wall)
    first = follower.poll(store)
    assert "it is queued, not started yet" in first.events[0].message and first.quiet_s == 0
    store.start_run(run_id, hostname="gpu-box-7")
    started = follower.poll(store)
    assert [e.message for e in _of(started.events, ev.LogMessage)] == ["run 1 started on gpu-box-7"]
    store.log_metrics(run_id, [("train/loss", 1, 1, 1.0, None)])
    clock.now += 10
    assert follower.poll(store).quiet_s == 0  # news
    clock.now += QUIET_AFTER_S + 5
    quiet = follower.poll(store)
    assert quiet.quiet_s == QUIET_AFTER_S + 5
    (warning,) = _of(quiet.events, ev.LogMessage)
    assert warning.level == "warning" and warning.message.startswith("run 1 has logged nothing for 2 min")
    clock.now += 30
    assert _of(follower.poll(store).events, ev.LogMessage) == []  # said once
    store.log_metrics(run_id, [("train/loss", 2, 1, 1.0, None)])
    assert follower.poll(store).quiet_s == 0


def test_the_first_poll_of_a_run_that_went_quiet_long_ago_says_so(store):
    clock, wall = Clock(), Clock()
    run_id = store.create_run()
    store.start_run(run_id)
    store.log_metrics(run_id, [("train/loss", 1, 1, 1.0, None)])
    wall.now = time.time() + 600  # its last point (and its start) are ten minutes old
    first = RunFollower(run_id, clock=clock, wall_clock=wall).poll(store)
    assert first.quiet_s == pytest.approx(600.0, abs=5)
    assert any(e.level == "warning" for e in _of(first.events, ev.LogMessage))


def test_the_stop_question_names_the_runs_and_their_machines(store):
    far = store.create_run(name="far")
    store.start_run(far, pid=77, hostname="gpu-box-7")
    near = store.create_run(name="near")
    store.start_run(near, hostname="")  # a machine the store does not name
    assert stop_question([store.run_state(far)]) == (
        "Stop run 1?",
        "Stop run 1 'far' on gpu-box-7? Its process stops at its next step, saves a checkpoint and ends "
        "stopped; resume it later.",
    )
    title, text = stop_question([store.run_state(far), store.run_state(near)])
    assert title == "Stop 2 runs?"
    assert text == (
        "Stop run 1 'far' on gpu-box-7 and run 2 'near'? Their processes stop at their next step, save a "
        "checkpoint and end stopped; resume them later."
    )
    many = [store.run_state(far)] * 10
    named = ", ".join(["run 1 'far' on gpu-box-7"] * 7)
    assert stop_question(many)[1].startswith(f"Stop {named} and 3 more? Their processes")


def test_asking_a_run_to_stop_says_what_happened_whatever_the_run_has_become(store):
    run_id = store.create_run(name="far", train_spec={"epochs": 3})
    store.start_run(run_id, pid=77, hostname="gpu-box-7")
    _epoch(store, run_id, 1)
    follower = RunFollower(run_id)
    assert not follower.poll(store).state.stop_requested

    answer = ask_to_stop(store, run_id)
    assert answer.stopping and answer.status == "running" and store.stop_requested(run_id)
    assert answer.message == (
        "Run 1 was asked to stop through the store: process 77 on gpu-box-7 stops at its next step, saves "
        "a checkpoint and ends stopped."
    )
    update = follower.poll(store)  # every follower sees it, whoever asked, and the log says it once
    assert update.state.stop_requested
    assert [e.message for e in _of(update.events, ev.LogMessage)] == [
        "a stop was asked through the store: process 77 on gpu-box-7 stops run 1 at its next step and "
        "saves a checkpoint"
    ]
    assert _of(follower.poll(store).events, ev.LogMessage) == []
    told = RunFollower(run_id)
    told.stop_said = True  # whoever asked logged the answer already (the app that asked)
    assert [e.message for e in _of(told.poll(store).events, ev.LogMessage)] == [
        "following run 1 'far' from the store: trained by process 77 on gpu-box-7"
    ]
    again = ask_to_stop(store, run_id)
    assert again.stopping and again.message.startswith("Run 1 had already been asked to stop: process 77")

    store.finish_run(run_id, "cancelled")
    late = ask_to_stop(store, run_id)
    assert not late.stopping and late.status == "cancelled"
    assert late.message == "Run 1 had already ended (stopped): there was nothing to stop."
    queued = store.create_run(name="later")
    assert ask_to_stop(store, queued).message == (
        f"Run {queued} is queued and has not started: there is nothing to stop yet."
    )
    store.delete_run(queued)
    gone = ask_to_stop(store, queued)
    assert not gone.stopping and gone.status is None
    assert (
        gone.message == f"Run {queued} is no longer in the store (it was deleted): there is nothing to stop."
    )
