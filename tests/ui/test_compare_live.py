"""The Compare page with a run that is still training in another process (``tests/remote_trainer.py``):
its curve grows from polls of the store without the chart being drawn again (the user's zoom and the
run they hid stay), its numbers on the Metrics tab follow, and once it has ended the polls stop and its
test evaluation is there."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QThreadPool

from mmstudio.store import Store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pyqtgraph")

TIMEOUT_MS = 30_000
POLL_S = 0.2  # the tests poll faster than the app's 1.5 s


def _finished_run(url: str) -> int:
    with Store.open(url) as store:
        run_id = store.create_run(name="done", train_spec={"epochs": 3, "lr": 3e-3})
        store.start_run(run_id)
        store.log_metrics(
            run_id, [("train/loss", s, (s - 1) // 30 + 1, 1.5 / s**0.5, None) for s in range(1, 91)]
        )
        store.log_metrics(run_id, [("val/accuracy", 30 * e, e, 0.4 + 0.1 * e, None) for e in (1, 2, 3)])
        store.finish_run(run_id)
    return run_id


def _last_cell(panel, run_id: int, key: str) -> str:
    """The Metrics tab's cell of ``key``'s last value for ``run_id``."""
    table = panel.metrics_tab.table
    column = 1 + 2 * panel.comparison.run_ids.index(run_id)
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == key)
    return table.item(row, column).text()


def test_a_running_runs_curve_grows_and_its_numbers_follow(qtbot, tmp_path, remote):
    from mmstudio.ui.compare.panel import ComparePanel
    from mmstudio.ui.settings import Settings
    from mmstudio.ui.state import StudioState

    url = f"sqlite:///{tmp_path / 'store.db'}"
    done = _finished_run(url)
    hold = tmp_path / "go-on"
    run = remote(url, "--epochs", "3", "--steps", "30", "--step-s", "0.02", "--hold", str(hold))
    state = StudioState()
    state.db_url = url
    panel = ComparePanel(state, Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(panel)
    panel.resize(1280, 800)
    panel.show()
    panel.live.set_interval(POLL_S)
    with qtbot.waitSignal(panel.comparison_loaded, timeout=TIMEOUT_MS):
        panel.set_runs([done, run.run_id])
    assert panel.live.running == [run.run_id] and panel.live.polling
    panel.set_metric("train/loss")  # (drawn first already when the runs shared no other metric yet)
    chart = panel.curves
    qtbot.waitUntil(lambda: chart.key == "train/loss" and chart.point_count(done) == 90, timeout=TIMEOUT_MS)
    assert f"#{run.run_id} running: followed from the store as it trains" in panel.status.text()

    # the user zooms in and hides the finished run
    chart._styles[done].legend_entry.setVisible(False)
    assert not chart.is_shown(done)
    view = chart.plot.getViewBox()
    view.setXRange(5, 25, padding=0)
    zoomed = view.viewRange()[0]
    drawn_done = chart.smooth_traces._traces[done]  # the finished run is not drawn again

    first = chart.point_count(run.run_id)
    qtbot.waitUntil(lambda: chart.point_count(run.run_id) > first, timeout=TIMEOUT_MS)
    second = chart.point_count(run.run_id)
    qtbot.waitUntil(lambda: chart.point_count(run.run_id) > second, timeout=TIMEOUT_MS)
    assert view.viewRange()[0] == pytest.approx(zoomed) and not chart.is_shown(done)
    assert chart.smooth_traces._traces[done] is drawn_done
    assert chart.smooth_traces._traces[run.run_id].visible  # the running run is shown

    panel.show_tab("metrics")
    qtbot.waitUntil(lambda: chart.point_count(run.run_id) >= 60, timeout=TIMEOUT_MS)  # held: 2 epochs
    qtbot.waitUntil(lambda: panel.comparison.stats[run.run_id]["train/loss"].count == 60, timeout=TIMEOUT_MS)
    # the Metrics tab, shown, follows: epoch 2's last value (the finished run's are its own)
    qtbot.waitUntil(lambda: _last_cell(panel, run.run_id, "val/accuracy") == "0.75", timeout=TIMEOUT_MS)
    assert _last_cell(panel, done, "val/accuracy") == "0.7"
    assert panel.comparison.evaluation(run.run_id) is None

    hold.touch()
    qtbot.waitUntil(lambda: panel.comparison.evaluation(run.run_id) is not None, timeout=TIMEOUT_MS)
    run.finish()
    assert panel.live.running == [] and not panel.live.polling  # it ended: no more reading
    assert panel.comparison.runs[1].status.value == "completed"
    assert _last_cell(panel, run.run_id, "val/accuracy") == "0.8333"
    assert "running" not in panel.status.text()
    with Store.open(url) as store:
        whole = store.read_curve(run.run_id, "train/loss")
    grown = chart.curve(run.run_id)
    assert len(grown) == 90 and (grown.step == whole.step).all() and (grown.value == whole.value).all()
    assert chart.point_count(run.run_id) == 90
    # its smoothed line, grown piece by piece, is the one smoothing the whole curve gives
    from mmstudio.store.compare import smooth

    expected = smooth("train/loss", whole.value, chart.smoothing)
    assert chart._smoothed[run.run_id] == pytest.approx(expected, rel=1e-9)
    panel.show_tab("curves")
    assert view.viewRange()[0] == pytest.approx(zoomed) and not chart.is_shown(done)
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT_MS)
    panel.shutdown()
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)
