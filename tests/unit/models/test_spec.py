"""ModelSpec: JSON round trips, defaults filled in, and validation that explains itself."""

from __future__ import annotations

import json

import pytest

from mmstudio.models import (
    PRESETS,
    TASKS,
    ModelContext,
    ModelSpec,
    SpecError,
    build_model,
    default_spec,
    preset_spec,
)


def spec(task: str = "classification", **parts) -> ModelSpec:
    return ModelSpec.from_dict({"task": task, **parts})


def messages(s: ModelSpec, ctx: ModelContext, level: str = "error") -> list[str]:
    return [f"{i.component}: {i.message}" for i in s.validate(ctx) if i.level == level]


# --- serialisation ---------------------------------------------------------------------------------


def _all_default_specs():
    for task in TASKS:
        yield pytest.param(default_spec(task), id=f"default-{task}")
    for name in PRESETS:
        yield pytest.param(preset_spec(name), id=f"preset-{name}")


@pytest.mark.parametrize("s", list(_all_default_specs()))
def test_json_round_trip_is_exact(s):
    text = s.to_json()
    again = ModelSpec.from_json(text)
    assert again == s
    assert again.to_json() == text
    assert ModelSpec.from_dict(json.loads(text)).to_dict() == s.to_dict()


def test_missing_params_are_filled_with_registry_defaults():
    s = spec(text_encoder={"name": "textcnn", "filters": 32})
    assert s.text_encoder == {"name": "textcnn", "embed_dim": 128, "kernel_sizes": "3,4,5", "filters": 32}
    assert s.image_encoder == {"name": "none"}
    assert s.fusion == {"name": "none"}  # one modality: no fusion
    assert s.head == {"name": "mlp", "hidden": 256, "dropout": 0.1, "label_smoothing": 0.0}


def test_missing_components_take_sensible_defaults():
    both = spec(text_encoder="bag", image_encoder="small_cnn")
    assert both.fusion == {"name": "concat"}
    retrieval = spec("contrastive", text_encoder="bag", image_encoder="small_cnn")
    assert retrieval.fusion == {"name": "none"}
    assert retrieval.head["name"] == "projection"


def test_components_keep_a_stable_order_and_floats_stay_floats():
    s = spec(head={"dropout": 0, "name": "mlp", "hidden": 64})
    assert list(s.head) == ["name", "hidden", "dropout", "label_smoothing"]
    assert isinstance(s.head["dropout"], float)
    assert '"dropout": 0.0' in s.to_json()


def test_resolved_completes_a_component_replaced_in_place():
    s = default_spec()
    s.fusion = {"name": "lmf"}
    assert s.resolved().fusion == {"name": "lmf", "dim": 256, "rank": 4}


def test_unknown_names_and_params_are_kept_for_validation_to_report(tiny_ctx):
    s = spec(text_encoder={"name": "textcnnn"}, image_encoder={"name": "small_cnn", "depth": 3})
    assert s.text_encoder == {"name": "textcnnn"}
    assert s.image_encoder["depth"] == 3
    errors = messages(s, tiny_ctx)
    assert any("unknown text encoder 'textcnnn'; choose one of: none, bag, textcnn" in m for m in errors)
    assert any("small_cnn has no parameter(s) depth; its parameters: width, blocks" in m for m in errors)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([], "must be a JSON object"),
        ({"text_encoder": "bag"}, "needs a task"),
        ({"task": "classification", "text_encoder": {"embed_dim": 3}}, "must be an object with a name"),
        ({"task": "classification", "optimizer": "adamw"}, "unknown key(s) optimizer"),
    ],
)
def test_structural_problems_raise_at_once(data, problem):
    with pytest.raises(SpecError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        ModelSpec.from_dict(data)


def test_invalid_json_raises_spec_error():
    with pytest.raises(SpecError, match="not valid JSON"):
        ModelSpec.from_json("{task: classification")


# --- validation ------------------------------------------------------------------------------------


def test_defaults_and_presets_are_valid(tiny_ctx):
    for task in TASKS:
        assert messages(default_spec(task), tiny_ctx) == [], task
    for name in PRESETS:
        assert messages(preset_spec(name), tiny_ctx) == [], name


def test_unknown_task_lists_the_tasks(tiny_ctx):
    assert messages(spec("segmentation", text_encoder="bag"), tiny_ctx) == [
        "task: unknown task 'segmentation'; "
        "choose one of: classification, multilabel, regression, contrastive"
    ]


def test_out_of_range_and_wrongly_typed_params(tiny_ctx):
    s = spec(text_encoder={"name": "textcnn", "filters": 0, "kernel_sizes": "3,x"}, image_encoder="small_cnn")
    errors = messages(s, tiny_ctx)
    assert "text_encoder: textcnn.filters: 0 is below the minimum 4" in errors
    s = spec(text_encoder={"name": "transformer", "pooling": "sum", "dropout": "high"})
    errors = messages(s, tiny_ctx)
    assert "text_encoder: transformer.pooling: 'sum' is not one of 'mean', 'cls'" in errors
    assert "text_encoder: transformer.dropout: expected a number, got 'high'" in errors


def test_entry_specific_checks(tiny_ctx):
    s = spec(text_encoder={"name": "textcnn", "kernel_sizes": "3,x"})
    assert any("kernel_sizes" in m and "comma-separated" in m for m in messages(s, tiny_ctx))
    s = spec(text_encoder={"name": "transformer", "width": 100, "heads": 3})
    assert "text_encoder: transformer: width 100 must be divisible by heads 3" in messages(s, tiny_ctx)
    s = spec(
        text_encoder="bag",
        image_encoder="small_cnn",
        fusion={"name": "cross_attention", "dim": 30, "heads": 4},
    )
    assert "fusion: cross_attention: dim 30 must be divisible by heads 4" in messages(s, tiny_ctx)


@pytest.mark.parametrize("fusion", ["concat", "cross_attention", "film", "late", "gated"])
def test_a_fusion_with_one_modality_missing_is_explained(fusion, tiny_ctx):
    errors = messages(spec(text_encoder="bag", image_encoder="none", fusion=fusion), tiny_ctx)
    assert errors == [
        f"fusion: {fusion} fusion combines text with images, but the image encoder is none: set fusion "
        "to none for a text-only model, or choose an image encoder"
    ]


def test_no_fusion_with_both_encoders_is_explained(tiny_ctx):
    errors = messages(spec(text_encoder="bag", image_encoder="small_cnn", fusion="none"), tiny_ctx)
    assert len(errors) == 1 and "choose how to fuse them (concat is the simplest)" in errors[0]


def test_a_model_needs_an_encoder(tiny_ctx):
    errors = messages(spec(text_encoder="none", image_encoder="none"), tiny_ctx)
    assert errors == ["model: a model needs at least one encoder, but both encoders are none"]


def test_contrastive_needs_both_encoders_and_no_fusion(tiny_ctx):
    errors = messages(
        spec("contrastive", text_encoder="bag", image_encoder="small_cnn", fusion="concat"), tiny_ctx
    )
    assert len(errors) == 1 and "so it takes no fusion: set fusion to none instead of concat" in errors[0]
    errors = messages(spec("contrastive", text_encoder="bag"), tiny_ctx)
    assert len(errors) == 1 and "needs both encoders; choose an image encoder" in errors[0]


def test_heads_must_serve_the_task(tiny_ctx):
    errors = messages(spec(text_encoder="bag", head="projection"), tiny_ctx)
    assert errors == ["head: the projection head does not serve classification; use one of: linear, mlp"]
    errors = messages(
        spec("contrastive", text_encoder="bag", image_encoder="small_cnn", head="mlp"), tiny_ctx
    )
    assert errors == ["head: the mlp head does not serve contrastive; use one of: projection"]


def test_image_size_too_small_is_an_error_and_small_is_a_warning():
    tiny_images = ModelContext(vocab_size=50, num_outputs=3, image_size=16, max_len=8)
    errors = messages(spec(image_encoder="resnet18"), tiny_images)
    assert (
        len(errors) == 1
        and "resnet18 downsamples 32×, so it needs images of at least 32 px, not 16 px" in errors[0]
    )
    errors = messages(spec(image_encoder={"name": "small_cnn", "blocks": 4}), tiny_images)
    assert len(errors) == 1 and "images of 16 px are too small for 4 blocks" in errors[0]
    small = ModelContext(vocab_size=50, num_outputs=3, image_size=32, max_len=8)
    s = spec(image_encoder="resnet18")
    assert messages(s, small) == []
    assert any("final feature map is 1×1" in m for m in messages(s, small, "warning"))


def test_risky_choices_warn(tiny_ctx):
    s = spec(text_encoder="bag", image_encoder="small_cnn", fusion={"name": "tensor", "dim": 100})
    warnings = messages(s, tiny_ctx, "warning")
    assert any("(dim + 1)² = 10201 features" in m for m in warnings)
    s = spec(text_encoder={"name": "lstm", "dropout": 0.3})
    assert any("does nothing with layers = 1" in m for m in messages(s, tiny_ctx, "warning"))
    s = spec("regression", text_encoder="bag", head={"name": "mlp", "label_smoothing": 0.1})
    assert messages(s, tiny_ctx, "warning") == [
        "head: label_smoothing applies to classification; regression ignores it"
    ]


def test_context_problems(tiny_ctx):
    one_class = ModelContext(vocab_size=50, num_outputs=1, image_size=32, max_len=8)
    assert any("at least 2 classes" in m for m in messages(spec(text_encoder="bag"), one_class))
    weighted = ModelContext(vocab_size=50, num_outputs=3, image_size=32, max_len=8, class_weights=[1.0, 2.0])
    assert "context: there are 2 class weights for 3 classes" in messages(spec(text_encoder="bag"), weighted)
    no_vocab = ModelContext(vocab_size=1, num_outputs=3, image_size=32, max_len=8)
    assert any("needs at least <pad> and <unk>" in m for m in messages(spec(text_encoder="bag"), no_vocab))


def test_class_weights_are_stored_as_a_tuple():
    import torch

    ctx = ModelContext(
        vocab_size=5, num_outputs=2, image_size=32, max_len=4, class_weights=torch.tensor([1, 3])
    )
    assert ctx.class_weights == (1.0, 3.0)


def test_errors_come_before_warnings(tiny_ctx):
    s = spec(text_encoder={"name": "lstm", "dropout": 0.3, "hidden": 0})
    levels = [i.level for i in s.validate(tiny_ctx)]
    assert levels == sorted(levels, key=["error", "warning"].index)


def test_build_model_raises_every_error_at_once(tiny_ctx):
    s = spec(text_encoder={"name": "textcnn", "filters": 0}, image_encoder="none", fusion="concat")
    with pytest.raises(SpecError) as info:
        build_model(s, tiny_ctx)
    text = str(info.value)
    assert text.startswith("the model spec has 2 errors:")
    assert "textcnn.filters: 0 is below the minimum 4" in text
    assert "concat fusion combines text with images" in text
    assert isinstance(info.value, ValueError)
    assert [i.level for i in info.value.issues] == ["error", "error"]


def test_default_spec_fits_the_dataset():
    s = default_spec("classification", has_text=True, has_image=True)
    assert (s.text_encoder["name"], s.image_encoder["name"], s.fusion["name"], s.head["name"]) == (
        "textcnn", "small_cnn", "concat", "mlp",
    )  # fmt: skip
    assert default_spec("classification", has_text=False).fusion["name"] == "none"
    assert default_spec("contrastive").head["name"] == "projection"
    with pytest.raises(ValueError, match="unknown task"):
        default_spec("ranking")
