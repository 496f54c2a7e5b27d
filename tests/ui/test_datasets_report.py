"""The validation report: the problems of a bad dataset grouped by kind, expandable, exported to CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QModelIndex, Qt

from mmstudio.data.dataset import load_dataset
from mmstudio.data.report import CSV_COLUMNS, write_problems_csv
from mmstudio.data.types import Problem, ProblemKind, ValidationReport
from mmstudio.ui.datasets.panel import DatasetsPanel
from mmstudio.ui.datasets.report import ReportTreeModel, ReportWidget
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState


def bad_dataset(root: Path) -> Path:
    """20 good rows, then one row for each kind of problem (two missing files), in ``data.csv``."""
    (root / "img").mkdir(parents=True)
    rows = []
    for i in range(20):
        Image.new("RGB", (10, 8), (i * 10, 40, 90)).save(root / "img" / f"{i}.png")
        rows.append([f"img/{i}.png", f"a fine caption for picture {i}", "ab"[i % 2]])
    noise = Image.effect_noise((64, 64), 80).convert("RGB")
    noise.save(root / "img" / "cut.png")
    data = (root / "img" / "cut.png").read_bytes()
    (root / "img" / "cut.png").write_bytes(data[: len(data) // 2])
    (root / "img" / "notes.png").write_text("this is text, not a picture")
    rows += [
        ["img/gone.png", "its file is missing", "a"],  # row 21
        ["img/gone-too.png", "its file is missing too", "b"],  # row 22
        ["img/0.png", "   ", "a"],  # row 23: empty text
        ["img/cut.png", "half of an image", "b"],  # row 24: corrupt
        ["img/notes.png", "a text file named .png", "a"],  # row 25: not an image
        ["img/1.png", "a row without its label", ""],  # row 26: missing label
        ["img/2.png", "y" * 10_050, "a"],  # row 27: truncated, kept
    ]
    path = root / "data.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "caption", "label"])
        writer.writerows(rows)
    return path


EXPECTED = {  # kind: rows, most frequent kind first, skipped kinds before warnings
    "missing_file": [21, 22],
    "corrupt_image": [24],
    "empty_text": [23],
    "missing_label": [26],
    "not_an_image": [25],
    "text_truncated": [27],
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return load_dataset(bad_dataset(tmp_path_factory.mktemp("bad")))


@pytest.fixture
def widget(qtbot, dataset):
    w = ReportWidget()
    qtbot.addWidget(w)
    w.resize(1000, 600)
    w.show()
    w.set_report(dataset.report)
    return w


def test_the_problems_are_grouped_by_kind(widget, dataset, qtmodeltester):
    model = widget.model
    assert dataset.report.valid == 21 and dataset.report.skipped == 6
    assert model.kinds == list(EXPECTED)
    for row, rows in enumerate(EXPECTED.values()):
        parent = model.index(row, 0)
        assert model.rowCount(parent) == len(rows)
        assert [model.problem(model.index(r, 0, parent)).row for r in range(len(rows))] == rows
        assert model.problem(parent) is None and model.parent(model.index(0, 0, parent)) == parent
    title = model.data(model.index(0, 0))
    assert title == "Missing file (2)"
    assert model.data(model.index(0, 3)) == "The image file does not exist. Rows skipped."
    assert model.data(model.index(5, 0)) == "Text truncated (1)" and "Rows kept" in model.data(
        model.index(5, 3)
    )
    child = model.index(1, 0, model.index(0, 0))
    assert [model.data(model.index(1, c, model.index(0, 0))) for c in range(3)] == [
        "data.csv",
        "22",
        "img/gone-too.png",
    ]
    message = model.data(model.index(1, 3, model.index(0, 0)))
    assert message.startswith("img/gone-too.png does not exist") and "fix the path" in message
    assert model.data(child, Qt.ItemDataRole.ToolTipRole) == message
    assert model.rowCount(child) == 0 and not model.hasChildren(child)
    assert not model.index(6, 0).isValid() and not model.index(0, 4).isValid()
    qtmodeltester.check(model)


def test_summary_and_a_short_report_opens_expanded(widget):
    assert widget.summary.text() == (
        "21 usable pairs, 6 skipped (of 27 rows); 1 warning on rows that are used"
    )
    assert widget.stack.currentWidget() is widget.tree and widget.export_button.isEnabled()
    for row in range(len(EXPECTED)):
        assert widget.tree.isExpanded(widget.model.index(row, 0))
    widget.collapse_button.click()
    assert not widget.tree.isExpanded(widget.model.index(0, 0))
    widget.expand_button.click()
    assert widget.tree.isExpanded(widget.model.index(3, 0))


def test_export_writes_every_problem(widget, dataset, tmp_path, qtbot):
    out = tmp_path / "problems.csv"
    with qtbot.waitSignal(widget.exported) as exported:
        assert widget.export_csv(out) == out
    assert exported.args == [str(out)]
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == CSV_COLUMNS == ("file", "row", "kind", "message", "skipped", "image")
    body = rows[1:]
    assert len(body) == len(dataset.report.problems) == 7
    by_row = {int(r[1]): r for r in body}
    assert {kind: sorted(int(r[1]) for r in body if r[2] == kind) for kind in EXPECTED} == EXPECTED
    assert by_row[21][:3] == ["data.csv", "21", "missing_file"] and by_row[21][5] == "img/gone.png"
    assert by_row[21][3] == dataset.report.problems[0].message
    assert by_row[27][4] == "no" and by_row[24][4] == "yes"


def test_a_problem_without_row_or_source(tmp_path):
    problems = [
        Problem(ProblemKind.MALFORMED_ROW, None, "train/shard-1.tar", "the shard is damaged", True, None)
    ]
    out = write_problems_csv(problems, tmp_path / "p.csv")
    assert out.read_text(encoding="utf-8").splitlines()[1] == (
        "train/shard-1.tar,,malformed_row,the shard is damaged,yes,train/shard-1.tar"
    )
    model = ReportTreeModel()
    model.set_problems(problems)
    group = model.index(0, 0)
    assert (
        model.data(model.index(0, 1, group)) == ""
        and model.data(model.index(0, 0, group)) == "train/shard-1.tar"
    )


def test_no_problems_says_so(qtbot):
    w = ReportWidget()
    qtbot.addWidget(w)
    w.set_report(ValidationReport(rows=5, valid=5, problems=[]))
    assert w.stack.currentWidget() is w.empty and not w.export_button.isEnabled()
    assert w.summary.text() == "5 usable pairs, 0 skipped (of 5 rows)"
    assert w.model.rowCount(QModelIndex()) == 0


def test_a_long_report_opens_collapsed(qtbot):
    problems = [
        Problem(ProblemKind.MISSING_FILE, n, f"{n}.png", "gone", True, "data.csv") for n in range(1, 5001)
    ]
    w = ReportWidget()
    qtbot.addWidget(w)
    w.set_report(ValidationReport(rows=5000, valid=0, problems=problems))
    assert w.model.data(w.model.index(0, 0)) == "Missing file (5,000)"
    assert not w.tree.isExpanded(w.model.index(0, 0))


def test_the_panel_shows_the_report_with_its_count(qtbot, tmp_path, dataset):
    panel = DatasetsPanel(StudioState(), Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(panel)
    panel.resize(1280, 800)
    panel.show()
    with qtbot.waitSignal(panel.loading_finished, timeout=30_000) as finished:
        panel.open_path(bad_dataset(tmp_path / "bad"))
    loaded = finished.args[0]
    assert loaded.report.kind_counts() == dataset.report.kind_counts()
    assert panel.tabs.tabText(1) == "Report (7)"
    assert panel.header.summary_label.text().startswith("21 usable pairs, 6 skipped, 1 warning")
    panel.show_tab("report")
    assert panel.report.isVisible() and panel.report.model.kinds == list(EXPECTED)
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=30_000)
    panel.shutdown()
