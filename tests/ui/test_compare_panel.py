"""The compare view on two real short trainings (demo data, tiny model, 1 epoch, different lr): two
curves of the metric the runs are ranked by, only the differing parameters (the toggle shows all), two
confusion matrices whose cells list their examples, the modality chart, and the exports (chart PNG/SVG,
CSV, one self-contained HTML). The charts alone: which curves are smoothed, legends beside the data
that hide a run and its marks, score axes that end at 1, the scatter, and a dark palette."""

from __future__ import annotations

import csv

import pytest

from mmstudio.formatting import plural
from mmstudio.store import Store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pyqtgraph")

MODEL = {
    "task": "classification",
    "text_encoder": {"name": "bag", "embed_dim": 16},
    "image_encoder": {"name": "small_cnn", "width": 4, "blocks": 2},
    "fusion": {"name": "concat"},
    "head": {"name": "mlp", "hidden": 32, "dropout": 0.1},
}


@pytest.fixture(scope="module")
def two_runs(small_demo, tmp_path_factory):
    """Two completed runs in one store, differing only in the learning rate."""
    from mmstudio.data.spec import DatasetSpec
    from mmstudio.training.runner import run_job
    from mmstudio.training.spec import RunJob, TrainSpec

    folder = tmp_path_factory.mktemp("compare")
    url = f"sqlite:///{folder / 'store.db'}"
    ids = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MMSTUDIO_HOME", str(folder / "home"))
        for name, lr in (("slow", 1e-3), ("fast", 1e-2)):
            train = TrainSpec(
                epochs=1, batch_size=32, image_size=32, max_len=16, device="cpu", log_every_steps=1, lr=lr
            )
            job = RunJob(
                dataset=DatasetSpec(str(small_demo), check_images="header"),
                model=MODEL,
                train=train,
                name=name,
                db_url=url,
            )
            result = run_job(job)
            assert result.status == "completed", result.message
            ids.append(result.run_id)
    return url, ids


@pytest.fixture
def panel(qtbot, two_runs, tmp_path):
    from mmstudio.ui.compare.panel import ComparePanel
    from mmstudio.ui.settings import Settings
    from mmstudio.ui.state import StudioState

    url, ids = two_runs
    state = StudioState()
    state.db_url = url
    widget = ComparePanel(state, Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    with qtbot.waitSignal(widget.curves_drawn, timeout=30_000):
        widget.set_runs(ids)
    qtbot.waitUntil(lambda: not widget.is_busy(), timeout=30_000)
    yield widget
    widget.shutdown()


def test_two_runs_show_two_curves_of_a_shared_metric(panel, two_runs):
    _, ids = two_runs
    assert panel.comparison.run_ids == ids
    assert panel.curves.key == panel.curves_tab.metric_combo.currentText() != ""
    assert panel.curves.drawn_count() == 2
    legend = [label.text for _sample, label in panel.curves.legend.items]
    assert legend == [f"#{ids[0]} slow", f"#{ids[1]} fast"]
    with Store.open(two_runs[0]) as store:
        expected = len(store.read_curve(ids[0], panel.curves.key))
    assert panel.curves.point_count(ids[0]) == expected

    # another x axis and log scale redraw the same two runs
    panel.curves_tab.x_combo.setCurrentText("wall time")
    panel.curves_tab.log_check.setChecked(True)
    assert panel.curves.drawn_count() == 2


def test_switching_the_metric_loads_its_curves_off_the_gui_thread(panel, qtbot):
    keys = [panel.curves_tab.metric_combo.itemText(i) for i in range(panel.curves_tab.metric_combo.count())]
    other = next(k for k in keys if k != panel.curves.key)
    with qtbot.waitSignal(panel.curves_drawn, timeout=10_000) as blocker:
        panel.set_metric(other)
    assert blocker.args == [other]
    assert panel.curves.key == other and panel.curves.drawn_count() == 2


def test_the_parameter_table_shows_only_what_differs_until_toggled(panel):
    panel.show_tab("parameters")
    table = panel.parameters_tab.table
    rows = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert rows == ["train.lr"]
    assert [table.item(0, c).text() for c in (1, 2)] == ["0.001", "0.01"]
    panel.parameters_tab.show_all_check.setChecked(True)
    rows = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert "train.lr" in rows and "model.fusion.name" in rows and len(rows) > 5
    panel.parameters_tab.show_all_check.setChecked(False)
    assert table.rowCount() == 1


def test_two_confusion_matrices_and_a_click_lists_the_examples(panel, qtbot):
    c = panel.comparison
    assert panel.confusion_tab.widgets == []  # filled when first shown
    panel.show_tab("confusion")
    assert len(panel.confusion_tab.widgets) == 2
    first = panel.confusion_tab.widgets[0]
    model = first.table_model
    assert model is not None and model.rowCount() == len(model.labels) >= 2
    # the busiest cell of the first run: its count is how many examples are listed
    r, col = divmod(int(model.matrix.argmax()), model.matrix.shape[1])
    index = model.index(r, col)
    with qtbot.waitSignal(panel.examples_shown, timeout=10_000) as blocker:
        first.table.clicked.emit(index)
    assert blocker.args == [int(model.matrix[r, col])]
    assert panel.confusion_tab.examples.count() == int(model.matrix[r, col])
    caption = panel.confusion_tab.examples.caption.text()
    assert f"true {model.labels[r]}, predicted {model.labels[col]}" in caption
    assert caption.endswith(plural(int(model.matrix[r, col]), "item")) and "(s)" not in caption  # #19
    assert len(c.examples(first.run_id, model.labels[r], model.labels[col])) == int(model.matrix[r, col])
    # the dataset is read in the background; the listed items then carry their captions
    qtbot.waitUntil(lambda: c.runs[0].dataset_id in panel.examples.items, timeout=30_000)
    text = panel.confusion_tab.examples.list.item(0).text()
    assert "dataset not loaded" not in text and f"true: {model.labels[r]}" in text


def test_metrics_per_class_and_modalities_are_filled(panel):
    c = panel.comparison
    for tab in ("metrics", "per_class", "modalities"):
        panel.show_tab(tab)
    assert panel.metrics_tab.table.rowCount() == len(c.metric_rows()) > 0
    assert len(panel.metrics_tab.bars.series) == 2
    assert panel.per_class_tab.chart.groups == c.class_labels() and len(panel.per_class_tab.chart.series) == 2
    assert panel.modalities_tab.combo.currentText() == "accuracy"
    assert panel.modalities_tab.chart.groups == ["fused", "text masked", "image masked"]
    assert all(v is not None for s in panel.modalities_tab.chart.series for v in s.values)


def test_exports_charts_tables_and_one_self_contained_html(panel, tmp_path):
    png = panel.export_chart(tmp_path / "curves.png", "curves")
    svg = panel.export_chart(tmp_path / "curves.svg", "curves")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in svg.read_bytes()[:2000]
    with open(panel.export_csv(tmp_path / "params.csv", "parameters"), newline="") as f:
        rows = list(csv.reader(f))
    assert rows[1][0] == "train.lr" and len(rows) == 2
    report = panel.export_html(tmp_path / "report.html").read_text(encoding="utf-8")
    for run in panel.comparison.runs:
        assert f"#{run.id} {run.name}" in report
    assert '<img alt="' in report.replace("'", '"') and "src='data:image/png;base64,iVBOR" in report
    assert "train.lr" in report and 'src="http' not in report and "src='http" not in report


def test_the_page_and_runs_compare_save_the_same_tables(panel, two_runs, tmp_path):
    """One report module: a table saved from the page is byte for byte what ``runs compare --csv``
    writes, and the page's HTML report holds the tables ``runs compare --html`` writes."""
    from mmstudio.cli import main
    from mmstudio.store.report import TABLES

    url, ids = two_runs
    for name in TABLES:
        page = panel.export_csv(tmp_path / f"page-{name}.csv", name)
        cli = tmp_path / f"cli-{name}.csv"
        assert main(["runs", "compare", *map(str, ids), "--db", url, "--csv", str(cli), "--table", name]) == 0
        assert page.read_bytes() == cli.read_bytes(), name
    page = panel.export_html(tmp_path / "page.html").read_text(encoding="utf-8")
    assert main(["runs", "compare", *map(str, ids), "--db", url, "--html", str(tmp_path / "cli.html")]) == 0
    cli = (tmp_path / "cli.html").read_text(encoding="utf-8")
    tables = cli[cli.index("<h2>") : cli.index("</body>")]
    assert tables in page  # the page adds its charts after the same tables


# --- the charts: smoothing, legends, score axes, palette (#3, #6, #12, #17) ------------------------


def test_the_curves_open_on_the_metric_the_runs_are_ranked_by_drawn_as_its_points(panel, two_runs):
    """#3: a one-epoch run's val/accuracy is one point: drawn as it is, not as a smoothed line."""
    from mmstudio.store.summaries import run_key_metric

    url, ids = two_runs
    with Store.open(url) as store:
        ranked = {run_key_metric(store.metric_stats([i])[i], r.spec, r.train_spec) for i in ids
                  for r in [store.get_run(i)]}  # fmt: skip
    assert ranked == {panel.curves.key} == {"val/accuracy"}
    chart = panel.curves
    assert all(chart.raw_traces.point_count(i) == 0 for i in ids)  # no faint band: nothing smoothed
    assert len(chart.points.data) == sum(chart.point_count(i) for i in ids) == 2


def _curve(run_id: int, key: str, n: int):
    import numpy as np

    from mmstudio.store.types import Curve

    values = 2.0 / (1 + np.arange(n)) + 0.05 * np.sin(np.arange(n))
    step = np.arange(1, n + 1)
    return Curve(run_id=run_id, key=key, step=step, epoch=np.full(n, np.nan), value=values, time=step * 1.0)


def _chart(qtbot, cls=None, **kwargs):
    from mmstudio.ui.compare.charts import CurvesChart

    chart = (cls or CurvesChart)(**kwargs)
    qtbot.addWidget(chart)
    chart.resize(900, 500)
    chart.show()
    qtbot.waitExposed(chart)
    return chart


def test_only_long_per_step_curves_get_a_smoothed_line_over_a_faint_band(qtbot):
    chart = _chart(qtbot)
    chart.set_runs([1, 2], ["#1 a", "#2 b"])
    chart.smoothing = 0.6
    chart.set_curves("train/loss", {i: _curve(i, "train/loss", 500) for i in (1, 2)})
    assert all(chart.raw_traces.point_count(i) == 500 for i in (1, 2)) and len(chart.points.data) == 0
    chart.set_curves("val/loss", {i: _curve(i, "val/loss", 3) for i in (1, 2)})
    assert all(chart.raw_traces.point_count(i) == 0 for i in (1, 2))  # the bold line is the values
    assert len(chart.points.data) == 6  # and each is drawn
    chart.set_curves("train/loss", {i: _curve(i, "train/loss", 6) for i in (1, 2)})  # a short one
    assert all(chart.raw_traces.point_count(i) == 0 for i in (1, 2)) and len(chart.points.data) == 12


def test_a_click_on_a_runs_name_hides_its_curve_and_its_marks_and_the_legend_hides_nothing(qtbot):
    """#6: the legend beside the plot, in the palette's text colour; its name, not only its swatch,
    hides a run, with its best / last / minimum marks."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    chart = _chart(qtbot)
    chart.set_runs([1, 2], ["#1 slow", "#2 fast"])
    chart.set_curves("val/loss", {i: _curve(i, "val/loss", 5) for i in (1, 2)})
    QApplication.processEvents()
    view = chart.plot.getViewBox()
    assert not chart.legend.sceneBoundingRect().intersects(view.mapRectToScene(view.rect()))
    text = QApplication.palette().color(QPalette.ColorRole.Text)
    assert all(QColor(label.opts["color"]) == text for _sample, label in chart.legend.items)
    marks, points = len(chart.marks.data), len(chart.points.data)
    assert marks > 0 and points == 10
    label = chart.legend.items[0][1]
    where = chart.plot_widget.mapFromScene(label.sceneBoundingRect().center())
    QTest.mouseClick(chart.plot_widget.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert not chart.is_shown(1) and chart.is_shown(2)
    assert not chart.smooth_traces._traces[1].visible
    assert len(chart.marks.data) == len(chart._spots[2]) < marks and len(chart.points.data) == 5
    # hidden, it stays hidden when another metric is drawn
    chart.set_curves("train/loss", {i: _curve(i, "train/loss", 300) for i in (1, 2)})
    assert not chart.smooth_traces._traces[1].visible and not chart.raw_traces._traces[1].visible
    assert len(chart.marks.data) == len(chart._spots[2])
    QTest.mouseClick(chart.plot_widget.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert chart.is_shown(1) and chart.smooth_traces._traces[1].visible
    assert len(chart.marks.data) == len(chart._spots[1]) + len(chart._spots[2])


def test_a_score_axis_ends_at_1_and_the_bars_legend_hides_none(qtbot):
    """#17: the per-class F1 axis ran on past 1.1, head room for a legend drawn over the bars."""
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QApplication

    from mmstudio.ui.compare.charts import BarSeries, GroupedBarChart

    chart = _chart(qtbot, GroupedBarChart, title="Per-class F1")
    series = [
        BarSeries(f"#{n} run", [0.97, 0.5, None], QColor(c)) for n, c in ((1, "#4c78a8"), (2, "#f58518"))
    ]
    chart.set_data(["a", "b", "c"], series, y_label="F1")
    QApplication.processEvents()
    low, high = chart.plot.viewRange()[1]
    assert low == 0.0 and high == 1.0
    view = chart.plot.getViewBox()
    assert not chart.legend.sceneBoundingRect().intersects(view.mapRectToScene(view.rect()))
    chart.set_data(["a"], [BarSeries("#1 run", [1.27], QColor("#4c78a8"))], y_label="test/loss")
    assert chart.plot.viewRange()[1][1] > 1.27  # not a score: just above its bar


def test_the_scatter_reads_the_points_it_draws(qtbot):
    """#17: one run with the parameter: an axis around its value, not one of 1e-15."""
    from mmstudio.ui.compare.charts import ScatterChart

    chart = _chart(qtbot, ScatterChart)
    chart.set_points([None, 256, None], [0.35, 0.2667, 0.35], ["#1 a", "#2 b", "#3 c"], x_label="dim",
                     y_label="best acc")  # fmt: skip
    low, high = chart.plot.viewRange()[1]
    assert low < 0.2667 < high and high - low > 0.01
    chart.set_points(["concat", "gated", "concat"], [0.35, 0.27, 0.35], ["#1 a", "#2 b", "#3 c"],
                     x_label="fusion", y_label="best acc")  # fmt: skip
    assert sorted(t.toPlainText() for t in chart._texts) == ["#1 #3", "#2"]  # one label a point


def test_the_charts_follow_a_dark_palette(qtbot):
    """#12: the Compare page's charts stayed white while the Train plots turned dark."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QApplication

    from mmstudio.ui.compare.charts import GroupedBarChart, ScatterChart
    from mmstudio.ui.compare.confusion import ConfusionTableModel

    app = QApplication.instance()
    before = app.palette()
    dark = QPalette(before)
    dark.setColor(QPalette.ColorRole.Base, QColor("#1f2023"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e6e6e6"))
    app.setPalette(dark)
    try:
        for cls in (None, GroupedBarChart, ScatterChart):
            chart = _chart(qtbot, cls) if cls else _chart(qtbot)
            chart.set_title("a chart")
            assert chart.plot_widget.backgroundBrush().color() == QColor("#1f2023")
            assert QColor(chart.plot.titleLabel.opts["color"]) == QColor("#e6e6e6")
            assert chart.plot.getAxis("left").textPen().color() == QColor("#e6e6e6")
        cells = ConfusionTableModel(["a", "b"], [[9, 1], [0, 0]])
        zero = cells.index(1, 0)
        assert cells.data(zero, Qt.ItemDataRole.BackgroundRole) == QColor("#1f2023")  # no white cells
        assert cells.data(zero, Qt.ItemDataRole.ForegroundRole) == QColor("white")  # text that reads on it
    finally:
        app.setPalette(before)


def test_the_line_beside_the_heading_says_what_each_tab_shows(panel, qtbot):
    """#18: the curves tab says what it drew ("val/loss: 8 points in 2 runs"); the other tabs say what
    they show instead of repeating it."""
    from mmstudio.ui.compare.panel import TAB_HINTS, TABS

    assert panel.current_tab() == "curves"
    drawn = panel.status.text()
    assert drawn.startswith(f"{panel.curves.key}: ") and drawn.endswith("points in 2 runs")
    for tab in TABS[1:]:
        panel.show_tab(tab)
        assert panel.status.text() == TAB_HINTS[tab] and "points" not in panel.status.text()
    panel.show_tab("curves")
    assert panel.status.text() == drawn


def test_a_dataset_that_fails_to_load_is_named_as_what_failed(two_runs, small_demo, tmp_path, qtbot):
    """#18: the banner says the run's dataset could not be loaded, not that the runs could not be read;
    the runs themselves are shown."""
    import json
    import shutil
    import sqlite3

    from mmstudio.data.spec import DatasetSpec
    from mmstudio.ui.compare.panel import ComparePanel
    from mmstudio.ui.settings import Settings
    from mmstudio.ui.state import StudioState

    url, ids = two_runs
    db = tmp_path / "store.db"
    with Store.open(url):  # nothing pending in the write-ahead log
        pass
    shutil.copy(url.removeprefix("sqlite:///"), db)
    not_a_dataset = tmp_path / "notes"
    not_a_dataset.mkdir()
    (not_a_dataset / "readme.txt").write_text("no images here")
    with sqlite3.connect(db) as con:
        spec = json.dumps(DatasetSpec(str(not_a_dataset)).to_dict())
        con.execute("UPDATE runs SET dataset_spec = ?", (spec,))
    state = StudioState()
    state.db_url = f"sqlite:///{db}"
    widget = ComparePanel(state, Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    with qtbot.waitSignal(widget.comparison_loaded, timeout=30_000):
        widget.set_runs(ids)
    widget.show_tab("predictions")
    qtbot.waitUntil(lambda: widget.message.error() != "", timeout=30_000)
    error = widget.message.error()
    assert error.startswith(f"Could not load run {ids[0]}'s dataset to show its test items: ")
    assert "Could not read the runs" not in error and widget.comparison is not None
    assert widget.status.text() == "the test items the runs predicted differently"
    qtbot.waitUntil(lambda: not widget.is_busy(), timeout=30_000)
    widget.shutdown()


def test_the_empty_page_gives_a_command_that_works(qtbot, tmp_path):
    """#19: the empty state's commands are real ones (they parse), and a button leads to the runs."""
    import re

    from PySide6.QtWidgets import QPushButton

    from mmstudio.cli import build_parser
    from mmstudio.ui.compare.panel import ComparePanel
    from mmstudio.ui.settings import Settings
    from mmstudio.ui.state import StudioState

    state = StudioState()
    state.db_url = f"sqlite:///{tmp_path / 'store.db'}"
    widget = ComparePanel(state, Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(widget)
    text = widget.empty.text.text()
    commands = re.findall(r"<code>(.*?)</code>", text)
    assert commands == ["mmstudio gui --page compare --run A --run B", "mmstudio runs compare A B"]
    for command in commands:
        words = command.replace(" A", " 1").replace(" B", " 2").split()[1:]
        args = build_parser().parse_args(words)
        assert args.func.__name__ in ("cmd_gui", "cmd_compare")
    assert "compare_panel" not in text
    pages = []
    state.page_requested.connect(pages.append)
    [button] = [b for b in widget.empty.findChildren(QPushButton) if b.text() == "Go to Experiments"]
    button.click()
    assert pages == ["experiments"]


def test_the_tables_follow_a_dark_palette(qapp, qtbot, two_runs, tmp_path):
    """The confusion matrices' empty cells, the highlighted parameters and the secondary text take the
    palette's colours, so the page is not white on a dark desktop (its charts are drawn elsewhere)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QPalette

    from mmstudio.ui.app import apply_theme
    from mmstudio.ui.compare.panel import ComparePanel
    from mmstudio.ui.settings import Settings
    from mmstudio.ui.state import StudioState

    url, ids = two_runs
    before, style = qapp.palette(), qapp.style().name()
    try:
        apply_theme(qapp, "dark")
        state = StudioState()
        state.db_url = url
        widget = ComparePanel(state, Settings(tmp_path / "settings.ini"))
        qtbot.addWidget(widget)
        widget.show()
        with qtbot.waitSignal(widget.comparison_loaded, timeout=30_000):
            widget.set_runs(ids)
        widget.show_tab("confusion")
        model = widget.confusion_tab.widgets[0].table_model
        r, c = map(int, next(zip(*(model.matrix == 0).nonzero(), strict=True)))
        cell = model.index(r, c)
        assert cell.data(Qt.ItemDataRole.BackgroundRole).lightness() < 80
        assert cell.data(Qt.ItemDataRole.ForegroundRole).lightness() > 180
        widget.show_tab("parameters")
        widget.parameters_tab.show_all_check.setChecked(True)
        table = widget.parameters_tab.table
        row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "train.lr")
        assert table.item(row, 1).background().color().lightness() < 100
        assert widget.status.objectName() == "hint" and widget.disagreements.caption.objectName() == "hint"
        assert widget.status.palette().color(QPalette.ColorRole.Window).lightness() < 80
        qtbot.waitUntil(lambda: not widget.is_busy(), timeout=30_000)
        widget.shutdown()
    finally:
        qapp.setStyle(style)
        qapp.setPalette(before)
