"""Issue 13 A: two stores side by side keep their run files apart."""

from __future__ import annotations

import sqlite3

from mmstudio import paths
from mmstudio.cli import main
from mmstudio.store import Store
from mmstudio.store.migrate import HEAD_REVISION
from mmstudio.training.runner import run_job


def test_two_stores_train_side_by_side_and_delete_apart(tmp_path, make_job, capsys):
    """Issue 13 A: run 1 of store A and run 1 of store B write their checkpoints to different folders;
    deleting B's run 1 leaves A's files, and A's run still evaluates from its checkpoint."""
    a, b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    first = run_job(make_job(a, epochs=1, name="in a"))
    second = run_job(make_job(b, epochs=1, name="in b"))
    assert first.status == second.status == "completed"
    assert first.run_id == second.run_id == 1
    with Store.open(a) as store_a, Store.open(b) as store_b:
        folder_a, folder_b = store_a.run_dir(1), store_b.run_dir(1)
        assert store_a.store_id != store_b.store_id
        recorded_a = {a.path for a in store_a.list_artifacts(1)}
    assert folder_a != folder_b
    assert (folder_a / "best.json").is_file() and (folder_b / "best.json").is_file()
    assert all(path.startswith(str(folder_a)) for path in recorded_a)
    before = {p.name: p.read_bytes() for p in folder_a.iterdir()}

    assert main(["--db", b, "runs", "delete", "1", "--yes"]) == 0
    assert not folder_b.exists()
    assert {p.name: p.read_bytes() for p in folder_a.iterdir()} == before
    capsys.readouterr()
    assert main(["--db", a, "runs", "show", "1"]) == 0
    assert "in a" in capsys.readouterr().out
    from mmstudio.training.inference import checkpoint_file

    with Store.open(a) as store_a:
        assert checkpoint_file(store_a, 1).parent == folder_a


def test_a_store_from_before_0004_keeps_its_run_files_in_the_shared_folder(tmp_path, make_job):
    """Issue 13 A: a store whose runs wrote to the folder every store shared (``<data>/runs/<id>``)
    finds them there after the upgrade, and deleting a run removes that folder only when this store's
    records point into it; a new run goes to the store's own folder."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    assert run_job(make_job(url, epochs=1)).status == "completed"
    with Store.open(url) as store:
        own = store.run_dir(1)
    # Make it look like an 0.2 store: files in the shared folder, no identity, revision 0003.
    legacy = paths.legacy_runs_dir() / "1"
    legacy.parent.mkdir(parents=True)
    own.rename(legacy)
    con = sqlite3.connect(tmp_path / "old.db")
    con.execute("UPDATE artifacts SET path = replace(path, ?, ?)", (str(own), str(legacy)))
    con.execute("DELETE FROM store_info WHERE key IN ('store_id', 'legacy_max_run')")
    con.execute("ALTER TABLE runs DROP COLUMN machine_id")
    con.execute("ALTER TABLE runs DROP COLUMN boot_id")
    con.execute("ALTER TABLE runs DROP COLUMN process_start")
    con.execute("DROP INDEX ix_runs_uid")  # and no run identity (revision 0005)
    con.execute("ALTER TABLE runs DROP COLUMN uid")
    con.execute("ALTER TABLE runs DROP COLUMN stop_requested_at")  # nor stop requests (0006)
    con.execute("UPDATE alembic_version SET version_num = '0003'")
    con.commit()
    con.close()
    other = paths.legacy_runs_dir() / "2"  # a run 2 of another store, in the shared folder
    other.mkdir()
    (other / "best.json").write_text("{}")

    from mmstudio.training.inference import checkpoint_file

    with Store.open(url) as store:
        assert store.backup is not None
        assert store.run_dirs(1) == [store.run_dir(1), legacy]
        assert checkpoint_file(store, 1).parent == legacy
        assert checkpoint_file(store, 1, "last").parent == legacy
        with store._db.read() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == HEAD_REVISION
    second = run_job(make_job(url, epochs=1))
    with Store.open(url) as store:
        assert second.run_id == 2 and (store.run_dir(2) / "best.json").is_file()
        assert store.run_dirs(2) == [store.run_dir(2)]  # not the other store's run 2
        store.delete_run(2)
        store.delete_run(1)
    assert not legacy.exists()
    assert (other / "best.json").is_file()
