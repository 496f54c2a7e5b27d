"""Run records (the rows of the Experiments page and of ``runs list``): the architecture label, the key
metric a run is judged by, a running run's time, the poll that reads only what changed, and the
details report."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mmstudio.store import RunStatus, Store
from mmstudio.store.handle import StoreHandle
from mmstudio.store.summaries import (
    details_html,
    fetch_records,
    fetch_runs,
    make_record,
    run_key_metric,
)
from mmstudio.vocabulary import architecture_summary

FUSED = {
    "task": "classification",
    "text_encoder": {"name": "bag", "embed_dim": 16},
    "image_encoder": {"name": "small_cnn", "width": 4},
    "fusion": {"name": "concat"},
    "head": {"name": "mlp", "hidden": 32},
}


def add_run(store: Store, name: str, accuracy: list[float], **kwargs) -> int:
    run_id = store.create_run(name=name, spec=kwargs.pop("spec", FUSED), device="cpu", **kwargs)
    store.start_run(run_id)
    points = []
    for epoch, acc in enumerate(accuracy, start=1):
        points += [
            ("val/accuracy", epoch, float(epoch), acc, None),
            ("val/loss", epoch, float(epoch), 1 - acc, None),
        ]
    if points:
        store.log_metrics(run_id, points)
    return run_id


def test_the_architecture_label_names_the_encoders_and_the_fusion():
    assert architecture_summary({}) == ("", "")
    assert architecture_summary(None) == ("", "")
    short, tip = architecture_summary(FUSED)
    assert short == "bag + small_cnn · concat"
    assert tip == "task classification; text encoder bag; image encoder small_cnn; fusion concat; head mlp"
    assert architecture_summary({**FUSED, "image_encoder": {"name": "none"}})[0] == "bag (text only)"
    image_only = {"image_encoder": {"name": "resnet18"}, "text_encoder": {"name": "none"}}
    assert architecture_summary(image_only)[0] == "resnet18 (image only)"


def test_the_key_metric_follows_the_task_and_the_early_stopping_metric():
    assert run_key_metric({}) == ""
    keys = ["val/loss", "val/macro_f1", "val/accuracy"]
    assert run_key_metric(keys) == "val/accuracy"
    assert run_key_metric(keys, None, {"early_stopping_metric": "val/macro_f1"}) == "val/macro_f1"
    assert run_key_metric(keys, None, {"early_stopping_metric": "val/loss"}) == "val/accuracy"  # a score
    assert run_key_metric(["val/loss"]) == "val/loss"
    assert run_key_metric(["train/loss"]) == "train/loss"
    # the task decides among the scores: a multi-label run is judged by its macro F1 first
    assert run_key_metric(keys, {"task": "multilabel"}) == "val/macro_f1"
    assert run_key_metric(["val/rmse", "val/mae"], {"task": "regression"}) == "val/rmse"
    # no validation score (trained without a validation split): the test score, not a loss
    assert run_key_metric(["train/loss", "test/accuracy"]) == "test/accuracy"


def test_a_record_holds_the_key_metric_its_loss_and_its_test_twin(store: Store):
    run_id = add_run(store, "alpha", [0.5, 0.9, 0.75], train_spec={"epochs": 3})
    store.log_metrics(run_id, [("test/accuracy", 9, 3.0, 0.8, None)])
    store.finish_run(run_id)
    [record] = fetch_records(store, [run_id]).values()
    assert (record.metric, record.best, record.last, record.test) == ("val/accuracy", 0.9, 0.75, 0.8)
    assert record.loss_best == pytest.approx(0.1) and record.loss_last == pytest.approx(0.25)
    assert record.architecture == "bag + small_cnn · concat" and record.train_spec == {"epochs": 3}
    assert record.key_metric_json() == {"key": "val/accuracy", "best": 0.9, "last": 0.75, "test": 0.8}
    assert record.value("created") == record.created.timestamp()


def test_a_running_runs_time_counts_up_and_a_record_keeps_its_dataset_spec(store: Store):
    spec = {"path": "/data/demo", "format": "manifest"}
    run_id = add_run(store, "live", [0.5], dataset_spec=spec)
    run = store.get_run(run_id)
    record = make_record(run, {}, now=run.started + timedelta(seconds=90))
    assert record.status is RunStatus.RUNNING and record.duration_s == pytest.approx(90, abs=1)
    assert record.dataset_spec == spec
    assert record.metric == "" and record.best is None
    elsewhere = store.create_run(name="elsewhere")
    store.start_run(elsewhere, pid=4242, hostname="gpu-box-7")
    record = make_record(store.get_run(elsewhere), {})
    assert (record.hostname, record.pid) == ("gpu-box-7", 4242)  # Stop's question names the machine


def test_the_poll_reads_in_full_only_the_runs_that_changed(store: Store, db_url: str):
    first = add_run(store, "first", [0.5])
    second = add_run(store, "second", [0.6])
    handle = StoreHandle()
    try:
        snapshot = fetch_runs(None, handle, db_url, {})
        assert snapshot.url == db_url and snapshot.order == [second, first]  # newest first
        assert set(snapshot.records) == {first, second}
        again = fetch_runs(None, handle, db_url, snapshot.signatures)
        assert again.records == {} and again.order == snapshot.order
        store.set_notes(first, "edited elsewhere")
        store.delete_run(second)
        after = fetch_runs(None, handle, db_url, snapshot.signatures)
        assert after.order == [first] and set(after.records) == {first}
        assert after.records[first].notes == "edited elsewhere"
    finally:
        handle.close()


def test_the_details_say_why_a_run_stopped_and_list_its_model_settings_and_metrics(store: Store):
    run_id = add_run(store, "gamma <b>", [0.125], train_spec={"lr": 0.003, "epochs": 2}, tags=["base"])
    store.finish_run(run_id, "failed", error_message="loss became NaN at step 7")
    [record] = fetch_records(store, [run_id]).values()
    html = details_html(record)
    assert "loss became NaN at step 7" in html and "gamma &lt;b&gt;" in html
    assert "small_cnn (width=4)" in html and "text encoder" in html and "val/accuracy" in html
    assert html.index("epochs") < html.index("lr")  # the training settings in their fixed order
    # a spec stored before best_metric existed picked its checkpoint by val/loss, and says so
    assert "best checkpoint by</td><td>val/loss (min)" in html.replace("'", "").replace(" align=left", "")
    assert "#d64541" in html  # the failed status's colour
    record = make_record(store.get_run(run_id), {})
    assert "No metrics logged yet" in details_html(record)


def test_a_sparkline_is_the_curve_in_at_most_48_slice_means():
    from mmstudio.store.summaries import SPARKLINE_POINTS, sparkline

    assert sparkline([3.0, float("nan"), 2.0, float("inf"), 1.0]) == (3.0, 2.0, 1.0)  # short: as it is
    long = sparkline([float(n) for n in range(4800)])
    assert len(long) == SPARKLINE_POINTS == 48
    assert long[0] == pytest.approx(49.5) and long[-1] == pytest.approx(4749.5)  # means of 100 each
    assert list(long) == sorted(long) and sparkline([]) == ()


def test_the_poll_reads_the_loss_curve_of_the_changed_runs_only(store: Store, db_url: str, monkeypatch):
    """The Experiments page's sparklines: train/loss when it has points (per step), else val/loss;
    runs whose summary did not change are not read again; ``runs list`` reads no curve at all."""
    from mmstudio.store.summaries import sparkline_key

    stepped = add_run(store, "stepped", [0.5, 0.6])
    store.log_metrics(stepped, [("train/loss", s, s / 10, 2.0 / s, None) for s in range(1, 101)])
    epochs = add_run(store, "epochs", [0.5, 0.7, 0.8])
    nothing = add_run(store, "nothing", [])
    reads: list[tuple[int, str]] = []
    read_curve = Store.read_curve
    monkeypatch.setattr(
        Store, "read_curve", lambda self, i, k: reads.append((i, k)) or read_curve(self, i, k)
    )
    handle = StoreHandle()
    try:
        snapshot = fetch_runs(None, handle, db_url, {})
        records = snapshot.records
        assert records[stepped].curve_key == "train/loss" and len(records[stepped].curve) == 48
        assert records[stepped].curve[0] > records[stepped].curve[-1]
        assert records[epochs].curve_key == "val/loss"
        assert records[epochs].curve == pytest.approx((0.5, 0.3, 0.2))
        assert records[nothing].curve == () and records[nothing].curve_key == ""
        assert records[epochs].value("curve") == pytest.approx(0.2)
        assert records[epochs].curve_summary() == "val/loss: last 0.2, lowest 0.2 (3 points)"
        assert sorted(reads) == sorted([(stepped, "train/loss"), (epochs, "val/loss")])

        reads.clear()
        store.log_metrics(epochs, [("val/loss", 4, 4.0, 0.1, None)])
        after = fetch_runs(None, handle, db_url, snapshot.signatures)
        assert set(after.records) == {epochs} and reads == [(epochs, "val/loss")]
        assert after.records[epochs].curve[-1] == pytest.approx(0.1)
        reads.clear()
        fetch_records(store, [stepped, epochs])
        assert reads == []
    finally:
        handle.close()
    assert sparkline_key({}) == ""


def test_runs_are_grouped_by_dataset_or_by_each_tag(store: Store):
    from mmstudio.store.summaries import GROUP_BY, group_title

    data = store.create_dataset(name="demo", path="/d", format="manifest", fingerprint="f", item_count=1)
    tagged = add_run(store, "tagged", [], tags=["base", "gru"], dataset_id=data.id)
    plain = add_run(store, "plain", [])
    records = fetch_records(store, [tagged, plain])
    assert records[tagged].groups("dataset") == ("demo",) and records[plain].groups("dataset") == ("",)
    assert records[tagged].groups("tag") == ("base", "gru") and records[plain].groups("tag") == ("",)
    assert [group_title(by, "") for by in GROUP_BY] == ["no dataset", "no tag"]
    assert group_title("tag", "gru") == "gru"
    with pytest.raises(ValueError, match="dataset or tag"):
        records[plain].groups("status")
