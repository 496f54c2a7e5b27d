"""Validation explains the choices the model builder must flag before training: a modality the
dataset lacks, images too small for the encoder, and a width the fusion cannot accept."""

from __future__ import annotations

import pytest

from mmstudio.models import ModelContext, ModelSpec, preset_spec


def errors(spec: ModelSpec, ctx: ModelContext) -> list[tuple[str, str]]:
    return [(i.component, i.message) for i in spec.validate(ctx) if i.level == "error"]


def test_an_encoder_for_a_modality_the_dataset_lacks_is_an_error():
    no_images = ModelContext(vocab_size=50, num_outputs=3, image_size=32, max_len=8, has_image=False)
    found = errors(preset_spec("early_concat"), no_images)
    assert found == [
        (
            "image_encoder",
            "the dataset has no images, so the small_cnn encoder has nothing to read: set image "
            "encoder to none for a text-only model",
        )
    ]
    assert errors(preset_spec("text_only"), no_images) == []

    no_text = ModelContext(vocab_size=50, num_outputs=3, image_size=32, max_len=8, has_text=False)
    found = errors(preset_spec("gated"), no_text)
    assert [c for c, _ in found] == ["text_encoder"]
    assert "the dataset has no texts" in found[0][1] and "for an image-only model" in found[0][1]
    assert errors(preset_spec("image_only"), no_text) == []


@pytest.mark.parametrize("known", [None, True])
def test_unknown_or_present_modalities_are_not_flagged(known):
    ctx = ModelContext(
        vocab_size=50, num_outputs=3, image_size=32, max_len=8, has_text=known, has_image=known
    )
    assert errors(preset_spec("early_concat"), ctx) == []


def test_images_too_small_for_the_encoder_are_an_error():
    ctx = ModelContext(vocab_size=50, num_outputs=3, image_size=16, max_len=8)
    spec = ModelSpec.from_dict({**preset_spec("image_only").to_dict(), "image_encoder": "resnet18"})
    assert [c for c, _ in errors(spec, ctx)] == ["image_encoder"]


def test_a_width_the_fusion_cannot_accept_is_an_error():
    spec = preset_spec("cross_attention").to_dict()
    spec["fusion"].update(dim=100, heads=8)
    ctx = ModelContext(vocab_size=50, num_outputs=3, image_size=32, max_len=8)
    assert errors(ModelSpec.from_dict(spec), ctx) == [
        ("fusion", "cross_attention: dim 100 must be divisible by heads 8")
    ]
