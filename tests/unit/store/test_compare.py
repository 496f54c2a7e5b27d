"""The Qt-free part of the compare view: flattened parameters and their diff, aggregation of stored
runs, disagreements, EMA smoothing and which curves are smoothed, and the metric the view opens on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmstudio.store import Prediction, Store
from mmstudio.store.compare import (
    MIN_SMOOTHED_POINTS,
    default_metric,
    differing_keys,
    disagreements,
    ema,
    flatten,
    load_comparison,
    opening_metric,
    smooth,
    smoothing_weight,
)
from mmstudio.store.summaries import run_key_metric
from mmstudio.store.types import MetricStats


def naive_ema(values, w):
    out, s = [], 0.0
    for n, v in enumerate(values, start=1):
        s = w * s + (1 - w) * v
        out.append(s / (1 - w**n))
    return out


def test_flatten_and_differing_keys():
    a = flatten("", {"model": {"fusion": {"name": "concat"}}, "train": {"lr": 0.1}, "seed": 0}, {})
    b = flatten("", {"model": {"fusion": {"name": "gated"}}, "train": {"lr": 0.1, "wd": 1}, "seed": 0}, {})
    assert a == {"model.fusion.name": "concat", "train.lr": 0.1, "seed": 0}
    assert differing_keys([a, b]) == ["model.fusion.name", "train.wd"]
    assert differing_keys([a, a]) == []


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.6, 0.9, 0.99, 0.999])
def test_ema_matches_the_recurrence(weight):
    rng = np.random.default_rng(0)
    values = rng.normal(size=20_000).cumsum()  # thousands of blocks (carried across in a few terms)
    if weight == 0.0:
        np.testing.assert_array_equal(ema(values, weight), values)
        return
    np.testing.assert_allclose(ema(values, weight), naive_ema(values.tolist(), weight), rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("weight", [0.3, 0.9, 0.999])
def test_ema_resumed_gives_what_the_whole_series_gives(weight):
    values = np.random.default_rng(1).normal(size=3000).cumsum()
    values[[5, 2000]] = math.nan
    whole = ema(values, weight)
    parts, resume = [], None
    for chunk in np.split(values, [1, 3, 17, 900, 2500]):
        part = ema(chunk, weight, resume=resume)
        parts.append(part)
        done = np.concatenate(parts)
        finite = done[~np.isnan(done)]
        resume = (finite[-1], finite.size) if finite.size else None
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-9, atol=1e-9, equal_nan=True)


def test_ema_skips_nans_and_keeps_them():
    values = np.array([math.nan, 1.0, 2.0, math.nan, 4.0])
    got = ema(values, 0.5)
    assert math.isnan(got[0]) and math.isnan(got[3])
    np.testing.assert_allclose(got[[1, 2, 4]], naive_ema([1.0, 2.0, 4.0], 0.5))


def test_disagreements_are_items_predicted_differently():
    a = [Prediction(item_index=i, predicted_label=x) for i, x in enumerate("aabb")]
    b = [Prediction(item_index=i, predicted_label=x) for i, x in enumerate("abbb")]
    assert disagreements([a, b]) == [1]
    assert disagreements([a, []]) == []


def test_load_comparison_reads_runs_stats_evaluations_and_predictions(db_url):
    with Store.open(db_url) as store:
        ids = []
        for lr in (0.1, 0.01):
            run_id = store.create_run(
                name=f"lr{lr}", spec={"fusion": {"name": "concat"}}, train_spec={"lr": lr}
            )
            store.log_metric_arrays(run_id, "train/loss", np.arange(10), np.linspace(2, 1, 10))
            store.log_metric_arrays(run_id, "val/accuracy", np.arange(2), [0.5, 0.6 + lr])
            ev = store.add_evaluation(
                run_id,
                split="test",
                metrics={"accuracy": 0.5},
                labels=["a", "b"],
                confusion_matrix=[[1, 1], [0, 2]],
                per_class={"a": {"f1": 0.6}, "b": {"f1": 0.8}},
            )
            store.add_evaluation(run_id, split="test", ablation="text_masked", metrics={"accuracy": 0.3})
            store.add_predictions(
                run_id,
                [
                    {"item_index": i, "true_label": t, "predicted_label": p}
                    for i, (t, p) in enumerate(
                        [("a", "a"), ("a", "b" if lr == 0.1 else "a"), ("b", "b"), ("b", "b")]
                    )
                ],
                evaluation_id=ev,
            )
            ids.append(run_id)
        c = load_comparison(store, ids)
    assert c.run_ids == ids and c.differing == ["train.lr"]
    assert c.labels() == [f"#{ids[0]} lr0.1", f"#{ids[1]} lr0.01"]
    assert c.shared_metric_keys() == ["train/loss", "val/accuracy"] and c.default_metric() == "val/accuracy"
    assert c.metric_rows()[0][1][0] == (pytest.approx(1.0), pytest.approx(1.0))
    assert c.class_labels() == ["a", "b"] and c.per_class()[ids[0]] == {"a": 0.6, "b": 0.8}
    assert c.modality_scores("accuracy")[ids[0]] == {"fused": 0.5, "text masked": 0.3, "image masked": None}
    assert c.disagreements() == [1]
    assert [p.item_index for p in c.examples(ids[0], "a", "b")] == [1]
    assert c.prediction(ids[0], 1).predicted_label == "b" and c.prediction(ids[1], 9) is None
    # how a gallery lists an item: its text, the true label, each run's prediction
    from mmstudio.store.report import example_text

    first, second = (label.split(" ")[0] for label in c.labels())
    assert example_text(c, 1, "a red pin " * 20) == (
        f"{('a red pin ' * 20)[:139]}…\ntrue: a   predicted: {first} b ✗  {second} a ✓"
    )
    assert example_text(c, 7, None).startswith("item 7 (dataset not loaded)\ntrue: None")
    # a caption with a NUL or a tab (issue 12 #14): escapes a font can draw, on one line
    assert example_text(c, 1, "nul\x00 and\ttab").startswith("nul\\x00 and tab\ntrue: a")
    with Store.open(db_url) as store:
        assert load_comparison(store, ids, predictions=False).predictions == {}  # for tables alone


def _stats(**counts: int) -> dict[str, MetricStats]:
    return {
        key.replace("__", "/"): MetricStats(
            key=key.replace("__", "/"),
            count=n,
            last_step=n,
            last_epoch=None,
            last_value=0.5,
            last_time=0.0,
            min=0.1,
            max=0.9,
        )
        for key, n in counts.items()
    }


def _run(run_id: int, task: str | None = "classification", early_stopping: str | None = None):
    """What default_metric reads of a run (a RunDetail's id, model spec and training spec)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        id=run_id, spec={"task": task} if task else {}, train_spec={"early_stopping_metric": early_stopping}
    )


def test_the_curves_open_on_the_metric_the_experiments_page_ranks_by():
    """#3: not on a loss. A score logged once an epoch (a few points) is still the one shown first:
    it is drawn as its points, not smoothed."""
    runs = [_run(1), _run(2)]
    scored = {i: _stats(val__loss=3, train__loss=50, val__accuracy=3, val__macro_f1=3) for i in (1, 2)}
    assert default_metric([1, 2], scored, runs) == "val/accuracy"
    for run in runs:  # the Experiments page's column: the same key
        assert run_key_metric(scored[run.id], run.spec, run.train_spec) == "val/accuracy"
    one_epoch = {i: _stats(val__loss=1, train__loss=50, val__accuracy=1) for i in (1, 2)}
    assert default_metric([1, 2], one_epoch, runs) == "val/accuracy"  # was train/loss: "a curve"
    # the early-stopping metric a run is judged by, the task's key metric
    stopped = [_run(1, early_stopping="val/macro_f1"), _run(2, early_stopping="val/macro_f1")]
    assert default_metric([1, 2], scored, stopped) == "val/macro_f1"
    regression = {i: _stats(val__loss=3, val__rmse=3, val__mae=3) for i in (1, 2)}
    assert default_metric([1, 2], regression, [_run(1, "regression"), _run(2, "regression")]) == "val/rmse"
    # runs trained without a validation split are ranked by their test score
    untested = {i: _stats(train__loss=50, test__accuracy=1, test__loss=1) for i in (1, 2)}
    assert default_metric([1, 2], untested, runs) == "test/accuracy"
    # the first run's key metric that every run logged
    mixed = {1: _stats(val__macro_f1=3, val__accuracy=3), 2: _stats(val__accuracy=3)}
    assert default_metric([1, 2], mixed, [_run(1, early_stopping="val/macro_f1"), _run(2)]) == "val/accuracy"
    # from the stats alone: the key metric of the keys they share; a loss only without a score
    assert default_metric([1, 2], scored) == "val/accuracy"
    assert default_metric([1, 2], {i: _stats(val__loss=3, train__loss=9) for i in (1, 2)}) == "val/loss"
    assert default_metric([1, 2], {i: _stats(lr=3) for i in (1, 2)}) == "lr"
    assert default_metric([1, 2], {}) is None


def test_the_metric_read_first_is_the_one_the_comparison_opens_on(db_url):
    with Store.open(db_url) as store:
        ids = []
        for name in ("a", "b"):
            run_id = store.create_run(name=name, spec={"task": "classification"}, train_spec={})
            store.log_metric_arrays(run_id, "train/loss", np.arange(10), np.linspace(2, 1, 10))
            store.log_metric_arrays(run_id, "val/loss", np.arange(2), [1.5, 1.2])
            store.log_metric_arrays(run_id, "val/macro_f1", np.arange(2), [0.5, 0.6])
            ids.append(run_id)
        assert opening_metric(store, ids) == load_comparison(store, ids).default_metric() == "val/macro_f1"


def test_only_long_per_step_curves_are_smoothed_and_never_past_a_quarter_of_their_points():
    """#3: a per-epoch metric of 2-3 points is drawn as it is; a short per-step one is smoothed less."""
    assert smoothing_weight("val/loss", 300, 0.6) == 0.0  # per epoch, however many epochs
    assert smoothing_weight("train/epoch_loss", 300, 0.6) == 0.0
    assert smoothing_weight("test/accuracy", 1, 0.6) == 0.0
    assert smoothing_weight("train/loss", MIN_SMOOTHED_POINTS - 1, 0.6) == 0.0  # too short
    assert smoothing_weight("train/loss", 40, 0.99) == pytest.approx(0.9)  # its span: 10 of 40 points
    assert smoothing_weight("train/loss", 40, 0.6) == 0.6
    assert smoothing_weight("train/loss", 100_000, 0.999) == 0.999
    assert smoothing_weight("train/loss", 100_000, 0.0) == 0.0
    for points in range(MIN_SMOOTHED_POINTS, 5000, 7):  # the weight grows with the points, up to the asked
        weight = smoothing_weight("train/loss", points, 0.999)
        assert 0 < weight <= 0.999 and 1 / (1 - weight) <= points / 4 + 1e-6
    values = np.linspace(2, 1, 3)
    assert smooth("val/loss", values, 0.6) is values  # the values themselves, not a copy
    long = np.random.default_rng(0).normal(size=1000)
    np.testing.assert_array_equal(smooth("train/loss", long, 0.6), ema(long, 0.6))
