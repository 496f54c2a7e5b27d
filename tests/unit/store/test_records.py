"""Round trips of datasets, experiments, evaluations, predictions and artifacts."""

from __future__ import annotations

import hashlib
from datetime import UTC
from pathlib import Path

import numpy as np
import pytest

from mmstudio.store import NotFoundError, Prediction, Store, StoreError


def test_datasets_are_identified_by_fingerprint(store: Store) -> None:
    summary = {"labels": {"cat": np.int64(3), "dog": 2}, "splits": {"train": 4, "test": 1}}
    ds = store.create_dataset(
        name="pets",
        path=Path("/data/pets"),
        format="imagefolder",
        fingerprint="abc",
        item_count=5,
        summary=summary,
    )
    assert (ds.name, ds.path, ds.format, ds.fingerprint, ds.item_count) == (
        "pets",
        "/data/pets",
        "imagefolder",
        "abc",
        5,
    )
    assert ds.summary == {"labels": {"cat": 3, "dog": 2}, "splits": {"train": 4, "test": 1}}
    assert ds.created.tzinfo is UTC
    again = store.ensure_dataset(
        name="moved", path="/elsewhere", format="imagefolder", fingerprint="abc", item_count=5
    )
    assert again == ds
    other = store.ensure_dataset(name="b", path="/b", format="coco", fingerprint="def", item_count=1)
    assert other.id != ds.id
    assert store.get_dataset(ds.id) == ds
    assert store.find_dataset("def") == other and store.find_dataset("zzz") is None
    assert [d.id for d in store.list_datasets()] == [ds.id, other.id]
    with pytest.raises(StoreError, match="already"):
        store.create_dataset(name="x", path="/x", format="coco", fingerprint="abc", item_count=1)
    with pytest.raises(NotFoundError):
        store.get_dataset(999)


def test_experiments(store: Store) -> None:
    exp = store.create_experiment("fusion sweep", "which fusion wins")
    assert (exp.name, exp.description) == ("fusion sweep", "which fusion wins")
    with pytest.raises(StoreError, match="already exists"):
        store.create_experiment("fusion sweep")
    assert store.ensure_experiment("fusion sweep") == exp
    assert store.get_experiment(exp.id) == store.get_experiment("fusion sweep") == exp
    run_id = store.create_run(experiment=exp.id)
    assert store.get_run(run_id).experiment == "fusion sweep"
    assert store.ensure_experiment().name == "Default"
    with pytest.raises(NotFoundError):
        store.get_experiment("nope")


def test_evaluation_round_trip(store: Store) -> None:
    ds = store.ensure_dataset(name="d", path="/d", format="manifest", fingerprint="f", item_count=4)
    run_id = store.create_run()
    cm = np.array([[5, 1], [2, 7]])
    ev_id = store.add_evaluation(
        run_id,
        split="test",
        dataset_id=ds.id,
        metrics={"accuracy": np.float32(0.75), "macro_f1": 0.7, "auc": float("nan")},
        labels=["cat", "dog"],
        confusion_matrix=cm,
        per_class={"cat": {"precision": 0.71, "recall": 0.83}, "dog": {"precision": 0.875, "recall": 0.78}},
    )
    masked = store.add_evaluation(run_id, split="test", ablation="text_masked", metrics={"accuracy": 0.6})
    ev = store.get_evaluation(ev_id)
    assert (ev.run_id, ev.split, ev.dataset_id, ev.ablation) == (run_id, "test", ds.id, None)
    assert ev.metrics == {"accuracy": 0.75, "macro_f1": 0.7, "auc": None}
    assert ev.labels == ["cat", "dog"] and ev.confusion_matrix == [[5, 1], [2, 7]]
    assert ev.per_class["dog"] == {"precision": 0.875, "recall": 0.78}
    assert ev.created.tzinfo is UTC
    assert [e.id for e in store.list_evaluations(run_id)] == [ev_id, masked]
    assert store.get_evaluation(masked).ablation == "text_masked"
    with pytest.raises(NotFoundError):
        store.add_evaluation(999, split="test", metrics={})
    with pytest.raises(NotFoundError):
        store.get_evaluation(999)


def test_predictions_round_trip(store: Store) -> None:
    run_id = store.create_run()
    ev = store.add_evaluation(run_id, split="val", metrics={})
    n = store.add_predictions(
        run_id,
        [
            Prediction(
                item_index=2, true_label="dog", predicted_label="cat", score=0.6, probabilities={"cat": 0.6}
            ),
            {
                "item_index": 0,
                "true_label": 1,
                "predicted_label": np.int64(1),
                "probabilities": np.array([0.1, 0.9]),
            },
            Prediction(item_index=1, predicted_label="dog", correct=None),
        ],
        evaluation_id=ev,
    )
    assert n == 3
    store.add_predictions(
        run_id, [Prediction(item_index=0, true_label="a", predicted_label="a")]
    )  # no evaluation
    got = store.list_predictions(run_id, evaluation_id=ev)
    assert [p.item_index for p in got] == [0, 1, 2]
    assert got[0] == Prediction(
        item_index=0,
        true_label="1",
        predicted_label="1",
        probabilities=[0.1, 0.9],
        correct=True,
        evaluation_id=ev,
    )
    assert got[1].correct is None and got[1].true_label is None
    assert got[2].correct is False and got[2].score == 0.6 and got[2].probabilities == {"cat": 0.6}
    assert len(store.list_predictions(run_id)) == 4
    assert store.add_predictions(run_id, []) == 0
    with pytest.raises(NotFoundError):
        store.add_predictions(999, [Prediction(item_index=0)])


def test_artifacts_round_trip(store: Store, tmp_path: Path) -> None:
    run_id = store.create_run()
    f = tmp_path / "best.safetensors"
    f.write_bytes(b"\x00weights" * 1000)
    art = store.add_artifact(run_id, "checkpoint", f)
    assert (art.run_id, art.kind, art.path, art.size_bytes) == (run_id, "checkpoint", str(f), 8000)
    assert art.sha256 == hashlib.sha256(f.read_bytes()).hexdigest()
    assert art.created.tzinfo is UTC
    missing = store.add_artifact(run_id, "export", tmp_path / "model.onnx")  # not written yet
    assert missing.size_bytes is None and missing.sha256 is None
    unhashed = store.add_artifact(run_id, "report", f, hash_file=False)
    assert unhashed.sha256 is None and unhashed.size_bytes == 8000
    assert store.list_artifacts(run_id) == [art, missing, unhashed]
    assert store.list_artifacts(run_id, kind="export") == [missing]
    with pytest.raises(NotFoundError):
        store.add_artifact(999, "checkpoint", f)
