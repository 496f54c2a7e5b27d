"""Following, on the Train page, a run that another process or machine trains into the store.

- :class:`StoreFollowController` polls the store every :data:`~mmstudio.training.follow.FOLLOW_INTERVAL_S`
  seconds in the thread pool (:func:`mmstudio.ui.tasks.run_task`, one poll in flight; the GUI thread
  never waits for the database) through a :class:`~mmstudio.training.follow.RunFollower`, which turns
  each poll into the events a run of one's own sends; the run view shows them as it shows those. It
  polls while the view is shown, catches up when it is shown again, and stops when the run has ended.
  It also asks the run to stop through the store (:meth:`StoreFollowController.request_stop`, in the
  pool; the run's own process stops at its next step, wherever it runs).
- :class:`FollowBannerWidget` says, above the plots, that the run shown is followed from the store:
  which process on which machine trains it, how long ago it last logged, that it was asked to stop
  (or why the stop could not be asked), and Stop following.
- :class:`FollowRunButton` lists the runs the store says are running, to follow one.

Why a poll and not PostgreSQL's LISTEN / NOTIFY: ``docs/store.md`` ("The app as a cockpit").
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from mmstudio.formatting import format_age, local_time
from mmstudio.store.handle import StoreHandle
from mmstudio.store.types import RunLiveState, RunStatus
from mmstudio.training.follow import (
    FOLLOW_INTERVAL_S,
    QUIET_AFTER_S,
    FollowUpdate,
    RunFollower,
    StopAnswer,
    describe_process,
)
from mmstudio.ui.remote_stop import ask_to_stop_task
from mmstudio.ui.resources import icon
from mmstudio.ui.tasks import Task, run_task
from mmstudio.vocabulary import run_status_title

log = logging.getLogger(__name__)

#: How many running runs the Follow menu lists (the newest first).
MENU_RUNS = 20


# --- work in the thread pool (no Qt) -----------------------------------------------------------------


def _poll_job(_state: Any, holder: StoreHandle, url: str | None, follower: RunFollower) -> FollowUpdate | str:
    """One poll; a run no longer in the store is a sentence (following it ends), not a failure."""
    from mmstudio.store import NotFoundError

    try:
        return follower.poll(holder.get(url))
    except NotFoundError:
        return f"run {follower.run_id} is no longer in the store (it was deleted)"


def _running_runs_job(_state: Any, holder: StoreHandle, url: str | None) -> list[RunLiveState]:
    store = holder.get(url)
    return [store.run_state(r.id) for r in store.list_runs(status="running", limit=MENU_RUNS)]


# --- the poll ------------------------------------------------------------------------------------------


class StoreFollowController(QObject):
    """Polls one followed run at a time. Signals, in the GUI thread: ``updated(FollowUpdate)`` after
    every poll, ``failed(message)`` when the store could not be read (it tries again at the next
    tick), ``lost(message)`` when the run is no longer in the store (following ends);
    ``stop_answered(StopAnswer)`` when a stop was asked (:meth:`request_stop`; the answer says how it
    went, a run that ended meanwhile included), ``stop_failed(message)`` when the store could not be
    written (the run goes on)."""

    updated = Signal(object)
    failed = Signal(str)
    lost = Signal(str)
    stop_answered = Signal(object)
    stop_failed = Signal(str)

    def __init__(self, parent: QObject | None = None, *, interval_s: float = FOLLOW_INTERVAL_S) -> None:
        super().__init__(parent)
        self._holder = StoreHandle(mark_orphans=False, read_only=True)  # the polls only read
        self._writer = StoreHandle(mark_orphans=False)  # a stop request writes (opened when one is asked)
        self._stop_task: Task | None = None
        self.stop_asked = False  # the followed run was asked to stop from here (the polls say it too)
        self._follower: RunFollower | None = None
        self._url: str | None = None
        self._task: Task | None = None
        self._active = True
        self.last_update: FollowUpdate | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(round(interval_s * 1000))
        self._timer.timeout.connect(self._on_timer_timeout)

    @property
    def run_id(self) -> int | None:
        """The run followed (or last followed: it stays after the run ended), None before any."""
        return None if self._follower is None else self._follower.run_id

    @property
    def following(self) -> bool:
        """A run is followed and has not ended: the store is read every tick (while shown)."""
        return self._follower is not None and not self._follower.ended

    @property
    def polling(self) -> bool:
        """The timer runs (a run is followed and the view is shown)."""
        return self._timer.isActive()

    @property
    def loading(self) -> bool:
        """The first poll of the run is on its way (a screenshot waits for it)."""
        return self._follower is not None and self._follower.polls == 0 and self._task is not None

    @property
    def busy(self) -> bool:
        """A poll or a stop request is on its way."""
        return self._task is not None or self._stop_task is not None

    @property
    def asking_stop(self) -> bool:
        """A stop request is on its way to the store."""
        return self._stop_task is not None

    @property
    def stopping(self) -> bool:
        """The followed run is being asked, or was asked, to stop (by this window or, as the last poll
        says, by anyone) and has not ended."""
        state = self.last_update.state if self.last_update is not None else None
        if state is not None and state.finished:
            return False
        return self.asking_stop or self.stop_asked or (state is not None and state.stop_requested)

    def set_interval(self, seconds: float) -> None:
        self._timer.setInterval(round(seconds * 1000))

    def start(self, url: str | None, run_id: int) -> None:
        """Follow run ``run_id`` of the store at ``url``: a first poll now, then every tick."""
        self._follower = RunFollower(run_id)
        self._url = url
        self.last_update = None
        self.stop_asked = False
        self._poll()
        if self._active:
            self._timer.start()

    def stop(self) -> None:
        """Follow nothing more (a poll in flight is dropped; a stop request on its way still reaches
        the store, its answer is dropped)."""
        self._timer.stop()
        self._follower = None
        self._stop_task = None
        if self._task is not None:
            self._task.cancel()  # its result is dropped (another follower, or none, by then)
            self._task = None  # a run followed next is read at once

    def set_active(self, active: bool) -> None:
        """Poll only while the view is shown; shown again, read what is new at once."""
        self._active = active
        if not active:
            self._timer.stop()
        elif self.following:
            self._poll()
            self._timer.start()

    def close(self) -> None:
        """The window closes: stop, and close the store."""
        self.stop()
        self._holder.close()
        self._writer.close()

    def request_stop(self) -> Task | None:
        """Ask the followed run to stop through the store, in the thread pool (its own process stops at
        its next step, saves a checkpoint and ends cancelled, which the polls then show); then read
        the run at once. None when no run is followed or a request is on its way already."""
        follower = self._follower
        if follower is None or self._stop_task is not None:
            return None
        task = ask_to_stop_task(self._writer, self._url, [follower.run_id])
        task.succeeded.connect(lambda answers: self._on_stop_succeeded(follower, answers[0]))
        task.failed.connect(lambda message, details: self._on_stop_failed(follower, message, details))
        task.finished.connect(lambda: self._on_stop_finished(task))
        self._stop_task = task
        return task

    def _on_stop_succeeded(self, follower: RunFollower, answer: StopAnswer) -> None:
        if follower is not self._follower:
            return  # another run is followed by now
        self._stop_task = None
        self.stop_asked = answer.stopping
        if answer.stopping:
            follower.stop_said = True  # the view logs the answer: the poll need not say it again
        self.stop_answered.emit(answer)
        self._poll()  # what the run is now: stopping, or its end

    def _on_stop_failed(self, follower: RunFollower, message: str, details: str) -> None:
        log.warning("run %s: the stop could not be asked: %s\n%s", follower.run_id, message, details)
        if follower is self._follower:
            self._stop_task = None
            self.stop_failed.emit(message)

    def _on_stop_finished(self, task: Task) -> None:
        if self._stop_task is task:
            self._stop_task = None

    def _on_timer_timeout(self) -> None:
        self._poll()

    def _poll(self) -> None:
        follower = self._follower
        if self._task is not None or follower is None or follower.ended:
            return  # a poll is in flight (a slow store): this tick is skipped
        task = run_task(_poll_job, self._holder, self._url, follower)
        task.succeeded.connect(lambda result: self._on_poll_succeeded(follower, result))
        task.failed.connect(lambda message, details: self._on_poll_failed(follower, message, details))
        task.finished.connect(lambda: self._on_poll_finished(task))
        self._task = task

    def _on_poll_succeeded(self, follower: RunFollower, result: FollowUpdate | str) -> None:
        if follower is not self._follower:
            return  # another run is followed by now
        if isinstance(result, str):
            self.stop()
            self.lost.emit(result)
            return
        self.last_update = result
        if follower.ended:
            self._timer.stop()
        self.updated.emit(result)

    def _on_poll_failed(self, follower: RunFollower, message: str, details: str) -> None:
        if follower is self._follower:
            log.warning(
                "following run %s: the store could not be read: %s\n%s", follower.run_id, message, details
            )
            self.failed.emit(message)

    def _on_poll_finished(self, task: Task) -> None:
        if self._task is task:
            self._task = None


# --- what the view shows -----------------------------------------------------------------------------


class FollowBannerWidget(QFrame):
    """The strip above a followed run's plots: that it is read from the store, who trains it where, how
    long ago it last logged, that it was asked to stop; Stop following (or, once stopped, Follow
    again). Hidden otherwise.

    Signals: ``stop_requested()`` (Stop following), ``follow_again_requested(run_id)``."""

    stop_requested = Signal()
    follow_again_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")  # the look of the pages' inline messages
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._run_id = 0
        self._update: FollowUpdate | None = None  # the last poll, said again when the stop changes
        self._stop = ""  # asking the run to stop: "" | "asking" | "asked" | "late" | "failed"
        self._stop_message = ""  # the answer's sentence, or why it could not be asked
        self._icon = QLabel()
        self._icon.setPixmap(icon("live").pixmap(16, 16))
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.button = QPushButton()
        self.button.clicked.connect(self._on_button_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 6, 4)
        layout.addWidget(self._icon)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        self.hide()

    @property
    def text(self) -> str:
        """What it says, as plain text."""
        return html.unescape(self.label.text().replace("<b>", "").replace("</b>", ""))

    def show_following(self, run_id: int) -> None:
        self._run_id = run_id
        self._update = None
        self._stop = self._stop_message = ""
        self._say("info", "Following from the store", f"reading run {run_id}…", "Stop following")

    def show_update(self, update: FollowUpdate) -> None:
        self._update = update
        self._run_id = update.state.id
        self._render()

    def show_stop_asking(self) -> None:
        """A stop request is on its way to the store."""
        self._stop, self._stop_message = "asking", ""
        self._render()

    def show_stop_answer(self, answer: StopAnswer) -> None:
        """How asking the run to stop went (it stops; or it had ended, or is gone)."""
        self._stop, self._stop_message = ("asked" if answer.stopping else "late"), answer.message
        self._render()

    def show_stop_failed(self, message: str) -> None:
        """The stop could not be asked (the store could not be written): said until it is asked again
        or the run ends."""
        self._stop, self._stop_message = "failed", message
        self._render()

    def _render(self) -> None:
        update = self._update
        if update is None:
            return
        state = update.state
        who = describe_process(state, device=True)
        if state.finished:
            word = run_status_title(state.status)
            level = "error" if state.status is RunStatus.FAILED else "info"
            asked = self._stop in ("asking", "asked") or state.stop_requested
            if state.status is RunStatus.CANCELLED and asked:
                text = f"run {state.id} stopped as asked through the store; it was trained by {who}"
            elif self._stop == "late":
                text = f"run {state.id} {word} before the stop was asked; it was trained by {who}"
            else:
                text = f"run {state.id} {word}; it was trained by {who}"
            self._say(level, "Followed from the store", text, "")
            return
        if self._stop == "late":  # the answer came before the poll that shows the end
            self._say("info", "Not stopped", self._stop_message, "Stop following")
            return
        if state.status is RunStatus.QUEUED:
            self._say(
                "info",
                "Following from the store",
                f"run {state.id} is queued, not started yet",
                "Stop following",
            )
            return
        quiet = update.quiet_s >= QUIET_AFTER_S
        age = format_age(update.quiet_s)
        when = "just now" if age == "now" else f"{age} ago"
        where = describe_process(state)
        if self._stop == "asking":
            self._say(
                "info", "Stopping", f"asking run {state.id} to stop through the store…", "Stop following"
            )
        elif state.stop_requested or self._stop == "asked":
            if quiet:
                text = (
                    f"run {state.id} was asked to stop, but {who} has logged nothing for {age}: its process "
                    "may have stopped"
                )
                self._say("warning", "Stopping", text, "Stop following")
            else:
                text = (
                    f"run {state.id} was asked to stop through the store: {where} stops at its next step "
                    f"and saves a checkpoint · last logged {when}"
                )
                self._say("info", "Stopping", text, "Stop following")
        elif self._stop == "failed":
            text = (
                f"trained by {where} · last logged {when} · the stop could not be asked: "
                f"{self._stop_message}; the run goes on (Stop asks again)"
            )
            self._say("error", "Following from the store", text, "Stop following")
        elif quiet:
            self._say(
                "warning",
                "Following from the store",
                f"run {state.id}, trained by {who}, has logged nothing for {age}: its process may have "
                "stopped",
                "Stop following",
            )
        else:
            self._say(
                "info",
                "Following from the store",
                f"trained by {where} · last logged {when}",
                "Stop following",
            )

    def show_stopped(self, state: RunLiveState | None) -> None:
        """Following was stopped by the user: the view keeps what it showed."""
        where = f" by {describe_process(state)}" if state is not None else ""
        now = local_time(datetime.now(UTC), seconds=True)
        self._say(
            "info",
            "Not following",
            f"run {self._run_id} trains on{where}; shown as it was at {now}",
            "Follow again",
        )

    def show_problem(self, message: str, *, retrying: bool) -> None:
        again = "; trying again" if retrying else ""
        self._say(
            "error", "Following from the store", f"{message}{again}", "Stop following" if retrying else ""
        )

    def _say(self, level: str, lead: str, text: str, button: str) -> None:
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.label.setText(f"<b>{lead}</b> · {html.escape(text, quote=False)}")
        self.setToolTip(
            "The run is read from the experiment store every few seconds, as its own process records "
            "it; this window does not run it. Stop asks its process to stop through the store."
        )
        self.button.setText(button)
        self.button.setVisible(bool(button))
        self.show()

    def _on_button_clicked(self) -> None:
        if self.button.text() == "Follow again":
            self.follow_again_requested.emit(self._run_id)
        else:
            self.stop_requested.emit()


class FollowRunButton(QToolButton):
    """ "Follow a run": a menu of the runs the store says are running (listed in the thread pool when
    the menu opens), one of which it follows. ``store_url()`` gives the store; ``run_chosen(run_id)``."""

    run_chosen = Signal(int)

    def __init__(self, store_url: Callable[[], str | None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store_url = store_url
        self.setText("Follow a run")
        self.setIcon(icon("live"))
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setToolTip(
            "Show a run that another process or machine trains into this store, as it trains "
            "(read from the store every few seconds)"
        )
        self._holder = StoreHandle(mark_orphans=False, read_only=True)
        self._menu = QMenu(self)
        self._menu.aboutToShow.connect(self._on_menu_about_to_show)
        self.setMenu(self._menu)
        self._task: Task | None = None
        self.listed: list[RunLiveState] = []

    def set_unavailable(self, why: str) -> None:
        """Disable it, saying why (a run of this window is in progress); ``""`` enables it."""
        self.setEnabled(not why)
        if why:
            self.setToolTip(why)
        else:
            self.setToolTip(
                "Show a run that another process or machine trains into this store, as it trains "
                "(read from the store every few seconds)"
            )

    def list_runs(self) -> Task:
        """List the running runs into the menu (in the thread pool)."""
        self._menu.clear()
        waiting = self._menu.addAction("Looking for running runs…")
        waiting.setEnabled(False)
        task = run_task(_running_runs_job, self._holder, self.store_url())
        task.succeeded.connect(self._on_list_task_succeeded)
        task.failed.connect(self._on_list_task_failed)
        self._task = task
        return task

    def close_store(self) -> None:
        self._holder.close()

    def _on_menu_about_to_show(self) -> None:
        self.list_runs()

    def _on_list_task_succeeded(self, states: list[RunLiveState]) -> None:
        self.listed = states
        self._menu.clear()
        if not states:
            none = self._menu.addAction("No run is training now")
            none.setEnabled(False)
            none.setToolTip("Runs that train elsewhere into this store appear here while they run")
            return
        for state in states:
            step = f", step {state.last_step:,}" if state.last_step is not None else ""
            action = self._menu.addAction(
                icon("play"), f"Run {state.id} · {state.name} — {describe_process(state, device=True)}{step}"
            )
            action.triggered.connect(lambda _checked=False, run_id=state.id: self.run_chosen.emit(run_id))

    def _on_list_task_failed(self, message: str, _details: str) -> None:
        self._menu.clear()
        failed = self._menu.addAction(f"The store could not be read: {message}")
        failed.setEnabled(False)
