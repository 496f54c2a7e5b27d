"""The live plots: the incremental EMA (by the compare view's rule), and a million points fed through the
Train page's event path (no worker process); scores and losses per epoch apart, whole-epoch ticks, the
empty state, legends beside the data."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from mmstudio.store.compare import ema, smooth
from mmstudio.training import events as ev
from mmstudio.ui.plot_style import is_empty
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.train.live_plots import LivePlotsWidget
from mmstudio.ui.train.panel import TrainPanel


@pytest.mark.parametrize("weight", [0.3, 0.9, 0.99, 0.999])
def test_the_smoothed_loss_is_the_compare_views_however_the_points_arrive(qtbot, weight):
    plots = LivePlotsWidget()
    qtbot.addWidget(plots)
    plots.set_smoothing(weight)
    values = np.random.default_rng(0).normal(2.0, 0.5, 5000)
    for start, stop in ((0, 1), (1, 40), (40, 1234), (1234, 5000)):  # as a run's batches of events
        plots.add_points([("train/loss", n + 1, 1, float(values[n])) for n in range(start, stop)])
    whole = ema(values, weight)  # what the compare view draws for the run
    np.testing.assert_allclose(plots.loss_smooth.buffer.y, whole, rtol=1e-9, atol=1e-9)
    assert abs(plots.loss_smooth.buffer.y[0] - values[0]) < 1e-12  # debiased: starts at the first value
    plots.set_smoothing(0.5)  # recomputed at once for a new weight
    np.testing.assert_allclose(plots.loss_smooth.buffer.y, ema(values, 0.5), rtol=1e-9, atol=1e-9)


def test_plots_group_points_by_key_and_skip_non_finite(qtbot):
    plots = LivePlotsWidget()
    qtbot.addWidget(plots)
    kept = plots.add_points(
        [
            ("train/loss", 1, 1, 2.0),
            ("train/loss", 2, 1, float("nan")),
            ("train/loss", 3, 1, 1.0),
            ("train/lr", 3, 1, 0.001),
            ("train/samples_per_s", 3, 1, 500.0),
            ("val/accuracy", 3, 1, 0.5),
            ("val/loss", 3, 1, 1.5),
            ("test/accuracy", 3, 1, 0.9),  # not plotted live
        ]
    )
    assert kept == 6  # 2 losses, lr, throughput, val/accuracy, val/loss: the NaN and test/* left out
    assert plots.refresh(force=True)
    assert not plots.refresh(force=True)  # nothing changed: no redraw
    lengths = plots.curve_lengths()
    assert lengths["train/loss"] == 2
    assert lengths["train/lr"] == 1
    assert lengths["train/samples_per_s"] == 1
    assert lengths["val/accuracy"] == 1 and lengths["val/loss"] == 1
    assert "test/accuracy" not in lengths
    plots.set_smoothing(0.0)
    plots.refresh(force=True)
    _, smoothed = plots.loss_smooth.curve.getOriginalDataset()
    np.testing.assert_array_equal(smoothed, [2.0, 1.0])
    plots.clear()
    assert plots.curve_lengths()["train/loss"] == 0 and "val/accuracy" not in plots.curve_lengths()


def test_a_million_steps_through_the_panel_stay_bounded(qtbot, tmp_path):
    panel = TrainPanel(StudioState(), Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(panel)
    panel.resize(1280, 800)
    panel.show()
    per_event = 2000
    steps = 1_000_000
    started = time.monotonic()
    longest = 0.0
    for first in range(0, steps, per_event):
        points = tuple(
            ("train/loss", s, s // 10_000, 2.0 / (1 + s * 1e-5))
            for s in range(first + 1, first + per_event + 1)
        )
        points += (
            ("train/lr", first + per_event, 0, 0.001),
            ("train/samples_per_s", first + per_event, 0, 9e4),
        )
        t0 = time.perf_counter()
        panel.feed_events([ev.MetricsLogged(1, points, 0.0)])
        longest = max(longest, time.perf_counter() - t0)
    elapsed = time.monotonic() - started
    redraws = panel.run_view.plots.redraw_count
    # Each of the 4 plots is redrawn at most once per 50 ms of feeding, however many events arrived.
    assert redraws <= 4 * (1 + elapsed / 0.05), (redraws, elapsed)
    assert redraws < steps // per_event
    panel.redraw_plots()
    lengths = panel.run_view.plots.curve_lengths()
    assert lengths["train/loss"] == steps
    assert lengths["train/loss (smoothed)"] == steps
    assert lengths["train/lr"] == steps // per_event
    held = panel.run_view.plots.loss_raw.buffer
    assert held.x[0] == 1 and held.x[-1] == steps and held.y[0] == pytest.approx(2.0 / (1 + 1e-5))
    # what the curve draws: the whole run in a few points per pixel, from the first step to the last
    x, y = panel.run_view.plots.loss_raw.curve.getOriginalDataset()
    assert x[0] == 1 and x[-1] == steps and len(x) < 20_000
    assert y.max() == pytest.approx(2.0 / (1 + 1e-5)) and y[-1] == pytest.approx(2.0 / (1 + steps * 1e-5))
    assert longest < 1.0  # one tick's worth of points never blocks for long


def test_steps_logged_again_by_a_resumed_run_replace_the_earlier_ones(qtbot):
    plots = LivePlotsWidget()
    qtbot.addWidget(plots)
    plots.set_smoothing(0.0)
    plots.add_points([("train/loss", s, 1, 1.0) for s in range(1, 101)])
    # resumed from the checkpoint at step 50: steps 51... are logged again
    plots.add_points([("train/loss", s, 1, 3.0) for s in range(51, 61)])
    assert plots.curve_lengths()["train/loss"] == plots.curve_lengths()["train/loss (smoothed)"] == 60
    np.testing.assert_array_equal(plots.loss_raw.buffer.x, np.arange(1, 61))
    np.testing.assert_array_equal(plots.loss_smooth.buffer.y[50:], 3.0)


@pytest.mark.parametrize("points", [3, 9, 10, 30, 200, 5000])
def test_the_live_loss_is_smoothed_by_the_compare_views_rule(qtbot, points):
    """#3: a short loss is smoothed less (or not at all), as the compare view smooths it, however its
    points arrive."""
    plots = LivePlotsWidget()
    qtbot.addWidget(plots)
    plots.set_smoothing(0.99)
    values = np.random.default_rng(2).normal(2.0, 0.5, points)
    for start in range(0, points, 7):
        chunk = range(start, min(points, start + 7))
        plots.add_points([("train/loss", n + 1, 1, float(values[n])) for n in chunk])
    np.testing.assert_allclose(plots.loss_smooth.buffer.y, smooth("train/loss", values, 0.99), atol=1e-9)
    if points < 10:
        np.testing.assert_array_equal(plots.loss_smooth.buffer.y, values)  # drawn as they are


def _shown_plots(qtbot) -> LivePlotsWidget:
    plots = LivePlotsWidget()
    qtbot.addWidget(plots)
    plots.resize(900, 700)
    plots.show()
    qtbot.waitExposed(plots)
    return plots


def _plots(plots: LivePlotsWidget):
    return (
        plots.loss_plot,
        plots.epoch_loss_plot,
        plots.epoch_score_plot,
        plots.lr_plot,
        plots.throughput_plot,
    )


def test_scores_and_losses_per_epoch_have_plots_of_their_own_with_whole_epoch_ticks(qtbot):
    """#8: a 0-1 score beside a loss of 2 on one unlabelled axis read as flat lines."""
    plots = _shown_plots(qtbot)
    plots.add_points(
        [
            (key, 10 * epoch, epoch, value)
            for epoch in (1, 2, 3)
            for key, value in (
                ("val/accuracy", 0.3 + 0.1 * epoch),
                ("val/macro_f1", 0.2 + 0.1 * epoch),
                ("val/loss", 2.0 / epoch),
                ("train/epoch_loss", 2.5 / epoch),
            )
        ]
    )
    plots.refresh(force=True)
    losses = plots.epoch_loss_plot.getPlotItem()
    scores = plots.epoch_score_plot.getPlotItem()
    assert [name for _item, name in losses.legend.entries()] == ["train/epoch_loss", "val/loss"]
    assert [name for _item, name in scores.legend.entries()] == ["val/accuracy", "val/macro_f1"]
    assert losses.getAxis("left").labelText == "loss" and scores.getAxis("left").labelText == "score"
    assert scores.getViewBox().viewRange()[1][1] < 1.0  # scores alone: their own range
    for item in (losses, scores):
        axis = item.getAxis("bottom")
        low, high = item.getViewBox().viewRange()[0]
        ticks = [v for _spacing, level in axis.tickValues(low, high, axis.width()) for v in level]
        assert ticks and all(float(v).is_integer() for v in ticks)


def test_an_empty_plot_shows_its_empty_state_until_its_first_points(qtbot):
    """#8: no invented 0-1 axes before the run has logged anything."""
    plots = _shown_plots(qtbot)
    assert all(is_empty(plot) for plot in _plots(plots))
    plots.add_points([("train/loss", 1, 0, 2.0), ("train/loss", 2, 0, 1.9)])
    plots.refresh(force=True)
    assert not is_empty(plots.loss_plot)
    assert all(is_empty(plot) for plot in _plots(plots)[1:])  # nothing for them yet
    plots.add_points([("val/accuracy", 2, 1, 0.5), ("train/lr", 2, 0, 0.001)])
    plots.refresh(force=True)
    assert not is_empty(plots.epoch_score_plot) and not is_empty(plots.lr_plot)
    assert is_empty(plots.epoch_loss_plot) and is_empty(plots.throughput_plot)
    plots.clear()
    assert all(is_empty(plot) for plot in _plots(plots))


def test_the_legends_hide_no_data(qtbot):
    """#6: each legend sits above its plot's data, in the palette's text colour."""
    plots = _shown_plots(qtbot)
    plots.add_points(
        [("train/loss", s, 1, 3.0 - s / 50) for s in range(1, 101)]
        + [("val/loss", 50, 1, 2.0), ("val/loss", 100, 2, 1.5), ("val/accuracy", 100, 2, 0.6)]
        + [("train/epoch_loss", 50, 1, 2.2), ("train/epoch_loss", 100, 2, 1.6), ("val/accuracy", 50, 1, 0.4)]
    )
    plots.refresh(force=True)
    QApplication.processEvents()
    text = QApplication.palette().color(QPalette.ColorRole.Text)
    for plot in _plots(plots)[:3]:
        item = plot.getPlotItem()
        view = item.getViewBox()
        assert item.legend.isVisible() and item.legend.items
        assert not item.legend.sceneBoundingRect().intersects(view.mapRectToScene(view.rect()))
        assert all(QColor(label.opts["color"]) == text for _sample, label in item.legend.items)
