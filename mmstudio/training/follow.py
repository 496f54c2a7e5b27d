"""Following a run that another process, or another machine, trains: the store's record of it turned
into the events a run of one's own sends.

The Train page shows a run through the events its worker sends (:mod:`.events`); a run trained
elsewhere (``mmstudio train`` in a terminal, ``torchrun`` on a cluster) sends this process nothing, but
it writes to the shared store. :class:`RunFollower` polls the store (:func:`mmstudio.store.live.poll_run`:
the run's state and only what is new in its curves) and turns each poll into the same events, so a
followed run is shown through the one path every run takes:

- its new points as one ``MetricsLogged`` (a curve read again whole, after a resume from an earlier
  step, simply logs its steps again: the plots replace theirs from that step, as for a local resume);
- an ``EpochEnded`` for each epoch whose metrics arrived (the log's "epoch 2: val/accuracy ..." line);
- a ``ProgressUpdated``: the step and epoch it reached, the total once an epoch has shown how many steps
  one has (``train_spec.epochs`` times that), an ETA from the pace of its steps (their own wall times,
  so the two machines' clocks never meet), and the throughput it logged (``train/samples_per_s``);
- its end: ``RunFinished`` (completed, stopped) or ``RunFailed`` (failed, interrupted) with the message
  and traceback it recorded.

What the store does not hold is not made up: no memory figure, no ETA before the total is known, no
pause (pausing another process is not recorded), and no ``RunStarted`` (its step and parameter counts
are not in the store); the page shows the run's name, device and machine from the state instead.

A followed run can be asked to stop (:func:`ask_to_stop`, through the store: its own process reads the
request within a second, stops at its next step, saves a checkpoint and ends ``cancelled``);
:func:`stop_question` is what the app asks first, naming the run and the machine. Whoever asked (the
app, another app, ``mmstudio runs stop``), the poll says a stop was asked (``state.stop_requested``)
and the log says so once. Pausing cannot reach another process: it is not offered.

How long the run has been quiet is measured here, from the polls that brought news (on the first poll,
from its last point's wall time): a run whose process died on another machine stays ``running`` in the
store (only that machine can mark it interrupted), and the page says how long it has been silent.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from mmstudio.store.types import CurveCursor, RunLiveState, RunStatus
from mmstudio.training import events as ev
from mmstudio.vocabulary import STEP_METRICS, is_epoch_metric, run_status_title

if TYPE_CHECKING:
    from mmstudio.store import Store

#: How often the Train and Compare pages read a followed run (seconds).
FOLLOW_INTERVAL_S = 1.5
#: A running run silent this long is said to be so (its process may be gone).
QUIET_AFTER_S = 120.0
#: The steps of the last this-many seconds give the pace the ETA is reckoned from.
PACE_WINDOW_S = 60.0
LOSS_KEY, _LR_KEY, THROUGHPUT_KEY = STEP_METRICS


@dataclass(frozen=True)
class FollowUpdate:
    """One poll of a followed run: its state, the events it amounts to, and what the follower knows.

    ``first``: the first poll (the curves so far came whole); ``quiet_s``: seconds since the run last
    showed a sign of life; ``total_steps`` and ``steps_per_epoch``: 0 while unknown."""

    run_id: int
    state: RunLiveState
    events: list[ev.Event]
    first: bool
    quiet_s: float
    total_steps: int
    steps_per_epoch: int


class RunFollower:
    """Run ``run_id`` as the store records it, one :meth:`poll` at a time (one caller at a time: the
    Train page polls from the thread pool, one poll in flight)."""

    def __init__(self, run_id: int, *, clock=time.monotonic, wall_clock=time.time) -> None:
        self.run_id = run_id
        self.polls = 0
        self._clock = clock
        self._wall_clock = wall_clock
        self._held: dict[str, CurveCursor] = {}
        self._status: RunStatus | None = None
        self._ended = False
        self._last_news = 0.0  # clock() when the run last showed a sign of life
        self._quiet_said = False
        # the log said a stop was asked: the poll that first sees it says so, unless whoever asked
        # (the app that follows the run, logging its own request's answer) set it first
        self.stop_said = False
        self._epoch_logged = 0  # the last epoch an EpochEnded was made for
        self._epoch_last_step: dict[int, int] = {}  # per epoch, the highest train/loss step seen
        self.steps_per_epoch = 0
        self._pace: deque[tuple[float, int]] = deque()  # (wall time, step) of the loss's last points

    @property
    def ended(self) -> bool:
        """Whether the run's end has been seen (no more polls are needed)."""
        return self._ended

    def poll(self, store: Store) -> FollowUpdate:
        """Read what is new and say it as events (raises what the store raises: a run deleted
        meanwhile is a :class:`~mmstudio.store.NotFoundError`)."""
        poll = store.poll_run(self.run_id, self._held)
        state = poll.state
        first = self.polls == 0
        self.polls += 1
        events: list[ev.Event] = []
        now = self._clock()
        if first:
            seen = state.last_seen
            self._last_news = now - (max(0.0, self._wall_clock() - seen) if seen is not None else 0.0)
            events.append(ev.LogMessage(self.run_id, "info", _following_line(state), self._wall_clock()))
        news = not first and (bool(poll.curves) or state.status != self._status)
        if news:
            self._last_news = now
            self._quiet_said = False
        if self._status is RunStatus.QUEUED and state.status is RunStatus.RUNNING:
            where = f" on {state.hostname}" if state.hostname else ""
            events.append(ev.LogMessage(self.run_id, "info", f"run {self.run_id} started{where}"))
        self._status = state.status

        points: list[tuple[str, int, float, float]] = []
        epoch_metrics: dict[int, dict[str, float]] = {}
        epoch_steps: dict[int, int] = {}
        for key, update in sorted(poll.curves.items()):
            curve = update.curve
            held = self._held.get(key)
            if update.replace or held is None:
                self._held[key] = CurveCursor.of(curve)
            elif len(curve):
                self._held[key] = CurveCursor(int(curve.step[-1]), held.count + len(curve))
            steps, epochs, values = curve.step.tolist(), curve.epoch.tolist(), curve.value.tolist()
            points.extend(zip([key] * len(steps), steps, epochs, values, strict=True))
            if key == LOSS_KEY and steps:
                self._learn_from_loss(steps, epochs, curve.time.tolist())
            if is_epoch_metric(key):
                for step, epoch, value in zip(steps, epochs, values, strict=True):
                    if math.isfinite(epoch) and epoch >= 1 and int(epoch) > self._epoch_logged:
                        epoch_metrics.setdefault(int(epoch), {})[key] = value
                        epoch_steps[int(epoch)] = max(step, epoch_steps.get(int(epoch), 0))
                    if not self.steps_per_epoch and math.isfinite(epoch) and epoch >= 1 and step % epoch == 0:
                        self.steps_per_epoch = int(step // epoch)
        if points:
            events.append(ev.MetricsLogged(self.run_id, tuple(points), state.last_seen or 0.0))  # type: ignore[arg-type]
        for epoch in sorted(epoch_metrics):
            events.append(ev.EpochEnded(self.run_id, epoch, epoch_steps[epoch], epoch_metrics[epoch]))
            self._epoch_logged = max(self._epoch_logged, epoch)

        total = self.total_steps(state)
        if LOSS_KEY in state.stats and (state.status is RunStatus.RUNNING or (state.finished and points)):
            events.append(self._progress(state, total))  # where it is (where it ended)
        quiet = max(0.0, now - self._last_news)
        if state.status is RunStatus.RUNNING and quiet >= QUIET_AFTER_S and not self._quiet_said:
            self._quiet_said = True
            events.append(ev.LogMessage(self.run_id, "warning", _quiet_line(state, quiet)))
        if state.stop_requested and state.status is RunStatus.RUNNING and not self.stop_said:
            self.stop_said = True
            events.append(ev.LogMessage(self.run_id, "info", _stopping_line(state)))
        if state.finished and not self._ended:
            self._ended = True
            events.append(_end_event(state))
        return FollowUpdate(self.run_id, state, events, first, quiet, total, self.steps_per_epoch)

    def total_steps(self, state: RunLiveState) -> int:
        """The run's steps in all (0 while unknown): its epochs times the steps an epoch has shown."""
        epochs = state.train_spec.get("epochs")
        if not self.steps_per_epoch or not isinstance(epochs, int) or epochs <= 0:
            return 0
        return self.steps_per_epoch * epochs

    def _learn_from_loss(self, steps: list[int], epochs: list[float], times: list[float]) -> None:
        """Steps per epoch from the loss's epochs (an epoch that a later one followed is complete: its
        last step is ``epoch x steps per epoch``), and the pace from its last point."""
        for step, epoch in zip(steps, epochs, strict=True):
            if math.isfinite(epoch) and epoch >= 1:
                e = int(epoch)
                self._epoch_last_step[e] = max(step, self._epoch_last_step.get(e, 0))
        if not self.steps_per_epoch and len(self._epoch_last_step) > 1:
            complete = sorted(self._epoch_last_step)[:-1]
            for e in complete:
                if self._epoch_last_step[e] % e == 0:
                    self.steps_per_epoch = self._epoch_last_step[e] // e
                    break
        # the pace from these points' own times too: a first look at a run that has been training a
        # while has an ETA at once
        last = times[-1]
        first = next(i for i, t in enumerate(times) if t >= last - PACE_WINDOW_S)
        if times[first] < last:
            self._pace.append((times[first], steps[first]))
        self._pace.append((last, steps[-1]))
        while len(self._pace) > 2 and self._pace[-1][0] - self._pace[1][0] >= PACE_WINDOW_S:
            self._pace.popleft()

    def _progress(self, state: RunLiveState, total: int) -> ev.ProgressUpdated:
        loss = state.stats[LOSS_KEY]
        step = loss.last_step
        epoch = int(loss.last_epoch) if loss.last_epoch is not None and math.isfinite(loss.last_epoch) else 0
        eta = None
        if total and len(self._pace) > 1:
            (t0, s0), (t1, s1) = self._pace[0], self._pace[-1]
            if t1 > t0 and s1 > s0:
                eta = max(0, total - step) * (t1 - t0) / (s1 - s0)
        throughput = state.stats.get(THROUGHPUT_KEY)
        per_s = throughput.last_value if throughput is not None and throughput.last_value is not None else 0.0
        return ev.ProgressUpdated(self.run_id, epoch, step, total, per_s, eta, loss.last_time, None)


class RunProcess(Protocol):
    """What the store says of a run's process: a :class:`RunLiveState`, or the Experiments page's
    record of a run (:class:`mmstudio.store.summaries.RunRecord`)."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def pid(self) -> int | None: ...
    @property
    def hostname(self) -> str | None: ...
    @property
    def device(self) -> str | None: ...


def describe_process(state: RunProcess, *, device: bool = False) -> str:
    """``"process 4242 on gpu-box-7"`` (with ``device``: ``"… (cuda:0)"``), as far as the store knows."""
    who = f"process {state.pid}" if state.pid else "a process"
    if state.hostname:
        who += f" on {state.hostname}"
    return who + (f" ({state.device})" if device and state.device else "")


# --- asking a run to stop through the store -------------------------------------------------------

#: How many runs Stop's question names; more are counted.
QUESTION_RUNS = 8


def stop_question(runs: Sequence[RunProcess]) -> tuple[str, str]:
    """The title and text of the question the app asks before it asks ``runs`` (one or more running
    runs, trained by any process on any machine) to stop through the store."""
    named = [f"run {r.id} '{r.name}'" + (f" on {r.hostname}" if r.hostname else "") for r in runs]
    if len(runs) == 1:
        text = f"Stop {named[0]}? Its process stops at its next step, saves a checkpoint and ends stopped"
        return f"Stop run {runs[0].id}?", f"{text}; resume it later."
    if len(named) > QUESTION_RUNS:
        named = [*named[: QUESTION_RUNS - 1], f"{len(named) - QUESTION_RUNS + 1} more"]
    listed = ", ".join(named[:-1]) + " and " + named[-1]
    text = f"Stop {listed}? Their processes stop at their next step, save a checkpoint and end stopped"
    return f"Stop {len(runs)} runs?", f"{text}; resume them later."


@dataclass(frozen=True)
class StopAnswer:
    """How asking run ``run_id`` to stop went: ``stopping`` (it was asked, now or before: its process
    stops at its next step) or not (it had ended, was queued, or is no longer in the store), and
    ``message``, a sentence that says so."""

    run_id: int
    stopping: bool
    message: str
    status: RunStatus | None = None  # what the store said of the run when it was asked (None: gone)


def ask_to_stop(store: Store, run_id: int) -> StopAnswer:
    """Ask run ``run_id`` to stop through the store (:meth:`~mmstudio.store.Store.request_stop`), and
    say how it went. A run that has ended or is not in the store is an answer, not an error (the
    user acted on what they saw a moment ago); a store that cannot be written raises."""
    from mmstudio.store.errors import InvalidTransitionError, NotFoundError

    gone = f"Run {run_id} is no longer in the store (it was deleted): there is nothing to stop."
    try:
        fresh: bool | None = store.request_stop(run_id)
    except NotFoundError:
        return StopAnswer(run_id, False, gone)
    except InvalidTransitionError:
        fresh = None  # not running: what it is now says why
    try:
        state = store.run_state(run_id)
    except NotFoundError:
        return StopAnswer(run_id, False, gone)
    if fresh is None:
        if state.finished:
            word = run_status_title(state.status)
            message = f"Run {run_id} had already ended ({word}): there was nothing to stop."
        else:
            message = f"Run {run_id} is queued and has not started: there is nothing to stop yet."
        return StopAnswer(run_id, False, message, state.status)
    who = describe_process(state)
    if fresh:
        message = (
            f"Run {run_id} was asked to stop through the store: {who} stops at its next step, saves a "
            "checkpoint and ends stopped."
        )
    else:
        message = f"Run {run_id} had already been asked to stop: {who} stops at its next step."
    return StopAnswer(run_id, True, message, state.status)


def _stopping_line(state: RunLiveState) -> str:
    return (
        f"a stop was asked through the store: {describe_process(state)} stops run {state.id} at its "
        "next step and saves a checkpoint"
    )


def _following_line(state: RunLiveState) -> str:
    device = f", {state.device}" if state.device else ""
    if state.status is RunStatus.QUEUED:
        return f"following run {state.id} '{state.name}' from the store: it is queued, not started yet"
    who = describe_process(state)
    return f"following run {state.id} '{state.name}' from the store: trained by {who}{device}"


def _quiet_line(state: RunLiveState, quiet: float) -> str:
    from mmstudio.formatting import format_age

    where = f" on {state.hostname}" if state.hostname else ""
    return (
        f"run {state.id} has logged nothing for {format_age(quiet)}: its process{where} may have stopped "
        "(only the machine that ran it marks it interrupted)"
    )


def _end_event(state: RunLiveState) -> ev.Event:
    metrics = {key: s.last_value for key, s in state.stats.items() if key.startswith("test/")}
    metrics = {key: value for key, value in metrics.items() if value is not None}
    if state.status in (RunStatus.COMPLETED, RunStatus.CANCELLED):
        return ev.RunFinished(state.id, state.status.value, metrics, {}, state.duration_s or 0.0)
    message = state.error_message or f"the run ended {state.status.value} (the store records no reason)"
    return ev.RunFailed(
        state.id,
        message,
        "error",
        state.error_traceback or "",
        state.last_step,
        status="interrupted" if state.status is RunStatus.INTERRUPTED else "failed",
    )
