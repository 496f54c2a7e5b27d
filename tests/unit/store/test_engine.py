"""Engine setup: pragmas on every connection, write transactions that lock up front, foreign keys,
and where the default database lives."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import exc, insert, select, text

from mmstudio import paths
from mmstudio.store import Store
from mmstudio.store.engine import Database, create_store_engine
from mmstudio.store.models import ExperimentRow, RunRow


def test_every_connection_gets_the_pragmas(store: Store) -> None:
    db = store._db
    with db.engine.connect() as a, db.engine.connect() as b:  # two distinct pool connections
        for conn in (a, b):
            values = {
                p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                for p in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
            }
            assert values == {
                "journal_mode": "wal",
                "busy_timeout": 30000,
                "foreign_keys": 1,
                "synchronous": 1,
            }


def test_write_transaction_takes_the_lock_up_front(store: Store, db_path: Path) -> None:
    other = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    try:
        # Nothing written yet, but BEGIN IMMEDIATE already holds the write lock.
        with store._db.write(), pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # released on commit
        other.execute("ROLLBACK")
        with store._db.write_session() as session, pytest.raises(sqlite3.OperationalError, match="locked"):
            session.connection()  # ORM sessions begin the same way
            other.execute("BEGIN IMMEDIATE")
        with store._db.read():
            other.execute("BEGIN IMMEDIATE")  # a read transaction does not block writers
            other.execute("ROLLBACK")
    finally:
        other.close()


def test_read_then_write_transactions_in_parallel_do_not_fail(db_url: str) -> None:
    # The classic pysqlite pitfall: two deferred transactions that read, then both try to write ->
    # one gets SQLITE_BUSY at once, whatever the busy timeout. BEGIN IMMEDIATE serialises them.
    Store.open(db_url).close()
    dbs = [Database(create_store_engine(db_url)) for _ in range(2)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work(db: Database, name: str) -> None:
        try:
            barrier.wait()
            for i in range(5):
                with db.write() as conn:
                    conn.execute(select(ExperimentRow.id)).all()
                    time.sleep(0.01)
                    conn.execute(insert(ExperimentRow).values(name=f"{name}-{i}", description=""))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(db, f"t{i}")) for i, db in enumerate(dbs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for db in dbs:
        db.dispose()
    assert errors == []
    with Store.open(db_url) as store:
        assert len(store.list_experiments()) == 10


def test_switching_a_new_file_to_wal_waits_for_a_writer(tmp_path: Path) -> None:
    # Another process is writing to the file before it is in WAL mode (it is creating the same new
    # store). SQLite refuses the journal-mode change at once, without the busy handler; the store
    # waits for the lock instead of failing with "database is locked".
    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE alembic_version (version_num)")  # an mmstudio store (not another's)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO alembic_version VALUES ('0001')")
    release = threading.Timer(0.3, other.execute, args=("COMMIT",))
    release.start()
    engine = create_store_engine(f"sqlite:///{path}")
    try:
        started = time.monotonic()
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert time.monotonic() - started >= 0.2
    finally:
        release.join()
        engine.dispose()
        other.close()


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(exc.IntegrityError, match="FOREIGN KEY"), store._db.write() as conn:
        conn.execute(
            insert(RunRow).values(experiment_id=999, name="x", status="queued", spec={}, train_spec={})
        )


def test_status_check_constraint(store: Store) -> None:
    run_id = store.create_run()
    with pytest.raises(exc.IntegrityError, match="CHECK"), store._db.write() as conn:
        conn.execute(text("UPDATE runs SET status = 'bogus' WHERE id = :id"), {"id": run_id})


def test_default_database_follows_mmstudio_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "relocated"
    monkeypatch.setenv("MMSTUDIO_HOME", str(home))
    monkeypatch.delenv("MMSTUDIO_DB", raising=False)
    with Store.open() as store:
        assert store.url.database == str(home / "data" / "mmstudio.db")
        store.create_run(name="here")
    assert (home / "data" / "mmstudio.db").is_file()
    with Store.open() as store:
        assert [r.name for r in store.list_runs()] == ["here"]


def test_mmstudio_db_overrides_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'x.db'}"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.setenv("MMSTUDIO_DB", url)
    assert paths.default_db_url() == url
    with Store.open() as store:
        assert store.url.database == str(tmp_path / "elsewhere" / "x.db")
    assert (tmp_path / "elsewhere" / "x.db").is_file()


def test_only_the_default_store_folder_is_created(tmp_path: Path) -> None:
    """Issue 13 tracebacks: a --db in a folder that does not exist is refused, saying so; only the
    default store's folder (in the data folder) is created."""
    from mmstudio.store.errors import StoreUnavailableError

    path = tmp_path / "a" / "b" / "c.db"
    with pytest.raises(StoreUnavailableError, match=r"folder .*b does not exist"):
        Store.open(f"sqlite:///{path}")
    assert not (tmp_path / "a").exists()
    assert not paths.data_dir().exists()
    with Store.open():
        pass
    assert (paths.data_dir() / "mmstudio.db").is_file()


def test_a_store_url_is_shown_without_its_password() -> None:
    from mmstudio.store.engine import hide_password

    shown = hide_password("postgresql+psycopg://team:s3cret@db.example:5432/runs")
    assert "s3cret" not in shown and shown == "postgresql+psycopg://team:***@db.example:5432/runs"
    assert hide_password("sqlite:////tmp/store.db") == "sqlite:////tmp/store.db"
    assert hide_password("not a url") == "not a url"  # shown as given


def test_quick_check_runs_when_a_store_is_opened_to_write_and_on_small_files(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13 G: an open that may write checks the file (once per change of it in this process); a
    read-only open checks it only up to QUICK_CHECK_MAX_BYTES, so listing a large store stays fast."""
    from mmstudio.store import store as store_module
    from mmstudio.store.engine import Database

    with Store.open(db_url) as store:
        store.create_run(name="one")
    checks = []
    real = Database.quick_check
    monkeypatch.setattr(Database, "quick_check", lambda self: checks.append(1) or real(self))
    store_module._checked.clear()
    Store.open(db_url, read_only=True).close()
    assert len(checks) == 1  # small: checked
    Store.open(db_url).close()
    assert len(checks) == 1  # unchanged since: not again
    monkeypatch.setattr(store_module, "QUICK_CHECK_MAX_BYTES", 0)
    with Store.open(db_url) as store:
        store.create_run(name="two")  # changed ...
    assert len(checks) == 1  # (checked before this write)
    Store.open(db_url, read_only=True).close()
    assert len(checks) == 1  # ... but too large for a read-only open
    Store.open(db_url).close()
    assert len(checks) == 2  # an open that writes checks it
