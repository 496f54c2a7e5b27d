"""The Train page's view of the run in progress: its progress and controls, a failure when there is one,
the live plots and the log. It shows what the worker's events say (:meth:`RunViewWidget.feed_events`,
the one path every event takes) and tells its owner when a run started or ended; it runs nothing.

It can also follow a run that another process or machine trains into the store
(:meth:`RunViewWidget.follow`): a :class:`~mmstudio.ui.train.follow.StoreFollowController` reads the
store every ~1.5 s in the thread pool and hands the events a run of one's own would have sent to the
same path; a banner says the run is followed from the store. Stop asks the run to stop through the
store (:meth:`RunViewWidget.request_stop`; its own process stops at its next step, on any machine),
and the banner and the status say it is stopping until the poll sees it end; Pause, which cannot reach
another machine's process, is disabled with a tooltip that says so. Its Follow a run button lists the
runs the store says are running.

Every plot keeps a readable height (:data:`READABLE_PLOT_HEIGHT`) however small the window: the plots
are in a scroll area that scrolls when the view is shorter than they need. While it can scroll, the
mouse wheel over a plot scrolls it (Ctrl and the wheel zoom the plot, as the wheel alone does when
everything fits).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QHideEvent, QShowEvent, QWheelEvent
from PySide6.QtWidgets import QFrame, QScrollArea, QSplitter, QVBoxLayout, QWidget

from mmstudio.store.types import RunLiveState, RunStatus
from mmstudio.training import events as ev
from mmstudio.training.follow import StopAnswer, describe_process
from mmstudio.ui.tasks import run_task
from mmstudio.ui.train.follow import FollowBannerWidget, FollowRunButton, StoreFollowController
from mmstudio.ui.train.live_plots import LivePlotsWidget
from mmstudio.ui.train.log_view import RunFailureWidget, RunLogWidget
from mmstudio.ui.train.progress_view import RunProgressWidget
from mmstudio.ui.widgets import scroll_with_wheel
from mmstudio.vocabulary import is_live_metric

#: The least height of a plot (title, axes and a curve one can read); the plots scroll below it.
READABLE_PLOT_HEIGHT = 150
#: The least height of the log (its title and a few lines).
LOG_MIN_HEIGHT = 72

#: The events that say where the run is now (progress received before one of them is older).
_WHERE_THE_RUN_IS = (ev.RunPaused, ev.RunResumed, ev.RunFinished, ev.RunFailed)


def _history_job(state: Any, url: str | None, run_id: int) -> dict[str, tuple[Any, Any, Any]]:
    """A resumed run's live curves so far (what the plots show), ``{key: (step, epoch, value)}``."""
    from mmstudio.store import Store

    with Store.open(url, read_only=True) as store:
        curves = {}
        for key in filter(is_live_metric, store.metric_keys(run_id)):
            state.check()
            curve = store.read_curve(run_id, key)
            curves[key] = (curve.step, curve.epoch, curve.value)
        return curves


class RunViewWidget(QWidget):
    """Progress, failure, live plots and log of one run at a time.

    Signals: ``run_started(event)`` with the :class:`~mmstudio.training.events.RunStarted` event,
    ``run_ended(run_id, status, message)`` when a run finished or failed (``message`` says why it
    failed), ``follow_requested(run_id)`` when the user chose a run to follow (its Follow a run menu,
    Follow again: the owner decides, :meth:`follow` does it). ``last_failure`` is the last failure
    shown. ``store_url()`` gives the store whose running runs the Follow a run menu lists.
    """

    run_started = Signal(object)
    run_ended = Signal(int, str, str)
    follow_requested = Signal(int)

    def __init__(
        self, parent: QWidget | None = None, *, store_url: Callable[[], str | None] | None = None
    ) -> None:
        super().__init__(parent)
        self.last_failure: ev.RunFailed | None = None
        self._run_id: int | None = None  # the run the plots show
        self._followed: int | None = None  # the run shown is this one, followed from the store
        self.progress_view = RunProgressWidget()
        self.follower = StoreFollowController(self)
        self.follower.updated.connect(self._on_follower_updated)
        self.follower.failed.connect(self._on_follower_failed)
        self.follower.lost.connect(self._on_follower_lost)
        self.follower.stop_answered.connect(self._on_follower_stop_answered)
        self.follower.stop_failed.connect(self._on_follower_stop_failed)
        self.follow_banner = FollowBannerWidget()
        self.follow_banner.stop_requested.connect(self.stop_following)
        self.follow_banner.follow_again_requested.connect(self.follow_requested)
        self.follow_button = FollowRunButton(store_url or (lambda: None))
        self.follow_button.run_chosen.connect(self.follow_requested)
        header = self.progress_view.header
        header.insertWidget(header.indexOf(self.progress_view.pause_button), self.follow_button)
        self.failure_view = RunFailureWidget()
        self.plots = LivePlotsWidget()
        self.plots_area = QScrollArea()  # scrolls when the view is shorter than the plots need
        self.plots_area.setWidget(self.plots)
        self.plots_area.setWidgetResizable(True)
        self.plots_area.setFrameShape(QFrame.Shape.NoFrame)
        self.plots_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.plots_area.setMinimumHeight(READABLE_PLOT_HEIGHT)
        self._plot_wheel = _PlotWheelFilter(self.plots_area)
        for plot in self.plots.findChildren(pg.PlotWidget):
            plot.setMinimumHeight(READABLE_PLOT_HEIGHT)
            plot.viewport().installEventFilter(self._plot_wheel)
        self.log = RunLogWidget()
        self.log.setMinimumHeight(LOG_MIN_HEIGHT)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.plots_area)
        splitter.addWidget(self.log)
        splitter.setChildrenCollapsible(False)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([520, 130])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(6)
        layout.addWidget(self.progress_view)
        layout.addWidget(self.follow_banner)
        layout.addWidget(self.failure_view)
        layout.addWidget(splitter, 1)

    def show_starting(self, title: str) -> None:
        """A run's worker is being started: forget the last run (one followed stops being) and say so."""
        self.end_following()
        self.failure_view.clear()
        self.plots.clear()
        self._run_id = None
        self.progress_view.show_starting(title)
        self.log.add("info", f"starting: {title}")

    def finish(self) -> None:
        """The run's last event is in: show the latest progress now, and the plots still behind (one
        per pass of the event loop, not all four in one)."""
        self.progress_view.flush(force=True)
        self.plots.flush()

    def feed_events(self, events: Sequence[ev.Event], *, redraw: bool = True) -> None:
        """Show what ``events`` say. Metric points go to the plots in one batch, progress to the
        progress line (throttled); ``redraw`` redraws now (the plots on their own throttle,
        :meth:`LivePlotsWidget.refresh`) rather than leaving it to the caller."""
        points: list[tuple[str, int, int, float]] = []
        progress: ev.ProgressUpdated | None = None
        for event in events:
            if isinstance(event, ev.MetricsLogged):
                points.extend(event.points)
            elif isinstance(event, ev.ProgressUpdated):
                progress = event
            else:
                if points and isinstance(event, ev.RunStarted):  # the points before it go in first
                    self.plots.add_points(points)
                    points = []
                if progress is not None and isinstance(event, _WHERE_THE_RUN_IS):  # it says where now
                    self.progress_view.set_progress(progress)
                    progress = None
                self._show_event(event)
        if points:
            self.plots.add_points(points)
        if progress is not None:
            self.progress_view.set_progress(progress)
        self.progress_view.flush(force=redraw)
        if redraw:
            self.plots.refresh()

    def load_history(self, db_url: str | None, run_id: int) -> None:
        """Put a resumed run's curves so far, read from the store in the thread pool, before what it
        logs now (if the plots still show that run by then)."""
        task = run_task(_history_job, db_url, run_id)
        task.succeeded.connect(lambda curves: self._on_history_task_succeeded(run_id, curves))
        self._history_task = task

    def show_failure(self, event: ev.RunFailed) -> None:
        """Show why the run failed, with its traceback (or, without one, the last lines of the log)."""
        self.last_failure = event
        run = f"Run {event.run_id} failed" if event.run_id else "The run failed"
        details = event.traceback.strip() or (
            "No traceback: the process ended without reporting one. Its last log lines:\n"
            + "\n".join(self.log.last_lines(20))
        )
        self.failure_view.show_failure(f"{run}: {event.message}", details)

    def _show_event(self, event: ev.Event) -> None:
        line = ev.describe(event)
        if line is not None:
            self.log.add(*line)
        status = self.progress_view
        if isinstance(event, ev.RunStarted):
            self._run_id = event.run_id
            self.plots.reserve(event.total_steps)
            status.show_started(event)
            self.run_started.emit(event)
        elif isinstance(event, ev.RunPaused):
            status.show_paused(event.step)
        elif isinstance(event, ev.RunResumed):
            status.show_resumed(event.step)
        elif isinstance(event, ev.RunFinished):
            status.show_ended(event.status, event.duration_s)
            self.run_ended.emit(event.run_id, event.status, "")
        elif isinstance(event, ev.RunFailed):
            status.show_ended(event.status)
            self.run_ended.emit(event.run_id, event.status, event.message)
            self.show_failure(event)

    # --- following a run from the store ---------------------------------------------------------

    @property
    def followed_run_id(self) -> int | None:
        """The run shown, when it is one followed from the store (running, ended or no longer
        followed); None when the view shows this window's run or none."""
        return self._followed

    @property
    def following(self) -> bool:
        """A run is followed and has not ended: the store is read every tick while the view shows."""
        return self._followed is not None and self.follower.following

    def follow(self, db_url: str | None, run_id: int) -> None:
        """Show run ``run_id`` of the store at ``db_url``, trained by another process or machine, as it
        trains: its curves so far, then what it logs, read every ~1.5 s until it ends."""
        if self.following and self._followed == run_id:
            return
        self.failure_view.clear()
        self.plots.clear()
        self._run_id = self._followed = run_id
        self.progress_view.show_following(run_id)
        self.follow_banner.show_following(run_id)
        self.follower.start(db_url, run_id)
        self._show_remote_controls()

    def stop_following(self) -> None:
        """Read the followed run no more; the view keeps what it shows (Follow again picks it up)."""
        if not self.following:
            return
        last = self.follower.last_update
        self.follower.stop()
        self.follow_banner.show_stopped(None if last is None else last.state)
        self.progress_view.set_status("not followed")
        self.log.add("info", f"stopped following run {self._followed}")
        self._show_remote_controls()

    def end_following(self) -> None:
        """Follow nothing, and say nothing of it (this window's own run takes the view, or the store
        changed): no banner, Pause and Stop act again."""
        self.follower.stop()
        self._followed = None
        self.follow_banner.hide()
        self.progress_view.set_remote("")

    def stop_target(self) -> RunLiveState | None:
        """The followed run as the store last said it, when Stop can ask it to stop: it is followed,
        running, and no stop was asked of it yet (None otherwise)."""
        update = self.follower.last_update
        if self._followed is None or not self.follower.following or update is None:
            return None
        state = update.state
        return state if state.status is RunStatus.RUNNING and not self.follower.stopping else None

    def request_stop(self) -> bool:
        """Ask the followed run to stop through the store (in the thread pool): its own process, on
        whatever machine, stops at its next step, saves a checkpoint and ends stopped; the banner and
        the status say it is stopping until the poll sees it end. The caller asks the user first (see
        :meth:`stop_target`); a run that ended meanwhile is asked all the same, and the answer says
        so. False when no run is followed, or a request is on its way."""
        if self._followed is None or self.follower.run_id != self._followed:
            return False
        if self.follower.request_stop() is None:
            return False
        self.follow_banner.show_stop_asking()
        self.progress_view.set_status("asking to stop…")
        self._show_remote_controls()
        return True

    def _show_remote_controls(self) -> None:
        """Pause and Stop for the followed run: Pause cannot reach another machine's process; Stop asks
        through the store, while the run runs and was not asked yet."""
        run_id = self._followed
        update = self.follower.last_update
        state = update.state if update is not None else None
        who = describe_process(state, device=True) if state is not None else "another process"
        why = (
            f"Pausing cannot reach another machine's process: run {run_id} is trained by {who}. Pause it "
            "where it runs; Stop asks it to stop through the store."
        )
        stopping = self.follower.stopping
        if self.stop_target() is not None:
            stop = (
                f"Ask run {run_id} to stop through the store: {who} stops at its next step, saves a "
                "checkpoint and ends stopped"
            )
        elif stopping:
            stop = f"Run {run_id} was asked to stop: {who} stops at its next step"
        elif state is not None and state.finished:
            stop = f"Run {run_id} has ended: there is nothing to stop"
        elif not self.follower.following:
            stop = f"Run {run_id} is not followed: Follow again to stop it from here"
        elif state is not None and state.status is RunStatus.QUEUED:
            stop = f"Run {run_id} has not started: there is nothing to stop yet"
        else:
            stop = f"Reading run {run_id} from the store…"
        self.progress_view.set_remote(
            why, stop=stop, can_stop=self.stop_target() is not None, stopping=stopping
        )

    def _on_follower_stop_answered(self, answer: StopAnswer) -> None:
        self.log.add("info" if answer.stopping else "warning", answer.message)
        self.follow_banner.show_stop_answer(answer)
        if answer.stopping:
            self.progress_view.set_status("stopping elsewhere…")
        self._show_remote_controls()

    def _on_follower_stop_failed(self, message: str) -> None:
        self.log.add("error", f"the stop could not be asked: {message}")
        self.follow_banner.show_stop_failed(message)
        self.progress_view.set_status("running elsewhere")
        self._show_remote_controls()

    def _on_follower_updated(self, update: Any) -> None:
        state = update.state
        self.progress_view.show_followed(
            run_id=state.id,
            name=state.name,
            status=state.status.value,
            epochs=int(state.train_spec.get("epochs") or 0),
            steps_per_epoch=update.steps_per_epoch,
            device=state.device or "",
            host=state.hostname or "",
            stopping=self.follower.stopping,
        )
        self._show_remote_controls()
        self.feed_events(update.events)
        self.plots.flush()  # every plot that changed, one per pass of the event loop
        self.follow_banner.show_update(update)

    def _on_follower_failed(self, message: str) -> None:
        self.follow_banner.show_problem(f"the store could not be read: {message}", retrying=True)

    def _on_follower_lost(self, message: str) -> None:
        self.follow_banner.show_problem(message, retrying=False)
        self.progress_view.set_status("no longer in the store")
        self.log.add("warning", message)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.follower.set_active(True)

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.follower.set_active(False)  # a hidden page reads nothing; shown again, it catches up

    def _on_history_task_succeeded(self, run_id: int, curves: dict) -> None:
        if self._run_id == run_id:
            self.plots.add_history(curves)
            self.plots.refresh(force=True)


class _PlotWheelFilter(QObject):
    """The wheel over a plot scrolls the plots' area while it can scroll (Ctrl and the wheel zoom the
    plot); when everything fits, the wheel zooms as pyqtgraph does."""

    def __init__(self, area: QScrollArea) -> None:
        super().__init__(area)
        self.area = area

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.Wheel
            and isinstance(event, QWheelEvent)
            and not event.modifiers() & Qt.KeyboardModifier.ControlModifier
            and self.area.verticalScrollBar().maximum() > 0
        ):
            scroll_with_wheel(self.area, event)
            return True
        return super().eventFilter(watched, event)
