"""The Experiments page: rows from a real store, numeric sorting, search and filters, runs written by
another store connection appearing on their own, the edit actions persisting, delete, re-open in the
builder, compare, and (with a real short training) evaluate and export."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QModelIndex, Qt, QThreadPool
from PySide6.QtWidgets import QMessageBox, QPushButton

from mmstudio.store import Store
from mmstudio.ui.experiments.panel import ExperimentsPanel
from mmstudio.ui.experiments.table import COLUMN_KEYS, RUN_ID_ROLE
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState

TIMEOUT_MS = 20_000

FUSED = {
    "task": "classification",
    "text_encoder": {"name": "bag", "embed_dim": 16},
    "image_encoder": {"name": "small_cnn", "width": 4, "blocks": 2},
    "fusion": {"name": "concat"},
    "head": {"name": "mlp", "hidden": 32},
}
TEXT_ONLY = {**FUSED, "image_encoder": {"name": "none"}, "fusion": {"name": "concat"}}


def add_run(
    store: Store,
    name: str,
    *,
    accuracy: list[float] | None = None,
    status: str = "completed",
    spec=FUSED,
    dataset_id=None,
    tags=(),
    notes="",
) -> int:
    run_id = store.create_run(
        name=name, spec=spec, dataset_id=dataset_id, tags=tags, notes=notes, device="cpu"
    )
    if status == "queued":
        return run_id
    store.start_run(run_id)
    points = []
    for epoch, acc in enumerate(accuracy or [], start=1):
        points.append(("val/accuracy", epoch * 10, float(epoch), acc, None))
        points.append(("val/loss", epoch * 10, float(epoch), 1.0 - acc, None))
    if points:
        store.log_metrics(run_id, points)
    if status != "running":
        store.finish_run(
            run_id, status, error_message="loss became NaN at step 7" if status == "failed" else None
        )
    return run_id


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def filled(db_url):
    """Four runs: three on 'demo' (accuracies 0.9 best / 0.75 last, 0.6, 0.125) and one queued on 'other'."""
    with Store.open(db_url) as store:
        demo = store.create_dataset(
            name="demo", path="/d", format="manifest", fingerprint="f1", item_count=10
        )
        other = store.create_dataset(
            name="other", path="/o", format="manifest", fingerprint="f2", item_count=5
        )
        ids = {
            "alpha": add_run(store, "alpha", accuracy=[0.5, 0.9, 0.75], dataset_id=demo.id, tags=["base"]),
            "beta": add_run(
                store, "beta", accuracy=[0.6], dataset_id=demo.id, spec=TEXT_ONLY, notes="gru try"
            ),
            "gamma": add_run(store, "gamma", accuracy=[0.125], dataset_id=demo.id, status="failed"),
            "delta": add_run(store, "delta", dataset_id=other.id, status="queued", tags=["later"]),
        }
    return ids


@pytest.fixture
def make_panel(qtbot, tmp_path, db_url):
    def make() -> ExperimentsPanel:
        state = StudioState()
        state.db_url = db_url
        panel = ExperimentsPanel(state, Settings(tmp_path / "settings.ini"))
        qtbot.addWidget(panel)
        panel.resize(1280, 800)
        with qtbot.waitSignal(panel.runs_loaded, timeout=TIMEOUT_MS):
            panel.show()
        return panel

    yield make
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)


def column(panel: ExperimentsPanel, key: str) -> list:
    col = COLUMN_KEYS.index(key)
    return [panel.proxy.index(row, col).data() for row in range(panel.proxy.rowCount())]


def shown_ids(panel: ExperimentsPanel) -> list[int]:
    return [panel.proxy.index(row, 0).data(RUN_ID_ROLE) for row in range(panel.proxy.rowCount())]


def wait_idle(qtbot, panel: ExperimentsPanel) -> None:
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT_MS)


def test_rows_show_every_run_newest_first(make_panel, filled):
    panel = make_panel()
    assert panel.stack.currentWidget() is panel.page
    assert panel.model.rowCount() == 4
    assert column(panel, "name") == ["delta", "gamma", "beta", "alpha"]  # created, descending
    row = {n: r for r, n in enumerate(column(panel, "name"))}
    assert column(panel, "metric")[row["alpha"]] == "val/accuracy"
    assert column(panel, "best")[row["alpha"]] == "0.9"
    assert column(panel, "last")[row["alpha"]] == "0.75"
    assert column(panel, "loss_best")[row["alpha"]] == "0.1"
    assert column(panel, "status")[row["gamma"]] == "failed"
    assert column(panel, "dataset")[row["delta"]] == "other"
    assert column(panel, "architecture")[row["alpha"]] == "bag + small_cnn · concat"
    assert column(panel, "architecture")[row["beta"]] == "bag (text only)"
    assert column(panel, "tags")[row["alpha"]] == "base"
    assert column(panel, "notes")[row["beta"]] == "gru try"
    assert panel.count_label.text() == "4 runs"


def test_columns_sort_as_numbers_with_empty_cells_last(make_panel, filled):
    panel = make_panel()
    best = COLUMN_KEYS.index("best")
    panel.view.sortByColumn(best, Qt.SortOrder.AscendingOrder)
    assert column(panel, "name") == ["gamma", "beta", "alpha", "delta"]
    panel.view.sortByColumn(best, Qt.SortOrder.DescendingOrder)
    assert column(panel, "name") == ["alpha", "beta", "gamma", "delta"]
    panel.view.sortByColumn(COLUMN_KEYS.index("id"), Qt.SortOrder.AscendingOrder)
    assert shown_ids(panel) == sorted(filled.values())
    panel.view.sortByColumn(COLUMN_KEYS.index("name"), Qt.SortOrder.DescendingOrder)
    assert column(panel, "name") == ["gamma", "delta", "beta", "alpha"]


def test_search_and_filters_narrow_the_rows(make_panel, filled):
    panel = make_panel()
    panel.search.setText("gru")  # notes
    assert column(panel, "name") == ["beta"]
    panel.search.setText("BASE")  # tags, any case
    assert column(panel, "name") == ["alpha"]
    panel.search.setText("small_cnn")  # architecture
    assert sorted(column(panel, "name")) == ["alpha", "delta", "gamma"]
    assert panel.count_label.text() == "3 of 4 runs"
    panel.search.clear()
    panel.status_filter.setCurrentIndex(panel.status_filter.findData("failed"))
    assert column(panel, "name") == ["gamma"]
    panel.status_filter.setCurrentIndex(0)
    assert panel.dataset_filter.count() == 3  # all, demo, other
    panel.dataset_filter.setCurrentIndex(panel.dataset_filter.findData("other"))
    assert column(panel, "name") == ["delta"]
    panel.dataset_filter.setCurrentIndex(0)
    assert panel.proxy.rowCount() == 4


def test_a_run_written_elsewhere_appears_and_updates_without_user_action(make_panel, filled, db_url, qtbot):
    panel = make_panel()
    panel.select_runs([filled["alpha"]])
    with Store.open(db_url) as other:  # another connection, as another process would have
        new_id = add_run(other, "from-cli", accuracy=[0.3], status="running")
    qtbot.waitUntil(lambda: panel.model.row_of(new_id) is not None, timeout=TIMEOUT_MS)
    assert panel.model.record_by_id(new_id).status == "running"
    assert panel.selected_run_ids() == [filled["alpha"]]  # the selection survived the update
    with Store.open(db_url) as other:
        other.log_metrics(new_id, [("val/accuracy", 20, 2.0, 0.95, None)])
        other.finish_run(new_id)
    qtbot.waitUntil(lambda: panel.model.record_by_id(new_id).status == "completed", timeout=TIMEOUT_MS)
    assert panel.model.record_by_id(new_id).best == pytest.approx(0.95)
    assert panel.model.rowCount() == 5
    with Store.open(db_url) as other:  # notes written by `mmstudio runs note` show up too
        other.set_notes(new_id, "written elsewhere")
    qtbot.waitUntil(lambda: panel.model.record_by_id(new_id).notes == "written elsewhere", timeout=TIMEOUT_MS)


def test_column_widths_order_and_sort_come_back_in_the_next_session(make_panel, filled, qtbot):
    panel = make_panel()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 4, timeout=TIMEOUT_MS)
    header = panel.view.header()
    name_col = COLUMN_KEYS.index("name")
    header.resizeSection(name_col, 333)
    header.moveSection(header.visualIndex(name_col), 0)
    panel.view.sortByColumn(name_col, Qt.SortOrder.AscendingOrder)
    panel.shutdown()  # as the window does when it closes: a pending save is written now

    again = make_panel()
    qtbot.waitUntil(lambda: again.model.rowCount() == 4, timeout=TIMEOUT_MS)
    header = again.view.header()
    assert header.sectionSize(name_col) == 333
    assert header.visualIndex(name_col) == 0
    assert header.sortIndicatorSection() == name_col
    assert header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder


def test_rename_tags_and_notes_persist(make_panel, filled, db_url, qtbot):
    panel = make_panel()
    run_id = filled["beta"]
    panel.run_actions.rename_run(run_id, "beta-renamed")
    wait_idle(qtbot, panel)
    panel.run_actions.set_tags(run_id, ["a", " b ", ""])
    wait_idle(qtbot, panel)
    panel.run_actions.edit_notes(run_id, "line one\nline two")
    wait_idle(qtbot, panel)
    qtbot.waitUntil(
        lambda: panel.model.record_by_id(run_id).notes == "line one\nline two", timeout=TIMEOUT_MS
    )
    with Store.open(db_url) as store:
        run = store.get_run(run_id)
    assert (run.name, run.tags, run.notes) == ("beta-renamed", ("a", "b"), "line one\nline two")
    rec = panel.model.record_by_id(run_id)
    assert (rec.name, rec.tags) == ("beta-renamed", ("a", "b"))
    row = panel.model.row_of(run_id)
    assert panel.model.index(row, COLUMN_KEYS.index("notes")).data() == "line one …"


def test_delete_asks_then_removes_the_run_and_its_files(make_panel, filled, db_url, qtbot, monkeypatch):
    panel = make_panel()
    run_id = filled["gamma"]
    with Store.open(db_url) as store:
        folder = store.run_dir(run_id)
    folder.mkdir(parents=True)
    (folder / "best.json").write_text("{}")
    asked = []
    monkeypatch.setattr(
        QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No
    )
    panel.select_runs([run_id])
    panel.run_actions.delete_selected()
    wait_idle(qtbot, panel)
    assert asked and panel.model.row_of(run_id) is not None  # declined: nothing deleted
    _parent, title, text, *_ = asked[0]  # one run is spoken of as one (#19)
    assert title == "Delete run" and text.startswith(f"Delete 1 run: {run_id} (gamma)?")
    assert (
        "Its record, curves, evaluations and the checkpoint files mmstudio wrote for it are removed" in text
    )
    panel.select_runs([filled["alpha"], run_id])
    panel.run_actions.delete_selected()
    _parent, title, text, *_ = asked[1]
    assert title == "Delete runs" and text.startswith("Delete 2 runs: ") and "Their records" in text

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(panel.state.runs_changed, timeout=TIMEOUT_MS):
        panel.run_actions.delete_selected()
    qtbot.waitUntil(lambda: panel.model.row_of(run_id) is None, timeout=TIMEOUT_MS)
    assert not folder.exists()
    with Store.open(db_url) as store:
        assert run_id not in [r.id for r in store.list_runs()]


def test_the_actions_icons_say_what_they_do(make_panel, filled):
    """#19: evaluating is not a check mark, comparing is the Compare page's picture."""
    from mmstudio.ui.resources import icon

    panel = make_panel()
    actions = panel.run_actions
    assert actions.evaluate_action.icon().cacheKey() == icon("evaluate").cacheKey()
    assert not icon("evaluate").isNull() and icon("evaluate").cacheKey() != icon("check").cacheKey()
    assert actions.compare_action.icon().cacheKey() == icon("compare").cacheKey()
    assert panel.count_label.text() == "4 runs"
    panel.search.setText("gru")
    assert panel.count_label.text() == "1 of 4 runs"


def test_reopen_spec_and_compare_talk_to_the_window(make_panel, filled):
    panel = make_panel()
    pages, compared, models = [], [], []
    panel.state.page_requested.connect(pages.append)
    panel.state.model_spec_requested.connect(lambda spec, origin: models.append((spec, origin)))
    panel.state.compare_requested.connect(compared.append)

    panel.select_runs([filled["beta"]])
    assert panel.run_actions.builder_action.isEnabled() and not panel.run_actions.compare_action.isEnabled()
    panel.run_actions.open_selected_in_builder()
    assert models == [(TEXT_ONLY, f"run {filled['beta']} (beta)")] and pages == ["model"]

    panel.select_runs([filled["alpha"], filled["beta"]])
    assert panel.run_actions.compare_action.isEnabled() and not panel.run_actions.rename_action.isEnabled()
    panel.run_actions.compare_selected()
    assert sorted(compared[0]) == sorted([filled["alpha"], filled["beta"]]) and pages[-1] == "compare"


def test_open_in_builder_restores_the_whole_job_the_run_stored(
    make_panel, db_url, small_demo, tmp_path, qtbot
):
    """The model spec on the Model page, the training settings for the Train page, and (no dataset
    being open) the recorded dataset; an old record's dataset is its row's folder; one that is gone is
    said, not asked for; with a dataset open, it stays."""
    from mmstudio.data.spec import DatasetSpec
    from mmstudio.training.spec import TrainSpec

    recorded = DatasetSpec(str(small_demo), format="manifest", seed=3, check_images="header")
    with Store.open(db_url) as store:
        row = store.ensure_dataset(
            name="small", path=small_demo, format="manifest", fingerprint="f", item_count=240, summary={}
        )
        gone_row = store.ensure_dataset(
            name="gone", path=tmp_path / "gone", format="manifest", fingerprint="g", item_count=1, summary={}
        )
        job = store.create_run(
            name="job",
            spec=FUSED,
            train_spec={"epochs": 7, "lr": 0.02, "batch_size": 16},
            dataset_spec=recorded.to_dict(),
            dataset_id=row.id,
        )
        old = store.create_run(name="old", spec=TEXT_ONLY, dataset_id=row.id)
        gone = store.create_run(name="gone", spec=FUSED, dataset_id=gone_row.id)
    panel = make_panel()
    state = panel.state
    pages, models, trains, datasets = [], [], [], []
    state.page_requested.connect(pages.append)
    state.model_spec_requested.connect(lambda spec, origin: models.append((spec, origin)))
    state.train_spec_requested.connect(trains.append)
    state.dataset_requested.connect(datasets.append)

    with qtbot.waitSignal(state.dataset_requested, timeout=TIMEOUT_MS):
        assert panel.run_actions.open_in_builder(job)
    assert models == [(FUSED, f"run {job} (job)")] and pages == ["model"]
    assert trains == [TrainSpec.from_dict({"epochs": 7, "lr": 0.02, "batch_size": 16})]
    assert datasets == [recorded]

    with qtbot.waitSignal(state.dataset_requested, timeout=TIMEOUT_MS):
        assert panel.run_actions.open_in_builder(old)  # recorded before the spec was kept
    assert models[-1] == (TEXT_ONLY, f"run {old} (old)") and datasets[-1] == DatasetSpec(str(small_demo))
    assert len(trains) == 1  # it stored no training settings

    panel.run_actions.open_in_builder(gone)
    wait_idle(qtbot, panel)
    assert len(datasets) == 2 and "dataset was not opened" in panel.message.label.text()

    state.set_dataset(recorded.load(), recorded)
    panel.run_actions.open_in_builder(job)
    wait_idle(qtbot, panel)
    assert len(datasets) == 2 and len(trains) == 2  # the open dataset stays


def test_open_in_builder_puts_the_job_on_the_pages_of_the_window(qtbot, tmp_path, small_demo):
    """Through the window: the Train page shows the run's settings, the Model page its spec, and the
    Datasets page loads its dataset; the window shows the Model page."""
    from mmstudio.data.spec import DatasetSpec
    from mmstudio.ui.main_window import MainWindow

    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    recorded = DatasetSpec(
        str(small_demo), format="manifest", seed=5, val_fraction=0.2, check_images="header"
    )
    with Store.open(db_url) as store:
        run_id = store.create_run(
            name="job", spec=FUSED, train_spec={"epochs": 7, "lr": 0.02}, dataset_spec=recorded.to_dict()
        )
    window = MainWindow(Settings(tmp_path / "settings.ini"), db_url=db_url)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    experiments = window.experiments
    with qtbot.waitSignal(experiments.runs_loaded, timeout=TIMEOUT_MS):
        experiments.refresh()
    with qtbot.waitSignal(window.datasets.loading_finished, timeout=60_000):
        assert experiments.run_actions.open_in_builder(run_id)
    assert window.current_page() == "model"
    # the builder shows it untitled (its library loads in the background), then publishes it
    qtbot.waitUntil(lambda: window.state.model_spec is not None, timeout=120_000)
    assert {k: window.state.model_spec[k]["name"] for k in ("text_encoder", "image_encoder", "fusion")} == {
        "text_encoder": "bag",
        "image_encoder": "small_cnn",
        "fusion": "concat",
    }
    assert window.model.document_name() == f"Untitled model (from run {run_id} (job))"
    assert not window.model.is_dirty()
    train = window.train.train_spec()
    assert (train.epochs, train.lr) == (7, 0.02)
    assert window.state.dataset is not None and window.state.dataset_spec == recorded  # its splits too
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=60_000)
    experiments.shutdown()


def test_an_empty_store_shows_how_to_make_a_run(make_panel, db_url, qtbot):
    panel = make_panel()
    assert panel.stack.currentWidget() is panel.empty
    pages = []
    panel.state.page_requested.connect(pages.append)
    [button] = [b for b in panel.empty.findChildren(QPushButton) if b.text() == "Open a dataset first"]
    button.click()
    assert pages == ["datasets"]
    panel.state.set_dataset(object())  # any dataset: the next step is a run
    assert button.text() == "Train a model on the Train page"
    button.click()
    assert pages == ["datasets", "train"]
    panel.state.set_dataset(None)
    assert "mmstudio train --demo" in panel.empty.text.text()
    with Store.open(db_url) as store:
        add_run(store, "first")
    qtbot.waitUntil(lambda: panel.stack.currentWidget() is panel.page, timeout=TIMEOUT_MS)


def test_failed_run_details_say_why(make_panel, filled):
    panel = make_panel()
    panel.select_runs([filled["gamma"]])
    text = panel.details.toPlainText()
    assert "loss became NaN at step 7" in text and "val/accuracy" in text and "small_cnn" in text


def test_a_real_run_evaluates_exports_and_deletes(
    make_panel, small_demo, db_url, qtbot, tmp_path, monkeypatch
):
    from mmstudio.data.spec import DatasetSpec
    from mmstudio.training.runner import run_job
    from mmstudio.training.spec import RunJob, TrainSpec

    train = TrainSpec(epochs=1, batch_size=32, image_size=32, max_len=16, device="cpu", log_every_steps=1)
    job = RunJob(
        dataset=DatasetSpec(str(small_demo), check_images="header"),
        model=FUSED,
        train=train,
        name="real",
        db_url=db_url,
    )
    result = run_job(job)
    assert result.status == "completed", result.message
    panel = make_panel()
    rec = panel.model.record_by_id(result.run_id)
    assert rec.test is not None and rec.dataset and rec.duration_s

    with qtbot.waitSignal(panel.task_finished, timeout=120_000) as done:
        panel.run_actions.evaluate(result.run_id, str(small_demo))
    assert done.args == ["evaluate", True], panel.message.label.text()
    assert "accuracy" in panel.run_actions.last_evaluation["metrics"]
    assert panel.run_actions.evaluation_dialog.table.rowCount() > 0
    panel.run_actions.evaluation_dialog.close()
    with Store.open(db_url) as store:
        assert any(e.split == "eval:all" for e in store.list_evaluations(result.run_id))
        tested = store.metric_stats([result.run_id])[result.run_id]["test/accuracy"].last_value

    # on its own dataset: the recorded spec gives back the test split the run was trained without
    assert panel.run_actions.evaluate_own_action.isEnabled()
    with qtbot.waitSignal(panel.task_finished, timeout=120_000) as done:
        panel.run_actions.evaluate_on_own_dataset(result.run_id)
    assert done.args == ["evaluate", True], panel.message.label.text()
    own = panel.run_actions.last_evaluation
    assert own["items"] == 24 and own["metrics"]["accuracy"] == pytest.approx(tested)
    panel.run_actions.evaluation_dialog.close()

    out = tmp_path / "model.pt"
    with qtbot.waitSignal(panel.task_finished, timeout=120_000) as done:
        panel.run_actions.export(result.run_id, str(out), "torchscript")
    assert done.args == ["export", True], panel.message.label.text()
    assert out.is_file() and (tmp_path / "model.pt.json").is_file()

    with Store.open(db_url) as store:
        folder = store.run_dir(result.run_id)
    assert folder.is_dir()
    panel.run_actions.delete_runs([result.run_id], confirm=False)
    qtbot.waitUntil(lambda: panel.model.row_of(result.run_id) is None, timeout=TIMEOUT_MS)
    assert not folder.exists()


@pytest.fixture
def real_run(small_demo, db_url) -> int:
    """One short real run on the small demo (recorded with its dataset spec and a checkpoint)."""
    from mmstudio.data.spec import DatasetSpec
    from mmstudio.training.runner import run_job
    from mmstudio.training.spec import RunJob, TrainSpec

    train = TrainSpec(epochs=1, batch_size=32, image_size=32, max_len=16, device="cpu", log_every_steps=1)
    job = RunJob(
        DatasetSpec(str(small_demo), check_images="header"), FUSED, train, name="real", db_url=db_url
    )
    result = run_job(job)
    assert result.status == "completed", result.message
    return result.run_id


def test_an_evaluation_shows_its_progress_and_warns_of_training_images(
    make_panel, real_run, small_demo, tmp_path, qtbot
):
    """#13: a progress row with the step and a Cancel button while it runs; a dataset holding copies
    of the run's training images is warned of, with the count, in the result dialog."""
    import shutil

    copy = shutil.copytree(small_demo, tmp_path / "downloaded-again")
    panel = make_panel()
    panel.select_runs([real_run])
    row = panel.run_actions.progress_row
    assert row.isHidden()
    steps: list[str] = []
    with qtbot.waitSignal(panel.task_finished, timeout=120_000) as done:
        task = panel.run_actions.evaluate(real_run, str(copy))
        task.progressed.connect(lambda _fraction, message: steps.append(message))
        assert row.isVisible() and row.cancel_button.isEnabled()
        assert "Evaluating real on" in row.title.text()
        assert not panel.run_actions.evaluate_action.isEnabled()  # one evaluation at a time
    assert done.args == ["evaluate", True], panel.message.label.text()
    assert row.isHidden() and panel.run_actions.evaluate_action.isEnabled()
    assert any(s.startswith("Scoring 240 items") for s in steps) and "Preparing the images" in steps
    result = panel.run_actions.last_evaluation
    shared = result["overlap"]["shared"]
    dialog = panel.run_actions.evaluation_dialog
    [warning] = dialog.warnings
    assert f"{shared:,} of the 240 evaluated items" in warning.label.text() and 0 < shared < 240
    assert warning.property("level") == "warning"
    dialog.close()


def test_cancelling_an_evaluation_stops_it_and_records_nothing(
    make_panel, real_run, small_demo, db_url, qtbot
):
    panel = make_panel()
    panel.select_runs([real_run])
    with Store.open(db_url) as store:
        before = len(store.list_evaluations(real_run))
    with qtbot.waitSignal(panel.task_finished, timeout=120_000) as done:
        panel.run_actions.evaluate(real_run, str(small_demo))
        panel.run_actions.progress_row.cancel_button.click()
        assert panel.run_actions.progress_row.cancel_button.text() == "Cancelling…"
    assert done.args == ["evaluate", False]
    assert "was cancelled; nothing was recorded" in panel.message.label.text()
    assert panel.run_actions.progress_row.isHidden() and panel.run_actions.evaluation is None
    assert panel.run_actions.evaluation_dialog is None
    with Store.open(db_url) as store:
        assert len(store.list_evaluations(real_run)) == before


def test_ctrl_f_finds_and_ctrl_shift_c_compares_the_selected_runs(make_panel, filled, qtbot):
    """Page-level shortcuts (QActions with a text, so the window's shortcuts dialog lists them)."""
    from PySide6.QtGui import QKeySequence

    panel = make_panel()
    panel.activateWindow()
    qtbot.waitUntil(panel.isActiveWindow, timeout=TIMEOUT_MS)
    panel.view.setFocus()
    panel.search.setText("old words")
    qtbot.keyClick(panel.view, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert panel.search.hasFocus() and panel.search.selectedText() == "old words"
    assert "Ctrl+F" in panel.search.placeholderText()
    panel.search.clear()

    compared, pages = [], []
    panel.state.compare_requested.connect(compared.append)
    panel.state.page_requested.connect(pages.append)
    panel.select_runs([filled["alpha"], filled["beta"]])
    panel.view.setFocus()
    modifiers = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(panel.view, Qt.Key.Key_C, modifiers)
    assert sorted(compared[0]) == sorted([filled["alpha"], filled["beta"]]) and pages == ["compare"]
    shortcuts = {a.text(): a.shortcut() for a in panel.actions() if not a.shortcut().isEmpty()}
    assert shortcuts["Compare"] == QKeySequence("Ctrl+Shift+C")
    assert shortcuts["Find runs"] == QKeySequence(QKeySequence.StandardKey.Find)
    assert all(
        a.shortcutContext() == Qt.ShortcutContext.WidgetWithChildrenShortcut
        for a in panel.actions()
        if not a.shortcut().isEmpty()
    )


def test_the_header_menu_chooses_the_columns_and_the_choice_comes_back(make_panel, filled, qtbot):
    """The header's context menu lists every column, checked when shown; Tags and Notes are shown at
    first (two less used columns are hidden so they fit); the choice is kept like the widths."""
    from mmstudio.ui.experiments.table import COLUMNS, DEFAULT_HIDDEN

    panel = make_panel()
    view = panel.view
    menu = view.columns_menu()
    checks = {a.text(): a.isChecked() for a in menu.actions() if a.isCheckable()}
    assert list(checks) == [title for _key, title, _tip in COLUMNS]
    assert checks["Tags"] and checks["Notes"] and checks["Loss curve"]
    assert [k for k, _t, _tip in COLUMNS if not checks[_t]] == list(DEFAULT_HIDDEN)
    header = view.header()
    for key in ("tags", "notes"):  # on screen at 1280 px
        col = COLUMN_KEYS.index(key)
        assert header.sectionViewportPosition(col) + header.sectionSize(col) <= view.viewport().width() + 1
    [notes] = [a for a in menu.actions() if a.text() == "Notes"]
    notes.setChecked(False)
    [device] = [a for a in menu.actions() if a.text() == "Device"]
    device.setChecked(True)
    assert not view.column_visible("notes") and view.column_visible("device")
    panel.shutdown()

    again = make_panel()
    assert not again.view.column_visible("notes") and again.view.column_visible("device")
    for key in COLUMN_KEYS[1:]:
        again.view.set_column_visible(key, False)
    again.view.set_column_visible("id", False)  # the last column shown stays
    assert again.view.column_visible("id")
    menu = again.view.columns_menu()
    assert [a.text() for a in menu.actions() if a.isCheckable() and not a.isEnabled()] == ["ID"]
    [defaults] = [a for a in menu.actions() if a.text() == "Default columns"]
    defaults.trigger()
    assert again.view.column_visible("notes") and not again.view.column_visible("device")


def test_each_run_shows_its_loss_curve_and_it_follows_the_run(make_panel, filled, db_url, qtbot):
    """The Loss curve column: a sparkline of the run's train/loss (else val/loss), read in the poll
    for the runs that changed, drawn in the highlight colour; its tooltip says the values."""
    from PySide6.QtGui import QPalette

    from mmstudio.ui.experiments.table import CURVE_ROLE

    panel = make_panel()
    col = COLUMN_KEYS.index("curve")
    index = panel.model.index_of(filled["alpha"], col)
    assert index.data(CURVE_ROLE) == pytest.approx((0.5, 0.1, 0.25))  # val/loss: 1 - accuracy
    assert (
        index.data() == ""
        and index.data(Qt.ItemDataRole.ToolTipRole) == "val/loss: last 0.25, lowest 0.1 (3 points)"
    )
    assert panel.model.index_of(filled["delta"], col).data(CURVE_ROLE) == ()  # queued: nothing yet

    with Store.open(db_url) as other:
        other.log_metrics(filled["gamma"], [("train/loss", s, 0.0, 3.0 - s / 50, None) for s in range(100)])
    qtbot.waitUntil(
        lambda: panel.model.record_by_id(filled["gamma"]).curve_key == "train/loss", timeout=TIMEOUT_MS
    )
    values = panel.model.index_of(filled["gamma"], col).data(CURVE_ROLE)
    assert len(values) == 48 and values[0] > values[-1]

    panel.select_runs([filled["beta"]])  # not the drawn row: it keeps the base colours
    rect = panel.view.visualRect(panel.proxy.mapFromSource(panel.model.index_of(filled["gamma"], col)))
    image = panel.view.viewport().grab(rect).toImage()
    line = panel.view.palette().color(QPalette.ColorRole.Highlight)
    close = [
        (x, y)
        for x in range(image.width())
        for y in range(image.height())
        if sum(
            abs(a - b) for a, b in zip(image.pixelColor(x, y).getRgb()[:3], line.getRgb()[:3], strict=True)
        )
        < 60
    ]
    assert len(close) > 40  # a line across the cell
    xs = [x for x, _y in close]
    assert max(xs) - min(xs) > rect.width() * 0.6


def test_runs_are_grouped_by_dataset_or_tag_under_rows_that_open_and_close(make_panel, filled, db_url, qtbot):
    """Group by: the runs under their dataset, or under each of their tags (a run with two tags is
    under both, counted once); the filters, the sort and the polls work inside the groups; the choice
    is kept."""
    from mmstudio.ui.experiments.table import GROUP_ROLE

    panel = make_panel()
    proxy = panel.proxy

    def tree() -> dict[str, list[str]]:
        groups = {}
        for g in range(proxy.rowCount()):
            group = proxy.index(g, 0)
            names = [
                proxy.index(r, COLUMN_KEYS.index("name"), group).data() for r in range(proxy.rowCount(group))
            ]
            groups[group.data()] = names
        return groups

    panel.select_runs([filled["alpha"]])
    panel.group_combo.setCurrentIndex(panel.group_combo.findData("dataset"))
    assert tree() == {"demo  ·  3 runs": ["gamma", "beta", "alpha"], "other  ·  1 run": ["delta"]}
    assert panel.view.isExpanded(proxy.index(0, 0)) and panel.view.isFirstColumnSpanned(0, QModelIndex())
    assert panel.selected_run_ids() == [filled["alpha"]]  # the selection stayed
    assert panel.count_label.text() == "4 runs"
    panel.status_filter.setCurrentIndex(panel.status_filter.findData("failed"))
    assert tree() == {"demo  ·  3 runs": ["gamma"]} and panel.count_label.text() == "1 of 4 runs"
    panel.status_filter.setCurrentIndex(0)
    panel.view.sortByColumn(COLUMN_KEYS.index("best"), Qt.SortOrder.DescendingOrder)
    assert tree()["demo  ·  3 runs"] == ["alpha", "beta", "gamma"]
    assert [proxy.index(g, 0).data(GROUP_ROLE) for g in range(2)] == ["demo", "other"]  # by name always

    panel.group_combo.setCurrentIndex(panel.group_combo.findData("tag"))
    assert tree() == {
        "base  ·  1 run": ["alpha"],
        "later  ·  1 run": ["delta"],
        "no tag  ·  2 runs": ["beta", "gamma"],
    }
    with Store.open(db_url) as other:  # tagged elsewhere: the run moves, a new group appears, one goes
        other.set_tags(filled["delta"], ["base", "gru"])
        other.set_tags(filled["beta"], ["gru"])
    qtbot.waitUntil(lambda: "gru  ·  2 runs" in tree(), timeout=TIMEOUT_MS)
    assert tree() == {
        "base  ·  2 runs": ["alpha", "delta"],
        "gru  ·  2 runs": ["beta", "delta"],
        "no tag  ·  1 run": ["gamma"],
    }
    gru = proxy.index(1, 0)
    assert panel.view.isExpanded(gru)  # a new group opens as the others did
    panel.select_runs([filled["delta"], filled["beta"]])
    assert sorted(panel.selected_run_ids()) == sorted([filled["delta"], filled["beta"]])
    assert panel.count_label.text() == "4 runs"
    with Store.open(db_url) as other:
        other.delete_run(filled["gamma"])
    qtbot.waitUntil(lambda: "no tag  ·  1 run" not in tree(), timeout=TIMEOUT_MS)
    panel.shutdown()

    again = make_panel()
    assert again.group_combo.currentData() == "tag" and again.model.group_by == "tag"
    again.group_combo.setCurrentIndex(0)
    assert again.proxy.rowCount() == 3 and not again.view.rootIsDecorated()


def test_a_zeroshot_run_opens_its_pair_in_the_builder_ready_to_fine_tune(make_panel, db_url, qtbot):
    """Zero-shot scoring is no fusion or head the builder knows: the run opens as its two towers with
    the fusion and head a spec completes them with, and the status says so."""
    from mmstudio.models import ModelSpec

    tower = {
        "name": "hf",
        "model": "openai/clip-vit-base-patch32",
        "revision": "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268",
    }
    zeroshot = {
        "task": "classification",
        "text_encoder": tower,
        "image_encoder": tower,
        "fusion": {"name": "zeroshot"},
        "head": {
            "name": "zeroshot",
            "family": "clip",
            "prompt": "a photo of {label}",
            "use_text": False,
            "labels": ["cat", "dog"],
        },
    }
    with Store.open(db_url) as store:
        run_id = store.create_run(name="clip baseline", spec=zeroshot, tags=["zeroshot"])
    panel = make_panel()
    models, statuses = [], []
    panel.state.model_spec_requested.connect(lambda spec, origin: models.append((spec, origin)))
    panel.state.status_posted.connect(lambda text, _ms: statuses.append(text))
    assert panel.run_actions.open_in_builder(run_id)
    wait_idle(qtbot, panel)
    [(spec, origin)] = models
    assert spec == {"task": "classification", "text_encoder": tower, "image_encoder": tower}
    assert origin == f"run {run_id} (clip baseline)"
    complete = ModelSpec.from_dict(spec)
    assert complete.fusion["name"] == "concat" and complete.head["name"] == "mlp"
    assert complete.text_encoder["finetune"] == complete.image_encoder["finetune"] == "frozen"
    assert any("CLIP / SigLIP pair, to fine-tune" in s for s in statuses), statuses
