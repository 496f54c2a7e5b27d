"""``mmstudio train --text-encoder hf:FOLDER`` and ``--image-encoder hf:FOLDER`` end to end, on tiny local
models (tests/conftest.py): the run records the model and its exact revision, a frozen encoder leaves
the run with the pretrained weights (its checkpoints hold only what trained, and are rebuilt with the
rest from the model), ``eval`` and ``export`` rebuild it, and a changed model is refused."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from mmstudio.cli import main

pytestmark = pytest.mark.slow


def _train(args: list[str]) -> dict:
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", out)
        assert main(["train", *args, "--json", "--quiet"]) == 0
    return json.loads(out.getvalue())


def _show(run_id: int, db: str, capsys) -> dict:
    assert main(["runs", "show", str(run_id), "--db", db, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def bert(tiny_hf, tmp_path_factory) -> Path:
    """A copy of its own: a test below changes its weights."""
    return tiny_hf.bert(tmp_path_factory.mktemp("cli-bert") / "bert")


@pytest.fixture(scope="module")
def text_run(small_demo, bert, tmp_path_factory):
    db = f"sqlite:///{tmp_path_factory.mktemp('store') / 'runs.db'}"
    args = ["--data", str(small_demo), "--text-encoder", f"hf:{bert}", "--image-encoder", "none"]
    summary = _train([*args, "--epochs", "1", "--batch-size", "32", "--device", "cpu", "--db", db])
    return db, summary


def test_a_frozen_hf_text_encoder_trains_and_records_its_revision(text_run, bert, capsys):
    from safetensors.torch import load_file

    from mmstudio.models.fetch import resolve
    from mmstudio.store import Store
    from mmstudio.training import checkpoints
    from mmstudio.training.inference import load_run

    db, summary = text_run
    assert summary["status"] == "completed" and summary["epochs"] == 1
    doc = _show(summary["run_id"], db, capsys)
    encoder = doc["spec"]["text_encoder"]
    assert encoder["name"] == "hf" and encoder["finetune"] == "frozen"
    assert encoder["model"] == str(bert.resolve())
    assert encoder["revision"] == resolve(str(bert)).revision and encoder["revision"].startswith("sha256:")

    path = next(Path(a["path"]) for a in doc["artifacts"] if a["kind"] == "checkpoint")
    checkpoint = checkpoints.load_checkpoint(path)
    assert checkpoint.meta["tokenizer"]["kind"] == "hf"
    assert checkpoint.meta["tokenizer"]["revision"] == encoder["revision"]
    # frozen: the encoder's weights are left out of the checkpoint, and the run rebuilt from the model
    # folder has them as they were pretrained
    assert not any(k.startswith("text_encoder.model.") for k in checkpoint.model_state)
    pretrained = load_file(bert / "model.safetensors")
    with Store.open(db) as store:
        state = load_run(store, summary["run_id"]).model.state_dict()
    for key in ("embeddings.word_embeddings.weight", "encoder.layer.1.output.dense.weight"):
        assert f"text_encoder.model.{key}" in checkpoint.meta["frozen_state"]["keys"]
        assert (state[f"text_encoder.model.{key}"] == pretrained[key]).all(), key  # frozen: unchanged


def test_eval_and_export_rebuild_the_run(text_run, tmp_path, capsys):
    db, summary = text_run
    run_id = str(summary["run_id"])
    assert main(["eval", run_id, "--db", db, "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.0 <= result["metrics"]["accuracy"] <= 1.0
    out = tmp_path / "model.pt"
    assert main(["export", run_id, "--format", "torchscript", "-o", str(out), "--db", db]) == 0
    sidecar = json.loads((tmp_path / "model.pt.json").read_text())
    assert sidecar["tokenizer"]["kind"] == "hf"


def test_a_changed_model_is_refused_when_the_run_is_rebuilt(text_run, bert, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    db, summary = text_run
    weights = bert / "model.safetensors"
    saved = tmp_path / "model.safetensors"
    shutil.copy(weights, saved)
    state = load_file(weights)
    state["pooler.dense.bias"] = state["pooler.dense.bias"] + 1.0
    save_file(state, weights, metadata={"format": "pt"})
    try:
        capsys.readouterr()
        assert main(["eval", str(summary["run_id"]), "--db", db, "--quiet"]) == 2
        assert "trained with revision sha256:" in capsys.readouterr().err
    finally:
        shutil.copy(saved, weights)


def test_an_hf_image_encoder_takes_its_processors_size(small_demo, tiny_vit_dir, tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    args = ["--data", str(small_demo), "--text-encoder", "none", "--image-encoder", f"hf:{tiny_vit_dir}"]
    args += ["--finetune", "top:1", "--image-size", "64", "--epochs", "1", "--batch-size", "32"]
    summary = _train([*args, "--device", "cpu", "--db", db])
    assert summary["status"] == "completed"
    doc = _show(summary["run_id"], db, capsys)
    assert doc["spec"]["image_encoder"]["finetune"] == "top:1"
    assert doc["train_spec"]["image_size"] == 32  # the ViT's processor's, not the 64 asked for
    assert main(["eval", str(summary["run_id"]), "--db", db, "--quiet"]) == 0


def test_finetune_without_a_pretrained_encoder_is_a_usage_error(small_demo, tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    assert main(["train", "--data", str(small_demo), "--finetune", "full", "--db", db]) == 2
    assert "--finetune applies to pretrained encoders" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", str(small_demo), "--finetune", "top:0", "--db", db])
    assert exc.value.code == 2


def test_pretrained_names_a_torchvision_encoder(small_demo, tmp_path, capsys, monkeypatch):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    common = ["train", "--data", str(small_demo), "--db", db, "--quiet"]
    assert main([*common, "--pretrained"]) == 2
    assert "--pretrained starts a torchvision image encoder" in capsys.readouterr().err
    assert main([*common, "--image-encoder", "resnet18", "--pretrained", "--finetune", "frozen"]) == 2
    err = capsys.readouterr().err
    assert "no pretrained resnet18 weights found" in err and "mmstudio never downloads" in err
    assert main([*common, "--image-encoder", "resnet18", "--pretrained", "--finetune", "lora"]) == 2
    assert "a torchvision one is frozen or full" in capsys.readouterr().err


def test_a_stopped_fine_tuning_run_resumes_with_its_tokenizer_and_optimiser_groups(
    make_job, bert, tiny_vit_dir, tmp_path
):
    from mmstudio.training import events as ev
    from mmstudio.training.resume import resume_job
    from mmstudio.training.runner import TrainingControl, run_job

    db = f"sqlite:///{tmp_path / 'runs.db'}"
    model = {
        "task": "classification",
        "text_encoder": {"name": "hf", "model": str(bert), "finetune": "full"},
        "image_encoder": {"name": "hf", "model": str(tiny_vit_dir), "finetune": "top:1"},
        "fusion": {"name": "concat"},
        "head": {"name": "mlp", "hidden": 16},
    }
    control = TrainingControl()

    def stop_at_step_8(event):
        if isinstance(event, ev.MetricsLogged) and any(p[1] >= 8 for p in event.points):
            control.stop()

    first = run_job(make_job(db, model=model, epochs=3), on_event=stop_at_step_8, control=control)
    assert first.status == "cancelled", first.message
    job = resume_job(first.run_id, db_url=db)
    assert job.model["text_encoder"]["revision"].startswith("sha256:")
    result = run_job(job)
    assert result.status == "completed", result.message
    assert result.run_id == first.run_id and result.steps == 18
