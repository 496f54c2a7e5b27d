"""Stop for runs that another process or machine trains, asked through the store: the Train page's Stop
on a run it follows and the Experiments page's Stop on selected running runs ask first (naming the run
and its machine), then ask the store; a real ``mmstudio train`` in a process of its own reads the
request, stops at its next step with a checkpoint and ends cancelled, which the pages show. A run that
ended before the stop was asked, and a store that cannot be written, are said in a sentence; the run
this window trains is left to its worker."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QMessageBox

from mmstudio.store import Store
from mmstudio.store.types import RunStatus
from mmstudio.ui.settings import Settings

TIMEOUT_MS = 60_000
POLL_S = 0.2  # the tests poll faster than the app's 1.5 s


class Questions:
    """``QMessageBox.question``, answered Yes (after ``before()``, when given), each one kept."""

    def __init__(self, monkeypatch, before=None) -> None:
        self.asked: list[tuple[str, str]] = []
        self.before = before
        monkeypatch.setattr(QMessageBox, "question", self)

    def __call__(self, _parent, title, text, *_args, **_kwargs):
        self.asked.append((title, text))
        if self.before is not None:
            self.before()
        return QMessageBox.StandardButton.Yes


def _train_page(qtbot, tmp_path, url):
    from mmstudio.ui.state import StudioState
    from mmstudio.ui.train.panel import TrainPanel

    state = StudioState()
    state.db_url = url
    panel = TrainPanel(state, Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(panel)
    panel.resize(1280, 800)
    panel.show()
    return panel


def _recorded(url: str, run_id: int):
    with Store.open(url, mark_orphans=False, read_only=True) as store:
        return store.get_run(run_id)


@pytest.mark.slow
def test_stop_on_the_train_page_stops_a_run_another_process_trains(
    qtbot, tmp_path, small_demo, trainer, monkeypatch
):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    training = trainer(url, small_demo, "far-run")
    qtbot.waitUntil(training.training, timeout=120_000)
    run_id = training.run_id
    record = _recorded(url, run_id)
    who = f"process {record.pid} on {record.hostname}"
    panel = _train_page(qtbot, tmp_path, url)
    view = panel.run_view
    view.follower.set_interval(POLL_S)
    assert panel.follow_run(run_id)
    progress, banner = view.progress_view, view.follow_banner
    qtbot.waitUntil(lambda: progress.stop_button.isEnabled(), timeout=TIMEOUT_MS)
    assert not progress.pause_button.isEnabled()
    assert progress.pause_button.toolTip().startswith(
        f"Pausing cannot reach another machine's process: run {run_id} is trained by {who} (cpu)"
    )
    assert progress.stop_button.toolTip().startswith(f"Ask run {run_id} to stop through the store: {who}")

    questions = Questions(monkeypatch)
    progress.stop_button.click()
    assert questions.asked == [
        (
            f"Stop run {run_id}?",
            f"Stop run {run_id} 'far-run' on {record.hostname}? Its process stops at its next step, saves "
            "a checkpoint and ends stopped; resume it later.",
        )
    ]
    assert not progress.stop_button.isEnabled() and progress.stop_button.text() == "Stopping…"
    assert banner.text == f"Stopping · asking run {run_id} to stop through the store…"
    asked = f"Run {run_id} was asked to stop through the store: {who} stops at its next step"
    qtbot.waitUntil(lambda: asked in view.log.text(), timeout=TIMEOUT_MS)
    assert view.log.text().count(asked) == 1

    def stopping_or_stopped() -> bool:
        return banner.text.startswith("Stopping · run ") or progress.status_label.text() == "stopped"

    qtbot.waitUntil(stopping_or_stopped, timeout=TIMEOUT_MS)
    if banner.text.startswith("Stopping"):  # it may have stopped before a poll saw it stopping
        assert banner.text.startswith(
            f"Stopping · run {run_id} was asked to stop through the store: {who} stops at its next step "
            "and saves a checkpoint · last logged "
        )
        assert progress.status_label.text() == "stopping elsewhere…"
        assert progress.stop_button.text() == "Stopping…" and not progress.stop_button.isEnabled()

    qtbot.waitUntil(lambda: progress.status_label.text() == "stopped", timeout=TIMEOUT_MS)
    assert banner.text == (
        f"Followed from the store · run {run_id} stopped as asked through the store; it was trained by "
        f"{who} (cpu)"
    )
    assert not progress.stop_button.isEnabled() and progress.stop_button.text() == "Stop"
    assert progress.stop_button.toolTip() == f"Run {run_id} has ended: there is nothing to stop"
    summary, err = training.wait()
    assert summary["status"] == "cancelled" and summary["run_id"] == run_id
    assert "a stop was asked through the store" in err  # the run's own process says why it stopped
    assert _recorded(url, run_id).status is RunStatus.CANCELLED
    assert not view.following and not view.follower.polling
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT_MS)
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)


def test_a_run_that_ended_before_the_stop_was_asked_says_so(qtbot, tmp_path, remote, monkeypatch):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    hold = tmp_path / "go-on"
    run = remote(url, "--epochs", "2", "--steps", "10", "--step-s", "0.01", "--hold", str(hold))
    panel = _train_page(qtbot, tmp_path, url)
    view = panel.run_view
    view.follower.set_interval(POLL_S)
    panel.follow_run(run.run_id)
    progress, banner = view.progress_view, view.follow_banner
    qtbot.waitUntil(lambda: progress.stop_button.isEnabled(), timeout=TIMEOUT_MS)

    def end_the_run() -> None:  # while the question is open, the run ends
        hold.touch()
        run.finish()

    questions = Questions(monkeypatch, before=end_the_run)
    progress.stop_button.click()
    assert questions.asked[0][1].startswith(f"Stop run {run.run_id} 'remote-run' on gpu-box-7? ")
    late = f"Run {run.run_id} had already ended (completed): there was nothing to stop."
    qtbot.waitUntil(lambda: late in view.log.text(), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: progress.status_label.text() == "completed", timeout=TIMEOUT_MS)
    assert banner.text == (
        f"Followed from the store · run {run.run_id} completed before the stop was asked; it was trained "
        "by process 4242 on gpu-box-7 (cuda:0)"
    )
    assert not progress.stop_button.isEnabled()
    assert _recorded(url, run.run_id).status is RunStatus.COMPLETED
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT_MS)
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)


def test_a_store_that_cannot_be_written_is_said_and_stop_asks_again(qtbot, tmp_path, remote, monkeypatch):
    """The store's folder goes away (an unmounted share) after the run was read: the stop cannot be
    asked, the banner and the log say why in a sentence, and Stop asks again once it is back."""
    folder = tmp_path / "share"
    folder.mkdir()
    url = f"sqlite:///{folder / 'store.db'}"
    hold = tmp_path / "go-on"
    run = remote(url, "--epochs", "2", "--steps", "10", "--step-s", "0.01", "--hold", str(hold))
    panel = _train_page(qtbot, tmp_path, url)
    view = panel.run_view
    view.follower.set_interval(POLL_S)
    panel.follow_run(run.run_id)
    progress, banner = view.progress_view, view.follow_banner
    qtbot.waitUntil(lambda: progress.stop_button.isEnabled(), timeout=TIMEOUT_MS)
    view.follower.set_interval(3600)  # no poll meanwhile: the request alone meets the missing store
    qtbot.waitUntil(lambda: not view.follower.busy, timeout=TIMEOUT_MS)
    folder.rename(tmp_path / "share-gone")
    questions = Questions(monkeypatch)
    with qtbot.waitSignal(view.follower.stop_failed, timeout=TIMEOUT_MS) as failed:
        progress.stop_button.click()
    assert len(questions.asked) == 1
    message = failed.args[0]
    assert message and "Traceback" not in message
    assert banner.property("level") == "error"
    assert banner.text.startswith("Following from the store · trained by process 4242 on gpu-box-7 · ")
    assert banner.text.endswith(f"the stop could not be asked: {message}; the run goes on (Stop asks again)")
    assert f"the stop could not be asked: {message}" in view.log.text()
    assert progress.status_label.text() == "running elsewhere"
    assert progress.stop_button.isEnabled() and progress.stop_button.text() == "Stop"

    (tmp_path / "share-gone").rename(folder)
    with qtbot.waitSignal(view.follower.stop_answered, timeout=TIMEOUT_MS) as answered:
        progress.stop_button.click()
    assert answered.args[0].stopping and len(questions.asked) == 2
    with Store.open(url, mark_orphans=False) as store:
        assert store.stop_requested(run.run_id)
    view.follower.set_interval(POLL_S)
    qtbot.waitUntil(
        lambda: banner.text.startswith(f"Stopping · run {run.run_id} was asked"), timeout=TIMEOUT_MS
    )
    hold.touch()  # this stand-in trainer does not read stop requests: it completes
    run.finish()
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT_MS)
    view.follower.close()
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)


@pytest.mark.slow
def test_the_experiments_page_stops_running_runs_it_does_not_train(
    qtbot, tmp_path, small_demo, trainer, monkeypatch
):
    from mmstudio.ui.experiments.panel import ExperimentsPanel
    from mmstudio.ui.state import StudioState

    url = f"sqlite:///{tmp_path / 'store.db'}"
    training = trainer(url, small_demo, "far-run")
    with Store.open(url) as store:
        mine = store.create_run(name="mine")  # the run this window trains (its worker stops it)
        store.start_run(mine)
        ended = store.create_run(name="ends-now")
        store.start_run(ended, pid=4242, hostname="gpu-box-7")
    qtbot.waitUntil(training.training, timeout=120_000)
    far = training.run_id
    record = _recorded(url, far)
    state = StudioState()
    state.db_url = url
    state.training_run_id = mine
    panel = ExperimentsPanel(state, Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(panel)
    panel.resize(1280, 800)
    with qtbot.waitSignal(panel.runs_loaded, timeout=TIMEOUT_MS):
        panel.show()
    action = panel.run_actions.stop_action
    assert action in panel.toolbar.actions() and action in panel.run_actions.menu_actions()
    assert action.iconText() == "Stop"
    panel.select_runs([mine])
    assert not action.isEnabled() and action.toolTip().startswith("This window trains the run")

    questions = Questions(monkeypatch)
    panel.select_runs([far, mine])
    assert action.isEnabled()
    with qtbot.waitSignal(panel.task_finished, timeout=TIMEOUT_MS) as finished:
        action.trigger()
    assert finished.args == ["stop", True]
    assert questions.asked == [
        (
            f"Stop run {far}?",
            f"Stop run {far} 'far-run' on {record.hostname}? Its process stops at its next step, saves a "
            "checkpoint and ends stopped; resume it later.",
        )
    ]  # this window's own run is not asked: its worker stops it
    said = panel.message.label.text()
    assert said.startswith(
        f"Run {far} was asked to stop through the store: process {record.pid} on {record.hostname} stops "
        "at its next step"
    )
    assert said.endswith(f"Run {mine} is trained by this window: the Train page's Stop stops it.")

    def shown_stopped() -> bool:
        rec = panel.model.record_by_id(far)
        return rec is not None and rec.status is RunStatus.CANCELLED

    qtbot.waitUntil(shown_stopped, timeout=TIMEOUT_MS)  # the page's poll sees it end
    summary, err = training.wait()
    assert summary["status"] == "cancelled" and "a stop was asked through the store" in err
    with Store.open(url, mark_orphans=False) as store:
        assert store.get_run(far).status is RunStatus.CANCELLED
        assert store.get_run(mine).status is RunStatus.RUNNING and not store.stop_requested(mine)

    # a run that ends while the question is open: the answer says so, nothing is asked of it
    def end_it() -> None:
        with Store.open(url, mark_orphans=False) as store:
            store.finish_run(ended)

    questions = Questions(monkeypatch, before=end_it)
    panel.select_runs([ended])
    assert action.isEnabled()
    with qtbot.waitSignal(panel.task_finished, timeout=TIMEOUT_MS):
        action.trigger()
    assert questions.asked[0][1].startswith(f"Stop run {ended} 'ends-now' on gpu-box-7? ")
    assert (
        panel.message.label.text() == f"Run {ended} had already ended (completed): there was nothing to stop."
    )
    assert panel.message.property("level") == "warning"
    panel.shutdown()
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)
