"""Completing partial model requests (the command line's and job files') for a dataset."""

import pytest

from mmstudio.models import PRESETS, ModelContext, SpecError, build_model, default_spec, resolve_spec


def test_empty_request_is_the_default_for_the_dataset():
    spec = resolve_spec({}, task="classification", has_text=True, has_image=False)
    assert spec == default_spec("classification", has_text=True, has_image=False)
    assert spec.image_encoder["name"] == "none" and spec.fusion["name"] == "none"


def test_an_encoder_set_to_none_drops_the_fusion():
    spec = resolve_spec({"image_encoder": "none"}, task="classification", has_text=True, has_image=True)
    assert spec.text_encoder["name"] == "textcnn" and spec.fusion["name"] == "none"


def test_components_override_a_preset_and_keep_their_params():
    spec = resolve_spec(
        {"preset": "gated", "text_encoder": {"name": "gru", "hidden": 32}},
        task="classification",
        has_text=True,
        has_image=True,
    )
    assert spec.fusion["name"] == "gated"
    assert spec.text_encoder["name"] == "gru" and spec.text_encoder["hidden"] == 32
    assert "layers" in spec.text_encoder  # defaults filled from the registry


def test_every_preset_resolves():
    for name in PRESETS:
        spec = resolve_spec({"preset": name}, task="classification", has_text=True, has_image=True)
        assert spec.task == "classification"


def test_task_in_the_request_wins_and_contrastive_has_no_fusion():
    spec = resolve_spec({"task": "contrastive"}, task="classification", has_text=True, has_image=True)
    assert spec.task == "contrastive" and spec.fusion["name"] == "none"


def test_unknown_keys_and_names_are_explained():
    with pytest.raises(ValueError, match="unknown model spec key"):
        resolve_spec({"encoder": "x"}, task="classification", has_text=True, has_image=True)
    spec = resolve_spec({"text_encoder": "nope"}, task="classification", has_text=True, has_image=True)
    with pytest.raises(SpecError, match="textcnn"):  # the message lists what exists
        build_model(spec, ModelContext(vocab_size=10, num_outputs=2, image_size=32, max_len=8))
