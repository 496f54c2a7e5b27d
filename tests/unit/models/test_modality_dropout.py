"""Modality dropout (issue 14): in training only, per item, one modality's features are zeroed."""

from __future__ import annotations

import torch

from mmstudio.models import ModelContext, ModelSpec, build_model, example_batch
from mmstudio.models._common import EncoderOutput
from mmstudio.models.model import drop_modality

CTX = ModelContext(vocab_size=50, num_outputs=3, image_size=32, max_len=7)
FUSED = {
    "task": "classification",
    "text_encoder": {"name": "bag", "embed_dim": 16},
    "image_encoder": {"name": "small_cnn", "width": 4, "blocks": 2},
    "fusion": {"name": "concat"},
    "head": {"name": "mlp", "hidden": 16, "dropout": 0.0},
}


def _outputs(batch: int = 64) -> tuple[EncoderOutput, EncoderOutput]:
    text = EncoderOutput(
        torch.ones(batch, 4), torch.ones(batch, 5, 4), torch.zeros(batch, 5, dtype=torch.bool)
    )
    image = EncoderOutput(torch.ones(batch, 4), torch.ones(batch, 9, 4), None)
    return text, image


def test_each_dropped_item_loses_exactly_one_modality():
    torch.manual_seed(0)
    text, image = drop_modality(*_outputs(), p=1.0)
    text_kept = text.pooled.sum(1) > 0
    image_kept = image.pooled.sum(1) > 0
    assert bool((text_kept ^ image_kept).all())  # one of the two, never both, never neither
    assert 10 < int(text_kept.sum()) < 54  # either modality, at random
    assert torch.equal(text.tokens.sum((1, 2)) > 0, text_kept) and torch.equal(
        image.tokens.sum((1, 2)) > 0, image_kept
    )
    assert torch.equal(text.mask, torch.zeros(64, 5, dtype=torch.bool))  # the padding mask is kept
    kept_text, kept_image = drop_modality(*_outputs(), p=0.0)
    assert bool((kept_text.pooled == 1).all() and (kept_image.pooled == 1).all())


def test_only_a_training_model_drops_a_modality():
    torch.manual_seed(0)
    model = build_model(ModelSpec.from_dict(FUSED), CTX)
    batch = example_batch(model.spec, CTX, batch_size=8)
    model.eval()
    reference = model(batch)["logits"]
    model.modality_dropout = 1.0
    assert torch.equal(model(batch)["logits"], reference)  # eval: never
    model.train()
    dropped = model(batch)["logits"]
    model.modality_dropout = 0.0
    assert not torch.allclose(model(batch)["logits"], dropped)  # training with p=1: every item changed


def test_a_unimodal_or_contrastive_model_is_untouched():
    torch.manual_seed(0)
    text_only = {**FUSED, "image_encoder": None, "fusion": {"name": "none"}}
    model = build_model(ModelSpec.from_dict(text_only), CTX).train()
    model.modality_dropout = 1.0
    batch = example_batch(model.spec, CTX, batch_size=4)
    torch.manual_seed(1)
    first = model(batch)["logits"]
    model.modality_dropout = 0.0
    torch.manual_seed(1)
    assert torch.equal(model(batch)["logits"], first)
