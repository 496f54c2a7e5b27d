"""Schema versions: migrations agree with the models, old databases are backed up and upgraded
with their data, newer or foreign databases are refused untouched."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import mmstudio
from mmstudio.store import Store, StoreError, StoreVersionError, migrate
from mmstudio.store.engine import Database, create_store_engine
from mmstudio.store.models import Base


def _revision(path: Path) -> str:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        con.close()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_head_constant_matches_the_scripts() -> None:
    assert migrate.head_revision() == migrate.HEAD_REVISION
    script = migrate.script_directory()
    assert [r.revision for r in script.walk_revisions()] == ["0006", "0005", "0004", "0003", "0002", "0001"]
    for rev in ("0001", "0002", "0003", "0004", "0005", "0006"):
        assert migrate.required_mmstudio(rev)


def test_migrations_match_the_models(tmp_path: Path) -> None:
    """Like mlflow's tests/db/test_schema.py: a database built by the migrations has exactly the
    schema ``metadata.create_all`` builds; a model change without a migration fails here."""
    migrated = tmp_path / "migrated.db"
    Store.open(f"sqlite:///{migrated}").close()
    engine = create_engine(f"sqlite:///{migrated}")
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == []

    created = create_engine(f"sqlite:///{tmp_path / 'created.db'}")
    Base.metadata.create_all(created)

    def shape(e):  # tables, columns, indexes, foreign keys, unique constraints
        insp = inspect(e)
        out = {}
        for t in sorted(insp.get_table_names()):
            if t == "alembic_version":
                continue
            out[t] = (
                [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(t)],
                sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(t)),
                sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"], f["options"].get("ondelete"))
                    for f in insp.get_foreign_keys(t)
                ),
                sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(t)),
                insp.get_pk_constraint(t)["constrained_columns"],
            )
        return out

    assert shape(engine) == shape(created)
    engine.dispose()
    created.dispose()


def test_new_database_is_created_at_head(store: Store, db_path: Path) -> None:
    assert _revision(db_path) == migrate.HEAD_REVISION
    assert store.backup is None
    con = sqlite3.connect(db_path)
    info = dict(con.execute("SELECT key, value FROM store_info").fetchall())
    con.close()
    assert info["schema_revision"] == migrate.HEAD_REVISION
    assert info["requires_mmstudio"] == migrate.required_mmstudio(migrate.HEAD_REVISION)
    assert info["upgraded_by_mmstudio"] == mmstudio.__version__
    assert list(db_path.parent.glob("*.bak-*")) == []


def _make_0001_database(path: Path) -> sqlite3.Connection:
    """A database at revision 0001 with one run, two curves and an evaluation, whose latest writes
    are still in the WAL (the returned connection keeps them there until closed)."""
    db = Database(create_store_engine(f"sqlite:///{path}"))
    migrate.upgrade(db, "0001")
    db.dispose()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA wal_autocheckpoint = 0")
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("BEGIN")
    con.execute(
        "INSERT INTO experiments (name, description, created_at) VALUES (?, ?, ?)",
        ("Default", "", "2024-05-01 10:00:00"),
    )
    con.execute(
        "INSERT INTO runs (experiment_id, name, status, spec, train_spec, device, seed, created_at,"
        " started_at, ended_at, duration_s, notes, tags) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            "old run",
            "completed",
            '{"fusion": "concat"}',
            "{}",
            "cpu",
            7,
            "2024-05-01 10:00:00",
            "2024-05-01 10:00:01",
            "2024-05-01 10:05:01",
            300.0,
            "n",
            '["a"]',
        ),
    )
    con.execute("INSERT INTO metric_keys (key) VALUES ('train/loss'), ('val/accuracy')")
    # logged out of step order, with a NaN (stored NULL) and a repeated step
    loss = [(3, 0.5), (1, 0.9), (2, None), (4, 0.4), (4, 0.45)]
    con.executemany(
        "INSERT INTO metrics (run_id, key_id, step, epoch, value, wall_time) VALUES (1, 1, ?, NULL, ?, ?)",
        [(s, v, 1714557600.0 + i) for i, (s, v) in enumerate(loss)],
    )
    con.executemany(
        "INSERT INTO metrics (run_id, key_id, step, epoch, value, wall_time) VALUES (1, 2, ?, ?, ?, ?)",
        [(s, s, 0.5 + s / 10, 1714557700.0 + s) for s in range(1, 4)],
    )
    con.execute(
        "INSERT INTO evaluations (run_id, split, metrics, created_at) VALUES (1, ?, ?, ?)",
        ("test", '{"accuracy": 0.8}', "2024-05-01 10:06:00"),
    )
    con.execute("COMMIT")
    return con


def test_older_database_is_backed_up_then_upgraded(db_path: Path, db_url: str) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    keeper = _make_0001_database(db_path)
    try:
        wal = db_path.with_name(db_path.name + "-wal")
        assert wal.stat().st_size > 0  # the data is (also) in the WAL: a file copy would miss it
        with Store.open(db_url) as store:
            backup = store.backup
            assert backup is not None and backup.parent == db_path.parent
            assert backup.name.startswith("mmstudio.db.bak-0001-")

            run = store.get_run(1)
            assert (run.name, run.status, run.spec, run.seed, run.tags) == (
                "old run",
                "completed",
                {"fusion": "concat"},
                7,
                ("a",),
            )
            assert run.metrics == {"train/loss": 0.45, "val/accuracy": pytest.approx(0.8)}
            loss = store.read_curve(1, "train/loss")
            np.testing.assert_array_equal(loss.step, [1, 2, 3, 4, 4])
            np.testing.assert_array_equal(loss.value, [0.9, np.nan, 0.5, 0.4, 0.45])
            stats = store.metric_stats([1])[1]["train/loss"]
            assert (stats.count, stats.min, stats.max, stats.last_step) == (5, 0.4, 0.9, 4)
            assert store.list_evaluations(1)[0].metrics == {"accuracy": 0.8}
            # and it keeps working at head
            store.log_metrics(1, [("train/loss", 5, None, 0.3, None)])
            assert len(store.read_curve(1, "train/loss")) == 6
    finally:
        keeper.close()
    assert _revision(db_path) == migrate.HEAD_REVISION

    con = sqlite3.connect(backup)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0001"
        assert con.execute("SELECT count(*) FROM metrics").fetchone()[0] == 8
        assert con.execute("SELECT name FROM runs").fetchall() == [("old run",)]
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "metric_summaries" not in tables
    finally:
        con.close()

    with Store.open(db_url) as store:  # already at head: no second backup
        assert store.backup is None
    assert len(list(db_path.parent.glob("*.bak-*"))) == 1


def _write_manifest(path: Path, dataset: dict | None) -> Path:
    """A checkpoint manifest as mmstudio writes one (only what the backfill reads matters here)."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"model": {"task": "classification"}, "run_id": 1}
    if dataset is not None:
        meta["dataset"] = dataset
    path.write_text(json.dumps({"format": "mmstudio-checkpoint", "format_version": 2, "meta": meta}))
    return path


def test_upgrade_keeps_the_dataset_spec_of_each_run_from_its_checkpoint(
    tmp_path: Path, db_path: Path, db_url: str
) -> None:
    """0003 adds ``runs.dataset_spec``, filled from the newest checkpoint manifest of each run: an
    absolute path as it was; a relative one (as typed) found from the dataset record's folder. A run
    without a readable checkpoint keeps NULL; a store at 0002 is backed up first."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db = Database(create_store_engine(db_url))
    migrate.upgrade(db, "0002")
    db.dispose()
    data = tmp_path / "data"
    exact = {"path": str(data / "manifest_train.csv"), "format": "manifest", "columns": {"text": "caption"}}
    old = _write_manifest(tmp_path / "runs" / "1" / "best.json", {"path": "elsewhere.csv"})
    new = _write_manifest(tmp_path / "runs" / "1" / "last.json", exact)
    relative = _write_manifest(
        tmp_path / "runs" / "2" / "last.json", {"path": "data/manifest_test.csv", "seed": 3}
    )
    no_spec = _write_manifest(tmp_path / "runs" / "3" / "last.json", None)
    broken = tmp_path / "runs" / "4" / "last.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    con = sqlite3.connect(db_path)
    con.execute(
        "INSERT INTO experiments (name, description, created_at) VALUES ('Default', '', '2024-05-01')"
    )
    con.execute(
        "INSERT INTO datasets (name, path, format, fingerprint, item_count, summary, created_at) "
        "VALUES ('data', ?, 'manifest', 'f1', 10, '{}', '2024-05-01')",
        (str(data),),
    )
    for run_id in range(1, 6):
        con.execute(
            "INSERT INTO runs (id, experiment_id, dataset_id, name, status, spec, train_spec, created_at,"
            " notes, tags) VALUES (?, 1, 1, ?, 'completed', '{}', '{}', '2024-05-01', '', '[]')",
            (run_id, f"run {run_id}"),
        )
    artifacts = [(1, old), (1, new), (2, relative), (3, no_spec), (4, broken), (5, tmp_path / "missing.json")]
    con.executemany(
        "INSERT INTO artifacts (run_id, kind, path, created_at) VALUES (?, 'checkpoint', ?, '2024-05-01')",
        [(run_id, str(path)) for run_id, path in artifacts],
    )
    con.commit()
    con.close()

    with Store.open(db_url) as store:
        assert store.backup is not None and store.backup.name.startswith("mmstudio.db.bak-0002-")
        assert store.get_run(1).dataset_spec == exact  # the newest checkpoint's
        assert store.get_run(2).dataset_spec == {"path": str(data / "manifest_test.csv"), "seed": 3}
        assert [store.get_run(i).dataset_spec for i in (3, 4, 5)] == [None, None, None]
        run_id = store.create_run(name="new", dataset_spec={"path": "/x/y.csv", "format": "manifest"})
        assert store.get_run(run_id).dataset_spec == {"path": "/x/y.csv", "format": "manifest"}
        store.set_dataset_spec(3, {"path": "/x/z"})
        assert store.get_run(3).dataset_spec == {"path": "/x/z"}
    assert _revision(db_path) == migrate.HEAD_REVISION


def test_newer_database_is_refused_untouched(db_path: Path, db_url: str) -> None:
    with Store.open(db_url) as store:
        store.create_run(name="from the future")
    con = sqlite3.connect(db_path)
    con.execute("UPDATE alembic_version SET version_num = '0099'")
    con.execute("UPDATE store_info SET value = '9.9.0' WHERE key = 'requires_mmstudio'")
    con.commit()
    con.close()
    before = _sha256(db_path)

    with pytest.raises(StoreVersionError) as info:
        Store.open(db_url)
    message = str(info.value)
    assert "mmstudio 9.9.0 or newer" in message
    assert "'0099'" in message
    assert mmstudio.__version__ in message

    assert _sha256(db_path) == before
    assert _revision(db_path) == "0099"
    assert list(db_path.parent.glob("*.bak-*")) == []


def test_newer_database_without_version_info_still_explains(db_path: Path, db_url: str) -> None:
    Store.open(db_url).close()
    con = sqlite3.connect(db_path)
    con.execute("UPDATE alembic_version SET version_num = 'abcdef'")
    con.execute("DELETE FROM store_info")
    con.commit()
    con.close()
    with pytest.raises(StoreVersionError, match="a newer mmstudio"):
        Store.open(db_url)


def test_foreign_database_is_refused_untouched(db_path: Path, db_url: str) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db_path)
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO customers (name) VALUES ('x')")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not an mmstudio store"):
        Store.open(db_url)
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT name FROM customers").fetchall() == [("x",)]
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert tables == {"customers"}


def test_empty_file_is_initialised(db_path: Path, db_url: str) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db_path.touch()
    with Store.open(db_url) as store:
        assert store.list_runs() == []
    assert _revision(db_path) == migrate.HEAD_REVISION
