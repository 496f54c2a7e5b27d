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
