"""``mmstudio train``, ``eval``, ``export`` and ``runs show|compare|export|delete`` end to end, on a
small generated demo dataset and a real SQLite store."""

import csv
import io
import json
from pathlib import Path

import pytest

from mmstudio.cli import main
from mmstudio.formatting import format_value

TRAIN_KEYS = {"run_id", "status", "device", "epochs", "duration_s", "metrics", "best"}


@pytest.fixture(scope="module")
def demo(small_demo) -> Path:
    return small_demo


@pytest.fixture(scope="module")
def trained(demo, tmp_path_factory):
    """Two short runs in one store: a fused model and a text-only one."""
    db = f"sqlite:///{tmp_path_factory.mktemp('store') / 'runs.db'}"
    common = ["--data", str(demo), "--epochs", "2", "--batch-size", "32", "--image-size", "32", "--db", db]
    runs = []
    for name, extra in (("fused", []), ("text", ["--image-encoder", "none"])):
        out = io.StringIO()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("sys.stdout", out)
            assert main(["train", *common, "--name", name, "--json", "--quiet", *extra]) == 0
        runs.append(json.loads(out.getvalue()))
    return db, runs


def test_train_json_summary(trained):
    _, (fused, text) = trained
    assert fused.keys() >= TRAIN_KEYS
    assert fused["status"] == "completed" and fused["device"] == "cpu" and fused["epochs"] == 2
    assert 0.0 <= fused["metrics"]["test/accuracy"] <= 1.0
    assert "test_text_masked/accuracy" in fused["metrics"]  # the modality ablation
    assert "test_text_masked/accuracy" not in text["metrics"]  # a text-only model has none
    assert text["run_id"] != fused["run_id"]


def test_runs_show_and_compare(trained, capsys):
    db, (fused, text) = trained
    assert main(["runs", "show", str(fused["run_id"]), "--db", db, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["spec"]["fusion"]["name"] == "concat" and doc["train_spec"]["epochs"] == 2
    assert {e["split"] for e in doc["evaluations"]} >= {"val", "test"}
    assert any(a["kind"] == "checkpoint" for a in doc["artifacts"])
    assert doc["metric_stats"]["train/loss"]["count"] > 0

    # issue 14: the metric that picked the evaluated weights is stored and said
    assert doc["train_spec"]["best_metric"] == "val/accuracy" and doc["key_metric"]["key"] == "val/accuracy"
    assert main(["runs", "show", str(fused["run_id"]), "--db", db]) == 0
    assert "best checkpoint by val/accuracy (max)" in capsys.readouterr().out

    assert main(["runs", "compare", str(fused["run_id"]), str(text["run_id"]), "--db", db, "--json"]) == 0
    cmp = json.loads(capsys.readouterr().out)
    assert "model.image_encoder.name" in cmp["parameters"]
    assert cmp["parameters"]["model.image_encoder.name"] == ["small_cnn", "none"]
    assert "train.epochs" not in cmp["parameters"]  # equal parameters are left out
    assert len(cmp["metrics"]["test/accuracy"]) == 2

    assert main(["runs", "compare", str(fused["run_id"]), str(text["run_id"]), "--db", db]) == 0
    assert "model.image_encoder.name" in capsys.readouterr().out


def test_runs_list_and_show_name_a_run_as_the_experiments_page_does(trained, capsys):
    """The architecture label and the key metric come from the same records as the page's table."""
    from mmstudio.store import Store
    from mmstudio.store.summaries import fetch_records

    db, (fused, text) = trained
    assert main(["runs", "list", "--db", db, "--json"]) == 0
    listed = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    with Store.open(db) as store:
        records = fetch_records(store, [fused["run_id"], text["run_id"]])
    for run_id, record in records.items():
        assert listed[run_id]["architecture"] == record.architecture
        assert listed[run_id]["key_metric"] == record.key_metric_json()
    assert listed[text["run_id"]]["architecture"].endswith("(text only)")
    assert listed[fused["run_id"]]["key_metric"]["key"] == "val/accuracy"
    assert listed[fused["run_id"]]["key_metric"]["test"] == pytest.approx(fused["metrics"]["test/accuracy"])

    assert main(["runs", "list", "--db", db]) == 0
    out = capsys.readouterr().out
    fused_record = records[fused["run_id"]]
    assert fused_record.architecture in out and f"val/accuracy {format_value(fused_record.best)}" in out

    assert main(["runs", "show", str(fused["run_id"]), "--db", db]) == 0
    assert f"model {fused_record.architecture}" in capsys.readouterr().out


def test_runs_compare_writes_the_pages_tables_as_csv_and_html(trained, tmp_path, capsys):
    """``runs compare`` prints, saves and reports the same tables as the Compare page
    (:mod:`mmstudio.store.report`): ``--csv`` one of them, ``--html`` the report without charts."""
    from mmstudio.store import Store
    from mmstudio.store.compare import load_comparison
    from mmstudio.store.report import TABLES, table

    db, (fused, text) = trained
    ids = [str(fused["run_id"]), str(text["run_id"])]
    with Store.open(db) as store:
        c = load_comparison(store, [fused["run_id"], text["run_id"]])
    for name in TABLES:
        out = tmp_path / f"{name}.csv"
        assert main(["runs", "compare", *ids, "--db", db, "--csv", str(out), "--table", name]) == 0
        with open(out, newline="", encoding="utf-8") as f:
            assert list(csv.reader(f)) == [table(c, name)[0], *table(c, name)[1]]
    assert capsys.readouterr().out == ""  # a file written, nothing printed
    with pytest.raises(SystemExit) as bad:
        main(["runs", "compare", *ids, "--db", db, "--csv", str(tmp_path / "x.csv"), "--table", "nope"])
    assert bad.value.code == 2
    assert ", ".join(TABLES) in capsys.readouterr().err

    report = tmp_path / "report.html"
    assert main(["runs", "compare", *ids, "--db", db, "--html", str(report)]) == 0
    page = report.read_text(encoding="utf-8")
    assert "<img" not in page and "model.image_encoder.name" in page and "Modality contribution" in page
    for label in c.labels():
        assert label in page

    assert main(["runs", "compare", *ids, "--db", db]) == 0
    out = capsys.readouterr().out
    assert "Per-class F1 (test):" in out and "Modality contribution:" in out
    assert main(["runs", "compare", *ids, "--db", db, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["modalities"]["accuracy"][1]["image masked"] is None  # a text-only run masks no image
    assert set(doc["per_class_f1"]) == set(c.class_labels())
    assert main(["runs", "compare", ids[0], "999", "--db", db]) == 2
    assert "no run 999" in capsys.readouterr().err


def test_runs_compare_help_lists_every_table(capsys):
    from mmstudio.store.report import TABLES

    with pytest.raises(SystemExit):
        main(["runs", "compare", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert all(name in out for name in TABLES)


def test_runs_export_json_and_csv(trained, tmp_path, capsys):
    db, (fused, _) = trained
    out = tmp_path / "run.json"
    assert main(["runs", "export", str(fused["run_id"]), "--db", db, "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    loss = doc["curves"]["train/loss"]
    assert len(loss["step"]) == len(loss["value"]) == doc["metric_stats"]["train/loss"]["count"]
    assert main(["runs", "export", str(fused["run_id"]), "--db", db, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["key"] for r in rows} >= {"train/loss", "val/accuracy"}


def test_eval_on_a_dataset_matches_the_test_split(trained, demo, capsys):
    db, (fused, _) = trained
    assert (
        main(["eval", str(fused["run_id"]), "--data", str(demo), "--split", "test", "--db", db, "--json"])
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["metrics"]["accuracy"] == pytest.approx(fused["metrics"]["test/accuracy"])
    assert doc["items"] == 24  # 10% of 240


def test_eval_on_every_row_of_a_dataset_is_the_default(trained, demo, capsys):
    """``eval RUN --data PATH`` scores every usable row; the run's vocabulary and labels come with
    its checkpoint, so the dataset needs no training rows."""
    db, (fused, _) = trained
    assert main(["eval", str(fused["run_id"]), "--data", str(demo), "--db", db, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["items"] == 240
    assert 0.0 <= doc["metrics"]["accuracy"] <= 1.0


def test_eval_without_data_scores_the_runs_own_test_split(trained, capsys):
    """The run's dataset spec is stored with it: ``eval RUN --split test`` needs no --data and scores
    exactly the test items the run was trained without."""
    db, (fused, _) = trained
    assert main(["eval", str(fused["run_id"]), "--split", "test", "--db", db, "--json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["items"] == 24 and doc["metrics"]["accuracy"] == pytest.approx(
        fused["metrics"]["test/accuracy"]
    )
    assert doc["overlap"]["shared"] == 0 and doc["warnings"] == [] and "warning" not in err


def test_eval_on_a_copy_of_the_training_images_warns_with_the_overlap(trained, demo, tmp_path, capsys):
    """#13: a dataset that shares images with the run's training split (here a copy of the whole
    dataset, elsewhere) is said on stderr and in --json; the steps show on stderr."""
    import shutil

    db, (fused, _) = trained
    copy = shutil.copytree(demo, tmp_path / "downloaded-again")
    assert main(["eval", str(fused["run_id"]), "--data", str(copy), "--db", db, "--json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    shared = doc["overlap"]["shared"]
    assert 0 < shared < doc["items"] == 240  # the training split's images, not the val and test ones
    assert f"warning: {shared:,} of the 240 evaluated items" in err and doc["warnings"] == [
        err.split("warning: ", 1)[1].strip()
    ]
    assert "Preparing the images…" in err and "Scoring 240 items…" in err
    assert main(["eval", str(fused["run_id"]), "--data", str(copy), "--db", db, "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "240 items, split all" in out and err.startswith("warning: ") and "Scoring" not in err


def test_resume_needs_only_the_run_id(tmp_path, capsys, make_job):
    """``train --resume RUN_ID`` continues on the run's own dataset with its own settings; training
    options given win, a model given with it is refused."""
    from mmstudio.training import events as ev
    from mmstudio.training.runner import TrainingControl, run_job

    db = f"sqlite:///{tmp_path / 'runs.db'}"
    control = TrainingControl()

    def stop_at_step_3(event):
        if isinstance(event, ev.MetricsLogged) and any(p[1] >= 3 for p in event.points):
            control.stop()

    stopped = run_job(make_job(db, epochs=1, batch_size=64), on_event=stop_at_step_3, control=control)
    assert stopped.status == "cancelled"
    assert main(["train", "--resume", str(stopped.run_id), "--preset", "late_fusion", "--db", db]) == 2
    assert "leave out --preset" in capsys.readouterr().err
    assert (
        main(["train", "--resume", str(stopped.run_id), "--epochs", "2", "--db", db, "--json", "--quiet"])
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert (doc["run_id"], doc["status"], doc["epochs"]) == (stopped.run_id, "completed", 2)
    assert main(["train", "--resume", str(stopped.run_id), "--db", db, "--quiet"]) == 2
    assert "is completed" in capsys.readouterr().err
    assert main(["train", "--resume", "999", "--db", db, "--quiet"]) == 2
    assert "no run 999" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_export_torchscript_runs_and_onnx_says_what_is_missing(trained, tmp_path, capsys):
    import torch

    db, (fused, _) = trained
    path = tmp_path / "model.pt"
    assert main(["export", str(fused["run_id"]), "--format", "torchscript", "-o", str(path), "--db", db]) == 0
    meta = json.loads((tmp_path / "model.pt.json").read_text())
    assert meta["inputs"] == ["tokens", "lengths", "image"] and len(meta["labels"]) == 6
    module = torch.jit.load(str(path))
    (logits,) = module(
        torch.ones(3, 32, dtype=torch.long), torch.full((3,), 4, dtype=torch.long), torch.zeros(3, 3, 32, 32)
    )
    assert logits.shape == (3, 6)
    try:
        import onnx  # noqa: F401
    except ImportError:
        code = main(
            ["export", str(fused["run_id"]), "--format", "onnx", "-o", str(tmp_path / "m.onnx"), "--db", db]
        )
        assert code == 1 and "pip install onnx" in capsys.readouterr().err


def test_train_bad_usage(demo, capsys):
    assert main(["train", "--epochs", "1"]) == 2
    assert "--data PATH, --demo" in capsys.readouterr().err
    assert main(["train", "--data", str(demo), "--fusion", "nope", "--epochs", "1", "--quiet"]) == 2
    assert "concat" in capsys.readouterr().err  # the message lists the fusions that exist
    assert main(["train", str(demo), "--epochs", "1"]) == 2  # a dataset where the spec file goes
    assert f"give it with --data {demo}" in capsys.readouterr().err
    assert main(["runs", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # no run was recorded for an impossible model


def test_train_on_a_single_label_dataset_exits_2_with_a_sentence(single_label_demo, capsys):
    assert main(["train", "--data", str(single_label_demo), "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {single_label_demo.name} has a single label ('cat'), and a classification model needs at "
        "least two to tell apart: add items of another label, or open a dataset with two labels or more\n"
    )
    assert main(["runs", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # refused before a run was recorded


def test_runs_delete_removes_the_run_and_its_files(demo, tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    args = ["--data", str(demo), "--epochs", "1", "--batch-size", "32", "--image-size", "32", "--db", db]
    assert main(["train", *args, "--json", "--quiet"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    from mmstudio.store import Store

    with Store.open(db) as store:
        folder = store.run_dir(run_id)
    assert folder.is_dir()
    assert main(["runs", "delete", str(run_id), "--db", db]) == 2  # no terminal: needs --yes
    assert main(["runs", "delete", str(run_id), "--db", db, "--yes"]) == 0
    assert not folder.exists()
    assert main(["runs", "show", str(run_id), "--db", db]) == 2


def test_runs_delete_asks_about_one_run_as_one(tmp_path, monkeypatch, capsys):
    """#19: 'delete run 1 (a) and its checkpoints?', not 'run(s)'; declining deletes nothing."""
    import sys

    from mmstudio.store import Store

    db = f"sqlite:///{tmp_path / 'runs.db'}"
    with Store.open(db) as store:
        first = store.create_run(name="a", spec={})
        second = store.create_run(name="b", spec={})
    asked: list[str] = []
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "n")
    assert main(["runs", "delete", str(first), "--db", db]) == 0
    assert main(["runs", "delete", str(first), str(second), "--db", db]) == 0
    assert asked == [
        f"delete run {first} (a) and its checkpoints? [y/N] ",
        f"delete runs {first} (a), {second} (b) and their checkpoints? [y/N] ",
    ]
    assert "nothing deleted" in capsys.readouterr().err


def test_check_says_what_picks_the_checkpoint_and_what_the_data_chose(demo, capsys):
    assert main(["train", "--data", str(demo), "--check", "--image-size", "32", "--max-len", "12"]) == 0
    out = capsys.readouterr().out
    assert "best checkpoint by val/accuracy (max); early stopping after 5 evaluations" in out
    assert "chosen from the dataset: patience 5 (192 training items)" in out
    assert "max_len" not in out.split("chosen from the dataset:")[1].split("\n")[0]  # --max-len given: kept
    flags = ["--best-metric", "val/loss", "--no-early-stopping", "--patience", "2"]
    assert main(["train", "--data", str(demo), "--check", "--image-size", "32", *flags]) == 0
    out = capsys.readouterr().out
    assert "best checkpoint by val/loss (min); no early stopping" in out and "patience 5" not in out


def test_augmentation_flags_are_checked_said_and_recorded(demo, tmp_path, capsys):
    flags = ["--augment-image", "strong", "--no-flip", "--augment-text", "light"]
    assert main(["train", "--data", str(demo), "--check", "--image-size", "32", *flags]) == 0
    out = capsys.readouterr().out
    said = "training batches augmented: images strong (crop, colour jitter, TrivialAugment) and text light"
    assert said in out
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", str(demo), "--augment-image", "heavy"])
    assert exit_info.value.code == 2 and "invalid choice: 'heavy'" in capsys.readouterr().err

    db = f"sqlite:///{tmp_path / 'runs.db'}"
    common = ["--data", str(demo), "--epochs", "1", "--batch-size", "32", "--image-size", "32", "--db", db]
    assert main(["train", *common, *flags, "--json", "--quiet"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    assert main(["runs", "show", str(run_id), "--db", db, "--json"]) == 0
    train = json.loads(capsys.readouterr().out)["train_spec"]
    assert (train["augment_image"], train["augment_flip"], train["augment_text"]) == (
        "strong",
        False,
        "light",
    )
