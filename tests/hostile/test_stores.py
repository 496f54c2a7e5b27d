"""Issue 13: a corpus of hostile experiment stores, made by the tests themselves.

Every case gives ``--db`` something unusable and runs the real command line: it must answer with one
line that says what is wrong (a fragment of it is checked), exit 2, write nothing and print no
traceback. PostgreSQL cases need no server: a closed port on 127.0.0.1 and a name that cannot
resolve; one more runs against ``MMSTUDIO_TEST_POSTGRES_URL`` when CI provides a server.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from mmstudio.cli import main


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _store(tmp: Path, runs: int = 2) -> Path:
    """A real store with ``runs`` runs and a few metric points each."""
    from mmstudio.store import Store

    path = tmp / "store.db"
    with Store.open(f"sqlite:///{path}") as store:
        for n in range(runs):
            run = store.create_run(name=f"run {n}")
            store.log_metrics(run, [("train/loss", i, 0, 1.0 / (i + 1), None) for i in range(3000)])
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return path


def _damaged(tmp: Path, page: int) -> Path:
    """A store with one page overwritten (as a failing disk or a bad copy leaves it)."""
    path = _store(tmp)
    with open(path, "r+b") as f:
        f.seek(page * 4096)
        f.write(b"\xde\xad\xbe\xef" * 1024)
    return path


def _truncated(tmp: Path) -> Path:
    path = _store(tmp)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _folder(tmp: Path) -> str:
    (tmp / "a-folder").mkdir()
    return f"sqlite:///{tmp / 'a-folder'}"


def _garbage(tmp: Path) -> str:
    (tmp / "garbage.db").write_bytes(bytes(range(256)) * 40)
    return f"sqlite:///{tmp / 'garbage.db'}"


def _text(tmp: Path) -> str:
    (tmp / "notes.db").write_text("these are my notes, not a database\n" * 50)
    return f"sqlite:///{tmp / 'notes.db'}"


def _fifo(tmp: Path) -> str:
    os.mkfifo(tmp / "pipe.db")
    return f"sqlite:///{tmp / 'pipe.db'}"


def _device(tmp: Path) -> str:
    (tmp / "null.db").symlink_to("/dev/null")
    return f"sqlite:///{tmp / 'null.db'}"


def _foreign(tmp: Path) -> str:
    con = sqlite3.connect(tmp / "people.db")
    con.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO people (name) VALUES ('ada')")
    con.commit()
    con.close()
    return f"sqlite:///{tmp / 'people.db'}"


def _newer(tmp: Path) -> str:
    path = _store(tmp, runs=1)
    con = sqlite3.connect(path)
    con.execute("UPDATE alembic_version SET version_num = '9999'")
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def _two_revisions(tmp: Path) -> str:
    path = _store(tmp, runs=1)
    con = sqlite3.connect(path)
    con.execute("INSERT INTO alembic_version (version_num) VALUES ('0001')")
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def _under_a_file(tmp: Path) -> str:
    (tmp / "f").write_text("x")
    return f"sqlite:///{tmp / 'f' / 'x.db'}"


#: (id, how the URL is made, a fragment of the message)
CASES: list[tuple[str, Callable[[Path], str], str]] = [
    ("folder", _folder, "is a folder, not a SQLite file"),
    ("garbage-bytes", _garbage, "is not a SQLite database"),
    ("text-file", _text, "is not a SQLite database"),
    ("fifo", _fifo, "is not a regular file"),
    ("device", _device, "is not a regular file"),
    ("damaged-page-3", lambda t: f"sqlite:///{_damaged(t, 3)}", "is damaged"),
    ("damaged-page-10", lambda t: f"sqlite:///{_damaged(t, 10)}", "is damaged"),
    ("damaged-page-30", lambda t: f"sqlite:///{_damaged(t, 30)}", "is damaged"),
    ("truncated", lambda t: f"sqlite:///{_truncated(t)}", "is damaged"),
    ("missing-folder", lambda t: f"sqlite:///{t / 'no' / 'such' / 'dir' / 'x.db'}", "does not exist"),
    ("folder-is-a-file", _under_a_file, "is not a folder"),
    ("malformed-url", lambda t: "not a url", "is not a database URL"),
    ("empty-url", lambda t: "", "is not a database URL"),
    ("bad-port-with-password", lambda t: "postgresql://u:secret@host:badport/db", "is not a database URL"),
    ("bad-host-with-password", lambda t: "postgresql+psycopg://u:secret@[::1/db", "is not a database URL"),
    ("unknown-driver", lambda t: "foo://user@host/db", "is not a kind of database"),
    ("unknown-dbapi", lambda t: "sqlite+nosuchdriver:///x.db", "is not a kind of database"),
    ("missing-driver", lambda t: "mysql://user@localhost/db", "driver for mysql is not installed"),
    (
        "pg-closed-port",
        lambda t: f"postgresql+psycopg://u:secret@127.0.0.1:{_closed_port()}/db",
        "cannot connect to the database",
    ),
    ("pg-unresolvable", lambda t: "postgresql+psycopg://u:secret@nohost.invalid/db", "cannot connect"),
    ("non-mmstudio", _foreign, "is not an mmstudio store"),
    ("newer-schema", _newer, "written by a newer mmstudio"),
    ("two-revisions", _two_revisions, "several schema revisions"),
]
COMMANDS = [["runs", "list"], ["runs", "show", "1"], ["runs", "delete", "1"], ["runs", "compare", "1", "2"]]


def _skip_for_drivers(case: str) -> None:
    if case == "missing-driver" and importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("MySQLdb is installed here, so a mysql:// URL cannot show the missing-driver message")
    if case.startswith("pg-") and importlib.util.find_spec("psycopg") is None:
        pytest.skip("psycopg is not installed (pip install -e '.[postgres]'); the PostgreSQL URLs need it")


def _snapshot(tmp: Path) -> dict[str, str]:
    """Every file under ``tmp`` with a hash of its bytes (special files by kind)."""
    seen = {}
    for path in sorted(tmp.rglob("*")):
        if path.is_symlink() or not path.is_file():
            seen[str(path)] = "special" if not path.is_dir() else "dir"
        else:
            seen[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return seen


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c[:2]))
@pytest.mark.parametrize(("case", "make", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_an_unusable_store_is_one_line_and_exit_2(case, make, fragment, command, tmp_path, capsys):
    """Issue 13 tracebacks 2 and G: every unusable --db is one line naming what is wrong, exit 2,
    and nothing is written (no file changed, no folder made)."""
    _skip_for_drivers(case)
    work = tmp_path / "work"
    work.mkdir()
    url = make(work)
    before = _snapshot(work)
    code = main(["--db", url, *command])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert "Traceback" not in out + err
    assert fragment in err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "secret" not in err  # a password is never shown
    assert _snapshot(work) == before


def test_a_damaged_store_gets_no_new_run(tmp_path, small_demo, capsys):
    """Issue 13 G: train refuses a damaged store before it loads any data or adds a run, and says
    how to check and recover it."""
    path = _damaged(tmp_path, 10)
    before = path.read_bytes()
    code = main(["--db", f"sqlite:///{path}", "train", "--data", str(small_demo), "--epochs", "1", "--quiet"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "is damaged" in err and "PRAGMA integrity_check" in err and ".recover" in err
    assert "Traceback" not in err
    assert path.read_bytes() == before


def test_a_damaged_store_names_its_backups(tmp_path, capsys):
    """Issue 13 G: the message names the backups the migrations made beside the file."""
    path = _damaged(tmp_path, 10)
    (tmp_path / "store.db.bak-0002-20260101T000000Z").write_bytes(b"")
    assert main(["--db", f"sqlite:///{path}", "runs", "list"]) == 2
    assert "store.db.bak-0002-20260101T000000Z" in capsys.readouterr().err


def test_a_wrong_password_on_the_ci_server(capsys):
    """Issue 13 tracebacks 2: a PostgreSQL server that refuses the login is one line, exit 2."""
    url = os.environ.get("MMSTUDIO_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no PostgreSQL server: set MMSTUDIO_TEST_POSTGRES_URL (.ci/run does)")
    from sqlalchemy.engine import make_url

    wrong = make_url(url).set(password="not-the-password").render_as_string(hide_password=False)
    assert main(["--db", wrong, "runs", "list"]) == 2
    err = capsys.readouterr().err
    assert "cannot connect to the database" in err and "Traceback" not in err
    assert "not-the-password" not in err


# --- a full disk and a damaged file while the store is in use ---------------------------------------


def _failing_writes(monkeypatch, message: str, *, after: int = 0, kind: str = "OperationalError"):
    """Make the store's write transactions fail as SQLite does (``message``, wrapped as SQLAlchemy
    raises it) after ``after`` more metric writes have gone through; returns the calls seen."""
    import sqlalchemy.exc

    from mmstudio.store import metrics
    from mmstudio.store.engine import Database

    seen = {"metric_writes": 0}
    real_append = metrics._append
    error = getattr(sqlalchemy.exc, kind)("INSERT INTO metrics ...", {}, getattr(sqlite3, kind)(message))

    def append(db: Database, *args, **kwargs):
        seen["metric_writes"] += 1
        if seen["metric_writes"] > after:
            with db.write():
                raise error
        return real_append(db, *args, **kwargs)

    monkeypatch.setattr(metrics, "_append", append)
    return seen


def test_runs_list_opens_a_store_that_cannot_be_written(tmp_path, monkeypatch, capsys):
    """Issue 13 B: with a full disk, the read-only commands still list and show the runs (opening
    them writes nothing, not even marking the run a dead process left running)."""
    import subprocess
    import sys

    from mmstudio.store import Store
    from mmstudio.store.engine import Database

    url = f"sqlite:///{tmp_path / 'store.db'}"
    dead = int(
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    with Store.open(url) as store:
        run = store.create_run(name="left running")
        store.start_run(run, pid=dead)
        store.log_metrics(run, [("train/loss", 1, 0, 0.5, None)])
        done = store.create_run(name="finished")
    import contextlib

    import sqlalchemy.exc

    def full(self):  # every write transaction fails as SQLAlchemy raises SQLite's "full"
        raise sqlalchemy.exc.OperationalError(
            "UPDATE runs ...", {}, sqlite3.OperationalError("database or disk is full")
        )
        yield

    monkeypatch.setattr(Database, "write", contextlib.contextmanager(full))
    monkeypatch.setattr(Database, "write_session", contextlib.contextmanager(full))
    assert main(["--db", url, "runs", "list"]) == 0
    assert "left running" in capsys.readouterr().out
    assert main(["--db", url, "runs", "show", str(run)]) == 0
    capsys.readouterr()
    # a command that writes says what happened in one line, exit 1
    assert main(["--db", url, "runs", "delete", str(done), "--yes"]) == 1
    err = capsys.readouterr().err
    assert "the disk is full" in err and "Traceback" not in err and err.count("\n") == 1
    monkeypatch.undo()
    with Store.open(url) as store:  # once there is room, the dead process's run is marked
        assert store.interrupted == (run,)


def test_a_full_disk_mid_run_keeps_the_metrics_and_marks_the_run_failed(
    tmp_path, make_job, monkeypatch, capsys
):
    """Issue 13 tracebacks 2: a full disk while a run logs its metrics ends the run failed with a
    message that says so and how to check the store; the points written before are readable."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    seen = _failing_writes(monkeypatch, "database or disk is full", after=1)
    from mmstudio.training.runner import run_job

    result = run_job(make_job(url, epochs=2))
    assert result.status == "failed" and seen["metric_writes"] > 1
    assert "the disk is full" in result.message and "PRAGMA integrity_check" in result.message
    monkeypatch.undo()
    from mmstudio.store import RunStatus, Store

    with Store.open(url) as store:
        run = store.get_run(result.run_id)
        assert run.status is RunStatus.FAILED and "the disk is full" in run.error_message
        assert len(store.read_curve(result.run_id, "train/loss")) > 0  # what was written before
    assert main(["--db", url, "runs", "show", str(result.run_id)]) == 0


def test_a_full_disk_mid_run_from_the_command_line_is_one_line_exit_1(
    tmp_path, small_demo, monkeypatch, capsys
):
    """Issue 13 tracebacks 2: ``mmstudio train`` on a disk that fills up says so in one line, exit 1."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _failing_writes(monkeypatch, "database or disk is full", after=1)
    args = ["--db", url, "train", "--data", str(small_demo), "--epochs", "2", "--batch-size", "32"]
    code = main([*args, "--image-size", "32", "--quiet", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "run 1 failed" in err and "the disk is full" in err and "Traceback" not in err


def test_a_store_damaged_mid_run_is_not_written_again(tmp_path, make_job, monkeypatch):
    """Issue 13 G: a "malformed" error while a run logs its metrics ends the run, says how to recover,
    and nothing more is written (the run cannot be marked: the store is damaged); the points written
    before are readable."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _failing_writes(monkeypatch, "database disk image is malformed", after=1, kind="DatabaseError")
    from mmstudio.training.runner import run_job

    result = run_job(make_job(url, epochs=2))
    assert result.status == "failed"
    assert "is damaged" in result.message and ".recover" in result.message
    assert "could not record it" in result.message
    monkeypatch.undo()
    from mmstudio.store import RunStatus, Store

    with Store.open(url) as store:
        assert store.get_run(result.run_id).status is RunStatus.RUNNING  # not written after the damage
        assert len(store.read_curve(result.run_id, "train/loss")) > 0


def test_an_upgrade_that_cannot_be_written_is_said(tmp_path, monkeypatch, capsys):
    """Issue 13 B: a store that needs a schema upgrade on a full disk: the command says that the
    upgrade is needed and why it could not be written, in one line, and the store is unchanged."""
    import sqlalchemy.exc

    from mmstudio.store import migrate
    from mmstudio.store.engine import Database, create_store_engine

    path = tmp_path / "old.db"
    db = Database(create_store_engine(f"sqlite:///{path}"))
    migrate.upgrade(db, "0003")
    db.dispose()
    before = path.read_bytes()

    def full(*args, **kwargs):
        raise sqlalchemy.exc.OperationalError(
            "ALTER TABLE runs ...", {}, sqlite3.OperationalError("database or disk is full")
        )

    monkeypatch.setattr(migrate, "_upgrade", full, raising=False)
    code = main(["--db", f"sqlite:///{path}", "runs", "list"])
    err = capsys.readouterr().err
    assert code == 1
    assert "must have its schema upgraded (from revision 0003" in err and "the disk is full" in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert path.read_bytes() == before


def test_a_foreign_and_a_newer_database_on_the_ci_server(capsys):
    """Issue 13 tracebacks 2: on PostgreSQL too, a database that is not an mmstudio store and one
    written by a newer mmstudio are one line each, exit 2, and left as they were."""
    url = os.environ.get("MMSTUDIO_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no PostgreSQL server: set MMSTUDIO_TEST_POSTGRES_URL (.ci/run does)")
    from sqlalchemy import create_engine, text

    engine = create_engine(url)

    def reset(*statements: str) -> None:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
            for statement in statements:
                conn.execute(text(statement))

    try:
        reset("CREATE TABLE people (id integer primary key, name text)")
        assert main(["--db", url, "runs", "list"]) == 2
        err = capsys.readouterr().err
        assert "is not an mmstudio store" in err and "Traceback" not in err
        reset("CREATE TABLE alembic_version (version_num varchar(32) primary key)")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO alembic_version VALUES ('9999')"))
        assert main(["--db", url, "runs", "delete", "1", "--yes"]) == 2
        err = capsys.readouterr().err
        assert "written by a newer mmstudio" in err and "Traceback" not in err
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9999"
    finally:
        reset()
        engine.dispose()


def test_a_store_whose_identity_is_a_path_deletes_nothing_outside(tmp_path, mmstudio_home, capsys):
    """Issue 13 A: the store's identity names its folder of run files; one edited into a path
    ("../../victim") is refused in one line and no folder outside the store's is removed."""
    from mmstudio import paths
    from mmstudio.store import Store

    path = tmp_path / "store.db"
    with Store.open(f"sqlite:///{path}") as store:
        store.finish_run(store.create_run(name="one"), "failed")
    victim = paths.data_dir() / "stores" / ".." / ".." / "victim" / "runs" / "1"
    victim.mkdir(parents=True)
    (victim / "precious.txt").write_text("keep me")
    con = sqlite3.connect(path)
    con.execute("UPDATE store_info SET value = '../../victim' WHERE key = 'store_id'")
    con.commit()
    con.close()
    assert main(["--db", f"sqlite:///{path}", "runs", "delete", "1", "--yes"]) == 2
    err = capsys.readouterr().err
    assert "is not a plain id" in err and "Traceback" not in err
    assert (victim / "precious.txt").read_text() == "keep me"
