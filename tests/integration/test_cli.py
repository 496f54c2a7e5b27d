"""The command line as users and scripts call it (the contract in DESIGN.md)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from mmstudio.cli import main
from mmstudio.data.types import SeveralDatasets

CHECK_KEYS = {"format", "reason", "columns", "rows", "valid", "skipped", "problems", "labels", "splits"}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "demo"
    assert main(["demo", str(out), "--items", "240"]) == 0
    return out


def run_json(capsys, argv):
    """Run the CLI in this process; return its exit code, its JSON document and its stderr."""
    code = main(argv)
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_help_runs_as_console_script_and_module():
    exe = shutil.which("mmstudio", path=str(Path(sys.executable).parent))
    assert exe, "the mmstudio console script is not installed beside this Python"
    for cmd in ([exe, "--help"], [sys.executable, "-m", "mmstudio", "--help"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        for command in ("demo", "data", "runs"):
            assert command in proc.stdout


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["data", "check"])
    assert exc.value.code == 2


def test_a_first_word_that_is_neither_a_command_nor_a_path_is_a_usage_error(capsys, tmp_path):
    """Never the GUI (headless it would not return): the commands are named, and the closest one."""
    assert main(["fetch", "list"]) == 2
    err = capsys.readouterr().err
    assert "'fetch' is neither a command nor a path" in err and "data, db, demo, eval, export, gui" in err
    assert main(["--db", f"sqlite:///{tmp_path / 's.db'}", "trian", "--data", "x"]) == 2
    assert "did you mean 'mmstudio train'?" in capsys.readouterr().err
    assert main([str(tmp_path / "nowhere" / "data.csv")]) == 2
    assert "data.csv does not exist; 'mmstudio PATH' opens an existing dataset" in capsys.readouterr().err


def test_demo_refuses_to_overwrite(demo_dir, capsys):
    assert main(["demo", str(demo_dir)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_data_check_json_on_demo(demo_dir, capsys):
    code, doc, _err = run_json(capsys, ["data", "check", str(demo_dir), "--json"])
    assert code == 0
    assert doc.keys() >= CHECK_KEYS
    assert doc["format"] == "manifest"
    assert doc["reason"]
    assert doc["columns"] == {"image": "image", "text": "caption", "label": "label", "split": None}
    assert doc["rows"] == doc["valid"] == 240 and doc["skipped"] == 0
    assert doc["problems"] == []
    assert sum(doc["labels"].values()) == 240
    assert sum(doc["splits"].values()) == 240 and set(doc["splits"]) == {"train", "val", "test"}


def test_data_check_text_output(demo_dir, capsys):
    assert main(["data", "check", str(demo_dir)]) == 0
    out = capsys.readouterr().out
    assert "manifest" in out and "240 usable pairs, 0 skipped" in out


def test_data_check_reports_bad_rows_and_keeps_warnings_valid(tmp_path, capsys):
    Image.new("RGB", (16, 16), "red").save(tmp_path / "ok.png")
    (tmp_path / "notimage.png").write_text("hello")
    long_text = "word " * 5000
    (tmp_path / "data.csv").write_text(
        "image,text,label\n"
        "ok.png,a red square,a\n"
        "ok.png,another red square,a\n"
        f"ok.png,{long_text},a\n"
        "missing.png,where is it,b\n"
        "notimage.png,not a picture,b\n"
        "ok.png,   ,a\n"
    )
    code, doc, _err = run_json(capsys, ["data", "check", str(tmp_path / "data.csv"), "--json"])
    assert code == 0
    kinds = {p["kind"]: p for p in doc["problems"]}
    assert {"missing_file", "not_an_image", "empty_text", "text_truncated"} <= kinds.keys()
    assert kinds["missing_file"]["row"] == 4 and kinds["missing_file"]["skipped"] is True
    assert kinds["text_truncated"]["skipped"] is False
    assert doc["rows"] == 6
    assert doc["valid"] == 3  # two plain rows and the truncated one
    assert doc["skipped"] == 3


def test_data_check_writes_the_problems_csv_the_page_exports(tmp_path, capsys):
    Image.new("RGB", (16, 16), "red").save(tmp_path / "ok.png")
    (tmp_path / "data.csv").write_text(
        "image,text\nok.png,a red square\nmissing.png,where is it\nok.png,  \n"
    )
    out = tmp_path / "problems.csv"
    assert main(["data", "check", str(tmp_path / "data.csv"), "--problems-csv", str(out)]) == 0
    captured = capsys.readouterr()
    assert "1 usable pair" in captured.out and "(of 3 rows)" in captured.out
    assert f"wrote 2 problems to {out}" in captured.err
    rows = out.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "file,row,kind,message,skipped,image"
    assert [r.split(",")[:3] for r in rows[1:]] == [
        ["data.csv", "2", "missing_file"],
        ["data.csv", "3", "empty_text"],
    ]
    code = main(
        ["data", "check", str(tmp_path / "data.csv"), "--problems-csv", str(tmp_path / "no" / "p.csv")]
    )
    assert code == 2 and "cannot write" in capsys.readouterr().err


def test_data_check_unusable_dataset_exits_2(tmp_path, capsys):
    (tmp_path / "data.csv").write_text("image,text\nnope.png,hello\ngone.png,world\n")
    code, doc, err = run_json(capsys, ["data", "check", str(tmp_path / "data.csv"), "--json"])
    assert code == 2
    assert doc["valid"] == 0 and doc["skipped"] == 2
    assert "no usable pairs" in err


def test_data_check_missing_path_exits_2(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_runs_list_on_empty_store_is_an_empty_list(capsys, mmstudio_home):
    code, doc, _err = run_json(capsys, ["runs", "list", "--json"])
    assert code == 0 and doc == []
    assert (mmstudio_home / "data" / "mmstudio.db").exists()


def test_runs_list_takes_db_url(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'team.db'}"
    code, doc, _err = run_json(capsys, ["runs", "list", "--db", url, "--json"])
    assert code == 0 and doc == []
    assert (tmp_path / "team.db").exists()


def test_runs_list_shows_stored_runs(capsys):
    from mmstudio.store import Store

    with Store.open() as store:
        first = store.create_run(name="text-only", device="cpu")
        store.start_run(first)
        store.log_metrics(first, [("train/loss", s, 0, 1.0 / (s + 1), float(s)) for s in range(50)])
        store.log_metrics(first, [("test/accuracy", 49, 0, 0.5, 49.0)])
        store.finish_run(first)
        second = store.create_run(name="fused")
    code, doc, _err = run_json(capsys, ["runs", "list", "--json"])
    assert code == 0
    assert [r["id"] for r in doc] == [second, first]  # newest first
    by_id = {r["id"]: r for r in doc}
    assert by_id[first]["status"] == "completed" and by_id[second]["status"] == "queued"
    assert by_id[first]["metrics"]["test/accuracy"] == 0.5
    assert by_id[first]["metrics"]["train/loss"] == pytest.approx(1 / 50)
    assert {"id", "name", "status", "created", "metrics"} <= by_id[second].keys()
    assert main(["runs", "list"]) == 0
    out = capsys.readouterr().out
    assert "text-only" in out and "fused" in out and "test/accuracy 0.5" in out


def test_a_reader_that_stops_reading_ends_the_command_quietly(demo_dir):
    """``mmstudio data check PATH | head``: the pipe closes before the report is written; the command
    ends as if it had finished (exit 0), without a traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mmstudio", "data", "check", str(demo_dir), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # nobody reads what it prints
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err and b"BrokenPipeError" not in err


# --- a run trained on one manifest of a folder of several (#1) -----------------------------------


@pytest.fixture
def several_manifests(small_demo, tmp_path) -> Path:
    """The small demo's images with three manifests: ``manifest.csv`` (all 240 rows) beside
    ``manifest_train.csv`` (the first 160) and ``manifest_test.csv`` (the other 80)."""
    folder = tmp_path / "several"
    shutil.copytree(small_demo, folder)
    header, *rows = (folder / "manifest.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / "manifest_train.csv").write_text(header + "".join(rows[:160]), encoding="utf-8")
    (folder / "manifest_test.csv").write_text(header + "".join(rows[160:]), encoding="utf-8")
    return folder


@pytest.mark.slow
def test_a_run_on_one_manifest_of_a_folder_of_several_finds_it_again(
    several_manifests, tmp_path, capsys, make_job
):
    """#1: the run records the file it trained on, not its folder: resume, eval without --data and
    the compare view's items (load_recorded) all read ``manifest_train.csv`` again; a record made
    before the spec was kept falls back to its dataset row's folder, and that folder's error names the
    manifests to choose from."""
    from mmstudio.store import Store
    from mmstudio.training import events as ev
    from mmstudio.training.resume import load_recorded, recorded_dataset
    from mmstudio.training.runner import TrainingControl, run_job

    train_file = several_manifests / "manifest_train.csv"
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    control = TrainingControl()

    def stop_at_step_3(event):
        if isinstance(event, ev.MetricsLogged) and any(p[1] >= 3 for p in event.points):
            control.stop()

    stopped = run_job(make_job(db, data=train_file, epochs=1), on_event=stop_at_step_3, control=control)
    assert stopped.status == "cancelled", stopped.message
    with Store.open(db) as store:
        assert store.get_run(stopped.run_id).dataset_spec["path"] == str(train_file)
        assert recorded_dataset(store, stopped.run_id).path == str(train_file)

    # Resume: no --data, the recorded file.
    assert (
        main(["train", "--resume", str(stopped.run_id), "--epochs", "2", "--db", db, "--json", "--quiet"])
        == 0
    )
    resumed = json.loads(capsys.readouterr().out)
    assert (resumed["run_id"], resumed["status"]) == (stopped.run_id, "completed")

    # Eval without --data scores the test split of manifest_train.csv (16 of its 160 rows), not of
    # manifest.csv (24 of 240).
    code, doc, err = run_json(capsys, ["eval", str(stopped.run_id), "--split", "test", "--db", db, "--json"])
    assert code == 0, err
    assert doc["items"] == 16

    with Store.open(db) as store:
        dataset, warning = load_recorded(store, stopped.run_id)
        assert warning == "" and len(dataset.items) == 160
        assert dataset.source.files == [train_file]

        # An old record (no spec, a dataset row naming the folder): the manifest in the folder whose
        # fingerprint is the row's; with none matching, the folder, whose manifests the error names.
        row = store.get_dataset(store.get_run(stopped.run_id).dataset_id)
        assert Path(row.path) == several_manifests
        legacy = store.create_run(name="old", dataset_id=row.id)
        assert recorded_dataset(store, legacy).path == str(train_file)
        assert len(load_recorded(store, legacy)[0].items) == 160
        other = store.ensure_dataset(
            name="other",
            path=several_manifests,
            format="manifest",
            fingerprint="0" * 64,
            item_count=1,
            summary={},
        )
        lost = store.create_run(name="lost", dataset_id=other.id)
        assert recorded_dataset(store, lost).path == str(several_manifests)
        with pytest.raises(SeveralDatasets) as raised:
            load_recorded(store, lost)
        assert [p.name for p in raised.value.choices] == [
            "manifest.csv",
            "manifest_test.csv",
            "manifest_train.csv",
        ]
    code = main(["eval", str(lost), "--split", "test", "--db", db, "--json"])
    err = capsys.readouterr().err
    assert code == 2 and "give the dataset to evaluate on with --data PATH" in err
    assert code == 2 and "holds 3 manifests (manifest.csv, manifest_test.csv, manifest_train.csv)" in err
