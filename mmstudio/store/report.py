"""A comparison of runs as tables and documents, without Qt or torch: what the Compare page shows in its
tables, saves as CSV and writes as a self-contained HTML report, and what ``mmstudio runs compare``
prints (as text or ``--json``) and writes (``--csv``, ``--html``), from one
:class:`~mmstudio.store.compare.Comparison`.

A table is plain rows of text: ``(headers, rows)``, every value written by
:func:`mmstudio.formatting.format_value`. The HTML report takes the page's charts as PNG bytes; without
them it holds the runs and the tables alone.
"""

from __future__ import annotations

import base64
import csv
import html
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmstudio.formatting import csv_safe, format_value, printable_text, shorten
from mmstudio.vocabulary import CONDITIONS, LOSS_KEYS, key_metric

from .compare import Comparison, run_label

Table = tuple[list[str], list[list[str]]]
#: The tables of a comparison by name (the Compare page's tabs that have one; ``runs compare --table``).
TABLES = ("parameters", "metrics", "per_class", "modalities")
#: Run colours by run order (Tableau 10, then a darker set): a run has the same colour in every chart
#: of the Compare page and in the report's list of runs.
RUN_COLOURS = (
    "#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d",
    "#ff9da6", "#7f7f7f", "#1f4e79", "#a0522d", "#2e7d32", "#8e0000", "#00695c", "#6a1b9a",
    "#9e7700", "#4e342e", "#c2185b", "#37474f",
)  # fmt: skip


def run_colour(index: int) -> str:
    """The colour (``#rrggbb``) of the run at ``index`` in a comparison."""
    return RUN_COLOURS[index % len(RUN_COLOURS)]


# --- tables -------------------------------------------------------------------------------------------------


def parameters_table(c: Comparison, show_all: bool = False) -> Table:
    """The parameters that differ (or all of them), one column per run."""
    return ["parameter", *c.labels()], [
        [k, *(format_value(v) for v in vals)] for k, vals in c.parameter_rows(show_all)
    ]


def metrics_table(c: Comparison) -> Table:
    """Every metric any run logged: per run its last and its best value."""
    headers = ["metric"]
    for label in c.labels():
        headers += [f"{label} last", f"{label} best"]
    rows = []
    for key, cells in c.metric_rows():
        row = [key]
        for last, best in cells:
            row += [format_value(last), format_value(best)]
        rows.append(row)
    return headers, rows


def per_class_table(c: Comparison) -> Table:
    """Each class's F1 on the test split, one column per run."""
    scores = c.per_class("f1")
    return ["class (F1)", *c.labels()], [
        [label, *(format_value(scores[i].get(label)) for i in c.run_ids)] for label in c.class_labels()
    ]


def modality_table(c: Comparison, metric: str) -> Table:
    """Per run, the test ``metric`` fused, with the text masked and with the image masked."""
    scores = c.modality_scores(metric)
    names = [name for name, _ablation in CONDITIONS]
    return [f"run (test {metric})", *names], [
        [label, *(format_value(scores[i][n]) for n in names)]
        for i, label in zip(c.run_ids, c.labels(), strict=True)
    ]


def modality_metric(c: Comparison) -> str | None:
    """The test metric the modality comparison shows first (accuracy, macro F1, else the first one the
    runs' test evaluations hold); None when they hold none."""
    names = c.eval_metric_names()
    return names[0] if names else None


def table(c: Comparison, name: str, *, show_all: bool = False, metric: str | None = None) -> Table:
    """The table ``name`` (one of :data:`TABLES`): ``show_all`` for the parameters, ``metric`` for the
    modalities (default :func:`modality_metric`; the metrics table when the runs have no test
    evaluation to compare)."""
    if name not in TABLES:
        raise ValueError(f"no table {name!r}; choose one of {', '.join(TABLES)}")
    if name == "parameters":
        return parameters_table(c, show_all)
    if name == "per_class":
        return per_class_table(c)
    if name == "modalities" and (metric := metric or modality_metric(c)):
        return modality_table(c, metric)
    return metrics_table(c)


def report_tables(
    c: Comparison, *, show_all: bool = False, metric: str | None = None
) -> list[tuple[str, Table]]:
    """The report's tables with their titles: parameters, metrics, per-class F1 and (when the runs have
    test evaluations) the modality contribution on ``metric`` (default :func:`modality_metric`)."""
    tables = [
        ("All parameters" if show_all else "Parameters that differ", parameters_table(c, show_all)),
        ("Metrics (last, best)", metrics_table(c)),
        ("Per-class F1 (test)", per_class_table(c)),
    ]
    metric = metric or modality_metric(c)
    if metric:
        tables.append(("Modality contribution", modality_table(c, metric)))
    return tables


def write_csv(path: str | Path, table: Table) -> Path:
    """Write ``table`` as CSV (UTF-8, a header row); returns the path."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([csv_safe(cell) for cell in table[0]])  # a run's name may look like a formula
        writer.writerows([csv_safe(cell) for cell in row] for row in table[1])
    return path


# --- the HTML report ----------------------------------------------------------------------------------------


def html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in table[1])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_report(
    c: Comparison,
    images: Sequence[tuple[str, bytes]] = (),
    tables: Sequence[tuple[str, Table]] | None = None,
) -> str:
    """One self-contained HTML page: the runs in their colours, every table (default
    :func:`report_tables`), and every chart given (``(title, PNG bytes)``) as an inline image."""
    runs = "".join(
        f"<li><span class='dot' style='background:{run_colour(n)}'></span>"
        f"{html.escape(run_label(r))} <small>({html.escape(str(r.status))})</small></li>"
        for n, r in enumerate(c.runs)
    )
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>mmstudio comparison of runs {', '.join(str(i) for i in c.run_ids)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
        "margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f0f0f0}"
        "img{max-width:100%;border:1px solid #ddd}.dot{display:inline-block;width:10px;height:10px;"
        "border-radius:5px;margin-right:6px}</style></head><body>",
        f"<h1>Comparison of {len(c.runs)} runs</h1><ul>{runs}</ul>",
        f"<p>Generated by mmstudio on {time.strftime('%Y-%m-%d %H:%M')}.</p>",
    ]
    for title, rows in report_tables(c) if tables is None else tables:
        parts.append(f"<h2>{html.escape(title)}</h2>{html_table(rows)}")
    for title, png in images:
        data = base64.b64encode(png).decode("ascii")
        alt = html.escape(title)
        parts.append(f"<h2>{alt}</h2><img alt='{alt}' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


# --- what the Compare page opens on -------------------------------------------------------------------------


def scatter_default(c: Comparison) -> str | None:
    """The parameter the scatter opens on: one whose value varies across the runs (two values or more
    among the runs that set it; a parameter only one run has, such as the width of its fusion, gives
    every other run no point and an axis around one value). The first of: ``train.lr``; a number
    that every run sets; a choice every run makes (``model.fusion.name``); a number some runs set;
    any other that varies, the seed last. None when nothing differs; the first differing key when
    nothing varies."""

    def values(key: str) -> list[Any]:
        return [p.get(key) for p in c.parameters]

    def numeric(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    def rank(key: str) -> int | None:
        present = [v for v in values(key) if v is not None]
        if len({repr(v) for v in present}) < 2:
            return None  # the same for every run that sets it
        every = len(present) == len(c.parameters)
        if key == "train.lr":
            return 0
        if key == "seed":
            return 5
        if all(numeric(v) for v in present):
            return 1 if every else 3
        return 2 if every else 4

    ranked = sorted((r, n, k) for n, k in enumerate(c.differing) if (r := rank(k)) is not None)
    if ranked:
        return ranked[0][2]
    return c.differing[0] if c.differing else None


def comparison_task(c: Comparison) -> str | None:
    """The task every run was trained for; None when they differ or do not say."""
    tasks = {(r.spec or {}).get("task") for r in c.runs}
    return tasks.pop() if len(tasks) == 1 else None


def headline_metric(keys: Sequence[str], *, task: str | None = None) -> str | None:
    """The metric to show first of ``keys``: the key metric of ``task``
    (:func:`mmstudio.vocabulary.key_metric`) on the test split, else on the validation split, else a
    loss, else the first key; None without keys."""
    for split in ("test", "val"):
        key = key_metric(keys, task=task, split=split)
        if key and key not in LOSS_KEYS:
            return key
    return key_metric(keys, task=task) or (keys[0] if keys else None)


# --- a test item in a gallery -------------------------------------------------------------------------------


def example_text(c: Comparison, item_index: int, text: str | None) -> str:
    """How a gallery lists test item ``item_index``: its ``text`` (cut to 140 characters; None when the
    dataset is not loaded), its true label, and what each run predicted (``#12 cat ✓``), with no control
    character drawn as a box (:func:`~mmstudio.formatting.printable_text`)."""
    predicted = []
    true = None
    for run_id, label in zip(c.run_ids, c.labels(), strict=True):
        p = c.prediction(run_id, item_index)
        if p is not None:
            true = true or p.true_label
            mark = "✓" if p.predicted_label == p.true_label else "✗"
            predicted.append(f"{label.split(' ', 1)[0]} {printable_text(str(p.predicted_label))} {mark}")
    shown = printable_text(text) if text is not None else f"item {item_index} (dataset not loaded)"
    true = printable_text(str(true)) if true is not None else None
    return f"{shorten(shown, 140)}\ntrue: {true}   predicted: " + "  ".join(predicted)


# --- the comparison as plain data (``runs compare --json``) -------------------------------------------------


def comparison_document(c: Comparison, *, show_all: bool = False) -> dict[str, Any]:
    """The comparison as JSON-safe data: the runs, their parameters (those that differ, or all), which
    differ, every metric's last and best value per run (None where a run has not logged it), the
    per-class F1 and the modality scores of their test evaluations."""
    metric_keys = sorted(set().union(*(c.stats.get(i, {}).keys() for i in c.run_ids)))
    per_class = c.per_class("f1")
    modalities = {}
    for metric in c.eval_metric_names():
        scores = c.modality_scores(metric)
        modalities[metric] = [scores[i] for i in c.run_ids]
    return {
        "runs": [
            {"id": r.id, "name": r.name, "status": str(r.status), "label": run_label(r)} for r in c.runs
        ],
        "parameters": dict(c.parameter_rows(show_all)),
        "differing": list(c.differing),
        "metrics": {
            k: [
                {"last": s.last_value, "best": s.best} if (s := c.stats.get(i, {}).get(k)) else None
                for i in c.run_ids
            ]
            for k in metric_keys
        },
        "per_class_f1": {label: [per_class[i].get(label) for i in c.run_ids] for label in c.class_labels()},
        "modalities": modalities,
    }
