"""Copying runs between stores (``mmstudio db copy``): everything a run holds arrives, nothing is
copied twice (again, or back), files land in the target's run folder, a failure leaves the target
whole, and an old store is upgraded first. The target is SQLite, and PostgreSQL when
``MMSTUDIO_TEST_POSTGRES_URL`` is set (a clean schema per test)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mmstudio.store import NotFoundError, Store, StoreError, migrate
from mmstudio.store import transfer as transfer_module
from mmstudio.store.engine import Database, create_store_engine
from mmstudio.store.models import (
    ArtifactRow,
    DatasetRow,
    EvaluationRow,
    ExperimentRow,
    MetricBlockRow,
    MetricKeyRow,
    MetricRow,
    MetricSummaryRow,
    PredictionRow,
    RunRow,
)
from mmstudio.store.store import upgrade_store
from mmstudio.store.transfer import COPIED, PRESENT, SKIPPED, CopyError, copy_runs


@pytest.fixture(params=["sqlite", "postgresql"])
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'target.db'}"
    return request.getfixturevalue("fresh_postgres_url")


def fill(store: Store, prefix: str = "") -> dict[str, int]:
    """Two finished runs with everything a run may hold, and one still running."""
    train = store.ensure_dataset(
        name="demo", path="/data/demo", format="manifest", fingerprint=f"{prefix}fp-demo", item_count=240
    )
    other = store.ensure_dataset(
        name="other", path="/data/other", format="coco", fingerprint=f"{prefix}fp-other", item_count=10
    )
    first = store.create_run(
        name="baseline",
        experiment="fusions",
        dataset_id=train.id,
        spec={"task": "classification", "fusion": {"name": "concat"}},
        train_spec={"epochs": 2, "lr": 0.001},
        dataset_spec={"path": "/data/demo/manifest.csv", "format": "manifest"},
        device="cpu",
        seed=7,
        tags=["a", "b"],
        notes="the first one",
    )
    store.start_run(first)
    store.log_metrics(first, [("train/loss", s, s / 50, 1.0 / (s + 1), 1000.0 + s) for s in range(400)])
    store.log_metrics(first, [("val/accuracy", e, e, 0.5 + e / 10, 2000.0 + e) for e in range(3)])
    store.log_metrics(first, [("val/loss", 1, 1, float("nan"), 3000.0)])
    ev = store.add_evaluation(
        first,
        split="test",
        metrics={"accuracy": 0.75, "macro_f1": 0.7},
        dataset_id=train.id,
        labels=["cat", "dog"],
        confusion_matrix=[[3, 1], [0, 4]],
        per_class={"cat": {"f1": 0.8}},
    )
    ablated = store.add_evaluation(first, split="test", ablation="text_masked", metrics={"accuracy": 0.6})
    store.add_evaluation(first, split="test", dataset_id=other.id, metrics={"accuracy": 0.5})
    store.add_predictions(
        first,
        [
            {
                "item_index": i,
                "true_label": "cat",
                "predicted_label": "dog" if i % 3 else "cat",
                "score": i / 10,
            }
            for i in range(8)
        ],
        evaluation_id=ev,
    )
    store.add_predictions(
        first, [{"item_index": 0, "true_label": "cat", "predicted_label": "cat"}], evaluation_id=ablated
    )
    folder = store.run_dir(first)
    (folder / "sub").mkdir(parents=True)
    (folder / "best.json").write_text('{"best": 1}')
    (folder / "best.abc.safetensors").write_bytes(b"\0weights" * 100)
    (folder / "sub" / "note.txt").write_text("kept")
    store.add_artifact(first, "checkpoint", folder / "best.json")
    store.add_artifact(first, "export", "/elsewhere/model.onnx", size_bytes=12)
    store.finish_run(first)

    second = store.create_run(name="failed one", spec={"task": "regression"})
    store.start_run(second)
    store.log_metrics(second, [("train/loss", 0, 0, 2.0, 1.0)])
    store.finish_run(second, "failed", error_message="out of memory", error_traceback="Traceback ...")

    running = store.create_run(name="still going")
    store.start_run(running)
    return {"first": first, "second": second, "running": running}


def dump(store: Store, uids: set[str] | None = None) -> dict[str, Any]:
    """Every row of every table a run owns, keyed by the run's uid, with ids replaced by what they
    name (experiment name, dataset fingerprint, metric key, evaluation's position) and run folders
    by the part below them: what must be equal in two stores after a copy."""
    db = store._db
    out: dict[str, Any] = {}
    with db.read() as conn:

        def rows(model: Any, *where: Any) -> list[dict[str, Any]]:
            table = model.__table__
            return [
                dict(r) for r in conn.execute(select(table).where(*where).order_by(table.c.id)).mappings()
            ]

        fingerprints = {r["id"]: r for r in rows(DatasetRow)}
        keys = {r["id"]: r["key"] for r in rows(MetricKeyRow)}
        experiments = {r["id"]: r for r in rows(ExperimentRow)}
        for run in rows(RunRow):
            if uids is not None and run["uid"] not in uids:
                continue
            rid = run.pop("id")
            exp = experiments[run.pop("experiment_id")]
            ds = fingerprints.get(run.pop("dataset_id"))
            drop = ("id", "run_id")
            doc: dict[str, Any] = {
                "run": run,
                "experiment": exp["name"],  # matched by name: a target's own keeps its description
                "dataset": None if ds is None else {k: v for k, v in ds.items() if k != "id"},
            }
            for model in (MetricRow, MetricSummaryRow, MetricBlockRow):
                doc[model.__tablename__] = [
                    {**{k: v for k, v in r.items() if k not in drop}, "key_id": keys[r["key_id"]]}
                    for r in rows(model, model.run_id == rid)
                ]
            evaluations = rows(EvaluationRow, EvaluationRow.run_id == rid)
            position = {e["id"]: n for n, e in enumerate(evaluations)}
            doc["evaluations"] = [
                {
                    **{k: v for k, v in e.items() if k not in drop},
                    "dataset_id": None
                    if e["dataset_id"] is None
                    else fingerprints[e["dataset_id"]]["fingerprint"],
                }
                for e in evaluations
            ]
            doc["predictions"] = [
                {
                    **{k: v for k, v in p.items() if k not in drop},
                    "evaluation_id": position.get(p["evaluation_id"]),
                }
                for p in rows(PredictionRow, PredictionRow.run_id == rid)
            ]
            folder = str(store.run_dir(rid))
            doc["artifacts"] = [
                {**{k: v for k, v in a.items() if k not in drop}, "path": a["path"].replace(folder, "RUN")}
                for a in rows(ArtifactRow, ArtifactRow.run_id == rid)
            ]
            out[run["uid"]] = doc
    return out


def _counts(store: Store) -> dict[str, int]:
    from sqlalchemy import func

    models = (RunRow, DatasetRow, ExperimentRow, MetricKeyRow, MetricRow, MetricSummaryRow, MetricBlockRow)
    with store._db.read() as conn:
        counts = {
            m.__tablename__: conn.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (*models, EvaluationRow, PredictionRow, ArtifactRow)
        }
    return counts


@pytest.fixture
def source(db_url: str) -> Store:
    with Store.open(db_url) as store:
        yield store


def test_a_copy_holds_everything_the_runs_held(source: Store, target_url: str) -> None:
    ids = fill(source)
    with Store.open(target_url) as target:
        target.create_run(name="already here")  # the target's ids differ from the source's
        report = copy_runs(source, target, with_files=True)
        assert [(r.source_id, r.action) for r in report.runs] == [
            (ids["first"], COPIED),
            (ids["second"], COPIED),
            (ids["running"], SKIPPED),
        ]
        assert "running" in report.runs[2].reason
        mapping = {r.source_id: r.target_id for r in report.runs if r.action == COPIED}
        assert mapping == {ids["first"]: 2, ids["second"]: 3}
        copied = dump(target)
        expected = dump(source)
        running_uid = [u for u, d in expected.items() if d["run"]["name"] == "still going"]
        del expected[running_uid[0]]
        copied_without_local = {u: d for u, d in copied.items() if d["run"]["name"] != "already here"}
        assert _normalise(copied_without_local) == _normalise(expected)

        # what the store's API shows of it, as the runs table and `runs show` read it
        new = mapping[ids["first"]]
        run = target.get_run(new)
        assert (run.name, run.experiment, run.dataset, run.tags, run.notes) == (
            "baseline",
            "fusions",
            "demo",
            ("a", "b"),
            "the first one",
        )
        assert len(target.read_curve(new, "train/loss")) == 400
        assert target.metric_stats([new])[new]["val/accuracy"].max == pytest.approx(0.7)
        assert [e.ablation for e in target.list_evaluations(new)] == [None, "text_masked", None]
        assert len(target.list_predictions(new)) == 9
        assert target.get_run(mapping[ids["second"]]).error_message == "out of memory"

        # the files, in the target's own folder for the run, where its artifacts now point
        folder = target.run_dir(new)
        assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
            "best.abc.safetensors",
            "best.json",
            "sub/note.txt",
        ]
        assert (folder / "best.abc.safetensors").read_bytes() == (
            source.run_dir(ids["first"]) / "best.abc.safetensors"
        ).read_bytes()
        paths = {a.kind: a.path for a in target.list_artifacts(new)}
        assert paths == {"checkpoint": str(folder / "best.json"), "export": "/elsewhere/model.onnx"}


def _normalise(doc: dict[str, Any]) -> dict[str, Any]:
    """NaN as None (SQLite keeps a NaN as NULL, PostgreSQL as NaN) and bytes as bytes."""

    def fix(value: Any) -> Any:
        if isinstance(value, float) and value != value:
            return None
        if isinstance(value, memoryview):
            return bytes(value)
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    return fix(doc)


def test_copying_twice_or_back_makes_no_duplicates(source: Store, target_url: str, tmp_path: Path) -> None:
    ids = fill(source)
    with Store.open(target_url) as target:
        first = copy_runs(source, target, with_files=True)
        before = _counts(target)
        again = copy_runs(source, target, with_files=True)
        assert [r.action for r in again.runs] == [PRESENT, PRESENT, SKIPPED]
        assert [r.target_id for r in again.runs] == [r.target_id for r in first.runs]
        assert _counts(target) == before

        back = copy_runs(target, source)  # the same runs, home again: nothing to do
        assert [r.action for r in back.runs] == [PRESENT, PRESENT]
        assert [r.target_id for r in back.runs] == [ids["first"], ids["second"]]

        source.finish_run(ids["running"], "interrupted")  # ended now: the next copy takes it
        later = copy_runs(source, target)
        assert [r.action for r in later.runs] == [PRESENT, PRESENT, COPIED]

        # a round trip into a third store: the same content again
        with Store.open(f"sqlite:///{tmp_path / 'third.db'}") as third:
            copy_runs(target, third, with_files=True)
            assert _normalise(dump(third)) == _normalise(dump(target))


def test_only_the_runs_asked_for(source: Store, target_url: str) -> None:
    ids = fill(source)
    with Store.open(target_url) as target:
        report = copy_runs(source, target, [ids["second"]])
        assert [(r.source_id, r.action) for r in report.runs] == [(ids["second"], COPIED)]
        assert [r.name for r in target.list_runs()] == ["failed one"]
        assert target.list_artifacts(report.runs[0].target_id) == []
        with pytest.raises(NotFoundError, match="no run 99"):
            copy_runs(source, target, [ids["first"], 99])
        assert target.count_runs() == 1  # nothing copied when an id is wrong


def test_without_files_the_artifacts_keep_their_paths(source: Store, tmp_path: Path) -> None:
    ids = fill(source)
    with Store.open(f"sqlite:///{tmp_path / 't.db'}") as target:
        report = copy_runs(source, target, [ids["first"]])
        new = report.runs[0].target_id
        assert report.runs[0].files == 0 and not target.run_dir(new).exists()
        paths = [a.path for a in target.list_artifacts(new)]
        assert paths[0] == str(source.run_dir(ids["first"]) / "best.json")


def test_a_failure_leaves_the_target_whole(
    source: Store, target_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = fill(source)
    real = transfer_module._copy_predictions
    calls = []

    def fail_on_the_second(sconn, tconn, run_id, new_id, evaluations):
        calls.append(new_id)
        real(sconn, tconn, run_id, new_id, evaluations)
        if run_id == ids["second"]:
            raise OSError("the disk is full")

    monkeypatch.setattr(transfer_module, "_copy_predictions", fail_on_the_second)
    with Store.open(target_url) as target:
        with pytest.raises(
            CopyError, match="copying run 2 \\(failed one\\) failed: the disk is full"
        ) as caught:
            copy_runs(source, target, with_files=True)
        assert "1 as 1" in str(caught.value) and caught.value.exit_code == 1
        assert [r.action for r in caught.value.report.runs] == [COPIED]
        assert [r.name for r in target.list_runs()] == ["baseline"]
        counts = _counts(target)
        assert counts["runs"] == 1 and counts["metric_summaries"] == 3
        monkeypatch.setattr(transfer_module, "_copy_predictions", real)
        report = copy_runs(source, target, with_files=True)  # again: the rest
        assert [r.action for r in report.runs] == [PRESENT, COPIED, SKIPPED]
        assert target.count_runs() == 2


def test_a_failure_removes_the_files_it_copied(
    source: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = fill(source)

    def full(folders, destination):
        destination.mkdir(parents=True)
        (destination / "half.bin").write_bytes(b"x")
        raise OSError("No space left on device")

    monkeypatch.setattr(transfer_module, "_copy_files", full)
    with Store.open(f"sqlite:///{tmp_path / 't.db'}") as target:
        with pytest.raises(CopyError, match="No space left"):
            copy_runs(source, target, [ids["first"]], with_files=True)
        assert target.count_runs() == 0
        assert not target.run_dir(1).exists()
        assert list(target.run_dir(1).parent.iterdir()) == []  # nor the files copied before it failed


def test_the_same_store_is_refused(source: Store, db_url: str) -> None:
    fill(source)
    with Store.open(db_url) as again, pytest.raises(StoreError, match="are the same store"):
        copy_runs(source, again)


def test_upgrade_says_from_which_revision(db_path: Path, db_url: str) -> None:
    db = Database(create_store_engine(db_url))
    migrate.upgrade(db, "0004")
    with db.write() as conn:
        from sqlalchemy import text

        conn.execute(
            text(
                "INSERT INTO experiments (name, description, created_at) VALUES ('Default', '', '2026-01-01')"
            )
        )
        for n in range(3):
            conn.execute(
                text(
                    "INSERT INTO runs (experiment_id, name, status, spec, train_spec, created_at, notes, "
                    f"tags) VALUES (1, 'old {n}', 'completed', '{{}}', '{{}}', '2026-01-01', '', '[]')"
                )
            )
    db.dispose()
    done = upgrade_store(db_url)
    assert (done.before, done.after, done.changed) == ("0004", migrate.HEAD_REVISION, True)
    assert done.backup is not None and done.backup.name.startswith("mmstudio.db.bak-0004-")
    con = sqlite3.connect(db_path)
    uids = [r[0] for r in con.execute("SELECT uid FROM runs")]
    con.close()
    assert len(set(uids)) == 3 and all(len(u) == 32 for u in uids)
    again = upgrade_store(db_url)
    assert (again.before, again.changed, again.backup) == (migrate.HEAD_REVISION, False, None)


def test_two_copies_at_once_copy_each_run_once(db_url: str, target_url: str) -> None:
    import threading

    with Store.open(db_url) as store:
        fill(store)
    Store.open(target_url).close()
    barrier, reports, errors = threading.Barrier(2), [], []

    def copy() -> None:
        try:
            with Store.open(db_url) as source, Store.open(target_url) as target:
                barrier.wait(timeout=30)
                reports.append(copy_runs(source, target, with_files=True))
        except Exception as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=copy) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with Store.open(target_url) as target:
        assert sorted(r.name for r in target.list_runs()) == ["baseline", "failed one"]
        first = next(r for r in target.list_runs() if r.name == "baseline")
        assert len(target.read_curve(first.id, "train/loss")) == 400
        assert len(list(target.run_dir(first.id).rglob("*.json"))) == 1
        assert list(target.run_dir(first.id).parent.glob(".copying-*")) == []
    actions = sorted(a for rep in reports for a in (r.action for r in rep.runs) if a != SKIPPED)
    assert actions == [COPIED, COPIED, PRESENT, PRESENT]
