"""``mmstudio db upgrade|copy`` end to end: a trained run copied with its checkpoints into another
store (SQLite, and PostgreSQL when ``MMSTUDIO_TEST_POSTGRES_URL`` is set) is shown and evaluated
there, from the target's own files; the messages and exit codes of what goes wrong."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from mmstudio.cli import main
from mmstudio.store import Store, migrate
from mmstudio.store.engine import Database, create_store_engine


@pytest.fixture(scope="module")
def trained(small_demo, tmp_path_factory):
    """A SQLite store with one trained run (1 epoch, 32 px) and the home its checkpoints are in."""
    home = tmp_path_factory.mktemp("db-copy-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("MMSTUDIO_HOME", str(home))
    url = f"sqlite:///{home / 'source.db'}"
    args = ["train", "--data", str(small_demo), "--epochs", "1", "--image-size", "32", "--db", url]
    try:
        assert main([*args, "--quiet"]) == 0
    finally:
        mp.undo()
    return url, home


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'target.db'}"
    return request.getfixturevalue("fresh_postgres_url")


@pytest.mark.slow
def test_a_copied_run_is_shown_and_evaluated_from_the_targets_files(
    trained, target, tmp_path, monkeypatch, capsys
):
    source, home = trained
    monkeypatch.setenv("MMSTUDIO_HOME", str(home))
    with Store.open(target) as store:
        store.create_run(name="the target's own")  # so the copy gets another id than in the source
    assert main(["db", "copy", "--from", source, "--to", target, "--with-checkpoints"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("run 1 -> run 2  (")
    assert "copied 1 run from" in err

    with Store.open(source) as store:  # the source's files gone: the target must use its own
        folder = store.run_dir(1)
        shutil.move(folder, tmp_path / "moved")
    try:
        assert main(["runs", "show", "2", "--db", target, "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["status"] == "completed" and doc["metric_stats"]["train/loss"]["count"] > 0
        with Store.open(source) as store:
            assert doc["uid"] == store.get_run(1).uid and len(doc["uid"]) == 32
        with Store.open(target) as store:
            assert all(a.path.startswith(str(store.run_dir(2))) for a in doc_artifacts(doc))
        assert main(["eval", "2", "--db", target, "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert "accuracy" in json.dumps(result)
    finally:
        shutil.move(tmp_path / "moved", folder)

    assert main(["db", "copy", "--from", source, "--to", target, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["copied"], doc["present"], doc["skipped"]) == (0, 1, 0)
    assert doc["runs"] == [
        {
            "source_id": 1,
            "target_id": 2,
            "name": doc["runs"][0]["name"],
            "action": "present",
            "reason": "copied before",
            "files": 0,
        }
    ]
    assert doc["error"] is None


def doc_artifacts(doc):
    from types import SimpleNamespace

    return [SimpleNamespace(**a) for a in doc["artifacts"]]


def test_what_goes_wrong_is_said(tmp_path, capsys):
    good = f"sqlite:///{tmp_path / 'good.db'}"
    with Store.open(good) as store:
        store.finish_run(store.create_run(name="x"), "failed")
    cases = [
        (["--from", "nonsense://", "--to", good], "not a kind of database"),
        (["--from", "sqlite:///" + str(tmp_path / "missing.db"), "--to", good], "there is no store at"),
        (["--from", good, "--to", "postgresql+psycopg://u:secret@127.0.0.1:1/x"], "cannot connect"),
        (["--from", good, "--to", f"sqlite:///{tmp_path / 'no' / 'such' / 'folder.db'}"], "does not exist"),
        (["--from", good, "--to", f"sqlite:///{tmp_path / 'other.db'}", "--runs", "1,7"], "has no run 7"),
        (["--from", good, "--to", good], "are the same store"),
    ]
    for args, message in cases:
        assert main(["db", "copy", *args]) == 2, args
        err = capsys.readouterr().err
        assert message in err and "secret" not in err, (args, err)
    with pytest.raises(SystemExit) as exit_:
        main(["db", "copy", "--from", good, "--to", good, "--runs", "one"])
    assert exit_.value.code == 2
    assert "is not a run id" in capsys.readouterr().err
    assert main(["db", "copy", "--from", good, "--to", f"sqlite:///{tmp_path / 'other.db'}"]) == 0


def test_upgrade_of_an_old_store(tmp_path, capsys):
    path = tmp_path / "old.db"
    db = Database(create_store_engine(f"sqlite:///{path}"))
    migrate.upgrade(db, "0004")
    db.dispose()
    url = f"sqlite:///{path}"
    assert main(["db", "upgrade", "--db", url]) == 0
    out = capsys.readouterr().out
    assert f"upgraded {url} from revision 0004 to {migrate.HEAD_REVISION}" in out
    assert "backed up in" in out and len(list(tmp_path.glob("old.db.bak-0004-*"))) == 1
    assert main(["--db", url, "db", "upgrade", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["from"], doc["to"], doc["changed"], doc["backup"]) == (
        migrate.HEAD_REVISION,
        migrate.HEAD_REVISION,
        False,
        None,
    )
    assert main(["db", "upgrade", "--db", url]) == 0
    assert "already at the current schema" in capsys.readouterr().out
    con = sqlite3.connect(path)
    assert con.execute("SELECT version_num FROM alembic_version").fetchone()[0] == migrate.HEAD_REVISION
    con.close()
    assert main(["db", "upgrade", "--db", f"sqlite:///{tmp_path / 'none.db'}"]) == 2
    assert "there is no store at" in capsys.readouterr().err


@pytest.mark.slow
def test_a_copied_interrupted_run_resumes_in_the_target(trained, tmp_path, monkeypatch, capsys):
    source, home = trained
    monkeypatch.setenv("MMSTUDIO_HOME", str(home))
    copy = tmp_path / "stopped.db"  # the same store (its files too), with its run stopped midway
    shutil.copy(source.removeprefix("sqlite:///"), copy)
    con = sqlite3.connect(copy)
    con.execute("UPDATE runs SET status = 'interrupted' WHERE id = 1")
    con.commit()
    con.close()
    target = f"sqlite:///{tmp_path / 'target.db'}"
    assert main(["db", "copy", "--from", f"sqlite:///{copy}", "--to", target, "--with-checkpoints"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", "1", "--epochs", "2", "--db", target, "--quiet", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["run_id"], result["status"]) == (1, "completed")
    with Store.open(target) as store:
        assert store.read_curve(1, "val/loss").epoch.max() == 2
