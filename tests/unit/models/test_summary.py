"""summarize(): shapes and parameter counts from the meta device, equal to the real model's."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from mmstudio.models import ModelContext, ModelSpec, SpecError, build_model, preset_spec, summarize

CASES = {
    "default": {"text_encoder": "textcnn", "image_encoder": "small_cnn", "fusion": "concat"},
    "late": {"text_encoder": "bag", "image_encoder": "small_cnn", "fusion": "late"},
    "lstm_film": {"text_encoder": "lstm", "image_encoder": "small_cnn", "fusion": "film"},
    "transformer_cross": {
        "text_encoder": {"name": "transformer", "pooling": "cls"},
        "image_encoder": {"name": "resnet18", "freeze_backbone": True},
        "fusion": "cross_attention",
    },
    "text_only": {"text_encoder": "gru"},
}


@pytest.mark.parametrize("case", CASES)
def test_counts_match_the_built_model(case, tiny_ctx):
    spec = ModelSpec.from_dict({"task": "classification", **CASES[case]})
    summary = summarize(spec, tiny_ctx, batch_size=5)
    model = build_model(spec, tiny_ctx)
    assert summary.total_params == model.num_parameters()
    assert summary.trainable_params == model.num_parameters(trainable_only=True)
    assert sum(b.params for b in summary.blocks) == summary.total_params
    modules = {"text_encoder": model.text_encoder, "image_encoder": model.image_encoder,
               "fusion": model.fusion, "head": model.heads}  # fmt: skip
    for block in summary.blocks:
        assert block.params == sum(p.numel() for p in modules[block.name].parameters()), block.name
        assert block.component == getattr(model.spec, block.name)["name"]


def test_shapes_follow_the_batch_and_the_encoders(tiny_ctx):
    spec = ModelSpec.from_dict(
        {
            "task": "classification",
            "text_encoder": {"name": "textcnn", "filters": 10, "kernel_sizes": "3,4"},
            "image_encoder": {"name": "small_cnn", "width": 8, "blocks": 2},
            "fusion": "concat",
        }
    )
    summary = summarize(spec, tiny_ctx, batch_size=4)
    assert [b.name for b in summary.blocks] == ["text_encoder", "image_encoder", "fusion", "head"]
    text, image = summary.block("text_encoder"), summary.block("image_encoder")
    assert text.output_shape == (4, 20) and text.outputs["tokens"] == (4, 7, 20)
    # 32 px, stride 2 stem and 2 pooling blocks: an 4 × 4 map of 8·2·2 = 32 channels.
    assert image.output_shape == (4, 32) and image.outputs["tokens"] == (4, 16, 32)
    assert summary.block("fusion").output_shape == (4, 52)
    assert summary.block("head").output_shape == (4, 3)


def test_contrastive_and_late_blocks(tiny_ctx):
    spec = ModelSpec.from_dict(
        {
            "task": "contrastive",
            "text_encoder": "bag",
            "image_encoder": "small_cnn",
            "head": {"name": "projection", "dim": 12},
        }
    )
    summary = summarize(spec, tiny_ctx, batch_size=3)
    assert summary.block("fusion").outputs == {"text": (3, 128), "image": (3, 128)}
    assert summary.block("head").outputs == {
        "text_embedding": (3, 12),
        "image_embedding": (3, 12),
        "logit_scale": (),
    }
    late = summarize(preset_spec("late_fusion"), tiny_ctx, batch_size=3)
    assert late.block("head").outputs["logits_image"] == (3, 3)
    assert late.block("fusion").params == 2  # the two modality weights


def test_memory_estimate_adds_up_and_grows_with_the_batch(tiny_ctx):
    spec = preset_spec("early_concat")
    small, big = summarize(spec, tiny_ctx, batch_size=2), summarize(spec, tiny_ctx, batch_size=64)
    assert small.param_bytes == 4 * small.total_params
    assert small.grad_bytes == 4 * small.trainable_params
    assert small.optimizer_bytes == 2 * small.grad_bytes  # AdamW's two moments
    assert (
        small.memory_bytes
        == small.param_bytes + small.grad_bytes + small.optimizer_bytes + small.activation_bytes
    )
    assert 0 < small.activation_bytes < big.activation_bytes
    assert big.to_dict()["memory_bytes"] == big.memory_bytes


def test_frozen_weights_need_no_gradient_or_optimizer_memory(tiny_ctx):
    spec = ModelSpec.from_dict(
        {"task": "classification", "image_encoder": {"name": "mobilenet_v3_small", "freeze_backbone": True}}
    )
    summary = summarize(spec, tiny_ctx)
    assert summary.trainable_params < summary.total_params
    assert summary.block("image_encoder").trainable_params == 0
    assert summary.grad_bytes == 4 * summary.trainable_params


def test_invalid_specs_raise_and_warnings_are_kept(tiny_ctx):
    with pytest.raises(SpecError, match="both encoders are none"):
        summarize({"task": "classification"}, tiny_ctx)
    spec = ModelSpec.from_dict({"task": "classification", "image_encoder": "resnet18"})
    assert any("final feature map is 1×1" in w.message for w in summarize(spec, tiny_ctx).warnings)


def test_resnet50_is_summarised_fast_without_allocating():
    """Fast enough for a GUI to call on every form change: ~0.25 s on 2 CPU cores. The bound is loose
    so a busy machine does not fail it; it still catches real weights (building ResNet-50 and running
    a 256 × 224 px batch takes far longer)."""
    ctx = ModelContext(vocab_size=30000, num_outputs=10, image_size=224, max_len=64)
    spec = ModelSpec.from_dict(
        {"task": "classification", "text_encoder": "transformer", "image_encoder": "resnet50",
         "fusion": "cross_attention"}
    )  # fmt: skip
    summarize(spec, ctx)  # the first call imports torchvision
    best = min(_timed(lambda: summarize(spec, ctx, batch_size=256)) for _ in range(3))
    assert best < 2.0
    summary = summarize(spec, ctx, batch_size=256)
    assert summary.block("image_encoder").outputs["tokens"] == (256, 49, 2048)
    assert summary.memory_bytes > 10 * 2**30  # tens of GiB estimated, none allocated


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_importing_models_loads_neither_torchvision_nor_qt():
    code = (
        "import sys, mmstudio.models\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'torchvision', 'PySide6', 'shiboken6', 'pyqtgraph', 'transformers'})\n"
        "assert not heavy, heavy\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_frozen_parts_take_no_gradients_optimizer_state_or_kept_activations(tiny_ctx, tiny_bert_dir):
    def summary(finetune: str):
        text = {"name": "hf", "model": str(tiny_bert_dir), "finetune": finetune}
        spec = {"task": "classification", "text_encoder": text, "image_encoder": "none", "fusion": "none"}
        return summarize(ModelSpec.from_dict(spec), tiny_ctx, batch_size=4)

    frozen, full = summary("frozen"), summary("full")
    assert frozen.total_params == full.total_params
    assert frozen.block("text_encoder").trainable_params == 0
    head = frozen.block("head").params
    assert frozen.grad_bytes == 4 * head and frozen.optimizer_bytes == 2 * 4 * head
    assert full.grad_bytes == 4 * full.total_params
    assert frozen.activation_bytes < full.activation_bytes
