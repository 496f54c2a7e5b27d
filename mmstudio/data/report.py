"""A validation report for people: what each problem kind means, its summary line, the problems as CSV.

The Datasets page's Report tab and ``mmstudio data check`` (``--problems-csv``) share these words and
this file format. The report itself is :class:`~mmstudio.data.types.ValidationReport`.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from mmstudio.data.types import Problem, ProblemKind, ValidationReport
from mmstudio.formatting import csv_safe, plural

CSV_COLUMNS = ("file", "row", "kind", "message", "skipped", "image")

# What each kind means, in the words of docs/datasets.md.
KIND_TITLES: dict[str, str] = {
    ProblemKind.MALFORMED_ROW: "Malformed row",
    ProblemKind.MISSING_IMAGE: "No image path",
    ProblemKind.MISSING_FILE: "Missing file",
    ProblemKind.PATH_OUTSIDE_DATASET: "Path outside the dataset",
    ProblemKind.NOT_AN_IMAGE: "Not an image",
    ProblemKind.CORRUPT_IMAGE: "Corrupt image",
    ProblemKind.DECOMPRESSION_BOMB: "Image too large",
    ProblemKind.EMPTY_TEXT: "Empty text",
    ProblemKind.INVALID_UTF8: "Text not UTF-8",
    ProblemKind.TEXT_TRUNCATED: "Text truncated",
    ProblemKind.CONTROL_CHARACTERS: "Control characters in text",
    ProblemKind.MISSING_LABEL: "Missing label",
    ProblemKind.RARE_LABEL: "Rare label",
    ProblemKind.LABEL_MISMATCH: "Label id and name disagree",
}
KIND_HELP: dict[str, str] = {
    ProblemKind.MALFORMED_ROW: "A row that cannot be read (a line that is not JSON, an unknown split value, "
    "a damaged shard).",
    ProblemKind.MISSING_IMAGE: "The image cell is empty.",
    ProblemKind.MISSING_FILE: "The image file does not exist.",
    ProblemKind.PATH_OUTSIDE_DATASET: "The path leaves the dataset folder; it is refused.",
    ProblemKind.NOT_AN_IMAGE: "The file is not an image Pillow can read.",
    ProblemKind.CORRUPT_IMAGE: "The image is truncated or its data is damaged.",
    ProblemKind.DECOMPRESSION_BOMB: "More pixels than the limit; refused without decoding.",
    ProblemKind.EMPTY_TEXT: "The text is empty or only whitespace (or the caption file is missing).",
    ProblemKind.INVALID_UTF8: "The text's bytes are not valid UTF-8.",
    ProblemKind.TEXT_TRUNCATED: "The text is longer than the limit: it was cut and the row is used.",
    ProblemKind.CONTROL_CHARACTERS: "The text holds control characters (a NUL byte, an escape): they were "
    "removed and the row is used.",
    ProblemKind.MISSING_LABEL: "A classification row with an empty label.",
    ProblemKind.RARE_LABEL: "A label with too few rows to appear in every split: kept, all in train.",
    ProblemKind.LABEL_MISMATCH: "A label id named differently by different rows (a WebDataset .cls id and "
    "its .json name): the row's own name is used.",
}


def kind_title(kind: str) -> str:
    """``"missing_file"`` -> ``"Missing file"`` (any kind, known or not)."""
    return KIND_TITLES.get(kind, kind.replace("_", " ").capitalize())


def problem_file(problem: Problem) -> str:
    """The file the problem row is in (the manifest, the shard), else the image path."""
    return problem.source or problem.path or ""


def write_problems_csv(problems: Sequence[Problem], path: str | os.PathLike) -> Path:
    """Write ``file,row,kind,message,skipped,image`` (one line per problem, UTF-8, a header line)."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for p in problems:
            row = "" if p.row is None else p.row
            cells = (problem_file(p), row, str(p.kind), p.message, "yes" if p.skipped else "no", p.path or "")
            writer.writerow([csv_safe(cell) for cell in cells])
    return path


def summary_text(report: ValidationReport) -> str:
    """``"1,382 usable pairs, 7 skipped (of 1,389 rows); 3 warnings on rows that are used"``."""
    text = f"{report.summary()} (of {plural(report.rows, 'row')})"
    if report.warnings:
        text += f"; {plural(report.warnings, 'warning')} on rows that are used"
    return text
