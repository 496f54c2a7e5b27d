"""Every registered torchvision image encoder starts from the weights its enum lists (DEFAULT and the
others), and then takes those weights' own preprocessing (crop size, mean and std): a run records the
exact weights and the size, logs where they came from, and eval and export rebuild the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchvision
from torchvision.models import get_model_weights

from mmstudio.models import ModelSpec
from mmstudio.models.image import BACKBONES, DEFAULT_WEIGHTS, find_pretrained_file, weights_input
from mmstudio.models.pretrained import image_input, pin_revisions
from mmstudio.training import events as ev
from mmstudio.training.preflight import describe_image_input, model_inputs
from mmstudio.training.spec import TrainSpec

CASES = [(name, weights) for name, b in BACKBONES.items() for weights in (DEFAULT_WEIGHTS, *b.weights)]


@pytest.fixture(autouse=True)
def torch_home(tmp_path, monkeypatch) -> Path:
    """A temporary torch hub cache: never the real one."""
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    (home / "hub" / "checkpoints").mkdir(parents=True)
    return home


def checkpoints(home: Path) -> Path:
    return home / "hub" / "checkpoints"


def member_of(name: str, weights: str):
    enum = get_model_weights(name)
    return enum.DEFAULT if weights == DEFAULT_WEIGHTS else enum[weights]


def save_weights(home: Path, name: str, weights: str = DEFAULT_WEIGHTS, *, seed: int = 7) -> Path:
    """Randomly initialised ``name`` weights saved under the file name torchvision's enum gives them."""
    torch.manual_seed(seed)
    member = member_of(name, weights)
    path = checkpoints(home) / member.url.rsplit("/", 1)[-1]
    torch.save(torchvision.models.get_model(name, weights=None).state_dict(), path)
    return path


def spec_of(name: str, **params) -> ModelSpec:
    return ModelSpec.from_dict(
        {"task": "classification", "image_encoder": {"name": name, "pretrained": True, **params}}
    )


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_each_backbone_lists_the_weights_its_enum_lists(name):
    assert BACKBONES[name].weights == tuple(w.name for w in get_model_weights(name))
    choices = ModelSpec.from_dict({"task": "classification", "image_encoder": name}).image_encoder
    assert choices["weights"] == DEFAULT_WEIGHTS and choices["preprocessing"] == "weights"


@pytest.mark.parametrize(("name", "weights"), CASES)
def test_each_weights_bring_their_own_preprocessing(name, weights):
    member = member_of(name, weights)
    preset = member.transforms()
    spec = spec_of(name, weights=weights)
    wanted = image_input(spec)
    assert wanted["size"] == preset.crop_size[0] == 224
    assert wanted["resize"] == preset.resize_size[0]
    assert wanted["mean"] == pytest.approx(preset.mean) and wanted["std"] == pytest.approx(preset.std)
    assert wanted["source"] == f"{name} {member.name}"

    train, _tokenizer, norm = model_inputs(spec, TrainSpec(image_size=64))
    assert train.image_size == 224 and norm == (wanted["mean"], wanted["std"])
    line = describe_image_input(spec, train)
    assert line == f"image preprocessing from {name} {member.name}: 224 px, ImageNet mean/std"


def test_the_run_can_keep_its_own_image_size():
    spec = spec_of("resnet18", preprocessing="run")
    train, _tokenizer, norm = model_inputs(spec, TrainSpec(image_size=96))
    assert train.image_size == 96 and norm is not None  # the weights' mean and std still
    assert describe_image_input(spec, train) == (
        "image preprocessing from resnet18 IMAGENET1K_V1: 96 px (the run's image size), ImageNet mean/std"
    )


def test_without_pretrained_weights_the_generic_preprocessing_stays():
    spec = ModelSpec.from_dict({"task": "classification", "image_encoder": "resnet18"})
    assert image_input(spec) is None
    assert model_inputs(spec, TrainSpec(image_size=64))[0].image_size == 64
    assert describe_image_input(spec, TrainSpec()) == ""


def test_named_weights_load_only_their_own_file(torch_home, tiny_ctx):
    v1 = save_weights(torch_home, "resnet50", "IMAGENET1K_V1")
    assert find_pretrained_file("resnet50", weights="IMAGENET1K_V1") == v1
    assert find_pretrained_file("resnet50") == v1  # DEFAULT (V2) missing: any of its weights here serve
    with pytest.raises(FileNotFoundError) as info:
        find_pretrained_file("resnet50", weights="IMAGENET1K_V2")
    assert "mmstudio models pull torchvision:resnet50.IMAGENET1K_V2" in str(info.value)
    errors = spec_of("resnet50", weights="IMAGENET1K_V2").errors(tiny_ctx)
    assert "resnet50-11ad3fa6.pth" in errors[0].message


def test_a_run_records_the_exact_weights_default_stands_for(torch_home):
    request = {"task": "classification", "image_encoder": {"name": "resnet50", "pretrained": True}}
    assert pin_revisions(request)["image_encoder"]["weights"] == "IMAGENET1K_V2"  # none here: the default
    save_weights(torch_home, "resnet50", "IMAGENET1K_V1")
    pinned = pin_revisions(request)["image_encoder"]
    assert pinned["weights"] == "IMAGENET1K_V1"  # the file found here, which the model loads
    assert weights_input("resnet50", "IMAGENET1K_V1")["resize"] == 256
    # not pretrained: nothing to pin
    assert "weights" not in pin_revisions({"image_encoder": {"name": "resnet50"}})["image_encoder"]


def test_a_run_trains_evaluates_and_exports_with_the_weights_preprocessing(
    torch_home, tmp_path, make_job, small_demo
):
    from mmstudio.store import Store
    from mmstudio.training.inference import evaluate_run, export_run, load_run
    from mmstudio.training.runner import run_job

    save_weights(torch_home, "mobilenet_v3_small")
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    model = {
        "task": "classification",
        "text_encoder": "none",
        "image_encoder": {"name": "mobilenet_v3_small", "pretrained": True, "freeze_backbone": True},
        "head": {"name": "linear"},
    }
    logged: list[str] = []
    job = make_job(db_url, model=model, epochs=1, batch_size=64, image_size=32)
    result = run_job(job, on_event=lambda e: isinstance(e, ev.LogMessage) and logged.append(e.message))
    assert result.status == "completed", result
    line = "image preprocessing from mobilenet_v3_small IMAGENET1K_V1: 224 px, ImageNet mean/std"
    assert line in logged

    with Store.open(db_url) as store:
        run = store.get_run(result.run_id)
        assert run.train_spec["image_size"] == 224  # the demo's 32 px images, taken at 224
        assert run.spec["image_encoder"]["weights"] == "IMAGENET1K_V1"
        loaded = load_run(store, result.run_id)
        assert loaded.train.image_size == 224
        # the frozen pretrained backbone is left out of the checkpoints and rebuilt from the weights file
        from mmstudio.training.checkpoints import load_checkpoint

        saved = load_checkpoint(store.run_dir(result.run_id) / "best").model_state
        assert not any(k.startswith("image_encoder.backbone.") for k in saved) and saved

    from mmstudio.data.spec import DatasetSpec

    dataset = DatasetSpec(str(small_demo), check_images="header").load()
    evaluated = evaluate_run(result.run_id, dataset, split="test", db_url=db_url)
    assert evaluated["metrics"]["accuracy"] == pytest.approx(result.metrics["test/accuracy"])

    out = export_run(result.run_id, "torchscript", tmp_path / "model.pt", db_url=db_url)
    sidecar = json.loads(out.with_name(out.name + ".json").read_text(encoding="utf-8"))
    assert sidecar["train"]["image_size"] == 224
    assert sidecar["image_normalisation"]["mean"] == pytest.approx([0.485, 0.456, 0.406])


def test_a_run_recorded_before_the_weights_brought_their_preprocessing_resumes_at_its_size(
    torch_home, tmp_path, make_job
):
    """A stored spec without ``weights`` and ``preprocessing`` trained at the run's image size: resumed,
    it goes on at that size (the log says so), not at the weights' 224 px."""
    from mmstudio.store import Store
    from mmstudio.training.control import TrainingControl
    from mmstudio.training.resume import resume_job
    from mmstudio.training.runner import run_job

    save_weights(torch_home, "mobilenet_v3_small")
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    model = {
        "task": "classification",
        "text_encoder": "none",
        "image_encoder": {
            "name": "mobilenet_v3_small",
            "pretrained": True,
            "freeze_backbone": True,
            "preprocessing": "run",
        },
        "head": {"name": "linear"},
    }
    control = TrainingControl()

    def stop_in_epoch_two(event):
        if isinstance(event, ev.MetricsLogged) and any(p[1] >= 8 for p in event.points):
            control.stop()

    first = run_job(make_job(db_url, model=model, epochs=3), on_event=stop_in_epoch_two, control=control)
    assert first.status == "cancelled", first
    with Store.open(db_url) as store:
        manifest = store.run_dir(first.run_id) / "last.json"
    document = json.loads(manifest.read_text(encoding="utf-8"))
    for key in ("weights", "preprocessing"):  # as stored before they existed
        del document["meta"]["model"]["image_encoder"][key]
    manifest.write_text(json.dumps(document), encoding="utf-8")

    logged: list[str] = []
    job = resume_job(first.run_id, db_url=db_url)
    result = run_job(job, on_event=lambda e: isinstance(e, ev.LogMessage) and logged.append(e.message))
    assert result.status == "completed", result
    assert (
        "image preprocessing from mobilenet_v3_small IMAGENET1K_V1: 32 px (the run's image size), "
        "ImageNet mean/std" in logged
    )
    with Store.open(db_url) as store:
        assert store.get_run(first.run_id).train_spec["image_size"] == 32
