"""The app as the cockpit of runs trained elsewhere: a separate process records a run into the store as
``mmstudio train`` does on another machine (``tests/remote_trainer.py``); the Experiments page lists it,
Follow live shows it on the Train page, whose plots grow from polls of the store, with its progress and
machine, Pause disabled (it cannot reach it) and Stop enabled (it asks through the store), and its final
status when it ends."""

from __future__ import annotations

import re

from PySide6.QtCore import QThreadPool

from mmstudio.ui.settings import Settings

TIMEOUT_MS = 30_000
POLL_S = 0.2  # the tests poll faster than the app's 1.5 s


def _loss_points(view) -> int:
    return view.plots.curve_lengths()["train/loss"]


def test_a_run_trained_elsewhere_is_followed_from_the_experiments_page(qtbot, tmp_path, remote):
    from mmstudio.ui.main_window import MainWindow

    url = f"sqlite:///{tmp_path / 'store.db'}"
    hold = tmp_path / "go-on"
    run = remote(url, "--epochs", "3", "--steps", "30", "--step-s", "0.02", "--hold", str(hold))
    window = MainWindow(Settings(tmp_path / "settings.ini"), db_url=url)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    window.show_page("experiments")
    experiments = window.experiments

    def listed_running() -> bool:
        record = experiments.model.record_by_id(run.run_id)
        return record is not None and record.status.value == "running"

    qtbot.waitUntil(listed_running, timeout=TIMEOUT_MS)  # the page polls the store: it appears
    experiments.select_runs([run.run_id])
    action = experiments.run_actions.follow_action
    assert action.isEnabled() and action in experiments.toolbar.actions()
    action.trigger()
    assert window.current_page() == "train"
    view = window.train.run_view
    view.follower.set_interval(POLL_S)
    assert view.followed_run_id == run.run_id and view.following

    qtbot.waitUntil(lambda: _loss_points(view) > 0, timeout=TIMEOUT_MS)
    first = _loss_points(view)
    qtbot.waitUntil(lambda: _loss_points(view) > first, timeout=TIMEOUT_MS)  # it grows poll by poll
    progress = view.progress_view
    assert progress.run_label.text() == f"Run {run.run_id} · remote-run"
    assert progress.status_label.text() == "running elsewhere"
    assert progress.device_label.text() == "on cuda:0 · gpu-box-7"
    pause, stop = progress.pause_button, progress.stop_button
    assert not pause.isEnabled()  # a pause cannot reach another process; a stop, through the store
    assert pause.toolTip().startswith("Pausing cannot reach another machine's process: run ")
    assert "process 4242 on gpu-box-7" in pause.toolTip()
    assert stop.isEnabled() and stop.toolTip().startswith(f"Ask run {run.run_id} to stop through the store")
    banner = view.follow_banner
    assert banner.isVisible() and banner.text.startswith("Following from the store")
    assert "trained by process 4242 on gpu-box-7 · last logged " in banner.text
    assert view.follow_button.isEnabled()

    # held before its last epoch: two epochs showed how long one is, so the total and an ETA are known
    qtbot.waitUntil(lambda: "step 60/90" in progress.progress_label.text(), timeout=TIMEOUT_MS)
    assert re.search(
        r"^Epoch 2/3 · step 60/90 · ETA \d\d:\d\d · \d+ samples/s$", progress.progress_label.text()
    )
    assert "epoch 2: " in view.log.text() and "val/accuracy 0.75" in view.log.text()
    qtbot.waitUntil(lambda: view.plots.curve_lengths()["val/accuracy"] == 2, timeout=TIMEOUT_MS)  # redrawn

    hold.touch()
    qtbot.waitUntil(lambda: progress.status_label.text() == "completed", timeout=TIMEOUT_MS)
    run.finish()
    assert not view.following and not view.follower.polling  # it ended: no more reading
    assert banner.text == (
        f"Followed from the store · run {run.run_id} completed; it was trained by process 4242 on "
        "gpu-box-7 (cuda:0)"
    )
    assert progress.progress.value() == progress.progress.maximum() == 90
    assert not stop.isEnabled() and stop.toolTip() == f"Run {run.run_id} has ended: there is nothing to stop"
    assert "test/accuracy 0.9" in view.log.text()
    view.plots.refresh(force=True)
    assert _loss_points(view) == 90
    assert window.state.training_run_id is None
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=TIMEOUT_MS)
    window.experiments.shutdown()
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)


def test_the_train_page_picks_a_running_run_and_shows_how_it_failed(qtbot, tmp_path, remote):
    """The Train page's own Follow a run menu lists the runs the store says are running; following
    stops when the page is hidden and catches up when shown, Stop following and Follow again do what
    they say, a failure recorded by the remote process shows with its message, and this window's own
    run taking the view ends the following."""
    from mmstudio.ui.state import StudioState
    from mmstudio.ui.train.panel import TrainPanel

    url = f"sqlite:///{tmp_path / 'store.db'}"
    hold = tmp_path / "go-on"
    state = StudioState()
    state.db_url = url
    panel = TrainPanel(state, Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(panel)
    panel.resize(1280, 800)
    panel.show()
    view = panel.run_view
    button = view.follow_button
    with qtbot.waitSignal(button.list_runs().finished, timeout=TIMEOUT_MS):
        pass
    assert button.listed == [] and [a.text() for a in button.menu().actions()] == ["No run is training now"]

    run = remote(
        url, "--epochs", "2", "--steps", "20", "--step-s", "0.02", "--hold", str(hold), "--end", "failed"
    )
    with qtbot.waitSignal(button.list_runs().finished, timeout=TIMEOUT_MS):
        pass
    assert [s.id for s in button.listed] == [run.run_id]
    (entry,) = button.menu().actions()
    assert entry.text().startswith(f"Run {run.run_id} · remote-run — process 4242 on gpu-box-7 (cuda:0)")
    view.follower.set_interval(POLL_S)
    entry.trigger()
    assert view.followed_run_id == run.run_id
    qtbot.waitUntil(lambda: _loss_points(view) >= 20, timeout=TIMEOUT_MS)  # the first epoch, held

    panel.hide()
    assert not view.follower.polling  # a hidden page reads nothing
    panel.show()
    assert view.follower.polling

    view.follow_banner.button.click()  # Stop following
    assert not view.follower.polling and view.follow_banner.text.startswith("Not following")
    assert view.follow_banner.button.text() == "Follow again"
    stop = view.progress_view.stop_button  # not read any more: not stopped from here
    assert not stop.isEnabled() and stop.toolTip().startswith(
        f"Run {run.run_id} is not followed: Follow again"
    )
    hold.touch()  # the run goes on, and fails, while nobody follows it
    run.finish()
    assert _loss_points(view) == 20  # the view kept what it showed
    view.follow_banner.button.click()  # Follow again: it catches up, and sees the end
    view.follower.set_interval(POLL_S)
    qtbot.waitUntil(lambda: view.progress_view.status_label.text() == "failed", timeout=TIMEOUT_MS)
    assert view.failure_view.isVisible()
    assert (
        f"Run {run.run_id} failed: the remote run ended failed on purpose"
        in view.failure_view.bar.label.text()
    )
    assert view.follow_banner.property("level") == "error"
    view.plots.refresh(force=True)
    assert _loss_points(view) == 40

    view.show_starting("a run of this window")  # this window's run takes the view
    assert view.followed_run_id is None and not view.follow_banner.isVisible()
    assert view.progress_view.pause_button.toolTip().startswith("Pause the run")
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT_MS)
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)


def test_follow_live_is_offered_for_running_runs_this_window_does_not_train(qtbot, tmp_path):
    from PySide6.QtCore import Qt

    from mmstudio.store import Store
    from mmstudio.ui.experiments.panel import ExperimentsPanel
    from mmstudio.ui.state import StudioState

    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Store.open(url) as store:
        done = store.create_run(name="done")
        store.start_run(done)
        store.finish_run(done)
        elsewhere = store.create_run(name="elsewhere")
        store.start_run(elsewhere, pid=4242, hostname="gpu-box-7")
        mine = store.create_run(name="mine")
        store.start_run(mine)
    state = StudioState()
    state.db_url = url
    state.training_run_id = mine
    follows, pages = [], []
    state.follow_requested.connect(follows.append)
    state.page_requested.connect(pages.append)
    panel = ExperimentsPanel(state, Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(panel)
    panel.resize(1280, 800)
    with qtbot.waitSignal(panel.runs_loaded, timeout=TIMEOUT_MS):
        panel.show()
    action = panel.run_actions.follow_action
    assert action.iconText() == "Follow live" and action.text() == "Follow live on the Train page"
    panel.select_runs([done])
    assert not action.isEnabled()
    panel.select_runs([mine])
    assert not action.isEnabled() and action.toolTip().startswith("This window trains the run")
    panel.select_runs([elsewhere])
    assert action.isEnabled() and "another machine" in action.toolTip()

    def double_click(run_id: int) -> None:
        index = panel.proxy.mapFromSource(panel.model.index_of(run_id))
        panel.view.doubleClicked.emit(index)

    double_click(done)  # a finished run: nothing to follow
    double_click(elsewhere)
    double_click(mine)  # this window's: its Train page, nothing followed
    assert follows == [elsewhere] and pages == ["train", "train"]
    assert panel.view.editTriggers() == panel.view.EditTrigger.NoEditTriggers  # a double-click edits nothing
    assert Qt.ItemFlag.ItemIsEditable not in panel.proxy.flags(panel.proxy.index(0, 1))
    panel.shutdown()
