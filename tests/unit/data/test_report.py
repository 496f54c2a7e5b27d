"""The report's words and its CSV: what the Report tab shows and ``data check --problems-csv`` writes."""

from __future__ import annotations

import csv

import pytest

from mmstudio.data.report import (
    CSV_COLUMNS,
    KIND_HELP,
    KIND_TITLES,
    kind_title,
    problem_file,
    summary_text,
    write_problems_csv,
)
from mmstudio.data.types import Problem, ProblemKind, ValidationReport


def problem(kind=ProblemKind.MISSING_FILE, row=3, path="img/a.png", skipped=True, source="data.csv"):
    return Problem(kind, row, path, f"{path} is a problem", skipped, source)


def test_every_kind_has_a_title_and_a_help():
    assert set(KIND_TITLES) == set(KIND_HELP) == set(ProblemKind)
    assert kind_title("missing_file") == "Missing file"
    assert kind_title("decompression_bomb") == "Image too large"
    assert kind_title("some_new_kind") == "Some new kind"  # a kind this version does not know


def test_problem_file_is_the_source_else_the_image():
    assert problem_file(problem()) == "data.csv"
    assert problem_file(problem(source=None)) == "img/a.png"
    assert problem_file(problem(source=None, path=None)) == ""


def test_summary_text_counts_rows_and_warnings():
    report = ValidationReport(rows=10, valid=8, problems=[problem(), problem(row=4)])
    assert summary_text(report) == "8 usable pairs, 2 skipped (of 10 rows)"
    warned = ValidationReport(2000, 1999, [problem(), *(problem(ProblemKind.RARE_LABEL, skipped=False),) * 2])
    assert warned.warnings == 2
    assert (
        summary_text(warned)
        == "1,999 usable pairs, 1 skipped (of 2,000 rows); 2 warnings on rows that are used"
    )
    one = ValidationReport(1, 1, [problem(ProblemKind.TEXT_TRUNCATED, skipped=False)])
    assert summary_text(one).endswith("; 1 warning on rows that are used")


def test_the_csv_has_one_line_per_problem(tmp_path):
    problems = [
        problem(),
        problem(ProblemKind.TEXT_TRUNCATED, row=7, skipped=False),
        Problem(ProblemKind.MALFORMED_ROW, None, None, 'line, with "quotes"\nand a break', True, "b.jsonl"),
        problem(path="caf\udce9.png"),  # a file name that is not UTF-8 is written as its bytes
    ]
    out = write_problems_csv(problems, tmp_path / "problems.csv")
    assert out == tmp_path / "problems.csv"
    with out.open(newline="", encoding="utf-8", errors="surrogateescape") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[1] == ["data.csv", "3", "missing_file", "img/a.png is a problem", "yes", "img/a.png"]
    assert rows[2][1:5] == ["7", "text_truncated", "img/a.png is a problem", "no"]
    assert rows[3] == ["b.jsonl", "", "malformed_row", 'line, with "quotes"\nand a break', "yes", ""]
    assert rows[4][5] == "caf\udce9.png"
    assert len(rows) == 5


def test_one_of_a_thing_is_singular(tmp_path):
    """#19: counts of one read "1 usable pair", "1 row", "1 image", "1 field", "unknown ... key"."""
    from mmstudio.data.formats._table import read_table
    from mmstudio.data.overview import load_overview
    from mmstudio.data.spec import DatasetSpec
    from mmstudio.progress import TaskState

    one = ValidationReport(rows=1, valid=1, problems=[])
    assert one.summary() == "1 usable pair, 0 skipped"
    assert summary_text(one) == "1 usable pair, 0 skipped (of 1 row)"
    (tmp_path / "a.png").write_bytes(b"")
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    (tmp_path / "data.csv").write_text("image,caption\na.png,a thing\nx\n", encoding="utf-8")
    table = read_table(tmp_path / "data.csv", "data.csv")
    assert "has 1 field but the header has 2 columns" in table.problems[0].message
    messages = []
    load_overview(DatasetSpec(str(tmp_path / "data.csv")), state=TaskState(lambda _f, m: messages.append(m)))
    assert "Checking 1 image" in messages
    with pytest.raises(ValueError, match="unknown dataset spec key pth; valid keys"):
        DatasetSpec.from_dict({"pth": "x"})
    with pytest.raises(ValueError, match="unknown column role img; valid roles"):
        DatasetSpec("x", columns={"img": "a"})
