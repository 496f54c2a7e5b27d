"""MultimodalModel per task: outputs, losses, unimodal baselines, late fusion, contrastive loss."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from mmstudio.models import (
    ModelContext,
    ModelSpec,
    MultimodalModel,
    build_model,
    contrastive_loss,
    default_spec,
    example_batch,
    preset_spec,
)
from mmstudio.models.heads import INIT_LOGIT_SCALE

SMALL = {
    "text_encoder": {"name": "bag", "embed_dim": 16},
    "image_encoder": {"name": "small_cnn", "width": 4, "blocks": 2},
    "head": {"name": "mlp", "hidden": 16},
}


def spec(task: str = "classification", **parts) -> ModelSpec:
    return ModelSpec.from_dict({"task": task, **SMALL, **parts})


def test_model_keeps_its_complete_spec_and_context(tiny_ctx):
    model = build_model({"task": "classification", "text_encoder": "bag"}, tiny_ctx)
    assert isinstance(model, MultimodalModel)
    assert model.spec == ModelSpec.from_dict({"task": "classification", "text_encoder": "bag"})
    assert model.spec.text_encoder == {"name": "bag", "embed_dim": 128, "pooling": "mean"}
    assert model.ctx == tiny_ctx


def test_classification_outputs_logits_and_cross_entropy(tiny_ctx):
    model = build_model(spec(), tiny_ctx)
    batch = example_batch(model.spec, tiny_ctx, 4)
    out = model(batch)
    assert set(out) == {"logits"} and out["logits"].shape == (4, 3)
    torch.testing.assert_close(model.loss(out, batch), F.cross_entropy(out["logits"], batch["target"]))


def test_class_weights_and_label_smoothing_reach_the_loss():
    ctx = ModelContext(vocab_size=50, num_outputs=3, image_size=32, max_len=7, class_weights=[1.0, 2.0, 0.5])
    model = build_model(spec(head={"name": "linear", "label_smoothing": 0.2}), ctx)
    batch = example_batch(model.spec, ctx, 6)
    out = model(batch)
    expected = F.cross_entropy(
        out["logits"], batch["target"], weight=torch.tensor([1.0, 2.0, 0.5]), label_smoothing=0.2
    )
    torch.testing.assert_close(model.loss(out, batch), expected)
    assert "class_weights" not in model.state_dict()  # context, not a learned or saved weight


def test_multilabel_uses_binary_cross_entropy(tiny_ctx):
    model = build_model(spec("multilabel"), tiny_ctx)
    batch = example_batch(model.spec, tiny_ctx, 4)
    assert batch["target"].shape == (4, 3) and batch["target"].dtype == torch.float32
    out = model(batch)
    expected = F.binary_cross_entropy_with_logits(out["logits"], batch["target"])
    torch.testing.assert_close(model.loss(out, batch), expected)


def test_regression_outputs_one_prediction_per_item(tiny_ctx):
    model = build_model(spec("regression"), tiny_ctx)
    batch = example_batch(model.spec, tiny_ctx, 4)
    out = model(batch)
    assert set(out) == {"prediction"} and out["prediction"].shape == (4,)
    torch.testing.assert_close(model.loss(out, batch), F.mse_loss(out["prediction"], batch["target"]))


def test_contrastive_outputs_normalised_embeddings_and_the_scale(tiny_ctx):
    model = build_model(spec("contrastive", head={"name": "projection", "dim": 8}), tiny_ctx)
    batch = example_batch(model.spec, tiny_ctx, 4)
    assert "target" not in batch and batch["group"].tolist() == [0, 1, 2, 3]
    out = model(batch)
    assert out["text_embedding"].shape == out["image_embedding"].shape == (4, 8)
    torch.testing.assert_close(out["text_embedding"].norm(dim=-1), torch.ones(4))
    torch.testing.assert_close(out["logit_scale"], torch.tensor(1 / 0.07))
    assert model.loss(out, batch).shape == ()


def test_logit_scale_is_capped_at_100(tiny_ctx):
    model = build_model(spec("contrastive", head={"name": "projection", "dim": 8}), tiny_ctx)
    with torch.no_grad():
        model.heads["contrastive"].log_logit_scale.fill_(10.0)
    out = model(example_batch(model.spec, tiny_ctx, 2))
    torch.testing.assert_close(out["logit_scale"], torch.tensor(100.0))


def test_a_fixed_temperature_is_not_learned(tiny_ctx):
    model = build_model(
        spec("contrastive", head={"name": "projection", "learn_temperature": False}), tiny_ctx
    )
    assert "heads.contrastive.log_logit_scale" not in dict(model.named_parameters())


def test_contrastive_loss_is_low_for_aligned_and_high_for_shuffled_pairs():
    emb = torch.eye(4)  # orthonormal: each text matches exactly one image
    scale = torch.tensor(math.exp(INIT_LOGIT_SCALE))
    assert contrastive_loss(emb, emb, scale) < 1e-3
    assert contrastive_loss(emb, emb[[1, 2, 3, 0]], scale) > 10


def test_same_group_pairs_are_not_negatives():
    """Two captions of one image (rows 0 and 1): without groups each of their rows sees its image
    twice, so the loss is (2/3)·log 2 however well aligned; with groups the duplicate is masked out."""
    text = F.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), dim=-1)
    image = text.clone()
    scale = torch.tensor(100.0)
    torch.testing.assert_close(contrastive_loss(text, image, scale), torch.tensor(math.log(2) * 2 / 3))
    assert contrastive_loss(text, image, scale, group=torch.tensor([7, 7, 8])) < 1e-6


@pytest.mark.parametrize("preset", ["text_only", "image_only"])
def test_unimodal_baselines_need_only_their_modality(preset, tiny_ctx):
    model = build_model(preset_spec(preset), tiny_ctx)
    batch = example_batch(model.spec, tiny_ctx, 3)
    if preset == "text_only":
        assert model.image_encoder is None and "image" not in batch
    else:
        assert model.text_encoder is None and "tokens" not in batch
    out = model(batch)
    assert out["logits"].shape == (3, 3)
    model.loss(out, batch).backward()


def test_late_fusion_weights_a_head_per_modality(tiny_ctx):
    model = build_model(spec(fusion="late"), tiny_ctx)
    assert set(model.heads) == {"text", "image"}
    with torch.no_grad():
        model.fusion.weight_logits.copy_(torch.tensor([1.0, -1.0]))
    model.eval()
    out = model(example_batch(model.spec, tiny_ctx, 2))
    w = out["modality_weights"]
    torch.testing.assert_close(w.sum(), torch.tensor(1.0))
    assert w[0] > w[1]
    torch.testing.assert_close(out["logits"], w[0] * out["logits_text"] + w[1] * out["logits_image"])


def test_late_fusion_regression(tiny_ctx):
    model = build_model(spec("regression", fusion="late"), tiny_ctx)
    out = model(example_batch(model.spec, tiny_ctx, 2))
    assert out["prediction"].shape == out["prediction_text"].shape == (2,)


def test_a_masked_modality_still_runs(tiny_ctx):
    """Modality ablation masks a batch: text = one <unk> (length 1), image = zeros."""
    model = build_model(spec(fusion="cross_attention"), tiny_ctx).eval()
    batch = example_batch(model.spec, tiny_ctx, 2)
    batch["tokens"] = torch.zeros_like(batch["tokens"])
    batch["tokens"][:, 0] = 1
    batch["lengths"] = torch.ones(2, dtype=torch.long)
    batch["image"] = torch.zeros_like(batch["image"])
    assert torch.isfinite(model(batch)["logits"]).all()


def test_frozen_backbone_has_no_gradients_and_keeps_batchnorm_statistics(tiny_ctx):
    model = build_model(spec(image_encoder={"name": "mobilenet_v3_small", "freeze_backbone": True}), tiny_ctx)
    backbone = model.image_encoder.backbone
    assert not any(p.requires_grad for p in backbone.parameters())
    assert all(p.requires_grad for n, p in model.named_parameters() if not n.startswith("image_encoder."))
    model.train()
    assert model.training and not backbone.training
    batch = example_batch(model.spec, tiny_ctx, 2)
    model.loss(model(batch), batch).backward()
    assert all(p.grad is None for p in backbone.parameters())


def test_default_model_is_small_and_fast():
    """The default for the demo dataset (64 px, 6 classes, short captions) stays well under a
    million parameters, so an epoch of ~3k items takes seconds on two CPU cores."""
    ctx = ModelContext(vocab_size=2000, num_outputs=6, image_size=64, max_len=24)
    model = build_model(default_spec("classification"), ctx)
    assert model.num_parameters() < 1_000_000


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda(tiny_ctx):
    model = build_model(spec(text_encoder={"name": "lstm", "hidden": 8}, fusion="cross_attention"), tiny_ctx)
    model = model.to("cuda")
    batch = example_batch(model.spec, tiny_ctx, 2, device="cuda")
    out = model(batch)
    model.loss(out, batch).backward()
    assert out["logits"].device.type == "cuda"
