"""The same store on a PostgreSQL server, as a team would share it.

Runs when ``MMSTUDIO_TEST_POSTGRES_URL`` names an empty database the test may fill (``.ci/run`` starts a
local server and sets it); elsewhere it is skipped, saying so.
"""

import json
import os
import subprocess
import sys
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from mmstudio.cli import main
from mmstudio.store import Store
from mmstudio.store.models import Base

URL = os.environ.get("MMSTUDIO_TEST_POSTGRES_URL")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not URL, reason="no PostgreSQL server: set MMSTUDIO_TEST_POSTGRES_URL (.ci/run does)"),
]


@pytest.fixture(scope="module")
def url():
    engine = create_engine(URL)
    with engine.begin() as conn:  # a clean schema for this module
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return URL


def test_migrations_build_the_models_schema(url):
    Store.open(url).close()
    engine = create_engine(url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()


def test_round_trip_of_a_run_with_metrics(url):
    with Store.open(url) as store:
        run = store.create_run(name="pg", device="cpu", spec={"task": "classification"})
        store.start_run(run)
        store.log_metrics(run, [("train/loss", s, 0, 1.0 / (s + 1), time.time()) for s in range(3000)])
        store.add_evaluation(run, split="test", metrics={"accuracy": 0.75})
        store.finish_run(run)
        curve = store.read_curve(run, "train/loss")
        assert len(curve) == 3000 and curve.step[-1] == 2999
        (summary,) = [r for r in store.list_runs() if r.id == run]
        assert summary.status == "completed" and summary.metrics["train/loss"] == pytest.approx(1 / 3000)
        assert store.get_run(run).spec == {"task": "classification"}


def test_two_processes_write_at_once(url):
    code = (
        "import sys, time\n"
        "from mmstudio.store import Store\n"
        "with Store.open(sys.argv[1]) as s:\n"
        "    for r in range(5):\n"
        "        run = s.create_run(name=sys.argv[2])\n"
        "        for b in range(10):\n"
        "            s.log_metrics(run, [('m', b * 50 + i, 0, float(i), time.time()) for i in range(50)])\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, url, f"writer-{i}"]) for i in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with Store.open(url) as store:
        runs = [r for r in store.list_runs() if r.name.startswith("writer-")]
        assert len(runs) == 10
        assert all(store.metric_stats([r.id])[r.id]["m"].count == 500 for r in runs)


def test_train_into_postgres(url, small_demo, capsys):
    args = ["train", "--data", str(small_demo), "--epochs", "1", "--image-size", "32", "--db", url]
    assert main([*args, "--quiet", "--json"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    assert main(["runs", "show", str(run_id), "--db", url, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "completed" and doc["metric_stats"]["train/loss"]["count"] > 0
