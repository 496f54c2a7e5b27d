"""The Train page's run view: the worker's events become the run's name, progress, log lines (the
core's own words, ``events.describe``) and plot points; a run that fails without a traceback shows
its last log lines instead; the owner hears when a run starts and ends."""

from __future__ import annotations

import pytest

from mmstudio.training import events as ev
from mmstudio.ui.train.run_view import RunViewWidget


@pytest.fixture
def view(qtbot) -> RunViewWidget:
    widget = RunViewWidget()
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    return widget


def test_a_run_that_fails_is_shown_from_its_start_to_its_failure(view):
    started, ended = [], []
    view.run_started.connect(started.append)
    view.run_ended.connect(lambda *args: ended.append(args))
    view.show_starting("first · textcnn · 2 epochs, batch 32, lr 0.003")
    progress = view.progress_view
    assert progress.run_label.text() == "first" and progress.progress.maximum() == 0  # busy
    assert "starting: first" in view.log.text() and not view.failure_view.isVisible()

    run = ev.RunStarted(3, "first", "cpu", 2, 10, 20, parameters=1234)
    points = tuple(("train/loss", s, 1, 1.0 / s) for s in range(1, 11))
    view.feed_events(
        [
            run,
            ev.MetricsLogged(3, points),
            ev.ProgressUpdated(3, 1, 10, 20, 64.0, 5.0),
            ev.EpochEnded(3, 1, 10, {"val/accuracy": 0.5}),
        ]
    )
    assert started == [run]
    assert progress.run_label.text() == "Run 3 · first" and progress.status_label.text() == "running"
    assert progress.progress.value() == 10 and "step 10/20" in progress.progress_label.text()
    assert view.plots.curve_lengths()["train/loss"] == 10
    epoch = ev.EpochEnded(3, 1, 10, {"val/accuracy": 0.5})
    assert [line.split(" ", 1)[1] for line in view.log.last_lines(2)] == [
        ev.describe(run)[1],  # type: ignore[index]
        ev.describe(epoch)[1],  # type: ignore[index]
    ]

    view.feed_events([ev.RunFailed(3, "the loss became NaN at step 11", "nan_loss", traceback="")])
    assert ended == [(3, "failed", "the loss became NaN at step 11")]
    assert progress.status_label.text() == "failed"
    assert view.last_failure is not None and view.failure_view.isVisible()
    assert "Run 3 failed: the loss became NaN" in view.failure_view.bar.label.text()
    details = view.failure_view.details_text.toPlainText()
    assert details.startswith("No traceback") and "epoch 1: val/accuracy 0.5" in details

    view.show_starting("second · default model · 1 epochs, batch 32, lr 0.003")  # the next run
    assert not view.failure_view.isVisible() and view.plots.curve_lengths()["train/loss"] == 0


def _started(view: RunViewWidget) -> None:
    view.show_starting("run · textcnn · 3 epochs")
    view.feed_events([ev.RunStarted(4, "run", "cpu", 3, 18, 54)])


def test_a_pause_shows_the_step_it_paused_at_on_the_line_and_in_the_header(view):
    _started(view)
    progress = view.progress_view
    # The throttled progress of step 20 arrives with the pause at step 30: both say step 30.
    view.feed_events([ev.ProgressUpdated(4, 2, 20, 54, 64.0, 12.0), ev.RunPaused(4, 30)])
    assert progress.status_label.text() == "paused at step 30"
    assert progress.progress_label.text() == "Epoch 2/3 · step 30/54 · paused"
    assert progress.progress.value() == 30
    view.finish()  # a later flush does not bring the older progress back
    assert progress.progress_label.text() == "Epoch 2/3 · step 30/54 · paused"
    view.feed_events([ev.RunResumed(4, 30)])
    assert progress.status_label.text() == "running" and "ETA" not in progress.progress_label.text()
    view.feed_events([ev.ProgressUpdated(4, 2, 36, 54, 64.0, 9.0)])
    assert progress.progress_label.text() == "Epoch 2/3 · step 36/54 · ETA 00:09 · 64 samples/s"


def test_the_eta_goes_when_the_run_ends_and_a_stopped_run_reads_stopped(view):
    _started(view)
    progress = view.progress_view
    view.feed_events(
        [ev.ProgressUpdated(4, 2, 30, 54, 64.0, 12.0), ev.RunFinished(4, "cancelled", duration_s=21.0)]
    )
    view.finish()
    assert progress.status_label.text() == "stopped"
    assert progress.progress_label.text() == "Epoch 2/3 · step 30/54 · stopped after 00:21"
    assert view.log.last_lines(1)[0].split(" ", 1)[1] == "run 4 stopped in 21.0 s."
    view.feed_events([ev.ProgressUpdated(4, 2, 31, 54, 64.0, 11.0)])  # late progress is not shown
    view.finish()
    assert "ETA" not in progress.progress_label.text()

    _started(view)
    view.feed_events(
        [ev.ProgressUpdated(4, 3, 54, 54, 64.0, 0.0), ev.RunFinished(4, "completed", duration_s=43.0)]
    )
    assert progress.status_label.text() == "completed" and progress.progress.value() == 54
    assert progress.progress_label.text() == "Epoch 3/3 · step 54/54 · completed in 00:43"


def test_a_run_refused_before_it_began_says_so_on_the_progress_line(view):
    view.show_starting("run · default model · 3 epochs")
    assert view.progress_view.progress_label.text() == "Loading the dataset and building the model…"
    view.feed_events([ev.RunFailed(0, "one has a single label ('cat'), and …", "unusable_input")])
    progress = view.progress_view
    assert progress.status_label.text() == "failed"
    assert progress.progress_label.text() == "The run failed before training began."
    assert progress.progress.maximum() == 1  # not busy any more
    assert "The run failed: one has a single label" in view.failure_view.bar.label.text()
