"""Processes that create the same new records at the same moment, on SQLite and on PostgreSQL
(``MMSTUDIO_TEST_POSTGRES_URL``): one record each, and nobody fails on a unique key.

On PostgreSQL a select-then-insert lets two transactions both find nothing and both insert; the
store inserts with ``ON CONFLICT DO NOTHING`` and reads the row back (``_util.insert_missing``), and
serialises schema upgrades with an advisory lock."""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

import pytest

from mmstudio.store import Store

sys.path.insert(0, str(Path(__file__).parent))  # spawned processes import the worker by this name
import _race_worker

PROCESSES, ROUNDS = 4, 6


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'race.db'}"
    return request.getfixturevalue("fresh_postgres_url")


def _run(target, url: str, *args) -> list[tuple]:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [
        ctx.Process(target=target, args=(url, *args, barrier, results, f"p{i}")) for i in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    try:
        got = [results.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    return got


def test_processes_creating_the_same_records_at_once(url: str) -> None:
    Store.open(url).close()  # the schema first: this test races the records
    results = _run(_race_worker.create_same, url, ROUNDS)
    assert [error for _, _, error in results if error] == []
    for r in range(ROUNDS):
        seen = {out[r][:3] for _, out, _ in results}
        assert len(seen) == 1, f"round {r}: the processes got different records {seen}"
    with Store.open(url) as store:
        assert len(store.list_datasets()) == ROUNDS
        names = sorted(e.name for e in store.list_experiments())
        assert names == sorted(
            [f"experiment {r}" for r in range(ROUNDS)] + [f"by run {r}" for r in range(ROUNDS)]
        )
        assert store.count_runs() == PROCESSES * ROUNDS
        run = results[0][1][-1][3]
        assert store.metric_keys(run) == [f"key/{ROUNDS - 1}"]


def test_processes_opening_a_new_store_at_once(url: str) -> None:
    results = _run(_race_worker.open_new, url)
    assert [error for _, _, error in results if error] == []
    with Store.open(url) as store:
        assert store.count_runs() == PROCESSES
        assert [e.name for e in store.list_experiments()] == ["Default"]


def test_a_database_without_on_conflict_inserts_in_savepoints(tmp_path: Path) -> None:
    """Any other SQLAlchemy database: each row in a savepoint, a duplicate rolled back to it."""
    from types import SimpleNamespace

    from mmstudio.store._util import insert_missing, utcnow
    from mmstudio.store.models import ExperimentRow

    class Other:  # a connection of a database without ON CONFLICT, as insert_missing sees it
        def __init__(self, conn) -> None:
            self.conn, self.dialect = conn, SimpleNamespace(name="other")

        def execute(self, *args):
            return self.conn.execute(*args)

        def begin_nested(self):
            return self.conn.begin_nested()

    def row(name: str) -> dict:
        return {"name": name, "description": "", "created_at": utcnow()}

    with Store.open(f"sqlite:///{tmp_path / 'other.db'}") as store:
        with store._db.write() as conn:
            other = Other(conn)
            assert insert_missing(other, ExperimentRow, [row("x")], on=["name"]) == 1
            assert insert_missing(other, ExperimentRow, [row("x"), row("y")], on=["name"]) == 1
        assert [e.name for e in store.list_experiments()] == ["x", "y"]


def test_creating_a_record_that_exists_is_still_refused(url: str) -> None:
    """``create_*`` (not ``ensure_*``) still says a duplicate is one, on both databases."""
    from mmstudio.store import StoreError

    with Store.open(url) as store:
        store.create_experiment("mine")
        with pytest.raises(StoreError, match="already exists"):
            store.create_experiment("mine")
        store.create_dataset(name="d", path="/d", format="manifest", fingerprint="fp", item_count=1)
        with pytest.raises(StoreError, match="already in the store"):
            store.create_dataset(name="d", path="/d", format="manifest", fingerprint="fp", item_count=1)
        assert [e.name for e in store.list_experiments()] == ["mine"]
