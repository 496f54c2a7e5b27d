"""Several processes on one SQLite store at once: two write runs and thousands of metric points in
many small transactions while a third reads; no "database is locked", nothing lost."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mmstudio.store import RunStatus, Store, migrate

WORKER = Path(__file__).with_name("_store_worker.py")
RUNS, POINTS, BATCH = 3, 1500, 15  # per writer: 300 append transactions, 9,000 points


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _release(sync: Path, tags: list[str], procs: list[subprocess.Popen[str]]) -> None:
    """Wait until every worker is ready, then let them all go at once."""
    deadline = time.monotonic() + 60
    while not all((sync / f"ready-{t}").exists() for t in tags):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    (sync / "go").touch()


def _finish(procs: list[subprocess.Popen[str]]) -> list[dict]:
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            assert "locked" not in err
            results.append(json.loads(out))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


def test_processes_creating_a_new_database_at_once(db_path: Path, db_url: str, tmp_path: Path) -> None:
    tags = ["p0", "p1", "p2"]
    procs = [_spawn("open", db_url, t, str(tmp_path)) for t in tags]
    _release(tmp_path, tags, procs)
    results = _finish(procs)
    assert len({r["run"] for r in results}) == 3
    with Store.open(db_url) as store:
        assert sorted(r.name for r in store.list_runs()) == tags
        assert [e.name for e in store.list_experiments()] == ["Default"]
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [(migrate.HEAD_REVISION,)]
    con.close()


def test_two_writers_and_a_reader_at_once(db_path: Path, db_url: str, tmp_path: Path) -> None:
    Store.open(db_url).close()
    stop = tmp_path / "stop"
    reader = _spawn("read", db_url, str(stop))
    writers = [_spawn("write", db_url, t, str(RUNS), str(POINTS), str(BATCH), str(tmp_path)) for t in "ab"]
    try:
        _release(tmp_path, ["a", "b"], writers)  # both writers start appending at the same moment
        results = _finish(writers)
    finally:
        stop.touch()
        (read_stats,) = _finish([reader])

    assert read_stats["loops"] >= 2 and read_stats["curves"] > 0
    # the writers really worked at the same time
    assert max(r["started"] for r in results) < min(r["ended"] for r in results)
    run_ids = [i for r in results for i in r["runs"]]
    assert len(set(run_ids)) == 2 * RUNS

    with Store.open(db_url) as store:
        runs = store.list_runs()
        assert sorted(r.id for r in runs) == sorted(run_ids)
        for run in runs:
            assert run.status is RunStatus.COMPLETED
            assert run.metrics == {"train/loss": 1.0 / POINTS, "train/lr": 1e-3}
            curve = store.read_curve(run.id, "train/loss")
            np.testing.assert_array_equal(curve.step, np.arange(POINTS))
            np.testing.assert_array_equal(curve.value, 1.0 / (np.arange(POINTS) + 1))
            assert store.get_run(run.id).notes.startswith("halfway")
            assert len(store.list_evaluations(run.id)) == 1

    con = sqlite3.connect(db_path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        assert con.execute("SELECT count(*) FROM metrics").fetchone()[0] == 2 * RUNS * POINTS * 2
        assert con.execute("SELECT sum(count) FROM metric_blocks").fetchone()[0] == 2 * RUNS * POINTS * 2
        assert con.execute("SELECT sum(count) FROM metric_summaries").fetchone()[0] == 2 * RUNS * POINTS * 2
    finally:
        con.close()
