"""The comparison report, without Qt: the tables the Compare page shows and ``runs compare`` prints,
their CSV, the self-contained HTML report (with and without charts), the JSON document, and what the
page opens on."""

from __future__ import annotations

import base64
import csv
import html.parser

import numpy as np
import pytest

from mmstudio.store import Store
from mmstudio.store.compare import Comparison, load_comparison
from mmstudio.store.report import (
    RUN_COLOURS,
    TABLES,
    comparison_document,
    comparison_task,
    headline_metric,
    html_report,
    metrics_table,
    modality_table,
    parameters_table,
    per_class_table,
    report_tables,
    run_colour,
    scatter_default,
    table,
    write_csv,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def comparison(db_url) -> Comparison:
    """Two classification runs differing in lr, each with a test evaluation, one ablation and metrics."""
    with Store.open(db_url) as store:
        ids = []
        for lr, f1 in ((0.1, 0.6), (0.01, 0.9)):
            run_id = store.create_run(
                name=f"lr{lr}",
                spec={"task": "classification", "fusion": {"name": "concat"}},
                train_spec={"lr": lr, "epochs": 2},
            )
            store.log_metric_arrays(run_id, "train/loss", np.arange(10), np.linspace(2, 1, 10))
            store.log_metric_arrays(run_id, "val/accuracy", np.arange(2), [0.5, 0.6 + lr])
            store.log_metric_arrays(run_id, "test/accuracy", np.arange(1), [0.7])
            store.add_evaluation(
                run_id,
                split="test",
                metrics={"accuracy": 0.7, "macro_f1": f1},
                labels=["a", "b"],
                per_class={"a": {"f1": f1}, "b": {"f1": 0.5}},
            )
            store.add_evaluation(run_id, split="test", ablation="text_masked", metrics={"accuracy": 0.3})
            ids.append(run_id)
        return load_comparison(store, ids)


def test_the_tables_hold_the_comparison_as_text(comparison):
    c = comparison
    a, b = c.labels()
    assert parameters_table(c) == (["parameter", a, b], [["train.lr", "0.1", "0.01"]])
    headers, rows = parameters_table(c, show_all=True)
    assert [r[0] for r in rows] == ["model.fusion.name", "model.task", "seed", "train.epochs", "train.lr"]
    headers, rows = metrics_table(c)
    assert headers == ["metric", f"{a} last", f"{a} best", f"{b} last", f"{b} best"]
    assert rows[0] == ["test/accuracy", "0.7", "0.7", "0.7", "0.7"]
    assert rows[-1] == ["val/accuracy", "0.7", "0.7", "0.61", "0.61"]
    assert rows[1][0] == "train/loss" and rows[1][2] == "1"  # a loss's best is its minimum
    assert per_class_table(c) == (["class (F1)", a, b], [["a", "0.6", "0.9"], ["b", "0.5", "0.5"]])
    assert modality_table(c, "accuracy") == (
        ["run (test accuracy)", "fused", "text masked", "image masked"],
        [[a, "0.7", "0.3", ""], [b, "0.7", "0.3", ""]],
    )


def test_a_table_by_name_as_the_page_saves_its_tabs(comparison):
    c = comparison
    assert table(c, "parameters") == parameters_table(c)
    assert table(c, "parameters", show_all=True) == parameters_table(c, True)
    assert table(c, "modalities") == modality_table(c, "accuracy")  # the first test metric
    assert table(c, "modalities", metric="macro_f1") == modality_table(c, "macro_f1")
    assert table(c, "metrics") == metrics_table(c) and table(c, "per_class") == per_class_table(c)
    with pytest.raises(ValueError, match=", ".join(TABLES)):
        table(c, "curves")
    titles = [title for title, _ in report_tables(c)]
    assert titles == [
        "Parameters that differ",
        "Metrics (last, best)",
        "Per-class F1 (test)",
        "Modality contribution",
    ]


def test_csv_is_the_table(comparison, tmp_path):
    path = write_csv(tmp_path / "metrics.csv", metrics_table(comparison))
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    headers, body = metrics_table(comparison)
    assert rows == [headers, *body]


class _Images(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def test_the_html_report_is_self_contained_with_or_without_charts(comparison):
    c = comparison
    plain = html_report(c)
    for label in c.labels():
        assert label in plain
    assert "train.lr" in plain and "Per-class F1 (test)" in plain and RUN_COLOURS[1] in plain
    parser = _Images()
    parser.feed(plain)
    assert parser.sources == []  # no charts given: none shown
    with_charts = html_report(c, [("Curves: train/loss", PNG)], [("Metrics", metrics_table(c))])
    parser = _Images()
    parser.feed(with_charts)
    assert parser.sources == ["data:image/png;base64," + base64.b64encode(PNG).decode("ascii")]
    assert "Curves: train/loss" in with_charts and "Per-class F1" not in with_charts  # the tables given


def test_the_json_document_keeps_its_keys_and_adds_the_test_scores(comparison):
    c = comparison
    doc = comparison_document(c)
    assert [r["id"] for r in doc["runs"]] == c.run_ids and doc["runs"][0]["status"] == "queued"
    assert doc["parameters"] == {"train.lr": [0.1, 0.01]} and doc["differing"] == ["train.lr"]
    assert doc["metrics"]["val/accuracy"][1] == {"last": pytest.approx(0.61), "best": pytest.approx(0.61)}
    assert doc["per_class_f1"] == {"a": [0.6, 0.9], "b": [0.5, 0.5]}
    assert doc["modalities"]["accuracy"][0] == {"fused": 0.7, "text masked": 0.3, "image masked": None}
    assert "model.task" in comparison_document(c, show_all=True)["parameters"]


def test_what_the_page_opens_on(comparison):
    c = comparison
    assert comparison_task(c) == "classification"
    assert scatter_default(c) == "train.lr"
    keys = c.shared_metric_keys()
    assert headline_metric(keys, task="classification") == "test/accuracy"  # the test score first
    assert headline_metric(["val/loss", "val/macro_f1", "test/loss"]) == "val/macro_f1"
    assert headline_metric(["train/loss", "val/loss"]) == "val/loss"
    assert headline_metric(["lr"]) == "lr" and headline_metric([]) is None
    assert run_colour(0) == RUN_COLOURS[0] and run_colour(len(RUN_COLOURS)) == RUN_COLOURS[0]


def _with_parameters(*parameters: dict) -> Comparison:
    from mmstudio.store.compare import differing_keys

    params = list(parameters)
    return Comparison(
        runs=[],
        parameters=params,
        all_keys=sorted(set().union(*params)),
        differing=differing_keys(params),
        stats={},
        evaluations={},
    )


def test_the_scatter_opens_on_a_parameter_that_varies_across_the_runs():
    """#17: a parameter that only one run sets (the gated fusion's width) differs, but it gives the
    other runs no point and an axis around one value (255.6-256.4): pick one that varies."""
    concat = {"model.fusion.name": "concat", "train.lr": 0.003, "seed": 0}
    gated = {"model.fusion.name": "gated", "model.fusion.dim": 256, "train.lr": 0.003, "seed": 0}
    c = _with_parameters(concat, gated, dict(concat))
    assert c.differing == ["model.fusion.dim", "model.fusion.name"]
    assert scatter_default(c) == "model.fusion.name"
    # a number every run sets before a choice, the learning rate first, the seed last
    c = _with_parameters({**concat, "train.epochs": 2, "seed": 1}, {**gated, "train.epochs": 4})
    assert scatter_default(c) == "train.epochs"
    c = _with_parameters({**concat, "train.lr": 0.01, "train.epochs": 2}, {**gated, "train.epochs": 4})
    assert scatter_default(c) == "train.lr"
    c = _with_parameters({**concat, "seed": 1}, {**concat, "seed": 2})
    assert scatter_default(c) == "seed"
    # nothing varies: the first that differs; nothing differs: none
    assert (
        scatter_default(_with_parameters(concat, {**concat, "model.fusion.dim": 256})) == "model.fusion.dim"
    )
    assert scatter_default(_with_parameters(concat, dict(concat))) is None


def test_a_csv_cell_that_reads_as_a_formula_is_written_as_text(tmp_path):
    """Issue 13: a run named '=HYPERLINK(...)' reached the comparison CSV as a formula; a number written
    as text ('-0.25') stays a number."""
    table = (["run", "=cmd|' /C calc'!A0"], [["@SUM(A1)", "-0.25"], ["+1 2", "\tx"]])
    path = write_csv(tmp_path / "t.csv", table)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows == [["run", "'=cmd|' /C calc'!A0"], ["'@SUM(A1)", "-0.25"], ["'+1 2", "'\tx"]]
