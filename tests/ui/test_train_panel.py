"""The Train page with a real worker process: a run started from Start updates the plots and ends
``completed`` in the store; Stop leaves a ``cancelled`` run with its metrics (and it resumes); a failing
run shows its message; the queue runs two jobs one after another; closing leaves no process."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from mmstudio.data.dataset import load_dataset
from mmstudio.data.spec import DatasetSpec
from mmstudio.store import Store
from mmstudio.training.spec import TrainSpec
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.train.panel import TrainPanel

#: Training on 2 shared cores: starting the worker (importing torch) and two tiny epochs take a while.
RUN_TIMEOUT_MS = 240_000
TINY_MODEL = {
    "task": "classification",
    "text_encoder": {"name": "textcnn"},
    "image_encoder": {"name": "small_cnn"},
    "fusion": {"name": "concat"},
}
TINY_TRAIN = TrainSpec(
    epochs=2,
    batch_size=32,
    image_size=32,
    max_len=16,
    device="cpu",
    num_threads=1,
    log_every_steps=1,
    checkpoint_every_s=0.0,
)


@pytest.fixture(scope="module")
def demo_dataset(small_demo):
    return load_dataset(small_demo)


@pytest.fixture
def make_panel(qtbot, tmp_path, small_demo, demo_dataset):
    panels = []

    def make(model=TINY_MODEL, **train) -> TrainPanel:
        state = StudioState()
        state.set_db_url(f"sqlite:///{tmp_path / 'runs.db'}")
        state.set_dataset(demo_dataset, DatasetSpec(path=str(small_demo)))
        state.set_model_spec(model)
        panel = TrainPanel(state, Settings(tmp_path / "settings.ini"))
        qtbot.addWidget(panel)
        panel.resize(1280, 800)
        panel.show()
        panel.set_train_spec(dataclasses.replace(TINY_TRAIN, **train))
        panels.append(panel)
        return panel

    yield make
    for panel in panels:  # never leave a worker behind, whatever the test did
        panel.stop_all(30)


def _runs(panel: TrainPanel):
    with Store.open(panel.state.db_url) as store:
        return {r.id: r for r in store.list_runs()}


def test_start_trains_updates_the_plots_and_records_a_completed_run(qtbot, make_panel):
    panel = make_panel()
    changes = []
    panel.state.runs_changed.connect(lambda: changes.append(1))
    qtbot.waitUntil(panel.start_button.isEnabled)  # once the data is checked
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        assert panel.has_running_run()
        assert not panel.start_button.isEnabled()
    run_id, status = finished.args
    assert status == "completed", panel.run_view.log.text()
    lengths = panel.run_view.plots.curve_lengths()
    assert lengths["train/loss"] > 0 and lengths["train/loss (smoothed)"] == lengths["train/loss"]
    assert lengths["train/lr"] > 0 and lengths["train/samples_per_s"] > 0
    assert lengths["val/accuracy"] == 2  # one point per epoch
    progress = panel.run_view.progress_view
    assert progress.progress.value() == progress.progress.maximum() > 1
    # The line says where the run ended, and in how long (no ETA or throughput that no longer hold).
    steps = progress.progress.maximum()
    assert progress.progress_label.text().startswith(f"Epoch 2/2 · step {steps}/{steps} · completed in ")
    assert "epoch 2:" in panel.run_view.log.text()
    assert not panel.has_running_run() and panel.start_button.isEnabled()
    assert len(changes) >= 2  # when the run started and when it ended
    run = _runs(panel)[run_id]
    assert run.status == "completed"
    assert run.device == "cpu"
    assert panel.entries[0].status == "completed" and panel.entries[0].run_id == run_id


def test_stop_leaves_a_cancelled_run_with_its_metrics_and_it_resumes(qtbot, make_panel):
    panel = make_panel(epochs=40)
    with qtbot.waitSignal(panel.run_started, timeout=RUN_TIMEOUT_MS) as started:
        panel.start()
    run_id = started.args[0]
    qtbot.waitUntil(lambda: panel.run_view.plots.curve_lengths()["train/loss"] > 0, timeout=RUN_TIMEOUT_MS)

    progress = panel.run_view.progress_view
    qtbot.mouseClick(progress.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "paused at step" in progress.status_label.text(), timeout=RUN_TIMEOUT_MS)
    assert progress.pause_button.text() == "Resume"
    # The page's keys, from a field of the form: Ctrl+P resumes, Ctrl+. stops.
    panel.activateWindow()
    panel.form.seed_spin.setFocus()
    qtbot.waitUntil(panel.form.seed_spin.hasFocus)
    QTest.keyClick(panel.form.seed_spin, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "resumed at step" in panel.run_view.log.text(), timeout=RUN_TIMEOUT_MS)

    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        QTest.keyClick(panel.form.seed_spin, Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier)
    assert finished.args == [run_id, "cancelled"]
    assert progress.status_label.text() == "stopped" and "ETA" not in progress.progress_label.text()
    assert _runs(panel)[run_id].status == "cancelled"
    with Store.open(panel.state.db_url) as store:
        stored = store.read_curve(run_id, "train/loss")
    assert len(stored) > 0

    # The stopped run is offered for resuming and chosen (no refresh pressed), and continues into
    # the same run.
    qtbot.waitUntil(lambda: panel.resumable.combo.currentData() == run_id, timeout=30_000)
    assert panel.resumable.resume_button.isEnabled()
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as resumed:
        panel.set_train_spec(dataclasses.replace(TINY_TRAIN, epochs=40))  # the resume uses the stored spec
        # Stop the resumed run at once: resuming is proven by the same run id running again.
        panel.run_started.connect(lambda _id: panel.stop())
        qtbot.mouseClick(panel.resumable.resume_button, Qt.MouseButton.LeftButton)
    assert resumed.args[0] == run_id
    assert "resuming at step" in panel.run_view.log.text()
    # The plots show the run from its first step: the curves so far come from the store.
    qtbot.waitUntil(lambda: len(panel.run_view.plots.loss_raw.buffer) >= len(stored), timeout=30_000)
    assert panel.run_view.plots.loss_raw.buffer.x[0] == stored.step[0]


def test_a_failing_run_shows_its_message_and_the_traceback_on_a_click(qtbot, make_panel):
    # Cross-attention needs both modalities: the job is refused with a message before training.
    impossible = {**TINY_MODEL, "image_encoder": {"name": "none"}, "fusion": {"name": "cross_attention"}}
    panel = make_panel(model=impossible)
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        panel.start()
    assert finished.args[1] == "failed"
    failure = panel.run_view.failure_view
    assert failure.bar.isVisible()
    text = failure.bar.label.text()
    assert "failed" in text and "cross" in text.lower(), text
    assert failure.details_button.isVisible() and not failure.details_text.isVisible()
    qtbot.mouseClick(failure.details_button, Qt.MouseButton.LeftButton)
    assert failure.details_text.isVisible() and failure.details_text.toPlainText().strip()
    assert panel.entries[0].status == "failed"
    assert not panel.has_running_run() and panel.start_button.isEnabled()


def test_the_queue_runs_two_jobs_one_after_another(qtbot, make_panel):
    panel = make_panel(epochs=1)
    order = []
    panel.run_started.connect(lambda run_id: order.append(("started", run_id, panel.has_running_run())))
    panel.run_finished.connect(lambda run_id, status: order.append(("finished", run_id, status)))
    panel.form.name_edit.setText("first")
    assert panel.add_to_queue() is not None
    panel.form.name_edit.setText("second")
    assert panel.add_to_queue() is not None
    assert [e.status for e in panel.entries] == ["queued", "queued"]
    assert panel.queue_view.model.rowCount() == 2
    # Reorder: the second goes first, then back.
    assert panel.move_entry(1, -1) and panel.entries[0].job.name == "second"
    assert panel.move_entry(0, 1) and panel.entries[0].job.name == "first"
    qtbot.mouseClick(panel.queue_view.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: [e.status for e in panel.entries] == ["completed", "completed"], timeout=2 * RUN_TIMEOUT_MS
    )
    qtbot.waitUntil(lambda: not panel.has_running_run(), timeout=60_000)
    first, second = (e.run_id for e in panel.entries)
    assert [o[0] for o in order] == ["started", "finished", "started", "finished"], order
    assert order[1][1] == first and order[2][1] == second
    runs = _runs(panel)
    assert runs[first].name == "first" and runs[second].name == "second"
    assert runs[first].status == runs[second].status == "completed"
    assert "[completed]" in panel.queue_view.model.index(1, 0).data()


def test_stop_all_joins_the_worker_and_leaves_no_process(qtbot, make_panel):
    panel = make_panel(epochs=40)
    with qtbot.waitSignal(panel.run_started, timeout=RUN_TIMEOUT_MS) as started:
        panel.start()
    handle = panel.controller.handle
    panel.stop_all(60)
    assert not panel.has_running_run()
    assert not handle.is_alive and handle.exitcode is not None
    assert _runs(panel)[started.args[0]].status == "cancelled"
