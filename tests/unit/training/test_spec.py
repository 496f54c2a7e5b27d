"""TrainSpec and RunJob: validation, defaults, the JSON and pickle round trips."""

import json
import pickle
import subprocess
import sys

import pytest

from mmstudio.data.images import FITS
from mmstudio.data.spec import DatasetSpec
from mmstudio.data.text import TOKENIZERS as TEXT_TOKENIZERS
from mmstudio.training.spec import IMAGE_FITS, TOKENIZERS, RunJob, TrainSpec
from mmstudio.vocabulary import describe_monitor, key_metric, recorded_monitor

MODEL = {
    "task": "classification",
    "text_encoder": {"name": "textcnn", "embed_dim": 128},
    "image_encoder": {"name": "small_cnn", "width": 32},
    "fusion": {"name": "concat"},
    "head": {"name": "mlp", "hidden": 256, "dropout": 0.1},
}


def test_defaults_suit_a_short_cpu_demo():
    spec = TrainSpec()
    assert (spec.epochs, spec.batch_size, spec.optimizer, spec.schedule) == (5, 64, "adamw", "cosine")
    assert (spec.image_size, spec.accumulation, spec.seed) == (64, 1, 0)
    assert spec.precision == "auto" and spec.device == "auto" and spec.num_threads is None
    assert spec.grad_clip == 1.0 and spec.early_stopping_metric is None
    # Early stopping is on; what picks the best checkpoint is the task's key metric (named when the run
    # starts); patience, text length and class weights are chosen from the dataset (None until then).
    assert spec.early_stopping and spec.stops_early and spec.best_metric is None
    assert (spec.patience, spec.max_len, spec.class_weights) == (None, None, None)
    assert spec.modality_dropout == 0.1


def test_round_trip_through_json():
    spec = TrainSpec(
        lr=1, schedule="step", warmup_steps=20, grad_clip=None, early_stopping_metric="val/accuracy"
    )
    data = json.loads(json.dumps(spec.to_dict()))
    assert TrainSpec.from_dict(data) == spec
    assert isinstance(spec.lr, float) and spec.lr == 1.0  # an int where a float is expected becomes one


def test_from_dict_refuses_unknown_keys_listing_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown train spec key\(s\) learning_rate; valid keys: epochs, "):
        TrainSpec.from_dict({"learning_rate": 0.1})
    assert TrainSpec.from_dict({"epochs": 2}) == TrainSpec(epochs=2)  # an older, shorter spec loads


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 0, "epochs must be between 1 and"),
        ("epochs", 2.0, "epochs must be a whole number"),
        ("batch_size", True, "batch_size must be a whole number"),
        ("lr", 0, r"lr must be in \(0.0, 10.0\]"),
        ("lr", float("nan"), "lr must be a finite number"),
        ("lr", "1e-3", "lr must be a finite number"),
        ("optimizer", "adam", "optimizer must be one of adamw, sgd"),
        ("momentum", 1.0, r"momentum must be in \[0.0, 1.0\)"),
        ("schedule", "linear", "schedule must be one of constant, cosine, step, plateau"),
        ("warmup_steps", -1, "warmup_steps must be at least 0"),
        ("warmup_fraction", 1.0, "warmup_fraction must be in"),
        ("gamma", 0.0, "gamma must be in"),
        ("grad_clip", 0.0, "grad_clip must be in"),
        ("accumulation", 0, "accumulation must be between 1 and"),
        ("precision", "fp8", "precision must be one of auto, fp32, bf16, fp16"),
        ("class_weights", 1, "class_weights must be true or false"),
        ("early_stopping_metric", "test/accuracy", "the test split never chooses a model"),
        ("early_stopping_metric", "accuracy", "early_stopping_metric must be a metric key"),
        ("patience", 0, "patience must be at least 1"),
        ("seed", -1, "seed must be between 0 and"),
        ("device", "gpu", "device must be auto, cpu, cuda, cuda:N or mps"),
        ("device", "cuda:x", "device must be auto, cpu, cuda, cuda:N or mps"),
        ("num_threads", 0, "num_threads must be between 1 and"),
        ("image_size", 4, "image_size must be between 8 and"),
        ("image_fit", "stretch", "image_fit must be one of crop, squash, pad"),
        ("max_len", 0, "max_len must be between 1 and"),
        ("tokenizer", "char", "tokenizer must be one of word, bpe"),
        ("vocab_min_freq", 0, "vocab_min_freq must be at least 1"),
        ("vocab_max_size", 1, "vocab_max_size must be between 2 and"),
        ("eval_every_epochs", 0, "eval_every_epochs must be at least 1"),
        ("log_every_steps", 0, "log_every_steps must be at least 1"),
    ],
)
def test_invalid_values_are_refused_naming_the_field(field, value, message):
    with pytest.raises((ValueError, TypeError), match=message):
        TrainSpec(**{field: value})


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1", "mps"])
def test_valid_devices(device):
    assert TrainSpec(device=device).device == device


def test_choices_match_the_dataset_layer():
    assert IMAGE_FITS == FITS
    assert set(TOKENIZERS) == set(TEXT_TOKENIZERS)


def test_monitor_defaults_to_the_task_key_metric_the_experiments_page_ranks_by():
    # Before issue 14 it was val/loss, which picked the epochs where a small model predicted one class.
    assert (TrainSpec().monitor, TrainSpec().monitor_mode) == ("val/accuracy", "max")
    assert TrainSpec().monitor_for("regression") == "val/rmse"
    assert TrainSpec().monitor_for("contrastive") == "val/mean_recall"
    assert TrainSpec().monitor_for("multilabel") == "val/macro_f1"
    for task in ("classification", "regression", "contrastive", "multilabel"):
        logged = {"val/loss", "val/accuracy", "val/macro_f1", "val/rmse", "val/mae", "val/mean_recall"}
        if task != "classification":
            logged.discard("val/accuracy")
        assert TrainSpec().monitor_for(task) == key_metric(logged & _task_keys(task), task=task)
    spec = TrainSpec(early_stopping_metric="val/accuracy")
    assert (spec.monitor, spec.monitor_mode) == ("val/accuracy", "max")
    spec = TrainSpec(best_metric="val/loss", early_stopping_metric="val/macro_f1")
    assert (spec.monitor_for("classification"), spec.monitor_mode) == ("val/loss", "min")


def _task_keys(task):
    from mmstudio.vocabulary import KEY_METRICS

    return {"val/loss", *(f"val/{name}" for name in KEY_METRICS[task])}


def test_a_spec_stored_before_best_metric_means_what_it_meant():
    """A run recorded before issue 14 picked its best checkpoint by its early-stopping metric, else
    val/loss, and stopped early only with a metric named: resuming it goes on the same way."""
    old = TrainSpec().to_dict()
    for key in ("best_metric", "early_stopping", "modality_dropout"):
        old.pop(key)
    old.update(patience=3, max_len=32, class_weights=False)  # every old spec held these
    legacy = TrainSpec.from_stored(old)
    assert (legacy.monitor_for("classification"), legacy.stops_early) == ("val/loss", False)
    assert legacy.modality_dropout == 0.0 and legacy.patience == 3 and legacy.max_len == 32
    named = TrainSpec.from_stored({**old, "early_stopping_metric": "val/macro_f1"})
    assert (named.monitor_for("classification"), named.stops_early) == ("val/macro_f1", True)
    assert recorded_monitor(old) == "val/loss" and describe_monitor(recorded_monitor(old)) == "val/loss (min)"
    # a spec stored now names its metric and is read as it is
    new = {**TrainSpec(best_metric="val/accuracy").to_dict()}
    assert TrainSpec.from_stored(new) == TrainSpec.from_dict(new)
    assert recorded_monitor(new) == "val/accuracy"


def test_warmup_from_fraction_or_steps_never_exceeds_the_run():
    assert TrainSpec(warmup_fraction=0.1).warmup_for(200) == 20
    assert TrainSpec(warmup_steps=7).warmup_for(200) == 7
    assert TrainSpec(warmup_steps=500).warmup_for(200) == 200
    assert TrainSpec(warmup_fraction=0.0).warmup_for(200) == 0


def _job(**kwargs) -> RunJob:
    base = {"dataset": DatasetSpec("/data/demo"), "model": MODEL, "train": TrainSpec(epochs=2)}
    return RunJob(**{**base, **kwargs})


def test_run_job_round_trips_through_json_and_pickle():
    job = _job(name="fusion", db_url="sqlite:///x.db", experiment="demo", resume_run_id=4)
    assert RunJob.from_json(job.to_json()) == job
    assert pickle.loads(pickle.dumps(job)) == job
    assert job.task == "classification"
    assert json.loads(job.to_json())["version"] == 1


def test_run_job_takes_dicts_and_spec_objects_and_copies_the_model():
    class FakeModelSpec:
        def to_dict(self):
            return dict(MODEL, task="contrastive")

    model = dict(MODEL)
    job = RunJob(dataset={"path": "/d"}, model=model, train={"epochs": 1})
    assert job.dataset == DatasetSpec("/d") and job.train == TrainSpec(epochs=1)
    model["task"] = "regression"
    assert job.task == "classification"  # detached from the caller's dict
    assert RunJob(dataset=DatasetSpec("/d"), model=FakeModelSpec()).task == "contrastive"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": {"task": "captioning"}}, "unknown task 'captioning'"),
        ({"model": {"task": "classification", "head": {"name": "mlp", "x": object()}}}, "not plain JSON"),
        ({"model": "textcnn"}, "model must be a ModelSpec dict"),
        ({"resume_run_id": 0}, "resume_run_id must be at least 1"),
        ({"name": 3}, "name must be a string"),
        ({"train": {"epoch": 3}}, "unknown train spec key"),
    ],
)
def test_run_job_refuses_bad_fields(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        _job(**kwargs)


def test_run_job_from_dict_refuses_unknown_keys_and_versions():
    data = _job().to_dict()
    with pytest.raises(ValueError, match=r"unknown run job key\(s\) priority; valid keys: dataset, model"):
        RunJob.from_dict({**data, "priority": 1})
    with pytest.raises(ValueError, match="run job version 2 is not supported"):
        RunJob.from_dict({**data, "version": 2})


def test_importing_the_spec_does_not_import_torch():
    code = "import sys, mmstudio.training.spec; print('torch' in sys.modules, 'PIL' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False False"


def test_spec_files_are_read_with_a_message_naming_the_file_and_written_atomically(tmp_path):
    from mmstudio.training.spec import read_spec_file, write_spec_file

    path = write_spec_file(tmp_path / "model.json", MODEL)
    assert read_spec_file(path) == MODEL and path.read_text(encoding="utf-8").endswith("\n")
    (tmp_path / "list.json").write_text("[1]", encoding="utf-8")
    with pytest.raises(ValueError, match=r"list\.json is not a model spec: it holds a JSON list"):
        read_spec_file(tmp_path / "list.json")
    (tmp_path / "bad.json").write_text("{nope", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.json is not a job spec: it is not valid JSON"):
        read_spec_file(tmp_path / "bad.json", "job spec")
    with pytest.raises(OSError, match=r"Could not read the model spec .*missing\.json"):
        read_spec_file(tmp_path / "missing.json")
    with pytest.raises(OSError, match="Could not save the model spec to"):
        write_spec_file(tmp_path / "no-such-folder" / "m.json", MODEL)
    assert not list(tmp_path.glob(".*.tmp"))  # a failed write leaves nothing behind


def test_a_saved_model_spec_is_told_from_a_dataset(tmp_path):
    """``mmstudio PATH`` opens a model spec on the Model page and anything else as a dataset."""
    from mmstudio.training.spec import MODEL_SPEC_SUFFIX, is_model_spec_file, write_spec_file

    assert is_model_spec_file(write_spec_file(tmp_path / f"model{MODEL_SPEC_SUFFIX}", MODEL))
    assert is_model_spec_file(write_spec_file(tmp_path / "model.JSON", {"fusion": {"name": "concat"}}))
    coco = {"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 1, "caption": "a"}]}
    (tmp_path / "captions.json").write_text(json.dumps(coco), encoding="utf-8")
    (tmp_path / "manifest.json").write_text('[{"image": "a.jpg", "text": "a"}]', encoding="utf-8")
    (tmp_path / "broken.json").write_text("{nope", encoding="utf-8")
    (tmp_path / "spec.csv").write_text("text_encoder,fusion\n", encoding="utf-8")
    (tmp_path / "folder.json").mkdir()
    for name in ("captions.json", "manifest.json", "broken.json", "spec.csv", "folder.json", "missing.json"):
        assert not is_model_spec_file(tmp_path / name), name


def test_a_file_named_as_a_model_spec_is_one_whatever_it_holds(tmp_path):
    """A file manager opens ``*.mmspec.json`` and ``*.mmspec`` with mmstudio by their names (packaging/):
    such a file opens on the Model page, which says what is wrong with a broken one, never as a dataset."""
    from mmstudio.training.spec import MODEL_SPEC_SUFFIXES, is_model_spec_file, write_spec_file

    assert MODEL_SPEC_SUFFIXES == (".mmspec.json", ".mmspec")
    assert is_model_spec_file(write_spec_file(tmp_path / "model.mmspec", MODEL))
    for name in ("broken.mmspec.json", "broken.MMSPEC", "manifest.mmspec.json"):
        (tmp_path / name).write_text('[{"image": "a.jpg", "text": "a"}]', encoding="utf-8")
        assert is_model_spec_file(tmp_path / name), name
    (tmp_path / "folder.mmspec").mkdir()
    for name in ("folder.mmspec", "missing.mmspec", "missing.mmspec.json", "model.mmspec.csv"):
        assert not is_model_spec_file(tmp_path / name), name


def test_save_suggests_the_name_each_desktop_opens_in_mmstudio():
    """Finder and Explorer match a file type by the last part of its name, so on macOS and Windows Save
    suggests ``.mmspec``; Linux's MIME glob matches ``.mmspec.json``, which also says JSON to editors."""
    from mmstudio.training.spec import model_spec_save_path, model_spec_suffix

    assert model_spec_suffix("linux") == ".mmspec.json"
    assert model_spec_suffix("darwin") == model_spec_suffix("win32") == ".mmspec"
    assert model_spec_suffix() == model_spec_suffix(sys.platform)
    assert model_spec_save_path("/m/fused", "linux") == "/m/fused.mmspec.json"
    assert model_spec_save_path("/m/fused", "darwin") == "/m/fused.mmspec"
    assert model_spec_save_path(r"C:\m\fused.v2", "win32") == r"C:\m\fused.v2.mmspec"
    for typed in ("/m/a.mmspec.json", "/m/a.MMSPEC", "/m/a.json", "/m/a.mmspec"):
        assert model_spec_save_path(typed, "linux") == model_spec_save_path(typed, "darwin") == typed


def test_a_path_that_is_not_there_is_said_once_for_the_command_line_and_the_app(tmp_path, capsys):
    from mmstudio import cli
    from mmstudio.training.spec import open_path_problem

    assert open_path_problem(str(tmp_path)) is None
    assert open_path_problem(str(tmp_path / "shards-{000..009}.tar")) is None  # a pattern, not a path
    missing = str(tmp_path / "gone.mmspec")
    problem = open_path_problem(missing)
    assert problem == f"{missing} does not exist; 'mmstudio PATH' opens an existing dataset folder or file"
    assert cli.main([missing]) == 2
    assert capsys.readouterr().err == f"error: {problem}\n"
