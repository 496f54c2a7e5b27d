"""Pretrained image weights come from local files only, and say clearly where they looked."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from mmstudio.models import IMAGE_ENCODERS, ModelSpec, SpecError, build_model
from mmstudio.models.image import hub_file_names, load_state_dict_file


@pytest.fixture(autouse=True)
def empty_torch_home(tmp_path, monkeypatch) -> Path:
    """Never look at (or depend on) the real torch hub cache."""
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


def image_spec(**image) -> ModelSpec:
    return ModelSpec.from_dict({"task": "classification", "image_encoder": {"name": "resnet18", **image}})


def reference_resnet18() -> torch.nn.Module:
    torch.manual_seed(123)  # different from the model under test's seed
    return torchvision.models.resnet18(weights=None)


def assert_backbone_has(model, reference) -> None:
    """The encoder's body holds the reference's weights, classifier aside (same order of tensors)."""
    ours = list(model.image_encoder.backbone.state_dict().values())
    theirs = [v for k, v in reference.state_dict().items() if not k.startswith("fc.")]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_pretrained_weights_from_a_local_file(suffix, tmp_path, tiny_ctx):
    reference = reference_resnet18()
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".safetensors":
        save_file(reference.state_dict(), str(path))
    else:
        torch.save(reference.state_dict(), path)
    model = build_model(image_spec(pretrained=True, weights_path=str(path)), tiny_ctx)
    assert_backbone_has(model, reference)


def test_pretrained_weights_from_the_torch_hub_cache(empty_torch_home, tiny_ctx):
    reference = reference_resnet18()
    checkpoints = empty_torch_home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(reference.state_dict(), checkpoints / "resnet18-f37072fd.pth")
    model = build_model(image_spec(pretrained=True), tiny_ctx)
    assert_backbone_has(model, reference)


def test_hub_file_names_come_from_torchvision_without_downloading():
    assert hub_file_names("resnet18") == ["resnet18-f37072fd.pth"]
    assert hub_file_names("resnet50")[0] == "resnet50-11ad3fa6.pth"  # the default (V2) first
    assert len(hub_file_names("resnet50")) == 2


def test_no_local_weights_is_a_clear_error(empty_torch_home, tiny_ctx):
    with pytest.raises(SpecError) as info:
        build_model(image_spec(pretrained=True), tiny_ctx)
    text = str(info.value)
    assert "no pretrained resnet18 weights found: looked for resnet18-f37072fd.pth in" in text
    assert str(empty_torch_home / "hub" / "checkpoints") in text
    assert "never downloads" in text and "set weights_path" in text
    with pytest.raises(FileNotFoundError, match=r"resnet18-f37072fd\.pth"):  # the builder alone, too
        IMAGE_ENCODERS.build("resnet18", ctx=tiny_ctx, pretrained=True)


def test_a_missing_weights_path_is_a_clear_error(tmp_path, tiny_ctx):
    missing = tmp_path / "nope.pth"
    with pytest.raises(SpecError, match=f"weights_path {missing} does not exist"):
        build_model(image_spec(pretrained=True, weights_path=str(missing)), tiny_ctx)
    errors = image_spec(pretrained=True, weights_path=str(tmp_path / "w.onnx")).errors(tiny_ctx)
    assert "weights_path must be a .pth, .pt, .bin, .safetensors file" in errors[0].message


def test_weights_of_another_model_are_refused(tmp_path, tiny_ctx):
    path = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match="does not hold resnet18 weights"):
        build_model(image_spec(pretrained=True, weights_path=str(path)), tiny_ctx)


def test_checkpoint_wrappers_are_unwrapped(tmp_path):
    state = {"conv.weight": torch.ones(2)}
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    assert load_state_dict_file(path).keys() == state.keys()


def test_weights_path_without_pretrained_warns(tmp_path, tiny_ctx):
    s = image_spec(weights_path=str(tmp_path / "x.pth"), freeze_backbone=True)
    warnings = [i.message for i in s.validate(tiny_ctx) if i.level == "warning"]
    assert any("weights_path is ignored unless pretrained is on" in w for w in warnings)
    assert any("freezes random features" in w for w in warnings)
